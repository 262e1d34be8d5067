/* Authentication over real HTTP: the table of bearer-token cases
 * (tests/cases/auth/tokens.jsonl) through the listener's hook, with the
 * status, WWW-Authenticate and JSON-RPC reason a client sees; the protected
 * resource metadata; anonymous access; the auth: section's errors
 * (tests/cases/auth/config.jsonl); JWKS from a URL with rotation without a
 * restart, the unknown-kid rate limit, periodic refresh, a fetch that fails,
 * and a client that leaves while its request waits for keys. Every key and
 * token is made by the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "authkit.h"
#include "policy/apikey.h"
#include "policy/authn.h"
#include "policy/secrets.h"
#include "testutil.h"
#include "util/timeutil.h"

#define ISS "https://idp.test"
#define RES "https://gw.test/mcp"

static struct tkey k_rsa, k_ec, k_ed, k_stranger, k_rot;
static char apikey[APIKEY_LEN + 1];
static char key_hash[APIKEY_HASH_MAX];

static int group_setup(void **state)
{
    (void)state;
    tk_gen(&k_rsa, JWT_RS256, "rsa-1");
    tk_gen(&k_ec, JWT_ES256, "ec-1");
    tk_gen(&k_ed, JWT_EDDSA, "ed-1");
    tk_gen(&k_stranger, JWT_RS256, "rsa-1"); /* same kid, not published */
    tk_gen(&k_rot, JWT_ES256, "rot-2");
    assert_int_equal(apikey_generate(apikey, key_hash), 0);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tk_free(&k_rsa);
    tk_free(&k_ec);
    tk_free(&k_ed);
    tk_free(&k_stranger);
    tk_free(&k_rot);
    tk_rmdir();
    return 0;
}

static struct authn *compile_yaml(const char *yaml, struct cfg_errors *errs)
{
    struct cfg_doc *d =
        cfg_load_mem(tk_write("auth.yaml", yaml, 0600), yaml, strlen(yaml), false, errs);
    if (d == NULL)
        return NULL;
    /* Paths in messages and relative files are anchored at the doc's path. */
    struct authn *a = authn_compile(d, json_object_get(d->root, "auth"), errs);
    cfg_doc_free(d);
    return a;
}

static struct authn *compile_ok(const char *yaml)
{
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct authn *a = compile_yaml(yaml, &e);
    if (a == NULL)
        fail_msg("config refused: %s", e.n ? e.msgs[0] : "(no message)");
    cfg_errors_free(&e);
    return a;
}

/* A listener with the hook on /mcp (whoami) and the metadata routes. */
static void env_with(struct aenv *e, struct authn *a)
{
    aenv_start(e);
    http_listener_set_auth(e->l, authn_http_hook, a);
    assert_int_equal(
        http_listener_route(e->l, "/mcp", HTTP_GET | HTTP_POST, true, authkit_whoami, NULL), 0);
    assert_int_equal(authn_route_metadata(a, e->l), 0);
}

/* ---- the token table ---- */

static json_t *default_claims(int64_t now)
{
    json_t *c =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:{s:[s]}, s:s}", "iss", ISS, "aud", RES, "sub",
                  "alice", "exp", (json_int_t)(now + 3600), "iat", (json_int_t)now, "scope",
                  "mcp tools", "realm_access", "roles", "dev", "preferred_username", "Alice");
    assert_non_null(c);
    return c;
}

/* Applies overrides: null removes; $ISS/$RES expand; exp/nbf/iat numbers are
 * relative; {"repeat": s, "count": n} makes a long string. */
static void apply(json_t *dst, const json_t *over, int64_t now, bool claims)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)over, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(dst, k);
        } else if (claims && json_is_integer(v) &&
                   (!strcmp(k, "exp") || !strcmp(k, "nbf") || !strcmp(k, "iat"))) {
            json_object_set_new(dst, k, json_integer(now + json_integer_value(v)));
        } else if (json_is_string(v) && !strcmp(json_string_value(v), "$RES")) {
            json_object_set_new(dst, k, json_string(RES));
        } else if (json_is_array(v)) {
            json_t *a = json_deep_copy(v);
            for (size_t i = 0; i < json_array_size(a); i++)
                if (json_is_string(json_array_get(a, i)) &&
                    !strcmp(json_string_value(json_array_get(a, i)), "$RES"))
                    json_array_set_new(a, i, json_string(RES));
            json_object_set_new(dst, k, a);
        } else if (json_is_object(v) && json_object_get(v, "repeat") != NULL) {
            size_t n = (size_t)json_integer_value(json_object_get(v, "count"));
            char *s = malloc(n + 1);
            memset(s, json_string_value(json_object_get(v, "repeat"))[0], n);
            s[n] = '\0';
            json_object_set_new(dst, k, json_string(s));
            free(s);
        } else {
            json_object_set(dst, k, v);
        }
    }
}

