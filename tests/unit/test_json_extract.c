/* test_json_extract.c - the one-pass path extractor (runtime/json_extract.h):
 * every path form on the seed's value, paths sharing prefixes in any order,
 * missing and null, objects and arrays as text, numbers, escapes and
 * Unicode, repeated keys, invalid documents, empty and huge documents; and
 * a differential test against the jansson tree walk the mapper used before
 * (a copy of it is below) over random documents and paths. */
#include "km_test.h"

#include <jansson.h>
#include <math.h>

#include "json_extract.h"
#include "kmsync/path.h"
#include "util.h"

#define SEED_VALUE                                                            \
        "{\"a\":{\"a1\":\"hello\"},\"b\":\"world\","                          \
        "\"c\":[\"xxxxxxx\",\"yyyyyyy\"],"                                    \
        "\"d\":[{\"AA\":\"this\",\"BB\":\"is_data\"},"                        \
        "{\"AA\":\"that\",\"BB\":\"is_also_data\"}],"                         \
        "\"a.b\":\"unreachable\"}"

enum { MAXP = 64 };

/* An extractor of paths written as MAP sources ("d[0].AA", "`a.b`"), and
 * its last results shown as text. */
typedef struct fx {
        km_arena_t arena;
        km_jx_t *x;
        int n;
        km_jx_value_t v[MAXP];
        km_jx_error_t err;
        char text[MAXP][512];
} fx_t;

static void fx_open(fx_t *f, unsigned flags, const char *const *paths, int n)
{
        km_jx_path_t p[MAXP];
        memset(f, 0, sizeof(*f));
        assert_true(n <= MAXP);
        for (int i = 0; i < n; i++) {
                km_path_error_t e;
                km_path_step_t *steps;
                int nsteps;
                if (km_path_parse(&f->arena, paths[i], &steps, &nsteps, &e))
                        fail_msg("path %s: %s", paths[i], e.message);
                p[i] = (km_jx_path_t){steps, nsteps};
        }
        f->x = km_jx_new(p, n, flags);
        f->n = n;
}

static void fx_close(fx_t *f)
{
        km_jx_free(f->x);
        km_arena_free(&f->arena);
}

/* The shortest %g text that reads back as d (static). */
static const char *shortest(double d)
{
        static char buf[40];
        for (int prec = 1; prec <= 17; prec++) {
                snprintf(buf, sizeof(buf), "%.*g", prec, d);
                if (strtod(buf, NULL) == d)
                        break;
        }
        return buf;
}

/* A value as text: "missing", "null", "s:bytes", "i:42", "u:...", "r:1.5
 * (as written)", "b:1", "o:{...}", "a:[...]"; a NUL shows as \0. */
static const char *show(const km_jx_value_t *v, char *out, size_t len)
{
        static const char *kinds[] = {"missing", "null", "s", "i", "u",
                                      "r",       "b",    "o", "a"};
        size_t o = (size_t)snprintf(out, len, "%s", kinds[v->kind]);
        if (v->kind == KM_JX_MISSING || v->kind == KM_JX_NULL)
                return out;
        if (v->kind == KM_JX_INT && v->overflow)
                o += (size_t)snprintf(out + o, len - o, ":overflow");
        else if (v->kind == KM_JX_INT || v->kind == KM_JX_BOOL)
                o += (size_t)snprintf(out + o, len - o, ":%lld",
                                      (long long)v->i);
        else if (v->kind == KM_JX_UINT)
                o += (size_t)snprintf(out + o, len - o, ":%llu",
                                      (unsigned long long)v->u);
        else if (v->kind == KM_JX_REAL)
                o += (size_t)snprintf(out + o, len - o, ":%s",
                                      shortest(v->d));
        if (v->kind == KM_JX_BOOL)
                return out;
        int text = v->kind == KM_JX_STRING || v->kind == KM_JX_OBJECT ||
                   v->kind == KM_JX_ARRAY;
        o += (size_t)snprintf(out + o, len - o, text ? ":" : " ");
        for (size_t i = 0; i < v->len && o + 3 < len; i++) {
                if (v->s[i] == '\0')
                        out[o++] = '\\', out[o++] = '0';
                else
                        out[o++] = v->s[i];
        }
        out[o < len ? o : len - 1] = '\0';
        return out;
}

/* Runs the extractor on json (len bytes); 0 with the values as text. */
static int fx_run_n(fx_t *f, const char *json, size_t len)
{
        memset(&f->err, 0, sizeof(f->err));
        int rc = km_jx_extract(f->x, json, len, f->v, &f->err);
        if (rc != 0)
                return rc;
        for (int i = 0; i < f->n; i++)
                show(&f->v[i], f->text[i], sizeof(f->text[i]));
        return 0;
}

static void fx_ok(fx_t *f, const char *json)
{
        if (fx_run_n(f, json, strlen(json)) != 0)
                fail_msg("%s: unexpected error %s at %zu", json, f->err.text,
                         f->err.offset);
}

static void fx_bad(fx_t *f, const char *json, size_t len)
{
        if (fx_run_n(f, json, len) == 0)
                fail_msg("'%.*s' is not JSON, but extracted", (int)len, json);
        assert_true(f->err.text[0] != '\0');
        assert_true(f->err.offset <= len);
}

/* One extractor of paths[], one document, the values wanted as show()
 * writes them. */
