/* jsonrpc.h - the JSON-RPC 2.0 message model as MCP uses it.
 *
 * rpc_parse() turns one framed message into a classified struct rpc_msg or an
 * error that says what a person needs to fix: -32700 for text that is not
 * JSON within budget, -32600 for JSON that is not a valid MCP JSON-RPC message
 * (jsonrpc other than "2.0", null or non-integer ids, missing method, batch
 * arrays, which MCP removed in 2025-06-18, results with errors ...).
 */
#ifndef MCPWALL_PROTO_JSONRPC_H
#define MCPWALL_PROTO_JSONRPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "proto/json.h"
#include "proto/jtape.h"
#include "util/buf.h"

#define RPC_PARSE_ERROR      (-32700)
#define RPC_INVALID_REQUEST  (-32600)
#define RPC_METHOD_NOT_FOUND (-32601)
#define RPC_INVALID_PARAMS   (-32602)
#define RPC_INTERNAL_ERROR   (-32603)

/* MCP-defined codes. */
#define MCP_ERR_RESOURCE_NOT_FOUND   (-32002) /* legacy era */
#define MCP_ERR_URL_ELICITATION      (-32042) /* 2025-11-25 */
#define MCP_ERR_UNSUPPORTED_VERSION  (-32022) /* 2026-07-28 */

/* mcpwall's own codes, in the implementation-defined range -32000..-32019,
 * avoiding -32000 and -32001, which SDK clients use locally for "connection
 * closed" and "request timed out". */
#define MW_ERR_DENIED       (-32010) /* refused by policy */
#define MW_ERR_UPSTREAM     (-32011) /* server unavailable, exited, or sent garbage */
#define MW_ERR_TIMEOUT      (-32012) /* no answer in time */
#define MW_ERR_RATE_LIMITED (-32013)
#define MW_ERR_OVERLOADED   (-32014) /* too many requests in flight */
#define MW_ERR_INVALID_ARGS (-32602) /* arguments refused: JSON-RPC invalid params */

enum rpc_kind { RPC_REQUEST, RPC_NOTIFICATION, RPC_RESULT, RPC_ERROR };

struct rpc_msg {
    enum rpc_kind kind;
    json_t *root;       /* owned reference */
    json_t *id;         /* borrowed; NULL for notifications */
    const char *method; /* borrowed; requests and notifications */
    size_t method_len;
    json_t *params;     /* borrowed; may be NULL */
    json_t *result;     /* borrowed; RPC_RESULT */
    json_t *error;      /* borrowed; RPC_ERROR */
};

/* Why a message was refused: a JSON-RPC code, a stable reason code for
 * data.reason and audit records, a sentence for a person, and the id when it
 * could still be read (so the error can be answered to the right request). */
struct rpc_err {
    int code;
    const char *reason; /* static string */
    char msg[200];
    size_t offset;      /* byte offset for parse errors */
    json_t *id;         /* new reference or NULL */
};

/* A classified message read from a token tape, without building a tree: the
 * gateway's hot path. Fields are token indices into tape (JT_NONE if absent);
 * method/method_len point into the input (methods with escapes are decoded
 * into the tape's scratch buffer). */
struct rpc_view {
    enum rpc_kind kind;
    const struct jtape *tape;
    size_t id, method, params, result, error;
    const char *method_str;
    size_t method_len;
};

/* Parses buf into t and classifies it. 0 on success; -1 with *e filled (and
 * e->id salvaged when possible). The same rules as rpc_parse(). */
int rpc_scan(struct jtape *t, const char *buf, size_t len, const struct json_limits *lim,
             struct rpc_view *v, struct rpc_err *e);
/* The id of a view as a new jansson value (NULL when absent). */
json_t *rpc_view_id(const struct rpc_view *v);
/* rpc_id_key() for an id token of a tape; 0 when invalid or too long. */
size_t rpc_id_key_tape(const struct jtape *t, size_t tok, char *out, size_t outsz);

/* Parses and classifies buf[0,len). On success fills *m (caller frees with
 * rpc_msg_free) and returns 0; on failure fills *e (free with rpc_err_clear)
 * and returns -1. */
int rpc_parse(const char *buf, size_t len, const struct json_limits *lim, struct rpc_msg *m,
              struct rpc_err *e);
/* Classifies an already parsed tree; takes a new reference to root. */
int rpc_classify(json_t *root, struct rpc_msg *m, struct rpc_err *e);
void rpc_msg_free(struct rpc_msg *m);
void rpc_err_clear(struct rpc_err *e);
/* Fills e with code/reason and a formatted message. */
void rpc_err_set(struct rpc_err *e, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

bool rpc_id_valid(const json_t *id);
/* Canonical key of an id for maps: "n:<int>" or "s:<string>". Returns the
 * length written, or 0 if out is too small or the id is invalid. */
size_t rpc_id_key(const json_t *id, char *out, size_t outsz);
bool rpc_id_equal(const json_t *a, const json_t *b);

/* Appends a complete error response (one line, no newline) to b. `id` may be
 * NULL (then omitted, as MCP 2025-11-25 allows for unreadable requests). `data_reason` adds {"reason": ...} to data; `data`
 * (borrowed, may be NULL) is merged in. */
int rpc_emit_error(struct buf *b, const json_t *id, int code, const char *message,
                   const char *data_reason, const json_t *data);
/* Appends {"jsonrpc":"2.0","id":id,"result":result}. */
int rpc_emit_result(struct buf *b, const json_t *id, const json_t *result);
/* Appends a notification. `params` may be NULL. */
int rpc_emit_notification(struct buf *b, const char *method, const json_t *params);
/* Appends a request. */
int rpc_emit_request(struct buf *b, const json_t *id, const char *method, const json_t *params);

/* Best-effort recovery of the id of a message that failed to parse or was too
 * large, from its first and last bytes (head/tail may be NULL). Only an id at
 * the top level of the object is taken. Returns a new reference or NULL. */
json_t *rpc_salvage_id(const char *head, size_t headlen, const char *tail, size_t taillen);

#endif
