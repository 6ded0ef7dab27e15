/*
 * Integration-test helpers for delivery (on top of harness.h and harness_records.h): fake spokes ($SY_FAKE =
 * sy_fake_spoke) started on a free loopback port and driven through their control API, `api:` sections in the
 * generated config, parallel posting of signed Stripe events, the `dead` CLI and /metrics values, and bounded
 * polling. Same rules as the harness: infrastructure problems fail the running test, and everything handed out
 * (fakes, JSON values) is owned by the harness and released by sy_it_destroy (which also stops the fakes).
 * Nothing here reaches beyond 127.0.0.1.
 */
#ifndef SY_IT_HARNESS_DELIVERY_H
#define SY_IT_HARNESS_DELIVERY_H

#include <sys/types.h>

#include "harness_records.h"

#define SY_ITD_STRIPE_TOKEN "sk_test_switchyard_it"
#define SY_ITD_HUBSPOT_TOKEN "pat-switchyard-it"

/* ---- fake spokes ---- */
typedef struct st_sy_itd_fake_t {
    sy_it_t *h;
    char api[16];   /* "stripe" or "hubspot" */
    char token[64]; /* what the fake requires ("" = no auth) */
    pid_t pid;      /* 0 once stopped */
    unsigned short port;
    int out_fd; /* the fake's stdout (kept open so it never gets SIGPIPE) */
    void *curl; /* control-API connection (keep-alive) */
    char base_url[64];
    char log_path[SY_IT_PATH_MAX]; /* the fake's stderr */
} sy_itd_fake_t;

/* Starts `$SY_FAKE --api API --listen 127.0.0.1:0 [--token T] [--rate RATE] [--no-retry-after]` and waits (bounded)
 * for "listening on PORT". token NULL: the default token of that API; "" = no auth. rate "N/WINDOW_MS" or NULL. */
sy_itd_fake_t *sy_itd_fake_start(sy_it_t *h, const char *api, const char *token, const char *rate, int retry_after);
/* SIGTERM and a bounded wait (SIGKILL past it); no-op when already stopped. sy_it_destroy does it too. */
void sy_itd_fake_stop(sy_itd_fake_t *f);

/* A control-API call; body (taken over, may be NULL) is sent as JSON. Asserts 200 with a JSON body; returns it. */
json_t *sy_itd_fake_call(sy_itd_fake_t *f, const char *method, const char *path, json_t *body);
json_t *sy_itd_fake_state(sy_itd_fake_t *f);    /* GET /_fake/state */
json_t *sy_itd_fake_requests(sy_itd_fake_t *f); /* GET /_fake/requests (an array) */
/* POST /_fake/mode; 0 leaves for_ms / count unlimited and delay_ms at the fake's default. */
void sy_itd_fake_mode(sy_itd_fake_t *f, const char *mode, long for_ms, long delay_ms, long count);
/* POST /_fake/rate (limit 0 = none). */
void sy_itd_fake_rate(sy_itd_fake_t *f, long limit, long window_ms, int retry_after);
/* POST /_fake/seed {"objects": objects} (taken over). */
void sy_itd_fake_seed(sy_itd_fake_t *f, json_t *objects);
/* state.objects[id] (borrowed from an owned state), NULL if the fake has no such object. */
json_t *sy_itd_fake_object(sy_itd_fake_t *f, const char *id);
/* state.<name> as an integer (-1 if absent). */
json_int_t sy_itd_fake_counter(sy_itd_fake_t *f, const char *name);

/* ---- the fake's request log ---- */
/* Requests with this method (NULL: any) whose path starts with prefix (NULL: any) and status (-1: any). */
size_t sy_itd_count(json_t *requests, const char *method, const char *prefix, long status);
/* The fake's requests carrying Idempotency-Key key: how many, and (*replays) how many of them it replayed. */
size_t sy_itd_count_key(json_t *requests, const char *key, size_t *replays);
/* The first such request (borrowed), or NULL. */
json_t *sy_itd_find(json_t *requests, const char *method, const char *prefix, long status);
/* Asserts that no Idempotency-Key has more than one accepted write that ran for real (a 2xx that is not a replay).
 * Returns how many distinct keys the log holds. */
size_t sy_itd_assert_once_per_key(sy_it_t *h, json_t *requests);
/* Polls the fake's log (bounded) until at least n requests match; returns the log (owned). */
json_t *sy_itd_wait_requests(sy_itd_fake_t *f, const char *method, const char *prefix, long status, size_t n,
                             double timeout_s);

/* ---- hub config ---- */
/* Knobs of a source's api section; NULL / 0 leaves the key out (the hub's default). */
typedef struct st_sy_itd_api_t {
    const char *rate;      /* "100/10s" */
    unsigned concurrency;
    const char *timeout;   /* "2s" */
    unsigned max_attempts;
    const char *max_age;   /* "1h" */
    const char *token;     /* NULL: the fake's token */
} sy_itd_api_t;

/* Writes (or replaces) `api: {base_url: <the fake>, token: {value: …}, …}` under sources.<source> of the generated
 * config; takes effect at the next start. */
void sy_itd_set_api(sy_it_t *h, const char *source, const sy_itd_fake_t *f, const sy_itd_api_t *api);
/* Writes the example policy (policies/customers.yaml) to the temp dir and names it in the config. */
void sy_itd_use_example_policy(sy_it_t *h);
/* The same with Stripe's `create: never` replaced by create_line (e.g. "    create: if_missing"). */
void sy_itd_use_example_policy_creating(sy_it_t *h, const char *create_line);

/* ---- events ---- */
/* A Stripe event {id, object, api_version, created, livemode, type, data.object, request} (object taken over). */
json_t *sy_itd_stripe_event(const char *id, const char *type, int64_t created_s, json_t *object);
/* Posts every event of the array (taken over) to /hooks/stripe, signed now, over conns parallel connections;
 * asserts every answer is 200 and fresh. */
void sy_itd_post_stripe_many(sy_it_t *h, json_t *events, unsigned conns);

/* ---- waiting and reading the hub ---- */
/* Polls cond(h, arg) every ~50 ms until it returns non-zero; fails the test with what after timeout_s. */
void sy_itd_wait(sy_it_t *h, double timeout_s, const char *what, int (*cond)(sy_it_t *h, void *arg), void *arg);
/* Polls `queue ls --json` until it is empty (bounded); fails with the queue when it does not empty. */
void sy_itd_wait_queue_empty(sy_it_t *h, double timeout_s);
/* `dead ls --json` as an array. */
json_t *sy_itd_dead(sy_it_t *h);
/* Polls `dead ls --json` until it holds at least n dead letters; returns it. */
json_t *sy_itd_wait_dead(sy_it_t *h, size_t n, double timeout_s);
/* A sample of /metrics: the value of the line that starts with series + " " (e.g.
 * `switchyard_pushes_total{spoke="stripe",outcome="done"}`), or -1 when there is no such line. */
double sy_itd_metric(sy_it_t *h, const char *series);
/* switchyard_pushes_total{spoke,outcome} (0 when absent). */
double sy_itd_pushes(sy_it_t *h, const char *spoke, const char *outcome);

/* Asserts that the per-spoke counts of /admin/api/status and /metrics (kept counters, queue.h) equal what
 * `queue ls` and `dead ls` list (scans), for stripe and hubspot, read while the queue stands still. */
void sy_itd_assert_counts(sy_it_t *h, const char *what);

/* Sleeps ms milliseconds (only to pace polling; never to wait for an outcome). */
void sy_itd_nap(long ms);
double sy_itd_now_s(void);

#endif