static void expect(unsigned flags, const char *json, const char *const *paths,
                   const char *const *want, int n)
{
        fx_t f;
        fx_open(&f, flags, paths, n);
        fx_ok(&f, json);
        for (int i = 0; i < n; i++)
                if (strcmp(f.text[i], want[i]) != 0)
                        fail_msg("%s in %s: got %s, want %s", paths[i], json,
                                 f.text[i], want[i]);
        fx_close(&f);
}

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define EXPECT(flags, json, paths, want)                                      \
        do {                                                                  \
                _Static_assert(N(paths) == N(want), "paths and values");      \
                expect(flags, json, paths, want, N(paths));                   \
        } while (0)

/* ------------------------------------------------------------ the seed */

static void test_seed_paths(void **state)
{
        (void)state;
        static const char *const paths[] = {
                "a.a1", "b",    "c[1]", "d[0].AA", "`a.b`", "a.b",
                "d[1].BB", "c[0]", "d", "a",       "c",
        };
        static const char *const want[] = {
                "s:hello",
                "s:world",
                "s:yyyyyyy",
                "s:this",
                "s:unreachable",
                "missing",
                "s:is_also_data",
                "s:xxxxxxx",
                "a:[{\"AA\":\"this\",\"BB\":\"is_data\"},"
                "{\"AA\":\"that\",\"BB\":\"is_also_data\"}]",
                "o:{\"a1\":\"hello\"}",
                "a:[\"xxxxxxx\",\"yyyyyyy\"]",
        };
        EXPECT(KM_JX_JANSSON, SEED_VALUE, paths, want);
        EXPECT(0, SEED_VALUE, paths, want);
}

static void test_seed_missing(void **state)
{
        (void)state;
        static const char *const paths[] = {
                "nope", "a.nope", "c[2]",       "b.x",     "b[0]",
                "a[0]", "c.x",    "d[0].AA.x", "d[9].AA", "a.a1",
        };
        static const char *const want[] = {
                "missing", "missing", "missing", "missing", "missing",
                "missing", "missing", "missing", "missing", "s:hello",
        };
        EXPECT(KM_JX_JANSSON, SEED_VALUE, paths, want);
}

/* ------------------------------------------------ prefixes and order */

/* Every order of seven paths sharing prefixes, and the same path twice. */
static void test_shared_prefixes_any_order(void **state)
{
        (void)state;
        const char *json = "{\"a\":{\"x\":1,\"y\":{\"z\":[true,null]}},"
                           "\"c\":[10,[20,21],30],\"e\":\"end\"}";
        const char *base[] = {"a.x", "a.y.z[1]", "c[1][0]", "c[0]",
                              "a",   "c[2]",     "a.y.z[0]"};
        const char *wants[] = {"i:1 1",   "null", "i:20 20", "i:10 10",
                               "o:{\"x\":1,\"y\":{\"z\":[true,null]}}",
                               "i:30 30", "b:1"};
        int perm[7] = {0, 1, 2, 3, 4, 5, 6}, count = 0;
        for (;;) {
                const char *paths[8], *want[8];
                for (int i = 0; i < 7; i++)
                        paths[i] = base[perm[i]], want[i] = wants[perm[i]];
                paths[7] = paths[0], want[7] = want[0];
                expect(KM_JX_JANSSON, json, paths, want, 8);
                count++;
                /* next permutation */
                int i = 5;
                while (i >= 0 && perm[i] > perm[i + 1])
                        i--;
                if (i < 0)
                        break;
                int j = 6;
                while (perm[j] < perm[i])
                        j--;
                int t = perm[i];
                perm[i] = perm[j], perm[j] = t;
                for (int a = i + 1, b = 6; a < b; a++, b--)
                        t = perm[a], perm[a] = perm[b], perm[b] = t;
        }
        assert_int_equal(count, 5040);
}

static void test_null_missing_and_types(void **state)
{
        (void)state;
        static const char *const paths[] = {
                "n", "n.x", "o.x", "o[0]", "a.x", "a[1]", "s[0]", "s.x",
                "z", "t", "f",
        };
        static const char *const want[] = {
                "null",    "missing", "missing", "missing", "missing",
                "missing", "missing", "missing", "i:0 0", "b:1", "b:0",
        };
        EXPECT(KM_JX_JANSSON,
               "{\"n\":null,\"o\":{},\"a\":[7],\"s\":\"str\",\"z\":0,"
               "\"t\":true,\"f\":false}",
               paths, want);
        /* A document that is no object: every key path is missing. */
        static const char *const scalar_paths[] = {"x", "x.y", "[0]"};
        const char *scalars[] = {"42", "\"text\"", "null", "true", "[1,2]",
                                 " 1.5 "};
        const char *first[] = {"missing", "missing", "missing",
                               "missing", "i:1 1",   "missing"};
        for (int i = 0; i < N(scalars); i++) {
                const char *want3[] = {"missing", "missing", first[i]};
                expect(KM_JX_JANSSON, scalars[i], scalar_paths, want3, 3);
        }
}

/* ------------------------------------------------------- values as text */

