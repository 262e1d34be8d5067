/* collect_http.c - Streamable HTTP targets: the client session and the
 * probes (collect_http.h). One request at a time, each run to completion by
 * transport/http_client.h's http_fetch() (libcurl on a private event loop,
 * SSE parsed by proto/sse): the scanner is a command-line tool with nothing
 * else to do while it waits, and every transfer has a time limit. */
#include "scan/collect_http.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"
#include "proto/mcp.h"
#include "scan/classify.h"
#include "transport/http_client.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/timeutil.h"

#define HTTP_MAX_BODY    (16u * 1024u * 1024u)
#define HTTP_MAX_QUEUE   64u
#define HTTP_MAX_HEADERS 80u
#define PROBE_ORIGIN     "https://mcpwall-probe.invalid"

struct http_resp {
    long status;
    struct buf body; /* borrowed from fr: the JSON body, or each SSE event's data + '\n' */
    bool sse;
    char session[256];
    char www_auth[512];
    char err[256];
    struct http_fetch_result fr;
};

struct http_conn {
    const char *url;
    json_t *base;       /* user and config headers: array of "Name: value" */
    bool with_auth;     /* send the user's headers */
    const char *origin; /* extra Origin header, or NULL */
    char session[256];  /* Mcp-Session-Id, once the server gave one */
    char version[32];   /* negotiated protocol version */
    uint64_t timeout_us;
    json_t *queue; /* messages received, not yet taken */
    long last_status;
    char last_www_auth[512];
};

/* One request to completion (transport/http_client.h: libcurl on a private
 * event loop, TLS verified, no redirects, bounded bodies). */
static int http_do(struct http_conn *c, const char *method, const char *url, const char *body,
                   size_t len, struct http_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    const char *hdrs[HTTP_MAX_HEADERS + 8];
    size_t nh = 0;
    char sid[300], ver[64], origin[300];
    if (c->with_auth) {
        for (size_t i = 0; i < json_array_size(c->base) && nh < HTTP_MAX_HEADERS; i++)
            hdrs[nh++] = json_string_value(json_array_get(c->base, i));
    }
    if (body != NULL) {
        hdrs[nh++] = "Content-Type: application/json";
        hdrs[nh++] = "Accept: application/json, text/event-stream";
    }
    if (c->session[0] != '\0') {
        snprintf(sid, sizeof(sid), "Mcp-Session-Id: %s", c->session);
        hdrs[nh++] = sid;
    }
    if (c->version[0] != '\0') {
        snprintf(ver, sizeof(ver), "MCP-Protocol-Version: %s", c->version);
        hdrs[nh++] = ver;
    }
    if (c->origin != NULL) {
        snprintf(origin, sizeof(origin), "Origin: %s", c->origin);
        hdrs[nh++] = origin;
    }
    hdrs[nh] = NULL;
    struct http_creq_opts o;
    memset(&o, 0, sizeof(o));
    o.method = method;
    o.url = url;
    o.headers = hdrs;
    o.body = body;
    o.body_len = len;
    uint64_t ms = c->timeout_us / 1000;
    o.total_timeout_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
    o.connect_timeout_ms = ms < 10000 ? (uint32_t)ms : 10000u;
    o.max_body = HTTP_MAX_BODY;
    o.max_stream = HTTP_MAX_BODY;
    struct http_client_opts co;
    memset(&co, 0, sizeof(co));
    co.user_agent = "mcpwall-scan";
    int rc = http_fetch(&o, &co, &resp->fr);
    resp->status = resp->fr.status;
    resp->body = resp->fr.body;
    char ctype[128] = "";
    http_fetch_header(&resp->fr, "content-type", ctype, sizeof(ctype));
    resp->sse = str_casestr_n(ctype, strlen(ctype), "text/event-stream") != NULL;
    http_fetch_header(&resp->fr, "mcp-session-id", resp->session, sizeof(resp->session));
    http_fetch_header(&resp->fr, "www-authenticate", resp->www_auth, sizeof(resp->www_auth));
    if (rc < 0)
        snprintf(resp->err, sizeof(resp->err), "%s",
                 resp->fr.message[0] ? resp->fr.message : http_cerr_name(resp->fr.err));
    return rc;
}

