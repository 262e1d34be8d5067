/* st_config.c - see st_config.h. */
#include "st_config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

void st_config_defaults(struct st_config *c)
{
    memset(c, 0, sizeof(*c));
    c->max_lines = ST_MAX_LINES_CAP;
    c->max_output = 256 * 1024;
    c->max_line_len = 2048;
    c->max_scan_line = 64 * 1024;
    c->max_pattern = 512;
    c->search_timeout_us = 2 * 1000000ull;
    c->match_limit = 100000;
    c->depth_limit = 1000;
    c->heap_limit = 8 * 1024 * 1024;
    c->resource_max = 1024 * 1024;
    c->audit_enabled = true;
    c->redact_output = true;
    st_config_set_rate(c, "query_logs", 30, 60 * 1000000ull);
    st_config_set_rate(c, "check_ip_reputation", 120, 60 * 1000000ull);
}

void st_config_free(struct st_config *c)
{
    for (size_t i = 0; i < c->nlog; i++)
        free(c->log_files[i]);
    free(c->log_files);
    for (size_t i = 0; i < c->nlists; i++) {
        free(c->lists[i].name);
        free(c->lists[i].path);
        free(c->lists[i].category);
    }
    free(c->lists);
    for (size_t i = 0; i < c->nrates; i++)
        free(c->rates[i].tool);
    free(c->rates);
    free(c->audit_path);
    memset(c, 0, sizeof(*c));
}

int st_parse_rate(const char *s, uint32_t *count, uint64_t *per_us)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL || slash == s || slash - s > 9)
        return -1;
    char num[12];
    memcpy(num, s, (size_t)(slash - s));
    num[slash - s] = '\0';
    uint64_t n;
    if (parse_u64(num, 1000000, &n) < 0 || n == 0)
        return -1;
    const char *u = slash + 1;
    uint64_t per;
    if (strcmp(u, "s") == 0 || strcmp(u, "sec") == 0 || strcmp(u, "second") == 0)
        per = 1000000ull;
    else if (strcmp(u, "min") == 0 || strcmp(u, "m") == 0 || strcmp(u, "minute") == 0)
        per = 60 * 1000000ull;
    else if (strcmp(u, "h") == 0 || strcmp(u, "hour") == 0)
        per = 3600 * 1000000ull;
    else
        return -1;
    *count = (uint32_t)n;
    *per_us = per;
    return 0;
}

int st_config_set_rate(struct st_config *c, const char *tool, uint32_t count, uint64_t per_us)
{
    for (size_t i = 0; i < c->nrates; i++) {
        if (strcmp(c->rates[i].tool, tool) == 0) {
            c->rates[i].count = count;
            c->rates[i].per_us = per_us;
            return 0;
        }
    }
    struct st_rate *r = realloc(c->rates, (c->nrates + 1) * sizeof(*r));
    if (r == NULL)
        return -1;
    c->rates = r;
    r[c->nrates].tool = strdup(tool);
    if (r[c->nrates].tool == NULL)
        return -1;
    r[c->nrates].count = count;
    r[c->nrates].per_us = per_us;
    c->nrates++;
    return 0;
}

/* Absolute path of p against base; NULL (after an error) when impossible. */
static char *resolve_path(const char *p, const char *base_dir, struct cfg_errors *errs,
                          const struct cfg_doc *doc, const json_t *parent, const char *key,
                          size_t index)
{
    if (p[0] == '\0') {
        cfg_err(errs, doc, parent, key, index, "empty path");
        return NULL;
    }
    if (p[0] == '/')
        return strdup(p);
    if (base_dir == NULL) {
        cfg_err(errs, doc, parent, key, index, "relative path without a config file directory");
        return NULL;
    }
    size_t n = strlen(base_dir) + 1 + strlen(p) + 1;
    if (n > PATH_MAX) {
        cfg_err(errs, doc, parent, key, index, "path too long");
        return NULL;
    }
    char *out = malloc(n);
    if (out == NULL)
        return NULL;
    size_t bl = strlen(base_dir), pl = strlen(p);
    memcpy(out, base_dir, bl);
    out[bl] = '/';
    memcpy(out + bl + 1, p, pl + 1);
    return out;
}

