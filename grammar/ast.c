/* ast.c - building the syntax tree: the parser's actions, the lexer's
 * helpers, and km_parse(), the entry point of the front end.
 *
 * Builders check only what the grammar cannot say: a clause given twice in
 * one statement.  Everything about meaning waits for compiler/check.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/util.h"
#include "parse_ctx.h"
#include "parser.h"
#include "lexer.h"

/* ------------------------------------------------------------------ lexer */

int km_lex_parse_int(const char *digits, int64_t *out)
{
        int64_t v = 0;
        for (const char *p = digits; *p; p++) {
                int d = *p - '0';
                if (v > (INT64_MAX - d) / 10)
                        return -1;
                v = v * 10 + d;
        }
        *out = v;
        return 0;
}

char *km_lex_unquote(km_arena_t *a, const char *text, size_t len, char quote)
{
        char *out = km_arena_alloc(a, len);
        size_t n = 0;
        for (size_t i = 1; i + 1 < len; i++) {
                out[n++] = text[i];
                if (text[i] == quote && text[i + 1] == quote)
                        i++;
        }
        out[n] = '\0';
        return out;
}

int km_lex_invalid(struct km_lex_extra *x, union KM_YYSTYPE *val,
                   const char *why)
{
        x->invalid_reason = why;
        val->str = NULL;
        return INVALID;
}

int km_lex_invalid_char(struct km_lex_extra *x, union KM_YYSTYPE *val, char c)
{
        unsigned char u = (unsigned char)c;
        const char *why;
        if (u == '"')
                why = "unexpected '\"': strings are written in single quotes";
        else if (u >= 0x80)
                why = "unexpected non-ASCII character: names with such "
                      "characters must be back-quoted";
        else if (u < 0x20 || u == 0x7f)
                why = "unexpected control character";
        else
                why = km_arena_printf(x->arena, "unexpected character '%c'",
                                      c);
        return km_lex_invalid(x, val, why);
}

/* ---------------------------------------------------------- syntax errors */

static int is_keyword_name(const char *bison_name)
{
        if (!*bison_name)
                return 0;
        for (const char *p = bison_name; *p; p++)
                if (*p < 'A' || *p > 'Z')
                        return 0;
        return 1;
}

/* 'INTO' for keywords, ';' for punctuation, a plain word for classes. */
static void describe_token(const char *bison_name, char *buf, size_t len)
{
        if (is_keyword_name(bison_name))
                snprintf(buf, len, "'%s'", bison_name);
        else
                snprintf(buf, len, "%s", bison_name);
}

/* Drops keywords from an expected-token list that also expects a name:
 * every keyword may serve as a name, and listing fifty helps nobody. */
static int prune_expected(const char **expected, int n)
{
        int has_name = 0;
        for (int i = 0; i < n; i++)
                has_name |= strcmp(expected[i], "name") == 0;
        if (!has_name)
                return n;
        int m = 0;
        for (int i = 0; i < n; i++)
                if (!is_keyword_name(expected[i]) &&
                    strcmp(expected[i], "back-quoted name") != 0)
                        expected[m++] = expected[i];
        return m;
}

static void append_expected(km_buf_t *msg, const char **expected, int n)
{
        char word[64];
        km_buf_puts(msg, n > 3 ? ", expected one of " : ", expected ");
        for (int i = 0; i < n; i++) {
                describe_token(expected[i], word, sizeof(word));
                if (i > 0)
                        km_buf_puts(msg, i == n - 1 ? " or " : ", ");
                km_buf_puts(msg, word);
        }
}

static int expects_string(const char **expected, int n)
{
        for (int i = 0; i < n; i++)
                if (strcmp(expected[i], "string") == 0)
                        return 1;
        return 0;
}

