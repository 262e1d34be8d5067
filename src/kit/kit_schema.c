/* kit_schema.c - TEMPORARY minimal JSON Schema checker for the kit, to be
 * replaced by src/guard/schema.h once it is on main (see kit_schema.h). */
#include "kit/kit_schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

#define KIT_SCHEMA_MAX_DEPTH 32

struct kit_schema {
    json_t *root; /* owned copy */
};

static void seterr(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errsz, const char *fmt, ...)
{
    if (err == NULL || errsz == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

static bool type_ok(const char *t)
{
    static const char *const names[] = {"object", "array",   "string", "number",
                                        "integer", "boolean", "null"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(t, names[i]) == 0)
            return true;
    return false;
}

static int check_schema(const json_t *s, size_t depth, char *err, size_t errsz)
{
    if (json_is_boolean(s))
        return 0;
    if (!json_is_object(s)) {
        seterr(err, errsz, "a schema must be an object or a boolean");
        return -1;
    }
    if (depth > KIT_SCHEMA_MAX_DEPTH) {
        seterr(err, errsz, "schema nesting deeper than %d", KIT_SCHEMA_MAX_DEPTH);
        return -1;
    }
    const json_t *t = json_object_get(s, "type");
    if (t != NULL) {
        if (json_is_string(t)) {
            if (!type_ok(json_string_value(t))) {
                seterr(err, errsz, "unknown type \"%s\"", json_string_value(t));
                return -1;
            }
        } else if (json_is_array(t)) {
            size_t i;
            const json_t *v;
            json_array_foreach(t, i, v) {
                if (!json_is_string(v) || !type_ok(json_string_value(v))) {
                    seterr(err, errsz, "\"type\" lists an unknown type");
                    return -1;
                }
            }
        } else {
            seterr(err, errsz, "\"type\" must be a string or an array");
            return -1;
        }
    }
    const json_t *req = json_object_get(s, "required");
    if (req != NULL) {
        size_t i;
        const json_t *v;
        if (!json_is_array(req)) {
            seterr(err, errsz, "\"required\" must be an array of strings");
            return -1;
        }
        json_array_foreach(req, i, v) {
            if (!json_is_string(v)) {
                seterr(err, errsz, "\"required\" must be an array of strings");
                return -1;
            }
        }
    }
    const json_t *props = json_object_get(s, "properties");
    if (props != NULL) {
        if (!json_is_object(props)) {
            seterr(err, errsz, "\"properties\" must be an object");
            return -1;
        }
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)props, k, v) {
            if (check_schema(v, depth + 1, err, errsz) < 0)
                return -1;
        }
    }
    const json_t *ap = json_object_get(s, "additionalProperties");
    if (ap != NULL && check_schema(ap, depth + 1, err, errsz) < 0)
        return -1;
    const json_t *items = json_object_get(s, "items");
    if (items != NULL && check_schema(items, depth + 1, err, errsz) < 0)
        return -1;
    const json_t *en = json_object_get(s, "enum");
    if (en != NULL && !json_is_array(en)) {
        seterr(err, errsz, "\"enum\" must be an array");
        return -1;
    }
    static const char *const nums[] = {"minimum", "maximum", "exclusiveMinimum",
                                       "exclusiveMaximum"};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        const json_t *v = json_object_get(s, nums[i]);
        if (v != NULL && !json_is_number(v)) {
            seterr(err, errsz, "\"%s\" must be a number", nums[i]);
            return -1;
        }
    }
    static const char *const counts[] = {"minLength", "maxLength", "minItems", "maxItems"};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        const json_t *v = json_object_get(s, counts[i]);
        if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0)) {
            seterr(err, errsz, "\"%s\" must be a non-negative integer", counts[i]);
            return -1;
        }
    }
    return 0;
}

struct kit_schema *kit_schema_compile(const json_t *schema, char *err, size_t errsz)
{
    if (schema == NULL) {
        seterr(err, errsz, "no schema");
        return NULL;
    }
    if (check_schema(schema, 0, err, errsz) < 0)
        return NULL;
    struct kit_schema *ks = calloc(1, sizeof(*ks));
    if (ks == NULL) {
        seterr(err, errsz, "out of memory");
        return NULL;
    }
    ks->root = json_deep_copy(schema);
    if (ks->root == NULL) {
        free(ks);
        seterr(err, errsz, "out of memory");
        return NULL;
    }
    return ks;
}

void kit_schema_free(struct kit_schema *s)
{
    if (s == NULL)
        return;
    json_decref(s->root);
    free(s);
}

static bool is_type(const json_t *v, const char *t)
{
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "integer") == 0) {
        if (json_is_integer(v))
            return true;
        if (json_is_real(v)) {
            double d = json_real_value(v);
            return isfinite(d) && floor(d) == d;
        }
        return false;
    }
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
    return false;
}

/* JSON pointer-ish location for messages: "/a/b/0". */
struct loc {
    char p[256];
    size_t len;
};

static size_t loc_push(struct loc *l, const char *seg)
{
    size_t old = l->len;
    int n = snprintf(l->p + l->len, sizeof(l->p) - l->len, "/%s", seg);
    if (n > 0)
        l->len += (size_t)n < sizeof(l->p) - l->len ? (size_t)n : sizeof(l->p) - l->len - 1;
    return old;
}

static void loc_pop(struct loc *l, size_t old)
{
    l->len = old;
    l->p[old] = '\0';
}

static const char *loc_str(const struct loc *l)
{
    return l->len == 0 ? "(arguments)" : l->p;
}

