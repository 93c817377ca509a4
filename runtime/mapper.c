/* mapper.c - one Kafka record to one row: record fields, JSON paths, types.
 *
 * Every source first becomes a source value (NULL, integer, real, boolean,
 * text, or a JSON object/array), then one converter per column type turns
 * it into a cell.  Cell text goes to a scratch buffer that is reset per
 * record; while a row is built, a text cell holds its offset there (s NULL,
 * i the offset) and gets its pointer once the whole row is written, because
 * appending may move the buffer.
 *
 * JSON paths are read by the extractor (json_extract.h): one pass over the
 * value for all the SYNC's paths, with jansson's rules.  jansson itself is
 * the second opinion when the extractor rejects a value: its message is
 * the reason given, and should it accept what the extractor did not, its
 * tree is walked as before, so a record is never dirty only because of the
 * extractor. */
#include "kmsync/mapper.h"

#include <errno.h>
#include <iconv.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "json_extract.h"
#include "util.h"

#define KM_STRING_MAX ((size_t)8388608) /* MaxCompute's STRING limit */
#define QUOTE_MAX 60                    /* bytes of a value a reason shows */
#define SCRATCH_KEEP ((size_t)16 << 20) /* larger scratch is given back */
#define NO_OFF ((size_t)-1)
/* MaxCompute's DATETIME range, 0001-01-01 00:00:00.000 to 9999-12-31
 * 23:59:59.999 UTC, in epoch milliseconds. */
#define DATETIME_MIN_MS (-62135596800000LL)
#define DATETIME_MAX_MS (253402300799999LL)

struct km_mapper {
        const km_sync_plan_t *sync;
        int has_paths;       /* some column reads a JSON path */
        km_jx_t *jx;         /* the paths' extractor */
        int *path_of;        /* per column: its path in jx, or -1 */
        km_jx_value_t *vals; /* per path: the last record's values */
        int utf8;            /* ENCODING is UTF-8: validate, no iconv */
        iconv_t cd;          /* ENCODING -> UTF-8 otherwise */
        km_cell_t *constant; /* per column; set for CONSTANT columns */
        km_buf_t scratch;    /* the row's cell text */
        km_buf_t num;        /* a NUL-terminated copy for strtod */
};

typedef enum src_kind {
        SV_NULL,
        SV_INT,
        SV_REAL,
        SV_BOOL,
        SV_TEXT,
        SV_JSON, /* an object or array */
} src_kind_t;

/* A source value before conversion to its column's type. */
typedef struct src_val {
        src_kind_t kind;
        int64_t i;       /* SV_INT, SV_BOOL */
        double d;        /* SV_REAL */
        const char *s;   /* SV_TEXT; SV_JSON's text; not NUL-terminated */
        size_t len;
        size_t off;      /* SV_TEXT already in scratch at off, else NO_OFF */
        const json_t *j; /* SV_JSON from a jansson tree, else s and len */
} src_val_t;

/* What a conversion needs to report a dirty record. */
typedef struct map_ctx {
        km_mapper_t *m;
        const km_column_t *col;
        char *reason;
        size_t reason_len;
} map_ctx_t;

/* -------------------------------------------------------------- UTF-8 */

static int is_cont(unsigned char b)
{
        return (b & 0xC0) == 0x80;
}

/* Length of the valid UTF-8 sequence at s (n > 0 bytes left), 0 if none. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
        unsigned char c = s[0];
        if (c < 0x80)
                return 1;
        if (c >= 0xC2 && c <= 0xDF)
                return n >= 2 && is_cont(s[1]) ? 2 : 0;
        if (c >= 0xE0 && c <= 0xEF) {
                unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
                unsigned char hi = c == 0xED ? 0x9F : 0xBF;
                return n >= 3 && s[1] >= lo && s[1] <= hi && is_cont(s[2])
                               ? 3
                               : 0;
        }
        if (c >= 0xF0 && c <= 0xF4) {
                unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
                unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
                return n >= 4 && s[1] >= lo && s[1] <= hi && is_cont(s[2]) &&
                               is_cont(s[3])
                               ? 4
                               : 0;
        }
        return 0;
}

/* Length of the longest valid UTF-8 prefix of s[0..n). */
static size_t utf8_valid_prefix(const char *text, size_t n)
{
        const unsigned char *s = (const unsigned char *)text;
        size_t i = 0;
        while (i < n) {
                uint64_t w;
                if (i + 8 <= n) {
                        memcpy(&w, s + i, 8);
                        if (!(w & 0x8080808080808080ULL)) {
                                i += 8;
                                continue;
                        }
                }
                size_t k = utf8_seq_len(s + i, n - i);
                if (k == 0)
                        return i;
                i += k;
        }
        return n;
}

/* Cuts a character that a truncation left incomplete off the end of s. */
static void utf8_trim(char *s)
{
        size_t n = strlen(s), lead = n;
        while (lead > 0 && n - lead < 4 && is_cont((unsigned char)s[lead - 1]))
                lead--;
        if (lead == 0)
                return;
        lead--;
        if (utf8_seq_len((const unsigned char *)s + lead, n - lead) !=
            n - lead)
                s[lead] = '\0';
}

/* ------------------------------------------------------------ reasons */

