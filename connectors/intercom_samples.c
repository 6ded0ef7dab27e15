/*
 * Intercom's sample notifications for `switchyard trigger`: the envelope Intercom posts (API 2.11 models) around a
 * contact or a conversation, with a fresh notification id and the current time. Every sample names the same
 * contact (ana@acme.example), so a conversation sample lands on the record a contact sample made.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors_builtin.h"

#define SAMPLE_APP_ID "abc123de"
#define SAMPLE_CONTACT_ID "6657a1b2c3d4e5f6a7b8c9d0"
#define SAMPLE_EMAIL "ana@acme.example"

const char *const sy_intercom_sample_types[] = {"contact.user.created", "contact.user.updated", "conversation.user.created",
                                                "conversation.admin.replied", "conversation.admin.closed", "ping", NULL};

static json_t *contact(json_int_t now_s)
{
    return json_pack("{s:s, s:s, s:s, s:n, s:s, s:s, s:s, s:s, s:n, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:{}}",
                     "type", "contact", "id", SAMPLE_CONTACT_ID, "workspace_id", SAMPLE_APP_ID, "external_id", "role",
                     "user", "email", SAMPLE_EMAIL, "phone", "+14155550123", "name", "Ana Silva", "owner_id",
                     "has_hard_bounced", 0, "unsubscribed_from_emails", 0, "created_at", now_s - 86400 * 30,
                     "updated_at", now_s, "signed_up_at", now_s - 86400 * 30, "last_seen_at", now_s - 600,
                     "last_replied_at", now_s - 3600, "last_contacted_at", now_s - 1800, "custom_attributes");
}

static json_t *conversation(const char *type, json_int_t now_s)
{
    int closed = strcmp(type, "conversation.admin.closed") == 0;
    json_t *c = json_pack("{s:s, s:s, s:I, s:I, s:{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}}, "
                          "s:{s:s, s:[{s:s, s:s, s:n}]}, s:b, s:s, s:b, s:s, s:{s:s, s:I, s:I, s:I}}",
                          "type", "conversation", "id", "147", "created_at", now_s - 7200, "updated_at", now_s, "source",
                          "type", "conversation", "id", "403918316", "delivered_as", "customer_initiated", "body",
                          "<p>Hi, my invoice is wrong.</p>", "author", "type", "user", "id", SAMPLE_CONTACT_ID, "name",
                          "Ana Silva", "email", SAMPLE_EMAIL, "contacts", "type", "contact.list", "contacts", "type",
                          "contact", "id", SAMPLE_CONTACT_ID, "external_id", "open", !closed, "state",
                          closed ? "closed" : "open", "read", 1, "priority", "not_priority", "statistics", "type",
                          "conversation_statistics", "last_contact_reply_at", now_s - 3600, "last_admin_reply_at",
                          now_s - 60, "last_close_at", closed ? now_s : (json_int_t)0);
    if (c != NULL && strcmp(type, "conversation.user.created") == 0)
        json_object_set_new(json_object_get(c, "statistics"), "last_admin_reply_at", json_null());
    return c;
}

char *sy_intercom_sample(const char *type, int64_t now_ms)
{
    if (!sy_connector_sample_known(sy_intercom_sample_types, type))
        return NULL;
    json_int_t now_s = (json_int_t)(now_ms / 1000);
    char token[33], id[64];
    sy_connector_random_token(token, 16);
    /* notif_ + a UUID, as Intercom writes them */
    snprintf(id, sizeof(id), "notif_%.8s-%.4s-%.4s-%.4s-%.12s", token, token + 8, token + 12, token + 16, token + 20);
    json_t *item = strcmp(type, "ping") == 0 ? json_pack("{s:s, s:s}", "type", "ping", "message", "something something interzen")
                   : strncmp(type, "contact.", 8) == 0 ? contact(now_s)
                                                       : conversation(type, now_s);
    json_t *ev = item != NULL ? json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:o}, s:n, s:i, s:I, s:I}", "type",
                                          "notification_event", "app_id", SAMPLE_APP_ID, "id", id, "topic", type, "data",
                                          "type", "notification_event_data", "item", item, "links", "delivery_attempts",
                                          1, "first_sent_at", now_s, "created_at", now_s)
                              : NULL;
    char *out = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    return out;
}
