/* hash.h - SHA-256, HMAC-SHA-256, CSPRNG bytes and constant-time compare
 * (OpenSSL EVP underneath). */
#ifndef MCPWALL_UTIL_HASH_H
#define MCPWALL_UTIL_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

struct sha256_ctx {
    void *md; /* EVP_MD_CTX */
};

int sha256_init(struct sha256_ctx *c);
int sha256_update(struct sha256_ctx *c, const void *p, size_t n);
/* Writes 32 bytes and frees the context. */
int sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN]);
/* Frees a context that will not be finalised. NULL-safe. */
void sha256_abort(struct sha256_ctx *c);

int sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);
/* Writes 64 lowercase hex digits and a NUL (out holds 65 bytes). */
void hex_encode(const uint8_t *in, size_t n, char *out);
int sha256_hex(const void *p, size_t n, char out[SHA256_HEX_LEN + 1]);
int hmac_sha256(const void *key, size_t keylen, const void *p, size_t n, uint8_t out[SHA256_LEN]);

/* Fills p with n bytes from the CSPRNG; -1 on failure. */
int random_bytes(void *p, size_t n);

/* Compares two byte strings in time that depends only on the lengths. */
bool ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
