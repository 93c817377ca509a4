/* state.c - the instance history in SQLite and the (sync, partition) locks.
 *
 * One table, `attempts`: a row per attempt of an instance (sync,
 * scheduled_at), plus rows that only note an instance as waiting or skipped.
 * The latest row of an instance is the one with the highest attempt (the
 * newest id among equals).  Notes carry the number of attempts made so far,
 * so they never count as an attempt themselves.
 *
 * The lock of (sync, partition) is an exclusive flock(2) on
 * DIR/locks/<sync>@<partition>.lock, held from before the attempt's row is
 * inserted until after its end is committed.  So a `running` row whose lock
 * is free belongs to a process that is gone.  Every operation holds the
 * handle's mutex, so threads can share one km_state_t; every write is one
 * BEGIN IMMEDIATE transaction. */
#define _GNU_SOURCE /* realpath */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kmsync/run.h"
#include "util.h"

#define KM_STATE_SCHEMA 1
#define KM_STATE_BUSY_MS 5000
#define KM_LOCK_NAME_MAX 200
#define KM_INTERRUPTED "interrupted (the process running it stopped)"

/* One lock this handle holds: the attempt it belongs to and its file. */
typedef struct km_lock {
        int64_t id;
        int fd;
        char *name;
} km_lock_t;

struct km_state {
        sqlite3 *db;
        char *dir, *path, *lock_dir;
        char host[256];
        pthread_mutex_t mu;
        km_lock_t *locks;
        int nlocks, caplocks;
};

/* Who holds a lock, as far as the lock file and the history tell. */
typedef struct km_holder {
        long pid;
        int64_t started_ms;
        char host[256];
        char scheduled_at[32];
        int attempt;
} km_holder_t;

static const char *const status_names[] = {
        "waiting", "running", "succeeded", "failed", "skipped",
};

#define NSTATUS ((int)(sizeof(status_names) / sizeof(status_names[0])))

static const char schema_sql[] =
        "CREATE TABLE IF NOT EXISTS attempts ("
        " id INTEGER PRIMARY KEY,"
        " sync TEXT NOT NULL,"
        " file TEXT NOT NULL DEFAULT '',"
        " plan_hash TEXT NOT NULL DEFAULT '',"
        " scheduled_at TEXT NOT NULL,"
        " window_start_ms INTEGER NOT NULL DEFAULT 0,"
        " window_end_ms INTEGER NOT NULL DEFAULT 0,"
        " \"partition\" TEXT NOT NULL DEFAULT '',"
        " target TEXT NOT NULL DEFAULT '',"
        " status TEXT NOT NULL CHECK (status IN ('waiting', 'running',"
        "  'succeeded', 'failed', 'skipped')),"
        " attempt INTEGER NOT NULL,"
        " started_ms INTEGER NOT NULL DEFAULT 0,"
        " finished_ms INTEGER NOT NULL DEFAULT 0,"
        " rows_read INTEGER NOT NULL DEFAULT 0,"
        " rows_written INTEGER NOT NULL DEFAULT 0,"
        " rows_rejected INTEGER NOT NULL DEFAULT 0,"
        " ranges_json TEXT,"
        " error TEXT,"
        " exit_code INTEGER NOT NULL DEFAULT 0,"
        " pid INTEGER NOT NULL DEFAULT 0,"
        " host TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX IF NOT EXISTS attempts_instance"
        " ON attempts (sync, scheduled_at, attempt);"
        "CREATE INDEX IF NOT EXISTS attempts_scheduled"
        " ON attempts (scheduled_at, sync);"
        "CREATE INDEX IF NOT EXISTS attempts_running"
        " ON attempts (sync, \"partition\") WHERE status = 'running';";

#define ROW_COLUMNS                                                           \
        "id, sync, file, plan_hash, scheduled_at, window_start_ms,"           \
        " window_end_ms, \"partition\", target, status, attempt,"             \
        " started_ms, finished_ms, rows_read, rows_written, rows_rejected,"   \
        " ranges_json, error, exit_code"

/* The latest row of the instance of row `a`. */
#define LATEST_OF_A                                                           \
        "a.id = (SELECT b.id FROM attempts b WHERE b.sync = a.sync"           \
        " AND b.scheduled_at = a.scheduled_at"                                \
        " ORDER BY b.attempt DESC, b.id DESC LIMIT 1)"

const char *km_inst_status_name(km_inst_status_t s)
{
        if ((int)s < 0 || (int)s >= NSTATUS)
                return "unknown";
        return status_names[s];
}

