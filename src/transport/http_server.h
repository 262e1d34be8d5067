/* http_server.h - HTTP/1.1 listeners on libevent's evhttp behind our own
 * strict request checks.
 *
 * One struct http_server per event loop holds any number of listeners (the
 * gateway's public MCP endpoint, its admin port for /metrics, /healthz ...).
 * Every accepted connection runs through a pre-parser that sits between the
 * socket (or TLS) and evhttp, as a bufferevent filter, and sees every byte
 * before evhttp does. It enforces what evhttp 2.1 does not:
 *
 *   - syntax: CRLF line ends only, one SP between request-line parts, known
 *     method tokens, origin-form targets of RFC 3986 characters, HTTP/1.0 or
 *     HTTP/1.1, header names that are tokens, no whitespace before ':', no
 *     obs-fold, no control characters in values, exactly one Host (1.1);
 *   - framing (the request-smuggling class): Content-Length digits only and
 *     at most once, Transfer-Encoding only "chunked" and never with a
 *     Content-Length, no body on HEAD, chunk sizes bounded;
 *   - budgets: request-target length (414), header bytes and count (431),
 *     body bytes (413, also for chunked bodies, before the bytes are read);
 *   - time: the whole header block must arrive within header_timeout_ms and
 *     the whole body within body_timeout_ms of the headers' end (408 and close)
 *     whatever the pace of the bytes: evhttp's own timeout only measures
 *     silence, so a client trickling one byte at a time would never be cut.
 *
 * Then, per request: Host against the allowed hosts and Origin against the
 * allowed origins (DNS-rebinding protection, 403), the route (404), the method
 * (405 with Allow), the authentication hook, and the route's handler. Every
 * error the transport produces carries a JSON-RPC error object without id
 * ({"jsonrpc":"2.0","error":{"code":..,"message":..,"data":{"reason":..}}}).
 *
 * Threading: everything runs on the loop's thread; nothing here locks.
 * Memory: connections, requests and buffered output are bounded by the
 * options below; nothing grows with attacker input beyond them.
 */
#ifndef MCPWALL_TRANSPORT_HTTP_SERVER_H
#define MCPWALL_TRANSPORT_HTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct event_base;
struct http_server;
struct http_listener;
struct http_request;

/* Method bits (a route's allowed set). */
enum http_method {
    HTTP_GET = 1u << 0,
    HTTP_HEAD = 1u << 1,
    HTTP_POST = 1u << 2,
    HTTP_PUT = 1u << 3,
    HTTP_DELETE = 1u << 4,
    HTTP_OPTIONS = 1u << 5,
    HTTP_PATCH = 1u << 6,
};

/* Defaults (0 in an option means "the default"). */
#define HTTP_DEFAULT_MAX_HEADER_BYTES  (16u * 1024u)
#define HTTP_DEFAULT_MAX_HEADERS       64u
#define HTTP_DEFAULT_MAX_TARGET        2048u
#define HTTP_DEFAULT_MAX_BODY          (4u * 1024u * 1024u)
#define HTTP_DEFAULT_HEADER_TIMEOUT_MS 10000u
#define HTTP_DEFAULT_BODY_TIMEOUT_MS   30000u
#define HTTP_DEFAULT_IDLE_TIMEOUT_MS   60000u
#define HTTP_DEFAULT_MAX_CONNECTIONS   1024u
#define HTTP_DEFAULT_MAX_OUTPUT        (1024u * 1024u)
#define HTTP_DEFAULT_MAX_BODY_TOTAL    (64u * 1024u * 1024u)

struct http_listener_opts {
    const char *name;          /* for logs and metrics, e.g. "public", "admin" */
    const char *host;          /* address to bind; default "127.0.0.1" */
    uint16_t port;             /* 0: an ephemeral port (see http_listener_port) */
    int fd;                    /* an already bound, listening socket to use instead
                                  (ownership passes to the listener); -1 or 0 for none */
    const char *tls_cert_file; /* PEM chain; TLS is on when both files are given */
    const char *tls_key_file;  /* PEM private key */

    /* DNS-rebinding protection (see docs/http-transport.md):
     * allowed_hosts: Host header values accepted, "name" (any port) or
     *   "name:port"; "*" accepts any. NULL: the loopback names (localhost,
     *   127.0.0.1, [::1]) when bound to a loopback address; a non-loopback
     *   listener without allowed_hosts refuses to start.
     * allowed_origins: Origin values accepted besides the listener's own
     *   origin (scheme://Host of the request when that Host is allowed), e.g.
     *   "https://app.example.com"; "*" accepts any. A request without Origin
     *   (not a browser) passes; "Origin: null" never does. */
    const char *const *allowed_hosts;   /* NULL-terminated array, copied */
    const char *const *allowed_origins; /* NULL-terminated array, copied */

