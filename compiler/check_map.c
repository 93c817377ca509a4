/* check_map.c - MAP: record fields and JSON paths into typed columns.
 *
 * Enforces the seed's mapping rules (one source per column, one column per
 * source), resolves the six record fields, parses JSON paths, and infers a
 * column type where none is written.  Without MAP a SYNC gets the six
 * default columns, as DataWorks' "generate target table" does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "kmsync/path.h"
#include "util.h"

#define ARENA (&c->plan->arena)

static const struct {
        const char *name;
        km_field_t field;
} record_fields[] = {
        {"__key__", KM_FIELD_KEY},           {"__value__", KM_FIELD_VALUE},
        {"__partition__", KM_FIELD_PARTITION}, {"__headers__", KM_FIELD_HEADERS},
        {"__offset__", KM_FIELD_OFFSET},     {"__timestamp__", KM_FIELD_TIMESTAMP},
};
enum { NFIELDS = sizeof(record_fields) / sizeof(record_fields[0]) };

const char *km_field_name(km_field_t f)
{
        for (int i = 0; i < NFIELDS; i++)
                if (record_fields[i].field == f)
                        return record_fields[i].name;
        return "";
}

static const char *const type_names[] = {
        [KM_TYPE_BIGINT] = "BIGINT",     [KM_TYPE_DOUBLE] = "DOUBLE",
        [KM_TYPE_BOOLEAN] = "BOOLEAN",   [KM_TYPE_STRING] = "STRING",
        [KM_TYPE_DATETIME] = "DATETIME", [KM_TYPE_DECIMAL] = "DECIMAL",
};

const char *km_type_name(km_type_kind_t kind)
{
        return type_names[kind];
}

void km_type_format(const km_type_t *t, char *buf, size_t len)
{
        if (t->kind == KM_TYPE_DECIMAL)
                snprintf(buf, len, "DECIMAL(%d,%d)", t->precision, t->scale);
        else
                snprintf(buf, len, "%s", type_names[t->kind]);
}

const char *km_serde_name(km_serde_t s)
{
        static const char *const names[] = {"STRING", "BYTES", "JSON", "LONG",
                                            "DOUBLE"};
        return names[s];
}

/* The type a column gets when MAP names none. */
static km_type_t inferred_type(const km_sync_plan_t *sync, km_field_t field)
{
        km_serde_t serde = field == KM_FIELD_KEY ? sync->key_serde
                                                 : sync->value_serde;
        switch (field) {
        case KM_FIELD_PARTITION:
        case KM_FIELD_OFFSET:
        case KM_FIELD_TIMESTAMP:
                return (km_type_t){KM_TYPE_BIGINT, 0, 0};
        case KM_FIELD_KEY:
        case KM_FIELD_VALUE:
                if (serde == KM_SERDE_LONG)
                        return (km_type_t){KM_TYPE_BIGINT, 0, 0};
                if (serde == KM_SERDE_DOUBLE)
                        return (km_type_t){KM_TYPE_DOUBLE, 0, 0};
                return (km_type_t){KM_TYPE_STRING, 0, 0};
        default:
                return (km_type_t){KM_TYPE_STRING, 0, 0};
        }
}

static int parse_type(km_checker_t *c, const km_type_ref_t *t, km_type_t *out)
{
        for (int k = 0; k <= KM_TYPE_DECIMAL; k++) {
                if (!km_strcaseeq(t->name.text, type_names[k]))
                        continue;
                *out = (km_type_t){(km_type_kind_t)k, 0, 0};
                if (k != KM_TYPE_DECIMAL && t->nargs > 0) {
                        km_diag_error(c->d, t->loc,
                                      "%s takes no arguments",
                                      type_names[k]);
                        return -1;
                }
                if (k == KM_TYPE_DECIMAL) {
                        /* Compare before narrowing: DECIMAL(4294967306)
                         * must not pass as DECIMAL(10). */
                        int64_t p = t->nargs > 0 ? t->args[0].value : 38;
                        int64_t sc = t->nargs > 1 ? t->args[1].value
                                     : t->nargs == 1 ? 0 : 18;
                        if (p < 1 || p > 38 || sc > 18 || sc > p) {
                                km_diag_error(c->d, t->loc,
                                              "DECIMAL(%lld,%lld) is out of "
                                              "range: DECIMAL(p,s) needs 1 "
                                              "<= p <= 38 and 0 <= s <= 18, "
                                              "s <= p",
                                              (long long)p, (long long)sc);
                                return -1;
                        }
                        out->precision = (int)p;
                        out->scale = (int)sc;
                }
                return 0;
        }
        km_diag_error(c->d, t->name.loc,
                      "unknown type '%s': write BIGINT, DOUBLE, BOOLEAN, "
                      "STRING, DATETIME or DECIMAL(p,s)",
                      t->name.text);
        return -1;
}