static km_inst_status_t status_parse(const char *name)
{
        for (int i = 0; name && i < NSTATUS; i++)
                if (strcmp(name, status_names[i]) == 0)
                        return (km_inst_status_t)i;
        return KM_INST_FAILED;
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *or_empty(const char *s)
{
        return s ? s : "";
}

/* ---- errors, statements, transactions ---------------------------------- */

static int db_fail(km_state_t *st, const char *what, char *err,
                   size_t errlen)
{
        snprintf(err, errlen, "state database %s: %s: %s", st->path, what,
                 sqlite3_errmsg(st->db));
        return -1;
}

static sqlite3_stmt *prep(km_state_t *st, const char *sql, char *err,
                          size_t errlen)
{
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
                db_fail(st, "cannot prepare a query", err, errlen);
                sqlite3_finalize(s);
                return NULL;
        }
        return s;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

/* Steps s to its end and finalizes it. */
static int run_stmt(km_state_t *st, sqlite3_stmt *s, const char *what,
                    char *err, size_t errlen)
{
        int rc = sqlite3_step(s);
        while (rc == SQLITE_ROW)
                rc = sqlite3_step(s);
        int bad = rc != SQLITE_DONE;
        if (bad)
                db_fail(st, what, err, errlen);
        sqlite3_finalize(s);
        return bad ? -1 : 0;
}

/* The integer of a one-row query, or `dflt` for no row or NULL. */
static int query_int(km_state_t *st, sqlite3_stmt *s, int64_t dflt,
                     int64_t *out, char *err, size_t errlen)
{
        int rc = sqlite3_step(s);
        *out = dflt;
        if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
                *out = sqlite3_column_int64(s, 0);
        int bad = rc != SQLITE_ROW && rc != SQLITE_DONE;
        if (bad)
                db_fail(st, "cannot read the history", err, errlen);
        sqlite3_finalize(s);
        return bad ? -1 : 0;
}

static int exec(km_state_t *st, const char *sql, const char *what, char *err,
                size_t errlen)
{
        if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
                return db_fail(st, what, err, errlen);
        return 0;
}

static int tx_begin(km_state_t *st, char *err, size_t errlen)
{
        return exec(st, "BEGIN IMMEDIATE", "cannot start a transaction", err,
                    errlen);
}

/* Commits when rc is 0, else rolls back; returns rc or the commit's. */
static int tx_end(km_state_t *st, int rc, char *err, size_t errlen)
{
        if (rc == 0)
                rc = exec(st, "COMMIT", "cannot commit", err, errlen);
        if (rc != 0 && !sqlite3_get_autocommit(st->db))
                sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
}

/* ---- rows --------------------------------------------------------------- */

static char *col_dup(sqlite3_stmt *s, int i, int keep_null)
{
        const char *v = (const char *)sqlite3_column_text(s, i);
        if (!v)
                return keep_null ? NULL : km_xstrdup("");
        return km_xstrdup(v);
}

/* Fills r from a row of ROW_COLUMNS. */
static void row_read(sqlite3_stmt *s, km_inst_row_t *r)
{
        memset(r, 0, sizeof(*r));
        r->id = sqlite3_column_int64(s, 0);
        r->sync = col_dup(s, 1, 0);
        r->file = col_dup(s, 2, 0);
        r->plan_hash = col_dup(s, 3, 0);
        r->scheduled_at = col_dup(s, 4, 0);
        r->window_start_ms = sqlite3_column_int64(s, 5);
        r->window_end_ms = sqlite3_column_int64(s, 6);
        r->partition = col_dup(s, 7, 0);
        r->target = col_dup(s, 8, 0);
        r->status = status_parse((const char *)sqlite3_column_text(s, 9));
        r->attempt = sqlite3_column_int(s, 10);
        r->started_ms = sqlite3_column_int64(s, 11);
        r->finished_ms = sqlite3_column_int64(s, 12);
        r->rows_read = sqlite3_column_int64(s, 13);
        r->rows_written = sqlite3_column_int64(s, 14);
        r->rows_rejected = sqlite3_column_int64(s, 15);
        r->ranges_json = col_dup(s, 16, 1);
        r->error = col_dup(s, 17, 1);
        r->exit_code = sqlite3_column_int(s, 18);
}

void km_inst_row_clear(km_inst_row_t *r)
{
        if (!r)
                return;
        free(r->sync);
        free(r->file);
        free(r->plan_hash);
        free(r->scheduled_at);
        free(r->partition);
        free(r->target);
        free(r->ranges_json);
        free(r->error);
        memset(r, 0, sizeof(*r));
}

void km_inst_rows_free(km_inst_row_t *rows, int n)
{
        for (int i = 0; rows && i < n; i++)
                km_inst_row_clear(&rows[i]);
        free(rows);
}

/* How a new row differs from its input: status, attempt, times, owner. */
typedef struct km_row_meta {
        km_inst_status_t status;
        int64_t attempt, started_ms, finished_ms;
        long pid;
} km_row_meta_t;

static int row_insert(km_state_t *st, const km_inst_row_t *in,
                      const km_row_meta_t *m, int64_t *id, char *err,
                      size_t errlen)
{
        sqlite3_stmt *s = prep(
                st,
                "INSERT INTO attempts (sync, file, plan_hash, scheduled_at,"
                " window_start_ms, window_end_ms, \"partition\", target,"
                " status, attempt, started_ms, finished_ms, rows_read,"
                " rows_written, rows_rejected, ranges_json, error, exit_code,"
                " pid, host) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                " ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                err, errlen);
        if (!s)
                return -1;
        bind_text(s, 1, in->sync);
        bind_text(s, 2, or_empty(in->file));
        bind_text(s, 3, or_empty(in->plan_hash));
        bind_text(s, 4, in->scheduled_at);
        sqlite3_bind_int64(s, 5, in->window_start_ms);
        sqlite3_bind_int64(s, 6, in->window_end_ms);
        bind_text(s, 7, or_empty(in->partition));
        bind_text(s, 8, or_empty(in->target));
        bind_text(s, 9, km_inst_status_name(m->status));
        sqlite3_bind_int64(s, 10, m->attempt);
        sqlite3_bind_int64(s, 11, m->started_ms);
        sqlite3_bind_int64(s, 12, m->finished_ms);
        sqlite3_bind_int64(s, 13, in->rows_read);
        sqlite3_bind_int64(s, 14, in->rows_written);
        sqlite3_bind_int64(s, 15, in->rows_rejected);
        bind_text(s, 16, in->ranges_json);
        bind_text(s, 17, in->error);
        sqlite3_bind_int(s, 18, in->exit_code);
        sqlite3_bind_int64(s, 19, m->pid);
        bind_text(s, 20, st->host);
        if (run_stmt(st, s, "cannot record the instance", err, errlen))
                return -1;
        if (id)
                *id = sqlite3_last_insert_rowid(st->db);
        return 0;
}

/* The highest attempt number of an instance, 0 when none. */
static int max_attempt(km_state_t *st, const char *sync,
                       const char *scheduled_at, int64_t *out, char *err,
                       size_t errlen)
{
        sqlite3_stmt *s = prep(st,
                               "SELECT max(attempt) FROM attempts"
                               " WHERE sync = ?1 AND scheduled_at = ?2",
                               err, errlen);
        if (!s)
                return -1;
        bind_text(s, 1, sync);
        bind_text(s, 2, scheduled_at);
        return query_int(st, s, 0, out, err, errlen);
}

/* ---- lock files --------------------------------------------------------- */

static void escape_into(km_buf_t *b, const char *s)
{
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("-_.=,", *p))
                        km_buf_putc(b, (char)*p);
                else
                        km_buf_printf(b, "%%%02X", *p);
        }
}

