/* test_tz.c - km_tz checked against glibc's own zone code (localtime_r, mktime).
 *
 * glibc is the independent reference: only this test sets TZ.  Every zone is
 * sampled every 6 hours over more than a century, every transition glibc
 * shows is checked to the second, and wall-clock readings around each
 * transition are turned back into instants both ways. */
#define _GNU_SOURCE /* setenv, mkdtemp, tm_gmtoff */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kmsync/tz.h"

#define STEP (6 * 3600)

/* What a zone walk saw, for sanity checks on the walk itself. */
struct walk_stats {
        int samples;
        int transitions;
        int exact;
        int gaps;
        int ambiguous;
        int mktime_gaps; /* gaps where mktime() was compared too */
};

/* ---- glibc, the reference ----------------------------------------------- */

static void glibc_zone(const char *tz_value)
{
        setenv("TZ", tz_value, 1);
        tzset();
}

static long glibc_offset(int64_t t)
{
        time_t tt = (time_t)t;
        struct tm tm;
        assert_non_null(localtime_r(&tt, &tm));
        return tm.tm_gmtoff;
}

static int glibc_isdst(int64_t t)
{
        time_t tt = (time_t)t;
        struct tm tm;
        assert_non_null(localtime_r(&tt, &tm));
        return tm.tm_isdst;
}

static int64_t glibc_mktime(const km_civil_t *c, int isdst)
{
        struct tm tm = {0};
        tm.tm_year = c->year - 1900;
        tm.tm_mon = c->mon - 1;
        tm.tm_mday = c->day;
        tm.tm_hour = c->hour;
        tm.tm_min = c->min;
        tm.tm_sec = c->sec;
        tm.tm_isdst = isdst;
        return (int64_t)mktime(&tm);
}

static int64_t at(int y, int mo, int d, int h, int mi, int s)
{
        km_civil_t c = {y, mo, d, h, mi, s};
        return km_civil_to_seconds(&c);
}

static km_tz_t *load_ok(const char *name)
{
        char err[512] = "";
        km_tz_t *tz = km_tz_load(name, err, sizeof(err));
        if (!tz)
                fail_msg("km_tz_load(%s): %s", name, err);
        return tz;
}

/* ---- comparisons ---------------------------------------------------------- */

static void check_instant(const km_tz_t *tz, int64_t t)
{
        time_t tt = (time_t)t;
        struct tm tm;
        km_civil_t c;
        assert_non_null(localtime_r(&tt, &tm));
        if (km_tz_offset_at(tz, t) != tm.tm_gmtoff)
                fail_msg("%s: offset at %lld is %d, glibc says %ld",
                         km_tz_name(tz), (long long)t,
                         (int)km_tz_offset_at(tz, t), tm.tm_gmtoff);
        km_tz_to_local(tz, t, &c);
        assert_int_equal(c.year, tm.tm_year + 1900);
        assert_int_equal(c.mon, tm.tm_mon + 1);
        assert_int_equal(c.day, tm.tm_mday);
        assert_int_equal(c.hour, tm.tm_hour);
        assert_int_equal(c.min, tm.tm_min);
        assert_int_equal(c.sec, tm.tm_sec);
}

/* The instants whose reading in glibc's zone is `wall`, ascending. */
static int glibc_solutions(int64_t wall, const long *offs, int noffs,
                           int64_t sol[])
{
        int n = 0;
        for (int i = 0; i < noffs; i++) {
                int64_t cand = wall - offs[i];
                int dup = 0;
                for (int j = 0; j < n; j++)
                        dup |= sol[j] == cand;
                if (!dup && glibc_offset(cand) == offs[i])
                        sol[n++] = cand;
        }
        if (n == 2 && sol[1] < sol[0]) {
                int64_t x = sol[0];
                sol[0] = sol[1];
                sol[1] = x;
        }
        return n;
}

static void check_exact(const km_tz_t *tz, const km_civil_t *c, int64_t got,
                        int64_t sol)
{
        assert_int_equal(got, sol);
        if (glibc_mktime(c, -1) != got)
                fail_msg("%s: %04d-%02d-%02d %02d:%02d:%02d is %lld, "
                         "mktime says %lld", km_tz_name(tz), c->year, c->mon,
                         c->day, c->hour, c->min, c->sec, (long long)got,
                         (long long)glibc_mktime(c, -1));
}

