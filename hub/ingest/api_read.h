/*
 * Paced reads of a tool's API, shared by reconcile (its listing of past events) and the fetcher (objects that
 * notifications name without their values): one blocking libcurl easy handle per reader, requests spaced at the
 * source's outbound rate (api.rate, else the connector's documented limit), 429 honoured (Retry-After, bounded),
 * 5xx and transport errors retried a few times with backoff (1, 2, 4 s). They do not share delivery's budget.
 */
#ifndef SY_API_READ_H
#define SY_API_READ_H

#include <stdatomic.h>

#include "config.h"
#include "connector.h"

#define SY_API_READ_MAX_BYTES (16u << 20) /* an answer larger than this is refused */

/* One answer's body, NUL-terminated (base may be NULL while len is 0). Reused across reads; free base. */
typedef struct st_sy_api_page_t {
    char *base;
    size_t len;
    int too_big;
} sy_api_page_t;

typedef struct st_sy_api_reader_t {
    const sy_source_conf_t *src;
    const char *agent;       /* "reconcile", "fetch": the User-Agent (switchyard-<agent>/version) and log lines */
    const _Atomic int *cancel; /* may be NULL; once set, waits end and the transfer in flight is cut */
    int64_t min_gap_ms;      /* the source's rate: one request per min_gap_ms */
    int64_t last_at;
    void *curl;              /* CURL * */
    /* Counted for the caller's metrics: answers 429, and 5xx or transport errors (each one retried or final). */
    uint64_t rate_limited, failures;
} sy_api_reader_t;

/* Sets r up for src (its api_base_url must be set). Returns 0 or SY_ENOMEM. */
int sy_api_reader_init(sy_api_reader_t *r, const sy_source_conf_t *src, const char *agent, const _Atomic int *cancel);
void sy_api_reader_dispose(sy_api_reader_t *r);

/*
 * Sends req (method, path under the source's base URL, optional body) with the source's bearer token, paced and
 * retried as above, into page. Returns the 2xx status, or a negative code with err saying why (no secret in it):
 * SY_EINVAL for 401/403 (the token), SY_EIO for any other refusal, retries spent or an answer over the cap.
 */
long sy_api_read(sy_api_reader_t *r, const sy_http_request_t *req, sy_api_page_t *page, char *err, size_t errlen);

/* Sleeps ms in slices of 100 ms, returning early once *cancel is set (cancel may be NULL). */
void sy_api_sleep_ms(int64_t ms, const _Atomic int *cancel);

#endif