static uint64_t fnv1a(const char *s)
{
        uint64_t h = 14695981039346656037ULL;
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        return h;
}

/* <sync>@<partition>.lock with unsafe bytes as %XX; a long name keeps its
 * start and a hash of the whole. */
static char *lock_name(const char *sync, const char *partition)
{
        km_buf_t b = {0};
        escape_into(&b, sync);
        km_buf_putc(&b, '@');
        escape_into(&b, partition && *partition ? partition : "table");
        char *full = km_buf_take(&b);
        if (strlen(full) > KM_LOCK_NAME_MAX) {
                char *name = km_xasprintf("%.160s~%016" PRIx64 ".lock", full,
                                          fnv1a(full));
                free(full);
                return name;
        }
        char *name = km_xasprintf("%s.lock", full);
        free(full);
        return name;
}

static char *lock_path(const km_state_t *st, const char *name)
{
        return km_xasprintf("%s/%s", st->lock_dir, name);
}

/* 1 when nobody holds the lock file `name` (or it does not exist). */
static int lock_is_free(const km_state_t *st, const char *name)
{
        char *path = lock_path(st, name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        int err = errno;
        free(path);
        if (fd < 0)
                return err == ENOENT;
        int free_now = flock(fd, LOCK_EX | LOCK_NB) == 0;
        close(fd); /* releases it */
        return free_now;
}

static void lock_write_owner(const km_state_t *st, int fd, int64_t started)
{
        char line[400];
        int n = snprintf(line, sizeof(line), "pid %ld started_ms %" PRId64
                         " host %s\n", (long)getpid(), started, st->host);
        if (ftruncate(fd, 0) == 0 && n > 0)
                (void)!pwrite(fd, line, strlen(line), 0);
}

static void lock_read_owner(int fd, km_holder_t *h)
{
        char line[400];
        ssize_t n = pread(fd, line, sizeof(line) - 1, 0);
        if (n <= 0)
                return;
        line[n] = '\0';
        long pid = 0;
        long long started = 0;
        char host[256] = "";
        if (sscanf(line, "pid %ld started_ms %lld host %255s", &pid, &started,
                   host) >= 2) {
                h->pid = pid;
                h->started_ms = started;
                snprintf(h->host, sizeof(h->host), "%s", host);
        }
}

/* The newest running row of (sync, partition), if any. */
static void holder_from_row(km_state_t *st, const km_inst_row_t *in,
                            km_holder_t *h)
{
        char ignored[8];
        sqlite3_stmt *s = prep(st,
                               "SELECT pid, started_ms, host, scheduled_at,"
                               " attempt FROM attempts WHERE sync = ?1"
                               " AND \"partition\" = ?2"
                               " AND status = 'running'"
                               " ORDER BY id DESC LIMIT 1",
                               ignored, sizeof(ignored));
        if (!s)
                return;
        bind_text(s, 1, in->sync);
        bind_text(s, 2, or_empty(in->partition));
        if (sqlite3_step(s) == SQLITE_ROW &&
            (h->pid == 0 || h->pid == sqlite3_column_int64(s, 0))) {
                h->pid = (long)sqlite3_column_int64(s, 0);
                h->started_ms = sqlite3_column_int64(s, 1);
                snprintf(h->host, sizeof(h->host), "%s",
                         (const char *)sqlite3_column_text(s, 2));
                snprintf(h->scheduled_at, sizeof(h->scheduled_at), "%s",
                         (const char *)sqlite3_column_text(s, 3));
                h->attempt = sqlite3_column_int(s, 4);
        }
        sqlite3_finalize(s);
}

static void format_ms(int64_t ms, char *out, size_t outlen)
{
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        if (ms <= 0 || !localtime_r(&t, &tm) ||
            !strftime(out, outlen, "%Y-%m-%d %H:%M:%S %z", &tm))
                snprintf(out, outlen, "an unknown time");
}

/* "sync 'S' partition 'P'" or "sync 'S' (the whole table)". */
static void describe(const km_inst_row_t *in, char *out, size_t outlen)
{
        if (in->partition && *in->partition)
                snprintf(out, outlen, "sync '%s' partition '%s'", in->sync,
                         in->partition);
        else
                snprintf(out, outlen, "sync '%s' (the whole table)",
                         in->sync);
}

static int held_message(km_state_t *st, const km_inst_row_t *in, int fd,
                        const char *path, char *err, size_t errlen)
{
        km_holder_t h = {0};
        char what[300], since[64], inst[80] = "";
        lock_read_owner(fd, &h);
        holder_from_row(st, in, &h);
        describe(in, what, sizeof(what));
        if (h.pid == 0) {
                snprintf(err, errlen,
                         "%s is being run by another process (lock %s); wait "
                         "for it, or find and stop it with: fuser %s",
                         what, path, path);
                return -1;
        }
        format_ms(h.started_ms, since, sizeof(since));
        if (h.scheduled_at[0])
                snprintf(inst, sizeof(inst), ", instance %s attempt %d",
                         h.scheduled_at, h.attempt);
        snprintf(err, errlen,
                 "%s is being run by %sprocess %ld on %s since %s%s; wait for "
                 "it, or stop process %ld",
                 what, h.pid == (long)getpid() ? "this " : "", h.pid,
                 h.host[0] ? h.host : "this host", since, inst, h.pid);
        return -1;
}

static int lock_index(const km_state_t *st, const char *name)
{
        for (int i = 0; i < st->nlocks; i++)
                if (strcmp(st->locks[i].name, name) == 0)
                        return i;
        return -1;
}

static int lock_index_by_id(const km_state_t *st, int64_t id)
{
        for (int i = 0; i < st->nlocks; i++)
                if (st->locks[i].id == id)
                        return i;
        return -1;
}

static void lock_add(km_state_t *st, int64_t id, int fd, char *name)
{
        if (st->nlocks == st->caplocks) {
                st->caplocks = st->caplocks ? 2 * st->caplocks : 4;
                st->locks = km_xrealloc(st->locks, (size_t)st->caplocks *
                                                           sizeof(km_lock_t));
        }
        st->locks[st->nlocks++] = (km_lock_t){id, fd, name};
}

/* Closes the lock of attempt `id`, if this handle holds it. */
static void lock_release(km_state_t *st, int64_t id)
{
        int i = lock_index_by_id(st, id);
        if (i < 0)
                return;
        (void)!ftruncate(st->locks[i].fd, 0); /* the owner line goes */
        close(st->locks[i].fd);
        free(st->locks[i].name);
        st->locks[i] = st->locks[--st->nlocks];
}

/* Takes the lock of in's (sync, partition) into *fd, or says who has it. */
static int lock_take(km_state_t *st, const km_inst_row_t *in,
                     const char *name, int64_t started, int *fd, char *err,
                     size_t errlen)
{
        char what[300];
        int i = lock_index(st, name);
        if (i >= 0) {
                describe(in, what, sizeof(what));
                snprintf(err, errlen,
                         "%s is already being run by this process (attempt "
                         "id %" PRId64 "); wait for that attempt to finish",
                         what, st->locks[i].id);
                return -1;
        }
        char *path = lock_path(st, name);
        *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        int rc = 0;
        if (*fd < 0) {
                snprintf(err, errlen, "cannot open the lock file %s: %s; "
                         "check the permissions of the state directory",
                         path, strerror(errno));
                rc = -1;
        } else if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
                if (errno == EWOULDBLOCK)
                        held_message(st, in, *fd, path, err, errlen);
                else
                        snprintf(err, errlen, "cannot lock %s: %s", path,
                                 strerror(errno));
                close(*fd);
                *fd = -1;
                rc = -1;
        } else {
                lock_write_owner(st, *fd, started);
        }
        free(path);
        return rc;
}

