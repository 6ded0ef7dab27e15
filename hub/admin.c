/*
 * The admin listener: GET /healthz (open, for load balancers and tests), GET /metrics (Prometheus text)
 * and, in later versions, /admin/api/.... Everything but /healthz needs `Authorization: Bearer <admin token>`,
 * compared in constant time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
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
                        "Group commit latency including fsync.");
    fprintf(out,
            "# HELP switchyard_commit_errors_total Group commits that failed, by reason.\n"
            "# TYPE switchyard_commit_errors_total counter\n"
            "switchyard_commit_errors_total{reason=\"full\"} %llu\n"
            "switchyard_commit_errors_total{reason=\"io\"} %llu\n",
            (unsigned long long)atomic_load(&s->metrics.commit_errors_full),
            (unsigned long long)atomic_load(&s->metrics.commit_errors_io));
    if (sy_store_stats(s->store, &st) == 0)
        fprintf(out,
                "# HELP switchyard_log_events Events in the log.\n# TYPE switchyard_log_events gauge\n"
                "switchyard_log_events %llu\n"
                "# HELP switchyard_log_size_bytes Bytes of the LMDB file in use.\n"
                "# TYPE switchyard_log_size_bytes gauge\nswitchyard_log_size_bytes %llu\n"
                "# HELP switchyard_log_map_size_bytes Current LMDB map size.\n"
                "# TYPE switchyard_log_map_size_bytes gauge\nswitchyard_log_map_size_bytes %llu\n",
                (unsigned long long)st.events, (unsigned long long)st.used_bytes, (unsigned long long)st.map_size);
    fprintf(out, "# HELP switchyard_uptime_seconds Seconds since start.\n# TYPE switchyard_uptime_seconds gauge\n"
                 "switchyard_uptime_seconds %lld\n",
            (long long)((sy_now_ms() - s->started_at_ms) / 1000));
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
    static const char nf[] = "{\"error\":\"not_found\",\"message\":\"no such admin resource\"}";
    sy_http_send_json(req, 404, "Not Found", nf, sizeof(nf) - 1);
    return 0;
}

void sy_admin_register(h2o_pathconf_t *pathconf)
{
    h2o_handler_t *h = h2o_create_handler(pathconf, sizeof(*h));
    h->on_req = on_req;
}
