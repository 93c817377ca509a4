/* export.c - schedule exports: a SYNC's calendar as cron, Quartz and systemd
 * expressions, wrapped in the definition each of five schedulers reads.
 *
 * A schedule is a set of days times a set of times of day (calendar.h).
 * The times of day are split into groups of hours that run at the same
 * minutes; each group on each kind of day is one expression, so the
 * expressions together fire exactly at the scheduled times and never twice
 * at one.  The times come from km_sched_is_due() itself, not from a second
 * reading of the schedule's fields. */
#include "export.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsync/calendar.h"
#include "kmsync/civil.h"
#include "kmsync/tz.h"
#include "util.h"

#define MAX_GROUPS 24
#define MAX_EXPRS (2 * MAX_GROUPS)
#define DAY_SECONDS 86400

/* ------------------------------------------------------------ calendars */

/* Hours that run at the same minutes: every hour in `hours` runs at every
 * minute in `minutes`. */
struct time_group {
        uint64_t minutes; /* bit m: minute m, 0..59 */
        uint32_t hours;   /* bit h: hour h, 0..23 */
};

enum day_kind {
        DAYS_ALL,        /* every day */
        DAYS_WEEK,       /* the weekdays in `weekdays` */
        DAYS_MONTH,      /* the days of the month in `monthdays` */
        DAYS_LAST,       /* the last day of every month */
        DAYS_MONTH_LAST, /* both, in one day-of-month field */
};

struct day_spec {
        enum day_kind kind;
        unsigned weekdays;  /* bit 0 = Sunday */
        uint32_t monthdays; /* bit d = day d */
};

/* One expression: the days of `days` at the times of `times`. */
struct expr {
        struct time_group times;
        struct day_spec days;
};

/* How an engine's syntax takes LAST DAY. */
enum last_day {
        LAST_NONE,    /* not at all: refuse */
        LAST_ALONE,   /* only on its own: a second expression */
        LAST_IN_LIST, /* in a list with other days ("1,15,L") */
};

/* What one SYNC exports as. */
struct sync_export {
        const km_sync_plan_t *sync;
        char describe[160]; /* "hourly at minute 15" */
        char slug[64];      /* the name as [A-Za-z0-9_-] */
        struct expr exprs[MAX_EXPRS];
        int nexprs;
        int ngroups;       /* time groups: > 1 when the hours differ */
        int64_t lookback;  /* seconds: more than the longest gap between runs */
};

/* Finds a day the schedule runs on and writes it into *day. */
static int find_run_day(const km_schedule_t *s, km_civil_t *day)
{
        km_civil_t start = {1999, 12, 31, 23, 59, 59};
        if (km_sched_next(s, &start, day) != 0)
                return -1;
        return 0;
}

/* Splits the times of a running day into groups of hours that share their
 * minutes, in hour order.  Returns the number of groups, or -1. */
static int split_times(const km_schedule_t *s, struct time_group *g)
{
        uint64_t per_hour[24] = {0};
        km_civil_t t;
        int n = 0;
        if (find_run_day(s, &t) != 0)
                return -1;
        for (int m = 0; m < 24 * 60; m++) {
                t.hour = m / 60;
                t.min = m % 60;
                t.sec = 0;
                if (km_sched_is_due(s, &t))
                        per_hour[t.hour] |= 1ull << t.min;
        }
        for (int h = 0; h < 24; h++) {
                int i = 0;
                if (!per_hour[h])
                        continue;
                while (i < n && g[i].minutes != per_hour[h])
                        i++;
                if (i == n)
                        g[n++] = (struct time_group){per_hour[h], 0};
                g[i].hours |= 1u << h;
        }
        return n;
}

/* The kinds of day a schedule runs on, as one or two day specs for an
 * engine that takes LAST DAY as `last`.  Returns their number, or -1 when
 * the engine cannot say LAST DAY. */
static int split_days(const km_schedule_t *s, enum last_day last,
                      struct day_spec *d)
{
        if (s->kind == KM_SCHED_WEEKLY) {
                d[0] = (struct day_spec){DAYS_WEEK, s->weekdays, 0};
                return 1;
        }
        if (s->kind != KM_SCHED_MONTHLY) {
                d[0] = (struct day_spec){DAYS_ALL, 0, 0};
                return 1;
        }
        if (!s->last_day) {
                d[0] = (struct day_spec){DAYS_MONTH, 0, s->monthdays};
                return 1;
        }
        if (last == LAST_NONE)
                return -1;
        if (!s->monthdays) {
                d[0] = (struct day_spec){DAYS_LAST, 0, 0};
                return 1;
        }
        if (last == LAST_IN_LIST) {
                d[0] = (struct day_spec){DAYS_MONTH_LAST, 0, s->monthdays};
                return 1;
        }
        d[0] = (struct day_spec){DAYS_MONTH, 0, s->monthdays};
        d[1] = (struct day_spec){DAYS_LAST, 0, 0};
        return 2;
}

/* Seconds back from any moment that always reach the run before it. */
static int64_t lookback_seconds(const km_schedule_t *s)
{
        switch (s->kind) {
        case KM_SCHED_WEEKLY:
                return 8 * DAY_SECONDS;
        case KM_SCHED_MONTHLY:
                return 63 * DAY_SECONDS; /* day 31 only: Aug 31 .. Oct 31 */
        default:
                return 2 * DAY_SECONDS;
        }
}

/* ------------------------------------------------------------- dialects */

enum step_style {
        STEP_NONE, /* lists only: systemd 252 skips runs of "1/5" hours
                      after a month's end, so it gets no step forms */
        STEP_CRON, /* "*" + "/s", "a-b/s" */
        STEP_FROM, /* "a/s": a, a + s, ... to the field's end (Quartz) */
};

/* How a cron-like syntax writes sets of numbers. */
struct dialect {
        const char *range; /* "-" or ".." */
        enum step_style step;
        const char *const *weekday_names; /* NULL: 0..6 from Sunday */
};

static const char *const quartz_days[7] = {"SUN", "MON", "TUE", "WED",
                                           "THU", "FRI", "SAT"};
static const char *const systemd_days[7] = {"Sun", "Mon", "Tue", "Wed",
                                            "Thu", "Fri", "Sat"};

static const struct dialect cron_dialect = {"-", STEP_CRON, NULL};
static const struct dialect quartz_dialect = {"-", STEP_FROM, quartz_days};
static const struct dialect systemd_dialect = {"..", STEP_NONE, systemd_days};

/* An arithmetic series of 3 or more with a step over 1, as a step form;
 * 0 when v is none or the dialect cannot write it. */
