/* schema.c - JSON Schema compiler and validator (see schema.h).
 *
 * Compilation turns every subschema object into one struct snode, memoised by
 * the address of its JSON object so that "$ref" targets are shared and
 * recursive schemas terminate. All checks of the schema's own shape happen
 * here; validation then only walks nodes. Phrases that name schema values
 * (enum lists, patterns) are prepared at compile time, so the error path of
 * validation does little more than one snprintf.
 */
#include "guard/schema.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard_re.h"
#include "guard/schema_format.h"
#include "util/str.h"
#include "util/utf8.h"

enum dialect { D4, D6, D7, D2019, D2020 };

enum {
    T_NULL = 1u << 0,
    T_BOOL = 1u << 1,
    T_OBJECT = 1u << 2,
    T_ARRAY = 1u << 3,
    T_NUMBER = 1u << 4,
    T_STRING = 1u << 5,
    T_INTEGER = 1u << 6,
};

/* Which optional keywords a node carries. */
enum {
    H_MIN = 1u << 0,
    H_MAX = 1u << 1,
    H_EXMIN = 1u << 2,
    H_EXMAX = 1u << 3,
    H_MULT = 1u << 4,
    H_MINLEN = 1u << 5,
    H_MAXLEN = 1u << 6,
    H_MINITEMS = 1u << 7,
    H_MAXITEMS = 1u << 8,
    H_MINPROPS = 1u << 9,
    H_MAXPROPS = 1u << 10,
    H_CONST = 1u << 11,
    H_MAXCONTAINS = 1u << 12,
    H_UNIQUE = 1u << 13,
};

struct snum {
    bool is_int;
    json_int_t i;
    double d;
};

struct snode;

struct sprop {
    const char *name;
    struct snode *node;
};

struct spprop {
    struct guard_re *re;
    struct snode *node;
};

struct sdepreq {
    const char *name;
    const json_t *req; /* array of strings, in the schema's private copy */
};

struct snode {
    bool is_bool;
    bool bool_val;
    unsigned types; /* 0: no "type" keyword */
    uint32_t has;
    const json_t *enum_v;
    const json_t *const_v;
    struct snum minimum, maximum, exmin, exmax, mult;
    size_t minlen, maxlen;
    struct guard_re *pattern;
    enum sfmt format;
    struct snode **prefix;
    size_t nprefix;
    struct snode *items; /* elements after the prefix */
    size_t minitems, maxitems;
    struct snode *contains;
    size_t mincontains, maxcontains;
    struct sprop *props;
    size_t nprops;
    struct spprop *pprops;
    size_t npprops;
    struct snode *additional;
    const char **required;
    size_t nrequired;
    struct snode *propnames;
    size_t minprops, maxprops;
    struct sdepreq *depreq;
    size_t ndepreq;
    struct snode **allof, **anyof, **oneof;
    size_t nallof, nanyof, noneof;
    struct snode *not_, *if_, *then_, *else_;
    struct snode *ref;
    char *phrase_enum;    /* "must be one of: ..." */
    char *phrase_const;   /* "must be ..." */
    char *phrase_pattern; /* "must match the pattern ..." */
    unsigned char color;  /* in-place cycle check */
};

struct schema {
    json_t *doc;
    struct snode *root;
    struct snode **nodes;
    size_t nnodes, capnodes;
    enum dialect dialect;
    struct schema_options opt;
};

/* ------------------------------------------------------------------------ */
/* Compilation                                                               */

struct memo_ent {
    const json_t *js;
    struct snode *node;
};

struct cctx {
    struct schema *s;
    struct memo_ent *memo;
    size_t memocap, memon;
    struct schema_compile_err *err;
    bool failed;
    char path[256];
    size_t plen;
    const json_t *resource;    /* "#..." references resolve here */
    const char *resource_id;   /* its $id, when it has one */
    unsigned depth;
};

#define COMPILE_MAX_DEPTH 128u

static void fmt_into(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* snprintf that truncates silently (messages are bounded on purpose). */
static void fmt_into(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

static void cerr(struct cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cerr(struct cctx *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = true;
    if (c->err == NULL)
        return;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    str_copy(c->err->path, c->path, sizeof(c->err->path));
    fmt_into(c->err->msg, sizeof(c->err->msg), "schema %s: %s", c->plen ? c->path : "(root)",
             what);
}

/* Appends "/seg" (RFC 6901 escaped) to the compile path; returns the old length. */
static size_t cpush(struct cctx *c, const char *seg)
{
    size_t old = c->plen;
    size_t o = c->plen;
    if (o + 1 < sizeof(c->path))
        c->path[o++] = '/';
    for (const char *p = seg; *p != '\0' && o + 2 < sizeof(c->path); p++) {
        if (*p == '~' || *p == '/') {
            c->path[o++] = '~';
            c->path[o++] = *p == '~' ? '0' : '1';
        } else {
            c->path[o++] = *p;
        }
    }
    c->path[o] = '\0';
    c->plen = o;
    return old;
}

static size_t cpush_idx(struct cctx *c, size_t i)
{
    char b[24];
    snprintf(b, sizeof(b), "%zu", i);
    return cpush(c, b);
}

static void cpop(struct cctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

static size_t memo_slot(const struct cctx *c, const json_t *js)
{
    uintptr_t h = (uintptr_t)js;
    h ^= h >> 17;
    h *= (uintptr_t)0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 7) & (c->memocap - 1);
}

static struct snode *memo_get(const struct cctx *c, const json_t *js)
{
    if (c->memocap == 0)
        return NULL;
    for (size_t i = memo_slot(c, js);; i = (i + 1) & (c->memocap - 1)) {
        if (c->memo[i].js == NULL)
            return NULL;
        if (c->memo[i].js == js)
            return c->memo[i].node;
    }
}

static int memo_put(struct cctx *c, const json_t *js, struct snode *n)
{
    if ((c->memon + 1) * 2 > c->memocap) {
        size_t ncap = c->memocap ? c->memocap * 2 : 64;
        struct memo_ent *old = c->memo;
        size_t oldcap = c->memocap;
        c->memo = calloc(ncap, sizeof(*c->memo));
        if (c->memo == NULL) {
            c->memo = old;
            return -1;
        }
        c->memocap = ncap;
        for (size_t i = 0; i < oldcap; i++) {
            if (old[i].js == NULL)
                continue;
            size_t k = memo_slot(c, old[i].js);
            while (c->memo[k].js != NULL)
                k = (k + 1) & (ncap - 1);
            c->memo[k] = old[i];
        }
        free(old);
    }
    size_t k = memo_slot(c, js);
    while (c->memo[k].js != NULL)
        k = (k + 1) & (c->memocap - 1);
    c->memo[k].js = js;
    c->memo[k].node = n;
    c->memon++;
    return 0;
}

static struct snode *new_node(struct cctx *c)
{
    struct schema *s = c->s;
    if (s->nnodes >= s->opt.max_nodes) {
        cerr(c, "the schema has more than %zu subschemas", s->opt.max_nodes);
        return NULL;
    }
    if (s->nnodes == s->capnodes) {
        size_t ncap = s->capnodes ? s->capnodes * 2 : 16;
        struct snode **nn = realloc(s->nodes, ncap * sizeof(*nn));
        if (nn == NULL) {
            cerr(c, "out of memory");
            return NULL;
        }
        s->nodes = nn;
        s->capnodes = ncap;
    }
    struct snode *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        cerr(c, "out of memory");
        return NULL;
    }
    s->nodes[s->nnodes++] = n;
    return n;
}

static struct snode *compile(struct cctx *c, const json_t *js);

/* Compiles member `key` of obj, which must be a schema. */
static struct snode *compile_member(struct cctx *c, const json_t *obj, const char *key)
{
    size_t old = cpush(c, key);
    struct snode *n = compile(c, json_object_get(obj, key));
    cpop(c, old);
    return n;
}

/* A non-empty array of schemas (allOf, anyOf, oneOf, prefixItems). */
static struct snode **compile_list(struct cctx *c, const json_t *obj, const char *key, size_t *n)
{
    const json_t *a = json_object_get(obj, key);
    size_t old = cpush(c, key);
    struct snode **list = NULL;
    if (!json_is_array(a) || json_array_size(a) == 0) {
        cerr(c, "must be a non-empty array of schemas");
        goto out;
    }
    list = calloc(json_array_size(a), sizeof(*list));
    if (list == NULL) {
        cerr(c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(a) && !c->failed; i++) {
        size_t o2 = cpush_idx(c, i);
        list[i] = compile(c, json_array_get(a, i));
        cpop(c, o2);
    }
    *n = json_array_size(a);
out:
    cpop(c, old);
    return list;
}

static bool json_is_nonneg_int(const json_t *v, size_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (size_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= 0 && d <= 9007199254740992.0 && floor(d) == d) {
            *out = (size_t)d;
            return true;
        }
    }
    return false;
}

static int get_count(struct cctx *c, const json_t *obj, const char *key, size_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_nonneg_int(v, out)) {
        size_t old = cpush(c, key);
        cerr(c, "must be a non-negative integer");
        cpop(c, old);
        return -1;
    }
    return 1;
}

static int get_num(struct cctx *c, const json_t *obj, const char *key, struct snum *out)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (json_is_integer(v)) {
        out->is_int = true;
        out->i = json_integer_value(v);
        out->d = (double)out->i;
        return 1;
    }
    if (json_is_real(v)) {
        out->is_int = false;
        out->d = json_real_value(v);
        return 1;
    }
    size_t old = cpush(c, key);
    cerr(c, "must be a number");
    cpop(c, old);
    return -1;
}

