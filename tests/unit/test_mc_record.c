/* test_mc_record.c - the Tunnel block encoder: the notes' test vectors byte
 * for byte, every type's encoding, CRC32C, deflate (ISA-L, read back by
 * zlib and by Python's zlib), reuse, a large block read back by a small
 * decoder written here from the notes, and the values it refuses. */
#define _GNU_SOURCE
#include "km_test.h"

#include <math.h>
#include <unistd.h>
#include <zlib.h>

#include "mc_record.h"

#define END_RECORD 33553408u
#define META_COUNT 33554430u
#define META_CHECKSUM 33554431u

/* ------------------------------------------------------------ helpers */

/* Bitwise CRC32C, independent of ISA-L: reflected 0x82F63B78, init and
 * final xor 0xFFFFFFFF; `crc` is a previous result (0 to start). */
static uint32_t ref_crc32c(uint32_t crc, const void *data, size_t len)
{
        const unsigned char *p = data;
        uint32_t c = ~crc;
        for (size_t i = 0; i < len; i++) {
                c ^= p[i];
                for (int k = 0; k < 8; k++)
                        c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        return ~c;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
        for (int i = 0; i < n; i++)
                p[i] = (unsigned char)(v >> (8 * i));
}

static size_t ref_varint(unsigned char *p, uint64_t v)
{
        size_t n = 0;
        do {
                p[n] = (unsigned char)(v & 0x7F);
                v >>= 7;
                if (v)
                        p[n] |= 0x80;
                n++;
        } while (v);
        return n;
}

static void assert_bytes(const unsigned char *got, size_t glen,
                         const unsigned char *want, size_t wlen)
{
        if (glen == wlen && memcmp(got, want, wlen) == 0)
                return;
        char g[1024] = "", w[1024] = "";
        for (size_t i = 0; i < glen && i < 300; i++)
                snprintf(g + strlen(g), sizeof(g) - strlen(g), "%02x ",
                         got[i]);
        for (size_t i = 0; i < wlen && i < 300; i++)
                snprintf(w + strlen(w), sizeof(w) - strlen(w), "%02x ",
                         want[i]);
        fail_msg("bytes differ\n got  %zu: %s\n want %zu: %s", glen, g, wlen,
                 w);
}

static km_cell_t c_null(void)
{
        km_cell_t c = {0};
        return c;
}

static km_cell_t c_int(km_cell_kind_t kind, int64_t v)
{
        km_cell_t c = {.kind = kind, .i = v};
        return c;
}

static km_cell_t c_bigint(int64_t v)
{
        return c_int(KM_CELL_BIGINT, v);
}

static km_cell_t c_double(double d)
{
        km_cell_t c = {.kind = KM_CELL_DOUBLE, .d = d};
        return c;
}

static km_cell_t c_bytes(km_cell_kind_t kind, const char *s, size_t len)
{
        km_cell_t c = {.kind = kind, .s = s, .len = len};
        return c;
}

static km_cell_t c_str(const char *s)
{
        return c_bytes(KM_CELL_STRING, s, strlen(s));
}

static km_type_t t_(km_type_kind_t kind)
{
        km_type_t t = {.kind = kind};
        return t;
}

/* Encodes nrows rows of ncols cells (row-major) and checks the body. */
static void assert_block(const km_type_t *types, int ncols, int level,
                         const km_cell_t *cells, int nrows,
                         const unsigned char *want, size_t wlen)
{
        km_mc_block_t *b = km_mc_block_new(types, ncols, level);
        char err[256];
        for (int r = 0; r < nrows; r++) {
                if (km_mc_block_add_row(b, cells + (size_t)r * ncols, err,
                                        sizeof(err)) != 0)
                        fail_msg("row %d: %s", r, err);
        }
        const unsigned char *body;
        size_t len;
        assert_int_equal(km_mc_block_finish(b, &body, &len, err, sizeof(err)),
                         0);
        assert_int_equal(km_mc_block_rows(b), nrows);
        assert_int_equal(km_mc_block_raw_bytes(b), wlen);
        assert_bytes(body, len, want, wlen);
        km_mc_block_free(b);
}

/* Inflates a zlib stream (RFC 1950) whose inflated size is known. */
static unsigned char *inflate_all(const unsigned char *in, size_t inlen,
                                  size_t outlen)
{
        unsigned char *out = malloc(outlen + 1);
        assert_non_null(out);
        z_stream zs = {0};
        assert_int_equal(inflateInit(&zs), Z_OK);
        zs.next_in = (unsigned char *)in;
        zs.avail_in = (uInt)inlen;
        zs.next_out = out;
        zs.avail_out = (uInt)outlen + 1;
        assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
        assert_int_equal(zs.total_out, outlen);
        assert_int_equal(zs.avail_in, 0);
        inflateEnd(&zs);
        return out;
}

/* ----------------------------------------------------- a tiny decoder */

/* From maxcompute-protocol-details.md 4.1-4.4: reads a block, checks
 * field order, wire types, each record's CRC, the count and the block
 * CRC, and hands each record to a callback. */
typedef struct dec_field {
        int present;
        int64_t i;   /* BIGINT, DATETIME, BOOLEAN */
        double d;
        const unsigned char *s;
        size_t len;
} dec_field_t;

typedef void (*dec_row_fn)(void *ctx, int64_t row, const dec_field_t *f);

typedef struct dec {
        const unsigned char *p, *end;
} dec_t;

static uint64_t dec_varint(dec_t *d)
{
        uint64_t v = 0;
        for (int shift = 0; shift < 70; shift += 7) {
                assert_true(d->p < d->end);
                unsigned char c = *d->p++;
                v |= (uint64_t)(c & 0x7F) << shift;
                if (!(c & 0x80))
                        return v;
        }
        fail_msg("varint too long");
        return 0;
}

static int64_t unzigzag(uint64_t u)
{
        return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

static uint32_t dec_crc_le(uint32_t crc, uint64_t v, int n)
{
        unsigned char b[8];
        put_le(b, v, n);
        return ref_crc32c(crc, b, (size_t)n);
}

static uint32_t dec_value(dec_t *d, km_type_kind_t kind, unsigned wire,
                          dec_field_t *f, uint32_t crc)
{
        uint64_t u;
        switch (kind) {
        case KM_TYPE_BOOLEAN:
                assert_int_equal(wire, 0);
                u = dec_varint(d);
                assert_true(u <= 1);
                f->i = (int64_t)u;
                return dec_crc_le(crc, u, 1);
        case KM_TYPE_BIGINT:
        case KM_TYPE_DATETIME:
                assert_int_equal(wire, 0);
                f->i = unzigzag(dec_varint(d));
                return dec_crc_le(crc, (uint64_t)f->i, 8);
        case KM_TYPE_DOUBLE:
                assert_int_equal(wire, 1);
                assert_true(d->end - d->p >= 8);
                memcpy(&f->d, d->p, 8); /* the test runs little-endian */
                crc = ref_crc32c(crc, d->p, 8);
                d->p += 8;
                return crc;
        case KM_TYPE_STRING:
        case KM_TYPE_DECIMAL:
                assert_int_equal(wire, 2);
                f->len = dec_varint(d);
                assert_true((size_t)(d->end - d->p) >= f->len);
                f->s = d->p;
                d->p += f->len;
                return ref_crc32c(crc, f->s, f->len);
        }
        fail_msg("bad type");
        return 0;
}

static int64_t decode_block(const unsigned char *body, size_t len,
                            const km_type_t *types, int ncols, dec_row_fn fn,
                            void *ctx)
{
        dec_t d = {body, body + len};
        dec_field_t *f = calloc((size_t)ncols + 1, sizeof(*f));
        uint32_t crc = 0, crc_block = 0;
        int64_t rows = 0;
        uint32_t last = 0;
        assert_non_null(f);
        for (;;) {
                uint64_t tag = dec_varint(&d);
                uint32_t field = (uint32_t)(tag >> 3);
                unsigned wire = (unsigned)(tag & 7);
                if (field == META_COUNT)
                        break;
                if (field == END_RECORD) {
                        assert_int_equal(wire, 0);
                        assert_int_equal(dec_varint(&d), crc);
                        crc_block = dec_crc_le(crc_block, crc, 4);
                        fn(ctx, rows++, f);
                        memset(f, 0, ((size_t)ncols + 1) * sizeof(*f));
                        crc = 0;
                        last = 0;
                        continue;
                }
                assert_true(field > last && field <= (uint32_t)ncols);
                last = field;
                crc = dec_crc_le(crc, field, 4);
                f[field - 1].present = 1;
                crc = dec_value(&d, types[field - 1].kind, wire,
                                &f[field - 1], crc);
        }
        assert_int_equal(unzigzag(dec_varint(&d)), rows);
        assert_int_equal(dec_varint(&d), ((uint64_t)META_CHECKSUM << 3));
        assert_int_equal(dec_varint(&d), crc_block);
        assert_true(d.p == d.end);
        free(f);
        return rows;
}

/* ------------------------------------------------------------- CRC32C */

static void test_crc32c(void **state)
{
        (void)state;
        const char *check = "123456789";
        assert_int_equal(km_crc32c(0, check, 9), 0xE3069283u);
        assert_int_equal(ref_crc32c(0, check, 9), 0xE3069283u);
        assert_int_equal(km_crc32c(0, "", 0), 0);
        assert_int_equal(km_crc32c(0x12345678u, "", 0), 0x12345678u);
        /* Chaining: any split gives the whole. */
        for (size_t k = 0; k <= 9; k++)
                assert_int_equal(km_crc32c(km_crc32c(0, check, k), check + k,
                                           9 - k),
                                 0xE3069283u);
        /* The CRC inputs of the notes' vector 1 and worked example. */
        const unsigned char r1[] = {
                0x01, 0, 0, 0, 'h', 'e', 'l', 'l', 'o', 0x02, 0, 0, 0, 0x2a,
                0, 0, 0, 0, 0, 0, 0, 0x03, 0, 0, 0, 0x1f, 0x85, 0xeb, 0x51,
                0xb8, 0x1e, 0x09, 0x40,
        };
        const unsigned char r2[] = {0x02, 0, 0, 0, 0xf9, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff};
        const unsigned char blk[] = {0x4f, 0x3e, 0xaa, 0x35,
                                     0x53, 0x9c, 0xa9, 0x3e};
        const unsigned char ex[] = {0xa4, 0x15, 0xbd, 0xea,
                                    0x57, 0x99, 0xf0, 0xc4};
        assert_int_equal(km_crc32c(0, r1, sizeof(r1)), 0x35AA3E4Fu);
        assert_int_equal(km_crc32c(0, r2, sizeof(r2)), 0x3EA99C53u);
        assert_int_equal(km_crc32c(0, blk, sizeof(blk)), 0x31A63F27u);
        assert_int_equal(km_crc32c(0, ex, sizeof(ex)), 0x2B7BB41Au);
}

static void test_crc32c_long_buffers(void **state)
{
        (void)state;
        size_t n = (size_t)1 << 20;
        unsigned char *buf = malloc(n);
        assert_non_null(buf);
        uint32_t x = 12345;
        for (size_t i = 0; i < n; i++) {
                x = x * 1103515245u + 12345u;
                buf[i] = (unsigned char)(x >> 16);
        }
        /* Every alignment and short length, then chained pieces. */
        for (size_t off = 0; off < 16; off++)
                for (size_t len = 0; len < 80; len++)
                        assert_int_equal(km_crc32c(7, buf + off, len),
                                         ref_crc32c(7, buf + off, len));
        uint32_t whole = ref_crc32c(0, buf, n), c = 0;
        assert_int_equal(km_crc32c(0, buf, n), whole);
        for (size_t i = 0; i < n; i += 4093)
                c = km_crc32c(c, buf + i, n - i < 4093 ? n - i : 4093);
        assert_int_equal(c, whole);
        free(buf);
}

/* -------------------------------------------------------- the vectors */

static const km_type_t kvd[] = {
        {.kind = KM_TYPE_STRING}, {.kind = KM_TYPE_BIGINT},
        {.kind = KM_TYPE_DOUBLE},
};

/* maxcompute-protocol.md 3.1: ("a", 1, 0.5) and (NULL, -2, NULL). */
static void test_worked_example(void **state)
{
        (void)state;
        const km_cell_t rows[] = {
                c_str("a"), c_bigint(1), c_double(0.5),
                c_null(), c_bigint(-2), c_null(),
        };
        const unsigned char want[] = {
                0x0a, 0x01, 0x61, 0x10, 0x02, 0x19, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00, 0xe0, 0x3f, 0x80, 0xc0, 0xff, 0x7f, 0xa4, 0xab,
                0xf4, 0xd5, 0x0e, 0x10, 0x03, 0x80, 0xc0, 0xff, 0x7f, 0xd7,
                0xb2, 0xc2, 0xa7, 0x0c, 0xf0, 0xff, 0xff, 0x7f, 0x04, 0xf8,
                0xff, 0xff, 0x7f, 0x9a, 0xe8, 0xee, 0xdb, 0x02,
        };
        assert_int_equal(sizeof(want), 48);
        assert_block(kvd, 3, -1, rows, 2, want, sizeof(want));
}

static const unsigned char vector1[] = {
        0x0a, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x10, 0x54, 0x19, 0x1f,
        0x85, 0xeb, 0x51, 0xb8, 0x1e, 0x09, 0x40, 0x80, 0xc0, 0xff, 0x7f,
        0xcf, 0xfc, 0xa8, 0xad, 0x03, 0x10, 0x0d, 0x80, 0xc0, 0xff, 0x7f,
        0xd3, 0xb8, 0xa6, 0xf5, 0x03, 0xf0, 0xff, 0xff, 0x7f, 0x04, 0xf8,
        0xff, 0xff, 0x7f, 0xa7, 0xfe, 0x98, 0x8d, 0x03,
};

static void vector1_rows(km_cell_t rows[6])
{
        rows[0] = c_str("hello");
        rows[1] = c_bigint(42);
        rows[2] = c_double(3.14);
        rows[3] = c_null();
        rows[4] = c_bigint(-7);
        rows[5] = c_null();
}

/* Vector 1: ("hello", 42, 3.14) and (NULL, -7, NULL). */
static void test_vector1(void **state)
{
        (void)state;
        km_cell_t rows[6];
        vector1_rows(rows);
        assert_int_equal(sizeof(vector1), 52);
        assert_block(kvd, 3, -1, rows, 2, vector1, sizeof(vector1));
}

/* Vector 2: the empty block, whatever the schema. */
static void test_vector2_empty(void **state)
{
        (void)state;
        const unsigned char want[] = {0xf0, 0xff, 0xff, 0x7f, 0x00,
                                      0xf8, 0xff, 0xff, 0x7f, 0x00};
        assert_block(kvd, 3, -1, NULL, 0, want, sizeof(want));
        assert_block(NULL, 0, -1, NULL, 0, want, sizeof(want));
}

static const unsigned char vector3[] = {
        0x08, 0x01, 0x10, 0x80, 0xd0, 0x8f, 0xa5, 0x98, 0x63, 0x1a, 0x06,
        0x31, 0x32, 0x33, 0x2e, 0x34, 0x35, 0x25, 0x00, 0x00, 0xc0, 0x3f,
        0x28, 0x03, 0x30, 0x96, 0xb4, 0x02, 0x3a, 0x06, 0x68, 0xc3, 0xa9,
        0x6c, 0x6c, 0x6f, 0x42, 0x80, 0x82, 0x90, 0xd9, 0x0c, 0xaa, 0xb4,
        0xde, 0x75, 0x4a, 0x02, 0x00, 0xff, 0x80, 0xc0, 0xff, 0x7f, 0xb1,
        0xf6, 0xd1, 0xa8, 0x03, 0xf0, 0xff, 0xff, 0x7f, 0x02, 0xf8, 0xff,
        0xff, 0x7f, 0xc8, 0xe3, 0x89, 0xde, 0x05,
};

/* Vector 3's record CRC input, all nine columns (FLOAT as 4 bytes,
 * TIMESTAMP as int64 seconds + int32 nanos): the checksum rules hold for
 * the types kmsync does not write too. */
static void test_vector3_checksums(void **state)
{
        (void)state;
        unsigned char in[128];
        size_t n = 0;
        const struct {
                int field, width;
                uint64_t v;
        } fixed[] = {
                {1, 1, 1}, {2, 8, 1704067200000ULL}, {4, 4, 0x3fc00000u},
                {5, 8, (uint64_t)-2}, {6, 8, 19723}, {8, 8, 1704067200},
        };
        for (int f = 1, k = 0; f <= 9; f++) {
                put_le(in + n, (uint64_t)f, 4);
                n += 4;
                if (f == 3) {
                        memcpy(in + n, "123.45", 6), n += 6;
                } else if (f == 7) {
                        memcpy(in + n, "h\xc3\xa9llo", 6), n += 6;
                } else if (f == 9) {
                        memcpy(in + n, "\x00\xff", 2), n += 2;
                } else {
                        put_le(in + n, fixed[k].v, fixed[k].width);
                        n += (size_t)fixed[k++].width;
                        if (f == 8)
                                put_le(in + n, 123456789, 4), n += 4;
                }
        }
        assert_int_equal(km_crc32c(0, in, n), 0x35147B31u);
        unsigned char le[4];
        put_le(le, 0x35147B31u, 4);
        assert_int_equal(km_crc32c(0, le, 4), 0x5BC271C8u);
        unsigned char v[5];
        assert_int_equal(ref_varint(v, 0x35147B31u), 5);
        assert_memory_equal(v, vector3 + 54, 5);
}

/* Vector 3 (the wide row) as far as kmsync's types go: BOOLEAN, DATETIME,
 * DECIMAL, INT and DATE (both encoded as BIGINT is), VARCHAR and BINARY
 * (both encoded as STRING is) give the vector's very field bytes; FLOAT
 * (4) and TIMESTAMP (8) are not kmsync types and stay NULL, so the record
 * CRC is that of the other seven fields. */
static void test_vector3_wide_row(void **state)
{
        (void)state;
        const km_type_t types[] = {
                t_(KM_TYPE_BOOLEAN), t_(KM_TYPE_DATETIME),
                {.kind = KM_TYPE_DECIMAL, .precision = 10, .scale = 2},
                t_(KM_TYPE_DOUBLE), t_(KM_TYPE_BIGINT), t_(KM_TYPE_BIGINT),
                t_(KM_TYPE_STRING), t_(KM_TYPE_STRING), t_(KM_TYPE_STRING),
        };
        const km_cell_t row[] = {
                c_int(KM_CELL_BOOLEAN, 1),
                c_int(KM_CELL_DATETIME, 1704067200000LL),
                c_bytes(KM_CELL_DECIMAL, "123.45", 6),
                c_null(),
                c_bigint(-2),
                c_bigint(19723),
                c_str("h\xc3\xa9llo"),
                c_null(),
                c_bytes(KM_CELL_STRING, "\x00\xff", 2),
        };
        /* The vector's fields 1-3, 5-7 and 9: [offset, end). */
        const int keep[][2] = {{0, 17}, {22, 36}, {46, 50}};
        const unsigned char tail[] = {
                0x80, 0xc0, 0xff, 0x7f, 0xd2, 0xb3, 0xf8, 0x8b, 0x0d, /* crc */
                0xf0, 0xff, 0xff, 0x7f, 0x02,
                0xf8, 0xff, 0xff, 0x7f, 0xb7, 0xf4, 0xaa, 0x87, 0x06,
        };
        unsigned char want[128];
        size_t n = 0;
        for (int k = 0; k < 3; k++) {
                memcpy(want + n, vector3 + keep[k][0],
                       (size_t)(keep[k][1] - keep[k][0]));
                n += (size_t)(keep[k][1] - keep[k][0]);
        }
        memcpy(want + n, tail, sizeof(tail));
        n += sizeof(tail);
        /* The tail's two CRCs, recomputed from the rules. */
        unsigned char in[128], le[4];
        size_t m = 0;
        const int fields[] = {1, 2, 3, 5, 6, 7, 9};
        const char *val[] = {"\x01", "\x00\xf4\x51\xc2\x8c\x01\x00\x00",
                             "123.45", "\xfe\xff\xff\xff\xff\xff\xff\xff",
                             "\x0b\x4d\x00\x00\x00\x00\x00\x00",
                             "h\xc3\xa9llo", "\x00\xff"};
        const size_t vlen[] = {1, 8, 6, 8, 8, 6, 2};
        for (int k = 0; k < 7; k++) {
                put_le(in + m, (uint64_t)fields[k], 4);
                memcpy(in + m + 4, val[k], vlen[k]);
                m += 4 + vlen[k];
        }
        assert_int_equal(ref_crc32c(0, in, m), 0xD17E19D2u);
        put_le(le, 0xD17E19D2u, 4);
        assert_int_equal(ref_crc32c(0, le, 4), 0x60EABA37u);
        assert_block(types, 9, -1, row, 1, want, n);
}

/* Vector 4: an all-NULL record, then "", 0 and -0.0 (values, not NULLs). */
static void test_vector4_all_null(void **state)
{
        (void)state;
        const km_cell_t rows[] = {
                c_null(), c_null(), c_null(),
                c_str(""), c_bigint(0), c_double(-0.0),
        };
        const unsigned char want[] = {
                0x80, 0xc0, 0xff, 0x7f, 0x00, 0x0a, 0x00, 0x10, 0x00, 0x19,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x80, 0xc0,
                0xff, 0x7f, 0x98, 0xf1, 0xaf, 0xae, 0x0f, 0xf0, 0xff, 0xff,
                0x7f, 0x04, 0xf8, 0xff, 0xff, 0x7f, 0x9a, 0x94, 0x97, 0xff,
                0x04,
        };
        assert_int_equal(sizeof(want), 41);
        assert_block(kvd, 3, -1, rows, 2, want, sizeof(want));
        /* A NULL string may have no pointer at all. */
        km_cell_t empty = c_bytes(KM_CELL_STRING, NULL, 0);
        km_cell_t rows2[6];
        memcpy(rows2, rows, sizeof(rows2));
        rows2[3] = empty;
        assert_block(kvd, 3, -1, rows2, 2, want, sizeof(want));
}

/* -------------------------------------------------------- every type */

/* One row: `cell` in the last of `field` columns of type `type` (the
 * others NULL).  The field's bytes after its tag are `payload`, and the
 * record CRC covers the field number then `crc_in`. */
static void assert_field(km_type_t type, int field, km_cell_t cell,
                         const char *payload, size_t plen,
                         const char *crc_in, size_t clen)
{
        km_type_t types[32];
        km_cell_t row[32];
        unsigned char want[512], in[300];
        unsigned wire = type.kind == KM_TYPE_DOUBLE ? 1
                        : (type.kind == KM_TYPE_STRING ||
                           type.kind == KM_TYPE_DECIMAL) ? 2 : 0;
        for (int i = 0; i < field; i++) {
                types[i] = type;
                row[i] = c_null();
        }
        row[field - 1] = cell;
        size_t n = ref_varint(want, ((uint64_t)field << 3) | wire);
        memcpy(want + n, payload, plen);
        n += plen;
        put_le(in, (uint64_t)field, 4);
        memcpy(in + 4, crc_in, clen);
        uint32_t rc = ref_crc32c(0, in, clen + 4);
        n += ref_varint(want + n, (uint64_t)END_RECORD << 3);
        n += ref_varint(want + n, rc);
        n += ref_varint(want + n, (uint64_t)META_COUNT << 3);
        want[n++] = 0x02;
        n += ref_varint(want + n, (uint64_t)META_CHECKSUM << 3);
        put_le(in, rc, 4);
        n += ref_varint(want + n, ref_crc32c(0, in, 4));
        assert_block(types, field, -1, row, 1, want, n);
}

#define FIELD(type, field, cell, payload, crc_in)                             \
        assert_field(t_(type), field, cell, payload, sizeof(payload) - 1,     \
                     crc_in, sizeof(crc_in) - 1)

static void test_bigint(void **state)
{
        (void)state;
        FIELD(KM_TYPE_BIGINT, 1, c_bigint(0), "\x00",
              "\x00\x00\x00\x00\x00\x00\x00\x00");
        FIELD(KM_TYPE_BIGINT, 1, c_bigint(-1), "\x01",
              "\xff\xff\xff\xff\xff\xff\xff\xff");
        FIELD(KM_TYPE_BIGINT, 1, c_bigint(1), "\x02",
              "\x01\x00\x00\x00\x00\x00\x00\x00");
        FIELD(KM_TYPE_BIGINT, 2, c_bigint(42), "\x54",
              "\x2a\x00\x00\x00\x00\x00\x00\x00");
        FIELD(KM_TYPE_BIGINT, 3, c_bigint(300), "\xd8\x04",
              "\x2c\x01\x00\x00\x00\x00\x00\x00");
        FIELD(KM_TYPE_BIGINT, 1, c_bigint(INT64_MAX),
              "\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01",
              "\xff\xff\xff\xff\xff\xff\xff\x7f");
        FIELD(KM_TYPE_BIGINT, 1, c_bigint(INT64_MIN),
              "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
              "\x00\x00\x00\x00\x00\x00\x00\x80");
        /* Field 16 takes a two-byte tag (0x80 0x01); 20 gives 0xa0 0x01. */
        FIELD(KM_TYPE_BIGINT, 16, c_bigint(-7), "\x0d",
              "\xf9\xff\xff\xff\xff\xff\xff\xff");
        FIELD(KM_TYPE_BIGINT, 20, c_bigint(-7), "\x0d",
              "\xf9\xff\xff\xff\xff\xff\xff\xff");
}

static void test_double(void **state)
{
        (void)state;
        FIELD(KM_TYPE_DOUBLE, 1, c_double(0.5),
              "\x00\x00\x00\x00\x00\x00\xe0\x3f",
              "\x00\x00\x00\x00\x00\x00\xe0\x3f");
        FIELD(KM_TYPE_DOUBLE, 1, c_double(-0.0),
              "\x00\x00\x00\x00\x00\x00\x00\x80",
              "\x00\x00\x00\x00\x00\x00\x00\x80");
        FIELD(KM_TYPE_DOUBLE, 2, c_double(3.14),
              "\x1f\x85\xeb\x51\xb8\x1e\x09\x40",
              "\x1f\x85\xeb\x51\xb8\x1e\x09\x40");
        FIELD(KM_TYPE_DOUBLE, 1, c_double(-INFINITY),
              "\x00\x00\x00\x00\x00\x00\xf0\xff",
              "\x00\x00\x00\x00\x00\x00\xf0\xff");
}

static void test_boolean(void **state)
{
        (void)state;
        FIELD(KM_TYPE_BOOLEAN, 1, c_int(KM_CELL_BOOLEAN, 1), "\x01", "\x01");
        FIELD(KM_TYPE_BOOLEAN, 1, c_int(KM_CELL_BOOLEAN, 0), "\x00", "\x00");
        FIELD(KM_TYPE_BOOLEAN, 3, c_int(KM_CELL_BOOLEAN, 1), "\x01", "\x01");
}

static void test_string(void **state)
{
        (void)state;
        FIELD(KM_TYPE_STRING, 1, c_str(""), "\x00", "");
        FIELD(KM_TYPE_STRING, 1, c_str("h\xc3\xa9llo"), "\x06h\xc3\xa9llo",
              "h\xc3\xa9llo");
        FIELD(KM_TYPE_STRING, 2, c_bytes(KM_CELL_STRING, "a\0b", 3),
              "\x03" "a\0b", "a\0b");
        /* 200 bytes: a two-byte length (0xc8 0x01). */
        char s[201], payload[203];
        memset(s, 'x', 200);
        s[200] = '\0';
        memcpy(payload, "\xc8\x01", 2);
        memcpy(payload + 2, s, 200);
        assert_field(t_(KM_TYPE_STRING), 1, c_str(s), payload, 202, s, 200);
}

static void test_datetime(void **state)
{
        (void)state;
        /* 2024-01-01 00:00:00 UTC, as in vector 3. */
        FIELD(KM_TYPE_DATETIME, 1, c_int(KM_CELL_DATETIME, 1704067200000LL),
              "\x80\xd0\x8f\xa5\x98\x63", "\x00\xf4\x51\xc2\x8c\x01\x00\x00");
        FIELD(KM_TYPE_DATETIME, 1, c_int(KM_CELL_DATETIME, -1), "\x01",
              "\xff\xff\xff\xff\xff\xff\xff\xff");
        /* The range's ends: 0001-01-01 and 9999-12-31 23:59:59.999. */
        FIELD(KM_TYPE_DATETIME, 1,
              c_int(KM_CELL_DATETIME, -62135596800000LL),
              "\xff\xdf\xe6\xa2\xe2\xa0\x1c",
              "\x00\x28\xd3\xed\x7c\xc7\xff\xff");
        FIELD(KM_TYPE_DATETIME, 1,
              c_int(KM_CELL_DATETIME, 253402300799999LL),
              "\xfe\xef\xfe\xa1\xfa\x9d\x73",
              "\xff\xdb\x1f\xd2\x77\xe6\x00\x00");
}

static void test_decimal(void **state)
{
        (void)state;
        FIELD(KM_TYPE_DECIMAL, 1, c_bytes(KM_CELL_DECIMAL, "123.45", 6),
              "\x06" "123.45", "123.45");
        FIELD(KM_TYPE_DECIMAL, 2, c_bytes(KM_CELL_DECIMAL, "-0.001", 6),
              "\x06" "-0.001", "-0.001");
        FIELD(KM_TYPE_DECIMAL, 1, c_bytes(KM_CELL_DECIMAL, "12.50", 5),
              "\x05" "12.50", "12.50");
}

/* ----------------------------------------------------------- deflate */

static void test_deflate(void **state)
{
        (void)state;
        km_cell_t rows[6];
        vector1_rows(rows);
        const int levels[] = {0, 1, 6, 9};
        for (int k = 0; k < 4; k++) {
                km_mc_block_t *b = km_mc_block_new(kvd, 3, levels[k]);
                char err[256];
                const unsigned char *body;
                size_t len;
                for (int r = 0; r < 2; r++)
                        assert_int_equal(km_mc_block_add_row(b, rows + 3 * r,
                                                             err, sizeof(err)),
                                         0);
                assert_int_equal(km_mc_block_finish(b, &body, &len, err,
                                                    sizeof(err)),
                                 0);
                assert_int_equal(km_mc_block_raw_bytes(b), sizeof(vector1));
                /* A zlib header (RFC 1950: deflate, 32 KiB window). */
                assert_true(len > 2 && body[0] == 0x78);
                assert_int_equal((body[0] * 256 + body[1]) % 31, 0);
                unsigned char *raw = inflate_all(body, len, sizeof(vector1));
                assert_bytes(raw, sizeof(vector1), vector1, sizeof(vector1));
                free(raw);
                km_mc_block_free(b);
        }
}

/* --------------------------------------------------------- reuse */

static void finish_ok(km_mc_block_t *b, const unsigned char **body,
                      size_t *len)
{
        char err[256];
        if (km_mc_block_finish(b, body, len, err, sizeof(err)) != 0)
                fail_msg("finish: %s", err);
}

static void test_reset_reuse(void **state)
{
        (void)state;
        km_cell_t rows[6], junk[3] = {c_str("junk"), c_bigint(99),
                                      c_double(1e300)};
        vector1_rows(rows);
        for (int level = -1; level <= 1; level += 2) {
                km_mc_block_t *b = km_mc_block_new(kvd, 3, level);
                char err[256];
                const unsigned char *body, *again;
                size_t len, len2;
                for (int r = 0; r < 5000; r++)
                        assert_int_equal(km_mc_block_add_row(b, junk, err,
                                                             sizeof(err)),
                                         0);
                finish_ok(b, &body, &len);
                /* Finished: finishing again gives the same body; adding
                 * is refused. */
                finish_ok(b, &again, &len2);
                assert_true(body == again && len == len2);
                assert_int_equal(km_mc_block_add_row(b, junk, err,
                                                     sizeof(err)),
                                 -1);
                assert_string_equal(err, "the block is finished; reset it "
                                         "before adding rows");
                for (int round = 0; round < 2; round++) {
                        km_mc_block_reset(b);
                        assert_int_equal(km_mc_block_rows(b), 0);
                        assert_int_equal(km_mc_block_raw_bytes(b), 0);
                        for (int r = 0; r < 2; r++)
                                assert_int_equal(
                                        km_mc_block_add_row(b, rows + 3 * r,
                                                            err, sizeof(err)),
                                        0);
                        finish_ok(b, &body, &len);
                        unsigned char *raw = level < 0 ? NULL
                                : inflate_all(body, len, sizeof(vector1));
                        assert_bytes(raw ? raw : body,
                                     raw ? sizeof(vector1) : len, vector1,
                                     sizeof(vector1));
                        free(raw);
                }
                km_mc_block_free(b);
        }
}

/* ------------------------------------------------------ a large block */

static const km_type_t big_types[] = {
        {.kind = KM_TYPE_BIGINT},   {.kind = KM_TYPE_STRING},
        {.kind = KM_TYPE_DOUBLE},   {.kind = KM_TYPE_BOOLEAN},
        {.kind = KM_TYPE_DATETIME},
        {.kind = KM_TYPE_DECIMAL, .precision = 18, .scale = 3},
        {.kind = KM_TYPE_STRING},
};
#define BIG_COLS 7
#define BIG_ROWS 60000
#define POOL_SIZE (256 * 1024)

typedef struct big {
        unsigned char *pool; /* bytes strings are taken from, NULs too */
        char dec[BIG_COLS][32];
        int64_t seen;
} big_t;

static uint64_t mix(uint64_t x)
{
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ULL;
        return x ^ (x >> 33);
}

/* Row r of the large block: every type, NULLs, extreme values, and now
 * and then a string longer than the 64 KiB staging area. */
static void big_row(big_t *g, int64_t r, km_cell_t *c)
{
        uint64_t h = mix((uint64_t)r + 1);
        for (int i = 0; i < BIG_COLS; i++)
                c[i] = c_null();
        if (h % 7 != 0)
                c[0] = c_bigint(r % 1000 == 3 ? INT64_MIN
                                : (int64_t)(h >> 1) - (int64_t)(h >> 2));
        size_t off = (size_t)(h >> 20) % 1000;
        size_t len = (size_t)(h >> 8) % 60;
        if (r % 997 == 5)
                len = 70000 + (size_t)(h % 100000);
        if (h % 5 != 1)
                c[1] = c_bytes(KM_CELL_STRING, (char *)g->pool + off, len);
        if (h % 3 != 2)
                c[2] = c_double((double)(int64_t)h / 1e6);
        if (h % 4 != 0)
                c[3] = c_int(KM_CELL_BOOLEAN, (int64_t)(h >> 7) & 1);
        if (h % 11 != 0)
                c[4] = c_int(KM_CELL_DATETIME,
                             r % 1000 == 7 ? 253402300799999LL
                             : (int64_t)(h % 300000000000000ULL) -
                                       62135596800000LL);
        snprintf(g->dec[5], sizeof(g->dec[5]), "%s%llu.%03u",
                 (h & 1) ? "-" : "", (unsigned long long)(h % 1000000007),
                 (unsigned)(h % 1000));
        if (h % 13 != 0)
                c[5] = c_bytes(KM_CELL_DECIMAL, g->dec[5], strlen(g->dec[5]));
        if (r % 2 == 0)
                c[6] = c_bytes(KM_CELL_STRING, (char *)g->pool + len % 4096,
                               (size_t)(h % 300));
}

static void big_check_row(void *ctx, int64_t row, const dec_field_t *f)
{
        big_t *g = ctx;
        km_cell_t c[BIG_COLS];
        assert_int_equal(row, g->seen);
        g->seen++;
        big_row(g, row, c);
        for (int i = 0; i < BIG_COLS; i++) {
                assert_int_equal(f[i].present, c[i].kind != KM_CELL_NULL);
                if (!f[i].present)
                        continue;
                switch (big_types[i].kind) {
                case KM_TYPE_DOUBLE:
                        assert_memory_equal(&f[i].d, &c[i].d, 8);
                        break;
                case KM_TYPE_STRING:
                case KM_TYPE_DECIMAL:
                        assert_int_equal(f[i].len, c[i].len);
                        if (c[i].len)
                                assert_memory_equal(f[i].s, c[i].s, c[i].len);
                        break;
                default:
                        assert_int_equal(f[i].i, c[i].i);
                }
        }
}

static void test_large_block_round_trip(void **state)
{
        (void)state;
        big_t g = {0};
        g.pool = malloc(POOL_SIZE);
        assert_non_null(g.pool);
        for (size_t i = 0; i < POOL_SIZE; i++)
                g.pool[i] = (unsigned char)(mix(i / 8) >> (i % 8 * 8));
        for (int level = -1; level <= 1; level += 2) {
                km_mc_block_t *b = km_mc_block_new(big_types, BIG_COLS, level);
                km_cell_t c[BIG_COLS];
                char err[256];
                const unsigned char *body;
                size_t len;
                for (int64_t r = 0; r < BIG_ROWS; r++) {
                        big_row(&g, r, c);
                        if (km_mc_block_add_row(b, c, err, sizeof(err)) != 0)
                                fail_msg("row %lld: %s", (long long)r, err);
                }
                assert_int_equal(km_mc_block_rows(b), BIG_ROWS);
                finish_ok(b, &body, &len);
                size_t raw_len = km_mc_block_raw_bytes(b);
                assert_true(raw_len > (size_t)8 << 20);
                unsigned char *raw = level < 0 ? NULL
                        : inflate_all(body, len, raw_len);
                if (level >= 0)
                        assert_true(len < raw_len);
                else
                        assert_int_equal(len, raw_len);
                g.seen = 0;
                assert_int_equal(decode_block(raw ? raw : body, raw_len,
                                              big_types, BIG_COLS,
                                              big_check_row, &g),
                                 BIG_ROWS);
                free(raw);
                km_mc_block_free(b);
        }
        free(g.pool);
}

/* ------------------------------------------- deflate, sizes, Python */

/* Blocks of a given raw size, deflated at a level and not: rows of a
 * STRING, a BIGINT and a STRING; text that compresses, or (random) bytes
 * that do not. */
typedef struct sized {
        km_mc_block_t *b, *ref; /* deflated, uncompressed */
        const unsigned char *body, *want;
        size_t len, wlen;
} sized_t;

static const km_type_t sized_types[] = {
        {.kind = KM_TYPE_STRING}, {.kind = KM_TYPE_BIGINT},
        {.kind = KM_TYPE_STRING},
};

static void sized_block(sized_t *z, int level, size_t raw, int random)
{
        static const char *const words[] = {
                "order", "paid", "shipped", "Hangzhou", "/api/v2/items",
                "customer", "gate", "sla ok", "refund", "courier",
        };
        char text[200], bytes[512];
        char err[256];
        z->b = km_mc_block_new(sized_types, 3, level);
        z->ref = km_mc_block_new(sized_types, 3, -1);
        for (uint64_t r = 0; km_mc_block_raw_bytes(z->ref) < raw; r++) {
                uint64_t h = mix(r + 77);
                km_cell_t c[3];
                int n = snprintf(text, sizeof(text), "%s-%llu %s %s",
                                 words[h % 10],
                                 (unsigned long long)(h >> 40),
                                 words[(h >> 8) % 10], words[(h >> 16) % 10]);
                size_t blen = (size_t)(h >> 24) % sizeof(bytes);
                for (size_t i = 0; i < blen; i++)
                        bytes[i] = (char)(mix(h + i) >> 13);
                c[0] = c_bytes(KM_CELL_STRING, text, (size_t)n);
                c[1] = h % 5 ? c_bigint((int64_t)(h >> 3) - (int64_t)r)
                             : c_null();
                c[2] = random ? c_bytes(KM_CELL_STRING, bytes, blen)
                              : c_null();
                if (km_mc_block_add_row(z->b, c, err, sizeof(err)) != 0 ||
                    km_mc_block_add_row(z->ref, c, err, sizeof(err)) != 0)
                        fail_msg("row %llu: %s", (unsigned long long)r, err);
        }
        finish_ok(z->b, &z->body, &z->len);
        finish_ok(z->ref, &z->want, &z->wlen);
        assert_int_equal(km_mc_block_raw_bytes(z->b), z->wlen);
        assert_int_equal(km_mc_block_rows(z->b), km_mc_block_rows(z->ref));
}

static void sized_free(sized_t *z)
{
        km_mc_block_free(z->b);
        km_mc_block_free(z->ref);
}

/* An RFC 1950 stream: header 78 01 (deflate, 32 KiB window, no
 * dictionary), then deflate data that zlib inflates to want, then the
 * Adler-32 of want, big-endian. */
static void assert_zlib_stream(const unsigned char *body, size_t len,
                               const unsigned char *want, size_t wlen)
{
        assert_true(len >= 6);
        assert_int_equal(body[0], 0x78);
        assert_int_equal(body[0] & 0x0f, 8);
        assert_int_equal(body[1] & 0x20, 0);
        assert_int_equal((body[0] * 256 + body[1]) % 31, 0);
        uint32_t a = (uint32_t)adler32(adler32(0, NULL, 0), want,
                                       (uInt)wlen);
        const unsigned char *t = body + len - 4;
        assert_int_equal(((uint32_t)t[0] << 24) | ((uint32_t)t[1] << 16) |
                                 ((uint32_t)t[2] << 8) | t[3],
                         a);
        unsigned char *raw = inflate_all(body, len, wlen);
        assert_bytes(raw, wlen, want, wlen);
        free(raw);
}

/* Inflated with zlib, every level's body is the uncompressed encoding,
 * from the empty block to several MiB, across staging-area boundaries,
 * compressible or not. */
static void test_deflate_sizes(void **state)
{
        (void)state;
        const size_t sizes[] = {
                0, 1, 1000, 65536 - 100, 65536, 65536 + 100, 300000,
                (size_t)1536 * 1024,
        };
        const int levels[] = {0, 1, 2, 5, 6, 9};
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
                for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]);
                     l++)
                        for (int random = 0; random <= 1; random++) {
                                sized_t z;
                                sized_block(&z, levels[l], sizes[k], random);
                                assert_zlib_stream(z.body, z.len, z.want,
                                                   z.wlen);
                                if (!random && z.wlen > 100000)
                                        assert_true(z.len < z.wlen / 4 * 3);
                                sized_free(&z);
                        }
        /* The SDKs' level on a large block. */
        sized_t z;
        sized_block(&z, 1, (size_t)6 << 20, 1);
        assert_true(z.wlen >= (size_t)6 << 20);
        assert_zlib_stream(z.body, z.len, z.want, z.wlen);
        assert_true(z.len < z.wlen);
        sized_free(&z);
}

