/*
 * Unit tests for the outbound and fetch halves of connectors/quickbooks.c: encode_push (the read before a write,
 * the sparse update with its SyncToken and ?requestid=), classify (lookup, update, stale object 5010, every status
 * class, Retry-After), encode_fetch (one Change Data Capture read per realm) and decode_fetch (fetched objects as
 * events). Expected requests are written out by hand from the QuickBooks Online v3 reference.
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

#define REALM "9341455251541838"
#define Q "?minorversion=75"

static const sy_connector_t *qb;

static int setup(void **state)
{
    (void)state;
    qb = sy_connector_find("quickbooks");
    return qb == NULL || qb->encode_push == NULL || qb->encode_fetch == NULL || qb->decode_fetch == NULL;
}

static sy_push_t push_of(const char *object_id, const char *version, const char *const *names,
                         const char *const *values, size_t n)
{
    return (sy_push_t){.object_id = object_id, .version = version, .names = names, .values = values, .num_fields = n,
                       .idempotency_key = "sy-push-7-r1"};
}

static void test_lookup_first(void **state)
{
    (void)state;
    sy_http_request_t req;
    sy_push_t p = push_of(REALM ":58", NULL, NULL, NULL, 0);
    assert_int_equal(qb->encode_push(NULL, &p, 1, &req), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.path, "/v3/company/" REALM "/query?query=select%20%2A%20from%20Customer%20where%20Id%20%3D"
                                  "%20%2758%27&minorversion=75");
    assert_int_equal(req.lookup, 1);
    assert_int_equal(req.num_pushes, 1);
    assert_null(req.body);
    assert_string_equal(req.idempotency_key, "");
    sy_http_request_dispose(&req);
}

static void test_sparse_update(void **state)
{
    (void)state;
    const char *names[] = {"DisplayName", "PrimaryEmailAddr.Address", "BillAddr.City", "Active", "BillAddr.Line1"};
    const char *values[] = {"Acme \"Ltd\" \xc3\xa9", "ap@acme.example", "Paris", "false", ""};
    sy_http_request_t req;
    sy_push_t p = push_of(REALM ":58", "3", names, values, 5);
    assert_int_equal(qb->encode_push(NULL, &p, 1, &req), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.path, "/v3/company/" REALM "/customer?requestid=sy-push-7-r1-t3&minorversion=75");
    assert_string_equal(req.content_type, "application/json");
    assert_string_equal(req.body, "{\"sparse\":true,\"Id\":\"58\",\"SyncToken\":\"3\",\"DisplayName\":\"Acme \\\"Ltd\\\" "
                                  "\xc3\xa9\",\"PrimaryEmailAddr\":{\"Address\":\"ap@acme.example\"},\"BillAddr\":"
                                  "{\"City\":\"Paris\",\"Line1\":\"\"},\"Active\":false}");
    assert_int_equal(req.body_len, strlen(req.body));
    assert_int_equal(req.lookup, 0);
    assert_int_equal(req.num_pushes, 1);
    sy_http_request_dispose(&req);
    sy_http_request_dispose(&req); /* twice is fine */

    /* After a stale-object fault the same push carries a fresh token: another requestid (Intuit would replay the
     * fault to the old one). */
    p.version = "4";
    assert_int_equal(qb->encode_push(NULL, &p, 1, &req), 0);
    assert_string_equal(req.path, "/v3/company/" REALM "/customer?requestid=sy-push-7-r1-t4&minorversion=75");
    sy_http_request_dispose(&req);
    p.version = "3";

    /* Over Intuit's 50 characters: a stable digest of "<key>-t<token>" (Python hashlib, first 47 hex digits). */
    p.idempotency_key = "sy-0123456789abcdef-outbox-000000000000002a-r17-with-a-long-tail";
    assert_int_equal(qb->encode_push(NULL, &p, 1, &req), 0);
    assert_string_equal(req.path,
                        "/v3/company/" REALM "/customer?requestid=sy-b9e80c5ffeeab2b58c23accb51e71afe4a77f3ec82c82ff"
                        "&minorversion=75");
    sy_http_request_dispose(&req);
}

