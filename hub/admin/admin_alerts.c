/*
 * GET /admin/api/alerts[?all=1][&limit=N]: {"alerts": [...]}, newest first, the unresolved ones (all: resolved too).
 * POST /admin/api/alerts/ID/ack: {"alert": {...}} once acknowledged; 404 no such alert, 409 resolved already.
 */
#include "admin_alerts.h"

#include <stdlib.h>
#include <string.h>

#include "admin_api.h"
#include "alerts.h"

#define ALERTS_LIST_MAX 1000

static void fail(h2o_req_t *req, int status, const char *reason, const char *code, const char *message)
{
    sy_admin_send_doc(req, status, reason, json_pack("{s:s, s:s}", "error", code, "message", message));
}

uint64_t sy_alert_id_parse(const char *text)
{
    uint64_t v = 0;
    if (text == NULL || *text == '\0' || strlen(text) > 18)
        return 0;
    for (const char *c = text; *c != '\0'; ++c) {
        if (*c < '0' || *c > '9')
            return 0;
        v = v * 10 + (uint64_t)(*c - '0');
    }
    return v;
}

static int query_has(h2o_req_t *req, const char *what)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1;
    size_t len = req->path.len - req->query_at - 1, wl = strlen(what);
    for (size_t i = 0; i + wl <= len; ++i)
        if ((i == 0 || q[i - 1] == '&') && memcmp(q + i, what, wl) == 0 && (i + wl == len || q[i + wl] == '&'))
            return 1;
    return 0;
}

typedef struct st_ack_t {
    uint64_t id;
    json_t *alert; /* out */
    int64_t now;
} ack_t;

static int write_ack(void *arg, sy_txn_t *txn)
{
    ack_t *a = arg;
    int rc = sy_alert_ack(txn, a->id, a->now);
    json_decref(a->alert); /* a redone write starts afresh */
    a->alert = rc == 0 ? sy_alert_get(txn, a->id) : NULL;
    return rc;
}

int sy_admin_alerts(sy_server_t *s, h2o_req_t *req)
{
    h2o_iovec_t path = req->path_normalized;
    static const char prefix[] = "/admin/api/alerts", ack[] = "/ack";
    int post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    if (path.len < sizeof(prefix) - 1 || memcmp(path.base, prefix, sizeof(prefix) - 1) != 0 ||
        (path.len > sizeof(prefix) - 1 && path.base[sizeof(prefix) - 1] != '/'))
        return -1;
    if (path.len == sizeof(prefix) - 1) {
        if (post) {
            fail(req, 405, "Method Not Allowed", "method_not_allowed", "use GET");
            return 0;
        }
        sy_txn_t *txn;
        json_t *list = NULL;
        if (sy_txn_begin(s->store, 0, &txn) == 0) {
            list = sy_alerts_list(txn, query_has(req, "all=1"), ALERTS_LIST_MAX);
            sy_txn_abort(txn);
        }
        if (list == NULL)
            fail(req, 503, "Service Unavailable", "storage_error", "cannot read the alerts");
        else
            sy_admin_send_doc(req, 200, "OK", json_pack("{s:o}", "alerts", list));
        return 0;
    }
    /* /admin/api/alerts/ID/ack */
    char id_text[32];
    size_t tail = path.len - (sizeof(prefix) - 1) - 1;
    const char *t = path.base + sizeof(prefix);
    if (tail <= sizeof(ack) - 1 || memcmp(t + tail - (sizeof(ack) - 1), ack, sizeof(ack) - 1) != 0 ||
        tail - (sizeof(ack) - 1) >= sizeof(id_text)) {
        fail(req, 404, "Not Found", "not_found", "see GET /admin/api/alerts and POST /admin/api/alerts/ID/ack");
        return 0;
    }
    memcpy(id_text, t, tail - (sizeof(ack) - 1));
    id_text[tail - (sizeof(ack) - 1)] = '\0';
    if (!post) {
        fail(req, 405, "Method Not Allowed", "method_not_allowed", "use POST");
        return 0;
    }
    ack_t a = {.id = sy_alert_id_parse(id_text), .now = sy_now_ms()};
    if (a.id == 0) {
        fail(req, 400, "Bad Request", "bad_request", "the alert id must be a number (see GET /admin/api/alerts)");
        return 0;
    }
    int rc = sy_store_write(s->store, write_ack, &a);
    if (rc == 0)
        sy_admin_send_doc(req, 200, "OK", json_pack("{s:o}", "alert", a.alert));
    else if (rc == SY_ENOTFOUND)
        fail(req, 404, "Not Found", "not_found", "no alert with that id");
    else if (rc == SY_EINVAL)
        fail(req, 409, "Conflict", "resolved", "the alert is resolved already: nothing to acknowledge");
    else
        fail(req, 503, "Service Unavailable", "storage_error", sy_strerror(rc));
    if (rc != 0)
        json_decref(a.alert);
    return 0;
}