/* Compressed blocks of many sizes in a row on one writer (reset between
 * them), each read back whole. */
static void test_deflate_reset_sizes(void **state)
{
        (void)state;
        const km_type_t types[] = {t_(KM_TYPE_STRING)};
        km_mc_block_t *b = km_mc_block_new(types, 1, 1);
        km_mc_block_t *ref = km_mc_block_new(types, 1, -1);
        char *s = malloc(200000 + 3);
        char err[256];
        assert_non_null(s);
        for (size_t i = 0; i < 200000 + 3; i++)
                s[i] = (char)('a' + mix(i / 3) % 26);
        const size_t lens[] = {0, 200000, 3, 65536, 65535, 131072, 1, 0};
        for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
                km_mc_block_reset(b);
                km_mc_block_reset(ref);
                for (int r = 0; r < (int)(k % 3) + 1; r++) {
                        km_cell_t c = c_bytes(KM_CELL_STRING, s + r,
                                              lens[k]);
                        assert_int_equal(km_mc_block_add_row(b, &c, err,
                                                             sizeof(err)),
                                         0);
                        assert_int_equal(km_mc_block_add_row(ref, &c, err,
                                                             sizeof(err)),
                                         0);
                }
                const unsigned char *body, *want;
                size_t len, wlen;
                finish_ok(b, &body, &len);
                finish_ok(ref, &want, &wlen);
                assert_zlib_stream(body, len, want, wlen);
        }
        km_mc_block_free(ref);
        km_mc_block_free(b);
        free(s);
}

