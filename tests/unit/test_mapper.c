/* test_mapper.c - records to rows: record fields under every serde, JSON
 * paths on the seed's value, every type conversion and dirty reason,
 * encodings, headers, constants and MaxCompute's limits. */
#include "km_test.h"

#include "kmsync/mapper.h"

#define CONNS                                                                 \
        "KAFKA CONNECTION k BROKERS 'b:9092';\n"                              \
        "MAXCOMPUTE CONNECTION m ENDPOINT 'http://mc.example/api' PROJECT p\n" \
        "  ACCESS KEY ENV('A') SECRET ENV('S');\n"

#define SEED_VALUE                                                            \
        "{\"a\":{\"a1\":\"hello\"},\"b\":\"world\","                          \
        "\"c\":[\"xxxxxxx\",\"yyyyyyy\"],"                                    \
        "\"d\":[{\"AA\":\"this\",\"BB\":\"is_data\"},"                        \
        "{\"AA\":\"that\",\"BB\":\"is_also_data\"}],"                         \
        "\"a.b\":\"unreachable\"}"

enum { MAXCOLS = 32 };

/* A compiled SYNC, its mapper, and the last row or reason. */
typedef struct fx {
        km_compiled_t c;
        km_mapper_t *m;
        km_cell_t cells[MAXCOLS];
        char reason[512];
        char text[MAXCOLS][256]; /* cells as text, see cell_text() */
} fx_t;

/* Compiles one SYNC with `clauses` (KEY/VALUE/ENCODING/MAP ...) in zone
 * tz. */
static void fx_compile(fx_t *f, const char *tz, const char *clauses)
{
        char text[4096];
        memset(f, 0, sizeof(*f));
        snprintf(text, sizeof(text),
                 CONNS "SYNC s FROM k INTO m.t TIMEZONE '%s'\n"
                       "  WINDOW FROM '$[yyyymmdd-1]' TO '$[yyyymmdd]'\n"
                       "  %s;\n",
                 tz, clauses);
        f->c = km_test_compile(text);
        assert_compiles(f->c);
}

/* The same, and its mapper. */
static void fx_open_tz(fx_t *f, const char *tz, const char *clauses)
{
        char err[256];
        fx_compile(f, tz, clauses);
        f->m = km_mapper_new(f->c.plan->syncs[0], err, sizeof(err));
        if (!f->m)
                fail_msg("km_mapper_new: %s", err);
}

static void fx_open(fx_t *f, const char *clauses)
{
        fx_open_tz(f, "Asia/Shanghai", clauses);
}

static void fx_close(fx_t *f)
{
        km_mapper_free(f->m);
        km_test_release(&f->c);
}

static km_record_t record(const void *value, size_t value_len)
{
        km_record_t r = {
                .topic = "orders",
                .partition = 2,
                .offset = 41,
                .timestamp_ms = 1669078800123LL,
                .key = "k1",
                .key_len = 2,
                .value = value,
                .value_len = value_len,
        };
        return r;
}

static km_record_t json_record(const char *value)
{
        return record(value, value ? strlen(value) : 0);
}

/* A cell as text: NULL, 42, 1.5 (%.17g), true/false, the string or
 * decimal text, or ms for a DATETIME ("@1669078800000"). */
static const char *cell_text(const km_cell_t *cell, char *buf, size_t len)
{
        switch (cell->kind) {
        case KM_CELL_NULL:
                snprintf(buf, len, "NULL");
                break;
        case KM_CELL_BIGINT:
                snprintf(buf, len, "%lld", (long long)cell->i);
                break;
        case KM_CELL_DOUBLE:
                snprintf(buf, len, "%.17g", cell->d);
                break;
        case KM_CELL_BOOLEAN:
                snprintf(buf, len, "%s", cell->i ? "true" : "false");
                break;
        case KM_CELL_DATETIME:
                snprintf(buf, len, "@%lld", (long long)cell->i);
                break;
        case KM_CELL_STRING:
        case KM_CELL_DECIMAL:
                snprintf(buf, len, "%.*s", (int)cell->len, cell->s);
                break;
        }
        return buf;
}

/* Maps r; 0 with the cells as text in f->text, or -1 with f->reason. */
static int fx_map(fx_t *f, const km_record_t *r)
{
        f->reason[0] = '\0';
        int rc = km_mapper_map(f->m, r, f->cells, f->reason,
                               sizeof(f->reason));
        if (rc != 0)
                return rc;
        const km_sync_plan_t *s = f->c.plan->syncs[0];
        for (int i = 0; i < s->ncolumns && i < MAXCOLS; i++)
                cell_text(&f->cells[i], f->text[i], sizeof(f->text[i]));
        return 0;
}

static void fx_map_ok(fx_t *f, const km_record_t *r)
{
        if (fx_map(f, r) != 0)
                fail_msg("unexpectedly dirty: %s", f->reason);
}

static void fx_map_dirty(fx_t *f, const km_record_t *r, const char *reason)
{
        if (fx_map(f, r) == 0)
                fail_msg("expected dirty (%s), got a row", reason);
        assert_string_equal(f->reason, reason);
}

/* One conversion case: the JSON text of x, and the cell as cell_text()
 * shows it, or "!" and the whole reason. */
typedef struct conv_case {
        const char *json;
        const char *want;
} conv_case_t;

/* Maps {"x": <json>} through `x AS x <type>` for every case. */
static void run_cases(const char *tz, const char *type,
                      const conv_case_t *cases, size_t n)
{
        fx_t f;
        char clause[128], value[256];
        snprintf(clause, sizeof(clause), "MAP (x AS x %s)", type);
        fx_open_tz(&f, tz, clause);
        for (size_t i = 0; i < n; i++) {
                snprintf(value, sizeof(value), "{\"x\":%s}", cases[i].json);
                km_record_t r = json_record(value);
                int rc = fx_map(&f, &r);
                const char *got = rc == 0 ? f.text[0] : f.reason;
                const char *want = cases[i].want;
                int dirty = want[0] == '!';
                if (rc != -dirty || strcmp(got, want + dirty) != 0)
                        fail_msg("%s from %s: got %s%s, want %s", type,
                                 cases[i].json, rc ? "!" : "", got, want);
        }
        fx_close(&f);
}

