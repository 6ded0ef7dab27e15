/*
 * Paced, retrying reads of a tool's API (see api_read.h). Moved out of reconcile.c so the fetcher reads the same way.
 */
#include "api_read.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "connectors_builtin.h"
#include "log.h"

#define MAX_RETRIES 8  /* per request: 429s (the tool says it is busy), then the read fails */
#define MAX_FAILURES 4 /* per request: 5xx and transport errors (1 + 2 + 4 s apart), then it fails */
#define MAX_WAIT_MS 60000

void sy_api_sleep_ms(int64_t ms, const _Atomic int *cancel)
{
    while (ms > 0 && (cancel == NULL || !atomic_load(cancel))) {
        int64_t slice = ms < 100 ? ms : 100;
        struct timespec ts = {0, (long)slice * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    sy_api_page_t *page = arg;
    size_t len = size * n;
    if (page->len + len > SY_API_READ_MAX_BYTES) {
        page->too_big = 1;
        return 0;
    }
    char *grown = realloc(page->base, page->len + len + 1);
    if (grown == NULL)
        return 0;
    page->base = grown;
    memcpy(page->base + page->len, p, len);
    page->len += len;
    page->base[page->len] = '\0';
    return len;
}

/* Retry-After, kept by the header callback (whole seconds or an HTTP date, as classify reads them). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    int64_t *retry_after_ms = arg;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        sy_slice_t v = sy_connector_trim((sy_slice_t){p + sizeof(name) - 1, len - (sizeof(name) - 1)});
        while (v.len != 0 && (v.base[v.len - 1] == '\r' || v.base[v.len - 1] == '\n'))
            --v.len;
        *retry_after_ms = sy_connector_retry_after_ms(v, sy_now_ms());
    }
    return len;
}

/* Ends a transfer once the caller is cancelled (serve stopping), so a hung tool does not hold the stop. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    const _Atomic int *cancel = arg;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return cancel != NULL && atomic_load(cancel);
}

int sy_api_reader_init(sy_api_reader_t *r, const sy_source_conf_t *src, const char *agent, const _Atomic int *cancel)
{
    const sy_connector_t *c = src->connector;
    unsigned count = src->api_rate_count != 0 ? src->api_rate_count : c->default_rate_count;
    int64_t window = src->api_rate_count != 0 ? src->api_rate_window_ms : c->default_rate_window_ms;
    *r = (sy_api_reader_t){.src = src, .agent = agent, .cancel = cancel, .min_gap_ms = count != 0 ? window / count : 0};
    return (r->curl = curl_easy_init()) != NULL ? 0 : SY_ENOMEM;
}

void sy_api_reader_dispose(sy_api_reader_t *r)
{
    if (r->curl != NULL)
        curl_easy_cleanup(r->curl);
    r->curl = NULL;
}

long sy_api_read(sy_api_reader_t *r, const sy_http_request_t *req, sy_api_page_t *page, char *err, size_t errlen)
{
    const sy_source_conf_t *src = r->src;
    CURL *curl = r->curl;
    char url[1024], auth[1024], ctype[96], agent[64];
    struct curl_slist *hl = NULL;
    long status = 0;
    snprintf(url, sizeof(url), "%s%s", src->api_base_url, req->path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", src->api_token != NULL ? src->api_token : "");
    snprintf(agent, sizeof(agent), "switchyard-%s/%s", r->agent, SY_VERSION);
    hl = curl_slist_append(hl, auth);
    hl = curl_slist_append(hl, "Accept: application/json"); /* QuickBooks answers XML without it */
    if (req->body != NULL) {
        snprintf(ctype, sizeof(ctype), "Content-Type: %s", req->content_type);
        hl = curl_slist_append(hl, ctype);
    }
    hl = curl_slist_append(hl, "Expect:");
    for (int attempt = 0, failures = 0;; ++attempt) {
        int64_t retry_after_ms = -1, wait = r->last_at + r->min_gap_ms - sy_now_ms();
        sy_api_sleep_ms(wait, r->cancel); /* the source's rate: one request per min_gap_ms */
        r->last_at = sy_now_ms();
        page->len = 0;
        page->too_big = 0;
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body != NULL) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
        }
        curl_easy_setopt(curl, CURLOPT_USERAGENT, agent);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(src->api_timeout_ms > 0 ? src->api_timeout_ms : 30000));
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, page);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &retry_after_ms);
        if (r->cancel != NULL) {
            curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
            curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)r->cancel);
            curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        }
        CURLcode cc = curl_easy_perform(curl);
        status = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (cc == CURLE_OK && status >= 200 && status <= 299)
            break;
        int busy = cc != CURLE_OK || status == 429 || status >= 500;
        failures += status != 429;
        if (status == 429)
            ++r->rate_limited;
        else if (busy)
            ++r->failures;
        int cancelled = r->cancel != NULL && atomic_load(r->cancel);
        if (page->too_big || !busy || cancelled || attempt + 1 == MAX_RETRIES || failures == MAX_FAILURES) {
            if (page->too_big)
                snprintf(err, errlen, "%.200s answered more than %u MiB", url, SY_API_READ_MAX_BYTES >> 20);
            else if (cc != CURLE_OK)
                snprintf(err, errlen, "%.200s: %s (after %d attempts)", url, curl_easy_strerror(cc), attempt + 1);
            else
                snprintf(err, errlen, "%.200s answered HTTP %ld%s", url, status,
                         busy ? (cancelled ? " (stopping)" : " (after retries)") : "");
            status = status == 401 || status == 403 ? SY_EINVAL : SY_EIO;
            goto Exit;
        }
        /* 429: as long as the tool says (bounded), else a second; 5xx and transport errors: 1, 2, 4, ... s. */
        int64_t backoff = status == 429 ? (retry_after_ms >= 0 ? retry_after_ms : 1000) : 1000LL << (failures - 1);
        char what[96];
        if (cc != CURLE_OK)
            snprintf(what, sizeof(what), "%s", curl_easy_strerror(cc));
        else
            snprintf(what, sizeof(what), "HTTP %ld", status);
        sy_log(SY_LOG_WARN, "%s %s: %s: %s; again in %lld ms", r->agent, src->name, url, what,
               (long long)(backoff < MAX_WAIT_MS ? backoff : MAX_WAIT_MS));
        sy_api_sleep_ms(backoff < MAX_WAIT_MS ? backoff : MAX_WAIT_MS, r->cancel);
    }
Exit:
    curl_slist_free_all(hl);
    return status;
}
