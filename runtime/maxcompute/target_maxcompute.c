/* target_maxcompute.c - the MaxCompute target: rows into one partition
 * through a Tunnel upload session, replaced atomically at commit.
 *
 *   open:   ALTER TABLE ... ADD IF NOT EXISTS PARTITION (SQL), an overwrite
 *           upload session, and the table's schema checked against the
 *           SYNC's columns before a record is read;
 *   write:  rows encoded into the current block; a full block goes to an
 *           uploader thread (at most `parallel.blocks` in flight) while the
 *           next one fills;
 *   commit: the last block, every upload finished, then one commit with
 *           exactly the blocks written.
 *
 * Nothing is visible before the commit, so a failed or killed run leaves
 * the partition as it was. */
#define _GNU_SOURCE /* strcasestr */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsync/ddl.h"
#include "kmsync/target.h"
#include "mc_client.h"
#include "mc_record.h"
#include "util.h"

enum {
        DEFAULT_BLOCK_MB = 64,
        DEFAULT_PARALLEL = 2,
        MAX_PARALLEL = 16,
};

typedef struct slot slot_t;

typedef struct mc_target {
        const km_sync_plan_t *sync;
        km_mc_client_t *client;
        km_mc_session_t session;
        char partition[1024]; /* "ds=1,hh=2", "" for none */
        size_t block_bytes;
        int parallel;
        int compress_level;
        /* Table column of each SYNC column, and the table's types. */
        int *column_of;
        km_type_t *types;
        int ntable;
        km_cell_t *row; /* one row in table order */
        /* Blocks: one filling, the others uploading or free. */
        slot_t *slots;
        slot_t *filling;
        int64_t next_block_id;
        int64_t *done_ids;
        int ndone, cap_done;
        /* Shared with the uploader threads. */
        pthread_mutex_t lock;
        pthread_cond_t changed;
        int in_flight;
        int failed;
        char error[2048];
        int error_permanent;
} mc_target_t;

struct slot {
        mc_target_t *t;
        km_mc_block_t *block;
        int64_t id;
        int busy;
        pthread_t thread;
        int joinable;
};

/* ------------------------------------------------------------ settings */

static const char *option(const km_mc_conn_t *m, const char *key)
{
        for (int i = 0; i < m->noptions; i++)
                if (strcmp(m->options[i].key, key) == 0)
                        return m->options[i].value;
        return NULL;
}

static long option_long(const km_mc_conn_t *m, const char *key, long dflt,
                        long lo, long hi)
{
        const char *v = option(m, key);
        char *end;
        long n = v ? strtol(v, &end, 10) : dflt;
        if (!v || *v == '\0' || *end != '\0' || n < lo || n > hi)
                return dflt;
        return n;
}

/* A setting's value, reading ENV() now; NULL and a message naming the
 * variable (never a value) when it is unset. */
static const char *resolve(const km_setting_t *s, const char *what,
                           const char *conn, char *err, size_t errlen)
{
        if (!s->value)
                return NULL;
        if (!s->from_env)
                return s->value;
        const char *v = getenv(s->value);
        if (!v)
                snprintf(err, errlen,
                         "environment variable %s is not set (%s of "
                         "MAXCOMPUTE CONNECTION %s reads it)",
                         s->value, what, conn);
        return v;
}

static const char *resolve_plain(const char *value, int from_env,
                                 const char *what, const char *conn, char *err,
                                 size_t errlen)
{
        km_setting_t s = {what, value, from_env, 0};
        return resolve(&s, what, conn, err, errlen);
}

