/* kit_internal.h - what the kit's files share, and the transport interface
 * (stdio, Streamable HTTP, and the in-memory transport of the unit tests).
 *
 * A transport opens a session with kit_session_open(), hands it every parsed
 * inbound message with kit_session_input() together with the reply channel
 * (`stream`) the message arrived on, and closes it with kit_session_close().
 * The kit sends through struct kit_transport:
 *   send(stream, final=false)  a message tied to an inbound request (progress,
 *                              log, server->client request);
 *   send(stream, final=true)   the response that completes that request;
 *   send(NULL, ...)            an unsolicited message;
 *   drop(stream)               the request will never be answered (cancelled).
 * On stdio every channel is the same pipe and `stream` is NULL throughout.
 */
#ifndef MCPWALL_KIT_INTERNAL_H
#define MCPWALL_KIT_INTERNAL_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kit/kit.h"
#include "kit/kit_schema.h"
#include "proto/jsonrpc.h"
#include "proto/mcp.h"

struct kit_transport {
    /* Sends one JSON-RPC message (no trailing newline). Returns 0 or -1. */
    int (*send)(void *tctx, void *stream, const char *data, size_t len, bool final);
    /* Releases a reply channel whose request will not be answered. May be NULL. */
    void (*drop)(void *tctx, void *stream);
    /* Closes the connection carrying a request's SSE stream without ending
     * the stream (the client resumes later). May be NULL (not supported). */
    int (*disconnect)(void *tctx, void *stream);
    /* Reply channels stay valid after the session ends and must be released
     * with drop (Streamable HTTP); otherwise they die with the session. */
    bool streams_outlive_session;
};

struct kit_tool_ent {
    char *name;
    json_t *def;                /* the tools/list entry */
    struct kit_schema *in;      /* compiled inputSchema */
    struct kit_schema *out;     /* compiled outputSchema or NULL */
    kit_tool_fn fn;
    void *ud;
};

struct kit_res_ent {
    char *uri;
    json_t *def;
    kit_read_fn fn;
    void *ud;
};

struct kit_tpl_ent {
    char *tpl;
    json_t *def;
    kit_read_fn fn;
    void *ud;
    kit_complete_fn complete;
    void *complete_ud;
};

struct kit_prompt_ent {
    char *name;
    json_t *def;
    char **argnames;
    bool *argreq;
    size_t nargs;
    kit_prompt_fn fn;
    void *ud;
    kit_complete_fn complete;
    void *complete_ud;
};

struct kit_session;

struct kit_server {
    struct event_base *base;
    struct kit_limits lim;
    json_t *server_info;
    char *instructions;
    struct kit_tool_ent *tools;
    size_t ntools, captools;
    struct kit_res_ent *res;
    size_t nres, capres;
    struct kit_tpl_ent *tpls;
    size_t ntpls, captpls;
    struct kit_prompt_ent *prompts;
    size_t nprompts, capprompts;
    kit_record_fn recorder;
    void *recorder_ud;
    kit_gate_fn gate;
    void *gate_ud;
    struct kit_session *sessions; /* list of open sessions */
    unsigned long next_session;
    bool stopping;
};

enum kit_sess_state { KIT_S_NEW = 0, KIT_S_INITIALIZED, KIT_S_READY, KIT_S_CLOSED };

struct kit_outbound;

enum kit_call_kind { KIT_C_TOOL, KIT_C_PROMPT, KIT_C_READ, KIT_C_COMPLETE };

struct kit_call {
    struct kit_session *sess;
    struct kit_call *next, *prev;    /* session's list of live calls */
    enum kit_call_kind kind;
    const char *method;              /* static */
    char *name;
    json_t *req;                     /* request root (owned) */
    json_t *id;                      /* borrowed from req */
    json_t *args;                    /* borrowed or owned per kind (see args_owned) */
    bool args_owned;
    void *stream;
    const struct kit_tool_ent *tool; /* tools/call only */
    json_t *progress_token;          /* borrowed from req */
    double last_progress;
    bool has_progress;
    bool cancelled;
    bool finished;
    unsigned holds;                  /* references held by the kit while calling out */
    void (*on_cancel)(struct kit_call *, void *);
    void *on_cancel_ud;
    const char *reason;
    uint64_t start_wall_us, start_mono_us;
};

