/* test_param.c - DataWorks scheduling parameters, checked table by table.
 *
 * Every worked example of the reference (4.5 A-F), the seed's five scenarios,
 * rollovers, leap days, month ends, the 12-hour clock and every error with its
 * exact byte offset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kmsync/param.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* One evaluation: at scheduled time `sched`, `text` gives `want`. */
struct eval_case {
        const char *sched;
        const char *text;
        const char *want;
};

/* One failure: `text` fails at [off, off + len) with `needle` in the
 * message.  syntax = 1: km_param_check() finds it too; 0: only evaluation at
 * `sched` does (the result leaves years 1..9999). */
struct err_case {
        const char *sched;
        const char *text;
        size_t off, len;
        int syntax;
        const char *needle;
};

static void check_eval(const struct eval_case *c)
{
        km_civil_t t;
        km_param_error_t err;
        char *got;
        int ok;
        memset(&err, 0, sizeof(err));
        assert_int_equal(km_civil_parse(c->sched, &t), 0);
        got = km_param_eval(c->text, &t, &err);
        if (!got)
                fail_msg("'%s' at %s failed: %s (offset %zu)", c->text,
                         c->sched, err.message, err.offset);
        ok = strcmp(got, c->want) == 0;
        if (!ok)
                print_error("'%s' at %s: got '%s', want '%s'\n", c->text,
                            c->sched, got, c->want);
        free(got);
        assert_true(ok);
        if (km_param_check(c->text, &err) != 0)
                fail_msg("check '%s' failed: %s", c->text, err.message);
}

static void run_evals(const struct eval_case *cases, size_t n)
{
        for (size_t i = 0; i < n; i++)
                check_eval(&cases[i]);
}

static void assert_error(const struct err_case *c,
                         const km_param_error_t *err)
{
        char first = err->message[0];
        if (err->offset != c->off || err->length != c->len ||
            !strstr(err->message, c->needle))
                fail_msg("'%s': got offset %zu length %zu '%s'; want offset "
                         "%zu length %zu and '%s'",
                         c->text, err->offset, err->length, err->message,
                         c->off, c->len, c->needle);
        assert_true((first >= 'a' && first <= 'z') || first == '\'');
        assert_non_null(strchr(err->message, '\''));
}

static void check_error(const struct err_case *c)
{
        km_civil_t t;
        km_param_error_t err;
        char *got;
        int rc;
        assert_int_equal(km_civil_parse(c->sched, &t), 0);
        memset(&err, 0, sizeof(err));
        got = km_param_eval(c->text, &t, &err);
        if (got) {
                print_error("'%s' unexpectedly gave '%s'\n", c->text, got);
                free(got);
                fail();
        }
        assert_error(c, &err);
        memset(&err, 0, sizeof(err));
        rc = km_param_check(c->text, &err);
        if (c->syntax) {
                assert_int_equal(rc, -1);
                assert_error(c, &err);
        } else if (rc != 0) {
                fail_msg("check '%s' failed: %s", c->text, err.message);
        }
        assert_true(km_param_has_expr(c->text));
}

static void run_errors(const struct err_case *cases, size_t n)
{
        for (size_t i = 0; i < n; i++)
                check_error(&cases[i]);
}

/*----- dataworks-reference.md 4.5 ------------------------------------------*/

