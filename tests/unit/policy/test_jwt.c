/* JOSE pieces without HTTP: strict base64url, JWK Set reading (what is
 * skipped and why), token decoding limits, signature verification per
 * algorithm and the algorithm-confusion refusals, claim rules at their
 * boundaries, dotted claim paths, and struct identity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "authkit.h"
#include "policy/identity.h"
#include "policy/jwt.h"
#include "util/b64.h"

static struct tkey k_rsa, k_ec, k_ed;

static int group_setup(void **state)
{
    (void)state;
    tk_gen(&k_rsa, JWT_RS256, "r");
    tk_gen(&k_ec, JWT_ES256, "e");
    tk_gen(&k_ed, JWT_EDDSA, "d");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tk_free(&k_rsa);
    tk_free(&k_ec);
    tk_free(&k_ed);
    tk_rmdir();
    return 0;
}

/* ---- base64url ---- */

static int dec(const char *s, uint8_t *out, size_t cap, size_t *n)
{
    return b64url_decode(s, strlen(s), out, cap, n);
}

static void test_b64url(void **state)
{
    (void)state;
    uint8_t b[64];
    size_t n;
    char e[128];
    /* Round trips of every length class. */
    for (size_t len = 0; len < 20; len++) {
        uint8_t in[20];
        for (size_t i = 0; i < len; i++)
            in[i] = (uint8_t)(i * 37 + 200);
        assert_int_equal(b64url_encode(in, len, e, sizeof(e)), (long)b64url_encoded_len(len));
        assert_int_equal(dec(e, b, sizeof(b), &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(b, in, len);
    }
    assert_int_equal(dec("-_-_", b, sizeof(b), &n), 0);
    assert_int_equal(n, 3);
    /* Refused: padding, standard alphabet, whitespace, a lone char, non-zero
     * unused bits (a second spelling of the same bytes), NUL. */
    assert_int_equal(dec("YQ==", b, sizeof(b), &n), -1);
    assert_int_equal(dec("YQ", b, sizeof(b), &n), 0);
    assert_int_equal(dec("YR", b, sizeof(b), &n), -1);
    assert_int_equal(dec("+/+/", b, sizeof(b), &n), -1);
    assert_int_equal(dec("YW Jj", b, sizeof(b), &n), -1);
    assert_int_equal(dec("YWJjZ", b, sizeof(b), &n), -1);
    assert_int_equal(b64url_decode("YW\0j", 4, b, sizeof(b), &n), -1);
    /* Output capacity is respected. */
    assert_int_equal(dec("YWJjZGVm", b, 5, &n), -1);
    /* Standard base64 with padding (HTTP Basic). */
    assert_int_equal(b64_encode((const uint8_t *)"id:sec", 6, e, sizeof(e)), 8);
    assert_string_equal(e, "aWQ6c2Vj");
    assert_int_equal(b64_encode((const uint8_t *)"a", 1, e, sizeof(e)), 4);
    assert_string_equal(e, "YQ==");
    assert_int_equal(b64_encode((const uint8_t *)"a", 1, e, 4), -1);
}

/* ---- JWK Sets ---- */

static struct jwks *parse(const char *doc, struct jwks_report *rep, struct jwt_err *err)
{
    return jwks_parse(doc, strlen(doc), rep, err);
}

static void expect_skipped(json_t *jwk, const char *why)
{
    json_t *o = json_pack("{s:[o]}", "keys", jwk);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    struct jwks_report rep;
    struct jwt_err err;
    struct jwks *k = parse(s, &rep, &err);
    assert_non_null(k);
    if (k->n != 0 || rep.skipped != 1 || strstr(rep.first, why) == NULL)
        fail_msg("expected skip '%s', got n=%zu skipped=%zu '%s' for %s", why, k->n, rep.skipped,
                 rep.first, s);
    jwks_unref(k);
    free(s);
}

static void test_jwks_reading(void **state)
{
    (void)state;
    const struct tkey *keys[] = {&k_rsa, &k_ec, &k_ed};
    char *doc = tk_jwks(keys, 3);
    struct jwks_report rep;
    struct jwt_err err;
    struct jwks *s = parse(doc, &rep, &err);
    free(doc);
    assert_non_null(s);
    assert_int_equal(s->n, 3);
    assert_int_equal(rep.skipped, 0);
    assert_int_equal(jwks_find(s, "r")->alg, JWT_RS256);
    assert_int_equal(jwks_find(s, "e")->alg, JWT_ES256);
    assert_int_equal(jwks_find(s, "d")->alg, JWT_EDDSA);
    assert_null(jwks_find(s, "x"));
    jwks_unref(s);

    /* What is left out, with the reason. */
    expect_skipped(json_pack("{s:s, s:s}", "kty", "oct", "k", "c2VjcmV0"), "symmetric");
    json_t *priv = tk_jwk(&k_rsa, false);
    json_object_set_new(priv, "d", json_string("AAAA"));
    expect_skipped(priv, "private");
    json_t *wrongalg = tk_jwk(&k_rsa, false);
    json_object_set_new(wrongalg, "alg", json_string("HS256"));
    expect_skipped(wrongalg, "only RS256 is accepted");
    json_t *ps = tk_jwk(&k_rsa, false);
    json_object_set_new(ps, "alg", json_string("PS256"));
    expect_skipped(ps, "only RS256");
    json_t *enc = tk_jwk(&k_ec, false);
    json_object_set_new(enc, "use", json_string("enc"));
    expect_skipped(enc, "use is not");
    json_t *ops = tk_jwk(&k_ec, false);
    json_object_set_new(ops, "key_ops", json_pack("[s]", "sign"));
    expect_skipped(ops, "key_ops");
    json_t *p384 = tk_jwk(&k_ec, false);
    json_object_set_new(p384, "crv", json_string("P-384"));
    expect_skipped(p384, "only P-256");
    json_t *off = tk_jwk(&k_ec, false);
    json_object_set_new(off, "y", json_string("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"));
    expect_skipped(off, "not on the curve");
    json_t *x25519 = tk_jwk(&k_ed, false);
    json_object_set_new(x25519, "crv", json_string("X25519"));
    expect_skipped(x25519, "only Ed25519");
    json_t *shortx = tk_jwk(&k_ed, false);
    json_object_set_new(shortx, "x", json_string("AAAA"));
    expect_skipped(shortx, "32-byte x");
    expect_skipped(json_pack("{s:s}", "kty", "RSA"), "without valid n and e");
    expect_skipped(json_pack("{s:s}", "kid", "x"), "without kty");

    /* A 1024-bit RSA key is too weak. */
    {
        uint8_t n[128];
        memset(n, 0xC5, sizeof(n));
        char *nb = tk_b64(n, sizeof(n));
        expect_skipped(json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", nb, "e", "AQAB"),
                       "RSA key of 1024 bits");
        free(nb);
    }

    /* Duplicate kid: the second is skipped. */
    json_t *o = json_pack("{s:[o,o]}", "keys", tk_jwk(&k_ec, false), tk_jwk(&k_ec, true));
    char *d2 = json_dumps(o, JSON_COMPACT);
    s = parse(d2, &rep, &err);
    assert_int_equal(s->n, 1);
    assert_int_equal(rep.skipped, 1);
    assert_non_null(strstr(rep.first, "duplicate kid"));
    jwks_unref(s);
    free(d2);
    json_decref(o);

    /* Not a key set at all. */
    assert_null(parse("[]", &rep, &err));
    assert_int_equal(err.reason, JWT_E_KEY);
    assert_null(parse("{\"keys\":{}}", &rep, &err));
    assert_null(parse("{\"keys\":[],\"keys\":[]}", &rep, &err));
    assert_int_equal(err.reason, JWT_E_JSON);
    assert_null(parse("{\"keys\":[", &rep, &err));
    /* Too many keys. */
    json_t *many = json_array();
    for (int i = 0; i < 65; i++)
        json_array_append_new(many, json_pack("{s:s}", "kty", "oct"));
    o = json_pack("{s:o}", "keys", many);
    d2 = json_dumps(o, JSON_COMPACT);
    assert_null(parse(d2, &rep, &err));
    assert_int_equal(err.reason, JWT_E_TOO_LARGE);
    free(d2);
    json_decref(o);
    /* An empty set is a set. */
    s = parse("{\"keys\":[]}", &rep, &err);
    assert_non_null(s);
    assert_int_equal(s->n, 0);
    jwks_unref(s);
}

/* ---- tokens ---- */

static struct jwks *keyset(void)
{
    const struct tkey *keys[] = {&k_rsa, &k_ec, &k_ed};
    char *doc = tk_jwks(keys, 3);
    struct jwt_err err;
    struct jwks *s = jwks_parse(doc, strlen(doc), NULL, &err);
    free(doc);
    assert_non_null(s);
    return s;
}

static int verify(const struct jwks *s, const char *tok, struct jwt_err *err)
{
    struct jwt t;
    if (jwt_decode(tok, strlen(tok), 0, &t, err) < 0)
        return -1;
    const struct jwk *k = t.kid ? jwks_find(s, t.kid) : NULL;
    int rc = k ? jwt_verify(&t, k, err) : -1;
    jwt_free(&t);
    return rc;
}

static void test_verify_algorithms(void **state)
{
    (void)state;
    struct jwks *s = keyset();
    struct jwt_err err;
    const char *p = "{\"sub\":\"a\"}";
    const struct tkey *keys[] = {&k_rsa, &k_ec, &k_ed};
    for (int i = 0; i < 3; i++) {
        char h[96];
        snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"kid\":\"%s\"}", jwt_alg_name(keys[i]->alg),
                 keys[i]->kid);
        char *t = tk_sign(keys[i], h, p);
        if (verify(s, t, &err) != 0)
            fail_msg("%s: %s", jwt_alg_name(keys[i]->alg), err.msg);
        free(t);
        /* The same signature presented under another key's kid fails. */
        snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"kid\":\"%s\"}", jwt_alg_name(keys[i]->alg),
                 keys[(i + 1) % 3]->kid);
        t = tk_sign(keys[i], h, p);
        assert_int_equal(verify(s, t, &err), -1);
        assert_int_equal(err.reason, JWT_E_ALG);
        free(t);
    }
    /* HS256 keyed with the RSA public key, under the RSA kid. */
    char *t =
        tk_hs256(k_rsa.pub_pem, strlen(k_rsa.pub_pem), "{\"alg\":\"HS256\",\"kid\":\"r\"}", p);
    assert_int_equal(verify(s, t, &err), -1);
    assert_int_equal(err.reason, JWT_E_ALG);
    free(t);
    /* HS256 keyed with the raw modulus bytes: same refusal. */
    t = tk_hs256("n", 1, "{\"alg\":\"HS256\",\"kid\":\"r\"}", p);
    assert_int_equal(verify(s, t, &err), -1);
    assert_int_equal(err.reason, JWT_E_ALG);
    free(t);
    /* alg missing, not a string. */
    t = tk_sign(&k_rsa, "{\"kid\":\"r\"}", p);
    assert_int_equal(verify(s, t, &err), -1);
    assert_int_equal(err.reason, JWT_E_ALG);
    free(t);
    t = tk_sign(&k_rsa, "{\"alg\":[\"RS256\"],\"kid\":\"r\"}", p);
    assert_int_equal(verify(s, t, &err), -1);
    assert_int_equal(err.reason, JWT_E_ALG);
    free(t);
    /* ES256 with a DER signature instead of R||S. */
    {
        char *in = NULL;
        t = tk_sign(&k_ec, "{\"alg\":\"ES256\",\"kid\":\"e\"}", p);
        in = strdup(t);
        *strrchr(in, '.') = '\0';
        EVP_MD_CTX *mc = EVP_MD_CTX_new();
        EVP_DigestSignInit(mc, NULL, EVP_sha256(), NULL, k_ec.pk);
        unsigned char der[80];
        size_t dl = sizeof(der);
        EVP_DigestSign(mc, der, &dl, (unsigned char *)in, strlen(in));
        EVP_MD_CTX_free(mc);
        char *sb = tk_b64(der, dl);
        size_t t2n = strlen(in) + strlen(sb) + 2;
        char *t2 = malloc(t2n);
        snprintf(t2, t2n, "%s.%s", in, sb);
        assert_int_equal(verify(s, t2, &err), -1);
        assert_int_equal(err.reason, JWT_E_SIGNATURE);
        free(sb);
        free(t2);
        free(in);
        free(t);
    }
    /* A flipped bit in each part. */
    t = tk_sign(&k_ed, "{\"alg\":\"EdDSA\",\"kid\":\"d\"}", p);
    char *dot = strrchr(t, '.');
    dot[1] = dot[1] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(s, t, &err), -1);
    assert_int_equal(err.reason, JWT_E_SIGNATURE);
    free(t);
    jwks_unref(s);
}

