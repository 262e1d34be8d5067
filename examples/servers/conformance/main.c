/* mcp-conformance-server - implements exactly what the official MCP
 * conformance runner's server scenarios expect (@modelcontextprotocol/
 * conformance), on mcpwall's server kit. It is also the upstream the
 * gateway's conformance test puts behind `mcpwall serve`.
 *
 *   mcp-conformance-server                      serve one client on stdio
 *   mcp-conformance-server --listen HOST:PORT   serve Streamable HTTP at /mcp
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit/kit.h"
#include "util/log.h"

/* A 1x1 PNG. */
static const char png_b64[] =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

static json_t *png_content(void)
{
    return json_pack("{s:s, s:s, s:s}", "type", "image", "data", png_b64, "mimeType", "image/png");
}

/* A valid WAV file: 8 kHz, mono, 8-bit, 8 samples of silence. */
static json_t *wav_content(void)
{
    unsigned char w[44 + 8];
    const unsigned data_len = 8, rate = 8000;
    memcpy(w, "RIFF", 4);
    unsigned riff = 36 + data_len;
    for (int i = 0; i < 4; i++)
        w[4 + i] = (unsigned char)(riff >> (8 * i));
    memcpy(w + 8, "WAVEfmt ", 8);
    const unsigned char fmt[16] = {16, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(w + 16, fmt, 16);
    for (int i = 0; i < 4; i++) {
        w[24 + i] = (unsigned char)(rate >> (8 * i)); /* sample rate */
        w[28 + i] = (unsigned char)(rate >> (8 * i)); /* byte rate (1 byte/sample) */
    }
    w[32] = 1; /* block align */
    w[33] = 0;
    w[34] = 8; /* bits per sample */
    w[35] = 0;
    memcpy(w + 36, "data", 4);
    for (int i = 0; i < 4; i++)
        w[40 + i] = (unsigned char)(data_len >> (8 * i));
    memset(w + 44, 0x80, data_len);
    return kit_content_audio(w, sizeof(w), "audio/wav");
}

/* ---- simple tools ------------------------------------------------------- */

static void tool_simple_text(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    kit_call_tool_text(c, "This is a simple text response for testing.");
}

static void tool_image(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    kit_call_result(c, json_pack("{s:[o]}", "content", png_content()));
}

static void tool_audio(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    kit_call_result(c, json_pack("{s:[o]}", "content", wav_content()));
}

static void tool_embedded(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    kit_call_result(c, json_pack("{s:[o]}", "content",
                                 kit_content_resource_text("test://embedded-resource", "text/plain",
                                                           "This is an embedded resource content.")));
}

static void tool_mixed(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    kit_call_result(c, json_pack("{s:[o,o,o]}", "content",
                                 kit_content_text("Multiple content types test:"), png_content(),
                                 kit_content_resource_text("test://mixed-content-resource",
                                                           "application/json",
                                                           "{\"test\":\"data\",\"value\":123}")));
}

static void tool_error(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    kit_call_tool_error(c, "This tool intentionally returns an error for testing");
}

static void tool_schema_2020_12(struct kit_call *c, const json_t *args, void *ud)
{
    (void)ud;
    char *s = json_dumps(args, JSON_COMPACT);
    char msg[512];
    snprintf(msg, sizeof(msg), "Received arguments: %s", s != NULL ? s : "{}");
    free(s);
    kit_call_tool_text(c, msg);
}

/* ---- tools that take their time: logging and progress --------------------- */

struct stepper {
    struct kit_call *call;
    struct event *timer;
    int step;
    bool progress; /* progress tool; else logging tool */
};

static void stepper_free(struct stepper *st)
{
    event_free(st->timer);
    free(st);
}

static void stepper_cancel(struct kit_call *c, void *ud)
{
    struct stepper *st = ud;
    stepper_free(st);
    kit_call_tool_text(c, "cancelled"); /* dropped by the kit: the client cancelled */
}

static void stepper_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct stepper *st = arg;
    struct kit_call *c = st->call;
    static const char *const logs[] = {"Tool execution started", "Tool processing data",
                                       "Tool execution completed"};
    if (st->step < 3) {
        if (st->progress)
            kit_call_progress(c, st->step * 50.0, 100.0, NULL);
        else
            kit_call_log(c, KIT_LOG_INFO, "conformance", "%s", logs[st->step]);
    }
    st->step++;
    /* One more tick after the last notification before the response: the
     * TypeScript SDK client handles notifications a microtask later than
     * responses, so a notification and the response read in one chunk would
     * lose the notification to the response. */
    if (st->step < 4) {
        struct timeval tv = {0, 50000};
        evtimer_add(st->timer, &tv);
        return;
    }
    bool progress = st->progress;
    stepper_free(st);
    kit_call_tool_text(c, progress ? "Progress test completed: reported 0, 50 and 100 of 100"
                                   : "Logging test completed: sent 3 log messages");
}