static const struct tkey *case_key(const char *name)
{
    if (!strcmp(name, "rsa"))
        return &k_rsa;
    if (!strcmp(name, "ec"))
        return &k_ec;
    if (!strcmp(name, "ed"))
        return &k_ed;
    if (strcmp(name, "stranger") != 0)
        fail_msg("unknown key %s", name);
    return &k_stranger;
}

/* Replaces segment i (0..2) of a token with s. */
static char *replace_segment(const char *tok, int i, const char *s)
{
    const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    size_t n = strlen(tok) + strlen(s) + 4;
    char *r = malloc(n);
    if (i == 1)
        snprintf(r, n, "%.*s.%s%s", (int)(d1 - tok), tok, s, d2);
    else if (i == 2)
        snprintf(r, n, "%.*s.%s", (int)(d2 - tok), tok, s);
    else
        snprintf(r, n, "%s%s", s, d1);
    return r;
}

static char *build_token(const json_t *c, int64_t now)
{
    const char *keyname = json_string_value(json_object_get(c, "key"));
    if (!strcmp(keyname, "apikey")) {
        char *t = strdup(apikey);
        const char *m = json_string_value(json_object_get(c, "mangle"));
        if (m && !strcmp(m, "flip_last"))
            t[strlen(t) - 1] = t[strlen(t) - 1] == 'A' ? 'B' : 'A';
        return t;
    }
    const struct tkey *k = case_key(keyname);
    json_t *hdr =
        json_pack("{s:s, s:s, s:s}", "alg", jwt_alg_name(k->alg), "kid", k->kid, "typ", "JWT");
    if (json_object_get(c, "header"))
        apply(hdr, json_object_get(c, "header"), now, false);
    json_t *cl = default_claims(now);
    if (json_object_get(c, "claims"))
        apply(cl, json_object_get(c, "claims"), now, true);
    char *hs = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *ps = json_dumps(cl, JSON_COMPACT | JSON_PRESERVE_ORDER);
    const char *m = json_string_value(json_object_get(c, "mangle"));
    if (m && !strcmp(m, "duplicate_sub")) {
        char *p2 = malloc(strlen(ps) + 32);
        snprintf(p2, strlen(ps) + 32, "%.*s,\"sub\":\"root\"}", (int)strlen(ps) - 1, ps);
        free(ps);
        ps = p2;
    }
    if (m && !strcmp(m, "payload_not_json")) {
        free(ps);
        ps = strdup("this is not json");
    }
    const char *sign = json_string_value(json_object_get(c, "sign"));
    char *t;
    if (sign && !strcmp(sign, "none")) {
        char *full = tk_sign(k, hs, ps);
        *(strrchr(full, '.') + 1) = '\0'; /* header.payload. */
        t = full;
    } else if (sign && !strcmp(sign, "hs256_pubkey")) {
        t = tk_hs256(k->pub_pem, strlen(k->pub_pem), hs, ps);
    } else {
        t = tk_sign(k, hs, ps);
    }
    if (m != NULL) {
        char *r = NULL;
        size_t n = strlen(t);
        if (!strcmp(m, "tamper_payload")) {
            json_object_set_new(cl, "sub", json_string("admin"));
            char *p2 = json_dumps(cl, JSON_COMPACT | JSON_PRESERVE_ORDER);
            char *b = tk_b64(p2, strlen(p2));
            r = replace_segment(t, 1, b);
            free(b);
            free(p2);
        } else if (!strcmp(m, "truncate")) {
            /* Drop 8 or more signature characters, keeping a length that
             * decodes cleanly: the signature is just short. */
            char *sig = strrchr(t, '.') + 1;
            size_t sl = strlen(sig);
            sig[(sl - 8) & ~(size_t)3] = '\0';
        } else if (!strcmp(m, "two_segments")) {
            *strrchr(t, '.') = '\0';
        } else if (!strcmp(m, "extra_segment")) {
            r = malloc(n + 8);
            snprintf(r, n + 8, "%s.AAAA", t);
        } else if (!strcmp(m, "padding")) {
            r = malloc(n + 4);
            snprintf(r, n + 4, "%s==", t);
        } else if (!strcmp(m, "std_base64")) {
            strrchr(t, '.')[1] = '+';
        } else if (!strcmp(m, "noncanonical")) {
            t[n - 1] = (char)(t[n - 1] == 'A' ? 'B' : t[n - 1] == 'Q' ? 'R' : t[n - 1] ^ 1);
        } else if (strcmp(m, "duplicate_sub") && strcmp(m, "payload_not_json")) {
            fail_msg("unknown mangle %s", m);
        }
        if (r != NULL) {
            free(t);
            t = r;
        }
    }
    free(hs);
    free(ps);
    json_decref(hdr);
    json_decref(cl);
    return t;
}

/* Replaces every "$TOKEN" in s with tok. */
static char *subst(const char *s, const char *tok)
{
    size_t n = strlen(s) + 1;
    for (const char *p = s; (p = strstr(p, "$TOKEN")) != NULL; p += 6)
        n += strlen(tok);
    char *r = malloc(n), *o = r;
    const char *p;
    while ((p = strstr(s, "$TOKEN")) != NULL) {
        memcpy(o, s, (size_t)(p - s));
        o += p - s;
        memcpy(o, tok, strlen(tok));
        o += strlen(tok);
        s = p + 6;
    }
    snprintf(o, n - (size_t)(o - r), "%s", s);
    return r;
}

