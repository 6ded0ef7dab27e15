/*
 * The fake spokes themselves ($SY_FAKE = sy_fake_spoke): Stripe customers create/update/list with Idempotency-Key
 * replays and idempotency_error, HubSpot contacts PATCH, batch update, upsert (new/existing) and the 409 on create,
 * the sliding-window rate limit (exact 429 count, headers, max_in_window), every fault mode (500, 400, reset →
 * transport error, hang → client timeout, slow, counted and timed modes), seeding, reset and the state file.
 *
 * Each test starts its own fake on 127.0.0.1 port 0 (the fake prints the port it got) and stops it with SIGTERM.
 * Nothing asserts speed: timeouts are generous, and "slow" is only checked as a lower bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define TOKEN "sk_test_fake"
#define WAIT_MS 10000 /* bound on the fake's start and stop */

typedef struct st_fake_t {
    pid_t pid;
    unsigned short port;
    CURL *curl;
    char state_file[128];
} fake_t;

typedef struct st_resp_t {
    CURLcode rc;
    long status;
    char *body;
    size_t len;
    char headers[4096]; /* "name: value\r\n" lines as received */
    size_t hlen;
    json_t *json; /* body parsed, or NULL */
    long elapsed_ms;
} resp_t;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- the fake's process ---- */

static void fake_start(fake_t *f, const char *api, const char *extra1, const char *extra2)
{
    const char *bin = getenv("SY_FAKE");
    int out[2];
    char line[128];
    size_t n = 0;
    long deadline = now_ms() + WAIT_MS;

    if (bin == NULL || bin[0] == '\0')
        fail_msg("SY_FAKE is not set (ctest sets it to the sy_fake_spoke binary)");
    assert_int_equal(pipe(out), 0);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        const char *argv[16] = {bin, "--api", api, "--listen", "127.0.0.1:0", "--token", TOKEN};
        size_t argc = 7;
        if (f->state_file[0] != '\0') {
            argv[argc++] = "--state-file";
            argv[argc++] = f->state_file;
        }
        if (extra1 != NULL)
            argv[argc++] = extra1;
        if (extra2 != NULL)
            argv[argc++] = extra2;
        argv[argc] = NULL;
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    /* Wait (bounded) for "listening on PORT\n". */
    while (n < sizeof(line) - 1 && (n == 0 || line[n - 1] != '\n')) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        long left = deadline - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = read(out[0], line + n, 1);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    line[n] = '\0';
    close(out[0]);
    unsigned port = 0;
    if (sscanf(line, "listening on %u", &port) != 1 || port == 0 || port > 65535)
        fail_msg("the fake did not start (printed \"%s\")", line);
    f->port = (unsigned short)port;
    f->curl = curl_easy_init();
    assert_non_null(f->curl);
}

/* SIGTERM and a bounded wait; returns the exit status (128 + signal if killed). */
static int fake_stop(fake_t *f)
{
    int status = 0;
    long deadline = now_ms() + WAIT_MS;
    if (f->curl != NULL) {
        curl_easy_cleanup(f->curl);
        f->curl = NULL;
    }
    if (f->pid <= 0)
        return -1;
    kill(f->pid, SIGTERM);
    for (;;) {
        pid_t r = waitpid(f->pid, &status, WNOHANG);
        if (r == f->pid)
            break;
        if (r < 0 || now_ms() > deadline) {
            kill(f->pid, SIGKILL);
            waitpid(f->pid, &status, 0);
            f->pid = 0;
            return -1;
        }
        usleep(10000);
    }
    f->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int setup_stripe(void **state)
{
    fake_t *f = calloc(1, sizeof(*f));
    *state = f;
    fake_start(f, "stripe", NULL, NULL);
    return 0;
}

static int setup_hubspot(void **state)
{
    fake_t *f = calloc(1, sizeof(*f));
    *state = f;
    fake_start(f, "hubspot", NULL, NULL);
    return 0;
}

static int setup_hubspot_rate(void **state)
{
    fake_t *f = calloc(1, sizeof(*f));
    *state = f;
    fake_start(f, "hubspot", "--rate", "10/60000");
    return 0;
}

/* Stops the fake; fails the test unless it exits 0 (a sanitizer report in the fake makes the exit status non-zero). */
static int teardown(void **state)
{
    fake_t *f = *state;
    int rc = 0;
    if (f != NULL) {
        int was_running = f->pid > 0, status = fake_stop(f);
        if (was_running && status != 0) {
            fprintf(stderr, "sy_fake_spoke exited with status %d\n", status);
            rc = -1;
        }
        if (f->state_file[0] != '\0')
            unlink(f->state_file);
        free(f);
    }
    *state = NULL;
    return rc;
}

/* ---- HTTP ---- */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    resp_t *r = arg;
    char *nb = realloc(r->body, r->len + size * n + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + r->len, data, size * n);
    r->body = nb;
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    resp_t *r = arg;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
        r->hlen = 0; /* a new response (after 100 Continue): keep only the last one's headers */
    if (r->hlen + len < sizeof(r->headers)) {
        memcpy(r->headers + r->hlen, data, len);
        r->hlen += len;
        r->headers[r->hlen] = '\0';
    }
    return len;
}

