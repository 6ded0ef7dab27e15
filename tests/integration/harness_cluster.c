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

/* ---- a whole test's cluster ---- */

void sy_itc_hubs_create(sy_itc_hubs_t *c, void **state, unsigned n, const char *extra)
{
    sy_itc_start(&c->nats, n);
    c->n = n;
    for (unsigned i = 0; i != n; ++i) {
        char name[16];
        c->hub[i] = sy_it_create(state, NULL);
        snprintf(name, sizeof(name), "hub-%u", i);
        sy_itc_configure_hub(&c->nats, c->hub[i], i, name, extra);
    }
    /* the admin token comes from the environment the last sy_it_create set */
    for (unsigned i = 0; i != n; ++i)
        memcpy(c->hub[i]->admin_token, c->hub[n - 1]->admin_token, sizeof(c->hub[i]->admin_token));
    *state = c;
}

int sy_itc_hubs_start(sy_itc_hubs_t *c, sy_itd_fake_t *stripe, const sy_itd_api_t *api)
{
    for (unsigned i = 0; i != c->n; ++i) {
        sy_itd_use_example_policy(c->hub[i]);
        if (stripe != NULL)
            sy_itd_set_api(c->hub[i], "stripe", stripe, api);
        sy_it_start(c->hub[i]);
    }
    for (unsigned i = 0; i != c->n; ++i)
        sy_itc_warm_up(c->hub[i], (int)i);
    return sy_itc_wait_holder(c->hub, c->n, -1);
}

int sy_itc_fail_over(sy_itc_hubs_t *c, int first, sy_itd_fake_t *stripe, char (*keys)[96], size_t nkeys)
{
    sy_it_kill(c->hub[first]);
    sy_itd_fake_mode(stripe, "ok", 0, 0, 0);
    int second = sy_itc_wait_holder(c->hub, c->n, first);
    print_message("after kill -9 of hub %d, hub %d holds the sync lease\n", first, second);
    for (double until = sy_itd_now_s() + 30;; sy_itd_nap(100)) {
        size_t resent = 0, replays;
        json_t *reqs = sy_itd_fake_requests(stripe);
        for (size_t n = 0; n != nkeys; ++n)
            resent += sy_itd_count_key(reqs, keys[n], &replays) >= 2;
        if (resent == nkeys) {
            sy_it_release(c->hub[0], reqs);
            return second;
        }
        if (sy_itd_now_s() > until)
            fail_msg("the new holder did not resend the pushes on the wire with their keys (%zu of %zu): %s", resent,
                     nkeys, sy_itr_text(c->hub[second], reqs));
        sy_it_release(c->hub[0], reqs);
    }
}

void sy_itc_hubs_stop(sy_itc_hubs_t *c)
{
    for (unsigned i = 0; i != c->n; ++i)
        assert_int_equal(sy_it_stop(c->hub[i]), 0);
}

void sy_itc_hubs_pass(sy_itc_hubs_t *c)
{
    for (unsigned i = 0; i != c->n; ++i)
        sy_it_pass(c->hub[i]);
    sy_itc_pass(&c->nats);
}

int sy_itc_hubs_teardown(sy_itc_hubs_t *c)
{
    for (unsigned i = 0; i != c->n; ++i) {
        sy_it_destroy(c->hub[i]);
        c->hub[i] = NULL;
    }
    sy_itc_stop(&c->nats);
    return 0;
}

int sy_itc_main(const char *name, void (*test)(void **state), int (*teardown)(void **state))
{
    if (!sy_itc_available()) {
        fprintf(stderr, "skipped: %s is not installed (deploy/install-deps installs nats-server)\n", SY_ITC_NATS_BIN);
        return 77;
    }
    const struct CMUnitTest tests[] = {{name, test, NULL, teardown, NULL}};
    return _cmocka_run_group_tests(name, tests, 1, NULL, NULL);
}
