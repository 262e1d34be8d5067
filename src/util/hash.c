#include "util/hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

/* OpenSSL 3 looks algorithms up by name on every implicit use of EVP_sha256();
 * fetching once and reusing a context avoids that cost on every record. */
static const EVP_MD *sha256_md(void)
{
    static EVP_MD *md;
    if (md == NULL)
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    return md != NULL ? md : EVP_sha256();
}

int sha256_init(struct sha256_ctx *c)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL)
        return -1;
    if (EVP_DigestInit_ex2(md, sha256_md(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    c->md = md;
    return 0;
}

int sha256_update(struct sha256_ctx *c, const void *p, size_t n)
{
    return EVP_DigestUpdate(c->md, p, n) == 1 ? 0 : -1;
}

int sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN])
{
    unsigned int len = 0;
    int ok = EVP_DigestFinal_ex(c->md, out, &len);
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
    return ok == 1 && len == SHA256_LEN ? 0 : -1;
}

void sha256_abort(struct sha256_ctx *c)
{
    if (c == NULL)
        return;
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
}

int sha256(const void *p, size_t n, uint8_t out[SHA256_LEN])
{
    unsigned int len = 0;
    return EVP_Digest(p, n, out, &len, sha256_md(), NULL) == 1 && len == SHA256_LEN ? 0 : -1;
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
    if (n > INT32_MAX)
        return -1;
    return RAND_bytes(p, (int)n) == 1 ? 0 : -1;
}

bool ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    return CRYPTO_memcmp(a, b, alen) == 0;
}
