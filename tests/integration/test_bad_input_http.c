/*
 * Bad-input catalogue, part 2: the HTTP layer of the ingress (H2O 2.2.5), driven over raw sockets and libcurl.
 *
 * One hub (example policy, the harness's max_body of 64 KiB, HTTP/2 off as by default) is started and seeded once for
 * the group; every case snapshots the log, the golden records, the queue and the applier counters, sends its bad
 * input, asserts the exact answer, and asserts the snapshot is unchanged (or changed exactly as the case says).
 * Valid events sent by a case are of a type the policy does not map, so they add to the log and to
 * counters.unmapped_events only. The catalogue: tests/integration/README.md.
 */
#include "harness_raw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "crypto.h"

#define GROUP_CASES 8
#define TEN_MB (10 * 1024 * 1024)
#define SLOW_CONNECTIONS 8
#define SLOW_CLOSE_BOUND_S 16.0 /* H2O's request timeout is 10 s; generous margin for a loaded machine */

static sy_it_t *g_h;
static unsigned g_finished;

static int64_t now_s(void)
{
    return sy_now_ms() / 1000;
}

static double mono_s(void)
{
    return (double)sy_mono_ns() / 1e9;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* "Stripe-Signature: t=<now>,v1=<hex>" for body, signed with secret (owned). */
static const char *sig_line(sy_it_t *h, const char *secret, const char *body, size_t len)
{
    unsigned char mac[SY_SHA256_LEN];
    char ts[32], hex[2 * SY_SHA256_LEN + 1], *out = sy_it_alloc(h, 160);
    snprintf(ts, sizeof(ts), "%lld", (long long)now_s());
    sy_slice_t parts[] = {sy_slice_cstr(ts), SY_SLICE_LIT("."), {body, len}};
    assert_int_equal(sy_hmac_sha256(sy_slice_cstr(secret), parts, SY_ARRAY_SIZE(parts), mac), 0);
    sy_hex_encode(mac, sizeof(mac), hex);
    snprintf(out, 160, "Stripe-Signature: t=%s,v1=%s", ts, hex);
    return out;
}

/* A valid Stripe event of a type the example policy does not map (owned). */
static char *unmapped_event(sy_it_t *h, const char *event_id, size_t *len)
{
    char *body = sy_it_alloc(h, 512);
    *len = (size_t)snprintf(body, 512,
                            "{\"id\":\"%s\",\"object\":\"event\",\"api_version\":\"2024-06-20\",\"created\":%lld,"
                            "\"livemode\":false,\"type\":\"charge.succeeded\",\"data\":{\"object\":{\"id\":\"ch_http_1\","
                            "\"object\":\"charge\",\"amount\":4900,\"customer\":\"cus_seed_ana\"}}}",
                            event_id, (long long)now_s());
    return body;
}

/* A signed customer.updated that would change the seeded record if it were stored (owned). */
static char *customer_update(sy_it_t *h, const char *event_id, size_t *len)
{
    char *body = sy_it_alloc(h, 512);
    *len = (size_t)snprintf(body, 512,
                            "{\"id\":\"%s\",\"object\":\"event\",\"created\":%lld,\"type\":\"customer.updated\",\"data\":"
                            "{\"object\":{\"id\":\"cus_seed_ana\",\"object\":\"customer\",\"email\":\"mallory@evil.example\","
                            "\"name\":\"Mallory\",\"metadata\":{\"hubspot_contact_id\":\"51\"}}}}",
                            event_id, (long long)now_s());
    return body;
}

static void expect_status(const sy_raw_response_t *res, int status, const char *what)
{
    print_message("  %-58s -> %d%s %.100s\n", what, res->status, res->closed ? " (closed)" : "", res->body);
    if (res->status != status) {
        sy_raw_dump(what, res);
        fail_msg("%s: expected HTTP %d, got %d", what, status, res->status);
    }
}

static void expect_healthy(sy_it_t *h)
{
    sy_it_response_t res;
    assert_int_equal(sy_it_request(h, h->admin_port, "GET", "/healthz", NULL, NULL, 0, &res), 0);
    assert_int_equal(res.status, 200);
    sy_it_response_dispose(&res);
}

/* POSTs a valid unmapped event through libcurl (keep-alive) and asserts 200 stored; returns the elapsed seconds. */
static double post_valid(sy_it_t *h, const char *event_id)
{
    sy_it_response_t res;
    size_t len;
    char *body = unmapped_event(h, event_id, &len);
    double start = mono_s();
    sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, body, len, &res);
    double took = mono_s() - start;
    sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);
    return took;
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