static void resp_dispose(resp_t *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

/* The value of header name (case-insensitive) into buf, or NULL if absent. */
static const char *header(const resp_t *r, const char *name, char *buf, size_t len)
{
    size_t nlen = strlen(name);
    for (const char *l = r->headers; *l != '\0';) {
        const char *end = strstr(l, "\r\n");
        size_t llen = end != NULL ? (size_t)(end - l) : strlen(l);
        if (llen > nlen && strncasecmp(l, name, nlen) == 0 && l[nlen] == ':') {
            const char *v = l + nlen + 1;
            while (*v == ' ')
                ++v;
            snprintf(buf, len, "%.*s", (int)(llen - (size_t)(v - l)), v);
            return buf;
        }
        if (end == NULL)
            break;
        l = end + 2;
    }
    return NULL;
}

static long header_long(const resp_t *r, const char *name)
{
    char buf[64];
    if (header(r, name, buf, sizeof(buf)) == NULL)
        fail_msg("no %s header in:\n%s", name, r->headers);
    return strtol(buf, NULL, 10);
}

/*
 * Sends method path (with body if non-NULL) to the fake. auth: the Authorization value, or NULL for none.
 * idem: Idempotency-Key or NULL. timeout_ms: 0 for the default (30 s); a negative value means the same on a new
 * connection (libcurl silently resends a request once when a reused connection dies before any answer, which
 * would hide a reset). Fills r; r->rc says whether it worked.
 */
static void request(fake_t *f, const char *method, const char *path, const char *auth, const char *idem, const char *body,
                    long timeout_ms, resp_t *r)
{
    char url[512], hdr[512];
    struct curl_slist *list = NULL;
    CURL *c = f->curl;
    long t0 = now_ms();

    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", f->port, path);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    if (timeout_ms < 0) {
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        timeout_ms = -timeout_ms;
    }
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms != 0 ? timeout_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    list = curl_slist_append(list, "Expect:");
    if (auth != NULL) {
        snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
        list = curl_slist_append(list, hdr);
    }
    if (idem != NULL) {
        snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", idem);
        list = curl_slist_append(list, hdr);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    r->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(list);
    r->elapsed_ms = now_ms() - t0;
    if (r->body != NULL)
        r->json = json_loadb(r->body, r->len, 0, NULL);
}

/* A request that must work and answer status with a JSON body; returns the body (owned by r). */
static json_t *expect(fake_t *f, const char *method, const char *path, const char *auth, const char *idem, const char *body,
                      long status, resp_t *r)
{
    request(f, method, path, auth, idem, body, 0, r);
    if (r->rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(r->rc));
    if (r->status != status || r->json == NULL)
        fail_msg("%s %s: expected %ld with JSON, got %ld: %s", method, path, status, r->status, r->body != NULL ? r->body : "");
    return r->json;
}

#define BEARER "Bearer " TOKEN

static json_t *api(fake_t *f, const char *method, const char *path, const char *body, long status, resp_t *r)
{
    return expect(f, method, path, BEARER, NULL, body, status, r);
}

/* GET /_fake/state (new reference). */
static json_t *fake_state(fake_t *f)
{
    resp_t r;
    json_t *j = json_incref(expect(f, "GET", "/_fake/state", NULL, NULL, NULL, 200, &r));
    resp_dispose(&r);
    return j;
}

static json_int_t state_int(fake_t *f, const char *name)
{
    json_t *st = fake_state(f);
    json_int_t v = json_integer_value(json_object_get(st, name));
    json_decref(st);
    return v;
}

static void control(fake_t *f, const char *path, const char *body)
{
    resp_t r;
    expect(f, "POST", path, NULL, NULL, body, 200, &r);
    resp_dispose(&r);
}

static const char *jstr(json_t *j, const char *path1, const char *path2)
{
    json_t *v = json_object_get(j, path1);
    if (path2 != NULL)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

/* ---- Stripe ---- */

static void test_stripe_customers(void **state)
{
    fake_t *f = *state;
    resp_t r;
    json_t *j, *st;
    char buf[64];

    j = api(f, "POST", "/v1/customers", "email=ana%40acme.example&name=Ana+Lima&metadata[hubspot_contact_id]=51", 200, &r);
    assert_string_equal(jstr(j, "id", NULL), "cus_fake1");
    assert_string_equal(jstr(j, "object", NULL), "customer");
    assert_string_equal(jstr(j, "email", NULL), "ana@acme.example");
    assert_string_equal(jstr(j, "name", NULL), "Ana Lima");
    assert_string_equal(jstr(j, "metadata", "hubspot_contact_id"), "51");
    assert_true(json_is_null(json_object_get(j, "phone")));
    assert_non_null(header(&r, "Request-Id", buf, sizeof(buf)));
    assert_null(header(&r, "Idempotent-Replayed", buf, sizeof(buf)));
    resp_dispose(&r);

    /* Update: omitted parameters stay, "" clears (metadata[key]= removes the key). */
    j = api(f, "POST", "/v1/customers/cus_fake1", "phone=%2B15550100&metadata[plan]=pro&metadata[hubspot_contact_id]=", 200, &r);
    assert_string_equal(jstr(j, "phone", NULL), "+15550100");
    assert_string_equal(jstr(j, "name", NULL), "Ana Lima");
    assert_string_equal(jstr(j, "metadata", "plan"), "pro");
    assert_null(json_object_get(json_object_get(j, "metadata"), "hubspot_contact_id"));
    resp_dispose(&r);
    j = api(f, "POST", "/v1/customers/cus_fake1", "name=", 200, &r);
    assert_true(json_is_null(json_object_get(j, "name")));
    resp_dispose(&r);

    /* Unknown id, unknown parameter. */
    j = api(f, "POST", "/v1/customers/cus_nope", "name=x", 404, &r);
    assert_string_equal(jstr(j, "error", "code"), "resource_missing");
    assert_string_equal(jstr(j, "error", "type"), "invalid_request_error");
    resp_dispose(&r);
    j = api(f, "POST", "/v1/customers/cus_fake1", "nickname=x", 400, &r);
    assert_string_equal(jstr(j, "error", "param"), "nickname");
    resp_dispose(&r);

    /* Lookup by email: newest first, limit respected, case-sensitive. */
    api(f, "POST", "/v1/customers", "email=ana%40acme.example&name=Second", 200, &r);
    resp_dispose(&r);
    api(f, "POST", "/v1/customers", "email=bo%40acme.example", 200, &r);
    resp_dispose(&r);
    j = api(f, "GET", "/v1/customers?email=ana%40acme.example&limit=1", NULL, 200, &r);
    assert_string_equal(jstr(j, "object", NULL), "list");
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "id")), "cus_fake2");
    assert_true(json_is_true(json_object_get(j, "has_more")));
    resp_dispose(&r);
    j = api(f, "GET", "/v1/customers?email=nobody%40acme.example&limit=1", NULL, 200, &r);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 0);
    resp_dispose(&r);
    j = api(f, "GET", "/v1/customers?email=BO%40acme.example", NULL, 200, &r);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 0);
    resp_dispose(&r);

    /* Auth: none, wrong, and HTTP basic with the key as user name. */
    j = expect(f, "POST", "/v1/customers", NULL, NULL, "email=x", 401, &r);
    assert_string_equal(jstr(j, "error", "type"), "invalid_request_error");
    resp_dispose(&r);
    expect(f, "POST", "/v1/customers", "Bearer sk_test_wrong", NULL, "email=x", 401, &r);
    resp_dispose(&r);
    expect(f, "GET", "/v1/customers/cus_fake3", "Basic c2tfdGVzdF9mYWtlOg==", NULL, NULL, 200, &r); /* sk_test_fake: */
    resp_dispose(&r);

    st = fake_state(f);
    assert_int_equal(json_object_size(json_object_get(st, "objects")), 3);
    assert_string_equal(jstr(json_object_get(st, "objects"), "cus_fake1", "phone"), "+15550100");
    assert_int_equal(json_integer_value(json_object_get(st, "requests")), 13);
    json_decref(st);
}

