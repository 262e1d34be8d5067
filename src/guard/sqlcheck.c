/* sqlcheck.c - SQL identifier grammar and query inspection (see sqlcheck.h). */
#include "guard/sqlcheck.h"

#include <string.h>
#include <strings.h>

#include "util/utf8.h"

#define IDENT_MAX 128u

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool word_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '_' || c == '$';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* One identifier part at s[*i]; advances *i. */
static int ident_part(const char *s, size_t n, size_t *i, const struct sql_ident_opts *o,
                      const char **why)
{
    size_t k = *i;
    if (k >= n) {
        *why = "is empty";
        return -1;
    }
    char q = s[k];
    if (q == '"' || q == '`' || q == '[') {
        if (!o->quoted) {
            *why = "must be a plain identifier without quotes";
            return -1;
        }
        char close = q == '[' ? ']' : q;
        size_t start = ++k;
        for (;;) {
            if (k >= n) {
                *why = "has an unterminated quote";
                return -1;
            }
            unsigned char c = (unsigned char)s[k];
            if (c == (unsigned char)close) {
                if (close != ']' && k + 1 < n && s[k + 1] == close) {
                    k += 2; /* doubled quote */
                    continue;
                }
                break;
            }
            if (c < 0x20 || c == 0x7f || c == ';') {
                *why = "has a control character or ';' inside its quotes";
                return -1;
            }
            k++;
        }
        if (k == start) {
            *why = "is an empty quoted identifier";
            return -1;
        }
        if (utf8_count(s + start, k - start) > IDENT_MAX) {
            *why = "is longer than 128 characters";
            return -1;
        }
        *i = k + 1;
        return 0;
    }
    if (!(is_alpha(q) || q == '_')) {
        *why = "must start with a letter or '_'";
        return -1;
    }
    size_t start = k;
    while (k < n && word_char(s[k]))
        k++;
    if (k - start > IDENT_MAX) {
        *why = "is longer than 128 characters";
        return -1;
    }
    *i = k;
    return 0;
}

static bool word_at(const char *s, size_t n, size_t i, const char *w)
{
    size_t l = strlen(w);
    return i + l <= n && strncasecmp(s + i, w, l) == 0 && (i + l == n || !word_char(s[i + l]));
}

int sql_identifier_check(const char *s, size_t n, const struct sql_ident_opts *o, const char **why)
{
    size_t i = 0;
    for (;;) {
        for (int part = 0;; part++) {
            if (part == 3) {
                *why = "has more than three dotted parts";
                return -1;
            }
            if (ident_part(s, n, &i, o, why) < 0)
                return -1;
            if (i < n && s[i] == '.') {
                if (!o->qualified) {
                    *why = "must not be qualified with '.'";
                    return -1;
                }
                i++;
                continue;
            }
            break;
        }
        if (!o->order)
            break;
        size_t k = i;
        while (k < n && s[k] == ' ')
            k++;
        if (k > i && (word_at(s, n, k, "ASC") || word_at(s, n, k, "DESC"))) {
            i = k + (word_at(s, n, k, "ASC") ? 3 : 4);
            k = i;
        }
        while (k < n && s[k] == ' ')
            k++;
        if (k < n && s[k] == ',') {
            k++;
            while (k < n && s[k] == ' ')
                k++;
            i = k;
            continue;
        }
        break;
    }
    if (i != n) {
        *why = o->order ? "must be a column list such as \"name\" or \"created_at DESC, id\""
                        : "must be a single identifier";
        return -1;
    }
    return 0;
}

/* ---- query inspection ---- */

enum tk { TK_END, TK_WORD, TK_NUM, TK_STR, TK_QID, TK_OP, TK_SEMI, TK_COMMENT, TK_LP, TK_RP };

struct tok {
    enum tk t;
    const char *p; /* token text; for TK_STR the content between the quotes */
    size_t n;
};

struct lexer {
    const char *s;
    size_t n, i;
    bool unbalanced;
};

