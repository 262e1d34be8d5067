/* redact.h - replaces secret-looking substrings (API keys, tokens, JWTs,
 * passwords in key=value form, credentials in URLs, private key headers) with
 * "[REDACTED]". Used on log lines before they leave the server and on audit
 * records. Patterns are PCRE2 with match limits; a line that hits a limit is
 * replaced whole (fail closed). */
#ifndef MCPWALL_ST_REDACT_H
#define MCPWALL_ST_REDACT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define REDACT_MARK "[REDACTED]"

/* Compiles the patterns once; -1 on failure (a bug). */
int redact_init(void);
void redact_fini(void);
/* Appends s[0,n) to out with secrets replaced. Returns the number of
 * replacements, or -1 when out is full. */
int redact_text(const char *s, size_t n, struct buf *out);
/* A deep copy of v with every string redacted (new reference; NULL on OOM). */
json_t *redact_json(const json_t *v);

#endif
