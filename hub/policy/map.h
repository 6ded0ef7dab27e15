/* The integration map: who owns which field and what flows where, drawn from a policy (Mermaid or Graphviz DOT). */
#ifndef SY_MAP_H
#define SY_MAP_H

#include <jansson.h>
#include <stdio.h>

#include "policy.h"

/* format: "mermaid" or "dot". Returns 0 or SY_EINVAL for an unknown format. */
int sy_map_write(const sy_policy_t *p, const char *format, FILE *out);

/* The same as data: {"policy", "tools": [{"name", "owns": [...]}], "flows": [{"from", "to", "fields": [...]}]}. */
json_t *sy_map_json(const sy_policy_t *p);

#endif
