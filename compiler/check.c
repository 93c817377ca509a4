/* check.c - semantic checks: turn a syntax tree into a checked plan.
 *
 * Resolves connection names, validates every clause, applies the documented
 * defaults, and copies what the runtime needs into the plan's arena.  Every
 * problem is reported (with its location) and checking goes on, so one run
 * of `kmsync check` shows all of a file's errors.  MAP, SCHEDULE and the
 * sample-time checks have files of their own. */
#include <iconv.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "kmsync/param.h"
#include "util.h"

#define ARENA (&c->plan->arena)
#define DUP(s) ((s) ? km_arena_strdup(ARENA, (s)) : NULL)

/* ------------------------------------------------------------ helpers */

int km_check_literal(km_checker_t *c, const km_value_t *v, const char *what)
{
        if (!v->is_env)
                return 1;
        km_diag_error(c->d, v->loc,
                      "%s cannot come from ENV(): ENV() is for connection "
                      "settings and secrets; write the text in quotes",
                      what);
        return 0;
}

int km_check_template(km_checker_t *c, const km_value_t *v, const char *what)
{
        km_param_error_t err;
        if (!km_check_literal(c, v, what))
                return -1;
        if (km_param_check(v->text, &err) == 0)
                return 0;
        km_loc_t at = km_loc_in_literal(c->src, v->loc, err.offset,
                                        err.length);
        km_diag_error(c->d, at, "%s: %s", what, err.message);
        return -1;
}

int64_t km_check_unit(km_checker_t *c, const km_name_t *unit)
{
        static const struct {
                const char *name;
                int64_t seconds;
        } units[] = {
                {"SECOND", 1},   {"SECONDS", 1},   {"MINUTE", 60},
                {"MINUTES", 60}, {"HOUR", 3600},   {"HOURS", 3600},
                {"DAY", 86400},  {"DAYS", 86400},
        };
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                if (km_strcaseeq(unit->text, units[i].name))
                        return units[i].seconds;
        km_diag_error(c->d, unit->loc,
                      "unknown unit '%s': write SECONDS, MINUTES, HOURS or "
                      "DAYS",
                      unit->text);
        return 0;
}

static km_setting_t make_setting(km_checker_t *c, const char *key,
                                 const km_value_t *v, int secret)
{
        if (secret && v->set && !v->is_env)
                km_diag_warning(c->d, v->loc,
                                "a secret is written in the file: keep it out "
                                "of version control with ENV('VARIABLE')");
        return (km_setting_t){DUP(key), DUP(v->text), v->is_env, secret};
}

static km_setting_t *make_options(km_checker_t *c, const km_option_t *opts,
                                  int *count)
{
        int n = 0;
        for (const km_option_t *o = opts; o; o = o->next)
                n++;
        km_setting_t *out = km_arena_alloc(ARENA, sizeof(*out) * (size_t)n);
        n = 0;
        for (const km_option_t *o = opts; o; o = o->next) {
                if (o->key.is_env)
                        km_diag_error(c->d, o->key.loc,
                                      "an option name cannot come from "
                                      "ENV(): write it in quotes");
                for (const km_option_t *p = opts; p != o; p = p->next)
                        if (strcmp(p->key.text, o->key.text) == 0) {
                                km_diag_error(c->d, o->key.loc,
                                              "option '%s' is given twice",
                                              o->key.text);
                                km_diag_note(c->d, p->key.loc,
                                             "first given here");
                                break;
                        }
                out[n++] = make_setting(c, o->key.text, &o->value,
                                        km_key_is_secret(o->key.text));
        }
        *count = n;
        return out;
}

/* -------------------------------------------------------- connections */

static const km_name_t *stmt_name(const km_stmt_t *s)
{
        switch (s->kind) {
        case KM_STMT_KAFKA:
                return &s->u.kafka.name;
        case KM_STMT_MAXCOMPUTE:
                return &s->u.mc.name;
        default:
                return &s->u.sync.name;
        }
}

