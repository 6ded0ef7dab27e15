/*
 * The `cluster:` section of the hub's config. Absent: a single hub, exactly as before (no NATS involved). Present:
 * this hub is one node of a cluster sharing one JetStream stream (cluster.h). Parsed by the config loader; always
 * compiled, so a build without libnats can say precisely why it refuses the section.
 */
#ifndef SY_CLUSTER_CONFIG_H
#define SY_CLUSTER_CONFIG_H

#include <yaml.h>

#include "common.h"
#include "yamldoc.h"

#define SY_CLUSTER_MAX_SERVERS 16

typedef struct st_sy_cluster_conf_t {
    char *node;                              /* this hub's name, unique in the cluster ([A-Za-z0-9_-], <= 64) */
    char *servers[SY_CLUSTER_MAX_SERVERS];   /* nats:// URLs this hub may connect to */
    size_t num_servers;
    char *stream;                            /* JetStream stream name (default SWITCHYARD) */
    unsigned replicas;                       /* stream and bucket replicas (default 3) */
    int64_t ack_timeout_ms;                  /* publish acknowledgement wait before 503 (default 5 s) */
    int64_t lease_ttl_ms;                    /* the applier/delivery lease (default 10 s) */
    int64_t notifications_keep_ms;           /* a follower's queued alert notifications older than this are dropped
                                              * (default 10 min): only the holder sends them */
} sy_cluster_conf_t;

/* 1 when this build can run a cluster (libnats was found at build time). */
int sy_cluster_supported(void);
/* sy_yaml_field_cb for the top-level key "cluster": field is a sy_cluster_conf_t ** (allocated here). */
int sy_cluster_config_read(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err);
void sy_cluster_config_free(sy_cluster_conf_t *c);

#endif
