/* credentials.h - the credentials mcpwall presents to upstream servers, so
 * the host never holds them: static secrets, a user's own token per
 * identity, and tokens from the OAuth 2.1 client-credentials grant (cached,
 * refreshed before expiry). And the rule that the client's own bearer token
 * never travels upstream (cred_upstream_headers).
 *
 * Compiled from the top-level `credentials:` section, a mapping of names
 * that upstreams refer to (docs/auth.md has every key):
 *
 *   credentials:
 *     github:
 *       per_identity:                         # a user's own token
 *         "apikey:alice-laptop": ${env:ALICE_GITHUB_TOKEN}
 *         "jwt:https://idp.example.com#bob": ${file:secrets/bob.token}
 *       default: ${env:GITHUB_READONLY_TOKEN}  # optional: everyone else
 *     search:
 *       client_credentials:
 *         token_url: https://auth.example.com/oauth/token
 *         client_id: mcpwall
 *         client_secret: ${file:secrets/search.secret}
 *         scope: search:read                  # optional
 *         resource: https://search.example.com/mcp  # RFC 8707, optional
 *         auth_method: client_secret_basic    # or client_secret_post
 *         refresh_before: 60s
 *         timeout: 10s
 *     internal:
 *       value: ${env:INTERNAL_API_TOKEN}      # one static secret
 *       header: X-Api-Key                     # default Authorization
 *       scheme: ""                            # default Bearer
 *       env: INTERNAL_API_TOKEN               # for stdio upstreams
 *
 * Secret fields (value, per_identity values, default, client_secret) must be
 * ${env:..}/${file:..} references (policy/secrets.h); they are resolved at
 * load and never printed.
 *
 * Client credentials: the first cred_acquire() starts the grant (POST
 * token_url, grant_type=client_credentials, on the event loop); requests
 * that arrive meanwhile wait for that same grant. The token is reused until
 * `refresh_before` (at most half its lifetime) before it expires; from then
 * on callers still get the current token at once while one background grant
 * replaces it; only a token about to expire (5 s) makes callers wait. A
 * failed grant is not retried for `retry_after` (default 5 s): callers get
 * the error at once. Error messages carry the HTTP status and the OAuth
 * error code only, never the response body or a secret.
 *
 * Threading: the loop thread. Memory: token responses are bounded (64 KiB),
 * waiters per credential bounded (CRED_MAX_WAITERS).
 */
#ifndef MCPWALL_POLICY_CREDENTIALS_H
#define MCPWALL_POLICY_CREDENTIALS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/config.h"
#include "policy/identity.h"
#include "policy/secrets.h"
#include "util/buf.h"

struct cred;
struct cred_store;
struct cred_wait;
struct event_base;
struct http_client;

#define CRED_MAX_WAITERS    4096u
#define CRED_MAX_TOKEN_BODY (64u * 1024u)

enum cred_kind { CRED_STATIC, CRED_PER_IDENTITY, CRED_CLIENT_CREDENTIALS };

/* Compiles the `credentials:` section (NULL: an empty store). Every error
 * reported with cfg_err. Returns a store with one reference, or NULL. */
struct cred_store *cred_compile(const struct cfg_doc *doc, const json_t *section,
                                struct cfg_errors *errs);
struct cred_store *cred_store_ref(struct cred_store *s);
/* At zero: stops and frees (secrets wiped). NULL-safe. */
void cred_store_unref(struct cred_store *s);
/* Attaches the loop and HTTP client (borrowed; must outlive cred_store_stop). */
int cred_store_start(struct cred_store *s, struct event_base *base, struct http_client *client);
/* Cancels grants in flight; their waiters get an error. Idempotent. */
void cred_store_stop(struct cred_store *s);
/* Tests: a clock (microseconds, any epoch) for expiry decisions. */
void cred_store_set_clock(struct cred_store *s, uint64_t (*now_us)(void *ud), void *ud);
/* Prints names, kinds and references (never values) for mcpwall check. */
void cred_store_describe(const struct cred_store *s, void *file /* FILE* */);

/* The credential of that name, or NULL. Borrowed from the store. */
struct cred *cred_find(const struct cred_store *s, const char *name);
enum cred_kind cred_kind(const struct cred *c);
const char *cred_name(const struct cred *c);
/* Header the credential goes in ("Authorization" by default). */
const char *cred_header_name(const struct cred *c);
/* Environment variable for stdio upstreams, or NULL when not configured. */
const char *cred_env_name(const struct cred *c);

/* Called once when a pending acquisition ends: tok is a new reference (the
 * callee owns it) or NULL with a sentence in error. */
typedef void (*cred_done_fn)(void *ud, struct secret *tok, const char *error);

/* Gets the credential for a caller (id may be NULL: no identity).
 *   0: ready, *out is a new reference;
 *   1: a grant is running, cb(ud, ...) will be called once (not from inside
 *      this call); *w lets the caller cancel (cred_wait_cancel) if its
 *      request goes away;
 *  -1: refused (no credential for this identity, grant failed recently,
 *      store stopped): a sentence in err. */
int cred_acquire(struct cred *c, const struct identity *id, cred_done_fn cb, void *ud,
                 struct secret **out, struct cred_wait **w, char *err, size_t errlen);
/* Stops waiting; cb is not called. */
void cred_wait_cancel(struct cred_wait *w);

/* Appends "Header: Scheme value" (no CRLF) to line. line holds a secret:
 * free it with buf_wipe_free. 0 or -1. */
int cred_header_line(const struct cred *c, const struct secret *tok, struct buf *line);

struct cred_stats {
    uint64_t grants; /* token requests sent */
    uint64_t grant_failures;
    uint64_t cache_hits; /* acquisitions answered from the cache */
    uint64_t waits;      /* acquisitions that waited for a grant */
};
const struct cred_stats *cred_stats(const struct cred *c);

/* ---- what goes upstream ---- */

/* Builds the header lines of a request to an upstream, NULL-terminated
 * ("Name: value" each), in this order:
 *   configured  the upstream's configured headers (secrets resolved); an
 *               Authorization among them is dropped when cred_line is given;
 *   passthrough client headers the gateway chose to forward (trace ids,
 *               x-model-id ...); Authorization, Proxy-Authorization and
 *               Cookie are always dropped;
 *   cred_line   the injected credential (may be NULL).
 * Any line containing the client's bearer token (client_token, may be NULL)
 * is dropped wherever it came from: the token is never forwarded (token
 * passthrough is forbidden by the MCP authorization spec). Lines with CR,
 * LF or NUL are dropped. Returns NULL on allocation failure; free with
 * cred_headers_free (which wipes). */
char **cred_upstream_headers(const char *const *configured, const char *const *passthrough,
                             const char *cred_line, const char *client_token,
                             size_t client_token_len);
void cred_headers_free(char **h);

#endif
