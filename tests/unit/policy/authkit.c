#include "authkit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "policy/identity.h"
#include "util/b64.h"

extern char **environ;

static char tmpdir[256];

const char *tk_tmpdir(void)
{
    if (tmpdir[0] == '\0') {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/mcpwall-authtest-XXXXXX");
        if (mkdtemp(tmpdir) == NULL)
            fail_msg("mkdtemp failed");
    }
    return tmpdir;
}

void tk_rmdir(void)
{
    if (tmpdir[0] == '\0')
        return;
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    char p[512];
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", tmpdir, de->d_name);
        unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(tmpdir);
    tmpdir[0] = '\0';
}

const char *tk_write(const char *name, const char *content, unsigned mode)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tk_tmpdir(), name);
    unlink(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    assert_int_equal(chmod(path, (mode_t)mode), 0);
    return path;
}

static void run_cmd(const char *const *argv)
{
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1, 0);
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("%s %s failed", argv[0], argv[1]);
}

void tk_gen(struct tkey *k, enum jwt_alg alg, const char *kid)
{
    memset(k, 0, sizeof(*k));
    k->alg = alg;
    snprintf(k->kid, sizeof(k->kid), "%s", kid);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.key.pem", tk_tmpdir(), kid);
    if (alg == JWT_RS256) {
        const char *a[] = {"openssl", "genpkey",  "-algorithm",
                           "RSA",     "-pkeyopt", "rsa_keygen_bits:2048",
                           "-out",    path,       NULL};
        run_cmd(a);
    } else if (alg == JWT_ES256) {
        const char *a[] = {"openssl", "genpkey",  "-algorithm",
                           "EC",      "-pkeyopt", "ec_paramgen_curve:P-256",
                           "-out",    path,       NULL};
        run_cmd(a);
    } else {
        const char *a[] = {"openssl", "genpkey", "-algorithm", "ED25519", "-out", path, NULL};
        run_cmd(a);
    }
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    k->pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    unlink(path);
    assert_non_null(k->pk);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k->pk);
    int n = BIO_read(b, k->pub_pem, sizeof(k->pub_pem) - 1);
    assert_true(n > 0);
    k->pub_pem[n] = '\0';
    BIO_free(b);
}

void tk_free(struct tkey *k)
{
    EVP_PKEY_free(k->pk);
    k->pk = NULL;
}

char *tk_b64(const void *p, size_t n)
{
    size_t cap = b64url_encoded_len(n) + 1;
    char *s = malloc(cap);
    assert_non_null(s);
    assert_true(b64url_encode(p, n, s, cap) >= 0);
    return s;
}

static json_t *bn_member(const EVP_PKEY *pk, const char *param, size_t pad)
{
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pk, param, &bn), 1);
    size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
    unsigned char buf[1024];
    assert_true(n <= sizeof(buf));
    assert_int_equal(BN_bn2binpad(bn, buf, (int)n), (int)n);
    BN_free(bn);
    char *s = tk_b64(buf, n);
    json_t *v = json_string(s);
    free(s);
    return v;
}

json_t *tk_jwk(const struct tkey *k, bool with_alg)
{
    json_t *o = json_object();
    if (k->alg == JWT_RS256) {
        json_object_set_new(o, "kty", json_string("RSA"));
        json_object_set_new(o, "n", bn_member(k->pk, OSSL_PKEY_PARAM_RSA_N, 0));
        json_object_set_new(o, "e", bn_member(k->pk, OSSL_PKEY_PARAM_RSA_E, 0));
    } else if (k->alg == JWT_ES256) {
        json_object_set_new(o, "kty", json_string("EC"));
        json_object_set_new(o, "crv", json_string("P-256"));
        json_object_set_new(o, "x", bn_member(k->pk, OSSL_PKEY_PARAM_EC_PUB_X, 32));
        json_object_set_new(o, "y", bn_member(k->pk, OSSL_PKEY_PARAM_EC_PUB_Y, 32));
    } else {
        unsigned char raw[32];
        size_t rl = sizeof(raw);
        assert_int_equal(EVP_PKEY_get_raw_public_key(k->pk, raw, &rl), 1);
        char *s = tk_b64(raw, rl);
        json_object_set_new(o, "kty", json_string("OKP"));
        json_object_set_new(o, "crv", json_string("Ed25519"));
        json_object_set_new(o, "x", json_string(s));
        free(s);
    }
    json_object_set_new(o, "kid", json_string(k->kid));
    json_object_set_new(o, "use", json_string("sig"));
    if (with_alg)
        json_object_set_new(o, "alg", json_string(jwt_alg_name(k->alg)));
    return o;
}

