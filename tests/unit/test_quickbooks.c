/*
 * Unit tests for the inbound half of connectors/quickbooks.c: intuit-signature sign → verify, both body shapes
 * (legacy eventNotifications with ids and raw events composed in the caller's scratch, CloudEvents arrays), the
 * times QuickBooks writes, every refusal of parse, the samples and needs_fetch.
 * Recorded, Python-signed requests are in tests/data/quickbooks/ (test_connector_cases).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors_builtin.h"

#define TOKEN "qbo-verifier-token-0123"
#define MAX_EVENTS 8

static const sy_connector_t *qb;
static char scratch[MAX_EVENTS * SY_EVENT_SCRATCH_PER_EVENT];

static int setup(void **state)
{
    (void)state;
    qb = sy_connector_find("quickbooks");
    return qb == NULL;
}

static sy_source_verify_t conf_of(const char *secret)
{
    sy_source_verify_t conf = {.num_secrets = 1, .tolerance_ms = -1};
    conf.secrets[0] = sy_slice_cstr(secret);
    return conf;
}

/* Signs body with secret through the connector and verifies it under conf. */
static sy_verify_result_t sign_verify(const char *secret, const sy_source_verify_t *conf, const char *body)
{
    sy_header_t h[2];
    size_t nh = 2;
    char buf[128];
    sy_request_view_t req = {.method = SY_SLICE_LIT("POST"), .body = sy_slice_cstr(body), .now_ms = 1};
    assert_int_equal(qb->sign(conf, sy_slice_cstr(secret), &req, h, &nh, buf, sizeof(buf)), 0);
    assert_int_equal(nh, 1);
    assert_true(sy_slice_eq_cstr(h[0].name, "intuit-signature"));
    req.headers = h;
    req.num_headers = nh;
    return qb->verify(conf, &req);
}

static void test_sign_verify(void **state)
{
    (void)state;
    sy_source_verify_t conf = conf_of(TOKEN);
    assert_int_equal(sign_verify(TOKEN, &conf, "{\"eventNotifications\":[]}"), SY_VERIFY_OK);
    assert_int_equal(sign_verify("another-token", &conf, "{\"eventNotifications\":[]}"), SY_VERIFY_MISMATCH);
    /* Python: base64.b64encode(hmac.new(b"qbo-verifier-token-0123", b"[]", sha256).digest()) */
    sy_header_t h[1];
    size_t nh = 1;
    char buf[64];
    sy_request_view_t req = {.body = SY_SLICE_LIT("[]")};
    assert_int_equal(qb->sign(&conf, sy_slice_cstr(TOKEN), &req, h, &nh, buf, sizeof(buf)), 0);
    assert_int_equal(h[0].value.len, 44);
    /* Too small a buffer or header array is refused, never overrun. */
    nh = 1;
    assert_int_equal(qb->sign(&conf, sy_slice_cstr(TOKEN), &req, h, &nh, buf, 40), SY_ETOOBIG);
    nh = 0;
    assert_int_equal(qb->sign(&conf, sy_slice_cstr(TOKEN), &req, h, &nh, buf, sizeof(buf)), SY_ETOOBIG);
    sy_source_verify_t none = {.num_secrets = 0};
    assert_int_equal(qb->verify(&none, &req), SY_VERIFY_NO_SECRET);
}

static int parse_with(const char *body, char *scr, size_t scrsize, sy_event_ref_t *ev, size_t max, size_t *n,
                      const char **msg)
{
    sy_json_t j;
    sy_json_init(&j, 4096, 32);
    sy_request_view_t req = {.body = sy_slice_cstr(body), .scratch = scr, .scratch_size = scrsize};
    *msg = NULL;
    int rc = qb->parse(&j, &req, ev, max, n, msg);
    sy_json_dispose(&j);
    return rc;
}

static int parse(const char *body, sy_event_ref_t *ev, size_t *n, const char **msg)
{
    return parse_with(body, scratch, sizeof(scratch), ev, MAX_EVENTS, n, msg);
}

static void assert_slice(sy_slice_t s, const char *want)
{
    char got[1100];
    snprintf(got, sizeof(got), "%.*s", (int)s.len, s.base);
    assert_string_equal(got, want);
}

