/*
 * NATS nodes for the cluster tests (harness_cluster.h).
 */
#include "harness_cluster.h"
#include "harness_delivery.h"
#include "harness_records.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

int sy_itc_available(void)
{
    return access(SY_ITC_NATS_BIN, X_OK) == 0;
}

static unsigned short any_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

void sy_itc_node_start(sy_itc_t *c, unsigned i)
{
    char conf[SY_IT_PATH_MAX + 16], log[SY_IT_PATH_MAX + 16], text[4096], routes[1024] = "";
    size_t n = 0;
    for (unsigned k = 0; k != c->num; ++k)
        n += (size_t)snprintf(routes + n, sizeof(routes) - n, "%snats-route://127.0.0.1:%u", k != 0 ? ", " : "",
                              c->route_port[k]);
    snprintf(conf, sizeof(conf), "%s/n%u.conf", c->dir, i);
    snprintf(log, sizeof(log), "%s/n%u.log", c->dir, i);
    snprintf(text, sizeof(text),
             "server_name: n%u\nlisten: 127.0.0.1:%u\njetstream { store_dir: \"%s/js%u\" }\n"
             "cluster { name: sy-it, listen: 127.0.0.1:%u, routes: [%s] }\n",
             i, c->client_port[i], c->dir, i, c->route_port[i], routes);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (freopen(log, "a", stdout) == NULL || freopen(log, "a", stderr) == NULL)
            _exit(126);
        execl(SY_ITC_NATS_BIN, SY_ITC_NATS_BIN, "-c", conf, (char *)NULL);
        _exit(127);
    }
    c->nats[i] = pid;
}

void sy_itc_start(sy_itc_t *c, unsigned num)
{
    assert_true(num <= SY_ITC_MAX_NODES);
    memset(c, 0, sizeof(*c));
    c->num = num;
    snprintf(c->dir, sizeof(c->dir), "%s/sy-nats-XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(c->dir));
    for (unsigned i = 0; i != num; ++i) {
        c->client_port[i] = any_port();
        c->route_port[i] = any_port();
    }
    for (unsigned i = 0; i != num; ++i)
        sy_itc_node_start(c, i);
    /* every node listening before a hub is started (bounded) */
    for (unsigned i = 0; i != num; ++i) {
        int up = 0;
        for (int t = 0; t != 200 && !up; ++t) {
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->client_port[i]),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            assert_true(fd >= 0);
            up = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
            close(fd);
            if (!up)
                usleep(50 * 1000);
        }
        if (!up)
            fail_msg("NATS node %u does not listen on 127.0.0.1:%u after 10 s (log in %s)", i, c->client_port[i], c->dir);
    }
}

void sy_itc_node_kill(sy_itc_t *c, unsigned i)
{
    if (c->nats[i] > 0) {
        kill(c->nats[i], SIGKILL);
        waitpid(c->nats[i], NULL, 0);
        c->nats[i] = 0;
    }
}

void sy_itc_configure_hub(sy_itc_t *c, sy_it_t *h, unsigned i, const char *name, const char *extra)
{
    FILE *f = fopen(h->config_path, "a");
    assert_non_null(f);
    fprintf(f, "cluster:\n  node: %s\n  nats: nats://127.0.0.1:%u\n%s", name, c->client_port[i],
            extra != NULL ? extra : "");
    fclose(f);
}

void sy_itc_pass(sy_itc_t *c)
{
    c->passed = 1;
}

void sy_itc_stop(sy_itc_t *c)
{
    for (unsigned i = 0; i != c->num; ++i)
        sy_itc_node_kill(c, i);
    if (c->passed && c->dir[0] != '\0') {
        char cmd[SY_IT_PATH_MAX + 16];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
        (void)!system(cmd);
    } else if (c->dir[0] != '\0') {
        fprintf(stderr, "cluster test failed: NATS logs kept in %s\n", c->dir);
    }
    c->num = 0;
}

void sy_itc_warm_up(sy_it_t *h, int i)
{
    char id[32];
    snprintf(id, sizeof(id), "evt_warmup_%d", i);
    for (int64_t until = sy_now_ms() + 40000;;) {
        size_t len;
        char *body = sy_it_stripe_event(h, id, "charge.refunded", 1750000000LL, 0, &len);
        sy_it_response_t res;
        sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, body, len, &res);
        long status = res.status;
        sy_it_response_dispose(&res);
        if (status == 200)
            return;
        if (status != 503 || sy_now_ms() > until)
            fail_msg("warm-up event %s: HTTP %ld", id, status);
        usleep(250 * 1000);
    }
}

int sy_itc_holder(sy_it_t *const *hubs, unsigned n, int skip)
{
    int found = -1;
    for (unsigned i = 0; i != n; ++i) {
        if ((int)i == skip)
            continue;
        if (sy_itd_metric(hubs[i], "switchyard_cluster_lease_held") == 1) {
            if (found >= 0)
                fail_msg("hubs %d and %u both hold the sync lease", found, i);
            found = (int)i;
        }
    }
    return found;
}

int sy_itc_wait_holder(sy_it_t *const *hubs, unsigned n, int skip)
{
    for (double until = sy_itd_now_s() + 30; sy_itd_now_s() < until; sy_itd_nap(100)) {
        int h = sy_itc_holder(hubs, n, skip);
        if (h >= 0)
            return h;
    }
    fail_msg("no hub took the sync lease within 30 s");
    return -1;
}

static void strip_wall_clock(json_t *doc)
{
    static const char *const wall[] = {"created_at_ms", "updated_at_ms", "enqueued_at_ms", "due_at_ms", "merged_at_ms",
                                       "at_ms"};
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_object(doc)) {
        for (i = 0; i != sizeof(wall) / sizeof(wall[0]); ++i)
            json_object_del(doc, wall[i]);
        json_object_foreach(doc, key, v) strip_wall_clock(v);
    } else if (json_is_array(doc)) {
        json_array_foreach(doc, i, v) strip_wall_clock(v);
    }
}

json_t *sy_itc_stable(const json_t *doc)
{
    json_t *copy = json_deep_copy(doc);
    strip_wall_clock(copy);
    return copy;
}

json_t *sy_itc_records(sy_it_t *h)
{
    json_t *recs = sy_itr_records(h), *out = sy_it_own_json(h, json_array()), *v;
    size_t i;
    json_array_foreach(recs, i, v) json_array_append_new(out, sy_itc_stable(v));
    return out;
}
