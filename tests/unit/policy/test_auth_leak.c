/* Nothing secret is ever written. This test runs the authentication and
 * credential code through its success and failure paths with every secret
 * it knows of in play (environment and file secrets, an OAuth client secret,
 * tokens from the grant, the client's own API key and JWTs), with logging at
 * debug level into a file, and collects everything those paths produce for
 * people: log lines, configuration errors, `check` descriptions, HTTP
 * answers (bodies and WWW-Authenticate), observer results, identities as
 * audited, credential errors. Then it looks for each secret in all of it.
 * One deliberate bug (a secret passed to log_warnx) shows the scrubber. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "authkit.h"
#include "policy/apikey.h"
#include "policy/authn.h"
#include "policy/credentials.h"
#include "util/log.h"
#include "util/timeutil.h"

#define S_ENV    "leak-env-secret-Q7w2"
#define S_FILE   "leak-file-secret-K3p9"
#define S_CLIENT "leak-client-secret-Z8m4"
#define S_PERID  "leak-per-identity-N5r1"
#define S_GRANT  "leak-grant-token-V6t3"

static struct buf seen; /* everything collected */
static char apikey[APIKEY_LEN + 1];
static char *jwt_ok, *jwt_expired, *jwt_tampered;
static int tok_mode;
static uint64_t fake_now;

static uint64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static void collect(const char *what, const char *s)
{
    buf_printf(&seen, "[%s] %s\n", what, s ? s : "");
}

static void h_token(void *ud, struct http_request *req)
{
    (void)ud;
    char body[512];
    int n;
    if (tok_mode == 1) {
        n = snprintf(body, sizeof(body),
                     "{\"error\":\"invalid_client\",\"error_description\":\"secret " S_CLIENT
                     " is wrong\",\"access_token\":\"" S_GRANT "\"}");
        struct http_header h = {"X-Echo", S_CLIENT};
        http_reply(req, 401, &h, 1, "application/json", body, (size_t)n);
        return;
    }
    if (tok_mode == 2) {
        /* A token with a newline: refused, and the message does not quote it. */
        n = snprintf(body, sizeof(body),
                     "{\"access_token\":\"" S_GRANT "\\nX: y\",\"token_type\":\"Bearer\"}");
        http_reply(req, 200, NULL, 0, "application/json", body, (size_t)n);
        return;
    }
    n = snprintf(body, sizeof(body),
                 "{\"access_token\":\"" S_GRANT "\",\"token_type\":\"Bearer\",\"expires_in\":60}");
    http_reply(req, 200, NULL, 0, "application/json", body, (size_t)n);
}

static void observe(void *ud, const struct authn_result *res, const char *peer)
{
    (void)ud;
    collect("observe.reason", res->reason);
    collect("observe.description", res->description);
    collect("observe.peer", peer);
    if (res->id != NULL) {
        json_t *j = identity_to_json(res->id);
        char *s = json_dumps(j, JSON_COMPACT);
        collect("audit.identity", s);
        free(s);
        json_decref(j);
    }
}

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

