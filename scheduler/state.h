/* state.h - the instance history: every instance kmsync runs, whichever
 * command ran it, in a SQLite database (WAL mode, one transaction per
 * change).  Default ./.kmsync/state.db; --state DIR or KMSYNC_STATE moves
 * it.  Also the lock that keeps two processes off one (sync, partition).
 * Private to kmsync (scheduler/ and cli/). */
#ifndef KMSYNC_STATE_H
#define KMSYNC_STATE_H

#include <stddef.h>
#include <stdint.h>

typedef struct km_state km_state_t;

typedef enum km_inst_status {
        KM_INST_WAITING,
        KM_INST_RUNNING,
        KM_INST_SUCCEEDED,
        KM_INST_FAILED,
        KM_INST_SKIPPED,
} km_inst_status_t;

const char *km_inst_status_name(km_inst_status_t s); /* "waiting", ... */

/* One attempt of one instance, as stored. */
typedef struct km_inst_row {
        int64_t id;           /* row id of the attempt */
        char *sync;
        char *file;           /* the .sync file, as given */
        char *plan_hash;
        char *scheduled_at;   /* 'YYYY-MM-DD HH:MM:SS', the SYNC's zone */
        int64_t window_start_ms, window_end_ms;
        char *partition;      /* "ds=...,hh=..." or "" */
        char *target;         /* "local:DIR", "maxcompute" */
        km_inst_status_t status;
        int attempt;          /* 1, 2, ... */
        int64_t started_ms, finished_ms; /* epoch ms, 0 when not yet */
        int64_t rows_read, rows_written, rows_rejected;
        char *ranges_json;    /* per-partition offset ranges, JSON array */
        char *error;          /* NULL when none */
        int exit_code;        /* km_run_status_t of a finished attempt */
} km_inst_row_t;

void km_inst_row_clear(km_inst_row_t *r);

/* Opens (creating) DIR/state.db, DIR created if missing.  dir NULL:
 * $KMSYNC_STATE, else ./.kmsync.  Marks attempts left `running` by a
 * process that is gone as failed with error "interrupted" (their lock is
 * free).  NULL with a message on failure. */
km_state_t *km_state_open(const char *dir, char *err, size_t errlen);
void km_state_close(km_state_t *st);
const char *km_state_path(const km_state_t *st);

/* Records the start of an attempt of (sync, scheduled_at): status running,
 * attempt = previous attempts of that instance + 1.  Takes the lock of
 * (sync, partition): -1 with a message naming the holder (pid, since when)
 * when another live process holds it.  The lock is an flock on
 * DIR/locks/<sync>@<partition>.lock plus the row; it is released by
 * km_state_finish() or by the process's death. */
int km_state_begin(km_state_t *st, const km_inst_row_t *in, int64_t *id,
                   char *err, size_t errlen);

/* Records how the attempt ended and releases its lock. */
int km_state_finish(km_state_t *st, int64_t id, km_inst_status_t status,
                    int exit_code, int64_t rows_read, int64_t rows_written,
                    int64_t rows_rejected, const char *ranges_json,
                    const char *error, char *err, size_t errlen);

/* Records an instance without running it (skipped, or waiting). */
int km_state_note(km_state_t *st, const km_inst_row_t *in, char *err,
                  size_t errlen);

/* The latest attempt of each instance of `sync` (all SYNCs when NULL) with
 * scheduled_at in [from, to] (either bound may be NULL), in scheduled
 * order.  The caller frees with km_inst_rows_free(). */
int km_state_list(km_state_t *st, const char *sync, const char *from,
                  const char *to, km_inst_row_t **rows, int *n, char *err,
                  size_t errlen);
void km_inst_rows_free(km_inst_row_t *rows, int n);

/* The latest attempt of one instance; 0 found, 1 none, -1 error. */
int km_state_get(km_state_t *st, const char *sync, const char *scheduled_at,
                 km_inst_row_t *row, char *err, size_t errlen);

#endif
