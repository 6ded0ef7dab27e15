/*
 * Intercom as a first-class spoke on the real binary, with a temp policy (HubSpot owns email, name and plan and pushes
 * them to Intercom; Intercom owns the support fields) and a fake Intercom API ($SY_FAKE --api intercom):
 *
 *   1. a HubSpot contact's email reaches Intercom: no object yet → POST /contacts/search finds the seeded contact,
 *      which is linked, then PUT /contacts/{id}; every request pins Intercom-Version: 2.11 and carries the token;
 *   2. signed Intercom notifications (X-Hub-Signature sha1) update that golden record: contact.user.updated sets
 *      last_replied_at / last_contacted_at, conversation.admin.closed (read through data.item.contacts) sets the
 *      last conversation's time and state; the same signed request again is a duplicate (the only replay defence);
 *      a forged one is 401 and changes nothing;
 *   3. an owner change elsewhere (HubSpot renames the contact; plan → custom_attributes) is pushed to Intercom
 *      exactly once;
 *   4. a contact Intercom does not have: search finds none → POST /contacts {"role":"user","email",…}, linked;
 *   5. a rename to an email another Intercom contact holds: 409 → a dead letter naming that contact (link conflict).
 *
 * Deterministic: every wait polls with a bound, nothing asserts speed.
 */
#include "harness_delivery.h"
#include "crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define IC_SECRET "ic-client-secret-it"
#define IC_TOKEN "ic-token-it"
#define CID "6657000000000000000000aa"
#define OTHER_CID "6657000000000000000000bb"
#define HS0 1750000000000LL
#define T0 1750000000LL
#define DELIVER_TIMEOUT_S 40.0

static const char policy[] =
    "entity: customer\n"
    "fields:\n"
    "  email: {owner: hubspot, push: [intercom], normalize: [email]}\n"
    "  name: {owner: hubspot, push: [intercom], normalize: [trim]}\n"
    "  plan: {owner: hubspot, push: [intercom]}\n"
    "  last_replied_at: {owner: intercom}\n"
    "  last_contacted_at: {owner: intercom}\n"
    "  last_conversation_at: {owner: intercom}\n"
    "  last_conversation_state: {owner: intercom}\n"
    "identity:\n"
    "  strong: [email]\n"
    "sources:\n"
    "  hubspot:\n"
    "    objects:\n"
    "      - events: [contact.creation, contact.propertyChange]\n"
    "        id: objectId\n"
    "        fields: {email: properties.email, name: properties.name, plan: properties.plan}\n"
    "  intercom:\n"
    "    rate: 1666/10s\n"
    "    create: if_missing\n"
    "    objects:\n"
    "      - events: [contact.user.created, contact.user.updated]\n"
    "        id: data.item.id\n"
    "        fields:\n"
    "          email: data.item.email\n"
    "          name: data.item.name\n"
    "          last_replied_at: data.item.last_replied_at\n"
    "          last_contacted_at: data.item.last_contacted_at\n"
    "      - events: [conversation.user.created, conversation.user.replied, conversation.admin.replied,\n"
    "                 conversation.admin.closed, conversation.admin.opened]\n"
    "        id: data.item.contacts.contacts.0.id\n"
    "        fields:\n"
    "          last_conversation_at: data.item.updated_at\n"
    "          last_conversation_state: data.item.state\n"
    "    push_as: {email: email, name: name, plan: plan}\n";

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static void assert_str(const char *what, const char *got, const char *want)
{
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s: expected \"%s\", got %s%s%s", what, want, got != NULL ? "\"" : "", got != NULL ? got : "(none)",
                 got != NULL ? "\"" : "");
}

static const char *str_at(json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

/* A golden value as text (numbers are kept as the event had them). */
static const char *value_text(sy_it_t *h, json_t *rec, const char *field)
{
    json_t *v = json_object_get(json_object_get(json_object_get(rec, "fields"), field), "value");
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        char *buf = sy_it_alloc(h, 32);
        snprintf(buf, 32, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return NULL;
}

/* Posts an Intercom notification signed with secret (HMAC-SHA1 of the body, computed here); returns the answer. */
static void post_intercom(sy_it_t *h, const char *secret, const char *body, sy_it_response_t *res)
{
    unsigned char mac[SY_SHA1_LEN];
    char sig[5 + 2 * SY_SHA1_LEN + 1] = "sha1=";
    sy_slice_t part = sy_slice_cstr(body);
    assert_int_equal(sy_hmac_sha1(sy_slice_cstr(secret), &part, 1, mac), 0);
    sy_hex_encode(mac, sizeof(mac), sig + 5);
    sig[sizeof(sig) - 1] = '\0';
    sy_it_headers_t hd = {0};
    sy_it_headers_add(&hd, "Content-Type", "application/json");
    sy_it_headers_add(&hd, "X-Hub-Signature", sig);
    sy_it_post(h, "/hooks/intercom", &hd, body, strlen(body), res);
    sy_it_headers_dispose(&hd);
}

/* {"type":"notification_event","id":id,"topic":topic,"created_at":T,"data":{"item":item}} (item taken over). */
static char *notification(sy_it_t *h, const char *id, const char *topic, json_int_t created_at, json_t *item)
{
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:I, s:{s:s, s:o}, s:i}", "type", "notification_event", "app_id",
                           "abc123de", "id", id, "topic", topic, "created_at", created_at, "data", "type",
                           "notification_event_data", "item", item, "delivery_attempts", 1);
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return sy_it_own(h, text, free);
}

