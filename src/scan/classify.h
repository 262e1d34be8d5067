/* classify.h - risk class of a tool: read-only, side effect, or critical side
 * effect (money, deletion, permissions, credentials, code execution, outbound
 * messages).
 *
 * Evidence, strongest first: the words of the name (split at '_', '-', '.',
 * '/', spaces and camelCase), the OpenAPI method and path of an operation,
 * the argument names of inputSchema, the opening verb and a few phrases of
 * the description. A class needs evidence: a tool with no read verb and no
 * side-effect verb is a side effect ("nothing shows it is read-only").
 *
 * Annotations are shown but only ever raise the class: an explicit
 * readOnlyHint:false makes a read-only tool a side effect, an explicit
 * destructiveHint:true (without readOnlyHint:true) makes it critical
 * (deletion). A readOnlyHint:true or destructiveHint:false that the other
 * evidence contradicts is reported as a mismatch, never believed.
 */
#ifndef MCPWALL_SCAN_CLASSIFY_H
#define MCPWALL_SCAN_CLASSIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "scan/scan.h"

#define CLASSIFY_MAX_REASONS 8
#define CLASSIFY_REASON_LEN  200

/* Where a reason was seen: a JSON pointer in the definition and, for a
 * string, the byte span of the word or phrase. */
struct classify_where {
    unsigned cats;       /* categories this reason gave (0: none) */
    enum scan_risk risk; /* class this reason argues for */
    char pointer[96];    /* "" when the reason has no place (HTTP method) */
    bool has_span;
    size_t start, end;
};

struct classify_result {
    enum scan_risk risk;
    unsigned cats; /* SCAN_CAT_* */
    size_t nreasons;
    char reasons[CLASSIFY_MAX_REASONS][CLASSIFY_REASON_LEN];
    struct classify_where where[CLASSIFY_MAX_REASONS];
    bool last_kept; /* the last reason fitted (internal) */
    /* annotations that claim less than the evidence shows */
    bool mismatch;
    enum scan_risk evidence_risk; /* the class without annotations */
    char mismatch_hint[32];       /* "readOnlyHint" or "destructiveHint" */
};

/* Classifies a tool definition. http_method / http_path (may be NULL) are the
 * OpenAPI operation it stands for. Never fails; reasons are truncated at
 * CLASSIFY_MAX_REASONS. */
void classify_tool(const json_t *def, const char *http_method, const char *http_path,
                   struct classify_result *out);

/* The first reason that gave category `cat` (or, with cat 0, that argued for
 * `risk`); NULL when none. */
const struct classify_where *classify_where_of(const struct classify_result *c, unsigned cat,
                                               enum scan_risk risk, const char **reason);

/* Splits an identifier into lowercase words (ASCII letters and digits; other
 * bytes separate). Writes at most `max` words of at most 31 bytes each.
 * Returns the number of words. Exposed for tests. */
size_t classify_words(const char *name, size_t len, char words[][32], size_t max);

#endif