/* ---- interrupted attempts ----------------------------------------------- */

static int mark_failed(km_state_t *st, int64_t id, int64_t now, char *err,
                       size_t errlen)
{
        sqlite3_stmt *s = prep(st,
                               "UPDATE attempts SET status = 'failed',"
                               " error = ?2, finished_ms = ?3,"
                               " exit_code = ?4"
                               " WHERE id = ?1 AND status = 'running'",
                               err, errlen);
        if (!s)
                return -1;
        sqlite3_bind_int64(s, 1, id);
        bind_text(s, 2, KM_INTERRUPTED);
        sqlite3_bind_int64(s, 3, now);
        sqlite3_bind_int(s, 4, KM_RUN_FAILED);
        return run_stmt(st, s, "cannot mark an interrupted attempt", err,
                        errlen);
}

/* The running rows whose lock nobody holds. */
static int find_interrupted(km_state_t *st, int64_t **ids, int *n, char *err,
                            size_t errlen)
{
        sqlite3_stmt *s = prep(st,
                               "SELECT id, sync, \"partition\" FROM attempts"
                               " WHERE status = 'running'",
                               err, errlen);
        if (!s)
                return -1;
        int rc, cap = 0;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                char *name = lock_name(
                        (const char *)sqlite3_column_text(s, 1),
                        (const char *)sqlite3_column_text(s, 2));
                if (lock_is_free(st, name)) {
                        if (*n == cap) {
                                cap = cap ? 2 * cap : 8;
                                *ids = km_xrealloc(*ids, (size_t)cap *
                                                                 sizeof(**ids));
                        }
                        (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
                }
                free(name);
        }
        if (rc != SQLITE_DONE)
                db_fail(st, "cannot read the running attempts", err, errlen);
        sqlite3_finalize(s);
        return rc == SQLITE_DONE ? 0 : -1;
}