static int put_series(km_buf_t *b, const int *v, int n, int lo, int hi,
                      const struct dialect *d)
{
        int step, to_end;
        if (n < 3 || d->step == STEP_NONE)
                return 0;
        step = v[1] - v[0];
        for (int i = 2; i < n; i++)
                if (v[i] - v[i - 1] != step)
                        return 0;
        if (step == 1)
                return 0;
        to_end = v[n - 1] + step > hi;
        if (d->step == STEP_CRON) {
                if (v[0] == lo && to_end)
                        km_buf_printf(b, "*/%d", step);
                else
                        km_buf_printf(b, "%d-%d/%d", v[0], v[n - 1], step);
                return 1;
        }
        if (!to_end)
                return 0;
        km_buf_printf(b, "%d/%d", v[0], step);
        return 1;
}

/* A list, with runs of 3 or more written as ranges. */
static void put_list(km_buf_t *b, const int *v, int n, const struct dialect *d)
{
        for (int i = 0; i < n;) {
                int j = i;
                while (j + 1 < n && v[j + 1] == v[j] + 1)
                        j++;
                km_buf_printf(b, "%s%d", i ? "," : "", v[i]);
                if (j - i >= 2) {
                        km_buf_printf(b, "%s%d", d->range, v[j]);
                        i = j + 1;
                } else {
                        i++;
                }
        }
}

/* The numbers lo..hi set in `set`: "*" for all of them, a step form for a
 * series, else a list. */
static void put_set(km_buf_t *b, uint64_t set, int lo, int hi,
                    const struct dialect *d)
{
        int v[64], n = 0;
        for (int i = lo; i <= hi; i++)
                if ((set >> i) & 1u)
                        v[n++] = i;
        if (n == hi - lo + 1)
                km_buf_puts(b, "*");
        else if (!put_series(b, v, n, lo, hi, d))
                put_list(b, v, n, d);
}

/* Weekdays as a plain list: names are not ranged or stepped anywhere. */
static void put_weekdays(km_buf_t *b, unsigned days, const struct dialect *d)
{
        const char *sep = "";
        for (int w = 0; w < 7; w++) {
                if (!((days >> w) & 1u))
                        continue;
                if (d->weekday_names)
                        km_buf_printf(b, "%s%s", sep, d->weekday_names[w]);
                else
                        km_buf_printf(b, "%s%d", sep, w);
                sep = ",";
        }
}

/* The day-of-month and day-of-week fields of a 5-field (or Quartz)
 * expression; `none` is what an unrestricted field says ("*" or "?"). */
static void put_day_fields(km_buf_t *b, const struct day_spec *ds,
                           const struct dialect *d, const char *dom_none,
                           const char *dow_none)
{
        switch (ds->kind) {
        case DAYS_ALL:
                km_buf_printf(b, "* * %s", dow_none);
                return;
        case DAYS_WEEK:
                km_buf_printf(b, "%s * ", dom_none);
                put_weekdays(b, ds->weekdays, d);
                return;
        case DAYS_MONTH:
        case DAYS_MONTH_LAST:
                put_set(b, ds->monthdays, 1, 31, d);
                if (ds->kind == DAYS_MONTH_LAST)
                        km_buf_puts(b, ",L");
                km_buf_printf(b, " * %s", dow_none);
                return;
        case DAYS_LAST:
                km_buf_printf(b, "L * %s", dow_none);
                return;
        }
}

/* "15 0-22/2 * * *": minute, hour, day of month, month, day of week. */
static void put_cron(km_buf_t *b, const struct expr *e)
{
        put_set(b, e->times.minutes, 0, 59, &cron_dialect);
        km_buf_putc(b, ' ');
        put_set(b, e->times.hours, 0, 23, &cron_dialect);
        km_buf_putc(b, ' ');
        put_day_fields(b, &e->days, &cron_dialect, "*", "*");
}

/* Quartz: "0 15 0 * * ? *", seconds first and a year last, '?' in the
 * day field that is not restricted. */
static void put_quartz(km_buf_t *b, const struct expr *e)
{
        km_buf_puts(b, "0 ");
        put_set(b, e->times.minutes, 0, 59, &quartz_dialect);
        km_buf_putc(b, ' ');
        put_set(b, e->times.hours, 0, 23, &quartz_dialect);
        km_buf_putc(b, ' ');
        if (e->days.kind == DAYS_ALL)
                km_buf_puts(b, "* * ?");
        else
                put_day_fields(b, &e->days, &quartz_dialect, "?", "?");
        km_buf_puts(b, " *");
}

/* systemd.time(7): "Mon,Thu *-*-* 00:15:00 Asia/Shanghai". */
static void put_oncalendar(km_buf_t *b, const struct expr *e,
                           const char *zone)
{
        switch (e->days.kind) {
        case DAYS_WEEK:
                put_weekdays(b, e->days.weekdays, &systemd_dialect);
                km_buf_puts(b, " *-*-* ");
                break;
        case DAYS_MONTH:
                km_buf_puts(b, "*-*-");
                put_set(b, e->days.monthdays, 1, 31, &systemd_dialect);
                km_buf_putc(b, ' ');
                break;
        case DAYS_LAST:
                km_buf_puts(b, "*-*~01 ");
                break;
        default:
                km_buf_puts(b, "*-*-* ");
                break;
        }
        put_set(b, e->times.hours, 0, 23, &systemd_dialect);
        km_buf_putc(b, ':');
        put_set(b, e->times.minutes, 0, 59, &systemd_dialect);
        km_buf_printf(b, ":00 %s", zone);
}

/* -------------------------------------------------------------- engines */

struct export;

/* One row of the format table. */
struct engine {
        const char *name;  /* as --to says it */
        const char *title; /* as people say it */
        km_export_format_t fmt;
        int local;         /* runs on this machine */
        int max_exprs;     /* expressions one definition holds; 0: any */
        enum last_day last_day;
        const char *one_expr_why; /* when max_exprs is 1 */
        void (*begin)(struct export *x);
        void (*one)(struct export *x, const struct sync_export *se);
        void (*end)(struct export *x);
};

/* An export being written. */
struct export {
        const struct engine *engine;
        const km_export_opts_t *opts;
        km_buf_t out;
        char *dir;  /* the .sync file's directory: the working directory */
        struct sync_export *ses;
        int nses;
        json_t *json; /* DolphinScheduler: the array of definitions */
};

/* ----------------------------------------------------------- text bits */

/* 'text' for sh, with ' written as '\''. */
static void put_sh_word(km_buf_t *b, const char *s)
{
        km_buf_putc(b, '\'');
        for (; *s; s++) {
                if (*s == '\'')
                        km_buf_puts(b, "'\\''");
                else
                        km_buf_putc(b, *s);
        }
        km_buf_putc(b, '\'');
}

/* "text" as a JSON string, which is also a Python string literal and a
 * YAML double-quoted scalar. */
static void put_json_string(km_buf_t *b, const char *s)
{
        json_t *j = json_string(s);
        char *text = json_dumps(j, JSON_ENCODE_ANY);
        km_buf_puts(b, text);
        free(text);
        json_decref(j);
}

