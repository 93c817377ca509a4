/* bare_reader.c - the benchmark's ceiling: reads a topic to its high watermarks, touching nothing.
 *
 * The consumer settings are those of runtime/kafka.c base_conf().  Not
 * built by CMake; bench/run.sh builds it with
 *
 *   gcc -std=gnu11 -O2 -Wall -Wextra bench/bare_reader.c -lrdkafka -o bare_reader
 *
 *   bare_reader BROKERS TOPIC [--offset N | --offsets O0,O1,...]
 *
 * Assigns all partitions (from offset 0, from N on each, or from the i-th
 * offset on the i-th partition in id order), polls until every partition has
 * reached the high watermark read before the assignment, and prints one line:
 *
 *   records=R bytes=B seconds=S read_seconds=RS cpu_seconds=C max_rss_kb=M
 *
 * bytes counts key + value, as kmsync's report does; seconds runs from the
 * client's creation to its close, read_seconds from the assignment to the
 * last record.  Exit 1 on any error. */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { TIMEOUT_MS = 15000, STALL_MS = 60000 };

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
        fprintf(stderr, "bare_reader: %s: %s\n", what, why);
        exit(1);
}

static void conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
        char why[512];
        if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) !=
            RD_KAFKA_CONF_OK)
                die(key, why);
}

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
        (void)rk;
        if (getenv("KMSYNC_DEBUG"))
                fprintf(stderr, "bare_reader: librdkafka %d %s: %s\n", level,
                        fac, buf);
}

/* The settings of runtime/kafka.c base_conf(), group and client aside. */
static rd_kafka_t *open_consumer(const char *brokers)
{
        const char *pairs[][2] = {
                {"bootstrap.servers", brokers},
                {"group.id", "kmsync_bench_bare"},
                {"client.id", "kmsync-bench-bare"},
                {"enable.auto.commit", "false"},
                {"enable.auto.offset.store", "false"},
                {"enable.partition.eof", "true"},
                {"auto.offset.reset", "error"},
                {"queued.max.messages.kbytes", "16384"},
                {"fetch.max.bytes", "4194304"},
                {"topic.metadata.refresh.interval.ms", "10000"},
        };
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
                conf_set(conf, pairs[i][0], pairs[i][1]);
        rd_kafka_conf_set_log_cb(conf, quiet_log);
        char why[512];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
        if (!rk)
                die("rd_kafka_new", why);
        rd_kafka_poll_set_consumer(rk);
        return rk;
}

static int cmp_i32(const void *a, const void *b)
{
        int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
        return (x > y) - (x < y);
}

/* The topic's partition ids, sorted; their count in *n. */
static int32_t *partitions(rd_kafka_t *rk, const char *topic, int *n)
{
        rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int attempt = 0; attempt < 5; attempt++) {
                e = rd_kafka_metadata(rk, 0, t, &md, TIMEOUT_MS);
                if (e == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                        break;
                if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
                        e = md->topics[0].err;
                        rd_kafka_metadata_destroy(md);
                        md = NULL;
                }
                rd_kafka_poll(rk, 200);
        }
        rd_kafka_topic_destroy(t);
        if (!md)
                die("metadata", rd_kafka_err2str(e));
        *n = md->topics[0].partition_cnt;
        int32_t *ids = calloc((size_t)*n + 1, sizeof(*ids));
        for (int i = 0; i < *n; i++)
                ids[i] = md->topics[0].partitions[i].id;
        qsort(ids, (size_t)*n, sizeof(*ids), cmp_i32);
        rd_kafka_metadata_destroy(md);
        return ids;
}

static void usage(void)
{
        fprintf(stderr, "usage: bare_reader BROKERS TOPIC [--offset N | "
                        "--offsets O0,O1,...]\n");
        exit(2);
}

int main(int argc, char **argv)
{
        if (argc != 3 && argc != 5)
                usage();
        const char *brokers = argv[1], *topic = argv[2];
        const char *offset_all = NULL, *offset_list = NULL;
        if (argc == 5 && strcmp(argv[3], "--offset") == 0)
                offset_all = argv[4];
        else if (argc == 5 && strcmp(argv[3], "--offsets") == 0)
                offset_list = argv[4];
        else if (argc == 5)
                usage();

        double t0 = now_s();
        rd_kafka_t *rk = open_consumer(brokers);
        int n;
        int32_t *ids = partitions(rk, topic, &n);
        int64_t *from = calloc((size_t)n + 1, sizeof(*from));
        int64_t *high = calloc((size_t)n + 1, sizeof(*high));
        int *done = calloc((size_t)n + 1, sizeof(*done));
        const char *p = offset_list;
        for (int i = 0; i < n; i++) {
                if (offset_all)
                        from[i] = strtoll(offset_all, NULL, 10);
                else if (p && *p) {
                        char *end;
                        from[i] = strtoll(p, &end, 10);
                        p = *end == ',' ? end + 1 : end;
                }
                int64_t low;
                rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
                        rk, topic, ids[i], &low, &high[i], TIMEOUT_MS);
                if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
                        die("watermarks", rd_kafka_err2str(e));
        }

        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
        int pending = 0;
        for (int i = 0; i < n; i++) {
                if (from[i] >= high[i]) {
                        done[i] = 1;
                        continue;
                }
                rd_kafka_topic_partition_list_add(l, topic, ids[i])->offset =
                        from[i];
                pending++;
        }
        rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
                die("assign", rd_kafka_err2str(e));

        long long records = 0, bytes = 0;
        double t_assign = now_s(), t_last = t_assign, t_seen = t_assign;
        while (pending > 0) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                double t = now_s();
                if (!m) {
                        if (t - t_seen > STALL_MS / 1000.0)
                                die("poll", "no record for 60 s");
                        continue;
                }
                t_seen = t;
                int32_t *at = m->rkt ? bsearch(&m->partition, ids, (size_t)n,
                                               sizeof(*ids), cmp_i32)
                                     : NULL;
                int i = at ? (int)(at - ids) : -1;
                int64_t next = -1;
                if (!m->err) {
                        records++;
                        bytes += (long long)(m->key_len + m->len);
                        t_last = t;
                        next = m->offset + 1;
                } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        next = m->offset;
                } else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                           m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE ||
                           m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                        die("consume", rd_kafka_message_errstr(m));
                }
                if (i >= 0 && !done[i] && next >= high[i]) {
                        done[i] = 1;
                        pending--;
                        rd_kafka_topic_partition_list_t *pl =
                                rd_kafka_topic_partition_list_new(1);
                        rd_kafka_topic_partition_list_add(pl, topic, ids[i]);
                        rd_kafka_pause_partitions(rk, pl);
                        rd_kafka_topic_partition_list_destroy(pl);
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        double t_end = now_s();

        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
        printf("records=%lld bytes=%lld seconds=%.3f read_seconds=%.3f "
               "cpu_seconds=%.3f max_rss_kb=%ld\n",
               records, bytes, t_end - t0, t_last - t_assign, cpu,
               ru.ru_maxrss);
        free(ids);
        free(from);
        free(high);
        free(done);
        return 0;
}
