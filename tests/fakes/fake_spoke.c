/*
 * sy_fake_spoke: serves a fake Stripe or HubSpot API on one H2O event loop (one thread, HTTP/1.1).
 *
 *   sy_fake_spoke --api stripe|hubspot|intercom|google_sheets|quickbooks|slack|webhook --listen 127.0.0.1:PORT [--token T] [--rate N/WINDOW_MS]
 *                 [--state-file F] [--no-retry-after]
 *
 * Prints "listening on PORT" (the real port, so PORT may be 0) once it accepts connections, and serves until
 * SIGTERM or SIGINT; then writes the state to --state-file if given and exits 0.
 *
 * An API request goes through, in this order: the rate limit (429), the fault mode (hang, reset, 500, 400, slow),
 * the token (401), Stripe's Idempotency-Key (replay or idempotency_error), the API module. Everything under
 * /_fake/ is the control API: no token, no rate limit, no fault. See README.md.
 */
#include "fake_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <h2o/http1.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* ---- the API path ---- */

static char *pool_cstr(h2o_req_t *req, const char *s, size_t len)
{
    char *p = h2o_mem_alloc_pool(&req->pool, len + 1);
    if (len != 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* The request header name (lower case) as a string in the request's pool, NULL if absent. */
static const char *header_cstr(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    return i < 0 ? NULL : pool_cstr(req, req->headers.entries[i].value.base, req->headers.entries[i].value.len);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes a URL path (no '+' rule); NULL if malformed or if it would hold a NUL. */
static char *path_decode(h2o_req_t *req, const char *s, size_t len)
{
    char *out = h2o_mem_alloc_pool(&req->pool, len + 1);
    size_t n = 0;
    for (size_t i = 0; i != len; ++i) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
                return NULL;
            if ((out[n++] = (char)(hi * 16 + lo)) == '\0')
                return NULL;
            i += 2;
        } else {
            out[n++] = s[i];
        }
    }
    out[n] = '\0';
    return out;
}

static int authorized(fake_server_t *s, h2o_req_t *req)
{
    static const char bearer[] = "Bearer ", basic[] = "Basic ";
    ssize_t i;
    h2o_iovec_t v;
    size_t tlen;

    if (s->token == NULL)
        return 1;
    if ((i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1)) < 0)
        return 0;
    v = req->headers.entries[i].value;
    tlen = strlen(s->token);
    if (v.len > sizeof(bearer) - 1 && strncasecmp(v.base, bearer, sizeof(bearer) - 1) == 0)
        return v.len - (sizeof(bearer) - 1) == tlen && CRYPTO_memcmp(v.base + sizeof(bearer) - 1, s->token, tlen) == 0;
    /* Stripe also takes HTTP basic auth with the key as user name and no password. */
    if (s->state.api == FAKE_API_STRIPE && v.len > sizeof(basic) - 1 && strncasecmp(v.base, basic, sizeof(basic) - 1) == 0 &&
        tlen < 1024) {
        unsigned char plain[1026], enc[1400];
        memcpy(plain, s->token, tlen);
        plain[tlen] = ':';
        int elen = EVP_EncodeBlock(enc, plain, (int)tlen + 1);
        return v.len - (sizeof(basic) - 1) == (size_t)elen && CRYPTO_memcmp(v.base + sizeof(basic) - 1, enc, (size_t)elen) == 0;
    }
    return 0;
}

