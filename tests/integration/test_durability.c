/*
 * Durability on the real binary: a graceful restart keeps the log and the dedupe index; a burst over several
 * connections followed by kill -9 loses no acknowledged event and stores none twice; a kill in the middle of
 * a burst keeps every acknowledged event, and the provider's retries then complete the log exactly once;
 * SIGTERM under load exits 0 after answering what it committed.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define SLOTS 8 /* concurrent connections */

typedef struct st_slot_t {
    CURL *easy;
    sy_it_headers_t hd;
    struct curl_slist *list;
    char *body;
    size_t len;
    char *resp;
    size_t resp_len;
    size_t job;
    int busy;
} slot_t;

/* One burst: jobs[i] is the id number sent by request i ("<prefix><number>"). */
typedef struct st_burst_t {
    sy_it_t *h;
    const char *prefix;
    const unsigned *jobs;
    size_t num_jobs;
    size_t kill_at;     /* signal the server right after this many 2xx (0: never) */
    int kill_sig;       /* SIGKILL (default): kill and reap at once; SIGTERM: let in-flight requests finish */
    json_int_t *seq_of; /* per id number: acknowledged seq, 0 if none yet */
    unsigned *fresh;    /* per id number: acknowledgements with duplicate:false */
    size_t acked;
    int killed;
    char error[1024]; /* first failure, reported after cleanup */
} burst_t;

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    slot_t *s = userdata;
    size_t n = size * nmemb;
    char *p = realloc(s->resp, s->resp_len + n + 1);
    if (p == NULL)
        return 0;
    memcpy(p + s->resp_len, ptr, n);
    s->resp = p;
    s->resp_len += n;
    s->resp[s->resp_len] = '\0';
    return n;
}

static void event_id(const burst_t *b, unsigned num, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%05u", b->prefix, num);
}

static void slot_start(burst_t *b, CURLM *m, slot_t *s, size_t job)
{
    char id[64], url[128];
    event_id(b, b->jobs[job], id, sizeof(id));
    s->body = sy_it_stripe_event(b->h, id, b->jobs[job] % 3 == 0 ? "invoice.paid" : "customer.updated", 1700000000 + b->jobs[job],
                                 0, &s->len);
    sy_it_sign_stripe(&s->hd, SY_IT_STRIPE_SECRET_A, s->body, s->len, sy_now_ms() / 1000);
    for (size_t i = 0; i != s->hd.count; ++i)
        s->list = curl_slist_append(s->list, s->hd.lines[i]);
    s->list = curl_slist_append(s->list, "Content-Type: application/json");
    s->list = curl_slist_append(s->list, "Expect:");
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/hooks/stripe", b->h->ingress_port);
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->list);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->len);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    s->job = job;
    s->busy = 1;
    curl_multi_add_handle(m, s->easy);
}

static void slot_clear(burst_t *b, slot_t *s)
{
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(s->list);
    sy_it_headers_dispose(&s->hd);
    sy_it_release(b->h, s->body);
    free(s->resp);
    s->list = NULL;
    s->body = s->resp = NULL;
    s->len = s->resp_len = 0;
    s->busy = 0;
}

/* Records one answer; returns 0, or -1 with b->error set. */
static int slot_finish(burst_t *b, slot_t *s, CURLcode result)
{
    unsigned num = b->jobs[s->job];
    long status = 0;
    json_t *j = NULL, *seq, *dup;
    int rc = -1;

    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (b->killed && (result != CURLE_OK || status != 200))
        return 0; /* cut off by the kill: unacknowledged */
    if (result != CURLE_OK || status != 200 || (j = json_loadb(s->resp, s->resp_len, 0, NULL)) == NULL ||
        !json_is_integer(seq = json_object_get(j, "seq")) || !json_is_boolean(dup = json_object_get(j, "duplicate"))) {
        snprintf(b->error, sizeof(b->error), "request %zu (id %u): %s, HTTP %ld, body %.300s", s->job, num,
                 curl_easy_strerror(result), status, s->resp != NULL ? s->resp : "");
        goto Exit;
    }
    if (b->seq_of[num] == 0) {
        b->seq_of[num] = json_integer_value(seq);
    } else if (b->seq_of[num] != json_integer_value(seq)) {
        snprintf(b->error, sizeof(b->error), "id %u acknowledged as seq %lld and later as seq %lld", num, (long long)b->seq_of[num],
                 (long long)json_integer_value(seq));
        goto Exit;
    }
    if (!json_is_true(dup) && ++b->fresh[num] > 1) {
        snprintf(b->error, sizeof(b->error), "id %u stored twice (two answers with duplicate:false)", num);
        goto Exit;
    }
    ++b->acked;
    rc = 0;
Exit:
    if (j != NULL)
        json_decref(j);
    return rc;
}

