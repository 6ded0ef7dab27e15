/*
 * Ping-pong (issue 12): every owner change ends with the owner's value in every tool and exactly the pushes it
 * needs, however the tools answer. The fakes send no webhooks, so the test posts, signed, what each tool would send
 * after a write: an echo built from what the fake now holds. Then non-owners write: a stale event (older than what
 * the tool already showed) changes nothing; a conflicting one is reverted once (on_conflict: revert), and the echo
 * of that revert is quiet again. Writes are counted on the fakes (accepted write requests, /_fake/requests), and
 * after each step the hub is settled (every event applied, the queue empty) before the counts are read, so a push
 * that comes late is still counted.
 *
 *   1. three tools, a small policy: HubSpot owns email and name and pushes them to Stripe and Intercom;
 *   2. the same, with the echoes of two owner changes arriving late (the older first) after a restart of the hub,
 *      and a late owner event (stale); then a revert that has to wait (500) meeting a new owner value;
 *   3. five tools, deploy/run's stack (the example config and policies/): HubSpot, Stripe, Intercom and the sheet
 *      each change a field they own; HubSpot and Stripe then write fields they do not own; the sheet sends an email
 *      it cannot receive (a conflict with nothing to push);
 *   4. the five tools' owners all at once: pushes to one tool may coalesce, but none loses a field.
 *
 * Deterministic: in 1-3 one owner change at a time (so no two pushes to one tool can coalesce or not depending on
 * timing); 4 asserts bounds where timing decides; every wait polls with a bound, nothing asserts speed.
 */
