/* path.c - parse and print the JSON paths of MAP sources. */
#include "kmsync/path.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct path_parser {
        km_arena_t *arena;
        const char *text;
        size_t pos, len;
        km_path_step_t *steps;
        int nsteps, cap;
        km_path_error_t *err;
} path_parser_t;

static int fail(path_parser_t *p, size_t at, size_t len, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int fail(path_parser_t *p, size_t at, size_t len, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
        va_end(ap);
        p->err->offset = at;
        p->err->length = len ? len : 1;
        return -1;
}

static km_path_step_t *push_step(path_parser_t *p)
{
        if (p->nsteps == p->cap) {
                int cap = p->cap ? p->cap * 2 : 4;
                km_path_step_t *s = km_arena_alloc(p->arena,
                                                   sizeof(*s) * (size_t)cap);
                if (p->nsteps)
                        memcpy(s, p->steps, sizeof(*s) * (size_t)p->nsteps);
                p->steps = s;
                p->cap = cap;
        }
        km_path_step_t *s = &p->steps[p->nsteps++];
        memset(s, 0, sizeof(*s));
        return s;
}

static int is_name_char(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               (c >= '0' && c <= '9') || c == '_';
}

static int parse_quoted_member(path_parser_t *p)
{
        size_t start = p->pos++;
        km_buf_t key = {0};
        for (;;) {
                if (p->pos >= p->len) {
                        free(key.data);
                        return fail(p, start, p->len - start,
                                    "unterminated back-quoted key: add the "
                                    "closing `");
                }
                char c = p->text[p->pos++];
                if (c == '`' && p->text[p->pos] == '`') {
                        p->pos++;
                } else if (c == '`') {
                        break;
                }
                km_buf_putc(&key, c);
        }
        km_path_step_t *s = push_step(p);
        s->key_len = key.len;
        s->key = km_arena_strndup(p->arena, key.data ? key.data : "", key.len);
        free(key.data);
        return 0;
}

static int parse_member(path_parser_t *p)
{
        if (p->pos < p->len && p->text[p->pos] == '`')
                return parse_quoted_member(p);
        size_t start = p->pos;
        while (p->pos < p->len && is_name_char(p->text[p->pos]))
                p->pos++;
        if (p->pos == start) {
                if (p->pos < p->len && p->text[p->pos] == '.')
                        return fail(p, start, 1,
                                    "empty key in JSON path '%s': remove the "
                                    "extra '.'",
                                    p->text);
                if (p->pos >= p->len)
                        return fail(p, start ? start - 1 : 0, 1,
                                    "JSON path '%s' ends with '.': name the "
                                    "key after it",
                                    p->text);
                return fail(p, start, 1,
                            "unexpected '%c' in JSON path '%s': back-quote "
                            "keys with such characters, e.g. `a-b`",
                            p->text[start], p->text);
        }
        km_path_step_t *s = push_step(p);
        s->key_len = p->pos - start;
        s->key = km_arena_strndup(p->arena, p->text + start, s->key_len);
        return 0;
}

static int parse_index(path_parser_t *p)
{
        size_t start = p->pos++; /* '[' */
        size_t digits = p->pos;
        int64_t v = 0;
        while (p->pos < p->len && p->text[p->pos] >= '0' &&
               p->text[p->pos] <= '9') {
                if (v > 100000000)
                        return fail(p, start, p->pos - start + 1,
                                    "array index too large in JSON path '%s'",
                                    p->text);
                v = v * 10 + (p->text[p->pos++] - '0');
        }
        size_t close = p->pos;
        while (close < p->len && p->text[close] != ']')
                close++;
        if (close >= p->len)
                return fail(p, start, p->len - start,
                            "missing ']' in JSON path '%s'", p->text);
        if (p->pos == digits || p->pos != close)
                return fail(p, start, close - start + 1,
                            "array index must be a whole number >= 0, e.g. "
                            "c[1], not '%.*s'",
                            (int)(close - start + 1), p->text + start);
        p->pos = close + 1;
        km_path_step_t *s = push_step(p);
        s->key = NULL;
        s->index = v;
        return 0;
}

static int parse_indexes(path_parser_t *p)
{
        while (p->pos < p->len && p->text[p->pos] == '[')
                if (parse_index(p) != 0)
                        return -1;
        if (p->pos < p->len && p->text[p->pos] == ']')
                return fail(p, p->pos, 1,
                            "unexpected ']' in JSON path '%s'", p->text);
        return 0;
}

int km_path_parse(km_arena_t *a, const char *text, km_path_step_t **steps,
                  int *nsteps, km_path_error_t *err)
{
        path_parser_t p = {a, text, 0, strlen(text), NULL, 0, 0, err};
        if (p.len == 0)
                return fail(&p, 0, 1, "empty JSON path");
        /* A value that is itself an array may start with an index. */
        if (text[0] != '[' && parse_member(&p) != 0)
                return -1;
        if (parse_indexes(&p) != 0)
                return -1;
        while (p.pos < p.len) {
                if (text[p.pos] != '.')
                        return fail(&p, p.pos, 1,
                                    "unexpected '%c' in JSON path '%s'",
                                    text[p.pos], text);
                p.pos++;
                if (parse_member(&p) != 0 || parse_indexes(&p) != 0)
                        return -1;
        }
        *steps = p.steps;
        *nsteps = p.nsteps;
        return 0;
}

static int needs_quotes(const km_path_step_t *s)
{
        if (s->key_len == 0)
                return 1;
        for (size_t i = 0; i < s->key_len; i++)
                if (!is_name_char(s->key[i]))
                        return 1;
        return 0;
}

char *km_path_format(km_arena_t *a, const km_path_step_t *steps, int nsteps)
{
        km_buf_t b = {0};
        for (int i = 0; i < nsteps; i++) {
                const km_path_step_t *s = &steps[i];
                if (!s->key) {
                        km_buf_printf(&b, "[%lld]", (long long)s->index);
                        continue;
                }
                if (i > 0)
                        km_buf_putc(&b, '.');
                if (!needs_quotes(s)) {
                        km_buf_append(&b, s->key, s->key_len);
                        continue;
                }
                km_buf_putc(&b, '`');
                for (size_t k = 0; k < s->key_len; k++) {
                        if (s->key[k] == '`')
                                km_buf_putc(&b, '`');
                        km_buf_putc(&b, s->key[k]);
                }
                km_buf_putc(&b, '`');
        }
        char *out = km_arena_strdup(a, b.data ? b.data : "");
        free(b.data);
        return out;
}
