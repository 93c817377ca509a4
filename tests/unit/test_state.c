/* test_state.c - the instance history (scheduler/state.c) and its locks.
 *
 * Every test works in a fresh mkdtemp directory.  Other processes are real
 * forked children that hold a lock, or die holding one; the parent never
 * has a database open while it forks (SQLite connections must not cross a
 * fork), and children report by exit status, never by cmocka assertions. */
#define _GNU_SOURCE /* mkdtemp, setenv, nftw */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "state.h"

#define INTERRUPTED "interrupted (the process running it stopped)"

static char err[1024];

/* ---- helpers ------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
        (void)sb;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static int setup_dir(void **state)
{
        char tmpl[] = "/tmp/km_state_XXXXXX";
        if (!mkdtemp(tmpl))
                return -1;
        *state = realpath(tmpl, NULL);
        return *state ? 0 : -1;
}

static int teardown_dir(void **state)
{
        nftw(*state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(*state);
        return 0;
}

static km_state_t *open_ok(const char *dir)
{
        km_state_t *st = km_state_open(dir, err, sizeof(err));
        if (!st)
                fail_msg("open %s: %s", dir ? dir : "(default)", err);
        return st;
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A row with only what begin needs. */
static km_inst_row_t inst(const char *sync, const char *at,
                          const char *partition)
{
        km_inst_row_t r = {0};
        r.sync = (char *)sync;
        r.scheduled_at = (char *)at;
        r.partition = (char *)partition;
        r.target = (char *)"local:/tmp/wh";
        return r;
}

static int64_t begin_ok(km_state_t *st, const char *sync, const char *at,
                        const char *partition)
{
        km_inst_row_t r = inst(sync, at, partition);
        int64_t id = 0;
        if (km_state_begin(st, &r, &id, err, sizeof(err)) != 0)
                fail_msg("begin %s %s: %s", sync, at, err);
        assert_true(id > 0);
        return id;
}

static void finish_ok(km_state_t *st, int64_t id, km_inst_status_t status)
{
        if (km_state_finish(st, id, status, status == KM_INST_SUCCEEDED ? 0 : 1,
                            1, 1, 0, "[]",
                            status == KM_INST_FAILED ? "broker down" : NULL,
                            err, sizeof(err)) != 0)
                fail_msg("finish %lld: %s", (long long)id, err);
}

static void run_ok(km_state_t *st, const char *sync, const char *at,
                   const char *partition, km_inst_status_t status)
{
        finish_ok(st, begin_ok(st, sync, at, partition), status);
}

static void get_ok(km_state_t *st, const char *sync, const char *at,
                   km_inst_row_t *row)
{
        int rc = km_state_get(st, sync, at, row, err, sizeof(err));
        if (rc != 0)
                fail_msg("get %s %s: %d %s", sync, at, rc, rc < 0 ? err : "");
}

static void assert_contains(const char *text, const char *needle)
{
        if (!strstr(text, needle))
                fail_msg("'%s' does not contain '%s'", text, needle);
}

/* A one-integer query straight on the database file. */
static int64_t sql_int(const char *path, const char *sql)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *s = NULL;
        int64_t v = -1;
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE,
                                         NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
        if (sqlite3_step(s) == SQLITE_ROW)
                v = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        sqlite3_close(db);
        return v;
}

