/* args.c - the policy's argument constraints: compile and check (see args.h
 * and docs/guards-arguments.md). */
#include "guard/args.h"

#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "guard/guard_re.h"
#include "guard/netaddr.h"
#include "guard/pathcheck.h"
#include "guard/sqlcheck.h"
#include "guard/urlcheck.h"
#include "util/str.h"
#include "util/utf8.h"

#define WALK_MAX_DEPTH 32u

enum {
    C_SHELL = 1u << 0,
    C_SHELL_STRICT = 1u << 1,
    C_LEADING_DASH = 1u << 2,
    C_OPTION_WORDS = 1u << 3,
    C_SQL_IDENT = 1u << 4,
    C_SQL_QUERY = 1u << 5,
    C_MAXLEN = 1u << 6,
};

enum sql_act { SQL_ALLOW = 0, SQL_FLAG, SQL_DENY };

struct root {
    char *lex;  /* as configured, lexically normalised */
    char *phys; /* resolved against the filesystem at compile time */
};

struct path_rule {
    struct root *roots;
    size_t nroots;
    char *base;          /* for relative paths; absolute, normalised */
    char *base_arg;      /* or: the value of this top-level argument */
    bool base_from_repo; /* git profile: the call's repository argument */
    bool confine;        /* the path must also lie within the base */
};

struct port_range {
    unsigned lo, hi;
};

struct url_rule {
    char **schemes;
    size_t nschemes;
    char **hosts;
    size_t nhosts;
    struct port_range *ports;
    size_t nports;
    bool allow_private, allow_loopback, allow_userinfo, resolve;
};

struct sqlq_rule {
    bool read_only;
    enum sql_act destructive;
    enum sql_act multi;
};

struct argc {
    unsigned flags;
    struct path_rule *path;
    struct url_rule *url;
    struct sql_ident_opts ident;
    struct sqlq_rule sqlq;
    size_t max_length;
    struct guard_re *allow, *deny;
    json_t *enum_v;
    enum arg_action action;
    const char *what; /* for "flag" messages from profiles: which rule */
};

struct argsel {
    char *name;    /* a name glob, or a pointer when name[0] == '/' */
    char **segs;   /* pointer segments (globs), unescaped */
    size_t nsegs;
    struct argc c;
};

enum profile_kind { P_FILESYSTEM, P_GIT, P_SHELL, P_DATABASE, P_HTTP };

struct profile {
    enum profile_kind kind;
    struct argc main;   /* filesystem: paths; git: repository; shell: strings; database:
                         * identifiers; http-fetch: URLs */
    struct argc file;   /* git: paths inside the repository */
    struct argc ref;    /* git: other strings (refs, revisions) */
    struct argc order;  /* database: ORDER BY lists */
    struct argc query;  /* database: queries in write tools */
    struct argc query_ro; /* database: queries in read tools */
    char **select;
    size_t nselect;
    char **ignore;
    size_t nignore;
    char **read_tools;
    size_t nread_tools;
};

struct arg_entry {
    char **tools;
    size_t ntools;
    struct argsel *sels;
    size_t nsels;
    struct profile *prof;
    char label[96];
};

struct arg_policy {
    struct arg_entry *e;
    size_t n;
};

/* ------------------------------------------------------------------------ */
/* Built-in argument names of the profiles (matched case-insensitively).    */

static const char *const names_path[] = {
    "path",      "paths",       "*path",       "*paths",       "file",     "files",
    "*file",     "*files",      "filename",    "filenames",    "*filename", "*filenames",
    "dir",       "dirs",        "*dir",        "*dirs",        "directory", "directories",
    "*directory", "*directories", "folder",   "folders",      "*folder",  "*folders",
    "source",    "sources",     "destination", "destinations", "src",      "dst",
    "dest",      "cwd",         "root",        "workdir",      "*_root",   NULL};
static const char *const names_repo[] = {"repo_path", "repo", "repository", "repo_dir",
                                         "repository_path", "repopath", "*_repo_path", NULL};
static const char *const names_url[] = {"url",     "urls",  "*url",     "*urls", "uri",
                                        "uris",    "*uri",  "*uris",    "endpoint", "*endpoint",
                                        "webhook", "*webhook", "href",  "link",  "links", NULL};
static const char *const names_ident[] = {
    "table",        "tables",       "*table",        "*tables",     "*table_name",
    "*tablename",   "*table_names", "schema",        "schema_name", "schemaname",
    "column",       "columns",      "*column",       "*columns",    "*column_name",
    "*columnname",  "*column_names", "index",        "index_name",  "indexname",
    "view",         "view_name",    "collection",    "collection_name", "collectionname",
    "field",        "fields",       "*field",        "*fields",     NULL};
static const char *const names_order[] = {"order_by", "orderby", "sort_by", "sortby", "order",
                                          "sort",     "group_by", "groupby", NULL};
static const char *const names_query[] = {"query", "sql", "statement", "*_query", "*_sql",
                                          "*query", "*sql", "*statement", NULL};
static const char *const default_read_tools[] = {"read*",     "*_read*", "select*", "query*",
                                                 "describe*", "explain*", "list*",  "get*",
                                                 "search*",   "find*",   "count*",  NULL};

/* Matches a lowercased name against one of the built-in lists above. The
 * lists hold only exact names and "*suffix" patterns, matched here without
 * the general glob engine (this runs for every argument of every call). */
static bool name_in(const char *lname, size_t n, const char *const *pats)
{
    for (; *pats != NULL; pats++) {
        const char *p = *pats;
        if (p[0] == '*') {
            size_t sl = strlen(p + 1);
            if (n >= sl && memcmp(lname + n - sl, p + 1, sl) == 0)
                return true;
        } else if (strlen(p) == n && memcmp(p, lname, n) == 0) {
            return true;
        }
    }
    return false;
}

static bool glob_in(const char *s, const char *const *globs)
{
    for (size_t i = 0; globs[i] != NULL; i++)
        if (glob_match(globs[i], s, strlen(s)))
            return true;
    return false;
}

static bool name_in_list(const char *lname, size_t n, char *const *globs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (glob_match(globs[i], lname, n))
            return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Freeing                                                                   */

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void path_rule_free(struct path_rule *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nroots; i++) {
        free(r->roots[i].lex);
        free(r->roots[i].phys);
    }
    free(r->roots);
    free(r->base);
    free(r->base_arg);
    free(r);
}

static void url_rule_free(struct url_rule *u)
{
    if (u == NULL)
        return;
    free_strv(u->schemes, u->nschemes);
    free_strv(u->hosts, u->nhosts);
    free(u->ports);
    free(u);
}

static void argc_free(struct argc *c)
{
    path_rule_free(c->path);
    url_rule_free(c->url);
    guard_re_free(c->allow);
    guard_re_free(c->deny);
    json_decref(c->enum_v);
    memset(c, 0, sizeof(*c));
}

static void profile_free(struct profile *p)
{
    if (p == NULL)
        return;
    argc_free(&p->main);
    argc_free(&p->file);
    argc_free(&p->ref);
    argc_free(&p->order);
    argc_free(&p->query);
    argc_free(&p->query_ro);
    free_strv(p->select, p->nselect);
    free_strv(p->ignore, p->nignore);
    free_strv(p->read_tools, p->nread_tools);
    free(p);
}

void args_policy_free(struct arg_policy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        struct arg_entry *e = &p->e[i];
        free_strv(e->tools, e->ntools);
        for (size_t k = 0; k < e->nsels; k++) {
            free(e->sels[k].name);
            free_strv(e->sels[k].segs, e->sels[k].nsegs);
            argc_free(&e->sels[k].c);
        }
        free(e->sels);
        profile_free(e->prof);
    }
    free(p->e);
    free(p);
}

/* ------------------------------------------------------------------------ */
/* Compilation                                                               */

struct comp {
    const struct cfg_doc *doc;
    struct cfg_errors *errs;
    size_t nerr; /* errors recorded by this compiler */
};

#define CERR(cp, parent, key, index, ...)                                                          \
    do {                                                                                           \
        cfg_err((cp)->errs, (cp)->doc, (parent), (key), (index), __VA_ARGS__);                     \
        (cp)->nerr++;                                                                              \
    } while (0)