static int is_connection(const km_stmt_t *s)
{
        return s->kind == KM_STMT_KAFKA || s->kind == KM_STMT_MAXCOMPUTE;
}

/* Connections share one namespace; SYNCs have their own. */
static void check_duplicate_names(km_checker_t *c, const km_ast_t *ast)
{
        for (const km_stmt_t *s = ast->stmts; s; s = s->next) {
                for (const km_stmt_t *p = ast->stmts; p != s; p = p->next) {
                        if (is_connection(p) != is_connection(s) ||
                            !km_strcaseeq(stmt_name(p)->text,
                                          stmt_name(s)->text))
                                continue;
                        km_diag_error(c->d, stmt_name(s)->loc,
                                      "%s '%s' is defined twice: rename one "
                                      "of them",
                                      is_connection(s) ? "connection" : "SYNC",
                                      stmt_name(s)->text);
                        km_diag_note(c->d, stmt_name(p)->loc,
                                     "first defined here");
                        break;
                }
        }
}

static void check_kafka(km_checker_t *c, const km_stmt_t *s)
{
        const km_kafka_stmt_t *k = &s->u.kafka;
        km_kafka_conn_t *conn = km_arena_alloc(ARENA, sizeof(*conn));
        conn->name = DUP(k->name.text);
        if (!k->brokers.set)
                km_diag_error(c->d, k->name.loc,
                              "KAFKA CONNECTION %s has no BROKERS: add "
                              "BROKERS 'host1:9092,host2:9092'",
                              k->name.text);
        else if (!k->brokers.is_env && k->brokers.text[0] == '\0')
                km_diag_error(c->d, k->brokers.loc,
                              "BROKERS is empty: list host:port pairs "
                              "separated by commas");
        conn->brokers = DUP(k->brokers.text);
        conn->brokers_from_env = k->brokers.is_env;
        conn->options = make_options(c, k->options, &conn->noptions);
        c->plan->kafka = km_xrealloc(c->plan->kafka,
                                     sizeof(*c->plan->kafka) *
                                             (size_t)(c->plan->nkafka + 1));
        c->plan->kafka[c->plan->nkafka++] = conn;
}

/* Options the MaxCompute target understands; anything else is a typo. */
static const char *const mc_option_keys[] = {
        "tls.verify", "block.size.mb", "parallel.blocks", "compression",
        "http.timeout.s", "retry.max",
};

static void check_mc_options(km_checker_t *c, const km_option_t *opts)
{
        for (const km_option_t *o = opts; o; o = o->next) {
                int known = 0;
                for (size_t i = 0;
                     i < sizeof(mc_option_keys) / sizeof(mc_option_keys[0]);
                     i++)
                        known |= strcmp(o->key.text, mc_option_keys[i]) == 0;
                if (!known)
                        km_diag_error(c->d, o->key.loc,
                                      "unknown MAXCOMPUTE option '%s': the "
                                      "options are 'tls.verify', "
                                      "'block.size.mb', 'parallel.blocks', "
                                      "'compression', 'http.timeout.s' and "
                                      "'retry.max'",
                                      o->key.text);
        }
}

static void check_endpoint(km_checker_t *c, const km_value_t *v,
                           const char *what)
{
        if (!v->set || v->is_env)
                return;
        if (strncmp(v->text, "http://", 7) != 0 &&
            strncmp(v->text, "https://", 8) != 0)
                km_diag_error(c->d, v->loc,
                              "%s '%s' is not a URL: write "
                              "'https://service.<region>.maxcompute."
                              "aliyun.com/api'",
                              what, v->text);
}

