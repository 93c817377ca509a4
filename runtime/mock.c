/* mock.c - the embedded Kafka (mock.h): librdkafka's mock cluster, owned by
 * a producer handle that loads fixtures into it.
 *
 * Setting test.mock.num.brokers on a client makes librdkafka start a mock
 * cluster inside the process and point that client at it; the producer
 * stays alive as the cluster's owner.  Loading produces in file order with
 * the idempotent producer (offsets 0, 1, 2 ... per partition), checks every
 * delivery report and then the watermarks of every partition, because the
 * mock silently drops the oldest message sets of a partition beyond 5 MB or
 * 100,000 sets. */
#include "kmsync/mock.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define KM_MOCK_MAX_BROKERS 32
#define KM_MOCK_WMARK_TIMEOUT_MS 10000

/* A topic of the fixture being loaded. */
typedef struct mock_topic {
        const char *name;
        int32_t max_partition;
        int partitions;
        int64_t *count; /* records of each partition */
} mock_topic_t;

/* One km_mock_load: what was produced and what the reports said. */
typedef struct mock_load {
        const km_fixture_t *f;
        mock_topic_t *topics;
        size_t ntopics;
        size_t *topic_of; /* each record's topic */
        int64_t *want;    /* each record's offset */
        rd_kafka_vu_t *vus;
        size_t nvus;
        size_t produced, reported, failed, misplaced;
        size_t first_failed, first_misplaced;
        rd_kafka_resp_err_t first_err;
        int64_t misplaced_at;
} mock_load_t;

struct km_mock {
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mcluster;
        char *bootstraps;
        mock_load_t *load; /* while km_mock_load runs */
};

/* ------------------------------------------------------------- start */

static void log_nothing(const rd_kafka_t *rk, int level, const char *fac,
                        const char *buf)
{
        (void)rk;
        (void)level;
        (void)fac;
        (void)buf;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg,
                        void *opaque)
{
        (void)rk;
        km_mock_t *m = opaque;
        mock_load_t *l = m->load;
        if (!l)
                return;
        size_t i = (size_t)(uintptr_t)msg->_private;
        l->reported++;
        if (msg->err) {
                if (l->failed++ == 0) {
                        l->first_failed = i;
                        l->first_err = msg->err;
                }
        } else if (i < l->f->count && msg->offset != l->want[i]) {
                if (l->misplaced++ == 0) {
                        l->first_misplaced = i;
                        l->misplaced_at = msg->offset;
                }
        }
}

static int conf_set(rd_kafka_conf_t *conf, const char *name,
                    const char *value, char *errbuf, size_t errlen)
{
        char err[256];
        if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) ==
            RD_KAFKA_CONF_OK)
                return 0;
        snprintf(errbuf, errlen, "cannot set %s=%s for the mock cluster: %s",
                 name, value, err);
        return -1;
}

/* Batches as large as librdkafka allows: the mock's limit counts message
 * sets, and big batches load fast. */
static rd_kafka_conf_t *make_conf(km_mock_t *m, int brokers, char *errbuf,
                                  size_t errlen)
{
        char nbrokers[16];
        snprintf(nbrokers, sizeof(nbrokers), "%d", brokers);
        static const char *const settings[][2] = {
                {"client.id", "kmsync-mock-loader"},
                {"enable.idempotence", "true"},
                {"linger.ms", "20"},
                {"batch.num.messages", "100000"},
                {"queue.buffering.max.messages", "1000000"},
                {"message.timeout.ms", "60000"},
                {NULL, NULL},
        };
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        int rc = conf_set(conf, "test.mock.num.brokers", nbrokers, errbuf,
                          errlen);
        for (int i = 0; rc == 0 && settings[i][0]; i++)
                rc = conf_set(conf, settings[i][0], settings[i][1], errbuf,
                              errlen);
        if (rc) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        const char *debug = getenv("KMSYNC_DEBUG");
        if (!debug || !*debug)
                rd_kafka_conf_set_log_cb(conf, log_nothing);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, m);
        return conf;
}

