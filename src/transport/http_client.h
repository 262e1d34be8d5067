/* http_client.h - HTTP(S) requests with libcurl's multi interface, driven by
 * the same libevent loop as everything else (curl_multi_socket_action with
 * libevent events and a timer): no blocking, no threads.
 *
 * A request delivers its response as it arrives: on_response when the status
 * line and headers are in, then either SSE events one by one (when the
 * Content-Type is text/event-stream) or body bytes (buffered up to max_body,
 * or handed over with on_data), then on_done exactly once (unless the caller
 * cancelled it). Generic on purpose: the MCP client session lives in
 * shttp_client.h.
 *
 * Security settings that callers cannot turn off: protocols limited to http
 * and https; redirects are not followed (a 3xx is returned as a response:
 * following one would resend the body and credentials to another place, an
 * SSRF and credential-leak risk; a caller that wants to follow validates the
 * Location itself); TLS peer and host verification always on (the system CA
 * store, or ca_file); no content decoding (no decompression bombs); response
 * headers and bodies bounded. Proxies from the environment (https_proxy ...)
 * are honoured as libcurl does.
 */
#ifndef MCPWALL_TRANSPORT_HTTP_CLIENT_H
#define MCPWALL_TRANSPORT_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/sse.h"
#include "util/buf.h"

struct event_base;
struct http_client;
struct http_creq;

#define HTTP_CLIENT_DEFAULT_CONNECT_MS 10000u
#define HTTP_CLIENT_DEFAULT_MAX_BODY   (4u * 1024u * 1024u)
#define HTTP_CLIENT_DEFAULT_MAX_HEAD   (64u * 1024u)

struct http_client_opts {
    const char *ca_file;    /* PEM CA bundle to trust instead of the system's (tests) */
    const char *user_agent; /* default "mcpwall/<version>" */
    size_t max_host_connections; /* per host; default 16 */
};

struct http_creq_opts {
    const char *method;          /* default GET, or POST when there is a body */
    const char *url;             /* http:// or https:// */
    const char *const *headers;  /* NULL-terminated "Name: value" lines (copied) */
    const void *body;            /* copied */
    size_t body_len;
    uint32_t connect_timeout_ms; /* default 10 s */
    uint32_t total_timeout_ms;   /* whole exchange; 0: none (long SSE streams) */
    uint32_t idle_timeout_ms;    /* nothing received for this long; 0: none */
    size_t max_body;             /* non-SSE body bytes; default 4 MiB */
    size_t max_head;             /* response header bytes; default 64 KiB */
    uint64_t max_stream;         /* SSE body bytes in total; 0: no limit */
    const struct sse_limits *sse; /* per event; NULL: proto/sse.h defaults */
    const char *ca_file;         /* overrides the client's */
};

enum http_cerr {
    HTTP_CE_OK = 0,
    HTTP_CE_BAD_REQUEST, /* bad URL or option (not sent) */
    HTTP_CE_CONNECT,     /* resolve or connect failed */
    HTTP_CE_TLS,         /* handshake or verification failed */
    HTTP_CE_TIMEOUT,     /* connect or total timeout */
    HTTP_CE_IDLE,        /* idle timeout */
    HTTP_CE_TOO_LARGE,   /* a header, body or SSE budget was passed */
    HTTP_CE_PROTOCOL,    /* malformed response */
    HTTP_CE_ABORTED,     /* a callback asked to stop */
    HTTP_CE_IO,          /* the connection broke, or anything else */
};
const char *http_cerr_name(enum http_cerr e);

struct http_cresult {
    enum http_cerr err;
    const char *message; /* a sentence (borrowed) */
    long status;         /* 0 when no response arrived */
    const char *body;    /* the buffered body (non-SSE, no on_data); borrowed */
    size_t body_len;
};

struct http_creq_cbs {
    /* Status and headers are in (http_creq_header() works from here on).
     * Return nonzero to stop (on_done then reports HTTP_CE_ABORTED). */
    int (*on_response)(void *ud, struct http_creq *r, long status);
    /* One SSE event (text/event-stream responses). Nonzero stops. */
    int (*on_event)(void *ud, struct http_creq *r, const struct sse_event *ev);
    /* Body bytes of other responses; when NULL they are buffered (max_body)
     * and given to on_done. Nonzero stops. */
    int (*on_data)(void *ud, struct http_creq *r, const char *p, size_t n);
    /* The end, exactly once unless cancelled. r is freed after it returns. */
    void (*on_done)(void *ud, struct http_creq *r, const struct http_cresult *res);
};

