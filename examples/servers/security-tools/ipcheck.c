/* ipcheck.c - see ipcheck.h. */
#include "ipcheck.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

struct special {
    const char *text;   /* the range as people write it */
    uint8_t net[16];
    unsigned len;       /* prefix length */
    const char *what;
};

/* Special-purpose IPv4 ranges that are not globally reachable unicast. */
static const struct special v4_special[] = {
    {"0.0.0.0/8", {0}, 8, "\"this network\" (RFC 791)"},
    {"10.0.0.0/8", {10}, 8, "a private network (RFC 1918)"},
    {"100.64.0.0/10", {100, 64}, 10, "shared address space for carrier-grade NAT (RFC 6598)"},
    {"127.0.0.0/8", {127}, 8, "loopback (RFC 1122)"},
    {"169.254.0.0/16", {169, 254}, 16, "link-local (RFC 3927)"},
    {"172.16.0.0/12", {172, 16}, 12, "a private network (RFC 1918)"},
    {"192.0.0.0/24", {192, 0, 0}, 24, "IETF protocol assignments (RFC 6890)"},
    {"192.0.2.0/24", {192, 0, 2}, 24, "documentation, TEST-NET-1 (RFC 5737)"},
    {"192.88.99.0/24", {192, 88, 99}, 24, "the deprecated 6to4 relay anycast range (RFC 7526)"},
    {"192.168.0.0/16", {192, 168}, 16, "a private network (RFC 1918)"},
    {"198.18.0.0/15", {198, 18}, 15, "benchmarking (RFC 2544)"},
    {"198.51.100.0/24", {198, 51, 100}, 24, "documentation, TEST-NET-2 (RFC 5737)"},
    {"203.0.113.0/24", {203, 0, 113}, 24, "documentation, TEST-NET-3 (RFC 5737)"},
    {"224.0.0.0/4", {224}, 4, "multicast (RFC 5771)"},
    {"255.255.255.255/32", {255, 255, 255, 255}, 32, "the limited broadcast address (RFC 919)"},
    {"240.0.0.0/4", {240}, 4, "reserved for future use (RFC 1112)"},
};

