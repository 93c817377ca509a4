/* main.c - the kmsync command: a table of subcommands, looked up by name.
 *
 * Each row says what the command is for; `kmsync help` prints the table.
 * Commands return the exit codes of cli.h. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kmsync/version.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const km_cmd_t commands[] = {
        {"check", km_cmd_check, "kmsync check FILE...",
         "check .sync files and report every problem"},
        {"plan", km_cmd_plan,
         "kmsync plan FILE (--at TIME | --from TIME --to TIME) [--sync NAME] "
         "[--json]",
         "show what a run at TIME does, or every run in a range"},
        {"ddl", km_cmd_ddl, "kmsync ddl FILE [--sync NAME] [--apply]",
         "print CREATE TABLE for each SYNC's target; --apply runs it"},
        {"param", km_cmd_param, "kmsync param TEXT --at TIME",
         "evaluate DataWorks scheduling parameters at a scheduled time"},
        {"kafka-mock", km_cmd_kafka_mock, "kmsync kafka-mock --load FIXTURE.jsonl [--topic NAME] [--partitions N] [--brokers N] [--port N]", "serve a fixture from an embedded Kafka cluster until Ctrl-C"},
        {"run", km_cmd_run,
         "kmsync run FILE --at TIME [--sync NAME] [--kafka BROKERS|mock:FILE] "
         "[--target local:DIR|maxcompute] [--json]",
         "execute the instance scheduled at TIME"},
        {"preview", km_cmd_preview,
         "kmsync preview FILE --at TIME [--limit N] [--sync NAME] [--kafka "
         "BROKERS|mock:FILE]",
         "print the first rows of a run as JSON lines; write nothing"},
        {"schedule", km_cmd_schedule,
         "kmsync schedule FILE... [--state DIR] [--max-parallel N] "
         "[--catch-up 24h] [--kafka ...] [--target ...] [--json]\n"
         "       kmsync schedule export FILE --to "
         "cron|systemd|airflow|dolphinscheduler|argo [--sync NAME]",
         "run every SYNC on its schedule (foreground); export schedules"},
        {"status", km_cmd_status,
         "kmsync status [SYNC] [--from TIME --to TIME] [--json] [--state DIR]",
         "show the instance history"},
        {"rerun", km_cmd_rerun,
         "kmsync rerun SYNC --at TIME [--file FILE] [--kafka ...] [--target "
         "...]",
         "run one instance again, overwriting its partition"},
        {"backfill", km_cmd_backfill,
         "kmsync backfill FILE [--sync NAME] --from TIME --to TIME "
         "[--parallel N] [--skip-succeeded]",
         "run every scheduled instance of a range"},
        {"help", cmd_help, "kmsync help", "list the commands"},
        {"version", cmd_version, "kmsync version", "print the version"},
};

enum { NCOMMANDS = sizeof(commands) / sizeof(commands[0]) };

const km_cmd_t *km_cli_command(const char *name)
{
        for (int i = 0; i < NCOMMANDS; i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

static void print_commands(FILE *out)
{
        fprintf(out, "usage: kmsync COMMAND [ARGS]\n\ncommands:\n");
        for (int i = 0; i < NCOMMANDS; i++)
                fprintf(out, "  %-10s %s\n", commands[i].name,
                        commands[i].summary);
        fprintf(out, "\nTIME is a wall-clock time in the SYNC's TIMEZONE: "
                     "'YYYY-MM-DD HH:MM[:SS]'.\n"
                     "Exit status: 0 ok, 1 errors found or run failed "
                     "(may succeed again), 2 usage error,\n3 run failed for "
                     "good (configuration, schema, auth, dirty records over "
                     "ERRORS LIMIT).\n");
}

static int cmd_help(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        print_commands(stdout);
        return KM_EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        printf("kmsync %s\n", KMSYNC_VERSION);
        return KM_EXIT_OK;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                print_commands(stderr);
                return KM_EXIT_USAGE;
        }
        const char *name = argv[1];
        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
                name = "help";
        else if (strcmp(name, "--version") == 0)
                name = "version";
        const km_cmd_t *cmd = km_cli_command(name);
        if (!cmd) {
                fprintf(stderr, "kmsync: '%s' is not a command; see 'kmsync "
                                "help'\n",
                        argv[1]);
                return KM_EXIT_USAGE;
        }
        return cmd->fn(argc - 1, argv + 1);
}
