/* The Redis store against a real redis-server started here (unix socket and
 * a loopback port in a temporary directory): the scenario table (the same
 * expectations as the memory store), two limiters ("two gateways") sharing
 * one budget, lost scripts (NOSCRIPT -> EVAL), AUTH and SELECT, key expiry,
 * the server going away and coming back, cancel and shutdown.
 * Without redis-server the test is skipped (exit 77) with the reason printed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "policy/ratelimit.h"
#include "rl_scen.h"

extern char **environ;

static char redis_bin[512];
static char tmpdir[64];
static char sockpath[100];
static char unix_url[128];
static uint16_t port;
static pid_t redis_pid = -1;

static bool find_redis(void)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/bin:/bin";
    while (*path != '\0') {
        const char *e = strchr(path, ':');
        size_t n = e != NULL ? (size_t)(e - path) : strlen(path);
        snprintf(redis_bin, sizeof(redis_bin), "%.*s/redis-server", (int)n, path);
        if (n > 0 && access(redis_bin, X_OK) == 0)
            return true;
        path += n + (e != NULL ? 1 : 0);
    }
    return false;
}

static uint16_t free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t al = sizeof(a);
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &al) < 0) {
        close(s);
        return 0;
    }
    close(s);
    return ntohs(a.sin_port);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static redisContext *admin(void)
{
    redisContext *c = redisConnectUnix(sockpath);
    if (c == NULL || c->err) {
        if (c != NULL)
            redisFree(c);
        return NULL;
    }
    return c;
}

/* Starts redis-server and waits until it answers PING (up to 10 s). */
static int redis_start(void)
{
    char portarg[16], logfile[128];
    snprintf(portarg, sizeof(portarg), "%u", port);
    snprintf(logfile, sizeof(logfile), "%.80s/redis.log", tmpdir);
    char *argv[] = {redis_bin, "--port", portarg, "--bind", "127.0.0.1", "--unixsocket", sockpath,
                    "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir",
                    tmpdir, "--loglevel", "warning", "--logfile", logfile, "--daemonize", "no", NULL};
    if (posix_spawn(&redis_pid, redis_bin, NULL, NULL, argv, environ) != 0)
        return -1;
    for (int i = 0; i < 200; i++) {
        redisContext *c = admin();
        if (c != NULL) {
            redisReply *r = redisCommand(c, "PING");
            bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
            if (r != NULL)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return 0;
        }
        int st;
        if (waitpid(redis_pid, &st, WNOHANG) == redis_pid) {
            redis_pid = -1;
            return -1;
        }
        sleep_ms(50);
    }
    return -1;
}

static void redis_stop(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
        redis_pid = -1;
    }
    unlink(sockpath);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mcpwall-redis-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(sockpath, sizeof(sockpath), "%.80s/redis.sock", tmpdir);
    snprintf(unix_url, sizeof(unix_url), "unix:%s", sockpath);
    port = free_port();
    if (port == 0 || redis_start() < 0) {
        fprintf(stderr, "cannot start %s\n", redis_bin);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    redis_stop();
    char p[128];
    snprintf(p, sizeof(p), "%.80s/dump.rdb", tmpdir);
    unlink(p);
    snprintf(p, sizeof(p), "%.80s/redis.log", tmpdir);
    unlink(p);
    rmdir(tmpdir);
    return 0;
}

static struct ratelimit *limiter(struct event_base *base, const char *url, const char *prefix,
                                 const char *store_extra, const char *body)
{
    char y[1024];
    snprintf(y, sizeof(y),
             "rate_limits:\n  store: {redis: \"%s\", prefix: \"%s\", timeout: 10s%s}\n%s", url,
             prefix, store_extra, body);
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *doc = cfg_load_mem("redis.yaml", y, strlen(y), false, &e);
    assert_non_null(doc);
    struct rl_config *c = ratelimit_compile(doc, json_object_get(doc->root, "rate_limits"), &e);
    if (c == NULL)
        cfg_errors_print(&e, stderr);
    assert_non_null(c);
    cfg_doc_free(doc);
    cfg_errors_free(&e);
    char err[128];
    struct ratelimit *rl = ratelimit_new(c, base, err, sizeof(err));
    if (rl == NULL)
        fail_msg("ratelimit_new: %s", err);
    rl_config_free(c);
    return rl;
}

static const struct rl_subject alice = {.identity = "apikey:alice", .server = "fs", .tool = "read"};

static void test_scenarios(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct rl_backend be = {.base = base, .redis_url = unix_url};
    size_t n = rl_run_scenarios(&be);
    assert_true(n >= 18);
    event_base_free(base);
}

struct waiter {
    int calls;
    bool done;
    struct rl_decision d;
};

static void on_done(void *arg, const struct rl_decision *d)
{
    struct waiter *w = arg;
    w->calls++;
    w->done = true;
    w->d = *d;
}

