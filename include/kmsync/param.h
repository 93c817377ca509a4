/* param.h - DataWorks scheduling parameters, evaluated exactly as DataWorks
 * does.
 *
 * Text such as '$[yyyymmddhh24-1/24]0000' or 'ds=${yyyymmdd}' is substituted
 * for one scheduled time: $[...] from the scheduled time (second precision),
 * ${...} from the business date (the scheduled day minus one), the built-ins
 * $bizdate $cyctime $gmtdate $bizmonth ${bizdate} ${cyctime}.  Text around
 * the expressions is kept.  Evaluation is pure: the same text and time always
 * give the same result. */
#ifndef KMSYNC_PARAM_H
#define KMSYNC_PARAM_H

#include <stddef.h>

#include "kmsync/civil.h"

/* Where and why a text failed to evaluate. */
typedef struct km_param_error {
        size_t offset;     /* byte offset in the text where the problem is */
        size_t length;     /* bytes it covers (>= 1) */
        char message[256]; /* lowercase, quotes the input, names the fix */
} km_param_error_t;

/* Substitutes every expression of `text` for the instance scheduled at wall
 * clock `sched`.  Returns a malloc'd string (caller frees), or NULL with *err
 * filled when the text does not parse, names an unknown token or parameter,
 * contains a space or '=' inside an expression, or the result leaves the
 * years 1..9999. */
char *km_param_eval(const char *text, const km_civil_t *sched,
                    km_param_error_t *err);

/* Checks the syntax of every expression of `text` without a time.  Returns 0,
 * or -1 with *err filled (same rules as km_param_eval). */
int km_param_check(const char *text, km_param_error_t *err);

/* 1 if text holds at least one expression ($[...], ${...} or a built-in). */
int km_param_has_expr(const char *text);

#endif
