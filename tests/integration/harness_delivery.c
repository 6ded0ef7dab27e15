/*
 * Harness, delivery side: fake spokes, api sections, parallel Stripe posting, the dead CLI, /metrics, polling.
 */
#include "harness_delivery.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define FAKE_START_TIMEOUT_S 15.0
#define FAKE_STOP_TIMEOUT_S 10.0
#define POLL_MS 50

void sy_itd_nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

double sy_itd_now_s(void)
{
    return (double)sy_mono_ns() / 1e9;
}

/* ---- fake spokes ------------------------------------------------------------------------------------------- */

static void fake_release(void *p)
{
    sy_itd_fake_t *f = p;
    sy_itd_fake_stop(f);
    free(f);
}

sy_itd_fake_t *sy_itd_fake_start(sy_it_t *h, const char *api, const char *token, const char *rate, int retry_after)
{
    const char *bin = getenv("SY_FAKE");
    static unsigned started;
    int out[2];
    char line[128];
    size_t n = 0;
    double deadline;
    sy_itd_fake_t *f;

    if (bin == NULL || bin[0] == '\0')
        fail_msg("SY_FAKE is not set (ctest sets it to the sy_fake_spoke binary)");
    if (access(bin, X_OK) != 0)
        fail_msg("SY_FAKE=%s is not executable: %s", bin, strerror(errno));
    /* Loopback only: neither the fake's control calls nor the hub's pushes may go through a proxy. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    f = sy_it_own(h, calloc(1, sizeof(*f)), fake_release);
    f->h = h;
    f->out_fd = -1;
    snprintf(f->api, sizeof(f->api), "%s", api);
    if (token == NULL)
        token = strcmp(api, "stripe") == 0 ? SY_ITD_STRIPE_TOKEN : SY_ITD_HUBSPOT_TOKEN;
    snprintf(f->token, sizeof(f->token), "%s", token);
    snprintf(f->log_path, sizeof(f->log_path), "%s/fake-%s-%u.log", h->dir, api, ++started);
    assert_int_equal(pipe(out), 0);
    fflush(stdout);
    fflush(stderr);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        const char *argv[16] = {bin, "--api", api, "--listen", "127.0.0.1:0"};
        size_t argc = 5;
        int in = open("/dev/null", O_RDONLY), err = open(f->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (token[0] != '\0') {
            argv[argc++] = "--token";
            argv[argc++] = token;
        }
        if (rate != NULL) {
            argv[argc++] = "--rate";
            argv[argc++] = rate;
        }
        if (!retry_after)
            argv[argc++] = "--no-retry-after";
        argv[argc] = NULL;
        if (in < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        close(out[0]);
        close(out[1]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    f->out_fd = out[0];
    deadline = sy_itd_now_s() + FAKE_START_TIMEOUT_S;
    while (n < sizeof(line) - 1 && (n == 0 || line[n - 1] != '\n')) {
        struct pollfd p = {.fd = f->out_fd, .events = POLLIN};
        int left = (int)((deadline - sy_itd_now_s()) * 1000);
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t r = read(f->out_fd, line + n, 1);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    line[n] = '\0';
    unsigned port = 0;
    if (sscanf(line, "listening on %u", &port) != 1 || port == 0 || port > 65535)
        fail_msg("the %s fake did not start within %.0f s (printed \"%s\"; log %s)", api, FAKE_START_TIMEOUT_S, line,
                 f->log_path);
    f->port = (unsigned short)port;
    snprintf(f->base_url, sizeof(f->base_url), "http://127.0.0.1:%u", f->port);
    return f;
}

void sy_itd_fake_stop(sy_itd_fake_t *f)
{
    if (f == NULL)
        return;
    if (f->curl != NULL) {
        curl_easy_cleanup(f->curl);
        f->curl = NULL;
    }
    if (f->pid > 0) {
        double deadline = sy_itd_now_s() + FAKE_STOP_TIMEOUT_S;
        int status;
        kill(f->pid, SIGTERM);
        for (;;) {
            pid_t r = waitpid(f->pid, &status, WNOHANG);
            if (r == f->pid || (r < 0 && errno != EINTR))
                break;
            if (sy_itd_now_s() > deadline) {
                kill(f->pid, SIGKILL);
                waitpid(f->pid, &status, 0);
                break;
            }
            sy_itd_nap(10);
        }
        f->pid = 0;
    }
    if (f->out_fd >= 0) {
        close(f->out_fd);
        f->out_fd = -1;
    }
}

typedef struct st_buf_t {
    char *base;
    size_t len;
} buf_t;

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    buf_t *b = arg;
    size_t n = size * nmemb;
    char *grown = realloc(b->base, b->len + n + 1);
    if (grown == NULL)
        return 0;
    b->base = grown;
    memcpy(b->base + b->len, p, n);
    b->len += n;
    b->base[b->len] = '\0';
    return n;
}

json_t *sy_itd_fake_call(sy_itd_fake_t *f, const char *method, const char *path, json_t *body)
{
    sy_it_t *h = f->h;
    char url[256], *text = NULL;
    buf_t b = {NULL, 0};
    struct curl_slist *hd = NULL;
    long status = 0;
    json_error_t jerr;
    json_t *doc;
    CURLcode rc;

    if (body != NULL) {
        sy_it_own_json(h, body);
        text = sy_it_own(h, json_dumps(body, JSON_COMPACT), free);
    }
    if (f->curl == NULL && (f->curl = curl_easy_init()) == NULL)
        fail_msg("curl_easy_init failed");
    CURL *c = f->curl;
    curl_easy_reset(c);
    snprintf(url, sizeof(url), "%s%s", f->base_url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text != NULL ? text : "{}");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(text != NULL ? strlen(text) : 2));
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        hd = curl_slist_append(hd, "Content-Type: application/json");
    }
    hd = curl_slist_append(hd, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    if (text != NULL)
        sy_it_release(h, text);
    if (body != NULL)
        sy_it_release(h, body);
    if (b.base != NULL)
        sy_it_own(h, b.base, free);
    if (rc != CURLE_OK)
        fail_msg("%s %s on the %s fake: %s", method, url, f->api, curl_easy_strerror(rc));
    if (status != 200 || b.base == NULL || (doc = json_loadb(b.base, b.len, 0, &jerr)) == NULL)
        fail_msg("%s %s on the %s fake: status %ld, body %s", method, url, f->api, status, b.base != NULL ? b.base : "");
    sy_it_release(h, b.base);
    return sy_it_own_json(h, doc);
}

json_t *sy_itd_fake_state(sy_itd_fake_t *f)
{
    return sy_itd_fake_call(f, "GET", "/_fake/state", NULL);
}

json_t *sy_itd_fake_requests(sy_itd_fake_t *f)
{
    json_t *r = sy_itd_fake_call(f, "GET", "/_fake/requests", NULL);
    if (!json_is_array(r))
        fail_msg("/_fake/requests of the %s fake is not an array", f->api);
    return r;
}

void sy_itd_fake_mode(sy_itd_fake_t *f, const char *mode, long for_ms, long delay_ms, long count)
{
    json_t *body = json_pack("{s:s, s:I, s:I}", "mode", mode, "for_ms", (json_int_t)for_ms, "count", (json_int_t)count);
    if (delay_ms > 0)
        json_object_set_new(body, "delay_ms", json_integer(delay_ms));
    sy_it_release(f->h, sy_itd_fake_call(f, "POST", "/_fake/mode", body));
}

void sy_itd_fake_rate(sy_itd_fake_t *f, long limit, long window_ms, int retry_after)
{
    sy_it_release(f->h, sy_itd_fake_call(f, "POST", "/_fake/rate",
                                         json_pack("{s:I, s:I, s:b}", "limit", (json_int_t)limit, "window_ms",
                                                   (json_int_t)window_ms, "retry_after", retry_after)));
}

void sy_itd_fake_seed(sy_itd_fake_t *f, json_t *objects)
{
    sy_it_release(f->h, sy_itd_fake_call(f, "POST", "/_fake/seed", json_pack("{s:o}", "objects", objects)));
}

json_t *sy_itd_fake_object(sy_itd_fake_t *f, const char *id)
{
    return json_object_get(json_object_get(sy_itd_fake_state(f), "objects"), id);
}

json_int_t sy_itd_fake_counter(sy_itd_fake_t *f, const char *name)
{
    json_t *v = json_object_get(sy_itd_fake_state(f), name);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* ---- the fake's request log ------------------------------------------------------------------------------- */

static int matches(json_t *r, const char *method, const char *prefix, long status)
{
    const char *m = json_string_value(json_object_get(r, "method")), *p = json_string_value(json_object_get(r, "path"));
    if (method != NULL && (m == NULL || strcmp(m, method) != 0))
        return 0;
    if (prefix != NULL && (p == NULL || strncmp(p, prefix, strlen(prefix)) != 0))
        return 0;
    return status < 0 || json_integer_value(json_object_get(r, "status")) == status;
}

size_t sy_itd_count(json_t *requests, const char *method, const char *prefix, long status)
{
    size_t i, n = 0;
    json_t *r;
    json_array_foreach(requests, i, r) n += matches(r, method, prefix, status);
    return n;
}

json_t *sy_itd_find(json_t *requests, const char *method, const char *prefix, long status)
{
    size_t i;
    json_t *r;
    json_array_foreach(requests, i, r) if (matches(r, method, prefix, status)) return r;
    return NULL;
}

size_t sy_itd_assert_once_per_key(sy_it_t *h, json_t *requests)
{
    json_t *writes = sy_it_own_json(h, json_object()), *all = sy_it_own_json(h, json_object()), *r;
    size_t i;
    json_array_foreach(requests, i, r)
    {
        const char *key = json_string_value(json_object_get(r, "idempotency_key"));
        json_int_t status = json_integer_value(json_object_get(r, "status"));
        if (key == NULL)
            continue;
        json_object_set_new(all, key, json_true());
        if (status < 200 || status > 299 || json_is_true(json_object_get(r, "replayed")))
            continue;
        json_int_t seen = json_integer_value(json_object_get(writes, key));
        if (seen != 0)
            fail_msg("Idempotency-Key %s has %lld accepted writes that were not replays; requests: %s", key,
                     (long long)seen + 1, sy_itr_text(h, requests));
        json_object_set_new(writes, key, json_integer(seen + 1));
    }
    size_t n = json_object_size(all);
    sy_it_release(h, writes);
    sy_it_release(h, all);
    return n;
}

json_t *sy_itd_wait_requests(sy_itd_fake_t *f, const char *method, const char *prefix, long status, size_t n,
                             double timeout_s)
{
    double deadline = sy_itd_now_s() + timeout_s;
    for (;;) {
        json_t *reqs = sy_itd_fake_requests(f);
        if (sy_itd_count(reqs, method, prefix, status) >= n)
            return reqs;
        if (sy_itd_now_s() > deadline)
            fail_msg("the %s fake did not log %zu request(s) %s %s (status %ld) within %.0f s; log: %s", f->api, n,
                     method != NULL ? method : "*", prefix != NULL ? prefix : "*", status, timeout_s,
                     sy_itr_text(f->h, reqs));
        sy_it_release(f->h, reqs);
        sy_itd_nap(20);
    }
}

/* ---- hub config ------------------------------------------------------------------------------------------- */

static char *read_config(sy_it_t *h)
{
    FILE *fp = fopen(h->config_path, "rb");
    buf_t b = {NULL, 0};
    char chunk[4096];
    size_t r;
    if (fp == NULL)
        fail_msg("cannot open %s: %s", h->config_path, strerror(errno));
    while ((r = fread(chunk, 1, sizeof(chunk), fp)) != 0)
        on_data(chunk, 1, r, &b);
    fclose(fp);
    if (b.base == NULL)
        fail_msg("%s is empty", h->config_path);
    return sy_it_own(h, b.base, free);
}

void sy_itd_set_api(sy_it_t *h, const char *source, const sy_itd_fake_t *f, const sy_itd_api_t *api)
{
    static const sy_itd_api_t defaults;
    char head[128], line[1024], *conf = read_config(h), *at, *after;
    size_t used;
    FILE *fp;

    if (api == NULL)
        api = &defaults;
    snprintf(head, sizeof(head), "\n  %s:\n    connector: ", source);
    if ((at = strstr(conf, head)) == NULL)
        fail_msg("no source \"%s\" in %s", source, h->config_path);
    after = strchr(at + strlen(head), '\n') + 1; /* the line after "connector: …" */
    used = (size_t)snprintf(line, sizeof(line), "    api: {base_url: \"%s\", token: {value: \"%s\"}", f->base_url,
                            api->token != NULL ? api->token : f->token);
    if (api->rate != NULL)
        used += (size_t)snprintf(line + used, sizeof(line) - used, ", rate: \"%s\"", api->rate);
    if (api->concurrency != 0)
        used += (size_t)snprintf(line + used, sizeof(line) - used, ", concurrency: %u", api->concurrency);
    if (api->timeout != NULL)
        used += (size_t)snprintf(line + used, sizeof(line) - used, ", timeout: %s", api->timeout);
    if (api->max_attempts != 0)
        used += (size_t)snprintf(line + used, sizeof(line) - used, ", max_attempts: %u", api->max_attempts);
    if (api->max_age != NULL)
        used += (size_t)snprintf(line + used, sizeof(line) - used, ", max_age: %s", api->max_age);
    snprintf(line + used, sizeof(line) - used, "}\n");
    const char *rest = after;
    if (strncmp(rest, "    api: ", 9) == 0) /* replace the one written before */
        rest = strchr(rest, '\n') + 1;
    if ((fp = fopen(h->config_path, "w")) == NULL)
        fail_msg("cannot write %s: %s", h->config_path, strerror(errno));
    fwrite(conf, 1, (size_t)(after - conf), fp);
    fputs(line, fp);
    fputs(rest, fp);
    if (fclose(fp) != 0)
        fail_msg("cannot write %s", h->config_path);
    sy_it_release(h, conf);
}

void sy_itd_use_example_policy(sy_it_t *h)
{
    const char *text = sy_itr_example_policy(h);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", text, strlen(text)));
}

void sy_itd_use_example_policy_creating(sy_it_t *h, const char *create_line)
{
    const char *text = sy_itr_replace(h, sy_itr_example_policy(h), "    create: never", create_line);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", text, strlen(text)));
}

/* ---- events ----------------------------------------------------------------------------------------------- */

json_t *sy_itd_stripe_event(const char *id, const char *type, int64_t created_s, json_t *object)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:b, s:s, s:{s:o}, s:{s:n, s:n}}", "id", id, "object", "event",
                     "api_version", "2024-06-20", "created", (json_int_t)created_s, "livemode", 0, "type", type, "data",
                     "object", object, "request", "id", "idempotency_key");
}