static void unauthorized(fake_server_t *s, fake_reply_t *r)
{
    if (s->state.api == FAKE_API_SHEETS)
        fake_sheets_error(r, 401, "UNAUTHENTICATED", "Request is missing required authentication credential.");
    else if (s->state.api == FAKE_API_QUICKBOOKS)
        fake_quickbooks_error(r, 401, "3200", "AuthenticationFailed: message=Token expired (sy_fake_spoke)", "AUTHENTICATION");
    else if (s->state.api == FAKE_API_STRIPE)
        fake_stripe_error(r, 401, "invalid_request_error", NULL, NULL,
                          "Invalid API Key provided (sy_fake_spoke: expected Authorization: Bearer <token>).");
    else if (s->state.api == FAKE_API_INTERCOM)
        fake_intercom_error(r, 401, "unauthorized", "Access Token Invalid");
    else
        fake_hubspot_error(r, 401, "INVALID_AUTHENTICATION",
                           "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
                           "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                           NULL);
}

static void injected_error(fake_server_t *s, int status, fake_reply_t *r)
{
    if (s->state.api == FAKE_API_SHEETS) {
        fake_sheets_error(r, status, status == 500 ? "INTERNAL" : "INVALID_ARGUMENT",
                          status == 500 ? "Internal error encountered." : "Invalid request (sy_fake_spoke: error400 mode).");
    } else if (s->state.api == FAKE_API_QUICKBOOKS) {
        fake_quickbooks_error(r, status, status == 500 ? "10000" : "2010",
                              status == 500 ? "An application error has occurred (sy_fake_spoke: error500 mode)"
                                            : "Request has invalid property (sy_fake_spoke: error400 mode)",
                              status == 500 ? "SystemFault" : "ValidationFault");
    } else if (s->state.api == FAKE_API_STRIPE) {
        if (status == 500)
            fake_stripe_error(r, 500, "api_error", NULL, NULL, "An unknown error occurred (sy_fake_spoke: error500 mode).");
        else
            fake_stripe_error(r, 400, "invalid_request_error", "parameter_invalid", NULL,
                              "Invalid request (sy_fake_spoke: error400 mode).");
    } else if (s->state.api == FAKE_API_INTERCOM) {
        if (status == 500)
            fake_intercom_error(r, 500, "server_error", "Server Error (sy_fake_spoke: error500 mode)");
        else
            fake_intercom_error(r, 400, "parameter_invalid", "Invalid request (sy_fake_spoke: error400 mode)");
    } else {
        if (status == 500)
            fake_hubspot_error(r, 500, "INTERNAL_ERROR", "internal error (sy_fake_spoke: error500 mode)", NULL);
        else
            fake_hubspot_error(r, 400, "VALIDATION_ERROR", "Property values were not valid (sy_fake_spoke: error400 mode)", NULL);
    }
}

static void rate_limited(fake_server_t *s, fake_reply_t *r)
{
    if (s->state.api == FAKE_API_SHEETS)
        fake_sheets_error(r, 429, "RESOURCE_EXHAUSTED",
                          "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per "
                          "user' of service 'sheets.googleapis.com'");
    else if (s->state.api == FAKE_API_QUICKBOOKS)
        fake_quickbooks_error(r, 429, "003001", "ThrottleExceeded: message=ThrottleExceeded; errorCode=003001", "SERVICE");
    else if (s->state.api == FAKE_API_STRIPE)
        fake_stripe_error(r, 429, "rate_limit_error", "rate_limit", NULL,
                          "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.");
    else if (s->state.api == FAKE_API_INTERCOM)
        fake_intercom_error(r, 429, "rate_limit_exceeded", "Exceeded rate limit (sy_fake_spoke)");
    else
        fake_reply_json(r, 429,
                        json_pack("{s:s, s:s, s:s, s:s}", "status", "error", "message",
                                  "You have reached your ten_secondly_rolling limit.", "errorType", "RATE_LIMIT", "policyName",
                                  "TEN_SECONDLY_ROLLING"));
}

static void fingerprint(const char *method, const char *path, const char *body, size_t body_len, char out[2 * EVP_MAX_MD_SIZE + 1])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(md, method, strlen(method) + 1) != 1 ||
        EVP_DigestUpdate(md, path, strlen(path) + 1) != 1 || EVP_DigestUpdate(md, body, body_len) != 1 ||
        EVP_DigestFinal_ex(md, digest, &dlen) != 1)
        abort();
    EVP_MD_CTX_free(md);
    for (unsigned i = 0; i != dlen; ++i)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
    out[2 * dlen] = '\0';
}

/* Stripe: replays or refuses a retried Idempotency-Key, else runs the API and stores its first answer. */
static void stripe_idempotent(fake_server_t *s, const fake_http_t *hr, const char *raw_path, const char *key, fake_reply_t *r,
                              int *replayed)
{
    fake_state_t *st = &s->state;
    char fp[2 * EVP_MAX_MD_SIZE + 1];
    json_t *e;
    int same;

    fingerprint(hr->method, raw_path, hr->body, hr->body_len, fp);
    if ((e = fake_state_idem_find(st, key, fp, &same)) != NULL) {
        if (same) {
            const char *body = json_string_value(json_object_get(e, "body"));
            free(r->body);
            r->status = (int)json_integer_value(json_object_get(e, "status"));
            if ((r->body = strdup(body)) == NULL)
                abort();
            ++st->replays;
            *replayed = 1;
        } else {
            char msg[600];
            snprintf(msg, sizeof(msg),
                     "Keys for idempotent requests can only be used with the same parameters they were first used with. "
                     "Try using a key other than '%.300s' if you meant to execute a different request.",
                     key);
            fake_stripe_error(r, 400, "idempotency_error", NULL, NULL, msg);
        }
    } else {
        fake_stripe_handle(st, hr, r);
        /* Like Stripe: a request that failed validation (400) saves nothing; anything that ran is kept. */
        if (r->status != 400)
            fake_state_idem_store(st, key, fp, r->status, r->body);
    }
}

