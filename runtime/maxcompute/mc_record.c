/* mc_record.c - encode rows as a Tunnel block body, checksummed and deflated.
 *
 * The stream (maxcompute-protocol-details.md section 4): per record, each
 * non-NULL column i (1-based) as TAG(i, wire type) + payload, then
 * TAG(END_RECORD, 0) + varint(record CRC); after the last record,
 * TAG(META_COUNT, 0) + varint(zigzag(count)) and TAG(META_CHECKSUM, 0) +
 * varint(CRC of the record CRCs).  The record CRC covers, per non-NULL
 * column, its index as int32 LE and then its value bytes (int64 LE for
 * BIGINT and DATETIME, the 8 wire bytes for DOUBLE, one byte for BOOLEAN,
 * the raw bytes without their length for STRING and DECIMAL).
 *
 * Rows are encoded straight into a 64 KiB staging area.  With compression
 * the area is deflated into the body whenever it fills; without, the area
 * grows and is the body.  A row is checked whole before any byte of it is
 * written, so a refused row leaves the block as it was.
 *
 * Compression is ISA-L's igzip (isal_deflate, streaming: each staging area
 * with NO_FLUSH, end_of_stream on the last), which writes the zlib format
 * the Tunnel expects with gzip_flag = IGZIP_ZLIB: the RFC 1950 header
 * 78 01 (deflate, 32 KiB window, no dictionary), the deflate data and the
 * Adler-32 of the raw bytes, big-endian.  zlib's inflate() and Python's
 * zlib.decompress read it (the unit tests check both), and so do Java's
 * Inflater and InflaterInputStream (checked once by hand, OpenJDK 17).
 * A writer holds ISA-L's stream (about 80 KiB, with its history buffer)
 * and the level buffer ISA-L's documentation suggests for the level
 * (ISAL_DEF_LVLn_DEFAULT, 276 KiB at level 1) whatever the block's size,
 * besides the staging area and the compressed body.  The public
 * compress_level keeps zlib's scale and maps onto ISA-L's four levels:
 *   -1      no compression: the body is the raw stream
 *    0      ISA-L 0 (its built-in Huffman table, no level buffer; ~110
 *           bytes of table per block): the fastest
 *    1      ISA-L 1, the SDKs' default and kmsync's
 *    2 - 5  ISA-L 2
 *    6 - 9  ISA-L 3
 * On ~200-byte rows (bench/bench_encode.c, one core) the encoder with
 * ISA-L 1 runs at ~420 MB/s of raw bytes against ~127 MB/s with zlib
 * level 1, to a smaller body (31.5% of the raw bytes against 33.8%);
 * ISA-L 0 is a few percent faster but larger (39.1%); ISA-L 2 saves 0.1
 * point for up to 10% more time and ISA-L 3 0.3 point for nearly twice
 * the time. */
#include "mc_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>

#include "util.h"

/* Field numbers of the stream's markers (odps/tunnel/wireconstants.py). */
#define KM_MC_END_RECORD 33553408u    /* 2^25 - 1024 */
#define KM_MC_META_COUNT 33554430u    /* 2^25 - 2 */
#define KM_MC_META_CHECKSUM 33554431u /* 2^25 - 1 */

#define KM_MC_WIRE_VARINT 0u
#define KM_MC_WIRE_FIXED64 1u
#define KM_MC_WIRE_BYTES 2u

#define KM_MC_STAGE_SIZE ((size_t)64 * 1024)
/* Room always made before a field: a tag (at most 5 bytes, copied as 5)
 * plus the longest fixed-size payload or length prefix (10). */
#define KM_MC_FIELD_ROOM 16
/* Record CRC input is gathered here and checksummed once per record;
 * values longer than KM_MC_CRC_DIRECT are checksummed where they lie. */
#define KM_MC_CRC_SCRATCH 512
#define KM_MC_CRC_DIRECT 128
#define KM_MC_DEFAULT_MAX_FIELD ((size_t)8 * 1024 * 1024)

/* DATETIME: 0001-01-01 00:00:00.000 to 9999-12-31 23:59:59.999 UTC, as
 * epoch milliseconds (days -719162 and 2932897 from 1970-01-01). */