typedef struct st_post_t {
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    buf_t answer;
    size_t index;
} post_t;

void sy_itd_post_stripe_many(sy_it_t *h, json_t *events, unsigned conns)
{
    char url[128];
    size_t next = 0, done = 0, total;
    int running;
    CURLM *multi = curl_multi_init();
    post_t *slots;

    sy_it_own_json(h, events);
    total = json_array_size(events);
    if (conns == 0)
        conns = 1;
    slots = sy_it_alloc(h, conns * sizeof(*slots));
    assert_non_null(multi);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/hooks/stripe", h->ingress_port);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns);
    for (;;) {
        for (unsigned i = 0; i != conns && next != total; ++i) {
            post_t *p = &slots[i];
            sy_it_headers_t hd = {0};
            if (p->easy != NULL)
                continue;
            p->index = next;
            p->body = json_dumps(json_array_get(events, next++), JSON_COMPACT);
            assert_non_null(p->body);
            sy_it_sign_stripe(&hd, SY_IT_STRIPE_SECRET_A, p->body, strlen(p->body), sy_now_ms() / 1000);
            p->headers = curl_slist_append(NULL, "Content-Type: application/json");
            p->headers = curl_slist_append(p->headers, "Expect:");
            for (size_t k = 0; k != hd.count; ++k)
                p->headers = curl_slist_append(p->headers, hd.lines[k]);
            sy_it_headers_dispose(&hd);
            p->easy = curl_easy_init();
            assert_non_null(p->easy);
            curl_easy_setopt(p->easy, CURLOPT_URL, url);
            curl_easy_setopt(p->easy, CURLOPT_NOPROXY, "*");
            curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, 30000L);
            curl_easy_setopt(p->easy, CURLOPT_POSTFIELDS, p->body);
            curl_easy_setopt(p->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(p->body));
            curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, p->headers);
            curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, on_data);
            curl_easy_setopt(p->easy, CURLOPT_WRITEDATA, &p->answer);
            curl_easy_setopt(p->easy, CURLOPT_PRIVATE, p);
            curl_multi_add_handle(multi, p->easy);
        }
        if (done == total)
            break;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            post_t *p;
            long status = 0;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
            curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
            CURLcode cc = msg->data.result;
            int fresh = p->answer.base != NULL && strstr(p->answer.base, "\"duplicate\":false") != NULL;
            char excerpt[256];
            snprintf(excerpt, sizeof(excerpt), "%s", p->answer.base != NULL ? p->answer.base : "");
            curl_multi_remove_handle(multi, p->easy);
            curl_easy_cleanup(p->easy);
            curl_slist_free_all(p->headers);
            free(p->body);
            free(p->answer.base);
            size_t index = p->index;
            *p = (post_t){0};
            if (cc != CURLE_OK || status != 200 || !fresh) {
                for (unsigned i = 0; i != conns; ++i)
                    if (slots[i].easy != NULL) {
                        curl_multi_remove_handle(multi, slots[i].easy);
                        curl_easy_cleanup(slots[i].easy);
                        curl_slist_free_all(slots[i].headers);
                        free(slots[i].body);
                        free(slots[i].answer.base);
                    }
                curl_multi_cleanup(multi);
                fail_msg("Stripe event #%zu: %s, status %ld, answer %s", index, curl_easy_strerror(cc), status, excerpt);
            }
            ++done;
        }
        if (done != total)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    curl_multi_cleanup(multi);
    sy_it_release(h, slots);
    sy_it_release(h, events);
}

