/* ddl.h - CREATE TABLE statements for the targets of a plan. */
#ifndef KMSYNC_DDL_H
#define KMSYNC_DDL_H

#include "kmsync/plan.h"

/* CREATE TABLE IF NOT EXISTS for one SYNC's target, with a COMMENT per
 * column saying where it comes from, STRING partition columns and the
 * SYNC's LIFECYCLE.  Returns a malloc'd string ending in ";\n". */
char *km_ddl_create_table(const km_sync_plan_t *sync);

/* ALTER TABLE ... ADD IF NOT EXISTS PARTITION (k='v', ...); malloc'd.  NULL
 * for a table without partitions. */
char *km_ddl_add_partition(const km_instance_t *inst);

/* An identifier as MaxCompute SQL takes it: bare when it is a plain name
 * and not a reserved word, back-quoted (with ` doubled) otherwise.
 * Appends to the malloc'd-buffer-free form: writes into buf. */
void km_ddl_quote_ident(const char *name, char *buf, size_t len);

/* A string literal of MaxCompute SQL: 'text' with \ ' " and control
 * characters escaped.  Malloc'd. */
char *km_ddl_quote_string(const char *text);

#endif
