/* Fuzz target: JSON Schema compile + validate. Input: a schema (first line)
 * and an instance (the rest), both read by the strict JSON parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/schema.h"
#include "proto/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nl = memchr(p, '\n', size);
    size_t slen = nl != NULL ? (size_t)(nl - p) : size;
    struct json_limits lim = json_default_limits;
    lim.max_depth = 32;
    struct json_err je;
    json_t *schema = json_parse_strict(p, slen, &lim, &je);
    if (schema == NULL)
        return 0;
    struct schema_options o;
    schema_options_default(&o);
    o.max_nodes = 500;
    o.max_steps = 20000;
    struct schema_compile_err ce;
    struct schema *s = schema_compile_opts(schema, &o, &ce);
    if (s != NULL) {
        json_t *inst = NULL;
        if (nl != NULL)
            inst = json_parse_strict(nl + 1, size - slen - 1, &lim, &je);
        struct schema_error e;
        (void)schema_validate(s, inst != NULL ? inst : schema, &e);
        (void)schema_validate(s, inst != NULL ? inst : schema, NULL);
        json_decref(inst);
        schema_free(s);
    }
    json_decref(schema);
    return 0;
}
