/* cmd_kafka_mock.c - `kmsync kafka-mock`: serve a fixture from an embedded
 * Kafka cluster on 127.0.0.1 until SIGINT or SIGTERM.
 *
 * The first line of stdout is the bootstrap address, so a script can start
 * the command in the background and read where to connect. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kmsync/fixture.h"
#include "kmsync/mock.h"

#define KM_MAX_PARTITIONS 10000

typedef struct mock_args {
        const char *load, *topic;
        int port, partitions, brokers;
} mock_args_t;

static int usage_problem(const km_cmd_t *cmd, const km_opt_t *opts,
                         const char *msg)
{
        fprintf(stderr, "kmsync kafka-mock: %s\n", msg);
        km_print_usage(stderr, cmd, opts);
        return -1;
}

static int parse_args(int argc, char **argv, mock_args_t *a)
{
        const km_cmd_t *cmd = km_cli_command("kafka-mock");
        const km_opt_t opts[] = {
                KM_OPT_STRING("load", &a->load,
                              "FIXTURE.jsonl: the records, one JSON a line"),
                KM_OPT_STRING("topic", &a->topic,
                              "topic of records that name none"),
                KM_OPT_INT("partitions", &a->partitions,
                           "at least N partitions a topic (default 1)"),
                KM_OPT_INT("brokers", &a->brokers,
                           "N brokers (default 1)"),
                KM_OPT_INT("port", &a->port,
                           "fail unless the first broker got port N: "
                           "librdkafka 2.0.2 picks the ports itself"),
                KM_OPT_END(),
        };
        int n = km_parse_options(argc, argv, opts, cmd);
        if (n < 0)
                return -1;
        if (n > 0)
                return usage_problem(cmd, opts, "takes no FILE; name the "
                                                "fixture with --load FILE");
        if (!a->load)
                return usage_problem(cmd, opts, "name the fixture with "
                                                "--load FIXTURE.jsonl");
        if (a->partitions < 1 || a->partitions > KM_MAX_PARTITIONS)
                return usage_problem(cmd, opts, "--partitions takes 1 to "
                                                "10000");
        if (a->brokers < 1 || a->brokers > 32)
                return usage_problem(cmd, opts, "--brokers takes 1 to 32");
        if (a->port < 0 || a->port > 65535)
                return usage_problem(cmd, opts, "--port takes 1 to 65535");
        return 0;
}

/* The port of the first broker of "127.0.0.1:PORT,...". */
static int first_port(const char *bootstraps)
{
        const char *colon = strchr(bootstraps, ':');
        return colon ? atoi(colon + 1) : -1;
}

/* ------------------------------------------------------------ summary */

typedef struct topic_sum {
        const char *name;
        int partitions;
        size_t records;
} topic_sum_t;

/* The entry of topic `name`, added when new; *last (the previous hit) is
 * tried first, as records of a topic tend to come together. */
static topic_sum_t *topic_sum(topic_sum_t **sums, size_t *n, size_t *last,
                              const char *name)
{
        if (*last < *n && strcmp((*sums)[*last].name, name) == 0)
                return &(*sums)[*last];
        for (size_t i = 0; i < *n; i++)
                if (strcmp((*sums)[i].name, name) == 0)
                        return &(*sums)[*last = i];
        *sums = realloc(*sums, (*n + 1) * sizeof(**sums));
        if (!*sums)
                abort();
        (*sums)[*n] = (topic_sum_t){name, 0, 0};
        *last = *n;
        return &(*sums)[(*n)++];
}

static void print_summary(const km_fixture_t *f, const mock_args_t *a)
{
        topic_sum_t *sums = NULL;
        size_t n = 0, last = 0;
        if (a->topic)
                topic_sum(&sums, &n, &last, a->topic);
        for (size_t i = 0; i < f->count; i++) {
                topic_sum_t *s =
                        topic_sum(&sums, &n, &last, f->records[i].topic);
                s->records++;
                if (f->records[i].partition + 1 > s->partitions)
                        s->partitions = f->records[i].partition + 1;
        }
        for (size_t i = 0; i < n; i++)
                if (sums[i].partitions < a->partitions)
                        sums[i].partitions = a->partitions;
        for (size_t i = 0; i < n; i++)
                fprintf(stderr, "kmsync kafka-mock: topic %s: %d "
                                "partition%s, %zu record%s\n",
                        sums[i].name, sums[i].partitions,
                        sums[i].partitions == 1 ? "" : "s", sums[i].records,
                        sums[i].records == 1 ? "" : "s");
        free(sums);
}

