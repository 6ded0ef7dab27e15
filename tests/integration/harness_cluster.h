/*
 * Integration-test helpers for a cluster of hubs (issue 14): NATS JetStream nodes (/usr/sbin/nats-server, installed
 * by deploy/install-deps) started on free 127.0.0.1 ports, routed to each other, with their store and logs in a temp
 * dir that is removed when the test passed (kept otherwise, like the hubs' dirs). Each hub is given the URL of its own
 * node only (cluster.nats), so stopping a node partitions its hub.
 */
#ifndef SY_IT_HARNESS_CLUSTER_H
#define SY_IT_HARNESS_CLUSTER_H

#include <jansson.h>
#include <sys/types.h>

#include "harness.h"

#define SY_ITC_NATS_BIN "/usr/sbin/nats-server"
#define SY_ITC_MAX_NODES 5

typedef struct st_sy_itc_t {
    unsigned num;
    pid_t nats[SY_ITC_MAX_NODES]; /* 0 while stopped */
    unsigned short client_port[SY_ITC_MAX_NODES], route_port[SY_ITC_MAX_NODES];
    char dir[SY_IT_PATH_MAX];
    int passed;
} sy_itc_t;

/* 1 when nats-server is installed (a test skips with 77 otherwise). */
int sy_itc_available(void);
/* Picks the ports and starts num nodes (num <= SY_ITC_MAX_NODES). */
void sy_itc_start(sy_itc_t *c, unsigned num);
/* (Re)starts node i on its ports and store; kill -9 of node i (waits for it). */
void sy_itc_node_start(sy_itc_t *c, unsigned i);
void sy_itc_node_kill(sy_itc_t *c, unsigned i);
/* Appends `cluster: {node: <name>, nats: <node i's URL>, <extra lines>}` to h's generated config. extra: YAML lines
 * indented by two spaces (e.g. "  lease_ttl: 3s\n"), or NULL. */
void sy_itc_configure_hub(sy_itc_t *c, sy_it_t *h, unsigned i, const char *name, const char *extra);
/* ---- hubs of a cluster ---- */
/* Posts an event no policy object maps to hub h (id evt_warmup_<i>) until acknowledged (a fresh cluster elects its
 * stream leader first; bounded). */
void sy_itc_warm_up(sy_it_t *h, int i);
/* Which of hubs[0..n) holds the sync lease (-1: none; fails when two say they do); skip: one not to ask (killed). */
int sy_itc_holder(sy_it_t *const *hubs, unsigned n, int skip);
/* The same, waiting (bounded) until one holds it. */
int sy_itc_wait_holder(sy_it_t *const *hubs, unsigned n, int skip);

/* ---- a whole test's cluster: its nodes and one hub on each ----
 * A test keeps it in a static, so that its teardown finds the hubs after a failed assertion. */
typedef struct st_sy_itc_hubs_t {
    sy_it_t *hub[SY_ITC_MAX_NODES];
    unsigned n;
    sy_itc_t nats;
} sy_itc_hubs_t;
struct st_sy_itd_fake_t;
struct st_sy_itd_api_t;
/* Starts n NATS nodes and creates n hubs (not started), hub i named hub-<i> with node i's URL and the cluster
 * settings extra (as for sy_itc_configure_hub), all with one admin token; *state = c. */
void sy_itc_hubs_create(sy_itc_hubs_t *c, void **state, unsigned n, const char *extra);
/* Starts every hub with the example policy and Stripe's api at the fake stripe (NULL: no api), warms each up, and
 * returns the hub that took the sync lease. */
int sy_itc_hubs_start(sy_itc_hubs_t *c, struct st_sy_itd_fake_t *stripe, const struct st_sy_itd_api_t *api);
/* kill -9 of hub first, the lease holder, while the fake stripe holds the pushes with Idempotency-Keys
 * keys[0..nkeys) on the wire; then the fake answers at once. Waits (bounded) for another hub to take the lease and
 * resend each of those pushes under its key (so that the fake replays it), and returns that hub. */
int sy_itc_fail_over(sy_itc_hubs_t *c, int first, struct st_sy_itd_fake_t *stripe, char (*keys)[96], size_t nkeys);
/* SIGTERM to every hub: each must exit 0 (no leak under ASan). */
void sy_itc_hubs_stop(sy_itc_hubs_t *c);
/* The test passed: every hub's and node's temp dir is removed at teardown. */
void sy_itc_hubs_pass(sy_itc_hubs_t *c);
/* The teardown: destroys the hubs, kills the nodes. Returns 0. */
int sy_itc_hubs_teardown(sy_itc_hubs_t *c);
/* A cluster test's main: skips (77) when nats-server is not installed, else runs test with its teardown. */
int sy_itc_main(const char *name, void (*test)(void **state), int (*teardown)(void **state));

/* Kills every node; removes the temp dir if sy_itc_pass was called. */
void sy_itc_stop(sy_itc_t *c);
void sy_itc_pass(sy_itc_t *c);

#endif
