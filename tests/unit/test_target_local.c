/* test_target_local.c - the local warehouse target: exact row JSON for every
 * cell kind, the _SUCCESS manifest, atomic replacement (rerun, abort, the
 * two-rename fallback), layouts, path encoding, stale staging directories
 * of dead runs, part rolling and write errors. */
#define _GNU_SOURCE /* nftw */
#include "km_test.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kmsync/target.h"
#include "kmsync/version.h"
#include "../../runtime/target_local_int.h"

#define CONNS                                                                 \
        "KAFKA CONNECTION k BROKERS 'b:9092';\n"                              \
        "MAXCOMPUTE CONNECTION m ENDPOINT 'http://mc.example/api' PROJECT p\n" \
        "  ACCESS KEY 'AKID-literal' SECRET 'very-secret-literal';\n"         \
        "MAXCOMPUTE CONNECTION m3 ENDPOINT 'http://mc.example/api'\n"        \
        "  PROJECT p"                                                         \
        "  SCHEMA sc ACCESS KEY 'AKID-literal' SECRET 'very-secret-literal';\n"

#define HOURLY                                                                \
        " TIMEZONE 'Asia/Shanghai'\n"                                         \
        "  WINDOW FROM '$[yyyymmddhh24-1/24]0000' TO '$[yyyymmddhh24]0000'\n"

/* Seven columns, one of each type (the key is a STRING). */
#define ALL_TYPES                                                             \
        CONNS "SYNC s FROM k INTO m.t" HOURLY                                 \
              "  PARTITION (ds = '$[yyyymmddhh24]')\n"                        \
              "  MAP (__key__ AS k, a AS s STRING, b AS n BIGINT, c AS d "    \
              "DOUBLE,\n"                                                     \
              "       e AS f BOOLEAN, __timestamp__ AS ts DATETIME,\n"        \
              "       g AS amount DECIMAL(10,2));\n"

#define AT "2022-11-22 10:15"

static const char *col_names[] = {"k", "s", "n", "d", "f", "ts", "amount"};

typedef struct fx {
        char dir[64];
        km_compiled_t c;
        const km_sync_plan_t *s;
        km_instance_t in;
        km_target_t *t;
        char err[512];
} fx_t;