/* The fake's requests with method and exactly path whose body holds needle (NULL: any). */
static size_t count_bodies(json_t *reqs, const char *method, const char *path, const char *needle)
{
    size_t i, n = 0;
    json_t *r;
    json_array_foreach(reqs, i, r)
    {
        const char *b = str_at(r, "body");
        n += strcmp(str_at(r, "method"), method) == 0 && strcmp(str_at(r, "path"), path) == 0 &&
             (needle == NULL || (b != NULL && strstr(b, needle) != NULL));
    }
    return n;
}

static void assert_all_pinned(sy_it_t *h, json_t *reqs)
{
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r)
    {
        if (str_at(r, "intercom_version") == NULL || strcmp(str_at(r, "intercom_version"), "2.11") != 0 ||
            json_integer_value(json_object_get(r, "status")) == 401)
            fail_msg("a request without Intercom-Version: 2.11 or the token: %s", sy_itr_text(h, r));
    }
}

static sy_it_t *create_hub(void **state, sy_itd_fake_t **fake)
{
    static const sy_it_options_t opts = {
        .extra_sources = "  intercom:\n    connector: intercom\n    secrets: [{value: " IC_SECRET "}]\n"};
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 5};
    sy_it_t *h = sy_it_create(state, &opts);
    *fake = sy_itd_fake_start(h, "intercom", IC_TOKEN, NULL, 1);
    sy_itd_set_api(h, "intercom", *fake, &api);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", policy, strlen(policy)));
    return h;
}

