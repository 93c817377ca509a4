/* export.h - hand a SYNC's schedule to a scheduler the user already runs:
 * a crontab line, a systemd .service + .timer pair, an Airflow DAG, a
 * DolphinScheduler workflow definition or an Argo CronWorkflow.  Each runs
 * `kmsync run FILE --sync NAME --at T` at the SYNC's scheduled times, T
 * being the scheduler's own scheduled time as wall clock in the SYNC's
 * zone, with RETRY mapped to the scheduler's retries, one instance at a
 * time, and exit status 3 not retried where the engine can tell.
 *
 * A schedule that one cron expression cannot hold is split into several
 * where the engine takes several, and refused with a message where it does
 * not: never approximated.  Private to kmsync (scheduler/ and cli/). */
#ifndef KMSYNC_EXPORT_H
#define KMSYNC_EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kmsync/plan.h"

typedef enum km_export_format {
        KM_EXPORT_CRON,
        KM_EXPORT_SYSTEMD,
        KM_EXPORT_AIRFLOW,
        KM_EXPORT_DOLPHINSCHEDULER,
        KM_EXPORT_ARGO,
} km_export_format_t;

/* "cron" etc. into *out; -1 for a name that is none of them. */
int km_export_format_parse(const char *name, km_export_format_t *out);

/* "cron|systemd|airflow|dolphinscheduler|argo", for usage lines. */
const char *km_export_format_list(void);

/* 1 when the definition runs on this machine (cron, systemd), so that the
 * kmsync binary defaults to the one running now; 0 for the others, where
 * it defaults to "kmsync" on the PATH of the worker or image. */
int km_export_format_is_local(km_export_format_t fmt);

typedef struct km_export_opts {
        const char *file;   /* the .sync file as the definition names it
                               (an absolute path) */
        const char *kmsync; /* the kmsync binary the definition runs */
        int64_t now;        /* seconds since the epoch: the first day of
                               Airflow's start_date and DolphinScheduler's
                               startTime */
        FILE *notes;        /* where limitations worth a warning go
                               (daylight saving time, rounded delays);
                               NULL: nowhere */
} km_export_opts_t;

/* Writes the definition of the nsyncs SYNCs into out: all of it, or
 * nothing when one of them cannot be exported (a SYNC without SCHEDULE, a
 * schedule the format cannot express exactly, a name or path it cannot
 * carry).  Returns 0, or -1 with the reason in err. */
int km_export_schedule(FILE *out, const km_sync_plan_t *const *syncs,
                       int nsyncs, km_export_format_t fmt,
                       const km_export_opts_t *opts, char *err,
                       size_t errlen);

#endif
