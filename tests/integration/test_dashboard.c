/*
 * The operator dashboard (/admin/ on the admin listener) in real headless Chromium against a running hub with data:
 * the example policy, fake Stripe and HubSpot APIs (Stripe refuses every push with a 400: dead letters; HubSpot
 * answers 500: pushes stay queued and retry), signed events that make golden records, a duplicate, a conflict with
 * a revert, and one forged Stripe signature. Once the hub is settled, Chromium loads
 * /admin/#token=…[&q=…] with --dump-dom and the figures in the DOM must equal what the admin API and the CLI say:
 * records, the score against the 95 % target, duplicates, conflicts, signature failures, queue depth and dead
 * letters per spoke, events per source; a search pre-filled from the fragment shows the golden email with its
 * owning source and seq; a wrong token brings back the sign-in form with a 401 message. No console errors or
 * Content-Security-Policy violations are allowed.
 *
 * Bounded: every wait polls with a limit; the only fixed wait is Chromium's virtual time budget (8 s of page time,
 * usually far less wall time). Set SY_DASHBOARD_SCREENSHOT=/path.png to also write a screenshot of the page.
 */
#include "harness_browser.h"
#include "harness_delivery.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define S0 1750000000LL     /* Stripe `created`, seconds */
#define HS0 1750000000000LL /* HubSpot `occurredAt`, ms (the same instant) */
#define BUDGET_MS 8000
#define SETTLE_TIMEOUT_S 40.0

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/* GET path on the admin listener with the token: the 200 JSON answer (owned). */
static json_t *admin_json(sy_it_t *h, const char *path)
{
    char auth[128];
    sy_it_response_t res;
    snprintf(auth, sizeof(auth), "Bearer %s", h->admin_token);
    sy_it_admin_get(h, path, auth, &res);
    if (res.status != 200 || res.json == NULL)
        fail_msg("GET %s: expected 200 with JSON, got %ld: %.300s", path, res.status, res.body);
    json_t *j = sy_it_own_json(h, json_incref(res.json));
    sy_it_response_dispose(&res);
    return j;
}

/* doc.<a>.<b>...: the value at a dotted path (borrowed), failing the test with the document if it is absent. */
static json_t *at(sy_it_t *h, json_t *doc, const char *what, const char *path)
{
    char key[128];
    json_t *v = doc;
    for (const char *p = path; v != NULL && *p != '\0';) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        v = json_object_get(v, key);
        p += n + (p[n] == '.');
    }
    if (v == NULL)
        fail_msg("%s has no %s (the dashboard needs it): %.600s", what, path, sy_itr_text(h, doc));
    return v;
}

static json_int_t at_int(sy_it_t *h, json_t *doc, const char *what, const char *path)
{
    json_t *v = at(h, doc, what, path);
    if (!json_is_integer(v))
        fail_msg("%s: %s is not an integer: %s", what, path, sy_itr_text(h, v));
    return json_integer_value(v);
}

/* Sum of an events/rate series. */
static json_int_t series_sum(sy_it_t *h, json_t *rate, const char *source)
{
    json_t *series = json_object_get(json_object_get(rate, "series"), source), *v;
    json_int_t sum = 0;
    size_t i;
    if (!json_is_array(series))
        fail_msg("events/rate has no series for %s: %s", source, sy_itr_text(h, rate));
    json_array_foreach(series, i, v) sum += json_integer_value(v);
    return sum;
}

static size_t dead_for(json_t *dead, const char *spoke)
{
    size_t i, n = 0;
    json_t *d;
    json_array_foreach(dead, i, d) n += strcmp(json_string_value(json_object_get(d, "spoke")), spoke) == 0;
    return n;
}

/* Settled: Stripe's pushes are all dead letters, HubSpot's are queued and retrying. */
static int settled(sy_it_t *h, void *arg)
{
    (void)arg;
    json_t *q = sy_itr_queue(h), *dead = sy_itd_dead(h);
    int ok = sy_itr_pushes(q, "stripe", NULL, NULL) == 0 && dead_for(dead, "stripe") >= 1 &&
             sy_itr_pushes(q, "hubspot", NULL, NULL) >= 1;
    sy_it_release(h, q);
    sy_it_release(h, dead);
    return ok;
}