static void burst_run(burst_t *b)
{
    CURLM *m = curl_multi_init();
    slot_t slots[SLOTS] = {0};
    size_t next = 0;
    int failed = 0;

    assert_non_null(m);
    for (size_t i = 0; i != SLOTS; ++i)
        assert_non_null(slots[i].easy = curl_easy_init());
    for (;;) {
        int busy = 0, running, done = 0;
        CURLMsg *msg;
        for (size_t i = 0; i != SLOTS; ++i) {
            if (!slots[i].busy && next < b->num_jobs && !b->killed && !failed)
                slot_start(b, m, &slots[i], next++);
            busy += slots[i].busy;
        }
        if (busy == 0 || failed)
            break;
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &running)) != NULL) {
            slot_t *s = NULL;
            if (msg->msg != CURLMSG_DONE)
                continue;
            ++done;
            for (size_t i = 0; i != SLOTS; ++i)
                if (slots[i].easy == msg->easy_handle)
                    s = &slots[i];
            CURLcode result = msg->data.result;
            curl_multi_remove_handle(m, s->easy);
            if (!failed && slot_finish(b, s, result) != 0) /* after the kill, answers already received still count */
                failed = 1;
            slot_clear(b, s);
            if (!failed && b->kill_at != 0 && b->acked == b->kill_at && !b->killed) {
                if (b->kill_sig == SIGTERM)
                    sy_it_signal(b->h, SIGTERM); /* the requests in flight may still be answered */
                else
                    sy_it_kill(b->h); /* immediately after that 2xx, with the other requests in flight */
                b->killed = 1;
            }
        }
        if (b->killed && b->kill_sig != SIGTERM)
            break;
        if (!failed && done == 0) /* refill freed slots first: never poll with nothing in flight */
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    for (size_t i = 0; i != SLOTS; ++i) {
        if (slots[i].busy) {
            curl_multi_remove_handle(m, slots[i].easy);
            slot_clear(b, &slots[i]);
        }
        curl_easy_cleanup(slots[i].easy);
    }
    curl_multi_cleanup(m);
    if (failed)
        fail_msg("burst: %s", b->error);
}

/* `log tail -n n --json`: the parsed lines as an array (owned by the harness). */
static json_t *log_tail(sy_it_t *h, size_t n)
{
    char num[32];
    sy_it_output_t o;
    json_t *all = sy_it_own_json(h, json_array());
    snprintf(num, sizeof(num), "%zu", n);
    sy_it_cli(h, &o, "log", "tail", "-n", num, "--json", NULL);
    if (o.status != 0)
        fail_msg("log tail exit %d: %s", o.status, o.err);
    for (char *line = o.out, *end; *line != '\0'; line = end) {
        end = strchr(line, '\n');
        end = end != NULL ? end + 1 : line + strlen(line);
        if (end - line <= 1)
            continue;
        json_t *j = json_loadb(line, (size_t)(end - line), 0, NULL);
        if (j == NULL)
            fail_msg("log tail line is not JSON: %.*s", (int)(end - line), line);
        json_array_append_new(all, j);
    }
    sy_it_output_dispose(&o);
    return all;
}

