/* window.h - which records of a partition belong to a window, exactly as
 * Kafka defines it.
 *
 * start offset = the first offset (in offset order) whose timestamp is >=
 * the window start; end offset = the first offset whose timestamp is >= the
 * window end, or the high watermark when there is none.  Exactly [start,
 * end) is read, whatever each record's own timestamp (late data inside the
 * range is written and counted as out-of-window).
 *
 * Offsets come from the broker's time index (rd_kafka_offsets_for_times)
 * when its answer can be trusted, else they are found while reading: a
 * partition is read from its log start, records are skipped until the
 * first timestamp >= the window start, then written until the first
 * timestamp >= the window end.  Both ways give the same offsets.  This file
 * is pure logic; the Kafka client lives in kafka.c. */
#ifndef KMSYNC_WINDOW_H
#define KMSYNC_WINDOW_H

#include <stdint.h>

/* What the broker said for one partition and one timestamp: an offset, or
 * -1 for "no record at or after it". */
typedef struct km_ts_answer {
        int64_t offset;
        int valid; /* 0: the lookup failed or was not made */
} km_ts_answer_t;

typedef enum km_window_end_mode {
        KM_WINDOW_END_AT_HIGH, /* END AT WINDOW END: stop at the high watermark */
        KM_WINDOW_END_IDLE,    /* END WHEN IDLE: no upper bound but the window */
} km_window_end_mode_t;

typedef enum km_phase {
        KM_PHASE_SEEK,  /* looking for the start offset */
        KM_PHASE_WRITE, /* inside [start, end) */
        KM_PHASE_DONE,
} km_phase_t;

/* One partition's progress through a window. */
typedef struct km_window_part {
        int32_t partition;
        int64_t low, high;    /* watermarks when the run started */
        int64_t read_from;    /* where fetching starts */
        int64_t start;        /* -1 until known */
        int64_t end;          /* -1 until known */
        km_phase_t phase;
        int64_t rows;         /* records in [start, end) seen so far */
        int64_t out_of_window;
        int64_t last_offset;  /* last offset seen, -1 before any */
} km_window_part_t;

typedef struct km_window {
        int64_t start_ms, end_ms;
        km_window_end_mode_t end_mode;
} km_window_t;

/* Sets p up from the watermarks and the broker's answers for the window
 * start and end.  last_ts is the timestamp of the record at high - 1 (or
 * -1 when unknown or the partition is empty); scan_only says the broker's
 * time index cannot be trusted at all (librdkafka's mock answers -1 to
 * every lookup).  An answer of -1 is only believed when the last record is
 * older than the timestamp asked for. */
void km_window_part_init(km_window_part_t *p, const km_window_t *w,
                         int32_t partition, int64_t low, int64_t high,
                         km_ts_answer_t start_answer, km_ts_answer_t end_answer,
                         int64_t last_ts, int scan_only);

typedef enum km_step {
        KM_STEP_SKIP,  /* before the start offset: not written */
        KM_STEP_WRITE, /* inside the window's offset range: write it */
        KM_STEP_STOP,  /* at or past the end: not written, partition done */
} km_step_t;

/* Feeds the record at `offset` with timestamp ts (records arrive in offset
 * order).  Returns what to do with it and moves p on; after KM_STEP_WRITE
 * or KM_STEP_SKIP the partition may also be done (p->phase ==
 * KM_PHASE_DONE) because the high watermark was reached. */
km_step_t km_window_step(km_window_part_t *p, const km_window_t *w,
                         int64_t offset, int64_t ts);

/* The partition reached its end without more records (end of partition,
 * or idle for the END WHEN IDLE delay): closes [start, end). */
void km_window_finish(km_window_part_t *p, int64_t next_offset);

/* 1 when the log start is past records the window may need: the partition
 * no longer starts at offset 0, and its first retained record (timestamp
 * first_ts) is not older than the window start.  Such a run would lose
 * data silently, so it fails. */
int km_window_lost_to_retention(const km_window_part_t *p,
                                const km_window_t *w, int64_t first_ts);

#endif
