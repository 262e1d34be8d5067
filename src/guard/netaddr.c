/* netaddr.c - IPv4/IPv6 text parsing and address classification. */
#include "guard/netaddr.h"

#include <stdio.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int netaddr_parse_ipv4_strict(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.')
                return -1;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
            v = v * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        size_t len = i - start;
        if (len == 0 || v > 255 || (len > 1 && s[start] == '0'))
            return -1;
        if (i < n && s[i] >= '0' && s[i] <= '9')
            return -1; /* four or more digits */
        out[part] = (uint8_t)v;
    }
    return i == n ? 0 : -1;
}

int netaddr_parse_ipv6(const char *s, size_t n, uint8_t out[16])
{
    uint16_t g[8] = {0};
    int ng = 0;       /* groups written */
    int gap = -1;     /* index in g where "::" stands */
    size_t i = 0;
    if (n < 2)
        return -1;
    if (s[0] == ':') {
        if (s[1] != ':')
            return -1;
        gap = 0;
        i = 2;
        if (i == n)
            goto done;
    }
    while (i < n) {
        if (ng == 8)
            return -1;
        /* An embedded dotted quad may stand for the last two groups. */
        size_t j = i;
        while (j < n && s[j] != ':' && s[j] != '.')
            j++;
        if (j < n && s[j] == '.') {
            uint8_t v4[4];
            if (ng > 6 || netaddr_parse_ipv4_strict(s + i, n - i, v4) < 0)
                return -1;
            g[ng++] = (uint16_t)(v4[0] << 8 | v4[1]);
            g[ng++] = (uint16_t)(v4[2] << 8 | v4[3]);
            i = n;
            break;
        }
        size_t len = j - i;
        if (len == 0 || len > 4)
            return -1;
        unsigned v = 0;
        for (size_t k = i; k < j; k++) {
            int h = hexval(s[k]);
            if (h < 0)
                return -1;
            v = v << 4 | (unsigned)h;
        }
        g[ng++] = (uint16_t)v;
        i = j;
        if (i == n)
            break;
        /* s[i] == ':' */
        i++;
        if (i < n && s[i] == ':') {
            if (gap >= 0)
                return -1;
            gap = ng;
            i++;
            if (i == n)
                break;
        } else if (i == n) {
            return -1; /* trailing single ':' */
        }
    }
done:
    if (gap < 0) {
        if (ng != 8)
            return -1;
    } else {
        if (ng > 7)
            return -1; /* "::" must stand for at least one group */
        int tail = ng - gap;
        memmove(&g[8 - tail], &g[gap], (size_t)tail * sizeof(g[0]));
        for (int k = gap; k < 8 - tail; k++)
            g[k] = 0;
    }
    for (int k = 0; k < 8; k++) {
        out[2 * k] = (uint8_t)(g[k] >> 8);
        out[2 * k + 1] = (uint8_t)(g[k] & 0xff);
    }
    return 0;
}

bool netaddr_ends_in_number(const char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0)
        return false;
    size_t start = n;
    while (start > 0 && s[start - 1] != '.')
        start--;
    const char *l = s + start;
    size_t ll = n - start;
    if (ll == 0)
        return false;
    bool digits = true;
    for (size_t i = 0; i < ll; i++)
        if (l[i] < '0' || l[i] > '9')
            digits = false;
    if (digits)
        return true;
    if (ll >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X')) {
        for (size_t i = 2; i < ll; i++)
            if (hexval(l[i]) < 0)
                return false;
        return true;
    }
    return false;
}

/* One part of a loose IPv4 address; -1 on a bad digit or a value >= 2^32. */
static int loose_part(const char *p, size_t n, uint64_t *out)
{
    unsigned base = 10;
    if (n >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
        n -= 2;
    } else if (n >= 2 && p[0] == '0') {
        base = 8;
        p++;
        n--;
    }
    if (n == 0 && base != 16)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = hexval(p[i]);
        if (d < 0 || (unsigned)d >= base)
            return -1;
        v = v * base + (unsigned)d;
        if (v > 0xffffffffu)
            return -1;
    }
    *out = v;
    return 0;
}

int netaddr_parse_ipv4_loose(const char *s, size_t n, uint8_t out[4])
{
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0)
        return -1;
    uint64_t parts[4];
    size_t np = 0, i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != '.')
            j++;
        if (np == 4 || loose_part(s + i, j - i, &parts[np]) < 0)
            return -1;
        np++;
        i = j + 1;
    }
    for (size_t k = 0; k + 1 < np; k++)
        if (parts[k] > 255)
            return -1;
    uint64_t last = parts[np - 1];
    if (last >= (1ull << (8 * (5 - np))))
        return -1;
    uint32_t v = 0;
    for (size_t k = 0; k + 1 < np; k++)
        v |= (uint32_t)parts[k] << (24 - 8 * k);
    v |= (uint32_t)last;
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
    return 0;
}