/* Types a record field can be written as. */
static int field_accepts(km_field_t f, km_type_kind_t t)
{
        switch (f) {
        case KM_FIELD_HEADERS:
                return t == KM_TYPE_STRING;
        case KM_FIELD_PARTITION:
        case KM_FIELD_OFFSET:
                return t == KM_TYPE_BIGINT || t == KM_TYPE_STRING ||
                       t == KM_TYPE_DOUBLE || t == KM_TYPE_DECIMAL;
        case KM_FIELD_TIMESTAMP:
                return t != KM_TYPE_BOOLEAN;
        default:
                return 1;
        }
}

static km_field_t lookup_field(const char *name)
{
        for (int i = 0; i < NFIELDS; i++)
                if (strcmp(record_fields[i].name, name) == 0)
                        return record_fields[i].field;
        return KM_FIELD_NONE;
}

static int looks_like_field(const char *s)
{
        size_t n = strlen(s);
        return n > 4 && strncmp(s, "__", 2) == 0 &&
               strcmp(s + n - 2, "__") == 0;
}

static int looks_like_path(const char *s)
{
        return strchr(s, '.') && !strchr(s, ' ');
}

/* Resolves an item's source into col; returns -1 after reporting. */
static int resolve_source(km_checker_t *c, const km_map_item_t *m,
                          const km_sync_plan_t *sync, km_column_t *col)
{
        col->source = km_arena_strdup(ARENA, m->source);
        if (m->kind == KM_MAP_DQUOTED) {
                km_diag_error(c->d, m->source_loc,
                              "\"%s\" is not a JSON path: to read the key "
                              "\"%s\" write `%s` (back-quoted); to read a "
                              "nested field write it unquoted",
                              m->source, m->source, m->source);
                return -1;
        }
        if (m->kind == KM_MAP_CONSTANT) {
                col->source_kind = KM_SOURCE_CONSTANT;
                col->constant = col->source;
                col->source = km_arena_printf(ARENA, "'%s'", m->source);
                if (looks_like_path(m->source))
                        km_diag_warning(c->d, m->source_loc,
                                        "'%s' is a constant string, written "
                                        "into every row; to read the key "
                                        "\"%s\" write `%s`, for a nested "
                                        "field write %s unquoted",
                                        m->source, m->source, m->source,
                                        m->source);
                return 0;
        }
        km_field_t f = lookup_field(m->source);
        if (f != KM_FIELD_NONE) {
                col->source_kind = KM_SOURCE_FIELD;
                col->field = f;
                return 0;
        }
        if (looks_like_field(m->source)) {
                km_diag_error(c->d, m->source_loc,
                              "unknown record field '%s': the record fields "
                              "are __key__, __value__, __partition__, "
                              "__headers__, __offset__ and __timestamp__ "
                              "(back-quote `%s` to read a JSON key of that "
                              "name)",
                              m->source, m->source);
                return -1;
        }
        km_path_error_t err;
        col->source_kind = KM_SOURCE_PATH;
        if (km_path_parse(ARENA, m->source, &col->steps, &col->nsteps, &err)) {
                km_loc_t at = {m->source_loc.start + (int)err.offset,
                               m->source_loc.start + (int)(err.offset +
                                                           err.length)};
                km_diag_error(c->d, at, "%s", err.message);
                return -1;
        }
        col->source = km_path_format(ARENA, col->steps, col->nsteps);
        if (sync->value_serde != KM_SERDE_JSON) {
                km_diag_error(c->d, m->source_loc,
                              "JSON path '%s' needs VALUE JSON, but this SYNC "
                              "reads VALUE %s",
                              m->source, km_serde_name(sync->value_serde));
                return -1;
        }
        return 0;
}