/*
 * Checks the stored log against the burst: every acknowledged id is stored under its seq, no id is stored
 * twice, no other event of this prefix exists. Returns the number of stored events of this burst.
 */
static size_t check_log(sy_it_t *h, const burst_t *b, size_t num_ids, size_t tail_n)
{
    json_t *tail = log_tail(h, tail_n), *e;
    json_int_t *stored = sy_it_alloc(h, num_ids * sizeof(*stored));
    size_t idx, count = 0, plen = strlen(b->prefix);
    json_array_foreach(tail, idx, e)
    {
        const char *id = json_string_value(json_object_get(e, "event_id"));
        json_int_t seq = json_integer_value(json_object_get(e, "seq"));
        assert_non_null(id);
        assert_string_equal(json_string_value(json_object_get(e, "source")), "stripe");
        assert_string_equal(json_string_value(json_object_get(json_object_get(e, "body"), "id")), id);
        if (strncmp(id, b->prefix, plen) != 0)
            continue;
        unsigned long num = strtoul(id + plen, NULL, 10);
        assert_true(num < num_ids);
        if (stored[num] != 0)
            fail_msg("%s stored twice: seq %lld and %lld", id, (long long)stored[num], (long long)seq);
        stored[num] = seq;
        ++count;
    }
    for (size_t i = 0; i != num_ids; ++i) {
        if (b->seq_of[i] != 0 && stored[i] == 0)
            fail_msg("%s%05zu was acknowledged as seq %lld but is missing after the restart", b->prefix, i,
                     (long long)b->seq_of[i]);
        if (b->seq_of[i] != 0 && stored[i] != b->seq_of[i])
            fail_msg("%s%05zu was acknowledged as seq %lld but is stored at seq %lld", b->prefix, i, (long long)b->seq_of[i],
                     (long long)stored[i]);
    }
    sy_it_release(h, stored);
    sy_it_release(h, tail);
    return count;
}

/* Spot checks with `log show SEQ --json`. */
static void show_some(sy_it_t *h, const burst_t *b, size_t num_ids, size_t step)
{
    for (size_t i = 0; i < num_ids; i += step) {
        char id[64];
        if (b->seq_of[i] == 0)
            continue;
        event_id(b, (unsigned)i, id, sizeof(id));
        json_t *shown = sy_it_log_show(h, b->seq_of[i]);
        assert_int_equal(json_integer_value(json_object_get(shown, "seq")), b->seq_of[i]);
        assert_string_equal(json_string_value(json_object_get(shown, "event_id")), id);
        assert_string_equal(json_string_value(json_object_get(json_object_get(shown, "body"), "id")), id);
    }
}

/* SIGTERM exits 0 and the restarted hub keeps the log and the dedupe index. */
static void test_graceful_restart(void **state)
{
    enum { A = 5 };
    sy_it_t *h = sy_it_create(state, NULL);
    sy_it_response_t res;
    json_int_t a_seq[A];
    char id[32], *body;
    size_t len;
    int status;

    sy_it_start(h);
    for (int i = 0; i != A; ++i) {
        snprintf(id, sizeof(id), "evt_a_%d", i);
        body = sy_it_stripe_event(h, id, "customer.updated", 1700000000 + i, 0, &len);
        sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, body, len, &res);
        a_seq[i] = sy_it_assert_stored(&res, 0);
        sy_it_response_dispose(&res);
    }
    /* clients that keep connections open (as providers do) must not stop the hub from exiting */
    int idle[] = {sy_it_connect(h, h->ingress_port, NULL),
                  sy_it_connect(h, h->ingress_port, "GET /hooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
                  sy_it_connect(h, h->admin_port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")};
    status = sy_it_stop(h); /* asserted at the end, so that a bad exit does not hide the checks below */
    for (size_t i = 0; i != SY_ARRAY_SIZE(idle); ++i)
        close(idle[i]);
    sy_it_start(h);
    assert_int_equal(sy_it_log_count(h), A);
    for (int i = 0; i != A; ++i) {
        json_t *shown = sy_it_log_show(h, a_seq[i]);
        snprintf(id, sizeof(id), "evt_a_%d", i);
        assert_string_equal(json_string_value(json_object_get(shown, "event_id")), id);
    }
    body = sy_it_stripe_event(h, "evt_a_2", "customer.updated", 1700000002, 0, &len);
    sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, body, len, &res);
    assert_int_equal(sy_it_assert_stored(&res, 1), a_seq[2]);
    sy_it_response_dispose(&res);
    body = sy_it_stripe_event(h, "evt_a_new", "customer.updated", 1700000009, 0, &len);
    sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, body, len, &res);
    assert_true(sy_it_assert_stored(&res, 0) > a_seq[A - 1]);
    sy_it_response_dispose(&res);
    assert_int_equal(sy_it_log_count(h), A + 1);
    if (status != 0)
        fail_msg("switchyard exited with status %d after SIGTERM (expected 0); see the log", status);
    sy_it_pass(h);
}