    size_t max_header_bytes;    /* request line + header block; 431 beyond */
    size_t max_headers;         /* header fields; 431 beyond */
    size_t max_target;          /* request-target bytes; 414 beyond */
    size_t max_body;            /* request body bytes; 413 beyond */
    size_t max_body_total;      /* body bytes held at once by all connections of
                                   the listener; 503 beyond (default 64 MiB) */
    uint32_t header_timeout_ms; /* first byte (or accept) to end of headers */
    uint32_t body_timeout_ms;   /* end of headers to end of body */
    uint32_t idle_timeout_ms;   /* keep-alive silence, and a write that makes no
                                   progress for this long (stalled reader) */
    size_t max_connections;     /* open connections on this listener; 503 beyond */
    size_t max_output;          /* buffered response bytes per connection before
                                   http_stream_write() refuses (backpressure) */
    bool reuseport;             /* SO_REUSEPORT (several workers on one port) */
};

/* What the transport counts, per listener; read them any time on the loop
 * thread (the metrics module formats them). Never reset. */
struct http_counters {
    uint64_t connections_accepted;
    uint64_t connections_open;
    uint64_t connections_refused;  /* over max_connections */
    uint64_t tls_handshake_failures;
    uint64_t requests;             /* requests whose head was complete */
    uint64_t bytes_in;             /* bytes read (after TLS) */
    uint64_t bytes_out;            /* bytes written (before TLS) */
    uint64_t status[6];            /* responses by class: [1]=1xx ... [5]=5xx */
    uint64_t rejected_syntax;      /* 400/501/505 from the pre-parser */
    uint64_t rejected_size;        /* 413/414/431 */
    uint64_t rejected_timeout;     /* 408 and slow clients cut */
    uint64_t rejected_host;        /* 403 for Host */
    uint64_t rejected_origin;      /* 403 for Origin */
    uint64_t rejected_auth;        /* requests the auth hook refused */
    uint64_t client_aborts;        /* a request's connection closed before its response ended */
};

/* A finished request, for metrics and access logs: called once per request
 * that reached routing, when its response completed or its connection went. */
struct http_request_info {
    const char *listener;   /* listener name */
    const char *route;      /* the matched route's path, or NULL */
    enum http_method method;
    int status;             /* 0 when the connection closed before any response */
    bool aborted;           /* closed before the response ended */
    uint64_t bytes_in;      /* head + body */
    uint64_t bytes_out;     /* head + body as written */
    uint64_t duration_us;   /* from the end of the request head to completion */
    void *identity;         /* as set by the auth hook (borrowed) */
};
typedef void (*http_observe_fn)(void *ud, const struct http_request_info *info);

/* ---- server and listeners ---- */

/* Creates a server on `base` (borrowed; must outlive the server). */
struct http_server *http_server_new(struct event_base *base);
/* Closes every listener and connection (close callbacks run), then frees.
 * It runs a few non-blocking turns of the loop so libevent can finish freeing
 * connections (other pending callbacks of the loop may run then); call it
 * outside loop callbacks, before event_base_free(). NULL-safe. */
void http_server_free(struct http_server *srv);
struct event_base *http_server_base(const struct http_server *srv);

/* Binds a listener. On failure returns NULL and writes a sentence to err
 * (bad option, bind error, unreadable certificate ...). */
struct http_listener *http_listener_new(struct http_server *srv, const struct http_listener_opts *o,
                                        char *err, size_t errlen);
uint16_t http_listener_port(const struct http_listener *l);
/* true when every address the listener is bound to is a loopback one */
bool http_listener_loopback(const struct http_listener *l);
struct http_server *http_listener_server(const struct http_listener *l);
const char *http_listener_name(const struct http_listener *l);
bool http_listener_is_tls(const struct http_listener *l);
const struct http_counters *http_listener_counters(const struct http_listener *l);
/* Per-request observer (one per listener; NULL to remove). */
void http_listener_set_observer(struct http_listener *l, http_observe_fn fn, void *ud);

/* ---- routes ---- */

/* A handler owns `req` until it completes a response (http_reply,
 * http_reply_error, or http_stream_end) or until req's close callback has
 * run, whichever comes first; it must not touch req after either. */
typedef void (*http_handler_fn)(void *ud, struct http_request *req);

/* Routes `path` (exact match on the path, the query string is ignored) for the
 * `methods` bits. `auth`: run the listener's auth hook first. A path may be
 * routed once. Returns 0 or -1 (duplicate, bad path, memory). */
int http_listener_route(struct http_listener *l, const char *path, unsigned methods, bool auth,
                        http_handler_fn fn, void *ud);

/* Removes a route (requests for it then get 404); requests already handed to
 * its handler are not affected. Returns 0, or -1 when the path is not routed. */
int http_listener_unroute(struct http_listener *l, const char *path);

/* A plain GET (and HEAD) endpoint: fn fills `body` (bounded to 16 MiB) and sets
 * *content_type (a static string; "text/plain; charset=utf-8" when left NULL)
 * and returns the status code. For /metrics, /healthz, /readyz. */
typedef int (*http_simple_fn)(void *ud, struct buf *body, const char **content_type);
int http_listener_route_simple(struct http_listener *l, const char *path, bool auth,
                               http_simple_fn fn, void *ud);