void km_parse_report(struct km_parse_ctx *ctx, const km_loc_t *loc,
                     const char *got, int got_invalid, const char **expected,
                     int nexpected)
{
        km_buf_t msg = {0};
        ctx->errors++;
        if (got_invalid) {
                km_diag_error(ctx->diag, *loc, "%s", ctx->lex.invalid_reason);
                return;
        }
        if (!got) {
                km_buf_puts(&msg, "unexpected end of file");
        } else {
                const char *text = km_src_text(ctx->src) + loc->start;
                int len = loc->end - loc->start;
                km_buf_printf(&msg, "unexpected '%.*s'", len > 40 ? 40 : len,
                              text);
        }
        nexpected = prune_expected(expected, nexpected);
        if (nexpected > 0)
                append_expected(&msg, expected, nexpected);
        if (got && strcmp(got, "double-quoted string") == 0 &&
            expects_string(expected, nexpected))
                km_buf_puts(&msg, " (strings are written in single quotes)");
        char *s = km_buf_take(&msg);
        km_diag_error(ctx->diag, *loc, "%s", s);
        free(s);
}

/* ------------------------------------------------------------ statements */

static km_stmt_t *new_stmt(struct km_parse_ctx *ctx, km_stmt_kind_t kind,
                           const km_loc_t *loc)
{
        km_stmt_t *s = km_arena_alloc(&ctx->ast->arena, sizeof(*s));
        /* The statement before never reached its ';'. */
        if (ctx->cur)
                ctx->cur->broken = 1;
        s->kind = kind;
        s->loc = *loc;
        *ctx->ast->tail = s;
        ctx->ast->tail = &s->next;
        ctx->cur = s;
        return s;
}

void km_build_end_stmt(struct km_parse_ctx *ctx, int broken)
{
        if (ctx->cur && broken)
                ctx->cur->broken = 1;
        ctx->cur = NULL;
}

/* Records that a clause was seen; reports a second one.  Returns 1 for the
 * first, so that the caller stores its value only once. */
static int clause_once(struct km_parse_ctx *ctx, km_clause_loc_t *seen,
                       const km_loc_t *loc, const char *what)
{
        if (seen->set) {
                km_diag_error(ctx->diag, *loc,
                              "%s is given twice: remove one of them", what);
                km_diag_note(ctx->diag, seen->loc, "%s was first given here",
                             what);
                return 0;
        }
        seen->set = 1;
        seen->loc = *loc;
        return 1;
}

#define CUR(kind_, member)                                                    \
        (ctx->cur && ctx->cur->kind == (kind_) ? &ctx->cur->u.member : NULL)

void km_build_kafka(struct km_parse_ctx *ctx, const km_loc_t *loc,
                    const km_name_t *name)
{
        km_stmt_t *s = new_stmt(ctx, KM_STMT_KAFKA, loc);
        s->u.kafka.name = *name;
}

void km_build_kafka_brokers(struct km_parse_ctx *ctx, const km_loc_t *loc,
                            const km_value_t *v)
{
        km_kafka_stmt_t *k = CUR(KM_STMT_KAFKA, kafka);
        if (k && clause_once(ctx, &k->c_brokers, loc, "BROKERS"))
                k->brokers = *v;
}

void km_build_kafka_options(struct km_parse_ctx *ctx, const km_loc_t *loc,
                            km_option_t *opts)
{
        km_kafka_stmt_t *k = CUR(KM_STMT_KAFKA, kafka);
        if (k && clause_once(ctx, &k->c_options, loc, "OPTIONS"))
                k->options = opts;
}

km_option_t *km_build_option(struct km_parse_ctx *ctx, const km_value_t *k,
                             const km_value_t *v)
{
        km_option_t *o = km_arena_alloc(&ctx->ast->arena, sizeof(*o));
        o->key = *k;
        o->value = *v;
        if (!v->is_env && km_key_is_secret(k->text))
                km_diag_redact(ctx->diag, v->loc);
        return o;
}

#define APPEND_TO_LIST(type, list, item)                                      \
        do {                                                                  \
                type *last_ = (list);                                         \
                if (!last_)                                                   \
                        return (item);                                        \
                while (last_->next)                                           \
                        last_ = last_->next;                                  \
                last_->next = (item);                                         \
                return (list);                                                \
        } while (0)

km_option_t *km_build_option_append(km_option_t *list, km_option_t *o)
{
        APPEND_TO_LIST(km_option_t, list, o);
}

