/* The Redis store against servers that misbehave, no redis-server needed:
 * nothing listening (on_error deny and allow), a server that accepts and
 * never answers (timeout, cancel, shutdown with checks pending, freeing the
 * limiter from inside its own callback, max_inflight, reconnect of a stuck
 * connection). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "policy/ratelimit.h"
#include "rl_scen.h"

static char tmpdir[64];
static char sockpath[100];

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mcpwall-rlfake-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(sockpath, sizeof(sockpath), "%.80s/silent.sock", tmpdir);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(sockpath);
    rmdir(tmpdir);
    return 0;
}

/* A unix socket that listens and never accepts: connects succeed (the
 * kernel queues them), commands are never answered. */
static int silent_server(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    assert_true(fd >= 0);
    unlink(sockpath);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", sockpath);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

/* Accepted connections, kept open and silent. */
static int held[64];
static int nheld;

/* Connections queued on the listener (accepts them and keeps them open). */
static int drain_accepts(int lfd)
{
    int n = 0;
    int fl = fcntl(lfd, F_GETFL);
    fcntl(lfd, F_SETFL, fl | O_NONBLOCK);
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0)
            break;
        assert_true(nheld < 64);
        held[nheld++] = c;
        n++;
    }
    fcntl(lfd, F_SETFL, fl);
    return n;
}

static void close_held(void)
{
    while (nheld > 0)
        close(held[--nheld]);
}