static void test_decode_limits(void **state)
{
    (void)state;
    struct jwt t;
    struct jwt_err err;
    /* Sizes are refused before decoding. */
    char *big = malloc(JWT_DEFAULT_MAX_TOKEN + 2);
    memset(big, 'A', JWT_DEFAULT_MAX_TOKEN + 1);
    big[JWT_DEFAULT_MAX_TOKEN + 1] = '\0';
    assert_int_equal(jwt_decode(big, strlen(big), 0, &t, &err), -1);
    assert_int_equal(err.reason, JWT_E_TOO_LARGE);
    /* A caller's limit above the hard maximum is clamped. */
    assert_int_equal(jwt_decode(big, strlen(big), 1u << 30, &t, &err), -1);
    free(big);
    static const struct {
        const char *tok;
        enum jwt_reason r;
    } cases[] = {
        {"", JWT_E_MALFORMED},
        {"abc", JWT_E_MALFORMED},
        {"a.b", JWT_E_MALFORMED},
        {"a.b.c.d", JWT_E_MALFORMED},
        {".e30.AAAA", JWT_E_MALFORMED},
        {"e30..AAAA", JWT_E_MALFORMED},
        {"eyJhbGciOiJSUzI1NiJ9.e30.", JWT_E_ALG}, /* no signature */
        {"e30.e30.AAAA", JWT_E_ALG},              /* {} header: no alg */
        {"W10.e30.AAAA", JWT_E_JSON},             /* [] header */
        {"eyJ.e30.AAAA", JWT_E_BASE64},           /* lone char group */
        {"eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.AAAA", JWT_E_JSON},
        {"eyJhbGciOiJFUzI1NiJ9.W10.AAAA", JWT_E_JSON},
        {"eyJhbGciOiJFUzI1NiIsImNyaXQiOltdfQ.e30.AAAA", JWT_E_CRIT},
        {"eyJhbGciOiJFUzI1NiIsImtpZCI6MX0.e30.AAAA", JWT_E_MALFORMED}, /* kid: 1 */
        {"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXRSJ9.e30.AAAA", JWT_E_TYP},
        {"eyJhbGciOiJFUzI1NiJ9.e30.AA==", JWT_E_BASE64},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = jwt_decode(cases[i].tok, strlen(cases[i].tok), 0, &t, &err);
        if (rc != -1 || err.reason != cases[i].r)
            fail_msg("'%s': rc %d reason %s, want %s", cases[i].tok, rc,
                     jwt_reason_code(err.reason), jwt_reason_code(cases[i].r));
        /* Messages never quote the token. */
        if (strlen(cases[i].tok) > 6)
            assert_null(strstr(err.msg, cases[i].tok));
    }
    /* A valid decode borrows the token and owns the trees. */
    const char *ok = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJ4In0.AAAA";
    assert_int_equal(jwt_decode(ok, strlen(ok), 0, &t, &err), 0);
    assert_string_equal(t.kid, "k");
    assert_int_equal(t.alg, JWT_ES256);
    assert_int_equal(t.signed_len, strlen(ok) - 5);
    jwt_free(&t);
    /* A long header alg value is not quoted back. */
    const char *longalg = "eyJhbGciOiI8c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ-In0.e30.AAAA";
    assert_int_equal(jwt_decode(longalg, strlen(longalg), 0, &t, &err), -1);
    assert_null(strstr(err.msg, "script"));
}

