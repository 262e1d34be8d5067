/* kit-example - the complete example of docs/server-kit.md: a tool with
 * structured output, a slow tool with progress and cancellation, a tool that
 * asks the user (elicitation), a resource and a prompt. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit/kit.h"

/* add(a, b): structured result checked against the outputSchema. */
static void tool_add(struct kit_call *c, const json_t *args, void *ud)
{
    (void)ud;
    /* The kit validated args against the inputSchema: both are numbers. */
    double sum = json_number_value(json_object_get(args, "a")) +
                 json_number_value(json_object_get(args, "b"));
    kit_call_tool_structured(c, json_pack("{s:f}", "sum", sum), NULL);
}

/* count(to): one step every 100 ms with progress; stops when cancelled. */
struct counter {
    struct kit_call *call;
    struct event *timer;
    long long i, to;
};

static void counter_free(struct counter *k)
{
    event_free(k->timer);
    free(k);
}

static void counter_cancel(struct kit_call *c, void *ud)
{
    counter_free(ud);
    kit_call_tool_text(c, "cancelled"); /* finishes the call; the kit sends nothing */
}

static void counter_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct counter *k = arg;
    k->i++;
    kit_call_progress(k->call, (double)k->i, (double)k->to, NULL);
    if (k->i < k->to) {
        struct timeval tv = {0, 100000};
        evtimer_add(k->timer, &tv);
        return;
    }
    struct kit_call *c = k->call;
    counter_free(k);
    kit_call_tool_text(c, "counted");
}

static void tool_count(struct kit_call *c, const json_t *args, void *ud)
{
    (void)ud;
    struct counter *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        kit_call_fail(c, -32603, "Internal error");
        return;
    }
    k->call = c;
    k->to = json_integer_value(json_object_get(args, "to"));
    k->timer = evtimer_new(kit_call_base(c), counter_tick, k);
    kit_call_on_cancel(c, counter_cancel, k);
    kit_call_log(c, KIT_LOG_INFO, "count", "counting to %lld", k->to);
    struct timeval tv = {0, 100000};
    evtimer_add(k->timer, &tv);
}

/* greet(): asks the user for a name, answers later. */
static void greet_answer(struct kit_call *c, const json_t *result,
                         const struct kit_rpc_error *err, void *ud)
{
    (void)ud;
    const char *name = json_string_value(json_object_get(json_object_get(result, "content"), "name"));
    if (err != NULL || name == NULL) {
        kit_call_tool_error(c, "No name was given");
        return;
    }
    char msg[300];
    snprintf(msg, sizeof(msg), "Hello, %.200s!", name);
    kit_call_tool_text(c, msg);
}

static void tool_greet(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    json_t *req = json_pack("{s:s, s:{s:s, s:{s:{s:s}}, s:[s]}}", "message", "What is your name?",
                            "requestedSchema", "type", "object", "properties", "name", "type",
                            "string", "required", "name");
    if (kit_call_elicit(c, req, greet_answer, NULL) < 0)
        kit_call_tool_error(c, "This client cannot ask its user (no elicitation capability)");
}

static void read_motd(struct kit_call *c, const char *uri, const json_t *vars, void *ud)
{
    (void)vars;
    (void)ud;
    const char *t = "Welcome to the kit example.";
    kit_call_resource_text(c, uri, "text/plain", t, strlen(t));
}

static void prompt_review(struct kit_call *c, const json_t *args, void *ud)
{
    (void)ud;
    char text[600];
    snprintf(text, sizeof(text), "Please review this code:\n%.500s",
             json_string_value(json_object_get(args, "code")));
    kit_call_result(c, json_pack("{s:[{s:s, s:o}]}", "messages", "role", "user", "content",
                                 kit_content_text(text)));
}

int main(void)
{
    struct event_base *base = event_base_new();
    const struct kit_info info = {.name = "kit-example", .version = "1.0.0"};
    struct kit_server *s = kit_server_new(base, &info, NULL);
    char err[256];
    const struct kit_tool tools[] = {
        {.name = "add",
         .description = "Adds two numbers",
         .input_schema = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\"},"
                         "\"b\":{\"type\":\"number\"}},\"required\":[\"a\",\"b\"]}",
         .output_schema = "{\"type\":\"object\",\"properties\":{\"sum\":{\"type\":\"number\"}},"
                          "\"required\":[\"sum\"]}",
         .annotations = "{\"readOnlyHint\":true}",
         .handler = tool_add},
        {.name = "count",
         .description = "Counts slowly, reporting progress",
         .input_schema = "{\"type\":\"object\",\"properties\":{\"to\":{\"type\":\"integer\","
                         "\"minimum\":1,\"maximum\":100}},\"required\":[\"to\"]}",
         .handler = tool_count},
        {.name = "greet", .description = "Asks your name and greets you", .handler = tool_greet},
    };
    for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
        if (kit_add_tool(s, &tools[i], err, sizeof(err)) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    const struct kit_resource motd = {.uri = "example://motd", .name = "motd",
                                      .mime_type = "text/plain", .read = read_motd};
    static const struct kit_prompt_arg code_arg[] = {{.name = "code", .required = true}};
    const struct kit_prompt review = {.name = "review", .description = "Code review",
                                      .args = code_arg, .nargs = 1, .get = prompt_review};
    if (kit_add_resource(s, &motd, err, sizeof(err)) < 0 ||
        kit_add_prompt(s, &review, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int rc = kit_serve_stdio(s, 0, 1); /* until the client closes stdin */
    kit_server_free(s);
    event_base_free(base);
    return rc < 0 ? 1 : 0;
}
