/* json.h - strict JSON reading under budgets, and the emit helpers.
 *
 * json_parse_strict() reads exactly one JSON text (RFC 8259) into a jansson
 * tree and refuses, each with its own reason and byte offset: oversize input,
 * excessive nesting, oversize strings, objects and arrays with too many
 * members, duplicate keys, invalid or overlong UTF-8, UTF-8-encoded surrogates,
 * lone surrogate escapes, NUL in object keys, raw control characters, and any
 * data after the value. Budgets are checked before memory is taken.
 *
 * Numbers: integers that fit in int64 become json_integer; other numbers become
 * json_real. Messages that pass a gateway unchanged are forwarded as their
 * original bytes, so this conversion never alters what a peer receives.
 */
#ifndef MCPWALL_PROTO_JSON_H
#define MCPWALL_PROTO_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

struct json_limits {
    size_t max_bytes;   /* whole message; default 4 MiB */
    size_t max_depth;   /* nesting of objects and arrays; default 64 */
    size_t max_string;  /* bytes of one decoded string or key; default 1 MiB */
    size_t max_members; /* members of one object; default 4096 */
    size_t max_items;   /* elements of one array; default 65536 */
};

#define JSON_DEFAULT_MAX_BYTES   (4u * 1024u * 1024u)
#define JSON_DEFAULT_MAX_DEPTH   64u
#define JSON_DEFAULT_MAX_STRING  (1024u * 1024u)
#define JSON_DEFAULT_MAX_MEMBERS 4096u
#define JSON_DEFAULT_MAX_ITEMS   65536u
#define JSON_HARD_MAX_DEPTH      1000u

extern const struct json_limits json_default_limits;

/* Stable rejection reasons; json_reason_code() gives the wire name. */
enum json_reason {
    JSON_OK = 0,
    JSON_E_EMPTY,             /* empty_message */
    JSON_E_TOO_LARGE,         /* message_too_large */
    JSON_E_SYNTAX,            /* syntax_error */
    JSON_E_TRUNCATED,         /* unexpected_end */
    JSON_E_DEPTH,             /* depth_exceeded */
    JSON_E_STRING_TOO_LONG,   /* string_too_long */
    JSON_E_TOO_MANY_MEMBERS,  /* too_many_members */
    JSON_E_TOO_MANY_ITEMS,    /* too_many_items */
    JSON_E_DUPLICATE_KEY,     /* duplicate_key */
    JSON_E_INVALID_UTF8,      /* invalid_utf8 */
    JSON_E_OVERLONG_UTF8,     /* overlong_utf8 */
    JSON_E_SURROGATE_UTF8,    /* utf8_encoded_surrogate */
    JSON_E_LONE_SURROGATE,    /* lone_surrogate */
    JSON_E_NUL_IN_KEY,        /* nul_in_key */
    JSON_E_CONTROL_CHAR,      /* control_character */
    JSON_E_BAD_ESCAPE,        /* invalid_escape */
    JSON_E_BAD_NUMBER,        /* invalid_number */
    JSON_E_NUMBER_RANGE,      /* number_out_of_range */
    JSON_E_TRAILING_DATA,     /* trailing_data */
    JSON_E_NOMEM,             /* out_of_memory */
    JSON_E__COUNT
};

struct json_err {
    enum json_reason reason;
    size_t offset;  /* byte offset of the problem in the input */
    char msg[160];  /* a sentence for a person; never contains string values */
};

const char *json_reason_code(enum json_reason r);

/* Optional: called for every value created, with its container (NULL for the
 * root), its key (objects) or index (arrays), and the byte offsets of the key
 * and of the value. Config loading uses it for file:line:col messages. The
 * callback runs before the value is inserted into its container. */
typedef void (*json_pos_fn)(void *ud, json_t *parent, const char *key, size_t keylen,
                            size_t index, json_t *value, size_t key_offset, size_t value_offset);

/* Parses buf[0, len). Returns a new reference or NULL with *err filled.
 * `lim` may be NULL for the defaults. */
json_t *json_parse_strict(const char *buf, size_t len, const struct json_limits *lim,
                          struct json_err *err);
json_t *json_parse_strict_pos(const char *buf, size_t len, const struct json_limits *lim,
                              struct json_err *err, json_pos_fn fn, void *ud);

/* Converts a byte offset into a 1-based line and column (columns count code
 * points, as editors show them). */
void json_offset_linecol(const char *buf, size_t len, size_t offset, size_t *line, size_t *col);

/* Appends v compactly serialised to b; -1 when b's budget is exceeded. */
int json_emit(struct buf *b, const json_t *v);
/* Serialises v into a new malloc'd string (compact); NULL on failure. */
char *json_emit_str(const json_t *v, size_t *len);
/* Appends s[0,n) as a JSON string literal with quotes; control characters,
 * '"', '\\' and U+2028/2029 are escaped. Input must be valid UTF-8. */
int json_emit_string(struct buf *b, const char *s, size_t n);

/* Small accessors that tolerate wrong types (return NULL / false). */
const char *json_get_str(const json_t *obj, const char *key, size_t *len);
bool json_get_int(const json_t *obj, const char *key, long long *out);

#endif

/* ---- streaming emitters (no tree copies, no unbounded allocation) ---------- */

/* Appends v as compact JSON, stopping after about `max` bytes: the output is
 * then cut on a UTF-8 boundary and "..." appended. Members whose key makes
 * redact_key() return true are written with the value "[REDACTED]".
 * redact_key may be NULL. */
void json_emit_preview(struct buf *b, const json_t *v, size_t max,
                       bool (*redact_key)(const char *key));
/* Feeds the canonical form of v (compact, object keys sorted by bytes,
 * strings escaped as json_emit_string does, integers in decimal, reals with
 * 17 significant digits) to sink in pieces. Used for argument hashes. */
void json_emit_canonical(const json_t *v, void (*sink)(void *ud, const char *p, size_t n),
                         void *ud);
/* Appends an unsigned decimal number (no printf). */
int buf_append_u64(struct buf *b, unsigned long long v);
