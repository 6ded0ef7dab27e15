/*
 * Alert notifiers (alerts.notify in the config): what a notification looks like on the wire and what an answer
 * means. No I/O here; delivery.c sends.
 *
 * Why a notifier is a spoke of its own kind: each new or resolved alert is queued in the outbox under the spoke name
 * "alert:slack" / "alert:webhook" in the transaction that changed the alert (alerts.c), and delivery.c reads those
 * spokes like the tools' spokes: their per-spoke due index (queue.h), the rolling-window pace (Slack: 1 request per
 * second), retries with backoff and Retry-After, the breaker and dead letters. So a notification is as durable as a
 * push (it survives a restart and a receiver outage) and is paced the same way, with no second queue to keep right.
 * The difference is in the request: instead of a connector's encode_push, sy_notify_encode builds the body; a Slack
 * spoke takes up to SY_NOTIFY_SLACK_BATCH due notifications in one message (a burst is summarised), a webhook spoke
 * one per request (one Standard Webhooks message per alert change).
 */
#ifndef SY_NOTIFY_H
#define SY_NOTIFY_H

#include <jansson.h>

#include "config.h"
#include "connector.h"

#define SY_NOTIFY_SLACK_BATCH 20 /* notifications summarised in one Slack message at most */
#define SY_NOTIFY_MAX_HEADERS 3
#define SY_NOTIFY_HEADER_MAX 300

/* Notifications one request of nc carries at most. */
size_t sy_notify_max_batch(const sy_notifier_conf_t *nc);

/*
 * Builds the request for the queued notifications docs[0..n) (outbox documents: {event, alert, idempotency_key}) at
 * now_ms: a Slack incoming-webhook message ({"text", "blocks"}), or a Standard Webhooks message ({"type",
 * "timestamp", "data"} with webhook-id, webhook-timestamp and webhook-signature headers: "v1,<base64 HMAC-SHA256 of
 * id.timestamp.body>" with the secret's key bytes). req->path is "" (the url is the whole address); headers are
 * "Name: value" lines. Returns 0 or SY_ENOMEM / SY_EINVAL (an unusable secret).
 */
int sy_notify_encode(const sy_notifier_conf_t *nc, json_t *const *docs, size_t n, int64_t now_ms, sy_http_request_t *req,
                     char headers[SY_NOTIFY_MAX_HEADERS][SY_NOTIFY_HEADER_MAX], size_t *num_headers);

/*
 * Reads the receiver's answer: 2xx done; 429 rate limited (retry_after the Retry-After header, or NULL); 5xx and
 * 408 retried; other 4xx a dead letter. *stop: the receiver will never take anything again (Slack's 410
 * channel_is_archived, or 404 no_service / 403 action_prohibited... for a removed webhook): the notifier stops and
 * its own alert is raised.
 */
void sy_notify_classify(const sy_notifier_conf_t *nc, long status, const char *retry_after, sy_slice_t body,
                        sy_push_result_t *r, int *stop);

#endif
