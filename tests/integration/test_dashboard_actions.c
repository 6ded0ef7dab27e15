/*
 * The dashboard that acts (issue 13), clicked in real headless Chromium through the DevTools protocol
 * (harness_cdp.h) against a running hub with data, every effect checked through the admin API:
 *
 *   - the command-center figures: active paying accounts and total MRR, equal to the health report's revenue;
 *   - the token given in the URL fragment signs in and leaves the address bar;
 *   - the event browser: newest first, filtered by record and by source as the API filters, the payload viewer
 *     showing the event's body;
 *   - a push's delivery attempt log (429 from the tool, the request line, no secret anywhere in it);
 *   - the retry button of a queued push makes it due now; the drop button (armed by a first click) removes it and
 *     its attempt log; a dead letter's drop removes it; a dead letter's retry (the tool working again) makes it go
 *     away and the push is delivered;
 *   - the alerts panel: an open alert's Ack button acknowledges it (the API says so) and the row shows it;
 *   - replay: a dry run is shown first, the confirm button runs the same spec for real.
 *
 * Data: the example policy; Stripe (the fake) refuses every push with 400 (dead letters) until the test mends it;
 * HubSpot accepts one request per hour (a 429 with Retry-After after the first, which fails with 500), so its
 * pushes stay queued, due in an hour, while the test clicks. Screenshots go to $SY_SCREENSHOT_DIR (ctest sets it
 * under the build dir's logs/) and their paths are printed. Every wait is on a condition, bounded.
 *
 * Skips (exit 77, SKIP_RETURN_CODE in CMake) only when Chromium is not installed.
 */
#include "harness_cdp.h"
#include "harness_delivery.h"
#include "harness_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define S0 1750000000LL     /* Stripe `created`, seconds */
#define HS0 1750000000000LL /* HubSpot `occurredAt`, ms (the same instant) */
#define WAIT_S 30.0
#define SETTLE_S 60.0
#define HOUR_MS 3600000LL

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* GET path on the admin listener with the token: the 200 JSON answer (owned). */
static json_t *admin_json(sy_it_t *h, const char *fmt, ...)
{
    char path[600], auth[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    sy_it_response_t res;
    snprintf(auth, sizeof(auth), "Bearer %s", h->admin_token);
    sy_it_admin_get(h, path, auth, &res);
    if (res.status != 200 || res.json == NULL)
        fail_msg("GET %s: expected 200 with JSON, got %ld: %.300s", path, res.status, res.body);
    json_t *j = sy_it_own_json(h, json_incref(res.json));
    sy_it_response_dispose(&res);
    return j;
}

/* The push of spoke for record in list (an array of pushes or dead letters), borrowed; NULL if none. */
static json_t *push_of(json_t *list, const char *spoke, const char *record)
{
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "spoke")), spoke) == 0 &&
            strcmp(json_string_value(json_object_get(p, "record")), record) == 0)
            return p;
    }
    return NULL;
}

static json_t *by_id(json_t *list, const char *id)
{
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "id")), id) == 0)
            return p;
    }
    return NULL;
}

static size_t count_spoke(json_t *list, const char *spoke)
{
    size_t i, n = 0;
    json_t *p;
    json_array_foreach(list, i, p) n += strcmp(json_string_value(json_object_get(p, "spoke")), spoke) == 0;
    return n;
}

/* The HubSpot push due last (after HubSpot's 429, due in about an hour), borrowed; NULL if none is due later than
 * half an hour from now. */
static json_t *held_push(json_t *queue)
{
    size_t i;
    json_t *p, *best = NULL;
    json_array_foreach(queue, i, p)
    {
        json_int_t due = json_integer_value(json_object_get(p, "due_at_ms"));
        if (strcmp(json_string_value(json_object_get(p, "spoke")), "hubspot") == 0 && due > now_ms() + HOUR_MS / 2 &&
            (best == NULL || due > json_integer_value(json_object_get(best, "due_at_ms"))))
            best = p;
    }
    return best;
}

