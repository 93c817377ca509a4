/* scheduler.c - `kmsync schedule`: run every SYNC at each scheduled time of
 * its SCHEDULE, in its time zone.
 *
 * Instances of one SYNC run in scheduled order, one at a time (a late one
 * delays the next, never overlaps it); instances of different SYNCs run
 * side by side up to --max-parallel.  A failed attempt that may succeed
 * again is retried RETRY n TIMES, d apart; one that cannot (exit 3) is
 * not.  On start, instances missed while the scheduler was down (within
 * --catch-up) run first, in order.  A stop request lets running instances
 * finish within a grace period, then cancels them (their partitions stay
 * as they were).  A test clock can replace time: it jumps to each next due
 * time instead of sleeping, so days of cycles pass in seconds. */
#include "scheduler.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner.h"
#include "util.h"

typedef struct pending {
        km_civil_t at;     /* scheduled wall clock, the SYNC's zone */
        int64_t not_before; /* UTC seconds: due time, or the retry time */
        int tries;         /* attempts made by this process */
} pending_t;

typedef struct loop loop_t;

typedef struct job {
        loop_t *loop;
        const km_sched_file_t *file;
        const km_sync_plan_t *sync;
        pending_t *q;
        int nq, capq;
        km_civil_t cursor; /* the last scheduled time enqueued */
        int running, finished;
        pthread_t thread;
        km_run_status_t result;
        km_run_report_t report;
} job_t;

struct loop {
        km_state_t *st;
        const km_sched_options_t *o;
        job_t *jobs;
        int njobs;
        int running;
        pthread_mutex_t lock;
        pthread_cond_t changed;
        int fake;
        int64_t fake_now, fake_until;
        volatile int cancel;
        km_run_options_t run; /* opts->run with our cancel flag */
};

/* ------------------------------------------------------------- time */

static int64_t now_utc(const loop_t *l)
{
        return l->fake ? l->fake_now : (int64_t)time(NULL);
}

static int64_t to_utc(const km_sync_plan_t *s, const km_civil_t *local)
{
        int64_t utc;
        km_tz_from_local(s->tz, local, &utc);
        return utc;
}

static void to_local(const km_sync_plan_t *s, int64_t utc, km_civil_t *out)
{
        km_tz_to_local(s->tz, utc, out);
}

static void iso_utc(int64_t utc, char buf[24])
{
        km_civil_t c;
        km_civil_from_seconds(utc, &c);
        snprintf(buf, 24, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.mon,
                 c.day, c.hour, c.min, c.sec);
}

/* ------------------------------------------------------------- events */

static void log_event(loop_t *l, const job_t *j, const pending_t *p,
                      const char *event, const char *detail)
{
        char when[24], at[20];
        FILE *out = l->o->log ? l->o->log : stderr;
        iso_utc(now_utc(l), when);
        km_civil_format(&p->at, at);
        if (l->o->json_log) {
                json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i}", "time",
                                      when, "sync", j->sync->name,
                                      "scheduled_at", at, "event", event,
                                      "attempt", p->tries);
                if (detail)
                        json_object_set_new(o, "detail", json_string(detail));
                json_dumpf(o, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
                fputc('\n', out);
                json_decref(o);
        } else {
                fprintf(out, "%s %s %s: %s%s%s\n", when, j->sync->name, at,
                        event, detail ? ": " : "", detail ? detail : "");
        }
        fflush(out);
}

/* ------------------------------------------------------------- queues */

static void push(job_t *j, const km_civil_t *at)
{
        if (j->nq == j->capq) {
                j->capq = j->capq ? j->capq * 2 : 16;
                j->q = km_xrealloc(j->q, sizeof(*j->q) * (size_t)j->capq);
        }
        j->q[j->nq++] = (pending_t){*at, to_utc(j->sync, at), 0};
}

static void pop(job_t *j)
{
        memmove(j->q, j->q + 1, sizeof(*j->q) * (size_t)(j->nq - 1));
        j->nq--;
}

/* Enqueues every scheduled time after the cursor that is due by now. */
static void enqueue_due(job_t *j, int64_t now)
{
        km_civil_t next;
        while (km_sched_next(&j->sync->schedule, &j->cursor, &next) == 0 &&
               to_utc(j->sync, &next) <= now) {
                push(j, &next);
                j->cursor = next;
        }
}

/* The instance's latest recorded attempt: 1 succeeded, 2 interrupted,
 * 0 other or none. */