static void test_claims(void **state)
{
    (void)state;
    const char *aud[] = {"https://gw/mcp"};
    struct jwt_rules r = {
        .issuer = "https://idp", .audiences = aud, .naud = 1, .now = 1000000, .skew = 60};
    struct {
        const char *claims;
        int rc;
        enum jwt_reason reason;
    } cases[] = {
        {"{\"iss\":\"https://idp\",\"aud\":\"https://gw/mcp\",\"sub\":\"a\",\"exp\":1000100}", 0,
         JWT_OK},
        /* exp boundary: valid until exp + skew, exclusive. */
        {"{\"iss\":\"https://idp\",\"aud\":\"https://gw/mcp\",\"sub\":\"a\",\"exp\":999941}", 0,
         JWT_OK},
        {"{\"iss\":\"https://idp\",\"aud\":\"https://gw/mcp\",\"sub\":\"a\",\"exp\":999940}", -1,
         JWT_E_EXPIRED},
        {"{\"iss\":\"https://idp\",\"aud\":\"https://gw/mcp\",\"sub\":\"a\",\"exp\":1000100.5}", 0,
         JWT_OK},
        {"{\"iss\":\"https://idp\",\"aud\":\"https://gw/mcp\",\"sub\":\"a\",\"exp\":-1}", -1,
         JWT_E_CLAIM},
        {"{\"iss\":\"https://idp\",\"aud\":\"https://gw/mcp\",\"sub\":\"a\",\"exp\":1e300}", -1,
         JWT_E_CLAIM},
        {"{\"iss\":\"https://idp\",\"aud\":\"https://gw/mcp\",\"sub\":\"a\",\"exp\":1000100,"
         "\"nbf\":1000060}",
         0, JWT_OK},
        {"{\"iss\":\"https://idp\",\"aud\":\"https://gw/mcp\",\"sub\":\"a\",\"exp\":1000100,"
         "\"nbf\":1000061}",
         -1, JWT_E_NOT_YET_VALID},
        {"{\"iss\":\"https://idp\",\"aud\":\"https://gw/mcp\",\"sub\":\"a\",\"exp\":1000100,"
         "\"iat\":1000061}",
         -1, JWT_E_IAT},
        {"{\"iss\":\"https://idp\",\"aud\":[],\"sub\":\"a\",\"exp\":1000100}", -1, JWT_E_AUDIENCE},
        {"{\"iss\":\"https://idp\",\"aud\":[\"https://gw/mcp\",3],\"sub\":\"a\",\"exp\":1000100}",
         -1, JWT_E_AUDIENCE},
        {"{\"iss\":\"https://idp\",\"aud\":\"https://gw/mcp/\",\"sub\":\"a\",\"exp\":1000100}", -1,
         JWT_E_AUDIENCE},
        {"{\"iss\":\"https://IDP\",\"aud\":\"https://gw/mcp\",\"sub\":\"a\",\"exp\":1000100}", -1,
         JWT_E_ISSUER},
        {"{\"aud\":\"https://gw/mcp\",\"sub\":\"a\",\"exp\":1000100}", -1, JWT_E_ISSUER},
        {"{\"iss\":\"https://idp\",\"aud\":\"https://gw/mcp\",\"sub\":\"\",\"exp\":1000100}", -1,
         JWT_E_CLAIM},
        {"{\"iss\":\"https://idp\",\"aud\":\"https://gw/"
         "mcp\",\"sub\":\"a\\u0007\",\"exp\":1000100}",
         -1, JWT_E_CLAIM},
        {"{\"iss\":\"https://idp\",\"aud\":\"https://gw/mcp\",\"sub\":42,\"exp\":1000100}", -1,
         JWT_E_CLAIM},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jwt t = {0};
        t.claims = json_loads(cases[i].claims, JSON_DECODE_ANY, NULL);
        assert_non_null(t.claims);
        struct jwt_err err = {0};
        int rc = jwt_check_claims(&t, &r, &err);
        if (rc != cases[i].rc || (rc < 0 && err.reason != cases[i].reason))
            fail_msg("%s: rc %d %s (%s)", cases[i].claims, rc, jwt_reason_code(err.reason),
                     err.msg);
        json_decref(t.claims);
    }
    /* Dotted paths, and claim names that contain dots. */
    json_t *c = json_loads("{\"realm_access\":{\"roles\":[\"a\"]},"
                           "\"https://example.com/roles\":[\"b\"],\"x\":{\"y\":{\"z\":1}}}",
                           0, NULL);
    assert_string_equal(json_string_value(json_array_get(jwt_claim(c, "realm_access.roles"), 0)),
                        "a");
    assert_string_equal(
        json_string_value(json_array_get(jwt_claim(c, "https://example.com/roles"), 0)), "b");
    assert_int_equal(json_integer_value(jwt_claim(c, "x.y.z")), 1);
    assert_null(jwt_claim(c, "x.y.z.w"));
    assert_null(jwt_claim(c, "x..y"));
    assert_null(jwt_claim(c, "nope"));
    json_decref(c);
}

