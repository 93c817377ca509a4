/* util.h - small helpers every stage uses: allocation that aborts on
 * out-of-memory, a growable byte buffer, printf into a new string, and
 * the monotonic clock.
 * Private to libkmsync. */
#ifndef KMSYNC_UTIL_H
#define KMSYNC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void *km_xmalloc(size_t n);
void *km_xcalloc(size_t count, size_t n);
void *km_xrealloc(void *p, size_t n);
char *km_xstrdup(const char *s);
char *km_xstrndup(const char *s, size_t n);
char *km_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *km_xvasprintf(const char *fmt, va_list ap);

/* A growable byte buffer, always NUL-terminated after the first append. */
typedef struct km_buf {
        char *data;
        size_t len, cap;
} km_buf_t;

void km_buf_append(km_buf_t *b, const char *s, size_t n);
void km_buf_puts(km_buf_t *b, const char *s);
void km_buf_putc(km_buf_t *b, char c);
void km_buf_printf(km_buf_t *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Hands the string to the caller ("" when empty) and resets the buffer. */
char *km_buf_take(km_buf_t *b);

/* CLOCK_MONOTONIC in nanoseconds: for durations and deadlines. */
int64_t km_monotonic_ns(void);

/* Case-insensitive ASCII comparison. */
int km_strcaseeq(const char *a, const char *b);



/* Levenshtein distance of two short ASCII strings, case-insensitive
 * (for "did you mean ...?"); strings over 64 bytes give a large number. */
int km_edit_distance(const char *a, const char *b);
/* 1 when a setting named `key` holds a secret (password, secret, token,
 * JAAS config, credentials): its value is never shown. */
int km_key_is_secret(const char *key);

/* How JSON text writes byte c inside a string, as jansson does: 0 when it
 * goes as it is, else the length (2 or 6) of its escape written to out
 * ("\n", "\u001F"). */
size_t km_json_escape_byte(unsigned char c, char out[6]);

#ifdef __cplusplus
}
#endif

#endif
