/* urlcheck.h - a strict URL reader for SSRF decisions.
 *
 * url_parse() reads an absolute URL the way a WHATWG URL parser (Node's fetch,
 * undici, browsers) and the common C/Python stacks (curl, urllib +
 * getaddrinfo) would, and refuses every input on which they could disagree
 * about the host, instead of guessing:
 *  - whitespace, control characters and backslashes anywhere in the URL;
 *  - a special scheme (http, https, ws, wss, ftp) not followed by "//";
 *  - an '@' that a naive "authority runs to the first '/'" reader would see
 *    but the standard one would not ("http://a.com#@127.0.0.1/");
 *  - percent-encoded hosts are decoded first; a host that is not ASCII after
 *    decoding is refused (IDNA would map full-width digits and dots);
 *  - a host that ends in a number is read as an IPv4 address in every
 *    inet_aton/WHATWG spelling (decimal, octal, hex, 1-4 parts) and refused
 *    when it does not parse as one;
 *  - bracketed IPv6 literals are parsed; zone identifiers are refused.
 * Nothing is allocated: the host is decoded into the caller's struct.
 */
#ifndef MCPWALL_GUARD_URLCHECK_H
#define MCPWALL_GUARD_URLCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "guard/netaddr.h"

#define URL_MAX_LEN  8192u
#define URL_HOST_MAX 255u

struct url_view {
    char scheme[32];        /* lowercased */
    bool has_authority;     /* "//" present */
    bool has_userinfo;      /* "user[:pass]@" present in the authority */
    char host[URL_HOST_MAX + 1]; /* decoded, lowercased, one trailing dot removed;
                                  * IP literals in canonical text form, without brackets */
    size_t host_len;
    bool host_is_ip;
    struct netaddr ip;      /* when host_is_ip */
    int port;               /* -1 when absent */
};

/* Parses s[0,n). Returns 0 and fills *u, or -1 with *reason set to a stable
 * code ("url_malformed", "url_ambiguous", "url_host_invalid",
 * "url_host_non_ascii", "url_too_long") and *why to a short phrase. */
int url_parse(const char *s, size_t n, struct url_view *u, const char **reason, const char **why);

/* True when the scheme is one of WHATWG's special schemes (has a host). */
bool url_scheme_is_special(const char *scheme);

#endif