/* Attempts left running by a process that is gone become failed.  A row
 * stays running while its owner lives (it holds the lock), and finishing
 * commits before unlocking, so "status = 'running'" at update time with a
 * free lock before it means the owner is gone. */
static int mark_interrupted(km_state_t *st, char *err, size_t errlen)
{
        int64_t *ids = NULL;
        int n = 0;
        int rc = find_interrupted(st, &ids, &n, err, errlen);
        if (rc == 0 && n > 0 && (rc = tx_begin(st, err, errlen)) == 0) {
                int64_t now = now_ms();
                for (int i = 0; rc == 0 && i < n; i++)
                        rc = mark_failed(st, ids[i], now, err, errlen);
                rc = tx_end(st, rc, err, errlen);
        }
        free(ids);
        return rc;
}

/* Holding the lock of (sync, partition): any row of it still running is
 * from a process that is gone. */
static int mark_stale(km_state_t *st, const km_inst_row_t *in, int64_t now,
                      char *err, size_t errlen)
{
        sqlite3_stmt *s = prep(st,
                               "UPDATE attempts SET status = 'failed',"
                               " error = ?3, finished_ms = ?4,"
                               " exit_code = ?5 WHERE sync = ?1"
                               " AND \"partition\" = ?2"
                               " AND status = 'running'",
                               err, errlen);
        if (!s)
                return -1;
        bind_text(s, 1, in->sync);
        bind_text(s, 2, or_empty(in->partition));
        bind_text(s, 3, KM_INTERRUPTED);
        sqlite3_bind_int64(s, 4, now);
        sqlite3_bind_int(s, 5, KM_RUN_FAILED);
        return run_stmt(st, s, "cannot mark an interrupted attempt", err,
                        errlen);
}

/* Drops the `waiting` notes of an instance (and, with also_skipped, the
 * skipped ones made since its last attempt). */
