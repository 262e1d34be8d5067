/* Credentials toward upstreams: static and per-identity secrets, the OAuth
 * client-credentials grant against a token endpoint written for the test
 * (client authentication checked, one grant shared by concurrent callers,
 * the token reused until it nears expiry and refreshed in the background
 * before it, errors without secrets and a retry delay, cancellation), the
 * credentials: section's errors, and the headers that go upstream (the
 * client's own token never among them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authkit.h"
#include "policy/credentials.h"
#include "util/b64.h"

#define CLIENT_SECRET "cc-secret-7Hq2vN9xLp"

static struct aenv env;

/* ---- the token endpoint ---- */

static int tok_hits;
static int tok_mode; /* 0 ok, 1 error 401 (echoing the secret), 2 not bearer */
static long tok_expires = 3600;
static char tok_last_auth[512];
static char tok_last_body[2048];

static void h_token(void *ud, struct http_request *req)
{
    (void)ud;
    tok_hits++;
    const char *a = http_request_header(req, "Authorization");
    snprintf(tok_last_auth, sizeof(tok_last_auth), "%s", a ? a : "");
    size_t bl;
    const char *b = http_request_body(req, &bl);
    snprintf(tok_last_body, sizeof(tok_last_body), "%.*s", (int)bl, b ? b : "");
    const char *ct = http_request_header(req, "Content-Type");
    if (http_request_method(req) != HTTP_POST || ct == NULL ||
        strcmp(ct, "application/x-www-form-urlencoded") != 0 ||
        strstr(tok_last_body, "grant_type=client_credentials") == NULL) {
        http_reply(req, 400, NULL, 0, "application/json", "{\"error\":\"invalid_request\"}", 27);
        return;
    }
    char body[512];
    if (tok_mode == 1) {
        /* A careless endpoint that echoes the secret it was given. */
        int n = snprintf(body, sizeof(body),
                         "{\"error\":\"invalid_client\",\"error_description\":\"bad secret %s\"}",
                         CLIENT_SECRET);
        struct http_header h = {"X-Debug", CLIENT_SECRET};
        http_reply(req, 401, &h, 1, "application/json", body, (size_t)n);
        return;
    }
    int n = snprintf(body, sizeof(body),
                     "{\"access_token\":\"grant-token-%d-Zk81\",\"token_type\":\"%s\","
                     "\"expires_in\":%ld}",
                     tok_hits, tok_mode == 2 ? "mac" : "bearer", tok_expires);
    http_reply(req, 200, NULL, 0, "application/json", body, (size_t)n);
}

static uint64_t fake_now;
static uint64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static int setup(void **state)
{
    (void)state;
    aenv_start(&env);
    assert_int_equal(
        http_listener_route(env.l, "/token", HTTP_POST | HTTP_GET, false, h_token, NULL), 0);
    tk_write("client.secret", CLIENT_SECRET "\n", 0600);
    setenv("MW_CRED_STATIC", "static-secret-Pq3", 1);
    setenv("MW_CRED_ALICE", "alice-upstream-tok-8d", 1);
    setenv("MW_CRED_DEFAULT", "shared-readonly-tok-2c", 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    aenv_stop(&env);
    tk_rmdir();
    return 0;
}

static struct cred_store *store_from(const char *yaml, struct cfg_errors *e)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/creds.yaml", tk_tmpdir());
    cfg_errors_init(e);
    struct cfg_doc *d = cfg_load_mem(path, yaml, strlen(yaml), false, e);
    assert_non_null(d);
    struct cred_store *s = cred_compile(d, json_object_get(d->root, "credentials"), e);
    cfg_doc_free(d);
    return s;
}

static struct cred_store *store_ok(const char *yaml)
{
    struct cfg_errors e;
    struct cred_store *s = store_from(yaml, &e);
    if (s == NULL)
        fail_msg("refused: %s", e.n ? e.msgs[0] : "?");
    cfg_errors_free(&e);
    return s;
}