/* ---- cases ---------------------------------------------------------------------------------------------------- */

/*
 * A 10 MB body (max_body is 64 KiB), announced by Content-Length and sent chunked. 413 from H2O before the body is
 * read (the client streams 64 KiB at a time and stops at the answer, so neither side holds 10 MB); the server stays
 * healthy and nothing is stored.
 */
static void test_body_10mb(void **state)
{
    sy_it_t *h = g_h;
    sy_raw_response_t res;
    char head[512];
    json_t *before = sy_state_snapshot(h);
    (void)state;

    snprintf(head, sizeof(head),
             "POST /hooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             "Stripe-Signature: t=%lld,v1=%064d\r\nContent-Length: %d\r\n\r\n",
             (long long)now_s(), 0, TEN_MB);
    sy_raw_send_large(h, h->ingress_port, head, TEN_MB, 0, 20.0, &res);
    expect_status(&res, 413, "10 MB with Content-Length");
    print_message("    answered after %zu body bytes sent, %.2f s\n", res.sent, res.elapsed_s);

    snprintf(head, sizeof(head),
             "POST /hooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             "Stripe-Signature: t=%lld,v1=%064d\r\nTransfer-Encoding: chunked\r\n\r\n",
             (long long)now_s(), 0);
    sy_raw_send_large(h, h->ingress_port, head, TEN_MB, 1, 20.0, &res);
    expect_status(&res, 413, "10 MB chunked");
    print_message("    answered after %zu body bytes sent, %.2f s\n", res.sent, res.elapsed_s);

    expect_healthy(h);
    post_valid(h, "evt_http_after_10mb"); /* and it still takes events */
    sy_state_assert_delta(h, before, 1, 1, "10 MB body");
    ++g_finished;
}

/*
 * Slowloris: SLOW_CONNECTIONS clients send a request head and part of the body (half of them: part of the head)
 * and stall. Meanwhile valid requests are answered 200 at once; H2O's request timeout (10 s) closes every slow
 * connection without storing anything. Bounded at SLOW_CLOSE_BOUND_S.
 */
static void test_slowloris(void **state)
{
    sy_it_t *h = g_h;
    sy_raw_conn_t *slow[SLOW_CONNECTIONS];
    int closed[SLOW_CONNECTIONS] = {0}, answered_2xx = 0;
    double start, took, closed_at[SLOW_CONNECTIONS];
    json_t *before = sy_state_snapshot(h);
    (void)state;

    start = mono_s();
    for (int i = 0; i != SLOW_CONNECTIONS; ++i) {
        size_t len;
        char *body = customer_update(h, i % 2 == 0 ? "evt_http_slow_body" : "evt_http_slow_head", &len);
        sy_raw_msg_t m;
        sy_raw_msg_init(h, &m, len + 1024);
        sy_raw_addf(&m, "POST /hooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\nContent-Length: %zu\r\n",
                    sig_line(h, SY_IT_STRIPE_SECRET_A, body, len), len);
        if (i % 2 == 0) {
            sy_raw_add(&m, "\r\n", 2);
            sy_raw_add(&m, body, len / 2); /* half the body, then nothing */
        } else {
            sy_raw_addf(&m, "X-Still-Typing: "); /* the head never ends */
        }
        slow[i] = sy_raw_open(h, h->ingress_port);
        assert_int_equal(sy_raw_send(slow[i], m.base, m.len), m.len);
        sy_it_release(h, m.base);
    }

    /* the hub keeps serving: at once, and again a few seconds into the stall */
    took = post_valid(h, "evt_http_during_slow_1");
    print_message("  %-58s -> 200 in %.3f s\n", "valid request at once, while the slow clients stall", took);
    assert_true(took < 2.0);
    nap_ms(4000);
    took = post_valid(h, "evt_http_during_slow_2");
    print_message("  %-58s -> 200 in %.3f s\n", "valid request 4 s into the stall", took);
    assert_true(took < 2.0);
    expect_healthy(h);

    /* every slow connection is closed by the server, none with a 2xx */
    for (int i = 0; i != SLOW_CONNECTIONS; ++i) {
        sy_raw_response_t res;
        double left = start + SLOW_CLOSE_BOUND_S - mono_s();
        sy_raw_read(slow[i], left > 0 ? left : 0, 1, &res);
        closed[i] = res.closed;
        closed_at[i] = mono_s() - start;
        answered_2xx |= res.status >= 200 && res.status < 300;
        print_message("  slow client %d (stalled in the %-4s)                        -> %s after %.1f s, status %d\n", i,
                      i % 2 == 0 ? "body" : "head", res.closed ? "closed" : "STILL OPEN", closed_at[i], res.status);
        sy_raw_close(slow[i]);
    }
    for (int i = 0; i != SLOW_CONNECTIONS; ++i) {
        if (!closed[i])
            fail_msg("slow client %d was still open %.0f s after it stalled (H2O's request timeout is 10 s)", i,
                     SLOW_CLOSE_BOUND_S);
    }
    assert_false(answered_2xx);
    sy_state_assert_delta(h, before, 2, 2, "slowloris");
    ++g_finished;
}