static void start_stepper(struct kit_call *c, bool progress)
{
    struct stepper *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        kit_call_fail(c, -32603, "Internal error");
        return;
    }
    st->call = c;
    st->progress = progress;
    st->timer = evtimer_new(kit_call_base(c), stepper_tick, st);
    kit_call_on_cancel(c, stepper_cancel, st);
    stepper_tick(-1, 0, st);
}

static void tool_logging(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    start_stepper(c, false);
}

static void tool_progress(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    start_stepper(c, true);
}

/* ---- round trips to the client ------------------------------------------- */

static void sampling_reply(struct kit_call *c, const json_t *result,
                           const struct kit_rpc_error *err, void *ud)
{
    (void)ud;
    if (err != NULL) {
        kit_call_tool_error(c, "Sampling failed: %s", err->message);
        return;
    }
    const char *text = json_string_value(json_object_get(json_object_get(result, "content"), "text"));
    char msg[4096];
    snprintf(msg, sizeof(msg), "LLM response: %s", text != NULL ? text : "(no text content)");
    kit_call_tool_text(c, msg);
}

static void tool_sampling(struct kit_call *c, const json_t *args, void *ud)
{
    (void)ud;
    const char *prompt = json_string_value(json_object_get(args, "prompt"));
    json_t *p = json_pack("{s:[{s:s, s:{s:s, s:s}}], s:i}", "messages", "role", "user", "content",
                          "type", "text", "text", prompt, "maxTokens", 100);
    if (kit_call_sample(c, p, sampling_reply, NULL) < 0)
        kit_call_tool_error(c, "The client does not support sampling");
}

static void elicit_reply(struct kit_call *c, const json_t *result, const struct kit_rpc_error *err,
                         void *ud)
{
    const char *prefix = ud;
    if (err != NULL) {
        kit_call_tool_error(c, "Elicitation failed: %s", err->message);
        return;
    }
    const char *action = json_string_value(json_object_get(result, "action"));
    char *content = json_dumps(json_object_get(result, "content"), JSON_COMPACT | JSON_ENCODE_ANY);
    char msg[4096];
    snprintf(msg, sizeof(msg), "%s: action=%s, content=%s", prefix,
             action != NULL ? action : "(none)", content != NULL ? content : "{}");
    free(content);
    kit_call_tool_text(c, msg);
}

static void elicit(struct kit_call *c, const char *message, const char *schema_json,
                   const char *prefix)
{
    json_error_t je;
    json_t *schema = json_loads(schema_json, 0, &je);
    json_t *p = json_pack("{s:s, s:o}", "message", message, "requestedSchema", schema);
    if (kit_call_elicit(c, p, elicit_reply, (void *)prefix) < 0)
        kit_call_tool_error(c, "The client does not support elicitation");
}

static void tool_elicitation(struct kit_call *c, const json_t *args, void *ud)
{
    (void)ud;
    elicit(c, json_string_value(json_object_get(args, "message")),
           "{\"type\":\"object\",\"properties\":{"
           "\"username\":{\"type\":\"string\",\"description\":\"User's response\"},"
           "\"email\":{\"type\":\"string\",\"description\":\"User's email address\"}},"
           "\"required\":[\"username\",\"email\"]}",
           "User response");
}

static void tool_elicitation_defaults(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    elicit(c, "Please review and update the form fields with defaults",
           "{\"type\":\"object\",\"properties\":{"
           "\"name\":{\"type\":\"string\",\"description\":\"User name\",\"default\":\"John Doe\"},"
           "\"age\":{\"type\":\"integer\",\"description\":\"User age\",\"default\":30},"
           "\"score\":{\"type\":\"number\",\"description\":\"User score\",\"default\":95.5},"
           "\"status\":{\"type\":\"string\",\"description\":\"User status\","
           "\"enum\":[\"active\",\"inactive\",\"pending\"],\"default\":\"active\"},"
           "\"verified\":{\"type\":\"boolean\",\"description\":\"Verification status\","
           "\"default\":true}},\"required\":[]}",
           "Elicitation completed");
}

