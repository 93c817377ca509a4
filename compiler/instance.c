/* instance.c - one scheduled run of a SYNC: its window and its partition.
 *
 * The plan keeps WINDOW and PARTITION as scheduling-parameter templates; an
 * instance is what they give at one scheduled wall-clock time.  Window bounds
 * are read as wall-clock times in the plan's zone and become epoch
 * milliseconds, the unit of Kafka record timestamps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsync/param.h"
#include "kmsync/plan.h"
#include "util.h"

int km_window_bound_ms(const km_tz_t *tz, const char *text, km_civil_t *local,
                       int64_t *ms)
{
        int64_t utc;
        if (km_civil_parse_compact(text, local) != 0)
                return -1;
        km_tz_from_local(tz, local, &utc);
        *ms = utc * 1000;
        return 0;
}

static char *eval_or_fail(const char *tmpl, const km_civil_t *at,
                          const char *what, char *errbuf, size_t errlen)
{
        km_param_error_t err;
        char *out = km_param_eval(tmpl, at, &err);
        if (!out)
                snprintf(errbuf, errlen, "%s '%s': %s", what, tmpl,
                         err.message);
        return out;
}

static int eval_bound(const km_sync_plan_t *sync, const char *tmpl,
                      const km_civil_t *at, const char *what, char **text,
                      km_civil_t *local, int64_t *ms, char *errbuf,
                      size_t errlen)
{
        *text = eval_or_fail(tmpl, at, what, errbuf, errlen);
        if (!*text)
                return -1;
        if (km_window_bound_ms(sync->tz, *text, local, ms) == 0)
                return 0;
        snprintf(errbuf, errlen,
                 "%s '%s' gives '%s', which is not a time: it must give "
                 "yyyymmddhh24miss (14 digits, e.g. '$[yyyymmddhh24]0000') "
                 "or 'yyyy-mm-dd hh:mi:ss'",
                 what, tmpl, *text);
        return -1;
}

static int eval_partition(const km_sync_plan_t *sync, const km_civil_t *at,
                          km_instance_t *out, char *errbuf, size_t errlen)
{
        km_buf_t spec = {0};
        out->partition_values = km_xcalloc((size_t)sync->npartition + 1,
                                           sizeof(char *));
        out->npartition = sync->npartition;
        for (int i = 0; i < sync->npartition; i++) {
                char *v = eval_or_fail(sync->partition[i].value, at,
                                       "PARTITION value", errbuf, errlen);
                if (!v) {
                        free(spec.data);
                        return -1;
                }
                out->partition_values[i] = v;
                km_buf_printf(&spec, "%s%s=%s", i ? "," : "",
                              sync->partition[i].key, v);
        }
        out->partition_spec = km_buf_take(&spec);
        return 0;
}

int km_instance_make(const km_sync_plan_t *sync, const km_civil_t *at,
                     km_instance_t *out, char *errbuf, size_t errlen)
{
        memset(out, 0, sizeof(*out));
        out->sync = sync;
        out->scheduled = *at;
        if (eval_bound(sync, sync->window_from, at, "WINDOW FROM",
                       &out->window_from_text, &out->window_start_local,
                       &out->window_start_ms, errbuf, errlen) != 0 ||
            eval_bound(sync, sync->window_to, at, "WINDOW TO",
                       &out->window_to_text, &out->window_end_local,
                       &out->window_end_ms, errbuf, errlen) != 0 ||
            eval_partition(sync, at, out, errbuf, errlen) != 0) {
                km_instance_clear(out);
                return -1;
        }
        return 0;
}

void km_instance_clear(km_instance_t *inst)
{
        if (inst->partition_values)
                for (int i = 0; i < inst->npartition; i++)
                        free(inst->partition_values[i]);
        free(inst->partition_values);
        free(inst->partition_spec);
        free(inst->window_from_text);
        free(inst->window_to_text);
        memset(inst, 0, sizeof(*inst));
}