/* An HTTP/1.0 client: a valid event is stored (200) with Connection: close and the connection closed; a forged one
 * is refused the same way. */
static void test_http10_client(void **state)
{
    sy_it_t *h = g_h;
    sy_raw_response_t res;
    sy_raw_msg_t m;
    size_t len;
    char *body = unmapped_event(h, "evt_http_10", &len);
    json_t *before = sy_state_snapshot(h);
    const char *conn;
    (void)state;

    sy_raw_msg_init(h, &m, len + 1024);
    const char *headers[] = {"Content-Type: application/json", sig_line(h, SY_IT_STRIPE_SECRET_A, body, len), NULL};
    sy_raw_request(&m, "POST", "/hooks/stripe", "HTTP/1.0", headers, body, len);
    sy_raw_exchange(h, h->ingress_port, m.base, m.len, &res);
    expect_status(&res, 200, "HTTP/1.0, valid signature");
    conn = sy_raw_header(h, &res, "Connection");
    if (conn == NULL || strcasecmp(conn, "close") != 0 || !res.closed || !json_is_integer(json_object_get(res.json, "seq"))) {
        sy_raw_dump("HTTP/1.0", &res);
        fail_msg("HTTP/1.0: expected 200 {\"seq\":N} with Connection: close, and the connection closed");
    }

    body = customer_update(h, "evt_http_10_forged", &len);
    sy_raw_msg_init(h, &m, len + 1024);
    const char *forged[] = {"Content-Type: application/json", sig_line(h, "whsec_forged", body, len), NULL};
    sy_raw_request(&m, "POST", "/hooks/stripe", "HTTP/1.0", forged, body, len);
    sy_raw_exchange(h, h->ingress_port, m.base, m.len, &res);
    expect_status(&res, 401, "HTTP/1.0, forged signature");
    conn = sy_raw_header(h, &res, "Connection");
    assert_true(conn != NULL && strcasecmp(conn, "close") == 0 && res.closed);

    sy_state_assert_delta(h, before, 1, 1, "HTTP/1.0 client");
    ++g_finished;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

/*
 * An HTTP/2 prior-knowledge client (libcurl, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE) with a valid, signed event, while
 * the ingress has HTTP/2 off (the default). H2O reads the connection preface as an HTTP/1 request it cannot parse:
 * the request fails (or at least is not answered 2xx) and nothing is stored.
 */
static void test_http2_prior_knowledge(void **state)
{
    sy_it_t *h = g_h;
    size_t len;
    char *body = customer_update(h, "evt_http_h2", &len), url[128];
    struct curl_slist *list = NULL;
    json_t *before = sy_state_snapshot(h);
    long status = 0, version = 0;
    CURLcode rc;
    CURL *c = curl_easy_init();
    (void)state;

    assert_non_null(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/hooks/stripe", h->ingress_port);
    list = curl_slist_append(list, "Content-Type: application/json");
    list = curl_slist_append(list, sig_line(h, SY_IT_STRIPE_SECRET_A, body, len));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &version);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    print_message("  %-58s -> curl %d (%s), HTTP %ld, version %ld\n", "HTTP/2 prior knowledge, valid signature", (int)rc,
                  curl_easy_strerror(rc), status, version);
    if (rc == CURLE_OK && status >= 200 && status < 300)
        fail_msg("an HTTP/2 prior-knowledge request was answered %ld although the ingress has HTTP/2 off", status);

    expect_healthy(h);
    sy_state_assert_unchanged(h, before, "HTTP/2 prior knowledge");
    ++g_finished;
}

/*
 * Header injection over a raw socket, each request otherwise valid and correctly signed: a bare CR inside a header
 * value (also inside Stripe-Signature), a NUL in a header value, a CR in the request target: 400 from H2O with the
 * connection closed. Line folding (obs-fold) cannot smuggle a signature in: H2O drops the continuation line, so
 * a v1 folded onto the next line is no signature (401 no_signature). Nothing is stored.
 */
static void test_header_injection(void **state)
{
    sy_it_t *h = g_h;
    sy_raw_response_t res;
    json_t *before = sy_state_snapshot(h);
    (void)state;

    static const struct {
        const char *what;
        int kind; /* 0: extra header bytes before the signature line; 1: bytes appended to the signature value;
                     2: the request target; 3: v1 folded onto a continuation line */
        const char *bytes;
        size_t len;
        int status;
    } cases[] = {
#define BYTES(s) s, sizeof(s) - 1
        {"bare CR inside a header value", 0, BYTES("X-Note: a\rStripe-Signature: t=1,v1=00\r\n"), 400},
        {"bare CR inside Stripe-Signature, then a header", 1, BYTES("\rX-Injected: 1"), 400},
        {"NUL inside a header value", 0, BYTES("X-Note: a\0b\r\n"), 400},
        {"CR inside the request target", 2, BYTES("/hooks/stripe\rX-Injected: 1"), 400},
#undef BYTES
        {"v1 folded onto a continuation line (obs-fold)", 3, NULL, 0, 401},
    };
    for (size_t i = 0; i != SY_ARRAY_SIZE(cases); ++i) {
        char id[64];
        size_t len;
        snprintf(id, sizeof(id), "evt_http_inject_%zu", i);
        char *body = customer_update(h, id, &len);
        const char *sig = sig_line(h, SY_IT_STRIPE_SECRET_A, body, len);
        sy_raw_msg_t m;
        sy_raw_msg_init(h, &m, len + 2048);
        sy_raw_addf(&m, "POST ");
        if (cases[i].kind == 2)
            sy_raw_add(&m, cases[i].bytes, cases[i].len);
        else
            sy_raw_addf(&m, "/hooks/stripe");
        sy_raw_addf(&m, " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n", len);
        if (cases[i].kind == 0)
            sy_raw_add(&m, cases[i].bytes, cases[i].len);
        if (cases[i].kind == 3) {
            const char *v1 = strstr(sig, ",v1=");
            sy_raw_add(&m, sig, (size_t)(v1 + 1 - sig)); /* "Stripe-Signature: t=..," */
            sy_raw_addf(&m, "\r\n %s\r\n", v1 + 1);       /* " v1=..." folded */
        } else {
            sy_raw_add(&m, sig, strlen(sig));
            if (cases[i].kind == 1)
                sy_raw_add(&m, cases[i].bytes, cases[i].len);
            sy_raw_add(&m, "\r\n", 2);
        }
        sy_raw_add(&m, "\r\n", 2);
        sy_raw_add(&m, body, len);
        sy_raw_exchange(h, h->ingress_port, m.base, m.len, &res);
        expect_status(&res, cases[i].status, cases[i].what);
        if (cases[i].status == 400 && !res.closed) {
            sy_raw_dump(cases[i].what, &res);
            fail_msg("%s: expected the connection closed after the 400", cases[i].what);
        }
        if (cases[i].status == 401) {
            const char *check = json_string_value(json_object_get(res.json, "check"));
            if (check == NULL || strcmp(check, "no_signature") != 0) {
                sy_raw_dump(cases[i].what, &res);
                fail_msg("%s: expected 401 \"check\":\"no_signature\"", cases[i].what);
            }
        }
        sy_it_release(h, m.base);
    }
    expect_healthy(h);
    sy_state_assert_unchanged(h, before, "header injection");
    ++g_finished;
}

/*
 * An absurdly long path. Up to H2O's request-head limit the hub routes it: 404 not_found (also for a long path
 * under /hooks/ and a long source name). A 1 MiB request line is over that limit: H2O answers 400 and closes (H2O
 * 2.2.5 has no 414). Nothing is stored either way.
 */
static void test_long_path(void **state)
{
    sy_it_t *h = g_h;
    sy_raw_response_t res;
    json_t *before = sy_state_snapshot(h);
    (void)state;

    static const struct {
        const char *prefix;
        size_t repeat;
        int status;
        const char *what;
    } cases[] = {
        {"/hooks/", 64 * 1024, 404, "/hooks/ + 64 KiB source name"},
        {"/hooks/stripe/", 100 * 1024, 404, "/hooks/stripe/ + 100 KiB"},
        {"/", 200 * 1024, 404, "/ + 200 KiB"},
        {"/hooks/stripe/", 1024 * 1024, 400, "/hooks/stripe/ + 1 MiB (over H2O's head limit)"},
    };
    for (size_t i = 0; i != SY_ARRAY_SIZE(cases); ++i) {
        size_t len;
        char *body = customer_update(h, "evt_http_longpath", &len);
        const char *sig = sig_line(h, SY_IT_STRIPE_SECRET_A, body, len);
        sy_raw_msg_t m;
        sy_raw_msg_init(h, &m, cases[i].repeat + len + 1024);
        sy_raw_addf(&m, "POST %s", cases[i].prefix);
        for (size_t k = 0; k != cases[i].repeat; ++k)
            m.base[m.len++] = 'a';
        sy_raw_addf(&m, " HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\nContent-Length: %zu\r\n\r\n", sig, len);
        sy_raw_add(&m, body, len);
        sy_raw_exchange(h, h->ingress_port, m.base, m.len, &res);
        expect_status(&res, cases[i].status, cases[i].what);
        if (cases[i].status == 404) {
            const char *err = json_string_value(json_object_get(res.json, "error"));
            assert_true(err != NULL && strcmp(err, "not_found") == 0);
        } else if (!res.closed) {
            sy_raw_dump(cases[i].what, &res);
            fail_msg("%s: expected the connection closed after the %d", cases[i].what, cases[i].status);
        }
        sy_it_release(h, m.base);
    }
    expect_healthy(h);
    sy_state_assert_unchanged(h, before, "absurdly long path");
    ++g_finished;
}

/*
 * Requests cut short: the head ends mid-line, or the body is shorter than Content-Length, then the client closes
 * its side. No answer, the connection is closed, nothing is stored (a partial event is never an event).
 */
static void test_truncated_request(void **state)
{
    sy_it_t *h = g_h;
    json_t *before = sy_state_snapshot(h);
    size_t len;
    char *body = customer_update(h, "evt_http_truncated", &len);
    const char *sig = sig_line(h, SY_IT_STRIPE_SECRET_A, body, len);
    (void)state;

    for (int variant = 0; variant != 3; ++variant) {
        static const char *const what[] = {"head cut inside a header line", "head cut before the empty line",
                                           "body shorter than Content-Length"};
        sy_raw_response_t res;
        sy_raw_msg_t m;
        sy_raw_msg_init(h, &m, len + 1024);
        sy_raw_addf(&m, "POST /hooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n", len);
        if (variant == 0) {
            sy_raw_add(&m, sig, 20);
        } else {
            sy_raw_addf(&m, "%s\r\n", sig);
            if (variant == 2) {
                sy_raw_add(&m, "\r\n", 2);
                sy_raw_add(&m, body, len - 1);
            }
        }
        sy_raw_conn_t *c = sy_raw_open(h, h->ingress_port);
        assert_int_equal(sy_raw_send(c, m.base, m.len), m.len);
        sy_raw_shutdown_write(c);
        sy_raw_read(c, 5.0, 1, &res);
        sy_raw_close(c);
        print_message("  %-58s -> %s, status %d\n", what[variant], res.closed ? "closed" : "STILL OPEN", res.status);
        if (!res.closed || (res.status >= 200 && res.status < 300)) {
            sy_raw_dump(what[variant], &res);
            fail_msg("%s: expected the connection closed and no 2xx", what[variant]);
        }
        sy_it_release(h, m.base);
    }
    expect_healthy(h);
    sy_state_assert_unchanged(h, before, "truncated request");
    ++g_finished;
}

/* Pipelined garbage: a request line that is not HTTP at all, and an unknown HTTP version. 400 from H2O. */
static void test_not_http(void **state)
{
    sy_it_t *h = g_h;
    sy_raw_response_t res;
    json_t *before = sy_state_snapshot(h);
    (void)state;
    static const struct {
        const char *req, *what;
    } cases[] = {
        {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n", "TLS ClientHello bytes on the plain port"},
        {"POST /hooks/stripe HTTP/3.0\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}", "HTTP/3.0 in the request line"},
        {"POST /hooks/stripe\r\nContent-Length: 2\r\n\r\n{}", "no HTTP version (HTTP/0.9 style)"},
    };
    for (size_t i = 0; i != SY_ARRAY_SIZE(cases); ++i) {
        sy_raw_exchange(h, h->ingress_port, cases[i].req, strlen(cases[i].req), &res);
        expect_status(&res, 400, cases[i].what);
    }
    expect_healthy(h);
    sy_state_assert_unchanged(h, before, "not HTTP");
    ++g_finished;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_10mb),
        cmocka_unit_test(test_slowloris),
        cmocka_unit_test(test_http10_client),
        cmocka_unit_test(test_http2_prior_knowledge),
        cmocka_unit_test(test_header_injection),
        cmocka_unit_test(test_long_path),
        cmocka_unit_test(test_truncated_request),
        cmocka_unit_test(test_not_http),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