static void test_refused_pushes(void **state)
{
    (void)state;
    sy_http_request_t req;
    const char *one[] = {"DisplayName"}, *v[] = {"x"};
    static const char *const bad_ids[] = {"58", "abc:58", REALM ":", ":58", REALM ":5 8", REALM ":58'--", NULL};
    for (size_t i = 0; bad_ids[i] != NULL; ++i) {
        sy_push_t p = push_of(bad_ids[i], "3", one, v, 1);
        if (qb->encode_push(NULL, &p, 1, &req) != SY_EINVAL)
            fail_msg("object id %s was accepted", bad_ids[i]);
        assert_null(req.body);
    }
    sy_push_t p = push_of(NULL, NULL, one, v, 1); /* customers are not created by the hub */
    p.email = "ana@acme.example";
    assert_int_equal(qb->encode_push(NULL, &p, 1, &req), SY_EINVAL);
    sy_push_t two[2] = {push_of(REALM ":1", "1", one, v, 1), push_of(REALM ":2", "1", one, v, 1)};
    assert_int_equal(qb->encode_push(NULL, two, 2, &req), SY_EINVAL);
    p = push_of(REALM ":58", "3a", one, v, 1);
    assert_int_equal(qb->encode_push(NULL, &p, 1, &req), SY_EINVAL);

    static const struct {
        const char *name, *value;
    } bad[] = {
        {"Id", "9"},          {"SyncToken", "9"},   {"sparse", "false"}, {"MetaData.CreateTime", "x"},
        {"", "x"},            {"Bill Addr", "x"},   {"BillAddr.", "x"},  {"1Name", "x"},
        {"Active", "yes"},    {"DisplayName", "\xff"}, {"Bill-Addr", "x"},
    };
    for (size_t i = 0; i != SY_ARRAY_SIZE(bad); ++i) {
        const char *n1[] = {bad[i].name}, *v1[] = {bad[i].value};
        p = push_of(REALM ":58", "3", n1, v1, 1);
        if (qb->encode_push(NULL, &p, 1, &req) != SY_EINVAL)
            fail_msg("field %s = %s was accepted", bad[i].name, bad[i].value);
        assert_null(req.body);
    }
    /* A name twice, or a member and one of its parts. */
    const char *dup[] = {"DisplayName", "DisplayName"}, *dupv[] = {"a", "b"};
    p = push_of(REALM ":58", "3", dup, dupv, 2);
    assert_int_equal(qb->encode_push(NULL, &p, 1, &req), SY_EINVAL);
    const char *nest[] = {"BillAddr.City", "BillAddr"}, *nestv[] = {"a", "b"};
    p = push_of(REALM ":58", "3", nest, nestv, 2);
    assert_int_equal(qb->encode_push(NULL, &p, 1, &req), SY_EINVAL);
    const char *nest2[] = {"BillAddr", "BillAddr.City"};
    p = push_of(REALM ":58", "3", nest2, nestv, 2);
    assert_int_equal(qb->encode_push(NULL, &p, 1, &req), SY_EINVAL);
    /* A value over 4,000 characters. */
    char *longv = malloc(4002);
    memset(longv, 'a', 4001);
    longv[4001] = '\0';
    const char *lv[] = {longv};
    p = push_of(REALM ":58", "3", one, lv, 1);
    assert_int_equal(qb->encode_push(NULL, &p, 1, &req), SY_EINVAL);
    longv[4000] = '\0';
    assert_int_equal(qb->encode_push(NULL, &p, 1, &req), 0);
    sy_http_request_dispose(&req);
    free(longv);
}

static sy_push_result_t classify(long status, const char *header, const char *value, const char *body)
{
    sy_header_t h[1] = {{sy_slice_cstr(header != NULL ? header : "X"), sy_slice_cstr(value != NULL ? value : "")}};
    sy_push_result_t r;
    memset(&r, 0x5a, sizeof(r)); /* classify sets every member */
    qb->classify(status, h, header != NULL, sy_slice_cstr(body), 1, &r);
    return r;
}

#define FAULT(code) "{\"Fault\":{\"Error\":[{\"Message\":\"m\",\"code\":\"" code "\"}],\"type\":\"ValidationFault\"}}"

