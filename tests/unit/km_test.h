/* km_test.h - helpers the unit tests share: compile a .sync text or a file
 * of the source tree, and keep its diagnostics as a string. */
#ifndef KMSYNC_KM_TEST_H
#define KMSYNC_KM_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kmsync/diag.h"
#include "kmsync/plan.h"

typedef struct km_compiled {
        km_plan_t *plan;
        char *diagnostics;
        int errors, warnings;
} km_compiled_t;

/* Compiles src (and frees it), keeping the diagnostics as text. */
static inline km_compiled_t km_test_compile_src(km_src_t *src)
{
        km_compiled_t out = {0};
        km_diag_t d;
        km_diag_init(&d, src);
        out.plan = km_compile(src, &d);
        out.diagnostics = km_diag_to_string(&d);
        out.errors = d.errors;
        out.warnings = d.warnings;
        km_diag_free(&d);
        km_src_free(src);
        return out;
}

static inline km_compiled_t km_test_compile_named(const char *name,
                                                  const char *text)
{
        return km_test_compile_src(km_src_new(name, text, strlen(text)));
}

static inline km_compiled_t km_test_compile(const char *text)
{
        return km_test_compile_named("test.sync", text);
}

/* A file of the source tree ($KMSYNC_SOURCE_DIR, else the working
 * directory), compiled. */
static inline km_compiled_t km_test_compile_file(const char *relpath)
{
        const char *root = getenv("KMSYNC_SOURCE_DIR");
        char path[4096], err[512];
        snprintf(path, sizeof(path), "%s/%s", root ? root : ".", relpath);
        km_src_t *src = km_src_load(path, err, sizeof(err));
        if (!src)
                fail_msg("%s", err);
        return km_test_compile_src(src);
}

static inline void km_test_release(km_compiled_t *c)
{
        km_plan_free(c->plan);
        free(c->diagnostics);
        memset(c, 0, sizeof(*c));
}

/* Asserts that the text compiles with no error (warnings allowed). */
#define assert_compiles(c)                                                    \
        do {                                                                  \
                if ((c).errors != 0 || !(c).plan)                             \
                        fail_msg("unexpected errors:\n%s", (c).diagnostics);  \
        } while (0)

static inline km_civil_t km_test_time(const char *text)
{
        km_civil_t t;
        if (km_civil_parse(text, &t) != 0)
                fail_msg("bad time in test: %s", text);
        return t;
}

#endif
