/* sqlcheck.h - SQL identifiers and whole queries passed as tool arguments.
 *
 * sql_identifier_check() accepts one identifier as a server would splice it
 * into SQL text (PRAGMA table_info({name}), ORDER BY {col}):
 *   bare     [A-Za-z_][A-Za-z0-9_$]*  (ASCII; quote anything else)
 *   quoted   "..." (with "" inside), `...` (with `` inside) or [...], no
 *            control characters and no ';' inside
 * optionally qualified (a.b, a.b.c) and, for ORDER BY arguments, followed by
 * ASC or DESC and separated by commas. Each part is at most 128 characters.
 *
 * sql_inspect() reads a whole query with a small SQL lexer (strings, quoted
 * identifiers, dollar quotes, comments) and reports what a policy may refuse.
 * It is not a SQL parser: it classifies statements by their leading keywords
 * and looks for a fixed set of dangerous constructs. No allocation.
 */
#ifndef MCPWALL_GUARD_SQLCHECK_H
#define MCPWALL_GUARD_SQLCHECK_H

#include <stdbool.h>
#include <stddef.h>

struct sql_ident_opts {
    bool quoted;    /* allow quoted identifiers (default true) */
    bool qualified; /* allow schema.table[.column] (default true) */
    bool order;     /* allow "col [ASC|DESC] [, col [ASC|DESC]]..." (default false) */
};

/* 0 when s[0,n) is an identifier under o, -1 otherwise with *why set. */
int sql_identifier_check(const char *s, size_t n, const struct sql_ident_opts *o, const char **why);

struct sql_findings {
    size_t statements;          /* non-empty statements */
    bool unbalanced;            /* unterminated string, quoted identifier or comment */
    bool tautology;             /* OR 'a'='a', OR 1=1, OR TRUE ... */
    bool comment_after_end;     /* a comment after a ';' (the "; --" injection tail) */
    const char *dangerous;      /* first escape construct: "ATTACH", "PRAGMA writable_schema",
                                 * "load_extension", "INTO OUTFILE", "COPY ... PROGRAM", ... */
    const char *destructive;    /* first destructive statement: "DROP", "TRUNCATE", "ALTER",
                                 * "DELETE without WHERE", "UPDATE without WHERE" */
    const char *write;          /* first statement that is not read-only ("INSERT", ...) */
};

/* Fills f for the query s[0,n). Never fails. */
void sql_inspect(const char *s, size_t n, struct sql_findings *f);

#endif