static km_mc_client_t *make_client(const km_mc_conn_t *m, char *err,
                                   size_t errlen)
{
        km_mc_config_t cfg = {0};
        err[0] = '\0';
        cfg.endpoint = resolve_plain(m->endpoint, m->endpoint_from_env,
                                     "ENDPOINT", m->name, err, errlen);
        cfg.tunnel_endpoint = resolve_plain(m->tunnel_endpoint,
                                            m->tunnel_endpoint_from_env,
                                            "TUNNEL ENDPOINT", m->name, err,
                                            errlen);
        cfg.access_id = resolve(&m->access_id, "ACCESS KEY", m->name, err,
                                errlen);
        cfg.access_secret = resolve(&m->access_secret, "SECRET", m->name, err,
                                    errlen);
        if (m->sts_token.key)
                cfg.sts_token = resolve(&m->sts_token, "STS TOKEN", m->name,
                                        err, errlen);
        if (err[0])
                return NULL;
        cfg.project = m->project;
        cfg.schema = m->schema;
        const char *verify = option(m, "tls.verify");
        cfg.tls_verify = !(verify && (km_strcaseeq(verify, "false") ||
                                      strcmp(verify, "0") == 0));
        cfg.timeout_s = option_long(m, "http.timeout.s", 300, 1, 86400);
        cfg.max_retries = (int)option_long(m, "retry.max", 5, 0, 100);
        return km_mc_client_new(&cfg, err, errlen);
}

/* ------------------------------------------------------------- schema */

static int type_matches(const km_type_t *want, const char *service_type)
{
        char t[64];
        size_t n = 0;
        for (const char *p = service_type; *p && n + 1 < sizeof(t); p++)
                if (*p != ' ')
                        t[n++] = (char)tolower((unsigned char)*p);
        t[n] = '\0';
        switch (want->kind) {
        case KM_TYPE_BIGINT:
                return strcmp(t, "bigint") == 0;
        case KM_TYPE_DOUBLE:
                return strcmp(t, "double") == 0;
        case KM_TYPE_BOOLEAN:
                return strcmp(t, "boolean") == 0;
        case KM_TYPE_STRING:
                return strcmp(t, "string") == 0;
        case KM_TYPE_DATETIME:
                return strcmp(t, "datetime") == 0;
        case KM_TYPE_DECIMAL: {
                int p = 38, s = 18;
                if (strcmp(t, "decimal") != 0 &&
                    sscanf(t, "decimal(%d,%d)", &p, &s) != 2)
                        return 0;
                return p == want->precision && s == want->scale;
        }
        }
        return 0;
}

/* The plan's type of a table column that no SYNC column feeds: NULL is
 * written, but the encoder still needs its kind. */
static int parse_service_type(const char *service_type, km_type_t *out)
{
        static const km_type_t kinds[] = {
                {KM_TYPE_BIGINT, 0, 0},  {KM_TYPE_DOUBLE, 0, 0},
                {KM_TYPE_BOOLEAN, 0, 0}, {KM_TYPE_STRING, 0, 0},
                {KM_TYPE_DATETIME, 0, 0},
        };
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
                if (type_matches(&kinds[i], service_type)) {
                        *out = kinds[i];
                        return 0;
                }
        km_type_t dec = {KM_TYPE_DECIMAL, 38, 18};
        if (sscanf(service_type, "decimal(%d,%d)", &dec.precision,
                   &dec.scale) == 2 ||
            type_matches(&dec, service_type)) {
                *out = dec;
                return 0;
        }
        *out = (km_type_t){KM_TYPE_STRING, 0, 0};
        return -1; /* a type kmsync does not write: only NULLs go there */
}

static int find_table_column(const km_mc_session_t *s, const char *name)
{
        for (int i = 0; i < s->ncolumns; i++)
                if (km_strcaseeq(s->columns[i].name, name))
                        return i;
        return -1;
}

static int check_partition_columns(mc_target_t *t, char *err, size_t errlen)
{
        const km_mc_session_t *s = &t->session;
        const km_sync_plan_t *y = t->sync;
        int same = s->npartition_columns == y->npartition;
        for (int i = 0; same && i < y->npartition; i++)
                same = km_strcaseeq(s->partition_columns[i].name,
                                    y->partition[i].key);
        if (same)
                return 0;
        snprintf(err, errlen,
                 "the table's partition columns (%d) are not the SYNC's "
                 "PARTITION columns (%d, in that order): fix PARTITION or the "
                 "table",
                 s->npartition_columns, y->npartition);
        return -1;
}

