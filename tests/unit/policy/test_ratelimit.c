/* Rate limits with the memory store and an injected clock: the scenario table
 * (bucket refill, burst, several rules, check-all-then-take-all, keys,
 * budgets, max_keys), every config error with its position, the session
 * alert and its re-arm rule, reload, bad input and the store's bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/ratelimit.h"
#include "policy/store.h"
#include "rl_scen.h"
#include "util/buf.h"
#include "testutil.h"

static struct rl_config *compile_yaml(const char *y, struct cfg_errors *e)
{
    cfg_errors_init(e);
    struct cfg_doc *doc = cfg_load_mem("rl.yaml", y, strlen(y), false, e);
    if (doc == NULL)
        return NULL;
    struct rl_config *c = ratelimit_compile(doc, json_object_get(doc->root, "rate_limits"), e);
    cfg_doc_free(doc);
    return c;
}

static struct ratelimit *limiter(const char *yaml)
{
    struct cfg_errors e;
    struct rl_config *c = compile_yaml(yaml, &e);
    if (c == NULL) {
        cfg_errors_print(&e, stderr);
        fail_msg("config does not compile");
    }
    cfg_errors_free(&e);
    char err[128];
    struct ratelimit *rl = ratelimit_new(c, NULL, err, sizeof(err));
    assert_non_null(rl);
    rl_config_free(c);
    return rl;
}

static struct rl_decision check(struct ratelimit *rl, const char *id, const char *tool, uint64_t t)
{
    struct rl_subject s = {.identity = id, .server = "fs", .tool = tool};
    struct rl_decision d;
    assert_int_equal(ratelimit_check(rl, &s, t, &d, NULL, NULL, NULL), 1);
    return d;
}

static void test_scenarios(void **state)
{
    (void)state;
    struct rl_backend be = {0};
    size_t n = rl_run_scenarios(&be);
    assert_true(n >= 20);
}

static void test_config_errors(void **state)
{
    (void)state;
    json_t *cases = tu_load_cases("tests/cases/ratelimit/config_errors.jsonl");
    size_t i;
    json_t *c;
    bool print = getenv("RL_PRINT_ERRORS") != NULL;
    json_array_foreach(cases, i, c)
    {
        struct cfg_errors e;
        const char *y = json_string_value(json_object_get(c, "yaml"));
        struct rl_config *cfg = compile_yaml(y, &e);
        json_t *want = json_object_get(c, "errors");
        if (print) {
            fprintf(stderr, "== %s\n", TU_CASE_NAME(c));
            for (size_t k = 0; k < e.n; k++)
                fprintf(stderr, "   %s\n", e.msgs[k]);
            rl_config_free(cfg);
            cfg_errors_free(&e);
            continue;
        }
        if (cfg != NULL)
            fail_msg("%s: compiled without errors", TU_CASE_NAME(c));
        size_t k;
        json_t *w;
        json_array_foreach(want, k, w)
        {
            if (k >= e.n)
                fail_msg("%s: error %zu missing: %s", TU_CASE_NAME(c), k + 1, json_string_value(w));
            if (strcmp(e.msgs[k], json_string_value(w)) != 0)
                fail_msg("%s: error %zu is\n  %s\nexpected\n  %s", TU_CASE_NAME(c), k + 1,
                         e.msgs[k], json_string_value(w));
        }
        if (e.n != json_array_size(want))
            fail_msg("%s: %zu errors, expected %zu (extra: %s)", TU_CASE_NAME(c), e.n,
                     json_array_size(want), e.msgs[json_array_size(want)]);
        cfg_errors_free(&e);
    }
    json_decref(cases);
}

static void test_valid_configs(void **state)
{
    (void)state;
    struct cfg_errors e;
    /* The example policy shipped with the docs compiles. */
    size_t len;
    char *y = tu_read_file(tu_src_path("examples/policies/rate-limits.yaml"), &len);
    assert_non_null(y);
    struct rl_config *c = compile_yaml(y, &e);
    if (c == NULL)
        cfg_errors_print(&e, stderr);
    assert_non_null(c);
    size_t nr, nb;
    bool redis;
    rl_config_counts(c, &nr, &nb, &redis);
    assert_true(nr >= 3);
    assert_true(nb >= 1);
    assert_false(redis);
    rl_config_free(c);
    cfg_errors_free(&e);
    free(y);
    /* An absent section gives the defaults. */
    c = ratelimit_compile(NULL, NULL, &e);
    assert_non_null(c);
    char err[64];
    struct ratelimit *rl = ratelimit_new(c, NULL, err, sizeof(err));
    assert_int_equal(ratelimit_alert_threshold(rl), 100);
    ratelimit_free(rl);
    rl_config_free(c);
    /* A Redis store parses (nothing connects at compile time). */
    c = compile_yaml("rate_limits:\n  store:\n    redis: \"redis://:s3cret@[::1]:6380/2\"\n"
                     "    prefix: \"gw:\"\n    timeout: 20ms\n    on_error: allow\n"
                     "  alert: {calls_per_minute: 0}\n",
                     &e);
    if (c == NULL)
        cfg_errors_print(&e, stderr);
    assert_non_null(c);
    rl_config_counts(c, NULL, NULL, &redis);
    assert_true(redis);
    rl_config_free(c);
    cfg_errors_free(&e);
}