static unsigned type_bit(const char *name)
{
    static const struct {
        const char *n;
        unsigned b;
    } t[] = {{"null", T_NULL},     {"boolean", T_BOOL}, {"object", T_OBJECT}, {"array", T_ARRAY},
             {"number", T_NUMBER}, {"string", T_STRING}, {"integer", T_INTEGER}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(name, t[i].n) == 0)
            return t[i].b;
    return 0;
}

static void compile_type(struct cctx *c, struct snode *n, const json_t *v)
{
    size_t old = cpush(c, "type");
    if (json_is_string(v)) {
        n->types = type_bit(json_string_value(v));
        if (n->types == 0)
            cerr(c, "unknown type name (expected null, boolean, object, array, number, string or "
                    "integer)");
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        size_t i;
        const json_t *t;
        json_array_foreach(v, i, t) {
            unsigned b = json_is_string(t) ? type_bit(json_string_value(t)) : 0;
            if (b == 0 || (n->types & b)) {
                size_t o2 = cpush_idx(c, i);
                cerr(c, b == 0 ? "unknown type name" : "duplicate type name");
                cpop(c, o2);
                break;
            }
            n->types |= b;
        }
    } else {
        cerr(c, "must be a type name or a non-empty array of type names");
    }
    cpop(c, old);
}

/* Short rendering of a JSON value for messages, or NULL when it would be too long. */
static char *render_short(const json_t *v, size_t max)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s != NULL && strlen(s) > max) {
        free(s);
        return NULL;
    }
    return s;
}

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *dup_printf(const char *fmt, ...)
{
    char b[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof(b), fmt, ap);
    va_end(ap);
    return strdup(b);
}

static void compile_enum(struct cctx *c, struct snode *n, const json_t *v)
{
    if (!json_is_array(v)) {
        size_t old = cpush(c, "enum");
        cerr(c, "must be an array");
        cpop(c, old);
        return;
    }
    n->enum_v = v;
    char *list = NULL;
    if (json_array_size(v) > 0 && json_array_size(v) <= 12) {
        char b[160];
        size_t o = 0;
        size_t i;
        const json_t *e;
        bool ok = true;
        json_array_foreach(v, i, e) {
            char *r = render_short(e, 40);
            if (r == NULL) {
                ok = false;
                break;
            }
            int w = snprintf(b + o, sizeof(b) - o, "%s%s", i ? ", " : "", r);
            free(r);
            if (w < 0 || (size_t)w >= sizeof(b) - o) {
                ok = false;
                break;
            }
            o += (size_t)w;
        }
        if (ok)
            list = strdup(b);
    }
    n->phrase_enum = list != NULL ? dup_printf("must be one of: %s", list)
                                  : strdup("must be one of the allowed values");
    free(list);
}

static void compile_pattern(struct cctx *c, struct snode *n, const json_t *v)
{
    size_t old = cpush(c, "pattern");
    if (!json_is_string(v)) {
        cerr(c, "must be a string");
    } else {
        char e[160];
        n->pattern = guard_re_compile(json_string_value(v), json_string_length(v), GUARD_RE_ECMA,
                                      e, sizeof(e));
        if (n->pattern == NULL)
            cerr(c, "invalid regular expression: %s", e);
        else if (json_string_length(v) <= 80 && memchr(json_string_value(v), '\0',
                                                       json_string_length(v)) == NULL)
            n->phrase_pattern = dup_printf("must match the pattern %s", json_string_value(v));
        else
            n->phrase_pattern = strdup("must match the required pattern");
    }
    cpop(c, old);
}

static int prop_cmp(const void *a, const void *b)
{
    return strcmp(((const struct sprop *)a)->name, ((const struct sprop *)b)->name);
}

static void compile_properties(struct cctx *c, struct snode *n, const json_t *v)
{
    size_t old = cpush(c, "properties");
    if (!json_is_object(v)) {
        cerr(c, "must be an object whose values are schemas");
        goto out;
    }
    n->props = calloc(json_object_size(v) + 1, sizeof(*n->props));
    if (n->props == NULL) {
        cerr(c, "out of memory");
        goto out;
    }
    const char *k;
    const json_t *sub;
    json_object_foreach((json_t *)v, k, sub) {
        size_t o2 = cpush(c, k);
        n->props[n->nprops].name = k;
        n->props[n->nprops].node = compile(c, sub);
        n->nprops++;
        cpop(c, o2);
        if (c->failed)
            break;
    }
    qsort(n->props, n->nprops, sizeof(*n->props), prop_cmp);
out:
    cpop(c, old);
}

static void compile_pattern_properties(struct cctx *c, struct snode *n, const json_t *v)
{
    size_t old = cpush(c, "patternProperties");
    if (!json_is_object(v)) {
        cerr(c, "must be an object whose keys are patterns and values schemas");
        goto out;
    }
    n->pprops = calloc(json_object_size(v) + 1, sizeof(*n->pprops));
    if (n->pprops == NULL) {
        cerr(c, "out of memory");
        goto out;
    }
    const char *k;
    const json_t *sub;
    json_object_foreach((json_t *)v, k, sub) {
        size_t o2 = cpush(c, k);
        char e[160];
        struct spprop *pp = &n->pprops[n->npprops];
        pp->re = guard_re_compile(k, strlen(k), GUARD_RE_ECMA, e, sizeof(e));
        if (pp->re == NULL) {
            cerr(c, "invalid regular expression in the key: %s", e);
        } else {
            n->npprops++;
            pp->node = compile(c, sub);
        }
        cpop(c, o2);
        if (c->failed)
            break;
    }
out:
    cpop(c, old);
}

static bool is_string_array(const json_t *v, bool unique)
{
    if (!json_is_array(v))
        return false;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return false;
        for (size_t j = 0; unique && j < i; j++)
            if (json_equal((json_t *)e, json_array_get(v, j)))
                return false;
    }
    return true;
}

static void compile_required(struct cctx *c, struct snode *n, const json_t *v)
{
    if (!is_string_array(v, true)) {
        size_t old = cpush(c, "required");
        cerr(c, "must be an array of unique strings");
        cpop(c, old);
        return;
    }
    n->nrequired = json_array_size(v);
    n->required = calloc(n->nrequired + 1, sizeof(*n->required));
    if (n->required == NULL) {
        cerr(c, "out of memory");
        return;
    }
    for (size_t i = 0; i < n->nrequired; i++)
        n->required[i] = json_string_value(json_array_get(v, i));
}

