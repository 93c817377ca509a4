/* test_parser.c - the lexer and parser: what the grammar accepts, the tree
 * it builds (with byte-range locations), and how it reports and recovers
 * from syntax errors. */
#include "km_test.h"

#include "kmsync/ast.h"

typedef struct parsed {
        km_src_t *src;
        km_diag_t d;
        km_ast_t ast;
        int errors;
        char *diagnostics;
} parsed_t;

static parsed_t *parse_text(const char *text)
{
        parsed_t *p = calloc(1, sizeof(*p));
        p->src = km_src_new("t.sync", text, strlen(text));
        km_diag_init(&p->d, p->src);
        p->errors = km_parse(p->src, &p->ast, &p->d);
        p->diagnostics = km_diag_to_string(&p->d);
        return p;
}

static void release(parsed_t *p)
{
        km_ast_free(&p->ast);
        km_diag_free(&p->d);
        km_src_free(p->src);
        free(p->diagnostics);
        free(p);
}

/* The text a location covers. */
static char *loc_text(const parsed_t *p, km_loc_t loc)
{
        return strndup(km_src_text(p->src) + loc.start,
                       (size_t)(loc.end - loc.start));
}

static void assert_loc_text(const parsed_t *p, km_loc_t loc, const char *want)
{
        char *got = loc_text(p, loc);
        assert_string_equal(got, want);
        free(got);
}

static void test_issue_example_parses(void **state)
{
        (void)state;
        km_compiled_t c = km_test_compile_file("examples/orders.sync");
        assert_compiles(c);
        assert_int_equal(c.warnings, 0);
        assert_int_equal(c.plan->nsyncs, 1);
        assert_int_equal(c.plan->syncs[0]->ncolumns, 7);
        km_test_release(&c);
}

static void test_tree_and_locations(void **state)
{
        (void)state;
        parsed_t *p = parse_text(
                "-- a comment\n"
                "sync `my sync` from k into m.`odd``table`\n"
                "  map (d[0].AA as aa decimal(10, 2), 'x' as `key`, "
                "__key__ as k);\n");
        assert_int_equal(p->errors, 0);
        km_stmt_t *s = p->ast.stmts;
        assert_non_null(s);
        assert_int_equal(s->kind, KM_STMT_SYNC);
        km_sync_stmt_t *y = &s->u.sync;
        assert_string_equal(y->name.text, "my sync");
        assert_true(y->name.quoted);
        assert_string_equal(y->into.text, "m");
        assert_string_equal(y->table.text, "odd`table");
        assert_loc_text(p, y->name.loc, "`my sync`");
        assert_loc_text(p, y->table.loc, "`odd``table`");
        km_map_item_t *m = y->map;
        assert_string_equal(m->source, "d[0].AA");
        assert_loc_text(p, m->source_loc, "d[0].AA");
        assert_string_equal(m->type.name.text, "decimal");
        assert_int_equal(m->type.nargs, 2);
        assert_int_equal(m->type.args[0].value, 10);
        assert_int_equal(m->type.args[1].value, 2);
        m = m->next;
        assert_int_equal(m->kind, KM_MAP_CONSTANT);
        assert_string_equal(m->source, "x");
        assert_string_equal(m->column.text, "key");
        m = m->next;
        assert_string_equal(m->source, "__key__");
        assert_null(m->next);
        release(p);
}

static void test_keywords_are_case_insensitive_and_usable_as_names(void **state)
{
        (void)state;
        parsed_t *p = parse_text(
                "Kafka Connection key Brokers 'b:1';\n"
                "SYNC value FROM key INTO map.group window from 'a' to 'b'\n"
                "  MAP (value AS partition, key AS timezone);\n");
        assert_int_equal(p->errors, 0);
        km_stmt_t *k = p->ast.stmts;
        assert_string_equal(k->u.kafka.name.text, "key");
        km_sync_stmt_t *y = &k->next->u.sync;
        assert_string_equal(y->name.text, "value");
        assert_string_equal(y->into.text, "map");
        assert_string_equal(y->table.text, "group");
        assert_string_equal(y->map->source, "value");
        assert_string_equal(y->map->column.text, "partition");
        release(p);
}

static void test_strings_double_their_quotes(void **state)
{
        (void)state;
        parsed_t *p = parse_text("KAFKA CONNECTION k BROKERS 'it''s';");
        assert_int_equal(p->errors, 0);
        assert_string_equal(p->ast.stmts->u.kafka.brokers.text, "it's");
        release(p);
}