static void write_file(const char *path, const unsigned char *p, size_t n)
{
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(p, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
}

static unsigned char *read_file(const char *path, size_t *n)
{
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        long size = ftell(f);
        assert_true(size >= 0);
        rewind(f);
        unsigned char *p = malloc((size_t)size + 1);
        assert_non_null(p);
        assert_int_equal(fread(p, 1, (size_t)size, f), (size_t)size);
        fclose(f);
        *n = (size_t)size;
        return p;
}

/* What the Tunnel emulator (and any Python reader) does with a body:
 * zlib.decompress, and a decompressobj that must reach the stream's end
 * with nothing left over. */
#define PY_INFLATE                                                           \
        "import zlib,sys\n"                                                  \
        "b=open(sys.argv[1],'rb').read()\n"                                  \
        "d=zlib.decompressobj()\n"                                           \
        "o=d.decompress(b)+d.flush()\n"                                      \
        "assert d.eof and not d.unused_data, 'not one whole zlib stream'\n"  \
        "assert zlib.decompress(b)==o\n"                                     \
        "open(sys.argv[2],'wb').write(o)\n"

static void test_deflate_python(void **state)
{
        (void)state;
        if (system("python3 -c pass >/dev/null 2>&1") != 0) {
                print_message("skipped: python3 is missing; the Python zlib "
                              "check needs it\n");
                skip();
        }
        const char *tmp = getenv("TMPDIR");
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/km_mc_record_XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(dir));
        char in[600], out[600], cmd[2048];
        snprintf(in, sizeof(in), "%s/body.z", dir);
        snprintf(out, sizeof(out), "%s/body.raw", dir);
        const struct {
                int level;
                size_t raw;
                int random;
        } cases[] = {
                {1, 0, 0}, {1, 1000, 0}, {1, (size_t)2 << 20, 1},
                {0, (size_t)1 << 20, 0}, {6, (size_t)1 << 20, 1},
        };
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
                sized_t z;
                sized_block(&z, cases[k].level, cases[k].raw,
                            cases[k].random);
                write_file(in, z.body, z.len);
                unlink(out);
                snprintf(cmd, sizeof(cmd), "python3 -c \"%s\" '%s' '%s'",
                         PY_INFLATE, in, out);
                if (system(cmd) != 0)
                        fail_msg("python3 zlib could not read the level %d "
                                 "body of %zu raw bytes", cases[k].level,
                                 z.wlen);
                size_t n;
                unsigned char *got = read_file(out, &n);
                assert_bytes(got, n, z.want, z.wlen);
                free(got);
                sized_free(&z);
        }
        unlink(in);
        unlink(out);
        assert_int_equal(rmdir(dir), 0);
}

