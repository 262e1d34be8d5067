/* tokens.h - estimated token count of a text (tool definitions, tool results).
 *
 * A definition costs what its compact JSON costs the model on every turn. The
 * estimate counts pieces of the text the way byte-pair tokenizers split it:
 *
 *   tokens = 0.50 * letter runs + 0.20 * extra pieces of long words
 *          + 0.50 * punctuation characters + 2.50 * digit runs
 *          + 1.75 * non-ASCII characters + 0.65 * whitespace runs
 *
 * where a letter run is a maximal run of ASCII letters, a long word of n > 6
 * letters adds (n - 1) / 6 pieces, punctuation is any other printable ASCII
 * byte, and the result is rounded to the nearest integer (at least 1 for a
 * non-empty text). The coefficients are a least-squares fit against the
 * o200k_base tokenizer on 934 tool definitions (the development corpus and
 * three reference servers): mean absolute error 4.3 %, 90th percentile 9.3 %,
 * total within 2 % (cl100k_base: 5.8 % mean). docs/scan.md records the
 * calibration; bench/scan_tokens prints it again.
 */
#ifndef MCPWALL_GUARD_TOKENS_H
#define MCPWALL_GUARD_TOKENS_H

#include <jansson.h>
#include <stddef.h>

/* Estimated tokens of a UTF-8 text. */
size_t tokens_estimate(const char *s, size_t n);
/* Estimated tokens of a definition's compact JSON; 0 when it cannot be serialised. */
size_t tokens_def(const json_t *def);

#endif
