/*
 * Admin listener and CLI on the real binary: /healthz, /metrics behind the bearer token with counters that
 * match what was sent, log stats/tail/show while serve runs, byte-exact raw bodies, file:line:column errors
 * and exit 2 for broken configs.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/* Does one label list `a="x",b="y"` hold exactly the wanted pairs (in any order)? */
static int labels_match(const char *l, size_t len, const char *const *want, size_t nwant)
{
    size_t found = 0, pairs = 0;
    while (len != 0) {
        size_t n = 0;
        int quoted = 0;
        while (n != len && (quoted || l[n] != ',')) {
            if (l[n] == '"' && (n == 0 || l[n - 1] != '\\'))
                quoted = !quoted;
            ++n;
        }
        if (n != 0) {
            ++pairs;
            for (size_t i = 0; i != nwant; ++i)
                if (strlen(want[i]) == n && memcmp(want[i], l, n) == 0)
                    ++found;
        }
        l += n;
        len -= n;
        if (len != 0)
            ++l, --len;
    }
    return pairs == nwant && found == nwant;
}

/* Value of the Prometheus sample name{l1,l2}, or -1 if there is none. */
static double metric(const char *text, const char *name, const char *l1, const char *l2)
{
    const char *want[] = {l1, l2};
    size_t nlen = strlen(name);
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n'), *brace, *close;
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        if (line[0] != '#' && len > nlen && memcmp(line, name, nlen) == 0 && line[nlen] == '{' &&
            (close = memchr(line, '}', len)) != NULL) {
            brace = line + nlen + 1;
            if (labels_match(brace, (size_t)(close - brace), want, 2))
                return strtod(close + 1, NULL);
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return -1;
}

static void test_health_and_metrics(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_it_response_t res;
    sy_it_headers_t hd = {0};
    char auth[128], id[32], *body;
    size_t len;
    struct {
        const char *name, *l1, *l2;
        double want;
    } expect[] = {
        {"switchyard_ingress_requests_total", "source=\"stripe\"", "status=\"200\"", 4},
        {"switchyard_ingress_requests_total", "source=\"stripe\"", "status=\"401\"", 3},
        {"switchyard_signature_failures_total", "source=\"stripe\"", "check=\"mismatch\"", 2},
        {"switchyard_signature_failures_total", "source=\"stripe\"", "check=\"missing_header\"", 1},
    };

    sy_it_start(h);
    sy_it_admin_get(h, "/healthz", NULL, &res);
    assert_int_equal(res.status, 200);
    sy_it_response_dispose(&res);

    /* 3 stored + 1 duplicate (all 200), 2 wrong secret and 1 unsigned (401) */
    for (int i = 0; i != 4; ++i) {
        snprintf(id, sizeof(id), "evt_metrics_%d", i < 3 ? i : 0);
        body = sy_it_stripe_event(h, id, "customer.updated", 1700000000, 0, &len);
        sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, body, len, &res);
        sy_it_assert_stored(&res, i == 3);
        sy_it_response_dispose(&res);
        if (i < 2) {
            sy_it_post_stripe(h, "whsec_wrong", body, len, &res);
            sy_it_assert_error(&res, 401, "signature_invalid");
            sy_it_response_dispose(&res);
        } else if (i == 2) {
            sy_it_post(h, "/hooks/stripe", &hd, body, len, &res);
            sy_it_assert_error(&res, 401, "signature_invalid");
            sy_it_response_dispose(&res);
        }
    }

    static const char *const bad_auth[] = {NULL, "Bearer wrong-token", "Bearer ", "Basic it-token", "bearer"};
    for (size_t i = 0; i != SY_ARRAY_SIZE(bad_auth); ++i) {
        sy_it_admin_get(h, "/metrics", bad_auth[i], &res);
        if (res.status != 401) {
            sy_it_dump_response("metrics with a bad token", &res);
            fail_msg("Authorization \"%s\": expected 401", bad_auth[i] != NULL ? bad_auth[i] : "(none)");
        }
        assert_null(strstr(res.body, h->admin_token));
        sy_it_response_dispose(&res);
    }
    snprintf(auth, sizeof(auth), "Bearer %s", h->admin_token);
    { /* a prefix of the real token is wrong too */
        char prefix[128];
        snprintf(prefix, sizeof(prefix), "Bearer %.*s", (int)strlen(h->admin_token) - 1, h->admin_token);
        sy_it_admin_get(h, "/metrics", prefix, &res);
        assert_int_equal(res.status, 401);
        sy_it_response_dispose(&res);
    }

    /* the counters may be bumped just after the answer left: poll (bounded) until they settle, then assert */
    for (int tries = 0;; ++tries) {
        int ok = 1;
        sy_it_admin_get(h, "/metrics", auth, &res);
        assert_int_equal(res.status, 200);
        if (strncmp(res.content_type, "text/plain", 10) != 0)
            fail_msg("/metrics Content-Type \"%s\", expected text/plain (Prometheus text format)", res.content_type);
        for (size_t i = 0; i != SY_ARRAY_SIZE(expect); ++i)
            ok &= metric(res.body, expect[i].name, expect[i].l1, expect[i].l2) == expect[i].want;
        if (ok)
            break;
        if (tries == 100) {
            print_error("/metrics:\n%s\n", res.body);
            for (size_t i = 0; i != SY_ARRAY_SIZE(expect); ++i)
                print_error("%s{%s,%s}: want %g, got %g\n", expect[i].name, expect[i].l1, expect[i].l2, expect[i].want,
                            metric(res.body, expect[i].name, expect[i].l1, expect[i].l2));
            sy_it_response_dispose(&res);
            fail_msg("metrics do not match the requests sent");
        }
        sy_it_response_dispose(&res);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_null(strstr(res.body, SY_IT_STRIPE_SECRET_A));
    sy_it_response_dispose(&res);
    sy_it_pass(h);
}

/* log stats / tail / show while serve runs, and a raw body that must come back byte for byte. */
static void test_cli_while_serving(void **state)
{
    static const char raw[] = "\t{ \"id\" :\t\"evt_raw_1\" ,\r\n  \"object\":\"event\",\"type\" : \"customer.updated\",\n"
                              "\"created\":1700000123, \"data\":{\"object\":{\"name\":\"J\\u00f6rg \\ud83d\\ude00 "
                              "\\\"q\\\" \\\\ \\/\",\"utf8\":\"J\xc3\xb6rg \xf0\x9f\x98\x80\",\"n\": 1.50e+2, "
                              "\"empty\" : { } , \"arr\":[ 1 ,2 ] }},\"request\":{\"id\":null}}  \n\n";
    sy_it_t *h = sy_it_create(state, NULL);
    sy_it_response_t res;
    sy_it_output_t o;
    json_int_t seq[3];
    json_t *j, *sent;
    char id[32], s[32], *body;
    size_t len;
    int64_t before = sy_now_ms(), after;

    sy_it_start(h);
    for (int i = 0; i != 2; ++i) {
        snprintf(id, sizeof(id), "evt_cli_%d", i);
        body = sy_it_stripe_event(h, id, i ? "invoice.paid" : "customer.created", 1700000000 + i, 0, &len);
        sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, body, len, &res);
        seq[i] = sy_it_assert_stored(&res, 0);
        sy_it_response_dispose(&res);
    }
    sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_B, raw, sizeof(raw) - 1, &res);
    seq[2] = sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);
    after = sy_now_ms();

    j = sy_it_cli_json(h, "log", "stats", "--json", NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "events")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "last_seq")), seq[2]);
    assert_true(json_integer_value(json_object_get(j, "size_bytes")) > 0);
    json_t *types = json_object_get(json_object_get(json_object_get(j, "by_source"), "stripe"), "types");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(j, "by_source"), "stripe"), "events")), 3);
    assert_int_equal(json_integer_value(json_object_get(types, "customer.created")), 1);
    assert_int_equal(json_integer_value(json_object_get(types, "invoice.paid")), 1);
    assert_int_equal(json_integer_value(json_object_get(types, "customer.updated")), 1);

    /* show --json: every field */
    j = sy_it_log_show(h, seq[2]);
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), seq[2]);
    assert_string_equal(json_string_value(json_object_get(j, "source")), "stripe");
    assert_string_equal(json_string_value(json_object_get(j, "event_id")), "evt_raw_1");
    assert_string_equal(json_string_value(json_object_get(j, "type")), "customer.updated");
    assert_int_equal(json_integer_value(json_object_get(j, "occurred_at_ms")), 1700000123000LL);
    assert_true(json_integer_value(json_object_get(j, "received_at_ms")) >= before - 1000);
    assert_true(json_integer_value(json_object_get(j, "received_at_ms")) <= after + 1000);
    sent = sy_it_own_json(h, json_loadb(raw, sizeof(raw) - 1, 0, NULL));
    assert_true(json_equal(sent, json_object_get(j, "body")));

    /* show --raw: byte for byte */
    snprintf(s, sizeof(s), "%lld", (long long)seq[2]);
    sy_it_cli(h, &o, "log", "show", s, "--raw", NULL);
    assert_int_equal(o.status, 0);
    if (o.out_len != sizeof(raw) - 1 || memcmp(o.out, raw, sizeof(raw) - 1) != 0) {
        print_error("got %zu bytes:\n[%s]\nsent %zu bytes:\n[%s]\n", o.out_len, o.out, sizeof(raw) - 1, raw);
        sy_it_output_dispose(&o);
        fail_msg("log show --raw does not return the body exactly");
    }
    sy_it_output_dispose(&o);

    /* tail -n 2 --json: the last two, one object per line (either order) */
    sy_it_cli(h, &o, "log", "tail", "-n", "2", "--json", NULL);
    assert_int_equal(o.status, 0);
    {
        char *nl = strchr(o.out, '\n');
        json_t *l1 = NULL, *l2 = NULL;
        if (nl != NULL) {
            if ((l1 = json_loadb(o.out, (size_t)(nl - o.out), 0, NULL)) != NULL)
                sy_it_own_json(h, l1);
            if ((l2 = json_loads(nl + 1, 0, NULL)) != NULL)
                sy_it_own_json(h, l2);
        }
        if (l1 == NULL || l2 == NULL)
            fail_msg("log tail -n 2 --json: expected two JSON lines, got:\n%s", o.out);
        if (json_integer_value(json_object_get(l1, "seq")) == seq[2]) { /* newest first: fine too */
            json_t *t = l1;
            l1 = l2;
            l2 = t;
        }
        assert_int_equal(json_integer_value(json_object_get(l1, "seq")), seq[1]);
        assert_string_equal(json_string_value(json_object_get(l1, "event_id")), "evt_cli_1");
        assert_string_equal(json_string_value(json_object_get(l1, "type")), "invoice.paid");
        assert_string_equal(json_string_value(json_object_get(json_object_get(l1, "body"), "id")), "evt_cli_1");
        assert_int_equal(json_integer_value(json_object_get(l2, "seq")), seq[2]);
        assert_string_equal(json_string_value(json_object_get(l2, "event_id")), "evt_raw_1");
    }
    sy_it_output_dispose(&o);

    /* an unknown seq: exit 1 with a message */
    static const char *const fmt[] = {"--json", "--raw"};
    for (size_t i = 0; i != SY_ARRAY_SIZE(fmt); ++i) {
        sy_it_cli(h, &o, "log", "show", "999999", fmt[i], NULL);
        if (o.status != 1 || o.err[0] == '\0')
            fail_msg("log show 999999 %s: expected exit 1 and a message, got %d, stderr \"%s\"", fmt[i], o.status, o.err);
        sy_it_output_dispose(&o);
    }

    /* --data-dir instead of --config */
    {
        const char *argv[] = {"log", "stats", "--json", "--data-dir", h->data_dir, NULL};
        sy_it_run(h, argv, &o);
        assert_int_equal(o.status, 0);
        j = sy_it_own_json(h, json_loadb(o.out, o.out_len, 0, NULL));
        assert_int_equal(json_integer_value(json_object_get(j, "events")), 3);
        sy_it_output_dispose(&o);
    }

    assert_int_equal(sy_it_stop(h), 0);
    sy_it_pass(h);
}