static void sql_exec(const char *path, const char *sql)
{
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE,
                                         NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

/* ---- forked holders ------------------------------------------------------ */

typedef struct child {
        pid_t pid;
        int ready; /* read end: 'k' begun, 'e' failed */
        int go;    /* write end: a byte lets the child go on */
        int waits; /* it waits for that byte (else it is exiting) */
} child_t;

/* In the child: open, begin, report; then either die at once without
 * finishing (finish 0) or wait for the parent's byte and finish. */
static void child_main(const char *dir, const char *sync, const char *at,
                       const char *partition, int finish, int ready, int go)
{
        char e[1024], c = 'e';
        int64_t id = 0;
        km_state_t *st = km_state_open(dir, e, sizeof(e));
        km_inst_row_t r = inst(sync, at, partition);
        if (st && km_state_begin(st, &r, &id, e, sizeof(e)) == 0)
                c = 'k';
        if (write(ready, &c, 1) != 1 || c != 'k')
                _exit(2);
        if (!finish)
                _exit(0); /* dies holding the lock, the row running */
        if (read(go, &c, 1) != 1)
                _exit(3);
        if (km_state_finish(st, id, KM_INST_SUCCEEDED, 0, 5, 5, 0, "[]", NULL,
                            e, sizeof(e)) != 0)
                _exit(4);
        km_state_close(st);
        _exit(0);
}

static child_t child_start(const char *dir, const char *sync, const char *at,
                           const char *partition, int finish)
{
        int ready[2], go[2];
        char c = 0;
        child_t ch;
        assert_int_equal(pipe(ready), 0);
        assert_int_equal(pipe(go), 0);
        fflush(NULL);
        ch.pid = fork();
        assert_true(ch.pid >= 0);
        if (ch.pid == 0) {
                close(ready[0]);
                close(go[1]);
                child_main(dir, sync, at, partition, finish, ready[1], go[0]);
        }
        close(ready[1]);
        close(go[0]);
        ch.ready = ready[0];
        ch.go = go[1];
        ch.waits = finish;
        assert_int_equal(read(ch.ready, &c, 1), 1);
        assert_int_equal(c, 'k');
        return ch;
}

/* Lets the child go on (if it waits) and reaps it; its exit status. */
static int child_end(child_t *ch)
{
        int status = 0;
        char c = 'g';
        if (ch->waits)
                assert_int_equal(write(ch->go, &c, 1), 1);
        assert_int_equal(waitpid(ch->pid, &status, 0), ch->pid);
        close(ch->ready);
        close(ch->go);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

/* ---- tests --------------------------------------------------------------- */

static void test_status_names(void **state)
{
        (void)state;
        assert_string_equal(km_inst_status_name(KM_INST_WAITING), "waiting");
        assert_string_equal(km_inst_status_name(KM_INST_RUNNING), "running");
        assert_string_equal(km_inst_status_name(KM_INST_SUCCEEDED),
                            "succeeded");
        assert_string_equal(km_inst_status_name(KM_INST_FAILED), "failed");
        assert_string_equal(km_inst_status_name(KM_INST_SKIPPED), "skipped");
        assert_string_equal(km_inst_status_name((km_inst_status_t)99),
                            "unknown");
}

/* Created with its parents; opened again, the schema and rows are kept. */
static void test_open_twice(void **state)
{
        char dir[PATH_MAX], want[PATH_MAX + 32];
        snprintf(dir, sizeof(dir), "%s/a/b/c", (char *)*state);
        snprintf(want, sizeof(want), "%s/state.db", dir);
        km_state_t *st = open_ok(dir);
        assert_string_equal(km_state_path(st), want);
        run_ok(st, "orders", "2024-01-01 00:00:00", "ds=20240101",
               KM_INST_SUCCEEDED);
        km_state_close(st);

        st = open_ok(dir);
        km_inst_row_t row;
        get_ok(st, "orders", "2024-01-01 00:00:00", &row);
        assert_int_equal(row.status, KM_INST_SUCCEEDED);
        km_inst_row_clear(&row);
        run_ok(st, "orders", "2024-01-01 00:00:00", "ds=20240101",
               KM_INST_SUCCEEDED);
        km_state_close(st);

        assert_int_equal(sql_int(want, "PRAGMA user_version"), 1);
        assert_int_equal(sql_int(want, "SELECT count(*) FROM attempts"), 2);
        assert_int_equal(sql_int(want, "SELECT count(*) FROM sqlite_master"
                                       " WHERE type = 'index' AND sql LIKE"
                                       " '%(sync, scheduled_at%'"),
                         1);
        assert_int_equal(sql_int(want, "SELECT count(*) FROM"
                                       " pragma_table_info('attempts') WHERE"
                                       " name IN ('pid', 'host')"),
                         2);
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(want, &db), SQLITE_OK);
        sqlite3_stmt *s = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s,
                                            NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
        sqlite3_finalize(s);
        sqlite3_close(db);
}

/* Every field of a row, as begun and as finished. */
static void test_round_trip(void **state)
{
        km_state_t *st = open_ok(*state);
        km_inst_row_t in = {0}, row;
        int64_t id = 0, before = now_ms();
        in.sync = "orders";
        in.file = "examples/orders.sync";
        in.plan_hash = "9f86d081884c7d65";
        in.scheduled_at = "2024-01-02 03:00:00";
        in.window_start_ms = 1704164400000;
        in.window_end_ms = 1704168000000;
        in.partition = "ds=20240102,hh=03";
        in.target = "local:/tmp/wh";
        in.status = KM_INST_SUCCEEDED; /* ignored: begin means running */
        in.started_ms = 1704168060123;
        assert_int_equal(km_state_begin(st, &in, &id, err, sizeof(err)), 0);

        get_ok(st, "orders", "2024-01-02 03:00:00", &row);
        assert_int_equal(row.id, id);
        assert_string_equal(row.sync, "orders");
        assert_string_equal(row.file, "examples/orders.sync");
        assert_string_equal(row.plan_hash, "9f86d081884c7d65");
        assert_string_equal(row.scheduled_at, "2024-01-02 03:00:00");
        assert_int_equal(row.window_start_ms, 1704164400000);
        assert_int_equal(row.window_end_ms, 1704168000000);
        assert_string_equal(row.partition, "ds=20240102,hh=03");
        assert_string_equal(row.target, "local:/tmp/wh");
        assert_int_equal(row.status, KM_INST_RUNNING);
        assert_int_equal(row.attempt, 1);
        assert_int_equal(row.started_ms, 1704168060123);
        assert_int_equal(row.finished_ms, 0);
        assert_int_equal(row.rows_read + row.rows_written + row.rows_rejected,
                         0);
        assert_null(row.ranges_json);
        assert_null(row.error);
        assert_int_equal(row.exit_code, 0);
        km_inst_row_clear(&row);
        assert_null(row.sync);

        const char *ranges = "[{\"partition\":0,\"start_offset\":10,"
                             "\"end_offset\":20,\"rows\":10}]";
        assert_int_equal(km_state_finish(st, id, KM_INST_FAILED, 3,
                                         5000000000, 4999999990, 10, ranges,
                                         "errors limit exceeded", err,
                                         sizeof(err)),
                         0);
        get_ok(st, "orders", "2024-01-02 03:00:00", &row);
        assert_int_equal(row.id, id);
        assert_string_equal(row.file, "examples/orders.sync");
        assert_int_equal(row.status, KM_INST_FAILED);
        assert_int_equal(row.attempt, 1);
        assert_int_equal(row.started_ms, 1704168060123);
        assert_true(row.finished_ms >= before && row.finished_ms <= now_ms());
        assert_int_equal(row.rows_read, 5000000000);
        assert_int_equal(row.rows_written, 4999999990);
        assert_int_equal(row.rows_rejected, 10);
        assert_string_equal(row.ranges_json, ranges);
        assert_string_equal(row.error, "errors limit exceeded");
        assert_int_equal(row.exit_code, 3);
        km_inst_row_clear(&row);

        km_inst_row_t *rows = NULL;
        int n = -1;
        assert_int_equal(km_state_list(st, NULL, NULL, NULL, &rows, &n, err,
                                       sizeof(err)),
                         0);
        assert_int_equal(n, 1);
        assert_int_equal(rows[0].id, id);
        assert_string_equal(rows[0].ranges_json, ranges);
        assert_string_equal(rows[0].plan_hash, "9f86d081884c7d65");
        km_inst_rows_free(rows, n);

        /* Unset strings come back empty; started_ms defaults to now. */
        km_inst_row_t bare = {0};
        bare.sync = "bare";
        bare.scheduled_at = "2024-01-02 04:00:00";
        before = now_ms();
        assert_int_equal(km_state_begin(st, &bare, &id, err, sizeof(err)), 0);
        finish_ok(st, id, KM_INST_SUCCEEDED);
        get_ok(st, "bare", "2024-01-02 04:00:00", &row);
        assert_string_equal(row.file, "");
        assert_string_equal(row.partition, "");
        assert_string_equal(row.target, "");
        assert_true(row.started_ms >= before);
        assert_null(row.error);
        km_inst_row_clear(&row);

        assert_int_equal(km_state_get(st, "orders", "2024-01-02 04:00:00",
                                      &row, err, sizeof(err)),
                         1);
        assert_null(row.sync);
        km_state_close(st);
}

/* Attempt numbers count per (sync, scheduled_at); notes are no attempt. */
static void test_attempts_counted(void **state)
{
        km_state_t *st = open_ok(*state);
        km_inst_row_t row;
        const char *t1 = "2024-03-01 00:00:00", *t2 = "2024-03-02 00:00:00";
        run_ok(st, "a", t1, "ds=20240301", KM_INST_FAILED);
        run_ok(st, "a", t1, "ds=20240301", KM_INST_FAILED);
        run_ok(st, "b", t1, "ds=20240301", KM_INST_SUCCEEDED);
        run_ok(st, "a", t2, "ds=20240302", KM_INST_SUCCEEDED);
        run_ok(st, "a", t1, "ds=20240301", KM_INST_SUCCEEDED);

        get_ok(st, "a", t1, &row);
        assert_int_equal(row.attempt, 3);
        assert_int_equal(row.status, KM_INST_SUCCEEDED);
        assert_null(row.error);
        km_inst_row_clear(&row);
        get_ok(st, "a", t2, &row);
        assert_int_equal(row.attempt, 1);
        km_inst_row_clear(&row);
        get_ok(st, "b", t1, &row);
        assert_int_equal(row.attempt, 1);
        km_inst_row_clear(&row);

        /* A waiting note, replaced by the attempt that runs it. */
        const char *t3 = "2024-03-03 00:00:00";
        km_inst_row_t note = inst("a", t3, "ds=20240303");
        note.status = KM_INST_WAITING;
        assert_int_equal(km_state_note(st, &note, err, sizeof(err)), 0);
        assert_int_equal(km_state_note(st, &note, err, sizeof(err)), 0);
        get_ok(st, "a", t3, &row);
        assert_int_equal(row.status, KM_INST_WAITING);
        assert_int_equal(row.attempt, 0);
        km_inst_row_clear(&row);
        run_ok(st, "a", t3, "ds=20240303", KM_INST_SUCCEEDED);
        get_ok(st, "a", t3, &row);
        assert_int_equal(row.status, KM_INST_SUCCEEDED);
        assert_int_equal(row.attempt, 1);
        km_inst_row_clear(&row);

        /* Skipped after an attempt: the latest row, attempts unchanged;
         * noted again it replaces itself; a new attempt counts on. */
        note = inst("a", t3, "ds=20240303");
        note.status = KM_INST_SKIPPED;
        assert_int_equal(km_state_note(st, &note, err, sizeof(err)), 0);
        assert_int_equal(km_state_note(st, &note, err, sizeof(err)), 0);
        get_ok(st, "a", t3, &row);
        assert_int_equal(row.status, KM_INST_SKIPPED);
        assert_int_equal(row.attempt, 1);
        assert_true(row.finished_ms > 0);
        km_inst_row_clear(&row);
        run_ok(st, "a", t3, "ds=20240303", KM_INST_FAILED);
        get_ok(st, "a", t3, &row);
        assert_int_equal(row.status, KM_INST_FAILED);
        assert_int_equal(row.attempt, 2);
        assert_string_equal(row.error, "broker down");
        km_inst_row_clear(&row);

        char db[PATH_MAX];
        snprintf(db, sizeof(db), "%s", km_state_path(st));
        note.status = KM_INST_RUNNING;
        assert_int_equal(km_state_note(st, &note, err, sizeof(err)), -1);
        assert_contains(err, "waiting or skipped");
        km_state_close(st);
        assert_int_equal(sql_int(db, "SELECT count(*) FROM attempts WHERE"
                                     " sync = 'a' AND scheduled_at ="
                                     " '2024-03-03 00:00:00'"),
                         3);
}

static void expect_list(km_state_t *st, const char *sync, const char *from,
                        const char *to, const char *want)
{
        km_inst_row_t *rows = NULL;
        int n = -1;
        char got[512] = "";
        if (km_state_list(st, sync, from, to, &rows, &n, err, sizeof(err)))
                fail_msg("list: %s", err);
        for (int i = 0; i < n; i++)
                snprintf(got + strlen(got), sizeof(got) - strlen(got),
                         "%s%s %s #%d", i ? "; " : "", rows[i].sync,
                         rows[i].scheduled_at + 11, rows[i].attempt);
        km_inst_rows_free(rows, n);
        if (strcmp(got, want) != 0)
                fail_msg("list %s [%s, %s]:\n got  %s\n want %s",
                         sync ? sync : "*", from ? from : "-", to ? to : "-",
                         got, want);
}

/* Filters by sync and by an inclusive range; latest attempts only, in
 * scheduled order then by sync. */
static void test_list_filters(void **state)
{
        km_state_t *st = open_ok(*state);
        run_ok(st, "b", "2024-01-01 02:00:00", "hh=02", KM_INST_SUCCEEDED);
        run_ok(st, "a", "2024-01-01 02:00:00", "hh=02", KM_INST_FAILED);
        run_ok(st, "a", "2024-01-01 01:00:00", "hh=01", KM_INST_SUCCEEDED);
        run_ok(st, "a", "2024-01-01 02:00:00", "hh=02", KM_INST_SUCCEEDED);
        run_ok(st, "b", "2024-01-01 00:00:00", "hh=00", KM_INST_SUCCEEDED);
        run_ok(st, "a", "2024-01-01 03:00:00", "hh=03", KM_INST_FAILED);

        expect_list(st, NULL, NULL, NULL,
                    "b 00:00:00 #1; a 01:00:00 #1; a 02:00:00 #2; "
                    "b 02:00:00 #1; a 03:00:00 #1");
        expect_list(st, "a", NULL, NULL,
                    "a 01:00:00 #1; a 02:00:00 #2; a 03:00:00 #1");
        expect_list(st, NULL, "2024-01-01 01:00:00", "2024-01-01 02:00:00",
                    "a 01:00:00 #1; a 02:00:00 #2; b 02:00:00 #1");
        expect_list(st, "b", "2024-01-01 00:00:01", NULL, "b 02:00:00 #1");
        expect_list(st, NULL, NULL, "2024-01-01 00:59:59", "b 00:00:00 #1");
        expect_list(st, "c", NULL, NULL, "");
        expect_list(st, NULL, "2024-01-02 00:00:00", NULL, "");

        km_inst_row_t *rows = NULL;
        int n = 0;
        assert_int_equal(km_state_list(st, "a", NULL, NULL, &rows, &n, err,
                                       sizeof(err)),
                         0);
        assert_int_equal(n, 3);
        assert_int_equal(rows[2].status, KM_INST_FAILED);
        assert_string_equal(rows[2].error, "broker down");
        assert_int_equal(rows[1].status, KM_INST_SUCCEEDED);
        km_inst_rows_free(rows, n);
        km_state_close(st);
}

/* A live process holds the lock: begin fails naming it; after it is gone
 * the lock is free. */
static void test_lock_conflict(void **state)
{
        const char *dir = *state;
        child_t ch = child_start(dir, "orders", "2024-01-01 00:00:00",
                                 "ds=20240101", 1);
        km_state_t *st = open_ok(dir);
        km_inst_row_t r = inst("orders", "2024-01-01 01:00:00", "ds=20240101");
        char pid[64];
        int64_t id = 0;
        assert_int_equal(km_state_begin(st, &r, &id, err, sizeof(err)), -1);
        snprintf(pid, sizeof(pid), "process %ld", (long)ch.pid);
        assert_contains(err, pid);
        assert_contains(err, "sync 'orders' partition 'ds=20240101'");
        assert_contains(err, "instance 2024-01-01 00:00:00 attempt 1");
        snprintf(pid, sizeof(pid), "wait for it, or stop process %ld",
                 (long)ch.pid);
        assert_contains(err, pid);
        assert_true(err[0] >= 'a' && err[0] <= 'z');
        assert_int_equal(km_state_get(st, "orders", "2024-01-01 01:00:00",
                                      &r, err, sizeof(err)),
                         1);

        /* Another partition of the same SYNC is free; open keeps the
         * child's row running (its lock is held). */
        run_ok(st, "orders", "2024-01-02 00:00:00", "ds=20240102",
               KM_INST_SUCCEEDED);
        km_state_close(st);
        st = open_ok(dir);
        km_inst_row_t row;
        get_ok(st, "orders", "2024-01-01 00:00:00", &row);
        assert_int_equal(row.status, KM_INST_RUNNING);
        km_inst_row_clear(&row);

        assert_int_equal(child_end(&ch), 0);
        run_ok(st, "orders", "2024-01-01 01:00:00", "ds=20240101",
               KM_INST_SUCCEEDED);
        get_ok(st, "orders", "2024-01-01 00:00:00", &row);
        assert_int_equal(row.status, KM_INST_SUCCEEDED);
        assert_int_equal(row.rows_written, 5);
        km_inst_row_clear(&row);
        km_state_close(st);
}

/* One process never takes a lock twice, through one handle or two. */
static void test_same_process_lock(void **state)
{
        km_state_t *st = open_ok(*state);
        km_state_t *other = open_ok(*state);
        int64_t id = begin_ok(st, "s", "2024-01-01 00:00:00", "ds=1");
        km_inst_row_t r = inst("s", "2024-01-01 01:00:00", "ds=1");
        int64_t id2 = 0;
        char pid[64];
        assert_int_equal(km_state_begin(st, &r, &id2, err, sizeof(err)), -1);
        assert_contains(err, "sync 's' partition 'ds=1' is already being run "
                             "by this process");
        r.scheduled_at = "2024-01-01 00:00:00";
        assert_int_equal(km_state_begin(st, &r, &id2, err, sizeof(err)), -1);
        assert_int_equal(km_state_begin(other, &r, &id2, err, sizeof(err)),
                         -1);
        snprintf(pid, sizeof(pid), "by this process %ld", (long)getpid());
        assert_contains(err, pid);

        /* Other partitions, other SYNCs and the whole table are other
         * locks. */
        int64_t a = begin_ok(st, "s", "2024-01-01 00:00:00", "ds=2");
        int64_t b = begin_ok(other, "t", "2024-01-01 00:00:00", "ds=1");
        int64_t c = begin_ok(st, "s", "2024-01-01 02:00:00", "");
        r.partition = NULL;
        assert_int_equal(km_state_begin(other, &r, &id2, err, sizeof(err)),
                         -1);
        assert_contains(err, "sync 's' (the whole table)");
        finish_ok(st, a, KM_INST_SUCCEEDED);
        finish_ok(other, b, KM_INST_SUCCEEDED);
        finish_ok(st, c, KM_INST_SUCCEEDED);

        finish_ok(st, id, KM_INST_SUCCEEDED);
        run_ok(other, "s", "2024-01-01 01:00:00", "ds=1", KM_INST_SUCCEEDED);
        run_ok(st, "s", "2024-01-01 01:00:00", "ds=1", KM_INST_SUCCEEDED);

        assert_int_equal(km_state_finish(st, 999999, KM_INST_SUCCEEDED, 0, 0,
                                         0, 0, NULL, NULL, err, sizeof(err)),
                         -1);
        assert_contains(err, "no attempt with id 999999");
        assert_contains(err, km_state_path(st));
        km_state_close(other);
        km_state_close(st);
}

/* Lock files: unsafe bytes escaped, "" is the whole table, long names
 * shortened. */
static void test_lock_names(void **state)
{
        char path[PATH_MAX + 300], long_sync[400];
        struct stat sb;
        km_state_t *st = open_ok(*state);
        run_ok(st, "a/b", "2024-01-01 00:00:00", "ds=2024/01,x y",
               KM_INST_SUCCEEDED);
        run_ok(st, "orders", "2024-01-01 00:00:00", "", KM_INST_SUCCEEDED);
        snprintf(path, sizeof(path),
                 "%s/locks/a%%2Fb@ds=2024%%2F01,x%%20y.lock", (char *)*state);
        assert_int_equal(stat(path, &sb), 0);
        snprintf(path, sizeof(path), "%s/locks/orders@table.lock",
                 (char *)*state);
        assert_int_equal(stat(path, &sb), 0);

        memset(long_sync, 'x', sizeof(long_sync) - 1);
        long_sync[sizeof(long_sync) - 1] = '\0';
        int64_t id = begin_ok(st, long_sync, "2024-01-01 00:00:00", "ds=1");
        km_inst_row_t r = inst(long_sync, "2024-01-01 01:00:00", "ds=1");
        int64_t id2;
        assert_int_equal(km_state_begin(st, &r, &id2, err, sizeof(err)), -1);
        finish_ok(st, id, KM_INST_SUCCEEDED);
        km_state_close(st);
}

/* Rows left running by a dead process become failed "interrupted" on the
 * next open; a live holder's row stays running. */
static void test_interrupted(void **state)
{
        const char *dir = *state;
        child_t live = child_start(dir, "s", "2024-01-01 00:00:00", "ds=1", 1);
        child_t dead = child_start(dir, "s", "2024-01-01 01:00:00", "ds=2", 0);
        assert_int_equal(child_end(&dead), 0);

        int64_t before = now_ms();
        km_state_t *st = open_ok(dir);
        km_inst_row_t row;
        get_ok(st, "s", "2024-01-01 01:00:00", &row);
        assert_int_equal(row.status, KM_INST_FAILED);
        assert_string_equal(row.error, INTERRUPTED);
        assert_true(row.finished_ms >= before);
        assert_int_equal(row.exit_code, 1);
        assert_int_equal(row.attempt, 1);
        km_inst_row_clear(&row);
        get_ok(st, "s", "2024-01-01 00:00:00", &row);
        assert_int_equal(row.status, KM_INST_RUNNING);
        km_inst_row_clear(&row);

        /* Retried: attempt 2. */
        run_ok(st, "s", "2024-01-01 01:00:00", "ds=2", KM_INST_SUCCEEDED);
        get_ok(st, "s", "2024-01-01 01:00:00", &row);
        assert_int_equal(row.attempt, 2);
        assert_int_equal(row.status, KM_INST_SUCCEEDED);
        km_inst_row_clear(&row);
        km_state_close(st);
        assert_int_equal(child_end(&live), 0);
}

/* A handle closed without finishing leaves its row running and its lock
 * free: the next begin of that partition marks it interrupted. */
static void test_interrupted_by_begin(void **state)
{
        km_state_t *st = open_ok(*state);
        km_state_t *gone = open_ok(*state);
        begin_ok(gone, "s", "2024-01-01 00:00:00", "ds=1");
        km_state_close(gone);
        km_inst_row_t row;
        get_ok(st, "s", "2024-01-01 00:00:00", &row);
        assert_int_equal(row.status, KM_INST_RUNNING);
        km_inst_row_clear(&row);
        run_ok(st, "s", "2024-01-01 01:00:00", "ds=1", KM_INST_SUCCEEDED);
        get_ok(st, "s", "2024-01-01 00:00:00", &row);
        assert_int_equal(row.status, KM_INST_FAILED);
        assert_string_equal(row.error, INTERRUPTED);
        km_inst_row_clear(&row);
        km_state_close(st);
}

#define CYCLES 100

typedef struct worker {
        km_state_t *st;
        pthread_barrier_t *start;
        const char *at, *partition;
        int64_t first_id;
        int failures;
        char err[1024];
} worker_t;

static void *worker_main(void *arg)
{
        worker_t *w = arg;
        int64_t id = w->first_id;
        pthread_barrier_wait(w->start);
        for (int i = 0; i < CYCLES; i++) {
                km_inst_row_t r = inst("t", w->at, w->partition);
                if (i > 0 && km_state_begin(w->st, &r, &id, w->err,
                                            sizeof(w->err)) != 0) {
                        w->failures++;
                        continue;
                }
                if (km_state_finish(w->st, id, KM_INST_SUCCEEDED, 0, i, i, 0,
                                    "[]", NULL, w->err, sizeof(w->err)) != 0)
                        w->failures++;
        }
        return NULL;
}

/* Two threads share one handle, each beginning and finishing its own
 * instance; the first finishes of both race. */
static void test_threads(void **state)
{
        km_state_t *st = open_ok(*state);
        pthread_barrier_t start;
        pthread_t th[2];
        worker_t w[2] = {
                {st, &start, "2024-01-01 00:00:00", "ds=1", 0, 0, ""},
                {st, &start, "2024-01-01 01:00:00", "ds=2", 0, 0, ""},
        };
        pthread_barrier_init(&start, NULL, 2);
        for (int i = 0; i < 2; i++)
                w[i].first_id = begin_ok(st, "t", w[i].at, w[i].partition);
        for (int i = 0; i < 2; i++)
                assert_int_equal(pthread_create(&th[i], NULL, worker_main,
                                                &w[i]),
                                 0);
        for (int i = 0; i < 2; i++)
                pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < 2; i++) {
                if (w[i].failures)
                        fail_msg("worker %d: %d failures, last: %s", i,
                                 w[i].failures, w[i].err);
                km_inst_row_t row;
                get_ok(st, "t", w[i].at, &row);
                assert_int_equal(row.attempt, CYCLES);
                assert_int_equal(row.status, KM_INST_SUCCEEDED);
                assert_int_equal(row.rows_written, CYCLES - 1);
                km_inst_row_clear(&row);
        }
        km_state_close(st);
}

