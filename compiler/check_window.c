/* check_window.c - what a SYNC's templates give when it runs.
 *
 * Evaluates consecutive scheduled instances over a sample period (75 days
 * from 2024-01-20: a leap day, month ends of 30 and 31 days, and the spring
 * DST changes of America and Europe) and reports:
 *   - a window whose end is not after its start, a bound or partition value
 *     that is not valid (errors);
 *   - two instances that write the same partition, which overwrite each
 *     other unless the SYNC says WRITE APPEND (error);
 *   - gaps and overlaps between consecutive windows, and windows that end
 *     at or after their own run time (warnings). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "util.h"

enum {
        SAMPLE_DAYS = 75,
        MIN_INSTANCES = 14,
        MAX_SAMPLE_DAYS = 800,
};

static const km_civil_t sample_start = {2024, 1, 20, 0, 0, 0};

/* ------------------------------------------------- a set of partitions */

typedef struct seen_partition {
        char *spec;
        km_civil_t first_run;
} seen_partition_t;

typedef struct partition_set {
        seen_partition_t *slots;
        size_t cap, count;
} partition_set_t;

static uint64_t hash_str(const char *s)
{
        uint64_t h = 1469598103934665603ULL;
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        return h;
}

static void set_grow(partition_set_t *set);

/* Adds spec; returns the earlier entry when it was already there. */
static const seen_partition_t *set_add(partition_set_t *set, const char *spec,
                                       const km_civil_t *run)
{
        if ((set->count + 1) * 2 > set->cap)
                set_grow(set);
        size_t i = hash_str(spec) & (set->cap - 1);
        while (set->slots[i].spec) {
                if (strcmp(set->slots[i].spec, spec) == 0)
                        return &set->slots[i];
                i = (i + 1) & (set->cap - 1);
        }
        set->slots[i] = (seen_partition_t){km_xstrdup(spec), *run};
        set->count++;
        return NULL;
}

static void set_grow(partition_set_t *set)
{
        partition_set_t bigger = {0};
        bigger.cap = set->cap ? set->cap * 2 : 256;
        bigger.slots = km_xcalloc(bigger.cap, sizeof(*bigger.slots));
        for (size_t i = 0; i < set->cap; i++) {
                if (!set->slots[i].spec)
                        continue;
                size_t j = hash_str(set->slots[i].spec) & (bigger.cap - 1);
                while (bigger.slots[j].spec)
                        j = (j + 1) & (bigger.cap - 1);
                bigger.slots[j] = set->slots[i];
                bigger.count++;
        }
        free(set->slots);
        *set = bigger;
}

static void set_free(partition_set_t *set)
{
        for (size_t i = 0; i < set->cap; i++)
                free(set->slots[i].spec);
        free(set->slots);
}

/* ------------------------------------------------------------- walking */

typedef struct walk {
        km_checker_t *c;
        const km_sync_stmt_t *s;
        const km_sync_plan_t *sync;
        partition_set_t partitions;
        km_instance_t prev;
        int have_prev;
        int gaps, overlaps, late_ends;
        char first_gap[400], first_overlap[400], first_late[400];
        int failed; /* an error was reported: stop walking */
} walk_t;

static void fmt_time(const km_civil_t *t, char buf[20])
{
        km_civil_format(t, buf);
}

/* Points at the template the message is about (it starts with its name). */
static void report_eval_error(walk_t *w, const char *msg)
{
        const km_sync_stmt_t *s = w->s;
        km_loc_t at = s->c_window.loc;
        if (strncmp(msg, "PARTITION", 9) == 0)
                at = s->c_partition.loc;
        else if (strncmp(msg, "WINDOW FROM", 11) == 0)
                at = s->window_from.loc;
        else if (strncmp(msg, "WINDOW TO", 9) == 0)
                at = s->window_to.loc;
        km_diag_error(w->c->d, at, "%s", msg);
        w->failed = 1;
}

