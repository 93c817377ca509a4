/* mc_record.h - the Tunnel's block body: rows in MaxCompute's protobuf
 * record format, with its CRC32C checksums, deflated as the Tunnel expects
 * (zlib stream, Content-Encoding: deflate).
 *
 * A block is built incrementally: rows are encoded into a small staging
 * area that is compressed as it fills, so a block costs about its
 * compressed size in memory whatever its raw size.  Private to runtime/. */
#ifndef KMSYNC_MC_RECORD_H
#define KMSYNC_MC_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "kmsync/plan.h"
#include "kmsync/record.h"

typedef struct km_mc_block km_mc_block_t;

/* A block writer for columns of these types (in table order).
 * compress_level: -1 no compression, else a zlib level (1 = the SDKs'
 * default).  Never NULL (aborts on out-of-memory). */
km_mc_block_t *km_mc_block_new(const km_type_t *types, int ncols,
                               int compress_level);
void km_mc_block_free(km_mc_block_t *b);

/* Appends one record.  cells[i] must be NULL or of types[i]'s kind.
 * -1 with a message when a value cannot be encoded (a DATETIME out of
 * range, a string over max_field_size). */
int km_mc_block_add_row(km_mc_block_t *b, const km_cell_t *cells, char *err,
                        size_t errlen);

int64_t km_mc_block_rows(const km_mc_block_t *b);
/* Uncompressed bytes encoded so far (what the block size limit counts). */
size_t km_mc_block_raw_bytes(const km_mc_block_t *b);

/* Ends the block (the stream's trailer: record count and the checksum of
 * all records) and returns the body to PUT, valid until the next reset. */
int km_mc_block_finish(km_mc_block_t *b, const unsigned char **body,
                       size_t *len, char *err, size_t errlen);

/* Empties the block for the next one, keeping its buffers. */
void km_mc_block_reset(km_mc_block_t *b);

/* STRING/BINARY values longer than this are refused (the session's
 * MaxFieldSize; 8 MiB by default). */
void km_mc_block_set_max_field_size(km_mc_block_t *b, size_t bytes);

/* CRC32C (Castagnoli) of data, the standard one: crc32c("123456789") =
 * 0xE3069283; `crc` is a previous result to continue from (0 to start). */
uint32_t km_crc32c(uint32_t crc, const void *data, size_t len);

#endif
