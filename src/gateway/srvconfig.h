/* srvconfig.h - internal: the serve sections of the configuration. */
#ifndef MCPWALL_GATEWAY_SRVCONFIG_H
#define MCPWALL_GATEWAY_SRVCONFIG_H

#include "gateway/gwconfig.h"

void srvconfig_compile(const struct cfg_doc *doc, struct gw_config *c, struct cfg_errors *errs);
void srvconfig_free(struct gw_config *c);
bool srvconfig_name_ok(const char *n, size_t len);
int srvconfig_parse_hostport(const char *s, char **host, uint16_t *port);

#endif
