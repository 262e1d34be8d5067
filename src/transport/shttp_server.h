/* shttp_server.h - the MCP Streamable HTTP transport, server side, for the
 * legacy era (protocol revisions 2025-06-18 and 2025-11-25).
 *
 * It owns one MCP endpoint (default "/mcp") on an http_listener and speaks the
 * transport; the application (the gateway, the server kit) speaks MCP. What
 * the transport does:
 *
 *   POST  one JSON-RPC message per request (batches are refused: -32600).
 *         Requests reach the app with a stream; the app answers with
 *         shttp_stream_respond(). If it sends related messages first
 *         (progress, logs, server->client requests) with shttp_stream_send(),
 *         or takes longer than sse_after_ms, the answer becomes an SSE stream
 *         (a priming event with an id first, then the messages, then the
 *         response, then the end); otherwise it is one application/json body.
 *         Notifications and responses are answered 202 with no body.
 *   GET   opens the session's standalone SSE stream (messages the app sends
 *         with shttp_session_send()). One connection at a time (409 for a
 *         second one), 405 when standalone_stream is off.
 *   GET + Last-Event-ID  resumes any stream of the session, the standalone
 *         one or a request's (as 2025-11-25 allows), from a bounded replay
 *         buffer; ids look like "<stream>-<seq>".
 *   DELETE ends the session (405 when allow_delete is off).
 *
 * Sessions: initialize without Mcp-Session-Id opens one (the app may refuse);
 * its id is 192 bits from the CSPRNG in base64url (32 visible ASCII chars),
 * sent in the Mcp-Session-Id header of the initialize answer. Requests
 * without the header get 400, with an unknown or ended id 404 (also when the
 * authenticated principal differs from the one that opened the session: a
 * session is bound to who created it and is never an authentication).
 * MCP-Protocol-Version must be supported and, once the initialize answer
 * named a version, equal to it (400 otherwise); when absent, the negotiated
 * version applies. Sessions idle for session_idle_ms are closed.
 *
 * Liveness and abandonment: SSE connections carry a comment every
 * keepalive_ms; a connection that breaks during a request's SSE stream keeps
 * the request alive for resume_grace_ms (the client may resume with
 * Last-Event-ID); after that, or at once for a JSON-mode request, the app's
 * on_abandoned runs so it can send notifications/cancelled upstream.
 *
 * Bounds: sessions (max_sessions), requests in flight per session
 * (max_inflight, 429 beyond), event bytes per session (max_session_bytes:
 * events waiting for a connection plus those kept for replay; a send that
 * does not fit fails with SHTTP_EFULL), events kept for replay
 * (replay_events). Nothing grows without a budget.
 *
 * Everything runs on the listener's event loop; nothing locks.
 */
#ifndef MCPWALL_TRANSPORT_SHTTP_SERVER_H
#define MCPWALL_TRANSPORT_SHTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/json.h"
#include "proto/jsonrpc.h"
#include "proto/mcp.h"
#include "transport/http_server.h"

struct shttp_server;
struct shttp_session;
struct shttp_stream;

#define SHTTP_SESSION_ID_LEN 32 /* base64url of 24 random bytes */

struct shttp_opts {
    const char *path;           /* the MCP endpoint; default "/mcp" */
    bool auth;                  /* run the listener's auth hook on every request */
    bool sse_always;            /* answer every request with an SSE stream */
    bool no_standalone_stream;  /* GET without Last-Event-ID -> 405 */
    bool no_delete;             /* DELETE -> 405 */
    size_t max_sessions;        /* default 1024; 503 for initialize beyond */
    size_t max_inflight;        /* requests in flight per session; default 64; 429 beyond */
    size_t max_session_bytes;   /* SSE bytes held per session; default 4 MiB */
    size_t replay_events;       /* events kept for replay per session; default 256 */
    uint32_t session_idle_ms;   /* default 30 min */
    uint32_t keepalive_ms;      /* SSE comment interval; default 15 s */
    uint32_t resume_grace_ms;   /* wait for a resume before abandoning; default 10 s
                                   (UINT32_MAX in the option means 0: abandon at once) */
    uint32_t sse_after_ms;      /* a request still unanswered after this turns into an
                                   SSE stream (so it gets keep-alives and becomes
                                   resumable); default 1000; UINT32_MAX: never */
    uint32_t retry_ms;          /* "retry" sent before the server closes a stream that
                                   is not finished; default 1000 */
    struct json_limits json;    /* message budgets; zero fields: proto/json.h defaults */
};

enum shttp_close_reason {
    SHTTP_CLOSE_DELETED,     /* the client sent DELETE */
    SHTTP_CLOSE_EXPIRED,     /* idle longer than session_idle_ms */
    SHTTP_CLOSE_APP,         /* shttp_session_close() */
    SHTTP_CLOSE_INIT_FAILED, /* the initialize answer was an error, or it was abandoned */
    SHTTP_CLOSE_SHUTDOWN,    /* shttp_server_free() */
};
const char *shttp_close_reason_name(enum shttp_close_reason r);

/* What the application implements. Pointers marked "borrowed" are valid only
 * during the call. `req` gives the HTTP side: headers, the identity the auth
 * hook attached (http_request_identity), the peer. */
