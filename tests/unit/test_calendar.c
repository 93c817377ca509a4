/* test_calendar.c - schedule calendars: due times, next/prev, text, checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "kmsync/calendar.h"

#define WD(d) (1u << (d))
#define MD(d) ((uint32_t)1 << (d))
#define HM(h, m) ((h) * 60 + (m))

static km_schedule_t minutes(int every, int from, int to)
{
        km_schedule_t s = {0};
        s.kind = KM_SCHED_MINUTES;
        s.every = every;
        s.from_min = from;
        s.to_min = to;
        return s;
}

static km_schedule_t hours(int every, int from, int to)
{
        km_schedule_t s = minutes(every, from, to);
        s.kind = KM_SCHED_HOURS;
        return s;
}

static km_schedule_t at_time(km_sched_kind_t kind, int at)
{
        km_schedule_t s = {0};
        s.kind = kind;
        s.at_min = at;
        return s;
}

static km_schedule_t weekly(unsigned days, int at)
{
        km_schedule_t s = at_time(KM_SCHED_WEEKLY, at);
        s.weekdays = days;
        return s;
}

static km_schedule_t monthly(uint32_t days, int last, int at)
{
        km_schedule_t s = at_time(KM_SCHED_MONTHLY, at);
        s.monthdays = days;
        s.last_day = last;
        return s;
}

static km_civil_t ct(const char *text)
{
        km_civil_t c;
        if (km_civil_parse(text, &c) != 0)
                fail_msg("bad time in test: %s", text);
        return c;
}

static void expect_next(const km_schedule_t *s, const char *after,
                        const char *want)
{
        km_civil_t a = ct(after), got;
        char buf[20];
        assert_int_equal(km_sched_next(s, &a, &got), 0);
        km_civil_format(&got, buf);
        if (strcmp(buf, want) != 0)
                fail_msg("next after %s: got %s, want %s", after, buf, want);
}

static void expect_prev(const km_schedule_t *s, const char *before,
                        const char *want)
{
        km_civil_t b = ct(before), got;
        char buf[20];
        assert_int_equal(km_sched_prev(s, &b, &got), 0);
        km_civil_format(&got, buf);
        if (strcmp(buf, want) != 0)
                fail_msg("prev before %s: got %s, want %s", before, buf, want);
}

static void expect_due(const km_schedule_t *s, const char *t, int due)
{
        km_civil_t c = ct(t);
        if (km_sched_is_due(s, &c) != due)
                fail_msg("is_due(%s) should be %d", t, due);
}

/* Scheduled times per day, counted with next(). */
static int count_day(const km_schedule_t *s, const char *day)
{
        km_civil_t t = ct(day), end = t, n;
        int count = km_sched_is_due(s, &t);
        end.day++;
        while (km_sched_next(s, &t, &n) == 0 && km_civil_cmp(&n, &end) < 0) {
                assert_true(km_civil_cmp(&n, &t) > 0);
                assert_true(++count <= 1440);
                t = n;
        }
        return count;
}

/* Walks minute by minute from `from` for `minutes` minutes and checks that
 * next() and prev() agree with is_due() at every step. */
static void check_against_scan(const km_schedule_t *s, const char *from,
                               int64_t span)
{
        km_civil_t t = ct(from), n, p;
        int64_t base = km_civil_to_seconds(&t), last_due = -1, next_due;
        assert_int_equal(km_sched_next(s, &t, &n), 0);
        next_due = km_civil_to_seconds(&n);
        for (int64_t i = 1; i <= span; i++) {
                km_civil_from_seconds(base + i * 60, &t);
                if (base + i * 60 == next_due) {
                        assert_true(km_sched_is_due(s, &t));
                        assert_int_equal(km_sched_prev(s, &t, &p), 0);
                        if (last_due >= 0)
                                assert_int_equal(km_civil_to_seconds(&p),
                                                 last_due);
                        last_due = next_due;
                        assert_int_equal(km_sched_next(s, &t, &n), 0);
                        next_due = km_civil_to_seconds(&n);
                } else {
                        assert_false(km_sched_is_due(s, &t));
                }
        }
}