km_mock_t *km_mock_start(int brokers, char *errbuf, size_t errlen)
{
        if (brokers < 1 || brokers > KM_MOCK_MAX_BROKERS) {
                snprintf(errbuf, errlen, "a mock cluster has 1 to %d brokers, "
                                         "not %d",
                         KM_MOCK_MAX_BROKERS, brokers);
                return NULL;
        }
        km_mock_t *m = km_xcalloc(1, sizeof(*m));
        rd_kafka_conf_t *conf = make_conf(m, brokers, errbuf, errlen);
        char err[512];
        if (conf && !(m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err,
                                           sizeof(err)))) {
                rd_kafka_conf_destroy(conf);
                snprintf(errbuf, errlen, "cannot start the mock cluster: %s",
                         err);
        }
        if (m->rk)
                m->mcluster = rd_kafka_handle_mock_cluster(m->rk);
        if (m->rk && !m->mcluster)
                snprintf(errbuf, errlen, "librdkafka started no mock cluster "
                                         "(test.mock.num.brokers)");
        if (!m->mcluster) {
                km_mock_stop(m);
                return NULL;
        }
        m->bootstraps =
                km_xstrdup(rd_kafka_mock_cluster_bootstraps(m->mcluster));
        return m;
}

const char *km_mock_bootstraps(const km_mock_t *m)
{
        return m->bootstraps;
}

void *km_mock_cluster(km_mock_t *m)
{
        return m->mcluster;
}

void km_mock_stop(km_mock_t *m)
{
        if (!m)
                return;
        if (m->rk)
                rd_kafka_destroy(m->rk);
        free(m->bootstraps);
        free(m);
}

/* ------------------------------------------------------------ topics */

static size_t find_topic(mock_load_t *l, const char *name, size_t hint)
{
        if (hint < l->ntopics && strcmp(l->topics[hint].name, name) == 0)
                return hint;
        for (size_t t = 0; t < l->ntopics; t++)
                if (strcmp(l->topics[t].name, name) == 0)
                        return t;
        l->topics = km_xrealloc(l->topics,
                                (l->ntopics + 1) * sizeof(*l->topics));
        l->topics[l->ntopics] = (mock_topic_t){name, -1, 0, NULL};
        return l->ntopics++;
}

/* Each record's topic and offset; each topic's partitions and counts. */
static void plan_load(mock_load_t *l, int min_partitions)
{
        const km_fixture_t *f = l->f;
        l->topic_of = km_xcalloc(f->count, sizeof(*l->topic_of));
        l->want = km_xcalloc(f->count, sizeof(*l->want));
        size_t t = 0;
        for (size_t i = 0; i < f->count; i++) {
                t = find_topic(l, f->records[i].topic, t);
                l->topic_of[i] = t;
                if (f->records[i].partition > l->topics[t].max_partition)
                        l->topics[t].max_partition = f->records[i].partition;
        }
        for (t = 0; t < l->ntopics; t++) {
                mock_topic_t *mt = &l->topics[t];
                mt->partitions = mt->max_partition + 1;
                if (mt->partitions < min_partitions)
                        mt->partitions = min_partitions;
                mt->count = km_xcalloc((size_t)mt->partitions,
                                       sizeof(*mt->count));
        }
        for (size_t i = 0; i < f->count; i++) {
                mock_topic_t *mt = &l->topics[l->topic_of[i]];
                l->want[i] = mt->count[f->records[i].partition]++;
        }
}

static int create_topics(km_mock_t *m, mock_load_t *l, char *errbuf,
                         size_t errlen)
{
        for (size_t t = 0; t < l->ntopics; t++) {
                const mock_topic_t *mt = &l->topics[t];
                rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
                        m->mcluster, mt->name, mt->partitions, 1);
                if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                        snprintf(errbuf, errlen, "topic '%s' is already in "
                                                 "the mock cluster: load each "
                                                 "topic once",
                                 mt->name);
                        return -1;
                }
                if (err) {
                        snprintf(errbuf, errlen, "cannot create topic '%s' "
                                                 "with %d partitions: %s",
                                 mt->name, mt->partitions,
                                 rd_kafka_err2str(err));
                        return -1;
                }
        }
        return 0;
}

