/*
 * The CLI's client for the running hub's admin API (cli_remote.c, libcurl): one JSON request, one JSON answer.
 */
#ifndef SY_CLI_REMOTE_H
#define SY_CLI_REMOTE_H

#include <jansson.h>

#include "change.h"
#include "cli_target.h"

/* Returned by the functions below when the request itself failed; the reason is already on stderr. */
#define SY_CLI_REMOTE_FAILED 1

/*
 * Sends method path (e.g. "POST", "/admin/api/records/merge") to t's hub with the admin token, body as JSON (NULL:
 * none). Returns 0 with *status the HTTP status and *doc the JSON answer (new reference); or, after printing why
 * (unreachable, token refused, an answer that is not JSON, a hub too old for this endpoint), SY_CLI_REMOTE_FAILED.
 */
int sy_cli_remote_call(const sy_cli_target_t *t, const char *method, const char *path, json_t *body, long *status,
                       json_t **doc);
/*
 * Makes the change c (change.h; c->policy is not used: the hub applies its own) through the hub. Returns what
 * sy_change_run would have (0 with *result, SY_ENOTFOUND, SY_EINVAL... with err the hub's message), or
 * SY_CLI_REMOTE_FAILED.
 */
int sy_cli_remote_change(const sy_cli_target_t *t, const sy_change_t *c, json_t **result, char *err, size_t len);
/* The admin API's answer as a result code: 2xx 0, 404 SY_ENOTFOUND, 409 SY_EINVAL, 400 SY_EPARSE, else SY_EIO. */
int sy_cli_remote_rc(long status);
/*
 * Follows a job of the hub (replay, reconcile): GET path every poll_us while *job's "state" is "running", *job
 * replaced by each answer; tick (may be NULL) sees each running state first. Returns 0 once the job ended (*job its
 * last state), or SY_CLI_REMOTE_FAILED after saying why (the job goes on in the hub: GET path tells how it ends).
 */
int sy_cli_remote_follow(const sy_cli_target_t *t, const char *path, unsigned poll_us, json_t **job,
                         void (*tick)(json_t *job, void *arg), void *arg);
/* doc's "message" ("" when absent; borrowed from doc). */
const char *sy_cli_remote_message(json_t *doc);

#endif
