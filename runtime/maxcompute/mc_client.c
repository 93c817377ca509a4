/* mc_client.c - MaxCompute calls: tunnel discovery, SQL instances, upload
 * sessions and blocks.
 *
 * Requests follow the SDKs (Python odps/tunnel/tabletunnel.py and
 * odps/models/instances.py, Java TableTunnel/TunnelConstants, Go
 * odps/tunnel/upload_session.go): sessions carry the partition on every
 * call, commit checks the service's block list first and sends no body,
 * and a commit retried after an unknown outcome asks the session's status
 * before it is sent again. */
#include "mc_client.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mc_sign.h"
#include "util.h"

#define TASK_NAME "AnonymousSQLTask"
#define DEFAULT_MAX_FIELD_SIZE (8LL << 20)
enum {
        DEFAULT_TIMEOUT_S = 300,
        DEFAULT_MAX_RETRIES = 5,
        POLL_FIRST_MS = 100,
        POLL_CAP_MS = 1000,
        POLL_GIVE_UP_MS = 30 * 60 * 1000, /* a DDL statement is quick */
        MAX_PARAMS = 8,
};

struct km_mc_client {
        km_mc_http_conf_t http;
        char *endpoint;
        char *tunnel; /* configured or discovered; guarded by lock */
        char *project;
        char *schema;
        char *access_id, *secret, *sts_token;
        pthread_mutex_t lock;
};

static km_mc_error_t *error_slot(km_mc_error_t *err, km_mc_error_t *spare)
{
        km_mc_error_t *e = err ? err : spare;
        memset(e, 0, sizeof(*e));
        return e;
}

__attribute__((format(printf, 4, 5))) static int
local_error(km_mc_error_t *err, const char *code, int retryable,
            const char *fmt, ...)
{
        memset(err, 0, sizeof(*err));
        snprintf(err->code, sizeof(err->code), "%s", code);
        err->retryable = retryable;
        err->permanent = !retryable;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        return -1;
}

/* ----- the client ----- */

static int is_url(const char *s)
{
        const char *rest = NULL;
        if (s && strncmp(s, "http://", 7) == 0)
                rest = s + 7;
        else if (s && strncmp(s, "https://", 8) == 0)
                rest = s + 8;
        return rest && *rest && *rest != '/';
}

static char *without_trailing_slash(const char *s)
{
        size_t n = strlen(s);
        while (n > 0 && s[n - 1] == '/')
                n--;
        return km_xstrndup(s, n);
}

