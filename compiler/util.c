/* util.c - allocation, growable buffers and string helpers for libkmsync. */
#define _GNU_SOURCE /* strcasestr */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <time.h>

static void out_of_memory(size_t n)
{
        fprintf(stderr, "kmsync: fatal: out of memory (%zu bytes)\n", n);
        abort();
}

void *km_xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                out_of_memory(n);
        return p;
}

void *km_xcalloc(size_t count, size_t n)
{
        void *p = calloc(count ? count : 1, n ? n : 1);
        if (!p)
                out_of_memory(count * n);
        return p;
}

void *km_xrealloc(void *p, size_t n)
{
        void *q = realloc(p, n ? n : 1);
        if (!q)
                out_of_memory(n);
        return q;
}

char *km_xstrdup(const char *s)
{
        return km_xstrndup(s, strlen(s));
}

char *km_xstrndup(const char *s, size_t n)
{
        char *p = km_xmalloc(n + 1);
        memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

char *km_xvasprintf(const char *fmt, va_list ap)
{
        va_list copy;
        va_copy(copy, ap);
        int n = vsnprintf(NULL, 0, fmt, copy);
        va_end(copy);
        if (n < 0)
                n = 0;
        char *p = km_xmalloc((size_t)n + 1);
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        return p;
}

char *km_xasprintf(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *p = km_xvasprintf(fmt, ap);
        va_end(ap);
        return p;
}

static void buf_reserve(km_buf_t *b, size_t extra)
{
        if (b->len + extra + 1 <= b->cap)
                return;
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + extra + 1)
                cap *= 2;
        b->data = km_xrealloc(b->data, cap);
        b->cap = cap;
}

void km_buf_append(km_buf_t *b, const char *s, size_t n)
{
        buf_reserve(b, n);
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
}

void km_buf_puts(km_buf_t *b, const char *s)
{
        km_buf_append(b, s, strlen(s));
}

void km_buf_putc(km_buf_t *b, char c)
{
        km_buf_append(b, &c, 1);
}

void km_buf_printf(km_buf_t *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *s = km_xvasprintf(fmt, ap);
        va_end(ap);
        km_buf_puts(b, s);
        free(s);
}

char *km_buf_take(km_buf_t *b)
{
        char *s = b->data ? b->data : km_xstrdup("");
        b->data = NULL;
        b->len = b->cap = 0;
        return s;
}

int km_strcaseeq(const char *a, const char *b)
{
        return strcasecmp(a, b) == 0;
}

int km_edit_distance(const char *a, const char *b)
{
        size_t n = strlen(a), m = strlen(b);
        if (n > 64 || m > 64)
                return 1000;
        int prev[65], cur[65];
        for (size_t j = 0; j <= m; j++)
                prev[j] = (int)j;
        for (size_t i = 1; i <= n; i++) {
                cur[0] = (int)i;
                for (size_t j = 1; j <= m; j++) {
                        int cost = tolower((unsigned char)a[i - 1]) !=
                                   tolower((unsigned char)b[j - 1]);
                        int best = prev[j - 1] + cost;
                        if (prev[j] + 1 < best)
                                best = prev[j] + 1;
                        if (cur[j - 1] + 1 < best)
                                best = cur[j - 1] + 1;
                        cur[j] = best;
                }
                memcpy(prev, cur, sizeof(int) * (m + 1));
        }
        return prev[m];
}

int km_key_is_secret(const char *key)
{
        static const char *const words[] = {"password", "secret", "token",
                                            "jaas", "credential"};
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
                if (strcasestr(key, words[i]))
                        return 1;
        return 0;
}

size_t km_json_escape_byte(unsigned char c, char out[6])
{
        static const char hex[] = "0123456789ABCDEF";
        const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\"
                        : c == '\n' ? "\\n" : c == '\t' ? "\\t"
                        : c == '\r' ? "\\r" : c == '\b' ? "\\b"
                        : c == '\f' ? "\\f" : NULL;
        if (c >= 0x20 && c != '"' && c != '\\')
                return 0;
        if (e) {
                out[0] = e[0];
                out[1] = e[1];
                return 2;
        }
        out[0] = '\\';
        out[1] = 'u';
        out[2] = '0';
        out[3] = '0';
        out[4] = hex[c >> 4];
        out[5] = hex[c & 15];
        return 6;
}

int64_t km_monotonic_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
