/* bench_http - tools/call over Streamable HTTP against any MCP gateway.
 *
 *   bench_http URL CONNECTIONS SECONDS [PAYLOAD_BYTES]
 *
 * Each connection (a thread with a keep-alive socket) opens its own MCP
 * session (initialize, notifications/initialized) and then calls the echo
 * tool as fast as answers come back for SECONDS (after a one-second warm-up).
 * Answers may be JSON (Content-Length or chunked) or an SSE stream: the
 * response is the event whose data carries the request's id. Prints one JSON
 * line: calls/s, p50/p99 latency in µs, errors. The same client measures
 * mcpwall serve, mcp-proxy and supergateway. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct target {
    char host[128];
    uint16_t port;
    char path[256];
};

struct worker {
    const struct target *t;
    size_t payload;
    atomic_int *phase; /* 0 warm-up, 1 measure, 2 stop */
    uint64_t *lat;
    size_t n, cap;
    unsigned long errors;
    char why[256];
};

/* A decimal number at p (digits only); 0 when there is none. */
static long num(const char *p, int base)
{
    char *end;
    long v = strtol(p, &end, base);
    return end == p ? 0 : v;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int connect_to(const struct target *t)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)t->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(t->host, port, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

/* A growable receive buffer on one connection. */
struct conn {
    int fd;
    char *buf;
    size_t len, cap;
};

static int fill(struct conn *c)
{
    if (c->len + 65536 > c->cap) {
        c->cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, c->cap);
    }
    ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
    if (r <= 0)
        return -1;
    c->len += (size_t)r;
    c->buf[c->len] = '\0';
    return 0;
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    c->buf[c->len] = '\0';
}

/* Reads one HTTP response; the body (de-chunked) goes to body. Returns the
 * status or -1. For SSE bodies that arrive chunked, stops as soon as an event
 * carrying `want` (a JSON fragment such as "\"id\":7,") has been seen and the
 * chunked body has ended. */
static int read_response(struct conn *c, char *sid, size_t sidsz, char **body, size_t *bodylen)
{
    char *end;
    while ((end = strstr(c->buf != NULL ? c->buf : "", "\r\n\r\n")) == NULL)
        if (fill(c) < 0)
            return -1;
    size_t hlen = (size_t)(end - c->buf) + 4;
    int status = (int)num(c->buf + 9, 10);
    if (sid != NULL) {
        char *h = strcasestr(c->buf, "\r\nMcp-Session-Id:");
        if (h != NULL && h < end) {
            h += 17;
            while (*h == ' ')
                h++;
            size_t k = 0;
            while (k + 1 < sidsz && h[k] != '\r')
                sid[k] = h[k], k++;
            sid[k] = '\0';
        }
    }
    char *cl = strcasestr(c->buf, "\r\nContent-Length:");
    bool chunked = false;
    char *te = strcasestr(c->buf, "\r\nTransfer-Encoding:");
    if (te != NULL && te < end && strcasestr(te, "chunked") != NULL &&
        strcasestr(te, "chunked") < end)
        chunked = true;
    static __thread char *out;
    static __thread size_t outcap;
    size_t outlen = 0;
    if (cl != NULL && cl < end && !chunked) {
        size_t n = (size_t)num(cl + 17, 10);
        while (c->len < hlen + n)
            if (fill(c) < 0)
                return -1;
        if (outcap < n + 1) {
            outcap = n + 1;
            out = realloc(out, outcap);
        }
        memcpy(out, c->buf + hlen, n);
        outlen = n;
        consume(c, hlen + n);
    } else if (chunked) {
        consume(c, hlen);
        for (;;) {
            char *le;
            while ((le = strstr(c->buf, "\r\n")) == NULL)
                if (fill(c) < 0)
                    return -1;
            size_t n = (size_t)num(c->buf, 16);
            size_t skip = (size_t)(le - c->buf) + 2;
            while (c->len < skip + n + 2)
                if (fill(c) < 0)
                    return -1;
            if (outcap < outlen + n + 1) {
                outcap = (outlen + n + 1) * 2;
                out = realloc(out, outcap);
            }
            memcpy(out + outlen, c->buf + skip, n);
            outlen += n;
            consume(c, skip + n + 2);
            if (n == 0)
                break;
        }
    } else {
        consume(c, hlen); /* no body (202) */
    }
    if (out != NULL)
        out[outlen] = '\0';
    *body = out;
    *bodylen = outlen;
    return status;
}