#define KM_MC_DATETIME_MIN (-719162LL * 86400000LL)
#define KM_MC_DATETIME_MAX (2932897LL * 86400000LL - 1)

typedef struct km_mc_col {
        km_type_kind_t kind;
        km_cell_kind_t cell_kind;
        unsigned char tag[5];   /* varint((field << 3) | wire type) */
        unsigned char tag_len;
        unsigned char index[4]; /* the field number, int32 LE, for the CRC */
} km_mc_col_t;

struct km_mc_block {
        km_mc_col_t *cols;
        int ncols;
        int level;      /* the public level; -1: no compression */
        int isal_level; /* the ISA-L level it maps to */
        size_t max_field;

        unsigned char *stage; /* encoded, not yet deflated bytes */
        size_t len, cap;
        size_t raw_done;      /* bytes already given to deflate */

        struct isal_zstream *zs; /* compressed blocks only */
        unsigned char *level_buf;
        uint32_t level_buf_size;
        unsigned char *out;   /* the deflated body */
        size_t out_len, out_cap;

        int64_t rows;
        uint32_t crc_block;   /* ISA-L state (not inverted) */
        uint32_t crc_record;
        size_t crc_len;
        unsigned char crc_buf[KM_MC_CRC_SCRATCH];

        int finished;
        char failed[256];     /* set when deflate failed: the block is lost */
};

/* ------------------------------------------------------------- CRC32C */

/* ISA-L's crc32_iscsi neither inverts its initial value nor its result:
 * the standard CRC32C is ~crc32_iscsi(data, ~previous).  Its length is an
 * int, so long buffers go in pieces. */
static uint32_t km_crc32c_raw(uint32_t state, const void *data, size_t len)
{
        const unsigned char *p = data;
        while (len > 0) {
                size_t n = len < ((size_t)1 << 30) ? len : ((size_t)1 << 30);
                state = crc32_iscsi((unsigned char *)p, (int)n, state);
                p += n;
                len -= n;
        }
        return state;
}

uint32_t km_crc32c(uint32_t crc, const void *data, size_t len)
{
        return ~km_crc32c_raw(~crc, data, len);
}

static void km_crc_drain(km_mc_block_t *b)
{
        b->crc_record = km_crc32c_raw(b->crc_record, b->crc_buf, b->crc_len);
        b->crc_len = 0;
}

/* Feeds bytes to the record CRC. */
static inline void km_crc_put(km_mc_block_t *b, const void *p, size_t n)
{
        if (n > sizeof(b->crc_buf) - b->crc_len) {
                km_crc_drain(b);
                if (n > KM_MC_CRC_DIRECT) {
                        b->crc_record = km_crc32c_raw(b->crc_record, p, n);
                        return;
                }
        }
        memcpy(b->crc_buf + b->crc_len, p, n);
        b->crc_len += n;
}

/* --------------------------------------------------------- primitives */

static inline unsigned char *km_put_varint(unsigned char *p, uint64_t v)
{
        while (v >= 0x80) {
                *p++ = (unsigned char)(v | 0x80);
                v >>= 7;
        }
        *p++ = (unsigned char)v;
        return p;
}

static inline uint64_t km_zigzag64(int64_t v)
{
        uint64_t u = (uint64_t)v;
        return (u << 1) ^ (0 - (u >> 63));
}

static inline unsigned char *km_put_le64(unsigned char *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (unsigned char)(v >> (8 * i));
        return p + 8;
}

static inline unsigned char *km_put_tag(unsigned char *p, uint32_t field,
                                        unsigned wire)
{
        return km_put_varint(p, ((uint64_t)field << 3) | wire);
}

/* ---------------------------------------------------- staging, deflate */

static const char *km_isal_error(int rc)
{
        switch (rc) {
        case INVALID_FLUSH:
                return "invalid flush";
        case INVALID_PARAM:
                return "invalid parameter";
        case ISAL_INVALID_LEVEL:
                return "invalid level";
        case ISAL_INVALID_LEVEL_BUF:
                return "level buffer too small";
        case ISAL_INVALID_STATE:
                return "invalid state";
        case ISAL_INVALID_OPERATION:
                return "invalid operation";
        default:
                return "error";
        }
}