/* ---- waiting and reading the hub ------------------------------------------------------------------------------ */

void sy_itd_wait(sy_it_t *h, double timeout_s, const char *what, int (*cond)(sy_it_t *h, void *arg), void *arg)
{
    double deadline = sy_itd_now_s() + timeout_s;
    while (!cond(h, arg)) {
        if (sy_itd_now_s() > deadline)
            fail_msg("timed out after %.0f s waiting for %s", timeout_s, what);
        sy_itd_nap(POLL_MS);
    }
}

void sy_itd_wait_queue_empty(sy_it_t *h, double timeout_s)
{
    double deadline = sy_itd_now_s() + timeout_s;
    for (;;) {
        json_t *q = sy_itr_queue(h);
        if (json_array_size(q) == 0) {
            sy_it_release(h, q);
            return;
        }
        if (sy_itd_now_s() > deadline) {
            json_t *dead = sy_itd_dead(h);
            fail_msg("the queue did not empty within %.0f s: %zu push(es) left, first %s; dead letters: %zu", timeout_s,
                     json_array_size(q), sy_itr_text(h, json_array_get(q, 0)), json_array_size(dead));
        }
        sy_it_release(h, q);
        sy_itd_nap(100);
    }
}

json_t *sy_itd_dead(sy_it_t *h)
{
    const char *argv[] = {"dead", "ls", "--json", "--config", h->config_path, NULL};
    sy_it_output_t o;
    json_t *arr = sy_it_own_json(h, json_array());
    sy_it_run(h, argv, &o);
    if (o.status != 0)
        fail_msg("dead ls --json: exit %d\nstderr: %s", o.status, o.err);
    for (size_t off = 0; off < o.out_len;) {
        json_error_t jerr;
        json_t *doc;
        if (o.out[off] == '\n' || o.out[off] == ' ') {
            ++off;
            continue;
        }
        if ((doc = json_loadb(o.out + off, o.out_len - off, JSON_DISABLE_EOF_CHECK, &jerr)) == NULL)
            fail_msg("dead ls --json: output is not JSON lines (%s at byte %zu): %s", jerr.text, off, o.out);
        json_array_append_new(arr, doc);
        off += (size_t)jerr.position;
    }
    sy_it_output_dispose(&o);
    return arr;
}

