/* mapper.h - one Kafka record to one row of the SYNC's columns.
 *
 * The mapper parses the value once (only when a JSON path is mapped),
 * extracts only the mapped paths, and converts every source to its column's
 * type.  A record that cannot be converted is dirty: km_mapper_map() says
 * why, and the run counts it against ERRORS LIMIT. */
#ifndef KMSYNC_MAPPER_H
#define KMSYNC_MAPPER_H

#include <stddef.h>

#include "kmsync/plan.h"
#include "kmsync/record.h"

typedef struct km_mapper km_mapper_t;

/* A mapper for the SYNC's columns.  NULL with a message in errbuf when the
 * SYNC's ENCODING cannot be converted from. */
km_mapper_t *km_mapper_new(const km_sync_plan_t *sync, char *errbuf,
                           size_t errlen);
void km_mapper_free(km_mapper_t *m);

/* Maps rec into cells[0 .. sync->ncolumns).  Returns 0, or -1 when the
 * record is dirty, with a reason ("value is not JSON: ...", "column amount:
 * 1e99 does not fit BIGINT") in reason.  The cells' bytes stay valid until
 * the next call. */
int km_mapper_map(km_mapper_t *m, const km_record_t *rec, km_cell_t *cells,
                  char *reason, size_t reason_len);

/* The headers of a record as kmsync writes __headers__: a compact JSON
 * object in record order, a repeated name getting an array of its values,
 * {} when there are none.  Malloc'd; NULL when a value is not valid UTF-8. */
char *km_headers_json(const km_record_t *rec);

#endif