/* --topic names a topic the fixture has no record of: serve it empty. */
static int create_empty_topic(km_mock_t *m, const km_fixture_t *f,
                              const mock_args_t *a)
{
        if (!a->topic)
                return 0;
        for (size_t i = 0; i < f->count; i++)
                if (strcmp(f->records[i].topic, a->topic) == 0)
                        return 0;
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
                km_mock_cluster(m), a->topic, a->partitions, 1);
        if (!err)
                return 0;
        fprintf(stderr, "kmsync kafka-mock: cannot create topic '%s': %s\n",
                a->topic, rd_kafka_err2str(err));
        return -1;
}

/* -------------------------------------------------------------- serve */

/* Waits for SIGINT or SIGTERM (blocked in every thread), serving the
 * owner's queue meanwhile. */
static void serve(km_mock_t *m, const sigset_t *stop)
{
        rd_kafka_t *rk = rd_kafka_mock_cluster_handle(km_mock_cluster(m));
        struct timespec second = {1, 0};
        for (;;) {
                int sig = sigtimedwait(stop, NULL, &second);
                if (sig == SIGINT || sig == SIGTERM)
                        return;
                rd_kafka_poll(rk, 0);
        }
}

/* A stop signal came while loading: stop without serving. */
static int stop_pending(const sigset_t *stop)
{
        struct timespec now = {0, 0};
        if (sigtimedwait(stop, NULL, &now) <= 0)
                return 0;
        fprintf(stderr, "kmsync kafka-mock: stopped before serving\n");
        return 1;
}

static int run(const mock_args_t *a, const km_fixture_t *f,
               const sigset_t *stop)
{
        char err[1024];
        km_mock_t *m = km_mock_start(a->brokers, err, sizeof(err));
        if (!m) {
                fprintf(stderr, "kmsync kafka-mock: %s\n", err);
                return KM_EXIT_FAILED;
        }
        int port = first_port(km_mock_bootstraps(m)), rc = KM_EXIT_OK;
        if (a->port && port != a->port) {
                fprintf(stderr, "kmsync kafka-mock: --port %d: the mock "
                                "cluster got port %d; librdkafka 2.0.2 cannot "
                                "choose the port, so drop --port and read the "
                                "address from the first line of output\n",
                        a->port, port);
                rc = KM_EXIT_FAILED;
        } else if (km_mock_load(m, f, a->partitions, err, sizeof(err))) {
                fprintf(stderr, "kmsync kafka-mock: %s: %s\n", a->load, err);
                rc = KM_EXIT_FAILED;
        } else if (create_empty_topic(m, f, a)) {
                rc = KM_EXIT_FAILED;
        }
        if (rc == KM_EXIT_OK && !stop_pending(stop)) {
                printf("%s\n", km_mock_bootstraps(m));
                fflush(stdout);
                print_summary(f, a);
                fprintf(stderr, "kmsync kafka-mock: serving on %s; stop with "
                                "Ctrl-C\n",
                        km_mock_bootstraps(m));
                serve(m, stop);
        }
        km_mock_stop(m);
        rd_kafka_wait_destroyed(5000);
        return rc;
}

/* Blocks SIGINT and SIGTERM before librdkafka starts its threads, so that
 * every thread leaves them to sigtimedwait; they stay blocked, as the
 * process exits next (a second Ctrl-C must not kill it midway).  A
 * script's background job starts with SIGINT ignored, and an ignored
 * signal never reaches sigtimedwait: restore the default. */
static void take_stop_signals(sigset_t *stop)
{
        sigemptyset(stop);
        sigaddset(stop, SIGINT);
        sigaddset(stop, SIGTERM);
        pthread_sigmask(SIG_BLOCK, stop, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
}

int km_cmd_kafka_mock(int argc, char **argv)
{
        mock_args_t a = {.partitions = 1, .brokers = 1};
        if (parse_args(argc, argv, &a))
                return KM_EXIT_USAGE;
        sigset_t stop;
        take_stop_signals(&stop);
        char err[1024];
        km_fixture_t f;
        if (km_fixture_load(a.load, a.topic, &f, err, sizeof(err))) {
                fprintf(stderr, "kmsync kafka-mock: %s\n", err);
                return KM_EXIT_FAILED;
        }
        int rc = stop_pending(&stop) ? KM_EXIT_OK : run(&a, &f, &stop);
        km_fixture_free(&f);
        return rc;
}
