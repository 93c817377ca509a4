/* json_extract.cpp - the values at a SYNC's JSON paths, in one pass over
 * the document, with simdjson's on-demand API.
 *
 * The paths become a trie of their steps.  A run copies the document into
 * a padded buffer as "[" doc "]" (simdjson reads up to SIMDJSON_PADDING
 * bytes past the end, and the wrapper lets a scalar document be walked
 * like any other value: exactly one element, nothing after it), has
 * simdjson index it (stage 1 checks UTF-8, unescaped control characters
 * and unclosed strings for the whole text), and then walks every value
 * once, in document order.  A value at a trie node that ends a path fills
 * that path's result; children of the node are matched against the
 * object's keys or the array's indices as the walk meets them; every
 * other value is only validated: numbers parsed, strings with escapes
 * unescaped, literals checked.  On-demand alone would not look at what it
 * skips, and the mapper's rule is that a value that is not JSON is dirty.
 *
 * jansson's rules are kept where they differ from plain JSON: a repeated
 * key's last value wins (lookups, and objects written as text: the key at
 * its first place), and with KM_JX_JANSSON an integer outside int64 or a
 * key with \u0000 makes the document invalid.  Depth is limited to
 * KM_JX_MAX_DEPTH values, as jansson's JSON_PARSER_MAX_DEPTH.
 *
 * Objects and arrays at a path are written as compact text while they are
 * walked, into `text`; one nested in another that is being written is
 * copied out to `side` when it ends, because the outer object may still be
 * rewritten (a repeated key).  Results point into the padded copy (plain
 * strings, number text), simdjson's string buffer (unescaped strings) or
 * the two text buffers, all kept until the next run.
 *
 * The walk does not recurse: open objects and arrays are frames of a
 * stack of our own, so a document nested KM_JX_MAX_DEPTH deep needs no
 * more of the thread's stack than a flat one (under ASan a recursive walk
 * needed ~7 KB a level).  simdjson 3.0.1 is used through its error codes
 * only; its get_number() returns 0 for reals of more than 19 digits, so
 * those are read again with get_double(). */
#include "json_extract.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

extern "C" {
#include "util.h"
}

namespace od = simdjson::ondemand;
using simdjson::error_code;

namespace {

/* Buffers larger than this are given back before the next run. */
constexpr size_t KEEP = (size_t)16 << 20;
constexpr size_t NO_NODE = (size_t)-1;

/* ------------------------------------------------------------ buffers */

struct bytes {
        char *data = nullptr;
        size_t len = 0, cap = 0;
};

void reserve(bytes *b, size_t n)
{
        if (b->len + n <= b->cap)
                return;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
                cap *= 2;
        b->data = static_cast<char *>(km_xrealloc(b->data, cap));
        b->cap = cap;
}

void put(bytes *b, const char *s, size_t n)
{
        reserve(b, n);
        memcpy(b->data + b->len, s, n);
        b->len += n;
}

void putc1(bytes *b, char c)
{
        reserve(b, 1);
        b->data[b->len++] = c;
}

void release_if_big(bytes *b)
{
        if (b->cap > KEEP) {
                free(b->data);
                *b = bytes{};
        }
}

/* s as a JSON string, the way the mapper writes strings: '"', '\\' and
 * control characters escaped, everything else as is. */
void put_escaped(bytes *b, const char *s, size_t n)
{
        size_t run = 0;
        reserve(b, n + 2);
        putc1(b, '"');
        for (size_t i = 0; i < n; i++) {
                char esc[6];
                size_t len = km_json_escape_byte(
                        static_cast<unsigned char>(s[i]), esc);
                if (!len)
                        continue;
                put(b, s + run, i - run);
                put(b, esc, len);
                run = i + 1;
        }
        put(b, s + run, n - run);
        putc1(b, '"');
}

/* A string whose source had no escape: no byte needs one (stage 1 has
 * rejected raw control characters, and '"' cannot occur). */
void put_plain(bytes *b, const char *s, size_t n)
{
        reserve(b, n + 2);
        b->data[b->len++] = '"';
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len++] = '"';
}