static int valid_partition_value(const char *v)
{
        size_t n = strlen(v);
        if (n == 0 || n > 256)
                return 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)v[i];
                if (ch < 0x20 || strchr("/\\'\"=,`", ch))
                        return 0;
        }
        return 1;
}

static void check_one(walk_t *w, const km_instance_t *in)
{
        char run[20], a[20], b[20];
        fmt_time(&in->scheduled, run);
        /* Compared as written (wall clock): a window that a DST change
         * makes empty, such as [02:00, 03:00) on a spring-forward night,
         * is that night's truth, not a mistake. */
        if (km_civil_cmp(&in->window_end_local, &in->window_start_local) <= 0) {
                fmt_time(&in->window_start_local, a);
                fmt_time(&in->window_end_local, b);
                km_diag_error(w->c->d, w->s->c_window.loc,
                              "the window must end after it starts: the run "
                              "at %s reads from %s to %s",
                              run, a, b);
                w->failed = 1;
                return;
        }
        const km_partition_item_t *p = w->s->partition;
        for (int i = 0; i < w->sync->npartition && p; i++, p = p->next) {
                if (valid_partition_value(in->partition_values[i]))
                        continue;
                km_diag_error(w->c->d, p->value.loc,
                              "partition value '%s' (the run at %s) is not "
                              "valid: it must be 1 to 256 characters without "
                              "/ \\ ' \" = , ` or control characters",
                              in->partition_values[i], run);
                w->failed = 1;
                return;
        }
}

/* A partition value that differs between consecutive runs. */
static const char *finer_partition(const km_schedule_t *s)
{
        switch (s->kind) {
        case KM_SCHED_MINUTES:
                return "$[yyyymmddhh24mi]";
        case KM_SCHED_HOURS:
                return "$[yyyymmddhh24]";
        default:
                return "$[yyyymmdd]";
        }
}

static void check_partition_reuse(walk_t *w, const km_instance_t *in)
{
        if (w->sync->append)
                return;
        const seen_partition_t *first =
                set_add(&w->partitions, in->partition_spec, &in->scheduled);
        if (!first)
                return;
        char a[20], b[20];
        fmt_time(&first->first_run, a);
        fmt_time(&in->scheduled, b);
        km_loc_t at = w->s->c_partition.set ? w->s->c_partition.loc
                                            : w->s->name.loc;
        if (w->sync->npartition == 0)
                km_diag_error(w->c->d, at,
                              "every run writes the whole table (no "
                              "PARTITION): the run at %s would replace what "
                              "the run at %s wrote; add PARTITION (ds = "
                              "'%s') or say WRITE APPEND",
                              b, a, finer_partition(&w->sync->schedule));
        else
                km_diag_error(w->c->d, at,
                              "the runs at %s and %s both write partition "
                              "%s: the second would replace the first; make "
                              "the partition finer (e.g. a value from "
                              "%s) or say WRITE APPEND",
                              a, b, in->partition_spec,
                              finer_partition(&w->sync->schedule));
        w->failed = 1;
}

static void check_late_end(walk_t *w, const km_instance_t *in)
{
        int64_t run_utc;
        km_tz_from_local(w->sync->tz, &in->scheduled, &run_utc);
        if (in->window_end_ms < run_utc * 1000)
                return;
        if (w->late_ends++ == 0) {
                char run[20], end[20];
                fmt_time(&in->scheduled, run);
                fmt_time(&in->window_end_local, end);
                snprintf(w->first_late, sizeof(w->first_late),
                         "the window ends at or after its run time (the run "
                         "at %s reads up to %s): records still in flight "
                         "would be missed; end the window a few minutes "
                         "before the run (e.g. 5-minute windows that end 3 "
                         "minutes before it)",
                         run, end);
        }
}

