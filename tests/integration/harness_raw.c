/*
 * Harness, raw side: HTTP/1.x over plain loopback sockets, the state snapshot and seeding used by the
 * bad-input catalogue. See harness_raw.h.
 */
#include "harness_raw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define EXCHANGE_TIMEOUT_S 10.0
#define CLOSE_WAIT_S 2.0
#define LARGE_CHUNK 65536
#define SNAPSHOT_APPLY_TIMEOUT_S 5.0

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

/* ---- messages -------------------------------------------------------------------------------------------- */

void sy_raw_msg_init(sy_it_t *h, sy_raw_msg_t *m, size_t cap)
{
    *m = (sy_raw_msg_t){.owner = h, .base = sy_it_alloc(h, cap + 1), .cap = cap};
}

void sy_raw_add(sy_raw_msg_t *m, const void *data, size_t len)
{
    if (len > m->cap - m->len)
        fail_msg("raw message over its capacity of %zu bytes", m->cap);
    memcpy(m->base + m->len, data, len);
    m->len += len;
    m->base[m->len] = '\0';
}

void sy_raw_addf(sy_raw_msg_t *m, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(m->base + m->len, m->cap - m->len + 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n > m->cap - m->len)
        fail_msg("raw message over its capacity of %zu bytes", m->cap);
    m->len += (size_t)n;
}

void sy_raw_request(sy_raw_msg_t *m, const char *method, const char *target, const char *version,
                    const char *const *headers, const void *body, size_t len)
{
    sy_raw_addf(m, "%s ", method);
    sy_raw_add(m, target, strlen(target));
    sy_raw_addf(m, " %s\r\nHost: 127.0.0.1\r\n", version);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; ++i) {
        sy_raw_add(m, headers[i], strlen(headers[i]));
        sy_raw_add(m, "\r\n", 2);
    }
    if (body != NULL)
        sy_raw_addf(m, "Content-Length: %zu\r\n", len);
    sy_raw_add(m, "\r\n", 2);
    if (body != NULL)
        sy_raw_add(m, body, len);
}

/* ---- connections ----------------------------------------------------------------------------------------- */

