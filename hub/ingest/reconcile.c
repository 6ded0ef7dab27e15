/*
 * Reconcile (see reconcile.h): pages through a tool's listing of past events and appends what the log misses.
 */
#include "reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_read.h"
#include "event.h"
#include "json.h"
#include "log.h"

#define MAX_PAGES 100000           /* 10M events at 100 a page: a loop guard, not a limit anyone meets */
#define RECONCILED "reconciled"    /* the signature of an event reconcile appended */
#define APPEND_CHUNK 256           /* events per commit when appending */
/* Missing events are kept until the listing ends (to append them oldest first): a bound on that memory. */
#define MAX_MISSING 200000

/* The events the log misses, copied out of their pages (a page's buffer is reused for the next). */
typedef struct st_batch_t {
    const sy_source_conf_t *src;
    sy_store_read_t *rd;
    int64_t now_ms;
    sy_append_t *items;
    char **values; /* encoded events (item.value), malloc'd */
    char **ids;    /* event ids (item.event_id), malloc'd */
    size_t n, cap;
    sy_reconcile_result_t *out;
} batch_t;

static void batch_clear(batch_t *b)
{
    for (size_t i = 0; i != b->n; ++i) {
        free(b->values[i]);
        free(b->ids[i]);
    }
    b->n = 0;
}

static void batch_dispose(batch_t *b)
{
    batch_clear(b);
    free(b->items);
    free(b->values);
    free(b->ids);
}

static int note_missing(batch_t *b, const sy_event_ref_t *ev)
{
    if (json_array_size(b->out->missing_events) >= SY_RECONCILE_MAX_LISTED)
        return 0;
    json_t *m = json_pack("{s:s%, s:s%, s:I}", "id", ev->id.base, ev->id.len, "type", ev->type.base, ev->type.len,
                          "occurred_at", (json_int_t)ev->occurred_at_ms);
    return m != NULL && json_array_append_new(b->out->missing_events, m) == 0 ? 0 : SY_ENOMEM;
}

/* decode_changes' sink: an event the log has is counted; one it misses is kept for the append. */
static int on_change(void *arg, const sy_event_ref_t *ev)
{
    batch_t *b = arg;
    uint64_t seq;
    atomic_fetch_add(&b->out->listed, 1);
    sy_slice_t source = sy_slice_cstr(b->src->name);
    int rc = sy_store_lookup_event_id(b->rd, source, ev->id, &seq);
    if (rc == 0) {
        atomic_fetch_add(&b->out->in_log, 1);
        return 0;
    }
    if (rc != SY_ENOTFOUND)
        return rc;
    /* Refused as ingress refuses it: a version that would win for ever. */
    if (ev->occurred_at_ms != 0 && !sy_event_time_plausible(ev->occurred_at_ms, b->now_ms))
        return 0;
    atomic_fetch_add(&b->out->missing, 1);
    if ((rc = note_missing(b, ev)) != 0)
        return rc;
    if (b->n == MAX_MISSING)
        return SY_ETOOBIG;
    if (b->n == b->cap) {
        size_t cap = b->cap * 2 + 64;
        sy_append_t *items = realloc(b->items, cap * sizeof(*items));
        if (items != NULL)
            b->items = items;
        char **values = items != NULL ? realloc(b->values, cap * sizeof(*values)) : NULL;
        if (values != NULL)
            b->values = values;
        char **ids = values != NULL ? realloc(b->ids, cap * sizeof(*ids)) : NULL;
        if (ids == NULL)
            return SY_ENOMEM;
        b->ids = ids;
        b->cap = cap;
    }
    sy_event_t e = {.received_at_ms = b->now_ms,
                    .occurred_at_ms = ev->occurred_at_ms,
                    .source = source,
                    .connector = sy_slice_cstr(b->src->connector->name),
                    .event_id = ev->id,
                    .type = ev->type,
                    .signature = SY_SLICE_LIT(RECONCILED),
                    .user_agent = SY_SLICE_LIT("switchyard-reconcile/" SY_VERSION),
                    .batch_size = 1,
                    .body = ev->raw};
    size_t len;
    char *id = malloc(ev->id.len + 1);
    if (id == NULL)
        return SY_ENOMEM;
    memcpy(id, ev->id.base, ev->id.len);
    id[ev->id.len] = '\0';
    if (sy_codec_event_encode(&e, &b->values[b->n], &len) != 0) {
        free(id);
        return SY_ENOMEM;
    }
    b->ids[b->n] = id;
    b->items[b->n] = (sy_append_t){.source = source, .event_id = {id, ev->id.len}, .value = {b->values[b->n], len}};
    ++b->n;
    return 0;
}