static int drop_notes(km_state_t *st, const km_inst_row_t *in,
                      int also_skipped, char *err, size_t errlen)
{
        sqlite3_stmt *s = prep(
                st,
                "DELETE FROM attempts WHERE sync = ?1 AND scheduled_at = ?2"
                " AND (status = 'waiting' OR (?3 AND status = 'skipped'"
                " AND attempt >= (SELECT coalesce(max(attempt), 0)"
                " FROM attempts WHERE sync = ?1 AND scheduled_at = ?2"
                " AND status NOT IN ('waiting', 'skipped'))))",
                err, errlen);
        if (!s)
                return -1;
        bind_text(s, 1, in->sync);
        bind_text(s, 2, in->scheduled_at);
        sqlite3_bind_int(s, 3, also_skipped);
        return run_stmt(st, s, "cannot update the instance", err, errlen);
}

/* ---- open and close ----------------------------------------------------- */

/* mkdir -p. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
        char *p = km_xstrdup(dir);
        int rc = 0;
        for (char *s = p + 1; rc == 0; s++) {
                int end = *s == '\0';
                if (*s != '/' && !end)
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                        snprintf(err, errlen,
                                 "cannot create the state directory %s: %s; "
                                 "create it or choose another with --state "
                                 "DIR",
                                 p, strerror(errno));
                        rc = -1;
                }
                if (end)
                        break;
                *s = '/';
        }
        free(p);
        return rc;
}

static char *state_dir(const char *dir)
{
        const char *env = getenv("KMSYNC_STATE");
        if (dir && *dir)
                return km_xstrdup(dir);
        if (env && *env)
                return km_xstrdup(env);
        return km_xstrdup(".kmsync");
}

static int place(km_state_t *st, const char *dir, char *err, size_t errlen)
{
        char *where = state_dir(dir);
        int rc = make_dirs(where, err, errlen);
        if (rc == 0) {
                st->dir = realpath(where, NULL);
                if (!st->dir) {
                        snprintf(err, errlen,
                                 "cannot use the state directory %s: %s",
                                 where, strerror(errno));
                        rc = -1;
                }
        }
        if (rc == 0) {
                st->path = km_xasprintf("%s/state.db", st->dir);
                st->lock_dir = km_xasprintf("%s/locks", st->dir);
                rc = make_dirs(st->lock_dir, err, errlen);
        }
        free(where);
        return rc;
}

static int db_open(km_state_t *st, char *err, size_t errlen)
{
        int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                    SQLITE_OPEN_FULLMUTEX;
        if (sqlite3_open_v2(st->path, &st->db, flags, NULL) != SQLITE_OK) {
                if (!st->db) {
                        snprintf(err, errlen, "state database %s: cannot "
                                 "open it: out of memory", st->path);
                        return -1;
                }
                return db_fail(st, "cannot open it", err, errlen);
        }
        sqlite3_busy_timeout(st->db, KM_STATE_BUSY_MS);
        if (exec(st, "PRAGMA journal_mode = WAL", "cannot use WAL mode", err,
                 errlen) ||
            exec(st, "PRAGMA foreign_keys = OFF", "cannot set it up", err,
                 errlen))
                return -1;
        return 0;
}

static int schema(km_state_t *st, char *err, size_t errlen)
{
        int64_t version = 0;
        if (tx_begin(st, err, errlen))
                return -1;
        sqlite3_stmt *s = prep(st, "PRAGMA user_version", err, errlen);
        int rc = s ? query_int(st, s, 0, &version, err, errlen) : -1;
        if (rc == 0 && version > KM_STATE_SCHEMA) {
                snprintf(err, errlen,
                         "state database %s has schema version %" PRId64
                         ", newer than this kmsync knows (%d); use a newer "
                         "kmsync or another --state directory",
                         st->path, version, KM_STATE_SCHEMA);
                rc = -1;
        }
        if (rc == 0 && version < KM_STATE_SCHEMA)
                rc = exec(st, schema_sql, "cannot create the tables", err,
                          errlen);
        if (rc == 0 && version < KM_STATE_SCHEMA)
                rc = exec(st, "PRAGMA user_version = 1",
                          "cannot set the schema version", err, errlen);
        return tx_end(st, rc, err, errlen);
}

km_state_t *km_state_open(const char *dir, char *err, size_t errlen)
{
        km_state_t *st = km_xcalloc(1, sizeof(*st));
        pthread_mutex_init(&st->mu, NULL);
        if (gethostname(st->host, sizeof(st->host) - 1) != 0)
                snprintf(st->host, sizeof(st->host), "localhost");
        if (place(st, dir, err, errlen) || db_open(st, err, errlen) ||
            schema(st, err, errlen) || mark_interrupted(st, err, errlen)) {
                km_state_close(st);
                return NULL;
        }
        return st;
}

/* Locks still held are released: their rows stay running and are marked
 * interrupted by the next open or begin. */