void km_build_mc(struct km_parse_ctx *ctx, const km_loc_t *loc,
                 const km_name_t *name)
{
        km_stmt_t *s = new_stmt(ctx, KM_STMT_MAXCOMPUTE, loc);
        s->u.mc.name = *name;
}

void km_build_mc_endpoint(struct km_parse_ctx *ctx, const km_loc_t *loc,
                          const km_value_t *v, int tunnel)
{
        km_mc_stmt_t *m = CUR(KM_STMT_MAXCOMPUTE, mc);
        if (!m)
                return;
        if (tunnel && clause_once(ctx, &m->c_tunnel, loc, "TUNNEL ENDPOINT"))
                m->tunnel_endpoint = *v;
        else if (!tunnel && clause_once(ctx, &m->c_endpoint, loc, "ENDPOINT"))
                m->endpoint = *v;
}

void km_build_mc_project(struct km_parse_ctx *ctx, const km_loc_t *loc,
                         const km_name_t *n, int schema)
{
        km_mc_stmt_t *m = CUR(KM_STMT_MAXCOMPUTE, mc);
        if (!m)
                return;
        if (schema && clause_once(ctx, &m->c_schema, loc, "SCHEMA"))
                m->schema = *n;
        else if (!schema && clause_once(ctx, &m->c_project, loc, "PROJECT"))
                m->project = *n;
}

void km_build_mc_access(struct km_parse_ctx *ctx, const km_loc_t *loc,
                        const km_value_t *id, const km_value_t *secret)
{
        km_mc_stmt_t *m = CUR(KM_STMT_MAXCOMPUTE, mc);
        if (!secret->is_env)
                km_diag_redact(ctx->diag, secret->loc);
        if (m && clause_once(ctx, &m->c_access, loc, "ACCESS KEY")) {
                m->access_id = *id;
                m->access_secret = *secret;
        }
}

void km_build_mc_sts(struct km_parse_ctx *ctx, const km_loc_t *loc,
                     const km_value_t *token)
{
        km_mc_stmt_t *m = CUR(KM_STMT_MAXCOMPUTE, mc);
        if (!token->is_env)
                km_diag_redact(ctx->diag, token->loc);
        if (m && clause_once(ctx, &m->c_sts, loc, "STS TOKEN"))
                m->sts_token = *token;
}

void km_build_mc_options(struct km_parse_ctx *ctx, const km_loc_t *loc,
                         km_option_t *opts)
{
        km_mc_stmt_t *m = CUR(KM_STMT_MAXCOMPUTE, mc);
        if (m && clause_once(ctx, &m->c_options, loc, "OPTIONS"))
                m->options = opts;
}

/* Splits "conn.table" (either part may be back-quoted) into two names. */
static int split_target(struct km_parse_ctx *ctx, const char *text,
                        const km_loc_t *loc, km_name_t *conn, km_name_t *table)
{
        km_name_t parts[2];
        int n = 0, pos = 0, len = (int)strlen(text);
        while (pos <= len && n < 3) {
                int start = pos, quoted = text[pos] == '`';
                km_buf_t b = {0};
                if (quoted) {
                        for (pos++; pos < len; pos++) {
                                if (text[pos] == '`' && text[pos + 1] == '`')
                                        pos++;
                                else if (text[pos] == '`')
                                        break;
                                km_buf_putc(&b, text[pos]);
                        }
                        pos++;
                } else {
                        while (pos < len && text[pos] != '.') {
                                char c = text[pos++];
                                if (c == '[' || c == ']' || c == '`') {
                                        free(b.data);
                                        return -1;
                                }
                                km_buf_putc(&b, c);
                        }
                }
                if (b.len == 0 || (pos < len && text[pos] != '.')) {
                        free(b.data);
                        return -1;
                }
                if (n < 2)
                        parts[n] = (km_name_t){
                                km_arena_strdup(&ctx->ast->arena, b.data),
                                {loc->start + start, loc->start + pos},
                                quoted};
                n++;
                free(b.data);
                pos++; /* the dot */
        }
        if (n != 2)
                return -1;
        *conn = parts[0];
        *table = parts[1];
        return 0;
}

