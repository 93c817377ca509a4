/* plan.h - a checked plan: what every SYNC of a file does, resolved and typed.
 *
 * check.c turns a syntax tree into a plan, or reports why it cannot.  A plan
 * holds no secrets: connection settings read from the environment keep only
 * the variable's name, and the runtime reads the value when it connects.
 * An instance (instance.c) is one scheduled run of a SYNC: the plan's
 * templates evaluated at one scheduled time. */
#ifndef KMSYNC_PLAN_H
#define KMSYNC_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kmsync/arena.h"
#include "kmsync/calendar.h"
#include "kmsync/civil.h"
#include "kmsync/diag.h"
#include "kmsync/tz.h"

/* The six fields every Kafka record has. */
typedef enum km_field {
        KM_FIELD_NONE = 0,
        KM_FIELD_KEY,
        KM_FIELD_VALUE,
        KM_FIELD_PARTITION,
        KM_FIELD_HEADERS,
        KM_FIELD_OFFSET,
        KM_FIELD_TIMESTAMP,
} km_field_t;

/* How KEY and VALUE bytes are read. */
typedef enum km_serde {
        KM_SERDE_STRING,
        KM_SERDE_BYTES,
        KM_SERDE_JSON,
        KM_SERDE_LONG,
        KM_SERDE_DOUBLE,
} km_serde_t;

typedef enum km_type_kind {
        KM_TYPE_BIGINT,
        KM_TYPE_DOUBLE,
        KM_TYPE_BOOLEAN,
        KM_TYPE_STRING,
        KM_TYPE_DATETIME,
        KM_TYPE_DECIMAL,
} km_type_kind_t;

typedef struct km_type {
        km_type_kind_t kind;
        int precision, scale; /* DECIMAL only */
} km_type_t;

/* One step of a JSON path: a member (key) or an array element (index). */
typedef struct km_path_step {
        const char *key; /* NULL for an array element */
        size_t key_len;
        int64_t index;
} km_path_step_t;

typedef enum km_source_kind {
        KM_SOURCE_FIELD,    /* one of the six record fields */
        KM_SOURCE_PATH,     /* a JSON path into the value */
        KM_SOURCE_CONSTANT, /* the same text in every row */
} km_source_kind_t;

typedef struct km_column {
        const char *name;
        km_type_t type;
        km_source_kind_t source_kind;
        const char *source; /* as written: "__key__", "d[0].AA", "'x'" */
        km_field_t field;   /* KM_SOURCE_FIELD */
        km_path_step_t *steps; /* KM_SOURCE_PATH */
        int nsteps;
        const char *constant; /* KM_SOURCE_CONSTANT */
} km_column_t;

typedef struct km_setting {
        const char *key;
        const char *value; /* the literal, or the variable's name */
        int from_env;      /* value is ENV(value) */
        int secret;        /* never printed: shown as *** */
} km_setting_t;

typedef struct km_kafka_conn {
        const char *name;
        const char *brokers;
        int brokers_from_env;
        km_setting_t *options;
        int noptions;
} km_kafka_conn_t;

typedef struct km_mc_conn {
        const char *name;
        const char *endpoint;
        const char *tunnel_endpoint; /* NULL: discovered from the service */
        int endpoint_from_env;       /* endpoint is ENV(endpoint) */
        int tunnel_endpoint_from_env;
        const char *project;
        const char *schema; /* NULL: two-tier project */
        km_setting_t access_id;
        km_setting_t access_secret;
        km_setting_t sts_token; /* key NULL when not given */
        km_setting_t *options;
        int noptions;
} km_mc_conn_t;

typedef struct km_partition_key {
        const char *key;
        const char *value; /* a template with scheduling parameters */
} km_partition_key_t;

typedef enum km_end_policy {
        KM_END_AT_WINDOW_END,
        KM_END_WHEN_IDLE,
} km_end_policy_t;