static void km_fail(km_mc_block_t *b, const char *what, int rc)
{
        snprintf(b->failed, sizeof(b->failed), "ISA-L %s failed: %s (%d)",
                 what, km_isal_error(rc), rc);
}

/* Deflates the staging area into the body and empties it; with `last`
 * the stream is ended (the final block, then the Adler-32 trailer). */
static int km_deflate_stage(km_mc_block_t *b, int last)
{
        struct isal_zstream *zs = b->zs;
        zs->next_in = b->stage;
        zs->avail_in = (uint32_t)b->len;
        zs->end_of_stream = last ? 1 : 0;
        for (;;) {
                if (b->out_len == b->out_cap) {
                        b->out_cap += b->out_cap / 2;
                        b->out = km_xrealloc(b->out, b->out_cap);
                }
                size_t room = b->out_cap - b->out_len;
                if (room > UINT32_MAX)
                        room = UINT32_MAX;
                const unsigned char *in0 = zs->next_in;
                int state0 = (int)zs->internal_state.state;
                zs->next_out = b->out + b->out_len;
                zs->avail_out = (uint32_t)room;
                int rc = isal_deflate(zs);
                b->out_len += room - zs->avail_out;
                if (rc != COMP_OK) {
                        km_fail(b, "isal_deflate", rc);
                        return -1;
                }
                if (last ? zs->internal_state.state == ZSTATE_END
                         : zs->avail_in == 0)
                        break;
                /* Input left or the stream not ended: either the output
                 * filled (grown above) or ISA-L moved on; never spin. */
                if (zs->avail_out == room && zs->next_in == in0 &&
                    (int)zs->internal_state.state == state0) {
                        snprintf(b->failed, sizeof(b->failed),
                                 "ISA-L isal_deflate made no progress");
                        return -1;
                }
        }
        b->raw_done += b->len;
        b->len = 0;
        return 0;
}

/* Makes room for n more bytes: deflates the staging area (n is at most
 * its size then) or, uncompressed, grows it. */
static int km_stage_make_room(km_mc_block_t *b, size_t n)
{
        if (b->level >= 0)
                return km_deflate_stage(b, 0);
        size_t cap = b->cap * 2;
        if (cap - b->len < n)
                cap = b->len + n;
        b->stage = km_xrealloc(b->stage, cap);
        b->cap = cap;
        return 0;
}

static inline int km_stage_room(km_mc_block_t *b, size_t n)
{
        if (b->cap - b->len >= n)
                return 0;
        return km_stage_make_room(b, n);
}

/* Appends raw bytes, through the staging area in pieces when they do not
 * fit in it. */
static int km_stage_put(km_mc_block_t *b, const void *data, size_t n)
{
        const unsigned char *p = data;
        if (b->level < 0 && km_stage_room(b, n) != 0)
                return -1;
        while (n > 0) {
                if (b->len == b->cap && km_deflate_stage(b, 0) != 0)
                        return -1;
                size_t k = b->cap - b->len < n ? b->cap - b->len : n;
                memcpy(b->stage + b->len, p, k);
                b->len += k;
                p += k;
                n -= k;
        }
        return 0;
}

/* ----------------------------------------------------------- checking */

static km_cell_kind_t km_cell_kind_of(km_type_kind_t t)
{
        switch (t) {
        case KM_TYPE_BIGINT:
                return KM_CELL_BIGINT;
        case KM_TYPE_DOUBLE:
                return KM_CELL_DOUBLE;
        case KM_TYPE_BOOLEAN:
                return KM_CELL_BOOLEAN;
        case KM_TYPE_STRING:
                return KM_CELL_STRING;
        case KM_TYPE_DATETIME:
                return KM_CELL_DATETIME;
        case KM_TYPE_DECIMAL:
                return KM_CELL_DECIMAL;
        }
        return KM_CELL_NULL;
}

