/* kafka.c - librdkafka consumer set-up and the requests a run makes.
 *
 * Partitions are assigned directly, so no rebalance can move them mid-run;
 * offsets are only committed after the target committed.  librdkafka's own
 * log goes to stderr only with KMSYNC_DEBUG set.
 *
 * Records are taken from the consumer queue in batches.  The queue is
 * bounded (queued.min.messages, queued.max.messages.kbytes); once it is
 * full, librdkafka 2.0.x stops fetching and its broker thread sleeps until
 * its next 1 s wake-up, however soon the queue drains (later versions made
 * that pause fetch.queue.backoff.ms).  km_kafka_wake_fetcher() ends that
 * sleep: a seek of a partition to the very offset the run reads next is
 * the one asynchronous public call that wakes the broker thread. */
#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum { REQUEST_TIMEOUT_MS = 15000 };

struct km_kafka {
        rd_kafka_t *rk;
        /* What the client was made from, to make a sibling. */
        const km_kafka_conn_t *conn;
        char *brokers, *group;
        rd_kafka_queue_t *queue; /* the consumer queue, all partitions */
        int64_t queue_max_msgs;  /* queued.min.messages */
        int64_t queue_max_bytes; /* queued.max.messages.kbytes * 1024 */
        /* The leader of each partition when the topic was listed. */
        int32_t *leader_part, *leader_id;
        int nleaders;
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
                /* A bounded prefetch keeps memory flat whatever the window.
                 * Records held while their batch is mapped keep their whole
                 * fetch response alive: 4 MB responses keep that small
                 * (16 MB cost 10-20 MB more at 4M records, and no speed). */
                {"queued.max.messages.kbytes", "16384"},
                {"fetch.max.bytes", "4194304"},
                {"topic.metadata.refresh.interval.ms", "10000"},
        };
        for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
                if (conf_set(conf, pairs[i][0], pairs[i][1], 0, err, errlen))
                        return -1;
        rd_kafka_conf_set_log_cb(conf, quiet_log);
        return 0;
}

/* A numeric setting of conf, or fallback when it cannot be read. */
static int64_t conf_number(const rd_kafka_conf_t *conf, const char *key,
                           int64_t fallback)
{
        char buf[64];
        size_t len = sizeof(buf);
        if (rd_kafka_conf_get(conf, key, buf, &len) != RD_KAFKA_CONF_OK)
                return fallback;
        return strtoll(buf, NULL, 10);
}

/* A client that reads a record here and there: small fetches, a small
 * queue, so that it never holds more than a few message sets. */
static int probe_conf(rd_kafka_conf_t *conf, char *err, size_t errlen)
{
        return conf_set(conf, "queued.max.messages.kbytes", "2048", 0, err,
                        errlen) ||
               conf_set(conf, "fetch.max.bytes", "2097152", 0, err, errlen);
}

static km_kafka_t *open_client(const km_kafka_conn_t *conn,
                               const char *brokers, const char *group,
                               int probe, char *err, size_t errlen)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        const char *b = brokers;
        if (!b) {
                km_setting_t s = {"brokers", conn->brokers,
                                  conn->brokers_from_env, 0};
                b = setting_value(&s, conn->name, err, errlen);
        }
        if (!b || base_conf(conf, b, group, err, errlen) ||
            (probe && probe_conf(conf, err, errlen)) ||
            apply_options(conf, conn, err, errlen)) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        int64_t max_msgs = conf_number(conf, "queued.min.messages", 100000);
        int64_t max_kb = conf_number(conf, "queued.max.messages.kbytes",
                                     16384);
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
        k->conn = conn;
        k->brokers = km_xstrdup(b);
        k->group = km_xstrdup(group);
        k->queue = rd_kafka_queue_get_consumer(rk);
        k->queue_max_msgs = max_msgs;
        k->queue_max_bytes = max_kb * 1024;
        return k;
}

km_kafka_t *km_kafka_open(const km_kafka_conn_t *conn, const char *brokers,
                          const char *group, char *err, size_t errlen)
{
        return open_client(conn, brokers, group, 0, err, errlen);
}

void km_kafka_close(km_kafka_t *k)
{
        if (!k)
                return;
        if (k->queue)
                rd_kafka_queue_destroy(k->queue);
        rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
        free(k->leader_part);
        free(k->leader_id);
        free(k->brokers);
        free(k->group);
        free(k);
}

static int cmp_i32(const void *a, const void *b)
{
        int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
        return (x > y) - (x < y);
}

