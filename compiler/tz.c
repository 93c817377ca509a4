/* tz.c - time zones read from TZif files (RFC 8536) and their POSIX TZ rules.
 *
 * A zone is its table of transitions (the 64-bit section of a version 2+
 * file, else the 32-bit one) plus the POSIX TZ string of the file's footer,
 * which gives the offsets after the last transition of the table.  Instants
 * are int64 seconds since the epoch; leap seconds are not supported (files
 * that count them, such as right/UTC, are refused). */
#include "kmsync/tz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_MAX_NAME 255
#define TZ_MAX_FILE (1 << 20)
#define TZ_MAX_TYPES 256
/* Offsets RFC 8536 allows a time type: -24:59:59 .. +25:59:59. */
#define TZ_MIN_UTOFF (-89999)
#define TZ_MAX_UTOFF 93599
/* Instants further out (about a million years) are clamped for calendar
 * arithmetic, so that years always fit an int. */
#define TZ_LIMIT ((int64_t)1 << 45)
/* Rule times may run from -167:00:00 to 167:00:00 (RFC 8536 section 3.3.1). */
#define TZ_MAX_RULE_HOURS 167

struct tz_type {
        int32_t utoff; /* seconds east of Greenwich */
        uint8_t isdst;
};

/* The day and time of day of a POSIX TZ rule: Jn, n or Mm.w.d[/time]. */
struct tz_date {
        char kind;    /* 'J' (1..365, no Feb 29), 'D' (0..365) or 'M' */
        int day;      /* J and D: the day number; M: the weekday 0..6 */
        int week;     /* M: 1..5, 5 = the last */
        int mon;      /* M: 1..12 */
        int32_t secs; /* local time of day of the change, may leave 0..24h */
};

/* A POSIX TZ string such as "EST5EDT,M3.2.0,M11.1.0". */
struct tz_rule {
        int32_t std_off; /* seconds east */
        int32_t dst_off;
        int has_dst;
        struct tz_date start; /* to DST, read in standard time */
        struct tz_date end;   /* back to standard, read in DST */
};

struct km_tz {
        char *name;
        size_t ntrans;
        int64_t *trans;      /* ascending */
        uint8_t *trans_type; /* type in force from trans[i] on */
        size_t ntypes;
        struct tz_type *types;
        int has_rule;
        struct tz_rule rule;
};

/* A stretch of time [start, end) with one offset. */
struct tz_span {
        int64_t start;
        int64_t end;
        int32_t utoff;
};

/* A change of a POSIX rule: at instant `at` DST begins (to_dst) or ends. */
struct tz_event {
        int64_t at;
        int to_dst;
};

/* The six counts of a TZif header. */
struct tzif_counts {
        uint32_t isut, isstd, leap, time, type, chars;
};

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
        va_list ap;
        if (!errbuf || errlen == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
}

static int64_t floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0)))
                q--;
        return q;
}

static int64_t clamp_instant(int64_t t)
{
        if (t > TZ_LIMIT)
                return TZ_LIMIT;
        if (t < -TZ_LIMIT)
                return -TZ_LIMIT;
        return t;
}

static int is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ---- POSIX TZ strings ---------------------------------------------------- */

/* Reads an unsigned decimal of at most `digits` digits within [min, max]. */
static int scan_uint(const char **pp, int digits, int min, int max, int *val)
{
        const char *p = *pp;
        int v = 0, n = 0;
        while (n < digits && is_digit(p[n])) {
                v = v * 10 + (p[n] - '0');
                n++;
        }
        if (n == 0 || v < min || v > max)
                return -1;
        *pp = p + n;
        *val = v;
        return 0;
}

/* Reads a zone abbreviation: three or more letters, or <...> quoted. */
static int scan_abbr(const char **pp)
{
        const char *p = *pp;
        size_t n = 0;
        if (*p != '<') {
                while (is_alpha(p[n]))
                        n++;
                if (n < 3)
                        return -1;
                *pp = p + n;
                return 0;
        }
        p++;
        while (is_alpha(p[n]) || is_digit(p[n]) || p[n] == '+' || p[n] == '-')
                n++;
        if (n < 3 || p[n] != '>')
                return -1;
        *pp = p + n + 1;
        return 0;
}

