/* mc_sign.h - private to runtime/maxcompute: the ODPS v2 request signature
 * (mc_sign.c), the signed libcurl requests with retries (mc_http.c), and
 * the parsers of mc_client.c that the unit tests call directly.
 *
 * Strings here are the decoded (raw) values: the canonical string is built
 * from them, and only the URL carries them percent-encoded. */
#ifndef KMSYNC_MC_SIGN_H
#define KMSYNC_MC_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mc_client.h"

/* The x-odps-tunnel-version sent on every tunnel request: the notes'
 * recommendation (the Go SDK's value; uploads are the same in 4-6). */
#define KM_MC_TUNNEL_VERSION "5"
/* "Tue, 22 Nov 2022 02:05:00 GMT" and its NUL, with room for odd years. */
#define KM_MC_DATE_SIZE 40
/* base64 of a SHA-1 HMAC (28 characters) and its NUL. */
#define KM_MC_SIG_SIZE 29
#define KM_MC_MAX_HEADERS 16

/* ----- mc_sign.c: canonical string, signature, HTTP date ----- */

/* A header or a query parameter.  A parameter whose value is NULL or ""
 * is a bare key (`?service`, `?uploads`). */
typedef struct km_mc_kv {
        const char *key;
        const char *value;
} km_mc_kv_t;

typedef struct km_mc_cred {
        const char *access_id;
        const char *secret;
        const char *sts_token; /* NULL: none */
} km_mc_cred_t;

/* t as an RFC 1123 date in GMT ("Tue, 22 Nov 2022 02:05:00 GMT"), with
 * English names whatever the locale. */
void km_mc_http_date(time_t t, char out[KM_MC_DATE_SIZE]);

/* The string to sign: the method, the Content-MD5, Content-Type and Date
 * values (empty when absent), one "name:value" line per x-odps-* header or
 * x-odps-* parameter sorted by lower-cased name, then the resource (the
 * path below the endpoint) with every parameter sorted by key, a bare key
 * for an empty value.  Header names match case-insensitively.  Returns a
 * malloc'd string. */
char *km_mc_canonical_string(const char *method, const km_mc_kv_t *headers,
                             int nheaders, const char *resource,
                             const km_mc_kv_t *params, int nparams);

/* base64(HMAC-SHA1(secret, canonical)). */
void km_mc_signature(const char *secret, const char *canonical,
                     char out[KM_MC_SIG_SIZE]);

/* The headers of one request: the caller's, then what signing adds. */
typedef struct km_mc_headers {
        km_mc_kv_t kv[KM_MC_MAX_HEADERS];
        int n;
        char date[KM_MC_DATE_SIZE];
        char *authorization; /* "ODPS <id>:<signature>", malloc'd */
} km_mc_headers_t;

/* Appends a header (the strings must outlive h); aborts past
 * KM_MC_MAX_HEADERS, which is a programming error. */
void km_mc_headers_add(km_mc_headers_t *h, const char *key,
                       const char *value);
/* Adds Date (from now), signs what h holds with the method, resource and
 * params, and adds Authorization and, with an STS token,
 * authorization-sts-token (not signed, as in the SDKs). */
void km_mc_headers_sign(km_mc_headers_t *h, const km_mc_cred_t *cred,
                        const char *method, const char *resource,
                        const km_mc_kv_t *params, int nparams, time_t now);
void km_mc_headers_clear(km_mc_headers_t *h);
/* The value of header `key` (any case) in h, or NULL. */
const char *km_mc_headers_get(const km_mc_headers_t *h, const char *key);

/* ----- mc_http.c: one signed request over libcurl, and retries ----- */

typedef enum km_mc_retry {
        KM_MC_RETRY_ANY,    /* idempotent: every retryable failure again */
        KM_MC_RETRY_UNSENT, /* not idempotent: only when the service cannot
                               have acted (no connection, 429) */
} km_mc_retry_t;

