/*
 * A build without libnats: the single hub only. The config loader refuses a `cluster:` section with the reason
 * (cluster_config.c), so none of the functions below is reached with a cluster to run.
 */
#include "cluster.h"

int sy_cluster_supported(void)
{
    return 0;
}

int sy_cluster_start(sy_cluster_t **out, const sy_cluster_conf_t *conf, sy_store_t *store, sy_writer_t *writer,
                     sy_error_t *err)
{
    *out = NULL;
    return sy_error_set(err, SY_EINVAL, NULL, 0, 0, "cluster: this build has no cluster support");
}

int sy_cluster_submit(sy_cluster_t *c, sy_log_job_t *job)
{
    return SY_ESHUTDOWN;
}

void sy_cluster_render_metrics(sy_cluster_t *c, FILE *out)
{
}

void sy_cluster_stop(sy_cluster_t *c)
{
}

int sy_cluster_status_print(const sy_cluster_conf_t *conf, int json, FILE *out)
{
    fprintf(stderr, "switchyard: this build has no cluster support (libnats-dev was not found when it was built)\n");
    return 1;
}

void sy_cluster_set_lease(sy_cluster_t *c, const sy_cluster_lease_cb_t *cb)
{
}

void sy_cluster_set_admin_url(sy_cluster_t *c, const char *url)
{
}

int sy_cluster_lease_holder(sy_cluster_t *c, char *node, size_t node_len, char *admin, size_t admin_len)
{
    return 1;
}

int sy_cluster_change(sy_cluster_t *c, const sy_change_t *change, json_t **result, char *err, size_t len)
{
    *result = NULL;
    snprintf(err, len, "this build has no cluster support");
    return SY_EINVAL;
}
