/* policy_eval.h - a gateway policy (policy/policy.h) evaluated against the
 * scanned inventory: which tools every identity may call (missing
 * permissions), which calls are audited, which tools need an approval, and
 * which critical tools do not. Adds policy.* findings and fills the
 * summary's policy figures. */
#ifndef MCPWALL_SCAN_POLICY_EVAL_H
#define MCPWALL_SCAN_POLICY_EVAL_H

#include "scan/scan.h"

/* 0, or -1 when the policy cannot be read (errors printed to stderr). */
int scan_policy_eval(struct scan_report *r, const char *path);

#endif