/* dependentRequired (2019-09+) or the array form of draft-04..07 "dependencies". */
static void compile_depreq(struct cctx *c, struct snode *n, const json_t *v, const char *kw,
                           bool schemas_allowed)
{
    size_t old = cpush(c, kw);
    if (!json_is_object(v)) {
        cerr(c, "must be an object");
        goto out;
    }
    n->depreq = calloc(json_object_size(v) + 1, sizeof(*n->depreq));
    if (n->depreq == NULL) {
        cerr(c, "out of memory");
        goto out;
    }
    const char *k;
    const json_t *sub;
    json_object_foreach((json_t *)v, k, sub) {
        if (is_string_array(sub, true)) {
            n->depreq[n->ndepreq].name = k;
            n->depreq[n->ndepreq].req = sub;
            n->ndepreq++;
        } else if (schemas_allowed && (json_is_object(sub) || json_is_boolean(sub))) {
            continue; /* schema dependency: not enforced */
        } else {
            size_t o2 = cpush(c, k);
            cerr(c, "must be an array of unique strings");
            cpop(c, o2);
            break;
        }
    }
out:
    cpop(c, old);
}

/* Compiles every member of a $defs/definitions object so that mistakes in
 * definitions are reported even when nothing refers to them. */
static void compile_defs(struct cctx *c, const json_t *obj, const char *kw)
{
    const json_t *d = json_object_get(obj, kw);
    if (d == NULL)
        return;
    size_t old = cpush(c, kw);
    if (!json_is_object(d)) {
        cerr(c, "must be an object whose values are schemas");
    } else {
        const char *k;
        const json_t *sub;
        json_object_foreach((json_t *)d, k, sub) {
            size_t o2 = cpush(c, k);
            (void)compile(c, sub);
            cpop(c, o2);
            if (c->failed)
                break;
        }
    }
    cpop(c, old);
}

static const char *id_keyword(const struct cctx *c)
{
    return c->s->dialect == D4 ? "id" : "$id";
}

