/*
 * Bad-input catalogue, part 3: the admin listener.
 *
 *  - A policy file with one mistake of each kind, checked by POST /admin/api/policy/check (422 with line and column)
 *    and by `switchyard policy check FILE` (exit 2, "FILE:LINE:COLUMN: message" on stderr); the running policy and
 *    everything else stay as they were.
 *  - Admin requests without the token, with a wrong token, with the Basic scheme, with the token as a query
 *    parameter: 401 {"error":"unauthorized"} with WWW-Authenticate: Bearer, also on the endpoints that change state
 *    (merge, queue drop, policy reload), which then change nothing.
 *
 * One hub (example policy), seeded once for the group. The catalogue: tests/integration/README.md.
 */
#include "harness_raw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "crypto.h"

#define GROUP_CASES 16

static sy_it_t *g_h;
static unsigned g_finished;

/* ---- requests on the admin listener (raw: every header of the answer is visible) --------------------------------- */

static void admin(sy_it_t *h, const char *method, const char *target, const char *auth, const char *body,
                  sy_raw_response_t *res)
{
    sy_raw_msg_t m;
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0, len = body != NULL ? strlen(body) : 0;
    char *auth_line = NULL;
    if (auth != NULL) {
        auth_line = sy_it_alloc(h, strlen(auth) + 32);
        snprintf(auth_line, strlen(auth) + 32, "Authorization: %s", auth);
        headers[n++] = auth_line;
    }
    if (body != NULL)
        headers[n++] = "Content-Type: application/json";
    sy_raw_msg_init(h, &m, strlen(target) + len + 1024);
    /* a POST always has a body, empty if none is given */
    if (body == NULL && strcmp(method, "POST") == 0)
        body = "";
    sy_raw_request(&m, method, target, "HTTP/1.1", headers, body, len);
    sy_raw_exchange(h, h->admin_port, m.base, m.len, res);
    sy_it_release(h, m.base);
    if (auth_line != NULL)
        sy_it_release(h, auth_line);
}

/* The running policy's hash (GET /admin/api/policy). */
static const char *policy_hash(sy_it_t *h)
{
    sy_raw_response_t res;
    admin(h, "GET", "/admin/api/policy", sy_raw_bearer(h), NULL, &res);
    const char *hash = json_string_value(json_object_get(res.json, "hash"));
    if (res.status != 200 || hash == NULL) {
        sy_raw_dump("GET /admin/api/policy", &res);
        fail_msg("GET /admin/api/policy: expected 200 with a hash");
    }
    return sy_it_own(h, strdup(hash), free);
}

/* ---- the group's hub ------------------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    g_h = sy_catalogue_start(state, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    sy_catalogue_finish(g_h, g_finished == GROUP_CASES);
    g_h = NULL;
    return 0;
}

/* ---- policy mistakes ------------------------------------------------------------------------------------------- */

typedef struct st_mistake_t {
    const char *name;
    const char *from, *to;  /* the edit of policies/customers.yaml */
    const char *at;         /* text in the edited file that starts the line at fault ... */
    int line_offset;        /* ... plus this many lines */
    const char *token;      /* the node at fault on that line: its first character is the expected column */
    const char *fragment;   /* part of the message */
    int lenient;            /* YAML syntax errors: libyaml reports where it noticed (the line at fault or the next) */
} mistake_t;