static int on_api(fake_server_t *s, h2o_req_t *req)
{
    fake_state_t *st = &s->state;
    uint64_t now = fake_mono_ms(), retry_ms;
    unsigned remaining;
    fake_reply_t r = {0};
    answer_t *a;
    fault_t fault;
    int replayed = 0, admitted;
    ssize_t hi;
    const char *key = NULL, *version = NULL;
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    char *method = pool_cstr(req, req->method.base, req->method.len);
    char *raw_path = pool_cstr(req, req->path.base, req->path.len);
    char *body = pool_cstr(req, req->entity.base, req->entity.base != NULL ? req->entity.len : 0);
    fake_http_t hr = {.method = method,
                      .path = path_decode(req, req->path.base, path_len),
                      .query = req->query_at != SIZE_MAX ? raw_path + req->query_at + 1 : "",
                      .body = body,
                      .body_len = req->entity.base != NULL ? req->entity.len : 0};

    ++st->num_requests;
    if ((hi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("idempotency-key"), -1)) >= 0) {
        key = pool_cstr(req, req->headers.entries[hi].value.base, req->headers.entries[hi].value.len);
        fake_state_count_key(st, key);
    }
    if ((hi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("intercom-version"), -1)) >= 0)
        version = pool_cstr(req, req->headers.entries[hi].value.base, req->headers.entries[hi].value.len);

    admitted = fake_state_admit(st, now, &remaining, &retry_ms);
    fault = admitted ? fake_fault_take(s, now) : FAULT_OK;
    if (!admitted) {
        rate_limited(s, &r);
    } else if (fault == FAULT_HANG && s->num_hung < HUNG_MAX) {
        fake_state_log(st, method, raw_path, key, hr.body, hr.body_len, 0, "hang", 0);
        fake_hold(s, req);
        return 0;
    } else if (fault == FAULT_HANG || fault == FAULT_RESET) {
        fake_state_log(st, method, raw_path, key, hr.body, hr.body_len, 0, "reset", 0);
        fake_reset_connection(req);
        return 0;
    } else if (fault == FAULT_ERROR500 || fault == FAULT_ERROR400) {
        injected_error(s, fault == FAULT_ERROR500 ? 500 : 400, &r);
    } else if (!authorized(s, req)) {
        unauthorized(s, &r);
    } else if (hr.path == NULL) {
        if (st->api == FAKE_API_SHEETS)
            fake_sheets_error(&r, 400, "INVALID_ARGUMENT", "Malformed URL escape in the path.");
        else if (st->api == FAKE_API_STRIPE)
            fake_stripe_error(&r, 400, "invalid_request_error", NULL, NULL, "Malformed URL escape in the path.");
        else
            fake_hubspot_error(&r, 400, "VALIDATION_ERROR", "Malformed URL escape in the path.", NULL);
    } else if (st->api == FAKE_API_SLACK) {
        fake_slack_handle(st, &hr, &r);
    } else if (st->api == FAKE_API_WEBHOOK) {
        hr.webhook_id = header_cstr(req, "webhook-id");
        hr.webhook_timestamp = header_cstr(req, "webhook-timestamp");
        hr.webhook_signature = header_cstr(req, "webhook-signature");
        fake_webhook_handle(st, &hr, &r);
    } else if (st->api == FAKE_API_STRIPE && key != NULL && strcmp(method, "POST") == 0) {
        if (strlen(key) > FAKE_IDEM_KEY_MAX || key[0] == '\0')
            fake_stripe_error(&r, 400, "invalid_request_error", NULL, NULL, "Idempotency-Key must be 1 to 255 characters long.");
        else
            stripe_idempotent(s, &hr, raw_path, key, &r, &replayed);
    } else if (st->api == FAKE_API_STRIPE) {
        fake_stripe_handle(st, &hr, &r);
    } else if (st->api == FAKE_API_INTERCOM) {
        /* Stricter than Intercom (which falls back to the app's default version): a push must pin its version. */
        if (!fake_intercom_version_ok(version))
            fake_intercom_error(&r, 400, "intercom_version_invalid",
                                "Requested version is not supported (sy_fake_spoke: send Intercom-Version: 2.x)");
        else
            fake_intercom_handle(st, &hr, &r);
    } else if (st->api == FAKE_API_SHEETS) {
        fake_sheets_handle(st, &hr, &r);
    } else if (st->api == FAKE_API_QUICKBOOKS) {
        fake_quickbooks_handle(st, &hr, &r);
    } else {
        fake_hubspot_handle(st, &hr, &r);
    }

    fake_state_log(st, method, raw_path, key, hr.body, hr.body_len, r.status, fault != FAULT_OK ? fake_fault_names[fault] : NULL,
                   replayed);
    if (st->api == FAKE_API_INTERCOM && json_array_size(st->requests) != 0)
        json_object_set_new(json_array_get(st->requests, json_array_size(st->requests) - 1), "intercom_version",
                            version != NULL ? json_string(version) : json_null());
    a = fake_answer_create(req, &r);
    if (st->api == FAKE_API_HUBSPOT && st->rate_limit != 0) {
        fake_answer_header_u64(req, a, "X-HubSpot-RateLimit-Max", st->rate_limit);
        fake_answer_header_u64(req, a, "X-HubSpot-RateLimit-Remaining", remaining);
        fake_answer_header_u64(req, a, "X-HubSpot-RateLimit-Interval-Milliseconds", st->window_ms);
    }
    if (st->api == FAKE_API_INTERCOM && st->rate_limit != 0) {
        /* Intercom's headers: the window's limit, what is left, and the unix second it refills. */
        fake_answer_header_u64(req, a, "X-RateLimit-Limit", st->rate_limit);
        fake_answer_header_u64(req, a, "X-RateLimit-Remaining", remaining);
        fake_answer_header_u64(req, a, "X-RateLimit-Reset", (uint64_t)fake_now_s() + (retry_ms + 999) / 1000);
    }
    if (!admitted && st->retry_after)
        fake_answer_header_u64(req, a, "Retry-After", retry_ms == 0 ? 1 : (retry_ms + 999) / 1000);
    if (st->api == FAKE_API_STRIPE) {
        char rid[32];
        snprintf(rid, sizeof(rid), "req_fake%llu", (unsigned long long)st->num_requests);
        fake_answer_header(req, a, "Request-Id", rid);
        if (replayed)
            fake_answer_header(req, a, "Idempotent-Replayed", "true");
    }
    fake_reply_dispose(&r);
    if (fault == FAULT_SLOW)
        fake_send_later(s, req, a, s->fault.delay_ms);
    else
        fake_answer_send(req, a);
    return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    fake_server_t *s = ((fake_handler_t *)self)->server;
    static const char control_prefix[] = "/_fake/";
    if (req->path_normalized.len >= sizeof(control_prefix) - 1 &&
        memcmp(req->path_normalized.base, control_prefix, sizeof(control_prefix) - 1) == 0)
        return fake_control(s, req);
    return on_api(s, req);
}

