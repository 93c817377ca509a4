/* parse_ctx.h - the parser's context and the AST builders its actions call
 * (implemented in ast.c).  Private to grammar/. */
#ifndef KMSYNC_PARSE_CTX_H
#define KMSYNC_PARSE_CTX_H

#include "kmsync/ast.h"
#include "kmsync/diag.h"
#include "lex_extra.h"

struct km_parse_ctx {
        km_ast_t *ast;
        km_diag_t *diag;
        const km_src_t *src;
        void *scanner;
        struct km_lex_extra lex;
        km_stmt_t *cur; /* the statement being built, NULL after an error */
        int errors;
};

/* Value clauses of SYNC, by kind. */
typedef enum km_clause_kind {
        KM_CL_TOPIC,
        KM_CL_GROUP,
        KM_CL_ENCODING,
        KM_CL_TIMEZONE,
        KM_CL_ERRORS,
        KM_CL_LIFECYCLE,
} km_clause_kind_t;

void km_parse_report(struct km_parse_ctx *ctx, const km_loc_t *loc,
                     const char *got, int got_invalid, const char **expected,
                     int nexpected);
/* Ends the statement being built; `broken` marks it as cut short by a
 * syntax error, so that check.c does not report what it lacks. */
void km_build_end_stmt(struct km_parse_ctx *ctx, int broken);

void km_build_kafka(struct km_parse_ctx *ctx, const km_loc_t *loc,
                    const km_name_t *name);
void km_build_kafka_brokers(struct km_parse_ctx *ctx, const km_loc_t *loc,
                            const km_value_t *v);
void km_build_kafka_options(struct km_parse_ctx *ctx, const km_loc_t *loc,
                            km_option_t *opts);
km_option_t *km_build_option(struct km_parse_ctx *ctx, const km_value_t *k,
                             const km_value_t *v);
km_option_t *km_build_option_append(km_option_t *list, km_option_t *o);

void km_build_mc(struct km_parse_ctx *ctx, const km_loc_t *loc,
                 const km_name_t *name);
void km_build_mc_endpoint(struct km_parse_ctx *ctx, const km_loc_t *loc,
                          const km_value_t *v, int tunnel);
void km_build_mc_project(struct km_parse_ctx *ctx, const km_loc_t *loc,
                         const km_name_t *n, int schema);
void km_build_mc_access(struct km_parse_ctx *ctx, const km_loc_t *loc,
                        const km_value_t *id, const km_value_t *secret);
void km_build_mc_sts(struct km_parse_ctx *ctx, const km_loc_t *loc,
                     const km_value_t *token);
void km_build_mc_options(struct km_parse_ctx *ctx, const km_loc_t *loc,
                         km_option_t *opts);

void km_build_sync(struct km_parse_ctx *ctx, const km_loc_t *loc,
                   const km_name_t *name, const km_name_t *from,
                   const char *target, const km_loc_t *target_loc);
void km_build_sync_bad_target(struct km_parse_ctx *ctx, const km_loc_t *loc,
                              const km_name_t *name, const km_name_t *from,
                              const km_name_t *target);
void km_build_value_clause(struct km_parse_ctx *ctx, const km_loc_t *loc,
                           km_clause_kind_t kind, const km_value_t *v);
void km_build_int_clause(struct km_parse_ctx *ctx, const km_loc_t *loc,
                         km_clause_kind_t kind, const km_int_t *v);
void km_build_serde(struct km_parse_ctx *ctx, const km_loc_t *loc,
                    int is_value, const km_name_t *type);
void km_build_window(struct km_parse_ctx *ctx, const km_loc_t *loc,
                     const km_value_t *from, const km_value_t *to);
void km_build_partition(struct km_parse_ctx *ctx, const km_loc_t *loc,
                        km_partition_item_t *items);
void km_build_end(struct km_parse_ctx *ctx, const km_loc_t *loc,
                  const km_duration_t *idle);
void km_build_retry(struct km_parse_ctx *ctx, const km_loc_t *loc,
                    const km_int_t *times, const km_duration_t *every);
void km_build_write(struct km_parse_ctx *ctx, const km_loc_t *loc,
                    km_write_form_t mode);
void km_build_map(struct km_parse_ctx *ctx, const km_loc_t *loc,
                  km_map_item_t *items);

void km_build_sched_every(struct km_parse_ctx *ctx, const km_loc_t *loc,
                          const km_duration_t *every, const km_value_t *from,
                          const km_value_t *to);
void km_build_sched_hourly(struct km_parse_ctx *ctx, const km_loc_t *loc,
                           const km_int_t *minute);
void km_build_sched_at(struct km_parse_ctx *ctx, const km_loc_t *loc,
                       km_sched_form_t form, km_day_item_t *days,
                       const km_value_t *at);
void km_build_schedule_done(struct km_parse_ctx *ctx, const km_loc_t *loc);
km_day_item_t *km_build_weekday(struct km_parse_ctx *ctx, const km_loc_t *loc,
                                const km_name_t *name);
km_day_item_t *km_build_mday(struct km_parse_ctx *ctx, const km_loc_t *loc,
                             const km_int_t *day, int last);
km_day_item_t *km_build_day_append(km_day_item_t *list, km_day_item_t *d);

km_partition_item_t *km_build_part(struct km_parse_ctx *ctx,
                                   const km_name_t *key, const km_value_t *v);
km_partition_item_t *km_build_part_append(km_partition_item_t *list,
                                          km_partition_item_t *p);
km_map_item_t *km_build_map_item(struct km_parse_ctx *ctx,
                                 km_map_source_kind_t kind, const char *source,
                                 const km_loc_t *source_loc,
                                 const km_name_t *column,
                                 const km_type_ref_t *type);
/* A MAP source written as a single name: back-quoted names stay quoted so
 * that `a.b` is one key and `__key__` a JSON key, not the record field. */
const char *km_build_name_path(struct km_parse_ctx *ctx, const km_name_t *n);
km_map_item_t *km_build_map_append(km_map_item_t *list, km_map_item_t *item);
km_type_ref_t km_build_type(struct km_parse_ctx *ctx, const km_loc_t *loc,
                            const km_name_t *name, int nargs,
                            const km_int_t *a, const km_int_t *b);
km_duration_t km_build_duration(const km_loc_t *loc, const km_int_t *amount,
                                const km_name_t *unit);

#endif
