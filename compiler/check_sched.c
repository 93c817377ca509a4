/* check_sched.c - SCHEDULE: from the words the user wrote to a calendar
 * rule (calendar.h), with every part checked. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "check_int.h"
#include "util.h"

/* 'hh:mi' to minutes after midnight; -1 and an error when it is not. */
static int time_of_day(km_checker_t *c, const km_value_t *v, const char *what)
{
        int h, m, n = 0;
        if (!km_check_literal(c, v, what))
                return -1;
        if (sscanf(v->text, "%2d:%2d%n", &h, &m, &n) == 2 &&
            (size_t)n == strlen(v->text) && h >= 0 && h <= 23 && m >= 0 &&
            m <= 59)
                return h * 60 + m;
        km_diag_error(c->d, v->loc,
                      "%s '%s' is not a time of day: write 'hh:mi' from "
                      "'00:00' to '23:59', e.g. '00:15'",
                      what, v->text);
        return -1;
}

static void check_every(km_checker_t *c, const km_sched_clause_t *k,
                        km_schedule_t *s)
{
        int64_t unit = km_check_unit(c, &k->every.unit);
        if (unit == 60) {
                s->kind = KM_SCHED_MINUTES;
        } else if (unit == 3600) {
                s->kind = KM_SCHED_HOURS;
        } else if (unit) {
                km_diag_error(c->d, k->every.unit.loc,
                              "SCHEDULE EVERY takes MINUTES or HOURS, not "
                              "'%s'%s",
                              k->every.unit.text,
                              unit > 3600 ? "; for days write DAILY AT "
                                            "'hh:mi'"
                                          : ": the shortest interval is "
                                            "1 MINUTE");
                return;
        }
        s->every = (int)(k->every.amount.value > 100000
                                 ? 100000
                                 : k->every.amount.value);
        s->from_min = 0;
        s->to_min = 23 * 60 + 59;
        if (k->from.set) {
                s->from_min = time_of_day(c, &k->from, "FROM");
                s->to_min = time_of_day(c, &k->to, "TO");
        }
}

static int weekday_of(const char *name)
{
        static const char *const full[] = {"SUNDAY",   "MONDAY", "TUESDAY",
                                           "WEDNESDAY", "THURSDAY", "FRIDAY",
                                           "SATURDAY"};
        for (int w = 0; w < 7; w++)
                if (km_strcaseeq(name, full[w]) ||
                    (strlen(name) == 3 && strncasecmp(name, full[w], 3) == 0))
                        return w;
        return -1;
}

static void check_days(km_checker_t *c, const km_sched_clause_t *k,
                       km_schedule_t *s)
{
        for (const km_day_item_t *d = k->days; d; d = d->next) {
                if (k->form == KM_SF_WEEKLY) {
                        int w = weekday_of(d->name.text);
                        if (w < 0)
                                km_diag_error(c->d, d->loc,
                                              "'%s' is not a weekday: write "
                                              "MONDAY .. SUNDAY",
                                              d->name.text);
                        else
                                s->weekdays |= 1u << w;
                } else if (d->last) {
                        s->last_day = 1;
                } else if (d->day.value < 1 || d->day.value > 31) {
                        km_diag_error(c->d, d->loc,
                                      "day %lld is not a day of the month: "
                                      "write 1 .. 31 or LAST DAY",
                                      (long long)d->day.value);
                } else {
                        s->monthdays |= 1u << d->day.value;
                        if (d->day.value > 28)
                                km_diag_warning(c->d, d->loc,
                                                "months without day %lld skip "
                                                "this run; LAST DAY runs on "
                                                "every month's last day",
                                                (long long)d->day.value);
                }
        }
}

void km_check_schedule(km_checker_t *c, const km_sync_stmt_t *y,
                       km_sync_plan_t *sync)
{
        const km_sched_clause_t *k = &y->schedule;
        km_schedule_t *s = &sync->schedule;
        memset(s, 0, sizeof(*s));
        if (!k->set)
                return;
        int errors = c->d->errors;
        switch (k->form) {
        case KM_SF_EVERY:
                check_every(c, k, s);
                break;
        case KM_SF_HOURLY:
                s->kind = KM_SCHED_HOURS;
                s->every = 1;
                s->from_min = (int)(k->minute.value > 59 ? -1 : k->minute.value);
                s->to_min = 23 * 60 + 59;
                if (s->from_min < 0)
                        km_diag_error(c->d, k->minute.loc,
                                      "HOURLY AT MINUTE takes 0 .. 59");
                break;
        default:
                s->kind = k->form == KM_SF_DAILY    ? KM_SCHED_DAILY
                          : k->form == KM_SF_WEEKLY ? KM_SCHED_WEEKLY
                                                    : KM_SCHED_MONTHLY;
                s->at_min = time_of_day(c, &k->at, "AT");
                check_days(c, k, s);
                break;
        }
        if (c->d->errors != errors)
                return;
        const char *why = km_sched_validate(s);
        if (why)
                km_diag_error(c->d, k->loc, "SCHEDULE: %s", why);
}