static int recorded(loop_t *l, const job_t *j, const km_civil_t *at)
{
        km_inst_row_t row;
        char when[20], err[256];
        km_civil_format(at, when);
        if (!l->st ||
            km_state_get(l->st, j->sync->name, when, &row, err, sizeof(err)))
                return 0;
        int r = row.status == KM_INST_SUCCEEDED ? 1
                : row.error && strncmp(row.error, "interrupted", 11) == 0 ? 2
                                                                          : 0;
        km_inst_row_clear(&row);
        return r;
}

/* On start: the instances missed while no scheduler ran (after the last
 * one recorded, within the catch-up period), and interrupted ones. */
static void catch_up(loop_t *l, job_t *j, int64_t now)
{
        int64_t from = now - (l->o->catch_up_s > 0 ? l->o->catch_up_s : 86400);
        km_civil_t t, next, last_seen = {0};
        int have_history = 0;
        to_local(j->sync, from, &t);
        j->cursor = t;
        km_civil_t c = t;
        while (km_sched_next(&j->sync->schedule, &c, &next) == 0 &&
               to_utc(j->sync, &next) < now) {
                int r = recorded(l, j, &next);
                if (r) {
                        have_history = 1;
                        last_seen = next;
                }
                if (r == 2) {
                        push(j, &next);
                        log_event(l, j, &j->q[j->nq - 1], "catch-up",
                                  "interrupted before");
                }
                c = next;
        }
        /* An instance due exactly now is still to run. */
        to_local(j->sync, now - 1, &j->cursor);
        if (!have_history)
                return;
        /* Every instance after the last recorded one was missed. */
        c = last_seen;
        while (km_sched_next(&j->sync->schedule, &c, &next) == 0 &&
               to_utc(j->sync, &next) < now) {
                push(j, &next);
                log_event(l, j, &j->q[j->nq - 1], "catch-up", "missed");
                c = next;
        }
}

/* ------------------------------------------------------------ running */

static void *run_job(void *arg)
{
        job_t *j = arg;
        loop_t *l = j->loop;
        km_attempt_t a = {j->file->plan, j->sync, j->file->path, j->q[0].at,
                          &l->run};
        j->result = km_attempt_run(l->st, &a, &j->report);
        pthread_mutex_lock(&l->lock);
        j->finished = 1;
        pthread_cond_broadcast(&l->changed);
        pthread_mutex_unlock(&l->lock);
        return NULL;
}

static void start(loop_t *l, job_t *j)
{
        j->q[0].tries++;
        log_event(l, j, &j->q[0], "started", j->q[0].tries > 1 ? "a retry"
                                                               : NULL);
        j->running = 1;
        j->finished = 0;
        l->running++;
        if (pthread_create(&j->thread, NULL, run_job, j) != 0) {
                run_job(j);
                j->thread = pthread_self();
        }
}

static void finish(loop_t *l, job_t *j)
{
        char detail[1400];
        pending_t *p = &j->q[0];
        if (!pthread_equal(j->thread, pthread_self()))
                pthread_join(j->thread, NULL);
        j->running = 0;
        l->running--;
        if (j->result == KM_RUN_OK) {
                snprintf(detail, sizeof(detail), "%lld rows in %.1f s",
                         (long long)j->report.rows_written, j->report.seconds);
                log_event(l, j, p, "succeeded", detail);
                pop(j);
        } else if (j->result == KM_RUN_FAILED &&
                   p->tries <= j->sync->retry_times && !l->cancel) {
                p->not_before = now_utc(l) + j->sync->retry_delay_ms / 1000;
                snprintf(detail, sizeof(detail), "%s; retry in %lld s",
                         j->report.error,
                         (long long)(j->sync->retry_delay_ms / 1000));
                log_event(l, j, p, "failed", detail);
        } else {
                snprintf(detail, sizeof(detail), "%s%s", j->report.error,
                         j->result == KM_RUN_FAILED_FOR_GOOD
                                 ? " (not retried: retrying cannot help)"
                                 : "");
                log_event(l, j, p, "failed", detail);
                pop(j);
        }
        km_run_report_clear(&j->report);
}

static int stopping(const loop_t *l)
{
        return l->o->stop && *l->o->stop;
}

/* Reaps finished instances and starts due ones; returns the next time
 * something is due (UTC), or INT64_MAX. */
