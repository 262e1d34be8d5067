/* authn.h - authentication of HTTP callers: API keys and JWT bearer tokens,
 * the OAuth 2.1 resource-server duties of the MCP authorization spec, and
 * the identity of the local user for stdio.
 *
 * Compiled from the configuration's top-level `auth:` section into an
 * immutable snapshot (plus the key-set caches, which refresh on the loop).
 * Every key, its default and an example are in docs/auth.md. In short:
 *
 *   auth:
 *     resource: https://mcp.example.com/mcp   # this gateway (aud, RFC 9728)
 *     anonymous: false                        # no credentials -> 401
 *     anonymous_roles: []
 *     local_roles: []                         # roles of the local user (wrap)
 *     model_header: x-model-id                # model hint for the policy ("" : off)
 *     required_scopes: []                     # every JWT must carry them (403)
 *     scopes_supported: []                    # advertised in the metadata
 *     authorization_servers: []               # default: the jwt issuers
 *     resource_name: "..."                    # metadata, optional
 *     resource_documentation: https://...     # metadata, optional
 *     resource_metadata_url: https://...      # default: derived from resource
 *     max_token_bytes: 8KiB
 *     token_cache: 1024                       # verified JWTs remembered; 0: off
 *     api_keys:
 *       - name: alice-laptop                  # principal apikey:alice-laptop
 *         hash: "hmac-sha256$...$...$..."      # from mcpwall keygen
 *         roles: [dev]
 *         scopes: []                          # optional
 *         display_name: Alice                 # optional
 *         expires: 2027-01-01T00:00:00Z       # optional
 *     jwt:                                    # one issuer or a list
 *       - issuer: https://idp.example.com
 *         jwks_url: https://idp.example.com/jwks   # or jwks_file: keys.json
 *         audience: https://mcp.example.com/mcp    # default: resource
 *         algorithms: [RS256, ES256, EdDSA]
 *         clock_skew: 60s                     # at most 5m
 *         roles_claim: roles                  # dotted path, string or array
 *         default_roles: []
 *         name_claim: preferred_username
 *         refresh_interval: 15m
 *         min_refresh_interval: 30s           # unknown-kid refresh rate limit
 *         fetch_timeout: 10s
 *         ca_file: /path/ca.pem               # optional, for jwks_url
 *
 * How the HTTP hook (authn_http_hook) answers a request:
 *   - a token in the query string (access_token, token, api_key, apikey, or
 *     any value shaped like a JWT or an mcpwall key): 400 invalid_request,
 *     even with a valid Authorization header (the URL has already leaked it);
 *   - more than one Authorization header, or a Bearer credential that is not
 *     a b64token: 400 invalid_request;
 *   - no Authorization, or another scheme: 401 with
 *     `WWW-Authenticate: Bearer resource_metadata="<url>"` (and scope= when
 *     required_scopes is set), no error code (RFC 6750 §3.1), unless
 *     anonymous is on (then the anonymous identity);
 *   - an invalid, expired, foreign (wrong iss/aud) or unknown-key token, or a
 *     wrong API key: 401 error="invalid_token" with an error_description;
 *   - a valid token without the required scopes: 403
 *     error="insufficient_scope", scope="<needed>";
 *   - key set not loaded yet and not obtainable: 503 with Retry-After.
 * Otherwise the request carries a struct identity (http_request_identity)
 * and its principal (http_request_principal).
 *
 * Threading: everything on the loop thread. Memory: tokens are bounded by
 * max_token_bytes before any decoding; requests waiting for a key-set fetch
 * are bounded per issuer (AUTHN_MAX_WAITERS).
 */
#ifndef MCPWALL_POLICY_AUTHN_H
#define MCPWALL_POLICY_AUTHN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/apikey.h"
#include "policy/config.h"
#include "policy/identity.h"
#include "util/buf.h"

struct authn;
struct event_base;
struct http_client;
struct http_listener;
struct http_request;