static void check_item_type(km_checker_t *c, const km_map_item_t *m,
                            const km_sync_plan_t *sync, km_column_t *col)
{
        col->type = inferred_type(sync, col->source_kind == KM_SOURCE_FIELD
                                                ? col->field
                                                : KM_FIELD_NONE);
        if (m->type.set && parse_type(c, &m->type, &col->type) != 0)
                return;
        if (col->source_kind == KM_SOURCE_FIELD &&
            !field_accepts(col->field, col->type.kind))
                km_diag_error(c->d, m->type.loc,
                              "%s cannot be written as %s",
                              km_field_name(col->field),
                              km_type_name(col->type.kind));
}

/* Two items into one column, or one source into two columns. */
static void check_item_unique(km_checker_t *c, const km_map_item_t *m,
                              const km_sync_plan_t *sync, int index)
{
        for (int i = 0; i < index; i++) {
                const km_column_t *prev = &sync->columns[i];
                const km_column_t *cur = &sync->columns[index];
                if (km_strcaseeq(prev->name, cur->name)) {
                        km_diag_error(c->d, m->column.loc,
                                      "column '%s' is mapped twice: a target "
                                      "column takes one source only",
                                      cur->name);
                        return;
                }
                if (cur->source_kind != KM_SOURCE_CONSTANT &&
                    prev->source_kind == cur->source_kind &&
                    strcmp(prev->source, cur->source) == 0) {
                        km_diag_error(c->d, m->source_loc,
                                      "'%s' is already mapped to column "
                                      "'%s': a source field maps to one "
                                      "column only",
                                      cur->source, prev->name);
                        return;
                }
        }
}

static void check_column_name(km_checker_t *c, const km_map_item_t *m,
                              const km_sync_stmt_t *s)
{
        const char *name = m->column.text;
        size_t n = strlen(name);
        if (n == 0 || n > 128)
                km_diag_error(c->d, m->column.loc,
                              "a column name has 1 to 128 bytes");
        for (const km_partition_item_t *p = s->partition; p; p = p->next)
                if (km_strcaseeq(p->key.text, name)) {
                        km_diag_error(c->d, m->column.loc,
                                      "column '%s' is also a partition "
                                      "column: a partition column takes its "
                                      "value from PARTITION, not from MAP",
                                      name);
                        km_diag_note(c->d, p->key.loc,
                                     "partition column '%s' is here",
                                     p->key.text);
                }
}

static void default_columns(km_checker_t *c, km_sync_plan_t *sync)
{
        sync->columns = km_arena_alloc(ARENA, sizeof(*sync->columns) * NFIELDS);
        for (int i = 0; i < NFIELDS; i++) {
                km_column_t *col = &sync->columns[i];
                col->name = record_fields[i].name;
                col->source = record_fields[i].name;
                col->source_kind = KM_SOURCE_FIELD;
                col->field = record_fields[i].field;
                col->type = inferred_type(sync, col->field);
        }
        sync->ncolumns = NFIELDS;
}

void km_check_map(km_checker_t *c, const km_sync_stmt_t *s,
                  km_sync_plan_t *sync)
{
        if (!s->c_map.set) {
                default_columns(c, sync);
                return;
        }
        int n = 0;
        for (const km_map_item_t *m = s->map; m; m = m->next)
                n++;
        sync->columns = km_arena_alloc(ARENA, sizeof(*sync->columns) *
                                                      (size_t)n);
        for (const km_map_item_t *m = s->map; m; m = m->next) {
                km_column_t *col = &sync->columns[sync->ncolumns];
                col->name = km_arena_strdup(ARENA, m->column.text);
                check_column_name(c, m, s);
                if (resolve_source(c, m, sync, col) != 0)
                        continue;
                check_item_type(c, m, sync, col);
                check_item_unique(c, m, sync, sync->ncolumns);
                sync->ncolumns++;
        }
}