static const mistake_t mistakes[] = {
    {"unknown key", "  company:\n    owner: hubspot\n", "  company:\n    owner: hubspot\n    colour: blue\n",
     "    colour: blue", 0, "colour", "unknown key \"colour\"", 0},
    {"missing owner", "  billing_email:\n    owner: stripe\n    normalize: [email]\n",
     "  billing_email:\n    normalize: [email]\n", "  billing_email:", 0, "billing_email", "no owner", 0},
    {"unknown source", "  plan:\n    owner: stripe\n", "  plan:\n    owner: salesforce\n", "    owner: salesforce", 0,
     "salesforce", "owner \"salesforce\" is not declared under sources", 0},
    {"push to owner", "  mrr:\n    owner: stripe\n    push: [hubspot]\n", "  mrr:\n    owner: stripe\n    push: [stripe]\n",
     "  mrr:\n    owner: stripe\n    push: [stripe]", 2, "stripe", "push target \"stripe\" is its owner", 0},
    {"no push_as", "      plan: plan\n", "", "  plan:\n    owner: stripe\n    push: [hubspot]", 2, "hubspot",
     "push target \"hubspot\" has no push_as entry", 0},
    {"bad rate", "rate: 100/10s", "rate: 0/10s", "    rate: 0/10s", 0, "0/10s", "rate must be REQUESTS/WINDOW", 0},
    {"bad normalizer", "normalize: [phone_e164]", "normalize: [phone_e165]", "    normalize: [phone_e165]", 0,
     "phone_e165", "unknown normaliser \"phone_e165\"", 0},
    {"YAML syntax error", "  mrr:\n    owner: stripe\n    push: [hubspot]\n", "  mrr:\n    owner: stripe\n    push: [hubspot\n",
     "    push: [hubspot\n", 0, NULL, "flow sequence", 1},
    {"field declared twice", "  billing_email:\n", "  plan:\n    owner: stripe\n  billing_email:\n",
     "  plan:\n    owner: stripe\n  billing_email:", 0, "plan", "declared twice", 0},
    {"bad path", "        id: data.object.customer\n", "        id: data..customer\n", "        id: data..customer", 0,
     "data..customer", "must be a dotted path", 0},
    {"link to itself", "          hubspot: data.object.metadata.hubspot_contact_id\n",
     "          stripe: data.object.metadata.hubspot_contact_id\n", "          stripe: data.object", 0, "stripe",
     "cannot link to itself", 0},
    {"revert budget 0", "revert_budget: 3", "revert_budget: 0", "  revert_budget: 0", 0, "0", "revert_budget", 0},
};

static void check_mistake(size_t index)
{
    sy_it_t *h = g_h;
    const mistake_t *k = &mistakes[index];
    char *example = sy_itr_example_policy(h), *text, file[64], prefix[600];
    const char *hash = policy_hash(h), *path, *msg, *line_start;
    json_t *before = sy_state_snapshot(h);
    sy_raw_response_t res;
    sy_it_output_t o;
    int line, column = 0;

    text = sy_itr_replace(h, example, k->from, k->to);
    /* expected position: the line that starts with k->at (+ line_offset), the column of k->token on it */
    line = sy_itr_line_of(text, k->at) + k->line_offset;
    line_start = text;
    for (int l = 1; l != line; ++l)
        line_start = strchr(line_start, '\n') + 1;
    if (k->token != NULL) {
        const char *tok = strstr(line_start, k->token);
        const char *eol = strchr(line_start, '\n');
        if (tok == NULL || (eol != NULL && tok > eol))
            fail_msg("%s: token \"%s\" not on line %d of the edited policy", k->name, k->token, line);
        column = (int)(tok - line_start) + 1;
    }

    /* 1. POST /admin/api/policy/check */
    admin(h, "POST", "/admin/api/policy/check", sy_raw_bearer(h), text, &res);
    msg = json_string_value(json_object_get(res.json, "message"));
    int got_line = (int)json_integer_value(json_object_get(res.json, "line"));
    int got_col = (int)json_integer_value(json_object_get(res.json, "column"));
    print_message("  %-22s API -> %d %s\n", k->name, res.status, msg != NULL ? msg : res.body);
    if (res.status != 422 || !json_is_false(json_object_get(res.json, "ok")) || msg == NULL ||
        strcmp(json_string_value(json_object_get(res.json, "error")) != NULL
                   ? json_string_value(json_object_get(res.json, "error"))
                   : "",
               "policy_invalid") != 0) {
        sy_raw_dump(k->name, &res);
        fail_msg("%s: expected 422 {\"ok\":false,\"error\":\"policy_invalid\",\"message\",\"line\",\"column\"}", k->name);
    }
    if (k->lenient ? (got_line < line || got_line > line + 1 || got_col < 1) : (got_line != line || got_col != column)) {
        sy_raw_dump(k->name, &res);
        fail_msg("%s: expected line %d column %d, got %d:%d", k->name, line, column, got_line, got_col);
    }
    snprintf(prefix, sizeof(prefix), "policy.yaml:%d:%d: ", got_line, got_col);
    if (strncmp(msg, prefix, strlen(prefix)) != 0 || strstr(msg, k->fragment) == NULL) {
        sy_raw_dump(k->name, &res);
        fail_msg("%s: expected a message \"%s... %s ...\"", k->name, prefix, k->fragment);
    }
    /* the answer names the posted text, never where the hub keeps its data */
    if (strstr(res.body, h->data_dir) != NULL || strstr(res.body, "policy-check-") != NULL) {
        sy_raw_dump(k->name, &res);
        fail_msg("%s: the 422 message reveals the server's data directory (%s) instead of naming policy.yaml", k->name,
                 h->data_dir);
    }

    /* 2. switchyard policy check FILE */
    snprintf(file, sizeof(file), "bad-policy-%zu.yaml", index);
    path = sy_it_write_file(h, file, text, strlen(text));
    sy_it_cli(h, &o, "policy", "check", path, NULL);
    snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", path, got_line, got_col);
    print_message("  %-22s CLI -> exit %d, %s", k->name, o.status, o.err);
    if (o.status != 2 || strncmp(o.err, prefix, strlen(prefix)) != 0 || strstr(o.err, k->fragment) == NULL ||
        strstr(o.out, "ok:") != NULL) {
        print_error("stdout: %s\nstderr: %s\n", o.out, o.err);
        sy_it_output_dispose(&o);
        fail_msg("%s: expected `policy check` to exit 2 with \"%s...%s...\" on stderr", k->name, prefix, k->fragment);
    }
    sy_it_output_dispose(&o);

    /* 3. nothing changed: the running policy, the log, the records, the queue, the counters */
    assert_string_equal(policy_hash(h), hash);
    sy_state_assert_unchanged(h, before, k->name);
    ++g_finished;
}