/* ---- the seed schedules ---------------------------------------------------- */

static void test_every_5_minutes(void **state)
{
        km_schedule_t s = minutes(5, HM(0, 0), HM(23, 59));
        (void)state;
        expect_next(&s, "2022-11-21 23:55:00", "2022-11-22 00:00:00");
        expect_next(&s, "2022-11-21 23:54:59", "2022-11-21 23:55:00");
        expect_next(&s, "2022-11-22 10:03:20", "2022-11-22 10:05:00");
        expect_next(&s, "2022-11-22 10:05:00", "2022-11-22 10:10:00");
        expect_next(&s, "2022-12-31 23:57:00", "2023-01-01 00:00:00");
        expect_prev(&s, "2022-11-22 00:00:00", "2022-11-21 23:55:00");
        expect_prev(&s, "2022-11-22 10:05:01", "2022-11-22 10:05:00");
        expect_prev(&s, "2022-11-22 10:05:00", "2022-11-22 10:00:00");
        expect_prev(&s, "2023-01-01 00:00:00", "2022-12-31 23:55:00");
        expect_due(&s, "2022-11-22 10:05:00", 1);
        expect_due(&s, "2022-11-22 10:07:00", 0);
        expect_due(&s, "2022-11-22 10:05:30", 0);
        assert_int_equal(count_day(&s, "2022-11-22"), 288);
        check_against_scan(&s, "2022-11-21 22:00:00", 4 * 60);
}

static void test_minutes_window(void **state)
{
        km_schedule_t s = minutes(7, HM(9, 30), HM(10, 0));
        (void)state;
        /* 09:30 09:37 09:44 09:51 09:58, then tomorrow. */
        expect_next(&s, "2022-11-22 00:00:00", "2022-11-22 09:30:00");
        expect_next(&s, "2022-11-22 09:51:00", "2022-11-22 09:58:00");
        expect_next(&s, "2022-11-22 09:58:00", "2022-11-23 09:30:00");
        expect_prev(&s, "2022-11-22 09:30:00", "2022-11-21 09:58:00");
        expect_prev(&s, "2022-11-22 23:00:00", "2022-11-22 09:58:00");
        expect_due(&s, "2022-11-22 10:00:00", 0);
        assert_int_equal(count_day(&s, "2022-11-22"), 5);
        check_against_scan(&s, "2022-11-21 00:00:00", 3 * 1440);
}

static void test_hourly_at_minute_15(void **state)
{
        km_schedule_t s = hours(1, 15, HM(23, 59));
        (void)state;
        expect_next(&s, "2022-11-22 10:15:00", "2022-11-22 11:15:00");
        expect_next(&s, "2022-11-22 10:14:59", "2022-11-22 10:15:00");
        expect_next(&s, "2022-11-22 23:15:00", "2022-11-23 00:15:00");
        expect_prev(&s, "2022-11-23 00:15:00", "2022-11-22 23:15:00");
        expect_due(&s, "2022-11-22 07:15:00", 1);
        expect_due(&s, "2022-11-22 07:00:00", 0);
        assert_int_equal(count_day(&s, "2022-11-22"), 24);
        check_against_scan(&s, "2022-11-21 20:00:00", 2 * 1440);
}

static void test_every_2_hours(void **state)
{
        km_schedule_t s = hours(2, HM(0, 15), HM(23, 59));
        (void)state;
        expect_next(&s, "2022-11-22 01:00:00", "2022-11-22 02:15:00");
        expect_next(&s, "2022-11-22 22:15:00", "2022-11-23 00:15:00");
        expect_prev(&s, "2022-11-23 00:15:00", "2022-11-22 22:15:00");
        expect_prev(&s, "2022-11-22 03:00:00", "2022-11-22 02:15:00");
        expect_due(&s, "2022-11-22 04:15:00", 1);
        expect_due(&s, "2022-11-22 03:15:00", 0);
        assert_int_equal(count_day(&s, "2022-11-22"), 12);
        check_against_scan(&s, "2022-11-21 20:00:00", 2 * 1440);
}

