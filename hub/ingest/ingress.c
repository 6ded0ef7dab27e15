/*
 * POST /hooks/{source}: the webhook receiver.
 *
 * Checks, in this order: route (404) → method (405) → size (413) → signature and timestamp (401) → JSON shape
 * and event id (400) → hand to the log writer. The answer (200 with the seq) is sent only when the writer's
 * transaction holding the event has committed with fsync; a full store answers 503 with Retry-After.
 *
 * Threading: the handler runs on a loop thread; the job it submits holds copies of everything the writer
 * needs (never pointers into the request). The writer posts the finished job back to the loop's receiver and
 * the loop answers. If the client went away meanwhile, the request's pool dispose callback has cleared
 * job->req, and the loop just frees the job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "connector.h"
#include "log.h"
#include "server.h"

#define MAX_HEADERS 128
#define RETRY_AFTER_SECONDS "30"
#define JSON_MAX_DEPTH 64

typedef struct st_req_ref_t req_ref_t;

typedef struct st_ingress_job_t {
    sy_log_job_t super;
    h2o_multithread_message_t msg;
    sy_loop_t *loop;
    h2o_req_t *req; /* NULL once the request is gone */
    req_ref_t *ref; /* lives in the request's pool */
    const sy_source_conf_t *source;
    int batch_body; /* the body held an array of events (HubSpot) or several (QuickBooks legacy): a per-event list */
    sy_append_t items[];
} ingress_job_t;

struct st_req_ref_t {
    ingress_job_t *job; /* NULL once answered */
};

static void on_req_dispose(void *p)
{
    req_ref_t *ref = p;
    if (ref->job != NULL)
        ref->job->req = NULL;
}

static void send_error(h2o_req_t *req, long source_index, int status, const char *reason, const char *body)
{
    sy_server_t *s = ((sy_loop_t *)req->conn->ctx)->server;
    sy_metrics_count_request(&s->metrics, source_index, status);
    sy_http_send_json(req, status, reason, body, strlen(body));
}

/* Appends s as a JSON string (quotes and escapes) to buf at *off, bounded by cap. */
static void append_json_string(char *buf, size_t cap, size_t *off, sy_slice_t s)
{
    static const char hex[] = "0123456789abcdef";
    if (*off + 2 > cap)
        return;
    buf[(*off)++] = '"';
    for (size_t i = 0; i != s.len && *off + 7 < cap; ++i) {
        unsigned char c = (unsigned char)s.base[i];
        if (c == '"' || c == '\\') {
            buf[(*off)++] = '\\';
            buf[(*off)++] = (char)c;
        } else if (c < 0x20) {
            *off += (size_t)snprintf(buf + *off, cap - *off, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
        } else {
            buf[(*off)++] = (char)c;
        }
    }
    buf[(*off)++] = '"';
}

static void respond_committed(ingress_job_t *job)
{
    h2o_req_t *req = job->req;
    sy_server_t *s = job->loop->server;
    sy_source_metrics_t *sm = &s->metrics.sources[job->source->index];
    size_t stored = 0, i;
    int all_duplicate = 1;

    for (i = 0; i != job->super.num_items; ++i) {
        stored += !job->items[i].duplicate;
        all_duplicate &= job->items[i].duplicate;
    }
    atomic_fetch_add_explicit(&sm->events_stored, stored, memory_order_relaxed);
    if (stored != 0)
        sy_metrics_count_events(sm, sy_now_ms(), stored);
    atomic_fetch_add_explicit(&sm->events_duplicate, job->super.num_items - stored, memory_order_relaxed);
    if (req == NULL)
        return;

    size_t cap = 64 + job->super.num_items * (SY_EVENT_ID_MAX * 6 + 64), off;
    char *body = h2o_mem_alloc_pool(&req->pool, cap);
    off = (size_t)snprintf(body, cap, "{\"seq\":%llu,\"duplicate\":%s", (unsigned long long)job->items[0].seq,
                           all_duplicate ? "true" : "false");
    if (job->batch_body) {
        off += (size_t)snprintf(body + off, cap - off, ",\"events\":[");
        for (i = 0; i != job->super.num_items; ++i) {
            off += (size_t)snprintf(body + off, cap - off, "%s{\"id\":", i != 0 ? "," : "");
            append_json_string(body, cap, &off, job->items[i].event_id);
            off += (size_t)snprintf(body + off, cap - off, ",\"seq\":%llu,\"duplicate\":%s}",
                                    (unsigned long long)job->items[i].seq, job->items[i].duplicate ? "true" : "false");
        }
        off += (size_t)snprintf(body + off, cap - off, "]");
    }
    off += (size_t)snprintf(body + off, cap - off, "}");
    sy_metrics_count_request(&s->metrics, (long)job->source->index, 200);
    sy_http_send_json(req, 200, "OK", body, off);
}

static void on_log_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    sy_loop_t *l = H2O_STRUCT_FROM_MEMBER(sy_loop_t, log_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        ingress_job_t *job = H2O_STRUCT_FROM_MEMBER(ingress_job_t, msg, msg);
        h2o_linklist_unlink(&msg->link);
        --l->inflight;
        if (job->req != NULL)
            job->ref->job = NULL;
        if (job->super.result == 0) {
            respond_committed(job);
        } else if (job->req != NULL) {
            h2o_add_header(&job->req->pool, &job->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                           H2O_STRLIT(RETRY_AFTER_SECONDS));
            send_error(job->req, (long)job->source->index, 503, "Service Unavailable",
                       job->super.result != SY_EFULL && l->server->cluster != NULL
                           ? "{\"error\":\"cluster_unavailable\",\"message\":\"the cluster did not acknowledge the "
                             "event in time; retry later (a retry is deduplicated)\"}"
                       : job->super.result == SY_EFULL
                           ? "{\"error\":\"storage_full\",\"message\":\"the event log is full; nothing was stored, "
                             "retry later\"}"
                           : "{\"error\":\"storage_error\",\"message\":\"the event log could not be written; "
                             "nothing was stored, retry later\"}");
        }
        free(job);
    }
}

