/* fixture.h - Kafka records written as JSON lines, for the embedded mock
 * cluster, tests and demos.
 *
 * One record a line: {"topic": "orders", "partition": 0, "timestamp":
 * 1669078800000, "key": "k1", "value": {...} | "text" | null, "headers":
 * [["h1", "v1"], ["h1", "v2"]]}.  key_base64 / value_base64 carry binary
 * bytes; an object or array value is stored as its compact JSON text;
 * topic defaults to the caller's.  Records of a partition get offsets
 * 0, 1, 2 ... in file order. */
#ifndef KMSYNC_FIXTURE_H
#define KMSYNC_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

typedef struct km_fixture_header {
        char *name;
        unsigned char *value; /* NULL: a null value */
        size_t value_len;
} km_fixture_header_t;

typedef struct km_fixture_record {
        char *topic;
        int32_t partition;
        int64_t timestamp_ms;
        unsigned char *key; /* NULL: null key */
        size_t key_len;
        unsigned char *value; /* NULL: null value */
        size_t value_len;
        km_fixture_header_t *headers;
        size_t nheaders;
        int line; /* 1-based line of the file */
} km_fixture_record_t;

typedef struct km_fixture {
        km_fixture_record_t *records;
        size_t count;
        int32_t max_partition; /* -1 when empty */
} km_fixture_t;

/* Reads a fixture file.  Returns 0, or -1 with errbuf naming the file, the
 * line and what is wrong with it ("orders.jsonl:12: 'partition' must be an
 * integer >= 0").  Blank lines are skipped. */
int km_fixture_load(const char *path, const char *default_topic,
                    km_fixture_t *out, char *errbuf, size_t errlen);
void km_fixture_free(km_fixture_t *f);

#endif
