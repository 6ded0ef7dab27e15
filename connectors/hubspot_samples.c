/*
 * HubSpot's sample events for `switchyard trigger`: a batch of one webhook event as HubSpot posts it, with a fresh
 * eventId and the current time.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors_builtin.h"
#include "crypto.h"

const char *const sy_hubspot_sample_types[] = {"contact.creation", "contact.propertyChange", NULL};

char *sy_hubspot_sample(const char *type, int64_t now_ms)
{
    if (!sy_connector_sample_known(sy_hubspot_sample_types, type))
        return NULL;
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
