#include "rl_scen.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "testutil.h"

struct rl_config *rl_test_config(struct rl_backend *be, const char *json_section)
{
    struct cfg_errors e;
    cfg_errors_init(&e);
    char *text = NULL;
    if (be->redis_url != NULL) {
        json_t *sec = json_loads(json_section, 0, NULL);
        assert_non_null(sec);
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "t%ld:%u:", (long)getpid(), be->seq++);
        json_object_set_new(sec, "store", json_pack("{s:s, s:s, s:s}", "redis", be->redis_url,
                                                    "prefix", prefix, "timeout", "10s"));
        json_t *root = json_pack("{s:o}", "rate_limits", sec);
        text = json_dumps(root, JSON_COMPACT);
        json_decref(root);
    } else {
        size_t n = strlen(json_section) + 32;
        text = malloc(n);
        snprintf(text, n, "{\"rate_limits\": %s}", json_section);
    }
    struct cfg_doc *doc = cfg_load_mem("scenario.json", text, strlen(text), true, &e);
    free(text);
    if (doc == NULL) {
        cfg_errors_print(&e, stderr);
        fail_msg("scenario config does not load");
    }
    struct rl_config *c = ratelimit_compile(doc, json_object_get(doc->root, "rate_limits"), &e);
    if (c == NULL) {
        cfg_errors_print(&e, stderr);
        fail_msg("scenario config does not compile");
    }
    cfg_doc_free(doc);
    cfg_errors_free(&e);
    return c;
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

