/* test_mc_sign.c - ODPS v2 request signing: the notes' worked examples byte
 * for byte, header filtering, parameter sorting and bare keys, the Date
 * format whatever the locale, and the STS token header. */
#include "km_test.h"

#include <locale.h>

#include "mc_sign.h"

#define KV(k, v) {(k), (v)}
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const ID = "test-id";
static const char *const SECRET = "test-secret";
static const char *const DATE_2024 = "Mon, 01 Jan 2024 00:00:00 GMT";
static const char *const UA = "mc-c-client/0.1";

static void assert_signed(const char *secret, const char *canonical,
                          const char *sig)
{
        char out[KM_MC_SIG_SIZE];
        km_mc_signature(secret, canonical, out);
        assert_string_equal(out, sig);
}

/* maxcompute-protocol.md 2.1: a block PUT, tunnel version 6, no UA. */
static void test_sign_notes_block_put(void **state)
{
        (void)state;
        km_mc_kv_t h[] = {KV("Content-Type", "application/octet-stream"),
                          KV("Date", "Tue, 22 Nov 2022 02:05:00 GMT"),
                          KV("x-odps-tunnel-version", "6")};
        km_mc_kv_t p[] = {KV("uploadid", "U1"),
                          KV("partition", "ds=20221121"),
                          KV("blockid", "0")};
        char *c = km_mc_canonical_string("PUT", h, N(h),
                                         "/projects/p1/tables/t1", p, N(p));
        assert_string_equal(c, "PUT\n\napplication/octet-stream\n"
                               "Tue, 22 Nov 2022 02:05:00 GMT\n"
                               "x-odps-tunnel-version:6\n"
                               "/projects/p1/tables/t1?blockid=0&"
                               "partition=ds=20221121&uploadid=U1");
        assert_signed(SECRET, c, "ehfmwlMod0MnYX8CYuKwGTQ/j0w=");
        free(c);
}

/* Details 2.6 A: tunnel discovery, bare `service`, curr_project. */
static void test_sign_example_a_discovery(void **state)
{
        (void)state;
        km_mc_kv_t h[] = {KV("Date", DATE_2024),
                          KV("x-odps-user-agent", UA)};
        km_mc_kv_t p[] = {KV("service", NULL),
                          KV("curr_project", "my_project")};
        char *c = km_mc_canonical_string("GET", h, N(h),
                                         "/projects/my_project/tunnel", p,
                                         N(p));
        assert_string_equal(c, "GET\n\n\nMon, 01 Jan 2024 00:00:00 GMT\n"
                               "x-odps-user-agent:mc-c-client/0.1\n"
                               "/projects/my_project/tunnel?curr_project="
                               "my_project&service");
        assert_signed(SECRET, c, "K4cM2nku9I2EPB7jcUvbN+8j1e8=");
        free(c);
}

/* Details 2.6 B: session create; unsigned headers are left out. */
static void test_sign_example_b_create(void **state)
{
        (void)state;
        km_mc_kv_t h[] = {KV("Host", "dt.cn-hangzhou.maxcompute.aliyun.com"),
                          KV("Date", DATE_2024),
                          KV("User-Agent", UA),
                          KV("x-odps-user-agent", UA),
                          KV("x-odps-tunnel-version", "5"),
                          KV("odps-tunnel-date-transform", "v1"),
                          KV("Content-Length", "0")};
        km_mc_kv_t p[] = {KV("uploads", ""),
                          KV("partition", "ds=20240101,hh=08")};
        char *c = km_mc_canonical_string("POST", h, N(h),
                                         "/projects/my_project/tables/"
                                         "my_table",
                                         p, N(p));
        assert_string_equal(c, "POST\n\n\nMon, 01 Jan 2024 00:00:00 GMT\n"
                               "x-odps-tunnel-version:5\n"
                               "x-odps-user-agent:mc-c-client/0.1\n"
                               "/projects/my_project/tables/my_table?"
                               "partition=ds=20240101,hh=08&uploads");
        assert_signed(SECRET, c, "DpLVIMEt3nou4kbPOHmLb5pzNMM=");
        free(c);
}

