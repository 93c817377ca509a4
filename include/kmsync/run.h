/* run.h - execute one instance of a SYNC: read its window from Kafka, map
 * the records, write the partition, commit, report.
 *
 * A run either commits exactly the window's rows into its partition, or
 * leaves the partition as it was.  The same instance run again gives the
 * same rows. */
#ifndef KMSYNC_RUN_H
#define KMSYNC_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "kmsync/plan.h"
#include "kmsync/target.h"

/* How a run ended; these are also the exit codes of `kmsync run`. */
typedef enum km_run_status {
        KM_RUN_OK = 0,
        KM_RUN_FAILED = 1,          /* may succeed if tried again */
        KM_RUN_FAILED_FOR_GOOD = 3, /* configuration, schema, auth, data
                                     * errors over ERRORS LIMIT */
} km_run_status_t;

typedef struct km_run_options {
        const char *kafka;  /* NULL: the connection's brokers; "h:p,...";
                             * "mock:FIXTURE.jsonl": the embedded cluster */
        const char *target; /* NULL or "maxcompute": the SYNC's own;
                             * "local:DIR": the local warehouse */
        const char *rejects_dir; /* NULL: .kmsync/rejects */
        int mock_partitions;     /* at least this many (mock only) */
        int mock_brokers;        /* brokers of the mock cluster (1) */
        int progress;            /* a progress line on stderr */
        int64_t stall_timeout_ms; /* 0: 60 s without a record fails */
        /* Preview: print up to preview_limit rows as JSON lines to
         * preview_out, write nothing, commit nothing. */
        int preview_limit;
        FILE *preview_out;
        /* Set (by another thread or a signal handler) to stop the run: it
         * fails with "cancelled" and leaves the target as it was. */
        volatile int *cancel;
        /* Tests: called once the embedded cluster is loaded, with its
         * rd_kafka_mock_cluster_t *, to inject faults. */
        void (*on_mock_ready)(void *mock_cluster, void *arg);
        /* Tests: called just before the embedded cluster is destroyed, so
         * that a fault-injecting thread can be stopped first. */
        void (*on_mock_done)(void *mock_cluster, void *arg);
        void *hook_arg;
} km_run_options_t;

/* Where a run's time went, in seconds.  The reading loop takes records
 * (read), keeps those of the window (other) and writes mapped rows
 * (encode) on one thread while a second one maps the next batch
 * (parse_extract), so parse_extract overlaps the others; map_wait is the
 * part of "other" the loop spent waiting for the mapper. */
typedef struct km_run_stages {
        double setup;         /* plan instance, target opened, client made */
        double resolve;       /* partitions, watermarks, window offsets */
        double read;          /* taking records from librdkafka, waits too */
        double parse_extract; /* the mapper: JSON paths, conversions */
        double encode;        /* the target's per-row write: encoding and
                               * buffered output */
        double other;         /* the reading loop's own work */
        double map_wait;      /* ... of which waiting for the mapper */
        double write;         /* the target's commit: flush, fsync and
                               * rename, or the last blocks and the commit */
        int64_t fetch_wakeups; /* librdkafka's fetcher woken after its
                                * queue was full (runtime/kafka.h) */
} km_run_stages_t;

typedef struct km_run_report {
        km_run_status_t status;
        char error[1024];
        char warning[1024];     /* e.g. offsets not committed to the group */
        km_instance_t instance; /* what ran */
        char target[1024];      /* where it wrote */
        char rejects_path[1024]; /* "" when there were no dirty records */
        int64_t records_read;   /* records inside the offset ranges */
        int64_t rows_written;
        int64_t rows_rejected;
        int64_t out_of_window;
        int64_t bytes;          /* key + value bytes read */
        double seconds;
        km_partition_range_t *ranges;
        int nranges;
        int committed;          /* the partition was replaced */
        km_run_stages_t stages;
} km_run_report_t;

/* Runs the instance of `sync` scheduled at `at` (wall clock in its zone).
 * Always fills *report (free with km_run_report_clear()); returns its
 * status. */
km_run_status_t km_run(const km_plan_t *plan, const km_sync_plan_t *sync,
                       const km_civil_t *at, const km_run_options_t *opts,
                       km_run_report_t *report);

void km_run_report_clear(km_run_report_t *r);

/* The report as one JSON object (jansson json_t *, caller decrefs). */
void *km_run_report_json(const km_run_report_t *r);
/* The report as text. */
void km_run_report_print(FILE *out, const km_run_report_t *r);

#endif