static int fail(map_ctx_t *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Writes "column NAME: <message>" (or just the message) as the reason. */
static int fail(map_ctx_t *c, const char *fmt, ...)
{
        if (!c->reason || c->reason_len == 0)
                return -1;
        int n = 0;
        if (c->col)
                n = snprintf(c->reason, c->reason_len, "column %s: ",
                             c->col->name);
        if (n < 0 || (size_t)n >= c->reason_len) {
                utf8_trim(c->reason);
                return -1;
        }
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(c->reason + n, c->reason_len - (size_t)n, fmt, ap);
        va_end(ap);
        if (m >= 0 && (size_t)(n + m) >= c->reason_len)
                utf8_trim(c->reason);
        return -1;
}

/* Appends one byte of a value to out, escaped for a message quoted by
 * quote. */
static size_t escape_byte(char *out, unsigned char b, char quote)
{
        static const char hex[] = "0123456789abcdef";
        static const char named[] = {['\n'] = 'n', ['\t'] = 't', ['\r'] = 'r'};
        char name = b < sizeof(named) ? named[b] : 0;
        if (name || b == (unsigned char)quote || b == '\\') {
                out[0] = '\\';
                out[1] = name ? name : (char)b;
                return 2;
        }
        if (b < 0x20 || b == 0x7F || b >= 0x80) {
                out[0] = '\\', out[1] = 'x', out[2] = hex[b >> 4];
                out[3] = hex[b & 15];
                return 4;
        }
        out[0] = (char)b;
        return 1;
}

/* Writes s[from..n) for a message: in quotes q, at most QUOTE_MAX bytes
 * of it, whole UTF-8 characters kept, anything else escaped, "..." where
 * text was left out.  out needs QUOTE_MAX * 4 + 16 bytes. */
static void quote_in(char *out, const char *text, size_t n, size_t from,
                     char q)
{
        const unsigned char *s = (const unsigned char *)text;
        size_t o = 0, i = from;
        if (from > 0)
                memcpy(out, "...", 3), o = 3;
        out[o++] = q;
        while (i < n && i - from < QUOTE_MAX) {
                size_t k = s[i] >= 0x80 ? utf8_seq_len(s + i, n - i) : 0;
                if (k > 1 && i + k - from <= QUOTE_MAX) {
                        memcpy(out + o, s + i, k);
                        o += k, i += k;
                        continue;
                }
                if (k > 1)
                        break;
                o += escape_byte(out + o, s[i++], q);
        }
        out[o++] = q;
        if (i < n)
                memcpy(out + o, "...", 3), o += 3;
        out[o] = '\0';
}

static void quote_bytes(char *out, const char *s, size_t n, size_t from)
{
        quote_in(out, s, n, from, '"');
}

/* Quotes the text around byte `at` (where something is wrong). */
static void quote_near(char *out, const char *s, size_t n, size_t at)
{
        size_t from = at > 20 ? at - 20 : 0;
        while (from > 0 && from < at && is_cont((unsigned char)s[from]))
                from++;
        quote_bytes(out, s, n, from);
}

/* ------------------------------------------------------- number text */

static size_t fmt_int(char *buf, int64_t v)
{
        char tmp[24];
        size_t n = 0, o = 0;
        uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        do
                tmp[n++] = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        if (v < 0)
                buf[o++] = '-';
        while (n > 0)
                buf[o++] = tmp[--n];
        buf[o] = '\0';
        return o;
}

/* The shortest of %.15g, %.16g, %.17g that reads back as d, with ".0"
 * added when it would look like an integer (as jansson and Python print
 * reals); NaN and infinities as Java spells them.  buf: 32 bytes. */
static size_t fmt_real(char *buf, double d)
{
        if (isnan(d) || isinf(d)) {
                const char *t = isnan(d) ? "NaN" : d > 0 ? "Infinity"
                                                         : "-Infinity";
                return (size_t)snprintf(buf, 32, "%s", t);
        }
        int n = 0;
        for (int prec = 15; prec <= 17; prec++) {
                n = snprintf(buf, 32, "%.*g", prec, d);
                if (strtod(buf, NULL) == d)
                        break;
        }
        if (!strpbrk(buf, ".e"))
                memcpy(buf + n, ".0", 3), n += 2;
        return (size_t)n;
}

/* A source value as a reason shows it; out: QUOTE_MAX * 4 + 16 bytes. */
static const char *describe(const src_val_t *v, char *out)
{
        switch (v->kind) {
        case SV_INT:
                fmt_int(out, v->i);
                break;
        case SV_REAL:
                fmt_real(out, v->d);
                break;
        case SV_BOOL:
                strcpy(out, v->i ? "true" : "false");
                break;
        case SV_TEXT:
                quote_bytes(out, v->s, v->len, 0);
                break;
        case SV_JSON:
                strcpy(out, (v->j ? json_is_object(v->j) : v->s[0] == '{')
                                    ? "an object"
                                    : "an array");
                break;
        default:
                strcpy(out, "null");
        }
        return out;
}

#define DESCRIBE_LEN (QUOTE_MAX * 4 + 16)

/* The syntax of a decimal number: [+-] digits [. digits] [e [+-] digits]
 * with at least one digit before the exponent. */
typedef struct num_text {
        int neg;
        const char *ip, *fp; /* integer and fraction digits */
        size_t ni, nf;
        int64_t exp; /* clamped to +-1e9 */
} num_text_t;

static size_t scan_digits(const char *s, size_t n, size_t i)
{
        while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
        return i;
}

static size_t scan_exponent(const char *s, size_t n, size_t i, int64_t *exp)
{
        int neg = 0;
        if (i < n && (s[i] == '+' || s[i] == '-'))
                neg = s[i++] == '-';
        size_t end = scan_digits(s, n, i);
        if (end == i)
                return 0;
        int64_t e = 0;
        for (; i < end; i++)
                if (e < 1000000000)
                        e = e * 10 + (s[i] - '0');
        *exp = neg ? -e : e;
        return end;
}

/* 0 when all of s[0..n) is a decimal number. */
static int scan_number(const char *s, size_t n, num_text_t *x)
{
        size_t i = 0;
        *x = (num_text_t){0};
        if (i < n && (s[i] == '+' || s[i] == '-'))
                x->neg = s[i++] == '-';
        x->ip = s + i;
        i = scan_digits(s, n, i);
        x->ni = (size_t)(s + i - x->ip);
        x->fp = s + i;
        if (i < n && s[i] == '.') {
                x->fp = s + ++i;
                i = scan_digits(s, n, i);
                x->nf = (size_t)(s + i - x->fp);
        }
        if (x->ni + x->nf == 0)
                return -1;
        if (i < n && (s[i] == 'e' || s[i] == 'E'))
                i = scan_exponent(s, n, i + 1, &x->exp);
        return i == n && i > 0 ? 0 : -1;
}

/* 0 with the value, -1 when s is not [+-]digits, -2 when it does not fit
 * BIGINT (INT64_MIN included: MaxCompute reserves it). */
static int parse_int_text(const char *s, size_t n, int64_t *out)
{
        size_t i = 0;
        int neg = 0;
        if (n > 0 && (s[0] == '+' || s[0] == '-'))
                neg = s[i++] == '-';
        if (i == n || scan_digits(s, n, i) != n)
                return -1;
        uint64_t v = 0;
        for (; i < n; i++) {
                unsigned d = (unsigned)(s[i] - '0');
                if (v > ((uint64_t)INT64_MAX - d) / 10)
                        return -2;
                v = v * 10 + d;
        }
        *out = neg ? -(int64_t)v : (int64_t)v;
        return 0;
}

/* ------------------------------------------------------- JSON text */

static void put_escaped(km_buf_t *b, const char *s, size_t n)
{
        size_t run = 0;
        km_buf_putc(b, '"');
        for (size_t i = 0; i < n; i++) {
                char esc[6];
                size_t len = km_json_escape_byte((unsigned char)s[i], esc);
                if (!len)
                        continue;
                km_buf_append(b, s + run, i - run);
                km_buf_append(b, esc, len);
                run = i + 1;
        }
        km_buf_append(b, s + run, n - run);
        km_buf_putc(b, '"');
}

static void put_json(km_buf_t *b, const json_t *j);

static void put_object(km_buf_t *b, const json_t *j)
{
        const char *key;
        size_t key_len;
        json_t *v;
        int first = 1;
        km_buf_putc(b, '{');
        json_object_keylen_foreach((json_t *)j, key, key_len, v)
        {
                if (!first)
                        km_buf_putc(b, ',');
                first = 0;
                put_escaped(b, key, key_len);
                km_buf_putc(b, ':');
                put_json(b, v);
        }
        km_buf_putc(b, '}');
}

static void put_array(km_buf_t *b, const json_t *j)
{
        size_t n = json_array_size(j);
        km_buf_putc(b, '[');
        for (size_t i = 0; i < n; i++) {
                if (i)
                        km_buf_putc(b, ',');
                put_json(b, json_array_get(j, i));
        }
        km_buf_putc(b, ']');
}

/* Compact JSON text of j, in document order, reals as fmt_real() prints
 * them (jansson's own dump prints 0.1 as 0.10000000000000001). */
static void put_json(km_buf_t *b, const json_t *j)
{
        char num[32];
        switch (json_typeof(j)) {
        case JSON_OBJECT:
                put_object(b, j);
                break;
        case JSON_ARRAY:
                put_array(b, j);
                break;
        case JSON_STRING:
                put_escaped(b, json_string_value(j), json_string_length(j));
                break;
        case JSON_INTEGER:
                km_buf_append(b, num, fmt_int(num, json_integer_value(j)));
                break;
        case JSON_REAL:
                km_buf_append(b, num, fmt_real(num, json_real_value(j)));
                break;
        case JSON_TRUE:
                km_buf_puts(b, "true");
                break;
        case JSON_FALSE:
                km_buf_puts(b, "false");
                break;
        default:
                km_buf_puts(b, "null");
        }
}

/* ------------------------------------------------------------ headers */

static int same_name(const km_header_t *a, const km_header_t *b)
{
        return a->name_len == b->name_len &&
               (a->name_len == 0 || memcmp(a->name, b->name, a->name_len) == 0);
}

static int put_header_value(km_buf_t *b, const km_header_t *h)
{
        if (!h->value) {
                km_buf_puts(b, "null");
                return 0;
        }
        if (utf8_valid_prefix(h->value, h->value_len) != h->value_len)
                return -1;
        put_escaped(b, h->value, h->value_len);
        return 0;
}

/* The values of every header named like headers[first], as an array. */
static int put_header_values(km_buf_t *b, const km_record_t *rec,
                             size_t first, size_t *bad)
{
        km_buf_putc(b, '[');
        for (size_t i = first; i < rec->nheaders; i++) {
                if (!same_name(&rec->headers[first], &rec->headers[i]))
                        continue;
                if (i > first)
                        km_buf_putc(b, ',');
                if (put_header_value(b, &rec->headers[i]) != 0) {
                        *bad = i;
                        return -1;
                }
        }
        km_buf_putc(b, ']');
        return 0;
}

/* 1: headers[i]'s name came before; count (> 1: repeats) into *count. */
static int header_seen(const km_record_t *rec, size_t i, size_t *count)
{
        *count = 0;
        for (size_t k = 0; k < rec->nheaders; k++)
                if (same_name(&rec->headers[k], &rec->headers[i])) {
                        if (k < i)
                                return 1;
                        (*count)++;
                }
        return 0;
}

/* Appends the headers' JSON object; -1 with the header at fault in *bad
 * when a name or value is not UTF-8. */
static int put_headers(km_buf_t *b, const km_record_t *rec, size_t *bad)
{
        km_buf_putc(b, '{');
        int first = 1;
        for (size_t i = 0; i < rec->nheaders; i++) {
                const km_header_t *h = &rec->headers[i];
                size_t count;
                if (header_seen(rec, i, &count))
                        continue;
                *bad = i;
                if (utf8_valid_prefix(h->name, h->name_len) != h->name_len)
                        return -1;
                if (!first)
                        km_buf_putc(b, ',');
                first = 0;
                put_escaped(b, h->name ? h->name : "", h->name_len);
                km_buf_putc(b, ':');
                int rc = count > 1 ? put_header_values(b, rec, i, bad)
                                   : put_header_value(b, h);
                if (rc != 0)
                        return -1;
        }
        km_buf_putc(b, '}');
        return 0;
}

char *km_headers_json(const km_record_t *rec)
{
        km_buf_t b = {0};
        size_t bad;
        if (put_headers(&b, rec, &bad) != 0) {
                free(b.data);
                return NULL;
        }
        return km_buf_take(&b);
}

/* ------------------------------------------------------------ scratch */

/* Room for n more bytes (and the NUL) in b. */
static void buf_reserve(km_buf_t *b, size_t n)
{
        if (b->len + n + 1 <= b->cap)
                return;
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
                cap *= 2;
        b->data = km_xrealloc(b->data, cap);
        b->cap = cap;
}

static void scratch_reset(km_mapper_t *m)
{
        if (m->scratch.cap > SCRATCH_KEEP) {
                free(m->scratch.data);
                m->scratch = (km_buf_t){0};
                buf_reserve(&m->scratch, 4096);
        }
        m->scratch.len = 0;
        m->scratch.data[0] = '\0';
}

static void text_in_scratch(km_mapper_t *m, size_t off, src_val_t *v)
{
        *v = (src_val_t){.kind = SV_TEXT, .off = off,
                         .s = m->scratch.data + off,
                         .len = m->scratch.len - off};
}

/* ------------------------------------------------------ record fields */

static int field_text(map_ctx_t *c, const char *what, const char *s,
                      size_t n, src_val_t *v)
{
        size_t ok = utf8_valid_prefix(s, n);
        if (ok != n) {
                char q[DESCRIBE_LEN];
                quote_near(q, s, n, ok);
                return fail(c, "%s is not valid UTF-8 at byte %zu: %s", what,
                            ok, q);
        }
        *v = (src_val_t){.kind = SV_TEXT, .s = s, .len = n, .off = NO_OFF};
        return 0;
}

/* One iconv() pass into scratch; 0, or errno (E2BIG: give more room). */
static int iconv_step(km_mapper_t *m, char **in, size_t *left)
{
        km_buf_t *b = &m->scratch;
        char *out = b->data + b->len;
        size_t room = b->cap - b->len - 1;
        size_t rc = iconv(m->cd, in, left, &out, &room);
        int err = rc == (size_t)-1 ? errno : 0;
        b->len = (size_t)(out - b->data);
        b->data[b->len] = '\0';
        return err;
}

/* Text in ENCODING, converted to UTF-8 into scratch. */
static int field_convert(map_ctx_t *c, const char *what, const char *s,
                         size_t n, src_val_t *v)
{
        km_mapper_t *m = c->m;
        size_t off = m->scratch.len;
        char *in = (char *)s;
        size_t left = n;
        iconv(m->cd, NULL, NULL, NULL, NULL);
        buf_reserve(&m->scratch, n + n / 2 + 16);
        int err;
        while ((err = iconv_step(m, &in, &left)) == E2BIG)
                buf_reserve(&m->scratch, (m->scratch.cap - m->scratch.len) * 2);
        /* Then the final shift sequence of a stateful encoding. */
        while (err == 0 && (err = iconv_step(m, NULL, NULL)) == E2BIG)
                buf_reserve(&m->scratch, (m->scratch.cap - m->scratch.len) * 2);
        if (err == 0) {
                text_in_scratch(m, off, v);
                return 0;
        }
        size_t at = (size_t)(in - s);
        char q[DESCRIBE_LEN];
        quote_near(q, s, n, at);
        return fail(c, "%s is not valid %s at byte %zu: %s", what,
                    m->sync->encoding, at, q);
}

static int field_base64(map_ctx_t *c, const unsigned char *s, size_t n,
                        src_val_t *v)
{
        km_mapper_t *m = c->m;
        size_t need = (n + 2) / 3 * 4;
        if (need > KM_STRING_MAX)
                return fail(c, "%zu bytes, more than MaxCompute's 8 MB limit",
                            need);
        size_t off = m->scratch.len;
        buf_reserve(&m->scratch, need);
        int w = EVP_EncodeBlock((unsigned char *)m->scratch.data + off, s,
                                (int)n);
        m->scratch.len += (size_t)w;
        text_in_scratch(m, off, v);
        return 0;
}

static uint64_t be64(const unsigned char *p)
{
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

/* LONG and DOUBLE: 8 bytes, big-endian, as Kafka's serializers write. */
static int field_binary(map_ctx_t *c, const char *what, km_serde_t serde,
                        const void *s, size_t n, src_val_t *v)
{
        if (n != 8)
                return fail(c, "%s has %zu bytes, a %s has 8", what, n,
                            km_serde_name(serde));
        uint64_t bits = be64(s);
        *v = (src_val_t){.kind = serde == KM_SERDE_LONG ? SV_INT : SV_REAL};
        if (serde == KM_SERDE_LONG)
                memcpy(&v->i, &bits, 8);
        else
                memcpy(&v->d, &bits, 8);
        return 0;
}

/* __key__ or __value__ read per its serde. */
static int field_bytes(map_ctx_t *c, const char *what, km_serde_t serde,
                       const void *s, size_t n, src_val_t *v)
{
        if (!s) {
                *v = (src_val_t){.kind = SV_NULL};
                return 0;
        }
        switch (serde) {
        case KM_SERDE_STRING:
                return c->m->utf8 ? field_text(c, what, s, n, v)
                                  : field_convert(c, what, s, n, v);
        case KM_SERDE_BYTES:
                return field_base64(c, s, n, v);
        case KM_SERDE_JSON:
                return field_text(c, what, s, n, v);
        default:
                return field_binary(c, what, serde, s, n, v);
        }
}

static int field_headers(map_ctx_t *c, const km_record_t *rec, src_val_t *v)
{
        km_mapper_t *m = c->m;
        size_t off = m->scratch.len, bad = 0;
        if (put_headers(&m->scratch, rec, &bad) == 0) {
                text_in_scratch(m, off, v);
                return 0;
        }
        const km_header_t *h = &rec->headers[bad];
        char q[DESCRIBE_LEN];
        quote_bytes(q, h->name ? h->name : "", h->name_len, 0);
        return fail(c, "header %s is not valid UTF-8", q);
}

static int field_source(map_ctx_t *c, const km_record_t *rec, km_field_t f,
                        src_val_t *v)
{
        const km_sync_plan_t *sync = c->m->sync;
        *v = (src_val_t){.kind = SV_INT};
        switch (f) {
        case KM_FIELD_KEY:
                return field_bytes(c, "__key__", sync->key_serde, rec->key,
                                   rec->key_len, v);
        case KM_FIELD_VALUE:
                return field_bytes(c, "__value__", sync->value_serde,
                                   rec->value, rec->value_len, v);
        case KM_FIELD_PARTITION:
                v->i = rec->partition;
                return 0;
        case KM_FIELD_OFFSET:
                v->i = rec->offset;
                return 0;
        case KM_FIELD_TIMESTAMP:
                v->i = rec->timestamp_ms;
                return 0;
        case KM_FIELD_HEADERS:
                return field_headers(c, rec, v);
        default:
                *v = (src_val_t){.kind = SV_NULL};
                return 0;
        }
}

/* --------------------------------------------------------- JSON paths */

static const json_t *walk_path(const json_t *j, const km_column_t *col)
{
        for (int i = 0; j && i < col->nsteps; i++) {
                const km_path_step_t *s = &col->steps[i];
                if (s->key)
                        j = json_is_object(j) ? json_object_getn(j, s->key,
                                                                 s->key_len)
                                              : NULL;
                else if (json_is_array(j) && s->index >= 0 &&
                         (uint64_t)s->index < json_array_size(j))
                        j = json_array_get(j, (size_t)s->index);
                else
                        j = NULL;
        }
        return j;
}

static void json_source(const json_t *j, src_val_t *v)
{
        *v = (src_val_t){.kind = SV_NULL, .off = NO_OFF};
        switch (j ? json_typeof(j) : JSON_NULL) {
        case JSON_STRING:
                v->kind = SV_TEXT;
                v->s = json_string_value(j);
                v->len = json_string_length(j);
                break;
        case JSON_INTEGER:
                v->kind = SV_INT;
                v->i = json_integer_value(j);
                break;
        case JSON_REAL:
                v->kind = SV_REAL;
                v->d = json_real_value(j);
                break;
        case JSON_TRUE:
        case JSON_FALSE:
                v->kind = SV_BOOL;
                v->i = json_is_true(j);
                break;
        case JSON_OBJECT:
        case JSON_ARRAY:
                v->kind = SV_JSON;
                v->j = j;
                break;
        default:
                break;
        }
}

/* A path's value as the extractor found it.  With KM_JX_JANSSON no integer
 * is outside int64: a KM_JX_UINT is only here for completeness. */
static void jx_source(const km_jx_value_t *x, src_val_t *v)
{
        *v = (src_val_t){.kind = SV_NULL, .off = NO_OFF};
        switch (x->kind) {
        case KM_JX_STRING:
                v->kind = SV_TEXT;
                v->s = x->s;
                v->len = x->len;
                break;
        case KM_JX_INT:
                v->kind = SV_INT;
                v->i = x->i;
                break;
        case KM_JX_UINT:
                v->kind = SV_REAL;
                v->d = (double)x->u;
                break;
        case KM_JX_REAL:
                v->kind = SV_REAL;
                v->d = x->d;
                break;
        case KM_JX_BOOL:
                v->kind = SV_BOOL;
                v->i = x->i;
                break;
        case KM_JX_OBJECT:
        case KM_JX_ARRAY:
                v->kind = SV_JSON;
                v->s = x->s;
                v->len = x->len;
                break;
        default:
                break;
        }
}

/* jansson's message, its quote of the input ("near '...'") cut short. */
static void json_error_text(const char *text, char *out, size_t len)
{
        const char *near = strstr(text, " near '");
        if (!near) {
                snprintf(out, len, "%s", text);
                return;
        }
        const char *tok = near + 7;
        size_t n = strlen(tok);
        if (n > 0 && tok[n - 1] == '\'')
                n--;
        char q[DESCRIBE_LEN];
        quote_in(q, tok, n, 0, '\'');
        snprintf(out, len, "%.*s near %s", (int)(near - text), text, q);
}

/* jansson on a value the extractor rejected: the reason, or (should jansson
 * accept it) its tree in *doc. */
static int parse_value(map_ctx_t *c, const km_record_t *rec, json_t **doc)
{
        json_error_t err;
        *doc = json_loadb(rec->value, rec->value_len,
                          JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (*doc)
                return 0;
        char text[DESCRIBE_LEN + 200];
        json_error_text(err.text, text, sizeof(text));
        return fail(c, "value is not JSON: %s at byte %d", text,
                    err.position);
}

/* ------------------------------------------------------ to the types */

static void text_cell(km_mapper_t *m, km_cell_kind_t kind, size_t off,
                      km_cell_t *cell)
{
        cell->kind = kind;
        cell->s = NULL; /* pointed into scratch when the row is done */
        cell->i = (int64_t)off;
        cell->len = m->scratch.len - off;
}

static int to_string(map_ctx_t *c, const src_val_t *v, km_cell_t *cell)
{
        km_buf_t *b = &c->m->scratch;
        char num[32];
        size_t off = b->len;
        if (v->kind == SV_TEXT && v->off != NO_OFF)
                off = v->off;
        else if (v->kind == SV_TEXT && v->len <= KM_STRING_MAX)
                km_buf_append(b, v->s, v->len);
        else if (v->kind == SV_INT)
                km_buf_append(b, num, fmt_int(num, v->i));
        else if (v->kind == SV_REAL)
                km_buf_append(b, num, fmt_real(num, v->d));
        else if (v->kind == SV_BOOL)
                km_buf_puts(b, v->i ? "true" : "false");
        else if (v->kind == SV_JSON && v->j)
                put_json(b, v->j);
        else if (v->kind == SV_JSON)
                km_buf_append(b, v->s, v->len);
        size_t len = v->kind == SV_TEXT ? v->len : b->len - off;
        if (len > KM_STRING_MAX)
                return fail(c, "%zu bytes, more than MaxCompute's 8 MB limit",
                            len);
        text_cell(c->m, KM_CELL_STRING, off, cell);
        cell->len = len;
        return 0;
}

/* A real with no fraction that fits BIGINT (INT64_MIN excluded). */
static int real_to_int(double d, int64_t *out)
{
        if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0))
                return -2;
        if (d != trunc(d))
                return -1;
        *out = (int64_t)d;
        return 0;
}

static int bigint_fail(map_ctx_t *c, const src_val_t *v, int why)
{
        char d[DESCRIBE_LEN];
        describe(v, d);
        if (why == -2)
                return fail(c, "%s does not fit BIGINT", d);
        if (v->kind == SV_REAL)
                return fail(c, "%s is not a whole number (BIGINT)", d);
        return fail(c, "%s is not a BIGINT", d);
}

static int to_bigint(map_ctx_t *c, const src_val_t *v, km_cell_t *cell)
{
        int rc = 0;
        cell->kind = KM_CELL_BIGINT;
        if (v->kind == SV_INT || v->kind == SV_BOOL)
                cell->i = v->i;
        else if (v->kind == SV_REAL)
                rc = real_to_int(v->d, &cell->i);
        else if (v->kind == SV_TEXT)
                rc = parse_int_text(v->s, v->len, &cell->i);
        else
                rc = -1;
        if (rc == 0 && v->kind == SV_INT && v->i == INT64_MIN)
                rc = -2;
        return rc ? bigint_fail(c, v, rc) : 0;
}

/* A numeric text as a finite double: 0, -1 not a number, -2 too large. */
static int parse_real_text(km_mapper_t *m, const char *s, size_t n,
                           double *out)
{
        num_text_t x;
        if (scan_number(s, n, &x) != 0)
                return -1;
        m->num.len = 0;
        km_buf_append(&m->num, s, n);
        *out = strtod(m->num.data, NULL);
        return isfinite(*out) ? 0 : -2;
}

static int to_double(map_ctx_t *c, const src_val_t *v, km_cell_t *cell)
{
        int rc = 0;
        cell->kind = KM_CELL_DOUBLE;
        if (v->kind == SV_INT)
                cell->d = (double)v->i;
        else if (v->kind == SV_REAL && isfinite(v->d))
                cell->d = v->d;
        else if (v->kind == SV_REAL)
                rc = -3;
        else if (v->kind == SV_TEXT)
                rc = parse_real_text(c->m, v->s, v->len, &cell->d);
        else
                rc = -1;
        if (rc == 0)
                return 0;
        char d[DESCRIBE_LEN];
        describe(v, d);
        if (rc == -3)
                return fail(c, "%s is not a finite DOUBLE", d);
        if (rc == -2)
                return fail(c, "%s does not fit DOUBLE", d);
        return fail(c, "%s is not a DOUBLE", d);
}

static int to_boolean(map_ctx_t *c, const src_val_t *v, km_cell_t *cell)
{
        cell->kind = KM_CELL_BOOLEAN;
        if (v->kind == SV_BOOL || (v->kind == SV_INT && (v->i | 1) == 1)) {
                cell->i = v->i;
                return 0;
        }
        if (v->kind == SV_TEXT && v->len == 4 &&
            strncasecmp(v->s, "true", 4) == 0) {
                cell->i = 1;
                return 0;
        }
        if (v->kind == SV_TEXT && v->len == 5 &&
            strncasecmp(v->s, "false", 5) == 0) {
                cell->i = 0;
                return 0;
        }
        char d[DESCRIBE_LEN];
        return fail(c, "%s is not a BOOLEAN (true, false, 0 or 1)",
                    describe(v, d));
}

/* ----------------------------------------------------------- DATETIME */

/* n digits at s as a number, or -1. */
static int fixed_digits(const char *s, size_t left, int n)
{
        int v = 0;
        if ((size_t)n > left)
                return -1;
        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

/* "YYYY-MM-DD" at s; returns the bytes read or 0. */
static size_t parse_date(const char *s, size_t n, km_civil_t *t)
{
        t->year = fixed_digits(s, n, 4);
        if (t->year < 0 || n < 10 || s[4] != '-' || s[7] != '-')
                return 0;
        t->mon = fixed_digits(s + 5, 2, 2);
        t->day = fixed_digits(s + 8, 2, 2);
        return t->mon < 0 || t->day < 0 ? 0 : 10;
}

/* ".f" to ".fffffffff": milliseconds, digits past the third dropped. */
static size_t parse_fraction(const char *s, size_t n, int *ms)
{
        if (n < 2 || s[0] != '.')
                return 0;
        size_t end = scan_digits(s, n, 1);
        if (end == 1 || end > 10)
                return 0;
        *ms = 0;
        for (size_t i = 1; i < 4; i++)
                *ms = *ms * 10 + (i < end ? s[i] - '0' : 0);
        return end;
}

/* "HH:MM[:SS[.fff]]" at s; returns the bytes read or 0. */
static size_t parse_time(const char *s, size_t n, km_civil_t *t, int *ms)
{
        if (n < 5 || s[2] != ':')
                return 0;
        t->hour = fixed_digits(s, 2, 2);
        t->min = fixed_digits(s + 3, 2, 2);
        if (t->hour < 0 || t->min < 0)
                return 0;
        if (n == 5 || s[5] != ':')
                return 5;
        t->sec = fixed_digits(s + 6, n - 6, 2);
        if (t->sec < 0)
                return 0;
        if (n == 8 || s[8] != '.')
                return 8;
        size_t f = parse_fraction(s + 8, n - 8, ms);
        return f ? 8 + f : 0;
}

/* "Z", "+hh", "+hhmm" or "+hh:mm" (or '-'): seconds east of UTC. */
static int parse_offset(const char *s, size_t n, int64_t *off)
{
        if (n == 1 && (s[0] == 'Z' || s[0] == 'z')) {
                *off = 0;
                return 0;
        }
        if (n < 3 || (s[0] != '+' && s[0] != '-'))
                return -1;
        int h = fixed_digits(s + 1, 2, 2), m = 0;
        if (n == 6 && s[3] == ':')
                m = fixed_digits(s + 4, 2, 2);
        else if (n == 5)
                m = fixed_digits(s + 3, 2, 2);
        else if (n != 3)
                return -1;
        if (h < 0 || h > 23 || m < 0 || m > 59)
                return -1;
        *off = (s[0] == '-' ? -1 : 1) * (int64_t)(h * 3600 + m * 60);
        return 0;
}

/* 'YYYY-MM-DD[( |T)HH:MM[:SS[.fff]][Z|+hh:mm]]' as epoch ms; without an
 * offset, a wall clock of tz. */
static int parse_datetime(const char *s, size_t n, const km_tz_t *tz,
                          int64_t *ms)
{
        km_civil_t t = {0};
        int frac = 0;
        size_t p = parse_date(s, n, &t);
        if (p == 0)
                return -1;
        if (p < n && (s[p] == ' ' || s[p] == 'T')) {
                size_t q = parse_time(s + p + 1, n - p - 1, &t, &frac);
                if (q == 0)
                        return -1;
                p += 1 + q;
        }
        if (!km_civil_valid(&t) || (p < n && p == 10))
                return -1;
        int64_t secs = km_civil_to_seconds(&t), off = 0;
        if (p < n && parse_offset(s + p, n - p, &off) != 0)
                return -1;
        if (p < n)
                secs -= off;
        else if (tz)
                km_tz_from_local(tz, &t, &secs);
        *ms = secs * 1000 + frac;
        return 0;
}

static int to_datetime(map_ctx_t *c, const src_val_t *v, km_cell_t *cell)
{
        int rc = -1;
        cell->kind = KM_CELL_DATETIME;
        cell->i = v->i;
        if (v->kind == SV_INT)
                rc = 0;
        else if (v->kind == SV_REAL)
                rc = real_to_int(v->d, &cell->i) == 0 ? 0 : -1;
        else if (v->kind == SV_TEXT)
                rc = parse_datetime(v->s, v->len, c->m->sync->tz, &cell->i);
        char d[DESCRIBE_LEN];
        if (rc != 0)
                return fail(c, "%s is not a DATETIME ('YYYY-MM-DD "
                               "HH:MM:SS[.fff]', T, Z and +hh:mm allowed, "
                               "or epoch milliseconds)",
                            describe(v, d));
        if (cell->i < DATETIME_MIN_MS || cell->i > DATETIME_MAX_MS)
                return fail(c, "%s is outside DATETIME's range 0001-01-01 "
                               "to 9999-12-31",
                            describe(v, d));
        return 0;
}

/* ------------------------------------------------------------ DECIMAL */

/* Digit k of the number's digits (integer then fraction), '0' outside. */
static char digit_at(const num_text_t *x, int64_t k)
{
        if (k < 0)
                return '0';
        if ((uint64_t)k < x->ni)
                return x->ip[k];
        if ((uint64_t)k < x->ni + x->nf)
                return x->fp[k - (int64_t)x->ni];
        return '0';
}

static int64_t first_nonzero(const num_text_t *x)
{
        int64_t n = (int64_t)(x->ni + x->nf);
        for (int64_t k = 0; k < n; k++)
                if (digit_at(x, k) != '0')
                        return k;
        return n;
}

/* Adds one unit in the last place of dig[0..n); 1 if it carried out. */
static int round_up(char *dig, int n)
{
        for (int i = n - 1; i >= 0; i--) {
                if (dig[i] != '9') {
                        dig[i]++;
                        return 0;
                }
                dig[i] = '0';
        }
        return 1;
}

/* Writes x rounded half up to `scale` fraction digits ("-12.50") into out
 * (64 bytes); -2 when it has more than prec - scale integer digits. */
static int decimal_text(const num_text_t *x, int prec, int scale, char *out)
{
        int64_t nd = (int64_t)(x->ni + x->nf);
        int64_t point = (int64_t)x->ni + x->exp;
        int64_t z = first_nonzero(x);
        /* The integer digits start at the first nonzero one, if any. */
        int64_t from = z < nd && z < point ? z : point;
        if (point - from > prec - scale)
                return -2;
        char dig[48];
        int n = 0, nint = (int)(point - from);
        for (int64_t k = from; k < point + scale; k++)
                dig[n++] = digit_at(x, k);
        if (digit_at(x, point + scale) >= '5' && round_up(dig, n)) {
                memmove(dig + 1, dig, (size_t)n++);
                dig[0] = '1', nint++;
        }
        if (nint > prec - scale)
                return -2;
        int nonzero = 0, o = 0;
        for (int i = 0; i < n; i++)
                nonzero |= dig[i] != '0';
        if (x->neg && nonzero)
                out[o++] = '-';
        if (nint == 0)
                out[o++] = '0';
        memcpy(out + o, dig, (size_t)nint), o += nint;
        if (scale > 0)
                out[o++] = '.';
        memcpy(out + o, dig + nint, (size_t)scale), o += scale;
        out[o] = '\0';
        return 0;
}

/* The source as number text (into num), or -1. */
static int decimal_source(const src_val_t *v, char *num, const char **s,
                          size_t *n)
{
        if (v->kind == SV_INT)
                *s = num, *n = fmt_int(num, v->i);
        else if (v->kind == SV_REAL && isfinite(v->d))
                *s = num, *n = fmt_real(num, v->d);
        else if (v->kind == SV_TEXT)
                *s = v->s, *n = v->len;
        else
                return -1;
        return 0;
}

static int to_decimal(map_ctx_t *c, const src_val_t *v, km_cell_t *cell)
{
        const km_type_t *t = &c->col->type;
        char num[32], out[64], d[DESCRIBE_LEN];
        const char *s;
        size_t n;
        num_text_t x;
        int rc = decimal_source(v, num, &s, &n);
        if (rc == 0)
                rc = scan_number(s, n, &x);
        if (rc == 0)
                rc = decimal_text(&x, t->precision, t->scale, out);
        if (rc == -2)
                return fail(c, "%s has more than %d integer digits for "
                               "DECIMAL(%d,%d)",
                            describe(v, d), t->precision - t->scale,
                            t->precision, t->scale);
        if (rc != 0)
                return fail(c, "%s is not a DECIMAL", describe(v, d));
        size_t off = c->m->scratch.len;
        km_buf_puts(&c->m->scratch, out);
        text_cell(c->m, KM_CELL_DECIMAL, off, cell);
        return 0;
}

/* ---------------------------------------------------------- the row */

static int convert(map_ctx_t *c, const src_val_t *v, km_cell_t *cell)
{
        *cell = (km_cell_t){.kind = KM_CELL_NULL};
        if (v->kind == SV_NULL)
                return 0;
        switch (c->col->type.kind) {
        case KM_TYPE_STRING:
                return to_string(c, v, cell);
        case KM_TYPE_BIGINT:
                return to_bigint(c, v, cell);
        case KM_TYPE_DOUBLE:
                return to_double(c, v, cell);
        case KM_TYPE_BOOLEAN:
                return to_boolean(c, v, cell);
        case KM_TYPE_DATETIME:
                return to_datetime(c, v, cell);
        case KM_TYPE_DECIMAL:
                return to_decimal(c, v, cell);
        }
        return 0;
}

/* Reads the value's paths: 1 into m->vals, 0 into *doc (jansson's tree),
 * -1 when the value is not JSON. */
static int read_paths(map_ctx_t *c, const km_record_t *rec, json_t **doc)
{
        km_mapper_t *m = c->m;
        if (km_jx_extract(m->jx, rec->value, rec->value_len, m->vals,
                          NULL) == 0)
                return 1;
        return parse_value(c, rec, doc);
}

static int map_column(map_ctx_t *c, int i, const km_record_t *rec,
                      const json_t *doc, int extracted, km_cell_t *cell)
{
        const km_column_t *col = &c->m->sync->columns[i];
        src_val_t v;
        c->col = col;
        if (col->source_kind == KM_SOURCE_CONSTANT) {
                *cell = c->m->constant[i];
                return 0;
        }
        if (col->source_kind == KM_SOURCE_PATH && extracted)
                jx_source(&c->m->vals[c->m->path_of[i]], &v);
        else if (col->source_kind == KM_SOURCE_PATH)
                json_source(walk_path(doc, col), &v);
        else if (field_source(c, rec, col->field, &v) != 0)
                return -1;
        return convert(c, &v, cell);
}

/* Points the row's text cells into scratch, now that it no longer moves. */
static void fix_cells(km_mapper_t *m, km_cell_t *cells, int n)
{
        for (int i = 0; i < n; i++) {
                km_cell_t *cell = &cells[i];
                if ((cell->kind == KM_CELL_STRING ||
                     cell->kind == KM_CELL_DECIMAL) &&
                    !cell->s) {
                        cell->s = m->scratch.data + cell->i;
                        cell->i = 0;
                }
        }
}

int km_mapper_map(km_mapper_t *m, const km_record_t *rec, km_cell_t *cells,
                  char *reason, size_t reason_len)
{
        map_ctx_t c = {m, NULL, reason, reason_len};
        json_t *doc = NULL;
        int rc = 0, extracted = 0;
        scratch_reset(m);
        if (m->has_paths && rec->value &&
            (extracted = read_paths(&c, rec, &doc)) < 0)
                return -1;
        for (int i = 0; i < m->sync->ncolumns && rc == 0; i++)
                rc = map_column(&c, i, rec, doc, extracted, &cells[i]);
        json_decref(doc);
        if (rc == 0)
                fix_cells(m, cells, m->sync->ncolumns);
        return rc;
}

/* -------------------------------------------------------- the mapper */

static int is_utf8_name(const char *enc)
{
        return !enc || strcasecmp(enc, "UTF-8") == 0 ||
               strcasecmp(enc, "UTF8") == 0;
}

/* The constant of column i in its type, kept for every row. */
static int make_constant(km_mapper_t *m, int i, char *errbuf, size_t errlen)
{
        const km_column_t *col = &m->sync->columns[i];
        map_ctx_t c = {m, col, errbuf, errlen};
        const char *s = col->constant ? col->constant : "";
        src_val_t v;
        km_cell_t *cell = &m->constant[i];
        scratch_reset(m);
        if (field_text(&c, "the constant", s, strlen(s), &v) != 0 ||
            convert(&c, &v, cell) != 0)
                return -1;
        if (cell->kind == KM_CELL_STRING || cell->kind == KM_CELL_DECIMAL) {
                cell->s = km_xstrndup(m->scratch.data + cell->i, cell->len);
                cell->i = 0;
        }
        return 0;
}

static int open_encoding(km_mapper_t *m, char *errbuf, size_t errlen)
{
        m->utf8 = is_utf8_name(m->sync->encoding);
        if (m->utf8)
                return 0;
        m->cd = iconv_open("UTF-8", m->sync->encoding);
        if (m->cd != (iconv_t)-1)
                return 0;
        snprintf(errbuf, errlen, "cannot convert ENCODING '%s' to UTF-8: %s",
                 m->sync->encoding, strerror(errno));
        return -1;
}

/* The extractor of the SYNC's path columns, in column order. */
static void make_extractor(km_mapper_t *m)
{
        const km_sync_plan_t *sync = m->sync;
        km_jx_path_t *paths = km_xcalloc((size_t)sync->ncolumns + 1,
                                         sizeof(*paths));
        int n = 0;
        m->path_of = km_xcalloc((size_t)sync->ncolumns + 1,
                                sizeof(*m->path_of));
        for (int i = 0; i < sync->ncolumns; i++) {
                const km_column_t *col = &sync->columns[i];
                m->path_of[i] = -1;
                if (col->source_kind != KM_SOURCE_PATH)
                        continue;
                m->path_of[i] = n;
                paths[n++] = (km_jx_path_t){col->steps, col->nsteps};
        }
        m->has_paths = n > 0;
        m->jx = n > 0 ? km_jx_new(paths, n, KM_JX_JANSSON) : NULL;
        m->vals = km_xcalloc((size_t)n + 1, sizeof(*m->vals));
        free(paths);
}

km_mapper_t *km_mapper_new(const km_sync_plan_t *sync, char *errbuf,
                           size_t errlen)
{
        km_mapper_t *m = km_xcalloc(1, sizeof(*m));
        m->sync = sync;
        m->cd = (iconv_t)-1;
        m->constant = km_xcalloc((size_t)sync->ncolumns + 1,
                                 sizeof(*m->constant));
        buf_reserve(&m->scratch, 4096);
        make_extractor(m);
        if (open_encoding(m, errbuf, errlen) != 0) {
                km_mapper_free(m);
                return NULL;
        }
        for (int i = 0; i < sync->ncolumns; i++) {
                const km_column_t *col = &sync->columns[i];
                if (col->source_kind == KM_SOURCE_CONSTANT &&
                    make_constant(m, i, errbuf, errlen) != 0) {
                        km_mapper_free(m);
                        return NULL;
                }
        }
        return m;
}

void km_mapper_free(km_mapper_t *m)
{
        if (!m)
                return;
        for (int i = 0; i < m->sync->ncolumns; i++)
                if (m->constant[i].kind == KM_CELL_STRING ||
                    m->constant[i].kind == KM_CELL_DECIMAL)
                        free((char *)m->constant[i].s);
        if (m->cd != (iconv_t)-1)
                iconv_close(m->cd);
        km_jx_free(m->jx);
        free(m->path_of);
        free(m->vals);
        free(m->constant);
        free(m->scratch.data);
        free(m->num.data);
        free(m);
}