/* DataWorks: 00:00-03:00 hourly is 4 instances. */
static void test_hours_bounds_inclusive(void **state)
{
        km_schedule_t s = hours(1, HM(0, 0), HM(3, 0));
        (void)state;
        assert_int_equal(count_day(&s, "2022-11-22"), 4);
        expect_next(&s, "2022-11-22 03:00:00", "2022-11-23 00:00:00");
        expect_due(&s, "2022-11-22 03:00:00", 1);
}

static void test_daily(void **state)
{
        km_schedule_t s = at_time(KM_SCHED_DAILY, HM(0, 15));
        (void)state;
        expect_next(&s, "2022-11-21 00:15:00", "2022-11-22 00:15:00");
        expect_next(&s, "2022-11-21 00:14:59", "2022-11-21 00:15:00");
        expect_next(&s, "2024-02-28 12:00:00", "2024-02-29 00:15:00");
        expect_prev(&s, "2022-11-21 00:15:00", "2022-11-20 00:15:00");
        expect_prev(&s, "2022-11-21 00:15:01", "2022-11-21 00:15:00");
        expect_prev(&s, "2023-01-01 00:00:00", "2022-12-31 00:15:00");
        expect_due(&s, "2022-11-21 00:15:00", 1);
        expect_due(&s, "2022-11-21 00:16:00", 0);
        check_against_scan(&s, "2022-11-20 00:00:00", 3 * 1440);
}

static void test_weekly(void **state)
{
        km_schedule_t mon = weekly(WD(1), HM(0, 15));
        km_schedule_t mon_thu = weekly(WD(1) | WD(4), HM(0, 15));
        (void)state;
        assert_int_equal(km_weekday(2022, 11, 21), 1);
        expect_next(&mon, "2022-11-18 09:00:00", "2022-11-21 00:15:00");
        expect_next(&mon, "2022-11-21 00:15:00", "2022-11-28 00:15:00");
        expect_prev(&mon, "2022-11-21 00:15:00", "2022-11-14 00:15:00");
        expect_prev(&mon, "2022-11-27 23:59:59", "2022-11-21 00:15:00");
        expect_due(&mon, "2022-11-21 00:15:00", 1);
        expect_due(&mon, "2022-11-22 00:15:00", 0);
        expect_next(&mon_thu, "2022-11-21 00:15:00", "2022-11-24 00:15:00");
        expect_next(&mon_thu, "2022-11-24 00:15:00", "2022-11-28 00:15:00");
        expect_prev(&mon_thu, "2022-11-28 00:00:00", "2022-11-24 00:15:00");
        check_against_scan(&mon_thu, "2022-11-20 00:00:00", 15 * 1440);
}

static void test_monthly_day_1(void **state)
{
        km_schedule_t s = monthly(MD(1), 0, HM(0, 15));
        (void)state;
        expect_next(&s, "2022-11-01 00:15:00", "2022-12-01 00:15:00");
        expect_next(&s, "2022-12-15 08:00:00", "2023-01-01 00:15:00");
        expect_prev(&s, "2023-01-01 00:15:00", "2022-12-01 00:15:00");
        expect_due(&s, "2022-12-01 00:15:00", 1);
        expect_due(&s, "2022-12-02 00:15:00", 0);
}

static void test_monthly_day_31(void **state)
{
        km_schedule_t s = monthly(MD(31), 0, HM(0, 15));
        (void)state;
        expect_next(&s, "2022-03-31 00:15:00", "2022-05-31 00:15:00");
        expect_next(&s, "2022-01-31 00:15:00", "2022-03-31 00:15:00");
        expect_next(&s, "2022-04-01 00:00:00", "2022-05-31 00:15:00");
        expect_next(&s, "2022-08-31 00:15:00", "2022-10-31 00:15:00");
        expect_prev(&s, "2022-05-31 00:15:00", "2022-03-31 00:15:00");
        expect_prev(&s, "2022-10-01 00:00:00", "2022-08-31 00:15:00");
        expect_due(&s, "2022-04-30 00:15:00", 0); /* never moved */
}