/* Details 2.6 C: upload block 0. */
static void test_sign_example_c_block(void **state)
{
        (void)state;
        km_mc_kv_t h[] = {KV("Content-Type", "application/octet-stream"),
                          KV("x-odps-tunnel-version", "5"),
                          KV("x-odps-user-agent", UA),
                          KV("Date", DATE_2024)};
        km_mc_kv_t p[] = {KV("uploadid", "20240101000000abcdef0123456789ab"),
                          KV("blockid", "0"),
                          KV("partition", "ds=20240101,hh=08")};
        char *c = km_mc_canonical_string("PUT", h, N(h),
                                         "/projects/my_project/tables/"
                                         "my_table",
                                         p, N(p));
        assert_string_equal(c, "PUT\n\napplication/octet-stream\n"
                               "Mon, 01 Jan 2024 00:00:00 GMT\n"
                               "x-odps-tunnel-version:5\n"
                               "x-odps-user-agent:mc-c-client/0.1\n"
                               "/projects/my_project/tables/my_table?"
                               "blockid=0&partition=ds=20240101,hh=08&"
                               "uploadid=20240101000000abcdef0123456789ab");
        assert_signed(SECRET, c, "pMvtIb4UnQh8snE4vTi2Qug0lRs=");
        free(c);
}

/* Details 2.6 D, through the full signer: Date from the clock,
 * Authorization added. */
static void test_sign_example_d_headers(void **state)
{
        (void)state;
        km_mc_cred_t cred = {ID, SECRET, NULL};
        km_mc_headers_t h = {0};
        km_mc_headers_add(&h, "x-odps-user-agent", UA);
        km_mc_headers_add(&h, "Content-Type", "application/xml");
        km_mc_headers_sign(&h, &cred, "POST", "/projects/my_project/instances",
                           NULL, 0, (time_t)1704067200);
        assert_string_equal(km_mc_headers_get(&h, "date"), DATE_2024);
        assert_string_equal(km_mc_headers_get(&h, "Authorization"),
                            "ODPS test-id:ltf2IbUsYTNL7kseSnLlZPwccBg=");
        assert_null(km_mc_headers_get(&h, "authorization-sts-token"));
        km_mc_headers_clear(&h);
}

/* The Ruby SDK's published vectors: Content-MD5, mixed-case X-ODPS-
 * names, a query value with '$' and '@'. */
static void test_sign_ruby_vectors(void **state)
{
        (void)state;
        const char *secret = "Isdfjlkewpoerjtnsdfsdfswerweoriskdfjert=";
        km_mc_kv_t h[] = {KV("Content-MD5", "e5828c564f71fea3a12dde8bd5d27063"),
                          KV("Content-Type", "application/octet-stream"),
                          KV("Date", "Thu, 26 Nov 2015 08:56:57 GMT"),
                          KV("X-ODPS-resource-type", "file"),
                          KV("X-ODPS-resource-name", "test.file")};
        char *c = km_mc_canonical_string("POST", h, N(h),
                                         "/projects/test_project/resources",
                                         NULL, 0);
        assert_string_equal(c, "POST\ne5828c564f71fea3a12dde8bd5d27063\n"
                               "application/octet-stream\n"
                               "Thu, 26 Nov 2015 08:56:57 GMT\n"
                               "x-odps-resource-name:test.file\n"
                               "x-odps-resource-type:file\n"
                               "/projects/test_project/resources");
        assert_signed(secret, c, "z7/QmEf7ZZYABY6S7GSrfSjltv8=");
        free(c);
        km_mc_kv_t p[] = {KV("owner", "ALIYUN$demo@example.com")};
        c = km_mc_canonical_string("POST", h, N(h),
                                   "/projects/test_project/resources", p,
                                   N(p));
        assert_signed(secret, c, "+D2xEUdh0f41uEODgJd5zqxrVMQ=");
        free(c);
}

/* Parameters sort by key; NULL and "" values are bare keys; x-odps-*
 * parameters also sign as header lines; the method is upper-cased. */
static void test_sign_params_sorting_and_bare_keys(void **state)
{
        (void)state;
        km_mc_kv_t p[] = {KV("uploadid", "U"), KV("b", ""), KV("a", NULL),
                          KV("x-odps-extra", "1"), KV("Z", "z")};
        char *c = km_mc_canonical_string("get", NULL, 0, "/r", p, N(p));
        assert_string_equal(c, "GET\n\n\n\nx-odps-extra:1\n"
                               "/r?Z=z&a&b&uploadid=U&x-odps-extra=1");
        free(c);
        c = km_mc_canonical_string("GET", NULL, 0, "/r", NULL, 0);
        assert_string_equal(c, "GET\n\n\n\n/r");
        free(c);
}

/* Only Content-MD5, Content-Type, Date and x-odps-* count; names match in
 * any case and x-odps-* lines sort by their lower-cased name. */
