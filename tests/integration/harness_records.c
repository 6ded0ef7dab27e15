/*
 * Harness, golden-records side: policy in the config, event builders, applier waits, records/queue/health CLIs.
 */
#include "harness_records.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define POLICY_MARKER "# policy (harness_records.c)\n"
#define MAX_ARGS 16

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A whole file, NUL-terminated, owned by the harness. */
static char *read_owned(sy_it_t *h, const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long n = 0;
    if (fp == NULL)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        fail_msg("cannot size %s", path);
    }
    buf = sy_it_alloc(h, (size_t)n + 1);
    if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        fclose(fp);
        fail_msg("cannot read %s", path);
    }
    fclose(fp);
    return buf;
}

char *sy_itr_example_policy(sy_it_t *h)
{
    const char *src = getenv("SY_SOURCE_DIR");
    char path[SY_IT_PATH_MAX];
    if (src == NULL || src[0] == '\0')
        fail_msg("SY_SOURCE_DIR is not set (the source tree, for policies/customers.yaml)");
    snprintf(path, sizeof(path), "%s/policies/customers.yaml", src);
    return read_owned(h, path);
}

void sy_itr_set_policy(sy_it_t *h, const char *path)
{
    char *conf = read_owned(h, h->config_path), *mark = strstr(conf, POLICY_MARKER);
    FILE *fp;
    if (mark != NULL)
        *mark = '\0';
    if ((fp = fopen(h->config_path, "w")) == NULL)
        fail_msg("cannot write %s: %s", h->config_path, strerror(errno));
    fputs(conf, fp);
    if (path != NULL)
        fprintf(fp, POLICY_MARKER "policy: %s\n", path);
    if (fclose(fp) != 0)
        fail_msg("cannot write %s", h->config_path);
    sy_it_release(h, conf);
}

char *sy_itr_replace(sy_it_t *h, const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    size_t head, len;
    char *out;
    if (at == NULL)
        fail_msg("\"%s\" not found in the text to edit", from);
    head = (size_t)(at - text);
    len = strlen(text) - strlen(from) + strlen(to);
    out = sy_it_alloc(h, len + 1);
    memcpy(out, text, head);
    strcpy(out + head, to);
    strcat(out, at + strlen(from));
    return out;
}

int sy_itr_line_of(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    int line = 1;
    if (at == NULL)
        fail_msg("\"%s\" not found", needle);
    for (const char *p = text; p != at; ++p)
        line += *p == '\n';
    return line;
}

