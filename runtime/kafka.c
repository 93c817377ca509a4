/* kafka.c - librdkafka consumer set-up and the requests a run makes.
 *
 * Partitions are assigned directly, so no rebalance can move them mid-run;
 * offsets are only committed after the target committed.  librdkafka's own
 * log goes to stderr only with KMSYNC_DEBUG set. */
#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum { REQUEST_TIMEOUT_MS = 15000 };

struct km_kafka {
        rd_kafka_t *rk;
};

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
        (void)rk;
        if (getenv("KMSYNC_DEBUG"))
                fprintf(stderr, "kmsync: librdkafka %d %s: %s\n", level, fac,
                        buf);
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                    int secret, char *err, size_t errlen)
{
        char why[512];
        if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) ==
            RD_KAFKA_CONF_OK)
                return 0;
        if (secret)
                snprintf(err, errlen, "Kafka option '%s' was refused", key);
        else
                snprintf(err, errlen, "Kafka option '%s' = '%s': %s", key,
                         value, why);
        return -1;
}

/* The value of a setting, reading ENV() now; NULL and a message naming the
 * variable (never its value) when it is not set. */
static const char *setting_value(const km_setting_t *s, const char *conn,
                                 char *err, size_t errlen)
{
        if (!s->from_env)
                return s->value;
        const char *v = getenv(s->value);
        if (!v)
                snprintf(err, errlen,
                         "environment variable %s is not set (option '%s' "
                         "of connection %s reads it)",
                         s->value, s->key, conn);
        return v;
}

static int apply_options(rd_kafka_conf_t *conf, const km_kafka_conn_t *conn,
                         char *err, size_t errlen)
{
        for (int i = 0; i < conn->noptions; i++) {
                const km_setting_t *s = &conn->options[i];
                const char *v = setting_value(s, conn->name, err, errlen);
                if (!v || conf_set(conf, s->key, v, s->secret, err, errlen))
                        return -1;
        }
        return 0;
}

static int base_conf(rd_kafka_conf_t *conf, const char *brokers,
                     const char *group, char *err, size_t errlen)
{
        const char *pairs[][2] = {
                {"bootstrap.servers", brokers},
                {"group.id", group},
                {"client.id", "kmsync"},
                {"enable.auto.commit", "false"},
                {"enable.auto.offset.store", "false"},
                {"enable.partition.eof", "true"},
                {"auto.offset.reset", "error"},
                /* A bounded prefetch keeps memory flat whatever the window. */
                {"queued.max.messages.kbytes", "16384"},
                {"fetch.max.bytes", "16777216"},
                {"topic.metadata.refresh.interval.ms", "10000"},
        };
        for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
                if (conf_set(conf, pairs[i][0], pairs[i][1], 0, err, errlen))
                        return -1;
        rd_kafka_conf_set_log_cb(conf, quiet_log);
        return 0;
}

km_kafka_t *km_kafka_open(const km_kafka_conn_t *conn, const char *brokers,
                          const char *group, char *err, size_t errlen)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        const char *b = brokers;
        if (!b) {
                km_setting_t s = {"brokers", conn->brokers,
                                  conn->brokers_from_env, 0};
                b = setting_value(&s, conn->name, err, errlen);
        }
        if (!b || base_conf(conf, b, group, err, errlen) ||
            apply_options(conf, conn, err, errlen)) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        char why[512];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why,
                                      sizeof(why));
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                snprintf(err, errlen, "cannot create the Kafka client: %s",
                         why);
                return NULL;
        }
        rd_kafka_poll_set_consumer(rk);
        km_kafka_t *k = km_xcalloc(1, sizeof(*k));
        k->rk = rk;
        return k;
}

void km_kafka_close(km_kafka_t *k)
{
        if (!k)
                return;
        rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
        free(k);
}

static int cmp_i32(const void *a, const void *b)
{
        int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
        return (x > y) - (x < y);
}

