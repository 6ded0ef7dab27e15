/*
 * The hub's configuration: one YAML file (deploy/switchyard.example.yaml documents every key), then
 * command-line overrides. Loading resolves secrets (env var, file, literal, or a marked local-demo default)
 * and checks everything a running hub would trip over later, with file:line:column in each message.
 */
#ifndef SY_CONFIG_H
#define SY_CONFIG_H

#include "common.h"
#include "connector.h"

typedef struct st_sy_source_conf_t {
    char *name;
    size_t index; /* position in sy_config_t.sources, used by metrics */
    const sy_connector_t *connector;
    sy_source_verify_t verify; /* secrets point into secret_storage */
    char *secret_storage[SY_MAX_SECRETS];
    char *option_storage[SY_MAX_OPTIONS]; /* the connector's own keys; verify.options point here */
    char *public_url; /* the URL the provider calls, for schemes that sign it (HubSpot v2/v3); NULL = rebuild from
                         the request */
    char *demo_env; /* set when a secret fell back to its LOCAL DEMO default: the unset variable's name */

    /* Outbound (sources.NAME.api): where and how golden values are pushed to this tool. NULL base_url = no delivery. */
    char *api_base_url;
    char *api_token;
    char *api_token_demo_env;
    unsigned api_concurrency;   /* requests in flight at most (default 4) */
    int64_t api_timeout_ms;     /* per request (default 30 s) */
    unsigned api_rate_count;    /* 0 = the policy's rate, else the connector's documented limit */
    int64_t api_rate_window_ms;
    unsigned api_max_attempts;  /* then dead letter (default 25) */
    int64_t api_max_age_ms;     /* then dead letter (default 3 days) */
    int64_t reconcile_every_ms; /* sources.NAME.reconcile.every: serve reconciles this often; 0 = only on demand */
    int64_t reconcile_after_outage_ms; /* .after_outage: reconcile when the tool is back after its breaker was open
                                          this long (default 15m where the connector can list; 0 = never) */
} sy_source_conf_t;

/* An alert notifier (alerts.notify.slack / .webhook): delivered as a spoke of its own kind (notify.h). */
typedef enum en_sy_notifier_kind_t { SY_NOTIFIER_SLACK, SY_NOTIFIER_WEBHOOK } sy_notifier_kind_t;
typedef struct st_sy_notifier_conf_t {
    sy_notifier_kind_t kind;
    char *secret;          /* webhook: the Standard Webhooks secret, "whsec_<base64>" (or raw bytes otherwise) */
    char *secret_demo_env;
    /* How delivery sees it: name "alert:slack", api_base_url the receiver's URL, api_rate_* its pace (Slack: 1/1s),
     * api_concurrency 1, api_timeout_ms, api_max_attempts, api_max_age_ms. connector is NULL. */
    sy_source_conf_t spoke;
} sy_notifier_conf_t;

#define SY_MAX_NOTIFIERS 2

typedef struct st_sy_config_t {
    char *path;
    char *data_dir;
    char *policy_path; /* field-ownership policy file or directory; NULL = no applier (log only) */
    uint64_t map_size;
    uint64_t map_size_max;
    unsigned max_batch; /* events per group commit; 1 = one fsync per event */

    char *ingress_listen;
    unsigned ingress_threads;
    uint64_t max_body;
    unsigned max_batch_events;
    int ingress_http2;

    char *ingress_tls_cert, *ingress_tls_key; /* PEM files; NULL = plain HTTP */

    char *admin_listen;
    char *admin_tls_cert, *admin_tls_key;
    char *admin_token;
    char *admin_demo_env; /* as demo_env, for the admin token */

    sy_source_conf_t *sources;
    size_t num_sources;

    struct st_sy_cluster_conf_t *cluster; /* the `cluster:` section (cluster_config.h); NULL = a single hub */
    /* alerts: (alerts.h, alert_watch.h) */
    sy_notifier_conf_t notifiers[SY_MAX_NOTIFIERS];
    size_t num_notifiers;
    int64_t alerts_check_ms;        /* how often storage, applier lag, dead letters and health are looked at (5 s) */
    uint64_t alerts_applier_lag;    /* events behind the log that raise applier_lag (10000; 0: never) */
    unsigned alerts_storage_pct;    /* storage_near_full at this % of storage.map_size_max (90; 0: never) */
    int64_t alerts_keep_resolved_ms; /* resolved alerts older than this are forgotten by the watcher (30d; 0: kept) */
} sy_config_t;

/* Command-line values that override the file (NULL = keep). */
typedef struct st_sy_config_overrides_t {
    const char *data_dir;
    const char *listen;
    const char *admin_listen;
} sy_config_overrides_t;

/*
 * Loads path into conf (zeroed by this call). Returns 0, or a negative code with err telling
 * file:line:column and what is wrong. conf must be disposed in both cases. Relative paths in the file (data_dir,
 * policy, secret files, TLS files) are read from the file's directory; the overrides' data_dir is taken as given.
 */
int sy_config_load(sy_config_t *conf, const char *path, const sy_config_overrides_t *ov, sy_error_t *err);
/* Same from text in memory; name stands for the file in messages, and relative paths are read from base_dir (the
 * built-in example: "deploy", as if read from deploy/switchyard.example.yaml; NULL or ".": the current one). */
int sy_config_load_text(sy_config_t *conf, const char *name, const char *text, size_t len, const char *base_dir,
                        const sy_config_overrides_t *ov, sy_error_t *err);
void sy_config_dispose(sy_config_t *conf);

const sy_source_conf_t *sy_config_find_source(const sy_config_t *conf, const char *name, size_t len);
/* The role of source name's tool (its connector's); SY_ROLE_OTHER for a name not configured or a NULL conf. */
sy_tool_role_t sy_config_source_role(const sy_config_t *conf, const char *name);

/* Splits "host:port" / "[::1]:port"; host is copied into host (hostlen bytes). 0 or SY_EINVAL. */
int sy_parse_hostport(const char *s, char *host, size_t hostlen, unsigned short *port);
/* The base URL a local client reaches the admin API at ("https://127.0.0.1:8081"): a wildcard listen address
 * becomes loopback. */
void sy_config_admin_url(const sy_config_t *conf, char *buf, size_t len);

#endif
