/* cmd_schedule.c - the scheduler's commands: `schedule` (run every SYNC on
 * its schedule, in the foreground), `status` (the instance history),
 * `rerun` (one instance again) and `backfill` (every instance of a range).
 * `schedule export` hands a schedule to another scheduler. */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "scheduler.h"
#include "state.h"

/* The one piece of process state: set by SIGTERM/SIGINT, read by the
 * scheduler loop.  A signal handler can reach nothing else. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
        (void)sig;
        stop_requested = 1;
}

static void install_stop_handlers(void)
{
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
}

/* "24h", "30m", "90s", "2d" or plain seconds; -1 when it is none. */
static int64_t parse_duration(const char *text)
{
        char *end;
        long long n = strtoll(text, &end, 10);
        if (end == text || n < 0)
                return -1;
        int64_t unit = *end == '\0' || strcmp(end, "s") == 0 ? 1
                       : strcmp(end, "m") == 0               ? 60
                       : strcmp(end, "h") == 0               ? 3600
                       : strcmp(end, "d") == 0               ? 86400
                                                             : -1;
        return unit < 0 ? -1 : n * unit;
}

/* ----------------------------------------------------------- schedule */

typedef struct schedule_args {
        const char *state, *catch_up, *kafka, *target, *now, *until;
        int max_parallel, json, grace_s, partitions;
} schedule_args_t;

static int load_files(char **paths, int n, km_sched_file_t *files)
{
        int failed = 0;
        for (int i = 0; i < n; i++) {
                files[i].path = paths[i];
                files[i].plan = km_cli_compile(paths[i]);
                failed |= files[i].plan == NULL;
        }
        return failed ? -1 : 0;
}

static int schedule_loop(int argc, char **argv)
{
        const km_cmd_t *cmd = km_cli_command("schedule");
        schedule_args_t a = {0};
        a.grace_s = -1;
        const km_opt_t opts[] = {
                KM_OPT_STRING("state", &a.state,
                              "instance history directory (.kmsync)"),
                KM_OPT_INT("max-parallel", &a.max_parallel,
                           "instances of different SYNCs at once (4)"),
                KM_OPT_STRING("catch-up", &a.catch_up,
                              "on start, run instances missed this long ago "
                              "(24h)"),
                KM_OPT_STRING("kafka", &a.kafka, "brokers or mock:FIXTURE"),
                KM_OPT_STRING("target", &a.target, "local:DIR or maxcompute"),
                KM_OPT_INT("partitions", &a.partitions,
                           "mock: at least this many partitions"),
                KM_OPT_FLAG("json", &a.json, "log events as JSON lines"),
                KM_OPT_INT("grace", &a.grace_s,
                           "seconds running instances get to finish on "
                           "SIGTERM (30)"),
                KM_OPT_STRING("now", &a.now,
                              "testing: a fake clock starting at this UTC "
                              "time, jumping to each due time"),
                KM_OPT_STRING("until", &a.until,
                              "testing: stop the fake clock after this UTC "
                              "time"),
                KM_OPT_END(),
        };
        int n = km_parse_options(argc, argv, opts, cmd);
        if (n < 0)
                return KM_EXIT_USAGE;
        int64_t catch_up = a.catch_up ? parse_duration(a.catch_up) : 86400;
        if (n < 1 || catch_up < 0) {
                fprintf(stderr, "kmsync schedule: name FILE... (and "
                                "--catch-up as 24h, 30m, 90s)\n");
                km_print_usage(stderr, cmd, opts);
                return KM_EXIT_USAGE;
        }
        km_sched_file_t *files = calloc((size_t)n, sizeof(*files));
        km_state_t *st = NULL;
        int rc = KM_EXIT_FAILED;
        if (load_files(argv, n, files) == 0 && (st = km_cli_open_state(a.state))) {
                km_sched_options_t o = {0};
                o.run.kafka = a.kafka;
                o.run.target = a.target;
                o.run.mock_partitions = a.partitions;
                o.max_parallel = a.max_parallel;
                o.catch_up_s = catch_up;
                o.json_log = a.json;
                o.fake_now = a.now;
                o.fake_until = a.until;
                o.stop = &stop_requested;
                o.grace_ms = (a.grace_s >= 0 ? a.grace_s : 30) * 1000LL;
                install_stop_handlers();
                rc = km_schedule_loop(st, files, n, &o);
        }
        km_state_close(st);
        for (int i = 0; i < n; i++)
                km_plan_free(files[i].plan);
        free(files);
        return rc;
}

