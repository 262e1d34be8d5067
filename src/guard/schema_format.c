/* schema_format.c - format checkers for the JSON Schema validator. */
#include "guard/schema_format.h"

#include <stdint.h>
#include <string.h>

#include "guard/netaddr.h"

static const struct {
    const char *name;
    enum sfmt f;
} formats[] = {
    {"date-time", SFMT_DATE_TIME}, {"date", SFMT_DATE},         {"time", SFMT_TIME},
    {"email", SFMT_EMAIL},         {"hostname", SFMT_HOSTNAME}, {"ipv4", SFMT_IPV4},
    {"ipv6", SFMT_IPV6},           {"uri", SFMT_URI},           {"uri-reference", SFMT_URI_REFERENCE},
    {"uuid", SFMT_UUID},
};

enum sfmt sfmt_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (strcmp(name, formats[i].name) == 0)
            return formats[i].f;
    return SFMT_NONE;
}

const char *sfmt_name(enum sfmt f)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (formats[i].f == f)
            return formats[i].name;
    return "";
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Reads exactly n digits at s; -1 when one is not a digit. */
static int digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool check_date(const char *s, size_t n)
{
    if (n != 10 || s[4] != '-' || s[7] != '-')
        return false;
    int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
    if (y < 0 || m < 1 || m > 12 || d < 1)
        return false;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int max = mdays[m - 1] + (m == 2 && leap(y) ? 1 : 0);
    return d <= max;
}

/* full-time = partial-time time-offset */
static bool check_time(const char *s, size_t n)
{
    if (n < 9 || s[2] != ':' || s[5] != ':')
        return false;
    int hh = digits(s, 2), mm = digits(s + 3, 2), ss = digits(s + 6, 2);
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60)
        return false;
    size_t i = 8;
    if (s[i] == '.') {
        size_t f = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == f)
            return false;
    }
    if (i >= n)
        return false;
    int offmin = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        if (i + 1 != n)
            return false;
    } else if (s[i] == '+' || s[i] == '-') {
        if (n - i != 6 || s[i + 3] != ':')
            return false;
        int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return false;
        offmin = (oh * 60 + om) * (s[i] == '+' ? 1 : -1);
    } else {
        return false;
    }
    if (ss == 60) {
        /* A leap second exists only at 23:59:60 UTC. */
        int utc = ((hh * 60 + mm - offmin) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59)
            return false;
    }
    return true;
}

static bool check_date_time(const char *s, size_t n)
{
    if (n < 20 || (s[10] != 'T' && s[10] != 't'))
        return false;
    return check_date(s, 10) && check_time(s + 11, n - 11);
}

static bool check_uuid(const char *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!is_hex(s[i])) {
            return false;
        }
    }
    return true;
}

static bool check_hostname(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!(is_alpha(s[i]) || is_digit(s[i]) || s[i] == '-'))
                return false;
            continue;
        }
        size_t len = i - start;
        if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-')
            return false;
        start = i + 1;
    }
    return true;
}

static bool atext(char c)
{
    return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool check_email(const char *s, size_t n)
{
    if (n == 0 || n > 254)
        return false;
    const char *at = NULL;
    for (size_t i = n; i > 0; i--) {
        if (s[i - 1] == '@') {
            at = s + i - 1;
            break;
        }
    }
    if (at == NULL)
        return false;
    size_t ln = (size_t)(at - s), dn = n - ln - 1;
    if (ln == 0 || ln > 64 || dn == 0)
        return false;
    if (s[0] == '"') {
        if (ln < 2 || s[ln - 1] != '"')
            return false;
        for (size_t i = 1; i + 1 < ln; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\\') {
                if (i + 2 >= ln)
                    return false;
                c = (unsigned char)s[++i];
                if (c < 32 || c > 126)
                    return false;
            } else if (c < 32 || c > 126 || c == '"') {
                return false;
            }
        }
    } else {
        if (s[0] == '.' || s[ln - 1] == '.')
            return false;
        for (size_t i = 0; i < ln; i++) {
            if (s[i] == '.') {
                if (s[i + 1] == '.')
                    return false;
            } else if (!atext(s[i])) {
                return false;
            }
        }
    }
    const char *d = at + 1;
    if (d[0] == '[') {
        if (d[dn - 1] != ']' || dn < 3)
            return false;
        uint8_t tmp[16];
        if (dn > 7 && strncmp(d + 1, "IPv6:", 5) == 0)
            return netaddr_parse_ipv6(d + 6, dn - 7, tmp) == 0;
        return netaddr_parse_ipv4_strict(d + 1, dn - 2, tmp) == 0;
    }
    return check_hostname(d, dn);
}

