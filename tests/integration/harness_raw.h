/*
 * Integration-test helpers for the bad-input catalogue (tests/integration/test_bad_input_*.c), on top of
 * harness.h and harness_records.h:
 *
 *  - raw HTTP/1.x clients over a plain loopback socket, for requests libcurl will not send (bare CR or NUL in a
 *    header, repeated headers, HTTP/1.0, a 1 MiB request line, a 10 MB upload, a body that stalls);
 *  - a snapshot of the hub's observable state (log, golden records, queue, applier counters) and assertions
 *    that a bad input changed nothing, or exactly what it should;
 *  - seeding a few valid events, so that "unchanged" compares something.
 *
 * Same rules as the harness: an infrastructure problem fails the running test, and everything handed out
 * (messages, responses, connections, JSON) is owned by the harness and released by sy_it_destroy at the
 * latest, so a failed assertion leaks neither memory nor file descriptors.
 */
#ifndef SY_IT_HARNESS_RAW_H
#define SY_IT_HARNESS_RAW_H

#include "harness_records.h"

/* ---- building a request byte by byte ---- */
typedef struct st_sy_raw_msg_t {
    sy_it_t *owner;
    char *base; /* owned, fixed capacity */
    size_t len, cap;
} sy_raw_msg_t;

/* An empty message of at most cap bytes. */
void sy_raw_msg_init(sy_it_t *h, sy_raw_msg_t *m, size_t cap);
/* Appends bytes exactly as given (CR, LF and NUL included); fails the test past the capacity. */
void sy_raw_add(sy_raw_msg_t *m, const void *data, size_t len);
void sy_raw_addf(sy_raw_msg_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * A whole request: "<method> <target> <version>\r\nHost: 127.0.0.1\r\n", each of the NULL-terminated header
 * lines followed by CRLF, "Content-Length: <len>" when body is not NULL, an empty line, the body.
 */
void sy_raw_request(sy_raw_msg_t *m, const char *method, const char *target, const char *version,
                    const char *const *headers, const void *body, size_t len);

/* ---- one connection ---- */
typedef struct st_sy_raw_conn_t {
    sy_it_t *owner;
    int fd;
} sy_raw_conn_t;

/* Connects to 127.0.0.1:port (owned: closed by sy_raw_close or at sy_it_destroy). */
sy_raw_conn_t *sy_raw_open(sy_it_t *h, unsigned short port);
void sy_raw_close(sy_raw_conn_t *c);
/* Half-closes: the server sees end of input (a request cut short), the answer can still be read. */
void sy_raw_shutdown_write(sy_raw_conn_t *c);
/* Writes everything; returns the bytes written before the peer closed or reset (a server may answer and close
 * before a request is complete: that is not a failure here). */
size_t sy_raw_send(sy_raw_conn_t *c, const void *data, size_t len);

typedef struct st_sy_raw_response_t {
    int status;       /* from "HTTP/1.x NNN ..."; 0 if no status line came */
    char *head;       /* status line and header lines, NUL-terminated ("" if nothing came) */
    char *body;       /* NUL-terminated */
    size_t body_len;  /* exact */
    json_t *json;     /* body parsed, or NULL */
    int closed;       /* the server closed (EOF or reset) the connection */
    size_t sent;      /* request bytes written (sy_raw_exchange, sy_raw_send_large: body bytes) */
    double elapsed_s; /* from the first byte sent (or the wait started) until the answer was complete */
} sy_raw_response_t;

/*
 * Reads one answer (head, then Content-Length bytes of body) within timeout_s. With wait_close, then waits (same
 * deadline) for the server to close the connection and sets closed; without it, closed is set only if the server
 * closed anyway. A connection closed without any answer gives status 0 and closed 1.
 */
void sy_raw_read(sy_raw_conn_t *c, double timeout_s, int wait_close, sy_raw_response_t *res);
/* Opens a connection, sends len bytes of req, reads the answer (waiting for the close when it says
 * "Connection: close", else not), closes. Bounded: 10 s. */
void sy_raw_exchange(sy_it_t *h, unsigned short port, const void *req, size_t len, sy_raw_response_t *res);
/*
 * Sends head (which announces the body), then up to body_total bytes of filler ('x'), as HTTP/1.1 chunks of
 * 64 KiB when chunked, without waiting for the body to be read: it stops sending as soon as an answer arrives, the
 * server closes, or timeout_s passes, and never holds more than one 64 KiB chunk in memory. res->sent = body bytes
 * written.
 */
void sy_raw_send_large(sy_it_t *h, unsigned short port, const char *head, size_t body_total, int chunked,
                       double timeout_s, sy_raw_response_t *res);
/* The value of header name in res (case-insensitive; the first one), owned; NULL if absent. */
const char *sy_raw_header(sy_it_t *h, const sy_raw_response_t *res, const char *name);
/* Prints what and the answer (head and up to 2000 bytes of body) to stderr. */
void sy_raw_dump(const char *what, const sy_raw_response_t *res);

/* ---- state: log, records, queue, counters ---- */
/*
 * Waits (bounded, 5 s) until the applier has applied the whole log, then returns
 * {"log": {events, last_seq, by_source} of `log stats --json`, "records": `records list --json`,
 *  "queue": `queue ls --json`, "counters": health.counters, "dead_letters": health.dead_letters} (owned).
 */
json_t *sy_state_snapshot(sy_it_t *h);
/*
 * Takes a new snapshot and asserts it equals before except that the log holds log_delta more events and
 * counters.unmapped_events grew by unmapped_delta (0, 0: nothing changed at all). Records, queue, dead letters
 * and every other counter must be identical. On a difference, prints both and fails naming what.
 */
void sy_state_assert_delta(sy_it_t *h, json_t *before, json_int_t log_delta, json_int_t unmapped_delta, const char *what);
#define sy_state_assert_unchanged(h, before, what) sy_state_assert_delta((h), (before), 0, 0, (what))

/*
 * Seeds valid events and waits until they are applied: a Stripe customer linked to HubSpot contact 51, that
 * contact's email, name and company from HubSpot, a subscription, and a second, unrelated Stripe customer. Needs
 * the example policy. Afterwards at least two golden records and one queued push exist (asserted).
 */
void sy_state_seed(sy_it_t *h);

/* A catalogue group's hub: created with opts (NULL: defaults), the example policy, started and seeded. */
sy_it_t *sy_catalogue_start(void **state, const sy_it_options_t *opts);
/* Ends a group: when every case finished and the hub still answers /healthz, the group passed; then destroys h. */
void sy_catalogue_finish(sy_it_t *h, int all_cases_finished);

/* "Bearer <admin token>" (owned). */
const char *sy_raw_bearer(sy_it_t *h);

#endif