static void test_objects_and_arrays_as_text(void **state)
{
        (void)state;
        static const char *const paths[] = {"k", "z", "u", "e", "n", "d"};
        static const char *const want[] = {
                "o:{\"k\":[1,2.5,\"q\\\"\\n\\u0001/\",null,true,{}]}",
                "o:{\"z\":1,\"a\":2,\"m\":3}",
                "a:[\"你好\",\"é\",\"😀\",\"\\u0000\",\"\\u001F\\b\\f\\r\\t\\\\\"]",
                "a:[[],{},[[]]]",
                "a:[0.1,1.0,-2.5e-07,1e+20,0.30000000000000004,-0.0,1e-300,"
                "-9223372036854775808,100.0]",
                "o:{\"k\":3,\"j\":{\"x\":2},\"\":4}",
        };
        EXPECT(KM_JX_JANSSON,
               "{ \"k\" : { \"k\" : [ 1 , 2.50 , \"q\\\"\\n\\u0001\\/\" , null"
               " , true , { } ] } ,\n"
               "\"z\":{\"z\":1,\"a\":2,\"m\":3},\r\n"
               "\"u\":[\"\\u4f60\\u597d\",\"é\",\"\\ud83d\\ude00\","
               "\"\\u0000\",\"\\u001f\\b\\f\\r\\t\\\\\"],\t"
               "\"e\":[[],{},[[]]],"
               "\"n\":[0.1,1.0,-2.5e-7,1e20,0.30000000000000004,-0.0,1E-300,"
               "-9223372036854775808,1e2],"
               "\"d\":{\"k\":1,\"j\":{\"x\":1,\"x\":2},\"k\":2,\"\":4,"
               "\"\\u006b\":3}}",
               paths, want);
}

/* A repeated key: lookups take its last value, text keeps its first place;
 * what was found under the first value is forgotten. */
static void test_repeated_keys(void **state)
{
        (void)state;
        static const char *const paths[] = {"r", "r.x", "r.x.y", "r.x.z",
                                            "q", "q[0]"};
        static const char *const want[] = {
                "o:{\"x\":{\"z\":2},\"w\":0}", "o:{\"z\":2}", "missing",
                "i:2 2",                       "a:[9]",       "i:9 9",
        };
        EXPECT(KM_JX_JANSSON,
               "{\"r\":{\"x\":{\"y\":1},\"w\":0,\"x\":{\"z\":2}},"
               "\"q\":[1],\"q\":[9]}",
               paths, want);
        /* Many members (the sorted check) and a repeat among them. */
        char big[8192];
        size_t o = (size_t)snprintf(big, sizeof(big), "{\"o\":{");
        for (int i = 0; i < 300; i++)
                o += (size_t)snprintf(big + o, sizeof(big) - o, "\"k%d\":%d,",
                                      i, i);
        snprintf(big + o, sizeof(big) - o, "\"k7\":-1}}");
        fx_t f;
        static const char *const o_path[] = {"o", "o.k7"};
        fx_open(&f, KM_JX_JANSSON, o_path, 2);
        fx_ok(&f, big);
        assert_string_equal(f.text[1], "i:-1 -1");
        assert_non_null(strstr(f.text[0], ",\"k6\":6,\"k7\":-1,\"k8\":8,"));
        assert_null(strstr(f.text[0] + 10, "\"k7\":7"));
        assert_int_equal(strlen(f.text[0]) > 200, 1);
        fx_close(&f);
}

/* ------------------------------------------------------------- numbers */

static void test_numbers(void **state)
{
        (void)state;
        static const char *const paths[] = {
                "[0]", "[1]", "[2]", "[3]", "[4]", "[5]",
                "[6]", "[7]", "[8]", "[9]", "[10]",
        };
        static const char *const want[] = {
                "i:0 0",
                "i:-7 -7",
                "i:9223372036854775807 9223372036854775807",
                "i:-9223372036854775808 -9223372036854775808",
                "r:1.5 1.5",
                "r:-2.5e-07 -2.5e-7",
                "r:1e+20 1E+20",
                "r:0 1e-400",
                "r:-0 -0.0",
                "r:12345678901234568 12345678901234567.2",
                "i:0 -0",
        };
        EXPECT(KM_JX_JANSSON,
               "[0,-7,9223372036854775807,-9223372036854775808,1.5,-2.5e-7,"
               "1E+20,1e-400,-0.0,12345678901234567.2,-0]",
               paths, want);
        /* Beyond int64: jansson's "too big integer", or values. */
        const char *big[] = {"[9223372036854775808]",
                             "[-9223372036854775809]",
                             "[18446744073709551616]",
                             "{\"unmapped\":99999999999999999999999}"};
        fx_t f;
        static const char *const p0[] = {"[0]"};
        fx_open(&f, KM_JX_JANSSON, p0, 1);
        for (int i = 0; i < N(big); i++) {
                fx_bad(&f, big[i], strlen(big[i]));
                assert_non_null(strstr(f.err.text, "too big"));
        }
        fx_close(&f);
        fx_open(&f, 0, p0, 1);
        fx_ok(&f, big[0]);
        assert_string_equal(f.text[0],
                            "u:9223372036854775808 9223372036854775808");
        fx_ok(&f, big[2]);
        assert_string_equal(f.text[0], "i:overflow 18446744073709551616");
        fx_ok(&f, "[[18446744073709551616,18446744073709551615]]");
        assert_string_equal(f.text[0],
                            "a:[18446744073709551616,18446744073709551615]");
        /* Reals that overflow are no JSON number. */
        const char *bad[] = {"[1e309]", "[-1.8e308]", "[01]", "[1.]",
                             "[.5]",    "[+1]",      "[1e]", "[-]",
                             "[0x10]",  "[NaN]",     "[Infinity]", "[1.5.2]"};
        for (int i = 0; i < N(bad); i++)
                fx_bad(&f, bad[i], strlen(bad[i]));
        fx_close(&f);
}