static char *lower_dup(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; d != NULL && *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

/* A string or a list of non-empty strings at obj[key]; *out a new vector. */
static int get_strv(struct comp *cp, const json_t *obj, const char *key, bool lower, char ***out,
                    size_t *n)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    *n = 0;
    if (v == NULL)
        return 1;
    const json_t *one = json_is_string(v) ? v : NULL;
    if (!json_is_array(v) && one == NULL) {
        CERR(cp, obj, key, 0, "'%s' must be a string or a list of strings", key);
        return -1;
    }
    size_t cnt = one != NULL ? 1 : json_array_size(v);
    if (cnt == 0) {
        CERR(cp, obj, key, 0, "'%s' must not be empty", key);
        return -1;
    }
    char **vec = calloc(cnt, sizeof(*vec));
    if (vec == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < cnt; i++) {
        const json_t *it = one != NULL ? one : json_array_get(v, i);
        if (!json_is_string(it) || json_string_length(it) == 0 ||
            strlen(json_string_value(it)) != json_string_length(it)) {
            if (one != NULL)
                CERR(cp, obj, key, 0, "'%s' must be a non-empty string", key);
            else
                CERR(cp, v, NULL, i, "'%s' entries must be non-empty strings", key);
            rc = -1;
            continue;
        }
        vec[i] = lower ? lower_dup(json_string_value(it)) : strdup(json_string_value(it));
    }
    if (rc < 0) {
        free_strv(vec, cnt);
        return -1;
    }
    *out = vec;
    *n = cnt;
    return 0;
}

static int get_action(struct comp *cp, const json_t *obj, const char *key, enum arg_action *out)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 1;
    if (json_is_string(v) && strcmp(json_string_value(v), "deny") == 0) {
        *out = ARG_ACTION_DENY;
        return 0;
    }
    if (json_is_string(v) && strcmp(json_string_value(v), "flag") == 0) {
        *out = ARG_ACTION_FLAG;
        return 0;
    }
    CERR(cp, obj, key, 0, "'%s' must be \"deny\" or \"flag\"", key);
    return -1;
}

static int get_sql_act(struct comp *cp, const json_t *obj, const char *key, enum sql_act *out)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 1;
    static const char *const w[] = {"allow", "flag", "deny"};
    for (int i = 0; i < 3; i++)
        if (json_is_string(v) && strcmp(json_string_value(v), w[i]) == 0) {
            *out = (enum sql_act)i;
            return 0;
        }
    CERR(cp, obj, key, 0, "'%s' must be \"deny\", \"flag\" or \"allow\"", key);
    return -1;
}

static int get_bool(struct comp *cp, const json_t *obj, const char *key, bool *out)
{
    int r = cfg_get_bool(cp->errs, cp->doc, obj, key, out);
    if (r < 0)
        cp->nerr++;
    return r;
}

/* Compiles a root or base directory: absolute, no NUL; normalised and resolved. */
static int compile_dir(struct comp *cp, const json_t *parent, const char *key, size_t idx,
                       const char *s, char **lex, char **phys)
{
    char l[PATH_MAX], p[PATH_MAX];
    const char *reason = NULL;
    if (s[0] != '/') {
        CERR(cp, parent, key, idx, "'%s' must be an absolute path", s);
        return -1;
    }
    if (path_lexical(s, l, sizeof(l)) < 0 || path_physical(s, p, sizeof(p), &reason) < 0) {
        CERR(cp, parent, key, idx, "'%s' cannot be resolved (%s)", s,
             reason != NULL ? reason : "path_too_long");
        return -1;
    }
    *lex = strdup(l);
    if (phys != NULL)
        *phys = strdup(p);
    return 0;
}

static struct path_rule *compile_roots(struct comp *cp, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_string(v) || json_is_array(v)) {
        /* fine */
    } else {
        CERR(cp, obj, key, 0, "'%s' must be a directory or a list of directories", key);
        return NULL;
    }
    size_t cnt = json_is_string(v) ? 1 : json_array_size(v);
    if (cnt == 0) {
        CERR(cp, obj, key, 0, "'%s' must name at least one directory", key);
        return NULL;
    }
    struct path_rule *r = calloc(1, sizeof(*r));
    r->roots = calloc(cnt, sizeof(*r->roots));
    int bad = 0;
    for (size_t i = 0; i < cnt; i++) {
        const json_t *it = json_is_string(v) ? v : json_array_get(v, i);
        const json_t *par = json_is_string(v) ? obj : v;
        const char *pk = json_is_string(v) ? key : NULL;
        if (!json_is_string(it) || strlen(json_string_value(it)) != json_string_length(it)) {
            CERR(cp, par, pk, i, "'%s' entries must be directory paths", key);
            bad = 1;
            continue;
        }
        if (compile_dir(cp, par, pk, i, json_string_value(it), &r->roots[r->nroots].lex,
                        &r->roots[r->nroots].phys) < 0) {
            bad = 1;
            continue;
        }
        r->nroots++;
    }
    if (bad) {
        path_rule_free(r);
        return NULL;
    }
    return r;
}

static struct path_rule *compile_path_within(struct comp *cp, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_object(v))
        return compile_roots(cp, obj, key);
    static const char *const keys[] = {"roots", "base", "base_arg", NULL};
    cp->nerr += cfg_check_keys(cp->errs, cp->doc, v, keys);
    if (json_object_get(v, "roots") == NULL) {
        CERR(cp, obj, key, 0, "'%s' needs 'roots'", key);
        return NULL;
    }
    struct path_rule *r = compile_roots(cp, v, "roots");
    if (r == NULL)
        return NULL;
    const char *base = NULL, *base_arg = NULL;
    if (cfg_get_str(cp->errs, cp->doc, v, "base", &base) < 0 ||
        cfg_get_str(cp->errs, cp->doc, v, "base_arg", &base_arg) < 0) {
        cp->nerr++;
        path_rule_free(r);
        return NULL;
    }
    if (base != NULL && compile_dir(cp, v, "base", 0, base, &r->base, NULL) < 0) {
        path_rule_free(r);
        return NULL;
    }
    if (base_arg != NULL) {
        if (base_arg[0] == '\0') {
            CERR(cp, v, "base_arg", 0, "'base_arg' must name an argument");
            path_rule_free(r);
            return NULL;
        }
        r->base_arg = strdup(base_arg);
    }
    return r;
}

static bool scheme_ok(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return false;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.'))
            return false;
    return strlen(s) < 32;
}

static struct url_rule *url_rule_default(void)
{
    struct url_rule *u = calloc(1, sizeof(*u));
    u->schemes = calloc(2, sizeof(char *));
    u->schemes[0] = strdup("http");
    u->schemes[1] = strdup("https");
    u->nschemes = 2;
    return u;
}