#define RUN_CASES(tz, type, cases)                                            \
        run_cases(tz, type, cases, sizeof(cases) / sizeof(cases[0]))

/* ------------------------------------------------------------ JSON paths */

static void test_seed_paths(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "MAP (a.a1 AS a1, b AS b, c[1] AS c1, d[0].AA AS aa,\n"
                    "  `a.b` AS ab, a.b AS a_b, d[1].BB AS bb, c[0] AS c0,\n"
                    "  d AS d, a AS a, c AS c)");
        km_record_t r = json_record(SEED_VALUE);
        fx_map_ok(&f, &r);
        assert_string_equal(f.text[0], "hello");
        assert_string_equal(f.text[1], "world");
        assert_string_equal(f.text[2], "yyyyyyy");
        assert_string_equal(f.text[3], "this");
        assert_string_equal(f.text[4], "unreachable");
        assert_int_equal(f.cells[5].kind, KM_CELL_NULL); /* a.b */
        assert_string_equal(f.text[6], "is_also_data");
        assert_string_equal(f.text[7], "xxxxxxx");
        assert_string_equal(f.text[8],
                            "[{\"AA\":\"this\",\"BB\":\"is_data\"},"
                            "{\"AA\":\"that\",\"BB\":\"is_also_data\"}]");
        assert_string_equal(f.text[9], "{\"a1\":\"hello\"}");
        assert_string_equal(f.text[10], "[\"xxxxxxx\",\"yyyyyyy\"]");
        assert_int_equal(f.cells[0].kind, KM_CELL_STRING);
        assert_int_equal(f.cells[0].len, 5);
        fx_close(&f);
}

static void test_missing_paths_are_null(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "MAP (nope AS n1, a.nope AS n2, c[2] AS n3, b.x AS n4,\n"
                    "  b[0] AS n5, a[0] AS n6, c.x AS n7, d[0].AA.x AS n8,\n"
                    "  d[9].AA AS n9, a.a1 AS ok)");
        km_record_t r = json_record(SEED_VALUE);
        fx_map_ok(&f, &r);
        for (int i = 0; i < 9; i++)
                assert_int_equal(f.cells[i].kind, KM_CELL_NULL);
        assert_string_equal(f.text[9], "hello");
        fx_close(&f);
}

static void test_json_null_and_scalar_documents(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "MAP (x AS x, x.y AS xy BIGINT, __value__ AS v)");
        km_record_t r = json_record("{\"x\":null}");
        fx_map_ok(&f, &r);
        assert_int_equal(f.cells[0].kind, KM_CELL_NULL);
        assert_int_equal(f.cells[1].kind, KM_CELL_NULL);
        /* A value that is JSON but no object: every path is NULL. */
        const char *scalars[] = {"42", "\"text\"", "null", "true", "[1,2]"};
        for (size_t i = 0; i < 5; i++) {
                r = json_record(scalars[i]);
                fx_map_ok(&f, &r);
                assert_int_equal(f.cells[0].kind, KM_CELL_NULL);
                assert_string_equal(f.text[2], scalars[i]);
        }
        /* Members are matched exactly, including NUL bytes in values. */
        r = json_record("{\"x\":\"a\\u0000b\",\"X\":1}");
        fx_map_ok(&f, &r);
        assert_int_equal(f.cells[0].len, 3);
        assert_memory_equal(f.cells[0].s, "a\0b", 3);
        fx_close(&f);
}

static void test_tombstone(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "MAP (a.a1 AS a1, b AS b BIGINT, __value__ AS v,\n"
                    "  __key__ AS k)");
        km_record_t r = json_record(NULL);
        fx_map_ok(&f, &r);
        assert_int_equal(f.cells[0].kind, KM_CELL_NULL);
        assert_int_equal(f.cells[1].kind, KM_CELL_NULL);
        assert_int_equal(f.cells[2].kind, KM_CELL_NULL);
        assert_string_equal(f.text[3], "k1");
        r.key = NULL;
        fx_map_ok(&f, &r);
        assert_int_equal(f.cells[3].kind, KM_CELL_NULL);
        fx_close(&f);
}

static void test_value_not_json(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "MAP (a.a1 AS a1)");
        km_record_t r = json_record("{\"a\": ");
        fx_map_dirty(&f, &r,
                     "value is not JSON: unexpected token near end of file "
                     "at byte 6");
        r = json_record("");
        assert_int_equal(fx_map(&f, &r), -1);
        assert_non_null(strstr(f.reason, "value is not JSON: "));
        r = json_record("{\"a\":1} trailing");
        assert_int_equal(fx_map(&f, &r), -1);
        assert_non_null(strstr(f.reason, "end of file expected"));
        /* jansson's quote of the input is cut to 60 bytes. */
        char big[400];
        memset(big, 'z', sizeof(big));
        memcpy(big, "{\"a\":", 5);
        r = record(big, sizeof(big));
        assert_int_equal(fx_map(&f, &r), -1);
        assert_non_null(strstr(f.reason, "value is not JSON: "));
        assert_null(strstr(f.reason, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
                                     "zzzzzzzzzzzzzzzzzzzzzz"));
        /* Invalid UTF-8 inside the JSON. */
        r = record("{\"a\":\"\xff\"}", 9);
        assert_int_equal(fx_map(&f, &r), -1);
        assert_non_null(strstr(f.reason, "value is not JSON: "));
        assert_null(strchr(f.reason, '\xff'));
        fx_close(&f);
}