/* Maps every SYNC column onto a table column of a matching type. */
static int check_schema(mc_target_t *t, char *err, size_t errlen)
{
        const km_mc_session_t *s = &t->session;
        const km_sync_plan_t *y = t->sync;
        char want[64];
        t->ntable = s->ncolumns;
        t->types = km_xcalloc((size_t)s->ncolumns + 1, sizeof(km_type_t));
        t->column_of = km_xcalloc((size_t)y->ncolumns + 1, sizeof(int));
        for (int i = 0; i < s->ncolumns; i++)
                parse_service_type(s->columns[i].type, &t->types[i]);
        for (int i = 0; i < y->ncolumns; i++) {
                const km_column_t *c = &y->columns[i];
                int at = find_table_column(s, c->name);
                km_type_format(&c->type, want, sizeof(want));
                if (at < 0) {
                        snprintf(err, errlen,
                                 "column '%s' is not in the table: add it "
                                 "(ALTER TABLE ... ADD COLUMNS (%s %s)) or "
                                 "change MAP",
                                 c->name, c->name, want);
                        return -1;
                }
                if (!type_matches(&c->type, s->columns[at].type)) {
                        snprintf(err, errlen,
                                 "column '%s' is %s in the table but %s in "
                                 "the SYNC: make them agree",
                                 c->name, s->columns[at].type, want);
                        return -1;
                }
                t->column_of[i] = at;
                t->types[at] = c->type;
        }
        return check_partition_columns(t, err, errlen);
}

/* ------------------------------------------------------------ uploads */

static void format_error(char *err, size_t errlen, const char *what,
                         const km_mc_error_t *e);

static void set_error(mc_target_t *t, const km_mc_error_t *e,
                      const char *what)
{
        pthread_mutex_lock(&t->lock);
        if (!t->failed) {
                t->failed = 1;
                t->error_permanent = e->permanent;
                format_error(t->error, sizeof(t->error), what, e);
        }
        pthread_mutex_unlock(&t->lock);
}

static void format_error(char *err, size_t errlen, const char *what,
                         const km_mc_error_t *e)
{
        snprintf(err, errlen, "%s: %s%s%s (HTTP %ld%s%s)", what,
                 e->code[0] ? e->code : "", e->code[0] ? ": " : "",
                 e->message, e->http_status,
                 e->request_id[0] ? ", RequestId " : "", e->request_id);
}

static void *upload(void *arg)
{
        slot_t *s = arg;
        mc_target_t *t = s->t;
        const unsigned char *body;
        size_t len;
        char why[512];
        km_mc_error_t e;
        memset(&e, 0, sizeof(e));
        if (km_mc_block_finish(s->block, &body, &len, why, sizeof(why))) {
                snprintf(e.message, sizeof(e.message), "%s", why);
                e.permanent = 1;
                set_error(t, &e, "cannot encode a block");
        } else if (km_mc_block_put(t->client, t->sync->table,
                                   t->partition[0] ? t->partition : NULL,
                                   t->session.id, s->id, body, len,
                                   t->compress_level >= 0, &e)) {
                char what[64];
                snprintf(what, sizeof(what), "block %lld upload failed",
                         (long long)s->id);
                set_error(t, &e, what);
        }
        pthread_mutex_lock(&t->lock);
        s->busy = 0;
        t->in_flight--;
        pthread_cond_broadcast(&t->changed);
        pthread_mutex_unlock(&t->lock);
        return NULL;
}

static void record_block(mc_target_t *t, int64_t id)
{
        if (t->ndone == t->cap_done) {
                t->cap_done = t->cap_done ? t->cap_done * 2 : 16;
                t->done_ids = km_xrealloc(t->done_ids,
                                          sizeof(int64_t) * (size_t)t->cap_done);
        }
        t->done_ids[t->ndone++] = id;
}

