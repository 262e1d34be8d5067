/* map.h - a string-keyed hash map of pointers (open addressing, linear
 * probing, tombstones). Keys are copied; values are borrowed. Hashes are
 * keyed with a per-process random seed (SipHash-like mixing is not needed for
 * the bounded sizes we use, but a seed keeps attacker-chosen keys from
 * colliding predictably). */
#ifndef MCPWALL_UTIL_MAP_H
#define MCPWALL_UTIL_MAP_H

#include <stdbool.h>
#include <stddef.h>

struct map_slot;

struct map {
    struct map_slot *slots;
    size_t cap;   /* power of two */
    size_t used;  /* live entries */
    size_t tombs;
};

void map_init(struct map *m);
/* Frees the table (not the values). */
void map_free(struct map *m);
/* Inserts or replaces; returns -1 on allocation failure. */
int map_put(struct map *m, const char *key, size_t klen, void *val);
void *map_get(const struct map *m, const char *key, size_t klen);
/* Removes and returns the value (NULL if absent). */
void *map_del(struct map *m, const char *key, size_t klen);
static inline size_t map_size(const struct map *m)
{
    return m->used;
}
/* Iteration: for (size_t i = 0; map_next(m, &i, &k, &kl, &v);) ... */
bool map_next(const struct map *m, size_t *iter, const char **key, size_t *klen, void **val);

#endif
