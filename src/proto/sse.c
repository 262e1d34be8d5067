/* sse.c - Server-Sent Events parsing and emitting (see sse.h). */
#include "proto/sse.h"

#include <string.h>

const struct sse_limits sse_default_limits = {
    .max_line = SSE_DEFAULT_MAX_LINE,
    .max_event = SSE_DEFAULT_MAX_EVENT,
    .max_id = SSE_DEFAULT_MAX_ID,
    .max_type = SSE_DEFAULT_MAX_TYPE,
};

const char *sse_error_code(enum sse_error e)
{
    switch (e) {
    case SSE_OK:
        return "ok";
    case SSE_E_LINE_TOO_LONG:
        return "sse_line_too_long";
    case SSE_E_EVENT_TOO_LARGE:
        return "sse_event_too_large";
    case SSE_E_ID_TOO_LONG:
        return "sse_id_too_long";
    case SSE_E_TYPE_TOO_LONG:
        return "sse_type_too_long";
    case SSE_E_NOMEM:
        return "out_of_memory";
    case SSE_E_STOPPED:
        return "sse_stopped";
    }
    return "unknown";
}

void sse_parser_init(struct sse_parser *p, const struct sse_limits *lim)
{
    memset(p, 0, sizeof(*p));
    p->lim = lim != NULL ? *lim : sse_default_limits;
    if (p->lim.max_line == 0)
        p->lim.max_line = SSE_DEFAULT_MAX_LINE;
    if (p->lim.max_event == 0)
        p->lim.max_event = SSE_DEFAULT_MAX_EVENT;
    if (p->lim.max_id == 0)
        p->lim.max_id = SSE_DEFAULT_MAX_ID;
    if (p->lim.max_type == 0)
        p->lim.max_type = SSE_DEFAULT_MAX_TYPE;
    buf_init(&p->line, p->lim.max_line);
    /* +1: the data buffer holds the LF after the last line until dispatch. */
    buf_init(&p->data, p->lim.max_event + 1);
    buf_init(&p->type, p->lim.max_type);
    buf_init(&p->id, p->lim.max_id);
    p->first_line = true;
    p->retry_ms = -1;
}

void sse_parser_free(struct sse_parser *p)
{
    if (p == NULL)
        return;
    buf_free(&p->line);
    buf_free(&p->data);
    buf_free(&p->type);
    buf_free(&p->id);
}

void sse_parser_reset_stream(struct sse_parser *p)
{
    buf_reset(&p->line);
    buf_reset(&p->data);
    buf_reset(&p->type);
    p->id_in_event = false;
    p->cr_pending = false;
    p->first_line = true;
    p->err = SSE_OK;
}

const char *sse_parser_last_id(const struct sse_parser *p, size_t *len)
{
    *len = buf_used(&p->id);
    return *len ? buf_head(&p->id) : "";
}

int64_t sse_parser_retry(const struct sse_parser *p)
{
    return p->retry_ms;
}

static int sse_fail(struct sse_parser *p, enum sse_error e)
{
    p->err = e;
    return -1;
}

static int sse_dispatch(struct sse_parser *p, sse_event_fn fn, void *ud)
{
    if (buf_used(&p->data) == 0) {
        buf_reset(&p->type);
        p->id_in_event = false;
        return 0;
    }
    struct sse_event ev;
    size_t dlen = buf_used(&p->data);
    ev.data = buf_head(&p->data);
    ev.data_len = dlen - 1; /* the LF after the last data line */
    ev.type = buf_used(&p->type) ? buf_head(&p->type) : "";
    ev.type_len = buf_used(&p->type);
    ev.id = sse_parser_last_id(p, &ev.id_len);
    ev.id_in_event = p->id_in_event;
    int stop = fn != NULL ? fn(ud, &ev) : 0;
    buf_reset(&p->data);
    buf_reset(&p->type);
    p->id_in_event = false;
    if (stop)
        return sse_fail(p, SSE_E_STOPPED);
    return 0;
}

static bool sse_field_is(const char *f, size_t n, const char *name)
{
    size_t l = strlen(name);
    return n == l && memcmp(f, name, l) == 0;
}

