/* demo_host - the host side of `make run`: starts `mcpwall wrap` around the
 * security-tools MCP server and walks through one session, printing what the
 * model's host would see: the tools on offer, an allowed call, and a call the
 * gateway refuses.
 *   demo_host MCPWALL POLICY AUDIT SERVER DEMO_DIR */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/frame.h"
#include "proto/jsonrpc.h"

static int to_gw, from_gw;
static struct frame_reader fr;
static int use_color;

#define C(code) (use_color ? code : "")

static void send_msg(const char *s)
{
    size_t n = strlen(s);
    if (write(to_gw, s, n) != (ssize_t)n || write(to_gw, "\n", 1) != 1) {
        fprintf(stderr, "demo: the gateway stopped reading\n");
        exit(1);
    }
}

/* The answer with this id (skipping notifications). Caller frees. */
static json_t *answer(long long want)
{
    for (;;) {
        struct frame_item it = frame_next(&fr);
        if (it.kind == FRAME_LINE) {
            struct rpc_msg m;
            struct rpc_err e;
            if (rpc_parse(it.data, it.len, NULL, &m, &e) < 0) {
                rpc_err_clear(&e);
                continue;
            }
            long long id = json_is_integer(m.id) ? json_integer_value(m.id) : -1;
            json_t *root = json_incref(m.root);
            rpc_msg_free(&m);
            if (id == want)
                return root;
            json_decref(root);
            continue;
        }
        if (frame_read_fd(&fr, from_gw) <= 0) {
            fprintf(stderr, "demo: the gateway closed its output\n");
            exit(1);
        }
    }
}

static void show_call(long long id, const char *tool, const char *args_json)
{
    char req[2048];
    snprintf(req, sizeof(req),
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"%s\",\"arguments\":%s}}",
             id, tool, args_json);
    printf("\n%s→ tools/call%s %s %s\n", C("\033[1m"), C("\033[0m"), tool, args_json);
    send_msg(req);
    json_t *a = answer(id);
    json_t *err = json_object_get(a, "error");
    if (err != NULL) {
        printf("  %s✗ DENIED%s  %lld  %s\n", C("\033[1;31m"), C("\033[0m"),
               (long long)json_integer_value(json_object_get(err, "code")),
               json_string_value(json_object_get(err, "message")));
        json_t *d = json_object_get(err, "data");
        const char *k;
        json_t *v;
        json_object_foreach(d, k, v) if (json_is_string(v))
            printf("             data.%s = %s\n", k, json_string_value(v));
    } else {
        json_t *res = json_object_get(a, "result");
        const char *text = json_string_value(json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
        printf("  %s✓ ALLOWED%s%s\n", C("\033[1;32m"), C("\033[0m"),
               json_is_true(json_object_get(res, "isError")) ? " (the server reported an error)" : "");
        /* The first lines of the result. */
        const char *p = text != NULL ? text : "";
        for (int line = 0; line < 6 && *p; line++) {
            const char *nl = strchr(p, '\n');
            int n = nl != NULL ? (int)(nl - p) : (int)strlen(p);
            printf("             %.*s\n", n > 100 ? 100 : n, p);
            p = nl != NULL ? nl + 1 : p + n;
        }
    }
    json_decref(a);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: demo_host MCPWALL POLICY AUDIT SERVER DEMO_DIR\n");
        return 2;
    }
    use_color = isatty(1) && getenv("NO_COLOR") == NULL;
    int in[2], out[2];
    if (pipe(in) < 0 || pipe(out) < 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl(argv[1], argv[1], "wrap", "-c", argv[2], "--audit", argv[3], "--log-level", "warn",
              "--", argv[4], (char *)NULL);
        perror(argv[1]);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    signal(SIGPIPE, SIG_IGN);
    to_gw = in[1];
    from_gw = out[0];
    frame_init(&fr, 8u << 20);

    printf("%smcpwall demo%s: a host talks to the security-tools MCP server through\n"
           "  mcpwall wrap -c %s -- %s\n",
           C("\033[1m"), C("\033[0m"), argv[2], argv[4]);

    send_msg("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":"
             "\"demo-host\",\"version\":\"1.0\"}}}");
    json_t *a = answer(0);
    json_t *si = json_object_get(json_object_get(a, "result"), "serverInfo");
    printf("\n%s→ initialize%s\n  ✓ %s %s, protocol %s\n", C("\033[1m"), C("\033[0m"),
           json_string_value(json_object_get(si, "name")),
           json_string_value(json_object_get(si, "version")),
           json_string_value(json_object_get(json_object_get(a, "result"), "protocolVersion")));
    json_decref(a);
    send_msg("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");

    send_msg("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
    a = answer(1);
    json_t *tools = json_object_get(json_object_get(a, "result"), "tools");
    printf("\n%s→ tools/list%s\n  ✓ %zu tool%s offered to the model:", C("\033[1m"), C("\033[0m"),
           json_array_size(tools), json_array_size(tools) == 1 ? "" : "s");
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) printf(" %s", json_string_value(json_object_get(t, "name")));
    printf("\n    (check_ip_reputation is hidden: policy rule no-reputation-lookups)\n");
    json_decref(a);

    char args[1024];
    snprintf(args, sizeof(args),
             "{\"log_path\":\"%s/logs/app.log\",\"pattern\":\"ERROR|WARN\",\"max_lines\":3}",
             argv[5]);
    show_call(2, "query_logs", args);
    show_call(3, "query_logs", "{\"log_path\":\"/etc/shadow\",\"pattern\":\".*\",\"max_lines\":10}");
    show_call(4, "check_ip_reputation", "{\"ip\":\"203.0.113.7\"}");

    close(to_gw); /* end of the session: the gateway stops the server */
    int st;
    waitpid(pid, &st, 0);
    frame_free(&fr);
    return 0;
}