static void remember_leaders(km_kafka_t *k,
                             const struct rd_kafka_metadata_topic *mt)
{
        free(k->leader_part);
        free(k->leader_id);
        k->nleaders = mt->partition_cnt;
        k->leader_part = km_xcalloc((size_t)k->nleaders + 1, sizeof(int32_t));
        k->leader_id = km_xcalloc((size_t)k->nleaders + 1, sizeof(int32_t));
        for (int i = 0; i < k->nleaders; i++) {
                k->leader_part[i] = mt->partitions[i].id;
                k->leader_id[i] = mt->partitions[i].leader;
        }
}

/* The leader of a partition as last listed; -1 when unknown. */
static int32_t leader_of(const km_kafka_t *k, int32_t partition)
{
        for (int i = 0; i < k->nleaders; i++)
                if (k->leader_part[i] == partition)
                        return k->leader_id[i];
        return -1;
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
        remember_leaders(k, mt);
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

/* Reads the records at offsets[i] of parts[i] with client k. */
static void read_timestamps(km_kafka_t *k, const char *topic,
                            const int32_t *parts, const int64_t *offsets,
                            int n, int64_t *ts)
{
        char err[256];
        int missing = n;
        if (km_kafka_assign(k, topic, parts, offsets, n, err, sizeof(err)))
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
                        /* Its other records are not needed: dropped. */
                        km_kafka_pause(k, topic, parts[i]);
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(k->rk, NULL);
}

void km_kafka_timestamps_at(km_kafka_t *k, const char *topic,
                            const int32_t *parts, const int64_t *offsets,
                            int n, int64_t *ts)
{
        char err[256];
        for (int i = 0; i < n; i++)
                ts[i] = -1;
        if (n == 0)
                return;
        /* A sibling client reads them: a partition assigned, unassigned
         * and assigned again on one client waits for its fetcher's 1 s
         * wake-up before the window's reading starts. */
        km_kafka_t *once = open_client(k->conn, k->brokers, k->group, 1, err,
                                       sizeof(err));
        read_timestamps(once ? once : k, topic, parts, offsets, n, ts);
        km_kafka_close(once);
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

int km_kafka_take(km_kafka_t *k, rd_kafka_message_t **msgs, int max,
                  int timeout_ms)
{
        /* A timeout makes librdkafka wait until the whole batch is there:
         * take what is queued now, and wait only for a first message. */
        ssize_t n = rd_kafka_consume_batch_queue(k->queue, 0, msgs,
                                                 (size_t)max);
        if (n == 0 && timeout_ms > 0)
                n = rd_kafka_consume_batch_queue(k->queue, timeout_ms, msgs, 1);
        return n < 0 ? 0 : (int)n;
}

int km_kafka_queue_was_full(km_kafka_t *k, int taken, double avg_value_bytes)
{
        double queued = (double)taken + (double)rd_kafka_queue_length(k->queue);
        return queued >= 0.9 * (double)k->queue_max_msgs ||
               queued * avg_value_bytes >= 0.9 * (double)k->queue_max_bytes;
}

int km_kafka_wake_fetcher(km_kafka_t *k, const char *topic,
                          const int32_t *parts, const int64_t *next,
                          const int *done, int n)
{
        /* One partition per leader: a complete one if there is (it is
         * paused, so the seek moves nothing), else the first incomplete
         * one.  A partition of unknown leader is its own. */
        int32_t *leader = km_xcalloc((size_t)n + 1, sizeof(*leader));
        int *pick = km_xcalloc((size_t)n + 1, sizeof(*pick));
        int npicks = 0;
        for (int i = 0; i < n; i++) {
                int32_t l = leader_of(k, parts[i]);
                int j = 0;
                while (l >= 0 && j < npicks && leader[j] != l)
                        j++;
                if (l < 0 || j == npicks) {
                        if (l < 0 && done[i])
                                continue;
                        j = npicks++;
                        leader[j] = l;
                        pick[j] = i;
                } else if (done[i] && !done[pick[j]]) {
                        pick[j] = i;
                }
        }
        rd_kafka_topic_partition_list_t *list =
                rd_kafka_topic_partition_list_new(npicks > 0 ? npicks : 1);
        for (int j = 0; j < npicks; j++)
                rd_kafka_topic_partition_list_add(list, topic, parts[pick[j]])
                        ->offset = next[pick[j]];
        /* timeout 0: asynchronous; an error only means no wake-up. */
        rd_kafka_error_t *e = npicks ? rd_kafka_seek_partitions(k->rk, list, 0)
                                     : NULL;
        if (e)
                rd_kafka_error_destroy(e);
        rd_kafka_topic_partition_list_destroy(list);
        free(leader);
        free(pick);
        return npicks;
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
