#include "gateway/serve.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/metrics.h"
#include "config.h"
#include "gateway/pipeline.h"
#include "policy/authn.h"
#include "policy/credentials.h"
#include "policy/secrets.h"
#include "transport/chan.h"
#include "transport/child.h"
#include "transport/fdlines.h"
#include "transport/http_client.h"
#include "transport/http_server.h"
#include "transport/shttp_client.h"
#include "transport/shttp_server.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

#define STDERR_LINE_MAX 4096
#define STDERR_LINES_PER_SEC 100
#define RESTART_MIN_MS 200u
#define RESTART_MAX_MS 30000u
#define INIT_ID_PREFIX "mcpwall-init-"
#define HELD_MAX 1024u          /* messages held per upstream while its credential is fetched */
#define FWD_VALUE_MAX 512u      /* longest client header value forwarded upstream */

struct serve;
struct fsess;

enum up_state { UP_STARTING, UP_READY, UP_RESTARTING, UP_FAILED, UP_CLOSED };

/* What waits for the upstream's credential (client-credentials grant). */
enum up_cwait { CW_NONE = 0, CW_START, CW_SEND };

struct up_held {
    char *msg;
    size_t len;
};

/* One upstream server for one client session. */
struct upconn {
    struct fsess *fs;
    size_t idx;
    const struct gw_server *def;    /* in fs->cfg */
    enum up_state state;
    struct gw_session gw;
    bool gw_live;
    /* stdio */
    struct child child;
    struct chan chan;
    bool chan_live;
    struct fdlines errlines, sbxlines;
    bool stdout_eof;
    bool exited;
    bool status_known;
    int status;
    /* http */
    struct shttp_client *hc;
    /* credential (docs/auth.md): an acquisition in progress and what waits
     * for it; messages toward an HTTP upstream held meanwhile (after the
     * pipeline, in order); the token its headers carry now. */
    struct cred_wait *cwait;
    struct cred_store *cwait_store; /* reference while waiting */
    enum up_cwait cw_for;
    struct up_held *held;
    size_t nheld;
    char held_err[300];             /* set: fail what is held (deferred out of the pipeline) */
    struct event *held_ev;
    struct secret *cur_tok;         /* reference: the credential in hc's headers */
    unsigned hdr_gen;               /* fs->hdr_gen the headers were built for */
    bool hdr_set;
    bool cred_failed;               /* its last start failed for want of a credential */
    /* restarts */
    unsigned restarts;
    bool ever_ready;                /* answered initialize at least once */
    bool init_counted;              /* this start's initialize answer was counted */
    struct event *exit_wait_ev;     /* stdout closed: a moment for the exit status */
    uint32_t backoff_ms;
    struct event *restart_ev;
    unsigned init_seq;
    char init_id[48];               /* id of the gateway's own initialize */
    json_t *init_result;
    char fail_why[512];
};

enum freq_kind { FR_ROUTED, FR_INIT, FR_LIST, FR_FANOUT };

/* A client request in flight. */
struct freq {
    struct fsess *fs;
    struct shttp_stream *st;
    char key[160];
    size_t keylen;
    enum freq_kind kind;
    enum mcp_method_id method;
    size_t up;                      /* FR_ROUTED, FR_LIST */
    char progress[160];             /* key of params._meta.progressToken, "" if none */
    size_t waiting;                 /* FR_INIT, FR_FANOUT: answers outstanding */
    json_t *id;                     /* the client's id */
    char list_key[24];              /* FR_LIST: result member (tools, prompts ...) */
    json_t *parts;                  /* FR_LIST: per upstream, its page (or null) */
    json_t *more;                   /* FR_LIST: [[upstream, cursor], ...] still to list */
};

/* A server->client request as the client sees it. */
struct s2c_map {
    size_t up;
    char orig[160];                 /* the upstream's id, as raw JSON */
    size_t origlen;
};

struct fsess {
    struct serve *srv;
    struct shttp_session *hs;
    struct gw_config *cfg;          /* reference: the snapshot this session started with */
    struct identity *ident;         /* reference: the caller (of the latest request) */
    char model[128];                /* model hint of the latest request ("" none) */
    /* What goes into HTTP upstream headers besides configuration: client
     * headers forwarded on purpose, and the client's own token (a secret
     * copy, so no line carrying it is ever sent upstream). */
    char *fwd_slot[3];              /* traceparent, tracestate, model: "Name: value" or NULL */
    const char *fwd[4];             /* the lines set, NULL-terminated (into fwd_slot) */
    struct secret *client_tok;
    unsigned hdr_gen;               /* bumped when either changes */
    bool has_http;                  /* some upstream is an HTTP one */
    struct upconn *ups;
    size_t nups;
    json_t *init_params;            /* the client's initialize params */
    bool client_initialized;
    bool namespaced;
    struct map reqs;                /* client request id key -> freq */
    struct map s2c;                 /* client-facing id key -> s2c_map */
    uint64_t next_s2c;
    struct jtape tape;              /* messages parsed by the federation layer */
    struct rl_alert alert;          /* calls per minute of this client session (all upstreams) */
    bool closing;
    struct fsess *next, *prev;
};

struct serve {
    struct event_base *base;
    struct gw_config *cfg;
    const struct serve_opts *opts;
    struct http_server *hs;
    struct http_listener *pub, *adm;
    struct shttp_server *mcp;
    struct http_client *hc;
    struct authn *authn;            /* reference: the current auth: snapshot */
    struct authn_stats auth_base;   /* counters of the snapshots replaced by reloads */
    struct audit_log *audit;
    struct metrics *metrics;
    struct ratelimit *rl;           /* rate_limits: shared by every session (and reloads) */
    struct event *sig[4];
    struct event *audit_ev;
    struct fsess *sessions;
    struct map children;            /* pid -> upconn (stdio children alive) */
    bool stopping;
    uint64_t started_us;
};

static void up_restart_later(struct upconn *uc, const char *why);
static void fs_after_upstream(struct fsess *fs);
static void serve_flush(struct serve *srv);

/* ---- small helpers ------------------------------------------------------------ */

static int respond_error(struct shttp_stream *st, const json_t *id, int code, const char *msg,
                         const char *reason, const json_t *data)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    int rc = rpc_emit_error(&b, id, code, msg, reason, data);
    if (rc == 0)
        rc = shttp_stream_respond(st, buf_head(&b), buf_used(&b));
    else
        shttp_stream_release(st);
    buf_free(&b);
    return rc;
}

/* Copies the message with value token `tok` replaced by `json` (raw JSON text). */
static int splice(struct buf *out, const struct jtape *t, size_t tok, const char *json, size_t n)
{
    const struct jt_tok *k = &t->tok[tok];
    size_t a = k->type == JT_STRING ? k->start - 1 : k->start;
    size_t b = k->type == JT_STRING ? (size_t)k->start + k->len + 1 : (size_t)k->start + k->len;
    if (buf_append(out, t->src, a) < 0 || buf_append(out, json, n) < 0 ||
        buf_append(out, t->src + b, t->srclen - b) < 0)
        return -1;
    return 0;
}

/* Same, with a string value. */
static int splice_str(struct buf *out, const struct jtape *t, size_t tok, const char *s, size_t n)
{
    struct buf q;
    buf_init(&q, n * 6 + 8);
    int rc = json_emit_string(&q, s, n);
    if (rc == 0)
        rc = splice(out, t, tok, buf_head(&q), buf_used(&q));
    buf_free(&q);
    return rc;
}

static struct freq *freq_find(struct fsess *fs, const char *key, size_t keylen)
{
    return keylen > 0 ? map_get(&fs->reqs, key, keylen) : NULL;
}

static void freq_free(struct freq *fr)
{
    map_del(&fr->fs->reqs, fr->key, fr->keylen);
    json_decref(fr->id);
    json_decref(fr->parts);
    json_decref(fr->more);
    free(fr);
}

/* Answers a request with a complete message and forgets it. */
static void freq_respond(struct freq *fr, const char *msg, size_t len)
{
    metrics_bytes(fr->fs->srv->metrics, 0, len);
    shttp_stream_respond(fr->st, msg, len);
    freq_free(fr);
}

static void freq_error(struct freq *fr, int code, const char *msg, const char *reason)
{
    respond_error(fr->st, fr->id, code, msg, reason, NULL);
    freq_free(fr);
}

/* The stream a message from upstream `up` that belongs to no known request
 * should go to: that upstream's only request in flight, else the session's
 * standalone stream (NULL). */
static struct shttp_stream *stream_for_upstream(struct fsess *fs, size_t up)
{
    struct freq *only = NULL;
    size_t it = 0, n = 0;
    const char *k;
    size_t kl;
    void *v;
    while (map_next(&fs->reqs, &it, &k, &kl, &v)) {
        struct freq *fr = v;
        if (fr->kind == FR_ROUTED && fr->up == up) {
            only = fr;
            if (++n > 1)
                return NULL;
        }
    }
    return only != NULL ? only->st : NULL;
}

static void send_unsolicited(struct fsess *fs, const char *msg, size_t len)
{
    if (fs->hs != NULL && shttp_session_send(fs->hs, msg, len) == SHTTP_EFULL)
        log_warnx("session: standalone stream full; a notification was dropped");
}

/* ---- cursors for lists merged across upstreams ------------------------------------ */

/* A cursor is base64url of a JSON array of [upstream index, upstream cursor]
 * pairs: the pages still to fetch, first one next. */
static void cursor_encode(const json_t *pairs, struct buf *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *raw = json_dumps(pairs, JSON_COMPACT);
    if (raw == NULL)
        return;
    const unsigned char *p = (const unsigned char *)raw;
    size_t n = strlen(raw);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        buf_append_char(out, t[(v >> 18) & 63]);
        buf_append_char(out, t[(v >> 12) & 63]);
        if (i + 1 < n)
            buf_append_char(out, t[(v >> 6) & 63]);
        if (i + 2 < n)
            buf_append_char(out, t[v & 63]);
    }
    free(raw);
}

static int b64v(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes a cursor into its pairs (new reference), checking every pair names
 * one of nups upstreams; NULL when it is not one of ours. */
static json_t *cursor_decode(const char *s, size_t n, size_t nups)
{
    struct buf raw;
    buf_init(&raw, n);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64v(s[i]);
        if (v < 0) {
            buf_free(&raw);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_append_char(&raw, (char)((acc >> bits) & 0xff));
        }
    }
    struct json_err je;
    json_t *pairs = json_parse_strict(buf_head(&raw), buf_used(&raw), NULL, &je);
    buf_free(&raw);
    bool ok = json_is_array(pairs) && json_array_size(pairs) > 0;
    size_t i;
    json_t *p;
    json_array_foreach(pairs, i, p) {
        json_t *u = json_array_get(p, 0), *c = json_array_get(p, 1);
        ok = ok && json_array_size(p) == 2 && json_is_integer(u) && json_integer_value(u) >= 0 &&
             (size_t)json_integer_value(u) < nups && (json_is_string(c) || json_is_null(c));
    }
    if (!ok) {
        json_decref(pairs);
        return NULL;
    }
    return pairs;
}

/* ---- upstream credentials (docs/auth.md) ---------------------------------------- */

static void init_answered(struct upconn *uc, bool ok);
static int up_launch(struct upconn *uc, struct secret *tok);

/* The credential an upstream uses, by name in the current configuration, so
 * a reload rotates secrets for sessions already open too. NULL when gone. */
static struct cred *up_cred(const struct upconn *uc, struct cred_store **store)
{
    struct cred_store *st = uc->fs->srv->cfg->creds;
    *store = st;
    return st != NULL && uc->def->credential != NULL ? cred_find(st, uc->def->credential) : NULL;
}

/* A credential that could not be had: logged, counted and audited. `why`
 * names the credential (and the principal, for per-identity ones), never a
 * value. */
static void up_cred_refused(struct upconn *uc, const char *why)
{
    struct fsess *fs = uc->fs;
    log_warnx("server %s: %s", uc->def->name, why);
    metrics_denial(fs->srv->metrics, uc->def->name, "credential_unavailable");
    if (fs->srv->audit == NULL)
        return;
    json_t *extra = json_pack("{s:s,s:s}", "credential", uc->def->credential, "error", why);
    struct audit_rec r = {.event = "credential",
                          .session = uc->gw_live ? uc->gw.id : "serve",
                          .identity = fs->ident != NULL ? fs->ident->principal : NULL,
                          .server = uc->def->name,
                          .decision = "deny",
                          .reason = "credential_unavailable",
                          .outcome = "refused",
                          .extra = extra};
    audit_append(fs->srv->audit, &r);
    json_decref(extra);
    serve_flush(fs->srv);
}

static void up_cred_done(void *ud, struct secret *tok, const char *error);

/* The upstream's credential for this session's caller: 0 with *tok (NULL
 * when the upstream has none), 1 while a grant runs (up_cred_done follows;
 * `what` records who waits), -1 with a sentence in err. */
