/* http_preparse.c - strict HTTP/1.1 request pre-parser (see http_preparse.h). */
#include "transport/http_preparse.h"

#include <string.h>
#include <strings.h>

#include "transport/http_server.h"

enum hpp_state {
    S_IDLE,       /* between requests */
    S_HEAD,       /* request line and header fields */
    S_BODY,       /* Content-Length body */
    S_CH_SIZE,    /* chunk-size digits */
    S_CH_SIZE_LF, /* LF after the chunk-size line */
    S_CH_DATA,
    S_CH_DATA_CR,
    S_CH_DATA_LF,
    S_CH_END_CR, /* the empty trailer section */
    S_CH_END_LF,
};

void hpp_init(struct hpp *p, const struct hpp_limits *lim)
{
    memset(p, 0, sizeof(*p));
    if (lim != NULL)
        p->lim = *lim;
    if (p->lim.max_header_bytes == 0)
        p->lim.max_header_bytes = HTTP_DEFAULT_MAX_HEADER_BYTES;
    if (p->lim.max_headers == 0)
        p->lim.max_headers = HTTP_DEFAULT_MAX_HEADERS;
    if (p->lim.max_target == 0)
        p->lim.max_target = HTTP_DEFAULT_MAX_TARGET;
    if (p->lim.max_body == 0)
        p->lim.max_body = HTTP_DEFAULT_MAX_BODY;
    buf_init(&p->line, p->lim.max_header_bytes + 2);
    p->state = S_IDLE;
}

void hpp_free(struct hpp *p)
{
    if (p != NULL)
        buf_free(&p->line);
}

void hpp_refuse(struct hpp *p, int status, const char *reason, const char *msg)
{
    if (p->status != 0)
        return;
    p->status = status;
    p->reason = reason;
    p->msg = msg;
}

enum hpp_phase hpp_phase(const struct hpp *p)
{
    switch (p->state) {
    case S_IDLE:
        return HPP_IDLE;
    case S_HEAD:
        return HPP_HEAD;
    default:
        return HPP_BODY;
    }
}

static bool hpp_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool hpp_target_char(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("-._~!$&'()*+,;=:@/?%", c) != NULL;
}

static bool hpp_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hpp_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (unsigned)(c - 'a' + 10);
    return (unsigned)(c - 'A' + 10);
}

static bool hpp_ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

static int hpp_fail(struct hpp *p, int status, const char *reason, const char *msg)
{
    hpp_refuse(p, status, reason, msg);
    return -1;
}

static void hpp_new_request(struct hpp *p, const struct hpp_hooks *h, void *ud)
{
    p->state = S_HEAD;
    p->line_no = 0;
    p->head_bytes = 0;
    p->nheaders = 0;
    p->method = 0;
    p->http10 = false;
    p->hosts_seen = p->cl_seen = p->te_seen = 0;
    p->cl = p->body_left = p->body_total = p->ch_size = 0;
    p->ch_digits = 0;
    p->cr = false;
    p->req_bytes = 0;
    buf_reset(&p->line);
    if (h && h->head_start)
        h->head_start(ud);
}

static void hpp_done(struct hpp *p, const struct hpp_hooks *h, void *ud)
{
    p->state = S_IDLE;
    p->requests++;
    if (h && h->done)
        h->done(ud, p->req_bytes);
}

static int hpp_request_line(struct hpp *p, const char *s, size_t n)
{
    const char *sp1 = memchr(s, ' ', n);
    if (n == 0 || sp1 == NULL || sp1 == s)
        return hpp_fail(p, 400, "bad_request_line", "malformed request line");
    size_t mlen = (size_t)(sp1 - s);
    for (size_t i = 0; i < mlen; i++) {
        if (!hpp_tchar((unsigned char)s[i]))
            return hpp_fail(p, 400, "bad_request_line", "malformed request method");
    }
    static const struct {
        const char *name;
        unsigned m;
    } methods[] = {{"GET", HTTP_GET},       {"HEAD", HTTP_HEAD},     {"POST", HTTP_POST},
                   {"PUT", HTTP_PUT},       {"DELETE", HTTP_DELETE}, {"OPTIONS", HTTP_OPTIONS},
                   {"PATCH", HTTP_PATCH}};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strlen(methods[i].name) == mlen && memcmp(methods[i].name, s, mlen) == 0)
            p->method = methods[i].m;
    }
    if (p->method == 0)
        return hpp_fail(p, 501, "method_not_implemented",
                        "request method not accepted by this server");
    const char *t = sp1 + 1;
    size_t rest = n - mlen - 1;
    const char *sp2 = memchr(t, ' ', rest);
    if (sp2 == NULL || sp2 == t)
        return hpp_fail(p, 400, "bad_request_line", "malformed request line");
    size_t tlen = (size_t)(sp2 - t);
    if (tlen > p->lim.max_target)
        return hpp_fail(p, 414, "uri_too_long", "request target too long");
    if (t[0] != '/')
        return hpp_fail(p, 400, "bad_target", "only origin-form request targets are accepted");
    for (size_t i = 0; i < tlen; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!hpp_target_char(c))
            return hpp_fail(p, 400, "bad_target", "invalid character in request target");
        if (c == '%' && (i + 2 >= tlen || !hpp_hex((unsigned char)t[i + 1]) ||
                         !hpp_hex((unsigned char)t[i + 2])))
            return hpp_fail(p, 400, "bad_target", "invalid percent-encoding in request target");
    }
    const char *v = sp2 + 1;
    size_t vlen = rest - tlen - 1;
    if (vlen == 8 && memcmp(v, "HTTP/1.1", 8) == 0)
        p->http10 = false;
    else if (vlen == 8 && memcmp(v, "HTTP/1.0", 8) == 0)
        p->http10 = true;
    else if (vlen == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' &&
             v[6] == '.' && v[7] >= '0' && v[7] <= '9')
        return hpp_fail(p, 505, "http_version_not_supported", "HTTP version not supported");
    else
        return hpp_fail(p, 400, "bad_request_line", "malformed HTTP version");
    return 0;
}