/* Settled: two Stripe dead letters, nothing queued for Stripe, three HubSpot pushes queued, HubSpot paused by its
 * 429 (one push is due in about an hour; the others wait for the pause to end, an hour away too). */
static int settled(sy_it_t *h, void *arg)
{
    (void)arg;
    json_t *q = json_object_get(admin_json(h, "/admin/api/queue"), "queue");
    json_t *dead = json_object_get(admin_json(h, "/admin/api/dead"), "dead");
    return count_spoke(dead, "stripe") == 2 && count_spoke(q, "stripe") == 0 && count_spoke(q, "hubspot") == 3 &&
           held_push(q) != NULL;
}

static int stripe_delivered(sy_it_t *h, void *arg)
{
    sy_itd_fake_t *stripe = arg;
    json_t *q = json_object_get(admin_json(h, "/admin/api/queue"), "queue");
    json_t *reqs = sy_itd_fake_requests(stripe); /* owned by the harness */
    return count_spoke(q, "stripe") == 0 && sy_itd_count(reqs, "POST", "/v1/customers/cus_A", 200) >= 1;
}

/* The seqs of an events page, comma-separated (owned). */
static char *seqs_of(sy_it_t *h, json_t *page)
{
    char *out = sy_it_alloc(h, 4096);
    size_t i, o = 0;
    json_t *ev;
    json_array_foreach(json_object_get(page, "events"), i, ev)
    o += (size_t)snprintf(out + o, 4096 - o, "%s%lld", i ? "," : "", (long long)json_integer_value(json_object_get(ev, "seq")));
    return out;
}

/* The seqs of the rows the browser shows, the same way. */
static const char *shown_seqs(sy_cdp_t *c)
{
    return json_string_value(sy_cdp_eval(c, "Array.prototype.map.call(document.querySelectorAll('#browser-rows tr[data-seq]'),"
                                            " function (r) { return r.getAttribute('data-seq'); }).join(',')"));
}

static void filter_events(sy_cdp_t *c, sy_it_t *h, const char *source, const char *record, const char *what)
{
    char q[300];
    sy_cdp_fill(c, "#browser-source", source);
    sy_cdp_fill(c, "#browser-record", record);
    sy_cdp_eval(c, "document.getElementById('browser-status').removeAttribute('data-count')");
    sy_cdp_click(c, "#browser-apply");
    snprintf(q, sizeof(q), "/admin/api/events?limit=50&before=0%s%s%s%s", source[0] ? "&source=" : "", source,
             record[0] ? "&record=" : "", record);
    json_t *page = admin_json(h, "%s", q);
    size_t n = json_array_size(json_object_get(page, "events"));
    sy_cdp_wait(c, WAIT_S, what, "document.getElementById('browser-status').getAttribute('data-count') === '%zu'", n);
    const char *want = seqs_of(h, page), *got = shown_seqs(c);
    if (strcmp(want, got) != 0)
        fail_msg("%s: the browser shows seqs %s, the API answers %s", what, got, want);
}