static void check_contiguity(walk_t *w, const km_instance_t *in)
{
        const km_instance_t *p = &w->prev;
        if (!w->have_prev || p->window_end_ms == in->window_start_ms)
                return;
        char r1[20], r2[20], a[20], b[20];
        fmt_time(&p->scheduled, r1);
        fmt_time(&in->scheduled, r2);
        if (p->window_end_ms < in->window_start_ms) {
                if (w->gaps++)
                        return;
                fmt_time(&p->window_end_local, a);
                fmt_time(&in->window_start_local, b);
                snprintf(w->first_gap, sizeof(w->first_gap),
                         "consecutive windows leave a gap: the run at %s "
                         "reads up to %s and the next run, at %s, from %s, "
                         "so [%s, %s) is never read",
                         r1, a, r2, b, a, b);
        } else {
                if (w->overlaps++)
                        return;
                fmt_time(&in->window_start_local, a);
                fmt_time(&p->window_end_local, b);
                snprintf(w->first_overlap, sizeof(w->first_overlap),
                         "consecutive windows overlap: the runs at %s and %s "
                         "both read [%s, %s), so its records are written "
                         "twice",
                         r1, r2, a, b);
        }
}

static void visit(walk_t *w, const km_civil_t *at, int scheduled)
{
        km_instance_t in;
        char err[512];
        if (km_instance_make(w->sync, at, &in, err, sizeof(err)) != 0) {
                report_eval_error(w, err);
                return;
        }
        check_one(w, &in);
        if (!w->failed && scheduled) {
                check_partition_reuse(w, &in);
                check_late_end(w, &in);
                check_contiguity(w, &in);
        }
        if (w->have_prev)
                km_instance_clear(&w->prev);
        w->prev = in;
        w->have_prev = 1;
}

static void report_summary(walk_t *w, int days)
{
        km_loc_t at = w->s->c_window.loc;
        if (w->gaps)
                km_diag_warning(w->c->d, at, "%s (%d gap%s in %d sample days)",
                                w->first_gap, w->gaps, w->gaps > 1 ? "s" : "",
                                days);
        if (w->overlaps)
                km_diag_warning(w->c->d, at, "%s (%d overlap%s in %d sample days)",
                                w->first_overlap, w->overlaps,
                                w->overlaps > 1 ? "s" : "", days);
        if (w->late_ends)
                km_diag_warning(w->c->d, at, "%s", w->first_late);
}

static int days_between(const km_civil_t *a, const km_civil_t *b)
{
        return (int)((km_civil_to_seconds(b) - km_civil_to_seconds(a)) / 86400);
}

static void walk_schedule(walk_t *w)
{
        km_civil_t t = sample_start, next;
        int n = 0, days = 0;
        t.sec = -1; /* strictly after: the start itself may be scheduled */
        km_civil_from_seconds(km_civil_to_seconds(&t), &t);
        while (!w->failed &&
               km_sched_next(&w->sync->schedule, &t, &next) == 0) {
                days = days_between(&sample_start, &next);
                if (days >= MAX_SAMPLE_DAYS ||
                    (days >= SAMPLE_DAYS && n >= MIN_INSTANCES))
                        break;
                visit(w, &next, 1);
                t = next;
                n++;
        }
        if (!w->failed)
                report_summary(w, days);
}

/* On-demand SYNCs: every hour of two days around a leap day. */
static void walk_hours(walk_t *w)
{
        km_civil_t t = {2024, 2, 28, 0, 0, 0};
        for (int h = 0; h < 48 && !w->failed; h++) {
                visit(w, &t, 0);
                km_civil_from_seconds(km_civil_to_seconds(&t) + 3600, &t);
        }
}

void km_check_instances(km_checker_t *c, const km_sync_stmt_t *s,
                        const km_sync_plan_t *sync)
{
        walk_t w = {0};
        w.c = c;
        w.s = s;
        w.sync = sync;
        if (!sync->tz || !sync->window_from || !sync->window_to)
                return;
        if (sync->schedule.kind == KM_SCHED_NONE)
                walk_hours(&w);
        else
                walk_schedule(&w);
        if (w.have_prev)
                km_instance_clear(&w.prev);
        set_free(&w.partitions);
}