static int64_t step(loop_t *l)
{
        int64_t now = now_utc(l), wake = INT64_MAX;
        for (int i = 0; i < l->njobs; i++) {
                job_t *j = &l->jobs[i];
                if (j->running && j->finished)
                        finish(l, j);
                if (!stopping(l))
                        enqueue_due(j, now);
        }
        for (int i = 0; i < l->njobs; i++) {
                job_t *j = &l->jobs[i];
                int can = l->running < (l->o->max_parallel > 0
                                                ? l->o->max_parallel
                                                : 4);
                if (!j->running && j->nq > 0 && j->q[0].not_before <= now &&
                    can && !stopping(l))
                        start(l, j);
                if (!j->running && j->nq > 0 && j->q[0].not_before < wake)
                        wake = j->q[0].not_before;
                km_civil_t next;
                if (km_sched_next(&j->sync->schedule, &j->cursor, &next) == 0) {
                        int64_t due = to_utc(j->sync, &next);
                        if (due < wake)
                                wake = due;
                }
        }
        return wake;
}

/* Waits until `wake`, a finished instance, or a stop request. */
static void wait_for(loop_t *l, int64_t wake)
{
        pthread_mutex_lock(&l->lock);
        int any_finished = 0;
        for (int i = 0; i < l->njobs; i++)
                any_finished |= l->jobs[i].running && l->jobs[i].finished;
        /* The test clock stands still while instances run, then jumps. */
        if (l->fake && !any_finished && l->running == 0) {
                l->fake_now = wake > l->fake_now ? wake : l->fake_now;
        } else if (!any_finished && (l->fake || wake > now_utc(l))) {
                /* A short wait, so a stop request is seen promptly. */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 200 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&l->changed, &l->lock, &ts);
        }
        pthread_mutex_unlock(&l->lock);
}

/* After a stop request: running instances get the grace period, then are
 * cancelled; they fail cleanly, leaving their partitions as they were. */
static int64_t monotonic_ms(void)
{
        return km_monotonic_ns() / 1000000;
}

static void drain(loop_t *l)
{
        int64_t deadline = monotonic_ms() + l->o->grace_ms;
        while (l->running > 0) {
                if (monotonic_ms() >= deadline)
                        l->cancel = 1;
                pthread_mutex_lock(&l->lock);
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 100 * 1000000L; /* every 100 ms */
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&l->changed, &l->lock, &ts);
                pthread_mutex_unlock(&l->lock);
                for (int i = 0; i < l->njobs; i++)
                        if (l->jobs[i].running && l->jobs[i].finished)
                                finish(l, &l->jobs[i]);
        }
}

static int parse_fake(const char *text, int64_t *utc)
{
        km_civil_t c;
        if (!text || km_civil_parse(text, &c))
                return -1;
        *utc = km_civil_to_seconds(&c);
        return 0;
}

static void add_jobs(loop_t *l, const km_sched_file_t *files, int nfiles)
{
        for (int f = 0; f < nfiles; f++)
                for (int i = 0; i < files[f].plan->nsyncs; i++) {
                        const km_sync_plan_t *s = files[f].plan->syncs[i];
                        if (s->schedule.kind == KM_SCHED_NONE)
                                continue;
                        l->jobs = km_xrealloc(l->jobs, sizeof(job_t) *
                                                       (size_t)(l->njobs + 1));
                        job_t *j = &l->jobs[l->njobs++];
                        memset(j, 0, sizeof(*j));
                        j->file = &files[f];
                        j->sync = s;
                }
        for (int i = 0; i < l->njobs; i++)
                l->jobs[i].loop = l;
}

int km_schedule_loop(km_state_t *st, const km_sched_file_t *files, int nfiles,
                     const km_sched_options_t *opts)
{
        loop_t l = {0};
        l.st = st;
        l.o = opts;
        l.run = opts->run;
        l.run.cancel = &l.cancel;
        pthread_mutex_init(&l.lock, NULL);
        pthread_cond_init(&l.changed, NULL);
        l.fake = parse_fake(opts->fake_now, &l.fake_now) == 0;
        if (l.fake && parse_fake(opts->fake_until, &l.fake_until))
                l.fake_until = INT64_MAX;
        add_jobs(&l, files, nfiles);
        for (int i = 0; i < l.njobs; i++)
                catch_up(&l, &l.jobs[i], now_utc(&l));
        while (!stopping(&l)) {
                int64_t wake = step(&l);
                if (l.fake && l.running == 0 && wake > l.fake_until)
                        break;
                wait_for(&l, wake);
        }
        drain(&l);
        for (int i = 0; i < l.njobs; i++)
                free(l.jobs[i].q);
        free(l.jobs);
        pthread_mutex_destroy(&l.lock);
        pthread_cond_destroy(&l.changed);
        return 0;
}
