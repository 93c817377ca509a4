/* civil.c - proleptic Gregorian calendar arithmetic on wall-clock times.
 *
 * Day counting uses the era-based algorithm (400-year cycles of 146097 days),
 * which is exact for every year of the proleptic Gregorian calendar and needs
 * no tables. */
#include "kmsync/civil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int64_t floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0)))
                q--;
        return q;
}

int64_t km_days_from_civil(int year, int mon, int day)
{
        int64_t y = (int64_t)year - (mon <= 2);
        int64_t era = floor_div(y, 400);
        int64_t yoe = y - era * 400;                                  /* [0, 399] */
        int64_t mp = (mon + 9) % 12;                                  /* March = 0 */
        int64_t doy = (153 * mp + 2) / 5 + day - 1;                   /* [0, 365] */
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
        return era * 146097 + doe - 719468;
}

void km_civil_from_days(int64_t days, int *year, int *mon, int *day)
{
        int64_t z = days + 719468;
        int64_t era = floor_div(z, 146097);
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        int d = (int)(doy - (153 * mp + 2) / 5 + 1);
        int m = (int)(mp < 10 ? mp + 3 : mp - 9);
        *year = (int)(yoe + era * 400 + (m <= 2));
        *mon = m;
        *day = d;
}

int64_t km_civil_to_seconds(const km_civil_t *c)
{
        return km_days_from_civil(c->year, c->mon, c->day) * 86400 +
               c->hour * 3600 + c->min * 60 + c->sec;
}

void km_civil_from_seconds(int64_t secs, km_civil_t *out)
{
        int64_t days = floor_div(secs, 86400);
        int64_t rem = secs - days * 86400;
        km_civil_from_days(days, &out->year, &out->mon, &out->day);
        out->hour = (int)(rem / 3600);
        out->min = (int)(rem % 3600 / 60);
        out->sec = (int)(rem % 60);
}

int km_is_leap_year(int year)
{
        return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int km_days_in_month(int year, int mon)
{
        static const int days[12] = {31, 28, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31};
        if (mon < 1 || mon > 12)
                return 0;
        return days[mon - 1] + (mon == 2 && km_is_leap_year(year));
}

int km_weekday(int year, int mon, int day)
{
        int64_t d = km_days_from_civil(year, mon, day);
        /* 1970-01-01 was a Thursday (4). */
        return (int)(((d % 7) + 7 + 4) % 7);
}

int km_civil_valid(const km_civil_t *c)
{
        return c->year >= 1 && c->year <= 9999 && c->mon >= 1 &&
               c->mon <= 12 && c->day >= 1 &&
               c->day <= km_days_in_month(c->year, c->mon) && c->hour >= 0 &&
               c->hour <= 23 && c->min >= 0 && c->min <= 59 && c->sec >= 0 &&
               c->sec <= 59;
}

int km_civil_cmp(const km_civil_t *a, const km_civil_t *b)
{
        int64_t x = km_civil_to_seconds(a), y = km_civil_to_seconds(b);
        return (x > y) - (x < y);
}

/* Reads exactly n digits at *p into *val; advances *p. */
static int read_digits(const char **p, int n, int *val)
{
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (!isdigit((unsigned char)(*p)[i]))
                        return -1;
                v = v * 10 + ((*p)[i] - '0');
        }
        *p += n;
        *val = v;
        return 0;
}

static int finish(const km_civil_t *c, km_civil_t *out)
{
        if (!km_civil_valid(c))
                return -1;
        *out = *c;
        return 0;
}

int km_civil_parse(const char *text, km_civil_t *out)
{
        km_civil_t c = {0};
        const char *p = text;
        if (read_digits(&p, 4, &c.year) || *p++ != '-' ||
            read_digits(&p, 2, &c.mon) || *p++ != '-' ||
            read_digits(&p, 2, &c.day))
                return -1;
        if (*p == '\0')
                return finish(&c, out);
        if (*p != ' ' && *p != 'T')
                return -1;
        p++;
        if (read_digits(&p, 2, &c.hour) || *p++ != ':' ||
            read_digits(&p, 2, &c.min))
                return -1;
        if (*p == ':') {
                p++;
                if (read_digits(&p, 2, &c.sec))
                        return -1;
        }
        if (*p != '\0')
                return -1;
        return finish(&c, out);
}

int km_civil_parse_compact(const char *text, km_civil_t *out)
{
        size_t n = strlen(text);
        km_civil_t c = {0};
        const char *p = text;
        if (n != 8 && n != 10 && n != 12 && n != 14)
                return km_civil_parse(text, out);
        if (read_digits(&p, 4, &c.year) || read_digits(&p, 2, &c.mon) ||
            read_digits(&p, 2, &c.day))
                return -1;
        if (n >= 10 && read_digits(&p, 2, &c.hour))
                return -1;
        if (n >= 12 && read_digits(&p, 2, &c.min))
                return -1;
        if (n >= 14 && read_digits(&p, 2, &c.sec))
                return -1;
        return finish(&c, out);
}

void km_civil_format(const km_civil_t *c, char buf[20])
{
        snprintf(buf, 20, "%04u-%02u-%02u %02u:%02u:%02u",
                 (unsigned)c->year % 10000u, (unsigned)c->mon % 100u,
                 (unsigned)c->day % 100u, (unsigned)c->hour % 100u,
                 (unsigned)c->min % 100u, (unsigned)c->sec % 100u);
}