/* 1 when s holds a control character (it would break a header). */
static int has_control(const char *s)
{
        for (; s && *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return 1;
        return 0;
}

static int check_config(const km_mc_config_t *cfg, char *err, size_t errlen)
{
        if (!is_url(cfg->endpoint)) {
                snprintf(err, errlen,
                         "MaxCompute endpoint '%s' is not an http:// or "
                         "https:// URL; write it as "
                         "https://service.<region>.maxcompute.aliyun.com/api",
                         cfg->endpoint ? cfg->endpoint : "");
                return -1;
        }
        if (cfg->tunnel_endpoint && cfg->tunnel_endpoint[0] &&
            !is_url(cfg->tunnel_endpoint)) {
                snprintf(err, errlen,
                         "MaxCompute tunnel endpoint '%s' is not an http:// "
                         "or https:// URL; write it as "
                         "https://dt.<region>.maxcompute.aliyun.com or leave "
                         "it out",
                         cfg->tunnel_endpoint);
                return -1;
        }
        if (!cfg->project || !cfg->project[0]) {
                snprintf(err, errlen, "MaxCompute project is missing; set "
                                      "PROJECT on the connection");
                return -1;
        }
        if (!cfg->access_id || !cfg->access_id[0] || !cfg->access_secret ||
            !cfg->access_secret[0]) {
                snprintf(err, errlen,
                         "MaxCompute access key id or secret is missing; set "
                         "ACCESS KEY ... SECRET ... on the connection");
                return -1;
        }
        if (has_control(cfg->access_id) || has_control(cfg->access_secret) ||
            has_control(cfg->sts_token)) {
                snprintf(err, errlen,
                         "MaxCompute credentials hold a control character "
                         "(a stray newline?); fix the access key, secret or "
                         "STS token");
                return -1;
        }
        return 0;
}

static char *dup_or_null(const char *s)
{
        return s && s[0] ? km_xstrdup(s) : NULL;
}

km_mc_client_t *km_mc_client_new(const km_mc_config_t *cfg, char *err,
                                 size_t errlen)
{
        if (check_config(cfg, err, errlen))
                return NULL;
        km_mc_client_t *c = km_xcalloc(1, sizeof(*c));
        c->endpoint = without_trailing_slash(cfg->endpoint);
        if (cfg->tunnel_endpoint && cfg->tunnel_endpoint[0])
                c->tunnel = without_trailing_slash(cfg->tunnel_endpoint);
        c->project = km_xstrdup(cfg->project);
        c->schema = dup_or_null(cfg->schema);
        c->access_id = km_xstrdup(cfg->access_id);
        c->secret = km_xstrdup(cfg->access_secret);
        c->sts_token = dup_or_null(cfg->sts_token);
        c->http.cred.access_id = c->access_id;
        c->http.cred.secret = c->secret;
        c->http.cred.sts_token = c->sts_token;
        c->http.tls_verify = cfg->tls_verify;
        c->http.timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s :
                                                 DEFAULT_TIMEOUT_S;
        c->http.max_retries = cfg->max_retries > 0 ? cfg->max_retries :
                                                     DEFAULT_MAX_RETRIES;
        pthread_mutex_init(&c->lock, NULL);
        return c;
}

/* Overwrites a secret before its memory is given back. */
static void free_secret(char *s)
{
        if (s) {
                volatile char *p = s;
                while (*p)
                        *p++ = '\0';
        }
        free(s);
}

void km_mc_client_free(km_mc_client_t *c)
{
        if (!c)
                return;
        pthread_mutex_destroy(&c->lock);
        free(c->endpoint);
        free(c->tunnel);
        free(c->project);
        free(c->schema);
        free(c->access_id);
        free_secret(c->secret);
        free_secret(c->sts_token);
        free(c);
}

/* ----- tunnel endpoint ----- */

static char *trimmed(const char *s, size_t n)
{
        while (n > 0 && isspace((unsigned char)*s)) {
                s++;
                n--;
        }
        while (n > 0 && isspace((unsigned char)s[n - 1]))
                n--;
        return km_xstrndup(s, n);
}

/* The tunnel base URL from discovery's answer (a host[:port]). */
static char *tunnel_from_answer(const char *endpoint, const char *host)
{
        if (strstr(host, "://"))
                return without_trailing_slash(host);
        const char *scheme = strncmp(endpoint, "https:", 6) == 0 ? "https" :
                                                                   "http";
        char *url = km_xasprintf("%s://%s", scheme, host);
        char *out = without_trailing_slash(url);
        free(url);
        return out;
}

static int discover_tunnel(km_mc_client_t *c, km_mc_error_t *err)
{
        char *resource = km_xasprintf("/projects/%s/tunnel", c->project);
        km_mc_kv_t params[] = {{"service", NULL}};
        km_mc_request_t req = {.method = "GET",
                               .base = c->endpoint,
                               .resource = resource,
                               .params = params,
                               .nparams = 1,
                               .retry = KM_MC_RETRY_ANY};
        km_mc_response_t resp;
        int rc = km_mc_http_call(&c->http, &req, &resp, err);
        if (rc == 0) {
                char *host = trimmed(resp.body, resp.len);
                if (!host[0] || has_control(host) || strchr(host, ' '))
                        rc = local_error(err, "BadTunnelEndpoint", 0,
                                         "tunnel discovery at %s%s gave no "
                                         "usable host; set the tunnel "
                                         "endpoint on the connection",
                                         c->endpoint, resource);
                else
                        c->tunnel = tunnel_from_answer(c->endpoint, host);
                free(host);
        }
        km_mc_response_clear(&resp);
        free(resource);
        return rc;
}

int km_mc_tunnel_endpoint(km_mc_client_t *c, const char **url,
                          km_mc_error_t *err)
{
        km_mc_error_t spare;
        err = error_slot(err, &spare);
        pthread_mutex_lock(&c->lock);
        int rc = c->tunnel ? 0 : discover_tunnel(c, err);
        *url = c->tunnel;
        pthread_mutex_unlock(&c->lock);
        return rc;
}

/* ----- SQL instances ----- */

static void put_xml_escaped(km_buf_t *b, const char *s)
{
        for (; *s; s++) {
                switch (*s) {
                case '<': km_buf_puts(b, "&lt;"); break;
                case '>': km_buf_puts(b, "&gt;"); break;
                case '&': km_buf_puts(b, "&amp;"); break;
                case '"': km_buf_puts(b, "&quot;"); break;
                default: km_buf_putc(b, *s);
                }
        }
}

/* The query in CDATA: a "]]>" inside is split over two sections. */
static void put_cdata(km_buf_t *b, const char *s, size_t n)
{
        km_buf_puts(b, "<![CDATA[");
        const char *end = s + n;
        for (const char *p = s; p < end; p++) {
                if (end - p >= 3 && memcmp(p, "]]>", 3) == 0) {
                        km_buf_puts(b, "]]]]><![CDATA[>");
                        p += 2;
                } else {
                        km_buf_putc(b, *p);
                }
        }
        km_buf_puts(b, "]]>");
}

static void put_property(km_buf_t *b, const char *name, const char *value)
{
        km_buf_puts(b, "          <Property>\n            <Name>");
        put_xml_escaped(b, name);
        km_buf_puts(b, "</Name>\n            <Value>");
        put_xml_escaped(b, value);
        km_buf_puts(b, "</Value>\n          </Property>\n");
}

char *km_mc_instance_xml(const char *sql, const char *settings,
                         const char *uuid)
{
        const char *s = sql, *e = sql + strlen(sql);
        while (s < e && isspace((unsigned char)*s))
                s++;
        while (e > s && isspace((unsigned char)e[-1]))
                e--;
        km_buf_t q = {0};
        km_buf_append(&q, s, (size_t)(e - s));
        if (e == s || e[-1] != ';')
                km_buf_putc(&q, ';');

        km_buf_t b = {0};
        km_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                        "<Instance>\n  <Job>\n    <Priority>9</Priority>\n"
                        "    <Tasks>\n      <SQL>\n        <Name>" TASK_NAME
                        "</Name>\n        <Config>\n");
        put_property(&b, "settings", settings);
        put_property(&b, "uuid", uuid);
        km_buf_puts(&b, "        </Config>\n        <Query>");
        put_cdata(&b, q.data, q.len);
        km_buf_puts(&b, "</Query>\n      </SQL>\n    </Tasks>\n"
                        "    <DAG>\n      <RunMode>Sequence</RunMode>\n"
                        "    </DAG>\n  </Job>\n</Instance>\n");
        free(q.data);
        return km_buf_take(&b);
}

