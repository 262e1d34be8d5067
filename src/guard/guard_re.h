/* guard_re.h - PCRE2 patterns with bounded matching, for the schema validator
 * and the argument constraints.
 *
 * Every compiled pattern carries its own match context with a match limit, a
 * depth limit and a heap limit, and is JIT-compiled when the platform allows.
 * A match that hits a limit is an error (-1), never "no match": callers fail
 * closed. A compiled pattern is immutable and may be shared.
 *
 * Match data (the ovector) is kept by the caller in a `struct guard_re_scratch`
 * created lazily on the first match and freed with guard_re_scratch_free(), so
 * a validation allocates at most one small constant-size block.
 */
#ifndef MCPWALL_GUARD_RE_H
#define MCPWALL_GUARD_RE_H

#include <stddef.h>
#include <stdint.h>

#define GUARD_RE_MAX_PATTERN   4096u   /* bytes of pattern text */
#define GUARD_RE_MATCH_LIMIT   200000u /* pcre2_set_match_limit */
#define GUARD_RE_DEPTH_LIMIT   2000u   /* pcre2_set_depth_limit (interpreter only) */
#define GUARD_RE_HEAP_LIMIT    1024u   /* KiB, pcre2_set_heap_limit */

enum {
    GUARD_RE_ECMA = 1u << 0,     /* JSON Schema: ECMA-262-like \u escapes, '$' only at the end */
    GUARD_RE_CASELESS = 1u << 1,
};

struct guard_re;

struct guard_re_scratch {
    void *md; /* pcre2_match_data_8 *, created on first use */
};

/* Compiles pat[0,len) (UTF-8). Returns a new pattern or NULL with a message in
 * err (e.g. "missing closing parenthesis at offset 4"). */
struct guard_re *guard_re_compile(const char *pat, size_t len, unsigned flags, char *err,
                                  size_t errsz);
/* Unanchored search in s[0,n). Returns 1 on a match, 0 on none, -1 when a
 * limit was hit, the subject is not valid UTF-8, or memory failed. */
int guard_re_match(const struct guard_re *re, const char *s, size_t n,
                   struct guard_re_scratch *scr);
void guard_re_free(struct guard_re *re);
void guard_re_scratch_free(struct guard_re_scratch *scr);

#endif
