/* test_fixture.c - reading fixtures: every field form, base64 bytes,
 * headers, defaults, blank lines, and each error with its line. */
#include "km_test.h"

#include <unistd.h>

#include "kmsync/fixture.h"

static char fx_dir[] = "/tmp/km_test_fixture.XXXXXX";
static char fx_path[4200];
static char fx_err[1024];

static int setup(void **state)
{
        (void)state;
        if (!mkdtemp(fx_dir))
                return -1;
        snprintf(fx_path, sizeof(fx_path), "%s/fx.jsonl", fx_dir);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        unlink(fx_path);
        rmdir(fx_dir);
        return 0;
}

/* Writes text as the fixture file and loads it; fx_err holds the message
 * without the file name ("3: ..."). */
static int load_text(const char *text, const char *default_topic,
                     km_fixture_t *f)
{
        FILE *out = fopen(fx_path, "w");
        assert_non_null(out);
        fputs(text, out);
        fclose(out);
        char err[1024] = "";
        int rc = km_fixture_load(fx_path, default_topic, f, err, sizeof(err));
        size_t n = strlen(fx_path);
        if (strncmp(err, fx_path, n) == 0 && err[n] == ':')
                snprintf(fx_err, sizeof(fx_err), "%s", err + n + 1);
        else
                snprintf(fx_err, sizeof(fx_err), "%s", err);
        return rc;
}

static km_fixture_t load_ok(const char *text, const char *default_topic)
{
        km_fixture_t f;
        if (load_text(text, default_topic, &f) != 0)
                fail_msg("unexpected error: %s", fx_err);
        return f;
}

/* Asserts that text fails with exactly "LINE: message". */
static void assert_fails(const char *text, const char *want)
{
        km_fixture_t f;
        assert_int_equal(load_text(text, "t", &f), -1);
        assert_string_equal(fx_err, want);
        assert_int_equal(f.count, 0);
        assert_null(f.records);
}

static void assert_bytes(const unsigned char *got, size_t got_len,
                         const void *want, size_t want_len)
{
        assert_non_null(got);
        assert_int_equal(got_len, want_len);
        assert_memory_equal(got, want, want_len);
}

#define assert_text(got, len, want) assert_bytes(got, len, want, strlen(want))

/* ------------------------------------------------------------ fields */

static void test_every_field(void **state)
{
        (void)state;
        km_fixture_t f = load_ok(
                "{\"topic\": \"orders\", \"partition\": 3, \"timestamp\": "
                "1669078800000, \"key\": \"k1\", \"value\": {\"b\": 2, \"a\": "
                "[1, 0.1, true, null], \"c\": {\"d\": \"x\"}}, \"headers\": "
                "[[\"h1\", \"v1\"], [\"h2\", \"v2\"]]}\n",
                NULL);
        assert_int_equal(f.count, 1);
        assert_int_equal(f.max_partition, 3);
        const km_fixture_record_t *r = &f.records[0];
        assert_string_equal(r->topic, "orders");
        assert_int_equal(r->partition, 3);
        assert_int_equal(r->timestamp_ms, 1669078800000LL);
        assert_text(r->key, r->key_len, "k1");
        assert_text(r->value, r->value_len,
                    "{\"b\":2,\"a\":[1,0.1,true,null],\"c\":{\"d\":\"x\"}}");
        assert_int_equal(r->nheaders, 2);
        assert_string_equal(r->headers[0].name, "h1");
        assert_text(r->headers[0].value, r->headers[0].value_len, "v1");
        assert_string_equal(r->headers[1].name, "h2");
        assert_text(r->headers[1].value, r->headers[1].value_len, "v2");
        assert_int_equal(r->line, 1);
        km_fixture_free(&f);
}

