/* map_batch.c - batches of records and the thread that maps them
 * (map_batch.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_setname_np */
#endif
#include "map_batch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct km_map_worker {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t changed;
        km_mapper_t *mapper;
        int ncolumns;
        km_map_batch_t *job; /* posted, not yet all mapped */
        uint64_t posted;     /* batches posted so far */
        int quit;
};

/* ------------------------------------------------------------ batches */

km_map_batch_t *km_map_batch_new(int ncolumns)
{
        km_map_batch_t *b = km_xcalloc(1, sizeof(*b));
        b->cells = km_xcalloc((size_t)KM_MAP_BATCH * (size_t)(ncolumns + 1),
                              sizeof(km_cell_t));
        return b;
}

void km_map_batch_clear(km_map_batch_t *b)
{
        for (int i = 0; i < b->nmsgs; i++)
                rd_kafka_message_destroy(b->msgs[i]);
        b->nmsgs = 0;
        b->nrecs = 0;
        b->nheaders = 0;
        for (int i = 0; i < KM_MAP_CHUNKS; i++)
                b->arena[i].bytes_len = b->arena[i].reasons_len = 0;
        b->map_ns = 0;
}

void km_map_batch_free(km_map_batch_t *b)
{
        if (!b)
                return;
        km_map_batch_clear(b);
        free(b->headers);
        free(b->cells);
        for (int i = 0; i < KM_MAP_CHUNKS; i++) {
                free(b->arena[i].bytes);
                free(b->arena[i].reasons);
        }
        free(b);
}

void km_map_batch_add(km_map_batch_t *b, const km_record_t *r, int part)
{
        int i = b->nrecs++;
        b->recs[i] = *r;
        b->part[i] = part;
        b->header_at[i] = b->nheaders;
        if (b->nheaders + r->nheaders > b->header_cap) {
                b->header_cap = (b->nheaders + r->nheaders) * 2 + 16;
                b->headers = km_xrealloc(b->headers, b->header_cap *
                                                             sizeof(km_header_t));
        }
        if (r->nheaders)
                memcpy(b->headers + b->nheaders, r->headers,
                       r->nheaders * sizeof(km_header_t));
        b->nheaders += r->nheaders;
}

/* The records' headers point into b->headers, which may have moved while
 * records were added: pointed once the batch is complete. */
static void point_headers(km_map_batch_t *b)
{
        for (int i = 0; i < b->nrecs; i++)
                b->recs[i].headers =
                        b->recs[i].nheaders ? b->headers + b->header_at[i]
                                            : NULL;
}

/* Copies the strings of a row's cells (the mapper's bytes are only valid
 * until its next call) into the chunk's arena; the cells keep offsets
 * until point_strings(). */
static void keep_strings(km_map_arena_t *a, km_cell_t *row, int ncolumns)
{
        for (int j = 0; j < ncolumns; j++) {
                km_cell_t *c = &row[j];
                if ((c->kind != KM_CELL_STRING && c->kind != KM_CELL_DECIMAL) ||
                    !c->s)
                        continue;
                if (a->bytes_len + c->len + 1 > a->bytes_cap) {
                        size_t cap = a->bytes_cap ? a->bytes_cap : 16384;
                        while (cap < a->bytes_len + c->len + 1)
                                cap *= 2;
                        a->bytes = km_xrealloc(a->bytes, cap);
                        a->bytes_cap = cap;
                }
                memcpy(a->bytes + a->bytes_len, c->s, c->len);
                c->s = (const char *)(uintptr_t)(a->bytes_len + 1);
                a->bytes_len += c->len;
        }
}

/* Offsets (plus one, so that 0 stays NULL) back to pointers. */
static void point_strings(km_map_batch_t *b, const km_map_arena_t *a,
                          int from, int to, int ncolumns)
{
        for (int i = from; i < to; i++) {
                if (b->dirty[i])
                        continue;
                km_cell_t *row = b->cells + (size_t)i * (size_t)ncolumns;
                for (int j = 0; j < ncolumns; j++)
                        if ((row[j].kind == KM_CELL_STRING ||
                             row[j].kind == KM_CELL_DECIMAL) &&
                            row[j].s)
                                row[j].s = a->bytes +
                                           ((uintptr_t)row[j].s - 1);
        }
}

/* Keeps the reason record i is dirty. */
static void keep_reason(km_map_batch_t *b, km_map_arena_t *a, int i,
                        const char *reason)
{
        size_t n = strlen(reason) + 1;
        if (a->reasons_len + n > a->reasons_cap) {
                a->reasons_cap = (a->reasons_len + n) * 2;
                a->reasons = km_xrealloc(a->reasons, a->reasons_cap);
        }
        memcpy(a->reasons + a->reasons_len, reason, n);
        b->reason_at[i] = a->reasons_len;
        a->reasons_len += n;
}