static void test_identity(void **state)
{
    (void)state;
    struct identity *id = identity_new(IDENTITY_JWT, "jwt:https://idp#a", NULL);
    assert_string_equal(id->display, "jwt:https://idp#a");
    assert_int_equal(identity_add_role(id, "dev", 3), 0);
    assert_int_equal(identity_add_role(id, "dev", 3), 0);
    assert_int_equal(id->nroles, 1);
    assert_int_equal(identity_add_role(id, "", 0), -1);
    assert_int_equal(identity_add_role(id, "a\0b", 3), -1);
    char big[IDENTITY_MAX_NAME + 2];
    memset(big, 'r', sizeof(big));
    assert_int_equal(identity_add_role(id, big, sizeof(big)), -1);
    for (unsigned i = 1; i < IDENTITY_MAX_ITEMS; i++) {
        char r[16];
        int n = snprintf(r, sizeof(r), "r%u", i);
        assert_int_equal(identity_add_role(id, r, (size_t)n), 0);
    }
    assert_int_equal(identity_add_role(id, "one-too-many", 12), -1);
    assert_true(identity_has_role(id, "dev"));
    assert_false(identity_has_role(id, "de"));
    assert_int_equal(identity_add_scope(id, "mcp", 3), 0);
    assert_true(identity_has_scope(id, "mcp"));
    id->expires_us = 100;
    assert_false(identity_expired(id, 99));
    assert_true(identity_expired(id, 100));
    struct identity *r2 = identity_ref(id);
    identity_unref(id);
    json_t *j = identity_to_json(r2);
    assert_string_equal(json_string_value(json_object_get(j, "method")), "jwt");
    assert_int_equal(json_array_size(json_object_get(j, "roles")), IDENTITY_MAX_ITEMS);
    assert_non_null(json_object_get(j, "expires"));
    json_decref(j);
    identity_free_cb(r2);
    const char *roles[] = {"guest"};
    struct identity *an = identity_anonymous(roles, 1);
    assert_string_equal(an->principal, "anonymous");
    assert_true(identity_has_role(an, "guest"));
    identity_unref(an);
    identity_unref(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_jwks_reading),
        cmocka_unit_test(test_verify_algorithms),
        cmocka_unit_test(test_decode_limits),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_identity),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
