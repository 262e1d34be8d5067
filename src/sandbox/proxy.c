/* proxy.c - the supervisor's side of a network allow-list: accepts on the
 * listening sockets the sandbox opened for each allowed destination and
 * relays bytes to the real destination, which the supervisor (outside the
 * sandbox) resolves and connects to itself. The sandbox never chooses an
 * address: a connection arriving on the socket of entry i can only ever go
 * to entry i's host and port.
 *
 * Bounded: at most PX_MAX_CONNS connections, PX_BUF bytes buffered per
 * direction. Name resolution is blocking (getaddrinfo) and happens per
 * connection. A host name that resolves only to loopback, private or
 * link-local addresses is refused unless the profile sets allow_private, so
 * that DNS cannot turn a public name into a way into the local network.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"
#include "util/log.h"

#define PX_MAX_CONNS 256
#define PX_BUF 16384

struct px_dir {
    char buf[PX_BUF];
    size_t len, off;
    bool eof;   /* source reached end of file */
    bool shut;  /* shutdown(SHUT_WR) sent to the sink */
};

struct px_conn {
    int in;               /* accepted from the sandbox */
    int out;              /* to the destination */
    bool connecting;
    size_t dest;
    struct addrinfo *ai;  /* remaining candidates while connecting */
    struct addrinfo *ai_head;
    struct px_dir up;     /* in -> out */
    struct px_dir down;   /* out -> in */
};

struct px_slot {
    int kind;  /* 0 listener, 1 conn in, 2 conn out */
    size_t idx;
};

struct sb_proxy {
    const struct sb_plan *pl;
    int *lfd;
    size_t nl;
    struct px_conn *conns[PX_MAX_CONNS];
    size_t nconns;
    struct px_slot slots[PX_MAX_CONNS * 2 + SB_MAX_ALLOW];
    size_t nslots;
};

struct sb_proxy *sb_proxy_new(const struct sb_plan *pl, const int *fds, size_t nfds)
{
    struct sb_proxy *px = calloc(1, sizeof(*px));
    if (px == NULL)
        return NULL;
    px->pl = pl;
    px->lfd = calloc(nfds ? nfds : 1, sizeof(int));
    if (px->lfd == NULL) {
        free(px);
        return NULL;
    }
    memcpy(px->lfd, fds, nfds * sizeof(int));
    px->nl = nfds;
    return px;
}

static void conn_close(struct sb_proxy *px, size_t i)
{
    struct px_conn *c = px->conns[i];
    if (c->in >= 0)
        close(c->in);
    if (c->out >= 0)
        close(c->out);
    if (c->ai_head != NULL)
        freeaddrinfo(c->ai_head);
    free(c);
    px->conns[i] = px->conns[--px->nconns];
}

void sb_proxy_free(struct sb_proxy *px)
{
    if (px == NULL)
        return;
    while (px->nconns > 0)
        conn_close(px, px->nconns - 1);
    for (size_t i = 0; i < px->nl; i++)
        close(px->lfd[i]);
    free(px->lfd);
    free(px);
}

static bool addr_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const unsigned char *a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
        return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 100 && (a[1] & 0xc0) == 64) ||
               (a[0] == 169 && a[1] == 254) || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
               (a[0] == 192 && a[1] == 168) || a[0] >= 224;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a)) {
            struct sockaddr_in sin = {.sin_family = AF_INET};
            memcpy(&sin.sin_addr, &a->s6_addr[12], 4);
            return addr_private((struct sockaddr *)&sin);
        }
        return IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
               IN6_IS_ADDR_SITELOCAL(a) || IN6_IS_ADDR_MULTICAST(a) ||
               (a->s6_addr[0] & 0xfe) == 0xfc;
    }
    return true;
}

static void dest_text(const struct sb_dest *d, char *out, size_t outsz)
{
    if (d->family == AF_INET6)
        snprintf(out, outsz, "[%s]:%u", d->host, d->port);
    else
        snprintf(out, outsz, "%s:%u", d->host, d->port);
}

/* Starts (or continues with the next candidate) a non-blocking connect.
 * Returns 0 while connecting or connected, -1 when no candidate is left. */
static int conn_try(struct sb_proxy *px, struct px_conn *c)
{
    const struct sb_dest *d = &px->pl->prof->allow[c->dest];
    while (c->ai != NULL) {
        struct addrinfo *ai = c->ai;
        c->ai = ai->ai_next;
        if (d->family == 0 && !px->pl->prof->allow_private && addr_private(ai->ai_addr)) {
            char dt[300], a[INET6_ADDRSTRLEN] = "?";
            dest_text(d, dt, sizeof(dt));
            if (ai->ai_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, a, sizeof(a));
            else
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, a, sizeof(a));
            char detail[600];
            snprintf(detail, sizeof(detail),
                     "%s resolved to %s, a private or loopback address (list the address itself "
                     "or set allow_private)",
                     dt, a);
            sb_event(px->pl, "network", "connect", detail);
            continue;
        }
        if (c->out >= 0)
            close(c->out);
        c->out = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (c->out < 0)
            continue;
        if (connect(c->out, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            c->connecting = true;
            return 0;
        }
    }
    return -1;
}

