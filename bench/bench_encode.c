/* bench_encode.c - throughput of the Tunnel block encoder on one core.
 *
 * Not built by CMake.  From the source root:
 *
 *   gcc -std=gnu11 -O2 -Iinclude -Icompiler -Iruntime/maxcompute \
 *       bench/bench_encode.c runtime/maxcompute/mc_record.c compiler/util.c \
 *       -lisal -lz -o /tmp/bench_encode
 *   taskset -c 1 /tmp/bench_encode [raw MB, default 2000]
 *
 * (raw MB without compression; half of it per ISA-L level and a quarter
 * for zlib, each rounded up to whole 64 MiB blocks.)
 *
 * The workload: rows of 6 columns (4 short strings, 2 BIGINTs) that encode
 * to about 200 bytes each, in blocks of 64 MiB of raw bytes (finished and
 * reset, as the uploader does).  Prints MB/s (10^6 bytes, per CPU second)
 * of uncompressed block bytes and the body's size as a share of them:
 * without compression; through the encoder's ISA-L deflate at the public
 * levels 0, 1 (the default), 2 and 6 (ISA-L levels 0, 1, 2 and 3); and,
 * for reference, the encoder without compression followed by zlib's
 * deflate level 1 over the finished body in 64 KiB pieces (the encoder
 * used zlib level 1 before ISA-L; deflating 64 MiB bodies after the fact,
 * cache-cold, reads ~20% below what that encoder did: ~100 against ~127
 * MB/s). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

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

/* zlib level `level` over body in 64 KiB pieces; the compressed size. */
static size_t bench_zlib(const unsigned char *body, size_t len, int level)
{
        static unsigned char out[256 * 1024];
        z_stream zs = {0};
        size_t total = 0;
        if (deflateInit(&zs, level) != Z_OK)
                exit(1);
        for (size_t off = 0;;) {
                size_t n = len - off < 65536 ? len - off : 65536;
                int flush = off + n == len ? Z_FINISH : Z_NO_FLUSH;
                zs.next_in = (unsigned char *)body + off;
                zs.avail_in = (uInt)n;
                int rc;
                do {
                        zs.next_out = out;
                        zs.avail_out = sizeof(out);
                        rc = deflate(&zs, flush);
                        total += sizeof(out) - zs.avail_out;
                } while (zs.avail_out == 0 ||
                         (flush == Z_FINISH && rc != Z_STREAM_END));
                off += n;
                if (flush == Z_FINISH)
                        break;
        }
        deflateEnd(&zs);
        return total;
}

/* zlib_level >= 0: encode without compression, then deflate the body with
 * zlib at that level (the reference). */
static void bench_level(const bench_row_t *pool, int level, int zlib_level,
                        const char *label, size_t total)
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
                body_bytes += zlib_level >= 0 ? bench_zlib(body, len,
                                                           zlib_level)
                                              : len;
                km_mc_block_reset(b);
        }
        double secs = bench_now(CLOCK_MONOTONIC) - t0;
        double cpu = bench_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        printf("%-20s %5.1f B/row %9.0f MB raw -> %8.1f MB body (%4.1f%%) "
               "%6.2f s wall %6.2f s cpu %8.1f MB/s\n",
               label,
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
        size_t total = total_mb * 1000000;
        bench_level(pool, -1, -1, "none", total);
        bench_level(pool, 0, -1, "isa-l 0 (level 0)", total / 2);
        bench_level(pool, 1, -1, "isa-l 1 (level 1)", total / 2);
        bench_level(pool, 2, -1, "isa-l 2 (level 2-5)", total / 2);
        bench_level(pool, 6, -1, "isa-l 3 (level 6-9)", total / 2);
        bench_level(pool, -1, 1, "zlib 1 (reference)", total / 4);
        free(pool);
        return 0;
}
