/*
 * The applier: an event's body decoded under the example policy (hub/sync/observe.c, hub/sync/normalize.c), then the
 * observations applied to golden records (hub/sync/records.c) in a write transaction that is aborted, against a store
 * seeded with a few records.
 *
 * Input: byte 0 picks the source (bit 0: stripe or hubspot), byte 1 the event type from the source's list (the
 * policy's event types plus one it does not map), the rest is the event's body as the log stores it.
 */
#include "fuzz_common.h"

static sy_fuzz_world_t observe_world;

static const char *const observe_stripe_types[] = {
    "customer.created",       "customer.updated",       "customer.deleted",       "customer.subscription.created",
    "customer.subscription.updated", "customer.subscription.deleted", "invoice.paid", "invoice.payment_failed",
    "charge.succeeded",
};
static const char *const observe_hubspot_types[] = {
    "contact.creation", "contact.propertyChange", "contact.deletion", "company.creation",
    "company.propertyChange", "company.deletion", "deal.creation",
};

static int observe_init(const char *root)
{
    return sy_fuzz_world_open(&observe_world, root, "observe");
}

static void observe_fini(void)
{
    sy_fuzz_world_close(&observe_world);
}

static void observe_one(const uint8_t *data, size_t size)
{
    sy_fuzz_in_t in = sy_fuzz_in(data, size);
    uint8_t which = sy_fuzz_byte(&in), type = sy_fuzz_byte(&in);
    sy_apply_stats_t stats = {0};
    const char *source, *type_name;
    if ((which & 1) == 0) {
        source = "stripe";
        type_name = observe_stripe_types[type % SY_ARRAY_SIZE(observe_stripe_types)];
    } else {
        source = "hubspot";
        type_name = observe_hubspot_types[type % SY_ARRAY_SIZE(observe_hubspot_types)];
    }
    int rc = sy_fuzz_world_apply(&observe_world, source, type_name, sy_fuzz_rest(&in), 0, &stats);
    /* Whatever a body says, the applier must be able to get past it: an error here stalls it at this event. */
    SY_FUZZ_CHECK(rc == 0 || rc == SY_EPARSE);
}

SY_FUZZ_MAIN(observe)
