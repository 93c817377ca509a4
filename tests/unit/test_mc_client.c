/* test_mc_client.c - the MaxCompute client: error bodies (XML, JSON, the
 * request-id header), session JSON, the Instance XML, backoff; the bytes it
 * sends, against a scripted in-process HTTP server; and whole flows against
 * the Python emulator (tests/emulator/mc_emulator.py). */
#define _GNU_SOURCE
#include "km_test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "mc_client.h"
#include "mc_sign.h"
#include "util.h"

#define ID "test-id"
#define SECRET "test-secret-do-not-print"

/* ----- error bodies ----- */

static void test_error_xml_service(void **state)
{
        (void)state;
        const char *body =
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n"
                "  <Code>NoSuchObject</Code>\n"
                "  <Message><![CDATA[The table does not exist: p.t]]>"
                "</Message>\n  <RequestId>5F3A</RequestId>\n"
                "  <HostId>service.example</HostId>\n</Error>\n";
        km_mc_error_t e;
        km_mc_error_parse(404, body, strlen(body), "HEADER-ID", &e);
        assert_int_equal(e.http_status, 404);
        assert_string_equal(e.code, "NoSuchObject");
        assert_string_equal(e.message, "The table does not exist: p.t");
        assert_string_equal(e.request_id, "5F3A");
        assert_true(e.permanent);
        assert_false(e.retryable);
}

static void test_error_xml_entities(void **state)
{
        (void)state;
        const char *body = "<Error><Code>InvalidArgument</Code><Message>a &lt;"
                           " b &amp;&amp; c &#x4e2d;&#25991;</Message>"
                           "<RequestId/><HostId>h</HostId></Error>";
        km_mc_error_t e;
        km_mc_error_parse(400, body, strlen(body), "R-HDR", &e);
        assert_string_equal(e.code, "InvalidArgument");
        assert_string_equal(e.message, "a < b && c \xe4\xb8\xad\xe6\x96\x87");
        assert_string_equal(e.request_id, "R-HDR");
}

static void test_error_json_tunnel(void **state)
{
        (void)state;
        const char *body = "{\"Code\":\"NoSuchPartition\",\"Message\":\"The "
                           "specified partition does not exist\"}";
        km_mc_error_t e;
        km_mc_error_parse(404, body, strlen(body), "2024ABCD", &e);
        assert_string_equal(e.code, "NoSuchPartition");
        assert_string_equal(e.message,
                            "The specified partition does not exist");
        assert_string_equal(e.request_id, "2024ABCD");
        assert_true(e.permanent);

        body = " {\"Code\":\"InternalServerError\",\"Message\":\"x\","
               "\"RequestId\":\"BODY-ID\"}";
        km_mc_error_parse(500, body, strlen(body), "HDR-ID", &e);
        assert_string_equal(e.request_id, "BODY-ID");
        assert_true(e.retryable);
        assert_false(e.permanent);
}

static void test_error_fallbacks(void **state)
{
        (void)state;
        km_mc_error_t e;
        const char *html = "<html><body>502 Bad Gateway</body></html>";
        km_mc_error_parse(502, html, strlen(html), NULL, &e);
        assert_string_equal(e.code, "HTTP502");
        assert_non_null(strstr(e.message, "502 Bad Gateway"));
        assert_true(e.retryable);

        km_mc_error_parse(401, "", 0, "RID", &e);
        assert_string_equal(e.code, "HTTP401");
        assert_string_equal(e.request_id, "RID");
        assert_non_null(strstr(e.message, "401"));
        assert_true(e.permanent);

        const char *text = "flow\r\nexceeded";
        km_mc_error_parse(429, text, strlen(text), NULL, &e);
        assert_string_equal(e.message, "flow  exceeded");
        assert_true(e.retryable);
        assert_true(km_mc_error_may_retry(&e, KM_MC_RETRY_UNSENT));

        km_mc_error_parse(503, "{}", 2, NULL, &e);
        assert_true(km_mc_error_may_retry(&e, KM_MC_RETRY_ANY));
        assert_false(km_mc_error_may_retry(&e, KM_MC_RETRY_UNSENT));

        /* A long message is cut at a character boundary. */
        char big[3000];
        size_t n = 0;
        n += (size_t)sprintf(big, "{\"Code\":\"C\",\"Message\":\"");
        while (n < 2000) {
                memcpy(big + n, "\xc3\xa9", 2);
                n += 2;
        }
        strcpy(big + n, "\"}");
        km_mc_error_parse(400, big, strlen(big), NULL, &e);
        assert_true(strlen(e.message) < sizeof(e.message));
        assert_int_equal(strlen(e.message) % 2, 0);
}

static void test_backoff_full_jitter(void **state)
{
        (void)state;
        assert_int_equal(km_mc_backoff_ms(0, 0.0), 0);
        assert_in_range(km_mc_backoff_ms(0, 0.9999), 150, 200);
        assert_in_range(km_mc_backoff_ms(3, 0.9999), 1500, 1600);
        assert_in_range(km_mc_backoff_ms(6, 0.9999), 9900, 10000);
        assert_in_range(km_mc_backoff_ms(60, 0.9999), 9900, 10000);
        assert_in_range(km_mc_backoff_ms(2, 0.5), 390, 410);
}

/* ----- session JSON and Instance XML ----- */

static void test_session_parse_full(void **state)
{
        (void)state;
        const char *json =
                "{\"UploadID\":\"201512111331099692b70a0079c5f2\","
                "\"Status\":\"normal\",\"Owner\":\"1293\","
                "\"Initiated\":\"Fri, 11 Dec 2015 13:31:09 GMT\","
                "\"IsOverwrite\":false,\"MaxFieldSize\":8388608,"
                "\"QuotaName\":\"\",\"Schema\":{\"IsVirtualView\":false,"
                "\"columns\":[{\"column_id\":\"1\",\"name\":\"k\",\"type\":"
                "\"string\",\"comment\":\"\",\"nullable\":true},"
                "{\"name\":\"m\",\"type\":\"decimal(10,2)\"}],"
                "\"partitionKeys\":[{\"name\":\"ds\",\"type\":\"string\"}]},"
                "\"UploadedBlockList\":[{\"BlockID\":0,\"CreateTime\":1,"
                "\"Date\":\"d\",\"FileName\":\"f\",\"RecordCount\":2,"
                "\"Version\":3},{\"BlockID\":7}]}";
        km_mc_session_t s;
        char why[256];
        assert_int_equal(km_mc_session_parse(json, strlen(json), &s, why,
                                             sizeof(why)),
                         0);
        assert_string_equal(s.id, "201512111331099692b70a0079c5f2");
        assert_string_equal(s.status, "normal");
        assert_int_equal(s.ncolumns, 2);
        assert_string_equal(s.columns[1].name, "m");
        assert_string_equal(s.columns[1].type, "decimal(10,2)");
        assert_int_equal(s.npartition_columns, 1);
        assert_string_equal(s.partition_columns[0].name, "ds");
        assert_int_equal(s.max_field_size, 8388608);
        assert_int_equal(s.nblocks, 2);
        assert_int_equal(s.blocks[1], 7);
        km_mc_session_clear(&s);
}

