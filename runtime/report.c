/* report.c - what a run tells its user: a progress line while it reads,
 * and a report (text or JSON) when it ends. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "run_int.h"

/* Share of the offsets to read that have been read, in percent; -1 when
 * the end is open (END WHEN IDLE). */
static int offsets_done_pct(const km_run_ctx_t *c)
{
        int64_t total = 0, done = 0;
        if (c->win.end_mode != KM_WINDOW_END_AT_HIGH)
                return -1;
        for (int i = 0; i < c->nparts; i++) {
                const km_window_part_t *p = &c->parts[i];
                int64_t span = p->high - p->read_from;
                total += span > 0 ? span : 0;
                if (p->phase == KM_PHASE_DONE)
                        done += span > 0 ? span : 0;
                else if (p->last_offset >= p->read_from)
                        done += p->last_offset + 1 - p->read_from;
        }
        return total ? (int)(done * 100 / total) : 100;
}

void km_run_progress(km_run_ctx_t *c, int64_t now)
{
        double secs = (double)(now - c->started) / 1000.0;
        const km_run_report_t *r = c->rep;
        int pct = offsets_done_pct(c);
        char share[32] = "";
        if (pct >= 0)
                snprintf(share, sizeof(share), ", %d%% of offsets", pct);
        fprintf(stderr,
                "\r%s %s: %lld records, %.1f MB, %.0f records/s, %lld "
                "rejected%s   ",
                c->sync->name, r->instance.partition_spec,
                (long long)r->records_read, (double)r->bytes / 1e6,
                secs > 0 ? (double)r->records_read / secs : 0.0,
                (long long)r->rows_rejected, share);
        c->progress_shown = 1;
}

void km_run_progress_end(km_run_ctx_t *c)
{
        if (c->progress_shown)
                fputc('\n', stderr);
}

static const char *status_name(km_run_status_t s)
{
        return s == KM_RUN_OK ? "succeeded" : "failed";
}

static json_t *ranges_json(const km_run_report_t *r)
{
        json_t *a = json_array();
        for (int i = 0; i < r->nranges; i++) {
                const km_partition_range_t *p = &r->ranges[i];
                json_array_append_new(
                        a, json_pack("{s:i, s:I, s:I, s:I, s:I, s:I}",
                                     "partition", (int)p->partition,
                                     "start_offset", (json_int_t)p->start_offset,
                                     "end_offset", (json_int_t)p->end_offset,
                                     "rows", (json_int_t)p->rows, "rejected",
                                     (json_int_t)p->rejected, "out_of_window",
                                     (json_int_t)p->out_of_window));
        }
        return a;
}

/* Seconds per stage, in the order data flows, and the fetcher wake-ups. */
static json_t *stages_json(const km_run_stages_t *s)
{
        return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I}",
                         "setup_s", s->setup, "resolve_s", s->resolve,
                         "read_s", s->read, "parse_extract_s",
                         s->parse_extract, "encode_s", s->encode, "other_s",
                         s->other, "map_wait_s", s->map_wait, "write_s",
                         s->write, "fetch_wakeups",
                         (json_int_t)s->fetch_wakeups);
}

