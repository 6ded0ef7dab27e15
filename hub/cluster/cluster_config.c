/*
 * The `cluster:` config section (cluster_config.h). Checks here are the ones a running cluster would trip over
 * later: a node name that cannot be a key in a JetStream key-value bucket, a server that is not a nats:// URL, a
 * lease too short to renew before it expires.
 */
#include "cluster_config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MIN_LEASE_TTL_MS 3000 /* renewed every third of the TTL: below 1 s per renewal, a slow disk loses it */

static int read_servers(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    sy_cluster_conf_t *c = field;
    yaml_node_t *items[SY_CLUSTER_MAX_SERVERS];
    size_t num = 0;

    if (n->type == YAML_SCALAR_NODE) {
        items[num++] = n;
    } else if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it != n->data.sequence.items.top; ++it) {
            if (num == SY_CLUSTER_MAX_SERVERS)
                return sy_yaml_fail(y, n, err, "cluster.nats: at most %d servers", SY_CLUSTER_MAX_SERVERS);
            items[num++] = sy_yaml_node(y, *it);
        }
    } else {
        return sy_yaml_fail(y, n, err, "cluster.nats: expected a nats:// URL or a list of them");
    }
    if (num == 0)
        return sy_yaml_fail(y, n, err, "cluster.nats: at least one server is needed");
    for (size_t i = 0; i != c->num_servers; ++i)
        free(c->servers[i]);
    c->num_servers = 0;
    for (size_t i = 0; i != num; ++i) {
        char *s = NULL;
        int rc;
        if (items[i] == NULL || items[i]->type != YAML_SCALAR_NODE)
            return sy_yaml_fail(y, items[i] != NULL ? items[i] : n, err, "cluster.nats: expected a nats:// URL");
        if ((rc = sy_yaml_read_string(y, items[i], &s, err)) != 0)
            return rc;
        c->servers[c->num_servers++] = s;
        if (strncmp(s, "nats://", 7) != 0 || s[7] == '\0')
            return sy_yaml_fail(y, items[i], err, "cluster.nats: \"%s\" is not a nats://HOST:PORT URL", s);
    }
    return 0;
}

static const sy_yaml_key_t cluster_keys[] = {
    {"node", sy_yaml_read_string, offsetof(sy_cluster_conf_t, node)},
    {"nats", read_servers, 0},
    {"stream", sy_yaml_read_string, offsetof(sy_cluster_conf_t, stream)},
    {"replicas", sy_yaml_read_uint, offsetof(sy_cluster_conf_t, replicas)},
    {"ack_timeout", sy_yaml_read_duration, offsetof(sy_cluster_conf_t, ack_timeout_ms)},
    {"lease_ttl", sy_yaml_read_duration, offsetof(sy_cluster_conf_t, lease_ttl_ms)},
    {"notifications_keep", sy_yaml_read_duration, offsetof(sy_cluster_conf_t, notifications_keep_ms)},
};

/* Node and stream names become KV keys and JetStream names: letters, digits, '-' and '_' only. */
static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i != n; ++i) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_'))
            return 0;
    }
    return 1;
}

int sy_cluster_config_read(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    sy_cluster_conf_t **out = field, *c;
    int rc;

    if (!sy_cluster_supported())
        return sy_yaml_fail(y, n, err,
                            "cluster: this build has no cluster support (libnats-dev was not found when it was "
                            "built; deploy/install-deps installs it)");
    if (*out != NULL)
        return sy_yaml_fail(y, n, err, "cluster: given twice");
    if ((c = *out = calloc(1, sizeof(*c))) == NULL)
        return SY_ENOMEM;
    c->replicas = 3;
    c->ack_timeout_ms = 5000;
    c->lease_ttl_ms = 10000;
    c->notifications_keep_ms = 10 * 60 * 1000;
    if ((rc = sy_yaml_read_map(y, n, "cluster", cluster_keys, SY_ARRAY_SIZE(cluster_keys), c, err)) != 0)
        return rc;
    if (c->node == NULL)
        return sy_yaml_fail(y, n, err, "cluster.node: missing (this hub's name, unique in the cluster)");
    if (!valid_name(c->node))
        return sy_yaml_fail(y, n, err, "cluster.node: \"%s\": letters, digits, '-' and '_' only, at most 64",
                            c->node);
    if (c->num_servers == 0)
        return sy_yaml_fail(y, n, err, "cluster.nats: missing (the nats:// URL of this hub's NATS node)");
    if (c->stream == NULL && (c->stream = strdup("SWITCHYARD")) == NULL)
        return SY_ENOMEM;
    if (!valid_name(c->stream))
        return sy_yaml_fail(y, n, err, "cluster.stream: \"%s\": letters, digits, '-' and '_' only", c->stream);
    if (c->replicas == 0 || c->replicas > 5)
        return sy_yaml_fail(y, n, err, "cluster.replicas: 1 to 5 (JetStream's limit)");
    if (c->ack_timeout_ms < 100)
        return sy_yaml_fail(y, n, err, "cluster.ack_timeout: at least 100ms");
    if (c->lease_ttl_ms < MIN_LEASE_TTL_MS)
        return sy_yaml_fail(y, n, err, "cluster.lease_ttl: at least 3s");
    if (c->notifications_keep_ms < 1000)
        return sy_yaml_fail(y, n, err, "cluster.notifications_keep: at least 1s");
    return 0;
}

void sy_cluster_config_free(sy_cluster_conf_t *c)
{
    if (c == NULL)
        return;
    free(c->node);
    for (size_t i = 0; i != c->num_servers; ++i)
        free(c->servers[i]);
    free(c->stream);
    free(c);
}
