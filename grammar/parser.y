/* parser.y - the grammar of the .sync language; builds the AST (ast.h).
 *
 * Pure (reentrant) bison parser with byte-range locations.  Actions only
 * build nodes through the builders of ast.c; meaning is checked later, in
 * compiler/check.c.  Every token has an alias so that messages name what the
 * user wrote ("expected 'INTO'"), never a bison symbol.  Errors recover at
 * the next ';' so that one pass reports every statement's problems. */
%define api.pure full
%define api.prefix {km_yy}
%define api.location.type {km_loc_t}
%define parse.error custom
%locations
%expect 0
%parse-param {struct km_parse_ctx *ctx}
%lex-param {void *scanner}

%code requires {
#include <stdint.h>
#include "kmsync/ast.h"
#include "kmsync/diag.h"
struct km_parse_ctx;
#define YYLLOC_DEFAULT(cur, rhs, n)                                     \
        do {                                                            \
                if (n) {                                                \
                        (cur).start = YYRHSLOC(rhs, 1).start;           \
                        (cur).end = YYRHSLOC(rhs, n).end;               \
                } else {                                                \
                        (cur).start = (cur).end = YYRHSLOC(rhs, 0).end; \
                }                                                       \
        } while (0)
}

%code provides {
#define YYSTYPE KM_YYSTYPE
#define YYLTYPE KM_YYLTYPE
int km_yylex(KM_YYSTYPE *lval, KM_YYLTYPE *lloc, void *scanner);
}

%code {
#include "parse_ctx.h"
#define scanner (ctx->scanner)
static void yyerror(const KM_YYLTYPE *loc, struct km_parse_ctx *ctx,
                    const char *msg);
}

%union {
        char *str;
        int64_t num;
        km_name_t name;
        km_value_t value;
        km_int_t integer;
        km_duration_t duration;
        km_type_ref_t type;
        km_option_t *option;
        km_map_item_t *map;
        km_partition_item_t *part;
        km_day_item_t *day;
}

%token <str> KAFKA "KAFKA" CONNECTION "CONNECTION" BROKERS "BROKERS"
%token <str> OPTIONS "OPTIONS" ENV "ENV" MAXCOMPUTE "MAXCOMPUTE"
%token <str> ENDPOINT "ENDPOINT" TUNNEL "TUNNEL" PROJECT "PROJECT"
%token <str> SCHEMA "SCHEMA" ACCESS "ACCESS" KEY "KEY" SECRET "SECRET"
%token <str> STS "STS" TOKEN "TOKEN" SYNC "SYNC" FROM "FROM" INTO "INTO"
%token <str> TOPIC "TOPIC" GROUP "GROUP" VALUE "VALUE" ENCODING "ENCODING"
%token <str> TIMEZONE "TIMEZONE" WINDOW "WINDOW" TO "TO"
%token <str> PARTITION "PARTITION" SCHEDULE "SCHEDULE" EVERY "EVERY"
%token <str> HOURLY "HOURLY" DAILY "DAILY" WEEKLY "WEEKLY" MONTHLY "MONTHLY"
%token <str> AT "AT" ON "ON" DAY "DAY" LAST "LAST" MINUTE "MINUTE"
%token <str> END "END" WHEN "WHEN" IDLE "IDLE" RETRY "RETRY" TIMES "TIMES"
%token <str> ERRORS "ERRORS" LIMIT "LIMIT" MAP "MAP" AS "AS"
%token <str> LIFECYCLE "LIFECYCLE" WRITE "WRITE" OVERWRITE "OVERWRITE"
%token <str> APPEND "APPEND"
%token <str> IDENT "name" QIDENT "back-quoted name" PATH "path"
%token <str> STRING "string" DQSTRING "double-quoted string"
%token <str> INVALID "invalid token"
%token <num> INT "number"

%type <name> name keyword
%type <value> strval
%type <integer> integer
%type <duration> duration
%type <type> opt_type
%type <option> options option_list option
%type <map> map_list map_item
%type <part> part_list part_item
%type <day> weekday_list mday_list mday

%%

file:
  %empty
| file stmt
;

/* After an error, parsing resumes at the next ';' or at the next
 * statement's first word (a forgotten ';' must not swallow the statement
 * that follows it). */
stmt:
  stmt_body
