/* target.h - where rows go: one partition of one table, replaced whole.
 *
 * A target is opened for one instance, takes rows, and then either commits
 * (the partition now holds exactly these rows, atomically) or aborts (the
 * partition is as it was).  The local warehouse and MaxCompute's Tunnel
 * implement the same operations. */
#ifndef KMSYNC_TARGET_H
#define KMSYNC_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "kmsync/plan.h"
#include "kmsync/record.h"

/* What one Kafka partition contributed to a run. */
typedef struct km_partition_range {
        int32_t partition;
        int64_t start_offset; /* first offset read */
        int64_t end_offset;   /* one past the last offset read */
        int64_t rows;         /* rows written from it */
        int64_t rejected;     /* dirty records in it */
        int64_t out_of_window; /* read, but timestamp outside the window */
} km_partition_range_t;

/* What a commit records beside the rows (the local warehouse's _SUCCESS
 * manifest). */
typedef struct km_commit_info {
        const km_instance_t *instance;
        const km_partition_range_t *ranges;
        int nranges;
        int64_t rows;
        int64_t rejected;
        const char *plan_hash;
        int64_t finished_ms; /* epoch ms */
} km_commit_info_t;

typedef struct km_target km_target_t;

typedef struct km_target_ops {
        const char *name; /* "local", "maxcompute" */
        /* Prepares the instance's partition; nothing is visible yet. */
        int (*open)(km_target_t *t, const km_instance_t *inst, char *err,
                    size_t errlen);
        /* Takes one row of the SYNC's columns. */
        int (*write)(km_target_t *t, const km_cell_t *row, char *err,
                     size_t errlen);
        /* Makes exactly the rows written the partition's contents. */
        int (*commit)(km_target_t *t, const km_commit_info_t *info, char *err,
                      size_t errlen);
        /* Drops what was written; the partition stays as it was. */
        void (*abort)(km_target_t *t);
        void (*destroy)(km_target_t *t);
} km_target_ops_t;

struct km_target {
        const km_target_ops_t *ops;
        void *impl;
        char warning[512]; /* set by a target that had to deviate, e.g. a
                            * service that refused overwrite */
        int permanent;     /* the last error cannot be fixed by retrying */
};

/* The local warehouse: DIR/<project>/<table>/<k1>=<v1>[/<k2>=<v2>...]/
 * holding part-*.jsonl (one JSON object per row, every column, NULL as
 * null) and a _SUCCESS manifest.  A commit replaces the partition
 * directory atomically (built beside it, swapped in with one rename). */
km_target_t *km_target_local_new(const char *dir, const km_sync_plan_t *sync,
                                 char *err, size_t errlen);

/* MaxCompute through the Tunnel: open() adds the partition if missing
 * (SQL), opens an overwrite upload session and checks the table's schema
 * against the SYNC's columns; rows stream into deflated blocks uploaded in
 * parallel; commit() commits exactly the blocks written.  NULL with a
 * message when the connection cannot be set up (a missing ENV variable). */
km_target_t *km_target_maxcompute_new(const km_sync_plan_t *sync, char *err,
                                      size_t errlen);

/* Runs CREATE TABLE IF NOT EXISTS for the SYNC's target through a SQL
 * instance.  -1 with the service's error verbatim. */
int km_maxcompute_apply_ddl(const km_sync_plan_t *sync, const char *sql,
                            char *err, size_t errlen);

static inline void km_target_free(km_target_t *t)
{
        if (t)
                t->ops->destroy(t);
}

#endif
