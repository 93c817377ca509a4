/* lex_extra.h - what the lexer and the parser share: the lexer's state
 * (byte position, the arena tokens are copied into) and the small helpers
 * the lexer's actions call.  Private to grammar/. */
#ifndef KMSYNC_LEX_EXTRA_H
#define KMSYNC_LEX_EXTRA_H

#include <stddef.h>
#include <stdint.h>

#include "kmsync/arena.h"
#include "kmsync/ast.h"
#include "kmsync/diag.h"

struct km_lex_extra {
        km_arena_t *arena;
        int pos; /* byte offset of the next character */
        const char *invalid_reason; /* why the last INVALID token is one */
};

union KM_YYSTYPE;

/* Decimal digits to an int64; -1 on overflow. */
int km_lex_parse_int(const char *digits, int64_t *out);
/* The text between the quotes, with doubled quotes made single. */
char *km_lex_unquote(km_arena_t *a, const char *text, size_t len, char quote);
/* Returns the INVALID token with `why` as its text. */
int km_lex_invalid(struct km_lex_extra *x, union KM_YYSTYPE *val,
                   const char *why);
int km_lex_invalid_char(struct km_lex_extra *x, union KM_YYSTYPE *val, char c);

#endif
