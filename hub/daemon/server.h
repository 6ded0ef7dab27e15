/*
 * The running hub: H2O event loops for ingress (several threads, SO_REUSEPORT) and admin (one thread),
 * the log writer, signals and graceful stop.
 */
#ifndef SY_SERVER_H
#define SY_SERVER_H

#include <h2o.h>
#include <pthread.h>
#include <stdatomic.h>

#include "applier.h"
#include "config.h"
#include "connector.h"
#include "delivery.h"
#include "replay.h"
#include "json.h"
#include "metrics.h"
#include "store.h"
#include "writer.h"

typedef struct st_sy_server_t sy_server_t;

/* One event-loop thread. Handlers find it from req->conn->ctx (ctx is the first member). */
typedef struct st_sy_loop_t {
    h2o_context_t ctx;
    sy_server_t *server;
    h2o_globalconf_t *gc;
    int is_ingress;
    void *ssl_ctx; /* SSL_CTX of the listener when it speaks TLS, else NULL (owned by the server) */
    h2o_evloop_t *loop;
    h2o_accept_ctx_t accept_ctx;
    int use_http2;
    int listen_fd;
    h2o_socket_t *listener;
    pthread_t tid;
    h2o_multithread_receiver_t log_receiver;  /* writer → loop: committed jobs */
    h2o_multithread_receiver_t stop_receiver; /* main → loop: stop accepting */
    size_t inflight;                          /* requests waiting for the writer */
    int stopping;
    int drained; /* every connection closed before the loop ended: safe to dispose the context */
    /* per-thread scratch for ingress, reused across requests */
    sy_json_t json;
    sy_event_ref_t *events;
    sy_header_t *headers;
    char *event_scratch; /* lent to parse (sy_request_view_t.scratch) */
    size_t event_scratch_size;
} sy_loop_t;

struct st_sy_server_t {
    const sy_config_t *conf;
    sy_store_t *store;
    sy_writer_t *writer;
    struct st_sy_cluster_t *cluster; /* cluster.h: ingress publishes there; NULL for a single hub */
    sy_applier_t *applier;   /* NULL when the config names no policy */
    /* NULL without a policy or without any source's api settings; in a cluster, set only while this hub holds the
     * sync lease (server.c, lease callbacks; swapped under delivery_mutex, read atomically by admin) */
    sy_delivery_t *_Atomic delivery;
    pthread_mutex_t delivery_mutex;
    sy_replay_jobs_t *replays; /* admin API replay jobs; NULL without a policy */
    struct st_sy_reconcile_jobs_t *reconciles; /* reconcile_jobs.h; NULL in a cluster (the stream is the only appender) */
    struct st_sy_fetcher_t *fetcher; /* fetch.h; NULL when no source needs fetches, and in a cluster */
    struct st_sy_health_cache_t *health; /* background data-health report (health_cache.h); NULL without a policy */
    sy_metrics_t metrics;
    h2o_globalconf_t ingress_gc, admin_gc;
    sy_loop_t *loops; /* conf->ingress_threads of them */
    sy_loop_t admin;
    void *ingress_tls, *admin_tls; /* SSL_CTX *, NULL without TLS */
    int64_t started_at_ms;
    pthread_mutex_t ready_mutex; /* loops report here once set up on their own thread */
    pthread_cond_t ready_cond;
    unsigned ready;
};

/* Runs until SIGTERM/SIGINT; returns the process exit code (0 after a clean stop, 2 for a broken policy). */
int sy_server_run(const sy_config_t *conf);

/* Handlers (ingress.c, admin.c). */
void sy_ingress_register(h2o_pathconf_t *pathconf);
void sy_admin_register(h2o_pathconf_t *pathconf);
void sy_ingress_loop_init(sy_loop_t *l);
void sy_ingress_loop_dispose(sy_loop_t *l);

/* Sends a JSON body with the given status (content-length set, so never chunked). body is copied. */
void sy_http_send_json(h2o_req_t *req, int status, const char *reason, const char *body, size_t len);

#endif