/* Two limiters, two connections, one Redis: one budget. Over TCP. */
static void test_two_gateways_share(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%u/0", port);
    const char *body = "  rules: [{name: r, rate: 5/min, key: [identity]}]\n"
                       "  budgets: [{name: b, window: 1h, result_bytes: 1000, key: [identity]}]\n";
    struct ratelimit *g1 = limiter(base, url, "share:", "", body);
    struct ratelimit *g2 = limiter(base, unix_url, "share:", "", body);
    struct rl_decision d;
    int allowed = 0;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(rl_test_check(i % 2 ? g2 : g1, base, &alice, RL_T0_US, &d), 0);
        allowed += d.allowed;
    }
    assert_int_equal(allowed, 5);
    /* Many in flight at once from both: still exactly the burst. */
    struct waiter w[40] = {0};
    struct rl_subject bob = alice;
    bob.identity = "apikey:bob";
    for (int i = 0; i < 40; i++)
        assert_int_equal(ratelimit_check(i % 2 ? g2 : g1, &bob, RL_T0_US, &d, on_done, &w[i], NULL),
                         0);
    for (int i = 0; i < 40; i++)
        rl_test_loop_until(base, &w[i].done);
    allowed = 0;
    for (int i = 0; i < 40; i++) {
        assert_int_equal(w[i].calls, 1);
        allowed += w[i].d.allowed;
        if (!w[i].d.allowed)
            assert_string_equal(w[i].d.rule, "r");
    }
    assert_int_equal(allowed, 5);
    /* Bytes accounted by one gateway count at the other. */
    struct rl_subject carol = alice;
    carol.identity = "apikey:carol";
    assert_int_equal(rl_test_check(g2, base, &carol, RL_T0_US, &d), 0);
    assert_true(d.allowed);
    ratelimit_account(g1, &carol, 1000, 0, RL_T0_US);
    /* g1's account and g2's check travel on different connections: wait until
     * Redis has applied it (a check through g1 is answered after it). */
    assert_int_equal(rl_test_check(g1, base, &alice, RL_T0_US, &d), 0);
    assert_int_equal(rl_test_check(g2, base, &carol, RL_T0_US + 1000000, &d), 0);
    assert_false(d.allowed);
    assert_string_equal(rl_reason_str(d.reason), "budget_exceeded");
    assert_string_equal(d.rule, "b");
    ratelimit_free(g1);
    ratelimit_free(g2);
    event_base_free(base);
}

static void admin_do(const char *fmt, const char *a, const char *b)
{
    redisContext *c = admin();
    assert_non_null(c);
    redisReply *r = b != NULL ? redisCommand(c, fmt, a, b) : a != NULL ? redisCommand(c, fmt, a)
                                                                       : redisCommand(c, fmt);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", fmt, r->str);
    freeReplyObject(r);
    redisFree(c);
}

/* SCRIPT FLUSH (a restarted or failed-over server): EVALSHA gets NOSCRIPT
 * and the store falls back to EVAL; the decision is still right. */
static void test_noscript_fallback(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct ratelimit *rl = limiter(base, unix_url, "noscript:", "",
                                   "  rules: [{name: r, rate: 2/min}]\n"
                                   "  budgets: [{name: b, window: 1h, tokens: 10}]\n");
    struct rl_decision d;
    assert_int_equal(rl_test_check(rl, base, &alice, RL_T0_US, &d), 0);
    assert_true(d.allowed);
    admin_do("SCRIPT FLUSH", NULL, NULL);
    assert_int_equal(rl_test_check(rl, base, &alice, RL_T0_US, &d), 0);
    assert_true(d.allowed);
    assert_int_equal(d.remaining, 0);
    admin_do("SCRIPT FLUSH", NULL, NULL);
    ratelimit_account(rl, &alice, 5, 10, RL_T0_US); /* account script: NOSCRIPT too */
    assert_int_equal(rl_test_check(rl, base, &alice, RL_T0_US + 30000000, &d), 0);
    assert_false(d.allowed);
    assert_string_equal(d.rule, "b");
    assert_int_equal(d.dim, RL_DIM_TOKENS);
    struct rl_stats st;
    ratelimit_stats(rl, &st);
    assert_int_equal(st.store_errors, 0);
    assert_true(st.store_connected);
    ratelimit_free(rl);
    event_base_free(base);
}

