/* jwt.h - JSON Web Tokens (RFC 7519) signed with RS256, ES256 or EdDSA
 * (Ed25519), verified with OpenSSL 3 EVP, and the JSON Web Key Sets
 * (RFC 7517) their keys come from. No JWT library: the rules that matter are
 * here and short.
 *
 * The algorithm is fixed by the key, never taken from the token:
 *   - a JWK's algorithm follows from kty/crv (RSA -> RS256, EC P-256 ->
 *     ES256, OKP Ed25519 -> EdDSA); a JWK "alg" that says anything else makes
 *     the key unusable (skipped), and symmetric ("oct") keys are never loaded;
 *   - a token's header "alg" must name the same algorithm as the key chosen
 *     for it (by "kid"), so "none", HS256 (an HMAC keyed with a public key)
 *     and any algorithm mismatch are refused before any cryptography runs;
 *   - "crit" is refused (we implement no extension), "jku"/"x5u"/"jwk"/"x5c"
 *     are ignored: keys come from the configuration only.
 * Encoding is strict: three segments, canonical unpadded base64url, header
 * and payload strict JSON objects (duplicate keys refused), every size
 * bounded before anything is allocated. ES256 signatures are JOSE's raw
 * R||S (64 bytes), converted to DER for EVP.
 *
 * Ownership: a struct jwt borrows the token bytes it was decoded from (they
 * must outlive it) and owns its JSON trees (jwt_free). Key sets are reference
 * counted and immutable once parsed, so a refresh can replace one while
 * requests still use the old.
 */
#ifndef MCPWALL_POLICY_JWT_H
#define MCPWALL_POLICY_JWT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JWT_DEFAULT_MAX_TOKEN 8192u /* bytes of a compact token */
#define JWT_HARD_MAX_TOKEN    65536u
#define JWT_MAX_HEADER        4096u /* characters of the header segment */
#define JWT_MAX_SIG           1024u /* signature bytes (RSA 8192) */
#define JWKS_MAX_BYTES        (256u * 1024u)
#define JWKS_MAX_KEYS         64u
#define JWT_MAX_KID           256u

enum jwt_alg { JWT_ALG_UNKNOWN = 0, JWT_RS256, JWT_ES256, JWT_EDDSA };
const char *jwt_alg_name(enum jwt_alg a);
/* "RS256", "ES256", "EdDSA" (or "Ed25519", RFC 9864's name); else UNKNOWN. */
enum jwt_alg jwt_alg_parse(const char *s);

enum jwt_reason {
    JWT_OK = 0,
    JWT_E_MALFORMED,     /* malformed: not header.payload.signature */
    JWT_E_TOO_LARGE,     /* too_large */
    JWT_E_BASE64,        /* bad_base64 */
    JWT_E_JSON,          /* bad_json: header or payload not a strict JSON object */
    JWT_E_ALG,           /* bad_alg: not accepted, or not the key's algorithm */
    JWT_E_TYP,           /* bad_typ */
    JWT_E_CRIT,          /* crit */
    JWT_E_UNKNOWN_KID,   /* unknown_kid */
    JWT_E_SIGNATURE,     /* bad_signature */
    JWT_E_EXPIRED,       /* expired */
    JWT_E_NOT_YET_VALID, /* not_yet_valid */
    JWT_E_IAT,           /* issued_in_future */
    JWT_E_ISSUER,        /* wrong_issuer */
    JWT_E_AUDIENCE,      /* wrong_audience */
    JWT_E_CLAIM,         /* bad_claim: a required claim missing or ill-typed */
    JWT_E_KEY,           /* bad_key (JWK/JWKS reading) */
    JWT_E__COUNT
};
const char *jwt_reason_code(enum jwt_reason r);

/* msg is a sentence for the client's error_description and for logs: it
 * never quotes the token, and quotes header values only when short and
 * plain (letters, digits, "-_.+"). */
struct jwt_err {
    enum jwt_reason reason;
    char msg[160];
};

/* ---- keys ---- */

struct jwk {
    char *kid; /* NULL when the JWK has none */
    enum jwt_alg alg;
    void *pkey; /* EVP_PKEY (public) */
};

struct jwks {
    int refs;
    struct jwk *keys;
    size_t n;
};

struct jwks_report {
    size_t skipped;  /* keys left out (unsupported, private, weak, duplicate kid) */
    char first[160]; /* why the first one was */
};

/* Parses a JWK Set ({"keys":[...]}, at most JWKS_MAX_BYTES and JWKS_MAX_KEYS
 * keys). Unusable keys are skipped and counted in rep (may be NULL); a
 * document that is not a key set is an error. Returns a set with one
 * reference, or NULL with err filled. */
struct jwks *jwks_parse(const char *buf, size_t len, struct jwks_report *rep, struct jwt_err *err);
struct jwks *jwks_ref(struct jwks *s);
void jwks_unref(struct jwks *s); /* NULL-safe */
/* The key with that kid, or NULL. */
const struct jwk *jwks_find(const struct jwks *s, const char *kid);

/* ---- tokens ---- */

struct jwt {
    json_t *header;          /* owned */
    json_t *claims;          /* owned */
    enum jwt_alg alg;        /* from the header; only compared with the key's */
    const char *kid;         /* borrowed from header; NULL when absent */
    const char *signed_part; /* borrowed: header.payload */
    size_t signed_len;
    uint8_t sig[JWT_MAX_SIG];
    size_t siglen;
};

/* Decodes a compact JWS (no trust yet): sizes, segments, base64url, JSON,
 * header rules (alg accepted, typ, crit, kid). max_token 0 means the default.
 * Returns 0, or -1 with err filled; on -1 nothing needs freeing. */
int jwt_decode(const char *tok, size_t len, size_t max_token, struct jwt *t, struct jwt_err *err);
void jwt_free(struct jwt *t);

/* Checks the signature with k: the token's alg must be k's. 0 or -1. */
int jwt_verify(const struct jwt *t, const struct jwk *k, struct jwt_err *err);

struct jwt_rules {
    const char *issuer;           /* iss must equal it */
    const char *const *audiences; /* aud (string or array) must contain one */
    size_t naud;
    int64_t now;  /* seconds since the epoch */
    int64_t skew; /* tolerated clock difference, seconds */
};

/* Checks iss, aud, exp (required), nbf and iat (when present), and that sub
 * is a non-empty string without control characters. 0 or -1. */
int jwt_check_claims(const struct jwt *t, const struct jwt_rules *r, struct jwt_err *err);

/* A claim by name, or by dotted path ("realm_access.roles") when no member
 * has the literal name (URLs used as claim names contain dots). NULL when
 * absent. */
const json_t *jwt_claim(const json_t *claims, const char *path);

/* A NumericDate claim as whole seconds (fractions dropped): 0, 1 when absent,
 * -1 when not a finite non-negative number. */
int jwt_numeric_date(const json_t *claims, const char *name, int64_t *out);

#endif
