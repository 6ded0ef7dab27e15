/*
 * Security habits on the real binary: TLS on the ingress with a self-signed certificate, secrets and the admin token
 * never in answers, logs, metrics or CLI output, and the data dir private to its owner.
 */
#include "harness.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "connector.h"

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    FILE *out = arg;
    fwrite(p, size, n, out);
    return size * n;
}

/* POSTs body signed for Stripe with secret to url over TLS, trusting ca; returns the status (0 on a transport
 * error), the answer in *answer (owned by the harness). */
static long post_tls(sy_it_t *h, const char *url, const char *ca, const char *secret, const char *body, char **answer)
{
    sy_header_t hdrs[4];
    size_t nh = 4;
    char buf[512], line[600];
    sy_request_view_t view = {.method = SY_SLICE_LIT("POST"), .url = sy_slice_cstr(url), .body = sy_slice_cstr(body),
                              .now_ms = sy_now_ms()};
    assert_int_equal(sy_connector_find("stripe")->sign(NULL, sy_slice_cstr(secret), &view, hdrs, &nh, buf, sizeof(buf)), 0);
    struct curl_slist *hl = NULL;
    for (size_t i = 0; i != nh; ++i) {
        snprintf(line, sizeof(line), "%.*s: %.*s", (int)hdrs[i].name.len, hdrs[i].name.base, (int)hdrs[i].value.len,
                 hdrs[i].value.base);
        hl = curl_slist_append(hl, line);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    fclose(out);
    *answer = sy_it_own(h, text, free);
    return status;
}

static char *slurp(sy_it_t *h, const char *path)
{
    char *text = sy_it_slurp(path, NULL);
    assert_non_null(text);
    return sy_it_own(h, text, free);
}

static void assert_no_secret(sy_it_t *h, const char *where, const char *text)
{
    const char *secrets[] = {SY_IT_STRIPE_SECRET_A, SY_IT_STRIPE_SECRET_B, SY_IT_HUBSPOT_SECRET, h->admin_token};
    for (size_t i = 0; i != sizeof(secrets) / sizeof(secrets[0]); ++i)
        if (strstr(text, secrets[i]) != NULL)
            fail_msg("%s contains a secret (%zu): %.300s", where, i, text);
}

static void test_tls_ingress_and_no_secret_anywhere(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    char cmd[2048], cert[600], key[600], url[128];
    snprintf(cert, sizeof(cert), "%s/cert.pem", h->dir);
    snprintf(key, sizeof(key), "%s/key.pem", h->dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             key, cert);
    if (system(cmd) != 0)
        fail_msg("openssl could not make a self-signed certificate (is the openssl package installed?)");
    /* TLS on the ingress listener (the admin listener stays plain for the harness's health polling). */
    char *conf = slurp(h, h->config_path), tls[1400];
    snprintf(tls, sizeof(tls), "http2: false, tls: {cert: %s, key: %s}}", cert, key);
    char *patched = strstr(conf, "http2: false}");
    assert_non_null(patched);
    size_t size = strlen(conf) + sizeof(tls);
    char *rewritten = sy_it_alloc(h, size);
    snprintf(rewritten, size, "%.*s%s%s", (int)(patched - conf), conf, tls, patched + strlen("http2: false}"));
    FILE *fp = fopen(h->config_path, "w");
    fputs(rewritten, fp);
    fclose(fp);
    sy_it_start(h);

    snprintf(url, sizeof(url), "https://127.0.0.1:%u/hooks/stripe", h->ingress_port);
    static const char event[] = "{\"id\":\"evt_tls_1\",\"object\":\"event\",\"type\":\"customer.updated\",\"created\":1700000000}";
    char *answer;
    assert_int_equal(post_tls(h, url, cert, SY_IT_STRIPE_SECRET_A, event, &answer), 200);
    assert_non_null(strstr(answer, "\"seq\":1"));
    /* A wrong secret: 401 that names the check and never a secret. */
    static const char event2[] = "{\"id\":\"evt_tls_2\",\"object\":\"event\",\"type\":\"customer.updated\",\"created\":1700000000}";
    assert_int_equal(post_tls(h, url, cert, "whsec_wrong", event2, &answer), 401);
    assert_non_null(strstr(answer, "\"check\":\"mismatch\""));
    assert_no_secret(h, "a 401 answer", answer);
    /* Plain HTTP to the TLS port is not an HTTP exchange at all; nothing is stored. */
    sy_it_response_t res;
    sy_it_request(h, h->ingress_port, "POST", "/hooks/stripe", NULL, event2, sizeof(event2) - 1, &res);
    assert_int_not_equal(res.status, 200);
    sy_it_response_dispose(&res);
    assert_int_equal(sy_it_log_count(h), 1);

    /* Wrong admin tokens, then every place a secret could leak. */
    sy_it_admin_get(h, "/metrics", "Bearer not-the-token", &res);
    assert_int_equal(res.status, 401);
    assert_no_secret(h, "a 401 admin answer", res.body);
    sy_it_response_dispose(&res);
    char auth[128];
    snprintf(auth, sizeof(auth), "Bearer %s", h->admin_token);
    static const char *const pages[] = {"/metrics", "/admin/api/status"};
    for (size_t i = 0; i != 2; ++i) {
        sy_it_admin_get(h, pages[i], auth, &res);
        assert_int_equal(res.status, 200);
        assert_no_secret(h, pages[i], res.body);
        sy_it_response_dispose(&res);
    }
    sy_it_output_t out;
    sy_it_cli(h, &out, "config", "check", NULL);
    assert_int_equal(out.status, 0);
    assert_no_secret(h, "config check", out.out);
    assert_no_secret(h, "config check (stderr)", out.err);
    sy_it_output_dispose(&out);
    sy_it_cli(h, &out, "log", "show", "1", "--json", NULL);
    assert_no_secret(h, "log show", out.out);
    sy_it_output_dispose(&out);

    /* The data dir and the LMDB files belong to the hub's user alone. */
    struct stat st;
    assert_int_equal(stat(h->data_dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char file[700];
    snprintf(file, sizeof(file), "%s/data.mdb", h->data_dir);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);

    assert_int_equal(sy_it_stop(h), 0);
    assert_no_secret(h, "the server log", slurp(h, h->log_path));
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_tls_ingress_and_no_secret_anywhere, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