void put_int(bytes *b, int64_t v)
{
        char tmp[24];
        size_t n = 0;
        uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v)
                           : static_cast<uint64_t>(v);
        do
                tmp[n++] = static_cast<char>('0' + u % 10);
        while ((u /= 10) != 0);
        reserve(b, n + 1);
        if (v < 0)
                b->data[b->len++] = '-';
        while (n > 0)
                b->data[b->len++] = tmp[--n];
}

/* As the mapper's fmt_real(): the shortest of %.15g, %.16g, %.17g that
 * reads back as d, ".0" added when it would look like an integer. */
void put_real(bytes *b, double d)
{
        char buf[40];
        int n = 0;
        if (std::isnan(d) || std::isinf(d)) {
                const char *t = std::isnan(d) ? "NaN"
                                : d > 0       ? "Infinity"
                                              : "-Infinity";
                put(b, t, strlen(t));
                return;
        }
        for (int prec = 15; prec <= 17; prec++) {
                n = snprintf(buf, 32, "%.*g", prec, d);
                if (strtod(buf, nullptr) == d)
                        break;
        }
        if (!strpbrk(buf, ".e"))
                memcpy(buf + n, ".0", 3), n += 2;
        put(b, buf, static_cast<size_t>(n));
}

/* 1 when s[0 .. n) has a '\\' (eight bytes at a time). */
inline int has_backslash(const char *s, size_t n)
{
        const uint64_t ones = 0x0101010101010101ULL;
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                w ^= ones * '\\';
                if ((w - ones) & ~w & (ones << 7))
                        return 1;
        }
        for (; i < n; i++)
                if (s[i] == '\\')
                        return 1;
        return 0;
}

/* --------------------------------------------------------------- trie */

struct node {
        std::string_view key; /* how the parent reaches it: a key step, */
        int64_t index = 0;    /* or else an index step */
        std::vector<size_t> keys, items; /* children; items by index */
        std::vector<int> paths;          /* paths ending here */
        std::vector<int> under;          /* paths ending here or below */
};

/* A member of an object being written: offsets into the text buffer. */
struct member {
        size_t key, colon, end; /* '"' of the key, ':' after it, end */
};

/* Where a path's text result lives until the run ends. */
enum { IN_NONE, IN_TEXT, IN_SIDE };

/* An object or array being walked: its iterator, the member or element
 * being visited (made in place: copying one out of simdjson's result
 * costs a store-forwarding stall), and what closing it needs. */
struct open_value {
        const node *n;
        int is_object, started;
        od::object_iterator oit;
        od::array_iterator ait;
        simdjson::simdjson_result<od::field> field;
        simdjson::simdjson_result<od::value> item;
        size_t start; /* capture_begin()'s */
        int nested;
        size_t base, from; /* members[base ..]; text after the '{' */
        size_t next;       /* arrays: the next of n->items */
        int64_t index;     /* arrays: of the element */
};

} // namespace

struct km_jx {
        unsigned flags;
        int npaths;
        std::vector<node> nodes; /* nodes[0]: the document */
        std::vector<char *> keys; /* copies of the step keys */
        od::parser parser;
        bytes padded;              /* "[" doc "]" and the padding */
        bytes text, side;          /* objects and arrays written out */
        std::vector<member> members;
        std::vector<open_value> stack; /* see walk_value() */
        std::vector<unsigned> seen; /* per node: run that met it last */
        unsigned run;
        /* per path during a run */
        std::vector<unsigned char> where;
        std::vector<size_t> off;
};

