/*
 * Headless Chromium for the dashboard tests, and a reader for the DOM it dumps. See harness_browser.h.
 */
#include "harness_browser.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define DEFAULT_CHROMIUM "/usr/bin/chromium"
#define WALL_MARGIN_S 60.0 /* on top of the virtual time budget: start-up, loading, a slow machine */
#define MAX_ENV 256

extern char **environ;

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

/* A NUL-terminated copy of s[0..len) owned by the harness. */
static char *own_strndup(sy_it_t *h, const char *s, size_t len)
{
    char *out = sy_it_alloc(h, len + 1);
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

const char *sy_itb_chromium(void)
{
    const char *path = getenv("SY_CHROMIUM");
    if (path == NULL || path[0] == '\0')
        path = DEFAULT_CHROMIUM;
    if (access(path, X_OK) != 0)
        fail_msg("headless Chromium not found at %s (%s): install Debian's `chromium` package (deploy/install-deps "
                 "does), or set SY_CHROMIUM to the binary",
                 path, strerror(errno));
    return path;
}

/* The environment for Chromium: ours, with HOME and the XDG dirs moved into the temp dir so that nothing is read
 * from or written to the real home. Strings live in store (the caller's). */
static void browser_env(sy_it_t *h, const char **envp, char store[4][SY_IT_PATH_MAX + 32])
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
    snprintf(store[0], sizeof(store[0]), "HOME=%s/browser-home", h->dir);
    snprintf(store[1], sizeof(store[1]), "XDG_CONFIG_HOME=%s/browser-home/.config", h->dir);
    snprintf(store[2], sizeof(store[2]), "XDG_CACHE_HOME=%s/browser-home/.cache", h->dir);
    snprintf(store[3], sizeof(store[3]), "XDG_RUNTIME_DIR=%s/browser-home", h->dir);
    for (size_t i = 0; i != 4; ++i)
        envp[n++] = store[i];
    envp[n] = NULL;
    char home[SY_IT_PATH_MAX + 32];
    snprintf(home, sizeof(home), "%s/browser-home", h->dir);
    if (mkdir(home, 0700) != 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", home, strerror(errno));
}

static void print_tail(const char *what, const char *path)
{
    size_t len = 0;
    char *text = sy_it_slurp(path, &len);
    if (text == NULL)
        return;
    fprintf(stderr, "----- %s (%s, last 4 KiB) -----\n%s\n----- end -----\n", what, path,
            len > 4096 ? text + len - 4096 : text);
    free(text);
}

static char last_err_path[SY_IT_PATH_MAX + 32]; /* stderr of the last run */

/* Runs Chromium headless on url with the extra arguments (NULL-terminated); returns its stdout (owned). */
static char *run_chromium(sy_it_t *h, const char *url, unsigned budget_ms, const char *const *extra, size_t *out_len)
{
    static unsigned runs;
    const char *bin = sy_itb_chromium();
    char profile[SY_IT_PATH_MAX + 32], out_path[SY_IT_PATH_MAX + 32], err_path[SY_IT_PATH_MAX + 32];
    char budget[64], profile_arg[SY_IT_PATH_MAX + 48], env_store[4][SY_IT_PATH_MAX + 32];
    const char *argv[32], *envp[MAX_ENV];
    size_t n = 0;
    int ws = 0;
    pid_t pid;

    if (strncmp(url, "http://127.0.0.1:", 17) != 0)
        fail_msg("the browser tests only load loopback URLs, not %s", url);
    ++runs;
    snprintf(profile, sizeof(profile), "%s/chromium-profile-%u", h->dir, runs);
    snprintf(out_path, sizeof(out_path), "%s/chromium-%u.out", h->dir, runs);
    snprintf(err_path, sizeof(err_path), "%s/chromium-%u.err", h->dir, runs);
    snprintf(budget, sizeof(budget), "--virtual-time-budget=%u", budget_ms);
    snprintf(profile_arg, sizeof(profile_arg), "--user-data-dir=%s", profile);
    browser_env(h, envp, env_store);
    snprintf(last_err_path, sizeof(last_err_path), "%s", err_path);

    argv[n++] = bin;
    argv[n++] = "--headless";
    argv[n++] = "--no-sandbox";
    argv[n++] = "--disable-gpu";
    argv[n++] = "--disable-quic";
    argv[n++] = "--no-first-run";
    argv[n++] = "--disable-background-networking";
    argv[n++] = "--disable-component-update";
    argv[n++] = "--disable-sync";
    argv[n++] = "--disable-dev-shm-usage";
    argv[n++] = "--enable-logging=stderr"; /* console messages and CSP violations land in the .err file */
    argv[n++] = profile_arg;
    argv[n++] = budget;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; ++i) {
        assert_true(n < 28);
        argv[n++] = extra[i];
    }
    argv[n++] = url;
    argv[n] = NULL;

    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        /* its own process group, so that a run past the limit is stopped with all its helper processes */
        setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        execve(bin, (char *const *)argv, (char *const *)envp);
        _exit(127);
    }
    setpgid(pid, pid); /* also from here: no race with the kill below */

    double deadline = mono_s() + budget_ms / 1000.0 + WALL_MARGIN_S;
    for (;;) {
        pid_t r = waitpid(pid, &ws, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            fail_msg("waitpid %d: %s", (int)pid, strerror(errno));
        if (mono_s() > deadline) {
            kill(-pid, SIGKILL);
            waitpid(pid, NULL, 0);
            print_tail("chromium stderr", err_path);
            fail_msg("chromium did not finish within %.0f s (virtual time budget %u ms) on %s",
                     budget_ms / 1000.0 + WALL_MARGIN_S, budget_ms, url);
        }
        nap_ms(20);
    }
    kill(-pid, SIGKILL); /* helper processes that outlived the browser, if any (ESRCH otherwise) */
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        print_tail("chromium stderr", err_path);
        if (WIFEXITED(ws) && WEXITSTATUS(ws) == 127)
            fail_msg("could not run %s", bin);
        fail_msg("chromium on %s ended with %s %d", url, WIFEXITED(ws) ? "exit status" : "signal",
                 WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
    }
    char *out = sy_it_slurp(out_path, out_len);
    if (out == NULL)
        fail_msg("cannot read %s", out_path);
    return sy_it_own(h, out, free);
}

