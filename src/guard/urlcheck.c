/* urlcheck.c - strict URL reading for SSRF checks (see urlcheck.h). */
#include "guard/urlcheck.h"

#include <string.h>

bool url_scheme_is_special(const char *scheme)
{
    static const char *const special[] = {"http", "https", "ws", "wss", "ftp", "file", NULL};
    for (size_t i = 0; special[i] != NULL; i++)
        if (strcmp(scheme, special[i]) == 0)
            return true;
    return false;
}

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

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

#define FAIL(code, phrase)                                                                         \
    do {                                                                                           \
        *reason = (code);                                                                          \
        *why = (phrase);                                                                           \
        return -1;                                                                                 \
    } while (0)

static int parse_port(const char *p, size_t n, int *port)
{
    if (n == 0) {
        *port = -1;
        return 0;
    }
    if (n > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    if (v > 65535)
        return -1;
    *port = v;
    return 0;
}

static int parse_host(const char *h, size_t hn, struct url_view *u, const char **reason,
                      const char **why)
{
    if (hn > 0 && h[0] == '[') {
        if (hn < 2 || h[hn - 1] != ']')
            FAIL("url_host_invalid", "has an unterminated IPv6 literal");
        if (memchr(h, '%', hn) != NULL)
            FAIL("url_host_invalid", "has an IPv6 zone identifier or percent-encoding in an IPv6 literal");
        if (netaddr_parse_ipv6(h + 1, hn - 2, u->ip.a) < 0)
            FAIL("url_host_invalid", "has an invalid IPv6 literal");
        u->ip.family = 6;
        u->host_is_ip = true;
        netaddr_format(&u->ip, u->host, sizeof(u->host));
        u->host_len = strlen(u->host);
        return 0;
    }
    /* Percent-decode: WHATWG decodes the host before reading it. */
    char *out = u->host;
    size_t o = 0;
    for (size_t i = 0; i < hn; i++) {
        char c = h[i];
        if (c == '%') {
            int hi = i + 2 < hn ? hexval(h[i + 1]) : -1;
            int lo = i + 2 < hn ? hexval(h[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                FAIL("url_malformed", "has a bad percent-encoding in the host");
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (o >= URL_HOST_MAX)
            FAIL("url_host_invalid", "has a host name that is too long");
        out[o++] = c;
    }
    out[o] = '\0';
    for (size_t i = 0; i < o; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c >= 0x80)
            FAIL("url_host_non_ascii",
                 "has a host name that is not ASCII (use its punycode xn-- form)");
        if (!(is_alpha((char)c) || is_digit((char)c) || c == '-' || c == '.' || c == '_'))
            FAIL("url_host_invalid", "has a character that is not allowed in a host name");
        out[i] = lower((char)c);
    }
    if (o > 0 && out[o - 1] == '.')
        out[--o] = '\0';
    if (o == 0) {
        if (strcmp(u->scheme, "file") == 0) {
            u->host_len = 0;
            return 0;
        }
        FAIL("url_malformed", "has no host");
    }
    if (out[0] == '.' || out[o - 1] == '.' || strstr(out, "..") != NULL)
        FAIL("url_host_invalid", "has an empty label in the host name");
    size_t label = 0;
    for (size_t i = 0; i < o; i++) {
        label = out[i] == '.' ? 0 : label + 1;
        if (label > 63)
            FAIL("url_host_invalid", "has a host label longer than 63 characters");
    }
    u->host_len = o;
    if (netaddr_ends_in_number(out, o)) {
        uint8_t v4[4];
        if (netaddr_parse_ipv4_loose(out, o, v4) < 0)
            FAIL("url_host_invalid", "has a numeric host that is not a valid IPv4 address");
        u->ip.family = 4;
        memset(u->ip.a, 0, sizeof(u->ip.a));
        memcpy(u->ip.a, v4, 4);
        u->host_is_ip = true;
        netaddr_format(&u->ip, u->host, sizeof(u->host));
        u->host_len = strlen(u->host);
    }
    return 0;
}

int url_parse(const char *s, size_t n, struct url_view *u, const char **reason, const char **why)
{
    memset(u, 0, sizeof(*u));
    u->port = -1;
    if (n > URL_MAX_LEN)
        FAIL("url_too_long", "is too long");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f)
            FAIL("url_malformed", "contains whitespace or control characters");
        if (c == '\\')
            FAIL("url_ambiguous", "contains a backslash");
    }
    size_t i = 0;
    if (n == 0 || !is_alpha(s[0]))
        FAIL("url_malformed", "is not an absolute URL");
    while (i < n && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (i == n || s[i] != ':' || i >= sizeof(u->scheme))
        FAIL("url_malformed", "is not an absolute URL");
    for (size_t k = 0; k < i; k++)
        u->scheme[k] = lower(s[k]);
    u->scheme[i] = '\0';
    i++;
    bool special = url_scheme_is_special(u->scheme);
    if (n - i < 2 || s[i] != '/' || s[i + 1] != '/') {
        if (special)
            FAIL("url_malformed", "must have '//' after the scheme");
        return 0; /* mailto:, urn: ... : no host */
    }
    u->has_authority = true;
    i += 2;
    size_t a0 = i, a1 = i;
    while (a1 < n && s[a1] != '/' && s[a1] != '?' && s[a1] != '#')
        a1++;
    size_t naive = i;
    while (naive < n && s[naive] != '/')
        naive++;
    if (naive != a1 && memchr(s + a0, '@', naive - a0) != NULL)
        FAIL("url_ambiguous", "has an '@' after a '?' or '#' in its authority, which URL parsers "
                              "read differently");
    const char *auth = s + a0;
    size_t alen = a1 - a0;
    const char *at = NULL;
    for (size_t k = 0; k < alen; k++) {
        if (auth[k] == '@') {
            if (at != NULL)
                FAIL("url_ambiguous", "has more than one '@' in its authority");
            at = auth + k;
        }
    }
    const char *hp = auth;
    size_t hpn = alen;
    if (at != NULL) {
        u->has_userinfo = true;
        hp = at + 1;
        hpn = (size_t)(auth + alen - hp);
    }
    for (size_t k = 0; k < hpn; k++)
        if ((unsigned char)hp[k] >= 0x80)
            FAIL("url_host_non_ascii", "has a host name that is not ASCII (use its punycode xn-- form)");
    size_t hn = hpn;
    const char *port = NULL;
    size_t portn = 0;
    if (hpn > 0 && hp[0] == '[') {
        const char *rb = memchr(hp, ']', hpn);
        if (rb == NULL)
            FAIL("url_host_invalid", "has an unterminated IPv6 literal");
        hn = (size_t)(rb - hp) + 1;
        if (hn < hpn) {
            if (hp[hn] != ':')
                FAIL("url_host_invalid", "has text after its IPv6 literal");
            port = hp + hn + 1;
            portn = hpn - hn - 1;
        }
    } else {
        const char *colon = NULL;
        for (size_t k = 0; k < hpn; k++)
            if (hp[k] == ':')
                colon = hp + k;
        if (colon != NULL) {
            hn = (size_t)(colon - hp);
            port = colon + 1;
            portn = hpn - hn - 1;
        }
    }
    if (port != NULL && parse_port(port, portn, &u->port) < 0)
        FAIL("url_malformed", "has an invalid port");
    return parse_host(hp, hn, u, reason, why);
}
