/*
 * Harness, HTTP side: libcurl requests to the server, signing through the connectors, event bodies and
 * the assertions shared by the tests.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "connector.h"

typedef struct st_body_buf_t {
    char *base;
    size_t len, cap;
} body_buf_t;

void sy_it_headers_add(sy_it_headers_t *hd, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    assert_true(hd->count < SY_IT_MAX_HEADERS && n <= sizeof(hd->buf) - hd->used);
    hd->lines[hd->count] = hd->buf + hd->used;
    snprintf(hd->lines[hd->count], n, "%s: %s", name, value);
    hd->used += n;
    ++hd->count;
}

void sy_it_headers_dispose(sy_it_headers_t *hd)
{
    hd->count = hd->used = 0;
}

void sy_it_response_dispose(sy_it_response_t *res)
{
    if (res->owner != NULL) {
        sy_it_release(res->owner, res->body);
        sy_it_release(res->owner, res->json);
    }
    *res = (sy_it_response_t){0};
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    body_buf_t *b = userdata;
    size_t n = size * nmemb;
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap == 0 ? 1024 : b->cap;
        while (cap - b->len < n + 1)
            cap *= 2;
        char *p = realloc(b->base, cap);
        if (p == NULL)
            return 0;
        b->base = p;
        b->cap = cap;
    }
    memcpy(b->base + b->len, ptr, n);
    b->len += n;
    b->base[b->len] = '\0';
    return n;
}

/* Copies the value of "Name: value\r\n" into out if line's name is name. */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name), vlen;
    if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0)
        return;
    line += nlen + 1;
    len -= nlen + 1;
    while (len != 0 && (*line == ' ' || *line == '\t'))
        ++line, --len;
    while (len != 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
        --len;
    vlen = len < outlen - 1 ? len : outlen - 1;
    memcpy(out, line, vlen);
    out[vlen] = '\0';
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    sy_it_response_t *res = userdata;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) { /* a new response (e.g. after 100 Continue): forget the old */
        res->retry_after[0] = res->allow[0] = res->content_type[0] = '\0';
        return n;
    }
    header_value(ptr, n, "Retry-After", res->retry_after, sizeof(res->retry_after));
    header_value(ptr, n, "Allow", res->allow, sizeof(res->allow));
    header_value(ptr, n, "Content-Type", res->content_type, sizeof(res->content_type));
    return n;
}