/* ------------------------------------------------- escapes and Unicode */

static void test_escapes_and_unicode(void **state)
{
        (void)state;
        static const char *const want[] = {
                "s:\"/\b\f\n\r\t", "s:a\\0b", "i:1 1", "i:2 2", "i:3 3",
                "s:😀€", "i:4 4",
        };
        /* Paths name keys unescaped; the document may escape them. */
        fx_t f;
        static const char *const p[] = {"s", "nul", "ab", "`k\"q`", "`é`",
                                        "emoji", "`a\\b`"};
        fx_open(&f, KM_JX_JANSSON, p, N(p));
        const char *json =
                "{\"s\":\"\\\"\\/\\b\\f\\n\\r\\t\",\"nul\":\"a\\u0000b\","
                "\"a\\u0062\":1,\"k\\\"q\":2,\"\\u00e9\":3,"
                "\"emoji\":\"\\uD83D\\uDE00\\u20ac\",\"a\\\\b\":4}";
        fx_ok(&f, json);
        for (int i = 0; i < N(p); i++)
                if (strcmp(f.text[i], want[i]) != 0)
                        fail_msg("%s: got %s, want %s", p[i], f.text[i],
                                 want[i]);
        assert_int_equal(f.v[1].len, 3);
        assert_memory_equal(f.v[1].s, "a\0b", 3);
        /* \u0000 in a key: jansson refuses it; plain JSON does not. */
        const char *nulkey = "{\"x\\u0000\":1}";
        fx_bad(&f, nulkey, strlen(nulkey));
        fx_close(&f);
        fx_open(&f, 0, p, N(p));
        fx_ok(&f, nulkey);
        fx_close(&f);
}

/* ------------------------------------------------------ invalid values */

static void test_invalid_documents(void **state)
{
        (void)state;
        static const char *const p[] = {"a", "b", "c[1]"};
        fx_t f;
        fx_open(&f, KM_JX_JANSSON, p, N(p));
        /* Faults at the start, in the middle, after every path was found,
         * and at the very end. */
        const char *bad[] = {
                "x{\"a\":1}",
                "{\"a\":1,,\"b\":2}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"z\":tru}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"z\":nul}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"z\":[1,]}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"z\":{\"y\":1,}}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"z\":{\"y\" 1}}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"z\":{1:2}}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"z\":\"\\x\"}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"z\":\"\\ud800\"}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"z\":\"\\udc00\"}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"z\":\"\\u12g4\"}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"z\":\"tab\there\"}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"z\":1e999}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"z\":[1 2]}",
                "{\"a\":1,\"b\":2,\"c\":[1,2]",
                "{\"a\":1,\"b\":2,\"c\":[1,2]]",
                "{\"a\":1,\"b\":2,\"c\":[1,2]}}",
                "{\"a\":1,\"b\":2,\"c\":[1,2]} x",
                "{\"a\":1,\"b\":2,\"c\":[1,2]} {}",
                "{\"a\":1,\"b\":2,\"c\":[1,2],\"d\":\"open}",
                "{\"a\":1} 2",
                "1 2",
                "1,2",
                "[1],[2]",
                "]",
                "{",
                "\"",
                "\xef\xbb\xbf{}",
                "{\"a\":\"\xff\"}",
                "{\"a\":\"\xc3\"}",
                "{\"a\":\"\xed\xa0\x80\"}",
                "{\"a\":1}\xc3\xa9",
                "{'a':1}",
                "{\"a\":True}",
                "[1]x",
        };
        for (int i = 0; i < N(bad); i++)
                fx_bad(&f, bad[i], strlen(bad[i]));
        /* A raw NUL inside a string, and after the document. */
        fx_bad(&f, "{\"a\":\"x\0y\"}", 11);
        fx_bad(&f, "{\"a\":1}\0", 8);
        /* The offset is near the fault. */
        fx_bad(&f, "{\"a\":\"\xff\"}", 9);
        assert_int_equal(f.err.offset, 6);
        fx_bad(&f, "{\"a\":1,\"b\":2} trailing", 22);
        assert_string_equal(f.err.text, "end of file expected");
        assert_int_equal(f.err.offset, 14);
        fx_bad(&f, "{\"a\":\"abc", 9);
        assert_int_equal(f.err.offset, 5);
        /* A good document after bad ones. */
        fx_ok(&f, "{\"c\":[0,\"ok\"]}");
        assert_string_equal(f.text[2], "s:ok");
        fx_close(&f);
}

