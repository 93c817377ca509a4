/* diag.h - source text, locations and compiler diagnostics.
 *
 * A km_src_t keeps a file's text and a map of where its lines start, so that
 * every stage can locate things by byte range (km_loc_t) and only the printer
 * turns a range into line:column.  A km_diag_t collects diagnostics of one
 * file and never exits: the compiler reports every error of a file in one
 * pass, then prints them as
 *
 *     file:line:col: error: message
 *       source line
 *       ^~~~
 */
#ifndef KMSYNC_DIAG_H
#define KMSYNC_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* A byte range [start, end) of the source text. */
typedef struct km_loc {
        int start;
        int end;
} km_loc_t;

typedef struct km_src km_src_t;

/* Copies `len` bytes of text.  Never fails except on out-of-memory (abort). */
km_src_t *km_src_new(const char *name, const char *text, size_t len);
/* Reads a file ("-" is standard input).  NULL with a message in errbuf when
 * it cannot be read. */
km_src_t *km_src_load(const char *path, char *errbuf, size_t errlen);
void km_src_free(km_src_t *src);
const char *km_src_name(const km_src_t *src);
const char *km_src_text(const km_src_t *src);
size_t km_src_len(const km_src_t *src);
/* 1-based line and byte column of a byte offset. */
void km_src_position(const km_src_t *src, int offset, int *line, int *col);

typedef enum km_severity {
        KM_SEV_ERROR,
        KM_SEV_WARNING,
        KM_SEV_NOTE,
} km_severity_t;

typedef struct km_diag_entry {
        km_severity_t severity;
        km_loc_t loc;
        int has_loc; /* 0: a file-level message without a line */
        char *message;
} km_diag_entry_t;

typedef struct km_diag {
        const km_src_t *src;
        km_diag_entry_t *entries;
        size_t count, cap;
        km_loc_t *redacted; /* ranges shown as *** in excerpts: secrets */
        size_t nredacted;
        int errors;
        int warnings;
} km_diag_t;

void km_diag_init(km_diag_t *d, const km_src_t *src);
void km_diag_free(km_diag_t *d);

void km_diag_error(km_diag_t *d, km_loc_t loc, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void km_diag_warning(km_diag_t *d, km_loc_t loc, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* A note belongs to the diagnostic just before it ("first defined here"). */
void km_diag_note(km_diag_t *d, km_loc_t loc, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void km_diag_add(km_diag_t *d, km_severity_t sev, km_loc_t loc,
                 const char *fmt, va_list ap);
/* A diagnostic about the whole file (no line to show). */
void km_diag_file_error(km_diag_t *d, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Marks a range of the source (a secret literal) that excerpts must never
 * show: its characters print as '*'. */
void km_diag_redact(km_diag_t *d, km_loc_t loc);

/* Prints every diagnostic in source order (notes stay with their parent). */
void km_diag_print(const km_diag_t *d, FILE *out);
/* Same, into a malloc'd string (for tests). */
char *km_diag_to_string(const km_diag_t *d);

/* A location made from a sub-range of a string literal: `offset` bytes into
 * the literal's decoded text, `len` bytes long, mapped back onto the source
 * (the literal starts with its opening quote at lit.start). */
km_loc_t km_loc_in_literal(const km_src_t *src, km_loc_t lit, size_t offset,
                           size_t len);

#endif