struct kit_outbound {
    struct kit_outbound *next, *prev;
    struct kit_session *sess;
    struct kit_call *call;            /* may be NULL once the call is gone */
    json_t *id;
    char key[80];
    struct event *timer;
    kit_reply_fn fn;
    void *ud;
};

struct kit_session {
    struct kit_server *srv;
    struct kit_session *next;
    const struct kit_transport *tp;
    void *tctx;
    char id[80];
    enum kit_sess_state state;
    enum mcp_rev version;
    json_t *client_caps;             /* object, never NULL */
    json_t *client_info;             /* may be NULL */
    enum kit_log_level log_level;
    json_t *subs;                    /* object: uri -> true */
    struct kit_call *calls;
    size_t ncalls;
    struct kit_outbound *out;
    size_t nout;
    long long next_out_id;
    unsigned holds;
    bool closed;
};

/* ---- session API for transports ---------------------------------------- */

/* Opens a session; `id` names it in records (copied, may be NULL). */
struct kit_session *kit_session_open(struct kit_server *s, const struct kit_transport *tp,
                                     void *tctx, const char *id);
/* Handles one inbound message (borrowed). `stream` is its reply channel: the
 * kit answers a request exactly once on it (send final, or drop). For
 * responses and notifications the transport may pass NULL. */
void kit_session_input(struct kit_session *ss, const struct rpc_msg *m, void *stream);
/* Parses raw bytes and handles them; answers unparsable input with the
 * matching JSON-RPC error (on `stream`). */
void kit_session_input_raw(struct kit_session *ss, const char *data, size_t len, void *stream);
/* Cancels every live call (their handlers are told), fails pending client
 * requests with KIT_ERR_CLOSED and frees the session once no handler still
 * holds a call. The transport's callbacks are not used after this returns. */
void kit_session_close(struct kit_session *ss);
/* The client left the request on `stream` (its connection broke and it did
 * not come back): the call is cancelled as if notifications/cancelled had
 * arrived. */
void kit_session_abandon_stream(struct kit_session *ss, void *stream);
/* Number of calls whose handlers have not finished yet. */
size_t kit_session_live_calls(const struct kit_session *ss);
/* Sends an unsolicited message (no stream). */
int kit_session_send(struct kit_session *ss, const char *data, size_t len);

/* ---- shared between the kit's files ------------------------------------ */

void kit_dispatch_request(struct kit_session *ss, const struct rpc_msg *m, void *stream);
void kit_send_error(struct kit_session *ss, void *stream, const json_t *id, int code,
                    const char *reason, const char *message);
void kit_call_release(struct kit_call *c);
/* Drops one kit hold on c; frees it when it is finished and unheld. */
void kit_call_unhold(struct kit_call *c);
void kit_call_cancel(struct kit_call *c);
void kit_session_maybe_free(struct kit_session *ss);
void kit_outbound_answer(struct kit_session *ss, const struct rpc_msg *m);
void kit_outbound_fail_all(struct kit_session *ss, struct kit_call *only, int code,
                           const char *message);
struct kit_call *kit_call_new(struct kit_session *ss, enum kit_call_kind kind, const char *method,
                              const struct rpc_msg *m, void *stream);
int kit_session_emit(struct kit_session *ss, void *stream, struct buf *b, bool final);
bool kit_log_level_parse(const char *s, enum kit_log_level *out);

/* URI template matching: returns a new object of variables, or NULL. */
json_t *kit_uritpl_match(const char *tpl, const char *uri);
/* 0 when tpl is a well-formed level-1 template. */
int kit_uritpl_check(const char *tpl, char *err, size_t errsz);

#endif
