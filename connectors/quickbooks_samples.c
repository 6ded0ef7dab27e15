/*
 * QuickBooks Online's sample notifications for `switchyard trigger`, in both shapes Intuit sends: the legacy
 * eventNotifications (types "<Entity>.<Operation>") and the CloudEvents array (types "qbo.<entity>.<change>.v1"),
 * with a fresh entity id or event id and the current time. Like the real ones they carry no field values.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors_builtin.h"
#include "crypto.h"

#define SAMPLE_REALM "9341455251541838"

const char *const sy_quickbooks_sample_types[] = {"Customer.Create", "Customer.Update", "Invoice.Create",
                                                  "qbo.customer.updated.v1", "qbo.invoice.created.v1", NULL};

/* "2026-01-15T10:00:00.123Z" */
static void iso_time(int64_t now_ms, char *out, size_t size)
{
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t len = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + len, size - len, ".%03dZ", (int)(now_ms % 1000));
}

char *sy_quickbooks_sample(const char *type, int64_t now_ms)
{
    if (!sy_connector_sample_known(sy_quickbooks_sample_types, type))
        return NULL;
    char when[40], token[33], id[16];
    unsigned char r[2];
    iso_time(now_ms, when, sizeof(when));
    sy_random_bytes(r, sizeof(r));
    snprintf(id, sizeof(id), "%u", 1u + (unsigned)(r[0] << 8 | r[1]) % 5000u); /* entity ids are small decimals */
    json_t *root;
    if (strncmp(type, "qbo.", 4) == 0) {
        sy_connector_random_token(token, 16);
        char uuid[40];
        snprintf(uuid, sizeof(uuid), "%.8s-%.4s-%.4s-%.4s-%.12s", token, token + 8, token + 12, token + 16, token + 20);
        root = json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{}}]", "specversion", "1.0", "id", uuid, "source",
                         "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=", "type", type, "datacontenttype",
                         "application/json", "time", when, "intuitentityid", id, "intuitaccountid", SAMPLE_REALM,
                         "data");
    } else {
        const char *dot = strchr(type, '.');
        char name[32];
        snprintf(name, sizeof(name), "%.*s", (int)(dot - type), type);
        root = json_pack("{s:[{s:s, s:{s:[{s:s, s:s, s:s, s:s}]}}]}", "eventNotifications", "realmId", SAMPLE_REALM,
                         "dataChangeEvent", "entities", "name", name, "id", id, "operation", dot + 1, "lastUpdated",
                         when);
    }
    char *out = root != NULL ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    return out;
}