/* The limit table is sized by the lists: 256 rules and budgets in all
 * compile (the last one is enforced), one more is refused with its position. */
static char *many_limits_yaml(size_t nrules, size_t nbudgets)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    buf_append_str(&b, "rate_limits:\n  rules:\n");
    for (size_t i = 0; i < nrules; i++)
        buf_printf(&b, "    - {name: r%zu, tool: t%zu, rate: 2/min, burst: 1}\n", i, i);
    if (nbudgets > 0)
        buf_append_str(&b, "  budgets:\n");
    for (size_t i = 0; i < nbudgets; i++)
        buf_printf(&b, "    - {name: b%zu, window: 1h, calls: 1000}\n", i);
    buf_cstr(&b);
    return b.data;
}

static void test_many_limits(void **state)
{
    (void)state;
    struct cfg_errors e;
    char *y = many_limits_yaml(200, 56);
    struct rl_config *c = compile_yaml(y, &e);
    if (c == NULL)
        cfg_errors_print(&e, stderr);
    assert_non_null(c);
    size_t nr, nb;
    rl_config_counts(c, &nr, &nb, NULL);
    assert_int_equal(nr, 200);
    assert_int_equal(nb, 56);
    char err[128];
    struct ratelimit *rl = ratelimit_new(c, NULL, err, sizeof(err));
    assert_non_null(rl);
    rl_config_free(c);
    cfg_errors_free(&e);
    /* The last rule holds: one call per burst for its tool, then refused. */
    assert_true(check(rl, "alice", "t199", 1000000).allowed);
    assert_false(check(rl, "alice", "t199", 1000001).allowed);
    assert_true(check(rl, "alice", "t0", 1000002).allowed);
    ratelimit_free(rl);
    free(y);

    y = many_limits_yaml(200, 57);
    c = compile_yaml(y, &e);
    assert_null(c);
    bool named = false;
    for (size_t i = 0; i < e.n; i++)
        named = named || strstr(e.msgs[i], "at most 256 rules and budgets in all") != NULL;
    if (!named)
        cfg_errors_print(&e, stderr);
    assert_true(named);
    cfg_errors_free(&e);
    free(y);
}