static void test_depth(void **state)
{
        (void)state;
        static const char *const p[] = {"[0]"};
        fx_t f;
        fx_open(&f, KM_JX_JANSSON, p, 1);
        size_t n = KM_JX_MAX_DEPTH + 2;
        char *s = malloc(2 * n + 2);
        /* 2048 nested arrays are 2048 values deep: allowed. */
        memset(s, '[', KM_JX_MAX_DEPTH);
        memset(s + KM_JX_MAX_DEPTH, ']', KM_JX_MAX_DEPTH);
        fx_ok(&f, (s[2 * KM_JX_MAX_DEPTH] = '\0', s));
        /* A scalar inside them is one too many, as one more array. */
        memset(s, '[', KM_JX_MAX_DEPTH);
        s[KM_JX_MAX_DEPTH] = '1';
        memset(s + KM_JX_MAX_DEPTH + 1, ']', KM_JX_MAX_DEPTH);
        fx_bad(&f, s, 2 * KM_JX_MAX_DEPTH + 1);
        assert_string_equal(f.err.text, "maximum parsing depth reached");
        memset(s, '[', n);
        memset(s + n, ']', n);
        fx_bad(&f, s, 2 * n);
        free(s);
        fx_close(&f);
        /* Objects as deep, a path to the bottom; the walk keeps them on a
         * stack of its own, whatever the thread's stack. */
        static const char *const deep[] = {"a.a.a.a.a.a.a.a"};
        fx_open(&f, KM_JX_JANSSON, deep, 1);
        for (int d = KM_JX_MAX_DEPTH; d <= KM_JX_MAX_DEPTH + 1; d++) {
                km_buf_t b = {0};
                for (int i = 1; i < d; i++)
                        km_buf_puts(&b, "{\"a\":");
                km_buf_puts(&b, "7");
                for (int i = 1; i < d; i++)
                        km_buf_putc(&b, '}');
                if (d == KM_JX_MAX_DEPTH) { /* 8 steps in, 2039 left */
                        fx_ok(&f, b.data);
                        assert_int_equal(f.v[0].kind, KM_JX_OBJECT);
                        assert_int_equal(f.v[0].len, (d - 9) * 6 + 1);
                        assert_memory_equal(f.v[0].s, "{\"a\":{\"a\":", 10);
                } else {
                        fx_bad(&f, b.data, b.len);
                }
                free(b.data);
        }
        fx_ok(&f, "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":"
                  "[]}}}}}}}}");
        assert_string_equal(f.text[0], "a:[]");
        fx_close(&f);
}

static void test_empty_documents(void **state)
{
        (void)state;
        static const char *const p[] = {"a"};
        fx_t f;
        fx_open(&f, KM_JX_JANSSON, p, 1);
        fx_bad(&f, "", 0);
        fx_bad(&f, " \t\r\n", 4);
        fx_bad(&f, NULL, 0);
        fx_ok(&f, "{}");
        assert_string_equal(f.text[0], "missing");
        fx_close(&f);
        /* No paths at all: the document is still checked. */
        fx_open(&f, KM_JX_JANSSON, NULL, 0);
        fx_ok(&f, SEED_VALUE);
        fx_bad(&f, "{", 1);
        fx_close(&f);
}

/* A document of ~20 MB, its paths at the end; then small ones again. */
static void test_huge_document(void **state)
{
        (void)state;
        static const char *const p[] = {"big", "arr", "last.x", "first"};
        fx_t f;
        fx_open(&f, KM_JX_JANSSON, p, N(p));
        size_t n = (size_t)20 << 20, o = 0;
        char *s = malloc(n + 4096);
        o += (size_t)sprintf(s + o, "{\"first\":1,\"big\":\"");
        memset(s + o, 'q', 9000000);
        o += 9000000;
        o += (size_t)sprintf(s + o, "\",\"arr\":[");
        while (o < n) {
                o += (size_t)sprintf(s + o, "{\"k\":\"v\\n\",\"n\":1.25},");
        }
        o += (size_t)sprintf(s + o, "0],\"last\":{\"x\":true}}");
        fx_ok(&f, s);
        assert_int_equal(f.v[0].kind, KM_JX_STRING);
        assert_int_equal(f.v[0].len, 9000000);
        assert_int_equal(f.v[1].kind, KM_JX_ARRAY);
        assert_true(f.v[1].len > (size_t)10 << 20);
        assert_memory_equal(f.v[1].s, "[{\"k\":\"v\\n\",\"n\":1.25},", 22);
        assert_string_equal(f.text[2], "b:1");
        assert_string_equal(f.text[3], "i:1 1");
        s[o - 1] = ']'; /* the last '}' */
        fx_bad(&f, s, o);
        free(s);
        fx_ok(&f, "{\"first\":2}");
        assert_string_equal(f.text[3], "i:2 2");
        fx_close(&f);
}

/* ------------------------------------------------------ differential */

/* The mapper's path walk and JSON text before the extractor, kept here as
 * the reference: jansson's tree, walked step by step. */
static const json_t *old_walk(const json_t *j, const km_path_step_t *steps,
                              int nsteps)
{
        for (int i = 0; j && i < nsteps; i++) {
                const km_path_step_t *s = &steps[i];
                if (s->key)
                        j = json_is_object(j) ? json_object_getn(j, s->key,
                                                                 s->key_len)
                                              : NULL;
                else if (json_is_array(j) && s->index >= 0 &&
                         (uint64_t)s->index < json_array_size(j))
                        j = json_array_get(j, (size_t)s->index);
                else
                        j = NULL;
        }
        return j;
}

static void old_escaped(km_buf_t *b, const char *s, size_t n)
{
        static const char hex[] = "0123456789ABCDEF";
        km_buf_putc(b, '"');
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\"
                                : c == '\n' ? "\\n" : c == '\t' ? "\\t"
                                : c == '\r' ? "\\r" : c == '\b' ? "\\b"
                                : c == '\f' ? "\\f" : NULL;
                if (e)
                        km_buf_puts(b, e);
                else if (c < 0x20)
                        km_buf_printf(b, "\\u00%c%c", hex[c >> 4],
                                      hex[c & 15]);
                else
                        km_buf_putc(b, (char)c);
        }
        km_buf_putc(b, '"');
}