static struct url_rule *compile_url(struct comp *cp, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_true(v))
        return url_rule_default();
    if (!json_is_object(v)) {
        CERR(cp, obj, key, 0, "'%s' must be true or a mapping of URL rules", key);
        return NULL;
    }
    static const char *const keys[] = {"schemes",       "hosts",          "ports",   "allow_private",
                                       "allow_loopback", "allow_userinfo", "resolve", NULL};
    size_t before = cp->nerr;
    cp->nerr += cfg_check_keys(cp->errs, cp->doc, v, keys);
    struct url_rule *u = calloc(1, sizeof(*u));
    if (json_object_get(v, "schemes") != NULL) {
        if (get_strv(cp, v, "schemes", true, &u->schemes, &u->nschemes) == 0)
            for (size_t i = 0; i < u->nschemes; i++)
                if (!scheme_ok(u->schemes[i]))
                    CERR(cp, json_object_get(v, "schemes"), NULL, i, "'%s' is not a URL scheme",
                         u->schemes[i]);
    } else {
        struct url_rule *d = url_rule_default();
        u->schemes = d->schemes;
        u->nschemes = d->nschemes;
        free(d);
    }
    if (json_object_get(v, "hosts") != NULL)
        (void)get_strv(cp, v, "hosts", true, &u->hosts, &u->nhosts);
    const json_t *ports = json_object_get(v, "ports");
    if (ports != NULL) {
        if (!json_is_array(ports) || json_array_size(ports) == 0) {
            CERR(cp, v, "ports", 0, "'ports' must be a list of ports or \"low-high\" ranges");
        } else {
            u->ports = calloc(json_array_size(ports), sizeof(*u->ports));
            for (size_t i = 0; i < json_array_size(ports); i++) {
                const json_t *p = json_array_get(ports, i);
                unsigned long lo = 0, hi = 0;
                bool ok = false;
                if (json_is_integer(p)) {
                    lo = hi = (unsigned long)json_integer_value(p);
                    ok = json_integer_value(p) >= 1 && json_integer_value(p) <= 65535;
                } else if (json_is_string(p)) {
                    const char *s = json_string_value(p);
                    char *end;
                    lo = strtoul(s, &end, 10);
                    if (end != s && *end == '-') {
                        const char *h = end + 1;
                        hi = strtoul(h, &end, 10);
                        ok = end != h && *end == '\0';
                    }
                    ok = ok && isdigit((unsigned char)s[0]) && lo >= 1 && hi <= 65535 && lo <= hi;
                }
                if (!ok) {
                    CERR(cp, ports, NULL, i, "a port must be 1-65535 or a range \"low-high\"");
                    continue;
                }
                u->ports[u->nports].lo = (unsigned)lo;
                u->ports[u->nports].hi = (unsigned)hi;
                u->nports++;
            }
        }
    }
    (void)get_bool(cp, v, "allow_private", &u->allow_private);
    (void)get_bool(cp, v, "allow_loopback", &u->allow_loopback);
    (void)get_bool(cp, v, "allow_userinfo", &u->allow_userinfo);
    (void)get_bool(cp, v, "resolve", &u->resolve);
    if (cp->nerr != before) {
        url_rule_free(u);
        return NULL;
    }
    return u;
}

static int compile_regex(struct comp *cp, const json_t *obj, const char *key, bool ignore_case,
                         struct guard_re **out)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_string(v)) {
        CERR(cp, obj, key, 0, "'%s' must be a pattern (a string)", key);
        return -1;
    }
    char e[160];
    *out = guard_re_compile(json_string_value(v), json_string_length(v),
                            GUARD_RE_ECMA | (ignore_case ? GUARD_RE_CASELESS : 0u), e, sizeof(e));
    if (*out == NULL) {
        CERR(cp, obj, key, 0, "invalid pattern: %s", e);
        return -1;
    }
    return 0;
}

static void compile_sql_opts(struct comp *cp, const json_t *v, struct sqlq_rule *q, bool ro_key)
{
    static const char *const keys_ro[] = {"read_only", "destructive", "multiple_statements", NULL};
    static const char *const keys[] = {"destructive", "multiple_statements", NULL};
    cp->nerr += cfg_check_keys(cp->errs, cp->doc, v, ro_key ? keys_ro : keys);
    if (ro_key)
        (void)get_bool(cp, v, "read_only", &q->read_only);
    (void)get_sql_act(cp, v, "destructive", &q->destructive);
    (void)get_sql_act(cp, v, "multiple_statements", &q->multi);
}

static const char *const constraint_keys[] = {
    "path_within", "url",        "no_shell_meta", "no_leading_dash", "no_option_words",
    "sql_identifier", "sql_query", "max_length",  "regex",           "enum",
    "action",      NULL};

static int compile_argc(struct comp *cp, const json_t *parent, const char *pkey, const json_t *obj,
                        struct argc *c, enum arg_action dflt)
{
    size_t before = cp->nerr;
    memset(c, 0, sizeof(*c));
    c->action = dflt;
    c->ident.quoted = true;
    c->ident.qualified = true;
    c->sqlq.destructive = SQL_FLAG;
    c->sqlq.multi = SQL_DENY;
    cp->nerr += cfg_check_keys(cp->errs, cp->doc, obj, constraint_keys);
    size_t nconstraints = 0;
    const json_t *v;
    if (json_object_get(obj, "path_within") != NULL) {
        c->path = compile_path_within(cp, obj, "path_within");
        nconstraints++;
    }
    if (json_object_get(obj, "url") != NULL) {
        c->url = compile_url(cp, obj, "url");
        nconstraints++;
    }
    if ((v = json_object_get(obj, "no_shell_meta")) != NULL) {
        if (json_is_true(v))
            c->flags |= C_SHELL;
        else if (json_is_string(v) && strcmp(json_string_value(v), "strict") == 0)
            c->flags |= C_SHELL | C_SHELL_STRICT;
        else if (!json_is_false(v))
            CERR(cp, obj, "no_shell_meta", 0, "'no_shell_meta' must be true, false or \"strict\"");
        nconstraints++;
    }
    bool b = false;
    if (get_bool(cp, obj, "no_leading_dash", &b) == 0) {
        if (b)
            c->flags |= C_LEADING_DASH;
        nconstraints++;
    }
    b = false;
    if (get_bool(cp, obj, "no_option_words", &b) == 0) {
        if (b)
            c->flags |= C_OPTION_WORDS | C_LEADING_DASH;
        nconstraints++;
    }
    if ((v = json_object_get(obj, "sql_identifier")) != NULL) {
        nconstraints++;
        if (json_is_true(v)) {
            c->flags |= C_SQL_IDENT;
        } else if (json_is_object(v)) {
            static const char *const keys[] = {"quoted", "qualified", "order", NULL};
            cp->nerr += cfg_check_keys(cp->errs, cp->doc, v, keys);
            (void)get_bool(cp, v, "quoted", &c->ident.quoted);
            (void)get_bool(cp, v, "qualified", &c->ident.qualified);
            (void)get_bool(cp, v, "order", &c->ident.order);
            c->flags |= C_SQL_IDENT;
        } else if (!json_is_false(v)) {
            CERR(cp, obj, "sql_identifier", 0,
                 "'sql_identifier' must be true or a mapping (quoted, qualified, order)");
        }
    }
    if ((v = json_object_get(obj, "sql_query")) != NULL) {
        nconstraints++;
        if (json_is_true(v)) {
            c->flags |= C_SQL_QUERY;
        } else if (json_is_object(v)) {
            compile_sql_opts(cp, v, &c->sqlq, true);
            c->flags |= C_SQL_QUERY;
        } else if (!json_is_false(v)) {
            CERR(cp, obj, "sql_query", 0,
                 "'sql_query' must be true or a mapping (read_only, destructive, "
                 "multiple_statements)");
        }
    }
    uint64_t ml;
    int r = cfg_get_uint(cp->errs, cp->doc, obj, "max_length", 1u << 30, &ml);
    if (r < 0)
        cp->nerr++;
    if (r == 0) {
        c->flags |= C_MAXLEN;
        c->max_length = (size_t)ml;
        nconstraints++;
    }
    if ((v = json_object_get(obj, "regex")) != NULL) {
        nconstraints++;
        if (json_is_string(v)) {
            (void)compile_regex(cp, obj, "regex", false, &c->allow);
        } else if (json_is_object(v)) {
            static const char *const keys[] = {"allow", "deny", "ignore_case", NULL};
            cp->nerr += cfg_check_keys(cp->errs, cp->doc, v, keys);
            bool ic = false;
            (void)get_bool(cp, v, "ignore_case", &ic);
            if (compile_regex(cp, v, "allow", ic, &c->allow) < 0 ||
                compile_regex(cp, v, "deny", ic, &c->deny) < 0)
                cp->nerr++;
            if (json_object_get(v, "allow") == NULL && json_object_get(v, "deny") == NULL)
                CERR(cp, obj, "regex", 0, "'regex' needs 'allow' or 'deny'");
        } else {
            CERR(cp, obj, "regex", 0, "'regex' must be a pattern or a mapping with allow/deny");
        }
    }
    if ((v = json_object_get(obj, "enum")) != NULL) {
        nconstraints++;
        if (!json_is_array(v) || json_array_size(v) == 0) {
            CERR(cp, obj, "enum", 0, "'enum' must be a non-empty list of values");
        } else {
            for (size_t i = 0; i < json_array_size(v); i++) {
                const json_t *e = json_array_get(v, i);
                if (json_is_object(e) || json_is_array(e))
                    CERR(cp, v, NULL, i, "'enum' values must be strings, numbers, booleans or null");
            }
            c->enum_v = json_incref((json_t *)v);
        }
    }
    if (get_action(cp, obj, "action", &c->action) < 0)
        cp->nerr++;
    if (nconstraints == 0 && cp->nerr == before)
        CERR(cp, parent, pkey, 0, "no constraint given (expected one of path_within, url, "
                               "no_shell_meta, no_leading_dash, no_option_words, sql_identifier, "
                               "sql_query, max_length, regex, enum)");
    return cp->nerr == before ? 0 : -1;
}

