/* shttp_client.h - an MCP Streamable HTTP client session (legacy era) over
 * http_client: the upstream side of the gateway and the scanner's probe.
 *
 * What it does for the caller:
 *   - the handshake: POST initialize (the caller's params), reads
 *     Mcp-Session-Id and the negotiated protocolVersion, sends
 *     notifications/initialized, then opens the standalone GET stream
 *     (a 405 there is fine: the server has none);
 *   - every later POST carries Mcp-Session-Id and MCP-Protocol-Version,
 *     Accept for both answer forms, and the caller's extra headers;
 *   - answers as JSON or SSE, delivered message by message; an SSE answer
 *     that breaks before its response is resumed with GET + Last-Event-ID;
 *   - a 404 for the session means it expired: the client re-initializes
 *     with the same params (on_ready tells the caller, reinitialized=true)
 *     and sends the refused message again; requests in flight on the old
 *     session are answered with an error;
 *   - every request gets exactly one response through on_message: the
 *     server's, or one synthesized by the transport (MW_ERR_UPSTREAM with
 *     data.reason upstream_unavailable / upstream_session_lost /
 *     upstream_stream_lost, or MW_ERR_TIMEOUT with upstream_timeout;
 *     `synthesized` is true) when the HTTP exchange fails;
 *   - DELETE when the caller closes it.
 * Messages sent before the session is ready wait in a bounded queue.
 */
#ifndef MCPWALL_TRANSPORT_SHTTP_CLIENT_H
#define MCPWALL_TRANSPORT_SHTTP_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/jsonrpc.h"
#include "transport/http_client.h"

struct shttp_client;

struct shttp_client_opts {
    const char *url;               /* the MCP endpoint (http:// or https://) */
    const char *const *headers;    /* extra "Name: value" lines on every request (copied) */
    const char *ca_file;           /* see http_creq_opts */
    uint32_t connect_timeout_ms;   /* default 10 s */
    uint32_t request_timeout_ms;   /* whole exchange of one POST; 0: none */
    uint32_t idle_timeout_ms;      /* silence on an open answer stream; 0: none */
    size_t max_message;            /* bytes of one message; default 4 MiB */
    size_t max_queue;              /* messages waiting for the session; default 64 */
    unsigned max_reinit;           /* re-initializations in a row before giving up; default 3 */
    bool no_get_stream;            /* do not open the standalone GET stream */
};

struct shttp_client_cbs {
    /* One message from the server (a response, a notification, or a request
     * the caller must answer with shttp_client_send). Borrowed for the call. */
    void (*on_message)(void *ud, const struct rpc_msg *m, const char *raw, size_t len,
                       bool synthesized);
    /* The session is established (init_result is the InitializeResult,
     * borrowed). reinitialized: after a 404, a new session replaced the old. */
    void (*on_ready)(void *ud, const json_t *init_result, bool reinitialized);
    /* The session cannot go on (initialize refused, retries exhausted). */
    void (*on_failed)(void *ud, const char *why);
};

/* hc and cbs are borrowed (hc must outlive the client); o is copied. */
struct shttp_client *shttp_client_new(struct http_client *hc, const struct shttp_client_opts *o,
                                      const struct shttp_client_cbs *cbs, void *ud, char *err,
                                      size_t errlen);
/* Starts the handshake with `init_params` (the initialize params: protocol
 * version, capabilities, clientInfo; copied). 0 or -1. */
int shttp_client_start(struct shttp_client *c, const json_t *init_params);
/* Sends one JSON-RPC message (copied). 0, or -1 when it is not one message,
 * too large, the queue is full, or the session failed. */
int shttp_client_send(struct shttp_client *c, const char *msg, size_t len);
/* Replaces the extra header lines (copied; the old ones are wiped): every
 * request started from now on carries these, including the client's own
 * (re-initialize, resumption, DELETE); a standalone GET stream already open
 * keeps the lines it was opened with.
 * For credentials that change, such as OAuth tokens refreshed before they
 * expire: set them before shttp_client_send. At most 40 lines, no CR/LF.
 * 0, or -1 (then the old ones stay). */
int shttp_client_set_headers(struct shttp_client *c, const char *const *headers);
/* Sends DELETE for the session (not waited for), stops everything and frees.
 * No callback runs afterwards. Safe inside the client's callbacks. NULL-safe. */
void shttp_client_close(struct shttp_client *c);

const char *shttp_client_session_id(const struct shttp_client *c); /* NULL before ready */
const char *shttp_client_protocol_version(const struct shttp_client *c);
bool shttp_client_ready(const struct shttp_client *c);
unsigned shttp_client_reinitializations(const struct shttp_client *c);

#endif