static void test_static_and_per_identity(void **state)
{
    (void)state;
    struct cred_store *s = store_ok("credentials:\n"
                                    "  internal:\n"
                                    "    value: ${env:MW_CRED_STATIC}\n"
                                    "    header: X-Api-Key\n"
                                    "    scheme: \"\"\n"
                                    "    env: INTERNAL_TOKEN\n"
                                    "  github:\n"
                                    "    per_identity:\n"
                                    "      \"apikey:alice\": ${env:MW_CRED_ALICE}\n"
                                    "    default: ${env:MW_CRED_DEFAULT}\n"
                                    "  strict:\n"
                                    "    per_identity:\n"
                                    "      \"apikey:alice\": ${env:MW_CRED_ALICE}\n");
    struct cred *c = cred_find(s, "internal");
    assert_non_null(c);
    assert_int_equal(cred_kind(c), CRED_STATIC);
    assert_string_equal(cred_env_name(c), "INTERNAL_TOKEN");
    struct secret *t = NULL;
    char err[256];
    assert_int_equal(cred_acquire(c, NULL, NULL, NULL, &t, NULL, err, sizeof(err)), 0);
    struct buf line;
    buf_init(&line, 4096);
    assert_int_equal(cred_header_line(c, t, &line), 0);
    assert_string_equal(buf_head(&line), "X-Api-Key: static-secret-Pq3");
    buf_wipe_free(&line);
    secret_unref(t);

    struct identity *alice = identity_new(IDENTITY_APIKEY, "apikey:alice", NULL);
    struct identity *bob = identity_new(IDENTITY_APIKEY, "apikey:bob", NULL);
    c = cred_find(s, "github");
    assert_int_equal(cred_kind(c), CRED_PER_IDENTITY);
    assert_null(cred_env_name(c));
    assert_int_equal(cred_acquire(c, alice, NULL, NULL, &t, NULL, err, sizeof(err)), 0);
    buf_init(&line, 4096);
    cred_header_line(c, t, &line);
    assert_string_equal(buf_head(&line), "Authorization: Bearer alice-upstream-tok-8d");
    buf_wipe_free(&line);
    secret_unref(t);
    assert_int_equal(cred_acquire(c, bob, NULL, NULL, &t, NULL, err, sizeof(err)), 0);
    assert_string_equal(secret_value(t, NULL), "shared-readonly-tok-2c");
    secret_unref(t);
    /* Without a default, others get nothing (and the call is refused). */
    c = cred_find(s, "strict");
    assert_int_equal(cred_acquire(c, bob, NULL, NULL, &t, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "no credential 'strict' for apikey:bob");
    assert_int_equal(cred_acquire(c, NULL, NULL, NULL, &t, NULL, err, sizeof(err)), -1);
    assert_null(cred_find(s, "nope"));
    identity_unref(alice);
    identity_unref(bob);
    cred_store_unref(s);
}

/* ---- client credentials ---- */

struct got {
    bool done;
    struct secret *tok;
    char err[512];
};

static void got_cb(void *ud, struct secret *tok, const char *error)
{
    struct got *g = ud;
    g->done = true;
    g->tok = tok;
    snprintf(g->err, sizeof(g->err), "%s", error ? error : "");
}

static struct cred_store *cc_store(const char *method)
{
    char y[2048];
    snprintf(y, sizeof(y),
             "credentials:\n"
             "  search:\n"
             "    client_credentials:\n"
             "      token_url: %s/token\n"
             "      client_id: \"mcp wall\"\n"
             "      client_secret: ${file:client.secret}\n"
             "      scope: search:read\n"
             "      resource: https://search.test/mcp\n"
             "      auth_method: %s\n"
             "      refresh_before: 60s\n"
             "      retry_after: 5s\n",
             env.url, method);
    struct cred_store *s = store_ok(y);
    cred_store_set_clock(s, fake_clock, NULL);
    assert_int_equal(cred_store_start(s, env.base, env.cl), 0);
    return s;
}

/* Acquires; when pending, runs the loop to the answer. Returns the token
 * value copied into out (or "" with the error in err). */
static int acquire(struct cred *c, char *out, size_t outsz, char *err, size_t errlen)
{
    struct secret *t = NULL;
    struct cred_wait *w = NULL;
    struct got g = {0};
    int rc = cred_acquire(c, NULL, got_cb, &g, &t, &w, err, errlen);
    if (rc == 1) {
        aenv_run_until(&env, &g.done);
        t = g.tok;
        snprintf(err, errlen, "%s", g.err);
    }
    snprintf(out, outsz, "%s", t ? secret_value(t, NULL) : "");
    secret_unref(t);
    return rc;
}

static void test_client_credentials(void **state)
{
    (void)state;
    tok_hits = 0;
    tok_mode = 0;
    tok_expires = 3600;
    fake_now = 1000ull * 1000000u;
    struct cred_store *s = cc_store("client_secret_basic");
    struct cred *c = cred_find(s, "search");
    assert_int_equal(cred_kind(c), CRED_CLIENT_CREDENTIALS);

    /* Five callers at once share one grant. */
    struct got g[5];
    struct cred_wait *w[5];
    char err[512];
    for (int i = 0; i < 5; i++) {
        struct secret *t = NULL;
        memset(&g[i], 0, sizeof(g[i]));
        assert_int_equal(cred_acquire(c, NULL, got_cb, &g[i], &t, &w[i], err, sizeof(err)), 1);
        assert_null(t);
        assert_false(g[i].done); /* never called from inside cred_acquire */
    }
    for (int i = 0; i < 5; i++) {
        aenv_run_until(&env, &g[i].done);
        assert_non_null(g[i].tok);
        assert_string_equal(secret_value(g[i].tok, NULL), "grant-token-1-Zk81");
        secret_unref(g[i].tok);
    }
    assert_int_equal(tok_hits, 1);
    /* What the endpoint received: Basic with the form-encoded id and secret,
     * the grant type, scope and resource indicator. */
    char want[256], enc[128];
    b64_encode((const uint8_t *)"mcp+wall:" CLIENT_SECRET, strlen("mcp+wall:" CLIENT_SECRET), enc,
               sizeof(enc));
    snprintf(want, sizeof(want), "Basic %s", enc);
    assert_string_equal(tok_last_auth, want);
    assert_string_equal(tok_last_body, "grant_type=client_credentials&scope=search%3Aread&"
                                       "resource=https%3A%2F%2Fsearch.test%2Fmcp");

    char v[256];
    /* Reused while far from expiry. */
    fake_now += 3000ull * 1000000u;
    assert_int_equal(acquire(c, v, sizeof(v), err, sizeof(err)), 0);
    assert_string_equal(v, "grant-token-1-Zk81");
    assert_int_equal(tok_hits, 1);
    /* Within refresh_before of expiry: the current token at once, and one
     * background grant replaces it. */
    fake_now += 545ull * 1000000u; /* 55 s left */
    assert_int_equal(acquire(c, v, sizeof(v), err, sizeof(err)), 0);
    assert_string_equal(v, "grant-token-1-Zk81");
    assert_int_equal(acquire(c, v, sizeof(v), err, sizeof(err)), 0);
    for (int i = 0; i < 5000 && tok_hits < 2; i++)
        aenv_spin(&env, 1);
    assert_int_equal(tok_hits, 2);
    aenv_spin(&env, 10);
    assert_int_equal(acquire(c, v, sizeof(v), err, sizeof(err)), 0);
    assert_string_equal(v, "grant-token-2-Zk81");
    assert_int_equal(tok_hits, 2);
    /* Long past expiry: callers wait for a new grant. */
    fake_now += 7200ull * 1000000u;
    assert_int_equal(acquire(c, v, sizeof(v), err, sizeof(err)), 1);
    assert_string_equal(v, "grant-token-3-Zk81");
    assert_int_equal(tok_hits, 3);
    /* A short-lived token: refreshed at half its life at the latest. */
    tok_expires = 20;
    fake_now += 7200ull * 1000000u;
    assert_int_equal(acquire(c, v, sizeof(v), err, sizeof(err)), 1);
    assert_string_equal(v, "grant-token-4-Zk81");
    fake_now += 9ull * 1000000u;
    assert_int_equal(acquire(c, v, sizeof(v), err, sizeof(err)), 0);
    assert_int_equal(tok_hits, 4);
    fake_now += 2ull * 1000000u;
    assert_int_equal(acquire(c, v, sizeof(v), err, sizeof(err)), 0);
    for (int i = 0; i < 5000 && tok_hits < 5; i++)
        aenv_spin(&env, 1);
    assert_int_equal(tok_hits, 5);
    aenv_spin(&env, 10);
    const struct cred_stats *st = cred_stats(c);
    assert_int_equal(st->grants, 5);
    assert_int_equal(st->grant_failures, 0);
    assert_true(st->cache_hits >= 5);
    cred_store_unref(s);
}

static void test_client_credentials_errors(void **state)
{
    (void)state;
    tok_hits = 0;
    tok_mode = 1;
    tok_expires = 3600;
    fake_now = 1000ull * 1000000u;
    struct cred_store *s = cc_store("client_secret_post");
    struct cred *c = cred_find(s, "search");
    char v[256], err[512];
    assert_int_equal(acquire(c, v, sizeof(v), err, sizeof(err)), 1);
    assert_string_equal(v, "");
    assert_string_equal(err, "credential 'search': token endpoint answered 401 (invalid_client)");
    assert_null(strstr(err, CLIENT_SECRET));
    /* client_secret_post: no Authorization, id and secret in the body. */
    assert_string_equal(tok_last_auth, "");
    assert_non_null(strstr(tok_last_body, "&client_id=mcp+wall&client_secret=" CLIENT_SECRET));
    /* Within retry_after: refused at once, no new request. */
    fake_now += 2ull * 1000000u;
    assert_int_equal(acquire(c, v, sizeof(v), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "401 (invalid_client)"));
    assert_int_equal(tok_hits, 1);
    /* After it, a new attempt; a token type other than Bearer is refused. */
    tok_mode = 2;
    fake_now += 4ull * 1000000u;
    assert_int_equal(acquire(c, v, sizeof(v), err, sizeof(err)), 1);
    assert_string_equal(err, "credential 'search': token response with token_type other than "
                             "Bearer");
    assert_int_equal(tok_hits, 2);
    tok_mode = 0;
    fake_now += 6ull * 1000000u;
    assert_int_equal(acquire(c, v, sizeof(v), err, sizeof(err)), 1);
    assert_string_equal(v, "grant-token-3-Zk81");
    assert_int_equal(cred_stats(c)->grant_failures, 2);

    /* A caller that goes away is not called back; the others are. */
    fake_now += 7200ull * 1000000u;
    struct got g1 = {0}, g2 = {0};
    struct secret *t;
    struct cred_wait *w1, *w2;
    assert_int_equal(cred_acquire(c, NULL, got_cb, &g1, &t, &w1, err, sizeof(err)), 1);
    assert_int_equal(cred_acquire(c, NULL, got_cb, &g2, &t, &w2, err, sizeof(err)), 1);
    cred_wait_cancel(w1);
    aenv_run_until(&env, &g2.done);
    aenv_spin(&env, 10);
    assert_false(g1.done);
    secret_unref(g2.tok);

    /* Stopping the store answers waiters with an error. */
    fake_now += 7200ull * 1000000u;
    struct got g3 = {0};
    assert_int_equal(cred_acquire(c, NULL, got_cb, &g3, &t, &w1, err, sizeof(err)), 1);
    cred_store_stop(s);
    assert_true(g3.done);
    assert_null(g3.tok);
    assert_string_equal(g3.err, "the gateway is shutting down");
    assert_int_equal(cred_acquire(c, NULL, got_cb, &g3, &t, &w1, err, sizeof(err)), -1);
    cred_store_unref(s);
}

/* Nothing listens: the failure is reported without secrets. */
static void test_client_credentials_unreachable(void **state)
{
    (void)state;
    char y[1024];
    snprintf(y, sizeof(y),
             "credentials:\n  x:\n    client_credentials:\n"
             "      token_url: http://127.0.0.1:1/token\n      client_id: a\n"
             "      client_secret: ${file:client.secret}\n      timeout: 2s\n");
    struct cred_store *s = store_ok(y);
    cred_store_start(s, env.base, env.cl);
    char v[64], err[512];
    assert_int_equal(acquire(cred_find(s, "x"), v, sizeof(v), err, sizeof(err)), 1);
    assert_non_null(strstr(err, "credential 'x': token request failed: "));
    assert_null(strstr(err, CLIENT_SECRET));
    cred_store_unref(s);
}

/* ---- configuration ---- */

static void test_config_errors(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        const char *want;
    } cases[] = {
        {"credentials:\n  a:\n    value: hunter2hunter2\n",
         "creds.yaml:3:12: value is a secret: write a reference"},
        {"credentials:\n  a:\n    value: ${env:MW_CRED_STATIC}\n    per_identity: {}\n",
         "creds.yaml:3:5: credential 'a' needs exactly one of"},
        {"credentials:\n  a: {}\n", "creds.yaml:2:6: credential 'a' needs exactly one of"},
        {"credentials:\n  a:\n    per_identity:\n      bob: ${env:MW_CRED_ALICE}\n",
         "creds.yaml:4:7: 'bob' is not a principal"},
        {"credentials:\n  a:\n    per_identity:\n      \"apikey:b\": plain-text-token\n",
         "creds.yaml:4:19: apikey:b is a secret"},
        {"credentials:\n  a:\n    value: ${env:MW_CRED_STATIC}\n    default: "
         "${env:MW_CRED_STATIC}\n",
         "creds.yaml:4:14: default goes with per_identity"},
        {"credentials:\n  a:\n    value: ${env:MW_CRED_STATIC}\n    header: \"X Key\"\n",
         "creds.yaml:4:13: 'X Key' is not a valid header name"},
        {"credentials:\n  a:\n    value: ${env:MW_CRED_STATIC}\n    env: 9X\n",
         "creds.yaml:4:10: env must be an environment variable name"},
        {"credentials:\n  a:\n    client_credentials:\n      client_id: x\n"
         "      client_secret: ${file:client.secret}\n",
         "creds.yaml:4:7: client_credentials needs token_url"},
        {"credentials:\n  a:\n    client_credentials:\n      token_url: http://auth.test/t\n"
         "      client_id: x\n      client_secret: ${file:client.secret}\n",
         "creds.yaml:4:18: token_url must be https"},
        {"credentials:\n  a:\n    client_credentials:\n      token_url: https://auth.test/t\n"
         "      client_id: x\n      client_secret: s3cr3t\n",
         "creds.yaml:6:22: client_secret is a secret"},
        {"credentials:\n  a:\n    client_credentials:\n      token_url: https://auth.test/t\n"
         "      client_id: x\n      client_secret: ${file:client.secret}\n"
         "      auth_method: private_key_jwt\n",
         "creds.yaml:7:20: auth_method is client_secret_basic or client_secret_post"},
        {"credentials:\n  a:\n    valu: ${env:X}\n", "creds.yaml:3:5: unknown key 'valu'"},
        {"credentials: [a]\n", "creds.yaml:1:14: credentials must be a mapping"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cfg_errors e;
        struct cred_store *s = store_from(cases[i].yaml, &e);
        if (s != NULL)
            fail_msg("accepted: %s", cases[i].yaml);
        if (e.n == 0 || strstr(e.msgs[0], cases[i].want) == NULL) {
            print_message("case %zu: got '%s', want '%s'\n", i, e.n ? e.msgs[0] : "(none)",
                          cases[i].want);
            bad++;
        }
        for (size_t j = 0; j < e.n; j++)
            assert_null(strstr(e.msgs[j], "static-secret-Pq3"));
        cfg_errors_free(&e);
    }
    assert_int_equal(bad, 0);
    /* The description names references, never values. */
    struct cred_store *s = store_ok("credentials:\n  a:\n    value: ${env:MW_CRED_STATIC}\n"
                                    "    env: A_TOKEN\n");
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    cred_store_describe(s, f);
    fclose(f);
    assert_string_equal(out, "credential a: static, header Authorization, env A_TOKEN, from "
                             "${env:MW_CRED_STATIC}\n");
    free(out);
    cred_store_unref(s);
}

/* ---- headers that go upstream ---- */

static void test_upstream_headers(void **state)
{
    (void)state;
    const char *client_token = "eyJclient.token.value";
    const char *configured[] = {"Authorization: Bearer configured", "X-Team: blue",
                                "X-Echo: eyJclient.token.value", NULL};
    const char *passthrough[] = {"traceparent: 00-abc-def-01",
                                 "authorization: Bearer eyJclient.token.value",
                                 "Proxy-Authorization: Basic x",
                                 "Cookie: s=1",
                                 "X-Model-Id: claude",
                                 "X-Smuggle: a\r\nEvil: b",
                                 "X-Copy: prefix eyJclient.token.value",
                                 NULL};
    char **h = cred_upstream_headers(configured, passthrough, "Authorization: Bearer injected",
                                     client_token, strlen(client_token));
    assert_non_null(h);
    const char *want[] = {"X-Team: blue", "traceparent: 00-abc-def-01", "X-Model-Id: claude",
                          "Authorization: Bearer injected", NULL};
    size_t n = 0;
    for (; h[n] != NULL; n++) {
        assert_non_null(want[n]);
        assert_string_equal(h[n], want[n]);
        assert_null(strstr(h[n], client_token));
    }
    assert_null(want[n]);
    cred_headers_free(h);
    /* Without an injected credential the configured Authorization stays;
     * the client's never goes. */
    h = cred_upstream_headers(configured, passthrough, NULL, client_token, strlen(client_token));
    assert_string_equal(h[0], "Authorization: Bearer configured");
    for (size_t i = 0; h[i] != NULL; i++)
        assert_null(strstr(h[i], client_token));
    cred_headers_free(h);
    h = cred_upstream_headers(NULL, NULL, NULL, NULL, 0);
    assert_null(h[0]);
    cred_headers_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_and_per_identity),
        cmocka_unit_test(test_client_credentials),
        cmocka_unit_test(test_client_credentials_errors),
        cmocka_unit_test(test_client_credentials_unreachable),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_upstream_headers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