/* Hands the filling block to an uploader and takes a free slot (waiting
 * while `parallel` blocks are in flight). */
static int ship_block(mc_target_t *t, char *err, size_t errlen)
{
        slot_t *s = t->filling;
        if (s->joinable)
                pthread_join(s->thread, NULL);
        s->id = t->next_block_id++;
        record_block(t, s->id);
        pthread_mutex_lock(&t->lock);
        s->busy = 1;
        t->in_flight++;
        pthread_mutex_unlock(&t->lock);
        s->joinable = pthread_create(&s->thread, NULL, upload, s) == 0;
        if (!s->joinable)
                upload(s);
        pthread_mutex_lock(&t->lock);
        slot_t *free_slot = NULL;
        while (!free_slot && !t->failed) {
                for (int i = 0; i <= t->parallel && !free_slot; i++)
                        if (!t->slots[i].busy && &t->slots[i] != s)
                                free_slot = &t->slots[i];
                if (!free_slot)
                        pthread_cond_wait(&t->changed, &t->lock);
        }
        int failed = t->failed;
        pthread_mutex_unlock(&t->lock);
        if (failed) {
                snprintf(err, errlen, "%s", t->error);
                return -1;
        }
        if (free_slot->joinable) {
                pthread_join(free_slot->thread, NULL);
                free_slot->joinable = 0;
        }
        km_mc_block_reset(free_slot->block);
        t->filling = free_slot;
        return 0;
}

static int wait_uploads(mc_target_t *t, char *err, size_t errlen)
{
        pthread_mutex_lock(&t->lock);
        while (t->in_flight > 0)
                pthread_cond_wait(&t->changed, &t->lock);
        pthread_mutex_unlock(&t->lock);
        for (int i = 0; i <= t->parallel; i++)
                if (t->slots[i].joinable) {
                        pthread_join(t->slots[i].thread, NULL);
                        t->slots[i].joinable = 0;
                }
        if (!t->failed)
                return 0;
        snprintf(err, errlen, "%s", t->error);
        return -1;
}

/* ------------------------------------------------------------ the ops */

static void partition_param(const km_instance_t *inst, char *buf, size_t len)
{
        /* The spec without quotes: "ds=20221122,hh=09". */
        snprintf(buf, len, "%s", inst->partition_spec ? inst->partition_spec
                                                      : "");
}

/* A hint for errors that mean the table is not there. */
static const char *table_hint(const km_mc_error_t *e)
{
        if (e->http_status == 404 || strstr(e->code, "NoSuch") ||
            strstr(e->message, "not exist") || strstr(e->message, "not found"))
                return "; create the table with: kmsync ddl FILE --apply";
        return "";
}

static int add_partition(mc_target_t *t, const km_instance_t *inst,
                         km_mc_error_t *e, char *err, size_t errlen)
{
        char *sql = km_ddl_add_partition(inst);
        int rc = sql ? km_mc_sql(t->client, sql, NULL, e) : 0;
        free(sql);
        if (rc) {
                format_error(err, errlen, "cannot add the partition", e);
                snprintf(err + strlen(err), errlen - strlen(err), "%s",
                         table_hint(e));
        }
        return rc;
}

/* 1 when the service refused an overwrite session as such (a service
 * variant without overwrite), not for any other reason. */
static int overwrite_refused(const km_mc_error_t *e)
{
        return e->http_status >= 400 && e->http_status < 500 &&
               (strcasestr(e->message, "overwrite") ||
                strcasestr(e->code, "overwrite"));
}

/* Without overwrite sessions the partition is emptied first (DROP and ADD
 * PARTITION), then appended to: not atomic, so the report says so.  A
 * table without partitions cannot be emptied that way: refused. */
