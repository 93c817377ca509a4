/* run.c - one instance, from window to committed partition.
 *
 *   instance -> Kafka offsets per partition (window.c) -> read -> map
 *   (mapper.c) -> target rows -> commit -> offsets to the GROUP -> report
 *
 * Every way out before the commit aborts the target, so a failed run leaves
 * the partition as it was.  Dirty records go to a rejects file and fail the
 * run once there are more than ERRORS LIMIT of them. */
#include "kmsync/run.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "kafka.h"
#include "kmsync/fixture.h"
#include "kmsync/mapper.h"
#include "kmsync/mock.h"
#include "kmsync/window.h"
#include "map_batch.h"
#include "run_int.h"
#include "util.h"

enum {
        POLL_MS = 100,
        WAKE_RETRY_MS = 10, /* a fetcher wake-up unanswered is repeated */
        WAKE_RETRIES = 5,   /* ... at most 5 times, waiting twice as long */
        DEFAULT_STALL_MS = 60000,
        PROGRESS_EVERY_MS = 500,
};

static int64_t now_ms(void)
{
        return km_monotonic_ns() / 1000000;
}

static int64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static km_run_status_t fail(km_run_ctx_t *c, km_run_status_t st,
                            const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static km_run_status_t fail(km_run_ctx_t *c, km_run_status_t st,
                            const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->rep->error, sizeof(c->rep->error), fmt, ap);
        va_end(ap);
        c->rep->status = st;
        return st;
}

/* ------------------------------------------------------------ set-up */

static km_run_status_t start_mock(km_run_ctx_t *c, const char *fixture)
{
        char err[1024];
        km_fixture_t f;
        if (km_fixture_load(fixture, c->sync->topic, &f, err, sizeof(err)))
                return fail(c, KM_RUN_FAILED_FOR_GOOD, "%s", err);
        c->mock = km_mock_start(c->opts->mock_brokers > 0 ? c->opts->mock_brokers
                                                          : 1,
                                err, sizeof(err));
        int rc = c->mock ? km_mock_load(c->mock, &f, c->opts->mock_partitions,
                                        err, sizeof(err))
                         : -1;
        km_fixture_free(&f);
        if (rc)
                return fail(c, KM_RUN_FAILED_FOR_GOOD, "embedded Kafka: %s",
                            err);
        if (c->opts->on_mock_ready)
                c->opts->on_mock_ready(km_mock_cluster(c->mock),
                                       c->opts->hook_arg);
        c->scan_only = 1; /* the mock has no time index */
        return KM_RUN_OK;
}

static km_run_status_t open_kafka(km_run_ctx_t *c)
{
        const char *brokers = c->opts->kafka;
        char err[1024];
        if (!c->sync->kafka)
                return fail(c, KM_RUN_FAILED_FOR_GOOD,
                            "SYNC %s has no Kafka connection", c->sync->name);
        if (brokers && strncmp(brokers, "mock:", 5) == 0) {
                km_run_status_t st = start_mock(c, brokers + 5);
                if (st != KM_RUN_OK)
                        return st;
                brokers = km_mock_bootstraps(c->mock);
        }
        c->kafka = km_kafka_open(c->sync->kafka, brokers, c->sync->group, err,
                                 sizeof(err));
        if (!c->kafka)
                return fail(c, KM_RUN_FAILED_FOR_GOOD, "%s", err);
        return KM_RUN_OK;
}

/* The last record's timestamp of each partition whose broker answer is -1
 * (to tell a true "nothing at or after" from a missing time index); -1
 * elsewhere.  One pass over all such partitions. */
static void last_timestamps(km_run_ctx_t *c, const int32_t *ids,
                            const int64_t *lo, const int64_t *hi,
                            const km_ts_answer_t *as, const km_ts_answer_t *ae,
                            int n, int64_t *last)
{
        int32_t *want = km_xcalloc((size_t)n + 1, sizeof(int32_t));
        int64_t *at = km_xcalloc((size_t)n + 1, sizeof(int64_t));
        int64_t *ts = km_xcalloc((size_t)n + 1, sizeof(int64_t));
        int m = 0;
        for (int i = 0; i < n; i++) {
                last[i] = -1;
                if (!c->scan_only && hi[i] > lo[i] &&
                    ((as[i].valid && as[i].offset < 0) ||
                     (ae[i].valid && ae[i].offset < 0))) {
                        want[m] = ids[i];
                        at[m++] = hi[i] - 1;
                }
        }
        km_kafka_timestamps_at(c->kafka, c->sync->topic, want, at, m, ts);
        for (int i = 0, j = 0; i < n && j < m; i++)
                if (ids[i] == want[j])
                        last[i] = ts[j++];
        free(want);
        free(at);
        free(ts);
}