static bool unreserved(char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool subdelim(char c)
{
    return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

/* True when every character of s[0,n) is unreserved, a sub-delimiter, one of
 * `extra`, or part of a valid "%XX" escape. */
static bool uri_chars(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return false;
            if (!is_hex(s[i + 1]) || !is_hex(s[i + 2]))
                return false;
            i += 2;
            continue;
        }
        if (unreserved(c) || subdelim(c) || (c != '\0' && strchr(extra, c) != NULL))
            continue;
        return false;
    }
    return true;
}

static bool check_authority(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n);
    if (at != NULL) {
        size_t un = (size_t)(at - s);
        if (!uri_chars(s, un, ":"))
            return false;
        n -= un + 1;
        s = at + 1;
    }
    size_t hn = n;
    const char *port = NULL;
    if (n > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (rb == NULL)
            return false;
        hn = (size_t)(rb - s) + 1;
        const char *lit = s + 1;
        size_t litn = hn - 2;
        if (litn > 0 && (lit[0] == 'v' || lit[0] == 'V')) {
            size_t i = 1;
            while (i < litn && is_hex(lit[i]))
                i++;
            if (i == 1 || i >= litn || lit[i] != '.' || i + 1 >= litn)
                return false;
            for (i++; i < litn; i++)
                if (!(unreserved(lit[i]) || subdelim(lit[i]) || lit[i] == ':'))
                    return false;
        } else {
            uint8_t tmp[16];
            if (netaddr_parse_ipv6(lit, litn, tmp) < 0)
                return false;
        }
        if (hn < n) {
            if (s[hn] != ':')
                return false;
            port = s + hn + 1;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon != NULL) {
            hn = (size_t)(colon - s);
            port = colon + 1;
        }
        if (!uri_chars(s, hn, ""))
            return false;
    }
    if (port != NULL)
        for (const char *p = port; p < s + n; p++)
            if (!is_digit(*p))
                return false;
    return true;
}

static bool check_uri(const char *s, size_t n, bool relative_ok)
{
    size_t i = 0;
    bool scheme = false;
    if (n > 0 && is_alpha(s[0])) {
        size_t k = 1;
        while (k < n && (is_alpha(s[k]) || is_digit(s[k]) || s[k] == '+' || s[k] == '-' ||
                         s[k] == '.'))
            k++;
        if (k < n && s[k] == ':') {
            scheme = true;
            i = k + 1;
        }
    }
    if (!scheme) {
        if (!relative_ok)
            return false;
        /* path-noscheme: the first segment may not contain ':' */
        for (size_t k = 0; k < n && s[k] != '/' && s[k] != '?' && s[k] != '#'; k++)
            if (s[k] == ':')
                return false;
    }
    if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
        size_t a = i + 2, e = a;
        while (e < n && s[e] != '/' && s[e] != '?' && s[e] != '#')
            e++;
        if (!check_authority(s + a, e - a))
            return false;
        i = e;
    }
    size_t p = i;
    while (i < n && s[i] != '?' && s[i] != '#')
        i++;
    if (!uri_chars(s + p, i - p, ":@/"))
        return false;
    if (i < n && s[i] == '?') {
        size_t q = ++i;
        while (i < n && s[i] != '#')
            i++;
        if (!uri_chars(s + q, i - q, ":@/?"))
            return false;
    }
    if (i < n && s[i] == '#') {
        i++;
        if (!uri_chars(s + i, n - i, ":@/?"))
            return false;
    }
    return true;
}

bool sfmt_check(enum sfmt f, const char *s, size_t n)
{
    uint8_t tmp[16];
    switch (f) {
    case SFMT_NONE:
        return true;
    case SFMT_DATE_TIME:
        return check_date_time(s, n);
    case SFMT_DATE:
        return check_date(s, n);
    case SFMT_TIME:
        return check_time(s, n);
    case SFMT_EMAIL:
        return check_email(s, n);
    case SFMT_HOSTNAME:
        return check_hostname(s, n);
    case SFMT_IPV4:
        return netaddr_parse_ipv4_strict(s, n, tmp) == 0;
    case SFMT_IPV6:
        return netaddr_parse_ipv6(s, n, tmp) == 0;
    case SFMT_URI:
        return check_uri(s, n, false);
    case SFMT_URI_REFERENCE:
        return check_uri(s, n, true);
    case SFMT_UUID:
        return check_uuid(s, n);
    }
    return true;
}
