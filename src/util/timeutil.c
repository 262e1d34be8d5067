#include "util/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void rfc3339_us(uint64_t us, char out[32])
{
    /* The date and time of day change once a second: format them then only. */
    static _Thread_local time_t cached_s = -1;
    static _Thread_local char cached[24];
    static _Thread_local size_t cached_n;
    time_t s = (time_t)(us / 1000000u);
    if (s != cached_s) {
        struct tm tm;
        gmtime_r(&s, &tm);
        cached_n = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_s = s;
    }
    memcpy(out, cached, cached_n);
    unsigned frac = (unsigned)(us % 1000000u);
    char *p = out + cached_n;
    *p++ = '.';
    for (int i = 5; i >= 0; i--) {
        p[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    p[6] = 'Z';
    p[7] = '\0';
}
