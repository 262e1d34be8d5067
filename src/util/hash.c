#include "util/hash.h"

/* The SHA256_* functions are deprecated in OpenSSL 3 in favour of EVP, but
 * remain its supported direct interface; see hash.h for why we use them. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>
#include <sys/random.h>

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((struct sha256_ctx *)0)->state),
               "struct sha256_ctx must hold a SHA256_CTX");

static SHA256_CTX *ctx_of(struct sha256_ctx *c)
{
    return (SHA256_CTX *)(void *)c->state;
}

int sha256_init(struct sha256_ctx *c)
{
    return SHA256_Init(ctx_of(c)) == 1 ? 0 : -1;
}

int sha256_update(struct sha256_ctx *c, const void *p, size_t n)
{
    return SHA256_Update(ctx_of(c), p, n) == 1 ? 0 : -1;
}

int sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN])
{
    return SHA256_Final(out, ctx_of(c)) == 1 ? 0 : -1;
}

void sha256_abort(struct sha256_ctx *c)
{
    if (c != NULL)
        OPENSSL_cleanse(c->state, sizeof(c->state));
}

int sha256(const void *p, size_t n, uint8_t out[SHA256_LEN])
{
    SHA256_CTX c;
    if (SHA256_Init(&c) != 1 || SHA256_Update(&c, p, n) != 1 || SHA256_Final(out, &c) != 1)
        return -1;
    return 0;
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int sha256_hex(const void *p, size_t n, char out[SHA256_HEX_LEN + 1])
{
    uint8_t d[SHA256_LEN];
    if (sha256(p, n, d) < 0)
        return -1;
    hex_encode(d, sizeof(d), out);
    return 0;
}

int hmac_sha256(const void *key, size_t keylen, const void *p, size_t n, uint8_t out[SHA256_LEN])
{
    unsigned int len = 0;
    if (keylen > INT32_MAX)
        return -1;
    return HMAC(EVP_sha256(), key, (int)keylen, p, n, out, &len) != NULL && len == SHA256_LEN ? 0
                                                                                              : -1;
}

int random_bytes(void *p, size_t n)
{
    unsigned char *o = p;
    while (n > 0) {
        ssize_t r = getrandom(o, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        o += r;
        n -= (size_t)r;
    }
    return 0;
}

bool ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    return CRYPTO_memcmp(a, b, alen) == 0;
}