/* ------------------------------------------------------------- helpers */

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_rf(const char *path)
{
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static fx_t *fx_new(const char *text, const char *at)
{
        fx_t *f = calloc(1, sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/kmsync-tl-XXXXXX");
        if (!mkdtemp(f->dir))
                fail_msg("mkdtemp: %s", strerror(errno));
        f->c = km_test_compile(text);
        assert_compiles(f->c);
        f->s = f->c.plan->syncs[0];
        km_civil_t when = km_test_time(at);
        if (km_instance_make(f->s, &when, &f->in, f->err, sizeof(f->err)))
                fail_msg("%s", f->err);
        f->t = km_target_local_new(f->dir, f->s, f->err, sizeof(f->err));
        if (!f->t)
                fail_msg("%s", f->err);
        return f;
}

static void fx_free(fx_t *f)
{
        km_target_free(f->t);
        km_instance_clear(&f->in);
        km_test_release(&f->c);
        rm_rf(f->dir);
        free(f);
}

static char *path_of(const fx_t *f, const char *rel)
{
        char *p = NULL;
        if (asprintf(&p, "%s/%s", f->dir, rel) < 0)
                fail_msg("asprintf");
        return p;
}

static char *slurp(const char *path)
{
        FILE *in = fopen(path, "rb");
        if (!in)
                return NULL;
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
                fwrite(chunk, 1, n, out);
        fclose(in);
        fclose(out);
        return buf;
}

static int exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

/* Names in dir that start with prefix ("" counts every entry). */
static int count_entries(const char *dir, const char *prefix)
{
        DIR *d = opendir(dir);
        if (!d)
                return -1;
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                    !strncmp(e->d_name, prefix, strlen(prefix)))
                        n++;
        closedir(d);
        return n;
}

/* A row whose key is text and every other column NULL. */
static void key_row(km_cell_t row[7], const char *text)
{
        memset(row, 0, 7 * sizeof(*row));
        row[0] = (km_cell_t){.kind = KM_CELL_STRING, .s = text,
                             .len = strlen(text)};
}

static void open_ok(fx_t *f)
{
        if (f->t->ops->open(f->t, &f->in, f->err, sizeof(f->err)))
                fail_msg("open: %s", f->err);
}

static void write_ok(fx_t *f, const km_cell_t *row)
{
        if (f->t->ops->write(f->t, row, f->err, sizeof(f->err)))
                fail_msg("write: %s", f->err);
}

static km_commit_info_t info_for(const fx_t *f, int64_t rows)
{
        return (km_commit_info_t){.instance = &f->in, .rows = rows,
                                  .plan_hash = "h", .finished_ms = 0};
}

static void commit_ok(fx_t *f, int64_t rows)
{
        km_commit_info_t info = info_for(f, rows);
        if (f->t->ops->commit(f->t, &info, f->err, sizeof(f->err)))
                fail_msg("commit: %s", f->err);
}

/* Opens, writes one key-only row per text, commits. */
static void run_keys(fx_t *f, const char *const *keys, int n)
{
        km_cell_t row[7];
        open_ok(f);
        for (int i = 0; i < n; i++) {
                key_row(row, keys[i]);
                write_ok(f, row);
        }
        commit_ok(f, n);
}

/* The "k" values of a partition's part-00000.jsonl, one per line, joined
 * with '|'. */
static char *keys_in(const char *part_file)
{
        char *text = slurp(part_file);
        if (!text)
                return NULL;
        char *out = NULL;
        size_t len = 0;
        FILE *o = open_memstream(&out, &len);
        char *save = NULL;
        int first = 1;
        for (char *line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                json_error_t je;
                json_t *j = json_loads(line, 0, &je);
                if (!j)
                        fail_msg("bad JSON line '%s': %s", line, je.text);
                fprintf(o, "%s%s", first ? "" : "|",
                        json_string_value(json_object_get(j, "k")));
                first = 0;
                json_decref(j);
        }
        fclose(o);
        free(text);
        return out;
}

static void assert_keys(const fx_t *f, const char *rel, const char *want)
{
        char *p = path_of(f, rel);
        char *got = keys_in(p);
        if (!got)
                fail_msg("cannot read %s", p);
        assert_string_equal(got, want);
        free(got);
        free(p);
}

/* --------------------------------------------------------------- rows */

static const char tricky[] = "a\"b\\c\n\r\t\b\f\x01\x1f\x7f\0z \xc3\xa9\xe4"
                             "\xb8\xad\xf0\x9f\x98\x80/";

static void every_kind_rows(km_cell_t rows[4][7])
{
        memset(rows, 0, 4 * 7 * sizeof(km_cell_t));
        km_cell_t *r = rows[0];
        r[0] = (km_cell_t){.kind = KM_CELL_STRING, .s = tricky,
                           .len = sizeof(tricky) - 1};
        r[1] = (km_cell_t){.kind = KM_CELL_STRING, .s = "", .len = 0};
        r[2] = (km_cell_t){.kind = KM_CELL_BIGINT, .i = INT64_MIN};
        r[3] = (km_cell_t){.kind = KM_CELL_DOUBLE, .d = 0.1};
        r[4] = (km_cell_t){.kind = KM_CELL_BOOLEAN, .i = 1};
        r[5] = (km_cell_t){.kind = KM_CELL_DATETIME, .i = 1669078800123LL};
        r[6] = (km_cell_t){.kind = KM_CELL_DECIMAL, .s = "-12.50", .len = 6};
        /* rows[1]: every column NULL. */
        r = rows[2];
        r[0] = (km_cell_t){.kind = KM_CELL_STRING, .s = "x", .len = 1};
        r[2] = (km_cell_t){.kind = KM_CELL_BIGINT, .i = INT64_MAX};
        r[3] = (km_cell_t){.kind = KM_CELL_DOUBLE, .d = 1e300};
        r[4] = (km_cell_t){.kind = KM_CELL_BOOLEAN, .i = 0};
        r[5] = (km_cell_t){.kind = KM_CELL_DATETIME, .i = -1};
        r[6] = (km_cell_t){.kind = KM_CELL_DECIMAL,
                           .s = "12345678.90", .len = 11};
        r = rows[3];
        r[2] = (km_cell_t){.kind = KM_CELL_BIGINT, .i = 0};
        r[3] = (km_cell_t){.kind = KM_CELL_DOUBLE, .d = 3.0};
        r[4] = (km_cell_t){.kind = KM_CELL_BOOLEAN, .i = 1};
        r[5] = (km_cell_t){.kind = KM_CELL_DATETIME, .i = 0};
}

static void assert_column_order(json_t *row)
{
        int i = 0;
        for (void *it = json_object_iter(row); it;
             it = json_object_iter_next(row, it), i++)
                assert_string_equal(json_object_iter_key(it), col_names[i]);
        assert_int_equal(i, 7);
}

static void test_every_cell_kind(void **state)
{
        (void)state;
        fx_t *f = fx_new(ALL_TYPES, AT);
        km_cell_t rows[4][7];
        every_kind_rows(rows);
        open_ok(f);
        for (int i = 0; i < 4; i++)
                write_ok(f, rows[i]);
        commit_ok(f, 4);

        char *p = path_of(f, "p/t/ds=2022112210/part-00000.jsonl");
        char *text = slurp(p);
        assert_non_null(text);
        assert_string_equal(
                text,
                "{\"k\":\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f\\u0000z "
                "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80/\",\"s\":\"\","
                "\"n\":-9223372036854775808,\"d\":0.10000000000000001,"
                "\"f\":true,\"ts\":\"2022-11-22 09:00:00.123\","
                "\"amount\":\"-12.50\"}\n"
                "{\"k\":null,\"s\":null,\"n\":null,\"d\":null,\"f\":null,"
                "\"ts\":null,\"amount\":null}\n"
                "{\"k\":\"x\",\"s\":null,\"n\":9223372036854775807,"
                "\"d\":1.0000000000000001e+300,\"f\":false,"
                "\"ts\":\"1970-01-01 07:59:59.999\","
                "\"amount\":\"12345678.90\"}\n"
                "{\"k\":null,\"s\":null,\"n\":0,\"d\":3.0,\"f\":true,"
                "\"ts\":\"1970-01-01 08:00:00.000\",\"amount\":null}\n");

        /* Every line parses, in column order, to the values written. */
        json_error_t je;
        json_t *all = json_array();
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                json_t *j = json_loads(line, JSON_ALLOW_NUL, &je);
                if (!j)
                        fail_msg("%s: %s", line, je.text);
                assert_column_order(j);
                json_array_append_new(all, j);
        }
        assert_int_equal(json_array_size(all), 4);
        json_t *r0 = json_array_get(all, 0);
        json_t *k = json_object_get(r0, "k");
        assert_int_equal(json_string_length(k), sizeof(tricky) - 1);
        assert_memory_equal(json_string_value(k), tricky, sizeof(tricky) - 1);
        assert_true(json_integer_value(json_object_get(r0, "n")) == INT64_MIN);
        assert_true(json_real_value(json_object_get(r0, "d")) == 0.1);
        assert_true(json_is_true(json_object_get(r0, "f")));
        assert_string_equal(json_string_value(json_object_get(r0, "amount")),
                            "-12.50");
        json_t *r1 = json_array_get(all, 1);
        for (int i = 0; i < 7; i++)
                assert_true(json_is_null(json_object_get(r1, col_names[i])));
        json_t *r2 = json_array_get(all, 2);
        assert_true(json_integer_value(json_object_get(r2, "n")) == INT64_MAX);
        assert_true(json_real_value(json_object_get(r2, "d")) == 1e300);
        assert_true(json_is_false(json_object_get(r2, "f")));
        json_t *r3 = json_array_get(all, 3);
        assert_true(json_is_real(json_object_get(r3, "d")));
        assert_true(json_real_value(json_object_get(r3, "d")) == 3.0);
        json_decref(all);
        free(text);
        free(p);
        fx_free(f);
}

