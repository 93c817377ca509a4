/* preview.c - the target of `kmsync preview`: the first rows of a window
 * as JSON lines on standard output; nothing is written anywhere. */
#include <jansson.h>
#include <stdlib.h>

#include "run_int.h"
#include "util.h"

typedef struct preview {
        const km_sync_plan_t *sync;
        FILE *out;
        int limit, printed;
} preview_t;

static int preview_open(km_target_t *t, const km_instance_t *inst, char *err,
                        size_t errlen)
{
        (void)t;
        (void)inst;
        (void)err;
        (void)errlen;
        return 0;
}

static json_t *cell_json(const km_cell_t *cell, const km_column_t *col,
                         const km_tz_t *tz)
{
        char buf[32];
        switch (cell->kind) {
        case KM_CELL_NULL:
                return json_null();
        case KM_CELL_BIGINT:
                return json_integer(cell->i);
        case KM_CELL_DOUBLE:
                return json_real(cell->d);
        case KM_CELL_BOOLEAN:
                return json_boolean(cell->i);
        case KM_CELL_DATETIME:
                km_tz_format_ms(tz, cell->i, buf);
                return json_string(buf);
        default:
                (void)col;
                return json_stringn_nocheck(cell->s, cell->len);
        }
}

static int preview_write(km_target_t *t, const km_cell_t *row, char *err,
                         size_t errlen)
{
        (void)err;
        (void)errlen;
        preview_t *p = t->impl;
        if (p->printed >= p->limit)
                return 0;
        json_t *o = json_object();
        for (int i = 0; i < p->sync->ncolumns; i++)
                json_object_set_new(o, p->sync->columns[i].name,
                                    cell_json(&row[i], &p->sync->columns[i],
                                              p->sync->tz));
        json_dumpf(o, p->out, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                      JSON_REAL_PRECISION(17));
        fputc('\n', p->out);
        json_decref(o);
        p->printed++;
        return 0;
}

static int preview_commit(km_target_t *t, const km_commit_info_t *info,
                          char *err, size_t errlen)
{
        (void)info;
        (void)err;
        (void)errlen;
        fflush(((preview_t *)t->impl)->out);
        return 0;
}

static void preview_abort(km_target_t *t)
{
        (void)t;
}

static void preview_destroy(km_target_t *t)
{
        free(t->impl);
        free(t);
}

static const km_target_ops_t preview_ops = {
        "preview",      preview_open,  preview_write,
        preview_commit, preview_abort, preview_destroy,
};

km_target_t *km_run_preview_target(const km_sync_plan_t *sync, FILE *out,
                                   int limit)
{
        preview_t *p = km_xcalloc(1, sizeof(*p));
        *p = (preview_t){sync, out ? out : stdout, limit, 0};
        km_target_t *t = km_xcalloc(1, sizeof(*t));
        t->ops = &preview_ops;
        t->impl = p;
        return t;
}

int km_run_preview_full(const km_target_t *t)
{
        const preview_t *p = t->impl;
        return p->printed >= p->limit;
}
