/* rl_scen.h - runs tests/cases/ratelimit/scenarios.jsonl against a limiter,
 * shared by the memory-store tests and the real-Redis tests so that both
 * stores are held to the same expectations. */
#ifndef MCPWALL_TEST_RL_SCEN_H
#define MCPWALL_TEST_RL_SCEN_H

#include <stdint.h>

#include "policy/ratelimit.h"

struct event_base;

/* 2026-01-01T00:00:00Z in microseconds: a day boundary, so windows align. */
#define RL_T0_US (1767225600ull * 1000000ull)

struct rl_backend {
    struct event_base *base; /* the loop for Redis; NULL for memory */
    const char *redis_url;   /* NULL: memory store */
    unsigned seq;            /* makes every scenario's Redis prefix unique */
};

/* Compiles a rate_limits section given as JSON text (the Redis store, when
 * be->redis_url is set, is put in place of any store it names). Fails the
 * test on errors. */
struct rl_config *rl_test_config(struct rl_backend *be, const char *json_section);
/* A check, running the loop until a pending one is decided. Returns the
 * value ratelimit_check returned (1 or 0; -1 fails the test). */
int rl_test_check(struct ratelimit *rl, struct event_base *base, const struct rl_subject *who,
                  uint64_t now_us, struct rl_decision *d);
/* Runs the loop until *flag is true (fails the test after 20 s). */
void rl_test_loop_until(struct event_base *base, const bool *flag);
/* Runs every scenario; returns how many ran. */
size_t rl_run_scenarios(struct rl_backend *be);

#endif
