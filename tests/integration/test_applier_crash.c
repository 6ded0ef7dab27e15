/*
 * Exactly-once application across crashes, on the real binary: a deterministic mixed workload (HubSpot property
 * changes, Stripe customer / subscription / invoice events over 50 customers) is applied once without
 * interruption (run A) and once with kill -9 repeatedly while events arrive and while the applier catches up
 * (run B, fresh data dir). Both must end with the same golden records, the same queued pushes and the same
 * counters: nothing lost, nothing applied twice. Wall-clock fields are left out of the comparison.
 */
#include "harness_records.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define CUSTOMERS 50
#define PHASES 13
#define S0 1750000000LL /* provider time of the first event, seconds */

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/* Which tool sends phase p (one HubSpot batch per phase, or one Stripe request per customer). */
static int phase_is_hubspot(int p)
{
    return p == 0 || p == 1 || p == 3 || p == 4 || p == 8 || p == 11;
}

/* Provider time of event (phase, customer): strictly increasing in send order, so per object too. */
static long long tick(int p, int k)
{
    return S0 + (long long)p * CUSTOMERS + k;
}

static json_t *hubspot_event(int p, int k)
{
    char value[64];
    const char *prop;
    long long id = 100000 + (long long)p * 1000 + k, contact = 2000 + k;
    switch (p) {
    case 0:
        prop = "email";
        snprintf(value, sizeof(value), "c%d@work.test", k);
        break;
    case 1:
        prop = "name";
        snprintf(value, sizeof(value), "Customer %d", k);
        break;
    case 3:
        prop = "company";
        snprintf(value, sizeof(value), k % 2 == 0 ? "Firm %d Inc." : "firm %d", k / 4); /* weak-key neighbours */
        break;
    case 4:
        prop = "phone";
        snprintf(value, sizeof(value), "+1 (555) 01%02d", k);
        break;
    case 8:
        prop = "lifecyclestage";
        snprintf(value, sizeof(value), k % 3 == 0 ? "Customer" : "lead");
        break;
    default: /* 11: a new email for some, a write to a Stripe-owned field for the others (a conflict) */
        prop = k % 3 == 0 ? "email" : "mrr";
        snprintf(value, sizeof(value), k % 3 == 0 ? "c%d.new@work.test" : "%d", k % 3 == 0 ? k : 100 + k);
        break;
    }
    return sy_itr_hs_event(id, "contact.propertyChange", contact, tick(p, k) * 1000, prop, value);
}

/* Sends the Stripe event of (phase, customer). */
static void stripe_event(sy_it_t *h, int p, int k)
{
    char evt[32], cus[32], email[64], name[64], sub[32], inv[32], link[16];
    const char *type;
    json_t *obj;
    snprintf(evt, sizeof(evt), "evt_w%02d_%02d", p, k);
    snprintf(cus, sizeof(cus), "cus_w%02d", k);
    snprintf(link, sizeof(link), "%d", 2000 + k);
    snprintf(email, sizeof(email), p == 12 && k % 3 == 0 ? "C%d.New@work.test" : "c%d@work.test", k);
    snprintf(name, sizeof(name), p == 7 && k % 4 == 0 ? "CUSTOMER %d" : "Customer %d", k); /* 7: a reformatting */
    switch (p) {
    case 2: /* every fifth customer is found by email only, the others through the HubSpot link */
    case 7:
    case 12:
        type = p == 2 ? "customer.created" : "customer.updated";
        obj = sy_itr_customer(cus, email, name, p == 2 ? NULL : "+1 555 0100", k % 5 == 0 ? NULL : link);
        break;
    case 5:
    case 9: /* a second active subscription for every seventh customer (double billing), else a status change */
        type = p == 5 || k % 7 == 0 ? "customer.subscription.created" : "customer.subscription.updated";
        snprintf(sub, sizeof(sub), "sub_w%02d_%c", k, p == 9 && k % 7 == 0 ? 'b' : 'a');
        obj = sy_itr_subscription(sub, cus, p == 5 || k % 7 == 0 ? "active" : (k % 2 ? "past_due" : "canceled"),
                                  p == 5 ? "price_basic" : "price_pro", p == 5 ? 4900 : 9900);
        break;
    default: /* 6, 10: invoices */
        type = p == 6 ? "invoice.paid" : "invoice.payment_failed";
        snprintf(inv, sizeof(inv), "in_w%02d_%d", k, p);
        obj = sy_itr_invoice(inv, cus, p == 6 ? "paid" : "open", email);
        break;
    }
    sy_itr_stripe(h, evt, type, tick(p, k), obj);
}

static void send_phase(sy_it_t *h, int p)
{
    if (phase_is_hubspot(p)) {
        json_t *batch = json_array();
        for (int k = 0; k != CUSTOMERS; ++k)
            json_array_append_new(batch, hubspot_event(p, k));
        sy_itr_hubspot_post(h, "hubspot", SY_IT_HUBSPOT_SECRET, batch);
    } else {
        for (int k = 0; k != CUSTOMERS; ++k)
            stripe_event(h, p, k);
    }
}

static size_t events_total(void)
{
    return (size_t)PHASES * CUSTOMERS;
}

typedef struct st_outcome_t {
    json_t *records;  /* [record...] without wall-clock fields, in list order */
    json_t *queue;    /* {push id: push} without wall-clock fields */
    json_t *counters; /* health.counters */
    json_t *health;
} outcome_t;