static void test_dashboard_acts(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    const char *dir = getenv("SY_SCREENSHOT_DIR");
    char shots[SY_IT_PATH_MAX], sel[200], url[300];
    sy_itd_api_t fast = {.timeout = "5s"};

    snprintf(shots, sizeof(shots), "%s", dir != NULL && dir[0] != '\0' ? dir : h->dir);
    sy_itd_fake_t *stripe = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    sy_itd_fake_t *hubspot = sy_itd_fake_start(h, "hubspot", NULL, NULL, 1);
    sy_itd_fake_mode(stripe, "error400", 0, 0, 0);       /* every push to Stripe refused: dead letters */
    sy_itd_fake_mode(hubspot, "error500", 0, 0, 0);      /* the one request HubSpot admits fails */
    sy_itd_fake_rate(hubspot, 1, 2 * HOUR_MS, 1);        /* then 429, Retry-After: about an hour */
    sy_itd_set_api(h, "stripe", stripe, &fast);
    sy_itd_set_api(h, "hubspot", hubspot, &fast);
    sy_itd_use_example_policy(h);
    sy_it_start(h);

    /* Ann and Cy: Stripe customers linked to HubSpot contacts, paying (4900 + 9900 cents); HubSpot (the owner)
     * changes their emails: a push each to Stripe (refused: dead). Eve: cancelled, not paying. */
    sy_itr_stripe(h, "evt_a1", "customer.created", S0, sy_itr_customer("cus_A", "ann@old.test", "Ann Lee", NULL, "51"));
    sy_itr_stripe(h, "evt_c1", "customer.created", S0 + 1, sy_itr_customer("cus_C", "cy@old.test", "Cy Doe", NULL, "52"));
    sy_itr_stripe(h, "evt_e1", "customer.created", S0 + 2, sy_itr_customer("cus_E", "eve@x.test", "Eve Ng", NULL, "53"));
    sy_itr_hs_change(h, 5101, 51, HS0 + 10000, "email", "ann@nova.test");
    sy_itr_hs_change(h, 5201, 52, HS0 + 10001, "email", "cy@nova.test");
    sy_itr_stripe(h, "evt_a2", "customer.subscription.created", S0 + 20,
                  sy_itr_subscription("sub_A", "cus_A", "active", "price_basic", 4900));
    sy_itr_stripe(h, "evt_c2", "customer.subscription.created", S0 + 21,
                  sy_itr_subscription("sub_C", "cus_C", "active", "price_pro", 9900));
    sy_itr_stripe(h, "evt_e2", "customer.subscription.created", S0 + 22,
                  sy_itr_subscription("sub_E", "cus_E", "canceled", "price_basic", 1500));
    const json_int_t total_events = 8, hubspot_events = 2;
    sy_itr_wait_applied(h);
    for (double until = (double)now_ms() / 1000 + SETTLE_S; !settled(h, NULL);) {
        if ((double)now_ms() / 1000 > until)
            fail_msg("waited %.0f s for Stripe's pushes to be dead and HubSpot's queued an hour ahead: queue %s, dead %s",
                     SETTLE_S, sy_itr_text(h, admin_json(h, "/admin/api/queue")), sy_itr_text(h, admin_json(h, "/admin/api/dead")));
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }

    char ann[64], cy[64];
    snprintf(ann, sizeof(ann), "%s", sy_itr_id(sy_itr_record(h, "hubspot:51")));
    snprintf(cy, sizeof(cy), "%s", sy_itr_id(sy_itr_record(h, "hubspot:52")));
    json_t *queue = json_object_get(admin_json(h, "/admin/api/queue"), "queue");
    json_t *dead = json_object_get(admin_json(h, "/admin/api/dead"), "dead");
    /* ann_hs: the HubSpot push held an hour ahead (retried below), cy_hs: another one (dropped below) */
    char ann_hs[32], cy_hs[32], ann_dead[32], cy_dead[32];
    json_t *held = held_push(queue);
    json_int_t held_status = json_integer_value(json_object_get(held, "last_status"));
    snprintf(ann_hs, sizeof(ann_hs), "%s", json_string_value(json_object_get(held, "id")));
    json_t *other = push_of(queue, "hubspot", cy);
    if (other == held)
        other = push_of(queue, "hubspot", ann);
    snprintf(cy_hs, sizeof(cy_hs), "%s", json_string_value(json_object_get(other, "id")));
    snprintf(ann_dead, sizeof(ann_dead), "%s", json_string_value(json_object_get(push_of(dead, "stripe", ann), "id")));
    snprintf(cy_dead, sizeof(cy_dead), "%s", json_string_value(json_object_get(push_of(dead, "stripe", cy), "id")));

    /* ---- the page, signed in by the token in the fragment ---- */
    sy_cdp_t *c = sy_cdp_start(h, 1400, 1000, shots);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/admin/#token=%s", h->admin_port, h->admin_token);
    sy_cdp_navigate(c, url);
    sy_cdp_wait(c, WAIT_S, "the command-center figures", "document.getElementById('paying-accounts').textContent === '2'");
    if (json_is_true(sy_cdp_eval(c, "location.hash.indexOf('token') >= 0 || !document.getElementById('token-section').hidden")))
        fail_msg("the token stayed in the address bar, or the sign-in form is shown: %s",
                 json_string_value(sy_cdp_eval(c, "location.href")));

    /* ---- command center: as the health report computes it ---- */
    json_t *rev = json_object_get(admin_json(h, "/admin/api/health?max_age_s=0"), "revenue");
    assert_int_equal(json_integer_value(json_object_get(rev, "paying_accounts")), 2);
    assert_int_equal(json_integer_value(json_object_get(rev, "mrr_minor")), 4900 + 9900);
    sy_cdp_wait(c, WAIT_S, "MRR 148.00", "document.getElementById('mrr-total').textContent === '148.00' &&"
                                         " document.getElementById('mrr-total').getAttribute('data-value') === '14800'");
    sy_cdp_screenshot(c, "command-center");

    /* ---- event browser: newest first, then by record, by source; the payload viewer ---- */
    sy_cdp_wait(c, WAIT_S, "every event in the browser",
                "document.getElementById('browser-status').getAttribute('data-count') === '%lld'", (long long)total_events);
    json_int_t last = json_integer_value(json_object_get(json_object_get(admin_json(h, "/admin/api/status"), "log"), "last_seq"));
    if (json_integer_value(sy_cdp_eval(c, "Number(document.querySelector('#browser-rows tr').getAttribute('data-seq'))")) != last)
        fail_msg("the browser's first row is not the newest event (seq %lld)", (long long)last);
    filter_events(c, h, "", "hubspot:51", "Ann's events (record filter)");
    json_t *ann_page = admin_json(h, "/admin/api/events?before=0&record=hubspot:51");
    assert_int_equal(json_array_size(json_object_get(ann_page, "events")), 3); /* evt_a1, 5101, evt_a2 */
    const char *newest_id = json_string_value(json_object_get(json_array_get(json_object_get(ann_page, "events"), 0), "event_id"));
    assert_string_equal(newest_id, "evt_a2");
    sy_cdp_click(c, "#browser-rows tr button.act-view");
    sy_cdp_wait(c, WAIT_S, "the payload of evt_a2",
                "!document.getElementById('payload-panel').hidden &&"
                " document.getElementById('payload-view').textContent.indexOf('\"id\": \"evt_a2\"') >= 0 &&"
                " document.getElementById('payload-view').textContent.indexOf('\"unit_amount\": 4900') >= 0");
    sy_cdp_screenshot(c, "event-browser");
    filter_events(c, h, "hubspot", "", "HubSpot's events (source filter)");
    assert_int_equal(json_integer_value(sy_cdp_eval(c, "document.querySelectorAll('#browser-rows tr[data-source=\"hubspot\"]').length")),
                     hubspot_events);

    /* ---- attempt log of the held HubSpot push: what the tool answered, no secret ---- */
    json_t *att = admin_json(h, "/admin/api/pushes/%s/attempts", ann_hs);
    json_t *attempts = json_object_get(att, "attempts");
    size_t n_att = json_array_size(attempts);
    json_t *newest = json_array_get(attempts, n_att - 1);
    if (n_att == 0 || json_integer_value(json_object_get(newest, "status")) != held_status ||
        (held_status != 429 && held_status != 500) ||
        strncmp(json_string_value(json_object_get(newest, "path")), "/crm/v3/objects/contacts", 24) != 0 ||
        !json_is_integer(json_object_get(newest, "duration_ms")) || strcmp(json_string_value(json_object_get(att, "state")), "queued") != 0)
        fail_msg("attempt log of push %s: expected its last answer (%lld: 429 or 500) from /crm/v3/objects/contacts… "
                 "with a duration: %s",
                 ann_hs, (long long)held_status, sy_itr_text(h, att));
    const char *att_text = sy_itr_text(h, attempts);
    if (strstr(att_text, SY_ITD_HUBSPOT_TOKEN) != NULL || strstr(att_text, "Bearer") != NULL ||
        strstr(att_text, "Authorization") != NULL)
        fail_msg("the attempt log holds a credential: %s", att_text);
    snprintf(sel, sizeof(sel), "#queue-rows tr[data-push=\"%s\"] button.act-attempts", ann_hs);
    sy_cdp_wait(c, WAIT_S, "the held HubSpot push in the queue table", "document.querySelector('%s') !== null", sel);
    sy_cdp_click(c, sel);
    sy_cdp_wait(c, WAIT_S, "the attempt log of the held HubSpot push",
                "document.getElementById('attempts-title').getAttribute('data-push') === '%s' &&"
                " document.querySelectorAll('#attempts-rows td.status').length === %zu &&"
                " document.querySelector('#attempts-rows td.status').getAttribute('data-value') === '%lld' &&"
                " document.getElementById('attempts-rows').textContent.indexOf('/crm/v3/objects/contacts') >= 0",
                ann_hs, n_att, (long long)held_status);
    sy_cdp_screenshot(c, "attempt-log");

    /* ---- queue retry: due now (HubSpot stays paused by its 429, so it stays queued), or sent at once and held
     * again by another 429 (delivery may take it before the test looks) ---- */
    int64_t before_retry = now_ms();
    json_int_t tries_before = json_integer_value(
        json_object_get(by_id(json_object_get(admin_json(h, "/admin/api/queue"), "queue"), ann_hs), "attempts"));
    snprintf(sel, sizeof(sel), "#queue-rows tr[data-push=\"%s\"] button.act-retry", ann_hs);
    sy_cdp_click(c, sel);
    sy_cdp_wait(c, WAIT_S, "the retry to be acknowledged",
                "document.getElementById('pushes-status').getAttribute('data-result') === 'retry %s ok'", ann_hs);
    json_t *p = by_id(json_object_get(admin_json(h, "/admin/api/queue"), "queue"), ann_hs);
    int due_now = p != NULL && json_integer_value(json_object_get(p, "due_at_ms")) >= before_retry &&
                  json_integer_value(json_object_get(p, "due_at_ms")) <= now_ms();
    if (p == NULL || (!due_now && json_integer_value(json_object_get(p, "attempts")) <= tries_before))
        fail_msg("after the retry button push %s should be due now: %s", ann_hs, p != NULL ? sy_itr_text(h, p) : "(gone)");

    /* ---- queue drop: armed by the first click, done by the second ---- */
    snprintf(sel, sizeof(sel), "#queue-rows tr[data-push=\"%s\"] button.act-drop", cy_hs);
    sy_cdp_click(c, sel);
    sy_cdp_wait(c, WAIT_S, "the drop button to ask again", "document.querySelector('%s').classList.contains('armed')", sel);
    if (by_id(json_object_get(admin_json(h, "/admin/api/queue"), "queue"), cy_hs) == NULL)
        fail_msg("one click on drop removed push %s: it must ask once more", cy_hs);
    sy_cdp_click(c, sel);
    sy_cdp_wait(c, WAIT_S, "the drop to be acknowledged",
                "document.getElementById('pushes-status').getAttribute('data-result') === 'drop %s ok'", cy_hs);
    if (by_id(json_object_get(admin_json(h, "/admin/api/queue"), "queue"), cy_hs) != NULL)
        fail_msg("push %s is still queued after the drop button", cy_hs);
    att = admin_json(h, "/admin/api/pushes/%s/attempts", cy_hs);
    if (strcmp(json_string_value(json_object_get(att, "state")), "gone") != 0 || json_array_size(json_object_get(att, "attempts")) != 0)
        fail_msg("a dropped push keeps its attempt log: %s", sy_itr_text(h, att));
    sy_cdp_wait(c, WAIT_S, "the dropped push to leave the table", "document.querySelector('#queue-rows tr[data-push=\"%s\"]') === null", cy_hs);

    /* ---- dead-letter drop (Cy's) ---- */
    snprintf(sel, sizeof(sel), "#dead-rows tr[data-dead=\"%s\"] button.act-drop", cy_dead);
    sy_cdp_click(c, sel);
    sy_cdp_wait(c, WAIT_S, "the dead letter's drop button to ask again", "document.querySelector('%s').classList.contains('armed')", sel);
    sy_cdp_click(c, sel);
    sy_cdp_wait(c, WAIT_S, "the dead-letter drop to be acknowledged",
                "document.getElementById('pushes-status').getAttribute('data-result') === 'drop %s ok'", cy_dead);
    if (by_id(json_object_get(admin_json(h, "/admin/api/dead"), "dead"), cy_dead) != NULL)
        fail_msg("dead letter %s is still there after the drop button", cy_dead);
    json_t *spk = json_object_get(json_object_get(json_object_get(admin_json(h, "/admin/api/status"), "delivery"), "spokes"),
                                  "stripe");
    assert_int_equal(json_integer_value(json_object_get(spk, "dead")), 1); /* the per-spoke counter follows */

    /* ---- alerts panel: the open dead_letter alert about Stripe acknowledged through its Ack button ---- */
    char alert_id[32] = "";
    json_t *al;
    size_t ai;
    json_array_foreach(json_object_get(admin_json(h, "/admin/api/alerts"), "alerts"), ai, al)
    {
        if (strcmp(json_string_value(json_object_get(al, "kind")), "dead_letter") == 0 &&
            strcmp(json_string_value(json_object_get(al, "source")), "stripe") == 0 &&
            strcmp(json_string_value(json_object_get(al, "state")), "open") == 0)
            snprintf(alert_id, sizeof(alert_id), "%lld", (long long)json_integer_value(json_object_get(al, "id")));
    }
    if (alert_id[0] == '\0')
        fail_msg("no open dead_letter alert about stripe: %s", sy_itr_text(h, admin_json(h, "/admin/api/alerts")));
    snprintf(sel, sizeof(sel), "#alerts-rows tr[data-alert=\"%s\"] button.act-ack", alert_id);
    sy_cdp_wait(c, WAIT_S, "the dead_letter alert with its Ack button", "document.querySelector('%s') !== null", sel);
    sy_cdp_click(c, sel);
    sy_cdp_wait(c, WAIT_S, "the acknowledgement to be confirmed",
                "document.getElementById('alerts-status').getAttribute('data-result') === 'ack %s ok'", alert_id);
    json_t *acked = NULL;
    json_array_foreach(json_object_get(admin_json(h, "/admin/api/alerts"), "alerts"), ai, al)
    {
        if (json_integer_value(json_object_get(al, "id")) == strtoll(alert_id, NULL, 10))
            acked = al;
    }
    if (acked == NULL || strcmp(json_string_value(json_object_get(acked, "state")), "acknowledged") != 0)
        fail_msg("alert %s is not acknowledged after its Ack button: %s", alert_id, sy_itr_text(h, acked));
    sy_cdp_wait(c, WAIT_S, "the row to show it acknowledged, without the button",
                "document.querySelector('#alerts-rows tr[data-alert=\"%s\"]').getAttribute('data-state') === 'acknowledged' &&"
                " document.querySelector('%s') === null", alert_id, sel);
    sy_cdp_screenshot(c, "alert-acknowledged");

    /* ---- dead-letter retry (Ann's) once Stripe works again: it goes away and is delivered ---- */
    sy_itd_fake_seed(stripe, json_pack("{s:{s:s, s:s}}", "cus_A", "email", "ann@old.test", "name", "Ann Lee"));
    sy_itd_fake_mode(stripe, "ok", 0, 0, 0);
    snprintf(sel, sizeof(sel), "#dead-rows tr[data-dead=\"%s\"] button.act-retry", ann_dead);
    sy_cdp_click(c, sel);
    sy_cdp_wait(c, WAIT_S, "the dead-letter retry to be acknowledged",
                "document.getElementById('pushes-status').getAttribute('data-result') === 'retry %s ok'", ann_dead);
    if (by_id(json_object_get(admin_json(h, "/admin/api/dead"), "dead"), ann_dead) != NULL)
        fail_msg("dead letter %s is still a dead letter after the retry button", ann_dead);
    sy_itd_wait(h, SETTLE_S, "Ann's retried push delivered to Stripe", stripe_delivered, stripe);
    sy_cdp_wait(c, WAIT_S, "the retried dead letter to leave the table", "document.querySelector('#dead-rows tr[data-dead=\"%s\"]') === null", ann_dead);
    sy_cdp_screenshot(c, "after-actions");

    /* ---- replay: the dry run first, then the same spec for real ---- */
    if (json_is_true(sy_cdp_eval(c, "!document.getElementById('replay-confirm').disabled")))
        fail_msg("the replay can be confirmed before any dry run");
    sy_cdp_fill(c, "#replay-mode", "reapply");
    sy_cdp_fill(c, "#replay-source", "stripe");
    sy_cdp_click(c, "#replay-preview");
    sy_cdp_wait(c, WAIT_S, "the dry run", "document.getElementById('replay-summary').getAttribute('data-state') === 'done'");
    json_t *jobs = json_object_get(admin_json(h, "/admin/api/replay"), "jobs");
    json_t *dry = json_array_get(jobs, json_array_size(jobs) - 1);
    if (!json_is_true(json_object_get(json_object_get(dry, "spec"), "dry_run")) ||
        json_integer_value(json_object_get(dry, "selected")) != total_events - hubspot_events)
        fail_msg("the preview should be a dry run selecting the %lld Stripe events: %s",
                 (long long)(total_events - hubspot_events), sy_itr_text(h, dry));
    char want[32];
    snprintf(want, sizeof(want), "%lld", (long long)json_integer_value(json_object_get(dry, "selected")));
    if (strcmp(json_string_value(sy_cdp_eval(c, "document.getElementById('replay-summary').getAttribute('data-selected')")), want) != 0)
        fail_msg("the dry run's summary does not show %s selected events", want);
    sy_cdp_screenshot(c, "replay-dry-run");
    sy_cdp_click(c, "#replay-confirm");
    sy_cdp_wait(c, WAIT_S, "the confirmed replay", "document.getElementById('replay-status').getAttribute('data-state') === 'done'");
    const char *job = json_string_value(sy_cdp_eval(c, "document.getElementById('replay-status').getAttribute('data-job')"));
    json_t *real = admin_json(h, "/admin/api/replay/%s", job);
    if (json_is_true(json_object_get(json_object_get(real, "spec"), "dry_run")) ||
        strcmp(json_string_value(json_object_get(json_object_get(real, "spec"), "source")), "stripe") != 0 ||
        json_integer_value(json_object_get(real, "selected")) != total_events - hubspot_events)
        fail_msg("the confirmed replay should run the previewed spec for real: %s", sy_itr_text(h, real));
    sy_cdp_screenshot(c, "replay-done");

    const char *errors = sy_cdp_errors(c);
    if (errors[0] != '\0')
        fail_msg("the page reported errors:\n%s", errors);
    sy_it_pass(h);
}

int main(void)
{
    if (sy_cdp_chromium() == NULL) {
        printf("SKIP: headless Chromium is not installed (Debian's `chromium`; deploy/install-deps --test)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_dashboard_acts, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