static void tool_elicitation_enums(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    elicit(c, "Please select options from the enum fields",
           "{\"type\":\"object\",\"properties\":{"
           "\"untitledSingle\":{\"type\":\"string\",\"description\":\"Untitled single-select\","
           "\"enum\":[\"option1\",\"option2\",\"option3\"]},"
           "\"titledSingle\":{\"type\":\"string\",\"description\":\"Titled single-select\","
           "\"oneOf\":[{\"const\":\"value1\",\"title\":\"First Option\"},"
           "{\"const\":\"value2\",\"title\":\"Second Option\"},"
           "{\"const\":\"value3\",\"title\":\"Third Option\"}]},"
           "\"legacyEnum\":{\"type\":\"string\",\"description\":\"Legacy titled enum\","
           "\"enum\":[\"opt1\",\"opt2\",\"opt3\"],"
           "\"enumNames\":[\"Option One\",\"Option Two\",\"Option Three\"]},"
           "\"untitledMulti\":{\"type\":\"array\",\"description\":\"Untitled multi-select\","
           "\"items\":{\"type\":\"string\",\"enum\":[\"option1\",\"option2\",\"option3\"]}},"
           "\"titledMulti\":{\"type\":\"array\",\"description\":\"Titled multi-select\","
           "\"items\":{\"anyOf\":[{\"const\":\"value1\",\"title\":\"First Choice\"},"
           "{\"const\":\"value2\",\"title\":\"Second Choice\"},"
           "{\"const\":\"value3\",\"title\":\"Third Choice\"}]}}},\"required\":[]}",
           "Elicitation completed");
}

/* ---- SSE polling (SEP-1699): the stream is closed mid-call ------------------ */

struct reconnect {
    struct kit_call *call;
    struct event *timer;
};

static void reconnect_cancel(struct kit_call *c, void *ud)
{
    struct reconnect *r = ud;
    event_free(r->timer);
    free(r);
    kit_call_tool_text(c, "cancelled");
}

static void reconnect_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct reconnect *r = arg;
    struct kit_call *c = r->call;
    event_free(r->timer);
    free(r);
    kit_call_tool_text(c, "Reconnection test completed successfully");
}

static void tool_reconnection(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    struct reconnect *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        kit_call_fail(c, -32603, "Internal error");
        return;
    }
    r->call = c;
    r->timer = evtimer_new(kit_call_base(c), reconnect_done, r);
    kit_call_on_cancel(c, reconnect_cancel, r);
    /* Over Streamable HTTP: make the answer an SSE stream, close its
     * connection, and answer a little later: the client resumes with
     * Last-Event-ID and gets the answer on the resumed stream. On stdio
     * there is no stream to close and the answer simply comes later. */
    kit_call_log(c, KIT_LOG_NOTICE, "conformance", "closing the stream; reconnect to get the answer");
    kit_call_disconnect(c);
    struct timeval tv = {0, 200000};
    evtimer_add(r->timer, &tv);
}

/* ---- resources ------------------------------------------------------------ */

static void read_static_text(struct kit_call *c, const char *uri, const json_t *vars, void *ud)
{
    (void)vars;
    (void)ud;
    const char *t = "This is the content of the static text resource.";
    kit_call_resource_text(c, uri, "text/plain", t, strlen(t));
}

static void read_static_binary(struct kit_call *c, const char *uri, const json_t *vars, void *ud)
{
    (void)vars;
    (void)ud;
    json_t *item = json_pack("{s:s, s:s, s:s}", "uri", uri, "mimeType", "image/png", "blob", png_b64);
    kit_call_result(c, json_pack("{s:[o]}", "contents", item));
}

static void read_watched(struct kit_call *c, const char *uri, const json_t *vars, void *ud)
{
    (void)vars;
    (void)ud;
    const char *t = "Watched resource content";
    kit_call_resource_text(c, uri, "text/plain", t, strlen(t));
}

static void read_template(struct kit_call *c, const char *uri, const json_t *vars, void *ud)
{
    (void)ud;
    const char *id = json_string_value(json_object_get(vars, "id"));
    char data[300];
    snprintf(data, sizeof(data), "Data for ID: %.200s", id);
    json_t *o = json_pack("{s:s, s:b, s:s}", "id", id, "templateTest", 1, "data", data);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text == NULL) {
        kit_call_fail(c, -32603, "Internal error");
        return;
    }
    kit_call_resource_text(c, uri, "application/json", text, strlen(text));
    free(text);
}