static void test_clauses_in_any_order_and_twice_is_an_error(void **state)
{
        (void)state;
        parsed_t *p = parse_text(
                "SYNC s FROM k INTO m.t ERRORS LIMIT 5 TIMEZONE 'UTC'\n"
                "  WINDOW FROM 'a' TO 'b' GROUP 'g' ERRORS LIMIT 6;\n");
        assert_int_equal(p->errors, 0); /* syntax is fine */
        assert_int_equal(p->d.errors, 1);
        assert_false(p->ast.stmts->broken);
        assert_non_null(strstr(p->diagnostics,
                               "t.sync:2:36: error: ERRORS LIMIT is given "
                               "twice: remove one of them"));
        assert_non_null(strstr(p->diagnostics,
                               "t.sync:1:24: note: ERRORS LIMIT was first "
                               "given here"));
        assert_int_equal(p->ast.stmts->u.sync.errors_limit.value, 5);
        release(p);
}

static void test_syntax_error_names_what_was_expected(void **state)
{
        (void)state;
        parsed_t *p = parse_text("SYNC s FROM k INTO m.t WINDOW 'a' TO 'b';");
        assert_int_equal(p->errors, 1);
        assert_string_equal(p->diagnostics,
                            "t.sync:1:31: error: unexpected ''a'', expected "
                            "'FROM'\n"
                            "  SYNC s FROM k INTO m.t WINDOW 'a' TO 'b';\n"
                            "                                ^~~\n");
        release(p);
}

static void test_recovers_at_semicolon(void **state)
{
        (void)state;
        parsed_t *p = parse_text("SYNC a FROM k INTO m.t bogus;\n"
                                 "KAFKA CONNECTION k BROKERS 'x';\n"
                                 "SYNC b FROM k INTO m.t WINDOW FROM;\n");
        assert_int_equal(p->errors, 2);
        assert_non_null(strstr(p->diagnostics, "t.sync:1:24: error: "
                                               "unexpected 'bogus'"));
        assert_non_null(strstr(p->diagnostics, "t.sync:3:35: error: "
                                               "unexpected ';', expected "
                                               "'ENV' or string"));
        assert_true(p->ast.stmts->broken);
        /* The statement between the two errors is in the tree. */
        int kafka = 0;
        for (km_stmt_t *s = p->ast.stmts; s; s = s->next)
                kafka += s->kind == KM_STMT_KAFKA;
        assert_int_equal(kafka, 1);
        release(p);
}

static void test_lexer_errors_are_reported_by_the_parser(void **state)
{
        (void)state;
        parsed_t *p = parse_text("KAFKA CONNECTION k BROKERS 'open\n;");
        assert_int_equal(p->errors, 1);
        assert_non_null(strstr(p->diagnostics,
                               "t.sync:1:28: error: unterminated string: add "
                               "the closing ' on the same line"));
        release(p);
        p = parse_text("KAFKA CONNECTION k # BROKERS 'x';");
        assert_int_equal(p->errors, 1);
        assert_non_null(strstr(p->diagnostics,
                               "t.sync:1:20: error: unexpected character"));
        release(p);
}

static void test_target_needs_connection_and_table(void **state)
{
        (void)state;
        parsed_t *p = parse_text("SYNC s FROM k INTO m WINDOW FROM 'a' TO 'b';");
        assert_non_null(strstr(p->diagnostics,
                               "t.sync:1:20: error: INTO needs "
                               "connection.table: add the table name, e.g. "
                               "m.s"));
        release(p);
        p = parse_text("SYNC s FROM k INTO m.a.b WINDOW FROM 'a' TO 'b';");
        assert_non_null(strstr(p->diagnostics, "'m.a.b' is not a target"));
        release(p);
}

static void test_empty_and_comment_only_files(void **state)
{
        (void)state;
        parsed_t *p = parse_text("");
        assert_int_equal(p->errors, 0);
        assert_null(p->ast.stmts);
        release(p);
        p = parse_text("-- nothing here\n   \n");
        assert_int_equal(p->errors, 0);
        release(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_issue_example_parses),
                cmocka_unit_test(test_tree_and_locations),
                cmocka_unit_test(test_keywords_are_case_insensitive_and_usable_as_names),
                cmocka_unit_test(test_strings_double_their_quotes),
                cmocka_unit_test(test_clauses_in_any_order_and_twice_is_an_error),
                cmocka_unit_test(test_syntax_error_names_what_was_expected),
                cmocka_unit_test(test_recovers_at_semicolon),
                cmocka_unit_test(test_lexer_errors_are_reported_by_the_parser),
                cmocka_unit_test(test_target_needs_connection_and_table),
                cmocka_unit_test(test_empty_and_comment_only_files),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