/* Doubles: shortest-exact "%.17g" text that always reads back as a real
 * with the same value (integral values get ".0", -0.0 keeps its sign). */
static void test_double_forms(void **state)
{
        (void)state;
        fx_t *f = fx_new(CONNS "SYNC s FROM k INTO m.t" HOURLY
                               "  MAP (c AS d DOUBLE);\n",
                         AT);
        const double in[] = {0.1, 1e300, -1e-300, 3.0, -123.0, -0.0, 0.0,
                             1e16, 9007199254740992.0, 1.5,
                             123456789.125, 2.5e-8};
        const char *want =
                "{\"d\":0.10000000000000001}\n{\"d\":1.0000000000000001e+300}\n"
                "{\"d\":-1e-300}\n{\"d\":3.0}\n"
                "{\"d\":-123.0}\n{\"d\":-0.0}\n{\"d\":0.0}\n"
                "{\"d\":10000000000000000.0}\n{\"d\":9007199254740992.0}\n"
                "{\"d\":1.5}\n{\"d\":123456789.125}\n"
                "{\"d\":2.4999999999999999e-08}\n";
        int n = (int)(sizeof(in) / sizeof(in[0]));
        open_ok(f);
        for (int i = 0; i < n; i++) {
                km_cell_t c = {.kind = KM_CELL_DOUBLE, .d = in[i]};
                write_ok(f, &c);
        }
        commit_ok(f, n);
        char *p = path_of(f, "p/t/part-00000.jsonl");
        char *text = slurp(p);
        assert_string_equal(text, want);
        char *save = NULL;
        int i = 0;
        for (char *line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save), i++) {
                json_t *j = json_loads(line, 0, NULL);
                json_t *d = json_object_get(j, "d");
                assert_true(json_is_real(d));
                assert_true(json_real_value(d) == in[i]);
                assert_int_equal(!!signbit(json_real_value(d)),
                                 !!signbit(in[i]));
                json_decref(j);
        }
        assert_int_equal(i, n);
        free(text);
        free(p);
        fx_free(f);
}

