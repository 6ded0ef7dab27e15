#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <h2o/http1.h>

#include "cluster.h"
#include "alert_watch.h"
#include "alerts.h"
#include "crypto.h"
#include "datadir.h"
#include "health_cache.h"
#include "queue.h"
#include "reconcile_jobs.h"
#include "fetch.h"
#include "log.h"

#define ACCEPT_BATCH 16
#define DRAIN_ROUNDS 100 /* x 10 ms: how long a stopping loop lets connections finish before expiring them */

static int resolve(const char *hostport, struct sockaddr_storage *ss, socklen_t *sslen)
{
    char host[256], portstr[8];
    unsigned short port;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV}, *res;
    if (sy_parse_hostport(hostport, host, sizeof(host), &port) != 0)
        return SY_EINVAL;
    snprintf(portstr, sizeof(portstr), "%u", port);
    /* Only numeric addresses: resolving names here could reach the network. */
    if (getaddrinfo(host, portstr, &hints, &res) != 0)
        return SY_EINVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/*
 * Opens a listening socket. With reuseport, all ingress threads bind the same port and the kernel spreads
 * connections; a probe bind without SO_REUSEPORT first makes sure no other process already holds the port
 * (otherwise two hubs would silently share it).
 */
static int open_listener(const char *hostport, int reuseport, int probe, int *fd_out)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int fd, on = 1;

    if (resolve(hostport, &ss, &sslen) != 0) {
        sy_log(SY_LOG_ERROR, "listen %s: not a numeric HOST:PORT", hostport);
        return SY_EINVAL;
    }
    if (probe) {
        if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
            return SY_EIO;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        int brc = bind(fd, (struct sockaddr *)&ss, sslen);
        int e = errno;
        close(fd);
        if (brc != 0) {
            sy_log(SY_LOG_ERROR, "listen %s: %s", hostport, strerror(e));
            return SY_EIO;
        }
    }
    if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        return SY_EIO;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, SOMAXCONN) != 0) {
        sy_log(SY_LOG_ERROR, "listen %s: %s", hostport, strerror(errno));
        close(fd);
        return SY_EIO;
    }
    *fd_out = fd;
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    sy_loop_t *l = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i != ACCEPT_BATCH; ++i) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        if (l->use_http2 || l->ssl_ctx != NULL) {
            /* With TLS, h2o_accept runs the handshake; ALPN (set in the context) decides between h2 and h1. */
            h2o_accept(&l->accept_ctx, sock);
        } else {
            struct timeval now;
            gettimeofday(&now, NULL);
            h2o_http1_accept(&l->accept_ctx, sock, now);
        }
    }
}

static void on_stop_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    sy_loop_t *l = H2O_STRUCT_FROM_MEMBER(sy_loop_t, stop_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        free(msg);
    }
    if (l->listener != NULL) {
        /* Stop accepting: new connections are refused by the kernel once the socket is closed. */
        h2o_socket_read_stop(l->listener);
        h2o_socket_close(l->listener);
        l->listener = NULL;
    }
    l->stopping = 1;
}

/* True while connections remain: each one holds an entry in one of the context's timeouts. */
static int has_connections(sy_loop_t *l)
{
    return !h2o_linklist_is_empty(&l->ctx.http1.req_timeout._entries) ||
           !h2o_linklist_is_empty(&l->ctx.http2.idle_timeout._entries) ||
           !h2o_linklist_is_empty(&l->ctx.zero_timeout._entries) ||
           !h2o_linklist_is_empty(&l->ctx.one_sec_timeout._entries);
}

/*
 * Everything H2O of a loop is created, run and destroyed on the loop's own thread: H2O's buffer recycling
 * is per thread (a socket created on the main thread would share the main thread's recycle lists with
 * every loop, which corrupts them under load).
 */