static void test_session_parse_minimal_and_bad(void **state)
{
        (void)state;
        const char *json = "{\"UploadID\":\"U1\",\"Status\":\"CLOSED\"}";
        km_mc_session_t s;
        char why[256];
        assert_int_equal(km_mc_session_parse(json, strlen(json), &s, why,
                                             sizeof(why)),
                         0);
        assert_string_equal(s.status, "closed");
        assert_int_equal(s.max_field_size, 8LL << 20);
        assert_int_equal(s.nblocks, 0);
        km_mc_session_clear(&s);

        json = "{\"Status\":\"normal\"}";
        assert_int_equal(km_mc_session_parse(json, strlen(json), &s, why,
                                             sizeof(why)),
                         -1);
        assert_non_null(strstr(why, "UploadID"));
        json = "{\"UploadID\":\"U\",\"UploadedBlockList\":[{\"x\":1}]}";
        assert_int_equal(km_mc_session_parse(json, strlen(json), &s, why,
                                             sizeof(why)),
                         -1);
        assert_int_equal(km_mc_session_parse("<x/>", 4, &s, why, sizeof(why)),
                         -1);
}

static void test_instance_xml(void **state)
{
        (void)state;
        char *xml = km_mc_instance_xml("  SELECT ']]>' AS x\n",
                                       "{\"a\":\"<&>\"}", "U-1");
        assert_non_null(strstr(xml, "<Name>AnonymousSQLTask</Name>"));
        assert_non_null(strstr(xml, "<Value>{&quot;a&quot;:&quot;&lt;&amp;"
                                    "&gt;&quot;}</Value>"));
        assert_non_null(strstr(xml, "<Value>U-1</Value>"));
        assert_non_null(strstr(xml, "<Query><![CDATA[SELECT ']]]]><![CDATA[>'"
                                    " AS x;]]></Query>"));
        /* The decoded query is the statement, with its ';'. */
        char *q = km_mc_xml_text(xml, strlen(xml), "Query");
        assert_string_equal(q, "SELECT ']]>' AS x;");
        free(q);
        free(xml);

        xml = km_mc_instance_xml("DROP TABLE t;", "{}", "u");
        assert_non_null(strstr(xml, "<![CDATA[DROP TABLE t;]]>"));
        free(xml);
}

static void test_client_new_checks(void **state)
{
        (void)state;
        char err[512];
        km_mc_config_t cfg = {.endpoint = "service.example/api",
                              .project = "p",
                              .access_id = ID,
                              .access_secret = SECRET};
        assert_null(km_mc_client_new(&cfg, err, sizeof(err)));
        assert_non_null(strstr(err, "https://"));
        cfg.endpoint = "http:///api";
        assert_null(km_mc_client_new(&cfg, err, sizeof(err)));
        cfg.endpoint = "https://service.example/api/";
        cfg.access_secret = "";
        assert_null(km_mc_client_new(&cfg, err, sizeof(err)));
        assert_non_null(strstr(err, "SECRET"));
        cfg.access_secret = SECRET "\n";
        assert_null(km_mc_client_new(&cfg, err, sizeof(err)));
        assert_null(strstr(err, SECRET));
        cfg.access_secret = SECRET;
        km_mc_client_t *c = km_mc_client_new(&cfg, err, sizeof(err));
        assert_non_null(c);
        km_mc_client_free(c);
}

/* ----- a scripted HTTP server ----- */

typedef struct fake_reply {
        int status;
        const char *headers; /* extra lines, each ending in \r\n */
        const char *body;
} fake_reply_t;

typedef struct fake_req {
        char head[8192]; /* request line and headers */
        char *body;      /* de-chunked */
        size_t len;
        int chunked;
} fake_req_t;

typedef struct fake_server {
        int fd, port;
        pthread_t thread;
        const fake_reply_t *replies;
        int nreplies;
        fake_req_t reqs[16];
        int nreqs;
} fake_server_t;

/* The chunked body in b[0..n): 1 and the decoded bytes when complete. */
static int dechunk(const char *b, size_t n, km_buf_t *out)
{
        size_t pos = 0;
        for (;;) {
                const char *eol = memmem(b + pos, n - pos, "\r\n", 2);
                if (!eol)
                        return 0;
                size_t size = strtoul(b + pos, NULL, 16);
                pos = (size_t)(eol - b) + 2;
                if (size == 0)
                        return memmem(b + pos, n - pos, "\r\n", 2) != NULL;
                if (n - pos < size + 2)
                        return 0;
                km_buf_append(out, b + pos, size);
                pos += size + 2;
        }
}

static const char *header_in(const char *head, const char *name)
{
        size_t k = strlen(name);
        for (const char *p = strstr(head, "\r\n"); p; p = strstr(p, "\r\n")) {
                p += 2;
                if (strncasecmp(p, name, k) == 0 && p[k] == ':')
                        return p + k + 1 + (p[k + 1] == ' ');
        }
        return NULL;
}

/* 1 when header `name` of head has exactly the value want. */
static int hdr_eq(const char *head, const char *name, const char *want)
{
        const char *v = header_in(head, name);
        return v && strcspn(v, "\r") == strlen(want) &&
               strncmp(v, want, strlen(want)) == 0;
}

static int starts_with(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* 1 when buf holds a whole request; fills r. */
static int request_done(const char *buf, size_t n, fake_req_t *r)
{
        const char *end = memmem(buf, n, "\r\n\r\n", 4);
        if (!end)
                return 0;
        size_t hlen = (size_t)(end - buf) + 2;
        snprintf(r->head, sizeof(r->head), "%.*s", (int)hlen, buf);
        const char *body = end + 4;
        size_t have = n - (size_t)(body - buf);
        const char *te = header_in(r->head, "Transfer-Encoding");
        if (te && strncasecmp(te, "chunked", 7) == 0) {
                km_buf_t out = {0};
                km_buf_append(&out, "", 0);
                if (!dechunk(body, have, &out)) {
                        free(out.data);
                        return 0;
                }
                r->chunked = 1;
                r->len = out.len;
                r->body = out.data;
                return 1;
        }
        const char *cl = header_in(r->head, "Content-Length");
        size_t want = cl ? strtoul(cl, NULL, 10) : 0;
        if (have < want)
                return 0;
        r->body = km_xstrndup(body, want);
        r->len = want;
        return 1;
}

static void serve_one(fake_server_t *s, int conn)
{
        km_buf_t in = {0};
        fake_req_t *r = &s->reqs[s->nreqs];
        char chunk[65536];
        for (;;) {
                ssize_t got = read(conn, chunk, sizeof(chunk));
                if (got <= 0)
                        break;
                km_buf_append(&in, chunk, (size_t)got);
                if (request_done(in.data, in.len, r))
                        break;
        }
        free(in.data);
        const fake_reply_t *rep = &s->replies[s->nreqs];
        s->nreqs++;
        const char *body = rep->body ? rep->body : "";
        char *out = km_xasprintf("HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
                                 "Connection: close\r\n%s\r\n%s",
                                 rep->status, strlen(body),
                                 rep->headers ? rep->headers : "", body);
        ssize_t w = write(conn, out, strlen(out));
        (void)w;
        free(out);
        close(conn);
}

static void *fake_main(void *arg)
{
        fake_server_t *s = arg;
        while (s->nreqs < s->nreplies) {
                int conn = accept(s->fd, NULL, NULL);
                if (conn < 0)
                        break;
                serve_one(s, conn);
        }
        return NULL;
}

static void fake_start(fake_server_t *s, const fake_reply_t *replies, int n)
{
        memset(s, 0, sizeof(*s));
        s->replies = replies;
        s->nreplies = n;
        s->fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof(a);
        assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(s->fd, 8), 0);
        getsockname(s->fd, (struct sockaddr *)&a, &alen);
        s->port = ntohs(a.sin_port);
        pthread_create(&s->thread, NULL, fake_main, s);
}