static void test_monthly_day_29_30(void **state)
{
        km_schedule_t d29 = monthly(MD(29), 0, HM(0, 15));
        km_schedule_t d30 = monthly(MD(30), 0, HM(0, 15));
        (void)state;
        expect_next(&d29, "2024-01-29 00:15:00", "2024-02-29 00:15:00");
        expect_next(&d29, "2023-01-29 00:15:00", "2023-03-29 00:15:00");
        expect_next(&d29, "2100-01-29 00:15:00", "2100-03-29 00:15:00");
        expect_next(&d29, "2000-01-29 00:15:00", "2000-02-29 00:15:00");
        expect_next(&d30, "2024-01-30 00:15:00", "2024-03-30 00:15:00");
        expect_prev(&d30, "2024-03-30 00:00:00", "2024-01-30 00:15:00");
}

static void test_monthly_last_day(void **state)
{
        km_schedule_t last = monthly(0, 1, HM(0, 15));
        km_schedule_t mix = monthly(MD(1) | MD(15), 1, HM(0, 15));
        km_schedule_t d31_last = monthly(MD(31), 1, HM(23, 0));
        (void)state;
        expect_next(&last, "2024-02-01 00:00:00", "2024-02-29 00:15:00");
        expect_next(&last, "2023-02-01 00:00:00", "2023-02-28 00:15:00");
        expect_next(&last, "1900-02-01 00:00:00", "1900-02-28 00:15:00");
        expect_next(&last, "2000-02-01 00:00:00", "2000-02-29 00:15:00");
        expect_next(&last, "2023-02-28 00:15:00", "2023-03-31 00:15:00");
        expect_next(&last, "2023-03-31 00:15:00", "2023-04-30 00:15:00");
        expect_prev(&last, "2024-03-01 00:00:00", "2024-02-29 00:15:00");
        expect_prev(&last, "2023-03-31 00:15:00", "2023-02-28 00:15:00");
        expect_due(&last, "2024-02-29 00:15:00", 1);
        expect_due(&last, "2024-02-28 00:15:00", 0);
        expect_next(&mix, "2023-02-01 00:15:00", "2023-02-15 00:15:00");
        expect_next(&mix, "2023-02-15 00:15:00", "2023-02-28 00:15:00");
        expect_next(&mix, "2023-02-28 00:15:00", "2023-03-01 00:15:00");
        /* Day 31 and the last day fall together: one run. */
        expect_next(&d31_last, "2023-01-30 23:00:00", "2023-01-31 23:00:00");
        expect_next(&d31_last, "2023-01-31 23:00:00", "2023-02-28 23:00:00");
        check_against_scan(&mix, "2023-01-20 00:00:00", 70 * 1440);
}

/* next() then prev() returns to the start, across many schedules. */
static void test_next_prev_inverse(void **state)
{
        const km_schedule_t scheds[] = {
                minutes(5, HM(0, 0), HM(23, 59)),
                minutes(13, HM(1, 7), HM(22, 3)),
                hours(1, 15, HM(23, 59)),
                hours(5, HM(0, 15), HM(23, 59)),
                at_time(KM_SCHED_DAILY, HM(23, 59)),
                weekly(WD(0) | WD(3) | WD(6), HM(0, 0)),
                monthly(MD(31), 0, HM(0, 15)),
                monthly(MD(29) | MD(30), 1, HM(12, 0)),
        };
        (void)state;
        for (size_t i = 0; i < sizeof(scheds) / sizeof(scheds[0]); i++) {
                km_civil_t t = ct("2023-12-30 17:42:13"), n, p, first;
                assert_int_equal(km_sched_next(&scheds[i], &t, &first), 0);
                t = first;
                for (int k = 0; k < 400; k++) {
                        assert_int_equal(km_sched_next(&scheds[i], &t, &n), 0);
                        assert_true(km_sched_is_due(&scheds[i], &n));
                        assert_int_equal(km_sched_prev(&scheds[i], &n, &p), 0);
                        assert_int_equal(km_civil_cmp(&p, &t), 0);
                        t = n;
                }
        }
}