#define AUTHN_MAX_WAITERS         1024u /* requests held per issuer for a key fetch */
#define AUTHN_MAX_SKEW_S          300u  /* clock_skew is at most this */
#define AUTHN_DEFAULT_TOKEN_CACHE 1024u /* verified JWTs remembered (token_cache) */
#define AUTHN_PRM_WELL_KNOWN      "/.well-known/oauth-protected-resource"
#define AUTHN_DEFAULT_MODEL_HEADER "x-model-id"

/* ---- configuration ---- */

/* Compiles the `auth:` section (section may be NULL: no auth section, which
 * authenticates nobody: every request gets 401). Reports every error with
 * cfg_err; JWKS files are read and checked now. Returns a snapshot with one
 * reference, or NULL after reporting. */
struct authn *authn_compile(const struct cfg_doc *doc, const json_t *section,
                            struct cfg_errors *errs);
/* A snapshot with one API key (freshly generated, written to key_out; wipe
 * it after showing it) bound to `name` with `roles` (for a quick start that
 * has no configuration file). NULL on failure. */
struct authn *authn_new_single_key(const char *name, const char *const *roles, size_t nroles,
                                   char key_out[APIKEY_LEN + 1]);
struct authn *authn_ref(struct authn *a);
/* Drops a reference; at zero, stops (authn_stop) and frees. NULL-safe. */
void authn_unref(struct authn *a);

/* Prints what the section does (mcpwall check): methods, key names and
 * roles, issuers and key sources. Never a hash or a secret. */
void authn_describe(const struct authn *a, void *file /* FILE* */);

/* ---- running on the loop ---- */

/* Attaches the loop and the HTTP client (both borrowed; they must outlive
 * authn_stop), starts the first fetch of every jwks_url and the periodic
 * refresh timers. Returns 0 or -1 (memory). */
int authn_start(struct authn *a, struct event_base *base, struct http_client *client);
/* Takes over the key sets of `old` for issuers with the same issuer and key
 * source (a reload then needs no fetch). Call before authn_start. */
void authn_adopt(struct authn *a, const struct authn *old);
/* Cancels fetches and timers and answers every request still waiting for
 * keys with 503. Call before freeing the HTTP client or server. Idempotent;
 * the snapshot can still verify with the keys it has. */
void authn_stop(struct authn *a);

/* Tests: a clock for token times and refresh rate limits (wall-clock
 * microseconds). NULL restores the real clocks. */
void authn_set_clock(struct authn *a, uint64_t (*now_us)(void *ud), void *ud);

/* ---- the HTTP hook ---- */

/* The listener's authentication hook: ud is the struct authn *.
 *   http_listener_set_auth(l, authn_http_hook, a);
 * Allows with an identity (identity_free_cb, principal), denies with the
 * answers listed above, or holds the request while the issuer's key set is
 * fetched (unknown kid, first load) and resumes it when the fetch ends. */
enum http_auth_verdict authn_http_hook(void *ud, struct http_request *req);

/* Answers 403 insufficient_scope for `scope` (space-separated scopes the
 * operation needs) with the right WWW-Authenticate (for per-tool scope rules
 * of the policy). Returns what http_reply_error returns. */
int authn_reply_insufficient_scope(const struct authn *a, struct http_request *req,
                                   const char *scope, const char *description);

/* The bearer credential of a request (what follows "Bearer "), or NULL.
 * Borrowed from the request. For cred_upstream_headers(), which makes sure it
 * is never forwarded. */
const char *authn_request_token(const struct http_request *req, size_t *len);

/* ---- protected resource metadata (RFC 9728) ---- */

/* The paths the document is served at: the path-inserted well-known URI of
 * the resource ("/.well-known/oauth-protected-resource/mcp" for
 * https://host/mcp) and the root one ("/.well-known/oauth-protected-resource"),
 * once when they coincide. Returns how many (0 when no resource is set). */