static void loop_setup(sy_loop_t *l)
{
    l->loop = h2o_evloop_create();
    h2o_context_init(&l->ctx, l->loop, l->gc);
    l->accept_ctx.ctx = &l->ctx;
    l->accept_ctx.hosts = l->gc->hosts;
    l->accept_ctx.ssl_ctx = l->ssl_ctx;
    h2o_multithread_register_receiver(l->ctx.queue, &l->stop_receiver, on_stop_message);
    l->listener = h2o_evloop_socket_create(l->loop, l->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    l->listener->data = l;
    h2o_socket_read_start(l->listener, on_accept);
    if (l->is_ingress)
        sy_ingress_loop_init(l);
}

static void loop_teardown(sy_loop_t *l)
{
    if (l->is_ingress)
        sy_ingress_loop_dispose(l);
    if (l->listener != NULL) {
        h2o_socket_close(l->listener);
        l->listener = NULL;
    }
    h2o_multithread_unregister_receiver(l->ctx.queue, &l->stop_receiver);
    if (!l->drained) {
        /* A connection outlived the drain: H2O 2.2.5 would assert in its teardown, so leave this context
         * to the process exit (which is imminent) rather than crash at the end of a clean stop. */
        sy_log(SY_LOG_WARN, "a connection was still open after the drain period; closing at exit");
        return;
    }
    h2o_multithread_queue_t *queue = l->ctx.queue;
    h2o_context_dispose(&l->ctx);
    /* Run once more so the sockets closed above (listener, the queue's pipe) are really released. */
    h2o_evloop_run(l->loop, 0);
    /* H2O 2.2.5's evloop flavour of h2o_multithread_destroy_queue (called by h2o_context_dispose) closes the
     * queue's pipe but never frees the queue itself (the libuv flavour does): free it here. */
    free(queue);
    h2o_evloop_destroy(l->loop);
    l->loop = NULL;
}

static void *loop_main(void *arg)
{
    sy_loop_t *l = arg;
    sy_thread_name(l->is_ingress ? "sy-ingress" : "sy-admin");
    sy_server_t *s = l->server;
    int rounds = 0;

    loop_setup(l);
    pthread_mutex_lock(&s->ready_mutex);
    ++s->ready;
    pthread_cond_broadcast(&s->ready_cond);
    pthread_mutex_unlock(&s->ready_mutex);

    while (!l->stopping)
        h2o_evloop_run(l->loop, INT32_MAX);
    /* Stopping. Persistent connections get "Connection: close" on their next answer, and every answer the
     * writer still owes is sent (inflight). Connections get DRAIN_ROUNDS to finish what they are sending. */
    h2o_context_request_shutdown(&l->ctx);
    while (l->inflight != 0 || (has_connections(l) && rounds < 2 * DRAIN_ROUNDS)) {
        if (++rounds == DRAIN_ROUNDS && l->inflight == 0) {
            /* H2O 2.2.5 leaves idle keep-alive connections open until their request timeout (10 s):
             * expire them now. Nothing they could still send has been acknowledged, so nothing is lost. */
            l->ctx.http1.req_timeout.timeout = 0;
            l->ctx.http2.idle_timeout.timeout = 0;
        }
        h2o_evloop_run(l->loop, 10);
    }
    l->drained = !has_connections(l);
    loop_teardown(l);
    return NULL;
}

static void loop_start(sy_server_t *s, sy_loop_t *l, h2o_globalconf_t *gc, int listen_fd, int is_ingress, int use_http2,
                       void *ssl_ctx)
{
    l->server = s;
    l->ssl_ctx = ssl_ctx;
    l->gc = gc;
    l->listen_fd = listen_fd;
    l->is_ingress = is_ingress;
    l->use_http2 = use_http2;
    h2o_multithread_create_thread(&l->tid, NULL, loop_main, l);
}

static void request_stop(sy_loop_t *l)
{
    h2o_multithread_message_t *msg = calloc(1, sizeof(*msg));
    if (msg == NULL)
        abort();
    h2o_multithread_send_message(&l->stop_receiver, msg);
}

static void wake_applier(void *applier)
{
    sy_applier_notify(applier);
}

static void wake_delivery(void *delivery)
{
    sy_delivery_notify(delivery);
}

/* A cluster node delivers only while it holds the sync lease (cluster.h): the lease thread starts and stops delivery
 * through these two, and the applier wakes whichever delivery runs now through wake_lease_delivery, under
 * delivery_mutex, so it never wakes one that is being stopped. */
static void wake_lease_delivery(void *arg)
{
    sy_server_t *s = arg;
    pthread_mutex_lock(&s->delivery_mutex);
    sy_delivery_t *d = atomic_load(&s->delivery);
    if (d != NULL)
        sy_delivery_notify(d);
    pthread_mutex_unlock(&s->delivery_mutex);
}

static int on_lease_acquired(void *arg)
{
    sy_server_t *s = arg;
    sy_delivery_t *d;
    if (sy_delivery_start(&d, s->conf, s->store, s->applier, &s->metrics) != 0)
        return -1;
    pthread_mutex_lock(&s->delivery_mutex);
    atomic_store(&s->delivery, d);
    pthread_mutex_unlock(&s->delivery_mutex);
    sy_delivery_notify(d); /* what the outbox holds already is due */
    return 0;
}

static void on_lease_lost(void *arg)
{
    sy_server_t *s = arg;
    pthread_mutex_lock(&s->delivery_mutex);
    sy_delivery_t *d = atomic_exchange(&s->delivery, NULL);
    pthread_mutex_unlock(&s->delivery_mutex);
    sy_delivery_stop(d); /* joins its threads: nothing more is sent once it returns */
}

static void setup_globalconf(h2o_globalconf_t *gc, const sy_config_t *conf, int ingress)
{
    h2o_config_init(gc);
    gc->server_name = h2o_iovec_init(H2O_STRLIT("switchyard"));
    /* H2O buffers the whole body before the handler runs: this cap is what bounds memory per request. */
    gc->max_request_entity_size = ingress ? (size_t)conf->max_body : 64 * 1024;
    gc->http1.upgrade_to_http2 = ingress && conf->ingress_http2;
    h2o_hostconf_t *host = h2o_config_register_host(gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    if (ingress)
        sy_ingress_register(path);
    else
        sy_admin_register(path);
}

/* Alerts (alerts.h): the notifier spokes recorded and the pre-issue-13 alert log migrated, before any other thread
 * writes. */
static int start_alerts(const sy_config_t *conf, sy_store_t *store)
{
    const char *names[SY_MAX_NOTIFIERS];
    size_t migrated = 0;
    for (size_t i = 0; i != conf->num_notifiers; ++i)
        names[i] = conf->notifiers[i].spoke.name;
    int rc = sy_alerts_setup(store, names, conf->num_notifiers, &migrated);
    if (rc != 0)
        sy_log(SY_LOG_ERROR, "cannot set up alerts (%s)", sy_strerror(rc));
    else if (migrated != 0)
        sy_log(SY_LOG_INFO, "alerts: %zu entries of the old alert log migrated into deduplicated alerts", migrated);
    return rc;
}

/* The fetcher (fetch.h) appends through the writer, after it started; in a cluster the stream's consumer is the only
 * appender, so none runs there (notifications are logged, their objects not fetched). */
static int start_fetcher(sy_server_t *s)
{
    if (!sy_fetcher_wanted(s->conf))
        return 0;
    if (s->conf->cluster != NULL) {
        sy_log(SY_LOG_WARN, "fetch: not run in a cluster: notifications that carry no values are logged, their "
                            "objects are not fetched");
        return 0;
    }
    return (s->fetcher = sy_fetcher_create(s->conf, s->store, s->writer)) != NULL ? 0 : SY_ENOMEM;
}

int sy_server_run(const sy_config_t *conf)
{
    sy_server_t s = {.conf = conf};
    sigset_t sigs;
    int sig, rc = 1, admin_fd = -1, configured = 0, lock_fd = -1;
    unsigned started = 0;
    int *fds = NULL;
    sy_error_t err = {0};
    char msg[800];
    sy_alert_watch_t *alert_watch = NULL;

    s.started_at_ms = sy_now_ms();
    pthread_mutex_init(&s.ready_mutex, NULL);
    pthread_mutex_init(&s.delivery_mutex, NULL);
    pthread_cond_init(&s.ready_cond, NULL);
    /* Signals are taken by sigwait in this thread only; every thread created below inherits the mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (sy_metrics_init(&s.metrics, conf->num_sources) != 0)
        goto Exit;
    /* Before the store: a second serve must not even start an applier or delivery over this log. */
    /* The admin URL in the lock file tells a CLI write command where to send its change instead (cli_remote.c). */
    char admin_url[300];
    sy_config_admin_url(conf, admin_url, sizeof(admin_url));
    if (sy_datadir_lock(conf->data_dir, SY_DATADIR_CREATE, "serve", admin_url, &lock_fd, NULL, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        sy_log(SY_LOG_ERROR, "%s", msg);
        goto Exit;
    }
    if (sy_store_open(&s.store, conf->data_dir, conf->map_size, conf->map_size_max, SY_STORE_CREATE, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        sy_log(SY_LOG_ERROR, "%s", msg);
        goto Exit;
    }
    int reindexed, qrc;
    if ((qrc = sy_queue_index_ensure(s.store, &reindexed)) != 0) {
        /* Before any other thread writes: counts and due order must match the outbox (queue.h). */
        sy_log(SY_LOG_ERROR, "cannot index the outbox (%s)", sy_strerror(qrc));
        goto Exit;
    }
    if (reindexed)
        sy_log(SY_LOG_INFO, "outbox indexed per spoke (first start of this version, or counts disagreed)");
    if ((qrc = start_alerts(conf, s.store)) != 0)
        goto Exit;
    if ((fds = calloc(conf->ingress_threads, sizeof(*fds))) == NULL)
        goto Exit;
    for (unsigned i = 0; i != conf->ingress_threads; ++i)
        fds[i] = -1;
    for (unsigned i = 0; i != conf->ingress_threads; ++i)
        if (open_listener(conf->ingress_listen, 1, i == 0, &fds[i]) != 0)
            goto Exit;
    if (open_listener(conf->admin_listen, 0, 0, &admin_fd) != 0)
        goto Exit;
    if (sy_writer_start(&s.writer, s.store, &s.metrics, conf->max_batch) != 0)
        goto Exit;
    /* Short writes (delivery's outcomes) ride on the log's commits: no fsync and no write lock of their own. */
    sy_store_set_ride(s.store, sy_writer_ride_sink, s.writer);
    /* A cluster node: ingress publishes to the stream, and the stream's consumer is the log's only appender. */
    if (conf->cluster != NULL && sy_cluster_start(&s.cluster, conf->cluster, s.store, s.writer, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        sy_log(SY_LOG_ERROR, "%s", msg);
        goto Exit;
    }
    if (s.cluster != NULL) {
        char url[256]; /* in the heartbeat: where a follower sends an operator's admin writes (admin_api.c) */
        sy_config_admin_url(conf, url, sizeof(url));
        sy_cluster_set_admin_url(s.cluster, url);
    }
    /* Reconcile appends through the writer; in a cluster only the stream's consumer appends, so none runs there. */
    if (conf->cluster == NULL && (s.reconciles = sy_reconcile_jobs_create(conf, s.store, s.writer)) == NULL)
        goto Exit;
    if (start_fetcher(&s) != 0)
        goto Exit;
    if ((conf->ingress_tls_cert != NULL &&
         (s.ingress_tls = sy_tls_server_ctx(conf->ingress_tls_cert, conf->ingress_tls_key, conf->ingress_http2, msg,
                                            sizeof(msg))) == NULL) ||
        (conf->admin_tls_cert != NULL &&
         (s.admin_tls = sy_tls_server_ctx(conf->admin_tls_cert, conf->admin_tls_key, 0, msg, sizeof(msg))) == NULL)) {
        fprintf(stderr, "%s\n", msg);
        rc = 2;
        goto Exit;
    }
    if (conf->policy_path != NULL) {
        sy_policy_t *policy;
        if (sy_policy_load(&policy, conf->policy_path, &err) != 0) {
            sy_error_format(&err, msg, sizeof(msg));
            fprintf(stderr, "%s\n", msg);
            rc = 2;
            goto Exit;
        }
        if (sy_applier_start(&s.applier, s.store, policy, conf->policy_path) != 0)
            goto Exit;
        sy_writer_set_listener(s.writer, wake_applier, s.applier);
        sy_applier_set_writer(s.applier, s.writer);
        sy_log(SY_LOG_INFO, "policy %s loaded (hash %s): applying the log to golden records", conf->policy_path,
               policy->hash);
        if ((s.replays = sy_replay_jobs_create(s.store, conf->policy_path)) == NULL)
            goto Exit;
        if ((s.health = sy_health_cache_create(s.store, s.applier, s.conf)) == NULL)
            goto Exit;
        int spokes = 0;
        for (size_t i = 0; i != conf->num_sources; ++i)
            spokes += conf->sources[i].api_base_url != NULL;
        if ((spokes != 0 || conf->num_notifiers != 0) && s.cluster != NULL) {
            sy_applier_set_listener(s.applier, wake_lease_delivery, &s);
            sy_cluster_set_lease(s.cluster, &(sy_cluster_lease_cb_t){on_lease_acquired, on_lease_lost, &s});
        } else if (spokes != 0 || conf->num_notifiers != 0) {
            sy_delivery_t *d;
            if (sy_delivery_start(&d, conf, s.store, s.applier, &s.metrics) != 0)
                goto Exit;
            atomic_store(&s.delivery, d);
            /* A tool back after a long outage: heal the webhooks it may have given up on (reconcile_jobs.h). */
            if (s.reconciles != NULL)
                sy_delivery_set_recovery_listener(d, sy_reconcile_jobs_on_recovered, s.reconciles);
            sy_applier_set_listener(s.applier, wake_delivery, d);
        } else {
            sy_log(SY_LOG_INFO, "no source has api settings: pushes stay queued (see `switchyard queue ls`)");
        }
    }

    if ((alert_watch = sy_alert_watch_start(conf, s.store, s.health)) == NULL)
        goto Exit;
    setup_globalconf(&s.ingress_gc, conf, 1);
    setup_globalconf(&s.admin_gc, conf, 0);
    configured = 1;
    if ((s.loops = calloc(conf->ingress_threads, sizeof(*s.loops))) == NULL)
        goto Exit;
    for (started = 0; started != conf->ingress_threads; ++started) {
        loop_start(&s, &s.loops[started], &s.ingress_gc, fds[started], 1, conf->ingress_http2, s.ingress_tls);
        fds[started] = -1; /* owned by the loop's socket now */
    }
    loop_start(&s, &s.admin, &s.admin_gc, admin_fd, 0, 0, s.admin_tls);
    admin_fd = -1;
    /* Stop messages need the loops' receivers: wait until every loop is set up. */
    pthread_mutex_lock(&s.ready_mutex);
    while (s.ready != started + 1)
        pthread_cond_wait(&s.ready_cond, &s.ready_mutex);
    pthread_mutex_unlock(&s.ready_mutex);

    sy_log(SY_LOG_INFO, "switchyard %s: ingress on %s://%s/hooks/{source} (%u threads), admin on %s://%s, data in %s",
           SY_VERSION, s.ingress_tls != NULL ? "https" : "http", conf->ingress_listen, conf->ingress_threads,
           s.admin_tls != NULL ? "https" : "http", conf->admin_listen, conf->data_dir);
    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            if (s.applier == NULL) {
                sy_log(SY_LOG_INFO, "SIGHUP: no policy configured, nothing to reload");
            } else if (sy_applier_reload(s.applier, &err) != 0) {
                sy_error_format(&err, msg, sizeof(msg));
                sy_log(SY_LOG_ERROR, "SIGHUP: policy not reloaded, the running one stays: %s", msg);
            }
            continue;
        }
        break;
    }
    sy_log(SY_LOG_INFO, "%s: stopping (no new connections; finishing in-flight commits)", strsignal(sig));
    for (unsigned i = 0; i != started; ++i)
        request_stop(&s.loops[i]);
    request_stop(&s.admin);
    for (unsigned i = 0; i != started; ++i)
        pthread_join(s.loops[i].tid, NULL);
    pthread_join(s.admin.tid, NULL);
    rc = 0;

Exit:
    sy_alert_watch_stop(alert_watch); /* it writes through sy_store_write: before the writer stops */
    /* The writer drains what is queued before it stops: nothing acknowledged is left behind. The applier's
     * batches stop riding on it first (it commits on its own until it stops). */
    if (s.applier != NULL)
        sy_applier_set_writer(s.applier, NULL);
    if (s.store != NULL)
        sy_store_set_ride(s.store, NULL, NULL);
    sy_delivery_t *delivering = atomic_load(&s.delivery);
    if (delivering != NULL) /* no recovery may start a job once the jobs are gone */
        sy_delivery_set_recovery_listener(delivering, NULL, NULL);
    sy_reconcile_jobs_destroy(s.reconciles); /* its appends wait for the writer: stopped while the writer runs */
    sy_fetcher_destroy(s.fetcher);           /* the same */
    /* The loops are gone: every job it took was answered; its consumer writes no more. It stops this hub's delivery
     * first if it holds the lease (on_lease_lost) and gives the lease back. */
    sy_cluster_stop(s.cluster);
    sy_writer_stop(s.writer);
    sy_health_cache_destroy(s.health); /* before the applier: it holds a reference to the policy while it scans */
    sy_replay_jobs_destroy(s.replays); /* a running replay stops after its current batch */
    if (s.applier != NULL)
        sy_applier_set_listener(s.applier, NULL, NULL); /* delivery goes first */
    sy_delivery_stop(atomic_exchange(&s.delivery, NULL));
    sy_applier_stop(s.applier);
    free(s.loops);
    if (configured) {
        h2o_config_dispose(&s.ingress_gc);
        h2o_config_dispose(&s.admin_gc);
    }
    pthread_cond_destroy(&s.ready_cond);
    pthread_mutex_destroy(&s.ready_mutex);
    pthread_mutex_destroy(&s.delivery_mutex);
    if (fds != NULL)
        for (unsigned i = 0; i != conf->ingress_threads; ++i)
            if (fds[i] >= 0)
                close(fds[i]);
    free(fds);
    if (admin_fd >= 0)
        close(admin_fd);
    sy_store_close(s.store);
    sy_datadir_unlock(lock_fd); /* after the store: no LMDB access of ours is left when the next serve may start */
    sy_metrics_dispose(&s.metrics);
    sy_tls_ctx_free(s.ingress_tls);
    sy_tls_ctx_free(s.admin_tls);
    if (rc == 0)
        sy_log(SY_LOG_INFO, "stopped cleanly");
    return rc;
}

void sy_http_send_json(h2o_req_t *req, int status, const char *reason, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_send_inline(req, body, len);
}
