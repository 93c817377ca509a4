/* map_batch.h - records mapped a batch at a time, on two threads.
 *
 * The reading loop (run.c) takes a batch of messages, keeps the records
 * of the window in a km_map_batch_t, and posts it to the map worker; while
 * the worker maps that batch, the loop writes the rows of the one before,
 * then helps map what is left of it.  The two take chunks of 256 records
 * in turn, each with its own mapper, so JSON parsing, which costs as much
 * as all the rest, is shared by both cores.  Rows keep their order:
 * batches are written in the order they were read, and records in a batch
 * in their order.  Private to runtime/. */
#ifndef KMSYNC_MAP_BATCH_H
#define KMSYNC_MAP_BATCH_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "kmsync/mapper.h"
#include "kmsync/record.h"

/* 2048 records a batch: a hand-over between the threads costs tens of
 * microseconds on a loaded machine, so it must carry enough work. */
enum {
        KM_MAP_BATCH = 2048,
        KM_MAP_CHUNK = 256, /* records mapped by one thread at a time */
        KM_MAP_CHUNKS = KM_MAP_BATCH / KM_MAP_CHUNK,
        KM_MAP_REASON = 512,
};

/* What one chunk's mapping keeps: the bytes of its cells' strings (the
 * mapper's are only valid until its next call) and the reasons its dirty
 * records are dirty. */
typedef struct km_map_arena {
        char *bytes;
        size_t bytes_len, bytes_cap;
        char *reasons;
        size_t reasons_len, reasons_cap;
} km_map_arena_t;

typedef struct km_map_batch {
        /* The messages taken, destroyed once their rows are written. */
        rd_kafka_message_t *msgs[KM_MAP_BATCH];
        int nmsgs;
        /* The records to write, borrowing the messages' bytes, and the
         * index of each one's Kafka partition in the run's table. */
        km_record_t recs[KM_MAP_BATCH];
        int part[KM_MAP_BATCH];
        int nrecs;
        /* Headers of the records (when __headers__ is mapped). */
        km_header_t *headers;
        size_t nheaders, header_cap;
        size_t header_at[KM_MAP_BATCH];
        /* What mapping made: ncolumns cells per record, or the reason a
         * record is dirty (reason_at: in its chunk's arena). */
        km_cell_t *cells;
        int dirty[KM_MAP_BATCH];
        size_t reason_at[KM_MAP_BATCH];
        km_map_arena_t arena[KM_MAP_CHUNKS];
        /* Chunks taken and chunks mapped, shared by the two threads. */
        int next_chunk, chunks_done, nchunks;
        int64_t map_ns; /* time both threads spent mapping it */
} km_map_batch_t;

km_map_batch_t *km_map_batch_new(int ncolumns);
void km_map_batch_free(km_map_batch_t *b);

/* Adds a record (its headers copied) to be mapped. */
void km_map_batch_add(km_map_batch_t *b, const km_record_t *r, int part);

/* Destroys the messages and forgets the records. */
void km_map_batch_clear(km_map_batch_t *b);

/* Why record i is dirty. */
static inline const char *km_map_batch_reason(const km_map_batch_t *b, int i)
{
        return b->arena[i / KM_MAP_CHUNK].reasons + b->reason_at[i];
}

/* The cells of record i. */
static inline const km_cell_t *km_map_batch_row(const km_map_batch_t *b,
                                                int ncolumns, int i)
{
        return b->cells + (size_t)i * (size_t)ncolumns;
}

typedef struct km_map_worker km_map_worker_t;

/* A thread that maps the chunks of the batches posted to it with
 * `mapper` (used by that thread alone from now on). */
km_map_worker_t *km_map_worker_start(km_mapper_t *mapper, int ncolumns);

/* Hands b to the worker; at most one batch is posted at a time. */
void km_map_worker_post(km_map_worker_t *w, km_map_batch_t *b);

/* Maps chunks of the posted batch on the calling thread, with its own
 * mapper, until none is left to take. */
void km_map_worker_help(km_map_worker_t *w, km_mapper_t *mapper);

/* Waits until the posted batch, if any, is mapped. */
void km_map_worker_wait(km_map_worker_t *w);

/* Waits for the posted batch and ends the thread. */
void km_map_worker_stop(km_map_worker_t *w);

#endif