/* dir NULL: $KMSYNC_STATE, else ./.kmsync; an explicit dir wins. */
static void test_default_dirs(void **state)
{
        char cwd[PATH_MAX], want[PATH_MAX + 64], env[PATH_MAX + 64];
        struct stat sb;
        const char *dir = *state;
        assert_non_null(getcwd(cwd, sizeof(cwd)));
        assert_int_equal(chdir(dir), 0);
        unsetenv("KMSYNC_STATE");
        km_state_t *st = open_ok(NULL);
        snprintf(want, sizeof(want), "%s/.kmsync/state.db", dir);
        assert_string_equal(km_state_path(st), want);
        km_state_close(st);
        assert_int_equal(stat(want, &sb), 0);

        snprintf(env, sizeof(env), "%s/env", dir);
        setenv("KMSYNC_STATE", env, 1);
        st = open_ok(NULL);
        snprintf(want, sizeof(want), "%s/env/state.db", dir);
        assert_string_equal(km_state_path(st), want);
        km_state_close(st);
        assert_int_equal(stat(want, &sb), 0);

        st = open_ok("given");
        snprintf(want, sizeof(want), "%s/given/state.db", dir);
        assert_string_equal(km_state_path(st), want);
        km_state_close(st);
        unsetenv("KMSYNC_STATE");
        assert_int_equal(chdir(cwd), 0);
}

