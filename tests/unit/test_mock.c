/* test_mock.c - the embedded Kafka: a fixture loaded into the mock cluster
 * reads back through a real consumer exactly as written, and a fixture the
 * mock cannot hold fails loudly. */
#include "km_test.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kmsync/mock.h"

#define NPARTITIONS 3
#define NRECORDS 300

/* ----------------------------------------------------------- fixtures */

static unsigned char *bytes_of(const void *p, size_t n)
{
        unsigned char *out = malloc(n + 1);
        assert_non_null(out);
        memcpy(out, p, n);
        return out;
}

static void add_header(km_fixture_record_t *r, const char *name,
                       const char *value, size_t len)
{
        r->headers = realloc(r->headers,
                             (r->nheaders + 1) * sizeof(*r->headers));
        assert_non_null(r->headers);
        km_fixture_header_t *h = &r->headers[r->nheaders++];
        h->name = strdup(name);
        h->value = value ? bytes_of(value, len) : NULL;
        h->value_len = value ? len : 0;
}

/* Record i of the generated fixture: every form of key, value and header
 * appears, binary bytes with NUL included. */
static void make_record(km_fixture_record_t *r, int i)
{
        char text[64];
        memset(r, 0, sizeof(*r));
        r->topic = strdup("orders");
        r->partition = i % NPARTITIONS;
        r->timestamp_ms = 1669078800000LL + i * 1000LL;
        r->line = i + 1;
        int n = snprintf(text, sizeof(text), "key-%d", i);
        if (i % 5 == 1)
                r->key = NULL;
        else if (i % 5 == 2)
                r->key = bytes_of("", 0);
        else if (i % 5 == 3)
                r->key = bytes_of("\0k\xff", 3), r->key_len = 3;
        else
                r->key = bytes_of(text, (size_t)n), r->key_len = (size_t)n;
        n = snprintf(text, sizeof(text), "{\"n\":%d}", i);
        if (i % 7 == 1)
                r->value = NULL;
        else if (i % 7 == 2)
                r->value = bytes_of("", 0);
        else if (i % 7 == 3)
                r->value = bytes_of("v\0\x01", 3), r->value_len = 3;
        else
                r->value = bytes_of(text, (size_t)n), r->value_len = (size_t)n;
        if (i % 4 == 1) {
                add_header(r, "trace", "t1", 2);
                add_header(r, "trace", NULL, 0);
                add_header(r, "trace", "a\0b", 3);
                add_header(r, "empty", "", 0);
        }
}

static km_fixture_t make_fixture(int n)
{
        km_fixture_t f = {calloc((size_t)n, sizeof(km_fixture_record_t)),
                          (size_t)n, n ? NPARTITIONS - 1 : -1};
        for (int i = 0; i < n; i++)
                make_record(&f.records[i], i);
        return f;
}

/* n records of `size` bytes each, all in partition 0 of topic "big". */
static km_fixture_t make_big_fixture(int n, size_t size)
{
        km_fixture_t f = {calloc((size_t)n, sizeof(km_fixture_record_t)),
                          (size_t)n, 0};
        for (int i = 0; i < n; i++) {
                km_fixture_record_t *r = &f.records[i];
                r->topic = strdup("big");
                r->timestamp_ms = i;
                r->line = i + 1;
                r->value = malloc(size);
                assert_non_null(r->value);
                memset(r->value, 'a' + i % 26, size);
                r->value_len = size;
        }
        return f;
}

static km_mock_t *start(int brokers)
{
        char err[512];
        km_mock_t *m = km_mock_start(brokers, err, sizeof(err));
        if (!m)
                fail_msg("%s", err);
        return m;
}

/* ---------------------------------------------------------- consumer */

/* A consumer, with partitions 0..NPARTITIONS-1 of "orders" assigned from
 * offset 0 when `assign`.  (An assigned consumer's long-polling fetches
 * delay its other requests to the mock by fetch.wait.max.ms.) */
static rd_kafka_t *make_consumer(const char *bootstraps, int assign)
{
        char err[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        const char *settings[][2] = {
                {"bootstrap.servers", bootstraps},
                {"group.id", "km-test-mock"},
                {"enable.auto.commit", "false"},
                {"enable.partition.eof", "true"},
                {"log_level", "0"},
        };
        for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
                if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], err,
                                      sizeof(err)))
                        fail_msg("%s", err);
        rd_kafka_t *rk =
                rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
        if (!rk)
                fail_msg("%s", err);
        if (!assign)
                return rk;
        rd_kafka_topic_partition_list_t *parts =
                rd_kafka_topic_partition_list_new(NPARTITIONS);
        for (int p = 0; p < NPARTITIONS; p++)
                rd_kafka_topic_partition_list_add(parts, "orders", p)->offset =
                        0;
        assert_int_equal(rd_kafka_assign(rk, parts), 0);
        rd_kafka_topic_partition_list_destroy(parts);
        return rk;
}

