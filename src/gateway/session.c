#include "gateway/session.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard/schema.h"
#include "util/hash.h"
#include "util/str.h"

int gw_session_init(struct gw_session *s, struct event_base *base, const struct gw_config *cfg,
                    struct audit_log *audit, const struct gw_io *io, void *io_ud)
{
    memset(s, 0, sizeof(*s));
    uint8_t rnd[16];
    if (random_bytes(rnd, sizeof(rnd)) < 0)
        return -1;
    hex_encode(rnd, sizeof(rnd), s->id);
    s->base = base;
    s->cfg = cfg;
    s->policy = policy_ref(cfg->policy);
    s->results = gw_results_ref(cfg->results);
    rl_alert_init(&s->own_alert);
    s->alert = &s->own_alert;
    s->request_timeout_us = cfg->limits.request_timeout_us;
    s->audit = audit;
    s->io = io;
    s->io_ud = io_ud;
    mcp_lc_init(&s->lc);
    map_init(&s->pending[0]);
    map_init(&s->pending[1]);
    jtape_init(&s->tape[0]);
    jtape_init(&s->tape[1]);
    map_init(&s->tools);
    s->ident = identity_local_user();
    if (s->ident == NULL)
        return -1;
    str_copy(s->identity, s->ident->principal, sizeof(s->identity));
    return 0;
}

#define PENDING_SPARE_MAX 64

/* Releases what an entry owns; the entry itself is kept for the next request
 * (most sessions have a few in flight at a time) or freed. */
static void pending_free(struct gw_pending *p)
{
    free(p->target);
    free(p->args_preview);
    free(p->flags);
    free(p->guard);
    struct gw_session *s = p->sess;
    if (s != NULL && s->nspare < PENDING_SPARE_MAX) {
        p->tnext = s->spare;
        s->spare = p;
        s->nspare++;
        return;
    }
    free(p);
}

void gw_tool_free(struct gw_tool *t)
{
    if (t == NULL)
        return;
    json_decref(t->def);
    schema_free(t->in);
    schema_free(t->out);
    free(t->in_err);
    free(t);
}

void gw_session_free(struct gw_session *s)
{
    for (int d = 0; d < 2; d++) {
        size_t it = 0;
        const char *k;
        size_t kl;
        void *v;
        while (map_next(&s->pending[d], &it, &k, &kl, &v)) {
            ((struct gw_pending *)v)->sess = NULL; /* freed, not kept */
            pending_free(v);
        }
        map_free(&s->pending[d]);
        jtape_free(&s->tape[d]);
    }
    size_t it = 0;
    const char *k;
    size_t kl;
    void *v;
    while (map_next(&s->tools, &it, &k, &kl, &v))
        gw_tool_free(v);
    map_free(&s->tools);
    if (s->timer != NULL)
        event_free(s->timer);
    s->timer = NULL;
    s->thead = s->ttail = NULL;
    while (s->spare != NULL) {
        struct gw_pending *p = s->spare;
        s->spare = p->tnext;
        free(p);
    }
    s->nspare = 0;
    mcp_lc_free(&s->lc);
    policy_unref(s->policy);
    s->policy = NULL;
    gw_results_unref(s->results);
    s->results = NULL;
    identity_unref(s->ident);
    s->ident = NULL;
    while (s->held != NULL) {
        struct gw_held *h = s->held;
        s->held = h->next;
        ratelimit_cancel(h->pending);
        free(h->raw);
        free(h);
    }
}

void gw_session_set_identity(struct gw_session *s, struct identity *id)
{
    if (id == NULL)
        return;
    struct identity *old = s->ident;
    s->ident = identity_ref(id);
    identity_unref(old);
    str_copy(s->identity, id->principal, sizeof(s->identity));
}

struct pol_subject gw_session_subject(const struct gw_session *s)
{
    const char *client = s->client_hint[0] != '\0' ? s->client_hint : NULL;
    if (client == NULL)
        client = json_string_value(json_object_get(s->lc.client_info, "name"));
    return (struct pol_subject){
        .id = s->ident,
        .client = client,
        .model = s->model_hint[0] != '\0' ? s->model_hint : NULL,
    };
}

