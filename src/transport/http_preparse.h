/* http_preparse.h - the strict HTTP/1.1 request pre-parser that sits in front
 * of evhttp (see http_server.h for where and why).
 *
 * It reads a connection's bytes as they arrive, request after request, and
 * decides for each byte whether it may go on to evhttp. It never holds a
 * whole request: it keeps the current head line (bounded by max_header_bytes)
 * and a few counters, and skips body bytes by count. A request it refuses is
 * refused before the line terminator that would complete the offending line
 * is accepted, so the parser behind it never sees a complete bad request.
 *
 * Accepted grammar (RFC 9110/9112, strict subset):
 *   request-line = method SP origin-form SP ( "HTTP/1.1" / "HTTP/1.0" ) CRLF
 *   method       = GET / HEAD / POST / PUT / DELETE / OPTIONS / PATCH
 *   origin-form  = "/" *( unreserved / pct-encoded / sub-delims / ":" / "@" / "/" / "?" )
 *   field-line   = token ":" OWS *( VCHAR / SP / HTAB / obs-text ) OWS CRLF
 *   body         = Content-Length bytes, or chunked (chunk-size CRLF data CRLF
 *                  ... "0" CRLF CRLF: no chunk extensions, no trailer fields)
 * and exactly one Host; Content-Length at most once, digits only, never with
 * Transfer-Encoding; Transfer-Encoding only "chunked", once, HTTP/1.1 only;
 * no body on HEAD; Expect only "100-continue".
 */
#ifndef MCPWALL_TRANSPORT_HTTP_PREPARSE_H
#define MCPWALL_TRANSPORT_HTTP_PREPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct hpp_limits {
    size_t max_header_bytes; /* request line + fields + CRLFs; 431 (414 in the request line) */
    size_t max_headers;      /* field lines; 431 */
    size_t max_target;       /* request-target bytes; 414 */
    size_t max_body;         /* body bytes (decoded for chunked); 413 */
};

enum hpp_phase {
    HPP_IDLE, /* between requests */
    HPP_HEAD, /* inside a request head */
    HPP_BODY, /* inside a body */
};

/* Called as requests progress; `body` may refuse bytes against a shared
 * budget by returning -1 (the parser then stops with 503 server_busy). Any
 * hook may be NULL. */
struct hpp_hooks {
    void (*head_start)(void *ud);
    void (*head_end)(void *ud);
    int (*body)(void *ud, size_t n);
    void (*done)(void *ud, uint64_t request_bytes);
};

struct hpp {
    struct hpp_limits lim;
    int state;
    struct buf line;
    bool cr;
    size_t line_no, head_bytes, nheaders;
    unsigned method; /* enum http_method bit of the request being read */
    bool http10;
    unsigned hosts_seen, cl_seen, te_seen;
    uint64_t cl, body_left, body_total, ch_size;
    unsigned ch_digits;
    uint64_t req_bytes;
    uint64_t requests; /* complete requests accepted so far */
    /* Set once a request was refused; every later feed accepts nothing. */
    int status;         /* 400, 408, 413, 414, 417, 431, 501, 503, 505 */
    const char *reason; /* stable code, e.g. "bare_lf" (static) */
    const char *msg;    /* a sentence (static) */
};

/* Initialises p; zero limits take the http_server defaults. Allocates nothing. */
void hpp_init(struct hpp *p, const struct hpp_limits *lim);
void hpp_free(struct hpp *p);

/* Feeds buf[0,n): returns how many bytes were accepted. Fewer than n means
 * the request being read was refused (p->status, p->reason, p->msg). */
size_t hpp_feed(struct hpp *p, const char *buf, size_t n, const struct hpp_hooks *h, void *ud);

/* Refuses from outside (a deadline passed, the server is full): later feeds
 * accept nothing. Keeps the first refusal. */
void hpp_refuse(struct hpp *p, int status, const char *reason, const char *msg);

enum hpp_phase hpp_phase(const struct hpp *p);

#endif
