/* diag.c - collect compiler diagnostics and print them like a compiler:
 * "file:line:col: error: message", the source line, and a caret under the
 * range.  Collecting never exits and never prints; printing sorts by
 * position so that one pass over a file reads top to bottom. */
#include "kmsync/diag.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void km_diag_init(km_diag_t *d, const km_src_t *src)
{
        memset(d, 0, sizeof(*d));
        d->src = src;
}

void km_diag_free(km_diag_t *d)
{
        for (size_t i = 0; i < d->count; i++)
                free(d->entries[i].message);
        free(d->entries);
        free(d->redacted);
        memset(d, 0, sizeof(*d));
}

static void push(km_diag_t *d, km_severity_t sev, km_loc_t loc, int has_loc,
                 char *message)
{
        if (d->count == d->cap) {
                d->cap = d->cap ? d->cap * 2 : 16;
                d->entries = km_xrealloc(d->entries,
                                         d->cap * sizeof(*d->entries));
        }
        d->entries[d->count++] = (km_diag_entry_t){sev, loc, has_loc, message};
        if (sev == KM_SEV_ERROR)
                d->errors++;
        else if (sev == KM_SEV_WARNING)
                d->warnings++;
}

void km_diag_add(km_diag_t *d, km_severity_t sev, km_loc_t loc,
                 const char *fmt, va_list ap)
{
        push(d, sev, loc, 1, km_xvasprintf(fmt, ap));
}

#define DEFINE_REPORTER(fn, sev)                                              \
        void fn(km_diag_t *d, km_loc_t loc, const char *fmt, ...)             \
        {                                                                     \
                va_list ap;                                                   \
                va_start(ap, fmt);                                            \
                km_diag_add(d, sev, loc, fmt, ap);                            \
                va_end(ap);                                                   \
        }

DEFINE_REPORTER(km_diag_error, KM_SEV_ERROR)
DEFINE_REPORTER(km_diag_warning, KM_SEV_WARNING)
DEFINE_REPORTER(km_diag_note, KM_SEV_NOTE)

void km_diag_file_error(km_diag_t *d, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        push(d, KM_SEV_ERROR, (km_loc_t){0, 0}, 0, km_xvasprintf(fmt, ap));
        va_end(ap);
}

void km_diag_redact(km_diag_t *d, km_loc_t loc)
{
        d->redacted = km_xrealloc(d->redacted,
                                  sizeof(*d->redacted) * (d->nredacted + 1));
        d->redacted[d->nredacted++] = loc;
}

/* The source line, with secret literals masked (their quotes kept). */
static void append_line(const km_diag_t *d, int bol, int eol, km_buf_t *out)
{
        const char *text = km_src_text(d->src);
        for (int i = bol; i < eol; i++) {
                int secret = 0;
                for (size_t r = 0; r < d->nredacted; r++)
                        secret |= i > d->redacted[r].start &&
                                  i < d->redacted[r].end - 1;
                km_buf_putc(out, secret ? '*' : text[i]);
        }
}

static const char *severity_name(km_severity_t sev)
{
        switch (sev) {
        case KM_SEV_ERROR:
                return "error";
        case KM_SEV_WARNING:
                return "warning";
        default:
                return "note";
        }
}

/* The source line holding `offset`, and an underline for [start, end)
 * clipped to that line; tabs are kept so the caret lines up. */
static void render_excerpt(const km_diag_t *d, km_loc_t loc, km_buf_t *out)
{
        const char *text = km_src_text(d->src);
        int len = (int)km_src_len(d->src);
        int start = loc.start < 0 ? 0 : (loc.start > len ? len : loc.start);
        int bol = start, eol = start;
        while (bol > 0 && text[bol - 1] != '\n')
                bol--;
        while (eol < len && text[eol] != '\n')
                eol++;
        int end = loc.end > eol ? eol : loc.end;
        km_buf_puts(out, "  ");
        append_line(d, bol, eol, out);
        km_buf_puts(out, "\n  ");
        for (int i = bol; i < start; i++) {
                unsigned char c = (unsigned char)text[i];
                if ((c & 0xC0) == 0x80)
                        continue; /* one column per UTF-8 character */
                km_buf_putc(out, c == '\t' ? '\t' : ' ');
        }
        km_buf_putc(out, '^');
        for (int i = start + 1; i < end; i++)
                if (((unsigned char)text[i] & 0xC0) != 0x80)
                        km_buf_putc(out, '~');
        km_buf_putc(out, '\n');
}

static void render_entry(const km_diag_t *d, const km_diag_entry_t *e,
                         km_buf_t *out)
{
        if (!e->has_loc) {
                km_buf_printf(out, "%s: %s: %s\n", km_src_name(d->src),
                              severity_name(e->severity), e->message);
                return;
        }
        int line, col;
        km_src_position(d->src, e->loc.start, &line, &col);
        km_buf_printf(out, "%s:%d:%d: %s: %s\n", km_src_name(d->src), line,
                      col, severity_name(e->severity), e->message);
        render_excerpt(d, e->loc, out);
}

/* Groups: an error or warning with the notes that follow it. */
typedef struct group {
        size_t first, count;
        int has_loc, start;
} group_t;

static int group_cmp(const void *a, const void *b)
{
        const group_t *x = a, *y = b;
        if (x->has_loc != y->has_loc)
                return x->has_loc - y->has_loc; /* file-level first */
        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        return x->first < y->first ? -1 : 1; /* stable */
}

static size_t make_groups(const km_diag_t *d, group_t *groups)
{
        size_t n = 0;
        for (size_t i = 0; i < d->count; i++) {
                const km_diag_entry_t *e = &d->entries[i];
                if (e->severity == KM_SEV_NOTE && n > 0) {
                        groups[n - 1].count++;
                        continue;
                }
                groups[n++] = (group_t){i, 1, e->has_loc, e->loc.start};
        }
        return n;
}

char *km_diag_to_string(const km_diag_t *d)
{
        km_buf_t out = {0};
        group_t *groups = km_xcalloc(d->count ? d->count : 1, sizeof(*groups));
        size_t n = make_groups(d, groups);
        qsort(groups, n, sizeof(*groups), group_cmp);
        for (size_t g = 0; g < n; g++)
                for (size_t i = 0; i < groups[g].count; i++)
                        render_entry(d, &d->entries[groups[g].first + i], &out);
        free(groups);
        return km_buf_take(&out);
}

void km_diag_print(const km_diag_t *d, FILE *out)
{
        char *s = km_diag_to_string(d);
        fputs(s, out);
        free(s);
}

km_loc_t km_loc_in_literal(const km_src_t *src, km_loc_t lit, size_t offset,
                           size_t len)
{
        /* Walk the raw literal: a doubled quote '' stands for one byte. */
        const char *text = km_src_text(src);
        int pos = lit.start + 1, last = lit.end - 1;
        for (size_t i = 0; i < offset && pos < last; i++)
                pos += (text[pos] == '\'' && pos + 1 < last) ? 2 : 1;
        int end = pos;
        for (size_t i = 0; i < len && end < last; i++)
                end += (text[end] == '\'' && end + 1 < last) ? 2 : 1;
        if (end <= pos)
                end = pos + 1;
        return (km_loc_t){pos, end};
}
