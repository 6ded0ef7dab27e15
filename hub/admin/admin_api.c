/*
 * The admin JSON API (/admin/api/...), behind the bearer token checked by admin.c. Errors are JSON
 * {"error": code, "message": sentence} with the matching status. Reads use one LMDB read transaction each;
 * changes (merge, split, queue and dead-letter actions) one write transaction each.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_api.h"
#include "admin_alerts.h"
#include "change.h"
#include "cluster.h"
#include "codec.h"
#include "compact.h"
#include "health_cache.h"
#include "log.h"
#include "map.h"
#include "ops.h"
#include "queue.h"
#include "records.h"
#include "reconcile_jobs.h"
#include "replay.h"

#define MAX_LIST 1000
#define DEFAULT_LIST 100

void sy_admin_send_doc(h2o_req_t *req, int status, const char *reason, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (text == NULL) {
        static const char oom[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}";
        sy_http_send_json(req, 500, "Internal Server Error", oom, sizeof(oom) - 1);
        return;
    }
    sy_http_send_json(req, status, reason, text, strlen(text)); /* copied into the request pool */
    free(text);
}

static void fail(h2o_req_t *req, int status, const char *reason, const char *code, const char *message)
{
    sy_admin_send_doc(req, status, reason, json_pack("{s:s, s:s}", "error", code, "message", message));
}

/* Value of query parameter name, percent-decoded into buf; NULL when absent. */
static const char *query_param(h2o_req_t *req, const char *name, char *buf, size_t len)
{
    if (req->query_at == SIZE_MAX)
        return NULL;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t nl = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp != NULL ? amp : end;
        if ((size_t)(stop - q) > nl && memcmp(q, name, nl) == 0 && q[nl] == '=') {
            size_t o = 0;
            for (const char *c = q + nl + 1; c < stop && o + 1 < len; ++c) {
                if (*c == '+') {
                    buf[o++] = ' ';
                } else if (*c == '%' && stop - c > 2 && isxdigit((unsigned char)c[1]) && isxdigit((unsigned char)c[2])) {
                    char hex[3] = {c[1], c[2], 0};
                    buf[o++] = (char)strtol(hex, NULL, 16);
                    c += 2;
                } else {
                    buf[o++] = *c;
                }
            }
            buf[o] = '\0';
            return buf;
        }
        q = stop + 1;
    }
    return NULL;
}

static size_t list_limit(h2o_req_t *req)
{
    char buf[32];
    const char *v = query_param(req, "limit", buf, sizeof(buf));
    long n = v != NULL ? strtol(v, NULL, 10) : DEFAULT_LIST;
    return n <= 0 ? DEFAULT_LIST : n > MAX_LIST ? MAX_LIST : (size_t)n;
}

/* The POST body as JSON (an object), or NULL after answering 400. */
static json_t *body_json(h2o_req_t *req)
{
    json_error_t jerr;
    json_t *doc = json_loadb(req->entity.base != NULL ? req->entity.base : "", req->entity.len, 0, &jerr);
    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        fail(req, 400, "Bad Request", "bad_request", "the body must be a JSON object");
        return NULL;
    }
    return doc;
}

static int path_is(h2o_iovec_t path, const char *s)
{
    return h2o_memis(path.base, path.len, s, strlen(s));
}

/* If path is prefix + tail (tail without '/'), copies tail into out. */
static int path_tail(h2o_iovec_t path, const char *prefix, const char *suffix, char *out, size_t len)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    if (path.len <= pl + sl || memcmp(path.base, prefix, pl) != 0 || memcmp(path.base + path.len - sl, suffix, sl) != 0)
        return 0;
    size_t tl = path.len - pl - sl;
    if (tl >= len || memchr(path.base + pl, '/', tl) != NULL)
        return 0;
    memcpy(out, path.base + pl, tl);
    out[tl] = '\0';
    return 1;
}

/* --- status and rates --------------------------------------------------------------------------------------- */

static json_t *spoke_entry(json_t *spokes, const char *name)
{
    json_t *e = json_object_get(spokes, name);
    if (e == NULL) {
        e = json_pack("{s:i, s:f, s:i}", "queued", 0, "oldest_age_s", 0.0, "dead", 0);
        json_object_set_new(spokes, name, e);
    }
    return e;
}

/* {spoke: {queued, oldest_age_s, dead}} from the per-spoke counters (queue.h): O(spokes) whatever the queue holds. */
static json_t *spoke_counts(json_t *summary, int64_t now)
{
    json_t *spokes = json_object(), *q;
    const char *name;
    json_object_foreach(summary, name, q)
    {
        json_t *e = spoke_entry(spokes, name);
        json_int_t queued = json_integer_value(json_object_get(q, "queued"));
        json_int_t oldest = json_integer_value(json_object_get(q, "oldest_enqueued_ms"));
        json_object_set_new(e, "queued", json_integer(queued));
        json_object_set_new(e, "oldest_age_s", json_real(queued != 0 && oldest != 0 ? (double)(now - oldest) / 1000.0 : 0.0));
        json_object_set_new(e, "dead", json_integer(json_integer_value(json_object_get(q, "dead"))));
    }
    return spokes;
}

