/* The admin API's alert endpoints (admin_alerts.c): GET /admin/api/alerts, POST /admin/api/alerts/ID/ack. */
#ifndef SY_ADMIN_ALERTS_H
#define SY_ADMIN_ALERTS_H

#include "server.h"

/* Answers an authorised request under /admin/api/alerts; returns 0 when answered, -1 for another path. */
int sy_admin_alerts(sy_server_t *s, h2o_req_t *req);

/* "42" → 42; 0 for anything that is not a decimal id in 1..2^63 (used by the CLI too). */
uint64_t sy_alert_id_parse(const char *text);

#endif