void km_state_close(km_state_t *st)
{
        if (!st)
                return;
        for (int i = 0; i < st->nlocks; i++) {
                close(st->locks[i].fd);
                free(st->locks[i].name);
        }
        free(st->locks);
        sqlite3_close(st->db);
        pthread_mutex_destroy(&st->mu);
        free(st->dir);
        free(st->path);
        free(st->lock_dir);
        free(st);
}

const char *km_state_path(const km_state_t *st)
{
        return st->path;
}

/* ---- attempts ----------------------------------------------------------- */

static int check_instance(const km_inst_row_t *in, char *err, size_t errlen)
{
        if (in && in->sync && *in->sync && in->scheduled_at &&
            *in->scheduled_at)
                return 0;
        snprintf(err, errlen, "an instance needs a sync name and a scheduled "
                 "time (this is a bug in kmsync)");
        return -1;
}

/* The row of a new attempt, in one transaction. */
static int attempt_insert(km_state_t *st, const km_inst_row_t *in,
                          int64_t started, int64_t *id, char *err,
                          size_t errlen)
{
        km_row_meta_t m = {KM_INST_RUNNING, 0, started, 0, (long)getpid()};
        if (tx_begin(st, err, errlen))
                return -1;
        int rc = mark_stale(st, in, now_ms(), err, errlen);
        if (rc == 0)
                rc = drop_notes(st, in, 0, err, errlen);
        if (rc == 0)
                rc = max_attempt(st, in->sync, in->scheduled_at, &m.attempt,
                                 err, errlen);
        m.attempt++;
        if (rc == 0)
                rc = row_insert(st, in, &m, id, err, errlen);
        return tx_end(st, rc, err, errlen);
}

int km_state_begin(km_state_t *st, const km_inst_row_t *in, int64_t *id,
                   char *err, size_t errlen)
{
        if (check_instance(in, err, errlen))
                return -1;
        char *name = lock_name(in->sync, in->partition);
        int64_t started = in->started_ms > 0 ? in->started_ms : now_ms();
        int fd = -1;
        pthread_mutex_lock(&st->mu);
        int rc = lock_take(st, in, name, started, &fd, err, errlen);
        if (rc == 0)
                rc = attempt_insert(st, in, started, id, err, errlen);
        if (rc == 0)
                lock_add(st, *id, fd, name);
        else if (fd >= 0)
                close(fd);
        pthread_mutex_unlock(&st->mu);
        if (rc != 0)
                free(name);
        return rc;
}

static int finish_update(km_state_t *st, int64_t id, km_inst_status_t status,
                         int exit_code, const int64_t rows[3],
                         const char *ranges_json, const char *error,
                         char *err, size_t errlen)
{
        sqlite3_stmt *s = prep(
                st,
                "UPDATE attempts SET status = ?2, exit_code = ?3,"
                " rows_read = ?4, rows_written = ?5, rows_rejected = ?6,"
                " ranges_json = ?7, error = ?8, finished_ms = ?9"
                " WHERE id = ?1",
                err, errlen);
        if (!s)
                return -1;
        sqlite3_bind_int64(s, 1, id);
        bind_text(s, 2, km_inst_status_name(status));
        sqlite3_bind_int(s, 3, exit_code);
        for (int i = 0; i < 3; i++)
                sqlite3_bind_int64(s, 4 + i, rows[i]);
        bind_text(s, 7, ranges_json);
        bind_text(s, 8, error);
        sqlite3_bind_int64(s, 9, now_ms());
        if (run_stmt(st, s, "cannot record the end of the attempt", err,
                     errlen))
                return -1;
        if (sqlite3_changes(st->db) == 1)
                return 0;
        snprintf(err, errlen, "state database %s: no attempt with id %" PRId64
                 " (this is a bug in kmsync)", st->path, id);
        return -1;
}

int km_state_finish(km_state_t *st, int64_t id, km_inst_status_t status,
                    int exit_code, int64_t rows_read, int64_t rows_written,
                    int64_t rows_rejected, const char *ranges_json,
                    const char *error, char *err, size_t errlen)
{
        int64_t rows[3] = {rows_read, rows_written, rows_rejected};
        int rc = -1;
        pthread_mutex_lock(&st->mu);
        if (status != KM_INST_SUCCEEDED && status != KM_INST_FAILED &&
            status != KM_INST_SKIPPED)
                snprintf(err, errlen, "an attempt ends succeeded, failed or "
                         "skipped, not %s (this is a bug in kmsync)",
                         km_inst_status_name(status));
        else if (tx_begin(st, err, errlen) == 0)
                rc = tx_end(st, finish_update(st, id, status, exit_code,
                                              rows, ranges_json, error, err,
                                              errlen),
                            err, errlen);
        /* Committed (or failed) first, unlocked after: see mark_interrupted. */
        lock_release(st, id);
        pthread_mutex_unlock(&st->mu);
        return rc;
}

