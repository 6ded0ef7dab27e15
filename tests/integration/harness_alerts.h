/*
 * Integration-test helpers for alerts (harness_alerts.c): the admin API's alert list and finding one in it. Same
 * rules as the harness: infrastructure problems fail the running test; what is handed out is owned by the harness.
 */
#ifndef SY_IT_HARNESS_ALERTS_H
#define SY_IT_HARNESS_ALERTS_H

#include <jansson.h>

#include "harness.h"

/* GET /admin/api/alerts?all=1 (open, acknowledged and resolved, newest first) as an array. */
json_t *sy_ita_alerts(sy_it_t *h);
/* The first alert of list with this kind, about this source, in this state (each NULL: any), or NULL (borrowed). */
json_t *sy_ita_find(json_t *list, const char *kind, const char *source, const char *state);
/* o's string member key, "" when absent (borrowed). */
const char *sy_ita_str(json_t *o, const char *key);

#endif