static int hexdig(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes a URI fragment into out; -1 on a bad escape or overflow. */
static int fragment_decode(const char *f, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; f[i] != '\0'; i++) {
        char ch = f[i];
        if (ch == '%') {
            int hi = hexdig(f[i + 1]);
            int lo = hi < 0 ? -1 : hexdig(f[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (char)(hi << 4 | lo);
            i += 2;
        }
        if (o + 1 >= outsz)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

/* Resolves an RFC 6901 pointer (already fragment-decoded, starting with '/')
 * inside root. Returns the target or NULL. */
static const json_t *pointer_resolve(const json_t *root, const char *ptr)
{
    const json_t *cur = root;
    const char *p = ptr;
    char tok[256];
    while (*p == '/') {
        p++;
        size_t t = 0;
        while (*p != '\0' && *p != '/') {
            char ch = *p++;
            if (ch == '~') {
                if (*p == '0')
                    ch = '~';
                else if (*p == '1')
                    ch = '/';
                else
                    return NULL;
                p++;
            }
            if (t + 1 >= sizeof(tok))
                return NULL;
            tok[t++] = ch;
        }
        tok[t] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            if (t == 0 || (t > 1 && tok[0] == '0'))
                return NULL;
            size_t idx = 0;
            for (size_t k = 0; k < t; k++) {
                if (tok[k] < '0' || tok[k] > '9' || idx > 100000000u)
                    return NULL;
                idx = idx * 10 + (size_t)(tok[k] - '0');
            }
            cur = json_array_get(cur, idx);
        } else {
            return NULL;
        }
        if (cur == NULL)
            return NULL;
    }
    return *p == '\0' ? cur : NULL;
}

/* Finds the subschema of resource `r` that declares anchor `name`: "$anchor"
 * (2019-09+) or a fragment-only "$id"/"id" (draft-04..07). Walks only schema
 * keywords and does not enter embedded resources. `budget` bounds the walk. */
static const json_t *find_anchor(const struct cctx *c, const json_t *js, const char *name,
                                 bool top, size_t *budget)
{
    if (!json_is_object(js) || *budget == 0)
        return NULL;
    (*budget)--;
    const json_t *id = json_object_get(js, id_keyword(c));
    if (c->s->dialect >= D2019) {
        const json_t *a = json_object_get(js, "$anchor");
        if (json_is_string(a) && strcmp(json_string_value(a), name) == 0)
            return js;
        if (!top && json_is_string(id))
            return NULL; /* another resource */
    } else if (json_is_string(id)) {
        const char *s = json_string_value(id);
        if (s[0] == '#' && strcmp(s + 1, name) == 0)
            return js;
        if (!top && s[0] != '#')
            return NULL;
    }
    static const char *const one[] = {"items", "additionalItems", "additionalProperties",
                                      "contains", "propertyNames", "not", "if", "then", "else",
                                      "unevaluatedItems", "unevaluatedProperties", NULL};
    static const char *const many[] = {"allOf", "anyOf", "oneOf", "prefixItems", "items", NULL};
    static const char *const map[] = {"properties", "patternProperties", "$defs", "definitions",
                                      "dependentSchemas", NULL};
    for (size_t i = 0; one[i] != NULL; i++) {
        const json_t *r = find_anchor(c, json_object_get(js, one[i]), name, false, budget);
        if (r != NULL)
            return r;
    }
    for (size_t i = 0; many[i] != NULL; i++) {
        const json_t *a = json_object_get(js, many[i]);
        for (size_t k = 0; json_is_array(a) && k < json_array_size(a); k++) {
            const json_t *r = find_anchor(c, json_array_get(a, k), name, false, budget);
            if (r != NULL)
                return r;
        }
    }
    for (size_t i = 0; map[i] != NULL; i++) {
        const json_t *o = json_object_get(js, map[i]);
        const char *k;
        const json_t *sub;
        if (!json_is_object(o))
            continue;
        json_object_foreach((json_t *)o, k, sub) {
            const json_t *r = find_anchor(c, sub, name, false, budget);
            if (r != NULL)
                return r;
        }
    }
    return NULL;
}

static struct snode *compile_ref(struct cctx *c, const json_t *v)
{
    size_t old = cpush(c, "$ref");
    struct snode *n = NULL;
    if (!json_is_string(v)) {
        cerr(c, "must be a string");
        goto out;
    }
    const char *ref = json_string_value(v);
    const char *frag = NULL;
    if (ref[0] == '#' || ref[0] == '\0') {
        frag = ref[0] == '#' ? ref + 1 : ref;
    } else if (c->resource_id != NULL) {
        size_t idl = strlen(c->resource_id);
        const char *hash = strchr(c->resource_id, '#');
        if (hash != NULL)
            idl = (size_t)(hash - c->resource_id);
        if (strncmp(ref, c->resource_id, idl) == 0 && (ref[idl] == '\0' || ref[idl] == '#'))
            frag = ref[idl] == '#' ? ref + idl + 1 : ref + idl;
    }
    if (frag == NULL) {
        cerr(c, "only local references (\"#...\") are supported, not '%.80s'", ref);
        goto out;
    }
    char dec[512];
    if (fragment_decode(frag, dec, sizeof(dec)) < 0) {
        cerr(c, "invalid percent-encoding in the reference");
        goto out;
    }
    const json_t *target;
    if (dec[0] == '\0') {
        target = c->resource;
    } else if (dec[0] == '/') {
        target = pointer_resolve(c->resource, dec);
    } else {
        size_t budget = c->s->opt.max_nodes * 4;
        target = find_anchor(c, c->resource, dec, true, &budget);
    }
    if (target == NULL || !(json_is_object(target) || json_is_boolean(target))) {
        cerr(c, "reference '%.80s' does not point to a schema in this document", ref);
        goto out;
    }
    char saved[sizeof(c->path)];
    size_t savedlen = c->plen;
    memcpy(saved, c->path, sizeof(saved));
    str_copy(c->path, dec, sizeof(c->path));
    c->plen = strlen(c->path);
    n = compile(c, target); /* errors inside name the target's location */
    memcpy(c->path, saved, sizeof(saved));
    c->plen = savedlen;
out:
    cpop(c, old);
    return n;
}

static void compile_keywords(struct cctx *c, struct snode *n, const json_t *js)
{
    enum dialect d = c->s->dialect;
    const json_t *v;
    int r;

    if ((v = json_object_get(js, "type")) != NULL)
        compile_type(c, n, v);
    if ((v = json_object_get(js, "enum")) != NULL)
        compile_enum(c, n, v);
    if (d >= D6 && (v = json_object_get(js, "const")) != NULL) {
        n->has |= H_CONST;
        n->const_v = v;
        char *r2 = render_short(v, 60);
        n->phrase_const = r2 != NULL ? dup_printf("must be %s", r2)
                                     : strdup("must be the constant value the schema gives");
        free(r2);
    }
    /* numbers */
    if ((r = get_num(c, js, "minimum", &n->minimum)) > 0)
        n->has |= H_MIN;
    if ((r = get_num(c, js, "maximum", &n->maximum)) > 0)
        n->has |= H_MAX;
    if (d == D4) {
        const json_t *ex = json_object_get(js, "exclusiveMinimum");
        if (ex != NULL && !json_is_boolean(ex)) {
            size_t o = cpush(c, "exclusiveMinimum");
            cerr(c, "must be a boolean in draft-04");
            cpop(c, o);
        } else if (json_is_true(ex) && (n->has & H_MIN)) {
            n->has = (n->has & ~(uint32_t)H_MIN) | H_EXMIN;
            n->exmin = n->minimum;
        }
        ex = json_object_get(js, "exclusiveMaximum");
        if (ex != NULL && !json_is_boolean(ex)) {
            size_t o = cpush(c, "exclusiveMaximum");
            cerr(c, "must be a boolean in draft-04");
            cpop(c, o);
        } else if (json_is_true(ex) && (n->has & H_MAX)) {
            n->has = (n->has & ~(uint32_t)H_MAX) | H_EXMAX;
            n->exmax = n->maximum;
        }
    } else {
        if (get_num(c, js, "exclusiveMinimum", &n->exmin) > 0)
            n->has |= H_EXMIN;
        if (get_num(c, js, "exclusiveMaximum", &n->exmax) > 0)
            n->has |= H_EXMAX;
    }
    if (get_num(c, js, "multipleOf", &n->mult) > 0) {
        n->has |= H_MULT;
        if (!(n->mult.is_int ? n->mult.i > 0 : n->mult.d > 0)) {
            size_t o = cpush(c, "multipleOf");
            cerr(c, "must be greater than 0");
            cpop(c, o);
        }
    }
    /* strings */
    if (get_count(c, js, "minLength", &n->minlen) > 0)
        n->has |= H_MINLEN;
    if (get_count(c, js, "maxLength", &n->maxlen) > 0)
        n->has |= H_MAXLEN;
    if ((v = json_object_get(js, "pattern")) != NULL)
        compile_pattern(c, n, v);
    if ((v = json_object_get(js, "format")) != NULL) {
        if (!json_is_string(v)) {
            size_t o = cpush(c, "format");
            cerr(c, "must be a string");
            cpop(c, o);
        } else if (c->s->opt.format_assert) {
            n->format = sfmt_lookup(json_string_value(v));
        }
    }
    /* arrays */
    if (get_count(c, js, "minItems", &n->minitems) > 0)
        n->has |= H_MINITEMS;
    if (get_count(c, js, "maxItems", &n->maxitems) > 0)
        n->has |= H_MAXITEMS;
    if ((v = json_object_get(js, "uniqueItems")) != NULL) {
        if (!json_is_boolean(v)) {
            size_t o = cpush(c, "uniqueItems");
            cerr(c, "must be a boolean");
            cpop(c, o);
        } else if (json_is_true(v)) {
            n->has |= H_UNIQUE;
        }
    }
    v = json_object_get(js, "items");
    if (d == D2020) {
        if (json_object_get(js, "prefixItems") != NULL)
            n->prefix = compile_list(c, js, "prefixItems", &n->nprefix);
        if (v != NULL) {
            if (json_is_array(v)) {
                size_t o = cpush(c, "items");
                cerr(c, "must be a schema in 2020-12 (use prefixItems for tuples)");
                cpop(c, o);
            } else {
                n->items = compile_member(c, js, "items");
            }
        }
    } else if (v != NULL) {
        if (json_is_array(v)) {
            n->prefix = compile_list(c, js, "items", &n->nprefix);
            if (json_object_get(js, "additionalItems") != NULL)
                n->items = compile_member(c, js, "additionalItems");
        } else {
            n->items = compile_member(c, js, "items");
        }
    }
    if (d >= D6 && json_object_get(js, "contains") != NULL) {
        n->contains = compile_member(c, js, "contains");
        n->mincontains = 1;
        if (d >= D2019) {
            if (get_count(c, js, "minContains", &n->mincontains) < 0)
                return;
            if (get_count(c, js, "maxContains", &n->maxcontains) > 0)
                n->has |= H_MAXCONTAINS;
        }
    }
    /* objects */
    if ((v = json_object_get(js, "properties")) != NULL)
        compile_properties(c, n, v);
    if ((v = json_object_get(js, "patternProperties")) != NULL)
        compile_pattern_properties(c, n, v);
    if (json_object_get(js, "additionalProperties") != NULL)
        n->additional = compile_member(c, js, "additionalProperties");
    if ((v = json_object_get(js, "required")) != NULL)
        compile_required(c, n, v);
    if (d >= D6 && json_object_get(js, "propertyNames") != NULL)
        n->propnames = compile_member(c, js, "propertyNames");
    if (get_count(c, js, "minProperties", &n->minprops) > 0)
        n->has |= H_MINPROPS;
    if (get_count(c, js, "maxProperties", &n->maxprops) > 0)
        n->has |= H_MAXPROPS;
    if (d >= D2019 && (v = json_object_get(js, "dependentRequired")) != NULL)
        compile_depreq(c, n, v, "dependentRequired", false);
    else if (d <= D7 && (v = json_object_get(js, "dependencies")) != NULL)
        compile_depreq(c, n, v, "dependencies", true);
    /* applicators */
    if (json_object_get(js, "allOf") != NULL)
        n->allof = compile_list(c, js, "allOf", &n->nallof);
    if (json_object_get(js, "anyOf") != NULL)
        n->anyof = compile_list(c, js, "anyOf", &n->nanyof);
    if (json_object_get(js, "oneOf") != NULL)
        n->oneof = compile_list(c, js, "oneOf", &n->noneof);
    if (json_object_get(js, "not") != NULL)
        n->not_ = compile_member(c, js, "not");
    if (d >= D7 && json_object_get(js, "if") != NULL) {
        n->if_ = compile_member(c, js, "if");
        if (json_object_get(js, "then") != NULL)
            n->then_ = compile_member(c, js, "then");
        if (json_object_get(js, "else") != NULL)
            n->else_ = compile_member(c, js, "else");
    }
}

static struct snode *compile(struct cctx *c, const json_t *js)
{
    if (c->failed)
        return NULL;
    if (js == NULL) {
        cerr(c, "missing schema");
        return NULL;
    }
    struct snode *n = memo_get(c, js);
    if (n != NULL)
        return n;
    if (!json_is_object(js) && !(json_is_boolean(js) && c->s->dialect >= D6)) {
        cerr(c, c->s->dialect >= D6 ? "must be a schema (an object or a boolean)"
                                    : "must be a schema object");
        return NULL;
    }
    if (c->depth >= COMPILE_MAX_DEPTH) {
        cerr(c, "the schema is nested more than %u levels deep", COMPILE_MAX_DEPTH);
        return NULL;
    }
    n = new_node(c);
    if (n == NULL)
        return NULL;
    if (memo_put(c, js, n) < 0) {
        cerr(c, "out of memory");
        return NULL;
    }
    if (json_is_boolean(js)) {
        n->is_bool = true;
        n->bool_val = json_is_true(js);
        return n;
    }
    c->depth++;
    const json_t *saved_res = c->resource;
    const char *saved_id = c->resource_id;
    const json_t *id = json_object_get(js, id_keyword(c));
    if (id != NULL && !json_is_string(id)) {
        size_t o = cpush(c, id_keyword(c));
        cerr(c, "must be a string");
        cpop(c, o);
    } else if (id != NULL && json_string_value(id)[0] != '#') {
        /* A subschema with its own base URI is a resource of its own. */
        c->resource = js;
        c->resource_id = json_string_value(id);
    }
    const json_t *ref = json_object_get(js, "$ref");
    if (ref != NULL) {
        n->ref = compile_ref(c, ref);
        if (c->s->dialect <= D7)
            goto done; /* before 2019-09, keywords beside $ref are ignored */
    }
    compile_keywords(c, n, js);
    if (c->s->dialect >= D2019)
        compile_defs(c, js, "$defs");
    else
        compile_defs(c, js, "definitions");
done:
    c->resource = saved_res;
    c->resource_id = saved_id;
    c->depth--;
    return n;
}

/* A chain of in-place applicators (allOf/anyOf/oneOf/not/if/then/else/$ref)
 * that comes back to a node never consumes the instance: validation would
 * not terminate. Such schemas are refused. */
static int inplace_cycle(struct snode *n, unsigned depth, unsigned max)
{
    if (n == NULL || n->is_bool || n->color == 2)
        return 0;
    if (n->color == 1)
        return 1;
    if (depth > max)
        return 2;
    n->color = 1;
    struct snode *one[] = {n->ref, n->not_, n->if_, n->then_, n->else_};
    for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
        int r = inplace_cycle(one[i], depth + 1, max);
        if (r)
            return r;
    }
    struct snode **lists[] = {n->allof, n->anyof, n->oneof};
    size_t counts[] = {n->nallof, n->nanyof, n->noneof};
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l]; i++) {
            int r = inplace_cycle(lists[l][i], depth + 1, max);
            if (r)
                return r;
        }
    n->color = 2;
    return 0;
}

