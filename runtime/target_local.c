/* target_local.c - the local warehouse: partitions as directories of JSON
 * lines on disk, each replaced whole and atomically by a commit.
 *
 * Layout.  DIR/<project>[/<schema>]/<table>/<k1>=<v1>[/<k2>=<v2>...]/; a
 * table without partition keys keeps its rows in the table directory
 * itself.  Names and values become path components percent-encoded: every
 * byte outside [A-Za-z0-9._-] is written %XX (upper-case hex, so '/', '=',
 * '%', spaces and non-ASCII bytes are all encoded), and a name or value
 * made only of dots ("." or "..") is written all %2E.  A value can
 * therefore never name another directory, and "k=v" splits at its only
 * '='.
 *
 * Contents.  part-00000.jsonl, part-00001.jsonl, ... (a part rolls over
 * before it would pass 128 MiB) hold one JSON object per row, every column
 * in column order: BIGINT as an integer, DOUBLE as "%.17g" (an integral
 * value gets ".0" so it still reads as a double; NaN and infinities have
 * no JSON form and fail the write), BOOLEAN as true/false, STRING as a
 * JSON string (bytes >= 0x80 pass through: the mapper gives UTF-8),
 * DECIMAL as a string of its text (no precision lost), DATETIME as the
 * string 'YYYY-MM-DD HH:MM:SS.mmm', the wall clock in the SYNC's TIMEZONE,
 * and NULL as null.  _SUCCESS, written last, is a JSON manifest
 * of the run: window, Kafka offset ranges, row counts, plan hash, finish
 * time and kmsync version.
 *
 * Atomicity.  open() builds the partition in a fresh directory beside it,
 * .kmsync-staging-<pid>-<random>; commit() fsyncs it and swaps it in with
 * renameat2(RENAME_EXCHANGE) (plain rename() when there is no partition
 * yet), so readers see the old partition or the new one, never a mix.
 * abort() removes the staging directory.  A killed run leaves its staging
 * directory behind; the next open() in the same parent removes the
 * .kmsync-* directories whose pid is no longer alive (kill(pid, 0) says
 * ESRCH).  Pids are this host's: hosts sharing a warehouse directory (NFS)
 * must not run the same table at the same time.  Readers should skip
 * names starting with '.' or '_' (as Hive and Spark do). */
#define _GNU_SOURCE /* renameat2, fdopendir */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kmsync/target.h"
#include "kmsync/version.h"
#include "target_local_int.h"
#include "util.h"

#define KM_LOCAL_PART_BYTES ((uint64_t)128 << 20)
#define KM_LOCAL_STDIO_BUF ((size_t)1 << 20)
#define KM_STAGING_PREFIX ".kmsync-staging-"
#define KM_ASIDE_PREFIX ".kmsync-old-"

typedef struct km_local {
        km_target_t base;
        const km_sync_plan_t *sync;
        char *dir;
        char *table_dir;    /* DIR/<project>[/<schema>]/<table> */
        char *table_parent; /* DIR/<project>[/<schema>] */
        char **keys;        /* per column: "name": (JSON) */
        size_t *key_lens;
        uint64_t part_limit;
        int force_fallback;
        /* One open partition. */
        const km_instance_t *inst;
        char *part_dir;
        char *parent;       /* the directory holding part_dir */
        char *staging;      /* NULL: nothing open */
        char *token;        /* "<pid>-<random>" of the staging name */
        FILE *out;
        char *out_path;
        char *stdio_buf;
        int part_no;
        uint64_t part_bytes;
        int64_t rows;
        int failed;
        /* The row being formatted. */
        char *row;
        size_t row_len, row_cap;
} km_local_t;