static void test_value_forms(void **state)
{
        (void)state;
        km_fixture_t f = load_ok("{\"timestamp\": 1, \"value\": \"text\"}\n"
                                 "{\"timestamp\": 2, \"value\": 42}\n"
                                 "{\"timestamp\": 3, \"value\": 1.5}\n"
                                 "{\"timestamp\": 4, \"value\": true}\n"
                                 "{\"timestamp\": 5, \"value\": null}\n"
                                 "{\"timestamp\": 6}\n"
                                 "{\"timestamp\": 7, \"value\": [1, \"a\"]}\n"
                                 "{\"timestamp\": 8, \"value\": "
                                 "\"a\\u0000b\"}\n"
                                 "{\"timestamp\": 9, \"value\": \"\"}\n"
                                 "{\"timestamp\": 10, \"value\": -0.25e-3}\n"
                                 "{\"timestamp\": 11, \"value\": {}}\n",
                                 "t");
        assert_int_equal(f.count, 11);
        const km_fixture_record_t *r = f.records;
        assert_text(r[0].value, r[0].value_len, "text");
        assert_text(r[1].value, r[1].value_len, "42");
        assert_text(r[2].value, r[2].value_len, "1.5");
        assert_text(r[3].value, r[3].value_len, "true");
        assert_null(r[4].value);
        assert_null(r[5].value);
        assert_text(r[6].value, r[6].value_len, "[1,\"a\"]");
        assert_bytes(r[7].value, r[7].value_len, "a\0b", 3);
        assert_text(r[8].value, r[8].value_len, "");
        assert_text(r[9].value, r[9].value_len, "-0.00025");
        assert_text(r[10].value, r[10].value_len, "{}");
        km_fixture_free(&f);
}

static void test_key_forms(void **state)
{
        (void)state;
        km_fixture_t f = load_ok("{\"timestamp\": 1, \"key\": \"k\"}\n"
                                 "{\"timestamp\": 2, \"key\": null}\n"
                                 "{\"timestamp\": 3}\n"
                                 "{\"timestamp\": 4, \"key\": \"\"}\n"
                                 "{\"timestamp\": 5, \"key\": \"\\u0000\"}\n",
                                 "t");
        const km_fixture_record_t *r = f.records;
        assert_text(r[0].key, r[0].key_len, "k");
        assert_null(r[1].key);
        assert_int_equal(r[1].key_len, 0);
        assert_null(r[2].key);
        assert_text(r[3].key, r[3].key_len, "");
        assert_bytes(r[4].key, r[4].key_len, "\0", 1);
        km_fixture_free(&f);
}

static void test_base64(void **state)
{
        (void)state;
        km_fixture_t f = load_ok(
                "{\"timestamp\": 1, \"key_base64\": \"AAEC/w==\", "
                "\"value_base64\": \"AP8A\"}\n"
                "{\"timestamp\": 2, \"key_base64\": \"AAE=\", "
                "\"value_base64\": \"AAE\"}\n"
                "{\"timestamp\": 3, \"key_base64\": \"\", "
                "\"value_base64\": null}\n"
                "{\"timestamp\": 4, \"value_base64\": \"+/+/\"}\n"
                "{\"timestamp\": 5, \"value_base64\": \"AA==\"}\n",
                "t");
        const km_fixture_record_t *r = f.records;
        assert_bytes(r[0].key, r[0].key_len, "\x00\x01\x02\xff", 4);
        assert_bytes(r[0].value, r[0].value_len, "\x00\xff\x00", 3);
        assert_bytes(r[1].key, r[1].key_len, "\x00\x01", 2);
        assert_bytes(r[1].value, r[1].value_len, "\x00\x01", 2);
        assert_bytes(r[2].key, r[2].key_len, "", 0);
        assert_null(r[2].value);
        assert_bytes(r[3].value, r[3].value_len, "\xfb\xff\xbf", 3);
        assert_bytes(r[4].value, r[4].value_len, "\x00", 1);
        km_fixture_free(&f);
}

static void test_headers(void **state)
{
        (void)state;
        km_fixture_t f = load_ok(
                "{\"timestamp\": 1, \"headers\": [[\"h\", \"1\"], [\"h\", "
                "null], [\"h\", \"\"], [\"n\", \"a\\u0000b\"]]}\n"
                "{\"timestamp\": 2, \"headers\": []}\n"
                "{\"timestamp\": 3, \"headers\": null}\n",
                "t");
        const km_fixture_record_t *r = f.records;
        assert_int_equal(r[0].nheaders, 4);
        for (int i = 0; i < 3; i++)
                assert_string_equal(r[0].headers[i].name, "h");
        assert_text(r[0].headers[0].value, r[0].headers[0].value_len, "1");
        assert_null(r[0].headers[1].value);
        assert_int_equal(r[0].headers[1].value_len, 0);
        assert_text(r[0].headers[2].value, r[0].headers[2].value_len, "");
        assert_bytes(r[0].headers[3].value, r[0].headers[3].value_len, "a\0b",
                     3);
        assert_int_equal(r[1].nheaders, 0);
        assert_int_equal(r[2].nheaders, 0);
        km_fixture_free(&f);
}

