/* fuzz_compile.c - libFuzzer target for the .sync front end and compiler.
 *
 * Each input is taken as the text of a .sync file: it is lexed, parsed and
 * checked by km_compile(), and every diagnostic is rendered, so the lexer,
 * the parser's error recovery, the semantic checks and the diagnostic printer
 * all see arbitrary bytes.  The same bytes, as a C string, are also given to
 * the scheduling-parameter evaluator (param.h) at a fixed time and to the
 * JSON path parser (path.h), whose canonical spelling must parse back to the
 * same steps.  Everything is freed, so LeakSanitizer sees any leak.
 *
 * Build and run: see tests/fuzz/README.md. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <stdio.h>

#include "kmsync/arena.h"
#include "kmsync/ddl.h"
#include "kmsync/civil.h"
#include "kmsync/diag.h"
#include "kmsync/param.h"
#include "kmsync/path.h"
#include "kmsync/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The instance every parameter text is evaluated for: a fixed wall clock,
 * so that a finding always reproduces. */
static const km_civil_t FUZZ_TIME = {2022, 11, 22, 10, 5, 0};

/* What a compiled plan prints: its instance at the fixed time (text and
 * JSON) and its DDL. */
static void fuzz_plan_output(const km_sync_plan_t *sync)
{
        km_instance_t in;
        char err[512];
        char *ddl = km_ddl_create_table(sync);
        free(ddl);
        if (km_instance_make(sync, &FUZZ_TIME, &in, err, sizeof(err)) != 0)
                return;
        json_decref(km_instance_to_json(&in));
        FILE *null = fopen("/dev/null", "w");
        if (null) {
                km_instance_print(null, &in);
                fclose(null);
        }
        char *alter = km_ddl_add_partition(&in);
        free(alter);
        km_instance_clear(&in);
}

static void fuzz_compile(const uint8_t *data, size_t size)
{
        km_src_t *src = km_src_new("fuzz.sync", (const char *)data, size);
        km_diag_t d;
        km_diag_init(&d, src);
        km_plan_t *plan = km_compile(src, &d);
        char *text = km_diag_to_string(&d);
        free(text);
        for (int i = 0; plan && i < plan->nsyncs; i++)
                fuzz_plan_output(plan->syncs[i]);
        km_plan_free(plan);
        km_diag_free(&d);
        km_src_free(src);
}

static void fuzz_param(const char *text)
{
        km_param_error_t err;
        memset(&err, 0, sizeof(err));
        (void)km_param_check(text, &err);
        (void)km_param_has_expr(text);
        memset(&err, 0, sizeof(err));
        char *out = km_param_eval(text, &FUZZ_TIME, &err);
        free(out);
}

static int same_steps(const km_path_step_t *a, int na,
                      const km_path_step_t *b, int nb)
{
        if (na != nb)
                return 0;
        for (int i = 0; i < na; i++) {
                if ((a[i].key == NULL) != (b[i].key == NULL))
                        return 0;
                if (!a[i].key) {
                        if (a[i].index != b[i].index)
                                return 0;
                } else if (a[i].key_len != b[i].key_len ||
                           memcmp(a[i].key, b[i].key, a[i].key_len) != 0) {
                        return 0;
                }
        }
        return 1;
}

static void fuzz_path(const char *text)
{
        km_arena_t arena = {0};
        km_path_step_t *steps = NULL;
        int nsteps = 0;
        km_path_error_t err;
        memset(&err, 0, sizeof(err));
        if (km_path_parse(&arena, text, &steps, &nsteps, &err) == 0) {
                /* The canonical spelling must read back as the same path. */
                char *canon = km_path_format(&arena, steps, nsteps);
                km_path_step_t *steps2 = NULL;
                int nsteps2 = 0;
                if (km_path_parse(&arena, canon, &steps2, &nsteps2, &err) != 0 ||
                    !same_steps(steps, nsteps, steps2, nsteps2))
                        abort();
        }
        km_arena_free(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_compile(data, size);

        /* The C-string APIs see the input up to its first NUL byte. */
        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        fuzz_param(text);
        fuzz_path(text);
        free(text);
        return 0;
}
