/* Fuzz target: JWK Set documents (as fetched from an identity provider).
 * Every key that loads is then used to verify a fixed ES256 token, so odd
 * but accepted keys also meet the verifier. */
#include <stdint.h>
#include <string.h>

#include "fuzz_keys.h"
#include "policy/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jwt_err err;
    struct jwks_report rep;
    struct jwks *s = jwks_parse((const char *)data, size, &rep, &err);
    if (s == NULL)
        return 0;
    struct jwt t;
    if (jwt_decode(fuzz_es256_token, strlen(fuzz_es256_token), 0, &t, &err) == 0) {
        for (size_t i = 0; i < s->n; i++)
            jwt_verify(&t, &s->keys[i], &err);
        jwt_free(&t);
    }
    if (s->n > 0 && s->keys[0].kid != NULL)
        jwks_find(s, s->keys[0].kid);
    jwks_unref(s);
    return 0;
}