static void fake_stop(fake_server_t *s)
{
        shutdown(s->fd, SHUT_RDWR);
        pthread_join(s->thread, NULL);
        close(s->fd);
}

static void fake_free(fake_server_t *s)
{
        for (int i = 0; i < s->nreqs; i++)
                free(s->reqs[i].body);
}

static km_mc_client_t *fake_client(const fake_server_t *s, int retries,
                                   const char *sts)
{
        char endpoint[64], tunnel[64], err[512];
        snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d/api",
                 s->port);
        snprintf(tunnel, sizeof(tunnel), "http://127.0.0.1:%d", s->port);
        km_mc_config_t cfg = {.endpoint = endpoint,
                              .tunnel_endpoint = tunnel,
                              .project = "p",
                              .access_id = ID,
                              .access_secret = SECRET,
                              .sts_token = sts,
                              .timeout_s = 10,
                              .max_retries = retries};
        km_mc_client_t *c = km_mc_client_new(&cfg, err, sizeof(err));
        if (!c)
                fail_msg("%s", err);
        return c;
}

/* Checks the Date's shape and that Authorization signs exactly the
 * headers that arrived (so libcurl added nothing that is signed). */
static void assert_signed_request(const fake_req_t *r, const char *resource,
                                  const km_mc_kv_t *params, int nparams)
{
        char method[8];
        sscanf(r->head, "%7s", method);
        const char *date = header_in(r->head, "Date");
        assert_non_null(date);
        assert_int_equal(strcspn(date, "\r"), 29);
        assert_true(starts_with(date + 25, " GMT\r\n"));
        km_mc_kv_t h[KM_MC_MAX_HEADERS];
        char names[KM_MC_MAX_HEADERS][64], values[KM_MC_MAX_HEADERS][256];
        int n = 0;
        for (const char *p = strstr(r->head, "\r\n"); p && p[2];
             p = strstr(p + 2, "\r\n")) {
                const char *line = p + 2, *colon = strchr(line, ':');
                if (n == KM_MC_MAX_HEADERS || !colon)
                        break;
                size_t vlen = strcspn(colon + 2, "\r");
                snprintf(names[n], 64, "%.*s", (int)(colon - line), line);
                snprintf(values[n], 256, "%.*s", (int)vlen, colon + 2);
                h[n].key = names[n];
                h[n].value = values[n];
                n++;
        }
        char *canonical = km_mc_canonical_string(method, h, n, resource,
                                                 params, nparams);
        char sig[KM_MC_SIG_SIZE], want[128];
        km_mc_signature(SECRET, canonical, sig);
        snprintf(want, sizeof(want), "ODPS " ID ":%s", sig);
        const char *auth = header_in(r->head, "Authorization");
        assert_non_null(auth);
        assert_true(hdr_eq(r->head, "Authorization", want));
        assert_null(strstr(r->head, SECRET));
        free(canonical);
}

#define SESSION_JSON                                                          \
        "{\"UploadID\":\"U1\",\"Status\":\"normal\",\"UploadedBlockList\":"   \
        "[],\"Schema\":{\"columns\":[{\"name\":\"k\",\"type\":\"string\"}],"  \
        "\"partitionKeys\":[{\"name\":\"ds\",\"type\":\"string\"},"           \
        "{\"name\":\"hh\",\"type\":\"string\"}]}}"

/* Create: POST with an empty body, no Content-Type, no Expect, the
 * partition form-encoded, overwrite=true, the tunnel headers. */
static void test_wire_session_create(void **state)
{
        (void)state;
        fake_reply_t replies[] = {{201, NULL, SESSION_JSON}};
        fake_server_t s;
        fake_start(&s, replies, 1);
        km_mc_client_t *c = fake_client(&s, 0, "the-sts-token");
        km_mc_session_t out;
        km_mc_error_t err;
        assert_int_equal(km_mc_session_create(c, "t", "ds='20240101',hh=08", 1,
                                              &out, &err),
                         0);
        assert_string_equal(out.id, "U1");
        assert_int_equal(out.npartition_columns, 2);
        km_mc_session_clear(&out);
        km_mc_client_free(c);
        fake_stop(&s);

        const fake_req_t *r = &s.reqs[0];
        assert_true(starts_with(r->head, "POST /projects/p/tables/t?uploads&"
                                         "partition=ds%3D20240101%2Chh%3D08&"
                                         "overwrite=true HTTP/1.1\r\n"));
        assert_null(header_in(r->head, "Content-Type"));
        assert_null(header_in(r->head, "Expect"));
        assert_true(hdr_eq(r->head, "Content-Length", "0"));
        assert_true(hdr_eq(r->head, "x-odps-tunnel-version", "5"));
        assert_true(hdr_eq(r->head, "odps-tunnel-date-transform", "v1"));
        assert_true(hdr_eq(r->head, "authorization-sts-token",
                           "the-sts-token"));
        km_mc_kv_t p[] = {{"uploads", NULL},
                          {"partition", "ds=20240101,hh=08"},
                          {"overwrite", "true"}};
        assert_signed_request(r, "/projects/p/tables/t", p, 3);
        fake_free(&s);
}

static const unsigned char BLOCK[] = {0xf0, 0xff, 0xff, 0x7f, 0x00,
                                      0xf8, 0xff, 0xff, 0x7f, 0x00};

/* A block PUT is chunked, survives a 500 and a 503 (same body again),
 * and carries Content-Encoding: deflate when deflated. */