char *sy_itb_dump_dom(sy_it_t *h, const char *url, unsigned budget_ms)
{
    static const char *const extra[] = {"--dump-dom", NULL};
    size_t len = 0;
    char *dom = run_chromium(h, url, budget_ms, extra, &len);
    if (len == 0 || strstr(dom, "<html") == NULL)
        fail_msg("chromium printed no DOM for %s (%zu bytes): %.200s", url, len, dom);
    return dom;
}

void sy_itb_screenshot(sy_it_t *h, const char *url, unsigned budget_ms, const char *png_path, unsigned width,
                       unsigned height)
{
    char shot[SY_IT_PATH_MAX + 32], size[64];
    struct stat st;
    snprintf(shot, sizeof(shot), "--screenshot=%s", png_path);
    snprintf(size, sizeof(size), "--window-size=%u,%u", width, height);
    const char *const extra[] = {"--hide-scrollbars", shot, size, NULL};
    run_chromium(h, url, budget_ms, extra, NULL);
    if (stat(png_path, &st) != 0 || st.st_size == 0)
        fail_msg("chromium wrote no screenshot at %s", png_path);
}

char *sy_itb_console(sy_it_t *h)
{
    size_t len = 0;
    char *err = last_err_path[0] != '\0' ? sy_it_slurp(last_err_path, &len) : NULL;
    char *out = sy_it_alloc(h, len + 2);
    size_t n = 0;
    for (char *line = err; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (strstr(line, ":CONSOLE") != NULL || strstr(line, "Content Security Policy") != NULL) {
            size_t l = strlen(line);
            memcpy(out + n, line, l);
            n += l;
            out[n++] = '\n';
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    out[n] = '\0';
    free(err);
    return out;
}

char *sy_itb_admin_url(sy_it_t *h, const char *token, const char *query)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t cap = 128 + strlen(token) * 3 + (query != NULL ? strlen(query) * 3 : 0);
    char *url = sy_it_alloc(h, cap);
    size_t n = (size_t)snprintf(url, cap, "http://127.0.0.1:%u/admin/#token=", h->admin_port);
    const char *parts[2] = {token, query};
    for (int k = 0; k != 2; ++k) {
        if (parts[k] == NULL)
            continue;
        if (k == 1) {
            memcpy(url + n, "&q=", 3);
            n += 3;
        }
        for (const unsigned char *p = (const unsigned char *)parts[k]; *p != '\0'; ++p) {
            if (isalnum(*p) || strchr("-._~@", *p) != NULL) {
                url[n++] = (char)*p;
            } else {
                url[n++] = '%';
                url[n++] = hex[*p >> 4];
                url[n++] = hex[*p & 15];
            }
        }
    }
    url[n] = '\0';
    return url;
}

/* ---- the DOM reader ---- */

static const char *const void_elements[] = {"area", "base", "br",    "col",  "embed",  "hr",    "img",
                                            "input", "link", "meta", "param", "source", "track", "wbr"};

/* The '>' that ends the tag starting at p ('<'), skipping quoted attribute values; NULL if unterminated. */
static const char *tag_end(const char *p)
{
    char quote = 0;
    for (++p; *p != '\0'; ++p) {
        if (quote != 0) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '"' || *p == '\'') {
            quote = *p;
        } else if (*p == '>') {
            return p;
        }
    }
    return NULL;
}

