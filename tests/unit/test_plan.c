/* test_plan.c - what a compiled plan says: instance JSON (the contract of
 * `kmsync plan --json`), defaults, secrets kept out of output, and the
 * generated DDL. */
#include "km_test.h"

#include <jansson.h>

#include "kmsync/ddl.h"
#include "kmsync/path.h"

#define CONNS                                                                 \
        "KAFKA CONNECTION k BROKERS 'b:9092'\n"                               \
        "  OPTIONS ('sasl.password' = 'hunter2-literal', 'client.id' = "      \
        "'kms');\n"                                                           \
        "MAXCOMPUTE CONNECTION m ENDPOINT 'http://mc.example/api' PROJECT p\n" \
        "  ACCESS KEY 'AKID-literal' SECRET 'very-secret-literal';\n"

static json_t *instance_json(const km_sync_plan_t *s, const char *at_text,
                             char **text_out)
{
        km_civil_t at = km_test_time(at_text);
        km_instance_t in;
        char err[512];
        if (km_instance_make(s, &at, &in, err, sizeof(err)))
                fail_msg("%s", err);
        json_t *j = km_instance_to_json(&in);
        if (text_out) {
                char *buf = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&buf, &len);
                km_instance_print(f, &in);
                fclose(f);
                *text_out = buf;
        }
        km_instance_clear(&in);
        return j;
}

static void test_plan_json_contract(void **state)
{
        (void)state;
        km_compiled_t c = km_test_compile_file("examples/orders.sync");
        assert_compiles(c);
        json_t *j = instance_json(c.plan->syncs[0], "2022-11-22 10:15", NULL);
        assert_string_equal(json_string_value(json_object_get(j, "name")),
                            "orders");
        assert_string_equal(json_string_value(json_object_get(j, "topic")),
                            "orders");
        assert_string_equal(json_string_value(json_object_get(j, "table")),
                            "test_project.test_table");
        assert_string_equal(json_string_value(json_object_get(j, "partition")),
                            "ds=2022112210");
        assert_int_equal(json_integer_value(json_object_get(j, "window_start_ms")),
                         1669078800000LL);
        assert_int_equal(json_integer_value(json_object_get(j, "window_end_ms")),
                         1669082400000LL);
        assert_string_equal(json_string_value(json_object_get(j, "timezone")),
                            "Asia/Shanghai");
        assert_string_equal(json_string_value(json_object_get(j, "end")),
                            "window_end");
        json_t *cols = json_object_get(j, "columns");
        assert_int_equal(json_array_size(cols), 7);
        json_t *c4 = json_array_get(cols, 4);
        assert_string_equal(json_string_value(json_object_get(c4, "source")),
                            "d[0].AA");
        assert_string_equal(json_string_value(json_object_get(c4, "column")),
                            "aa");
        assert_string_equal(json_string_value(json_object_get(c4, "type")),
                            "STRING");
        json_t *c6 = json_array_get(cols, 6);
        assert_string_equal(json_string_value(json_object_get(c6, "type")),
                            "BIGINT");
        json_t *retry = json_object_get(j, "retry");
        assert_int_equal(json_integer_value(json_object_get(retry, "times")), 3);
        assert_int_equal(json_integer_value(json_object_get(retry, "delay_ms")),
                         120000);
        json_decref(j);
        km_test_release(&c);
}