static void test_wire_block_put_retries(void **state)
{
        (void)state;
        fake_reply_t replies[] = {
                {500, "x-odps-request-id: R500\r\n",
                 "{\"Code\":\"InternalServerError\",\"Message\":\"boom\"}"},
                {503, NULL, "busy"},
                {200, NULL, ""},
        };
        fake_server_t s;
        fake_start(&s, replies, 3);
        km_mc_client_t *c = fake_client(&s, 3, NULL);
        unsigned char z[64];
        uLongf zlen = sizeof(z);
        assert_int_equal(compress2(z, &zlen, BLOCK, sizeof(BLOCK), 1), Z_OK);
        km_mc_error_t err;
        assert_int_equal(km_mc_block_put(c, "t", "ds=1", "U1", 0, z, zlen, 1,
                                         &err),
                         0);
        km_mc_client_free(c);
        fake_stop(&s);
        assert_int_equal(s.nreqs, 3);
        for (int i = 0; i < 3; i++) {
                const fake_req_t *r = &s.reqs[i];
                assert_true(r->chunked);
                assert_int_equal(r->len, zlen);
                assert_memory_equal(r->body, z, zlen);
                assert_null(header_in(r->head, "Expect"));
                assert_null(header_in(r->head, "Content-Length"));
                assert_true(hdr_eq(r->head, "Content-Type",
                                   "application/octet-stream"));
                assert_true(hdr_eq(r->head, "Content-Encoding", "deflate"));
                assert_true(hdr_eq(r->head, "Transfer-Encoding", "chunked"));
                km_mc_kv_t p[] = {{"uploadid", "U1"},
                                  {"blockid", "0"},
                                  {"partition", "ds=1"}};
                assert_signed_request(r, "/projects/p/tables/t", p, 3);
        }
        fake_free(&s);
}

/* A 4xx fails at once with the service's code and the header's id. */
static void test_wire_4xx_not_retried(void **state)
{
        (void)state;
        fake_reply_t replies[] = {
                {404, "x-odps-request-id: RID-404\r\n",
                 "{\"Code\":\"NoSuchTable\",\"Message\":\"no table t\"}"},
        };
        fake_server_t s;
        fake_start(&s, replies, 1);
        km_mc_client_t *c = fake_client(&s, 5, NULL);
        km_mc_error_t err;
        assert_int_equal(km_mc_block_put(c, "t", NULL, "U1", 3, BLOCK,
                                         sizeof(BLOCK), 0, &err),
                         -1);
        km_mc_client_free(c);
        fake_stop(&s);
        assert_int_equal(s.nreqs, 1);
        assert_int_equal(err.http_status, 404);
        assert_string_equal(err.code, "NoSuchTable");
        assert_string_equal(err.message, "no table t");
        assert_string_equal(err.request_id, "RID-404");
        assert_true(err.permanent);
        assert_null(header_in(s.reqs[0].head, "Content-Encoding"));
        fake_free(&s);
}

/* A commit whose answer is lost (500) is not sent again once the status
 * says the session is closed. */
static void test_wire_commit_checks_status(void **state)
{
        (void)state;
        fake_reply_t replies[] = {
                {200, NULL,
                 "{\"UploadID\":\"U1\",\"Status\":\"normal\","
                 "\"UploadedBlockList\":[{\"BlockID\":1},{\"BlockID\":0}]}"},
                {500, NULL, "{\"Code\":\"InternalServerError\"}"},
                {200, NULL,
                 "{\"UploadID\":\"U1\",\"Status\":\"closed\","
                 "\"UploadedBlockList\":[{\"BlockID\":1},{\"BlockID\":0}]}"},
        };
        fake_server_t s;
        fake_start(&s, replies, 3);
        km_mc_client_t *c = fake_client(&s, 3, NULL);
        int64_t ids[] = {0, 1};
        km_mc_error_t err;
        int rc = km_mc_session_commit(c, "t", "ds=1", "U1", ids, 2, &err);
        km_mc_client_free(c);
        fake_stop(&s);
        if (rc)
                fail_msg("%s", err.message);
        assert_int_equal(s.nreqs, 3);
        assert_true(starts_with(s.reqs[0].head,
                                "GET /projects/p/tables/t?uploadid=U1&"
                                "partition=ds%3D1 "));
        assert_true(starts_with(s.reqs[1].head,
                                "POST /projects/p/tables/t?uploadid=U1&"
                                "partition=ds%3D1 "));
        assert_true(hdr_eq(s.reqs[1].head, "Content-Length", "0"));
        assert_null(header_in(s.reqs[1].head, "Content-Type"));
        assert_true(starts_with(s.reqs[2].head, "GET "));
        fake_free(&s);
}

/* The service's blocks differ from the caller's: no commit is sent. */
static void test_wire_commit_blocks_mismatch(void **state)
{
        (void)state;
        fake_reply_t replies[] = {
                {200, NULL,
                 "{\"UploadID\":\"U1\",\"Status\":\"normal\","
                 "\"UploadedBlockList\":[{\"BlockID\":0}]}"},
        };
        fake_server_t s;
        fake_start(&s, replies, 1);
        km_mc_client_t *c = fake_client(&s, 3, NULL);
        int64_t ids[] = {0, 1};
        km_mc_error_t err;
        assert_int_equal(km_mc_session_commit(c, "t", NULL, "U1", ids, 2,
                                              &err),
                         -1);
        km_mc_client_free(c);
        fake_stop(&s);
        assert_int_equal(s.nreqs, 1);
        assert_string_equal(err.code, "BlocksNotMatch");
        assert_true(err.permanent);
        fake_free(&s);
}

