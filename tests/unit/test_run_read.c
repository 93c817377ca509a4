/* test_run_read.c - reading a window when librdkafka's prefetch queue is
 * the bottleneck.
 *
 * The consumer queue is bounded (queued.min.messages); once full,
 * librdkafka 2.0.x stops fetching and sleeps until its next 1 s wake-up.
 * The run wakes it with a seek (runtime/kafka.h).  Here the queue holds one
 * message and the topic is produced in small message sets, so that every
 * one of some 40 fetches fills the queue: the run must wake the fetcher
 * each time (else it would sleep ~0.5 s each time), and the seeks must
 * lose and repeat nothing: every offset of the window is written exactly
 * once. */
#include "km_test.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include "kmsync/mock.h"
#include "kmsync/run.h"

enum { NPART = 4, PER_PART = 12000, BEFORE = 1200 };
#define W_START 1704103200000LL /* 2024-01-01 10:00 UTC */
#define W_END (W_START + 3600000LL)

static char dir[256];
static km_mock_t *mock;

/* The queue holds one message at most: every fetch response fills it.
 * Fetches of 16 KB a partition, a few hundred records each. */
#define SYNC_TEXT(end)                                                        \
        "KAFKA CONNECTION k BROKERS '127.0.0.1:1'\n"                          \
        "  OPTIONS ('queued.min.messages' = '1',\n"                           \
        "           'max.partition.fetch.bytes' = '16384');\n"                \
        "MAXCOMPUTE CONNECTION m ENDPOINT 'http://mc.invalid/api' PROJECT p\n" \
        "  ACCESS KEY ENV('AK') SECRET ENV('SK');\n"                          \
        "SYNC ev FROM k INTO m.ev TIMEZONE 'UTC'\n"                           \
        "  WINDOW FROM '$[yyyymmddhh24-1/24]0000' TO '$[yyyymmddhh24]0000'\n" \
        "  PARTITION (ds = '$[yyyymmddhh24-1/24]')\n" end                     \
        "  MAP (__partition__ AS p, __offset__ AS o, n AS n BIGINT);\n"

/* Timestamp of record i of a partition: one every 0.3 s from 09:54, so
 * the first 1,200 of each partition are before the window, and the window
 * ends at record 13,200, after the last one. */
static long long ts_of(int i)
{
        return W_START - (long long)BEFORE * 300LL + (long long)i * 300LL;
}

static int in_window(int i)
{
        return ts_of(i) >= W_START && ts_of(i) < W_END;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
        (void)rk;
        (void)opaque;
        if (m->err)
                fail_msg("produce failed: %s", rd_kafka_err2str(m->err));
}

/* Produces the topic in message sets of 20 records, so that a fetch of
 * 16 KB a partition holds a few hundred of them. */