static enum netaddr_class classify4(const uint8_t *a)
{
    uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    /* Instance metadata services, checked before the ranges that contain them:
     * AWS/GCP/Azure/OpenStack 169.254.169.254, AWS ECS task metadata
     * 169.254.170.2 and .23, Alibaba 100.100.100.200, Azure WireServer
     * 168.63.129.16 (a public address), Oracle 192.0.0.192. */
    static const uint32_t metadata[] = {0xa9fea9fe, 0xa9feaa02, 0xa9feaa17,
                                        0x646464c8, 0xa83f8110, 0xc00000c0};
    for (size_t i = 0; i < sizeof(metadata) / sizeof(metadata[0]); i++)
        if (v == metadata[i])
            return NETADDR_METADATA;
    static const struct {
        uint32_t net;
        unsigned bits;
        enum netaddr_class c;
    } ranges[] = {
        {0x00000000, 8, NETADDR_UNSPECIFIED}, /* 0/8 */
        {0x0a000000, 8, NETADDR_PRIVATE},     /* 10/8 */
        {0x64400000, 10, NETADDR_PRIVATE},    /* 100.64/10 CGNAT */
        {0x7f000000, 8, NETADDR_LOOPBACK},    /* 127/8 */
        {0xa9fe0000, 16, NETADDR_LINK_LOCAL}, /* 169.254/16 */
        {0xac100000, 12, NETADDR_PRIVATE},    /* 172.16/12 */
        {0xc0000000, 24, NETADDR_RESERVED},   /* 192.0.0/24 IETF protocol assignments */
        {0xc0000200, 24, NETADDR_RESERVED},   /* 192.0.2/24 TEST-NET-1 */
        {0xc0586300, 24, NETADDR_RESERVED},   /* 192.88.99/24 6to4 relay (deprecated) */
        {0xc0a80000, 16, NETADDR_PRIVATE},    /* 192.168/16 */
        {0xc6120000, 15, NETADDR_RESERVED},   /* 198.18/15 benchmarking */
        {0xc6336400, 24, NETADDR_RESERVED},   /* 198.51.100/24 TEST-NET-2 */
        {0xcb007100, 24, NETADDR_RESERVED},   /* 203.0.113/24 TEST-NET-3 */
        {0xe0000000, 4, NETADDR_MULTICAST},   /* 224/4 */
        {0xf0000000, 4, NETADDR_RESERVED},    /* 240/4 and 255.255.255.255 */
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        uint32_t mask = ranges[i].bits == 0 ? 0 : 0xffffffffu << (32 - ranges[i].bits);
        if ((v & mask) == ranges[i].net)
            return ranges[i].c;
    }
    return NETADDR_PUBLIC;
}

static bool prefix_is(const uint8_t *a, const uint8_t *p, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, p, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t m = (uint8_t)(0xff << (8 - rest));
    return (a[full] & m) == (p[full] & m);
}

/* An embedded IPv4 address in a form that is not meant for public use
 * (compatible, translated) is reserved when it is itself public. */
static enum netaddr_class embedded(const uint8_t *v4, bool public_ok)
{
    enum netaddr_class c = classify4(v4);
    if (c == NETADDR_PUBLIC && !public_ok)
        return NETADDR_RESERVED;
    return c;
}