/* Discovery, then SQL: submit, poll, task status, result verbatim. */
static void test_wire_discovery_and_sql_failure(void **state)
{
        (void)state;
        static char host[64];
        const char *msg = "ODPS-0130071:[1,8] Semantic analysis exception - "
                          "table t <not> found";
        char *result_body = km_xasprintf(
                "<?xml version=\"1.0\"?><Instance><Tasks><Task Type=\"SQL\">"
                "<Name>AnonymousSQLTask</Name><Result Format=\"text\">"
                "<![CDATA[%s]]></Result><Status>Failed</Status></Task>"
                "</Tasks></Instance>",
                msg);
        fake_reply_t replies[] = {
                {200, NULL, host},
                {201,
                 "Location: http://x/api/projects/p/instances/20240101ABC\r\n",
                 ""},
                {200, NULL, "<Instance><Status>Running</Status></Instance>"},
                {200, NULL,
                 "<Instance><Status>Terminated</Status><Tasks><Task><Name>"
                 "AnonymousSQLTask</Name><Status>Failed</Status></Task>"
                 "</Tasks></Instance>"},
                {200, NULL,
                 "<Instance><Status>Terminated</Status><Tasks><Task "
                 "Type=\"SQL\"><Name>AnonymousSQLTask</Name><Status>Failed"
                 "</Status></Task></Tasks></Instance>"},
                {200, "x-odps-request-id: RES-1\r\n", result_body},
        };
        fake_server_t s;
        fake_start(&s, replies, 6);
        snprintf(host, sizeof(host), " 127.0.0.1:%d\n", s.port);
        char endpoint[64], err_text[256];
        snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d/api",
                 s.port);
        km_mc_config_t cfg = {.endpoint = endpoint,
                              .project = "p",
                              .access_id = ID,
                              .access_secret = SECRET,
                              .max_retries = 1};
        km_mc_client_t *c = km_mc_client_new(&cfg, err_text,
                                             sizeof(err_text));
        const char *tunnel;
        km_mc_error_t err;
        assert_int_equal(km_mc_tunnel_endpoint(c, &tunnel, &err), 0);
        char want[64];
        snprintf(want, sizeof(want), "http://127.0.0.1:%d", s.port);
        assert_string_equal(tunnel, want);
        char *result = (char *)"untouched";
        assert_int_equal(km_mc_sql(c, "SELECT * FROM t", &result, &err), -1);
        km_mc_client_free(c);
        fake_stop(&s);
        free(result_body);

        assert_null(result);
        assert_string_equal(err.message, msg);
        assert_string_equal(err.code, "ODPS-0130071");
        assert_string_equal(err.request_id, "RES-1");
        assert_true(err.permanent);
        assert_true(starts_with(s.reqs[0].head,
                                "GET /api/projects/p/tunnel?service "));
        km_mc_kv_t p[] = {{"service", NULL}};
        assert_signed_request(&s.reqs[0], "/projects/p/tunnel", p, 1);
        const fake_req_t *post = &s.reqs[1];
        assert_true(starts_with(post->head,
                                "POST /api/projects/p/instances "));
        assert_true(hdr_eq(post->head, "Content-Type", "application/xml"));
        assert_null(header_in(post->head, "Expect"));
        assert_non_null(strstr(post->body,
                               "<![CDATA[SELECT * FROM t;]]>"));
        assert_signed_request(post, "/projects/p/instances", NULL, 0);
        assert_true(starts_with(s.reqs[4].head, "GET /api/projects/p/"
                                                "instances/20240101ABC?"
                                                "taskstatus "));
        assert_true(starts_with(s.reqs[5].head, "GET /api/projects/p/"
                                                "instances/20240101ABC?"
                                                "result "));
        fake_free(&s);
}

/* A successful statement: the result text comes back, base64-decoded
 * when the service marks it so; the instance id is the Location's last
 * segment. */
static void test_wire_sql_success_base64(void **state)
{
        (void)state;
        fake_reply_t replies[] = {
                {201, "Location: http://x/api/projects/p/instances/ID9/\r\n",
                 ""},
                {200, NULL, "<Instance><Status>Terminated</Status>"
                            "</Instance>"},
                {200, NULL, "<Instance><Tasks><Task Type=\"SQL\"><Name>"
                            "AnonymousSQLTask</Name><Status>Success</Status>"
                            "</Task></Tasks></Instance>"},
                {200, NULL, "<Instance><Tasks><Task Type=\"SQL\"><Name>"
                            "AnonymousSQLTask</Name><Result Format=\"text\" "
                            "Transform=\"Base64\">T0s=</Result></Task>"
                            "</Tasks></Instance>"},
        };
        fake_server_t s;
        fake_start(&s, replies, 4);
        km_mc_client_t *c = fake_client(&s, 0, NULL);
        char *result = NULL;
        km_mc_error_t err;
        int rc = km_mc_sql(c, "CREATE TABLE t (k STRING);", &result, &err);
        km_mc_client_free(c);
        fake_stop(&s);
        if (rc)
                fail_msg("%s", err.message);
        assert_string_equal(result, "OK");
        free(result);
        assert_true(starts_with(s.reqs[1].head,
                                "GET /api/projects/p/instances/ID9 "));
        fake_free(&s);
}

struct put_job {
        km_mc_client_t *c;
        const char *session;
        int64_t block;
        int rc;
        km_mc_error_t err;
};

static void *put_thread(void *arg)
{
        struct put_job *j = arg;
        j->rc = km_mc_block_put(j->c, "t", "ds=1", j->session, j->block, BLOCK,
                                sizeof(BLOCK), 0, &j->err);
        return NULL;
}

/* Two threads PUT blocks through one client at once. */
static void test_wire_parallel_blocks(void **state)
{
        (void)state;
        fake_reply_t replies[] = {{200, NULL, ""}, {200, NULL, ""}};
        fake_server_t s;
        fake_start(&s, replies, 2);
        km_mc_client_t *c = fake_client(&s, 0, NULL);
        struct put_job jobs[2] = {{.c = c, .session = "U1", .block = 0},
                                  {.c = c, .session = "U1", .block = 1}};
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
                pthread_create(&t[i], NULL, put_thread, &jobs[i]);
        for (int i = 0; i < 2; i++)
                pthread_join(t[i], NULL);
        km_mc_client_free(c);
        fake_stop(&s);
        assert_int_equal(jobs[0].rc, 0);
        assert_int_equal(jobs[1].rc, 0);
        int seen = 0;
        for (int i = 0; i < s.nreqs; i++) {
                seen |= strstr(s.reqs[i].head, "blockid=0&") ? 1 : 0;
                seen |= strstr(s.reqs[i].head, "blockid=1&") ? 2 : 0;
                assert_int_equal(s.reqs[i].len, sizeof(BLOCK));
        }
        assert_int_equal(seen, 3);
        fake_free(&s);
}

/* No service listening: a connection error, retryable, no HTTP status,
 * and the secret appears nowhere. */
static void test_connection_refused(void **state)
{
        (void)state;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof(a);
        bind(fd, (struct sockaddr *)&a, sizeof(a));
        getsockname(fd, (struct sockaddr *)&a, &alen);
        close(fd);
        char endpoint[64], tunnel[64], e[256];
        snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d/api",
                 ntohs(a.sin_port));
        snprintf(tunnel, sizeof(tunnel), "http://127.0.0.1:%d",
                 ntohs(a.sin_port));
        km_mc_config_t cfg = {.endpoint = endpoint,
                              .tunnel_endpoint = tunnel,
                              .project = "p",
                              .access_id = ID,
                              .access_secret = SECRET,
                              .sts_token = "sts-secret-token",
                              .max_retries = 1};
        km_mc_client_t *c = km_mc_client_new(&cfg, e, sizeof(e));
        km_mc_session_t out;
        km_mc_error_t err;
        assert_int_equal(km_mc_session_create(c, "t", NULL, 0, &out, &err),
                         -1);
        km_mc_client_free(c);
        assert_int_equal(err.http_status, 0);
        assert_string_equal(err.code, "ConnectFailed");
        assert_true(err.retryable);
        assert_non_null(strstr(err.message, "2 attempts"));
        assert_null(strstr(err.message, SECRET));
        assert_null(strstr(err.message, "sts-secret-token"));
}

/* ----- against the emulator ----- */