/* Writer thread: hand the job back to its loop. */
static void on_job_done(sy_log_job_t *super)
{
    ingress_job_t *job = (ingress_job_t *)super;
    h2o_multithread_send_message(&job->loop->log_receiver, &job->msg);
}

static int build_view(sy_loop_t *l, h2o_req_t *req, const sy_source_conf_t *src, sy_request_view_t *view)
{
    size_t n = req->headers.size < MAX_HEADERS ? req->headers.size : MAX_HEADERS;
    for (size_t i = 0; i != n; ++i) {
        h2o_header_t *h = req->headers.entries + i;
        l->headers[i] = (sy_header_t){{h->name->base, h->name->len}, {h->value.base, h->value.len}};
    }
    view->method = (sy_slice_t){req->input.method.base, req->input.method.len};
    view->headers = l->headers;
    view->num_headers = n;
    view->body = (sy_slice_t){req->entity.base != NULL ? req->entity.base : "", req->entity.len};
    view->now_ms = sy_now_ms();
    view->scratch = l->event_scratch;
    view->scratch_size = l->event_scratch_size;
    if (src->public_url != NULL) {
        view->url = sy_slice_cstr(src->public_url);
    } else {
        /* Rebuild what the sender called: scheme://Host/path?query. */
        const char *scheme = req->scheme == &H2O_URL_SCHEME_HTTPS ? "https://" : "http://";
        size_t sl = strlen(scheme), len = sl + req->input.authority.len + req->input.path.len;
        char *url = h2o_mem_alloc_pool(&req->pool, len);
        memcpy(url, scheme, sl);
        memcpy(url + sl, req->input.authority.base, req->input.authority.len);
        memcpy(url + sl + req->input.authority.len, req->input.path.base, req->input.path.len);
        view->url = (sy_slice_t){url, len};
    }
    return 0;
}

