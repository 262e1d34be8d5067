/* API keys: the format (prefix, checksum, alphabet), the stored hash, and
 * verification: the right key passes; a wrong key, a key whose secret part
 * changed (with a recomputed checksum, so only the HMAC can tell), and a key
 * checked against another key's hash fail. Then the same through authn:
 * roles, scopes, display name, expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy/apikey.h"
#include "policy/authn.h"
#include "util/timeutil.h"

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Recomputes the checksum of a key in place (CRC-32, base62), as a forger
 * who knows the format would. */
static void fix_checksum(char *key)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < APIKEY_LEN - APIKEY_CRC_LEN; i++) {
        c ^= (uint8_t)key[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    c ^= 0xffffffffu;
    for (size_t i = APIKEY_LEN; i-- > APIKEY_LEN - APIKEY_CRC_LEN;) {
        key[i] = b62[c % 62u];
        c /= 62u;
    }
}

static void test_format(void **state)
{
    (void)state;
    char k1[APIKEY_LEN + 1], k2[APIKEY_LEN + 1], h1[APIKEY_HASH_MAX], h2[APIKEY_HASH_MAX];
    assert_int_equal(apikey_generate(k1, h1), 0);
    assert_int_equal(apikey_generate(k2, h2), 0);
    assert_int_equal(strlen(k1), 67);
    assert_int_equal(strncmp(k1, "mcpw_", 5), 0);
    assert_int_equal(k1[17], '_');
    for (size_t i = 5; i < 67; i++)
        if (i != 17)
            assert_non_null(strchr(b62, k1[i]));
    assert_true(apikey_well_formed(k1, strlen(k1)));
    assert_string_not_equal(k1, k2);
    assert_string_not_equal(h1, h2);
    assert_int_equal(strncmp(h1, "hmac-sha256$", 12), 0);
    /* The hash names the key id, not the secret. */
    char id[APIKEY_ID_LEN + 1];
    apikey_id(k1, id);
    assert_non_null(strstr(h1, id));
    assert_null(strstr(h1, k1 + 18));
    /* Shape errors. */
    char bad[APIKEY_LEN + 2];
    snprintf(bad, sizeof(bad), "%s", k1);
    bad[30] = bad[30] == 'a' ? 'b' : 'a';
    assert_false(apikey_well_formed(bad, APIKEY_LEN)); /* checksum catches a typo */
    snprintf(bad, sizeof(bad), "%s", k1);
    bad[0] = 'M';
    assert_false(apikey_well_formed(bad, APIKEY_LEN));
    snprintf(bad, sizeof(bad), "%s", k1);
    bad[17] = 'x';
    fix_checksum(bad);
    assert_false(apikey_well_formed(bad, APIKEY_LEN));
    snprintf(bad, sizeof(bad), "%s", k1);
    bad[20] = '-';
    fix_checksum(bad);
    assert_false(apikey_well_formed(bad, APIKEY_LEN));
    assert_false(apikey_well_formed(k1, APIKEY_LEN - 1));
    snprintf(bad, sizeof(bad), "%sA", k1);
    assert_false(apikey_well_formed(bad, APIKEY_LEN + 1));
    assert_true(apikey_has_prefix("mcpw_x", 6));
    assert_false(apikey_has_prefix("mcpw", 4));
}

static void test_verify(void **state)
{
    (void)state;
    char k1[APIKEY_LEN + 1], k2[APIKEY_LEN + 1], h1[APIKEY_HASH_MAX], h2[APIKEY_HASH_MAX];
    char err[160];
    struct apikey_hash p1, p2;
    assert_int_equal(apikey_generate(k1, h1), 0);
    assert_int_equal(apikey_generate(k2, h2), 0);
    assert_int_equal(apikey_hash_parse(h1, &p1, err, sizeof(err)), 0);
    assert_int_equal(apikey_hash_parse(h2, &p2, err, sizeof(err)), 0);
    /* Right key. */
    assert_true(apikey_verify(&p1, k1, APIKEY_LEN));
    assert_true(apikey_verify(&p2, k2, APIKEY_LEN));
    /* Wrong key; other key's hash. */
    assert_false(apikey_verify(&p1, k2, APIKEY_LEN));
    assert_false(apikey_verify(&p2, k1, APIKEY_LEN));
    /* Another key's hash with this key's id spliced in: only the HMAC
     * decides, and it says no. */
    struct apikey_hash mixed = p2;
    memcpy(mixed.id, p1.id, sizeof(mixed.id));
    assert_false(apikey_verify(&mixed, k1, APIKEY_LEN));
    /* Same id, one secret character changed, checksum recomputed. */
    char forged[APIKEY_LEN + 1];
    memcpy(forged, k1, sizeof(forged));
    forged[40] = forged[40] == 'Z' ? 'Y' : 'Z';
    fix_checksum(forged);
    assert_true(apikey_well_formed(forged, APIKEY_LEN));
    assert_false(apikey_verify(&p1, forged, APIKEY_LEN));
    /* A fresh salt for the same key verifies too, and differs. */
    char h1b[APIKEY_HASH_MAX];
    assert_int_equal(apikey_hash(k1, APIKEY_LEN, h1b), 0);
    assert_string_not_equal(h1, h1b);
    struct apikey_hash p1b;
    assert_int_equal(apikey_hash_parse(h1b, &p1b, err, sizeof(err)), 0);
    assert_true(apikey_verify(&p1b, k1, APIKEY_LEN));
    assert_int_equal(apikey_hash("mcpw_short", 10, h1b), -1);
    /* Stored-form errors. */
    const char *bad[] = {
        "sha256$AAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "hmac-sha256$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA$"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "hmac-sha256$AAAAAAAAAAA-$AAAAAAAAAAAAAAAAAAAAAA$"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "hmac-sha256$AAAAAAAAAAAA$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "hmac-sha256$AAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA$AAAA",
        "hmac-sha256$AAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
        "hmac-sha256$AAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA$"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (apikey_hash_parse(bad[i], &p2, err, sizeof(err)) != -1)
            fail_msg("accepted %s", bad[i]);
}

static void test_through_authn(void **state)
{
    (void)state;
    char k1[APIKEY_LEN + 1], k2[APIKEY_LEN + 1], h1[APIKEY_HASH_MAX], h2[APIKEY_HASH_MAX];
    assert_int_equal(apikey_generate(k1, h1), 0);
    assert_int_equal(apikey_generate(k2, h2), 0);
    char y[2048];
    snprintf(y, sizeof(y),
             "auth:\n"
             "  api_keys:\n"
             "    - name: alice-laptop\n"
             "      hash: \"%s\"\n"
             "      roles: [dev, ops]\n"
             "      scopes: [mcp]\n"
             "      display_name: Alice\n"
             "    - name: old-ci\n"
             "      hash: \"%s\"\n"
             "      expires: 2020-01-01\n",
             h1, h2);
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d = cfg_load_mem("k.yaml", y, strlen(y), false, &e);
    assert_non_null(d);
    struct authn *a = authn_compile(d, json_object_get(d->root, "auth"), &e);
    if (a == NULL)
        fail_msg("%s", e.msgs[0]);
    cfg_doc_free(d);
    cfg_errors_free(&e);
    char h[128];
    struct authn_result r;
    snprintf(h, sizeof(h), "Bearer %s", k1);
    authn_authenticate(a, h, 1, NULL, &r);
    assert_int_equal(r.status, AUTHN_OK);
    assert_string_equal(r.id->principal, "apikey:alice-laptop");
    assert_string_equal(r.id->display, "Alice");
    assert_int_equal(r.id->method, IDENTITY_APIKEY);
    assert_true(identity_has_role(r.id, "ops"));
    assert_true(identity_has_scope(r.id, "mcp"));
    identity_unref(r.id);
    /* The expired key. */
    snprintf(h, sizeof(h), "Bearer %s", k2);
    authn_authenticate(a, h, 1, NULL, &r);
    assert_int_equal(r.status, AUTHN_INVALID_TOKEN);
    assert_string_equal(r.reason, "expired");
    /* A well-formed key that is not configured. */
    char k3[APIKEY_LEN + 1], h3[APIKEY_HASH_MAX];
    assert_int_equal(apikey_generate(k3, h3), 0);
    snprintf(h, sizeof(h), "Bearer %s", k3);
    authn_authenticate(a, h, 1, NULL, &r);
    assert_int_equal(r.status, AUTHN_INVALID_TOKEN);
    assert_string_equal(r.reason, "invalid_api_key");
    /* Same answer for a changed secret part (same id). */
    memcpy(k3, k1, sizeof(k3));
    k3[50] = k3[50] == 'q' ? 'r' : 'q';
    fix_checksum(k3);
    snprintf(h, sizeof(h), "Bearer %s", k3);
    authn_authenticate(a, h, 1, NULL, &r);
    assert_int_equal(r.status, AUTHN_INVALID_TOKEN);
    assert_string_equal(r.reason, "invalid_api_key");
    assert_string_equal(r.description, "invalid API key");
    /* The description never names which key or why beyond that. */
    assert_null(strstr(r.description, "alice"));
    assert_int_equal(authn_stats(a)->allowed, 1);
    assert_int_equal(authn_stats(a)->invalid_token, 3);
    authn_unref(a);
}

/* Runs the mcpwall binary with argv and stdin text; returns its exit status
 * and its standard output in out. */
static int run_mcpwall(const char *const *args, const char *in, char *out, size_t outsz)
{
    extern char **environ;
    const char *bin = getenv("MCPWALL_BIN");
    if (bin == NULL)
        bin = "./mcpwall";
    int po[2], pi[2];
    assert_int_equal(pipe(po), 0);
    assert_int_equal(pipe(pi), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pi[0], 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_addclose(&fa, pi[1]);
    posix_spawn_file_actions_addclose(&fa, po[0]);
    char *argv[16];
    size_t n = 0;
    argv[n++] = (char *)bin;
    for (size_t i = 0; args[i] != NULL && n < 15; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, bin, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(pi[0]);
    close(po[1]);
    if (in != NULL)
        assert_int_equal(write(pi[1], in, strlen(in)), (ssize_t)strlen(in));
    close(pi[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < outsz && (r = read(po[0], out + got, outsz - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = '\0';
    close(po[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* mcpwall keygen: the printed key authenticates with the printed hash. */
static void test_keygen_command(void **state)
{
    (void)state;
    char out[4096];
    const char *a1[] = {"keygen", "--json", "--name", "ci-bot", "--role", "deploy", NULL};
    assert_int_equal(run_mcpwall(a1, NULL, out, sizeof(out)), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    const char *key = json_string_value(json_object_get(j, "key"));
    const char *hash = json_string_value(json_object_get(j, "hash"));
    assert_true(apikey_well_formed(key, strlen(key)));
    assert_string_equal(json_string_value(json_object_get(j, "name")), "ci-bot");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "roles"), 0)),
                        "deploy");
    /* The YAML entry it prints by default parses as a configuration. */
    const char *a2[] = {"keygen", "--name", "ci-bot", "--role", "deploy", "--role", "a:b", NULL};
    assert_int_equal(run_mcpwall(a2, NULL, out, sizeof(out)), 0);
    const char *entry = strstr(out, "  - name: ci-bot");
    assert_non_null(entry);
    char y[2048];
    snprintf(y, sizeof(y), "auth:\n  api_keys:\n%.*s",
             (int)(strstr(entry, "\n\nClients") - entry + 1), entry);
    struct cfg_errors e;
    cfg_errors_init(&e);
    struct cfg_doc *d = cfg_load_mem("kg.yaml", y, strlen(y), false, &e);
    assert_non_null(d);
    struct authn *a = authn_compile(d, json_object_get(d->root, "auth"), &e);
    if (a == NULL)
        fail_msg("%s\n%s", y, e.n ? e.msgs[0] : "");
    cfg_doc_free(d);
    cfg_errors_free(&e);
    authn_unref(a);
    /* --rehash: a new hash for the same key, which verifies it. */
    char in[128];
    snprintf(in, sizeof(in), "%s\n", key);
    const char *a3[] = {"keygen", "--rehash", "--json", NULL};
    assert_int_equal(run_mcpwall(a3, in, out, sizeof(out)), 0);
    json_t *j2 = json_loads(out, 0, NULL);
    assert_null(json_object_get(j2, "key"));
    const char *hash2 = json_string_value(json_object_get(j2, "hash"));
    assert_string_not_equal(hash, hash2);
    struct apikey_hash h;
    char err[160];
    assert_int_equal(apikey_hash_parse(hash2, &h, err, sizeof(err)), 0);
    assert_true(apikey_verify(&h, key, strlen(key)));
    assert_int_equal(apikey_hash_parse(hash, &h, err, sizeof(err)), 0);
    assert_true(apikey_verify(&h, key, strlen(key)));
    /* The stored hash never contains the key. */
    assert_null(strstr(hash, key + 18));
    json_decref(j2);
    json_decref(j);
    /* Usage errors. */
    const char *a4[] = {"keygen", "--name", "bad name", NULL};
    assert_int_equal(run_mcpwall(a4, NULL, out, sizeof(out)), 2);
    const char *a5[] = {"keygen", "--rehash", NULL};
    assert_int_equal(run_mcpwall(a5, "not a key\n", out, sizeof(out)), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_through_authn),
        cmocka_unit_test(test_keygen_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
