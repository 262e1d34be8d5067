/* Fuzz target: the URL reader and the IP address parsers behind the SSRF
 * checks, plus the schema format checkers on the same bytes. */
#include <stdint.h>
#include <string.h>

#include "guard/netaddr.h"
#include "guard/schema_format.h"
#include "guard/urlcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct url_view u;
    const char *reason, *why;
    if (url_parse(s, size, &u, &reason, &why) == 0) {
        if (u.host_len >= sizeof(u.host))
            __builtin_trap();
        if (u.host_is_ip)
            (void)netaddr_classify(&u.ip);
    }
    struct netaddr a;
    memset(&a, 0, sizeof(a));
    if (netaddr_parse_ipv4_loose(s, size, a.a) == 0) {
        a.family = 4;
        (void)netaddr_classify(&a);
    }
    if (netaddr_parse_ipv6(s, size, a.a) == 0) {
        a.family = 6;
        (void)netaddr_classify(&a);
        char txt[64];
        netaddr_format(&a, txt, sizeof(txt));
        uint8_t back[16];
        /* the canonical form parses back to the same address */
        if (netaddr_parse_ipv6(txt, strlen(txt), back) != 0 || memcmp(back, a.a, 16) != 0)
            __builtin_trap();
    }
    uint8_t v4[4];
    (void)netaddr_parse_ipv4_strict(s, size, v4);
    (void)netaddr_ends_in_number(s, size);
    for (int f = SFMT_DATE_TIME; f <= SFMT_UUID; f++)
        (void)sfmt_check((enum sfmt)f, s, size);
    return 0;
}