/* One complete line (terminator removed). */
static int sse_line(struct sse_parser *p, const char *l, size_t n, sse_event_fn fn, void *ud)
{
    if (p->first_line) {
        p->first_line = false;
        if (n >= 3 && (unsigned char)l[0] == 0xEF && (unsigned char)l[1] == 0xBB &&
            (unsigned char)l[2] == 0xBF) {
            l += 3;
            n -= 3;
        }
    }
    if (n == 0)
        return sse_dispatch(p, fn, ud);
    if (l[0] == ':')
        return 0;
    const char *colon = memchr(l, ':', n);
    const char *field = l, *value;
    size_t flen, vlen;
    if (colon != NULL) {
        flen = (size_t)(colon - l);
        value = colon + 1;
        vlen = n - flen - 1;
        if (vlen > 0 && value[0] == ' ') {
            value++;
            vlen--;
        }
    } else {
        flen = n;
        value = "";
        vlen = 0;
    }
    if (sse_field_is(field, flen, "data")) {
        if (vlen + 1 > p->lim.max_event + 1 - buf_used(&p->data))
            return sse_fail(p, SSE_E_EVENT_TOO_LARGE);
        if (buf_append(&p->data, value, vlen) < 0 || buf_append_char(&p->data, '\n') < 0)
            return sse_fail(p, SSE_E_NOMEM);
    } else if (sse_field_is(field, flen, "event")) {
        if (vlen > p->lim.max_type)
            return sse_fail(p, SSE_E_TYPE_TOO_LONG);
        buf_reset(&p->type);
        if (buf_append(&p->type, value, vlen) < 0)
            return sse_fail(p, SSE_E_NOMEM);
    } else if (sse_field_is(field, flen, "id")) {
        if (memchr(value, '\0', vlen) != NULL)
            return 0; /* ignored, as the standard says */
        if (vlen > p->lim.max_id)
            return sse_fail(p, SSE_E_ID_TOO_LONG);
        buf_reset(&p->id);
        if (buf_append(&p->id, value, vlen) < 0)
            return sse_fail(p, SSE_E_NOMEM);
        p->id_in_event = true;
    } else if (sse_field_is(field, flen, "retry")) {
        if (vlen == 0 || vlen > 10)
            return 0;
        int64_t v = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (value[i] < '0' || value[i] > '9')
                return 0;
            v = v * 10 + (value[i] - '0');
        }
        p->retry_ms = v;
    }
    return 0;
}

int sse_parser_feed(struct sse_parser *p, const char *buf, size_t len, sse_event_fn fn, void *ud)
{
    if (p->err != SSE_OK)
        return -1;
    size_t i = 0;
    if (p->cr_pending && len > 0) {
        p->cr_pending = false;
        if (buf[0] == '\n')
            i = 1;
    }
    while (i < len) {
        /* Find the next CR or LF. */
        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\r')
            j++;
        size_t seg = j - i;
        if (j == len) {
            /* Incomplete line: carry it over, within the line budget. */
            if (seg > p->lim.max_line - buf_used(&p->line))
                return sse_fail(p, SSE_E_LINE_TOO_LONG);
            if (buf_append(&p->line, buf + i, seg) < 0)
                return sse_fail(p, SSE_E_NOMEM);
            break;
        }
        int rc;
        if (buf_used(&p->line) == 0) {
            if (seg > p->lim.max_line)
                return sse_fail(p, SSE_E_LINE_TOO_LONG);
            rc = sse_line(p, buf + i, seg, fn, ud);
        } else {
            if (seg > p->lim.max_line - buf_used(&p->line))
                return sse_fail(p, SSE_E_LINE_TOO_LONG);
            if (buf_append(&p->line, buf + i, seg) < 0)
                return sse_fail(p, SSE_E_NOMEM);
            rc = sse_line(p, buf_head(&p->line), buf_used(&p->line), fn, ud);
            buf_reset(&p->line);
        }
        if (rc < 0)
            return -1;
        if (buf[j] == '\r') {
            if (j + 1 < len) {
                if (buf[j + 1] == '\n')
                    j++;
            } else {
                p->cr_pending = true;
            }
        }
        i = j + 1;
    }
    return 0;
}

static bool sse_has_break(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") != NULL;
}

int sse_emit_event(struct buf *b, const char *id, const char *type, const char *data, size_t len)
{
    if (sse_has_break(id) || sse_has_break(type))
        return -1;
    size_t mark = buf_used(b);
    int rc = 0;
    if (id != NULL)
        rc |= buf_printf(b, "id: %s\n", id);
    if (type != NULL)
        rc |= buf_printf(b, "event: %s\n", type);
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r')
            j++;
        rc |= buf_append(b, "data: ", 6);
        rc |= buf_append(b, data + i, j - i);
        rc |= buf_append_char(b, '\n');
        if (j >= len)
            break;
        if (data[j] == '\r' && j + 1 < len && data[j + 1] == '\n')
            j++;
        i = j + 1;
        if (i == len) {
            /* data ended with a line break: an empty last line keeps it. */
            rc |= buf_append(b, "data: \n", 7);
            break;
        }
    }
    rc |= buf_append_char(b, '\n');
    if (rc != 0) {
        /* A growth may have moved the bytes to the front: restore by count. */
        b->len = b->off + mark;
        return -1;
    }
    return 0;
}

int sse_emit_comment(struct buf *b, const char *text)
{
    if (sse_has_break(text))
        return -1;
    return buf_printf(b, ":%s%s\n\n", text ? " " : "", text ? text : "");
}

int sse_emit_retry(struct buf *b, uint32_t ms)
{
    return buf_printf(b, "retry: %u\n\n", ms);
}
