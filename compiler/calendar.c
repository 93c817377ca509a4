/* calendar.c - schedule calendars: the wall-clock times a SYNC is due.
 *
 * A schedule is split into the days it runs on and the times of such a day
 * (an arithmetic series of minutes).  Searches step day by day, at most about
 * eight years, and compute the time within a day directly. */
#include "kmsync/calendar.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MIN_PER_DAY 1440
#define SEC_PER_DAY 86400
/* A search gives up after this many days without a scheduled time. */
#define MAX_SEARCH_DAYS (8 * 366)

/* The times of one scheduled day: from, from + step, ... while <= to. */
struct day_times {
        int from; /* minutes after 00:00 */
        int to;
        int step;
};

static void get_day_times(const km_schedule_t *s, struct day_times *dt)
{
        if (s->kind == KM_SCHED_MINUTES || s->kind == KM_SCHED_HOURS) {
                dt->from = s->from_min;
                dt->to = s->to_min;
                dt->step = s->kind == KM_SCHED_HOURS ? s->every * 60 :
                                                       s->every;
        } else {
                dt->from = s->at_min;
                dt->to = s->at_min;
                dt->step = 1;
        }
}

/* 1 if the schedule runs on date y-m-d at all. */
static int runs_on(const km_schedule_t *s, int y, int m, int d)
{
        switch (s->kind) {
        case KM_SCHED_WEEKLY:
                return (s->weekdays >> km_weekday(y, m, d)) & 1u;
        case KM_SCHED_MONTHLY:
                return ((s->monthdays >> d) & 1u) ||
                       (s->last_day && d == km_days_in_month(y, m));
        default:
                return 1;
        }
}

static int runs_on_day(const km_schedule_t *s, int64_t days)
{
        int y, m, d;
        km_civil_from_days(days, &y, &m, &d);
        return runs_on(s, y, m, d);
}

/* The first time of the day strictly after second sod of it (-1: the day's
 * first time), in minutes, or -1. */
static int first_after(const struct day_times *dt, int sod)
{
        int m = sod < 0 ? 0 : sod / 60 + 1;
        if (m <= dt->from)
                return dt->from;
        m = dt->from + (m - dt->from + dt->step - 1) / dt->step * dt->step;
        return m <= dt->to ? m : -1;
}

/* The last time of the day strictly before second sod of it (SEC_PER_DAY:
 * the day's last time), in minutes, or -1. */
static int last_before(const struct day_times *dt, int sod)
{
        int m = (sod + 59) / 60 - 1;
        if (m > dt->to)
                m = dt->to;
        if (m < dt->from)
                return -1;
        return dt->from + (m - dt->from) / dt->step * dt->step;
}

/* Writes day `days` at minute `min` into *out; -1 if it leaves 1..9999. */
static int emit(int64_t days, int min, km_civil_t *out)
{
        km_civil_t c;
        km_civil_from_days(days, &c.year, &c.mon, &c.day);
        c.hour = min / 60;
        c.min = min % 60;
        c.sec = 0;
        if (c.year < 1 || c.year > 9999)
                return -1;
        *out = c;
        return 0;
}

/* Splits a reading into days since the epoch and the second of that day. */
static void split(const km_civil_t *t, int64_t *days, int *sod)
{
        int64_t secs = km_civil_to_seconds(t);
        int64_t d = secs / SEC_PER_DAY;
        if (secs % SEC_PER_DAY < 0)
                d--;
        *days = d;
        *sod = (int)(secs - d * SEC_PER_DAY);
}

static int searchable(const km_schedule_t *s)
{
        return s->kind != KM_SCHED_NONE && km_sched_validate(s) == NULL;
}

int km_sched_is_due(const km_schedule_t *s, const km_civil_t *t)
{
        struct day_times dt;
        int m = t->hour * 60 + t->min;
        if (!searchable(s) || !km_civil_valid(t) || t->sec != 0 ||
            !runs_on(s, t->year, t->mon, t->day))
                return 0;
        get_day_times(s, &dt);
        return m >= dt.from && m <= dt.to && (m - dt.from) % dt.step == 0;
}

int km_sched_next(const km_schedule_t *s, const km_civil_t *after,
                  km_civil_t *next)
{
        struct day_times dt;
        int64_t days;
        int sod;
        if (!searchable(s))
                return -1;
        get_day_times(s, &dt);
        split(after, &days, &sod);
        for (int i = 0; i <= MAX_SEARCH_DAYS; i++, days++, sod = -1) {
                int m = runs_on_day(s, days) ? first_after(&dt, sod) : -1;
                if (m >= 0)
                        return emit(days, m, next);
        }
        return -1;
}

int km_sched_prev(const km_schedule_t *s, const km_civil_t *before,
                  km_civil_t *prev)
{
        struct day_times dt;
        int64_t days;
        int sod;
        if (!searchable(s))
                return -1;
        get_day_times(s, &dt);
        split(before, &days, &sod);
        for (int i = 0; i <= MAX_SEARCH_DAYS; i++, days--, sod = SEC_PER_DAY) {
                int m = runs_on_day(s, days) ? last_before(&dt, sod) : -1;
                if (m >= 0)
                        return emit(days, m, prev);
        }
        return -1;
}

/* ---- validation ----------------------------------------------------------- */