static void test_redis_urls(void **state)
{
    (void)state;
    struct store_redis_cfg r;
    char err[160];
    assert_int_equal(store_redis_parse_url("redis://127.0.0.1:6379/0", &r, err, sizeof(err)), 0);
    assert_string_equal(r.host, "127.0.0.1");
    assert_int_equal(r.port, 6379);
    assert_int_equal(r.db, 0);
    assert_null(r.password);
    store_redis_cfg_clear(&r);
    assert_int_equal(store_redis_parse_url("redis://localhost", &r, err, sizeof(err)), 0);
    assert_string_equal(r.host, "127.0.0.1");
    assert_int_equal(r.port, 6379);
    store_redis_cfg_clear(&r);
    assert_int_equal(
        store_redis_parse_url("redis://gw:p%40ss@[2001:db8::1]:7000/3", &r, err, sizeof(err)), 0);
    assert_string_equal(r.host, "2001:db8::1");
    assert_string_equal(r.user, "gw");
    assert_string_equal(r.password, "p@ss");
    assert_int_equal(r.port, 7000);
    assert_int_equal(r.db, 3);
    store_redis_cfg_clear(&r);
    assert_int_equal(store_redis_parse_url("unix:///run/redis/r.sock?db=4", &r, err, sizeof(err)),
                     0);
    assert_string_equal(r.unix_path, "/run/redis/r.sock");
    assert_int_equal(r.db, 4);
    assert_null(r.host);
    store_redis_cfg_clear(&r);
    /* Messages never repeat the URL (it may hold a password). */
    assert_int_equal(store_redis_parse_url("redis://u:topsecret@db.example", &r, err, sizeof(err)),
                     -1);
    assert_null(strstr(err, "topsecret"));
    assert_int_equal(store_redis_parse_url("redis://u:%zz@127.0.0.1", &r, err, sizeof(err)), -1);
    assert_int_equal(store_redis_parse_url("redis://u:%00@127.0.0.1", &r, err, sizeof(err)), -1);
    assert_int_equal(store_redis_parse_url("redis://[::1", &r, err, sizeof(err)), -1);
    assert_int_equal(store_redis_parse_url("redis://127.0.0.1:0", &r, err, sizeof(err)), -1);
    assert_int_equal(store_redis_parse_url("rediss://127.0.0.1", &r, err, sizeof(err)), -1);
}

/* The alert: fires on the call that takes the last minute above the
 * threshold, stays silent for 60 s, then fires again only while above. */