static void conn_release(void *p)
{
    sy_raw_conn_t *c = p;
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

sy_raw_conn_t *sy_raw_open(sy_it_t *h, unsigned short port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sy_raw_conn_t *c = malloc(sizeof(*c));
    assert_non_null(c);
    *c = (sy_raw_conn_t){h, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sy_it_own(h, c, conn_release);
    if (c->fd < 0)
        fail_msg("socket: %s", strerror(errno));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        fail_msg("connect 127.0.0.1:%u: %s", port, strerror(errno));
    return c;
}

void sy_raw_close(sy_raw_conn_t *c)
{
    if (c != NULL)
        sy_it_release(c->owner, c);
}

void sy_raw_shutdown_write(sy_raw_conn_t *c)
{
    if (shutdown(c->fd, SHUT_WR) != 0)
        fail_msg("shutdown: %s", strerror(errno));
}

size_t sy_raw_send(sy_raw_conn_t *c, const void *data, size_t len)
{
    size_t off = 0;
    while (off != len) {
        ssize_t n = send(c->fd, (const char *)data + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            break;
        if (n < 0)
            fail_msg("send: %s", strerror(errno));
        off += (size_t)n;
    }
    return off;
}

/* ---- reading answers ------------------------------------------------------------------------------------- */

typedef struct st_rbuf_t {
    char *base;
    size_t len, cap;
} rbuf_t;

static void rbuf_append(rbuf_t *b, const char *data, size_t n)
{
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap == 0 ? 4096 : b->cap;
        while (cap - b->len < n + 1)
            cap *= 2;
        char *p = realloc(b->base, cap);
        assert_non_null(p);
        b->base = p;
        b->cap = cap;
    }
    memcpy(b->base + b->len, data, n);
    b->len += n;
    b->base[b->len] = '\0';
}

/* Value of name in a head ("...\r\nName: value\r\n..."), copied into out; 0 if absent. */
static int head_value(const char *head, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *line = strstr(head, "\r\n");
    while (line != NULL) {
        line += 2;
        const char *eol = strstr(line, "\r\n");
        size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (len > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            size_t vlen = len - nlen - 1;
            while (vlen != 0 && (*v == ' ' || *v == '\t'))
                ++v, --vlen;
            while (vlen != 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                --vlen;
            if (vlen >= outlen)
                vlen = outlen - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return 1;
        }
        line = eol;
    }
    return 0;
}

/* How far the answer in b is: -1 incomplete, else the total length of head + body. Fills head_len. */
static long answer_length(const rbuf_t *b, size_t *head_len)
{
    char *end, clen[32];
    if (b->base == NULL || (end = strstr(b->base, "\r\n\r\n")) == NULL)
        return -1;
    *head_len = (size_t)(end - b->base) + 4;
    /* head_value wants a NUL after the head: look at a copy */
    char *head = strndup(b->base, *head_len - 2);
    assert_non_null(head);
    int has = head_value(head, "Content-Length", clen, sizeof(clen));
    free(head);
    size_t body = has ? (size_t)strtoull(clen, NULL, 10) : 0;
    if (!has)
        return -1; /* until EOF */
    return b->len >= *head_len + body ? (long)(*head_len + body) : -1;
}

/* Turns what was read into res (owned by h). */
static void fill_response(sy_it_t *h, rbuf_t *b, sy_raw_response_t *res)
{
    size_t head_len = 0;
    long total = answer_length(b, &head_len);
    char *end = b->base != NULL ? strstr(b->base, "\r\n\r\n") : NULL;
    if (end == NULL) {
        res->head = sy_it_own(h, strdup(b->base != NULL ? b->base : ""), free);
        res->body = sy_it_own(h, strdup(""), free);
        res->body_len = 0;
    } else {
        head_len = (size_t)(end - b->base) + 4;
        size_t body_len = total >= 0 ? (size_t)total - head_len : b->len - head_len;
        res->head = sy_it_own(h, strndup(b->base, head_len - 2), free);
        res->body = sy_it_alloc(h, body_len + 1);
        memcpy(res->body, b->base + head_len, body_len);
        res->body_len = body_len;
        if ((res->json = json_loadb(res->body, res->body_len, 0, NULL)) != NULL)
            sy_it_own_json(h, res->json);
    }
    res->status = 0;
    if (strncmp(res->head, "HTTP/1.", 7) == 0 && strlen(res->head) >= 12)
        res->status = atoi(res->head + 9);
    free(b->base);
    *b = (rbuf_t){0};
}

/* Reads until a complete answer (or, with until_close, EOF) or the deadline. Returns 1 if the peer closed. */
static int read_until(int fd, rbuf_t *b, double deadline, int until_close)
{
    char buf[16384];
    size_t head_len;
    for (;;) {
        if (!until_close && answer_length(b, &head_len) >= 0)
            return 0;
        int wait_ms = (int)((deadline - mono_s()) * 1000);
        if (wait_ms <= 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, wait_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return 0;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 1; /* EOF, or reset */
        rbuf_append(b, buf, (size_t)n);
    }
}

void sy_raw_read(sy_raw_conn_t *c, double timeout_s, int wait_close, sy_raw_response_t *res)
{
    double start = mono_s(), deadline = start + timeout_s;
    rbuf_t b = {0};
    *res = (sy_raw_response_t){0};
    res->closed = read_until(c->fd, &b, deadline, 0);
    res->elapsed_s = mono_s() - start;
    if (!res->closed && wait_close)
        res->closed = read_until(c->fd, &b, deadline, 1);
    fill_response(c->owner, &b, res);
}

static int says_close(const char *head)
{
    char v[64];
    return head_value(head, "Connection", v, sizeof(v)) && strcasecmp(v, "close") == 0;
}

void sy_raw_exchange(sy_it_t *h, unsigned short port, const void *req, size_t len, sy_raw_response_t *res)
{
    sy_raw_conn_t *c = sy_raw_open(h, port);
    double start = mono_s();
    size_t sent = sy_raw_send(c, req, len);
    rbuf_t b = {0};
    *res = (sy_raw_response_t){0};
    res->closed = read_until(c->fd, &b, start + EXCHANGE_TIMEOUT_S, 0);
    res->elapsed_s = mono_s() - start;
    if (!res->closed && b.base != NULL) {
        char *end = strstr(b.base, "\r\n\r\n");
        if (end != NULL) {
            *end = '\0';
            int close_said = says_close(b.base);
            *end = '\r';
            if (close_said)
                res->closed = read_until(c->fd, &b, mono_s() + CLOSE_WAIT_S, 1);
        }
    }
    fill_response(h, &b, res);
    res->sent = sent;
    sy_raw_close(c);
}

void sy_raw_send_large(sy_it_t *h, unsigned short port, const char *head, size_t body_total, int chunked,
                       double timeout_s, sy_raw_response_t *res)
{
    sy_raw_conn_t *c = sy_raw_open(h, port);
    double start = mono_s(), deadline = start + timeout_s;
    char *chunk = sy_it_alloc(h, LARGE_CHUNK + 16), *data;
    size_t chunk_len, body_sent = 0, off = 0, head_len;
    rbuf_t b = {0};
    int closed = 0;

    *res = (sy_raw_response_t){0};
    if (sy_raw_send(c, head, strlen(head)) != strlen(head))
        fail_msg("the server closed before the request head was sent");
    if (chunked) {
        int n = snprintf(chunk, 16, "%x\r\n", LARGE_CHUNK);
        memset(chunk + n, 'x', LARGE_CHUNK);
        memcpy(chunk + n + LARGE_CHUNK, "\r\n", 2);
        chunk_len = (size_t)n + LARGE_CHUNK + 2;
    } else {
        memset(chunk, 'x', LARGE_CHUNK);
        chunk_len = LARGE_CHUNK;
    }
    data = chunk;
    if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0)
        fail_msg("fcntl: %s", strerror(errno));
    while (!closed && answer_length(&b, &head_len) < 0 && mono_s() < deadline) {
        int writing = body_sent < body_total;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN | (writing ? POLLOUT : 0)};
        int pr = poll(&pfd, 1, 100);
        if (pr < 0 && errno != EINTR)
            fail_msg("poll: %s", strerror(errno));
        if (pr <= 0)
            continue;
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[16384];
            ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
            if (n > 0)
                rbuf_append(&b, buf, (size_t)n);
            else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                closed = 1;
        }
        if (!closed && writing && (pfd.revents & POLLOUT)) {
            size_t want = chunk_len - off;
            ssize_t n = send(c->fd, data + off, want, MSG_NOSIGNAL);
            if (n > 0) {
                off += (size_t)n;
                if (off == chunk_len) {
                    body_sent += LARGE_CHUNK;
                    off = 0;
                    if (chunked && body_sent >= body_total)
                        sy_raw_send(c, "0\r\n\r\n", 5); /* best effort: a complete chunked body */
                }
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                /* EPIPE / ECONNRESET: the server stopped reading; pick up its answer below */
                break;
            }
        }
    }
    if (!closed && answer_length(&b, &head_len) < 0) {
        double rest = deadline - mono_s();
        closed = read_until(c->fd, &b, mono_s() + (rest > 1.0 ? rest : 1.0), 0);
    }
    res->elapsed_s = mono_s() - start;
    fill_response(h, &b, res);
    res->closed = closed;
    res->sent = body_sent;
    sy_it_release(h, chunk);
    sy_raw_close(c);
}

const char *sy_raw_header(sy_it_t *h, const sy_raw_response_t *res, const char *name)
{
    char v[1024];
    if (res->head == NULL || !head_value(res->head, name, v, sizeof(v)))
        return NULL;
    return sy_it_own(h, strdup(v), free);
}

void sy_raw_dump(const char *what, const sy_raw_response_t *res)
{
    print_error("%s: status %d, closed %d, %zu bytes sent, %.2f s\n--- head ---\n%s\n--- body (%zu bytes) ---\n%.2000s\n",
                what, res->status, res->closed, res->sent, res->elapsed_s, res->head != NULL ? res->head : "",
                res->body_len, res->body != NULL ? res->body : "");
}

const char *sy_raw_bearer(sy_it_t *h)
{
    char *s = sy_it_alloc(h, sizeof(h->admin_token) + 8);
    snprintf(s, sizeof(h->admin_token) + 8, "Bearer %s", h->admin_token);
    return s;
}

/* ---- state snapshot --------------------------------------------------------------------------------------- */

static void wait_idle(sy_it_t *h)
{
    double deadline = mono_s() + SNAPSHOT_APPLY_TIMEOUT_S;
    for (;;) {
        json_t *st = sy_itr_status(h), *applier = json_object_get(st, "applier");
        json_int_t last = json_integer_value(json_object_get(json_object_get(st, "log"), "last_seq"));
        json_int_t cursor = json_integer_value(json_object_get(applier, "cursor"));
        if (cursor == last) {
            sy_it_release(h, st);
            return;
        }
        if (mono_s() > deadline)
            fail_msg("the applier is stuck: cursor %lld, log last_seq %lld after %.0f s (status: %s)", (long long)cursor,
                     (long long)last, SNAPSHOT_APPLY_TIMEOUT_S, sy_itr_text(h, st));
        sy_it_release(h, st);
        nap_ms(10);
    }
}

json_t *sy_state_snapshot(sy_it_t *h)
{
    json_t *snap, *stats, *health, *records, *queue;
    wait_idle(h);
    stats = sy_it_cli_json(h, "log", "stats", "--json", NULL);
    health = sy_itr_health(h);
    records = sy_itr_records(h);
    queue = sy_itr_queue(h);
    snap = json_pack("{s:{s:O, s:O, s:O}, s:O, s:O, s:O, s:O}", "log", "events", json_object_get(stats, "events"),
                     "last_seq", json_object_get(stats, "last_seq"), "by_source", json_object_get(stats, "by_source"),
                     "records", records, "queue", queue, "counters", json_object_get(health, "counters"),
                     "dead_letters", json_object_get(health, "dead_letters"));
    if (snap == NULL)
        fail_msg("snapshot: unexpected CLI output (log stats: %s; health: %s)", sy_itr_text(h, stats), sy_itr_text(h, health));
    sy_it_release(h, stats);
    sy_it_release(h, health);
    sy_it_release(h, records);
    sy_it_release(h, queue);
    return sy_it_own_json(h, snap);
}

void sy_state_assert_delta(sy_it_t *h, json_t *before, json_int_t log_delta, json_int_t unmapped_delta, const char *what)
{
    json_t *after = sy_state_snapshot(h);
    json_t *want_counters = json_deep_copy(json_object_get(before, "counters"));
    json_int_t unmapped = json_integer_value(json_object_get(want_counters, "unmapped_events"));
    json_int_t events_before = json_integer_value(json_object_get(json_object_get(before, "log"), "events"));
    json_int_t events_after = json_integer_value(json_object_get(json_object_get(after, "log"), "events"));
    const char *changed = NULL;

    sy_it_own_json(h, want_counters);
    json_object_set_new(want_counters, "unmapped_events", json_integer(unmapped + unmapped_delta));
    if (events_after != events_before + log_delta)
        changed = "the log's event count";
    else if (log_delta == 0 && !json_equal(json_object_get(before, "log"), json_object_get(after, "log")))
        changed = "the log (log stats --json)";
    else if (!json_equal(json_object_get(before, "records"), json_object_get(after, "records")))
        changed = "the golden records (records list --json)";
    else if (!json_equal(json_object_get(before, "queue"), json_object_get(after, "queue")))
        changed = "the queue (queue ls --json)";
    else if (!json_equal(want_counters, json_object_get(after, "counters")))
        changed = "the applier counters (health --json .counters)";
    else if (!json_equal(json_object_get(before, "dead_letters"), json_object_get(after, "dead_letters")))
        changed = "the dead letters";
    if (changed != NULL) {
        print_error("%s: before: %s\n", what, sy_itr_text(h, before));
        print_error("%s: after:  %s\n", what, sy_itr_text(h, after));
        fail_msg("%s: %s changed (expected: log %+lld events, unmapped_events %+lld, nothing else)", what, changed,
                 (long long)log_delta, (long long)unmapped_delta);
    }
    sy_it_release(h, after);
}

/* ---- seeding ---------------------------------------------------------------------------------------------- */

void sy_state_seed(sy_it_t *h)
{
    int64_t now_s = sy_now_ms() / 1000, now_ms = sy_now_ms();
    json_t *records, *queue;

    sy_itr_stripe(h, "evt_seed_1", "customer.created", now_s - 60,
                  sy_itr_customer("cus_seed_ana", "ana@acme.example", "Ana Lima", "+4930123456", "51"));
    sy_itr_hs_change(h, 900001, 51, now_ms - 50000, "email", "ana@acme.example");
    sy_itr_hs_change(h, 900002, 51, now_ms - 49000, "name", "Ana Lima");
    sy_itr_hs_change(h, 900003, 51, now_ms - 48000, "company", "Acme Corp");
    sy_itr_stripe(h, "evt_seed_2", "customer.subscription.updated", now_s - 40,
                  sy_itr_subscription("sub_seed_1", "cus_seed_ana", "active", "price_pro", 4900));
    sy_itr_stripe(h, "evt_seed_3", "customer.created", now_s - 30,
                  sy_itr_customer("cus_seed_bo", "bo@beta.example", "Bo Berg", NULL, NULL));
    sy_itr_wait_applied(h);
    records = sy_itr_records(h);
    queue = sy_itr_queue(h);
    if (json_array_size(records) < 2 || json_array_size(queue) < 1)
        fail_msg("seeding: expected at least 2 records and 1 queued push, got records %s, queue %s",
                 sy_itr_text(h, records), sy_itr_text(h, queue));
    sy_it_release(h, records);
    sy_it_release(h, queue);
}

sy_it_t *sy_catalogue_start(void **state, const sy_it_options_t *opts)
{
    sy_it_t *h = sy_it_create(state, opts);
    char *policy = sy_itr_example_policy(h);
    sy_itr_set_policy(h, sy_it_write_file(h, "customers.yaml", policy, strlen(policy)));
    sy_it_start(h);
    sy_state_seed(h);
    return h;
}

void sy_catalogue_finish(sy_it_t *h, int all_cases_finished)
{
    /* The hub must stay healthy through the whole catalogue. */
    if (h != NULL && all_cases_finished && h->pid > 0) {
        sy_it_response_t res;
        if (sy_it_request(h, h->admin_port, "GET", "/healthz", NULL, NULL, 0, &res) == 0 && res.status == 200)
            sy_it_pass(h);
        sy_it_response_dispose(&res);
    }
    sy_it_destroy(h);
}
