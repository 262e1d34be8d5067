/* hash.h - SHA-256, HMAC-SHA-256, CSPRNG bytes and constant-time compare.
 *
 * SHA-256 is OpenSSL's own implementation (with the SHA extensions where the
 * CPU has them) called through its direct SHA256_* interface: the EVP path
 * initialises the provider machinery, which costs about 2 MiB of resident
 * memory and milliseconds at start for a process (mcpwall wrap) that only
 * hashes audit records. Random bytes come from the kernel (getrandom(2)).
 * HMAC stays on EVP (authentication paths only). */
#ifndef MCPWALL_UTIL_HASH_H
#define MCPWALL_UTIL_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

struct sha256_ctx {
    /* OpenSSL's SHA256_CTX (112 bytes), kept opaque here; checked in hash.c. */
    _Alignas(8) unsigned char state[128];
};

int sha256_init(struct sha256_ctx *c);
int sha256_update(struct sha256_ctx *c, const void *p, size_t n);
/* Writes 32 bytes; the context may then be initialised again. */
int sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN]);
/* Forgets a context that will not be finalised (wipes it). NULL-safe. */
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