json_t *sy_itd_wait_dead(sy_it_t *h, size_t n, double timeout_s)
{
    double deadline = sy_itd_now_s() + timeout_s;
    for (;;) {
        json_t *dead = sy_itd_dead(h);
        if (json_array_size(dead) >= n)
            return dead;
        if (sy_itd_now_s() > deadline)
            fail_msg("expected %zu dead letter(s) within %.0f s, got %s; queue: %s", n, timeout_s, sy_itr_text(h, dead),
                     sy_itr_text(h, sy_itr_queue(h)));
        sy_it_release(h, dead);
        sy_itd_nap(100);
    }
}

double sy_itd_metric(sy_it_t *h, const char *series)
{
    char auth[128];
    sy_it_response_t res;
    size_t slen = strlen(series);
    double v = -1;
    snprintf(auth, sizeof(auth), "Bearer %s", h->admin_token);
    sy_it_admin_get(h, "/metrics", auth, &res);
    if (res.status != 200 || res.body == NULL)
        fail_msg("GET /metrics: status %ld", res.status);
    for (const char *line = res.body; line != NULL && *line != '\0';) {
        if (strncmp(line, series, slen) == 0 && line[slen] == ' ') {
            v = strtod(line + slen + 1, NULL);
            break;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            ++line;
    }
    sy_it_response_dispose(&res);
    return v;
}

double sy_itd_pushes(sy_it_t *h, const char *spoke, const char *outcome)
{
    char series[160];
    snprintf(series, sizeof(series), "switchyard_pushes_total{spoke=\"%s\",outcome=\"%s\"}", spoke, outcome);
    double v = sy_itd_metric(h, series);
    return v < 0 ? 0 : v;
}

static size_t of_spoke(json_t *pushes, const char *spoke)
{
    size_t i, n = 0;
    json_t *p;
    json_array_foreach(pushes, i, p)
    {
        const char *s = json_string_value(json_object_get(p, "spoke"));
        n += s != NULL && strcmp(s, spoke) == 0;
    }
    return n;
}

void sy_itd_assert_counts(sy_it_t *h, const char *what)
{
    static const char *const spokes[] = {"stripe", "hubspot"};
    for (int attempt = 0;; ++attempt) {
        json_t *q1 = sy_itr_queue(h), *d1 = sy_itd_dead(h);
        json_t *status = sy_itr_status(h);
        double depth[2], dead[2];
        char series[128];
        for (size_t i = 0; i != 2; ++i) {
            snprintf(series, sizeof(series), "switchyard_queue_depth{spoke=\"%s\"}", spokes[i]);
            depth[i] = sy_itd_metric(h, series);
            snprintf(series, sizeof(series), "switchyard_dead_letters{spoke=\"%s\"}", spokes[i]);
            dead[i] = sy_itd_metric(h, series);
        }
        json_t *q2 = sy_itr_queue(h), *d2 = sy_itd_dead(h);
        if (json_array_size(q1) != json_array_size(q2) || json_array_size(d1) != json_array_size(d2) ||
            !json_equal(q1, q2) || !json_equal(d1, d2)) {
            /* delivery moved something between the reads: read again (the counts are compared at rest) */
            if (attempt == 100)
                fail_msg("%s: the queue never stood still long enough to compare counts", what);
            sy_itd_nap(100);
            continue;
        }
        json_t *per = json_object_get(json_object_get(status, "delivery"), "spokes");
        for (size_t i = 0; i != 2; ++i) {
            json_t *e = json_object_get(per, spokes[i]);
            long long sq = (long long)json_integer_value(json_object_get(e, "queued"));
            long long sd = (long long)json_integer_value(json_object_get(e, "dead"));
            long long lq = (long long)of_spoke(q1, spokes[i]), ld = (long long)of_spoke(d1, spokes[i]);
            if (sq != lq || sd != ld || (depth[i] >= 0 && (long long)depth[i] != lq) || (dead[i] >= 0 && (long long)dead[i] != ld))
                fail_msg("%s: %s counts: status queued %lld dead %lld, /metrics depth %.0f dead %.0f; the lists hold "
                         "%lld queued and %lld dead",
                         what, spokes[i], sq, sd, depth[i], dead[i], lq, ld);
        }
        return;
    }
}

size_t sy_itd_count_key(json_t *reqs, const char *key, size_t *replays)
{
    size_t i, n = 0;
    json_t *r;
    *replays = 0;
    json_array_foreach(reqs, i, r)
    {
        const char *k = json_string_value(json_object_get(r, "idempotency_key"));
        if (k == NULL || strcmp(k, key) != 0)
            continue;
        ++n;
        *replays += json_is_true(json_object_get(r, "replayed"));
    }
    return n;
}