/* What the one-pass extractor keeps from the jansson tree it replaced: a
 * repeated key's last value (an object's text keeps the key at its first
 * place), jansson's reason for what it rejects anywhere in the value, even
 * after every mapped path, and reals of many digits. */
static void test_paths_keep_jansson_rules(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "MAP (x AS x, o AS o, r AS r DOUBLE, o.b AS ob BIGINT)");
        km_record_t r = json_record(
                "{\"x\":2,\"o\":{\"b\":1,\"a\":2,\"b\":3},\"x\":3,"
                "\"r\":1.00000000000000011102230246251565404236316680908203125}");
        fx_map_ok(&f, &r);
        assert_string_equal(f.text[0], "3");
        assert_string_equal(f.text[1], "{\"b\":3,\"a\":2}");
        assert_string_equal(f.text[2], "1");
        assert_string_equal(f.text[3], "3");
        r = json_record("{\"x\":1,\"o\":{},\"r\":0,\"big\":99999999999999999999}");
        fx_map_dirty(&f, &r,
                     "value is not JSON: too big integer near "
                     "'99999999999999999999' at byte 46");
        r = json_record("{\"x\":1,\"k\\u0000\":2}");
        fx_map_dirty(&f, &r,
                     "value is not JSON: NUL byte in object key not supported "
                     "near '\"k\\\\u0000\"' at byte 16");
        r = json_record("{\"x\":1,\"y\":[1,tru]}");
        fx_map_dirty(&f, &r,
                     "value is not JSON: invalid token near 'tru' at byte 17");
        r = json_record("{\"x\":1,\"y\":\"\\ud800\"}");
        assert_int_equal(fx_map(&f, &r), -1);
        assert_non_null(strstr(f.reason, "value is not JSON: "));
        fx_close(&f);
}

static void test_objects_and_numbers_as_text(void **state)
{
        (void)state;
        static const conv_case_t cases[] = {
                {"\"plain\"", "plain"},
                {"42", "42"},
                {"-9223372036854775808", "-9223372036854775808"},
                {"0.1", "0.1"},
                {"1.0", "1.0"},
                {"-2.5e-7", "-2.5e-07"},
                {"1e20", "1e+20"},
                {"0.30000000000000004", "0.30000000000000004"},
                {"true", "true"},
                {"false", "false"},
                {"{}", "{}"},
                {"[]", "[]"},
                {"{\"k\": [1, 2.5, \"q\\\"\\n\\u0001/\", null, true, {}]}",
                 "{\"k\":[1,2.5,\"q\\\"\\n\\u0001/\",null,true,{}]}"},
                {"{\"z\":1,\"a\":2,\"m\":3}", "{\"z\":1,\"a\":2,\"m\":3}"},
                {"\"\\u4f60\\u597d\"", "你好"},
                {"{\"s\":\"你好\"}", "{\"s\":\"你好\"}"},
                {"null", "NULL"},
        };
        RUN_CASES("UTC", "STRING", cases);
}

/* ----------------------------------------------------------- conversions */

static void test_to_bigint(void **state)
{
        (void)state;
        static const conv_case_t cases[] = {
                {"42", "42"},
                {"-7", "-7"},
                {"9223372036854775807", "9223372036854775807"},
                {"2.0", "2"},
                {"-1e15", "-1000000000000000"},
                {"\"123\"", "123"},
                {"\"-45\"", "-45"},
                {"\"+7\"", "7"},
                {"\"007\"", "7"},
                {"true", "1"},
                {"false", "0"},
                {"null", "NULL"},
                {"2.5", "!column x: 2.5 is not a whole number (BIGINT)"},
                {"1e99", "!column x: 1e+99 does not fit BIGINT"},
                {"9.3e18", "!column x: 9.3e+18 does not fit BIGINT"},
                {"-9223372036854775808",
                 "!column x: -9223372036854775808 does not fit BIGINT"},
                {"\"-9223372036854775808\"",
                 "!column x: \"-9223372036854775808\" does not fit BIGINT"},
                {"\"99999999999999999999\"",
                 "!column x: \"99999999999999999999\" does not fit BIGINT"},
                {"\"abc\"", "!column x: \"abc\" is not a BIGINT"},
                {"\" 1\"", "!column x: \" 1\" is not a BIGINT"},
                {"\"1.0\"", "!column x: \"1.0\" is not a BIGINT"},
                {"\"\"", "!column x: \"\" is not a BIGINT"},
                {"\"-\"", "!column x: \"-\" is not a BIGINT"},
                {"{\"a\":1}", "!column x: an object is not a BIGINT"},
                {"[1]", "!column x: an array is not a BIGINT"},
        };
        RUN_CASES("UTC", "BIGINT", cases);
}

static void test_to_double(void **state)
{
        (void)state;
        static const conv_case_t cases[] = {
                {"1", "1"},
                {"1.5", "1.5"},
                {"-0.25", "-0.25"},
                {"9007199254740993", "9007199254740992"},
                {"\"2.5\"", "2.5"},
                {"\"1e3\"", "1000"},
                {"\"-.5\"", "-0.5"},
                {"\"1e-999\"", "0"},
                {"null", "NULL"},
                {"\"abc\"", "!column x: \"abc\" is not a DOUBLE"},
                {"\"0x10\"", "!column x: \"0x10\" is not a DOUBLE"},
                {"\"nan\"", "!column x: \"nan\" is not a DOUBLE"},
                {"\"inf\"", "!column x: \"inf\" is not a DOUBLE"},
                {"\" 1\"", "!column x: \" 1\" is not a DOUBLE"},
                {"\"1e999\"", "!column x: \"1e999\" does not fit DOUBLE"},
                {"true", "!column x: true is not a DOUBLE"},
                {"[1.5]", "!column x: an array is not a DOUBLE"},
        };
        RUN_CASES("UTC", "DOUBLE", cases);
}

