#include "audit/metrics.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/map.h"

#define MAX_SERIES 4096
#define NBUCKETS 16

static const double bucket_s[NBUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                          0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                          1,      2.5,     10,     60};

struct counter {
    char *labels; /* rendered label set, e.g. server="fs",reason="x" */
    uint64_t value;
};

struct histo {
    char *labels;
    uint64_t buckets[NBUCKETS];
    uint64_t count;
    uint64_t sum_us;
};

struct family {
    struct map index;  /* labels -> struct counter* / struct histo* */
    void **items;
    size_t n, cap;
};

struct metrics {
    struct family requests, denials, restarts, alerts, guard, duration;
    int64_t sessions_active;
    uint64_t sessions_total;
    uint64_t bytes_in, bytes_out;
    size_t series;
};

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    struct family *f[] = {&m->requests, &m->denials, &m->restarts,
                          &m->alerts,   &m->guard,   &m->duration};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        map_init(&f[i]->index);
    return m;
}

static void family_free(struct family *f, bool histo)
{
    for (size_t i = 0; i < f->n; i++) {
        if (histo)
            free(((struct histo *)f->items[i])->labels);
        else
            free(((struct counter *)f->items[i])->labels);
        free(f->items[i]);
    }
    free(f->items);
    map_free(&f->index);
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    family_free(&m->requests, false);
    family_free(&m->denials, false);
    family_free(&m->restarts, false);
    family_free(&m->alerts, false);
    family_free(&m->guard, false);
    family_free(&m->duration, true);
    free(m);
}

/* Appends a label value with Prometheus escaping (\\, \", \n); bytes that are
 * not printable ASCII are replaced so a name cannot break the exposition. */
static void label(struct buf *b, const char *k, const char *v, bool first)
{
    if (!first)
        buf_append_char(b, ',');
    buf_append_str(b, k);
    buf_append_str(b, "=\"");
    for (const char *p = v != NULL ? v : ""; *p && buf_used(b) < 900; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\\' || c == '"') {
            buf_append_char(b, '\\');
            buf_append_char(b, (char)c);
        } else if (c == '\n') {
            buf_append_str(b, "\\n");
        } else if (c < 0x20 || c >= 0x7f) {
            buf_append_char(b, '?');
        } else {
            buf_append_char(b, (char)c);
        }
    }
    buf_append_char(b, '"');
}

static void *series(struct metrics *m, struct family *f, const char *labels, size_t size)
{
    void *it = map_get(&f->index, labels, strlen(labels));
    if (it != NULL)
        return it;
    if (m->series >= MAX_SERIES)
        return NULL;
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 16;
        void **ni = realloc(f->items, nc * sizeof(void *));
        if (ni == NULL)
            return NULL;
        f->items = ni;
        f->cap = nc;
    }
    it = calloc(1, size);
    if (it == NULL)
        return NULL;
    char *l = strdup(labels);
    if (l == NULL || map_put(&f->index, labels, strlen(labels), it) < 0) {
        free(l);
        free(it);
        return NULL;
    }
    /* Both item types start with the labels pointer. */
    *(char **)it = l;
    f->items[f->n++] = it;
    m->series++;
    return it;
}

static struct counter *counter_for(struct metrics *m, struct family *f, struct buf *labels,
                                   struct buf *fallback)
{
    buf_cstr(labels);
    struct counter *c = series(m, f, buf_head(labels), sizeof(struct counter));
    if (c == NULL && fallback != NULL) {
        buf_cstr(fallback);
        c = map_get(&f->index, buf_head(fallback), buf_used(fallback));
        if (c == NULL) {
            m->series--; /* the overflow series is always allowed */
            c = series(m, f, buf_head(fallback), sizeof(struct counter));
        }
    }
    return c;
}

void metrics_request(struct metrics *m, const char *server, const char *method, const char *tool,
                     const char *outcome, uint64_t latency_us)
{
    if (m == NULL)
        return;
    char lb[1024], fb[1024];
    struct buf l = {.data = lb, .cap = sizeof(lb), .max = sizeof(lb) - 1};
    struct buf f = {.data = fb, .cap = sizeof(fb), .max = sizeof(fb) - 1};
    label(&l, "server", server, true);
    label(&l, "method", method, false);
    label(&f, "server", server, true);
    label(&f, "method", method, false);
    label(&l, "tool", tool != NULL ? tool : "", false);
    label(&f, "tool", "(other)", false);
    size_t mark_l = l.len, mark_f = f.len;
    label(&l, "outcome", outcome, false);
    label(&f, "outcome", outcome, false);
    struct counter *c = counter_for(m, &m->requests, &l, &f);
    if (c != NULL)
        c->value++;
    /* The histogram is per server and tool. */
    l.len = mark_l;
    f.len = mark_f;
    buf_cstr(&l);
    struct histo *h = series(m, &m->duration, buf_head(&l), sizeof(struct histo));
    if (h == NULL) {
        buf_cstr(&f);
        h = map_get(&m->duration.index, buf_head(&f), f.len);
        if (h == NULL) {
            m->series--;
            h = series(m, &m->duration, buf_head(&f), sizeof(struct histo));
        }
    }
    if (h != NULL) {
        double s = (double)latency_us / 1e6;
        for (size_t i = 0; i < NBUCKETS; i++)
            if (s <= bucket_s[i])
                h->buckets[i]++;
        h->count++;
        h->sum_us += latency_us;
    }
}