static char *new_uuid(void)
{
        unsigned char r[16];
        if (RAND_bytes(r, sizeof(r)) != 1)
                for (size_t i = 0; i < sizeof(r); i++)
                        r[i] = (unsigned char)rand();
        r[6] = (unsigned char)((r[6] & 0x0F) | 0x40);
        r[8] = (unsigned char)((r[8] & 0x3F) | 0x80);
        return km_xasprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                            "%02x%02x%02x%02x%02x%02x",
                            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                            r[8], r[9], r[10], r[11], r[12], r[13], r[14],
                            r[15]);
}

/* The SQL flags of every statement: the 2.0 type system, and the schema
 * of a three-tier project. */
static char *sql_settings(const km_mc_client_t *c)
{
        json_t *s = json_object();
        json_object_set_new(s, "odps.sql.type.system.odps2",
                            json_string("true"));
        json_object_set_new(s, "odps.sql.decimal.odps2", json_string("true"));
        if (c->schema) {
                json_object_set_new(s, "odps.sql.allow.namespace.schema",
                                    json_string("true"));
                json_object_set_new(s, "odps.namespace.schema",
                                    json_string("true"));
                json_object_set_new(s, "odps.default.schema",
                                    json_string(c->schema));
        }
        char *text = json_dumps(s, JSON_COMPACT);
        json_decref(s);
        return text;
}

static char *instance_id_of(const char *location)
{
        size_t n = strlen(location);
        while (n > 0 && location[n - 1] == '/')
                n--;
        size_t start = n;
        while (start > 0 && location[start - 1] != '/')
                start--;
        return n > start ? km_xstrndup(location + start, n - start) : NULL;
}

static int submit_instance(km_mc_client_t *c, const char *sql, char **id,
                           km_mc_error_t *err)
{
        char *settings = sql_settings(c), *uuid = new_uuid();
        char *xml = km_mc_instance_xml(sql, settings, uuid);
        char *resource = km_xasprintf("/projects/%s/instances", c->project);
        km_mc_request_t req = {.method = "POST",
                               .base = c->endpoint,
                               .resource = resource,
                               .content_type = "application/xml",
                               .body = xml,
                               .body_len = strlen(xml),
                               .retry = KM_MC_RETRY_UNSENT};
        km_mc_response_t resp;
        int rc = km_mc_http_call(&c->http, &req, &resp, err);
        if (rc == 0) {
                *id = instance_id_of(resp.location);
                if (!*id)
                        rc = local_error(err, "NoLocation", 0,
                                         "POST %s%s answered without the "
                                         "new instance's Location; check "
                                         "the endpoint (a proxy?)",
                                         c->endpoint, resource);
        }
        km_mc_response_clear(&resp);
        free(resource);
        free(xml);
        free(uuid);
        free(settings);
        return rc;
}