static void test_to_boolean(void **state)
{
        (void)state;
        static const conv_case_t cases[] = {
                {"true", "true"},
                {"false", "false"},
                {"\"TRUE\"", "true"},
                {"\"False\"", "false"},
                {"1", "true"},
                {"0", "false"},
                {"null", "NULL"},
                {"2", "!column x: 2 is not a BOOLEAN (true, false, 0 or 1)"},
                {"-1", "!column x: -1 is not a BOOLEAN (true, false, 0 or 1)"},
                {"1.0",
                 "!column x: 1.0 is not a BOOLEAN (true, false, 0 or 1)"},
                {"\"yes\"",
                 "!column x: \"yes\" is not a BOOLEAN (true, false, 0 or 1)"},
                {"\"1\"",
                 "!column x: \"1\" is not a BOOLEAN (true, false, 0 or 1)"},
                {"{}",
                 "!column x: an object is not a BOOLEAN (true, false, 0 or "
                 "1)"},
        };
        RUN_CASES("UTC", "BOOLEAN", cases);
}

#define NOT_DATETIME                                                          \
        " is not a DATETIME ('YYYY-MM-DD HH:MM:SS[.fff]', T, Z and +hh:mm "   \
        "allowed, or epoch milliseconds)"

static void test_to_datetime(void **state)
{
        (void)state;
        /* 2022-11-22 09:00:00 in Shanghai is 01:00 UTC. */
        static const conv_case_t cases[] = {
                {"1669078800000", "@1669078800000"},
                {"-1", "@-1"},
                {"1669078800000.0", "@1669078800000"},
                {"\"2022-11-22 09:00:00\"", "@1669078800000"},
                {"\"2022-11-22T09:00:00\"", "@1669078800000"},
                {"\"2022-11-22 09:00\"", "@1669078800000"},
                {"\"2022-11-22\"", "@1669046400000"},
                {"\"2022-11-22 09:00:00.123\"", "@1669078800123"},
                {"\"2022-11-22 09:00:00.5\"", "@1669078800500"},
                {"\"2022-11-22 09:00:00.123999999\"", "@1669078800123"},
                {"\"2022-11-22T01:00:00Z\"", "@1669078800000"},
                {"\"2022-11-22T01:00:00.250Z\"", "@1669078800250"},
                {"\"2022-11-22T09:00:00+08:00\"", "@1669078800000"},
                {"\"2022-11-22T03:30:00+0230\"", "@1669078800000"},
                {"\"2022-11-21T20:00:00-05\"", "@1669078800000"},
                {"\"9999-12-31 23:59:59\"", "@253402271999000"},
                {"\"1970-01-01T00:00:00Z\"", "@0"},
                {"null", "NULL"},
                {"\"2022-02-30 00:00:00\"", "!column x: \"2022-02-30 00:00:00\""
                                            NOT_DATETIME},
                {"\"2022-11-22 24:00:00\"", "!column x: \"2022-11-22 24:00:00\""
                                            NOT_DATETIME},
                {"\"2022-11-22 09:00:00 \"",
                 "!column x: \"2022-11-22 09:00:00 \"" NOT_DATETIME},
                {"\"2022-11-22Z\"", "!column x: \"2022-11-22Z\"" NOT_DATETIME},
                {"\"2022-11-22 09:00:00.\"",
                 "!column x: \"2022-11-22 09:00:00.\"" NOT_DATETIME},
                {"\"2022-11-22 09:00:00+24:00\"",
                 "!column x: \"2022-11-22 09:00:00+24:00\"" NOT_DATETIME},
                {"\"22-11-22\"", "!column x: \"22-11-22\"" NOT_DATETIME},
                {"\"20221122\"", "!column x: \"20221122\"" NOT_DATETIME},
                {"\"1669078800000\"",
                 "!column x: \"1669078800000\"" NOT_DATETIME},
                {"1.5", "!column x: 1.5" NOT_DATETIME},
                {"true", "!column x: true" NOT_DATETIME},
                {"{}", "!column x: an object" NOT_DATETIME},
                {"253402300800000",
                 "!column x: 253402300800000 is outside DATETIME's range "
                 "0001-01-01 to 9999-12-31"},
                {"\"0001-01-01 00:00:00\"",
                 "!column x: \"0001-01-01 00:00:00\" is outside DATETIME's "
                 "range 0001-01-01 to 9999-12-31"},
        };
        RUN_CASES("Asia/Shanghai", "DATETIME", cases);
}

static void test_datetime_dst(void **state)
{
        (void)state;
        static const conv_case_t cases[] = {
                /* In the spring-forward gap: moved forward, as mktime(). */
                {"\"2024-03-10 02:30:00\"", "@1710055800000"},
                /* Twice on the fall-back night: the earlier instant. */
                {"\"2024-11-03 01:30:00\"", "@1730611800000"},
                {"\"0001-01-01 00:00:00Z\"", "@-62135596800000"},
        };
        RUN_CASES("America/New_York", "DATETIME", cases);
}