static void test_never_runs(void **state)
{
        km_schedule_t none = {0};
        km_schedule_t bad = minutes(0, 0, HM(23, 59));
        km_schedule_t daily = at_time(KM_SCHED_DAILY, HM(0, 15));
        km_civil_t t = ct("2022-11-22 10:00:00"), out;
        km_civil_t end = ct("9999-12-31 00:15:00");
        km_civil_t start = ct("0001-01-01 00:15:00");
        (void)state;
        assert_int_equal(km_sched_next(&none, &t, &out), -1);
        assert_int_equal(km_sched_prev(&none, &t, &out), -1);
        assert_false(km_sched_is_due(&none, &t));
        assert_int_equal(km_sched_next(&bad, &t, &out), -1);
        assert_int_equal(km_sched_prev(&bad, &t, &out), -1);
        assert_int_equal(km_sched_next(&daily, &end, &out), -1);
        assert_int_equal(km_sched_prev(&daily, &start, &out), -1);
}

/* ---- descriptions ---------------------------------------------------------- */

static void expect_text(const km_schedule_t *s, const char *want)
{
        char buf[200];
        km_sched_describe(s, buf, sizeof(buf));
        assert_string_equal(buf, want);
}

static void test_describe(void **state)
{
        km_schedule_t none = {0};
        (void)state;
        expect_text(&none, "on demand only");
        expect_text(&(km_schedule_t){KM_SCHED_MINUTES, 5, 0, HM(23, 59), 0,
                                     0, 0, 0},
                    "every 5 minutes from 00:00 to 23:59");
        expect_text(&(km_schedule_t){KM_SCHED_MINUTES, 1, HM(8, 0),
                                     HM(18, 30), 0, 0, 0, 0},
                    "every minute from 08:00 to 18:30");
        expect_text(&(km_schedule_t){KM_SCHED_HOURS, 2, 15, HM(23, 59), 0, 0,
                                     0, 0},
                    "every 2 hours from 00:15 to 23:59");
        expect_text(&(km_schedule_t){KM_SCHED_HOURS, 1, 15, HM(23, 59), 0, 0,
                                     0, 0},
                    "hourly at minute 15");
        expect_text(&(km_schedule_t){KM_SCHED_HOURS, 1, 0, HM(3, 0), 0, 0, 0,
                                     0},
                    "every hour from 00:00 to 03:00");
        expect_text(&(km_schedule_t){KM_SCHED_DAILY, 0, 0, 0, 15, 0, 0, 0},
                    "daily at 00:15");
        expect_text(&(km_schedule_t){KM_SCHED_WEEKLY, 0, 0, 0, 15,
                                     WD(4) | WD(1), 0, 0},
                    "weekly on Monday, Thursday at 00:15");
        expect_text(&(km_schedule_t){KM_SCHED_WEEKLY, 0, 0, 0, HM(23, 5),
                                     WD(0) | WD(6), 0, 0},
                    "weekly on Saturday, Sunday at 23:05");
        expect_text(&(km_schedule_t){KM_SCHED_MONTHLY, 0, 0, 0, 15, 0,
                                     MD(1) | MD(15), 1},
                    "monthly on day 1, 15 and the last day at 00:15");
        expect_text(&(km_schedule_t){KM_SCHED_MONTHLY, 0, 0, 0, 15, 0, MD(1),
                                     0},
                    "monthly on day 1 at 00:15");
        expect_text(&(km_schedule_t){KM_SCHED_MONTHLY, 0, 0, 0, HM(6, 0), 0,
                                     0, 1},
                    "monthly on the last day at 06:00");
}

