/* ipcheck.h - strict IP address parsing and the special-purpose ranges that
 * check_ip_reputation refuses (IANA IPv4/IPv6 Special-Purpose Address
 * Registries, RFC 6890 and later).
 *
 * Parsing is inet_pton(): dotted-quad IPv4 only (no octal, hex, or short
 * forms such as "127.1"), RFC 4291 IPv6 text; no zone ids, no brackets, no
 * surrounding space. IPv4-mapped (::ffff:a.b.c.d), IPv4-translated
 * (::ffff:0:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) addresses are judged by the
 * IPv4 address they carry, and looked up as that IPv4 address.
 */
#ifndef MCPWALL_ST_IPCHECK_H
#define MCPWALL_ST_IPCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ip_addr {
    int family;       /* 4 or 6 */
    uint8_t b[16];    /* IPv4 in b[0..3] */
};

enum ip_verdict {
    IP_PUBLIC = 0,    /* may be looked up */
    IP_INVALID,       /* not an address */
    IP_RESERVED,      /* a special-purpose range: see ip_check.range */
};

struct ip_check {
    enum ip_verdict verdict;
    struct ip_addr addr;      /* the address to look up (IPv4 for embedded forms) */
    bool embedded_v4;         /* the input was an IPv6 form carrying an IPv4 address */
    const char *range;        /* IP_RESERVED: e.g. "10.0.0.0/8" */
    const char *what;         /* IP_RESERVED: e.g. "private network (RFC 1918)" */
    char text[48];            /* the input address in normal form (inet_ntop) */
    char msg[200];            /* a sentence for the client */
};

/* Parses and classifies `s` (len bytes, no NUL needed). Never fails: the
 * verdict says what the input is. */
void ip_check(const char *s, size_t len, struct ip_check *out);
/* Formats an address (inet_ntop). out holds at least 46 bytes. */
void ip_format(const struct ip_addr *a, char *out, size_t outsz);

#endif
