/* fixture.c - read Kafka records written as JSON lines (fixture.h). */
#include "kmsync/fixture.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The mock cluster allocates every partition of a topic up front. */
#define KM_FIXTURE_MAX_PARTITION 9999

static const char *const km_fixture_fields[] = {
        "topic", "partition", "timestamp", "key", "key_base64",
        "value", "value_base64", "headers", NULL,
};

/* Where the reader is: for messages "FILE:LINE: ...". */
typedef struct fx_ctx {
        const char *path;
        int line;
        char *errbuf;
        size_t errlen;
} fx_ctx_t;

static int fx_error(fx_ctx_t *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Sets the message "FILE:LINE: ..." and returns -1. */
static int fx_error(fx_ctx_t *c, const char *fmt, ...)
{
        int n = snprintf(c->errbuf, c->errlen, "%s:%d: ", c->path, c->line);
        if (n < 0 || (size_t)n >= c->errlen)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->errbuf + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
        return -1;
}

/* ----------------------------------------------------------- fields */

static int is_known_field(const char *name)
{
        for (int i = 0; km_fixture_fields[i]; i++)
                if (strcmp(km_fixture_fields[i], name) == 0)
                        return 1;
        return 0;
}

static const char *closest_field(const char *name)
{
        const char *best = NULL;
        int best_d = 3; /* suggest only close names */
        for (int i = 0; km_fixture_fields[i]; i++) {
                int d = km_edit_distance(name, km_fixture_fields[i]);
                if (d < best_d) {
                        best_d = d;
                        best = km_fixture_fields[i];
                }
        }
        return best;
}

static int check_fields(fx_ctx_t *c, json_t *obj)
{
        const char *name;
        json_t *v;
        json_object_foreach(obj, name, v) {
                if (is_known_field(name))
                        continue;
                const char *near = closest_field(name);
                if (near)
                        return fx_error(c, "unknown field '%s'; did you mean "
                                           "'%s'?",
                                        name, near);
                return fx_error(c, "unknown field '%s'; a record has topic, "
                                   "partition, timestamp, key, key_base64, "
                                   "value, value_base64 and headers",
                                name);
        }
        return 0;
}

/* ------------------------------------------------------------ bytes */

static unsigned char *copy_bytes(const void *p, size_t n)
{
        unsigned char *out = km_xmalloc(n + 1);
        memcpy(out, p, n);
        out[n] = '\0';
        return out;
}

static int is_base64_char(unsigned char ch)
{
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
               (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
}

/* Standard base64, '=' padding optional.  NULL and *why on bad input. */
static unsigned char *base64_decode(const char *s, size_t n, size_t *outlen,
                                    const char **why)
{
        size_t pad = 0;
        while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
                pad++;
        size_t m = n - pad;
        for (size_t i = 0; i < m; i++)
                if (!is_base64_char((unsigned char)s[i])) {
                        *why = "it has a character outside A-Z a-z 0-9 + /";
                        return NULL;
                }
        if (m % 4 == 1 || (pad && n % 4 != 0) || n > INT_MAX / 2) {
                *why = "its length is wrong (a character is missing or extra)";
                return NULL;
        }
        size_t missing = (4 - m % 4) % 4; /* '=' the block decoder needs */
        char *in = km_xmalloc(m + missing + 1);
        memcpy(in, s, m);
        memset(in + m, '=', missing);
        unsigned char *out = km_xmalloc((m + missing) / 4 * 3 + 1);
        int got = EVP_DecodeBlock(out, (const unsigned char *)in,
                                  (int)(m + missing));
        free(in);
        if (got < 0) {
                free(out);
                *why = "it does not decode";
                return NULL;
        }
        *outlen = (size_t)got - missing;
        out[*outlen] = '\0';
        return out;
}

/* The shortest text of v that reads back as v: jansson prints 0.1 as
 * 0.10000000000000001 at its default precision. */
static int has_real(json_t *v)
{
        size_t i;
        const char *k;
        json_t *e;
        if (json_is_real(v))
                return 1;
        if (json_is_array(v)) {
                json_array_foreach(v, i, e) {
                        if (has_real(e))
                                return 1;
                }
        } else if (json_is_object(v)) {
                json_object_foreach(v, k, e) {
                        if (has_real(e))
                                return 1;
                }
        }
        return 0;
}

static char *compact_json(json_t *v)
{
        const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER |
                             JSON_ENCODE_ANY;
        if (!has_real(v))
                return json_dumps(v, flags);
        for (int p = 1; p < 17; p++) {
                char *s = json_dumps(v, flags | JSON_REAL_PRECISION(p));
                json_t *back = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
                int same = back && json_equal(back, v);
                json_decref(back);
                if (same)
                        return s;
                free(s);
        }
        return json_dumps(v, flags | JSON_REAL_PRECISION(17));
}

/* A value: text as its bytes, object/array/number/bool as compact JSON. */
static int value_bytes(fx_ctx_t *c, json_t *v, unsigned char **out,
                       size_t *len)
{
        if (json_is_string(v)) {
                *len = json_string_length(v);
                *out = copy_bytes(json_string_value(v), *len);
                return 0;
        }
        char *text = compact_json(v);
        if (!text)
                return fx_error(c, "'value' cannot be written as JSON text");
        *len = strlen(text);
        *out = copy_bytes(text, *len);
        free(text);
        return 0;
}

/* `name` (text, or any JSON for a value) or `name`_base64 (bytes).  Null or
 * absent: *out stays NULL. */
static int read_bytes(fx_ctx_t *c, json_t *obj, const char *name,
                      int any_json, unsigned char **out, size_t *len)
{
        char b64name[32];
        snprintf(b64name, sizeof(b64name), "%s_base64", name);
        json_t *text = json_object_get(obj, name);
        json_t *b64 = json_object_get(obj, b64name);
        *out = NULL;
        *len = 0;
        if (text && b64)
                return fx_error(c, "both '%s' and '%s' given; keep one ('%s' "
                                   "for text, '%s' for binary bytes)",
                                name, b64name, name, b64name);
        if (b64 && !json_is_null(b64)) {
                const char *why = NULL;
                if (!json_is_string(b64))
                        return fx_error(c, "'%s' must be a base64 string or "
                                           "null",
                                        b64name);
                *out = base64_decode(json_string_value(b64),
                                     json_string_length(b64), len, &why);
                if (!*out)
                        return fx_error(c, "'%s' is not base64: %s; write "
                                           "standard base64, e.g. \"AAEC/w==\"",
                                        b64name, why);
                return 0;
        }
        if (!text || json_is_null(text))
                return 0;
        if (!any_json && !json_is_string(text))
                return fx_error(c, "'%s' must be a string or null; for binary "
                                   "bytes use '%s'",
                                name, b64name);
        return value_bytes(c, text, out, len);
}

/* ---------------------------------------------------------- headers */

static int read_header(fx_ctx_t *c, json_t *pair, size_t i,
                       km_fixture_header_t *h)
{
        json_t *name = json_array_get(pair, 0);
        json_t *value = json_array_get(pair, 1);
        if (!json_is_array(pair) || json_array_size(pair) != 2)
                return fx_error(c, "header %zu must be a [name, value] pair, "
                                   "e.g. [\"trace\", \"abc\"]",
                                i + 1);
        if (!json_is_string(name) ||
            strlen(json_string_value(name)) != json_string_length(name))
                return fx_error(c, "header %zu: the name must be a string "
                                   "without NUL characters",
                                i + 1);
        if (!json_is_string(value) && !json_is_null(value))
                return fx_error(c, "header %zu ('%s'): the value must be a "
                                   "string or null",
                                i + 1, json_string_value(name));
        h->name = km_xstrdup(json_string_value(name));
        if (json_is_string(value)) {
                h->value_len = json_string_length(value);
                h->value = copy_bytes(json_string_value(value), h->value_len);
        }
        return 0;
}

static int read_headers(fx_ctx_t *c, json_t *obj, km_fixture_record_t *r)
{
        json_t *hs = json_object_get(obj, "headers");
        if (!hs || json_is_null(hs))
                return 0;
        if (!json_is_array(hs))
                return fx_error(c, "'headers' must be an array of [name, "
                                   "value] pairs, e.g. [[\"trace\", \"abc\"]]");
        size_t n = json_array_size(hs);
        if (n == 0)
                return 0;
        r->headers = km_xcalloc(n, sizeof(*r->headers));
        for (size_t i = 0; i < n; i++) {
                if (read_header(c, json_array_get(hs, i), i, &r->headers[i]))
                        return -1;
                r->nheaders++;
        }
        return 0;
}

/* ---------------------------------------------------- scalar fields */

static int valid_topic(const char *s, size_t len)
{
        if (len == 0 || len > 249 || strlen(s) != len || strcmp(s, ".") == 0 ||
            strcmp(s, "..") == 0)
                return 0;
        for (size_t i = 0; i < len; i++) {
                char ch = s[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                      ch == '-'))
                        return 0;
        }
        return 1;
}

static int read_topic(fx_ctx_t *c, json_t *obj, const char *default_topic,
                      km_fixture_record_t *r)
{
        json_t *t = json_object_get(obj, "topic");
        const char *name = default_topic;
        size_t len = name ? strlen(name) : 0;
        if (t) {
                if (!json_is_string(t))
                        return fx_error(c, "'topic' must be a string, e.g. "
                                           "\"topic\": \"orders\"");
                name = json_string_value(t);
                len = json_string_length(t);
        }
        if (!name)
                return fx_error(c, "no 'topic': give each record a \"topic\" "
                                   "or name a default topic (--topic)");
        if (!valid_topic(name, len))
                return fx_error(c, "topic '%s' is not a Kafka topic name: use "
                                   "1 to 249 of a-z A-Z 0-9 . _ -",
                                name);
        r->topic = km_xstrndup(name, len);
        return 0;
}

static int read_partition(fx_ctx_t *c, json_t *obj, km_fixture_record_t *r)
{
        json_t *p = json_object_get(obj, "partition");
        if (!p)
                return 0;
        if (!json_is_integer(p) || json_integer_value(p) < 0)
                return fx_error(c, "'partition' must be an integer >= 0, e.g. "
                                   "\"partition\": 0");
        if (json_integer_value(p) > KM_FIXTURE_MAX_PARTITION)
                return fx_error(c, "'partition' %lld is too large: the mock "
                                   "cluster serves partitions 0 to %d",
                                (long long)json_integer_value(p),
                                KM_FIXTURE_MAX_PARTITION);
        r->partition = (int32_t)json_integer_value(p);
        return 0;
}

static int read_timestamp(fx_ctx_t *c, json_t *obj, km_fixture_record_t *r)
{
        json_t *t = json_object_get(obj, "timestamp");
        if (!t)
                return fx_error(c, "no 'timestamp': give each record its time "
                                   "in milliseconds since 1970, e.g. "
                                   "\"timestamp\": 1669078800000");
        if (!json_is_integer(t) || json_integer_value(t) < 0)
                return fx_error(c, "'timestamp' must be an integer >= 0 "
                                   "(milliseconds since 1970), e.g. "
                                   "\"timestamp\": 1669078800000");
        r->timestamp_ms = json_integer_value(t);
        return 0;
}

/* ----------------------------------------------------------- records */

static void free_record(km_fixture_record_t *r)
{
        free(r->topic);
        free(r->key);
        free(r->value);
        for (size_t i = 0; i < r->nheaders; i++) {
                free(r->headers[i].name);
                free(r->headers[i].value);
        }
        free(r->headers);
}

static int read_record(fx_ctx_t *c, json_t *obj, const char *default_topic,
                       km_fixture_record_t *r)
{
        r->line = c->line;
        if (check_fields(c, obj) || read_topic(c, obj, default_topic, r) ||
            read_partition(c, obj, r) || read_timestamp(c, obj, r) ||
            read_bytes(c, obj, "key", 0, &r->key, &r->key_len) ||
            read_bytes(c, obj, "value", 1, &r->value, &r->value_len) ||
            read_headers(c, obj, r))
                return -1;
        return 0;
}

static int is_blank(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
                    s[i] != '\n')
                        return 0;
        return 1;
}