static json_t *status_doc(sy_server_t *s)
{
    static const char *const breaker[] = {"closed", "open", "half-open"};
    const sy_config_t *conf = s->conf;
    sy_txn_t *txn;
    uint64_t last = 0, cursor = 0, events = 0;
    json_t *stats = NULL, *summary = NULL, *spokes;
    int rc = sy_txn_begin(s->store, 0, &txn);
    if (rc == 0) {
        if ((rc = sy_store_last_seq(txn, &last)) == 0 && (rc = sy_txn_count(txn, SY_DB_EVENTS, &events)) == 0 &&
            (summary = sy_queue_summary(txn)) == NULL)
            rc = SY_EIO;
        sy_meta_get_u64(txn, "applier_cursor", &cursor); /* absent before the first batch: 0 */
        stats = sy_records_stats(txn);
        sy_txn_abort(txn);
    }
    if (rc < 0) { /* figures from part of the log or queue would mislead: the caller answers 503 */
        sy_log(SY_LOG_ERROR, "admin: status: cannot read the store (%s)", sy_strerror(rc));
        json_decref(summary);
        json_decref(stats);
        return NULL;
    }
    spokes = spoke_counts(summary, sy_now_ms());
    json_decref(summary);
    json_t *sources = json_object();
    for (size_t i = 0; i != conf->num_sources; ++i) {
        sy_source_metrics_t *m = &s->metrics.sources[i];
        uint64_t sigfail = 0;
        for (int r = 1; r != SY_VERIFY_RESULT_COUNT; ++r)
            sigfail += atomic_load(&m->signature_failures[r]);
        json_object_set_new(sources, conf->sources[i].name,
                            json_pack("{s:I, s:I, s:I}", "accepted", (json_int_t)atomic_load(&m->events_stored),
                                      "duplicates", (json_int_t)atomic_load(&m->events_duplicate), "signature_failures",
                                      (json_int_t)sigfail));
        if (conf->sources[i].api_base_url != NULL) {
            json_t *e = spoke_entry(spokes, conf->sources[i].name);
            int b = atomic_load(&m->breaker_open);
            json_object_set_new(e, "breaker", json_string(breaker[b >= 0 && b <= 2 ? b : 0]));
            json_object_set_new(e, "done", json_integer((json_int_t)atomic_load(&m->pushes[SY_PUSH_IDX_done])));
            json_object_set_new(e, "retry", json_integer((json_int_t)atomic_load(&m->pushes[SY_PUSH_IDX_retry])));
            json_object_set_new(e, "rate_limited",
                                json_integer((json_int_t)atomic_load(&m->pushes[SY_PUSH_IDX_rate_limited])));
        }
    }
    json_t *applier = json_pack("{s:b, s:b, s:I, s:I, s:o}", "enabled", s->applier != NULL, "paused",
                                s->applier != NULL && sy_applier_paused(s->applier), "cursor", (json_int_t)cursor,
                                "lag", (json_int_t)(last - cursor), "stats", stats != NULL ? stats : json_object());
    return json_pack("{s:s, s:I, s:{s:I, s:I}, s:o, s:o, s:{s:o}, s:{s:o}}", "version", SY_VERSION, "uptime_s",
                     (json_int_t)((sy_now_ms() - s->started_at_ms) / 1000), "log", "last_seq", (json_int_t)last, "events",
                     (json_int_t)events, "applier", applier, "policy",
                     s->applier != NULL ? sy_applier_policy_info(s->applier) : json_null(), "delivery", "spokes",
                     spokes, "ingress", "sources", sources);
}

static json_t *rate_doc(sy_server_t *s)
{
    int64_t now_min = sy_now_ms() / 60000;
    json_t *series = json_object();
    for (size_t i = 0; i != s->conf->num_sources; ++i) {
        sy_source_metrics_t *m = &s->metrics.sources[i];
        json_t *arr = json_array();
        for (int64_t minute = now_min - SY_RATE_MINUTES + 1; minute <= now_min; ++minute) {
            size_t slot = (size_t)(minute % SY_RATE_MINUTES);
            uint64_t n = atomic_load(&m->minute_id[slot]) == minute ? atomic_load(&m->minute_count[slot]) : 0;
            json_array_append_new(arr, json_integer((json_int_t)n));
        }
        json_object_set_new(series, s->conf->sources[i].name, arr);
    }
    return json_pack("{s:i, s:I, s:o}", "buckets_ms", 60000, "end_ms", (json_int_t)((now_min + 1) * 60000), "series",
                     series);
}

/* --- records -------------------------------------------------------------------------------------------------- */

typedef struct st_name_search_t {
    const char *needle;
    json_t *results;
    size_t limit;
} name_search_t;

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; hay != NULL && *hay != '\0'; ++hay)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

