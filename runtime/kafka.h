/* kafka.h - the Kafka side of a run, over librdkafka: one consumer handle
 * that assigns partitions directly (no group rebalancing), asks for
 * watermarks and timestamp offsets, reads, and commits the end offsets to
 * the SYNC's GROUP.  Private to runtime/. */
#ifndef KMSYNC_KAFKA_H
#define KMSYNC_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "kmsync/plan.h"
#include "kmsync/window.h"

typedef struct km_kafka km_kafka_t;

/* A consumer for `conn` (its OPTIONS, with ENV() values read now) at
 * `brokers` (the connection's own when NULL), in consumer group `group`.
 * NULL with a message naming the problem (never a secret's value). */
km_kafka_t *km_kafka_open(const km_kafka_conn_t *conn, const char *brokers,
                          const char *group, char *err, size_t errlen);
void km_kafka_close(km_kafka_t *k);

/* The partitions of topic, sorted.  -1 with a message when the topic does
 * not exist or the cluster does not answer within the timeout. */
int km_kafka_partitions(km_kafka_t *k, const char *topic, int32_t **parts,
                        int *n, char *err, size_t errlen);

int km_kafka_watermarks(km_kafka_t *k, const char *topic, int32_t partition,
                        int64_t *low, int64_t *high, char *err,
                        size_t errlen);

/* The watermarks of all listed partitions in two batched requests (the
 * earliest and the latest offset of each), falling back to one request per
 * partition where a batched answer is missing. */
int km_kafka_watermarks_all(km_kafka_t *k, const char *topic,
                            const int32_t *parts, int n, int64_t *low,
                            int64_t *high, char *err, size_t errlen);

/* The broker's answer for timestamp ts in each partition. */
void km_kafka_offsets_for_times(km_kafka_t *k, const char *topic,
                                const int32_t *parts, int n, int64_t ts,
                                km_ts_answer_t *answers);

/* Timestamps of the records at offsets[i] of parts[i] (the last records,
 * high - 1), read in one pass over all of them; -1 where a record could not
 * be read. */
void km_kafka_timestamps_at(km_kafka_t *k, const char *topic,
                            const int32_t *parts, const int64_t *offsets,
                            int n, int64_t *ts);

/* Starts reading each listed partition at its offset. */
int km_kafka_assign(km_kafka_t *k, const char *topic, const int32_t *parts,
                    const int64_t *offsets, int n, char *err, size_t errlen);
/* Stops fetching one partition (its window is complete). */
void km_kafka_pause(km_kafka_t *k, const char *topic, int32_t partition);

/* Takes up to max messages or events that are queued now into msgs; when
 * none is, waits up to timeout_ms for one.  Returns how many. */
int km_kafka_take(km_kafka_t *k, rd_kafka_message_t **msgs, int max,
                  int timeout_ms);

/* 1 when the consumer queue held 90% or more of either of its bounds
 * (messages, or bytes estimated from the average value size) before
 * `taken` messages were taken from it: librdkafka may have stopped
 * fetching, and would only look again at its next 1 s wake-up unless
 * km_kafka_wake_fetcher() is called once the queue is drained. */
int km_kafka_queue_was_full(km_kafka_t *k, int taken, double avg_value_bytes);

/* Wakes the broker thread of each leader of the listed partitions with a
 * seek of one of its partitions: a complete one (done[i], paused) to any
 * offset, else an incomplete one to next[i], the offset the run reads next
 * from it.  Call it only when no message is queued: a seek drops what was
 * fetched for that partition before it (it is fetched again, from
 * next[i]).  Returns how many partitions were sought. */
int km_kafka_wake_fetcher(km_kafka_t *k, const char *topic,
                          const int32_t *parts, const int64_t *next,
                          const int *done, int n);

/* Commits offsets (the next offset to read, per partition) to the group. */
int km_kafka_commit(km_kafka_t *k, const char *topic, const int32_t *parts,
                    const int64_t *offsets, int n, char *err, size_t errlen);

#endif