#include "harness_tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define CID SY_ITT_INTERCOM_CONTACT

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static const char *str_at(json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

static void assert_delta(json_t *before, json_t *after, const char *name, json_int_t delta, const char *what)
{
    json_int_t d = sy_itr_counter(after, name) - sy_itr_counter(before, name);
    if (d != delta)
        fail_msg("%s: counters.%s: expected +%lld, got +%lld", what, name, (long long)delta, (long long)d);
}

/* The tool's user edits its own data: the fake's object with field set to value (the control API: not counted). */
static void edit_hubspot(sy_itd_fake_t *f, const char *id, const char *prop, const char *value)
{
    json_t *props = json_deep_copy(sy_itd_fake_object(f, id));
    assert_non_null(props);
    json_object_set_new(props, prop, json_string(value));
    sy_itd_fake_seed(f, json_pack("{s:o}", id, props));
}

static void edit_stripe(sy_itd_fake_t *f, const char *id, const char *field, const char *value)
{
    json_t *cus = json_deep_copy(sy_itd_fake_object(f, id));
    assert_non_null(cus);
    json_object_set_new(cus, field, json_string(value));
    sy_itd_fake_seed(f, json_pack("{s:o}", id, cus));
}

static void edit_intercom(sy_itd_fake_t *f, const char *id, const char *field, const char *value)
{
    sy_itd_fake_seed(f, json_pack("{s:{s:s}}", id, field, value));
}

/* Stripe's customer.updated for what its fake holds now (the webhook Stripe sends after any write), signed with
 * secret (NULL: the example config's demo secret). */
static void stripe_echo(sy_itt_stack_t *s, const char *secret, const char *event_id, int64_t created_s, const char *cus)
{
    json_t *obj = json_deep_copy(sy_itd_fake_object(s->fake[SY_ITT_STRIPE], cus));
    assert_non_null(obj);
    if (secret == NULL) {
        sy_itt_stripe(s->h, event_id, "customer.updated", created_s, obj);
    } else {
        json_t *ev = sy_itd_stripe_event(event_id, "customer.updated", created_s, obj);
        char *body = sy_it_own(s->h, json_dumps(ev, JSON_COMPACT), free);
        json_decref(ev);
        sy_it_response_t res;
        sy_it_post_stripe(s->h, secret, body, strlen(body), &res);
        sy_it_assert_stored(&res, 0);
        sy_it_response_dispose(&res);
    }
}

/* Intercom's contact.user.updated for what its fake holds now; email_as (unless NULL) replaces the email, as a tool
 * that reformats what it stores would report it. */
static void intercom_echo_as(sy_itt_stack_t *s, const char *notification_id, int64_t t_s, const char *id, const char *email_as)
{
    json_t *contact = json_deep_copy(sy_itd_fake_object(s->fake[SY_ITT_INTERCOM], id));
    assert_non_null(contact);
    if (email_as != NULL)
        json_object_set_new(contact, "email", json_string(email_as));
    json_object_set_new(contact, "updated_at", json_integer(t_s));
    sy_itt_intercom(s->h, notification_id, "contact.user.updated", t_s, contact);
}

static void intercom_echo(sy_itt_stack_t *s, const char *notification_id, int64_t t_s, const char *id)
{
    intercom_echo_as(s, notification_id, t_s, id, NULL);
}

/* HubSpot's webhooks after the hub's writes: one contact.propertyChange per property the accepted writes of its
 * request log from index `from` on set (HubSpot sends one event per changed property), with the value the fake holds
 * now. Returns how many events were posted (0: nothing to echo). */
static size_t hubspot_echo(sy_itt_stack_t *s, const char *secret, size_t from, long long *event_id, int64_t t_ms)
{
    sy_itd_fake_t *f = s->fake[SY_ITT_HUBSPOT];
    /* owned by the harness until posted, so that a failed assertion inside the loop leaks nothing */
    json_t *reqs = sy_itd_fake_requests(f), *r, *events = sy_it_own_json(s->h, json_array());
    json_t *seen = sy_it_own_json(s->h, json_object());
    size_t i;
    json_array_foreach(reqs, i, r)
    {
        json_error_t jerr;
        const char *body = str_at(r, "body");
        json_int_t status = json_integer_value(json_object_get(r, "status"));
        if (i < from || strcmp(str_at(r, "method"), "PATCH") != 0 || status < 200 || status > 299 || body == NULL)
            continue;
        const char *path = str_at(r, "path"), *id = strrchr(path, '/') + 1;
        json_t *doc = json_loads(body, 0, &jerr), *v;
        if (doc == NULL)
            fail_msg("HubSpot got a PATCH that is not JSON (%s): %s", jerr.text, body);
        sy_it_own_json(s->h, doc);
        const char *prop;
        json_object_foreach(json_object_get(doc, "properties"), prop, v)
        {
            char key[160];
            snprintf(key, sizeof(key), "%s/%s", id, prop);
            if (json_object_get(seen, key) != NULL)
                continue;
            json_object_set_new(seen, key, json_true());
            json_array_append_new(events, sy_itr_hs_event((*event_id)++, "contact.propertyChange", atoll(id), t_ms, prop,
                                                          str_at(sy_itd_fake_object(f, id), prop)));
        }
        sy_it_release(s->h, doc);
    }
    sy_it_release(s->h, seen);
    size_t n = json_array_size(events);
    if (n != 0)
        (void)sy_itr_hubspot_post(s->h, "hubspot", secret, json_incref(events)); /* a reference of its own */
    return n;
}

static size_t num_requests(sy_itd_fake_t *f)
{
    json_t *reqs = sy_itd_fake_requests(f);
    size_t n = json_array_size(reqs);
    sy_it_release(f->h, reqs);
    return n;
}

/* ---- 1. three tools ------------------------------------------------------------------------------------------ */

#define CUS3 "cus_PingPong3"
#define HS3 61

static const char policy3[] = "entity: customer\n"
                              "fields:\n"
                              "  email: {owner: hubspot, push: [stripe, intercom], normalize: [email], on_conflict: revert}\n"
                              "  name: {owner: hubspot, push: [stripe, intercom], normalize: [trim], on_conflict: revert}\n"
                              "identity:\n"
                              "  strong: [email]\n"
                              "loop_guard: {revert_budget: 3, window: 1h}\n"
                              "sources:\n"
                              "  hubspot:\n"
                              "    objects:\n"
                              "      - events: [contact.creation, contact.propertyChange]\n"
                              "        id: objectId\n"
                              "        fields: {email: properties.email, name: properties.name}\n"
                              "  stripe:\n"
                              "    create: never\n"
                              "    objects:\n"
                              "      - events: [customer.created, customer.updated]\n"
                              "        id: data.object.id\n"
                              "        fields: {email: data.object.email, name: data.object.name}\n"
                              "        links: {hubspot: data.object.metadata.hubspot_contact_id}\n"
                              "    push_as: {email: email, name: name}\n"
                              "  intercom:\n"
                              "    create: never\n"
                              "    objects:\n"
                              "      - events: [contact.user.created, contact.user.updated]\n"
                              "        id: data.item.id\n"
                              "        fields: {email: data.item.email, name: data.item.name}\n"
                              "    push_as: {email: email, name: name}\n";

/* Every tool holds email and name as the golden record has them. */
static void assert_three_agree(sy_itt_stack_t *s, const char *email, const char *name)
{
    json_t *rec = sy_itr_record(s->h, "hubspot:61");
    assert_non_null(rec);
    sy_itt_assert_str("golden email", sy_itt_golden(s->h, rec, "email"), email);
    sy_itt_assert_str("golden name", sy_itt_golden(s->h, rec, "name"), name);
    json_t *hs = sy_itd_fake_object(s->fake[SY_ITT_HUBSPOT], "61");
    json_t *cus = sy_itd_fake_object(s->fake[SY_ITT_STRIPE], CUS3);
    json_t *ic = sy_itd_fake_object(s->fake[SY_ITT_INTERCOM], CID);
    sy_itt_assert_str("HubSpot email", str_at(hs, "email"), email);
    sy_itt_assert_str("HubSpot name", str_at(hs, "name"), name);
    sy_itt_assert_str("Stripe email", str_at(cus, "email"), email);
    sy_itt_assert_str("Stripe name", str_at(cus, "name"), name);
    sy_itt_assert_str("Intercom email", str_at(ic, "email"), email);
    sy_itt_assert_str("Intercom name", str_at(ic, "name"), name);
}

/* The three fakes seeded with one customer, the hub on policy3, and the three tools introducing that customer (phase
 * 0): one record, linked everywhere, settled. */
static sy_it_t *three_tools_start(void **state, sy_itt_stack_t *s, int64_t t0, long long *hs_event)
{
    static const sy_it_options_t opts = {
        .extra_sources = "  intercom:\n    connector: intercom\n    secrets: [{value: " SY_ITT_INTERCOM_SECRET "}]\n"};
    static const sy_itd_api_t api = {.timeout = "5s"};
    sy_it_t *h = sy_it_create(state, &opts);

    memset(s, 0, sizeof(*s));
    s->h = h;
    s->fake[SY_ITT_STRIPE] = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    s->fake[SY_ITT_HUBSPOT] = sy_itd_fake_start(h, "hubspot", NULL, NULL, 1);
    s->fake[SY_ITT_INTERCOM] = sy_itd_fake_start(h, "intercom", "ic-token-pp", NULL, 1);
    sy_itd_set_api(h, "stripe", s->fake[SY_ITT_STRIPE], &api);
    sy_itd_set_api(h, "hubspot", s->fake[SY_ITT_HUBSPOT], &api);
    sy_itd_set_api(h, "intercom", s->fake[SY_ITT_INTERCOM], &api);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", policy3, strlen(policy3)));
    sy_itd_fake_seed(s->fake[SY_ITT_STRIPE], json_pack("{s:{s:s, s:s, s:{s:s}}}", CUS3, "email", "ann@acme.test", "name", "Ann Lee",
                                                       "metadata", "hubspot_contact_id", "61"));
    sy_itd_fake_seed(s->fake[SY_ITT_HUBSPOT], json_pack("{s:{s:s, s:s}}", "61", "email", "ann@acme.test", "name", "Ann Lee"));
    sy_itd_fake_seed(s->fake[SY_ITT_INTERCOM], json_pack("{s:{s:s, s:s}}", CID, "email", "ann@acme.test", "name", "Ann Lee"));
    sy_it_start(h);

    sy_itr_hubspot_post(h, "hubspot", SY_IT_HUBSPOT_SECRET,
                        json_pack("[o, o]",
                                  sy_itr_hs_event(*hs_event, "contact.propertyChange", HS3, t0 * 1000, "email", "ann@acme.test"),
                                  sy_itr_hs_event(*hs_event + 1, "contact.propertyChange", HS3, t0 * 1000, "name", "Ann Lee")));
    *hs_event += 2;
    stripe_echo(s, SY_IT_STRIPE_SECRET_A, "evt_pp3_0", t0 + 1, CUS3);
    intercom_echo(s, "notif_pp3_0", t0 + 1, CID);
    sy_itt_settle(h);
    json_t *rec = sy_itr_record(h, "hubspot:61");
    json_t *xrefs = json_object_get(rec, "xrefs");
    if (sy_itr_count_str(json_object_get(xrefs, "stripe"), CUS3) != 1 ||
        sy_itr_count_str(json_object_get(xrefs, "intercom"), CID) != 1)
        fail_msg("the tools' objects are not linked to one record: %s", sy_itr_text(h, rec));
    assert_three_agree(s, "ann@acme.test", "Ann Lee");
    return h;
}

static void test_three_tools(void **state)
{
    sy_itt_stack_t s;
    size_t base[SY_ITT_NUM_TOOLS], want[SY_ITT_NUM_TOOLS] = {0};
    const int64_t t0 = sy_now_ms() / 1000 - 3000;
    long long hs_event = 9301;
    sy_it_t *h = three_tools_start(state, &s, t0, &hs_event);

    sy_itt_count_writes(&s, base);
    json_t *c0 = sy_itr_health(h);

    /* 1. the owner changes the email: in HubSpot, then its webhook; one write to each of the other two */
    edit_hubspot(s.fake[SY_ITT_HUBSPOT], "61", "email", "ann@nova.test");
    sy_itr_hubspot_post(h, "hubspot", SY_IT_HUBSPOT_SECRET,
                        sy_itr_hs_event(hs_event++, "contact.propertyChange", HS3, (t0 + 10) * 1000, "email", "ann@nova.test"));
    sy_itt_settle(h);
    want[SY_ITT_STRIPE] = 1, want[SY_ITT_INTERCOM] = 1;
    sy_itt_assert_writes(&s, base, want, "the owner's email change");
    assert_three_agree(&s, "ann@nova.test", "Ann Lee");

    /* the echoes: each tool reports the value it was sent (Intercom in other case, which the email normaliser
     * folds: not a conflict); nothing moves */
    stripe_echo(&s, SY_IT_STRIPE_SECRET_A, "evt_pp3_1", t0 + 20, CUS3);
    intercom_echo_as(&s, "notif_pp3_1", t0 + 20, CID, " Ann@Nova.TEST");
    sy_itt_settle(h);
    sy_itt_assert_writes(&s, base, want, "after the echoes of the email");
    json_t *c1 = sy_itr_health(h);
    assert_delta(c0, c1, "conflicts", 0, "echoes");
    assert_delta(c0, c1, "reverts", 0, "echoes");

    /* 2a. a stale write: Stripe's event older than the echo it already sent, with the old email: dropped */
    json_t *old = json_deep_copy(sy_itd_fake_object(s.fake[SY_ITT_STRIPE], CUS3));
    json_object_set_new(old, "email", json_string("ann@acme.test"));
    sy_itr_stripe(h, "evt_pp3_stale", "customer.updated", t0 + 15, old);
    sy_itt_settle(h);
    sy_itt_assert_writes(&s, base, want, "a stale Stripe event");
    json_t *c2 = sy_itr_health(h);
    assert_delta(c1, c2, "stale", 2, "a stale Stripe event (email and name: counted per field)");
    assert_delta(c1, c2, "reverts", 0, "a stale Stripe event");
    assert_three_agree(&s, "ann@nova.test", "Ann Lee");

    /* 2b. conflicting writes, newer: Intercom renames the contact, Stripe the customer; each is reverted, once */
    edit_intercom(s.fake[SY_ITT_INTERCOM], CID, "name", "Ann L.");
    intercom_echo(&s, "notif_pp3_2", t0 + 30, CID);
    edit_stripe(s.fake[SY_ITT_STRIPE], CUS3, "name", "Ann Lee (billing)");
    stripe_echo(&s, SY_IT_STRIPE_SECRET_A, "evt_pp3_2", t0 + 30, CUS3);
    sy_itt_settle(h);
    want[SY_ITT_STRIPE] = 2, want[SY_ITT_INTERCOM] = 2;
    sy_itt_assert_writes(&s, base, want, "the reverts of two conflicting names");
    json_t *c3 = sy_itr_health(h);
    assert_delta(c2, c3, "conflicts", 2, "two conflicting names");
    assert_delta(c2, c3, "reverts", 2, "two conflicting names");
    assert_three_agree(&s, "ann@nova.test", "Ann Lee");

    /* the echoes of the reverts, and of HubSpot's own contact: quiet */
    stripe_echo(&s, SY_IT_STRIPE_SECRET_A, "evt_pp3_3", t0 + 40, CUS3);
    intercom_echo(&s, "notif_pp3_3", t0 + 40, CID);
    sy_itr_hubspot_post(h, "hubspot", SY_IT_HUBSPOT_SECRET,
                        sy_itr_hs_event(hs_event++, "contact.propertyChange", HS3, (t0 + 40) * 1000, "name", "Ann Lee"));
    sy_itt_settle(h);
    sy_itt_assert_writes(&s, base, want, "after the echoes of the reverts");
    json_t *c4 = sy_itr_health(h);
    assert_delta(c3, c4, "conflicts", 0, "echoes of the reverts");
    assert_delta(c3, c4, "reverts", 0, "echoes of the reverts");
    assert_delta(c0, c4, "frozen", 0, "the whole exchange");
    assert_three_agree(&s, "ann@nova.test", "Ann Lee");

    /* and nothing more comes: settled again, the counts stand */
    sy_itt_settle(h);
    sy_itt_assert_writes(&s, base, want, "at rest");
    sy_it_pass(h);
}

/* The echoes of two owner changes arrive only after the hub restarted, the older one first (a tool's webhook queue
 * drains late): both values are still known as the hub's own pushes (kept in the record, not in memory), so neither
 * echo is a conflict and nothing is pushed again. */
static void test_late_echoes_across_restart(void **state)
{
    sy_itt_stack_t s;
    size_t base[SY_ITT_NUM_TOOLS], want[SY_ITT_NUM_TOOLS] = {0};
    const int64_t t0 = sy_now_ms() / 1000 - 3000;
    long long hs_event = 9401;
    sy_it_t *h = three_tools_start(state, &s, t0, &hs_event);

    sy_itt_count_writes(&s, base);
    /* two owner changes, settled in between so that both are written (none coalesced away) */
    edit_hubspot(s.fake[SY_ITT_HUBSPOT], "61", "email", "ann@v1.test");
    sy_itr_hubspot_post(h, "hubspot", SY_IT_HUBSPOT_SECRET,
                        sy_itr_hs_event(hs_event++, "contact.propertyChange", HS3, (t0 + 10) * 1000, "email", "ann@v1.test"));
    sy_itt_settle(h);
    json_t *stripe_v1 = sy_it_own_json(h, json_deep_copy(sy_itd_fake_object(s.fake[SY_ITT_STRIPE], CUS3)));
    json_t *intercom_v1 = sy_it_own_json(h, json_deep_copy(sy_itd_fake_object(s.fake[SY_ITT_INTERCOM], CID)));
    sy_itt_assert_str("Stripe email after v1", str_at(stripe_v1, "email"), "ann@v1.test");
    sy_itt_assert_str("Intercom email after v1", str_at(intercom_v1, "email"), "ann@v1.test");
    edit_hubspot(s.fake[SY_ITT_HUBSPOT], "61", "email", "ann@v2.test");
    sy_itr_hubspot_post(h, "hubspot", SY_IT_HUBSPOT_SECRET,
                        sy_itr_hs_event(hs_event++, "contact.propertyChange", HS3, (t0 + 11) * 1000, "email", "ann@v2.test"));
    sy_itt_settle(h);
    want[SY_ITT_STRIPE] = 2, want[SY_ITT_INTERCOM] = 2;
    sy_itt_assert_writes(&s, base, want, "two owner changes");

    assert_int_equal(sy_it_stop(h), 0);
    sy_it_disconnect(h);
    sy_it_start(h);
    json_t *c0 = sy_itr_health(h);
    /* the late echoes of v1, then the echoes of v2 */
    sy_itr_stripe(h, "evt_pp3_v1", "customer.updated", t0 + 20, json_incref(stripe_v1));
    sy_itt_intercom(h, "notif_pp3_v1", "contact.user.updated", t0 + 20, json_incref(intercom_v1));
    stripe_echo(&s, SY_IT_STRIPE_SECRET_A, "evt_pp3_v2", t0 + 21, CUS3);
    intercom_echo(&s, "notif_pp3_v2", t0 + 21, CID);
    sy_itt_settle(h);
    sy_itt_assert_writes(&s, base, want, "the late echoes after a restart");
    json_t *c1 = sy_itr_health(h);
    assert_delta(c0, c1, "conflicts", 0, "late echoes after a restart");
    assert_delta(c0, c1, "reverts", 0, "late echoes after a restart");
    assert_delta(c0, c1, "late_echoes", 2, "late echoes after a restart");
    assert_three_agree(&s, "ann@v2.test", "Ann Lee");

    /* HubSpot's own webhooks can come out of order too: an older owner event, delivered now, is stale */
    sy_itr_hubspot_post(h, "hubspot", SY_IT_HUBSPOT_SECRET,
                        sy_itr_hs_event(hs_event++, "contact.propertyChange", HS3, (t0 + 5) * 1000, "email", "ann@v0.test"));
    sy_itt_settle(h);
    sy_itt_assert_writes(&s, base, want, "a late owner event");
    assert_delta(c1, sy_itr_health(h), "stale", 1, "a late owner event");
    assert_three_agree(&s, "ann@v2.test", "Ann Lee");
    sy_itt_settle(h);
    sy_itt_assert_writes(&s, base, want, "at rest");
    sy_it_pass(h);
}

/* A revert that has to wait meets a new owner value: Stripe renames the customer (a conflict), the revert's first
 * attempt fails (500), and before it is retried the owner renames the contact. However the two pushes meet (folded
 * into one queued push, or one after the other), Stripe must end with the owner's new name, never the reverted old
 * one, and the echoes must be quiet. How many writes reach Stripe depends on timing (1 or 2); the end state does not. */
static void test_revert_meets_owner_change(void **state)
{
    sy_itt_stack_t s;
    size_t base[SY_ITT_NUM_TOOLS], now[SY_ITT_NUM_TOOLS];
    const int64_t t0 = sy_now_ms() / 1000 - 3000;
    long long hs_event = 9451;
    sy_it_t *h = three_tools_start(state, &s, t0, &hs_event);

    sy_itt_count_writes(&s, base);
    json_t *c0 = sy_itr_health(h);
    sy_itd_fake_mode(s.fake[SY_ITT_STRIPE], "error500", 0, 0, 1);
    edit_stripe(s.fake[SY_ITT_STRIPE], CUS3, "name", "Ann Lee (billing)");
    stripe_echo(&s, SY_IT_STRIPE_SECRET_A, "evt_pp3_race", t0 + 10, CUS3);
    edit_hubspot(s.fake[SY_ITT_HUBSPOT], "61", "name", "Ann Nova");
    sy_itr_hubspot_post(h, "hubspot", SY_IT_HUBSPOT_SECRET,
                        sy_itr_hs_event(hs_event++, "contact.propertyChange", HS3, (t0 + 11) * 1000, "name", "Ann Nova"));
    sy_itt_settle(h);
    assert_three_agree(&s, "ann@acme.test", "Ann Nova");
    sy_itt_count_writes(&s, now);
    size_t stripe_writes = now[SY_ITT_STRIPE] - base[SY_ITT_STRIPE];
    if (stripe_writes < 1 || stripe_writes > 2)
        fail_msg("expected 1 or 2 accepted writes to Stripe, got %zu: %s", stripe_writes,
                 sy_itr_text(h, sy_itd_fake_requests(s.fake[SY_ITT_STRIPE])));
    if (sy_itd_count(sy_itd_fake_requests(s.fake[SY_ITT_STRIPE]), "POST", "/v1/customers/" CUS3, 500) != 1)
        fail_msg("the fake's one 500 did not meet a push: %s", sy_itr_text(h, sy_itd_fake_requests(s.fake[SY_ITT_STRIPE])));
    size_t want[SY_ITT_NUM_TOOLS] = {[SY_ITT_STRIPE] = stripe_writes, [SY_ITT_INTERCOM] = 1};
    sy_itt_assert_writes(&s, base, want, "a revert meeting an owner change");

    stripe_echo(&s, SY_IT_STRIPE_SECRET_A, "evt_pp3_race_echo", t0 + 20, CUS3);
    intercom_echo(&s, "notif_pp3_race_echo", t0 + 20, CID);
    sy_itt_settle(h);
    sy_itt_assert_writes(&s, base, want, "after the echoes");
    json_t *c1 = sy_itr_health(h);
    assert_delta(c0, c1, "conflicts", 1, "one conflicting Stripe name");
    assert_three_agree(&s, "ann@acme.test", "Ann Nova");
    sy_it_pass(h);
}

/* ---- 2. five tools ------------------------------------------------------------------------------------------- */

#define CUS SY_ITT_STRIPE_CUSTOMER

static void edit_sheet(sy_itd_fake_t *f, const char *cell, const char *value)
{
    json_t *tab = json_deep_copy(json_object_get(sy_itd_fake_object(f, SY_ITT_SPREADSHEET), "Customers"));
    assert_non_null(tab);
    json_object_set_new(tab, cell, json_string(value));
    sy_itd_fake_seed(f, json_pack("{s:{s:o}}", SY_ITT_SPREADSHEET, "Customers", tab));
}

/* The row edit the Apps Script posts for row 2 as the fake sheet holds it. */
static void sheet_echo(sy_itt_stack_t *s)
{
    json_t *tab = json_object_get(sy_itd_fake_object(s->fake[SY_ITT_SHEETS], SY_ITT_SPREADSHEET), "Customers");
    json_t *values = json_object();
    static const char *const cols[][2] = {{"A", "record_id"}, {"B", "email"}, {"C", "name"}, {"D", "owner"}, {"E", "stage"}};
    for (size_t i = 0; i != sizeof(cols) / sizeof(cols[0]); ++i) {
        char cell[8];
        snprintf(cell, sizeof(cell), "%s2", cols[i][0]);
        json_object_set_new(values, cols[i][1], json_string(str_at(tab, cell) != NULL ? str_at(tab, cell) : ""));
    }
    sy_itt_sheets_row(s->h, 2, values);
}

static json_t *conversation(const char *state_name, int64_t t_s)
{
    return json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:{s:s, s:[{s:s, s:s}]}}", "type", "conversation", "id", "147", "state",
                     state_name, "open", strcmp(state_name, "open") == 0, "created_at", (json_int_t)(t_s - 7200), "updated_at",
                     (json_int_t)t_s, "contacts", "type", "contact.list", "contacts", "type", "contact", "id", CID);
}