static int note_insert(km_state_t *st, const km_inst_row_t *in, char *err,
                       size_t errlen)
{
        km_row_meta_t m = {in->status, 0, in->started_ms, in->finished_ms, 0};
        if (in->status == KM_INST_SKIPPED && m.finished_ms == 0)
                m.finished_ms = now_ms();
        if (tx_begin(st, err, errlen))
                return -1;
        int rc = drop_notes(st, in, 1, err, errlen);
        if (rc == 0)
                rc = max_attempt(st, in->sync, in->scheduled_at, &m.attempt,
                                 err, errlen);
        if (rc == 0)
                rc = row_insert(st, in, &m, NULL, err, errlen);
        return tx_end(st, rc, err, errlen);
}

int km_state_note(km_state_t *st, const km_inst_row_t *in, char *err,
                  size_t errlen)
{
        if (check_instance(in, err, errlen))
                return -1;
        if (in->status != KM_INST_WAITING && in->status != KM_INST_SKIPPED) {
                snprintf(err, errlen, "only waiting or skipped instances are "
                         "noted, not %s; an attempt starts with "
                         "km_state_begin (this is a bug in kmsync)",
                         km_inst_status_name(in->status));
                return -1;
        }
        pthread_mutex_lock(&st->mu);
        int rc = note_insert(st, in, err, errlen);
        pthread_mutex_unlock(&st->mu);
        return rc;
}

/* ---- queries ------------------------------------------------------------ */

static int list_rows(km_state_t *st, const char *sync, const char *from,
                     const char *to, km_inst_row_t **rows, int *n, char *err,
                     size_t errlen)
{
        sqlite3_stmt *s = prep(
                st,
                "SELECT " ROW_COLUMNS " FROM attempts a"
                " WHERE (?1 IS NULL OR a.sync = ?1)"
                " AND (?2 IS NULL OR a.scheduled_at >= ?2)"
                " AND (?3 IS NULL OR a.scheduled_at <= ?3)"
                " AND " LATEST_OF_A " ORDER BY a.scheduled_at, a.sync",
                err, errlen);
        if (!s)
                return -1;
        bind_text(s, 1, sync);
        bind_text(s, 2, from);
        bind_text(s, 3, to);
        int rc, cap = 0;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                if (*n == cap) {
                        cap = cap ? 2 * cap : 16;
                        *rows = km_xrealloc(*rows,
                                            (size_t)cap * sizeof(**rows));
                }
                row_read(s, &(*rows)[(*n)++]);
        }
        if (rc != SQLITE_DONE)
                db_fail(st, "cannot list the instances", err, errlen);
        sqlite3_finalize(s);
        return rc == SQLITE_DONE ? 0 : -1;
}

int km_state_list(km_state_t *st, const char *sync, const char *from,
                  const char *to, km_inst_row_t **rows, int *n, char *err,
                  size_t errlen)
{
        *rows = NULL;
        *n = 0;
        pthread_mutex_lock(&st->mu);
        int rc = list_rows(st, sync, from, to, rows, n, err, errlen);
        pthread_mutex_unlock(&st->mu);
        if (rc != 0) {
                km_inst_rows_free(*rows, *n);
                *rows = NULL;
                *n = 0;
        }
        return rc;
}

static int get_row(km_state_t *st, const char *sync, const char *scheduled_at,
                   km_inst_row_t *row, char *err, size_t errlen)
{
        sqlite3_stmt *s = prep(st,
                               "SELECT " ROW_COLUMNS " FROM attempts"
                               " WHERE sync = ?1 AND scheduled_at = ?2"
                               " ORDER BY attempt DESC, id DESC LIMIT 1",
                               err, errlen);
        if (!s)
                return -1;
        bind_text(s, 1, sync);
        bind_text(s, 2, scheduled_at);
        int rc = sqlite3_step(s), out = 1;
        if (rc == SQLITE_ROW) {
                row_read(s, row);
                out = 0;
        } else if (rc != SQLITE_DONE) {
                out = db_fail(st, "cannot read the instance", err, errlen);
        }
        sqlite3_finalize(s);
        return out;
}

int km_state_get(km_state_t *st, const char *sync, const char *scheduled_at,
                 km_inst_row_t *row, char *err, size_t errlen)
{
        memset(row, 0, sizeof(*row));
        if (!sync || !scheduled_at)
                return 1;
        pthread_mutex_lock(&st->mu);
        int rc = get_row(st, sync, scheduled_at, row, err, errlen);
        pthread_mutex_unlock(&st->mu);
        return rc;
}
