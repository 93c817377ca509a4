/* mc_http.c - signed MaxCompute requests over libcurl, with retries.
 *
 * Every attempt uses an easy handle of its own, so calls may run on several
 * threads at once; curl_global_init runs once (pthread_once).  The request
 * is signed from the decoded parameters, and only the URL carries them
 * encoded.  Nothing here prints; errors never hold the secret, the
 * signature or the STS token. */
#include "mc_sign.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kmsync/version.h"
#include "util.h"

#define USER_AGENT "kmsync/" KMSYNC_VERSION
enum {
        MAX_RESPONSE = 64 << 20, /* bytes of an answer kept */
        CONNECT_TIMEOUT_S = 30,
        BACKOFF_BASE_MS = 200,
        BACKOFF_CAP_MS = 10000,
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
        global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ----- small strings ----- */

/* Copies src[0..n) into dst (size), cut at a UTF-8 character boundary. */
static void copy_text(char *dst, size_t size, const char *src, size_t n)
{
        if (n >= size) {
                n = size - 1;
                while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
                        n--;
        }
        memcpy(dst, src, n);
        dst[n] = '\0';
}

static void copy_str(char *dst, size_t size, const char *src)
{
        copy_text(dst, size, src ? src : "", src ? strlen(src) : 0);
}

static int unreserved(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
               c == '~';
}

/* Percent-encodes s; in_path keeps '/', form writes a space as '+'. */
static void put_encoded(km_buf_t *b, const char *s, int in_path, int form)
{
        static const char hex[] = "0123456789ABCDEF";
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (unreserved(*p) || (in_path && *p == '/')) {
                        km_buf_putc(b, (char)*p);
                } else if (form && *p == ' ') {
                        km_buf_putc(b, '+');
                } else {
                        char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
                        km_buf_append(b, e, 3);
                }
        }
}

char *km_mc_url(const char *base, const char *resource,
                const km_mc_kv_t *params, int nparams)
{
        km_buf_t b = {0};
        km_buf_puts(&b, base);
        put_encoded(&b, resource, 1, 0);
        for (int i = 0; i < nparams; i++) {
                km_buf_putc(&b, i ? '&' : '?');
                put_encoded(&b, params[i].key, 0, 1);
                if (params[i].value && params[i].value[0]) {
                        km_buf_putc(&b, '=');
                        put_encoded(&b, params[i].value, 0, 1);
                }
        }
        return km_buf_take(&b);
}

/* ----- a lenient XML reader ----- */

static const char *find_in(const char *s, const char *end, const char *what)
{
        size_t n = strlen(what);
        for (; s + n <= end; s++)
                if (memcmp(s, what, n) == 0)
                        return s;
        return NULL;
}

/* The closing tag of `tag` from s, skipping CDATA sections. */
static const char *find_close(const char *s, const char *end,
                              const char *tag)
{
        size_t n = strlen(tag);
        while (s < end) {
                if (end - s >= 9 && memcmp(s, "<![CDATA[", 9) == 0) {
                        const char *c = find_in(s + 9, end, "]]>");
                        if (!c)
                                return NULL;
                        s = c + 3;
                } else if (end - s >= (ptrdiff_t)(n + 3) && s[0] == '<' &&
                           s[1] == '/' && memcmp(s + 2, tag, n) == 0 &&
                           s[2 + n] == '>') {
                        return s;
                } else {
                        s++;
                }
        }
        return NULL;
}

static int tag_name_ends(char c)
{
        return c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\r' ||
               c == '\n';
}

const char *km_mc_xml_find(const char *xml, size_t len, const char *tag,
                           const char **inner, size_t *inner_len)
{
        const char *end = xml + len, *s = xml;
        size_t n = strlen(tag);
        while ((s = find_in(s, end, "<")) != NULL) {
                if (s + 1 + n < end && memcmp(s + 1, tag, n) == 0 &&
                    tag_name_ends(s[1 + n])) {
                        const char *gt = find_in(s, end, ">");
                        if (!gt)
                                return NULL;
                        if (gt[-1] == '/') {
                                *inner = gt + 1;
                                *inner_len = 0;
                                return s;
                        }
                        const char *close = find_close(gt + 1, end, tag);
                        if (!close)
                                return NULL;
                        *inner = gt + 1;
                        *inner_len = (size_t)(close - gt - 1);
                        return s;
                }
                s++;
        }
        return NULL;
}