/* Reading `wall` near a transition from offset ob to oa at instant tr. */
static void check_wall(const km_tz_t *tz, int64_t wall, long ob, long oa,
                       struct walk_stats *st)
{
        long offs[4] = {ob, oa, glibc_offset(wall - 100000),
                        glibc_offset(wall + 100000)};
        int64_t sol[4], got, m;
        km_civil_t c;
        int n = glibc_solutions(wall, offs, 4, sol);
        km_tz_fit_t fit;
        km_civil_from_seconds(wall, &c);
        fit = km_tz_from_local(tz, &c, &got);
        if (n == 1) {
                assert_int_equal(fit, KM_TZ_EXACT);
                check_exact(tz, &c, got, sol[0]);
                st->exact++;
        } else if (n == 2) {
                assert_int_equal(fit, KM_TZ_AMBIGUOUS);
                assert_int_equal(got, sol[0]); /* the earlier one */
                m = glibc_mktime(&c, -1);
                assert_true(m == sol[0] || m == sol[1]);
                st->ambiguous++;
        } else {
                assert_int_equal(n, 0);
                assert_int_equal(fit, KM_TZ_GAP);
                /* Taken with the offset before the gap: moved forward. */
                assert_int_equal(got, wall - ob);
                assert_int_equal(glibc_offset(got), oa);
                /* mktime() agrees where DST starts; at changes of the
                 * standard offset, between two DST offsets and for negative
                 * DST (Dublin) glibc guesses from tm_isdst and may move the
                 * reading back instead. */
                if (glibc_isdst(got - (oa - ob)) == 0 && glibc_isdst(got) == 1) {
                        assert_int_equal(glibc_mktime(&c, -1), got);
                        st->mktime_gaps++;
                }
                st->gaps++;
        }
}

static void check_transition_walls(const km_tz_t *tz, int64_t tr, long ob,
                                   long oa, struct walk_stats *st)
{
        static const int64_t d[] = {-3600, -61, -1, 0, 1, 60, 3600};
        for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
                check_wall(tz, tr + ob + d[i], ob, oa, st);
                check_wall(tz, tr + oa + d[i], ob, oa, st);
        }
        check_wall(tz, tr + (ob + oa) / 2, ob, oa, st);
}

/* The first instant in (lo, hi] whose glibc offset differs from lo's. */
static int64_t find_change(int64_t lo, int64_t hi)
{
        long off = glibc_offset(lo);
        while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;
                if (glibc_offset(mid) == off)
                        lo = mid;
                else
                        hi = mid;
        }
        return hi;
}

static void check_transition(const km_tz_t *tz, int64_t lo,
                             struct walk_stats *st)
{
        int64_t tr = find_change(lo, lo + STEP);
        long ob = glibc_offset(tr - 1), oa = glibc_offset(tr);
        check_instant(tz, tr - 1);
        check_instant(tz, tr);
        check_instant(tz, tr + 1);
        check_transition_walls(tz, tr, ob, oa, st);
        st->transitions++;
}

/* Walks zone tz (glibc's TZ value tz_value) over the years [y0, y1). */
static void walk_zone(const km_tz_t *tz, const char *tz_value, int y0, int y1,
                      struct walk_stats *st)
{
        int64_t end = at(y1, 1, 1, 0, 0, 0);
        memset(st, 0, sizeof(*st));
        glibc_zone(tz_value);
        for (int64_t t = at(y0, 1, 1, 0, 0, 0); t < end; t += STEP) {
                check_instant(tz, t);
                if (glibc_offset(t) != glibc_offset(t + STEP))
                        check_transition(tz, t, st);
                st->samples++;
        }
}