/* Watermarks and the broker's answers for every partition; reads the last
 * record's timestamp only where an answer is -1 and must be checked. */
static km_run_status_t plan_partitions(km_run_ctx_t *c)
{
        char err[1024];
        const char *topic = c->sync->topic;
        int32_t *ids;
        int n;
        if (km_kafka_partitions(c->kafka, topic, &ids, &n, err, sizeof(err)))
                return fail(c, KM_RUN_FAILED, "%s", err);
        km_ts_answer_t *as = km_xcalloc((size_t)n + 1, sizeof(*as));
        km_ts_answer_t *ae = km_xcalloc((size_t)n + 1, sizeof(*ae));
        if (!c->scan_only) {
                km_kafka_offsets_for_times(c->kafka, topic, ids, n,
                                           c->win.start_ms, as);
                km_kafka_offsets_for_times(c->kafka, topic, ids, n,
                                           c->win.end_ms, ae);
        }
        c->parts = km_xcalloc((size_t)n + 1, sizeof(*c->parts));
        c->nparts = n;
        int64_t *lo = km_xcalloc((size_t)n + 1, sizeof(int64_t));
        int64_t *hi = km_xcalloc((size_t)n + 1, sizeof(int64_t));
        int64_t *last = km_xcalloc((size_t)n + 1, sizeof(int64_t));
        km_run_status_t st = KM_RUN_OK;
        if (km_kafka_watermarks_all(c->kafka, topic, ids, n, lo, hi, err,
                                    sizeof(err)))
                st = fail(c, KM_RUN_FAILED, "%s", err);
        if (st == KM_RUN_OK)
                last_timestamps(c, ids, lo, hi, as, ae, n, last);
        for (int i = 0; i < n && st == KM_RUN_OK; i++)
                km_window_part_init(&c->parts[i], &c->win, ids[i], lo[i], hi[i],
                                    as[i], ae[i], last[i], c->scan_only);
        free(lo);
        free(hi);
        free(last);
        free(as);
        free(ae);
        free(ids);
        return st;
}

static km_run_status_t open_target(km_run_ctx_t *c)
{
        char err[1024];
        const char *spec = c->opts->target;
        if (c->opts->preview_limit > 0) {
                c->target = km_run_preview_target(c->sync, c->opts->preview_out,
                                                  c->opts->preview_limit);
        } else if (spec && strncmp(spec, "local:", 6) == 0) {
                c->target = km_target_local_new(spec + 6, c->sync, err,
                                                sizeof(err));
                snprintf(c->rep->target, sizeof(c->rep->target),
                         "local warehouse %s", spec + 6);
        } else if (!spec || strcmp(spec, "maxcompute") == 0) {
                char table[512];
                c->target = km_target_maxcompute_new(c->sync, err, sizeof(err));
                km_sync_table_name(c->sync, table, sizeof(table));
                snprintf(c->rep->target, sizeof(c->rep->target),
                         "MaxCompute %s", table);
        } else {
                return fail(c, KM_RUN_FAILED_FOR_GOOD,
                            "--target '%s' is not a target: write "
                            "local:DIR or maxcompute",
                            spec);
        }
        if (!c->target)
                return fail(c, KM_RUN_FAILED_FOR_GOOD, "%s", err);
        if (c->target->ops->open(c->target, &c->rep->instance, err,
                                 sizeof(err)))
                return fail(c, c->target->permanent ? KM_RUN_FAILED_FOR_GOOD
                                                    : KM_RUN_FAILED,
                            "%s", err);
        c->target_open = 1;
        return KM_RUN_OK;
}

/* ------------------------------------------------------------ rejects */