static void test_unwritable_values_fail_the_row(void **state)
{
        (void)state;
        fx_t *f = fx_new(ALL_TYPES, AT);
        km_cell_t row[7];
        key_row(row, "x");
        row[3] = (km_cell_t){.kind = KM_CELL_DOUBLE, .d = NAN};
        open_ok(f);
        assert_int_equal(f->t->ops->write(f->t, row, f->err, sizeof(f->err)),
                         -1);
        assert_non_null(strstr(f->err, "column d"));
        row[3] = (km_cell_t){.kind = KM_CELL_DOUBLE, .d = -INFINITY};
        assert_int_equal(f->t->ops->write(f->t, row, f->err, sizeof(f->err)),
                         -1);
        /* A commit must say exactly how many rows went in. */
        key_row(row, "ok");
        write_ok(f, row);
        km_commit_info_t info = info_for(f, 2);
        assert_int_equal(f->t->ops->commit(f->t, &info, f->err,
                                           sizeof(f->err)),
                         -1);
        assert_non_null(strstr(f->err, "1 were written"));
        f->t->ops->abort(f->t);
        char *part = path_of(f, "p/t/ds=2022112210");
        assert_false(exists(part));
        char *parent = path_of(f, "p/t");
        assert_int_equal(count_entries(parent, ""), 0);
        free(part);
        free(parent);
        fx_free(f);
}

/* ------------------------------------------------------------ manifest */