static void check_mc(km_checker_t *c, const km_stmt_t *s)
{
        const km_mc_stmt_t *m = &s->u.mc;
        km_mc_conn_t *conn = km_arena_alloc(ARENA, sizeof(*conn));
        conn->name = DUP(m->name.text);
        if (!m->endpoint.set)
                km_diag_error(c->d, m->name.loc,
                              "MAXCOMPUTE CONNECTION %s has no ENDPOINT: add "
                              "ENDPOINT 'https://service.<region>."
                              "maxcompute.aliyun.com/api'",
                              m->name.text);
        if (!m->c_project.set)
                km_diag_error(c->d, m->name.loc,
                              "MAXCOMPUTE CONNECTION %s has no PROJECT: add "
                              "PROJECT <name>",
                              m->name.text);
        if (!m->c_access.set)
                km_diag_error(c->d, m->name.loc,
                              "MAXCOMPUTE CONNECTION %s has no credentials: "
                              "add ACCESS KEY ENV('ALIBABA_CLOUD_ACCESS_KEY_"
                              "ID') SECRET ENV('ALIBABA_CLOUD_ACCESS_KEY_"
                              "SECRET')",
                              m->name.text);
        check_endpoint(c, &m->endpoint, "ENDPOINT");
        check_endpoint(c, &m->tunnel_endpoint, "TUNNEL ENDPOINT");
        check_mc_options(c, m->options);
        conn->endpoint = DUP(m->endpoint.text);
        conn->tunnel_endpoint = DUP(m->tunnel_endpoint.text);
        conn->endpoint_from_env = m->endpoint.is_env;
        conn->tunnel_endpoint_from_env = m->tunnel_endpoint.is_env;
        conn->project = DUP(m->project.text);
        conn->schema = DUP(m->schema.text);
        conn->access_id = make_setting(c, "access_key_id", &m->access_id, 0);
        conn->access_secret =
                make_setting(c, "access_key_secret", &m->access_secret, 1);
        if (m->c_sts.set)
                conn->sts_token = make_setting(c, "sts_token", &m->sts_token, 1);
        conn->options = make_options(c, m->options, &conn->noptions);
        c->plan->mc = km_xrealloc(c->plan->mc, sizeof(*c->plan->mc) *
                                                       (size_t)(c->plan->nmc + 1));
        c->plan->mc[c->plan->nmc++] = conn;
}

/* ------------------------------------------------ connection references */

/* The closest connection of the wanted kind: suggesting one of the other
 * kind would only lead to the next error. */
static const char *closest_name(const km_ast_t *ast, const char *name,
                                km_stmt_kind_t want)
{
        const char *best = NULL;
        int best_d = 3; /* suggest only close names */
        for (const km_stmt_t *s = ast->stmts; s; s = s->next) {
                if (s->kind != want)
                        continue;
                int dist = km_edit_distance(name, stmt_name(s)->text);
                if (dist < best_d) {
                        best_d = dist;
                        best = stmt_name(s)->text;
                }
        }
        return best;
}

static const km_stmt_t *find_connection(const km_ast_t *ast, const char *name)
{
        for (const km_stmt_t *s = ast->stmts; s; s = s->next)
                if (is_connection(s) && km_strcaseeq(stmt_name(s)->text, name))
                        return s;
        return NULL;
}

/* Resolves `ref` to a connection of kind `want`; reports an unknown name or
 * the wrong kind.  Returns the statement or NULL. */
static const km_stmt_t *resolve_connection(km_checker_t *c,
                                           const km_ast_t *ast,
                                           const km_name_t *ref,
                                           km_stmt_kind_t want,
                                           const char *clause)
{
        const char *want_kind = want == KM_STMT_KAFKA ? "KAFKA" : "MAXCOMPUTE";
        if (!ref->text)
                return NULL;
        const km_stmt_t *s = find_connection(ast, ref->text);
        if (!s) {
                const char *near = closest_name(ast, ref->text, want);
                if (near)
                        km_diag_error(c->d, ref->loc,
                                      "unknown connection '%s'; did you mean "
                                      "'%s'?",
                                      ref->text, near);
                else
                        km_diag_error(c->d, ref->loc,
                                      "unknown connection '%s': define it "
                                      "with %s CONNECTION %s ...",
                                      ref->text, want_kind, ref->text);
                return NULL;
        }
        if (s->kind != want) {
                km_diag_error(c->d, ref->loc,
                              "'%s' is a %s connection, but %s needs a %s "
                              "connection",
                              ref->text,
                              s->kind == KM_STMT_KAFKA ? "KAFKA" : "MAXCOMPUTE",
                              clause, want_kind);
                km_diag_note(c->d, stmt_name(s)->loc, "'%s' is defined here",
                             ref->text);
                return NULL;
        }
        return s;
}