void rl_test_loop_until(struct event_base *base, const bool *flag)
{
    bool expired = false;
    struct event *wd = evtimer_new(base, on_watchdog, &expired);
    struct timeval tv = {20, 0};
    evtimer_add(wd, &tv);
    while (!*flag && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(wd);
    if (!*flag)
        fail_msg("nothing happened on the loop within 20 s");
}

struct waiter {
    bool done;
    int calls;
    struct rl_decision d;
};

static void on_done(void *arg, const struct rl_decision *d)
{
    struct waiter *w = arg;
    w->d = *d;
    w->calls++;
    w->done = true;
}

int rl_test_check(struct ratelimit *rl, struct event_base *base, const struct rl_subject *who,
                  uint64_t now_us, struct rl_decision *d)
{
    struct waiter w = {0};
    int rc = ratelimit_check(rl, who, now_us, d, on_done, &w, NULL);
    assert_true(rc == 0 || rc == 1);
    if (rc == 0) {
        assert_non_null(base);
        rl_test_loop_until(base, &w.done);
        assert_int_equal(w.calls, 1);
        *d = w.d;
    }
    return rc;
}

struct subj {
    const char *roles[RL_ROLES_MAX];
    struct rl_subject s;
};

static void subject_from(json_t *def, json_t *over, struct subj *out)
{
    memset(out, 0, sizeof(*out));
    const char *names[3] = {"identity", "server", "tool"};
    const char **dst[3] = {&out->s.identity, &out->s.server, &out->s.tool};
    for (int i = 0; i < 3; i++) {
        json_t *v = over != NULL ? json_object_get(over, names[i]) : NULL;
        if (v == NULL)
            v = json_object_get(def, names[i]);
        *dst[i] = json_string_value(v);
    }
    json_t *roles = over != NULL ? json_object_get(over, "roles") : NULL;
    if (roles == NULL)
        roles = json_object_get(def, "roles");
    size_t i;
    json_t *r;
    json_array_foreach(roles, i, r) out->roles[out->s.nroles++] = json_string_value(r);
    out->s.roles = out->roles;
}

static void expect_decision(const char *where, json_t *ex, const struct rl_decision *d)
{
    json_t *v;
    if ((v = json_object_get(ex, "allowed")) != NULL && json_is_true(v) != d->allowed)
        fail_msg("%s: allowed %d, expected %d (reason %s, rule '%s')", where, d->allowed,
                 json_is_true(v), rl_reason_str(d->reason), d->rule);
    if ((v = json_object_get(ex, "reason")) != NULL &&
        strcmp(json_string_value(v), rl_reason_str(d->reason)) != 0)
        fail_msg("%s: reason %s, expected %s", where, rl_reason_str(d->reason),
                 json_string_value(v));
    if ((v = json_object_get(ex, "rule")) != NULL && strcmp(json_string_value(v), d->rule) != 0)
        fail_msg("%s: rule '%s', expected '%s'", where, d->rule, json_string_value(v));
    if ((v = json_object_get(ex, "dim")) != NULL &&
        strcmp(json_string_value(v), rl_dim_str(d->dim)) != 0)
        fail_msg("%s: dim '%s', expected '%s'", where, rl_dim_str(d->dim), json_string_value(v));
    if ((v = json_object_get(ex, "retry_after")) != NULL &&
        json_integer_value(v) != (json_int_t)d->retry_after)
        fail_msg("%s: retry_after %u, expected %lld", where, d->retry_after,
                 (long long)json_integer_value(v));
    if ((v = json_object_get(ex, "retry_after_us")) != NULL &&
        json_integer_value(v) != (json_int_t)d->retry_after_us)
        fail_msg("%s: retry_after_us %llu, expected %lld", where,
                 (unsigned long long)d->retry_after_us, (long long)json_integer_value(v));
    if ((v = json_object_get(ex, "remaining")) != NULL && json_integer_value(v) != d->remaining)
        fail_msg("%s: remaining %lld, expected %lld", where, (long long)d->remaining,
                 (long long)json_integer_value(v));
    if ((v = json_object_get(ex, "matched")) != NULL &&
        json_integer_value(v) != (json_int_t)d->matched)
        fail_msg("%s: matched %u, expected %lld", where, d->matched,
                 (long long)json_integer_value(v));
    if ((v = json_object_get(ex, "timeout_ms")) != NULL &&
        json_integer_value(v) * 1000 != (json_int_t)d->timeout_us)
        fail_msg("%s: timeout %llu us, expected %lld ms", where,
                 (unsigned long long)d->timeout_us, (long long)json_integer_value(v));
    if (d->allowed && d->retry_after != 0)
        fail_msg("%s: allowed with retry_after %u", where, d->retry_after);
    if (!d->allowed && d->retry_after == 0)
        fail_msg("%s: refused without retry_after", where);
}

size_t rl_run_scenarios(struct rl_backend *be)
{
    json_t *cases = tu_load_cases("tests/cases/ratelimit/scenarios.jsonl");
    size_t i, ran = 0;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        if (be->redis_url != NULL && json_is_true(json_object_get(c, "memory_only")))
            continue;
        char *sec = json_dumps(json_object_get(c, "config"), JSON_COMPACT);
        struct rl_config *cfg = rl_test_config(be, sec);
        free(sec);
        char err[256];
        struct ratelimit *rl = ratelimit_new(cfg, be->base, err, sizeof(err));
        if (rl == NULL)
            fail_msg("%s: %s", TU_CASE_NAME(c), err);
        json_t *def = json_object_get(c, "who");
        size_t j;
        json_t *st;
        json_array_foreach(json_object_get(c, "steps"), j, st)
        {
            struct subj sj;
            subject_from(def, json_object_get(st, "who"), &sj);
            double t = json_number_value(json_object_get(st, "t"));
            uint64_t now = RL_T0_US + (uint64_t)llround(t * 1e6);
            json_t *acct = json_object_get(st, "account");
            if (acct != NULL) {
                ratelimit_account(rl, &sj.s,
                                  (uint64_t)json_integer_value(json_object_get(acct, "bytes")),
                                  (uint64_t)json_integer_value(json_object_get(acct, "tokens")),
                                  now);
                continue;
            }
            json_int_t rep = json_integer_value(json_object_get(st, "repeat"));
            for (json_int_t k = 0; k < (rep > 0 ? rep : 1); k++) {
                struct rl_decision d;
                char where[512];
                snprintf(where, sizeof(where), "%s (line %lld) step %zu #%lld [%s]",
                         TU_CASE_NAME(c), (long long)json_integer_value(json_object_get(c, "_line")),
                         j + 1, (long long)k + 1, be->redis_url != NULL ? "redis" : "memory");
                rl_test_check(rl, be->base, &sj.s, now, &d);
                expect_decision(where, json_object_get(st, "expect"), &d);
            }
        }
        ratelimit_free(rl);
        rl_config_free(cfg);
        ran++;
    }
    json_decref(cases);
    return ran;
}