static void test_legacy_events(void **state)
{
    (void)state;
    static const char body[] =
        "{\"eventNotifications\":[{\"realmId\":\"1185883450\",\"dataChangeEvent\":{\"entities\":["
        "{\"name\":\"Customer\",\"id\":\"1\",\"operation\":\"Create\",\"lastUpdated\":\"2015-10-05T14:42:19-0700\"},"
        "{\"name\":\"Invoice\",\"id\":\"12\",\"operation\":\"Void\",\"lastUpdated\":\"2015-10-05T21:42:19.5Z\"}]}},"
        "{\"realmId\":\"42\",\"dataChangeEvent\":{\"entities\":[{\"name\":\"Customer\",\"id\":\"3\","
        "\"operation\":\"Merge\",\"lastUpdated\":\"2015-10-05T21:42:19+00:00\",\"deletedId\":\"4\"}]}}]}";
    sy_event_ref_t ev[MAX_EVENTS];
    size_t n;
    const char *msg;
    assert_int_equal(parse(body, ev, &n, &msg), 0);
    assert_int_equal(n, 3);
    assert_slice(ev[0].id, "1185883450:Customer:1:Create:2015-10-05T14:42:19-0700");
    assert_slice(ev[0].type, "Customer.Create");
    assert_int_equal(ev[0].occurred_at_ms, 1444081339000LL); /* 21:42:19 UTC */
    /* The event's bytes name its realm, so it can be fetched (and read) on its own. */
    assert_slice(ev[0].raw, "{\"realmId\":\"1185883450\",\"name\":\"Customer\",\"id\":\"1\",\"operation\":\"Create\","
                            "\"lastUpdated\":\"2015-10-05T14:42:19-0700\"}");
    assert_slice(ev[1].type, "Invoice.Void");
    assert_int_equal(ev[1].occurred_at_ms, 1444081339500LL);
    assert_slice(ev[2].id, "42:Customer:3:Merge:2015-10-05T21:42:19+00:00");
    assert_int_equal(ev[2].occurred_at_ms, 1444081339000LL);
    assert_slice(ev[2].raw, "{\"realmId\":\"42\",\"name\":\"Customer\",\"id\":\"3\",\"operation\":\"Merge\","
                            "\"lastUpdated\":\"2015-10-05T21:42:19+00:00\",\"deletedId\":\"4\"}");
    /* The composed parts live in the scratch, the rest in the body. */
    assert_true(ev[0].id.base >= scratch && ev[0].id.base < scratch + sizeof(scratch));

    /* A redelivery composes the same ids (the dedupe key of the legacy shape). */
    sy_event_ref_t again[MAX_EVENTS];
    static char other[MAX_EVENTS * SY_EVENT_SCRATCH_PER_EVENT];
    assert_int_equal(parse_with(body, other, sizeof(other), again, MAX_EVENTS, &n, &msg), 0);
    for (size_t i = 0; i != 3; ++i)
        assert_true(again[i].id.len == ev[i].id.len && memcmp(again[i].id.base, ev[i].id.base, ev[i].id.len) == 0);
}

