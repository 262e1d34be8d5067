#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/mcp.h"

static void test_table_sorted_and_complete(void **state)
{
    (void)state;
    for (size_t i = 1; i < mcp_method_count(); i++)
        assert_true(strcmp(mcp_method_at(i - 1)->name, mcp_method_at(i)->name) < 0);
    for (size_t i = 0; i < mcp_method_count(); i++) {
        const struct mcp_method *m = mcp_method_at(i);
        assert_ptr_equal(mcp_method_lookup(m->name, strlen(m->name)), m);
        assert_ptr_equal(mcp_method_by_id(m->id), m);
    }
    /* Every method of 2025-06-18 and 2025-11-25 schema.ts (25 and 31 names). */
    static const char *const r0618[] = {
        "completion/complete", "elicitation/create", "initialize", "logging/setLevel",
        "notifications/cancelled", "notifications/initialized", "notifications/message",
        "notifications/progress", "notifications/prompts/list_changed",
        "notifications/resources/list_changed", "notifications/resources/updated",
        "notifications/roots/list_changed", "notifications/tools/list_changed", "ping",
        "prompts/get", "prompts/list", "resources/list", "resources/read", "resources/subscribe",
        "resources/templates/list", "resources/unsubscribe", "roots/list",
        "sampling/createMessage", "tools/call", "tools/list"};
    static const char *const r1125_extra[] = {"notifications/elicitation/complete",
                                              "notifications/tasks/status", "tasks/cancel",
                                              "tasks/get", "tasks/list", "tasks/result"};
    for (size_t i = 0; i < sizeof(r0618) / sizeof(r0618[0]); i++) {
        const struct mcp_method *m = mcp_method_lookup(r0618[i], strlen(r0618[i]));
        assert_non_null(m);
        assert_true(m->revs & MCP_REV_2025_06_18);
        assert_true(m->revs & MCP_REV_2025_11_25);
    }
    for (size_t i = 0; i < sizeof(r1125_extra) / sizeof(r1125_extra[0]); i++) {
        const struct mcp_method *m = mcp_method_lookup(r1125_extra[i], strlen(r1125_extra[i]));
        assert_non_null(m);
        assert_false(m->revs & MCP_REV_2025_06_18);
        assert_true(m->revs & MCP_REV_2025_11_25);
    }
    assert_null(mcp_method_lookup("tools/cal", 9));
    assert_null(mcp_method_lookup("tools/calls", 11));
    assert_null(mcp_method_lookup("", 0));
}

static int parse(const char *s, struct rpc_msg *m)
{
    struct rpc_err e;
    int rc = rpc_parse(s, strlen(s), NULL, m, &e);
    rpc_err_clear(&e);
    return rc;
}

#define INIT_REQ(ver)                                                                              \
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"" ver \
    "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"
#define INIT_RES(ver)                                                                              \
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"protocolVersion\":\"" ver                         \
    "\",\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"s\",\"version\":\"1\"}}}"

static enum mcp_lc_action client(struct mcp_lifecycle *lc, const char *s, bool *rw,
                                 struct rpc_err *e)
{
    struct rpc_msg m;
    assert_int_equal(parse(s, &m), 0);
    const struct mcp_method *mm = m.method ? mcp_method_lookup(m.method, m.method_len) : NULL;
    enum mcp_lc_action a = mcp_lc_client(lc, &m, mm, rw, e);
    rpc_msg_free(&m);
    return a;
}

static enum mcp_lc_action server(struct mcp_lifecycle *lc, const char *s, bool init,
                                 struct rpc_err *e)
{
    struct rpc_msg m;
    assert_int_equal(parse(s, &m), 0);
    const struct mcp_method *mm = m.method ? mcp_method_lookup(m.method, m.method_len) : NULL;
    enum mcp_lc_action a = mcp_lc_server(lc, &m, mm, init, e);
    rpc_msg_free(&m);
    return a;
}

