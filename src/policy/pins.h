/* pins.h - tool-definition pins: the lockfile `mcpwall.lock`.
 *
 * A pin is the SHA-256 of the canonical JSON of one tool (or prompt)
 * definition exactly as the server sent it in tools/list (prompts/list): name,
 * title, description, inputSchema, outputSchema, annotations, _meta, icons -
 * every member, so a change anywhere in the definition changes the pin.
 *
 * Canonical JSON (pins_canonical): objects with members sorted by key
 * (bytewise on the UTF-8 key, which is code-point order), no whitespace,
 * strings with only '"', '\\' and U+0000..U+001F escaped (\b \t \n \f \r, the
 * rest as \u00xx lowercase) and every other character as raw UTF-8, integers
 * in decimal, other numbers in the shortest "%.*g" form that reads back to the
 * same double (with ".0" appended when that form looks like an integer),
 * true/false/null literally. Arrays keep their order.
 *
 * The lockfile is JSON (pretty-printed, keys sorted, reviewable in git):
 *   {"version": 1, "generator": "mcpwall 0.1.0",
 *    "servers": {"<server>": {"target": "...",
 *        "tools":   {"<name>": {"sha256": "<64 hex>", "definition": {...}}},
 *        "prompts": {"<name>": {"sha256": "<64 hex>", "definition": {...}}}}}}
 * "definition" is kept so that `pins diff` and code review can show what was
 * approved; only "sha256" is compared. A server entry without "prompts" does
 * not pin prompts.
 *
 * The gateway loads a lockfile once (pins_load), then for each server checks a
 * tools/list result with pins_check() (whole list: unchanged / changed / new /
 * removed per tool) or a single tool with pins_lookup() + pins_hash_def().
 */
#ifndef MCPWALL_POLICY_PINS_H
#define MCPWALL_POLICY_PINS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/hash.h"

#define PINS_VERSION  1
#define PINS_MAX_FILE (64u * 1024u * 1024u)
/* Most tools (or prompts) per server a lockfile may hold. */
#define PINS_MAX_ITEMS 10000u

enum pins_kind { PINS_TOOL = 0, PINS_PROMPT = 1 };

struct pins; /* opaque: a loaded or built lockfile */

struct pins_err {
    char msg[256]; /* "file:line:col: message" when the position is known */
};

/* Appends the canonical JSON of v to b. -1 when b's budget is exceeded or v
 * nests deeper than 256 levels. */
int pins_canonical(struct buf *b, const json_t *v);
/* SHA-256 (lowercase hex) of the canonical JSON of a definition. 0 / -1. */
int pins_hash_def(const json_t *def, char out[SHA256_HEX_LEN + 1]);

/* A new empty lockfile; `generator` (e.g. "mcpwall 0.1.0") is informational. */
struct pins *pins_new(const char *generator);
/* Loads a lockfile. Returns NULL with err filled when the file is missing,
 * larger than PINS_MAX_FILE, not JSON, or not of the format above. */
struct pins *pins_load(const char *path, struct pins_err *err);
/* Writes atomically (temporary file + rename). 0 / -1 with err filled. */
int pins_save(const struct pins *p, const char *path, struct pins_err *err);
void pins_free(struct pins *p);

/* Replaces what is pinned for one server and kind with the definitions in
 * `defs` (a JSON array of objects with a string "name"; borrowed, copied).
 * `target` (may be NULL) is informational. Definitions without a name are
 * skipped; a repeated name keeps the first. 0 / -1. */
int pins_set(struct pins *p, const char *server, const char *target, enum pins_kind kind,
             const json_t *defs);
/* Sets (replaces) one pinned definition. 0 / -1. */
int pins_set_one(struct pins *p, const char *server, enum pins_kind kind, const json_t *def);
/* Removes one pinned name; 0 when removed, -1 when it was not pinned. */
int pins_remove_one(struct pins *p, const char *server, enum pins_kind kind, const char *name);

/* True when the lockfile has an entry for the server (and that kind). */
bool pins_has_server(const struct pins *p, const char *server);
bool pins_has_kind(const struct pins *p, const char *server, enum pins_kind kind);
/* The pinned hash of one name, or NULL (borrowed, valid until the pins change). */
const char *pins_lookup(const struct pins *p, const char *server, enum pins_kind kind,
                        const char *name);
/* The pinned definition of one name, or NULL (borrowed). */
const json_t *pins_lookup_def(const struct pins *p, const char *server, enum pins_kind kind,
                              const char *name);
/* Names of the servers (a new JSON array of strings, sorted). */
json_t *pins_servers(const struct pins *p);

enum pins_status { PINS_UNCHANGED = 0, PINS_CHANGED, PINS_NEW, PINS_REMOVED };
const char *pins_status_name(enum pins_status s);

struct pins_delta {
    char *name; /* owned */
    enum pins_status status;
    char old_hash[SHA256_HEX_LEN + 1]; /* "" for PINS_NEW */
    char new_hash[SHA256_HEX_LEN + 1]; /* "" for PINS_REMOVED */
};

struct pins_result {
    struct pins_delta *d; /* sorted by name */
    size_t n;
    size_t changed, added, removed, unchanged;
};

/* Compares a list of definitions (JSON array, borrowed) with what is pinned for
 * the server and kind. Every name appears once in the result: unchanged,
 * changed (hash differs), new (not pinned) or removed (pinned, not listed).
 * When the server is not pinned at all, every definition is PINS_NEW.
 * 0 / -1 (out of memory or more than PINS_MAX_ITEMS definitions). */
int pins_check(const struct pins *p, const char *server, enum pins_kind kind, const json_t *defs,
               struct pins_result *out);
void pins_result_free(struct pins_result *r);

/* The name a stdio server is pinned under when no name is given: the package
 * or program its command runs (npx -y @scope/server-x@1.2 -> server-x;
 * node .../server-memory/dist/index.js -> server-memory). Used by
 * `mcpwall scan` and by `mcpwall wrap`, so both key the lockfile alike. */
void pins_name_of_command(char *const argv[], char *out, size_t outsz);

#endif