static void free_load(mock_load_t *l)
{
        for (size_t t = 0; t < l->ntopics; t++)
                free(l->topics[t].count);
        free(l->topics);
        free(l->topic_of);
        free(l->want);
        free(l->vus);
}

/* ----------------------------------------------------------- produce */

static rd_kafka_vu_t *next_vu(mock_load_t *l, size_t *n,
                              rd_kafka_vtype_t type)
{
        rd_kafka_vu_t *vu = &l->vus[(*n)++];
        memset(vu, 0, sizeof(*vu));
        vu->vtype = type;
        return vu;
}

/* The produce arguments of record i, in l->vus; returns their count. */
static size_t record_vus(mock_load_t *l, size_t i)
{
        const km_fixture_record_t *r = &l->f->records[i];
        size_t need = 7 + r->nheaders, n = 0;
        if (need > l->nvus) {
                l->vus = km_xrealloc(l->vus, need * sizeof(*l->vus));
                l->nvus = need;
        }
        next_vu(l, &n, RD_KAFKA_VTYPE_TOPIC)->u.cstr = r->topic;
        next_vu(l, &n, RD_KAFKA_VTYPE_PARTITION)->u.i32 = r->partition;
        next_vu(l, &n, RD_KAFKA_VTYPE_TIMESTAMP)->u.i64 = r->timestamp_ms;
        rd_kafka_vu_t *vu = next_vu(l, &n, RD_KAFKA_VTYPE_KEY);
        vu->u.mem.ptr = r->key;
        vu->u.mem.size = r->key_len;
        vu = next_vu(l, &n, RD_KAFKA_VTYPE_VALUE);
        vu->u.mem.ptr = r->value;
        vu->u.mem.size = r->value_len;
        next_vu(l, &n, RD_KAFKA_VTYPE_MSGFLAGS)->u.i = RD_KAFKA_MSG_F_COPY;
        next_vu(l, &n, RD_KAFKA_VTYPE_OPAQUE)->u.ptr = (void *)(uintptr_t)i;
        for (size_t h = 0; h < r->nheaders; h++) {
                const km_fixture_header_t *hd = &r->headers[h];
                vu = next_vu(l, &n, RD_KAFKA_VTYPE_HEADER);
                vu->u.header.name = hd->name;
                vu->u.header.val = hd->value;
                vu->u.header.size = hd->value ? (ssize_t)hd->value_len : 0;
        }
        return n;
}

/* Produces record i, waiting while the producer's queue is full. */
static rd_kafka_resp_err_t produce_record(km_mock_t *m, mock_load_t *l,
                                          size_t i)
{
        size_t n = record_vus(l, i);
        for (;;) {
                rd_kafka_error_t *error = rd_kafka_produceva(m->rk, l->vus, n);
                if (!error)
                        return RD_KAFKA_RESP_ERR_NO_ERROR;
                rd_kafka_resp_err_t err = rd_kafka_error_code(error);
                rd_kafka_error_destroy(error);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        return err;
                rd_kafka_poll(m->rk, 10);
        }
}

static void describe_record(const km_fixture_record_t *r, char *buf,
                            size_t len)
{
        snprintf(buf, len, "the record of line %d (%s [%d])", r->line,
                 r->topic, (int)r->partition);
}