static void test_policy_unknown_key(void **state) { (void)state; check_mistake(0); }
static void test_policy_missing_owner(void **state) { (void)state; check_mistake(1); }
static void test_policy_unknown_source(void **state) { (void)state; check_mistake(2); }
static void test_policy_push_to_owner(void **state) { (void)state; check_mistake(3); }
static void test_policy_no_push_as(void **state) { (void)state; check_mistake(4); }
static void test_policy_bad_rate(void **state) { (void)state; check_mistake(5); }
static void test_policy_bad_normalizer(void **state) { (void)state; check_mistake(6); }
static void test_policy_yaml_syntax_error(void **state) { (void)state; check_mistake(7); }
static void test_policy_field_declared_twice(void **state) { (void)state; check_mistake(8); }
static void test_policy_bad_path(void **state) { (void)state; check_mistake(9); }
static void test_policy_link_to_itself(void **state) { (void)state; check_mistake(10); }
static void test_policy_revert_budget_zero(void **state) { (void)state; check_mistake(11); }

/* ---- authentication --------------------------------------------------------------------------------------------- */

/*
 * Sends each admin request with auth (the Authorization value, or NULL) and query (appended to the target, or "")
 * and asserts 401 {"error":"unauthorized"} + WWW-Authenticate: Bearer, no record data in the answer; then that the
 * same GET with the right token works (the request itself was fine) and that nothing changed.
 */
static void check_denied(const char *what, const char *auth, const char *query)
{
    sy_it_t *h = g_h;
    json_t *before = sy_state_snapshot(h), *records = json_object_get(before, "records"), *queue = json_object_get(before, "queue");
    char merge[256], drop[128], target[512];
    sy_raw_response_t res;

    assert_true(json_array_size(records) >= 2 && json_array_size(queue) >= 1);
    snprintf(merge, sizeof(merge), "{\"keep\":\"%s\",\"drop\":\"%s\"}", sy_itr_id(json_array_get(records, 0)),
             sy_itr_id(json_array_get(records, 1)));
    snprintf(drop, sizeof(drop), "/admin/api/queue/%s/drop", sy_itr_id(json_array_get(queue, 0)));
    const struct {
        const char *method, *path, *body;
    } requests[] = {
        {"GET", "/admin/api/status", NULL},
        {"GET", "/metrics", NULL},
        {"GET", "/admin/api/records", NULL},
        {"GET", "/admin/api/events/1", NULL},
        {"POST", "/admin/api/records/merge", merge},
        {"POST", drop, NULL},
        {"POST", "/admin/api/policy/reload", NULL},
        {"POST", "/admin/api/policy/check", "entity: customer\n"},
    };
    for (size_t i = 0; i != SY_ARRAY_SIZE(requests); ++i) {
        const char *err, *www;
        snprintf(target, sizeof(target), "%s%s", requests[i].path, query);
        admin(h, requests[i].method, target, auth, requests[i].body, &res);
        err = json_string_value(json_object_get(res.json, "error"));
        www = sy_raw_header(h, &res, "WWW-Authenticate");
        print_message("  %-26s %-4s %-44.44s -> %d %s\n", what, requests[i].method, target, res.status, err != NULL ? err : "");
        if (res.status != 401 || err == NULL || strcmp(err, "unauthorized") != 0 || www == NULL || strcmp(www, "Bearer") != 0) {
            sy_raw_dump(what, &res);
            fail_msg("%s: %s %s: expected 401 {\"error\":\"unauthorized\"} with WWW-Authenticate: Bearer", what,
                     requests[i].method, target);
        }
        if (strstr(res.body, "ana@acme.example") != NULL || strstr(res.body, "cust_") != NULL ||
            strstr(res.body, h->admin_token) != NULL) {
            sy_raw_dump(what, &res);
            fail_msg("%s: the 401 carries data", what);
        }
    }
    /* control: the same request with the token is fine */
    admin(h, "GET", "/admin/api/status", sy_raw_bearer(h), NULL, &res);
    assert_int_equal(res.status, 200);
    sy_state_assert_unchanged(h, before, what);
}

