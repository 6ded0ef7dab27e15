/*
 * The five-tool stack of deploy/run for integration tests (harness_tools.h).
 */
#include "harness_tools.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "connector.h"
#include "crypto.h"
#include "header_event.h"

static const struct {
    const char *api, *source, *token, *seed; /* seed: the objects deploy/run seeds, verbatim */
} tools[SY_ITT_NUM_TOOLS] = {
    [SY_ITT_STRIPE] = {"stripe", "stripe", "sk_test_local_demo",
                       "{\"cus_SyDemoAcme01\":{\"email\":\"billing@acme.example\",\"name\":\"Acme Corp\"}}"},
    [SY_ITT_HUBSPOT] = {"hubspot", "hubspot", "pat-local-demo", "{\"51\":{\"email\":\"ana@acme.example\",\"firstname\":\"Ana\"}}"},
    [SY_ITT_INTERCOM] = {"intercom", "intercom", "intercom-local-demo",
                         "{\"6657a1b2c3d4e5f6a7b8c9d0\":{\"email\":\"ana@acme.example\",\"name\":\"Ana Silva\"}}"},
    [SY_ITT_QUICKBOOKS] = {"quickbooks", "quickbooks", "qbo-local-demo",
                           "{\"9341455251541838:58\":{\"DisplayName\":\"Acme Corp\",\"SyncToken\":\"0\",\"PrimaryEmailAddr\":{\"Address\":\"billing@acme.example\"}}}"},
    [SY_ITT_SHEETS] = {"google_sheets", "sheets", "sheets-local-demo",
                       "{\"1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms\":{\"Customers\":{\"A1\":\"record_id\",\"B1\":"
                       "\"email\",\"C1\":\"name\",\"D1\":\"owner\",\"E1\":\"stage\",\"A2\":\"cus_SyDemoAcme01\",\"B2\":"
                       "\"billing@acme.example\",\"C2\":\"Acme Corp\",\"D2\":\"Ana\",\"E2\":\"customer\"}}}"},
};

/* The example config's ports of the fakes, in tool order. */
static const char *const example_ports[SY_ITT_NUM_TOOLS] = {"8091", "8092", "8093", "8094", "8095"};

/* The variables the example config reads its secrets and tokens from: unset, so that its demo defaults apply. */
static const char *const secret_vars[] = {"STRIPE_WEBHOOK_SECRET",     "STRIPE_API_KEY",         "HUBSPOT_CLIENT_SECRET",
                                          "HUBSPOT_PRIVATE_APP_TOKEN", "INTERCOM_CLIENT_SECRET", "INTERCOM_ACCESS_TOKEN",
                                          "QBO_VERIFIER_TOKEN",        "QBO_ACCESS_TOKEN",       "SHEETS_WEBHOOK_SECRET",
                                          "SHEETS_ACCESS_TOKEN",       "SWITCHYARD_ADMIN_TOKEN"};

const char *sy_itt_source(sy_itt_tool_t tool)
{
    return tools[tool].source;
}

void sy_itt_stack_create(sy_it_t *h, sy_itt_stack_t *s)
{
    char path[SY_IT_PATH_MAX], from[64], to[SY_IT_PATH_MAX + 64];
    const char *src = getenv("SY_SOURCE_DIR");
    size_t len;

    if (src == NULL || src[0] == '\0')
        fail_msg("SY_SOURCE_DIR is not set (the source tree, for deploy/switchyard.example.yaml)");
    memset(s, 0, sizeof(*s));
    s->h = h;
    for (size_t i = 0; i != sizeof(secret_vars) / sizeof(secret_vars[0]); ++i)
        assert_int_equal(unsetenv(secret_vars[i]), 0);
    for (int t = 0; t != SY_ITT_NUM_TOOLS; ++t) {
        json_error_t jerr;
        json_t *seed = json_loads(tools[t].seed, 0, &jerr);
        if (seed == NULL)
            fail_msg("seed of %s: %s", tools[t].api, jerr.text);
        s->fake[t] = sy_itd_fake_start(h, tools[t].api, tools[t].token, NULL, 1);
        sy_itd_fake_seed(s->fake[t], seed);
    }

    snprintf(path, sizeof(path), "%s/deploy/switchyard.example.yaml", src);
    char *raw = sy_it_slurp(path, &len);
    if (raw == NULL)
        fail_msg("cannot read %s: %s", path, strerror(errno));
    char *text = sy_it_own(h, raw, free);
    snprintf(to, sizeof(to), "data_dir: %s ", h->data_dir);
    text = sy_itr_replace(h, text, "data_dir: ../var ", to);
    snprintf(to, sizeof(to), "policy: %s/policies ", src);
    text = sy_itr_replace(h, text, "policy: ../policies ", to);
    snprintf(to, sizeof(to), "listen: 127.0.0.1:%u ", h->ingress_port);
    text = sy_itr_replace(h, text, "listen: 127.0.0.1:8080 ", to);
    snprintf(to, sizeof(to), "listen: 127.0.0.1:%u ", h->admin_port);
    text = sy_itr_replace(h, text, "listen: 127.0.0.1:8081 ", to);
    /* the harness's admin calls send its own token, from the variable it sets */
    text = sy_itr_replace(h, text, "env: SWITCHYARD_ADMIN_TOKEN", "env: " SY_IT_TOKEN_ENV);
    for (int t = 0; t != SY_ITT_NUM_TOOLS; ++t) {
        snprintf(from, sizeof(from), "base_url: http://127.0.0.1:%s\n", example_ports[t]);
        snprintf(to, sizeof(to), "base_url: %s\n", s->fake[t]->base_url);
        text = sy_itr_replace(h, text, from, to);
    }
    FILE *fp = fopen(h->config_path, "w");
    if (fp == NULL || fputs(text, fp) < 0 || fclose(fp) != 0)
        fail_msg("cannot write %s", h->config_path);
}

