/* kit_http.c - serving the kit over MCP Streamable HTTP, through the
 * project's transport (src/transport/shttp_server.h on http_server.h): the
 * transport owns HTTP, sessions, SSE, resumption and the Host/Origin checks;
 * this file maps its sessions and request streams onto kit sessions. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit/kit_internal.h"
#include "transport/http_server.h"
#include "transport/shttp_server.h"
#include "util/log.h"
#include "util/str.h"

struct kit_http {
    struct kit_server *srv;
    struct http_server *hs;
    struct http_listener *l;
    struct shttp_server *sh;
};

static int http_send(void *tctx, void *stream, const char *data, size_t len, bool final)
{
    struct shttp_session *s = tctx;
    int rc;
    if (stream == NULL)
        rc = shttp_session_send(s, data, len);
    else if (final)
        rc = shttp_stream_respond(stream, data, len);
    else
        rc = shttp_stream_send(stream, data, len);
    return rc == SHTTP_OK ? 0 : -1;
}

static void http_drop(void *tctx, void *stream)
{
    (void)tctx;
    shttp_stream_release(stream);
}

static int http_disconnect(void *tctx, void *stream)
{
    (void)tctx;
    return shttp_stream_disconnect(stream) == SHTTP_OK ? 0 : -1;
}

static const struct kit_transport http_tp = {
    .send = http_send,
    .drop = http_drop,
    .disconnect = http_disconnect,
    .streams_outlive_session = true,
};

static int app_session_open(void *app, struct shttp_session *s, struct http_request *req,
                            const struct rpc_msg *init, void **sess_ud)
{
    (void)req;
    (void)init;
    struct kit_http *kh = app;
    struct kit_session *ss = kit_session_open(kh->srv, &http_tp, s, shttp_session_id(s));
    if (ss == NULL)
        return 503;
    *sess_ud = ss;
    return 0;
}

static void app_session_close(void *app, void *sess_ud, enum shttp_close_reason why)
{
    (void)app;
    log_debug("kit: http session closed (%s)", shttp_close_reason_name(why));
    kit_session_close(sess_ud);
}

static int app_on_message(void *app, void *sess_ud, struct http_request *req,
                          const struct rpc_msg *m, const char *raw, size_t rawlen,
                          struct shttp_stream *st)
{
    (void)app;
    (void)req;
    (void)raw;
    (void)rawlen;
    kit_session_input(sess_ud, m, st);
    return 0;
}

static void app_on_abandoned(void *app, void *sess_ud, struct shttp_stream *st)
{
    (void)app;
    kit_session_abandon_stream(sess_ud, st);
}

static const struct shttp_app_ops app_ops = {
    .session_open = app_session_open,
    .session_close = app_session_close,
    .on_message = app_on_message,
    .on_abandoned = app_on_abandoned,
};

int kit_parse_listen(const char *spec, char *host, size_t hostsz, uint16_t *port)
{
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec)
        return -1;
    const char *h = spec;
    size_t hl = (size_t)(colon - spec);
    if (h[0] == '[') {
        if (hl < 3 || h[hl - 1] != ']')
            return -1;
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostsz)
        return -1;
    uint64_t p;
    if (parse_u64(colon + 1, 65535, &p) < 0)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    log_info("kit: signal %d: stopping", (int)sig);
    kit_server_stop(arg);
}

int kit_serve_http(struct kit_server *s, const struct kit_http_opts *o)
{
    signal(SIGPIPE, SIG_IGN);
    struct kit_http kh = {.srv = s};
    char err[300];
    int rc = -1;
    struct event *sigint = NULL, *sigterm = NULL;
    kh.hs = http_server_new(s->base);
    if (kh.hs == NULL)
        goto out;
    const struct http_listener_opts lo = {
        .name = "mcp",
        .host = o->host,
        .port = o->port,
        .allowed_hosts = o->allowed_hosts,
        .allowed_origins = o->allowed_origins,
        .max_body = s->lim.max_message,
    };
    kh.l = http_listener_new(kh.hs, &lo, err, sizeof(err));
    if (kh.l == NULL) {
        log_warnx("kit: cannot listen on %s:%u: %s", o->host != NULL ? o->host : "127.0.0.1",
                  (unsigned)o->port, err);
        goto out;
    }
    const struct shttp_opts so = {
        .path = o->path,
        .max_inflight = s->lim.max_calls,
    };
    kh.sh = shttp_server_new(kh.l, &so, &app_ops, &kh, err, sizeof(err));
    if (kh.sh == NULL) {
        log_warnx("kit: %s", err);
        goto out;
    }
    sigint = evsignal_new(s->base, SIGINT, on_signal, s);
    sigterm = evsignal_new(s->base, SIGTERM, on_signal, s);
    if (sigint == NULL || sigterm == NULL)
        goto out;
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    log_info("kit: serving MCP on http://%s:%u%s", o->host != NULL ? o->host : "127.0.0.1",
             (unsigned)http_listener_port(kh.l), o->path != NULL ? o->path : "/mcp");
    if (o->on_listening != NULL)
        o->on_listening(http_listener_port(kh.l), o->on_listening_ud);
    s->stopping = false;
    event_base_dispatch(s->base);
    rc = 0;
out:
    if (sigint != NULL)
        event_free(sigint);
    if (sigterm != NULL)
        event_free(sigterm);
    shttp_server_free(kh.sh); /* ends every session: the kit cancels their calls */
    http_server_free(kh.hs);
    return rc;
}