static int on_name_search(void *arg, sy_slice_t key, sy_slice_t val)
{
    name_search_t *ns = arg;
    json_t *rec = sy_codec_doc_decode(val.base, val.len);
    json_t *fields = json_object_get(rec, "fields");
    if (rec != NULL && json_object_get(rec, "merged_into") == NULL &&
        (contains_ci(json_string_value(json_object_get(json_object_get(fields, "name"), "value")), ns->needle) ||
         contains_ci(json_string_value(json_object_get(json_object_get(fields, "company"), "value")), ns->needle)))
        json_array_append(ns->results, rec);
    json_decref(rec);
    return json_array_size(ns->results) >= ns->limit;
}

static void records_find(sy_server_t *s, h2o_req_t *req, const sy_policy_t *p)
{
    char q[512];
    sy_txn_t *txn;
    int rc = 0;
    if (query_param(req, "q", q, sizeof(q)) == NULL || q[0] == '\0') {
        fail(req, 400, "Bad Request", "bad_request", "give ?q= an email, a name, cust_N or source:external_id");
        return;
    }
    if (sy_txn_begin(s->store, 0, &txn) != 0) {
        fail(req, 503, "Service Unavailable", "storage_error", "cannot read the records");
        return;
    }
    json_t *results = json_array();
    char *id = sy_records_find(txn, p, q);
    json_t *rec = id != NULL ? sy_records_load(txn, id) : NULL;
    if (rec != NULL) {
        json_array_append_new(results, rec);
    } else {
        name_search_t ns = {q, results, 20};
        rc = sy_txn_scan(txn, SY_DB_RECORDS, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_name_search, &ns);
    }
    free(id);
    sy_txn_abort(txn);
    if (rc < 0) { /* "no match" would be a wrong answer */
        json_decref(results);
        fail(req, 503, "Service Unavailable", "storage_error", "cannot read the records");
        return;
    }
    sy_admin_send_doc(req, 200, "OK", json_pack("{s:o}", "results", results));
}

/* A change (change.c, the same code the CLI runs when no hub does) in one write transaction. The log line names
 * the client (the CLI sends "switchyard-cli/VERSION (pid N)"): an audit trail of who changed what through the API.
 * On a cluster's lease holder a merge or split goes through the stream instead, to be made at the same log position
 * on every hub (sy_cluster_change, change_shared.h); this thread waits for it, with the same answers. */
static void change(sy_server_t *s, h2o_req_t *req, const sy_change_t *c)
{
    char err[512] = "";
    json_t *result = NULL;
    char client[96] = "-";
    ssize_t ua = h2o_find_header(&req->headers, H2O_TOKEN_USER_AGENT, -1);
    if (ua >= 0) { /* the client's own text: printable characters only, capped, so it cannot forge log lines */
        h2o_iovec_t v = req->headers.entries[ua].value;
        size_t n = v.len < sizeof(client) - 1 ? v.len : sizeof(client) - 1;
        for (size_t i = 0; i != n; ++i)
            client[i] = isprint((unsigned char)v.base[i]) ? v.base[i] : '?';
        client[n] = '\0';
    }
    int shared = s->cluster != NULL && (c->kind == SY_CHANGE_MERGE || c->kind == SY_CHANGE_SPLIT);
    int rc = shared ? sy_cluster_change(s->cluster, c, &result, err, sizeof(err))
                    : sy_change_run(s->store, c, &result, err, sizeof(err));
    sy_log(SY_LOG_INFO, "admin: POST %.*s from %s: %s", (int)req->path_normalized.len, req->path_normalized.base,
           client, rc == 0 ? "done" : err[0] != '\0' ? err : sy_strerror(rc));
    if (rc == 0) {
        sy_admin_send_doc(req, 200, "OK", result);
        return;
    }
    if (rc == SY_ENOTFOUND)
        fail(req, 404, "Not Found", "not_found", err[0] != '\0' ? err : "no such item");
    else if (rc == SY_EINVAL)
        fail(req, 409, "Conflict", "refused", err[0] != '\0' ? err : "refused");
    else if (shared && rc == SY_EIO) {
        /* Like an event's 503: the change may still be made, on every hub alike. */
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("5"));
        fail(req, 503, "Service Unavailable", "cluster_unavailable", err);
    } else
        fail(req, 503, "Service Unavailable", "storage_error", sy_strerror(rc));
}

/* --- events ----------------------------------------------------------------------------------------------------- */

static json_t *event_doc(const sy_event_t *ev, int with_body)
{
    json_t *o = json_pack("{s:I, s:s%, s:s%, s:s%, s:I, s:I, s:I}", "seq", (json_int_t)ev->seq, "source", ev->source.base,
                          ev->source.len, "event_id", ev->event_id.base, ev->event_id.len, "type", ev->type.base,
                          ev->type.len, "received_at_ms", (json_int_t)ev->received_at_ms, "occurred_at_ms",
                          (json_int_t)ev->occurred_at_ms, "body_bytes", (json_int_t)ev->body.len);
    if (with_body) {
        json_t *body = sy_event_body_json(ev, NULL);
        json_object_set_new(o, "body", body != NULL ? body : json_null());
    }
    return o;
}

