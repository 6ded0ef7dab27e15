/* The admin JSON API under /admin/api/ (admin_api.c). */
#ifndef SY_ADMIN_API_H
#define SY_ADMIN_API_H

#include <jansson.h>

#include "server.h"

/* Answers an authorised /admin/api/... request; returns 0 when answered, -1 for an unknown path. */
int sy_admin_api(sy_server_t *s, h2o_req_t *req);
/* Sends doc as JSON with status, taking the reference. */
void sy_admin_send_doc(h2o_req_t *req, int status, const char *reason, json_t *doc);

#endif