static void test_manifest(void **state)
{
        (void)state;
        fx_t *f = fx_new(ALL_TYPES, AT);
        const char *keys[] = {"a", "b", "c"};
        km_cell_t row[7];
        open_ok(f);
        for (int i = 0; i < 3; i++) {
                key_row(row, keys[i]);
                write_ok(f, row);
        }
        km_partition_range_t ranges[2] = {
                {.partition = 0, .start_offset = 10, .end_offset = 14,
                 .rows = 2, .rejected = 1, .out_of_window = 1},
                {.partition = 2, .start_offset = 0, .end_offset = 1,
                 .rows = 1, .rejected = 0, .out_of_window = 0},
        };
        km_commit_info_t info = {.instance = &f->in, .ranges = ranges,
                                 .nranges = 2, .rows = 3, .rejected = 1,
                                 .plan_hash = "sha256:abc",
                                 .finished_ms = 1669082700456LL};
        if (f->t->ops->commit(f->t, &info, f->err, sizeof(f->err)))
                fail_msg("%s", f->err);

        char *p = path_of(f, "p/t/ds=2022112210/_SUCCESS");
        char *text = slurp(p);
        assert_non_null(text);
        assert_non_null(strstr(text, "{\n  \"sync\": \"s\",\n"));
        json_error_t je;
        json_t *m = json_loads(text, 0, &je);
        if (!m)
                fail_msg("%s", je.text);
#define STR(key) json_string_value(json_object_get(m, key))
#define INT(key) json_integer_value(json_object_get(m, key))
        assert_string_equal(STR("sync"), "s");
        assert_string_equal(STR("topic"), "s");
        assert_string_equal(STR("table"), "p.t");
        assert_string_equal(STR("partition"), "ds=2022112210");
        assert_string_equal(STR("scheduled_at"), "2022-11-22 10:15:00");
        assert_string_equal(STR("timezone"), "Asia/Shanghai");
        assert_int_equal(INT("window_start_ms"), 1669078800000LL);
        assert_int_equal(INT("window_end_ms"), 1669082400000LL);
        assert_string_equal(STR("window_start"), "2022-11-22 09:00:00");
        assert_string_equal(STR("window_end"), "2022-11-22 10:00:00");
        assert_int_equal(INT("rows"), 3);
        assert_int_equal(INT("rejected"), 1);
        assert_string_equal(STR("plan_hash"), "sha256:abc");
        assert_int_equal(INT("finished_at_ms"), 1669082700456LL);
        assert_string_equal(STR("finished_at"), "2022-11-22T02:05:00.456Z");
        assert_string_equal(STR("kmsync_version"), KMSYNC_VERSION);
        json_t *files = json_object_get(m, "files");
        assert_int_equal(json_array_size(files), 1);
        assert_string_equal(json_string_value(json_array_get(files, 0)),
                            "part-00000.jsonl");
        json_t *rs = json_object_get(m, "ranges");
        assert_int_equal(json_array_size(rs), 2);
        const char *fields[] = {"partition", "start_offset", "end_offset",
                                "rows", "rejected", "out_of_window"};
        const int64_t want[2][6] = {{0, 10, 14, 2, 1, 1}, {2, 0, 1, 1, 0, 0}};
        for (int i = 0; i < 2; i++)
                for (int j = 0; j < 6; j++)
                        assert_int_equal(
                                json_integer_value(json_object_get(
                                        json_array_get(rs, (size_t)i),
                                        fields[j])),
                                want[i][j]);
#undef STR
#undef INT
        json_decref(m);
        free(text);
        free(p);
        fx_free(f);
}

/* ------------------------------------------------------------ replacing */

static void assert_only_partition(const fx_t *f, const char *parent_rel,
                                  const char *part_rel)
{
        char *parent = path_of(f, parent_rel);
        char *part = path_of(f, part_rel);
        assert_int_equal(count_entries(parent, ".kmsync-"), 0);
        assert_int_equal(count_entries(parent, ""), 1);
        assert_int_equal(count_entries(part, ""), 2); /* part + _SUCCESS */
        free(parent);
        free(part);
}

static void rerun_replaces(int fallback)
{
        fx_t *f = fx_new(ALL_TYPES, AT);
        km_target_local_force_rename_fallback(f->t, fallback);
        const char *old_keys[] = {"old-1", "old-2", "old-3"};
        run_keys(f, old_keys, 3);
        assert_keys(f, "p/t/ds=2022112210/part-00000.jsonl",
                    "old-1|old-2|old-3");
        const char *new_keys[] = {"new-1", "new-2"};
        run_keys(f, new_keys, 2);
        assert_keys(f, "p/t/ds=2022112210/part-00000.jsonl", "new-1|new-2");
        assert_only_partition(f, "p/t", "p/t/ds=2022112210");
        /* An empty window still leaves a committed, empty partition. */
        run_keys(f, NULL, 0);
        char *p = path_of(f, "p/t/ds=2022112210/part-00000.jsonl");
        char *text = slurp(p);
        assert_string_equal(text, "");
        free(text);
        free(p);
        assert_only_partition(f, "p/t", "p/t/ds=2022112210");
        fx_free(f);
}

static void test_rerun_replaces_rows(void **state)
{
        (void)state;
        rerun_replaces(0);
}

static void test_rerun_replaces_rows_with_two_renames(void **state)
{
        (void)state;
        rerun_replaces(1);
}