namespace {

/* One run's state. */
struct walk {
        km_jx *x;
        km_jx_value_t *out;
        int writing;     /* objects and arrays being written around here */
        size_t depth;    /* objects and arrays open, in x->stack */
        const char *why; /* our own reason, else simdjson's */
};

size_t child_key(const km_jx *x, const node &n, const char *k, size_t len)
{
        for (size_t c : n.keys) {
                const node &ch = x->nodes[c];
                if (ch.key.size() == len &&
                    (len == 0 || (ch.key[0] == k[0] &&
                                  memcmp(ch.key.data(), k, len) == 0)))
                        return c;
        }
        return NO_NODE;
}

/* A node met again (a repeated key): what was found below it before is
 * forgotten, as jansson keeps only the last value. */
void meet(walk *w, size_t c)
{
        km_jx *x = w->x;
        if (x->seen[c] == x->run) {
                for (int p : x->nodes[c].under) {
                        w->out[p] = km_jx_value_t{};
                        x->where[p] = IN_NONE;
                }
        }
        x->seen[c] = x->run;
}

/* The value of every path ending at n, member by member (a value made on
 * the stack and copied whole stalls the copy's loads). */
void set_all(walk *w, const node *n, km_jx_kind_t kind, const char *s,
             size_t len, int64_t i = 0, uint64_t u = 0, double d = 0,
             int overflow = 0)
{
        for (int p : n->paths) {
                km_jx_value_t *o = &w->out[p];
                o->kind = kind;
                o->overflow = overflow;
                o->i = i;
                o->u = u;
                o->d = d;
                o->s = s;
                o->len = len;
                w->x->where[p] = IN_NONE;
        }
}

error_code fail(walk *w, const char *why)
{
        w->why = why;
        return simdjson::TAPE_ERROR;
}


/* 1 when two members' keys are the same (their text is escaped the same
 * way, so equal text is an equal key). */
int same_key(const bytes *t, const member &a, const member &b)
{
        size_t la = a.colon - a.key, lb = b.colon - b.key;
        return la == lb && memcmp(t->data + a.key, t->data + b.key, la) == 0;
}

/* The members of an object just written, members[base] on, its text from
 * `from`: when a key repeats, rewrites them with each key once, at its
 * first place, with its last value.  Small objects are checked pairwise,
 * larger ones through their keys sorted. */
void dedupe(km_jx *x, size_t base, size_t from)
{
        const member *m = x->members.data() + base;
        const bytes *t = &x->text;
        size_t n = x->members.size() - base;
        std::vector<size_t> order; /* by key, then place */
        int dup = 0;
        if (n <= 16) {
                for (size_t i = 1; i < n && !dup; i++)
                        for (size_t j = 0; j < i && !dup; j++)
                                dup = same_key(t, m[i], m[j]);
                if (!dup)
                        return;
        }
        order.resize(n);
        for (size_t i = 0; i < n; i++)
                order[i] = i;
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
                size_t la = m[a].colon - m[a].key, lb = m[b].colon - m[b].key;
                int c = memcmp(t->data + m[a].key, t->data + m[b].key,
                               la < lb ? la : lb);
                if (c != 0 || la != lb)
                        return c != 0 ? c < 0 : la < lb;
                return a < b;
        });
        /* last[i]: for the first member of each key, its last one's place;
         * NO_NODE for the others */
        std::vector<size_t> last(n, NO_NODE);
        for (size_t g = 0; g < n;) {
                size_t h = g + 1;
                while (h < n && same_key(t, m[order[g]], m[order[h]]))
                        h++;
                dup |= h - g > 1;
                last[order[g]] = order[h - 1];
                g = h;
        }
        if (!dup)
                return;
        bytes out;
        for (size_t i = 0; i < n; i++) {
                if (last[i] == NO_NODE)
                        continue;
                const member &a = m[i], &b = m[last[i]];
                if (out.len)
                        putc1(&out, ',');
                put(&out, t->data + a.key, a.colon - a.key);
                put(&out, t->data + b.colon, b.end - b.colon);
        }
        x->text.len = from;
        put(&x->text, out.data, out.len);
        free(out.data);
}