static void test_sign_header_filtering(void **state)
{
        (void)state;
        km_mc_kv_t h[] = {KV("X-Odps-Zeta", "z"),
                          KV("authorization-sts-token", "tok"),
                          KV("Authorization", "ODPS x:y"),
                          KV("date", "D"),
                          KV("Transfer-Encoding", "chunked"),
                          KV("x-odps-alpha", "a"),
                          KV("Content-Encoding", "deflate"),
                          KV("CONTENT-TYPE", "T"),
                          KV("odps-tunnel-date-transform", "v1"),
                          KV("x-odpsnot", "no")};
        char *c = km_mc_canonical_string("PUT", h, N(h), "/r", NULL, 0);
        assert_string_equal(c, "PUT\n\nT\nD\nx-odps-alpha:a\nx-odps-zeta:z\n"
                               "/r");
        free(c);
}

static void test_sign_http_date(void **state)
{
        (void)state;
        char d[KM_MC_DATE_SIZE];
        km_mc_http_date(0, d);
        assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
        km_mc_http_date((time_t)1669082700, d);
        assert_string_equal(d, "Tue, 22 Nov 2022 02:05:00 GMT");
        km_mc_http_date((time_t)951782400, d); /* a leap day */
        assert_string_equal(d, "Tue, 29 Feb 2000 00:00:00 GMT");
}

/* Neither the locale nor TZ changes the Date. */
static void test_sign_http_date_locale_free(void **state)
{
        (void)state;
        const char *locales[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "zh_CN.UTF-8",
                                 "C.UTF-8"};
        char *old_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
        setenv("TZ", "Asia/Shanghai", 1);
        tzset();
        for (size_t i = 0; i < sizeof(locales) / sizeof(locales[0]); i++) {
                setlocale(LC_ALL, locales[i]); /* absent ones stay "C" */
                char d[KM_MC_DATE_SIZE];
                km_mc_http_date((time_t)1704067200, d);
                assert_string_equal(d, DATE_2024);
        }
        setlocale(LC_ALL, "C");
        if (old_tz)
                setenv("TZ", old_tz, 1);
        else
                unsetenv("TZ");
        tzset();
        free(old_tz);
}

/* The STS token goes in authorization-sts-token and is not signed. */
static void test_sign_sts_header(void **state)
{
        (void)state;
        km_mc_cred_t plain = {ID, SECRET, NULL};
        km_mc_cred_t sts = {ID, SECRET, "sts-token-value"};
        km_mc_headers_t a = {0}, b = {0};
        km_mc_headers_add(&a, "x-odps-tunnel-version", "5");
        km_mc_headers_add(&b, "x-odps-tunnel-version", "5");
        km_mc_headers_sign(&a, &plain, "GET", "/projects/p/tables/t", NULL, 0,
                           (time_t)1704067200);
        km_mc_headers_sign(&b, &sts, "GET", "/projects/p/tables/t", NULL, 0,
                           (time_t)1704067200);
        assert_null(km_mc_headers_get(&a, "authorization-sts-token"));
        assert_string_equal(km_mc_headers_get(&b, "authorization-sts-token"),
                            "sts-token-value");
        assert_string_equal(km_mc_headers_get(&a, "Authorization"),
                            km_mc_headers_get(&b, "Authorization"));
        /* The secret itself never lands in a header. */
        for (int i = 0; i < b.n; i++)
                assert_null(strstr(b.kv[i].value, SECRET));
        km_mc_headers_clear(&a);
        km_mc_headers_clear(&b);
}

/* The URL carries the values form-encoded; the signature the raw ones. */
static void test_sign_url_encoding(void **state)
{
        (void)state;
        km_mc_kv_t p[] = {KV("uploads", NULL),
                          KV("partition", "ds=20240101,hh=08"),
                          KV("x", "a b+c/d~e")};
        char *url = km_mc_url("http://dt.example.com", "/projects/p/tables/t",
                              p, N(p));
        assert_string_equal(url, "http://dt.example.com/projects/p/tables/t?"
                                 "uploads&partition=ds%3D20240101%2Chh%3D08&"
                                 "x=a+b%2Bc%2Fd~e");
        free(url);
        url = km_mc_url("http://h/api", "/projects/p/tunnel", NULL, 0);
        assert_string_equal(url, "http://h/api/projects/p/tunnel");
        free(url);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sign_notes_block_put),
                cmocka_unit_test(test_sign_example_a_discovery),
                cmocka_unit_test(test_sign_example_b_create),
                cmocka_unit_test(test_sign_example_c_block),
                cmocka_unit_test(test_sign_example_d_headers),
                cmocka_unit_test(test_sign_ruby_vectors),
                cmocka_unit_test(test_sign_params_sorting_and_bare_keys),
                cmocka_unit_test(test_sign_header_filtering),
                cmocka_unit_test(test_sign_http_date),
                cmocka_unit_test(test_sign_http_date_locale_free),
                cmocka_unit_test(test_sign_sts_header),
                cmocka_unit_test(test_sign_url_encoding),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