static void resp_free(struct http_resp *resp)
{
    http_fetch_result_free(&resp->fr);
}

/* Queues the JSON messages of an SSE answer: http_fetch gives each event's
 * data followed by a newline; data spanning several lines is joined until it
 * parses. */
static void queue_sse(struct http_conn *c, const char *p, size_t n)
{
    size_t st = 0;
    for (size_t i = 0; i <= n && json_array_size(c->queue) < HTTP_MAX_QUEUE; i++) {
        if (i < n && p[i] != '\n')
            continue;
        if (i > st) {
            struct json_err je;
            json_t *m = json_parse_strict(p + st, i - st, NULL, &je);
            if (m != NULL) {
                json_array_append_new(c->queue, m);
                st = i + 1;
            } else if (je.reason != JSON_E_TRUNCATED || i == n) {
                st = i + 1; /* not a JSON message: skip it */
            }
        } else {
            st = i + 1;
        }
    }
}

static int tr_send(void *ctx, const char *msg, size_t len, char *err, size_t errsz)
{
    struct http_conn *c = ctx;
    struct http_resp resp;
    int rc = http_do(c, "POST", c->url, msg, len, &resp);
    c->last_status = resp.status;
    str_copy(c->last_www_auth, resp.www_auth, sizeof(c->last_www_auth));
    if (rc < 0) {
        snprintf(err, errsz, "%s: %s", c->url, resp.err);
        resp_free(&resp);
        return -1;
    }
    if (resp.session[0] != '\0' && c->session[0] == '\0')
        str_copy(c->session, resp.session, sizeof(c->session));
    if (resp.status == 202 || resp.status == 204) {
        resp_free(&resp);
        return 0;
    }
    if (resp.status < 200 || resp.status >= 300) {
        char snippet[120] = "";
        if (resp.body.data != NULL) {
            /* the body is not NUL-terminated; keep printable ASCII only */
            const char *q = buf_head(&resp.body);
            size_t k = 0, bl = buf_used(&resp.body);
            for (size_t j = 0; j < bl && k + 1 < sizeof(snippet); j++) {
                unsigned char ch = (unsigned char)q[j];
                snippet[k++] = ch < 0x20 || ch >= 0x7f ? ' ' : (char)ch;
            }
            snippet[k] = '\0';
        }
        snprintf(err, errsz, "HTTP %ld from %s%s%s", resp.status, c->url, snippet[0] ? ": " : "",
                 snippet);
        resp_free(&resp);
        return -1;
    }
    const char *b = resp.body.data != NULL ? buf_head(&resp.body) : "";
    size_t bl = buf_used(&resp.body);
    if (resp.sse) {
        queue_sse(c, b, bl);
    } else if (bl > 0) {
        struct json_err je;
        json_t *m = json_parse_strict(b, bl, NULL, &je);
        if (m == NULL) {
            snprintf(err, errsz, "%s answered with something that is not JSON (%s)", c->url,
                     json_reason_code(je.reason));
            resp_free(&resp);
            return -1;
        }
        if (json_is_array(m)) {
            size_t i;
            json_t *x;
            json_array_foreach(m, i, x)
            {
                json_array_append(c->queue, x);
            }
            json_decref(m);
        } else {
            json_array_append_new(c->queue, m);
        }
    }
    resp_free(&resp);
    return 0;
}

static int tr_recv(void *ctx, uint64_t deadline, json_t **msg, char *err, size_t errsz)
{
    (void)deadline;
    struct http_conn *c = ctx;
    if (json_array_size(c->queue) == 0) {
        snprintf(err, errsz, "%s answered the request without a JSON-RPC response", c->url);
        return -1;
    }
    *msg = json_incref(json_array_get(c->queue, 0));
    json_array_remove(c->queue, 0);
    return 1;
}

/* Records the negotiated version so later requests carry MCP-Protocol-Version. */
static void after_init(void *ctx, const json_t *init)
{
    struct http_conn *c = ctx;
    const char *v = json_string_value(json_object_get(init, "protocolVersion"));
    if (v != NULL)
        str_copy(c->version, v, sizeof(c->version));
}