static km_fixture_record_t *next_slot(km_fixture_t *f, size_t *cap)
{
        if (f->count == *cap) {
                *cap = *cap ? *cap * 2 : 64;
                f->records = km_xrealloc(f->records,
                                         *cap * sizeof(*f->records));
        }
        km_fixture_record_t *r = &f->records[f->count];
        memset(r, 0, sizeof(*r));
        return r;
}

/* One line: skipped when blank, else parsed into the next record. */
static int read_line(fx_ctx_t *c, const char *text, size_t n,
                     const char *default_topic, km_fixture_t *f, size_t *cap)
{
        if (is_blank(text, n))
                return 0;
        json_error_t jerr;
        json_t *obj = json_loadb(text, n, JSON_REJECT_DUPLICATES |
                                                  JSON_ALLOW_NUL,
                                 &jerr);
        if (!obj)
                return fx_error(c, "not JSON: %s (column %d); write one JSON "
                                   "object a line",
                                jerr.text, jerr.column);
        if (!json_is_object(obj)) {
                json_decref(obj);
                return fx_error(c, "a record must be a JSON object, e.g. "
                                   "{\"timestamp\": 1669078800000, "
                                   "\"value\": \"v\"}");
        }
        km_fixture_record_t *r = next_slot(f, cap);
        int rc = read_record(c, obj, default_topic, r);
        json_decref(obj);
        if (rc) {
                free_record(r);
                return -1;
        }
        if (r->partition > f->max_partition)
                f->max_partition = r->partition;
        f->count++;
        return 0;
}