static void test_admin_without_token(void **state)
{
    (void)state;
    check_denied("no Authorization", NULL, "");
    /* an empty header, and "Bearer" alone */
    check_denied("Authorization: (empty)", "", "");
    check_denied("Authorization: Bearer", "Bearer", "");
    ++g_finished;
}

static void test_admin_wrong_token(void **state)
{
    sy_it_t *h = g_h;
    char *prefix = sy_it_alloc(h, 128), *longer = sy_it_alloc(h, 128), *other_case = sy_it_alloc(h, 128);
    (void)state;
    snprintf(prefix, 128, "Bearer %.*s", (int)strlen(h->admin_token) - 1, h->admin_token);
    snprintf(longer, 128, "Bearer %sx", h->admin_token);
    snprintf(other_case, 128, "Bearer %s", h->admin_token);
    for (char *p = other_case + 7; *p != '\0'; ++p)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    check_denied("Bearer wrong-token", "Bearer wrong-token", "");
    check_denied("Bearer <token minus 1 char>", prefix, "");
    check_denied("Bearer <token + 1 char>", longer, "");
    check_denied("Bearer <TOKEN upper-cased>", other_case, "");
    ++g_finished;
}

static void test_admin_basic_scheme(void **state)
{
    sy_it_t *h = g_h;
    char *basic_pair = sy_it_alloc(h, 256), *basic_raw = sy_it_alloc(h, 128), plain[128];
    unsigned char raw[128];
    (void)state;
    /* Basic base64("admin:<token>"), Basic base64(":<token>"), and Basic <token> unencoded */
    size_t n = (size_t)snprintf(plain, sizeof(plain), "admin:%s", h->admin_token);
    memcpy(raw, plain, n);
    strcpy(basic_pair, "Basic ");
    sy_base64_encode(raw, n, basic_pair + 6);
    snprintf(basic_raw, 128, "Basic %s", h->admin_token);
    check_denied("Basic base64(admin:token)", basic_pair, "");
    check_denied("Basic <token>", basic_raw, "");
    check_denied("Token <token>", sy_itr_replace(h, sy_raw_bearer(h), "Bearer", "Token"), "");
    ++g_finished;
}

static void test_admin_token_in_query(void **state)
{
    sy_it_t *h = g_h;
    char *q1 = sy_it_alloc(h, 128), *q2 = sy_it_alloc(h, 128), *q3 = sy_it_alloc(h, 160);
    (void)state;
    snprintf(q1, 128, "?token=%s", h->admin_token);
    snprintf(q2, 128, "?access_token=%s", h->admin_token);
    snprintf(q3, 160, "?authorization=Bearer%%20%s&api_key=%s", h->admin_token, h->admin_token);
    check_denied("?token=<token>", NULL, q1);
    check_denied("?access_token=<token>", NULL, q2);
    check_denied("?authorization=..&api_key=..", NULL, q3);
    ++g_finished;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_unknown_key),
        cmocka_unit_test(test_policy_missing_owner),
        cmocka_unit_test(test_policy_unknown_source),
        cmocka_unit_test(test_policy_push_to_owner),
        cmocka_unit_test(test_policy_no_push_as),
        cmocka_unit_test(test_policy_bad_rate),
        cmocka_unit_test(test_policy_bad_normalizer),
        cmocka_unit_test(test_policy_yaml_syntax_error),
        cmocka_unit_test(test_policy_field_declared_twice),
        cmocka_unit_test(test_policy_bad_path),
        cmocka_unit_test(test_policy_link_to_itself),
        cmocka_unit_test(test_policy_revert_budget_zero),
        cmocka_unit_test(test_admin_without_token),
        cmocka_unit_test(test_admin_wrong_token),
        cmocka_unit_test(test_admin_basic_scheme),
        cmocka_unit_test(test_admin_token_in_query),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