static void lex(struct lexer *L, struct tok *t)
{
    const char *s = L->s;
    size_t n = L->n;
    while (L->i < n && is_space(s[L->i]))
        L->i++;
    size_t i = L->i;
    t->p = s + i;
    t->n = 0;
    if (i >= n) {
        t->t = TK_END;
        return;
    }
    char c = s[i];
    if ((c == '-' && i + 1 < n && s[i + 1] == '-') || c == '#') {
        while (i < n && s[i] != '\n')
            i++;
        t->t = TK_COMMENT;
    } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
        i += 2;
        while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/'))
            i++;
        if (i + 1 >= n) {
            L->unbalanced = true;
            i = n;
        } else {
            i += 2;
        }
        t->t = TK_COMMENT;
    } else if (c == '\'' || c == '"' || c == '`') {
        size_t start = ++i;
        for (;;) {
            if (i >= n) {
                L->unbalanced = true;
                break;
            }
            if (s[i] == c) {
                if (i + 1 < n && s[i + 1] == c) {
                    i += 2;
                    continue;
                }
                break;
            }
            i++;
        }
        t->t = c == '\'' ? TK_STR : TK_QID;
        t->p = s + start;
        t->n = (i < n ? i : n) - start;
        L->i = i < n ? i + 1 : n;
        return;
    } else if (c == '$' && i + 1 < n && (s[i + 1] == '$' || is_alpha(s[i + 1]) || s[i + 1] == '_')) {
        /* PostgreSQL dollar quote $tag$...$tag$ */
        size_t k = i + 1;
        while (k < n && (is_alpha(s[k]) || is_digit(s[k]) || s[k] == '_'))
            k++;
        if (k < n && s[k] == '$') {
            size_t taglen = k - i + 1;
            const char *tag = s + i;
            size_t start = k + 1;
            size_t e = start;
            while (e + taglen <= n && memcmp(s + e, tag, taglen) != 0)
                e++;
            t->t = TK_STR;
            t->p = s + start;
            if (e + taglen > n) {
                L->unbalanced = true;
                t->n = n - start;
                L->i = n;
            } else {
                t->n = e - start;
                L->i = e + taglen;
            }
            return;
        }
        i++;
        t->t = TK_OP;
    } else if (is_digit(c) || (c == '.' && i + 1 < n && is_digit(s[i + 1]))) {
        while (i < n && (is_digit(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                         s[i] == 'x' || s[i] == 'X' || (s[i] >= 'a' && s[i] <= 'f') ||
                         (s[i] >= 'A' && s[i] <= 'F')))
            i++;
        t->t = TK_NUM;
    } else if (is_alpha(c) || c == '_' || (unsigned char)c >= 0x80) {
        while (i < n && (word_char(s[i]) || (unsigned char)s[i] >= 0x80))
            i++;
        t->t = TK_WORD;
    } else if (c == ';') {
        i++;
        t->t = TK_SEMI;
    } else if (c == '(') {
        i++;
        t->t = TK_LP;
    } else if (c == ')') {
        i++;
        t->t = TK_RP;
    } else {
        i++;
        if ((c == '=' || c == '<' || c == '>' || c == '!' || c == '|') && i < n &&
            (s[i] == '=' || s[i] == '>' || s[i] == '|'))
            i++;
        t->t = TK_OP;
    }
    t->n = (size_t)(s + i - t->p);
    L->i = i;
}

static bool is_kw(const struct tok *t, const char *w)
{
    /* first letter first: most words fail there (runs for every word) */
    return t->t == TK_WORD && t->n > 0 && ((t->p[0] | 0x20) == (w[0] | 0x20)) &&
           strlen(w) == t->n && strncasecmp(t->p, w, t->n) == 0;
}

static bool kw_in(const struct tok *t, const char *const *list)
{
    if (t->t != TK_WORD)
        return false;
    for (size_t i = 0; list[i] != NULL; i++)
        if (is_kw(t, list[i]))
            return true;
    return false;
}