/* ---- setup ---- */

static void on_accept(h2o_socket_t *listener, const char *err)
{
    fake_server_t *s = listener->data;
    h2o_socket_t *sock;
    if (err != NULL)
        return;
    while ((sock = h2o_evloop_socket_accept(listener)) != NULL) {
        struct timeval now;
        gettimeofday(&now, NULL);
        h2o_http1_accept(&s->accept_ctx, sock, now);
    }
}

static int open_listener(const char *hostport, unsigned short *port_out)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV}, *res;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    int fd, on = 1;

    if (colon == NULL || colon == hostport || (size_t)(colon - hostport) >= sizeof(host))
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
        freeaddrinfo(res);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
        freeaddrinfo(res);
        close(fd);
        return -1;
    }
    freeaddrinfo(res);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static int usage(const char *msg)
{
    if (msg != NULL)
        fprintf(stderr, "sy_fake_spoke: %s\n", msg);
    fprintf(stderr, "usage: sy_fake_spoke --api stripe|hubspot|intercom|google_sheets|quickbooks|slack|webhook --listen HOST:PORT [--token T] [--rate N/WINDOW_MS]\n"
                    "                     [--state-file F] [--no-retry-after]\n");
    return 2;
}

/* "N/WINDOW_MS" */
static int parse_rate(const char *s, unsigned *limit, uint64_t *window)
{
    char *end;
    unsigned long n = strtoul(s, &end, 10), w;
    if (end == s || *end != '/' || n > 1000000)
        return -1;
    s = end + 1;
    w = strtoul(s, &end, 10);
    if (end == s || *end != '\0' || w == 0)
        return -1;
    *limit = (unsigned)n;
    *window = w;
    return 0;
}