/* GET of the instance, with an action parameter (or none). */
static int get_instance(km_mc_client_t *c, const char *id, const char *action,
                        km_mc_response_t *resp, km_mc_error_t *err)
{
        char *resource = km_xasprintf("/projects/%s/instances/%s", c->project,
                                      id);
        km_mc_kv_t params[] = {{action, NULL}};
        km_mc_request_t req = {.method = "GET",
                               .base = c->endpoint,
                               .resource = resource,
                               .params = params,
                               .nparams = action ? 1 : 0,
                               .retry = KM_MC_RETRY_ANY};
        int rc = km_mc_http_call(&c->http, &req, resp, err);
        free(resource);
        return rc;
}

/* The instance's own Status (the one before any <Tasks>). */
static char *instance_status(const char *body, size_t len)
{
        const char *inner;
        size_t n;
        const char *tasks = km_mc_xml_find(body, len, "Tasks", &inner, &n);
        if (tasks)
                len = (size_t)(tasks - body);
        return km_mc_xml_text(body, len, "Status");
}

static int wait_terminated(km_mc_client_t *c, const char *id,
                           km_mc_error_t *err)
{
        long delay = POLL_FIRST_MS, waited = 0;
        for (;;) {
                km_mc_response_t resp;
                if (get_instance(c, id, NULL, &resp, err)) {
                        km_mc_response_clear(&resp);
                        return -1;
                }
                char *status = instance_status(resp.body, resp.len);
                km_mc_response_clear(&resp);
                int done = status && strcmp(status, "Terminated") == 0;
                int known = status != NULL;
                free(status);
                if (done)
                        return 0;
                if (!known)
                        return local_error(err, "BadInstanceStatus", 0,
                                           "instance %s: the service's "
                                           "answer has no Status; check "
                                           "the endpoint",
                                           id);
                if (waited >= POLL_GIVE_UP_MS)
                        return local_error(err, "InstanceTimeout", 1,
                                           "instance %s is still running "
                                           "after %d minutes; look at it in "
                                           "the MaxCompute console",
                                           id, POLL_GIVE_UP_MS / 60000);
                km_mc_sleep_ms(delay);
                waited += delay;
                delay = delay * 2 > POLL_CAP_MS ? POLL_CAP_MS : delay * 2;
        }
}

/* The SQL task's element (named AnonymousSQLTask, else the first). */
static const char *find_task(const char *body, size_t len, size_t *n)
{
        const char *s = body, *end = body + len, *first = NULL, *inner;
        size_t first_n = 0, in_n;
        while (s < end && km_mc_xml_find(s, (size_t)(end - s), "Task",
                                         &inner, &in_n)) {
                char *name = km_mc_xml_text(inner, in_n, "Name");
                int match = name && strcmp(name, TASK_NAME) == 0;
                free(name);
                if (match) {
                        *n = in_n;
                        return inner;
                }
                if (!first) {
                        first = inner;
                        first_n = in_n;
                }
                s = inner + in_n;
        }
        *n = first_n;
        return first;
}

static char *task_field(const char *body, size_t len, const char *tag)
{
        size_t n;
        const char *task = find_task(body, len, &n);
        return task ? km_mc_xml_text(task, n, tag) : NULL;
}

static char *base64_decode(const char *s)
{
        km_buf_t clean = {0};
        km_buf_append(&clean, "", 0);
        for (; *s; s++)
                if (!isspace((unsigned char)*s))
                        km_buf_putc(&clean, *s);
        size_t n = clean.len;
        unsigned char *out = km_xmalloc(n / 4 * 3 + 4);
        int got = n % 4 == 0 ? EVP_DecodeBlock(out, (unsigned char *)clean.data,
                                               (int)n) :
                               -1;
        if (got < 0)
                got = 0;
        while (n > 0 && clean.data[n - 1] == '=' && got > 0) {
                n--;
                got--;
        }
        out[got] = '\0';
        free(clean.data);
        return (char *)out;
}

