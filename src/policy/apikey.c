#include "policy/apikey.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/b64.h"
#include "util/hash.h"

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static bool is_b62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* CRC-32 (IEEE 802.3, reflected, as zlib) without a table: keys are short. */
static uint32_t crc32_ieee(const char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= (uint8_t)p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static void crc_b62(uint32_t v, char out[APIKEY_CRC_LEN])
{
    for (size_t i = APIKEY_CRC_LEN; i-- > 0;) {
        out[i] = b62[v % 62u];
        v /= 62u;
    }
}

/* n uniformly random base62 characters (rejection sampling: bytes >= 248
 * would bias the modulo). */
static int random_b62(char *out, size_t n)
{
    uint8_t pool[64];
    size_t have = 0, used = 0, o = 0;
    while (o < n) {
        if (used == have) {
            if (random_bytes(pool, sizeof(pool)) < 0)
                return -1;
            have = sizeof(pool);
            used = 0;
        }
        uint8_t b = pool[used++];
        if (b < 248)
            out[o++] = b62[b % 62u];
    }
    OPENSSL_cleanse(pool, sizeof(pool));
    return 0;
}

bool apikey_has_prefix(const char *s, size_t len)
{
    return len >= APIKEY_PREFIX_LEN && memcmp(s, APIKEY_PREFIX, APIKEY_PREFIX_LEN) == 0;
}

bool apikey_well_formed(const char *key, size_t len)
{
    if (len != APIKEY_LEN || !apikey_has_prefix(key, len))
        return false;
    const size_t sep = APIKEY_PREFIX_LEN + APIKEY_ID_LEN;
    for (size_t i = APIKEY_PREFIX_LEN; i < len; i++) {
        if (i == sep ? key[i] != '_' : !is_b62(key[i]))
            return false;
    }
    char crc[APIKEY_CRC_LEN];
    crc_b62(crc32_ieee(key, APIKEY_LEN - APIKEY_CRC_LEN), crc);
    return memcmp(crc, key + APIKEY_LEN - APIKEY_CRC_LEN, APIKEY_CRC_LEN) == 0;
}

void apikey_id(const char *key, char id[APIKEY_ID_LEN + 1])
{
    memcpy(id, key + APIKEY_PREFIX_LEN, APIKEY_ID_LEN);
    id[APIKEY_ID_LEN] = '\0';
}

static int stored_form(const char *key, const uint8_t salt[APIKEY_SALT_LEN],
                       char stored[APIKEY_HASH_MAX])
{
    uint8_t d[SHA256_LEN];
    char s64[32], d64[48], id[APIKEY_ID_LEN + 1];
    if (hmac_sha256(salt, APIKEY_SALT_LEN, key, APIKEY_LEN, d) < 0)
        return -1;
    apikey_id(key, id);
    b64url_encode(salt, APIKEY_SALT_LEN, s64, sizeof(s64));
    b64url_encode(d, sizeof(d), d64, sizeof(d64));
    int w = snprintf(stored, APIKEY_HASH_MAX, "%s$%s$%s$%s", APIKEY_HASH_SCHEME, id, s64, d64);
    return w > 0 && (size_t)w < APIKEY_HASH_MAX ? 0 : -1;
}

int apikey_hash(const char *key, size_t len, char stored[APIKEY_HASH_MAX])
{
    uint8_t salt[APIKEY_SALT_LEN];
    if (!apikey_well_formed(key, len) || random_bytes(salt, sizeof(salt)) < 0)
        return -1;
    return stored_form(key, salt, stored);
}

int apikey_generate(char key[APIKEY_LEN + 1], char stored[APIKEY_HASH_MAX])
{
    char *p = key;
    memcpy(p, APIKEY_PREFIX, APIKEY_PREFIX_LEN);
    p += APIKEY_PREFIX_LEN;
    if (random_b62(p, APIKEY_ID_LEN) < 0)
        return -1;
    p += APIKEY_ID_LEN;
    *p++ = '_';
    if (random_b62(p, APIKEY_SECRET_LEN) < 0)
        return -1;
    p += APIKEY_SECRET_LEN;
    crc_b62(crc32_ieee(key, APIKEY_LEN - APIKEY_CRC_LEN), p);
    key[APIKEY_LEN] = '\0';
    return apikey_hash(key, APIKEY_LEN, stored);
}

int apikey_hash_parse(const char *s, struct apikey_hash *out, char *err, size_t errlen)
{
    const size_t sl = strlen(APIKEY_HASH_SCHEME);
    if (strncmp(s, APIKEY_HASH_SCHEME "$", sl + 1) != 0) {
        snprintf(err, errlen, "an API key hash starts with '%s$' (as printed by mcpwall keygen)",
                 APIKEY_HASH_SCHEME);
        return -1;
    }
    const char *id = s + sl + 1;
    const char *d1 = strchr(id, '$');
    const char *d2 = d1 ? strchr(d1 + 1, '$') : NULL;
    if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '$') != NULL) {
        snprintf(err, errlen,
                 "an API key hash has four '$'-separated parts: "
                 "%s$<key id>$<salt>$<digest>",
                 APIKEY_HASH_SCHEME);
        return -1;
    }
    if ((size_t)(d1 - id) != APIKEY_ID_LEN) {
        snprintf(err, errlen, "the key id of an API key hash has %u characters", APIKEY_ID_LEN);
        return -1;
    }
    for (size_t i = 0; i < APIKEY_ID_LEN; i++) {
        if (!is_b62(id[i])) {
            snprintf(err, errlen, "the key id of an API key hash is base62 ([0-9A-Za-z])");
            return -1;
        }
    }
    memcpy(out->id, id, APIKEY_ID_LEN);
    out->id[APIKEY_ID_LEN] = '\0';
    size_t n;
    if (b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), out->salt, sizeof(out->salt), &n) < 0 ||
        n != APIKEY_SALT_LEN) {
        snprintf(err, errlen, "the salt of an API key hash must be %u bytes in base64url",
                 APIKEY_SALT_LEN);
        return -1;
    }
    if (b64url_decode(d2 + 1, strlen(d2 + 1), out->digest, sizeof(out->digest), &n) < 0 ||
        n != sizeof(out->digest)) {
        snprintf(err, errlen, "the digest of an API key hash must be 32 bytes in base64url");
        return -1;
    }
    return 0;
}

bool apikey_verify(const struct apikey_hash *h, const char *key, size_t len)
{
    if (!apikey_well_formed(key, len) || memcmp(key + APIKEY_PREFIX_LEN, h->id, APIKEY_ID_LEN) != 0)
        return false;
    uint8_t d[SHA256_LEN];
    if (hmac_sha256(h->salt, APIKEY_SALT_LEN, key, len, d) < 0)
        return false;
    bool ok = CRYPTO_memcmp(d, h->digest, sizeof(d)) == 0;
    OPENSSL_cleanse(d, sizeof(d));
    return ok;
}