/* -------------------------------------------------- refused values */

static void test_max_field_size(void **state)
{
        (void)state;
        const km_type_t types[] = {t_(KM_TYPE_BIGINT), t_(KM_TYPE_STRING)};
        for (int level = -1; level <= 1; level += 2) {
                km_mc_block_t *b = km_mc_block_new(types, 2, level);
                km_mc_block_t *ref = km_mc_block_new(types, 2, -1);
                char err[256];
                km_mc_block_set_max_field_size(b, 10);
                km_cell_t ok[2] = {c_bigint(1), c_str("0123456789")};
                km_cell_t big[2] = {c_bigint(2), c_str("0123456789A")};
                /* Enough rows that the staging area has been deflated. */
                for (int r = 0; r < 10000; r++) {
                        assert_int_equal(km_mc_block_add_row(b, ok, err,
                                                             sizeof(err)),
                                         0);
                        assert_int_equal(km_mc_block_add_row(ref, ok, err,
                                                             sizeof(err)),
                                         0);
                }
                size_t raw = km_mc_block_raw_bytes(b);
                assert_int_equal(km_mc_block_add_row(b, big, err,
                                                     sizeof(err)),
                                 -1);
                assert_string_equal(err, "column 2: a STRING value of 11 "
                                         "bytes is over the max field size "
                                         "of 10 bytes");
                /* The refused row left nothing behind. */
                assert_int_equal(km_mc_block_rows(b), 10000);
                assert_int_equal(km_mc_block_raw_bytes(b), raw);
                assert_int_equal(km_mc_block_add_row(b, ok, err, sizeof(err)),
                                 0);
                assert_int_equal(km_mc_block_add_row(ref, ok, err,
                                                     sizeof(err)),
                                 0);
                const unsigned char *body, *want;
                size_t len, wlen;
                finish_ok(b, &body, &len);
                finish_ok(ref, &want, &wlen);
                unsigned char *inflated = level < 0 ? NULL
                        : inflate_all(body, len, wlen);
                assert_bytes(inflated ? inflated : body, wlen, want, wlen);
                free(inflated);
                km_mc_block_free(ref);
                km_mc_block_free(b);
        }
}

