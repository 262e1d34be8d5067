/* identity.h - who is calling: the result of authentication, read by the
 * policy (roles:, identities:), the audit log and session binding.
 *
 * An identity is immutable once authentication has built it and is shared by
 * reference counting: the HTTP request holds one reference (released by
 * identity_free_cb when the request ends), a session or an audit record may
 * take more with identity_ref().
 *
 * principal: a stable name, unique per caller and method, safe to log:
 *   apikey:<name>           an API key entry of auth.api_keys (its `name`)
 *   jwt:<iss>#<sub>         a verified JWT (issuer and subject claims)
 *   local:<user>            the local user of a stdio gateway (wrap)
 *   anonymous               a caller without credentials, when auth.anonymous
 * display: a human name (the key's display_name, the token's name claim, the
 *   login name); informational, never used for decisions.
 * roles, scopes: sets of strings (duplicates removed, order kept).
 * client_id: the OAuth client the token was issued to (JWT client_id or azp
 *   claim; verified by the signature), NULL otherwise. Not the clientInfo of
 *   initialize, which is an unverified hint the policy may only narrow with.
 * expires_us: wall-clock microseconds after which the credential is no longer
 *   valid (the token's exp, the key's expires), 0 for none.
 *
 * Limits: at most IDENTITY_MAX_ITEMS roles and as many scopes, each at most
 * IDENTITY_MAX_NAME bytes (authentication refuses credentials beyond them).
 */
#ifndef MCPWALL_POLICY_IDENTITY_H
#define MCPWALL_POLICY_IDENTITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDENTITY_MAX_ITEMS 256u
#define IDENTITY_MAX_NAME  256u
/* Longest principal authentication produces ("jwt:" + issuer of at most 250
 * bytes + "#" + sub of at most 255). Size principal buffers to it + 1:
 * truncating a principal could merge two callers. */
#define IDENTITY_MAX_PRINCIPAL 512u

enum identity_method {
    IDENTITY_ANONYMOUS = 0,
    IDENTITY_APIKEY,
    IDENTITY_JWT,
    IDENTITY_LOCAL,
};

struct identity {
    int refs;
    enum identity_method method;
    char *principal;
    char *display;
    char *issuer;    /* JWT: iss; NULL otherwise */
    char *subject;   /* JWT: sub; API key: the entry name; local: the login */
    char *client_id; /* JWT: client_id or azp; NULL otherwise */
    char **roles;
    size_t nroles;
    char **scopes;
    size_t nscopes;
    uint64_t expires_us;
};

/* A new identity with one reference; principal and display are copied
 * (display may be NULL: the principal is shown). NULL on allocation failure. */
struct identity *identity_new(enum identity_method m, const char *principal, const char *display);
/* Adds a role / scope (copied; s[0, len), no NUL inside). Duplicates are
 * ignored. Returns 0, or -1 when empty, too long, the set is full, or memory
 * fails. Only for the code that builds an identity, before sharing it. */
int identity_add_role(struct identity *id, const char *s, size_t len);
int identity_add_scope(struct identity *id, const char *s, size_t len);
/* Sets issuer/subject/client_id (copied; NULL clears). 0 or -1. */
int identity_set_str(char **field, const char *s);

struct identity *identity_ref(struct identity *id);
/* Drops a reference; frees at zero. NULL-safe. */
void identity_unref(struct identity *id);
/* identity_unref for callbacks taking void * (http_request_set_identity). */
void identity_free_cb(void *id);

bool identity_has_role(const struct identity *id, const char *role);
bool identity_has_scope(const struct identity *id, const char *scope);
/* True when the credential behind it has expired at wall time now_us. */
bool identity_expired(const struct identity *id, uint64_t now_us);
/* "anonymous", "apikey", "jwt", "local". */
const char *identity_method_name(enum identity_method m);

/* The local user (wrap over stdio): principal "local:<login>" from the
 * effective uid (getpwuid_r; "uid<N>" when the user has no passwd entry),
 * method IDENTITY_LOCAL, no roles (authn_local_identity() adds the configured
 * auth.local_roles). NULL on allocation failure. */
struct identity *identity_local_user(void);
/* The anonymous caller: principal "anonymous", the given roles. */
struct identity *identity_anonymous(const char *const *roles, size_t nroles);

/* A JSON object for audit records and the admin API: principal, method,
 * display, roles, scopes, client_id, expires (RFC 3339) — never a credential.
 * New reference, NULL on allocation failure. */
json_t *identity_to_json(const struct identity *id);

#endif