/* The tag name after '<' or '</' into name (lower case). */
static void tag_name(const char *p, char *name, size_t cap)
{
    size_t n = 0;
    p += p[1] == '/' ? 2 : 1;
    while (*p != '\0' && !isspace((unsigned char)*p) && *p != '>' && *p != '/' && n + 1 < cap)
        name[n++] = (char)tolower((unsigned char)*p++);
    name[n] = '\0';
}

static int is_void(const char *name)
{
    for (size_t i = 0; i != sizeof(void_elements) / sizeof(void_elements[0]); ++i)
        if (strcmp(name, void_elements[i]) == 0)
            return 1;
    return 0;
}

/* The end (one past the last byte) of the element whose start tag begins at start; NULL if unbalanced. */
static const char *element_end(const char *start)
{
    char name[32];
    const char *p = tag_end(start);
    int depth = 1;
    if (p == NULL)
        return NULL;
    tag_name(start, name, sizeof(name));
    if (is_void(name) || p[-1] == '/')
        return p + 1;
    for (++p; *p != '\0';) {
        if (*p != '<') {
            ++p;
            continue;
        }
        if (strncmp(p, "<!--", 4) == 0) {
            const char *e = strstr(p + 4, "-->");
            if (e == NULL)
                return NULL;
            p = e + 3;
            continue;
        }
        const char *e = tag_end(p);
        if (e == NULL)
            return NULL;
        tag_name(p, name, sizeof(name));
        if (p[1] == '/') {
            if (--depth == 0)
                return e + 1;
        } else if (strcmp(name, "script") == 0 || strcmp(name, "style") == 0) {
            /* raw text: jump over it to its end tag */
            const char *c = e + 1;
            while (*c != '\0' && !(c[0] == '<' && c[1] == '/' && strncasecmp(c + 2, name, strlen(name)) == 0))
                ++c;
            if (*c == '\0')
                return NULL;
            p = c;
            continue;
        } else if (!is_void(name) && e[-1] != '/') {
            ++depth;
        }
        p = e + 1;
    }
    return NULL;
}

/* The start of the first start tag in html holding attr="value" (attribute names are matched at a word start). */
static const char *find_start(const char *html, const char *attr, const char *value)
{
    size_t alen = strlen(attr), vlen = strlen(value);
    for (const char *p = strstr(html, attr); p != NULL; p = strstr(p + 1, attr)) {
        if (p == html || !isspace((unsigned char)p[-1]) || p[alen] != '=' || p[alen + 1] != '"' ||
            strncmp(p + alen + 2, value, vlen) != 0 || p[alen + 2 + vlen] != '"')
            continue;
        const char *s = p;
        while (s > html && *s != '<')
            --s;
        if (*s == '<')
            return s;
    }
    return NULL;
}