static int fall_back_to_append(km_target_t *tg, const km_instance_t *inst,
                               km_mc_error_t *e, char *err, size_t errlen)
{
        mc_target_t *t = tg->impl;
        char *add = km_ddl_add_partition(inst);
        if (!add) {
                format_error(err, errlen, "the service refused an overwrite "
                                          "session, and a table without "
                                          "partitions cannot be replaced "
                                          "another way",
                             e);
                tg->permanent = 1;
                return -1;
        }
        /* "ALTER TABLE x ADD IF NOT EXISTS PARTITION (...)" -> DROP. */
        char *drop = km_xasprintf("%.*sDROP IF EXISTS%s",
                                  (int)(strstr(add, "ADD IF NOT EXISTS") - add),
                                  add,
                                  strstr(add, "ADD IF NOT EXISTS") + 17);
        int rc = km_mc_sql(t->client, drop, NULL, e) ||
                 km_mc_sql(t->client, add, NULL, e) ||
                 km_mc_session_create(t->client, t->sync->table, t->partition,
                                      0, &t->session, e);
        free(drop);
        free(add);
        if (rc) {
                format_error(err, errlen, "the fallback for a service "
                                          "without overwrite failed",
                             e);
                tg->permanent = e->permanent;
                return -1;
        }
        snprintf(tg->warning, sizeof(tg->warning),
                 "the service refused an overwrite upload session; the "
                 "partition was dropped and re-added before the upload "
                 "instead, which is not atomic: readers may have seen it "
                 "empty");
        return 0;
}

static int open_session(km_target_t *tg, const km_instance_t *inst,
                        km_mc_error_t *e, char *err, size_t errlen)
{
        mc_target_t *t = tg->impl;
        if (km_mc_session_create(t->client, t->sync->table,
                                 t->partition[0] ? t->partition : NULL, 1,
                                 &t->session, e) == 0)
                return 0;
        if (overwrite_refused(e))
                return fall_back_to_append(tg, inst, e, err, errlen);
        format_error(err, errlen, "cannot open an upload session", e);
        snprintf(err + strlen(err), errlen - strlen(err), "%s", table_hint(e));
        tg->permanent = e->permanent;
        return -1;
}

static void make_slots(mc_target_t *t)
{
        t->slots = km_xcalloc((size_t)t->parallel + 1, sizeof(slot_t));
        for (int i = 0; i <= t->parallel; i++) {
                t->slots[i].t = t;
                t->slots[i].block = km_mc_block_new(t->types, t->ntable,
                                                    t->compress_level);
                km_mc_block_set_max_field_size(t->slots[i].block,
                                               (size_t)t->session.max_field_size);
        }
        t->filling = &t->slots[0];
        t->row = km_xcalloc((size_t)t->ntable + 1, sizeof(km_cell_t));
}

static int mc_open(km_target_t *tg, const km_instance_t *inst, char *err,
                   size_t errlen)
{
        mc_target_t *t = tg->impl;
        km_mc_error_t e;
        memset(&e, 0, sizeof(e));
        partition_param(inst, t->partition, sizeof(t->partition));
        if (add_partition(t, inst, &e, err, errlen)) {
                tg->permanent = e.permanent;
                return -1;
        }
        if (open_session(tg, inst, &e, err, errlen))
                return -1;
        if (check_schema(t, err, errlen)) {
                tg->permanent = 1;
                return -1;
        }
        make_slots(t);
        return 0;
}

static int mc_write(km_target_t *tg, const km_cell_t *row, char *err,
                    size_t errlen)
{
        mc_target_t *t = tg->impl;
        for (int i = 0; i < t->ntable; i++)
                t->row[i].kind = KM_CELL_NULL;
        for (int i = 0; i < t->sync->ncolumns; i++)
                t->row[t->column_of[i]] = row[i];
        if (km_mc_block_add_row(t->filling->block, t->row, err, errlen)) {
                tg->permanent = 1;
                return -1;
        }
        if (km_mc_block_raw_bytes(t->filling->block) < t->block_bytes)
                return 0;
        if (ship_block(t, err, errlen)) {
                tg->permanent = t->error_permanent;
                return -1;
        }
        return 0;
}