static void old_real(km_buf_t *b, double d)
{
        char buf[40];
        int n = 0;
        for (int prec = 15; prec <= 17; prec++) {
                n = snprintf(buf, 32, "%.*g", prec, d);
                if (strtod(buf, NULL) == d)
                        break;
        }
        if (!strpbrk(buf, ".e"))
                memcpy(buf + n, ".0", 3);
        km_buf_puts(b, buf);
}

static void old_json(km_buf_t *b, const json_t *j)
{
        const char *key;
        size_t key_len, i;
        json_t *v;
        int first = 1;
        switch (json_typeof(j)) {
        case JSON_OBJECT:
                km_buf_putc(b, '{');
                json_object_keylen_foreach((json_t *)j, key, key_len, v)
                {
                        if (!first)
                                km_buf_putc(b, ',');
                        first = 0;
                        old_escaped(b, key, key_len);
                        km_buf_putc(b, ':');
                        old_json(b, v);
                }
                km_buf_putc(b, '}');
                break;
        case JSON_ARRAY:
                km_buf_putc(b, '[');
                json_array_foreach(j, i, v)
                {
                        if (i)
                                km_buf_putc(b, ',');
                        old_json(b, v);
                }
                km_buf_putc(b, ']');
                break;
        case JSON_STRING:
                old_escaped(b, json_string_value(j), json_string_length(j));
                break;
        case JSON_INTEGER:
                km_buf_printf(b, "%lld", (long long)json_integer_value(j));
                break;
        case JSON_REAL:
                old_real(b, json_real_value(j));
                break;
        case JSON_TRUE:
                km_buf_puts(b, "true");
                break;
        case JSON_FALSE:
                km_buf_puts(b, "false");
                break;
        default:
                km_buf_puts(b, "null");
        }
}

/* The reference's value of one path as show() writes it (without the
 * number text, which jansson does not keep). */
static void old_show(const json_t *j, km_buf_t *b)
{
        b->len = 0;
        km_buf_puts(b, "");
        if (!j) {
                km_buf_puts(b, "missing");
                return;
        }
        switch (json_typeof(j)) {
        case JSON_NULL:
                km_buf_puts(b, "null");
                break;
        case JSON_STRING:
                km_buf_puts(b, "s:");
                km_buf_append(b, json_string_value(j), json_string_length(j));
                break;
        case JSON_INTEGER:
                km_buf_printf(b, "i:%lld", (long long)json_integer_value(j));
                break;
        case JSON_REAL:
                km_buf_printf(b, "r:%.17g", json_real_value(j));
                break;
        case JSON_TRUE:
        case JSON_FALSE:
                km_buf_printf(b, "b:%d", json_is_true(j));
                break;
        default:
                km_buf_puts(b, json_is_object(j) ? "o:" : "a:");
                old_json(b, j);
        }
}

static void new_show(const km_jx_value_t *v, km_buf_t *b)
{
        b->len = 0;
        km_buf_puts(b, "");
        switch (v->kind) {
        case KM_JX_MISSING:
                km_buf_puts(b, "missing");
                break;
        case KM_JX_NULL:
                km_buf_puts(b, "null");
                break;
        case KM_JX_STRING:
                km_buf_puts(b, "s:");
                km_buf_append(b, v->s, v->len);
                break;
        case KM_JX_INT:
                km_buf_printf(b, "i:%lld", (long long)v->i);
                break;
        case KM_JX_REAL:
                km_buf_printf(b, "r:%.17g", v->d);
                break;
        case KM_JX_BOOL:
                km_buf_printf(b, "b:%d", (int)v->i);
                break;
        case KM_JX_OBJECT:
        case KM_JX_ARRAY:
                km_buf_puts(b, v->kind == KM_JX_OBJECT ? "o:" : "a:");
                km_buf_append(b, v->s, v->len);
                break;
        default:
                km_buf_printf(b, "unexpected kind %d", v->kind);
        }
}

/* A small deterministic generator (xorshift64*). */
static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(uint32_t n)
{
        rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
        return (uint32_t)((rng * 2685821657736338717ULL) >> 33) % n;
}

/* Keys as paths name them, and spellings of them in a document. */
static const struct {
        const char *key;
        size_t len;
        const char *json[3];
} KEYS[] = {
        {"a", 1, {"\"a\"", "\"\\u0061\"", "\"a\""}},
        {"b", 1, {"\"b\"", "\"b\"", "\"b\""}},
        {"c", 1, {"\"c\"", "\"\\u0063\"", "\"c\""}},
        {"AA", 2, {"\"AA\"", "\"A\\u0041\"", "\"AA\""}},
        {"a.b", 3, {"\"a.b\"", "\"a.b\"", "\"a\\u002eb\""}},
        {"", 0, {"\"\"", "\"\"", "\"\""}},
        {"k\"q", 3, {"\"k\\\"q\"", "\"k\\u0022q\"", "\"k\\\"q\""}},
        {"é", 2, {"\"é\"", "\"\\u00e9\"", "\"\\u00E9\""}},
        {"x\ny", 3, {"\"x\\ny\"", "\"x\\u000ay\"", "\"x\\ny\""}},
};