/* Every tool holds what the golden record says for the fields it has. */
static void assert_five_agree(sy_itt_stack_t *s)
{
    static const char *const to_hubspot[][2] = {{"email", "email"},
                                                {"name", "name"},
                                                {"subscription_status", "subscription_status"},
                                                {"plan", "plan"},
                                                {"mrr", "mrr"},
                                                {"last_replied_at", "intercom_last_replied_at"},
                                                {"last_contacted_at", "intercom_last_contacted_at"},
                                                {"last_conversation_at", "intercom_last_conversation_at"},
                                                {"last_conversation_state", "intercom_last_conversation_state"},
                                                {"implementation_owner", "implementation_owner"},
                                                {"implementation_stage", "implementation_stage"}};
    json_t *rec = sy_itr_record(s->h, "hubspot:51");
    json_t *hs = sy_itd_fake_object(s->fake[SY_ITT_HUBSPOT], "51");
    json_t *cus = sy_itd_fake_object(s->fake[SY_ITT_STRIPE], CUS);
    json_t *tab = json_object_get(sy_itd_fake_object(s->fake[SY_ITT_SHEETS], SY_ITT_SPREADSHEET), "Customers");
    char what[128];
    assert_non_null(rec);
    for (size_t i = 0; i != sizeof(to_hubspot) / sizeof(to_hubspot[0]); ++i) {
        const char *golden = sy_itt_golden(s->h, rec, to_hubspot[i][0]);
        snprintf(what, sizeof(what), "HubSpot %s (golden %s)", to_hubspot[i][1], to_hubspot[i][0]);
        sy_itt_assert_str(what, str_at(hs, to_hubspot[i][1]), golden);
    }
    sy_itt_assert_str("Stripe email", str_at(cus, "email"), sy_itt_golden(s->h, rec, "email"));
    sy_itt_assert_str("Stripe name", str_at(cus, "name"), sy_itt_golden(s->h, rec, "name"));
    sy_itt_assert_str("sheet owner (D2)", str_at(tab, "D2"), sy_itt_golden(s->h, rec, "implementation_owner"));
    sy_itt_assert_str("sheet stage (E2)", str_at(tab, "E2"), sy_itt_golden(s->h, rec, "implementation_stage"));
}

