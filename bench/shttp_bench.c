/* shttp_bench - throughput and latency of the HTTP transport alone: an echo
 * MCP app on shttp_server (in a child process, one event loop) and 1, 8 and
 * 32 keep-alive client connections (threads, raw sockets), each with its own
 * session, calling tools/call as fast as answers come back.
 *
 *   shttp_bench [SECONDS_PER_LEVEL]        (default 2)
 *
 * Prints, per level: calls/s, p50 and p99 latency; then the server's peak RSS.
 * This measures the transport (pre-parser, evhttp, JSON-RPC parse, session
 * lookup, answer) without the gateway's pipeline or an upstream.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "transport/shttp_server.h"
#include "util/str.h"
#include "util/timeutil.h"

/* ---- the server: an echo app ---- */

static int echo_open(void *app, struct shttp_session *s, struct http_request *req,
                     const struct rpc_msg *init, void **ud)
{
    (void)app;
    (void)s;
    (void)req;
    (void)init;
    *ud = NULL;
    return 0;
}

static void echo_close(void *app, void *ud, enum shttp_close_reason why)
{
    (void)app;
    (void)ud;
    (void)why;
}

static int echo_msg(void *app, void *ud, struct http_request *req, const struct rpc_msg *m,
                    const char *raw, size_t len, struct shttp_stream *st)
{
    (void)app;
    (void)ud;
    (void)req;
    (void)raw;
    (void)len;
    if (st == NULL)
        return 0;
    struct buf b;
    buf_init(&b, 1 << 20);
    json_t *res;
    if (strcmp(m->method, "initialize") == 0)
        res = json_pack("{s:s,s:{},s:{s:s,s:s}}", "protocolVersion", MCP_LATEST_VERSION,
                        "capabilities", "serverInfo", "name", "bench", "version", "1");
    else
        res = json_pack("{s:[{s:s,s:O}]}", "content", "type", "text", "text",
                        json_object_get(json_object_get(m->params, "arguments"), "text"));
    rpc_emit_result(&b, m->id, res);
    json_decref(res);
    shttp_stream_respond(st, buf_head(&b), buf_used(&b));
    buf_free(&b);
    return 0;
}

static const struct shttp_app_ops echo_ops = {echo_open, echo_close, echo_msg, NULL};

static void on_term(evutil_socket_t s, short w, void *arg)
{
    (void)s;
    (void)w;
    event_base_loopbreak(arg);
}