/* Keys carry the prefix and expire once they would read as fresh. */
static void test_keys_and_expiry(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct ratelimit *rl = limiter(base, unix_url, "exp:", "",
                                   "  rules: [{name: r, rate: 10/s}]\n"
                                   "  budgets: [{name: b, window: 1h, calls: 10}]\n");
    struct rl_decision d;
    assert_int_equal(rl_test_check(rl, base, &alice, RL_T0_US, &d), 0);
    assert_true(d.allowed);
    redisContext *c = admin();
    redisReply *r = redisCommand(c, "KEYS exp:*");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    for (size_t i = 0; i < r->elements; i++) {
        const char *k = r->element[i]->str;
        redisReply *t = redisCommand(c, "PTTL %s", k);
        assert_true(t->integer > 0);
        if (strncmp(k, "exp:r:r:", 8) == 0) {
            /* a bucket: refilled from empty within 1 s, plus 1 s of slack */
            assert_true(t->integer <= 2000);
            assert_non_null(strstr(k, "|i12:apikey:alice|s2:fs|t4:read"));
        } else {
            /* a budget: until the end of its window (plus a minute of slack) */
            assert_int_equal(strncmp(k, "exp:b:b:3600:", 13), 0);
            assert_true(t->integer <= 3600000 + 60000);
        }
        freeReplyObject(t);
    }
    freeReplyObject(r);
    redisFree(c);
    ratelimit_free(rl);
    event_base_free(base);
}

/* AUTH and SELECT: the right password works and lands in the named
 * database; a wrong one fails closed. */
static void test_auth_and_db(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    admin_do("CONFIG SET requirepass %s", "s3cret", NULL);
    char url[96];
    snprintf(url, sizeof(url), "redis://:s3cret@127.0.0.1:%u/3", port);
    struct ratelimit *rl = limiter(base, url, "auth:", "", "  rules: [{name: r, rate: 1/min}]\n");
    struct rl_decision d;
    assert_int_equal(rl_test_check(rl, base, &alice, RL_T0_US, &d), 0);
    assert_true(d.allowed);
    assert_int_equal(rl_test_check(rl, base, &alice, RL_T0_US, &d), 0);
    assert_false(d.allowed);
    ratelimit_free(rl);
    snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%u/3", port);
    rl = limiter(base, url, "auth:", "", "  rules: [{name: r, rate: 1/min}]\n");
    rl_test_check(rl, base, &alice, RL_T0_US + 120000000, &d);
    assert_false(d.allowed);
    assert_int_equal(d.reason, RL_UNAVAILABLE);
    ratelimit_free(rl);
    /* The key went to database 3. */
    redisContext *c = admin();
    redisReply *r = redisCommand(c, "AUTH s3cret");
    freeReplyObject(r);
    r = redisCommand(c, "SELECT 3");
    freeReplyObject(r);
    r = redisCommand(c, "KEYS auth:*");
    assert_int_equal(r->elements, 1);
    freeReplyObject(r);
    r = redisCommand(c, "CONFIG SET requirepass %s", "");
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
    event_base_free(base);
}

