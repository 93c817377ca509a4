/* test_seed.c - the five scheduling scenarios of the DataWorks guide that
 * kmsync replaces, as shipped in examples/seed/: each compiles cleanly
 * (no warnings: the windows tile the time line) and its run at the guide's
 * stated time reads the stated window into the stated partition. */
#include "km_test.h"

typedef struct scenario {
        const char *file;
        const char *run_at;
        const char *window_start, *window_end; /* Asia/Shanghai */
        int64_t start_ms, end_ms;
        const char *partition;
} scenario_t;

static const scenario_t scenarios[] = {
        {"examples/seed/every_5_minutes.sync", "2022-11-22 10:00",
         "2022-11-22 09:52:00", "2022-11-22 09:57:00", 1669081920000LL,
         1669082220000LL, "ds=202211220952"},
        {"examples/seed/hourly.sync", "2022-11-22 10:05",
         "2022-11-22 09:00:00", "2022-11-22 10:00:00", 1669078800000LL,
         1669082400000LL, "ds=2022112210"},
        {"examples/seed/daily.sync", "2022-11-22 00:05",
         "2022-11-21 00:00:00", "2022-11-22 00:00:00", 1668960000000LL,
         1669046400000LL, "ds=20221121"},
        {"examples/seed/weekly.sync", "2022-11-22 00:05",
         "2022-11-15 00:00:00", "2022-11-22 00:00:00", 1668441600000LL,
         1669046400000LL, "ds=20221121"},
        {"examples/seed/monthly.sync", "2022-11-22 00:05",
         "2022-10-22 00:00:00", "2022-11-22 00:00:00", 1666368000000LL,
         1669046400000LL, "ds=20221121"},
};

static void check_scenario(const scenario_t *s)
{
        km_compiled_t c = km_test_compile_file(s->file);
        assert_compiles(c);
        if (c.warnings)
                fail_msg("%s: unexpected warnings:\n%s", s->file,
                         c.diagnostics);
        assert_int_equal(c.plan->nsyncs, 1);
        km_civil_t at = km_test_time(s->run_at);
        km_instance_t in;
        char err[512], ws[20], we[20];
        if (km_instance_make(c.plan->syncs[0], &at, &in, err, sizeof(err)))
                fail_msg("%s: %s", s->file, err);
        km_civil_format(&in.window_start_local, ws);
        km_civil_format(&in.window_end_local, we);
        assert_string_equal(ws, s->window_start);
        assert_string_equal(we, s->window_end);
        assert_int_equal(in.window_start_ms, s->start_ms);
        assert_int_equal(in.window_end_ms, s->end_ms);
        assert_string_equal(in.partition_spec, s->partition);
        km_instance_clear(&in);
        km_test_release(&c);
}

static void test_every_5_minutes(void **state)
{
        (void)state;
        check_scenario(&scenarios[0]);
}

static void test_hourly(void **state)
{
        (void)state;
        check_scenario(&scenarios[1]);
}

static void test_daily(void **state)
{
        (void)state;
        check_scenario(&scenarios[2]);
}

static void test_weekly(void **state)
{
        (void)state;
        check_scenario(&scenarios[3]);
}

static void test_monthly(void **state)
{
        (void)state;
        check_scenario(&scenarios[4]);
}

/* Every 2 hours: start -2/24, the rest unchanged; the guide's variant. */
static void test_every_2_hours_variant(void **state)
{
        (void)state;
        km_compiled_t c = km_test_compile(
                "KAFKA CONNECTION k BROKERS 'b:9092';\n"
                "MAXCOMPUTE CONNECTION m ENDPOINT 'http://e/api' PROJECT p\n"
                "  ACCESS KEY ENV('A') SECRET ENV('S');\n"
                "SYNC s FROM k INTO m.t TIMEZONE 'Asia/Shanghai'\n"
                "  WINDOW FROM '$[yyyymmddhh24-2/24]0000' TO "
                "'$[yyyymmddhh24]0000'\n"
                "  PARTITION (ds = '$[yyyymmddhh24]')\n"
                "  SCHEDULE EVERY 2 HOURS FROM '00:15' TO '23:59';\n");
        assert_compiles(c);
        if (c.warnings)
                fail_msg("unexpected warnings:\n%s", c.diagnostics);
        km_civil_t at = km_test_time("2022-11-22 10:15");
        km_instance_t in;
        char err[256];
        assert_int_equal(km_instance_make(c.plan->syncs[0], &at, &in, err,
                                          sizeof(err)),
                         0);
        assert_int_equal(in.window_start_ms, 1669075200000LL); /* 08:00 +8 */
        assert_int_equal(in.window_end_ms, 1669082400000LL);
        assert_string_equal(in.partition_spec, "ds=2022112210");
        km_instance_clear(&in);
        km_test_release(&c);
}

/* In a zone with daylight saving time the spring-forward night has an
 * hour that does not exist: its window is empty, not an error, and the
 * windows still tile the time line. */
static void test_hourly_in_a_dst_zone(void **state)
{
        (void)state;
        km_compiled_t c = km_test_compile(
                "KAFKA CONNECTION k BROKERS 'b:9092';\n"
                "MAXCOMPUTE CONNECTION m ENDPOINT 'http://e/api' PROJECT p\n"
                "  ACCESS KEY ENV('A') SECRET ENV('S');\n"
                "SYNC s FROM k INTO m.t TIMEZONE 'America/New_York'\n"
                "  WINDOW FROM '$[yyyymmddhh24-1/24]0000' TO "
                "'$[yyyymmddhh24]0000'\n"
                "  PARTITION (ds = '$[yyyymmddhh24]')\n"
                "  SCHEDULE HOURLY AT MINUTE 15;\n");
        assert_compiles(c);
        if (c.warnings)
                fail_msg("unexpected warnings:\n%s", c.diagnostics);
        km_civil_t at = km_test_time("2024-03-10 03:15");
        km_instance_t in;
        char err[256];
        assert_int_equal(km_instance_make(c.plan->syncs[0], &at, &in, err,
                                          sizeof(err)),
                         0);
        assert_int_equal(in.window_start_ms, in.window_end_ms);
        km_instance_clear(&in);
        km_test_release(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_5_minutes),
                cmocka_unit_test(test_hourly),
                cmocka_unit_test(test_daily),
                cmocka_unit_test(test_weekly),
                cmocka_unit_test(test_monthly),
                cmocka_unit_test(test_every_2_hours_variant),
                cmocka_unit_test(test_hourly_in_a_dst_zone),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