static void compile_lists(const struct cfg_doc *doc, const json_t *arr, const char *base_dir,
                          struct st_config *c, struct cfg_errors *errs)
{
    if (!json_is_array(arr)) {
        cfg_err(errs, doc, doc->root, "reputation_lists", 0,
                "reputation_lists must be a list of {name, file, category}");
        return;
    }
    static const char *const keys[] = {"name", "file", "category", NULL};
    size_t i;
    const json_t *it;
    json_array_foreach(arr, i, it) {
        if (!json_is_object(it)) {
            cfg_err(errs, doc, arr, NULL, i, "a reputation list is an object {name, file, category}");
            continue;
        }
        cfg_check_keys(errs, doc, it, keys);
        const char *name = NULL, *file = NULL, *cat = NULL;
        int rn = cfg_get_str(errs, doc, it, "name", &name);
        int rf = cfg_get_str(errs, doc, it, "file", &file);
        int rc = cfg_get_str(errs, doc, it, "category", &cat);
        if (rn == 1)
            cfg_err(errs, doc, arr, NULL, i, "missing 'name'");
        if (rf == 1)
            cfg_err(errs, doc, arr, NULL, i, "missing 'file'");
        if (rn != 0 || rf != 0 || rc < 0)
            continue;
        if (name[0] == '\0' || strlen(name) > 64) {
            cfg_err(errs, doc, it, "name", 0, "a list name is 1-64 characters");
            continue;
        }
        for (size_t j = 0; j < c->nlists; j++) {
            if (strcmp(c->lists[j].name, name) == 0) {
                cfg_err(errs, doc, it, "name", 0, "list name '%s' is used twice", name);
                name = NULL;
                break;
            }
        }
        if (name == NULL)
            continue;
        char *path = resolve_path(file, base_dir, errs, doc, it, "file", 0);
        if (path == NULL)
            continue;
        struct st_list *nl = realloc(c->lists, (c->nlists + 1) * sizeof(*nl));
        if (nl == NULL) {
            free(path);
            continue;
        }
        c->lists = nl;
        nl[c->nlists].name = strdup(name);
        nl[c->nlists].path = path;
        nl[c->nlists].category = rc == 0 ? strdup(cat) : NULL;
        c->nlists++;
    }
}

static void compile_limits(const struct cfg_doc *doc, const json_t *lim, struct st_config *c,
                           struct cfg_errors *errs)
{
    static const char *const keys[] = {"max_lines",    "max_output",   "max_line_length",
                                       "max_scan_line", "max_pattern", "search_timeout",
                                       "match_limit",  "depth_limit",  "heap_limit",
                                       "resource_max", NULL};
    if (!json_is_object(lim)) {
        cfg_err(errs, doc, doc->root, "limits", 0, "limits must be a mapping");
        return;
    }
    cfg_check_keys(errs, doc, lim, keys);
    uint64_t v;
    if (cfg_get_uint(errs, doc, lim, "max_lines", ST_MAX_LINES_CAP, &v) == 0) {
        if (v == 0)
            cfg_err(errs, doc, lim, "max_lines", 0, "max_lines must be 1-%u", ST_MAX_LINES_CAP);
        else
            c->max_lines = (uint32_t)v;
    }
    if (cfg_get_size(errs, doc, lim, "max_output", 64ull << 20, &v) == 0)
        c->max_output = v;
    if (cfg_get_size(errs, doc, lim, "max_line_length", 1u << 20, &v) == 0)
        c->max_line_len = v;
    if (cfg_get_size(errs, doc, lim, "max_scan_line", 16u << 20, &v) == 0)
        c->max_scan_line = v;
    if (cfg_get_size(errs, doc, lim, "max_pattern", 64 * 1024, &v) == 0)
        c->max_pattern = v;
    if (cfg_get_duration_us(errs, doc, lim, "search_timeout", 600ull * 1000000ull, &v) == 0)
        c->search_timeout_us = v;
    if (cfg_get_uint(errs, doc, lim, "match_limit", 100000000, &v) == 0)
        c->match_limit = (uint32_t)v;
    if (cfg_get_uint(errs, doc, lim, "depth_limit", 10000000, &v) == 0)
        c->depth_limit = (uint32_t)v;
    if (cfg_get_size(errs, doc, lim, "heap_limit", 1ull << 30, &v) == 0)
        c->heap_limit = v;
    if (cfg_get_size(errs, doc, lim, "resource_max", 64ull << 20, &v) == 0)
        c->resource_max = v;
    static const char *const nonzero[] = {"max_output", "max_line_length", "max_scan_line",
                                          "max_pattern", "search_timeout", "match_limit",
                                          "depth_limit", "heap_limit", "resource_max"};
    const uint64_t vals[] = {c->max_output,        c->max_line_len, c->max_scan_line,
                             c->max_pattern,       c->search_timeout_us, c->match_limit,
                             c->depth_limit,       c->heap_limit,   c->resource_max};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        if (vals[i] == 0)
            cfg_err(errs, doc, lim, nonzero[i], 0, "%s must not be 0", nonzero[i]);
}

