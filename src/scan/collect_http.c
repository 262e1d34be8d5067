/* collect_http.c - Streamable HTTP targets: the client session and the
 * probes (collect_http.h). One request at a time with libcurl's easy
 * interface: the scanner is a command-line tool with nothing else to do while
 * it waits, and every transfer has a time limit. */
#include "scan/collect_http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"
#include "proto/mcp.h"
#include "scan/classify.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/timeutil.h"

#define HTTP_MAX_BODY  (16u * 1024u * 1024u)
#define HTTP_MAX_QUEUE 64u
#define PROBE_ORIGIN   "https://mcpwall-probe.invalid"

struct http_resp {
    long status;
    struct buf body;
    char ctype[128];
    char session[256];
    char www_auth[512];
    char err[CURL_ERROR_SIZE];
};

static size_t write_cb(char *p, size_t sz, size_t n, void *ud)
{
    struct http_resp *r = ud;
    size_t len = sz * n;
    if (buf_append(&r->body, p, len) < 0)
        return 0; /* over budget: curl aborts the transfer */
    return len;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    size_t vl = len - nl - 1;
    while (vl > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (vl >= outsz)
        vl = outsz - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
}

static size_t header_cb(char *p, size_t sz, size_t n, void *ud)
{
    struct http_resp *r = ud;
    size_t len = sz * n;
    header_value(p, len, "content-type", r->ctype, sizeof(r->ctype));
    header_value(p, len, "mcp-session-id", r->session, sizeof(r->session));
    header_value(p, len, "www-authenticate", r->www_auth, sizeof(r->www_auth));
    return len;
}

struct http_conn {
    const char *url;
    struct curl_slist *base; /* user and config headers */
    bool with_auth;          /* send the user's headers */
    const char *origin;      /* extra Origin header, or NULL */
    char session[256];       /* Mcp-Session-Id, once the server gave one */
    char version[32];        /* negotiated protocol version */
    uint64_t timeout_us;
    json_t *queue; /* messages received, not yet taken */
    long last_status;
    char last_www_auth[512];
};

static int http_do(struct http_conn *c, const char *method, const char *url, const char *body,
                   size_t len, struct http_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    buf_init(&resp->body, HTTP_MAX_BODY);
    CURL *h = curl_easy_init();
    if (h == NULL) {
        snprintf(resp->err, sizeof(resp->err), "cannot start libcurl");
        return -1;
    }
    struct curl_slist *hdrs = NULL;
    if (c->with_auth) {
        for (struct curl_slist *s = c->base; s != NULL; s = s->next)
            hdrs = curl_slist_append(hdrs, s->data);
    }
    char line[400];
    if (body != NULL) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Accept: application/json, text/event-stream");
    }
    if (c->session[0] != '\0') {
        snprintf(line, sizeof(line), "Mcp-Session-Id: %s", c->session);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (c->version[0] != '\0') {
        snprintf(line, sizeof(line), "MCP-Protocol-Version: %s", c->version);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (c->origin != NULL) {
        snprintf(line, sizeof(line), "Origin: %s", c->origin);
        hdrs = curl_slist_append(hdrs, line);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    long ms = (long)(c->timeout_us / 1000);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms < 10000 ? ms : 10000L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, resp->err);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mcpwall-scan");
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        if (resp->err[0] == '\0')
            snprintf(resp->err, sizeof(resp->err), "%s", curl_easy_strerror(rc));
        return -1;
    }
    buf_cstr(&resp->body);
    return 0;
}

/* Splits an SSE body into its events' data and queues each JSON message. */
static void queue_sse(struct http_conn *c, const char *p, size_t n)
{
    struct buf data;
    buf_init(&data, HTTP_MAX_BODY);
    size_t i = 0;
    while (i <= n) {
        size_t e = i;
        while (e < n && p[e] != '\n' && p[e] != '\r')
            e++;
        size_t ll = e - i;
        if (ll == 0 || i == n) {
            if (buf_used(&data) > 0 && json_array_size(c->queue) < HTTP_MAX_QUEUE) {
                struct json_err je;
                json_t *m = json_parse_strict(buf_head(&data), buf_used(&data), NULL, &je);
                if (m != NULL)
                    json_array_append_new(c->queue, m);
            }
            buf_reset(&data);
        } else if (ll >= 5 && strncmp(p + i, "data:", 5) == 0) {
            size_t s = i + 5;
            if (s < e && p[s] == ' ')
                s++;
            if (buf_used(&data) > 0)
                buf_append_char(&data, '\n');
            buf_append(&data, p + s, e - s);
        }
        if (e < n && p[e] == '\r' && e + 1 < n && p[e + 1] == '\n')
            e++;
        i = e + 1;
    }
    buf_free(&data);
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
        buf_free(&resp.body);
        return -1;
    }
    if (resp.session[0] != '\0' && c->session[0] == '\0')
        str_copy(c->session, resp.session, sizeof(c->session));
    if (resp.status == 202 || resp.status == 204) {
        buf_free(&resp.body);
        return 0;
    }
    if (resp.status < 200 || resp.status >= 300) {
        char snippet[120] = "";
        if (resp.body.data != NULL) {
            size_t k = 0;
            for (const char *q = buf_head(&resp.body); *q != '\0' && k + 1 < sizeof(snippet); q++)
                snippet[k++] = (unsigned char)*q < 0x20 ? ' ' : *q;
            snippet[k] = '\0';
        }
        snprintf(err, errsz, "HTTP %ld from %s%s%s", resp.status, c->url, snippet[0] ? ": " : "",
                 snippet);
        buf_free(&resp.body);
        return -1;
    }
    const char *b = resp.body.data != NULL ? buf_head(&resp.body) : "";
    size_t bl = buf_used(&resp.body);
    if (str_casestr_n(resp.ctype, strlen(resp.ctype), "text/event-stream") != NULL) {
        queue_sse(c, b, bl);
    } else if (bl > 0) {
        struct json_err je;
        json_t *m = json_parse_strict(b, bl, NULL, &je);
        if (m == NULL) {
            snprintf(err, errsz, "%s answered with something that is not JSON (%s)", c->url,
                     json_reason_code(je.reason));
            buf_free(&resp.body);
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
    buf_free(&resp.body);
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
    buf_free(&resp.body);
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
        buf_free(&resp.body);
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
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        atexit(curl_global_cleanup);
        curl_ready = true;
    }
    struct http_conn c;
    memset(&c, 0, sizeof(c));
    c.url = t->url;
    c.timeout_us = o != NULL && o->timeout_us > 0 ? o->timeout_us : COLLECT_DEFAULT_TIMEOUT_US;
    c.queue = json_array();
    c.with_auth = true;
    for (size_t i = 0; i < t->nheaders; i++)
        c.base = curl_slist_append(c.base, t->headers[i]);
    const char *hk;
    json_t *hv;
    json_object_foreach((json_t *)t->cfg_headers, hk, hv)
    {
        if (!json_is_string(hv))
            continue;
        char line[2048];
        snprintf(line, sizeof(line), "%s: %s", hk, json_string_value(hv));
        c.base = curl_slist_append(c.base, line);
    }
    bool have_auth = c.base != NULL;

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
        curl_slist_free_all(c.base);
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
    curl_slist_free_all(c.base);
    json_decref(c.queue);
    return rc;
}
