/* Fuzz target: bearer tokens. The input is what follows "Bearer ": decoded
 * by jwt_decode, verified against a fixed key set (RS256, ES256, EdDSA),
 * claims checked with a fixed clock, a dotted claim path read; then the
 * whole authentication path (authn_authenticate), which also reads API keys. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_keys.h"
#include "policy/authn.h"
#include "policy/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct jwks *keys;
static struct authn *auth;

static uint64_t fixed_clock(void *ud)
{
    (void)ud;
    return 1800000000ull * 1000000u;
}

static void init(void)
{
    struct jwt_err err;
    keys = jwks_parse(fuzz_jwks, strlen(fuzz_jwks), NULL, &err);
    if (keys == NULL)
        abort();
    char path[] = "/tmp/mcpwall-fuzz-jwks-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, fuzz_jwks, strlen(fuzz_jwks)) != (ssize_t)strlen(fuzz_jwks))
        abort();
    close(fd);
    char y[1024];
    snprintf(y, sizeof(y),
             "auth:\n  resource: https://gw.fuzz/mcp\n  required_scopes: [mcp]\n"
             "  api_keys:\n    - name: k\n      hash: \"hmac-sha256$AAAAAAAAAAAA$"
             "AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n"
             "  jwt:\n    issuer: https://idp.fuzz\n    jwks_file: %s\n"
             "    roles_claim: realm_access.roles\n",
             path);
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d = cfg_load_mem("fuzz.yaml", y, strlen(y), false, &e);
    auth = d ? authn_compile(d, json_object_get(d->root, "auth"), &e) : NULL;
    cfg_doc_free(d);
    cfg_errors_free(&e);
    unlink(path);
    if (auth == NULL)
        abort();
    authn_set_clock(auth, fixed_clock, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (keys == NULL)
        init();
    const char *tok = (const char *)data;
    struct jwt t;
    struct jwt_err err;
    if (jwt_decode(tok, size, 0, &t, &err) == 0) {
        const struct jwk *k = t.kid ? jwks_find(keys, t.kid) : &keys->keys[0];
        if (k != NULL)
            jwt_verify(&t, k, &err);
        const char *aud[] = {"https://gw.fuzz/mcp"};
        struct jwt_rules r = {.issuer = "https://idp.fuzz",
                              .audiences = aud,
                              .naud = 1,
                              .now = 1800000000,
                              .skew = 60};
        jwt_check_claims(&t, &r, &err);
        jwt_claim(t.claims, "realm_access.roles");
        jwt_free(&t);
    }
    if (size > 16384)
        return 0;
    char h[16400];
    memcpy(h, "Bearer ", 7);
    memcpy(h + 7, data, size);
    h[7 + size] = '\0';
    struct authn_result res;
    authn_authenticate(auth, h, 1, NULL, &res);
    identity_unref(res.id);
    /* The query-string check reads the same bytes as a query. */
    authn_authenticate(auth, NULL, 0, h + 7, &res);
    identity_unref(res.id);
    return 0;
}
