/* config.h - configuration documents: YAML or JSON read into a jansson tree
 * with the position of every key and value kept, and errors collected as
 * "file:line:col: message" so that one run reports every mistake.
 *
 * YAML is a strict subset: anchors, aliases and tags are refused, duplicate
 * keys are refused, keys must be scalars. Plain scalars resolve as in YAML 1.2's
 * core schema (null, true/false, integers, floats, else string); quoted scalars
 * are always strings. JSON files (by extension .json, or a first non-blank
 * character '{') are read by the strict JSON parser.
 *
 * Section compilers (policy, sandbox, guards, auth ...) walk the tree and
 * report problems with cfg_err(), naming the object and member at fault.
 */
#ifndef MCPWALL_POLICY_CONFIG_H
#define MCPWALL_POLICY_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg_pos {
    uint32_t line; /* 1-based; 0 when unknown */
    uint32_t col;  /* 1-based */
};

struct cfg_posent;

struct cfg_doc {
    char *path;      /* as given (for messages) */
    json_t *root;    /* owned */
    struct cfg_posent **slots; /* position table (open hashing) */
    size_t nslots;
    size_t nents;
};

struct cfg_errors {
    char **msgs;     /* "file:line:col: message" */
    size_t n;
    size_t cap;
    size_t max;      /* stop recording after this many (default 100) */
};

void cfg_errors_init(struct cfg_errors *e);
void cfg_errors_free(struct cfg_errors *e);
/* Records a message without a position (e.g. a file that cannot be opened). */
void cfg_errors_add(struct cfg_errors *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints every message, one per line, to f. */
void cfg_errors_print(const struct cfg_errors *e, void *file /* FILE* */);

/* Loads a file. Returns a document (free with cfg_doc_free) or NULL after
 * recording the problems in errs. */
struct cfg_doc *cfg_load_file(const char *path, struct cfg_errors *errs);
/* Loads from memory; `name` is used in messages; `is_json` forces JSON. */
struct cfg_doc *cfg_load_mem(const char *name, const char *data, size_t len, bool is_json,
                             struct cfg_errors *errs);
void cfg_doc_free(struct cfg_doc *doc);

/* Position of a member's value (key != NULL), an element (key == NULL, index),
 * or, with parent == NULL, of the root. Unknown positions are {0,0}. */
struct cfg_pos cfg_pos_of(const struct cfg_doc *doc, const json_t *parent, const char *key,
                          size_t index);
/* Position of a member's key (for "unknown key" messages). */
struct cfg_pos cfg_key_pos_of(const struct cfg_doc *doc, const json_t *parent, const char *key);

/* Records "file:line:col: message" at the value of parent[key] (or element
 * `index` of an array parent when key is NULL; the container itself when
 * parent is NULL and key is NULL -> root). */
void cfg_err(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *parent,
             const char *key, size_t index, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Same, pointing at the key instead of the value. */
void cfg_err_key(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *parent,
                 const char *key, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Checks that obj (an object) has only the keys listed (NULL-terminated);
 * reports each other key as unknown, suggesting the closest listed key.
 * Returns the number of unknown keys. */
size_t cfg_check_keys(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                      const char *const *allowed);

/* Typed getters: return 0 and set *out when the member is present and of the
 * right type, 1 when absent (out untouched), -1 after recording an error. */
int cfg_get_str(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                const char *key, const char **out);
int cfg_get_bool(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                 const char *key, bool *out);
int cfg_get_uint(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                 const char *key, uint64_t max, uint64_t *out);
/* Sizes accept integers or strings such as "4MiB"; durations integers (ms) or
 * strings such as "30s" (result in microseconds). */
int cfg_get_size(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                 const char *key, uint64_t max, uint64_t *out);
int cfg_get_duration_us(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                        const char *key, uint64_t max, uint64_t *out);
/* A string or an array of strings; *out is a new JSON array of strings. */
int cfg_get_str_list(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                     const char *key, json_t **out);
/* An object member; 1 when absent. */
int cfg_get_obj(struct cfg_errors *e, const struct cfg_doc *doc, const json_t *obj,
                const char *key, json_t **out);

#endif