int km_kafka_partitions(km_kafka_t *k, const char *topic, int32_t **parts,
                        int *n, char *err, size_t errlen)
{
        rd_kafka_topic_t *t = rd_kafka_topic_new(k->rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
        /* A new topic's metadata may take a moment to propagate. */
        for (int attempt = 0; attempt < 5; attempt++) {
                e = rd_kafka_metadata(k->rk, 0, t, &md, REQUEST_TIMEOUT_MS);
                if (e == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                        break;
                if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
                        e = md->topics[0].err;
                        rd_kafka_metadata_destroy(md);
                        md = NULL;
                }
                if (e == RD_KAFKA_RESP_ERR__TRANSPORT ||
                    e == RD_KAFKA_RESP_ERR__TIMED_OUT)
                        break;
                rd_kafka_poll(k->rk, 200);
        }
        rd_kafka_topic_destroy(t);
        if (!md) {
                snprintf(err, errlen, "cannot read the metadata of topic "
                                      "'%s': %s",
                         topic, rd_kafka_err2str(e));
                return -1;
        }
        const struct rd_kafka_metadata_topic *mt = &md->topics[0];
        *n = mt->partition_cnt;
        *parts = km_xcalloc((size_t)*n + 1, sizeof(int32_t));
        for (int i = 0; i < *n; i++)
                (*parts)[i] = mt->partitions[i].id;
        qsort(*parts, (size_t)*n, sizeof(int32_t), cmp_i32);
        rd_kafka_metadata_destroy(md);
        return 0;
}

/* Asks the cluster for the topic's metadata now, so that a leader that
 * moved is known before the next request (the cache would only notice at
 * its next periodic refresh). */
static void refresh_metadata(km_kafka_t *k, const char *topic)
{
        rd_kafka_topic_t *t = rd_kafka_topic_new(k->rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(k->rk, 0, t, &md, REQUEST_TIMEOUT_MS) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(t);
}

int km_kafka_watermarks(km_kafka_t *k, const char *topic, int32_t partition,
                        int64_t *low, int64_t *high, char *err, size_t errlen)
{
        rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int attempt = 0; attempt < 6; attempt++) {
                e = rd_kafka_query_watermark_offsets(k->rk, topic, partition,
                                                     low, high,
                                                     REQUEST_TIMEOUT_MS);
                if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                        return 0;
                rd_kafka_poll(k->rk, 200 << attempt);
                refresh_metadata(k, topic);
        }
        snprintf(err, errlen, "cannot read the offsets of %s [%d]: %s", topic,
                 (int)partition, rd_kafka_err2str(e));
        return -1;
}

int km_kafka_watermarks_all(km_kafka_t *k, const char *topic,
                            const int32_t *parts, int n, int64_t *low,
                            int64_t *high, char *err, size_t errlen)
{
        km_ts_answer_t *lo = km_xcalloc((size_t)n + 1, sizeof(*lo));
        km_ts_answer_t *hi = km_xcalloc((size_t)n + 1, sizeof(*hi));
        int rc = 0;
        /* ListOffsets takes -2 for the log start and -1 for the end. */
        km_kafka_offsets_for_times(k, topic, parts, n, RD_KAFKA_OFFSET_BEGINNING,
                                   lo);
        km_kafka_offsets_for_times(k, topic, parts, n, RD_KAFKA_OFFSET_END, hi);
        for (int i = 0; i < n && rc == 0; i++) {
                if (lo[i].valid && hi[i].valid && lo[i].offset >= 0 &&
                    hi[i].offset >= lo[i].offset) {
                        low[i] = lo[i].offset;
                        high[i] = hi[i].offset;
                        continue;
                }
                rc = km_kafka_watermarks(k, topic, parts[i], &low[i], &high[i],
                                         err, errlen);
        }
        free(lo);
        free(hi);
        return rc;
}

void km_kafka_offsets_for_times(km_kafka_t *k, const char *topic,
                                const int32_t *parts, int n, int64_t ts,
                                km_ts_answer_t *answers)
{
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(n);
        for (int i = 0; i < n; i++) {
                /* offsets_for_times takes the timestamp as the offset. */
                rd_kafka_topic_partition_list_add(l, topic, parts[i])->offset =
                        ts;
                answers[i] = (km_ts_answer_t){-1, 0};
        }
        if (rd_kafka_offsets_for_times(k->rk, l, REQUEST_TIMEOUT_MS) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
                for (int i = 0; i < l->cnt; i++)
                        if (l->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                                answers[i] = (km_ts_answer_t){
                                        l->elems[i].offset, 1};
        }
        rd_kafka_topic_partition_list_destroy(l);
}

static int index_of(const int32_t *parts, int n, int32_t id)
{
        for (int i = 0; i < n; i++)
                if (parts[i] == id)
                        return i;
        return -1;
}

void km_kafka_timestamps_at(km_kafka_t *k, const char *topic,
                            const int32_t *parts, const int64_t *offsets,
                            int n, int64_t *ts)
{
        char err[256];
        int missing = n;
        for (int i = 0; i < n; i++)
                ts[i] = -1;
        if (n == 0 || km_kafka_assign(k, topic, parts, offsets, n, err,
                                      sizeof(err)))
                return;
        for (int waited = 0; waited < REQUEST_TIMEOUT_MS && missing > 0;
             waited += 100) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, 100);
                if (!m)
                        continue;
                int i = m->rkt ? index_of(parts, n, m->partition) : -1;
                if (!m->err && i >= 0 && ts[i] < 0 && m->offset == offsets[i]) {
                        ts[i] = rd_kafka_message_timestamp(m, NULL);
                        missing--;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(k->rk, NULL);
}

/* The list librdkafka takes: each partition with its offset. */
static rd_kafka_topic_partition_list_t *
partition_list(const char *topic, const int32_t *parts, const int64_t *offsets,
               int n)
{
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(n);
        for (int i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(l, topic, parts[i])->offset =
                        offsets[i];
        return l;
}

int km_kafka_assign(km_kafka_t *k, const char *topic, const int32_t *parts,
                    const int64_t *offsets, int n, char *err, size_t errlen)
{
        rd_kafka_topic_partition_list_t *l =
                partition_list(topic, parts, offsets, n);
        rd_kafka_resp_err_t e = rd_kafka_assign(k->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                return 0;
        snprintf(err, errlen, "cannot assign the partitions of '%s': %s",
                 topic, rd_kafka_err2str(e));
        return -1;
}

void km_kafka_pause(km_kafka_t *k, const char *topic, int32_t partition)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, partition);
        rd_kafka_pause_partitions(k->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
}

rd_kafka_message_t *km_kafka_poll(km_kafka_t *k, int timeout_ms)
{
        return rd_kafka_consumer_poll(k->rk, timeout_ms);
}

int km_kafka_commit(km_kafka_t *k, const char *topic, const int32_t *parts,
                    const int64_t *offsets, int n, char *err, size_t errlen)
{
        rd_kafka_topic_partition_list_t *l =
                partition_list(topic, parts, offsets, n);
        rd_kafka_resp_err_t e = rd_kafka_commit(k->rk, l, 0);
        rd_kafka_topic_partition_list_destroy(l);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                return 0;
        snprintf(err, errlen, "cannot commit offsets to the group: %s",
                 rd_kafka_err2str(e));
        return -1;
}