static const char *auth_yaml(void)
{
    static char y[4096];
    const struct tkey *keys[] = {&k_rsa, &k_ec, &k_ed};
    char *jwks = tk_jwks(keys, 3);
    tk_write("jwks.json", jwks, 0644);
    free(jwks);
    snprintf(y, sizeof(y),
             "auth:\n"
             "  resource: " RES "\n"
             "  required_scopes: [mcp]\n"
             "  scopes_supported: [mcp, tools]\n"
             "  resource_name: Test gateway\n"
             "  api_keys:\n"
             "    - name: alice-laptop\n"
             "      hash: \"%s\"\n"
             "      roles: [dev]\n"
             "  jwt:\n"
             "    issuer: " ISS "\n"
             "    jwks_file: jwks.json\n"
             "    roles_claim: realm_access.roles\n"
             "    default_roles: [user]\n",
             key_hash);
    return y;
}

static void check_strs(const char *name, const json_t *got, const json_t *want)
{
    if (want == NULL)
        return;
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT), *w = json_dumps(want, JSON_COMPACT);
        fail_msg("%s: got %s, want %s", name, g ? g : "null", w);
    }
}

static void test_token_table(void **state)
{
    (void)state;
    struct authn *a = compile_ok(auth_yaml());
    struct aenv e;
    env_with(&e, a);
    json_t *cases = tu_load_cases("tests/cases/auth/tokens.jsonl");
    size_t i;
    json_t *c;
    int64_t now = (int64_t)(wall_us() / 1000000u);
    json_array_foreach(cases, i, c)
    {
        const char *name = TU_CASE_NAME(c);
        const json_t *exp = json_object_get(c, "expect");
        char *tok = json_object_get(c, "key") ? build_token(c, now) : strdup("");
        char hdr1[16384], hdr2[16384];
        const char *hdrs[3] = {NULL, NULL, NULL};
        size_t nh = 0;
        const char *authz = json_string_value(json_object_get(c, "authorization"));
        if (authz != NULL) {
            char *v = subst(authz, tok);
            snprintf(hdr1, sizeof(hdr1), "Authorization: %s", v);
            free(v);
            hdrs[nh++] = hdr1;
        } else if (!json_is_true(json_object_get(c, "no_auth"))) {
            snprintf(hdr1, sizeof(hdr1), "Authorization: Bearer %s", tok);
            hdrs[nh++] = hdr1;
            if (json_is_true(json_object_get(c, "twice"))) {
                snprintf(hdr2, sizeof(hdr2), "Authorization: Bearer %s", tok);
                hdrs[nh++] = hdr2;
            }
        }
        char target[16384] = "/mcp";
        const char *q = json_string_value(json_object_get(c, "query"));
        if (q != NULL) {
            char *v = subst(q, tok);
            snprintf(target, sizeof(target), "/mcp?%s", v);
            free(v);
        }
        struct aresp r;
        aenv_request(&e, "GET", target, hdrs, NULL, &r);
        long want = (long)json_integer_value(json_object_get(exp, "status"));
        if (r.status != want)
            fail_msg("%s: status %ld, want %ld (body %s)", name, r.status, want, r.body);
        char pv[512];
        const char *werr = json_string_value(json_object_get(exp, "error"));
        if (werr != NULL) {
            if (r.www[0] == '\0' || strncmp(r.www, "Bearer ", 7) != 0)
                fail_msg("%s: no Bearer challenge (got '%s')", name, r.www);
            if (strcmp(www_param(r.www, "error", pv, sizeof(pv)), werr) != 0)
                fail_msg("%s: error=\"%s\", want \"%s\" in %s", name, pv, werr, r.www);
            /* Every challenge leads the client to the metadata document. */
            if (strcmp(www_param(r.www, "resource_metadata", pv, sizeof(pv)),
                       "https://gw.test/.well-known/oauth-protected-resource/mcp") != 0)
                fail_msg("%s: resource_metadata missing in %s", name, r.www);
            if (werr[0] != '\0' && www_param(r.www, "error_description", pv, sizeof(pv))[0] == 0)
                fail_msg("%s: error_description missing in %s", name, r.www);
        }
        const char *wscope = json_string_value(json_object_get(exp, "scope"));
        if (wscope != NULL && strcmp(www_param(r.www, "scope", pv, sizeof(pv)), wscope) != 0)
            fail_msg("%s: scope=\"%s\", want \"%s\"", name, pv, wscope);
        json_t *body = json_loads(r.body, 0, NULL);
        if (body == NULL)
            fail_msg("%s: body is not JSON: %s", name, r.body);
        const char *wreason = json_string_value(json_object_get(exp, "reason"));
        if (wreason != NULL) {
            const char *got = json_string_value(
                json_object_get(json_object_get(json_object_get(body, "error"), "data"), "reason"));
            if (got == NULL || strcmp(got, wreason) != 0)
                fail_msg("%s: reason %s, want %s", name, got ? got : "(none)", wreason);
        }
        if (want == 200) {
            const char *wp = json_string_value(json_object_get(exp, "principal"));
            if (wp && strcmp(json_string_value(json_object_get(body, "principal")), wp) != 0)
                fail_msg("%s: principal %s", name, r.body);
            check_strs(name, json_object_get(body, "roles"), json_object_get(exp, "roles"));
            check_strs(name, json_object_get(body, "scopes"), json_object_get(exp, "scopes"));
        }
        /* The token itself never comes back. */
        if (strlen(tok) > 8 && (strstr(r.body, tok) != NULL || strstr(r.www, tok) != NULL))
            fail_msg("%s: the token is echoed", name);
        json_decref(body);
        free(tok);
    }
    json_decref(cases);
    const struct authn_stats *st = authn_stats(a);
    assert_true(st->allowed > 0 && st->invalid_token > 0 && st->bad_request > 0 &&
                st->no_credentials > 0 && st->insufficient_scope > 0);
    aenv_stop(&e);
    authn_unref(a);
}

