#include "policy/jwt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "proto/json.h"
#include "util/b64.h"

static const char *const reason_codes[JWT_E__COUNT] = {
    [JWT_OK] = "ok",
    [JWT_E_MALFORMED] = "malformed",
    [JWT_E_TOO_LARGE] = "too_large",
    [JWT_E_BASE64] = "bad_base64",
    [JWT_E_JSON] = "bad_json",
    [JWT_E_ALG] = "bad_alg",
    [JWT_E_TYP] = "bad_typ",
    [JWT_E_CRIT] = "crit",
    [JWT_E_UNKNOWN_KID] = "unknown_kid",
    [JWT_E_SIGNATURE] = "bad_signature",
    [JWT_E_EXPIRED] = "expired",
    [JWT_E_NOT_YET_VALID] = "not_yet_valid",
    [JWT_E_IAT] = "issued_in_future",
    [JWT_E_ISSUER] = "wrong_issuer",
    [JWT_E_AUDIENCE] = "wrong_audience",
    [JWT_E_CLAIM] = "bad_claim",
    [JWT_E_KEY] = "bad_key",
};

const char *jwt_reason_code(enum jwt_reason r)
{
    return (unsigned)r < JWT_E__COUNT ? reason_codes[r] : "unknown";
}

const char *jwt_alg_name(enum jwt_alg a)
{
    switch (a) {
    case JWT_RS256:
        return "RS256";
    case JWT_ES256:
        return "ES256";
    case JWT_EDDSA:
        return "EdDSA";
    case JWT_ALG_UNKNOWN:
        break;
    }
    return "unknown";
}

enum jwt_alg jwt_alg_parse(const char *s)
{
    if (strcmp(s, "RS256") == 0)
        return JWT_RS256;
    if (strcmp(s, "ES256") == 0)
        return JWT_ES256;
    if (strcmp(s, "EdDSA") == 0 || strcmp(s, "Ed25519") == 0)
        return JWT_EDDSA;
    return JWT_ALG_UNKNOWN;
}

static int fail(struct jwt_err *e, enum jwt_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct jwt_err *e, enum jwt_reason r, const char *fmt, ...)
{
    e->reason = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* A header or claim value is quoted in messages only when short and plain. */
static const char *plain(const char *s)
{
    if (s == NULL || strlen(s) > 32)
        return "(value not shown)";
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '+'))
            return "(value not shown)";
    }
    return s;
}

/* ---- keys ---- */

static const struct json_limits jwks_limits = {
    .max_bytes = JWKS_MAX_BYTES,
    .max_depth = 8,
    .max_string = 16384,
    .max_members = 64,
    .max_items = JWKS_MAX_KEYS * 4,
};

/* Decodes a base64url member into a new buffer of at most max bytes. */
static uint8_t *jwk_bytes(const json_t *o, const char *name, size_t max, size_t *n)
{
    const char *s = json_string_value(json_object_get(o, name));
    if (s == NULL)
        return NULL;
    size_t sl = strlen(s);
    if (sl == 0 || b64url_decoded_max(sl) > max + 2)
        return NULL;
    uint8_t *b = malloc(b64url_decoded_max(sl));
    if (b == NULL)
        return NULL;
    if (b64url_decode(s, sl, b, b64url_decoded_max(sl), n) < 0 || *n > max || *n == 0) {
        free(b);
        return NULL;
    }
    return b;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pk = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pk;
}

