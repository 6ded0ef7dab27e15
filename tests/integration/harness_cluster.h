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
/* The golden records (`records list --json`) without wall-clock fields (created/updated/merged/enqueued/due
 * times), in list order, owned by h; doc's copy without them (a new reference). */
json_t *sy_itc_records(sy_it_t *h);
json_t *sy_itc_stable(const json_t *doc);

/* Kills every node; removes the temp dir if sy_itc_pass was called. */
void sy_itc_stop(sy_itc_t *c);
void sy_itc_pass(sy_itc_t *c);

#endif