/* Errors name the database and say what is wrong. */
static void test_errors(void **state)
{
        char dir[PATH_MAX], db[PATH_MAX + 16];
        snprintf(dir, sizeof(dir), "%s/bad", (char *)*state);
        snprintf(db, sizeof(db), "%s/state.db", dir);
        assert_int_equal(mkdir(dir, 0755), 0);
        assert_int_equal(mkdir(db, 0755), 0); /* a directory, not a file */
        assert_null(km_state_open(dir, err, sizeof(err)));
        assert_contains(err, db);
        assert_contains(err, "unable to open database file");

        km_state_t *st = open_ok(*state);
        snprintf(db, sizeof(db), "%s", km_state_path(st));
        km_inst_row_t r = inst(NULL, "2024-01-01 00:00:00", "");
        int64_t id;
        assert_int_equal(km_state_begin(st, &r, &id, err, sizeof(err)), -1);
        assert_contains(err, "needs a sync name");
        km_state_close(st);

        sql_exec(db, "PRAGMA user_version = 99");
        assert_null(km_state_open(*state, err, sizeof(err)));
        assert_contains(err, "schema version 99");
        assert_contains(err, db);

        snprintf(dir, sizeof(dir), "%s/file", (char *)*state);
        FILE *f = fopen(dir, "w");
        assert_non_null(f);
        fclose(f);
        snprintf(dir, sizeof(dir), "%s/file/sub", (char *)*state);
        assert_null(km_state_open(dir, err, sizeof(err)));
        assert_contains(err, "cannot create the state directory");
}

#define DIR_TEST(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_status_names),
                DIR_TEST(test_open_twice),
                DIR_TEST(test_round_trip),
                DIR_TEST(test_attempts_counted),
                DIR_TEST(test_list_filters),
                DIR_TEST(test_lock_conflict),
                DIR_TEST(test_same_process_lock),
                DIR_TEST(test_lock_names),
                DIR_TEST(test_interrupted),
                DIR_TEST(test_interrupted_by_begin),
                DIR_TEST(test_threads),
                DIR_TEST(test_default_dirs),
                DIR_TEST(test_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