/* The name of a cell kind, which is also its column type's name (kept
 * here so that this file needs nothing of the compiler's). */
static const char *km_cell_kind_name(km_cell_kind_t k)
{
        static const char *const names[] = {
                "NULL", "BIGINT", "DOUBLE", "BOOLEAN",
                "STRING", "DATETIME", "DECIMAL",
        };
        if ((unsigned)k < sizeof(names) / sizeof(names[0]))
                return names[k];
        return "unknown";
}

static int km_check_cell(const km_mc_block_t *b, int i, const km_cell_t *c,
                         char *err, size_t errlen)
{
        const km_mc_col_t *col = &b->cols[i];
        if (c->kind != col->cell_kind) {
                snprintf(err, errlen, "column %d: a %s value for a %s column",
                         i + 1, km_cell_kind_name(c->kind),
                         km_cell_kind_name(col->cell_kind));
                return -1;
        }
        if ((c->kind == KM_CELL_STRING || c->kind == KM_CELL_DECIMAL) &&
            c->len > b->max_field) {
                snprintf(err, errlen,
                         "column %d: a %s value of %zu bytes is over the "
                         "max field size of %zu bytes", i + 1,
                         km_cell_kind_name(c->kind), c->len, b->max_field);
                return -1;
        }
        if (c->kind == KM_CELL_DATETIME &&
            (c->i < KM_MC_DATETIME_MIN || c->i > KM_MC_DATETIME_MAX)) {
                snprintf(err, errlen,
                         "column %d: DATETIME %lld ms since the epoch is out "
                         "of range (0001-01-01 00:00:00.000 to 9999-12-31 "
                         "23:59:59.999 UTC)", i + 1, (long long)c->i);
                return -1;
        }
        return 0;
}

/* Checks the whole row before anything is written. */
static int km_check_row(const km_mc_block_t *b, const km_cell_t *cells,
                        char *err, size_t errlen)
{
        for (int i = 0; i < b->ncols; i++) {
                if (cells[i].kind != KM_CELL_NULL &&
                    km_check_cell(b, i, &cells[i], err, errlen) != 0)
                        return -1;
        }
        return 0;
}

/* ----------------------------------------------------------- encoding */

/* A length-delimited value: varint length, then the bytes. */
static int km_encode_bytes(km_mc_block_t *b, unsigned char *p,
                           const km_cell_t *c)
{
        p = km_put_varint(p, c->len);
        b->len = (size_t)(p - b->stage);
        if (c->len == 0)
                return 0;
        km_crc_put(b, c->s, c->len);
        return km_stage_put(b, c->s, c->len);
}

/* One non-NULL field; KM_MC_FIELD_ROOM bytes are free at the end of the
 * staging area. */
static inline int km_encode_field(km_mc_block_t *b, const km_mc_col_t *col,
                                  const km_cell_t *c)
{
        unsigned char *p = b->stage + b->len;
        unsigned char v[8];
        uint64_t bits;
        memcpy(p, col->tag, sizeof(col->tag));
        p += col->tag_len;
        km_crc_put(b, col->index, sizeof(col->index));
        switch (col->kind) {
        case KM_TYPE_BIGINT:
        case KM_TYPE_DATETIME:
                p = km_put_varint(p, km_zigzag64(c->i));
                km_put_le64(v, (uint64_t)c->i);
                km_crc_put(b, v, 8);
                break;
        case KM_TYPE_DOUBLE:
                memcpy(&bits, &c->d, sizeof(bits));
                km_put_le64(v, bits);
                memcpy(p, v, 8);
                p += 8;
                km_crc_put(b, v, 8);
                break;
        case KM_TYPE_BOOLEAN:
                v[0] = c->i != 0;
                *p++ = v[0];
                km_crc_put(b, v, 1);
                break;
        case KM_TYPE_STRING:
        case KM_TYPE_DECIMAL:
                return km_encode_bytes(b, p, c);
        }
        b->len = (size_t)(p - b->stage);
        return 0;
}

/* The END_RECORD marker with the record's CRC, which then feeds the
 * block's CRC as uint32 LE. */