static int up_cred_get(struct upconn *uc, enum up_cwait what, struct secret **tok, char *err,
                       size_t errlen)
{
    *tok = NULL;
    if (uc->def->credential == NULL)
        return 0;
    struct cred_store *st;
    struct cred *c = up_cred(uc, &st);
    if (c == NULL) {
        snprintf(err, errlen, "credential '%s' is no longer configured", uc->def->credential);
        return -1;
    }
    struct cred_wait *w = NULL;
    int rc = cred_acquire(c, uc->fs->ident, up_cred_done, uc, tok, &w, err, errlen);
    if (rc == 1) {
        uc->cwait = w;
        uc->cwait_store = cred_store_ref(st);
        uc->cw_for = what;
    }
    return rc;
}

static void up_cred_cancel(struct upconn *uc)
{
    if (uc->cwait != NULL)
        cred_wait_cancel(uc->cwait);
    uc->cwait = NULL;
    cred_store_unref(uc->cwait_store);
    uc->cwait_store = NULL;
    uc->cw_for = CW_NONE;
}

/* Answers a request that never reached the upstream with an error, as if
 * the upstream had sent it, so the pipeline completes and audits it. */
static void up_synth_error(struct upconn *uc, const char *msg, size_t len, const char *why,
                           const char *reason)
{
    struct rpc_msg m;
    struct rpc_err e = {0};
    if (!uc->gw_live || rpc_parse(msg, len, NULL, &m, &e) < 0) {
        rpc_err_clear(&e);
        return;
    }
    if (m.kind == RPC_REQUEST) {
        struct buf b;
        buf_init(&b, 8192);
        if (rpc_emit_error(&b, m.id, MW_ERR_UPSTREAM, why, reason, NULL) == 0)
            gw_server_message(&uc->gw, buf_head(&b), buf_used(&b));
        buf_free(&b);
    }
    rpc_msg_free(&m);
}

static int up_hold(struct upconn *uc, const char *msg, size_t len)
{
    if (uc->nheld >= HELD_MAX)
        return -1;
    struct up_held *nh = realloc(uc->held, (uc->nheld + 1) * sizeof(*nh));
    if (nh == NULL)
        return -1;
    uc->held = nh;
    char *copy = str_memdup(msg, len);
    if (copy == NULL)
        return -1;
    uc->held[uc->nheld].msg = copy;
    uc->held[uc->nheld].len = len;
    uc->nheld++;
    return 0;
}

/* Takes the held messages out (the caller frees them with up_held_free). */
static struct up_held *up_held_take(struct upconn *uc, size_t *n)
{
    struct up_held *h = uc->held;
    *n = uc->nheld;
    uc->held = NULL;
    uc->nheld = 0;
    return h;
}

static void up_held_free(struct up_held *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(h[i].msg);
    free(h);
}

static void up_fail_held(struct upconn *uc, const char *why, const char *reason)
{
    size_t n;
    struct up_held *h = up_held_take(uc, &n);
    for (size_t i = 0; i < n; i++)
        up_synth_error(uc, h[i].msg, h[i].len, why, reason);
    up_held_free(h, n);
}

/* Builds the headers of an HTTP upstream: its configured ones, the client
 * headers forwarded on purpose, the credential; never a line holding the
 * client's own token (cred_upstream_headers). Rebuilt only when one of them
 * changed. 0 or -1. */
static int up_http_headers(struct upconn *uc, struct secret *tok)
{
    struct fsess *fs = uc->fs;
    if (uc->hc == NULL)
        return -1;
    if (uc->hdr_set && tok == uc->cur_tok && uc->hdr_gen == fs->hdr_gen)
        return 0;
    struct buf line;
    buf_init(&line, SECRET_MAX_BYTES + 1024);
    const char *cl = NULL;
    if (tok != NULL) {
        struct cred_store *st;
        struct cred *c = up_cred(uc, &st);
        if (c == NULL || cred_header_line(c, tok, &line) < 0 || buf_cstr(&line) < 0) {
            buf_wipe_free(&line);
            return -1;
        }
        cl = buf_head(&line);
    }
    size_t ctl = 0;
    const char *ct = fs->client_tok != NULL ? secret_value(fs->client_tok, &ctl) : NULL;
    char **h = cred_upstream_headers((const char *const *)uc->def->headers,
                                     (const char *const *)fs->fwd, cl, ct, ctl);
    int rc = h != NULL ? shttp_client_set_headers(uc->hc, (const char *const *)h) : -1;
    cred_headers_free(h);
    buf_wipe_free(&line);
    if (rc == 0) {
        secret_unref(uc->cur_tok);
        uc->cur_tok = secret_ref(tok);
        uc->hdr_gen = fs->hdr_gen;
        uc->hdr_set = true;
    }
    return rc;
}

/* The held messages go out once the credential is there. */
static void up_send_held(struct upconn *uc, struct secret *tok)
{
    size_t n;
    struct up_held *h = up_held_take(uc, &n);
    bool ok = uc->hc != NULL && uc->gw_live && up_http_headers(uc, tok) == 0;
    for (size_t i = 0; i < n; i++) {
        if (!ok || shttp_client_send(uc->hc, h[i].msg, h[i].len) < 0) {
            ok = false;
            char why[200];
            snprintf(why, sizeof(why), "the MCP server '%s' cannot take requests right now",
                     uc->def->name);
            up_synth_error(uc, h[i].msg, h[i].len, why, "upstream_unavailable");
        }
    }
    up_held_free(h, n);
}

static void up_held_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct upconn *uc = arg;
    if (uc->held_err[0] == '\0')
        return;
    char why[sizeof(uc->held_err)];
    str_copy(why, uc->held_err, sizeof(why));
    uc->held_err[0] = '\0';
    up_fail_held(uc, why, "credential_unavailable");
    fs_after_upstream(uc->fs);
}

/* A grant the upstream waited for has ended (never called from inside
 * cred_acquire). */
static void up_cred_done(void *ud, struct secret *tok, const char *error)
{
    struct upconn *uc = ud;
    enum up_cwait what = uc->cw_for;
    uc->cwait = NULL; /* freed by the store after this call */
    cred_store_unref(uc->cwait_store);
    uc->cwait_store = NULL;
    uc->cw_for = CW_NONE;
    char why[sizeof(uc->held_err)];
    if (tok == NULL) {
        up_cred_refused(uc, error != NULL ? error : "credential unavailable");
        snprintf(why, sizeof(why), "server '%.32s': %.240s", uc->def->name,
                 error != NULL ? error : "credential unavailable");
    }
    if (what == CW_START) {
        if (tok == NULL) {
            str_copy(uc->fail_why, why, sizeof(uc->fail_why));
            uc->cred_failed = true;
            init_answered(uc, false);
        } else if (up_launch(uc, tok) < 0) {
            init_answered(uc, false);
        }
    } else if (what == CW_SEND) {
        if (tok == NULL)
            up_fail_held(uc, why, "credential_unavailable");
        else
            up_send_held(uc, tok);
    }
    secret_unref(tok);
    fs_after_upstream(uc->fs);
}

/* Toward an HTTP upstream: with the current credential in its headers. */
static int up_http_send(struct upconn *uc, const char *msg, size_t len)
{
    if (uc->cwait != NULL || uc->nheld > 0 || uc->held_err[0] != '\0')
        return up_hold(uc, msg, len); /* behind what already waits, in order */
    struct secret *tok = NULL;
    char err[256];
    int rc = up_cred_get(uc, CW_SEND, &tok, err, sizeof(err));
    if (rc == 1)
        return up_hold(uc, msg, len);
    if (rc < 0) {
        /* Answered once the pipeline has recorded the request. */
        up_cred_refused(uc, err);
        if (up_hold(uc, msg, len) < 0)
            return -1;
        snprintf(uc->held_err, sizeof(uc->held_err), "server '%.32s': %.240s", uc->def->name,
                 err);
        if (uc->held_ev == NULL)
            uc->held_ev = event_new(uc->fs->srv->base, -1, 0, up_held_cb, uc);
        if (uc->held_ev == NULL)
            return -1;
        event_active(uc->held_ev, EV_TIMEOUT, 0);
        return 0;
    }
    rc = up_http_headers(uc, tok);
    secret_unref(tok);
    return rc < 0 ? -1 : shttp_client_send(uc->hc, msg, len);
}

/* ---- outputs of the per-upstream pipelines ------------------------------------- */

static int up_to_server(void *ud, const char *msg, size_t len)
{
    struct upconn *uc = ud;
    if (uc->hc != NULL)
        return up_http_send(uc, msg, len);
    if (!uc->chan_live || uc->stdout_eof || uc->exited)
        return -1;
    return chan_queue(&uc->chan, msg, len);
}

static void fed_from_upstream(struct upconn *uc, const char *msg, size_t len);

static int up_to_client(void *ud, const char *msg, size_t len)
{
    fed_from_upstream(ud, msg, len);
    return 0;
}

static void up_after_event(void *ud)
{
    struct upconn *uc = ud;
    fs_after_upstream(uc->fs);
}

/* Toward a stdio upstream: write now. Toward the client, answers are already
 * handed to the HTTP layer, which sends them when the loop turns. */
static void up_flush(void *ud, int to_side)
{
    struct upconn *uc = ud;
    if (to_side == GW_C2S && uc->hc == NULL && uc->chan_live)
        chan_flush(&uc->chan);
}

static const struct gw_io up_io = {up_to_client, up_to_server, up_after_event, up_flush};

static void fs_after_upstream(struct fsess *fs)
{
    for (size_t i = 0; i < fs->nups; i++)
        if (fs->ups[i].chan_live)
            chan_flush(&fs->ups[i].chan);
    serve_flush(fs->srv);
}

/* ---- upstream lifecycle --------------------------------------------------------- */

static void up_gw_start(struct upconn *uc)
{
    struct fsess *fs = uc->fs;
    gw_session_init(&uc->gw, fs->srv->base, fs->cfg, fs->srv->audit, &up_io, uc);
    gw_session_set_policy(&uc->gw, uc->def->policy);
    gw_session_set_results(&uc->gw, uc->def->results);
    uc->gw.server = uc->def->name;
    uc->gw.rl = fs->srv->rl;
    uc->gw.alert = &fs->alert;
    uc->gw.metrics = fs->srv->metrics;
    if (uc->def->timeout_us != 0)
        uc->gw.request_timeout_us = uc->def->timeout_us;
    /* Who calls: the identity authentication gave the client's requests
     * (never the local user of the gateway process). */
    if (fs->ident != NULL) {
        gw_session_set_identity(&uc->gw, fs->ident);
    } else {
        struct identity *anon = identity_anonymous(NULL, 0);
        gw_session_set_identity(&uc->gw, anon);
        identity_unref(anon);
    }
    /* Unverified hints for the policy: clientInfo.name (when it fits: a cut
     * name is not set, and the handshake's own copy is used) and the model. */
    const char *cn = json_string_value(json_object_get(json_object_get(fs->init_params,
                                                                       "clientInfo"), "name"));
    if (cn != NULL && strlen(cn) < sizeof(uc->gw.client_hint))
        str_copy(uc->gw.client_hint, cn, sizeof(uc->gw.client_hint));
    str_copy(uc->gw.model_hint, fs->model, sizeof(uc->gw.model_hint));
    uc->gw_live = true;
}

static void up_gw_stop(struct upconn *uc, const char *why)
{
    if (!uc->gw_live)
        return;
    gw_upstream_gone(&uc->gw, why);
    gw_session_free(&uc->gw);
    uc->gw_live = false;
}

/* Sends the gateway's own initialize to a stdio upstream (first start and
 * restarts), using the client's params. */
static void up_send_initialize(struct upconn *uc)
{
    snprintf(uc->init_id, sizeof(uc->init_id), INIT_ID_PREFIX "%u", ++uc->init_seq);
    json_t *id = json_string(uc->init_id);
    struct buf b;
    buf_init(&b, 1 << 20);
    rpc_emit_request(&b, id, "initialize", uc->fs->init_params);
    gw_client_message(&uc->gw, buf_head(&b), buf_used(&b));
    buf_free(&b);
    json_decref(id);
}

static void stdio_line(void *ud, struct chan *ch, const char *line, size_t len)
{
    struct upconn *uc = ud;
    uc->gw.batch_more = chan_has_line(ch);
    gw_server_message(&uc->gw, line, len);
}

static void stdio_oversize(void *ud, struct chan *ch, const struct frame_item *it)
{
    (void)ch;
    struct upconn *uc = ud;
    gw_server_oversize(&uc->gw, it);
}

static void stdio_read_end(void *ud, struct chan *ch, int err)
{
    (void)ch;
    (void)err;
    struct upconn *uc = ud;
    uc->stdout_eof = true;
}

static void stdio_write_error(void *ud, struct chan *ch, int err)
{
    (void)ch;
    struct upconn *uc = ud;
    log_warnx("server %s: writing to it failed: %s", uc->def->name, strerror(err));
}

static void stdio_activity(void *ud, struct chan *ch);

static void up_try_reap(struct upconn *uc);

static void exit_wait_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct upconn *uc = arg;
    up_try_reap(uc);
    uc->exited = true; /* waited long enough: its output is closed, it is gone */
    if (uc->chan_live)
        stdio_activity(uc, &uc->chan);
}

/* Collects the child if it has exited (the global reaper may be later). */
static void up_try_reap(struct upconn *uc)
{
    if (uc->exited || uc->child.pid <= 0)
        return;
    int st;
    pid_t r = waitpid(uc->child.pid, &st, WNOHANG);
    if (r == uc->child.pid) {
        uc->exited = true;
        uc->status = st;
        uc->status_known = true;
        char key[24];
        int kn = snprintf(key, sizeof(key), "%d", (int)uc->child.pid);
        map_del(&uc->fs->srv->children, key, (size_t)kn);
    }
}

