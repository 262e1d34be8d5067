/* kit.h - a small MCP server kit on mcpwall's protocol core.
 *
 * A program creates a server, registers tools, resources, resource templates
 * and prompts (each with a handler), then serves over stdio or Streamable
 * HTTP. The kit answers the protocol itself: initialize and version
 * negotiation, ping, list pagination, logging/setLevel, resource
 * subscriptions, completion routing, cancellation, argument validation against
 * each tool's inputSchema and result validation against its outputSchema.
 *
 * Handlers run on the server's libevent loop. Each gets a struct kit_call and
 * finishes it exactly once, now or later, with one of the kit_call_* finishers
 * (kit_call_result, kit_call_tool_text, kit_call_fail, ...). Until then the
 * handler may send progress and log notifications and ask the client for
 * sampling, elicitation or roots; answers arrive in callbacks on the loop.
 * When the client cancels (notifications/cancelled) or its session ends, the
 * kit marks the call cancelled, fails the call's pending client requests and
 * runs the handler's cancel callback; the handler still finishes the call
 * (normally at once) and the kit sends nothing for it, as the specification
 * requires.
 *
 * Errors the kit sends never carry internals (errno text, file names,
 * allocator failures): those go to the operator's log. Messages a handler
 * passes to kit_call_fail()/kit_call_tool_error() are sent as written.
 *
 * Threading: none. Every function here must be called on the loop's thread.
 * See docs/server-kit.md for a complete example.
 */
#ifndef MCPWALL_KIT_KIT_H
#define MCPWALL_KIT_KIT_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kit_server;
struct kit_call;

/* ---- server ----------------------------------------------------------- */

struct kit_info {
    const char *name;         /* serverInfo.name; required */
    const char *version;      /* serverInfo.version; required */
    const char *title;        /* optional */
    const char *instructions; /* optional, sent in the initialize result */
};

/* Budgets; zero fields take the defaults shown. */
struct kit_limits {
    size_t max_message;           /* bytes of one inbound message (stdio); 4 MiB */
    size_t max_calls;             /* handler calls in flight per session; 64 */
    size_t max_outbound;          /* server->client requests pending per session; 16 */
    uint64_t outbound_timeout_us; /* answer time for those requests; 60 s */
    size_t page_size;             /* items per list page; 50 */
    size_t max_subscriptions;     /* resource subscriptions per session; 256 */
    uint64_t drain_timeout_us;    /* stdio: wait for handlers after EOF; 5 s */
};

/* Creates a server on `base` (borrowed; must outlive the server). `lim` may be
 * NULL. Strings in `info` are copied. NULL when info lacks name or version. */
struct kit_server *kit_server_new(struct event_base *base, const struct kit_info *info,
                                  const struct kit_limits *lim);
/* Closes every session and frees the server. Calls still unfinished are
 * freed too: handlers must not keep them past this point. NULL-safe. */
void kit_server_free(struct kit_server *s);
struct event_base *kit_server_base(const struct kit_server *s);
/* Makes kit_serve_*() return after the current loop iteration. */
void kit_server_stop(struct kit_server *s);

/* ---- registration ------------------------------------------------------
 * All strings are copied. JSON-valued fields are JSON text, parsed strictly
 * at registration. Registration functions return 0, or -1 with a sentence in
 * err (errsz bytes) for a bad name, bad JSON, a schema that does not compile,
 * or a duplicate. Register before serving; lists keep registration order.
 */

typedef void (*kit_tool_fn)(struct kit_call *call, const json_t *args, void *ud);

struct kit_tool {
    const char *name;          /* required: 1-128 of [A-Za-z0-9_.-] */
    const char *title;         /* optional */
    const char *description;   /* optional (recommended) */
    const char *input_schema;  /* JSON Schema of the arguments; NULL = {"type":"object"} */
    const char *output_schema; /* JSON Schema of structuredContent; optional */
    const char *annotations;   /* JSON object, e.g. {"readOnlyHint":true}; optional */
    kit_tool_fn handler;       /* required */
    void *ud;
};
int kit_add_tool(struct kit_server *s, const struct kit_tool *t, char *err, size_t errsz);