/* Writes a variant of the good config (replace `from` by `to`, or append `to` if from is NULL). */
static char *bad_config(sy_it_t *h, const char *name, const char *from, const char *to, unsigned *line)
{
    size_t len = 0;
    FILE *fp = fopen(h->config_path, "rb");
    char good[8192], text[8192 + 256], *at, *path;
    assert_non_null(fp);
    len = fread(good, 1, sizeof(good) - 1, fp);
    fclose(fp);
    good[len] = '\0';
    if (from == NULL) {
        snprintf(text, sizeof(text), "%s%s", good, to);
        at = text + len;
    } else {
        assert_non_null(at = strstr(good, from));
        snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
        at = text + (at - good);
    }
    *line = 1;
    for (const char *p = text; p != at; ++p)
        *line += *p == '\n';
    path = sy_it_write_file(h, name, text, strlen(text));
    return path;
}

static void test_broken_config(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    struct {
        const char *name, *from, *to;
        unsigned line_offset, column; /* where the error is: first line of `to` + offset; column 0 = don't check */
    } cases[] = {
        {"unknown-top.yaml", NULL, "bogus_key: 1\n", 0, 1},
        {"unknown-nested.yaml", "    tolerance: 300s\n", "    tolerance: 300s\n    tolerence: 5s\n", 1, 5},
        {"bad-value.yaml", "threads: 2,", "threads: two,", 0, 0},
        {"bad-syntax.yaml", NULL, "extra: [unclosed\n", 0, 0},
        {"bad-secret.yaml", "    secrets: [{value: hs-secret}]\n", "    secrets: [{nope: hs-secret}]\n", 0, 0},
    };

    for (size_t i = 0; i != SY_ARRAY_SIZE(cases); ++i) {
        unsigned line;
        char *path = bad_config(h, cases[i].name, cases[i].from, cases[i].to, &line), want[SY_IT_PATH_MAX + 64];
        const char *serve[] = {"serve", "--config", path, NULL};
        const char *stats[] = {"log", "stats", "--json", "--config", path, NULL};
        const char *const *argvs[] = {serve, stats};
        line += cases[i].line_offset;
        for (size_t k = 0; k != 2; ++k) {
            sy_it_output_t o;
            const char *at;
            sy_it_run(h, argvs[k], &o);
            print_message("%s %s: exit %d, stderr: %s", argvs[k][0], cases[i].name, o.status, o.err);
            if (o.status != 2)
                fail_msg("%s with %s: expected exit 2, got %d", argvs[k][0], cases[i].name, o.status);
            snprintf(want, sizeof(want), "%s:%u:", path, line);
            if (cases[i].from == NULL && cases[i].column == 0) /* a syntax error may be reported at the end */
                snprintf(want, sizeof(want), "%s:", path);
            if ((at = strstr(o.err, want)) == NULL)
                fail_msg("%s: stderr should contain \"%s<column>: message\", got: %s", cases[i].name, want, o.err);
            at += strlen(want);
            if (cases[i].from == NULL && cases[i].column == 0) { /* skip line */
                assert_true(*at >= '1' && *at <= '9');
                at = strchr(at, ':') + 1;
            }
            char *end;
            unsigned long col = strtoul(at, &end, 10);
            if (end == at || end[0] != ':' || end[1] != ' ' || col == 0 || (cases[i].column != 0 && col != cases[i].column))
                fail_msg("%s: bad location after \"%s\" in: %s", cases[i].name, want, o.err);
            sy_it_output_dispose(&o);
        }
    }
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_health_and_metrics, teardown),
        cmocka_unit_test_teardown(test_cli_while_serving, teardown),
        cmocka_unit_test_teardown(test_broken_config, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