/* Copies s with `from` written as `to` (for cron's % and systemd's $). */
static void put_escaped(km_buf_t *b, const char *s, char from, const char *to)
{
        for (; *s; s++) {
                if (*s == from)
                        km_buf_puts(b, to);
                else
                        km_buf_putc(b, *s);
        }
}

static void put_unit_value(km_buf_t *b, const char *s)
{
        put_escaped(b, s, '%', "%%");
}

/* Lines of text, each prefixed (for comments in a script). */
static void put_prefixed(km_buf_t *b, const char *prefix, const char *text)
{
        while (*text) {
                const char *nl = strchr(text, '\n');
                size_t n = nl ? (size_t)(nl - text) : strlen(text);
                km_buf_puts(b, prefix);
                km_buf_append(b, text, n);
                km_buf_putc(b, '\n');
                text += nl ? n + 1 : n;
        }
}

/* The environment variables the SYNC reads its settings from, as
 * "A, B" into b; 0 when none. */
static int put_env_names(km_buf_t *b, const km_sync_plan_t *s)
{
        const char *names[64];
        int n = 0;
        const km_mc_conn_t *mc = s->mc;
#define ADD(cond, name)                                                       \
        do {                                                                  \
                if ((cond) && (name) && n < 64)                               \
                        names[n++] = (name);                                  \
        } while (0)
        if (s->kafka) {
                ADD(s->kafka->brokers_from_env, s->kafka->brokers);
                for (int i = 0; i < s->kafka->noptions; i++)
                        ADD(s->kafka->options[i].from_env,
                            s->kafka->options[i].value);
        }
        if (mc) {
                ADD(mc->endpoint_from_env, mc->endpoint);
                ADD(mc->tunnel_endpoint_from_env, mc->tunnel_endpoint);
                ADD(mc->access_id.from_env, mc->access_id.value);
                ADD(mc->access_secret.from_env, mc->access_secret.value);
                ADD(mc->sts_token.key && mc->sts_token.from_env,
                    mc->sts_token.value);
                for (int i = 0; i < mc->noptions; i++)
                        ADD(mc->options[i].from_env, mc->options[i].value);
        }
#undef ADD
        for (int i = 0; i < n; i++) {
                int seen = 0;
                for (int j = 0; j < i; j++)
                        seen |= strcmp(names[i], names[j]) == 0;
                if (!seen)
                        km_buf_printf(b, "%s%s", b->len ? ", " : "",
                                      names[i]);
        }
        return b->len > 0;
}

/* "RETRY 3 TIMES EVERY 120 s" in words, into buf. */
static void describe_retry(const km_sync_plan_t *s, char *buf, size_t len)
{
        if (s->retry_times == 0)
                snprintf(buf, len, "no RETRY: a failed run is not retried");
        else
                snprintf(buf, len,
                         "RETRY %d TIMES EVERY %lld s: exit status 1 is "
                         "retried, 3 (failed for good) is not",
                         s->retry_times,
                         (long long)(s->retry_delay_ms / 1000));
}

/* The comment every text format starts a SYNC with. */
static void put_header(struct export *x, const struct sync_export *se,
                       const char *prefix)
{
        km_buf_t t = {0};
        const km_sync_plan_t *s = se->sync;
        char retry[160];
        describe_retry(s, retry, sizeof(retry));
        km_buf_printf(&t,
                      "kmsync SYNC %s of %s\n"
                      "Runs %s, wall clock in %s:\n"
                      "  kmsync run FILE --sync %s --at 'YYYY-MM-DD HH:MM:SS'\n"
                      "with the scheduled time of each run.\n"
                      "%s.\n"
                      "Made by `kmsync schedule export --to %s`; see "
                      "docs/exports.md.\n",
                      s->name, x->opts->file, se->describe, s->timezone,
                      s->name, retry, x->engine->name);
        put_prefixed(&x->out, prefix, t.data);
        free(t.data);
        km_buf_t env = {0};
        if (put_env_names(&env, s)) {
                km_buf_printf(&x->out,
                              "%sThe SYNC reads these environment variables: "
                              "%s.\n",
                              prefix, env.data);
        }
        free(env.data);
}

/* A POSIX sh command that runs `run` and retries exit status 1 up to
 * RETRY times, RETRY EVERY apart; other statuses end it. */
static void put_retry_loop(km_buf_t *b, const char *run,
                           const km_sync_plan_t *s)
{
        if (s->retry_times == 0) {
                km_buf_puts(b, run);
                return;
        }
        km_buf_printf(b,
                      "n=0; while :; do %s; rc=$?; "
                      "[ $rc -eq 1 ] && [ $n -lt %d ] || break; "
                      "n=$((n + 1)); sleep %lld; done; exit $rc",
                      run, s->retry_times,
                      (long long)(s->retry_delay_ms / 1000));
}

/* ------------------------------------------------------------------ cron */

static void cron_comments(struct export *x, const struct sync_export *se)
{
        const char *z = se->sync->timezone;
        km_buf_printf(&x->out,
                "# Time zone: the lines below are %s times.  cron has no zone "
                "of its own:\n"
                "# cronie (Fedora, RHEL, Arch) honours CRON_TZ; Debian's and "
                "Ubuntu's cron ignore it\n"
                "# and read every line in the system zone, which must then be "
                "%s.\n"
                "# --at: cron passes no scheduled time; the job takes the "
                "minute it starts in\n"
                "# (cron starts jobs at second 0 of their minute).\n"
                "# One instance at a time: flock makes a run wait for the "
                "previous run of this SYNC.\n"
                "# Runs missed while cron was down are not made up: run "
                "`kmsync backfill` for them.\n",
                z, z);
}

static char *cron_command(struct export *x, const struct sync_export *se)
{
        km_buf_t run = {0}, cmd = {0}, out = {0};
        const km_sync_plan_t *s = se->sync;
        put_sh_word(&run, x->opts->kmsync);
        km_buf_puts(&run, " run ");
        put_sh_word(&run, x->opts->file);
        km_buf_puts(&run, " --sync ");
        put_sh_word(&run, s->name);
        km_buf_puts(&run, " --at \"$at\"");
        km_buf_puts(&cmd, "cd ");
        put_sh_word(&cmd, x->dir);
        km_buf_printf(&cmd,
                      " && at=$(TZ=%s date '+%%Y-%%m-%%d %%H:%%M:00') && "
                      "{ flock 9 || exit 1; ",
                      s->timezone);
        put_retry_loop(&cmd, run.data, s);
        km_buf_printf(&cmd, "; } 9>>.kmsync-%s.lock", se->slug);
        put_escaped(&out, cmd.data, '%', "\\%"); /* % ends a cron command */
        free(run.data);
        free(cmd.data);
        return km_buf_take(&out);
}

