/* window.c - the offsets of a window in one partition: trust the broker's
 * time index where its answer is credible, otherwise find them while
 * reading.  Pure logic, see window.h. */
#include "kmsync/window.h"

/* An answer is credible when it is an offset inside the partition, or a -1
 * that the partition's last record does not contradict. */
static int credible(km_ts_answer_t a, int64_t low, int64_t high,
                    int64_t last_ts, int64_t target_ms)
{
        if (!a.valid)
                return 0;
        if (a.offset >= 0)
                return a.offset >= low && a.offset <= high;
        return last_ts >= 0 && last_ts < target_ms;
}

static int64_t answer_offset(km_ts_answer_t a, int64_t high)
{
        return a.offset >= 0 ? a.offset : high;
}

void km_window_part_init(km_window_part_t *p, const km_window_t *w,
                         int32_t partition, int64_t low, int64_t high,
                         km_ts_answer_t start_answer, km_ts_answer_t end_answer,
                         int64_t last_ts, int scan_only)
{
        *p = (km_window_part_t){partition, low, high, low, -1, -1,
                                KM_PHASE_SEEK, 0, 0, -1};
        if (w->end_mode == KM_WINDOW_END_AT_HIGH && low >= high) {
                p->start = p->end = high; /* empty partition */
                p->phase = KM_PHASE_DONE;
                return;
        }
        if (scan_only)
                return;
        if (credible(start_answer, low, high, last_ts, w->start_ms)) {
                p->start = answer_offset(start_answer, high);
                p->read_from = p->start;
                p->phase = KM_PHASE_WRITE;
        }
        if (w->end_mode == KM_WINDOW_END_AT_HIGH &&
            credible(end_answer, low, high, last_ts, w->end_ms))
                p->end = answer_offset(end_answer, high);
        if (p->start >= 0 && p->end >= 0 && p->end <= p->start) {
                p->end = p->start;
                p->phase = KM_PHASE_DONE;
        }
}

km_step_t km_window_step(km_window_part_t *p, const km_window_t *w,
                         int64_t offset, int64_t ts)
{
        km_step_t step = KM_STEP_SKIP;
        p->last_offset = offset;
        if (p->phase == KM_PHASE_DONE)
                return KM_STEP_STOP;
        if (w->end_mode == KM_WINDOW_END_AT_HIGH && offset >= p->high) {
                km_window_finish(p, p->high);
                return KM_STEP_STOP;
        }
        if (p->phase == KM_PHASE_SEEK && ts >= w->start_ms) {
                p->start = offset;
                p->phase = KM_PHASE_WRITE;
        }
        if (p->phase == KM_PHASE_WRITE) {
                int at_end = p->end >= 0 ? offset >= p->end
                                         : ts >= w->end_ms;
                if (at_end) {
                        if (p->end < 0)
                                p->end = offset;
                        p->phase = KM_PHASE_DONE;
                        return KM_STEP_STOP;
                }
                step = KM_STEP_WRITE;
                p->rows++;
                p->out_of_window += ts < w->start_ms || ts >= w->end_ms;
        }
        if (w->end_mode == KM_WINDOW_END_AT_HIGH && offset + 1 >= p->high)
                km_window_finish(p, p->high);
        return step;
}

void km_window_finish(km_window_part_t *p, int64_t next_offset)
{
        if (p->phase == KM_PHASE_DONE)
                return;
        if (p->start < 0)
                p->start = next_offset;
        if (p->end < 0 || p->end > next_offset)
                p->end = next_offset;
        if (p->end < p->start)
                p->end = p->start;
        p->phase = KM_PHASE_DONE;
}

int km_window_lost_to_retention(const km_window_part_t *p,
                                const km_window_t *w, int64_t first_ts)
{
        if (p->low <= 0 || p->low >= p->high)
                return 0;
        /* The start was found in the retained log but after its first
         * record: the window began later than anything deleted. */
        if (p->start > p->low)
                return 0;
        return first_ts >= w->start_ms;
}