static void test_stripe_idempotency(void **state)
{
    fake_t *f = *state;
    resp_t r1, r2, r;
    json_t *j, *st, *log;
    char buf[64];
    const char *body = "email=ana%40acme.example&metadata[hubspot_contact_id]=51";

    expect(f, "POST", "/v1/customers", BEARER, "push-1-r1", body, 200, &r1);
    expect(f, "POST", "/v1/customers", BEARER, "push-1-r1", body, 200, &r2);
    assert_string_equal(r1.body, r2.body);
    assert_non_null(header(&r2, "Idempotent-Replayed", buf, sizeof(buf)));
    assert_string_equal(buf, "true");
    resp_dispose(&r1);
    resp_dispose(&r2);

    /* Same key, other parameters: idempotency_error, nothing created. */
    j = expect(f, "POST", "/v1/customers", BEARER, "push-1-r1", "email=other%40acme.example", 400, &r);
    assert_string_equal(jstr(j, "error", "type"), "idempotency_error");
    resp_dispose(&r);
    /* Same key on another endpoint is "other parameters" too. */
    j = expect(f, "POST", "/v1/customers/cus_fake1", BEARER, "push-1-r1", body, 400, &r);
    assert_string_equal(jstr(j, "error", "type"), "idempotency_error");
    resp_dispose(&r);

    /* An update replayed; a 404 is stored and replayed like any executed request. */
    expect(f, "POST", "/v1/customers/cus_fake1", BEARER, "push-2-r1", "name=Ana", 200, &r);
    resp_dispose(&r);
    expect(f, "POST", "/v1/customers/cus_fake1", BEARER, "push-2-r1", "name=Ana", 200, &r);
    assert_non_null(header(&r, "Idempotent-Replayed", buf, sizeof(buf)));
    resp_dispose(&r);
    expect(f, "POST", "/v1/customers/cus_gone", BEARER, "push-3-r1", "name=Ana", 404, &r);
    resp_dispose(&r);
    expect(f, "POST", "/v1/customers/cus_gone", BEARER, "push-3-r1", "name=Ana", 404, &r);
    assert_non_null(header(&r, "Idempotent-Replayed", buf, sizeof(buf)));
    resp_dispose(&r);

    /* A validation failure (400) stores nothing: the corrected retry with the same key runs. */
    expect(f, "POST", "/v1/customers", BEARER, "push-4-r1", "bogus=1", 400, &r);
    resp_dispose(&r);
    j = expect(f, "POST", "/v1/customers", BEARER, "push-4-r1", "email=d%40acme.example", 200, &r);
    assert_string_equal(jstr(j, "id", NULL), "cus_fake2");
    assert_null(header(&r, "Idempotent-Replayed", buf, sizeof(buf)));
    resp_dispose(&r);

    st = fake_state(f);
    assert_int_equal(json_object_size(json_object_get(st, "objects")), 2);
    assert_int_equal(json_integer_value(json_object_get(st, "idempotent_replays")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "by_key"), "push-1-r1")), 4);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "by_key"), "push-2-r1")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "by_key"), "push-4-r1")), 2);
    json_decref(st);

    log = expect(f, "GET", "/_fake/requests", NULL, NULL, NULL, 200, &r);
    assert_int_equal(json_array_size(log), 10);
    assert_string_equal(jstr(json_array_get(log, 0), "method", NULL), "POST");
    assert_string_equal(jstr(json_array_get(log, 0), "path", NULL), "/v1/customers");
    assert_string_equal(jstr(json_array_get(log, 0), "idempotency_key", NULL), "push-1-r1");
    assert_string_equal(jstr(json_array_get(log, 0), "body", NULL), body);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(log, 0), "status")), 200);
    assert_true(json_is_false(json_object_get(json_array_get(log, 0), "replayed")));
    assert_true(json_is_true(json_object_get(json_array_get(log, 1), "replayed")));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(log, 2), "status")), 400);
    resp_dispose(&r);
}