/* ---- events -------------------------------------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *sy_itr_customer(const char *id, const char *email, const char *name, const char *phone, const char *hubspot_id)
{
    json_t *meta = hubspot_id != NULL ? json_pack("{s:s}", "hubspot_contact_id", hubspot_id) : json_object();
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:i}", "id", id, "object", "customer", "email",
                     str_or_null(email), "name", str_or_null(name), "phone", str_or_null(phone), "metadata", meta,
                     "livemode", 0, "created", 1700000000);
}

json_t *sy_itr_subscription(const char *id, const char *customer, const char *status, const char *price, long long amount)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:[{s:s, s:{s:s, s:s, s:I, s:s}, s:i}]}}", "id", id, "object",
                     "subscription", "customer", customer, "status", status, "items", "object", "list", "data",
                     "object", "subscription_item", "price", "id", price, "object", "price", "unit_amount",
                     (json_int_t)amount, "currency", "usd", "quantity", 1);
}

json_t *sy_itr_invoice(const char *id, const char *customer, const char *status, const char *email)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:i}", "id", id, "object", "invoice", "customer", customer, "status",
                     status, "customer_email", str_or_null(email), "amount_due", 4900);
}

json_int_t sy_itr_stripe(sy_it_t *h, const char *event_id, const char *type, int64_t created_s, json_t *object)
{
    sy_it_response_t res;
    json_t *ev = sy_it_own_json(h, json_pack("{s:s, s:s, s:s, s:I, s:b, s:s, s:{s:o}, s:{s:n, s:n}}", "id", event_id,
                                              "object", "event", "api_version", "2024-06-20", "created",
                                              (json_int_t)created_s, "livemode", 0, "type", type, "data", "object",
                                              object, "request", "id", "idempotency_key"));
    char *body = sy_it_own(h, json_dumps(ev, JSON_COMPACT), free);
    json_int_t seq;
    sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, body, strlen(body), &res);
    seq = sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);
    sy_it_release(h, body);
    sy_it_release(h, ev);
    return seq;
}

json_t *sy_itr_hs_event(long long event_id, const char *type, long long object_id, int64_t occurred_ms,
                        const char *property, const char *value)
{
    json_t *ev = json_pack("{s:I, s:i, s:i, s:i, s:I, s:s, s:i, s:I, s:s, s:s}", "eventId", (json_int_t)event_id,
                           "subscriptionId", 2401, "portalId", 62515, "appId", 54321, "occurredAt",
                           (json_int_t)occurred_ms, "subscriptionType", type, "attemptNumber", 0, "objectId",
                           (json_int_t)object_id, "changeSource", "CRM", "changeFlag",
                           property != NULL ? "UPDATED" : "NEW");
    if (property != NULL) {
        json_object_set_new(ev, "propertyName", json_string(property));
        json_object_set_new(ev, "propertyValue", str_or_null(value));
    }
    return ev;
}

json_int_t sy_itr_hubspot_post(sy_it_t *h, const char *source, const char *secret, json_t *events)
{
    char url[128], path[96];
    sy_it_headers_t hd = {0};
    sy_it_response_t res;
    json_t *arr = json_is_array(events) ? events : json_pack("[o]", events), *answers;
    json_t *e;
    size_t i;
    sy_it_own_json(h, arr);
    char *body = sy_it_own(h, json_dumps(arr, JSON_COMPACT), free);
    json_int_t seq;

    snprintf(path, sizeof(path), "/hooks/%s", source);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", h->ingress_port, path);
    sy_it_sign_hubspot(&hd, secret, url, body, strlen(body), sy_now_ms());
    sy_it_post(h, path, &hd, body, strlen(body), &res);
    sy_it_headers_dispose(&hd);
    seq = sy_it_assert_stored(&res, 0);
    answers = json_object_get(res.json, "events");
    if (json_array_size(answers) != json_array_size(arr)) {
        sy_it_dump_response("HubSpot batch", &res);
        fail_msg("expected %zu entries in \"events\"", json_array_size(arr));
    }
    json_array_foreach(answers, i, e)
    {
        if (!json_is_false(json_object_get(e, "duplicate"))) {
            sy_it_dump_response("HubSpot batch", &res);
            fail_msg("events[%zu] was not stored as a new event", i);
        }
    }
    sy_it_response_dispose(&res);
    sy_it_release(h, body);
    sy_it_release(h, arr);
    return seq;
}

json_int_t sy_itr_hs_change(sy_it_t *h, long long event_id, long long object_id, int64_t occurred_ms,
                            const char *property, const char *value)
{
    return sy_itr_hubspot_post(
        h, "hubspot", SY_IT_HUBSPOT_SECRET,
        sy_itr_hs_event(event_id, "contact.propertyChange", object_id, occurred_ms, property, value));
}

/* ---- applier and admin ----------------------------------------------------------------------------------- */

json_t *sy_itr_status(sy_it_t *h)
{
    char auth[128];
    sy_it_response_t res;
    json_t *doc;
    snprintf(auth, sizeof(auth), "Bearer %s", h->admin_token);
    sy_it_admin_get(h, "/admin/api/status", auth, &res);
    if (res.status != 200 || !json_is_object(res.json)) {
        sy_it_dump_response("status", &res);
        fail_msg("GET /admin/api/status: expected 200 with a JSON object");
    }
    doc = json_incref(res.json);
    sy_it_response_dispose(&res);
    return sy_it_own_json(h, doc);
}