static int run_server(int ready_fd)
{
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    struct http_server *hs = http_server_new(base);
    char err[256];
    struct http_listener_opts lo = {.name = "bench", .host = "127.0.0.1"};
    struct http_listener *l = http_listener_new(hs, &lo, err, sizeof(err));
    if (l == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct shttp_opts so = {.sse_after_ms = UINT32_MAX};
    struct shttp_server *srv = shttp_server_new(l, &so, &echo_ops, NULL, err, sizeof(err));
    if (srv == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct event *term = evsignal_new(base, SIGTERM, on_term, base);
    event_add(term, NULL);
    uint16_t port = http_listener_port(l);
    if (write(ready_fd, &port, sizeof(port)) != sizeof(port))
        return 1;
    close(ready_fd);
    event_base_dispatch(base);
    shttp_server_free(srv);
    http_server_free(hs);
    event_free(term);
    event_base_free(base);
    return 0;
}

/* ---- the clients ---- */

struct worker {
    uint16_t port;
    volatile int *stop;
    uint64_t *lat; /* microseconds, one per call */
    size_t n, cap;
    int failed;
};

static int cl_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Sends req and reads one response with a Content-Length body into buf.
 * Returns the status, or -1. */
static int cl_exchange(int fd, const char *req, size_t reqlen, char *buf, size_t cap, char *sid,
                       size_t sidsz)
{
    size_t off = 0;
    while (off < reqlen) {
        ssize_t w = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    size_t have = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + have, cap - have - 1, 0);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl == NULL || cl > end)
            return -1;
        uint64_t blen;
        char num[24];
        size_t k = 0;
        for (cl += 17; *cl == ' '; cl++)
            ;
        while (k + 1 < sizeof(num) && cl[k] >= '0' && cl[k] <= '9') {
            num[k] = cl[k];
            k++;
        }
        num[k] = '\0';
        if (parse_u64(num, cap, &blen) < 0)
            return -1;
        size_t total = (size_t)(end - buf) + 4 + (size_t)blen;
        while (have < total) {
            r = recv(fd, buf + have, cap - have - 1, 0);
            if (r <= 0)
                return -1;
            have += (size_t)r;
        }
        if (sid != NULL) {
            char *h = strcasestr(buf, "\r\nMcp-Session-Id: ");
            if (h != NULL && h < end)
                snprintf(sid, sidsz, "%.32s", h + 18);
        }
        return (int)((buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0'));
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int fd = cl_connect(w->port);
    if (fd < 0) {
        w->failed = 1;
        return NULL;
    }
    static const char init[] =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}";
    char req[2048], buf[16384], sid[40] = "";
    int n = snprintf(req, sizeof(req),
                     "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Accept: application/json, text/event-stream\r\nContent-Length: %zu\r\n\r\n%s",
                     sizeof(init) - 1, init);
    if (cl_exchange(fd, req, (size_t)n, buf, sizeof(buf), sid, sizeof(sid)) != 200 || !sid[0]) {
        w->failed = 1;
        close(fd);
        return NULL;
    }
    for (unsigned long id = 1; !*w->stop; id++) {
        char body[256];
        int bl = snprintf(body, sizeof(body),
                          "{\"jsonrpc\":\"2.0\",\"id\":%lu,\"method\":\"tools/call\",\"params\":{"
                          "\"name\":\"echo\",\"arguments\":{\"text\":\"hello\"}}}",
                          id);
        n = snprintf(req, sizeof(req),
                     "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Accept: application/json, text/event-stream\r\nMcp-Session-Id: %s\r\n"
                     "MCP-Protocol-Version: 2025-11-25\r\nContent-Length: %d\r\n\r\n%s",
                     sid, bl, body);
        uint64_t t0 = mono_us();
        if (cl_exchange(fd, req, (size_t)n, buf, sizeof(buf), NULL, 0) != 200) {
            w->failed = 1;
            break;
        }
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 4096;
            w->lat = realloc(w->lat, w->cap * sizeof(*w->lat));
        }
        w->lat[w->n++] = mono_us() - t0;
    }
    close(fd);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    uint64_t secs = 2;
    if (argc > 1 && parse_u64(argv[1], 3600, &secs) < 0) {
        fprintf(stderr, "usage: shttp_bench [SECONDS_PER_LEVEL]\n");
        return 2;
    }
    int p[2];
    if (pipe(p) < 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        _exit(run_server(p[1]));
    }
    close(p[1]);
    uint16_t port;
    if (read(p[0], &port, sizeof(port)) != sizeof(port)) {
        fprintf(stderr, "the server did not start\n");
        return 1;
    }
    printf("shttp_bench: tools/call echo over Streamable HTTP (JSON answers), %llus per level\n",
           (unsigned long long)secs);
    const int levels[] = {1, 8, 32};
    int rc = 0;
    for (size_t li = 0; li < 3; li++) {
        int nw = levels[li];
        volatile int stop = 0;
        struct worker *ws = calloc((size_t)nw, sizeof(*ws));
        pthread_t *th = calloc((size_t)nw, sizeof(*th));
        for (int i = 0; i < nw; i++) {
            ws[i].port = port;
            ws[i].stop = &stop;
            pthread_create(&th[i], NULL, worker_main, &ws[i]);
        }
        uint64_t t0 = mono_us();
        usleep((useconds_t)(secs * 1000000u));
        stop = 1;
        for (int i = 0; i < nw; i++)
            pthread_join(th[i], NULL);
        uint64_t el = mono_us() - t0;
        size_t total = 0;
        int failed = 0;
        for (int i = 0; i < nw; i++) {
            total += ws[i].n;
            failed |= ws[i].failed;
        }
        uint64_t *all = malloc((total ? total : 1) * sizeof(*all));
        size_t k = 0;
        for (int i = 0; i < nw; i++) {
            memcpy(all + k, ws[i].lat, ws[i].n * sizeof(*all));
            k += ws[i].n;
            free(ws[i].lat);
        }
        qsort(all, total, sizeof(*all), cmp_u64);
        double cps = (double)total * 1e6 / (double)el;
        printf("connections=%-3d calls/s=%9.0f p50=%6lluus p99=%6lluus%s\n", nw, cps,
               total ? (unsigned long long)all[total / 2] : 0ULL,
               total ? (unsigned long long)all[total * 99 / 100] : 0ULL,
               failed ? "  (some calls failed)" : "");
        if (failed)
            rc = 1;
        free(all);
        free(ws);
        free(th);
    }
    kill(pid, SIGTERM);
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) == pid)
        printf("server peak RSS=%ld KiB\n", ru.ru_maxrss);
    return rc;
}