/* ca_file and user_agent are copied. base is borrowed. libcurl is loaded
 * (curl_dl.h) when the first request starts; that request fails with the
 * reason when libcurl is missing. */
struct http_client *http_client_new(struct event_base *base, const struct http_client_opts *o);
/* Cancels every request (no callbacks) and frees. Close SSE streams first;
 * never call it from a callback of this client. NULL-safe. */
void http_client_free(struct http_client *c);

/* Starts a request. cbs is borrowed (keep it static); everything in o is
 * copied. Returns NULL with a sentence in err when the request cannot start. */
struct http_creq *http_client_start(struct http_client *c, const struct http_creq_opts *o,
                                    const struct http_creq_cbs *cbs, void *ud, char *err,
                                    size_t errlen);
/* Stops a request; no callback runs for it afterwards. Safe inside its own
 * callbacks. */
void http_creq_cancel(struct http_creq *r);

/* First response header with that name (case-insensitive), or NULL; valid
 * from on_response until on_done returns. */
const char *http_creq_header(const struct http_creq *r, const char *name);
long http_creq_status(const struct http_creq *r);
bool http_creq_is_sse(const struct http_creq *r);
/* The SSE last-event-id buffer and retry value of the response so far. */
const char *http_creq_last_event_id(const struct http_creq *r, size_t *len);
int64_t http_creq_retry_ms(const struct http_creq *r);

/* ---- one request to completion on a private loop ---- */

struct http_fetch_result {
    enum http_cerr err;
    char message[256];
    long status;
    struct buf body;    /* non-SSE body; for SSE, each event's data followed by "\n" */
    struct buf headers; /* "name: value\n" lines, names lowercased */
};

/* Runs the request on a private event loop until it ends (the scanner, JWKS
 * and token fetches). Returns 0 when a response arrived (any status), -1
 * otherwise; res is filled either way; free it with http_fetch_result_free. */
int http_fetch(const struct http_creq_opts *o, const struct http_client_opts *co,
               struct http_fetch_result *res);
const char *http_fetch_header(const struct http_fetch_result *res, const char *name, char *out,
                              size_t outsz);
void http_fetch_result_free(struct http_fetch_result *res);

/* ---- a GET SSE stream that reconnects with Last-Event-ID ---- */

struct http_sse_stream;

struct http_sse_opts {
    struct http_creq_opts req;  /* method is GET; Accept: text/event-stream is added */
    const char *last_event_id;  /* resume from this id (copied), or NULL */
    uint32_t retry_initial_ms;  /* default 1000 (the server's "retry" wins) */
    uint32_t retry_max_ms;      /* default 30000 */
    double retry_factor;        /* default 1.5 */
    unsigned max_retries;       /* consecutive failed attempts; default 5 */
    bool no_reconnect_on_end;   /* a stream the server ended cleanly is final */
};

struct http_sse_cbs {
    /* Each (re)connection's answer. Anything but 200 with text/event-stream
     * ends the stream (on_closed). Return nonzero to stop (do not close the
     * stream inside this callback; on_event and on_closed may). May be NULL. */
    int (*on_open)(void *ud, long status);
    /* Every event; nonzero stops. */
    int (*on_event)(void *ud, const struct sse_event *ev);
    /* The stream is over for good (refused, retries exhausted, stopped):
     * res says why. Not called after http_sse_close(). */
    void (*on_closed)(void *ud, const struct http_cresult *res);
};

struct http_sse_stream *http_sse_open(struct http_client *c, const struct http_sse_opts *o,
                                      const struct http_sse_cbs *cbs, void *ud, char *err,
                                      size_t errlen);
/* Stops and frees; no callback afterwards. Safe inside its callbacks. NULL-safe. */
void http_sse_close(struct http_sse_stream *s);
/* The last event id seen (empty when none). */
const char *http_sse_last_event_id(const struct http_sse_stream *s);
/* Connections made so far (1 for the first). */
unsigned http_sse_connections(const struct http_sse_stream *s);

#endif