json_t *sy_itr_wait_applied(sy_it_t *h)
{
    double deadline = (double)sy_mono_ns() / 1e9 + SY_ITR_APPLY_TIMEOUT_S;
    for (;;) {
        json_t *st = sy_itr_status(h), *applier = json_object_get(st, "applier");
        json_int_t last = json_integer_value(json_object_get(json_object_get(st, "log"), "last_seq"));
        if (!json_is_true(json_object_get(applier, "enabled")))
            fail_msg("the applier is not enabled: %s", sy_itr_text(h, st));
        if (json_integer_value(json_object_get(applier, "cursor")) == last)
            return st;
        if ((double)sy_mono_ns() / 1e9 > deadline)
            fail_msg("the applier did not catch up within %.0f s: %s", SY_ITR_APPLY_TIMEOUT_S, sy_itr_text(h, st));
        sy_it_release(h, st);
        nap_ms(10);
    }
}

void sy_itr_admin_post(sy_it_t *h, const char *path, sy_it_response_t *res)
{
    sy_itr_admin_post_body(h, path, NULL, res);
}

void sy_itr_admin_post_body(sy_it_t *h, const char *path, const char *body, sy_it_response_t *res)
{
    char auth[128];
    sy_it_headers_t hd = {0};
    int rc;
    snprintf(auth, sizeof(auth), "Bearer %s", h->admin_token);
    sy_it_headers_add(&hd, "Authorization", auth);
    rc = sy_it_request(h, h->admin_port, "POST", path, &hd, body, body != NULL ? strlen(body) : 0, res);
    sy_it_headers_dispose(&hd);
    if (rc != 0)
        fail_msg("POST 127.0.0.1:%u%s failed (curl %d)", h->admin_port, path, rc);
}

/* ---- CLI ------------------------------------------------------------------------------------------------- */

static void cli_args(sy_it_t *h, sy_it_output_t *o, const char **argv)
{
    size_t n = 0;
    while (argv[n] != NULL)
        ++n;
    assert_true(n + 3 <= MAX_ARGS);
    argv[n++] = "--config";
    argv[n++] = h->config_path;
    argv[n] = NULL;
    sy_it_run(h, argv, o);
}

char *sy_itr_cli_ok(sy_it_t *h, int status, ...)
{
    const char *argv[MAX_ARGS];
    size_t n = 0;
    sy_it_output_t o;
    va_list ap;
    va_start(ap, status);
    while ((argv[n] = va_arg(ap, const char *)) != NULL) {
        assert_true(n + 4 < MAX_ARGS);
        ++n;
    }
    va_end(ap);
    cli_args(h, &o, argv);
    if (o.status != status)
        fail_msg("CLI %s %s: exit %d (expected %d)\nstdout: %s\nstderr: %s", argv[0], argv[1] != NULL ? argv[1] : "",
                 o.status, status, o.out, o.err);
    sy_it_release(h, o.err);
    return o.out;
}

json_t *sy_itr_record(sy_it_t *h, const char *query)
{
    const char *argv[MAX_ARGS] = {"records", "get", query, "--json", NULL};
    sy_it_output_t o;
    json_error_t jerr;
    json_t *rec;
    cli_args(h, &o, argv);
    if (o.status == 1) {
        sy_it_output_dispose(&o);
        return NULL;
    }
    if (o.status != 0 || (rec = json_loadb(o.out, o.out_len, 0, &jerr)) == NULL)
        fail_msg("records get %s --json: exit %d\nstdout: %s\nstderr: %s", query, o.status, o.out, o.err);
    sy_it_output_dispose(&o);
    return sy_it_own_json(h, rec);
}

/* One JSON document per line of the CLI's stdout, as an array. */
static json_t *cli_lines(sy_it_t *h, const char *group, const char *verb)
{
    const char *argv[MAX_ARGS] = {group, verb, "--json", NULL};
    sy_it_output_t o;
    json_t *arr = sy_it_own_json(h, json_array());
    cli_args(h, &o, argv);
    if (o.status != 0)
        fail_msg("%s %s --json: exit %d\nstderr: %s", group, verb, o.status, o.err);
    for (size_t off = 0; off < o.out_len;) {
        json_error_t jerr;
        json_t *doc;
        if (o.out[off] == '\n' || o.out[off] == ' ') {
            ++off;
            continue;
        }
        if ((doc = json_loadb(o.out + off, o.out_len - off, JSON_DISABLE_EOF_CHECK, &jerr)) == NULL)
            fail_msg("%s %s --json: output is not JSON lines (%s at byte %zu): %s", group, verb, jerr.text, off, o.out);
        json_array_append_new(arr, doc);
        off += (size_t)jerr.position;
    }
    sy_it_output_dispose(&o);
    return arr;
}