/* ---- authentication hook (identity work fills it) ---- */

enum http_auth_verdict {
    HTTP_AUTH_ALLOW,   /* proceed; the hook may have called http_request_set_identity() */
    HTTP_AUTH_DENY,    /* the hook has answered (http_reply: 401/403 with
                          WWW-Authenticate ...); the request ends there */
    HTTP_AUTH_PENDING, /* the hook keeps req and later calls http_request_auth_done();
                          it must set a close callback to learn if the client goes */
};
typedef enum http_auth_verdict (*http_auth_fn)(void *ud, struct http_request *req);
/* Sets the hook run before every route registered with auth=true. */
void http_listener_set_auth(struct http_listener *l, http_auth_fn fn, void *ud);
/* Resumes a request left pending by the hook: allow=true runs the handler,
 * false means the hook has already answered. */
void http_request_auth_done(struct http_request *req, bool allow);
/* Attaches an identity (opaque) to the request. `free_fn` (may be NULL) is
 * called with it when the request ends. `principal` (copied, may be NULL) is a
 * stable name of who this is; the MCP layer binds sessions to it. */
int http_request_set_identity(struct http_request *req, void *identity, void (*free_fn)(void *),
                              const char *principal);
void *http_request_identity(const struct http_request *req);
/* NULL when no principal was set. */
const char *http_request_principal(const struct http_request *req);

/* ---- reading a request ---- */

enum http_method http_request_method(const struct http_request *req);
const char *http_request_method_name(const struct http_request *req);
/* The path without the query string (as sent, not percent-decoded). */
const char *http_request_path(const struct http_request *req);
/* The query string without '?', or NULL. */
const char *http_request_query(const struct http_request *req);
/* First value of a header (case-insensitive name), or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);
/* Number of fields with that name. */
size_t http_request_header_count(const struct http_request *req, const char *name);
/* The body (contiguous; valid while the request lives). */
const char *http_request_body(struct http_request *req, size_t *len);
/* Peer address as text and port. */
const char *http_request_peer(const struct http_request *req, uint16_t *port);
bool http_request_is_tls(const struct http_request *req);
struct http_listener *http_request_listener(const struct http_request *req);
/* A number unique in this process, for logs and correlation. */
uint64_t http_request_serial(const struct http_request *req);

/* Called once if the connection closes before the response ends (client gone,
 * timeout, server shutdown). The request is freed when the callback returns. */
typedef void (*http_close_fn)(void *arg, struct http_request *req);
void http_request_on_close(struct http_request *req, http_close_fn fn, void *arg);

/* ---- answering ---- */

struct http_header {
    const char *name;
    const char *value;
};

/* Answers in one piece; `ctype` may be NULL when there is no body. Headers are
 * validated (no CR/LF/NUL); returns -1 when the answer could not be queued.
 * In every case the request is finished afterwards. */
int http_reply(struct http_request *req, int status, const struct http_header *hdrs, size_t nhdrs,
               const char *ctype, const void *body, size_t len);
/* Answers with a JSON-RPC error object (application/json). `id` may be NULL
 * (omitted); `reason` (may be NULL) becomes data.reason. */
int http_reply_error(struct http_request *req, int status, const struct http_header *hdrs,
                     size_t nhdrs, const json_t *id, int code, const char *message,
                     const char *reason);

/* Starts a streamed response (chunked for HTTP/1.1, close-delimited for 1.0). */
int http_stream_begin(struct http_request *req, int status, const struct http_header *hdrs,
                      size_t nhdrs, const char *ctype);
/* Queues bytes; -1 when the connection is gone or more than max_output bytes
 * are already waiting (the caller keeps them and retries after on_drain). */
int http_stream_write(struct http_request *req, const void *p, size_t n);
/* Bytes written by us but not yet taken by the kernel (or TLS). */
size_t http_stream_pending(const struct http_request *req);
/* Called whenever the pending output falls to zero after a write. */
typedef void (*http_drain_fn)(void *arg, struct http_request *req);
void http_stream_on_drain(struct http_request *req, http_drain_fn fn, void *arg);
/* Ends the stream; the request is finished afterwards. */
void http_stream_end(struct http_request *req);

/* Appends a JSON-RPC error object (no trailing newline) to b: the body the
 * transport uses for its own errors. `id` may be NULL. */
int http_error_body(struct buf *b, const json_t *id, int code, const char *message,
                    const char *reason);

/* Reason phrase of a status code ("Unknown" for others). */
const char *http_status_phrase(int status);

/* ---- content negotiation helpers (RFC 9110) ---- */

/* True when an Accept header value accepts `type` ("application/json"): the
 * exact media range, its type wildcard ("application/" + "*") or the full
 * wildcard, with q > 0. A NULL header gives false. */
bool http_accepts(const char *accept, const char *type);
/* True when a Content-Type value has essence `type` (case-insensitive) and, if
 * a charset parameter is present, it is utf-8. */
bool http_content_type_is(const char *ctype, const char *type);

#endif
