/*
 * Integration-test helpers for alerts (harness_alerts.c): the admin API's alert list and finding one in it. Same
 * rules as the harness: infrastructure problems fail the running test; what is handed out is owned by the harness.
 */
#ifndef SY_IT_HARNESS_ALERTS_H
#define SY_IT_HARNESS_ALERTS_H

#include <jansson.h>

#include "harness_delivery.h"

/* GET /admin/api/alerts?all=1 (open, acknowledged and resolved, newest first) as an array. */
json_t *sy_ita_alerts(sy_it_t *h);
/* The first alert of list with this kind, about this source, in this state (each NULL: any), or NULL (borrowed). */
json_t *sy_ita_find(json_t *list, const char *kind, const char *source, const char *state);
/* Whether the Standard Webhooks receiver f took (200) a message {"type": event, "data": an alert of kind about
 * source}; the receiver answers 401 to a bad signature, so a 200 is a verified one. */
int sy_ita_webhook_has(sy_itd_fake_t *f, const char *event, const char *kind, const char *source);
/* Whether the Slack-like receiver f took a message naming kind in bold (as the Slack notifier writes it), and saying
 * "resolved" when resolved. */
int sy_ita_slack_has(sy_itd_fake_t *f, const char *kind, int resolved);
/* How many such messages it took. */
size_t sy_ita_slack_count(sy_itd_fake_t *f, const char *kind, int resolved);
/* o's string member key, "" when absent (borrowed). */
const char *sy_ita_str(json_t *o, const char *key);

#endif