static void cron_one(struct export *x, const struct sync_export *se)
{
        char *cmd = cron_command(x, se);
        if (x->out.len)
                km_buf_putc(&x->out, '\n');
        put_header(x, se, "# ");
        cron_comments(x, se);
        km_buf_printf(&x->out, "CRON_TZ=%s\n", se->sync->timezone);
        for (int i = 0; i < se->nexprs; i++) {
                put_cron(&x->out, &se->exprs[i]);
                km_buf_printf(&x->out, " %s\n", cmd);
        }
        free(cmd);
}

/* --------------------------------------------------------------- systemd */

/* The ExecStart script, before systemd's $ and % are escaped: it finds
 * the last scheduled time at or before the trigger time (so a run that
 * Persistent=true makes up after downtime still gets a scheduled time),
 * then runs it with the retry loop. */
static char *systemd_script(const struct sync_export *se)
{
        km_buf_t b = {0};
        const char *z = se->sync->timezone;
        km_buf_printf(&b,
                "t=${TRIGGER_TIMER_REALTIME_USEC:-}; \\\n"
                "    if [ -n \"$t\" ]; then t=$((t / 1000000)); "
                "else t=$(date +%%s); fi; \\\n"
                "    from=$(TZ=%s date -d \"@$((t - %lld))\" "
                "\"+%%Y-%%m-%%d %%H:%%M:%%S\"); \\\n"
                "    to=$(TZ=%s date -d \"@$t\" \"+%%Y-%%m-%%d %%H:%%M:%%S\"); "
                "\\\n"
                "    at=$(\"$KMSYNC\" plan \"$KMSYNC_FILE\" --sync "
                "\"$KMSYNC_SYNC\" --from \"$from\" --to \"$to\" | \\\n"
                "        tail -n 1 | grep -o -E \"[0-9]{4}-[0-9]{2}-[0-9]{2} "
                "[0-9]{2}:[0-9]{2}:[0-9]{2}\" | head -n 1); \\\n"
                "    if [ -z \"$at\" ]; then echo \"kmsync: no scheduled time "
                "of SYNC $KMSYNC_SYNC from $from to $to\" >&2; exit 1; fi; "
                "\\\n    ",
                z, (long long)se->lookback, z);
        put_retry_loop(&b,
                       "\"$KMSYNC\" run \"$KMSYNC_FILE\" --sync "
                       "\"$KMSYNC_SYNC\" --at \"$at\"",
                       se->sync);
        return km_buf_take(&b);
}

static void systemd_env(km_buf_t *b, const char *name, const char *value)
{
        km_buf_printf(b, "Environment=\"%s=", name);
        put_unit_value(b, value);
        km_buf_puts(b, "\"\n");
}

static void systemd_service(struct export *x, const struct sync_export *se)
{
        km_buf_t *b = &x->out;
        char *script = systemd_script(se);
        km_buf_t env = {0};
        km_buf_printf(b, "# ---- kmsync-%s.service ----\n", se->slug);
        put_header(x, se, "# ");
        km_buf_puts(b,
                "# --at: systemd passes no scheduled time.  The script takes "
                "the last scheduled time\n"
                "# at or before the moment the timer elapsed "
                "($TRIGGER_TIMER_REALTIME_USEC, systemd 251+;\n"
                "# else the start time), from `kmsync plan`.  A run made up "
                "after downtime (Persistent=)\n"
                "# is the latest missed one; earlier missed ones need `kmsync "
                "backfill`.\n"
                "# One instance at a time: a timer does not start a service "
                "that is still running;\n"
                "# that run is skipped, not queued.  Retries are the loop "
                "below, not Restart=.\n");
        km_buf_puts(b, "[Unit]\nDescription=kmsync SYNC ");
        put_unit_value(b, se->sync->name);
        km_buf_printf(b, " (%s, %s)\n", se->describe, se->sync->timezone);
        km_buf_puts(b, "Wants=network-online.target\n"
                       "After=network-online.target\n\n"
                       "[Service]\nType=oneshot\nWorkingDirectory=");
        put_unit_value(b, x->dir);
        km_buf_putc(b, '\n');
        if (put_env_names(&env, se->sync))
                km_buf_printf(b, "# Set %s, e.g. in:\n"
                                 "# EnvironmentFile=/etc/kmsync/%s.env\n",
                              env.data, se->slug);
        free(env.data);
        systemd_env(b, "KMSYNC", x->opts->kmsync);
        systemd_env(b, "KMSYNC_FILE", x->opts->file);
        systemd_env(b, "KMSYNC_SYNC", se->sync->name);
        km_buf_puts(b, "ExecStart=/bin/sh -c '");
        km_buf_t esc = {0};
        put_escaped(&esc, script, '$', "$$");
        put_unit_value(b, esc.data);
        km_buf_puts(b, "'\n");
        free(esc.data);
        free(script);
}

static void systemd_timer(struct export *x, const struct sync_export *se)
{
        km_buf_t *b = &x->out;
        km_buf_printf(b, "\n# ---- kmsync-%s.timer ----\n[Unit]\n"
                         "Description=Schedule of kmsync SYNC ",
                      se->slug);
        put_unit_value(b, se->sync->name);
        km_buf_printf(b, " (%s, %s)\n\n[Timer]\n", se->describe,
                      se->sync->timezone);
        for (int i = 0; i < se->nexprs; i++) {
                km_buf_puts(b, "OnCalendar=");
                put_oncalendar(b, &se->exprs[i], se->sync->timezone);
                km_buf_putc(b, '\n');
        }
        km_buf_printf(b, "AccuracySec=1s\nPersistent=true\nUnit=kmsync-%s."
                         "service\n\n[Install]\nWantedBy=timers.target\n",
                      se->slug);
}

static void systemd_one(struct export *x, const struct sync_export *se)
{
        if (x->out.len)
                km_buf_putc(&x->out, '\n');
        systemd_service(x, se);
        systemd_timer(x, se);
}

/* --------------------------------------------------------------- Airflow */

static int airflow_needs_multi(const struct export *x)
{
        for (int i = 0; i < x->nses; i++)
                if (x->ses[i].nexprs > 1)
                        return 1;
        return 0;
}