static void test_to_decimal(void **state)
{
        (void)state;
        static const conv_case_t cases[] = {
                {"12.5", "12.50"},
                {"12", "12.00"},
                {"0", "0.00"},
                {"0.1", "0.10"},
                {"\"12.345\"", "12.35"},
                {"\"12.344\"", "12.34"},
                {"\"-12.345\"", "-12.35"},
                {"\"-0.001\"", "0.00"},
                {"\"-0.005\"", "-0.01"},
                {"\"99999999.994\"", "99999999.99"},
                {"\"1e3\"", "1000.00"},
                {"\"1.5E-1\"", "0.15"},
                {"1e-7", "0.00"},
                {"\".5\"", "0.50"},
                {"\"5.\"", "5.00"},
                {"\"+3\"", "3.00"},
                {"\"00012.1\"", "12.10"},
                {"\"0e999999999999\"", "0.00"},
                {"\"1e-999999999999\"", "0.00"},
                {"null", "NULL"},
                {"\"99999999.995\"",
                 "!column x: \"99999999.995\" has more than 8 integer digits "
                 "for DECIMAL(10,2)"},
                {"123456789",
                 "!column x: 123456789 has more than 8 integer digits for "
                 "DECIMAL(10,2)"},
                {"\"1e999999999999\"",
                 "!column x: \"1e999999999999\" has more than 8 integer "
                 "digits for DECIMAL(10,2)"},
                {"\"abc\"", "!column x: \"abc\" is not a DECIMAL"},
                {"\"1.2.3\"", "!column x: \"1.2.3\" is not a DECIMAL"},
                {"\"1e\"", "!column x: \"1e\" is not a DECIMAL"},
                {"\".\"", "!column x: \".\" is not a DECIMAL"},
                {"true", "!column x: true is not a DECIMAL"},
                {"[1]", "!column x: an array is not a DECIMAL"},
        };
        RUN_CASES("UTC", "DECIMAL(10,2)", cases);
        static const conv_case_t scale0[] = {
                {"2.5", "3"},
                {"-2.5", "-3"},
                {"0.4", "0"},
                {"0.5", "1"},
                {"99999.4", "99999"},
                {"99999.5", "!column x: 99999.5 has more than 5 integer "
                             "digits for DECIMAL(5,0)"},
        };
        RUN_CASES("UTC", "DECIMAL(5,0)", scale0);
        static const conv_case_t wide[] = {
                {"\"12345678901234567890.123456789012345678\"",
                 "12345678901234567890.123456789012345678"},
                {"-9223372036854775807", "-9223372036854775807."
                                         "000000000000000000"},
                {"\"0.0000000000000000005\"", "0.000000000000000001"},
        };
        RUN_CASES("UTC", "DECIMAL(38,18)", wide);
}

/* --------------------------------------------------------- record fields */

static void test_default_columns(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "KEY STRING VALUE JSON");
        km_header_t h[] = {{"trace", 5, "t-1", 3}};
        km_record_t r = json_record(SEED_VALUE);
        r.headers = h;
        r.nheaders = 1;
        fx_map_ok(&f, &r);
        assert_string_equal(f.text[0], "k1");
        assert_string_equal(f.text[1], SEED_VALUE);
        assert_int_equal(f.cells[2].kind, KM_CELL_BIGINT);
        assert_int_equal(f.cells[2].i, 2);
        assert_string_equal(f.text[3], "{\"trace\":\"t-1\"}");
        assert_int_equal(f.cells[4].i, 41);
        assert_int_equal(f.cells[5].i, 1669078800123LL);
        fx_close(&f);
}

static void test_numeric_fields_convert(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "MAP (__timestamp__ AS ts DATETIME, __offset__ AS o "
                    "STRING,\n"
                    "  __partition__ AS p DOUBLE)");
        km_record_t r = json_record("{}");
        fx_map_ok(&f, &r);
        assert_int_equal(f.cells[0].kind, KM_CELL_DATETIME);
        assert_string_equal(f.text[0], "@1669078800123");
        assert_int_equal(f.cells[1].kind, KM_CELL_STRING);
        assert_string_equal(f.text[1], "41");
        assert_int_equal(f.cells[2].kind, KM_CELL_DOUBLE);
        assert_string_equal(f.text[2], "2");
        r.timestamp_ms = 253402300800000LL;
        fx_map_dirty(&f, &r,
                     "column ts: 253402300800000 is outside DATETIME's range "
                     "0001-01-01 to 9999-12-31");
        fx_close(&f);
        fx_open(&f, "MAP (__offset__ AS o DECIMAL(20,2), __timestamp__ AS t "
                    "STRING,\n"
                    "  __partition__ AS p)");
        r = json_record("{}");
        fx_map_ok(&f, &r);
        assert_int_equal(f.cells[0].kind, KM_CELL_DECIMAL);
        assert_string_equal(f.text[0], "41.00");
        assert_string_equal(f.text[1], "1669078800123");
        assert_int_equal(f.cells[2].kind, KM_CELL_BIGINT);
        assert_int_equal(f.cells[2].i, 2);
        fx_close(&f);
}

static void test_string_serde_utf8(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "KEY STRING VALUE STRING MAP (__key__ AS k, __value__ AS "
                    "v)");
        km_record_t r = json_record("plain text, not JSON 😀");
        fx_map_ok(&f, &r);
        assert_string_equal(f.text[0], "k1");
        assert_string_equal(f.text[1], "plain text, not JSON 😀");
        const char *bad[] = {"ab\xff\x63\x64", "\xc0\xaf", "\xed\xa0\x80",
                             "\xf4\x90\x80\x80", "abc\xe4\xbd"};
        const char *why[] = {
                "column v: __value__ is not valid UTF-8 at byte 2: "
                "\"ab\\xffcd\"",
                "column v: __value__ is not valid UTF-8 at byte 0: "
                "\"\\xc0\\xaf\"",
                "column v: __value__ is not valid UTF-8 at byte 0: "
                "\"\\xed\\xa0\\x80\"",
                "column v: __value__ is not valid UTF-8 at byte 0: "
                "\"\\xf4\\x90\\x80\\x80\"",
                "column v: __value__ is not valid UTF-8 at byte 3: "
                "\"abc\\xe4\\xbd\"",
        };
        for (int i = 0; i < 5; i++) {
                r = json_record(bad[i]);
                fx_map_dirty(&f, &r, why[i]);
        }
        /* Far into a long value: the quote starts near the bad byte. */
        char longv[300];
        memset(longv, 'a', sizeof(longv));
        longv[200] = '\xfe';
        r = record(longv, sizeof(longv));
        fx_map_dirty(&f, &r,
                     "column v: __value__ is not valid UTF-8 at byte 200: "
                     "...\"aaaaaaaaaaaaaaaaaaaa\\xfeaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aaaaaaaaaaaaa\"...");
        fx_close(&f);
}