void *km_run_report_json(const km_run_report_t *r)
{
        const km_instance_t *in = &r->instance;
        char at[20] = "", ws[20] = "", we[20] = "";
        if (in->sync) {
                km_civil_format(&in->scheduled, at);
                km_civil_format(&in->window_start_local, ws);
                km_civil_format(&in->window_end_local, we);
        }
        json_t *o = json_pack(
                "{s:s, s:i, s:s?, s:s, s:s?, s:s, s:s, s:I, s:I}", "status",
                status_name(r->status), "exit_code", (int)r->status, "sync",
                in->sync ? in->sync->name : NULL, "scheduled_at", at,
                "partition", in->partition_spec, "window_start", ws,
                "window_end", we, "window_start_ms",
                (json_int_t)in->window_start_ms, "window_end_ms",
                (json_int_t)in->window_end_ms);
        json_object_set_new(o, "target", json_string(r->target));
        json_object_set_new(o, "committed", json_boolean(r->committed));
        json_object_set_new(o, "records_read", json_integer(r->records_read));
        json_object_set_new(o, "rows_written", json_integer(r->rows_written));
        json_object_set_new(o, "rows_rejected", json_integer(r->rows_rejected));
        json_object_set_new(o, "out_of_window", json_integer(r->out_of_window));
        json_object_set_new(o, "bytes", json_integer(r->bytes));
        json_object_set_new(o, "seconds", json_real(r->seconds));
        json_object_set_new(o, "records_per_second",
                            json_real(r->seconds > 0
                                              ? (double)r->records_read / r->seconds
                                              : 0.0));
        json_object_set_new(o, "stages", stages_json(&r->stages));
        json_object_set_new(o, "partitions", ranges_json(r));
        json_object_set_new(o, "rejects_file",
                            r->rejects_path[0] ? json_string(r->rejects_path)
                                               : json_null());
        json_object_set_new(o, "error",
                            r->error[0] ? json_string(r->error) : json_null());
        json_object_set_new(o, "warning", r->warning[0] ? json_string(r->warning)
                                                        : json_null());
        return o;
}

static void print_ranges(FILE *out, const km_run_report_t *r)
{
        for (int i = 0; i < r->nranges; i++) {
                const km_partition_range_t *p = &r->ranges[i];
                fprintf(out,
                        "  partition %-4d offsets [%lld, %lld)  %lld rows, "
                        "%lld rejected, %lld out of window\n",
                        (int)p->partition, (long long)p->start_offset,
                        (long long)p->end_offset, (long long)p->rows,
                        (long long)p->rejected, (long long)p->out_of_window);
        }
}

static void print_stages(FILE *out, const km_run_stages_t *s)
{
        fprintf(out,
                "  stages: setup %.2f s, resolve %.2f s, read %.2f s, "
                "parse+extract %.2f s (beside), encode %.2f s, other %.2f s, "
                "write %.2f s\n",
                s->setup, s->resolve, s->read, s->parse_extract, s->encode,
                s->other, s->write);
}

void km_run_report_print(FILE *out, const km_run_report_t *r)
{
        const km_instance_t *in = &r->instance;
        char ws[20] = "", we[20] = "";
        if (in->sync) {
                km_civil_format(&in->window_start_local, ws);
                km_civil_format(&in->window_end_local, we);
        }
        fprintf(out, "%s %s: %s\n", in->sync ? in->sync->name : "run",
                in->partition_spec && in->partition_spec[0] ? in->partition_spec
                                                            : "(whole table)",
                r->status == KM_RUN_OK ? (r->committed ? "committed"
                                                       : "done, nothing committed")
                                       : "FAILED, the target was left as it was");
        if (in->sync)
                fprintf(out, "  window [%s, %s) %s\n", ws, we,
                        in->sync->timezone);
        if (r->target[0])
                fprintf(out, "  target %s\n", r->target);
        fprintf(out,
                "  %lld records read, %lld rows written, %lld rejected, %lld "
                "out of window\n",
                (long long)r->records_read, (long long)r->rows_written,
                (long long)r->rows_rejected, (long long)r->out_of_window);
        fprintf(out, "  %.1f MB in %.2f s, %.0f records/s\n",
                (double)r->bytes / 1e6, r->seconds,
                r->seconds > 0 ? (double)r->records_read / r->seconds : 0.0);
        print_stages(out, &r->stages);
        print_ranges(out, r);
        if (r->rejects_path[0])
                fprintf(out, "  rejected records: %s\n", r->rejects_path);
        if (r->warning[0])
                fprintf(out, "  warning: %s\n", r->warning);
        if (r->error[0])
                fprintf(out, "  error: %s\n", r->error);
}