/* Reads [+-]hh[:mm[:ss]] with hh <= max_hours, into signed seconds. */
static int scan_hms(const char **pp, int max_hours, int32_t *secs)
{
        const char *p = *pp;
        int sign = 1, h, m = 0, s = 0;
        if (*p == '+' || *p == '-')
                sign = *p++ == '-' ? -1 : 1;
        if (scan_uint(&p, 3, 0, max_hours, &h))
                return -1;
        if (*p == ':') {
                p++;
                if (scan_uint(&p, 2, 0, 59, &m))
                        return -1;
                if (*p == ':') {
                        p++;
                        if (scan_uint(&p, 2, 0, 59, &s))
                                return -1;
                }
        }
        *pp = p;
        *secs = sign * (h * 3600 + m * 60 + s);
        return 0;
}

/* Reads a POSIX offset (hours west, sign optional) as seconds east. */
static int scan_offset(const char **pp, int32_t *utoff)
{
        int32_t west;
        if (scan_hms(pp, 24, &west))
                return -1;
        *utoff = -west;
        return 0;
}

static int scan_mwd(const char **pp, struct tz_date *d)
{
        d->kind = 'M';
        if (scan_uint(pp, 2, 1, 12, &d->mon) || *(*pp)++ != '.' ||
            scan_uint(pp, 1, 1, 5, &d->week) || *(*pp)++ != '.' ||
            scan_uint(pp, 1, 0, 6, &d->day))
                return -1;
        return 0;
}

/* Reads Jn, n or Mm.w.d and an optional /time (default 02:00:00). */
static int scan_date(const char **pp, struct tz_date *d)
{
        int rc;
        if (**pp == 'J') {
                (*pp)++;
                d->kind = 'J';
                rc = scan_uint(pp, 3, 1, 365, &d->day);
        } else if (**pp == 'M') {
                (*pp)++;
                rc = scan_mwd(pp, d);
        } else {
                d->kind = 'D';
                rc = scan_uint(pp, 3, 0, 365, &d->day);
        }
        if (rc)
                return -1;
        d->secs = 7200;
        if (**pp != '/')
                return 0;
        (*pp)++;
        return scan_hms(pp, TZ_MAX_RULE_HOURS, &d->secs);
}

/* The part after the DST abbreviation: [offset][,start,end]. */
static int scan_dst_part(const char *p, struct tz_rule *r)
{
        r->dst_off = r->std_off + 3600;
        if (*p && *p != ',' && scan_offset(&p, &r->dst_off))
                return -1;
        if (*p == '\0') {
                /* No rule given: the US rules, as glibc assumes. */
                p = ",M3.2.0,M11.1.0";
        }
        if (*p++ != ',' || scan_date(&p, &r->start) || *p++ != ',' ||
            scan_date(&p, &r->end))
                return -1;
        return *p == '\0' ? 0 : -1;
}

/* Parses a POSIX TZ string such as "IST-2IDT,M3.4.4/26,M10.5.0". */
static int parse_posix(const char *s, struct tz_rule *r)
{
        const char *p = s;
        memset(r, 0, sizeof(*r));
        if (scan_abbr(&p) || scan_offset(&p, &r->std_off))
                return -1;
        if (*p == '\0')
                return 0;
        if (scan_abbr(&p))
                return -1;
        r->has_dst = 1;
        return scan_dst_part(p, r);
}

/* ---- POSIX rule evaluation ------------------------------------------------ */

/* Days since the epoch of the day a rule date names in `year`. */
static int64_t rule_day(const struct tz_date *d, int year)
{
        int64_t jan1 = km_days_from_civil(year, 1, 1);
        int first, day;
        if (d->kind == 'J')
                return jan1 + d->day - 1 +
                       (km_is_leap_year(year) && d->day >= 60);
        if (d->kind == 'D')
                return jan1 + d->day;
        first = km_weekday(year, d->mon, 1);
        day = 1 + (d->day - first + 7) % 7 + (d->week - 1) * 7;
        while (day > km_days_in_month(year, d->mon))
                day -= 7;
        return km_days_from_civil(year, d->mon, day);
}