static bool same_literal(const struct tok *a, const struct tok *b)
{
    if (a->t != b->t || (a->t != TK_STR && a->t != TK_NUM))
        return false;
    return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

static bool is_eq(const struct tok *t)
{
    return (t->t == TK_OP && ((t->n == 1 && t->p[0] == '=') || (t->n == 2 && memcmp(t->p, "==", 2) == 0))) ||
           is_kw(t, "LIKE") || is_kw(t, "IS");
}

/* After an OR: "lit = lit" with equal literals, TRUE, or a non-zero number
 * that is not compared with anything. */
static bool tautology_after_or(const struct lexer *L0)
{
    struct lexer L = *L0;
    struct tok a, op, b;
    lex(&L, &a);
    if (is_kw(&a, "NOT"))
        return false;
    if (is_kw(&a, "TRUE"))
        return true;
    if (a.t == TK_LP)
        lex(&L, &a);
    if (a.t != TK_STR && a.t != TK_NUM)
        return false;
    lex(&L, &op);
    if (is_eq(&op)) {
        lex(&L, &b);
        return same_literal(&a, &b);
    }
    if (a.t == TK_NUM && op.t != TK_OP && !(a.n == 1 && a.p[0] == '0'))
        return true; /* OR 1 */
    return false;
}

struct stmt {
    bool any;          /* has a non-comment token */
    struct tok first;  /* first keyword (after EXPLAIN ...) */
    bool first_set;
    bool explain;
    bool where;
    bool into;
    bool has_eq;       /* '=' seen (PRAGMA x = y) */
    bool has_paren;
    bool modifies;     /* INSERT/UPDATE/DELETE/MERGE inside (WITH ... ) */
    struct tok second; /* word after the first keyword */
    bool second_set;
};

static void finish(struct stmt *st, struct sql_findings *f)
{
    if (!st->any)
        return;
    f->statements++;
    if (!st->first_set)
        return;
    const struct tok *k = &st->first;
    static const char *const read_pragmas[] = {
        "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
        "foreign_key_list", "database_list", "table_list", "compile_options", "function_list",
        "module_list", "pragma_list", "collation_list", "integrity_check", "quick_check", NULL};
    const char *w = NULL;
    if (is_kw(k, "SELECT")) {
        if (st->into)
            w = "SELECT INTO";
    } else if (is_kw(k, "WITH")) {
        if (st->modifies)
            w = "WITH (data-modifying)";
    } else if (is_kw(k, "VALUES") || is_kw(k, "SHOW") || is_kw(k, "DESCRIBE") ||
               is_kw(k, "DESC")) {
        /* read */
    } else if (is_kw(k, "PRAGMA")) {
        bool reads = st->second_set && kw_in(&st->second, read_pragmas);
        if (!reads && (st->has_eq || st->has_paren))
            w = "PRAGMA assignment";
    } else {
        static const struct {
            const char *kw;
            const char *name;
        } writes[] = {{"INSERT", "INSERT"},   {"UPDATE", "UPDATE"},   {"DELETE", "DELETE"},
                      {"REPLACE", "REPLACE"}, {"MERGE", "MERGE"},     {"UPSERT", "UPSERT"},
                      {"CREATE", "CREATE"},   {"DROP", "DROP"},       {"ALTER", "ALTER"},
                      {"TRUNCATE", "TRUNCATE"}, {"RENAME", "RENAME"}, {"VACUUM", "VACUUM"},
                      {"REINDEX", "REINDEX"}, {"ANALYZE", "ANALYZE"}, {"GRANT", "GRANT"},
                      {"REVOKE", "REVOKE"},   {"COPY", "COPY"},       {"LOAD", "LOAD"},
                      {"CALL", "CALL"},       {"EXEC", "EXEC"},       {"EXECUTE", "EXECUTE"},
                      {"DO", "DO"},           {"SET", "SET"},         {"BEGIN", "BEGIN"},
                      {"COMMIT", "COMMIT"},   {"ROLLBACK", "ROLLBACK"}};
        w = "a statement that is not a query";
        for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
            if (is_kw(k, writes[i].kw))
                w = writes[i].name;
    }
    if (w != NULL && f->write == NULL)
        f->write = w;
    if (f->destructive == NULL) {
        if (is_kw(k, "DROP"))
            f->destructive = "DROP";
        else if (is_kw(k, "TRUNCATE"))
            f->destructive = "TRUNCATE";
        else if (is_kw(k, "ALTER") || is_kw(k, "RENAME"))
            f->destructive = "ALTER";
        else if (is_kw(k, "DELETE") && !st->where)
            f->destructive = "DELETE without WHERE";
        else if (is_kw(k, "UPDATE") && !st->where)
            f->destructive = "UPDATE without WHERE";
    }
    if (f->dangerous == NULL) {
        if (is_kw(k, "COPY"))
            f->dangerous = "COPY";
        else if (is_kw(k, "LOAD") && st->second_set && is_kw(&st->second, "DATA"))
            f->dangerous = "LOAD DATA";
        else if (is_kw(k, "VACUUM") && st->into)
            f->dangerous = "VACUUM INTO";
        else if (is_kw(k, "GRANT") || is_kw(k, "REVOKE"))
            f->dangerous = is_kw(k, "GRANT") ? "GRANT" : "REVOKE";
    }
}

void sql_inspect(const char *s, size_t n, struct sql_findings *f)
{
    memset(f, 0, sizeof(*f));
    struct lexer L = {s, n, 0, false};
    struct stmt st;
    memset(&st, 0, sizeof(st));
    struct tok t;
    bool after_semi = false;
    static const char *const explain_skip[] = {"ANALYZE", "ANALYSE", "QUERY", "PLAN", "VERBOSE",
                                               NULL};
    static const char *const dangerous_words[] = {"ATTACH", "DETACH", "OUTFILE", "DUMPFILE",
                                                  "xp_cmdshell", "sp_configure", "sp_oacreate",
                                                  "OPENROWSET", "OPENDATASOURCE", NULL};
    static const char *const dangerous_funcs[] = {
        "load_extension", "load_file",  "pg_read_file", "pg_read_binary_file", "pg_ls_dir",
        "pg_stat_file",   "lo_import",  "lo_export",    "dblink",              "dblink_exec",
        "sys_exec",       "sys_eval",   "readfile",     "writefile",           "fts3_tokenizer",
        "edit",           NULL};
    static const char *const danger_pragmas[] = {"writable_schema", "trusted_schema", NULL};
    static const char *const modifying[] = {"INSERT", "UPDATE", "DELETE", "MERGE", NULL};
    for (;;) {
        lex(&L, &t);
        if (t.t == TK_END)
            break;
        if (t.t == TK_COMMENT) {
            if (after_semi)
                f->comment_after_end = true;
            continue;
        }
        if (t.t == TK_SEMI) {
            finish(&st, f);
            memset(&st, 0, sizeof(st));
            after_semi = true;
            continue;
        }
        after_semi = false;
        st.any = true;
        if (t.t == TK_WORD) {
            if (!st.first_set) {
                if (is_kw(&t, "EXPLAIN")) {
                    st.explain = true;
                } else if (!(st.explain && kw_in(&t, explain_skip))) {
                    st.first = t;
                    st.first_set = true;
                }
            } else if (!st.second_set) {
                st.second = t;
                st.second_set = true;
            }
            if (is_kw(&t, "WHERE"))
                st.where = true;
            if (is_kw(&t, "INTO"))
                st.into = true;
            if (kw_in(&t, modifying))
                st.modifies = true;
            if (f->dangerous == NULL && kw_in(&t, dangerous_words)) {
                f->dangerous = is_kw(&t, "ATTACH")   ? "ATTACH"
                               : is_kw(&t, "DETACH") ? "DETACH"
                               : is_kw(&t, "OUTFILE") ? "INTO OUTFILE"
                               : is_kw(&t, "DUMPFILE") ? "INTO DUMPFILE"
                                                       : "a system procedure";
            }
            if (f->dangerous == NULL && kw_in(&t, dangerous_funcs)) {
                struct lexer L2 = L;
                struct tok nx;
                lex(&L2, &nx);
                if (nx.t == TK_LP)
                    f->dangerous = "a file or extension function";
            }
            if (f->dangerous == NULL && st.first_set && is_kw(&st.first, "PRAGMA") &&
                kw_in(&t, danger_pragmas))
                f->dangerous = "PRAGMA writable_schema";
            if (f->dangerous == NULL && st.first_set &&
                (is_kw(&st.first, "CREATE") || is_kw(&st.first, "ALTER")) &&
                (is_kw(&t, "FUNCTION") || is_kw(&t, "EXTENSION") || is_kw(&t, "USER") ||
                 is_kw(&t, "ROLE") || is_kw(&t, "SYSTEM") || is_kw(&t, "PROCEDURE")))
                f->dangerous = "CREATE/ALTER FUNCTION, EXTENSION, USER or ROLE";
            if (is_kw(&t, "OR") && tautology_after_or(&L))
                f->tautology = true;
        } else if (t.t == TK_OP && is_eq(&t)) {
            st.has_eq = true;
        } else if (t.t == TK_LP) {
            st.has_paren = true;
        }
    }
    finish(&st, f);
    f->unbalanced = L.unbalanced;
}