static void test_alert(void **state)
{
    (void)state;
    struct rl_alert a;
    rl_alert_init(&a);
    uint64_t t = RL_T0_US;
    int fired = 0;
    /* 100 calls in the first 50 s: at the threshold, not above. */
    for (int i = 0; i < 100; i++)
        fired += rl_alert_hit(&a, 100, t + (uint64_t)i * 500000);
    assert_int_equal(fired, 0);
    assert_int_equal(rl_alert_count(&a, t + 50000000), 100);
    /* The 101st within the minute fires, exactly once. */
    assert_true(rl_alert_hit(&a, 100, t + 50000000));
    for (int i = 0; i < 50; i++)
        assert_false(rl_alert_hit(&a, 100, t + 50000000 + (uint64_t)i * 100000));
    /* At t+70 s the window is seconds 11..70: the 22 calls before second 11 left it. */
    assert_int_equal(rl_alert_count(&a, t + 70000000), 151 - 22);
    /* Still above 60 s after the alert (t+110 s): fires again, once. */
    rl_alert_init(&a);
    for (int i = 0; i < 101; i++)
        fired = rl_alert_hit(&a, 100, t + (uint64_t)i * 10000);
    assert_true(fired); /* the 101st call in the same second */
    uint64_t f0 = t + 100 * 10000;
    for (int s = 1; s < 60; s++)
        for (int k = 0; k < 3; k++)
            assert_false(rl_alert_hit(&a, 100, f0 + (uint64_t)s * 1000000));
    /* 59 s later the window holds 3*59 + (part of the burst): over 100, but
     * the 60 s have not passed. */
    assert_false(rl_alert_hit(&a, 100, f0 + 59900000));
    /* 60 s after firing: the burst second has left the window; 3 per second
     * for 59 s = 177 > 100: fires. */
    assert_true(rl_alert_hit(&a, 100, f0 + 60000000));
    assert_false(rl_alert_hit(&a, 100, f0 + 60000001));
    /* A session that calmed down: 60 s after an alert, but below the threshold. */
    rl_alert_init(&a);
    for (int i = 0; i < 101; i++)
        (void)rl_alert_hit(&a, 100, t);
    for (int i = 0; i < 10; i++)
        assert_false(rl_alert_hit(&a, 100, t + 120000000 + (uint64_t)i));
    assert_int_equal(rl_alert_count(&a, t + 120000000), 10);
    /* ... and flooding again later alerts again. */
    int again = 0;
    for (int i = 0; i < 100; i++)
        again += rl_alert_hit(&a, 100, t + 121000000);
    assert_int_equal(again, 1);
    /* threshold 0: never. */
    rl_alert_init(&a);
    for (int i = 0; i < 1000; i++)
        assert_false(rl_alert_hit(&a, 0, t));
    /* A gap of more than a minute empties the window. */
    assert_int_equal(rl_alert_count(&a, t + 61000000), 0);
    /* The clock going back counts in the newest slot and never underflows. */
    rl_alert_init(&a);
    assert_false(rl_alert_hit(&a, 2, t + 5000000));
    assert_false(rl_alert_hit(&a, 2, t));
    assert_true(rl_alert_hit(&a, 2, t + 1000000));
    assert_int_equal(rl_alert_count(&a, t + 5000000), 3);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct ratelimit *rl = limiter("rate_limits:\n  rules: [{name: r, rate: 1/s}]\n");
    struct rl_decision d;
    struct rl_subject s = {.identity = "a", .server = "fs", .tool = "t"};
    assert_int_equal(ratelimit_check(rl, NULL, 0, &d, NULL, NULL, NULL), -1);
    s.identity = NULL;
    assert_int_equal(ratelimit_check(rl, &s, 0, &d, NULL, NULL, NULL), -1);
    s.identity = "a";
    s.tool = NULL;
    assert_int_equal(ratelimit_check(rl, &s, 0, &d, NULL, NULL, NULL), -1);
    s.tool = "t";
    s.nroles = 1; /* roles NULL */
    assert_int_equal(ratelimit_check(rl, &s, 0, &d, NULL, NULL, NULL), -1);
    s.nroles = RL_ROLES_MAX + 1;
    const char *roles[RL_ROLES_MAX + 1] = {0};
    s.roles = roles;
    assert_int_equal(ratelimit_check(rl, &s, 0, &d, NULL, NULL, NULL), -1);
    s.nroles = 0;
    char *big = malloc(RL_FIELD_MAX + 2);
    memset(big, 'x', RL_FIELD_MAX + 1);
    big[RL_FIELD_MAX + 1] = '\0';
    s.identity = big;
    assert_int_equal(ratelimit_check(rl, &s, 0, &d, NULL, NULL, NULL), -1);
    big[RL_FIELD_MAX] = '\0'; /* exactly the maximum is fine */
    assert_int_equal(ratelimit_check(rl, &s, 0, &d, NULL, NULL, NULL), 1);
    assert_true(d.allowed);
    /* Nothing was recorded for the refused inputs. */
    struct rl_stats st;
    ratelimit_stats(rl, &st);
    assert_int_equal(st.checks, 1);
    assert_int_equal(st.keys, 1);
    free(big);
    ratelimit_free(rl);
}

/* Long names in every key part of several rules: the keys no longer fit the
 * stack buffer and are built on the heap. */
static void test_long_keys(void **state)
{
    (void)state;
    struct ratelimit *rl =
        limiter("rate_limits:\n  rules:\n    - {name: a, rate: 2/min}\n    - {name: b, rate: 3/min}\n"
                "    - {name: c, rate: 4/min}\n  budgets:\n"
                "    - {name: d, window: 1h, calls: 5}\n    - {name: e, window: 1d, calls: 6}\n");
    char *id = malloc(RL_FIELD_MAX + 1), *tool = malloc(RL_FIELD_MAX + 1);
    memset(id, 'i', RL_FIELD_MAX);
    memset(tool, 't', RL_FIELD_MAX);
    id[RL_FIELD_MAX] = tool[RL_FIELD_MAX] = '\0';
    struct rl_decision d = check(rl, id, tool, RL_T0_US);
    assert_true(d.allowed);
    assert_int_equal(d.matched, 5);
    assert_int_equal(d.remaining, 1);
    d = check(rl, id, tool, RL_T0_US);
    assert_true(d.allowed);
    d = check(rl, id, tool, RL_T0_US);
    assert_false(d.allowed);
    assert_string_equal(d.rule, "a");
    tool[RL_FIELD_MAX - 1] = 'u'; /* one byte differs at the end: another key */
    assert_true(check(rl, id, tool, RL_T0_US).allowed);
    struct rl_stats st;
    ratelimit_stats(rl, &st);
    assert_int_equal(st.keys, 10);
    free(id);
    free(tool);
    ratelimit_free(rl);
}