static EVP_PKEY *jwk_rsa(const json_t *o, char *why, size_t whylen)
{
    size_t nl = 0, el = 0;
    EVP_PKEY *pk = NULL;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    uint8_t *nb = jwk_bytes(o, "n", 1024, &nl);
    uint8_t *eb = jwk_bytes(o, "e", 8, &el);
    if (nb == NULL || eb == NULL) {
        snprintf(why, whylen, "RSA key without valid n and e");
        goto out;
    }
    if (nb[0] == 0 || eb[0] == 0) {
        snprintf(why, whylen, "RSA key with leading zero bytes in n or e");
        goto out;
    }
    n = BN_bin2bn(nb, (int)nl, NULL);
    e = BN_bin2bn(eb, (int)el, NULL);
    if (n == NULL || e == NULL)
        goto out;
    int bits = BN_num_bits(n);
    if (bits < 2048 || bits > 8192) {
        snprintf(why, whylen, "RSA key of %d bits (2048 to 8192 accepted)", bits);
        goto out;
    }
    if (!BN_is_odd(e) || BN_is_one(e) || BN_num_bits(e) > 33) {
        snprintf(why, whylen, "RSA key with an unusual public exponent");
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        goto out;
    pk = pkey_fromdata("RSA", bld);
    if (pk == NULL)
        snprintf(why, whylen, "RSA key rejected by OpenSSL");
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(nb);
    free(eb);
    return pk;
}

static EVP_PKEY *jwk_ec(const json_t *o, char *why, size_t whylen)
{
    const char *crv = json_string_value(json_object_get(o, "crv"));
    if (crv == NULL || strcmp(crv, "P-256") != 0) {
        snprintf(why, whylen, "EC key on curve %s (only P-256 is accepted)", plain(crv));
        return NULL;
    }
    size_t xl = 0, yl = 0;
    uint8_t *x = jwk_bytes(o, "x", 32, &xl);
    uint8_t *y = jwk_bytes(o, "y", 32, &yl);
    EVP_PKEY *pk = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY_CTX *chk = NULL;
    if (x == NULL || y == NULL || xl != 32 || yl != 32) {
        snprintf(why, whylen, "P-256 key without 32-byte x and y");
        goto out;
    }
    uint8_t pt[65];
    pt[0] = 0x04;
    memcpy(pt + 1, x, 32);
    memcpy(pt + 33, y, 32);
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)))
        goto out;
    pk = pkey_fromdata("EC", bld);
    /* The point must be on the curve (invalid-curve attacks). */
    if (pk != NULL && ((chk = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) == NULL ||
                       EVP_PKEY_public_check(chk) != 1)) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    if (pk == NULL)
        snprintf(why, whylen, "P-256 key whose point is not on the curve");
out:
    EVP_PKEY_CTX_free(chk);
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return pk;
}

static EVP_PKEY *jwk_okp(const json_t *o, char *why, size_t whylen)
{
    const char *crv = json_string_value(json_object_get(o, "crv"));
    if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
        snprintf(why, whylen, "OKP key on curve %s (only Ed25519 is accepted)", plain(crv));
        return NULL;
    }
    size_t xl = 0;
    uint8_t *x = jwk_bytes(o, "x", 32, &xl);
    EVP_PKEY *pk = NULL;
    if (x == NULL || xl != 32)
        snprintf(why, whylen, "Ed25519 key without a 32-byte x");
    else if ((pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32)) == NULL)
        snprintf(why, whylen, "Ed25519 key rejected by OpenSSL");
    free(x);
    return pk;
}