static void test_describe_truncates(void **state)
{
        km_schedule_t s = minutes(5, 0, HM(23, 59));
        char buf[12];
        (void)state;
        memset(buf, 'x', sizeof(buf));
        km_sched_describe(&s, buf, sizeof(buf));
        assert_string_equal(buf, "every 5 min");
        km_sched_describe(&s, buf, 1);
        assert_string_equal(buf, "");
        km_sched_describe(&s, NULL, 0);
}

/* ---- validation ------------------------------------------------------------ */

static void expect_invalid(const km_schedule_t *s, const char *want)
{
        const char *msg = km_sched_validate(s);
        if (!msg)
                fail_msg("accepted; want '%s'", want);
        assert_string_equal(msg, want);
}

static void test_validate(void **state)
{
        km_schedule_t none = {0}, s;
        (void)state;
        assert_null(km_sched_validate(&none));
        s = minutes(5, 0, HM(23, 59));
        assert_null(km_sched_validate(&s));
        s = minutes(1, 0, 0);
        assert_null(km_sched_validate(&s));
        s = minutes(59, 0, HM(23, 59));
        assert_null(km_sched_validate(&s));
        s = hours(23, 15, HM(23, 59));
        assert_null(km_sched_validate(&s));
        s = monthly(MD(31), 0, HM(23, 59));
        assert_null(km_sched_validate(&s));
        s = monthly(0, 1, 0);
        assert_null(km_sched_validate(&s));
        s = weekly(0x7f, 0);
        assert_null(km_sched_validate(&s));

        s = minutes(0, 0, HM(23, 59));
        expect_invalid(&s, "interval must be 1..59 minutes (use hours for "
                           "longer intervals)");
        s = minutes(60, 0, HM(23, 59));
        expect_invalid(&s, "interval must be 1..59 minutes (use hours for "
                           "longer intervals)");
        s = hours(24, 0, HM(23, 59));
        expect_invalid(&s, "interval must be 1..23 hours (use daily for once "
                           "a day)");
        s = hours(0, 0, HM(23, 59));
        expect_invalid(&s, "interval must be 1..23 hours (use daily for once "
                           "a day)");
        s = minutes(5, -1, HM(23, 59));
        expect_invalid(&s, "first time of day must be between 00:00 and "
                           "23:59");
        s = minutes(5, 0, 1440);
        expect_invalid(&s, "last time of day must be between 00:00 and "
                           "23:59");
        s = hours(1, HM(10, 0), HM(9, 0));
        expect_invalid(&s, "first time of day must not be after the last "
                           "time of day");
        s = at_time(KM_SCHED_DAILY, 1440);
        expect_invalid(&s, "time of day must be between 00:00 and 23:59");
        s = weekly(0, 15);
        expect_invalid(&s, "weekly schedule needs at least one weekday");
        s = weekly(WD(7), 15);
        expect_invalid(&s, "weekdays must be sunday..saturday (bits 0..6)");
        s = monthly(0, 0, 15);
        expect_invalid(&s, "monthly schedule needs at least one day of the "
                           "month or the last day");
        s = monthly(MD(0) | MD(3), 0, 15);
        expect_invalid(&s, "days of the month must be 1..31");
        s = monthly(MD(3), 0, -5);
        expect_invalid(&s, "time of day must be between 00:00 and 23:59");
        s.kind = (km_sched_kind_t)42;
        expect_invalid(&s, "unknown schedule kind");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_5_minutes),
                cmocka_unit_test(test_minutes_window),
                cmocka_unit_test(test_hourly_at_minute_15),
                cmocka_unit_test(test_every_2_hours),
                cmocka_unit_test(test_hours_bounds_inclusive),
                cmocka_unit_test(test_daily),
                cmocka_unit_test(test_weekly),
                cmocka_unit_test(test_monthly_day_1),
                cmocka_unit_test(test_monthly_day_31),
                cmocka_unit_test(test_monthly_day_29_30),
                cmocka_unit_test(test_monthly_last_day),
                cmocka_unit_test(test_next_prev_inverse),
                cmocka_unit_test(test_never_runs),
                cmocka_unit_test(test_describe),
                cmocka_unit_test(test_describe_truncates),
                cmocka_unit_test(test_validate),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