static void end_session(struct http_conn *c)
{
    if (c->session[0] == '\0')
        return;
    struct http_resp resp;
    http_do(c, "DELETE", c->url, NULL, 0, &resp);
    resp_free(&resp);
}

bool http_url_is_loopback(const char *url)
{
    const char *p = strstr(url, "://");
    p = p != NULL ? p + 3 : url;
    const char *at = strchr(p, '@');
    const char *slash = strchr(p, '/');
    if (at != NULL && (slash == NULL || at < slash))
        p = at + 1;
    char host[256];
    size_t n = 0;
    if (*p == '[') {
        p++;
        while (*p != '\0' && *p != ']' && n + 1 < sizeof(host))
            host[n++] = *p++;
    } else {
        while (*p != '\0' && *p != ':' && *p != '/' && *p != '?' && *p != '#' &&
               n + 1 < sizeof(host))
            host[n++] = (char)tolower((unsigned char)*p++);
    }
    host[n] = '\0';
    if (strcmp(host, "localhost") == 0 || str_has_suffix(host, ".localhost") ||
        strcmp(host, "::1") == 0 || strcmp(host, "0:0:0:0:0:0:0:1") == 0)
        return true;
    /* 127.x.y.z as a dotted-quad literal (not 127.0.0.1.nip.io) */
    if (!str_has_prefix(host, "127."))
        return false;
    unsigned dots = 0;
    for (const char *q = host; *q != '\0'; q++) {
        if (*q == '.')
            dots++;
        else if (!isdigit((unsigned char)*q))
            return false;
    }
    return dots == 3;
}

double http_session_entropy(const char *const *ids, size_t n)
{
    if (n < 2)
        return -1.0;
    size_t minl = SIZE_MAX, maxl = 0;
    bool hex = true, dec = true, b64 = true;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(ids[i]);
        minl = l < minl ? l : minl;
        maxl = l > maxl ? l : maxl;
        for (size_t k = 0; k < l; k++) {
            unsigned char ch = (unsigned char)ids[i][k];
            if (!isdigit(ch))
                dec = false;
            if (!isxdigit(ch) && ch != '-')
                hex = false;
            if (!isalnum(ch) && ch != '-' && ch != '_')
                b64 = false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(ids[i], ids[j]) == 0)
                return 0.0;
        }
    }
    double per = dec ? log2(10.0) : hex ? 4.0 : b64 ? 6.0 : 6.5;
    double bits = 0.0;
    for (size_t k = 0; k < maxl; k++) {
        if (k >= minl) {
            bits += per;
            continue;
        }
        bool varies = false;
        for (size_t i = 1; i < n && !varies; i++)
            varies = ids[i][k] != ids[0][k];
        if (varies)
            bits += per;
    }
    return bits;
}

/* scheme://host[:port] of a URL and its path (for RFC 9728 well-known URLs). */
static void split_origin(const char *url, char *origin, size_t osz, char *path, size_t psz)
{
    const char *p = strstr(url, "://");
    p = p != NULL ? p + 3 : url;
    const char *slash = strchr(p, '/');
    size_t ol = slash != NULL ? (size_t)(slash - url) : strlen(url);
    if (ol >= osz)
        ol = osz - 1;
    memcpy(origin, url, ol);
    origin[ol] = '\0';
    str_copy(path, slash != NULL ? slash : "", psz);
    char *q = strpbrk(path, "?#");
    if (q != NULL)
        *q = '\0';
    size_t pl = strlen(path);
    if (pl > 0 && path[pl - 1] == '/')
        path[pl - 1] = '\0';
}