struct shttp_app_ops {
    /* An initialize request arrived without a session. Return 0 and set
     * *sess_ud to accept (on_message then receives this same initialize, and
     * the app answers it like any request); or return an HTTP status
     * (400..599) to refuse: the client gets it with a JSON-RPC error carrying
     * the request's id. s is the new session (its id is already minted). */
    int (*session_open)(void *app, struct shttp_session *s, struct http_request *req,
                        const struct rpc_msg *init, void **sess_ud);
    /* The session is over. Streams the app still held were reported through
     * on_abandoned first. After this returns the transport never passes
     * sess_ud again and s must not be used; streams the app still holds stay
     * valid until it releases them (sends on them fail). */
    void (*session_close)(void *app, void *sess_ud, enum shttp_close_reason why);
    /* One client message, `raw` being its exact bytes (borrowed, like m and
     * req). Requests come with `st`: the app owns it until it calls
     * shttp_stream_respond() or shttp_stream_release(), and must return 0.
     * Notifications and responses come with st == NULL; return 0 to accept
     * (202) or an HTTP status 400..599 to refuse (that status with a JSON-RPC
     * error without id). */
    int (*on_message)(void *app, void *sess_ud, struct http_request *req, const struct rpc_msg *m,
                      const char *raw, size_t rawlen, struct shttp_stream *st);
    /* The client left a request (its connection broke and it did not resume
     * within resume_grace_ms, or the session ended). The app should cancel the
     * work (notifications/cancelled upstream with shttp_stream_request_id()).
     * st stays valid: the app still calls shttp_stream_release() (or respond,
     * which then discards). May be NULL. */
    void (*on_abandoned)(void *app, void *sess_ud, struct shttp_stream *st);
};

/* Routes opts->path on `l` (POST, GET, DELETE). ops and app are borrowed and
 * must outlive the server. Returns NULL with a sentence in err on failure. */
struct shttp_server *shttp_server_new(struct http_listener *l, const struct shttp_opts *o,
                                      const struct shttp_app_ops *ops, void *app, char *err,
                                      size_t errlen);
/* Ends every session (SHUTDOWN: on_abandoned and session_close run), removes
 * the route (the path then answers 404) and frees the server. Free it before
 * the http_server. NULL-safe. */
void shttp_server_free(struct shttp_server *srv);
size_t shttp_server_session_count(const struct shttp_server *srv);

/* Results of the send functions. */
#define SHTTP_OK      0
#define SHTTP_ECLOSED (-1) /* stream answered or abandoned, session ended, bad input */
#define SHTTP_EFULL   (-2) /* over max_session_bytes: drop it or try again later */

/* Sends a message related to the request (progress, log, a server->client
 * request) on the request's stream; turns a pending answer into SSE. `msg` is
 * one JSON-RPC message (copied; no validation beyond non-empty). */
int shttp_stream_send(struct shttp_stream *st, const char *msg, size_t len);
/* Sends the final response and gives the stream back to the transport: st
 * must not be used after this call, whatever it returns. For the initialize
 * request the transport reads the negotiated protocolVersion from it (an
 * error response ends the session). */
int shttp_stream_respond(struct shttp_stream *st, const char *msg, size_t len);
/* Gives the stream back without a response (after notifications/cancelled,
 * or after on_abandoned). A client still connected sees the request's stream
 * end after the messages already sent (a JSON-mode request becomes an SSE
 * stream that just ends). To fail a request, respond with a JSON-RPC error
 * instead. st must not be used afterwards. */
void shttp_stream_release(struct shttp_stream *st);
/* Closes the connection that carries the request's SSE stream without ending
 * the stream (2025-11-25 "polling"): a "retry" field is sent first, the
 * client resumes with GET + Last-Event-ID and receives what was sent
 * meanwhile, within resume_grace_ms (else on_abandoned). The stream must be
 * in SSE mode. SHTTP_OK or SHTTP_ECLOSED. */
int shttp_stream_disconnect(struct shttp_stream *st);
/* The id of the request (borrowed, lives as long as st). */
const json_t *shttp_stream_request_id(const struct shttp_stream *st);
/* The session, or NULL once it has ended. */
struct shttp_session *shttp_stream_session(const struct shttp_stream *st);
bool shttp_stream_abandoned(const struct shttp_stream *st);

/* Sends an unsolicited message on the session's standalone stream (queued,
 * and kept for replay, until a GET stream takes it). */
int shttp_session_send(struct shttp_session *s, const char *msg, size_t len);
/* Ends the session from the server side (subsequent requests get 404).
 * on_abandoned and session_close(APP) run before it returns. */
void shttp_session_close(struct shttp_session *s);
const char *shttp_session_id(const struct shttp_session *s);
/* The negotiated version (MCP_REV_NONE until the initialize answer). */
enum mcp_rev shttp_session_version(const struct shttp_session *s);
/* The principal the auth hook named when the session was opened, or NULL. */
const char *shttp_session_principal(const struct shttp_session *s);
void *shttp_session_userdata(const struct shttp_session *s);

#endif