static void put_utf8(km_buf_t *b, unsigned long cp)
{
        char u[4];
        if (cp < 0x80) {
                km_buf_putc(b, (char)cp);
        } else if (cp < 0x800) {
                u[0] = (char)(0xC0 | (cp >> 6));
                u[1] = (char)(0x80 | (cp & 0x3F));
                km_buf_append(b, u, 2);
        } else if (cp < 0x10000) {
                u[0] = (char)(0xE0 | (cp >> 12));
                u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                u[2] = (char)(0x80 | (cp & 0x3F));
                km_buf_append(b, u, 3);
        } else if (cp < 0x110000) {
                u[0] = (char)(0xF0 | (cp >> 18));
                u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                u[3] = (char)(0x80 | (cp & 0x3F));
                km_buf_append(b, u, 4);
        }
}

/* Decodes the entity at s (which starts with '&'); returns its length, or
 * 0 to copy the '&' as it is. */
static size_t put_entity(km_buf_t *b, const char *s, const char *end)
{
        static const struct {
                const char *name;
                char c;
        } named[] = {{"&lt;", '<'},   {"&gt;", '>'},    {"&amp;", '&'},
                     {"&quot;", '"'}, {"&apos;", '\''}};
        for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
                size_t n = strlen(named[i].name);
                if ((size_t)(end - s) >= n &&
                    memcmp(s, named[i].name, n) == 0) {
                        km_buf_putc(b, named[i].c);
                        return n;
                }
        }
        const char *semi = find_in(s, end, ";");
        if (!semi || semi - s > 12 || s[1] != '#')
                return 0;
        char num[16];
        copy_text(num, sizeof(num), s + 2, (size_t)(semi - s - 2));
        char *stop;
        unsigned long cp = (num[0] == 'x' || num[0] == 'X') ?
                                   strtoul(num + 1, &stop, 16) :
                                   strtoul(num, &stop, 10);
        if (*stop || stop == num)
                return 0;
        put_utf8(b, cp);
        return (size_t)(semi - s + 1);
}

char *km_mc_xml_text(const char *xml, size_t len, const char *tag)
{
        const char *s;
        size_t n;
        if (!km_mc_xml_find(xml, len, tag, &s, &n))
                return NULL;
        const char *end = s + n;
        km_buf_t b = {0};
        km_buf_append(&b, "", 0);
        while (s < end) {
                if (end - s >= 9 && memcmp(s, "<![CDATA[", 9) == 0) {
                        const char *c = find_in(s + 9, end, "]]>");
                        const char *stop = c ? c : end;
                        km_buf_append(&b, s + 9, (size_t)(stop - s - 9));
                        s = c ? c + 3 : end;
                } else if (*s == '<') {
                        const char *gt = find_in(s, end, ">");
                        s = gt ? gt + 1 : end;
                } else if (*s == '&') {
                        size_t used = put_entity(&b, s, end);
                        if (!used)
                                km_buf_putc(&b, '&');
                        s += used ? used : 1;
                } else {
                        km_buf_putc(&b, *s++);
                }
        }
        return km_buf_take(&b);
}

/* ----- errors ----- */

static void set_class(km_mc_error_t *err, int retryable)
{
        err->retryable = retryable;
        err->permanent = !retryable;
}

static int xml_error(const char *body, size_t len, km_mc_error_t *err)
{
        char *code = km_mc_xml_text(body, len, "Code");
        char *msg = km_mc_xml_text(body, len, "Message");
        char *rid = km_mc_xml_text(body, len, "RequestId");
        int ok = code || msg;
        copy_str(err->code, sizeof(err->code), code);
        copy_str(err->message, sizeof(err->message), msg);
        copy_str(err->request_id, sizeof(err->request_id), rid);
        free(code);
        free(msg);
        free(rid);
        return ok;
}