/* Starts writing the value at n when a path ends there; returns where. */
size_t capture_begin(walk *w, const node *n, int *nested)
{
        *nested = w->writing > 0;
        if (n && !n->paths.empty()) {
                w->writing++;
                return w->x->text.len;
        }
        return NO_NODE;
}

void capture_end(walk *w, const node *n, size_t start, int nested,
                 km_jx_kind_t kind)
{
        if (start == NO_NODE)
                return;
        km_jx *x = w->x;
        w->writing--;
        size_t len = x->text.len - start;
        unsigned char in = IN_TEXT;
        size_t off = start;
        if (nested) { /* the outer one may still be rewritten */
                off = x->side.len;
                put(&x->side, x->text.data + start, len);
                in = IN_SIDE;
        }
        set_all(w, n, kind, nullptr, len);
        for (int p : n->paths) {
                x->where[p] = in;
                x->off[p] = off;
        }
}

/* The key of field f: matched against n's children (*child, or NO_NODE),
 * and written out when writing. */
error_code read_key(walk *w, od::field &f, const node *n, int writing,
                    size_t from, size_t *child)
{
        km_jx *x = w->x;
        const char *k = f.key().raw();
        /* The key ends at the last '"' before the value's ':' (checked by
         * simdjson by now). */
        const char *q = f.value().raw_json_token().data() - 1;
        while (*q != '"')
                q--;
        size_t klen = static_cast<size_t>(q - k);
        int plain = !has_backslash(k, klen);
        if (!plain) {
                std::string_view u;
                SIMDJSON_TRY(f.unescaped_key().get(u));
                k = u.data(), klen = u.size();
                if ((x->flags & KM_JX_JANSSON) && memchr(k, '\0', klen))
                        return fail(w, "NUL byte in object key not supported");
        }
        if (writing) {
                member m{x->text.len, 0, 0};
                if (m.key > from)
                        putc1(&x->text, ','), m.key++;
                if (plain)
                        put_plain(&x->text, k, klen);
                else
                        put_escaped(&x->text, k, klen);
                m.colon = x->text.len;
                putc1(&x->text, ':');
                x->members.push_back(m);
        }
        *child = n ? child_key(x, *n, k, klen) : NO_NODE;
        if (*child != NO_NODE)
                meet(w, *child);
        return simdjson::SUCCESS;
}

error_code walk_string(walk *w, od::value &v, const node *n)
{
        /* The token runs from the '"' to the next token: the last '"' in
         * it closes the string. */
        std::string_view tok = v.raw_json_token();
        const char *s = tok.data() + 1, *q = tok.data() + tok.size() - 1;
        while (*q != '"')
                q--;
        size_t len = static_cast<size_t>(q - s);
        int plain = !has_backslash(s, len);
        if (plain) {
                od::raw_json_string raw;
                SIMDJSON_TRY(v.get_raw_json_string().get(raw));
        } else {
                std::string_view u;
                SIMDJSON_TRY(v.get_string().get(u));
                s = u.data(), len = u.size();
        }
        if (w->writing > 0) {
                if (plain)
                        put_plain(&w->x->text, s, len);
                else
                        put_escaped(&w->x->text, s, len);
        }
        if (n && !n->paths.empty())
                set_all(w, n, KM_JX_STRING, s, len);
        return simdjson::SUCCESS;
}

/* [-]digits: an integer too long for simdjson's 64 bits. */
int integer_syntax(std::string_view t)
{
        size_t i = !t.empty() && t[0] == '-';
        if (i == t.size())
                return 0;
        for (; i < t.size(); i++)
                if (t[i] < '0' || t[i] > '9')
                        return 0;
        return 1;
}