/* Reads a resource. `vars` holds the template variables (an object of
 * strings) for template resources, NULL for static ones. */
typedef void (*kit_read_fn)(struct kit_call *call, const char *uri, const json_t *vars, void *ud);
/* Completes the value of one argument of a prompt or template variable.
 * `context` is the object of arguments already chosen (may be NULL). Finish
 * with kit_call_completion(). */
typedef void (*kit_complete_fn)(struct kit_call *call, const char *argument, const char *value,
                                const json_t *context, void *ud);

struct kit_resource {
    const char *uri;         /* required, unique */
    const char *name;        /* required */
    const char *title;
    const char *description;
    const char *mime_type;
    kit_read_fn read;        /* required */
    void *ud;
};
int kit_add_resource(struct kit_server *s, const struct kit_resource *r, char *err, size_t errsz);

/* A template in the RFC 6570 level-1 form "scheme://a/{x}/b{y}": each {name}
 * matches one or more characters other than '/', '?' and '#'. */
struct kit_resource_template {
    const char *uri_template; /* required */
    const char *name;         /* required */
    const char *title;
    const char *description;
    const char *mime_type;
    kit_read_fn read;         /* required */
    void *ud;
    kit_complete_fn complete; /* optional, for completion/complete */
    void *complete_ud;
};
int kit_add_resource_template(struct kit_server *s, const struct kit_resource_template *t,
                              char *err, size_t errsz);

struct kit_prompt_arg {
    const char *name; /* required */
    const char *title;
    const char *description;
    bool required;
};

/* `args` is an object of strings; the kit has checked that every required
 * argument is present and that no unknown argument was passed. */
typedef void (*kit_prompt_fn)(struct kit_call *call, const json_t *args, void *ud);

struct kit_prompt {
    const char *name; /* required */
    const char *title;
    const char *description;
    const struct kit_prompt_arg *args; /* nargs entries */
    size_t nargs;
    kit_prompt_fn get;        /* required */
    void *ud;
    kit_complete_fn complete; /* optional */
    void *complete_ud;
};
int kit_add_prompt(struct kit_server *s, const struct kit_prompt *p, char *err, size_t errsz);

/* ---- hooks ------------------------------------------------------------ */

enum kit_outcome {
    KIT_OK = 0,         /* a result was sent */
    KIT_TOOL_ERROR,     /* a tool result with isError: true was sent */
    KIT_RPC_ERROR,      /* a JSON-RPC error was sent */
    KIT_CANCELLED,      /* nothing was sent: the client cancelled or left */
};

/* What the recorder sees once per finished call (tools/call, prompts/get,
 * resources/read, completion/complete), allowed or refused. Everything is
 * borrowed for the duration of the callback. */
struct kit_call_record {
    const char *method;     /* e.g. "tools/call" */
    const char *name;       /* tool or prompt name, resource URI; may be NULL */
    const json_t *args;     /* arguments as received; may be NULL */
    const char *session;    /* session id ("stdio" on stdio) */
    const json_t *client_info; /* clientInfo from initialize; may be NULL */
    enum kit_outcome outcome;
    int code;               /* JSON-RPC code for KIT_RPC_ERROR */
    const char *message;    /* error text sent (RPC or tool error); may be NULL */
    const char *reason;     /* stable reason code when the kit or a gate refused; may be NULL */
    const json_t *result;   /* result sent; NULL unless KIT_OK / KIT_TOOL_ERROR */
    uint64_t start_wall_us;
    uint64_t duration_us;
};
typedef void (*kit_record_fn)(const struct kit_call_record *rec, void *ud);
void kit_server_set_recorder(struct kit_server *s, kit_record_fn fn, void *ud);

/* A gate runs before every tools/call handler (after the tool is found,
 * before its arguments are validated). Return 0 to let the call proceed, or
 * finish the call (kit_call_fail or kit_call_tool_error) and return -1.
 * Rate limits and policy checks belong here. */
typedef int (*kit_gate_fn)(struct kit_call *call, const char *tool, const json_t *args, void *ud);
void kit_server_set_gate(struct kit_server *s, kit_gate_fn fn, void *ud);

/* ---- inside a handler -------------------------------------------------- */

