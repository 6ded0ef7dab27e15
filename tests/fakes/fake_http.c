/*
 * How sy_fake_spoke answers: JSON answers built now and sent now or later (slow mode), requests that are never
 * answered (hang) and connections closed without an answer (reset).
 */
#include "fake_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct st_deferred_t {
    h2o_timeout_entry_t entry;
    h2o_req_t *req;
    answer_t *answer;
} deferred_t;

typedef struct st_hung_t {
    h2o_linklist_t link;
    fake_server_t *server;
    h2o_req_t *req;
} hung_t;

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 409:
        return "Conflict";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    default:
        return "Unknown";
    }
}

void fake_answer_header(h2o_req_t *req, answer_t *a, const char *name, const char *value)
{
    if (a->num_headers == MAX_EXTRA_HEADERS)
        abort();
    a->headers[a->num_headers].name = name;
    a->headers[a->num_headers].value = h2o_strdup(&req->pool, value, strlen(value));
    ++a->num_headers;
}

void fake_answer_header_u64(h2o_req_t *req, answer_t *a, const char *name, uint64_t value)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)value);
    fake_answer_header(req, a, name, buf);
}

answer_t *fake_answer_create(h2o_req_t *req, const fake_reply_t *r)
{
    answer_t *a = h2o_mem_alloc_pool(&req->pool, sizeof(*a));
    memset(a, 0, sizeof(*a));
    a->status = r->status;
    a->body = h2o_strdup(&req->pool, r->body, strlen(r->body));
    return a;
}

void fake_answer_send(h2o_req_t *req, const answer_t *a)
{
    req->res.status = a->status;
    req->res.reason = reason_of(a->status);
    req->res.content_length = a->body.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    for (size_t i = 0; i != a->num_headers; ++i)
        h2o_add_header_by_str(&req->pool, &req->res.headers, a->headers[i].name, strlen(a->headers[i].name), 0, NULL,
                              a->headers[i].value.base, a->headers[i].value.len);
    h2o_send_inline(req, a->body.base, a->body.len);
}

/* Answers a control request with JSON j (stolen). */
void fake_send_json(h2o_req_t *req, int status, json_t *j)
{
    fake_reply_t r = {0};
    fake_reply_json(&r, status, j);
    fake_answer_send(req, fake_answer_create(req, &r));
    fake_reply_dispose(&r);
}

void fake_send_control_error(h2o_req_t *req, int status, const char *error, const char *message)
{
    fake_send_json(req, status, json_pack("{s:s, s:s}", "error", error, "message", message));
}

/* ---- slow mode: answer after a delay ---- */

static void on_deferred_dispose(void *p)
{
    deferred_t *d = p;
    /* The connection went away before the delay ran out: never touch the request again. */
    if (h2o_timeout_is_linked(&d->entry))
        h2o_timeout_unlink(&d->entry);
}

static void on_deferred_timeout(h2o_timeout_entry_t *entry)
{
    deferred_t *d = H2O_STRUCT_FROM_MEMBER(deferred_t, entry, entry);
    fake_answer_send(d->req, d->answer);
}

/* An h2o_timeout_t of exactly ms (H2O 2.2.5 timeouts have one duration each): reuses or recycles a slot. */
static h2o_timeout_t *timer_for(fake_server_t *s, uint64_t ms)
{
    size_t i, free_slot = NUM_TIMERS;
    for (i = 0; i != NUM_TIMERS; ++i) {
        if (s->timers[i].used && s->timers[i].timeout.timeout == ms)
            return &s->timers[i].timeout;
        if (free_slot == NUM_TIMERS && (!s->timers[i].used || h2o_linklist_is_empty(&s->timers[i].timeout._entries)))
            free_slot = i;
    }
    if (free_slot == NUM_TIMERS)
        return &s->timers[0].timeout; /* every slot busy with another delay: close enough for a fake */
    if (s->timers[free_slot].used)
        h2o_timeout_dispose(s->loop, &s->timers[free_slot].timeout);
    h2o_timeout_init(s->loop, &s->timers[free_slot].timeout, ms);
    s->timers[free_slot].used = 1;
    return &s->timers[free_slot].timeout;
}

void fake_send_later(fake_server_t *s, h2o_req_t *req, answer_t *a, uint64_t delay_ms)
{
    deferred_t *d = h2o_mem_alloc_shared(&req->pool, sizeof(*d), on_deferred_dispose);
    memset(d, 0, sizeof(*d));
    d->entry.cb = on_deferred_timeout;
    d->req = req;
    d->answer = a;
    h2o_timeout_link(s->loop, timer_for(s, delay_ms), &d->entry);
}

/* ---- hang and reset ---- */

static void on_hung_dispose(void *p)
{
    hung_t *h = p;
    if (h2o_linklist_is_linked(&h->link)) {
        h2o_linklist_unlink(&h->link);
        --h->server->num_hung;
    }
}

static h2o_socket_t *conn_socket(h2o_req_t *req)
{
    return req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
}

/*
 * Closes the connection without an answer: shut the socket down (the client reads EOF, and an RST follows when
 * H2O closes it, SO_LINGER 0), then let H2O send a response into the dead socket, which fails and makes H2O close
 * the connection through its normal path (nothing is freed behind its back).
 */
void fake_reset_connection(h2o_req_t *req)
{
    h2o_socket_t *sock = conn_socket(req);
    if (sock != NULL) {
        int fd = h2o_socket_get_fd(sock);
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        shutdown(fd, SHUT_RDWR);
    }
    req->http1_is_persistent = 0;
    req->res.status = 500;
    req->res.reason = "Reset";
    req->res.content_length = 0;
    h2o_send_inline(req, "", 0);
}

void fake_hold(fake_server_t *s, h2o_req_t *req)
{
    hung_t *h = h2o_mem_alloc_shared(&req->pool, sizeof(*h), on_hung_dispose);
    memset(h, 0, sizeof(*h));
    h->server = s;
    h->req = req;
    h2o_linklist_insert(&s->hung, &h->link);
    ++s->num_hung;
}

static void release_hung(hung_t *h)
{
    h2o_req_t *req = h->req;
    on_hung_dispose(h); /* unlink now: the reset below may or may not free the request at once */
    fake_reset_connection(req);
}

/*
 * H2O does not read from a connection while its request is in the handler, so it never notices that the client
 * of a hung request gave up: look for EOF (or an error) ourselves and close those, so they do not pile up.
 * With all != 0, closes every hung connection (POST /_fake/reset).
 */
void fake_reap_hung(fake_server_t *s, int all)
{
    h2o_linklist_t *node = s->hung.next;
    while (node != &s->hung) {
        hung_t *h = H2O_STRUCT_FROM_MEMBER(hung_t, link, node);
        h2o_socket_t *sock = conn_socket(h->req);
        char c;
        node = node->next;
        if (all || sock == NULL) {
            release_hung(h);
            continue;
        }
        ssize_t n = recv(h2o_socket_get_fd(sock), &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            release_hung(h);
    }
}