error_code walk_number(walk *w, od::value &v, const node *n)
{
        std::string_view tok = v.raw_json_token();
        size_t tl = tok.size();
        while (tl > 0 && (tok[tl - 1] == ' ' || tok[tl - 1] == '\t' ||
                          tok[tl - 1] == '\n' || tok[tl - 1] == '\r'))
                tl--;
        tok = tok.substr(0, tl);
        int strict = (w->x->flags & KM_JX_JANSSON) != 0;
        km_jx_kind_t kind;
        int64_t i = 0;
        uint64_t u = 0;
        double d = 0;
        int overflow = 0;
        od::number num;
        error_code e = v.get_number().get(num);
        if (e && integer_syntax(tok) && !(tok.size() > 1 && tok[0] == '0') &&
            !(tok.size() > 2 && tok[0] == '-' && tok[1] == '0')) {
                if (strict)
                        return fail(w, tok[0] == '-' ? "too big negative "
                                                       "integer"
                                                     : "too big integer");
                kind = KM_JX_INT;
                overflow = 1;
        } else if (e) {
                return e;
        } else if (num.is_int64()) {
                kind = KM_JX_INT;
                i = num.get_int64();
        } else if (num.is_uint64()) {
                if (strict)
                        return fail(w, "too big integer");
                kind = KM_JX_UINT;
                u = num.get_uint64();
        } else {
                kind = KM_JX_REAL;
                d = num.get_double();
                /* simdjson 3.0.1's get_number() loses a real of more than
                 * 19 digits (its slow path writes to a copy): 0 comes
                 * back.  get_double() reads those right. */
                if (tok.size() > 19)
                        SIMDJSON_TRY(v.get_double().get(d));
        }
        if (w->writing > 0) {
                bytes *t = &w->x->text;
                if (kind == KM_JX_REAL)
                        put_real(t, d);
                else if (kind == KM_JX_INT && !overflow)
                        put_int(t, i);
                else
                        put(t, tok.data(), tok.size());
        }
        if (n && !n->paths.empty())
                set_all(w, n, kind, tok.data(), tok.size(), i, u, d,
                        overflow);
        return simdjson::SUCCESS;
}

error_code walk_literal(walk *w, od::value &v, const node *n,
                        od::json_type t)
{
        km_jx_kind_t kind = KM_JX_NULL;
        bool b = false;
        switch (t) {
        case od::json_type::boolean: {
                SIMDJSON_TRY(v.get_bool().get(b));
                kind = KM_JX_BOOL;
                if (w->writing > 0)
                        put(&w->x->text, b ? "true" : "false", b ? 4 : 5);
                break;
        }
        case od::json_type::null: {
                bool is;
                SIMDJSON_TRY(v.is_null().get(is));
                if (!is)
                        return fail(w, "invalid token");
                if (w->writing > 0)
                        put(&w->x->text, "null", 4);
                break;
        }
        default:
                break;
        }
        if (n && !n->paths.empty())
                set_all(w, n, kind, nullptr, 0, b);
        return simdjson::SUCCESS;
}

/* Opens the object or array v at node n: onto the stack, '{' or '[' out
 * when writing.  v may be in a frame of the stack: read before it grows. */
error_code open(walk *w, od::value &v, const node *n, od::json_type t)
{
        km_jx *x = w->x;
        int is_object = t == od::json_type::object;
        od::object obj;
        od::array arr;
        error_code e = is_object ? v.get_object().get(obj)
                                 : v.get_array().get(arr);
        if (e)
                return e;
        if (w->depth == x->stack.size()) /* frames are kept: none zeroed */
                x->stack.emplace_back();
        open_value &o = x->stack[w->depth++];
        o.n = n;
        o.is_object = is_object;
        o.started = 0;
        o.next = 0;
        o.index = 0;
        o.start = capture_begin(w, n, &o.nested);
        o.base = x->members.size();
        o.from = x->text.len + 1;
        e = is_object ? obj.begin().get(o.oit) : arr.begin().get(o.ait);
        if (e)
                return e;
        if (w->writing > 0)
                putc1(&x->text, is_object ? '{' : '[');
        return simdjson::SUCCESS;
}

