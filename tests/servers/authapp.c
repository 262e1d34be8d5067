/* auth-testapp - the transport test application behind mcpwall's
 * authentication hook, for integration tests with real clients: the auth:
 * section of a configuration file decides who may call /mcp, and the
 * protected resource metadata is served at its well-known paths.
 *
 *   auth-testapp -c CONFIG --listen HOST:PORT
 *
 * Prints "LISTENING <port>" once it accepts connections, then one line per
 * authentication decision: "AUTH <http status> <reason> <principal or ->"
 * and the test application's "EVENT ..." lines. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/authn.h"
#include "testapp.h"
#include "transport/http_client.h"
#include "util/str.h"

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

static void observe(void *ud, const struct authn_result *res, const char *peer)
{
    (void)ud;
    (void)peer;
    printf("AUTH %d %s %s\n", res->http_status, res->reason, res->id ? res->id->principal : "-");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    struct http_listener_opts lo = {.name = "public", .host = "127.0.0.1"};
    char hostbuf[256];
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "-c") == 0 && v) {
            config = v;
            i++;
        } else if (strcmp(argv[i], "--listen") == 0 && v) {
            str_copy(hostbuf, v, sizeof(hostbuf));
            char *colon = strrchr(hostbuf, ':');
            uint64_t port;
            if (colon == NULL || parse_u64(colon + 1, 65535, &port) < 0) {
                fprintf(stderr, "--listen HOST:PORT\n");
                return 2;
            }
            *colon = '\0';
            lo.host = hostbuf;
            lo.port = (uint16_t)port;
            i++;
        } else {
            fprintf(stderr, "usage: auth-testapp -c CONFIG [--listen HOST:PORT]\n");
            return 2;
        }
    }
    if (config == NULL) {
        fprintf(stderr, "usage: auth-testapp -c CONFIG [--listen HOST:PORT]\n");
        return 2;
    }
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    struct cfg_doc *doc = cfg_load_file(config, &errs);
    struct authn *a = doc ? authn_compile(doc, json_object_get(doc->root, "auth"), &errs) : NULL;
    cfg_doc_free(doc);
    if (a == NULL) {
        cfg_errors_print(&errs, stderr);
        return 1;
    }
    cfg_errors_free(&errs);
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    struct http_server *hs = http_server_new(base);
    struct http_client *hc = http_client_new(base, NULL);
    char err[256];
    struct http_listener *l = http_listener_new(hs, &lo, err, sizeof(err));
    if (l == NULL) {
        fprintf(stderr, "auth-testapp: %s\n", err);
        return 1;
    }
    authn_set_observer(a, observe, NULL);
    if (authn_start(a, base, hc) < 0 || authn_route_metadata(a, l) < 0) {
        fprintf(stderr, "auth-testapp: cannot start authentication\n");
        return 1;
    }
    http_listener_set_auth(l, authn_http_hook, a);
    struct shttp_opts so = {.auth = true};
    struct testapp *app = testapp_new(l, &so, stdout, err, sizeof(err));
    if (app == NULL) {
        fprintf(stderr, "auth-testapp: %s\n", err);
        return 1;
    }
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    printf("LISTENING %u\n", (unsigned)http_listener_port(l));
    fflush(stdout);
    event_base_dispatch(base);
    authn_stop(a);
    testapp_free(app);
    http_server_free(hs);
    http_client_free(hc);
    authn_unref(a);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(base);
    return 0;
}
