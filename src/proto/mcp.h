/* mcp.h - MCP methods, protocol revisions and eras, and the session lifecycle.
 *
 * The method table lists every request and notification of the schema.ts of
 * revisions 2025-06-18, 2025-11-25 and 2026-07-28 with the direction(s) it may
 * travel. Two eras exist: legacy (2025-06-18, 2025-11-25: an initialize
 * handshake creates a session) and modern (2026-07-28: stateless, every request
 * carries its version in params._meta). A session records its era; code that
 * needs the negotiated version or capabilities asks mcp_request_ctx() rather
 * than the session directly, so a stateless era only changes where that
 * context comes from (the request instead of the handshake).
 */
#ifndef MCPWALL_PROTO_MCP_H
#define MCPWALL_PROTO_MCP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "proto/jsonrpc.h"

enum mcp_rev {
    MCP_REV_NONE = 0,
    MCP_REV_2025_06_18 = 1u << 0,
    MCP_REV_2025_11_25 = 1u << 1,
    MCP_REV_2026_07_28 = 1u << 2,
};
#define MCP_REV_LEGACY (MCP_REV_2025_06_18 | MCP_REV_2025_11_25)
#define MCP_REV_ALL    (MCP_REV_LEGACY | MCP_REV_2026_07_28)

enum mcp_era { MCP_ERA_UNKNOWN = 0, MCP_ERA_LEGACY, MCP_ERA_MODERN };

/* Direction bits: who may send the message. */
#define MCP_FROM_CLIENT 1u
#define MCP_FROM_SERVER 2u

enum mcp_method_id {
    MCP_M_UNKNOWN = 0,
    MCP_M_INITIALIZE,
    MCP_M_PING,
    MCP_M_TOOLS_LIST,
    MCP_M_TOOLS_CALL,
    MCP_M_PROMPTS_LIST,
    MCP_M_PROMPTS_GET,
    MCP_M_RESOURCES_LIST,
    MCP_M_RESOURCES_TEMPLATES_LIST,
    MCP_M_RESOURCES_READ,
    MCP_M_RESOURCES_SUBSCRIBE,
    MCP_M_RESOURCES_UNSUBSCRIBE,
    MCP_M_COMPLETION_COMPLETE,
    MCP_M_LOGGING_SET_LEVEL,
    MCP_M_SAMPLING_CREATE_MESSAGE,
    MCP_M_ELICITATION_CREATE,
    MCP_M_ROOTS_LIST,
    MCP_M_TASKS_GET,
    MCP_M_TASKS_RESULT,
    MCP_M_TASKS_LIST,
    MCP_M_TASKS_CANCEL,
    MCP_M_SERVER_DISCOVER,
    MCP_M_SUBSCRIPTIONS_LISTEN,
    MCP_N_INITIALIZED,
    MCP_N_CANCELLED,
    MCP_N_PROGRESS,
    MCP_N_MESSAGE,
    MCP_N_RESOURCES_UPDATED,
    MCP_N_RESOURCES_LIST_CHANGED,
    MCP_N_TOOLS_LIST_CHANGED,
    MCP_N_PROMPTS_LIST_CHANGED,
    MCP_N_ROOTS_LIST_CHANGED,
    MCP_N_ELICITATION_COMPLETE,
    MCP_N_TASKS_STATUS,
    MCP_N_SUBSCRIPTIONS_ACKNOWLEDGED,
    MCP_M__COUNT
};

struct mcp_method {
    const char *name;
    enum mcp_method_id id;
    bool is_request;  /* false: notification */
    unsigned from;    /* MCP_FROM_* bits */
    unsigned revs;    /* enum mcp_rev bits where it exists */
};

/* Looks a method up by name; NULL when it is not an MCP method. */
const struct mcp_method *mcp_method_lookup(const char *name, size_t len);
const struct mcp_method *mcp_method_by_id(enum mcp_method_id id);
/* Number of entries and access by index (for tests and docs). */
size_t mcp_method_count(void);
const struct mcp_method *mcp_method_at(size_t i);

