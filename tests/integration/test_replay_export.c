/*
 * Replay and export on the real binary: a dry run writes nothing, reapplying the whole log (twice) changes nothing,
 * repush queues the current golden values for one tool, and exports parse row by row.
 */
#include "harness_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define S0 1750000000LL
#define HS0 1750000000000LL

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static sy_it_t *start(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    const char *text = sy_itr_example_policy(h);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", text, strlen(text)));
    sy_it_start(h);
    /* Two linked customers, an owner change, a subscription, a conflicting Stripe name. */
    sy_itr_stripe(h, "evt_a1", "customer.created", S0, sy_itr_customer("cus_A", "ana@acme.example", "Ana", NULL, "51"));
    sy_itr_stripe(h, "evt_b1", "customer.created", S0, sy_itr_customer("cus_B", "bo@nova.example", "Bo", NULL, "52"));
    sy_itr_hs_change(h, 1, 51, HS0 + 1000, "email", "ana.silva@acme.example");
    sy_itr_hs_change(h, 2, 51, HS0 + 2000, "name", "Ana Silva");
    sy_itr_hs_change(h, 3, 52, HS0 + 3000, "company", "Nova Pixel Inc.");
    sy_itr_stripe(h, "evt_a2", "customer.subscription.updated", S0 + 4,
                  sy_itr_subscription("sub_1", "cus_A", "active", "price_growth", 4900));
    sy_itr_stripe(h, "evt_a3", "customer.updated", S0 + 5,
                  sy_itr_customer("cus_A", "ana.silva@acme.example", "ANA S.", NULL, "51"));
    sy_itr_wait_applied(h);
    return h;
}

/* The records with the parts that must not change under replay: fields, xrefs, observed. */
static char *stable_view(sy_it_t *h)
{
    json_t *records = sy_itr_records(h), *view = json_object(), *rec;
    size_t i;
    json_array_foreach(records, i, rec)
    {
        json_t *fields = json_deep_copy(json_object_get(rec, "fields"));
        const char *name;
        json_t *f;
        json_object_foreach(fields, name, f) json_object_del(f, "updated_at_ms");
        json_object_set_new(view, sy_itr_id(rec),
                            json_pack("{s:o, s:O, s:O}", "fields", fields, "xrefs", json_object_get(rec, "xrefs"),
                                      "observed", json_object_get(rec, "observed")));
    }
    char *s = json_dumps(view, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(view);
    return sy_it_own(h, s, free);
}

static char *queue_view(sy_it_t *h)
{
    json_t *queue = sy_itr_queue(h), *view = json_object(), *p;
    size_t i;
    json_array_foreach(queue, i, p)
        json_object_set_new(view, sy_itr_id(p), json_pack("{s:O, s:O, s:O}", "fields", json_object_get(p, "fields"),
                                                          "revision", json_object_get(p, "revision"), "spoke",
                                                          json_object_get(p, "spoke")));
    char *s = json_dumps(view, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(view);
    return sy_it_own(h, s, free);
}

static void test_dry_run_writes_nothing_and_reapply_is_idempotent(void **state)
{
    sy_it_t *h = start(state);
    char *records0 = stable_view(h), *queue0 = queue_view(h);
    json_int_t observations0 = sy_itr_counter(sy_itr_health(h), "observations");
    assert_true(observations0 >= 7);

    char *dry = sy_itr_cli_ok(h, 0, "replay", "--dry-run", NULL);
    assert_non_null(strstr(dry, "dry run of reapply"));
    assert_string_equal(stable_view(h), records0);
    assert_string_equal(queue_view(h), queue0);
    assert_int_equal(sy_itr_counter(sy_itr_health(h), "observations"), observations0); /* not even counters */

    for (int round = 0; round != 2; ++round) {
        char *out = sy_itr_cli_ok(h, 0, "replay", "--mode", "reapply", NULL);
        assert_non_null(strstr(out, "done: reapply"));
        assert_string_equal(stable_view(h), records0);
        assert_string_equal(queue_view(h), queue0);
    }
    /* Filters narrow the selection. */
    char *some = sy_itr_cli_ok(h, 0, "replay", "--source", "hubspot", "--type", "contact.*", "--dry-run", NULL);
    assert_non_null(strstr(some, "3 selected"));
    sy_itr_cli_ok(h, 2, "replay", "--mode", "repush", NULL); /* repush needs --spoke */
    sy_itr_cli_ok(h, 2, "replay", "--since", "yesterday", NULL);
    sy_it_pass(h);
}

static void test_repush_queues_current_values_for_one_tool(void **state)
{
    sy_it_t *h = start(state);
    /* Drop what is queued, as if it had been delivered before the tool lost its data. */
    json_t *queue = sy_itr_queue(h), *p;
    size_t i;
    json_array_foreach(queue, i, p) sy_itr_cli_ok(h, 0, "queue", "drop", sy_itr_id(p), NULL);
    assert_int_equal(json_array_size(sy_itr_queue(h)), 0);

    sy_itr_cli_ok(h, 0, "replay", "--mode", "repush", "--spoke", "stripe", NULL);
    json_t *rec = sy_itr_record(h, "hubspot:51"), *first;
    assert_int_equal(sy_itr_pushes(sy_itr_queue(h), "stripe", sy_itr_id(rec), &first), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(first, "fields"), "email")),
                        "ana.silva@acme.example");
    assert_string_equal(json_string_value(json_object_get(json_object_get(first, "fields"), "name")), "Ana Silva");
    assert_int_equal(sy_itr_count_str(json_object_get(first, "reasons"), "repush"), 2);
    assert_int_equal(sy_itr_pushes(sy_itr_queue(h), "hubspot", NULL, NULL), 0); /* only the named tool */
    sy_itr_assert_coalesced(sy_itr_queue(h));
    sy_it_pass(h);
}