static int dialect_of(const json_t *root, enum dialect *d, char *why, size_t whysz)
{
    *d = D2020;
    const json_t *v = json_is_object(root) ? json_object_get(root, "$schema") : NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v)) {
        snprintf(why, whysz, "schema /$schema: must be a string");
        return -1;
    }
    const char *s = json_string_value(v);
    if (strncmp(s, "http://", 7) == 0)
        s += 7;
    else if (strncmp(s, "https://", 8) == 0)
        s += 8;
    else
        goto unknown;
    static const struct {
        const char *uri;
        enum dialect d;
    } known[] = {{"json-schema.org/draft/2020-12/schema", D2020},
                 {"json-schema.org/draft/2019-09/schema", D2019},
                 {"json-schema.org/draft-07/schema", D7},
                 {"json-schema.org/draft-06/schema", D6},
                 {"json-schema.org/draft-04/schema", D4},
                 {"json-schema.org/schema", D2020}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        size_t l = strlen(known[i].uri);
        if (strncmp(s, known[i].uri, l) == 0 && (s[l] == '\0' || strcmp(s + l, "#") == 0)) {
            *d = known[i].d;
            return 0;
        }
    }
unknown:
    snprintf(why, whysz,
             "schema /$schema: unsupported dialect '%.100s' (supported: 2020-12, 2019-09, "
             "draft-07, draft-06, draft-04)",
             json_string_value(v));
    return -1;
}

void schema_options_default(struct schema_options *o)
{
    o->format_assert = true;
    o->max_nodes = SCHEMA_DEFAULT_MAX_NODES;
    o->max_steps = SCHEMA_DEFAULT_MAX_STEPS;
    o->max_depth = SCHEMA_DEFAULT_MAX_DEPTH;
}

struct schema *schema_compile(const json_t *schema, struct schema_compile_err *err)
{
    return schema_compile_opts(schema, NULL, err);
}

struct schema *schema_compile_opts(const json_t *schema, const struct schema_options *opts,
                                   struct schema_compile_err *err)
{
    struct schema_compile_err dummy;
    if (err == NULL)
        err = &dummy;
    memset(err, 0, sizeof(*err));
    if (schema == NULL) {
        snprintf(err->msg, sizeof(err->msg), "schema (root): missing schema");
        return NULL;
    }
    struct schema *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return NULL;
    }
    if (opts != NULL)
        s->opt = *opts;
    else
        schema_options_default(&s->opt);
    if (s->opt.max_nodes == 0)
        s->opt.max_nodes = SCHEMA_DEFAULT_MAX_NODES;
    if (s->opt.max_steps == 0)
        s->opt.max_steps = SCHEMA_DEFAULT_MAX_STEPS;
    if (s->opt.max_depth == 0 || s->opt.max_depth > 1000)
        s->opt.max_depth = SCHEMA_DEFAULT_MAX_DEPTH;
    if (dialect_of(schema, &s->dialect, err->msg, sizeof(err->msg)) < 0) {
        snprintf(err->path, sizeof(err->path), "/$schema");
        schema_free(s);
        return NULL;
    }
    s->doc = json_deep_copy(schema);
    if (s->doc == NULL) {
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        schema_free(s);
        return NULL;
    }
    struct cctx c;
    memset(&c, 0, sizeof(c));
    c.s = s;
    c.err = err;
    c.resource = s->doc;
    const json_t *rid = json_is_object(s->doc) ? json_object_get(s->doc, s->dialect == D4 ? "id" : "$id") : NULL;
    if (json_is_string(rid) && json_string_value(rid)[0] != '#')
        c.resource_id = json_string_value(rid);
    s->root = compile(&c, s->doc);
    if (!c.failed) {
        for (size_t i = 0; i < s->nnodes && !c.failed; i++) {
            int r = inplace_cycle(s->nodes[i], 0, s->opt.max_depth);
            if (r == 1)
                cerr(&c, "a $ref cycle applies the schema to the same value forever");
            else if (r == 2)
                cerr(&c, "subschemas are nested deeper than %u in-place levels", s->opt.max_depth);
        }
        if (c.failed) {
            /* the path is not meaningful for a whole-graph property */
            snprintf(err->path, sizeof(err->path), "%s", "");
            const char *colon = strstr(err->msg, ": ");
            if (colon != NULL) {
                char tail[sizeof(err->msg)];
                str_copy(tail, colon + 2, sizeof(tail));
                fmt_into(err->msg, sizeof(err->msg), "schema: %s", tail);
            }
        }
    }
    free(c.memo);
    if (c.failed || s->root == NULL) {
        if (err->msg[0] == '\0')
            snprintf(err->msg, sizeof(err->msg), "schema (root): cannot be compiled");
        schema_free(s);
        return NULL;
    }
    return s;
}

const char *schema_dialect(const struct schema *s)
{
    static const char *const names[] = {"draft-04", "draft-06", "draft-07", "2019-09", "2020-12"};
    return names[s->dialect];
}

void schema_free(struct schema *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nnodes; i++) {
        struct snode *n = s->nodes[i];
        guard_re_free(n->pattern);
        for (size_t k = 0; k < n->npprops; k++)
            guard_re_free(n->pprops[k].re);
        free(n->pprops);
        free(n->props);
        free(n->prefix);
        free(n->required);
        free(n->depreq);
        free(n->allof);
        free(n->anyof);
        free(n->oneof);
        free(n->phrase_enum);
        free(n->phrase_const);
        free(n->phrase_pattern);
        free(n);
    }
    free(s->nodes);
    json_decref(s->doc);
    free(s);
}

/* ------------------------------------------------------------------------ */
/* Validation                                                                */

/* An instance: a JSON value, or a bare string (a property name being checked
 * against propertyNames, which has no json_t of its own). */
struct inst {
    const json_t *j; /* NULL for a bare string */
    const char *s;
    size_t n;
};

struct pathent {
    const char *key; /* NULL: array index */
    size_t idx;
};

#define PATH_MAX_ENTS 1000u

struct vctx {
    const struct schema *s;
    struct schema_error *err;
    size_t steps;
    unsigned depth;
    unsigned quiet;
    bool recorded;
    bool fatal;
    struct guard_re_scratch scr;
    size_t plen;
    struct pathent path[PATH_MAX_ENTS];
};