/* The task's Result text (base64-decoded when marked so), or "". */
static char *task_result(const char *body, size_t len)
{
        size_t n;
        const char *task = find_task(body, len, &n), *inner;
        size_t in_n;
        const char *start = task ? km_mc_xml_find(task, n, "Result", &inner,
                                                  &in_n) :
                                   NULL;
        if (!start)
                return km_xstrdup("");
        char *text = km_mc_xml_text(task, n, "Result");
        char *attrs = km_xstrndup(start, (size_t)(inner - start));
        if (strstr(attrs, "Base64") || strstr(attrs, "base64")) {
                char *plain = base64_decode(text);
                free(text);
                text = plain;
        }
        free(attrs);
        return text;
}

static void odps_code(const char *text, char *code, size_t size)
{
        for (const char *p = strstr(text, "ODPS-"); p;
             p = strstr(p + 1, "ODPS-")) {
                size_t d = 0;
                while (isdigit((unsigned char)p[5 + d]))
                        d++;
                if (d == 7) {
                        snprintf(code, size, "%.12s", p);
                        return;
                }
        }
        snprintf(code, size, "TaskFailed");
}

static int task_failed(const char *status, const char *text,
                       const km_mc_response_t *resp, km_mc_error_t *err)
{
        memset(err, 0, sizeof(*err));
        err->http_status = resp->status;
        err->permanent = 1;
        odps_code(text, err->code, sizeof(err->code));
        snprintf(err->request_id, sizeof(err->request_id), "%s",
                 resp->request_id);
        if (text[0])
                snprintf(err->message, sizeof(err->message), "%s", text);
        else
                snprintf(err->message, sizeof(err->message),
                         "the SQL task ended %s without a message",
                         status ? status : "without a status");
        return -1;
}

static int task_outcome(km_mc_client_t *c, const char *id, char **result,
                        km_mc_error_t *err)
{
        km_mc_response_t resp;
        if (get_instance(c, id, "taskstatus", &resp, err)) {
                km_mc_response_clear(&resp);
                return -1;
        }
        char *status = task_field(resp.body, resp.len, "Status");
        km_mc_response_clear(&resp);
        if (get_instance(c, id, "result", &resp, err)) {
                km_mc_response_clear(&resp);
                free(status);
                return -1;
        }
        if (!status)
                status = task_field(resp.body, resp.len, "Status");
        char *text = task_result(resp.body, resp.len);
        int ok = status && strcasecmp(status, "Success") == 0;
        int rc = 0;
        if (!ok)
                rc = task_failed(status, text, &resp, err);
        else if (result)
                *result = km_xstrdup(text);
        km_mc_response_clear(&resp);
        free(text);
        free(status);
        return rc;
}

int km_mc_sql(km_mc_client_t *c, const char *sql, char **result,
              km_mc_error_t *err)
{
        km_mc_error_t spare;
        err = error_slot(err, &spare);
        if (result)
                *result = NULL;
        char *id = NULL;
        if (submit_instance(c, sql, &id, err))
                return -1;
        int rc = wait_terminated(c, id, err);
        if (rc == 0)
                rc = task_outcome(c, id, result, err);
        free(id);
        return rc;
}

/* ----- upload sessions ----- */

void km_mc_session_clear(km_mc_session_t *s)
{
        for (int i = 0; i < s->ncolumns; i++) {
                free(s->columns[i].name);
                free(s->columns[i].type);
        }
        for (int i = 0; i < s->npartition_columns; i++) {
                free(s->partition_columns[i].name);
                free(s->partition_columns[i].type);
        }
        free(s->columns);
        free(s->partition_columns);
        free(s->blocks);
        memset(s, 0, sizeof(*s));
}

static int parse_columns(json_t *arr, km_mc_column_t **out, int *n)
{
        *out = NULL;
        *n = 0;
        if (!arr)
                return 0;
        if (!json_is_array(arr))
                return -1;
        size_t count = json_array_size(arr);
        *out = km_xcalloc(count ? count : 1, sizeof(**out));
        for (size_t i = 0; i < count; i++) {
                json_t *col = json_array_get(arr, i);
                const char *name = json_string_value(json_object_get(col,
                                                                     "name"));
                const char *type = json_string_value(json_object_get(col,
                                                                     "type"));
                if (!name || !type)
                        return -1;
                (*out)[i].name = km_xstrdup(name);
                (*out)[i].type = km_xstrdup(type);
                (*n)++;
        }
        return 0;
}

/* A JSON integer, or a string of digits; -1 when neither. */
static int json_int(json_t *v, int64_t *out)
{
        if (json_is_integer(v)) {
                *out = json_integer_value(v);
                return 0;
        }
        const char *s = json_string_value(v);
        char *end;
        if (!s || !*s)
                return -1;
        long long x = strtoll(s, &end, 10);
        if (*end)
                return -1;
        *out = x;
        return 0;
}