/* Appends what the listing missed, oldest first, APPEND_CHUNK events a commit. */
static int append_missing(batch_t *b, int newest_first, sy_reconcile_append_fn append, void *arg)
{
    if (newest_first) {
        for (size_t i = 0, j = b->n; i + 1 < j; ++i, --j) {
            sy_append_t t = b->items[i];
            b->items[i] = b->items[j - 1];
            b->items[j - 1] = t;
        }
    }
    for (size_t at = 0; at < b->n; at += APPEND_CHUNK) {
        size_t n = b->n - at < APPEND_CHUNK ? b->n - at : APPEND_CHUNK;
        int rc = append(arg, b->items + at, n);
        if (rc != 0) {
            snprintf(b->out->error, sizeof(b->out->error), "appending to the log failed: %s",
                     rc == SY_EFULL ? "the data dir is full" : "storage error");
            return rc;
        }
        for (size_t i = 0; i != n; ++i)
            atomic_fetch_add(&b->out->appended, b->items[at + i].duplicate ? 0 : 1);
    }
    return 0;
}

int sy_reconcile_check(const sy_config_t *conf, const sy_reconcile_spec_t *spec, char *err, size_t errlen)
{
    const sy_source_conf_t *src = sy_config_find_source(conf, spec->source, strlen(spec->source));
    if (src == NULL) {
        snprintf(err, errlen, "no source \"%s\" in the configuration", spec->source);
        return SY_EINVAL;
    }
    if (src->connector->encode_changes == NULL || src->connector->decode_changes == NULL) {
        snprintf(err, errlen, "the %s connector cannot list past events: nothing to reconcile from",
                 src->connector->name);
        return SY_EINVAL;
    }
    if (src->api_base_url == NULL) {
        snprintf(err, errlen, "source \"%s\" has no api (base_url, token) to read its events from", src->name);
        return SY_EINVAL;
    }
    /* What the listing needs may be an option of the connector's (QuickBooks: the realms to read). */
    sy_http_request_t probe;
    int rc = src->connector->encode_changes(&src->verify, 0, "", &probe);
    sy_http_request_dispose(&probe);
    if (rc != 0) {
        const sy_connector_t *c = src->connector;
        snprintf(err, errlen, "source \"%s\" cannot list its past events as configured%s%s%s%s", src->name,
                 c->num_options != 0 ? ": see its options (" : "", c->num_options != 0 ? c->options[0].key : "",
                 c->num_options != 0 ? ": " : "", c->num_options != 0 ? c->options[0].doc : "");
        if (c->num_options != 0)
            snprintf(err + strlen(err), errlen - strlen(err), ")");
        return SY_EINVAL;
    }
    return 0;
}