int sy_it_request(sy_it_t *h, unsigned short port, const char *method, const char *path, const sy_it_headers_t *hd,
                  const void *body, size_t len, sy_it_response_t *res)
{
    struct curl_slist *list = NULL;
    body_buf_t buf = {NULL};
    char url[256];
    CURLcode rc;
    CURL *c;

    *res = (sy_it_response_t){0};
    if (h->curl == NULL && (h->curl = curl_easy_init()) == NULL)
        return CURLE_FAILED_INIT;
    c = h->curl;
    curl_easy_reset(c); /* keeps the connection cache */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* never through a proxy from the environment */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, res);
    if (strcmp(method, "GET") == 0 && body == NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        if (body != NULL || strcmp(method, "POST") == 0) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        }
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        list = curl_slist_append(list, "Content-Type: application/json");
    }
    list = curl_slist_append(list, "Expect:");
    for (size_t i = 0; hd != NULL && i != hd->count; ++i)
        list = curl_slist_append(list, hd->lines[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);

    if ((rc = curl_easy_perform(c)) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
        if (buf.base == NULL) {
            buf.base = calloc(1, 1);
            assert_non_null(buf.base);
        }
        res->owner = h;
        res->body = sy_it_own(h, buf.base, free);
        res->body_len = buf.len;
        if ((res->json = json_loadb(res->body, res->body_len, 0, NULL)) != NULL)
            sy_it_own_json(h, res->json);
    } else {
        free(buf.base);
        res->status = 0;
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(list);
    return (int)rc;
}

void sy_it_post(sy_it_t *h, const char *path, const sy_it_headers_t *hd, const void *body, size_t len, sy_it_response_t *res)
{
    int rc = sy_it_request(h, h->ingress_port, "POST", path, hd, body, len, res);
    if (rc != 0)
        fail_msg("POST 127.0.0.1:%u%s failed: %s", h->ingress_port, path, curl_easy_strerror((CURLcode)rc));
}

void sy_it_admin_get(sy_it_t *h, const char *path, const char *auth, sy_it_response_t *res)
{
    sy_it_headers_t hd = {0};
    int rc;
    if (auth != NULL)
        sy_it_headers_add(&hd, "Authorization", auth);
    rc = sy_it_request(h, h->admin_port, "GET", path, &hd, NULL, 0, res);
    sy_it_headers_dispose(&hd);
    if (rc != 0)
        fail_msg("GET 127.0.0.1:%u%s failed: %s", h->admin_port, path, curl_easy_strerror((CURLcode)rc));
}

static void sign_with(const char *connector, sy_it_headers_t *hd, const sy_source_verify_t *conf, const char *secret,
                      const char *url, const void *body, size_t len, int64_t now_ms)
{
    const sy_connector_t *c = sy_connector_find(connector);
    sy_header_t out[8];
    size_t num = SY_ARRAY_SIZE(out);
    char buf[2048], name[256], value[1024];
    sy_request_view_t req = {
        .method = SY_SLICE_LIT("POST"), .url = sy_slice_cstr(url), .body = {body != NULL ? body : "", len}, .now_ms = now_ms};
    int rc;

    if (c == NULL || c->sign == NULL)
        fail_msg("connector %s has no sign function", connector);
    if ((rc = c->sign(conf, sy_slice_cstr(secret), &req, out, &num, buf, sizeof(buf))) != 0)
        fail_msg("%s sign failed: %s", connector, sy_strerror(rc));
    for (size_t i = 0; i != num; ++i) {
        assert_true(out[i].name.len < sizeof(name) && out[i].value.len < sizeof(value));
        memcpy(name, out[i].name.base, out[i].name.len);
        name[out[i].name.len] = '\0';
        memcpy(value, out[i].value.base, out[i].value.len);
        value[out[i].value.len] = '\0';
        sy_it_headers_add(hd, name, value);
    }
}

void sy_it_sign_stripe(sy_it_headers_t *hd, const char *secret, const void *body, size_t len, int64_t t_sec)
{
    sy_source_verify_t conf = {.num_secrets = 1, .tolerance_ms = 300000};
    conf.secrets[0] = sy_slice_cstr(secret);
    sign_with("stripe", hd, &conf, secret, "", body, len, t_sec * 1000);
}

void sy_it_sign_hubspot(sy_it_headers_t *hd, const char *secret, const char *url, const void *body, size_t len, int64_t ts_ms)
{
    sy_source_verify_t conf = {.num_secrets = 1, .tolerance_ms = 300000, .signature_version = 3};
    conf.secrets[0] = sy_slice_cstr(secret);
    sign_with("hubspot", hd, &conf, secret, url, body, len, ts_ms);
}

void sy_it_post_stripe(sy_it_t *h, const char *secret, const char *body, size_t len, sy_it_response_t *res)
{
    sy_it_headers_t hd = {0};
    sy_it_sign_stripe(&hd, secret, body, len, sy_now_ms() / 1000);
    sy_it_post(h, "/hooks/stripe", &hd, body, len, res);
    sy_it_headers_dispose(&hd);
}

char *sy_it_stripe_event(sy_it_t *h, const char *id, const char *type, int64_t created, size_t pad_to, size_t *len)
{
    static const char fmt[] = "{\"id\":\"%s\",\"object\":\"event\",\"api_version\":\"2024-06-20\",\"created\":%lld,"
                              "\"livemode\":false,\"type\":\"%s\",\"data\":{\"object\":{\"id\":\"cus_it_%s\","
                              "\"object\":\"customer\",\"email\":\"it@example.com\",\"description\":\"%s\"}},"
                              "\"request\":{\"id\":null,\"idempotency_key\":null}}";
    int natural = snprintf(NULL, 0, fmt, id, (long long)created, type, id, "");
    size_t pad = pad_to > (size_t)natural ? pad_to - (size_t)natural : 0, total = (size_t)natural + pad;
    char *padding = sy_it_alloc(h, pad + 1), *body = sy_it_alloc(h, total + 1);
    memset(padding, 'x', pad);
    padding[pad] = '\0';
    snprintf(body, total + 1, fmt, id, (long long)created, type, id, padding);
    sy_it_release(h, padding);
    assert_int_equal(strlen(body), total);
    *len = total;
    return body;
}

void sy_it_dump_response(const char *what, const sy_it_response_t *res)
{
    print_error("%s: HTTP %ld, Content-Type \"%s\", Retry-After \"%s\", Allow \"%s\", body (%zu bytes): %.2000s\n", what,
                res->status, res->content_type, res->retry_after, res->allow, res->body_len, res->body != NULL ? res->body : "");
}

void sy_it_assert_error(const sy_it_response_t *res, long status, const char *error)
{
    const char *got;
    if (res->status != status) {
        sy_it_dump_response("unexpected status", res);
        fail_msg("expected HTTP %ld, got %ld", status, res->status);
    }
    if (error == NULL)
        return;
    got = json_string_value(json_object_get(res->json, "error"));
    if (got == NULL || strcmp(got, error) != 0) {
        sy_it_dump_response("unexpected error body", res);
        fail_msg("expected {\"error\":\"%s\",...}", error);
    }
}

json_int_t sy_it_assert_stored(const sy_it_response_t *res, int dup)
{
    json_t *seq = json_object_get(res->json, "seq"), *d = json_object_get(res->json, "duplicate");
    if (res->status != 200 || !json_is_integer(seq) || json_integer_value(seq) <= 0 || !json_is_boolean(d) ||
        json_is_true(d) != dup) {
        sy_it_dump_response("not the expected acknowledgement", res);
        fail_msg("expected 200 {\"seq\":N>0,\"duplicate\":%s}", dup ? "true" : "false");
    }
    return json_integer_value(seq);
}
