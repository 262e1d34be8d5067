/* shttp-testapp - the transport test application as a program, for the
 * integration tests (real MCP clients from npm). Prints "LISTENING <port>"
 * once it accepts connections, then one "EVENT ..." line per transport event.
 *
 *   shttp-testapp [--listen HOST:PORT] [--tls CERT KEY] [--sse-always]
 *                 [--sse-after MS] [--keepalive MS] [--grace MS] [--idle MS]
 *                 [--retry MS] [--max-body BYTES] [--allow-origin ORIGIN]...
 *                 [--allow-host HOST]...
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testapp.h"
#include "util/str.h"

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

static uint32_t arg_u32(const char *s)
{
    uint64_t v;
    if (parse_u64(s, UINT32_MAX, &v) < 0) {
        fprintf(stderr, "bad number: %s\n", s);
        exit(2);
    }
    return (uint32_t)v;
}

int main(int argc, char **argv)
{
    struct http_listener_opts lo = {.name = "test", .host = "127.0.0.1"};
    struct shttp_opts so = {0};
    const char *origins[16] = {0}, *hosts[16] = {0};
    size_t norig = 0, nhosts = 0;
    char hostbuf[256];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--listen") == 0 && v) {
            str_copy(hostbuf, v, sizeof(hostbuf));
            char *colon = strrchr(hostbuf, ':');
            if (colon == NULL) {
                fprintf(stderr, "--listen HOST:PORT\n");
                return 2;
            }
            *colon = '\0';
            lo.host = hostbuf;
            lo.port = (uint16_t)arg_u32(colon + 1);
            i++;
        } else if (strcmp(a, "--tls") == 0 && v && i + 2 < argc) {
            lo.tls_cert_file = v;
            lo.tls_key_file = argv[i + 2];
            i += 2;
        } else if (strcmp(a, "--sse-always") == 0) {
            so.sse_always = true;
        } else if (strcmp(a, "--sse-after") == 0 && v) {
            so.sse_after_ms = arg_u32(v);
            i++;
        } else if (strcmp(a, "--keepalive") == 0 && v) {
            so.keepalive_ms = arg_u32(v);
            i++;
        } else if (strcmp(a, "--grace") == 0 && v) {
            so.resume_grace_ms = arg_u32(v);
            i++;
        } else if (strcmp(a, "--idle") == 0 && v) {
            so.session_idle_ms = arg_u32(v);
            i++;
        } else if (strcmp(a, "--retry") == 0 && v) {
            so.retry_ms = arg_u32(v);
            i++;
        } else if (strcmp(a, "--max-body") == 0 && v) {
            lo.max_body = arg_u32(v);
            i++;
        } else if (strcmp(a, "--allow-origin") == 0 && v && norig < 15) {
            origins[norig++] = v;
            lo.allowed_origins = origins;
            i++;
        } else if (strcmp(a, "--allow-host") == 0 && v && nhosts < 15) {
            hosts[nhosts++] = v;
            lo.allowed_hosts = hosts;
            i++;
        } else {
            fprintf(stderr, "unknown or incomplete option: %s\n", a);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    struct http_server *hs = http_server_new(base);
    char err[256];
    struct http_listener *l = http_listener_new(hs, &lo, err, sizeof(err));
    if (l == NULL) {
        fprintf(stderr, "shttp-testapp: %s\n", err);
        return 1;
    }
    struct testapp *app = testapp_new(l, &so, stdout, err, sizeof(err));
    if (app == NULL) {
        fprintf(stderr, "shttp-testapp: %s\n", err);
        return 1;
    }
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    printf("LISTENING %u\n", (unsigned)http_listener_port(l));
    fflush(stdout);
    event_base_dispatch(base);
    testapp_free(app);
    http_server_free(hs);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(base);
    return 0;
}