char *tk_jwks(const struct tkey *const *keys, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, tk_jwk(keys[i], i % 2 == 0));
    json_t *o = json_object();
    json_object_set_new(o, "keys", a);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static char *signing_input(const char *h, const char *p)
{
    char *hb = tk_b64(h, strlen(h)), *pb = tk_b64(p, strlen(p));
    size_t n = strlen(hb) + strlen(pb) + 2;
    char *s = malloc(n);
    snprintf(s, n, "%s.%s", hb, pb);
    free(hb);
    free(pb);
    return s;
}

static char *join_sig(char *input, const unsigned char *sig, size_t siglen)
{
    char *sb = tk_b64(sig, siglen);
    size_t n = strlen(input) + strlen(sb) + 2;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s", input, sb);
    free(sb);
    free(input);
    return t;
}

char *tk_sign(const struct tkey *k, const char *header_json, const char *payload_json)
{
    char *in = signing_input(header_json, payload_json);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    const EVP_MD *md = k->alg == JWT_EDDSA ? NULL : EVP_sha256();
    assert_int_equal(EVP_DigestSignInit(mc, NULL, md, NULL, k->pk), 1);
    size_t sl = 0;
    assert_int_equal(EVP_DigestSign(mc, NULL, &sl, (unsigned char *)in, strlen(in)), 1);
    unsigned char *sig = malloc(sl);
    assert_int_equal(EVP_DigestSign(mc, sig, &sl, (unsigned char *)in, strlen(in)), 1);
    EVP_MD_CTX_free(mc);
    if (k->alg == JWT_ES256) {
        /* DER -> JOSE R||S */
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
        assert_non_null(es);
        unsigned char rs[64];
        BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32);
        ECDSA_SIG_free(es);
        free(sig);
        return join_sig(in, rs, 64);
    }
    char *t = join_sig(in, sig, sl);
    free(sig);
    return t;
}

char *tk_hs256(const void *key, size_t klen, const char *header_json, const char *payload_json)
{
    char *in = signing_input(header_json, payload_json);
    unsigned char mac[32];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), key, (int)klen, (unsigned char *)in, strlen(in), mac, &ml);
    return join_sig(in, mac, ml);
}

char *tk_token(const struct tkey *k, const json_t *claims)
{
    char h[160];
    snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", jwt_alg_name(k->alg),
             k->kid);
    char *p = json_dumps(claims, JSON_COMPACT);
    char *t = tk_sign(k, h, p);
    free(p);
    return t;
}

/* ---- loop ---- */

void aenv_start(struct aenv *e)
{
    memset(e, 0, sizeof(*e));
    signal(SIGPIPE, SIG_IGN);
    e->base = event_base_new();
    e->hs = http_server_new(e->base);
    char err[256];
    struct http_listener_opts o = {.host = "127.0.0.1", .name = "test"};
    e->l = http_listener_new(e->hs, &o, err, sizeof(err));
    if (e->l == NULL)
        fail_msg("listener: %s", err);
    e->port = http_listener_port(e->l);
    e->cl = http_client_new(e->base, NULL);
    assert_non_null(e->cl);
    snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%u", (unsigned)e->port);
}