/* ---- metadata and challenges ---- */

static void test_protected_resource_metadata(void **state)
{
    (void)state;
    struct authn *a = compile_ok(auth_yaml());
    struct aenv e;
    env_with(&e, a);
    struct aresp r1, r2;
    aenv_request(&e, "GET", "/.well-known/oauth-protected-resource/mcp", NULL, NULL, &r1);
    aenv_request(&e, "GET", "/.well-known/oauth-protected-resource", NULL, NULL, &r2);
    assert_int_equal(r1.status, 200);
    assert_int_equal(r2.status, 200);
    assert_string_equal(r1.body, r2.body);
    json_t *d = json_loads(r1.body, 0, NULL);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "resource")), RES);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(d, "authorization_servers"), 0)), ISS);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(d, "bearer_methods_supported"), 0)),
        "header");
    assert_int_equal(json_array_size(json_object_get(d, "scopes_supported")), 2);
    assert_string_equal(json_string_value(json_object_get(d, "resource_name")), "Test gateway");
    json_decref(d);
    /* Without a resource (API keys only) there is no document, and the
     * challenge names a realm instead. */
    char y[1024];
    snprintf(y, sizeof(y), "auth:\n  api_keys:\n    - name: k\n      hash: \"%s\"\n", key_hash);
    struct authn *b = compile_ok(y);
    const char *paths[2];
    assert_int_equal(authn_prm_paths(b, paths), 0);
    struct authn_result res;
    authn_authenticate(b, NULL, 0, NULL, &res);
    assert_int_equal(res.http_status, 401);
    struct buf ch;
    buf_init(&ch, 1024);
    authn_challenge(b, &res, &ch);
    assert_string_equal(buf_head(&ch), "Bearer realm=\"mcpwall\"");
    buf_free(&ch);
    authn_unref(b);
    /* Resource at the root: one path. */
    struct authn *c = compile_ok("auth:\n  resource: https://gw.test\n  anonymous: true\n");
    assert_int_equal(authn_prm_paths(c, paths), 1);
    assert_string_equal(paths[0], "/.well-known/oauth-protected-resource");
    authn_unref(c);
    aenv_stop(&e);
    authn_unref(a);
}

static void test_insufficient_scope_helper(void **state)
{
    (void)state;
    struct authn *a = compile_ok(auth_yaml());
    struct authn_result res;
    memset(&res, 0, sizeof(res));
    res.status = AUTHN_INSUFFICIENT_SCOPE;
    res.http_status = 403;
    snprintf(res.description, sizeof(res.description), "the tool needs files:write");
    snprintf(res.scope, sizeof(res.scope), "files:write");
    struct buf ch;
    buf_init(&ch, 1024);
    assert_int_equal(authn_challenge(a, &res, &ch), 0);
    assert_string_equal(buf_head(&ch),
                        "Bearer resource_metadata=\"https://gw.test/.well-known/"
                        "oauth-protected-resource/mcp\", error=\"insufficient_scope\", "
                        "error_description=\"the tool needs files:write\", scope=\"files:write\"");
    buf_free(&ch);
    authn_unref(a);
}

