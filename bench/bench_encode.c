/* bench_encode.c - throughput of the Tunnel block encoder on one core.
 *
 * Not built by CMake.  From the source root:
 *
 *   gcc -std=gnu11 -O2 -Iinclude -Icompiler -Iruntime/maxcompute \
 *       bench/bench_encode.c runtime/maxcompute/mc_record.c compiler/util.c \
 *       -lisal -lz -o /tmp/bench_encode
 *   /tmp/bench_encode [raw MB per level, default 2000]
 *
 * The workload: rows of 6 columns (4 short strings, 2 BIGINTs) that encode
 * to about 200 bytes each, in blocks of 64 MiB of raw bytes (finished and
 * reset, as the uploader does).  Prints MB/s (10^6 bytes) of uncompressed
 * block bytes, without compression and with deflate levels 1 and 6. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mc_record.h"

#define BENCH_NCOLS 6
#define BENCH_POOL 4096
#define BENCH_BLOCK ((size_t)64 << 20)

typedef struct bench_row {
        char text[4][64];
        km_cell_t cells[BENCH_NCOLS];
} bench_row_t;

static uint64_t bench_mix(uint64_t x)
{
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ULL;
        return x ^ (x >> 33);
}

static km_cell_t bench_text(char *buf, int n)
{
        km_cell_t c = {.kind = KM_CELL_STRING, .s = buf, .len = (size_t)n};
        return c;
}

/* Row i of the pool: ids, a name, a status, a URL-ish path; an epoch-ms
 * time and an amount. */
static void bench_make_row(bench_row_t *r, uint64_t i)
{
        static const char *const status[] = {"CREATED", "PAID", "SHIPPED",
                                              "DELIVERED", "REFUNDED"};
        static const char *const city[] = {"Hangzhou", "Shanghai", "Beijing",
                                           "Shenzhen", "Chengdu", "Wuhan"};
        uint64_t h = bench_mix(i + 1);
        int n[4];
        n[0] = snprintf(r->text[0], 64, "order-%016llx-%08llu-cn-east",
                        (unsigned long long)h,
                        (unsigned long long)(i * 7919 % 100000000));
        n[1] = snprintf(r->text[1], 64,
                        "customer %06llu of %s district %llu floor %02llu",
                        (unsigned long long)(h % 1000000), city[h % 6],
                        (unsigned long long)(h >> 40) % 100,
                        (unsigned long long)(h >> 50) % 60);
        n[2] = snprintf(r->text[2], 64,
                        "%s via courier %03llu at gate %llu (sla ok)",
                        status[(h >> 8) % 5],
                        (unsigned long long)(h >> 20) % 1000,
                        (unsigned long long)(h >> 30) % 10);
        n[3] = snprintf(r->text[3], 64,
                        "/api/v2/items/%llu/sku/%llu?ref=m&lang=zh",
                        (unsigned long long)(h >> 12) % 100000000,
                        (unsigned long long)(h >> 44) % 10000);
        for (int k = 0; k < 4; k++)
                r->cells[k] = bench_text(r->text[k], n[k]);
        r->cells[4].kind = KM_CELL_BIGINT;
        r->cells[4].i = 1704067200000LL + (int64_t)(i * 37);
        r->cells[5].kind = KM_CELL_BIGINT;
        r->cells[5].i = (int64_t)(h % 10000000) - 5000000;
}

static double bench_now(clockid_t clock)
{
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_level(const bench_row_t *pool, int level, size_t total)
{
        const km_type_t types[BENCH_NCOLS] = {
                {.kind = KM_TYPE_STRING}, {.kind = KM_TYPE_STRING},
                {.kind = KM_TYPE_STRING}, {.kind = KM_TYPE_STRING},
                {.kind = KM_TYPE_BIGINT}, {.kind = KM_TYPE_BIGINT},
        };
        km_mc_block_t *b = km_mc_block_new(types, BENCH_NCOLS, level);
        size_t raw = 0, body_bytes = 0;
        uint64_t rows = 0;
        char err[256];
        const unsigned char *body;
        size_t len;
        double t0 = bench_now(CLOCK_MONOTONIC);
        double c0 = bench_now(CLOCK_PROCESS_CPUTIME_ID);
        while (raw < total) {
                if (km_mc_block_add_row(b, pool[rows % BENCH_POOL].cells, err,
                                        sizeof(err)) != 0) {
                        fprintf(stderr, "add_row: %s\n", err);
                        exit(1);
                }
                rows++;
                if (km_mc_block_raw_bytes(b) < BENCH_BLOCK)
                        continue;
                if (km_mc_block_finish(b, &body, &len, err, sizeof(err)) != 0) {
                        fprintf(stderr, "finish: %s\n", err);
                        exit(1);
                }
                raw += km_mc_block_raw_bytes(b);
                body_bytes += len;
                km_mc_block_reset(b);
        }
        double secs = bench_now(CLOCK_MONOTONIC) - t0;
        double cpu = bench_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        printf("%-9s %5.1f B/row %9.0f MB raw -> %8.1f MB body (%4.1f%%) "
               "%6.2f s wall %6.2f s cpu %8.1f MB/s\n",
               level < 0 ? "none" : level == 1 ? "deflate 1" : "deflate 6",
               (double)raw / (double)rows, (double)raw / 1e6,
               (double)body_bytes / 1e6, 100.0 * (double)body_bytes /
               (double)raw, secs, cpu, (double)raw / 1e6 / cpu);
        km_mc_block_free(b);
}

int main(int argc, char **argv)
{
        size_t total_mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
        bench_row_t *pool = calloc(BENCH_POOL, sizeof(*pool));
        if (!pool)
                return 1;
        for (uint64_t i = 0; i < BENCH_POOL; i++)
                bench_make_row(&pool[i], i);
        bench_level(pool, -1, total_mb * 1000000);
        bench_level(pool, 1, total_mb * 1000000 / 4);
        bench_level(pool, 6, total_mb * 1000000 / 8);
        free(pool);
        return 0;
}