static int parse_blocks(json_t *arr, km_mc_session_t *s)
{
        if (!arr || json_is_null(arr))
                return 0;
        if (!json_is_array(arr))
                return -1;
        size_t count = json_array_size(arr);
        s->blocks = km_xcalloc(count ? count : 1, sizeof(*s->blocks));
        for (size_t i = 0; i < count; i++) {
                json_t *b = json_array_get(arr, i);
                json_t *id = json_is_object(b) ? json_object_get(b, "BlockID") :
                                                 b;
                if (json_int(id, &s->blocks[s->nblocks]))
                        return -1;
                s->nblocks++;
        }
        return 0;
}

static void set_status(km_mc_session_t *s, const char *status)
{
        snprintf(s->status, sizeof(s->status), "%s",
                 status ? status : "unknown");
        for (char *p = s->status; *p; p++)
                *p = (char)tolower((unsigned char)*p);
}

static int parse_session_object(json_t *j, km_mc_session_t *s, char *why,
                                size_t whylen)
{
        const char *id = json_string_value(json_object_get(j, "UploadID"));
        if (!id || !id[0] || strlen(id) >= sizeof(s->id)) {
                snprintf(why, whylen, "it has no usable UploadID");
                return -1;
        }
        snprintf(s->id, sizeof(s->id), "%s", id);
        set_status(s, json_string_value(json_object_get(j, "Status")));
        json_t *schema = json_object_get(j, "Schema");
        if (parse_columns(json_object_get(schema, "columns"), &s->columns,
                          &s->ncolumns) ||
            parse_columns(json_object_get(schema, "partitionKeys"),
                          &s->partition_columns, &s->npartition_columns)) {
                snprintf(why, whylen, "its Schema columns lack a name or type");
                return -1;
        }
        if (json_int(json_object_get(j, "MaxFieldSize"), &s->max_field_size) ||
            s->max_field_size <= 0)
                s->max_field_size = DEFAULT_MAX_FIELD_SIZE;
        if (parse_blocks(json_object_get(j, "UploadedBlockList"), s)) {
                snprintf(why, whylen, "its UploadedBlockList has an entry "
                                      "without a BlockID");
                return -1;
        }
        return 0;
}

int km_mc_session_parse(const char *json, size_t len, km_mc_session_t *s,
                        char *why, size_t whylen)
{
        memset(s, 0, sizeof(*s));
        json_t *j = json_loadb(json ? json : "", json ? len : 0, 0, NULL);
        int rc = -1;
        if (!json_is_object(j))
                snprintf(why, whylen, "it is not a JSON object");
        else
                rc = parse_session_object(j, s, why, whylen);
        json_decref(j);
        if (rc)
                km_mc_session_clear(s);
        return rc;
}

/* What every call of one session sends: table, partition, ids. */
struct tunnel_call {
        char *resource;
        char *partition; /* quotes removed; NULL: none */
        km_mc_kv_t params[MAX_PARAMS];
        int nparams;
        char blockid[24];
};

static char *normalized_partition(const char *spec)
{
        if (!spec || !spec[0])
                return NULL;
        km_buf_t b = {0};
        for (const char *p = spec; *p; p++)
                if (*p != '\'' && *p != '"')
                        km_buf_putc(&b, *p);
        return km_buf_take(&b);
}

static void call_init(struct tunnel_call *t, const km_mc_client_t *c,
                      const char *table, const char *partition)
{
        memset(t, 0, sizeof(*t));
        if (c->schema)
                t->resource = km_xasprintf("/projects/%s/schemas/%s/tables/%s",
                                           c->project, c->schema, table);
        else
                t->resource = km_xasprintf("/projects/%s/tables/%s",
                                           c->project, table);
        t->partition = normalized_partition(partition);
}

static void call_param(struct tunnel_call *t, const char *key,
                       const char *value)
{
        t->params[t->nparams].key = key;
        t->params[t->nparams].value = value;
        t->nparams++;
}

static void call_partition(struct tunnel_call *t)
{
        if (t->partition)
                call_param(t, "partition", t->partition);
}

static void call_clear(struct tunnel_call *t)
{
        free(t->resource);
        free(t->partition);
}

static const km_mc_kv_t TUNNEL_HEADERS[] = {
        {"x-odps-tunnel-version", KM_MC_TUNNEL_VERSION},
        {"odps-tunnel-date-transform", "v1"},
};