static void test_string_serde_converts(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "KEY STRING VALUE STRING MAP (__key__ AS k BIGINT,\n"
                    "  __value__ AS v DECIMAL(6,1))");
        km_record_t r = record("3.25", 4);
        r.key = "-17";
        r.key_len = 3;
        fx_map_ok(&f, &r);
        assert_string_equal(f.text[0], "-17");
        assert_string_equal(f.text[1], "3.3");
        r.key = "17x";
        fx_map_dirty(&f, &r, "column k: \"17x\" is not a BIGINT");
        fx_close(&f);
}

static void test_encoding_gbk(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "KEY STRING VALUE STRING ENCODING 'GBK'\n"
                    "  MAP (__key__ AS k, __value__ AS v)");
        km_record_t r = record("\xc4\xe3\xba\xc3, world", 11);
        r.key = "abc";
        r.key_len = 3;
        fx_map_ok(&f, &r);
        assert_string_equal(f.text[0], "abc");
        assert_string_equal(f.text[1], "你好, world");
        assert_int_equal(f.cells[1].len, strlen("你好, world"));
        r = record("ok\xff\xff", 4);
        fx_map_dirty(&f, &r,
                     "column v: __value__ is not valid GBK at byte 2: "
                     "\"ok\\xff\\xff\"");
        r = record("\xc4\xe3\xba", 3); /* ends inside a character */
        fx_map_dirty(&f, &r,
                     "column v: __value__ is not valid GBK at byte 2: "
                     "\"\\xc4\\xe3\\xba\"");
        /* Long text grows the scratch buffer while converting. */
        size_t n = 100000;
        char *big = malloc(n);
        for (size_t i = 0; i < n; i += 2)
                memcpy(big + i, "\xc4\xe3", 2);
        r = record(big, n);
        fx_map_ok(&f, &r);
        assert_int_equal(f.cells[1].len, n / 2 * 3);
        assert_memory_equal(f.cells[1].s + f.cells[1].len - 3, "你", 3);
        assert_string_equal(f.text[0], "k1");
        free(big);
        fx_close(&f);
}

static void test_unknown_encoding(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "KEY STRING VALUE STRING");
        km_sync_plan_t copy = *f.c.plan->syncs[0];
        copy.encoding = "NO-SUCH-ENCODING";
        char err[256];
        assert_null(km_mapper_new(&copy, err, sizeof(err)));
        assert_non_null(strstr(err, "cannot convert ENCODING "
                                    "'NO-SUCH-ENCODING' to UTF-8"));
        copy.encoding = "utf8";
        km_mapper_t *m = km_mapper_new(&copy, err, sizeof(err));
        assert_non_null(m);
        km_mapper_free(m);
        fx_close(&f);
}

static void test_bytes_serde_base64(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "KEY BYTES VALUE BYTES MAP (__key__ AS k, __value__ AS "
                    "v)");
        km_record_t r = record("\x00\xff\x10", 3);
        r.key = "hello";
        r.key_len = 5;
        fx_map_ok(&f, &r);
        assert_string_equal(f.text[0], "aGVsbG8=");
        assert_string_equal(f.text[1], "AP8Q");
        r = record("", 0);
        fx_map_ok(&f, &r);
        assert_string_equal(f.text[1], "");
        assert_int_equal(f.cells[1].kind, KM_CELL_STRING);
        r = record(NULL, 0);
        fx_map_ok(&f, &r);
        assert_int_equal(f.cells[1].kind, KM_CELL_NULL);
        fx_close(&f);
}

static void test_json_serde_field(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "KEY JSON VALUE JSON MAP (__key__ AS k, __value__ AS v)");
        /* The text as is, not parsed (no path is mapped). */
        km_record_t r = json_record("{ \"a\" : 1 }");
        r.key = "not json";
        r.key_len = 8;
        fx_map_ok(&f, &r);
        assert_string_equal(f.text[0], "not json");
        assert_string_equal(f.text[1], "{ \"a\" : 1 }");
        r = record("\"\xff\"", 3);
        fx_map_dirty(&f, &r,
                     "column v: __value__ is not valid UTF-8 at byte 1: "
                     "\"\\\"\\xff\\\"\"");
        fx_close(&f);
}

static void be_bytes(uint64_t v, char out[8])
{
        for (int i = 7; i >= 0; i--, v >>= 8)
                out[i] = (char)(v & 0xff);
}

static void test_long_serde(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "KEY LONG VALUE LONG MAP (__key__ AS k, __value__ AS v "
                    "STRING)");
        char kb[8], vb[8];
        be_bytes(256, kb);
        be_bytes((uint64_t)-1, vb);
        km_record_t r = record(vb, 8);
        r.key = kb;
        r.key_len = 8;
        fx_map_ok(&f, &r);
        assert_int_equal(f.cells[0].kind, KM_CELL_BIGINT);
        assert_int_equal(f.cells[0].i, 256);
        assert_string_equal(f.text[1], "-1");
        be_bytes(0x7fffffffffffffffULL, vb);
        fx_map_ok(&f, &r);
        assert_string_equal(f.text[1], "9223372036854775807");
        be_bytes(0x8000000000000000ULL, kb);
        fx_map_dirty(&f, &r,
                     "column k: -9223372036854775808 does not fit BIGINT");
        r.key_len = 3;
        fx_map_dirty(&f, &r, "column k: __key__ has 3 bytes, a LONG has 8");
        r.key = NULL;
        fx_map_ok(&f, &r);
        assert_int_equal(f.cells[0].kind, KM_CELL_NULL);
        fx_close(&f);
}

