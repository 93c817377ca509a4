/* mc_client.h - MaxCompute over HTTP: signed requests (ODPS v2, HMAC-SHA1)
 * to the service endpoint (SQL instances, tunnel discovery) and the tunnel
 * endpoint (upload sessions and blocks), with retries.
 *
 * Errors keep the service's Code, Message and RequestId; secrets never
 * appear in them.  Every function may be called from several threads at
 * once (each call uses its own connection).  Private to runtime/. */
#ifndef KMSYNC_MC_CLIENT_H
#define KMSYNC_MC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct km_mc_error {
        long http_status; /* 0: no HTTP answer (connection, timeout) */
        char code[128];   /* the service's Code, e.g. "NoSuchTable" */
        char message[1024];
        char request_id[128];
        int retryable;    /* 5xx, 429, timeouts, resets */
        int permanent;    /* auth, missing table, bad request: do not retry */
} km_mc_error_t;

typedef struct km_mc_config {
        const char *endpoint;        /* https://service.<region>.../api */
        const char *tunnel_endpoint; /* NULL: discovered from the service */
        const char *project;
        const char *schema;          /* NULL: two-tier project */
        const char *access_id;
        const char *access_secret;
        const char *sts_token;       /* NULL when not used */
        int tls_verify;              /* 1 unless the user opted out */
        long timeout_s;              /* per request; 0: 300 */
        int max_retries;             /* retryable failures; 0: 5 */
} km_mc_config_t;

typedef struct km_mc_client km_mc_client_t;

/* Copies what it needs from cfg.  NULL with a message when the endpoint is
 * not a URL. */
km_mc_client_t *km_mc_client_new(const km_mc_config_t *cfg, char *err,
                                 size_t errlen);
void km_mc_client_free(km_mc_client_t *c);

/* The tunnel endpoint (configured, or asked of the service once). */
int km_mc_tunnel_endpoint(km_mc_client_t *c, const char **url,
                          km_mc_error_t *err);

/* Runs one SQL statement as an instance and waits for it.  On success the
 * task's result text (malloc'd, may be "") goes to *result when not NULL;
 * on failure err->message holds the service's error verbatim. */
int km_mc_sql(km_mc_client_t *c, const char *sql, char **result,
              km_mc_error_t *err);

typedef struct km_mc_column {
        char *name;
        char *type; /* as the service writes it: "bigint", "decimal(10,2)" */
} km_mc_column_t;

typedef struct km_mc_session {
        char id[256];
        char status[32];        /* "normal", "committed", ... */
        km_mc_column_t *columns; /* the table's data columns, in order */
        int ncolumns;
        km_mc_column_t *partition_columns;
        int npartition_columns;
        int64_t max_field_size;  /* bytes; 8 MiB when not given */
        int64_t *blocks;         /* blocks the service has (status only) */
        int nblocks;
} km_mc_session_t;

void km_mc_session_clear(km_mc_session_t *s);

/* partition: "ds=20221122,hh=09" (no quotes) or NULL for a table without
 * partitions.  overwrite: the commit replaces the partition. */
int km_mc_session_create(km_mc_client_t *c, const char *table,
                         const char *partition, int overwrite,
                         km_mc_session_t *out, km_mc_error_t *err);
int km_mc_session_status(km_mc_client_t *c, const char *table,
                         const char *partition, const char *session_id,
                         km_mc_session_t *out, km_mc_error_t *err);
/* PUTs one block body (chunked); a retry sends the same block id again,
 * which replaces it. */
int km_mc_block_put(km_mc_client_t *c, const char *table,
                    const char *partition, const char *session_id,
                    int64_t block_id, const void *body, size_t len,
                    int deflated, km_mc_error_t *err);
/* Commits exactly these blocks. */
int km_mc_session_commit(km_mc_client_t *c, const char *table,
                         const char *partition, const char *session_id,
                         const int64_t *block_ids, int n, km_mc_error_t *err);

#endif