static const char *const STRINGS[] = {
        "\"\"",         "\"plain\"",        "\"a\\\"b\"",
        "\"\\\\\"",     "\"\\/\"",          "\"tab\\there\"",
        "\"\\u0000\"",  "\"x\\u0000y\"",    "\"\\u001f\"",
        "\"你好\"",     "\"\\u4f60\"",      "\"\\ud83d\\ude00\"",
        "\"😀\"",       "\"\\b\\f\\n\\r\"", "\"\x7f\"",
        "\"\\u007f\"",  "\"a/b\"",          "\"\\u20AC\"",
};

static const char *const NUMBERS[] = {
        "0",
        "-0",
        "1",
        "-1",
        "42",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775806",
        "1.5",
        "-0.0",
        "0.1",
        "1e5",
        "1E+5",
        "2.5e-3",
        "1e-400",
        "4.9e-324",
        "2.2250738585072014e-308",
        "1.7976931348623157e308",
        "123456789012345678901234567890.5",
        "0.30000000000000004",
        "1e21",
        "100.0",
        "12345678901234567.2",
        "9007199254740993",
        "1.00000000000000011102230246251565404236316680908203125",
        "9223372036854775808", /* too big for jansson: rarely drawn */
        "-9223372036854775809",
        "1e309",
};

static void gen_ws(km_buf_t *b)
{
        static const char *ws[] = {"", "", "", "", " ", "\n", "\t ", "\r\n"};
        km_buf_puts(b, ws[rnd(8)]);
}

static void gen_value(km_buf_t *b, int depth)
{
        uint32_t r = rnd(depth >= 4 ? 6 : 10);
        gen_ws(b);
        if (r == 0) {
                km_buf_puts(b, STRINGS[rnd(N(STRINGS))]);
        } else if (r == 1) {
                /* the last three numbers are jansson errors: rare */
                uint32_t n = N(NUMBERS) - 3;
                km_buf_puts(b, NUMBERS[rnd(50) ? rnd(n) : n + rnd(3)]);
        } else if (r == 2) {
                km_buf_printf(b, "%lld", (long long)rnd(1000000) - 500000);
        } else if (r == 3) {
                static const char *lit[] = {"true", "false", "null"};
                km_buf_puts(b, lit[rnd(3)]);
        } else if (r == 4) {
                km_buf_printf(b, "%d.%de%d", (int)rnd(100), (int)rnd(1000),
                              (int)rnd(40) - 20);
        } else if (r == 5) {
                km_buf_puts(b, STRINGS[1]);
        } else if (r <= 7) {
                int n = (int)rnd(5);
                km_buf_putc(b, '[');
                for (int i = 0; i < n; i++) {
                        if (i)
                                km_buf_putc(b, ',');
                        gen_value(b, depth + 1);
                }
                gen_ws(b);
                km_buf_putc(b, ']');
        } else {
                int n = (int)rnd(6);
                km_buf_putc(b, '{');
                for (int i = 0; i < n; i++) {
                        if (i)
                                km_buf_putc(b, ',');
                        gen_ws(b);
                        km_buf_puts(b, KEYS[rnd(N(KEYS))].json[rnd(3)]);
                        gen_ws(b);
                        km_buf_putc(b, ':');
                        gen_value(b, depth + 1);
                }
                gen_ws(b);
                km_buf_putc(b, '}');
        }
        gen_ws(b);
}

/* One byte changed, dropped, added or the text cut short. */
static void mutate(km_buf_t *b)
{
        static const char set[] = ",:{}[]\"\\ x0-e.n\x80\x01";
        size_t at = b->len ? rnd((uint32_t)b->len) : 0;
        switch (rnd(4)) {
        case 0:
                if (b->len)
                        b->data[at] = set[rnd(sizeof(set) - 1)];
                break;
        case 1:
                if (b->len)
                        memmove(b->data + at, b->data + at + 1, b->len - at),
                                b->len--;
                break;
        case 2:
                km_buf_putc(b, ' ');
                memmove(b->data + at + 1, b->data + at, b->len - at - 1);
                b->data[at] = set[rnd(sizeof(set) - 1)];
                break;
        default:
                b->len = at;
        }
}

/* Random paths: 1 to 4 steps of the keys above or indices 0 to 3. */
static int gen_paths(km_jx_path_t *paths, km_path_step_t steps[][4], int n)
{
        for (int p = 0; p < n; p++) {
                int k = 1 + (int)rnd(4);
                for (int i = 0; i < k; i++) {
                        km_path_step_t *s = &steps[p][i];
                        if (rnd(3)) {
                                int w = (int)rnd(N(KEYS));
                                *s = (km_path_step_t){KEYS[w].key,
                                                      KEYS[w].len, 0};
                        } else {
                                *s = (km_path_step_t){NULL, 0, rnd(4)};
                        }
                }
                paths[p] = (km_jx_path_t){steps[p], k};
        }
        return n;
}

/* A path that is in document j (mostly): a random descent of 1 to 4 steps,
 * now and then one index past the end.  The keys point into j. */
