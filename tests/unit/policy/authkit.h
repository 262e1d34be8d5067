/* authkit.h - helpers for the authentication tests: signing keys made by the
 * openssl command line (so that valgrind runs do not spend minutes in RSA key
 * generation), their public JWKs, tokens signed in the test (RS256, ES256,
 * EdDSA, and the forgeries: HS256 keyed with the public key, unsigned), and
 * one event loop holding an HTTP listener and the curl client used against
 * it. Waits are upper bounds that fail the test; nothing asserts speed. */
#ifndef MCPWALL_TESTS_AUTHKIT_H
#define MCPWALL_TESTS_AUTHKIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/jwt.h"
#include "transport/http_client.h"
#include "transport/http_server.h"

struct tkey {
    void *pk; /* EVP_PKEY (private) */
    enum jwt_alg alg;
    char kid[64];
    char pub_pem[1024]; /* SubjectPublicKeyInfo PEM (for the HS256 forgery) */
};

/* A temporary folder for the test (removed by tk_rmdir). */
const char *tk_tmpdir(void);
void tk_rmdir(void);
/* Writes a file under the temporary folder with the mode; returns its path
 * (static buffer, copy it). */
const char *tk_write(const char *name, const char *content, unsigned mode);

void tk_gen(struct tkey *k, enum jwt_alg alg, const char *kid);
void tk_free(struct tkey *k);
/* The public JWK (new reference), with "kid"; alg added when with_alg. */
json_t *tk_jwk(const struct tkey *k, bool with_alg);
/* {"keys":[...]} for n keys (malloc'd string). */
char *tk_jwks(const struct tkey *const *keys, size_t n);

/* base64url of bytes (malloc'd). */
char *tk_b64(const void *p, size_t n);
/* header.payload.signature with k's algorithm over the given JSON texts. */
char *tk_sign(const struct tkey *k, const char *header_json, const char *payload_json);
/* header.payload.HMAC-SHA256(key) */
char *tk_hs256(const void *key, size_t klen, const char *header_json, const char *payload_json);
/* A token with header {alg, kid, typ: JWT} and the given claims. */
char *tk_token(const struct tkey *k, const json_t *claims);

/* ---- one loop: listener + client ---- */

struct aenv {
    struct event_base *base;
    struct http_server *hs;
    struct http_listener *l;
    struct http_client *cl;
    uint16_t port;
    char url[64]; /* http://127.0.0.1:PORT */
};

void aenv_start(struct aenv *e);
void aenv_stop(struct aenv *e);
/* Runs the loop until *flag (fails after ~10 s). */
void aenv_run_until(struct aenv *e, const bool *flag);
/* Runs the loop for a few turns (lets timers and callbacks run). */
void aenv_spin(struct aenv *e, int turns);

struct aresp {
    long status;
    enum http_cerr err;
    char www[2048]; /* WWW-Authenticate, "" when absent */
    char retry_after[32];
    char body[16384];
};

/* Sends one request (headers: NULL-terminated "Name: value" lines) to
 * e->url + target and waits for the answer. */
void aenv_request(struct aenv *e, const char *method, const char *target,
                  const char *const *headers, const char *body, struct aresp *out);

/* A route answering 200 with {"principal":..,"method":..,"roles":[..],
 * "scopes":[..]} from the request's identity. */
void authkit_whoami(void *ud, struct http_request *req);

/* The parameter `name` of a WWW-Authenticate value ("" when absent). */
const char *www_param(const char *www, const char *name, char *out, size_t outsz);

#endif