int main(int argc, char **argv)
{
    /* Static: one per process, reachable until exit (H2O's connections are left to the exit, see below). */
    static fake_server_t srv;
    const char *api = NULL, *listen_at = NULL, *rate = NULL, *state_file = NULL;
    unsigned limit = 0;
    uint64_t window = 0;
    int no_retry_after = 0, fd;
    unsigned short port;

    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (strcmp(a, "--no-retry-after") == 0) {
            no_retry_after = 1;
            continue;
        }
        if (i + 1 == argc)
            return usage("missing value after an option");
        if (strcmp(a, "--api") == 0)
            api = argv[++i];
        else if (strcmp(a, "--listen") == 0)
            listen_at = argv[++i];
        else if (strcmp(a, "--token") == 0)
            srv.token = argv[++i];
        else if (strcmp(a, "--rate") == 0)
            rate = argv[++i];
        else if (strcmp(a, "--secret") == 0)
            srv.state.secret = argv[++i];
        else if (strcmp(a, "--state-file") == 0)
            state_file = argv[++i];
        else
            return usage("unknown option");
    }
    if (api == NULL || listen_at == NULL)
        return usage("--api and --listen are required");
    fake_api_t which = FAKE_API_STRIPE;
    while (which != FAKE_API_COUNT && strcmp(api, fake_api_names[which]) != 0)
        which = (fake_api_t)(which + 1);
    if (which == FAKE_API_COUNT)
        return usage("--api must be stripe, hubspot, intercom, google_sheets, quickbooks, slack or webhook");
    if (which == FAKE_API_WEBHOOK && srv.state.secret == NULL)
        srv.state.secret = getenv("SY_FAKE_WEBHOOK_SECRET"); /* for harnesses that cannot add options */
    if (which == FAKE_API_WEBHOOK && srv.state.secret == NULL)
        return usage("--api webhook needs --secret whsec_...");
    window = strcmp(api, "stripe") == 0 ? 1000 : strcmp(api, "google_sheets") == 0 ? 60000 : 10000;
    if (rate != NULL && parse_rate(rate, &limit, &window) != 0)
        return usage("--rate must be N/WINDOW_MS, e.g. 100/10000");
    if ((fd = open_listener(listen_at, &port)) < 0) {
        fprintf(stderr, "sy_fake_spoke: cannot listen on %s: %s\n", listen_at, strerror(errno));
        return 1;
    }

    const char *secret = srv.state.secret;
    fake_state_init(&srv.state, which, limit, window);
    srv.state.secret = secret;
    srv.state.retry_after = !no_retry_after;
    h2o_linklist_init_anchor(&srv.hung);

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    h2o_config_init(&srv.gc);
    srv.gc.server_name = h2o_iovec_init(H2O_STRLIT("sy_fake_spoke"));
    srv.gc.max_request_entity_size = FAKE_MAX_BODY;
    srv.gc.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host = h2o_config_register_host(&srv.gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    fake_handler_t *handler = (fake_handler_t *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->server = &srv;

    srv.loop = h2o_evloop_create();
    h2o_context_init(&srv.ctx, srv.loop, &srv.gc);
    srv.accept_ctx.ctx = &srv.ctx;
    srv.accept_ctx.hosts = srv.gc.hosts;
    srv.listener = h2o_evloop_socket_create(srv.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    srv.listener->data = &srv;
    h2o_socket_read_start(srv.listener, on_accept);

    printf("listening on %u\n", port);
    fflush(stdout);

    while (stop_signal == 0) {
        h2o_evloop_run(srv.loop, 100);
        fake_reap_hung(&srv, 0);
    }

    if (state_file != NULL && fake_state_write(&srv.state, state_file) != 0)
        fprintf(stderr, "sy_fake_spoke: cannot write %s\n", state_file);
    /*
     * Exit without tearing H2O down: hung requests and idle keep-alive connections would make H2O 2.2.5 assert in
     * h2o_context_dispose. What is left stays reachable from srv, and the kernel closes the sockets.
     */
    fake_state_dispose(&srv.state);
    return 0;
}