static const void *plan_connection(const km_plan_t *plan, const char *name,
                                   km_stmt_kind_t kind)
{
        if (kind == KM_STMT_KAFKA) {
                for (int i = 0; i < plan->nkafka; i++)
                        if (km_strcaseeq(plan->kafka[i]->name, name))
                                return plan->kafka[i];
        } else {
                for (int i = 0; i < plan->nmc; i++)
                        if (km_strcaseeq(plan->mc[i]->name, name))
                                return plan->mc[i];
        }
        return NULL;
}

/* -------------------------------------------------------- SYNC clauses */

static void check_topic(km_checker_t *c, const km_sync_stmt_t *s,
                        km_sync_plan_t *sync)
{
        const char *topic = s->topic.set ? s->topic.text : s->name.text;
        sync->topic = DUP(topic);
        if (s->topic.set && !km_check_literal(c, &s->topic, "TOPIC"))
                return;
        size_t n = strlen(topic);
        km_loc_t at = s->topic.set ? s->topic.loc : s->name.loc;
        int ok = n > 0 && n <= 249;
        for (size_t i = 0; i < n; i++) {
                char ch = topic[i];
                if (!((ch >= 'a' && ch <= 'z') ||
                      (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '.' || ch == '_' || ch == '-'))
                        ok = 0;
        }
        if (!ok)
                km_diag_error(c->d, at,
                              "'%s' is not a Kafka topic name: use 1 to 249 "
                              "of a-z A-Z 0-9 . _ -%s",
                              topic,
                              s->topic.set ? ""
                                           : " (without TOPIC the topic is "
                                             "the SYNC's name; add TOPIC "
                                             "'name')");
}

static void check_serde(km_checker_t *c, const km_name_t *n, km_serde_t dflt,
                        km_serde_t *out)
{
        static const struct {
                const char *name;
                km_serde_t serde;
        } serdes[] = {
                {"STRING", KM_SERDE_STRING}, {"BYTES", KM_SERDE_BYTES},
                {"JSON", KM_SERDE_JSON},     {"LONG", KM_SERDE_LONG},
                {"DOUBLE", KM_SERDE_DOUBLE},
        };
        *out = dflt;
        if (!n->text)
                return;
        for (size_t i = 0; i < sizeof(serdes) / sizeof(serdes[0]); i++)
                if (km_strcaseeq(n->text, serdes[i].name)) {
                        *out = serdes[i].serde;
                        return;
                }
        km_diag_error(c->d, n->loc,
                      "unknown type '%s' for KEY/VALUE: write STRING, BYTES, "
                      "JSON, LONG or DOUBLE",
                      n->text);
}

static void check_encoding(km_checker_t *c, const km_sync_stmt_t *s,
                           km_sync_plan_t *sync)
{
        sync->encoding = DUP(s->encoding.set ? s->encoding.text : "UTF-8");
        if (!s->encoding.set || !km_check_literal(c, &s->encoding, "ENCODING"))
                return;
        iconv_t cd = iconv_open("UTF-8", s->encoding.text);
        if (cd == (iconv_t)-1) {
                km_diag_error(c->d, s->encoding.loc,
                              "unknown ENCODING '%s': write 'UTF-8', 'GBK', "
                              "'GB18030' or another name iconv knows",
                              s->encoding.text);
                return;
        }
        iconv_close(cd);
}

static const km_tz_t *plan_zone(km_checker_t *c, const char *name,
                                char *err, size_t errlen)
{
        km_plan_t *plan = c->plan;
        for (int i = 0; i < plan->nzones; i++)
                if (strcmp(km_tz_name(plan->zones[i]), name) == 0)
                        return plan->zones[i];
        km_tz_t *tz = km_tz_load(name, err, errlen);
        if (!tz)
                return NULL;
        plan->zones = km_xrealloc(plan->zones, sizeof(*plan->zones) *
                                                       (size_t)(plan->nzones + 1));
        plan->zones[plan->nzones++] = tz;
        return tz;
}

static void check_timezone(km_checker_t *c, const km_sync_stmt_t *s,
                           km_sync_plan_t *sync)
{
        char err[256];
        if (!s->timezone.set) {
                km_diag_warning(c->d, s->name.loc,
                                "SYNC %s gives no TIMEZONE: its times are "
                                "read in UTC; add e.g. TIMEZONE "
                                "'Asia/Shanghai' (DataWorks uses the "
                                "region's zone)",
                                s->name.text);
                sync->timezone = DUP("UTC");
                sync->tz = plan_zone(c, "UTC", err, sizeof(err));
                return;
        }
        sync->timezone = DUP(s->timezone.text);
        if (!km_check_literal(c, &s->timezone, "TIMEZONE"))
                return;
        sync->tz = plan_zone(c, s->timezone.text, err, sizeof(err));
        if (!sync->tz)
                km_diag_error(c->d, s->timezone.loc,
                              "unknown time zone '%s': write an IANA name "
                              "such as 'Asia/Shanghai' or 'UTC'",
                              s->timezone.text);
}

static void check_window(km_checker_t *c, const km_sync_stmt_t *s,
                         km_sync_plan_t *sync)
{
        if (!s->c_window.set) {
                km_diag_error(c->d, s->name.loc,
                              "SYNC %s has no WINDOW: add e.g. WINDOW FROM "
                              "'$[yyyymmddhh24-1/24]0000' TO "
                              "'$[yyyymmddhh24]0000'",
                              s->name.text);
                return;
        }
        km_check_template(c, &s->window_from, "WINDOW FROM");
        km_check_template(c, &s->window_to, "WINDOW TO");
        sync->window_from = DUP(s->window_from.text);
        sync->window_to = DUP(s->window_to.text);
}

static int valid_column_name(const char *name)
{
        size_t n = strlen(name);
        if (n == 0 || n > 128)
                return 0;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)name[i] < 0x20 || name[i] == '`')
                        return 0;
        return 1;
}

