/*
 * Notifier requests and answers (notify.h).
 */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"

size_t sy_notify_max_batch(const sy_notifier_conf_t *nc)
{
    return nc->kind == SY_NOTIFIER_SLACK ? SY_NOTIFY_SLACK_BATCH : 1;
}

static void iso_time(int64_t ms, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03dZ", base, (int)(ms % 1000));
}

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v != NULL ? v : "";
}

/* "frozen_field: record cust_1, tool hubspot, field lifecycle_stage — message (3×)" */
static void describe(json_t *doc, char *out, size_t len)
{
    json_t *a = json_object_get(doc, "alert");
    int resolved = strcmp(str(doc, "event"), "alert.resolved") == 0;
    char subject[400] = "";
    size_t o = 0;
    if (*str(a, "record") != '\0')
        o += (size_t)snprintf(subject + o, sizeof(subject) - o, " record %s", str(a, "record"));
    if (*str(a, "source") != '\0' && o < sizeof(subject))
        o += (size_t)snprintf(subject + o, sizeof(subject) - o, " %s %s", "tool", str(a, "source"));
    if (*str(a, "field") != '\0' && o < sizeof(subject))
        snprintf(subject + o, sizeof(subject) - o, " field %s", str(a, "field"));
    snprintf(out, len, "%s *%s* (alert %lld)%s: %s", resolved ? ":white_check_mark: resolved" : ":rotating_light:",
             str(a, "kind"), (long long)json_integer_value(json_object_get(a, "id")), subject, str(a, "message"));
}

static json_t *slack_body(json_t *const *docs, size_t n)
{
    char line[1200], text[200];
    json_t *blocks = json_array();
    size_t raised = 0;
    for (size_t i = 0; i != n; ++i)
        raised += strcmp(str(docs[i], "event"), "alert.resolved") != 0;
    if (n == 1) {
        describe(docs[0], line, sizeof(line));
        snprintf(text, sizeof(text), "Switchyard %s: %s", raised ? "alert" : "alert resolved",
                 str(json_object_get(docs[0], "alert"), "kind"));
    } else {
        /* A burst in one message: the count up front, one line per alert change. */
        snprintf(text, sizeof(text), "Switchyard: %zu alert changes (%zu raised, %zu resolved)", n, raised, n - raised);
        json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type", "header", "text", "type", "plain_text",
                                                "text", text));
    }
    for (size_t i = 0; i != n; ++i) {
        describe(docs[i], line, sizeof(line));
        json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type", "section", "text", "type", "mrkdwn",
                                                "text", line));
    }
    return json_pack("{s:s, s:o}", "text", text, "blocks", blocks);
}

/* The key bytes of a Standard Webhooks secret: base64 after "whsec_", else the secret as it is. */
static long secret_key(const char *secret, unsigned char *out, size_t cap)
{
    size_t len = strlen(secret);
    if (len > 6 && memcmp(secret, "whsec_", 6) == 0)
        return sy_base64_decode(secret + 6, len - 6, out, cap);
    if (len == 0 || len > cap)
        return -1;
    memcpy(out, secret, len);
    return (long)len;
}

int sy_notify_encode(const sy_notifier_conf_t *nc, json_t *const *docs, size_t n, int64_t now_ms, sy_http_request_t *req,
                     char headers[SY_NOTIFY_MAX_HEADERS][SY_NOTIFY_HEADER_MAX], size_t *num_headers)
{
    json_t *body;
    char when[40];
    memset(req, 0, sizeof(*req));
    *num_headers = 0;
    if (n == 0)
        return SY_EINVAL;
    if (nc->kind == SY_NOTIFIER_SLACK) {
        body = slack_body(docs, n);
    } else {
        iso_time(now_ms, when, sizeof(when));
        body = json_pack("{s:s, s:s, s:O}", "type", str(docs[0], "event"), "timestamp", when, "data",
                         json_object_get(docs[0], "alert"));
    }
    if (body == NULL)
        return SY_ENOMEM;
    req->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (req->body == NULL)
        return SY_ENOMEM;
    req->body_len = strlen(req->body);
    req->num_pushes = n;
    snprintf(req->method, sizeof(req->method), "POST");
    snprintf(req->content_type, sizeof(req->content_type), "application/json");
    if (nc->kind == SY_NOTIFIER_WEBHOOK) {
        unsigned char key[256], mac[SY_SHA256_LEN];
        char ts[24], sig[64];
        const char *id = str(docs[0], "idempotency_key");
        long klen = secret_key(nc->secret != NULL ? nc->secret : "", key, sizeof(key));
        if (klen <= 0) {
            sy_http_request_dispose(req);
            return SY_EINVAL;
        }
        snprintf(ts, sizeof(ts), "%lld", (long long)(now_ms / 1000));
        sy_slice_t parts[] = {sy_slice_cstr(id), SY_SLICE_LIT("."), sy_slice_cstr(ts), SY_SLICE_LIT("."),
                              {req->body, req->body_len}};
        int rc = sy_hmac_sha256((sy_slice_t){(const char *)key, (size_t)klen}, parts, SY_ARRAY_SIZE(parts), mac);
        explicit_bzero(key, sizeof(key));
        if (rc != 0) {
            sy_http_request_dispose(req);
            return rc;
        }
        sy_base64_encode(mac, sizeof(mac), sig);
        snprintf(headers[0], SY_NOTIFY_HEADER_MAX, "webhook-id: %s", id);
        snprintf(headers[1], SY_NOTIFY_HEADER_MAX, "webhook-timestamp: %s", ts);
        snprintf(headers[2], SY_NOTIFY_HEADER_MAX, "webhook-signature: v1,%s", sig);
        *num_headers = 3;
    }
    return 0;
}

static int body_has(sy_slice_t body, const char *word)
{
    size_t wl = strlen(word);
    for (size_t i = 0; i + wl <= body.len; ++i)
        if (memcmp(body.base + i, word, wl) == 0)
            return 1;
    return 0;
}

void sy_notify_classify(const sy_notifier_conf_t *nc, long status, const char *retry_after, sy_slice_t body,
                        sy_push_result_t *r, int *stop)
{
    memset(r, 0, sizeof(*r));
    r->retry_after_ms = -1;
    *stop = 0;
    if (status >= 200 && status < 300) {
        r->outcome = SY_PUSH_DONE;
    } else if (status == 429 || status >= 500 || status == 408 || status == 0) {
        r->outcome = SY_PUSH_RETRY;
        r->rate_limited = status == 429;
        if (retry_after != NULL) {
            char *end;
            long s = strtol(retry_after, &end, 10);
            if (end != retry_after && s >= 0 && s < 86400)
                r->retry_after_ms = s * 1000;
        }
    } else {
        r->outcome = SY_PUSH_PERMANENT;
        /* Slack: the channel is gone for good (410 channel_is_archived, 404 channel_not_found / no_service, 403
         * action_prohibited): nothing will ever be taken again, so the notifier stops instead of dead-lettering
         * every alert. A webhook receiver says the same with 410 Gone. */
        if (status == 410 ||
            (nc->kind == SY_NOTIFIER_SLACK && (body_has(body, "channel_is_archived") || body_has(body, "no_service") ||
                                               body_has(body, "channel_not_found") || body_has(body, "action_prohibited"))))
            *stop = 1;
    }
}
