/* Fuzz target: the server kit's dispatch of client messages. Each input line
 * is one message to an initialized session of a server with a tool, a
 * resource template and a prompt; the kit must answer or drop every line
 * without crashing or leaking, whatever it holds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kit/kit_internal.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *tctx, void *stream, const char *d, size_t n, bool final)
{
    (void)tctx;
    (void)stream;
    (void)d;
    (void)n;
    (void)final;
    return 0;
}
static const struct kit_transport tp = {.send = sink};

static void reply(struct kit_call *c, const json_t *result, const struct kit_rpc_error *e, void *ud)
{
    (void)result;
    (void)ud;
    if (e != NULL)
        kit_call_tool_error(c, "%s", e->message);
    else
        kit_call_tool_structured(c, json_pack("{s:s}", "n", "bad"), NULL);
}

static void tool(struct kit_call *c, const json_t *args, void *ud)
{
    (void)ud;
    if (json_object_get(args, "park") != NULL)
        return; /* left unfinished: freed when the server is */
    kit_call_progress(c, 1, 2, "half");
    kit_call_log(c, KIT_LOG_INFO, "fuzz", "x");
    if (kit_call_sample(c, json_object(), reply, NULL) < 0)
        kit_call_tool_structured(c, json_pack("{s:i}", "n", 1), NULL);
}

static void readf(struct kit_call *c, const char *uri, const json_t *vars, void *ud)
{
    (void)vars;
    (void)ud;
    kit_call_resource_text(c, uri, "text/plain", "x", 1);
}

static void prompt(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    kit_call_fail(c, -32603, "no");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        log_init("fuzz", LOG_LVL_ERROR, 2);
        quiet = true;
    }
    struct event_base *base = event_base_new();
    const struct kit_info info = {"fuzz", "1", NULL, NULL};
    struct kit_server *s = kit_server_new(base, &info, NULL);
    char err[200];
    const struct kit_tool t = {"t", NULL, NULL,
                               "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}",
                               "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}",
                               NULL, tool, NULL};
    kit_add_tool(s, &t, err, sizeof(err));
    const struct kit_resource_template rt = {"x://a/{id}/b", "a", NULL, NULL, NULL, readf,
                                             NULL, NULL, NULL};
    kit_add_resource_template(s, &rt, err, sizeof(err));
    static const struct kit_prompt_arg pa[] = {{"a", NULL, NULL, true}};
    const struct kit_prompt p = {"p", NULL, NULL, pa, 1, prompt, NULL, NULL, NULL};
    kit_add_prompt(s, &p, err, sizeof(err));
    struct kit_session *ss = kit_session_open(s, &tp, NULL, "fuzz");
    const char *init = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                       "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{\"sampling\":{}}}}";
    kit_session_input_raw(ss, init, strlen(init), NULL);
    size_t pos = 0;
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t n = nl != NULL ? (size_t)(nl - (data + pos)) : size - pos;
        kit_session_input_raw(ss, (const char *)data + pos, n, NULL);
        pos += n + 1;
    }
    kit_server_free(s);
    event_base_free(base);
    return 0;
}