static int hpp_header_line(struct hpp *p, const char *s, size_t n)
{
    if (++p->nheaders > p->lim.max_headers)
        return hpp_fail(p, 431, "too_many_headers", "too many header fields");
    if (s[0] == ' ' || s[0] == '\t')
        return hpp_fail(p, 400, "obs_fold", "folded header lines are not accepted");
    const char *colon = memchr(s, ':', n);
    if (colon == NULL || colon == s)
        return hpp_fail(p, 400, "bad_header", "malformed header field");
    size_t nlen = (size_t)(colon - s);
    for (size_t i = 0; i < nlen; i++) {
        if (!hpp_tchar((unsigned char)s[i]))
            return hpp_fail(p, 400, "bad_header", "invalid header field name");
    }
    const char *v = colon + 1;
    size_t vlen = n - nlen - 1;
    while (vlen > 0 && (v[0] == ' ' || v[0] == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    for (size_t i = 0; i < vlen; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return hpp_fail(p, 400, "bad_header", "control character in header field value");
    }
    if (hpp_ieq(s, nlen, "host")) {
        p->hosts_seen++;
    } else if (hpp_ieq(s, nlen, "content-length")) {
        if (++p->cl_seen > 1)
            return hpp_fail(p, 400, "duplicate_content_length", "more than one Content-Length");
        if (vlen == 0)
            return hpp_fail(p, 400, "bad_content_length", "invalid Content-Length");
        uint64_t x = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9')
                return hpp_fail(p, 400, "bad_content_length", "invalid Content-Length");
            if (x > (UINT64_MAX - 9) / 10)
                x = UINT64_MAX; /* saturate: over any budget */
            else
                x = x * 10 + (uint64_t)(v[i] - '0');
        }
        p->cl = x;
    } else if (hpp_ieq(s, nlen, "transfer-encoding")) {
        if (++p->te_seen > 1)
            return hpp_fail(p, 400, "bad_transfer_encoding", "more than one Transfer-Encoding");
        if (!hpp_ieq(v, vlen, "chunked"))
            return hpp_fail(p, 501, "transfer_coding_not_implemented",
                            "only the chunked transfer coding is accepted");
    } else if (hpp_ieq(s, nlen, "expect")) {
        if (!hpp_ieq(v, vlen, "100-continue"))
            return hpp_fail(p, 417, "expectation_failed", "unsupported expectation");
    }
    return 0;
}

static int hpp_head_end(struct hpp *p, const struct hpp_hooks *h, void *ud)
{
    if (p->hosts_seen != 1)
        return hpp_fail(p, 400, p->hosts_seen ? "duplicate_host" : "missing_host",
                        p->hosts_seen ? "more than one Host header" : "missing Host header");
    if (p->te_seen) {
        if (p->cl_seen)
            return hpp_fail(p, 400, "content_length_with_transfer_encoding",
                            "Content-Length and Transfer-Encoding together");
        if (p->http10 || p->method == HTTP_HEAD)
            return hpp_fail(p, 400, "bad_transfer_encoding", "Transfer-Encoding not allowed here");
        p->state = S_CH_SIZE;
        p->ch_digits = 0;
        p->ch_size = 0;
    } else if (p->cl > 0) {
        if (p->method == HTTP_HEAD)
            return hpp_fail(p, 400, "body_not_allowed", "a HEAD request cannot carry a body");
        if (p->cl > p->lim.max_body)
            return hpp_fail(p, 413, "body_too_large", "request body too large");
        p->state = S_BODY;
        p->body_left = p->cl;
    } else {
        hpp_done(p, h, ud);
        return 0;
    }
    if (h && h->head_end)
        h->head_end(ud);
    return 0;
}

/* One complete head line (CRLF removed). */
static int hpp_line(struct hpp *p, const char *s, size_t n, const struct hpp_hooks *h, void *ud)
{
    if (memchr(s, '\r', n) != NULL)
        return hpp_fail(p, 400, "bare_cr", "bare CR in request head");
    if (p->line_no++ == 0)
        return hpp_request_line(p, s, n);
    if (n == 0)
        return hpp_head_end(p, h, ud);
    return hpp_header_line(p, s, n);
}

static int hpp_body(struct hpp *p, size_t n, const struct hpp_hooks *h, void *ud)
{
    if (n > 0 && h && h->body && h->body(ud, n) < 0)
        return hpp_fail(p, 503, "server_busy", "too many request bodies in flight");
    return 0;
}

size_t hpp_feed(struct hpp *p, const char *buf, size_t n, const struct hpp_hooks *h, void *ud)
{
    size_t i = 0;
    while (i < n) {
        if (p->status != 0)
            return i;
        unsigned char c = (unsigned char)buf[i];
        switch (p->state) {
        case S_IDLE:
            hpp_new_request(p, h, ud);
            continue;
        case S_HEAD:
            if (++p->head_bytes > p->lim.max_header_bytes) {
                bool target = p->line_no == 0;
                hpp_fail(p, target ? 414 : 431, target ? "uri_too_long" : "header_too_large",
                         target ? "request target too long" : "request head too large");
                return i;
            }
            if (c == '\n') {
                if (!p->cr) {
                    hpp_fail(p, 400, "bare_lf", "request head lines must end in CRLF");
                    return i;
                }
                size_t len = buf_used(&p->line); /* >= 1: it ends in the CR */
                p->req_bytes++;
                if (hpp_line(p, buf_head(&p->line), len - 1, h, ud) < 0)
                    return i;
                buf_reset(&p->line);
                p->cr = false;
                i++;
                continue;
            }
            if (p->cr) {
                hpp_fail(p, 400, "bare_cr", "bare CR in request head");
                return i;
            }
            if (p->line_no == 0 && buf_used(&p->line) > p->lim.max_target + 24) {
                hpp_fail(p, 414, "uri_too_long", "request target too long");
                return i;
            }
            if (buf_append_char(&p->line, (char)c) < 0) {
                hpp_fail(p, 431, "header_too_large", "request head too large");
                return i;
            }
            p->cr = c == '\r';
            p->req_bytes++;
            i++;
            continue;
        case S_BODY:
        case S_CH_DATA: {
            size_t take = n - i;
            if (take > p->body_left)
                take = (size_t)p->body_left;
            if (hpp_body(p, take, h, ud) < 0)
                return i;
            p->body_left -= take;
            p->req_bytes += take;
            i += take;
            if (p->body_left == 0) {
                if (p->state == S_BODY)
                    hpp_done(p, h, ud);
                else
                    p->state = S_CH_DATA_CR;
            }
            continue;
        }
        case S_CH_SIZE:
            if (hpp_hex(c)) {
                if (++p->ch_digits > 16) {
                    hpp_fail(p, 413, "body_too_large", "request body too large");
                    return i;
                }
                p->ch_size = p->ch_size * 16 + hpp_hexval(c);
            } else if (c == '\r' && p->ch_digits > 0) {
                p->state = S_CH_SIZE_LF;
            } else {
                hpp_fail(p, 400, "bad_chunk",
                         c == ';' ? "chunk extensions are not accepted" : "malformed chunk size");
                return i;
            }
            break;
        case S_CH_SIZE_LF:
            if (c != '\n') {
                hpp_fail(p, 400, "bad_chunk", "malformed chunk size line");
                return i;
            }
            if (p->ch_size == 0) {
                p->state = S_CH_END_CR;
            } else {
                if (p->ch_size > p->lim.max_body - p->body_total) {
                    hpp_fail(p, 413, "body_too_large", "request body too large");
                    return i;
                }
                p->body_total += p->ch_size;
                p->body_left = p->ch_size;
                p->state = S_CH_DATA;
            }
            break;
        case S_CH_DATA_CR:
            if (c != '\r') {
                hpp_fail(p, 400, "bad_chunk", "chunk data longer than its size");
                return i;
            }
            p->state = S_CH_DATA_LF;
            break;
        case S_CH_DATA_LF:
            if (c != '\n') {
                hpp_fail(p, 400, "bad_chunk", "malformed chunk end");
                return i;
            }
            p->state = S_CH_SIZE;
            p->ch_digits = 0;
            p->ch_size = 0;
            break;
        case S_CH_END_CR:
            if (c != '\r') {
                hpp_fail(p, 400, "bad_chunk", "trailer fields are not accepted");
                return i;
            }
            p->state = S_CH_END_LF;
            break;
        case S_CH_END_LF:
            if (c != '\n') {
                hpp_fail(p, 400, "bad_chunk", "malformed end of chunked body");
                return i;
            }
            p->req_bytes++;
            i++;
            hpp_done(p, h, ud);
            continue;
        }
        /* single-byte chunk framing states */
        p->req_bytes++;
        i++;
    }
    return i;
}