static const char *json_str(json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

static int json_error(const char *body, size_t len, km_mc_error_t *err)
{
        json_t *j = json_loadb(body, len, 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return 0;
        }
        const char *code = json_str(j, "Code");
        const char *msg = json_str(j, "Message");
        int ok = code || msg;
        copy_str(err->code, sizeof(err->code), code);
        copy_str(err->message, sizeof(err->message), msg);
        copy_str(err->request_id, sizeof(err->request_id),
                 json_str(j, "RequestId"));
        json_decref(j);
        return ok;
}

static const char *skip_space(const char *s, const char *end)
{
        while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' ||
                           *s == '\n'))
                s++;
        return s;
}

/* An answer that is neither: its text, on one line, as the message. */
static void text_error(const char *body, size_t len, km_mc_error_t *err)
{
        const char *s = skip_space(body, body + len);
        copy_text(err->message, sizeof(err->message), s,
                  (size_t)(body + len - s));
        for (char *p = err->message; *p; p++)
                if (*p == '\r' || *p == '\n' || *p == '\t')
                        *p = ' ';
}

void km_mc_error_parse(long status, const char *body, size_t len,
                       const char *header_request_id, km_mc_error_t *err)
{
        memset(err, 0, sizeof(*err));
        err->http_status = status;
        set_class(err, status >= 500 || status == 429 || status == 408);
        if (!body)
                len = 0;
        const char *s = len ? skip_space(body, body + len) : body;
        int parsed = 0;
        if (len && s < body + len && *s == '<')
                parsed = xml_error(body, len, err);
        if (!parsed && len && s < body + len && *s == '{')
                parsed = json_error(body, len, err);
        if (!parsed && len)
                text_error(body, len, err);
        if (!err->request_id[0])
                copy_str(err->request_id, sizeof(err->request_id),
                         header_request_id);
        if (!err->code[0])
                snprintf(err->code, sizeof(err->code), "HTTP%ld", status);
        if (!err->message[0])
                snprintf(err->message, sizeof(err->message),
                         "the service answered HTTP %ld without an error "
                         "message",
                         status);
}

int km_mc_error_may_retry(const km_mc_error_t *err, km_mc_retry_t retry)
{
        if (!err->retryable)
                return 0;
        if (retry == KM_MC_RETRY_ANY)
                return 1;
        return err->http_status == 429 ||
               strcmp(err->code, "ConnectFailed") == 0;
}

struct curl_class {
        const char *code;
        int retryable;
        const char *hint;
};

static struct curl_class classify_curl(CURLcode rc)
{
        switch (rc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SSL_CONNECT_ERROR:
                return (struct curl_class){"ConnectFailed", 1,
                                           "check the endpoint and the "
                                           "network"};
        case CURLE_OPERATION_TIMEDOUT:
                return (struct curl_class){"Timeout", 1,
                                           "the service did not answer in "
                                           "time; raise the timeout if it "
                                           "is busy"};
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                return (struct curl_class){"ConnectionReset", 1,
                                           "the connection broke; check "
                                           "the network"};
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_ISSUER_ERROR:
                return (struct curl_class){"TlsVerifyFailed", 0,
                                           "the endpoint's certificate is "
                                           "not trusted; install its CA "
                                           "or fix the endpoint"};
        default:
                return (struct curl_class){"HttpClientError", 0,
                                           "check the endpoint URL"};
        }
}

static void curl_error(CURLcode rc, const char *detail,
                       const km_mc_request_t *req, km_mc_error_t *err)
{
        struct curl_class k = classify_curl(rc);
        memset(err, 0, sizeof(*err));
        set_class(err, k.retryable);
        copy_str(err->code, sizeof(err->code), k.code);
        snprintf(err->message, sizeof(err->message),
                 "%s %s%s failed: %s; %s", req->method, req->base,
                 req->resource, detail && detail[0] ? detail :
                                                      curl_easy_strerror(rc),
                 k.hint);
}

/* ----- one attempt ----- */

struct sink {
        km_buf_t buf;
        int too_big;
        km_mc_response_t *resp;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
        struct sink *s = user;
        size_t n = size * nmemb;
        if (s->buf.len + n > MAX_RESPONSE) {
                s->too_big = 1;
                return 0;
        }
        km_buf_append(&s->buf, data, n);
        return n;
}