static char *base64(const void *data, size_t len)
{
        char *out = km_xmalloc(4 * ((len + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
        return out;
}

static void rejects_path(km_run_ctx_t *c, char *buf, size_t len)
{
        const char *dir = c->opts->rejects_dir ? c->opts->rejects_dir
                                               : ".kmsync/rejects";
        const km_instance_t *in = &c->rep->instance;
        char spec[256];
        size_t n = 0;
        for (const char *p = in->partition_spec; *p && n + 1 < sizeof(spec); p++)
                spec[n++] = (strchr("/\\ ", *p) ? '_' : *p);
        spec[n] = '\0';
        snprintf(buf, len, "%s/%s/%s%s%04d%02d%02d%02d%02d%02d.jsonl", dir,
                 c->sync->name, spec, n ? "@" : "", in->scheduled.year,
                 in->scheduled.mon, in->scheduled.day, in->scheduled.hour,
                 in->scheduled.min, in->scheduled.sec);
}

static int mkdirs(const char *path)
{
        char tmp[1024];
        snprintf(tmp, sizeof(tmp), "%s", path);
        for (char *p = tmp + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(tmp, 0755) && errno != EEXIST)
                        return -1;
                *p = '/';
        }
        return 0;
}

static FILE *rejects_file(km_run_ctx_t *c)
{
        if (c->rejects)
                return c->rejects;
        rejects_path(c, c->rep->rejects_path, sizeof(c->rep->rejects_path));
        if (mkdirs(c->rep->rejects_path) == 0)
                c->rejects = fopen(c->rep->rejects_path, "w");
        return c->rejects;
}

static void write_reject(km_run_ctx_t *c, const km_record_t *r,
                         const char *reason)
{
        FILE *f = rejects_file(c);
        if (!f)
                return;
        char *k = r->key ? base64(r->key, r->key_len) : NULL;
        char *v = r->value ? base64(r->value, r->value_len) : NULL;
        json_t *o = json_pack("{s:s, s:i, s:I, s:I, s:s, s:s?, s:s?}", "topic",
                              r->topic, "partition", (int)r->partition,
                              "offset", (json_int_t)r->offset, "timestamp",
                              (json_int_t)r->timestamp_ms, "reason", reason,
                              "key_base64", k, "value_base64", v);
        json_dumpf(o, f, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fputc('\n', f);
        json_decref(o);
        free(k);
        free(v);
}

/* ------------------------------------------------------------ reading */

/* The partition's state, by id in O(1) (ids are small and dense). */
static km_window_part_t *part_of(km_run_ctx_t *c, int32_t id)
{
        if (id < 0 || id > c->max_partition_id || c->part_index[id] < 0)
                return NULL;
        return &c->parts[c->part_index[id]];
}

static void index_partitions(km_run_ctx_t *c)
{
        c->max_partition_id = -1;
        for (int i = 0; i < c->nparts; i++)
                if (c->parts[i].partition > c->max_partition_id)
                        c->max_partition_id = c->parts[i].partition;
        c->part_index = km_xcalloc((size_t)c->max_partition_id + 2, sizeof(int));
        for (int i = 0; i <= c->max_partition_id; i++)
                c->part_index[i] = -1;
        for (int i = 0; i < c->nparts; i++)
                c->part_index[c->parts[i].partition] = i;
        c->open_parts = 0;
        for (int i = 0; i < c->nparts; i++)
                c->open_parts += c->parts[i].phase != KM_PHASE_DONE;
}

/* Counts a partition that just completed its window. */
static void note_if_done(km_run_ctx_t *c, km_window_part_t *p, int was_done)
{
        if (!was_done && p->phase == KM_PHASE_DONE)
                c->open_parts--;
}

/* Only a SYNC that maps __headers__ pays for reading them. */
static int maps_headers(const km_sync_plan_t *s)
{
        for (int i = 0; i < s->ncolumns; i++)
                if (s->columns[i].source_kind == KM_SOURCE_FIELD &&
                    s->columns[i].field == KM_FIELD_HEADERS)
                        return 1;
        return 0;
}

static void to_record(km_run_ctx_t *c, rd_kafka_message_t *m, km_record_t *r)
{
        rd_kafka_headers_t *hdrs = NULL;
        size_t n = 0;
        if (c->need_headers &&
            rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
                n = rd_kafka_header_cnt(hdrs);
        if (n > c->header_cap) {
                c->header_cap = n * 2;
                c->headers = km_xrealloc(c->headers,
                                         sizeof(*c->headers) * c->header_cap);
        }
        for (size_t i = 0; i < n; i++) {
                const char *name;
                const void *val;
                size_t len;
                rd_kafka_header_get_all(hdrs, i, &name, &val, &len);
                c->headers[i] = (km_header_t){name, strlen(name), val, len};
        }
        *r = (km_record_t){c->sync->topic, m->partition, m->offset,
                           rd_kafka_message_timestamp(m, NULL), m->key,
                           m->key_len, m->payload, m->len, c->headers, n};
}

/* A dirty record: to the rejects file, and the run fails once there are
 * more than ERRORS LIMIT of them. */
static km_run_status_t reject(km_run_ctx_t *c, int part, const km_record_t *r,
                              const char *reason)
{
        c->rep->rows_rejected++;
        c->rejected_in[part]++;
        write_reject(c, r, reason);
        if (c->rep->rows_rejected <= c->sync->errors_limit)
                return KM_RUN_OK;
        return fail(c, KM_RUN_FAILED_FOR_GOOD,
                    "%lld dirty records, more than ERRORS LIMIT %lld (the "
                    "last: %s [%d] offset %lld: %s); they are in %s",
                    (long long)c->rep->rows_rejected,
                    (long long)c->sync->errors_limit, r->topic,
                    (int)r->partition, (long long)r->offset, reason,
                    c->rep->rejects_path[0] ? c->rep->rejects_path
                                            : "(the rejects file could not "
                                              "be written)");
}

/* Writes the rows of a mapped batch to the target, in order, and the
 * dirty records to the rejects file. */
static km_run_status_t write_batch(km_run_ctx_t *c, const km_map_batch_t *b)
{
        char err[1024];
        int64_t t0 = km_monotonic_ns();
        km_run_status_t st = KM_RUN_OK;
        c->map_ns += b->map_ns;
        for (int i = 0; i < b->nrecs && st == KM_RUN_OK && !c->preview_full;
             i++) {
                if (b->dirty[i]) {
                        st = reject(c, b->part[i], &b->recs[i],
                                    km_map_batch_reason(b, i));
                        continue;
                }
                if (c->target->ops->write(
                            c->target,
                            km_map_batch_row(b, c->sync->ncolumns, i), err,
                            sizeof(err))) {
                        st = fail(c, c->target->permanent
                                             ? KM_RUN_FAILED_FOR_GOOD
                                             : KM_RUN_FAILED,
                                  "%s", err);
                        break;
                }
                c->rep->rows_written++;
                c->written_in[b->part[i]]++;
                if (c->opts->preview_limit > 0 &&
                    km_run_preview_full(c->target))
                        c->preview_full = 1;
        }
        c->write_ns += km_monotonic_ns() - t0;
        return st;
}

/* A record: through the window's bookkeeping, and into the filling batch
 * when it is inside the window's offsets. */
static km_run_status_t on_record(km_run_ctx_t *c, rd_kafka_message_t *m,
                                 int64_t now)
{
        km_window_part_t *p = part_of(c, m->partition);
        if (!p || p->phase == KM_PHASE_DONE)
                return KM_RUN_OK;
        km_record_t r;
        to_record(c, m, &r);
        c->last_activity[p - c->parts] = now;
        if (p->last_offset < 0 && r.offset == p->low &&
            km_window_lost_to_retention(p, &c->win, r.timestamp_ms))
                return fail(c, KM_RUN_FAILED_FOR_GOOD,
                            "%s [%d]: records before offset %lld were deleted "
                            "by retention, and the first kept one (timestamp "
                            "%lld) is not older than the window start %lld: "
                            "the window's records are lost; nothing was "
                            "written",
                            r.topic, (int)r.partition, (long long)p->low,
                            (long long)r.timestamp_ms,
                            (long long)c->win.start_ms);
        km_step_t step = km_window_step(p, &c->win, r.offset, r.timestamp_ms);
        note_if_done(c, p, 0);
        if (step == KM_STEP_WRITE) {
                km_map_batch_add(c->filling, &r, (int)(p - c->parts));
                c->rep->records_read++;
                c->rep->bytes += (int64_t)(r.key_len + r.value_len);
        }
        if (p->phase == KM_PHASE_DONE)
                km_kafka_pause(c->kafka, c->sync->topic, p->partition);
        return KM_RUN_OK;
}

static km_run_status_t on_event(km_run_ctx_t *c, rd_kafka_message_t *m)
{
        km_window_part_t *p = m->rkt ? part_of(c, m->partition) : NULL;
        switch (m->err) {
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
                if (p && c->win.end_mode == KM_WINDOW_END_AT_HIGH &&
                    m->offset >= p->high) {
                        int was_done = p->phase == KM_PHASE_DONE;
                        km_window_finish(p, p->high);
                        note_if_done(c, p, was_done);
                }
                return KM_RUN_OK;
        case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
        case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
                return fail(c, KM_RUN_FAILED_FOR_GOOD,
                            "%s [%d]: the offsets to read are gone (deleted "
                            "by retention while reading?): %s",
                            c->sync->topic, p ? (int)p->partition : -1,
                            rd_kafka_message_errstr(m));
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
                return fail(c, KM_RUN_FAILED_FOR_GOOD, "Kafka: %s",
                            rd_kafka_message_errstr(m));
        default:
                /* Transport errors and the like: librdkafka retries. */
                if (getenv("KMSYNC_DEBUG"))
                        fprintf(stderr, "kmsync: kafka: %s\n",
                                rd_kafka_message_errstr(m));
                return KM_RUN_OK;
        }
}

static int all_done(const km_run_ctx_t *c)
{
        return c->open_parts <= 0;
}

/* END WHEN IDLE: a partition with no record for the delay is complete. */
static void close_idle(km_run_ctx_t *c, int64_t now)
{
        if (c->win.end_mode != KM_WINDOW_END_IDLE)
                return;
        for (int i = 0; i < c->nparts; i++) {
                km_window_part_t *p = &c->parts[i];
                if (p->phase != KM_PHASE_DONE &&
                    now - c->last_activity[i] >= c->sync->idle_ms) {
                        km_window_finish(p, p->last_offset >= 0
                                                    ? p->last_offset + 1
                                                    : p->read_from);
                        note_if_done(c, p, 0);
                }
        }
}

static km_run_status_t assign_all(km_run_ctx_t *c)
{
        char err[1024];
        int32_t *ids = km_xcalloc((size_t)c->nparts + 1, sizeof(*ids));
        int64_t *offs = km_xcalloc((size_t)c->nparts + 1, sizeof(*offs));
        int n = 0;
        int64_t t = now_ms();
        for (int i = 0; i < c->nparts; i++) {
                c->last_activity[i] = t;
                if (c->parts[i].phase == KM_PHASE_DONE)
                        continue;
                c->assigned[i] = 1;
                ids[n] = c->parts[i].partition;
                offs[n++] = c->parts[i].read_from;
        }
        int rc = n ? km_kafka_assign(c->kafka, c->sync->topic, ids, offs, n,
                                     err, sizeof(err))
                   : 0;
        free(ids);
        free(offs);
        return rc ? fail(c, KM_RUN_FAILED, "%s", err) : KM_RUN_OK;
}

/* How long a run waits for a record before it fails: the option, else
 * $KMSYNC_STALL_TIMEOUT (seconds), else 60 s. */
static int64_t stall_timeout_ms(const km_run_options_t *o)
{
        const char *env = getenv("KMSYNC_STALL_TIMEOUT");
        if (o->stall_timeout_ms > 0)
                return o->stall_timeout_ms;
        if (env && atoi(env) > 0)
                return (int64_t)atoi(env) * 1000;
        return DEFAULT_STALL_MS;
}

/* Wakes librdkafka's fetcher after the queue was full (kafka.h), with
 * every partition's next offset to choose from. */
static void wake_fetcher(km_run_ctx_t *c)
{
        int32_t *ids = km_xcalloc((size_t)c->nparts + 1, sizeof(*ids));
        int64_t *next = km_xcalloc((size_t)c->nparts + 1, sizeof(*next));
        int *done = km_xcalloc((size_t)c->nparts + 1, sizeof(*done));
        int n = 0;
        for (int i = 0; i < c->nparts; i++) {
                const km_window_part_t *p = &c->parts[i];
                if (!c->assigned[i])
                        continue; /* complete before reading: not assigned */
                ids[n] = p->partition;
                next[n] = p->last_offset >= 0 ? p->last_offset + 1
                                              : p->read_from;
                done[n++] = p->phase == KM_PHASE_DONE;
        }
        if (km_kafka_wake_fetcher(c->kafka, c->sync->topic, ids, next, done,
                                  n) > 0)
                c->rep->stages.fetch_wakeups++;
        free(ids);
        free(next);
        free(done);
}

/* The next batch of messages and events into msgs.  When the queue is
 * empty after having been full, the fetcher is woken before waiting; a
 * wake-up can be lost (librdkafka may take it before it decides not to
 * fetch), so until a message comes it is repeated after 10, 20, 40 ...
 * 320 ms, then left to librdkafka's own 1 s wake-up. */
static int take_batch(km_run_ctx_t *c, rd_kafka_message_t **msgs, int max)
{
        int64_t t0 = km_monotonic_ns();
        int n = km_kafka_take(c->kafka, msgs, max, 0);
        int wait_ms = POLL_MS;
        if (n == 0) {
                if (c->queue_was_full ||
                    (c->wakes_unanswered > 0 &&
                     c->wakes_unanswered <= WAKE_RETRIES)) {
                        wake_fetcher(c);
                        c->queue_was_full = 0;
                        wait_ms = WAKE_RETRY_MS << c->wakes_unanswered;
                        c->wakes_unanswered++;
                }
                n = km_kafka_take(c->kafka, msgs, max, wait_ms);
        }
        if (n > 0) {
                double avg = c->values_seen
                                     ? (double)c->value_bytes_seen /
                                               (double)c->values_seen
                                     : 0.0;
                c->wakes_unanswered = 0;
                if (!c->queue_was_full)
                        c->queue_was_full =
                                km_kafka_queue_was_full(c->kafka, n, avg);
        }
        c->read_ns += km_monotonic_ns() - t0;
        return n;
}

static km_run_status_t on_message(km_run_ctx_t *c, rd_kafka_message_t *m,
                                  int64_t now)
{
        if (m->err)
                return on_event(c, m);
        c->values_seen++;
        c->value_bytes_seen += (int64_t)m->len;
        return on_record(c, m, now);
}

/* The messages just taken: through the window, into c->filling, which
 * keeps them until its rows are written. */
static km_run_status_t select_batch(km_run_ctx_t *c, int n, int64_t now,
                                    int64_t *last_record)
{
        km_run_status_t st = KM_RUN_OK;
        km_map_batch_t *b = c->filling;
        for (int i = 0; i < n; i++) {
                rd_kafka_message_t *m = b->msgs[b->nmsgs + i];
                if (st == KM_RUN_OK)
                        st = on_message(c, m, now);
                if (!m->err)
                        *last_record = now;
        }
        b->nmsgs += n;
        return st;
}

/* Waits until the worker has mapped the batch posted last. */
static void wait_mapped(km_run_ctx_t *c)
{
        int64_t t0 = km_monotonic_ns();
        km_map_worker_wait(c->worker);
        c->wait_ns += km_monotonic_ns() - t0;
}

/* Hands the filling batch to the map worker once the previous one is
 * mapped, writes the previous one's rows while the worker maps, then
 * shares the mapping.  The two batches swap roles. */
static km_run_status_t pass_batch(km_run_ctx_t *c)
{
        wait_mapped(c);
        km_map_batch_t *mapped = c->mapping;
        c->mapping = c->filling;
        km_map_worker_post(c->worker, c->mapping);
        km_run_status_t st = write_batch(c, mapped);
        km_map_batch_clear(mapped);
        c->filling = mapped;
        /* What the worker has not taken yet is mapped here too. */
        km_map_worker_help(c->worker, c->own_mapper);
        return st;
}

/* The last batch: mapped and written. */
static km_run_status_t finish_batches(km_run_ctx_t *c, km_run_status_t st)
{
        wait_mapped(c);
        if (st == KM_RUN_OK)
                st = write_batch(c, c->mapping);
        return st;
}

static km_run_status_t read_window(km_run_ctx_t *c)
{
        int64_t stall = stall_timeout_ms(c->opts);
        int64_t last_progress = now_ms(), last_record = last_progress;
        km_run_status_t st;
        index_partitions(c);
        c->need_headers = maps_headers(c->sync);
        c->filling = km_map_batch_new(c->sync->ncolumns);
        c->mapping = km_map_batch_new(c->sync->ncolumns); /* empty */
        c->worker = km_map_worker_start(c->mapper, c->sync->ncolumns);
        st = assign_all(c);
        /* A partition assigned again soon after being unassigned (as
         * last_timestamps() does) can wait for the fetcher's 1 s wake-up
         * like a full queue does: wake it if nothing comes at once. */
        c->queue_was_full = 1;
        while (st == KM_RUN_OK && !all_done(c) && !c->preview_full) {
                if (c->opts->cancel && *c->opts->cancel) {
                        st = fail(c, KM_RUN_FAILED,
                                  "cancelled before the window was read; "
                                  "nothing was written");
                        break;
                }
                km_map_batch_t *b = c->filling;
                int n = take_batch(c, b->msgs + b->nmsgs,
                                   KM_MAP_BATCH - b->nmsgs);
                int64_t t = now_ms();
                st = select_batch(c, n, t, &last_record);
                /* A batch goes on full, or when nothing more came. */
                if (st == KM_RUN_OK &&
                    (b->nmsgs == KM_MAP_BATCH || n == 0 || all_done(c)))
                        st = pass_batch(c);
                close_idle(c, t);
                if (c->opts->progress && t - last_progress >= PROGRESS_EVERY_MS) {
                        km_run_progress(c, t);
                        last_progress = t;
                }
                if (st == KM_RUN_OK && !all_done(c) && t - last_record > stall)
                        st = fail(c, KM_RUN_FAILED,
                                  "no record from Kafka for %lld s with the "
                                  "window incomplete (brokers down or "
                                  "unreachable?); nothing was written",
                                  (long long)(stall / 1000));
        }
        if (st == KM_RUN_OK && c->filling->nmsgs > 0)
                st = pass_batch(c);
        st = finish_batches(c, st);
        if (c->opts->progress)
                km_run_progress_end(c);
        return st;
}

/* ------------------------------------------------------------ commit */

static void collect_ranges(km_run_ctx_t *c)
{
        km_run_report_t *r = c->rep;
        r->ranges = km_xcalloc((size_t)c->nparts + 1, sizeof(*r->ranges));
        r->nranges = c->nparts;
        for (int i = 0; i < c->nparts; i++) {
                const km_window_part_t *p = &c->parts[i];
                r->ranges[i] = (km_partition_range_t){
                        p->partition, p->start, p->end, c->written_in[i],
                        c->rejected_in[i], p->out_of_window};
                r->out_of_window += p->out_of_window;
        }
}

static void commit_group_offsets(km_run_ctx_t *c)
{
        char err[512];
        int32_t *ids = km_xcalloc((size_t)c->nparts + 1, sizeof(*ids));
        int64_t *offs = km_xcalloc((size_t)c->nparts + 1, sizeof(*offs));
        for (int i = 0; i < c->nparts; i++) {
                ids[i] = c->parts[i].partition;
                offs[i] = c->parts[i].end;
        }
        if (c->nparts && km_kafka_commit(c->kafka, c->sync->topic, ids, offs,
                                         c->nparts, err, sizeof(err)))
                snprintf(c->rep->warning, sizeof(c->rep->warning),
                         "the partition is committed, but %s (lag "
                         "monitoring of group %s will lag)",
                         err, c->sync->group);
        free(ids);
        free(offs);
}

static km_run_status_t commit(km_run_ctx_t *c)
{
        char err[1024];
        collect_ranges(c);
        km_commit_info_t info = {&c->rep->instance, c->rep->ranges,
                                 c->rep->nranges, c->rep->rows_written,
                                 c->rep->rows_rejected, c->plan_hash,
                                 wall_ms()};
        if (c->target->ops->commit(c->target, &info, err, sizeof(err)))
                return fail(c, c->target->permanent ? KM_RUN_FAILED_FOR_GOOD
                                                    : KM_RUN_FAILED,
                            "%s", err);
        c->target_open = 0;
        if (c->target->warning[0])
                snprintf(c->rep->warning, sizeof(c->rep->warning), "%s",
                         c->target->warning);
        c->rep->committed = c->opts->preview_limit <= 0;
        if (c->rep->committed)
                commit_group_offsets(c);
        return KM_RUN_OK;
}

/* ------------------------------------------------------------ the run */

static km_run_status_t prepare(km_run_ctx_t *c, const km_civil_t *at)
{
        char err[1024];
        if (km_instance_make(c->sync, at, &c->rep->instance, err, sizeof(err)))
                return fail(c, KM_RUN_FAILED_FOR_GOOD, "%s", err);
        c->win = (km_window_t){c->rep->instance.window_start_ms,
                               c->rep->instance.window_end_ms,
                               c->sync->end == KM_END_WHEN_IDLE
                                       ? KM_WINDOW_END_IDLE
                                       : KM_WINDOW_END_AT_HIGH};
        c->mapper = km_mapper_new(c->sync, err, sizeof(err));
        c->own_mapper = c->mapper ? km_mapper_new(c->sync, err, sizeof(err))
                                  : NULL;
        if (!c->mapper || !c->own_mapper)
                return fail(c, KM_RUN_FAILED_FOR_GOOD, "%s", err);
        return KM_RUN_OK;
}

static void cleanup(km_run_ctx_t *c)
{
        /* The worker first (it may be mapping), then the batches, whose
         * messages go back to librdkafka before the client closes. */
        km_map_worker_stop(c->worker);
        km_map_batch_free(c->filling);
        km_map_batch_free(c->mapping);
        if (c->target_open)
                c->target->ops->abort(c->target);
        km_target_free(c->target);
        km_kafka_close(c->kafka);
        if (c->mock && c->opts->on_mock_done)
                c->opts->on_mock_done(km_mock_cluster(c->mock),
                                      c->opts->hook_arg);
        km_mock_stop(c->mock);
        km_mapper_free(c->mapper);
        km_mapper_free(c->own_mapper);
        if (c->rejects)
                fclose(c->rejects);
        free(c->parts);
        free(c->headers);
        free(c->last_activity);
        free(c->part_index);
        free(c->written_in);
        free(c->rejected_in);
        free(c->assigned);
}

/* The stages from the phase boundaries t0..t4 (ns) and the time each
 * step of the reading loop took. */
static void add_stages(km_run_ctx_t *c, int64_t t0, int64_t t1, int64_t t2,
                       int64_t t3, int64_t t4)
{
        km_run_stages_t *s = &c->rep->stages;
        s->setup = (double)(t1 - t0) / 1e9;
        s->resolve = (double)(t2 - t1) / 1e9;
        s->read = (double)c->read_ns / 1e9;
        s->parse_extract = (double)c->map_ns / 1e9;
        s->encode = (double)c->write_ns / 1e9;
        s->map_wait = (double)c->wait_ns / 1e9;
        s->other = (double)(t3 - t2) / 1e9 - s->read - s->encode;
        if (s->other < 0)
                s->other = 0;
        s->write = (double)(t4 - t3) / 1e9;
}

km_run_status_t km_run(const km_plan_t *plan, const km_sync_plan_t *sync,
                       const km_civil_t *at, const km_run_options_t *opts,
                       km_run_report_t *report)
{
        km_run_ctx_t c = {0};
        memset(report, 0, sizeof(*report));
        c.sync = sync;
        c.opts = opts;
        c.rep = report;
        c.plan_hash = plan->source_sha256;
        c.started = now_ms();
        /* The target first: a missing table or a schema that does not fit
         * fails before a single record is read. */
        int64_t t0 = km_monotonic_ns();
        km_run_status_t st = prepare(&c, at);
        if (st == KM_RUN_OK)
                st = open_target(&c);
        if (st == KM_RUN_OK)
                st = open_kafka(&c);
        int64_t t1 = km_monotonic_ns();
        if (st == KM_RUN_OK)
                st = plan_partitions(&c);
        if (st == KM_RUN_OK) {
                c.last_activity = km_xcalloc((size_t)c.nparts + 1, sizeof(int64_t));
                c.written_in = km_xcalloc((size_t)c.nparts + 1, sizeof(int64_t));
                c.rejected_in = km_xcalloc((size_t)c.nparts + 1, sizeof(int64_t));
                c.assigned = km_xcalloc((size_t)c.nparts + 1, sizeof(char));
        }
        int64_t t2 = km_monotonic_ns();
        if (st == KM_RUN_OK)
                st = read_window(&c);
        int64_t t3 = km_monotonic_ns();
        if (st == KM_RUN_OK)
                st = commit(&c);
        add_stages(&c, t0, t1, t2, t3, km_monotonic_ns());
        report->seconds = (double)(now_ms() - c.started) / 1000.0;
        report->status = st;
        cleanup(&c);
        return st;
}

void km_run_report_clear(km_run_report_t *r)
{
        km_instance_clear(&r->instance);
        free(r->ranges);
        memset(r, 0, sizeof(*r));
}