/* ~2000 events over SLOTS connections with duplicates, kill -9 right after the last 2xx, restart, check all. */
static void test_burst_then_kill9(void **state)
{
    enum { IDS = 2000, PRE = 3 };
    sy_it_t *h = sy_it_create(state, NULL);
    sy_it_response_t res;
    json_int_t pre_seq[PRE], max_seq = 0;
    unsigned *jobs = sy_it_alloc(h, (IDS + IDS / 100 + IDS / 50) * sizeof(*jobs));
    burst_t b = {.h = h, .prefix = "evt_burst_", .jobs = jobs};
    char id[32], *body;
    size_t len;
    json_t *stats;

    sy_it_start(h);
    for (int i = 0; i != PRE; ++i) {
        snprintf(id, sizeof(id), "evt_pre_%d", i);
        body = sy_it_stripe_event(h, id, "customer.updated", 1700000000 + i, 0, &len);
        sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, body, len, &res);
        pre_seq[i] = sy_it_assert_stored(&res, 0);
        sy_it_response_dispose(&res);
    }

    /* every id once, every 100th twice back to back (concurrent duplicates), every 50th again at the end */
    for (unsigned i = 0; i != IDS; ++i) {
        jobs[b.num_jobs++] = i;
        if (i % 100 == 0)
            jobs[b.num_jobs++] = i;
    }
    for (unsigned i = 25; i < IDS; i += 50)
        jobs[b.num_jobs++] = i;
    b.kill_at = b.num_jobs;
    b.seq_of = sy_it_alloc(h, IDS * sizeof(*b.seq_of));
    b.fresh = sy_it_alloc(h, IDS * sizeof(*b.fresh));
    burst_run(&b);
    assert_true(b.killed);
    assert_int_equal(b.acked, b.num_jobs);
    for (size_t i = 0; i != IDS; ++i) {
        assert_int_equal(b.fresh[i], 1);
        for (int k = 0; k != PRE; ++k)
            assert_true(b.seq_of[i] != pre_seq[k]);
        if (b.seq_of[i] > max_seq)
            max_seq = b.seq_of[i];
    }

    sy_it_start(h);
    assert_int_equal(check_log(h, &b, IDS, IDS), IDS);
    stats = sy_it_cli_json(h, "log", "stats", "--json", NULL);
    assert_int_equal(json_integer_value(json_object_get(stats, "events")), PRE + IDS);
    assert_int_equal(json_integer_value(json_object_get(stats, "last_seq")), max_seq);
    show_some(h, &b, IDS, 97);
    for (int i = 0; i != PRE; ++i) {
        json_t *shown = sy_it_log_show(h, pre_seq[i]);
        snprintf(id, sizeof(id), "evt_pre_%d", i);
        assert_string_equal(json_string_value(json_object_get(shown, "event_id")), id);
    }

    /* the dedupe index survived the kill too */
    body = sy_it_stripe_event(h, "evt_burst_01234", "customer.updated", 1700001234, 0, &len);
    sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, body, len, &res);
    assert_int_equal(sy_it_assert_stored(&res, 1), b.seq_of[1234]);
    sy_it_response_dispose(&res);
    assert_int_equal(sy_it_log_count(h), PRE + IDS);

    sy_it_pass(h);
}