static void events_list(sy_server_t *s, h2o_req_t *req)
{
    char source[128], type[128], after_s[32];
    const char *src = query_param(req, "source", source, sizeof(source));
    const char *typ = query_param(req, "type", type, sizeof(type));
    const char *aft = query_param(req, "after", after_s, sizeof(after_s));
    size_t limit = list_limit(req);
    sy_txn_t *txn;
    sy_event_t ev;
    uint64_t after = aft != NULL ? strtoull(aft, NULL, 10) : 0, last = 0;
    if (sy_txn_begin(s->store, 0, &txn) != 0) {
        fail(req, 503, "Service Unavailable", "storage_error", "cannot read the log");
        return;
    }
    /* Without ?after=, the newest page. */
    if (aft == NULL && sy_store_last_seq(txn, &last) == 0 && src == NULL && typ == NULL)
        after = last > limit ? last - limit : 0;
    json_t *list = json_array();
    while (json_array_size(list) < limit && sy_store_event_next(txn, after, &ev) == 0) {
        after = ev.seq;
        if ((src != NULL && !sy_slice_eq_cstr(ev.source, src)) || (typ != NULL && !sy_slice_eq_cstr(ev.type, typ)))
            continue;
        json_array_append_new(list, event_doc(&ev, 0));
    }
    sy_txn_abort(txn);
    sy_admin_send_doc(req, 200, "OK", json_pack("{s:o, s:I}", "events", list, "next_after", (json_int_t)after));
}

static void event_one(sy_server_t *s, h2o_req_t *req, const char *seq_text)
{
    char *end;
    uint64_t seq = strtoull(seq_text, &end, 10);
    sy_txn_t *txn;
    sy_event_t ev;
    if (*end != '\0' || end == seq_text) {
        fail(req, 400, "Bad Request", "bad_request", "an event is addressed by its seq (a number)");
        return;
    }
    if (sy_txn_begin(s->store, 0, &txn) != 0) {
        fail(req, 503, "Service Unavailable", "storage_error", "cannot read the log");
        return;
    }
    if (sy_store_event_get(txn, seq, &ev) == 0)
        sy_admin_send_doc(req, 200, "OK", event_doc(&ev, 1));
    else
        fail(req, 404, "Not Found", "not_found", "no event with that seq");
    sy_txn_abort(txn);
}

/* --- policy ------------------------------------------------------------------------------------------------------ */