static void airflow_begin(struct export *x)
{
        km_buf_t *b = &x->out;
        km_buf_puts(b,
                "\"\"\"kmsync SYNCs as Airflow DAGs, made by `kmsync schedule "
                "export --to airflow`.\n\n"
                "Each DAG runs `kmsync run FILE --sync NAME --at T` at the "
                "SYNC's schedule, T being\n"
                "the run's data_interval_end (its scheduled time) as wall "
                "clock in the SYNC's zone.\n"
                "RETRY is the task's retries and retry_delay; exit status 3 "
                "(failed for good)\n"
                "raises AirflowFailException, which Airflow does not retry. "
                "max_active_runs=1 runs\n"
                "one instance at a time, in order; catchup=True makes up the "
                "runs missed since\n"
                "start_date (the day of the export: move it to where syncing "
                "should start).\n"
                "Needs Airflow 2.4 or later");
        if (airflow_needs_multi(x))
                km_buf_puts(b, "; MultipleCronTriggerTimetable needs Airflow "
                               "3.0 or later");
        km_buf_puts(b, ".\n\"\"\"\n"
                       "import subprocess\n"
                       "from datetime import timedelta\n\n"
                       "import pendulum\n"
                       "from airflow.exceptions import AirflowException, "
                       "AirflowFailException\n\n"
                       "try:  # Airflow 3\n"
                       "    from airflow.sdk import DAG\n"
                       "    from airflow.providers.standard.operators.python "
                       "import PythonOperator\n"
                       "except ImportError:  # Airflow 2\n"
                       "    from airflow import DAG\n"
                       "    from airflow.operators.python import "
                       "PythonOperator\n");
        if (airflow_needs_multi(x))
                km_buf_puts(b, "from airflow.timetables.trigger import "
                               "MultipleCronTriggerTimetable\n");
        km_buf_puts(b, "\nKMSYNC = ");
        put_json_string(b, x->opts->kmsync);
        km_buf_puts(b,
                "\n\n\n"
                "def run_kmsync(sync_file, sync, tz, workdir, "
                "data_interval_end=None, **_):\n"
                "    \"\"\"Runs the instance scheduled at data_interval_end."
                "\"\"\"\n"
                "    at = data_interval_end.astimezone(pendulum.timezone(tz))"
                ".strftime(\n        \"%Y-%m-%d %H:%M:%S\")\n"
                "    cmd = [KMSYNC, \"run\", sync_file, \"--sync\", sync, "
                "\"--at\", at]\n"
                "    print(\"running:\", \" \".join(cmd), flush=True)\n"
                "    rc = subprocess.run(cmd, cwd=workdir, check=False)."
                "returncode\n"
                "    if rc == 3:\n"
                "        raise AirflowFailException(\n"
                "            \"kmsync run exited 3: failed for good "
                "(configuration, schema, auth or \"\n"
                "            \"data errors over the limit); not retried\")\n"
                "    if rc != 0:\n"
                "        raise AirflowException(f\"kmsync run exited "
                "{rc}\")\n");
}

static void airflow_schedule(km_buf_t *b, const struct sync_export *se)
{
        if (se->nexprs == 1) {
                km_buf_putc(b, '"');
                put_cron(b, &se->exprs[0]);
                km_buf_putc(b, '"');
                return;
        }
        km_buf_puts(b, "MultipleCronTriggerTimetable(\n");
        for (int i = 0; i < se->nexprs; i++) {
                km_buf_puts(b, "        \"");
                put_cron(b, &se->exprs[i]);
                km_buf_puts(b, "\",\n");
        }
        km_buf_puts(b, "        timezone=");
        put_json_string(b, se->sync->timezone);
        km_buf_puts(b, ",\n    )");
}

static void airflow_one(struct export *x, const struct sync_export *se)
{
        km_buf_t *b = &x->out;
        const km_sync_plan_t *s = se->sync;
        km_civil_t today;
        km_tz_to_local(s->tz, x->opts->now, &today);
        km_buf_puts(b, "\n\n");
        put_header(x, se, "# ");
        km_buf_printf(b, "with DAG(\n    dag_id=\"kmsync_%s\",\n"
                         "    description=",
                      se->slug);
        km_buf_t desc = {0};
        km_buf_printf(&desc, "kmsync SYNC %s: %s (%s)", s->name, se->describe,
                      s->timezone);
        put_json_string(b, desc.data);
        free(desc.data);
        km_buf_puts(b, ",\n    schedule=");
        airflow_schedule(b, se);
        km_buf_printf(b, ",\n    start_date=pendulum.datetime(%d, %d, %d, tz=",
                      today.year, today.mon, today.day);
        put_json_string(b, s->timezone);
        km_buf_printf(b,
                "),\n    catchup=True,\n    max_active_runs=1,\n"
                "    default_args={\"retries\": %d, \"retry_delay\": "
                "timedelta(seconds=%lld)},\n"
                "    tags=[\"kmsync\"],\n):\n"
                "    PythonOperator(\n        task_id=\"run\",\n"
                "        python_callable=run_kmsync,\n        op_kwargs={\n"
                "            \"sync_file\": ",
                s->retry_times, (long long)(s->retry_delay_ms / 1000));
        put_json_string(b, x->opts->file);
        km_buf_puts(b, ",\n            \"sync\": ");
        put_json_string(b, s->name);
        km_buf_puts(b, ",\n            \"tz\": ");
        put_json_string(b, s->timezone);
        km_buf_puts(b, ",\n            \"workdir\": ");
        put_json_string(b, x->dir);
        km_buf_puts(b, ",\n        },\n    )\n");
}

/* ------------------------------------------------------ DolphinScheduler */

static void ds_begin(struct export *x)
{
        x->json = json_array();
}

/* The shell task: ${system.datetime} (yyyyMMddHHmmss, read as the
 * worker's local time) turned into the SYNC's wall clock. */
static char *ds_script(struct export *x, const struct sync_export *se)
{
        km_buf_t b = {0};
        const km_sync_plan_t *s = se->sync;
        km_buf_printf(&b,
                "# kmsync SYNC %s: %s, wall clock in %s.\n"
                "# ${system.datetime} is the scheduled time, as "
                "DolphinScheduler's servers read the clock;\n"
                "# it is read in this worker's local zone and written in "
                "%s.\n"
                "t=${system.datetime}\n"
                "d=$(echo \"$t\" | sed -E "
                "\"s/^(....)(..)(..)(..)(..)(..)$/\\1-\\2-\\3 \\4:\\5:\\6/\")\n"
                "at=$(TZ=%s date -d \"@$(date -d \"$d\" +%%s)\" "
                "\"+%%Y-%%m-%%d %%H:%%M:%%S\") || exit 1\n"
                "cd ",
                s->name, se->describe, s->timezone, s->timezone,
                s->timezone);
        put_sh_word(&b, x->dir);
        km_buf_puts(&b, " || exit 1\nexec ");
        put_sh_word(&b, x->opts->kmsync);
        km_buf_puts(&b, " run ");
        put_sh_word(&b, x->opts->file);
        km_buf_puts(&b, " --sync ");
        put_sh_word(&b, s->name);
        km_buf_puts(&b, " --at \"$at\"\n");
        return km_buf_take(&b);
}

