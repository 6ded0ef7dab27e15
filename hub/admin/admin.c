/*
 * The admin listener: GET /healthz (open, for load balancers and tests), GET /metrics (Prometheus text)
 * and, in later versions, /admin/api/.... Everything but /healthz needs `Authorization: Bearer <admin token>`,
 * compared in constant time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "admin_api.h"
#include "cluster.h"
#include "fetch.h"
#include "crypto.h"
#include "log.h"
#include "queue.h"
#include "records.h"
#include "server.h"

static int authorized(h2o_req_t *req, const char *token)
{
    static const char bearer[] = "Bearer ";
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len < sizeof(bearer) - 1 || strncasecmp(v.base, bearer, sizeof(bearer) - 1) != 0)
        return 0;
    return sy_ct_equal(v.base + sizeof(bearer) - 1, v.len - (sizeof(bearer) - 1), token, strlen(token));
}

/* The HELP and TYPE lines that open a metric family. */
static void family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_delivery(sy_server_t *s, FILE *out)
{
    static const char *const outcomes[] = {
#define SY_PUSH_OUTCOME_NAME(name) #name,
        SY_PUSH_OUTCOMES(SY_PUSH_OUTCOME_NAME)
#undef SY_PUSH_OUTCOME_NAME
    };
    const sy_config_t *conf = s->conf;
    json_t *q = NULL;
    sy_txn_t *txn;
    /* Depths and ages come from per-spoke counters and indexes (queue.h): O(spokes), not a scan of the queue. */
    int rc = sy_txn_begin(s->store, 0, &txn);
    if (rc == 0) {
        if ((q = sy_queue_summary(txn)) == NULL)
            rc = SY_EIO;
        sy_txn_abort(txn);
    }
    if (rc < 0) /* a partial count would pass for a shorter queue: leave the depth series out (counted by the store) */
        sy_log(SY_LOG_ERROR, "metrics: cannot read the outbox (%s); queue depth left out", sy_strerror(rc));
    int64_t now = sy_now_ms();
    family(out, "switchyard_pushes_total", "counter", "Push attempts by spoke and outcome.");
    for (size_t i = 0; i != conf->num_sources; ++i)
        for (size_t k = 0; k != SY_PUSH_IDX_COUNT; ++k)
            if (conf->sources[i].api_base_url != NULL)
                fprintf(out, "switchyard_pushes_total{spoke=\"%s\",outcome=\"%s\"} %llu\n", conf->sources[i].name,
                        outcomes[k], (unsigned long long)atomic_load(&s->metrics.sources[i].pushes[k]));
    family(out, "switchyard_queue_depth", "gauge", "Queued pushes per spoke.");
    family(out, "switchyard_queue_oldest_age_seconds", "gauge", "Age of the oldest queued push per spoke.");
    family(out, "switchyard_dead_letters", "gauge", "Dead letters per spoke.");
    family(out, "switchyard_breaker_state", "gauge", "Circuit breaker per spoke: 0 closed, 1 open, 2 half-open.");
    for (size_t i = 0; i != conf->num_sources; ++i) {
        if (rc >= 0) {
            json_t *e = json_object_get(q, conf->sources[i].name);
            json_int_t depth = json_integer_value(json_object_get(e, "queued"));
            json_int_t oldest = json_integer_value(json_object_get(e, "oldest_enqueued_ms"));
            fprintf(out, "switchyard_queue_depth{spoke=\"%s\"} %llu\n", conf->sources[i].name, (unsigned long long)depth);
            fprintf(out, "switchyard_queue_oldest_age_seconds{spoke=\"%s\"} %.3f\n", conf->sources[i].name,
                    depth != 0 && oldest != 0 ? (double)(now - oldest) / 1000.0 : 0.0);
            fprintf(out, "switchyard_dead_letters{spoke=\"%s\"} %llu\n", conf->sources[i].name,
                    (unsigned long long)json_integer_value(json_object_get(e, "dead")));
        }
        if (conf->sources[i].api_base_url != NULL)
            fprintf(out, "switchyard_breaker_state{spoke=\"%s\"} %d\n", conf->sources[i].name,
                    atomic_load(&s->metrics.sources[i].breaker_open));
    }
    json_decref(q);
    sy_histogram_render(&s->metrics.delivery_seconds, out, "switchyard_delivery_duration_seconds",
                        "Push request latency, send to answer.");
    family(out, "switchyard_delivery_rounds_total", "counter", "Delivery rounds that read the queue.");
    fprintf(out, "switchyard_delivery_rounds_total %llu\n", (unsigned long long)atomic_load(&s->metrics.delivery_rounds));
    family(out, "switchyard_delivery_docs_read_total", "counter",
           "Queued pushes decoded by delivery rounds (only those due and sendable in the round).");
    fprintf(out, "switchyard_delivery_docs_read_total %llu\n",
            (unsigned long long)atomic_load(&s->metrics.delivery_docs_read));
}