typedef struct emulator {
        pid_t pid;
        char base[128];     /* http://127.0.0.1:PORT */
        char endpoint[160]; /* base + /api */
        char data[64];
        char script[4096];
        pthread_t drainer;
} emulator_t;

static emulator_t EMU;
static const char *EMU_MISSING; /* why the emulator tests skip */

static int have_python3(void)
{
        return system("python3 -c pass >/dev/null 2>&1") == 0;
}

/* Reads the first line the emulator prints (its base URL), waiting up to
 * 20 s for it. */
static int read_base_line(int fd, char *line, size_t size)
{
        size_t n = 0;
        line[0] = '\0';
        while (n + 1 < size) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                int ready = poll(&p, 1, 20000);
                if (ready < 0 && errno == EINTR)
                        continue;
                if (ready <= 0 || read(fd, line + n, 1) != 1)
                        break;
                if (line[n] == '\n')
                        break;
                n++;
        }
        line[n] = '\0';
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '/'))
                line[--n] = '\0';
        return strncmp(line, "http://", 7) == 0 ? 0 : -1;
}

/* Drops the rest of the emulator's output so that it never blocks. */
static void *drain(void *arg)
{
        int fd = (int)(intptr_t)arg;
        char sink[4096];
        while (read(fd, sink, sizeof(sink)) > 0)
                ;
        close(fd);
        return NULL;
}

static int emulator_stop(void **state);

static int emulator_start(void **state)
{
        (void)state;
        const char *root = getenv("KMSYNC_SOURCE_DIR");
        snprintf(EMU.script, sizeof(EMU.script),
                 "%s/tests/emulator/mc_emulator.py", root ? root : ".");
        struct stat st;
        if (!have_python3()) {
                EMU_MISSING = "python3 is not installed";
                return 0;
        }
        if (stat(EMU.script, &st) != 0) {
                EMU_MISSING = "tests/emulator/mc_emulator.py is missing";
                return 0;
        }
        snprintf(EMU.data, sizeof(EMU.data), "/tmp/km-mc-emu-XXXXXX");
        if (!mkdtemp(EMU.data))
                fail_msg("mkdtemp: %s", strerror(errno));
        int out[2];
        if (pipe(out) != 0)
                fail_msg("pipe: %s", strerror(errno));
        EMU.pid = fork();
        if (EMU.pid == 0) {
                dup2(out[1], 1);
                close(out[0]);
                close(out[1]);
                execlp("python3", "python3", EMU.script, "--port", "0",
                       "--data", EMU.data, "--access-id", ID, "--access-key",
                       SECRET, (char *)NULL);
                _exit(127);
        }
        close(out[1]);
        char line[256];
        int rc = read_base_line(out[0], line, sizeof(line));
        pthread_create(&EMU.drainer, NULL, drain, (void *)(intptr_t)out[0]);
        pthread_detach(EMU.drainer);
        if (rc != 0) {
                emulator_stop(state);
                fail_msg("the emulator did not print its base URL (got "
                         "'%s'); run it by hand: python3 %s --port 0",
                         line, EMU.script);
        }
        snprintf(EMU.base, sizeof(EMU.base), "%s", line);
        snprintf(EMU.endpoint, sizeof(EMU.endpoint), "%s/api", line);
        return 0;
}

static int emulator_stop(void **state)
{
        (void)state;
        if (EMU.pid > 0) {
                kill(EMU.pid, SIGTERM);
                waitpid(EMU.pid, NULL, 0);
                EMU.pid = 0;
        }
        if (EMU.data[0]) {
                char *cmd = km_xasprintf("rm -rf '%s'", EMU.data);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", EMU.data);
                free(cmd);
        }
        return 0;
}

#define NEED_EMULATOR()                                                       \
        do {                                                                  \
                if (EMU_MISSING) {                                            \
                        print_message("skipped: %s; the emulator tests "      \
                                      "need python3 and "                     \
                                      "tests/emulator/mc_emulator.py\n",      \
                                      EMU_MISSING);                           \
                        skip();                                               \
                }                                                             \
        } while (0)

static km_mc_client_t *emu_client(const char *secret, int retries)
{
        char err[512];
        km_mc_config_t cfg = {.endpoint = EMU.endpoint,
                              .project = "test_project",
                              .access_id = ID,
                              .access_secret = secret,
                              .timeout_s = 20,
                              .max_retries = retries};
        km_mc_client_t *c = km_mc_client_new(&cfg, err, sizeof(err));
        if (!c)
                fail_msg("%s", err);
        return c;
}

static size_t keep_answer(char *data, size_t size, size_t nmemb, void *user)
{
        km_buf_append(user, data, size * nmemb);
        return size * nmemb;
}

/* A call of the emulator's control API (unsigned); its answer, malloc'd. */
static char *emu_control(const char *method, const char *path,
                         const char *json)
{
        char *url = km_xasprintf("%s%s", EMU.base, path);
        km_buf_t answer = {0};
        km_buf_append(&answer, "", 0);
        CURL *curl = curl_easy_init();
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: "
                                                       "application/json");
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_answer);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
        if (strcmp(method, "POST") == 0)
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json ? json : "{}");
        CURLcode rc = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(h);
        curl_easy_cleanup(curl);
        free(url);
        if (rc != CURLE_OK || status != 200)
                fail_msg("emulator control %s %s: %s (HTTP %ld) %s", method,
                         path, curl_easy_strerror(rc), status, answer.data);
        return km_buf_take(&answer);
}

static void emu_faults(const char *json)
{
        free(emu_control("POST", "/__emulator/faults", json));
}

static void emu_reset(void)
{
        free(emu_control("POST", "/__emulator/reset", "{}"));
}

/* The logged requests of operation op, as a JSON array (decref it). */
static json_t *emu_log(const char *op)
{
        char *text = emu_control("GET", "/__emulator/log", NULL);
        json_t *log = json_loads(text, 0, NULL);
        assert_null(strstr(text, SECRET));
        free(text);
        json_t *out = json_array();
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(log, "requests"), i, r)
        {
                const char *o = json_string_value(json_object_get(r, "op"));
                if (!op || (o && strcmp(o, op) == 0))
                        json_array_append(out, r);
        }
        json_decref(log);
        return out;
}

/* The log of op once it holds `want` entries (the emulator logs a request
 * just after answering it), waiting up to 5 s. */
static json_t *emu_log_wait(const char *op, size_t want)
{
        json_t *log = emu_log(op);
        for (int i = 0; i < 100 && json_array_size(log) < want; i++) {
                json_decref(log);
                km_mc_sleep_ms(50);
                log = emu_log(op);
        }
        return log;
}

static long log_status(json_t *log, size_t i)
{
        json_t *st = json_object_get(json_array_get(log, i), "status");
        return json_is_integer(st) ? (long)json_integer_value(st) : 0;
}

static void sql_ok(km_mc_client_t *c, const char *sql)
{
        km_mc_error_t err;
        char *result = NULL;
        if (km_mc_sql(c, sql, &result, &err))
                fail_msg("%s: %s %s (request %s)", sql, err.code, err.message,
                         err.request_id);
        assert_non_null(result);
        free(result);
}