/* ---- prompts ---------------------------------------------------------------- */

static json_t *user_msg(json_t *content)
{
    return json_pack("{s:s, s:o}", "role", "user", "content", content);
}

static void prompt_simple(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    kit_call_result(c, json_pack("{s:[o]}", "messages",
                                 user_msg(kit_content_text("This is a simple prompt for testing."))));
}

static void prompt_args(struct kit_call *c, const json_t *args, void *ud)
{
    (void)ud;
    char text[1024];
    snprintf(text, sizeof(text), "Prompt with arguments: arg1='%.400s', arg2='%.400s'",
             json_string_value(json_object_get(args, "arg1")),
             json_string_value(json_object_get(args, "arg2")));
    kit_call_result(c, json_pack("{s:s, s:[o]}", "description", "A prompt with arguments",
                                 "messages", user_msg(kit_content_text(text))));
}

static void prompt_embedded(struct kit_call *c, const json_t *args, void *ud)
{
    (void)ud;
    const char *uri = json_string_value(json_object_get(args, "resourceUri"));
    kit_call_result(c, json_pack("{s:[o,o]}", "messages",
                                 user_msg(kit_content_resource_text(
                                     uri, "text/plain", "Embedded resource content for testing.")),
                                 user_msg(kit_content_text(
                                     "Please process the embedded resource above."))));
}

static void prompt_image(struct kit_call *c, const json_t *args, void *ud)
{
    (void)args;
    (void)ud;
    kit_call_result(c, json_pack("{s:[o,o]}", "messages", user_msg(png_content()),
                                 user_msg(kit_content_text("Please analyze the image above."))));
}

static void complete_arg(struct kit_call *c, const char *argument, const char *value,
                         const json_t *context, void *ud)
{
    (void)argument;
    (void)context;
    (void)ud;
    static const char *const words[] = {"paris", "park", "party", "test", "testing"};
    const char *out[5];
    size_t n = 0, vl = strlen(value);
    for (size_t i = 0; i < 5; i++)
        if (strncmp(words[i], value, vl) == 0)
            out[n++] = words[i];
    kit_call_completion(c, out, n, false);
}

/* ---- registration ------------------------------------------------------------ */

#define NOARGS "{\"type\":\"object\",\"properties\":{}}"

static void must(int rc, const char *err)
{
    if (rc < 0)
        fatalx("registration failed: %s", err);
}

