#include "util/str.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Matches one character class starting after '['. Returns the pattern position
 * after ']' and sets *hit, or NULL when the class is unterminated. */
static const char *glob_class(const char *p, unsigned char c, bool *hit)
{
    bool neg = false;
    bool found = false;
    if (*p == '!' || *p == '^') {
        neg = true;
        p++;
    }
    bool first = true;
    while (*p != '\0' && (first || *p != ']')) {
        unsigned char lo = (unsigned char)*p;
        if (lo == '\\' && p[1] != '\0')
            lo = (unsigned char)*++p;
        unsigned char hi = lo;
        if (p[1] == '-' && p[2] != '\0' && p[2] != ']') {
            hi = (unsigned char)p[2];
            if (hi == '\\' && p[3] != '\0') {
                hi = (unsigned char)p[3];
                p++;
            }
            p += 2;
        }
        if (c >= lo && c <= hi)
            found = true;
        p++;
        first = false;
    }
    if (*p != ']')
        return NULL;
    *hit = found != neg;
    return p + 1;
}

bool glob_match(const char *pat, const char *s, size_t slen)
{
    const char *p = pat;
    size_t i = 0;
    const char *star_p = NULL;
    size_t star_i = 0;

    while (i < slen || *p != '\0') {
        if (*p == '*') {
            while (*p == '*')
                p++;
            star_p = p;
            star_i = i;
            continue;
        }
        if (i < slen && *p != '\0') {
            unsigned char c = (unsigned char)s[i];
            if (*p == '?') {
                p++;
                i++;
                continue;
            }
            if (*p == '[') {
                bool hit = false;
                const char *np = glob_class(p + 1, c, &hit);
                if (np != NULL && hit) {
                    p = np;
                    i++;
                    continue;
                }
                if (np == NULL && c == '[') { /* unterminated: literal '[' */
                    p++;
                    i++;
                    continue;
                }
            } else {
                const char *q = p;
                if (*q == '\\' && q[1] != '\0')
                    q++;
                if ((unsigned char)*q == c) {
                    p = q + 1;
                    i++;
                    continue;
                }
            }
        }
        if (star_p != NULL && star_i < slen) {
            p = star_p;
            i = ++star_i;
            continue;
        }
        return false;
    }
    return true;
}

bool glob_is_literal(const char *pat)
{
    return strpbrk(pat, "*?[\\") == NULL;
}

int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0')
        return -1;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

struct unit {
    const char *name;
    uint64_t mult;
};

static int parse_with_units(const char *s, const struct unit *units, uint64_t bare, uint64_t *out)
{
    char num[32];
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, s, n);
    num[n] = '\0';
    uint64_t v;
    if (parse_u64(num, UINT64_MAX, &v) < 0)
        return -1;
    const char *suffix = s + n;
    uint64_t mult = 0;
    if (*suffix == '\0') {
        mult = bare;
    } else {
        for (const struct unit *u = units; u->name != NULL; u++) {
            if (strcmp(suffix, u->name) == 0) {
                mult = u->mult;
                break;
            }
        }
    }
    if (mult == 0 || (v != 0 && v > UINT64_MAX / mult))
        return -1;
    *out = v * mult;
    return 0;
}

int parse_size(const char *s, uint64_t *out)
{
    static const struct unit units[] = {
        {"B", 1},         {"KiB", 1024},       {"MiB", 1024 * 1024}, {"GiB", 1024ull * 1024 * 1024},
        {"kB", 1000},     {"KB", 1000},        {"MB", 1000 * 1000},  {"GB", 1000ull * 1000 * 1000},
        {"K", 1024},      {"M", 1024 * 1024},  {"G", 1024ull * 1024 * 1024},
        {NULL, 0},
    };
    return parse_with_units(s, units, 1, out);
}

int parse_duration_us(const char *s, uint64_t *out)
{
    static const struct unit units[] = {
        {"us", 1},          {"ms", 1000},           {"s", 1000000},
        {"m", 60000000ull}, {"h", 3600000000ull},   {NULL, 0},
    };
    return parse_with_units(s, units, 1000, out);
}

size_t str_copy(char *dst, const char *src, size_t dstsz)
{
    size_t n = strlen(src);
    if (dstsz > 0) {
        size_t c = n < dstsz - 1 ? n : dstsz - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

bool str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

const char *str_casestr_n(const char *hay, size_t haylen, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return hay;
    if (n > haylen)
        return NULL;
    for (size_t i = 0; i + n <= haylen; i++) {
        size_t j = 0;
        while (j < n && tolower((unsigned char)hay[i + j]) == tolower((unsigned char)needle[j]))
            j++;
        if (j == n)
            return hay + i;
    }
    return NULL;
}

char *str_memdup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    if (n > 0)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