static void check_partition(km_checker_t *c, const km_sync_stmt_t *s,
                            km_sync_plan_t *sync)
{
        int n = 0;
        for (const km_partition_item_t *p = s->partition; p; p = p->next)
                n++;
        sync->partition = km_arena_alloc(ARENA, sizeof(*sync->partition) *
                                                        (size_t)n);
        if (n > 6)
                km_diag_error(c->d, s->c_partition.loc,
                              "%d partition levels: MaxCompute allows at "
                              "most 6",
                              n);
        for (const km_partition_item_t *p = s->partition; p; p = p->next) {
                for (const km_partition_item_t *q = s->partition; q != p;
                     q = q->next)
                        if (km_strcaseeq(q->key.text, p->key.text)) {
                                km_diag_error(c->d, p->key.loc,
                                              "partition column '%s' is "
                                              "named twice",
                                              p->key.text);
                                km_diag_note(c->d, q->key.loc,
                                             "first named here");
                                break;
                        }
                if (!valid_column_name(p->key.text))
                        km_diag_error(c->d, p->key.loc,
                                      "'%s' is not a column name",
                                      p->key.text);
                km_check_template(c, &p->value, "PARTITION value");
                sync->partition[sync->npartition++] = (km_partition_key_t){
                        DUP(p->key.text), DUP(p->value.text)};
        }
}

