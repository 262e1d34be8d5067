#include "gateway/session.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    s->audit = audit;
    s->io = io;
    s->io_ud = io_ud;
    mcp_lc_init(&s->lc);
    map_init(&s->pending[0]);
    map_init(&s->pending[1]);
    struct passwd *pw = getpwuid(geteuid());
    snprintf(s->identity, sizeof(s->identity), "local:%s", pw != NULL ? pw->pw_name : "unknown");
    return 0;
}

static void pending_free(struct gw_pending *p)
{
    if (p->timer != NULL)
        event_free(p->timer);
    json_decref(p->id);
    json_decref(p->args);
    free(p->target);
    free(p);
}

void gw_session_free(struct gw_session *s)
{
    for (int d = 0; d < 2; d++) {
        size_t it = 0;
        const char *k;
        size_t kl;
        void *v;
        while (map_next(&s->pending[d], &it, &k, &kl, &v))
            pending_free(v);
        map_free(&s->pending[d]);
    }
    mcp_lc_free(&s->lc);
    policy_unref(s->policy);
    s->policy = NULL;
}

struct gw_pending *gw_pending_add(struct gw_session *s, enum gw_dir dir, const json_t *id)
{
    struct gw_pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->keylen = rpc_id_key(id, p->key, sizeof(p->key));
    if (p->keylen == 0 || map_put(&s->pending[dir], p->key, p->keylen, p) < 0) {
        free(p);
        return NULL;
    }
    p->sess = s;
    p->dir = dir;
    p->id = json_deep_copy(id);
    p->target_kind = -1;
    return p;
}

struct gw_pending *gw_pending_find(struct gw_session *s, enum gw_dir dir, const json_t *id)
{
    char key[160];
    size_t n = rpc_id_key(id, key, sizeof(key));
    return n > 0 ? map_get(&s->pending[dir], key, n) : NULL;
}

void gw_pending_done(struct gw_pending *p)
{
    map_del(&p->sess->pending[p->dir], p->key, p->keylen);
    pending_free(p);
}

size_t gw_pending_count(const struct gw_session *s, enum gw_dir dir)
{
    return map_size(&s->pending[dir]);
}