static km_sync_stmt_t *start_sync(struct km_parse_ctx *ctx,
                                  const km_loc_t *loc, const km_name_t *name,
                                  const km_name_t *from)
{
        km_stmt_t *s = new_stmt(ctx, KM_STMT_SYNC, loc);
        km_sync_stmt_t *y = &s->u.sync;
        y->name = *name;
        y->from = *from;
        return y;
}

void km_build_sync(struct km_parse_ctx *ctx, const km_loc_t *loc,
                   const km_name_t *name, const km_name_t *from,
                   const char *target, const km_loc_t *target_loc)
{
        km_sync_stmt_t *y = start_sync(ctx, loc, name, from);
        y->into_loc = *target_loc;
        if (split_target(ctx, target, target_loc, &y->into, &y->table) != 0) {
                km_diag_error(ctx->diag, *target_loc,
                              "'%s' is not a target: write "
                              "connection.table, e.g. prod_mc.ods_orders",
                              target);
                ctx->errors++;
        }
}

void km_build_sync_bad_target(struct km_parse_ctx *ctx, const km_loc_t *loc,
                              const km_name_t *name, const km_name_t *from,
                              const km_name_t *target)
{
        km_sync_stmt_t *y = start_sync(ctx, loc, name, from);
        y->into_loc = target->loc;
        km_diag_error(ctx->diag, target->loc,
                      "INTO needs connection.table: add the table name, e.g. "
                      "%s.%s",
                      target->text, name->text);
        ctx->errors++;
}

static km_sync_stmt_t *cur_sync(struct km_parse_ctx *ctx)
{
        return CUR(KM_STMT_SYNC, sync);
}

void km_build_value_clause(struct km_parse_ctx *ctx, const km_loc_t *loc,
                           km_clause_kind_t kind, const km_value_t *v)
{
        km_sync_stmt_t *y = cur_sync(ctx);
        if (!y)
                return;
        switch (kind) {
        case KM_CL_TOPIC:
                if (clause_once(ctx, &y->c_topic, loc, "TOPIC"))
                        y->topic = *v;
                break;
        case KM_CL_GROUP:
                if (clause_once(ctx, &y->c_group, loc, "GROUP"))
                        y->group = *v;
                break;
        case KM_CL_ENCODING:
                if (clause_once(ctx, &y->c_encoding, loc, "ENCODING"))
                        y->encoding = *v;
                break;
        case KM_CL_TIMEZONE:
                if (clause_once(ctx, &y->c_timezone, loc, "TIMEZONE"))
                        y->timezone = *v;
                break;
        default:
                break;
        }
}

void km_build_int_clause(struct km_parse_ctx *ctx, const km_loc_t *loc,
                         km_clause_kind_t kind, const km_int_t *v)
{
        km_sync_stmt_t *y = cur_sync(ctx);
        if (!y)
                return;
        if (kind == KM_CL_ERRORS &&
            clause_once(ctx, &y->c_errors, loc, "ERRORS LIMIT"))
                y->errors_limit = *v;
        else if (kind == KM_CL_LIFECYCLE &&
                 clause_once(ctx, &y->c_lifecycle, loc, "LIFECYCLE"))
                y->lifecycle = *v;
}

void km_build_serde(struct km_parse_ctx *ctx, const km_loc_t *loc,
                    int is_value, const km_name_t *type)
{
        km_sync_stmt_t *y = cur_sync(ctx);
        if (!y)
                return;
        if (is_value && clause_once(ctx, &y->c_value, loc, "VALUE"))
                y->value_type = *type;
        else if (!is_value && clause_once(ctx, &y->c_key, loc, "KEY"))
                y->key_type = *type;
}

void km_build_window(struct km_parse_ctx *ctx, const km_loc_t *loc,
                     const km_value_t *from, const km_value_t *to)
{
        km_sync_stmt_t *y = cur_sync(ctx);
        if (y && clause_once(ctx, &y->c_window, loc, "WINDOW")) {
                y->window_from = *from;
                y->window_to = *to;
        }
}