/* Reads one JWK into k; -1 with a reason in why when it is not usable. */
static int jwk_read(const json_t *o, struct jwk *k, char *why, size_t whylen)
{
    memset(k, 0, sizeof(*k));
    if (!json_is_object(o)) {
        snprintf(why, whylen, "a key that is not a JSON object");
        return -1;
    }
    const char *kty = json_string_value(json_object_get(o, "kty"));
    if (kty == NULL) {
        snprintf(why, whylen, "a key without kty");
        return -1;
    }
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++) {
        if (json_object_get(o, private_members[i]) != NULL) {
            snprintf(why, whylen,
                     "a key with private or symmetric material (\"%s\"): "
                     "publish public keys only",
                     private_members[i]);
            return -1;
        }
    }
    const json_t *use = json_object_get(o, "use");
    if (use != NULL && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)) {
        snprintf(why, whylen, "a key whose use is not \"sig\"");
        return -1;
    }
    const json_t *ops = json_object_get(o, "key_ops");
    if (ops != NULL) {
        bool verify = false;
        size_t i;
        const json_t *op;
        if (!json_is_array(ops)) {
            snprintf(why, whylen, "a key whose key_ops is not an array");
            return -1;
        }
        json_array_foreach(ops, i, op)
        {
            if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
                verify = true;
        }
        if (!verify) {
            snprintf(why, whylen, "a key whose key_ops does not include \"verify\"");
            return -1;
        }
    }
    enum jwt_alg want;
    EVP_PKEY *pk;
    if (strcmp(kty, "RSA") == 0) {
        want = JWT_RS256;
        pk = NULL;
    } else if (strcmp(kty, "EC") == 0) {
        want = JWT_ES256;
        pk = NULL;
    } else if (strcmp(kty, "OKP") == 0) {
        want = JWT_EDDSA;
        pk = NULL;
    } else {
        snprintf(why, whylen, "a key of type %s (RSA, EC and OKP are accepted)", plain(kty));
        return -1;
    }
    const json_t *alg = json_object_get(o, "alg");
    if (alg != NULL) {
        if (!json_is_string(alg) || jwt_alg_parse(json_string_value(alg)) != want) {
            snprintf(why, whylen, "a %s key with alg %s (only %s is accepted for it)", kty,
                     plain(json_string_value(alg)), jwt_alg_name(want));
            return -1;
        }
    }
    const json_t *kid = json_object_get(o, "kid");
    if (kid != NULL && (!json_is_string(kid) || json_string_length(kid) == 0 ||
                        json_string_length(kid) > JWT_MAX_KID)) {
        snprintf(why, whylen, "a key whose kid is not a string of 1 to %u bytes", JWT_MAX_KID);
        return -1;
    }
    if (want == JWT_RS256)
        pk = jwk_rsa(o, why, whylen);
    else if (want == JWT_ES256)
        pk = jwk_ec(o, why, whylen);
    else
        pk = jwk_okp(o, why, whylen);
    if (pk == NULL)
        return -1;
    k->alg = want;
    k->pkey = pk;
    if (kid != NULL && (k->kid = strdup(json_string_value(kid))) == NULL) {
        EVP_PKEY_free(pk);
        k->pkey = NULL;
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    return 0;
}

static void jwk_clear(struct jwk *k)
{
    EVP_PKEY_free(k->pkey);
    free(k->kid);
}

struct jwks *jwks_parse(const char *buf, size_t len, struct jwks_report *rep, struct jwt_err *err)
{
    struct jwks_report dummy;
    if (rep == NULL)
        rep = &dummy;
    memset(rep, 0, sizeof(*rep));
    if (len > JWKS_MAX_BYTES) {
        fail(err, JWT_E_TOO_LARGE, "key set larger than %u bytes", JWKS_MAX_BYTES);
        return NULL;
    }
    struct json_err je;
    json_t *doc = json_parse_strict(buf, len, &jwks_limits, &je);
    if (doc == NULL) {
        fail(err, JWT_E_JSON, "key set is not valid JSON (%s at byte %zu)",
             json_reason_code(je.reason), je.offset);
        return NULL;
    }
    const json_t *keys = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(keys)) {
        json_decref(doc);
        fail(err, JWT_E_KEY, "not a JWK Set: an object with a \"keys\" array is expected");
        return NULL;
    }
    if (json_array_size(keys) > JWKS_MAX_KEYS) {
        json_decref(doc);
        fail(err, JWT_E_TOO_LARGE, "key set with more than %u keys", JWKS_MAX_KEYS);
        return NULL;
    }
    struct jwks *s = calloc(1, sizeof(*s));
    if (s == NULL || (json_array_size(keys) > 0 &&
                      (s->keys = calloc(json_array_size(keys), sizeof(*s->keys))) == NULL)) {
        free(s);
        json_decref(doc);
        fail(err, JWT_E_KEY, "out of memory");
        return NULL;
    }
    s->refs = 1;
    size_t i;
    const json_t *o;
    json_array_foreach(keys, i, o)
    {
        char why[128];
        struct jwk k;
        if (jwk_read(o, &k, why, sizeof(why)) < 0) {
            if (rep->skipped++ == 0)
                snprintf(rep->first, sizeof(rep->first), "key %zu: %s", i, why);
            continue;
        }
        if (k.kid != NULL && jwks_find(s, k.kid) != NULL) {
            if (rep->skipped++ == 0)
                snprintf(rep->first, sizeof(rep->first), "key %zu: duplicate kid", i);
            jwk_clear(&k);
            continue;
        }
        s->keys[s->n++] = k;
    }
    json_decref(doc);
    return s;
}

