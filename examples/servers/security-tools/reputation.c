/* reputation.c - see reputation.h.
 *
 * Entries live in one array sorted by (family, prefix length descending,
 * network); a hash index maps each distinct (family, length, network) to its
 * first entry. A lookup walks the prefix lengths present for the family,
 * longest first, masks the address and probes the index: at most 33 (IPv4)
 * or 129 (IPv6) probes, about two cache misses each, and no per-bit trie to
 * allocate (about 40 bytes per entry in all). */
#include "reputation.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/file.h"

struct rep_entry {
    uint8_t family;   /* 4 or 6 */
    uint8_t len;      /* prefix length */
    uint16_t list;    /* index into names */
    uint32_t cat;     /* index into cats */
    uint8_t net[16];
};

struct rep_db {
    struct rep_entry *e;
    size_t n, cap;
    char **lists;
    size_t nlists;
    char **cats;
    size_t ncats, capcats;
    bool lens4[33];
    bool lens6[129];
    uint32_t *hidx;  /* open addressing: index+1 of the first entry of a key, 0 empty */
    size_t hcap;     /* power of two */
    bool finished;
};

struct rep_db *rep_db_new(void)
{
    return calloc(1, sizeof(struct rep_db));
}

void rep_db_free(struct rep_db *db)
{
    if (db == NULL)
        return;
    free(db->hidx);
    free(db->e);
    for (size_t i = 0; i < db->nlists; i++)
        free(db->lists[i]);
    free(db->lists);
    for (size_t i = 0; i < db->ncats; i++)
        free(db->cats[i]);
    free(db->cats);
    free(db);
}

size_t rep_db_entries(const struct rep_db *db)
{
    return db->n;
}

static bool cat_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == ':' || c == '-';
}

static bool category_ok(const char *s, size_t n)
{
    if (n == 0 || n > REP_MAX_CATEGORY)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!cat_char(s[i]))
            return false;
    return true;
}

/* Interns a category; returns its index or -1. */
static long intern_cat(struct rep_db *db, const char *s, size_t n)
{
    for (size_t i = 0; i < db->ncats; i++)
        if (strlen(db->cats[i]) == n && memcmp(db->cats[i], s, n) == 0)
            return (long)i;
    if (db->ncats == db->capcats) {
        size_t nc = db->capcats == 0 ? 16 : db->capcats * 2;
        char **p = realloc(db->cats, nc * sizeof(char *));
        if (p == NULL)
            return -1;
        db->cats = p;
        db->capcats = nc;
    }
    char *c = malloc(n + 1);
    if (c == NULL)
        return -1;
    memcpy(c, s, n);
    c[n] = '\0';
    db->cats[db->ncats] = c;
    return (long)db->ncats++;
}

static void line_err(struct cfg_errors *errs, const char *src, size_t line, const char *msg)
{
    cfg_errors_add(errs, "%s:%zu: %s", src, line, msg);
}

