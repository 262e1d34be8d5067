/* detect_bridge.c - placeholder until guard/detect lands on main: no
 * detector findings. scan_detect_available() says so, and the reports state
 * that the poisoning detectors did not run. */
#include "scan/detect_bridge.h"

bool scan_detect_available(void)
{
    return false;
}

size_t scan_detect_item(struct scan_report *r, int server, int item)
{
    (void)r;
    (void)server;
    (void)item;
    return 0;
}

size_t scan_detect_instructions(struct scan_report *r, int server)
{
    (void)r;
    (void)server;
    return 0;
}

size_t scan_detect_secrets(struct scan_report *r, int server, const char *pointer, const char *s,
                           size_t n, struct scan_srcpos pos)
{
    (void)r;
    (void)server;
    (void)pointer;
    (void)s;
    (void)n;
    (void)pos;
    return 0;
}

void scan_detect_cleanup(void)
{
}