/* Splits one CSV line (RFC 4180 quoting) into cells; returns the count. */
static size_t csv_cells(const char *line, size_t len, char cells[][256], size_t max)
{
    size_t n = 0, i = 0;
    while (i <= len && n != max) {
        size_t o = 0;
        if (i < len && line[i] == '"') {
            for (++i; i < len; ++i) {
                if (line[i] == '"' && i + 1 < len && line[i + 1] == '"')
                    ++i;
                else if (line[i] == '"')
                    break;
                if (o < 255)
                    cells[n][o++] = line[i];
            }
            ++i;
        } else {
            for (; i < len && line[i] != ','; ++i)
                if (o < 255)
                    cells[n][o++] = line[i];
        }
        cells[n++][o] = '\0';
        if (i >= len)
            break;
        ++i; /* the comma */
    }
    return n;
}

static void test_exports_parse_row_by_row(void **state)
{
    sy_it_t *h = start(state);
    json_t *records = sy_itr_records(h);
    char cells[32][256];

    char *csv = sy_itr_cli_ok(h, 0, "export", "records", "--format", "csv", NULL);
    size_t rows = 0, width = 0;
    for (char *line = csv, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1, ++rows) {
        size_t n = csv_cells(line, (size_t)(nl - line), cells, 32);
        if (rows == 0) {
            width = n;
            assert_string_equal(cells[0], "id");
            assert_string_equal(cells[1], "email");
            assert_string_equal(cells[n - 1], "tool_objects");
            continue;
        }
        assert_int_equal(n, width); /* every row has every column */
        json_t *rec = sy_itr_record(h, cells[0]);
        assert_non_null(rec);
        const char *email = sy_itr_field(rec, "email", "value");
        assert_string_equal(cells[1], email != NULL ? email : "");
    }
    assert_int_equal(rows - 1, json_array_size(records));

    char *jsonl = sy_itr_cli_ok(h, 0, "export", "records", NULL);
    size_t lines = 0;
    for (char *line = jsonl, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1, ++lines) {
        json_t *doc = json_loadb(line, (size_t)(nl - line), 0, NULL);
        assert_non_null(doc);
        assert_non_null(json_object_get(doc, "fields"));
        json_decref(doc);
    }
    assert_int_equal(lines, json_array_size(records));

    char *events = sy_itr_cli_ok(h, 0, "export", "events", "--format", "jsonl", NULL);
    lines = 0;
    for (char *line = events, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1, ++lines) {
        json_t *doc = json_loadb(line, (size_t)(nl - line), 0, NULL);
        assert_non_null(doc);
        assert_int_equal(json_integer_value(json_object_get(doc, "seq")), (json_int_t)lines + 1);
        assert_non_null(json_object_get(doc, "body"));
        json_decref(doc);
    }
    assert_int_equal(lines, sy_it_log_count(h));
    char *ecsv = sy_itr_cli_ok(h, 0, "export", "events", "--format", "csv", "--source", "stripe", NULL);
    size_t stripe_rows = 0;
    for (char *line = ecsv, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1, ++stripe_rows)
        if (stripe_rows != 0)
            assert_int_equal(csv_cells(line, (size_t)(nl - line), cells, 32), 7);
    assert_int_equal(stripe_rows - 1, 4);
    sy_itr_cli_ok(h, 2, "export", "records", "--format", "xml", NULL);
    sy_it_pass(h);
}

static void test_compaction_archives_keeps_dedupe_and_seqs(void **state)
{
    sy_it_t *h = start(state);
    json_int_t before = sy_it_log_count(h);
    char *archive = sy_it_own(h, strdup(sy_it_write_file(h, "archive.jsonl", "", 0)), free);
    char *out = sy_itr_cli_ok(h, 0, "log", "compact", "--older-than", "0s", "--archive", archive, NULL);
    assert_non_null(strstr(out, "archived and removed"));
    /* Everything the applier passed is archived except the newest event, which keeps seqs from being reused. */
    assert_int_equal(sy_it_log_count(h), 1);
    FILE *fp = fopen(archive, "r");
    assert_non_null(fp);
    char line[65536];
    json_int_t lines = 0;
    while (fgets(line, sizeof(line), fp) != NULL) {
        json_t *doc = json_loads(line, 0, NULL);
        assert_non_null(doc);
        assert_int_equal(json_integer_value(json_object_get(doc, "seq")), lines + 1);
        json_decref(doc);
        ++lines;
    }
    fclose(fp);
    assert_int_equal(lines, before - 1);

    /* A provider retry of an archived event is still a duplicate (the dedupe index survives compaction). */
    static const char retry[] = "{\"id\":\"evt_a1\",\"object\":\"event\",\"type\":\"customer.created\","
                                "\"created\":1750000000,\"data\":{\"object\":{\"id\":\"cus_A\"}}}";
    sy_it_response_t res;
    sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, retry, sizeof(retry) - 1, &res);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.body, "\"seq\":1,\"duplicate\":true"));
    sy_it_response_dispose(&res);
    /* New events continue the sequence. */
    json_int_t seq = sy_itr_stripe(h, "evt_new", "customer.updated", S0 + 9,
                                   sy_itr_customer("cus_A", "ana.silva@acme.example", "Ana Silva", NULL, "51"));
    assert_int_equal(seq, before + 1);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_dry_run_writes_nothing_and_reapply_is_idempotent, teardown),
        cmocka_unit_test_teardown(test_repush_queues_current_values_for_one_tool, teardown),
        cmocka_unit_test_teardown(test_exports_parse_row_by_row, teardown),
        cmocka_unit_test_teardown(test_compaction_archives_keeps_dedupe_and_seqs, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