struct jwks *jwks_ref(struct jwks *s)
{
    if (s != NULL)
        s->refs++;
    return s;
}

void jwks_unref(struct jwks *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    for (size_t i = 0; i < s->n; i++)
        jwk_clear(&s->keys[i]);
    free(s->keys);
    free(s);
}

const struct jwk *jwks_find(const struct jwks *s, const char *kid)
{
    for (size_t i = 0; s != NULL && i < s->n; i++)
        if (s->keys[i].kid != NULL && strcmp(s->keys[i].kid, kid) == 0)
            return &s->keys[i];
    return NULL;
}

/* ---- tokens ---- */

static json_t *segment_json(const char *p, size_t n, size_t max_json, const char *what,
                            struct jwt_err *err)
{
    size_t cap = b64url_decoded_max(n);
    if (cap > max_json + 2) {
        fail(err, JWT_E_TOO_LARGE, "token %s too large", what);
        return NULL;
    }
    char *b = malloc(cap ? cap : 1);
    size_t bl = 0;
    if (b == NULL) {
        fail(err, JWT_E_MALFORMED, "out of memory");
        return NULL;
    }
    if (b64url_decode(p, n, (uint8_t *)b, cap, &bl) < 0) {
        free(b);
        fail(err, JWT_E_BASE64, "token %s is not canonical base64url", what);
        return NULL;
    }
    struct json_limits lim = {
        .max_bytes = max_json,
        .max_depth = 16,
        .max_string = 8192,
        .max_members = 256,
        .max_items = 1024,
    };
    struct json_err je;
    json_t *v = json_parse_strict(b, bl, &lim, &je);
    free(b);
    if (v == NULL || !json_is_object(v)) {
        json_decref(v);
        fail(err, JWT_E_JSON, "token %s is not a JSON object (%s)", what,
             v == NULL ? json_reason_code(je.reason) : "not an object");
        return NULL;
    }
    return v;
}

int jwt_decode(const char *tok, size_t len, size_t max_token, struct jwt *t, struct jwt_err *err)
{
    memset(t, 0, sizeof(*t));
    if (max_token == 0)
        max_token = JWT_DEFAULT_MAX_TOKEN;
    if (max_token > JWT_HARD_MAX_TOKEN)
        max_token = JWT_HARD_MAX_TOKEN;
    if (len > max_token)
        return fail(err, JWT_E_TOO_LARGE, "token longer than %zu bytes", max_token);
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL)
        return fail(err, JWT_E_MALFORMED, "token is not header.payload.signature");
    size_t hl = (size_t)(d1 - tok), pl = (size_t)(d2 - d1 - 1), sl = len - (size_t)(d2 + 1 - tok);
    if (hl == 0 || pl == 0)
        return fail(err, JWT_E_MALFORMED, "token has an empty header or payload");
    if (sl == 0)
        return fail(err, JWT_E_ALG, "unsigned tokens are not accepted");
    if (hl > JWT_MAX_HEADER)
        return fail(err, JWT_E_TOO_LARGE, "token header too large");
    if (b64url_decoded_max(sl) > JWT_MAX_SIG + 2)
        return fail(err, JWT_E_TOO_LARGE, "token signature too large");
    if (b64url_decode(d2 + 1, sl, t->sig, sizeof(t->sig), &t->siglen) < 0)
        return fail(err, JWT_E_BASE64, "token signature is not canonical base64url");

    t->header = segment_json(tok, hl, JWT_MAX_HEADER, "header", err);
    if (t->header == NULL)
        return -1;
    const json_t *alg = json_object_get(t->header, "alg");
    if (!json_is_string(alg)) {
        fail(err, JWT_E_ALG, "token header has no alg");
        goto bad;
    }
    t->alg = jwt_alg_parse(json_string_value(alg));
    if (t->alg == JWT_ALG_UNKNOWN) {
        fail(err, JWT_E_ALG, "algorithm %s is not accepted (RS256, ES256, EdDSA)",
             plain(json_string_value(alg)));
        goto bad;
    }
    if (json_object_get(t->header, "crit") != NULL) {
        fail(err, JWT_E_CRIT, "token header has crit extensions, none are supported");
        goto bad;
    }
    const json_t *typ = json_object_get(t->header, "typ");
    if (typ != NULL) {
        const char *ts = json_string_value(typ);
        if (ts == NULL || (strcasecmp(ts, "JWT") != 0 && strcasecmp(ts, "at+jwt") != 0 &&
                           strcasecmp(ts, "application/at+jwt") != 0)) {
            fail(err, JWT_E_TYP, "token type %s is not an access token", plain(ts));
            goto bad;
        }
    }
    const json_t *kid = json_object_get(t->header, "kid");
    if (kid != NULL) {
        if (!json_is_string(kid) || json_string_length(kid) == 0 ||
            json_string_length(kid) > JWT_MAX_KID ||
            strlen(json_string_value(kid)) != json_string_length(kid)) {
            fail(err, JWT_E_MALFORMED, "token kid is not a string of 1 to %u bytes", JWT_MAX_KID);
            goto bad;
        }
        t->kid = json_string_value(kid);
    }
    t->claims = segment_json(d1 + 1, pl, max_token, "payload", err);
    if (t->claims == NULL)
        goto bad;
    t->signed_part = tok;
    t->signed_len = hl + 1 + pl;
    return 0;
