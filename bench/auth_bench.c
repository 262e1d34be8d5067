/* auth_bench - what authentication costs per request: authn_authenticate()
 * (parse the Authorization header, decode, verify, check claims, build the
 * identity) for an API key and for RS256, ES256 and EdDSA tokens, plus the
 * refusal of a forged token. Keys are generated here with EVP; nothing is
 * read from disk except a temporary JWKS file.
 *
 * Usage: auth_bench [ITERATIONS]   (default 20000 per case)
 * Prints one line per case: calls/s and microseconds per call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "policy/apikey.h"
#include "policy/authn.h"
#include "policy/secrets.h"
#include "util/b64.h"
#include "util/timeutil.h"

static char *b64(const void *p, size_t n)
{
    char *s = malloc(b64url_encoded_len(n) + 1);
    b64url_encode(p, n, s, b64url_encoded_len(n) + 1);
    return s;
}

static char *bn64(const EVP_PKEY *k, const char *name, int pad)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(k, name, &bn);
    unsigned char buf[600];
    int n = pad ? pad : BN_num_bytes(bn);
    BN_bn2binpad(bn, buf, n);
    BN_free(bn);
    return b64(buf, (size_t)n);
}

static char *sign(EVP_PKEY *k, const char *alg, const char *kid, const char *payload)
{
    char hdr[128];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\"}", alg, kid);
    char *h = b64(hdr, strlen(hdr)), *p = b64(payload, strlen(payload));
    char in[2048];
    snprintf(in, sizeof(in), "%s.%s", h, p);
    free(h);
    free(p);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    EVP_DigestSignInit(mc, NULL, strcmp(alg, "EdDSA") ? EVP_sha256() : NULL, NULL, k);
    unsigned char sig[512];
    size_t sl = sizeof(sig);
    EVP_DigestSign(mc, sig, &sl, (unsigned char *)in, strlen(in));
    EVP_MD_CTX_free(mc);
    if (!strcmp(alg, "ES256")) {
        const unsigned char *q = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)sl);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
        ECDSA_SIG_free(es);
        sl = 64;
    }
    char *s = b64(sig, sl);
    size_t n = strlen(in) + strlen(s) + 2;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s", in, s);
    free(s);
    return t;
}

static void run(struct authn *a, const char *name, const char *tok, long iters, int want)
{
    char h[4096];
    snprintf(h, sizeof(h), "Bearer %s", tok);
    struct authn_result r;
    authn_authenticate(a, h, 1, NULL, &r);
    if ((int)r.status != want) {
        fprintf(stderr, "%s: unexpected status %d (%s)\n", name, r.status, r.description);
        exit(1);
    }
    identity_unref(r.id);
    uint64_t t0 = mono_us();
    for (long i = 0; i < iters; i++) {
        authn_authenticate(a, h, 1, NULL, &r);
        identity_unref(r.id);
    }
    double us = (double)(mono_us() - t0) / (double)iters;
    printf("%-22s %10.0f calls/s %8.2f us/call\n", name, 1e6 / us, us);
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long iters = argc > 1 ? strtol(argv[1], &end, 10) : 20000;
    if (iters <= 0 || (end != NULL && *end != '\0'))
        iters = 20000;
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    unsigned char raw[32];
    size_t rl = sizeof(raw);
    EVP_PKEY_get_raw_public_key(ed, raw, &rl);
    char *n = bn64(rsa, OSSL_PKEY_PARAM_RSA_N, 0), *e = bn64(rsa, OSSL_PKEY_PARAM_RSA_E, 0);
    char *x = bn64(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32), *y = bn64(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    char *ex = b64(raw, rl);
    char jwks[4096];
    snprintf(jwks, sizeof(jwks),
             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e\",\"x\":\"%s\",\"y\":\"%s\"},"
             "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"d\",\"x\":\"%s\"}]}",
             n, e, x, y, ex);
    char path[] = "/tmp/mcpwall-authbench-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, jwks, strlen(jwks)) != (ssize_t)strlen(jwks))
        return 1;
    close(fd);
    char key[APIKEY_LEN + 1], stored[APIKEY_HASH_MAX];
    apikey_generate(key, stored);
    struct authn *a = NULL, *cold = NULL;
    for (int i = 0; i < 2; i++) {
        char y2[2048];
        snprintf(y2, sizeof(y2),
                 "auth:\n  resource: https://gw/mcp\n  token_cache: %s\n  api_keys:\n"
                 "    - {name: k, hash: \"%s\", roles: [dev]}\n"
                 "  jwt: {issuer: https://idp, jwks_file: %s}\n",
                 i == 0 ? "0" : "1024", stored, path);
        struct cfg_errors errs;
        cfg_errors_init(&errs);
        struct cfg_doc *d = cfg_load_mem("bench.yaml", y2, strlen(y2), false, &errs);
        struct authn *made = d ? authn_compile(d, json_object_get(d->root, "auth"), &errs) : NULL;
        cfg_doc_free(d);
        if (made == NULL) {
            cfg_errors_print(&errs, stderr);
            return 1;
        }
        cfg_errors_free(&errs);
        if (i == 0)
            cold = made;
        else
            a = made;
    }
    unlink(path);
    char payload[512];
    snprintf(payload, sizeof(payload),
             "{\"iss\":\"https://idp\",\"aud\":\"https://gw/mcp\",\"sub\":\"alice\",\"exp\":%llu,"
             "\"scope\":\"mcp tools\",\"roles\":[\"dev\",\"ops\"]}",
             (unsigned long long)(wall_us() / 1000000u + 3600));
    char *tr = sign(rsa, "RS256", "r", payload), *te = sign(ec, "ES256", "e", payload),
         *td = sign(ed, "EdDSA", "d", payload);
    char *forged = strdup(tr);
    /* another base64url letter inside the signature (flipping a bit could
     * make a byte no base64url alphabet has: malformed, not forged) */
    char *c = &forged[strlen(forged) - 5];
    *c = *c == 'A' ? 'B' : 'A';
    printf("auth_bench: %ld calls per case (one thread)\n", iters);
    run(cold, "api key", key, iters, AUTHN_OK);
    run(cold, "jwt RS256 (2048)", tr, iters, AUTHN_OK);
    run(cold, "jwt ES256", te, iters, AUTHN_OK);
    run(cold, "jwt EdDSA", td, iters, AUTHN_OK);
    run(cold, "jwt forged signature", forged, iters, AUTHN_INVALID_TOKEN);
    run(a, "jwt RS256, cached", tr, iters, AUTHN_OK);
    run(a, "jwt ES256, cached", te, iters, AUTHN_OK);
    secret_wipe(key, sizeof(key));
    free(tr);
    free(te);
    free(td);
    free(forged);
    free(n);
    free(e);
    free(x);
    free(y);
    free(ex);
    authn_unref(a);
    authn_unref(cold);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
    return 0;
}
