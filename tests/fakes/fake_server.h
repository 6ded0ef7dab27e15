/*
 * sy_fake_spoke's HTTP side, shared by fake_spoke.c (setup, the API path), fake_http.c (answers, slow, hang,
 * reset) and fake_control.c (fault modes and the /_fake/ control API). Include before anything else: it
 * includes <h2o.h> first.
 */
#ifndef SY_FAKE_SERVER_H
#define SY_FAKE_SERVER_H

#include <h2o.h>

#include "fake.h"

#define HUNG_MAX 256         /* hung requests held at most (one socket each); further ones are reset */
#define NUM_TIMERS 16        /* distinct slow-mode delays in flight at once */
#define SLOW_DEFAULT_MS 1000 /* slow mode without delay_ms */
#define MAX_EXTRA_HEADERS 8

typedef enum en_fault_t { FAULT_OK, FAULT_ERROR500, FAULT_ERROR400, FAULT_HANG, FAULT_RESET, FAULT_SLOW } fault_t;
extern const char *const fake_fault_names[]; /* indexed by fault_t */

typedef struct st_fake_server_t {
    fake_state_t state;
    const char *token; /* NULL: no auth */
    struct {
        fault_t mode;
        uint64_t until_ms;  /* monotonic; 0: until changed */
        uint64_t delay_ms;  /* slow */
        uint64_t remaining; /* requests left in this mode; 0: unlimited */
    } fault;
    h2o_globalconf_t gc;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    struct {
        int used;
        h2o_timeout_t timeout;
    } timers[NUM_TIMERS];
    h2o_linklist_t hung; /* hung_t, requests never answered */
    size_t num_hung;
} fake_server_t;

typedef struct st_fake_handler_t {
    h2o_handler_t super;
    fake_server_t *server;
} fake_handler_t;

/* An answer decided now and possibly sent later (slow mode); all memory from the request's pool. */
typedef struct st_answer_t {
    int status;
    h2o_iovec_t body;
    size_t num_headers;
    struct {
        const char *name;
        h2o_iovec_t value;
    } headers[MAX_EXTRA_HEADERS];
} answer_t;

/* ---- fake_http.c: answers ---- */
/* A new answer of r's status and body (copied into the request's pool). */
answer_t *fake_answer_create(h2o_req_t *req, const fake_reply_t *r);
/* Adds a header to a (name must be a literal or outlive the request; value is copied). */
void fake_answer_header(h2o_req_t *req, answer_t *a, const char *name, const char *value);
void fake_answer_header_u64(h2o_req_t *req, answer_t *a, const char *name, uint64_t value);
/* Sends a now (application/json, with Content-Length). */
void fake_answer_send(h2o_req_t *req, const answer_t *a);
/* Answers with JSON j (stolen) / with {"error","message"} (control API). */
void fake_send_json(h2o_req_t *req, int status, json_t *j);
void fake_send_control_error(h2o_req_t *req, int status, const char *error, const char *message);

/* ---- fake_http.c: faults on the wire ---- */
/* Sends a after delay_ms; forgotten safely if the connection goes away first. */
void fake_send_later(fake_server_t *s, h2o_req_t *req, answer_t *a, uint64_t delay_ms);
/* Never answers req (until the client goes away, see fake_reap_hung). */
void fake_hold(fake_server_t *s, h2o_req_t *req);
/* Closes req's connection without an answer. */
void fake_reset_connection(h2o_req_t *req);
/* Closes hung connections whose client has gone; with all, every hung connection. */
void fake_reap_hung(fake_server_t *s, int all);

/* ---- fake_control.c ---- */
/* Ends a timed mode whose time is up. */
void fake_fault_expire(fake_server_t *s, uint64_t now);
/* The fault for this API request; uses up one of a counted mode's requests. */
fault_t fake_fault_take(fake_server_t *s, uint64_t now);
/* Serves /_fake/... (no token, no rate limit, no fault); returns 0 (always answers). */
int fake_control(fake_server_t *s, h2o_req_t *req);

#endif