static int km_end_record(km_mc_block_t *b)
{
        if (km_stage_room(b, KM_MC_FIELD_ROOM) != 0)
                return -1;
        km_crc_drain(b);
        uint32_t rc = ~b->crc_record;
        unsigned char le[4] = {
                (unsigned char)rc, (unsigned char)(rc >> 8),
                (unsigned char)(rc >> 16), (unsigned char)(rc >> 24),
        };
        unsigned char *p = b->stage + b->len;
        p = km_put_tag(p, KM_MC_END_RECORD, KM_MC_WIRE_VARINT);
        p = km_put_varint(p, rc);
        b->len = (size_t)(p - b->stage);
        b->crc_block = km_crc32c_raw(b->crc_block, le, sizeof(le));
        return 0;
}

static int km_encode_row(km_mc_block_t *b, const km_cell_t *cells)
{
        b->crc_record = 0xFFFFFFFFu;
        b->crc_len = 0;
        for (int i = 0; i < b->ncols; i++) {
                if (cells[i].kind == KM_CELL_NULL)
                        continue;
                if (km_stage_room(b, KM_MC_FIELD_ROOM) != 0 ||
                    km_encode_field(b, &b->cols[i], &cells[i]) != 0)
                        return -1;
        }
        return km_end_record(b);
}

/* The trailer: record count (zigzag) and the block's CRC. */
static int km_encode_trailer(km_mc_block_t *b)
{
        if (km_stage_room(b, 2 * KM_MC_FIELD_ROOM) != 0)
                return -1;
        unsigned char *p = b->stage + b->len;
        p = km_put_tag(p, KM_MC_META_COUNT, KM_MC_WIRE_VARINT);
        p = km_put_varint(p, km_zigzag64(b->rows));
        p = km_put_tag(p, KM_MC_META_CHECKSUM, KM_MC_WIRE_VARINT);
        p = km_put_varint(p, ~b->crc_block);
        b->len = (size_t)(p - b->stage);
        return 0;
}

/* ---------------------------------------------------------------- API */

static unsigned km_wire_type(km_type_kind_t t)
{
        switch (t) {
        case KM_TYPE_DOUBLE:
                return KM_MC_WIRE_FIXED64;
        case KM_TYPE_STRING:
        case KM_TYPE_DECIMAL:
                return KM_MC_WIRE_BYTES;
        default:
                return KM_MC_WIRE_VARINT;
        }
}

static void km_col_init(km_mc_col_t *col, km_type_kind_t kind, int field)
{
        unsigned char *end;
        memset(col, 0, sizeof(*col));
        col->kind = kind;
        col->cell_kind = km_cell_kind_of(kind);
        end = km_put_tag(col->tag, (uint32_t)field, km_wire_type(kind));
        col->tag_len = (unsigned char)(end - col->tag);
        for (int i = 0; i < 4; i++)
                col->index[i] = (unsigned char)((uint32_t)field >> (8 * i));
}

/* The ISA-L level for a public (zlib-style) level; see the header. */
static int km_isal_level(int level)
{
        if (level <= 0)
                return 0;
        if (level == 1)
                return 1;
        if (level <= 5)
                return 2;
        return 3;
}

/* ISA-L's suggested ("default") level buffer for each level. */
static uint32_t km_isal_level_buf_size(int isal_level)
{
        switch (isal_level) {
        case 1:
                return ISAL_DEF_LVL1_DEFAULT;
        case 2:
                return ISAL_DEF_LVL2_DEFAULT;
        case 3:
                return ISAL_DEF_LVL3_DEFAULT;
        default:
                return ISAL_DEF_LVL0_DEFAULT;
        }
}

/* (Re)starts the deflate stream: zlib wrapper (RFC 1950), 32 KiB window. */
static void km_isal_start(km_mc_block_t *b)
{
        struct isal_zstream *zs = b->zs;
        isal_deflate_init(zs);
        zs->level = (uint32_t)b->isal_level;
        zs->level_buf = b->level_buf;
        zs->level_buf_size = b->level_buf_size;
        zs->gzip_flag = IGZIP_ZLIB;
        zs->flush = NO_FLUSH;
        zs->end_of_stream = 0;
}

