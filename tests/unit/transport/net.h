/* net.h - test harness for the transport: a server on a loop thread, and a
 * blocking raw-socket HTTP client for the test thread.
 *
 * Waits in these helpers are upper bounds so a broken server cannot hang a
 * test (they fail it instead); no test asserts that something is fast.
 */
#ifndef MCPWALL_TESTS_NET_H
#define MCPWALL_TESTS_NET_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testapp.h"
#include "transport/http_server.h"

#define NET_WAIT_MS 10000

struct tsrv;
typedef void (*tsrv_fn)(struct tsrv *t, void *arg);

struct tsrv {
    struct event_base *base;
    struct http_server *hs;
    struct http_listener *l;
    struct testapp *app; /* when started with shttp options */
    uint16_t port;
    pthread_t th;
    int pipe[2];
    struct event *call_ev;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    tsrv_fn fn;
    void *arg;
    bool done;
    bool stop;
};

/* Starts a listener (and, when so != NULL, the test app on it); `setup`
 * (may be NULL) runs on the loop before it starts, to add routes. */
void tsrv_start(struct tsrv *t, const struct http_listener_opts *lo, const struct shttp_opts *so,
                tsrv_fn setup, void *arg);
/* Runs fn(t, arg) on the loop thread and waits for it. */
void tsrv_call(struct tsrv *t, tsrv_fn fn, void *arg);
void tsrv_stop(struct tsrv *t);
/* Counters of the listener, copied on the loop thread. */
void tsrv_counters(struct tsrv *t, struct http_counters *out);

/* A raw client connection. */
struct hcli {
    int fd;
    char in[1 << 16]; /* received, not yet parsed */
    size_t inlen;
    bool eof;
    int status;
    char head[8192];
    bool chunked;
    long long clen; /* -1: none */
    bool body_done;
    char *body; /* decoded body (NUL-terminated) */
    size_t bodylen, bodycap;
    size_t chunk_left;
    int chunk_state; /* 0 size line, 1 data, 2 CRLF after data, 3 done */
};

void hcli_open(struct hcli *c, uint16_t port);
void hcli_close(struct hcli *c);
/* Sends bytes; false if the peer already closed (EPIPE/ECONNRESET). */
bool hcli_send(struct hcli *c, const void *p, size_t n);
bool hcli_sends(struct hcli *c, const char *s);
/* Reads the next response head (status, headers); false on EOF/timeout. */
bool hcli_head(struct hcli *c);
/* A response header's value (first), or NULL. Copies into a static buffer. */
const char *hcli_header(const struct hcli *c, const char *name);
/* Reads body bytes until `needle` appears in the decoded body (NULL: until
 * the body ends). False on timeout/EOF before that. */
bool hcli_body_until(struct hcli *c, const char *needle);
/* Resets the body for the next response on the same connection. */
void hcli_next(struct hcli *c);
/* True when the server closes the connection within NET_WAIT_MS (reading
 * and dropping whatever comes first). */
bool hcli_wait_closed(struct hcli *c);

/* One-shot: connect, send raw, read the whole response, close. Returns the
 * status (0 on failure); the body stays in c->body until hcli_close. */
int hcli_request(struct hcli *c, uint16_t port, const char *raw);

/* Builds a POST to /mcp with the usual MCP headers. `extra` is added as is
 * (lines ending in CRLF). Returns a malloc'd request. */
char *mcp_post(const char *sid, const char *extra, const char *json);

#endif