static void test_abort_keeps_previous_partition(void **state)
{
        (void)state;
        fx_t *f = fx_new(ALL_TYPES, AT);
        const char *old_keys[] = {"old-1", "old-2"};
        run_keys(f, old_keys, 2);
        char *parent = path_of(f, "p/t");

        km_cell_t row[7];
        open_ok(f);
        for (int i = 0; i < 100; i++) {
                key_row(row, "new");
                write_ok(f, row);
        }
        /* Mid-run: the old partition is what readers see. */
        assert_int_equal(count_entries(parent, ".kmsync-staging-"), 1);
        assert_keys(f, "p/t/ds=2022112210/part-00000.jsonl", "old-1|old-2");
        f->t->ops->abort(f->t);
        assert_keys(f, "p/t/ds=2022112210/part-00000.jsonl", "old-1|old-2");
        assert_only_partition(f, "p/t", "p/t/ds=2022112210");

        /* Destroying an open target aborts it too. */
        open_ok(f);
        write_ok(f, row);
        assert_int_equal(count_entries(parent, ".kmsync-staging-"), 1);
        km_target_free(f->t);
        f->t = NULL;
        assert_int_equal(count_entries(parent, ".kmsync-staging-"), 0);
        assert_keys(f, "p/t/ds=2022112210/part-00000.jsonl", "old-1|old-2");
        free(parent);
        fx_free(f);
}

/* -------------------------------------------------------------- layouts */

static void test_multi_level_partition(void **state)
{
        (void)state;
        fx_t *f = fx_new(CONNS "SYNC s FROM k INTO m.t" HOURLY
                               "  PARTITION (ds = '$[yyyymmdd]', hh = "
                               "'$[hh24]')\n"
                               "  MAP (__key__ AS k);\n",
                         AT);
        km_cell_t row = {.kind = KM_CELL_STRING, .s = "v", .len = 1};
        open_ok(f);
        write_ok(f, &row);
        commit_ok(f, 1);
        char *p = path_of(f, "p/t/ds=20221122/hh=10/part-00000.jsonl");
        char *text = slurp(p);
        assert_string_equal(text, "{\"k\":\"v\"}\n");
        free(text);
        free(p);
        assert_only_partition(f, "p/t/ds=20221122", "p/t/ds=20221122/hh=10");
        fx_free(f);
}

static void test_unpartitioned_table_with_schema(void **state)
{
        (void)state;
        fx_t *f = fx_new(CONNS "SYNC s FROM k INTO m3.t2" HOURLY
                               "  MAP (__key__ AS k);\n",
                         AT);
        km_cell_t row = {.kind = KM_CELL_STRING, .s = "one", .len = 3};
        open_ok(f);
        write_ok(f, &row);
        commit_ok(f, 1);
        row.s = "two";
        open_ok(f);
        write_ok(f, &row);
        commit_ok(f, 1);
        assert_keys(f, "p/sc/t2/part-00000.jsonl", "two");
        assert_only_partition(f, "p/sc", "p/sc/t2");
        char *m = path_of(f, "p/sc/t2/_SUCCESS");
        char *text = slurp(m);
        json_t *j = json_loads(text, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(j, "table")),
                            "p.sc.t2");
        assert_string_equal(json_string_value(json_object_get(j, "partition")),
                            "");
        json_decref(j);
        free(text);
        free(m);
        fx_free(f);
}

static void assert_encoded(const char *in, const char *want)
{
        char *got = km_local_encode_component(in);
        assert_string_equal(got, want);
        free(got);
}

static void test_path_encoding(void **state)
{
        (void)state;
        assert_encoded("20221122", "20221122");
        assert_encoded("a-b_c.d", "a-b_c.d");
        assert_encoded(".", "%2E");
        assert_encoded("..", "%2E%2E");
        assert_encoded("...", "%2E%2E%2E");
        assert_encoded("..x", "..x");
        assert_encoded("a/b", "a%2Fb");
        assert_encoded("k=v%", "k%3Dv%25");
        assert_encoded("a b\n", "a%20b%0A");
        assert_encoded("\xc3\xa9", "%C3%A9");
        assert_encoded("", "");
}