void aenv_stop(struct aenv *e)
{
    http_client_free(e->cl);
    http_server_free(e->hs);
    event_base_free(e->base);
}

void aenv_run_until(struct aenv *e, const bool *flag)
{
    for (int i = 0; i < 10000 && !*flag; i++) {
        struct timeval tv = {0, 1000};
        event_base_loopexit(e->base, &tv);
        event_base_loop(e->base, EVLOOP_ONCE);
    }
    assert_true(*flag);
}

void aenv_spin(struct aenv *e, int turns)
{
    for (int i = 0; i < turns; i++) {
        struct timeval tv = {0, 1000};
        event_base_loopexit(e->base, &tv);
        event_base_loop(e->base, EVLOOP_ONCE);
    }
}

struct areq {
    struct aresp *out;
    bool done;
};

static int areq_response(void *ud, struct http_creq *r, long status)
{
    struct areq *q = ud;
    q->out->status = status;
    const char *w = http_creq_header(r, "WWW-Authenticate");
    snprintf(q->out->www, sizeof(q->out->www), "%s", w ? w : "");
    const char *ra = http_creq_header(r, "Retry-After");
    snprintf(q->out->retry_after, sizeof(q->out->retry_after), "%s", ra ? ra : "");
    return 0;
}

static void areq_done(void *ud, struct http_creq *r, const struct http_cresult *res)
{
    (void)r;
    struct areq *q = ud;
    q->out->err = res->err;
    if (res->status)
        q->out->status = res->status;
    size_t n = res->body_len < sizeof(q->out->body) - 1 ? res->body_len : sizeof(q->out->body) - 1;
    if (n)
        memcpy(q->out->body, res->body, n);
    q->out->body[n] = '\0';
    q->done = true;
}

void aenv_request(struct aenv *e, const char *method, const char *target,
                  const char *const *headers, const char *body, struct aresp *out)
{
    memset(out, 0, sizeof(*out));
    char url[4096];
    snprintf(url, sizeof(url), "%s%s", e->url, target);
    struct http_creq_opts o = {
        .method = method,
        .url = url,
        .headers = headers,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .total_timeout_ms = 10000,
    };
    static const struct http_creq_cbs cbs = {.on_response = areq_response, .on_done = areq_done};
    struct areq q = {.out = out};
    char err[256];
    struct http_creq *r = http_client_start(e->cl, &o, &cbs, &q, err, sizeof(err));
    if (r == NULL)
        fail_msg("request: %s", err);
    aenv_run_until(e, &q.done);
}

static json_t *strs(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

void authkit_whoami(void *ud, struct http_request *req)
{
    (void)ud;
    const struct identity *id = http_request_identity(req);
    json_t *o = json_object();
    if (id != NULL) {
        json_object_set_new(o, "principal", json_string(http_request_principal(req)));
        json_object_set_new(o, "method", json_string(identity_method_name(id->method)));
        json_object_set_new(o, "display", json_string(id->display));
        json_object_set_new(o, "roles", strs(id->roles, id->nroles));
        json_object_set_new(o, "scopes", strs(id->scopes, id->nscopes));
        if (id->client_id)
            json_object_set_new(o, "client_id", json_string(id->client_id));
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    http_reply(req, 200, NULL, 0, "application/json", s, strlen(s));
    free(s);
}

const char *www_param(const char *www, const char *name, char *out, size_t outsz)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = www; (p = strstr(p, name)) != NULL; p += nl) {
        bool start = p == www || p[-1] == ' ' || p[-1] == ',';
        if (!start || strncmp(p + nl, "=\"", 2) != 0)
            continue;
        const char *v = p + nl + 2;
        const char *end = strchr(v, '"');
        if (end == NULL)
            break;
        size_t n = (size_t)(end - v) < outsz - 1 ? (size_t)(end - v) : outsz - 1;
        memcpy(out, v, n);
        out[n] = '\0';
        break;
    }
    return out;
}
