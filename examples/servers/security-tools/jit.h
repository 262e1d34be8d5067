/* jit.h - whether to use PCRE2's JIT. Valgrind cannot follow memory that JIT
 * code initialises and reports false errors, so under valgrind (the unit test
 * run in CI) the interpreter is used; the limits apply to both. */
#ifndef MCPWALL_ST_JIT_H
#define MCPWALL_ST_JIT_H

#include <stdbool.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define ST_HAVE_VALGRIND_H 1
#endif
#endif

static inline bool st_jit_ok(void)
{
#ifdef ST_HAVE_VALGRIND_H
    return RUNNING_ON_VALGRIND == 0;
#else
    return true;
#endif
}

#endif