/* Idle keys expire: a stream of new identities never grows the table past
 * max_keys and is never refused when the old ones have refilled. */
static void test_keys_expire(void **state)
{
    (void)state;
    struct ratelimit *rl = limiter(
        "rate_limits:\n  max_keys: 500\n  rules: [{name: r, rate: 100/s, key: [identity]}]\n"
        "  budgets: [{name: b, window: 10s, calls: 1000, key: [identity]}]\n");
    char id[32];
    size_t peak = 0;
    for (unsigned i = 0; i < 50000; i++) {
        snprintf(id, sizeof(id), "apikey:%u", i);
        /* one new identity every 50 ms: bucket keys live 1 s, budget keys until their 10 s window ends */
        struct rl_decision d = check(rl, id, "t", RL_T0_US + (uint64_t)i * 50000);
        if (!d.allowed)
            fail_msg("identity %u refused: %s", i, rl_reason_str(d.reason));
        struct rl_stats st;
        ratelimit_stats(rl, &st);
        if (st.keys > peak)
            peak = st.keys;
    }
    /* 20 buckets per second alive (~1 s) + up to 200 budget keys per 10 s window. */
    assert_true(peak <= 500);
    assert_true(peak >= 200);
    ratelimit_free(rl);
}

static void test_reload(void **state)
{
    (void)state;
    struct ratelimit *rl = limiter("rate_limits:\n  rules: [{name: r, rate: 2/min}]\n"
                                   "  budgets: [{name: b, window: 1h, calls: 10}]\n");
    uint64_t t = RL_T0_US;
    assert_true(check(rl, "a", "t", t).allowed);
    assert_true(check(rl, "a", "t", t).allowed);
    assert_false(check(rl, "a", "t", t).allowed);
    struct cfg_errors e;
    char err[200];
    /* Same rule, budget limit raised, alert changed: counters survive. */
    struct rl_config *c = compile_yaml("rate_limits:\n  alert: {calls_per_minute: 7}\n"
                                       "  rules: [{name: r, rate: 2/min}]\n"
                                       "  budgets: [{name: b, window: 1h, calls: 3}]\n",
                                       &e);
    assert_non_null(c);
    assert_int_equal(ratelimit_reload(rl, c, err, sizeof(err)), 0);
    rl_config_free(c);
    assert_int_equal(ratelimit_alert_threshold(rl), 7);
    struct rl_decision d = check(rl, "a", "t", t);
    assert_false(d.allowed);
    assert_string_equal(d.rule, "r");
    /* The bucket refilled: the budget (2 of 3 spent) still counts. */
    d = check(rl, "a", "t", t + 30000000);
    assert_true(d.allowed);
    assert_int_equal(d.remaining, 0);
    d = check(rl, "a", "t", t + 60000000);
    assert_false(d.allowed);
    assert_string_equal(d.rule, "b");
    /* A changed rate starts the rule's buckets afresh. */
    c = compile_yaml("rate_limits:\n  rules: [{name: r, rate: 1/min}]\n", &e);
    assert_int_equal(ratelimit_reload(rl, c, err, sizeof(err)), 0);
    rl_config_free(c);
    assert_true(check(rl, "a", "t", t + 60000000).allowed);
    /* A changed store needs a restart: refused, the old config stays. */
    c = compile_yaml("rate_limits:\n  max_keys: 5\n  rules: [{name: r, rate: 1/h}]\n", &e);
    assert_int_equal(ratelimit_reload(rl, c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "restart"));
    rl_config_free(c);
    assert_false(check(rl, "a", "t", t + 60000000).allowed); /* still 1/min, just spent */
    assert_true(check(rl, "a", "t", t + 120000000).allowed);
    cfg_errors_free(&e);
    ratelimit_free(rl);
}