static void stdio_activity(void *ud, struct chan *ch)
{
    (void)ch;
    struct upconn *uc = ud;
    struct fsess *fs = uc->fs;
    if (uc->stdout_eof && !uc->exited) {
        /* Usually the process is exiting: wait a moment for its status so the
         * error can say how it ended. */
        up_try_reap(uc);
        if (!uc->exited) {
            if (uc->exit_wait_ev == NULL)
                uc->exit_wait_ev = evtimer_new(fs->srv->base, exit_wait_cb, uc);
            if (!evtimer_pending(uc->exit_wait_ev, NULL)) {
                struct timeval tv = {0, 250000};
                evtimer_add(uc->exit_wait_ev, &tv);
            }
            fs_after_upstream(fs);
            return;
        }
    }
    if (uc->stdout_eof && uc->state != UP_RESTARTING && uc->state != UP_CLOSED) {
        char why[200];
        if (uc->status_known) {
            char st[80];
            child_describe_status(uc->status, st, sizeof(st));
            snprintf(why, sizeof(why), "the MCP server '%s' %s before answering", uc->def->name,
                     st);
        } else {
            snprintf(why, sizeof(why), "the MCP server '%s' closed its output before answering",
                     uc->def->name);
        }
        up_restart_later(uc, why);
    }
    fs_after_upstream(fs);
}

static const struct chan_ops stdio_ops = {stdio_line, stdio_oversize, stdio_read_end,
                                          stdio_write_error, stdio_activity};

static void up_stderr(void *ud, const char *p, size_t n)
{
    struct upconn *uc = ud;
    log_info("server %s: %.*s", uc->def->name, (int)n, p);
}

static void up_stderr_suppressed(void *ud, unsigned count)
{
    struct upconn *uc = ud;
    log_warnx("server %s: (%u stderr lines suppressed)", uc->def->name, count);
}

static void up_sandbox(void *ud, const char *p, size_t n)
{
    struct upconn *uc = ud;
    if (uc->gw_live)
        gw_audit_sandbox_event(&uc->gw, p, n);
}

/* Stops a stdio child: closes its pipes (it sees EOF) and makes sure it goes. */
static void up_stdio_stop(struct upconn *uc)
{
    if (uc->exit_wait_ev != NULL)
        evtimer_del(uc->exit_wait_ev);
    if (uc->chan_live) {
        chan_free(&uc->chan, true);
        uc->chan_live = false;
    }
    fdlines_free(&uc->errlines);
    fdlines_free(&uc->sbxlines);
    if (uc->child.pid > 0) {
        if (!uc->exited) {
            /* Its stdin is closed; a well-behaved server exits. The reaper
             * collects it; a straggler is killed (children die with us). */
            child_signal(&uc->child, SIGTERM);
        }
        char key[24];
        int kn = snprintf(key, sizeof(key), "%d", (int)uc->child.pid);
        map_del(&uc->fs->srv->children, key, (size_t)kn);
    }
    child_close_fds(&uc->child);
    uc->child.pid = -1;
}

/* The child's environment: ours (without variables that ${env:..} references
 * read), with the configured env entries and the credential variable
 * (`credential:` of the server: cred_env_name) over it;
 * for a sandboxed child only the injected variables (the sandbox profile
 * decides what of ours passes). *cred_line holds the credential's
 * "NAME=value" (wipe it). NULL: memory. */
static char **up_child_env(const struct upconn *uc, const struct secret *tok, struct buf *cred_line)
{
    extern char **environ;
    const struct gw_server *d = uc->def;
    const char *extra[2] = {NULL, NULL};
    size_t n = 0, m = 0, x = 0;
    if (tok != NULL) {
        struct cred_store *st;
        const struct cred *c = up_cred(uc, &st);
        size_t vl;
        const char *v = secret_value(tok, &vl);
        if (c == NULL || cred_env_name(c) == NULL || buf_printf(cred_line, "%s=", cred_env_name(c)) < 0 ||
            buf_append(cred_line, v, vl) < 0 || buf_cstr(cred_line) < 0)
            return NULL;
        extra[x++] = buf_head(cred_line);
    }
    while (d->sandbox == NULL && environ[n] != NULL)
        n++;
    while (d->env != NULL && d->env[m] != NULL)
        m++;
    char **envp = calloc(n + m + x + 1, sizeof(char *));
    if (envp == NULL)
        return NULL;
    /* First of a name wins: the credential, then env:, then ours. */
    size_t o = 0;
    for (size_t i = 0; i < x + m + n; i++) {
        char *cand = i < x ? (char *)extra[i] : i < x + m ? d->env[i - x] : environ[i - x - m];
        const char *eq = strchr(cand, '=');
        size_t kl = eq != NULL ? (size_t)(eq - cand) : strlen(cand);
        /* A variable a secret reference read stays ours (it may be another
         * server's credential); configured entries pass. */
        bool dup = i >= x + m && secret_env_referenced(cand, kl);
        for (size_t j = 0; j < o && !dup; j++)
            dup = strncmp(envp[j], cand, kl) == 0 && envp[j][kl] == '=';
        if (!dup)
            envp[o++] = cand;
    }
    return envp;
}

static int up_stdio_start(struct upconn *uc, const struct secret *tok)
{
    char err[512];
    const struct gw_server *d = uc->def;
    struct child_spec spec = {.argv = d->argv, .cwd = d->cwd, .sandbox = d->sandbox};
    char **envp = NULL;
    struct buf cred_line;
    buf_init(&cred_line, SECRET_MAX_BYTES + 512);
    if (d->env != NULL || tok != NULL || d->sandbox == NULL) {
        envp = up_child_env(uc, tok, &cred_line);
        if (envp == NULL) {
            buf_wipe_free(&cred_line);
            snprintf(uc->fail_why, sizeof(uc->fail_why),
                     "server '%.32s': cannot build its environment", d->name);
            return -1;
        }
        spec.envp = envp;
    }
    int rc = child_spawn(&spec, &uc->child, err, sizeof(err));
    free(envp);
    buf_wipe_free(&cred_line);
    if (rc < 0) {
        snprintf(uc->fail_why, sizeof(uc->fail_why), "server '%.32s': %.400s", d->name, err);
        log_warnx("%s", uc->fail_why);
        return -1;
    }
    struct serve *srv = uc->fs->srv;
    uc->stdout_eof = uc->exited = uc->status_known = false;
    if (chan_init(&uc->chan, srv->base, d->name, uc->child.out_fd, uc->child.in_fd,
                  uc->fs->cfg->limits.json.max_bytes, uc->fs->cfg->limits.queue_bytes,
                  &stdio_ops, uc) < 0) {
        child_signal(&uc->child, SIGKILL);
        return -1;
    }
    uc->chan_live = true;
    uc->child.in_fd = uc->child.out_fd = -1; /* owned by the channel */
    chan_set_reading(&uc->chan, true);
    fdlines_start(&uc->errlines, srv->base, uc->child.err_fd, STDERR_LINE_MAX,
                  STDERR_LINES_PER_SEC, up_stderr, up_stderr_suppressed, uc);
    if (uc->child.ev_fd >= 0)
        fdlines_start(&uc->sbxlines, srv->base, uc->child.ev_fd, 4096, 0, up_sandbox, NULL, uc);
    char key[24];
    int kn = snprintf(key, sizeof(key), "%d", (int)uc->child.pid);
    map_put(&srv->children, key, (size_t)kn, uc);
    return 0;
}

/* ---- http upstreams ------------------------------------------------------------ */

static void hc_message(void *ud, const struct rpc_msg *m, const char *raw, size_t len,
                       bool synthesized)
{
    (void)m;
    (void)synthesized;
    struct upconn *uc = ud;
    if (uc->gw_live)
        gw_server_message(&uc->gw, raw, len);
    fs_after_upstream(uc->fs);
}

static void init_answered(struct upconn *uc, bool ok);

static void hc_ready(void *ud, const json_t *init_result, bool reinitialized)
{
    struct upconn *uc = ud;
    if (reinitialized) {
        log_info("server %s: its session expired; re-initialized it", uc->def->name);
        return;
    }
    struct rpc_err e = {0};
    if (gw_session_adopt_handshake(&uc->gw, uc->fs->init_params, init_result, &e) < 0) {
        snprintf(uc->fail_why, sizeof(uc->fail_why), "server '%.32s': %.400s", uc->def->name, e.msg);
        init_answered(uc, false);
        return;
    }
    json_decref(uc->init_result);
    uc->init_result = json_deep_copy(init_result);
    gw_fetch_tools(&uc->gw);
    init_answered(uc, true);
}

static void hc_failed(void *ud, const char *why)
{
    struct upconn *uc = ud;
    snprintf(uc->fail_why, sizeof(uc->fail_why), "server '%.32s': %.400s", uc->def->name, why);
    log_warnx("%s", uc->fail_why);
    if (uc->state == UP_STARTING) {
        init_answered(uc, false);
        return;
    }
    uc->state = UP_FAILED;
    up_gw_stop(uc, uc->fail_why);
    fs_after_upstream(uc->fs);
}

static const struct shttp_client_cbs hc_cbs = {hc_message, hc_ready, hc_failed};

static int up_http_start(struct upconn *uc, struct secret *tok)
{
    char err[256];
    const struct gw_server *d = uc->def;
    uint64_t to = d->timeout_us != 0 ? d->timeout_us : uc->fs->cfg->limits.request_timeout_us;
    struct shttp_client_opts o = {
        .url = d->url,
        .request_timeout_ms = (uint32_t)(to / 1000u),
        .max_message = uc->fs->cfg->limits.json.max_bytes,
    };
    /* Headers (configured, forwarded, the credential) are set before the
     * handshake and renewed before each message (up_http_send). */
    uc->hdr_set = false;
    uc->hc = shttp_client_new(uc->fs->srv->hc, &o, &hc_cbs, uc, err, sizeof(err));
    if (uc->hc != NULL && up_http_headers(uc, tok) < 0)
        str_copy(err, "cannot build its request headers", sizeof(err));
    else if (uc->hc != NULL && shttp_client_start(uc->hc, uc->fs->init_params) < 0)
        str_copy(err, "cannot start its session", sizeof(err));
    else if (uc->hc != NULL)
        return 0;
    snprintf(uc->fail_why, sizeof(uc->fail_why), "server '%.32s': %.400s", d->name, err);
    shttp_client_close(uc->hc);
    uc->hc = NULL;
    return -1;
}

/* ---- starting, restarting, stopping upstreams ------------------------------------- */

/* Spawns or connects the upstream with its credential (tok may be NULL). */
static int up_launch(struct upconn *uc, struct secret *tok)
{
    int rc = uc->def->url != NULL ? up_http_start(uc, tok) : up_stdio_start(uc, tok);
    if (rc < 0)
        return -1;
    if (uc->def->url == NULL)
        up_send_initialize(uc);
    return 0;
}

/* Starts the upstream; with a credential still being granted, the start
 * continues in up_cred_done (its failure is then reported there). */
static int up_start(struct upconn *uc)
{
    uc->state = UP_STARTING;
    uc->init_counted = false;
    uc->cred_failed = false;
    uc->fail_why[0] = '\0';
    up_gw_start(uc);
    struct secret *tok = NULL;
    char err[256];
    int rc = up_cred_get(uc, CW_START, &tok, err, sizeof(err));
    if (rc == 1)
        return 0;
    if (rc < 0) {
        up_cred_refused(uc, err);
        snprintf(uc->fail_why, sizeof(uc->fail_why), "server '%.32s': %.400s", uc->def->name, err);
        uc->cred_failed = true;
        return -1;
    }
    rc = up_launch(uc, tok);
    secret_unref(tok);
    return rc;
}

static void restart_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct upconn *uc = arg;
    if (uc->state != UP_RESTARTING)
        return;
    log_info("server %s: restarting (attempt %u)", uc->def->name, uc->restarts);
    metrics_restart(uc->fs->srv->metrics, uc->def->name);
    if (up_start(uc) < 0)
        up_restart_later(uc, uc->fail_why);
}

/* The upstream failed: answer what it held, then start it again after a
 * growing pause (stdio), or mark it failed (http: its client retries itself). */
static void up_restart_later(struct upconn *uc, const char *why)
{
    if (uc->state == UP_CLOSED || uc->state == UP_RESTARTING || uc->state == UP_FAILED)
        return;
    log_warnx("%s", why);
    str_copy(uc->fail_why, why, sizeof(uc->fail_why));
    if (!uc->ever_ready) {
        /* It never came up: that is a configuration problem, not a crash. */
        init_answered(uc, false);
        return;
    }
    /* The state changes first: failing what the upstream held below calls
     * back into here (its own initialize may be among it). */
    uc->state = UP_RESTARTING;
    up_gw_stop(uc, why);
    up_stdio_stop(uc);
    uc->restarts++;
    uc->backoff_ms = uc->backoff_ms == 0 ? RESTART_MIN_MS : uc->backoff_ms * 2;
    if (uc->backoff_ms > RESTART_MAX_MS)
        uc->backoff_ms = RESTART_MAX_MS;
    if (uc->restart_ev == NULL)
        uc->restart_ev = evtimer_new(uc->fs->srv->base, restart_cb, uc);
    struct timeval tv = {.tv_sec = uc->backoff_ms / 1000u,
                         .tv_usec = (suseconds_t)(uc->backoff_ms % 1000u) * 1000};
    evtimer_add(uc->restart_ev, &tv);
}