static void year_events(const struct tz_rule *r, int year,
                        struct tz_event ev[2])
{
        ev[0].at = rule_day(&r->start, year) * 86400 + r->start.secs -
                   r->std_off;
        ev[0].to_dst = 1;
        ev[1].at = rule_day(&r->end, year) * 86400 + r->end.secs - r->dst_off;
        ev[1].to_dst = 0;
}

/* Order of events; at one instant an end comes before a start, so that a
 * zone on DST all year (end of one year = start of the next) stays on it. */
static int event_before(const struct tz_event *a, const struct tz_event *b)
{
        return a->at < b->at || (a->at == b->at && !a->to_dst && b->to_dst);
}

static void sort_events(struct tz_event *ev, int n)
{
        for (int i = 1; i < n; i++) {
                struct tz_event e = ev[i];
                int j = i;
                while (j > 0 && event_before(&e, &ev[j - 1])) {
                        ev[j] = ev[j - 1];
                        j--;
                }
                ev[j] = e;
        }
}

#define TZ_RULE_YEARS 5

/* The span of rule r holding instant t (|t| <= TZ_LIMIT).  Changes of the
 * years around t's are enough: a rule time moves a change by at most a week. */
static void rule_span_near(const struct tz_rule *r, int64_t t,
                           struct tz_span *sp)
{
        struct tz_event ev[2 * TZ_RULE_YEARS];
        int year, mon, day, j = -1;
        km_civil_from_days(floor_div(t, 86400), &year, &mon, &day);
        for (int k = 0; k < TZ_RULE_YEARS; k++)
                year_events(r, year - TZ_RULE_YEARS / 2 + k, ev + 2 * k);
        sort_events(ev, 2 * TZ_RULE_YEARS);
        while (j + 1 < 2 * TZ_RULE_YEARS && ev[j + 1].at <= t)
                j++;
        sp->start = j >= 0 ? ev[j].at : INT64_MIN;
        sp->end = j + 1 < 2 * TZ_RULE_YEARS ? ev[j + 1].at : INT64_MAX;
        sp->utoff = j >= 0 && ev[j].to_dst ? r->dst_off : r->std_off;
}

static void rule_span(const struct tz_rule *r, int64_t t, struct tz_span *sp)
{
        int64_t c = clamp_instant(t);
        if (!r->has_dst) {
                sp->start = INT64_MIN;
                sp->end = INT64_MAX;
                sp->utoff = r->std_off;
                return;
        }
        rule_span_near(r, c, sp);
        if (t > c)
                sp->end = INT64_MAX;
        if (t < c)
                sp->start = INT64_MIN;
}

/* ---- spans of a zone ------------------------------------------------------ */