void gw_session_set_policy(struct gw_session *s, struct policy *p)
{
    struct policy *old = s->policy;
    s->policy = policy_ref(p);
    policy_unref(old);
}

void gw_session_set_results(struct gw_session *s, struct gw_results *r)
{
    struct gw_results *old = s->results;
    s->results = gw_results_ref(r);
    gw_results_unref(old);
}

int gw_session_adopt_handshake(struct gw_session *s, const json_t *init_params,
                               const json_t *init_result, struct rpc_err *e)
{
    /* Run the lifecycle over the two messages as if they had passed through. */
    json_t *req = json_pack("{s:s,s:i,s:s,s:O}", "jsonrpc", "2.0", "id", 0, "method",
                            "initialize", "params", init_params);
    json_t *res = json_pack("{s:s,s:i,s:O}", "jsonrpc", "2.0", "id", 0, "result", init_result);
    struct rpc_msg mreq = {.kind = RPC_REQUEST, .root = req, .method = "initialize",
                           .method_len = 10};
    struct rpc_msg mres = {.kind = RPC_RESULT, .root = res};
    int rc = -1;
    if (req == NULL || res == NULL)
        goto out;
    mreq.id = json_object_get(req, "id");
    mreq.params = json_object_get(req, "params");
    mres.id = json_object_get(res, "id");
    mres.result = json_object_get(res, "result");
    bool rw;
    const struct mcp_method *mm = mcp_method_lookup("initialize", 10);
    const struct mcp_method *mi = mcp_method_lookup("notifications/initialized", 25);
    struct rpc_msg mnot = {.kind = RPC_NOTIFICATION, .method = "notifications/initialized",
                           .method_len = 25};
    if (mcp_lc_client(&s->lc, &mreq, mm, &rw, e) != MCP_LC_PASS ||
        mcp_lc_server(&s->lc, &mres, NULL, true, e) != MCP_LC_PASS ||
        mcp_lc_client(&s->lc, &mnot, mi, &rw, e) != MCP_LC_PASS)
        goto out;
    rc = 0;
out:
    json_decref(req);
    json_decref(res);
    return rc;
}

struct gw_pending *gw_pending_add(struct gw_session *s, enum gw_dir dir, const char *key,
                                  size_t keylen)
{
    if (keylen == 0 || keylen >= sizeof(((struct gw_pending *)0)->key))
        return NULL;
    struct gw_pending *p = s->spare;
    if (p != NULL) {
        s->spare = p->tnext;
        s->nspare--;
        memset(p, 0, sizeof(*p));
    } else if ((p = calloc(1, sizeof(*p))) == NULL) {
        return NULL;
    }
    memcpy(p->key, key, keylen);
    p->keylen = keylen;
    if (map_put(&s->pending[dir], p->key, p->keylen, p) < 0) {
        free(p);
        return NULL;
    }
    p->sess = s;
    p->dir = dir;
    p->target_kind = -1;
    return p;
}

struct gw_pending *gw_pending_find(struct gw_session *s, enum gw_dir dir, const char *key,
                                   size_t keylen)
{
    return keylen > 0 ? map_get(&s->pending[dir], key, keylen) : NULL;
}

json_t *gw_pending_id(const struct gw_pending *p)
{
    if (p->keylen >= 2 && p->key[0] == 'n') {
        char *end;
        long long v = strtoll(p->key + 2, &end, 10);
        return json_integer(v);
    }
    return json_stringn(p->key + 2, p->keylen - 2);
}

static void unlink_deadline(struct gw_pending *p)
{
    struct gw_session *s = p->sess;
    if (p->deadline == 0)
        return;
    if (p->tprev != NULL)
        p->tprev->tnext = p->tnext;
    else
        s->thead = p->tnext;
    if (p->tnext != NULL)
        p->tnext->tprev = p->tprev;
    else
        s->ttail = p->tprev;
    p->tnext = p->tprev = NULL;
    p->deadline = 0;
}

void gw_pending_done(struct gw_pending *p)
{
    unlink_deadline(p);
    map_del(&p->sess->pending[p->dir], p->key, p->keylen);
    pending_free(p);
}

size_t gw_pending_count(const struct gw_session *s, enum gw_dir dir)
{
    return map_size(&s->pending[dir]);
}