#define EMU_TABLE                                                             \
        "CREATE TABLE IF NOT EXISTS `emu_t` (`k` STRING, `v` BIGINT) "        \
        "PARTITIONED BY (`ds` STRING)"

static void test_emu_discovery(void **state)
{
        (void)state;
        NEED_EMULATOR();
        km_mc_client_t *c = emu_client(SECRET, 2);
        const char *url;
        km_mc_error_t err;
        if (km_mc_tunnel_endpoint(c, &url, &err))
                fail_msg("%s: %s", err.code, err.message);
        assert_string_equal(url, EMU.base);
        km_mc_client_free(c);
}

static void test_emu_create_table(void **state)
{
        (void)state;
        NEED_EMULATOR();
        km_mc_client_t *c = emu_client(SECRET, 2);
        sql_ok(c, EMU_TABLE);
        sql_ok(c, "ALTER TABLE `emu_t` ADD IF NOT EXISTS PARTITION "
                  "(ds='20240101');");
        km_mc_client_free(c);
}

static void test_emu_bad_secret(void **state)
{
        (void)state;
        NEED_EMULATOR();
        km_mc_client_t *c = emu_client("not-the-secret", 3);
        km_mc_error_t err;
        assert_int_equal(km_mc_sql(c, EMU_TABLE, NULL, &err), -1);
        assert_true(err.permanent);
        assert_false(err.retryable);
        assert_int_equal(err.http_status, 403);
        /* The service's own code, not one made up from the status. */
        assert_string_equal(err.code, "SignatureNotMatch");
        assert_true(err.request_id[0]);
        assert_null(strstr(err.message, "not-the-secret"));
        km_mc_client_free(c);
}

static void test_emu_session_empty_commit(void **state)
{
        (void)state;
        NEED_EMULATOR();
        km_mc_client_t *c = emu_client(SECRET, 2);
        sql_ok(c, EMU_TABLE);
        sql_ok(c, "ALTER TABLE `emu_t` ADD IF NOT EXISTS PARTITION "
                  "(ds='20240102');");
        km_mc_session_t s, st;
        km_mc_error_t err;
        if (km_mc_session_create(c, "emu_t", "ds=20240102", 0, &s, &err))
                fail_msg("create: %s %s", err.code, err.message);
        assert_string_equal(s.status, "normal");
        assert_int_equal(s.ncolumns, 2);
        assert_string_equal(s.columns[0].name, "k");
        assert_string_equal(s.columns[1].type, "bigint");
        assert_int_equal(s.npartition_columns, 1);
        assert_string_equal(s.partition_columns[0].name, "ds");
        assert_true(s.max_field_size > 0);
        if (km_mc_session_status(c, "emu_t", "ds=20240102", s.id, &st, &err))
                fail_msg("status: %s %s", err.code, err.message);
        assert_string_equal(st.id, s.id);
        assert_int_equal(st.nblocks, 0);
        km_mc_session_clear(&st);
        if (km_mc_session_commit(c, "emu_t", "ds=20240102", s.id, NULL, 0,
                                 &err))
                fail_msg("commit: %s %s", err.code, err.message);
        if (km_mc_session_status(c, "emu_t", "ds=20240102", s.id, &st, &err))
                fail_msg("status: %s %s", err.code, err.message);
        assert_true(strcmp(st.status, "closed") == 0 ||
                    strcmp(st.status, "committed") == 0);
        km_mc_session_clear(&st);
        km_mc_session_clear(&s);
        km_mc_client_free(c);
}

static void test_emu_sql_error_verbatim(void **state)
{
        (void)state;
        NEED_EMULATOR();
        emu_reset();
        km_mc_client_t *c = emu_client(SECRET, 2);
        km_mc_error_t err;
        char *result = NULL;
        assert_int_equal(km_mc_sql(c, "ALTER TABLE `no_such_table_x` ADD "
                                      "PARTITION (ds='1');",
                                   &result, &err),
                         -1);
        assert_null(result);
        assert_true(err.permanent);
        assert_string_equal(err.code, "ODPS-0130131");
        assert_true(starts_with(err.message, "ODPS-0130131:[1,"));
        assert_non_null(strstr(err.message, "no_such_table_x"));
        assert_non_null(strstr(err.message, "Table not found"));
        assert_null(strchr(err.message, '\n'));
        km_mc_client_free(c);
}

/* A session on a fresh partition of emu_t. */
static void emu_session(km_mc_client_t *c, const char *ds, km_mc_session_t *s)
{
        char *sql = km_xasprintf("ALTER TABLE `emu_t` ADD IF NOT EXISTS "
                                 "PARTITION (ds='%s');",
                                 ds);
        sql_ok(c, EMU_TABLE);
        sql_ok(c, sql);
        free(sql);
        char *spec = km_xasprintf("ds=%s", ds);
        km_mc_error_t err;
        if (km_mc_session_create(c, "emu_t", spec, 0, s, &err))
                fail_msg("create: %s %s", err.code, err.message);
        free(spec);
}

/* Injected 500s on a block PUT are retried; a deflated block and a plain
 * one are both accepted and committed. */
static void test_emu_block_put_retries_500(void **state)
{
        (void)state;
        NEED_EMULATOR();
        emu_reset();
        km_mc_client_t *c = emu_client(SECRET, 4);
        km_mc_session_t s;
        emu_session(c, "20240103", &s);
        emu_faults("{\"fail_block_put\":{\"nth\":1,\"times\":2,"
                   "\"status\":500}}");
        km_mc_error_t err;
        if (km_mc_block_put(c, "emu_t", "ds=20240103", s.id, 0, BLOCK,
                            sizeof(BLOCK), 0, &err))
                fail_msg("put: %s %s", err.code, err.message);
        json_t *log = emu_log_wait("block_put", 3);
        assert_int_equal(json_array_size(log), 3);
        assert_int_equal(log_status(log, 0), 500);
        assert_int_equal(log_status(log, 1), 500);
        assert_int_equal(log_status(log, 2), 200);
        json_decref(log);

        unsigned char z[64];
        uLongf zlen = sizeof(z);
        compress2(z, &zlen, BLOCK, sizeof(BLOCK), 1);
        if (km_mc_block_put(c, "emu_t", "ds=20240103", s.id, 1, z, zlen, 1,
                            &err))
                fail_msg("deflated put: %s %s", err.code, err.message);
        int64_t ids[] = {1, 0};
        if (km_mc_session_commit(c, "emu_t", "ds=20240103", s.id, ids, 2,
                                 &err))
                fail_msg("commit: %s %s", err.code, err.message);
        km_mc_session_clear(&s);
        km_mc_client_free(c);
        emu_faults("{}");
}

/* A connection reset in the middle of a block: the whole block is sent
 * again. */
