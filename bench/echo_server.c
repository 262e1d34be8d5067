/* echo_server - a small fast MCP stdio server for benchmarks: answers
 * initialize, tools/list (one tool, "echo") and tools/call echo with the
 * text it was given. Parses with our strict parser (the same cost in every
 * configuration measured). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto/frame.h"
#include "proto/jsonrpc.h"

static void out(struct buf *b)
{
    buf_append_char(b, '\n');
    const char *p = buf_head(b);
    size_t n = buf_used(b);
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w <= 0)
            _exit(0);
        p += w;
        n -= (size_t)w;
    }
    buf_reset(b);
}

int main(void)
{
    struct frame_reader fr;
    struct buf b;
    frame_init(&fr, 8u << 20);
    buf_init(&b, 16u << 20);
    for (;;) {
        ssize_t r = frame_read_fd(&fr, 0);
        if (r <= 0)
            break;
        struct frame_item it;
        while ((it = frame_next(&fr)).kind == FRAME_LINE) {
            struct rpc_msg m;
            struct rpc_err e;
            if (rpc_parse(it.data, it.len, NULL, &m, &e) < 0) {
                rpc_err_clear(&e);
                continue;
            }
            if (m.kind == RPC_REQUEST) {
                if (strcmp(m.method, "tools/call") == 0) {
                    json_t *t = json_object_get(json_object_get(m.params, "arguments"), "text");
                    buf_append_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":");
                    json_emit(&b, m.id);
                    buf_append_str(&b, ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":");
                    json_emit_string(&b, json_string_value(t) ? json_string_value(t) : "",
                                     json_string_length(t));
                    buf_append_str(&b, "}]}}");
                } else if (strcmp(m.method, "initialize") == 0) {
                    buf_append_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":");
                    json_emit(&b, m.id);
                    buf_append_str(&b, ",\"result\":{\"protocolVersion\":\"2025-11-25\","
                                       "\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":"
                                       "\"echo\",\"version\":\"1\"}}}");
                } else if (strcmp(m.method, "tools/list") == 0) {
                    buf_append_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":");
                    json_emit(&b, m.id);
                    buf_append_str(&b, ",\"result\":{\"tools\":[{\"name\":\"echo\",\"inputSchema\":"
                                       "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":"
                                       "\"string\"}},\"required\":[\"text\"]}}]}}");
                } else {
                    buf_append_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":");
                    json_emit(&b, m.id);
                    buf_append_str(&b, ",\"result\":{}}");
                }
                out(&b);
            }
            rpc_msg_free(&m);
        }
    }
    return 0;
}