/* deploy/run's stack with its demo customer shown by every tool at known times (like the trigger samples): one
 * record, linked everywhere, settled. */
static sy_it_t *five_tools_start(void **state, sy_itt_stack_t *s, int64_t t0, long long *hs_event)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_itt_stack_create(h, s);
    sy_it_start(h);

    /* 0. deploy/run's demo customer shows up in every tool (like the trigger samples, at known times) */
    json_t *cus0 = sy_itr_customer(CUS, "billing@acme.example", "Acme Corp", NULL, "51");
    sy_itt_stripe(h, "evt_pp5_0", "customer.updated", t0, cus0);
    sy_itt_hubspot(h, json_pack("[o, o]",
                                sy_itr_hs_event(*hs_event, "contact.propertyChange", 51, t0 * 1000, "email", "ana@acme.example"),
                                sy_itr_hs_event(*hs_event + 1, "contact.propertyChange", 51, t0 * 1000, "name", "Acme Corp")));
    *hs_event += 2;
    edit_hubspot(s->fake[SY_ITT_HUBSPOT], "51", "name", "Acme Corp");
    sy_itt_settle(h);
    json_t *contact = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "type", "contact", "id", CID, "role", "user", "email",
                                "ana@acme.example", "name", "Ana Silva", "updated_at", (json_int_t)(t0 + 1), "last_replied_at",
                                (json_int_t)(t0 - 3600), "last_contacted_at", (json_int_t)(t0 - 1800));
    sy_itt_intercom(h, "notif_pp5_0", "contact.user.created", t0 + 1, contact);
    sy_itt_intercom(h, "notif_pp5_1", "conversation.user.created", t0 + 2, conversation("open", t0 + 2));
    sheet_echo(s);
    sy_itt_settle(h);
    stripe_echo(s, NULL, "evt_pp5_1", t0 + 3, CUS); /* Stripe's webhook for the email the hub wrote */
    sy_itt_settle(h);
    json_t *rec = sy_itr_record(h, "hubspot:51");
    json_t *xrefs = json_object_get(rec, "xrefs");
    if (sy_itr_count_str(json_object_get(xrefs, "stripe"), CUS) != 1 ||
        sy_itr_count_str(json_object_get(xrefs, "intercom"), CID) != 1 ||
        sy_itr_count_str(json_object_get(xrefs, "sheets"), "2") != 1)
        fail_msg("the tools' objects are not linked to one record: %s", sy_itr_text(h, rec));
    assert_five_agree(s);
    return h;
}

