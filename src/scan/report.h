/* report.h - the scanner's outputs: text for a terminal, JSON (versioned
 * schema, docs/scan.md and docs/scan-report.schema.json), SARIF 2.1.0 and a
 * self-contained HTML page. Each writer takes an analysed report
 * (scan_analyze) and writes to an open stream; 0 / -1 on a write error. */
#ifndef MCPWALL_SCAN_REPORT_H
#define MCPWALL_SCAN_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "scan/scan.h"

/* The JSON report as a tree (new reference). */
json_t *report_json_tree(const struct scan_report *r);
int report_json(const struct scan_report *r, FILE *out);
/* `color`: ANSI colours (the caller decides: a tty and no NO_COLOR). */
int report_text(const struct scan_report *r, FILE *out, bool color);
json_t *report_sarif_tree(const struct scan_report *r);
int report_sarif(const struct scan_report *r, FILE *out);
int report_html(const struct scan_report *r, FILE *out);

#endif
