#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

const char *tu_src_path(const char *rel)
{
    static char path[4096];
    const char *root = getenv("MCPWALL_SRCDIR");
    snprintf(path, sizeof(path), "%s/%s", root != NULL ? root : ".", rel);
    return path;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap *= 2;
            p = realloc(p, cap);
        }
        size_t r = fread(p + n, 1, 4096, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    p[n] = '\0';
    if (len != NULL)
        *len = n;
    return p;
}

json_t *tu_load_cases(const char *rel)
{
    size_t len;
    const char *path = tu_src_path(rel);
    char *data = tu_read_file(path, &len);
    if (data == NULL)
        fail_msg("cannot read case file %s", path);
    json_t *arr = json_array();
    size_t lineno = 0;
    char *p = data;
    while (p < data + len) {
        char *nl = memchr(p, '\n', (size_t)(data + len - p));
        size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(data + len - p);
        lineno++;
        size_t i = 0;
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
            i++;
        if (i < n && p[i] != '#') {
            json_error_t je;
            json_t *c = json_loadb(p, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
            if (c == NULL || !json_is_object(c))
                fail_msg("%s:%zu: bad case line: %s", path, lineno, je.text);
            json_object_set_new(c, "_line", json_integer((json_int_t)lineno));
            json_array_append_new(arr, c);
        }
        p += n + 1;
    }
    free(data);
    return arr;
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

char *tu_case_input(const json_t *c, size_t *len)
{
    json_t *in = json_object_get(c, "input");
    if (json_is_string(in)) {
        *len = json_string_length(in);
        char *p = malloc(*len + 1);
        memcpy(p, json_string_value(in), *len);
        p[*len] = '\0';
        return p;
    }
    json_t *hex = json_object_get(c, "input_hex");
    if (json_is_string(hex)) {
        const char *h = json_string_value(hex);
        char *p = malloc(strlen(h) / 2 + 1);
        size_t n = 0;
        int hi = -1;
        for (; *h; h++) {
            int v = hexval(*h);
            if (v < 0)
                continue;
            if (hi < 0) {
                hi = v;
            } else {
                p[n++] = (char)(hi * 16 + v);
                hi = -1;
            }
        }
        p[n] = '\0';
        *len = n;
        return p;
    }
    json_t *rep = json_object_get(c, "input_repeat");
    if (json_is_object(rep)) {
        const char *pre = json_string_value(json_object_get(rep, "prefix"));
        const char *unit = json_string_value(json_object_get(rep, "unit"));
        const char *suf = json_string_value(json_object_get(rep, "suffix"));
        size_t count = (size_t)json_integer_value(json_object_get(rep, "count"));
        pre = pre ? pre : "";
        unit = unit ? unit : "";
        suf = suf ? suf : "";
        size_t ul = strlen(unit);
        size_t n = strlen(pre) + ul * count + strlen(suf);
        char *p = malloc(n + 1);
        char *q = p;
        memcpy(q, pre, strlen(pre));
        q += strlen(pre);
        for (size_t i = 0; i < count; i++, q += ul)
            memcpy(q, unit, ul);
        memcpy(q, suf, strlen(suf));
        p[n] = '\0';
        *len = n;
        return p;
    }
    fail_msg("case at line %lld has no input", (long long)json_integer_value(json_object_get(c, "_line")));
    return NULL;
}