bad:
    jwt_free(t);
    return -1;
}

void jwt_free(struct jwt *t)
{
    json_decref(t->header);
    json_decref(t->claims);
    t->header = t->claims = NULL;
    t->kid = NULL;
}

/* JOSE R||S (64 bytes) to a DER ECDSA-Sig-Value. Returns its length or 0. */
static size_t es256_der(const uint8_t *rs, uint8_t *out, size_t outcap)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, 32, NULL);
    BIGNUM *s = BN_bin2bn(rs + 32, 32, NULL);
    size_t n = 0;
    if (sig == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(sig, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return 0;
    }
    int len = i2d_ECDSA_SIG(sig, NULL);
    if (len > 0 && (size_t)len <= outcap) {
        uint8_t *p = out;
        n = (size_t)i2d_ECDSA_SIG(sig, &p);
    }
    ECDSA_SIG_free(sig);
    return n;
}

int jwt_verify(const struct jwt *t, const struct jwk *k, struct jwt_err *err)
{
    if (t->alg != k->alg)
        return fail(err, JWT_E_ALG, "token algorithm %s does not match the key's %s",
                    jwt_alg_name(t->alg), jwt_alg_name(k->alg));
    const uint8_t *sig = t->sig;
    size_t siglen = t->siglen;
    uint8_t der[80];
    const EVP_MD *md = EVP_sha256();
    EVP_PKEY *pk = k->pkey;
    switch (k->alg) {
    case JWT_RS256:
        if (!EVP_PKEY_is_a(pk, "RSA") || siglen != (size_t)EVP_PKEY_get_size(pk))
            return fail(err, JWT_E_SIGNATURE, "signature has the wrong length for the key");
        break;
    case JWT_ES256:
        if (!EVP_PKEY_is_a(pk, "EC") || siglen != 64)
            return fail(err, JWT_E_SIGNATURE, "ES256 signature is not 64 bytes (R||S)");
        siglen = es256_der(t->sig, der, sizeof(der));
        if (siglen == 0)
            return fail(err, JWT_E_SIGNATURE, "ES256 signature could not be read");
        sig = der;
        break;
    case JWT_EDDSA:
        if (!EVP_PKEY_is_a(pk, "ED25519") || siglen != 64)
            return fail(err, JWT_E_SIGNATURE, "EdDSA signature is not 64 bytes");
        md = NULL;
        break;
    case JWT_ALG_UNKNOWN:
    default:
        return fail(err, JWT_E_ALG, "no algorithm");
    }
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    int ok = mc != NULL && EVP_DigestVerifyInit(mc, NULL, md, NULL, pk) == 1 &&
             EVP_DigestVerify(mc, sig, siglen, (const unsigned char *)t->signed_part,
                              t->signed_len) == 1;
    EVP_MD_CTX_free(mc);
    if (!ok)
        return fail(err, JWT_E_SIGNATURE, "signature verification failed");
    return 0;
}

