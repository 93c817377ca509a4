/* param.c - DataWorks scheduling parameters, evaluated as DataWorks does.
 *
 * The text is copied through; each expression in it is parsed into a
 * param_expr, then evaluated for one scheduled time and formatted.  Inside an
 * expression no whitespace and no '=' may appear (DataWorks forbids them).
 *
 *   $[ format [offset] ]                     scheduled time; offset in days
 *   $[ add_months(format,months) [offset] ]  months first, then days
 *   ${ format [offset] }                     business date (scheduled day - 1);
 *                                            offset in the format's smallest
 *                                            unit: year, month or day
 *   $bizdate $cyctime $gmtdate $bizmonth     built-ins; also as ${name}, plus
 *                                            ${bdp.system.bizdate|cyctime}
 *   format  = (token | literal)+ with at least one token
 *   token   = yyyy yy mm dd hh24 hh12 hh mi ss, longest match first
 *   literal = any byte but a letter, whitespace, '=', '$', '[', ']', '{', '}'
 *   offset  = term+            term = ('+' | '-') product [ '/24' [ '/60' ] ]
 *   product = number ('*' number)*
 *
 * The offset is found from the right: take the longest tail of the expression
 * made only of digits, '+', '-', '*' and '/', and start the offset at its
 * first '+' or '-'.  So '$[yyyy-mm-dd]' has no offset, '$[yyyy-mm-dd-1]' is
 * the format 'yyyy-mm-dd' one day earlier, and '$[hh24-1/24]' is 'hh24' one
 * hour earlier.  All arithmetic is exact integer arithmetic on naive wall-clock
 * seconds (N/24 is N hours, N/24/60 is N minutes).  A '$' followed by a
 * letter always starts a built-in (unknown names are errors); any other '$'
 * that opens no bracket is copied as it is. */
#include "kmsync/param.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define NUMBER_MAX 999999999LL          /* one literal number in an offset */
#define PRODUCT_MAX 1000000000000LL     /* one N*M*... product */
#define OFFSET_MAX 400000000000000000LL /* saturation of a whole offset */
#define DAYS_MAX 4000000LL              /* more than years 1..9999 span */

static const char OFFSET_FIX[] =
        "write an offset such as -1, +7*2, -1/24 or -15/24/60";

/*----- Small character and string helpers ---------------------------------*/

