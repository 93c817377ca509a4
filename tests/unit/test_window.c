/* test_window.c - window -> offsets, both ways (broker answers trusted, or
 * found while reading), on out-of-order timestamps, empty partitions,
 * windows before and after all data, and records exactly on the bounds. */
#include "km_test.h"

#include "kmsync/window.h"

static const km_window_t win = {1000, 2000, KM_WINDOW_END_AT_HIGH};
static const km_ts_answer_t none = {0, 0};

/* Reads a whole partition of timestamps ts[0..n) through the state
 * machine, from p->read_from; returns the bitmap of written offsets. */
static unsigned read_all(km_window_part_t *p, const km_window_t *w,
                         const int64_t *ts, int n)
{
        unsigned written = 0;
        for (int64_t o = p->read_from; o < n && p->phase != KM_PHASE_DONE;
             o++) {
                km_step_t s = km_window_step(p, w, o, ts[o]);
                if (s == KM_STEP_WRITE)
                        written |= 1u << o;
                if (s == KM_STEP_STOP)
                        break;
        }
        km_window_finish(p, n);
        return written;
}

/* The offsets Kafka's definition gives, computed directly. */
static void kafka_offsets(const int64_t *ts, int n, int64_t *start,
                          int64_t *end)
{
        *start = n;
        *end = n;
        for (int i = 0; i < n; i++)
                if (ts[i] >= win.start_ms) {
                        *start = i;
                        break;
                }
        for (int i = 0; i < n; i++)
                if (ts[i] >= win.end_ms) {
                        *end = i;
                        break;
                }
        if (*end < *start)
                *end = *start;
}

static unsigned range_bits(int64_t start, int64_t end)
{
        unsigned b = 0;
        for (int64_t o = start; o < end; o++)
                b |= 1u << o;
        return b;
}

static void check_both_ways(const int64_t *ts, int n, int64_t want_start,
                            int64_t want_end)
{
        int64_t ks, ke;
        kafka_offsets(ts, n, &ks, &ke);
        assert_int_equal(ks, want_start);
        assert_int_equal(ke, want_end);
        int64_t last = n ? ts[n - 1] : -1;

        km_window_part_t scan;
        km_window_part_init(&scan, &win, 0, 0, n, none, none, last, 1);
        unsigned w1 = read_all(&scan, &win, ts, n);
        assert_int_equal(scan.start, want_start);
        assert_int_equal(scan.end, want_end);
        assert_int_equal(w1, range_bits(want_start, want_end));

        /* A broker that answers with the time index. */
        km_ts_answer_t as = {ks < n ? ks : -1, 1}, ae = {ke < n ? ke : -1, 1};
        km_window_part_t trust;
        km_window_part_init(&trust, &win, 0, 0, n, as, ae, last, 0);
        unsigned w2 = read_all(&trust, &win, ts, n);
        assert_int_equal(trust.start, want_start);
        assert_int_equal(trust.end, want_end);
        assert_int_equal(w2, w1);
        assert_int_equal(trust.rows, scan.rows);
}

static void test_in_order(void **state)
{
        (void)state;
        int64_t ts[] = {500, 999, 1000, 1500, 1999, 2000, 2500};
        check_both_ways(ts, 7, 2, 5); /* exactly start in, exactly end out */
}

static void test_out_of_order(void **state)
{
        (void)state;
        /* offset 3 is late (ts 900) but inside [start, end): written and
         * counted; offset 5 (ts 2100) ends it although 6 is 1800. */
        int64_t ts[] = {800, 1200, 950, 900, 1700, 2100, 1800};
        check_both_ways(ts, 7, 1, 5);
        km_window_part_t p;
        km_window_part_init(&p, &win, 0, 0, 7, none, none, 1800, 1);
        read_all(&p, &win, ts, 7);
        assert_int_equal(p.rows, 4);
        assert_int_equal(p.out_of_window, 2);
}

static void test_all_before_and_all_after(void **state)
{
        (void)state;
        int64_t before[] = {1, 2, 3, 999};
        check_both_ways(before, 4, 4, 4);
        int64_t after[] = {2000, 2001, 5000};
        check_both_ways(after, 3, 0, 0);
}

