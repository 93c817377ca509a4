/* runner.c - run one attempt of an instance and record it in the instance
 * history, holding the (sync, partition) lock while it runs. */
#include "runner.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *km_attempt_target(const km_run_options_t *opts)
{
        if (opts->preview_limit > 0)
                return "preview";
        return opts->target ? opts->target : "maxcompute";
}

static char *ranges_json(const km_run_report_t *r)
{
        json_t *a = json_array();
        for (int i = 0; i < r->nranges; i++) {
                const km_partition_range_t *p = &r->ranges[i];
                json_array_append_new(
                        a, json_pack("{s:i, s:I, s:I, s:I}", "partition",
                                     (int)p->partition, "start_offset",
                                     (json_int_t)p->start_offset, "end_offset",
                                     (json_int_t)p->end_offset, "rows",
                                     (json_int_t)p->rows));
        }
        char *s = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        return s;
}

/* The row that opens the attempt: what is known before it runs. */
static int begin(km_state_t *st, const km_attempt_t *a, int64_t *id,
                 char *err, size_t errlen)
{
        km_instance_t in;
        char when[20];
        if (km_instance_make(a->sync, &a->at, &in, err, errlen))
                return -1;
        km_civil_format(&a->at, when);
        km_inst_row_t row = {0};
        row.sync = (char *)a->sync->name;
        row.file = (char *)a->file;
        row.plan_hash = (char *)a->plan->source_sha256;
        row.scheduled_at = when;
        row.window_start_ms = in.window_start_ms;
        row.window_end_ms = in.window_end_ms;
        row.partition = in.partition_spec;
        row.target = (char *)km_attempt_target(a->opts);
        row.status = KM_INST_RUNNING;
        int rc = km_state_begin(st, &row, id, err, errlen);
        km_instance_clear(&in);
        return rc;
}

km_run_status_t km_attempt_run(km_state_t *st, const km_attempt_t *a,
                               km_run_report_t *report)
{
        char err[900];
        int64_t id = 0;
        if (st && begin(st, a, &id, err, sizeof(err))) {
                memset(report, 0, sizeof(*report));
                report->status = KM_RUN_FAILED;
                snprintf(report->error, sizeof(report->error), "%s", err);
                return report->status;
        }
        km_run_status_t rs = km_run(a->plan, a->sync, &a->at, a->opts, report);
        if (!st)
                return rs;
        char *ranges = ranges_json(report);
        if (km_state_finish(st, id,
                            rs == KM_RUN_OK ? KM_INST_SUCCEEDED : KM_INST_FAILED,
                            (int)rs, report->records_read, report->rows_written,
                            report->rows_rejected, ranges,
                            report->error[0] ? report->error : NULL, err,
                            sizeof(err)))
                snprintf(report->warning, sizeof(report->warning),
                         "the instance history was not updated: %s", err);
        free(ranges);
        return rs;
}