static void count3(struct metrics *m, struct family *f, const char *k1, const char *v1,
                   const char *k2, const char *v2, const char *k3, const char *v3)
{
    if (m == NULL)
        return;
    char lb[1024];
    struct buf l = {.data = lb, .cap = sizeof(lb), .max = sizeof(lb) - 1};
    label(&l, k1, v1, true);
    if (k2 != NULL)
        label(&l, k2, v2, false);
    if (k3 != NULL)
        label(&l, k3, v3, false);
    struct counter *c = counter_for(m, f, &l, NULL);
    if (c != NULL)
        c->value++;
}

static void count1(struct metrics *m, struct family *f, const char *k1, const char *v1,
                   const char *k2, const char *v2)
{
    count3(m, f, k1, v1, k2, v2, NULL, NULL);
}

void metrics_denial(struct metrics *m, const char *server, const char *reason)
{
    count1(m, m != NULL ? &m->denials : NULL, "server", server, "reason", reason);
}

void metrics_restart(struct metrics *m, const char *server)
{
    count1(m, m != NULL ? &m->restarts : NULL, "server", server, NULL, NULL);
}

void metrics_rate_alert(struct metrics *m, const char *server)
{
    count1(m, m != NULL ? &m->alerts : NULL, "server", server, NULL, NULL);
}

void metrics_guard(struct metrics *m, const char *server, const char *rule, const char *action)
{
    count3(m, m != NULL ? &m->guard : NULL, "server", server, "rule", rule, "action", action);
}

void metrics_session(struct metrics *m, int delta)
{
    if (m == NULL)
        return;
    m->sessions_active += delta;
    if (delta > 0)
        m->sessions_total += (uint64_t)delta;
}

void metrics_bytes(struct metrics *m, uint64_t in, uint64_t out)
{
    if (m == NULL)
        return;
    m->bytes_in += in;
    m->bytes_out += out;
}

static void render_counters(struct buf *b, const char *name, const char *help,
                            const struct family *f)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (size_t i = 0; i < f->n; i++) {
        const struct counter *c = f->items[i];
        buf_printf(b, "%s{%s} %llu\n", name, c->labels, (unsigned long long)c->value);
    }
}

void metrics_put_counter(struct buf *b, const char *name, const char *help, const char *lname,
                         const char *lvalue, uint64_t v, bool head)
{
    if (head)
        buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    buf_append_str(b, name);
    if (lname != NULL) {
        struct buf l; /* label() bounds the buffer it writes: a small one of its own */
        buf_init(&l, 1024);
        label(&l, lname, lvalue, true);
        buf_append_char(b, '{');
        buf_append(b, buf_head(&l), buf_used(&l));
        buf_append_char(b, '}');
        buf_free(&l);
    }
    buf_printf(b, " %llu\n", (unsigned long long)v);
}

void metrics_put_gauge(struct buf *b, const char *name, const char *help, uint64_t v)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name,
               (unsigned long long)v);
}

int metrics_render(const struct metrics *m, struct buf *b)
{
    render_counters(b, "mcpwall_requests_total", "Requests completed, by server, method, tool and outcome.",
                    &m->requests);
    render_counters(b, "mcpwall_denials_total", "Messages refused, by server and reason.",
                    &m->denials);
    render_counters(b, "mcpwall_upstream_restarts_total", "Restarts of crashed stdio upstreams.",
                    &m->restarts);
    render_counters(b, "mcpwall_rate_alerts_total",
                    "Sessions that went over the calls-per-minute alert threshold.", &m->alerts);
    render_counters(b, "mcpwall_guard_findings_total",
                    "Findings of the result guard, by server, rule and the action taken.",
                    &m->guard);
    buf_append_str(b, "# HELP mcpwall_request_duration_seconds Request latency through the "
                      "gateway.\n# TYPE mcpwall_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m->duration.n; i++) {
        const struct histo *h = m->duration.items[i];
        for (size_t k = 0; k < NBUCKETS; k++)
            buf_printf(b, "mcpwall_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", h->labels,
                       bucket_s[k], (unsigned long long)h->buckets[k]);
        buf_printf(b, "mcpwall_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", h->labels,
                   (unsigned long long)h->count);
        buf_printf(b, "mcpwall_request_duration_seconds_sum{%s} %.6f\n", h->labels,
                   (double)h->sum_us / 1e6);
        buf_printf(b, "mcpwall_request_duration_seconds_count{%s} %llu\n", h->labels,
                   (unsigned long long)h->count);
    }
    buf_printf(b, "# HELP mcpwall_sessions_active Client sessions open now.\n"
                  "# TYPE mcpwall_sessions_active gauge\nmcpwall_sessions_active %lld\n",
               (long long)m->sessions_active);
    buf_printf(b, "# HELP mcpwall_sessions_total Client sessions opened.\n"
                  "# TYPE mcpwall_sessions_total counter\nmcpwall_sessions_total %llu\n",
               (unsigned long long)m->sessions_total);
    buf_printf(b, "# HELP mcpwall_bytes_total Bytes of MCP messages to and from clients.\n"
                  "# TYPE mcpwall_bytes_total counter\n"
                  "mcpwall_bytes_total{direction=\"in\"} %llu\n"
                  "mcpwall_bytes_total{direction=\"out\"} %llu\n",
               (unsigned long long)m->bytes_in, (unsigned long long)m->bytes_out);
    return 0;
}