/* An amount of time in milliseconds; 0 and an error when not positive. */
static int64_t duration_ms(km_checker_t *c, const km_duration_t *d,
                           const char *what)
{
        int64_t unit = km_check_unit(c, &d->unit);
        if (!unit)
                return 0;
        if (d->amount.value <= 0 || d->amount.value > 366 * 86400 / unit) {
                km_diag_error(c->d, d->amount.loc,
                              "%s %lld %s: the time must be positive and at "
                              "most 366 days",
                              what, (long long)d->amount.value,
                              d->unit.text);
                return 0;
        }
        return d->amount.value * unit * 1000;
}

static void check_policies(km_checker_t *c, const km_sync_stmt_t *s,
                           km_sync_plan_t *sync)
{
        sync->end = s->end == KM_END_IDLE ? KM_END_WHEN_IDLE
                                           : KM_END_AT_WINDOW_END;
        if (s->end == KM_END_IDLE)
                sync->idle_ms = duration_ms(c, &s->idle, "END WHEN IDLE");
        if (s->c_retry.set) {
                if (s->retry_times.value > 100)
                        km_diag_error(c->d, s->retry_times.loc,
                                      "RETRY %lld TIMES is too many: at most "
                                      "100",
                                      (long long)s->retry_times.value);
                sync->retry_times = (int)s->retry_times.value;
                sync->retry_delay_ms =
                        s->retry_every.set
                                ? duration_ms(c, &s->retry_every, "RETRY EVERY")
                                : 2 * 60 * 1000;
        }
        sync->errors_limit = s->c_errors.set ? s->errors_limit.value : 0;
        sync->lifecycle_days = 36500;
        if (s->c_lifecycle.set) {
                if (s->lifecycle.value < 1 || s->lifecycle.value > 37231)
                        km_diag_error(c->d, s->lifecycle.loc,
                                      "LIFECYCLE is a number of days from 1 "
                                      "to 37231");
                sync->lifecycle_days = s->lifecycle.value;
        }
        sync->append = s->write == KM_WRITE_APPEND;
}

static km_sync_plan_t *check_sync(km_checker_t *c, const km_ast_t *ast,
                                  const km_stmt_t *stmt)
{
        const km_sync_stmt_t *s = &stmt->u.sync;
        km_sync_plan_t *sync = km_arena_alloc(ARENA, sizeof(*sync));
        int line, col;
        km_src_position(c->src, stmt->loc.start, &line, &col);
        sync->line = line;
        sync->name = DUP(s->name.text);
        if (resolve_connection(c, ast, &s->from, KM_STMT_KAFKA, "FROM"))
                sync->kafka = plan_connection(c->plan, s->from.text,
                                              KM_STMT_KAFKA);
        if (resolve_connection(c, ast, &s->into, KM_STMT_MAXCOMPUTE, "INTO"))
                sync->mc = plan_connection(c->plan, s->into.text,
                                           KM_STMT_MAXCOMPUTE);
        sync->table = DUP(s->table.text ? s->table.text : "");
        check_topic(c, s, sync);
        sync->group = s->group.set
                              ? DUP(s->group.text)
                              : km_arena_printf(ARENA, "kmsync-%s", sync->name);
        if (s->group.set)
                km_check_literal(c, &s->group, "GROUP");
        check_serde(c, &s->key_type, KM_SERDE_STRING, &sync->key_serde);
        check_serde(c, &s->value_type, KM_SERDE_JSON, &sync->value_serde);
        check_encoding(c, s, sync);
        check_timezone(c, s, sync);
        check_window(c, s, sync);
        check_partition(c, s, sync);
        km_check_schedule(c, s, sync);
        check_policies(c, s, sync);
        km_check_map(c, s, sync);
        return sync;
}

/* -------------------------------------------------------- entry points */