int jwt_numeric_date(const json_t *claims, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(claims, name);
    if (v == NULL)
        return 1;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return -1;
        *out = (int64_t)i;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d < 0 || d > 9.0e15)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

const json_t *jwt_claim(const json_t *claims, const char *path)
{
    const json_t *v = json_object_get(claims, path);
    if (v != NULL || strchr(path, '.') == NULL)
        return v;
    const json_t *cur = claims;
    const char *p = path;
    while (cur != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(cur) || n == 0 || n > 255)
            return NULL;
        char key[256];
        memcpy(key, p, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        p += n;
        if (*p == '.')
            p++;
    }
    return cur;
}

int jwt_check_claims(const struct jwt *t, const struct jwt_rules *r, struct jwt_err *err)
{
    const json_t *c = t->claims;
    const char *iss = json_string_value(json_object_get(c, "iss"));
    if (iss == NULL)
        return fail(err, JWT_E_ISSUER, "token has no iss claim");
    if (strcmp(iss, r->issuer) != 0)
        return fail(err, JWT_E_ISSUER, "token issuer is not trusted");
    const json_t *aud = json_object_get(c, "aud");
    bool aud_ok = false;
    if (json_is_string(aud)) {
        for (size_t i = 0; i < r->naud; i++)
            aud_ok |= strcmp(json_string_value(aud), r->audiences[i]) == 0;
    } else if (json_is_array(aud)) {
        size_t i;
        const json_t *a;
        json_array_foreach(aud, i, a)
        {
            if (!json_is_string(a))
                return fail(err, JWT_E_AUDIENCE, "token aud array holds a non-string");
            for (size_t j = 0; j < r->naud; j++)
                aud_ok |= strcmp(json_string_value(a), r->audiences[j]) == 0;
        }
    } else if (aud == NULL) {
        return fail(err, JWT_E_AUDIENCE, "token has no aud claim");
    } else {
        return fail(err, JWT_E_AUDIENCE, "token aud is neither a string nor an array");
    }
    if (!aud_ok)
        return fail(err, JWT_E_AUDIENCE, "token was not issued for this resource (aud)");
    int64_t exp, nbf, iat;
    int rc = jwt_numeric_date(c, "exp", &exp);
    if (rc == 1)
        return fail(err, JWT_E_CLAIM, "token has no exp claim");
    if (rc < 0)
        return fail(err, JWT_E_CLAIM, "token exp is not a NumericDate");
    if (r->now >= exp + r->skew)
        return fail(err, JWT_E_EXPIRED, "token expired");
    rc = jwt_numeric_date(c, "nbf", &nbf);
    if (rc < 0)
        return fail(err, JWT_E_CLAIM, "token nbf is not a NumericDate");
    if (rc == 0 && r->now + r->skew < nbf)
        return fail(err, JWT_E_NOT_YET_VALID, "token is not valid yet (nbf)");
    rc = jwt_numeric_date(c, "iat", &iat);
    if (rc < 0)
        return fail(err, JWT_E_CLAIM, "token iat is not a NumericDate");
    if (rc == 0 && r->now + r->skew < iat)
        return fail(err, JWT_E_IAT, "token was issued in the future (iat)");
    const json_t *sub = json_object_get(c, "sub");
    if (!json_is_string(sub) || json_string_length(sub) == 0 || json_string_length(sub) > 255)
        return fail(err, JWT_E_CLAIM, "token sub is missing or not a string of 1 to 255 bytes");
    const char *s = json_string_value(sub);
    if (strlen(s) != json_string_length(sub))
        return fail(err, JWT_E_CLAIM, "token sub contains NUL");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return fail(err, JWT_E_CLAIM, "token sub contains control characters");
    return 0;
}