/* Parses "addr[/len]" into e; returns NULL or a message. */
static const char *parse_cidr(const char *tok, size_t n, struct rep_entry *e, char *hint,
                              size_t hintsz)
{
    char a[INET6_ADDRSTRLEN + 8];
    if (n >= sizeof(a))
        return "not an address or network (too long)";
    memcpy(a, tok, n);
    a[n] = '\0';
    char *slash = strchr(a, '/');
    unsigned long plen = 0;
    bool have_len = false;
    if (slash != NULL) {
        *slash = '\0';
        const char *d = slash + 1;
        size_t dl = strlen(d);
        if (dl == 0 || dl > 3 || (dl > 1 && d[0] == '0'))
            return "the prefix length must be a decimal number without leading zeros";
        for (size_t i = 0; i < dl; i++)
            if (d[i] < '0' || d[i] > '9')
                return "the prefix length must be a decimal number without leading zeros";
        char *end;
        plen = strtoul(d, &end, 10);
        if (*end != '\0')
            return "the prefix length must be a decimal number";
        have_len = true;
    }
    memset(e, 0, sizeof(*e));
    if (strchr(a, ':') == NULL) {
        struct in_addr v4;
        if (inet_pton(AF_INET, a, &v4) != 1)
            return "not an IPv4 or IPv6 address or network";
        e->family = 4;
        memcpy(e->net, &v4, 4);
        if (!have_len)
            plen = 32;
        if (plen > 32)
            return "an IPv4 prefix length is at most 32";
    } else {
        struct in6_addr v6;
        if (inet_pton(AF_INET6, a, &v6) != 1)
            return "not an IPv4 or IPv6 address or network";
        e->family = 6;
        memcpy(e->net, &v6, 16);
        if (!have_len)
            plen = 128;
        if (plen > 128)
            return "an IPv6 prefix length is at most 128";
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (plen >= 96 && memcmp(e->net, mapped, 12) == 0)
            return "write IPv4-mapped networks as IPv4 (lookups use the IPv4 address)";
    }
    e->len = (uint8_t)plen;
    size_t bytes = e->family == 4 ? 4 : 16;
    uint8_t masked[16];
    memcpy(masked, e->net, 16);
    for (size_t i = 0; i < bytes; i++) {
        size_t bit0 = i * 8;
        uint8_t m;
        if (bit0 + 8 <= plen)
            m = 0xff;
        else if (bit0 >= plen)
            m = 0;
        else
            m = (uint8_t)(0xffu << (8 - (plen - bit0)));
        masked[i] &= m;
    }
    if (memcmp(masked, e->net, bytes) != 0) {
        char net[INET6_ADDRSTRLEN];
        inet_ntop(e->family == 4 ? AF_INET : AF_INET6, masked, net, sizeof(net));
        snprintf(hint, hintsz, "host bits are set: the network is %s/%lu", net, plen);
        return hint;
    }
    return NULL;
}