typedef struct km_mc_http_conf {
        km_mc_cred_t cred;
        int tls_verify;
        long timeout_s;  /* > 0 */
        int max_retries; /* >= 0 */
} km_mc_http_conf_t;

typedef struct km_mc_request {
        const char *method;         /* "GET", "POST", "PUT" */
        const char *base;           /* endpoint URL, no trailing '/' */
        const char *resource;       /* decoded path below base */
        const km_mc_kv_t *params;   /* decoded query parameters */
        int nparams;
        const km_mc_kv_t *headers;  /* extra headers, e.g. tunnel ones */
        int nheaders;
        const char *content_type;   /* NULL: none sent, signed as "" */
        const char *content_encoding;
        const void *body;           /* POST: NULL sends an empty body */
        size_t body_len;
        int chunked;                /* PUT body, Transfer-Encoding: chunked */
        km_mc_retry_t retry;
} km_mc_request_t;

typedef struct km_mc_response {
        long status;
        char *body; /* NUL-terminated; malloc'd */
        size_t len;
        char request_id[128]; /* x-odps-request-id */
        char location[1024];
} km_mc_response_t;

/* One attempt.  0 on a 2xx answer; else -1 with err filled (the service's
 * error for an HTTP answer, a local one without). */
int km_mc_http_once(const km_mc_http_conf_t *conf, const km_mc_request_t *req,
                    km_mc_response_t *resp, km_mc_error_t *err);
/* Attempts with backoff while the failure is retryable (and req->retry
 * allows it), at most conf->max_retries times more. */
int km_mc_http_call(const km_mc_http_conf_t *conf, const km_mc_request_t *req,
                    km_mc_response_t *resp, km_mc_error_t *err);
void km_mc_response_clear(km_mc_response_t *r);

/* The error of an HTTP answer: Code, Message and RequestId from an XML
 * <Error> (service) or a JSON object (tunnel) body, the request id of the
 * x-odps-request-id header (header_request_id, may be NULL) when the body
 * has none, and the retry class from the status. */
void km_mc_error_parse(long status, const char *body, size_t len,
                       const char *header_request_id, km_mc_error_t *err);
/* 1 when a failure of this class may be retried under policy `retry`. */
int km_mc_error_may_retry(const km_mc_error_t *err, km_mc_retry_t retry);

/* Full-jitter backoff before retry `attempt` (0 = the first retry):
 * uniform in [0, min(10 s, 200 ms * 2^attempt)]; `unit` in [0, 1) is the
 * random draw. */
long km_mc_backoff_ms(int attempt, double unit);
void km_mc_backoff_sleep(int attempt);
void km_mc_sleep_ms(long ms);

/* The text of the first element `tag` in xml[0..len) (CDATA kept as is,
 * entities decoded, markup inside dropped), malloc'd; NULL when there is
 * no such element.  A lenient reader for the service's small answers. */
char *km_mc_xml_text(const char *xml, size_t len, const char *tag);
/* Where the first element `tag` starts in xml[0..len) and its content
 * (*inner, *inner_len); NULL when there is none. */
const char *km_mc_xml_find(const char *xml, size_t len, const char *tag,
                           const char **inner, size_t *inner_len);

/* base + the percent-encoded resource + "?" and the form-encoded params
 * (space as '+', everything but A-Z a-z 0-9 - . _ ~ as %XX).  malloc'd. */
char *km_mc_url(const char *base, const char *resource,
                const km_mc_kv_t *params, int nparams);

/* ----- mc_client.c parsers, for the tests ----- */

/* Fills s from an upload session's JSON (create, status, commit).  -1
 * with a message in why when it is not a session. */
int km_mc_session_parse(const char *json, size_t len, km_mc_session_t *s,
                        char *why, size_t whylen);
/* The Instance XML that submits sql as one SQL task; settings is a JSON
 * object text (put into the XML escaped), uuid the task's GUID.  The query
 * is trimmed, ends with ';' and sits in CDATA, split around any "]]>".
 * malloc'd. */
char *km_mc_instance_xml(const char *sql, const char *settings,
                         const char *uuid);

#endif
