/* detect_bridge.h - the seam between the scanner and the guard detectors
 * (guard/detect.h): every string of a definition is scanned and each match
 * becomes a finding with its rule id, severity, JSON pointer, byte span and a
 * safe excerpt. Secrets in host configs use the detectors' secret rules. */
#ifndef MCPWALL_SCAN_DETECT_BRIDGE_H
#define MCPWALL_SCAN_DETECT_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>

#include "scan/scan.h"

/* True when this build has the detectors. */
bool scan_detect_available(void);
/* Scans item `item` of server `server` (its whole definition). Returns the
 * number of findings added. */
size_t scan_detect_item(struct scan_report *r, int server, int item);
/* Scans the server's initialize instructions (model-facing text). */
size_t scan_detect_instructions(struct scan_report *r, int server);
/* Scans one string of a host config for secrets; findings are
 * config.inline-secret at `pointer` (inside the server's config entry) and at
 * `pos` in the file. Returns the number added. */
size_t scan_detect_secrets(struct scan_report *r, int server, const char *pointer, const char *s,
                           size_t n, struct scan_srcpos pos);
/* Releases the compiled detectors (at exit). */
void scan_detect_cleanup(void);

#endif