/* Partition values that look like paths stay one component inside DIR. */
static void test_values_cannot_escape(void **state)
{
        (void)state;
        fx_t *f = fx_new(CONNS "SYNC s FROM k INTO m.t" HOURLY
                               "  PARTITION (ds = '$[yyyymmdd]', hh = "
                               "'$[hh24]')\n"
                               "  MAP (__key__ AS k);\n",
                         AT);
        free(f->in.partition_values[0]);
        free(f->in.partition_values[1]);
        f->in.partition_values[0] = strdup("../../../../etc");
        f->in.partition_values[1] = strdup("..");
        km_cell_t row = {.kind = KM_CELL_STRING, .s = "v", .len = 1};
        open_ok(f);
        write_ok(f, &row);
        commit_ok(f, 1);
        assert_keys(f,
                    "p/t/ds=..%2F..%2F..%2F..%2Fetc/hh=%2E%2E/part-00000.jsonl",
                    "v");
        assert_int_equal(count_entries(f->dir, ""), 1); /* only p */
        char *t = path_of(f, "p/t");
        assert_int_equal(count_entries(t, ""), 1);
        free(t);

        free(f->in.partition_values[0]);
        free(f->in.partition_values[1]);
        f->in.partition_values[0] = strdup("/");
        f->in.partition_values[1] = strdup("a=b");
        open_ok(f);
        write_ok(f, &row);
        commit_ok(f, 1);
        assert_keys(f, "p/t/ds=%2F/hh=a%3Db/part-00000.jsonl", "v");
        assert_int_equal(count_entries(f->dir, ""), 1);
        fx_free(f);
}

/* ---------------------------------------------------------- stale runs */