static void test_double_serde(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "KEY DOUBLE VALUE DOUBLE MAP (__key__ AS k, __value__ AS "
                    "v STRING)");
        char kb[8], vb[8];
        be_bytes(0x3FF8000000000000ULL, kb); /* 1.5 */
        be_bytes(0x3FB999999999999AULL, vb); /* 0.1 */
        km_record_t r = record(vb, 8);
        r.key = kb;
        r.key_len = 8;
        fx_map_ok(&f, &r);
        assert_int_equal(f.cells[0].kind, KM_CELL_DOUBLE);
        assert_true(f.cells[0].d == 1.5);
        assert_string_equal(f.text[1], "0.1");
        be_bytes(0x7FF0000000000000ULL, vb); /* +inf as text */
        fx_map_ok(&f, &r);
        assert_string_equal(f.text[1], "Infinity");
        be_bytes(0x7FF8000000000000ULL, kb); /* NaN */
        fx_map_dirty(&f, &r, "column k: NaN is not a finite DOUBLE");
        r.key_len = 9;
        fx_map_dirty(&f, &r, "column k: __key__ has 9 bytes, a DOUBLE has 8");
        fx_close(&f);
}

/* --------------------------------------------------------------- headers */

static void test_headers_json(void **state)
{
        (void)state;
        km_record_t r = json_record("{}");
        char *j = km_headers_json(&r);
        assert_string_equal(j, "{}");
        free(j);
        km_header_t h[] = {
                {"b", 1, "1", 1},      {"a", 1, "x", 1},
                {"b", 1, NULL, 0},     {"c", 1, "q\"\n\x01", 4},
                {"b", 1, "3", 1},      {"ab", 2, "你好", 6},
                {"e", 1, "", 0},
        };
        r.headers = h;
        r.nheaders = sizeof(h) / sizeof(h[0]);
        j = km_headers_json(&r);
        assert_string_equal(j, "{\"b\":[\"1\",null,\"3\"],\"a\":\"x\","
                               "\"c\":\"q\\\"\\n\\u0001\",\"ab\":\"你好\","
                               "\"e\":\"\"}");
        free(j);
        km_header_t one[] = {{"n", 1, NULL, 0}};
        r.headers = one;
        r.nheaders = 1;
        j = km_headers_json(&r);
        assert_string_equal(j, "{\"n\":null}");
        free(j);
        km_header_t bad[] = {{"ok", 2, "v", 1}, {"bad", 3, "\xff", 1}};
        r.headers = bad;
        r.nheaders = 2;
        assert_null(km_headers_json(&r));
        km_header_t badrep[] = {{"r", 1, "v", 1}, {"r", 1, "\xc3", 1}};
        r.headers = badrep;
        assert_null(km_headers_json(&r));
        km_header_t badname[] = {{"\xff", 1, "v", 1}};
        r.headers = badname;
        r.nheaders = 1;
        assert_null(km_headers_json(&r));
}

static void test_headers_column(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "MAP (__headers__ AS h, b AS b)");
        km_record_t r = json_record(SEED_VALUE);
        fx_map_ok(&f, &r);
        assert_string_equal(f.text[0], "{}");
        assert_string_equal(f.text[1], "world");
        km_header_t h[] = {{"x", 1, "1", 1}, {"x", 1, "2", 1}};
        r.headers = h;
        r.nheaders = 2;
        fx_map_ok(&f, &r);
        assert_string_equal(f.text[0], "{\"x\":[\"1\",\"2\"]}");
        km_header_t bad[] = {{"x", 1, "1", 1}, {"trace-id", 8, "\xfe", 1}};
        r.headers = bad;
        fx_map_dirty(&f, &r,
                     "column h: header \"trace-id\" is not valid UTF-8");
        fx_close(&f);
}

/* ------------------------------------------------- constants and limits */

static void test_constants(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "MAP ('v1' AS s, '42' AS n BIGINT, '1.005' AS d "
                    "DECIMAL(5,2),\n"
                    "  '2022-11-22 09:00:00' AS t DATETIME, 'TRUE' AS f "
                    "BOOLEAN,\n"
                    "  '' AS e, b AS b)");
        for (int round = 0; round < 2; round++) {
                km_record_t r = json_record(round ? NULL : SEED_VALUE);
                fx_map_ok(&f, &r);
                assert_string_equal(f.text[0], "v1");
                assert_int_equal(f.cells[1].kind, KM_CELL_BIGINT);
                assert_int_equal(f.cells[1].i, 42);
                assert_int_equal(f.cells[2].kind, KM_CELL_DECIMAL);
                assert_string_equal(f.text[2], "1.01");
                assert_string_equal(f.text[3], "@1669078800000");
                assert_string_equal(f.text[4], "true");
                assert_int_equal(f.cells[5].kind, KM_CELL_STRING);
                assert_int_equal(f.cells[5].len, 0);
                assert_string_equal(f.text[6], round ? "NULL" : "world");
        }
        fx_close(&f);
}

static void test_bad_constant(void **state)
{
        (void)state;
        fx_t f;
        fx_compile(&f, "UTC", "MAP ('abc' AS n BIGINT)");
        char err[256];
        assert_null(km_mapper_new(f.c.plan->syncs[0], err, sizeof(err)));
        assert_string_equal(err, "column n: \"abc\" is not a BIGINT");
        fx_close(&f);
}