/* Copies the value of header line `line` into dst when its name is name. */
static void header_value(const char *line, size_t n, const char *name,
                         char *dst, size_t size)
{
        size_t k = strlen(name);
        if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
                return;
        const char *v = skip_space(line + k + 1, line + n);
        const char *e = line + n;
        while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
                e--;
        copy_text(dst, size, v, (size_t)(e - v));
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
        struct sink *s = user;
        size_t n = size * nmemb;
        header_value(data, n, "x-odps-request-id", s->resp->request_id,
                     sizeof(s->resp->request_id));
        header_value(data, n, "Location", s->resp->location,
                     sizeof(s->resp->location));
        return n;
}

struct source {
        const char *data;
        size_t len, pos;
};

static size_t on_read(char *dst, size_t size, size_t nmemb, void *user)
{
        struct source *s = user;
        size_t n = size * nmemb;
        if (n > s->len - s->pos)
                n = s->len - s->pos;
        memcpy(dst, s->data + s->pos, n);
        s->pos += n;
        return n;
}

static int on_seek(void *user, curl_off_t offset, int origin)
{
        struct source *s = user;
        if (origin != SEEK_SET || offset < 0 || (size_t)offset > s->len)
                return CURL_SEEKFUNC_CANTSEEK;
        s->pos = (size_t)offset;
        return CURL_SEEKFUNC_OK;
}

/* The signed headers of req, as curl header lines. */
static struct curl_slist *build_headers(const km_mc_http_conf_t *conf,
                                        const km_mc_request_t *req,
                                        km_mc_headers_t *h)
{
        for (int i = 0; i < req->nheaders; i++)
                km_mc_headers_add(h, req->headers[i].key,
                                  req->headers[i].value);
        km_mc_headers_add(h, "x-odps-user-agent", USER_AGENT);
        if (req->content_type)
                km_mc_headers_add(h, "Content-Type", req->content_type);
        if (req->content_encoding)
                km_mc_headers_add(h, "Content-Encoding",
                                  req->content_encoding);
        km_mc_headers_sign(h, &conf->cred, req->method, req->resource,
                           req->params, req->nparams, time(NULL));

        struct curl_slist *list = NULL;
        for (int i = 0; i < h->n; i++) {
                char *line = km_xasprintf("%s: %s", h->kv[i].key,
                                          h->kv[i].value);
                list = curl_slist_append(list, line);
                free(line);
        }
        /* libcurl would add a form Content-Type to a POST, and Expect:
         * 100-continue to a large or chunked body; the signature covers
         * the first, and the second costs a round trip. */
        if (!req->content_type)
                list = curl_slist_append(list, "Content-Type:");
        list = curl_slist_append(list, "Expect:");
        if (req->chunked)
                list = curl_slist_append(list, "Transfer-Encoding: chunked");
        return list;
}

static void set_method(CURL *curl, const km_mc_request_t *req,
                       struct source *src)
{
        if (req->chunked) {
                curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(curl, CURLOPT_READDATA, src);
                curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, on_seek);
                curl_easy_setopt(curl, CURLOPT_SEEKDATA, src);
                curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                                 (curl_off_t)-1);
                if (strcmp(req->method, "PUT") != 0)
                        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST,
                                         req->method);
        } else if (strcmp(req->method, "GET") == 0) {
                curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        } else {
                if (strcmp(req->method, "POST") == 0)
                        curl_easy_setopt(curl, CURLOPT_POST, 1L);
                else
                        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST,
                                         req->method);
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
                                 req->body ? (const char *)req->body : "");
                curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                                 (curl_off_t)(req->body ? req->body_len : 0));
        }
}

static void set_transport(CURL *curl, const km_mc_http_conf_t *conf,
                          const km_mc_request_t *req)
{
        long connect_s = conf->timeout_s < CONNECT_TIMEOUT_S ?
                                 conf->timeout_s :
                                 CONNECT_TIMEOUT_S;
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, connect_s);
        /* A block of any size may take long: it only has to keep moving.
         * Other requests are small and get the whole timeout. */
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, conf->timeout_s);
        if (!req->chunked)
                curl_easy_setopt(curl, CURLOPT_TIMEOUT, conf->timeout_s);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER,
                         conf->tls_verify ? 1L : 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST,
                         conf->tls_verify ? 2L : 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
        curl_easy_setopt(curl, CURLOPT_USERAGENT, USER_AGENT);
}