static void test_anonymous(void **state)
{
    (void)state;
    const struct tkey *keys[] = {&k_ec};
    char *jwks = tk_jwks(keys, 1);
    tk_write("anon-jwks.json", jwks, 0644);
    free(jwks);
    struct authn *a = compile_ok("auth:\n"
                                 "  resource: " RES "\n"
                                 "  anonymous: true\n"
                                 "  anonymous_roles: [guest]\n"
                                 "  jwt: {issuer: " ISS ", jwks_file: anon-jwks.json}\n");
    struct aenv e;
    env_with(&e, a);
    struct aresp r;
    aenv_request(&e, "GET", "/mcp", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *b = json_loads(r.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(b, "principal")), "anonymous");
    assert_string_equal(json_string_value(json_array_get(json_object_get(b, "roles"), 0)), "guest");
    json_decref(b);
    /* A bad token is refused: anonymous access is no fallback for it. */
    const char *h[] = {"Authorization: Bearer eyJhbGciOiJub25lIn0.e30.", NULL};
    aenv_request(&e, "GET", "/mcp", h, NULL, &r);
    assert_int_equal(r.status, 401);
    aenv_stop(&e);
    authn_unref(a);
}

static void test_no_auth_section(void **state)
{
    (void)state;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    struct authn *a = authn_compile(NULL, NULL, &errs);
    assert_non_null(a);
    struct aenv e;
    env_with(&e, a);
    struct aresp r;
    aenv_request(&e, "GET", "/mcp", NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    const char *h[] = {"Authorization: Bearer abc.def.ghi", NULL};
    aenv_request(&e, "GET", "/mcp", h, NULL, &r);
    assert_int_equal(r.status, 401);
    aenv_stop(&e);
    authn_unref(a);
    cfg_errors_free(&errs);
}

static void test_local_identity(void **state)
{
    (void)state;
    struct authn *a = compile_ok("auth:\n  local_roles: [owner]\n");
    struct identity *id = authn_local_identity(a);
    assert_non_null(id);
    assert_true(strncmp(id->principal, "local:", 6) == 0);
    assert_int_equal(id->method, IDENTITY_LOCAL);
    assert_true(identity_has_role(id, "owner"));
    json_t *j = identity_to_json(id);
    assert_string_equal(json_string_value(json_object_get(j, "method")), "local");
    json_decref(j);
    identity_unref(id);
    id = identity_local_user();
    assert_int_equal(id->nroles, 0);
    identity_unref(id);
    authn_unref(a);
}

static void test_single_key(void **state)
{
    (void)state;
    char key[APIKEY_LEN + 1];
    const char *roles[] = {"admin"};
    struct authn *a = authn_new_single_key("quickstart", roles, 1, key);
    assert_non_null(a);
    char h[128];
    snprintf(h, sizeof(h), "Bearer %s", key);
    struct authn_result res;
    authn_authenticate(a, h, 1, NULL, &res);
    assert_int_equal(res.status, AUTHN_OK);
    assert_string_equal(res.id->principal, "apikey:quickstart");
    assert_true(identity_has_role(res.id, "admin"));
    identity_unref(res.id);
    authn_unref(a);
}

/* ---- configuration errors ---- */

static void test_config_table(void **state)
{
    (void)state;
    const struct tkey *keys[] = {&k_rsa};
    char *jwks = tk_jwks(keys, 1);
    tk_write("cfg-jwks.json", jwks, 0644);
    free(jwks);
    tk_write("empty-jwks.json", "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}", 0644);
    json_t *cases = tu_load_cases("tests/cases/auth/config.jsonl");
    size_t i;
    json_t *c;
    int bad = 0;
    json_array_foreach(cases, i, c)
    {
        const char *name = TU_CASE_NAME(c);
        char *y = subst(json_string_value(json_object_get(c, "yaml")), key_hash);
        struct cfg_errors e;
        cfg_errors_init(&e);
        struct authn *a = compile_yaml(y, &e);
        const json_t *errs = json_object_get(c, "errors");
        if (json_array_size(errs) == 0) {
            if (a == NULL)
                fail_msg("%s: refused: %s", name, e.n ? e.msgs[0] : "?");
        } else {
            if (a != NULL)
                fail_msg("%s: accepted", name);
            if (e.n != json_array_size(errs)) {
                for (size_t j = 0; j < e.n; j++)
                    print_message("  %s\n", e.msgs[j]);
                fail_msg("%s: %zu errors, want %zu", name, e.n, json_array_size(errs));
            }
            for (size_t j = 0; j < e.n; j++) {
                const char *want = json_string_value(json_array_get(errs, j));
                if (strstr(e.msgs[j], want) == NULL) {
                    print_message("%s: error %zu is '%s', want '%s'\n", name, j, e.msgs[j], want);
                    bad++;
                }
            }
        }
        authn_unref(a);
        cfg_errors_free(&e);
        free(y);
    }
    json_decref(cases);
    assert_int_equal(bad, 0);
}

/* ---- JWKS from a URL ---- */

static char *jwks_doc; /* what /jwks serves */
static int jwks_hits;
static int jwks_status = 200;
static bool jwks_hold; /* hold requests (no answer) */
static struct http_request *jwks_held;

static void jwks_held_closed(void *arg, struct http_request *r)
{
    (void)arg;
    (void)r;
    jwks_held = NULL;
}

static void h_jwks(void *ud, struct http_request *req)
{
    (void)ud;
    jwks_hits++;
    if (jwks_hold) {
        jwks_held = req;
        http_request_on_close(req, jwks_held_closed, NULL);
        return;
    }
    http_reply(req, jwks_status, NULL, 0, "application/json", jwks_doc, strlen(jwks_doc));
}

static uint64_t fake_now;
static uint64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static void set_jwks(const struct tkey *const *keys, size_t n)
{
    free(jwks_doc);
    jwks_doc = tk_jwks(keys, n);
}

static char *tok_for(const struct tkey *k)
{
    json_t *c = default_claims((int64_t)(fake_now / 1000000u));
    char *t = tk_token(k, c);
    json_decref(c);
    return t;
}

static long call_with(struct aenv *e, const char *tok)
{
    char h[8192];
    snprintf(h, sizeof(h), "Authorization: Bearer %s", tok);
    const char *hs[] = {h, NULL};
    struct aresp r;
    aenv_request(e, "GET", "/mcp", hs, NULL, &r);
    return r.status;
}

static struct authn *url_authn(struct aenv *e, const char *min_refresh, const char *extra)
{
    char y[2048];
    snprintf(y, sizeof(y),
             "auth:\n"
             "  resource: " RES "\n"
             "  jwt:\n"
             "    issuer: " ISS "\n"
             "    jwks_url: %s/jwks\n"
             "    min_refresh_interval: %s\n"
             "%s",
             e->url, min_refresh, extra);
    struct authn *a = compile_ok(y);
    authn_set_clock(a, fake_clock, NULL);
    http_listener_set_auth(e->l, authn_http_hook, a);
    assert_int_equal(authn_start(a, e->base, e->cl), 0);
    return a;
}

static void url_env(struct aenv *e)
{
    aenv_start(e);
    assert_int_equal(http_listener_route(e->l, "/jwks", HTTP_GET, false, h_jwks, NULL), 0);
    assert_int_equal(
        http_listener_route(e->l, "/mcp", HTTP_GET | HTTP_POST, true, authkit_whoami, NULL), 0);
    jwks_hits = 0;
    jwks_status = 200;
    jwks_hold = false;
    fake_now = wall_us();
}

static void test_jwks_rotation(void **state)
{
    (void)state;
    struct aenv e;
    url_env(&e);
    const struct tkey *set1[] = {&k_rsa, &k_ec};
    set_jwks(set1, 2);
    struct authn *a = url_authn(&e, "30s", "");
    char *t_rsa = tok_for(&k_rsa), *t_ec = tok_for(&k_ec), *t_rot = tok_for(&k_rot);
    /* The first request waits for the first fetch, then passes. */
    assert_int_equal(call_with(&e, t_rsa), 200);
    assert_int_equal(jwks_hits, 1);
    assert_int_equal(call_with(&e, t_ec), 200);
    assert_int_equal(jwks_hits, 1); /* cached */

    /* Rotation at the IdP: rot-2 added, rsa-1 removed. */
    const struct tkey *set2[] = {&k_ec, &k_rot};
    set_jwks(set2, 2);
    /* Within min_refresh_interval of the last fetch an unknown kid is refused
     * without a fetch. */
    fake_now += 10u * 1000000u;
    assert_int_equal(call_with(&e, t_rot), 401);
    assert_int_equal(jwks_hits, 1);
    assert_int_equal(authn_stats(a)->kid_refused, 1);
    /* After it, the unknown kid triggers one refresh and the new key passes:
     * no restart. */
    fake_now += 25u * 1000000u;
    free(t_rot);
    t_rot = tok_for(&k_rot);
    assert_int_equal(call_with(&e, t_rot), 200);
    assert_int_equal(jwks_hits, 2);
    /* The removed key fails now that the set has been refreshed: the very
     * token that passed (and was remembered by the verified-token cache)
     * before the rotation. */
    assert_int_equal(call_with(&e, t_rsa), 401);
    assert_int_equal(jwks_hits, 2);
    assert_int_equal(call_with(&e, t_ec), 200);

    /* No refresh storm: 40 forged kids in the interval cause no fetch; after
     * it, 40 more cause exactly one. */
    char *forged[40];
    for (int i = 0; i < 40; i++) {
        char h[96], p[256];
        snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"forged-%d\"}", i);
        snprintf(p, sizeof(p),
                 "{\"iss\":\"" ISS "\",\"aud\":\"" RES "\",\"sub\":\"x\",\"exp\":%lld}",
                 (long long)(fake_now / 1000000u + 600));
        forged[i] = tk_sign(&k_ec, h, p);
    }
    for (int i = 0; i < 40; i++)
        assert_int_equal(call_with(&e, forged[i]), 401);
    assert_int_equal(jwks_hits, 2);
    fake_now += 31u * 1000000u;
    for (int i = 0; i < 40; i++)
        assert_int_equal(call_with(&e, forged[i]), 401);
    assert_int_equal(jwks_hits, 3);
    for (int i = 0; i < 40; i++)
        free(forged[i]);
    assert_true(authn_stats(a)->kid_refused >= 79);

    authn_stop(a);
    aenv_stop(&e);
    authn_unref(a);
    free(t_rsa);
    free(t_ec);
    free(t_rot);
}