/* GET the RFC 9728 metadata; true when a JSON object with "resource" came back. */
static bool has_prm(struct http_conn *c, const char *url)
{
    char origin[512], path[1024], wk[1700];
    split_origin(url, origin, sizeof(origin), path, sizeof(path));
    for (int k = 0; k < 2; k++) {
        snprintf(wk, sizeof(wk), "%s/.well-known/oauth-protected-resource%s", origin,
                 k == 0 ? path : "");
        struct http_resp resp;
        bool ok = false;
        char saved[256];
        str_copy(saved, c->session, sizeof(saved));
        c->session[0] = '\0';
        if (http_do(c, "GET", wk, NULL, 0, &resp) == 0 && resp.status == 200 &&
            resp.body.data != NULL) {
            struct json_err je;
            json_t *m = json_parse_strict(buf_head(&resp.body), buf_used(&resp.body), NULL, &je);
            ok = json_is_string(json_object_get(m, "resource"));
            json_decref(m);
        }
        str_copy(c->session, saved, sizeof(c->session));
        resp_free(&resp);
        if (ok)
            return true;
        if (path[0] == '\0')
            break;
    }
    return false;
}

/* A fresh session used by a probe: initialize (and tools/list when asked).
 * Returns 0 when the server answered initialize (and the listing). */
static int probe_session(struct scan_report *scratch_owner, struct http_conn *c, bool list_tools,
                         const struct collect_opts *o, char *err, size_t errsz, char *sid,
                         size_t sidsz)
{
    (void)scratch_owner;
    struct scan_report scratch;
    scan_report_init(&scratch);
    int si = scan_add_server(&scratch, "probe", c->url, SCAN_TR_HTTP);
    c->session[0] = '\0';
    c->version[0] = '\0';
    json_array_clear(c->queue);
    struct collect_tr tr = {c, tr_send, tr_recv, after_init};
    struct collect_opts po = {0};
    if (o != NULL)
        po = *o;
    po.init_only = !list_tools;
    int rc = si >= 0 ? collect_session(&scratch, si, &tr, &po) : -1;
    if (si >= 0 && scratch.servers[si].init != NULL && (rc == 0 || !list_tools))
        rc = 0;
    if (si >= 0 && scratch.servers[si].error != NULL)
        str_copy(err, scratch.servers[si].error, errsz);
    if (list_tools && rc == 0 && si >= 0 &&
        json_object_get(json_object_get(scratch.servers[si].init, "capabilities"), "tools") == NULL)
        rc = -1;
    if (sid != NULL)
        str_copy(sid, c->session, sidsz);
    end_session(c);
    scan_report_free(&scratch);
    return rc;
}

