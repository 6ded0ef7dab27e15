/*
 * The QuickBooks Online v3 customer endpoints the quickbooks connector calls, with QuickBooks' conflict rule: a
 * write must name the customer's current SyncToken, else 400 with Fault code 5010 (Stale Object Error).
 *
 *   GET  /v3/company/{realm}/customer/{id}                         {"Customer":{…},"time"}
 *   GET  /v3/company/{realm}/query?query=select * from Customer where Id = 'N'
 *                                                                  {"QueryResponse":{"Customer":[…]}} or {}
 *   POST /v3/company/{realm}/customer?requestid=R                  sparse update: {"sparse":true,"Id","SyncToken",…}
 *   GET  /v3/company/{realm}/cdc?entities=Customer&changedSince=…  {"CDCResponse":[{"QueryResponse":[{"Customer":[…]}]}]}
 *
 * Objects are kept under "realm:Id" (the connector's object ids). A seeded object may carry "_concurrent_edits": N:
 * its next N writes find that someone else changed it in between (the SyncToken moves on, the write is refused with
 * 5010), so a test can make a stale token happen deterministically. A repeated requestid replays the first answer.
 */
#include "fake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QB_FAKE_REQUESTID_MAX 50

static json_t *xjson(json_t *j)
{
    if (j == NULL)
        abort();
    return j;
}

void fake_quickbooks_error(fake_reply_t *out, int status, const char *code, const char *message, const char *type)
{
    char now[40];
    fake_now_iso(now, sizeof(now));
    fake_reply_json(out, status,
                    xjson(json_pack("{s:{s:[{s:s, s:s, s:s}], s:s}, s:s}", "Fault", "Error", "Message", message, "Detail",
                                    message, "code", code, "type", type, "time", now)));
}

static void answer_customer(fake_reply_t *out, json_t *obj)
{
    char now[40];
    json_t *copy = xjson(json_deep_copy(obj));
    json_object_del(copy, "_concurrent_edits");
    fake_now_iso(now, sizeof(now));
    fake_reply_json(out, 200, xjson(json_pack("{s:o, s:s}", "Customer", copy, "time", now)));
}

/* Splits "/v3/company/{realm}/{rest}" into realm and rest (pointers into a copy the caller frees). */
static char *split(const char *path, const char **realm, const char **rest)
{
    static const char prefix[] = "/v3/company/";
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
        return NULL;
    char *copy = strdup(path + sizeof(prefix) - 1), *slash;
    if (copy == NULL)
        abort();
    if ((slash = strchr(copy, '/')) == NULL || slash == copy) {
        free(copy);
        return NULL;
    }
    *slash = '\0';
    *realm = copy;
    *rest = slash + 1;
    return copy;
}

/* The value of query parameter name (percent-decoded, malloc'd), or NULL. */
static char *query_param(const char *query, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *p = query; p != NULL && *p != '\0';) {
        const char *end = strchr(p, '&');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            char *v = malloc(len - nlen), *o = v;
            if (v == NULL)
                abort();
            for (size_t i = nlen + 1; i < len; ++i) {
                unsigned hi, lo;
                if (p[i] == '%' && i + 2 < len + 1 && sscanf(p + i + 1, "%1x%1x", &hi, &lo) == 2) {
                    *o++ = (char)(hi << 4 | lo);
                    i += 2;
                } else {
                    *o++ = p[i];
                }
            }
            *o = '\0';
            return v;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return NULL;
}

static json_t *object_of(fake_state_t *st, const char *realm, const char *id)
{
    char key[160];
    snprintf(key, sizeof(key), "%s:%s", realm, id);
    return json_object_get(st->objects, key);
}

/* Copies the members of src into dst, objects merged member by member (a sparse update). */
static void merge(json_t *dst, json_t *src)
{
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v)
    {
        json_t *cur = json_object_get(dst, k);
        if (json_is_object(v) && json_is_object(cur))
            merge(cur, v);
        else
            json_object_set(dst, k, v);
    }
}