static void test_classify(void **state)
{
    (void)state;
    sy_push_result_t r = classify(200, NULL, NULL, "{\"QueryResponse\":{\"Customer\":[{\"Id\":\"58\",\"SyncToken\":\"3\"}]}}");
    assert_int_equal(r.outcome, SY_PUSH_FOUND);
    assert_string_equal(r.version, "3");
    assert_string_equal(r.created_id, "");
    assert_int_equal(r.stale_version, 0);
    assert_int_equal(r.retry_after_ms, -1);
    /* The customer is gone (merged away or made inactive and purged): nothing to write to. */
    r = classify(200, NULL, NULL, "{\"QueryResponse\":{},\"time\":\"2024-12-06T07:46:40.000-08:00\"}");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    r = classify(200, NULL, NULL, "{\"Customer\":{\"Id\":\"58\",\"SyncToken\":\"4\"}}");
    assert_int_equal(r.outcome, SY_PUSH_DONE);
    assert_string_equal(r.version, "4");
    r = classify(200, NULL, NULL, "{\"Customer\":{\"Id\":\"58\",\"SyncToken\":4}}"); /* not a string: not kept */
    assert_int_equal(r.outcome, SY_PUSH_DONE);
    assert_string_equal(r.version, "");
    r = classify(200, NULL, NULL, "<html>");
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    r = classify(200, NULL, NULL, FAULT("6000"));
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);

    r = classify(400, "Retry-After", "30", FAULT("5010"));
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    assert_int_equal(r.stale_version, 1);
    assert_int_equal(r.retry_after_ms, 0); /* re-read at once */
    assert_int_equal(r.rate_limited, 0);
    r = classify(400, NULL, NULL, FAULT("6240"));
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    assert_int_equal(r.stale_version, 0);
    r = classify(401, NULL, NULL, FAULT("3200"));
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    r = classify(403, NULL, NULL, "");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    r = classify(404, NULL, NULL, "");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    r = classify(302, NULL, NULL, "");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    r = classify(429, "retry-after", "60", FAULT("003001"));
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    assert_int_equal(r.rate_limited, 1);
    assert_int_equal(r.retry_after_ms, 60000);
    r = classify(429, NULL, NULL, "");
    assert_int_equal(r.retry_after_ms, -1);
    r = classify(503, "Retry-After", "5", "<html>");
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    assert_int_equal(r.rate_limited, 0);
    assert_int_equal(r.retry_after_ms, 5000);
    r = classify(0, NULL, NULL, ""); /* no HTTP answer */
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    r = classify(401, "Retry-After", "5", "");
    assert_int_equal(r.retry_after_ms, -1); /* only a retry says when */
}

static void test_encode_fetch(void **state)
{
    (void)state;
    const sy_slice_t events[] = {
        SY_SLICE_LIT("{\"realmId\":\"" REALM "\",\"name\":\"Customer\",\"id\":\"58\",\"operation\":\"Update\","
                     "\"lastUpdated\":\"2024-12-06T15:45:20Z\"}"),
        SY_SLICE_LIT("[]"),
        SY_SLICE_LIT("{\"specversion\":\"1.0\",\"id\":\"x\",\"type\":\"qbo.invoice.created.v1\",\"time\":"
                     "\"2024-12-06T15:45:10.500Z\",\"intuitentityid\":\"7\",\"intuitaccountid\":\"" REALM "\"}"),
        SY_SLICE_LIT("{\"specversion\":\"1.0\",\"id\":\"y\",\"type\":\"qbo.customer.updated.v1\",\"time\":"
                     "\"2024-12-06T15:40:00Z\",\"intuitentityid\":\"8\",\"intuitaccountid\":\"123\"}"),
        SY_SLICE_LIT("{\"specversion\":\"1.0\",\"id\":\"z\",\"type\":\"qbo.customer.deleted.v1\",\"time\":"
                     "\"2024-12-06T15:46:00Z\",\"intuitentityid\":\"9\",\"intuitaccountid\":\"" REALM "\"}"),
    };
    unsigned char covered[5];
    sy_http_request_t req;
    assert_int_equal(qb->encode_fetch(NULL, events, 5, covered, &req), 0);
    assert_string_equal(req.method, "GET");
    /* One read for the realm: both entities, since a second before the earliest change. */
    assert_string_equal(req.path, "/v3/company/" REALM "/cdc?entities=Customer,Invoice&changedSince=2024-12-06T15%3A45"
                                  "%3A09.500%2B00%3A00&minorversion=75");
    assert_int_equal(req.num_pushes, 3);
    assert_memory_equal(covered, ((unsigned char[]){1, 0, 1, 0, 1}), 5);
    assert_null(req.body);
    sy_http_request_dispose(&req);
    /* The other realm next. */
    assert_int_equal(qb->encode_fetch(NULL, events + 3, 1, covered, &req), 0);
    assert_string_equal(req.path, "/v3/company/123/cdc?entities=Customer&changedSince=2024-12-06T15%3A39%3A59.000%2B00"
                                  "%3A00&minorversion=75");
    /* Not a notification, an unknown entity, a realm that is not decimal: nothing covered. */
    static const char *const bad[] = {
        "[]", "{\"realmId\":\"1\",\"name\":\"Spaceship\",\"lastUpdated\":\"2024-12-06T15:45:20Z\"}",
        "{\"realmId\":\"1/2\",\"name\":\"Customer\",\"lastUpdated\":\"2024-12-06T15:45:20Z\"}",
        "{\"realmId\":\"1\",\"name\":\"Customer\"}",
        "{\"type\":\"qbo.customer.updated.v1\",\"time\":\"2024-12-06T15:45:20Z\"}"};
    for (size_t i = 0; i != SY_ARRAY_SIZE(bad); ++i) {
        sy_slice_t ev = sy_slice_cstr(bad[i]);
        covered[0] = 7;
        if (qb->encode_fetch(NULL, &ev, 1, covered, &req) != SY_EINVAL || covered[0] != 0)
            fail_msg("fetch of %s was built", bad[i]);
    }
}

