/* netns.c - the sandbox side of the network: runs in the sandbox's init,
 * inside its new network namespace, while it still holds CAP_NET_ADMIN over
 * that namespace.
 *
 *   none      lo stays down: no interface, no route, nothing to reach
 *   loopback  lo up: the sandbox reaches only itself
 *   allow     lo up, plus one listening socket per allowed destination:
 *             host names get an address 127.77.x.y (written to the sandbox's
 *             /etc/hosts), literal addresses are added to lo. The supervisor
 *             outside accepts on these sockets and connects to the real
 *             destination. Nothing else has a route out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"

/* struct in6_ifreq from <linux/ipv6.h>, which clashes with glibc headers */
struct sb_in6_ifreq {
    struct in6_addr ifr6_addr;
    uint32_t ifr6_prefixlen;
    int ifr6_ifindex;
};

static int lo_up(char *err, size_t errlen)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    if (s < 0) {
        snprintf(err, errlen, "network: socket: %s", strerror(errno));
        return -1;
    }
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
        snprintf(err, errlen, "network: lo flags: %s", strerror(errno));
        close(s);
        return -1;
    }
    ifr.ifr_flags = (short)(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) {
        snprintf(err, errlen, "network: bringing lo up: %s", strerror(errno));
        close(s);
        return -1;
    }
    close(s);
    return 0;
}

static int lo_add(const struct sb_listen *l, unsigned idx, char *err, size_t errlen)
{
    char a[INET6_ADDRSTRLEN];
    inet_ntop(l->family, l->addr, a, sizeof(a));
    int s = socket(l->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        snprintf(err, errlen, "network: socket for %s: %s", a, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (l->family == AF_INET) {
        struct ifreq ifr;
        struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo:%u", idx);
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, l->addr, 4);
        rc = ioctl(s, SIOCSIFADDR, &ifr);
        if (rc == 0) {
            memset(&sin->sin_addr, 0xff, 4);
            rc = ioctl(s, SIOCSIFNETMASK, &ifr);
        }
    } else {
        struct sb_in6_ifreq r;
        memset(&r, 0, sizeof(r));
        memcpy(&r.ifr6_addr, l->addr, 16);
        r.ifr6_prefixlen = 128;
        r.ifr6_ifindex = (int)if_nametoindex("lo");
        rc = ioctl(s, SIOCSIFADDR, &r);
        if (rc != 0 && errno == EEXIST)
            rc = 0;
    }
    if (rc != 0)
        snprintf(err, errlen, "network: adding %s to the sandbox's lo: %s", a, strerror(errno));
    close(s);
    return rc;
}

static int listen_on(const struct sb_listen *l, char *err, size_t errlen)
{
    char a[INET6_ADDRSTRLEN];
    inet_ntop(l->family, l->addr, a, sizeof(a));
    int s = socket(l->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) {
        snprintf(err, errlen, "network: socket for %s: %s", a, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc;
    if (l->family == AF_INET) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(l->port)};
        memcpy(&sin.sin_addr, l->addr, 4);
        setsockopt(s, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
        rc = bind(s, (struct sockaddr *)&sin, sizeof(sin));
    } else {
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(l->port)};
        memcpy(&sin6.sin6_addr, l->addr, 16);
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        setsockopt(s, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
        rc = bind(s, (struct sockaddr *)&sin6, sizeof(sin6));
    }
    if (rc != 0 || listen(s, 128) != 0) {
        snprintf(err, errlen, "network: listening on %s port %u in the sandbox: %s", a, l->port,
                 strerror(errno));
        close(s);
        return -1;
    }
    return s;
}

int sb_netns_setup(const struct sb_plan *pl, int *fds, char *err, size_t errlen)
{
    const struct sandbox_profile *p = pl->prof;
    if (p->net == SB_NET_NONE || p->net == SB_NET_HOST)
        return 0;
    if (lo_up(err, errlen) < 0)
        return -1;
    unsigned alias = 0;
    for (size_t i = 0; i < pl->nlistens; i++) {
        const struct sb_listen *l = &pl->listens[i];
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || (pl->listens[j].family == l->family &&
                          memcmp(pl->listens[j].addr, l->addr, 16) == 0);
        if (l->add_to_lo && !dup && lo_add(l, ++alias, err, errlen) < 0)
            return -1;
    }
    for (size_t i = 0; i < pl->nlistens; i++) {
        fds[i] = listen_on(&pl->listens[i], err, errlen);
        if (fds[i] < 0) {
            for (size_t j = 0; j < i; j++)
                close(fds[j]);
            return -1;
        }
    }
    return 0;
}