/* Decodes the character references of s[0..len) into out (at least len + 1 bytes); returns the length. */
static size_t decode_entities(const char *s, size_t len, char *out)
{
    static const struct {
        const char *name;
        const char *text;
    } named[] = {{"amp;", "&"}, {"lt;", "<"}, {"gt;", ">"}, {"quot;", "\""}, {"apos;", "'"}, {"nbsp;", " "}};
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] == '&') {
            int done = 0;
            for (size_t k = 0; k != sizeof(named) / sizeof(named[0]) && !done; ++k) {
                size_t l = strlen(named[k].name);
                if (i + 1 + l <= len && strncmp(s + i + 1, named[k].name, l) == 0) {
                    out[n++] = named[k].text[0];
                    i += 1 + l;
                    done = 1;
                }
            }
            if (!done && i + 2 < len && s[i + 1] == '#') {
                char *end;
                int hexa = s[i + 2] == 'x' || s[i + 2] == 'X';
                unsigned long cp = strtoul(s + i + 2 + hexa, &end, hexa ? 16 : 10);
                if (*end == ';' && (size_t)(end - s) < len && cp > 0 && cp < 0x110000) {
                    /* UTF-8; never longer than the reference itself */
                    if (cp < 0x80) {
                        out[n++] = (char)cp;
                    } else if (cp < 0x800) {
                        out[n++] = (char)(0xC0 | (cp >> 6));
                        out[n++] = (char)(0x80 | (cp & 0x3F));
                    } else if (cp < 0x10000) {
                        out[n++] = (char)(0xE0 | (cp >> 12));
                        out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                        out[n++] = (char)(0x80 | (cp & 0x3F));
                    } else {
                        out[n++] = (char)(0xF0 | (cp >> 18));
                        out[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                        out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                        out[n++] = (char)(0x80 | (cp & 0x3F));
                    }
                    i = (size_t)(end - s) + 1;
                    done = 1;
                }
            }
            if (done)
                continue;
        }
        out[n++] = s[i++];
    }
    out[n] = '\0';
    return n;
}

char *sy_itb_find(sy_it_t *h, const char *html, const char *attr, const char *value)
{
    const char *start = find_start(html, attr, value), *end;
    if (start == NULL)
        return NULL;
    if ((end = element_end(start)) == NULL)
        fail_msg("the element with %s=\"%s\" is not closed in the DOM", attr, value);
    return own_strndup(h, start, (size_t)(end - start));
}

char *sy_itb_element(sy_it_t *h, const char *dom, const char *id)
{
    return sy_itb_find(h, dom, "id", id);
}

static int is_inline(const char *name)
{
    static const char *const inline_elements[] = {"a",   "abbr", "b",     "bdi",  "code", "em",  "i",
                                                  "kbd", "mark", "q",     "s",    "samp", "small", "span",
                                                  "strong", "sub", "sup", "time", "u",    "var"};
    for (size_t i = 0; i != sizeof(inline_elements) / sizeof(inline_elements[0]); ++i)
        if (strcmp(name, inline_elements[i]) == 0)
            return 1;
    return 0;
}

