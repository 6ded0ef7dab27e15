/*
 * Integration-test harness: starts the real `switchyard` binary ($SY_BIN) on free loopback ports with a temp
 * data dir, talks HTTP to it with libcurl and runs its CLI. Meant for cmocka tests: on an infrastructure
 * problem (binary missing, server never healthy, curl error) the functions fail the running test with
 * fail_msg(); the teardown (sy_it_destroy) then prints the server log and keeps the temp dir for inspection.
 *
 * Typical use:
 *     static int teardown(void **state) { sy_it_destroy(*state); *state = NULL; return 0; }
 *     static void test_x(void **state) {
 *         sy_it_t *h = sy_it_create(state, NULL);   // *state = h, so teardown cleans up after a failed assert
 *         sy_it_start(h);
 *         ...
 *         sy_it_pass(h);                            // last statement: the temp dir is removed at teardown
 *     }
 *
 * Memory: whatever the harness hands out (event bodies, parsed CLI output, files' paths, sy_it_alloc) is owned by
 * the harness and released by sy_it_destroy, so a failed assertion, which longjmps out of the test, leaks
 * nothing. Responses and CLI outputs are released by their dispose functions, or at the latest by sy_it_destroy.
 *
 * Not thread-safe: one test thread drives one harness.
 */
#ifndef SY_IT_HARNESS_H
#define SY_IT_HARNESS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"

/* What tests sign with; the default config lists them (stripe: a then b; hubspot: hs). */
#define SY_IT_STRIPE_SECRET_A "whsec_test_a"
#define SY_IT_STRIPE_SECRET_B "whsec_test_b"
#define SY_IT_HUBSPOT_SECRET "hs-secret"
#define SY_IT_TOKEN_ENV "SY_TEST_ADMIN_TOKEN"

#define SY_IT_PATH_MAX 512

/* Knobs of the generated config; a NULL pointer or 0 keeps the default shown. */
typedef struct st_sy_it_options_t {
    const char *storage;       /* flow map after "storage:", default "{map_size: 64MiB, map_size_max: 64MiB, max_batch: 4096}" */
    const char *max_body;      /* default "64KiB" */
    unsigned max_batch_events; /* default 100 */
    const char *extra_sources; /* YAML appended under "sources:", each line indented by two spaces */
} sy_it_options_t;

typedef struct st_sy_it_owned_t sy_it_owned_t;

typedef struct st_sy_it_t {
    char dir[SY_IT_PATH_MAX / 2]; /* temp dir holding everything below */
    char data_dir[SY_IT_PATH_MAX];
    char config_path[SY_IT_PATH_MAX];
    char log_path[SY_IT_PATH_MAX]; /* server stdout + stderr, all starts appended */
    unsigned short ingress_port;
    unsigned short admin_port;
    char admin_token[64];
    char hubspot_url[128]; /* public_url configured for source "hubspot" */
    pid_t pid;             /* running server, 0 if none */
    unsigned starts;
    unsigned runs; /* CLI invocations, for unique output file names */
    int passed;
    void *curl;           /* CURL easy handle reused across requests (keep-alive) */
    sy_it_owned_t *owned; /* released by sy_it_destroy, newest first */
} sy_it_t;

/* Creates the temp dir, picks ports, writes the config. Sets *state = the harness (for the teardown). */
sy_it_t *sy_it_create(void **state, const sy_it_options_t *opts);
/* Kills a server still running, reaps it, prints the log if the test did not pass, removes the dir if it did. */
void sy_it_destroy(sy_it_t *h);
/* Marks the test as passed: call as its last statement. */
void sy_it_pass(sy_it_t *h);

/* ---- memory owned by the harness ---- */
/* Registers ptr (must not be NULL) to be released with release(ptr) by sy_it_destroy; returns ptr. */
void *sy_it_own(sy_it_t *h, void *ptr, void (*release)(void *));
/* Zeroed memory owned by the harness. */
void *sy_it_alloc(sy_it_t *h, size_t size);
/* A JSON value owned by the harness (fails the test if json is NULL). */
json_t *sy_it_own_json(sy_it_t *h, json_t *json);
/* Releases an owned object now (no-op for NULL). */
void sy_it_release(sy_it_t *h, void *ptr);
/* Releases everything the harness owns (sy_it_destroy does). */
void sy_it_release_all(sy_it_t *h);

/* Spawns `$SY_BIN serve --config <file>` and waits (bounded, polling) until /healthz answers 200. */
void sy_it_start(sy_it_t *h);
/* SIGTERM, then waits (bounded). Returns the exit status, or 128 + signal if it died of a signal. */
int sy_it_stop(sy_it_t *h);
/* Sends sig to the server without waiting (e.g. SIGTERM under load). */
void sy_it_signal(sy_it_t *h, int sig);
/* Waits (bounded) for the server to exit after a signal; returns its status like sy_it_stop. */
int sy_it_wait(sy_it_t *h);
/* SIGKILL and reap. */
void sy_it_kill(sy_it_t *h);
/* Closes the client's kept-alive connections (before a restart). */
void sy_it_disconnect(sy_it_t *h);
/* A raw TCP connection to 127.0.0.1:port (caller closes); if request is non-NULL, sends it and waits (bounded)
 * for the first bytes of the answer, which must start with "HTTP/1.1 ". For idle and keep-alive clients. */