static void assert_optional_bytes(const void *got, size_t got_len,
                                  const unsigned char *want, size_t want_len)
{
        if (!want) {
                assert_null(got);
                return;
        }
        assert_non_null(got);
        assert_int_equal(got_len, want_len);
        assert_memory_equal(got, want, want_len);
}

static void assert_headers(const rd_kafka_message_t *msg,
                           const km_fixture_record_t *r)
{
        rd_kafka_headers_t *hdrs = NULL;
        if (r->nheaders == 0) {
                assert_int_not_equal(rd_kafka_message_headers(msg, &hdrs), 0);
                return;
        }
        assert_int_equal(rd_kafka_message_headers(msg, &hdrs), 0);
        assert_int_equal(rd_kafka_header_cnt(hdrs), r->nheaders);
        for (size_t h = 0; h < r->nheaders; h++) {
                const char *name;
                const void *value;
                size_t len;
                assert_int_equal(rd_kafka_header_get_all(hdrs, h, &name,
                                                         &value, &len),
                                 0);
                assert_string_equal(name, r->headers[h].name);
                assert_optional_bytes(value, len, r->headers[h].value,
                                      r->headers[h].value_len);
        }
}

/* The record a message must be: the n-th of its partition in file order. */
static const km_fixture_record_t *nth_of_partition(const km_fixture_t *f,
                                                   int32_t p, int64_t n)
{
        for (size_t i = 0; i < f->count; i++)
                if (f->records[i].partition == p && n-- == 0)
                        return &f->records[i];
        fail_msg("no record %lld in partition %d", (long long)n, (int)p);
        return NULL;
}

static void check_message(const km_fixture_t *f, const rd_kafka_message_t *msg,
                          int64_t *next)
{
        int32_t p = msg->partition;
        assert_true(p >= 0 && p < NPARTITIONS);
        assert_int_equal(msg->offset, next[p]);
        const km_fixture_record_t *r = nth_of_partition(f, p, next[p]++);
        rd_kafka_timestamp_type_t type;
        assert_int_equal(rd_kafka_message_timestamp(msg, &type),
                         r->timestamp_ms);
        assert_int_equal(type, RD_KAFKA_TIMESTAMP_CREATE_TIME);
        assert_optional_bytes(msg->key, msg->key_len, r->key, r->key_len);
        assert_optional_bytes(msg->payload, msg->len, r->value, r->value_len);
        assert_headers(msg, r);
}

/* Consumes partitions 0..NPARTITIONS-1 to their ends (giving up after 10 s
 * without a message); returns the count. */
static size_t consume_all(rd_kafka_t *rk, const km_fixture_t *f)
{
        int64_t next[NPARTITIONS] = {0};
        int eof = 0, idle = 0;
        size_t seen = 0;
        while (eof < NPARTITIONS && idle < 100) {
                rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
                idle = msg ? 0 : idle + 1;
                if (!msg)
                        continue;
                if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        eof++;
                else if (msg->err)
                        fail_msg("consumer: %s", rd_kafka_message_errstr(msg));
                else {
                        check_message(f, msg, next);
                        seen++;
                }
                rd_kafka_message_destroy(msg);
        }
        assert_int_equal(eof, NPARTITIONS);
        return seen;
}

static void close_consumer(rd_kafka_t *rk)
{
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
}

/* -------------------------------------------------------------- tests */

static void test_load_and_consume(void **state)
{
        (void)state;
        km_fixture_t f = make_fixture(NRECORDS);
        km_mock_t *m = start(3);
        assert_non_null(km_mock_cluster(m));
        assert_non_null(strstr(km_mock_bootstraps(m), "127.0.0.1:"));
        char err[512];
        if (km_mock_load(m, &f, 1, err, sizeof(err)))
                fail_msg("%s", err);
        rd_kafka_t *rk = make_consumer(km_mock_bootstraps(m), 1);
        assert_int_equal(consume_all(rk, &f), NRECORDS);
        close_consumer(rk);
        km_mock_stop(m);
        km_fixture_free(&f);
}