typedef struct km_sync_plan {
        const char *name;
        const char *topic;
        const char *group;
        const km_kafka_conn_t *kafka;
        const km_mc_conn_t *mc;
        const char *table;
        km_serde_t key_serde, value_serde;
        const char *encoding;
        const char *timezone;
        const km_tz_t *tz;
        const char *window_from, *window_to; /* templates */
        km_partition_key_t *partition;
        int npartition;
        km_schedule_t schedule;
        km_end_policy_t end;
        int64_t idle_ms;
        int retry_times;
        int64_t retry_delay_ms;
        int64_t errors_limit;
        km_column_t *columns;
        int ncolumns;
        int64_t lifecycle_days;
        int append; /* WRITE APPEND: instances may share a partition */
        int line;   /* where the SYNC statement starts */
} km_sync_plan_t;

typedef struct km_plan {
        km_arena_t arena;
        const char *source_name;
        char source_sha256[65]; /* of the file's text: the plan hash */
        km_kafka_conn_t **kafka;
        int nkafka;
        km_mc_conn_t **mc;
        int nmc;
        km_sync_plan_t **syncs;
        int nsyncs;
        km_tz_t **zones; /* owned; one per distinct zone name */
        int nzones;
} km_plan_t;

/* Parses and checks one source, reporting every problem into d.  Returns the
 * plan when there are no errors (warnings allowed), else NULL.  The caller
 * frees the plan with km_plan_free(). */
km_plan_t *km_compile(const km_src_t *src, km_diag_t *d);
void km_plan_free(km_plan_t *plan);

const km_sync_plan_t *km_plan_find_sync(const km_plan_t *plan,
                                        const char *name);

const char *km_type_name(km_type_kind_t kind);
/* "DECIMAL(10,2)" or "STRING", into buf. */
void km_type_format(const km_type_t *t, char *buf, size_t len);
const char *km_serde_name(km_serde_t s);
const char *km_field_name(km_field_t f);

/* ------------------------------------------------------------- instances */

typedef struct km_instance {
        const km_sync_plan_t *sync;
        km_civil_t scheduled;         /* wall clock in the plan's zone */
        km_civil_t window_start_local;
        km_civil_t window_end_local;
        int64_t window_start_ms;
        int64_t window_end_ms;
        char *partition_spec;         /* "ds=2022112210,hh=10"; "" if none */
        char **partition_values;      /* npartition values */
        int npartition;
        char *window_from_text;       /* the substituted templates */
        char *window_to_text;
} km_instance_t;

/* Evaluates the SYNC's templates for the run scheduled at wall clock `at`.
 * Returns 0, or -1 with a message in errbuf (a template that cannot be
 * evaluated there, a bound that is not a time).  Free with
 * km_instance_clear(). */
int km_instance_make(const km_sync_plan_t *sync, const km_civil_t *at,
                     km_instance_t *out, char *errbuf, size_t errlen);
void km_instance_clear(km_instance_t *inst);

/* A window bound's text ("20221122090000") as an instant in the zone. */
int km_window_bound_ms(const km_tz_t *tz, const char *text, km_civil_t *local,
                       int64_t *ms);

#endif

/* ------------------------------------------------- showing plans (explain.c) */

/* Text shown for a setting: the literal, ENV('NAME'), or *** for secrets. */
const char *km_setting_display(const km_setting_t *s, char *buf, size_t len);

/* The instance as a JSON object (jansson's json_t *; the caller decrefs):
 * name, topic, table, partition, window_start_ms, window_end_ms, timezone,
 * end, columns and the rest of the plan, secrets as ***. */
void *km_instance_to_json(const km_instance_t *inst);

/* The instance as readable text. */
void km_instance_print(FILE *out, const km_instance_t *inst);

/* One line: run time, window, partition (the list that backfill runs). */
void km_instance_print_line(FILE *out, const km_instance_t *inst);

/* "project.table" or "project.schema.table". */
void km_sync_table_name(const km_sync_plan_t *sync, char *buf, size_t len);