static void up_close(struct upconn *uc)
{
    if (uc->state == UP_CLOSED)
        return;
    uc->state = UP_CLOSED;
    up_cred_cancel(uc);
    size_t nh;
    struct up_held *h = up_held_take(uc, &nh);
    up_held_free(h, nh);
    uc->held_err[0] = '\0';
    if (uc->held_ev != NULL)
        event_free(uc->held_ev);
    uc->held_ev = NULL;
    secret_unref(uc->cur_tok);
    uc->cur_tok = NULL;
    up_gw_stop(uc, "the client session ended");
    up_stdio_stop(uc);
    shttp_client_close(uc->hc);
    uc->hc = NULL;
    if (uc->restart_ev != NULL)
        event_free(uc->restart_ev);
    uc->restart_ev = NULL;
    if (uc->exit_wait_ev != NULL)
        event_free(uc->exit_wait_ev);
    uc->exit_wait_ev = NULL;
    json_decref(uc->init_result);
    uc->init_result = NULL;
}

/* ---- initialize: fan-out and merge ------------------------------------------------ */

static struct freq *init_freq(struct fsess *fs)
{
    size_t it = 0;
    const char *k;
    size_t kl;
    void *v;
    while (map_next(&fs->reqs, &it, &k, &kl, &v))
        if (((struct freq *)v)->kind == FR_INIT)
            return v;
    return NULL;
}

static void merge_caps(json_t *into, const json_t *caps)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)caps, k, v) {
        if (strcmp(k, "experimental") == 0 || strcmp(k, "tasks") == 0)
            continue; /* not federated */
        json_t *have = json_object_get(into, k);
        if (have == NULL) {
            json_object_set_new(into, k, json_deep_copy(v));
        } else if (json_is_object(have) && json_is_object(v)) {
            /* listChanged / subscribe: true when any upstream has it */
            const char *kk;
            json_t *vv;
            json_object_foreach(v, kk, vv) if (json_is_true(vv))
                json_object_set(have, kk, vv);
        }
    }
}

static void init_finish(struct fsess *fs, struct freq *fr)
{
    json_t *caps = json_object();
    json_t *instr = json_array();
    const char *version = NULL;
    size_t ready = 0;
    for (size_t i = 0; i < fs->nups; i++) {
        struct upconn *uc = &fs->ups[i];
        if (uc->state != UP_READY || uc->init_result == NULL)
            continue;
        ready++;
        merge_caps(caps, json_object_get(uc->init_result, "capabilities"));
        const char *v = json_string_value(json_object_get(uc->init_result, "protocolVersion"));
        /* Several versions: answer the oldest, which every upstream speaks. */
        if (v != NULL && (version == NULL || strcmp(v, version) < 0))
            version = v;
        const char *in = json_string_value(json_object_get(uc->init_result, "instructions"));
        if (in != NULL && in[0] != '\0')
            json_array_append_new(instr, json_pack("{s:s,s:s}", "server", uc->def->name,
                                                   "instructions", in));
    }
    if (ready == 0) {
        char msg[700] = "no upstream MCP server could be started";
        const char *reason = "upstream_unavailable";
        for (size_t i = 0; i < fs->nups; i++) {
            if (fs->ups[i].fail_why[0] != '\0') {
                snprintf(msg, sizeof(msg), "no upstream MCP server could be started: %s",
                         fs->ups[i].fail_why);
                if (fs->ups[i].cred_failed)
                    reason = "credential_unavailable";
                break;
            }
        }
        json_decref(caps);
        json_decref(instr);
        freq_error(fr, MW_ERR_UPSTREAM, msg, reason);
        return;
    }
    json_t *res = json_object();
    json_object_set_new(res, "protocolVersion", json_string(version != NULL ? version : MCP_LATEST_VERSION));
    json_object_set_new(res, "capabilities", caps);
    if (!fs->namespaced && ready == 1) {
        /* One upstream shown as itself: its identity and instructions pass. */
        for (size_t i = 0; i < fs->nups; i++) {
            if (fs->ups[i].state == UP_READY) {
                json_t *si = json_object_get(fs->ups[i].init_result, "serverInfo");
                json_object_set(res, "serverInfo", si);
                json_t *in = json_object_get(fs->ups[i].init_result, "instructions");
                if (json_is_string(in))
                    json_object_set(res, "instructions", in);
            }
        }
    } else {
        json_object_set_new(res, "serverInfo", json_pack("{s:s,s:s,s:s}", "name", "mcpwall",
                                                         "title", "mcpwall gateway", "version",
                                                         MCPWALL_VERSION));
        if (json_array_size(instr) > 0) {
            struct buf b;
            buf_init(&b, 1 << 20);
            buf_append_str(&b, "This endpoint federates several MCP servers; tool and prompt "
                               "names are prefixed with the server name.");
            size_t i;
            json_t *x;
            json_array_foreach(instr, i, x) {
                buf_printf(&b, "\n\n## Server %s\n", json_string_value(json_object_get(x, "server")));
                buf_append_str(&b, json_string_value(json_object_get(x, "instructions")));
            }
            json_object_set_new(res, "instructions", json_stringn(buf_head(&b), buf_used(&b)));
            buf_free(&b);
        }
    }
    json_decref(instr);
    struct buf out;
    buf_init(&out, 4u << 20);
    rpc_emit_result(&out, fr->id, res);
    json_decref(res);
    freq_respond(fr, buf_head(&out), buf_used(&out));
    buf_free(&out);
}

/* An upstream answered (or failed) its initialize. */
static void init_answered(struct upconn *uc, bool ok)
{
    struct fsess *fs = uc->fs;
    if (uc->init_counted)
        return; /* this start was already settled (a failure reported twice) */
    if (ok) {
        uc->init_counted = true;
        uc->state = UP_READY;
        uc->ever_ready = true;
        uc->backoff_ms = 0;
    } else if (uc->ever_ready) {
        /* A restart attempt failed: try again later. */
        up_restart_later(uc, uc->fail_why[0] ? uc->fail_why : "initialize failed");
        return;
    } else if (uc->state == UP_STARTING) {
        uc->init_counted = true;
        uc->state = UP_FAILED;
        up_gw_stop(uc, uc->fail_why[0] ? uc->fail_why : "initialize failed");
        up_stdio_stop(uc);
        shttp_client_close(uc->hc);
        uc->hc = NULL;
    }
    struct freq *fr = init_freq(fs);
    if (fr == NULL)
        return; /* a restart */
    if (fr->waiting > 0)
        fr->waiting--;
    if (fr->waiting == 0)
        init_finish(fs, fr);
}

/* ---- messages from upstreams (through their pipelines) -------------------------------- */

/* Whether an upstream declared the capability a list needs. */
static bool up_lists(const struct upconn *uc, const char *list_key)
{
    if (uc->state != UP_READY || uc->init_result == NULL)
        return false;
    const char *cap = strcmp(list_key, "tools") == 0     ? "tools"
                      : strcmp(list_key, "prompts") == 0 ? "prompts"
                                                         : "resources";
    return json_is_object(json_object_get(json_object_get(uc->init_result, "capabilities"), cap));
}

/* One upstream's page of a list arrived (or failed): keep its items with the
 * server's prefix, and once every upstream asked has answered, answer the
 * client with all of them in upstream order and a cursor for what remains. */
static void list_part(struct fsess *fs, struct freq *fr, struct upconn *uc, const struct jtape *t,
                      const struct rpc_view *v)
{
    json_t *page = uc != NULL && v->kind == RPC_RESULT ? jt_json(t, v->result) : NULL;
    if (uc != NULL && v->kind == RPC_ERROR)
        log_info("server %s: %s failed; listing the other servers", uc->def->name, fr->list_key);
    if (page != NULL) {
        const char *sep = fs->cfg->separator;
        const char *field = strcmp(fr->list_key, "resources") == 0           ? "uri"
                            : strcmp(fr->list_key, "resourceTemplates") == 0 ? "uriTemplate"
                                                                              : "name";
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(page, fr->list_key), i, item) {
            json_t *f = json_object_get(item, field);
            if (!json_is_string(f))
                continue;
            struct buf nb;
            buf_init(&nb, json_string_length(f) + 64);
            buf_append_str(&nb, uc->def->name);
            buf_append_str(&nb, strcmp(field, "name") == 0 ? sep : "+");
            buf_append(&nb, json_string_value(f), json_string_length(f));
            json_object_set_new(item, field, json_stringn(buf_head(&nb), buf_used(&nb)));
            buf_free(&nb);
        }
        json_array_set_new(fr->parts, uc->idx, page);
    }
    if (fr->waiting > 0)
        fr->waiting--;
    if (fr->waiting > 0)
        return;

    json_t *items = json_array();
    json_t *next = json_array();
    for (size_t u = 0; u < fs->nups; u++) {
        json_t *p = json_array_get(fr->parts, u);
        if (!json_is_object(p))
            continue;
        json_array_extend(items, json_object_get(p, fr->list_key));
        json_t *nc = json_object_get(p, "nextCursor");
        if (json_is_string(nc))
            json_array_append_new(next, json_pack("[I,O]", (json_int_t)u, nc));
    }
    json_array_extend(next, fr->more);
    json_t *res = json_object();
    json_object_set_new(res, fr->list_key, items);
    if (json_array_size(next) > 0) {
        struct buf cur;
        buf_init(&cur, 1 << 20);
        cursor_encode(next, &cur);
        json_object_set_new(res, "nextCursor", json_stringn(buf_head(&cur), buf_used(&cur)));
        buf_free(&cur);
    }
    json_decref(next);
    struct buf out;
    buf_init(&out, fs->cfg->limits.json.max_bytes + 65536);
    if (rpc_emit_result(&out, fr->id, res) < 0) {
        json_decref(res);
        buf_free(&out);
        freq_error(fr, MW_ERR_UPSTREAM, "the merged list exceeds the message size limit",
                   "list_too_large");
        return;
    }
    json_decref(res);
    freq_respond(fr, buf_head(&out), buf_used(&out));
    buf_free(&out);
}

/* Prefixes a "uri" member with the server's name (server+uri). */
static bool prefix_uri(json_t *obj, const char *server)
{
    json_t *u = json_object_get(obj, "uri");
    if (!json_is_string(u))
        return false;
    struct buf nb;
    buf_init(&nb, json_string_length(u) + 64);
    buf_append_str(&nb, server);
    buf_append_char(&nb, '+');
    buf_append(&nb, json_string_value(u), json_string_length(u));
    json_object_set_new(obj, "uri", json_stringn(buf_head(&nb), buf_used(&nb)));
    buf_free(&nb);
    return true;
}

/* Resource URIs inside results name the gateway's mapping, so a client can
 * read what a result links to: resources/read contents, and resource links
 * and embedded resources in tool results and prompt messages. Results with
 * none pass as their original bytes. */
static void result_uris(struct fsess *fs, struct freq *fr, struct upconn *uc,
                        const struct jtape *t, size_t result, const char *msg, size_t len)
{
    const char *needle = "\"uri\"";
    if (memmem(t->src + t->tok[result].start, t->tok[result].len, needle, 5) == NULL) {
        freq_respond(fr, msg, len);
        return;
    }
    json_t *res = jt_json(t, result);
    if (res == NULL) {
        freq_error(fr, RPC_INTERNAL_ERROR, "out of memory", "internal");
        return;
    }
    const char *server = uc->def->name;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(res, "contents"), i, x) prefix_uri(x, server);
    json_t *items = json_object_get(res, "content");
    json_array_foreach(items, i, x) {
        prefix_uri(x, server);                              /* resource_link */
        prefix_uri(json_object_get(x, "resource"), server); /* embedded resource */
    }
    json_array_foreach(json_object_get(res, "messages"), i, x) {
        json_t *c = json_object_get(x, "content");
        prefix_uri(c, server);
        prefix_uri(json_object_get(c, "resource"), server);
    }
    struct buf out;
    buf_init(&out, fs->cfg->limits.json.max_bytes + 65536);
    rpc_emit_result(&out, fr->id, res);
    json_decref(res);
    freq_respond(fr, buf_head(&out), buf_used(&out));
    buf_free(&out);
}