static void test_string_limit(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "KEY STRING VALUE JSON MAP (x AS x, __key__ AS k)");
        size_t n = 9000000;
        char *v = malloc(n + 16);
        memcpy(v, "{\"x\":\"", 6);
        memset(v + 6, 'q', n);
        memcpy(v + 6 + n, "\"}", 3);
        km_record_t r = json_record(v);
        fx_map_dirty(&f, &r,
                     "column x: 9000000 bytes, more than MaxCompute's 8 MB "
                     "limit");
        /* Exactly 8 MiB is allowed. */
        memcpy(v + 6 + 8388608, "\"}", 3);
        r = json_record(v);
        fx_map_ok(&f, &r);
        assert_int_equal(f.cells[0].len, 8388608);
        r = json_record("{}");
        r.key = v;
        r.key_len = 8388609;
        fx_map_dirty(&f, &r,
                     "column k: 8388609 bytes, more than MaxCompute's 8 MB "
                     "limit");
        /* An object whose text is too long. */
        memcpy(v, "{\"x\":[\"", 7);
        memset(v + 7, 'q', n - 7);
        memcpy(v + n, "\"]}", 4);
        r = json_record(v);
        fx_map_dirty(&f, &r,
                     "column x: 8999997 bytes, more than MaxCompute's 8 MB "
                     "limit");
        fx_close(&f);
        fx_open(&f, "KEY BYTES MAP (__key__ AS k)");
        r = json_record("{}");
        r.key = v;
        r.key_len = 6300000;
        fx_map_dirty(&f, &r,
                     "column k: 8400000 bytes, more than MaxCompute's 8 MB "
                     "limit");
        free(v);
        fx_close(&f);
}

static void test_reason_quotes_at_most_60_bytes(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "MAP (x AS x BIGINT)");
        char v[1100];
        snprintf(v, sizeof(v), "{\"x\":\"%0999d\"}", 7);
        v[6] = 'n'; /* not a number */
        km_record_t r = json_record(v);
        assert_int_equal(fx_map(&f, &r), -1);
        char want[200];
        snprintf(want, sizeof(want), "column x: \"n%059d\"... is not a BIGINT",
                 0);
        assert_string_equal(f.reason, want);
        /* A multibyte character is not cut in half. */
        char u[200] = "{\"x\":\"";
        for (int i = 0; i < 30; i++)
                strcat(u, "你");
        strcat(u, "\"}");
        r = json_record(u);
        assert_int_equal(fx_map(&f, &r), -1);
        assert_string_equal(f.reason, "column x: \"你你你你你你你你你你"
                                      "你你你你你你你你你你\"... is not a "
                                      "BIGINT");
        /* A short reason buffer is cut, never overrun. */
        char small[16];
        assert_int_equal(km_mapper_map(f.m, &r, f.cells, small, sizeof(small)),
                         -1);
        assert_string_equal(small, "column x: \"你");
        assert_int_equal(km_mapper_map(f.m, &r, f.cells, NULL, 0), -1);
        fx_close(&f);
}

/* Cells stay right when the scratch buffer moves while the row is built. */
static void test_cells_survive_growth(void **state)
{
        (void)state;
        fx_t f;
        fx_open(&f, "MAP (a AS a, b AS b, c AS c, d AS d DECIMAL(10,1),\n"
                    "  e AS e, f AS f, g AS g, h AS h)");
        size_t n = 20000;
        char *v = malloc(8 * (n + 16) + 64);
        size_t o = 0;
        const char *keys = "abcdefgh";
        v[o++] = '{';
        for (int k = 0; k < 8; k++) {
                o += (size_t)sprintf(v + o, "%s\"%c\":", k ? "," : "", keys[k]);
                if (keys[k] == 'd') {
                        o += (size_t)sprintf(v + o, "2.25");
                        continue;
                }
                v[o++] = '"';
                memset(v + o, keys[k], n);
                o += n;
                v[o++] = '"';
        }
        v[o++] = '}';
        v[o] = '\0';
        km_record_t r = json_record(v);
        for (int round = 0; round < 2; round++) {
                assert_int_equal(fx_map(&f, &r), 0);
                for (int k = 0; k < 8; k++) {
                        const km_cell_t *c = &f.cells[k];
                        if (keys[k] == 'd') {
                                assert_int_equal(c->len, 3);
                                assert_memory_equal(c->s, "2.3", 3);
                                continue;
                        }
                        assert_int_equal(c->len, n);
                        assert_true(c->s[0] == keys[k] &&
                                    c->s[n - 1] == keys[k]);
                }
        }
        free(v);
        fx_close(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seed_paths),
                cmocka_unit_test(test_missing_paths_are_null),
                cmocka_unit_test(test_json_null_and_scalar_documents),
                cmocka_unit_test(test_tombstone),
                cmocka_unit_test(test_value_not_json),
                cmocka_unit_test(test_paths_keep_jansson_rules),
                cmocka_unit_test(test_objects_and_numbers_as_text),
                cmocka_unit_test(test_to_bigint),
                cmocka_unit_test(test_to_double),
                cmocka_unit_test(test_to_boolean),
                cmocka_unit_test(test_to_datetime),
                cmocka_unit_test(test_datetime_dst),
                cmocka_unit_test(test_to_decimal),
                cmocka_unit_test(test_default_columns),
                cmocka_unit_test(test_numeric_fields_convert),
                cmocka_unit_test(test_string_serde_utf8),
                cmocka_unit_test(test_string_serde_converts),
                cmocka_unit_test(test_encoding_gbk),
                cmocka_unit_test(test_unknown_encoding),
                cmocka_unit_test(test_bytes_serde_base64),
                cmocka_unit_test(test_json_serde_field),
                cmocka_unit_test(test_long_serde),
                cmocka_unit_test(test_double_serde),
                cmocka_unit_test(test_headers_json),
                cmocka_unit_test(test_headers_column),
                cmocka_unit_test(test_constants),
                cmocka_unit_test(test_bad_constant),
                cmocka_unit_test(test_string_limit),
                cmocka_unit_test(test_reason_quotes_at_most_60_bytes),
                cmocka_unit_test(test_cells_survive_growth),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