static void touch(json_t *obj)
{
    char now[40];
    fake_now_iso(now, sizeof(now));
    json_t *meta = json_object_get(obj, "MetaData");
    if (!json_is_object(meta))
        json_object_set_new(obj, "MetaData", (meta = xjson(json_object())));
    json_object_set_new(meta, "LastUpdatedTime", xjson(json_string(now)));
}

static void bump(json_t *obj)
{
    char token[24];
    long long t = atoll(json_string_value(json_object_get(obj, "SyncToken")));
    snprintf(token, sizeof(token), "%lld", t + 1);
    json_object_set_new(obj, "SyncToken", xjson(json_string(token)));
    touch(obj);
}

static void sparse_update(fake_state_t *st, const char *realm, const fake_http_t *req, fake_reply_t *out)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr), *obj;
    const char *id = json_string_value(json_object_get(body, "Id"));
    const char *token = json_string_value(json_object_get(body, "SyncToken"));
    if (!json_is_object(body)) {
        fake_quickbooks_error(out, 400, "2500", "Invalid Reference Id: the request body is not a JSON object",
                              "ValidationFault");
    } else if (!json_is_true(json_object_get(body, "sparse"))) {
        /* A full update clears every writable member it leaves out: the connector must never send one. */
        fake_quickbooks_error(out, 400, "2010", "Request has invalid or unsupported property (sy fake: sparse must be true)",
                              "ValidationFault");
    } else if (id == NULL || token == NULL) {
        fake_quickbooks_error(out, 400, "2020", "Required param missing, need to supply the required value for Id and SyncToken",
                              "ValidationFault");
    } else if ((obj = object_of(st, realm, id)) == NULL) {
        fake_quickbooks_error(out, 400, "610", "Object Not Found : Something you're trying to use has been made inactive",
                              "ValidationFault");
    } else {
        json_int_t edits = json_integer_value(json_object_get(obj, "_concurrent_edits"));
        if (edits > 0) { /* someone else saved the customer first */
            json_object_set_new(obj, "_concurrent_edits", xjson(json_integer(edits - 1)));
            bump(obj);
        }
        if (strcmp(token, json_string_value(json_object_get(obj, "SyncToken"))) != 0) {
            fake_quickbooks_error(out, 400, "5010",
                                  "Stale Object Error : You and another user were working on the same thing.",
                                  "ValidationFault");
        } else {
            json_object_del(body, "sparse");
            json_object_del(body, "SyncToken");
            merge(obj, body);
            bump(obj);
            answer_customer(out, obj);
        }
    }
    json_decref(body);
}

static void query(fake_state_t *st, const char *realm, const fake_http_t *req, fake_reply_t *out)
{
    char *q = query_param(req->query, "query"), id[40];
    char now[40];
    fake_now_iso(now, sizeof(now));
    if (q == NULL || sscanf(q, "select * from Customer where Id = '%39[0-9]'", id) != 1) {
        fake_quickbooks_error(out, 400, "4000", "Error parsing query (sy fake: only select * from Customer where Id = 'N')",
                              "QueryValidationError");
    } else {
        json_t *obj = object_of(st, realm, id), *qr = xjson(json_object());
        if (obj != NULL) {
            json_t *copy = xjson(json_deep_copy(obj));
            json_object_del(copy, "_concurrent_edits");
            json_object_set_new(qr, "Customer", xjson(json_pack("[o]", copy)));
            json_object_set_new(qr, "startPosition", json_integer(1));
            json_object_set_new(qr, "maxResults", json_integer(1));
        }
        fake_reply_json(out, 200, xjson(json_pack("{s:o, s:s}", "QueryResponse", qr, "time", now)));
    }
    free(q);
}