/* failRetryInterval is in whole minutes: RETRY EVERY rounded up. */
static int ds_retry_minutes(struct export *x, const km_sync_plan_t *s)
{
        int64_t ms = s->retry_delay_ms;
        int minutes = (int)((ms + 59999) / 60000);
        if (s->retry_times > 0 && ms % 60000 != 0 && x->opts->notes)
                fprintf(x->opts->notes,
                        "note: SYNC %s: DolphinScheduler retries after whole "
                        "minutes: RETRY EVERY %lld s becomes %d minute%s\n",
                        s->name, (long long)(ms / 1000), minutes,
                        minutes == 1 ? "" : "s");
        return minutes;
}

static json_t *ds_task(struct export *x, const struct sync_export *se,
                       json_int_t code)
{
        char *script = ds_script(x, se);
        char desc[512];
        snprintf(desc, sizeof(desc),
                 "kmsync run --sync %s --at the scheduled time. "
                 "DolphinScheduler retries every failure, exit status 3 "
                 "(failed for good) too.",
                 se->sync->name);
        json_t *t = json_pack(
                "{s:I, s:s, s:i, s:s, s:s, s:{s:[], s:s, s:[]}, s:s, s:s, "
                "s:s, s:s, s:I, s:i, s:i, s:s, s:n, s:i, s:i, s:i, s:i, "
                "s:i, s:s}",
                "code", code, "name", se->sync->name, "version", 1,
                "description", desc, "taskType", "SHELL", "taskParams",
                "localParams", "rawScript", script, "resourceList", "flag",
                "YES", "isCache", "NO", "taskPriority", "MEDIUM",
                "workerGroup", "default", "environmentCode", (json_int_t)-1,
                "failRetryTimes", se->sync->retry_times, "failRetryInterval",
                ds_retry_minutes(x, se->sync), "timeoutFlag", "CLOSE",
                "timeoutNotifyStrategy", "timeout", 0, "delayTime", 0,
                "taskGroupId", 0, "taskGroupPriority", 0, "cpuQuota", -1,
                "taskExecuteType", "BATCH");
        json_object_set_new(t, "memoryMax", json_integer(-1));
        free(script);
        return t;
}

static json_t *ds_workflow(const struct sync_export *se, json_int_t code,
                           json_int_t task)
{
        char name[160], desc[400], loc[96];
        snprintf(name, sizeof(name), "kmsync_%s", se->slug);
        snprintf(desc, sizeof(desc), "kmsync SYNC %s: %s (%s)",
                 se->sync->name, se->describe, se->sync->timezone);
        snprintf(loc, sizeof(loc), "[{\"taskCode\":%lld,\"x\":100,\"y\":100}]",
                 (long long)task);
        return json_pack("{s:I, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:i, "
                         "s:s}",
                         "code", code, "name", name, "version", 1,
                         "releaseState", "OFFLINE", "description", desc,
                         "globalParams", "[]", "flag", "YES", "locations", loc,
                         "timeout", 0, "executionType", "SERIAL_WAIT");
}

static json_t *ds_relation(json_int_t task)
{
        return json_pack("{s:s, s:i, s:I, s:i, s:I, s:i, s:i, s:s, s:{}}",
                         "name", "", "preTaskVersion", 0, "preTaskCode",
                         (json_int_t)0, "postTaskVersion", 1, "postTaskCode",
                         task, "workflowDefinitionVersion", 1,
                         "processDefinitionVersion", 1, "conditionType",
                         "NONE", "conditionParams");
}

static json_t *ds_schedule(struct export *x, const struct sync_export *se)
{
        km_buf_t cron = {0};
        km_civil_t today;
        char start[32];
        km_tz_to_local(se->sync->tz, x->opts->now, &today);
        snprintf(start, sizeof(start), "%04d-%02d-%02d 00:00:00", today.year,
                 today.mon, today.day);
        put_quartz(&cron, &se->exprs[0]);
        json_t *s = json_pack(
                "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, "
                "s:s, s:I}",
                "startTime", start, "endTime", "2099-12-31 23:59:59",
                "timezoneId", se->sync->timezone, "crontab", cron.data,
                "failureStrategy", "END", "warningType", "NONE",
                "releaseState", "OFFLINE", "warningGroupId", 0,
                "workflowInstancePriority", "MEDIUM",
                "processInstancePriority", "MEDIUM", "workerGroup", "default",
                "tenantCode", "default", "environmentCode", (json_int_t)-1);
        free(cron.data);
        return s;
}

/* One definition, under the names of DolphinScheduler 3.3
 * (workflowDefinition, ...) and of 3.0 to 3.2 (processDefinition, ...):
 * each version ignores the other's keys. */
static void ds_one(struct export *x, const struct sync_export *se)
{
        json_int_t n = (json_int_t)json_array_size(x->json);
        json_int_t code = 1000 + 2 * n, task = code + 1;
        json_t *wf = ds_workflow(se, code, task);
        json_t *rel = json_pack("[o]", ds_relation(task));
        json_t *def = json_object();
        json_object_set(def, "workflowDefinition", wf);
        json_object_set_new(def, "processDefinition", wf);
        json_object_set(def, "workflowTaskRelationList", rel);
        json_object_set_new(def, "processTaskRelationList", rel);
        json_object_set_new(def, "taskDefinitionList",
                            json_pack("[o]", ds_task(x, se, task)));
        json_object_set_new(def, "schedule", ds_schedule(x, se));
        json_array_append_new(x->json, def);
}