static void test_kill_mid_burst(void **state)
{
    enum { IDS = 1000, KILL_AT = 400 };
    sy_it_t *h = sy_it_create(state, NULL);
    unsigned *jobs = sy_it_alloc(h, IDS * sizeof(*jobs));
    burst_t b = {.h = h, .prefix = "evt_mid_", .jobs = jobs, .num_jobs = IDS, .kill_at = KILL_AT};
    size_t stored;

    for (unsigned i = 0; i != IDS; ++i)
        jobs[i] = i;
    b.seq_of = sy_it_alloc(h, IDS * sizeof(*b.seq_of));
    b.fresh = sy_it_alloc(h, IDS * sizeof(*b.fresh));

    sy_it_start(h);
    burst_run(&b);
    assert_true(b.killed);
    assert_true(b.acked >= KILL_AT && b.acked < KILL_AT + SLOTS);

    sy_it_start(h);
    stored = check_log(h, &b, IDS, IDS); /* every acknowledged id is there, under its seq, once */
    print_message("acknowledged %zu, stored %zu after kill -9\n", b.acked, stored);
    assert_true(stored >= b.acked && stored < KILL_AT + SLOTS);
    assert_int_equal(sy_it_log_count(h), stored);

    /* the provider retries everything: acknowledged ids answer their seq as duplicates, the rest get stored */
    b.kill_at = 0;
    b.killed = 0;
    b.acked = 0;
    burst_run(&b);
    assert_int_equal(b.acked, IDS);
    for (size_t i = 0; i != IDS; ++i) {
        assert_true(b.seq_of[i] > 0);
        assert_true(b.fresh[i] <= 1);
    }
    assert_int_equal(sy_it_log_count(h), IDS);
    assert_int_equal(check_log(h, &b, IDS, IDS), IDS);
    assert_int_equal(sy_it_stop(h), 0); /* SIGTERM after load: in-flight commits finish, exit 0 */

    sy_it_pass(h);
}

/* SIGTERM in the middle of a burst: exit 0, and every event acknowledged before the exit is in the log. */
static void test_sigterm_under_load(void **state)
{
    enum { IDS = 1000, TERM_AT = 300 };
    sy_it_t *h = sy_it_create(state, NULL);
    unsigned *jobs = sy_it_alloc(h, IDS * sizeof(*jobs));
    burst_t b = {.h = h, .prefix = "evt_term_", .jobs = jobs, .num_jobs = IDS, .kill_at = TERM_AT, .kill_sig = SIGTERM};
    size_t stored;
    int status;

    for (unsigned i = 0; i != IDS; ++i)
        jobs[i] = i;
    b.seq_of = sy_it_alloc(h, IDS * sizeof(*b.seq_of));
    b.fresh = sy_it_alloc(h, IDS * sizeof(*b.fresh));

    sy_it_start(h);
    burst_run(&b); /* after the signal: no new requests, the ones in flight end either way */
    status = sy_it_wait(h);
    assert_true(b.killed);
    assert_true(b.acked >= TERM_AT && b.acked < TERM_AT + SLOTS);

    sy_it_start(h);
    stored = check_log(h, &b, IDS, IDS);
    print_message("acknowledged %zu, stored %zu after SIGTERM\n", b.acked, stored);
    assert_true(stored >= b.acked && stored < TERM_AT + SLOTS);
    assert_int_equal(sy_it_log_count(h), stored);
    if (status != 0)
        fail_msg("switchyard exited with status %d after SIGTERM under load (expected 0); see the log", status);

    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_graceful_restart, teardown),
        cmocka_unit_test_teardown(test_burst_then_kill9, teardown),
        cmocka_unit_test_teardown(test_kill_mid_burst, teardown),
        cmocka_unit_test_teardown(test_sigterm_under_load, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
