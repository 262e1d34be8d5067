/* Table-driven: tests/cases/policy/configs.jsonl. Each configuration either
 * fails with exactly the listed file:line:col messages or yields the listed
 * decisions; a check may name the caller: "who": {"principal", "roles",
 * "client", "model"}. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gwconfig.h"
#include "policy/identity.h"
#include "testutil.h"

static enum pol_kind kind_of(const char *s)
{
    if (strcmp(s, "tool") == 0)
        return POL_TOOL;
    if (strcmp(s, "prompt") == 0)
        return POL_PROMPT;
    return POL_RESOURCE;
}

static void test_config_table(void **state)
{
    (void)state;
    json_t *cases = tu_load_cases("tests/cases/policy/configs.jsonl");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *name = TU_CASE_NAME(c);
        const char *text = json_string_value(json_object_get(c, "config"));
        struct cfg_errors errs;
        cfg_errors_init(&errs);
        struct cfg_doc *doc = cfg_load_mem("t.yaml", text, strlen(text), false, &errs);
        struct gw_config *cfg = doc != NULL ? gwconfig_compile(doc, &errs) : NULL;
        json_t *want = json_object_get(c, "errors");
        if (want != NULL) {
            if (cfg != NULL)
                fail_msg("case '%s': accepted", name);
            for (size_t k = 0; k < errs.n || k < json_array_size(want); k++) {
                const char *w = json_string_value(json_array_get(want, k));
                const char *g = k < errs.n ? errs.msgs[k] : NULL;
                if (w == NULL || g == NULL || strcmp(w, g) != 0)
                    fail_msg("case '%s': error %zu:\n  got:  %s\n  want: %s", name, k,
                             g ? g : "(none)", w ? w : "(none)");
            }
        } else {
            if (cfg == NULL)
                fail_msg("case '%s': rejected: %s", name, errs.n ? errs.msgs[0] : "?");
            size_t j;
            json_t *chk;
            json_array_foreach(json_object_get(c, "checks"), j, chk) {
                const char *n = json_string_value(json_object_get(chk, "name"));
                json_t *w = json_object_get(chk, "who");
                struct identity *id = NULL;
                struct pol_subject who = {0};
                if (w != NULL) {
                    const char *pr = json_string_value(json_object_get(w, "principal"));
                    id = identity_new(IDENTITY_APIKEY, pr != NULL ? pr : "apikey:t", NULL);
                    assert_non_null(id);
                    size_t r;
                    json_t *role;
                    json_array_foreach(json_object_get(w, "roles"), r, role)
                        assert_int_equal(identity_add_role(id, json_string_value(role),
                                                           json_string_length(role)), 0);
                    who.id = json_is_true(json_object_get(w, "no_identity")) ? NULL : id;
                    who.client = json_string_value(json_object_get(w, "client"));
                    who.model = json_string_value(json_object_get(w, "model"));
                }
                struct pol_decision d;
                policy_decide(cfg->policy, w != NULL ? &who : NULL,
                              kind_of(json_string_value(json_object_get(chk, "kind"))), n, strlen(n),
                              &d);
                identity_unref(id);
                const char *act = d.action == POL_ALLOW ? "allow" : "deny";
                if (strcmp(act, json_string_value(json_object_get(chk, "action"))) != 0 ||
                    strcmp(policy_rule_name(&d), json_string_value(json_object_get(chk, "rule"))) != 0)
                    fail_msg("case '%s': %s -> %s by %s", name, n, act, policy_rule_name(&d));
            }
        }
        gwconfig_free(cfg);
        cfg_doc_free(doc);
        cfg_errors_free(&errs);
    }
    json_decref(cases);
}

static void test_denial_message(void **state)
{
    (void)state;
    const char *text = "version: 1\npolicy:\n  rules:\n    - {name: ro, action: deny, tools: "
                       "[write_file], message: read-only share}\n";
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    struct cfg_doc *doc = cfg_load_mem("t.yaml", text, strlen(text), false, &errs);
    struct gw_config *cfg = gwconfig_compile(doc, &errs);
    assert_non_null(cfg);
    struct pol_decision d;
    policy_decide(cfg->policy, NULL, POL_TOOL, "write_file", 10, &d);
    char msg[300];
    policy_denial_message(&d, POL_TOOL, "write_file", 10, msg, sizeof(msg));
    assert_string_equal(msg, "Tool \"write_file\" is denied by policy rule \"ro\": read-only share");
    policy_decide(cfg->policy, NULL, POL_TOOL, "x\"y", 3, &d);
    policy_denial_message(&d, POL_TOOL, "x\"y", 3, msg, sizeof(msg));
    assert_string_equal(msg, "Tool \"x?y\" is denied by the policy's default (no rule allows it)");
    gwconfig_free(cfg);
    cfg_doc_free(doc);
    cfg_errors_free(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_table),
        cmocka_unit_test(test_denial_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
