/* ddl.c - generate the MaxCompute DDL of a plan's targets.
 *
 * Column names and types come from MAP (or the six default columns), the
 * partition columns are STRING, LIFECYCLE defaults to 36500 days (the seed's
 * 100 years).  Identifiers are back-quoted where MaxCompute requires it:
 * reserved words and names that are not plain letters, digits and '_'. */
#include "kmsync/ddl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* MaxCompute's reserved words (docs: "Reserved words and keywords"). */
static const char *const reserved[] = {
        "ADD", "ALL", "ALTER", "AND", "ARRAY", "AS", "ASC", "BETWEEN",
        "BIGINT", "BINARY", "BOOLEAN", "BY", "CASE", "CAST", "CHAR", "CLUSTER",
        "CLUSTERED", "COLUMN", "COMMENT", "CREATE", "CROSS", "DATE",
        "DATETIME", "DECIMAL", "DESC", "DISTINCT", "DISTRIBUTE", "DOUBLE",
        "DROP", "ELSE", "END", "EXISTS", "FALSE", "FLOAT", "FROM", "FULL",
        "FUNCTION", "GROUP", "HAVING", "IF", "IN", "INSERT", "INT", "INTERVAL",
        "INTO", "IS", "JOIN", "LEFT", "LIFECYCLE", "LIKE", "LIMIT", "MAP",
        "MAPJOIN", "NOT", "NULL", "ON", "OR", "ORDER", "OUTER", "OVERWRITE",
        "PARTITION", "PARTITIONED", "PARTITIONS", "RANGE", "RENAME",
        "REPLACE", "RIGHT", "RLIKE", "ROWS", "SCHEMA", "SELECT", "SET",
        "SMALLINT", "SORT", "STRING", "STRUCT", "TABLE", "THEN", "TIMESTAMP",
        "TINYINT", "TO", "TOUCH", "TRUE", "UNION", "USING", "VALUES", "VIEW",
        "WHEN", "WHERE", "WITH",
};

static int is_reserved(const char *name)
{
        for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
                if (km_strcaseeq(name, reserved[i]))
                        return 1;
        return 0;
}

static int is_plain(const char *name)
{
        if (!*name || (*name >= '0' && *name <= '9'))
                return 0;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '_'))
                        return 0;
        return 1;
}

void km_ddl_quote_ident(const char *name, char *buf, size_t len)
{
        if (is_plain(name) && !is_reserved(name)) {
                snprintf(buf, len, "%s", name);
                return;
        }
        size_t n = 0;
        if (len < 3) {
                if (len)
                        buf[0] = '\0';
                return;
        }
        buf[n++] = '`';
        for (const char *p = name; *p && n + 3 < len; p++) {
                if (*p == '`')
                        buf[n++] = '`';
                buf[n++] = *p;
        }
        buf[n++] = '`';
        buf[n] = '\0';
}

char *km_ddl_quote_string(const char *text)
{
        km_buf_t b = {0};
        km_buf_putc(&b, '\'');
        for (const char *p = text; *p; p++) {
                switch (*p) {
                case '\\': km_buf_puts(&b, "\\\\"); break;
                case '\'': km_buf_puts(&b, "\\'"); break;
                case '"': km_buf_puts(&b, "\\\""); break;
                case '\n': km_buf_puts(&b, "\\n"); break;
                case '\r': km_buf_puts(&b, "\\r"); break;
                case '\t': km_buf_puts(&b, "\\t"); break;
                default: km_buf_putc(&b, *p); break;
                }
        }
        km_buf_putc(&b, '\'');
        return km_buf_take(&b);
}

static char *column_comment(const km_column_t *c)
{
        static const char *const what[] = {
                [KM_FIELD_KEY] = "the record key",
                [KM_FIELD_VALUE] = "the record value",
                [KM_FIELD_PARTITION] = "the Kafka partition number",
                [KM_FIELD_HEADERS] = "the record headers as a JSON object",
                [KM_FIELD_OFFSET] = "the record offset in its partition",
                [KM_FIELD_TIMESTAMP] = "the record timestamp in epoch ms",
        };
        switch (c->source_kind) {
        case KM_SOURCE_FIELD:
                return km_xasprintf("Kafka %s: %s", km_field_name(c->field),
                                    what[c->field]);
        case KM_SOURCE_PATH:
                return km_xasprintf("Kafka value JSON path %s", c->source);
        default:
                return km_xasprintf("constant %s", c->source);
        }
}

static void append_ident(km_buf_t *b, const char *name)
{
        char q[600];
        km_ddl_quote_ident(name, q, sizeof(q));
        km_buf_puts(b, q);
}

static void append_table(km_buf_t *b, const km_sync_plan_t *sync)
{
        if (sync->mc) {
                append_ident(b, sync->mc->project);
                km_buf_putc(b, '.');
                if (sync->mc->schema) {
                        append_ident(b, sync->mc->schema);
                        km_buf_putc(b, '.');
                }
        }
        append_ident(b, sync->table);
}

static void append_columns(km_buf_t *b, const km_sync_plan_t *sync)
{
        char type[64];
        for (int i = 0; i < sync->ncolumns; i++) {
                const km_column_t *c = &sync->columns[i];
                char *comment = column_comment(c);
                char *lit = km_ddl_quote_string(comment);
                km_type_format(&c->type, type, sizeof(type));
                km_buf_puts(b, "  ");
                append_ident(b, c->name);
                km_buf_printf(b, " %s COMMENT %s%s\n", type, lit,
                              i + 1 < sync->ncolumns ? "," : "");
                free(lit);
                free(comment);
        }
}

char *km_ddl_create_table(const km_sync_plan_t *sync)
{
        km_buf_t b = {0};
        km_buf_puts(&b, "CREATE TABLE IF NOT EXISTS ");
        append_table(&b, sync);
        km_buf_puts(&b, " (\n");
        append_columns(&b, sync);
        km_buf_puts(&b, ")\n");
        char *comment = km_xasprintf("kmsync %s: Kafka topic %s", sync->name,
                                     sync->topic);
        char *lit = km_ddl_quote_string(comment);
        km_buf_printf(&b, "COMMENT %s\n", lit);
        free(lit);
        free(comment);
        if (sync->npartition > 0) {
                km_buf_puts(&b, "PARTITIONED BY (");
                for (int i = 0; i < sync->npartition; i++) {
                        if (i)
                                km_buf_puts(&b, ", ");
                        append_ident(&b, sync->partition[i].key);
                        km_buf_puts(&b, " STRING");
                }
                km_buf_puts(&b, ")\n");
        }
        km_buf_printf(&b, "LIFECYCLE %lld;\n", (long long)sync->lifecycle_days);
        return km_buf_take(&b);
}

char *km_ddl_add_partition(const km_instance_t *inst)
{
        const km_sync_plan_t *sync = inst->sync;
        if (sync->npartition == 0)
                return NULL;
        km_buf_t b = {0};
        km_buf_puts(&b, "ALTER TABLE ");
        append_table(&b, sync);
        km_buf_puts(&b, " ADD IF NOT EXISTS PARTITION (");
        for (int i = 0; i < sync->npartition; i++) {
                char *lit = km_ddl_quote_string(inst->partition_values[i]);
                if (i)
                        km_buf_puts(&b, ", ");
                append_ident(&b, sync->partition[i].key);
                km_buf_printf(&b, "=%s", lit);
                free(lit);
        }
        km_buf_puts(&b, ");\n");
        return km_buf_take(&b);
}