static void do_accept(struct sb_proxy *px, size_t li)
{
    const struct sb_listen *l = &px->pl->listens[li];
    const struct sb_dest *d = &px->pl->prof->allow[l->dest];
    char dt[300];
    dest_text(d, dt, sizeof(dt));
    for (;;) {
        int fd = accept4(px->lfd[li], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (px->nconns >= PX_MAX_CONNS) {
            log_warnx("sandbox%s%s: connection to %s refused: too many open connections (%d)",
                      px->pl->label ? " " : "", px->pl->label ? px->pl->label : "", dt,
                      PX_MAX_CONNS);
            close(fd);
            continue;
        }
        struct px_conn *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            return;
        }
        c->in = fd;
        c->out = -1;
        c->dest = l->dest;
        char port[8];
        snprintf(port, sizeof(port), "%u", d->port);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                                 .ai_flags = d->family ? AI_NUMERICHOST : AI_ADDRCONFIG};
        int gr = getaddrinfo(d->host, port, &hints, &c->ai_head);
        if (gr != 0) {
            char detail[600];
            snprintf(detail, sizeof(detail), "%s: cannot resolve: %s", dt, gai_strerror(gr));
            sb_event(px->pl, "network", "resolve", detail);
            close(fd);
            free(c);
            continue;
        }
        c->ai = c->ai_head;
        px->conns[px->nconns++] = c;
        if (conn_try(px, c) < 0) {
            log_warnx("sandbox%s%s: cannot connect to %s", px->pl->label ? " " : "",
                      px->pl->label ? px->pl->label : "", dt);
            conn_close(px, px->nconns - 1);
        } else {
            log_debug("sandbox: relaying a connection to %s", dt);
        }
    }
}

size_t sb_proxy_pollfds(struct sb_proxy *px, struct pollfd *pfd, size_t max)
{
    size_t n = 0;
    px->nslots = 0;
    for (size_t i = 0; i < px->nl && n < max; i++) {
        pfd[n] = (struct pollfd){.fd = px->lfd[i], .events = POLLIN};
        px->slots[n++] = (struct px_slot){0, i};
    }
    for (size_t i = 0; i < px->nconns && n + 2 <= max; i++) {
        struct px_conn *c = px->conns[i];
        short ein = 0, eout = 0;
        if (c->connecting) {
            eout = POLLOUT;
        } else {
            if (!c->up.eof && c->up.len == 0)
                ein |= POLLIN;
            if (c->up.len > 0)
                eout |= POLLOUT;
            if (!c->down.eof && c->down.len == 0)
                eout |= POLLIN;
            if (c->down.len > 0)
                ein |= POLLOUT;
        }
        pfd[n] = (struct pollfd){.fd = c->in, .events = ein};
        px->slots[n++] = (struct px_slot){1, i};
        pfd[n] = (struct pollfd){.fd = c->out, .events = eout};
        px->slots[n++] = (struct px_slot){2, i};
    }
    px->nslots = n;
    return n;
}

/* Moves bytes src -> d -> dst. Returns -1 on a hard error. */
static int pump(int src, int dst, struct px_dir *d, short rev_src, short rev_dst)
{
    if (d->len == 0 && !d->eof && (rev_src & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t r = read(src, d->buf, sizeof(d->buf));
        if (r > 0) {
            d->len = (size_t)r;
            d->off = 0;
        } else if (r == 0) {
            d->eof = true;
        } else if (errno != EAGAIN && errno != EINTR) {
            return -1;
        }
    }
    if (d->len > 0 && (rev_dst & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t w = send(dst, d->buf + d->off, d->len, MSG_NOSIGNAL);
        if (w > 0) {
            d->off += (size_t)w;
            d->len -= (size_t)w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            return -1;
        }
    }
    if (d->eof && d->len == 0 && !d->shut) {
        shutdown(dst, SHUT_WR);
        d->shut = true;
    }
    return 0;
}

void sb_proxy_handle(struct sb_proxy *px, const struct pollfd *pfd, size_t n)
{
    /* revents per connection, gathered first because closing reorders conns */
    short rin[PX_MAX_CONNS] = {0}, rout[PX_MAX_CONNS] = {0};
    struct px_conn *seen[PX_MAX_CONNS] = {0};
    size_t nc = px->nconns;
    for (size_t i = 0; i < n && i < px->nslots; i++) {
        const struct px_slot *s = &px->slots[i];
        if (s->kind == 1 && s->idx < nc) {
            rin[s->idx] = pfd[i].revents;
            seen[s->idx] = px->conns[s->idx];
        } else if (s->kind == 2 && s->idx < nc) {
            rout[s->idx] = pfd[i].revents;
        }
    }
    for (size_t i = nc; i-- > 0;) {
        struct px_conn *c = px->conns[i];
        if (seen[i] != c)
            continue;
        if (c->connecting) {
            if (!(rout[i] & (POLLOUT | POLLERR | POLLHUP)))
                continue;
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            getsockopt(c->out, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            if (soerr == 0) {
                c->connecting = false;
                int one = 1;
                setsockopt(c->out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                continue;
            }
            if (conn_try(px, c) < 0) {
                char dt[300];
                dest_text(&px->pl->prof->allow[c->dest], dt, sizeof(dt));
                log_warnx("sandbox%s%s: cannot connect to %s: %s", px->pl->label ? " " : "",
                          px->pl->label ? px->pl->label : "", dt, strerror(soerr));
                conn_close(px, i);
            }
            continue;
        }
        if (pump(c->in, c->out, &c->up, rin[i], rout[i]) < 0 ||
            pump(c->out, c->in, &c->down, rout[i], rin[i]) < 0 ||
            (c->up.shut && c->down.shut))
            conn_close(px, i);
    }
    for (size_t i = 0; i < n && i < px->nslots; i++) {
        if (px->slots[i].kind == 0 && (pfd[i].revents & POLLIN))
            do_accept(px, px->slots[i].idx);
    }
}