static void set_err(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        if (err && errlen)
                vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

/* ------------------------------------------------------------ row buffer */

static void row_grow(km_local_t *t, size_t n)
{
        size_t cap = t->row_cap ? t->row_cap : 4096;
        while (cap < t->row_len + n)
                cap *= 2;
        t->row = km_xrealloc(t->row, cap);
        t->row_cap = cap;
}

static inline void row_put(km_local_t *t, const char *s, size_t n)
{
        if (t->row_len + n > t->row_cap)
                row_grow(t, n);
        memcpy(t->row + t->row_len, s, n);
        t->row_len += n;
}

/* 0: the byte is copied as is; else the letter after the backslash ('u':
 * \u00XX).  Bytes >= 0x80 and DEL are valid in JSON strings as they are. */
static const char json_esc[256] = {
        'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f',
        'r', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
        'u', 'u', 'u', 'u', 'u', 'u', ['"'] = '"', ['\\'] = '\\',
};

static void put_escape(km_local_t *t, unsigned char c)
{
        static const char hex[] = "0123456789abcdef";
        char e[6] = {'\\', json_esc[c], '0', '0', hex[c >> 4], hex[c & 15]};
        row_put(t, e, e[1] == 'u' ? 6 : 2);
}

/* A JSON string: runs of plain bytes are copied whole. */
static void put_json_string(km_local_t *t, const char *s, size_t n)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0;
        row_put(t, "\"", 1);
        while (i < n) {
                size_t run = i;
                while (run < n && !json_esc[p[run]])
                        run++;
                if (run > i)
                        row_put(t, s + i, run - i);
                if (run < n)
                        put_escape(t, p[run++]);
                i = run;
        }
        row_put(t, "\"", 1);
}