static void test_intercom_spoke(void **state)
{
    sy_itd_fake_t *fake;
    sy_it_t *h = create_hub(state, &fake);
    sy_it_response_t res;
    json_t *reqs, *rec, *obj;

    sy_itd_fake_seed(fake, json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", CID, "email", "ann@acme.test", "name", "Ann Lee",
                                     OTHER_CID, "email", "taken@acme.test", "name", "Someone Else"));
    sy_it_start(h);

    /* 1. HubSpot's contact 51 gets an email: looked up at Intercom by it, found, linked, then written */
    sy_itr_hs_change(h, 7001, 51, HS0, "email", "ann@acme.test");
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    reqs = sy_itd_wait_requests(fake, "PUT", "/contacts/" CID, 200, 1, 10);
    if (count_bodies(reqs, "POST", "/contacts/search",
                     "{\"query\":{\"field\":\"email\",\"operator\":\"=\",\"value\":\"ann@acme.test\"}}") != 1 ||
        count_bodies(reqs, "PUT", "/contacts/" CID, "{\"email\":\"ann@acme.test\"}") != 1 || json_array_size(reqs) != 2)
        fail_msg("expected one search and one PUT of contact " CID ", got %s", sy_itr_text(h, reqs));
    assert_all_pinned(h, reqs);
    rec = sy_itr_record(h, "hubspot:51");
    if (sy_itr_count_str(json_object_get(json_object_get(rec, "xrefs"), "intercom"), CID) != 1)
        fail_msg("the found Intercom contact is not linked: %s", sy_itr_text(h, rec));

    /* 2. Intercom's own notifications set the support fields of that record */
    json_t *contact = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "type", "contact", "id", CID, "role", "user", "email",
                                "ann@acme.test", "name", "Ann Lee", "last_replied_at", (json_int_t)(T0 - 3600),
                                "last_contacted_at", (json_int_t)(T0 - 1800));
    char *updated = notification(h, "notif_it_contact_1", "contact.user.updated", T0, contact);
    post_intercom(h, IC_SECRET, updated, &res);
    json_int_t seq = sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);
    json_t *conv = json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:{s:s, s:[{s:s, s:s}]}}", "type", "conversation", "id", "147",
                             "state", "closed", "open", 0, "created_at", (json_int_t)(T0 - 7200), "updated_at",
                             (json_int_t)(T0 + 60), "contacts", "type", "contact.list", "contacts", "type", "contact",
                             "id", CID);
    post_intercom(h, IC_SECRET, notification(h, "notif_it_conv_1", "conversation.admin.closed", T0 + 60, conv), &res);
    sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);
    sy_itr_wait_applied(h);
    rec = sy_itr_record(h, "intercom:" CID);
    assert_str("records get intercom:<id> is the HubSpot contact's record", sy_itr_id(rec),
               sy_itr_id(sy_itr_record(h, "hubspot:51")));
    assert_str("last_replied_at", value_text(h, rec, "last_replied_at"), "1749996400");
    assert_str("last_contacted_at", value_text(h, rec, "last_contacted_at"), "1749998200");
    assert_str("last_conversation_at", value_text(h, rec, "last_conversation_at"), "1750000060");
    assert_str("last_conversation_state", value_text(h, rec, "last_conversation_state"), "closed");

    /* the same signed request again (no timestamp is signed): only the dedupe on the notification id stops it */
    post_intercom(h, IC_SECRET, updated, &res);
    assert_int_equal(sy_it_assert_stored(&res, 1), seq);
    sy_it_response_dispose(&res);
    json_int_t events = sy_it_log_count(h);
    post_intercom(h, "not-the-secret", updated, &res);
    sy_it_assert_error(&res, 401, "signature_invalid");
    sy_it_response_dispose(&res);
    assert_int_equal(sy_it_log_count(h), events);

    /* 3. the owner renames the contact: one PUT to Intercom; then a plan, as a custom attribute, one more */
    sy_itr_hs_change(h, 7002, 51, HS0 + 1000, "name", "Ann Nova");
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    assert_str("Intercom contact name", str_at(sy_itd_fake_object(fake, CID), "name"), "Ann Nova");
    reqs = sy_itd_fake_requests(fake);
    if (count_bodies(reqs, "PUT", "/contacts/" CID, "{\"name\":\"Ann Nova\"}") != 1 || json_array_size(reqs) != 3)
        fail_msg("the rename must reach Intercom exactly once, and nothing else: %s", sy_itr_text(h, reqs));
    sy_itr_hs_change(h, 7003, 51, HS0 + 2000, "plan", "pro");
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    obj = sy_itd_fake_object(fake, CID);
    assert_str("Intercom custom attribute plan", str_at(json_object_get(obj, "custom_attributes"), "plan"), "pro");
    reqs = sy_itd_fake_requests(fake);
    if (count_bodies(reqs, "PUT", "/contacts/" CID, "{\"custom_attributes\":{\"plan\":\"pro\"}}") != 1 ||
        json_array_size(reqs) != 4)
        fail_msg("the plan must reach Intercom exactly once: %s", sy_itr_text(h, reqs));

    /* 4. a contact Intercom does not have: not found, created with role user and the email, linked */
    sy_itr_hs_change(h, 7004, 52, HS0 + 3000, "email", "cy@acme.test");
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    reqs = sy_itd_wait_requests(fake, "POST", "/contacts", 200, 1, 10);
    if (count_bodies(reqs, "POST", "/contacts", "{\"role\":\"user\",\"email\":\"cy@acme.test\"") != 1)
        fail_msg("expected one create of cy@acme.test: %s", sy_itr_text(h, reqs));
    rec = sy_itr_record(h, "hubspot:52");
    json_t *links = json_object_get(json_object_get(rec, "xrefs"), "intercom");
    if (json_array_size(links) != 1 || sy_itd_fake_object(fake, json_string_value(json_array_get(links, 0))) == NULL)
        fail_msg("the created contact is not linked: %s", sy_itr_text(h, rec));
    assert_str("created contact email", str_at(sy_itd_fake_object(fake, json_string_value(json_array_get(links, 0))), "email"),
               "cy@acme.test");

    /* 5. HubSpot gives contact 51 an email another Intercom contact holds: 409, a dead letter naming it */
    sy_itr_hs_change(h, 7005, 51, HS0 + 4000, "email", "taken@acme.test");
    sy_itr_wait_applied(h);
    json_t *dead = sy_itd_wait_dead(h, 1, DELIVER_TIMEOUT_S);
    json_t *d = json_array_get(dead, 0);
    json_t *response = json_object_get(d, "response");
    if (json_integer_value(json_object_get(response, "status")) != 409 || str_at(response, "body") == NULL ||
        strstr(str_at(response, "body"), "already exists with id=" OTHER_CID) == NULL || str_at(d, "reason") == NULL)
        fail_msg("expected a dead letter with the 409 naming " OTHER_CID ": %s", sy_itr_text(h, dead));
    assert_str("the contact kept its email at Intercom", str_at(sy_itd_fake_object(fake, CID), "email"), "ann@acme.test");
    assert_all_pinned(h, sy_itd_fake_requests(fake));
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_intercom_spoke, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