static void test_five_tools_ping_pong(void **state)
{
    sy_itt_stack_t s;
    size_t base[SY_ITT_NUM_TOOLS], want[SY_ITT_NUM_TOOLS] = {0};
    const int64_t t0 = sy_now_ms() / 1000 - 3000;
    long long hs_event = 9501;
    sy_it_t *h = five_tools_start(state, &s, t0, &hs_event);

    sy_itt_count_writes(&s, base);
    size_t hs_from = num_requests(s.fake[SY_ITT_HUBSPOT]);
    json_t *c0 = sy_itr_health(h);

    /* 1. each owner changes a field it owns, one at a time: HubSpot the name (→ Stripe) ... */
    edit_hubspot(s.fake[SY_ITT_HUBSPOT], "51", "name", "Acme Corporation");
    sy_itt_hubspot(h, sy_itr_hs_event(hs_event++, "contact.propertyChange", 51, (t0 + 10) * 1000, "name", "Acme Corporation"));
    sy_itt_settle(h);
    want[SY_ITT_STRIPE] = 1;
    sy_itt_assert_writes(&s, base, want, "HubSpot's rename");
    /* ... Stripe the subscription (→ HubSpot) ... */
    sy_itt_stripe(h, "evt_pp5_sub", "customer.subscription.updated", t0 + 11,
                  sy_itr_subscription("sub_PP5", CUS, "active", "price_pro_monthly", 9900));
    sy_itt_settle(h);
    want[SY_ITT_HUBSPOT] = 1;
    sy_itt_assert_writes(&s, base, want, "Stripe's subscription");
    /* ... Intercom closes the conversation (→ HubSpot) ... */
    sy_itt_intercom(h, "notif_pp5_2", "conversation.admin.closed", t0 + 12, conversation("closed", t0 + 12));
    sy_itt_settle(h);
    want[SY_ITT_HUBSPOT] = 2;
    sy_itt_assert_writes(&s, base, want, "Intercom's closed conversation");
    /* ... and the onboarding team moves the row to training (→ HubSpot) */
    edit_sheet(s.fake[SY_ITT_SHEETS], "E2", "training");
    sheet_echo(&s);
    sy_itt_settle(h);
    want[SY_ITT_HUBSPOT] = 3;
    sy_itt_assert_writes(&s, base, want, "the sheet's stage");
    /* ... and HubSpot the lifecycle stage (→ Stripe metadata) and the phone (→ Stripe, E.164 as normalised) */
    edit_hubspot(s.fake[SY_ITT_HUBSPOT], "51", "lifecyclestage", "Customer");
    sy_itt_hubspot(h, sy_itr_hs_event(hs_event++, "contact.propertyChange", 51, (t0 + 13) * 1000, "lifecyclestage", "Customer"));
    sy_itt_settle(h);
    edit_hubspot(s.fake[SY_ITT_HUBSPOT], "51", "phone", "+49 (30) 123-456");
    sy_itt_hubspot(h, sy_itr_hs_event(hs_event++, "contact.propertyChange", 51, (t0 + 14) * 1000, "phone", "+49 (30) 123-456"));
    sy_itt_settle(h);
    want[SY_ITT_STRIPE] = 3;
    sy_itt_assert_writes(&s, base, want, "HubSpot's lifecycle stage and phone");
    json_t *cus = sy_itd_fake_object(s.fake[SY_ITT_STRIPE], CUS);
    sy_itt_assert_str("Stripe metadata.lifecycle_stage", str_at(json_object_get(cus, "metadata"), "lifecycle_stage"), "customer");
    sy_itt_assert_str("Stripe phone", str_at(cus, "phone"), "+4930123456");
    assert_five_agree(&s);

    /* the echoes of those writes: Stripe's customer.updated, HubSpot's property changes; nothing moves */
    stripe_echo(&s, NULL, "evt_pp5_2", t0 + 20, CUS);
    /* subscription_status, plan, mrr; intercom_last_conversation_at and _state; implementation_stage */
    size_t echoed = hubspot_echo(&s, SY_ITT_HUBSPOT_SECRET, hs_from, &hs_event, (t0 + 20) * 1000);
    if (echoed != 6)
        fail_msg("expected HubSpot echoes of 6 properties, got %zu: %s", echoed,
                 sy_itr_text(h, sy_itd_fake_requests(s.fake[SY_ITT_HUBSPOT])));
    sy_itt_settle(h);
    sy_itt_assert_writes(&s, base, want, "after the echoes");
    json_t *c1 = sy_itr_health(h);
    assert_delta(c0, c1, "conflicts", 0, "echoes");
    assert_delta(c0, c1, "reverts", 0, "echoes");
    assert_five_agree(&s);
    size_t hs_from2 = num_requests(s.fake[SY_ITT_HUBSPOT]);

    /* 2. non-owners write. A stale Stripe event (older than its echo) with the old name: dropped */
    json_t *stale = json_deep_copy(sy_itd_fake_object(s.fake[SY_ITT_STRIPE], CUS));
    json_object_set_new(stale, "name", json_string("Acme Corp"));
    sy_itt_stripe(h, "evt_pp5_stale", "customer.updated", t0 + 15, stale);
    sy_itt_settle(h);
    sy_itt_assert_writes(&s, base, want, "a stale Stripe event");
    json_t *c2 = sy_itr_health(h);
    assert_delta(c1, c2, "stale", 4, "a stale Stripe event (email, name, phone, lifecycle_stage: counted per mapped field)");
    assert_delta(c1, c2, "reverts", 0, "a stale Stripe event");

    /* a sales rep sets HubSpot's subscription_status (Stripe owns it), Stripe renames the customer (HubSpot owns
     * it), and the onboarding team types another email into the row (HubSpot owns email; the sheet receives none,
     * so it is a conflict with nothing to revert: the sheet keeps its own cell) */
    edit_hubspot(s.fake[SY_ITT_HUBSPOT], "51", "subscription_status", "canceled");
    sy_itt_hubspot(h,
                   sy_itr_hs_event(hs_event++, "contact.propertyChange", 51, (t0 + 30) * 1000, "subscription_status", "canceled"));
    edit_stripe(s.fake[SY_ITT_STRIPE], CUS, "name", "ACME Corp GmbH");
    stripe_echo(&s, NULL, "evt_pp5_3", t0 + 30, CUS);
    edit_sheet(s.fake[SY_ITT_SHEETS], "B2", "ops@acme.example");
    sheet_echo(&s);
    sy_itt_settle(h);
    want[SY_ITT_STRIPE] = 4, want[SY_ITT_HUBSPOT] = 4;
    sy_itt_assert_writes(&s, base, want, "the reverts of two conflicting writes");
    json_t *c3 = sy_itr_health(h);
    assert_delta(c2, c3, "conflicts", 3, "HubSpot's subscription_status, Stripe's name, the sheet's email");
    assert_delta(c2, c3, "reverts", 2, "HubSpot's subscription_status and Stripe's name (the sheet gets no email)");
    assert_five_agree(&s);
    sy_itt_assert_str("HubSpot subscription_status after the revert",
                      str_at(sy_itd_fake_object(s.fake[SY_ITT_HUBSPOT], "51"), "subscription_status"), "active");
    sy_itt_assert_str("Stripe name after the revert", str_at(sy_itd_fake_object(s.fake[SY_ITT_STRIPE], CUS), "name"),
                      "Acme Corporation");

    /* the echoes of the reverts: quiet */
    stripe_echo(&s, NULL, "evt_pp5_4", t0 + 40, CUS);
    if (hubspot_echo(&s, SY_ITT_HUBSPOT_SECRET, hs_from2, &hs_event, (t0 + 40) * 1000) != 1)
        fail_msg("expected a HubSpot echo of subscription_status only");
    sy_itt_settle(h);
    sy_itt_assert_writes(&s, base, want, "after the echoes of the reverts");
    json_t *c4 = sy_itr_health(h);
    assert_delta(c3, c4, "conflicts", 0, "echoes of the reverts");
    assert_delta(c3, c4, "reverts", 0, "echoes of the reverts");
    assert_delta(c0, c4, "frozen", 0, "the whole exchange");
    assert_five_agree(&s);

    /* and nothing more comes: settled again, the counts stand */
    sy_itt_settle(h);
    sy_itt_assert_writes(&s, base, want, "at rest");
    sy_it_pass(h);
}