static void register_all(struct kit_server *s)
{
    char err[256];
    const struct kit_tool tools[] = {
        {"test_simple_text", NULL, "Returns a simple text response", NOARGS, NULL, NULL,
         tool_simple_text, NULL},
        {"test_image_content", NULL, "Returns an image (a 1x1 PNG)", NOARGS, NULL, NULL,
         tool_image, NULL},
        {"test_audio_content", NULL, "Returns audio (a short WAV)", NOARGS, NULL, NULL, tool_audio,
         NULL},
        {"test_embedded_resource", NULL, "Returns an embedded text resource", NOARGS, NULL, NULL,
         tool_embedded, NULL},
        {"test_multiple_content_types", NULL, "Returns text, an image and a resource", NOARGS,
         NULL, NULL, tool_mixed, NULL},
        {"test_tool_with_logging", NULL, "Sends three log messages 50 ms apart", NOARGS, NULL,
         NULL, tool_logging, NULL},
        {"test_error_handling", NULL, "Always returns a tool error", NOARGS, NULL, NULL,
         tool_error, NULL},
        {"test_tool_with_progress", NULL, "Reports progress 0, 50 and 100 of 100", NOARGS, NULL,
         NULL, tool_progress, NULL},
        {"test_sampling", NULL, "Asks the client's LLM to answer a prompt",
         "{\"type\":\"object\",\"properties\":{\"prompt\":{\"type\":\"string\","
         "\"description\":\"The prompt to send to the LLM\"}},\"required\":[\"prompt\"]}",
         NULL, NULL, tool_sampling, NULL},
        {"test_elicitation", NULL, "Asks the user for a username and an email address",
         "{\"type\":\"object\",\"properties\":{\"message\":{\"type\":\"string\","
         "\"description\":\"The message to show the user\"}},\"required\":[\"message\"]}",
         NULL, NULL, tool_elicitation, NULL},
        {"test_elicitation_sep1034_defaults", NULL,
         "Elicitation whose fields carry default values (SEP-1034)", NOARGS, NULL, NULL,
         tool_elicitation_defaults, NULL},
        {"test_elicitation_sep1330_enums", NULL,
         "Elicitation with the five enum schema forms (SEP-1330)", NOARGS, NULL, NULL,
         tool_elicitation_enums, NULL},
        {"test_reconnection", NULL,
         "Closes the response stream mid-call; the answer arrives after the client "
         "reconnects (SEP-1699)",
         NOARGS, NULL, NULL, tool_reconnection, NULL},
        {"json_schema_2020_12_tool", NULL, "Tool with JSON Schema 2020-12 features",
         "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\","
         "\"$defs\":{\"address\":{\"type\":\"object\",\"properties\":{"
         "\"street\":{\"type\":\"string\"},\"city\":{\"type\":\"string\"}}}},"
         "\"properties\":{\"name\":{\"type\":\"string\"},"
         "\"address\":{\"$ref\":\"#/$defs/address\"}},\"additionalProperties\":false}",
         NULL, NULL, tool_schema_2020_12, NULL},
    };
    for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
        must(kit_add_tool(s, &tools[i], err, sizeof(err)), err);

    const struct kit_resource res[] = {
        {"test://static-text", "static-text", NULL, "A static text resource", "text/plain",
         read_static_text, NULL},
        {"test://static-binary", "static-binary", NULL, "A static binary resource (PNG)",
         "image/png", read_static_binary, NULL},
        {"test://watched-resource", "watched-resource", NULL, "A resource clients subscribe to",
         "text/plain", read_watched, NULL},
    };
    for (size_t i = 0; i < sizeof(res) / sizeof(res[0]); i++)
        must(kit_add_resource(s, &res[i], err, sizeof(err)), err);
    const struct kit_resource_template tpl = {
        "test://template/{id}/data", "template-data", NULL,
        "Data for an id, substituted from the URI", "application/json", read_template, NULL,
        complete_arg, NULL};
    must(kit_add_resource_template(s, &tpl, err, sizeof(err)), err);

    static const struct kit_prompt_arg two_args[] = {
        {"arg1", NULL, "First test argument", true},
        {"arg2", NULL, "Second test argument", true},
    };
    static const struct kit_prompt_arg uri_arg[] = {
        {"resourceUri", NULL, "URI of the resource to embed", true},
    };
    const struct kit_prompt prompts[] = {
        {"test_simple_prompt", NULL, "A simple prompt without arguments", NULL, 0, prompt_simple,
         NULL, NULL, NULL},
        {"test_prompt_with_arguments", NULL, "A prompt with two required arguments", two_args, 2,
         prompt_args, NULL, complete_arg, NULL},
        {"test_prompt_with_embedded_resource", NULL, "A prompt that embeds a resource", uri_arg,
         1, prompt_embedded, NULL, NULL, NULL},
        {"test_prompt_with_image", NULL, "A prompt with an image", NULL, 0, prompt_image, NULL,
         NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(prompts) / sizeof(prompts[0]); i++)
        must(kit_add_prompt(s, &prompts[i], err, sizeof(err)), err);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mcp-conformance-server [--listen HOST:PORT] [--verbose]\n"
               "Serves the MCP conformance scenarios on stdio, or over Streamable HTTP at\n"
               "http://HOST:PORT/mcp with --listen.\n");
}

int main(int argc, char **argv)
{
    const char *listen = NULL;
    enum log_level lvl = LOG_LVL_WARN;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen = argv[++i];
        } else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            lvl = LOG_LVL_DEBUG;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    log_init("mcp-conformance-server", lvl, 2);
    struct event_base *base = event_base_new();
    if (base == NULL)
        fatalx("cannot create the event loop");
    const struct kit_info info = {"mcp-conformance-server", "0.1.0", "mcpwall conformance server",
                                  NULL};
    struct kit_server *s = kit_server_new(base, &info, NULL);
    if (s == NULL)
        fatalx("cannot create the server");
    register_all(s);
    int rc;
    if (listen != NULL) {
        char host[256];
        uint16_t port;
        if (kit_parse_listen(listen, host, sizeof(host), &port) < 0) {
            fprintf(stderr, "mcp-conformance-server: --listen wants HOST:PORT, not '%s'\n",
                    listen);
            rc = -1;
        } else {
            const struct kit_http_opts ho = {.host = host, .port = port};
            rc = kit_serve_http(s, &ho);
        }
    } else {
        rc = kit_serve_stdio(s, 0, 1);
    }
    kit_server_free(s);
    event_base_free(base);
    return rc < 0 ? 1 : 0;
}