/* Concurrent requests with the same unknown kid share one fetch. */
static struct aresp conc_resp[5];
static bool conc_done[5];
static int conc_response(void *ud, struct http_creq *r, long status)
{
    (void)r;
    conc_resp[(intptr_t)ud].status = status;
    return 0;
}
static void conc_fin(void *ud, struct http_creq *r, const struct http_cresult *res)
{
    (void)r;
    (void)res;
    conc_done[(intptr_t)ud] = true;
}

static void test_jwks_shared_fetch_and_client_gone(void **state)
{
    (void)state;
    struct aenv e;
    url_env(&e);
    const struct tkey *set1[] = {&k_ec};
    set_jwks(set1, 1);
    jwks_hold = true; /* the first fetch hangs */
    struct authn *a = url_authn(&e, "30s", "    fetch_timeout: 30s\n");
    aenv_spin(&e, 20);
    assert_int_equal(jwks_hits, 1);
    char *t = tok_for(&k_ec);
    char h[8192];
    snprintf(h, sizeof(h), "Authorization: Bearer %s", t);
    const char *hs[] = {h, NULL};
    static const struct http_creq_cbs cbs = {.on_response = conc_response, .on_done = conc_fin};
    struct http_creq *reqs[5];
    char url[128];
    snprintf(url, sizeof(url), "%s/mcp", e.url);
    for (intptr_t i = 0; i < 5; i++) {
        struct http_creq_opts o = {.url = url, .headers = hs, .total_timeout_ms = 20000};
        char err[128];
        conc_done[i] = false;
        conc_resp[i].status = 0;
        reqs[i] = http_client_start(e.cl, &o, &cbs, (void *)i, err, sizeof(err));
        assert_non_null(reqs[i]);
    }
    aenv_spin(&e, 50);
    assert_int_equal(authn_stats(a)->pending, 5);
    /* One client leaves while waiting: its request is dropped cleanly. */
    http_creq_cancel(reqs[4]);
    aenv_spin(&e, 50);
    /* The key set arrives: the four others pass, with one fetch in all. */
    assert_non_null(jwks_held);
    http_reply(jwks_held, 200, NULL, 0, "application/json", jwks_doc, strlen(jwks_doc));
    for (int i = 0; i < 4; i++) {
        aenv_run_until(&e, &conc_done[i]);
        assert_int_equal(conc_resp[i].status, 200);
    }
    assert_int_equal(jwks_hits, 1);
    free(t);
    authn_stop(a);
    aenv_stop(&e);
    authn_unref(a);
}