static void test_cancel_and_shutdown(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct ratelimit *rl = limiter(base, unix_url, "cancel:", "", "  rules: [{name: r, rate: 1/min}]\n");
    struct waiter w1 = {0}, w2 = {0}, w3 = {0};
    struct rl_decision d;
    struct rl_pending *p1 = NULL;
    assert_int_equal(ratelimit_check(rl, &alice, RL_T0_US, &d, on_done, &w1, &p1), 0);
    assert_int_equal(ratelimit_check(rl, &alice, RL_T0_US, &d, on_done, &w2, NULL), 0);
    ratelimit_cancel(p1);
    /* Replies come in order: once the second is decided the first's reply
     * has arrived too, and was dropped. The cancelled check still spent
     * its token (Redis ran it), so the second is refused. */
    rl_test_loop_until(base, &w2.done);
    assert_int_equal(w1.calls, 0);
    assert_int_equal(w2.calls, 1);
    assert_false(w2.d.allowed);
    assert_int_equal(w2.d.reason, RL_RATE_LIMITED);
    /* Shutdown with a check in flight: it completes, once, unavailable. */
    assert_int_equal(ratelimit_check(rl, &alice, RL_T0_US, &d, on_done, &w3, NULL), 0);
    ratelimit_free(rl);
    assert_int_equal(w3.calls, 1);
    assert_int_equal(w3.d.reason, RL_UNAVAILABLE);
    assert_false(w3.d.allowed);
    event_base_free(base);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

static void run_for(struct event_base *base, int ms)
{
    bool fired = false;
    struct event *t = evtimer_new(base, on_tick, &fired);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(t, &tv);
    rl_test_loop_until(base, &fired);
    event_free(t);
}

/* Redis goes away: deny (default) or allow per on_error; it comes back: the
 * store reconnects by itself. Runs last (it restarts the server). */
static void test_redis_down_and_back(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    const char *body = "  rules: [{name: r, rate: 100/s}]\n";
    struct ratelimit *deny = limiter(base, unix_url, "down:", "", body);
    struct ratelimit *allow = limiter(base, unix_url, "down:", ", on_error: allow", body);
    struct rl_decision d;
    assert_int_equal(rl_test_check(deny, base, &alice, RL_T0_US, &d), 0);
    assert_true(d.allowed);
    assert_int_equal(d.reason, RL_OK);
    assert_int_equal(rl_test_check(allow, base, &alice, RL_T0_US, &d), 0);
    assert_true(d.allowed);
    redis_stop();
    for (int i = 0; i < 3; i++) {
        rl_test_check(deny, base, &alice, RL_T0_US, &d);
        assert_false(d.allowed);
        assert_int_equal(d.reason, RL_UNAVAILABLE);
        assert_int_equal(d.retry_after, 1);
        rl_test_check(allow, base, &alice, RL_T0_US, &d);
        assert_true(d.allowed);
        assert_int_equal(d.reason, RL_UNAVAILABLE);
    }
    struct rl_stats st;
    ratelimit_stats(deny, &st);
    assert_false(st.store_connected);
    assert_int_equal(redis_start(), 0);
    /* Back within the reconnect backoff (100 ms, doubling, at most 5 s). */
    bool back = false;
    for (int i = 0; i < 200 && !back; i++) {
        rl_test_check(deny, base, &alice, RL_T0_US + 1000000, &d);
        back = d.allowed && d.reason == RL_OK;
        if (!back)
            run_for(base, 50);
    }
    assert_true(back);
    ratelimit_stats(deny, &st);
    assert_true(st.store_connected);
    ratelimit_free(deny);
    ratelimit_free(allow);
    event_base_free(base);
}

/* What a call cost is not lost to an outage: accounting made while Redis is
 * away waits (in order, up to a bound) and is applied once it is back, so the
 * budget holds afterwards; past the bound it is counted as dropped. */
static void test_account_waits_for_redis(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    const char *body = "  budgets: [{name: b, window: 1h, result_bytes: 1000, key: [identity]}]\n";
    struct ratelimit *rl = limiter(base, unix_url, "acct:", ", on_error: allow", body);
    struct rl_subject carol = alice;
    carol.identity = "apikey:carol";
    struct rl_decision d;
    assert_int_equal(rl_test_check(rl, base, &carol, RL_T0_US, &d), 0);
    assert_true(d.allowed);
    assert_int_equal(d.reason, RL_OK);
    redis_stop();
    /* Allowed while Redis is away (on_error: allow); its cost is kept. */
    rl_test_check(rl, base, &carol, RL_T0_US, &d);
    assert_true(d.allowed);
    assert_int_equal(d.reason, RL_UNAVAILABLE);
    ratelimit_account(rl, &carol, 1000, 0, RL_T0_US);
    struct rl_subject dave = alice;
    dave.identity = "apikey:dave";
    for (int i = 0; i < 4096 + 3; i++) /* the bound: 4096 kept, 4 in all past it */
        ratelimit_account(rl, &dave, 1, 0, RL_T0_US);
    struct rl_stats st;
    ratelimit_stats(rl, &st);
    assert_int_equal(st.account_dropped, 4);
    assert_int_equal(redis_start(), 0);
    bool back = false;
    for (int i = 0; i < 200 && !back; i++) {
        rl_test_check(rl, base, &alice, RL_T0_US + 1000000, &d);
        back = d.reason == RL_OK;
        if (!back)
            run_for(base, 50);
    }
    assert_true(back);
    /* The kept accounting went out when the connection came up; a check is
     * answered after it on the same connection. */
    run_for(base, 100);
    assert_int_equal(rl_test_check(rl, base, &carol, RL_T0_US + 2000000, &d), 0);
    assert_false(d.allowed);
    assert_string_equal(rl_reason_str(d.reason), "budget_exceeded");
    assert_string_equal(d.rule, "b");
    /* dave: 4095 of the 4099 bytes arrived (1 byte per call is under 1000 per
     * window until then): refused as well. */
    assert_int_equal(rl_test_check(rl, base, &dave, RL_T0_US + 2000000, &d), 0);
    assert_false(d.allowed);
    ratelimit_stats(rl, &st);
    assert_int_equal(st.account_dropped, 4);
    ratelimit_free(rl);
    event_base_free(base);
}

int main(void)
{
    if (!find_redis()) {
        printf("SKIP: redis-server is not installed (scripts/install-deps.sh test installs it); "
               "the Redis store was not tested against a real server\n");
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenarios),          cmocka_unit_test(test_two_gateways_share),
        cmocka_unit_test(test_noscript_fallback),  cmocka_unit_test(test_keys_and_expiry),
        cmocka_unit_test(test_auth_and_db),        cmocka_unit_test(test_cancel_and_shutdown),
        cmocka_unit_test(test_redis_down_and_back),
        cmocka_unit_test(test_account_waits_for_redis),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