static void km_isal_init(km_mc_block_t *b)
{
        b->isal_level = km_isal_level(b->level);
        b->zs = km_xmalloc(sizeof(*b->zs));
        b->level_buf_size = km_isal_level_buf_size(b->isal_level);
        b->level_buf = b->level_buf_size ? km_xmalloc(b->level_buf_size)
                                         : NULL;
        b->out_cap = KM_MC_STAGE_SIZE;
        b->out = km_xmalloc(b->out_cap);
}

km_mc_block_t *km_mc_block_new(const km_type_t *types, int ncols,
                               int compress_level)
{
        if (ncols < 0 || (uint32_t)ncols >= KM_MC_END_RECORD ||
            compress_level < -1 || compress_level > 9) {
                fprintf(stderr, "kmsync: km_mc_block_new: bad arguments "
                        "(%d columns, level %d)\n", ncols, compress_level);
                abort();
        }
        km_mc_block_t *b = km_xcalloc(1, sizeof(*b));
        b->ncols = ncols;
        b->level = compress_level;
        b->max_field = KM_MC_DEFAULT_MAX_FIELD;
        b->cols = km_xcalloc(ncols > 0 ? (size_t)ncols : 1, sizeof(*b->cols));
        for (int i = 0; i < ncols; i++)
                km_col_init(&b->cols[i], types[i].kind, i + 1);
        b->cap = KM_MC_STAGE_SIZE;
        b->stage = km_xmalloc(b->cap);
        if (b->level >= 0)
                km_isal_init(b);
        km_mc_block_reset(b);
        return b;
}

void km_mc_block_free(km_mc_block_t *b)
{
        if (!b)
                return;
        free(b->zs);
        free(b->level_buf);
        free(b->out);
        free(b->stage);
        free(b->cols);
        free(b);
}

static int km_block_usable(const km_mc_block_t *b, char *err, size_t errlen)
{
        if (b->failed[0]) {
                snprintf(err, errlen, "%s", b->failed);
                return -1;
        }
        if (b->finished) {
                snprintf(err, errlen, "the block is finished; reset it "
                         "before adding rows");
                return -1;
        }
        return 0;
}

int km_mc_block_add_row(km_mc_block_t *b, const km_cell_t *cells, char *err,
                        size_t errlen)
{
        if (km_block_usable(b, err, errlen) != 0 ||
            km_check_row(b, cells, err, errlen) != 0)
                return -1;
        if (km_encode_row(b, cells) != 0) {
                snprintf(err, errlen, "%s", b->failed);
                return -1;
        }
        b->rows++;
        return 0;
}

int64_t km_mc_block_rows(const km_mc_block_t *b)
{
        return b->rows;
}

size_t km_mc_block_raw_bytes(const km_mc_block_t *b)
{
        return b->raw_done + b->len;
}

static int km_block_close(km_mc_block_t *b)
{
        if (km_encode_trailer(b) != 0)
                return -1;
        if (b->level >= 0 && km_deflate_stage(b, 1) != 0)
                return -1;
        b->finished = 1;
        return 0;
}

int km_mc_block_finish(km_mc_block_t *b, const unsigned char **body,
                       size_t *len, char *err, size_t errlen)
{
        if (!b->finished && (b->failed[0] || km_block_close(b) != 0)) {
                snprintf(err, errlen, "%s", b->failed);
                return -1;
        }
        *body = b->level >= 0 ? b->out : b->stage;
        *len = b->level >= 0 ? b->out_len : b->len;
        return 0;
}

void km_mc_block_reset(km_mc_block_t *b)
{
        b->len = 0;
        b->raw_done = 0;
        b->out_len = 0;
        b->rows = 0;
        b->crc_block = 0xFFFFFFFFu;
        b->finished = 0;
        b->failed[0] = '\0';
        if (b->level >= 0)
                km_isal_start(b);
}

void km_mc_block_set_max_field_size(km_mc_block_t *b, size_t bytes)
{
        b->max_field = bytes;
}
