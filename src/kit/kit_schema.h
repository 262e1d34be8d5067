/* kit_schema.h - the one place the kit validates JSON against a JSON Schema.
 *
 * The kit compiles each tool's inputSchema and outputSchema once at
 * registration and validates through these three functions only, so the
 * validator behind them can be swapped without touching the kit.
 *
 * The validator behind them is the project's (src/guard/schema.h): JSON
 * Schema 2020-12 by default, earlier dialects by "$schema", local $refs,
 * bounded work; messages such as "argument 'x': must be an integer (type)".
 */
#ifndef MCPWALL_KIT_SCHEMA_H
#define MCPWALL_KIT_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

struct kit_schema;

/* Compiles `schema` (borrowed). Returns NULL with a sentence in err when it is
 * not a usable schema. */
struct kit_schema *kit_schema_compile(const json_t *schema, char *err, size_t errsz);
/* 0 when `instance` is valid; -1 with a sentence naming the location and the
 * rule that failed (never the offending value). */
int kit_schema_validate(const struct kit_schema *s, const json_t *instance, char *err,
                        size_t errsz);
/* Same for a tool's structuredContent: the message says "result field 'x'". */
int kit_schema_validate_result(const struct kit_schema *s, const json_t *instance, char *err,
                               size_t errsz);
void kit_schema_free(struct kit_schema *s);

#endif
