/*
 * The admin API routes the dashboard acts through (issue 13), next to admin_api.c's:
 *
 *   GET  /admin/api/events?source=&type=&since=&until=&record=&before=&after=&limit=
 *        the event browser: newest first from `before` (default: the newest), or oldest first from `after`;
 *        type is a glob (customer.*); since/until bound when the hub received the event (UTC text as replay takes
 *        it, or ms); record (an id, email or source:external_id) keeps the events of that golden record's tool
 *        objects. At most SCAN_MAX events are read per request: the answer says where to go on (next_before or
 *        next_after) and whether there is more, so one request never holds a read transaction over the whole log.
 *        Without any of these new parameters admin_api.c answers as it always did.
 *   GET  /admin/api/pushes/ID/attempts   the delivery attempt log of a push (attempts.h), with the push itself
 *        as queued or dead, or state "gone"
 *   POST /admin/api/dead/ID/drop         removes a dead letter for good (audit: the log line of sy_admin_change)
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_api.h"
#include "attempts.h"
#include "log.h"
#include "observe.h"
#include "queue.h"
#include "records.h"
#include "replay.h"

#define SCAN_MAX 20000 /* events read per browse request, at most */
#define LIMIT_DEFAULT 50
#define LIMIT_MAX 500

static int path_is(h2o_iovec_t path, const char *s)
{
    return h2o_memis(path.base, path.len, s, strlen(s));
}

/* prefix ID suffix with ID a decimal push id: 1 and *id, else 0. */
static int path_id(h2o_iovec_t path, const char *prefix, const char *suffix, uint64_t *id)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    if (path.len <= pl + sl || memcmp(path.base, prefix, pl) != 0 || memcmp(path.base + path.len - sl, suffix, sl) != 0)
        return 0;
    size_t n = path.len - pl - sl;
    uint64_t v = 0;
    if (n > 19)
        return 0;
    for (size_t i = 0; i != n; ++i) {
        char c = path.base[pl + i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (uint64_t)(c - '0');
    }
    *id = v;
    return 1;
}

/* A time bound: digits are ms since the epoch, anything else UTC text ("2026-11-20T08:00Z"). */
static int parse_bound(const char *v, int64_t *ms)
{
    char *end;
    if (v[0] >= '0' && v[0] <= '9' && strchr(v, '-') == NULL) {
        long long n = strtoll(v, &end, 10);
        if (*end != '\0' || n < 0)
            return SY_EINVAL;
        *ms = n;
        return 0;
    }
    return sy_parse_time_ms(v, ms);
}

typedef struct st_browse_t {
    const char *source, *type;
    int64_t since, until; /* [since, until) of received_at_ms; until 0: none */
    json_t *xrefs;        /* record filter: {source: [external id...]} of the record, or NULL */
    const sy_policy_t *policy;
} browse_t;

/* Whether one of the event's observations names one of the record's objects at the event's source. */
static int of_record(const browse_t *b, const sy_event_t *ev)
{
    char source[128];
    snprintf(source, sizeof(source), "%.*s", (int)ev->source.len, ev->source.base);
    json_t *ids = json_object_get(b->xrefs, source), *id;
    sy_observation_t *obs = NULL;
    size_t n = 0, i;
    int hit = 0;
    if (json_array_size(ids) == 0 || sy_observe(b->policy, ev, &obs, &n, NULL) != 0)
        return 0;
    for (size_t k = 0; k != n && !hit; ++k)
        json_array_foreach(ids, i, id) hit |= obs[k].external_id != NULL && json_is_string(id) &&
                                             strcmp(obs[k].external_id, json_string_value(id)) == 0;
    sy_observations_free(obs, n);
    return hit;
}

static int selected(const browse_t *b, const sy_event_t *ev)
{
    char type[256];
    if (b->source != NULL && !sy_slice_eq_cstr(ev->source, b->source))
        return 0;
    if (b->type != NULL) {
        snprintf(type, sizeof(type), "%.*s", (int)ev->type.len, ev->type.base);
        if (fnmatch(b->type, type, 0) != 0)
            return 0;
    }
    if (ev->received_at_ms < b->since || (b->until != 0 && ev->received_at_ms >= b->until))
        return 0;
    return b->xrefs == NULL || of_record(b, ev);
}