static void test_defaults_and_blank_lines(void **state)
{
        (void)state;
        km_fixture_t f = load_ok("\n"
                                 "{\"timestamp\": 0}\n"
                                 "   \t\n"
                                 "\r\n"
                                 "{\"timestamp\": 5, \"topic\": \"other\", "
                                 "\"partition\": 7}\r\n"
                                 "{\"timestamp\": 6, \"partition\": 2}",
                                 "orders");
        assert_int_equal(f.count, 3);
        assert_int_equal(f.max_partition, 7);
        const km_fixture_record_t *r = f.records;
        assert_string_equal(r[0].topic, "orders");
        assert_int_equal(r[0].partition, 0);
        assert_int_equal(r[0].timestamp_ms, 0);
        assert_null(r[0].key);
        assert_null(r[0].value);
        assert_int_equal(r[0].nheaders, 0);
        assert_int_equal(r[0].line, 2);
        assert_string_equal(r[1].topic, "other");
        assert_int_equal(r[1].line, 5);
        assert_string_equal(r[2].topic, "orders");
        assert_int_equal(r[2].line, 6);
        km_fixture_free(&f);

        f = load_ok("", NULL);
        assert_int_equal(f.count, 0);
        assert_int_equal(f.max_partition, -1);
        km_fixture_free(&f);
        f = load_ok("\n\n  \n", NULL);
        assert_int_equal(f.count, 0);
        km_fixture_free(&f);
}

/* ------------------------------------------------------------ errors */

static void test_field_errors(void **state)
{
        (void)state;
        assert_fails("{\"timestamp\": 1}\n\n{\"timestamp\": 2, \"vaule\": 1}\n",
                     "3: unknown field 'vaule'; did you mean 'value'?");
        assert_fails("{\"timestamp\": 2, \"offset\": 1}\n",
                     "1: unknown field 'offset'; a record has topic, "
                     "partition, timestamp, key, key_base64, value, "
                     "value_base64 and headers");
        assert_fails("{\"timestamp\": 1}\n{\"timestamp\": 2, \"key\": \"a\", "
                     "\"key_base64\": \"YQ==\"}\n",
                     "2: both 'key' and 'key_base64' given; keep one ('key' "
                     "for text, 'key_base64' for binary bytes)");
        assert_fails("{\"timestamp\": 2, \"value\": null, \"value_base64\": "
                     "null}\n",
                     "1: both 'value' and 'value_base64' given; keep one "
                     "('value' for text, 'value_base64' for binary bytes)");
        assert_fails("{\"timestamp\": 2, \"key\": 7}\n",
                     "1: 'key' must be a string or null; for binary bytes use "
                     "'key_base64'");
        assert_fails("{\"timestamp\": 2, \"topic\": \"a\", \"topic\": \"b\"}\n",
                     "1: not JSON: duplicate object key near '\"topic\"' "
                     "(column 38); write one JSON object a line");
}

static void test_base64_errors(void **state)
{
        (void)state;
        const char *chars = "1: 'value_base64' is not base64: it has a "
                            "character outside A-Z a-z 0-9 + /; write "
                            "standard base64, e.g. \"AAEC/w==\"";
        const char *length = "1: 'key_base64' is not base64: its length is "
                             "wrong (a character is missing or extra); write "
                             "standard base64, e.g. \"AAEC/w==\"";
        assert_fails("{\"timestamp\": 1, \"value_base64\": \"a-b_\"}", chars);
        assert_fails("{\"timestamp\": 1, \"value_base64\": \"YQ= =\"}", chars);
        assert_fails("{\"timestamp\": 1, \"value_base64\": \"Y===\"}", chars);
        assert_fails("{\"timestamp\": 1, \"key_base64\": \"YWJjZ\"}", length);
        assert_fails("{\"timestamp\": 1, \"key_base64\": \"YQ=\"}", length);
        assert_fails("{\"timestamp\": 1, \"key_base64\": 5}",
                     "1: 'key_base64' must be a base64 string or null");
}