/* Special-purpose IPv6 ranges (embedded-IPv4 forms are handled first). */
static const struct special v6_special[] = {
    {"::/128", {0}, 128, "the unspecified address (RFC 4291)"},
    {"::1/128", {[15] = 1}, 128, "loopback (RFC 4291)"},
    {"64:ff9b:1::/48", {0, 0x64, 0xff, 0x9b, 0, 1}, 48, "local-use NAT64 (RFC 8215)"},
    {"100::/64", {1, 0}, 64, "discard-only (RFC 6666)"},
    {"2001:db8::/32", {0x20, 0x01, 0x0d, 0xb8}, 32, "documentation (RFC 3849)"},
    {"2001::/23", {0x20, 0x01}, 23, "IETF protocol assignments, incl. Teredo (RFC 2928)"},
    {"3fff::/20", {0x3f, 0xff}, 20, "documentation (RFC 9637)"},
    {"5f00::/16", {0x5f, 0x00}, 16, "SRv6 segment identifiers (RFC 9602)"},
    {"fc00::/7", {0xfc}, 7, "unique local addresses (RFC 4193)"},
    {"fe80::/10", {0xfe, 0x80}, 10, "link-local (RFC 4291)"},
    {"fec0::/10", {0xfe, 0xc0}, 10, "the deprecated site-local range (RFC 3879)"},
    {"ff00::/8", {0xff}, 8, "multicast (RFC 4291)"},
};

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned len)
{
    unsigned full = len / 8, rest = len % 8;
    if (memcmp(a, net, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

void ip_format(const struct ip_addr *a, char *out, size_t outsz)
{
    if (inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->b, out, (socklen_t)outsz) == NULL &&
        outsz > 0)
        out[0] = '\0';
}

static void reserved(struct ip_check *c, const struct special *sp, const char *shown)
{
    c->verdict = IP_RESERVED;
    c->range = sp->text;
    c->what = sp->what;
    char v4[INET_ADDRSTRLEN];
    if (c->embedded_v4) {
        ip_format(&c->addr, v4, sizeof(v4));
        snprintf(c->msg, sizeof(c->msg),
                 "%s carries the IPv4 address %s, which is in %s, %s: only public addresses can "
                 "be checked",
                 shown, v4, sp->text, sp->what);
    } else {
        snprintf(c->msg, sizeof(c->msg), "%s is in %s, %s: only public addresses can be checked",
                 shown, sp->text, sp->what);
    }
}

static void check_v4(struct ip_check *c, const char *shown)
{
    for (size_t i = 0; i < sizeof(v4_special) / sizeof(v4_special[0]); i++) {
        if (prefix_match(c->addr.b, v4_special[i].net, v4_special[i].len)) {
            reserved(c, &v4_special[i], shown);
            return;
        }
    }
    c->verdict = IP_PUBLIC;
}

static void invalid(struct ip_check *c, const char *why)
{
    c->verdict = IP_INVALID;
    snprintf(c->msg, sizeof(c->msg), "not a valid IP address: %s", why);
}

void ip_check(const char *s, size_t len, struct ip_check *c)
{
    memset(c, 0, sizeof(*c));
    char buf[INET6_ADDRSTRLEN + 1];
    if (len == 0) {
        invalid(c, "the value is empty");
        return;
    }
    if (len >= sizeof(buf)) {
        invalid(c, "too long for an address");
        return;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strlen(buf) != len) {
        invalid(c, "it contains a NUL character");
        return;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch == '%') {
            invalid(c, "IPv6 zone ids (%...) are not accepted");
            return;
        }
        if (ch == '/') {
            invalid(c, "give a single address, not a network (no /prefix)");
            return;
        }
        if (ch == '[' || ch == ']') {
            invalid(c, "write IPv6 addresses without brackets");
            return;
        }
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
              ch == '.' || ch == ':')) {
            invalid(c, "only digits, hex digits, '.' and ':' may appear");
            return;
        }
    }
    if (strchr(buf, ':') == NULL) {
        struct in_addr a4;
        if (inet_pton(AF_INET, buf, &a4) != 1) {
            invalid(c, "IPv4 addresses are four decimal numbers 0-255 (e.g. 203.0.113.7), "
                       "without leading zeros");
            return;
        }
        c->addr.family = 4;
        memcpy(c->addr.b, &a4, 4);
        ip_format(&c->addr, c->text, sizeof(c->text));
        check_v4(c, buf);
        return;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, buf, &a6) != 1) {
        invalid(c, "not a well-formed IPv6 address");
        return;
    }
    uint8_t b[16];
    memcpy(b, &a6, 16);
    char shown[INET6_ADDRSTRLEN];
    struct ip_addr full = {.family = 6};
    memcpy(full.b, b, 16);
    ip_format(&full, shown, sizeof(shown));
    memcpy(c->text, shown, sizeof(shown));
    /* Forms that carry an IPv4 address are judged and looked up as that address. */
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    const uint8_t *v4 = NULL;
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, translated, 12) == 0 || memcmp(b, nat64, 12) == 0)
        v4 = b + 12;
    else if (b[0] == 0x20 && b[1] == 0x02) /* 6to4: 2002:AABB:CCDD::/48 */
        v4 = b + 2;
    if (v4 != NULL) {
        c->embedded_v4 = true;
        c->addr.family = 4;
        memcpy(c->addr.b, v4, 4);
        check_v4(c, shown);
        return;
    }
    c->addr = full;
    for (size_t i = 0; i < sizeof(v6_special) / sizeof(v6_special[0]); i++) {
        if (prefix_match(b, v6_special[i].net, v6_special[i].len)) {
            reserved(c, &v6_special[i], shown);
            return;
        }
    }
    /* Everything outside 2000::/3 is unassigned or reserved by the IETF
     * (this includes the deprecated IPv4-compatible ::a.b.c.d form). */
    if ((b[0] & 0xe0) != 0x20) {
        static const struct special notglobal = {"outside 2000::/3", {0}, 3,
                                                 "not global unicast space (reserved by the IETF)"};
        c->verdict = IP_RESERVED;
        c->range = notglobal.text;
        c->what = notglobal.what;
        snprintf(c->msg, sizeof(c->msg),
                 "%s is %s, %s: only public addresses can be checked", shown, notglobal.text,
                 notglobal.what);
        return;
    }
    c->verdict = IP_PUBLIC;
}
