/* store_mem.c - the in-process store (see store.h).
 *
 * Entries live in a chained hash table (one allocation per entry, the key
 * inline) and, for expiry, on a list per "class": all entries of one kind
 * with the same lifetime. Touching an entry moves it to the tail of its list
 * with a new expiry; within a class the expiry grows with the touch time
 * (bucket: last update + time to refill from empty; budget: end of its
 * window, and windows of one length end in touch order), so the expired
 * entries are always at the heads. Each take first drops up to two expired
 * heads of the classes it touches: O(1) per operation, amortised.
 *
 * Bounded: at most max_keys entries. A take that needs a new key when the
 * table is full first sweeps every class head; if nothing has expired it is
 * refused with STORE_FULL (and the time until the soonest expiry), rather
 * than growing or evicting live state: evicting a bucket would hand its
 * client a fresh budget, which is exactly what a flood of new identities
 * would be trying to achieve.
 */
#include <stdlib.h>
#include <string.h>

#include "policy/store.h"
#include "util/hash.h"

struct mem_class;

struct mem_entry {
    struct mem_entry *hnext;          /* hash chain */
    struct mem_entry *prev, *next;    /* class list, oldest first */
    struct mem_class *cls;
    uint64_t expires_us;
    uint64_t hash;
    uint64_t v[3];                    /* bucket: credit, last; budget: calls, bytes, tokens */
    size_t klen;
    char key[];
};

struct mem_class {
    enum store_op_kind kind;
    uint64_t ttl_us;
    struct mem_entry *head, *tail;
};

#define MEM_MAX_CLASSES 512
#define MEM_SWEEP_PER_OP 2
#define MEM_MAX_OPS 256

struct mem_store {
    struct store base;
    size_t max_keys;
    size_t n;
    struct mem_entry **tab;
    size_t nb;               /* buckets, power of two */
    size_t nb_max;
    uint64_t seed;
    struct mem_class *cls;
    size_t ncls;
    struct store_stats st;
};

