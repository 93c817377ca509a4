/* record.h - what flows through the runtime: Kafka records in, rows of
 * typed cells out.
 *
 * A record borrows its bytes from the Kafka client (or a fixture); a row's
 * cells borrow theirs from the mapper that made them.  Neither owns
 * anything, so the hot path allocates nothing per record. */
#ifndef KMSYNC_RECORD_H
#define KMSYNC_RECORD_H

#include <stddef.h>
#include <stdint.h>

typedef struct km_header {
        const char *name;
        size_t name_len;
        const void *value; /* NULL: a header with a null value */
        size_t value_len;
} km_header_t;

typedef struct km_record {
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t timestamp_ms;
        const void *key; /* NULL: null key */
        size_t key_len;
        const void *value; /* NULL: null value (a tombstone) */
        size_t value_len;
        const km_header_t *headers;
        size_t nheaders;
} km_record_t;

/* A cell holds a value of its column's type, or NULL. */
typedef enum km_cell_kind {
        KM_CELL_NULL = 0,
        KM_CELL_BIGINT,   /* i */
        KM_CELL_DOUBLE,   /* d */
        KM_CELL_BOOLEAN,  /* i: 0 or 1 */
        KM_CELL_STRING,   /* s: bytes, UTF-8 when ENCODING is a text one */
        KM_CELL_DATETIME, /* i: epoch milliseconds */
        KM_CELL_DECIMAL,  /* s: canonical decimal text, e.g. "-12.50" */
} km_cell_kind_t;

typedef struct km_cell {
        km_cell_kind_t kind;
        int64_t i;
        double d;
        const char *s;
        size_t len;
} km_cell_t;

#endif