static void build_pointer(const struct vctx *v, char *out, size_t outsz)
{
    size_t o = 0;
    bool trunc = false;
    out[0] = '\0';
    for (size_t i = 0; i < v->plen && !trunc; i++) {
        char seg[32];
        const char *p;
        size_t pl;
        if (v->path[i].key != NULL) {
            p = v->path[i].key;
            pl = strlen(p);
        } else {
            snprintf(seg, sizeof(seg), "%zu", v->path[i].idx);
            p = seg;
            pl = strlen(seg);
        }
        if (o + 1 >= outsz - 4) {
            trunc = true;
            break;
        }
        out[o++] = '/';
        for (size_t k = 0; k < pl; k++) {
            if (o + 2 >= outsz - 4) {
                trunc = true;
                break;
            }
            if (p[k] == '~' || p[k] == '/') {
                out[o++] = '~';
                out[o++] = p[k] == '~' ? '0' : '1';
            } else {
                out[o++] = p[k];
            }
        }
    }
    if (trunc) {
        /* do not cut a UTF-8 sequence */
        while (o > 0 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
            o--;
        if (o > 0 && (unsigned char)out[o - 1] >= 0xc0)
            o--;
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* Writes the pointer for a person: no leading '/', control and invisible
 * characters escaped as \uXXXX, quotes and backslashes escaped. */
static void display_pointer(const char *ptr, char *out, size_t outsz)
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
                         (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff || (cp >= 0xe0000 && cp <= 0xe007f);
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

static void compose_msg(struct schema_error *e, const char *subject, const char *whole)
{
    if (e->pointer[0] == '\0') {
        fmt_into(e->msg, sizeof(e->msg), "%s: %s (%s)", whole, e->detail, e->keyword);
    } else {
        char disp[300];
        display_pointer(e->pointer, disp, sizeof(disp));
        fmt_into(e->msg, sizeof(e->msg), "%s '%s': %s (%s)", subject, disp, e->detail,
                 e->keyword);
    }
}

void schema_error_reword(struct schema_error *err, const char *subject, const char *whole)
{
    compose_msg(err, subject, whole);
}

static void record(struct vctx *v, const char *kw, const char *detail)
{
    struct schema_error *e = v->err;
    build_pointer(v, e->pointer, sizeof(e->pointer));
    snprintf(e->keyword, sizeof(e->keyword), "%s", kw);
    snprintf(e->detail, sizeof(e->detail), "%s", detail);
    compose_msg(e, "argument", "arguments");
    v->recorded = true;
}

static int fail(struct vctx *v, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct vctx *v, const char *kw, const char *fmt, ...)
{
    if (v->err == NULL || v->quiet > 0 || v->recorded)
        return -1;
    char d[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d, sizeof(d), fmt, ap);
    va_end(ap);
    record(v, kw, d);
    return -1;
}

/* A limit was hit: the whole validation fails, whatever combinator we are in. */
static int fatal(struct vctx *v, const char *detail)
{
    v->fatal = true;
    if (v->err != NULL) {
        v->recorded = false;
        record(v, "budget", detail);
    }
    return -1;
}

static bool step(struct vctx *v, size_t n)
{
    v->steps += n;
    return v->steps <= v->s->opt.max_steps;
}

static void fmt_num(const struct snum *k, char *b, size_t bsz)
{
    if (k->is_int) {
        snprintf(b, bsz, "%lld", (long long)k->i);
        return;
    }
    snprintf(b, bsz, "%.15g", k->d);
    char *end;
    if (strtod(b, &end) != k->d || *end != '\0')
        snprintf(b, bsz, "%.17g", k->d);
}

static long double num_ld(const json_t *x)
{
    return json_is_integer(x) ? (long double)json_integer_value(x)
                              : (long double)json_real_value(x);
}

static int num_cmp(const json_t *x, const struct snum *k)
{
    if (json_is_integer(x) && k->is_int) {
        json_int_t a = json_integer_value(x);
        return a < k->i ? -1 : a > k->i ? 1 : 0;
    }
    long double a = num_ld(x);
    long double b = k->is_int ? (long double)k->i : (long double)k->d;
    return a < b ? -1 : a > b ? 1 : 0;
}

static bool num_equal(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) == json_integer_value(b);
    return num_ld(a) == num_ld(b);
}

/* JSON Schema equality: numbers by value (1 == 1.0), objects regardless of
 * member order. Depth is bounded by the parser's nesting limit; a guard stops
 * pathological trees built by other means. */
static bool jequal(const json_t *a, const json_t *b, unsigned depth)
{
    if (depth > 256)
        return false;
    if (json_is_number(a) && json_is_number(b))
        return num_equal(a, b);
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!jequal(json_array_get(a, i), json_array_get(b, i), depth + 1))
                return false;
        return true;
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *va;
        json_object_foreach((json_t *)a, k, va) {
            const json_t *vb = json_object_get(b, k);
            if (vb == NULL || !jequal(va, vb, depth + 1))
                return false;
        }
        return true;
    }
    default:
        return true; /* null, true, false */
    }
}

static bool inst_equal(const struct inst *x, const json_t *k)
{
    if (x->j != NULL)
        return jequal(x->j, k, 0);
    return json_is_string(k) && json_string_length(k) == x->n &&
           memcmp(json_string_value(k), x->s, x->n) == 0;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t jhash(const json_t *x, unsigned depth)
{
    uint64_t h = (uint64_t)json_typeof(x);
    if (depth > 256)
        return h;
    switch (json_typeof(x)) {
    case JSON_INTEGER:
    case JSON_REAL: {
        long double d = num_ld(x);
        h = 0x1234; /* integers and reals share a hash when equal */
        if (d == floorl(d) && d > -9.2e18L && d < 9.2e18L) {
            return mix(h, (uint64_t)(int64_t)d);
        }
        double dd = (double)d;
        uint64_t bits;
        memcpy(&bits, &dd, sizeof(bits));
        return mix(h, bits);
    }
    case JSON_STRING: {
        const unsigned char *p = (const unsigned char *)json_string_value(x);
        size_t n = json_string_length(x);
        uint64_t f = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < n; i++)
            f = (f ^ p[i]) * 0x100000001b3ull;
        return mix(h, f);
    }
    case JSON_ARRAY:
        for (size_t i = 0; i < json_array_size(x); i++)
            h = mix(h, jhash(json_array_get(x, i), depth + 1));
        return h;
    case JSON_OBJECT: {
        uint64_t sum = 0;
        const char *k;
        json_t *vv;
        json_object_foreach((json_t *)x, k, vv) {
            uint64_t f = 0xcbf29ce484222325ull;
            for (const unsigned char *p = (const unsigned char *)k; *p; p++)
                f = (f ^ *p) * 0x100000001b3ull;
            sum += mix(f, jhash(vv, depth + 1)); /* order-independent */
        }
        return mix(h, sum);
    }
    default:
        return h;
    }
}

static void push_key(struct vctx *v, const char *k)
{
    v->path[v->plen].key = k;
    v->path[v->plen].idx = 0;
    v->plen++;
}

static void push_idx(struct vctx *v, size_t i)
{
    v->path[v->plen].key = NULL;
    v->path[v->plen].idx = i;
    v->plen++;
}

static int vnode(struct vctx *v, const struct snode *n, const struct inst *x);

static int vchild(struct vctx *v, const struct snode *n, const json_t *x)
{
    struct inst ix = {x, NULL, 0};
    if (json_is_string(x)) {
        ix.s = json_string_value(x);
        ix.n = json_string_length(x);
    }
    return vnode(v, n, &ix);
}

static unsigned inst_types(const struct inst *x)
{
    if (x->j == NULL)
        return T_STRING;
    switch (json_typeof(x->j)) {
    case JSON_NULL:
        return T_NULL;
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOL;
    case JSON_OBJECT:
        return T_OBJECT;
    case JSON_ARRAY:
        return T_ARRAY;
    case JSON_STRING:
        return T_STRING;
    case JSON_INTEGER:
        return T_NUMBER | T_INTEGER;
    case JSON_REAL: {
        double d = json_real_value(x->j);
        return (isfinite(d) && floor(d) == d) ? (T_NUMBER | T_INTEGER) : T_NUMBER;
    }
    }
    return 0;
}