/* The number of transitions at or before t. */
static size_t trans_upper(const km_tz_t *tz, int64_t t)
{
        size_t lo = 0, hi = tz->ntrans;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (tz->trans[mid] <= t)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* The span of zone tz holding instant t.  Before the first transition type 0
 * applies; after the last the footer rule (RFC 8536 section 3.2). */
static void zone_span(const km_tz_t *tz, int64_t t, struct tz_span *sp)
{
        size_t i = trans_upper(tz, t);
        if (i == tz->ntrans && tz->has_rule) {
                rule_span(&tz->rule, t, sp);
                if (i > 0 && sp->start < tz->trans[i - 1])
                        sp->start = tz->trans[i - 1];
                return;
        }
        sp->start = i > 0 ? tz->trans[i - 1] : INT64_MIN;
        sp->end = i < tz->ntrans ? tz->trans[i] : INT64_MAX;
        sp->utoff = tz->types[i > 0 ? tz->trans_type[i - 1] : 0].utoff;
}

int32_t km_tz_offset_at(const km_tz_t *tz, int64_t utc_sec)
{
        struct tz_span sp;
        zone_span(tz, utc_sec, &sp);
        return sp.utoff;
}

void km_tz_to_local(const km_tz_t *tz, int64_t utc_sec, km_civil_t *out)
{
        int64_t t = clamp_instant(utc_sec);
        km_civil_from_seconds(t + km_tz_offset_at(tz, t), out);
}

/* What the spans around a wall-clock reading say about it. */
struct tz_fit {
        int count;      /* instants whose reading it is */
        int64_t first;  /* the earliest of them */
        int in_gap;     /* it lies in a forward jump */
        int64_t gap_at; /* the reading taken with the offset before the jump */
};

static void fit_span(const struct tz_span *sp, const struct tz_span *prev,
                     int64_t wall, struct tz_fit *f)
{
        int64_t cand = wall - sp->utoff;
        if (cand >= sp->start && cand < sp->end && f->count++ == 0)
                f->first = cand;
        if (prev && !f->in_gap && sp->start + prev->utoff <= wall &&
            wall < sp->start + sp->utoff) {
                f->in_gap = 1;
                f->gap_at = wall - prev->utoff;
        }
}

km_tz_fit_t km_tz_from_local(const km_tz_t *tz, const km_civil_t *local,
                             int64_t *utc_sec)
{
        int64_t wall = km_civil_to_seconds(local);
        int64_t t = wall - TZ_MAX_UTOFF - 1, last = wall - TZ_MIN_UTOFF + 1;
        struct tz_span sp, prev;
        struct tz_fit f = {0};
        int have_prev = 0;
        for (;;) {
                zone_span(tz, t, &sp);
                fit_span(&sp, have_prev ? &prev : NULL, wall, &f);
                if (sp.end > last)
                        break;
                prev = sp;
                have_prev = 1;
                t = sp.end;
        }
        if (f.count > 0) {
                *utc_sec = f.first;
                return f.count > 1 ? KM_TZ_AMBIGUOUS : KM_TZ_EXACT;
        }
        *utc_sec = f.in_gap ? f.gap_at : wall - km_tz_offset_at(tz, wall);
        return KM_TZ_GAP;
}

/* ---- TZif files ----------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
               (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
        return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

#define TZIF_HEADER 44

/* Reads the header at p; returns the version (1, 2, 3, ...) or -1. */
static int read_header(const uint8_t *p, size_t len, struct tzif_counts *c)
{
        if (len < TZIF_HEADER || memcmp(p, "TZif", 4) != 0)
                return -1;
        c->isut = be32(p + 20);
        c->isstd = be32(p + 24);
        c->leap = be32(p + 28);
        c->time = be32(p + 32);
        c->type = be32(p + 36);
        c->chars = be32(p + 40);
        return p[4] == 0 ? 1 : (p[4] >= '2' ? p[4] - '0' : -1);
}

/* Bytes of the data block after a header, times of tsize bytes. */
static size_t block_size(const struct tzif_counts *c, size_t tsize)
{
        return (size_t)c->time * (tsize + 1) + (size_t)c->type * 6 +
               c->chars + (size_t)c->leap * (tsize + 4) + c->isstd + c->isut;
}

static const char *check_counts(const struct tzif_counts *c)
{
        if (c->leap != 0)
                return "it counts leap seconds";
        if (c->type == 0 || c->type > TZ_MAX_TYPES)
                return "bad number of time types";
        if ((c->isstd != 0 && c->isstd != c->type) ||
            (c->isut != 0 && c->isut != c->type))
                return "bad indicator counts";
        return NULL;
}

static const char *read_types(km_tz_t *tz, const uint8_t *p, size_t n)
{
        tz->types = calloc(n, sizeof(*tz->types));
        if (!tz->types)
                return "out of memory";
        tz->ntypes = n;
        for (size_t i = 0; i < n; i++, p += 6) {
                int32_t off = (int32_t)be32(p);
                if (off < TZ_MIN_UTOFF || off > TZ_MAX_UTOFF || p[4] > 1)
                        return "bad time type";
                tz->types[i].utoff = off;
                tz->types[i].isdst = p[4];
        }
        return NULL;
}

static const char *read_trans(km_tz_t *tz, const uint8_t *p, size_t n,
                              size_t tsize)
{
        const uint8_t *idx = p + n * tsize;
        if (n == 0)
                return NULL;
        tz->trans = calloc(n, sizeof(*tz->trans));
        tz->trans_type = calloc(n, 1);
        if (!tz->trans || !tz->trans_type)
                return "out of memory";
        tz->ntrans = n;
        for (size_t i = 0; i < n; i++) {
                tz->trans[i] = tsize == 8 ? be64(p + 8 * i) :
                                            (int32_t)be32(p + 4 * i);
                tz->trans_type[i] = idx[i];
                if (i > 0 && tz->trans[i] <= tz->trans[i - 1])
                        return "transitions out of order";
        }
        return NULL;
}

/* Loads the data block at p described by c (times of tsize bytes). */
static const char *read_block(km_tz_t *tz, const uint8_t *p,
                              const struct tzif_counts *c, size_t tsize)
{
        const char *err = read_trans(tz, p, c->time, tsize);
        if (!err)
                err = read_types(tz, p + (size_t)c->time * (tsize + 1),
                                 c->type);
        for (size_t i = 0; !err && i < tz->ntrans; i++)
                if (tz->trans_type[i] >= tz->ntypes)
                        err = "bad time type index";
        return err;
}

/* Reads the footer "\n<TZ string>\n" at p; an empty string means no rule. */
static const char *read_footer(km_tz_t *tz, const uint8_t *p, size_t len)
{
        const uint8_t *nl;
        char text[256];
        size_t n;
        if (len == 0)
                return NULL;
        if (p[0] != '\n' || !(nl = memchr(p + 1, '\n', len - 1)))
                return "bad footer";
        n = (size_t)(nl - p - 1);
        if (n == 0)
                return NULL;
        if (n >= sizeof(text))
                return "footer too long";
        memcpy(text, p + 1, n);
        text[n] = '\0';
        if (memchr(text, '\0', n) || parse_posix(text, &tz->rule))
                return "unreadable tz string in the footer";
        tz->has_rule = 1;
        return NULL;
}

/* Fills tz from a whole TZif file; returns NULL or what is wrong. */
static const char *parse_tzif(km_tz_t *tz, const uint8_t *p, size_t len)
{
        struct tzif_counts c;
        int version = read_header(p, len, &c);
        size_t tsize = 4, size;
        const char *err;
        if (version < 0)
                return "not a tzif file";
        if (version >= 2) {
                size = TZIF_HEADER + block_size(&c, 4);
                if (size > len || read_header(p + size, len - size, &c) < 2)
                        return "truncated";
                p += size;
                len -= size;
                tsize = 8;
        }
        size = TZIF_HEADER + block_size(&c, tsize);
        if (size > len)
                return "truncated";
        if ((err = check_counts(&c)) || (err = read_block(tz, p + TZIF_HEADER,
                                                          &c, tsize)))
                return err;
        return version >= 2 ? read_footer(tz, p + size, len - size) : NULL;
}

/* ---- loading -------------------------------------------------------------- */

static int name_char_ok(char c)
{
        return is_alpha(c) || is_digit(c) || c == '_' || c == '+' ||
               c == '-' || c == '/';
}

/* 1 if name may be looked up under the zone directory. */
static int name_ok(const char *name)
{
        size_t n = strlen(name);
        if (n == 0 || n > TZ_MAX_NAME || name[0] == '/' ||
            name[n - 1] == '/' || strstr(name, "..") || strstr(name, "//"))
                return 0;
        for (size_t i = 0; i < n; i++)
                if (!name_char_ok(name[i]))
                        return 0;
        return 1;
}

static km_tz_t *tz_new(const char *name)
{
        km_tz_t *tz = calloc(1, sizeof(*tz));
        if (!tz)
                return NULL;
        tz->name = strdup(name);
        if (!tz->name) {
                free(tz);
                return NULL;
        }
        return tz;
}

static km_tz_t *utc_new(const char *name)
{
        km_tz_t *tz = tz_new(name);
        if (!tz)
                return NULL;
        tz->types = calloc(1, sizeof(*tz->types));
        if (!tz->types) {
                km_tz_free(tz);
                return NULL;
        }
        tz->ntypes = 1;
        return tz;
}

/* Reads the whole regular file at path into a malloc'd buffer. */
static uint8_t *read_file(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        struct stat st;
        uint8_t *buf = NULL;
        if (!f)
                return NULL;
        if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
            st.st_size > 0 && st.st_size <= TZ_MAX_FILE)
                buf = malloc((size_t)st.st_size);
        if (buf) {
                *len = fread(buf, 1, (size_t)st.st_size, f);
                if (*len != (size_t)st.st_size) {
                        free(buf);
                        buf = NULL;
                }
        }
        fclose(f);
        return buf;
}