/* Copies what the writer needs out of the request into one allocation owned by the job. */
static ingress_job_t *build_job(sy_loop_t *l, h2o_req_t *req, const sy_source_conf_t *src, const sy_event_ref_t *events,
                                size_t n, const char *sig_scheme)
{
    char *encoded[n];
    size_t encoded_len[n], extra = strlen(src->name), i;
    int64_t now = sy_now_ms();
    ssize_t ua_idx = h2o_find_header(&req->headers, H2O_TOKEN_USER_AGENT, -1);
    sy_slice_t ua = ua_idx >= 0 ? (sy_slice_t){req->headers.entries[ua_idx].value.base,
                                               req->headers.entries[ua_idx].value.len < 256
                                                   ? req->headers.entries[ua_idx].value.len
                                                   : 256}
                                : (sy_slice_t){"", 0};
    ingress_job_t *job = NULL;

    for (i = 0; i != n; ++i) {
        sy_event_t ev = {.received_at_ms = now,
                         .occurred_at_ms = events[i].occurred_at_ms,
                         .source = sy_slice_cstr(src->name),
                         .connector = sy_slice_cstr(src->connector->name),
                         .event_id = events[i].id,
                         .type = events[i].type,
                         .signature = sy_slice_cstr(sig_scheme),
                         .user_agent = ua,
                         .batch_index = (uint32_t)i,
                         .batch_size = (uint32_t)n,
                         .body = events[i].raw};
        if (sy_codec_event_encode(&ev, &encoded[i], &encoded_len[i]) != 0)
            goto Exit;
        extra += events[i].id.len + encoded_len[i];
    }
    if ((job = malloc(sizeof(*job) + n * sizeof(job->items[0]) + extra)) == NULL)
        goto Exit;
    memset(job, 0, sizeof(*job));
    char *p = (char *)&job->items[n];
    memcpy(p, src->name, strlen(src->name));
    sy_slice_t source = {p, strlen(src->name)};
    p += source.len;
    for (i = 0; i != n; ++i) {
        sy_append_t *it = &job->items[i];
        memset(it, 0, sizeof(*it));
        it->source = source;
        memcpy(p, events[i].id.base, events[i].id.len);
        it->event_id = (sy_slice_t){p, events[i].id.len};
        p += events[i].id.len;
        memcpy(p, encoded[i], encoded_len[i]);
        it->value = (sy_slice_t){p, encoded_len[i]};
        p += encoded_len[i];
    }
    job->super.items = job->items;
    job->super.num_items = n;
    job->super.on_done = on_job_done;
    job->loop = l;
    job->req = req;
    job->source = src;
Exit:
    while (i-- > 0)
        free(encoded[i]);
    return job;
}