| error ';'                     { km_build_end_stmt(ctx, 1); yyerrok; }
| error stmt_body
;

stmt_body:
  kafka_head kafka_clauses ';'  { km_build_end_stmt(ctx, 0); }
| mc_head mc_clauses ';'        { km_build_end_stmt(ctx, 0); }
| sync_head sync_clauses ';'    { km_build_end_stmt(ctx, 0); }
;

/* ---- KAFKA CONNECTION name BROKERS '...' [OPTIONS (...)] ---- */
kafka_head:
  KAFKA CONNECTION name     { km_build_kafka(ctx, &@$, &$3); }
;

kafka_clauses:
  %empty
| kafka_clauses kafka_clause
;

kafka_clause:
  BROKERS strval            { km_build_kafka_brokers(ctx, &@$, &$2); }
| options                   { km_build_kafka_options(ctx, &@$, $1); }
;

options:
  OPTIONS '(' option_list ')'   { $$ = $3; }
;

option_list:
  option                        { $$ = $1; }
| option_list ',' option        { $$ = km_build_option_append($1, $3); }
;

option:
  strval '=' strval             { $$ = km_build_option(ctx, &$1, &$3); }
;

/* ---- MAXCOMPUTE CONNECTION name ... ---- */
mc_head:
  MAXCOMPUTE CONNECTION name    { km_build_mc(ctx, &@$, &$3); }
;

mc_clauses:
  %empty
| mc_clauses mc_clause
;

mc_clause:
  ENDPOINT strval                   { km_build_mc_endpoint(ctx, &@$, &$2, 0); }
| TUNNEL ENDPOINT strval            { km_build_mc_endpoint(ctx, &@$, &$3, 1); }
| PROJECT name                      { km_build_mc_project(ctx, &@$, &$2, 0); }
| SCHEMA name                       { km_build_mc_project(ctx, &@$, &$2, 1); }
| ACCESS KEY strval SECRET strval   { km_build_mc_access(ctx, &@$, &$3, &$5); }
| STS TOKEN strval                  { km_build_mc_sts(ctx, &@$, &$3); }
| options                           { km_build_mc_options(ctx, &@$, $1); }
;

/* ---- SYNC name FROM conn INTO conn.table clauses... ---- */
sync_head:
  SYNC name FROM name INTO PATH     { km_build_sync(ctx, &@$, &$2, &$4, $6, &@6); }
| SYNC name FROM name INTO name     { km_build_sync_bad_target(ctx, &@$, &$2, &$4, &$6); }
;

sync_clauses:
  %empty
| sync_clauses sync_clause
;

sync_clause:
  TOPIC strval                  { km_build_value_clause(ctx, &@$, KM_CL_TOPIC, &$2); }
| GROUP strval                  { km_build_value_clause(ctx, &@$, KM_CL_GROUP, &$2); }
| KEY name                      { km_build_serde(ctx, &@$, 0, &$2); }
| VALUE name                    { km_build_serde(ctx, &@$, 1, &$2); }
| ENCODING strval               { km_build_value_clause(ctx, &@$, KM_CL_ENCODING, &$2); }
| TIMEZONE strval               { km_build_value_clause(ctx, &@$, KM_CL_TIMEZONE, &$2); }
| WINDOW FROM strval TO strval  { km_build_window(ctx, &@$, &$3, &$5); }
| PARTITION '(' part_list ')'   { km_build_partition(ctx, &@$, $3); }
| SCHEDULE schedule             { km_build_schedule_done(ctx, &@$); }
| END AT WINDOW END             { km_build_end(ctx, &@$, NULL); }
| END WHEN IDLE duration        { km_build_end(ctx, &@$, &$4); }
| RETRY integer TIMES           { km_build_retry(ctx, &@$, &$2, NULL); }
| RETRY integer TIMES EVERY duration { km_build_retry(ctx, &@$, &$2, &$5); }
| ERRORS LIMIT integer          { km_build_int_clause(ctx, &@$, KM_CL_ERRORS, &$3); }
| LIFECYCLE integer             { km_build_int_clause(ctx, &@$, KM_CL_LIFECYCLE, &$2); }
| WRITE OVERWRITE               { km_build_write(ctx, &@$, KM_WRITE_OVERWRITE); }
| WRITE APPEND                  { km_build_write(ctx, &@$, KM_WRITE_APPEND); }
| MAP '(' map_list ')'          { km_build_map(ctx, &@$, $3); }
;