static void produce_topic(void)
{
        char err[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        const char *pairs[][2] = {
                {"bootstrap.servers", km_mock_bootstraps(mock)},
                {"batch.num.messages", "20"},
                {"linger.ms", "5"},
                {"enable.idempotence", "true"},
        };
        for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
                assert_int_equal(rd_kafka_conf_set(conf, pairs[i][0],
                                                   pairs[i][1], err,
                                                   sizeof(err)),
                                 RD_KAFKA_CONF_OK);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        assert_non_null(rk);
        for (int i = 0; i < PER_PART; i++)
                for (int p = 0; p < NPART; p++) {
                        char value[32];
                        int len = snprintf(value, sizeof(value), "{\"n\":%d}",
                                           i);
                        rd_kafka_resp_err_t e;
                        while ((e = rd_kafka_producev(
                                        rk, RD_KAFKA_V_TOPIC("ev"),
                                        RD_KAFKA_V_PARTITION(p),
                                        RD_KAFKA_V_VALUE(value, (size_t)len),
                                        RD_KAFKA_V_TIMESTAMP(ts_of(i)),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_END)) ==
                               RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                rd_kafka_poll(rk, 10);
                        assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
                }
        assert_int_equal(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_destroy(rk);
}

static int setup(void **state)
{
        char err[512];
        (void)state;
        snprintf(dir, sizeof(dir), "/tmp/km_run_read_XXXXXX");
        assert_non_null(mkdtemp(dir));
        mock = km_mock_start(1, err, sizeof(err));
        if (!mock)
                fail_msg("%s", err);
        assert_int_equal(rd_kafka_mock_topic_create(km_mock_cluster(mock), "ev",
                                                    NPART, 1),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        produce_topic();
        return 0;
}

static int teardown(void **state)
{
        char cmd[300];
        (void)state;
        km_mock_stop(mock);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static km_run_status_t run(const char *text, km_run_report_t *rep,
                           km_compiled_t *c)
{
        char target[300], rejects[300];
        snprintf(target, sizeof(target), "local:%s/wh", dir);
        snprintf(rejects, sizeof(rejects), "%s/rejects", dir);
        *c = km_test_compile(text);
        assert_compiles(*c);
        km_run_options_t o = {0};
        o.kafka = km_mock_bootstraps(mock);
        o.target = target;
        o.rejects_dir = rejects;
        km_civil_t at = km_test_time("2024-01-01 11:05");
        return km_run(c->plan, c->plan->syncs[0], &at, &o, rep);
}

/* Counts each (partition, offset) row of the committed partition in
 * seen[p][o]; fails on a row outside the fixture. */
static void count_rows(int seen[NPART][PER_PART])
{
        char path[512], line[256];
        snprintf(path, sizeof(path), "%s/wh/p/ev/ds=2024010110/part-00000.jsonl",
                 dir);
        FILE *f = fopen(path, "r");
        if (!f)
                fail_msg("no committed partition at %s", path);
        memset(seen, 0, sizeof(int) * NPART * PER_PART);
        while (fgets(line, sizeof(line), f)) {
                int p, o, n;
                if (sscanf(line, "{\"p\":%d,\"o\":%d,\"n\":%d}", &p, &o, &n) != 3)
                        fail_msg("unexpected row: %s", line);
                assert_in_range(p, 0, NPART - 1);
                assert_in_range(o, 0, PER_PART - 1);
                assert_int_equal(n, o); /* offset i holds record i */
                seen[p][o]++;
        }
        fclose(f);
}

/* Every offset of the window once, none outside it. */
static void expect_each_offset_once(void)
{
        static int seen[NPART][PER_PART];
        count_rows(seen);
        for (int p = 0; p < NPART; p++)
                for (int i = 0; i < PER_PART; i++)
                        if (seen[p][i] != in_window(i))
                                fail_msg("partition %d offset %d written %d "
                                         "times, expected %d",
                                         p, i, seen[p][i], in_window(i));
}

static int expected_rows(void)
{
        int n = 0;
        for (int i = 0; i < PER_PART; i++)
                n += in_window(i);
        return n * NPART;
}

static void test_full_queue_wakes_the_fetcher(void **state)
{
        (void)state;
        km_run_report_t rep;
        km_compiled_t c;
        km_run_status_t st = run(SYNC_TEXT(""), &rep, &c);
        if (st != KM_RUN_OK)
                fail_msg("run failed: %s", rep.error);
        assert_int_equal(rep.rows_written, expected_rows());
        expect_each_offset_once();
        assert_int_equal(rep.nranges, NPART);
        for (int i = 0; i < rep.nranges; i++) {
                assert_int_equal(rep.ranges[i].start_offset, BEFORE);
                assert_int_equal(rep.ranges[i].end_offset, PER_PART);
        }
        /* Every fetch filled the queue and the fetcher was woken each
         * time.  Left asleep it wakes by itself within 1 s: some 40 such
         * pauses made this run take 15-20 s; woken, it takes well under a
         * second (a few under sanitizers). */
        if (rep.stages.fetch_wakeups < 10)
                fail_msg("fetcher woken %lld times",
                         (long long)rep.stages.fetch_wakeups);
        if (rep.stages.read > 8.0)
                fail_msg("waited %.1f s for records: the fetcher slept",
                         rep.stages.read);
        /* The stages of the reading thread add up to about the run's
         * time; the mapper's ran beside them. */
        const km_run_stages_t *s = &rep.stages;
        double sum = s->setup + s->resolve + s->read + s->encode + s->other +
                     s->write;
        assert_true(sum <= rep.seconds + 0.05);
        assert_true(sum >= rep.seconds * 0.5);
        assert_true(s->map_wait <= s->other);
        assert_true(s->parse_extract > 0 && s->encode > 0 && s->read > 0);
        km_run_report_clear(&rep);
        km_test_release(&c);
}

/* The same under END WHEN IDLE, where the high watermark does not end a
 * partition: each ends at its first record past the window, read after
 * many seeks. */
static void test_full_queue_end_when_idle(void **state)
{
        (void)state;
        km_run_report_t rep;
        km_compiled_t c;
        km_run_status_t st = run(SYNC_TEXT("  END WHEN IDLE 2 SECONDS\n"), &rep,
                                 &c);
        if (st != KM_RUN_OK)
                fail_msg("run failed: %s", rep.error);
        assert_int_equal(rep.rows_written, expected_rows());
        expect_each_offset_once();
        assert_true(rep.stages.fetch_wakeups >= 10);
        km_run_report_clear(&rep);
        km_test_release(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_queue_wakes_the_fetcher),
                cmocka_unit_test(test_full_queue_end_when_idle),
        
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