static void test_emu_block_put_reset(void **state)
{
        (void)state;
        NEED_EMULATOR();
        emu_reset();
        km_mc_client_t *c = emu_client(SECRET, 3);
        km_mc_session_t s;
        emu_session(c, "20240104", &s);
        emu_faults("{\"drop_block_put_mid_body\":{\"nth\":1,\"after_bytes\":"
                   "4}}");
        km_mc_error_t err;
        if (km_mc_block_put(c, "emu_t", "ds=20240104", s.id, 5, BLOCK,
                            sizeof(BLOCK), 0, &err))
                fail_msg("put: %s %s", err.code, err.message);
        json_t *log = emu_log_wait("block_put", 2);
        assert_int_equal(json_array_size(log), 2);
        assert_int_equal(log_status(log, 1), 200);
        json_decref(log);
        km_mc_session_clear(&s);
        km_mc_client_free(c);
        emu_faults("{}");
}

/* A commit applied but answered 500, and one whose reply is lost: the
 * client asks the status, finds the session closed, and succeeds without
 * committing twice. */
static void test_emu_commit_lost_reply(void **state)
{
        (void)state;
        NEED_EMULATOR();
        const char *faults[] = {
                "{\"fail_commit\":{\"nth\":1,\"status\":500,\"after_apply\":"
                "true}}",
                "{\"drop_commit_reply\":{\"nth\":1}}",
        };
        for (int i = 0; i < 2; i++) {
                emu_reset();
                km_mc_client_t *c = emu_client(SECRET, 3);
                km_mc_session_t s;
                emu_session(c, i ? "20240106" : "20240105", &s);
                km_mc_error_t err;
                if (km_mc_block_put(c, "emu_t", NULL, s.id, 0, BLOCK,
                                    sizeof(BLOCK), 0, &err) == 0)
                        fail_msg("a PUT without the partition was accepted");
                assert_true(err.permanent);
                const char *spec = i ? "ds=20240106" : "ds=20240105";
                if (km_mc_block_put(c, "emu_t", spec, s.id, 0, BLOCK,
                                    sizeof(BLOCK), 0, &err))
                        fail_msg("put: %s %s", err.code, err.message);
                emu_faults(faults[i]);
                int64_t id = 0;
                if (km_mc_session_commit(c, "emu_t", spec, s.id, &id, 1,
                                         &err))
                        fail_msg("%s: %s %s", faults[i], err.code,
                                 err.message);
                km_mc_sleep_ms(100); /* a second commit would show */
                json_t *log = emu_log_wait("commit", 1);
                assert_int_equal(json_array_size(log), 1);
                json_decref(log);
                km_mc_session_clear(&s);
                km_mc_client_free(c);
                emu_faults("{}");
        }
}

static void test_emu_sql_polls_and_injected_failure(void **state)
{
        (void)state;
        NEED_EMULATOR();
        emu_reset();
        km_mc_client_t *c = emu_client(SECRET, 2);
        emu_faults("{\"instance_running_polls\":3}");
        sql_ok(c, EMU_TABLE);
        const char *msg = "ODPS-0010000:System internal error - injected "
                          "<fault> & 'quotes' ]]> end";
        char *faults = km_xasprintf("{\"fail_sql\":{\"match\":\"emu_t\","
                                    "\"message\":\"%s\"}}",
                                    msg);
        emu_faults(faults);
        free(faults);
        km_mc_error_t err;
        assert_int_equal(km_mc_sql(c, EMU_TABLE, NULL, &err), -1);
        assert_string_equal(err.message, msg);
        assert_string_equal(err.code, "ODPS-0010000");
        assert_true(err.permanent);
        km_mc_client_free(c);
        emu_faults("{}");
}

static void *emu_put_thread(void *arg)
{
        struct put_job *j = arg;
        j->rc = km_mc_block_put(j->c, "emu_t", "ds=20240107", j->session,
                                j->block, BLOCK, sizeof(BLOCK), 0, &j->err);
        return NULL;
}

/* Two threads upload blocks of one session at once. */
static void test_emu_parallel_blocks(void **state)
{
        (void)state;
        NEED_EMULATOR();
        emu_reset();
        km_mc_client_t *c = emu_client(SECRET, 2);
        km_mc_session_t s;
        emu_session(c, "20240107", &s);
        struct put_job jobs[2] = {{.c = c, .session = s.id, .block = 0},
                                  {.c = c, .session = s.id, .block = 1}};
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
                pthread_create(&t[i], NULL, emu_put_thread, &jobs[i]);
        for (int i = 0; i < 2; i++)
                pthread_join(t[i], NULL);
        for (int i = 0; i < 2; i++)
                if (jobs[i].rc)
                        fail_msg("block %d: %s", i, jobs[i].err.message);
        int64_t ids[] = {0, 1};
        km_mc_error_t err;
        if (km_mc_session_commit(c, "emu_t", "ds=20240107", s.id, ids, 2,
                                 &err))
                fail_msg("commit: %s %s", err.code, err.message);
        km_mc_session_clear(&s);
        km_mc_client_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_error_xml_service),
                cmocka_unit_test(test_error_xml_entities),
                cmocka_unit_test(test_error_json_tunnel),
                cmocka_unit_test(test_error_fallbacks),
                cmocka_unit_test(test_backoff_full_jitter),
                cmocka_unit_test(test_session_parse_full),
                cmocka_unit_test(test_session_parse_minimal_and_bad),
                cmocka_unit_test(test_instance_xml),
                cmocka_unit_test(test_client_new_checks),
                cmocka_unit_test(test_wire_session_create),
                cmocka_unit_test(test_wire_block_put_retries),
                cmocka_unit_test(test_wire_4xx_not_retried),
                cmocka_unit_test(test_wire_commit_checks_status),
                cmocka_unit_test(test_wire_commit_blocks_mismatch),
                cmocka_unit_test(test_wire_discovery_and_sql_failure),
                cmocka_unit_test(test_wire_sql_success_base64),
                cmocka_unit_test(test_wire_parallel_blocks),
                cmocka_unit_test(test_connection_refused),
        };
        const struct CMUnitTest emulator[] = {
                cmocka_unit_test(test_emu_discovery),
                cmocka_unit_test(test_emu_create_table),
                cmocka_unit_test(test_emu_bad_secret),
                cmocka_unit_test(test_emu_session_empty_commit),
                cmocka_unit_test(test_emu_sql_error_verbatim),
                cmocka_unit_test(test_emu_block_put_retries_500),
                cmocka_unit_test(test_emu_block_put_reset),
                cmocka_unit_test(test_emu_commit_lost_reply),
                cmocka_unit_test(test_emu_sql_polls_and_injected_failure),
                cmocka_unit_test(test_emu_parallel_blocks),
        };
        int failed = cmocka_run_group_tests(tests, NULL, NULL);
        failed += cmocka_run_group_tests_name("emulator", emulator,
                                              emulator_start, emulator_stop);
        return failed;
}