static void assert_no_console_errors(sy_it_t *h, const char *what)
{
    static const char *const bad[] = {"Uncaught", "Refused to", "Content Security Policy", "ERROR:CONSOLE",
                                      "Failed to load", "TypeError", "ReferenceError", "SyntaxError"};
    char *console = sy_itb_console(h);
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i)
        if (strstr(console, bad[i]) != NULL)
            fail_msg("%s: the page logged \"%s\" in the console:\n%s", what, bad[i], console);
}

/* The three files are served without a token (a browser cannot send one when it navigates), with their types,
 * and the page loads nothing from elsewhere and has no inline script, style or handler. */
static void check_assets(sy_it_t *h)
{
    static const struct {
        const char *path, *type;
    } assets[] = {{"/admin/", "text/html"}, {"/admin/app.js", "javascript"}, {"/admin/style.css", "text/css"}};
    static const char *const forbidden[] = {"src=\"http", "href=\"http", "src=\"//", "href=\"//", "<script>",
                                            " style=\"", " onclick=", " onload=", " onsubmit=", "<style"};
    sy_it_response_t res;
    for (size_t i = 0; i != sizeof(assets) / sizeof(assets[0]); ++i) {
        sy_it_admin_get(h, assets[i].path, NULL, &res);
        if (res.status != 200 || strstr(res.content_type, assets[i].type) == NULL || res.body_len == 0)
            fail_msg("GET %s without a token: expected 200 %s, got %ld \"%s\" (%zu bytes)", assets[i].path,
                     assets[i].type, res.status, res.content_type, res.body_len);
        for (size_t k = 0; i == 0 && k != sizeof(forbidden) / sizeof(forbidden[0]); ++k)
            if (strstr(res.body, forbidden[k]) != NULL)
                fail_msg("/admin/ holds \"%s\": the page must load nothing from elsewhere and keep all script and style "
                         "in app.js and style.css (CSP default-src 'self')",
                         forbidden[k]);
        sy_it_response_dispose(&res);
    }
}