static void fed_from_upstream(struct upconn *uc, const char *msg, size_t len)
{
    struct fsess *fs = uc->fs;
    struct jtape *t = &fs->tape;
    struct rpc_view v;
    struct rpc_err e = {0};
    if (rpc_scan(t, msg, len, NULL, &v, &e) < 0) {
        /* The pipeline only passes valid messages; this cannot happen. */
        log_warnx("server %s: internal: unreadable message from the pipeline", uc->def->name);
        rpc_err_clear(&e);
        return;
    }
    char key[160];
    size_t kl = v.id != JT_NONE ? rpc_id_key_tape(t, v.id, key, sizeof(key)) : 0;

    if (v.kind == RPC_RESULT || v.kind == RPC_ERROR) {
        /* The gateway's own initialize of this upstream. */
        if (kl > 2 && key[0] == 's' && strcmp(key + 2, uc->init_id) == 0) {
            if (v.kind == RPC_RESULT) {
                json_decref(uc->init_result);
                uc->init_result = jt_json(t, v.result);
                static const char inited[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
                gw_client_message(&uc->gw, inited, sizeof(inited) - 1);
                if (uc->restarts > 0 && init_freq(fs) == NULL)
                    log_info("server %s: back after a restart", uc->def->name);
                init_answered(uc, true);
            } else {
                size_t m = jt_get(t, v.error, "message");
                size_t ml;
                const char *mp = jt_str(t, m, &ml, &t->scratch);
                snprintf(uc->fail_why, sizeof(uc->fail_why), "server '%s' refused initialize: %.*s",
                         uc->def->name, (int)(mp != NULL && ml < 150 ? ml : 0), mp != NULL ? mp : "");
                init_answered(uc, false);
            }
            return;
        }
        struct freq *fr = freq_find(fs, key, kl);
        if (fr == NULL)
            return; /* cancelled or abandoned meanwhile */
        if (fr->kind == FR_LIST) {
            list_part(fs, fr, uc, t, &v);
        } else if (fr->kind == FR_FANOUT) {
            if (fr->waiting > 0)
                fr->waiting--;
            if (fr->waiting == 0) {
                static const char ok[] = "{}";
                struct buf out;
                buf_init(&out, 4096);
                json_t *empty = json_loadb(ok, 2, 0, NULL);
                rpc_emit_result(&out, fr->id, empty);
                json_decref(empty);
                freq_respond(fr, buf_head(&out), buf_used(&out));
                buf_free(&out);
            }
        } else if (fs->namespaced && v.kind == RPC_RESULT &&
                   (fr->method == MCP_M_RESOURCES_READ || fr->method == MCP_M_TOOLS_CALL ||
                    fr->method == MCP_M_PROMPTS_GET)) {
            result_uris(fs, fr, uc, t, v.result, msg, len);
        } else {
            freq_respond(fr, msg, len);
        }
        return;
    }

    if (v.kind == RPC_REQUEST) {
        /* A server->client request: give it an id of ours unless there is one
         * upstream (then ids cannot collide and pass unchanged). */
        struct s2c_map *sm = calloc(1, sizeof(*sm));
        if (sm == NULL)
            return;
        sm->up = uc->idx;
        size_t rl;
        const char *raw = jt_raw(t, v.id, &rl);
        if (rl >= sizeof(sm->orig)) {
            free(sm);
            return;
        }
        memcpy(sm->orig, raw, rl);
        sm->origlen = rl;
        struct buf out;
        buf_init(&out, len + 64);
        char nid[64];
        int nn = 0;
        if (fs->nups > 1) {
            nn = snprintf(nid, sizeof(nid), "\"mcpwall-%llu\"", (unsigned long long)++fs->next_s2c);
            splice(&out, t, v.id, nid, (size_t)nn);
        } else {
            buf_append(&out, msg, len);
            memcpy(nid, raw, rl);
            nn = (int)rl;
        }
        /* Key of the id the client will answer with. */
        struct jtape kt;
        jtape_init(&kt);
        char ck[160];
        size_t ckl = 0;
        struct json_err je;
        if (jtape_parse(&kt, nid, (size_t)nn, NULL, &je) == 0)
            ckl = rpc_id_key_tape(&kt, 0, ck, sizeof(ck));
        jtape_free(&kt);
        if (ckl == 0 || map_put(&fs->s2c, ck, ckl, sm) < 0) {
            free(sm);
            buf_free(&out);
            return;
        }
        struct shttp_stream *st = stream_for_upstream(fs, uc->idx);
        if (st == NULL || shttp_stream_send(st, buf_head(&out), buf_used(&out)) != SHTTP_OK)
            send_unsolicited(fs, buf_head(&out), buf_used(&out));
        buf_free(&out);
        return;
    }

    /* Notifications. */
    const struct mcp_method *mm = mcp_method_lookup(v.method_str, v.method_len);
    enum mcp_method_id mid = mm != NULL ? mm->id : MCP_M_UNKNOWN;
    if (mid == MCP_N_PROGRESS) {
        char pk[160];
        size_t pkl = rpc_id_key_tape(t, jt_get(t, v.params, "progressToken"), pk, sizeof(pk));
        size_t it = 0;
        const char *k;
        size_t kkl;
        void *val;
        while (pkl > 0 && map_next(&fs->reqs, &it, &k, &kkl, &val)) {
            struct freq *fr = val;
            if (fr->up == uc->idx && strcmp(fr->progress, pk) == 0) {
                shttp_stream_send(fr->st, msg, len);
                return;
            }
        }
        return; /* progress for nothing in flight */
    }
    if (mid == MCP_N_RESOURCES_UPDATED && fs->namespaced) {
        size_t ut = jt_get(t, v.params, "uri");
        size_t ul;
        const char *u = jt_str(t, ut, &ul, &t->scratch);
        if (u != NULL) {
            struct buf nu, out;
            buf_init(&nu, ul + 64);
            buf_init(&out, len + 128);
            buf_append_str(&nu, uc->def->name);
            buf_append_char(&nu, '+');
            buf_append(&nu, u, ul);
            splice_str(&out, t, ut, buf_head(&nu), buf_used(&nu));
            send_unsolicited(fs, buf_head(&out), buf_used(&out));
            buf_free(&nu);
            buf_free(&out);
        }
        return;
    }
    if (mid == MCP_N_MESSAGE) {
        struct shttp_stream *st = stream_for_upstream(fs, uc->idx);
        if (st != NULL && shttp_stream_send(st, msg, len) == SHTTP_OK)
            return;
    }
    send_unsolicited(fs, msg, len);
}

/* ---- messages from the client --------------------------------------------------------- */

/* Splits "server<sep>name" (tools, prompts) or "server+uri" (resources). */
static struct upconn *route_name(struct fsess *fs, const char *s, size_t n, bool uri,
                                 const char **local, size_t *locallen)
{
    if (!fs->namespaced) {
        *local = s;
        *locallen = n;
        return fs->nups > 0 ? &fs->ups[0] : NULL;
    }
    const char *sep = uri ? "+" : fs->cfg->separator;
    size_t sl = strlen(sep);
    for (size_t i = 0; i + sl <= n; i++) {
        if (memcmp(s + i, sep, sl) != 0)
            continue;
        for (size_t u = 0; u < fs->nups; u++) {
            const char *nm = fs->ups[u].def->name;
            if (strlen(nm) == i && memcmp(nm, s, i) == 0) {
                *local = s + i + sl;
                *locallen = n - i - sl;
                return &fs->ups[u];
            }
        }
        return NULL;
    }
    return NULL;
}

static int up_unavailable(struct upconn *uc, struct shttp_stream *st, const json_t *id)
{
    char msg[700];
    if (uc->state == UP_RESTARTING)
        snprintf(msg, sizeof(msg), "the MCP server '%s' is restarting; try again shortly",
                 uc->def->name);
    else
        snprintf(msg, sizeof(msg), "the MCP server '%s' is unavailable%s%s", uc->def->name,
                 uc->fail_why[0] ? ": " : "", uc->fail_why);
    respond_error(st, id, MW_ERR_UPSTREAM, msg,
                  uc->cred_failed ? "credential_unavailable" : "upstream_unavailable", NULL);
    return 0;
}

static struct freq *freq_new(struct fsess *fs, struct shttp_stream *st, const char *key, size_t kl,
                             const json_t *id, enum freq_kind kind)
{
    struct freq *fr = calloc(1, sizeof(*fr));
    if (fr == NULL || kl >= sizeof(fr->key)) {
        free(fr);
        return NULL;
    }
    fr->fs = fs;
    fr->st = st;
    fr->kind = kind;
    memcpy(fr->key, key, kl);
    fr->keylen = kl;
    fr->id = json_deep_copy(id);
    if (map_put(&fs->reqs, fr->key, fr->keylen, fr) < 0) {
        json_decref(fr->id);
        free(fr);
        return NULL;
    }
    return fr;
}

/* Sends a message into an upstream's pipeline (as coming from the client). */
static void to_upstream(struct upconn *uc, const char *msg, size_t len)
{
    metrics_bytes(uc->fs->srv->metrics, len, 0);
    uc->gw.batch_more = false;
    gw_client_message(&uc->gw, msg, len);
}

static int fed_request(struct fsess *fs, const struct rpc_msg *m, const char *raw, size_t len,
                       struct shttp_stream *st)
{
    struct jtape *t = &fs->tape;
    struct rpc_view v;
    struct rpc_err e = {0};
    if (rpc_scan(t, raw, len, &fs->cfg->limits.json, &v, &e) < 0) {
        respond_error(st, m->id, e.code, e.msg, e.reason, NULL);
        rpc_err_clear(&e);
        return 0;
    }
    char key[160];
    size_t kl = rpc_id_key_tape(t, v.id, key, sizeof(key));
    const struct mcp_method *mm = mcp_method_lookup(v.method_str, v.method_len);
    enum mcp_method_id mid = mm != NULL ? mm->id : MCP_M_UNKNOWN;

    /* The stateless era is recognised and answered clearly. */
    size_t ver = jt_get(t, jt_get(t, v.params, "_meta"), "io.modelcontextprotocol/protocolVersion");
    if (ver != JT_NONE || (mm != NULL && mm->revs == MCP_REV_2026_07_28)) {
        size_t vl;
        const char *vs = jt_str(t, ver, &vl, &t->scratch);
        char vbuf[32] = MCP_MODERN_VERSION;
        if (vs != NULL)
            snprintf(vbuf, sizeof(vbuf), "%.*s", (int)(vl < 31 ? vl : 31), vs);
        mcp_unsupported_version_err(&e, vbuf);
        json_t *data = mcp_unsupported_version_data(vbuf);
        respond_error(st, m->id, e.code, e.msg, e.reason, data);
        json_decref(data);
        return 0;
    }
    if (mid == MCP_M_INITIALIZE) {
        /* The client's handshake is checked once here; each upstream then gets
         * the gateway's own initialize with these params. */
        struct mcp_lifecycle lc;
        bool rw;
        mcp_lc_init(&lc);
        enum mcp_lc_action a = mcp_lc_client(&lc, m, mm, &rw, &e);
        mcp_lc_free(&lc);
        if (a != MCP_LC_PASS)
            return respond_error(st, m->id, e.code, e.msg, e.reason, NULL);
        struct freq *fr = freq_new(fs, st, key, kl, m->id, FR_INIT);
        if (fr == NULL)
            return respond_error(st, m->id, RPC_INTERNAL_ERROR, "out of memory", "internal", NULL);
        fs->init_params = json_incref(m->params);
        fr->waiting = fs->nups;
        for (size_t i = 0; i < fs->nups; i++) {
            struct upconn *uc = &fs->ups[i];
            if (up_start(uc) < 0) {
                uc->state = UP_STARTING;
                init_answered(uc, false);
                if (freq_find(fs, key, kl) == NULL)
                    return 0; /* all failed: answered */
            }
        }
        if (fs->nups == 0)
            init_finish(fs, fr);
        return 0;
    }
    if (mid == MCP_M_PING) {
        json_t *empty = json_object();
        struct buf out;
        buf_init(&out, 1024);
        rpc_emit_result(&out, m->id, empty);
        json_decref(empty);
        shttp_stream_respond(st, buf_head(&out), buf_used(&out));
        buf_free(&out);
        return 0;
    }
    if (!fs->client_initialized) {
        char name[80];
        snprintf(name, sizeof(name), "%.*s", (int)(v.method_len < 60 ? v.method_len : 60),
                 v.method_str);
        char msg[200];
        snprintf(msg, sizeof(msg), "\"%s\" sent before notifications/initialized: finish the "
                 "handshake first", name);
        return respond_error(st, m->id, RPC_INVALID_REQUEST, msg, "not_initialized", NULL);
    }

    /* Lists: paged across upstreams (or passed through with one upstream). */
    const char *list_key = NULL;
    switch (mid) {
    case MCP_M_TOOLS_LIST: list_key = "tools"; break;
    case MCP_M_PROMPTS_LIST: list_key = "prompts"; break;
    case MCP_M_RESOURCES_LIST: list_key = "resources"; break;
    case MCP_M_RESOURCES_TEMPLATES_LIST: list_key = "resourceTemplates"; break;
    default: break;
    }
    if (list_key != NULL && fs->namespaced) {
        /* Without a cursor: the first page of every server that lists these.
         * With one of our cursors: the next page of the first pending server. */
        json_t *pairs = NULL;
        size_t ct = jt_get(t, v.params, "cursor");
        if (ct != JT_NONE) {
            size_t cl;
            const char *cs = jt_str(t, ct, &cl, &t->scratch);
            pairs = cs != NULL ? cursor_decode(cs, cl, fs->nups) : NULL;
            if (pairs == NULL)
                return respond_error(st, m->id, RPC_INVALID_PARAMS,
                                     "invalid cursor: use the nextCursor of a previous page",
                                     "bad_cursor", NULL);
        }
        struct freq *fr = freq_new(fs, st, key, kl, m->id, FR_LIST);
        if (fr == NULL) {
            json_decref(pairs);
            return respond_error(st, m->id, RPC_INTERNAL_ERROR, "out of memory", "internal", NULL);
        }
        fr->method = mid;
        str_copy(fr->list_key, list_key, sizeof(fr->list_key));
        fr->parts = json_array();
        for (size_t i = 0; i < fs->nups; i++)
            json_array_append_new(fr->parts, json_null());
        fr->more = json_array();
        json_t *ask = json_array(); /* [[upstream, cursor|null], ...] to send now */
        if (pairs == NULL) {
            for (size_t i = 0; i < fs->nups; i++)
                if (up_lists(&fs->ups[i], list_key))
                    json_array_append_new(ask, json_pack("[I,n]", (json_int_t)i));
        } else {
            json_array_append(ask, json_array_get(pairs, 0));
            for (size_t i = 1; i < json_array_size(pairs); i++)
                json_array_append(fr->more, json_array_get(pairs, i));
            json_decref(pairs);
        }
        size_t i;
        json_t *p;
        json_array_foreach(ask, i, p) {
            size_t up = (size_t)json_integer_value(json_array_get(p, 0));
            if (!up_lists(&fs->ups[up], list_key))
                continue; /* restarting or failed: skipped this time */
            fr->waiting++;
        }
        if (fr->waiting == 0) {
            /* Nothing can be listed now: an empty page (with what remains). */
            json_decref(ask);
            fr->waiting = 1;
            struct rpc_view none = {.kind = RPC_ERROR};
            list_part(fs, fr, NULL, t, &none);
            return 0;
        }
        json_array_foreach(ask, i, p) {
            size_t up = (size_t)json_integer_value(json_array_get(p, 0));
            if (!up_lists(&fs->ups[up], list_key))
                continue;
            json_t *params = json_object();
            json_t *c = json_array_get(p, 1);
            if (json_is_string(c))
                json_object_set(params, "cursor", c);
            struct buf req;
            buf_init(&req, 65536);
            rpc_emit_request(&req, m->id, mm->name, params);
            json_decref(params);
            to_upstream(&fs->ups[up], buf_head(&req), buf_used(&req));
            buf_free(&req);
        }
        json_decref(ask);
        return 0;
    }
    if (mid == MCP_M_LOGGING_SET_LEVEL && fs->nups > 1) {
        struct freq *fr = freq_new(fs, st, key, kl, m->id, FR_FANOUT);
        if (fr == NULL)
            return respond_error(st, m->id, RPC_INTERNAL_ERROR, "out of memory", "internal", NULL);
        for (size_t i = 0; i < fs->nups; i++)
            if (fs->ups[i].state == UP_READY)
                fr->waiting++;
        size_t sent = 0;
        for (size_t i = 0; i < fs->nups; i++)
            if (fs->ups[i].state == UP_READY) {
                to_upstream(&fs->ups[i], raw, len);
                sent++;
            }
        if (sent == 0)
            freq_error(fr, MW_ERR_UPSTREAM, "no upstream MCP server is available",
                       "upstream_unavailable");
        return 0;
    }

    /* Everything else goes to one upstream: by name, by URI, or the only one. */
    size_t target = JT_NONE;
    bool uri = false;
    switch (mid) {
    case MCP_M_TOOLS_CALL:
    case MCP_M_PROMPTS_GET:
        target = jt_get(t, v.params, "name");
        break;
    case MCP_M_RESOURCES_READ:
    case MCP_M_RESOURCES_SUBSCRIBE:
    case MCP_M_RESOURCES_UNSUBSCRIBE:
        target = jt_get(t, v.params, "uri");
        uri = true;
        break;
    case MCP_M_COMPLETION_COMPLETE: {
        size_t ref = jt_get(t, v.params, "ref");
        if (jt_str_eq(t, jt_get(t, ref, "type"), "ref/resource", 12)) {
            target = jt_get(t, ref, "uri");
            uri = true;
        } else {
            target = jt_get(t, ref, "name");
        }
        break;
    }
    default:
        break;
    }
    struct upconn *uc = NULL;
    const char *local = NULL;
    size_t locallen = 0;
    struct buf rewritten;
    buf_init(&rewritten, len + 64);
    const char *fwd = raw;
    size_t fwdlen = len;
    if (target != JT_NONE && jt_type(t, target) == JT_STRING) {
        size_t nl;
        const char *nm = jt_str(t, target, &nl, &t->scratch);
        uc = nm != NULL ? route_name(fs, nm, nl, uri, &local, &locallen) : NULL;
        if (uc == NULL) {
            buf_free(&rewritten);
            char msg[300];
            snprintf(msg, sizeof(msg), "no server of this gateway offers \"%.*s\"%s",
                     (int)(nm != NULL && nl < 120 ? nl : 0), nm != NULL ? nm : "",
                     uri ? " (resource URIs are <server>+<uri>)"
                         : " (names are <server><separator><name>)");
            return respond_error(st, m->id, RPC_INVALID_PARAMS, msg, "unknown_target", NULL);
        }
        if (fs->namespaced) {
            splice_str(&rewritten, t, target, local, locallen);
            fwd = buf_head(&rewritten);
            fwdlen = buf_used(&rewritten);
        }
    } else if (!fs->namespaced && fs->nups == 1) {
        uc = &fs->ups[0];
    } else if (target != JT_NONE || mid == MCP_M_TOOLS_CALL || mid == MCP_M_PROMPTS_GET ||
               mid == MCP_M_RESOURCES_READ) {
        buf_free(&rewritten);
        return respond_error(st, m->id, RPC_INVALID_PARAMS, "the request needs a string target "
                             "(params.name or params.uri)", "bad_params", NULL);
    } else {
        buf_free(&rewritten);
        char msg[200];
        snprintf(msg, sizeof(msg), "\"%.*s\" cannot be federated across several servers",
                 (int)(v.method_len < 60 ? v.method_len : 60), v.method_str);
        return respond_error(st, m->id, RPC_METHOD_NOT_FOUND, msg, "not_federated", NULL);
    }
    if (uc->state != UP_READY) {
        buf_free(&rewritten);
        return up_unavailable(uc, st, m->id);
    }
    struct freq *fr = freq_new(fs, st, key, kl, m->id, FR_ROUTED);
    if (fr == NULL) {
        buf_free(&rewritten);
        return respond_error(st, m->id, RPC_INTERNAL_ERROR, "out of memory, or the id is too long",
                             "internal", NULL);
    }
    fr->method = mid;
    fr->up = uc->idx;
    size_t pt = jt_get(t, jt_get(t, v.params, "_meta"), "progressToken");
    if (pt != JT_NONE)
        rpc_id_key_tape(t, pt, fr->progress, sizeof(fr->progress));
    to_upstream(uc, fwd, fwdlen);
    buf_free(&rewritten);
    return 0;
}

static int fed_notification_or_response(struct fsess *fs, const struct rpc_msg *m,
                                        const char *raw, size_t len)
{
    struct jtape *t = &fs->tape;
    struct rpc_view v;
    struct rpc_err e = {0};
    if (rpc_scan(t, raw, len, &fs->cfg->limits.json, &v, &e) < 0) {
        rpc_err_clear(&e);
        return 400;
    }
    (void)m;
    if (v.kind == RPC_RESULT || v.kind == RPC_ERROR) {
        /* An answer to a server->client request. */
        char key[160];
        size_t kl = v.id != JT_NONE ? rpc_id_key_tape(t, v.id, key, sizeof(key)) : 0;
        struct s2c_map *sm = kl > 0 ? map_del(&fs->s2c, key, kl) : NULL;
        if (sm == NULL)
            return 400;
        struct upconn *uc = &fs->ups[sm->up];
        if (uc->state == UP_READY) {
            struct buf out;
            buf_init(&out, len + 256);
            splice(&out, t, v.id, sm->orig, sm->origlen);
            to_upstream(uc, buf_head(&out), buf_used(&out));
            buf_free(&out);
        }
        free(sm);
        return 0;
    }
    const struct mcp_method *mm = mcp_method_lookup(v.method_str, v.method_len);
    enum mcp_method_id mid = mm != NULL ? mm->id : MCP_M_UNKNOWN;
    if (mid == MCP_N_INITIALIZED) {
        fs->client_initialized = true;
        return 0; /* each upstream got ours when it answered initialize */
    }
    if (mid == MCP_N_CANCELLED) {
        char key[160];
        size_t kl = rpc_id_key_tape(t, jt_get(t, v.params, "requestId"), key, sizeof(key));
        struct freq *fr = freq_find(fs, key, kl);
        if (fr == NULL)
            return 0;
        for (size_t i = 0; i < fs->nups; i++) {
            bool involved = fr->kind == FR_LIST || (fr->kind == FR_ROUTED && fr->up == i);
            if (involved && fs->ups[i].state == UP_READY)
                to_upstream(&fs->ups[i], raw, len);
        }
        /* No response after a cancellation (spec). */
        shttp_stream_release(fr->st);
        freq_free(fr);
        return 0;
    }
    /* roots/list_changed and anything else a client may notify: to every upstream. */
    for (size_t i = 0; i < fs->nups; i++)
        if (fs->ups[i].state == UP_READY)
            to_upstream(&fs->ups[i], raw, len);
    return 0;
}

/* ---- the shttp application --------------------------------------------------------------- */

/* Replaces a forwarded header line when it changed; true when it did. */
static bool fwd_set(char **slot, const char *name, const char *value)
{
    char line[FWD_VALUE_MAX + 80];
    bool want = value != NULL && strlen(value) <= FWD_VALUE_MAX && strlen(name) < 64;
    if (want)
        snprintf(line, sizeof(line), "%s: %s", name, value);
    if ((*slot == NULL && !want) || (*slot != NULL && want && strcmp(*slot, line) == 0))
        return false;
    free(*slot);
    *slot = want ? strdup(line) : NULL;
    return true;
}

/* What a request says about its caller, for every upstream session of it:
 * the identity (the transport admits only requests of the principal that
 * opened the session, so only its roles or expiry can change, with a new
 * token), the model hint (per request; unverified), and for HTTP upstreams
 * the client headers forwarded on purpose and the client's own token (kept
 * as a secret so no header line carrying it is ever sent upstream). */
static void fs_take_request(struct fsess *fs, struct http_request *req)
{
    struct identity *id = http_request_identity(req);
    if (id != NULL && id != fs->ident) {
        identity_unref(fs->ident);
        fs->ident = identity_ref(id);
        for (size_t i = 0; i < fs->nups && fs->ups != NULL; i++)
            if (fs->ups[i].gw_live)
                gw_session_set_identity(&fs->ups[i].gw, id);
    }
    const char *mh = authn_model_header(fs->srv->authn);
    const char *mv = mh != NULL ? http_request_header(req, mh) : NULL;
    char model[sizeof(fs->model)];
    str_copy(model, mv != NULL ? mv : "", sizeof(model));
    if (strcmp(model, fs->model) != 0) {
        memcpy(fs->model, model, sizeof(model));
        for (size_t i = 0; i < fs->nups && fs->ups != NULL; i++)
            if (fs->ups[i].gw_live)
                str_copy(fs->ups[i].gw.model_hint, model, sizeof(fs->ups[i].gw.model_hint));
    }
    if (!fs->has_http)
        return;
    bool changed = false;
    changed |= fwd_set(&fs->fwd_slot[0], "traceparent", http_request_header(req, "traceparent"));
    changed |= fwd_set(&fs->fwd_slot[1], "tracestate", http_request_header(req, "tracestate"));
    changed |= fwd_set(&fs->fwd_slot[2], mh != NULL ? mh : "x-model-id", mv);
    if (changed) {
        size_t o = 0;
        memset(fs->fwd, 0, sizeof(fs->fwd));
        for (size_t i = 0; i < 3; i++)
            if (fs->fwd_slot[i] != NULL)
                fs->fwd[o++] = fs->fwd_slot[i];
    }
    size_t tl = 0;
    const char *t = authn_request_token(req, &tl);
    bool same = t == NULL ? fs->client_tok == NULL
                          : fs->client_tok != NULL && secret_equals(fs->client_tok, t, tl);
    if (!same) {
        secret_unref(fs->client_tok);
        fs->client_tok = t != NULL ? secret_new(t, tl, "the client's bearer token") : NULL;
        changed = true;
    }
    if (changed)
        fs->hdr_gen++;
}

static void fs_forget_request(struct fsess *fs)
{
    identity_unref(fs->ident);
    fs->ident = NULL;
    for (size_t i = 0; i < 3; i++) {
        free(fs->fwd_slot[i]);
        fs->fwd_slot[i] = NULL;
    }
    memset(fs->fwd, 0, sizeof(fs->fwd));
    secret_unref(fs->client_tok);
    fs->client_tok = NULL;
}

static int app_session_open(void *app, struct shttp_session *s, struct http_request *req,
                            const struct rpc_msg *init, void **sess_ud)
{
    (void)init;
    struct serve *srv = app;
    if (srv->stopping)
        return 503;
    struct fsess *fs = calloc(1, sizeof(*fs));
    if (fs == NULL)
        return 503;
    fs->srv = srv;
    fs->hs = s;
    fs->cfg = gwconfig_ref(srv->cfg);
    rl_alert_init(&fs->alert);
    for (size_t i = 0; i < fs->cfg->nservers; i++)
        fs->has_http |= fs->cfg->servers[i].url != NULL;
    fs_take_request(fs, req);
    fs->namespaced = gwconfig_namespaced(fs->cfg);
    map_init(&fs->reqs);
    map_init(&fs->s2c);
    jtape_init(&fs->tape);
    fs->nups = fs->cfg->nservers;
    fs->ups = calloc(fs->nups ? fs->nups : 1, sizeof(*fs->ups));
    if (fs->ups == NULL) {
        fs_forget_request(fs);
        gwconfig_free(fs->cfg);
        free(fs);
        return 503;
    }
    for (size_t i = 0; i < fs->nups; i++) {
        fs->ups[i].fs = fs;
        fs->ups[i].idx = i;
        fs->ups[i].def = &fs->cfg->servers[i];
        fs->ups[i].child.pid = -1;
        fs->ups[i].child.in_fd = fs->ups[i].child.out_fd = fs->ups[i].child.err_fd = -1;
        fs->ups[i].child.ev_fd = -1;
        fs->ups[i].state = UP_STARTING;
    }
    fs->next = srv->sessions;
    if (srv->sessions != NULL)
        srv->sessions->prev = fs;
    srv->sessions = fs;
    metrics_session(srv->metrics, 1);
    *sess_ud = fs;
    return 0;
}

static void app_session_close(void *app, void *sess_ud, enum shttp_close_reason why)
{
    struct serve *srv = app;
    struct fsess *fs = sess_ud;
    log_debug("session closed: %s", shttp_close_reason_name(why));
    fs->closing = true;
    fs->hs = NULL;
    for (size_t i = 0; i < fs->nups; i++)
        up_close(&fs->ups[i]);
    size_t it = 0;
    const char *k;
    size_t kl;
    void *v;
    while (map_next(&fs->reqs, &it, &k, &kl, &v)) {
        struct freq *fr = v;
        shttp_stream_release(fr->st);
        json_decref(fr->id);
        free(fr);
    }
    map_free(&fs->reqs);
    it = 0;
    while (map_next(&fs->s2c, &it, &k, &kl, &v))
        free(v);
    map_free(&fs->s2c);
    jtape_free(&fs->tape);
    json_decref(fs->init_params);
    fs_forget_request(fs);
    free(fs->ups);
    if (fs->prev != NULL)
        fs->prev->next = fs->next;
    else
        srv->sessions = fs->next;
    if (fs->next != NULL)
        fs->next->prev = fs->prev;
    gwconfig_free(fs->cfg);
    free(fs);
    metrics_session(srv->metrics, -1);
    serve_flush(srv);
}

static int app_on_message(void *app, void *sess_ud, struct http_request *req,
                          const struct rpc_msg *m, const char *raw, size_t rawlen,
                          struct shttp_stream *st)
{
    struct serve *srv = app;
    struct fsess *fs = sess_ud;
    fs_take_request(fs, req);
    metrics_bytes(srv->metrics, rawlen, 0);
    int rc;
    if (st != NULL)
        rc = fed_request(fs, m, raw, rawlen, st);
    else
        rc = fed_notification_or_response(fs, m, raw, rawlen);
    fs_after_upstream(fs);
    return rc;
}

static void app_on_abandoned(void *app, void *sess_ud, struct shttp_stream *st)
{
    (void)app;
    struct fsess *fs = sess_ud;
    size_t it = 0;
    const char *k;
    size_t kl;
    void *v;
    struct freq *found = NULL;
    while (map_next(&fs->reqs, &it, &k, &kl, &v)) {
        if (((struct freq *)v)->st == st) {
            found = v;
            break;
        }
    }
    if (found == NULL) {
        shttp_stream_release(st);
        return;
    }
    /* The client left: cancel the work upstream. */
    json_t *params = json_pack("{s:O,s:s}", "requestId", found->id, "reason",
                               "the client went away (mcpwall)");
    struct buf b;
    buf_init(&b, 4096);
    if (params != NULL && rpc_emit_notification(&b, "notifications/cancelled", params) == 0) {
        for (size_t i = 0; i < fs->nups; i++) {
            bool involved = found->kind == FR_LIST || (found->kind == FR_ROUTED && found->up == i);
            if (involved && fs->ups[i].state == UP_READY)
                to_upstream(&fs->ups[i], buf_head(&b), buf_used(&b));
        }
    }
    buf_free(&b);
    json_decref(params);
    shttp_stream_release(st);
    freq_free(found);
    fs_after_upstream(fs);
}

static const struct shttp_app_ops app_ops = {app_session_open, app_session_close, app_on_message,
                                             app_on_abandoned};

/* ---- admin endpoints ----------------------------------------------------------------- */

static void auth_stats_add(struct authn_stats *to, const struct authn_stats *a)
{
    to->allowed += a->allowed;
    to->no_credentials += a->no_credentials;
    to->bad_request += a->bad_request;
    to->invalid_token += a->invalid_token;
    to->insufficient_scope += a->insufficient_scope;
    to->unavailable += a->unavailable;
    to->pending += a->pending;
    to->jwks_fetches += a->jwks_fetches;
    to->jwks_failures += a->jwks_failures;
    to->jwks_loaded += a->jwks_loaded;
    to->kid_refreshes += a->kid_refreshes;
    to->kid_refused += a->kid_refused;
    to->cache_hits += a->cache_hits;
}

/* Authentication and upstream-credential counters (never a credential: the
 * labels are outcome classes and credential names). */
static void metrics_auth(const struct serve *srv, struct buf *b)
{
    struct authn_stats st = srv->auth_base;
    auth_stats_add(&st, authn_stats(srv->authn));
    static const char req[] = "mcpwall_auth_requests_total";
    static const char reqh[] = "Authentication decisions on the MCP endpoint, by result.";
    metrics_put_counter(b, req, reqh, "result", "allowed", st.allowed, true);
    metrics_put_counter(b, req, reqh, "result", "no_credentials", st.no_credentials, false);
    metrics_put_counter(b, req, reqh, "result", "bad_request", st.bad_request, false);
    metrics_put_counter(b, req, reqh, "result", "invalid_token", st.invalid_token, false);
    metrics_put_counter(b, req, reqh, "result", "insufficient_scope", st.insufficient_scope, false);
    metrics_put_counter(b, req, reqh, "result", "unavailable", st.unavailable, false);
    metrics_put_counter(b, "mcpwall_auth_pending_total", "Requests held for a JWKS fetch.", NULL,
                   NULL, st.pending, true);
    metrics_put_counter(b, "mcpwall_auth_token_cache_hits_total",
                   "JWTs accepted from the verified-token cache.", NULL, NULL, st.cache_hits, true);
    metrics_put_counter(b, "mcpwall_jwks_fetches_total", "JWK Set fetches (or file re-reads) started.",
                   NULL, NULL, st.jwks_fetches, true);
    metrics_put_counter(b, "mcpwall_jwks_failures_total", "JWK Set fetches that failed.", NULL, NULL,
                   st.jwks_failures, true);
    metrics_put_counter(b, "mcpwall_jwks_loaded_total", "JWK Sets taken into use after the first.",
                   NULL, NULL, st.jwks_loaded, true);
    metrics_put_counter(b, "mcpwall_jwks_kid_refreshes_total",
                   "JWK Set fetches triggered by an unknown kid.", NULL, NULL, st.kid_refreshes,
                   true);
    metrics_put_counter(b, "mcpwall_jwks_kid_refused_total",
                   "Unknown kids refused by the refresh rate limit.", NULL, NULL, st.kid_refused,
                   true);
    /* Credentials the servers use (names are [A-Za-z0-9._-]: safe label values). */
    const struct gw_config *c = srv->cfg;
    static const char *const names[] = {"mcpwall_credential_grants_total",
                                        "mcpwall_credential_grant_failures_total",
                                        "mcpwall_credential_cache_hits_total",
                                        "mcpwall_credential_waits_total"};
    static const char *const helps[] = {"Token requests sent (client-credentials grant).",
                                        "Token requests that failed.",
                                        "Credential acquisitions answered from the cache.",
                                        "Credential acquisitions that waited for a grant."};
    for (size_t k = 0; k < 4 && c->creds != NULL; k++) {
        bool head = true;
        for (size_t i = 0; i < c->nservers; i++) {
            const char *cn = c->servers[i].credential;
            bool seen = cn == NULL;
            for (size_t j = 0; j < i && !seen; j++)
                seen = c->servers[j].credential != NULL && strcmp(c->servers[j].credential, cn) == 0;
            const struct cred *cr = seen ? NULL : cred_find(c->creds, cn);
            if (cr == NULL)
                continue;
            const struct cred_stats *cs = cred_stats(cr);
            uint64_t v = k == 0 ? cs->grants : k == 1 ? cs->grant_failures
                                             : k == 2 ? cs->cache_hits : cs->waits;
            metrics_put_counter(b, names[k], helps[k], "credential", cn, v, head);
            head = false;
        }
    }
}

/* The rate limiter: its decisions, and the health of its store (a Redis
 * outage shows here before anyone reads the logs). */
static void metrics_ratelimit(const struct serve *srv, struct buf *b)
{
    if (srv->rl == NULL)
        return;
    struct rl_stats st;
    ratelimit_stats(srv->rl, &st);
    static const char chk[] = "mcpwall_ratelimit_checks_total";
    static const char chkh[] = "Rate-limit and budget checks, by result (unavailable: the shared "
                               "store could not tell; on_error decided).";
    metrics_put_counter(b, chk, chkh, "result", "allowed", st.allowed, true);
    metrics_put_counter(b, chk, chkh, "result", "refused", st.refused, false);
    metrics_put_counter(b, chk, chkh, "result", "unavailable", st.unavailable, false);
    metrics_put_counter(b, "mcpwall_ratelimit_store_errors_total",
                   "Errors, bad replies and overload of the shared store (Redis).", NULL, NULL,
                   st.store_errors, true);
    metrics_put_counter(b, "mcpwall_ratelimit_store_timeouts_total",
                   "Checks the shared store did not answer within its timeout.", NULL, NULL,
                   st.store_timeouts, true);
    metrics_put_counter(b, "mcpwall_ratelimit_account_dropped_total",
                   "Call costs (result bytes, tokens) that could not be recorded in a budget.",
                   NULL, NULL, st.account_dropped, true);
    metrics_put_counter(b, "mcpwall_ratelimit_full_refusals_total",
                   "Callers refused because the memory store was at max_keys.", NULL, NULL,
                   st.full_refusals, true);
    metrics_put_gauge(b, "mcpwall_ratelimit_store_connected",
                 "1 when the limiter's store can answer (always for the memory store).",
                 st.store_connected ? 1 : 0);
}

static int metrics_route(void *ud, struct buf *body, const char **ct)
{
    struct serve *srv = ud;
    *ct = "text/plain; version=0.0.4; charset=utf-8";
    metrics_render(srv->metrics, body);
    metrics_auth(srv, body);
    metrics_ratelimit(srv, body);
    return 200;
}

/* Audits every refusal of the authentication hook: the reason code and the
 * description, never the credential. */
static void serve_auth_observe(void *ud, const struct authn_result *res, const char *peer)
{
    struct serve *srv = ud;
    if (res->status == AUTHN_OK || srv->audit == NULL)
        return;
    log_debug("auth: refused %d %s from %s", res->http_status, res->reason,
              peer != NULL ? peer : "?");
    json_t *extra = json_pack("{s:i,s:s,s:s}", "http_status", res->http_status, "peer",
                              peer != NULL ? peer : "", "description", res->description);
    struct audit_rec r = {.event = "auth",
                          .session = "serve",
                          .kind = "request",
                          .decision = "deny",
                          .reason = res->reason,
                          .outcome = "refused",
                          .extra = extra};
    audit_append(srv->audit, &r);
    json_decref(extra);
    serve_flush(srv);
}

/* Puts an auth: snapshot to work on the public listener: key fetches, the
 * hook, the metadata document's routes, the observer. */
static int serve_auth_install(struct serve *srv, struct authn *a)
{
    if (authn_start(a, srv->base, srv->hc) < 0)
        return -1;
    authn_set_observer(a, serve_auth_observe, srv);
    if (srv->authn != NULL) {
        const char *paths[2];
        size_t n = authn_prm_paths(srv->authn, paths);
        for (size_t i = 0; i < n; i++)
            http_listener_unroute(srv->pub, paths[i]);
    }
    if (authn_route_metadata(a, srv->pub) < 0)
        log_warnx("auth: cannot route the protected resource metadata document");
    http_listener_set_auth(srv->pub, authn_http_hook, a);
    return 0;
}

static int healthz_route(void *ud, struct buf *body, const char **ct)
{
    (void)ud;
    *ct = "text/plain; charset=utf-8";
    buf_append_str(body, "ok\n");
    return 200;
}

static int readyz_route(void *ud, struct buf *body, const char **ct)
{
    struct serve *srv = ud;
    *ct = "text/plain; charset=utf-8";
    if (srv->stopping) {
        buf_append_str(body, "stopping\n");
        return 503;
    }
    buf_printf(body, "ready: %zu upstream server%s configured, %zu session%s\n",
               srv->cfg->nservers, srv->cfg->nservers == 1 ? "" : "s",
               shttp_server_session_count(srv->mcp),
               shttp_server_session_count(srv->mcp) == 1 ? "" : "s");
    return 200;
}

/* ---- loop plumbing ------------------------------------------------------------------- */

static void audit_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    serve_flush(arg);
}

