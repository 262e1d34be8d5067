/* net.c - transport test harness (see net.h). */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

static void die(const char *what)
{
    fprintf(stderr, "net harness: %s: %s\n", what, strerror(errno));
    abort();
}

/* ---- server on a thread ---- */

static void tsrv_call_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct tsrv *t = arg;
    char b[16];
    while (read(fd, b, sizeof(b)) > 0)
        ;
    pthread_mutex_lock(&t->mu);
    tsrv_fn fn = t->fn;
    void *a = t->arg;
    pthread_mutex_unlock(&t->mu);
    if (fn != NULL)
        fn(t, a);
    pthread_mutex_lock(&t->mu);
    t->fn = NULL;
    t->done = true;
    if (t->stop)
        event_base_loopbreak(t->base);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void *tsrv_main(void *arg)
{
    struct tsrv *t = arg;
    event_base_dispatch(t->base);
    return NULL;
}

void tsrv_start(struct tsrv *t, const struct http_listener_opts *lo, const struct shttp_opts *so,
                tsrv_fn setup, void *arg)
{
    signal(SIGPIPE, SIG_IGN);
    memset(t, 0, sizeof(*t));
    t->base = event_base_new();
    t->hs = http_server_new(t->base);
    char err[256];
    t->l = http_listener_new(t->hs, lo, err, sizeof(err));
    if (t->l == NULL) {
        fprintf(stderr, "listener: %s\n", err);
        abort();
    }
    t->port = http_listener_port(t->l);
    if (so != NULL) {
        t->app = testapp_new(t->l, so, NULL, err, sizeof(err));
        if (t->app == NULL) {
            fprintf(stderr, "app: %s\n", err);
            abort();
        }
    }
    if (setup != NULL)
        setup(t, arg);
    if (pipe2(t->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        die("pipe");
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->call_ev = event_new(t->base, t->pipe[0], EV_READ | EV_PERSIST, tsrv_call_cb, t);
    event_add(t->call_ev, NULL);
    if (pthread_create(&t->th, NULL, tsrv_main, t) != 0)
        die("pthread_create");
}

void tsrv_call(struct tsrv *t, tsrv_fn fn, void *arg)
{
    pthread_mutex_lock(&t->mu);
    t->fn = fn;
    t->arg = arg;
    t->done = false;
    pthread_mutex_unlock(&t->mu);
    if (write(t->pipe[1], "x", 1) != 1)
        die("write");
    pthread_mutex_lock(&t->mu);
    while (!t->done)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

static void tsrv_copy_counters(struct tsrv *t, void *arg)
{
    *(struct http_counters *)arg = *http_listener_counters(t->l);
}

void tsrv_counters(struct tsrv *t, struct http_counters *out)
{
    tsrv_call(t, tsrv_copy_counters, out);
}

void tsrv_stop(struct tsrv *t)
{
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_mutex_unlock(&t->mu);
    tsrv_call(t, NULL, NULL);
    pthread_join(t->th, NULL);
    testapp_free(t->app);
    http_server_free(t->hs);
    event_free(t->call_ev);
    event_base_free(t->base);
    close(t->pipe[0]);
    close(t->pipe[1]);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
}

/* ---- raw client ---- */

void hcli_open(struct hcli *c, uint16_t port)
{
    memset(c, 0, sizeof(*c));
    c->clen = -1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->bodycap = 4096;
    c->body = calloc(1, c->bodycap);
}

void hcli_close(struct hcli *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->body);
    c->body = NULL;
}

bool hcli_send(struct hcli *c, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        s += w;
        n -= (size_t)w;
    }
    return true;
}

bool hcli_sends(struct hcli *c, const char *s)
{
    return hcli_send(c, s, strlen(s));
}

/* Reads more bytes into c->in; false on EOF, error or timeout. */
static bool hcli_fill(struct hcli *c)
{
    if (c->eof)
        return false;
    if (c->inlen == sizeof(c->in))
        return true;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int pr = poll(&pfd, 1, NET_WAIT_MS);
    if (pr <= 0)
        return false;
    ssize_t r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
    if (r <= 0) {
        c->eof = true;
        return false;
    }
    c->inlen += (size_t)r;
    return true;
}

static void hcli_consume(struct hcli *c, size_t n)
{
    memmove(c->in, c->in + n, c->inlen - n);
    c->inlen -= n;
}

bool hcli_head(struct hcli *c)
{
    for (;;) {
        char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
        if (end != NULL) {
            size_t hl = (size_t)(end - c->in) + 4;
            if (hl >= sizeof(c->head))
                return false;
            memcpy(c->head, c->in, hl);
            c->head[hl] = '\0';
            hcli_consume(c, hl);
            c->status = 0;
            char *endp;
            if (strncmp(c->head, "HTTP/1.", 7) == 0)
                c->status = (int)strtol(c->head + 9, &endp, 10);
            const char *te = hcli_header(c, "Transfer-Encoding");
            c->chunked = te != NULL && strcasecmp(te, "chunked") == 0;
            const char *cl = hcli_header(c, "Content-Length");
            c->clen = cl ? strtoll(cl, &endp, 10) : -1;
            c->body_done = !c->chunked && c->clen == 0;
            c->chunk_state = 0;
            return true;
        }
        if (!hcli_fill(c))
            return false;
    }
}

const char *hcli_header(const struct hcli *c, const char *name)
{
    static char val[2048];
    size_t nl = strlen(name);
    const char *p = strstr(c->head, "\r\n");
    while (p != NULL && p[2] != '\r') {
        p += 2;
        const char *eol = strstr(p, "\r\n");
        if (eol == NULL)
            break;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(eol - v);
            if (vl >= sizeof(val))
                vl = sizeof(val) - 1;
            memcpy(val, v, vl);
            val[vl] = '\0';
            return val;
        }
        p = eol;
    }
    return NULL;
}