static void test_default_max_field_size(void **state)
{
        (void)state;
        const km_type_t types[] = {t_(KM_TYPE_STRING)};
        size_t limit = (size_t)8 * 1024 * 1024;
        char *s = malloc(limit + 1);
        char err[256];
        assert_non_null(s);
        memset(s, 'z', limit + 1);
        km_mc_block_t *b = km_mc_block_new(types, 1, 1);
        km_cell_t c = c_bytes(KM_CELL_STRING, s, limit + 1);
        assert_int_equal(km_mc_block_add_row(b, &c, err, sizeof(err)), -1);
        assert_string_equal(err, "column 1: a STRING value of 8388609 bytes "
                                 "is over the max field size of 8388608 "
                                 "bytes");
        c.len = limit;
        assert_int_equal(km_mc_block_add_row(b, &c, err, sizeof(err)), 0);
        const unsigned char *body;
        size_t len;
        finish_ok(b, &body, &len);
        /* 1 tag + 4 length + 8 MiB + 9 END_RECORD + 14 trailer bytes. */
        assert_int_equal(km_mc_block_raw_bytes(b), limit + 28);
        assert_true(len < 100000);
        km_mc_block_free(b);
        free(s);
}

static void test_datetime_range(void **state)
{
        (void)state;
        const km_type_t types[] = {t_(KM_TYPE_BIGINT), t_(KM_TYPE_DATETIME)};
        km_mc_block_t *b = km_mc_block_new(types, 2, -1);
        char err[256];
        km_cell_t row[2] = {c_bigint(1),
                            c_int(KM_CELL_DATETIME, -62135596800001LL)};
        assert_int_equal(km_mc_block_add_row(b, row, err, sizeof(err)), -1);
        assert_string_equal(err, "column 2: DATETIME -62135596800001 ms since "
                                 "the epoch is out of range (0001-01-01 "
                                 "00:00:00.000 to 9999-12-31 23:59:59.999 "
                                 "UTC)");
        row[1].i = 253402300800000LL;
        assert_int_equal(km_mc_block_add_row(b, row, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "253402300800000 ms"));
        row[1].i = INT64_MIN;
        assert_int_equal(km_mc_block_add_row(b, row, err, sizeof(err)), -1);
        assert_int_equal(km_mc_block_rows(b), 0);
        assert_int_equal(km_mc_block_raw_bytes(b), 0);
        km_mc_block_free(b);
}