static uint64_t mem_hash(const struct mem_store *m, const char *k, size_t n)
{
    /* FNV-1a over 8-byte words where possible, keyed with a per-store seed,
     * then a final avalanche: keys carry attacker-chosen identity and tool
     * names, and the seed keeps their chain placement unpredictable. */
    uint64_t h = 0xcbf29ce484222325ull ^ m->seed;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, k + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static struct mem_entry *mem_find(const struct mem_store *m, const char *k, size_t n, uint64_t h)
{
    for (struct mem_entry *e = m->tab[h & (m->nb - 1)]; e != NULL; e = e->hnext)
        if (e->hash == h && e->klen == n && memcmp(e->key, k, n) == 0)
            return e;
    return NULL;
}

static void list_unlink(struct mem_entry *e)
{
    struct mem_class *c = e->cls;
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_append(struct mem_class *c, struct mem_entry *e)
{
    e->cls = c;
    e->next = NULL;
    e->prev = c->tail;
    if (c->tail != NULL)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
}

static void mem_delete(struct mem_store *m, struct mem_entry *e)
{
    struct mem_entry **pp = &m->tab[e->hash & (m->nb - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    list_unlink(e);
    m->n--;
    free(e);
}

/* Drops up to `max` expired entries at the head of c (SIZE_MAX: all). */
static void mem_sweep_class(struct mem_store *m, struct mem_class *c, uint64_t now, size_t max)
{
    while (max-- > 0 && c->head != NULL && c->head->expires_us <= now)
        mem_delete(m, c->head);
}

static struct mem_class *mem_class_get(struct mem_store *m, enum store_op_kind kind, uint64_t ttl)
{
    for (size_t i = 0; i < m->ncls; i++)
        if (m->cls[i].kind == kind && m->cls[i].ttl_us == ttl)
            return &m->cls[i];
    if (m->ncls == MEM_MAX_CLASSES)
        return NULL;
    /* The class array is allocated once at its maximum (entries point into it). */
    struct mem_class *c = &m->cls[m->ncls++];
    c->kind = kind;
    c->ttl_us = ttl;
    c->head = c->tail = NULL;
    return c;
}

static void mem_grow(struct mem_store *m)
{
    if (m->n < m->nb || m->nb >= m->nb_max)
        return;
    size_t nb = m->nb * 2;
    struct mem_entry **t = calloc(nb, sizeof(*t));
    if (t == NULL)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < m->nb; i++) {
        struct mem_entry *e = m->tab[i];
        while (e != NULL) {
            struct mem_entry *nx = e->hnext;
            e->hnext = t[e->hash & (nb - 1)];
            t[e->hash & (nb - 1)] = e;
            e = nx;
        }
    }
    free(m->tab);
    m->tab = t;
    m->nb = nb;
}

/* Bucket credit at `now` (refilled, capped); *t becomes the update time. */
static uint64_t bucket_credit(const struct store_op *op, const struct mem_entry *e, uint64_t now,
                              uint64_t *t)
{
    if (e == NULL || e->v[0] > op->cap) {
        *t = now;
        return op->cap;
    }
    uint64_t c = e->v[0];
    *t = e->v[1];
    if (now > e->v[1]) {
        uint64_t el = now - e->v[1];
        uint64_t need = op->cap - c;
        /* el * rate may overflow; compare against the elapsed time needed. */
        if (el >= (need + op->rate - 1) / op->rate)
            c = op->cap;
        else
            c += el * op->rate;
        *t = now;
    }
    return c;
}

static void mem_check(const struct store_op *op, const struct mem_entry *e, uint64_t now,
                      struct store_res *r, uint64_t *credit, uint64_t *t)
{
    memset(r, 0, sizeof(*r));
    if (op->kind == STORE_BUCKET) {
        uint64_t c = bucket_credit(op, e, now, t);
        *credit = c;
        if (c >= op->cost) {
            r->ok = true;
            r->remaining = (int64_t)((c - op->cost) / op->cost);
        } else {
            r->retry_us = (op->cost - c + op->rate - 1) / op->rate;
            r->remaining = 0;
        }
        return;
    }
    uint64_t calls = e != NULL ? e->v[0] : 0, bytes = e != NULL ? e->v[1] : 0,
             toks = e != NULL ? e->v[2] : 0;
    if (op->max_calls > 0 && calls + 1 > op->max_calls)
        r->dim = STORE_DIM_CALLS;
    else if (op->max_bytes > 0 && bytes >= op->max_bytes)
        r->dim = STORE_DIM_BYTES;
    else if (op->max_tokens > 0 && toks >= op->max_tokens)
        r->dim = STORE_DIM_TOKENS;
    r->ok = r->dim == STORE_DIM_NONE;
    if (op->max_calls == 0)
        r->remaining = -1;
    else
        r->remaining = r->ok ? (int64_t)(op->max_calls - calls - 1) : 0;
    if (!r->ok)
        r->retry_us = op->window_end_us > now ? op->window_end_us - now : 1;
}

static struct mem_entry *mem_insert(struct mem_store *m, const struct store_op *op, uint64_t h,
                                    struct mem_class *c)
{
    struct mem_entry *e = calloc(1, sizeof(*e) + op->klen);
    if (e == NULL)
        return NULL;
    memcpy(e->key, op->key, op->klen);
    e->klen = op->klen;
    e->hash = h;
    size_t b = h & (m->nb - 1);
    e->hnext = m->tab[b];
    m->tab[b] = e;
    e->cls = c;
    list_append(c, e);
    m->n++;
    mem_grow(m);
    return e;
}

static uint64_t soonest_expiry(const struct mem_store *m, uint64_t now)
{
    uint64_t best = UINT64_MAX;
    for (size_t i = 0; i < m->ncls; i++)
        if (m->cls[i].head != NULL && m->cls[i].head->expires_us < best)
            best = m->cls[i].head->expires_us;
    if (best == UINT64_MAX || best <= now)
        return 1000000;
    return best - now;
}

static int mem_take(struct store *s, const struct store_op *ops, size_t n, uint64_t now,
                    struct store_res *res, enum store_status *st, uint64_t *full_retry_us,
                    store_done_fn cb, void *arg, struct store_req **req)
{
    struct mem_store *m = (struct mem_store *)s;
    struct mem_entry *ent[MEM_MAX_OPS];
    struct mem_class *cls[MEM_MAX_OPS];
    uint64_t hash[MEM_MAX_OPS], credit[MEM_MAX_OPS], tnew[MEM_MAX_OPS];
    (void)cb;
    (void)arg;
    if (req != NULL)
        *req = NULL;
    if (n == 0 || n > MEM_MAX_OPS)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].klen == 0 || ops[i].klen > STORE_KEY_MAX)
            return -1;
        if (ops[i].kind == STORE_BUCKET &&
            (ops[i].cost == 0 || ops[i].rate == 0 || ops[i].cap < ops[i].cost))
            return -1;
        cls[i] = mem_class_get(m, ops[i].kind, ops[i].ttl_us);
        if (cls[i] == NULL) {
            m->st.errors++;
            *st = STORE_ERROR;
            return 1;
        }
        mem_sweep_class(m, cls[i], now, MEM_SWEEP_PER_OP);
    }
    if (m->n + n > m->max_keys)
        for (size_t i = 0; i < m->ncls; i++)
            mem_sweep_class(m, &m->cls[i], now, SIZE_MAX);
    size_t fresh = 0;
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        hash[i] = mem_hash(m, ops[i].key, ops[i].klen);
        ent[i] = mem_find(m, ops[i].key, ops[i].klen, hash[i]);
        if (ent[i] == NULL)
            fresh++;
        mem_check(&ops[i], ent[i], now, &res[i], &credit[i], &tnew[i]);
        all = all && res[i].ok;
    }
    *st = STORE_OK;
    if (!all)
        return 1; /* refused: nothing created, nothing taken */
    if (m->n + fresh > m->max_keys) {
        m->st.full_refusals++;
        *st = STORE_FULL;
        *full_retry_us = soonest_expiry(m, now);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        struct mem_entry *e = ent[i];
        if (e == NULL) {
            e = mem_insert(m, &ops[i], hash[i], cls[i]);
            if (e == NULL) {
                /* Out of memory midway: undo is impossible for the entries
                 * already taken, so report an error; the few calls counted
                 * stay counted (fail closed). */
                m->st.errors++;
                *st = STORE_ERROR;
                return 1;
            }
        } else {
            list_unlink(e);
            list_append(cls[i], e);
        }
        if (ops[i].kind == STORE_BUCKET) {
            e->v[0] = credit[i] - ops[i].cost;
            e->v[1] = tnew[i];
            e->expires_us = tnew[i] + ops[i].ttl_us;
        } else {
            e->v[0]++;
            e->expires_us = ops[i].window_end_us;
        }
    }
    return 1;
}