static void test_jwks_unavailable_and_periodic(void **state)
{
    (void)state;
    struct aenv e;
    url_env(&e);
    const struct tkey *set1[] = {&k_ec};
    set_jwks(set1, 1);
    jwks_status = 500;
    struct authn *a = url_authn(&e, "1s", "    refresh_interval: 1s\n");
    char *t = tok_for(&k_ec);
    /* The key set cannot be had: 503 with Retry-After, not a 401. */
    char h[8192];
    snprintf(h, sizeof(h), "Authorization: Bearer %s", t);
    const char *hs[] = {h, NULL};
    struct aresp r;
    aenv_request(&e, "GET", "/mcp", hs, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.retry_after, "5");
    assert_true(authn_stats(a)->jwks_failures >= 1);
    /* The IdP recovers; the periodic timer (real time, 1 s) fetches again
     * without any request asking. */
    jwks_status = 200;
    int before = jwks_hits;
    for (int i = 0; i < 5000 && authn_stats(a)->jwks_loaded == 0; i++)
        aenv_spin(&e, 1);
    assert_int_equal(authn_stats(a)->jwks_loaded, 1);
    assert_true(jwks_hits > before);
    assert_int_equal(authn_stats(a)->kid_refreshes, 0);
    assert_int_equal(call_with(&e, t), 200);
    /* And again later, rotating without any request's help. */
    const struct tkey *set2[] = {&k_rot};
    set_jwks(set2, 1);
    for (int i = 0; i < 5000 && authn_stats(a)->jwks_loaded < 2; i++)
        aenv_spin(&e, 1);
    assert_int_equal(authn_stats(a)->jwks_loaded, 2);
    char *t2 = tok_for(&k_rot);
    assert_int_equal(call_with(&e, t2), 200);
    assert_int_equal(call_with(&e, t), 401);
    assert_int_equal(authn_stats(a)->kid_refreshes, 0);
    free(t2);
    free(t);
    authn_stop(a);
    aenv_stop(&e);
    authn_unref(a);
}