static const char *type_phrase(unsigned t, char *b, size_t bsz)
{
    static const struct {
        unsigned bit;
        const char *w;
    } words[] = {{T_STRING, "a string"},   {T_INTEGER, "an integer"}, {T_NUMBER, "a number"},
                 {T_BOOL, "a boolean"},    {T_OBJECT, "an object"},   {T_ARRAY, "an array"},
                 {T_NULL, "null"}};
    size_t o = 0;
    unsigned seen = 0;
    unsigned total = 0;
    if ((t & T_NUMBER) && (t & T_INTEGER))
        t &= ~(unsigned)T_INTEGER; /* "number" already admits integers */
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (t & words[i].bit)
            total++;
    o += (size_t)snprintf(b, bsz, "must be ");
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]) && o < bsz; i++) {
        if (!(t & words[i].bit))
            continue;
        seen++;
        const char *sep = seen == 1 ? "" : seen == total ? " or " : ", ";
        o += (size_t)snprintf(b + o, bsz - o, "%s%s", sep, words[i].w);
    }
    return b;
}

static int v_number(struct vctx *v, const struct snode *n, const json_t *x)
{
    char b[48];
    if ((n->has & H_MIN) && num_cmp(x, &n->minimum) < 0) {
        fmt_num(&n->minimum, b, sizeof(b));
        return fail(v, "minimum", "must be at least %s", b);
    }
    if ((n->has & H_MAX) && num_cmp(x, &n->maximum) > 0) {
        fmt_num(&n->maximum, b, sizeof(b));
        return fail(v, "maximum", "must be at most %s", b);
    }
    if ((n->has & H_EXMIN) && num_cmp(x, &n->exmin) <= 0) {
        fmt_num(&n->exmin, b, sizeof(b));
        return fail(v, "exclusiveMinimum", "must be greater than %s", b);
    }
    if ((n->has & H_EXMAX) && num_cmp(x, &n->exmax) >= 0) {
        fmt_num(&n->exmax, b, sizeof(b));
        return fail(v, "exclusiveMaximum", "must be less than %s", b);
    }
    if (n->has & H_MULT) {
        bool ok;
        if (json_is_integer(x) && n->mult.is_int) {
            ok = json_integer_value(x) % n->mult.i == 0;
        } else {
            long double m = n->mult.is_int ? (long double)n->mult.i : (long double)n->mult.d;
            long double q = num_ld(x) / m;
            /* A quotient beyond the double range is reported invalid, as
             * double-based validators do, rather than guessed. */
            if (!isfinite(q) || fabsl(q) > (long double)DBL_MAX) {
                ok = false;
            } else {
                long double r = fabsl(q - nearbyintl(q));
                ok = r <= fabsl(q) * 4.0L * (long double)DBL_EPSILON || r < 1e-12L;
            }
        }
        if (!ok) {
            fmt_num(&n->mult, b, sizeof(b));
            return fail(v, "multipleOf", "must be a multiple of %s", b);
        }
    }
    return 0;
}

static int v_string(struct vctx *v, const struct snode *n, const struct inst *x)
{
    if (n->has & (H_MINLEN | H_MAXLEN)) {
        size_t cps = utf8_count(x->s, x->n);
        if ((n->has & H_MINLEN) && cps < n->minlen)
            return fail(v, "minLength", "must be at least %zu character%s", n->minlen,
                        n->minlen == 1 ? "" : "s");
        if ((n->has & H_MAXLEN) && cps > n->maxlen)
            return fail(v, "maxLength", "must be at most %zu character%s", n->maxlen,
                        n->maxlen == 1 ? "" : "s");
    }
    if (n->pattern != NULL) {
        int m = guard_re_match(n->pattern, x->s, x->n, &v->scr);
        if (m < 0)
            return fatal(v, "could not be checked against its pattern within the matching "
                            "limits");
        if (m == 0)
            return fail(v, "pattern", "%s", n->phrase_pattern);
    }
    if (n->format != SFMT_NONE && !sfmt_check(n->format, x->s, x->n))
        return fail(v, "format", "must be a valid %s", sfmt_name(n->format));
    return 0;
}

/* uniqueItems without allocation: items are hashed into a fixed table on the
 * stack. Arrays longer than UNIQ_PASS items are handled in several passes,
 * each taking the items whose hash falls in its share, so each pass holds
 * about UNIQ_PASS/2 items. Every hash and comparison counts against the step
 * budget; a pass that overflows (crafted hash collisions) fails closed. */
#define UNIQ_TABLE 2048u
#define UNIQ_PASS  (UNIQ_TABLE / 2)

static int v_unique(struct vctx *v, const json_t *x)
{
    size_t len = json_array_size(x);
    if (len < 2)
        return 0;
    size_t passes = len <= UNIQ_PASS ? 1 : (len + UNIQ_PASS / 2 - 1) / (UNIQ_PASS / 2);
    uint16_t slot[UNIQ_TABLE];
    uint64_t hs[UNIQ_PASS];
    uint32_t idx[UNIQ_PASS];
    for (size_t p = 0; p < passes; p++) {
        memset(slot, 0xff, sizeof(slot));
        size_t cnt = 0;
        for (size_t i = 0; i < len; i++) {
            if (!step(v, 1))
                return fatal(v, "is too large to check for duplicates within the validation "
                                "limits");
            const json_t *e = json_array_get(x, i);
            uint64_t h = jhash(e, 0);
            if (passes > 1 && (size_t)((h >> 40) % passes) != p)
                continue;
            if (cnt == UNIQ_PASS)
                return fatal(v, "could not be checked for duplicates within the validation "
                                "limits");
            size_t k = (size_t)(h ^ (h >> 29)) & (UNIQ_TABLE - 1);
            while (slot[k] != 0xffff) {
                size_t j = slot[k];
                if (!step(v, 1))
                    return fatal(v, "is too large to check for duplicates within the "
                                    "validation limits");
                if (hs[j] == h && jequal(json_array_get(x, idx[j]), e, 0))
                    return fail(v, "uniqueItems",
                                "must not contain duplicates (items %u and %zu are equal)",
                                (unsigned)idx[j], i);
                k = (k + 1) & (UNIQ_TABLE - 1);
            }
            hs[cnt] = h;
            idx[cnt] = (uint32_t)i;
            slot[k] = (uint16_t)cnt;
            cnt++;
        }
    }
    return 0;
}

static int v_array(struct vctx *v, const struct snode *n, const json_t *x)
{
    size_t len = json_array_size(x);
    if ((n->has & H_MINITEMS) && len < n->minitems)
        return fail(v, "minItems", "must have at least %zu item%s", n->minitems,
                    n->minitems == 1 ? "" : "s");
    if ((n->has & H_MAXITEMS) && len > n->maxitems)
        return fail(v, "maxItems", "must have at most %zu item%s", n->maxitems,
                    n->maxitems == 1 ? "" : "s");
    for (size_t i = 0; i < len; i++) {
        const struct snode *sub = i < n->nprefix ? n->prefix[i] : n->items;
        if (sub == NULL)
            continue;
        push_idx(v, i);
        int r;
        if (sub->is_bool && !sub->bool_val) {
            r = fail(v, "items", "is not allowed: the array takes at most %zu item%s", n->nprefix,
                     n->nprefix == 1 ? "" : "s");
        } else {
            r = vchild(v, sub, json_array_get(x, i));
        }
        v->plen--;
        if (r < 0)
            return -1;
    }
    if (n->contains != NULL) {
        size_t hits = 0;
        v->quiet++;
        for (size_t i = 0; i < len; i++) {
            push_idx(v, i);
            int r = vchild(v, n->contains, json_array_get(x, i));
            v->plen--;
            if (v->fatal) {
                v->quiet--;
                return -1;
            }
            if (r == 0)
                hits++;
        }
        v->quiet--;
        if (hits < n->mincontains)
            return fail(v, n->mincontains == 1 && !(n->has & H_MAXCONTAINS) ? "contains"
                                                                             : "minContains",
                        "must contain at least %zu matching item%s", n->mincontains,
                        n->mincontains == 1 ? "" : "s");
        if ((n->has & H_MAXCONTAINS) && hits > n->maxcontains)
            return fail(v, "maxContains", "must contain at most %zu matching item%s",
                        n->maxcontains, n->maxcontains == 1 ? "" : "s");
    }
    if ((n->has & H_UNIQUE) && v_unique(v, x) < 0)
        return -1;
    return 0;
}