void km_build_partition(struct km_parse_ctx *ctx, const km_loc_t *loc,
                        km_partition_item_t *items)
{
        km_sync_stmt_t *y = cur_sync(ctx);
        if (y && clause_once(ctx, &y->c_partition, loc, "PARTITION"))
                y->partition = items;
}

void km_build_end(struct km_parse_ctx *ctx, const km_loc_t *loc,
                  const km_duration_t *idle)
{
        km_sync_stmt_t *y = cur_sync(ctx);
        if (!y || !clause_once(ctx, &y->c_end, loc, "END"))
                return;
        y->end = idle ? KM_END_IDLE : KM_END_WINDOW_END;
        if (idle)
                y->idle = *idle;
}

void km_build_retry(struct km_parse_ctx *ctx, const km_loc_t *loc,
                    const km_int_t *times, const km_duration_t *every)
{
        km_sync_stmt_t *y = cur_sync(ctx);
        if (!y || !clause_once(ctx, &y->c_retry, loc, "RETRY"))
                return;
        y->retry_times = *times;
        if (every)
                y->retry_every = *every;
}

void km_build_write(struct km_parse_ctx *ctx, const km_loc_t *loc,
                    km_write_form_t mode)
{
        km_sync_stmt_t *y = cur_sync(ctx);
        if (y && clause_once(ctx, &y->c_write, loc, "WRITE"))
                y->write = mode;
}

void km_build_map(struct km_parse_ctx *ctx, const km_loc_t *loc,
                  km_map_item_t *items)
{
        km_sync_stmt_t *y = cur_sync(ctx);
        if (y && clause_once(ctx, &y->c_map, loc, "MAP"))
                y->map = items;
}

/* -------------------------------------------------------------- schedule */

static km_sched_clause_t *cur_sched(struct km_parse_ctx *ctx,
                                    const km_loc_t *loc)
{
        km_sync_stmt_t *y = cur_sync(ctx);
        if (!y)
                return NULL;
        /* A second SCHEDULE clause is reported by km_build_schedule_done();
         * its contents must not overwrite the first. */
        if (y->schedule.set)
                return NULL;
        y->schedule.loc = *loc;
        return &y->schedule;
}

void km_build_sched_every(struct km_parse_ctx *ctx, const km_loc_t *loc,
                          const km_duration_t *every, const km_value_t *from,
                          const km_value_t *to)
{
        km_sched_clause_t *s = cur_sched(ctx, loc);
        if (!s)
                return;
        s->form = KM_SF_EVERY;
        s->every = *every;
        if (from) {
                s->from = *from;
                s->to = *to;
        }
}

void km_build_sched_hourly(struct km_parse_ctx *ctx, const km_loc_t *loc,
                           const km_int_t *minute)
{
        km_sched_clause_t *s = cur_sched(ctx, loc);
        if (!s)
                return;
        s->form = KM_SF_HOURLY;
        s->minute = *minute;
}

void km_build_sched_at(struct km_parse_ctx *ctx, const km_loc_t *loc,
                       km_sched_form_t form, km_day_item_t *days,
                       const km_value_t *at)
{
        km_sched_clause_t *s = cur_sched(ctx, loc);
        if (!s)
                return;
        s->form = form;
        s->days = days;
        s->at = *at;
}

void km_build_schedule_done(struct km_parse_ctx *ctx, const km_loc_t *loc)
{
        km_sync_stmt_t *y = cur_sync(ctx);
        if (y && clause_once(ctx, &y->c_schedule, loc, "SCHEDULE"))
                y->schedule.set = 1;
}

km_day_item_t *km_build_weekday(struct km_parse_ctx *ctx, const km_loc_t *loc,
                                const km_name_t *name)
{
        km_day_item_t *d = km_arena_alloc(&ctx->ast->arena, sizeof(*d));
        d->name = *name;
        d->loc = *loc;
        return d;
}

km_day_item_t *km_build_mday(struct km_parse_ctx *ctx, const km_loc_t *loc,
                             const km_int_t *day, int last)
{
        km_day_item_t *d = km_arena_alloc(&ctx->ast->arena, sizeof(*d));
        if (day)
                d->day = *day;
        d->last = last;
        d->loc = *loc;
        return d;
}

