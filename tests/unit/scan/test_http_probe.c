/* Pieces of the HTTP probes that need no server: session-id entropy and
 * loopback detection. (The probes themselves run against real servers in
 * tests/integration/scan-http.test.mjs.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan/collect_http.h"

static void test_entropy(void **state)
{
    (void)state;
    const char *uuids[] = {
        "3f2b8c1e-9a4d-4e6f-8b1a-2c3d4e5f6a7b", "a1b2c3d4-e5f6-4a7b-9c8d-0e1f2a3b4c5d",
        "0f9e8d7c-6b5a-4c3d-a2e1-f0e9d8c7b6a5", "77aa1be2-03cd-4ef0-9a1b-c2d3e4f5a6b7"};
    assert_true(http_session_entropy(uuids, 4) >= 100.0);
    const char *seq[] = {"session-0001", "session-0002", "session-0003", "session-0004"};
    assert_true(http_session_entropy(seq, 4) < 10.0);
    const char *same[] = {"abc", "abc"};
    assert_true(http_session_entropy(same, 2) == 0.0);
    const char *ts[] = {"1732140000123", "1732140000456", "1732140000789"};
    assert_true(http_session_entropy(ts, 3) < 64.0);
    const char *one[] = {"x"};
    assert_true(http_session_entropy(one, 1) < 0.0);
}

static void test_loopback(void **state)
{
    (void)state;
    assert_true(http_url_is_loopback("http://localhost:3000/mcp"));
    assert_true(http_url_is_loopback("http://127.0.0.1/mcp"));
    assert_true(http_url_is_loopback("http://[::1]:8080/"));
    assert_true(http_url_is_loopback("http://user:pw@LOCALHOST/"));
    assert_true(http_url_is_loopback("http://app.localhost/"));
    assert_false(http_url_is_loopback("http://10.0.0.5/mcp"));
    assert_false(http_url_is_loopback("http://localhost.evil.example/"));
    assert_false(http_url_is_loopback("http://127.0.0.1.nip.io/"));
    assert_false(http_url_is_loopback("https://example.com/?next=http://localhost"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entropy),
        cmocka_unit_test(test_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