static void test_wrong_cell_kind(void **state)
{
        (void)state;
        const km_type_t types[] = {t_(KM_TYPE_BIGINT), t_(KM_TYPE_DECIMAL)};
        km_mc_block_t *b = km_mc_block_new(types, 2, 1);
        char err[256];
        km_cell_t row[2] = {c_bigint(1), c_str("1.5")};
        assert_int_equal(km_mc_block_add_row(b, row, err, sizeof(err)), -1);
        assert_string_equal(err, "column 2: a STRING value for a DECIMAL "
                                 "column");
        assert_int_equal(km_mc_block_raw_bytes(b), 0);
        km_mc_block_free(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_crc32c),
                cmocka_unit_test(test_crc32c_long_buffers),
                cmocka_unit_test(test_worked_example),
                cmocka_unit_test(test_vector1),
                cmocka_unit_test(test_vector2_empty),
                cmocka_unit_test(test_vector3_checksums),
                cmocka_unit_test(test_vector3_wide_row),
                cmocka_unit_test(test_vector4_all_null),
                cmocka_unit_test(test_bigint),
                cmocka_unit_test(test_double),
                cmocka_unit_test(test_boolean),
                cmocka_unit_test(test_string),
                cmocka_unit_test(test_datetime),
                cmocka_unit_test(test_decimal),
                cmocka_unit_test(test_deflate),
                cmocka_unit_test(test_reset_reuse),
                cmocka_unit_test(test_large_block_round_trip),
                cmocka_unit_test(test_deflate_sizes),
                cmocka_unit_test(test_deflate_reset_sizes),
                cmocka_unit_test(test_deflate_python),
                cmocka_unit_test(test_max_field_size),
                cmocka_unit_test(test_default_max_field_size),
                cmocka_unit_test(test_datetime_range),
                cmocka_unit_test(test_wrong_cell_kind),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