static void test_empty_partition(void **state)
{
        (void)state;
        km_window_part_t p;
        km_window_part_init(&p, &win, 3, 7, 7, none, none, -1, 1);
        assert_int_equal(p.phase, KM_PHASE_DONE);
        assert_int_equal(p.start, 7);
        assert_int_equal(p.end, 7);
}

static void test_minus_one_is_not_trusted_blindly(void **state)
{
        (void)state;
        /* The mock answers -1 to everything; the last record is newer than
         * the window start, so -1 cannot be right: scan. */
        int64_t ts[] = {500, 1500, 2500};
        km_ts_answer_t minus = {-1, 1};
        km_window_part_t p;
        km_window_part_init(&p, &win, 0, 0, 3, minus, minus, 2500, 0);
        assert_int_equal(p.phase, KM_PHASE_SEEK);
        assert_int_equal(p.read_from, 0);
        assert_int_equal(p.end, -1);
        unsigned w = read_all(&p, &win, ts, 3);
        assert_int_equal(w, 1u << 1);
        /* A -1 that the last record agrees with is believed: nothing at or
         * after the window start, so nothing to read. */
        int64_t old[] = {100, 200};
        km_window_part_init(&p, &win, 0, 0, 2, minus, minus, 200, 0);
        assert_int_equal(p.start, 2);
        assert_int_equal(p.end, 2);
        assert_int_equal(p.phase, KM_PHASE_DONE);
        (void)old;
}

static void test_answer_outside_partition_is_ignored(void **state)
{
        (void)state;
        km_ts_answer_t bogus = {99, 1};
        km_window_part_t p;
        km_window_part_init(&p, &win, 0, 0, 5, bogus, bogus, 3000, 0);
        assert_int_equal(p.phase, KM_PHASE_SEEK);
        assert_int_equal(p.end, -1);
}

static void test_idle_mode_has_no_high_bound(void **state)
{
        (void)state;
        km_window_t idle = {1000, 2000, KM_WINDOW_END_IDLE};
        km_window_part_t p;
        km_window_part_init(&p, &idle, 0, 0, 2, none, none, -1, 1);
        assert_int_equal(km_window_step(&p, &idle, 0, 1200), KM_STEP_WRITE);
        assert_int_equal(km_window_step(&p, &idle, 1, 1300), KM_STEP_WRITE);
        /* Offsets past the high watermark seen at start keep coming. */
        assert_int_equal(km_window_step(&p, &idle, 2, 1400), KM_STEP_WRITE);
        assert_int_equal(km_window_step(&p, &idle, 3, 2000), KM_STEP_STOP);
        assert_int_equal(p.end, 3);
        /* Idle before reaching the end: closed where reading stopped. */
        km_window_part_init(&p, &idle, 0, 0, 1, none, none, -1, 1);
        km_window_step(&p, &idle, 0, 1200);
        km_window_finish(&p, 1);
        assert_int_equal(p.start, 0);
        assert_int_equal(p.end, 1);
}

static void test_retention_loss_detected(void **state)
{
        (void)state;
        km_window_part_t p;
        /* Log starts at 100; its first record is inside the window: the
         * window's earlier records may have been deleted. */
        km_window_part_init(&p, &win, 0, 100, 200, none, none, 3000, 1);
        assert_true(km_window_lost_to_retention(&p, &win, 1500));
        /* First retained record older than the window start: safe. */
        assert_false(km_window_lost_to_retention(&p, &win, 900));
        /* A log that still starts at 0 lost nothing. */
        km_window_part_init(&p, &win, 0, 0, 200, none, none, 3000, 1);
        assert_false(km_window_lost_to_retention(&p, &win, 1500));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_in_order),
                cmocka_unit_test(test_out_of_order),
                cmocka_unit_test(test_all_before_and_all_after),
                cmocka_unit_test(test_empty_partition),
                cmocka_unit_test(test_minus_one_is_not_trusted_blindly),
                cmocka_unit_test(test_answer_outside_partition_is_ignored),
                cmocka_unit_test(test_idle_mode_has_no_high_bound),
                cmocka_unit_test(test_retention_loss_detected),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