long rep_db_load_mem(struct rep_db *db, const char *list_name, const char *src, const char *data,
                     size_t len, const char *default_category, struct cfg_errors *errs)
{
    if (db->finished || db->nlists >= REP_MAX_LISTS) {
        cfg_errors_add(errs, "%s: too many reputation lists (at most %u)", src, REP_MAX_LISTS);
        return -1;
    }
    if (len > REP_MAX_FILE) {
        cfg_errors_add(errs, "%s: larger than %u bytes", src, REP_MAX_FILE);
        return -1;
    }
    long defcat = -1;
    if (default_category != NULL) {
        if (!category_ok(default_category, strlen(default_category))) {
            cfg_errors_add(errs, "%s: the default category must be 1-%u characters of "
                           "A-Z a-z 0-9 _ . : -", src, REP_MAX_CATEGORY);
            return -1;
        }
        if ((defcat = intern_cat(db, default_category, strlen(default_category))) < 0)
            return -1;
    }
    size_t start_n = db->n, nerr = 0;
    uint16_t list_idx = (uint16_t)db->nlists;
    size_t line = 0;
    size_t pos = 0;
    while (pos < len) {
        line++;
        const char *ls = data + pos;
        const char *nl = memchr(ls, '\n', len - pos);
        size_t ll = nl != NULL ? (size_t)(nl - ls) : len - pos;
        pos += ll + (nl != NULL ? 1 : 0);
        if (ll > 0 && ls[ll - 1] == '\r')
            ll--;
        if (ll > REP_MAX_LINE) {
            line_err(errs, src, line, "line longer than 1024 bytes");
            nerr++;
            continue;
        }
        /* Tokens: address, optional category, optional comment. */
        const char *tok[3];
        size_t tl[3], nt = 0;
        bool bad = false;
        size_t i = 0;
        while (i < ll) {
            while (i < ll && (ls[i] == ' ' || ls[i] == '\t'))
                i++;
            if (i >= ll || ls[i] == '#' || (nt == 0 && ls[i] == ';'))
                break;
            size_t j = i;
            while (j < ll && ls[j] != ' ' && ls[j] != '\t')
                j++;
            if (nt == 2) {
                bad = true;
                break;
            }
            tok[nt] = ls + i;
            tl[nt] = j - i;
            nt++;
            i = j;
        }
        if (bad) {
            line_err(errs, src, line, "expected a network and an optional category, found more");
            nerr++;
            continue;
        }
        if (nt == 0)
            continue;
        struct rep_entry e;
        char hint[120];
        const char *msg = parse_cidr(tok[0], tl[0], &e, hint, sizeof(hint));
        if (msg != NULL) {
            line_err(errs, src, line, msg);
            nerr++;
            continue;
        }
        long cat = defcat;
        if (nt == 2) {
            if (!category_ok(tok[1], tl[1])) {
                line_err(errs, src, line,
                         "a category is 1-64 characters of A-Z a-z 0-9 _ . : -");
                nerr++;
                continue;
            }
            cat = intern_cat(db, tok[1], tl[1]);
        } else if (cat < 0) {
            line_err(errs, src, line, "no category, and the list has no default category");
            nerr++;
            continue;
        }
        if (cat < 0)
            return -1;
        if (db->n >= REP_MAX_ENTRIES) {
            cfg_errors_add(errs, "%s:%zu: more than %u entries over all lists", src, line,
                           REP_MAX_ENTRIES);
            nerr++;
            break;
        }
        if (db->n == db->cap) {
            size_t nc = db->cap == 0 ? 256 : db->cap * 2;
            struct rep_entry *p = realloc(db->e, nc * sizeof(*p));
            if (p == NULL) {
                cfg_errors_add(errs, "%s: out of memory", src);
                db->n = start_n;
                return -1;
            }
            db->e = p;
            db->cap = nc;
        }
        e.list = list_idx;
        e.cat = (uint32_t)cat;
        db->e[db->n++] = e;
    }
    if (nerr > 0) {
        db->n = start_n;
        return -1;
    }
    char **p = realloc(db->lists, (db->nlists + 1) * sizeof(char *));
    if (p == NULL) {
        db->n = start_n;
        return -1;
    }
    db->lists = p;
    db->lists[db->nlists] = strdup(list_name);
    if (db->lists[db->nlists] == NULL) {
        db->n = start_n;
        return -1;
    }
    db->nlists++;
    return (long)(db->n - start_n);
}

long rep_db_load_file(struct rep_db *db, const char *list_name, const char *path,
                      const char *default_category, struct cfg_errors *errs)
{
    size_t got;
    enum file_status fs;
    char *buf = file_read_all(path, REP_MAX_FILE, &got, &fs);
    if (buf == NULL) {
        char why[600];
        file_read_error(why, sizeof(why), path, REP_MAX_FILE, fs);
        cfg_errors_add(errs, "%s", why);
        return -1;
    }
    long rc = rep_db_load_mem(db, list_name, path, buf, got, default_category, errs);
    free(buf);
    return rc;
}

static int entry_cmp(const void *pa, const void *pb)
{
    const struct rep_entry *a = pa, *b = pb;
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1;
    int c = memcmp(a->net, b->net, 16);
    if (c != 0)
        return c;
    if (a->list != b->list)
        return a->list < b->list ? -1 : 1;
    return a->cat < b->cat ? -1 : a->cat > b->cat ? 1 : 0;
}

static uint64_t key_hash(uint8_t family, uint8_t len, const uint8_t *net)
{
    uint64_t a, b;
    memcpy(&a, net, 8);
    memcpy(&b, net + 8, 8);
    uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull ^
                 ((uint64_t)family << 8 | len) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
}

static bool same_key(const struct rep_entry *e, uint8_t family, uint8_t len, const uint8_t *net)
{
    return e->family == family && e->len == len && memcmp(e->net, net, 16) == 0;
}