static void compile_rates(const struct cfg_doc *doc, const json_t *rl, struct st_config *c,
                          struct cfg_errors *errs)
{
    static const char *const keys[] = {"query_logs", "check_ip_reputation", NULL};
    if (!json_is_object(rl)) {
        cfg_err(errs, doc, doc->root, "rate_limits", 0, "rate_limits must be a mapping");
        return;
    }
    cfg_check_keys(errs, doc, rl, keys);
    for (size_t i = 0; keys[i] != NULL; i++) {
        const char *s;
        if (cfg_get_str(errs, doc, rl, keys[i], &s) != 0)
            continue;
        uint32_t n;
        uint64_t per;
        if (st_parse_rate(s, &n, &per) < 0) {
            cfg_err(errs, doc, rl, keys[i], 0,
                    "a rate is COUNT/UNIT with UNIT s, min or hour (e.g. \"30/min\")");
            continue;
        }
        st_config_set_rate(c, keys[i], n, per);
    }
}

int st_config_compile(const struct cfg_doc *doc, const char *base_dir, struct st_config *c,
                      struct cfg_errors *errs)
{
    size_t before = errs->n;
    const json_t *root = doc->root;
    if (!json_is_object(root)) {
        cfg_err(errs, doc, NULL, NULL, 0, "the configuration must be a mapping");
        return -1;
    }
    static const char *const keys[] = {"log_files",   "reputation_lists", "limits",
                                       "rate_limits", "audit",            "redact_output",
                                       NULL};
    cfg_check_keys(errs, doc, root, keys);
    json_t *files = NULL;
    if (cfg_get_str_list(errs, doc, root, "log_files", &files) == 0) {
        size_t i;
        json_t *f;
        json_array_foreach(files, i, f) {
            char *p = resolve_path(json_string_value(f), base_dir, errs, doc,
                                   json_object_get(root, "log_files"), NULL, i);
            if (p == NULL)
                continue;
            char **nl = realloc(c->log_files, (c->nlog + 1) * sizeof(char *));
            if (nl == NULL) {
                free(p);
                continue;
            }
            c->log_files = nl;
            nl[c->nlog++] = p;
        }
        json_decref(files);
    }
    const json_t *lists = json_object_get(root, "reputation_lists");
    if (lists != NULL)
        compile_lists(doc, lists, base_dir, c, errs);
    const json_t *lim = json_object_get(root, "limits");
    if (lim != NULL)
        compile_limits(doc, lim, c, errs);
    const json_t *rl = json_object_get(root, "rate_limits");
    if (rl != NULL)
        compile_rates(doc, rl, c, errs);
    const json_t *audit = json_object_get(root, "audit");
    if (audit != NULL) {
        static const char *const akeys[] = {"file", "enabled", NULL};
        if (!json_is_object(audit)) {
            cfg_err(errs, doc, root, "audit", 0, "audit must be a mapping {file, enabled}");
        } else {
            cfg_check_keys(errs, doc, audit, akeys);
            const char *f;
            if (cfg_get_str(errs, doc, audit, "file", &f) == 0) {
                free(c->audit_path);
                c->audit_path = resolve_path(f, base_dir, errs, doc, audit, "file", 0);
            }
            cfg_get_bool(errs, doc, audit, "enabled", &c->audit_enabled);
        }
    }
    cfg_get_bool(errs, doc, root, "redact_output", &c->redact_output);
    return errs->n > before ? -1 : 0;
}

int st_config_load(const char *path, struct st_config *c, struct cfg_errors *errs)
{
    struct cfg_doc *doc = cfg_load_file(path, errs);
    if (doc == NULL)
        return -1;
    char *base = NULL;
    char *rp = realpath(path, NULL);
    if (rp != NULL) {
        char *slash = strrchr(rp, '/');
        if (slash != NULL) {
            if (slash == rp)
                slash[1] = '\0';
            else
                *slash = '\0';
            base = rp;
        }
    }
    int rc = st_config_compile(doc, base, c, errs);
    free(rp);
    cfg_doc_free(doc);
    return rc;
}
