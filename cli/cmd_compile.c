/* cmd_compile.c - the commands that stop at the compiler: check, plan, ddl
 * and param.  None of them opens a socket. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kmsync/ddl.h"
#include "kmsync/param.h"
#include "kmsync/target.h"

/* -------------------------------------------------------------- check */

int km_cmd_check(int argc, char **argv)
{
        const km_cmd_t *cmd = km_cli_command("check");
        static const km_opt_t opts[] = {KM_OPT_END()};
        int n = km_parse_options(argc, argv, opts, cmd);
        if (n < 0)
                return KM_EXIT_USAGE;
        if (n == 0) {
                fprintf(stderr, "kmsync check: name at least one FILE\n");
                km_print_usage(stderr, cmd, opts);
                return KM_EXIT_USAGE;
        }
        int failed = 0;
        for (int i = 0; i < n; i++) {
                km_plan_t *plan = km_cli_compile(argv[i]);
                failed |= plan == NULL;
                km_plan_free(plan);
        }
        return failed ? KM_EXIT_FAILED : KM_EXIT_OK;
}

/* --------------------------------------------------------------- plan */

typedef struct plan_args {
        const char *at, *from, *to, *sync;
        int json;
} plan_args_t;

/* Runs at any time are allowed (a manual run); say when it is not one the
 * schedule would start. */
static void note_unscheduled(const km_sync_plan_t *sync, const km_civil_t *at)
{
        char when[20];
        if (sync->schedule.kind == KM_SCHED_NONE ||
            km_sched_is_due(&sync->schedule, at))
                return;
        km_civil_format(at, when);
        fprintf(stderr,
                "note: %s is not a scheduled time of SYNC %s; shown as a "
                "manual run at that time\n",
                when, sync->name);
}

static int plan_at(const km_plan_t *plan, const km_sync_plan_t **syncs,
                   int n, const km_civil_t *at, int json)
{
        json_t *all = json_array();
        int failed = 0;
        for (int i = 0; i < n; i++) {
                km_instance_t in;
                char err[512];
                if (km_instance_make(syncs[i], at, &in, err, sizeof(err))) {
                        fprintf(stderr, "kmsync: %s: SYNC %s: %s\n",
                                plan->source_name, syncs[i]->name, err);
                        failed = 1;
                        continue;
                }
                if (json)
                        json_array_append_new(all, km_instance_to_json(&in));
                else
                        km_instance_print(stdout, &in);
                if (!json && i + 1 < n)
                        putchar('\n');
                note_unscheduled(syncs[i], at);
                km_instance_clear(&in);
        }
        if (json) {
                json_t *doc = json_pack("{s:o}", "syncs", all);
                json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                putchar('\n');
                json_decref(doc);
        } else {
                json_decref(all);
        }
        return failed ? KM_EXIT_FAILED : KM_EXIT_OK;
}

/* Every scheduled run of each SYNC in [from, to]: what backfill runs. */
static int plan_range(const km_plan_t *plan, const km_sync_plan_t **syncs,
                      int n, const km_civil_t *from, const km_civil_t *to,
                      int json)
{
        json_t *all = json_array();
        int failed = 0;
        for (int i = 0; i < n; i++) {
                const km_sync_plan_t *s = syncs[i];
                if (s->schedule.kind == KM_SCHED_NONE) {
                        fprintf(stderr, "kmsync: SYNC %s has no SCHEDULE: it "
                                        "runs on demand only\n",
                                s->name);
                        continue;
                }
                km_civil_t t, next;
                km_civil_from_seconds(km_civil_to_seconds(from) - 1, &t);
                while (km_sched_next(&s->schedule, &t, &next) == 0 &&
                       km_civil_cmp(&next, to) <= 0) {
                        km_instance_t in;
                        char err[512];
                        t = next;
                        if (km_instance_make(s, &next, &in, err, sizeof(err))) {
                                fprintf(stderr, "kmsync: %s: SYNC %s: %s\n",
                                        plan->source_name, s->name, err);
                                failed = 1;
                                break;
                        }
                        if (json)
                                json_array_append_new(all,
                                                      km_instance_to_json(&in));
                        else
                                km_instance_print_line(stdout, &in);
                        km_instance_clear(&in);
                }
        }
        json_t *doc = json_pack("{s:o}", "instances", all);
        if (json) {
                json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                putchar('\n');
        }
        json_decref(doc);
        return failed ? KM_EXIT_FAILED : KM_EXIT_OK;
}

static int plan_usage(const km_cmd_t *cmd, const km_opt_t *opts,
                      const char *why)
{
        fprintf(stderr, "kmsync plan: %s\n", why);
        km_print_usage(stderr, cmd, opts);
        return KM_EXIT_USAGE;
}