static void ds_end(struct export *x)
{
        char *text = json_dumps(x->json, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        km_buf_puts(&x->out, text);
        km_buf_putc(&x->out, '\n');
        free(text);
        json_decref(x->json);
        x->json = NULL;
}

/* ------------------------------------------------------------------ Argo */

/* A Kubernetes name: lowercase letters, digits and '-'. */
static void argo_name(char *buf, size_t len, const char *slug)
{
        size_t n = (size_t)snprintf(buf, len, "kmsync-");
        for (const char *p = slug; *p && n + 1 < len && n < 52; p++) {
                char c = *p;
                if (c >= 'A' && c <= 'Z')
                        c = (char)(c - 'A' + 'a');
                else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
                        c = '-';
                buf[n++] = c;
        }
        while (n > 0 && buf[n - 1] == '-')
                n--;
        buf[n] = '\0';
}

static void argo_retry(km_buf_t *b, const km_sync_plan_t *s)
{
        if (s->retry_times == 0)
                return;
        km_buf_printf(b,
                "        # RETRY: exit status 3 (failed for good) is not "
                "retried; pod errors are.\n"
                "        retryStrategy:\n"
                "          limit: \"%d\"\n"
                "          retryPolicy: Always\n"
                "          expression: 'lastRetry.status == \"Error\" || "
                "asInt(lastRetry.exitCode) != 3'\n"
                "          backoff:\n"
                "            duration: \"%llds\"\n"
                "            factor: \"1\"\n",
                s->retry_times, (long long)(s->retry_delay_ms / 1000));
}

static void argo_script(struct export *x, const struct sync_export *se)
{
        km_buf_t *b = &x->out;
        km_buf_printf(b,
                "              at=$(TZ=%s date -d \"$KMSYNC_SCHEDULED_TIME\" "
                "\"+%%Y-%%m-%%d %%H:%%M:%%S\") || exit 1\n"
                "              exec ",
                se->sync->timezone);
        put_sh_word(b, x->opts->kmsync);
        km_buf_puts(b, " run ");
        put_sh_word(b, x->opts->file);
        km_buf_puts(b, " --sync ");
        put_sh_word(b, se->sync->name);
        km_buf_puts(b, " --at \"$at\"\n");
}

static void argo_one(struct export *x, const struct sync_export *se)
{
        km_buf_t *b = &x->out;
        char name[64];
        argo_name(name, sizeof(name), se->slug);
        if (x->out.len)
                km_buf_puts(b, "---\n");
        put_header(x, se, "# ");
        km_buf_puts(b,
                "# --at: {{workflow.scheduledTime}} (RFC 3339) in the SYNC's "
                "zone; the image needs GNU date.\n"
                "# concurrencyPolicy Forbid skips a run whose time comes while "
                "the previous one runs;\n"
                "# startingDeadlineSeconds makes up the latest run missed "
                "within a day, no earlier one.\n"
                "# spec.schedules needs Argo Workflows 3.6 or later.  Keep "
                "./.kmsync (the instance\n"
                "# history) on a volume: a pod's own disk goes with it.\n");
        km_buf_printf(b, "apiVersion: argoproj.io/v1alpha1\n"
                         "kind: CronWorkflow\nmetadata:\n  name: %s\n"
                         "spec:\n  schedules:\n",
                      name);
        for (int i = 0; i < se->nexprs; i++) {
                km_buf_puts(b, "    - \"");
                put_cron(b, &se->exprs[i]);
                km_buf_puts(b, "\"\n");
        }
        km_buf_puts(b, "  timezone: ");
        put_json_string(b, se->sync->timezone);
        km_buf_puts(b, "\n  concurrencyPolicy: Forbid\n"
                       "  startingDeadlineSeconds: 86400\n"
                       "  workflowSpec:\n    entrypoint: run\n"
                       "    templates:\n      - name: run\n");
        argo_retry(b, se->sync);
        km_buf_puts(b, "        container:\n"
                       "          image: kmsync  # an image with kmsync and "
                       "the .sync file\n"
                       "          workingDir: ");
        put_json_string(b, x->dir);
        km_buf_puts(b, "\n          command: [\"/bin/sh\", \"-c\"]\n"
                       "          args:\n            - |\n");
        argo_script(x, se);
        km_buf_puts(b, "          env:\n"
                       "            - name: KMSYNC_SCHEDULED_TIME\n"
                       "              value: \"{{workflow.scheduledTime}}\"\n");
}

/* ----------------------------------------------------------- the table */

static const struct engine engines[] = {
        {"cron", "cron", KM_EXPORT_CRON, 1, 0, LAST_NONE, NULL, NULL,
         cron_one, NULL},
        {"systemd", "systemd", KM_EXPORT_SYSTEMD, 1, 0, LAST_ALONE, NULL,
         NULL, systemd_one, NULL},
        {"airflow", "Airflow", KM_EXPORT_AIRFLOW, 0, 0, LAST_IN_LIST, NULL,
         airflow_begin, airflow_one, NULL},
        {"dolphinscheduler", "DolphinScheduler", KM_EXPORT_DOLPHINSCHEDULER,
         0, 1, LAST_ALONE, "DolphinScheduler takes one cron per workflow",
         ds_begin, ds_one, ds_end},
        {"argo", "Argo", KM_EXPORT_ARGO, 0, 0, LAST_NONE, NULL, NULL,
         argo_one, NULL},
};

enum { NENGINES = sizeof(engines) / sizeof(engines[0]) };

static const struct engine *find_engine(km_export_format_t fmt)
{
        for (int i = 0; i < NENGINES; i++)
                if (engines[i].fmt == fmt)
                        return &engines[i];
        return NULL;
}

int km_export_format_parse(const char *name, km_export_format_t *out)
{
        for (int i = 0; i < NENGINES; i++)
                if (strcmp(engines[i].name, name) == 0) {
                        *out = engines[i].fmt;
                        return 0;
                }
        return -1;
}

const char *km_export_format_list(void)
{
        return "cron|systemd|airflow|dolphinscheduler|argo";
}

int km_export_format_is_local(km_export_format_t fmt)
{
        const struct engine *e = find_engine(fmt);
        return e && e->local;
}

/* ------------------------------------------------------------- checking */

static int fail(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -1;
}

static int has_control(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return 1;
        return 0;
}

/* Zone names go into sh and unit files unquoted. */
static int zone_name_ok(const char *z)
{
        if (!*z)
                return 0;
        for (; *z; z++)
                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "abcdefghijklmnopqrstuvwxyz0123456789/_+-",
                            *z))
                        return 0;
        return 1;
}

/* Text every format carries: no control characters anywhere, and nothing
 * systemd's quoting would change. */
static int check_text(const struct export *x, const char *what,
                      const char *s, char *err, size_t errlen)
{
        if (has_control(s))
                return fail(err, errlen,
                            "%s '%s' has a control character: %s cannot carry "
                            "it",
                            what, s, x->engine->title);
        if (x->engine->fmt == KM_EXPORT_SYSTEMD &&
            (strchr(s, '"') || strchr(s, '\\')))
                return fail(err, errlen,
                            "%s '%s' has a '\"' or '\\': systemd unit files "
                            "would change it; rename or move it",
                            what, s);
        return 0;
}

static void make_slug(char *buf, size_t len, const char *name)
{
        size_t n = 0;
        for (const char *p = name; *p && n + 1 < len; p++) {
                char c = *p;
                int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '-';
                buf[n++] = ok ? c : '_';
        }
        buf[n] = '\0';
}

/* Why a schedule needs more than one expression, for the refusal. */
static const char *why_many(const struct sync_export *se, int ndays)
{
        if (se->ngroups > 1 && ndays > 1)
                return "its minutes differ from hour to hour, and LAST DAY "
                       "cannot share a day list";
        if (se->ngroups > 1)
                return "its minutes are not the same in every hour it runs "
                       "in";
        return "LAST DAY cannot share a day list with other days";
}

/* 1 when engine e can hold a schedule of ng time groups. */
static int expressible(const struct engine *e, const km_schedule_t *s, int ng)
{
        struct day_spec d[2];
        int nd = split_days(s, e->last_day, d);
        return nd > 0 && (!e->max_exprs || ng * nd <= e->max_exprs);
}