static void put_i64(km_local_t *t, int64_t v)
{
        char tmp[24];
        char *p = tmp + sizeof(tmp);
        uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        do {
                *--p = (char)('0' + u % 10);
                u /= 10;
        } while (u);
        if (v < 0)
                *--p = '-';
        row_put(t, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* "%.17g" (round-trips every double); "3" becomes "3.0" so an integral
 * value still reads back as a double.  A locale's decimal comma is put
 * back to a point. */
static int put_double(km_local_t *t, double d)
{
        char tmp[48];
        if (!isfinite(d))
                return -1;
        if (fabs(d) < 9007199254740992.0 && d == (double)(int64_t)d &&
            !(d == 0 && signbit(d))) {
                /* Integral below 2^53: the digits "%.17g" would give. */
                put_i64(t, (int64_t)d);
                row_put(t, ".0", 2);
                return 0;
        }
        int n = snprintf(tmp, sizeof(tmp) - 2, "%.17g", d);
        for (int i = 0; i < n; i++)
                if (tmp[i] == ',')
                        tmp[i] = '.';
        if (strspn(tmp, "-0123456789") == (size_t)n) {
                tmp[n++] = '.';
                tmp[n++] = '0';
        }
        row_put(t, tmp, (size_t)n);
        return 0;
}

static void put_datetime(km_local_t *t, int64_t ms)
{
        char buf[32];
        km_tz_format_ms(t->sync->tz, ms, buf);
        row_put(t, "\"", 1);
        row_put(t, buf, strlen(buf));
        row_put(t, "\"", 1);
}

/* One cell as JSON.  -1 when it has no JSON form (a non-finite double, an
 * unknown kind), with the reason in err. */
static int put_cell(km_local_t *t, const km_cell_t *c, char *err, size_t errlen)
{
        switch (c->kind) {
        case KM_CELL_NULL:
                row_put(t, "null", 4);
                return 0;
        case KM_CELL_BIGINT:
                put_i64(t, c->i);
                return 0;
        case KM_CELL_DOUBLE:
                if (put_double(t, c->d) == 0)
                        return 0;
                set_err(err, errlen, "DOUBLE %g has no JSON form", c->d);
                return -1;
        case KM_CELL_BOOLEAN:
                row_put(t, c->i ? "true" : "false", c->i ? 4 : 5);
                return 0;
        case KM_CELL_STRING:
        case KM_CELL_DECIMAL:
                put_json_string(t, c->s ? c->s : "", c->s ? c->len : 0);
                return 0;
        case KM_CELL_DATETIME:
                put_datetime(t, c->i);
                return 0;
        }
        set_err(err, errlen, "unknown cell kind %d", (int)c->kind);
        return -1;
}

/* --------------------------------------------------------------- paths */

static int plain_byte(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static void encode_into(km_buf_t *b, const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        int dots_only = s[0] && strspn(s, ".") == strlen(s);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (plain_byte(*p) && !dots_only) {
                        km_buf_putc(b, (char)*p);
                        continue;
                }
                char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
                km_buf_append(b, e, 3);
        }
}

char *km_local_encode_component(const char *s)
{
        km_buf_t b = {0};
        encode_into(&b, s);
        return km_buf_take(&b);
}

/* DIR/<project>[/<schema>]/<table>, and the directory above it. */
static char *table_path(const char *dir, const km_sync_plan_t *sync,
                        char **table_parent)
{
        km_buf_t b = {0};
        km_buf_puts(&b, dir);
        km_buf_putc(&b, '/');
        encode_into(&b, sync->mc->project);
        if (sync->mc->schema) {
                km_buf_putc(&b, '/');
                encode_into(&b, sync->mc->schema);
        }
        *table_parent = km_xstrdup(b.data);
        km_buf_putc(&b, '/');
        encode_into(&b, sync->table);
        return km_buf_take(&b);
}

/* The instance's partition directory and its parent. */
static void partition_paths(km_local_t *t, const km_instance_t *inst)
{
        const km_sync_plan_t *s = t->sync;
        km_buf_t b = {0};
        km_buf_puts(&b, t->table_dir);
        for (int i = 0; i < s->npartition; i++) {
                if (i == s->npartition - 1)
                        t->parent = km_xstrdup(b.data);
                km_buf_putc(&b, '/');
                encode_into(&b, s->partition[i].key);
                km_buf_putc(&b, '=');
                encode_into(&b, inst->partition_values[i]);
        }
        if (s->npartition == 0)
                t->parent = km_xstrdup(t->table_parent);
        t->part_dir = km_buf_take(&b);
}

/* mkdir -p: every directory of path, created with mode 0777 & ~umask. */
static int make_dirs(const char *path, char *err, size_t errlen)
{
        char *p = km_xstrdup(path);
        int rc = 0;
        for (char *q = p + 1;; q++) {
                if (*q != '/' && *q != '\0')
                        continue;
                char saved = *q;
                *q = '\0';
                struct stat st;
                int e = 0;
                if (mkdir(p, 0777) != 0 && errno != EEXIST)
                        e = errno;
                else if (stat(p, &st) != 0)
                        e = errno;
                else if (!S_ISDIR(st.st_mode))
                        e = ENOTDIR;
                if (e) {
                        set_err(err, errlen, "cannot create directory %s: %s",
                                p, strerror(e));
                        rc = -1;
                }
                *q = saved;
                if (rc || saved == '\0')
                        break;
        }
        free(p);
        return rc;
}

/* -------------------------------------------------- directories on disk */

/* rm -r of dirfd/name without following symbolic links.  Returns 0 or an
 * errno value. */
static int remove_tree_at(int dirfd, const char *name)
{
        if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return errno;
        int fd = openat(dirfd, name,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                int e = errno;
                close(fd);
                return e;
        }
        int rc = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                int r = remove_tree_at(fd, e->d_name);
                if (r && !rc)
                        rc = r;
        }
        closedir(d);
        if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && !rc && errno != ENOENT)
                rc = errno;
        return rc;
}

static int remove_tree(const char *path)
{
        return remove_tree_at(AT_FDCWD, path);
}