static void test_min_partitions_and_topics(void **state)
{
        (void)state;
        km_fixture_t f = make_fixture(4);
        free(f.records[3].topic);
        f.records[3].topic = strdup("second");
        f.records[3].partition = 0;
        km_mock_t *m = start(1);
        char err[512];
        if (km_mock_load(m, &f, 5, err, sizeof(err)))
                fail_msg("%s", err);
        rd_kafka_t *rk = make_consumer(km_mock_bootstraps(m), 0);
        int64_t lo, hi;
        int64_t want[][2] = {{1, 1}, {1, 0}, {1, 0}, {0, 0}, {0, 0}};
        for (int p = 0; p < 5; p++) {
                assert_int_equal(rd_kafka_query_watermark_offsets(
                                         rk, "orders", p, &lo, &hi, 5000),
                                 0);
                assert_int_equal(lo, 0);
                assert_int_equal(hi, want[p][0]);
                assert_int_equal(rd_kafka_query_watermark_offsets(
                                         rk, "second", p, &lo, &hi, 5000),
                                 0);
                assert_int_equal(hi, want[p][1]);
        }
        /* A topic is created once: loading it again would shift offsets. */
        assert_int_equal(km_mock_load(m, &f, 1, err, sizeof(err)), -1);
        assert_string_equal(err, "topic 'orders' is already in the mock "
                                 "cluster: load each topic once");
        close_consumer(rk);
        km_mock_stop(m);
        km_fixture_free(&f);
}

static void test_empty_fixture(void **state)
{
        (void)state;
        km_fixture_t f = {NULL, 0, -1};
        km_mock_t *m = start(1);
        char err[512];
        assert_int_equal(km_mock_load(m, &f, 3, err, sizeof(err)), 0);
        km_mock_stop(m);
}

/* 60 records of 100 kB in one partition: over the mock's 5 MB. */
static void test_overflow_fails_loudly(void **state)
{
        (void)state;
        km_fixture_t f = make_big_fixture(60, 100 * 1000);
        km_mock_t *m = start(1);
        char err[512];
        assert_int_equal(km_mock_load(m, &f, 1, err, sizeof(err)), -1);
        long long kept = -1;
        char rest[400] = "";
        assert_int_equal(sscanf(err, "the mock cluster kept %lld of 60 "
                                     "records of big [0]: %399[^\n]",
                                &kept, rest),
                         2);
        assert_true(kept > 0 && kept < 60);
        assert_string_equal(rest, "it keeps at most 5 MB or 100000 message "
                                  "sets per partition; spread the fixture "
                                  "over more partitions (its \"partition\" "
                                  "field)");
        km_mock_stop(m);
        km_fixture_free(&f);
}

static void test_record_too_large(void **state)
{
        (void)state;
        km_fixture_t f = make_big_fixture(2, 10);
        free(f.records[1].value);
        f.records[1].value = calloc(1, 1200 * 1000);
        f.records[1].value_len = 1200 * 1000;
        km_mock_t *m = start(1);
        char err[512];
        assert_int_equal(km_mock_load(m, &f, 1, err, sizeof(err)), -1);
        assert_string_equal(err, "cannot produce the record of line 2 (big "
                                 "[0]): Broker: Message size too large (a "
                                 "record takes at most 1000000 bytes)");
        km_mock_stop(m);
        km_fixture_free(&f);
}

/* The broker refuses a batch: the delivery report says so, and the load
 * names the first record it lost. */
static void test_refused_delivery(void **state)
{
        (void)state;
        km_fixture_t f = make_big_fixture(3, 10);
        km_mock_t *m = start(1);
        rd_kafka_mock_push_request_errors(km_mock_cluster(m), 0 /* Produce */,
                                          1, RD_KAFKA_RESP_ERR_INVALID_RECORD);
        char err[512];
        assert_int_equal(km_mock_load(m, &f, 1, err, sizeof(err)), -1);
        assert_string_equal(err, "the mock cluster did not take the record of "
                                 "line 1 (big [0]) (3 of 3 records failed): "
                                 "Broker: Broker failed to validate record");
        km_mock_stop(m);
        km_fixture_free(&f);
}

static void test_bad_broker_count(void **state)
{
        (void)state;
        char err[512];
        assert_null(km_mock_start(0, err, sizeof(err)));
        assert_string_equal(err, "a mock cluster has 1 to 32 brokers, not 0");
}

static int teardown(void **state)
{
        (void)state;
        /* librdkafka's threads end after rd_kafka_destroy returns. */
        return rd_kafka_wait_destroyed(5000) == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_load_and_consume),
                cmocka_unit_test(test_min_partitions_and_topics),
                cmocka_unit_test(test_empty_fixture),
                cmocka_unit_test(test_overflow_fails_loudly),
                cmocka_unit_test(test_record_too_large),
                cmocka_unit_test(test_refused_delivery),
                cmocka_unit_test(test_bad_broker_count),
        };
        return cmocka_run_group_tests(tests, NULL, teardown);
}
