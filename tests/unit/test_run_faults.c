/* test_run_faults.c - runs on the embedded Kafka under the faults a real
 * cluster has: transient request errors, a leader that moves, a broker
 * that goes away for a while, and one that stays away.  Each run either
 * commits exactly the window's rows or fails and leaves the partition as
 * it was. */
#include "km_test.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <unistd.h>

#include "kmsync/run.h"

/* Kafka protocol API keys (the protocol's numbers). */
enum { API_FETCH = 1, API_LIST_OFFSETS = 2 };

enum { NPART = 3, PER_PART = 400 };
#define W_START 1704103200000LL /* 2024-01-01 10:00 UTC */
#define W_END (W_START + 3600000LL)

static char dir[256];
static km_compiled_t compiled; /* the plan of the last run */

static void clear_run(km_run_report_t *rep)
{
        km_run_report_clear(rep);
        km_test_release(&compiled);
}

#define SYNC_TEXT                                                             \
        "KAFKA CONNECTION k BROKERS '127.0.0.1:1';\n"                         \
        "MAXCOMPUTE CONNECTION m ENDPOINT 'http://mc.invalid/api' PROJECT p\n" \
        "  ACCESS KEY ENV('AK') SECRET ENV('SK');\n"                          \
        "SYNC ev FROM k INTO m.ev TIMEZONE 'UTC'\n"                           \
        "  WINDOW FROM '$[yyyymmddhh24-1/24]0000' TO '$[yyyymmddhh24]0000'\n" \
        "  PARTITION (ds = '$[yyyymmddhh24-1/24]')\n"                         \
        "  MAP (__partition__ AS p, __offset__ AS o, n AS n BIGINT);\n"

/* Records every 15 s from 09:00 to 11:00, so half are in the window. */
static void write_fixture(const char *path)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        for (int i = 0; i < PER_PART; i++)
                for (int p = 0; p < NPART; p++)
                        fprintf(f,
                                "{\"topic\":\"ev\",\"partition\":%d,"
                                "\"timestamp\":%lld,\"key\":\"k%d\","
                                "\"value\":{\"n\":%d}}\n",
                                p, W_START - 3600000LL + i * 18000LL, i, i);
        fclose(f);
}

static int expected_rows(void)
{
        int n = 0;
        for (int i = 0; i < PER_PART; i++) {
                long long ts = W_START - 3600000LL + i * 18000LL;
                n += ts >= W_START && ts < W_END;
        }
        return n * NPART;
}

/* Rows of the committed partition, -1 when it does not exist. */
static int committed_rows(void)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/wh/p/ev/ds=2024010110/_SUCCESS", dir);
        json_t *m = json_load_file(path, 0, NULL);
        if (!m)
                return -1;
        int rows = (int)json_integer_value(json_object_get(m, "rows"));
        json_decref(m);
        return rows;
}

typedef struct fault {
        void (*inject)(rd_kafka_mock_cluster_t *mc, struct fault *f);
        rd_kafka_mock_cluster_t *mc;
        pthread_t thread;
        int started;
        int down_ms;
} fault_t;

static void on_ready(void *mc, void *arg)
{
        fault_t *f = arg;
        f->mc = mc;
        f->inject(mc, f);
}

/* The cluster is about to go: a thread still injecting faults into it
 * must be done first. */
static void on_done(void *mc, void *arg)
{
        fault_t *f = arg;
        (void)mc;
        if (f->started) {
                pthread_join(f->thread, NULL);
                f->started = 0;
        }
}

static km_run_status_t run_with(fault_t *f, int brokers, int64_t stall_ms,
                                km_run_report_t *rep)
{
        char fixture[300], target[300], sync_path[300];
        snprintf(fixture, sizeof(fixture), "mock:%s/ev.jsonl", dir);
        snprintf(target, sizeof(target), "local:%s/wh", dir);
        snprintf(sync_path, sizeof(sync_path), "%s/rejects", dir);
        km_compiled_t c = km_test_compile(SYNC_TEXT);
        assert_compiles(c);
        km_run_options_t o = {0};
        o.kafka = fixture;
        o.target = target;
        o.rejects_dir = sync_path;
        o.mock_brokers = brokers;
        o.stall_timeout_ms = stall_ms;
        o.on_mock_ready = f ? on_ready : NULL;
        o.on_mock_done = f ? on_done : NULL;
        o.hook_arg = f;
        km_civil_t at = km_test_time("2024-01-01 11:05");
        km_run_status_t st = km_run(c.plan, c.plan->syncs[0], &at, &o, rep);
        if (f && f->started)
                pthread_join(f->thread, NULL);
        /* The report points into the plan: checked and cleared first. */
        compiled = c;
        return st;
}