/* Writes the end of o, settles its repeated keys and its capture. */
void close(walk *w, open_value &o)
{
        km_jx *x = w->x;
        if (w->writing > 0 && o.is_object) {
                if (x->members.size() - o.base > 1)
                        dedupe(x, o.base, o.from);
                x->members.resize(o.base);
        }
        if (w->writing > 0)
                putc1(&x->text, o.is_object ? '}' : ']');
        capture_end(w, o.n, o.start, o.nested,
                    o.is_object ? KM_JX_OBJECT : KM_JX_ARRAY);
}

/* Moves o on to its next member or element: *v and *n are it and its
 * trie node, or *v is NULL at o's end. */
error_code advance(walk *w, open_value &o, od::value **v, const node **n)
{
        km_jx *x = w->x;
        int writing = w->writing > 0;
        *v = nullptr;
        *n = nullptr;
        if (o.is_object) {
                if (o.started) {
                        if (writing)
                                x->members.back().end = x->text.len;
                        ++o.oit;
                }
                o.started = 1;
                if (!(o.oit != o.oit))
                        return simdjson::SUCCESS;
                new (&o.field) simdjson::simdjson_result<od::field>(*o.oit);
                SIMDJSON_TRY(o.field.error());
                od::field &f = o.field.value_unsafe();
                size_t c;
                SIMDJSON_TRY(read_key(w, f, o.n, writing, o.from, &c));
                *v = &f.value();
                *n = c == NO_NODE ? nullptr : &x->nodes[c];
                return simdjson::SUCCESS;
        }
        if (o.started) {
                ++o.ait;
                o.index++;
        }
        o.started = 1;
        if (!(o.ait != o.ait))
                return simdjson::SUCCESS;
        new (&o.item) simdjson::simdjson_result<od::value>(*o.ait);
        SIMDJSON_TRY(o.item.error());
        if (writing && o.index > 0)
                putc1(&x->text, ',');
        if (o.n) {
                const std::vector<size_t> &items = o.n->items;
                while (o.next < items.size() &&
                       x->nodes[items[o.next]].index < o.index)
                        o.next++;
                if (o.next < items.size() &&
                    x->nodes[items[o.next]].index == o.index)
                        *n = &x->nodes[items[o.next]];
        }
        *v = &o.item.value_unsafe();
        return simdjson::SUCCESS;
}

/* Walks the document's value v (at the trie's root n) and everything in
 * it, in document order.  Open objects and arrays are on a stack of our
 * own, not the thread's: a document KM_JX_MAX_DEPTH deep costs the same
 * small native stack as a flat one. */
error_code walk_value(walk *w, od::value &root, const node *n)
{
        std::vector<open_value> &st = w->x->stack;
        od::value *v = &root;
        w->depth = 0;
        for (;;) {
                if (w->depth >= KM_JX_MAX_DEPTH)
                        return fail(w, "maximum parsing depth reached");
                od::json_type t;
                SIMDJSON_TRY(v->type().get(t));
                switch (t) {
                case od::json_type::object:
                case od::json_type::array:
                        SIMDJSON_TRY(open(w, *v, n, t));
                        break;
                case od::json_type::string:
                        SIMDJSON_TRY(walk_string(w, *v, n));
                        break;
                case od::json_type::number:
                        SIMDJSON_TRY(walk_number(w, *v, n));
                        break;
                default:
                        SIMDJSON_TRY(walk_literal(w, *v, n, t));
                }
                /* the next value: in the innermost open object or array,
                 * closing those that end */
                for (;;) {
                        if (w->depth == 0)
                                return simdjson::SUCCESS;
                        open_value &o = st[w->depth - 1];
                        SIMDJSON_TRY(advance(w, o, &v, &n));
                        if (v)
                                break;
                        close(w, o);
                        w->depth--;
                }
        }
}

/* ------------------------------------------------------------- errors */