static pid_t dead_pid(void)
{
        pid_t pid = fork();
        if (pid == 0)
                _exit(0);
        assert_true(pid > 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return pid;
}

static void make_dir_with_file(const char *path)
{
        assert_int_equal(mkdir(path, 0777), 0);
        char *file = NULL;
        assert_true(asprintf(&file, "%s/part-00000.jsonl", path) > 0);
        FILE *out = fopen(file, "w");
        assert_non_null(out);
        fputs("{\"k\":\"stale\"}\n", out);
        fclose(out);
        free(file);
}

static void test_stale_staging_of_dead_run_removed(void **state)
{
        (void)state;
        fx_t *f = fx_new(ALL_TYPES, AT);
        const char *keys[] = {"committed"};
        run_keys(f, keys, 1);
        pid_t dead = dead_pid();
        char *parent = path_of(f, "p/t");
        char *stale = NULL, *aside = NULL, *alive = NULL, *other = NULL;
        assert_true(asprintf(&stale, "%s/.kmsync-staging-%d-00ff", parent,
                             (int)dead) > 0);
        assert_true(asprintf(&aside, "%s/.kmsync-old-%d-00ff", parent,
                             (int)dead) > 0);
        assert_true(asprintf(&alive, "%s/.kmsync-staging-%d-abcd", parent,
                             (int)getpid()) > 0);
        assert_true(asprintf(&other, "%s/.kmsync-staging-junk", parent) > 0);
        make_dir_with_file(stale);
        make_dir_with_file(aside);
        make_dir_with_file(alive);
        make_dir_with_file(other);

        open_ok(f);
        assert_false(exists(stale));
        assert_false(exists(aside));
        assert_true(exists(alive)); /* its process is running */
        assert_true(exists(other)); /* not a name kmsync makes */
        f->t->ops->abort(f->t);
        assert_keys(f, "p/t/ds=2022112210/part-00000.jsonl", "committed");
        rm_rf(alive);
        rm_rf(other);
        assert_only_partition(f, "p/t", "p/t/ds=2022112210");
        free(stale);
        free(aside);
        free(alive);
        free(other);
        free(parent);
        fx_free(f);
}

/* ------------------------------------------------------------- rolling */

static off_t file_size(const char *path)
{
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        return st.st_size;
}

static void test_parts_roll_over(void **state)
{
        (void)state;
        fx_t *f = fx_new(ALL_TYPES, AT);
        km_target_local_set_part_bytes(f->t, 300);
        km_cell_t row[7];
        char key[32];
        open_ok(f);
        for (int i = 0; i < 20; i++) {
                snprintf(key, sizeof(key), "row-%02d", i);
                key_row(row, key);
                write_ok(f, row);
        }
        commit_ok(f, 20);
        /* Each row is 75 bytes: four fill a part exactly, five parts. */
        char *dir = path_of(f, "p/t/ds=2022112210");
        assert_int_equal(count_entries(dir, "part-"), 5);
        int seen = 0;
        for (int p = 0; p < 5; p++) {
                char rel[4200];
                snprintf(rel, sizeof(rel), "%s/part-%05d.jsonl", dir, p);
                assert_int_equal(file_size(rel), 300);
                char *keys = keys_in(rel);
                char *save = NULL;
                for (char *k = strtok_r(keys, "|", &save); k;
                     k = strtok_r(NULL, "|", &save)) {
                        snprintf(key, sizeof(key), "row-%02d", seen++);
                        assert_string_equal(k, key);
                }
                free(keys);
        }
        assert_int_equal(seen, 20);
        char *m = path_of(f, "p/t/ds=2022112210/_SUCCESS");
        char *text = slurp(m);
        json_t *j = json_loads(text, 0, NULL);
        json_t *files = json_object_get(j, "files");
        assert_int_equal(json_array_size(files), 5);
        assert_string_equal(json_string_value(json_array_get(files, 4)),
                            "part-00004.jsonl");
        json_decref(j);
        free(text);
        free(m);

        /* A row larger than the limit gets a part of its own; a rerun with
         * fewer parts leaves none of the old ones. */
        km_target_local_set_part_bytes(f->t, 10);
        const char *keys[] = {"a", "b"};
        run_keys(f, keys, 2);
        assert_int_equal(count_entries(dir, "part-"), 2);
        free(dir);
        fx_free(f);
}

/* -------------------------------------------------------------- errors */

static void test_unusable_directory(void **state)
{
        (void)state;
        fx_t *f = fx_new(ALL_TYPES, AT);
        char *file = path_of(f, "file");
        FILE *out = fopen(file, "w");
        fclose(out);
        char *dir = path_of(f, "file/wh");
        km_target_t *t = km_target_local_new(dir, f->s, f->err,
                                             sizeof(f->err));
        assert_non_null(t);
        assert_int_equal(t->ops->open(t, &f->in, f->err, sizeof(f->err)), -1);
        char want[512];
        snprintf(want, sizeof(want), "cannot create directory %s: %s", file,
                 strerror(ENOTDIR));
        assert_string_equal(f->err, want);
        km_cell_t row[7];
        key_row(row, "x");
        assert_int_equal(t->ops->write(t, row, f->err, sizeof(f->err)), -1);
        km_target_free(t);
        assert_null(km_target_local_new("", f->s, f->err, sizeof(f->err)));
        free(dir);
        free(file);
        fx_free(f);
}

/* A file size limit stands in for a full disk: the write that overflows
 * it fails, naming the file, and nothing is committed. */
static void test_write_error_names_file(void **state)
{
        (void)state;
        fx_t *f = fx_new(ALL_TYPES, AT);
        struct rlimit saved, small;
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
        void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
        small = saved;
        small.rlim_cur = 64 * 1024;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);

        char big[1000];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        km_cell_t row[7];
        key_row(row, big);
        open_ok(f);
        int rc = 0;
        for (int i = 0; i < 3000 && rc == 0; i++)
                rc = f->t->ops->write(f->t, row, f->err, sizeof(f->err));
        km_commit_info_t info = info_for(f, 0);
        int crc = rc ? 0 : f->t->ops->commit(f->t, &info, f->err,
                                             sizeof(f->err));
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
        signal(SIGXFSZ, old_handler);
        assert_true(rc != 0 || crc != 0);
        assert_non_null(strstr(f->err, "part-00000.jsonl"));
        assert_non_null(strstr(f->err, strerror(EFBIG)));
        /* The run is over: no commit, and abort cleans up. */
        assert_int_equal(f->t->ops->commit(f->t, &info, f->err,
                                           sizeof(f->err)),
                         -1);
        f->t->ops->abort(f->t);
        char *parent = path_of(f, "p/t");
        assert_int_equal(count_entries(parent, ""), 0);
        free(parent);
        fx_free(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_cell_kind),
                cmocka_unit_test(test_double_forms),
                cmocka_unit_test(test_unwritable_values_fail_the_row),
                cmocka_unit_test(test_manifest),
                cmocka_unit_test(test_rerun_replaces_rows),
                cmocka_unit_test(test_rerun_replaces_rows_with_two_renames),
                cmocka_unit_test(test_abort_keeps_previous_partition),
                cmocka_unit_test(test_multi_level_partition),
                cmocka_unit_test(test_unpartitioned_table_with_schema),
                cmocka_unit_test(test_path_encoding),
                cmocka_unit_test(test_values_cannot_escape),
                cmocka_unit_test(test_stale_staging_of_dead_run_removed),
                cmocka_unit_test(test_parts_roll_over),
                cmocka_unit_test(test_unusable_directory),
                cmocka_unit_test(test_write_error_names_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
