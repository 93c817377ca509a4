/* cmd_backfill.c - `kmsync backfill` (every scheduled instance of a range)
 * and `kmsync rerun` (one instance again, overwriting its partition). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runner.h"
#include "scheduler.h"
#include "state.h"

/* ----------------------------------------------------------- backfill */

typedef struct backfill_args {
        const char *sync, *from, *to, *state, *kafka, *target;
        int parallel, skip_succeeded, partitions;
} backfill_args_t;

int km_cmd_backfill(int argc, char **argv)
{
        const km_cmd_t *cmd = km_cli_command("backfill");
        backfill_args_t a = {0};
        const km_opt_t opts[] = {
                KM_OPT_STRING("sync", &a.sync, "only this SYNC"),
                KM_OPT_STRING("from", &a.from, "first scheduled time"),
                KM_OPT_STRING("to", &a.to, "last scheduled time (included)"),
                KM_OPT_INT("parallel", &a.parallel, "instances at once (1)"),
                KM_OPT_FLAG("skip-succeeded", &a.skip_succeeded,
                            "skip instances that already succeeded"),
                KM_OPT_STRING("state", &a.state, "instance history directory"),
                KM_OPT_STRING("kafka", &a.kafka, "brokers or mock:FIXTURE"),
                KM_OPT_STRING("target", &a.target, "local:DIR or maxcompute"),
                KM_OPT_INT("partitions", &a.partitions,
                           "mock: at least this many partitions"),
                KM_OPT_END(),
        };
        int n = km_parse_options(argc, argv, opts, cmd);
        if (n < 0)
                return KM_EXIT_USAGE;
        km_civil_t from, to;
        if (n != 1 || !a.from || !a.to) {
                fprintf(stderr, "kmsync backfill: name one FILE, --from and "
                                "--to\n");
                km_print_usage(stderr, cmd, opts);
                return KM_EXIT_USAGE;
        }
        if (km_cli_time("--from", a.from, &from) ||
            km_cli_time("--to", a.to, &to))
                return KM_EXIT_USAGE;
        km_sched_file_t file = {argv[0], km_cli_compile(argv[0])};
        if (!file.plan)
                return KM_EXIT_FOR_GOOD;
        const km_sync_plan_t **syncs;
        int nsyncs, rc = KM_EXIT_USAGE;
        km_state_t *st = NULL;
        if (km_cli_select(file.plan, a.sync, &syncs, &nsyncs) == 0 &&
            (st = km_cli_open_state(a.state))) {
                km_backfill_options_t o = {0};
                o.run.kafka = a.kafka;
                o.run.target = a.target;
                o.run.mock_partitions = a.partitions;
                o.parallel = a.parallel;
                o.skip_succeeded = a.skip_succeeded;
                o.log = stdout;
                rc = km_backfill(st, &file, syncs, nsyncs, &from, &to, &o);
        } else if (!st && a.sync == NULL) {
                rc = KM_EXIT_FAILED;
        }
        km_state_close(st);
        km_plan_free(file.plan);
        return rc;
}

/* -------------------------------------------------------------- rerun */

/* The file an instance of `sync` last ran from, malloc'd. */
static char *file_of(km_state_t *st, const char *sync)
{
        km_inst_row_t *rows;
        int n;
        char err[512], *file = NULL;
        if (km_state_list(st, sync, NULL, NULL, &rows, &n, err, sizeof(err)))
                return NULL;
        if (n > 0 && rows[n - 1].file)
                file = strdup(rows[n - 1].file);
        km_inst_rows_free(rows, n);
        return file;
}

int km_cmd_rerun(int argc, char **argv)
{
        const km_cmd_t *cmd = km_cli_command("rerun");
        const char *at_text = NULL, *file = NULL, *state = NULL, *kafka = NULL,
                   *target = NULL;
        int json = 0;
        const km_opt_t opts[] = {
                KM_OPT_STRING("at", &at_text, "the instance's scheduled time"),
                KM_OPT_STRING("file", &file,
                              "the .sync file (default: the one the history "
                              "names)"),
                KM_OPT_STRING("state", &state, "instance history directory"),
                KM_OPT_STRING("kafka", &kafka, "brokers or mock:FIXTURE"),
                KM_OPT_STRING("target", &target, "local:DIR or maxcompute"),
                KM_OPT_FLAG("json", &json, "print the report as JSON"),
                KM_OPT_END(),
        };
        int n = km_parse_options(argc, argv, opts, cmd);
        km_civil_t at;
        if (n != 1 || !at_text) {
                if (n >= 0)
                        km_print_usage(stderr, cmd, opts);
                return KM_EXIT_USAGE;
        }
        if (km_cli_time("--at", at_text, &at))
                return KM_EXIT_USAGE;
        km_state_t *st = km_cli_open_state(state);
        if (!st)
                return KM_EXIT_FAILED;
        char *path = file ? strdup(file) : file_of(st, argv[0]);
        int rc = KM_EXIT_USAGE;
        if (!path) {
                fprintf(stderr, "kmsync rerun: the history has no instance "
                                "of SYNC %s: name its file with --file\n",
                        argv[0]);
        } else {
                char *args[] = {"run", path, "--at", (char *)at_text,
                                "--sync", argv[0], NULL, NULL, NULL, NULL,
                                NULL, NULL, NULL, NULL};
                int k = 6;
                if (kafka) {
                        args[k++] = "--kafka";
                        args[k++] = (char *)kafka;
                }
                if (target) {
                        args[k++] = "--target";
                        args[k++] = (char *)target;
                }
                if (state) {
                        args[k++] = "--state";
                        args[k++] = (char *)state;
                }
                if (json)
                        args[k++] = "--json";
                km_state_close(st);
                st = NULL;
                rc = km_cmd_run(k, args);
        }
        free(path);
        km_state_close(st);
        return rc;
}