schedule:
  EVERY duration                        { km_build_sched_every(ctx, &@$, &$2, NULL, NULL); }
| EVERY duration FROM strval TO strval  { km_build_sched_every(ctx, &@$, &$2, &$4, &$6); }
| HOURLY AT MINUTE integer              { km_build_sched_hourly(ctx, &@$, &$4); }
| DAILY AT strval                       { km_build_sched_at(ctx, &@$, KM_SF_DAILY, NULL, &$3); }
| WEEKLY ON weekday_list AT strval      { km_build_sched_at(ctx, &@$, KM_SF_WEEKLY, $3, &$5); }
| MONTHLY ON mday_list AT strval        { km_build_sched_at(ctx, &@$, KM_SF_MONTHLY, $3, &$5); }
;

weekday_list:
  name                          { $$ = km_build_weekday(ctx, &@$, &$1); }
| weekday_list ',' name         { $$ = km_build_day_append($1, km_build_weekday(ctx, &@3, &$3)); }
;

mday_list:
  mday                          { $$ = $1; }
| mday_list ',' mday            { $$ = km_build_day_append($1, $3); }
;

mday:
  DAY integer                   { $$ = km_build_mday(ctx, &@$, &$2, 0); }
| integer                       { $$ = km_build_mday(ctx, &@$, &$1, 0); }
| LAST DAY                      { $$ = km_build_mday(ctx, &@$, NULL, 1); }
;

part_list:
  part_item                     { $$ = $1; }
| part_list ',' part_item       { $$ = km_build_part_append($1, $3); }
;

part_item:
  name '=' strval               { $$ = km_build_part(ctx, &$1, &$3); }
;

map_list:
  map_item                      { $$ = $1; }
| map_list ',' map_item         { $$ = km_build_map_append($1, $3); }
;

map_item:
  name AS name opt_type         { $$ = km_build_map_item(ctx, KM_MAP_PATH, km_build_name_path(ctx, &$1), &@1, &$3, &$4); }
| PATH AS name opt_type         { $$ = km_build_map_item(ctx, KM_MAP_PATH, $1, &@1, &$3, &$4); }
| STRING AS name opt_type       { $$ = km_build_map_item(ctx, KM_MAP_CONSTANT, $1, &@1, &$3, &$4); }
| DQSTRING AS name opt_type     { $$ = km_build_map_item(ctx, KM_MAP_DQUOTED, $1, &@1, &$3, &$4); }
;

opt_type:
  %empty                                { $$ = km_build_type(ctx, NULL, NULL, 0, NULL, NULL); }
| name                                  { $$ = km_build_type(ctx, &@$, &$1, 0, NULL, NULL); }
| name '(' integer ')'                  { $$ = km_build_type(ctx, &@$, &$1, 1, &$3, NULL); }
| name '(' integer ',' integer ')'      { $$ = km_build_type(ctx, &@$, &$1, 2, &$3, &$5); }
;

duration:
  integer name                  { $$ = km_build_duration(&@$, &$1, &$2); }
;

integer:
  INT                           { $$ = (km_int_t){$1, @1, 1}; }
;

strval:
  STRING                        { $$ = (km_value_t){$1, @1, 0, 1}; }
| ENV '(' STRING ')'            { $$ = (km_value_t){$3, @3, 1, 1}; }
;

name:
  IDENT                         { $$ = (km_name_t){$1, @1, 0}; }
| QIDENT                        { $$ = (km_name_t){$1, @1, 1}; }
| keyword                       { $$ = $1; }
;

/* Keywords are not reserved: a column may be called `key` or `value`. */
keyword:
  KAFKA { $$ = (km_name_t){$1, @1, 0}; } | CONNECTION { $$ = (km_name_t){$1, @1, 0}; }