/* Splits "/a/b~1c/x" into {"a", "b/c", "x"}, undoing the RFC 6901 escapes. */
static int split_pointer(const char *p, char ***segs, size_t *n)
{
    size_t cnt = 0;
    for (const char *q = p; *q; q++)
        if (*q == '/')
            cnt++;
    char **v = calloc(cnt + 1, sizeof(*v));
    if (v == NULL)
        return -1;
    size_t k = 0;
    const char *q = p + 1;
    for (;;) {
        const char *e = strchr(q, '/');
        size_t len = e != NULL ? (size_t)(e - q) : strlen(q);
        char *s = malloc(len + 1);
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
            if (q[i] == '~' && i + 1 < len && (q[i + 1] == '0' || q[i + 1] == '1')) {
                s[o++] = q[i + 1] == '0' ? '~' : '/';
                i++;
            } else {
                s[o++] = q[i];
            }
        }
        s[o] = '\0';
        v[k++] = s;
        if (e == NULL)
            break;
        q = e + 1;
    }
    *segs = v;
    *n = k;
    return 0;
}

static const char *const profile_names[] = {"filesystem", "git", "shell", "database",
                                            "http-fetch", NULL};

static void argc_defaults(struct argc *c, enum arg_action a, const char *what)
{
    memset(c, 0, sizeof(*c));
    c->action = a;
    c->what = what;
    c->ident.quoted = true;
    c->ident.qualified = true;
    c->sqlq.destructive = SQL_FLAG;
    c->sqlq.multi = SQL_DENY;
}

static struct path_rule *path_rule_copy(const struct path_rule *r)
{
    struct path_rule *c = calloc(1, sizeof(*c));
    c->roots = calloc(r->nroots, sizeof(*c->roots));
    for (size_t i = 0; i < r->nroots; i++) {
        c->roots[i].lex = strdup(r->roots[i].lex);
        c->roots[i].phys = strdup(r->roots[i].phys);
    }
    c->nroots = r->nroots;
    c->base = r->base != NULL ? strdup(r->base) : NULL;
    return c;
}

static struct profile *compile_profile(struct comp *cp, const json_t *ent, enum arg_action act)
{
    const char *name = json_string_value(json_object_get(ent, "profile"));
    struct profile *p = calloc(1, sizeof(*p));
    size_t before = cp->nerr;
    size_t k;
    for (k = 0; profile_names[k] != NULL; k++)
        if (name != NULL && strcmp(name, profile_names[k]) == 0)
            break;
    if (profile_names[k] == NULL) {
        CERR(cp, ent, "profile", 0,
             "unknown profile '%s' (known: filesystem, git, shell, database, http-fetch)",
             name != NULL ? name : "?");
        free(p);
        return NULL;
    }
    p->kind = (enum profile_kind)k;
    /* keys that only some profiles take */
    static const struct {
        const char *key;
        unsigned mask;
        const char *which;
    } only[] = {
        {"roots", 1u << P_FILESYSTEM | 1u << P_GIT, "the filesystem and git profiles"},
        {"base", 1u << P_FILESYSTEM, "the filesystem profile"},
        {"strict", 1u << P_SHELL, "the shell profile"},
        {"read_tools", 1u << P_DATABASE, "the database profile"},
        {"sql", 1u << P_DATABASE, "the database profile"},
        {"url", 1u << P_HTTP, "the http-fetch profile"},
    };
    for (size_t i = 0; i < sizeof(only) / sizeof(only[0]); i++)
        if (json_object_get(ent, only[i].key) != NULL && !(only[i].mask & (1u << p->kind)))
            CERR(cp, ent, only[i].key, 0, "'%s' applies to %s only", only[i].key, only[i].which);
    if (json_object_get(ent, "select") != NULL)
        (void)get_strv(cp, ent, "select", true, &p->select, &p->nselect);
    if (json_object_get(ent, "ignore") != NULL)
        (void)get_strv(cp, ent, "ignore", true, &p->ignore, &p->nignore);

    switch (p->kind) {
    case P_FILESYSTEM:
    case P_GIT: {
        if (json_object_get(ent, "roots") == NULL) {
            CERR(cp, ent, "profile", 0, "the %s profile needs 'roots'", name);
            break;
        }
        argc_defaults(&p->main, act, p->kind == P_GIT ? "repository" : "path");
        p->main.path = compile_roots(cp, ent, "roots");
        if (p->main.path == NULL)
            break;
        const char *base = NULL;
        if (cfg_get_str(cp->errs, cp->doc, ent, "base", &base) < 0)
            cp->nerr++;
        if (base != NULL)
            (void)compile_dir(cp, ent, "base", 0, base, &p->main.path->base, NULL);
        if (p->kind == P_GIT) {
            argc_defaults(&p->file, act, "path in repository");
            p->file.path = path_rule_copy(p->main.path);
            p->file.path->base_from_repo = true;
            p->file.path->confine = true;
            p->file.flags = C_LEADING_DASH;
            argc_defaults(&p->ref, act, "ref");
            p->ref.flags = C_LEADING_DASH;
        }
        break;
    }
    case P_SHELL: {
        bool strict = false;
        (void)get_bool(cp, ent, "strict", &strict);
        argc_defaults(&p->main, act, "shell argument");
        p->main.flags = C_SHELL | C_OPTION_WORDS | C_LEADING_DASH | (strict ? C_SHELL_STRICT : 0u);
        break;
    }
    case P_DATABASE: {
        argc_defaults(&p->main, act, "identifier");
        p->main.flags = C_SQL_IDENT;
        argc_defaults(&p->order, act, "ordering");
        p->order.flags = C_SQL_IDENT;
        p->order.ident.order = true;
        argc_defaults(&p->query, act, "query");
        p->query.flags = C_SQL_QUERY;
        const json_t *sql = json_object_get(ent, "sql");
        if (sql != NULL) {
            if (!json_is_object(sql))
                CERR(cp, ent, "sql", 0, "'sql' must be a mapping (destructive, "
                                        "multiple_statements)");
            else
                compile_sql_opts(cp, sql, &p->query.sqlq, false);
        }
        p->query_ro = p->query;
        p->query_ro.sqlq.read_only = true;
        if (json_object_get(ent, "read_tools") != NULL)
            (void)get_strv(cp, ent, "read_tools", false, &p->read_tools, &p->nread_tools);
        break;
    }
    case P_HTTP:
        argc_defaults(&p->main, act, "url");
        if (json_object_get(ent, "url") != NULL)
            p->main.url = compile_url(cp, ent, "url");
        else
            p->main.url = url_rule_default();
        break;
    }
    if (cp->nerr != before) {
        profile_free(p);
        return NULL;
    }
    return p;
}

