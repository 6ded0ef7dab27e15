/*
 * HubSpot v3 batches on the real binary: each array element is its own log entry with its own dedupe,
 * retries of a batch store nothing, mixed batches store only the new ids; v3 rejections and batch caps.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define MAX_EVENTS 16

/* A batch body and where each element lies in it. */
typedef struct st_batch_t {
    char *body;
    size_t len;
    size_t off[MAX_EVENTS], elen[MAX_EVENTS];
    size_t count;
} batch_t;

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static const char *type_of(long long id)
{
    return id % 2 == 1 ? "contact.creation" : "contact.propertyChange";
}

static int64_t occurred_of(long long id)
{
    return 1700000000000LL + id;
}

/* "[ e1,\n e2 ]" with odd spacing around elements so a sloppy slice would show; elements of ids. */
static void batch_build(sy_it_t *h, batch_t *b, const long long *ids, size_t n, int attempt)
{
    size_t cap = 512 * n + 16;
    assert_true(n <= MAX_EVENTS);
    *b = (batch_t){.body = sy_it_alloc(h, cap), .count = n};
    b->len = (size_t)snprintf(b->body, cap, "[ ");
    for (size_t i = 0; i != n; ++i) {
        b->off[i] = b->len;
        b->elen[i] =
            (size_t)snprintf(b->body + b->len, cap - b->len,
                             "{\"eventId\":%lld,\"subscriptionId\":12345,\"portalId\":62515,\"appId\":54321,\"occurredAt\":%lld,"
                             "\"subscriptionType\":\"%s\",\"attemptNumber\":%d,\"objectId\":%lld,\"propertyName\":\"email\","
                             "\"propertyValue\":\"c%lld@example.com\",\"changeSource\":\"CRM\",\"changeFlag\":\"NEW\"}",
                             ids[i], (long long)occurred_of(ids[i]), type_of(ids[i]), attempt, 900 + ids[i], ids[i]);
        b->len += b->elen[i];
        b->len += (size_t)snprintf(b->body + b->len, cap - b->len, i + 1 != n ? " ,\n\t" : " ]\n");
        assert_true(b->len < cap);
    }
}

static void batch_dispose(sy_it_t *h, batch_t *b)
{
    sy_it_release(h, b->body);
}

static void post_hubspot(sy_it_t *h, const char *path, const char *url, const char *secret, const char *body, size_t len,
                         int64_t ts_ms, sy_it_response_t *res)
{
    sy_it_headers_t hd = {0};
    if (secret != NULL)
        sy_it_sign_hubspot(&hd, secret, url, body, len, ts_ms);
    sy_it_post(h, path, &hd, body, len, res);
    sy_it_headers_dispose(&hd);
}

/* Asserts the batch answer; dups[i] is the expected duplicate flag; fills seqs. */
static void assert_batch_answer(const sy_it_response_t *res, const batch_t *b, const long long *ids, const int *dups,
                                json_int_t *seqs)
{
    json_t *events = json_object_get(res->json, "events");
    int all_dup = 1;
    if (res->status != 200 || !json_is_array(events) || json_array_size(events) != b->count) {
        sy_it_dump_response("batch answer", res);
        fail_msg("expected 200 with %zu entries in \"events\"", b->count);
    }
    for (size_t i = 0; i != b->count; ++i) {
        json_t *e = json_array_get(events, i);
        char id[32];
        snprintf(id, sizeof(id), "%lld", ids[i]);
        if (!json_is_string(json_object_get(e, "id")) || strcmp(json_string_value(json_object_get(e, "id")), id) != 0 ||
            !json_is_integer(json_object_get(e, "seq")) || !json_is_boolean(json_object_get(e, "duplicate")) ||
            json_is_true(json_object_get(e, "duplicate")) != dups[i]) {
            sy_it_dump_response("batch entry", res);
            fail_msg("events[%zu]: expected {\"id\":\"%s\",\"seq\":N,\"duplicate\":%s}", i, id, dups[i] ? "true" : "false");
        }
        seqs[i] = json_integer_value(json_object_get(e, "seq"));
        assert_true(seqs[i] > 0);
        for (size_t j = 0; j != i; ++j) /* one seq per eventId */
            if ((ids[j] == ids[i]) != (seqs[j] == seqs[i])) {
                sy_it_dump_response("batch seqs", res);
                fail_msg("events[%zu] and events[%zu]: same seq iff same eventId", j, i);
            }
        all_dup &= dups[i];
    }
    if (json_integer_value(json_object_get(res->json, "seq")) != seqs[0] ||
        json_is_true(json_object_get(res->json, "duplicate")) != all_dup) {
        sy_it_dump_response("batch summary", res);
        fail_msg("expected \"seq\":%lld (first element) and \"duplicate\":%s", (long long)seqs[0], all_dup ? "true" : "false");
    }
}

