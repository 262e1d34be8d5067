/* corpus_eval - precision, recall and false-positive rate of the detectors on
 * the development corpus (../shared/corpus by default).
 *
 *   corpus_eval [-c DIR] [-s low|medium|high] [-v] [-i ID]
 *
 * tool-descriptions.jsonl: each tool definition is scanned with
 * detect_scan_tool(); a tool is flagged when a finding reaches the severity
 * threshold (default medium). Recall is per malicious category; the headline
 * "poisoning" figures leave out the three categories a description scanner
 * cannot see (overt-malicious-capability: an openly offensive capability,
 * not hidden instructions - the corpus notes say to filter it out;
 * name-collision: only visible across a tool list; unauthenticated-dangerous-
 * capability: a risk-class question). Their detection rates are printed too.
 *
 * wire-cases.jsonl: server-originated payloads (tool/resource/prompt
 * results, sampling/elicitation requests, initialize results, tools/list
 * results) are scanned with detect_scan_payload() / detect_scan_tool();
 * expected block or warn counts as positive, pass as negative.
 *
 * -v lists every miss and false positive with its findings; -i ID dumps the
 * findings of one case.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/detect.h"

#define MAX_CAT 48

struct cat {
    char name[64];
    bool positive;
    size_t n, flagged;
};

struct tally {
    struct cat c[MAX_CAT];
    size_t nc;
};

static struct cat *cat_get(struct tally *t, const char *name, bool positive)
{
    for (size_t i = 0; i < t->nc; i++)
        if (strcmp(t->c[i].name, name) == 0 && t->c[i].positive == positive)
            return &t->c[i];
    if (t->nc == MAX_CAT)
        return &t->c[MAX_CAT - 1];
    struct cat *c = &t->c[t->nc++];
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->positive = positive;
    return c;
}

static bool out_of_scope(const char *cat)
{
    return strcmp(cat, "overt-malicious-capability") == 0 || strcmp(cat, "name-collision") == 0 ||
           strcmp(cat, "unauthenticated-dangerous-capability") == 0;
}

static void print_findings(const struct detect_list *l, enum detect_severity min)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct detect_finding *f = &l->v[i];
        printf("      %s%-28s %-8s %s [%zu,%zu) %s\n", f->severity >= min ? "* " : "  ",
               detect_rule_id(f->rule), detect_severity_name(f->severity),
               f->pointer != NULL ? f->pointer : "", f->start, f->end, f->evidence);
    }
}

static bool flagged(const struct detect_list *l, enum detect_severity min)
{
    return detect_list_max_severity(l) >= min;
}

struct rulecount {
    size_t on_pos[DR__COUNT], on_neg[DR__COUNT];
};

static void count_rules(struct rulecount *rc, const struct detect_list *l, enum detect_severity min,
                        bool positive)
{
    bool seen[DR__COUNT] = {false};
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].severity >= min)
            seen[l->v[i].rule] = true;
    for (unsigned r = 0; r < DR__COUNT; r++)
        if (seen[r])
            (positive ? rc->on_pos : rc->on_neg)[r]++;
}

static void report(const char *title, struct tally *t, bool scope_split)
{
    size_t tp = 0, fn = 0, fp = 0, tn = 0, otp = 0, on = 0;
    printf("\n%s\n", title);
    printf("  %-40s %6s %8s %8s\n", "category", "cases", "flagged", "rate");
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < t->nc; i++) {
            struct cat *c = &t->c[i];
            if (c->positive != (pass == 0))
                continue;
            bool oos = scope_split && c->positive && out_of_scope(c->name);
            printf("  %-40s %6zu %8zu %7.1f%% %s\n", c->name, c->n, c->flagged,
                   c->n ? 100.0 * (double)c->flagged / (double)c->n : 0.0,
                   c->positive ? (oos ? "recall (out of scope)" : "recall") : "false-positive rate");
            if (c->positive && !oos) {
                tp += c->flagged;
                fn += c->n - c->flagged;
            } else if (c->positive) {
                otp += c->flagged;
                on += c->n;
            } else {
                fp += c->flagged;
                tn += c->n - c->flagged;
            }
        }
    }
    double recall = tp + fn ? (double)tp / (double)(tp + fn) : 0;
    double precision = tp + fp ? (double)tp / (double)(tp + fp) : 0;
    double fpr = fp + tn ? (double)fp / (double)(fp + tn) : 0;
    printf("  overall%s: recall %.3f (%zu/%zu)  precision %.3f  false-positive rate %.3f (%zu/%zu)\n",
           scope_split ? " (in scope)" : "", recall, tp, tp + fn, precision, fpr, fp, fp + tn);
    if (scope_split && on > 0)
        printf("  out-of-scope malicious categories flagged: %zu/%zu\n", otp, on);
}

static void report_rules(const char *title, const struct rulecount *rc)
{
    printf("\n%s (cases where the rule reached the threshold)\n", title);
    printf("  %-32s %10s %10s\n", "rule", "positives", "negatives");
    for (unsigned r = 0; r < DR__COUNT; r++)
        if (rc->on_pos[r] || rc->on_neg[r])
            printf("  %-32s %10zu %10zu\n", detect_rule_id((enum detect_rule)r), rc->on_pos[r],
                   rc->on_neg[r]);
}

static json_t *read_line(FILE *f, char **buf, size_t *cap)
{
    ssize_t n = getline(buf, cap, f);
    if (n <= 0)
        return NULL;
    json_error_t je;
    json_t *v = json_loadb(*buf, (size_t)n, JSON_ALLOW_NUL, &je);
    if (v == NULL)
        fprintf(stderr, "bad line: %s\n", je.text);
    return v != NULL ? v : json_object();
}

int main(int argc, char **argv)
{
    const char *dir = getenv("MCPWALL_CORPUS");
    const char *only = NULL;
    bool verbose = false;
    enum detect_severity min = DETECT_SEV_MEDIUM;
    if (dir == NULL)
        dir = "/work/shared/corpus";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "-v") == 0) {
            verbose = true;
        } else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
            if (detect_severity_lookup(argv[++i], &min) < 0) {
                fprintf(stderr, "bad severity %s\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: corpus_eval [-c DIR] [-s low|medium|high] [-v] [-i ID]\n");
            return 2;
        }
    }
    char err[256];
    struct detect_set *ds = detect_set_new(err, sizeof(err));
    if (ds == NULL) {
        fprintf(stderr, "detector set: %s\n", err);
        return 1;
    }
    char path[4096];
    char *buf = NULL;
    size_t cap = 0;
    struct tally defs = {0}, wire = {0};
    static struct rulecount rdef, rwire;

    snprintf(path, sizeof(path), "%s/tool-descriptions.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    json_t *line;
    while ((line = read_line(f, &buf, &cap)) != NULL) {
        const char *id = json_string_value(json_object_get(line, "id"));
        const char *label = json_string_value(json_object_get(line, "label"));
        const char *category = json_string_value(json_object_get(line, "category"));
        json_t *tool = json_object_get(line, "tool");
        if (id == NULL || label == NULL || category == NULL || !json_is_object(tool)) {
            json_decref(line);
            continue;
        }
        bool pos = strcmp(label, "malicious") == 0;
        struct detect_list l;
        detect_list_init(&l, 0);
        detect_scan_tool(ds, tool, NULL, &l);
        bool fl = flagged(&l, min);
        struct cat *c = cat_get(&defs, category, pos);
        c->n++;
        c->flagged += fl;
        if (!(pos && out_of_scope(category)))
            count_rules(&rdef, &l, min, pos);
        if ((only != NULL && strcmp(only, id) == 0) ||
            (only == NULL && verbose && fl != pos && !(pos && out_of_scope(category)))) {
            printf("%s %s [%s]\n", fl ? "FALSE-POSITIVE" : "MISS", id, category);
            print_findings(&l, min);
        }
        detect_list_free(&l);
        json_decref(line);
    }
    fclose(f);

    snprintf(path, sizeof(path), "%s/wire-cases.jsonl", dir);
    f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    while ((line = read_line(f, &buf, &cap)) != NULL) {
        const char *id = json_string_value(json_object_get(line, "id"));
        const char *kind = json_string_value(json_object_get(line, "kind"));
        const char *category = json_string_value(json_object_get(line, "category"));
        const char *expect = json_string_value(json_object_get(line, "expected_action"));
        json_t *msg = json_object_get(line, "message");
        if (id == NULL || kind == NULL || category == NULL || expect == NULL || !json_is_object(msg)) {
            json_decref(line);
            continue;
        }
        struct detect_list l;
        detect_list_init(&l, 0);
        bool handled = true;
        if (strcmp(kind, "tools/list result") == 0) {
            json_t *tools = json_object_get(json_object_get(msg, "result"), "tools");
            size_t i;
            json_t *t;
            json_array_foreach(tools, i, t) detect_scan_tool(ds, t, NULL, &l);
        } else if (strcmp(kind, "tools/call result") == 0) {
            detect_scan_payload(ds, json_object_get(msg, "result"), DETECT_P_TOOL_RESULT, &l);
        } else if (strcmp(kind, "resources/read result") == 0) {
            detect_scan_payload(ds, json_object_get(msg, "result"), DETECT_P_RESOURCE_READ, &l);
        } else if (strcmp(kind, "prompts/get result") == 0) {
            detect_scan_payload(ds, json_object_get(msg, "result"), DETECT_P_PROMPT_GET, &l);
        } else if (strcmp(kind, "initialize result") == 0) {
            detect_scan_payload(ds, json_object_get(msg, "result"), DETECT_P_INITIALIZE, &l);
        } else if (strcmp(kind, "sampling/createMessage request") == 0) {
            detect_scan_payload(ds, json_object_get(msg, "params"), DETECT_P_SAMPLING, &l);
        } else if (strcmp(kind, "elicitation/create request") == 0) {
            detect_scan_payload(ds, json_object_get(msg, "params"), DETECT_P_ELICITATION, &l);
        } else {
            handled = false;
        }
        if (handled) {
            bool pos = strcmp(expect, "pass") != 0;
            char name[96];
            snprintf(name, sizeof(name), "%s%s", category, strcmp(expect, "warn") == 0 ? " (warn)" : "");
            bool fl = flagged(&l, min);
            struct cat *c = cat_get(&wire, name, pos);
            c->n++;
            c->flagged += fl;
            count_rules(&rwire, &l, min, pos);
            if ((only != NULL && strcmp(only, id) == 0) || (only == NULL && verbose && fl != pos)) {
                printf("%s %s [%s, %s]\n", fl ? "FALSE-POSITIVE" : "MISS", id, kind, category);
                print_findings(&l, min);
            }
        }
        detect_list_free(&l);
        json_decref(line);
    }
    fclose(f);
    free(buf);

    printf("threshold: severity >= %s\n", detect_severity_name(min));
    report("tool definitions (tool-descriptions.jsonl)", &defs, true);
    report_rules("rules on tool definitions", &rdef);
    report("server payloads (wire-cases.jsonl: results, server requests, tools/list)", &wire, false);
    report_rules("rules on server payloads", &rwire);
    detect_set_free(ds);
    return 0;
}