/* A. Daily node scheduled 02:30:45 on 2025-11-01 (business date 20251031). */
static void test_table_a(void **state)
{
        static const struct eval_case cases[] = {
                {"2025-11-01 02:30:45", "${yyyymmdd}", "20251031"},
                {"2025-11-01 02:30:45", "$bizdate", "20251031"},
                {"2025-11-01 02:30:45", "$[yyyymmddhh24miss]",
                 "20251101023045"},
                {"2025-11-01 02:30:45", "$cyctime", "20251101023045"},
                {"2025-11-01 02:30:45", "${yyyy} ${mm} ${dd}", "2025 10 31"},
                {"2025-11-01 02:30:45", "${yyyy}", "2025"},
                {"2025-11-01 02:30:45", "${mm}", "10"},
                {"2025-11-01 02:30:45", "${dd}", "31"},
                {"2025-11-01 02:30:45",
                 "$[yyyy] $[mm] $[dd] $[hh24] $[mi] $[ss]",
                 "2025 11 01 02 30 45"},
                {"2025-11-01 02:30:45", "$[hh]", "02"},
                {"2025-11-01 02:30:45", "${yyyymm}", "202510"},
                {"2025-11-01 02:30:45", "$[yyyymm]", "202511"},
                {"2025-11-01 02:30:45", "${yyyy-mm-dd}", "2025-10-31"},
                {"2025-11-01 02:30:45", "$[yyyy-mm-dd]", "2025-11-01"},
                {"2025-11-01 02:30:45", "${yyyymmdd-1}", "20251030"},
                {"2025-11-01 02:30:45", "${yyyymm-1}", "202509"},
                {"2025-11-01 02:30:45", "${yyyy-1}", "2024"},
                {"2025-11-01 02:30:45", "${yyyymmdd-7*1}", "20251024"},
                {"2025-11-01 02:30:45", "$[yyyymmdd-1]", "20251031"},
                {"2025-11-01 02:30:45", "$[hh24miss-1/24]", "013045"},
                {"2025-11-01 02:30:45", "$[yyyymmddhh24miss-15/24/60]",
                 "20251101021545"},
                {"2025-11-01 02:30:45", "$[yyyymmdd-1-1/24]", "20251031"},
                {"2025-11-01 02:30:45", "$[add_months(yyyymmdd,-1)]",
                 "20251001"},
                {"2025-11-01 02:30:45", "$[add_months(yyyymmdd,-12)]",
                 "20241101"},
                {"2025-11-01 02:30:45", "$gmtdate", "20251101"},
                {"2025-11-01 02:30:45", "$bizmonth", "202510"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

/* B. The brief's example: instance scheduled 2022-11-22 10:00:00. */
static void test_table_b(void **state)
{
        static const struct eval_case cases[] = {
                {"2022-11-22 10:00:00", "$[yyyymmddhh24mi-8/24/60]",
                 "202211220952"},
                {"2022-11-22 10:00:00", "$[yyyymmddhh24mi-3/24/60]",
                 "202211220957"},
                {"2022-11-22 10:00:00", "startTime=$[yyyymmddhh24mi-8/24/60]00",
                 "startTime=20221122095200"},
                {"2022-11-22 10:00:00", "endTime=$[yyyymmddhh24mi-3/24/60]00",
                 "endTime=20221122095700"},
                {"2022-11-22 10:00:00", "${yyyymmdd}", "20221121"},
                {"2022-11-22 10:00:00", "$[yyyymmddhh24]", "2022112210"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

/* C. Hourly node at midnight 2022-11-22 00:00:00 (the midnight pitfall). */
static void test_table_c(void **state)
{
        static const struct eval_case cases[] = {
                {"2022-11-22 00:00:00", "$[yyyymmddhh24-1/24]", "2022112123"},
                {"2022-11-22 00:00:00", "$[yyyymmdd-1/24]", "20221121"},
                {"2022-11-22 00:00:00", "$[hh24-1/24]", "23"},
                {"2022-11-22 00:00:00", "$[yyyymmdd]", "20221122"},
                {"2022-11-22 00:00:00", "$[yyyymmddhh24-1/24]0000",
                 "20221121230000"},
                {"2022-11-22 00:00:00", "$[yyyymmddhh24]0000",
                 "20221122000000"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

/* D. Daily node scheduled 2022-11-22 00:05. */
static void test_table_d(void **state)
{
        static const struct eval_case cases[] = {
                {"2022-11-22 00:05:00", "$[yyyymmdd-1]000000",
                 "20221121000000"},
                {"2022-11-22 00:05:00", "$[yyyymmdd]000000", "20221122000000"},
                {"2022-11-22 00:05:00", "ds=${yyyymmdd}", "ds=20221121"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

/* E. Month ends and leap years. */
static void test_table_e(void **state)
{
        static const struct eval_case cases[] = {
                {"2025-03-31 00:00:00", "$[add_months(yyyymmdd,-1)]",
                 "20250228"},
                {"2024-03-31 00:00:00", "$[add_months(yyyymmdd,-1)]",
                 "20240229"},
                {"2024-02-29 00:00:00", "$[add_months(yyyymmdd,-12)]",
                 "20230228"},
                {"2025-01-31 00:00:00", "$[add_months(yyyymmdd,1)]",
                 "20250228"},
                {"2025-02-28 00:00:00", "$[add_months(yyyymmdd,1)]",
                 "20250328"},
                /* business date 2025-03-31 */
                {"2025-04-01 00:00:00", "${yyyymm-1}", "202502"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

/* F. Backfill of a daily 00:00 node for business date 2025-03-15: the
 * instance is the one scheduled 2025-03-16 00:00:00. */
static void test_table_f(void **state)
{
        static const struct eval_case cases[] = {
                {"2025-03-16 00:00:00", "${yyyymmdd}", "20250315"},
                {"2025-03-16 00:00:00", "$[yyyymmddhh24miss]",
                 "20250316000000"},
                {"2025-03-16 00:00:00", "$gmtdate", "20250316"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

/*----- seed-scenarios.md: start, end and partition at the run times -------*/

static void test_seed_scenarios(void **state)
{
        static const struct eval_case cases[] = {
                /* every 5 minutes, run at 2022-11-22 10:00 */
                {"2022-11-22 10:00:00", "$[yyyymmddhh24mi-8/24/60]00",
                 "20221122095200"},
                {"2022-11-22 10:00:00", "$[yyyymmddhh24mi-3/24/60]00",
                 "20221122095700"},
                {"2022-11-22 10:00:00", "$[yyyymmddhh24mi-8/24/60]",
                 "202211220952"},
                /* hourly, run at 2022-11-22 10:05 */
                {"2022-11-22 10:05:00", "$[yyyymmddhh24-1/24]0000",
                 "20221122090000"},
                {"2022-11-22 10:05:00", "$[yyyymmddhh24]0000",
                 "20221122100000"},
                {"2022-11-22 10:05:00", "$[yyyymmddhh24]", "2022112210"},
                /* every 2 and 3 hours */
                {"2022-11-22 10:05:00", "$[yyyymmddhh24-2/24]0000",
                 "20221122080000"},
                {"2022-11-22 10:05:00", "$[yyyymmddhh24-3/24]0000",
                 "20221122070000"},
                /* daily, run at 2022-11-22 00:05 */
                {"2022-11-22 00:05:00", "$[yyyymmdd-1]000000",
                 "20221121000000"},
                {"2022-11-22 00:05:00", "$[yyyymmdd]000000", "20221122000000"},
                {"2022-11-22 00:05:00", "$[yyyymmdd-1]", "20221121"},
                /* weekly */
                {"2022-11-22 00:05:00", "$[yyyymmdd-7]000000",
                 "20221115000000"},
                {"2022-11-22 00:05:00", "$[yyyymmdd]000000", "20221122000000"},
                {"2022-11-22 00:05:00", "$[yyyymmdd-1]", "20221121"},
                /* monthly */
                {"2022-11-22 00:05:00", "$[add_months(yyyymmdd,-1)]000000",
                 "20221022000000"},
                {"2022-11-22 00:05:00", "$[yyyymmdd]000000", "20221122000000"},
                {"2022-11-22 00:05:00", "$[yyyymmdd-1]", "20221121"},
                /* the seed's check query partition */
                {"2022-11-22 00:15:00", "ds=$[yyyymmddhh24]",
                 "ds=2022112200"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

/* The official post-processing page's table, CYCTIME 20250727000500. */
static void test_doc_cyctime_table(void **state)
{
        static const struct eval_case cases[] = {
                {"2025-07-27 00:05:00", "$[yyyy-mm]", "2025-07"},
                {"2025-07-27 00:05:00", "$[yyyymmdd]", "20250727"},
                {"2025-07-27 00:05:00", "$[yyyymmdd-1]", "20250726"},
                {"2025-07-27 00:05:00", "$[yyyymmddhh24]", "2025072700"},
                {"2025-07-27 00:05:00", "$[yyyymmddhh24-1/24]", "2025072623"},
                {"2025-07-27 00:05:00", "$[yyyymmddhh24miss]",
                 "20250727000500"},
                {"2025-07-27 00:05:00", "$[mm]", "07"},
                {"2025-07-27 00:05:00", "$[hh24-15/24/60]", "23"},
                {"2025-07-27 00:05:00", "$[mi-15/24/60]", "50"},
                {"2025-07-27 00:05:00", "$[yyyymmdd-15/24/60]", "20250726"},
                {"2025-07-27 00:05:00", "$[yyyy-15/24/60]", "2025"},
                {"2025-07-27 00:05:00", "$[yyyymm-15/24/60]", "202507"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

/*----- Arithmetic ----------------------------------------------------------*/

static void test_rollovers(void **state)
{
        static const struct eval_case cases[] = {
                /* minutes across midnight, month and year */
                {"2022-01-01 00:05:00", "$[yyyymmddhh24miss-8/24/60]",
                 "20211231235700"},
                {"2022-01-01 00:05:00", "$[yyyymmddhh24mi-8/24/60]00",
                 "20211231235700"},
                {"2022-01-01 00:00:00", "$[yyyymmddhh24-1/24]", "2021123123"},
                {"2022-01-01 00:00:00", "$[yyyy-1/24]", "2021"},
                {"2022-03-01 00:00:00", "$[yyyymmdd-1/24]", "20220228"},
                {"2024-12-31 23:30:00", "$[yyyymmddhh24mi+45/24/60]",
                 "202501010015"},
                {"2025-11-30 12:00:00", "$[yyyymmdd+1]", "20251201"},
                /* dashes: literal in the format, the last one an offset */
                {"2025-11-01 02:30:45", "$[yyyy-mm-dd-1]", "2025-10-31"},
                {"2025-01-01 02:30:45", "$[yyyy-mm-dd-1]", "2024-12-31"},
                {"2025-01-01 00:00:00", "${yyyy-mm-dd}", "2024-12-31"},
                {"2025-01-02 00:00:00", "${yyyy-mm-dd-1}", "2024-12-31"},
                {"2025-11-01 02:30:45", "$[hh24:mi:ss]", "02:30:45"},
                {"2025-11-01 02:30:45", "$[hh24:mi:ss-3/24]", "23:30:45"},
                /* several terms, weeks, pluses */
                {"2025-11-01 02:30:45", "$[yyyymmddhh24mi+1-1/24+30/24/60]",
                 "202511020200"},
                {"2025-11-01 02:30:45", "$[yyyymmdd-7*2]", "20251018"},
                {"2025-11-01 02:30:45", "$[yyyymmdd+7*2]", "20251115"},
                {"2025-11-01 02:30:45", "$[hh24mi-2*30/24/60]", "0130"},
                {"2025-11-01 02:30:45", "$[yyyymmdd+0]", "20251101"},
                {"2025-11-01 02:30:45", "$[yyyymmdd-01]", "20251031"},
                /* a day offset on a year format is still days */
                {"2025-01-01 10:00:00", "$[yyyy-1]", "2024"},
                {"2025-11-01 10:00:00", "$[yyyy-1]", "2025"},
                {"2025-11-01 10:00:00", "$[mm-1]", "10"},
                /* second precision is kept */
                {"2025-11-01 00:00:59", "$[yyyymmddhh24miss-1/24/60]",
                 "20251031235959"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

static void test_leap_days(void **state)
{
        static const struct eval_case cases[] = {
                {"2024-03-01 00:05:00", "$[yyyymmdd-1]", "20240229"},
                {"2023-03-01 00:05:00", "$[yyyymmdd-1]", "20230228"},
                {"2000-03-01 00:05:00", "$[yyyymmdd-1]", "20000229"},
                {"1900-03-01 00:05:00", "$[yyyymmdd-1]", "19000228"},
                {"2024-03-01 00:05:00", "${yyyymmdd}", "20240229"},
                {"1900-03-01 00:05:00", "$bizdate", "19000228"},
                {"2024-02-28 00:05:00", "$[yyyymmdd+1]", "20240229"},
                {"2024-03-01 00:00:00", "$[yyyymmddhh24-1/24]", "2024022923"},
                {"2024-12-31 00:00:00", "$[yyyymmdd-366]", "20231231"},
                {"2025-03-01 00:00:00", "$[yyyymmdd-365]", "20240301"},
                /* ${yyyy-N} on 29 Feb clamps to 28 Feb */
                {"2024-03-01 00:00:00", "${yyyy-1}", "2023"},
                {"2024-03-01 00:00:00", "${yyyy-mm-dd-365}", "2023-03-01"},
                {"2024-03-01 00:00:00", "${yyyymmdd-366}", "20230228"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

static void test_add_months(void **state)
{
        static const struct eval_case cases[] = {
                {"2025-03-31 00:00:00", "$[add_months(yyyymmdd,-1)]",
                 "20250228"},
                {"2024-03-31 00:00:00", "$[add_months(yyyymmdd,-1)]",
                 "20240229"},
                {"2025-02-28 00:00:00", "$[add_months(yyyymmdd,+1)]",
                 "20250328"},
                {"2024-01-31 00:00:00", "$[add_months(yyyymmdd,1)]",
                 "20240229"},
                {"2023-01-31 00:00:00", "$[add_months(yyyymmdd,1)]",
                 "20230228"},
                {"2025-05-31 00:00:00", "$[add_months(yyyymmdd,-1)]",
                 "20250430"},
                {"2025-12-31 00:00:00", "$[add_months(yyyymmdd,2)]",
                 "20260228"},
                {"2025-01-15 00:00:00", "$[add_months(yyyymm,-1)]", "202412"},
                {"2024-02-29 00:00:00", "$[add_months(yyyymmdd,-12*2)]",
                 "20220228"},
                {"2024-02-29 00:00:00", "$[add_months(yyyymmdd,12*4)]",
                 "20280229"},
                {"2025-11-01 02:30:45", "$[add_months(yyyy-mm-dd,-1)]",
                 "2025-10-01"},
                {"2025-11-01 02:30:45", "$[add_months(yyyymmddhh24miss,-1)]",
                 "20251001023045"},
                {"2025-11-01 02:30:45", "$[add_months(yyyymmdd,0)]",
                 "20251101"},
                /* a day offset after the parenthesis: months, then days */
                {"2025-03-31 00:00:00", "$[add_months(yyyymmdd,-1)-1]",
                 "20250227"},
                {"2025-03-01 00:00:00", "$[add_months(yyyymmddhh24,-1)-1/24]",
                 "2025013123"},
                {"2025-03-31 00:00:00", "$[add_months(yyyymmdd,-1)+1]",
                 "20250301"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

/* ${...}: business date, offsets in the format's smallest unit. */
static void test_business_offsets(void **state)
{
        static const struct eval_case cases[] = {
                {"2025-01-15 00:00:00", "${yyyymm-1}", "202412"},
                {"2025-02-01 00:00:00", "${yyyymm+1}", "202502"},
                {"2025-04-01 00:00:00", "${yyyymmdd+1}", "20250401"},
                {"2025-11-01 00:00:00", "${yyyymmdd-7*2}", "20251017"},
                {"2025-11-01 00:00:00", "${yyyymmdd+7*2}", "20251114"},
                {"2025-11-01 00:00:00", "${yy}", "25"},
                {"2025-11-01 00:00:00", "${yy-1}", "24"},
                {"2001-01-02 00:00:00", "${yy-2}", "99"},
                {"2025-11-01 00:00:00", "${yyyy+1}", "2026"},
                {"2025-11-01 00:00:00", "${mm-1}", "09"},
                {"2025-11-01 00:00:00", "${mmdd-1}", "1030"},
                {"2025-11-01 00:00:00", "${yyyy-mm-1}", "2025-09"},
                {"2025-11-01 00:00:00", "${yyyymm-12}", "202410"},
                {"2025-11-01 00:00:00", "${yyyymm-1+2-1}", "202510"},
                {"2025-11-01 23:59:59", "${yyyymmdd}", "20251031"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

/*----- Built-ins -----------------------------------------------------------*/

static void test_bizmonth(void **state)
{
        static const struct eval_case cases[] = {
                /* business date in the scheduled month: the month before */
                {"2025-01-15 00:00:00", "$bizmonth", "202412"},
                {"2025-01-02 00:00:00", "$bizmonth", "202412"},
                {"2025-11-15 00:00:00", "$bizmonth", "202510"},
                /* business date in the month before: its own month */
                {"2025-01-01 00:00:00", "$bizmonth", "202412"},
                {"2025-02-01 00:00:00", "$bizmonth", "202501"},
                {"2025-03-01 00:00:00", "$bizmonth", "202502"},
                {"2025-01-15 00:00:00", "${bizmonth}", "202412"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

static void test_builtins(void **state)
{
        static const struct eval_case cases[] = {
                {"2025-11-01 02:30:45", "${bizdate}", "20251031"},
                {"2025-11-01 02:30:45", "${cyctime}", "20251101023045"},
                {"2025-11-01 02:30:45", "${gmtdate}", "20251101"},
                {"2025-11-01 02:30:45", "${bdp.system.bizdate}", "20251031"},
                {"2025-11-01 02:30:45", "${bdp.system.cyctime}",
                 "20251101023045"},
                {"2025-11-01 02:30:45", "$bizdate$cyctime",
                 "2025103120251101023045"},
                {"2025-11-01 02:30:45", "$bizdate.csv", "20251031.csv"},
                {"2025-11-01 02:30:45", "$bizdate-x", "20251031-x"},
                {"2025-11-01 02:30:45", "p/$gmtdate/", "p/20251101/"},
                {"2025-11-01 02:30:45", "$$bizdate", "$20251031"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

/* hh and hh12: the 12-hour clock 01..12 without an AM/PM marker. */
static void test_hh_clock(void **state)
{
        static const struct eval_case cases[] = {
                {"2025-11-01 00:30:00", "$[hh]", "12"},
                {"2025-11-01 12:30:00", "$[hh]", "12"},
                {"2025-11-01 14:30:00", "$[hh]", "02"},
                {"2025-11-01 01:00:00", "$[hh]", "01"},
                {"2025-11-01 11:59:00", "$[hh]", "11"},
                {"2025-11-01 23:59:00", "$[hh]", "11"},
                {"2025-11-01 14:30:00", "$[hh12]", "02"},
                {"2025-11-01 00:30:00", "$[hh12]", "12"},
                {"2025-11-01 14:30:00", "$[hh24]", "14"},
                {"2025-11-01 14:30:00", "$[hh24hh12hh]", "140202"},
                {"2025-11-01 14:30:00", "$[yyyymmddhh]", "2025110102"},
                {"2025-11-01 00:30:00", "$[hh-1/24]", "11"},
                /* hh followed by a digit other than 12 or 24: literal */
                {"2025-11-01 14:30:00", "$[hh2]", "022"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

/* Text around expressions, literals inside them, '$' that is not one. */
static void test_literals(void **state)
{
        static const struct eval_case cases[] = {
                {"2025-11-01 02:30:45", "", ""},
                {"2025-11-01 02:30:45", "plain text", "plain text"},
                {"2025-11-01 02:30:45", "cost $5 or $", "cost $5 or $"},
                {"2025-11-01 02:30:45", "a $ b $- c $_x", "a $ b $- c $_x"},
                {"2025-11-01 02:30:45", "$[yyyymmdd]$[hh24]", "2025110102"},
                {"2025-11-01 02:30:45", "$[yyyymm01]", "20251101"},
                {"2025-11-01 02:30:45", "$[yyyy/mm/dd]", "2025/11/01"},
                {"2025-11-01 02:30:45", "$[yyyy.mm.dd_hh24]",
                 "2025.11.01_02"},
                {"2025-11-01 02:30:45", "$[yyyy\xe5\xb9\xb4mm\xe6\x9c\x88]",
                 "2025\xe5\xb9\xb4" "11\xe6\x9c\x88"},
                {"2025-11-01 02:30:45", "$[yyyy,mm]", "2025,11"},
                {"2025-11-01 02:30:45", "$[(yyyy)]", "(2025)"},
                /* no '+' or '-': '*2' is literal, not an offset */
                {"2025-11-01 02:30:45", "${yyyymmdd*2}", "20251031*2"},
                {"2025-11-01 02:30:45", "'${yyyy-mm-dd}' '$[hh24:mi:ss]'",
                 "'2025-10-31' '02:30:45'"},
                {"2025-11-01 02:30:45", "pt=${yyyymmdd},hh=$[hh24-1/24]",
                 "pt=20251031,hh=01"},
                {"0099-05-05 00:00:00", "$[yyyy]/$[yy]", "0099/99"},
                {"2005-05-05 00:00:00", "$[yy]", "05"},
                {"9999-12-31 23:59:59", "$[yyyymmddhh24miss]",
                 "99991231235959"},
                {"0001-01-02 00:00:00", "$bizdate", "00010101"},
        };
        (void)state;
        run_evals(cases, ARRAY_LEN(cases));
}

/*----- Errors --------------------------------------------------------------*/

#define T0 "2025-11-01 02:30:45"

static void test_errors_structure(void **state)
{
        static const struct err_case cases[] = {
                {T0, "$[yyyymmdd", 0, 10, 1, "add the closing ']'"},
                {T0, "ds=${yyyymmdd", 3, 10, 1, "add the closing '}'"},
                {T0, "x$[", 1, 2, 1, "unterminated expression '$['"},
                {T0, "$[yyyymmdd}", 0, 11, 1, "unterminated"},
                {T0, "$[]", 0, 3, 1, "empty expression '$[]'"},
                {T0, "x${}", 1, 3, 1, "empty expression '${}'"},
                {T0, "$[yyyy-mm-dd hh24:mi:ss]", 12, 1, 1,
                 "spaces are not allowed inside $[...] (DataWorks forbids"},
                {T0, "${yyyy mm}", 6, 1, 1,
                 "spaces are not allowed inside ${...}"},
                {T0, "$[yyyymmdd\t]", 10, 1, 1, "space in"},
                {T0, "$[ yyyymmdd]", 2, 1, 1, "split it into two"},
                {T0, "$[yyyymmdd=1]", 10, 1, 1,
                 "'=' is not allowed inside $[...]"},
                {T0, "${a=b}", 3, 1, 1, "'=' is not allowed inside ${...}"},
                {T0, "$[yyyy$[mm]]", 6, 1, 1, "expressions cannot nest"},
                {T0, "${yyyy${mm}}", 6, 1, 1, "closing '}' missing"},
                {T0, "$[yyyy{mm]", 6, 1, 1, "unexpected '{'"},
                {T0, "${yyyy]mm}", 6, 1, 1, "unexpected ']'"},
                {T0, "$[-1]", 2, 1, 1, "missing format in '$[-1]'"},
                {T0, "${-1}", 2, 1, 1, "e.g. ${yyyymmdd-1}"},
                {T0, "$[::]", 2, 2, 1, "no time token in '$[::]'"},
                {T0, "${2025}", 2, 4, 1, "no time token"},
        };
        (void)state;
        run_errors(cases, ARRAY_LEN(cases));
}

static void test_errors_tokens(void **state)
{
        static const struct err_case cases[] = {
                {T0, "$[yyyymmddHH24]", 10, 4, 1,
                 "unknown token 'HH24' in '$[yyyymmddHH24]': tokens are "
                 "lowercase; write 'hh24'"},
                {T0, "$[YYYYmmdd]", 2, 4, 1, "write 'yyyy'"},
                {T0, "$[yyyyMMdd]", 6, 2, 1, "write 'mm'"},
                {T0, "$[yyyymmddhh24MI]", 14, 2, 1, "write 'mi'"},
                {T0, "$[yyyymmddq]", 10, 1, 1, "unknown token 'q'"},
                {T0, "$[yyyymmdd-1x]", 12, 1, 1, "unknown token 'x'"},
                {T0, "$[yyyyy]", 6, 1, 1, "unknown token 'y'"},
                {T0, "$[Yyyymmdd]", 2, 4, 1, "write 'yyyy'"},
                {T0, "$[foo]", 2, 3, 1,
                 "use yyyy yy mm dd hh24 hh mi ss"},
        };
        (void)state;
        run_errors(cases, ARRAY_LEN(cases));
}

static void test_errors_business(void **state)
{
        static const struct err_case cases[] = {
                {T0, "${yyyymmddhh24}", 10, 4, 1,
                 "'hh24' in '${yyyymmddhh24}': ${...} is the business date "
                 "with day precision; use $[...]"},
                {T0, "${yyyymmddhh}", 10, 2, 1, "use $[...] for hours"},
                {T0, "${mi}", 2, 2, 1, "day precision"},
                {T0, "${ss}", 2, 2, 1, "day precision"},
                {T0, "${yyyymmdd-1/24}", 12, 3, 1,
                 "hour or minute offset '/24' in '${yyyymmdd-1/24}'"},
                {T0, "${yyyy-mm-dd-1/24}", 14, 3, 1, "use $[...] for hours"},
                {T0, "${startTime}", 0, 12, 1,
                 "unknown parameter '${startTime}': kmsync has no named "
                 "parameters"},
                {T0, "ds=${partition}", 3, 12, 1, "unknown parameter"},
                {T0, "${BIZDATE}", 0, 10, 1, "write '${bizdate}'"},
                {T0, "${add_months(yyyymmdd,-1)}", 2, 10, 1,
                 "it works on the scheduled time only"},
        };
        (void)state;
        run_errors(cases, ARRAY_LEN(cases));
}

static void test_errors_offsets(void **state)
{
        static const struct err_case cases[] = {
                {T0, "$[yyyymmdd-]", 10, 1, 1, "'-' without a number"},
                {T0, "$[yyyymmdd+1-]", 12, 1, 1, "'-' without a number"},
                {T0, "$[yyyymmdd--1]", 11, 1, 1, "unexpected '-' after '-'"},
                {T0, "$[yyyymmdd-1*]", 12, 1, 1, "'*' without a number"},
                {T0, "$[yyyymmdd-1/]", 12, 1, 1, "'/' without a number"},
                {T0, "$[yyyymmdd-*2]", 11, 1, 1, "unexpected '*' after '-'"},
                {T0, "$[yyyymmdd-1/25]", 13, 2, 1,
                 "division by 25 in '$[yyyymmdd-1/25]': only /24 (hours) and "
                 "/24/60 (minutes) are allowed"},
                {T0, "$[yyyymmdd-1/24/61]", 16, 2, 1, "division by 61"},
                {T0, "$[yyyymmdd-1/60]", 13, 2, 1, "division by 60"},
                {T0, "$[yyyymmdd-1/24/60/60]", 18, 1, 1,
                 "unexpected '/' in the offset"},
                {T0, "$[yyyymmdd-1/24*2]", 15, 1, 1, "unexpected '*'"},
                {T0, "$[yyyymmdd-1234567890]", 11, 10, 1,
                 "number '1234567890' too large"},
                {T0, "$[yyyymmdd-999999999*999999999]", 11, 19, 1,
                 "product '999999999*999999999' too large"},
                {T0, "${yyyymmdd-}", 10, 1, 1, "without a number"},
        };
        (void)state;
        run_errors(cases, ARRAY_LEN(cases));
}

static void test_errors_add_months(void **state)
{
        static const struct err_case cases[] = {
                {T0, "$[add_months(yyyymmdd,-1]", 24, 1, 1, "missing ')'"},
                {T0, "$[add_months(yyyymmdd)]", 2, 20, 1,
                 "add_months without a month count"},
                {T0, "$[add_months(yyyymmdd,)]", 22, 1, 1,
                 "missing month count"},
                {T0, "$[add_months(,-1)]", 13, 1, 1, "missing format"},
                {T0, "$[add_months(yyyymmdd,-1/24)]", 24, 3, 1,
                 "add_months takes whole months"},
                {T0, "$[add_months(yyyymmdd,x)]", 22, 1, 1,
                 "unexpected 'x' after ','"},
                {T0, "$[add_months(yyyymmdd-1,-1)]", 21, 2, 1,
                 "day offset inside add_months"},
                {T0, "$[add_months(yyyymmdd,-1)x]", 25, 1, 1,
                 "unexpected 'x' after add_months(...)"},
                {T0, "$[add_months(yyyymmdd,-1)-1/25]", 28, 2, 1,
                 "division by 25"},
                {T0, "$[ADD_MONTHS(yyyymmdd,-1)]", 2, 10, 1,
                 "write add_months in lowercase"},
                {T0, "$[add_months(yyyymmddHH,-1)]", 21, 2, 1, "write 'hh'"},
        };
        (void)state;
        run_errors(cases, ARRAY_LEN(cases));
}

static void test_errors_names(void **state)
{
        static const struct err_case cases[] = {
                {T0, "$foo", 0, 4, 1,
                 "unknown built-in parameter '$foo': use $bizdate, $cyctime, "
                 "$gmtdate or $bizmonth"},
                {T0, "x $bizdateX y", 2, 9, 1, "'$bizdateX'"},
                {T0, "$bizdate_1", 0, 10, 1, "unknown built-in"},
                {T0, "$BIZDATE", 0, 8, 1, "names are lowercase; write "
                 "'$bizdate'"},
                {T0, "$jobid", 0, 6, 1, "'$jobid' is not available"},
                {T0, "$nodeid", 0, 7, 1, "write a constant"},
                {T0, "$taskid", 0, 7, 1, "not available"},
                {T0, "ok $bizdate then $HOME", 17, 5, 1, "'$HOME'"},
        };
        (void)state;
        run_errors(cases, ARRAY_LEN(cases));
}

/* Only evaluation finds these: the result leaves years 1..9999. */
static void test_errors_range(void **state)
{
        static const struct err_case cases[] = {
                {T0, "$[yyyy+4000000]", 0, 15, 0,
                 "result out of range in '$[yyyy+4000000]': the time must "
                 "stay within years 1..9999"},
                {"9999-12-31 23:00:00", "$[yyyymmdd+1]", 0, 13, 0,
                 "years 1..9999"},
                {"9999-12-31 23:00:00", "$[yyyymmddhh24+1/24]", 0, 20, 0,
                 "out of range"},
                {"0001-01-01 00:00:00", "$[yyyymmdd-1/24/60]", 0, 19, 0,
                 "out of range"},
                {"0001-01-01 00:00:00", "x ${yyyymmdd}", 2, 11, 0,
                 "out of range"},
                {"0001-01-01 00:00:00", "$bizdate", 0, 8, 0, "out of range"},
                {"0001-01-15 00:00:00", "$bizmonth", 0, 9, 0, "out of range"},
                {"0001-02-01 00:00:00", "${yyyy-1}", 0, 9, 0, "out of range"},
                {"9999-12-15 00:00:00", "$[add_months(yyyymm,1)]", 0, 23, 0,
                 "out of range"},
                {T0, "$[add_months(yyyymmdd,-999999999)]", 0, 34, 0,
                 "out of range"},
                {T0, "${yyyymmdd+999999999*999}", 0, 25, 0, "out of range"},
                {T0, "$[yyyymmdd-999999999*999+1-1-1-1-1]", 0, 35, 0,
                 "out of range"},
        };
        (void)state;
        run_errors(cases, ARRAY_LEN(cases));
}

/* The first error wins; text before it does not matter. */
static void test_error_first_wins(void **state)
{
        km_param_error_t err;
        km_civil_t t;
        char *got;
        (void)state;
        assert_int_equal(km_civil_parse(T0, &t), 0);
        got = km_param_eval("$bizdate $[x] $[y", &t, &err);
        assert_null(got);
        assert_int_equal(err.offset, 11);
        assert_int_equal(err.length, 1);
        assert_int_equal(km_param_check("$bizdate $[x] $[y", &err), -1);
        assert_int_equal(err.offset, 11);
}

/* A long expression is shortened in the message, which stays bounded. */
static void test_error_long_quote(void **state)
{
        char text[600];
        km_param_error_t err;
        (void)state;
        memset(text, 0, sizeof(text));
        strcpy(text, "$[yyyymmdd");
        memset(text + 10, ':', 500);
        strcat(text, "Q]");
        assert_int_equal(km_param_check(text, &err), -1);
        assert_int_equal(err.offset, 510);
        assert_int_equal(err.length, 1);
        assert_non_null(strstr(err.message, "...'"));
        assert_true(strlen(err.message) < sizeof(err.message));
}

/*----- API edges -----------------------------------------------------------*/

static void test_invalid_input(void **state)
{
        km_civil_t bad = {2025, 2, 30, 0, 0, 0}, ok = {2025, 11, 1, 2, 30, 45};
        km_param_error_t err;
        (void)state;
        memset(&err, 0, sizeof(err));
        assert_null(km_param_eval("$bizdate", &bad, &err));
        assert_non_null(strstr(err.message, "invalid scheduled time"));
        assert_int_equal(err.length, 1);
        assert_null(km_param_eval("$bizdate", NULL, &err));
        assert_null(km_param_eval(NULL, &ok, &err));
        assert_non_null(strstr(err.message, "text"));
        assert_int_equal(km_param_check(NULL, &err), -1);
        /* err may be NULL */
        assert_null(km_param_eval("$[", &ok, NULL));
        assert_int_equal(km_param_check("$[", NULL), -1);
        assert_int_equal(km_param_check("$bizdate", NULL), 0);
}

static void test_has_expr(void **state)
{
        (void)state;
        assert_false(km_param_has_expr(NULL));
        assert_false(km_param_has_expr(""));
        assert_false(km_param_has_expr("20221122"));
        assert_false(km_param_has_expr("cost $5 $ $_ $-"));
        assert_false(km_param_has_expr("$"));
        assert_true(km_param_has_expr("ds=$[yyyymmdd]"));
        assert_true(km_param_has_expr("${yyyymmdd}"));
        assert_true(km_param_has_expr("x$bizdate"));
        assert_true(km_param_has_expr("$ and $cyctime"));
        /* malformed ones count: evaluation would reject them */
        assert_true(km_param_has_expr("$["));
        assert_true(km_param_has_expr("$foo"));
}

static void test_check_only_syntax(void **state)
{
        km_param_error_t err;
        (void)state;
        assert_int_equal(km_param_check("", &err), 0);
        assert_int_equal(km_param_check("plain", &err), 0);
        assert_int_equal(km_param_check("$[yyyymmddhh24mi-8/24/60]00", &err),
                         0);
        /* out of range only at some times: check cannot know */
        assert_int_equal(km_param_check("$[yyyy+4000000]", &err), 0);
        assert_int_equal(km_param_check("$[yyyymmdd+1-]", &err), -1);
}

/* Same text, same time, same result; the input is not modified. */
static void test_pure(void **state)
{
        const char *text = "s=$[yyyymmddhh24mi-8/24/60]00&p=${yyyymmdd}";
        km_civil_t t = {2022, 11, 22, 10, 0, 0};
        char *a, *b;
        (void)state;
        a = km_param_eval(text, &t, NULL);
        b = km_param_eval(text, &t, NULL);
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a, "s=20221122095200&p=20221121");
        assert_string_equal(a, b);
        free(a);
        free(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table_a),
                cmocka_unit_test(test_table_b),
                cmocka_unit_test(test_table_c),
                cmocka_unit_test(test_table_d),
                cmocka_unit_test(test_table_e),
                cmocka_unit_test(test_table_f),
                cmocka_unit_test(test_seed_scenarios),
                cmocka_unit_test(test_doc_cyctime_table),
                cmocka_unit_test(test_rollovers),
                cmocka_unit_test(test_leap_days),
                cmocka_unit_test(test_add_months),
                cmocka_unit_test(test_business_offsets),
                cmocka_unit_test(test_bizmonth),
                cmocka_unit_test(test_builtins),
                cmocka_unit_test(test_hh_clock),
                cmocka_unit_test(test_literals),
                cmocka_unit_test(test_errors_structure),
                cmocka_unit_test(test_errors_tokens),
                cmocka_unit_test(test_errors_business),
                cmocka_unit_test(test_errors_offsets),
                cmocka_unit_test(test_errors_add_months),
                cmocka_unit_test(test_errors_names),
                cmocka_unit_test(test_errors_range),
                cmocka_unit_test(test_error_first_wins),
                cmocka_unit_test(test_error_long_quote),
                cmocka_unit_test(test_invalid_input),
                cmocka_unit_test(test_has_expr),
                cmocka_unit_test(test_check_only_syntax),
                cmocka_unit_test(test_pure),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