static void walk_named_zone(const char *name, int min_transitions)
{
        char tz_value[128];
        struct walk_stats st;
        km_tz_t *tz = load_ok(name);
        assert_string_equal(km_tz_name(tz), name);
        snprintf(tz_value, sizeof(tz_value), ":%s", name);
        walk_zone(tz, tz_value, 1900, 2111, &st);
        assert_true(st.samples > 300000);
        assert_true(st.transitions >= min_transitions);
        if (min_transitions > 0)
                assert_true(st.gaps > 0 && st.ambiguous > 0 && st.exact > 0 &&
                            st.mktime_gaps > 0);
        km_tz_free(tz);
}

/* ---- the zones ------------------------------------------------------------ */

static void test_utc(void **state)
{
        (void)state;
        walk_named_zone("UTC", 0);
        walk_named_zone("Etc/UTC", 0);
}

static void test_shanghai(void **state)
{
        (void)state;
        walk_named_zone("Asia/Shanghai", 20); /* DST 1940-49, 1986-91 */
}

static void test_new_york(void **state)
{
        (void)state;
        walk_named_zone("America/New_York", 300);
}

static void test_london(void **state)
{
        (void)state;
        walk_named_zone("Europe/London", 300);
}

static void test_lord_howe(void **state)
{
        (void)state;
        walk_named_zone("Australia/Lord_Howe", 200);
}

static void test_kolkata(void **state)
{
        (void)state;
        walk_named_zone("Asia/Kolkata", 3);
}

static void test_chatham(void **state)
{
        (void)state;
        walk_named_zone("Pacific/Chatham", 200);
}

static void test_sao_paulo(void **state)
{
        (void)state;
        walk_named_zone("America/Sao_Paulo", 50);
}

static void test_dublin(void **state)
{
        (void)state;
        walk_named_zone("Europe/Dublin", 300);
}

/* ---- beyond the table: the footer rule ------------------------------------ */

static void test_far_future(void **state)
{
        km_tz_t *ny = load_ok("America/New_York");
        km_tz_t *jr = load_ok("Asia/Jerusalem");
        km_tz_t *sh = load_ok("Asia/Shanghai");
        (void)state;
        /* 2040-03-11 is the second Sunday of March: 02:00 EST = 07:00Z. */
        assert_int_equal(km_tz_offset_at(ny, at(2040, 3, 11, 7, 0, 0) - 1),
                         -18000);
        assert_int_equal(km_tz_offset_at(ny, at(2040, 3, 11, 7, 0, 0)),
                         -14400);
        assert_int_equal(km_tz_offset_at(ny, at(2100, 1, 15, 12, 0, 0)),
                         -18000);
        assert_int_equal(km_tz_offset_at(ny, at(2100, 7, 1, 12, 0, 0)),
                         -14400);
        /* M3.4.4/26: Thursday 2040-03-22 26:00 = Friday 02:00 IST = 00:00Z. */
        assert_int_equal(km_tz_offset_at(jr, at(2040, 3, 23, 0, 0, 0) - 1),
                         7200);
        assert_int_equal(km_tz_offset_at(jr, at(2040, 3, 23, 0, 0, 0)), 10800);
        assert_int_equal(km_tz_offset_at(sh, at(2100, 7, 1, 0, 0, 0)), 28800);
        /* Far outside any calendar: clamped, still sane. */
        assert_int_equal(km_tz_offset_at(sh, INT64_MAX), 28800);
        assert_int_equal(km_tz_offset_at(ny, INT64_MIN),
                         km_tz_offset_at(ny, at(1800, 1, 1, 0, 0, 0)));
        km_tz_free(ny);
        km_tz_free(jr);
        km_tz_free(sh);
}

/* The ends of km_civil_t's years and of int64 stay well defined. */
static void test_extremes(void **state)
{
        static const char *const names[] = {"UTC", "America/New_York",
                                            "Australia/Lord_Howe"};
        km_civil_t lo = {1, 1, 1, 0, 0, 0}, hi = {9999, 12, 31, 23, 59, 59};
        km_civil_t c;
        int64_t t;
        (void)state;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                km_tz_t *tz = load_ok(names[i]);
                assert_int_equal(km_tz_from_local(tz, &lo, &t), KM_TZ_EXACT);
                km_tz_to_local(tz, t, &c);
                assert_int_equal(km_civil_cmp(&c, &lo), 0);
                assert_int_equal(km_tz_from_local(tz, &hi, &t), KM_TZ_EXACT);
                km_tz_to_local(tz, t, &c);
                assert_int_equal(km_civil_cmp(&c, &hi), 0);
                km_tz_to_local(tz, INT64_MAX, &c);
                km_tz_to_local(tz, INT64_MIN, &c);
                km_tz_free(tz);
        }
}

