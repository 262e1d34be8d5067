/* policy_eval.c - gateway policy against the inventory. Waits for
 * policy/policy.h (the lead's policy compiler); until then it reports that
 * it cannot evaluate a policy. */
#include <stdio.h>

#include "scan/policy_eval.h"

int scan_policy_eval(struct scan_report *r, const char *path)
{
    (void)r;
    fprintf(stderr,
            "mcpwall scan: %s: this build cannot evaluate gateway policies yet "
            "(policy/policy.h is not in it)\n",
            path);
    return -1;
}