static int mc_commit(km_target_t *tg, const km_commit_info_t *info, char *err,
                     size_t errlen)
{
        mc_target_t *t = tg->impl;
        (void)info;
        if (km_mc_block_rows(t->filling->block) > 0 &&
            ship_block(t, err, errlen)) {
                tg->permanent = t->error_permanent;
                return -1;
        }
        if (wait_uploads(t, err, errlen)) {
                tg->permanent = t->error_permanent;
                return -1;
        }
        km_mc_error_t e;
        memset(&e, 0, sizeof(e));
        if (km_mc_session_commit(t->client, t->sync->table,
                                 t->partition[0] ? t->partition : NULL,
                                 t->session.id, t->done_ids, t->ndone, &e)) {
                format_error(err, errlen, "the commit failed", &e);
                tg->permanent = e.permanent;
                return -1;
        }
        return 0;
}

static void mc_abort(km_target_t *tg)
{
        char err[64];
        /* Uploaded blocks stay in a session that is never committed; the
         * service drops it when it expires. */
        wait_uploads(tg->impl, err, sizeof(err));
}

static void mc_destroy(km_target_t *tg)
{
        mc_target_t *t = tg->impl;
        if (t->slots) {
                char err[64];
                wait_uploads(t, err, sizeof(err));
                for (int i = 0; i <= t->parallel; i++)
                        km_mc_block_free(t->slots[i].block);
        }
        free(t->slots);
        free(t->row);
        free(t->types);
        free(t->column_of);
        free(t->done_ids);
        km_mc_session_clear(&t->session);
        km_mc_client_free(t->client);
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->changed);
        free(t);
        free(tg);
}

static const km_target_ops_t mc_ops = {
        "maxcompute", mc_open, mc_write, mc_commit, mc_abort, mc_destroy,
};

km_target_t *km_target_maxcompute_new(const km_sync_plan_t *sync, char *err,
                                      size_t errlen)
{
        if (!sync->mc) {
                snprintf(err, errlen, "SYNC %s has no MaxCompute connection",
                         sync->name);
                return NULL;
        }
        km_mc_client_t *client = make_client(sync->mc, err, errlen);
        if (!client)
                return NULL;
        mc_target_t *t = km_xcalloc(1, sizeof(*t));
        t->sync = sync;
        t->client = client;
        t->block_bytes = (size_t)option_long(sync->mc, "block.size.mb",
                                             DEFAULT_BLOCK_MB, 1, 1024)
                         << 20;
        t->parallel = (int)option_long(sync->mc, "parallel.blocks",
                                       DEFAULT_PARALLEL, 1, MAX_PARALLEL);
        const char *comp = option(sync->mc, "compression");
        t->compress_level = comp && km_strcaseeq(comp, "none") ? -1 : 1;
        pthread_mutex_init(&t->lock, NULL);
        pthread_cond_init(&t->changed, NULL);
        km_target_t *tg = km_xcalloc(1, sizeof(*tg));
        tg->ops = &mc_ops;
        tg->impl = t;
        return tg;
}

int km_maxcompute_apply_ddl(const km_sync_plan_t *sync, const char *sql,
                            char *err, size_t errlen)
{
        km_mc_client_t *client = sync->mc ? make_client(sync->mc, err, errlen)
                                          : NULL;
        if (!client)
                return -1;
        km_mc_error_t e;
        memset(&e, 0, sizeof(e));
        int rc = km_mc_sql(client, sql, NULL, &e);
        if (rc) /* the service's text as it is; it starts with its code */
                snprintf(err, errlen, "%s", e.message[0] ? e.message : e.code);
        km_mc_client_free(client);
        return rc;
}
