/* str.h - string helpers: globs, checked number parsing, sizes, durations. */
#ifndef MCPWALL_UTIL_STR_H
#define MCPWALL_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Glob match of a whole string: '*' any run (also across '/'), '?' one byte,
 * [set] / [!set] with ranges, '\' escapes the next byte. Iterative, so the cost
 * is O(len(pattern) * len(s)) at worst and never recursive. */
bool glob_match(const char *pat, const char *s, size_t slen);
/* True when the pattern has no glob metacharacters (an exact name). */
bool glob_is_literal(const char *pat);

/* Parses an unsigned decimal integer that fills the whole string and is <= max.
 * No sign, no whitespace, no leading '+'. 0 on success, -1 otherwise. */
int parse_u64(const char *s, uint64_t max, uint64_t *out);
/* "4194304", "4MiB", "512KiB", "1GiB", "10kB", "1MB"; -1 on junk or overflow. */
int parse_size(const char *s, uint64_t *out);
/* "250ms", "30s", "5m", "1h", "1500us", bare number = milliseconds; result in µs. */
int parse_duration_us(const char *s, uint64_t *out);

/* Copies at most dstsz-1 bytes and always terminates; returns strlen(src). */
size_t str_copy(char *dst, const char *src, size_t dstsz);
/* A NUL-terminated copy of n bytes that need not be terminated (NULL on OOM). */
char *str_memdup(const char *s, size_t n);
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
/* Case-insensitive ASCII substring search over a length-delimited haystack. */
const char *str_casestr_n(const char *hay, size_t haylen, const char *needle);

#endif