void sy_itt_trigger(sy_it_t *h, const char *source, const char *type)
{
    sy_it_output_t o;
    sy_it_cli(h, &o, "trigger", source, type, NULL);
    if (o.status != 0)
        fail_msg("switchyard trigger %s %s: exit %d\nstdout: %s\nstderr: %s", source, type, o.status, o.out, o.err);
    sy_it_output_dispose(&o);
}

void sy_itt_settle(sy_it_t *h)
{
    sy_it_release(h, sy_itr_wait_applied(h));
    sy_itd_wait_queue_empty(h, SY_ITT_SETTLE_TIMEOUT_S);
    sy_it_release(h, sy_itr_wait_applied(h));
    json_t *dead = sy_itd_dead(h);
    if (json_array_size(dead) != 0)
        fail_msg("dead letters: %s", sy_itr_text(h, dead));
    sy_it_release(h, dead);
}

static int prefixed(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int is_write(const char *api, const char *method, const char *path)
{
    int post = strcmp(method, "POST") == 0;
    if (strcmp(api, "stripe") == 0)
        return post && prefixed(path, "/v1/customers");
    if (strcmp(api, "hubspot") == 0)
        return strcmp(method, "PATCH") == 0 || (post && strstr(path, "/search") == NULL);
    if (strcmp(api, "intercom") == 0)
        return strcmp(method, "PUT") == 0 || (post && (strcmp(path, "/contacts") == 0 || prefixed(path, "/contacts?")));
    if (strcmp(api, "google_sheets") == 0)
        return post && strstr(path, "values:batchUpdate") != NULL;
    if (strcmp(api, "quickbooks") == 0)
        return post && strstr(path, "/customer") != NULL;
    return 0;
}

size_t sy_itt_writes(sy_itd_fake_t *f)
{
    json_t *reqs = sy_itd_fake_requests(f), *r;
    size_t i, n = 0;
    json_array_foreach(reqs, i, r)
    {
        const char *method = json_string_value(json_object_get(r, "method"));
        const char *path = json_string_value(json_object_get(r, "path"));
        json_int_t status = json_integer_value(json_object_get(r, "status"));
        n += method != NULL && path != NULL && is_write(f->api, method, path) && status >= 200 && status < 300 &&
             !json_is_true(json_object_get(r, "replayed"));
    }
    sy_it_release(f->h, reqs);
    return n;
}

void sy_itt_count_writes(const sy_itt_stack_t *s, size_t out[SY_ITT_NUM_TOOLS])
{
    for (int t = 0; t != SY_ITT_NUM_TOOLS; ++t)
        out[t] = s->fake[t] != NULL ? sy_itt_writes(s->fake[t]) : 0;
}

void sy_itt_assert_writes(const sy_itt_stack_t *s, const size_t before[SY_ITT_NUM_TOOLS], const size_t want[SY_ITT_NUM_TOOLS],
                          const char *what)
{
    size_t now[SY_ITT_NUM_TOOLS];
    sy_itt_count_writes(s, now);
    for (int t = 0; t != SY_ITT_NUM_TOOLS; ++t) {
        if (s->fake[t] != NULL && now[t] - before[t] != want[t])
            fail_msg("%s: expected %zu write(s) to %s, got %zu; its requests: %s", what, want[t], tools[t].source,
                     now[t] - before[t], sy_itr_text(s->h, sy_itd_fake_requests(s->fake[t])));
    }
}

/* ---- signed webhooks ------------------------------------------------------------------------------------------ */

static void assert_fresh(sy_it_response_t *res, const char *what)
{
    if (res->status != 200 || !json_is_false(json_object_get(res->json, "duplicate"))) {
        sy_it_dump_response(what, res);
        fail_msg("%s: expected 200 and a fresh event", what);
    }
    sy_it_response_dispose(res);
}

void sy_itt_stripe(sy_it_t *h, const char *event_id, const char *type, int64_t created_s, json_t *object)
{
    json_t *ev = sy_it_own_json(h, sy_itd_stripe_event(event_id, type, created_s, object));
    char *body = sy_it_own(h, json_dumps(ev, JSON_COMPACT), free);
    sy_it_response_t res;
    sy_it_post_stripe(h, SY_ITT_STRIPE_SECRET, body, strlen(body), &res);
    assert_fresh(&res, event_id);
}

void sy_itt_hubspot(sy_it_t *h, json_t *events)
{
    (void)sy_itr_hubspot_post(h, "hubspot", SY_ITT_HUBSPOT_SECRET, events);
}

void sy_itt_intercom(sy_it_t *h, const char *notification_id, const char *topic, int64_t created_s, json_t *item)
{
    json_t *ev = sy_it_own_json(h, json_pack("{s:s, s:s, s:s, s:s, s:I, s:{s:s, s:o}, s:i}", "type", "notification_event", "app_id",
                                             "abc123de", "id", notification_id, "topic", topic, "created_at", (json_int_t)created_s,
                                             "data", "type", "notification_event_data", "item", item, "delivery_attempts", 1));
    char *body = sy_it_own(h, json_dumps(ev, JSON_COMPACT), free);
    unsigned char mac[SY_SHA1_LEN];
    char sig[5 + 2 * SY_SHA1_LEN + 1] = "sha1=";
    sy_slice_t part = sy_slice_cstr(body);
    assert_int_equal(sy_hmac_sha1(SY_SLICE_LIT(SY_ITT_INTERCOM_SECRET), &part, 1, mac), 0);
    sy_hex_encode(mac, sizeof(mac), sig + 5);
    sig[sizeof(sig) - 1] = '\0';
    sy_it_headers_t hd = {0};
    sy_it_headers_add(&hd, "Content-Type", "application/json");
    sy_it_headers_add(&hd, "X-Hub-Signature", sig);
    sy_it_response_t res;
    sy_it_post(h, "/hooks/intercom", &hd, body, strlen(body), &res);
    sy_it_headers_dispose(&hd);
    assert_fresh(&res, notification_id);
}

void sy_itt_sheets_row(sy_it_t *h, int row, json_t *values)
{
    char when[32];
    sy_rfc3339_format(sy_now_ms(), when);
    json_t *ev =
        sy_it_own_json(h, json_pack("{s:s, s:s, s:{s:s, s:s, s:i, s:o}}", "type", "row.updated", "timestamp", when, "data",
                                    "spreadsheet_id", SY_ITT_SPREADSHEET, "sheet", "Customers", "row", row, "values", values));
    char *body = sy_it_own(h, json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER), free);
    const sy_connector_t *c = sy_connector_find("google_sheets");
    sy_source_verify_t conf = {.num_secrets = 1, .tolerance_ms = -1};
    conf.secrets[0] = SY_SLICE_LIT(SY_ITT_SHEETS_SECRET);
    sy_header_t out[4];
    size_t n = 4;
    char buf[512], name[64], value[160];
    sy_request_view_t req = {.method = SY_SLICE_LIT("POST"), .body = sy_slice_cstr(body), .now_ms = sy_now_ms()};
    assert_non_null(c);
    assert_int_equal(c->sign(&conf, conf.secrets[0], &req, out, &n, buf, sizeof(buf)), 0);
    sy_it_headers_t hd = {0};
    sy_it_headers_add(&hd, "Content-Type", "application/json");
    for (size_t i = 0; i != n; ++i) {
        snprintf(name, sizeof(name), "%.*s", (int)out[i].name.len, out[i].name.base);
        snprintf(value, sizeof(value), "%.*s", (int)out[i].value.len, out[i].value.base);
        sy_it_headers_add(&hd, name, value);
    }
    sy_it_response_t res;
    sy_it_post(h, "/hooks/sheets", &hd, body, strlen(body), &res);
    sy_it_headers_dispose(&hd);
    assert_fresh(&res, "sheets row.updated");
}

/* ---- reading ----------------------------------------------------------------------------------------------- */

const char *sy_itt_golden(sy_it_t *h, json_t *rec, const char *field)
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

void sy_itt_assert_str(const char *what, const char *got, const char *want)
{
    if (got == NULL && want == NULL)
        return;
    if (got == NULL || want == NULL || strcmp(got, want) != 0)
        fail_msg("%s: expected %s%s%s, got %s%s%s", what, want != NULL ? "\"" : "", want != NULL ? want : "(none)",
                 want != NULL ? "\"" : "", got != NULL ? "\"" : "", got != NULL ? got : "(none)", got != NULL ? "\"" : "");
}
