#include "util/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

struct map_slot {
    char *key; /* NULL: empty; TOMB: deleted */
    size_t klen;
    size_t hash;
    void *val;
};

static char tomb_marker;
#define TOMB (&tomb_marker)

static uint64_t map_seed;

static size_t hash_key(const char *k, size_t n)
{
    if (map_seed == 0) {
        uint64_t s = 0;
        if (random_bytes(&s, sizeof(s)) < 0 || s == 0)
            s = 0x9e3779b97f4a7c15ull;
        map_seed = s | 1;
    }
    uint64_t h = 0xcbf29ce484222325ull ^ map_seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (size_t)h;
}

void map_init(struct map *m)
{
    memset(m, 0, sizeof(*m));
}

void map_free(struct map *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key != NULL && m->slots[i].key != TOMB)
            free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static int grow(struct map *m)
{
    /* Double when live entries fill half the table; otherwise the load comes
     * from tombstones and a rehash at the same size clears them. */
    size_t ncap = m->cap ? m->cap : 16;
    if ((m->used + 1) * 2 > ncap)
        ncap *= 2;
    struct map_slot *ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        struct map_slot *s = &m->slots[i];
        if (s->key == NULL || s->key == TOMB)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key != NULL)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->tombs = 0;
    return 0;
}

static struct map_slot *find(const struct map *m, const char *key, size_t klen, size_t h)
{
    if (m->cap == 0)
        return NULL;
    size_t j = h & (m->cap - 1);
    for (size_t n = 0; n < m->cap; n++) {
        struct map_slot *s = &m->slots[j];
        if (s->key == NULL)
            return NULL;
        if (s->key != TOMB && s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0)
            return s;
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

int map_put(struct map *m, const char *key, size_t klen, void *val)
{
    size_t h = hash_key(key, klen);
    struct map_slot *s = find(m, key, klen, h);
    if (s != NULL) {
        s->val = val;
        return 0;
    }
    if ((m->used + m->tombs + 1) * 4 >= m->cap * 3 && grow(m) < 0)
        return -1;
    char *k = malloc(klen + 1);
    if (k == NULL)
        return -1;
    memcpy(k, key, klen);
    k[klen] = '\0';
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key != NULL && m->slots[j].key != TOMB)
        j = (j + 1) & (m->cap - 1);
    if (m->slots[j].key == TOMB)
        m->tombs--;
    m->slots[j] = (struct map_slot){.key = k, .klen = klen, .hash = h, .val = val};
    m->used++;
    return 0;
}

void *map_get(const struct map *m, const char *key, size_t klen)
{
    struct map_slot *s = find(m, key, klen, hash_key(key, klen));
    return s != NULL ? s->val : NULL;
}

void *map_del(struct map *m, const char *key, size_t klen)
{
    struct map_slot *s = find(m, key, klen, hash_key(key, klen));
    if (s == NULL)
        return NULL;
    void *v = s->val;
    free(s->key);
    s->key = TOMB;
    s->val = NULL;
    m->used--;
    m->tombs++;
    return v;
}

bool map_next(const struct map *m, size_t *iter, const char **key, size_t *klen, void **val)
{
    while (*iter < m->cap) {
        struct map_slot *s = &m->slots[(*iter)++];
        if (s->key != NULL && s->key != TOMB) {
            *key = s->key;
            *klen = s->klen;
            *val = s->val;
            return true;
        }
    }
    return false;
}