static void hcli_body_add(struct hcli *c, const char *p, size_t n)
{
    if (c->bodylen + n + 1 > c->bodycap) {
        while (c->bodylen + n + 1 > c->bodycap)
            c->bodycap *= 2;
        c->body = realloc(c->body, c->bodycap);
    }
    memcpy(c->body + c->bodylen, p, n);
    c->bodylen += n;
    c->body[c->bodylen] = '\0';
}

/* Moves what is available in c->in into the decoded body. */
static void hcli_decode(struct hcli *c)
{
    if (c->body_done)
        return;
    if (!c->chunked) {
        size_t take = c->inlen;
        if (c->clen >= 0 && (long long)take > c->clen - (long long)c->bodylen)
            take = (size_t)(c->clen - (long long)c->bodylen);
        hcli_body_add(c, c->in, take);
        hcli_consume(c, take);
        if (c->clen >= 0 && (long long)c->bodylen >= c->clen)
            c->body_done = true;
        return;
    }
    for (;;) {
        if (c->chunk_state == 0) {
            char *eol = memmem(c->in, c->inlen, "\r\n", 2);
            if (eol == NULL)
                return;
            char *endp;
            c->chunk_left = (size_t)strtoul(c->in, &endp, 16);
            if (endp == c->in)
                abort(); /* the server sent a malformed chunk size */
            hcli_consume(c, (size_t)(eol - c->in) + 2);
            c->chunk_state = c->chunk_left ? 1 : 4;
        } else if (c->chunk_state == 1) {
            size_t take = c->inlen < c->chunk_left ? c->inlen : c->chunk_left;
            if (take == 0)
                return;
            hcli_body_add(c, c->in, take);
            hcli_consume(c, take);
            c->chunk_left -= take;
            if (c->chunk_left == 0)
                c->chunk_state = 2;
        } else if (c->chunk_state == 2 || c->chunk_state == 4) {
            if (c->inlen < 2)
                return;
            hcli_consume(c, 2);
            if (c->chunk_state == 4) {
                c->body_done = true;
                return;
            }
            c->chunk_state = 0;
        }
    }
}

bool hcli_body_until(struct hcli *c, const char *needle)
{
    for (;;) {
        hcli_decode(c);
        if (needle != NULL && c->body != NULL && strstr(c->body, needle) != NULL)
            return true;
        if (needle == NULL && c->body_done)
            return true;
        if (c->body_done)
            return false;
        if (!hcli_fill(c)) {
            /* A close-delimited body ends at EOF. */
            if (c->eof && needle == NULL && !c->chunked && c->clen < 0) {
                c->body_done = true;
                return true;
            }
            return false;
        }
    }
}

void hcli_next(struct hcli *c)
{
    c->bodylen = 0;
    if (c->body)
        c->body[0] = '\0';
    c->body_done = false;
    c->status = 0;
}

bool hcli_wait_closed(struct hcli *c)
{
    for (;;) {
        c->inlen = 0;
        if (!hcli_fill(c))
            return c->eof;
    }
}

int hcli_request(struct hcli *c, uint16_t port, const char *raw)
{
    hcli_open(c, port);
    if (!hcli_sends(c, raw) || !hcli_head(c))
        return 0;
    if (!hcli_body_until(c, NULL))
        return 0;
    return c->status;
}

char *mcp_post(const char *sid, const char *extra, const char *json)
{
    size_t n = strlen(json) + (extra ? strlen(extra) : 0) + 512;
    char *r = malloc(n);
    char sidh[128] = "";
    if (sid != NULL)
        snprintf(sidh, sizeof(sidh), "Mcp-Session-Id: %s\r\n", sid);
    snprintf(r, n,
             "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             "Accept: application/json, text/event-stream\r\n%s%sContent-Length: %zu\r\n\r\n%s",
             sidh, extra ? extra : "", strlen(json), json);
    return r;
}