static void test_stripe_rate_limit_via_control(void **state)
{
    fake_t *f = *state;
    resp_t r;
    json_t *j, *st;
    int limited = 0;

    control(f, "/_fake/rate", "{\"limit\":3,\"window_ms\":60000}");
    for (int i = 0; i != 5; ++i) {
        request(f, "GET", "/v1/customers?limit=1", BEARER, NULL, NULL, 0, &r);
        assert_int_equal(r.rc, CURLE_OK);
        if (r.status == 429) {
            ++limited;
            assert_non_null(r.json);
            assert_string_equal(jstr(r.json, "error", "type"), "rate_limit_error");
        } else {
            assert_int_equal(r.status, 200);
        }
        resp_dispose(&r);
    }
    assert_int_equal(limited, 2);
    /* Control endpoints never count against the limit. */
    for (int i = 0; i != 5; ++i)
        control(f, "/_fake/mode", "{\"mode\":\"ok\"}");
    st = fake_state(f);
    assert_int_equal(json_integer_value(json_object_get(st, "rate_limited")), 2);
    assert_int_equal(json_integer_value(json_object_get(st, "accepted")), 3);
    assert_int_equal(json_integer_value(json_object_get(st, "max_in_window")), 3);
    json_decref(st);
    /* Lifting the limit lets requests through again. */
    control(f, "/_fake/rate", "{\"limit\":0}");
    j = api(f, "GET", "/v1/customers", NULL, 200, &r);
    assert_string_equal(jstr(j, "object", NULL), "list");
    resp_dispose(&r);
}

/* ---- HubSpot ---- */

