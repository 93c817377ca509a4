/* check_int.h - the semantic checker's shared state and its stages, one
 * file each: check.c (names, connections, clauses), check_map.c (MAP),
 * check_sched.c (SCHEDULE), check_window.c (what the templates give at
 * sample scheduled times).  Private to compiler/. */
#ifndef KMSYNC_CHECK_INT_H
#define KMSYNC_CHECK_INT_H

#include "kmsync/ast.h"
#include "kmsync/diag.h"
#include "kmsync/plan.h"

typedef struct km_checker {
        km_diag_t *d;
        const km_src_t *src;
        km_plan_t *plan;
        /* The statement each plan SYNC came from (for locations). */
        const km_sync_stmt_t **sync_stmts;
        int *sync_clean; /* 1 when the SYNC's own clauses had no error */
} km_checker_t;

/* check_map.c: MAP (or the six default columns) into sync->columns. */
void km_check_map(km_checker_t *c, const km_sync_stmt_t *s,
                  km_sync_plan_t *sync);

/* check_sched.c: SCHEDULE into sync->schedule. */
void km_check_schedule(km_checker_t *c, const km_sync_stmt_t *s,
                       km_sync_plan_t *sync);

/* check_window.c: window order, partition values, contiguity and partition
 * collisions over sample scheduled times.  Runs only on a plan with no
 * errors so far. */
void km_check_instances(km_checker_t *c, const km_sync_stmt_t *s,
                        const km_sync_plan_t *sync);

/* A scheduling-parameter template: reports its syntax errors at the exact
 * character inside the literal.  Returns 0 when it is well formed. */
int km_check_template(km_checker_t *c, const km_value_t *v, const char *what);

/* Seconds of a unit word (SECOND[S], MINUTE[S], HOUR[S], DAY[S]); 0 and an
 * error when the word is not a unit. */
int64_t km_check_unit(km_checker_t *c, const km_name_t *unit);

/* A value that must be a literal (ENV() is for connection settings). */
int km_check_literal(km_checker_t *c, const km_value_t *v, const char *what);

#endif
