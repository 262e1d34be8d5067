/* scan_classes - a scan-level view of the development corpus: the risk class
 * the scanner gives each tool definition, by corpus label and category.
 *
 * usage: scan_classes [CORPUS.jsonl]   (default $MCPWALL_CORPUS or
 *                                       /work/shared/corpus/tool-descriptions.jsonl)
 *
 * The corpus labels poisoning, not risk, so this is not precision/recall of
 * the classifier; it shows (a) how often tools that openly offer a dangerous
 * capability ("overt-malicious-capability", "unauthenticated-dangerous-
 * capability") are classed critical, and (b) the class mix of benign tools.
 * Detector precision/recall is printed by bench/corpus_eval (guard/detect). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan/classify.h"
#include "util/timeutil.h"

#define MAX_CATS 32

struct row {
    char name[64];
    size_t n, by[SCAN_RISK_COUNT], code, mismatch;
};

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : getenv("MCPWALL_CORPUS");
    if (path == NULL)
        path = "/work/shared/corpus/tool-descriptions.jsonl";
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    struct row rows[MAX_CATS];
    size_t nrows = 0, total = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t t0 = mono_us();
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *v = json_loadb(line, (size_t)len, 0, &je);
        if (v == NULL)
            continue;
        char key[64];
        snprintf(key, sizeof(key), "%s/%s", json_string_value(json_object_get(v, "label")),
                 json_string_value(json_object_get(v, "category")));
        size_t r = 0;
        while (r < nrows && strcmp(rows[r].name, key) != 0)
            r++;
        if (r == nrows && nrows < MAX_CATS) {
            memset(&rows[r], 0, sizeof(rows[r]));
            snprintf(rows[r].name, sizeof(rows[r].name), "%s", key);
            nrows++;
        }
        if (r < nrows) {
            struct classify_result c;
            classify_tool(json_object_get(v, "tool"), NULL, NULL, &c);
            rows[r].n++;
            rows[r].by[c.risk]++;
            rows[r].code += (c.cats & SCAN_CAT_CODE_EXEC) != 0;
            rows[r].mismatch += c.mismatch;
            total++;
        }
        json_decref(v);
    }
    uint64_t dt = mono_us() - t0;
    free(line);
    fclose(f);
    printf("scan risk classes on %s (%zu tools, %.1f ms)\n", path, total, (double)dt / 1000.0);
    printf("  %-52s %5s %10s %12s %9s %10s %9s\n", "label/category", "n", "read-only",
           "side-effect", "critical", "code-exec", "mismatch");
    for (size_t r = 0; r < nrows; r++)
        printf("  %-52s %5zu %9.0f%% %11.0f%% %8.0f%% %10zu %9zu\n", rows[r].name, rows[r].n,
               100.0 * (double)rows[r].by[0] / (double)rows[r].n,
               100.0 * (double)rows[r].by[1] / (double)rows[r].n,
               100.0 * (double)rows[r].by[2] / (double)rows[r].n, rows[r].code, rows[r].mismatch);
    return 0;
}