static void collect(sy_it_t *h, outcome_t *o)
{
    json_t *recs = sy_itr_records(h), *queue = sy_itr_queue(h), *v;
    size_t i;
    o->records = sy_it_own_json(h, json_array());
    o->queue = sy_it_own_json(h, json_object());
    json_array_foreach(recs, i, v) json_array_append_new(o->records, sy_itr_stable(v));
    json_array_foreach(queue, i, v) json_object_set_new(o->queue, sy_itr_id(v), sy_itr_stable(v));
    if (json_object_size(o->queue) != json_array_size(queue))
        fail_msg("two queued pushes share an id: %s", sy_itr_text(h, queue));
    sy_itr_assert_coalesced(queue);
    o->health = sy_itr_health(h);
    o->counters = json_object_get(o->health, "counters");
    sy_it_release(h, recs);
    sy_it_release(h, queue);
}

static int on_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Kills the server (SIGKILL) and notes where the applier was just before. */
static void crash(sy_it_t *h, const char *when)
{
    json_t *st = sy_itr_status(h);
    print_message("kill -9 %s: applier cursor %lld, log last_seq %lld\n", when,
                  (long long)json_integer_value(json_object_get(json_object_get(st, "applier"), "cursor")),
                  (long long)json_integer_value(json_object_get(json_object_get(st, "log"), "last_seq")));
    sy_it_release(h, st);
    sy_it_kill(h);
}

static void test_kill9_applies_exactly_once(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    const char *policy = sy_itr_example_policy(h);
    outcome_t a, b;
    size_t i;
    json_t *ra, *rb;
    const char *id;

    const char *policy_path = sy_it_write_file(h, "policy.yaml", policy, strlen(policy));

    sy_itr_set_policy(h, policy_path);

    /* run A: no interruption */
    sy_it_start(h);
    for (int p = 0; p != PHASES; ++p)
        send_phase(h, p);
    sy_itr_wait_applied(h);
    collect(h, &a);
    assert_int_equal(sy_it_stop(h), 0);
    /* the workload exercises what it should: every event observed once, records joined, pushes, conflicts */
    assert_int_equal(sy_itr_counter(a.health, "observations"), (json_int_t)events_total());
    assert_int_equal(json_array_size(a.records), CUSTOMERS);
    if (json_object_size(a.queue) < CUSTOMERS || sy_itr_counter(a.health, "reverts") == 0 ||
        sy_itr_counter(a.health, "conflicts") == 0 || sy_itr_counter(a.health, "echoes") == 0 ||
        json_array_size(json_object_get(a.health, "double_billing")) == 0 ||
        json_array_size(json_object_get(a.health, "merge_suggestions")) == 0)
        fail_msg("run A does not exercise the applier as intended: %s, %zu pushes", sy_itr_text(h, a.health),
                 json_object_size(a.queue));

    /* run B: a fresh data dir; killed while events arrive (the applier a batch behind), right after the last
     * one, and while the applier catches up on a backlog logged while no policy was configured */
    if (nftw(h->data_dir, on_remove, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fail_msg("cannot remove %s", h->data_dir);
    sy_it_start(h);
    for (int p = 0; p != PHASES; ++p) {
        send_phase(h, p);
        if (p == 3 || p == 4) {
            crash(h, p == 3 ? "after phase 3" : "after phase 4");
            if (p == 4)
                sy_itr_set_policy(h, NULL); /* the applier is off: the rest piles up in the log */
            sy_it_start(h);
        }
    }
    crash(h, "right after the last event");
    sy_itr_set_policy(h, policy_path);
    for (int round = 0; round != 3; ++round) {
        sy_it_start(h);
        crash(h, "right after a restart");
    }
    sy_it_start(h);
    sy_itr_wait_applied(h);
    collect(h, &b);

    /* the same outcome */
    if (!json_equal(a.counters, b.counters))
        fail_msg("counters differ\nrun A: %s\nrun B: %s", sy_itr_text(h, a.counters), sy_itr_text(h, b.counters));
    assert_int_equal(sy_itr_counter(b.health, "observations"), (json_int_t)events_total());
    if (json_array_size(a.records) != json_array_size(b.records))
        fail_msg("run A has %zu records, run B %zu", json_array_size(a.records), json_array_size(b.records));
    json_array_foreach(a.records, i, ra)
    {
        rb = json_array_get(b.records, i);
        if (!json_equal(ra, rb))
            fail_msg("record #%zu differs\nrun A: %s\nrun B: %s", i, sy_itr_text(h, ra), sy_itr_text(h, rb));
    }
    json_object_foreach(a.queue, id, ra)
    {
        rb = json_object_get(b.queue, id);
        /* Idempotency keys carry each data dir's random instance id: compare what follows it. */
        const char *ka = json_string_value(json_object_get(ra, "idempotency_key"));
        const char *kb = json_string_value(json_object_get(rb, "idempotency_key"));
        if (ka != NULL && kb != NULL && strlen(ka) > 20 && strlen(kb) > 20 && strcmp(ka + 20, kb + 20) == 0) {
            json_t *tail = json_string(ka + 20); /* before ra's key (which ka points into) is replaced */
            json_object_set(ra, "idempotency_key", tail);
            json_object_set_new(rb, "idempotency_key", tail);
        }
        if (!json_equal(ra, rb))
            fail_msg("push %s differs\nrun A: %s\nrun B: %s", id, sy_itr_text(h, ra), sy_itr_text(h, rb));
    }
    if (json_object_size(a.queue) != json_object_size(b.queue))
        fail_msg("run A queued %zu pushes, run B %zu: %s", json_object_size(a.queue), json_object_size(b.queue),
                 sy_itr_text(h, b.queue));
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kill9_applies_exactly_once, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