static void test_from_local_examples(void **state)
{
        km_tz_t *ny = load_ok("America/New_York");
        km_civil_t gap = {2022, 3, 13, 2, 30, 0};
        km_civil_t amb = {2022, 11, 6, 1, 30, 0};
        km_civil_t ok = {2022, 11, 22, 10, 5, 0};
        km_civil_t far = {2100, 3, 14, 2, 30, 0};
        km_civil_t back;
        int64_t t;
        (void)state;
        assert_int_equal(km_tz_from_local(ny, &gap, &t), KM_TZ_GAP);
        km_tz_to_local(ny, t, &back);
        assert_int_equal(back.hour, 3); /* 02:30 becomes 03:30 EDT */
        assert_int_equal(back.min, 30);
        assert_int_equal(km_tz_from_local(ny, &amb, &t), KM_TZ_AMBIGUOUS);
        assert_int_equal(t, at(2022, 11, 6, 5, 30, 0)); /* 01:30 EDT */
        assert_int_equal(km_tz_from_local(ny, &ok, &t), KM_TZ_EXACT);
        assert_int_equal(t, at(2022, 11, 22, 15, 5, 0));
        assert_int_equal(km_tz_from_local(ny, &far, &t), KM_TZ_GAP);
        assert_int_equal(t, at(2100, 3, 14, 7, 30, 0));
        km_tz_free(ny);
}

/* ---- crafted files --------------------------------------------------------- */

static char zone_dir[64];

static void put_be32(unsigned char *p, uint32_t v)
{
        p[0] = (unsigned char)(v >> 24);
        p[1] = (unsigned char)(v >> 16);
        p[2] = (unsigned char)(v >> 8);
        p[3] = (unsigned char)v;
}

/* Header and block of a TZif section with no transitions and one type. */
static size_t one_type_section(unsigned char *p, int32_t utoff)
{
        memset(p, 0, 44 + 10);
        memcpy(p, "TZif2", 5);
        put_be32(p + 36, 1); /* typecnt */
        put_be32(p + 40, 4); /* charcnt */
        put_be32(p + 44, (uint32_t)utoff);
        memcpy(p + 50, "ZZZ", 4);
        return 44 + 10;
}