static void test_hubspot_contacts(void **state)
{
    fake_t *f = *state;
    resp_t r;
    json_t *j, *res, *st;
    char id[32], path[128], msg[128];

    j = api(f, "POST", "/crm/v3/objects/contacts", "{\"properties\":{\"email\":\"ana@acme.example\",\"firstname\":\"Ana\"}}", 201,
            &r);
    snprintf(id, sizeof(id), "%s", jstr(j, "id", NULL));
    assert_string_equal(jstr(j, "properties", "firstname"), "Ana");
    resp_dispose(&r);

    /* Creating the same email again (any case): 409 naming the existing id. */
    j = api(f, "POST", "/crm/v3/objects/contacts", "{\"properties\":{\"email\":\"ANA@acme.example\"}}", 409, &r);
    snprintf(msg, sizeof(msg), "Contact already exists. Existing ID: %s", id);
    assert_string_equal(jstr(j, "message", NULL), msg);
    assert_string_equal(jstr(j, "category", NULL), "CONFLICT");
    resp_dispose(&r);

    /* PATCH: set, clear with "", numbers become strings. 404 for an unknown id. */
    snprintf(path, sizeof(path), "/crm/v3/objects/contacts/%s", id);
    j = api(f, "PATCH", path, "{\"properties\":{\"phone\":\"+1 555 0100\",\"firstname\":\"\",\"mrr\":49}}", 200, &r);
    assert_string_equal(jstr(j, "id", NULL), id);
    assert_string_equal(jstr(j, "properties", "phone"), "+1 555 0100");
    assert_string_equal(jstr(j, "properties", "firstname"), "");
    assert_string_equal(jstr(j, "properties", "mrr"), "49");
    resp_dispose(&r);
    j = api(f, "PATCH", "/crm/v3/objects/contacts/987654", "{\"properties\":{\"phone\":\"1\"}}", 404, &r);
    assert_string_equal(jstr(j, "status", NULL), "error");
    assert_string_equal(jstr(j, "category", NULL), "OBJECT_NOT_FOUND");
    resp_dispose(&r);
    j = api(f, "PATCH", path, "{\"properties\":{\"hs_object_id\":\"1\"}}", 400, &r); /* read-only property */
    assert_string_equal(jstr(j, "category", NULL), "VALIDATION_ERROR");
    resp_dispose(&r);

    /* Upsert by email: the existing contact (new:false) and a new one (new:true), in input order. */
    j = api(f, "POST", "/crm/v3/objects/contacts/batch/upsert",
            "{\"inputs\":[{\"id\":\"ana@acme.example\",\"idProperty\":\"email\",\"properties\":{\"lastname\":\"Lima\"}},"
            "{\"id\":\"bo@acme.example\",\"idProperty\":\"email\",\"properties\":{\"firstname\":\"Bo\"}}]}",
            200, &r);
    res = json_object_get(j, "results");
    assert_int_equal(json_array_size(res), 2);
    assert_string_equal(jstr(json_array_get(res, 0), "id", NULL), id);
    assert_true(json_is_false(json_object_get(json_array_get(res, 0), "new")));
    assert_true(json_is_true(json_object_get(json_array_get(res, 1), "new")));
    assert_string_equal(jstr(json_array_get(res, 1), "properties", "email"), "bo@acme.example");
    char bo[32];
    snprintf(bo, sizeof(bo), "%s", jstr(json_array_get(res, 1), "id", NULL));
    assert_string_not_equal(bo, id);
    resp_dispose(&r);

    /* Batch update of both; one unknown id fails the whole batch and changes nothing. */
    char body[512];
    snprintf(body, sizeof(body),
             "{\"inputs\":[{\"id\":\"%s\",\"properties\":{\"lifecyclestage\":\"customer\"}},"
             "{\"id\":\"%s\",\"properties\":{\"lifecyclestage\":\"lead\"}}]}",
             id, bo);
    j = api(f, "POST", "/crm/v3/objects/contacts/batch/update", body, 200, &r);
    assert_string_equal(jstr(j, "status", NULL), "COMPLETE");
    assert_int_equal(json_array_size(json_object_get(j, "results")), 2);
    resp_dispose(&r);
    snprintf(body, sizeof(body),
             "{\"inputs\":[{\"id\":\"%s\",\"properties\":{\"lifecyclestage\":\"other\"}},"
             "{\"id\":\"999999\",\"properties\":{\"lifecyclestage\":\"lead\"}}]}",
             id);
    j = api(f, "POST", "/crm/v3/objects/contacts/batch/update", body, 404, &r);
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(j, "context"), "ids"), 0)), "999999");
    resp_dispose(&r);

    /* More than 100 inputs: 400. */
    {
        size_t cap = 101 * 64 + 32, n = 0;
        char *big = malloc(cap);
        assert_non_null(big);
        n += (size_t)snprintf(big + n, cap - n, "{\"inputs\":[");
        for (int i = 0; i != 101; ++i)
            n += (size_t)snprintf(big + n, cap - n, "%s{\"id\":\"%s\",\"properties\":{\"a\":\"%d\"}}", i ? "," : "", id, i);
        snprintf(big + n, cap - n, "]}");
        j = api(f, "POST", "/crm/v3/objects/contacts/batch/update", big, 400, &r);
        assert_string_equal(jstr(j, "category", NULL), "VALIDATION_ERROR");
        resp_dispose(&r);
        free(big);
    }

    /* GET by email (idProperty=email, the email escaped in the path). */
    j = api(f, "GET", "/crm/v3/objects/contacts/bo%40acme.example?idProperty=email", NULL, 200, &r);
    assert_string_equal(jstr(j, "id", NULL), bo);
    resp_dispose(&r);

    /* Auth. */
    j = expect(f, "PATCH", path, NULL, NULL, "{\"properties\":{}}", 401, &r);
    assert_string_equal(jstr(j, "category", NULL), "INVALID_AUTHENTICATION");
    resp_dispose(&r);

    st = fake_state(f);
    json_t *objs = json_object_get(st, "objects");
    assert_int_equal(json_object_size(objs), 2);
    assert_string_equal(jstr(objs, id, "lifecyclestage"), "customer");
    assert_string_equal(jstr(objs, id, "lastname"), "Lima");
    assert_string_equal(jstr(objs, bo, "lifecyclestage"), "lead");
    assert_null(json_object_get(json_object_get(objs, id), "hs_object_id"));
    json_decref(st);
}