static void render_metrics(sy_server_t *s, FILE *out)
{
    const sy_config_t *conf = s->conf;
    static const int statuses[] = {
#define SY_METRICS_STATUS_CODE(code) code,
        SY_METRICS_STATUSES(SY_METRICS_STATUS_CODE)
#undef SY_METRICS_STATUS_CODE
    };
    sy_store_stats_t st;

    family(out, "switchyard_ingress_requests_total", "counter", "Webhook requests by source and answered status.");
    for (size_t i = 0; i != conf->num_sources; ++i)
        for (size_t k = 0; k != SY_STATUS_IDX_COUNT; ++k)
            fprintf(out, "switchyard_ingress_requests_total{source=\"%s\",status=\"%d\"} %llu\n", conf->sources[i].name,
                    statuses[k], (unsigned long long)atomic_load(&s->metrics.sources[i].requests[k]));
    for (size_t k = 0; k != SY_STATUS_IDX_COUNT; ++k)
        fprintf(out, "switchyard_ingress_requests_total{source=\"\",status=\"%d\"} %llu\n", statuses[k],
                (unsigned long long)atomic_load(&s->metrics.unrouted[k]));

    family(out, "switchyard_signature_failures_total", "counter", "Requests refused by signature checks, by failed check.");
    for (size_t i = 0; i != conf->num_sources; ++i)
        for (int r = 1; r != SY_VERIFY_RESULT_COUNT; ++r)
            fprintf(out, "switchyard_signature_failures_total{source=\"%s\",check=\"%s\"} %llu\n", conf->sources[i].name,
                    sy_verify_result_code((sy_verify_result_t)r),
                    (unsigned long long)atomic_load(&s->metrics.sources[i].signature_failures[r]));

    family(out, "switchyard_events_stored_total", "counter", "Events appended to the log.");
    for (size_t i = 0; i != conf->num_sources; ++i)
        fprintf(out, "switchyard_events_stored_total{source=\"%s\"} %llu\n", conf->sources[i].name,
                (unsigned long long)atomic_load(&s->metrics.sources[i].events_stored));
    family(out, "switchyard_events_duplicate_total", "counter", "Provider retries of events already in the log.");
    for (size_t i = 0; i != conf->num_sources; ++i)
        fprintf(out, "switchyard_events_duplicate_total{source=\"%s\"} %llu\n", conf->sources[i].name,
                (unsigned long long)atomic_load(&s->metrics.sources[i].events_duplicate));

    sy_histogram_render(&s->metrics.commit_batch_events, out, "switchyard_commit_batch_events",
                        "Events per group commit.");
    sy_histogram_render(&s->metrics.commit_seconds, out, "switchyard_commit_duration_seconds",
                        "Group commit latency of the log writer: its events, the applier's and delivery's writes "
                        "riding on it, and the fsync.");
    fprintf(out,
            "# HELP switchyard_commit_errors_total Group commits that failed, by reason.\n"
            "# TYPE switchyard_commit_errors_total counter\n"
            "switchyard_commit_errors_total{reason=\"full\"} %llu\n"
            "switchyard_commit_errors_total{reason=\"io\"} %llu\n",
            (unsigned long long)atomic_load(&s->metrics.commit_errors_full),
            (unsigned long long)atomic_load(&s->metrics.commit_errors_io));
    sy_cluster_render_metrics(s->cluster, out); /* nothing for a single hub */
    sy_fetcher_render_metrics(s->fetcher, out);  /* nothing without fetches */
    int have_stats = sy_store_stats(s->store, &st) == 0;
    if (have_stats)
        fprintf(out,
                "# HELP switchyard_log_events Events in the log.\n# TYPE switchyard_log_events gauge\n"
                "switchyard_log_events %llu\n"
                "# HELP switchyard_log_size_bytes Bytes of the LMDB file in use.\n"
                "# TYPE switchyard_log_size_bytes gauge\nswitchyard_log_size_bytes %llu\n"
                "# HELP switchyard_log_map_size_bytes Current LMDB map size.\n"
                "# TYPE switchyard_log_map_size_bytes gauge\nswitchyard_log_map_size_bytes %llu\n",
                (unsigned long long)st.events, (unsigned long long)st.used_bytes, (unsigned long long)st.map_size);
    if (have_stats) {
        static const char *const ops[] = SY_STORE_OP_NAMES;
        family(out, "switchyard_log_map_grows_total", "counter",
               "Times the LMDB map grew (or took the size another process gave it).");
        fprintf(out, "switchyard_log_map_grows_total %llu\n", (unsigned long long)st.map_grows);
        family(out, "switchyard_store_errors_total", "counter",
               "Failed storage operations by operation and reason (each aborted what it was part of).");
        for (int op = 0; op != SY_STORE_OP_COUNT; ++op)
            for (int k = 0; k != 2; ++k)
                fprintf(out, "switchyard_store_errors_total{op=\"%s\",reason=\"%s\"} %llu\n", ops[op],
                        k == 0 ? "full" : "io", (unsigned long long)st.errors[op][k]);
    }
    sy_txn_t *txn;
    if (s->applier != NULL && sy_txn_begin(s->store, 0, &txn) == 0) {
        uint64_t last = 0, cursor = 0;
        const char *name;
        json_t *n, *stats;
        sy_store_last_seq(txn, &last);
        sy_meta_get_u64(txn, "applier_cursor", &cursor);
        stats = sy_records_stats(txn);
        sy_txn_abort(txn);
        family(out, "switchyard_applier_cursor", "gauge", "Seq of the last event applied to golden records.");
        fprintf(out, "switchyard_applier_cursor %llu\n", (unsigned long long)cursor);
        family(out, "switchyard_applier_lag_events", "gauge", "Logged events not applied yet.");
        fprintf(out, "switchyard_applier_lag_events %llu\n", (unsigned long long)(last - cursor));
        family(out, "switchyard_applier_total", "counter",
               "Applier outcomes: observations, conflicts, reverts, echoes, stale, pushes_enqueued, ...");
        json_object_foreach(stats, name, n)
            fprintf(out, "switchyard_applier_total{outcome=\"%s\"} %lld\n", name, (long long)json_integer_value(n));
        json_decref(stats);
    }
    if (s->delivery != NULL)
        render_delivery(s, out);
    fprintf(out, "# HELP switchyard_uptime_seconds Seconds since start.\n# TYPE switchyard_uptime_seconds gauge\n"
                 "switchyard_uptime_seconds %lld\n",
            (long long)((sy_now_ms() - s->started_at_ms) / 1000));
}