static void mem_account(struct store *s, const struct store_op *ops, size_t n, uint64_t bytes,
                        uint64_t tokens, uint64_t now)
{
    struct mem_store *m = (struct mem_store *)s;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].kind != STORE_BUDGET || ops[i].klen == 0 || ops[i].klen > STORE_KEY_MAX)
            continue;
        struct mem_class *c = mem_class_get(m, STORE_BUDGET, ops[i].ttl_us);
        if (c == NULL) {
            m->st.account_dropped++;
            continue;
        }
        mem_sweep_class(m, c, now, MEM_SWEEP_PER_OP);
        uint64_t h = mem_hash(m, ops[i].key, ops[i].klen);
        struct mem_entry *e = mem_find(m, ops[i].key, ops[i].klen, h);
        if (e == NULL) {
            if (m->n >= m->max_keys) {
                m->st.account_dropped++;
                continue;
            }
            e = mem_insert(m, &ops[i], h, c);
            if (e == NULL) {
                m->st.account_dropped++;
                continue;
            }
        }
        e->v[1] = e->v[1] + bytes < e->v[1] ? UINT64_MAX : e->v[1] + bytes;
        e->v[2] = e->v[2] + tokens < e->v[2] ? UINT64_MAX : e->v[2] + tokens;
        e->expires_us = ops[i].window_end_us;
        list_unlink(e);
        list_append(c, e);
    }
}

static void mem_cancel(struct store *s, struct store_req *req)
{
    (void)s;
    (void)req; /* nothing is ever pending */
}

static void mem_stats(const struct store *s, struct store_stats *out)
{
    const struct mem_store *m = (const struct mem_store *)s;
    *out = m->st;
    out->keys = m->n;
}

static void mem_free(struct store *s)
{
    struct mem_store *m = (struct mem_store *)s;
    for (size_t i = 0; i < m->ncls; i++) {
        struct mem_entry *e = m->cls[i].head;
        while (e != NULL) {
            struct mem_entry *nx = e->next;
            free(e);
            e = nx;
        }
    }
    free(m->tab);
    free(m->cls);
    free(m);
}

static const struct store_vtbl mem_vtbl = {
    .take = mem_take,
    .account = mem_account,
    .cancel = mem_cancel,
    .stats = mem_stats,
    .free = mem_free,
};

struct store *store_mem_new(size_t max_keys)
{
    if (max_keys == 0)
        return NULL;
    struct mem_store *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->base.vt = &mem_vtbl;
    m->max_keys = max_keys;
    m->nb = 256;
    m->nb_max = 256;
    while (m->nb_max < max_keys && m->nb_max < ((size_t)1 << 30))
        m->nb_max *= 2;
    m->tab = calloc(m->nb, sizeof(*m->tab));
    m->cls = calloc(MEM_MAX_CLASSES, sizeof(*m->cls));
    if (m->tab == NULL || m->cls == NULL || random_bytes(&m->seed, sizeof(m->seed)) < 0) {
        free(m->tab);
        free(m->cls);
        free(m);
        return NULL;
    }
    return &m->base;
}