const char *kit_call_method(const struct kit_call *c);
/* Tool or prompt name, or resource URI. */
const char *kit_call_name(const struct kit_call *c);
/* The request's params (borrowed, valid until the call is finished). */
const json_t *kit_call_params(const struct kit_call *c);
/* The client's capabilities from initialize (an object; never NULL). */
const json_t *kit_call_client_caps(const struct kit_call *c);
/* Negotiated protocol version, e.g. "2025-11-25". */
const char *kit_call_protocol_version(const struct kit_call *c);
const char *kit_call_session_id(const struct kit_call *c);
struct event_base *kit_call_base(const struct kit_call *c);
/* True once the client cancelled the request or its session ended. */
bool kit_call_cancelled(const struct kit_call *c);
/* Runs fn once when the call is cancelled (not if it is finished first). The
 * callback should stop the work and finish the call. */
void kit_call_on_cancel(struct kit_call *c, void (*fn)(struct kit_call *c, void *ud), void *ud);
/* Marks the call as a reason-coded refusal for the recorder (e.g.
 * "rate_limited"); call before finishing. `reason` must be a static string. */
void kit_call_set_reason(struct kit_call *c, const char *reason);

/* Streamable HTTP only: closes the connection that carries the call's SSE
 * response stream without ending it, so the client reconnects and resumes
 * with Last-Event-ID (2025-11-25 "polling"); the call goes on and its later
 * messages reach the client after it resumes. The stream must already be SSE
 * (something was sent on it, e.g. a log or progress notification). -1 on
 * stdio, or when the stream cannot be disconnected. */
int kit_call_disconnect(struct kit_call *c);

/* Sends notifications/progress when the request carried _meta.progressToken
 * (otherwise does nothing and returns 0). `total` < 0 omits it; `message`
 * may be NULL. Progress must increase: a value not above the last one is
 * refused with -1. */
int kit_call_progress(struct kit_call *c, double progress, double total, const char *message);

enum kit_log_level {
    KIT_LOG_DEBUG = 0,
    KIT_LOG_INFO,
    KIT_LOG_NOTICE,
    KIT_LOG_WARNING,
    KIT_LOG_ERROR,
    KIT_LOG_CRITICAL,
    KIT_LOG_ALERT,
    KIT_LOG_EMERGENCY,
};
const char *kit_log_level_name(enum kit_log_level l);
/* Sends notifications/message tied to this request, if `level` passes the
 * session's logging/setLevel threshold (default: info). `logger` may be NULL.
 * The formatted text becomes params.data. Returns 0 (sent or filtered). */
