/* netaddr.h - IP address text forms and their classification for SSRF checks.
 *
 * Three parsers, because three different grammars matter:
 *  - netaddr_parse_ipv4_strict(): the dotted quad of RFC 3986 / JSON Schema
 *    "ipv4" (four decimal parts 0-255, no leading zeros);
 *  - netaddr_parse_ipv4_loose(): what inet_aton(3), getaddrinfo(3) and the
 *    WHATWG URL standard accept as an IPv4 host: 1 to 4 parts, each decimal,
 *    octal (leading 0) or hex (0x), the last part filling the remaining bytes,
 *    one trailing dot allowed ("2130706433", "0177.0.0.1", "0x7f.1", "127.1");
 *  - netaddr_parse_ipv6(): RFC 4291 text forms, with an embedded dotted quad,
 *    without a zone identifier.
 * None allocates; all take a length-delimited input.
 *
 * netaddr_classify() puts an address in one class. Embedded IPv4 addresses
 * (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, IPv4-translated,
 * NAT64 64:ff9b::/96, 6to4 2002::/16) are classified by the IPv4 address they
 * carry, so that [::ffff:127.0.0.1] is loopback.
 */
#ifndef MCPWALL_GUARD_NETADDR_H
#define MCPWALL_GUARD_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netaddr {
    int family;    /* 4 or 6 */
    uint8_t a[16]; /* network order; IPv4 uses a[0..3] */
};

enum netaddr_class {
    NETADDR_PUBLIC = 0,
    NETADDR_LOOPBACK,    /* 127/8, ::1 */
    NETADDR_PRIVATE,     /* RFC 1918, CGNAT 100.64/10, ULA fc00::/7, site-local, local NAT64 */
    NETADDR_LINK_LOCAL,  /* 169.254/16, fe80::/10 */
    NETADDR_METADATA,    /* cloud instance metadata endpoints (169.254.169.254, fd00:ec2::254 ...) */
    NETADDR_UNSPECIFIED, /* 0.0.0.0/8 ("this network"; Linux routes 0.0.0.0 to the host), :: */
    NETADDR_MULTICAST,   /* 224/4, ff00::/8 */
    NETADDR_RESERVED,    /* documentation, benchmarking, 240/4, broadcast, Teredo, unassigned ... */
};

/* Stable reason code for a class ("ssrf_loopback", ...); "" for PUBLIC. */
const char *netaddr_class_reason(enum netaddr_class c);
/* Short description for messages ("a loopback address", ...). */
const char *netaddr_class_words(enum netaddr_class c);

/* 0 on success (out filled), -1 otherwise. */
int netaddr_parse_ipv4_strict(const char *s, size_t n, uint8_t out[4]);
int netaddr_parse_ipv6(const char *s, size_t n, uint8_t out[16]);

/* WHATWG "ends in a number" test: true when the last dot-separated label
 * (ignoring one trailing dot) is all decimal digits or "0x" + hex digits, in
 * which case a URL parser treats the whole host as an IPv4 address. */
bool netaddr_ends_in_number(const char *s, size_t n);
/* inet_aton/WHATWG IPv4. 0 on success, -1 when the text is not such an address. */
int netaddr_parse_ipv4_loose(const char *s, size_t n, uint8_t out[4]);

enum netaddr_class netaddr_classify(const struct netaddr *a);

/* Formats a in its canonical text form (RFC 5952 for IPv6) into out (>= 46 bytes). */
void netaddr_format(const struct netaddr *a, char *out, size_t outsz);

#endif