static int read_lines(FILE *in, fx_ctx_t *c, const char *default_topic,
                      km_fixture_t *f)
{
        char *line = NULL;
        size_t linecap = 0, cap = 0;
        ssize_t n;
        int rc = 0;
        while (rc == 0 && (n = getline(&line, &linecap, in)) >= 0) {
                c->line++;
                rc = read_line(c, line, (size_t)n, default_topic, f, &cap);
        }
        if (rc == 0 && ferror(in))
                rc = fx_error(c, "cannot read: %s", strerror(errno));
        free(line);
        return rc;
}

int km_fixture_load(const char *path, const char *default_topic,
                    km_fixture_t *out, char *errbuf, size_t errlen)
{
        memset(out, 0, sizeof(*out));
        out->max_partition = -1;
        FILE *in = fopen(path, "r");
        if (!in) {
                snprintf(errbuf, errlen, "cannot open '%s': %s", path,
                         strerror(errno));
                return -1;
        }
        fx_ctx_t c = {path, 0, errbuf, errlen};
        int rc = read_lines(in, &c, default_topic, out);
        fclose(in);
        if (rc)
                km_fixture_free(out);
        return rc;
}

void km_fixture_free(km_fixture_t *f)
{
        if (!f)
                return;
        for (size_t i = 0; i < f->count; i++)
                free_record(&f->records[i]);
        free(f->records);
        memset(f, 0, sizeof(*f));
        f->max_partition = -1;
}