static void test_scalar_errors(void **state)
{
        (void)state;
        const char *part = "1: 'partition' must be an integer >= 0, e.g. "
                           "\"partition\": 0";
        assert_fails("{\"timestamp\": 1, \"partition\": -1}", part);
        assert_fails("{\"timestamp\": 1, \"partition\": \"1\"}", part);
        assert_fails("{\"timestamp\": 1, \"partition\": 1.0}", part);
        assert_fails("{\"timestamp\": 1, \"partition\": 10000}",
                     "1: 'partition' 10000 is too large: the mock cluster "
                     "serves partitions 0 to 9999");
        assert_fails("{\"value\": 1}",
                     "1: no 'timestamp': give each record its time in "
                     "milliseconds since 1970, e.g. \"timestamp\": "
                     "1669078800000");
        const char *ts = "1: 'timestamp' must be an integer >= 0 "
                         "(milliseconds since 1970), e.g. \"timestamp\": "
                         "1669078800000";
        assert_fails("{\"timestamp\": -5}", ts);
        assert_fails("{\"timestamp\": \"2022-11-22\"}", ts);
        assert_fails("{\"timestamp\": 1, \"topic\": 3}",
                     "1: 'topic' must be a string, e.g. \"topic\": "
                     "\"orders\"");
        assert_fails("{\"timestamp\": 1, \"topic\": \"my orders\"}",
                     "1: topic 'my orders' is not a Kafka topic name: use 1 "
                     "to 249 of a-z A-Z 0-9 . _ -");
        assert_fails("{\"timestamp\": 1, \"topic\": \"\"}",
                     "1: topic '' is not a Kafka topic name: use 1 to 249 of "
                     "a-z A-Z 0-9 . _ -");

        km_fixture_t f;
        assert_int_equal(load_text("{\"timestamp\": 1}\n", NULL, &f), -1);
        assert_string_equal(fx_err, "1: no 'topic': give each record a "
                                    "\"topic\" or name a default topic "
                                    "(--topic)");
}

static void test_header_errors(void **state)
{
        (void)state;
        assert_fails("{\"timestamp\": 1, \"headers\": {\"h\": \"v\"}}",
                     "1: 'headers' must be an array of [name, value] pairs, "
                     "e.g. [[\"trace\", \"abc\"]]");
        assert_fails("{\"timestamp\": 1, \"headers\": [[\"a\", \"b\"], "
                     "[\"h\"]]}",
                     "1: header 2 must be a [name, value] pair, e.g. "
                     "[\"trace\", \"abc\"]");
        assert_fails("{\"timestamp\": 1, \"headers\": [\"h\"]}",
                     "1: header 1 must be a [name, value] pair, e.g. "
                     "[\"trace\", \"abc\"]");
        assert_fails("{\"timestamp\": 1, \"headers\": [[null, \"v\"]]}",
                     "1: header 1: the name must be a string without NUL "
                     "characters");
        assert_fails("{\"timestamp\": 1, \"headers\": [[\"a\\u0000\", "
                     "\"v\"]]}",
                     "1: header 1: the name must be a string without NUL "
                     "characters");
        assert_fails("{\"timestamp\": 1, \"headers\": [[\"h\", 1]]}",
                     "1: header 1 ('h'): the value must be a string or null");
}

static void test_line_errors(void **state)
{
        (void)state;
        assert_fails("{\"timestamp\": 1}\n\n\n{\"timestamp\": 1,}\n",
                     "4: not JSON: string or '}' expected near '}' (column "
                     "17); write one JSON object a line");
        assert_fails("{\"timestamp\": 1}\n[1, 2]\n",
                     "2: a record must be a JSON object, e.g. {\"timestamp\": "
                     "1669078800000, \"value\": \"v\"}");
        assert_fails("{\"timestamp\": 1} {\"timestamp\": 2}\n",
                     "1: not JSON: end of file expected near '{' (column 18); "
                     "write one JSON object a line");

        km_fixture_t f;
        char err[512];
        assert_int_equal(km_fixture_load("/no/such/fixture.jsonl", "t", &f, err,
                                         sizeof(err)),
                         -1);
        assert_string_equal(err, "cannot open '/no/such/fixture.jsonl': No "
                                 "such file or directory");
        assert_int_equal(f.count, 0);
        km_fixture_free(&f); /* harmless after a failed load */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_field),
                cmocka_unit_test(test_value_forms),
                cmocka_unit_test(test_key_forms),
                cmocka_unit_test(test_base64),
                cmocka_unit_test(test_headers),
                cmocka_unit_test(test_defaults_and_blank_lines),
                cmocka_unit_test(test_field_errors),
                cmocka_unit_test(test_base64_errors),
                cmocka_unit_test(test_scalar_errors),
                cmocka_unit_test(test_header_errors),
                cmocka_unit_test(test_line_errors),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