static int produce_all(km_mock_t *m, mock_load_t *l, char *errbuf,
                       size_t errlen)
{
        char what[400];
        for (size_t i = 0; i < l->f->count; i++) {
                rd_kafka_resp_err_t err = produce_record(m, l, i);
                if (err) {
                        describe_record(&l->f->records[i], what, sizeof(what));
                        snprintf(errbuf, errlen, "cannot produce %s: %s%s",
                                 what, rd_kafka_err2str(err),
                                 err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
                                         ? " (a record takes at most "
                                           "1000000 bytes)"
                                         : "");
                        return -1;
                }
                l->produced++;
                if (i % 1024 == 0)
                        rd_kafka_poll(m->rk, 0);
        }
        return 0;
}

/* Waits for the report of every produced record (message.timeout.ms
 * bounds the wait). */
static void wait_reports(km_mock_t *m, mock_load_t *l)
{
        while (l->reported < l->produced)
                rd_kafka_flush(m->rk, 1000);
}

static int check_reports(const mock_load_t *l, char *errbuf, size_t errlen)
{
        char what[400];
        if (l->failed) {
                describe_record(&l->f->records[l->first_failed], what,
                                sizeof(what));
                snprintf(errbuf, errlen, "the mock cluster did not take %s "
                                         "(%zu of %zu records failed): %s",
                         what, l->failed, l->produced,
                         rd_kafka_err2str(l->first_err));
                return -1;
        }
        if (l->misplaced) {
                describe_record(&l->f->records[l->first_misplaced], what,
                                sizeof(what));
                snprintf(errbuf, errlen, "the mock cluster stored %s at "
                                         "offset %lld, not %lld: records "
                                         "were reordered",
                         what, (long long)l->misplaced_at,
                         (long long)l->want[l->first_misplaced]);
                return -1;
        }
        return 0;
}

/* ------------------------------------------------------------ verify */

static int check_partition(km_mock_t *m, const mock_topic_t *mt, int32_t p,
                           char *errbuf, size_t errlen)
{
        int64_t lo = -1, hi = -1, want = mt->count[p];
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
                m->rk, mt->name, p, &lo, &hi, KM_MOCK_WMARK_TIMEOUT_MS);
        if (err) {
                snprintf(errbuf, errlen, "cannot read the offsets of %s [%d] "
                                         "from the mock cluster: %s",
                         mt->name, (int)p, rd_kafka_err2str(err));
                return -1;
        }
        if (lo == 0 && hi == want)
                return 0;
        if (hi == want)
                snprintf(errbuf, errlen,
                         "the mock cluster kept %lld of %lld records of %s "
                         "[%d]: it keeps at most 5 MB or 100000 message sets "
                         "per partition; spread the fixture over more "
                         "partitions (its \"partition\" field)",
                         (long long)(hi - lo), (long long)want, mt->name,
                         (int)p);
        else
                snprintf(errbuf, errlen, "%s [%d] of the mock cluster holds "
                                         "offsets %lld to %lld, not the %lld "
                                         "records of the fixture",
                         mt->name, (int)p, (long long)lo, (long long)hi,
                         (long long)want);
        return -1;
}

static int verify_topics(km_mock_t *m, const mock_load_t *l, char *errbuf,
                         size_t errlen)
{
        for (size_t t = 0; t < l->ntopics; t++)
                for (int32_t p = 0; p < l->topics[t].partitions; p++)
                        if (check_partition(m, &l->topics[t], p, errbuf,
                                            errlen))
                                return -1;
        return 0;
}

int km_mock_load(km_mock_t *m, const km_fixture_t *f, int min_partitions,
                 char *errbuf, size_t errlen)
{
        mock_load_t l = {.f = f};
        plan_load(&l, min_partitions < 1 ? 1 : min_partitions);
        int rc = create_topics(m, &l, errbuf, errlen);
        if (rc == 0) {
                m->load = &l;
                rc = produce_all(m, &l, errbuf, errlen);
                wait_reports(m, &l);
                m->load = NULL;
        }
        if (rc == 0)
                rc = check_reports(&l, errbuf, errlen);
        if (rc == 0)
                rc = verify_topics(m, &l, errbuf, errlen);
        free_load(&l);
        return rc;
}