static int sample_path(const json_t *j, km_path_step_t *steps)
{
        int k = 0, want = 1 + (int)rnd(4);
        while (k < want && j) {
                if (json_is_object(j) && json_object_size(j) > 0) {
                        size_t pick = rnd((uint32_t)json_object_size(j));
                        void *it = json_object_iter((json_t *)j);
                        while (pick--)
                                it = json_object_iter_next((json_t *)j, it);
                        steps[k++] = (km_path_step_t){
                                json_object_iter_key(it),
                                json_object_iter_key_len(it), 0};
                        j = json_object_iter_value(it);
                } else if (json_is_array(j)) {
                        size_t n = json_array_size(j);
                        size_t i = rnd((uint32_t)n + 1);
                        steps[k++] = (km_path_step_t){NULL, 0, (int64_t)i};
                        j = json_array_get(j, i);
                } else {
                        break;
                }
        }
        return k;
}

static void gen_document(km_buf_t *doc)
{
        doc->len = 0;
        km_buf_puts(doc, "");
        if (rnd(4)) {
                gen_value(doc, 0);
        } else { /* an object at the top, as records mostly are */
                km_buf_putc(doc, '{');
                int m = 1 + (int)rnd(6);
                for (int i = 0; i < m; i++) {
                        if (i)
                                km_buf_putc(doc, ',');
                        km_buf_puts(doc, KEYS[rnd(N(KEYS))].json[0]);
                        km_buf_putc(doc, ':');
                        gen_value(doc, 1);
                }
                km_buf_putc(doc, '}');
        }
        if (rnd(5) == 0)
                mutate(doc);
}

/* Checks extractor x's run on doc against jansson's tree j (NULL: jansson
 * rejected it); returns the number of values found. */
static int compare(int d, const km_buf_t *doc, const json_t *j,
                   const char *jerr, km_jx_t *x, const km_jx_path_t *paths,
                   int n)
{
        km_buf_t want = {0}, got = {0};
        km_jx_value_t v[8];
        km_jx_error_t err;
        int found = 0;
        int rc = km_jx_extract(x, doc->data, doc->len, v, &err);
        if (!j != (rc != 0))
                fail_msg("document %d: jansson %s, extractor %s:\n%.*s\n"
                         "(jansson: %s; extractor: %s)",
                         d, j ? "accepts" : "rejects",
                         rc ? "rejects" : "accepts", (int)doc->len,
                         doc->data, j ? "-" : jerr, rc ? err.text : "-");
        for (int p = 0; j && p < n; p++) {
                old_show(old_walk(j, paths[p].steps, paths[p].nsteps), &want);
                new_show(&v[p], &got);
                found += v[p].kind != KM_JX_MISSING;
                if (want.len != got.len ||
                    memcmp(want.data, got.data, want.len))
                        fail_msg("document %d, path %d:\n%.*s\ngot  %.*s\n"
                                 "want %.*s",
                                 d, p, (int)doc->len, doc->data,
                                 (int)got.len, got.data, (int)want.len,
                                 want.data);
        }
        free(want.data);
        free(got.data);
        return found;
}

/* 10,000 random documents (a fifth of them broken by one edit), each read
 * by jansson and by two extractors: one of random paths kept for 20
 * documents, one of paths taken from the document itself. */
static void test_differential(void **state)
{
        (void)state;
        km_buf_t doc = {0};
        int valid = 0, invalid = 0, found = 0;
        km_jx_path_t kept[4], own[8];
        km_path_step_t kept_steps[4][4], own_steps[8][4];
        km_jx_t *xk = NULL;
        for (int d = 0; d < 10000; d++) {
                if (d % 20 == 0) {
                        km_jx_free(xk);
                        int n = gen_paths(kept, kept_steps, 4);
                        xk = km_jx_new(kept, n, KM_JX_JANSSON);
                }
                gen_document(&doc);
                json_error_t jerr;
                json_t *j = json_loadb(doc.data, doc.len,
                                       JSON_DECODE_ANY | JSON_ALLOW_NUL,
                                       &jerr);
                int n = gen_paths(own, own_steps, 4);
                for (int i = 0; j && i < 4; i++) {
                        int k = sample_path(j, own_steps[n]);
                        if (k > 0)
                                own[n] = (km_jx_path_t){own_steps[n], k}, n++;
                }
                km_jx_t *xo = km_jx_new(own, n, KM_JX_JANSSON);
                found += compare(d, &doc, j, jerr.text, xk, kept, 4);
                found += compare(d, &doc, j, jerr.text, xo, own, n);
                km_jx_free(xo);
                valid += j != NULL;
                invalid += j == NULL;
                json_decref(j);
        }
        km_jx_free(xk);
        free(doc.data);
        print_message("differential: %d documents, %d valid, %d not JSON, "
                      "%d values found\n",
                      valid + invalid, valid, invalid, found);
        assert_true(invalid > 1000 && valid > 7000 && found > 10000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seed_paths),
                cmocka_unit_test(test_seed_missing),
                cmocka_unit_test(test_shared_prefixes_any_order),
                cmocka_unit_test(test_null_missing_and_types),
                cmocka_unit_test(test_objects_and_arrays_as_text),
                cmocka_unit_test(test_repeated_keys),
                cmocka_unit_test(test_numbers),
                cmocka_unit_test(test_escapes_and_unicode),
                cmocka_unit_test(test_invalid_documents),
                cmocka_unit_test(test_depth),
                cmocka_unit_test(test_empty_documents),
                cmocka_unit_test(test_huge_document),
                cmocka_unit_test(test_differential),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
