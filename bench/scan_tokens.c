/* scan_tokens - prints the calibration of the scanner's token estimate
 * (guard/tokens.h) against reference tokenizer counts.
 *
 * usage: scan_tokens [CORPUS.jsonl [COUNTS.jsonl]]
 *   CORPUS  tool definitions, one JSON object per line with "id" and "tool"
 *           (default /work/shared/corpus/tool-descriptions.jsonl or $MCPWALL_CORPUS)
 *   COUNTS  reference counts {"id", "o200k", "cl100k"} per line
 *           (default bench/data/tokens-o200k.jsonl, made with js-tiktoken 1.0.21)
 * Prints the mean and 90th-percentile absolute error and the error of the total,
 * for o200k_base and cl100k_base, and the throughput of the estimate. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/tokens.h"
#include "util/timeutil.h"

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static json_t *load_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *v = json_loadb(line, (size_t)n, 0, &je);
        if (v != NULL)
            json_array_append_new(arr, v);
    }
    free(line);
    fclose(f);
    return arr;
}

static void report(const char *name, double *err, size_t n, double est, double ref)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += err[i];
    qsort(err, n, sizeof(*err), dcmp);
    printf("  %-12s n=%zu mean abs error %.1f%%  p90 %.1f%%  max %.1f%%  total %+.1f%%\n", name, n,
           100 * sum / (double)n, 100 * err[(size_t)((double)n * 0.9)], 100 * err[n - 1],
           100 * (est - ref) / ref);
}

int main(int argc, char **argv)
{
    const char *corpus = argc > 1 ? argv[1] : getenv("MCPWALL_CORPUS");
    if (corpus == NULL)
        corpus = "/work/shared/corpus/tool-descriptions.jsonl";
    const char *counts = argc > 2 ? argv[2] : "bench/data/tokens-o200k.jsonl";
    json_t *defs = load_lines(corpus), *refs = load_lines(counts);
    if (defs == NULL || refs == NULL)
        return 1;
    json_t *by_id = json_object();
    size_t i;
    json_t *v;
    json_array_foreach(refs, i, v)
    {
        json_object_set(by_id, json_string_value(json_object_get(v, "id")), v);
    }
    size_t n = 0, cap = json_array_size(defs);
    double *e1 = calloc(cap + 1, sizeof(double)), *e2 = calloc(cap + 1, sizeof(double));
    double est_t = 0, o_t = 0, c_t = 0;
    size_t bytes = 0;
    uint64_t t0 = mono_us();
    json_array_foreach(defs, i, v)
    {
        const json_t *ref = json_object_get(by_id, json_string_value(json_object_get(v, "id")));
        if (ref == NULL)
            continue;
        char *s = json_dumps(json_object_get(v, "tool"), JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s == NULL)
            continue;
        size_t len = strlen(s);
        bytes += len;
        double est = (double)tokens_estimate(s, len);
        free(s);
        double o = (double)json_integer_value(json_object_get(ref, "o200k"));
        double c = (double)json_integer_value(json_object_get(ref, "cl100k"));
        e1[n] = fabs(est - o) / o;
        e2[n] = fabs(est - c) / c;
        est_t += est;
        o_t += o;
        c_t += c;
        n++;
    }
    uint64_t dt = mono_us() - t0;
    if (n == 0) {
        fprintf(stderr, "scan_tokens: no definition of %s has a reference count in %s\n", corpus,
                counts);
        return 1;
    }
    printf("scan token estimate vs reference tokenizers (%zu tool definitions, %zu bytes)\n", n,
           bytes);
    report("o200k_base", e1, n, est_t, o_t);
    report("cl100k_base", e2, n, est_t, c_t);
    printf("  estimate + serialisation: %.1f MB/s\n", dt > 0 ? (double)bytes / (double)dt : 0.0);
    free(e1);
    free(e2);
    json_decref(defs);
    json_decref(refs);
    json_decref(by_id);
    return 0;
}