json_t *sy_itr_records(sy_it_t *h)
{
    return cli_lines(h, "records", "list");
}

json_t *sy_itr_queue(sy_it_t *h)
{
    return cli_lines(h, "queue", "ls");
}

json_t *sy_itr_health(sy_it_t *h)
{
    return sy_it_cli_json(h, "health", "--json", NULL);
}

json_int_t sy_itr_counter(json_t *health, const char *name)
{
    return json_integer_value(json_object_get(json_object_get(health, "counters"), name));
}

/* ---- reading documents ----------------------------------------------------------------------------------- */

const char *sy_itr_field(json_t *rec, const char *field, const char *key)
{
    return json_string_value(json_object_get(json_object_get(json_object_get(rec, "fields"), field), key));
}

json_int_t sy_itr_field_int(json_t *rec, const char *field, const char *key)
{
    json_t *v = json_object_get(json_object_get(json_object_get(rec, "fields"), field), key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

const char *sy_itr_id(json_t *doc)
{
    const char *id = json_string_value(json_object_get(doc, "id"));
    return id != NULL ? id : "";
}

static int str_is(json_t *doc, const char *key, const char *want)
{
    const char *s = json_string_value(json_object_get(doc, key));
    return s != NULL && strcmp(s, want) == 0;
}

size_t sy_itr_pushes(json_t *queue, const char *spoke, const char *record, json_t **first)
{
    size_t i, n = 0;
    json_t *p;
    if (first != NULL)
        *first = NULL;
    json_array_foreach(queue, i, p)
    {
        if (!str_is(p, "spoke", spoke) || (record != NULL && !str_is(p, "record", record)))
            continue;
        if (n++ == 0 && first != NULL)
            *first = p;
    }
    return n;
}

void sy_itr_assert_coalesced(json_t *queue)
{
    size_t i, j;
    json_t *a, *b;
    json_array_foreach(queue, i, a)
    {
        for (j = i + 1; j < json_array_size(queue); ++j) {
            b = json_array_get(queue, j);
            if (json_equal(json_object_get(a, "spoke"), json_object_get(b, "spoke")) &&
                json_equal(json_object_get(a, "record"), json_object_get(b, "record")))
                fail_msg("two queued pushes for spoke %s, record %s (ids %s and %s)",
                         json_string_value(json_object_get(a, "spoke")), json_string_value(json_object_get(a, "record")),
                         sy_itr_id(a), sy_itr_id(b));
        }
    }
}

size_t sy_itr_count_str(json_t *arr, const char *s)
{
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(arr, i, v) n += json_is_string(v) && strcmp(json_string_value(v), s) == 0;
    return n;
}

const char *sy_itr_text(sy_it_t *h, json_t *doc)
{
    char *s = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("(null)");
    return sy_it_own(h, s, free);
}

/* Removes the wall-clock keys from doc, at every depth. */
static void strip_wall_clock(json_t *doc)
{
    static const char *const wall[] = {"created_at_ms", "updated_at_ms", "enqueued_at_ms", "due_at_ms", "merged_at_ms",
                                       "at_ms"};
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_object(doc)) {
        for (i = 0; i != SY_ARRAY_SIZE(wall); ++i)
            json_object_del(doc, wall[i]);
        json_object_foreach(doc, key, v) strip_wall_clock(v);
    } else if (json_is_array(doc)) {
        json_array_foreach(doc, i, v) strip_wall_clock(v);
    }
}

json_t *sy_itr_stable(const json_t *doc)
{
    json_t *copy = json_deep_copy(doc);
    strip_wall_clock(copy);
    return copy;
}

json_t *sy_itr_records_stable(sy_it_t *h)
{
    json_t *recs = sy_itr_records(h), *out = sy_it_own_json(h, json_array()), *v;
    size_t i;
    json_array_foreach(recs, i, v) json_array_append_new(out, sy_itr_stable(v));
    return out;
}