static int fsync_path(const char *path, int flags, char *err, size_t errlen)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
        if (fd < 0 || fsync(fd) != 0) {
                set_err(err, errlen, "cannot sync %s: %s", path,
                        strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        return 0;
}

/* Syncs path and every directory above it up to and including stop, so
 * that directories open() created survive a crash too. */
static int fsync_up_to(const char *path, const char *stop, char *err,
                       size_t errlen)
{
        char *p = km_xstrdup(path);
        size_t stop_len = strlen(stop);
        int rc = 0;
        for (;;) {
                if (fsync_path(p, O_DIRECTORY, err, errlen) != 0) {
                        rc = -1;
                        break;
                }
                char *slash = strrchr(p, '/');
                if (strlen(p) <= stop_len || !slash || slash == p)
                        break;
                *slash = '\0';
        }
        free(p);
        return rc;
}

/* A .kmsync-staging-<pid>-... or .kmsync-old-<pid>-... name: its pid. */
static long staging_pid(const char *name)
{
        const char *p;
        if (!strncmp(name, KM_STAGING_PREFIX, strlen(KM_STAGING_PREFIX)))
                p = name + strlen(KM_STAGING_PREFIX);
        else if (!strncmp(name, KM_ASIDE_PREFIX, strlen(KM_ASIDE_PREFIX)))
                p = name + strlen(KM_ASIDE_PREFIX);
        else
                return -1;
        char *end;
        long pid = strtol(p, &end, 10);
        return end != p && *end == '-' && pid > 0 ? pid : -1;
}

/* Removes what runs that died left in parent: staging directories, and
 * old partitions set aside by a two-rename swap.  Best effort: a stale
 * directory that cannot be removed is only wasted space. */
static void remove_stale(const char *parent)
{
        int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
                long pid = staging_pid(e->d_name);
                if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
                        remove_tree_at(fd, e->d_name);
        }
        closedir(d);
}

