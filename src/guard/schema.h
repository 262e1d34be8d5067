/* schema.h - JSON Schema validation for tool arguments and structured results.
 *
 * A schema is compiled once (per tool, when its definition is pinned or
 * listed) into an immutable tree and then validated against many instances.
 * Dialects: JSON Schema 2020-12 (the MCP default, used when "$schema" is
 * absent), 2019-09, draft-07, draft-06 and draft-04 when "$schema" names them;
 * any other "$schema" fails to compile.
 *
 * Keywords enforced:
 *   any       type enum const allOf anyOf oneOf not if/then/else $ref format
 *   numbers   minimum maximum exclusiveMinimum exclusiveMaximum multipleOf
 *   strings   minLength maxLength (code points) pattern (PCRE2, bounded)
 *   arrays    items prefixItems (2020-12), items-array/additionalItems (before
 *             2020-12), minItems maxItems uniqueItems contains minContains maxContains
 *   objects   properties required additionalProperties patternProperties
 *             propertyNames minProperties maxProperties dependentRequired
 * $ref: local references only ("#", "#/json/pointer" into $defs, definitions
 * or anywhere in the document, "#anchor" for $anchor); a subschema with its
 * own $id starts a new resource that "#..." references are relative to.
 * Remote references fail to compile. A chain of in-place references that
 * never moves into the instance ({"$ref":"#"}) fails to compile; recursion
 * through properties is bounded at validation time by max_depth.
 * Formats date-time, date, time, email, hostname, ipv4, ipv6, uri,
 * uri-reference and uuid are asserted by default (format_assert); other
 * format names are annotations.
 * Not enforced (ignored, like unknown keywords): unevaluatedProperties,
 * unevaluatedItems, dependentSchemas, $dynamicRef/$recursiveRef,
 * contentEncoding/contentMediaType/contentSchema.
 *
 * Compile errors name the schema location and the rule ("schema
 * /properties/n/maxLength: must be a non-negative integer"). Compilation is
 * bounded by max_nodes; validation by max_steps (work) and max_depth
 * (nesting), and allocates nothing proportional to the instance: the only
 * allocation is one constant-size PCRE2 match block when a pattern runs.
 * A compiled schema may be shared between threads.
 */
#ifndef MCPWALL_GUARD_SCHEMA_H
#define MCPWALL_GUARD_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct schema;

struct schema_options {
    bool format_assert; /* check the formats listed above (default true) */
    size_t max_nodes;   /* subschemas in one schema (default 10000) */
    size_t max_steps;   /* validation work: subschema visits, comparisons (default 250000) */
    unsigned max_depth; /* nested subschema evaluations incl. $ref (default 200) */
};

#define SCHEMA_DEFAULT_MAX_NODES 10000u
#define SCHEMA_DEFAULT_MAX_STEPS 250000u
#define SCHEMA_DEFAULT_MAX_DEPTH 200u

/* Fills o with the defaults above. */
void schema_options_default(struct schema_options *o);

struct schema_compile_err {
    char path[256]; /* JSON pointer of the offending schema location ("" = root) */
    char msg[384];  /* "schema /properties/n/maxLength: must be a non-negative integer" */
};

struct schema_error {
    char pointer[256];  /* RFC 6901 pointer of the failing instance location ("" = whole
                         * instance), truncated with "..." when longer */
    char keyword[32];   /* the rule that failed: "type", "maxLength", ... ; "budget" when
                         * a validation limit was hit */
    char detail[192];   /* the rule as a phrase: "must be at most 10 characters" */
    char msg[512];      /* "argument 'items/3': must be at most 10 characters (maxLength)";
                         * for the whole instance: "arguments: must be an object (type)" */
};

/* Compiles a schema (borrowed; a private copy is kept). opts may be NULL for
 * the defaults. Returns a new compiled schema or NULL with err filled (err may
 * be NULL). */
struct schema *schema_compile(const json_t *schema, struct schema_compile_err *err);
struct schema *schema_compile_opts(const json_t *schema, const struct schema_options *opts,
                                   struct schema_compile_err *err);

/* Validates instance (borrowed). Returns 0 when valid, -1 when invalid with
 * err filled (err may be NULL). Stops at the first failing rule. Exceeding
 * max_steps or max_depth, or a pattern hitting its PCRE2 limits, makes the
 * instance invalid (keyword "budget"): validation fails closed. */
int schema_validate(const struct schema *s, const json_t *instance, struct schema_error *err);

/* Rewrites err->msg with another subject word, e.g. "result field" for
 * structuredContent checked against an outputSchema:
 * "result field 'temp': must be a number (type)". */
void schema_error_reword(struct schema_error *err, const char *subject, const char *whole);

/* Which dialect the schema was compiled as: "2020-12", "2019-09", "draft-07",
 * "draft-06" or "draft-04". */
const char *schema_dialect(const struct schema *s);

void schema_free(struct schema *s);

#endif
