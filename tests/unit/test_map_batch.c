/* test_map_batch.c - batches mapped by the worker and the reading thread
 * together (runtime/map_batch.c) give exactly the rows and reasons one
 * mapper gives record by record: every cell, every string byte (copied out
 * of the mapper before its next call), every dirty record's reason, in
 * order, batch after batch through reused arenas. */
#include "km_test.h"

#include "kmsync/mapper.h"
#include "map_batch.h"

#define SYNC_TEXT                                                             \
        "KAFKA CONNECTION k BROKERS 'b:9092';\n"                              \
        "MAXCOMPUTE CONNECTION m ENDPOINT 'http://mc.example/api' PROJECT p\n" \
        "  ACCESS KEY ENV('A') SECRET ENV('S');\n"                            \
        "SYNC s FROM k INTO m.t TIMEZONE 'UTC'\n"                             \
        "  WINDOW FROM '$[yyyymmdd-1]' TO '$[yyyymmdd]'\n"                    \
        "  MAP (a.a1 AS a1, b AS b, c[1] AS c1, n AS n BIGINT,\n"             \
        "       __key__ AS k, __offset__ AS o, __headers__ AS h);\n"

enum { NREC = 5000 };

static char values[NREC][160], keys[NREC][16];
static km_header_t header = {"src", 3, "bench", 5};

/* Record i: every 37th is not JSON, every 53rd has a number too large
 * for BIGINT; strings vary in length so arenas grow. */
static km_record_t record(int i)
{
        if (i % 37 == 0)
                snprintf(values[i], sizeof(values[i]), "{\"a\": oops %d", i);
        else if (i % 53 == 0)
                snprintf(values[i], sizeof(values[i]),
                         "{\"a\":{\"a1\":\"x\"},\"n\":1e300}");
        else
                snprintf(values[i], sizeof(values[i]),
                         "{\"a\":{\"a1\":\"hello-%d\"},\"b\":\"%.*s\","
                         "\"c\":[\"x\",\"y%d\"],\"n\":%d}",
                         i, i % 40, "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww",
                         i % 100, i);
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        return (km_record_t){"t",       i % 7,     i,         1669075200000LL,
                             keys[i],   strlen(keys[i]), values[i],
                             strlen(values[i]), &header, 1};
}

/* A cell as text, to compare rows made on different threads. */
static void cell_text(const km_cell_t *c, char *buf, size_t len)
{
        if (c->kind == KM_CELL_STRING || c->kind == KM_CELL_DECIMAL)
                snprintf(buf, len, "%d:%.*s", (int)c->kind, (int)c->len,
                         c->s ? c->s : "(null)");
        else
                snprintf(buf, len, "%d:%lld:%g", (int)c->kind, (long long)c->i,
                         c->d);
}

static void test_shared_mapping_equals_one_mapper(void **state)
{
        (void)state;
        char err[256], want[512], got[512], reason[512];
        km_compiled_t c = km_test_compile(SYNC_TEXT);
        assert_compiles(c);
        const km_sync_plan_t *sync = c.plan->syncs[0];
        int ncol = sync->ncolumns;
        km_mapper_t *reference = km_mapper_new(sync, err, sizeof(err));
        km_mapper_t *worker_m = km_mapper_new(sync, err, sizeof(err));
        km_mapper_t *own_m = km_mapper_new(sync, err, sizeof(err));
        assert_non_null(reference);
        km_map_worker_t *w = km_map_worker_start(worker_m, ncol);
        km_map_batch_t *b = km_map_batch_new(ncol);
        km_cell_t cells[16];
        int dirty_seen = 0;
        for (int from = 0; from < NREC; from += KM_MAP_BATCH) {
                int to = from + KM_MAP_BATCH < NREC ? from + KM_MAP_BATCH : NREC;
                for (int i = from; i < to; i++) {
                        km_record_t r = record(i);
                        km_map_batch_add(b, &r, i % 7);
                }
                km_map_worker_post(w, b);
                km_map_worker_help(w, own_m);
                km_map_worker_wait(w);
                assert_int_equal(b->nrecs, to - from);
                for (int i = from; i < to; i++) {
                        km_record_t r = record(i);
                        int dirty = km_mapper_map(reference, &r, cells, reason,
                                                  sizeof(reason)) != 0;
                        assert_int_equal(b->dirty[i - from], dirty);
                        assert_int_equal(b->part[i - from], i % 7);
                        if (dirty) {
                                dirty_seen++;
                                assert_string_equal(
                                        km_map_batch_reason(b, i - from),
                                        reason);
                                continue;
                        }
                        const km_cell_t *row = km_map_batch_row(b, ncol,
                                                                i - from);
                        for (int j = 0; j < ncol; j++) {
                                cell_text(&cells[j], want, sizeof(want));
                                cell_text(&row[j], got, sizeof(got));
                                assert_string_equal(got, want);
                        }
                }
                /* The batch is reused, its arenas too. */
                b->nmsgs = 0;
                km_map_batch_clear(b);
        }
        assert_int_equal(dirty_seen, NREC / 37 + 1 + NREC / 53 - NREC / (37 * 53));
        km_map_worker_stop(w);
        km_map_batch_free(b);
        km_mapper_free(reference);
        km_mapper_free(worker_m);
        km_mapper_free(own_m);
        km_test_release(&c);
}

/* A batch of fewer records than a chunk, and an empty one. */
static void test_small_and_empty_batches(void **state)
{
        (void)state;
        char err[256];
        km_compiled_t c = km_test_compile(SYNC_TEXT);
        assert_compiles(c);
        const km_sync_plan_t *sync = c.plan->syncs[0];
        km_mapper_t *worker_m = km_mapper_new(sync, err, sizeof(err));
        km_mapper_t *own_m = km_mapper_new(sync, err, sizeof(err));
        km_map_worker_t *w = km_map_worker_start(worker_m, sync->ncolumns);
        km_map_batch_t *b = km_map_batch_new(sync->ncolumns);
        km_map_worker_post(w, b); /* empty: nothing to wait for */
        km_map_worker_help(w, own_m);
        km_map_worker_wait(w);
        km_record_t r = record(1);
        km_map_batch_add(b, &r, 0);
        km_map_worker_post(w, b);
        km_map_worker_wait(w); /* the worker alone */
        assert_int_equal(b->dirty[0], 0);
        const km_cell_t *row = km_map_batch_row(b, sync->ncolumns, 0);
        assert_int_equal((int)row[0].len, 7);
        assert_memory_equal(row[0].s, "hello-1", 7);
        km_map_batch_clear(b);
        km_map_worker_stop(w);
        km_map_batch_free(b);
        km_mapper_free(worker_m);
        km_mapper_free(own_m);
        km_test_release(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shared_mapping_equals_one_mapper),
                cmocka_unit_test(test_small_and_empty_batches),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