int km_cmd_plan(int argc, char **argv)
{
        const km_cmd_t *cmd = km_cli_command("plan");
        plan_args_t a = {0};
        const km_opt_t opts[] = {
                KM_OPT_STRING("at", &a.at, "the scheduled time of the run"),
                KM_OPT_STRING("from", &a.from, "first time of a range"),
                KM_OPT_STRING("to", &a.to, "last time of a range (included)"),
                KM_OPT_STRING("sync", &a.sync, "only this SYNC"),
                KM_OPT_FLAG("json", &a.json, "print JSON"),
                KM_OPT_END(),
        };
        int n = km_parse_options(argc, argv, opts, cmd);
        if (n < 0)
                return KM_EXIT_USAGE;
        if (n != 1)
                return plan_usage(cmd, opts, "name one FILE");
        if (!a.at == !(a.from || a.to) || (!a.from != !a.to))
                return plan_usage(cmd, opts,
                                  "give either --at TIME or --from TIME --to TIME");
        km_civil_t at, from, to;
        if ((a.at && km_cli_time("--at", a.at, &at)) ||
            (a.from && (km_cli_time("--from", a.from, &from) ||
                        km_cli_time("--to", a.to, &to))))
                return KM_EXIT_USAGE;
        km_plan_t *plan = km_cli_compile(argv[0]);
        if (!plan)
                return KM_EXIT_FAILED;
        const km_sync_plan_t **syncs;
        int nsyncs, rc = KM_EXIT_FAILED;
        if (km_cli_select(plan, a.sync, &syncs, &nsyncs) == 0)
                rc = a.at ? plan_at(plan, syncs, nsyncs, &at, a.json)
                          : plan_range(plan, syncs, nsyncs, &from, &to, a.json);
        km_plan_free(plan);
        return rc;
}

/* ---------------------------------------------------------------- ddl */

/* Runs one SYNC's CREATE TABLE on its MaxCompute project. */
static int apply_ddl(const km_plan_t *plan, const km_sync_plan_t *sync,
                     const char *sql)
{
        char err[2048];
        if (km_maxcompute_apply_ddl(sync, sql, err, sizeof(err)) == 0) {
                fprintf(stderr, "kmsync: SYNC %s: table %s.%s is there\n",
                        sync->name, sync->mc ? sync->mc->project : "?",
                        sync->table);
                return 0;
        }
        fprintf(stderr, "%s:%d: error: SYNC %s: CREATE TABLE failed: %s\n",
                plan->source_name, sync->line, sync->name, err);
        return -1;
}

int km_cmd_ddl(int argc, char **argv)
{
        const km_cmd_t *cmd = km_cli_command("ddl");
        const char *sync_name = NULL;
        int apply = 0;
        const km_opt_t opts[] = {
                KM_OPT_STRING("sync", &sync_name, "only this SYNC"),
                KM_OPT_FLAG("apply", &apply,
                            "run the statements on MaxCompute"),
                KM_OPT_END(),
        };
        int n = km_parse_options(argc, argv, opts, cmd);
        if (n < 0)
                return KM_EXIT_USAGE;
        if (n != 1) {
                fprintf(stderr, "kmsync ddl: name one FILE\n");
                km_print_usage(stderr, cmd, opts);
                return KM_EXIT_USAGE;
        }
        km_plan_t *plan = km_cli_compile(argv[0]);
        if (!plan)
                return KM_EXIT_FAILED;
        const km_sync_plan_t **syncs;
        int nsyncs, rc = KM_EXIT_FAILED;
        if (km_cli_select(plan, sync_name, &syncs, &nsyncs) == 0) {
                rc = KM_EXIT_OK;
                for (int i = 0; i < nsyncs; i++) {
                        char *sql = km_ddl_create_table(syncs[i]);
                        printf("%s-- SYNC %s\n%s", i ? "\n" : "",
                               syncs[i]->name, sql);
                        fflush(stdout);
                        if (apply && apply_ddl(plan, syncs[i], sql))
                                rc = KM_EXIT_FAILED;
                        free(sql);
                }
        }
        km_plan_free(plan);
        return rc;
}

/* -------------------------------------------------------------- param */

int km_cmd_param(int argc, char **argv)
{
        const km_cmd_t *cmd = km_cli_command("param");
        const char *at_text = NULL;
        const km_opt_t opts[] = {
                KM_OPT_STRING("at", &at_text, "the scheduled time"),
                KM_OPT_END(),
        };
        int n = km_parse_options(argc, argv, opts, cmd);
        if (n < 0)
                return KM_EXIT_USAGE;
        if (n != 1 || !at_text) {
                fprintf(stderr, "kmsync param: give one TEXT and --at TIME\n");
                km_print_usage(stderr, cmd, opts);
                return KM_EXIT_USAGE;
        }
        km_civil_t at;
        if (km_cli_time("--at", at_text, &at))
                return KM_EXIT_USAGE;
        km_param_error_t err;
        char *out = km_param_eval(argv[0], &at, &err);
        if (!out) {
                fprintf(stderr, "kmsync param: error: %s\n  %s\n  %*s^\n",
                        err.message, argv[0], (int)err.offset, "");
                return KM_EXIT_FAILED;
        }
        printf("%s\n", out);
        free(out);
        return KM_EXIT_OK;
}
