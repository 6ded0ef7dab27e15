/*
 * Realistic sample events for `switchyard trigger` (like the Stripe CLI's fixtures): the shapes the
 * providers document, with fresh ids and the current time so they pass dedupe and timestamp checks.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crypto.h"

const char *const sy_sample_types_stripe[] = {"customer.created", "customer.updated", "customer.subscription.updated",
                                              "invoice.paid", NULL};
const char *const sy_sample_types_hubspot[] = {"contact.creation", "contact.propertyChange", NULL};

static void random_token(char *out, size_t bytes)
{
    unsigned char raw[16];
    if (bytes > sizeof(raw))
        bytes = sizeof(raw);
    sy_random_bytes(raw, bytes);
    sy_hex_encode(raw, bytes, out);
}

static json_t *stripe_customer(const char *cus, int64_t created)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:i, s:I, s:s, s:b, s:s, s:s, s:{s:s}, s:s, s:s, s:b}", "id",
                     cus, "object", "customer", "address", "city", "Berlin", "country", "DE", "line1", "Torstrasse 1",
                     "postal_code", "10119", "balance", 0, "created", (json_int_t)created, "currency", "eur",
                     "delinquent", 0, "email", "billing@acme.example", "name", "Acme Corp", "metadata",
                     "hubspot_contact_id", "51", "phone", "+4930123456", "tax_exempt", "none", "livemode", 0);
}

static json_t *stripe_object(const char *type, const char *cus, int64_t now_s, json_t **previous)
{
    char id[40];
    *previous = NULL;
    if (strncmp(type, "customer.subscription.", 22) == 0) {
        snprintf(id, sizeof(id), "sub_%.14s", cus + 4);
        *previous = json_pack("{s:s}", "status", "trialing");
        return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:{s:s, s:[{s:s, s:{s:s, s:i, s:s, s:{s:s}}, s:i}]}, "
                         "s:b, s:{}}",
                         "id", id, "object", "subscription", "customer", cus, "status", "active", "created",
                         (json_int_t)(now_s - 86400 * 14), "current_period_start", (json_int_t)now_s,
                         "current_period_end", (json_int_t)(now_s + 86400 * 30), "items", "object", "list", "data",
                         "object", "subscription_item", "price", "id", "price_growth_monthly", "unit_amount", 4900,
                         "currency", "eur", "recurring", "interval", "month", "quantity", 1, "livemode", 0, "metadata");
    }
    if (strncmp(type, "invoice.", 8) == 0) {
        snprintf(id, sizeof(id), "in_%.14s", cus + 4);
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:b, s:I, s:b}", "id", id, "object", "invoice",
                         "customer", cus, "customer_email", "billing@acme.example", "status", "paid", "amount_due",
                         4900, "amount_paid", 4900, "currency", "eur", "billing_reason", "subscription_cycle", "paid", 1,
                         "created", (json_int_t)now_s, "livemode", 0);
    }
    if (strcmp(type, "customer.updated") == 0)
        *previous = json_pack("{s:s}", "email", "old-billing@acme.example");
    return stripe_customer(cus, now_s - 3600);
}

static char *stripe_sample(const char *type, int64_t now_ms)
{
    char evt[40], cus[40], req[40], tok[33];
    json_t *previous, *object, *data, *ev;

    random_token(tok, 12);
    snprintf(evt, sizeof(evt), "evt_%.24s", tok);
    /* One demo customer, so repeated triggers update it (and link to HubSpot contact 51) instead of piling up. */
    snprintf(cus, sizeof(cus), "cus_SyDemoAcme01");
    random_token(tok, 7);
    snprintf(req, sizeof(req), "req_%.14s", tok);
    if ((object = stripe_object(type, cus, now_ms / 1000, &previous)) == NULL)
        return NULL;
    data = json_pack("{s:o}", "object", object);
    if (previous != NULL)
        json_object_set_new(data, "previous_attributes", previous);
    ev = json_pack("{s:s, s:s, s:s, s:I, s:o, s:b, s:i, s:{s:s, s:n}, s:s}", "id", evt, "object", "event", "api_version",
                   "2024-06-20", "created", (json_int_t)(now_ms / 1000), "data", data, "livemode", 0, "pending_webhooks",
                   1, "request", "id", req, "idempotency_key", "type", type);
    char *out = ev != NULL ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(ev);
    return out;
}

static char *hubspot_sample(const char *type, int64_t now_ms)
{
    unsigned char r[5];
    sy_random_bytes(r, sizeof(r));
    /* eventIds are numbers: take 40 random bits so repeated triggers are not duplicates. */
    json_int_t event_id = (json_int_t)r[0] << 32 | (json_int_t)r[1] << 24 | r[2] << 16 | r[3] << 8 | r[4];
    json_t *ev = json_pack("{s:I, s:i, s:i, s:i, s:I, s:s, s:i, s:i, s:s}", "eventId", event_id + 1, "subscriptionId",
                           2411005, "portalId", 62515, "appId", 54321, "occurredAt", (json_int_t)now_ms,
                           "subscriptionType", type, "attemptNumber", 0, "objectId", 51, "changeSource",
                           "CRM");
    if (strcmp(type, "contact.propertyChange") == 0) {
        json_object_set_new(ev, "propertyName", json_string("email"));
        json_object_set_new(ev, "propertyValue", json_string("ana@acme.example"));
        json_object_set_new(ev, "sourceId", json_string("userId:1234567"));
    } else {
        json_object_set_new(ev, "changeFlag", json_string("NEW"));
    }
    json_t *batch = json_pack("[o]", ev);
    char *out = batch != NULL ? json_dumps(batch, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(batch);
    return out;
}

static int known(const char *const *types, const char *type)
{
    for (; *types != NULL; ++types)
        if (strcmp(*types, type) == 0)
            return 1;
    return 0;
}

char *sy_sample_event(const char *connector, const char *type, int64_t now_ms)
{
    if (strcmp(connector, "stripe") == 0 && known(sy_sample_types_stripe, type))
        return stripe_sample(type, now_ms);
    if (strcmp(connector, "hubspot") == 0 && known(sy_sample_types_hubspot, type))
        return hubspot_sample(type, now_ms);
    return NULL;
}