int km_cmd_schedule(int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], "export") == 0)
                return km_cmd_schedule_export(argc - 1, argv + 1);
        return schedule_loop(argc, argv);
}

/* ------------------------------------------------------------- status */

static json_t *row_json(const km_inst_row_t *r)
{
        json_t *o = json_pack(
                "{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I}", "sync",
                r->sync, "scheduled_at", r->scheduled_at, "partition",
                r->partition ? r->partition : "", "status",
                km_inst_status_name(r->status), "attempt", r->attempt,
                "rows_read", (json_int_t)r->rows_read, "rows_written",
                (json_int_t)r->rows_written, "rows_rejected",
                (json_int_t)r->rows_rejected, "window_start_ms",
                (json_int_t)r->window_start_ms, "window_end_ms",
                (json_int_t)r->window_end_ms);
        json_object_set_new(o, "file", json_string(r->file ? r->file : ""));
        json_object_set_new(o, "target", json_string(r->target ? r->target : ""));
        json_object_set_new(o, "started_ms", json_integer(r->started_ms));
        json_object_set_new(o, "finished_ms", json_integer(r->finished_ms));
        json_object_set_new(o, "seconds",
                            json_real(r->finished_ms > r->started_ms
                                              ? (double)(r->finished_ms -
                                                         r->started_ms) / 1000.0
                                              : 0.0));
        json_object_set_new(o, "error",
                            r->error ? json_string(r->error) : json_null());
        json_t *ranges = r->ranges_json ? json_loads(r->ranges_json, 0, NULL)
                                        : NULL;
        json_object_set_new(o, "partitions", ranges ? ranges : json_array());
        return o;
}

static void print_rows(const km_inst_row_t *rows, int n)
{
        printf("%-19s  %-16s  %-24s  %-9s  %7s  %9s  %7s  %s\n", "scheduled",
               "sync", "partition", "status", "attempt", "rows", "seconds",
               "error");
        for (int i = 0; i < n; i++) {
                const km_inst_row_t *r = &rows[i];
                double secs = r->finished_ms > r->started_ms
                                      ? (double)(r->finished_ms - r->started_ms) /
                                                1000.0
                                      : 0.0;
                printf("%-19s  %-16s  %-24s  %-9s  %7d  %9lld  %7.1f  %s\n",
                       r->scheduled_at, r->sync,
                       r->partition && r->partition[0] ? r->partition : "-",
                       km_inst_status_name(r->status), r->attempt,
                       (long long)r->rows_written, secs,
                       r->error ? r->error : "");
        }
}

int km_cmd_status(int argc, char **argv)
{
        const km_cmd_t *cmd = km_cli_command("status");
        const char *state = NULL, *from = NULL, *to = NULL;
        int json = 0;
        const km_opt_t opts[] = {
                KM_OPT_STRING("state", &state, "instance history directory"),
                KM_OPT_STRING("from", &from, "first scheduled time"),
                KM_OPT_STRING("to", &to, "last scheduled time"),
                KM_OPT_FLAG("json", &json, "one JSON array"),
                KM_OPT_END(),
        };
        int n = km_parse_options(argc, argv, opts, cmd);
        km_civil_t t;
        if (n < 0 || n > 1 || (from && km_cli_time("--from", from, &t)) ||
            (to && km_cli_time("--to", to, &t))) {
                km_print_usage(stderr, cmd, opts);
                return KM_EXIT_USAGE;
        }
        char fbuf[20], tbuf[20];
        if (from) {
                km_civil_parse(from, &t);
                km_civil_format(&t, fbuf);
        }
        if (to) {
                km_civil_parse(to, &t);
                km_civil_format(&t, tbuf);
        }
        km_state_t *st = km_cli_open_state(state);
        if (!st)
                return KM_EXIT_FAILED;
        km_inst_row_t *rows;
        int nrows;
        char err[1024];
        int rc = km_state_list(st, n ? argv[0] : NULL, from ? fbuf : NULL,
                               to ? tbuf : NULL, &rows, &nrows, err, sizeof(err));
        if (rc == 0 && json) {
                json_t *a = json_array();
                for (int i = 0; i < nrows; i++)
                        json_array_append_new(a, row_json(&rows[i]));
                json_dumpf(a, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                putchar('\n');
                json_decref(a);
        } else if (rc == 0) {
                print_rows(rows, nrows);
        } else {
                fprintf(stderr, "kmsync status: %s\n", err);
        }
        if (rc == 0)
                km_inst_rows_free(rows, nrows);
        km_state_close(st);
        return rc ? KM_EXIT_FAILED : KM_EXIT_OK;
}