int collect_http(struct scan_report *r, int server, const struct http_target *t,
                 const struct collect_opts *o)
{
    struct http_conn c;
    memset(&c, 0, sizeof(c));
    c.url = t->url;
    c.timeout_us = o != NULL && o->timeout_us > 0 ? o->timeout_us : COLLECT_DEFAULT_TIMEOUT_US;
    c.queue = json_array();
    c.with_auth = true;
    c.base = json_array();
    for (size_t i = 0; i < t->nheaders; i++)
        json_array_append_new(c.base, json_string(t->headers[i]));
    const char *hk;
    json_t *hv;
    json_object_foreach((json_t *)t->cfg_headers, hk, hv)
    {
        if (!json_is_string(hv))
            continue;
        char line[2048];
        snprintf(line, sizeof(line), "%s: %s", hk, json_string_value(hv));
        json_array_append_new(c.base, json_string(line));
    }
    bool have_auth = json_array_size(c.base) > 0;

    struct collect_tr tr = {&c, tr_send, tr_recv, after_init};
    int rc = collect_session(r, server, &tr, o);
    char first_sid[256];
    str_copy(first_sid, c.session, sizeof(first_sid));
    long main_status = c.last_status;
    char main_www[512];
    str_copy(main_www, c.last_www_auth, sizeof(main_www));
    end_session(&c);

    if (str_has_prefix(t->url, "http://") && !http_url_is_loopback(t->url)) {
        struct scan_finding *f = scan_add_finding(r, "http.plaintext", -1, server, -1,
                                                  "%s is plain HTTP to a host that is not "
                                                  "loopback",
                                                  t->url);
        scan_finding_evidence(f, t->url, strlen(t->url));
    }
    if (!t->probe) {
        json_decref(c.base);
        json_decref(c.queue);
        return rc;
    }

    /* 1. credentials: does tools/list work without them? */
    bool requires_auth = false;
    if (rc == 0) {
        bool open;
        if (have_auth) {
            c.with_auth = false;
            char e[300] = "";
            open = probe_session(r, &c, true, o, e, sizeof(e), NULL, 0) == 0;
            requires_auth = !open;
            c.with_auth = true;
        } else {
            open = true;
        }
        if (open) {
            /* worse when what it offers changes things */
            bool acting = false;
            const struct scan_server *sv = &r->servers[server];
            for (size_t i = 0; i < sv->nitems && !acting; i++) {
                if (sv->items[i].kind != SCAN_KIND_TOOL)
                    continue;
                struct classify_result cr;
                classify_tool(sv->items[i].def, NULL, NULL, &cr);
                acting = cr.risk != SCAN_RISK_READ_ONLY;
            }
            scan_add_finding(r, "http.unauthenticated", acting ? SCAN_SEV_HIGH : SCAN_SEV_MEDIUM,
                             server, -1,
                             "%s answers initialize and tools/list without credentials%s", t->url,
                             have_auth ? " (the headers given were not needed)" : "");
        }
    } else if (main_status == 401 || main_status == 403) {
        requires_auth = true;
    }

    /* 2. Origin check: a browser page on another origin must be refused */
    if (rc == 0) {
        c.origin = PROBE_ORIGIN;
        char e[300] = "";
        bool accepted = probe_session(r, &c, false, o, e, sizeof(e), NULL, 0) == 0;
        c.origin = NULL;
        if (accepted) {
            bool lo = http_url_is_loopback(t->url);
            struct scan_finding *f = scan_add_finding(
                r, "http.no-origin-check", lo ? SCAN_SEV_HIGH : SCAN_SEV_MEDIUM, server, -1,
                "%s accepted initialize with Origin: %s%s", t->url, PROBE_ORIGIN,
                lo ? " (a local server: reachable from any web page by DNS rebinding)" : "");
            (void)f;
        }
    }

    /* 3. session ids: sample several and judge their entropy */
    if (rc == 0 && first_sid[0] != '\0') {
        char ids[HTTP_SESSION_SAMPLES][256];
        const char *ptrs[HTTP_SESSION_SAMPLES];
        size_t n = 0;
        str_copy(ids[n], first_sid, sizeof(ids[n]));
        ptrs[n] = ids[n];
        n++;
        while (n < HTTP_SESSION_SAMPLES) {
            char e[300];
            if (probe_session(r, &c, false, o, e, sizeof(e), ids[n], sizeof(ids[n])) < 0 ||
                ids[n][0] == '\0')
                break;
            ptrs[n] = ids[n];
            n++;
        }
        double bits = http_session_entropy(ptrs, n);
        if (n >= 2 && bits < 64.0) {
            struct scan_finding *f = scan_add_finding(
                r, "http.weak-session-id", bits == 0.0 ? SCAN_SEV_HIGH : SCAN_SEV_MEDIUM, server,
                -1, "%zu Mcp-Session-Id values from %s carry about %.0f bits of entropy (%s)", n,
                t->url, bits, bits == 0.0 ? "the same id twice" : "fewer than 64");
            char ev[600];
            snprintf(ev, sizeof(ev), "%.60s, %.60s%s", ids[0], ids[1], n > 2 ? ", ..." : "");
            scan_finding_evidence(f, ev, strlen(ev));
        }
    }

    /* 4. RFC 9728 Protected Resource Metadata, when the server wants credentials */
    if (requires_auth && !has_prm(&c, t->url)) {
        bool hinted = str_casestr_n(main_www, strlen(main_www), "resource_metadata") != NULL;
        scan_add_finding(r, "http.no-resource-metadata", -1, server, -1,
                         "%s requires credentials but publishes no "
                         "/.well-known/oauth-protected-resource%s",
                         t->url,
                         hinted ? " (WWW-Authenticate names one that does not answer)" : "");
    }
    json_decref(c.base);
    json_decref(c.queue);
    return rc;
}
