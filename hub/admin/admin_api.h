/* The admin JSON API under /admin/api/ (admin_api.c). */
#ifndef SY_ADMIN_API_H
#define SY_ADMIN_API_H

#include <jansson.h>

#include "change.h"
#include "server.h"

/* Answers an authorised /admin/api/... request; returns 0 when answered, -1 for an unknown path. */
int sy_admin_api(sy_server_t *s, h2o_req_t *req);
/* Sends doc as JSON with status, taking the reference. */
void sy_admin_send_doc(h2o_req_t *req, int status, const char *reason, json_t *doc);

/* For the handlers in other files (admin_browse.c): query parameter name, percent-decoded into buf (NULL when
 * absent); an error answer {"error": code, "message": message}. */
const char *sy_admin_query(h2o_req_t *req, const char *name, char *buf, size_t len);
void sy_admin_fail(h2o_req_t *req, int status, const char *reason, const char *code, const char *message);
/* Makes an admin change (change.h) in one write transaction and answers with its result or error. */
void sy_admin_change(sy_server_t *s, h2o_req_t *req, const sy_change_t *c);

/* The dashboard's routes (admin_browse.c): the event browser, the attempt log, dead-letter drop. Returns 0 when
 * answered, -1 when the path is not one of them. */
int sy_admin_browse(sy_server_t *s, h2o_req_t *req);

#endif