static void expect_exact(km_run_status_t st, km_run_report_t *rep)
{
        if (st != KM_RUN_OK)
                fail_msg("run failed: %s", rep->error);
        assert_int_equal(rep->rows_written, expected_rows());
        assert_int_equal(committed_rows(), expected_rows());
        /* The end offsets reached the group (else a warning says so). */
        assert_string_equal(rep->warning, "");
        clear_run(rep);
}

static int setup(void **state)
{
        (void)state;
        snprintf(dir, sizeof(dir), "/tmp/kmsync-faults-XXXXXX");
        assert_non_null(mkdtemp(dir));
        char path[300];
        snprintf(path, sizeof(path), "%s/ev.jsonl", dir);
        write_fixture(path);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        char cmd[320];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------- faults */

static void request_errors(rd_kafka_mock_cluster_t *mc, fault_t *f)
{
        (void)f;
        rd_kafka_mock_push_request_errors(
                mc, API_FETCH, 4, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                RD_KAFKA_RESP_ERR__TRANSPORT,
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
        rd_kafka_mock_push_request_errors(
                mc, API_LIST_OFFSETS, 2, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RD_KAFKA_RESP_ERR__TRANSPORT);
}

static void *move_leaders(void *arg)
{
        fault_t *f = arg;
        for (int round = 0; round < 6; round++) {
                for (int p = 0; p < NPART; p++)
                        rd_kafka_mock_partition_set_leader(f->mc, "ev", p,
                                                           1 + (p + round) % 3);
                usleep(50000);
        }
        return NULL;
}

static void leader_changes(rd_kafka_mock_cluster_t *mc, fault_t *f)
{
        (void)mc;
        f->started = pthread_create(&f->thread, NULL, move_leaders, f) == 0;
}

static void *bring_back(void *arg)
{
        fault_t *f = arg;
        usleep((useconds_t)f->down_ms * 1000);
        rd_kafka_mock_broker_set_up(f->mc, 1);
        return NULL;
}

static void broker_down(rd_kafka_mock_cluster_t *mc, fault_t *f)
{
        rd_kafka_mock_broker_set_down(mc, 1);
        if (f->down_ms > 0)
                f->started = pthread_create(&f->thread, NULL, bring_back, f) == 0;
}

/* -------------------------------------------------------------- tests */

static void test_no_fault(void **state)
{
        (void)state;
        km_run_report_t rep;
        expect_exact(run_with(NULL, 1, 0, &rep), &rep);
}

static void test_transient_request_errors(void **state)
{
        (void)state;
        fault_t f = {request_errors, NULL, 0, 0, 0};
        km_run_report_t rep;
        expect_exact(run_with(&f, 1, 0, &rep), &rep);
}

static void test_leader_changes(void **state)
{
        (void)state;
        fault_t f = {leader_changes, NULL, 0, 0, 0};
        km_run_report_t rep;
        expect_exact(run_with(&f, 3, 0, &rep), &rep);
}

static void test_broker_down_for_a_while(void **state)
{
        (void)state;
        fault_t f = {broker_down, NULL, 0, 0, 2000};
        km_run_report_t rep;
        expect_exact(run_with(&f, 1, 30000, &rep), &rep);
}

static void test_broker_gone_fails_cleanly(void **state)
{
        (void)state;
        int before = committed_rows();
        assert_int_equal(before, expected_rows());
        fault_t f = {broker_down, NULL, 0, 0, 0};
        km_run_report_t rep;
        km_run_status_t st = run_with(&f, 1, 3000, &rep);
        assert_int_equal(st, KM_RUN_FAILED);
        assert_false(rep.committed);
        assert_int_equal(committed_rows(), before);
        clear_run(&rep);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_no_fault),
                cmocka_unit_test(test_transient_request_errors),
                cmocka_unit_test(test_leader_changes),
                cmocka_unit_test(test_broker_down_for_a_while),
                cmocka_unit_test(test_broker_gone_fails_cleanly),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