int kit_call_log(struct kit_call *c, enum kit_log_level level, const char *logger,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Same with any JSON value as data (stolen). */
int kit_call_log_data(struct kit_call *c, enum kit_log_level level, const char *logger,
                      json_t *data);

/* An error answer to a server->client request: code and message as sent by
 * the client, or MW_ERR_TIMEOUT / KIT_ERR_CANCELLED / KIT_ERR_CLOSED. */
struct kit_rpc_error {
    int code;
    const char *message;
    const json_t *data; /* may be NULL */
};
#define KIT_ERR_CANCELLED (-32800) /* the call was cancelled while waiting */
#define KIT_ERR_CLOSED    (-32801) /* the session ended while waiting */

/* Called exactly once with the client's result (err NULL) or an error
 * (result NULL). Both are borrowed for the duration of the callback. */
typedef void (*kit_reply_fn)(struct kit_call *c, const json_t *result,
                             const struct kit_rpc_error *err, void *ud);

/* Sends a request to the client on behalf of this call (over HTTP it travels
 * on the call's response stream). `params` is stolen (may be NULL). Returns 0,
 * or -1 (fn never called) when the call is cancelled or finished, the
 * session's budget of pending requests is used up, or sending failed. */
int kit_call_request(struct kit_call *c, const char *method, json_t *params, kit_reply_fn fn,
                     void *ud);
/* sampling/createMessage, elicitation/create and roots/list; each returns -1
 * without sending when the client did not declare the capability. */
int kit_call_sample(struct kit_call *c, json_t *params, kit_reply_fn fn, void *ud);
int kit_call_elicit(struct kit_call *c, json_t *params, kit_reply_fn fn, void *ud);
int kit_call_list_roots(struct kit_call *c, kit_reply_fn fn, void *ud);

/* ---- finishing a call --------------------------------------------------
 * Exactly one finisher per call; the call is invalid afterwards. Each returns
 * 0 when the answer was sent (or dropped because the call was cancelled), -1
 * when it could not be: then the kit sent an internal error instead (logged
 * for the operator) and the call is finished all the same.
 */

/* The whole result object (stolen). For tools/call the kit checks
 * structuredContent against the tool's outputSchema unless isError is true. */
int kit_call_result(struct kit_call *c, json_t *result);
/* A JSON-RPC error; the message is sent as formatted. */
int kit_call_fail(struct kit_call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same with a stable reason code in data.reason and optional extra data (stolen). */
int kit_call_fail_data(struct kit_call *c, int code, const char *reason, json_t *data,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Tool results: one text block; an error result (isError: true) for the model
 * to read; structured content (stolen) with its JSON as a text block when
 * `text` is NULL. */
int kit_call_tool_text(struct kit_call *c, const char *text);
int kit_call_tool_error(struct kit_call *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int kit_call_tool_structured(struct kit_call *c, json_t *structured, const char *text);
/* Resource read results with one content item. */
int kit_call_resource_text(struct kit_call *c, const char *uri, const char *mime_type,
                           const char *text, size_t len);
int kit_call_resource_blob(struct kit_call *c, const char *uri, const char *mime_type,
                           const void *data, size_t len);
/* completion/complete result; at most 100 values are sent (has_more is set
 * when more were given). */
int kit_call_completion(struct kit_call *c, const char *const *values, size_t n, bool has_more);

/* ---- content builders (new references; NULL on allocation failure) ---- */
json_t *kit_content_text(const char *text);
json_t *kit_content_image(const void *data, size_t len, const char *mime_type);
json_t *kit_content_audio(const void *data, size_t len, const char *mime_type);
json_t *kit_content_resource_text(const char *uri, const char *mime_type, const char *text);
json_t *kit_content_resource_blob(const char *uri, const char *mime_type, const void *data,
                                  size_t len);
/* Base64 (RFC 4648, padded) of data as a new malloc'd string. */
char *kit_base64(const void *data, size_t len);

/* ---- server-wide notifications ------------------------------------------ */

/* Sends notifications/resources/updated to every session subscribed to uri. */
void kit_resource_updated(struct kit_server *s, const char *uri);
/* Sends notifications/message to every ready session whose level admits it. */
void kit_server_log(struct kit_server *s, enum kit_log_level level, const char *logger,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- serving ------------------------------------------------------------ */

/* Serves one client over newline-delimited JSON on in_fd/out_fd (normally 0
 * and 1, made non-blocking) and runs the loop until the client closes its
 * end, kit_server_stop() is called, or SIGINT/SIGTERM arrives. SIGPIPE is
 * ignored. Returns 0, or -1 when the fds cannot be used. */
int kit_serve_stdio(struct kit_server *s, int in_fd, int out_fd);

/* Serves MCP over Streamable HTTP at http://HOST:PORT/PATH through the
 * project's transport (sessions, SSE, resumption, DELETE, Host/Origin checks
 * against DNS rebinding) until kit_server_stop() or SIGINT/SIGTERM. Returns 0,
 * or -1 when the listener cannot be set up (logged). */
struct kit_http_opts {
    const char *host;                   /* default "127.0.0.1" */
    uint16_t port;                      /* 0: an ephemeral port (see on_listening) */
    const char *path;                   /* default "/mcp" */
    const char *const *allowed_hosts;   /* Host values; NULL: loopback names when bound to
                                           loopback (the transport refuses others) */
    const char *const *allowed_origins; /* extra Origin values; NULL: none */
    void (*on_listening)(uint16_t port, void *ud); /* called once bound */
    void *on_listening_ud;
};
int kit_serve_http(struct kit_server *s, const struct kit_http_opts *o);
/* Parses "HOST:PORT" ("127.0.0.1:8080", "[::1]:8080", "localhost:0"). */
int kit_parse_listen(const char *spec, char *host, size_t hostsz, uint16_t *port);

#endif