static const struct snode *find_prop(const struct snode *n, const char *k)
{
    size_t lo = 0, hi = n->nprops;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(k, n->props[mid].name);
        if (c == 0)
            return n->props[mid].node;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static int v_object(struct vctx *v, const struct snode *n, const json_t *x)
{
    size_t cnt = json_object_size(x);
    if ((n->has & H_MINPROPS) && cnt < n->minprops)
        return fail(v, "minProperties", "must have at least %zu propert%s", n->minprops,
                    n->minprops == 1 ? "y" : "ies");
    if ((n->has & H_MAXPROPS) && cnt > n->maxprops)
        return fail(v, "maxProperties", "must have at most %zu propert%s", n->maxprops,
                    n->maxprops == 1 ? "y" : "ies");
    for (size_t i = 0; i < n->nrequired; i++) {
        if (json_object_get(x, n->required[i]) == NULL) {
            push_key(v, n->required[i]);
            int r = fail(v, "required", "is required");
            v->plen--;
            return r;
        }
    }
    for (size_t i = 0; i < n->ndepreq; i++) {
        if (json_object_get(x, n->depreq[i].name) == NULL)
            continue;
        const json_t *req = n->depreq[i].req;
        for (size_t k = 0; k < json_array_size(req); k++) {
            const char *name = json_string_value(json_array_get(req, k));
            if (json_object_get(x, name) == NULL) {
                push_key(v, name);
                char dn[80];
                display_pointer(n->depreq[i].name, dn, sizeof(dn));
                int r = fail(v, "dependentRequired", "is required when '%s' is present", dn);
                v->plen--;
                return r;
            }
        }
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)x, key, val) {
        if (!step(v, 1))
            return fatal(v, "is too large to validate within the validation limits");
        bool matched = false;
        push_key(v, key);
        int r = 0;
        const struct snode *p = n->nprops ? find_prop(n, key) : NULL;
        if (p != NULL) {
            matched = true;
            if (p->is_bool && !p->bool_val)
                r = fail(v, "false", "is not allowed");
            else
                r = vchild(v, p, val);
        }
        for (size_t i = 0; r == 0 && i < n->npprops; i++) {
            if (!step(v, 1)) {
                r = fatal(v, "is too large to validate within the validation limits");
                break;
            }
            int m = guard_re_match(n->pprops[i].re, key, strlen(key), &v->scr);
            if (m < 0) {
                r = fatal(v, "has a name that could not be checked within the matching limits");
                break;
            }
            if (m == 1) {
                matched = true;
                r = vchild(v, n->pprops[i].node, val);
            }
        }
        if (r == 0 && !matched && n->additional != NULL) {
            if (n->additional->is_bool && !n->additional->bool_val)
                r = fail(v, "additionalProperties", "is not allowed");
            else
                r = vchild(v, n->additional, val);
        }
        if (r == 0 && n->propnames != NULL) {
            struct inst kn = {NULL, key, strlen(key)};
            v->quiet++;
            int pr = vnode(v, n->propnames, &kn);
            v->quiet--;
            if (v->fatal)
                r = -1;
            else if (pr < 0)
                r = fail(v, "propertyNames", "is not an allowed name");
        }
        v->plen--;
        if (r < 0)
            return -1;
    }
    return 0;
}

static int v_applicators(struct vctx *v, const struct snode *n, const struct inst *x)
{
    for (size_t i = 0; i < n->nallof; i++)
        if (vnode(v, n->allof[i], x) < 0)
            return -1;
    if (n->nanyof > 0) {
        bool ok = false;
        v->quiet++;
        for (size_t i = 0; i < n->nanyof && !ok; i++) {
            int r = vnode(v, n->anyof[i], x);
            if (v->fatal) {
                v->quiet--;
                return -1;
            }
            ok = r == 0;
        }
        v->quiet--;
        if (!ok)
            return fail(v, "anyOf", "must match at least one of the allowed forms");
    }
    if (n->noneof > 0) {
        size_t hits = 0;
        v->quiet++;
        for (size_t i = 0; i < n->noneof && hits < 2; i++) {
            int r = vnode(v, n->oneof[i], x);
            if (v->fatal) {
                v->quiet--;
                return -1;
            }
            if (r == 0)
                hits++;
        }
        v->quiet--;
        if (hits == 0)
            return fail(v, "oneOf", "must match exactly one of the allowed forms, but matches none");
        if (hits > 1)
            return fail(v, "oneOf",
                        "must match exactly one of the allowed forms, but matches more than one");
    }
    if (n->not_ != NULL) {
        v->quiet++;
        int r = vnode(v, n->not_, x);
        v->quiet--;
        if (v->fatal)
            return -1;
        if (r == 0)
            return fail(v, "not", "must not match the excluded form");
    }
    if (n->if_ != NULL) {
        v->quiet++;
        int r = vnode(v, n->if_, x);
        v->quiet--;
        if (v->fatal)
            return -1;
        const struct snode *branch = r == 0 ? n->then_ : n->else_;
        if (branch != NULL && vnode(v, branch, x) < 0)
            return -1;
    }
    return 0;
}

static int vnode_body(struct vctx *v, const struct snode *n, const struct inst *x)
{
    if (n->is_bool) {
        if (n->bool_val)
            return 0;
        return fail(v, "false", "is not allowed");
    }
    if (n->ref != NULL) {
        if (vnode(v, n->ref, x) < 0)
            return -1;
        if (v->s->dialect <= D7)
            return 0;
    }
    unsigned t = inst_types(x);
    if (n->types != 0 && !(n->types & t)) {
        char b[120];
        return fail(v, "type", "%s", type_phrase(n->types, b, sizeof(b)));
    }
    if (n->enum_v != NULL) {
        bool hit = false;
        for (size_t i = 0; i < json_array_size(n->enum_v) && !hit; i++) {
            if (!step(v, 1))
                return fatal(v, "could not be compared within the validation limits");
            hit = inst_equal(x, json_array_get(n->enum_v, i));
        }
        if (!hit)
            return fail(v, "enum", "%s", n->phrase_enum);
    }
    if ((n->has & H_CONST) && !inst_equal(x, n->const_v))
        return fail(v, "const", "%s", n->phrase_const);
    if (t & T_NUMBER) {
        if (v_number(v, n, x->j) < 0)
            return -1;
    } else if (t & T_STRING) {
        if (v_string(v, n, x) < 0)
            return -1;
    } else if (t & T_ARRAY) {
        if (v_array(v, n, x->j) < 0)
            return -1;
    } else if (t & T_OBJECT) {
        if (v_object(v, n, x->j) < 0)
            return -1;
    }
    return v_applicators(v, n, x);
}

static int vnode(struct vctx *v, const struct snode *n, const struct inst *x)
{
    if (v->fatal)
        return -1;
    if (!step(v, 1))
        return fatal(v, "is too large or complex to validate within the validation limits");
    if (v->depth >= v->s->opt.max_depth || v->plen >= PATH_MAX_ENTS - 1)
        return fatal(v, "is nested too deeply to validate");
    v->depth++;
    int r = vnode_body(v, n, x);
    v->depth--;
    return r;
}

int schema_validate(const struct schema *s, const json_t *instance, struct schema_error *err)
{
    struct vctx *v = NULL;
    /* The context is large (the path stack): it lives in thread-local
     * storage rather than on the caller's stack or the heap. */
    static _Thread_local struct vctx tls;
    static _Thread_local bool busy;
    if (busy)
        return -1; /* no re-entrancy: validation never calls back into itself */
    busy = true;
    v = &tls;
    v->s = s;
    v->err = err;
    v->steps = 0;
    v->depth = 0;
    v->quiet = 0;
    v->recorded = false;
    v->fatal = false;
    v->scr.md = NULL;
    v->plen = 0;
    if (err != NULL)
        memset(err, 0, sizeof(*err));
    int r = instance == NULL ? -1 : vchild(v, s->root, instance);
    if (instance == NULL && err != NULL) {
        snprintf(err->keyword, sizeof(err->keyword), "type");
        snprintf(err->detail, sizeof(err->detail), "are missing");
        compose_msg(err, "argument", "arguments");
    }
    guard_re_scratch_free(&v->scr);
    busy = false;
    return r < 0 ? -1 : 0;
}