char *sy_itb_strip(sy_it_t *h, const char *html)
{
    size_t len = strlen(html);
    char *raw = malloc(len + 1), *out = sy_it_alloc(h, len + 1);
    size_t n = 0;
    assert_non_null(raw);
    for (const char *p = html; *p != '\0';) {
        if (*p == '<') {
            const char *e = strncmp(p, "<!--", 4) == 0 ? strstr(p, "-->") : tag_end(p);
            if (e == NULL)
                break;
            char name[32];
            tag_name(p, name, sizeof(name));
            p = e + (*e == '-' ? 3 : 1);
            if (!is_inline(name))
                raw[n++] = ' '; /* "<td>1</td><td>2</td>" is "1 2", "<b>1</b>2" is "12" */
            continue;
        }
        raw[n++] = *p++;
    }
    raw[n] = '\0';
    char *dec = malloc(n + 1);
    assert_non_null(dec);
    size_t dn = decode_entities(raw, n, dec);
    free(raw);
    /* collapse white space, trim */
    size_t o = 0;
    int space = 0;
    for (size_t i = 0; i != dn; ++i) {
        if (isspace((unsigned char)dec[i])) {
            space = o != 0;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = 0;
        out[o++] = dec[i];
    }
    out[o] = '\0';
    free(dec);
    return out;
}

char *sy_itb_text(sy_it_t *h, const char *dom, const char *id)
{
    char *outer = sy_itb_element(h, dom, id);
    if (outer == NULL)
        return NULL;
    char *text = sy_itb_strip(h, outer);
    sy_it_release(h, outer);
    return text;
}

char *sy_itb_attr(sy_it_t *h, const char *dom, const char *id, const char *attr)
{
    const char *start = find_start(dom, "id", id), *end;
    size_t alen = strlen(attr);
    if (start == NULL || (end = tag_end(start)) == NULL)
        return NULL;
    const char *p = start + 1;
    while (p < end && !isspace((unsigned char)*p)) /* the tag name */
        ++p;
    while (p < end) {
        while (p < end && (isspace((unsigned char)*p) || *p == '/'))
            ++p;
        const char *name = p;
        while (p < end && !isspace((unsigned char)*p) && *p != '=' && *p != '/')
            ++p;
        size_t nlen = (size_t)(p - name);
        const char *val = "";
        size_t vlen = 0;
        if (p < end && *p == '=') {
            ++p;
            char q = *p == '"' || *p == '\'' ? *p++ : 0;
            val = p;
            while (p < end && (q != 0 ? *p != q : !isspace((unsigned char)*p)))
                ++p;
            vlen = (size_t)(p - val);
            if (q != 0 && p < end)
                ++p;
        }
        if (nlen == alen && strncasecmp(name, attr, alen) == 0) {
            char *out = sy_it_alloc(h, vlen + 1);
            decode_entities(val, vlen, out);
            return out;
        }
        if (nlen == 0)
            break;
    }
    return NULL;
}

/* ---- assertions ---- */

static char *need_text(sy_it_t *h, const char *dom, const char *id)
{
    char *text = sy_itb_text(h, dom, id);
    if (text == NULL)
        fail_msg("the dashboard has no element #%s", id);
    return text;
}

void sy_itb_assert_text(sy_it_t *h, const char *dom, const char *id, const char *want)
{
    char *text = need_text(h, dom, id);
    if (strcmp(text, want) != 0)
        fail_msg("#%s shows \"%s\", expected \"%s\"", id, text, want);
}

void sy_itb_assert_contains(sy_it_t *h, const char *dom, const char *id, const char *needle)
{
    char *text = need_text(h, dom, id);
    if (strstr(text, needle) == NULL)
        fail_msg("#%s shows \"%s\", which does not contain \"%s\"", id, text, needle);
}

void sy_itb_assert_int(sy_it_t *h, const char *dom, const char *id, long long want)
{
    char *text = need_text(h, dom, id), digits[64], *end;
    size_t n = 0;
    /* the page groups thousands with "," */
    for (const char *p = text; *p != '\0' && n + 1 < sizeof(digits); ++p)
        if (*p != ',')
            digits[n++] = *p;
    digits[n] = '\0';
    errno = 0;
    long long got = strtoll(digits, &end, 10);
    if (n == 0 || *end != '\0' || errno != 0)
        fail_msg("#%s shows \"%s\", expected the number %lld", id, text, want);
    if (got != want)
        fail_msg("#%s shows %lld, expected %lld", id, got, want);
    char *value = sy_itb_attr(h, dom, id, "data-value");
    if (value != NULL && (strtoll(value, &end, 10) != want || *end != '\0'))
        fail_msg("#%s has data-value=\"%s\", expected %lld", id, value, want);
}
