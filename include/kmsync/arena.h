/* arena.h - region allocation: many small objects freed at once.
 *
 * The AST and the plan are built of many small nodes whose lifetimes end
 * together; an arena makes error recovery in the parser leak-free and frees a
 * whole plan with one call. */
#ifndef KMSYNC_ARENA_H
#define KMSYNC_ARENA_H

#include <stddef.h>

typedef struct km_arena_chunk km_arena_chunk_t;

typedef struct km_arena {
        km_arena_chunk_t *head;
} km_arena_t;

/* Zeroed memory, aligned for any type; aborts on out-of-memory. */
void *km_arena_alloc(km_arena_t *a, size_t n);
char *km_arena_strdup(km_arena_t *a, const char *s);
char *km_arena_strndup(km_arena_t *a, const char *s, size_t n);
char *km_arena_printf(km_arena_t *a, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
void km_arena_free(km_arena_t *a);

#endif
