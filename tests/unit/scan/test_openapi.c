/* OpenAPI: operations become tools with the names, schemas and classes a
 * bridge would give them; plain-HTTP servers and unauthenticated writes are
 * findings at their line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan/openapi.h"
#include "scan/scan.h"
#include "testutil.h"

static const struct scan_item *tool(const struct scan_server *s, const char *name)
{
    for (size_t i = 0; i < s->nitems; i++) {
        if (strcmp(s->items[i].name, name) == 0)
            return &s->items[i];
    }
    fail_msg("no tool %s", name);
    return NULL;
}

static void test_shop(void **state)
{
    (void)state;
    struct scan_report r;
    scan_report_init(&r);
    char err[300];
    assert_int_equal(
        openapi_load(&r, tu_src_path("tests/cases/scan/openapi/shop.yaml"), NULL, err, sizeof(err)),
        0);
    scan_analyze(&r);
    assert_int_equal(r.nservers, 1);
    const struct scan_server *s = &r.servers[0];
    assert_string_equal(s->name, "Shop API");
    assert_int_equal(s->nitems, 6);

    const struct scan_item *t = tool(s, "listProducts");
    assert_int_equal(t->risk, SCAN_RISK_READ_ONLY);
    assert_string_equal(t->http_method, "GET");
    assert_int_equal(t->pos.line, 11);
    json_t *limit = json_object_get(
        json_object_get(json_object_get(t->def, "inputSchema"), "properties"), "limit");
    assert_int_equal(json_integer_value(json_object_get(limit, "maximum")), 100);

    /* no operationId: method + path */
    t = tool(s, "get_products_productId");
    assert_int_equal(t->risk, SCAN_RISK_READ_ONLY);
    json_t *req = json_object_get(json_object_get(t->def, "inputSchema"), "required");
    assert_string_equal(json_string_value(json_array_get(req, 0)), "productId");

    /* the request body, with its $ref resolved and the cycle kept as a $ref */
    t = tool(s, "createProduct");
    assert_int_equal(t->risk, SCAN_RISK_SIDE_EFFECT);
    json_t *body = json_object_get(
        json_object_get(json_object_get(t->def, "inputSchema"), "properties"), "body");
    assert_string_equal(json_string_value(json_object_get(body, "type")), "object");
    json_t *parent = json_object_get(json_object_get(body, "properties"), "parent");
    assert_string_equal(json_string_value(json_object_get(parent, "$ref")),
                        "#/components/schemas/Product");

    t = tool(s, "deleteProduct");
    assert_int_equal(t->risk, SCAN_RISK_CRITICAL);
    assert_true(t->cats & SCAN_CAT_DELETION);
    t = tool(s, "createPayment");
    assert_true(t->cats & SCAN_CAT_MONEY);
    t = tool(s, "setUserRoles");
    assert_true(t->cats & SCAN_CAT_PERMISSIONS);
    /* parameter by $ref */
    json_t *uid = json_object_get(
        json_object_get(json_object_get(t->def, "inputSchema"), "properties"), "userId");
    assert_non_null(uid);

    size_t plain = 0, noauth = 0;
    for (size_t i = 0; i < r.nfindings; i++) {
        if (strcmp(r.findings[i].rule, "http.plaintext") == 0) {
            plain++;
            assert_int_equal(r.findings[i].loc.pos.line, 6);
        }
        if (strcmp(r.findings[i].rule, "openapi.no-auth") == 0) {
            noauth++;
            assert_int_equal(r.findings[i].loc.pos.line, 38);
            assert_string_equal(r.servers[0].items[r.findings[i].loc.item].name, "createPayment");
        }
    }
    assert_int_equal(plain, 1);
    assert_int_equal(noauth, 1);
    scan_report_free(&r);
}

static void test_names_and_errors(void **state)
{
    (void)state;
    char n[80];
    openapi_tool_name("GET", "/v1/users/{id}/keys", n, sizeof(n));
    assert_string_equal(n, "get_v1_users_id_keys");
    openapi_tool_name("post", "/", n, sizeof(n));
    assert_string_equal(n, "post");

    struct scan_report r;
    scan_report_init(&r);
    char err[300];
    const char *sw = "{\"swagger\": \"2.0\", \"paths\": {}}";
    assert_int_equal(openapi_load_mem(&r, "s.json", sw, strlen(sw), NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "Swagger 2.0"));
    const char *no = "openapi: 2.9\npaths: {}\n";
    assert_int_equal(openapi_load_mem(&r, "s.yaml", no, strlen(no), NULL, err, sizeof(err)), -1);
    /* a reference cycle between path items does not loop */
    const char *cyc = "{\"openapi\":\"3.1.0\",\"info\":{\"title\":\"c\"},\"paths\":{\"/a\":"
                      "{\"$ref\":\"#/paths/~1a\"}}}";
    assert_int_equal(openapi_load_mem(&r, "c.json", cyc, strlen(cyc), NULL, err, sizeof(err)), 0);
    assert_int_equal(r.servers[0].nitems, 0);
    scan_report_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shop),
        cmocka_unit_test(test_names_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