static void test_legacy_limits(void **state)
{
    (void)state;
    static const char two[] =
        "{\"eventNotifications\":[{\"realmId\":\"1\",\"dataChangeEvent\":{\"entities\":["
        "{\"name\":\"Customer\",\"id\":\"1\",\"operation\":\"Update\",\"lastUpdated\":\"2015-10-05T14:42:19Z\"},"
        "{\"name\":\"Customer\",\"id\":\"2\",\"operation\":\"Update\",\"lastUpdated\":\"2015-10-05T14:42:19Z\"}]}}]}";
    sy_event_ref_t ev[MAX_EVENTS];
    size_t n;
    const char *msg;
    assert_int_equal(parse_with(two, scratch, sizeof(scratch), ev, 1, &n, &msg), SY_ETOOBIG);
    assert_string_equal(msg, "more events in the body than the limit");
    /* No scratch lent (or too little): refused, never written past. */
    assert_int_equal(parse_with(two, NULL, 0, ev, MAX_EVENTS, &n, &msg), SY_ETOOBIG);
    assert_string_equal(msg, "no room to compose the events' ids (the hub lent too little scratch)");
    char small[80];
    memset(small, 'x', sizeof(small));
    assert_int_equal(parse_with(two, small, 70, ev, MAX_EVENTS, &n, &msg), SY_ETOOBIG);
    assert_int_equal(small[70], 'x');

    /* An id over SY_EVENT_ID_MAX once composed. */
    char big[1200];
    char longid[230];
    memset(longid, '7', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    snprintf(big, sizeof(big),
             "{\"eventNotifications\":[{\"realmId\":\"1\",\"dataChangeEvent\":{\"entities\":[{\"name\":\"Customer\","
             "\"id\":\"%s\",\"operation\":\"Update\",\"lastUpdated\":\"2015-10-05T14:42:19Z\"}]}}]}",
             longid);
    assert_int_equal(parse(big, ev, &n, &msg), SY_EPARSE);
    assert_string_equal(msg, "event id is longer than the limit");
}

static void test_legacy_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *body, *msg;
    } cases[] = {
        {"{\"eventNotifications\":{}}", "body has no eventNotifications array"},
        {"{\"other\":1}", "body has no eventNotifications array"},
        {"{\"eventNotifications\":[]}", "body has no entities"},
        {"{\"eventNotifications\":[{\"realmId\":\"1\",\"dataChangeEvent\":{\"entities\":[]}}]}", "body has no entities"},
        {"{\"eventNotifications\":[7]}", "event notification is not a JSON object"},
        {"{\"eventNotifications\":[{\"realmId\":1,\"dataChangeEvent\":{\"entities\":[]}}]}",
         "event notification has no plain string realmId"},
        {"{\"eventNotifications\":[{\"realmId\":\"1\\u0031\",\"dataChangeEvent\":{\"entities\":[]}}]}",
         "event notification has no plain string realmId"},
        {"{\"eventNotifications\":[{\"realmId\":\"1\"}]}", "event notification has no dataChangeEvent.entities array"},
        {"{\"eventNotifications\":[{\"realmId\":\"1\",\"dataChangeEvent\":{\"entities\":[\"x\"]}}]}",
         "entity is not a JSON object"},
        {"{\"eventNotifications\":[{\"realmId\":\"1\",\"dataChangeEvent\":{\"entities\":[{\"name\":\"Customer\","
         "\"id\":\"\",\"operation\":\"Update\",\"lastUpdated\":\"2015-10-05T14:42:19Z\"}]}}]}",
         "entity has no plain string name, id and operation"},
        {"{\"eventNotifications\":[{\"realmId\":\"1\",\"dataChangeEvent\":{\"entities\":[{\"name\":\"Customer\","
         "\"id\":\"1\",\"operation\":\"Update\",\"lastUpdated\":\"2015-10-05 14:42:19\"}]}}]}",
         "entity has no lastUpdated time (ISO 8601)"},
        {"{\"eventNotifications\":[{\"realmId\":\"1\",\"dataChangeEvent\":{\"entities\":[{\"name\":\"Customer\","
         "\"id\":\"1\",\"operation\":\"Update\",\"lastUpdated\":\"2015-13-05T14:42:19Z\"}]}}]}",
         "entity has no lastUpdated time (ISO 8601)"},
        {"{\"eventNotifications\":[{\"realmId\":\"1\",\"dataChangeEvent\":{\"entities\":[{\"name\":\"Customer\","
         "\"id\":\"1\",\"operation\":\"Update\",\"lastUpdated\":\"2015-10-05T14:42:19+0700x\"}]}}]}",
         "entity has no lastUpdated time (ISO 8601)"},
        {"{\"eventNotifications\":[{\"realmId\":\"1\",\"dataChangeEvent\":{\"entities\":[{\"name\":\"Customer\","
         "\"id\":\"1\",\"operation\":\"Merge\",\"lastUpdated\":\"2015-10-05T14:42:19Z\",\"deletedId\":2}]}}]}",
         "entity deletedId is not a plain string id"},
        {"{\"eventNotifications\":[{\"realmId\":\"1\",\"dataChangeEvent\":{\"entities\":[{\"name\":\"Customer\","
         "\"id\":\"1\",\"operation\":\"Fetched\",\"lastUpdated\":\"2015-10-05T14:42:19Z\"}]}}]}",
         "entity operation Fetched is reserved for fetched objects"},
        {"\"text\"", "body is neither eventNotifications nor a CloudEvents array"},
    };
    for (size_t i = 0; i != SY_ARRAY_SIZE(cases); ++i) {
        sy_event_ref_t ev[MAX_EVENTS];
        size_t n = 99;
        const char *msg;
        int rc = parse(cases[i].body, ev, &n, &msg);
        if (rc != SY_EPARSE || msg == NULL || strcmp(msg, cases[i].msg) != 0)
            fail_msg("case %zu: rc %d, \"%s\", want \"%s\"", i, rc, msg != NULL ? msg : "", cases[i].msg);
        assert_int_equal(n, 0);
    }
    sy_event_ref_t ev[1];
    size_t n;
    const char *msg;
    assert_int_equal(parse("{\"eventNotifications\":", ev, &n, &msg), SY_EPARSE); /* not JSON */
}