/* The dashboard, compiled into the binary from hub/admin/dashboard/ (see CMakeLists.txt). */
extern const unsigned char sy_dashboard_index_html[], sy_dashboard_app_js[], sy_dashboard_style_css[];
extern const size_t sy_dashboard_index_html_len, sy_dashboard_app_js_len, sy_dashboard_style_css_len;
extern const unsigned char sy_dashboard_actions_js[];
extern const size_t sy_dashboard_actions_js_len;

/* Serves the dashboard's files: no token needed to load them (the page asks for it and sends it to the API). */
static int serve_dashboard(h2o_req_t *req, h2o_iovec_t path)
{
    static const struct {
        const char *path;
        const char *type;
        const unsigned char *data;
        const size_t *len;
    } files[] = {{"/admin", "text/html; charset=utf-8", sy_dashboard_index_html, &sy_dashboard_index_html_len},
                 {"/admin/", "text/html; charset=utf-8", sy_dashboard_index_html, &sy_dashboard_index_html_len},
                 {"/admin/index.html", "text/html; charset=utf-8", sy_dashboard_index_html, &sy_dashboard_index_html_len},
                 {"/admin/app.js", "text/javascript; charset=utf-8", sy_dashboard_app_js, &sy_dashboard_app_js_len},
                 {"/admin/actions.js", "text/javascript; charset=utf-8", sy_dashboard_actions_js, &sy_dashboard_actions_js_len},
                 {"/admin/style.css", "text/css; charset=utf-8", sy_dashboard_style_css, &sy_dashboard_style_css_len}};
    for (size_t i = 0; i != SY_ARRAY_SIZE(files); ++i) {
        if (!h2o_memis(path.base, path.len, files[i].path, strlen(files[i].path)))
            continue;
        req->res.status = 200;
        req->res.reason = "OK";
        req->res.content_length = *files[i].len;
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, files[i].type, strlen(files[i].type));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0, NULL,
                              H2O_STRLIT("default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL,
                              H2O_STRLIT("nosniff"));
        h2o_send_inline(req, (const char *)files[i].data, *files[i].len);
        return 1;
    }
    return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    sy_server_t *s = ((sy_loop_t *)req->conn->ctx)->server;
    h2o_iovec_t path = req->path_normalized;

    if (h2o_memis(path.base, path.len, H2O_STRLIT("/healthz"))) {
        static const char ok[] = "{\"status\":\"ok\"}";
        sy_http_send_json(req, 200, "OK", ok, sizeof(ok) - 1);
        return 0;
    }
    if (serve_dashboard(req, path))
        return 0;
    if (!authorized(req, s->conf->admin_token)) {
        static const char denied[] = "{\"error\":\"unauthorized\",\"message\":\"send Authorization: Bearer <admin "
                                     "token>\"}";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer"));
        sy_http_send_json(req, 401, "Unauthorized", denied, sizeof(denied) - 1);
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        if (out == NULL)
            return -1;
        render_metrics(s, out);
        fclose(out);
        req->res.status = 200;
        req->res.reason = "OK";
        req->res.content_length = len;
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("text/plain; version=0.0.4"));
        h2o_send_inline(req, text, len); /* copies into the request pool */
        free(text);
        return 0;
    }
    if (sy_admin_api(s, req) == 0)
        return 0;
    static const char nf[] = "{\"error\":\"not_found\",\"message\":\"no such admin resource\"}";
    sy_http_send_json(req, 404, "Not Found", nf, sizeof(nf) - 1);
    return 0;
}

void sy_admin_register(h2o_pathconf_t *pathconf)
{
    h2o_handler_t *h = h2o_create_handler(pathconf, sizeof(*h));
    h->on_req = on_req;
}
