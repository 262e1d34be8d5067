/* pinscheck.h - the scanner's use of pins (policy/pins.h): compare what was
 * listed with the lockfile (findings pins.changed / pins.new / pins.removed)
 * and write the lockfile (--pin). */
#ifndef MCPWALL_SCAN_PINSCHECK_H
#define MCPWALL_SCAN_PINSCHECK_H

#include "policy/pins.h"
#include "scan/scan.h"

/* Adds findings for every server that was listed (no error). A server the
 * lockfile does not know gets one pins.new finding. `lockpath` names the
 * file in messages. Returns the number of findings added. */
size_t scan_pins_check(struct scan_report *r, const struct pins *p, const char *lockpath);
/* Pins the tools and prompts of every server that was listed. 0 / -1. */
int scan_pins_write(const struct scan_report *r, struct pins *p);

#endif