static struct ratelimit *limiter(struct event_base *base, const char *url, const char *extra)
{
    char y[512];
    snprintf(y, sizeof(y),
             "rate_limits:\n  store: {redis: \"%s\", timeout: 50ms%s}\n"
             "  rules: [{name: r, rate: 10/s, timeout: 5s}]\n",
             url, extra);
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *doc = cfg_load_mem("fake.yaml", y, strlen(y), false, &e);
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

static const struct rl_subject who = {.identity = "apikey:alice", .server = "fs", .tool = "read"};

struct waiter {
    int calls;
    bool done;
    struct rl_decision d;
    struct ratelimit **free_rl; /* when set, the callback frees the limiter */
};

static void on_done(void *arg, const struct rl_decision *d)
{
    struct waiter *w = arg;
    w->calls++;
    w->done = true;
    w->d = *d;
    if (w->free_rl != NULL && *w->free_rl != NULL) {
        struct ratelimit *rl = *w->free_rl;
        *w->free_rl = NULL;
        ratelimit_free(rl);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

/* Runs the loop for ms milliseconds. */
static void run_for(struct event_base *base, int ms)
{
    bool fired = false;
    struct event *t = evtimer_new(base, on_tick, &fired);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(t, &tv);
    rl_test_loop_until(base, &fired);
    event_free(t);
}

static void test_nothing_listening(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    char url[160];
    snprintf(url, sizeof(url), "unix:%s/nobody.sock", tmpdir);
    /* Fail closed by default. */
    struct ratelimit *rl = limiter(base, url, "");
    struct rl_decision d;
    rl_test_check(rl, base, &who, RL_T0_US, &d);
    assert_false(d.allowed);
    assert_string_equal(rl_reason_str(d.reason), "limiter_unavailable");
    assert_int_equal(d.retry_after, 1);
    assert_int_equal(d.timeout_us, 5000000); /* the rule's timeout still comes with it */
    char msg[96];
    rl_decision_message(&d, msg, sizeof(msg));
    assert_string_equal(msg, "rate limiter unavailable: retry after 1 s");
    struct rl_stats st;
    ratelimit_stats(rl, &st);
    assert_false(st.store_connected);
    assert_true(st.store_errors >= 1);
    assert_int_equal(st.unavailable, 1);
    ratelimit_free(rl);
    /* on_error: allow lets calls through, marked. */
    rl = limiter(base, url, ", on_error: allow");
    rl_test_check(rl, base, &who, RL_T0_US, &d);
    assert_true(d.allowed);
    assert_string_equal(rl_reason_str(d.reason), "limiter_unavailable");
    assert_int_equal(d.retry_after, 0);
    ratelimit_free(rl);
    /* TCP: a port nobody listens on (connect fails on the loop). */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
    close(s); /* the port is now (very likely) closed */
    snprintf(url, sizeof(url), "redis://127.0.0.1:%u/0", ntohs(a.sin_port));
    rl = limiter(base, url, "");
    for (int i = 0; i < 3; i++) {
        rl_test_check(rl, base, &who, RL_T0_US, &d);
        assert_false(d.allowed);
        assert_int_equal(d.reason, RL_UNAVAILABLE);
    }
    ratelimit_free(rl);
    event_base_free(base);
}

static void test_timeout(void **state)
{
    (void)state;
    int lfd = silent_server();
    struct event_base *base = event_base_new();
    char url[160];
    snprintf(url, sizeof(url), "unix:%s", sockpath);
    struct ratelimit *rl = limiter(base, url, "");
    struct waiter w = {0};
    struct rl_decision d;
    struct rl_pending *p = NULL;
    assert_int_equal(ratelimit_check(rl, &who, RL_T0_US, &d, on_done, &w, &p), 0);
    assert_non_null(p);
    assert_int_equal(w.calls, 0); /* never from inside ratelimit_check */
    rl_test_loop_until(base, &w.done);
    assert_int_equal(w.calls, 1);
    assert_false(w.d.allowed);
    assert_int_equal(w.d.reason, RL_UNAVAILABLE);
    assert_int_equal(w.d.timeout_us, 5000000);
    struct rl_stats st;
    ratelimit_stats(rl, &st);
    assert_int_equal(st.store_timeouts, 1);
    /* Nothing more arrives for it later. */
    run_for(base, 120);
    assert_int_equal(w.calls, 1);
    ratelimit_free(rl);
    assert_int_equal(w.calls, 1);
    event_base_free(base);
    close(lfd);
}

static void test_cancel(void **state)
{
    (void)state;
    int lfd = silent_server();
    struct event_base *base = event_base_new();
    char url[160];
    snprintf(url, sizeof(url), "unix:%s", sockpath);
    struct ratelimit *rl = limiter(base, url, "");
    struct waiter w1 = {0}, w2 = {0};
    struct rl_decision d;
    struct rl_pending *p1 = NULL, *p2 = NULL;
    assert_int_equal(ratelimit_check(rl, &who, RL_T0_US, &d, on_done, &w1, &p1), 0);
    assert_int_equal(ratelimit_check(rl, &who, RL_T0_US, &d, on_done, &w2, &p2), 0);
    ratelimit_cancel(p1);
    /* The other one still times out; the cancelled one never calls back. */
    rl_test_loop_until(base, &w2.done);
    run_for(base, 120);
    assert_int_equal(w1.calls, 0);
    assert_int_equal(w2.calls, 1);
    struct rl_stats st;
    ratelimit_stats(rl, &st);
    assert_int_equal(st.store_timeouts, 1);
    /* Cancel then free: still never. */
    struct waiter w3 = {0};
    struct rl_pending *p3 = NULL;
    assert_int_equal(ratelimit_check(rl, &who, RL_T0_US, &d, on_done, &w3, &p3), 0);
    ratelimit_cancel(p3);
    ratelimit_free(rl);
    assert_int_equal(w3.calls, 0);
    event_base_free(base);
    close(lfd);
}

static void test_shutdown_pending(void **state)
{
    (void)state;
    int lfd = silent_server();
    struct event_base *base = event_base_new();
    char url[160];
    snprintf(url, sizeof(url), "unix:%s", sockpath);
    struct ratelimit *rl = limiter(base, url, "");
    struct waiter w[3] = {0};
    struct rl_decision d;
    for (int i = 0; i < 3; i++)
        assert_int_equal(ratelimit_check(rl, &who, RL_T0_US, &d, on_done, &w[i], NULL), 0);
    ratelimit_free(rl);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(w[i].calls, 1);
        assert_false(w[i].d.allowed);
        assert_int_equal(w[i].d.reason, RL_UNAVAILABLE);
    }
    run_for(base, 60);
    for (int i = 0; i < 3; i++)
        assert_int_equal(w[i].calls, 1);
    event_base_free(base);
    close(lfd);
}

/* The gateway may tear the limiter down from inside a decision callback. */
static void test_free_inside_callback(void **state)
{
    (void)state;
    int lfd = silent_server();
    struct event_base *base = event_base_new();
    char url[160];
    snprintf(url, sizeof(url), "unix:%s", sockpath);
    struct ratelimit *rl = limiter(base, url, "");
    struct waiter w1 = {.free_rl = &rl}, w2 = {0};
    struct rl_decision d;
    assert_int_equal(ratelimit_check(rl, &who, RL_T0_US, &d, on_done, &w1, NULL), 0);
    assert_int_equal(ratelimit_check(rl, &who, RL_T0_US, &d, on_done, &w2, NULL), 0);
    rl_test_loop_until(base, &w1.done);
    assert_null(rl);
    assert_int_equal(w1.calls, 1);
    assert_int_equal(w2.calls, 1); /* completed by the free (or its own timeout) */
    run_for(base, 120);
    assert_int_equal(w1.calls, 1);
    assert_int_equal(w2.calls, 1);
    event_base_free(base);
    close(lfd);
}

static void test_max_inflight(void **state)
{
    (void)state;
    int lfd = silent_server();
    struct event_base *base = event_base_new();
    char url[160];
    snprintf(url, sizeof(url), "unix:%s", sockpath);
    struct ratelimit *rl = limiter(base, url, ", max_inflight: 2");
    struct waiter w[3] = {0};
    struct rl_decision d;
    assert_int_equal(ratelimit_check(rl, &who, RL_T0_US, &d, on_done, &w[0], NULL), 0);
    assert_int_equal(ratelimit_check(rl, &who, RL_T0_US, &d, on_done, &w[1], NULL), 0);
    /* The third is refused at once instead of queueing. */
    assert_int_equal(ratelimit_check(rl, &who, RL_T0_US, &d, on_done, &w[2], NULL), 1);
    assert_false(d.allowed);
    assert_int_equal(d.reason, RL_UNAVAILABLE);
    assert_int_equal(w[2].calls, 0);
    ratelimit_free(rl);
    event_base_free(base);
    close(lfd);
}

/* A connection that never answers is dropped after max(1 s, 10 x timeout)
 * and a new one is opened. */
static void test_stuck_connection_reopened(void **state)
{
    (void)state;
    int lfd = silent_server();
    struct event_base *base = event_base_new();
    char url[160];
    snprintf(url, sizeof(url), "unix:%s", sockpath);
    struct ratelimit *rl = limiter(base, url, "");
    assert_int_equal(drain_accepts(lfd), 1);
    int conns = 1;
    for (int i = 0; i < 40 && conns < 2; i++) {
        struct rl_decision d;
        if (rl_test_check(rl, base, &who, RL_T0_US, &d) == 1)
            run_for(base, 30); /* down, waiting for the reconnect backoff */
        assert_false(d.allowed);
        conns += drain_accepts(lfd);
    }
    assert_true(conns >= 2);
    ratelimit_free(rl);
    close_held();
    event_base_free(base);
    close(lfd);
}

int main(void)
{
    /* hiredis writes with write(2): a peer that closed raises SIGPIPE, which
     * the gateway ignores (wrap.c, serve.c) and so must we. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_listening), cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_cancel),            cmocka_unit_test(test_shutdown_pending),
        cmocka_unit_test(test_free_inside_callback), cmocka_unit_test(test_max_inflight),
        cmocka_unit_test(test_stuck_connection_reopened),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
