/* kit_schema.h - the one place the kit validates JSON against a JSON Schema.
 *
 * The kit compiles each tool's inputSchema and outputSchema once at
 * registration and validates through these three functions only, so the
 * validator behind them can be swapped without touching the kit.
 *
 * TEMPORARY: until the project's validator (src/guard/schema.h, feat/validate)
 * is on main, kit_schema.c carries a minimal checker of the common keywords
 * (type, enum, const, required, properties, additionalProperties, items,
 * minimum/maximum, exclusiveMinimum/exclusiveMaximum, minLength/maxLength,
 * minItems/maxItems). Unknown keywords are ignored (accepted). It is replaced
 * by guard/schema as soon as that lands.
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
void kit_schema_free(struct kit_schema *s);

#endif