static void test_defaults_and_idle_end(void **state)
{
        (void)state;
        km_compiled_t c = km_test_compile(
                CONNS "SYNC events FROM k INTO m.ev TIMEZONE 'UTC'\n"
                      "  WINDOW FROM '$[yyyymmdd-1]' TO '$[yyyymmdd]'\n"
                      "  END WHEN IDLE 1 MINUTE;\n");
        assert_compiles(c);
        const km_sync_plan_t *s = c.plan->syncs[0];
        assert_string_equal(s->topic, "events");
        assert_string_equal(s->group, "kmsync-events");
        assert_int_equal(s->key_serde, KM_SERDE_STRING);
        assert_int_equal(s->value_serde, KM_SERDE_JSON);
        assert_int_equal(s->errors_limit, 0);
        assert_int_equal(s->retry_times, 0);
        assert_int_equal(s->lifecycle_days, 36500);
        assert_int_equal(s->npartition, 0);
        assert_int_equal(s->schedule.kind, KM_SCHED_NONE);
        json_t *j = instance_json(s, "2024-03-01 00:10", NULL);
        assert_int_equal(json_integer_value(json_object_get(
                                 json_object_get(j, "end"), "idle_ms")),
                         60000);
        assert_string_equal(json_string_value(json_object_get(j, "partition")),
                            "");
        /* 2024-02-29 00:00 UTC: the leap day. */
        assert_int_equal(json_integer_value(json_object_get(j, "window_start_ms")),
                         1709164800000LL);
        json_t *cols = json_object_get(j, "columns");
        assert_int_equal(json_array_size(cols), 6);
        const char *names[] = {"__key__", "__value__", "__partition__",
                               "__headers__", "__offset__", "__timestamp__"};
        const char *types[] = {"STRING", "STRING", "BIGINT",
                               "STRING", "BIGINT", "BIGINT"};
        for (int i = 0; i < 6; i++) {
                json_t *col = json_array_get(cols, (size_t)i);
                assert_string_equal(json_string_value(json_object_get(col, "column")),
                                    names[i]);
                assert_string_equal(json_string_value(json_object_get(col, "type")),
                                    types[i]);
        }
        json_decref(j);
        km_test_release(&c);
}

static void test_secrets_never_printed(void **state)
{
        (void)state;
        km_compiled_t c = km_test_compile(
                CONNS "SYNC s FROM k INTO m.t TIMEZONE 'UTC'\n"
                      "  WINDOW FROM '$[yyyymmdd-1]' TO '$[yyyymmdd]';\n");
        assert_compiles(c);
        /* Literal secrets are allowed, with a warning each. */
        assert_int_equal(c.warnings, 2);
        assert_non_null(strstr(c.diagnostics, "a secret is written in the file"));
        char *text;
        json_t *j = instance_json(c.plan->syncs[0], "2024-01-02 00:00", &text);
        char *dump = json_dumps(j, 0);
        const char *secrets[] = {"hunter2-literal", "very-secret-literal"};
        for (int i = 0; i < 2; i++) {
                assert_null(strstr(dump, secrets[i]));
                assert_null(strstr(text, secrets[i]));
                assert_null(strstr(c.diagnostics, secrets[i]));
        }
        assert_non_null(strstr(dump, "\"sasl.password\": \"***\""));
        assert_non_null(strstr(dump, "\"access_key_secret\": \"***\""));
        /* Not secrets: shown. */
        assert_non_null(strstr(dump, "\"client.id\": \"kms\""));
        assert_non_null(strstr(text, "AKID-literal"));
        free(dump);
        free(text);
        json_decref(j);
        km_test_release(&c);
}

static void test_ddl_of_orders(void **state)
{
        (void)state;
        km_compiled_t c = km_test_compile_file("examples/orders.sync");
        assert_compiles(c);
        char *sql = km_ddl_create_table(c.plan->syncs[0]);
        assert_string_equal(
                sql,
                "CREATE TABLE IF NOT EXISTS test_project.test_table (\n"
                "  k STRING COMMENT 'Kafka __key__: the record key',\n"
                "  a1 STRING COMMENT 'Kafka value JSON path a.a1',\n"
                "  b STRING COMMENT 'Kafka value JSON path b',\n"
                "  c1 STRING COMMENT 'Kafka value JSON path c[1]',\n"
                "  aa STRING COMMENT 'Kafka value JSON path d[0].AA',\n"
                "  xyz STRING COMMENT 'Kafka value JSON path `x.y`.z',\n"
                "  ts BIGINT COMMENT 'Kafka __timestamp__: the record "
                "timestamp in epoch ms'\n"
                ")\n"
                "COMMENT 'kmsync orders: Kafka topic orders'\n"
                "PARTITIONED BY (ds STRING)\n"
                "LIFECYCLE 36500;\n");
        free(sql);
        km_test_release(&c);
}