static void test_dashboard_figures(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_itd_fake_t *stripe, *hubspot;
    json_t *status, *health, *rate, *cli_health, *queue, *dead, *rec;
    json_int_t stripe_events = 0, hubspot_events = 0;
    sy_it_headers_t hd = {0};
    sy_it_response_t res;
    char *dom, *text, *result, *row, *cell, rec_id[64], want[160];
    const char *screenshot = getenv("SY_DASHBOARD_SCREENSHOT");
    size_t len;

    sy_itb_chromium(); /* fail first, and clearly, without a browser */
    stripe = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    hubspot = sy_itd_fake_start(h, "hubspot", NULL, NULL, 1);
    sy_itd_fake_mode(stripe, "error400", 0, 0, 0);  /* every push to Stripe is refused: dead letters */
    sy_itd_fake_mode(hubspot, "error500", 0, 0, 0); /* every push to HubSpot fails: queued, retrying */
    sy_itd_set_api(h, "stripe", stripe, NULL);
    sy_itd_set_api(h, "hubspot", hubspot, NULL);
    sy_itd_use_example_policy(h);
    sy_it_start(h);
    check_assets(h);

    /* Ann (complete and connected): a Stripe customer linked to HubSpot contact 51; HubSpot (the owner) changes
     * the email: a push to Stripe; sets the company;
     * HubSpot sets the name Stripe already holds (no push); Stripe changes that HubSpot-owned name: a conflict,
     * reverted (another push to Stripe) */
    sy_itr_stripe(h, "evt_a1", "customer.created", S0, sy_itr_customer("cus_A", "ann@old.test", "Ann Lee", NULL, "51"));
    ++stripe_events;
    sy_itr_hs_change(h, 5101, 51, HS0 + 1000, "email", "ann@nova.test");
    sy_itr_hs_change(h, 5102, 51, HS0 + 1500, "name", "Ann Lee");
    sy_itr_hs_change(h, 5103, 51, HS0 + 1600, "company", "Acme");
    hubspot_events += 3;
    sy_itr_stripe(h, "evt_a2", "customer.updated", S0 + 20,
                  sy_itr_customer("cus_A", "ann@nova.test", "Annie L.", NULL, "51"));
    ++stripe_events;
    /* Bo: HubSpot only (not connected), every required field */
    sy_itr_hs_change(h, 6101, 61, HS0 + 2000, "email", "bo@pixel.test");
    sy_itr_hs_change(h, 6102, 61, HS0 + 2001, "name", "Bo Park");
    sy_itr_hs_change(h, 6103, 61, HS0 + 2002, "company", "Nova Pixel Inc.");
    hubspot_events += 3;
    /* Dee: two Stripe customers linked to one HubSpot contact (a duplicate) with an active subscription, whose
     * Stripe-owned fields are pushed to HubSpot */
    sy_itr_stripe(h, "evt_d1", "customer.created", S0 + 30, sy_itr_customer("cus_D1", "d1@dup.test", "Dee One", NULL, "75"));
    sy_itr_stripe(h, "evt_d2", "customer.created", S0 + 31, sy_itr_customer("cus_D2", "d2@dup.test", "Dee Two", NULL, "75"));
    sy_itr_stripe(h, "evt_d3", "customer.subscription.created", S0 + 32,
                  sy_itr_subscription("sub_1", "cus_D1", "active", "price_basic", 4900));
    stripe_events += 3;
    /* a forged Stripe signature: refused, counted, not stored */
    char *body = sy_it_stripe_event(h, "evt_forged", "customer.updated", (int64_t)time(NULL), 0, &len);
    sy_it_sign_stripe(&hd, "whsec_not_the_secret", body, len, (int64_t)time(NULL));
    sy_it_post(h, "/hooks/stripe", &hd, body, len, &res);
    sy_it_assert_error(&res, 401, "signature_invalid");
    sy_it_response_dispose(&res);
    sy_it_headers_dispose(&hd);

    sy_itr_wait_applied(h);
    sy_itd_wait(h, SETTLE_TIMEOUT_S, "Stripe's pushes dead, HubSpot's queued", settled, NULL);

    /* the page */
    dom = sy_itb_dump_dom(h, sy_itb_admin_url(h, h->admin_token, NULL), BUDGET_MS);
    assert_no_console_errors(h, "dashboard");
    if (screenshot != NULL && screenshot[0] != '\0')
        sy_itb_screenshot(h, sy_itb_admin_url(h, h->admin_token, "ann@nova.test"), BUDGET_MS, screenshot, 1400, 2600);

    /* what the hub says, read after the page (the state is settled: these do not move any more) */
    status = admin_json(h, "/admin/api/status");
    health = admin_json(h, "/admin/api/health");
    rate = admin_json(h, "/admin/api/events/rate");
    cli_health = sy_itr_health(h);
    queue = sy_itr_queue(h);
    dead = sy_itd_dead(h);

    /* signed in: the form is hidden, the dashboard shown and refreshed */
    if (sy_itb_attr(h, dom, "token-section", "hidden") == NULL)
        fail_msg("the sign-in form is shown although the fragment carried a valid token");
    if (sy_itb_attr(h, dom, "main", "hidden") != NULL)
        fail_msg("the dashboard stays hidden with a valid token");
    sy_itb_assert_contains(h, dom, "last-updated", "Last updated");

    /* data health */
    json_int_t records = at_int(h, health, "health", "records");
    if (records != json_integer_value(json_object_get(cli_health, "records")))
        fail_msg("API and CLI disagree on records: %lld vs %s", (long long)records, sy_itr_text(h, cli_health));
    assert_int_equal(records, 3);
    sy_itb_assert_int(h, dom, "records-count", records);
    sy_itb_assert_int(h, dom, "complete-count", at_int(h, health, "health", "complete_records"));
    sy_itb_assert_int(h, dom, "duplicates-count", (long long)json_array_size(at(h, health, "health", "duplicates")));
    assert_int_equal(json_array_size(json_object_get(health, "duplicates")), 1);
    sy_itb_assert_contains(h, dom, "duplicates-list", "cus_D1, cus_D2");

    double score = json_number_value(at(h, health, "health", "score"));
    if (score <= 0)
        fail_msg("expected a score above 0 (Ann is complete and connected): %s", sy_itr_text(h, health));
    double target = json_number_value(at(h, health, "health", "target"));
    if (!json_is_number(json_object_get(health, "score")) || score < 0 || score > 1 || fabs(target - 0.95) > 1e-9)
        fail_msg("health.score must be a fraction and target 0.95: %s", sy_itr_text(h, health));
    text = sy_itb_text(h, dom, "score-text");
    double shown = text != NULL ? strtod(text, NULL) : -1;
    if (text == NULL || fabs(shown - score * 100) > 0.05 + 1e-9 ||
        strstr(text, " % complete and connected \xe2\x80\x94 target 95 %") == NULL)
        fail_msg("#score-text: expected \"%.1f %% complete and connected \xe2\x80\x94 target 95 %%\", got \"%s\"",
                 score * 100, text != NULL ? text : "(none)");
    snprintf(want, sizeof(want), "%.1f %%", shown);
    sy_itb_assert_text(h, dom, "score", want);
    text = sy_itb_attr(h, dom, "score", "data-value");
    if (text == NULL || fabs(strtod(text, NULL) - score) > 1e-9)
        fail_msg("#score data-value: expected %.17g, got %s", score, text != NULL ? text : "(none)");

    /* conflicts: the API, the CLI and the page agree */
    json_int_t conflicts = at_int(h, health, "health", "counters.conflicts");
    if (conflicts < 1 || conflicts != sy_itr_counter(cli_health, "conflicts"))
        fail_msg("conflicts: API %lld, CLI %lld (expected the same, at least 1)", (long long)conflicts,
                 (long long)sy_itr_counter(cli_health, "conflicts"));
    sy_itb_assert_int(h, dom, "conflicts-total", conflicts);
    sy_itb_assert_int(h, dom, "reverts-total", at_int(h, health, "health", "counters.reverts"));
    sy_itb_assert_int(h, dom, "conflicts-name", at_int(h, health, "health", "per_field.name.conflicts"));
    sy_itb_assert_int(h, dom, "reverts-name", at_int(h, health, "health", "per_field.name.reverts"));

    /* ingress: one forged signature on stripe */
    assert_int_equal(at_int(h, status, "status", "ingress.sources.stripe.signature_failures"), 1);
    sy_itb_assert_int(h, dom, "signature-failures-stripe", 1);
    sy_itb_assert_int(h, dom, "signature-failures-hubspot",
                      at_int(h, status, "status", "ingress.sources.hubspot.signature_failures"));
    sy_itb_assert_int(h, dom, "accepted-stripe", at_int(h, status, "status", "ingress.sources.stripe.accepted"));

    /* delivery: queue depth and dead letters per spoke, as the API and the CLI count them */
    json_int_t queued_hs = at_int(h, status, "status", "delivery.spokes.hubspot.queued");
    if (queued_hs < 1 || (size_t)queued_hs != sy_itr_pushes(queue, "hubspot", NULL, NULL))
        fail_msg("HubSpot queue: API %lld, `queue ls` %zu (expected the same, at least 1)", (long long)queued_hs,
                 sy_itr_pushes(queue, "hubspot", NULL, NULL));
    sy_itb_assert_int(h, dom, "queue-depth-hubspot", queued_hs);
    sy_itb_assert_int(h, dom, "queue-depth-stripe", at_int(h, status, "status", "delivery.spokes.stripe.queued"));
    json_int_t dead_stripe = at_int(h, status, "status", "delivery.spokes.stripe.dead");
    if (dead_stripe < 1 || (size_t)dead_stripe != dead_for(dead, "stripe"))
        fail_msg("Stripe dead letters: API %lld, `dead ls` %zu (expected the same, at least 1)", (long long)dead_stripe,
                 dead_for(dead, "stripe"));
    sy_itb_assert_int(h, dom, "dead-stripe", dead_stripe);
    sy_itb_assert_int(h, dom, "dead-hubspot", at_int(h, status, "status", "delivery.spokes.hubspot.dead"));
    text = sy_itb_text(h, dom, "breaker-hubspot");
    if (text == NULL || (strcmp(text, "closed") != 0 && strcmp(text, "open") != 0 && strcmp(text, "half-open") != 0))
        fail_msg("#breaker-hubspot: expected closed, open or half-open, got %s", text != NULL ? text : "(none)");

    /* events per source over the last hour */
    assert_int_equal(series_sum(h, rate, "stripe"), stripe_events);
    assert_int_equal(series_sum(h, rate, "hubspot"), hubspot_events);
    sy_itb_assert_int(h, dom, "events-total-stripe", stripe_events);
    sy_itb_assert_int(h, dom, "events-total-hubspot", hubspot_events);
    sy_itb_assert_int(h, dom, "events-total", stripe_events + hubspot_events);
    if (sy_itb_element(h, dom, "events-chart-stripe") == NULL)
        fail_msg("no chart #events-chart-stripe");

    /* the integration map, drawn from /admin/api/map?format=json */
    sy_itb_assert_contains(h, dom, "map-list", "hubspot \xe2\x86\x92 stripe: email");
    if (strstr(sy_itb_element(h, dom, "map"), "<svg") == NULL)
        fail_msg("#map holds no SVG");

    /* a search pre-filled from the fragment: the golden email with its owner and the seq of its event */
    rec = sy_itr_record(h, "hubspot:51");
    if (rec == NULL)
        fail_msg("no record for hubspot:51");
    snprintf(rec_id, sizeof(rec_id), "%s", sy_itr_id(rec));
    dom = sy_itb_dump_dom(h, sy_itb_admin_url(h, h->admin_token, "ann@nova.test"), BUDGET_MS);
    assert_no_console_errors(h, "search");
    result = sy_itb_element(h, dom, "search-result");
    if (result == NULL || sy_itb_find(h, result, "data-record", rec_id) == NULL)
        fail_msg("#search-result does not show record %s: %s", rec_id, result != NULL ? sy_itb_strip(h, result) : "(none)");
    row = sy_itb_find(h, result, "data-field", "email");
    if (row == NULL)
        fail_msg("#search-result has no email row: %s", sy_itb_strip(h, result));
    cell = sy_itb_find(h, row, "class", "value");
    if (cell == NULL || strcmp(sy_itb_strip(h, cell), "ann@nova.test") != 0)
        fail_msg("email value in #search-result: %s", sy_itb_strip(h, row));
    cell = sy_itb_find(h, row, "class", "source");
    if (cell == NULL || strcmp(sy_itb_strip(h, cell), "hubspot") != 0)
        fail_msg("email owner in #search-result: %s", sy_itb_strip(h, row));
    cell = sy_itb_find(h, row, "class", "seq num");
    snprintf(want, sizeof(want), "%lld", (long long)sy_itr_field_int(rec, "email", "seq"));
    if (cell == NULL || strcmp(sy_itb_strip(h, cell), want) != 0)
        fail_msg("email seq in #search-result: expected %s: %s", want, sy_itb_strip(h, row));
    sy_itb_assert_contains(h, dom, "search-result", sy_itr_field(rec, "name", "value")); /* "Ann Lee" (reverted) */
    sy_itb_assert_contains(h, dom, "search-status", "1 record matches");

    /* a wrong token: the sign-in form comes back and says why */
    dom = sy_itb_dump_dom(h, sy_itb_admin_url(h, "not-the-token", NULL), BUDGET_MS);
    assert_no_console_errors(h, "wrong token");
    if (sy_itb_attr(h, dom, "token-section", "hidden") != NULL)
        fail_msg("a refused token did not bring the sign-in form back");
    if (sy_itb_attr(h, dom, "main", "hidden") == NULL)
        fail_msg("the dashboard stays visible after a 401");
    sy_itb_assert_contains(h, dom, "token-message", "401");
    if (sy_itb_element(h, dom, "token-form") == NULL || sy_itb_element(h, dom, "token-input") == NULL)
        fail_msg("no #token-form with #token-input");
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_dashboard_figures, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