static void test_hubspot_seed(void **state)
{
    fake_t *f = *state;
    resp_t r;
    json_t *j;

    control(f, "/_fake/seed", "{\"objects\":{\"51\":{\"email\":\"ana@acme.example\",\"firstname\":\"Ana\"}}}");
    j = api(f, "PATCH", "/crm/v3/objects/contacts/51", "{\"properties\":{\"firstname\":\"Ana Maria\"}}", 200, &r);
    assert_string_equal(jstr(j, "properties", "firstname"), "Ana Maria");
    resp_dispose(&r);
    j = api(f, "POST", "/crm/v3/objects/contacts", "{\"properties\":{\"email\":\"ana@acme.example\"}}", 409, &r);
    assert_string_equal(jstr(j, "message", NULL), "Contact already exists. Existing ID: 51");
    resp_dispose(&r);
}

static void test_hubspot_rate_limit(void **state)
{
    fake_t *f = *state; /* started with --rate 10/60000 */
    resp_t r;
    json_t *st;
    int limited = 0, accepted = 0;
    long last_remaining = -1;

    control(f, "/_fake/seed", "{\"objects\":{\"7\":{\"email\":\"x@acme.example\"}}}");
    for (int i = 0; i != 15; ++i) {
        request(f, "PATCH", "/crm/v3/objects/contacts/7", BEARER, NULL, "{\"properties\":{\"n\":\"1\"}}", 0, &r);
        assert_int_equal(r.rc, CURLE_OK);
        assert_int_equal(header_long(&r, "X-HubSpot-RateLimit-Max"), 10);
        assert_int_equal(header_long(&r, "X-HubSpot-RateLimit-Interval-Milliseconds"), 60000);
        if (r.status == 429) {
            ++limited;
            assert_int_equal(header_long(&r, "X-HubSpot-RateLimit-Remaining"), 0);
            assert_true(header_long(&r, "Retry-After") >= 1);
            assert_non_null(r.json);
            assert_string_equal(jstr(r.json, "status", NULL), "error");
            assert_string_equal(jstr(r.json, "message", NULL), "You have reached your ten_secondly_rolling limit.");
            assert_string_equal(jstr(r.json, "errorType", NULL), "RATE_LIMIT");
            assert_string_equal(jstr(r.json, "policyName", NULL), "TEN_SECONDLY_ROLLING");
        } else {
            assert_int_equal(r.status, 200);
            ++accepted;
            last_remaining = header_long(&r, "X-HubSpot-RateLimit-Remaining");
            assert_int_equal(last_remaining, 10 - accepted);
        }
        resp_dispose(&r);
    }
    assert_int_equal(limited, 5);
    assert_int_equal(last_remaining, 0);
    st = fake_state(f);
    assert_int_equal(json_integer_value(json_object_get(st, "requests")), 15);
    assert_int_equal(json_integer_value(json_object_get(st, "accepted")), 10);
    assert_int_equal(json_integer_value(json_object_get(st, "rate_limited")), 5);
    assert_int_equal(json_integer_value(json_object_get(st, "max_in_window")), 10);
    json_decref(st);

    /* A short window empties: poll (bounded) until a request is accepted again. */
    control(f, "/_fake/rate", "{\"limit\":10,\"window_ms\":200,\"retry_after\":false}");
    long deadline = now_ms() + WAIT_MS;
    for (;;) {
        char buf[16];
        request(f, "PATCH", "/crm/v3/objects/contacts/7", BEARER, NULL, "{\"properties\":{\"n\":\"2\"}}", 0, &r);
        assert_int_equal(r.rc, CURLE_OK);
        long status = r.status;
        if (status == 429)
            assert_null(header(&r, "Retry-After", buf, sizeof(buf)));
        resp_dispose(&r);
        if (status == 200)
            break;
        assert_true(now_ms() < deadline);
        usleep(20000);
    }
}

/* ---- fault modes (on the HubSpot fake; the code path is shared with Stripe) ---- */