static void test_nothing_secret_is_written(void **state)
{
    (void)state;
    buf_init(&seen, 1 << 22);
    char logpath[512];
    snprintf(logpath, sizeof(logpath), "%s/leak.log", tk_tmpdir());
    FILE *lf = fopen(logpath, "w+");
    assert_non_null(lf);
    log_init("mcpwall", LOG_LVL_DEBUG, fileno(lf));

    setenv("MW_LEAK_ENV", S_ENV, 1);
    tk_write("file.secret", S_FILE "\n", 0600);
    tk_write("client.secret", S_CLIENT "\n", 0600);
    tk_write("perid.secret", S_PERID "\n", 0600);
    tk_write("open.secret", S_FILE "\n", 0644);
    char stored[APIKEY_HASH_MAX];
    assert_int_equal(apikey_generate(apikey, stored), 0);
    struct tkey k;
    tk_gen(&k, JWT_ES256, "leak-1");
    const struct tkey *ks[] = {&k};
    char *jwks = tk_jwks(ks, 1);
    tk_write("jwks.json", jwks, 0644);
    free(jwks);
    int64_t now = (int64_t)(wall_us() / 1000000u);
    json_t *c = json_pack("{s:s,s:s,s:s,s:I}", "iss", "https://idp.leak", "aud",
                          "https://gw.leak/mcp", "sub", "carol", "exp", (json_int_t)(now + 600));
    jwt_ok = tk_token(&k, c);
    json_object_set_new(c, "exp", json_integer(now - 600));
    jwt_expired = tk_token(&k, c);
    json_decref(c);
    jwt_tampered = strdup(jwt_ok);
    jwt_tampered[strlen(jwt_tampered) - 3] ^= 1;

    struct aenv e;
    aenv_start(&e);
    http_listener_route(e.l, "/token", HTTP_POST, false, h_token, NULL);

    /* 1. Configurations with mistakes around secrets. */
    const char *bad = "auth:\n"
                      "  api_keys:\n"
                      "    - {name: k, hash: \"hmac-sha256$" S_ENV "\"}\n"
                      "credentials:\n"
                      "  a: {value: \"${file:open.secret}\"}\n"
                      "  b: {value: \"" S_ENV "\"}\n"
                      "  c: {value: \"${env:MW_LEAK_NOPE}\"}\n"
                      "  d: {per_identity: {\"apikey:x\": \"" S_PERID "\"}}\n";
    char path[512];
    snprintf(path, sizeof(path), "%s/bad.yaml", tk_tmpdir());
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    struct cfg_doc *d = cfg_load_mem(path, bad, strlen(bad), false, &errs);
    assert_non_null(d);
    assert_null(authn_compile(d, json_object_get(d->root, "auth"), &errs));
    assert_null(cred_compile(d, json_object_get(d->root, "credentials"), &errs));
    cfg_doc_free(d);
    assert_true(errs.n >= 5);
    for (size_t i = 0; i < errs.n; i++)
        collect("config error", errs.msgs[i]);
    cfg_errors_free(&errs);

    /* 2. A good configuration. */
    char good[4096];
    snprintf(good, sizeof(good),
             "auth:\n"
             "  resource: https://gw.leak/mcp\n"
             "  api_keys:\n"
             "    - {name: dave, hash: \"%s\", roles: [dev]}\n"
             "  jwt: {issuer: https://idp.leak, jwks_file: jwks.json}\n"
             "credentials:\n"
             "  s: {value: \"Bearer ${env:MW_LEAK_ENV}\", env: S_TOKEN}\n"
             "  f: {value: \"${file:file.secret}\"}\n"
             "  p: {per_identity: {\"apikey:dave\": \"${file:perid.secret}\"}}\n"
             "  g:\n"
             "    client_credentials:\n"
             "      token_url: %s/token\n"
             "      client_id: gw\n"
             "      client_secret: ${file:client.secret}\n",
             stored, e.url);
    snprintf(path, sizeof(path), "%s/good.yaml", tk_tmpdir());
    cfg_errors_init(&errs);
    d = cfg_load_mem(path, good, strlen(good), false, &errs);
    assert_non_null(d);
    struct authn *a = authn_compile(d, json_object_get(d->root, "auth"), &errs);
    struct cred_store *cs = cred_compile(d, json_object_get(d->root, "credentials"), &errs);
    if (a == NULL || cs == NULL)
        fail_msg("%s", errs.msgs[0]);
    cfg_doc_free(d);
    cfg_errors_free(&errs);
    char *desc = NULL;
    size_t dl = 0;
    FILE *mf = open_memstream(&desc, &dl);
    authn_describe(a, mf);
    cred_store_describe(cs, mf);
    fclose(mf);
    collect("check", desc);
    free(desc);

    /* 3. Requests, allowed and refused. */
    authn_set_observer(a, observe, NULL);
    http_listener_set_auth(e.l, authn_http_hook, a);
    http_listener_route(e.l, "/mcp", HTTP_GET, true, authkit_whoami, NULL);
    char wrongkey[APIKEY_LEN + 1];
    memcpy(wrongkey, apikey, sizeof(wrongkey));
    wrongkey[30] = wrongkey[30] == 'x' ? 'y' : 'x';
    const char *creds[] = {apikey, wrongkey, jwt_ok, jwt_expired, jwt_tampered};
    for (size_t i = 0; i < 5; i++) {
        char h[4096];
        snprintf(h, sizeof(h), "Authorization: Bearer %s", creds[i]);
        const char *hs[] = {h, NULL};
        struct aresp r;
        aenv_request(&e, "GET", "/mcp", hs, NULL, &r);
        collect("http.www", r.www);
        collect("http.body", r.body);
        char q[4096];
        snprintf(q, sizeof(q), "/mcp?access_token=%s", creds[i]);
        aenv_request(&e, "GET", q, NULL, NULL, &r);
        collect("http.www", r.www);
        collect("http.body", r.body);
    }

    /* 4. Credentials, including a grant that fails with an echoing endpoint. */
    cred_store_start(cs, e.base, e.cl);
    fake_now = 1000ull * 1000000u;
    cred_store_set_clock(cs, fake_clock, NULL);
    char err[512];
    struct identity *dave = identity_new(IDENTITY_APIKEY, "apikey:dave", NULL);
    struct identity *eve = identity_new(IDENTITY_APIKEY, "apikey:eve", NULL);
    const char *names[] = {"s", "f", "p", "g"};
    for (int mode = 0; mode < 3; mode++) {
        tok_mode = mode == 0 ? 1 : mode == 1 ? 2 : 0;
        for (size_t i = 0; i < 4; i++) {
            struct cred *cr = cred_find(cs, names[i]);
            for (int who = 0; who < 2; who++) {
                struct secret *t = NULL;
                struct cred_wait *w = NULL;
                struct got g = {0};
                err[0] = '\0';
                int rc = cred_acquire(cr, who ? eve : dave, got_cb, &g, &t, &w, err, sizeof(err));
                if (rc == 1) {
                    aenv_run_until(&e, &g.done);
                    t = g.tok;
                    snprintf(err, sizeof(err), "%s", g.err);
                }
                collect("cred.error", err);
                if (t != NULL) {
                    /* What goes upstream carries the credential, never the
                     * client's token. */
                    struct buf line;
                    buf_init(&line, 4096);
                    cred_header_line(cr, t, &line);
                    const char *pass[] = {"Authorization: Bearer x", NULL};
                    char **hh =
                        cred_upstream_headers(NULL, pass, buf_head(&line), apikey, strlen(apikey));
                    for (size_t j = 0; hh[j] != NULL; j++)
                        assert_null(strstr(hh[j], apikey));
                    cred_headers_free(hh);
                    buf_wipe_free(&line);
                }
                secret_unref(t);
            }
        }
        /* Past the retry delay for the next round. */
        fake_now += 10ull * 1000000u;
    }
    identity_unref(dave);
    identity_unref(eve);

    /* 5. A bug that logs a secret value: the scrubber blanks it. */
    struct cred *sc = cred_find(cs, "s");
    struct secret *t = NULL;
    cred_acquire(sc, NULL, NULL, NULL, &t, NULL, err, sizeof(err));
    log_warnx("debugging: credential is %s", secret_value(t, NULL));
    secret_unref(t);

    cred_store_unref(cs);
    authn_stop(a);
    aenv_stop(&e);
    authn_unref(a);

    /* Everything the log got. */
    fflush(lf);
    rewind(lf);
    char line[8192];
    size_t nlines = 0;
    while (fgets(line, sizeof(line), lf) != NULL) {
        collect("log", line);
        nlines++;
    }
    fclose(lf);
    log_init("mcpwall", LOG_LVL_INFO, 2);
    assert_true(nlines >= 3);
    assert_int_equal(buf_cstr(&seen), 0);
    const char *all = buf_head(&seen);
    /* The collection is not empty: it holds the refusals we expect... */
    assert_non_null(strstr(all, "invalid API key"));
    assert_non_null(strstr(all, "token expired"));
    assert_non_null(strstr(all, "401 (invalid_client)"));
    assert_non_null(strstr(all, "chmod 600"));
    assert_non_null(strstr(all, "unusable access_token"));
    assert_non_null(strstr(all, "no credential 'p' for apikey:eve"));
    assert_non_null(strstr(all, "\"principal\":\"apikey:dave\""));
    assert_non_null(strstr(all, "token obtained"));
    assert_non_null(strstr(all, "debugging: credential is Bearer ****"));
    /* ...and none of the secrets. */
    const char *secrets[] = {S_ENV,    S_FILE, S_CLIENT,    S_PERID,      S_GRANT,    apikey,
                             wrongkey, jwt_ok, jwt_expired, jwt_tampered, apikey + 18};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        const char *hit = strstr(all, secrets[i]);
        if (hit != NULL) {
            const char *ls = hit;
            while (ls > all && ls[-1] != '\n')
                ls--;
            fail_msg("secret %zu found in: %.200s", i, ls);
        }
    }
    buf_free(&seen);
    free(jwt_ok);
    free(jwt_expired);
    free(jwt_tampered);
    tk_free(&k);
    tk_rmdir();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_secret_is_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
