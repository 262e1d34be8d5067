/* secrets.h - secret values: references in the configuration, resolved at
 * load, held in wiped memory, and never printed.
 *
 * A configuration never contains a secret itself, only a reference:
 *   ${env:NAME}    the environment variable NAME (must be set and non-empty)
 *   ${file:PATH}   the contents of PATH (relative to the configuration file's
 *                  folder), one trailing newline removed. The file must be a
 *                  regular file owned by the user mcpwall runs as and not
 *                  readable or writable by group or others (mode 0600 or
 *                  0400): anything else is refused with a message that says
 *                  how to fix it.
 * References may sit inside a longer string ("Bearer ${env:GH_TOKEN}");
 * "$${" writes a literal "${". Every problem is reported with its position.
 *
 * Never printed: a resolved value lives only in a struct secret, whose bytes
 * are reachable through secret_value() alone and are wiped (OPENSSL_cleanse)
 * when the last reference goes. Every live secret of at least
 * SECRET_SCRUB_MIN bytes is registered: log lines pass through secret_scrub()
 * (installed with log_set_scrubber() when the first secret is registered),
 * which blanks any registered value that a bug might have put there. Config
 * dumps and `mcpwall check` print the references (secret_label()), which
 * hold names and paths only. Error messages of this module name the
 * reference, never the value.
 *
 * Threading: secrets are immutable after creation; the registry is locked,
 * so secret_scrub() may run on any thread. References are counted without
 * atomics: take and drop them on one thread (the event loop).
 */
#ifndef MCPWALL_POLICY_SECRETS_H
#define MCPWALL_POLICY_SECRETS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "policy/config.h"

#define SECRET_MAX_BYTES (64u * 1024u) /* one resolved value (and one file) */
#define SECRET_MAX_REFS  8u            /* references in one configured string */
#define SECRET_SCRUB_MIN 6u            /* shorter values are not scrubbed from logs */

struct secret;

/* A new secret holding a copy of p[0, n) (NUL-terminated in memory), one
 * reference, registered for scrubbing. `label` says where it came from
 * ("${env:NAME}", "token from grant 'search'"); copied; never the value.
 * NULL on allocation failure or n > SECRET_MAX_BYTES. */
struct secret *secret_new(const void *p, size_t n, const char *label);
struct secret *secret_ref(struct secret *s);
/* Drops a reference; at zero, unregisters, wipes and frees. NULL-safe. */
void secret_unref(struct secret *s);
/* The bytes (NUL-terminated; *len may be NULL). The only way to read them:
 * pass them to the place that needs them (a header, an environment
 * variable), never to a log, an error or an audit record. */
const char *secret_value(const struct secret *s, size_t *len);
/* Where the value came from, for messages and config dumps. */
const char *secret_label(const struct secret *s);
/* Constant-time comparison of a secret with p[0, n). */
bool secret_equals(const struct secret *s, const void *p, size_t n);

/* True when s contains a ${...} reference. */
bool secret_has_ref(const char *s);

/* Resolves the references in s. `basedir` (may be NULL: the current folder)
 * anchors relative file paths. Returns 0 and a new secret in *out, or -1 with
 * a sentence in err (naming the reference, never a value). A string without
 * any reference is returned as is (a secret labelled "literal"). */
int secret_expand(const char *s, const char *basedir, struct secret **out, char *err,
                  size_t errlen);

/* Resolves the string at parent[key] (or element `index` of an array parent
 * when key is NULL) of a configuration document, reporting problems there
 * with cfg_err. `require_ref`: a value with no reference is an error (secret
 * fields must not be written in the configuration). Returns 0 with *out set,
 * 1 when the member is absent, -1 after recording an error. */
int secret_from_cfg(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *parent,
                    const char *key, size_t index, bool require_ref, struct secret **out);

/* True when a ${env:NAME} reference has read the variable `name` (name[0,
 * len)) in this process: serve keeps such variables out of the environment
 * its unsandboxed stdio servers inherit (a server that needs one gets it via
 * its env: or credential:). At most 256 names are remembered. Thread-safe. */
bool secret_env_referenced(const char *name, size_t len);

/* Blanks (overwrites with '*') every occurrence of a registered secret in
 * p[0, n). Returns the number of occurrences. Thread-safe. */
size_t secret_scrub(char *p, size_t n);
/* Number of live registered secrets (tests). */
size_t secret_registered(void);

/* Wipes n bytes at p so the compiler cannot drop the write. */
void secret_wipe(void *p, size_t n);

#endif