static int is_alpha(char ch)
{
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int is_digit(char ch)
{
        return ch >= '0' && ch <= '9';
}

static int is_space(char ch)
{
        return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

static char to_lower(char ch)
{
        return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

/* 1 if s[0..n) starts with word, ignoring case when nocase is set. */
static int has_prefix(const char *s, size_t n, const char *word, int nocase)
{
        size_t len = strlen(word);
        if (len > n)
                return 0;
        for (size_t i = 0; i < len; i++) {
                char ch = nocase ? to_lower(s[i]) : s[i];
                if (ch != word[i])
                        return 0;
        }
        return 1;
}

static int equals(const char *s, size_t n, const char *word, int nocase)
{
        return strlen(word) == n && has_prefix(s, n, word, nocase);
}

/*----- Output buffer -------------------------------------------------------*/

struct strbuf {
        char *buf;
        size_t len, cap;
        int oom;
};

static void sb_add(struct strbuf *sb, const char *s, size_t n)
{
        if (!sb || sb->oom)
                return;
        if (sb->len + n + 1 > sb->cap) {
                size_t cap = sb->cap ? sb->cap : 64;
                while (cap < sb->len + n + 1)
                        cap *= 2;
                char *p = realloc(sb->buf, cap);
                if (!p) {
                        sb->oom = 1;
                        return;
                }
                sb->buf = p;
                sb->cap = cap;
        }
        memcpy(sb->buf + sb->len, s, n);
        sb->len += n;
        sb->buf[sb->len] = '\0';
}

/*----- Errors --------------------------------------------------------------*/

/* The expression being parsed, for error messages. */
struct ctx {
        const char *text;
        size_t start, len;   /* the whole expression */
        int biz;             /* 1 inside ${...} */
        int ident;           /* 1 if a ${...} body looks like a name */
        char quote[72];      /* the expression, shortened for messages */
        km_param_error_t *err;
};

/* Copies text[0..len) into out, shortened with '...' (on a UTF-8 character
 * boundary) when it does not fit. */
static void quote_into(char *out, size_t size, const char *text, size_t len)
{
        if (len < size) {
                memcpy(out, text, len);
                out[len] = '\0';
                return;
        }
        size_t n = size - 4;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
                n--;
        memcpy(out, text, n);
        memcpy(out + n, "...", 4);
}

static void set_span(struct ctx *c, size_t start, size_t len)
{
        c->start = start;
        c->len = len;
        quote_into(c->quote, sizeof(c->quote), c->text + start, len);
}

static void set_error(km_param_error_t *err, size_t off, size_t len,
                      const char *fmt, va_list ap)
{
        if (!err)
                return;
        err->offset = off;
        err->length = len ? len : 1;
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

/* Fills the error (message from fmt) and returns -1. */
__attribute__((format(printf, 4, 5)))
static int fail(const struct ctx *c, size_t off, size_t len, const char *fmt,
                ...)
{
        va_list ap;
        va_start(ap, fmt);
        set_error(c->err, off, len, fmt, ap);
        va_end(ap);
        return -1;
}

__attribute__((format(printf, 4, 5)))
static void fail_plain(km_param_error_t *err, size_t off, size_t len,
                       const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        set_error(err, off, len, fmt, ap);
        va_end(ap);
}

static const char *kind_name(const struct ctx *c)
{
        return c->biz ? "${...}" : "$[...]";
}

/*----- Format tokenizer ----------------------------------------------------*/

enum tok {
        TK_YYYY,
        TK_YY,
        TK_MM,
        TK_DD,
        TK_HH24,
        TK_HH12,
        TK_MI,
        TK_SS,
        TK_LIT,
        TK_BAD,
};

/* Longest match first: yyyy before yy, hh24/hh12 before hh. */
static const struct {
        const char *name;
        enum tok tok;
} fmt_tokens[] = {
        {"yyyy", TK_YYYY}, {"yy", TK_YY},   {"mm", TK_MM},
        {"dd", TK_DD},     {"hh24", TK_HH24}, {"hh12", TK_HH12},
        {"hh", TK_HH12},   {"mi", TK_MI},   {"ss", TK_SS},
};

/* The token name matching s[0..n), ignoring case if nocase; NULL if none. */
static const char *match_token(const char *s, size_t n, int nocase,
                               enum tok *tok)
{
        for (size_t k = 0; k < ARRAY_LEN(fmt_tokens); k++) {
                if (has_prefix(s, n, fmt_tokens[k].name, nocase)) {
                        *tok = fmt_tokens[k].tok;
                        return fmt_tokens[k].name;
                }
        }
        return NULL;
}

/* Reads one format item at s[0..n): a token, one literal byte, or TK_BAD (a
 * letter that starts no token).  Sets *len to the bytes it covers. */
static enum tok lex_fmt(const char *s, size_t n, size_t *len)
{
        enum tok tok;
        const char *name = match_token(s, n, 0, &tok);
        if (name) {
                *len = strlen(name);
                return tok;
        }
        *len = 1;
        return is_alpha(s[0]) ? TK_BAD : TK_LIT;
}

/*----- Parsed expressions --------------------------------------------------*/

enum expr_kind { EXPR_SCHED, EXPR_ADD_MONTHS, EXPR_BIZ, EXPR_BUILTIN };
enum builtin { BI_BIZDATE, BI_CYCTIME, BI_GMTDATE, BI_BIZMONTH };
enum unit { UNIT_YEAR, UNIT_MONTH, UNIT_DAY };

struct param_expr {
        enum expr_kind kind;
        enum builtin builtin;
        size_t start, len;   /* the whole expression in the text */
        size_t fmt, fmt_len; /* its format in the text */
        enum unit unit;      /* EXPR_BIZ: the unit of the offset */
        int64_t months;      /* EXPR_ADD_MONTHS */
        int64_t offset;      /* seconds ($[...]) or units (${...}) */
};

static const struct {
        const char *name;
        enum builtin builtin;
} builtin_names[] = {
        {"bizdate", BI_BIZDATE},
        {"cyctime", BI_CYCTIME},
        {"gmtdate", BI_GMTDATE},
        {"bizmonth", BI_BIZMONTH},
        {"bdp.system.bizdate", BI_BIZDATE}, /* ${...} only (has dots) */
        {"bdp.system.cyctime", BI_CYCTIME},
};

/* Looks s[0..n) up among the built-ins; returns the canonical name (NULL if
 * none) and sets *b. */
static const char *find_builtin(const char *s, size_t n, int nocase,
                                enum builtin *b)
{
        for (size_t k = 0; k < ARRAY_LEN(builtin_names); k++) {
                if (equals(s, n, builtin_names[k].name, nocase)) {
                        *b = builtin_names[k].builtin;
                        return builtin_names[k].name;
                }
        }
        return NULL;
}

/*----- Offset parser -------------------------------------------------------*/

enum off_mode {
        OFF_DAYS,   /* $[...]: days, '/24' hours, '/24/60' minutes -> seconds */
        OFF_UNITS,  /* ${...}: whole units of the format, no division */
        OFF_MONTHS, /* add_months(): whole months, first sign optional */
};

static int is_offset_char(char ch)
{
        return is_digit(ch) || ch == '+' || ch == '-' || ch == '*' || ch == '/';
}

/* Where the offset of text[f..e) starts (e if there is none): the first '+'
 * or '-' of the longest tail made of offset characters. */
static size_t find_offset(const char *t, size_t f, size_t e)
{
        size_t s = e;
        while (s > f && is_offset_char(t[s - 1]))
                s--;
        for (; s < e; s++)
                if (t[s] == '+' || t[s] == '-')
                        return s;
        return e;
}

/* Reads a decimal number at *i (< e) into *v. */
static int parse_number(const struct ctx *c, size_t *i, size_t e, int64_t *v)
{
        const char *t = c->text;
        size_t s = *i;
        int64_t n = 0;
        if (s >= e)
                return fail(c, s - 1, 1, "'%c' without a number in '%s': %s",
                            t[s - 1], c->quote, OFFSET_FIX);
        if (!is_digit(t[s]))
                return fail(c, s, 1,
                            "unexpected '%c' after '%c' in '%s': %s", t[s],
                            t[s - 1], c->quote, OFFSET_FIX);
        for (; *i < e && is_digit(t[*i]); (*i)++)
                if (n <= NUMBER_MAX)
                        n = n * 10 + (t[*i] - '0');
        if (n > NUMBER_MAX)
                return fail(c, s, *i - s,
                            "number '%.*s' too large in '%s': use at most 9 "
                            "digits",
                            (int)(*i - s), t + s, c->quote);
        *v = n;
        return 0;
}

/* product = number ('*' number)* */
static int parse_product(const struct ctx *c, size_t *i, size_t e,
                         int64_t *v)
{
        size_t s = *i;
        if (parse_number(c, i, e, v) < 0)
                return -1;
        while (*i < e && c->text[*i] == '*') {
                int64_t m = 0;
                (*i)++;
                if (parse_number(c, i, e, &m) < 0)
                        return -1;
                if (m != 0 && *v > PRODUCT_MAX / m)
                        return fail(c, s, *i - s,
                                    "product '%.*s' too large in '%s': the "
                                    "result must stay within years 1..9999",
                                    (int)(*i - s), c->text + s, c->quote);
                *v *= m;
        }
        return 0;
}

/* Reads '/24' or '/24/60' at *i; sets *secs to the seconds of one unit. */
static int parse_divisor(const struct ctx *c, size_t *i, size_t e,
                         int64_t *secs)
{
        static const int64_t want[2] = {24, 60};
        *secs = 86400;
        for (int k = 0; k < 2 && *i < e && c->text[*i] == '/'; k++) {
                size_t s = ++(*i);
                int64_t d;
                if (parse_number(c, i, e, &d) < 0)
                        return -1;
                if (d != want[k])
                        return fail(c, s, *i - s,
                                    "division by %.*s in '%s': only /24 "
                                    "(hours) and /24/60 (minutes) are allowed",
                                    (int)(*i - s), c->text + s, c->quote);
                *secs = k == 0 ? 3600 : 60;
        }
        return 0;
}

static int reject_division(const struct ctx *c, size_t i, size_t e,
                           enum off_mode mode)
{
        size_t n = 1;
        while (i + n < e && is_digit(c->text[i + n]))
                n++;
        if (mode == OFF_MONTHS)
                return fail(c, i, n,
                            "division '%.*s' in the month count of '%s': "
                            "add_months takes whole months; put hours after "
                            "it, e.g. $[add_months(yyyymmddhh24,-1)-1/24]",
                            (int)n, c->text + i, c->quote);
        return fail(c, i, n,
                    "hour or minute offset '%.*s' in '%s': ${...} is the "
                    "business date with day precision; use $[...] for "
                    "hours and minutes",
                    (int)n, c->text + i, c->quote);
}

static int64_t saturate(int64_t v)
{
        return v > OFFSET_MAX ? OFFSET_MAX : v < -OFFSET_MAX ? -OFFSET_MAX : v;
}

/* One term at *i: sign, product and (OFF_DAYS only) divisor. */
static int parse_term(const struct ctx *c, size_t *i, size_t e,
                      enum off_mode mode, int first, int64_t *v)
{
        const char *t = c->text;
        int64_t sign = 1, unit = mode == OFF_DAYS ? 86400 : 1;
        if (t[*i] == '+' || t[*i] == '-')
                sign = t[(*i)++] == '-' ? -1 : 1;
        else if (!first || mode != OFF_MONTHS)
                return fail(c, *i, 1, "unexpected '%c' in the offset of "
                            "'%s': %s", t[*i], c->quote, OFFSET_FIX);
        if (parse_product(c, i, e, v) < 0)
                return -1;
        if (*i < e && t[*i] == '/') {
                if (mode != OFF_DAYS)
                        return reject_division(c, *i, e, mode);
                if (parse_divisor(c, i, e, &unit) < 0)
                        return -1;
        }
        *v *= sign * unit;
        return 0;
}

/* offset = term+ over text[i..e); the sum goes to *out (saturated). */
static int parse_offset(const struct ctx *c, size_t i, size_t e,
                        enum off_mode mode, int64_t *out)
{
        int64_t sum = 0;
        for (int first = 1; i < e; first = 0) {
                int64_t v;
                if (parse_term(c, &i, e, mode, first, &v) < 0)
                        return -1;
                sum = saturate(sum + v);
        }
        *out = sum;
        return 0;
}

/*----- Format checker ------------------------------------------------------*/

static enum unit token_unit(enum tok tok)
{
        return tok == TK_YYYY || tok == TK_YY ? UNIT_YEAR
               : tok == TK_MM                 ? UNIT_MONTH
                                              : UNIT_DAY;
}

/* A letter at text[i] starts no token: say which fix applies. */
static int bad_token(const struct ctx *c, size_t i, size_t e)
{
        const char *t = c->text;
        enum tok tok;
        const char *name = match_token(t + i, e - i, 1, &tok);
        size_t n = 1;
        if (name)
                return fail(c, i, strlen(name),
                            "unknown token '%.*s' in '%s': tokens are "
                            "lowercase; write '%s'",
                            (int)strlen(name), t + i, c->quote, name);
        if (c->ident)
                return fail(c, c->start, c->len,
                            "unknown parameter '%s': kmsync has no named "
                            "parameters; write the time expression itself, "
                            "e.g. ${yyyymmdd} or $[yyyymmddhh24mi-8/24/60]",
                            c->quote);
        while (i + n < e && (is_alpha(t[i + n]) || is_digit(t[i + n])))
                n++;
        return fail(c, i, n,
                    "unknown token '%.*s' in '%s': use %s and characters "
                    "other than letters",
                    (int)n, t + i, c->quote,
                    c->biz ? "yyyy yy mm dd"
                           : "yyyy yy mm dd hh24 hh mi ss");
}

/* Checks the format text[f..e); sets *unit to the finest unit it shows. */
static int check_format(const struct ctx *c, size_t f, size_t e,
                        enum unit *unit)
{
        int tokens = 0;
        *unit = UNIT_YEAR;
        if (f == e)
                return fail(c, f, 1,
                            "missing format in '%s': put a format before the "
                            "offset, e.g. %s",
                            c->quote,
                            c->biz ? "${yyyymmdd-1}" : "$[yyyymmdd-1]");
        for (size_t i = f, n; i < e; i += n) {
                enum tok tok = lex_fmt(c->text + i, e - i, &n);
                if (tok == TK_BAD)
                        return bad_token(c, i, e);
                if (tok == TK_LIT)
                        continue;
                if (c->biz && tok >= TK_HH24)
                        return fail(c, i, n,
                                    "'%.*s' in '%s': ${...} is the business "
                                    "date with day precision; use $[...] for "
                                    "hours, minutes and seconds",
                                    (int)n, c->text + i, c->quote);
                if (token_unit(tok) > *unit)
                        *unit = token_unit(tok);
                tokens++;
        }
        if (!tokens)
                return fail(c, f, e - f,
                            "no time token in '%s': use %s", c->quote,
                            c->biz ? "yyyy yy mm dd"
                                   : "yyyy yy mm dd hh24 hh mi ss");
        return 0;
}

/*----- Expression parser ---------------------------------------------------*/

/* format [offset] over text[f..e). */
static int parse_timefmt(const struct ctx *c, size_t f, size_t e,
                         struct param_expr *x)
{
        size_t o = find_offset(c->text, f, e);
        x->fmt = f;
        x->fmt_len = o - f;
        x->offset = 0;
        if (check_format(c, f, o, &x->unit) < 0)
                return -1;
        if (o == e)
                return 0;
        return parse_offset(c, o, e, c->biz ? OFF_UNITS : OFF_DAYS,
                            &x->offset);
}

/* The month count text[(comma + 1)..close) and what follows the ')':
 * nothing or a day offset, text[(close + 1)..e). */
static int parse_add_months_args(const struct ctx *c, size_t comma,
                                 size_t close, size_t e, struct param_expr *x)
{
        const char *t = c->text;
        if (comma + 1 == close)
                return fail(c, close, 1, "missing month count in '%s': "
                            "write e.g. $[add_months(yyyymmdd,-1)]", c->quote);
        if (parse_offset(c, comma + 1, close, OFF_MONTHS, &x->months) < 0)
                return -1;
        if (close + 1 < e && t[close + 1] != '+' && t[close + 1] != '-')
                return fail(c, close + 1, e - close - 1,
                            "unexpected '%.*s' after add_months(...) in "
                            "'%s': only a day offset may follow, e.g. "
                            "$[add_months(yyyymmdd,-1)-1]",
                            (int)(e - close - 1), t + close + 1, c->quote);
        return parse_offset(c, close + 1, e, OFF_DAYS, &x->offset);
}

/* add_months(format,months) [offset] over text[f..e). */
static int parse_add_months(const struct ctx *c, size_t f, size_t e,
                            struct param_expr *x)
{
        const char *t = c->text;
        size_t a = f + strlen("add_months("), comma = a, close = a, o;
        while (close < e && t[close] != ')')
                close++;
        while (comma < close && t[comma] != ',')
                comma++;
        if (close == e)
                return fail(c, e, 1, "missing ')' in '%s': write "
                            "$[add_months(format,months)]", c->quote);
        if (comma == close)
                return fail(c, f, close + 1 - f,
                            "add_months without a month count in '%s': write "
                            "$[add_months(format,months)], e.g. "
                            "$[add_months(yyyymmdd,-1)]", c->quote);
        o = find_offset(t, a, comma);
        if (o < comma)
                return fail(c, o, comma - o,
                            "day offset inside add_months in '%s': put it "
                            "after the parenthesis, e.g. "
                            "$[add_months(yyyymmdd,-1)-1]", c->quote);
        x->kind = EXPR_ADD_MONTHS;
        x->fmt = a;
        x->fmt_len = comma - a;
        x->offset = 0;
        if (check_format(c, a, comma, &x->unit) < 0)
                return -1;
        return parse_add_months_args(c, comma, close, e, x);
}

/* Rejects whitespace, '=' and nesting characters in text[f..e). */
static int check_chars(const struct ctx *c, size_t f, size_t e)
{
        const char *t = c->text;
        for (size_t i = f; i < e; i++) {
                if (is_space(t[i]))
                        return fail(c, i, 1,
                                    "space in '%s': spaces are not allowed "
                                    "inside %s (DataWorks forbids them); "
                                    "split it into two expressions with the "
                                    "space between them",
                                    c->quote, kind_name(c));
                if (t[i] == '=')
                        return fail(c, i, 1,
                                    "'=' in '%s': '=' is not allowed inside "
                                    "%s (DataWorks forbids it); move it out "
                                    "of the brackets",
                                    c->quote, kind_name(c));
                if (strchr("$[]{}", t[i]))
                        return fail(c, i, 1,
                                    "unexpected '%c' in '%s': expressions "
                                    "cannot nest; is the closing '%c' "
                                    "missing?",
                                    t[i], c->quote, c->biz ? '}' : ']');
        }
        return 0;
}

/* The body of $[...] at text[f..e). */
static int parse_sched(const struct ctx *c, size_t f, size_t e,
                       struct param_expr *x)
{
        const char *t = c->text;
        if (has_prefix(t + f, e - f, "add_months(", 0))
                return parse_add_months(c, f, e, x);
        if (has_prefix(t + f, e - f, "add_months(", 1))
                return fail(c, f, 10, "unknown function '%.*s' in '%s': "
                            "write add_months in lowercase", 10, t + f,
                            c->quote);
        x->kind = EXPR_SCHED;
        return parse_timefmt(c, f, e, x);
}

/* 1 if s[0..n) looks like a parameter name: [A-Za-z_][A-Za-z0-9_.]*. */
static int is_name(const char *s, size_t n)
{
        if (n == 0 || !(is_alpha(s[0]) || s[0] == '_'))
                return 0;
        for (size_t i = 1; i < n; i++)
                if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '_' &&
                    s[i] != '.')
                        return 0;
        return 1;
}

/* The body of ${...} at text[f..e). */
static int parse_biz(struct ctx *c, size_t f, size_t e, struct param_expr *x)
{
        const char *t = c->text, *name;
        if (find_builtin(t + f, e - f, 0, &x->builtin)) {
                x->kind = EXPR_BUILTIN;
                return 0;
        }
        name = find_builtin(t + f, e - f, 1, &x->builtin);
        if (name)
                return fail(c, c->start, c->len, "unknown parameter '%s': "
                            "names are lowercase; write '${%s}'", c->quote,
                            name);
        if (has_prefix(t + f, e - f, "add_months(", 1))
                return fail(c, f, 10, "add_months in '%s': it works on the "
                            "scheduled time only; write "
                            "$[add_months(yyyymmdd,-1)], or ${yyyymm-1} for "
                            "the business date", c->quote);
        c->ident = is_name(t + f, e - f);
        x->kind = EXPR_BIZ;
        return parse_timefmt(c, f, e, x);
}

/* $[...] or ${...} starting at text[s]. */
static int parse_bracketed(struct ctx *c, size_t s, struct param_expr *x)
{
        const char *t = c->text;
        char close = t[s + 1] == '[' ? ']' : '}';
        size_t f = s + 2, e = f;
        c->biz = close == '}';
        while (t[e] && t[e] != close)
                e++;
        if (!t[e]) {
                set_span(c, s, e - s);
                return fail(c, s, e - s, "unterminated expression '%s': add "
                            "the closing '%c'", c->quote, close);
        }
        set_span(c, s, e + 1 - s);
        x->start = s;
        x->len = e + 1 - s;
        if (f == e)
                return fail(c, s, 3, "empty expression '%s': write a format "
                            "such as %s", c->quote,
                            c->biz ? "${yyyymmdd}" : "$[yyyymmdd]");
        if (check_chars(c, f, e) < 0)
                return -1;
        return c->biz ? parse_biz(c, f, e, x) : parse_sched(c, f, e, x);
}

/* $name starting at text[s] (text[s + 1] is a letter). */
static int parse_dollar_name(struct ctx *c, size_t s, struct param_expr *x)
{
        const char *t = c->text, *name;
        size_t e = s + 1;
        while (is_alpha(t[e]) || is_digit(t[e]) || t[e] == '_')
                e++;
        set_span(c, s, e - s);
        x->start = s;
        x->len = e - s;
        x->kind = EXPR_BUILTIN;
        if (find_builtin(t + s + 1, e - s - 1, 0, &x->builtin))
                return 0;
        name = find_builtin(t + s + 1, e - s - 1, 1, &x->builtin);
        if (name)
                return fail(c, s, e - s, "unknown built-in parameter '%s': "
                            "names are lowercase; write '$%s'", c->quote, name);
        if (equals(t + s + 1, e - s - 1, "jobid", 0) ||
            equals(t + s + 1, e - s - 1, "nodeid", 0) ||
            equals(t + s + 1, e - s - 1, "taskid", 0))
                return fail(c, s, e - s, "'%s' is not available: kmsync has "
                            "no DataWorks workflow, node or instance ids; "
                            "write a constant instead", c->quote);
        return fail(c, s, e - s, "unknown built-in parameter '%s': use "
                    "$bizdate, $cyctime, $gmtdate or $bizmonth (a '$' "
                    "followed by a letter always starts a parameter)",
                    c->quote);
}

/* 1 if the '$' at s starts an expression. */
static int starts_expr(const char *s)
{
        return s[1] == '[' || s[1] == '{' || is_alpha(s[1]);
}

static int parse_expr(struct ctx *c, size_t s, struct param_expr *x)
{
        c->ident = 0;
        c->biz = 0;
        if (c->text[s + 1] == '[' || c->text[s + 1] == '{')
                return parse_bracketed(c, s, x);
        return parse_dollar_name(c, s, x);
}

/*----- Evaluation ----------------------------------------------------------*/

/* base + secs; -1 if the result leaves years 1..9999. */
static int shift_seconds(const km_civil_t *base, int64_t secs,
                         km_civil_t *out)
{
        int64_t lo = km_days_from_civil(1, 1, 1) * 86400;
        int64_t hi = km_days_from_civil(9999, 12, 31) * 86400 + 86399;
        int64_t v = km_civil_to_seconds(base) + secs;
        if (v < lo || v > hi)
                return -1;
        km_civil_from_seconds(v, out);
        return 0;
}

static int shift_days(const km_civil_t *base, int64_t days, km_civil_t *out)
{
        if (days > DAYS_MAX || days < -DAYS_MAX)
                return -1;
        return shift_seconds(base, days * 86400, out);
}

/* base + n months, the day clamped to the end of the target month. */
static int shift_months(const km_civil_t *base, int64_t n, km_civil_t *out)
{
        int64_t m = (int64_t)base->year * 12 + (base->mon - 1) + n;
        int dim;
        if (m < 12 || m > 9999 * 12 + 11)
                return -1;
        *out = *base;
        out->year = (int)(m / 12);
        out->mon = (int)(m % 12) + 1;
        dim = km_days_in_month(out->year, out->mon);
        if (out->day > dim)
                out->day = dim;
        return 0;
}

/* The business date: the scheduled day minus one, at 00:00:00. */
static int business_date(const km_civil_t *sched, km_civil_t *out)
{
        km_civil_t day = *sched;
        day.hour = day.min = day.sec = 0;
        return shift_days(&day, -1, out);
}

/* $bizmonth: the business date's month, or the month before it when the
 * business date lies in the scheduled ("current") month. */
static int business_month(const km_civil_t *sched, km_civil_t *out)
{
        km_civil_t biz;
        if (business_date(sched, &biz) < 0)
                return -1;
        if (biz.year == sched->year && biz.mon == sched->mon)
                return shift_months(&biz, -1, out);
        *out = biz;
        return 0;
}

static int shift_units(const km_civil_t *base, enum unit unit, int64_t n,
                       km_civil_t *out)
{
        if (unit == UNIT_YEAR)
                return shift_months(base, n * 12, out);
        if (unit == UNIT_MONTH)
                return shift_months(base, n, out);
        return shift_days(base, n, out);
}

static int token_value(enum tok tok, const km_civil_t *t)
{
        switch (tok) {
        case TK_YYYY: return t->year;
        case TK_YY: return t->year % 100;
        case TK_MM: return t->mon;
        case TK_DD: return t->day;
        case TK_HH24: return t->hour;
        case TK_HH12: return t->hour % 12 ? t->hour % 12 : 12;
        case TK_MI: return t->min;
        default: return t->sec;
        }
}

/* Writes time t in format f[0..n) to out. */
static void format_time(const char *f, size_t n, const km_civil_t *t,
                        struct strbuf *out)
{
        for (size_t i = 0, len; i < n; i += len) {
                enum tok tok = lex_fmt(f + i, n - i, &len);
                char buf[8];
                if (tok == TK_LIT || tok == TK_BAD) {
                        sb_add(out, f + i, len);
                        continue;
                }
                snprintf(buf, sizeof(buf), tok == TK_YYYY ? "%04d" : "%02d",
                         token_value(tok, t));
                sb_add(out, buf, strlen(buf));
        }
}

/* The time a built-in shows and its format. */
static int eval_builtin(enum builtin b, const km_civil_t *sched,
                        km_civil_t *t, const char **fmt)
{
        switch (b) {
        case BI_BIZDATE:
                *fmt = "yyyymmdd";
                return business_date(sched, t);
        case BI_CYCTIME:
                *fmt = "yyyymmddhh24miss";
                break;
        case BI_GMTDATE:
                *fmt = "yyyymmdd";
                break;
        case BI_BIZMONTH:
                *fmt = "yyyymm";
                return business_month(sched, t);
        }
        *t = *sched;
        return 0;
}

/* The time expression x shows for sched. */
static int eval_time(const struct param_expr *x, const km_civil_t *sched,
                     km_civil_t *t)
{
        km_civil_t mid;
        switch (x->kind) {
        case EXPR_SCHED:
                return shift_seconds(sched, x->offset, t);
        case EXPR_ADD_MONTHS:
                if (shift_months(sched, x->months, &mid) < 0)
                        return -1;
                return shift_seconds(&mid, x->offset, t);
        case EXPR_BIZ:
                if (business_date(sched, &mid) < 0)
                        return -1;
                return shift_units(&mid, x->unit, x->offset, t);
        default:
                return -1;
        }
}

static int eval_expr(const struct ctx *c, const struct param_expr *x,
                     const km_civil_t *sched, struct strbuf *out)
{
        km_civil_t t;
        const char *fmt = c->text + x->fmt;
        size_t fmt_len = x->fmt_len;
        int rc;
        if (x->kind == EXPR_BUILTIN) {
                rc = eval_builtin(x->builtin, sched, &t, &fmt);
                fmt_len = strlen(fmt);
        } else {
                rc = eval_time(x, sched, &t);
        }
        if (rc < 0)
                return fail(c, x->start, x->len, "result out of range in "
                            "'%s': the time must stay within years 1..9999",
                            c->quote);
        format_time(fmt, fmt_len, &t, out);
        return 0;
}

/*----- Driver --------------------------------------------------------------*/

/* Parses (and, with sched, evaluates into out) every expression of text. */
static int walk(const char *text, const km_civil_t *sched, struct strbuf *out,
                km_param_error_t *err)
{
        struct ctx c = {.text = text, .err = err};
        size_t i = 0, lit = 0;
        while (text[i]) {
                struct param_expr x = {0};
                if (text[i] != '$' || !starts_expr(text + i)) {
                        i++;
                        continue;
                }
                sb_add(out, text + lit, i - lit);
                if (parse_expr(&c, i, &x) < 0)
                        return -1;
                if (sched && eval_expr(&c, &x, sched, out) < 0)
                        return -1;
                i = lit = x.start + x.len;
        }
        sb_add(out, text + lit, i - lit);
        return 0;
}

char *km_param_eval(const char *text, const km_civil_t *sched,
                    km_param_error_t *err)
{
        struct strbuf sb = {0};
        if (!text || !sched || !km_civil_valid(sched)) {
                fail_plain(err, 0, 1, "invalid %s: pass a text and a real "
                           "scheduled time within years 1..9999",
                           text ? "scheduled time" : "text (null)");
                return NULL;
        }
        sb_add(&sb, "", 0);
        if (walk(text, sched, &sb, err) < 0) {
                free(sb.buf);
                return NULL;
        }
        if (sb.oom) {
                free(sb.buf);
                fail_plain(err, 0, 1, "out of memory while evaluating "
                           "parameters");
                return NULL;
        }
        return sb.buf;
}

int km_param_check(const char *text, km_param_error_t *err)
{
        if (!text) {
                fail_plain(err, 0, 1, "invalid text (null): pass a text");
                return -1;
        }
        return walk(text, NULL, NULL, err);
}

int km_param_has_expr(const char *text)
{
        for (const char *p = text ? strchr(text, '$') : NULL; p;
             p = strchr(p + 1, '$'))
                if (starts_expr(p))
                        return 1;
        return 0;
}