/* Protocol versions this build speaks, newest first. */
extern const char *const mcp_supported_versions[];
extern const size_t mcp_supported_versions_n;
#define MCP_LATEST_VERSION "2025-11-25"
#define MCP_MODERN_VERSION "2026-07-28"

enum mcp_rev mcp_rev_from_string(const char *v, size_t len);
const char *mcp_rev_name(enum mcp_rev r);
bool mcp_version_supported(const char *v, size_t len);
/* A published revision of the legacy era (2024-11-05, 2025-03-26, 2025-06-18,
 * 2025-11-25): acceptable as a version hint (the MCP-Protocol-Version header)
 * even where the session speaks another one. */
bool mcp_version_known(const char *v, size_t len);
/* True when a request belongs to the stateless 2026-07-28 era: a modern-only
 * method, or params._meta carrying io.modelcontextprotocol/protocolVersion.
 * *version is set to the requested version (borrowed) when present. */
bool mcp_request_is_modern(const struct rpc_msg *m, const char **version);

/* Lifecycle of a legacy session, as seen by a gateway between both peers. */
enum mcp_lc_state {
    MCP_LC_NEW = 0,     /* nothing yet */
    MCP_LC_INIT_SENT,   /* initialize forwarded, no answer yet */
    MCP_LC_INIT_DONE,   /* initialize answered, waiting for notifications/initialized */
    MCP_LC_READY,       /* operational */
    MCP_LC_FAILED,      /* handshake failed: every request is refused */
};

struct mcp_lifecycle {
    enum mcp_lc_state state;
    enum mcp_era era;
    enum mcp_rev version;     /* negotiated */
    json_t *client_caps;      /* owned, from initialize params */
    json_t *client_info;      /* owned */
    json_t *server_caps;      /* owned, from the initialize result */
    json_t *server_info;      /* owned */
    json_t *init_id;          /* owned: id of the pending initialize */
    bool version_rewritten;   /* the client asked for a version we replaced */
    bool early_initialized;   /* notifications/initialized came before the answer */
};

void mcp_lc_init(struct mcp_lifecycle *lc);
void mcp_lc_free(struct mcp_lifecycle *lc);

/* What the gateway does with a message at this point of the lifecycle. */
enum mcp_lc_action {
    MCP_LC_PASS,     /* forward (maybe after a rewrite the function made) */
    MCP_LC_REFUSE,   /* answer the sender with *e (requests) or drop (others) */
};

/* Checks a client->server message and advances the state. May rewrite an
 * initialize request's protocolVersion in place (m->root is modified; the
 * caller must then re-serialise). Sets *rewritten when it did. */
enum mcp_lc_action mcp_lc_client(struct mcp_lifecycle *lc, const struct rpc_msg *m,
                                 const struct mcp_method *mm, bool *rewritten, struct rpc_err *e);
/* Checks a server->client message. `answers_init` is true when a response
 * answers the pending initialize. On a bad handshake answer, returns REFUSE
 * with *e describing the error to send the client for the initialize id. */
enum mcp_lc_action mcp_lc_server(struct mcp_lifecycle *lc, const struct rpc_msg *m,
                                 const struct mcp_method *mm, bool answers_init,
                                 struct rpc_err *e);

/* The per-request protocol context: for the legacy era it comes from the
 * session's handshake; for a stateless era it would come from the request. */
struct mcp_request_ctx {
    enum mcp_era era;
    enum mcp_rev version;
    const json_t *client_caps;
    const json_t *client_info;
};
void mcp_request_ctx(const struct mcp_lifecycle *lc, const struct rpc_msg *m,
                     struct mcp_request_ctx *out);

/* Fills e with the 2026-07-28 UnsupportedProtocolVersionError (-32022) whose
 * data lists the versions supported and the one requested. */
void mcp_unsupported_version_err(struct rpc_err *e, const char *requested);
/* data object for that error (new reference). */
json_t *mcp_unsupported_version_data(const char *requested);

#endif
