/* path.h - JSON paths of MAP sources: a.a1, c[1], d[0].AA, `x.y`.z
 *
 * Members are separated by '.', array elements are [n] (0-based), and a
 * member whose key has a dot or other characters is back-quoted.  The
 * compiler parses paths once; the runtime's extractor walks the steps. */
#ifndef KMSYNC_PATH_H
#define KMSYNC_PATH_H

#include <stddef.h>

#include "kmsync/arena.h"
#include "kmsync/plan.h"

typedef struct km_path_error {
        size_t offset; /* into the path text */
        size_t length;
        char message[200];
} km_path_error_t;

/* Parses `text` into steps allocated in arena a.  Returns 0, or -1 with
 * *err saying where and why. */
int km_path_parse(km_arena_t *a, const char *text, km_path_step_t **steps,
                  int *nsteps, km_path_error_t *err);

/* The path written back in one canonical spelling (back-quotes only where
 * needed), for comparing two paths and for messages. */
char *km_path_format(km_arena_t *a, const km_path_step_t *steps, int nsteps);

#endif