/* Length of the valid UTF-8 sequence at s (n > 0 bytes), 0 if none. */
size_t utf8_len(const unsigned char *s, size_t n)
{
        unsigned char c = s[0];
        auto cont = [](unsigned char b) { return (b & 0xC0) == 0x80; };
        if (c < 0x80)
                return 1;
        if (c >= 0xC2 && c <= 0xDF)
                return n >= 2 && cont(s[1]) ? 2 : 0;
        if (c >= 0xE0 && c <= 0xEF) {
                unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
                unsigned char hi = c == 0xED ? 0x9F : 0xBF;
                return n >= 3 && s[1] >= lo && s[1] <= hi && cont(s[2]) ? 3
                                                                        : 0;
        }
        if (c >= 0xF0 && c <= 0xF4) {
                unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
                unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
                return n >= 4 && s[1] >= lo && s[1] <= hi && cont(s[2]) &&
                                       cont(s[3])
                               ? 4
                               : 0;
        }
        return 0;
}

/* Where stage 1's complaint is: the first bad UTF-8 byte, the first raw
 * control character in a string, or the quote that is never closed. */
size_t stage1_offset(error_code e, const char *s, size_t n)
{
        const unsigned char *u = reinterpret_cast<const unsigned char *>(s);
        size_t open = n;
        int in = 0;
        for (size_t i = 0; i < n;) {
                if (e == simdjson::UTF8_ERROR) {
                        size_t k = utf8_len(u + i, n - i);
                        if (k == 0)
                                return i;
                        i += k;
                        continue;
                }
                if (in && u[i] < 0x20 && e == simdjson::UNESCAPED_CHARS)
                        return i;
                if (in && u[i] == '\\') {
                        i += 2;
                        continue;
                }
                if (u[i] == '"')
                        in = !in, open = i;
                i++;
        }
        return in ? open : n;
}

void set_error(km_jx_error_t *err, const char *msg, size_t at, size_t n)
{
        if (!err)
                return;
        snprintf(err->text, sizeof(err->text), "%s", msg);
        err->offset = at < n ? at : n;
}

/* Fits the parser and buffers to a document of n bytes. */
void fit(km_jx *x, size_t n)
{
        release_if_big(&x->text);
        release_if_big(&x->side);
        if (x->members.capacity() * sizeof(member) > KEEP)
                std::vector<member>().swap(x->members);
        size_t need = n + 2 + simdjson::SIMDJSON_PADDING;
        if (x->padded.cap > KEEP && need <= KEEP) {
                free(x->padded.data);
                x->padded = bytes{};
        }
        if (x->parser.capacity() > KEEP && n + 2 <= KEEP) {
                /* on failure iterate() allocates again */
                error_code e = x->parser.allocate(n + 2 > 4096 ? n + 2 : 4096,
                                                  x->parser.max_depth());
                (void)e;
        }
        x->padded.len = 0;
        reserve(&x->padded, need);
}

} // namespace

/* ---------------------------------------------------------------- API */