km_day_item_t *km_build_day_append(km_day_item_t *list, km_day_item_t *d)
{
        APPEND_TO_LIST(km_day_item_t, list, d);
}

/* ------------------------------------------------------ partition and map */

km_partition_item_t *km_build_part(struct km_parse_ctx *ctx,
                                   const km_name_t *key, const km_value_t *v)
{
        km_partition_item_t *p = km_arena_alloc(&ctx->ast->arena, sizeof(*p));
        p->key = *key;
        p->value = *v;
        return p;
}

km_partition_item_t *km_build_part_append(km_partition_item_t *list,
                                          km_partition_item_t *p)
{
        APPEND_TO_LIST(km_partition_item_t, list, p);
}

km_map_item_t *km_build_map_item(struct km_parse_ctx *ctx,
                                 km_map_source_kind_t kind, const char *source,
                                 const km_loc_t *source_loc,
                                 const km_name_t *column,
                                 const km_type_ref_t *type)
{
        km_map_item_t *m = km_arena_alloc(&ctx->ast->arena, sizeof(*m));
        m->kind = kind;
        m->source = source;
        m->source_loc = *source_loc;
        m->column = *column;
        m->type = *type;
        return m;
}

const char *km_build_name_path(struct km_parse_ctx *ctx, const km_name_t *n)
{
        if (!n->quoted)
                return n->text;
        km_buf_t b = {0};
        km_buf_putc(&b, '`');
        for (const char *p = n->text; *p; p++) {
                if (*p == '`')
                        km_buf_putc(&b, '`');
                km_buf_putc(&b, *p);
        }
        km_buf_putc(&b, '`');
        char *out = km_arena_strdup(&ctx->ast->arena, b.data);
        free(b.data);
        return out;
}

km_map_item_t *km_build_map_append(km_map_item_t *list, km_map_item_t *item)
{
        APPEND_TO_LIST(km_map_item_t, list, item);
}

km_type_ref_t km_build_type(struct km_parse_ctx *ctx, const km_loc_t *loc,
                            const km_name_t *name, int nargs,
                            const km_int_t *a, const km_int_t *b)
{
        (void)ctx;
        km_type_ref_t t = {0};
        if (!name)
                return t;
        t.set = 1;
        t.name = *name;
        t.loc = *loc;
        t.nargs = nargs;
        if (a)
                t.args[0] = *a;
        if (b)
                t.args[1] = *b;
        return t;
}

km_duration_t km_build_duration(const km_loc_t *loc, const km_int_t *amount,
                                const km_name_t *unit)
{
        return (km_duration_t){*amount, *unit, *loc, 1};
}

/* ----------------------------------------------------------- entry point */

int km_parse(const km_src_t *src, km_ast_t *ast, km_diag_t *d)
{
        memset(ast, 0, sizeof(*ast));
        ast->tail = &ast->stmts;
        struct km_parse_ctx ctx = {.ast = ast, .diag = d, .src = src};
        ctx.lex.arena = &ast->arena;
        yyscan_t scanner;
        if (km_yylex_init_extra(&ctx.lex, &scanner) != 0) {
                km_diag_file_error(d, "cannot start the lexer");
                return 1;
        }
        ctx.scanner = scanner;
        YY_BUFFER_STATE buf = km_yy_scan_bytes(km_src_text(src),
                                               (int)km_src_len(src), scanner);
        if (km_yyparse(&ctx) != 0 && ctx.errors == 0) {
                km_diag_file_error(d, "the parser gave up (file too deeply "
                                      "nested or out of memory)");
                ctx.errors++;
        }
        /* The parser gave up at the end of the file without reaching the
         * statement's ';': it is cut short like one recovered at a ';'. */
        km_build_end_stmt(&ctx, 1);
        km_yy_delete_buffer(buf, scanner);
        km_yylex_destroy(scanner);
        return ctx.errors;
}

void km_ast_free(km_ast_t *ast)
{
        km_arena_free(&ast->arena);
        ast->stmts = NULL;
        ast->tail = &ast->stmts;
}