static void assert_stored_element(sy_it_t *h, json_int_t seq, const batch_t *b, size_t i, long long id)
{
    char s[32], idtext[32];
    sy_it_output_t o;
    json_t *shown = sy_it_log_show(h, seq);
    snprintf(idtext, sizeof(idtext), "%lld", id);
    assert_string_equal(json_string_value(json_object_get(shown, "source")), "hubspot");
    assert_string_equal(json_string_value(json_object_get(shown, "event_id")), idtext);
    assert_string_equal(json_string_value(json_object_get(shown, "type")), type_of(id));
    assert_int_equal(json_integer_value(json_object_get(shown, "occurred_at_ms")), occurred_of(id));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(shown, "body"), "eventId")), id);

    snprintf(s, sizeof(s), "%lld", (long long)seq);
    sy_it_cli(h, &o, "log", "show", s, "--raw", NULL);
    assert_int_equal(o.status, 0);
    if (o.out_len != b->elen[i] || memcmp(o.out, b->body + b->off[i], b->elen[i]) != 0) {
        print_error("log show %s --raw: %s\nexpected the element: %.*s\n", s, o.out, (int)b->elen[i], b->body + b->off[i]);
        sy_it_output_dispose(&o);
        fail_msg("stored bytes are not exactly the array element");
    }
    sy_it_output_dispose(&o);
}

static void test_batch_retry_mixed(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_it_response_t res;
    batch_t b;
    static const long long first_ids[] = {1001, 1002, 1003}, mixed_ids[] = {1002, 1004};
    static const long long twice_ids[] = {1005, 1005};
    static const int fresh[] = {0, 0, 0}, dup[] = {1, 1, 1}, mixed_dups[] = {1, 0}, twice_dups[] = {0, 1};
    json_int_t seqs[3], again[3], mixed[2], twice[2];
    json_t *stats, *hs;

    sy_it_start(h);
    batch_build(h, &b, first_ids, 3, 0);
    post_hubspot(h, "/hooks/hubspot", h->hubspot_url, SY_IT_HUBSPOT_SECRET, b.body, b.len, sy_now_ms(), &res);
    assert_batch_answer(&res, &b, first_ids, fresh, seqs);
    sy_it_response_dispose(&res);

    stats = sy_it_cli_json(h, "log", "stats", "--json", NULL);
    assert_int_equal(json_integer_value(json_object_get(stats, "events")), 3);
    hs = json_object_get(json_object_get(stats, "by_source"), "hubspot");
    assert_int_equal(json_integer_value(json_object_get(hs, "events")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(hs, "types"), "contact.creation")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(hs, "types"), "contact.propertyChange")), 1);
    for (size_t i = 0; i != 3; ++i)
        assert_stored_element(h, seqs[i], &b, i, first_ids[i]);
    batch_dispose(h, &b);

    /* HubSpot's retry: same eventIds, next attemptNumber, new timestamp and signature */
    batch_build(h, &b, first_ids, 3, 1);
    post_hubspot(h, "/hooks/hubspot", h->hubspot_url, SY_IT_HUBSPOT_SECRET, b.body, b.len, sy_now_ms() + 1, &res);
    assert_batch_answer(&res, &b, first_ids, dup, again);
    for (size_t i = 0; i != 3; ++i)
        assert_int_equal(again[i], seqs[i]);
    sy_it_response_dispose(&res);
    batch_dispose(h, &b);
    assert_int_equal(sy_it_log_count(h), 3);

    /* one old id, one new */
    batch_build(h, &b, mixed_ids, 2, 0);
    post_hubspot(h, "/hooks/hubspot", h->hubspot_url, SY_IT_HUBSPOT_SECRET, b.body, b.len, sy_now_ms(), &res);
    assert_batch_answer(&res, &b, mixed_ids, mixed_dups, mixed);
    assert_int_equal(mixed[0], seqs[1]);
    assert_true(mixed[1] > seqs[2]);
    sy_it_response_dispose(&res);
    assert_int_equal(sy_it_log_count(h), 4);
    assert_stored_element(h, mixed[1], &b, 1, 1004);
    batch_dispose(h, &b);

    /* the same new eventId twice in one batch: stored once, the second answered as its duplicate */
    batch_build(h, &b, twice_ids, 2, 0);
    post_hubspot(h, "/hooks/hubspot", h->hubspot_url, SY_IT_HUBSPOT_SECRET, b.body, b.len, sy_now_ms(), &res);
    assert_batch_answer(&res, &b, twice_ids, twice_dups, twice);
    sy_it_response_dispose(&res);
    batch_dispose(h, &b);
    assert_int_equal(sy_it_log_count(h), 5);
    sy_it_pass(h);
}