/* "systemd, airflow or dolphinscheduler": the formats that can. */
static void put_alternatives(km_buf_t *b, const km_schedule_t *s, int ng)
{
        const char *names[8];
        int n = 0;
        for (int i = 0; i < NENGINES; i++)
                if (expressible(&engines[i], s, ng))
                        names[n++] = engines[i].name;
        if (n == 0) {
                km_buf_puts(b, "run it with `kmsync schedule`");
                return;
        }
        km_buf_puts(b, "export it to ");
        for (int i = 0; i < n; i++)
                km_buf_printf(b, "%s%s",
                              i == 0 ? "" : i == n - 1 ? " or " : ", ",
                              names[i]);
        km_buf_puts(b, " instead, or run it with `kmsync schedule`");
}

static int refuse(const struct export *x, const struct sync_export *se,
                  int ng, const char *why, char *err, size_t errlen)
{
        km_buf_t alt = {0};
        put_alternatives(&alt, &se->sync->schedule, ng);
        fail(err, errlen, "SYNC %s: %s %s; %s", se->sync->name,
             x->engine->title, why, alt.data);
        free(alt.data);
        return -1;
}

static int refuse_last_day(const struct export *x,
                           const struct sync_export *se, int ng, char *err,
                           size_t errlen)
{
        return refuse(x, se, ng,
                      "cannot express LAST DAY (its cron syntax has no 'L' "
                      "for the last day of the month)",
                      err, errlen);
}

static int refuse_many(const struct export *x, const struct sync_export *se,
                       int n, int ndays, char *err, size_t errlen)
{
        char why[512];
        snprintf(why, sizeof(why),
                 "cannot run %s: that needs %d cron expressions (%s), and %s",
                 se->describe, n, why_many(se, ndays),
                 x->engine->one_expr_why);
        return refuse(x, se, se->ngroups, why, err, errlen);
}

/* Splits one SYNC's schedule for the engine, or says why it cannot. */
static int plan_sync(const struct export *x, const km_sync_plan_t *s,
                     struct sync_export *se, char *err, size_t errlen)
{
        struct time_group g[MAX_GROUPS];
        struct day_spec d[2];
        int ng, nd;
        memset(se, 0, sizeof(*se));
        se->sync = s;
        if (s->schedule.kind == KM_SCHED_NONE)
                return fail(err, errlen,
                            "SYNC %s has no SCHEDULE: it runs on demand only, "
                            "so there is nothing to export",
                            s->name);
        if (!zone_name_ok(s->timezone))
                return fail(err, errlen, "SYNC %s: time zone '%s' is not an "
                                         "IANA zone name",
                            s->name, s->timezone);
        if (check_text(x, "SYNC name", s->name, err, errlen))
                return -1;
        km_sched_describe(&s->schedule, se->describe, sizeof(se->describe));
        make_slug(se->slug, sizeof(se->slug), s->name);
        se->lookback = lookback_seconds(&s->schedule);
        ng = split_times(&s->schedule, g);
        if (ng <= 0)
                return fail(err, errlen, "SYNC %s: %s never runs", s->name,
                            se->describe);
        se->ngroups = ng;
        nd = split_days(&s->schedule, x->engine->last_day, d);
        if (nd < 0)
                return refuse_last_day(x, se, ng, err, errlen);
        se->nexprs = ng * nd;
        if (x->engine->max_exprs && se->nexprs > x->engine->max_exprs)
                return refuse_many(x, se, se->nexprs, nd, err, errlen);
        for (int j = 0; j < nd; j++)
                for (int i = 0; i < ng; i++)
                        se->exprs[j * ng + i] = (struct expr){g[i], d[j]};
        return 0;
}

/* 1 when the zone's offset from UTC changes within the year of `now`. */
static int zone_has_dst(const km_tz_t *tz, int64_t now)
{
        int64_t year_start = now - now % (365 * (int64_t)DAY_SECONDS);
        int32_t first = km_tz_offset_at(tz, year_start);
        for (int m = 1; m < 12; m++)
                if (km_tz_offset_at(tz, year_start + m * 30 * (int64_t)
                                                           DAY_SECONDS) !=
                    first)
                        return 1;
        return 0;
}

static void note_limits(const struct export *x, const struct sync_export *se)
{
        FILE *notes = x->opts->notes;
        const km_sync_plan_t *s = se->sync;
        if (!notes)
                return;
        if (s->tz && zone_has_dst(s->tz, x->opts->now))
                fprintf(notes,
                        "note: SYNC %s: %s has daylight saving time; %s "
                        "decides by itself what happens to runs in the "
                        "skipped and the repeated hour (see docs/exports.md)\n",
                        s->name, s->timezone, x->engine->title);
        if (se->nexprs > 1 && x->engine->fmt == KM_EXPORT_AIRFLOW)
                fprintf(notes,
                        "note: SYNC %s needs %d cron expressions: the DAG "
                        "uses MultipleCronTriggerTimetable (Airflow 3.0 or "
                        "later)\n",
                        s->name, se->nexprs);
}

/* ------------------------------------------------------------ exporting */

static char *dir_of(const char *file)
{
        const char *slash = strrchr(file, '/');
        if (!slash)
                return km_xstrdup(".");
        if (slash == file)
                return km_xstrdup("/");
        return km_xstrndup(file, (size_t)(slash - file));
}

static int plan_all(struct export *x, const km_sync_plan_t *const *syncs,
                    int nsyncs, char *err, size_t errlen)
{
        if (check_text(x, "file", x->opts->file, err, errlen) ||
            check_text(x, "kmsync path", x->opts->kmsync, err, errlen))
                return -1;
        x->ses = km_xcalloc((size_t)nsyncs, sizeof(*x->ses));
        x->nses = nsyncs;
        for (int i = 0; i < nsyncs; i++)
                if (plan_sync(x, syncs[i], &x->ses[i], err, errlen))
                        return -1;
        return 0;
}

int km_export_schedule(FILE *out, const km_sync_plan_t *const *syncs,
                       int nsyncs, km_export_format_t fmt,
                       const km_export_opts_t *opts, char *err, size_t errlen)
{
        struct export x = {0};
        int rc = -1;
        x.engine = find_engine(fmt);
        x.opts = opts;
        x.dir = dir_of(opts->file);
        if (!x.engine)
                fail(err, errlen, "unknown export format");
        else if (nsyncs <= 0)
                fail(err, errlen, "no SYNC to export");
        else if (plan_all(&x, syncs, nsyncs, err, errlen) == 0)
                rc = 0;
        if (rc == 0) {
                if (x.engine->begin)
                        x.engine->begin(&x);
                for (int i = 0; i < x.nses; i++) {
                        x.engine->one(&x, &x.ses[i]);
                        note_limits(&x, &x.ses[i]);
                }
                if (x.engine->end)
                        x.engine->end(&x);
                fwrite(x.out.data, 1, x.out.len, out);
        }
        free(x.out.data);
        free(x.ses);
        free(x.dir);
        return rc;
}
