/* misbehave - a deliberately broken MCP stdio server for gateway tests.
 *
 * It answers initialize, tools/list and ping properly; each tool misbehaves:
 *   flood_stdout {count}   count log notifications, then the result
 *   flood_stderr {count}   count stderr lines, then the result
 *   huge_line {bytes}      one result line of `bytes` bytes (default 10 MB)
 *   invalid_json           a broken response line for the call's id
 *   exit_mid_call {status} exits while the call is in flight
 *   crash                  dies by SIGSEGV while the call is in flight
 *   never_answer           never answers (and logs notifications/cancelled)
 *   echo {text}            a normal answer
 * Blocking I/O on purpose: a slow reader must stall it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/frame.h"
#include "proto/jsonrpc.h"

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void send_buf(struct buf *b)
{
    buf_append_char(b, '\n');
    if (write_all(1, buf_head(b), buf_used(b)) < 0)
        exit(0);
    buf_reset(b);
}

static void result_text(const json_t *id, const char *text)
{
    struct buf b;
    buf_init(&b, 64u << 20);
    json_t *r = json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text", text);
    rpc_emit_result(&b, id, r);
    json_decref(r);
    send_buf(&b);
    buf_free(&b);
}

static json_t *tool(const char *name)
{
    return json_pack("{s:s,s:s,s:{s:s}}", "name", name, "description", "misbehaves",
                     "inputSchema", "type", "object");
}

static long long arg_int(const json_t *params, const char *key, long long def)
{
    json_t *v = json_object_get(json_object_get(params, "arguments"), key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

static void handle(const struct rpc_msg *m)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    if (m->kind != RPC_REQUEST) {
        if (m->method != NULL && strcmp(m->method, "notifications/cancelled") == 0)
            fprintf(stderr, "misbehave: got notifications/cancelled\n");
        buf_free(&b);
        return;
    }
    if (strcmp(m->method, "initialize") == 0) {
        json_t *r = json_pack("{s:s,s:{s:{}},s:{s:s,s:s}}", "protocolVersion", "2025-11-25",
                              "capabilities", "tools", "serverInfo", "name", "misbehave",
                              "version", "1.0");
        rpc_emit_result(&b, m->id, r);
        json_decref(r);
        send_buf(&b);
    } else if (strcmp(m->method, "ping") == 0) {
        json_t *r = json_object();
        rpc_emit_result(&b, m->id, r);
        json_decref(r);
        send_buf(&b);
    } else if (strcmp(m->method, "tools/list") == 0) {
        json_t *tools = json_array();
        const char *names[] = {"flood_stdout", "flood_stderr", "huge_line", "invalid_json",
                               "exit_mid_call", "crash", "never_answer", "echo", NULL};
        for (const char **n = names; *n; n++)
            json_array_append_new(tools, tool(*n));
        json_t *r = json_pack("{s:o}", "tools", tools);
        rpc_emit_result(&b, m->id, r);
        json_decref(r);
        send_buf(&b);
    } else if (strcmp(m->method, "tools/call") == 0) {
        const char *name = json_string_value(json_object_get(m->params, "name"));
        name = name ? name : "";
        if (strcmp(name, "flood_stdout") == 0) {
            long long n = arg_int(m->params, "count", 20000);
            for (long long i = 0; i < n; i++) {
                buf_printf(&b, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
                               "\"params\":{\"level\":\"info\",\"data\":\"flood %lld "
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}",
                           i);
                send_buf(&b);
            }
            result_text(m->id, "flood done");
        } else if (strcmp(name, "flood_stderr") == 0) {
            long long n = arg_int(m->params, "count", 20000);
            for (long long i = 0; i < n; i++)
                fprintf(stderr, "stderr flood line %lld\n", i);
            fflush(stderr);
            result_text(m->id, "stderr flood done");
        } else if (strcmp(name, "huge_line") == 0) {
            long long n = arg_int(m->params, "bytes", 10 * 1024 * 1024);
            char *pad = malloc((size_t)n + 1);
            memset(pad, 'x', (size_t)n);
            pad[n] = '\0';
            result_text(m->id, pad);
            free(pad);
        } else if (strcmp(name, "invalid_json") == 0) {
            buf_append_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":");
            json_emit(&b, m->id);
            buf_append_str(&b, ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"unterminated");
            send_buf(&b);
        } else if (strcmp(name, "exit_mid_call") == 0) {
            exit((int)arg_int(m->params, "status", 3));
        } else if (strcmp(name, "crash") == 0) {
            raise(SIGSEGV);
        } else if (strcmp(name, "never_answer") == 0) {
            /* nothing */
        } else {
            const char *t = json_string_value(json_object_get(json_object_get(m->params, "arguments"), "text"));
            result_text(m->id, t ? t : "echo");
        }
    } else {
        rpc_emit_error(&b, m->id, RPC_METHOD_NOT_FOUND, "method not found", NULL, NULL);
        send_buf(&b);
    }
    buf_free(&b);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL);
    struct frame_reader fr;
    frame_init(&fr, 8 * 1024 * 1024);
    for (;;) {
        ssize_t r = frame_read_fd(&fr, 0);
        if (r <= 0)
            break;
        struct frame_item it;
        while ((it = frame_next(&fr)).kind != FRAME_NONE) {
            if (it.kind != FRAME_LINE)
                continue;
            struct rpc_msg m;
            struct rpc_err e;
            if (rpc_parse(it.data, it.len, NULL, &m, &e) == 0) {
                handle(&m);
                rpc_msg_free(&m);
            } else {
                rpc_err_clear(&e);
            }
        }
    }
    frame_free(&fr);
    return 0;
}