static void test_cloudevents(void **state)
{
    (void)state;
    static const char body[] =
        "[{\"specversion\":\"1.0\",\"id\":\"a1\",\"source\":\"intuit.x\",\"type\":\"qbo.customer.updated.v1\","
        "\"time\":\"2025-09-25T16:49:31.081Z\",\"intuitentityid\":\"2\",\"intuitaccountid\":\"934\",\"data\":{}},"
        "{\"specversion\":\"1.0\",\"id\":\"b2\",\"type\":\"qbo.invoice.created.v1\",\"time\":\"2025-09-25T16:49:32Z\","
        "\"intuitentityid\":\"7\",\"intuitaccountid\":\"123\"}]";
    sy_event_ref_t ev[MAX_EVENTS];
    size_t n;
    const char *msg;
    assert_int_equal(parse_with(body, NULL, 0, ev, MAX_EVENTS, &n, &msg), 0); /* needs no scratch */
    assert_int_equal(n, 2);
    assert_slice(ev[0].id, "a1");
    assert_slice(ev[0].type, "qbo.customer.updated.v1");
    assert_int_equal(ev[0].occurred_at_ms, 1758818971081LL);
    assert_true(ev[0].raw.base == body + 1 && ev[0].raw.base[ev[0].raw.len - 1] == '}');
    assert_slice(ev[1].type, "qbo.invoice.created.v1");
    assert_int_equal(ev[1].occurred_at_ms, 1758818972000LL);
    assert_int_equal(parse_with(body, NULL, 0, ev, 1, &n, &msg), SY_ETOOBIG);

    static const struct {
        const char *body, *msg;
    } cases[] = {
        {"[]", "body has no events"},
        {"[1]", "event is not a JSON object"},
        {"[{\"id\":\"a\",\"type\":\"qbo.customer.updated.v1\",\"time\":\"2025-09-25T16:49:31Z\",\"intuitaccountid\":\"1\"}]",
         "event is not a CloudEvent (specversion \"1.0\")"},
        {"[{\"specversion\":\"1.0\",\"type\":\"qbo.customer.updated.v1\",\"time\":\"2025-09-25T16:49:31Z\","
         "\"intuitaccountid\":\"1\"}]",
         "event has no plain string id"},
        {"[{\"specversion\":\"1.0\",\"id\":\"a\",\"type\":\"customer.updated\",\"time\":\"2025-09-25T16:49:31Z\","
         "\"intuitaccountid\":\"1\"}]",
         "event has no plain string type qbo.<entity>.<change>.v1"},
        {"[{\"specversion\":\"1.0\",\"id\":\"a\",\"type\":\"qbo.customer.updated.v1\",\"intuitaccountid\":\"1\"}]",
         "event has no time (RFC 3339)"},
    };
    for (size_t i = 0; i != SY_ARRAY_SIZE(cases); ++i) {
        int rc = parse(cases[i].body, ev, &n, &msg);
        if (rc != SY_EPARSE || msg == NULL || strcmp(msg, cases[i].msg) != 0)
            fail_msg("case %zu: rc %d, \"%s\", want \"%s\"", i, rc, msg != NULL ? msg : "", cases[i].msg);
    }
}

static void test_samples(void **state)
{
    (void)state;
    sy_source_verify_t conf = conf_of(TOKEN);
    int64_t now = 1733500000123LL;
    for (const char *const *t = qb->sample_types; *t != NULL; ++t) {
        char *body = qb->sample(*t, now);
        assert_non_null(body);
        assert_int_equal(sign_verify(TOKEN, &conf, body), SY_VERIFY_OK);
        sy_event_ref_t ev[MAX_EVENTS];
        size_t n;
        const char *msg;
        if (parse(body, ev, &n, &msg) != 0)
            fail_msg("sample %s: %s", *t, msg);
        assert_int_equal(n, 1);
        assert_true(sy_slice_eq_cstr(ev[0].type, *t));
        assert_int_equal(ev[0].occurred_at_ms, now);
        assert_true(qb->needs_fetch(NULL, ev[0].type));
        free(body);
    }
    assert_null(qb->sample("Customer.Explode", now));
}

static void test_needs_fetch(void **state)
{
    (void)state;
    assert_true(qb->needs_fetch(NULL, SY_SLICE_LIT("Customer.Update")));
    assert_true(qb->needs_fetch(NULL, SY_SLICE_LIT("Invoice.Create")));
    assert_true(qb->needs_fetch(NULL, SY_SLICE_LIT("qbo.invoice.voided.v1")));
    /* A fetched object is the values: fetching it again would loop. */
    assert_false(qb->needs_fetch(NULL, SY_SLICE_LIT("Customer.Fetched")));
    assert_false(qb->needs_fetch(NULL, SY_SLICE_LIT("Spaceship.Update")));
    assert_false(qb->needs_fetch(NULL, SY_SLICE_LIT("Customer")));
    assert_int_equal(qb->role, SY_ROLE_ACCOUNTING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify),     cmocka_unit_test(test_legacy_events), cmocka_unit_test(test_legacy_limits),
        cmocka_unit_test(test_legacy_refusals), cmocka_unit_test(test_cloudevents),   cmocka_unit_test(test_samples),
        cmocka_unit_test(test_needs_fetch),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