static json_t *event_row(const sy_event_t *ev)
{
    return json_pack("{s:I, s:s%, s:s%, s:s%, s:I, s:I, s:I}", "seq", (json_int_t)ev->seq, "source", ev->source.base,
                     ev->source.len, "event_id", ev->event_id.base, ev->event_id.len, "type", ev->type.base, ev->type.len,
                     "received_at_ms", (json_int_t)ev->received_at_ms, "occurred_at_ms", (json_int_t)ev->occurred_at_ms,
                     "body_bytes", (json_int_t)ev->body.len);
}

static void events_browse(sy_server_t *s, h2o_req_t *req, const sy_policy_t *p)
{
    char source[128], type[128], since[64], until[64], record[512], before_s[32], after_s[32], limit_s[16];
    browse_t b = {.source = sy_admin_query(req, "source", source, sizeof(source)),
                  .type = sy_admin_query(req, "type", type, sizeof(type)),
                  .policy = p};
    const char *since_v = sy_admin_query(req, "since", since, sizeof(since));
    const char *until_v = sy_admin_query(req, "until", until, sizeof(until));
    const char *rec_v = sy_admin_query(req, "record", record, sizeof(record));
    const char *before_v = sy_admin_query(req, "before", before_s, sizeof(before_s));
    const char *after_v = sy_admin_query(req, "after", after_s, sizeof(after_s));
    const char *limit_v = sy_admin_query(req, "limit", limit_s, sizeof(limit_s));
    long limit = limit_v != NULL ? strtol(limit_v, NULL, 10) : LIMIT_DEFAULT;
    uint64_t before = before_v != NULL ? strtoull(before_v, NULL, 10) : 0, after = after_v != NULL ? strtoull(after_v, NULL, 10) : 0;
    char *rec_id = NULL;
    sy_txn_t *txn;
    sy_event_t ev;
    size_t scanned = 0;
    int more = 0, rc = 0;

    if (b.source != NULL && b.source[0] == '\0')
        b.source = NULL;
    if (b.type != NULL && b.type[0] == '\0')
        b.type = NULL;
    limit = limit <= 0 ? LIMIT_DEFAULT : limit > LIMIT_MAX ? LIMIT_MAX : limit;
    if ((since_v != NULL && since_v[0] != '\0' && parse_bound(since_v, &b.since) != 0) ||
        (until_v != NULL && until_v[0] != '\0' && parse_bound(until_v, &b.until) != 0)) {
        sy_admin_fail(req, 400, "Bad Request", "bad_request",
                      "since and until are UTC times (2026-11-20T08:00Z, 2026-11-20T08:00:00Z, 2026-11-20) or ms");
        return;
    }
    if (rec_v != NULL && rec_v[0] != '\0' && p == NULL) {
        sy_admin_fail(req, 409, "Conflict", "no_policy", "the config names no policy: no records to filter by");
        return;
    }
    if (sy_txn_begin(s->store, 0, &txn) != 0) {
        sy_admin_fail(req, 503, "Service Unavailable", "storage_error", "cannot read the log");
        return;
    }
    if (rec_v != NULL && rec_v[0] != '\0') {
        rec_id = sy_records_find(txn, p, rec_v);
        json_t *rec = rec_id != NULL ? sy_records_load(txn, rec_id) : NULL;
        if (rec == NULL) {
            sy_txn_abort(txn);
            free(rec_id);
            sy_admin_fail(req, 404, "Not Found", "not_found", "no golden record for that id, email or source:external_id");
            return;
        }
        free(rec_id);
        rec_id = strdup(json_string_value(json_object_get(rec, "id")));
        b.xrefs = json_incref(json_object_get(rec, "xrefs"));
        json_decref(rec);
        if (b.xrefs == NULL)
            b.xrefs = json_object();
    }
    json_t *list = json_array();
    uint64_t at = 0;
    if (after_v != NULL) { /* oldest first */
        at = after;
        while (json_array_size(list) < (size_t)limit && (rc = sy_store_event_next(txn, at, &ev)) == 0) {
            at = ev.seq;
            if (selected(&b, &ev))
                json_array_append_new(list, event_row(&ev));
            if (++scanned == SCAN_MAX)
                break;
        }
        more = rc == 0;
    } else { /* newest first: seqs are dense but for compacted ranges, each looked up */
        uint64_t last = 0;
        if ((rc = sy_store_last_seq(txn, &last)) == 0) {
            at = before != 0 && before <= last + 1 ? before : last + 1;
            while (at > 1 && json_array_size(list) < (size_t)limit && scanned < SCAN_MAX) {
                --at;
                ++scanned;
                if ((rc = sy_store_event_get(txn, at, &ev)) == SY_ENOTFOUND)
                    continue;
                if (rc != 0)
                    break;
                if (selected(&b, &ev))
                    json_array_append_new(list, event_row(&ev));
            }
            rc = rc == SY_ENOTFOUND ? 0 : rc;
            more = at > 1;
        }
    }
    sy_txn_abort(txn);
    json_decref(b.xrefs);
    if (rc < 0 && rc != SY_ENOTFOUND) { /* part of a page would pass for all of it */
        free(rec_id);
        json_decref(list);
        sy_admin_fail(req, 503, "Service Unavailable", "storage_error", "cannot read the log");
        return;
    }
    json_t *doc = json_pack("{s:o, s:I, s:b, s:s}", "events", list, "scanned", (json_int_t)scanned, "more", more, "order",
                            after_v != NULL ? "asc" : "desc");
    json_object_set_new(doc, after_v != NULL ? "next_after" : "next_before", json_integer((json_int_t)at));
    if (rec_id != NULL)
        json_object_set_new(doc, "record", json_string(rec_id));
    free(rec_id);
    sy_admin_send_doc(req, 200, "OK", doc);
}