size_t authn_prm_paths(const struct authn *a, const char *paths[2]);
/* Appends the metadata document (JSON). -1 when no resource is configured. */
int authn_prm_write(const struct authn *a, struct buf *body);
/* An http_simple_fn (ud: struct authn *): 200 application/json, or 404. */
int authn_prm_handler(void *ud, struct buf *body, const char **content_type);
/* Routes authn_prm_handler at authn_prm_paths() on l, without auth. 0 or -1. */
int authn_route_metadata(struct authn *a, struct http_listener *l);

/* ---- the result, without HTTP (tests, fuzzing, other transports) ---- */

enum authn_status {
    AUTHN_OK = 0,
    AUTHN_NO_CREDENTIALS,     /* 401, challenge without error code */
    AUTHN_BAD_REQUEST,        /* 400 invalid_request */
    AUTHN_INVALID_TOKEN,      /* 401 invalid_token */
    AUTHN_INSUFFICIENT_SCOPE, /* 403 insufficient_scope */
    AUTHN_UNAVAILABLE,        /* 503: keys cannot be obtained now */
    AUTHN_NEED_KEYS,          /* the issuer's key set must be fetched first */
};

struct authn_result {
    enum authn_status status;
    int http_status;       /* 200, 400, 401, 403 or 503 */
    struct identity *id;   /* AUTHN_OK: a new reference, owned by the caller */
    const char *reason;    /* stable code: "no_credentials", "token_in_query",
                              "expired", "wrong_audience", "invalid_api_key" ... */
    char description[160]; /* error_description: never contains the token */
    char scope[256];       /* AUTHN_INSUFFICIENT_SCOPE: the scopes needed */
    size_t issuer;         /* AUTHN_NEED_KEYS: which issuer (internal) */
};

/* Authenticates one request from its Authorization header (NULL when absent;
 * `nauth` is how many Authorization fields it had) and its query string
 * (NULL when none). Synchronous: a token whose key must first be fetched
 * gives AUTHN_NEED_KEYS (the hook turns that into a pending request). */
void authn_authenticate(struct authn *a, const char *authorization, size_t nauth, const char *query,
                        struct authn_result *res);
/* The WWW-Authenticate value for a result (empty for OK and UNAVAILABLE). */
int authn_challenge(const struct authn *a, const struct authn_result *res, struct buf *out);

/* The local user with auth.local_roles (a may be NULL: no roles). */
struct identity *authn_local_identity(const struct authn *a);
bool authn_anonymous_allowed(const struct authn *a);
const char *authn_resource(const struct authn *a);
/* The request header whose value is the model hint of the policy (auth.
 * model_header, default "x-model-id"; unverified, may only narrow), or NULL
 * when the configuration turned it off with "" (a may be NULL: the default). */
const char *authn_model_header(const struct authn *a);

/* ---- observation (metrics, audit) ---- */

struct authn_stats {
    uint64_t allowed;
    uint64_t no_credentials;
    uint64_t bad_request;
    uint64_t invalid_token;
    uint64_t insufficient_scope;
    uint64_t unavailable;
    uint64_t pending;      /* requests held for a key fetch */
    uint64_t jwks_fetches; /* fetches started (URL) or re-reads (file) */
    uint64_t jwks_failures;
    uint64_t jwks_loaded;   /* key sets taken into use (after the first) */
    uint64_t kid_refreshes; /* fetches triggered by an unknown kid */
    uint64_t kid_refused;   /* unknown kids refused by the rate limit */
    uint64_t cache_hits;    /* JWTs accepted from the verified-token cache */
};
const struct authn_stats *authn_stats(const struct authn *a);

/* Called once per decision of the hook (after a pending one resolves): the
 * result (id set when allowed), the peer address. For the audit log. */
typedef void (*authn_observe_fn)(void *ud, const struct authn_result *res, const char *peer);
void authn_set_observer(struct authn *a, authn_observe_fn fn, void *ud);

#endif