static void cdc(fake_state_t *st, const char *realm, const fake_http_t *req, fake_reply_t *out)
{
    char *entities = query_param(req->query, "entities"), *since = query_param(req->query, "changedSince");
    char now[40], prefix[80];
    fake_now_iso(now, sizeof(now));
    if (entities == NULL || since == NULL) {
        fake_quickbooks_error(out, 400, "2020", "Required param missing: entities and changedSince", "ValidationFault");
    } else {
        /* Objects are customers unless seeded with "_entity": "Invoice"; each entity asked for is one list. */
        json_t *lists = xjson(json_object()), *obj, *answer = xjson(json_array());
        const char *key;
        snprintf(prefix, sizeof(prefix), "%s:", realm);
        json_object_foreach(st->objects, key, obj)
        {
            const char *entity = json_string_value(json_object_get(obj, "_entity"));
            if (entity == NULL)
                entity = "Customer";
            if (strncmp(key, prefix, strlen(prefix)) != 0 || strstr(entities, entity) == NULL)
                continue;
            json_t *copy = xjson(json_deep_copy(obj)), *list = json_object_get(lists, entity);
            json_object_del(copy, "_concurrent_edits");
            json_object_del(copy, "_entity");
            if (list == NULL)
                json_object_set_new(lists, entity, list = xjson(json_array()));
            json_array_append_new(list, copy);
        }
        json_t *list;
        json_object_foreach(lists, key, list)
            json_array_append_new(answer, xjson(json_pack("{s:O, s:i, s:i}", key, list, "startPosition", 1, "maxResults",
                                                          (int)json_array_size(list))));
        json_decref(lists);
        fake_reply_json(out, 200, xjson(json_pack("{s:[{s:o}], s:s}", "CDCResponse", "QueryResponse", answer, "time", now)));
    }
    free(entities);
    free(since);
}

void fake_quickbooks_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    const char *realm, *rest;
    char *copy = split(req->path, &realm, &rest);
    int get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    if (copy == NULL) {
        fake_quickbooks_error(out, 404, "4", "Unsupported operation (sy fake: paths are /v3/company/{realm}/...)",
                              "ValidationFault");
    } else if (post && strcmp(rest, "customer") == 0) {
        char *rid = query_param(req->query, "requestid");
        json_t *e;
        int same;
        char key[200];
        if (rid != NULL && (rid[0] == '\0' || strlen(rid) > QB_FAKE_REQUESTID_MAX)) {
            fake_quickbooks_error(out, 400, "2030", "Invalid requestid: 1 to 50 characters", "ValidationFault");
        } else if (rid != NULL && (snprintf(key, sizeof(key), "%s:%s", realm, rid),
                                   (e = fake_state_idem_find(st, key, "", &same)) != NULL)) {
            /* Intuit: a repeated requestid answers what the first request got, whatever the body says now. */
            fake_reply_json(out, (int)json_integer_value(json_object_get(e, "status")),
                            xjson(json_loads(json_string_value(json_object_get(e, "body")), 0, NULL)));
            ++st->replays;
        } else {
            sparse_update(st, realm, req, out);
            if (rid != NULL)
                fake_state_idem_store(st, key, "", out->status, out->body);
        }
        free(rid);
    } else if (get && strncmp(rest, "customer/", 9) == 0) {
        json_t *obj = object_of(st, realm, rest + 9);
        if (obj == NULL)
            fake_quickbooks_error(out, 400, "610", "Object Not Found", "ValidationFault");
        else
            answer_customer(out, obj);
    } else if (get && strcmp(rest, "query") == 0) {
        query(st, realm, req, out);
    } else if (get && strcmp(rest, "cdc") == 0) {
        cdc(st, realm, req, out);
    } else {
        fake_quickbooks_error(out, 405, "4", "Unsupported operation", "ValidationFault");
    }
    free(copy);
}

int fake_quickbooks_seed(fake_state_t *st, const char *id, json_t *fields, fake_reply_t *err)
{
    const char *colon = strchr(id, ':');
    if (colon == NULL || colon == id || colon[1] == '\0') {
        fake_quickbooks_error(err, 400, "2500", "QuickBooks objects are seeded under realm:Id", "ValidationFault");
        return -1;
    }
    json_t *obj = xjson(json_deep_copy(fields));
    json_object_set_new(obj, "Id", xjson(json_string(colon + 1)));
    if (!json_is_string(json_object_get(obj, "SyncToken")))
        json_object_set_new(obj, "SyncToken", xjson(json_string("0")));
    json_object_set_new(obj, "domain", xjson(json_string("QBO")));
    touch(obj);
    json_object_set_new(st->objects, id, obj);
    return 0;
}