static void assert_401(const sy_it_response_t *res, const char *check)
{
    sy_it_assert_error(res, 401, "signature_invalid");
    if (json_string_value(json_object_get(res->json, "check")) == NULL ||
        strcmp(json_string_value(json_object_get(res->json, "check")), check) != 0) {
        sy_it_dump_response("wrong 401 check", res);
        fail_msg("expected \"check\":\"%s\"", check);
    }
    if (strstr(res->body, SY_IT_HUBSPOT_SECRET) != NULL)
        fail_msg("401 body contains the HubSpot secret");
}

/* v3 rejections, the batch size cap (100 in the harness config), a bad element fails the whole batch. */
static void test_rejects_and_caps(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_it_response_t res;
    batch_t b;
    static const long long ids[] = {2001, 2002};
    const char *url = h->hubspot_url;
    char *big;
    size_t cap = 101 * 128 + 16, len;

    sy_it_start(h);
    batch_build(h, &b, ids, 2, 0);
    post_hubspot(h, "/hooks/hubspot", url, NULL, b.body, b.len, 0, &res);
    assert_401(&res, "missing_header");
    sy_it_response_dispose(&res);
    post_hubspot(h, "/hooks/hubspot", url, "not-the-secret", b.body, b.len, sy_now_ms(), &res);
    assert_401(&res, "mismatch");
    sy_it_response_dispose(&res);
    post_hubspot(h, "/hooks/hubspot", "http://127.0.0.1:1/hooks/hubspot", SY_IT_HUBSPOT_SECRET, b.body, b.len, sy_now_ms(), &res);
    assert_401(&res, "mismatch");
    sy_it_response_dispose(&res);
    post_hubspot(h, "/hooks/hubspot", url, SY_IT_HUBSPOT_SECRET, b.body, b.len, sy_now_ms() - 10 * 60 * 1000, &res);
    assert_401(&res, "timestamp_tolerance");
    sy_it_response_dispose(&res);
    post_hubspot(h, "/hooks/hubspot", url, SY_IT_HUBSPOT_SECRET, b.body, b.len, sy_now_ms() + 10 * 60 * 1000, &res);
    assert_401(&res, "timestamp_tolerance");
    sy_it_response_dispose(&res);
    batch_dispose(h, &b);

    /* not an array; an element without eventId (the valid first element must not be stored either) */
    static const char *const bad[] = {
        "{\"eventId\":2003,\"occurredAt\":1700000000000,\"subscriptionType\":\"contact.creation\"}",
        "[{\"eventId\":2004,\"occurredAt\":1700000000000,\"subscriptionType\":\"contact.creation\"},"
        "{\"occurredAt\":1700000000000,\"subscriptionType\":\"contact.creation\"}]",
        "[{\"eventId\":2005,\"occurredAt\":1700000000000,\"subscriptionType\":\"contact.creation\"}",
    };
    size_t failures = 0;
    for (size_t i = 0; i != SY_ARRAY_SIZE(bad); ++i) { /* all cases first, then one verdict */
        post_hubspot(h, "/hooks/hubspot", url, SY_IT_HUBSPOT_SECRET, bad[i], strlen(bad[i]), sy_now_ms(), &res);
        if (res.status != 400 || !json_is_string(json_object_get(res.json, "message")) ||
            !json_is_string(json_object_get(res.json, "error")) ||
            strcmp(json_string_value(json_object_get(res.json, "error")), "bad_request") != 0) {
            print_error("body %s:\n", bad[i]);
            sy_it_dump_response("expected 400 {\"error\":\"bad_request\",\"message\":...} (valid JSON)", &res);
            ++failures;
        }
        sy_it_response_dispose(&res);
    }
    assert_int_equal(sy_it_log_count(h), 0);

    /* 101 events > max_batch_events; then exactly 100 */
    big = sy_it_alloc(h, cap);
    for (int n = 101; n >= 100; --n) {
        len = (size_t)snprintf(big, cap, "[");
        for (int i = 0; i != n; ++i)
            len += (size_t)snprintf(big + len, cap - len,
                                    "%s{\"eventId\":%d,\"occurredAt\":1700000000000,\"subscriptionType\":\"contact.creation\"}", i ? "," : "",
                                    3000 + i);
        len += (size_t)snprintf(big + len, cap - len, "]");
        assert_true(len < cap);
        post_hubspot(h, "/hooks/hubspot", url, SY_IT_HUBSPOT_SECRET, big, len, sy_now_ms(), &res);
        if (n == 101) {
            sy_it_assert_error(&res, 400, "bad_request");
            assert_int_equal(sy_it_log_count(h), 0);
        } else {
            assert_int_equal(sy_it_assert_stored(&res, 0),
                             json_integer_value(json_object_get(json_array_get(json_object_get(res.json, "events"), 0), "seq")));
            assert_int_equal(json_array_size(json_object_get(res.json, "events")), 100);
        }
        sy_it_response_dispose(&res);
    }
    assert_int_equal(sy_it_log_count(h), 100);
    if (failures != 0) /* deferred so that the checks above run too */
        fail_msg("%zu bodies not answered with a valid 400 bad_request", failures);
    sy_it_pass(h);
}

