/* calendar.h - schedule calendars: when the instances of a SYNC are due.
 *
 * A schedule is a rule over wall-clock times in the plan's zone, as DataWorks
 * cycles are: every N minutes or hours between a first and a last time of
 * day, daily, weekly on chosen weekdays, monthly on chosen days.  The
 * calendar works on wall-clock readings (km_civil_t) only; the scheduler
 * turns them into instants with tz.h. */
#ifndef KMSYNC_CALENDAR_H
#define KMSYNC_CALENDAR_H

#include <stdint.h>

#include "kmsync/civil.h"

typedef enum km_sched_kind {
        KM_SCHED_NONE = 0, /* no SCHEDULE clause: run on demand only */
        KM_SCHED_MINUTES,  /* EVERY n MINUTES [FROM 'hh:mi' TO 'hh:mi'] */
        KM_SCHED_HOURS,    /* EVERY n HOURS [FROM .. TO ..], HOURLY AT MINUTE m */
        KM_SCHED_DAILY,    /* DAILY AT 'hh:mi' */
        KM_SCHED_WEEKLY,   /* WEEKLY ON MONDAY[, ...] AT 'hh:mi' */
        KM_SCHED_MONTHLY,  /* MONTHLY ON DAY d[, ...] | LAST DAY AT 'hh:mi' */
} km_sched_kind_t;

typedef struct km_schedule {
        km_sched_kind_t kind;
        int every;         /* MINUTES/HOURS: the interval, >= 1 */
        int from_min;      /* MINUTES/HOURS: first time of day, minutes after 00:00 */
        int to_min;        /* MINUTES/HOURS: last time of day, inclusive */
        int at_min;        /* DAILY/WEEKLY/MONTHLY: time of day, minutes after 00:00 */
        unsigned weekdays; /* WEEKLY: bit w set for weekday w, 0 = Sunday */
        uint32_t monthdays; /* MONTHLY: bit d set for day d (1..31) */
        int last_day;      /* MONTHLY: also the last day of every month */
} km_schedule_t;

/* Times of one day, in order: MINUTES runs at from_min, from_min + every, ...
 * while <= to_min; HOURS the same in steps of every * 60 minutes (DataWorks:
 * 00:00-03:00 hourly is 4 instances).  Days: DAILY every day, WEEKLY on the
 * weekdays set, MONTHLY on the days set that the month has (day 31 does not
 * run in April) and on the last day when last_day is set.
 *
 * A month day missing from a month is skipped, never moved. */

/* 1 if wall-clock reading t is a scheduled time (seconds must be 0). */
int km_sched_is_due(const km_schedule_t *s, const km_civil_t *t);

/* The first scheduled reading strictly after `after`, into *next.  Returns 0,
 * or -1 when the schedule never runs (KM_SCHED_NONE, or no day matches). */
int km_sched_next(const km_schedule_t *s, const km_civil_t *after,
                  km_civil_t *next);

/* The last scheduled reading strictly before `before`; 0 or -1 as above. */
int km_sched_prev(const km_schedule_t *s, const km_civil_t *before,
                  km_civil_t *prev);

/* Validates the fields; returns NULL or a static message naming the problem
 * ("interval must be 1..59 minutes" etc.). */
const char *km_sched_validate(const km_schedule_t *s);

/* Writes a one-line description such as "every 5 minutes from 00:00 to
 * 23:59" or "weekly on Monday at 00:15" into buf. */
void km_sched_describe(const km_schedule_t *s, char *buf, size_t len);

#endif
