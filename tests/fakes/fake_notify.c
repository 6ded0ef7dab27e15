/*
 * Receivers of the hub's alert notifications (--api slack | webhook): a Slack incoming webhook and a Standard
 * Webhooks endpoint (https://www.standardwebhooks.com). The webhook side verifies signatures with its own code on
 * OpenSSL, as a receiver's library would, not with the hub's: a test against it shows that what the hub signs is
 * what the scheme says.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "fake.h"

static void text_reply(fake_reply_t *out, int status, const char *text)
{
    out->status = status;
    out->body = strdup(text);
}

void fake_slack_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    json_error_t err;
    if (st->archived) {
        text_reply(out, 410, "channel_is_archived");
        return;
    }
    json_t *j = json_loadb(req->body, req->body_len, 0, &err);
    int ok = strcmp(req->method, "POST") == 0 && json_is_string(json_object_get(j, "text")) &&
             json_is_array(json_object_get(j, "blocks")) && json_array_size(json_object_get(j, "blocks")) <= 50;
    json_decref(j);
    text_reply(out, ok ? 200 : 400, ok ? "ok" : "invalid_payload");
}

/* The signature "v1,<base64>" (one of several, space-separated) of id.timestamp.body with the secret's key. */
static int signature_ok(const fake_state_t *st, const fake_http_t *req)
{
    unsigned char key[256], mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char expected[128];
    const char *secret = st->secret;
    if (req->webhook_id == NULL || req->webhook_timestamp == NULL || req->webhook_signature == NULL || secret == NULL ||
        strncmp(secret, "whsec_", 6) != 0)
        return 0;
    int klen = EVP_DecodeBlock(key, (const unsigned char *)secret + 6, (int)strlen(secret + 6));
    size_t sl = strlen(secret + 6);
    if (klen <= 0)
        return 0;
    klen -= (sl > 0 && secret[6 + sl - 1] == '=') + (sl > 1 && secret[6 + sl - 2] == '='); /* padding */
    char *end;
    long long ts = strtoll(req->webhook_timestamp, &end, 10);
    if (end == req->webhook_timestamp || *end != '\0' || llabs(fake_now_s() - ts) > 300)
        return 0;
    size_t msg_len = strlen(req->webhook_id) + 1 + strlen(req->webhook_timestamp) + 1 + req->body_len;
    unsigned char *msg = malloc(msg_len);
    if (msg == NULL)
        return 0;
    size_t o = 0;
    memcpy(msg + o, req->webhook_id, strlen(req->webhook_id));
    o += strlen(req->webhook_id);
    msg[o++] = '.';
    memcpy(msg + o, req->webhook_timestamp, strlen(req->webhook_timestamp));
    o += strlen(req->webhook_timestamp);
    msg[o++] = '.';
    memcpy(msg + o, req->body, req->body_len);
    HMAC(EVP_sha256(), key, klen, msg, msg_len, mac, &mac_len);
    free(msg);
    EVP_EncodeBlock((unsigned char *)expected, mac, (int)mac_len);
    size_t el = strlen(expected);
    for (const char *p = req->webhook_signature; *p != '\0';) {
        const char *sp = strchr(p, ' ');
        size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);
        if (len == 3 + el && memcmp(p, "v1,", 3) == 0 && CRYPTO_memcmp(p + 3, expected, el) == 0)
            return 1;
        p += len;
        while (*p == ' ')
            ++p;
    }
    return 0;
}

void fake_webhook_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    json_error_t err;
    if (!signature_ok(st, req)) {
        text_reply(out, 401, "{\"error\":\"bad signature\"}");
        return;
    }
    json_t *j = json_loadb(req->body, req->body_len, 0, &err);
    int ok = json_is_string(json_object_get(j, "type")) && json_is_string(json_object_get(j, "timestamp")) &&
             json_is_object(json_object_get(j, "data"));
    json_decref(j);
    text_reply(out, ok ? 200 : 400, ok ? "{\"ok\":true}" : "{\"error\":\"not a Standard Webhooks payload\"}");
}