static void add_sync(km_checker_t *c, const km_ast_t *ast,
                     const km_stmt_t *stmt)
{
        km_plan_t *plan = c->plan;
        size_t n = (size_t)plan->nsyncs + 1;
        int errors = c->d->errors;
        plan->syncs = km_xrealloc(plan->syncs, sizeof(*plan->syncs) * n);
        c->sync_stmts = km_xrealloc(c->sync_stmts, sizeof(*c->sync_stmts) * n);
        c->sync_clean = km_xrealloc(c->sync_clean, sizeof(*c->sync_clean) * n);
        plan->syncs[plan->nsyncs] = check_sync(c, ast, stmt);
        c->sync_stmts[plan->nsyncs] = &stmt->u.sync;
        c->sync_clean[plan->nsyncs] = c->d->errors == errors;
        plan->nsyncs++;
}

static void check_file(km_checker_t *c, const km_ast_t *ast,
                       int syntax_errors)
{
        check_duplicate_names(c, ast);
        for (const km_stmt_t *s = ast->stmts; s; s = s->next) {
                if (s->kind == KM_STMT_KAFKA && !s->broken)
                        check_kafka(c, s);
                else if (s->kind == KM_STMT_MAXCOMPUTE && !s->broken)
                        check_mc(c, s);
        }
        /* A statement cut short by a syntax error lacks clauses for no
         * fault of its own: its name still counts, its contents do not. */
        for (const km_stmt_t *s = ast->stmts; s; s = s->next)
                if (s->kind == KM_STMT_SYNC && !s->broken)
                        add_sync(c, ast, s);
        /* After a syntax error the tree may lack the SYNC the file has. */
        if (syntax_errors > 0)
                return;
        if (!ast->stmts)
                km_diag_warning(c->d, (km_loc_t){0, 0},
                                "the file defines no SYNC");
        else if (c->plan->nsyncs == 0)
                km_diag_warning(c->d, ast->stmts->loc,
                                "the file defines connections but no SYNC");
}

/* The plan hash: SHA-256 of the source text, in hex. */
static void hash_source(const km_src_t *src, char out[65])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_Digest(km_src_text(src), km_src_len(src), md, &len, EVP_sha256(),
                   NULL);
        for (unsigned int i = 0; i < len && i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", md[i]);
}

km_plan_t *km_compile(const km_src_t *src, km_diag_t *d)
{
        km_ast_t ast;
        km_plan_t *plan = km_xcalloc(1, sizeof(*plan));
        km_checker_t c = {d, src, plan, NULL, NULL};
        plan->source_name = km_arena_strdup(&plan->arena, km_src_name(src));
        hash_source(src, plan->source_sha256);
        int syntax_errors = km_parse(src, &ast, d);
        check_file(&c, &ast, syntax_errors);
        /* What the templates give at run times is only worth checking for
         * a SYNC whose clauses are all valid. */
        for (int i = 0; i < plan->nsyncs; i++)
                if (c.sync_clean[i])
                        km_check_instances(&c, c.sync_stmts[i], plan->syncs[i]);
        km_ast_free(&ast);
        free(c.sync_stmts);
        free(c.sync_clean);
        if (d->errors > 0) {
                km_plan_free(plan);
                return NULL;
        }
        return plan;
}

void km_plan_free(km_plan_t *plan)
{
        if (!plan)
                return;
        for (int i = 0; i < plan->nzones; i++)
                km_tz_free(plan->zones[i]);
        free(plan->zones);
        free(plan->kafka);
        free(plan->mc);
        free(plan->syncs);
        km_arena_free(&plan->arena);
        free(plan);
}

const km_sync_plan_t *km_plan_find_sync(const km_plan_t *plan,
                                        const char *name)
{
        for (int i = 0; i < plan->nsyncs; i++)
                if (km_strcaseeq(plan->syncs[i]->name, name))
                        return plan->syncs[i];
        return NULL;
}