| BROKERS { $$ = (km_name_t){$1, @1, 0}; } | OPTIONS { $$ = (km_name_t){$1, @1, 0}; }
| ENV { $$ = (km_name_t){$1, @1, 0}; } | MAXCOMPUTE { $$ = (km_name_t){$1, @1, 0}; }
| ENDPOINT { $$ = (km_name_t){$1, @1, 0}; } | TUNNEL { $$ = (km_name_t){$1, @1, 0}; }
| PROJECT { $$ = (km_name_t){$1, @1, 0}; } | SCHEMA { $$ = (km_name_t){$1, @1, 0}; }
| ACCESS { $$ = (km_name_t){$1, @1, 0}; } | KEY { $$ = (km_name_t){$1, @1, 0}; }
| SECRET { $$ = (km_name_t){$1, @1, 0}; } | STS { $$ = (km_name_t){$1, @1, 0}; }
| TOKEN { $$ = (km_name_t){$1, @1, 0}; } | SYNC { $$ = (km_name_t){$1, @1, 0}; }
| FROM { $$ = (km_name_t){$1, @1, 0}; } | INTO { $$ = (km_name_t){$1, @1, 0}; }
| TOPIC { $$ = (km_name_t){$1, @1, 0}; } | GROUP { $$ = (km_name_t){$1, @1, 0}; }
| VALUE { $$ = (km_name_t){$1, @1, 0}; } | ENCODING { $$ = (km_name_t){$1, @1, 0}; }
| TIMEZONE { $$ = (km_name_t){$1, @1, 0}; } | WINDOW { $$ = (km_name_t){$1, @1, 0}; }
| TO { $$ = (km_name_t){$1, @1, 0}; } | PARTITION { $$ = (km_name_t){$1, @1, 0}; }
| SCHEDULE { $$ = (km_name_t){$1, @1, 0}; } | EVERY { $$ = (km_name_t){$1, @1, 0}; }
| HOURLY { $$ = (km_name_t){$1, @1, 0}; } | DAILY { $$ = (km_name_t){$1, @1, 0}; }
| WEEKLY { $$ = (km_name_t){$1, @1, 0}; } | MONTHLY { $$ = (km_name_t){$1, @1, 0}; }
| AT { $$ = (km_name_t){$1, @1, 0}; } | ON { $$ = (km_name_t){$1, @1, 0}; }
| DAY { $$ = (km_name_t){$1, @1, 0}; } | LAST { $$ = (km_name_t){$1, @1, 0}; }
| MINUTE { $$ = (km_name_t){$1, @1, 0}; } | END { $$ = (km_name_t){$1, @1, 0}; }
| WHEN { $$ = (km_name_t){$1, @1, 0}; } | IDLE { $$ = (km_name_t){$1, @1, 0}; }
| RETRY { $$ = (km_name_t){$1, @1, 0}; } | TIMES { $$ = (km_name_t){$1, @1, 0}; }
| ERRORS { $$ = (km_name_t){$1, @1, 0}; } | LIMIT { $$ = (km_name_t){$1, @1, 0}; }
| MAP { $$ = (km_name_t){$1, @1, 0}; } | AS { $$ = (km_name_t){$1, @1, 0}; }
| LIFECYCLE { $$ = (km_name_t){$1, @1, 0}; } | WRITE { $$ = (km_name_t){$1, @1, 0}; }
| OVERWRITE { $$ = (km_name_t){$1, @1, 0}; } | APPEND { $$ = (km_name_t){$1, @1, 0}; }
;

%%

/* Reports a syntax error as "unexpected X, expected A, B or C"; an INVALID
 * token carries the lexer's own reason instead. */
static int yyreport_syntax_error(const yypcontext_t *pctx,
                                 struct km_parse_ctx *ctx)
{
        enum { MAX_EXPECTED = 96 };
        yysymbol_kind_t expected[MAX_EXPECTED];
        yysymbol_kind_t got = yypcontext_token(pctx);
        int n = yypcontext_expected_tokens(pctx, expected, MAX_EXPECTED);
        const char *names[MAX_EXPECTED];
        for (int i = 0; i < n && i < MAX_EXPECTED; i++)
                names[i] = yysymbol_name(expected[i]);
        km_parse_report(ctx, yypcontext_location(pctx),
                        got == YYSYMBOL_YYEOF ? NULL : yysymbol_name(got),
                        got == YYSYMBOL_INVALID, names, n);
        return 0;
}

static void yyerror(const KM_YYLTYPE *loc, struct km_parse_ctx *ctx,
                    const char *msg)
{
        km_diag_error(ctx->diag, *loc, "%s", msg);
        ctx->errors++;
}
