/* jtape.h - the strict JSON reader, as a token tape.
 *
 * jtape_parse() validates one JSON text with every rule of json.h (budgets,
 * duplicate keys, UTF-8, surrogates, NUL in keys, trailing data ...) and
 * records its values as a flat array of tokens that point into the input.
 * It allocates nothing per message once the tape has grown: the gateway keeps
 * one tape per channel and reads fields straight from it, building jansson
 * trees (jt_json) only for the parts a stage needs to change.
 *
 * Layout: a value's token is followed by its subtree; objects store members
 * as key token then value subtree. tok[i].next is the index just past the
 * subtree of token i, so siblings are found without scanning. Token 0 is the
 * root. Offsets are bytes into the input, which must outlive the tape's use.
 */
#ifndef MCPWALL_PROTO_JTAPE_H
#define MCPWALL_PROTO_JTAPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/json.h"
#include "util/buf.h"

enum jt_type { JT_OBJECT = 1, JT_ARRAY, JT_STRING, JT_NUMBER, JT_TRUE, JT_FALSE, JT_NULL };

#define JT_F_ESC 1u /* string contains escapes: decode before use */
#define JT_F_INT 2u /* number is an integer that fits int64 */

struct jt_tok {
    uint32_t start; /* strings: first byte after the quote; others: first byte */
    uint32_t len;   /* raw bytes (strings: between the quotes) */
    uint32_t next;  /* index just past this value's subtree */
    uint32_t count; /* objects: members; arrays: elements; strings: decoded bytes */
    uint8_t type;
    uint8_t flags;
};

#define JT_NONE SIZE_MAX

struct jtape {
    struct jt_tok *tok;
    size_t n;
    size_t cap;
    const char *src;
    size_t srclen;
    struct buf scratch; /* decoded strings */
};

void jtape_init(struct jtape *t);
void jtape_free(struct jtape *t);
/* Parses buf[0,len) into t (replacing what it held). 0 on success; -1 with
 * *err filled. The tape never holds more than max_bytes/2 + 16 tokens. */
int jtape_parse(struct jtape *t, const char *buf, size_t len, const struct json_limits *lim,
                struct json_err *err);

static inline enum jt_type jt_type(const struct jtape *t, size_t i)
{
    return i < t->n ? (enum jt_type)t->tok[i].type : (enum jt_type)0;
}
/* Value of member `key` of object token obj, or JT_NONE. */
size_t jt_get(const struct jtape *t, size_t obj, const char *key);
/* Element i of array token arr, or JT_NONE. */
size_t jt_at(const struct jtape *t, size_t arr, size_t i);
/* Iteration over an object's members: start with *it = JT_NONE; returns the
 * key token and sets *val, or JT_NONE at the end. */
size_t jt_next_member(const struct jtape *t, size_t obj, size_t *it, size_t *val);
/* A string token's decoded bytes: the input itself when it has no escapes,
 * otherwise decoded into `scratch` (valid until scratch changes). NULL if the
 * token is not a string. */
const char *jt_str(const struct jtape *t, size_t i, size_t *len, struct buf *scratch);
/* True when string token i decodes to exactly s (n bytes). */
bool jt_str_eq(const struct jtape *t, size_t i, const char *s, size_t n);
bool jt_int(const struct jtape *t, size_t i, long long *out);
/* Raw bytes of any value (for forwarding or hashing exactly what was sent). */
static inline const char *jt_raw(const struct jtape *t, size_t i, size_t *len)
{
    const struct jt_tok *k = &t->tok[i];
    if (k->type == JT_STRING) {
        *len = (size_t)k->len + 2;
        return t->src + k->start - 1;
    }
    *len = k->len;
    return t->src + k->start;
}
/* Builds the jansson tree of value i (new reference; NULL when out of memory).
 * With fn set, reports every value's position as json_parse_strict_pos does. */
json_t *jt_json(const struct jtape *t, size_t i);
json_t *jt_json_pos(const struct jtape *t, size_t i, json_pos_fn fn, void *ud);

#endif