static void test_ddl_quotes_where_required(void **state)
{
        (void)state;
        km_compiled_t c = km_test_compile(
                CONNS "SYNC s FROM k INTO m.`order` TIMEZONE 'UTC' LIFECYCLE 7\n"
                      "  KEY LONG VALUE JSON\n"
                      "  WINDOW FROM '$[yyyymmdd-1]' TO '$[yyyymmdd]'\n"
                      "  PARTITION (ds = '$[yyyymmdd-1]', `group` = 'all')\n"
                      "  MAP (__key__ AS `select`, amount AS amount "
                      "DECIMAL(10,2),\n"
                      "       `it's` AS `it's`, 'v1' AS `schema version`,\n"
                      "       __timestamp__ AS _ts DATETIME);\n");
        assert_compiles(c);
        char *sql = km_ddl_create_table(c.plan->syncs[0]);
        assert_string_equal(
                sql,
                "CREATE TABLE IF NOT EXISTS p.`order` (\n"
                "  `select` BIGINT COMMENT 'Kafka __key__: the record key',\n"
                "  amount DECIMAL(10,2) COMMENT 'Kafka value JSON path amount',\n"
                "  `it's` STRING COMMENT 'Kafka value JSON path `it\\'s`',\n"
                "  `schema version` STRING COMMENT 'constant \\'v1\\'',\n"
                "  _ts DATETIME COMMENT 'Kafka __timestamp__: the record "
                "timestamp in epoch ms'\n"
                ")\n"
                "COMMENT 'kmsync s: Kafka topic s'\n"
                "PARTITIONED BY (ds STRING, `group` STRING)\n"
                "LIFECYCLE 7;\n");
        free(sql);
        km_civil_t at = km_test_time("2024-01-01 00:15");
        km_instance_t in;
        char err[256];
        assert_int_equal(km_instance_make(c.plan->syncs[0], &at, &in, err,
                                          sizeof(err)),
                         0);
        char *alter = km_ddl_add_partition(&in);
        assert_string_equal(alter, "ALTER TABLE p.`order` ADD IF NOT EXISTS "
                                   "PARTITION (ds='20231231', `group`='all');\n");
        free(alter);
        km_instance_clear(&in);
        km_test_release(&c);
}

static void test_path_parse_and_format(void **state)
{
        (void)state;
        km_arena_t a = {0};
        km_path_step_t *steps;
        int n;
        km_path_error_t err;
        assert_int_equal(km_path_parse(&a, "d[0].AA", &steps, &n, &err), 0);
        assert_int_equal(n, 3);
        assert_string_equal(steps[0].key, "d");
        assert_null(steps[1].key);
        assert_int_equal(steps[1].index, 0);
        assert_string_equal(steps[2].key, "AA");
        assert_int_equal(km_path_parse(&a, "`x.y`.z", &steps, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_string_equal(steps[0].key, "x.y");
        assert_string_equal(km_path_format(&a, steps, n), "`x.y`.z");
        assert_int_equal(km_path_parse(&a, "[2][0]", &steps, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_int_equal(steps[0].index, 2);
        assert_int_equal(km_path_parse(&a, "a..b", &steps, &n, &err), -1);
        assert_int_equal(err.offset, 2);
        assert_int_equal(km_path_parse(&a, "c[x]", &steps, &n, &err), -1);
        assert_int_equal(err.offset, 1);
        assert_int_equal(err.length, 3);
        assert_int_equal(km_path_parse(&a, "c[1", &steps, &n, &err), -1);
        assert_non_null(strstr(err.message, "missing ']'"));
        assert_int_equal(km_path_parse(&a, "a.", &steps, &n, &err), -1);
        assert_non_null(strstr(err.message, "ends with '.'"));
        km_arena_free(&a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plan_json_contract),
                cmocka_unit_test(test_defaults_and_idle_end),
                cmocka_unit_test(test_secrets_never_printed),
                cmocka_unit_test(test_ddl_of_orders),
                cmocka_unit_test(test_ddl_quotes_where_required),
                cmocka_unit_test(test_path_parse_and_format),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