static int finish(CURLcode rc, CURL *curl, const char *detail,
                  const km_mc_request_t *req, struct sink *sink,
                  km_mc_response_t *resp, km_mc_error_t *err)
{
        km_buf_append(&sink->buf, "", 0);
        resp->len = sink->buf.len;
        resp->body = km_buf_take(&sink->buf);
        if (rc == CURLE_WRITE_ERROR && sink->too_big) {
                memset(err, 0, sizeof(*err));
                set_class(err, 0);
                copy_str(err->code, sizeof(err->code), "ResponseTooLarge");
                snprintf(err->message, sizeof(err->message),
                         "%s %s%s: the answer is over %d MiB; check the "
                         "endpoint",
                         req->method, req->base, req->resource,
                         MAX_RESPONSE >> 20);
                return -1;
        }
        if (rc != CURLE_OK) {
                curl_error(rc, detail, req, err);
                return -1;
        }
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
        if (resp->status >= 200 && resp->status < 300)
                return 0;
        km_mc_error_parse(resp->status, resp->body, resp->len,
                          resp->request_id, err);
        return -1;
}

int km_mc_http_once(const km_mc_http_conf_t *conf, const km_mc_request_t *req,
                    km_mc_response_t *resp, km_mc_error_t *err)
{
        memset(resp, 0, sizeof(*resp));
        pthread_once(&global_once, global_init);
        CURL *curl = global_rc == CURLE_OK ? curl_easy_init() : NULL;
        if (!curl) {
                curl_error(CURLE_FAILED_INIT, "libcurl did not start", req,
                           err);
                return -1;
        }
        char detail[CURL_ERROR_SIZE] = "";
        char *url = km_mc_url(req->base, req->resource, req->params,
                              req->nparams);
        km_mc_headers_t h = {0};
        struct curl_slist *list = build_headers(conf, req, &h);
        struct source src = {req->body, req->body ? req->body_len : 0, 0};
        struct sink sink = {.resp = resp};

        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &sink);
        set_transport(curl, conf, req);
        set_method(curl, req, &src);

        CURLcode rc = curl_easy_perform(curl);
        int ret = finish(rc, curl, detail, req, &sink, resp, err);
        curl_easy_cleanup(curl);
        curl_slist_free_all(list);
        km_mc_headers_clear(&h);
        free(url);
        return ret;
}

void km_mc_response_clear(km_mc_response_t *r)
{
        free(r->body);
        memset(r, 0, sizeof(*r));
}

/* ----- retries ----- */

long km_mc_backoff_ms(int attempt, double unit)
{
        long ceiling = BACKOFF_CAP_MS;
        if (attempt < 16) {
                long grown = (long)BACKOFF_BASE_MS << attempt;
                if (grown < ceiling)
                        ceiling = grown;
        }
        if (unit < 0)
                unit = 0;
        if (unit >= 1)
                unit = 0.999999;
        return (long)(unit * (double)(ceiling + 1));
}

static double random_unit(void)
{
        uint32_t r;
        if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
                return 0.5;
        return (double)r / 4294967296.0;
}

void km_mc_sleep_ms(long ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
}

void km_mc_backoff_sleep(int attempt)
{
        km_mc_sleep_ms(km_mc_backoff_ms(attempt, random_unit()));
}

static void note_attempts(km_mc_error_t *err, int attempts)
{
        size_t used = strlen(err->message);
        if (attempts > 1 && used < sizeof(err->message))
                snprintf(err->message + used, sizeof(err->message) - used,
                         " (gave up after %d attempts)", attempts);
}

int km_mc_http_call(const km_mc_http_conf_t *conf, const km_mc_request_t *req,
                    km_mc_response_t *resp, km_mc_error_t *err)
{
        for (int attempt = 0;; attempt++) {
                if (attempt > 0)
                        km_mc_response_clear(resp);
                if (km_mc_http_once(conf, req, resp, err) == 0)
                        return 0;
                if (attempt >= conf->max_retries ||
                    !km_mc_error_may_retry(err, req->retry)) {
                        if (err->retryable)
                                note_attempts(err, attempt + 1);
                        return -1;
                }
                km_mc_backoff_sleep(attempt);
        }
}