static const char *zone_dir(void)
{
        const char *dir = getenv("KMSYNC_ZONEINFO");
        return dir && *dir ? dir : TZ_DEFAULT_DIR;
}

static km_tz_t *load_file(const char *name, char *errbuf, size_t errlen)
{
        char path[4096];
        size_t len = 0;
        uint8_t *data;
        km_tz_t *tz;
        const char *err;
        snprintf(path, sizeof(path), "%s/%s", zone_dir(), name);
        data = read_file(path, &len);
        if (!data) {
                set_err(errbuf, errlen,
                        "unknown time zone '%s': no zone file %s; use a tz "
                        "database name such as 'Asia/Shanghai' or 'UTC'",
                        name, path);
                return NULL;
        }
        tz = tz_new(name);
        err = tz ? parse_tzif(tz, data, len) : "out of memory";
        free(data);
        if (err) {
                set_err(errbuf, errlen,
                        "time zone '%s' cannot be used: %s is not a usable "
                        "zone file (%s)", name, path, err);
                km_tz_free(tz);
                return NULL;
        }
        return tz;
}

km_tz_t *km_tz_load(const char *name, char *errbuf, size_t errlen)
{
        km_tz_t *tz;
        if (!name || !name_ok(name)) {
                set_err(errbuf, errlen,
                        "invalid time zone name '%.64s': use a tz database "
                        "name such as 'Asia/Shanghai' (letters, digits, "
                        "'_', '+', '-' and '/', no '..' or leading '/')",
                        name ? name : "");
                return NULL;
        }
        if (strcmp(name, "UTC") != 0 && strcmp(name, "Etc/UTC") != 0)
                return load_file(name, errbuf, errlen);
        tz = utc_new(name);
        if (!tz)
                set_err(errbuf, errlen, "out of memory loading time zone");
        return tz;
}