extern "C" km_jx_t *km_jx_new(const km_jx_path_t *paths, int npaths,
                              unsigned flags)
{
        km_jx *x = new km_jx();
        x->flags = flags;
        x->npaths = npaths;
        x->run = 0;
        x->nodes.emplace_back();
        for (int p = 0; p < npaths; p++) {
                size_t at = 0;
                x->nodes[0].under.push_back(p);
                for (int i = 0; i < paths[p].nsteps; i++) {
                        const km_path_step_t *s = &paths[p].steps[i];
                        std::vector<size_t> &kids = s->key ? x->nodes[at].keys
                                                           : x->nodes[at].items;
                        size_t found = NO_NODE;
                        for (size_t c : kids) {
                                const node &ch = x->nodes[c];
                                if (s->key ? ch.key == std::string_view(
                                                           s->key, s->key_len)
                                           : ch.index == s->index)
                                        found = c;
                        }
                        if (found == NO_NODE) {
                                node ch;
                                if (s->key) {
                                        char *k = static_cast<char *>(
                                                km_xmalloc(s->key_len + 1));
                                        memcpy(k, s->key, s->key_len);
                                        x->keys.push_back(k);
                                        ch.key = {k, s->key_len};
                                } else {
                                        ch.index = s->index;
                                }
                                found = x->nodes.size();
                                /* kids may move with nodes: push first */
                                x->nodes.push_back(ch);
                                std::vector<size_t> &k2 =
                                        s->key ? x->nodes[at].keys
                                               : x->nodes[at].items;
                                size_t j = k2.size();
                                k2.push_back(found);
                                while (!s->key && j > 0 &&
                                       x->nodes[k2[j - 1]].index > s->index) {
                                        k2[j] = k2[j - 1];
                                        k2[--j] = found;
                                }
                        }
                        at = found;
                        x->nodes[at].under.push_back(p);
                }
                x->nodes[at].paths.push_back(p);
        }
        x->seen.assign(x->nodes.size(), 0);
        x->where.assign(static_cast<size_t>(npaths), IN_NONE);
        x->off.assign(static_cast<size_t>(npaths), 0);
        /* jansson's depth, the wrapper array, and a margin for simdjson's
         * development checks */
        if (x->parser.allocate(4096, KM_JX_MAX_DEPTH + 16)) {
                fprintf(stderr, "kmsync: fatal: out of memory (JSON parser)\n");
                abort();
        }
        return x;
}

extern "C" void km_jx_free(km_jx_t *x)
{
        if (!x)
                return;
        for (char *k : x->keys)
                free(k);
        free(x->padded.data);
        free(x->text.data);
        free(x->side.data);
        delete x;
}

extern "C" int km_jx_extract(km_jx_t *x, const char *json, size_t len,
                             km_jx_value_t *out, km_jx_error_t *err)
{
        fit(x, len);
        char *buf = x->padded.data;
        buf[0] = '[';
        if (len)
                memcpy(buf + 1, json, len);
        buf[len + 1] = ']';
        memset(buf + len + 2, 0, simdjson::SIMDJSON_PADDING);
        x->text.len = x->side.len = 0;
        x->members.clear();
        if (++x->run == 0) { /* wrapped: forget every old mark */
                x->seen.assign(x->nodes.size(), 0);
                x->run = 1;
        }
        for (int p = 0; p < x->npaths; p++) {
                out[p] = km_jx_value_t{};
                x->where[static_cast<size_t>(p)] = IN_NONE;
        }

        walk w{x, out, 0, 0, nullptr};
        od::document doc;
        error_code e = x->parser
                               .iterate(buf, len + 2,
                                        len + 2 + simdjson::SIMDJSON_PADDING)
                               .get(doc);
        if (e) {
                set_error(err, simdjson::error_message(e),
                          stage1_offset(e, json, len), len);
                return -1;
        }
        od::array root;
        int count = 0;
        e = doc.get_array().get(root);
        if (!e) {
                for (auto er : root) {
                        od::value v;
                        /* a fault between root values is something after
                         * the document */
                        if ((e = er.get(v)) || count++ > 0) {
                                e = count ? fail(&w, "end of file expected")
                                          : e;
                                break;
                        }
                        if ((e = walk_value(&w, v, &x->nodes[0])))
                                break;
                }
        }
        const char *at = nullptr;
        if (!e && count == 0)
                e = fail(&w, "no JSON value (empty document)");
        if (!e && !doc.current_location().get(at))
                e = fail(&w, "end of file expected");
        if (e) {
                if (!at && doc.current_location().get(at))
                        at = buf + len + 1;
                size_t off = at > buf ? static_cast<size_t>(at - buf - 1) : 0;
                set_error(err, w.why ? w.why : simdjson::error_message(e),
                          off, len);
                return -1;
        }
        for (size_t p = 0; p < static_cast<size_t>(x->npaths); p++) {
                if (x->where[p] == IN_TEXT)
                        out[p].s = x->text.data + x->off[p];
                else if (x->where[p] == IN_SIDE)
                        out[p].s = x->side.data + x->off[p];
        }
        return 0;
}
