/* guard_re.c - bounded PCRE2 matching (see guard_re.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "guard/guard_re.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

/* PCRE2's JIT reads a few bytes past the end of the subject (whole words);
 * harmless, but memcheck reports it unless PCRE2 was built for valgrind. Under
 * valgrind we use the interpreter, which has the same semantics and limits. */
#if defined(__has_include)
// cppcheck-suppress preprocessorErrorDirective
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define GUARD_RE_UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef GUARD_RE_UNDER_VALGRIND
#define GUARD_RE_UNDER_VALGRIND() 0
#endif

struct guard_re {
    pcre2_code *code;
    pcre2_match_context *mctx;
};

struct guard_re *guard_re_compile(const char *pat, size_t len, unsigned flags, char *err,
                                  size_t errsz)
{
    if (len > GUARD_RE_MAX_PATTERN) {
        snprintf(err, errsz, "pattern is longer than %u bytes", GUARD_RE_MAX_PATTERN);
        return NULL;
    }
    uint32_t opts = PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C;
    if (flags & GUARD_RE_ECMA)
        opts |= PCRE2_ALT_BSUX | PCRE2_DOLLAR_ENDONLY;
    if (flags & GUARD_RE_CASELESS)
        opts |= PCRE2_CASELESS;
    pcre2_compile_context *cctx = pcre2_compile_context_create(NULL);
    if (cctx == NULL) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    pcre2_set_max_pattern_length(cctx, GUARD_RE_MAX_PATTERN);
    pcre2_set_parens_nest_limit(cctx, 64);
    int ec = 0;
    PCRE2_SIZE eo = 0;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, len, opts, &ec, &eo, cctx);
    pcre2_compile_context_free(cctx);
    if (code == NULL) {
        PCRE2_UCHAR msg[120];
        if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", ec);
        snprintf(err, errsz, "%s at offset %zu", (const char *)msg, (size_t)eo);
        return NULL;
    }
    if (!GUARD_RE_UNDER_VALGRIND())
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
    struct guard_re *re = calloc(1, sizeof(*re));
    pcre2_match_context *mctx = pcre2_match_context_create(NULL);
    if (re == NULL || mctx == NULL) {
        free(re);
        pcre2_match_context_free(mctx);
        pcre2_code_free(code);
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    pcre2_set_match_limit(mctx, GUARD_RE_MATCH_LIMIT);
    pcre2_set_depth_limit(mctx, GUARD_RE_DEPTH_LIMIT);
    pcre2_set_heap_limit(mctx, GUARD_RE_HEAP_LIMIT);
    re->code = code;
    re->mctx = mctx;
    return re;
}

int guard_re_match(const struct guard_re *re, const char *s, size_t n,
                   struct guard_re_scratch *scr)
{
    if (scr->md == NULL) {
        scr->md = pcre2_match_data_create(1, NULL);
        if (scr->md == NULL)
            return -1;
    }
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, 0, scr->md, re->mctx);
    if (rc >= 0)
        return 1; /* 0 means "ovector too small", still a match */
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return -1;
}

void guard_re_free(struct guard_re *re)
{
    if (re == NULL)
        return;
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    free(re);
}

void guard_re_scratch_free(struct guard_re_scratch *scr)
{
    if (scr->md != NULL)
        pcre2_match_data_free(scr->md);
    scr->md = NULL;
}