static void test_fault_errors(void **state)
{
    fake_t *f = *state;
    resp_t r;
    json_t *j;

    control(f, "/_fake/seed", "{\"objects\":{\"1\":{\"email\":\"a@acme.example\"}}}");
    control(f, "/_fake/mode", "{\"mode\":\"error500\"}");
    for (int i = 0; i != 3; ++i) {
        j = api(f, "GET", "/crm/v3/objects/contacts/1", NULL, 500, &r);
        assert_string_equal(jstr(j, "status", NULL), "error");
        resp_dispose(&r);
    }
    /* Control endpoints ignore the mode. */
    j = expect(f, "GET", "/_fake/health", NULL, NULL, NULL, 200, &r);
    resp_dispose(&r);

    control(f, "/_fake/mode", "{\"mode\":\"error400\"}");
    j = api(f, "PATCH", "/crm/v3/objects/contacts/1", "{\"properties\":{\"a\":\"b\"}}", 400, &r);
    assert_string_equal(jstr(j, "category", NULL), "VALIDATION_ERROR");
    resp_dispose(&r);

    /* count: the next 2 requests fail, then the mode ends by itself. */
    control(f, "/_fake/mode", "{\"mode\":\"error500\",\"count\":2}");
    api(f, "GET", "/crm/v3/objects/contacts/1", NULL, 500, &r);
    resp_dispose(&r);
    api(f, "GET", "/crm/v3/objects/contacts/1", NULL, 500, &r);
    resp_dispose(&r);
    api(f, "GET", "/crm/v3/objects/contacts/1", NULL, 200, &r);
    resp_dispose(&r);

    /* for_ms: fails until the time is up (polled, bounded). */
    control(f, "/_fake/mode", "{\"mode\":\"error500\",\"for_ms\":300}");
    long deadline = now_ms() + WAIT_MS;
    int saw500 = 0;
    for (;;) {
        request(f, "GET", "/crm/v3/objects/contacts/1", BEARER, NULL, NULL, 0, &r);
        assert_int_equal(r.rc, CURLE_OK);
        long status = r.status;
        resp_dispose(&r);
        if (status == 500) {
            saw500 = 1;
        } else {
            assert_int_equal(status, 200);
            break;
        }
        assert_true(now_ms() < deadline);
        usleep(20000);
    }
    assert_true(saw500);
    /* The object never changed under the error modes; the log says which requests were faulted. */
    j = expect(f, "GET", "/_fake/requests", NULL, NULL, NULL, 200, &r);
    assert_string_equal(jstr(json_array_get(j, 0), "fault", NULL), "error500");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "status")), 500);
    assert_string_equal(jstr(json_array_get(j, 3), "fault", NULL), "error400");
    assert_true(json_is_null(json_object_get(json_array_get(j, 6), "fault")));
    resp_dispose(&r);
}

static void test_fault_reset_hang_slow(void **state)
{
    fake_t *f = *state;
    resp_t r;
    json_t *j;

    control(f, "/_fake/seed", "{\"objects\":{\"1\":{\"email\":\"a@acme.example\"}}}");

    /* reset: the connection closes without an answer → a transport error, not a timeout. */
    control(f, "/_fake/mode", "{\"mode\":\"reset\",\"count\":1}");
    request(f, "PATCH", "/crm/v3/objects/contacts/1", BEARER, NULL, "{\"properties\":{\"a\":\"b\"}}", -10000, &r);
    assert_int_not_equal(r.rc, CURLE_OK);
    assert_int_not_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
    resp_dispose(&r);
    api(f, "GET", "/crm/v3/objects/contacts/1", NULL, 200, &r); /* count 1: back to ok */
    resp_dispose(&r);

    /* hang: no answer ever; the client times out. The fake still answers its control API meanwhile. */
    control(f, "/_fake/mode", "{\"mode\":\"hang\"}");
    request(f, "PATCH", "/crm/v3/objects/contacts/1", BEARER, NULL, "{\"properties\":{\"a\":\"c\"}}", 300, &r);
    assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
    resp_dispose(&r);
    j = fake_state(f);
    assert_string_equal(jstr(j, "mode", "mode"), "hang");
    json_decref(j);
    /* The fake closes a hung connection once its client has gone (polled, bounded). */
    long deadline = now_ms() + WAIT_MS;
    while (state_int(f, "hung") != 0) {
        assert_true(now_ms() < deadline);
        usleep(20000);
    }
    control(f, "/_fake/mode", "{\"mode\":\"ok\"}");

    /* slow: answered, but not before delay_ms (a lower bound only). */
    control(f, "/_fake/mode", "{\"mode\":\"slow\",\"delay_ms\":300}");
    request(f, "GET", "/crm/v3/objects/contacts/1", BEARER, NULL, NULL, 20000, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_true(r.elapsed_ms >= 290);
    resp_dispose(&r);
    /* A client that gives up on a slow answer does not disturb the fake. */
    request(f, "GET", "/crm/v3/objects/contacts/1", BEARER, NULL, NULL, 50, &r);
    assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
    resp_dispose(&r);
    control(f, "/_fake/mode", "{\"mode\":\"ok\"}");
    api(f, "GET", "/crm/v3/objects/contacts/1", NULL, 200, &r);
    resp_dispose(&r);

    j = expect(f, "GET", "/_fake/requests", NULL, NULL, NULL, 200, &r);
    assert_string_equal(jstr(json_array_get(j, 0), "fault", NULL), "reset");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "status")), 0);
    assert_string_equal(jstr(json_array_get(j, 2), "fault", NULL), "hang");
    assert_string_equal(jstr(json_array_get(j, 3), "fault", NULL), "slow");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 3), "status")), 200);
    resp_dispose(&r);

    /* Bad control input. */
    expect(f, "POST", "/_fake/mode", NULL, NULL, "{\"mode\":\"explode\"}", 400, &r);
    resp_dispose(&r);
    expect(f, "POST", "/_fake/mode", NULL, NULL, "not json", 400, &r);
    resp_dispose(&r);
    expect(f, "GET", "/_fake/nothing", NULL, NULL, NULL, 404, &r);
    resp_dispose(&r);
}