static int validate(const json_t *s, const json_t *v, struct loc *l, size_t depth, char *err,
                    size_t errsz)
{
    if (json_is_true(s))
        return 0;
    if (json_is_false(s)) {
        seterr(err, errsz, "%s: not allowed", loc_str(l));
        return -1;
    }
    if (depth > KIT_SCHEMA_MAX_DEPTH) {
        seterr(err, errsz, "%s: nested too deeply", loc_str(l));
        return -1;
    }
    const json_t *t = json_object_get(s, "type");
    if (json_is_string(t)) {
        if (!is_type(v, json_string_value(t))) {
            seterr(err, errsz, "%s: must be of type %s", loc_str(l), json_string_value(t));
            return -1;
        }
    } else if (json_is_array(t)) {
        bool ok = false;
        size_t i;
        const json_t *x;
        json_array_foreach(t, i, x) {
            if (is_type(v, json_string_value(x)))
                ok = true;
        }
        if (!ok) {
            seterr(err, errsz, "%s: has a type the schema does not allow", loc_str(l));
            return -1;
        }
    }
    const json_t *en = json_object_get(s, "enum");
    if (json_is_array(en)) {
        bool ok = false;
        size_t i;
        const json_t *x;
        json_array_foreach(en, i, x) {
            if (json_equal((json_t *)x, (json_t *)v))
                ok = true;
        }
        if (!ok) {
            seterr(err, errsz, "%s: must be one of the values listed in enum", loc_str(l));
            return -1;
        }
    }
    const json_t *cn = json_object_get(s, "const");
    if (cn != NULL && !json_equal((json_t *)cn, (json_t *)v)) {
        seterr(err, errsz, "%s: must equal the schema's const value", loc_str(l));
        return -1;
    }
    if (json_is_number(v)) {
        double d = json_number_value(v);
        const json_t *x;
        if ((x = json_object_get(s, "minimum")) != NULL && d < json_number_value(x)) {
            seterr(err, errsz, "%s: must be >= %g", loc_str(l), json_number_value(x));
            return -1;
        }
        if ((x = json_object_get(s, "maximum")) != NULL && d > json_number_value(x)) {
            seterr(err, errsz, "%s: must be <= %g", loc_str(l), json_number_value(x));
            return -1;
        }
        if ((x = json_object_get(s, "exclusiveMinimum")) != NULL && d <= json_number_value(x)) {
            seterr(err, errsz, "%s: must be > %g", loc_str(l), json_number_value(x));
            return -1;
        }
        if ((x = json_object_get(s, "exclusiveMaximum")) != NULL && d >= json_number_value(x)) {
            seterr(err, errsz, "%s: must be < %g", loc_str(l), json_number_value(x));
            return -1;
        }
    }
    if (json_is_string(v)) {
        size_t n = utf8_count(json_string_value(v), json_string_length(v));
        const json_t *x;
        if ((x = json_object_get(s, "minLength")) != NULL &&
            n < (size_t)json_integer_value(x)) {
            seterr(err, errsz, "%s: must be at least %lld characters long", loc_str(l),
                   json_integer_value(x));
            return -1;
        }
        if ((x = json_object_get(s, "maxLength")) != NULL &&
            n > (size_t)json_integer_value(x)) {
            seterr(err, errsz, "%s: must be at most %lld characters long", loc_str(l),
                   json_integer_value(x));
            return -1;
        }
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        const json_t *x;
        if ((x = json_object_get(s, "minItems")) != NULL && n < (size_t)json_integer_value(x)) {
            seterr(err, errsz, "%s: must have at least %lld items", loc_str(l),
                   json_integer_value(x));
            return -1;
        }
        if ((x = json_object_get(s, "maxItems")) != NULL && n > (size_t)json_integer_value(x)) {
            seterr(err, errsz, "%s: must have at most %lld items", loc_str(l),
                   json_integer_value(x));
            return -1;
        }
        const json_t *items = json_object_get(s, "items");
        if (items != NULL) {
            size_t i;
            const json_t *e;
            json_array_foreach(v, i, e) {
                char idx[24];
                snprintf(idx, sizeof(idx), "%zu", i);
                size_t old = loc_push(l, idx);
                int rc = validate(items, e, l, depth + 1, err, errsz);
                loc_pop(l, old);
                if (rc < 0)
                    return -1;
            }
        }
    }
    if (json_is_object(v)) {
        const json_t *req = json_object_get(s, "required");
        size_t i;
        const json_t *x;
        json_array_foreach(req, i, x) {
            if (json_object_get(v, json_string_value(x)) == NULL) {
                seterr(err, errsz, "%s: missing required property \"%s\"", loc_str(l),
                       json_string_value(x));
                return -1;
            }
        }
        const json_t *props = json_object_get(s, "properties");
        const json_t *ap = json_object_get(s, "additionalProperties");
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            const json_t *ps = json_object_get(props, k);
            if (ps == NULL)
                ps = ap;
            if (ps == NULL)
                continue;
            size_t old = loc_push(l, k);
            int rc;
            if (json_is_false(ps)) {
                seterr(err, errsz, "%s: unknown property (additionalProperties is false)",
                       loc_str(l));
                rc = -1;
            } else {
                rc = validate(ps, e, l, depth + 1, err, errsz);
            }
            loc_pop(l, old);
            if (rc < 0)
                return -1;
        }
    }
    return 0;
}

int kit_schema_validate(const struct kit_schema *s, const json_t *instance, char *err,
                        size_t errsz)
{
    struct loc l = {.len = 0};
    l.p[0] = '\0';
    return validate(s->root, instance, &l, 0, err, errsz);
}