/* Every owner at once: HubSpot, Stripe, Intercom and the sheet change their fields back to back, then the hub is
 * settled once. The pushes to HubSpot for the one record may coalesce into fewer writes (how many depends on timing,
 * so only the bounds are asserted), but none may lose a field: HubSpot ends with every owner's value and Stripe with
 * HubSpot's; then the echoes of all of it are quiet. */
static void test_five_owners_at_once(void **state)
{
    sy_itt_stack_t s;
    size_t base[SY_ITT_NUM_TOOLS], now[SY_ITT_NUM_TOOLS];
    const int64_t t0 = sy_now_ms() / 1000 - 3000;
    long long hs_event = 9601;
    sy_it_t *h = five_tools_start(state, &s, t0, &hs_event);

    sy_itt_count_writes(&s, base);
    size_t hs_from = num_requests(s.fake[SY_ITT_HUBSPOT]);
    json_t *c0 = sy_itr_health(h);
    edit_hubspot(s.fake[SY_ITT_HUBSPOT], "51", "name", "Acme Corporation");
    sy_itt_hubspot(h, sy_itr_hs_event(hs_event++, "contact.propertyChange", 51, (t0 + 10) * 1000, "name", "Acme Corporation"));
    sy_itt_stripe(h, "evt_pp5x_sub", "customer.subscription.updated", t0 + 10,
                  sy_itr_subscription("sub_PP5x", CUS, "past_due", "price_team_yearly", 49000));
    sy_itt_intercom(h, "notif_pp5x_1", "conversation.admin.closed", t0 + 10, conversation("closed", t0 + 10));
    edit_sheet(s.fake[SY_ITT_SHEETS], "D2", "Bo");
    edit_sheet(s.fake[SY_ITT_SHEETS], "E2", "live");
    sheet_echo(&s);
    sy_itt_settle(h);
    sy_itt_count_writes(&s, now);
    size_t hs_writes = now[SY_ITT_HUBSPOT] - base[SY_ITT_HUBSPOT];
    if (hs_writes < 1 || hs_writes > 3)
        fail_msg("expected 1 to 3 writes to HubSpot (three owners' changes, coalesced or not), got %zu: %s", hs_writes,
                 sy_itr_text(h, sy_itd_fake_requests(s.fake[SY_ITT_HUBSPOT])));
    size_t want[SY_ITT_NUM_TOOLS] = {[SY_ITT_STRIPE] = 1, [SY_ITT_HUBSPOT] = hs_writes};
    sy_itt_assert_writes(&s, base, want, "four owners at once");
    assert_five_agree(&s);
    json_t *hs = sy_itd_fake_object(s.fake[SY_ITT_HUBSPOT], "51");
    sy_itt_assert_str("HubSpot subscription_status", str_at(hs, "subscription_status"), "past_due");
    sy_itt_assert_str("HubSpot plan", str_at(hs, "plan"), "price_team_yearly");
    sy_itt_assert_str("HubSpot mrr", str_at(hs, "mrr"), "49000");
    sy_itt_assert_str("HubSpot intercom_last_conversation_state", str_at(hs, "intercom_last_conversation_state"), "closed");
    sy_itt_assert_str("HubSpot implementation_owner", str_at(hs, "implementation_owner"), "Bo");
    sy_itt_assert_str("HubSpot implementation_stage", str_at(hs, "implementation_stage"), "live");
    sy_itt_assert_str("Stripe name", str_at(sy_itd_fake_object(s.fake[SY_ITT_STRIPE], CUS), "name"), "Acme Corporation");

    /* the echoes: Stripe's customer, HubSpot's properties (7: three billing, two support, two implementation) */
    stripe_echo(&s, NULL, "evt_pp5x_echo", t0 + 20, CUS);
    size_t echoed = hubspot_echo(&s, SY_ITT_HUBSPOT_SECRET, hs_from, &hs_event, (t0 + 20) * 1000);
    if (echoed != 7)
        fail_msg("expected HubSpot echoes of 7 properties, got %zu", echoed);
    sy_itt_settle(h);
    sy_itt_assert_writes(&s, base, want, "after the echoes");
    json_t *c1 = sy_itr_health(h);
    assert_delta(c0, c1, "conflicts", 0, "owners at once and their echoes");
    assert_delta(c0, c1, "reverts", 0, "owners at once and their echoes");
    assert_five_agree(&s);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_three_tools, teardown),
        cmocka_unit_test_teardown(test_late_echoes_across_restart, teardown),
        cmocka_unit_test_teardown(test_revert_meets_owner_change, teardown),
        cmocka_unit_test_teardown(test_five_tools_ping_pong, teardown),
        cmocka_unit_test_teardown(test_five_owners_at_once, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