static void push_attempts(sy_server_t *s, h2o_req_t *req, uint64_t id)
{
    sy_txn_t *txn;
    unsigned char key[16], kb[8];
    json_t *push = NULL, *attempts;
    const char *state = "gone";
    if (sy_txn_begin(s->store, 0, &txn) != 0) {
        sy_admin_fail(req, 503, "Service Unavailable", "storage_error", "cannot read the queue");
        return;
    }
    attempts = sy_attempts_get(txn, id);
    if (sy_queue_find(txn, id, key) == 0 && (push = sy_doc_get(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)key, 16})) != NULL) {
        state = "queued";
    } else {
        sy_put_be64(kb, id);
        if ((push = sy_doc_get(txn, SY_DB_DEAD, (sy_slice_t){(const char *)kb, 8})) != NULL)
            state = "dead";
    }
    sy_txn_abort(txn);
    if (attempts == NULL) {
        json_decref(push);
        sy_admin_fail(req, 503, "Service Unavailable", "storage_error", "cannot read the attempt log");
        return;
    }
    char ids[24];
    snprintf(ids, sizeof(ids), "%llu", (unsigned long long)id);
    sy_admin_send_doc(req, 200, "OK",
                      json_pack("{s:s, s:s, s:o, s:o, s:i}", "id", ids, "state", state, "push",
                                push != NULL ? push : json_null(), "attempts", attempts, "keep", SY_ATTEMPTS_KEEP));
}

int sy_admin_browse(sy_server_t *s, h2o_req_t *req)
{
    static const char *const browse_params[] = {"since", "until", "record", "before"};
    h2o_iovec_t path = req->path_normalized;
    int post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    char buf[16];
    uint64_t id;

    if (path_is(path, "/admin/api/events")) {
        int browse = 0;
        for (size_t i = 0; i != sizeof(browse_params) / sizeof(browse_params[0]); ++i)
            browse |= sy_admin_query(req, browse_params[i], buf, sizeof(buf)) != NULL;
        if (!browse)
            return -1; /* admin_api.c's list, as before */
        const sy_policy_t *p = s->applier != NULL ? sy_applier_policy_ref(s->applier) : NULL;
        events_browse(s, req, p);
        if (p != NULL)
            sy_applier_policy_unref(s->applier, p);
        return 0;
    }
    if (path_id(path, "/admin/api/pushes/", "/attempts", &id)) {
        push_attempts(s, req, id);
        return 0;
    }
    if (path_id(path, "/admin/api/dead/", "/drop", &id)) {
        char ids[24];
        if (!post) {
            sy_admin_fail(req, 405, "Method Not Allowed", "method_not_allowed", "use POST");
            return 0;
        }
        snprintf(ids, sizeof(ids), "%llu", (unsigned long long)id);
        sy_change_t c = {.kind = SY_CHANGE_DEAD_DROP, .a = ids};
        sy_admin_change(s, req, &c);
        return 0;
    }
    return -1;
}
