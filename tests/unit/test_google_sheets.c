/* Unit tests for connectors/google_sheets.c inbound: the Apps Script's payload signed -> verified -> parsed, the
 * options checked by configure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors_builtin.h"

#define SECRET "whsec_c2hlZXRzLXNjcmlwdC1zZWNyZXQtMDEyMw=="
#define NOW_MS 1733500000000LL

static const sy_connector_t *gs;

static void test_registered(void **state)
{
    (void)state;
    gs = sy_connector_find("google_sheets");
    assert_non_null(gs);
    assert_int_equal(gs->default_rate_count, 60);
    assert_int_equal(gs->default_rate_window_ms, 60000);
    assert_int_equal(gs->max_batch, 100);
    assert_string_equal(gs->default_base_url, "https://sheets.googleapis.com");
    assert_int_equal(gs->role, SY_ROLE_TRACKER);
}

static int configure(const char *id, const char *sheet, const char *idcol, const char *columns, size_t *bad, char *msg)
{
    sy_source_verify_t c = {.tolerance_ms = -1};
    c.options[sy_connector_option_index(gs, "spreadsheet_id")] = id;
    c.options[sy_connector_option_index(gs, "sheet")] = sheet;
    c.options[sy_connector_option_index(gs, "id_column")] = idcol;
    c.options[sy_connector_option_index(gs, "columns")] = columns;
    return gs->configure(&c, bad, msg, 160);
}

static void test_configure(void **state)
{
    (void)state;
    size_t bad = 99;
    char msg[160];
    assert_int_equal(configure("1BxiMVs0XRA5nFMd-_", "Customers", "record_id", "record_id,email", &bad, msg), 0);
    assert_int_equal(configure("1Bxi", NULL, "A", NULL, &bad, msg), 0);
    assert_int_equal(configure(NULL, "Customers", NULL, NULL, &bad, msg), SY_EINVAL);
    assert_int_equal(bad, sy_connector_option_index(gs, "spreadsheet_id"));
    assert_string_equal(msg, "spreadsheet_id is required: the id in the spreadsheet's URL");
    assert_int_equal(configure("a/b", NULL, NULL, NULL, &bad, msg), SY_EINVAL);
    assert_string_equal(msg, "spreadsheet_id holds only letters, digits, - and _ (the id in the URL)");
    assert_int_equal(configure("abc", "", NULL, NULL, &bad, msg), SY_EINVAL);
    assert_int_equal(bad, sy_connector_option_index(gs, "sheet"));
    assert_int_equal(configure("abc", NULL, "record_id", NULL, &bad, msg), SY_EINVAL); /* not a letter, no columns */
    assert_int_equal(bad, sy_connector_option_index(gs, "id_column"));
    assert_string_equal(msg, "id_column must be a column letter (A..ZZZ) or a header listed in columns");
}

static int round_trip(const char *body, sy_event_ref_t *ev, const char **err)
{
    sy_source_verify_t c = {.num_secrets = 1, .tolerance_ms = -1};
    c.secrets[0] = SY_SLICE_LIT(SECRET);
    sy_header_t h[3];
    size_t nh = 3, n = 0;
    char buf[512];
    sy_request_view_t req = {.method = SY_SLICE_LIT("POST"), .body = sy_slice_cstr(body), .now_ms = NOW_MS};
    assert_int_equal(gs->sign(&c, c.secrets[0], &req, h, &nh, buf, sizeof(buf)), 0);
    req.headers = h;
    req.num_headers = nh;
    assert_int_equal(gs->verify(&c, &req), SY_VERIFY_OK);
    sy_json_t json;
    sy_json_init(&json, 256, 32);
    int rc = gs->parse(&json, &req, ev, 1, &n, err);
    sy_json_dispose(&json);
    return rc;
}

static void test_sample_round_trip(void **state)
{
    (void)state;
    char *body = gs->sample("row.updated", NOW_MS);
    sy_event_ref_t ev;
    const char *err = NULL;
    assert_non_null(body);
    assert_int_equal(round_trip(body, &ev, &err), 0);
    assert_true(sy_slice_eq_cstr(ev.type, "row.updated"));
    assert_int_equal(ev.occurred_at_ms, NOW_MS);
    assert_non_null(strstr(body, "\"row\":2,\"values\":{\"record_id\":\"cus_SyDemoAcme01\""));
    free(body);
    assert_null(gs->sample("row.deleted", NOW_MS));
}

static void expect_refused(const char *body, const char *msg)
{
    sy_event_ref_t ev;
    const char *err = NULL;
    assert_int_equal(round_trip(body, &ev, &err), SY_EPARSE);
    assert_string_equal(err, msg);
}

static void test_parse_refusals(void **state)
{
    (void)state;
    const char *rowmsg = "data.row must be a row number from 2 to 10000000 (row 1 holds the headers)";
    expect_refused("{\"type\":\"row.updated\",\"data\":[]}",
                   "event has no data object (the Apps Script sends data.spreadsheet_id, sheet, row and values)");
    expect_refused("{\"type\":\"row.updated\",\"data\":{\"spreadsheet_id\":1,\"sheet\":\"S\",\"row\":2,\"values\":{}}}",
                   "data.spreadsheet_id and data.sheet must be strings");
    expect_refused("{\"type\":\"row.updated\",\"data\":{\"spreadsheet_id\":\"s\",\"sheet\":\"S\",\"row\":\"2\",\"values\":{}}}",
                   rowmsg);
    expect_refused("{\"type\":\"row.updated\",\"data\":{\"spreadsheet_id\":\"s\",\"sheet\":\"S\",\"row\":2.5,\"values\":{}}}",
                   rowmsg);
    expect_refused("{\"type\":\"row.updated\",\"data\":{\"spreadsheet_id\":\"s\",\"sheet\":\"S\",\"row\":10000001,"
                   "\"values\":{}}}",
                   rowmsg);
    expect_refused("{\"type\":\"row.updated\",\"data\":{\"spreadsheet_id\":\"s\",\"sheet\":\"S\",\"row\":3,\"values\":[]}}",
                   "data.values must be an object of header: cell");
    expect_refused("{\"data\":{}}", "event has no type member");
    sy_event_ref_t ev;
    const char *err = NULL;
    assert_int_equal(round_trip("{\"type\":\"row.updated\",\"data\":{\"spreadsheet_id\":\"s\",\"sheet\":\"S\",\"row\":"
                                "10000000,\"values\":{}}}",
                                &ev, &err),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered),
        cmocka_unit_test(test_configure),
        cmocka_unit_test(test_sample_round_trip),
        cmocka_unit_test(test_parse_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
