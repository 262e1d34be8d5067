/* apikey.h - API keys: generation, the stored hash, verification.
 *
 * A key is "mcpw_" + a 12-character key id + "_" + 43 secret characters + a
 * 6-character checksum, all base62 ([0-9A-Za-z]), 67 characters in all:
 *
 *   mcpw_Xq3Lk9Vd0aBc_<43 secret chars><6 checksum chars>
 *
 * - The prefix makes leaked keys findable by secret scanners (regex
 *   `mcpw_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}`); the checksum (CRC-32 of
 *   everything before it, base62) lets a scanner or the gateway reject a
 *   mistyped or made-up key without any lookup.
 * - The key id (71 random bits) is not secret: it names which configured
 *   entry to check, so verification costs one HMAC whatever the number of
 *   keys.
 * - The secret part carries 43 * log2(62) = 256 bits from the CSPRNG.
 *
 * Stored form (what `mcpwall keygen` prints for the configuration):
 *
 *   hmac-sha256$<key id>$<salt: 16 random bytes, base64url>$<HMAC-SHA-256(salt, key), base64url>
 *
 * Why a salted fast hash and not a password KDF: a KDF (scrypt, Argon2)
 * slows down guessing of low-entropy secrets. These keys have 256 bits of
 * entropy, so guessing is hopeless at any speed, and a slow hash would only
 * hand every client a way to burn our CPU. The per-key salt makes equal keys
 * hash differently across entries and deployments and defeats any
 * precomputation. Comparison is constant time (CRYPTO_memcmp).
 */
#ifndef MCPWALL_POLICY_APIKEY_H
#define MCPWALL_POLICY_APIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define APIKEY_PREFIX      "mcpw_"
#define APIKEY_PREFIX_LEN  5u
#define APIKEY_ID_LEN      12u
#define APIKEY_SECRET_LEN  43u
#define APIKEY_CRC_LEN     6u
#define APIKEY_LEN         (APIKEY_PREFIX_LEN + APIKEY_ID_LEN + 1u + APIKEY_SECRET_LEN + APIKEY_CRC_LEN)
#define APIKEY_SALT_LEN    16u
#define APIKEY_HASH_SCHEME "hmac-sha256"
#define APIKEY_HASH_MAX    128u /* room for the stored form and its NUL */

struct apikey_hash {
    char id[APIKEY_ID_LEN + 1];
    uint8_t salt[APIKEY_SALT_LEN];
    uint8_t digest[32];
};

/* Writes a new key (APIKEY_LEN chars + NUL) and its stored form. The key
 * buffer holds a secret: wipe it (secret_wipe) when done. 0, or -1 when the
 * CSPRNG fails. */
int apikey_generate(char key[APIKEY_LEN + 1], char stored[APIKEY_HASH_MAX]);

/* True when key[0, len) has the shape of a key: prefix, lengths, alphabet and
 * a correct checksum. Says nothing about whether it is configured. */
bool apikey_well_formed(const char *key, size_t len);
/* True when s starts with the key prefix (how a bearer token is told apart
 * from a JWT). */
bool apikey_has_prefix(const char *s, size_t len);

/* Computes the stored form of an existing key with a fresh salt (rotation of
 * the stored hash, tests). -1 when the key is malformed or the CSPRNG fails. */
int apikey_hash(const char *key, size_t len, char stored[APIKEY_HASH_MAX]);

/* Parses a stored form. 0, or -1 with a sentence in err. */
int apikey_hash_parse(const char *s, struct apikey_hash *out, char *err, size_t errlen);

/* Verifies key[0, len) against a stored hash: the key's id must equal h->id
 * and HMAC-SHA-256(salt, key) must equal the digest (compared in constant
 * time). */
bool apikey_verify(const struct apikey_hash *h, const char *key, size_t len);

/* Copies the key id of a well-formed key into id (13 bytes). */
void apikey_id(const char *key, char id[APIKEY_ID_LEN + 1]);

#endif
