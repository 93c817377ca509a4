/* test_check_golden.c - every golden diagnostic of tests/check/, in
 * process: each NNNN-*.sync compiled as "tests/check/NNNN-*.sync" must give
 * exactly the diagnostics of its .expected file (the same files the CLI
 * driver tests/cli/check_golden.sh checks through the binary). */
#include "km_test.h"

#include <dirent.h>

static char *read_all(const char *path)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return NULL;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = malloc((size_t)n + 1);
        size_t got = fread(buf, 1, (size_t)n, f);
        buf[got] = '\0';
        fclose(f);
        return buf;
}

static int check_one(const char *root, const char *name)
{
        char sync[1024], expected[1024], shown[600];
        snprintf(sync, sizeof(sync), "%s/tests/check/%s", root, name);
        snprintf(expected, sizeof(expected), "%.*s.expected",
                 (int)(strlen(sync) - 5), sync);
        snprintf(shown, sizeof(shown), "tests/check/%s", name);
        char *text = read_all(sync), *want = read_all(expected);
        if (!text || !want)
                fail_msg("cannot read %s or its .expected", sync);
        km_compiled_t c = km_test_compile_named(shown, text);
        int same = strcmp(c.diagnostics, want) == 0;
        int status_ok = (c.errors > 0) == (strstr(want, ": error: ") != NULL) &&
                        (c.errors > 0) == (c.plan == NULL);
        if (!same || !status_ok)
                print_error("%s:\n--- expected\n%s--- got\n%s", name, want,
                            c.diagnostics);
        km_test_release(&c);
        free(text);
        free(want);
        return same && status_ok;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_sync(const struct dirent *e)
{
        size_t n = strlen(e->d_name);
        return n > 5 && strcmp(e->d_name + n - 5, ".sync") == 0;
}

static void test_golden_diagnostics(void **state)
{
        (void)state;
        const char *root = getenv("KMSYNC_SOURCE_DIR");
        char dir[1024];
        snprintf(dir, sizeof(dir), "%s/tests/check", root ? root : ".");
        struct dirent **list;
        int n = scandir(dir, &list, is_sync, by_name);
        assert_true(n > 50);
        int failed = 0;
        for (int i = 0; i < n; i++) {
                failed += !check_one(root ? root : ".", list[i]->d_name);
                free(list[i]);
        }
        free(list);
        assert_int_equal(failed, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_golden_diagnostics),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
