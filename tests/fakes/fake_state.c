/*
 * The fake's memory: objects, the idempotency store, the request log, the sliding rate window and the counters
 * that GET /_fake/state reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake.h"

static void *xrealloc(void *p, size_t n)
{
    if ((p = realloc(p, n)) == NULL)
        abort();
    return p;
}

static json_t *xjson(json_t *j)
{
    if (j == NULL)
        abort();
    return j;
}

uint64_t fake_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *fake_api_name(fake_api_t api)
{
    return (unsigned)api < FAKE_API_COUNT ? fake_api_names[api] : "?";
}

int64_t fake_now_s(void)
{
    return (int64_t)time(NULL);
}

void fake_now_iso(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    char base[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    /* The millisecond part is 0..999: bound it so the compiler can see the output fits. */
    snprintf(buf, len, "%.19s.%03dZ", base, (int)(ts.tv_nsec / 1000000) % 1000);
}

const char *const fake_api_names[] = {"stripe", "hubspot", "slack", "webhook", "intercom", "google_sheets", "quickbooks"};

void fake_state_init(fake_state_t *st, fake_api_t api, unsigned rate_limit, uint64_t window_ms)
{
    memset(st, 0, sizeof(*st));
    st->api = api;
    st->rate_limit = rate_limit;
    st->window_ms = window_ms;
    st->retry_after = 1;
    st->objects = xjson(json_object());
    st->events = xjson(json_array());
    st->modified = xjson(json_object());
    st->idem = xjson(json_object());
    st->by_key = xjson(json_object());
    st->requests = xjson(json_array());
    st->next_id = 1;
}

void fake_state_dispose(fake_state_t *st)
{
    json_decref(st->objects);
    json_decref(st->events);
    json_decref(st->modified);
    json_decref(st->idem);
    json_decref(st->by_key);
    json_decref(st->requests);
    json_decref(st->partial_ids);
    free(st->win);
    memset(st, 0, sizeof(*st));
}

void fake_state_clear(fake_state_t *st)
{
    fake_api_t api = st->api;
    unsigned limit = st->rate_limit;
    uint64_t window = st->window_ms;
    int retry_after = st->retry_after;
    fake_state_dispose(st);
    const char *secret = st->secret;
    fake_state_init(st, api, limit, window);
    st->retry_after = retry_after;
    st->secret = secret;
}

void fake_state_set_rate(fake_state_t *st, unsigned limit, uint64_t window_ms)
{
    st->rate_limit = limit;
    st->window_ms = window_ms;
}

static void window_prune(fake_state_t *st, uint64_t now_ms)
{
    while (st->win_len != 0 && st->win[st->win_head] + st->window_ms <= now_ms) {
        st->win_head = (st->win_head + 1) % st->win_cap;
        --st->win_len;
    }
}

static void window_push(fake_state_t *st, uint64_t now_ms)
{
    if (st->win_len == st->win_cap) {
        if (st->win_cap == FAKE_WINDOW_MAX) {
            /* Full: forget the oldest (only an unlimited fake under a flood gets here). */
            st->win_head = (st->win_head + 1) % st->win_cap;
            --st->win_len;
        } else {
            size_t ncap = st->win_cap == 0 ? 1024 : st->win_cap * 2;
            uint64_t *nwin = xrealloc(NULL, ncap * sizeof(*nwin));
            for (size_t i = 0; i != st->win_len; ++i)
                nwin[i] = st->win[(st->win_head + i) % st->win_cap];
            free(st->win);
            st->win = nwin;
            st->win_cap = ncap;
            st->win_head = 0;
        }
    }
    st->win[(st->win_head + st->win_len) % st->win_cap] = now_ms;
    ++st->win_len;
}

int fake_state_admit(fake_state_t *st, uint64_t now_ms, unsigned *remaining, uint64_t *retry_ms)
{
    window_prune(st, now_ms);
    if (st->rate_limit != 0 && st->win_len >= st->rate_limit) {
        ++st->rate_limited;
        *remaining = 0;
        *retry_ms = st->win[st->win_head] + st->window_ms - now_ms;
        return 0;
    }
    window_push(st, now_ms);
    ++st->accepted;
    if (st->win_len > st->max_in_window)
        st->max_in_window = st->win_len;
    *remaining = st->rate_limit > st->win_len ? st->rate_limit - (unsigned)st->win_len : 0;
    *retry_ms = st->win[st->win_head] + st->window_ms - now_ms;
    return 1;
}

