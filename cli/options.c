/* options.c - declared long options for every kmsync command, and the
 * helpers commands share: reading times, compiling files, picking SYNCs. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kmsync/diag.h"
#include "state.h"

static const km_opt_t *find_opt(const km_opt_t *opts, const char *name,
                                size_t len)
{
        for (const km_opt_t *o = opts; o->type != KM_OPT_END; o++)
                if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
                        return o;
        return NULL;
}

void km_print_usage(FILE *out, const km_cmd_t *cmd, const km_opt_t *opts)
{
        fprintf(out, "usage: %s\n", cmd->usage);
        for (const km_opt_t *o = opts; o && o->type != KM_OPT_END; o++)
                fprintf(out, "    --%-14s %s\n", o->name, o->help);
}

static int usage_error(const km_cmd_t *cmd, const km_opt_t *opts,
                       const char *fmt, const char *arg)
{
        fprintf(stderr, "kmsync %s: ", cmd->name);
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
        km_print_usage(stderr, cmd, opts);
        return -1;
}

static int set_value(const km_opt_t *o, const char *value,
                     const km_cmd_t *cmd, const km_opt_t *opts)
{
        if (o->type == KM_OPT_STRING) {
                *(const char **)o->value = value;
                return 0;
        }
        char *end;
        long v = strtol(value, &end, 10);
        if (*value == '\0' || *end != '\0' || v < 0 || v > 1000000000)
                return usage_error(cmd, opts,
                                   "--%s takes a whole number", o->name);
        *(int *)o->value = (int)v;
        return 0;
}

int km_parse_options(int argc, char **argv, const km_opt_t *opts,
                     const km_cmd_t *cmd)
{
        int npos = 0, only_positional = 0;
        for (int i = 1; i < argc; i++) {
                char *arg = argv[i];
                if (only_positional || arg[0] != '-' || arg[1] != '-' ||
                    strcmp(arg, "-") == 0) {
                        argv[npos++] = arg;
                        continue;
                }
                if (strcmp(arg, "--") == 0) {
                        only_positional = 1;
                        continue;
                }
                const char *name = arg + 2, *eq = strchr(name, '=');
                size_t len = eq ? (size_t)(eq - name) : strlen(name);
                const km_opt_t *o = find_opt(opts, name, len);
                if (!o)
                        return usage_error(cmd, opts, "unknown option '%s'",
                                           arg);
                if (o->type == KM_OPT_FLAG) {
                        if (eq)
                                return usage_error(cmd, opts,
                                                   "--%s takes no value",
                                                   o->name);
                        *(int *)o->value = 1;
                        continue;
                }
                const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
                if (!value)
                        return usage_error(cmd, opts, "--%s needs a value",
                                           o->name);
                if (set_value(o, value, cmd, opts) != 0)
                        return -1;
        }
        return npos;
}

int km_cli_time(const char *opt, const char *text, km_civil_t *out)
{
        if (text && km_civil_parse(text, out) == 0)
                return 0;
        fprintf(stderr,
                "kmsync: %s '%s' is not a time: write 'YYYY-MM-DD HH:MM[:SS]', "
                "e.g. '2022-11-22 10:15'\n",
                opt, text ? text : "");
        return -1;
}

km_plan_t *km_cli_compile(const char *path)
{
        char err[512];
        km_src_t *src = km_src_load(path, err, sizeof(err));
        if (!src) {
                fprintf(stderr, "kmsync: %s\n", err);
                return NULL;
        }
        km_diag_t d;
        km_diag_init(&d, src);
        km_plan_t *plan = km_compile(src, &d);
        km_diag_print(&d, stderr);
        km_diag_free(&d);
        km_src_free(src);
        return plan;
}

int km_cli_select(const km_plan_t *plan, const char *name,
                  const km_sync_plan_t ***out, int *n)
{
        if (!name) {
                *out = (const km_sync_plan_t **)plan->syncs;
                *n = plan->nsyncs;
                return 0;
        }
        for (int i = 0; i < plan->nsyncs; i++)
                if (strcmp(plan->syncs[i]->name, name) == 0) {
                        *out = (const km_sync_plan_t **)&plan->syncs[i];
                        *n = 1;
                        return 0;
                }
        fprintf(stderr, "kmsync: %s defines no SYNC named '%s'; it has:",
                plan->source_name, name);
        for (int i = 0; i < plan->nsyncs; i++)
                fprintf(stderr, " %s", plan->syncs[i]->name);
        fputc('\n', stderr);
        return -1;
}

km_state_t *km_cli_open_state(const char *dir)
{
        char err[1024];
        km_state_t *st = km_state_open(dir, err, sizeof(err));
        if (!st)
                fprintf(stderr, "kmsync: instance history: %s\n", err);
        return st;
}