static void test_decode_fetch(void **state)
{
    (void)state;
    sy_http_request_t req = {.method = "GET", .path = "/v3/company/" REALM "/cdc?entities=Customer,Invoice"};
    static const char body[] =
        "{\"CDCResponse\":[{\"QueryResponse\":[{\"Customer\":[{\"Id\":\"58\",\"SyncToken\":\"4\",\"DisplayName\":"
        "\"Acme Ltd\",\"PrimaryEmailAddr\":{\"Address\":\"ap@acme.example\"},\"MetaData\":{\"LastUpdatedTime\":"
        "\"2024-12-06T07:46:40-08:00\"}}],\"startPosition\":1,\"maxResults\":1},{\"Invoice\":[{\"Id\":\"130\","
        "\"status\":\"Deleted\",\"MetaData\":{\"LastUpdatedTime\":\"2024-12-06T07:47:00-08:00\"}}]}]}],"
        "\"time\":\"2024-12-06T07:48:00.000-08:00\"}";
    sy_fetched_t *f;
    size_t n;
    const char *msg = NULL;
    assert_int_equal(qb->decode_fetch(&req, sy_slice_cstr(body), &f, &n, &msg), 0);
    assert_int_equal(n, 2);
    assert_string_equal(f[0].id, REALM ":Customer:58:v4");
    assert_string_equal(f[0].type, "Customer.Fetched");
    assert_int_equal(f[0].occurred_at_ms, 1733500000000LL);
    assert_string_equal(f[0].body, "{\"realmId\":\"" REALM "\",\"entity\":\"Customer\",\"id\":\"" REALM ":58\","
                                   "\"object\":{\"Id\":\"58\",\"SyncToken\":\"4\",\"DisplayName\":\"Acme Ltd\","
                                   "\"PrimaryEmailAddr\":{\"Address\":\"ap@acme.example\"},\"MetaData\":"
                                   "{\"LastUpdatedTime\":\"2024-12-06T07:46:40-08:00\"}}}");
    assert_int_equal(f[0].body_len, strlen(f[0].body));
    assert_false(qb->needs_fetch(NULL, sy_slice_cstr(f[0].type))); /* a fetched object is never fetched again */
    assert_string_equal(f[1].id, REALM ":Invoice:130:deleted:2024-12-06T07:47:00-08:00");
    assert_string_equal(f[1].type, "Invoice.Fetched");
    sy_fetched_dispose(f, n);

    assert_int_equal(qb->decode_fetch(&req, SY_SLICE_LIT("{\"CDCResponse\":[{\"QueryResponse\":[{}]}]}"), &f, &n, &msg), 0);
    assert_int_equal(n, 0);
    sy_fetched_dispose(f, n);

    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"<html>", "the answer has no CDCResponse array"},
        {FAULT("5020"), "the answer is a fault"},
        {"{\"CDCResponse\":[{\"QueryResponse\":[{\"Customer\":[{\"Id\":\"1\",\"SyncToken\":\"1\"},{\"SyncToken\":\"2\"}]}]}]}",
         "a fetched object has no Id and SyncToken (or deletion time)"},
        {"{\"CDCResponse\":[{\"QueryResponse\":[{\"Customer\":[{\"Id\":\"1\"}]}]}]}",
         "a fetched object has no Id and SyncToken (or deletion time)"},
    };
    for (size_t i = 0; i != SY_ARRAY_SIZE(bad); ++i) {
        f = (sy_fetched_t *)&req;
        if (qb->decode_fetch(&req, sy_slice_cstr(bad[i].body), &f, &n, &msg) != SY_EPARSE || strcmp(msg, bad[i].msg) != 0)
            fail_msg("answer %zu was read: %s", i, msg);
        assert_null(f);
        assert_int_equal(n, 0);
    }
    sy_http_request_t other = {.path = "/v1/customers"};
    assert_int_equal(qb->decode_fetch(&other, sy_slice_cstr(body), &f, &n, &msg), SY_EPARSE);
}

static void test_constants(void **state)
{
    (void)state;
    assert_int_equal(qb->max_batch, 1);
    assert_int_equal(qb->default_rate_count, 500);
    assert_int_equal(qb->default_rate_window_ms, 60000);
    assert_string_equal(qb->default_base_url, "https://quickbooks.api.intuit.com");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_first), cmocka_unit_test(test_sparse_update), cmocka_unit_test(test_refused_pushes),
        cmocka_unit_test(test_classify),     cmocka_unit_test(test_encode_fetch),  cmocka_unit_test(test_decode_fetch),
        cmocka_unit_test(test_constants),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