static void tunnel_request(km_mc_request_t *req, const char *method,
                           const char *base, const struct tunnel_call *t)
{
        memset(req, 0, sizeof(*req));
        req->method = method;
        req->base = base;
        req->resource = t->resource;
        req->params = t->params;
        req->nparams = t->nparams;
        req->headers = TUNNEL_HEADERS;
        req->nheaders = 2;
        req->retry = KM_MC_RETRY_ANY;
}

/* Sends a session call and parses the session in its answer. */
static int session_call(km_mc_client_t *c, const char *method,
                        const struct tunnel_call *t, km_mc_session_t *out,
                        km_mc_error_t *err)
{
        const char *base;
        if (km_mc_tunnel_endpoint(c, &base, err))
                return -1;
        km_mc_request_t req;
        tunnel_request(&req, method, base, t);
        km_mc_response_t resp;
        int rc = km_mc_http_call(&c->http, &req, &resp, err);
        char why[256];
        if (rc == 0 && out &&
            km_mc_session_parse(resp.body, resp.len, out, why, sizeof(why)))
                rc = local_error(err, "BadSessionAnswer", 0,
                                 "%s %s%s: the tunnel's answer is not an "
                                 "upload session (%s); check the tunnel "
                                 "endpoint",
                                 method, base, t->resource, why);
        km_mc_response_clear(&resp);
        return rc;
}

int km_mc_session_create(km_mc_client_t *c, const char *table,
                         const char *partition, int overwrite,
                         km_mc_session_t *out, km_mc_error_t *err)
{
        km_mc_error_t spare;
        err = error_slot(err, &spare);
        struct tunnel_call t;
        call_init(&t, c, table, partition);
        call_param(&t, "uploads", NULL);
        call_partition(&t);
        if (overwrite)
                call_param(&t, "overwrite", "true");
        /* Retrying a create is safe: at worst it opens a second session,
         * and the first one expires unused. */
        int rc = session_call(c, "POST", &t, out, err);
        call_clear(&t);
        return rc;
}

int km_mc_session_status(km_mc_client_t *c, const char *table,
                         const char *partition, const char *session_id,
                         km_mc_session_t *out, km_mc_error_t *err)
{
        km_mc_error_t spare;
        err = error_slot(err, &spare);
        struct tunnel_call t;
        call_init(&t, c, table, partition);
        call_param(&t, "uploadid", session_id);
        call_partition(&t);
        int rc = session_call(c, "GET", &t, out, err);
        call_clear(&t);
        return rc;
}

int km_mc_block_put(km_mc_client_t *c, const char *table,
                    const char *partition, const char *session_id,
                    int64_t block_id, const void *body, size_t len,
                    int deflated, km_mc_error_t *err)
{
        km_mc_error_t spare;
        err = error_slot(err, &spare);
        const char *base;
        if (km_mc_tunnel_endpoint(c, &base, err))
                return -1;
        struct tunnel_call t;
        call_init(&t, c, table, partition);
        snprintf(t.blockid, sizeof(t.blockid), "%lld", (long long)block_id);
        call_param(&t, "uploadid", session_id);
        call_param(&t, "blockid", t.blockid);
        call_partition(&t);
        km_mc_request_t req;
        tunnel_request(&req, "PUT", base, &t);
        req.content_type = "application/octet-stream";
        req.content_encoding = deflated ? "deflate" : NULL;
        req.body = body ? body : "";
        req.body_len = body ? len : 0;
        req.chunked = 1;
        km_mc_response_t resp;
        int rc = km_mc_http_call(&c->http, &req, &resp, err);
        km_mc_response_clear(&resp);
        call_clear(&t);
        return rc;
}

/* ----- commit ----- */

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x > y) - (x < y);
}

/* Sorted, without repeats; returns the new count. */
static int sorted_unique(int64_t *v, int n)
{
        if (n <= 1)
                return n;
        qsort(v, n, sizeof(*v), cmp_i64);
        int k = 1;
        for (int i = 1; i < n; i++)
                if (v[i] != v[k - 1])
                        v[k++] = v[i];
        return k;
}