static void serve_flush(struct serve *srv)
{
    uint64_t wait_us;
    audit_flush_due(srv->audit, &wait_us);
    if (wait_us > 0 && !evtimer_pending(srv->audit_ev, NULL)) {
        struct timeval tv = {.tv_sec = (time_t)(wait_us / 1000000u),
                             .tv_usec = (suseconds_t)(wait_us % 1000000u)};
        evtimer_add(srv->audit_ev, &tv);
    }
}

static void reap_children(struct serve *srv)
{
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            break;
        char key[24];
        int kn = snprintf(key, sizeof(key), "%d", (int)pid);
        struct upconn *uc = map_del(&srv->children, key, (size_t)kn);
        if (uc == NULL)
            continue; /* a child of a session already gone */
        uc->exited = true;
        uc->status = st;
        uc->status_known = true;
        /* Its stdout EOF (seen by the channel) triggers the restart; give the
         * channel a chance if it has not seen it yet. */
        if (uc->chan_live)
            stdio_activity(uc, &uc->chan);
    }
}

static int load_config(struct serve *srv, struct gw_config **out)
{
    const struct serve_opts *o = srv->opts;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    struct gw_config *c = o->config_path != NULL ? gwconfig_load(o->config_path, &errs)
                                                 : gwconfig_default();
    if (c == NULL) {
        for (size_t i = 0; i < errs.n; i++)
            log_warnx("%s", errs.msgs[i]);
        cfg_errors_free(&errs);
        return -1;
    }
    cfg_errors_free(&errs);
    char err[256];
    if (o->add_cli_upstreams != NULL && o->add_cli_upstreams(c, o->cli_ud, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        gwconfig_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

static void reload(struct serve *srv)
{
    struct gw_config *c;
    if (srv->opts->config_path == NULL) {
        log_warnx("SIGHUP: no configuration file to reload (started without -c)");
        return;
    }
    if (load_config(srv, &c) < 0) {
        log_warnx("SIGHUP: the new configuration is invalid; keeping the current one");
        return;
    }
    /* Existing sessions keep their upstreams but judge with the new policies. */
    for (struct fsess *fs = srv->sessions; fs != NULL; fs = fs->next) {
        for (size_t i = 0; i < fs->nups; i++) {
            const struct gw_server *ns =
                gwconfig_server(c, fs->ups[i].def->name, strlen(fs->ups[i].def->name));
            if (ns != NULL && fs->ups[i].gw_live) {
                gw_session_set_policy(&fs->ups[i].gw, ns->policy);
                gw_session_set_results(&fs->ups[i].gw, ns->results);
            }
        }
    }
    char rlerr[256];
    if (ratelimit_reload(srv->rl, c->rate_limits, rlerr, sizeof(rlerr)) < 0)
        log_warnx("SIGHUP: rate limits: %s; the previous rate limits stay until a restart", rlerr);
    if (c->listen.port != srv->cfg->listen.port)
        log_warnx("SIGHUP: listener changes need a restart; still listening as before");
    /* Authentication: the new snapshot takes over the key sets it shares with
     * the old one; the old one stops (requests waiting for a key fetch of it
     * are decided with the keys it has). Credentials are looked up by name in
     * the new store from now on, by new and open sessions alike. */
    struct authn *na = authn_ref(c->authn);
    if (na != NULL) {
        authn_adopt(na, srv->authn);
        if (serve_auth_install(srv, na) == 0) {
            struct authn *old = srv->authn;
            srv->authn = na;
            authn_stop(old); /* decides its waiting requests: count them too */
            auth_stats_add(&srv->auth_base, authn_stats(old));
            authn_unref(old);
        } else {
            log_warnx("SIGHUP: cannot start the new auth: section; keeping the old one");
            authn_unref(na);
        }
    }
    if (c->creds != NULL)
        cred_store_start(c->creds, srv->base, srv->hc);
    gwconfig_free(srv->cfg);
    srv->cfg = c;
    log_info("SIGHUP: configuration reloaded: %zu upstream server%s", c->nservers,
             c->nservers == 1 ? "" : "s");
    if (srv->audit != NULL) {
        struct audit_rec r = {.event = "reload", .session = "serve"};
        audit_append(srv->audit, &r);
    }
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct serve *srv = arg;
    if (sig == SIGCHLD) {
        reap_children(srv);
        return;
    }
    if (sig == SIGHUP) {
        reload(srv);
        return;
    }
    if (!srv->stopping) {
        log_info("received %s: stopping", sigabbrev_np((int)sig));
        srv->stopping = true;
        event_base_loopexit(srv->base, NULL);
    }
}

int serve_run(const struct serve_opts *o)
{
    struct serve srv;
    memset(&srv, 0, sizeof(srv));
    srv.opts = o;
    srv.cfg = gwconfig_ref(o->cfg);
    srv.started_us = mono_us();
    map_init(&srv.children);
    int status = 1;
    char err[512];

    signal(SIGPIPE, SIG_IGN);
    srv.base = event_base_new();
    if (srv.base == NULL)
        fatalx("cannot create the event loop");
    srv.metrics = metrics_new();
    srv.rl = ratelimit_new(srv.cfg->rate_limits, srv.base, err, sizeof(err));
    if (srv.rl == NULL)
        fatalx("rate limits: %s", err);
    if (srv.cfg->nservers == 0)
        log_warnx("no upstream servers configured: the endpoint will serve empty lists "
                  "(add servers: in the configuration, or -- CMD, or --upstream)");

    if (srv.cfg->audit.enabled) {
        char path[4096];
        struct audit_opts ao = {.fsync = srv.cfg->audit.fsync,
                                .flush_interval_us = srv.cfg->audit.flush_interval_us};
        if (o->audit_path != NULL)
            ao.path = o->audit_path;
        else if (srv.cfg->audit.file != NULL)
            ao.path = srv.cfg->audit.file;
        else if (gwconfig_default_audit_path(path, sizeof(path)) == 0) {
            ao.path = path;
            ao.pick_free_name = true;
        } else {
            log_warnx("cannot create the default audit directory; set audit.file");
            goto out;
        }
        srv.audit = audit_open(&ao, err, sizeof(err));
        if (srv.audit == NULL) {
            log_warnx("%s", err);
            goto out;
        }
        log_info("audit log: %s", srv.audit->path);
    }

    srv.hs = http_server_new(srv.base);
    /* Every client session holds a standalone GET stream open to each HTTP
     * upstream: the per-host pool must not be what limits sessions (with
     * libcurl's queueing, the 17th request to a host would wait forever). */
    struct http_client_opts hco = {.max_host_connections = 4096};
    srv.hc = http_client_new(srv.base, &hco);
    const struct gw_listen *L = &srv.cfg->listen;
    struct http_listener_opts lo = {
        .name = "public",
        .host = L->host != NULL ? L->host : "127.0.0.1",
        .port = L->port,
        .tls_cert_file = L->tls_cert,
        .tls_key_file = L->tls_key,
        .allowed_hosts = (const char *const *)L->allowed_hosts,
        .allowed_origins = (const char *const *)L->allowed_origins,
        .max_body = srv.cfg->limits.json.max_bytes,
    };
    srv.pub = http_listener_new(srv.hs, &lo, err, sizeof(err));
    if (srv.pub == NULL) {
        log_warnx("cannot listen on %s:%u: %s", lo.host, (unsigned)lo.port, err);
        goto out;
    }
    /* Authentication on every request to the MCP endpoint (docs/auth.md):
     * without an auth: section nobody is authenticated (401). */
    if (srv.cfg->authn != NULL) {
        srv.authn = authn_ref(srv.cfg->authn);
    } else {
        struct cfg_errors ae;
        cfg_errors_init(&ae);
        srv.authn = authn_compile(NULL, NULL, &ae);
        cfg_errors_free(&ae);
    }
    if (srv.authn == NULL) {
        log_warnx("out of memory");
        goto out;
    }
    struct authn *first = srv.authn;
    srv.authn = NULL;
    if (serve_auth_install(&srv, first) < 0) {
        srv.authn = first;
        log_warnx("cannot start authentication");
        goto out;
    }
    srv.authn = first;
    if (srv.cfg->creds != NULL)
        cred_store_start(srv.cfg->creds, srv.base, srv.hc);
    if (o->config_path != NULL && !srv.cfg->auth_set)
        log_warnx("the configuration has no auth: section: every request to the MCP endpoint is "
                  "refused (401); add API keys, JWT issuers or anonymous access (docs/auth.md)");
    struct shttp_opts so = {
        .path = L->path != NULL ? L->path : "/mcp",
        .auth = true,
        .json = srv.cfg->limits.json,
        .max_inflight = srv.cfg->limits.max_inflight < 1024 ? srv.cfg->limits.max_inflight : 1024,
    };
    srv.mcp = shttp_server_new(srv.pub, &so, &app_ops, &srv, err, sizeof(err));
    if (srv.mcp == NULL) {
        log_warnx("%s", err);
        goto out;
    }
    const struct gw_listen *A = &srv.cfg->admin;
    struct http_listener_opts ao2 = {
        .name = "admin",
        .host = A->host != NULL ? A->host : "127.0.0.1",
        .port = A->port,
        .tls_cert_file = A->tls_cert,
        .tls_key_file = A->tls_key,
        .allowed_hosts = (const char *const *)A->allowed_hosts,
    };
    if (A->set) {
        srv.adm = http_listener_new(srv.hs, &ao2, err, sizeof(err));
        if (srv.adm == NULL) {
            log_warnx("cannot listen (admin) on %s:%u: %s", ao2.host, (unsigned)ao2.port, err);
            goto out;
        }
    } else {
        srv.adm = srv.pub; /* no admin listener configured: serve health on the public one */
    }
    /* Metrics name tools, servers and identities: on a public listener that
     * other machines reach, only callers the auth section accepts see them
     * (an admin listener, or loopback, keeps them open for a local scraper). */
    bool metrics_need_auth = srv.adm == srv.pub && !http_listener_loopback(srv.pub);
    http_listener_route_simple(srv.adm, "/metrics", metrics_need_auth, metrics_route, &srv);
    http_listener_route_simple(srv.adm, "/healthz", false, healthz_route, &srv);
    http_listener_route_simple(srv.adm, "/readyz", false, readyz_route, &srv);

    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};
    for (size_t i = 0; i < 4; i++) {
        srv.sig[i] = evsignal_new(srv.base, sigs[i], signal_cb, &srv);
        evsignal_add(srv.sig[i], NULL);
    }
    srv.audit_ev = evtimer_new(srv.base, audit_timer_cb, &srv);
    if (srv.audit != NULL) {
        struct audit_rec r = {.event = "start", .session = "serve"};
        audit_append(srv.audit, &r);
        audit_flush(srv.audit);
    }
    /* "serving MCP at" is the readiness line (scripts wait for it): last. */
    if (srv.adm != srv.pub)
        log_info("admin endpoints at http://%s:%u/metrics /healthz /readyz", ao2.host,
                 (unsigned)http_listener_port(srv.adm));
    log_info("serving MCP at %s://%s:%u%s (%zu upstream server%s%s)",
             lo.tls_cert_file != NULL ? "https" : "http", lo.host,
             (unsigned)http_listener_port(srv.pub), so.path, srv.cfg->nservers,
             srv.cfg->nservers == 1 ? "" : "s",
             gwconfig_namespaced(srv.cfg) ? ", names prefixed by server" : "");

    event_base_dispatch(srv.base);
    status = 0;

out:
    srv.stopping = true;
    shttp_server_free(srv.mcp); /* ends every session: upstreams are closed */
    reap_children(&srv);
    /* Before the HTTP server and client go: key fetches, grants, and requests
     * waiting for them. Older snapshots were stopped when reloads replaced
     * them, or went with the sessions that held them. */
    if (srv.authn != NULL)
        authn_stop(srv.authn);
    if (o->cfg->authn != NULL)
        authn_stop(o->cfg->authn);
    if (srv.cfg->creds != NULL)
        cred_store_stop(srv.cfg->creds);
    if (o->cfg->creds != NULL)
        cred_store_stop(o->cfg->creds);
    authn_unref(srv.authn);
    srv.authn = NULL;
    if (srv.audit != NULL) {
        struct audit_rec r = {.event = "stop", .session = "serve"};
        audit_append(srv.audit, &r);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        log_info("resource usage: user %ld.%06lds sys %ld.%06lds peak RSS %ld KiB",
                 (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec,
                 (long)ru.ru_stime.tv_usec, ru.ru_maxrss);
    for (size_t i = 0; i < 4; i++)
        if (srv.sig[i] != NULL)
            event_free(srv.sig[i]);
    if (srv.audit_ev != NULL)
        event_free(srv.audit_ev);
    if (srv.hs != NULL)
        http_server_free(srv.hs);
    http_client_free(srv.hc);
    ratelimit_free(srv.rl); /* sessions are gone: nothing waits for it */
    audit_close(srv.audit);
    metrics_free(srv.metrics);
    map_free(&srv.children);
    gwconfig_free(srv.cfg);
    if (srv.base != NULL)
        event_base_free(srv.base);
    return status;
}
