/* test_scheduler.c - the embedded scheduler on a test clock: days of
 * 5-minute, hourly, daily, weekly and monthly cycles in seconds, each
 * instance run once, in order, with windows that tile the time line; a
 * failed attempt retried RETRY n TIMES later; backfill over a range. */
#include "km_test.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "scheduler.h"
#include "state.h"

static char dir[256];

static const char *conns =
        "KAFKA CONNECTION k BROKERS '127.0.0.1:1';\n"
        "MAXCOMPUTE CONNECTION m ENDPOINT 'http://mc.invalid/api' PROJECT p\n"
        "  ACCESS KEY ENV('AK') SECRET ENV('SK');\n";

static int setup(void **state)
{
        (void)state;
        snprintf(dir, sizeof(dir), "/tmp/kmsync-sched-XXXXXX");
        assert_non_null(mkdtemp(dir));
        char path[300];
        snprintf(path, sizeof(path), "%s/ev.jsonl", dir);
        FILE *f = fopen(path, "w");
        /* One record a minute over 2024-01-01 .. 2024-04-01 (UTC) would be
         * too many; one every 2 hours is enough to fill every window. */
        for (long long t = 1704067200000LL; t < 1711929600000LL;
             t += 7200000LL)
                fprintf(f, "{\"topic\":\"ev\",\"partition\":0,\"timestamp\":"
                           "%lld,\"value\":{\"t\":%lld}}\n",
                        t, t);
        fclose(f);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        char cmd[320];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

typedef struct run_env {
        km_compiled_t c;
        km_state_t *st;
        char fixture[300], target[300], state_dir[300];
} run_env_t;

static void env_open(run_env_t *e, const char *sync_text, const char *name)
{
        char text[2048];
        snprintf(text, sizeof(text), "%s%s", conns, sync_text);
        e->c = km_test_compile(text);
        assert_compiles(e->c);
        snprintf(e->fixture, sizeof(e->fixture), "mock:%s/ev.jsonl", dir);
        snprintf(e->target, sizeof(e->target), "local:%s/wh-%s", dir, name);
        snprintf(e->state_dir, sizeof(e->state_dir), "%s/state-%s", dir, name);
        char err[512];
        e->st = km_state_open(e->state_dir, err, sizeof(err));
        if (!e->st)
                fail_msg("%s", err);
}

static void env_close(run_env_t *e)
{
        km_state_close(e->st);
        km_test_release(&e->c);
}

/* The scheduled times kmsync's own calendar gives between the test
 * clock's start and end (UTC), as wall clock in the SYNC's zone. */
static int calendar(const km_sync_plan_t *s, const char *from, const char *to,
                    char out[][20], int max)
{
        km_civil_t f = km_test_time(from), u = km_test_time(to), t, end, next;
        km_tz_to_local(s->tz, km_civil_to_seconds(&f), &t);
        km_tz_to_local(s->tz, km_civil_to_seconds(&u), &end);
        int n = 0;
        km_civil_from_seconds(km_civil_to_seconds(&t) - 1, &t);
        while (km_sched_next(&s->schedule, &t, &next) == 0 &&
               km_civil_cmp(&next, &end) <= 0 && n < max) {
                km_civil_format(&next, out[n++]);
                t = next;
        }
        return n;
}

static void run_cycles(const char *name, const char *sync_text,
                       const char *from, const char *until, int want)
{
        run_env_t e;
        env_open(&e, sync_text, name);
        km_sched_file_t file = {"test.sync", e.c.plan};
        km_sched_options_t o = {0};
        o.run.kafka = e.fixture;
        o.run.target = e.target;
        o.fake_now = from;
        o.fake_until = until;
        FILE *devnull = fopen("/dev/null", "w");
        o.log = devnull;
        assert_int_equal(km_schedule_loop(e.st, &file, 1, &o), 0);
        fclose(devnull);
        char cal[400][20];
        int n = calendar(e.c.plan->syncs[0], from, until, cal, 400);
        assert_int_equal(n, want);
        km_inst_row_t *rows;
        int nrows;
        char err[512];
        assert_int_equal(km_state_list(e.st, NULL, NULL, NULL, &rows, &nrows,
                                       err, sizeof(err)),
                         0);
        assert_int_equal(nrows, n);
        for (int i = 0; i < nrows; i++) {
                assert_string_equal(rows[i].scheduled_at, cal[i]);
                assert_int_equal(rows[i].status, KM_INST_SUCCEEDED);
                assert_int_equal(rows[i].attempt, 1);
                if (i > 0) /* windows tile the time line */
                        assert_int_equal(rows[i - 1].window_end_ms,
                                         rows[i].window_start_ms);
                for (int k = 0; k < i; k++) /* every partition once */
                        assert_string_not_equal(rows[k].partition,
                                                rows[i].partition);
        }
        km_inst_rows_free(rows, nrows);
        env_close(&e);
}

static void test_five_minutes(void **state)
{
        (void)state;
        run_cycles("5min",
                   "SYNC ev FROM k INTO m.ev TIMEZONE 'UTC'\n"
                   "  WINDOW FROM '$[yyyymmddhh24mi-8/24/60]00' TO "
                   "'$[yyyymmddhh24mi-3/24/60]00'\n"
                   "  PARTITION (ds = '$[yyyymmddhh24mi-8/24/60]')\n"
                   "  SCHEDULE EVERY 5 MINUTES FROM '00:00' TO '23:59';\n",
                   "2024-01-01 23:30", "2024-01-02 00:30", 13);
}

static void test_hourly_daily_weekly_monthly(void **state)
{
        (void)state;
        run_cycles("hourly",
                   "SYNC ev FROM k INTO m.ev TIMEZONE 'UTC'\n"
                   "  WINDOW FROM '$[yyyymmddhh24-1/24]0000' TO "
                   "'$[yyyymmddhh24]0000'\n"
                   "  PARTITION (ds = '$[yyyymmddhh24-1/24]')\n"
                   "  SCHEDULE HOURLY AT MINUTE 15;\n",
                   "2024-02-28 20:00", "2024-02-29 04:00", 8);
        run_cycles("daily",
                   "SYNC ev FROM k INTO m.ev TIMEZONE 'Asia/Shanghai'\n"
                   "  WINDOW FROM '$[yyyymmdd-1]000000' TO '$[yyyymmdd]000000'\n"
                   "  PARTITION (ds = '$[yyyymmdd-1]')\n"
                   "  SCHEDULE DAILY AT '00:15';\n",
                   "2024-02-26 00:00", "2024-03-02 00:00", 5);
        run_cycles("weekly",
                   "SYNC ev FROM k INTO m.ev TIMEZONE 'Asia/Shanghai'\n"
                   "  WINDOW FROM '$[yyyymmdd-7]000000' TO '$[yyyymmdd]000000'\n"
                   "  PARTITION (ds = '$[yyyymmdd-1]')\n"
                   "  SCHEDULE WEEKLY ON MONDAY AT '00:15';\n",
                   "2024-01-01 00:00", "2024-01-29 00:00", 4);
        run_cycles("monthly",
                   "SYNC ev FROM k INTO m.ev TIMEZONE 'Asia/Shanghai'\n"
                   "  WINDOW FROM '$[add_months(yyyymmdd,-1)]000000' TO "
                   "'$[yyyymmdd]000000'\n"
                   "  PARTITION (ds = '$[yyyymmdd-1]')\n"
                   "  SCHEDULE MONTHLY ON DAY 1 AT '00:15';\n",
                   "2024-01-15 00:00", "2024-04-02 00:00", 3);
}

/* The first attempt meets a broker that never answers; the retry, a
 * minute later on the test clock, succeeds. */
static void break_first_attempt(void *mc, void *arg)
{
        int *calls = arg;
        if ((*calls)++ == 0)
                rd_kafka_mock_broker_set_down(mc, 1);
}

static void test_retry_after_a_broker_fault(void **state)
{
        (void)state;
        run_env_t e;
        env_open(&e,
                 "SYNC ev FROM k INTO m.ev TIMEZONE 'UTC'\n"
                 "  WINDOW FROM '$[yyyymmddhh24-1/24]0000' TO "
                 "'$[yyyymmddhh24]0000'\n"
                 "  PARTITION (ds = '$[yyyymmddhh24-1/24]')\n"
                 "  SCHEDULE HOURLY AT MINUTE 15\n"
                 "  RETRY 2 TIMES EVERY 1 MINUTE;\n",
                 "retry");
        km_sched_file_t file = {"test.sync", e.c.plan};
        int calls = 0;
        km_sched_options_t o = {0};
        o.run.kafka = e.fixture;
        o.run.target = e.target;
        o.run.stall_timeout_ms = 2000;
        o.run.on_mock_ready = break_first_attempt;
        o.run.hook_arg = &calls;
        o.fake_now = "2024-01-10 10:10";
        o.fake_until = "2024-01-10 10:20";
        FILE *devnull = fopen("/dev/null", "w");
        o.log = devnull;
        km_schedule_loop(e.st, &file, 1, &o);
        fclose(devnull);
        km_inst_row_t row;
        char err[512];
        assert_int_equal(km_state_get(e.st, "ev", "2024-01-10 10:15:00", &row,
                                      err, sizeof(err)),
                         0);
        assert_int_equal(row.attempt, 2);
        assert_int_equal(row.status, KM_INST_SUCCEEDED);
        assert_int_equal(calls, 2);
        km_inst_row_clear(&row);
        env_close(&e);
}

static void test_backfill_range(void **state)
{
        (void)state;
        run_env_t e;
        env_open(&e,
                 "SYNC ev FROM k INTO m.ev TIMEZONE 'UTC'\n"
                 "  WINDOW FROM '$[yyyymmddhh24-1/24]0000' TO "
                 "'$[yyyymmddhh24]0000'\n"
                 "  PARTITION (ds = '$[yyyymmdd-1/24]')\n"
                 "  SCHEDULE HOURLY AT MINUTE 15 WRITE APPEND;\n",
                 "backfill");
        /* WRITE APPEND: several hours share a daily partition, so they
         * must never run at once even with --parallel 2. */
        km_sched_file_t file = {"test.sync", e.c.plan};
        km_backfill_options_t o = {0};
        o.run.kafka = e.fixture;
        o.run.target = e.target;
        o.parallel = 2;
        FILE *devnull = fopen("/dev/null", "w");
        o.log = devnull;
        km_civil_t from = km_test_time("2024-01-10 21:00"),
                   to = km_test_time("2024-01-11 02:59");
        const km_sync_plan_t *syncs[] = {e.c.plan->syncs[0]};
        assert_int_equal(km_backfill(e.st, &file, syncs, 1, &from, &to, &o), 0);
        /* Again with --skip-succeeded: nothing runs. */
        o.skip_succeeded = 1;
        assert_int_equal(km_backfill(e.st, &file, syncs, 1, &from, &to, &o), 0);
        fclose(devnull);
        km_inst_row_t *rows;
        int n;
        char err[512];
        assert_int_equal(km_state_list(e.st, "ev", NULL, NULL, &rows, &n, err,
                                       sizeof(err)),
                         0);
        assert_int_equal(n, 6);
        for (int i = 0; i < n; i++) {
                assert_int_equal(rows[i].status, KM_INST_SUCCEEDED);
                assert_int_equal(rows[i].attempt, 1);
        }
        km_inst_rows_free(rows, n);
        env_close(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_five_minutes),
                cmocka_unit_test(test_hourly_daily_weekly_monthly),
                cmocka_unit_test(test_retry_after_a_broker_fault),
                cmocka_unit_test(test_backfill_range),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