int sy_it_connect(sy_it_t *h, unsigned short port, const char *request);
/* Copies the server log to stderr. */
void sy_it_print_log(const sy_it_t *h);

/* ---- files ---- */
/* Writes len bytes to dir/name; returns its path (owned by the harness). */
/* Reads a whole file into a malloc'd NUL-terminated buffer (the caller frees it); NULL if it cannot be opened. */
char *sy_it_slurp(const char *path, size_t *len);
char *sy_it_write_file(sy_it_t *h, const char *name, const void *data, size_t len);

/* ---- CLI ---- */
typedef struct st_sy_it_output_t {
    sy_it_t *owner;
    int status;     /* exit status, or 128 + signal */
    char *out;      /* stdout, NUL-terminated */
    size_t out_len; /* exact byte count of stdout */
    char *err;      /* stderr, NUL-terminated */
} sy_it_output_t;

void sy_it_output_dispose(sy_it_output_t *o);
/* Runs $SY_BIN with argv (NULL-terminated, without argv[0]); bounded wait. */
void sy_it_run(sy_it_t *h, const char *const *argv, sy_it_output_t *o);
/* Runs `$SY_BIN <args...> --config <config>`; the variadic list ends with NULL. */
void sy_it_cli(sy_it_t *h, sy_it_output_t *o, ...);
/* Like sy_it_cli, asserts exit 0 and returns stdout parsed as one JSON value (owned by the harness). */
json_t *sy_it_cli_json(sy_it_t *h, ...);
/* `log stats --json` → "events". */
json_int_t sy_it_log_count(sy_it_t *h);
/* `log show SEQ --json` parsed (asserts exit 0; owned by the harness). */
json_t *sy_it_log_show(sy_it_t *h, json_int_t seq);

/* ---- HTTP ---- */
#define SY_IT_MAX_HEADERS 16

/* Request headers as "Name: value" lines; zero-initialise, then add. No heap (nothing to leak); not copyable. */
typedef struct st_sy_it_headers_t {
    char *lines[SY_IT_MAX_HEADERS]; /* point into buf */
    size_t count;
    size_t used;
    char buf[4096];
} sy_it_headers_t;

void sy_it_headers_add(sy_it_headers_t *hd, const char *name, const char *value);
void sy_it_headers_dispose(sy_it_headers_t *hd);

typedef struct st_sy_it_response_t {
    sy_it_t *owner;
    long status;
    char *body; /* NUL-terminated */
    size_t body_len;
    char retry_after[128]; /* "" if absent */
    char allow[128];
    char content_type[128];
    json_t *json; /* body parsed, or NULL if it is not JSON */
} sy_it_response_t;

void sy_it_response_dispose(sy_it_response_t *res);

/* Any request to 127.0.0.1:port; returns 0 or the CURLcode (res->status = 0). hd may be NULL. */
int sy_it_request(sy_it_t *h, unsigned short port, const char *method, const char *path, const sy_it_headers_t *hd,
                  const void *body, size_t len, sy_it_response_t *res);
/* POST to the ingress listener; fails the test on a transport error. */
void sy_it_post(sy_it_t *h, const char *path, const sy_it_headers_t *hd, const void *body, size_t len, sy_it_response_t *res);
/* GET on the admin listener, with "Authorization: <auth>" unless auth is NULL. */
void sy_it_admin_get(sy_it_t *h, const char *path, const char *auth, sy_it_response_t *res);

/* ---- signing (through the connectors' own sign functions) ---- */
/* Adds Stripe-Signature for body at t_sec, signed with secret. */
void sy_it_sign_stripe(sy_it_headers_t *hd, const char *secret, const void *body, size_t len, int64_t t_sec);
/* Adds the HubSpot v3 headers for a POST of body to url at ts_ms. */
void sy_it_sign_hubspot(sy_it_headers_t *hd, const char *secret, const char *url, const void *body, size_t len, int64_t ts_ms);
/* Signs body with secret at now and POSTs it to /hooks/stripe. */
void sy_it_post_stripe(sy_it_t *h, const char *secret, const char *body, size_t len, sy_it_response_t *res);

/* ---- bodies ---- */
/*
 * A Stripe event as JSON (NUL-terminated, owned by the harness). If pad_to exceeds the natural length, a
 * description field is padded so that the body is exactly pad_to bytes. *len receives the length.
 */
char *sy_it_stripe_event(sy_it_t *h, const char *id, const char *type, int64_t created, size_t pad_to, size_t *len);

/* ---- assertions ---- */
/* Asserts res is status with a JSON body whose "error" is error (NULL: don't look at the body). */
void sy_it_assert_error(const sy_it_response_t *res, long status, const char *error);
/* Asserts res is a 200 {"seq":N,"duplicate":dup}; returns N. */
json_int_t sy_it_assert_stored(const sy_it_response_t *res, int dup);
/* Prints what and the response (status, headers of interest, body) to stderr. */
void sy_it_dump_response(const char *what, const sy_it_response_t *res);

#endif
