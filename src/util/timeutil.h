/* timeutil.h - clocks and timestamps. */
#ifndef MCPWALL_UTIL_TIMEUTIL_H
#define MCPWALL_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic microseconds (for latencies and deadlines). */
uint64_t mono_us(void);
/* Wall-clock microseconds since the epoch. */
uint64_t wall_us(void);
/* RFC 3339 UTC with microseconds, e.g. 2026-11-20T23:49:00.123456Z; out holds 32 bytes. */
void rfc3339_us(uint64_t us, char out[32]);

#endif
