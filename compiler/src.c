/* src.c - source files: their text, and byte offsets to line:column.
 *
 * The text is copied once and a line map (the offset where each line starts)
 * is built once; positions are found by binary search when a diagnostic is
 * printed, never while lexing. */
#include "kmsync/diag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct km_src {
        char *name;
        char *text;
        size_t len;
        int *line_starts;
        int nlines;
};

static void build_line_map(km_src_t *src)
{
        int n = 1;
        for (size_t i = 0; i < src->len; i++)
                n += src->text[i] == '\n';
        src->line_starts = km_xmalloc(sizeof(int) * (size_t)n);
        src->nlines = 0;
        src->line_starts[src->nlines++] = 0;
        for (size_t i = 0; i < src->len; i++)
                if (src->text[i] == '\n')
                        src->line_starts[src->nlines++] = (int)i + 1;
}

km_src_t *km_src_new(const char *name, const char *text, size_t len)
{
        km_src_t *src = km_xcalloc(1, sizeof(*src));
        src->name = km_xstrdup(name);
        src->text = km_xmalloc(len + 1);
        memcpy(src->text, text, len);
        src->text[len] = '\0';
        src->len = len;
        build_line_map(src);
        return src;
}

km_src_t *km_src_load(const char *path, char *errbuf, size_t errlen)
{
        int is_stdin = strcmp(path, "-") == 0;
        FILE *f = is_stdin ? stdin : fopen(path, "rb");
        if (!f) {
                snprintf(errbuf, errlen, "cannot open '%s': %s", path,
                         strerror(errno));
                return NULL;
        }
        km_buf_t buf = {0};
        char chunk[8192];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                km_buf_append(&buf, chunk, n);
        int failed = ferror(f);
        if (!is_stdin)
                fclose(f);
        if (failed) {
                snprintf(errbuf, errlen, "cannot read '%s'", path);
                free(buf.data);
                return NULL;
        }
        km_src_t *src = km_src_new(is_stdin ? "<stdin>" : path,
                                   buf.data ? buf.data : "", buf.len);
        free(buf.data);
        return src;
}

void km_src_free(km_src_t *src)
{
        if (!src)
                return;
        free(src->name);
        free(src->text);
        free(src->line_starts);
        free(src);
}

const char *km_src_name(const km_src_t *src) { return src->name; }
const char *km_src_text(const km_src_t *src) { return src->text; }
size_t km_src_len(const km_src_t *src) { return src->len; }

void km_src_position(const km_src_t *src, int offset, int *line, int *col)
{
        if (offset < 0)
                offset = 0;
        if ((size_t)offset > src->len)
                offset = (int)src->len;
        int lo = 0, hi = src->nlines - 1;
        while (lo < hi) {
                int mid = (lo + hi + 1) / 2;
                if (src->line_starts[mid] <= offset)
                        lo = mid;
                else
                        hi = mid - 1;
        }
        *line = lo + 1;
        *col = offset - src->line_starts[lo] + 1;
}