static enum netaddr_class classify6(const uint8_t *a)
{
    static const uint8_t zero[16] = {0};
    static const uint8_t loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
    static const uint8_t aws_md[16] = {0xfd, 0, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
    static const uint8_t p100[8] = {0x01, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t p2001[3] = {0x20, 0x01, 0x00};
    static const uint8_t pdoc[4] = {0x20, 0x01, 0x0d, 0xb8};
    static const uint8_t p2002[2] = {0x20, 0x02};
    static const uint8_t p3fff[3] = {0x3f, 0xff, 0x00};
    static const uint8_t p5f00[2] = {0x5f, 0x00};
    static const uint8_t pfc[1] = {0xfc}; /* prefixes hold every byte prefix_is() reads */
    static const uint8_t pfe80[2] = {0xfe, 0x80};
    static const uint8_t pfec0[2] = {0xfe, 0xc0};
    static const uint8_t pff[1] = {0xff};
    static const uint8_t p2000[1] = {0x20};

    if (memcmp(a, zero, 16) == 0)
        return NETADDR_UNSPECIFIED;
    if (memcmp(a, loop, 16) == 0)
        return NETADDR_LOOPBACK;
    if (memcmp(a, aws_md, 16) == 0)
        return NETADDR_METADATA;
    if (memcmp(a, mapped, 12) == 0)
        return embedded(a + 12, true);
    if (memcmp(a, translated, 12) == 0)
        return embedded(a + 12, false);
    if (memcmp(a, zero, 12) == 0) /* IPv4-compatible (deprecated) */
        return embedded(a + 12, false);
    if (memcmp(a, nat64, 12) == 0)
        return embedded(a + 12, true);
    if (prefix_is(a, nat64_local, 48))
        return NETADDR_PRIVATE;
    if (prefix_is(a, p100, 64))
        return NETADDR_RESERVED; /* discard-only */
    if (prefix_is(a, pdoc, 32))
        return NETADDR_RESERVED; /* documentation */
    if (prefix_is(a, p2001, 23))
        return NETADDR_RESERVED; /* IETF assignments incl. Teredo 2001::/32, ORCHID */
    if (prefix_is(a, p2002, 16)) {
        enum netaddr_class c = classify4(a + 2); /* 6to4 carries an IPv4 address */
        return c;
    }
    if (prefix_is(a, p3fff, 20) || prefix_is(a, p5f00, 16))
        return NETADDR_RESERVED; /* documentation (RFC 9637), SRv6 SIDs */
    if (prefix_is(a, pfc, 7))
        return NETADDR_PRIVATE; /* unique local */
    if (prefix_is(a, pfe80, 10))
        return NETADDR_LINK_LOCAL;
    if (prefix_is(a, pfec0, 10))
        return NETADDR_PRIVATE; /* site-local (deprecated) */
    if (prefix_is(a, pff, 8))
        return NETADDR_MULTICAST;
    if (!prefix_is(a, p2000, 3))
        return NETADDR_RESERVED; /* outside global unicast 2000::/3 */
    return NETADDR_PUBLIC;
}

enum netaddr_class netaddr_classify(const struct netaddr *a)
{
    return a->family == 4 ? classify4(a->a) : classify6(a->a);
}

const char *netaddr_class_reason(enum netaddr_class c)
{
    switch (c) {
    case NETADDR_PUBLIC:
        return "";
    case NETADDR_LOOPBACK:
        return "ssrf_loopback";
    case NETADDR_PRIVATE:
        return "ssrf_private_address";
    case NETADDR_LINK_LOCAL:
        return "ssrf_link_local";
    case NETADDR_METADATA:
        return "ssrf_metadata";
    case NETADDR_UNSPECIFIED:
        return "ssrf_unspecified_address";
    case NETADDR_MULTICAST:
        return "ssrf_multicast";
    case NETADDR_RESERVED:
        return "ssrf_reserved_address";
    }
    return "ssrf_reserved_address";
}

const char *netaddr_class_words(enum netaddr_class c)
{
    switch (c) {
    case NETADDR_PUBLIC:
        return "a public address";
    case NETADDR_LOOPBACK:
        return "a loopback address";
    case NETADDR_PRIVATE:
        return "a private network address";
    case NETADDR_LINK_LOCAL:
        return "a link-local address";
    case NETADDR_METADATA:
        return "a cloud metadata endpoint";
    case NETADDR_UNSPECIFIED:
        return "an unspecified address";
    case NETADDR_MULTICAST:
        return "a multicast address";
    case NETADDR_RESERVED:
        return "a reserved address";
    }
    return "a reserved address";
}

void netaddr_format(const struct netaddr *a, char *out, size_t outsz)
{
    if (a->family == 4) {
        snprintf(out, outsz, "%u.%u.%u.%u", a->a[0], a->a[1], a->a[2], a->a[3]);
        return;
    }
    uint16_t g[8];
    for (int i = 0; i < 8; i++)
        g[i] = (uint16_t)(a->a[2 * i] << 8 | a->a[2 * i + 1]);
    /* RFC 5952: the longest run (>= 2) of zero groups becomes "::". */
    int best = -1, bestlen = 1;
    for (int i = 0; i < 8;) {
        if (g[i] != 0) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && g[j] == 0)
            j++;
        if (j - i > bestlen) {
            best = i;
            bestlen = j - i;
        }
        i = j;
    }
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < 8 && o < outsz; i++) {
        if (i == best) {
            o += (size_t)snprintf(out + o, outsz - o, "::");
            i += bestlen - 1;
            continue;
        }
        int w = snprintf(out + o, outsz - o, "%s%x", (o > 0 && out[o - 1] != ':') ? ":" : "", g[i]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}