int sy_reconcile_run(const sy_config_t *conf, sy_store_t *store, const sy_reconcile_spec_t *spec,
                     sy_reconcile_append_fn append, void *arg, const _Atomic int *cancel, sy_reconcile_result_t *out)
{
    const sy_source_conf_t *src = sy_config_find_source(conf, spec->source, strlen(spec->source));
    batch_t b = {.src = src, .out = out};
    sy_api_page_t page = {NULL, 0, 0};
    sy_api_reader_t reader = {0};
    char cursor[512] = "", next[512];
    sy_json_t json;
    int json_ready = 0, rc = SY_EINVAL;

    out->error[0] = '\0';
    if ((rc = sy_reconcile_check(conf, spec, out->error, sizeof(out->error))) != 0)
        return rc;
    const sy_connector_t *c = src->connector;
    int64_t since = spec->since_ms;
    if (since <= 0)
        since = c->changes_retention_ms > 0 ? sy_now_ms() - c->changes_retention_ms : 0;
    if ((rc = sy_api_reader_init(&reader, src, "reconcile", cancel)) != 0) {
        goto Exit;
    }
    for (unsigned pages = 0; pages != MAX_PAGES; ++pages) {
        sy_http_request_t req;
        if (cancel != NULL && atomic_load(cancel)) {
            snprintf(out->error, sizeof(out->error), "cancelled");
            rc = SY_ESHUTDOWN;
            goto Exit;
        }
        if ((rc = c->encode_changes(&src->verify, since, cursor, &req)) != 0) {
            snprintf(out->error, sizeof(out->error), "cannot build the listing request (cursor \"%.200s\")", cursor);
            goto Exit;
        }
        long status = sy_api_read(&reader, &req, &page, out->error, sizeof(out->error));
        if (status < 0) {
            sy_http_request_dispose(&req);
            rc = (int)status;
            goto Exit;
        }
        atomic_fetch_add(&out->pages, 1);
        if (json_ready)
            sy_json_dispose(&json);
        sy_json_init(&json, page.len / 2 + 16, 64);
        json_ready = 1;
        b.now_ms = sy_now_ms();
        if ((rc = sy_store_read_begin(store, &b.rd)) != 0) {
            sy_http_request_dispose(&req);
            snprintf(out->error, sizeof(out->error), "cannot read the log");
            goto Exit;
        }
        rc = c->decode_changes(&src->verify, &req, &json, (sy_slice_t){page.base != NULL ? page.base : "", page.len},
                               on_change, &b, next, sizeof(next));
        sy_http_request_dispose(&req);
        sy_store_read_end(b.rd);
        b.rd = NULL;
        if (rc != 0) {
            if (rc == SY_ETOOBIG)
                snprintf(out->error, sizeof(out->error), "more than %d events are missing: reconcile a shorter time "
                         "(--since) first", MAX_MISSING);
            else
                snprintf(out->error, sizeof(out->error), rc == SY_EPARSE ? "page %u is not a listing of events"
                                                                         : "page %u could not be read (out of memory?)",
                         pages + 1);
            goto Exit;
        }
        if (next[0] == '\0')
            break;
        if (strcmp(next, cursor) == 0) {
            snprintf(out->error, sizeof(out->error), "the listing does not move on (cursor %.200s)", next);
            rc = SY_EPARSE;
            goto Exit;
        }
        memcpy(cursor, next, sizeof(cursor));
    }
    if (!spec->dry_run && (rc = append_missing(&b, c->changes_newest_first, append, arg)) != 0)
        goto Exit;
    rc = 0;
Exit:
    if (json_ready)
        sy_json_dispose(&json);
    sy_api_reader_dispose(&reader);
    batch_dispose(&b);
    free(page.base);
    return rc;
}

json_t *sy_reconcile_result_json(const sy_reconcile_spec_t *spec, const sy_reconcile_result_t *r)
{
    return json_pack("{s:s, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:o, s:s?}", "source", spec->source, "since",
                     (json_int_t)spec->since_ms, "dry_run", spec->dry_run, "pages", (json_int_t)atomic_load(&r->pages),
                     "listed", (json_int_t)atomic_load(&r->listed), "in_log", (json_int_t)atomic_load(&r->in_log),
                     "missing", (json_int_t)atomic_load(&r->missing), "appended",
                     (json_int_t)atomic_load(&r->appended), "missing_events",
                     r->missing_events != NULL ? json_incref(r->missing_events) : json_array(), "error",
                     r->error[0] != '\0' ? r->error : NULL);
}