struct arg_policy *args_policy_compile(const struct cfg_doc *doc, const json_t *section,
                                       struct cfg_errors *errs)
{
    struct comp cp = {doc, errs, 0};
    if (section == NULL)
        return calloc(1, sizeof(struct arg_policy)); /* no section: nothing to check */
    if (!json_is_array(section)) {
        cfg_err(errs, doc, NULL, NULL, 0, "'arguments' must be a list of entries");
        return NULL;
    }
    struct arg_policy *p = calloc(1, sizeof(*p));
    p->e = calloc(json_array_size(section) + 1, sizeof(*p->e));
    static const char *const entry_keys[] = {"tools",  "args",  "profile",    "action", "roots",
                                             "base",   "select", "ignore",    "strict", "read_tools",
                                             "sql",    "url",   NULL};
    for (size_t i = 0; i < json_array_size(section); i++) {
        const json_t *ent = json_array_get(section, i);
        struct arg_entry *e = &p->e[p->n++];
        snprintf(e->label, sizeof(e->label), "arguments[%zu]", i);
        if (!json_is_object(ent)) {
            CERR(&cp, section, NULL, i, "an 'arguments' entry must be a mapping");
            continue;
        }
        cp.nerr += cfg_check_keys(errs, doc, ent, entry_keys);
        enum arg_action act = ARG_ACTION_DENY;
        if (get_action(&cp, ent, "action", &act) < 0)
            continue;
        if (json_object_get(ent, "tools") != NULL)
            (void)get_strv(&cp, ent, "tools", false, &e->tools, &e->ntools);
        const json_t *args = json_object_get(ent, "args");
        const json_t *prof = json_object_get(ent, "profile");
        if (args == NULL && prof == NULL) {
            CERR(&cp, section, NULL, i, "an 'arguments' entry needs 'args' or 'profile'");
            continue;
        }
        if (prof == NULL) {
            static const char *const ponly[] = {"roots", "base",       "select", "ignore",
                                                "strict", "read_tools", "sql",    "url", NULL};
            for (size_t k = 0; ponly[k] != NULL; k++)
                if (json_object_get(ent, ponly[k]) != NULL)
                    CERR(&cp, ent, ponly[k], 0, "'%s' is a profile setting; add 'profile'",
                         ponly[k]);
        } else if (!json_is_string(prof)) {
            CERR(&cp, ent, "profile", 0, "'profile' must be a profile name");
        } else {
            e->prof = compile_profile(&cp, ent, act);
            if (e->prof != NULL) {
                size_t l = strlen(e->label);
                snprintf(e->label + l, sizeof(e->label) - l, " (profile %s)",
                         json_string_value(prof));
            }
        }
        if (args != NULL) {
            if (!json_is_object(args) || json_object_size(args) == 0) {
                CERR(&cp, ent, "args", 0,
                     "'args' must map argument names (or /json/pointers) to constraints");
                continue;
            }
            e->sels = calloc(json_object_size(args), sizeof(*e->sels));
            const char *k;
            json_t *v;
            json_object_foreach((json_t *)args, k, v) {
                if (k[0] == '\0') {
                    CERR(&cp, args, k, 0, "an argument name must not be empty");
                    continue;
                }
                if (!json_is_object(v)) {
                    CERR(&cp, args, k, 0, "the constraints of '%s' must be a mapping", k);
                    continue;
                }
                struct argsel *s = &e->sels[e->nsels];
                if (compile_argc(&cp, args, k, v, &s->c, act) < 0) {
                    argc_free(&s->c);
                    continue;
                }
                s->name = strdup(k);
                if (k[0] == '/')
                    (void)split_pointer(k, &s->segs, &s->nsegs);
                e->nsels++;
            }
        }
    }
    if (cp.nerr > 0) {
        args_policy_free(p);
        return NULL;
    }
    return p;
}

/* ------------------------------------------------------------------------ */
/* Checking                                                                  */

struct chk {
    const struct arg_entry *entry;
    const json_t *args;
    const json_t *schema_props;
    const char *repo;      /* git: the call's repository argument */
    bool have_deny, have_flag;
    struct arg_violation deny, flag;
    char ptr[256];
    size_t plen;
    bool ptr_trunc;
    struct guard_re_scratch scr;
};

static size_t ptr_push(struct chk *k, const char *seg, size_t n)
{
    size_t old = k->plen;
    size_t o = k->plen;
    if (o + 1 >= sizeof(k->ptr) - 4) {
        k->ptr_trunc = true;
        return old;
    }
    k->ptr[o++] = '/';
    for (size_t i = 0; i < n; i++) {
        if (o + 3 >= sizeof(k->ptr) - 4) {
            k->ptr_trunc = true;
            break;
        }
        if (seg[i] == '~' || seg[i] == '/') {
            k->ptr[o++] = '~';
            k->ptr[o++] = seg[i] == '~' ? '0' : '1';
        } else {
            k->ptr[o++] = seg[i];
        }
    }
    k->ptr[o] = '\0';
    k->plen = o;
    return old;
}

static size_t ptr_push_idx(struct chk *k, size_t i)
{
    char b[24];
    int l = snprintf(b, sizeof(b), "%zu", i);
    return ptr_push(k, b, (size_t)l);
}

static void ptr_pop(struct chk *k, size_t old)
{
    k->plen = old;
    k->ptr[old] = '\0';
    if (old + 8 < sizeof(k->ptr) - 4)
        k->ptr_trunc = false; /* back out of the branch that did not fit */
}

/* The argument's name for people: the pointer without its leading '/', with
 * invisible characters escaped. */