static void map_chunk(km_mapper_t *m, km_map_batch_t *b, int chunk,
                      int ncolumns)
{
        char reason[KM_MAP_REASON];
        km_map_arena_t *a = &b->arena[chunk];
        int from = chunk * KM_MAP_CHUNK;
        int to = from + KM_MAP_CHUNK < b->nrecs ? from + KM_MAP_CHUNK
                                                : b->nrecs;
        for (int i = from; i < to; i++) {
                km_cell_t *row = b->cells + (size_t)i * (size_t)ncolumns;
                b->dirty[i] = km_mapper_map(m, &b->recs[i], row, reason,
                                            sizeof(reason)) != 0;
                if (b->dirty[i])
                        keep_reason(b, a, i, reason);
                else
                        keep_strings(a, row, ncolumns);
        }
        point_strings(b, a, from, to, ncolumns);
}

/* Takes chunks of b and maps them until none is left; the thread that
 * maps the last one clears the worker's job.  Returns with w->lock held. */
static void map_chunks(km_map_worker_t *w, km_map_batch_t *b,
                       km_mapper_t *m)
{
        for (;;) {
                int chunk = __atomic_fetch_add(&b->next_chunk, 1,
                                               __ATOMIC_ACQ_REL);
                if (chunk >= b->nchunks)
                        break;
                int64_t t0 = km_monotonic_ns();
                map_chunk(m, b, chunk, w->ncolumns);
                __atomic_fetch_add(&b->map_ns, km_monotonic_ns() - t0,
                                   __ATOMIC_RELAXED);
                if (__atomic_add_fetch(&b->chunks_done, 1, __ATOMIC_ACQ_REL) ==
                    b->nchunks) {
                        pthread_mutex_lock(&w->lock);
                        w->job = NULL;
                        pthread_cond_broadcast(&w->changed);
                        return;
                }
        }
        pthread_mutex_lock(&w->lock);
}

/* ------------------------------------------------------------ the worker */

static void *worker_main(void *arg)
{
        km_map_worker_t *w = arg;
        uint64_t seen = 0;
        pthread_mutex_lock(&w->lock);
        for (;;) {
                while ((!w->job || w->posted == seen) && !w->quit)
                        pthread_cond_wait(&w->changed, &w->lock);
                if (!w->job || w->posted == seen)
                        break;
                seen = w->posted;
                km_map_batch_t *b = w->job;
                pthread_mutex_unlock(&w->lock);
                map_chunks(w, b, w->mapper);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

km_map_worker_t *km_map_worker_start(km_mapper_t *mapper, int ncolumns)
{
        km_map_worker_t *w = km_xcalloc(1, sizeof(*w));
        w->mapper = mapper;
        w->ncolumns = ncolumns;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->changed, NULL);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
                w->quit = -1; /* no thread: the caller maps every chunk */
        else
                pthread_setname_np(w->thread, "kmsync:map");
        return w;
}

void km_map_worker_post(km_map_worker_t *w, km_map_batch_t *b)
{
        point_headers(b);
        b->next_chunk = 0;
        b->chunks_done = 0;
        b->map_ns = 0;
        b->nchunks = (b->nrecs + KM_MAP_CHUNK - 1) / KM_MAP_CHUNK;
        if (b->nchunks == 0)
                return;
        pthread_mutex_lock(&w->lock);
        w->job = b;
        w->posted++;
        pthread_cond_broadcast(&w->changed);
        pthread_mutex_unlock(&w->lock);
}

void km_map_worker_help(km_map_worker_t *w, km_mapper_t *mapper)
{
        pthread_mutex_lock(&w->lock);
        km_map_batch_t *b = w->job;
        pthread_mutex_unlock(&w->lock);
        if (!b)
                return;
        map_chunks(w, b, mapper);
        pthread_mutex_unlock(&w->lock);
}

void km_map_worker_wait(km_map_worker_t *w)
{
        pthread_mutex_lock(&w->lock);
        while (w->job)
                pthread_cond_wait(&w->changed, &w->lock);
        pthread_mutex_unlock(&w->lock);
}

void km_map_worker_stop(km_map_worker_t *w)
{
        if (!w)
                return;
        if (w->quit >= 0) {
                km_map_worker_wait(w);
                pthread_mutex_lock(&w->lock);
                w->quit = 1;
                pthread_cond_broadcast(&w->changed);
                pthread_mutex_unlock(&w->lock);
                pthread_join(w->thread, NULL);
        }
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->changed);
        free(w);
}