static int post(struct worker *w, struct conn *c, const char *sid, const char *json,
                char *sidout, size_t sidsz, char **body, size_t *bodylen)
{
    static __thread char *req;
    static __thread size_t reqcap;
    size_t jl = strlen(json);
    if (reqcap < jl + 1024) {
        reqcap = jl + 1024;
        req = realloc(req, reqcap);
    }
    int n = snprintf(req, reqcap,
                     "POST %s HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/json\r\n"
                     "Accept: application/json, text/event-stream\r\n%s%s%s"
                     "MCP-Protocol-Version: 2025-06-18\r\nContent-Length: %zu\r\n\r\n%s",
                     w->t->path, w->t->host, (unsigned)w->t->port, sid ? "Mcp-Session-Id: " : "",
                     sid ? sid : "", sid ? "\r\n" : "", jl, json);
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t s = send(c->fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (s <= 0)
            return -1;
        off += (size_t)s;
    }
    return read_response(c, sidout, sidsz, body, bodylen);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct conn c = {.fd = connect_to(w->t)};
    if (c.fd < 0) {
        snprintf(w->why, sizeof(w->why), "cannot connect");
        w->errors++;
        return NULL;
    }
    char sid[128] = "";
    char *body;
    size_t bl;
    const char *init = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                       "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{"
                       "\"name\":\"bench\",\"version\":\"1\"}}}";
    int st = post(w, &c, NULL, init, sid, sizeof(sid), &body, &bl);
    if (st != 200) {
        snprintf(w->why, sizeof(w->why), "initialize: HTTP %d", st);
        w->errors++;
        close(c.fd);
        return NULL;
    }
    st = post(w, &c, sid[0] ? sid : NULL, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
              NULL, 0, &body, &bl);
    if (st != 202 && st != 200) {
        snprintf(w->why, sizeof(w->why), "initialized: HTTP %d", st);
        w->errors++;
        close(c.fd);
        return NULL;
    }
    char *text = malloc(w->payload + 1);
    for (size_t i = 0; i < w->payload; i++)
        text[i] = (char)('a' + i % 26);
    text[w->payload] = '\0';
    char *json = malloc(w->payload + 256);
    for (unsigned long id = 1; atomic_load(w->phase) < 2; id++) {
        snprintf(json, w->payload + 256,
                 "{\"jsonrpc\":\"2.0\",\"id\":%lu,\"method\":\"tools/call\",\"params\":{\"name\":"
                 "\"echo\",\"arguments\":{\"text\":\"%s\"}}}",
                 id, text);
        uint64_t t0 = now_us();
        st = post(w, &c, sid[0] ? sid : NULL, json, NULL, 0, &body, &bl);
        uint64_t dt = now_us() - t0;
        char want[40];
        snprintf(want, sizeof(want), "\"id\":%lu", id);
        if (st != 200 || body == NULL || strstr(body, want) == NULL || strstr(body, "\"error\"") != NULL) {
            w->errors++;
            if (w->why[0] == '\0')
                snprintf(w->why, sizeof(w->why), "tools/call: HTTP %d: %.150s", st, body ? body : "");
            if (st < 0)
                break;
            continue;
        }
        if (atomic_load(w->phase) == 1) {
            if (w->n == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 65536;
                w->lat = realloc(w->lat, w->cap * sizeof(*w->lat));
            }
            w->lat[w->n++] = dt;
        }
    }
    free(text);
    free(json);
    free(c.buf);
    close(c.fd);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_http URL CONNECTIONS SECONDS [PAYLOAD]\n");
        return 2;
    }
    struct target t = {.port = 80};
    const char *u = argv[1];
    if (strncmp(u, "http://", 7) != 0)
        return 2;
    u += 7;
    const char *slash = strchr(u, '/');
    const char *colon = memchr(u, ':', slash ? (size_t)(slash - u) : strlen(u));
    size_t hl = colon ? (size_t)(colon - u) : (slash ? (size_t)(slash - u) : strlen(u));
    snprintf(t.host, sizeof(t.host), "%.*s", (int)hl, u);
    if (colon)
        t.port = (uint16_t)num(colon + 1, 10);
    snprintf(t.path, sizeof(t.path), "%s", slash ? slash : "/");
    int nconn = (int)num(argv[2], 10);
    int secs = (int)num(argv[3], 10);
    size_t payload = argc > 4 ? (size_t)num(argv[4], 10) : 100;
    atomic_int phase = 0;
    struct worker *w = calloc((size_t)nconn, sizeof(*w));
    pthread_t *th = calloc((size_t)nconn, sizeof(*th));
    for (int i = 0; i < nconn; i++) {
        w[i].t = &t;
        w[i].payload = payload;
        w[i].phase = &phase;
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    sleep(1);
    atomic_store(&phase, 1);
    uint64_t t0 = now_us();
    sleep((unsigned)secs);
    atomic_store(&phase, 2);
    uint64_t elapsed = now_us() - t0;
    size_t total = 0;
    unsigned long errors = 0;
    const char *why = "";
    for (int i = 0; i < nconn; i++) {
        pthread_join(th[i], NULL);
        total += w[i].n;
        errors += w[i].errors;
        if (w[i].why[0] && !why[0])
            why = w[i].why;
    }
    uint64_t *all = malloc((total + 1) * sizeof(*all));
    size_t k = 0;
    for (int i = 0; i < nconn; i++) {
        memcpy(all + k, w[i].lat, w[i].n * sizeof(*all));
        k += w[i].n;
    }
    qsort(all, total, sizeof(*all), cmp_u64);
    printf("{\"connections\":%d,\"payload\":%zu,\"calls\":%zu,\"calls_per_s\":%.0f,\"p50_us\":%llu,"
           "\"p99_us\":%llu,\"errors\":%lu,\"first_error\":\"%.120s\"}\n",
           nconn, payload, total, (double)total / ((double)elapsed / 1e6),
           total ? (unsigned long long)all[total / 2] : 0ull,
           total ? (unsigned long long)all[(size_t)((double)total * 0.99)] : 0ull, errors, why);
    return 0;
}
