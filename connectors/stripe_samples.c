/*
 * Stripe's sample events for `switchyard trigger` (like the Stripe CLI's fixtures): the shapes Stripe documents,
 * with fresh ids and the current time so they pass dedupe and timestamp checks.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors_builtin.h"
#include "crypto.h"

const char *const sy_stripe_sample_types[] = {"customer.created", "customer.updated", "customer.subscription.updated",
                                              "invoice.paid", NULL};

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

char *sy_stripe_sample(const char *type, int64_t now_ms)
{
    if (!sy_connector_sample_known(sy_stripe_sample_types, type))
        return NULL;
    char evt[40], cus[40], req[40], tok[33];
    json_t *previous, *object, *data, *ev;

    sy_connector_random_token(tok, 12);
    snprintf(evt, sizeof(evt), "evt_%.24s", tok);
    /* One demo customer, so repeated triggers update it (and link to HubSpot contact 51) instead of piling up. */
    snprintf(cus, sizeof(cus), "cus_SyDemoAcme01");
    sy_connector_random_token(tok, 7);
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
