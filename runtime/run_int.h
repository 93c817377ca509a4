/* run_int.h - the state of one run, shared by run.c (the pipeline),
 * report.c (progress and the report) and preview.c (the preview target).
 * Private to runtime/. */
#ifndef KMSYNC_RUN_INT_H
#define KMSYNC_RUN_INT_H

#include <stdio.h>

#include "kafka.h"
#include "map_batch.h"
#include "kmsync/mapper.h"
#include "kmsync/mock.h"
#include "kmsync/run.h"
#include "kmsync/window.h"

typedef struct km_run_ctx {
        const km_sync_plan_t *sync;
        const km_run_options_t *opts;
        km_run_report_t *rep;
        const char *plan_hash;
        km_window_t win;
        km_mock_t *mock;
        km_kafka_t *kafka;
        int scan_only;
        km_window_part_t *parts;
        int nparts;
        int *part_index;        /* partition id -> index in parts, or -1 */
        int32_t max_partition_id;
        int open_parts;         /* partitions whose window is not complete */
        int need_headers;       /* a column maps __headers__ */
        int64_t *last_activity; /* per partition, monotonic ms */
        int64_t *written_in;    /* rows written, per partition */
        int64_t *rejected_in;   /* dirty records, per partition */
        char *assigned;         /* per partition: being read (not complete
                                 * before reading began) */
        km_mapper_t *mapper;     /* the map worker's */
        km_mapper_t *own_mapper; /* the reading thread's, when it helps */
        /* Batches (map_batch.h): one being filled by the reading loop,
         * the other mapped by the worker (empty at first); they swap. */
        km_map_batch_t *filling, *mapping;
        km_map_worker_t *worker;
        km_header_t *headers;
        size_t header_cap;
        km_target_t *target;
        int target_open;
        FILE *rejects;
        int preview_full; /* the preview printed all it was asked for */
        int64_t started;  /* monotonic ms */
        int progress_shown;
        /* Reading: librdkafka's queue was seen (nearly) full since the
         * fetcher was last woken; values seen, for the average size. */
        int queue_was_full;
        int wakes_unanswered;   /* fetcher wake-ups since the last message */
        int64_t values_seen, value_bytes_seen;
        /* Stage timing, ns: taking messages, mapping (both threads),
         * waiting for the worker, writing rows. */
        int64_t read_ns, map_ns, wait_ns, write_ns;
} km_run_ctx_t;

/* preview.c: a target that prints up to `limit` rows as JSON lines and
 * commits nothing. */
km_target_t *km_run_preview_target(const km_sync_plan_t *sync, FILE *out,
                                   int limit);
/* 1 once the preview target printed its limit. */
int km_run_preview_full(const km_target_t *t);

/* report.c: a progress line on stderr, redrawn in place. */
void km_run_progress(km_run_ctx_t *c, int64_t now_ms);
void km_run_progress_end(km_run_ctx_t *c);

#endif