static void test_lifecycle(void **state)
{
    (void)state;
    struct mcp_lifecycle lc;
    struct rpc_err e = {0};
    bool rw;
    mcp_lc_init(&lc);
    assert_int_equal(client(&lc, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", &rw, &e),
                     MCP_LC_REFUSE);
    assert_string_equal(e.reason, "not_initialized");
    assert_int_equal(client(&lc, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &rw, &e),
                     MCP_LC_PASS);
    assert_int_equal(client(&lc, INIT_REQ("2025-11-25"), &rw, &e), MCP_LC_PASS);
    assert_false(rw);
    assert_int_equal(lc.state, MCP_LC_INIT_SENT);
    assert_int_equal(client(&lc, INIT_REQ("2025-11-25"), &rw, &e), MCP_LC_REFUSE);
    assert_string_equal(e.reason, "already_initialized");
    assert_int_equal(server(&lc, INIT_RES("2025-06-18"), true, &e), MCP_LC_PASS);
    assert_int_equal(lc.version, MCP_REV_2025_06_18);
    /* A request before notifications/initialized is refused. */
    assert_int_equal(client(&lc, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", &rw, &e),
                     MCP_LC_REFUSE);
    /* A server request before initialized is refused too. */
    assert_int_equal(
        server(&lc, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"roots/list\"}", false, &e),
        MCP_LC_REFUSE);
    assert_int_equal(
        client(&lc, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &rw, &e),
        MCP_LC_PASS);
    assert_int_equal(lc.state, MCP_LC_READY);
    assert_int_equal(client(&lc, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", &rw, &e),
                     MCP_LC_PASS);
    assert_int_equal(
        client(&lc, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &rw, &e),
        MCP_LC_REFUSE);
    mcp_lc_free(&lc);

    /* A client that sends notifications/initialized before the answer (pipelining). */
    mcp_lc_init(&lc);
    assert_int_equal(client(&lc, INIT_REQ("2025-06-18"), &rw, &e), MCP_LC_PASS);
    assert_int_equal(
        client(&lc, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &rw, &e),
        MCP_LC_PASS);
    assert_int_equal(client(&lc, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", &rw, &e),
                     MCP_LC_REFUSE);
    assert_int_equal(server(&lc, INIT_RES("2025-06-18"), true, &e), MCP_LC_PASS);
    assert_int_equal(lc.state, MCP_LC_READY);
    assert_int_equal(client(&lc, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}", &rw, &e),
                     MCP_LC_PASS);
    mcp_lc_free(&lc);
}

static void test_version_negotiation(void **state)
{
    (void)state;
    struct mcp_lifecycle lc;
    struct rpc_err e = {0};
    struct rpc_msg m;
    bool rw;
    mcp_lc_init(&lc);
    /* An old version the gateway does not speak is replaced by the latest. */
    assert_int_equal(parse(INIT_REQ("2024-11-05"), &m), 0);
    assert_int_equal(mcp_lc_client(&lc, &m, mcp_method_lookup("initialize", 10), &rw, &e),
                     MCP_LC_PASS);
    assert_true(rw);
    assert_string_equal(json_string_value(json_object_get(m.params, "protocolVersion")),
                        MCP_LATEST_VERSION);
    rpc_msg_free(&m);
    /* The server choosing a version we do not support fails the handshake. */
    assert_int_equal(server(&lc, INIT_RES("2024-11-05"), true, &e), MCP_LC_REFUSE);
    assert_string_equal(e.reason, "unsupported_server_version");
    assert_int_equal(lc.state, MCP_LC_FAILED);
    assert_int_equal(client(&lc, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", &rw, &e),
                     MCP_LC_REFUSE);
    assert_string_equal(e.reason, "session_failed");
    mcp_lc_free(&lc);
    /* Bad initialize params. */
    mcp_lc_init(&lc);
    assert_int_equal(
        client(&lc, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{}}", &rw,
               &e),
        MCP_LC_REFUSE);
    assert_int_equal(e.code, RPC_INVALID_PARAMS);
    mcp_lc_free(&lc);
}

static void test_modern_era(void **state)
{
    (void)state;
    struct rpc_msg m;
    const char *v;
    assert_int_equal(
        parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{"
              "\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}",
              &m),
        0);
    assert_true(mcp_request_is_modern(&m, &v));
    assert_string_equal(v, "2026-07-28");
    rpc_msg_free(&m);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"server/discover\"}", &m), 0);
    assert_true(mcp_request_is_modern(&m, &v));
    rpc_msg_free(&m);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", &m), 0);
    assert_false(mcp_request_is_modern(&m, &v));
    rpc_msg_free(&m);
    struct rpc_err e = {0};
    mcp_unsupported_version_err(&e, "2026-07-28");
    assert_int_equal(e.code, -32022);
    assert_non_null(strstr(e.msg, "2026-07-28"));
    json_t *d = mcp_unsupported_version_data("2026-07-28");
    assert_int_equal(json_array_size(json_object_get(d, "supported")), 2);
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_sorted_and_complete),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_version_negotiation),
        cmocka_unit_test(test_modern_era),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