/* A JSON string of at most max bytes of s (a cut backs off to a UTF-8 boundary); a placeholder if not UTF-8. */
static json_t *string_prefix(const char *s, size_t len, size_t max, int *truncated)
{
    json_t *j;
    int backs = 0;
    if ((*truncated = len > max) != 0) {
        len = max;
        backs = 3; /* a UTF-8 sequence is at most 4 bytes: the cut may have split one */
    }
    for (int back = 0; back <= backs && (size_t)back <= len; ++back)
        if ((j = json_stringn(s, len - (size_t)back)) != NULL)
            return j;
    return xjson(json_sprintf("<%zu bytes, not UTF-8>", len));
}

void fake_state_log(fake_state_t *st, const char *method, const char *path_and_query, const char *idem_key, const char *body,
                    size_t body_len, int status, const char *fault, int replayed)
{
    char when[40];
    int truncated;
    json_t *e = xjson(json_object());

    fake_now_iso(when, sizeof(when));
    json_object_set_new(e, "method", xjson(json_string(method)));
    json_object_set_new(e, "path", string_prefix(path_and_query, strlen(path_and_query), 4096, &truncated));
    json_object_set_new(e, "idempotency_key",
                        idem_key != NULL ? string_prefix(idem_key, strlen(idem_key), 4096, &truncated) : json_null());
    json_object_set_new(e, "body", string_prefix(body, body_len, FAKE_LOG_BODY_MAX, &truncated));
    if (truncated)
        json_object_set_new(e, "body_truncated", json_true());
    json_object_set_new(e, "status", json_integer(status));
    json_object_set_new(e, "fault", fault != NULL ? json_string(fault) : json_null());
    json_object_set_new(e, "replayed", json_boolean(replayed));
    json_object_set_new(e, "at", xjson(json_string(when)));
    if (json_array_size(st->requests) >= FAKE_LOG_MAX)
        json_array_remove(st->requests, 0);
    json_array_append_new(st->requests, e);
}

void fake_state_count_key(fake_state_t *st, const char *key)
{
    json_t *n = json_object_get(st->by_key, key);
    json_object_set_new(st->by_key, key, json_integer(json_integer_value(n) + 1));
}

json_t *fake_state_idem_find(fake_state_t *st, const char *key, const char *fingerprint, int *same_params)
{
    json_t *e = json_object_get(st->idem, key);
    if (e != NULL)
        *same_params = strcmp(json_string_value(json_object_get(e, "fingerprint")), fingerprint) == 0;
    return e;
}

void fake_state_idem_store(fake_state_t *st, const char *key, const char *fingerprint, int status, const char *body)
{
    json_t *e = json_pack("{s:s, s:i, s:s}", "fingerprint", fingerprint, "status", status, "body", body);
    json_object_set_new(st->idem, key, xjson(e));
}

json_t *fake_state_json(const fake_state_t *st)
{
    json_t *j = json_pack("{s:s, s:O, s:I, s:I, s:I, s:I, s:I, s:O, s:{s:I, s:I, s:b}}", "api",
                          fake_api_names[st->api], "objects", st->objects, "requests",
                          (json_int_t)st->num_requests, "accepted", (json_int_t)st->accepted, "rate_limited",
                          (json_int_t)st->rate_limited, "max_in_window", (json_int_t)st->max_in_window, "idempotent_replays",
                          (json_int_t)st->replays, "by_key", st->by_key, "rate", "limit", (json_int_t)st->rate_limit, "window_ms",
                          (json_int_t)st->window_ms, "retry_after", st->retry_after);
    return xjson(j);
}

int fake_state_write(const fake_state_t *st, const char *path)
{
    json_t *j = fake_state_json(st);
    int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    return rc == 0 ? 0 : -1;
}

void fake_reply_json(fake_reply_t *r, int status, json_t *j)
{
    free(r->body);
    r->status = status;
    r->body = json_dumps(xjson(j), JSON_COMPACT);
    json_decref(j);
    if (r->body == NULL)
        abort();
}

void fake_reply_dispose(fake_reply_t *r)
{
    free(r->body);
    r->body = NULL;
}
