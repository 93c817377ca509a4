/* scheduler.h - the embedded scheduler (`kmsync schedule`) and backfills:
 * every scheduled instance of every SYNC, on time, in order, with retries,
 * recorded in the instance history. */
#ifndef KMSYNC_SCHEDULER_H
#define KMSYNC_SCHEDULER_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "kmsync/run.h"
#include "state.h"

/* One compiled file and where it came from. */
typedef struct km_sched_file {
        const char *path;
        km_plan_t *plan;
} km_sched_file_t;

typedef struct km_sched_options {
        km_run_options_t run;   /* overrides (--kafka, --target) */
        int max_parallel;       /* instances of different SYNCs at once */
        int64_t catch_up_s;     /* on start, run missed instances this old */
        int json_log;           /* events as JSON lines */
        FILE *log;              /* events; stderr by default */
        /* Test clock: a fake clock starting at `now` that jumps to each
         * next due time instead of sleeping, and stops after `until`
         * (both wall clock UTC 'YYYY-MM-DD HH:MM[:SS]'); NULL: real time. */
        const char *fake_now;
        const char *fake_until;
        volatile sig_atomic_t *stop; /* SIGTERM/SIGINT: stop starting */
        int64_t grace_ms;       /* then wait this long for running ones
                                 * (0: cancel them at once) */
} km_sched_options_t;

/* Runs until *opts->stop (or the fake clock's end).  Returns 0. */
int km_schedule_loop(km_state_t *st, const km_sched_file_t *files, int nfiles,
                     const km_sched_options_t *opts);

typedef struct km_backfill_options {
        km_run_options_t run;
        int parallel;           /* instances at once (never two of one
                                 * partition) */
        int skip_succeeded;     /* skip instances whose last attempt
                                 * succeeded */
        FILE *log;
} km_backfill_options_t;

/* Runs every scheduled instance of `syncs` with a scheduled time in
 * [from, to], prints a summary table to opts->log, and returns 0 when all
 * succeeded (or were skipped), else the worst exit status (1 or 3). */
int km_backfill(km_state_t *st, const km_sched_file_t *file,
                const km_sync_plan_t **syncs, int nsyncs,
                const km_civil_t *from, const km_civil_t *to,
                const km_backfill_options_t *opts);

#endif
