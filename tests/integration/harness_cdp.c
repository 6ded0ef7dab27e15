/*
 * Headless Chromium driven through the DevTools protocol on a pipe. See harness_cdp.h.
 */
#include "harness_cdp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define DEFAULT_CHROMIUM "/usr/bin/chromium"
#define CALL_TIMEOUT_S 30.0
#define MAX_MESSAGE (64u << 20) /* a full-page screenshot in base64 stays far below */
#define MAX_ENV 256

extern char **environ;

struct st_sy_cdp_t {
    sy_it_t *h;
    pid_t pid;
    int to_fd, from_fd; /* our ends: commands in, answers and events out */
    char *buf;          /* bytes read, not yet split into messages */
    size_t len, cap;
    long next_id;
    char session[128];
    char shot_dir[SY_IT_PATH_MAX];
    char err_path[SY_IT_PATH_MAX + 32];
    json_t *errors; /* strings */
    unsigned shots;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

const char *sy_cdp_chromium(void)
{
    const char *path = getenv("SY_CHROMIUM");
    if (path == NULL || path[0] == '\0')
        path = DEFAULT_CHROMIUM;
    return access(path, X_OK) == 0 ? path : NULL;
}

/* Stops the browser (its whole process group) and frees c: the harness calls it at teardown, pass or fail. */
static void cdp_destroy(void *arg)
{
    sy_cdp_t *c = arg;
    if (c->pid > 0) {
        /* Browser.close asks politely; the group kill makes sure, also for helper processes. */
        static const char bye[] = "{\"id\":999999,\"method\":\"Browser.close\"}";
        if (c->to_fd >= 0 && write(c->to_fd, bye, sizeof(bye)) < 0) { /* sizeof: with the NUL that ends it */
            /* already gone */
        }
        double deadline = mono_s() + 10.0;
        int ws;
        while (waitpid(c->pid, &ws, WNOHANG) == 0 && mono_s() < deadline)
            nap_ms(20);
        kill(-c->pid, SIGKILL);
        waitpid(c->pid, NULL, WNOHANG);
        c->pid = 0;
    }
    if (c->to_fd >= 0)
        close(c->to_fd);
    if (c->from_fd >= 0)
        close(c->from_fd);
    json_decref(c->errors);
    free(c->buf);
    free(c);
}

static void print_tail(const char *path)
{
    size_t len = 0;
    char *text = sy_it_slurp(path, &len);
    if (text == NULL)
        return;
    fprintf(stderr, "----- chromium stderr (%s, last 4 KiB) -----\n%s\n----- end -----\n", path,
            len > 4096 ? text + len - 4096 : text);
    free(text);
}

/* ---- messages ---- */

static void send_msg(sy_cdp_t *c, long id, const char *method, json_t *params, int in_session)
{
    json_t *msg = json_pack("{s:I, s:s, s:o}", "id", (json_int_t)id, "method", method,
                            "params", params != NULL ? params : json_object());
    if (in_session)
        json_object_set_new(msg, "sessionId", json_string(c->session));
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    assert_non_null(text);
    size_t n = strlen(text) + 1, off = 0; /* with the NUL that ends a message */
    while (off < n) {
        ssize_t w = write(c->to_fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            free(text);
            print_tail(c->err_path);
            fail_msg("cannot send %s to chromium: %s", method, strerror(errno));
        }
        off += (size_t)w;
    }
    free(text);
}

static const char *or_(const char *s, const char *otherwise)
{
    return s != NULL ? s : otherwise;
}

/* An event: the page's errors are kept for sy_cdp_errors. */
static void on_event(sy_cdp_t *c, json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *p = json_object_get(msg, "params");
    char line[1200];
    if (method == NULL)
        return;
    if (strcmp(method, "Runtime.exceptionThrown") == 0) {
        json_t *d = json_object_get(p, "exceptionDetails");
        const char *desc = json_string_value(json_object_get(json_object_get(d, "exception"), "description"));
        snprintf(line, sizeof(line), "uncaught exception: %s", desc != NULL ? desc : or_(json_string_value(json_object_get(d, "text")), "?"));
    } else if (strcmp(method, "Runtime.consoleAPICalled") == 0 &&
               strcmp(or_(json_string_value(json_object_get(p, "type")), ""), "error") == 0) {
        json_t *a0 = json_array_get(json_object_get(p, "args"), 0);
        const char *v = json_string_value(json_object_get(a0, "value"));
        snprintf(line, sizeof(line), "console.error: %s", v != NULL ? v : or_(json_string_value(json_object_get(a0, "description")), "?"));
    } else if (strcmp(method, "Log.entryAdded") == 0 &&
               strcmp(or_(json_string_value(json_object_get(json_object_get(p, "entry"), "level")), ""), "error") == 0) {
        json_t *e = json_object_get(p, "entry");
        snprintf(line, sizeof(line), "log (%s): %s %s", or_(json_string_value(json_object_get(e, "source")), "?"),
                 or_(json_string_value(json_object_get(e, "text")), ""), or_(json_string_value(json_object_get(e, "url")), ""));
    } else if (strcmp(method, "Inspector.targetCrashed") == 0) {
        snprintf(line, sizeof(line), "the page crashed");
    } else {
        return;
    }
    json_array_append_new(c->errors, json_string(line));
}

/* Reads until the answer with id arrives (events on the way are handled); the answer (new reference). */
static json_t *await_answer(sy_cdp_t *c, long id, const char *method)
{
    double deadline = mono_s() + CALL_TIMEOUT_S;
    for (;;) {
        char *nul;
        while (c->len != 0 && (nul = memchr(c->buf, '\0', c->len)) != NULL) {
            size_t n = (size_t)(nul - c->buf);
            json_error_t jerr;
            json_t *msg = json_loadb(c->buf, n, 0, &jerr);
            memmove(c->buf, nul + 1, c->len - n - 1);
            c->len -= n + 1;
            if (msg == NULL)
                fail_msg("chromium sent a message that is not JSON (%s)", jerr.text);
            json_t *mid = json_object_get(msg, "id");
            if (json_is_integer(mid) && json_integer_value(mid) == id)
                return msg;
            on_event(c, msg);
            json_decref(msg);
        }
        double left = deadline - mono_s();
        if (left <= 0) {
            print_tail(c->err_path);
            fail_msg("chromium did not answer %s within %.0f s", method, CALL_TIMEOUT_S);
        }
        struct pollfd pfd = {.fd = c->from_fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        if (c->cap - c->len < 65536) {
            if (c->cap >= MAX_MESSAGE)
                fail_msg("a message from chromium is over %u bytes", MAX_MESSAGE);
            c->cap = c->cap != 0 ? c->cap * 2 : 1 << 20;
            c->buf = realloc(c->buf, c->cap);
            assert_non_null(c->buf);
        }
        ssize_t r = read(c->from_fd, c->buf + c->len, c->cap - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            print_tail(c->err_path);
            fail_msg("chromium closed its DevTools pipe while we waited for %s (it exited?)", method);
        }
        c->len += (size_t)r;
    }
}

static json_t *call(sy_cdp_t *c, const char *method, json_t *params, int in_session)
{
    long id = ++c->next_id;
    send_msg(c, id, method, params, in_session);
    json_t *ans = await_answer(c, id, method);
    json_t *err = json_object_get(ans, "error");
    if (err != NULL) {
        char *text = json_dumps(err, JSON_COMPACT);
        json_decref(ans);
        fail_msg("chromium refused %s: %s", method, text != NULL ? text : "?");
    }
    json_t *result = json_incref(json_object_get(ans, "result"));
    json_decref(ans);
    return sy_it_own_json(c->h, result != NULL ? result : json_object());
}

json_t *sy_cdp_call(sy_cdp_t *c, const char *method, json_t *params)
{
    return call(c, method, params, 1);
}

/* ---- start ---- */

static void child_env(sy_it_t *h, const char **envp, char store[4][SY_IT_PATH_MAX + 32])
{
    static const char *const moved[] = {"HOME=", "XDG_CONFIG_HOME=", "XDG_CACHE_HOME=", "XDG_RUNTIME_DIR="};
    size_t n = 0;
    for (char **e = environ; *e != NULL && n < MAX_ENV - 5; ++e) {
        int skip = 0;
        for (size_t i = 0; i != 4; ++i)
            skip |= strncmp(*e, moved[i], strlen(moved[i])) == 0;
        if (!skip)
            envp[n++] = *e;
    }
    snprintf(store[0], sizeof(store[0]), "HOME=%s/cdp-home", h->dir);
    snprintf(store[1], sizeof(store[1]), "XDG_CONFIG_HOME=%s/cdp-home/.config", h->dir);
    snprintf(store[2], sizeof(store[2]), "XDG_CACHE_HOME=%s/cdp-home/.cache", h->dir);
    snprintf(store[3], sizeof(store[3]), "XDG_RUNTIME_DIR=%s/cdp-home", h->dir);
    for (size_t i = 0; i != 4; ++i)
        envp[n++] = store[i];
    envp[n] = NULL;
}

sy_cdp_t *sy_cdp_start(sy_it_t *h, unsigned width, unsigned height, const char *shot_dir)
{
    const char *bin = sy_cdp_chromium();
    char profile[SY_IT_PATH_MAX + 48], size[64], home[SY_IT_PATH_MAX + 32], out_path[SY_IT_PATH_MAX + 32];
    char env_store[4][SY_IT_PATH_MAX + 32];
    const char *envp[MAX_ENV];
    int to_chrome[2], from_chrome[2];
    if (bin == NULL)
        fail_msg("headless Chromium not found: install Debian's `chromium` (deploy/install-deps --test) or set SY_CHROMIUM");
    sy_cdp_t *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->h = h;
    c->to_fd = c->from_fd = -1;
    c->errors = json_array();
    snprintf(c->shot_dir, sizeof(c->shot_dir), "%s", shot_dir);
    sy_it_own(h, c, cdp_destroy);
    for (char *slash = c->shot_dir + 1;; ++slash) { /* mkdir -p */
        int end = *slash == '\0';
        if (*slash != '/' && !end)
            continue;
        *slash = '\0';
        if (mkdir(c->shot_dir, 0755) != 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", c->shot_dir, strerror(errno));
        if (end)
            break;
        *slash = '/';
    }
    snprintf(home, sizeof(home), "%s/cdp-home", h->dir);
    if (mkdir(home, 0700) != 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", home, strerror(errno));
    snprintf(profile, sizeof(profile), "--user-data-dir=%s/cdp-profile", h->dir);
    snprintf(size, sizeof(size), "--window-size=%u,%u", width, height);
    snprintf(out_path, sizeof(out_path), "%s/cdp-chromium.out", h->dir);
    snprintf(c->err_path, sizeof(c->err_path), "%s/cdp-chromium.err", h->dir);
    child_env(h, envp, env_store);
    const char *argv[] = {bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          "--disable-dev-shm-usage", "--remote-debugging-pipe", "--hide-scrollbars", profile, size,
                          "about:blank", NULL};
    if (pipe(to_chrome) != 0 || pipe(from_chrome) != 0)
        fail_msg("pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        /* Chromium reads commands on fd 3 and writes on fd 4: move the ends above them first, then into place. */
        int in = fcntl(to_chrome[0], F_DUPFD, 10), outp = fcntl(from_chrome[1], F_DUPFD, 10);
        int null_in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(c->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || outp < 0 || null_in < 0 || out < 0 || err < 0 || dup2(null_in, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(err, 2) < 0 || dup2(in, 3) < 0 || dup2(outp, 4) < 0)
            _exit(126);
        for (int fd = 5; fd < 1024; ++fd)
            close(fd);
        execve(bin, (char *const *)argv, (char *const *)envp);
        _exit(127);
    }
    setpgid(pid, pid);
    c->pid = pid;
    close(to_chrome[0]);
    close(from_chrome[1]);
    c->to_fd = to_chrome[1];
    c->from_fd = from_chrome[0];
    signal(SIGPIPE, SIG_IGN); /* a browser that died is reported by the failed write, not by a signal */

    json_t *target = call(c, "Target.createTarget", json_pack("{s:s}", "url", "about:blank"), 0);
    const char *tid = json_string_value(json_object_get(target, "targetId"));
    if (tid == NULL)
        fail_msg("Target.createTarget gave no targetId");
    json_t *att = call(c, "Target.attachToTarget", json_pack("{s:s, s:b}", "targetId", tid, "flatten", 1), 0);
    const char *sid = json_string_value(json_object_get(att, "sessionId"));
    if (sid == NULL || strlen(sid) >= sizeof(c->session))
        fail_msg("Target.attachToTarget gave no usable sessionId");
    snprintf(c->session, sizeof(c->session), "%s", sid);
    sy_cdp_call(c, "Page.enable", NULL);
    sy_cdp_call(c, "Runtime.enable", NULL);
    sy_cdp_call(c, "Log.enable", NULL);
    sy_cdp_call(c, "Emulation.setDeviceMetricsOverride",
                json_pack("{s:i, s:i, s:i, s:b}", "width", (int)width, "height", (int)height, "deviceScaleFactor", 1,
                          "mobile", 0));
    return c;
}

/* ---- page ---- */

static json_t *eval(sy_cdp_t *c, const char *expr)
{
    json_t *r = sy_cdp_call(c, "Runtime.evaluate",
                            json_pack("{s:s, s:b, s:b}", "expression", expr, "returnByValue", 1, "awaitPromise", 1));
    json_t *ex = json_object_get(r, "exceptionDetails");
    if (ex != NULL) {
        const char *desc = json_string_value(json_object_get(json_object_get(ex, "exception"), "description"));
        fail_msg("the page threw evaluating `%.300s`: %s", expr,
                 desc != NULL ? desc : or_(json_string_value(json_object_get(ex, "text")), "?"));
    }
    json_t *v = json_object_get(json_object_get(r, "result"), "value");
    return v != NULL ? v : json_null();
}

json_t *sy_cdp_eval(sy_cdp_t *c, const char *fmt, ...)
{
    char *expr = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&expr, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    json_t *v = eval(c, expr);
    free(expr);
    return v;
}

void sy_cdp_navigate(sy_cdp_t *c, const char *url)
{
    if (strncmp(url, "http://127.0.0.1:", 17) != 0)
        fail_msg("the browser tests only load loopback URLs, not %s", url);
    sy_cdp_call(c, "Page.navigate", json_pack("{s:s}", "url", url));
    sy_cdp_wait(c, 30, "the page to load", "document.readyState === 'complete' && location.href.indexOf('http') === 0");
}

void sy_cdp_wait(sy_cdp_t *c, double timeout_s, const char *what, const char *fmt, ...)
{
    char *cond = NULL, *expr = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&cond, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    assert_true(asprintf(&expr, "!!(%s)", cond) >= 0);
    double deadline = mono_s() + timeout_s;
    for (;;) {
        if (json_is_true(eval(c, expr)))
            break;
        if (mono_s() > deadline) {
            char *shot = sy_cdp_screenshot(c, "timeout");
            fail_msg("waited %.0f s for %s (`%.400s`) in vain; the page is in %s; its errors:\n%s", timeout_s, what, cond,
                     shot, sy_cdp_errors(c));
        }
        nap_ms(50);
    }
    free(cond);
    free(expr);
}

/* sel as a JavaScript string literal (owned). */
static char *js_string(sy_cdp_t *c, const char *s)
{
    json_t *j = json_string(s);
    char *text = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    assert_non_null(text);
    return sy_it_own(c->h, text, free);
}

void sy_cdp_click(sy_cdp_t *c, const char *selector)
{
    char *sel = js_string(c, selector);
    json_t *at = sy_cdp_eval(c,
                             "(function () { var e = document.querySelector(%s); if (!e) return 'none';"
                             " e.scrollIntoView({block: 'center'}); var r = e.getBoundingClientRect();"
                             " if (r.width === 0 || r.height === 0) return 'invisible';"
                             " var x = r.left + r.width / 2, y = r.top + r.height / 2, hit = document.elementFromPoint(x, y);"
                             " if (!hit || (hit !== e && !e.contains(hit))) return 'covered';"
                             " if (e.disabled) return 'disabled'; return {x: x, y: y}; })()",
                             sel);
    if (json_is_string(at))
        fail_msg("cannot click %s: %s (screenshot %s)", selector, json_string_value(at), sy_cdp_screenshot(c, "click"));
    double x = json_number_value(json_object_get(at, "x")), y = json_number_value(json_object_get(at, "y"));
    static const char *const types[] = {"mouseMoved", "mousePressed", "mouseReleased"};
    for (size_t i = 0; i != 3; ++i)
        sy_cdp_call(c, "Input.dispatchMouseEvent",
                    json_pack("{s:s, s:f, s:f, s:s, s:i}", "type", types[i], "x", x, "y", y, "button", i ? "left" : "none",
                              "clickCount", i ? 1 : 0));
}

void sy_cdp_fill(sy_cdp_t *c, const char *selector, const char *value)
{
    json_t *ok = sy_cdp_eval(c,
                             "(function () { var e = document.querySelector(%s); if (!e) return false; e.focus();"
                             " e.value = %s; e.dispatchEvent(new Event('input', {bubbles: true}));"
                             " e.dispatchEvent(new Event('change', {bubbles: true})); return e.value === %s; })()",
                             js_string(c, selector), js_string(c, value), js_string(c, value));
    if (!json_is_true(ok))
        fail_msg("cannot set %s to \"%s\" (no such element, or no such option)", selector, value);
}

/* Standard base64 (what Page.captureScreenshot sends) into out; returns the length. */
static size_t unbase64(const char *in, unsigned char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0, bits = 0;
    size_t n = 0;
    for (const char *p = in; *p != '\0' && *p != '='; ++p) {
        const char *k = strchr(alphabet, *p);
        if (k == NULL || *p == '\0')
            continue;
        acc = (acc << 6) | (unsigned)(k - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

char *sy_cdp_screenshot(sy_cdp_t *c, const char *name)
{
    json_t *m = sy_cdp_call(c, "Page.getLayoutMetrics", NULL);
    json_t *size = json_object_get(m, "cssContentSize");
    double w = json_number_value(json_object_get(size, "width")), hgt = json_number_value(json_object_get(size, "height"));
    if (w < 1 || hgt < 1)
        w = 1400, hgt = 900;
    json_t *shot = sy_cdp_call(c, "Page.captureScreenshot",
                               json_pack("{s:s, s:b, s:{s:i, s:i, s:f, s:f, s:i}}", "format", "png", "captureBeyondViewport",
                                         1, "clip", "x", 0, "y", 0, "width", w, "height", hgt < 12000 ? hgt : 12000.0,
                                         "scale", 1));
    const char *data = json_string_value(json_object_get(shot, "data"));
    if (data == NULL)
        fail_msg("Page.captureScreenshot gave no data");
    unsigned char *png = malloc(strlen(data) * 3 / 4 + 4);
    assert_non_null(png);
    size_t len = unbase64(data, png);
    char *path = sy_it_alloc(c->h, SY_IT_PATH_MAX + 64);
    snprintf(path, SY_IT_PATH_MAX + 64, "%s/%02u-%s.png", c->shot_dir, ++c->shots, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(png, 1, len, f) != len || fclose(f) != 0) {
        free(png);
        fail_msg("cannot write %s: %s", path, strerror(errno));
    }
    free(png);
    printf("screenshot: %s (%zu bytes)\n", path, len);
    fflush(stdout);
    return path;
}

char *sy_cdp_errors(sy_cdp_t *c)
{
    size_t i, total = 1;
    json_t *e;
    json_array_foreach(c->errors, i, e) total += strlen(json_string_value(e)) + 1;
    char *out = sy_it_alloc(c->h, total), *p = out;
    json_array_foreach(c->errors, i, e)
    {
        size_t n = strlen(json_string_value(e));
        memcpy(p, json_string_value(e), n);
        p += n;
        *p++ = '\n';
    }
    *p = '\0';
    return out;
}