static const char *signature_scheme(const sy_source_conf_t *src)
{
    return src->connector->scheme != NULL ? src->connector->scheme(&src->verify) : src->connector->name;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    sy_loop_t *l = (sy_loop_t *)req->conn->ctx;
    sy_server_t *s = l->server;
    static const char prefix[] = "/hooks/";
    h2o_iovec_t path = req->path_normalized;
    const sy_source_conf_t *src = NULL;
    char body[512];

    if (path.len > sizeof(prefix) - 1 && memcmp(path.base, prefix, sizeof(prefix) - 1) == 0 &&
        memchr(path.base + sizeof(prefix) - 1, '/', path.len - (sizeof(prefix) - 1)) == NULL)
        src = sy_config_find_source(s->conf, path.base + sizeof(prefix) - 1, path.len - (sizeof(prefix) - 1));
    if (src == NULL) {
        send_error(req, -1, 404, "Not Found",
                   "{\"error\":\"not_found\",\"message\":\"webhooks are posted to /hooks/{source} for a configured "
                   "source\"}");
        return 0;
    }
    long si = (long)src->index;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("POST"));
        send_error(req, si, 405, "Method Not Allowed",
                   "{\"error\":\"method_not_allowed\",\"message\":\"webhooks are accepted with POST only\"}");
        return 0;
    }
    if (req->entity.len > s->conf->max_body) {
        send_error(req, si, 413, "Payload Too Large",
                   "{\"error\":\"body_too_large\",\"message\":\"the body is larger than ingress.max_body\"}");
        return 0;
    }

    sy_request_view_t view;
    build_view(l, req, src, &view);
    sy_verify_result_t vr = src->connector->verify(&src->verify, &view);
    if (vr != SY_VERIFY_OK) {
        atomic_fetch_add_explicit(&s->metrics.sources[si].signature_failures[vr], 1, memory_order_relaxed);
        snprintf(body, sizeof(body), "{\"error\":\"signature_invalid\",\"check\":\"%s\",\"message\":\"%s\"}",
                 sy_verify_result_code(vr), sy_verify_result_text(vr));
        send_error(req, si, 401, "Unauthorized", body);
        return 0;
    }

    size_t num_events = 0;
    const char *errmsg = "the body is not a valid event";
    int prc = src->connector->parse(&l->json, &view, l->events, s->conf->max_batch_events, &num_events, &errmsg);
    for (size_t i = 0; prc == 0 && i != num_events; ++i) {
        int64_t t = l->events[i].occurred_at_ms;
        if (t != 0 && !sy_event_time_plausible(t, view.now_ms)) {
            errmsg = "the event's time (as the provider stamped it) is outside the accepted window: "
                     SY_EVENT_TIME_WINDOW_TEXT;
            prc = SY_EPARSE;
        }
    }
    if (prc != 0 || num_events == 0) {
        /* errmsg is a static sentence from the connector (it never quotes the body); escaped all the same. */
        size_t off = (size_t)snprintf(body, sizeof(body), "{\"error\":\"bad_request\",\"message\":");
        append_json_string(body, sizeof(body) - 2, &off, sy_slice_cstr(prc != 0 ? errmsg : "the body holds no event"));
        body[off++] = '}';
        body[off] = '\0';
        send_error(req, si, 400, "Bad Request", body);
        return 0;
    }

    ingress_job_t *job = build_job(l, req, src, l->events, num_events, signature_scheme(src));
    if (job == NULL) {
        send_error(req, si, 500, "Internal Server Error", "{\"error\":\"internal\",\"message\":\"out of memory\"}");
        return 0;
    }
    /* A JSON array, or an object holding several events (QuickBooks' legacy eventNotifications): one entry each. */
    job->batch_body = sy_json_type(&l->json, 0) == SY_JSON_ARRAY || num_events > 1;
    /* A cluster node answers after the stream's acknowledgement (and its own log caught up), cluster.h. */
    if ((s->cluster != NULL ? sy_cluster_submit(s->cluster, &job->super) : sy_writer_submit(s->writer, &job->super)) !=
        0) {
        free(job);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT(RETRY_AFTER_SECONDS));
        send_error(req, si, 503, "Service Unavailable",
                   "{\"error\":\"shutting_down\",\"message\":\"the hub is stopping; retry later\"}");
        return 0;
    }
    req_ref_t *ref = h2o_mem_alloc_shared(&req->pool, sizeof(*ref), on_req_dispose);
    ref->job = job;
    job->ref = ref;
    ++l->inflight;
    return 0;
}

void sy_ingress_register(h2o_pathconf_t *pathconf)
{
    h2o_handler_t *h = h2o_create_handler(pathconf, sizeof(*h));
    h->on_req = on_req;
}

void sy_ingress_loop_init(sy_loop_t *l)
{
    const sy_config_t *conf = l->server->conf;
    h2o_multithread_register_receiver(l->ctx.queue, &l->log_receiver, on_log_messages);
    /* Token cap: a body of max_body bytes has at most about max_body/2 tokens. */
    sy_json_init(&l->json, (size_t)(conf->max_body / 2 + 16), JSON_MAX_DEPTH);
    l->events = calloc(conf->max_batch_events, sizeof(*l->events));
    l->headers = calloc(MAX_HEADERS, sizeof(*l->headers));
    /* For ids and events a connector composes (connector.h); the events are copied out before the next request. */
    l->event_scratch_size = (size_t)conf->max_batch_events * SY_EVENT_SCRATCH_PER_EVENT;
    l->event_scratch = malloc(l->event_scratch_size);
    if (l->events == NULL || l->headers == NULL || l->event_scratch == NULL)
        abort(); /* start-up allocation: out of memory here is not recoverable */
}

void sy_ingress_loop_dispose(sy_loop_t *l)
{
    if (l->loop == NULL)
        return;
    h2o_multithread_unregister_receiver(l->ctx.queue, &l->log_receiver);
    sy_json_dispose(&l->json);
    free(l->events);
    free(l->headers);
    free(l->event_scratch);
}