void km_tz_free(km_tz_t *tz)
{
        if (!tz)
                return;
        free(tz->name);
        free(tz->trans);
        free(tz->trans_type);
        free(tz->types);
        free(tz);
}

const char *km_tz_name(const km_tz_t *tz)
{
        return tz->name;
}

/* ------------------------------------------------------------ formatting */

static inline char *put2(char *p, int v)
{
        p[0] = (char)('0' + v / 10);
        p[1] = (char)('0' + v % 10);
        return p + 2;
}

void km_tz_format_ms(const km_tz_t *tz, int64_t ms, char buf[32])
{
        int64_t sec = ms / 1000;
        int frac = (int)(ms % 1000);
        if (frac < 0) {
                frac += 1000;
                sec--;
        }
        km_civil_t c;
        km_tz_to_local(tz, sec, &c);
        if (c.year < 0 || c.year > 9999) {
                snprintf(buf, 32, "%04d-%02d-%02d %02d:%02d:%02d.%03d", c.year,
                         c.mon, c.day, c.hour, c.min, c.sec, frac);
                return;
        }
        char *p = put2(put2(buf, c.year / 100), c.year % 100);
        *p++ = '-';
        p = put2(p, c.mon);
        *p++ = '-';
        p = put2(p, c.day);
        *p++ = ' ';
        p = put2(p, c.hour);
        *p++ = ':';
        p = put2(p, c.min);
        *p++ = ':';
        p = put2(p, c.sec);
        *p++ = '.';
        *p++ = (char)('0' + frac / 100);
        p = put2(p, frac % 100);
        *p = '\0';
}