static int time_ok(int min)
{
        return min >= 0 && min < MIN_PER_DAY;
}

static const char *check_range(const km_schedule_t *s)
{
        if (!time_ok(s->from_min))
                return "first time of day must be between 00:00 and 23:59";
        if (!time_ok(s->to_min))
                return "last time of day must be between 00:00 and 23:59";
        if (s->from_min > s->to_min)
                return "first time of day must not be after the last time "
                       "of day";
        return NULL;
}

static const char *check_days(const km_schedule_t *s)
{
        if (s->kind == KM_SCHED_WEEKLY) {
                if (s->weekdays & ~0x7fu)
                        return "weekdays must be sunday..saturday (bits 0..6)";
                if (s->weekdays == 0)
                        return "weekly schedule needs at least one weekday";
        } else if (s->kind == KM_SCHED_MONTHLY) {
                if (s->monthdays & 1u)
                        return "days of the month must be 1..31";
                if (s->monthdays == 0 && !s->last_day)
                        return "monthly schedule needs at least one day of "
                               "the month or the last day";
        }
        return NULL;
}

const char *km_sched_validate(const km_schedule_t *s)
{
        switch (s->kind) {
        case KM_SCHED_NONE:
                return NULL;
        case KM_SCHED_MINUTES:
                if (s->every < 1 || s->every > 59)
                        return "interval must be 1..59 minutes (use hours "
                               "for longer intervals)";
                return check_range(s);
        case KM_SCHED_HOURS:
                if (s->every < 1 || s->every > 23)
                        return "interval must be 1..23 hours (use daily for "
                               "once a day)";
                return check_range(s);
        case KM_SCHED_DAILY:
        case KM_SCHED_WEEKLY:
        case KM_SCHED_MONTHLY:
                if (!time_ok(s->at_min))
                        return "time of day must be between 00:00 and 23:59";
                return check_days(s);
        }
        return "unknown schedule kind";
}

/* ---- description ---------------------------------------------------------- */

/* A bounded string being appended to. */
struct text {
        char *buf;
        size_t len;
        size_t used;
};

static void put(struct text *t, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
        va_list ap;
        int n;
        if (t->used >= t->len)
                return;
        va_start(ap, fmt);
        n = vsnprintf(t->buf + t->used, t->len - t->used, fmt, ap);
        va_end(ap);
        if (n > 0)
                t->used += (size_t)n;
}

static void put_time(struct text *t, int min)
{
        if (time_ok(min))
                put(t, "%02d:%02d", min / 60, min % 60);
        else
                put(t, "%d minutes", min);
}

static void put_range(struct text *t, const km_schedule_t *s)
{
        put(t, " from ");
        put_time(t, s->from_min);
        put(t, " to ");
        put_time(t, s->to_min);
}

static void describe_minutes(struct text *t, const km_schedule_t *s)
{
        if (s->every == 1)
                put(t, "every minute");
        else
                put(t, "every %d minutes", s->every);
        put_range(t, s);
}

/* HOURLY AT MINUTE m is every hour from 00:mm through the day. */
static void describe_hours(struct text *t, const km_schedule_t *s)
{
        if (s->every == 1 && s->from_min >= 0 && s->from_min < 60 &&
            s->to_min >= 23 * 60 + s->from_min && s->to_min < MIN_PER_DAY) {
                put(t, "hourly at minute %d", s->from_min);
                return;
        }
        if (s->every == 1)
                put(t, "every hour");
        else
                put(t, "every %d hours", s->every);
        put_range(t, s);
}

static void describe_weekly(struct text *t, const km_schedule_t *s)
{
        static const char *const names[7] = {
                "Sunday", "Monday", "Tuesday", "Wednesday",
                "Thursday", "Friday", "Saturday"};
        const char *sep = "";
        put(t, "weekly on ");
        for (int i = 1; i <= 7; i++) { /* Monday first, Sunday last */
                if ((s->weekdays >> (i % 7)) & 1u) {
                        put(t, "%s%s", sep, names[i % 7]);
                        sep = ", ";
                }
        }
}

static void describe_monthly(struct text *t, const km_schedule_t *s)
{
        const char *sep = "day ";
        put(t, "monthly on ");
        for (int d = 1; d <= 31; d++) {
                if ((s->monthdays >> d) & 1u) {
                        put(t, "%s%d", sep, d);
                        sep = ", ";
                }
        }
        if (s->last_day)
                put(t, "%sthe last day", s->monthdays >> 1 ? " and " : "");
}

void km_sched_describe(const km_schedule_t *s, char *buf, size_t len)
{
        struct text t = {buf, len, 0};
        if (len == 0)
                return;
        buf[0] = '\0';
        switch (s->kind) {
        case KM_SCHED_NONE:
                put(&t, "on demand only");
                return;
        case KM_SCHED_MINUTES:
                describe_minutes(&t, s);
                return;
        case KM_SCHED_HOURS:
                describe_hours(&t, s);
                return;
        case KM_SCHED_DAILY:
                put(&t, "daily");
                break;
        case KM_SCHED_WEEKLY:
                describe_weekly(&t, s);
                break;
        case KM_SCHED_MONTHLY:
                describe_monthly(&t, s);
                break;
        default:
                put(&t, "unknown schedule");
                return;
        }
        put(&t, " at ");
        put_time(&t, s->at_min);
}