static void display(const char *ptr, char *out, size_t outsz)
{
    size_t o = 0;
    const char *p = ptr[0] == '/' ? ptr + 1 : ptr;
    size_t n = strlen(p);
    for (size_t i = 0; i < n && o + 8 < outsz;) {
        uint32_t cp;
        size_t len;
        if (utf8_decode((const unsigned char *)p + i, n - i, &cp, &len) != UTF8_OK) {
            cp = 0xfffd;
            len = 1;
        }
        bool invisible = cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
                         (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
                         (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff ||
                         (cp >= 0xe0000 && cp <= 0xe007f);
        if (invisible) {
            o += (size_t)snprintf(out + o, outsz - o, "\\u%04x", (unsigned)(cp & 0xffff));
        } else if (cp == '\'' || cp == '\\') {
            out[o++] = '\\';
            out[o++] = (char)cp;
        } else {
            memcpy(out + o, p + i, len);
            o += len;
        }
        i += len;
    }
    out[o] = '\0';
}

static void fmt_into(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fmt_into(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

/* Records a finding; returns true when checking should stop (a denial). */
static bool report(struct chk *k, const struct argc *c, const char *constraint, const char *reason,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static bool report(struct chk *k, const struct argc *c, const char *constraint, const char *reason,
                   const char *fmt, ...)
{
    bool deny = c->action == ARG_ACTION_DENY;
    if (deny ? k->have_deny : (k->have_flag || k->have_deny))
        return deny;
    struct arg_violation *v = deny ? &k->deny : &k->flag;
    memset(v, 0, sizeof(*v));
    str_copy(v->pointer, k->ptr, sizeof(v->pointer));
    if (k->ptr_trunc && strlen(v->pointer) + 4 < sizeof(v->pointer))
        strncat(v->pointer, "...", sizeof(v->pointer) - strlen(v->pointer) - 1);
    v->constraint = constraint;
    v->reason = reason;
    v->action = c->action;
    str_copy(v->rule, k->entry->label, sizeof(v->rule));
    char phrase[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(phrase, sizeof(phrase), fmt, ap);
    va_end(ap);
    char disp[300];
    display(v->pointer, disp, sizeof(disp));
    if (disp[0] == '\0')
        fmt_into(v->msg, sizeof(v->msg), "arguments: %s (%s)", phrase, constraint);
    else
        fmt_into(v->msg, sizeof(v->msg), "argument '%s': %s (%s)", disp, phrase, constraint);
    if (deny)
        k->have_deny = true;
    else
        k->have_flag = true;
    return deny;
}

static bool lookup_base(struct chk *k, const struct path_rule *r, const char **base)
{
    *base = r->base;
    const char *name = r->base_arg;
    const char *val = NULL;
    if (r->base_from_repo)
        val = k->repo;
    else if (name != NULL) {
        const json_t *b = json_object_get(k->args, name);
        if (b != NULL && !json_is_string(b))
            return false;
        val = json_string_value(b);
    }
    if (val != NULL) {
        if (val[0] != '/' || strlen(val) >= PATH_MAX)
            return false;
        *base = val;
    } else if (name != NULL && r->base == NULL) {
        *base = NULL;
    }
    return true;
}

static bool within_roots(const struct path_rule *r, const char *lex, const char *phys)
{
    bool lex_ok = false, phys_ok = false;
    for (size_t i = 0; i < r->nroots; i++) {
        if (path_within(lex, r->roots[i].lex) || path_within(lex, r->roots[i].phys))
            lex_ok = true;
        if (path_within(phys, r->roots[i].phys))
            phys_ok = true;
    }
    return lex_ok && phys_ok;
}

static bool check_path(struct chk *k, const struct argc *c, const char *s, size_t n)
{
    const struct path_rule *r = c->path;
    const char *C = "path_within";
    if (n == 0)
        return report(k, c, C, "path_empty", "must not be empty");
    if (n >= PATH_MAX)
        return report(k, c, C, "path_too_long", "is too long");
    if (s[0] == '~')
        return report(k, c, C, "path_home_relative",
                      "must not start with '~' (the server may expand it to a home directory)");
    char abs[PATH_MAX], lex[PATH_MAX], phys[PATH_MAX];
    const char *base = NULL;
    if (!lookup_base(k, r, &base))
        return report(k, c, C, "path_base_invalid",
                      "cannot be resolved: its base argument is not an absolute path");
    if (s[0] != '/') {
        if (base == NULL)
            return report(k, c, C, "path_relative", "must be an absolute path");
        int w = snprintf(abs, sizeof(abs), "%s/%s", base, s);
        if (w < 0 || (size_t)w >= sizeof(abs))
            return report(k, c, C, "path_too_long", "is too long");
    } else {
        memcpy(abs, s, n + 1);
    }
    const char *reason = NULL;
    if (path_lexical(abs, lex, sizeof(lex)) < 0)
        return report(k, c, C, "path_too_long", "is too long");
    /* Roots were resolved when the policy was compiled: the walk starts at the
     * longest root the path begins with and examines only what lies below. */
    const char *start = NULL;
    size_t startlen = 0;
    for (size_t i = 0; i < r->nroots; i++) {
        size_t l = strlen(r->roots[i].phys);
        if (l > startlen && strncmp(abs, r->roots[i].phys, l) == 0 &&
            (abs[l] == '/' || abs[l] == '\0')) {
            start = r->roots[i].phys;
            startlen = l;
        }
    }
    if (path_physical_from(start, abs, phys, sizeof(phys), &reason) < 0) {
        if (strcmp(reason, "path_symlink_loop") == 0)
            return report(k, c, C, reason, "has too many levels of symbolic links");
        if (strcmp(reason, "path_too_long") == 0)
            return report(k, c, C, reason, "is too long");
        return report(k, c, C, "path_unresolvable", "cannot be resolved safely");
    }
    if (!within_roots(r, lex, phys))
        return report(k, c, C, "path_outside_roots", "is outside the allowed directories");
    if (r->confine && base != NULL) {
        char blex[PATH_MAX], bphys[PATH_MAX];
        if (path_lexical(base, blex, sizeof(blex)) < 0 ||
            path_physical(base, bphys, sizeof(bphys), &reason) < 0)
            return report(k, c, C, "path_base_invalid", "cannot be resolved: its base is invalid");
        if (!((path_within(lex, blex) || path_within(lex, bphys)) && path_within(phys, bphys)))
            return report(k, c, C, "path_outside_base", "is outside the repository");
    }
    return false;
}

static const char *const loopback_names[] = {"localhost", "*.localhost", "localhost.localdomain",
                                             "ip6-localhost", "ip6-loopback", NULL};
static const char *const metadata_names[] = {"metadata",
                                             "metadata.google.internal",
                                             "metadata.goog",
                                             "instance-data",
                                             "instance-data.ec2.internal",
                                             "metadata.azure.internal",
                                             "metadata.tencentyun.com",
                                             NULL};
static const char *const internal_suffixes[] = {
    "*.internal", "*.local",  "*.localdomain", "*.home.arpa", "*.lan",    "*.intranet",
    "*.corp",     "*.home",   "*.private",     "*.in-addr.arpa", "*.ip6.arpa", NULL};
/* Public wildcard-DNS names that resolve to the address written in them. */
static const char *const rebinding_names[] = {"nip.io",   "*.nip.io",   "sslip.io", "*.sslip.io",
                                              "xip.io",   "*.xip.io",   "traefik.me", "*.traefik.me",
                                              "localtest.me", "*.localtest.me", "lvh.me", "*.lvh.me",
                                              "vcap.me",  "*.vcap.me",  "lacolhost.com",
                                              "*.lacolhost.com", "*.localhost.direct", NULL};

static bool class_allowed(const struct url_rule *u, enum netaddr_class cl)
{
    if (cl == NETADDR_PUBLIC)
        return true;
    if (cl == NETADDR_LOOPBACK)
        return u->allow_loopback;
    if (cl == NETADDR_PRIVATE)
        return u->allow_private;
    return false;
}

static bool check_url(struct chk *k, const struct argc *c, const char *s, size_t n)
{
    const struct url_rule *r = c->url;
    const char *C = "url";
    struct url_view u;
    const char *reason, *why;
    if (url_parse(s, n, &u, &reason, &why) < 0)
        return report(k, c, C, reason, "must be a valid absolute URL: it %s", why);
    bool scheme_ok = false;
    for (size_t i = 0; i < r->nschemes; i++)
        if (strcmp(r->schemes[i], u.scheme) == 0)
            scheme_ok = true;
    if (!scheme_ok) {
        char list[128] = "";
        for (size_t i = 0; i < r->nschemes && strlen(list) < 100; i++) {
            if (i > 0)
                strncat(list, ", ", sizeof(list) - strlen(list) - 1);
            strncat(list, r->schemes[i], sizeof(list) - strlen(list) - 1);
        }
        return report(k, c, C, "url_scheme_not_allowed", "uses a scheme that is not allowed "
                                                         "(allowed: %s)", list);
    }
    if (u.has_userinfo && !r->allow_userinfo)
        return report(k, c, C, "url_userinfo", "must not contain a user name or password");
    if (!u.has_authority || u.host_len == 0) {
        if (url_scheme_is_special(u.scheme) && strcmp(u.scheme, "file") != 0)
            return report(k, c, C, "url_malformed", "must be a valid absolute URL: it has no host");
        return false; /* mailto:, urn:, file:/// ... when explicitly allowed */
    }
    if (r->nhosts > 0 && !name_in_list(u.host, u.host_len, r->hosts, r->nhosts))
        return report(k, c, C, "url_host_not_allowed", "names a host that is not allowed");
    if (r->nports > 0) {
        int port = u.port;
        if (port < 0)
            port = strcmp(u.scheme, "https") == 0 || strcmp(u.scheme, "wss") == 0 ? 443
                   : strcmp(u.scheme, "ftp") == 0                                 ? 21
                                                                                  : 80;
        bool ok = false;
        for (size_t i = 0; i < r->nports; i++)
            if ((unsigned)port >= r->ports[i].lo && (unsigned)port <= r->ports[i].hi)
                ok = true;
        if (!ok)
            return report(k, c, C, "url_port_not_allowed", "uses a port that is not allowed");
    }
    if (u.host_is_ip) {
        enum netaddr_class cl = netaddr_classify(&u.ip);
        if (!class_allowed(r, cl))
            return report(k, c, C, netaddr_class_reason(cl), "points to %s",
                          netaddr_class_words(cl));
        return false;
    }
    if (name_in(u.host, u.host_len, metadata_names))
        return report(k, c, C, "ssrf_metadata", "points to %s",
                      netaddr_class_words(NETADDR_METADATA));
    if (name_in(u.host, u.host_len, loopback_names) && !r->allow_loopback)
        return report(k, c, C, "ssrf_loopback", "points to %s",
                      netaddr_class_words(NETADDR_LOOPBACK));
    if (!r->allow_private) {
        if (memchr(u.host, '.', u.host_len) == NULL && !name_in(u.host, u.host_len, loopback_names))
            return report(k, c, C, "ssrf_internal_hostname",
                          "names an internal host (a name without a domain)");
        if (name_in(u.host, u.host_len, internal_suffixes))
            return report(k, c, C, "ssrf_internal_hostname", "names an internal host");
        if (name_in(u.host, u.host_len, rebinding_names))
            return report(k, c, C, "ssrf_rebinding_hostname",
                          "names a wildcard-DNS host that resolves to an address written in it");
    }
    if (r->resolve) {
        /* Blocking lookup; see docs: callers run this off the event loop. */
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(u.host, NULL, &hints, &res) != 0 || res == NULL)
            return report(k, c, C, "dns_resolution_failed", "names a host that cannot be resolved");
        for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
            struct netaddr a;
            memset(&a, 0, sizeof(a));
            if (ai->ai_family == AF_INET) {
                a.family = 4;
                memcpy(a.a, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, 4);
            } else if (ai->ai_family == AF_INET6) {
                a.family = 6;
                memcpy(a.a, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, 16);
            } else {
                continue;
            }
            enum netaddr_class cl = netaddr_classify(&a);
            if (!class_allowed(r, cl)) {
                freeaddrinfo(res);
                return report(k, c, C, netaddr_class_reason(cl), "resolves to %s",
                              netaddr_class_words(cl));
            }
        }
        freeaddrinfo(res);
    }
    return false;
}

static bool check_shell(struct chk *k, const struct argc *c, const char *s, size_t n)
{
    static const char std[] = ";|&$`<>\n\r";
    static const char strict[] = ";|&$`<>\n\r'\"\\(){}[]*?~!# \t";
    const char *set = (c->flags & C_SHELL_STRICT) ? strict : std;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\0' && strchr(set, s[i]) != NULL) {
            char shown[8];
            if (s[i] == '\n')
                str_copy(shown, "newline", sizeof(shown));
            else if (s[i] == '\r')
                str_copy(shown, "CR", sizeof(shown));
            else if (s[i] == '\t')
                str_copy(shown, "tab", sizeof(shown));
            else if (s[i] == ' ')
                str_copy(shown, "space", sizeof(shown));
            else
                snprintf(shown, sizeof(shown), "'%c'", s[i]);
            return report(k, c, "no_shell_meta", "shell_metacharacter",
                          "contains a shell metacharacter (%s)", shown);
        }
    }
    return false;
}

static bool check_dash(struct chk *k, const struct argc *c, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if ((c->flags & C_LEADING_DASH) && i < n && s[i] == '-')
        return report(k, c, "no_leading_dash", "leading_dash",
                      "must not start with '-' (it would be read as a command-line option)");
    if (c->flags & C_OPTION_WORDS) {
        for (size_t j = 1; j < n; j++) {
            bool sep = s[j - 1] == ' ' || s[j - 1] == '\t' || s[j - 1] == '\n';
            if (sep && s[j] == '-')
                return report(k, c, "no_option_words", "option_word",
                              "must not contain a word starting with '-' (it would be read as "
                              "a command-line option)");
        }
    }
    return false;
}

static bool check_sql_query(struct chk *k, const struct argc *c, const char *s, size_t n)
{
    struct sql_findings f;
    sql_inspect(s, n, &f);
    const char *C = "sql_query";
    const struct sqlq_rule *q = &c->sqlq;
    if (f.unbalanced)
        return report(k, c, C, "sql_unbalanced", "has an unterminated string, quoted name or "
                                                 "comment");
    if (f.dangerous != NULL)
        return report(k, c, C, "sql_dangerous_statement",
                      "uses %s, which can reach files, other databases or the system",
                      f.dangerous);
    if (f.tautology)
        return report(k, c, C, "sql_tautology", "contains an always-true condition (an injection "
                                                "pattern)");
    if (f.comment_after_end)
        return report(k, c, C, "sql_comment_after_end",
                      "has a comment after the end of the statement (an injection pattern)");
    if (f.statements > 1 && q->multi != SQL_ALLOW) {
        struct argc tmp = *c;
        tmp.action = q->multi == SQL_DENY ? c->action : ARG_ACTION_FLAG;
        if (report(k, &tmp, C, "sql_multiple_statements", "must be a single statement"))
            return true;
    }
    if (q->read_only && f.write != NULL)
        return report(k, c, C, "sql_not_read_only", "must be a read-only query (found %s)",
                      f.write);
    if (f.destructive != NULL && q->destructive != SQL_ALLOW) {
        struct argc tmp = *c;
        tmp.action = q->destructive == SQL_DENY ? c->action : ARG_ACTION_FLAG;
        return report(k, &tmp, C, "sql_destructive", "contains a destructive statement (%s)",
                      f.destructive);
    }
    return false;
}

static bool scalar_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b) != 0;
}

