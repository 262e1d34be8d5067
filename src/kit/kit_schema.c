/* kit_schema.c - the kit's schema checks, done by the project's validator
 * (src/guard/schema.h: JSON Schema 2020-12 and earlier dialects, bounded). */
#include "kit/kit_schema.h"

#include <stdio.h>
#include <stdlib.h>

#include "guard/schema.h"
#include "util/str.h"

struct kit_schema {
    struct schema *s;
};

struct kit_schema *kit_schema_compile(const json_t *schema, char *err, size_t errsz)
{
    struct schema_compile_err ce;
    struct schema *s = schema_compile(schema, &ce);
    if (s == NULL) {
        if (err != NULL && errsz > 0)
            str_copy(err, ce.msg, errsz);
        return NULL;
    }
    struct kit_schema *ks = calloc(1, sizeof(*ks));
    if (ks == NULL) {
        schema_free(s);
        if (err != NULL && errsz > 0)
            str_copy(err, "out of memory", errsz);
        return NULL;
    }
    ks->s = s;
    return ks;
}

int kit_schema_validate(const struct kit_schema *ks, const json_t *instance, char *err,
                        size_t errsz)
{
    struct schema_error e;
    if (schema_validate(ks->s, instance, &e) == 0)
        return 0;
    if (err != NULL && errsz > 0)
        str_copy(err, e.msg, errsz);
    return -1;
}

int kit_schema_validate_result(const struct kit_schema *ks, const json_t *instance, char *err,
                               size_t errsz)
{
    struct schema_error e;
    if (schema_validate(ks->s, instance, &e) == 0)
        return 0;
    schema_error_reword(&e, "result field", "result");
    if (err != NULL && errsz > 0)
        str_copy(err, e.msg, errsz);
    return -1;
}

void kit_schema_free(struct kit_schema *ks)
{
    if (ks == NULL)
        return;
    schema_free(ks->s);
    free(ks);
}