/* -1 with an error unless the service holds exactly the blocks ids. */
static int check_blocks(const km_mc_session_t *st, const int64_t *ids, int n,
                        km_mc_error_t *err)
{
        int64_t *mine = km_xcalloc(n > 0 ? n : 1, sizeof(*mine));
        int64_t *theirs = km_xcalloc(st->nblocks > 0 ? st->nblocks : 1,
                                     sizeof(*theirs));
        if (n > 0)
                memcpy(mine, ids, sizeof(*mine) * n);
        if (st->nblocks > 0)
                memcpy(theirs, st->blocks, sizeof(*theirs) * st->nblocks);
        int nm = sorted_unique(mine, n), nt = sorted_unique(theirs,
                                                            st->nblocks);
        int i = 0;
        while (i < nm && i < nt && mine[i] == theirs[i])
                i++;
        int rc = 0;
        if (i < nm || i < nt)
                rc = local_error(err, "BlocksNotMatch", 0,
                                 "upload session %s holds %d blocks but %d "
                                 "were uploaded (block %lld differs); upload "
                                 "the blocks again in a new session",
                                 st->id, nt, nm,
                                 (long long)(i < nm ? mine[i] : theirs[i]));
        free(mine);
        free(theirs);
        return rc;
}

static int status_is(const km_mc_session_t *s, const char *a, const char *b)
{
        return strcmp(s->status, a) == 0 || (b && strcmp(s->status, b) == 0);
}

/* After a commit whose outcome is unknown: 1 when the session is
 * committed, 0 when it is still open (send the commit again), -1 with an
 * error otherwise.  Waits out a commit in progress. */
static int committed_already(km_mc_client_t *c, const char *table,
                             const char *partition, const char *session_id,
                             km_mc_error_t *err)
{
        for (int poll = 0;; poll++) {
                km_mc_session_t st;
                if (km_mc_session_status(c, table, partition, session_id, &st,
                                         err))
                        return -1;
                int done = status_is(&st, "closed", "committed");
                int open = status_is(&st, "normal", NULL);
                int busy = status_is(&st, "closing", "committing");
                char status[sizeof(st.status)];
                snprintf(status, sizeof(status), "%s", st.status);
                km_mc_session_clear(&st);
                if (done || open)
                        return done;
                if (!busy || poll >= c->http.max_retries)
                        return local_error(err, "StatusConflict", 0,
                                           "upload session %s is %s after a "
                                           "commit; upload the window again "
                                           "in a new session",
                                           session_id, status);
                km_mc_backoff_sleep(poll);
        }
}

static int conflict(const km_mc_error_t *err)
{
        return err->http_status == 409 ||
               strcmp(err->code, "StatusConflict") == 0;
}

static int commit_attempts(km_mc_client_t *c, const char *table,
                           const char *partition, const char *session_id,
                           km_mc_error_t *err)
{
        const char *base;
        if (km_mc_tunnel_endpoint(c, &base, err))
                return -1;
        struct tunnel_call t;
        call_init(&t, c, table, partition);
        call_param(&t, "uploadid", session_id);
        call_partition(&t);
        km_mc_request_t req;
        tunnel_request(&req, "POST", base, &t);
        int rc = -1;
        for (int attempt = 0;; attempt++) {
                km_mc_response_t resp;
                rc = km_mc_http_once(&c->http, &req, &resp, err);
                km_mc_response_clear(&resp);
                if (rc == 0)
                        break;
                /* A conflict after a lost answer: the first commit won. */
                if (attempt > 0 && conflict(err)) {
                        km_mc_error_t first = *err;
                        int done = committed_already(c, table, partition,
                                                     session_id, err);
                        rc = done == 1 ? 0 : -1;
                        if (done == 0)
                                *err = first;
                        break;
                }
                if (!err->retryable || attempt >= c->http.max_retries)
                        break;
                km_mc_backoff_sleep(attempt);
                int done = committed_already(c, table, partition, session_id,
                                             err);
                if (done != 0) {
                        rc = done == 1 ? 0 : -1;
                        break;
                }
        }
        call_clear(&t);
        return rc;
}

int km_mc_session_commit(km_mc_client_t *c, const char *table,
                         const char *partition, const char *session_id,
                         const int64_t *block_ids, int n, km_mc_error_t *err)
{
        km_mc_error_t spare;
        err = error_slot(err, &spare);
        km_mc_session_t st;
        if (km_mc_session_status(c, table, partition, session_id, &st, err))
                return -1;
        int rc = check_blocks(&st, block_ids, n, err);
        int done = status_is(&st, "closed", "committed");
        if (rc == 0 && !done && !status_is(&st, "normal", NULL))
                rc = local_error(err, "StatusConflict", 0,
                                 "upload session %s is %s, not open; upload "
                                 "the window again in a new session",
                                 session_id, st.status);
        km_mc_session_clear(&st);
        if (rc || done)
                return rc;
        return commit_attempts(c, table, partition, session_id, err);
}