static uint64_t random_u64(void)
{
        uint64_t r;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
                return r;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        static uint64_t counter;
        return (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^
               (uint64_t)ts.tv_sec ^ ++counter;
}

/* A fresh, empty staging directory in t->parent. */
static int make_staging(km_local_t *t, char *err, size_t errlen)
{
        for (int tries = 0; tries < 16; tries++) {
                char *token = km_xasprintf("%ld-%016" PRIx64, (long)getpid(),
                                           random_u64());
                char *path = km_xasprintf("%s/" KM_STAGING_PREFIX "%s",
                                          t->parent, token);
                if (mkdir(path, 0777) == 0) {
                        t->staging = path;
                        t->token = token;
                        return 0;
                }
                int e = errno;
                free(token);
                if (e != EEXIST) {
                        set_err(err, errlen, "cannot create directory %s: %s",
                                path, strerror(e));
                        free(path);
                        return -1;
                }
                free(path);
        }
        set_err(err, errlen, "cannot create a staging directory in %s",
                t->parent);
        return -1;
}

/* ------------------------------------------------------------ part files */

static int open_part(km_local_t *t, char *err, size_t errlen)
{
        free(t->out_path);
        t->out_path = km_xasprintf("%s/part-%05d.jsonl", t->staging,
                                   t->part_no);
        t->out = fopen(t->out_path, "wxe");
        if (!t->out) {
                set_err(err, errlen, "cannot create %s: %s", t->out_path,
                        strerror(errno));
                return -1;
        }
        if (!t->stdio_buf)
                t->stdio_buf = km_xmalloc(KM_LOCAL_STDIO_BUF);
        setvbuf(t->out, t->stdio_buf, _IOFBF, KM_LOCAL_STDIO_BUF);
        t->part_bytes = 0;
        return 0;
}

/* Flushes, syncs and closes the current part file. */
static int close_part(km_local_t *t, char *err, size_t errlen)
{
        FILE *f = t->out;
        t->out = NULL;
        if (!f)
                return 0;
        int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
        int e = errno;
        if (fclose(f) != 0 && ok) {
                ok = 0;
                e = errno;
        }
        if (!ok)
                set_err(err, errlen, "cannot write %s: %s", t->out_path,
                        strerror(e));
        return ok ? 0 : -1;
}

static int roll_part(km_local_t *t, char *err, size_t errlen)
{
        if (close_part(t, err, errlen) != 0)
                return -1;
        t->part_no++;
        return open_part(t, err, errlen);
}

/* ------------------------------------------------------------ operations */

static void drop_open_state(km_local_t *t)
{
        if (t->out) {
                fclose(t->out);
                t->out = NULL;
        }
        free(t->staging);
        free(t->token);
        free(t->part_dir);
        free(t->parent);
        free(t->out_path);
        t->staging = t->token = t->part_dir = t->parent = t->out_path = NULL;
        t->inst = NULL;
}

static void local_abort(km_target_t *base)
{
        km_local_t *t = base->impl;
        if (!t->staging)
                return;
        if (t->out) {
                __fpurge(t->out); /* the rows are dropped: no flush */
                fclose(t->out);
                t->out = NULL;
        }
        remove_tree(t->staging);
        drop_open_state(t);
}

static int local_open(km_target_t *base, const km_instance_t *inst, char *err,
                      size_t errlen)
{
        km_local_t *t = base->impl;
        if (t->staging) {
                set_err(err, errlen, "local target: %s is already open",
                        t->part_dir);
                return -1;
        }
        partition_paths(t, inst);
        t->inst = inst;
        t->rows = 0;
        t->failed = 0;
        t->part_no = 0;
        if (make_dirs(t->parent, err, errlen) != 0) {
                drop_open_state(t);
                return -1;
        }
        remove_stale(t->parent);
        if (make_staging(t, err, errlen) != 0) {
                drop_open_state(t);
                return -1;
        }
        if (open_part(t, err, errlen) != 0) {
                local_abort(base);
                return -1;
        }
        return 0;
}

static int local_write(km_target_t *base, const km_cell_t *row, char *err,
                       size_t errlen)
{
        km_local_t *t = base->impl;
        if (!t->out || t->failed) {
                set_err(err, errlen, "local target: %s",
                        t->failed ? "an earlier write failed; abort the run"
                                  : "write without an open partition");
                return -1;
        }
        t->row_len = 0;
        row_put(t, "{", 1);
        for (int i = 0; i < t->sync->ncolumns; i++) {
                row_put(t, t->keys[i], t->key_lens[i]);
                char why[128];
                if (put_cell(t, &row[i], why, sizeof(why)) != 0) {
                        set_err(err, errlen, "column %s: %s",
                                t->sync->columns[i].name, why);
                        return -1;
                }
        }
        row_put(t, "}\n", 2);
        if (t->part_bytes > 0 && t->part_bytes + t->row_len > t->part_limit &&
            roll_part(t, err, errlen) != 0) {
                t->failed = 1;
                return -1;
        }
        if (fwrite(t->row, 1, t->row_len, t->out) != t->row_len) {
                set_err(err, errlen, "cannot write %s: %s", t->out_path,
                        strerror(errno));
                t->failed = 1;
                return -1;
        }
        t->part_bytes += t->row_len;
        t->rows++;
        return 0;
}

/* -------------------------------------------------------------- manifest */

static json_t *ranges_json(const km_commit_info_t *info)
{
        json_t *a = json_array();
        for (int i = 0; i < info->nranges; i++) {
                const km_partition_range_t *r = &info->ranges[i];
                json_t *o = json_pack(
                        "{s:i, s:I, s:I, s:I, s:I, s:I}", "partition",
                        (int)r->partition, "start_offset",
                        (json_int_t)r->start_offset, "end_offset",
                        (json_int_t)r->end_offset, "rows", (json_int_t)r->rows,
                        "rejected", (json_int_t)r->rejected, "out_of_window",
                        (json_int_t)r->out_of_window);
                json_array_append_new(a, o);
        }
        return a;
}

static json_t *files_json(const km_local_t *t)
{
        json_t *a = json_array();
        char name[32];
        for (int i = 0; i <= t->part_no; i++) {
                snprintf(name, sizeof(name), "part-%05d.jsonl", i);
                json_array_append_new(a, json_string(name));
        }
        return a;
}

static void format_utc_iso(int64_t ms, char buf[40])
{
        int64_t sec = ms / 1000;
        int frac = (int)(ms % 1000);
        if (frac < 0) {
                frac += 1000;
                sec--;
        }
        km_civil_t c;
        km_civil_from_seconds(sec, &c);
        snprintf(buf, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", c.year, c.mon,
                 c.day, c.hour, c.min, c.sec, frac);
}

static json_t *manifest_json(const km_local_t *t, const km_commit_info_t *info)
{
        const km_instance_t *in = info->instance ? info->instance : t->inst;
        const km_sync_plan_t *s = t->sync;
        char table[512], at[20], ws[20], we[20], fin[40];
        km_sync_table_name(s, table, sizeof(table));
        km_civil_format(&in->scheduled, at);
        km_civil_format(&in->window_start_local, ws);
        km_civil_format(&in->window_end_local, we);
        format_utc_iso(info->finished_ms, fin);
        return json_pack(
                "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:o, s:I, "
                "s:I, s:o, s:s?, s:I, s:s, s:s}",
                "sync", s->name, "topic", s->topic, "table", table,
                "partition", in->partition_spec, "scheduled_at", at,
                "timezone", s->timezone, "window_start_ms",
                (json_int_t)in->window_start_ms, "window_end_ms",
                (json_int_t)in->window_end_ms, "window_start", ws, "window_end",
                we, "ranges", ranges_json(info), "rows", (json_int_t)t->rows,
                "rejected", (json_int_t)info->rejected, "files", files_json(t),
                "plan_hash", info->plan_hash, "finished_at_ms",
                (json_int_t)info->finished_ms, "finished_at", fin,
                "kmsync_version", KMSYNC_VERSION);
}

static int write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -1;
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

static int write_manifest(km_local_t *t, const km_commit_info_t *info,
                          char *err, size_t errlen)
{
        json_t *m = manifest_json(t, info);
        char *text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(m);
        char *path = km_xasprintf("%s/_SUCCESS", t->staging);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        int ok = fd >= 0 && text && write_all(fd, text, strlen(text)) == 0 &&
                 write_all(fd, "\n", 1) == 0 && fsync(fd) == 0;
        int e = errno;
        if (fd >= 0 && close(fd) != 0 && ok) {
                ok = 0;
                e = errno;
        }
        if (!ok)
                set_err(err, errlen, "cannot write %s: %s", path,
                        text ? strerror(e) : "cannot format the manifest");
        free(text);
        free(path);
        return ok ? 0 : -1;
}

/* ------------------------------------------------------------------ swap */

static int rename_in(km_local_t *t, char *err, size_t errlen)
{
        if (rename(t->staging, t->part_dir) == 0)
                return 0;
        set_err(err, errlen, "cannot rename %s to %s: %s", t->staging,
                t->part_dir, strerror(errno));
        return -1;
}

/* For filesystems without RENAME_EXCHANGE: the old partition is renamed
 * aside, then the new one in.  A crash between the two renames leaves no
 * partition for a moment: the old copy sits in .kmsync-old-<pid>-..., the
 * new one complete in the staging directory, and the next open() removes
 * both (their pid is dead) before its run writes the partition again. */
static int swap_by_two_renames(km_local_t *t, char *err, size_t errlen)
{
        char *aside = km_xasprintf("%s/" KM_ASIDE_PREFIX "%s", t->parent,
                                   t->token);
        int rc = 0;
        if (rename(t->part_dir, aside) != 0) {
                if (errno == ENOENT)
                        rc = rename_in(t, err, errlen);
                else {
                        set_err(err, errlen, "cannot rename %s to %s: %s",
                                t->part_dir, aside, strerror(errno));
                        rc = -1;
                }
        } else if (rename_in(t, err, errlen) != 0) {
                rename(aside, t->part_dir); /* put the old one back */
                rc = -1;
        } else {
                remove_tree(aside);
        }
        free(aside);
        return rc;
}

/* Puts the staging directory where the partition is; afterwards the
 * staging name holds the old contents (removed here) or nothing. */
static int swap_in(km_local_t *t, char *err, size_t errlen)
{
        if (t->force_fallback)
                return swap_by_two_renames(t, err, errlen);
        if (renameat2(AT_FDCWD, t->staging, AT_FDCWD, t->part_dir,
                      RENAME_EXCHANGE) == 0) {
                remove_tree(t->staging);
                return 0;
        }
        if (errno == ENOENT)
                return rename_in(t, err, errlen);
        if (errno == ENOSYS || errno == EINVAL)
                return swap_by_two_renames(t, err, errlen);
        set_err(err, errlen, "cannot exchange %s with %s: %s", t->staging,
                t->part_dir, strerror(errno));
        return -1;
}

static int local_commit(km_target_t *base, const km_commit_info_t *info,
                        char *err, size_t errlen)
{
        km_local_t *t = base->impl;
        if (!t->staging || t->failed) {
                set_err(err, errlen, "local target: commit without an open "
                                     "partition%s",
                        t->failed ? " (an earlier step failed)" : "");
                return -1;
        }
        if (info->rows != t->rows) {
                set_err(err, errlen, "local target: commit of %" PRId64
                                     " rows, but %" PRId64 " were written",
                        info->rows, t->rows);
                t->failed = 1;
                return -1;
        }
        if (close_part(t, err, errlen) != 0 ||
            write_manifest(t, info, err, errlen) != 0 ||
            fsync_path(t->staging, O_DIRECTORY, err, errlen) != 0 ||
            swap_in(t, err, errlen) != 0 ||
            fsync_up_to(t->parent, t->dir, err, errlen) != 0) {
                t->failed = 1;
                return -1;
        }
        drop_open_state(t);
        return 0;
}

static void local_destroy(km_target_t *base)
{
        km_local_t *t = base->impl;
        local_abort(base);
        for (int i = 0; i < t->sync->ncolumns; i++)
                free(t->keys[i]);
        free(t->keys);
        free(t->key_lens);
        free(t->dir);
        free(t->table_dir);
        free(t->table_parent);
        free(t->stdio_buf);
        free(t->row);
        free(t);
}

static const km_target_ops_t local_ops = {
        .name = "local",
        .open = local_open,
        .write = local_write,
        .commit = local_commit,
        .abort = local_abort,
        .destroy = local_destroy,
};

/* Each column's "name": prefix, escaped once. */
static void make_keys(km_local_t *t)
{
        int n = t->sync->ncolumns;
        t->keys = km_xcalloc((size_t)n, sizeof(*t->keys));
        t->key_lens = km_xcalloc((size_t)n, sizeof(*t->key_lens));
        for (int i = 0; i < n; i++) {
                const char *name = t->sync->columns[i].name;
                t->row_len = 0;
                if (i > 0)
                        row_put(t, ",", 1);
                put_json_string(t, name, strlen(name));
                row_put(t, ":", 1);
                t->keys[i] = km_xstrndup(t->row, t->row_len);
                t->key_lens[i] = t->row_len;
        }
        t->row_len = 0;
}

km_target_t *km_target_local_new(const char *dir, const km_sync_plan_t *sync,
                                 char *err, size_t errlen)
{
        if (!dir || !*dir) {
                set_err(err, errlen, "local target: no directory given");
                return NULL;
        }
        if (!sync->mc || !sync->mc->project || !*sync->mc->project ||
            !sync->table || !*sync->table || !sync->tz) {
                set_err(err, errlen, "local target: SYNC %s has no project, "
                                     "table or time zone",
                        sync->name);
                return NULL;
        }
        km_local_t *t = km_xcalloc(1, sizeof(*t));
        t->base.ops = &local_ops;
        t->base.impl = t;
        t->sync = sync;
        size_t len = strlen(dir);
        while (len > 1 && dir[len - 1] == '/')
                len--;
        t->dir = km_xstrndup(dir, len);
        t->table_dir = table_path(t->dir, sync, &t->table_parent);
        t->part_limit = KM_LOCAL_PART_BYTES;
        make_keys(t);
        return &t->base;
}

void km_target_local_set_part_bytes(km_target_t *t, uint64_t bytes)
{
        km_local_t *l = t->impl;
        l->part_limit = bytes ? bytes : KM_LOCAL_PART_BYTES;
}

void km_target_local_force_rename_fallback(km_target_t *t, int on)
{
        km_local_t *l = t->impl;
        l->force_fallback = on;
}