static void test_stripe_faults(void **state)
{
    fake_t *f = *state;
    resp_t r;
    json_t *j;

    control(f, "/_fake/mode", "{\"mode\":\"error500\",\"count\":1}");
    j = api(f, "POST", "/v1/customers", "email=a%40acme.example", 500, &r);
    assert_string_equal(jstr(j, "error", "type"), "api_error");
    resp_dispose(&r);
    control(f, "/_fake/mode", "{\"mode\":\"error400\",\"count\":1}");
    j = api(f, "POST", "/v1/customers", "email=a%40acme.example", 400, &r);
    assert_string_equal(jstr(j, "error", "type"), "invalid_request_error");
    resp_dispose(&r);
    /* A faulted request with an Idempotency-Key stores nothing: the retry runs. */
    control(f, "/_fake/mode", "{\"mode\":\"error500\",\"count\":1}");
    expect(f, "POST", "/v1/customers", BEARER, "k", "email=a%40acme.example", 500, &r);
    resp_dispose(&r);
    j = expect(f, "POST", "/v1/customers", BEARER, "k", "email=a%40acme.example", 200, &r);
    assert_string_equal(jstr(j, "id", NULL), "cus_fake1");
    resp_dispose(&r);
    control(f, "/_fake/mode", "{\"mode\":\"reset\",\"count\":1}");
    request(f, "POST", "/v1/customers", BEARER, "k", "email=a%40acme.example", -10000, &r);
    assert_int_not_equal(r.rc, CURLE_OK);
    resp_dispose(&r);
    assert_int_equal(state_int(f, "idempotent_replays"), 0);
}

static void test_reset_and_state_file(void **state)
{
    fake_t *f = *state;
    resp_t r;
    json_t *j, *file;
    int status;

    api(f, "POST", "/v1/customers", "email=a%40acme.example", 200, &r);
    resp_dispose(&r);
    expect(f, "POST", "/v1/customers", BEARER, "k1", "email=b%40acme.example", 200, &r);
    resp_dispose(&r);
    control(f, "/_fake/rate", "{\"limit\":1,\"window_ms\":60000}");
    control(f, "/_fake/mode", "{\"mode\":\"error500\"}");

    control(f, "/_fake/reset", NULL);
    j = fake_state(f);
    assert_int_equal(json_object_size(json_object_get(j, "objects")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "requests")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "accepted")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "max_in_window")), 0);
    assert_int_equal(json_object_size(json_object_get(j, "by_key")), 0);
    assert_string_equal(jstr(j, "mode", "mode"), "ok");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "rate"), "limit")), 1); /* config stays */
    json_decref(j);
    j = expect(f, "GET", "/_fake/requests", NULL, NULL, NULL, 200, &r);
    assert_int_equal(json_array_size(j), 0);
    resp_dispose(&r);
    /* Ids start over; the old key is forgotten (no replay, no idempotency_error). */
    j = expect(f, "POST", "/v1/customers", BEARER, "k1", "email=c%40acme.example", 200, &r);
    assert_string_equal(jstr(j, "id", NULL), "cus_fake1");
    resp_dispose(&r);

    /* SIGTERM: exit 0 and the state in --state-file. */
    status = fake_stop(f);
    assert_int_equal(status, 0);
    file = json_load_file(f->state_file, 0, NULL);
    assert_non_null(file);
    assert_string_equal(jstr(json_object_get(file, "objects"), "cus_fake1", "email"), "c@acme.example");
    assert_int_equal(json_integer_value(json_object_get(file, "requests")), 1);
    json_decref(file);
}

static int setup_stripe_state_file(void **state)
{
    fake_t *f = calloc(1, sizeof(*f));
    *state = f;
    snprintf(f->state_file, sizeof(f->state_file), "/tmp/sy_fake_state_%d.json", (int)getpid());
    fake_start(f, "stripe", NULL, NULL);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stripe_customers, setup_stripe, teardown),
        cmocka_unit_test_setup_teardown(test_stripe_idempotency, setup_stripe, teardown),
        cmocka_unit_test_setup_teardown(test_stripe_rate_limit_via_control, setup_stripe, teardown),
        cmocka_unit_test_setup_teardown(test_stripe_faults, setup_stripe, teardown),
        cmocka_unit_test_setup_teardown(test_hubspot_contacts, setup_hubspot, teardown),
        cmocka_unit_test_setup_teardown(test_hubspot_seed, setup_hubspot, teardown),
        cmocka_unit_test_setup_teardown(test_hubspot_rate_limit, setup_hubspot_rate, teardown),
        cmocka_unit_test_setup_teardown(test_fault_errors, setup_hubspot, teardown),
        cmocka_unit_test_setup_teardown(test_fault_reset_hang_slow, setup_hubspot, teardown),
        cmocka_unit_test_setup_teardown(test_reset_and_state_file, setup_stripe_state_file, teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
