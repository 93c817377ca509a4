/* runner.h - one attempt of one instance, recorded: the instance history
 * row, the (sync, partition) lock, the run itself.  Every command that runs
 * instances (run, rerun, backfill, schedule) goes through here, so each
 * attempt is in the history whichever command made it. */
#ifndef KMSYNC_RUNNER_H
#define KMSYNC_RUNNER_H

#include "kmsync/run.h"
#include "state.h"

typedef struct km_attempt {
        const km_plan_t *plan;
        const km_sync_plan_t *sync;
        const char *file;        /* the .sync file as given */
        km_civil_t at;           /* scheduled time */
        const km_run_options_t *opts;
} km_attempt_t;

/* Runs the attempt and records it in st (NULL: not recorded).  Fills
 * *report (free with km_run_report_clear()).  When the instance's lock is
 * held by another process, nothing runs: the report's error says who
 * holds it and the status is KM_RUN_FAILED. */
km_run_status_t km_attempt_run(km_state_t *st, const km_attempt_t *a,
                               km_run_report_t *report);

/* The target an options struct writes to, as recorded: "local:DIR" or
 * "maxcompute". */
const char *km_attempt_target(const km_run_options_t *opts);

#endif