static void test_messages_and_stats(void **state)
{
    (void)state;
    struct ratelimit *rl = limiter("rate_limits:\n  rules: [{name: writes, rate: 10/min, burst: 1}]\n"
                                   "  budgets: [{name: daily, window: 1d, tokens: 5}]\n");
    uint64_t t = RL_T0_US;
    assert_true(check(rl, "a", "t", t).allowed);
    struct rl_decision d = check(rl, "a", "t", t);
    char msg[128];
    rl_decision_message(&d, msg, sizeof(msg));
    assert_string_equal(msg, "rate limited by rule 'writes': retry after 6 s");
    assert_string_equal(rl_reason_str(d.reason), "rate_limited");
    struct rl_subject s = {.identity = "a", .server = "fs", .tool = "t"};
    ratelimit_account(rl, &s, 100, 9, t);
    d = check(rl, "a", "t", t + 6000000);
    assert_false(d.allowed);
    rl_decision_message(&d, msg, sizeof(msg));
    assert_string_equal(msg, "budget 'daily' exhausted (tokens): retry after 86394 s");
    assert_string_equal(rl_reason_str(d.reason), "budget_exceeded");
    struct rl_stats st;
    ratelimit_stats(rl, &st);
    assert_int_equal(st.checks, 3);
    assert_int_equal(st.allowed, 1);
    assert_int_equal(st.refused, 2);
    assert_int_equal(st.unavailable, 0);
    assert_true(st.store_connected);
    /* Accounting with nothing to count is a no-op; cancel of nothing is harmless. */
    ratelimit_account(rl, &s, 0, 0, t);
    ratelimit_cancel(NULL);
    ratelimit_free(rl);
    ratelimit_free(NULL);
    rl_config_free(NULL);
}

/* The memory store directly: identical keys of different kinds and the
 * refusal of malformed operations. */
static void test_store_mem_ops(void **state)
{
    (void)state;
    struct store *s = store_mem_new(10);
    struct store_op op = {.kind = STORE_BUCKET, .key = "k", .klen = 1, .cap = 10, .cost = 5,
                          .rate = 1, .ttl_us = 10};
    struct store_res r;
    enum store_status st;
    uint64_t fr;
    assert_int_equal(store_take(s, &op, 1, 100, &r, &st, &fr, NULL, NULL, NULL), 1);
    assert_int_equal(st, STORE_OK);
    assert_true(r.ok);
    assert_int_equal(r.remaining, 1);
    assert_int_equal(store_take(s, &op, 1, 100, &r, &st, &fr, NULL, NULL, NULL), 1);
    assert_true(r.ok);
    assert_int_equal(store_take(s, &op, 1, 101, &r, &st, &fr, NULL, NULL, NULL), 1);
    assert_false(r.ok);
    assert_int_equal(r.retry_us, 4);
    op.cost = 0;
    assert_int_equal(store_take(s, &op, 1, 101, &r, &st, &fr, NULL, NULL, NULL), -1);
    op.cost = 11; /* more than the capacity */
    assert_int_equal(store_take(s, &op, 1, 101, &r, &st, &fr, NULL, NULL, NULL), -1);
    op.cost = 5;
    op.klen = 0;
    assert_int_equal(store_take(s, &op, 1, 101, &r, &st, &fr, NULL, NULL, NULL), -1);
    assert_int_equal(store_take(s, &op, 0, 101, &r, &st, &fr, NULL, NULL, NULL), -1);
    store_free(s);
    assert_null(store_mem_new(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenarios),     cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_valid_configs), cmocka_unit_test(test_redis_urls),
        cmocka_unit_test(test_alert),         cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_long_keys),     cmocka_unit_test(test_keys_expire),
        cmocka_unit_test(test_reload),        cmocka_unit_test(test_messages_and_stats),
        cmocka_unit_test(test_store_mem_ops),  cmocka_unit_test(test_many_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
