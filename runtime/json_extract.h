/* json_extract.h - the values at a fixed set of JSON paths, in one pass.
 *
 * An extractor is made once per SYNC from its path columns' steps and then
 * run on every record value.  A run reads the whole document once
 * (simdjson's on-demand API: a SIMD index of the document, then one forward
 * walk): the mapped paths are followed through a trie of their steps, so
 * paths sharing a prefix (a.x, a.y, c[1], c[0]) are found in the same walk
 * whatever their order, and everything else is still read and validated,
 * so a value that is not JSON is an error even when every path was found
 * before the fault.  Private to libkmsync (runtime/json_extract.cpp). */
#ifndef KMSYNC_JSON_EXTRACT_H
#define KMSYNC_JSON_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "kmsync/plan.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct km_jx km_jx_t;

/* Reject what jansson (json_loadb with JSON_DECODE_ANY | JSON_ALLOW_NUL)
 * rejects beyond JSON's grammar: an integer outside int64 anywhere in the
 * document ("too big integer"), and \u0000 in an object key.  Without it
 * such integers are values (KM_JX_UINT, or KM_JX_INT with overflow set)
 * and keys may hold NULs. */
#define KM_JX_JANSSON 1u

/* Nesting deeper than this many values (the document itself is 1) is an
 * error, as in jansson. */
#define KM_JX_MAX_DEPTH 2048

typedef enum km_jx_kind {
        KM_JX_MISSING = 0, /* not in the document (or a step's type differs) */
        KM_JX_NULL,
        KM_JX_STRING, /* s, len: the unescaped bytes, NULs kept */
        KM_JX_INT,    /* i; s, len: the number as written */
        KM_JX_UINT,   /* u, above INT64_MAX; s, len as written */
        KM_JX_REAL,   /* d; s, len: the number as written ("1.50e3") */
        KM_JX_BOOL,   /* i: 0 or 1 */
        KM_JX_OBJECT, /* s, len: compact JSON text, see below */
        KM_JX_ARRAY,
} km_jx_kind_t;

/* One path's value.  s is not NUL-terminated; it and the text stay valid
 * until the next km_jx_extract() on the same extractor. */
typedef struct km_jx_value {
        km_jx_kind_t kind;
        int overflow; /* KM_JX_INT beyond int64 and uint64 (without
                         KM_JX_JANSSON): i is 0, s and len hold it */
        int64_t i;
        uint64_t u;
        double d;
        const char *s;
        size_t len;
} km_jx_value_t;

/* Why a document is not JSON: a message and the byte offset near the
 * fault (or where the walk was when it was found). */
typedef struct km_jx_error {
        char text[160];
        size_t offset;
} km_jx_error_t;

/* One path: its steps as the compiler made them (plan.h). */
typedef struct km_jx_path {
        const km_path_step_t *steps;
        int nsteps;
} km_jx_path_t;

/* An extractor of paths[0 .. npaths); the steps are copied.  flags: 0 or
 * KM_JX_JANSSON.  Never NULL (aborts when out of memory). */
km_jx_t *km_jx_new(const km_jx_path_t *paths, int npaths, unsigned flags);
void km_jx_free(km_jx_t *x);

/* Reads json[0 .. len) (no padding needed: it is copied) and fills
 * out[0 .. npaths), one value per path in the order given to km_jx_new().
 * Returns 0, or -1 with *err when the document is not JSON (out is then
 * undefined).
 *
 * Objects and arrays come back as compact text the way the mapper writes
 * them: members in document order, a repeated key once, at its first
 * place, with its last value (jansson's rule, which lookups follow too);
 * strings with only '"', '\\' and control characters escaped (\n \t \r \b
 * \f, else \u00XX), everything else as is; integers as they are, reals as
 * the shortest of %.15g, %.16g, %.17g that reads back, with ".0" when that
 * looks like an integer; a KM_JX_UINT or overflowing integer as written. */
int km_jx_extract(km_jx_t *x, const char *json, size_t len,
                  km_jx_value_t *out, km_jx_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