/* Without public_url the signed URL is rebuilt from Host + path; dedupe keys are per source. */
static void test_url_from_host(void **state)
{
    static const sy_it_options_t opts = {.extra_sources = "  hubspot_direct:\n"
                                                          "    connector: hubspot\n"
                                                          "    signature_version: 3\n"
                                                          "    tolerance: 5m\n"
                                                          "    secrets: [{value: hs-direct-secret}]\n"};
    sy_it_t *h = sy_it_create(state, &opts);
    sy_it_response_t res;
    batch_t b;
    char url[128];
    static const long long ids[] = {1001};
    static const int fresh[] = {0};
    json_int_t seq, seq2;

    sy_it_start(h);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/hooks/hubspot_direct", h->ingress_port);
    batch_build(h, &b, ids, 1, 0);
    post_hubspot(h, "/hooks/hubspot_direct", url, "hs-direct-secret", b.body, b.len, sy_now_ms(), &res);
    assert_batch_answer(&res, &b, ids, fresh, &seq);
    sy_it_response_dispose(&res);
    /* the same eventId from another source is another event */
    post_hubspot(h, "/hooks/hubspot", h->hubspot_url, SY_IT_HUBSPOT_SECRET, b.body, b.len, sy_now_ms(), &res);
    assert_batch_answer(&res, &b, ids, fresh, &seq2);
    assert_true(seq2 != seq);
    sy_it_response_dispose(&res);
    /* signed for another path: mismatch */
    post_hubspot(h, "/hooks/hubspot_direct", h->hubspot_url, "hs-direct-secret", b.body, b.len, sy_now_ms(), &res);
    assert_401(&res, "mismatch");
    sy_it_response_dispose(&res);
    batch_dispose(h, &b);
    assert_int_equal(sy_it_log_count(h), 2);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_batch_retry_mixed, teardown),
        cmocka_unit_test_teardown(test_rejects_and_caps, teardown),
        cmocka_unit_test_teardown(test_url_from_host, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
