/* civil.h - proleptic Gregorian calendar arithmetic on wall-clock times.
 *
 * A km_civil_t is a wall-clock reading with no time zone attached ("2022-11-22
 * 10:05:00").  Scheduling parameters and schedule calendars work on these;
 * tz.h turns them into instants.  All functions are pure and thread-safe. */
#ifndef KMSYNC_CIVIL_H
#define KMSYNC_CIVIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct km_civil {
        int year; /* 1..9999 */
        int mon;  /* 1..12 */
        int day;  /* 1..31 */
        int hour; /* 0..23 */
        int min;  /* 0..59 */
        int sec;  /* 0..59 */
} km_civil_t;

/* Days since 1970-01-01 of a date (negative before it). */
int64_t km_days_from_civil(int year, int mon, int day);
/* Inverse of km_days_from_civil(). */
void km_civil_from_days(int64_t days, int *year, int *mon, int *day);

/* Wall-clock seconds since 1970-01-01 00:00:00 of the same wall clock
 * (the reading taken as if it were UTC), and back. */
int64_t km_civil_to_seconds(const km_civil_t *c);
void km_civil_from_seconds(int64_t secs, km_civil_t *out);

int km_is_leap_year(int year);
int km_days_in_month(int year, int mon);
/* 0 = Sunday .. 6 = Saturday. */
int km_weekday(int year, int mon, int day);

/* 1 if every field is in range (including the day of that month). */
int km_civil_valid(const km_civil_t *c);
/* Three-way comparison. */
int km_civil_cmp(const km_civil_t *a, const km_civil_t *b);

/* Parses 'YYYY-MM-DD HH:MM[:SS]' (also 'YYYY-MM-DDTHH:MM[:SS]' and
 * 'YYYY-MM-DD', meaning 00:00).  Returns 0 on success, -1 if the text is not
 * such a time or names a day that does not exist. */
int km_civil_parse(const char *text, km_civil_t *out);

/* Parses the digit forms DataWorks window bounds use: 'yyyymmddhhmiss' (14
 * digits), 'yyyymmddhhmi' (12), 'yyyymmddhh' (10), 'yyyymmdd' (8), and the
 * forms km_civil_parse() takes.  Returns 0 or -1 like km_civil_parse(). */
int km_civil_parse_compact(const char *text, km_civil_t *out);

/* Writes 'YYYY-MM-DD HH:MM:SS' (19 chars + NUL) into buf. */
void km_civil_format(const km_civil_t *c, char buf[20]);

#endif
