/* cmd_schedule_export.c - `kmsync schedule export`: print a definition that
 * runs a file's SYNCs at their schedule in cron, systemd, Airflow,
 * DolphinScheduler or Argo (scheduler/export.c writes them). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "export.h"

static const km_cmd_t export_cmd = {
        "schedule export", km_cmd_schedule_export,
        "kmsync schedule export FILE --to "
        "cron|systemd|airflow|dolphinscheduler|argo [--sync NAME] "
        "[--kmsync PATH]",
        "print a definition that runs the SYNCs at their schedule in "
        "another scheduler"};

typedef struct export_args {
        const char *to, *sync, *kmsync;
} export_args_t;

static int export_usage(const km_opt_t *opts, const char *why)
{
        fprintf(stderr, "kmsync schedule export: %s\n", why);
        km_print_usage(stderr, &export_cmd, opts);
        return KM_EXIT_USAGE;
}

/* The kmsync the definition runs: --kmsync, this binary for cron and
 * systemd (cron's PATH has no /usr/local/bin), else "kmsync" on the PATH
 * of the worker or the image. */
static char *kmsync_path(const char *given, km_export_format_t fmt)
{
        char self[PATH_MAX];
        ssize_t n;
        if (given && given[0] != '/' && strchr(given, '/') &&
            realpath(given, self))
                return strdup(self); /* the definition runs elsewhere */
        if (given)
                return strdup(given);
        if (km_export_format_is_local(fmt)) {
                n = readlink("/proc/self/exe", self, sizeof(self) - 1);
                if (n > 0) {
                        self[n] = '\0';
                        return strdup(self);
                }
        }
        return strdup("kmsync");
}

/* SOURCE_DATE_EPOCH, when set, makes the output reproducible. */
static int64_t export_now(void)
{
        const char *e = getenv("SOURCE_DATE_EPOCH");
        char *end;
        if (e && *e) {
                long long v = strtoll(e, &end, 10);
                if (*end == '\0' && v >= 0)
                        return v;
        }
        return (int64_t)time(NULL);
}

/* Without --sync: the SYNCs that have a SCHEDULE, saying which are left
 * out.  Returns their number (0 after a message when none has one). */
static int scheduled_only(const km_plan_t *plan, const km_sync_plan_t **in,
                          int n, const km_sync_plan_t **out)
{
        int m = 0;
        for (int i = 0; i < n; i++) {
                if (in[i]->schedule.kind != KM_SCHED_NONE)
                        out[m++] = in[i];
                else
                        fprintf(stderr,
                                "note: SYNC %s has no SCHEDULE (on demand "
                                "only): not exported\n",
                                in[i]->name);
        }
        if (m == 0)
                fprintf(stderr, "kmsync schedule export: %s has no SYNC with "
                                "a SCHEDULE: nothing to export\n",
                        plan->source_name);
        return m;
}

/* Writes the definition of the n SYNCs to stdout. */
static int write_export(const km_sync_plan_t **syncs, int n,
                        const export_args_t *a, km_export_format_t fmt,
                        const char *file)
{
        char err[1024];
        char *kmsync = kmsync_path(a->kmsync, fmt);
        km_export_opts_t o = {file, kmsync, export_now(), stderr};
        int rc = KM_EXIT_FAILED;
        if (!kmsync)
                fprintf(stderr, "kmsync schedule export: out of memory\n");
        else if (km_export_schedule(stdout, syncs, n, fmt, &o, err,
                                    sizeof(err)) == 0)
                rc = KM_EXIT_OK;
        else
                fprintf(stderr, "kmsync schedule export: %s\n", err);
        free(kmsync);
        return rc;
}

static int export_plan(const km_plan_t *plan, const export_args_t *a,
                       km_export_format_t fmt, const char *file)
{
        const km_sync_plan_t **syncs, **use;
        int n, rc = KM_EXIT_FAILED;
        if (km_cli_select(plan, a->sync, &syncs, &n) != 0)
                return KM_EXIT_FAILED;
        use = calloc((size_t)n + 1, sizeof(*use));
        if (!use)
                return KM_EXIT_FAILED;
        if (a->sync)
                memcpy(use, syncs, (size_t)n * sizeof(*use));
        else
                n = scheduled_only(plan, syncs, n, use);
        if (n > 0)
                rc = write_export(use, n, a, fmt, file);
        free(use);
        return rc;
}

int km_cmd_schedule_export(int argc, char **argv)
{
        export_args_t a = {0};
        km_export_format_t fmt;
        const km_opt_t opts[] = {
                KM_OPT_STRING("to", &a.to, km_export_format_list()),
                KM_OPT_STRING("sync", &a.sync, "only this SYNC"),
                KM_OPT_STRING("kmsync", &a.kmsync,
                              "the kmsync binary the definition runs"),
                KM_OPT_END(),
        };
        int n = km_parse_options(argc, argv, opts, &export_cmd);
        if (n < 0)
                return KM_EXIT_USAGE;
        if (n != 1)
                return export_usage(opts, "name one FILE");
        if (!a.to)
                return export_usage(opts, "say which scheduler with --to");
        if (km_export_format_parse(a.to, &fmt) != 0)
                return export_usage(opts, "--to takes cron, systemd, airflow, "
                                          "dolphinscheduler or argo");
        char *file = realpath(argv[0], NULL);
        km_plan_t *plan = km_cli_compile(argv[0]);
        int rc = KM_EXIT_FAILED;
        if (plan && file)
                rc = export_plan(plan, &a, fmt, file);
        km_plan_free(plan);
        free(file);
        return rc;
}
