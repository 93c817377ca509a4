/* backfill.c - `kmsync backfill`: every scheduled instance in a range, up
 * to N at once, never two writing one partition at once, then a summary.
 * Interrupted and restarted with --skip-succeeded, it goes on where it
 * stopped. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "scheduler.h"
#include "util.h"

typedef struct item {
        const km_sync_plan_t *sync;
        km_civil_t at;
        char *partition;  /* sync name + spec: the lock's identity */
        int state;        /* 0 to do, 1 running, 2 done */
        km_run_status_t result;
        int64_t rows;
        double seconds;
        char error[1024];
        int skipped;
} item_t;

typedef struct pool {
        km_state_t *st;
        const km_sched_file_t *file;
        const km_backfill_options_t *o;
        item_t *items;
        int n;
        pthread_mutex_t lock;
        pthread_cond_t changed;
} pool_t;

static int cmp_items(const void *a, const void *b)
{
        const item_t *x = a, *y = b;
        int c = km_civil_cmp(&x->at, &y->at);
        return c ? c : strcmp(x->sync->name, y->sync->name);
}

static int collect(pool_t *p, const km_sync_plan_t **syncs, int nsyncs,
                   const km_civil_t *from, const km_civil_t *to)
{
        for (int i = 0; i < nsyncs; i++) {
                km_civil_t t, next;
                km_civil_from_seconds(km_civil_to_seconds(from) - 1, &t);
                while (km_sched_next(&syncs[i]->schedule, &t, &next) == 0 &&
                       km_civil_cmp(&next, to) <= 0) {
                        km_instance_t in;
                        char err[512];
                        t = next;
                        if (km_instance_make(syncs[i], &next, &in, err,
                                             sizeof(err)))
                                continue;
                        p->items = km_xrealloc(p->items, sizeof(item_t) *
                                                         (size_t)(p->n + 1));
                        item_t *it = &p->items[p->n++];
                        memset(it, 0, sizeof(*it));
                        it->sync = syncs[i];
                        it->at = next;
                        it->partition = km_xasprintf("%s@%s", syncs[i]->name,
                                                     in.partition_spec);
                        km_instance_clear(&in);
                }
        }
        qsort(p->items, (size_t)p->n, sizeof(item_t), cmp_items);
        return p->n;
}

static int already_succeeded(pool_t *p, const item_t *it)
{
        km_inst_row_t row;
        char when[20], err[256];
        km_civil_format(&it->at, when);
        if (!p->st || km_state_get(p->st, it->sync->name, when, &row, err,
                                   sizeof(err)))
                return 0;
        int ok = row.status == KM_INST_SUCCEEDED;
        km_inst_row_clear(&row);
        return ok;
}

/* The first instance to do whose partition nobody is writing; NULL when
 * none can start now.  Called with the lock held. */
static item_t *take(pool_t *p, int *all_done)
{
        *all_done = 1;
        for (int i = 0; i < p->n; i++) {
                item_t *it = &p->items[i];
                if (it->state != 2)
                        *all_done = 0;
                if (it->state != 0)
                        continue;
                int busy = 0;
                for (int k = 0; k < p->n && !busy; k++)
                        busy = p->items[k].state == 1 &&
                               strcmp(p->items[k].partition, it->partition) == 0;
                if (!busy)
                        return it;
        }
        return NULL;
}

static void run_item(pool_t *p, item_t *it)
{
        km_run_report_t rep;
        km_attempt_t a = {p->file->plan, it->sync, p->file->path, it->at,
                          &p->o->run};
        it->result = km_attempt_run(p->st, &a, &rep);
        it->rows = rep.rows_written;
        it->seconds = rep.seconds;
        snprintf(it->error, sizeof(it->error), "%s", rep.error);
        km_run_report_clear(&rep);
}

static void *worker(void *arg)
{
        pool_t *p = arg;
        pthread_mutex_lock(&p->lock);
        for (;;) {
                int all_done;
                item_t *it = take(p, &all_done);
                if (all_done)
                        break;
                if (!it) {
                        pthread_cond_wait(&p->changed, &p->lock);
                        continue;
                }
                it->state = 1;
                pthread_mutex_unlock(&p->lock);
                if (p->o->skip_succeeded && already_succeeded(p, it))
                        it->skipped = 1;
                else
                        run_item(p, it);
                pthread_mutex_lock(&p->lock);
                it->state = 2;
                pthread_cond_broadcast(&p->changed);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static int summary(const pool_t *p, FILE *out)
{
        int worst = 0, ok = 0, failed = 0, skipped = 0;
        fprintf(out, "%-19s  %-16s  %-24s  %-9s  %8s  %7s  %s\n", "scheduled",
                "sync", "partition", "status", "rows", "seconds", "error");
        for (int i = 0; i < p->n; i++) {
                const item_t *it = &p->items[i];
                char at[20];
                const char *status = it->skipped ? "skipped"
                                     : it->result == KM_RUN_OK ? "succeeded"
                                                               : "failed";
                km_civil_format(&it->at, at);
                fprintf(out, "%-19s  %-16s  %-24s  %-9s  %8lld  %7.1f  %s\n",
                        at, it->sync->name,
                        strchr(it->partition, '@') + 1, status,
                        (long long)it->rows, it->seconds, it->error);
                if (it->skipped)
                        skipped++;
                else if (it->result == KM_RUN_OK)
                        ok++;
                else
                        failed++;
                if (!it->skipped && (int)it->result > worst)
                        worst = (int)it->result;
        }
        fprintf(out, "%d succeeded, %d failed, %d skipped\n", ok, failed,
                skipped);
        return worst;
}

int km_backfill(km_state_t *st, const km_sched_file_t *file,
                const km_sync_plan_t **syncs, int nsyncs,
                const km_civil_t *from, const km_civil_t *to,
                const km_backfill_options_t *opts)
{
        pool_t p = {st, file, opts, NULL, 0, PTHREAD_MUTEX_INITIALIZER,
                    PTHREAD_COND_INITIALIZER};
        collect(&p, syncs, nsyncs, from, to);
        int nthreads = opts->parallel > 0 ? opts->parallel : 1;
        pthread_t *threads = km_xcalloc((size_t)nthreads, sizeof(pthread_t));
        for (int i = 0; i < nthreads; i++)
                if (pthread_create(&threads[i], NULL, worker, &p) != 0)
                        threads[i] = 0;
        for (int i = 0; i < nthreads; i++)
                if (threads[i])
                        pthread_join(threads[i], NULL);
        int rc = summary(&p, opts->log ? opts->log : stderr);
        for (int i = 0; i < p.n; i++)
                free(p.items[i].partition);
        free(p.items);
        free(threads);
        return rc;
}