static void policy_reload(sy_server_t *s, h2o_req_t *req)
{
    sy_error_t err = {0};
    char msg[900];
    if (sy_applier_reload(s->applier, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        /* The running policy stays: say why the new one was refused. */
        sy_admin_send_doc(req, 422, "Unprocessable Entity",
                          json_pack("{s:s, s:s, s:o}", "error", "policy_invalid", "message", msg, "policy",
                                    sy_applier_policy_info(s->applier)));
        return;
    }
    sy_admin_send_doc(req, 200, "OK", json_pack("{s:b, s:o}", "reloaded", 1, "policy", sy_applier_policy_info(s->applier)));
}

/* Checks a posted policy file (YAML in the body) without touching the running one. */
static void policy_check(sy_server_t *s, h2o_req_t *req)
{
    char dir[600], path[700], msg[900];
    sy_error_t err = {0};
    sy_policy_t *p;
    /* A private directory, and the file named policy.yaml in it: the hash covers the name. */
    snprintf(dir, sizeof(dir), "%s/policy-check-XXXXXX", s->conf->data_dir);
    if (mkdtemp(dir) == NULL) {
        fail(req, 503, "Service Unavailable", "storage_error", "cannot make a temporary directory in the data dir");
        return;
    }
    snprintf(path, sizeof(path), "%s/policy.yaml", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ssize_t w = fd >= 0 ? write(fd, req->entity.base != NULL ? req->entity.base : "", req->entity.len) : -1;
    if (fd >= 0)
        close(fd);
    int rc = w == (ssize_t)req->entity.len ? sy_policy_load(&p, path, &err) : SY_EIO;
    unlink(path);
    rmdir(dir);
    if (rc != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        /* Name the posted text "policy.yaml", never the server's temporary directory (wherever it appears). */
        char shown[1000], prefix[700];
        size_t pl = (size_t)snprintf(prefix, sizeof(prefix), "%s/", dir), o = 0;
        for (const char *m = msg; *m != '\0' && o + 1 < sizeof(shown);) {
            if (strncmp(m, prefix, pl) == 0) {
                m += pl;
                continue;
            }
            shown[o++] = *m++;
        }
        shown[o] = '\0';
        sy_admin_send_doc(req, 422, "Unprocessable Entity",
                          json_pack("{s:b, s:s, s:s, s:i, s:i}", "ok", 0, "error", "policy_invalid", "message", shown,
                                    "line", (int)err.line, "column", (int)err.column));
        return;
    }
    char *summary = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&summary, &len);
    if (out != NULL) {
        sy_policy_summary(p, out);
        fclose(out);
    }
    sy_admin_send_doc(req, 200, "OK",
                      json_pack("{s:b, s:s, s:I, s:I, s:s}", "ok", 1, "hash", p->hash, "fields", (json_int_t)p->num_fields,
                                "sources", (json_int_t)p->num_sources, "summary", summary != NULL ? summary : ""));
    free(summary);
    sy_policy_destroy(p);
}

static void map(sy_server_t *s, h2o_req_t *req, const sy_policy_t *p)
{
    char format[16];
    const char *f = query_param(req, "format", format, sizeof(format));
    if (f == NULL || strcmp(f, "json") == 0) {
        sy_admin_send_doc(req, 200, "OK", sy_map_json(p));
        return;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    int rc = out != NULL ? sy_map_write(p, f, out) : SY_ENOMEM;
    if (out != NULL)
        fclose(out);
    if (rc != 0) {
        free(text);
        fail(req, 400, "Bad Request", "bad_request", "format is json, mermaid or dot");
        return;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain; charset=utf-8"));
    h2o_send_inline(req, text, len);
    free(text);
}

/* --- replay jobs ----------------------------------------------------------------------------------------------- */

static void replay_start(sy_server_t *s, h2o_req_t *req)
{
    json_t *body = body_json(req);
    sy_replay_spec_t spec;
    char id[32], err[300] = "";
    if (body == NULL)
        return;
    sy_replay_spec_init(&spec);
    const char *mode = json_string_value(json_object_get(body, "mode"));
    const char *spoke = json_string_value(json_object_get(body, "spoke"));
    const char *since = json_string_value(json_object_get(body, "since"));
    const char *until = json_string_value(json_object_get(body, "until"));
    spec.repush = mode != NULL && strcmp(mode, "repush") == 0;
    spec.dry_run = json_is_true(json_object_get(body, "dry_run"));
    if (json_is_integer(json_object_get(body, "from_seq")))
        spec.from_seq = (uint64_t)json_integer_value(json_object_get(body, "from_seq"));
    if (json_is_integer(json_object_get(body, "to_seq")))
        spec.to_seq = (uint64_t)json_integer_value(json_object_get(body, "to_seq"));
    snprintf(spec.source, sizeof(spec.source), "%s", json_string_value(json_object_get(body, "source")) != NULL
                                                          ? json_string_value(json_object_get(body, "source"))
                                                          : "");
    snprintf(spec.type, sizeof(spec.type), "%s", json_string_value(json_object_get(body, "type")) != NULL
                                                      ? json_string_value(json_object_get(body, "type"))
                                                      : "");
    snprintf(spec.spoke, sizeof(spec.spoke), "%s", spoke != NULL ? spoke : "");
    if ((mode != NULL && !spec.repush && strcmp(mode, "reapply") != 0) || (spec.repush && spoke == NULL) ||
        (since != NULL && sy_parse_time_ms(since, &spec.since_ms) != 0) ||
        (until != NULL && sy_parse_time_ms(until, &spec.until_ms) != 0)) {
        json_decref(body);
        fail(req, 400, "Bad Request", "bad_request",
             "give {\"mode\": \"reapply\"|\"repush\", \"spoke\" (repush), \"since\"/\"until\" (UTC, e.g. "
             "2026-11-20T08:00Z), \"from_seq\", \"to_seq\", \"source\", \"type\", \"dry_run\"}");
        return;
    }
    json_decref(body);
    if (spec.repush) { /* checked now, against the running policy, so the client hears it as a bad request */
        const sy_policy_t *p = sy_applier_policy_acquire(s->applier);
        int known = sy_policy_source_index(p, spec.spoke) != SY_POLICY_NONE;
        sy_applier_policy_release(s->applier);
        if (!known) {
            snprintf(err, sizeof(err), "the policy has no source \"%s\"", spec.spoke);
            fail(req, 400, "Bad Request", "bad_request", err);
            return;
        }
    }
    int rc = sy_replay_jobs_start(s->replays, &spec, id, sizeof(id), err, sizeof(err));
    if (rc == SY_EFULL) {
        fail(req, 409, "Conflict", "busy", err);
        return;
    }
    if (rc != 0) {
        fail(req, 500, "Internal Server Error", "internal", err[0] != '\0' ? err : sy_strerror(rc));
        return;
    }
    sy_admin_send_doc(req, 202, "Accepted", sy_replay_jobs_get(s->replays, id));
}

/* --- reconcile jobs ------------------------------------------------------------------------------------------- */

/* POST /admin/api/reconcile {"source", "since" (UTC, optional), "dry_run"}: 202 and the job, as replay. */
static void reconcile_start(sy_server_t *s, h2o_req_t *req)
{
    json_t *body = body_json(req);
    sy_reconcile_spec_t spec = {0};
    char id[32], err[300] = "";
    if (body == NULL)
        return;
    const char *source = json_string_value(json_object_get(body, "source"));
    const char *since = json_string_value(json_object_get(body, "since"));
    spec.dry_run = json_is_true(json_object_get(body, "dry_run"));
    int bad = source == NULL || strlen(source) >= sizeof(spec.source) ||
              (since != NULL && sy_parse_time_ms(since, &spec.since_ms) != 0);
    if (!bad)
        snprintf(spec.source, sizeof(spec.source), "%s", source);
    json_decref(body);
    if (bad) {
        fail(req, 400, "Bad Request", "bad_request",
             "give {\"source\": NAME, \"since\": UTC time (e.g. 2026-11-20T08:00Z; default: as far back as the tool "
             "keeps), \"dry_run\": true|false}");
        return;
    }
    int rc = sy_reconcile_jobs_start(s->reconciles, &spec, id, sizeof(id), err, sizeof(err));
    if (rc == SY_EFULL)
        fail(req, 409, "Conflict", "busy", err);
    else if (rc == SY_EINVAL)
        fail(req, 400, "Bad Request", "bad_request", err);
    else if (rc != 0)
        fail(req, 500, "Internal Server Error", "internal", err[0] != '\0' ? err : sy_strerror(rc));
    else
        sy_admin_send_doc(req, 202, "Accepted", sy_reconcile_jobs_get(s->reconciles, id));
}

/* --- log compaction ------------------------------------------------------------------------------------------- */

/*
 * POST {"from_seq", "to_seq", "before_ms"}: removes those events (compact.c), after `switchyard log compact` has
 * archived them. The CLI writes the archive itself: the hub never writes a file a client names.
 */
static void log_compact(sy_server_t *s, h2o_req_t *req)
{
    json_t *body = body_json(req);
    uint64_t removed = 0;
    if (body == NULL)
        return;
    json_t *from = json_object_get(body, "from_seq"), *to = json_object_get(body, "to_seq"),
           *before = json_object_get(body, "before_ms");
    if (!json_is_integer(from) || !json_is_integer(to) || !json_is_integer(before) || json_integer_value(from) < 1 ||
        json_integer_value(to) < json_integer_value(from)) {
        json_decref(body);
        fail(req, 400, "Bad Request", "bad_request",
             "give {\"from_seq\": N, \"to_seq\": M, \"before_ms\": T}: the archived events to remove");
        return;
    }
    int rc = sy_compact_remove(s->store, s->applier != NULL, (uint64_t)json_integer_value(from),
                               (uint64_t)json_integer_value(to), (int64_t)json_integer_value(before), &removed);
    json_decref(body);
    if (rc != 0) {
        fail(req, 503, "Service Unavailable", "storage_error", sy_strerror(rc));
        return;
    }
    sy_log(SY_LOG_INFO, "admin: log compact removed %llu archived event(s)", (unsigned long long)removed);
    sy_admin_send_doc(req, 200, "OK", json_pack("{s:I}", "removed", (json_int_t)removed));
}

const char *sy_admin_query(h2o_req_t *req, const char *name, char *buf, size_t len)
{
    return query_param(req, name, buf, len);
}

void sy_admin_fail(h2o_req_t *req, int status, const char *reason, const char *code, const char *message)
{
    fail(req, status, reason, code, message);
}

void sy_admin_change(sy_server_t *s, h2o_req_t *req, const sy_change_t *c)
{
    change(s, req, c);
}

/* --- routing ----------------------------------------------------------------------------------------------------- */

/*
 * A cluster node's admin writes are taken only where delivery runs, on the sync lease holder, and a follower answers
 * 409 naming it (and its admin URL, from its heartbeat) so that the operator, or the CLI's message, says where to
 * send them. Merges and splits travel from there to every hub through the stream (change_shared.h); queue and
 * dead-letter actions and replays change the holder's outbox alone (push and dead-letter ids are each hub's own).
 */
static int is_cluster_write(h2o_iovec_t path, int post)
{
    char tail[256];
    return post && (path_is(path, "/admin/api/records/merge") || path_is(path, "/admin/api/records/split") ||
                    path_is(path, "/admin/api/dead/retry") || path_is(path, "/admin/api/replay") ||
                    path_tail(path, "/admin/api/queue/", "/retry", tail, sizeof(tail)) ||
                    path_tail(path, "/admin/api/queue/", "/drop", tail, sizeof(tail)) ||
                    path_tail(path, "/admin/api/dead/", "/retry", tail, sizeof(tail)) ||
                    path_tail(path, "/admin/api/dead/", "/drop", tail, sizeof(tail)));
}

static int refused_on_follower(sy_server_t *s, h2o_req_t *req)
{
    char node[128], admin[256], msg[700];
    if (sy_cluster_lease_holder(s->cluster, node, sizeof(node), admin, sizeof(admin)))
        return 0;
    if (node[0] == '\0')
        snprintf(msg, sizeof(msg), "this hub (%s) does not hold the sync lease, and no hub holds it now: admin writes "
                                   "go to the lease holder (switchyard cluster status names it); try again shortly",
                 s->conf->cluster->node);
    else
        snprintf(msg, sizeof(msg), "this hub (%s) does not hold the sync lease: admin writes go to the lease holder, "
                                   "%s%s%s%s", s->conf->cluster->node, node, admin[0] != '\0' ? " (admin API " : "",
                 admin, admin[0] != '\0' ? ")" : "");
    sy_admin_send_doc(req, 409, "Conflict",
                      json_pack("{s:s, s:s, s:s?, s:s?}", "error", "not_lease_holder", "message", msg, "holder",
                                node[0] != '\0' ? node : NULL, "holder_admin", admin[0] != '\0' ? admin : NULL));
    return 1;
}

int sy_admin_api(sy_server_t *s, h2o_req_t *req)
{
    h2o_iovec_t path = req->path_normalized;
    int post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    char tail[256];

    if (s->cluster != NULL && is_cluster_write(path, post) && refused_on_follower(s, req))
        return 0;
    if (sy_admin_browse(s, req) == 0) /* the dashboard's routes (admin_browse.c) */
        return 0;

    if (path_is(path, "/admin/api/status")) {
        json_t *doc = status_doc(s);
        if (doc == NULL)
            fail(req, 503, "Service Unavailable", "storage_error", "cannot read the log");
        else
            sy_admin_send_doc(req, 200, "OK", doc);
        return 0;
    }
    if (sy_admin_alerts(s, req) == 0)
        return 0;
    if (path_is(path, "/admin/api/events/rate")) {
        sy_admin_send_doc(req, 200, "OK", rate_doc(s));
        return 0;
    }
    if (path_is(path, "/admin/api/events")) {
        events_list(s, req);
        return 0;
    }
    if (path_tail(path, "/admin/api/events/", "", tail, sizeof(tail))) {
        event_one(s, req, tail);
        return 0;
    }
    if (path_is(path, "/admin/api/queue") || path_is(path, "/admin/api/dead")) {
        sy_txn_t *txn;
        if (sy_txn_begin(s->store, 0, &txn) != 0) {
            fail(req, 503, "Service Unavailable", "storage_error", "cannot read the queue");
            return 0;
        }
        int dead = path_is(path, "/admin/api/dead");
        json_t *list = sy_ops_list(txn, dead ? SY_DB_DEAD : SY_DB_OUTBOX, list_limit(req));
        sy_txn_abort(txn);
        if (list == NULL)
            fail(req, 503, "Service Unavailable", "storage_error", "cannot read the queue");
        else
            sy_admin_send_doc(req, 200, "OK", json_pack("{s:o}", dead ? "dead" : "queue", list));
        return 0;
    }
    int is_retry = 0, is_drop = 0, is_dead = 0, is_all = 0;
    if ((is_all = path_is(path, "/admin/api/dead/retry")) ||
        (is_retry = path_tail(path, "/admin/api/queue/", "/retry", tail, sizeof(tail))) ||
        (is_drop = path_tail(path, "/admin/api/queue/", "/drop", tail, sizeof(tail))) ||
        (is_dead = path_tail(path, "/admin/api/dead/", "/retry", tail, sizeof(tail)))) {
        if (!post) {
            fail(req, 405, "Method Not Allowed", "method_not_allowed", "use POST");
            return 0;
        }
        /* POST /admin/api/dead/retry (no id): every dead letter, like `switchyard dead retry --all`. */
        sy_change_t c = {.kind = is_retry  ? SY_CHANGE_QUEUE_RETRY
                                 : is_drop ? SY_CHANGE_QUEUE_DROP
                                           : SY_CHANGE_DEAD_RETRY,
                         .a = is_all ? NULL : tail};
        if (is_drop) {
            change(s, req, &c);
        } else if (s->applier == NULL) {
            fail(req, 409, "Conflict", "no_policy", "the config names no policy: no records to take current values from");
        } else {
            /* Held (briefly) against a reload while the retry rebuilds the push from the record. */
            c.policy = sy_applier_policy_acquire(s->applier);
            change(s, req, &c);
            sy_applier_policy_release(s->applier);
        }
        return 0;
    }
    if (path_is(path, "/admin/api/reconcile") || path_tail(path, "/admin/api/reconcile/", "", tail, sizeof(tail))) {
        json_t *job;
        if (s->reconciles == NULL)
            fail(req, 409, "Conflict", "cluster", "a cluster node appends only what its stream carries: no reconcile");
        else if (path_is(path, "/admin/api/reconcile") && post)
            reconcile_start(s, req);
        else if (path_is(path, "/admin/api/reconcile"))
            sy_admin_send_doc(req, 200, "OK", json_pack("{s:o}", "jobs", sy_reconcile_jobs_list(s->reconciles)));
        else if ((job = sy_reconcile_jobs_get(s->reconciles, tail)) != NULL)
            sy_admin_send_doc(req, 200, "OK", job);
        else
            fail(req, 404, "Not Found", "not_found", "no reconcile job with that id");
        return 0;
    }
    if (path_is(path, "/admin/api/log/compact")) {
        if (!post)
            fail(req, 405, "Method Not Allowed", "method_not_allowed", "use POST");
        else
            log_compact(s, req);
        return 0;
    }
    if (s->applier == NULL) {
        fail(req, 409, "Conflict", "no_policy", "the config names no policy: no records, health or map");
        return 0;
    }
    if (path_is(path, "/admin/api/applier/pause") || path_is(path, "/admin/api/applier/resume")) {
        if (!post) {
            fail(req, 405, "Method Not Allowed", "method_not_allowed", "use POST");
        } else {
            sy_applier_pause(s->applier, path_is(path, "/admin/api/applier/pause"));
            sy_admin_send_doc(req, 200, "OK", json_pack("{s:b}", "paused", sy_applier_paused(s->applier)));
        }
        return 0;
    }
    if (path_is(path, "/admin/api/replay")) {
        if (post)
            replay_start(s, req);
        else
            sy_admin_send_doc(req, 200, "OK", json_pack("{s:o}", "jobs", sy_replay_jobs_list(s->replays)));
        return 0;
    }
    if (path_tail(path, "/admin/api/replay/", "", tail, sizeof(tail))) {
        json_t *job = sy_replay_jobs_get(s->replays, tail);
        if (job != NULL)
            sy_admin_send_doc(req, 200, "OK", job);
        else
            fail(req, 404, "Not Found", "not_found", "no replay job with that id");
        return 0;
    }
    if (path_is(path, "/admin/api/policy/reload")) {
        if (!post)
            fail(req, 405, "Method Not Allowed", "method_not_allowed", "use POST");
        else
            policy_reload(s, req);
        return 0;
    }
    if (path_is(path, "/admin/api/policy/check")) {
        if (!post)
            fail(req, 405, "Method Not Allowed", "method_not_allowed", "POST the policy YAML as the body");
        else
            policy_check(s, req);
        return 0;
    }
    if (path_is(path, "/admin/api/policy")) {
        sy_admin_send_doc(req, 200, "OK", sy_applier_policy_info(s->applier));
        return 0;
    }
    /* The rest reads the running policy: a reference keeps it alive across a reload without holding the mutex, so
     * a health report scanning every record never stalls the applier (locks.h). */
    const sy_policy_t *p = sy_applier_policy_ref(s->applier);
    if (path_is(path, "/admin/api/health")) {
        /* From the background scan's last result (health_cache.h): O(1) here, whatever the number of records.
         * ?max_age_s=N waits for a result at most N s old (0: one begun after this request). */
        char buf[32];
        const char *v = query_param(req, "max_age_s", buf, sizeof(buf));
        int64_t max_age_ms = v != NULL ? (int64_t)(strtod(v, NULL) * 1000.0) : -1;
        json_t *report = s->health != NULL ? sy_health_cache_get(s->health, max_age_ms < 0 && v != NULL ? 0 : max_age_ms) : NULL;
        if (report == NULL) {
            fail(req, 503, "Service Unavailable", "storage_error", "cannot read the records");
        } else {
            json_t *rates = json_object();
            for (size_t i = 0; i != s->conf->num_sources; ++i) {
                sy_source_metrics_t *m = &s->metrics.sources[i];
                uint64_t done = atomic_load(&m->pushes[SY_PUSH_IDX_done]), dead = atomic_load(&m->pushes[SY_PUSH_IDX_dead]),
                         retry = atomic_load(&m->pushes[SY_PUSH_IDX_retry]) + atomic_load(&m->pushes[SY_PUSH_IDX_network_error]);
                uint64_t total = done + dead + retry;
                if (s->conf->sources[i].api_base_url != NULL)
                    json_object_set_new(rates, s->conf->sources[i].name,
                                        json_real(total != 0 ? (double)(dead + retry) / (double)total : 0.0));
            }
            json_object_set_new(report, "delivery_error_rate", rates);
            sy_admin_send_doc(req, 200, "OK", report);
        }
    } else if (path_is(path, "/admin/api/map")) {
        map(s, req, p);
    } else if (path_is(path, "/admin/api/records")) {
        records_find(s, req, p);
    } else if (path_is(path, "/admin/api/records/merge") || path_is(path, "/admin/api/records/split")) {
        json_t *body = post ? body_json(req) : NULL;
        if (!post) {
            fail(req, 405, "Method Not Allowed", "method_not_allowed", "use POST");
        } else if (body != NULL) {
            int merge = path_is(path, "/admin/api/records/merge");
            sy_change_t c = {.kind = merge ? SY_CHANGE_MERGE : SY_CHANGE_SPLIT,
                             .policy = p,
                             .a = json_string_value(json_object_get(body, merge ? "keep" : "record")),
                             .b = json_string_value(json_object_get(body, merge ? "drop" : "object")),
                             .why = "admin api"};
            if (c.a == NULL || c.b == NULL)
                fail(req, 400, "Bad Request", "bad_request",
                     merge ? "give {\"keep\": ..., \"drop\": ...}" : "give {\"record\": ..., \"object\": \"source:id\"}");
            else
                change(s, req, &c);
            json_decref(body);
        }
    } else if (path_tail(path, "/admin/api/records/", "", tail, sizeof(tail))) {
        sy_txn_t *txn;
        json_t *rec = NULL;
        if (sy_txn_begin(s->store, 0, &txn) == 0) {
            char *id = sy_records_find(txn, p, tail);
            rec = id != NULL ? sy_records_load(txn, id) : NULL;
            free(id);
            sy_txn_abort(txn);
        }
        if (rec != NULL)
            sy_admin_send_doc(req, 200, "OK", rec);
        else
            fail(req, 404, "Not Found", "not_found", "no golden record for that id, email or source:external_id");
    } else {
        sy_applier_policy_unref(s->applier, p);
        return -1;
    }
    sy_applier_policy_unref(s->applier, p);
    return 0;
}