void rep_db_finish(struct rep_db *db)
{
    if (db->n > 0)
        qsort(db->e, db->n, sizeof(*db->e), entry_cmp);
    memset(db->lens4, 0, sizeof(db->lens4));
    memset(db->lens6, 0, sizeof(db->lens6));
    free(db->hidx);
    db->hidx = NULL;
    db->hcap = 0;
    size_t cap = 16;
    while (cap < db->n * 2)
        cap *= 2;
    db->hidx = calloc(cap, sizeof(uint32_t));
    if (db->hidx != NULL)
        db->hcap = cap;
    for (size_t i = 0; i < db->n; i++) {
        const struct rep_entry *e = &db->e[i];
        if (e->family == 4)
            db->lens4[e->len] = true;
        else
            db->lens6[e->len] = true;
        if (db->hidx == NULL || (i > 0 && same_key(&db->e[i - 1], e->family, e->len, e->net)))
            continue;
        size_t h = (size_t)key_hash(e->family, e->len, e->net) & (cap - 1);
        while (db->hidx[h] != 0)
            h = (h + 1) & (cap - 1);
        db->hidx[h] = (uint32_t)(i + 1);
    }
    db->finished = true;
}

/* First index of an entry equal to (family, len, net) in sort order, or n. */
static size_t lower_bound(const struct rep_db *db, uint8_t family, uint8_t len,
                          const uint8_t *net)
{
    size_t lo = 0, hi = db->n;
    struct rep_entry key = {.family = family, .len = len, .list = 0, .cat = 0};
    memcpy(key.net, net, 16);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (entry_cmp(&db->e[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First entry with this key, through the hash index (binary search when the
 * index could not be allocated); db->n when there is none. */
static size_t first_of(const struct rep_db *db, uint8_t family, uint8_t len, const uint8_t *net)
{
    if (db->hidx == NULL)
        return lower_bound(db, family, len, net);
    size_t h = (size_t)key_hash(family, len, net) & (db->hcap - 1);
    for (uint32_t v; (v = db->hidx[h]) != 0; h = (h + 1) & (db->hcap - 1))
        if (same_key(&db->e[v - 1], family, len, net))
            return v - 1;
    return db->n;
}

size_t rep_db_lookup(const struct rep_db *db, const struct ip_addr *a, struct rep_match *out,
                     size_t max)
{
    if (!db->finished || max == 0)
        return 0;
    unsigned bits = a->family == 4 ? 32 : 128;
    const bool *lens = a->family == 4 ? db->lens4 : db->lens6;
    uint64_t done[REP_MAX_LISTS / 64] = {0}; /* lists answered by a longer prefix */
    size_t nout = 0;
    for (unsigned l = bits + 1; l-- > 0;) {
        if (!lens[l])
            continue;
        uint8_t net[16] = {0};
        for (unsigned i = 0; i < bits / 8; i++) {
            unsigned b0 = i * 8;
            unsigned m = b0 + 8 <= l ? 0xffu : b0 >= l ? 0u : (0xffu << (8 - (l - b0))) & 0xffu;
            net[i] = (uint8_t)(a->b[i] & m);
        }
        uint64_t here[REP_MAX_LISTS / 64] = {0};
        for (size_t i = first_of(db, (uint8_t)a->family, (uint8_t)l, net);
             i < db->n && db->e[i].family == a->family && db->e[i].len == l &&
             memcmp(db->e[i].net, net, 16) == 0;
             i++) {
            const struct rep_entry *e = &db->e[i];
            if (done[e->list / 64] & (1ull << (e->list % 64)))
                continue;
            if (i > 0 && entry_cmp(&db->e[i - 1], e) == 0)
                continue; /* the same entry twice in one list */
            here[e->list / 64] |= 1ull << (e->list % 64);
            if (nout < max) {
                struct rep_match *m = &out[nout++];
                m->list = db->lists[e->list];
                m->category = db->cats[e->cat];
                m->prefix_len = l;
                char t[INET6_ADDRSTRLEN];
                inet_ntop(a->family == 4 ? AF_INET : AF_INET6, e->net, t, sizeof(t));
                snprintf(m->network, sizeof(m->network), "%s/%u", t, l);
            }
        }
        for (size_t w = 0; w < REP_MAX_LISTS / 64; w++)
            done[w] |= here[w];
    }
    return nout;
}
