/* ast.h - the syntax tree of a .sync file, as written.
 *
 * The parser builds it and does nothing else: names are not resolved, types
 * and units are kept as the words the user wrote, scheduling expressions are
 * kept as text.  Every node carries its byte range so that check.c can point
 * at it.  All nodes live in the tree's arena and are freed together. */
#ifndef KMSYNC_AST_H
#define KMSYNC_AST_H

#include <stdint.h>

#include "kmsync/arena.h"
#include "kmsync/diag.h"

/* A name: plain, keyword used as a name, or back-quoted. */
typedef struct km_name {
        const char *text;
        km_loc_t loc;
        int quoted;
} km_name_t;

/* A string value: a literal 'text', or ENV('VAR') read at run time. */
typedef struct km_value {
        const char *text; /* the literal, or the variable's name */
        km_loc_t loc;     /* the literal (for ENV: the quoted name) */
        int is_env;
        int set;
} km_value_t;

typedef struct km_int {
        int64_t value;
        km_loc_t loc;
        int set;
} km_int_t;

/* An amount of time as written: "2 MINUTES". */
typedef struct km_duration {
        km_int_t amount;
        km_name_t unit;
        km_loc_t loc;
        int set;
} km_duration_t;

typedef struct km_option {
        km_value_t key;
        km_value_t value;
        struct km_option *next;
} km_option_t;

/* A column type as written: STRING, DECIMAL(10, 2). */
typedef struct km_type_ref {
        km_name_t name;
        int nargs;
        km_int_t args[2];
        km_loc_t loc;
        int set;
} km_type_ref_t;

typedef enum km_map_source_kind {
        KM_MAP_PATH,     /* a record field or JSON path: __key__, a.a1, c[1] */
        KM_MAP_CONSTANT, /* 'text': every row gets the constant */
        KM_MAP_DQUOTED,  /* "a.b": not valid, reported by check.c */
} km_map_source_kind_t;

typedef struct km_map_item {
        km_map_source_kind_t kind;
        const char *source; /* path text as written, or the constant */
        km_loc_t source_loc;
        km_name_t column;
        km_type_ref_t type;
        struct km_map_item *next;
} km_map_item_t;

typedef struct km_partition_item {
        km_name_t key;
        km_value_t value;
        struct km_partition_item *next;
} km_partition_item_t;

/* A list of day words or numbers in WEEKLY ON ... / MONTHLY ON ... */
typedef struct km_day_item {
        km_name_t name; /* weekday name (WEEKLY) */
        km_int_t day;   /* day of month (MONTHLY) */
        int last;       /* MONTHLY: LAST DAY */
        km_loc_t loc;
        struct km_day_item *next;
} km_day_item_t;

typedef enum km_sched_form {
        KM_SF_EVERY,   /* EVERY n unit [FROM 'hh:mi' TO 'hh:mi'] */
        KM_SF_HOURLY,  /* HOURLY AT MINUTE m */
        KM_SF_DAILY,   /* DAILY AT 'hh:mi' */
        KM_SF_WEEKLY,  /* WEEKLY ON day[, day] AT 'hh:mi' */
        KM_SF_MONTHLY, /* MONTHLY ON DAY d[, d][, LAST DAY] AT 'hh:mi' */
} km_sched_form_t;

typedef struct km_sched_clause {
        km_sched_form_t form;
        km_duration_t every;  /* EVERY */
        km_value_t from, to;  /* EVERY ... FROM .. TO .. */
        km_int_t minute;      /* HOURLY AT MINUTE m */
        km_value_t at;        /* DAILY/WEEKLY/MONTHLY */
        km_day_item_t *days;  /* WEEKLY/MONTHLY */
        km_loc_t loc;
        int set;
} km_sched_clause_t;

typedef enum km_end_form {
        KM_END_WINDOW_END, /* END AT WINDOW END */
        KM_END_IDLE,       /* END WHEN IDLE d */
} km_end_form_t;

typedef enum km_write_form {
        KM_WRITE_OVERWRITE,
        KM_WRITE_APPEND,
} km_write_form_t;

/* Where a clause was written; clause_seen() keeps the first. */
typedef struct km_clause_loc {
        km_loc_t loc;
        int set;
} km_clause_loc_t;

typedef struct km_sync_stmt {
        km_name_t name;
        km_name_t from;     /* the Kafka connection */
        km_name_t into;     /* the MaxCompute connection */
        km_name_t table;
        km_loc_t into_loc;  /* the whole conn.table */

        km_value_t topic;
        km_value_t group;
        km_name_t key_type;
        km_name_t value_type;
        km_value_t encoding;
        km_value_t timezone;
        km_value_t window_from, window_to;
        km_partition_item_t *partition;
        km_sched_clause_t schedule;
        km_end_form_t end;
        km_duration_t idle;
        km_int_t retry_times;
        km_duration_t retry_every;
        km_int_t errors_limit;
        km_map_item_t *map;
        km_int_t lifecycle;
        km_write_form_t write;

        /* One entry per clause kind, for "clause given twice" and for
         * pointing at a clause as a whole. */
        km_clause_loc_t c_topic, c_group, c_key, c_value, c_encoding,
                c_timezone, c_window, c_partition, c_schedule, c_end, c_retry,
                c_errors, c_map, c_lifecycle, c_write;
} km_sync_stmt_t;

typedef struct km_kafka_stmt {
        km_name_t name;
        km_value_t brokers;
        km_option_t *options;
        km_clause_loc_t c_brokers, c_options;
} km_kafka_stmt_t;

typedef struct km_mc_stmt {
        km_name_t name;
        km_value_t endpoint;
        km_value_t tunnel_endpoint;
        km_name_t project;
        km_name_t schema;
        km_value_t access_id;
        km_value_t access_secret;
        km_value_t sts_token;
        km_option_t *options;
        km_clause_loc_t c_endpoint, c_tunnel, c_project, c_schema, c_access,
                c_sts, c_options;
} km_mc_stmt_t;

typedef enum km_stmt_kind {
        KM_STMT_KAFKA,
        KM_STMT_MAXCOMPUTE,
        KM_STMT_SYNC,
} km_stmt_kind_t;

typedef struct km_stmt {
        km_stmt_kind_t kind;
        km_loc_t loc; /* the statement's first keyword */
        int broken;   /* cut short by a syntax error: its name is known, the
                       * rest may be missing */
        union {
                km_kafka_stmt_t kafka;
                km_mc_stmt_t mc;
                km_sync_stmt_t sync;
        } u;
        struct km_stmt *next;
} km_stmt_t;

typedef struct km_ast {
        km_arena_t arena;
        km_stmt_t *stmts;
        km_stmt_t **tail;
} km_ast_t;

/* Parses the source into *ast (initialised by this call), reporting syntax
 * errors into d.  Returns the number of syntax errors; the tree holds every
 * statement that parsed, so check.c can still report on them.  Free with
 * km_ast_free(). */
int km_parse(const km_src_t *src, km_ast_t *ast, km_diag_t *d);
void km_ast_free(km_ast_t *ast);

#endif