static bool check_enum(struct chk *k, const struct argc *c, const json_t *v)
{
    for (size_t i = 0; i < json_array_size(c->enum_v); i++)
        if (scalar_equal(v, json_array_get(c->enum_v, i)))
            return false;
    return report(k, c, "enum", "enum_mismatch", "must be one of the allowed values");
}

static bool check_string(struct chk *k, const struct argc *c, const json_t *sv)
{
    const char *s = json_string_value(sv);
    size_t n = json_string_length(sv);
    if (memchr(s, '\0', n) != NULL)
        return report(k, c, c->path != NULL ? "path_within" : "string", c->path != NULL ? "path_nul" : "nul_byte",
                      "contains a NUL byte");
    if ((c->flags & C_MAXLEN) && utf8_count(s, n) > c->max_length)
        if (report(k, c, "max_length", "too_long", "must be at most %zu characters",
                   c->max_length))
            return true;
    if (c->enum_v != NULL && check_enum(k, c, sv))
        return true;
    if ((c->flags & (C_LEADING_DASH | C_OPTION_WORDS)) && check_dash(k, c, s, n))
        return true;
    if ((c->flags & C_SHELL) && check_shell(k, c, s, n))
        return true;
    if (c->flags & C_SQL_IDENT) {
        const char *why;
        if (sql_identifier_check(s, n, &c->ident, &why) < 0 &&
            report(k, c, "sql_identifier", "sql_identifier_invalid",
                   "must be a plain SQL identifier: it %s", why))
            return true;
    }
    if ((c->flags & C_SQL_QUERY) && check_sql_query(k, c, s, n))
        return true;
    if (c->allow != NULL || c->deny != NULL) {
        int m = 0;
        if (c->allow != NULL && (m = guard_re_match(c->allow, s, n, &k->scr)) <= 0) {
            if (report(k, c, "regex", m < 0 ? "regex_limit" : "regex_no_match",
                       m < 0 ? "could not be checked within the pattern limits"
                             : "does not match the allowed pattern"))
                return true;
        }
        if (c->deny != NULL && (m = guard_re_match(c->deny, s, n, &k->scr)) != 0) {
            if (report(k, c, "regex", m < 0 ? "regex_limit" : "regex_denied",
                       m < 0 ? "could not be checked within the pattern limits"
                             : "matches a denied pattern"))
                return true;
        }
    }
    if (c->url != NULL && check_url(k, c, s, n))
        return true;
    if (c->path != NULL && check_path(k, c, s, n))
        return true;
    return false;
}

static bool only_enum(const struct argc *c)
{
    return c->enum_v != NULL && c->flags == 0 && c->path == NULL && c->url == NULL &&
           c->allow == NULL && c->deny == NULL;
}

/* Applies c to v: strings directly, arrays element by element. Explicit
 * constraints fail closed on values of another type (a server may coerce
 * them); profile rules (strict == false) skip them. */
static bool apply(struct chk *k, const struct argc *c, const json_t *v, bool strict, unsigned depth)
{
    if (json_is_string(v))
        return check_string(k, c, v);
    if (json_is_null(v))
        return false;
    if (json_is_array(v) && depth == 0) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            size_t old = ptr_push_idx(k, i);
            bool stop = apply(k, c, json_array_get(v, i), strict, depth + 1);
            ptr_pop(k, old);
            if (stop)
                return true;
        }
        return false;
    }
    if (!strict)
        return false;
    if ((json_is_number(v) || json_is_boolean(v)) && only_enum(c))
        return check_enum(k, c, v);
    return report(k, c, "type", "wrong_type", "must be a string%s",
                  depth == 0 ? " or a list of strings" : "");
}

