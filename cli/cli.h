/* cli.h - the kmsync command line: the command table's row type, declared
 * options, and what every command shares (loading and compiling files). */
#ifndef KMSYNC_CLI_H
#define KMSYNC_CLI_H

#include <stdio.h>

#include "kmsync/civil.h"
#include "kmsync/plan.h"

/* Exit codes of every command. */
enum {
        KM_EXIT_OK = 0,
        KM_EXIT_FAILED = 1, /* errors found, or the run failed */
        KM_EXIT_USAGE = 2,  /* the command line is wrong */
        KM_EXIT_FOR_GOOD = 3, /* failed; retrying cannot help */
};

typedef int (*km_cmd_fn)(int argc, char **argv);

typedef struct km_cmd {
        const char *name;
        km_cmd_fn fn;
        const char *usage;   /* "kmsync check FILE..." */
        const char *summary; /* one line for `kmsync help` */
} km_cmd_t;

/* ------------------------------------------------------------ options */

typedef enum km_opt_type {
        KM_OPT_END = 0,
        KM_OPT_FLAG,   /* --json: sets an int to 1 */
        KM_OPT_STRING, /* --at TIME or --at=TIME */
        KM_OPT_INT,
} km_opt_type_t;

typedef struct km_opt {
        km_opt_type_t type;
        const char *name; /* without the leading "--" */
        void *value;      /* int * or const char ** */
        const char *help;
} km_opt_t;

#define KM_OPT_FLAG(n, v, h) {KM_OPT_FLAG, n, v, h}
#define KM_OPT_STRING(n, v, h) {KM_OPT_STRING, n, v, h}
#define KM_OPT_INT(n, v, h) {KM_OPT_INT, n, v, h}
#define KM_OPT_END() {KM_OPT_END, NULL, NULL, NULL}

/* Parses argv[1..] against opts; positional arguments are moved to the
 * front of argv and their count returned.  -1 after printing the problem
 * and the usage to stderr (unknown option, missing value).  Long options
 * are matched exactly: no abbreviations. */
int km_parse_options(int argc, char **argv, const km_opt_t *opts,
                     const km_cmd_t *cmd);

void km_print_usage(FILE *out, const km_cmd_t *cmd, const km_opt_t *opts);

/* 'YYYY-MM-DD HH:MM[:SS]' from an option, or an error naming the option. */
int km_cli_time(const char *opt, const char *text, km_civil_t *out);

/* Loads and compiles FILE, printing its diagnostics to stderr.  Returns
 * the plan, or NULL when it has errors (or cannot be read). */
km_plan_t *km_cli_compile(const char *path);

/* The SYNCs a command acts on: all, or the one --sync names (NULL and an
 * error message when it names none of the file's). */
int km_cli_select(const km_plan_t *plan, const char *name,
                  const km_sync_plan_t ***out, int *n);

/* The instance history at DIR (NULL: $KMSYNC_STATE, else ./.kmsync), or
 * NULL after printing why it cannot be opened. */
struct km_state;
struct km_state *km_cli_open_state(const char *dir);

/* The command table row of a command (for its usage line). */
const km_cmd_t *km_cli_command(const char *name);

int km_cmd_check(int argc, char **argv);
int km_cmd_plan(int argc, char **argv);
int km_cmd_ddl(int argc, char **argv);
int km_cmd_param(int argc, char **argv);
int km_cmd_run(int argc, char **argv);
int km_cmd_preview(int argc, char **argv);
int km_cmd_schedule(int argc, char **argv);
int km_cmd_status(int argc, char **argv);
int km_cmd_rerun(int argc, char **argv);
int km_cmd_backfill(int argc, char **argv);
int km_cmd_kafka_mock(int argc, char **argv);
/* `kmsync schedule export FILE --to ...`: argv[0] is "export". */
int km_cmd_schedule_export(int argc, char **argv);

#endif