static void write_file(const char *name, const void *data, size_t len)
{
        char path[256];
        FILE *f;
        snprintf(path, sizeof(path), "%s/%s", zone_dir, name);
        f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

/* A v2 file holding no transitions, only `footer` (RFC 8536: it then gives
 * the offsets of all time). */
static void write_rule_zone(const char *name, const char *footer,
                            int32_t utoff)
{
        unsigned char buf[512];
        size_t n = one_type_section(buf, utoff);
        n += one_type_section(buf + n, utoff);
        n += (size_t)snprintf((char *)buf + n, sizeof(buf) - n, "\n%s\n",
                              footer);
        write_file(name, buf, n);
}

static int setup_dir(void **state)
{
        (void)state;
        snprintf(zone_dir, sizeof(zone_dir), "/tmp/km_tz_test.XXXXXX");
        if (!mkdtemp(zone_dir))
                return -1;
        setenv("KMSYNC_ZONEINFO", zone_dir, 1);
        return 0;
}

/* Removes the flat directory of crafted files. */
static int teardown_dir(void **state)
{
        DIR *d = opendir(zone_dir);
        struct dirent *e;
        char path[320];
        (void)state;
        unsetenv("KMSYNC_ZONEINFO");
        if (!d)
                return -1;
        while ((e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", zone_dir, e->d_name);
                unlink(path);
        }
        closedir(d);
        return rmdir(zone_dir);
}

/* Footer rules against glibc reading the same POSIX string from TZ. */
static void test_posix_rules(void **state)
{
        static const struct {
                const char *rule;
                int32_t std;
        } rules[] = {
                {"EST5EDT,M3.2.0,M11.1.0", -18000},
                {"CST-8", 28800},
                {"<+0330>-3:30", 12600},
                {"IST-2IDT,M3.4.4/26,M10.5.0", 7200},
                {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", -7200},
                {"<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45", 45900},
                {"IST-1GMT0,M10.5.0,M3.5.0/1", 3600},
                {"AAA3BBB,J60/2,J300/1:30", -10800},
                {"AAA-1BBB,59/2,300/23:59:59", 3600},
                {"AAA3BBB,J59/0,J365/0", -10800},
                {"AAA+4BBB+2:30,M4.5.6/-20,M9.1.1/49", -14400},
        };
        struct walk_stats st;
        (void)state;
        for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
                char name[32];
                km_tz_t *tz;
                snprintf(name, sizeof(name), "Rule%zu", i);
                write_rule_zone(name, rules[i].rule, rules[i].std);
                tz = load_ok(name);
                walk_zone(tz, rules[i].rule, 1970, 2111, &st);
                km_tz_free(tz);
        }
}

/* RFC 8536's DST all year round.  glibc leaves DST for the hours before
 * each year's start, so this one is checked against the RFC alone. */
static void test_posix_permanent_dst(void **state)
{
        km_civil_t c;
        int64_t t, got;
        km_tz_t *tz;
        (void)state;
        write_rule_zone("Permanent", "EST5EDT,0/0,J365/25", -18000);
        tz = load_ok("Permanent");
        for (t = at(1970, 1, 1, 0, 0, 0); t < at(2111, 1, 1, 0, 0, 0);
             t += STEP)
                assert_int_equal(km_tz_offset_at(tz, t), -14400);
        for (int y = 1970; y < 2111; y++) {
                t = at(y, 1, 1, 5, 0, 0);
                assert_int_equal(km_tz_offset_at(tz, t - 1), -14400);
                assert_int_equal(km_tz_offset_at(tz, t), -14400);
                km_civil_from_seconds(t - 14400, &c);
                assert_int_equal(km_tz_from_local(tz, &c, &got), KM_TZ_EXACT);
                assert_int_equal(got, t);
        }
        km_tz_free(tz);
}

/* "EST5EDT" with no dates: the US rules, as glibc assumes. */
static void test_posix_default_rule(void **state)
{
        km_tz_t *tz;
        (void)state;
        write_rule_zone("Default", "XST5XDT", -18000);
        tz = load_ok("Default");
        assert_int_equal(km_tz_offset_at(tz, at(2030, 3, 10, 7, 0, 0) - 1),
                         -18000);
        assert_int_equal(km_tz_offset_at(tz, at(2030, 3, 10, 7, 0, 0)),
                         -14400);
        assert_int_equal(km_tz_offset_at(tz, at(2030, 11, 3, 6, 0, 0) - 1),
                         -14400);
        assert_int_equal(km_tz_offset_at(tz, at(2030, 11, 3, 6, 0, 0)),
                         -18000);
        km_tz_free(tz);
}

static unsigned char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        unsigned char *buf = malloc(1 << 20);
        assert_non_null(f);
        assert_non_null(buf);
        *len = fread(buf, 1, 1 << 20, f);
        fclose(f);
        return buf;
}

/* A version 1 file: only the 32-bit section, no footer. */
static void test_v1_only(void **state)
{
        size_t len, size;
        unsigned char *buf = slurp("/usr/share/zoneinfo/America/New_York",
                                   &len);
        uint32_t c[6];
        struct walk_stats st;
        km_tz_t *tz;
        (void)state;
        for (int i = 0; i < 6; i++)
                c[i] = (uint32_t)buf[20 + 4 * i] << 24 |
                       (uint32_t)buf[21 + 4 * i] << 16 |
                       (uint32_t)buf[22 + 4 * i] << 8 | buf[23 + 4 * i];
        size = 44 + c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
        assert_true(size < len);
        buf[4] = 0;
        write_file("OldStyle", buf, size);
        free(buf);
        tz = load_ok("OldStyle");
        walk_zone(tz, ":America/New_York", 1902, 2037, &st);
        assert_true(st.transitions > 200);
        km_tz_free(tz);
}

static void expect_refused(const char *name, const char *needle)
{
        char err[512] = "";
        km_tz_t *tz = km_tz_load(name, err, sizeof(err));
        if (tz) {
                km_tz_free(tz);
                fail_msg("zone '%s' was accepted", name);
        }
        if (!strstr(err, needle))
                fail_msg("message for '%s' lacks '%s': %s", name, needle, err);
}

static void test_bad_files(void **state)
{
        unsigned char buf[512];
        size_t n;
        (void)state;
        write_file("Garbage", "hello, world\n", 13);
        expect_refused("Garbage", "not a tzif file");
        n = one_type_section(buf, 0);
        write_file("Short", buf, n - 3);
        expect_refused("Short", "truncated");
        n += one_type_section(buf + n, 0);
        memcpy(buf + n, "\nnot a rule\n", 12);
        write_file("BadFooter", buf, n + 12);
        expect_refused("BadFooter", "footer");
        expect_refused("Nowhere/Zone", "unknown time zone 'Nowhere/Zone'");
}

/* ---- names ---------------------------------------------------------------- */

static void test_bad_names(void **state)
{
        (void)state;
        expect_refused("Mars/Olympus", "unknown time zone 'Mars/Olympus'");
        expect_refused("../etc/passwd", "invalid time zone name");
        expect_refused("/etc/localtime", "invalid time zone name");
        expect_refused("Asia/../Asia/Shanghai", "invalid time zone name");
        expect_refused("Asia/Shanghai/", "invalid time zone name");
        expect_refused("Asia//Shanghai", "invalid time zone name");
        expect_refused("Asia/Shang hai", "invalid time zone name");
        expect_refused("Asia/Shanghai;ls", "invalid time zone name");
        expect_refused("zone.tab", "invalid time zone name");
        expect_refused("", "invalid time zone name");
        expect_refused("America", "unknown time zone"); /* a directory */
        expect_refused("right/UTC", "leap seconds");
        assert_null(km_tz_load(NULL, NULL, 0));
}

static void test_utc_without_files(void **state)
{
        km_civil_t c = {2022, 11, 22, 10, 5, 0}, back;
        int64_t t;
        km_tz_t *tz;
        (void)state;
        setenv("KMSYNC_ZONEINFO", "/nonexistent/zoneinfo", 1);
        tz = load_ok("UTC");
        assert_int_equal(km_tz_offset_at(tz, 1669111500), 0);
        assert_int_equal(km_tz_from_local(tz, &c, &t), KM_TZ_EXACT);
        assert_int_equal(t, at(2022, 11, 22, 10, 5, 0));
        km_tz_to_local(tz, t, &back);
        assert_int_equal(km_civil_cmp(&c, &back), 0);
        km_tz_free(tz);
        tz = load_ok("Etc/UTC");
        assert_string_equal(km_tz_name(tz), "Etc/UTC");
        km_tz_free(tz);
        expect_refused("Asia/Shanghai", "/nonexistent/zoneinfo/Asia/Shanghai");
        unsetenv("KMSYNC_ZONEINFO");
        km_tz_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_utc),
                cmocka_unit_test(test_shanghai),
                cmocka_unit_test(test_new_york),
                cmocka_unit_test(test_london),
                cmocka_unit_test(test_lord_howe),
                cmocka_unit_test(test_kolkata),
                cmocka_unit_test(test_chatham),
                cmocka_unit_test(test_sao_paulo),
                cmocka_unit_test(test_dublin),
                cmocka_unit_test(test_far_future),
                cmocka_unit_test(test_extremes),
                cmocka_unit_test(test_from_local_examples),
                cmocka_unit_test(test_bad_names),
                cmocka_unit_test(test_utc_without_files),
                cmocka_unit_test_setup_teardown(test_posix_rules, setup_dir,
                                                teardown_dir),
                cmocka_unit_test_setup_teardown(test_posix_permanent_dst,
                                                setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_posix_default_rule,
                                                setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_v1_only, setup_dir,
                                                teardown_dir),
                cmocka_unit_test_setup_teardown(test_bad_files, setup_dir,
                                                teardown_dir),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