static bool walk_pointer(struct chk *k, const struct argsel *s, const json_t *cur, size_t seg)
{
    if (seg == s->nsegs)
        return apply(k, &s->c, cur, true, 0);
    const char *g = s->segs[seg];
    if (json_is_object(cur)) {
        if (glob_is_literal(g)) {
            const json_t *v = json_object_get(cur, g);
            if (v == NULL)
                return false;
            size_t old = ptr_push(k, g, strlen(g));
            bool stop = walk_pointer(k, s, v, seg + 1);
            ptr_pop(k, old);
            return stop;
        }
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)cur, key, v) {
            if (!glob_match(g, key, strlen(key)))
                continue;
            size_t old = ptr_push(k, key, strlen(key));
            bool stop = walk_pointer(k, s, v, seg + 1);
            ptr_pop(k, old);
            if (stop)
                return true;
        }
    } else if (json_is_array(cur)) {
        for (size_t i = 0; i < json_array_size(cur); i++) {
            char b[24];
            snprintf(b, sizeof(b), "%zu", i);
            if (!glob_match(g, b, strlen(b)))
                continue;
            size_t old = ptr_push_idx(k, i);
            bool stop = walk_pointer(k, s, json_array_get(cur, i), seg + 1);
            ptr_pop(k, old);
            if (stop)
                return true;
        }
    }
    return false;
}

/* Lowercases a member name for the profile tables; false when too long. */
static bool lower_key(const char *key, char *out, size_t outsz, size_t *n)
{
    size_t l = strlen(key);
    if (l >= outsz)
        return false;
    for (size_t i = 0; i < l; i++)
        out[i] = (char)tolower((unsigned char)key[i]);
    out[l] = '\0';
    *n = l;
    return true;
}

static bool tool_matches(char *const *globs, size_t n, const char *tool)
{
    for (size_t i = 0; i < n; i++)
        if (glob_match(globs[i], tool, strlen(tool)))
            return true;
    return false;
}

static bool schema_says_url(const struct chk *k, const char *key)
{
    if (k->schema_props == NULL)
        return false;
    const json_t *p = json_object_get(k->schema_props, key);
    const char *f = json_string_value(json_object_get(p, "format"));
    return f != NULL && (strcmp(f, "uri") == 0 || strcmp(f, "uri-reference") == 0 ||
                         strcmp(f, "iri") == 0 || strcmp(f, "iri-reference") == 0);
}

/* Which rule of the profile applies to the member `key` (NULL: none). */
static const struct argc *profile_rule(const struct chk *k, const struct profile *p,
                                       const char *key, bool top, const char *tool)
{
    char lk[128];
    size_t n;
    if (!lower_key(key, lk, sizeof(lk), &n))
        return p->kind == P_SHELL ? &p->main : NULL;
    if (name_in_list(lk, n, p->ignore, p->nignore))
        return NULL;
    bool sel = name_in_list(lk, n, p->select, p->nselect);
    switch (p->kind) {
    case P_FILESYSTEM:
        return (sel || name_in(lk, n, names_path)) ? &p->main : NULL;
    case P_GIT:
        if (name_in(lk, n, names_repo))
            return &p->main;
        if (sel || name_in(lk, n, names_path))
            return &p->file;
        return &p->ref;
    case P_SHELL:
        return (p->nselect == 0 || sel) ? &p->main : NULL;
    case P_DATABASE:
        if (name_in(lk, n, names_order))
            return &p->order;
        if (sel || name_in(lk, n, names_ident))
            return &p->main;
        if (name_in(lk, n, names_query)) {
            bool ro = p->nread_tools > 0 ? tool_matches(p->read_tools, p->nread_tools, tool)
                                         : glob_in(tool, default_read_tools);
            return ro ? &p->query_ro : &p->query;
        }
        return NULL;
    case P_HTTP:
        if (sel || name_in(lk, n, names_url) || (top && schema_says_url(k, key)))
            return &p->main;
        return NULL;
    }
    return NULL;
}

/* Walks every member of v at any depth (bounded); a member's rule applies to
 * its string value or to the strings of its array value. */
static bool walk_profile(struct chk *k, const struct profile *p, const json_t *v,
                         const struct argc *inherited, unsigned depth, const char *tool)
{
    if (depth > WALK_MAX_DEPTH)
        return false;
    if (json_is_string(v))
        return inherited != NULL && check_string(k, inherited, v);
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            size_t old = ptr_push_idx(k, i);
            bool stop = walk_profile(k, p, json_array_get(v, i), inherited, depth + 1, tool);
            ptr_pop(k, old);
            if (stop)
                return true;
        }
        return false;
    }
    if (!json_is_object(v))
        return false;
    const char *key;
    json_t *mv;
    json_object_foreach((json_t *)v, key, mv) {
        const struct argc *rule = profile_rule(k, p, key, depth == 0, tool);
        if (rule == NULL && p->kind == P_SHELL && inherited != NULL)
            rule = inherited;
        size_t old = ptr_push(k, key, strlen(key));
        bool stop = walk_profile(k, p, mv, rule, depth + 1, tool);
        ptr_pop(k, old);
        if (stop)
            return true;
    }
    return false;
}

static void find_repo(struct chk *k)
{
    const char *key;
    json_t *v;
    k->repo = NULL;
    json_object_foreach((json_t *)k->args, key, v) {
        char lk[128];
        size_t n;
        if (json_is_string(v) && lower_key(key, lk, sizeof(lk), &n) && name_in(lk, n, names_repo)) {
            k->repo = json_string_value(v);
            return;
        }
    }
}

bool args_policy_covers(const struct arg_policy *p, const char *tool)
{
    for (size_t i = 0; p != NULL && i < p->n; i++)
        if (p->e[i].ntools == 0 || tool_matches(p->e[i].tools, p->e[i].ntools, tool))
            return true;
    return false;
}

int args_policy_check_schema(const struct arg_policy *p, const char *tool,
                             const json_t *input_schema, const json_t *arguments,
                             struct arg_violation *v)
{
    if (p == NULL)
        return 0;
    json_t *empty = NULL;
    if (arguments == NULL || json_is_null(arguments)) {
        empty = json_object();
        arguments = empty;
    }
    struct chk kk;
    struct chk *k = &kk;
    memset(k, 0, sizeof(*k));
    k->args = arguments;
    const json_t *props = json_object_get(input_schema, "properties");
    k->schema_props = json_is_object(props) ? props : NULL;
    bool stop = false;
    if (!json_is_object(arguments)) {
        static const struct argc deny_all = {.action = ARG_ACTION_DENY};
        k->entry = &p->e[0];
        if (p->n > 0 && args_policy_covers(p, tool))
            stop = report(k, &deny_all, "type", "wrong_type", "must be an object");
    }
    for (size_t i = 0; !stop && json_is_object(arguments) && i < p->n; i++) {
        const struct arg_entry *e = &p->e[i];
        if (e->ntools > 0 && !tool_matches(e->tools, e->ntools, tool))
            continue;
        k->entry = e;
        k->plen = 0;
        k->ptr[0] = '\0';
        k->ptr_trunc = false;
        for (size_t s = 0; !stop && s < e->nsels; s++) {
            const struct argsel *sel = &e->sels[s];
            if (sel->segs != NULL) {
                stop = walk_pointer(k, sel, arguments, 0);
                continue;
            }
            const char *key;
            json_t *val;
            if (glob_is_literal(sel->name)) {
                val = json_object_get(arguments, sel->name);
                if (val != NULL) {
                    size_t old = ptr_push(k, sel->name, strlen(sel->name));
                    stop = apply(k, &sel->c, val, true, 0);
                    ptr_pop(k, old);
                }
                continue;
            }
            json_object_foreach((json_t *)arguments, key, val) {
                if (!glob_match(sel->name, key, strlen(key)))
                    continue;
                size_t old = ptr_push(k, key, strlen(key));
                stop = apply(k, &sel->c, val, true, 0);
                ptr_pop(k, old);
                if (stop)
                    break;
            }
        }
        if (!stop && e->prof != NULL) {
            if (e->prof->kind == P_GIT)
                find_repo(k);
            stop = walk_profile(k, e->prof, arguments, NULL, 0, tool);
        }
    }
    guard_re_scratch_free(&k->scr);
    int rc = k->have_deny ? -1 : k->have_flag ? 1 : 0;
    if (v != NULL && rc != 0)
        *v = k->have_deny ? k->deny : k->flag;
    json_decref(empty);
    return rc;
}

int args_policy_check(const struct arg_policy *p, const char *tool, const json_t *arguments,
                      struct arg_violation *v)
{
    return args_policy_check_schema(p, tool, NULL, arguments, v);
}
