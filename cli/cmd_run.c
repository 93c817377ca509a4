/* cmd_run.c - `kmsync run` and `kmsync preview`: execute one instance of a
 * SYNC, or show its first rows without writing anything. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kmsync/run.h"
#include "runner.h"
#include "state.h"

typedef struct run_args {
        const char *at, *sync, *kafka, *target, *rejects, *state;
        int json, partitions, limit, quiet;
} run_args_t;

/* The one SYNC a run executes: --sync, or the file's only one. */
static const km_sync_plan_t *pick_sync(const km_plan_t *plan, const char *name)
{
        const km_sync_plan_t **syncs;
        int n;
        if (km_cli_select(plan, name, &syncs, &n))
                return NULL;
        if (n == 1)
                return syncs[0];
        fprintf(stderr, "kmsync: %s defines %d SYNCs; choose one with --sync:",
                plan->source_name, n);
        for (int i = 0; i < n; i++)
                fprintf(stderr, " %s", syncs[i]->name);
        fputc('\n', stderr);
        return NULL;
}

static int execute(const char *file, const run_args_t *a, int preview)
{
        km_civil_t at;
        if (km_cli_time("--at", a->at, &at))
                return KM_EXIT_USAGE;
        km_plan_t *plan = km_cli_compile(file);
        if (!plan)
                return KM_RUN_FAILED_FOR_GOOD;
        const km_sync_plan_t *sync = pick_sync(plan, a->sync);
        if (!sync) {
                km_plan_free(plan);
                return KM_EXIT_USAGE;
        }
        km_run_options_t opts = {0};
        opts.kafka = a->kafka;
        opts.target = a->target;
        opts.rejects_dir = a->rejects;
        opts.mock_partitions = a->partitions;
        opts.progress = !preview && !a->quiet && isatty(STDERR_FILENO);
        opts.preview_limit = preview ? (a->limit > 0 ? a->limit : 10) : 0;
        opts.preview_out = stdout;
        km_run_report_t rep;
        km_state_t *state = NULL;
        if (!preview) {
                state = km_cli_open_state(a->state);
                if (!state) {
                        km_plan_free(plan);
                        return KM_RUN_FAILED;
                }
        }
        km_attempt_t attempt = {plan, sync, file, at, &opts};
        km_run_status_t st = km_attempt_run(state, &attempt, &rep);
        km_state_close(state);
        if (a->json && !preview) {
                json_t *j = km_run_report_json(&rep);
                json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                putchar('\n');
                json_decref(j);
        } else if (!preview) {
                km_run_report_print(stderr, &rep);
        } else if (st != KM_RUN_OK) {
                fprintf(stderr, "kmsync preview: %s\n", rep.error);
        }
        km_run_report_clear(&rep);
        km_plan_free(plan);
        return (int)st;
}

static int run_or_preview(int argc, char **argv, int preview)
{
        const km_cmd_t *cmd = km_cli_command(preview ? "preview" : "run");
        run_args_t a = {0};
        const km_opt_t run_opts[] = {
                KM_OPT_STRING("at", &a.at, "the scheduled time of the run"),
                KM_OPT_STRING("sync", &a.sync, "the SYNC to run"),
                KM_OPT_STRING("kafka", &a.kafka,
                              "brokers, or mock:FIXTURE.jsonl for the "
                              "embedded cluster"),
                KM_OPT_STRING("target", &a.target, "local:DIR or maxcompute"),
                KM_OPT_STRING("rejects", &a.rejects,
                              "directory for dirty records (.kmsync/rejects)"),
                KM_OPT_STRING("state", &a.state,
                              "instance history directory (.kmsync)"),
                KM_OPT_INT("partitions", &a.partitions,
                           "mock: at least this many partitions"),
                KM_OPT_FLAG("json", &a.json, "print the report as JSON"),
                KM_OPT_FLAG("quiet", &a.quiet, "no progress line"),
                KM_OPT_END(),
        };
        const km_opt_t preview_opts[] = {
                KM_OPT_STRING("at", &a.at, "the scheduled time of the run"),
                KM_OPT_STRING("sync", &a.sync, "the SYNC to preview"),
                KM_OPT_STRING("kafka", &a.kafka,
                              "brokers, or mock:FIXTURE.jsonl"),
                KM_OPT_INT("limit", &a.limit, "rows to print (10)"),
                KM_OPT_INT("partitions", &a.partitions,
                           "mock: at least this many partitions"),
                KM_OPT_END(),
        };
        const km_opt_t *opts = preview ? preview_opts : run_opts;
        int n = km_parse_options(argc, argv, opts, cmd);
        if (n < 0)
                return KM_EXIT_USAGE;
        if (n != 1 || !a.at) {
                fprintf(stderr, "kmsync %s: name one FILE and --at TIME\n",
                        cmd->name);
                km_print_usage(stderr, cmd, opts);
                return KM_EXIT_USAGE;
        }
        return execute(argv[0], &a, preview);
}

int km_cmd_run(int argc, char **argv)
{
        return run_or_preview(argc, argv, 0);
}

int km_cmd_preview(int argc, char **argv)
{
        return run_or_preview(argc, argv, 1);
}