/* A JWKS file rotated on disk is re-read on an unknown kid. */
static void test_jwks_file_rotation(void **state)
{
    (void)state;
    const struct tkey *set1[] = {&k_rsa};
    char *j = tk_jwks(set1, 1);
    tk_write("rot-jwks.json", j, 0644);
    free(j);
    struct authn *a = compile_ok("auth:\n  resource: " RES "\n  jwt:\n    issuer: " ISS "\n"
                                 "    jwks_file: rot-jwks.json\n    min_refresh_interval: 1s\n");
    fake_now = wall_us();
    authn_set_clock(a, fake_clock, NULL);
    char *t1 = tok_for(&k_rsa), *t2 = tok_for(&k_rot);
    char h[8192];
    struct authn_result res;
    snprintf(h, sizeof(h), "Bearer %s", t1);
    authn_authenticate(a, h, 1, NULL, &res);
    assert_int_equal(res.status, AUTHN_OK);
    identity_unref(res.id);
    const struct tkey *set2[] = {&k_rot};
    j = tk_jwks(set2, 1);
    tk_write("rot-jwks.json", j, 0644);
    free(j);
    fake_now += 2u * 1000000u;
    snprintf(h, sizeof(h), "Bearer %s", t2);
    authn_authenticate(a, h, 1, NULL, &res);
    assert_int_equal(res.status, AUTHN_OK);
    identity_unref(res.id);
    snprintf(h, sizeof(h), "Bearer %s", t1);
    authn_authenticate(a, h, 1, NULL, &res);
    assert_int_equal(res.status, AUTHN_INVALID_TOKEN);
    assert_string_equal(res.reason, "unknown_kid");
    free(t1);
    free(t2);
    authn_unref(a);
}

/* The verified-token cache: a repeat costs a hash, but never outlives the
 * token's exp, and a tampered copy is a miss. */
static void test_token_cache(void **state)
{
    (void)state;
    const struct tkey *set1[] = {&k_ed};
    char *j = tk_jwks(set1, 1);
    tk_write("cache-jwks.json", j, 0644);
    free(j);
    struct authn *a = compile_ok("auth:\n  resource: " RES "\n  jwt:\n    issuer: " ISS "\n"
                                 "    jwks_file: cache-jwks.json\n    clock_skew: 30s\n");
    fake_now = wall_us();
    authn_set_clock(a, fake_clock, NULL);
    char *t = tok_for(&k_ed); /* exp = now + 3600 */
    char h[4096];
    snprintf(h, sizeof(h), "Bearer %s", t);
    struct authn_result res;
    for (int i = 0; i < 3; i++) {
        authn_authenticate(a, h, 1, NULL, &res);
        assert_int_equal(res.status, AUTHN_OK);
        assert_string_equal(res.id->principal, "jwt:" ISS "#alice");
        identity_unref(res.id);
    }
    assert_int_equal(authn_stats(a)->cache_hits, 2);
    /* A tampered copy is verified (and refused), not served from the cache. */
    h[strlen(h) - 2] = h[strlen(h) - 2] == 'A' ? 'B' : 'A';
    authn_authenticate(a, h, 1, NULL, &res);
    assert_int_equal(res.status, AUTHN_INVALID_TOKEN);
    snprintf(h, sizeof(h), "Bearer %s", t);
    /* Within exp + skew: still served; past it: expired, cache or not. */
    fake_now += (3600u + 29u) * 1000000u;
    authn_authenticate(a, h, 1, NULL, &res);
    assert_int_equal(res.status, AUTHN_OK);
    identity_unref(res.id);
    assert_int_equal(authn_stats(a)->cache_hits, 3);
    fake_now += 2u * 1000000u;
    authn_authenticate(a, h, 1, NULL, &res);
    assert_int_equal(res.status, AUTHN_INVALID_TOKEN);
    assert_string_equal(res.reason, "expired");
    assert_int_equal(authn_stats(a)->cache_hits, 3);
    free(t);
    authn_unref(a);
    /* token_cache: 0 turns it off. */
    a = compile_ok("auth:\n  resource: " RES "\n  token_cache: 0\n  jwt:\n    issuer: " ISS
                   "\n    jwks_file: cache-jwks.json\n");
    authn_set_clock(a, fake_clock, NULL);
    t = tok_for(&k_ed);
    snprintf(h, sizeof(h), "Bearer %s", t);
    for (int i = 0; i < 2; i++) {
        authn_authenticate(a, h, 1, NULL, &res);
        assert_int_equal(res.status, AUTHN_OK);
        identity_unref(res.id);
    }
    assert_int_equal(authn_stats(a)->cache_hits, 0);
    free(t);
    authn_unref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_table),
        cmocka_unit_test(test_protected_resource_metadata),
        cmocka_unit_test(test_insufficient_scope_helper),
        cmocka_unit_test(test_anonymous),
        cmocka_unit_test(test_no_auth_section),
        cmocka_unit_test(test_local_identity),
        cmocka_unit_test(test_single_key),
        cmocka_unit_test(test_config_table),
        cmocka_unit_test(test_jwks_rotation),
        cmocka_unit_test(test_jwks_shared_fetch_and_client_gone),
        cmocka_unit_test(test_jwks_unavailable_and_periodic),
        cmocka_unit_test(test_jwks_file_rotation),
        cmocka_unit_test(test_token_cache),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    free(jwks_doc);
    return rc;
}
