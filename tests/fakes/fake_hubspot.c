/*
 * HubSpot CRM v3 contacts as Switchyard uses them:
 *   POST  /crm/v3/objects/contacts                 create; 409 "Contact already exists. Existing ID: N"
 *   GET   /crm/v3/objects/contacts/{id}            retrieve (?idProperty=email: {id} is an email)
 *   PATCH /crm/v3/objects/contacts/{id}            {"properties":{...}}; 404 for an unknown id
 *   POST  /crm/v3/objects/contacts/batch/update    {"inputs":[{"id","properties"}]}, at most 100
 *   POST  /crm/v3/objects/contacts/batch/upsert    {"inputs":[{"id":email,"idProperty":"email","properties"}]}
 * A contact is stored as its properties (all values strings; "" is an empty value). Batches are all or nothing:
 * any bad input fails the whole request and changes nothing. Read-only properties (hs_object_id, createdate,
 * lastmodifieddate) are 400 VALIDATION_ERROR: a deterministic way to make one row of a batch fail. Ids given to
 * POST /_fake/partial fail once each in a batch/update instead, which then answers 207 and writes the others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#include "fake.h"

#define BATCH_MAX 100

static const char base[] = "/crm/v3/objects/contacts";
static const char *const read_only[] = {"hs_object_id", "createdate", "lastmodifieddate"};

void fake_hubspot_error(fake_reply_t *out, int status, const char *category, const char *message, json_t *context)
{
    static unsigned long long seq;
    char corr[40];
    snprintf(corr, sizeof(corr), "00000000-0000-4000-8000-%012llx", ++seq);
    json_t *e =
        json_pack("{s:s, s:s, s:s, s:s}", "status", "error", "message", message, "correlationId", corr, "category", category);
    if (context != NULL)
        json_object_set_new(e, "context", context);
    fake_reply_json(out, status, e);
}

static void bad_request(fake_reply_t *out, const char *message, json_t *context)
{
    fake_hubspot_error(out, 400, "VALIDATION_ERROR", message, context);
}

/* The contact holding email (case-insensitive), or NULL; *id_out its id. */
static json_t *find_by_email(fake_state_t *st, const char *email, const char **id_out)
{
    const char *id;
    json_t *props;
    json_object_foreach(st->objects, id, props)
    {
        const char *e = json_string_value(json_object_get(props, "email"));
        if (e != NULL && strcasecmp(e, email) == 0) {
            *id_out = id;
            return props;
        }
    }
    return NULL;
}

/*
 * Checks a "properties" value: an object of strings, numbers, booleans or null, no read-only name. Returns a new
 * object with every value as a string, or NULL with out filled (400).
 */
static json_t *check_properties(json_t *props, fake_reply_t *out)
{
    const char *name;
    json_t *v, *res;
    char msg[300], num[64];

    if (!json_is_object(props)) {
        bad_request(out, "Invalid input JSON: \"properties\" must be an object.", NULL);
        return NULL;
    }
    res = json_object();
    json_object_foreach(props, name, v)
    {
        for (size_t i = 0; i != sizeof(read_only) / sizeof(read_only[0]); ++i)
            if (strcmp(name, read_only[i]) == 0) {
                snprintf(msg, sizeof(msg), "Property values were not valid: %s is a read only property; its value cannot be set.",
                         name);
                bad_request(out, msg, json_pack("{s:[s]}", "propertyName", name));
                goto Fail;
            }
        if (name[0] == '\0') {
            bad_request(out, "Property values were not valid: empty property name.", NULL);
            goto Fail;
        }
        if (json_is_string(v)) {
            json_object_set(res, name, v);
        } else if (json_is_integer(v)) {
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            json_object_set_new(res, name, json_string(num));
        } else if (json_is_real(v)) {
            snprintf(num, sizeof(num), "%.17g", json_real_value(v));
            json_object_set_new(res, name, json_string(num));
        } else if (json_is_boolean(v)) {
            json_object_set_new(res, name, json_string(json_is_true(v) ? "true" : "false"));
        } else if (json_is_null(v)) {
            json_object_set_new(res, name, json_string(""));
        } else {
            snprintf(msg, sizeof(msg), "Property values were not valid: %s must be a string, number or boolean.", name);
            bad_request(out, msg, json_pack("{s:[s]}", "propertyName", name));
            goto Fail;
        }
    }
    return res;
Fail:
    json_decref(res);
    return NULL;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "2026-12-07T01:02:03.456Z" */
static void iso_ms(int64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    char day[32] = "1970-01-01T00:00:00";
    if (gmtime_r(&s, &tm) != NULL)
        strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%.19s.%03uZ", day, (unsigned)(ms % 1000));
}

/* The contact id changed now (its lastmodifieddate). */
static void touch(fake_state_t *st, const char *id)
{
    json_object_set_new(st->modified, id, json_integer((json_int_t)wall_ms()));
}

/* The API view of a contact: {"id","properties","createdAt","updatedAt","archived"}; updatedAt and the property
 * lastmodifieddate are when it last changed. */
static json_t *contact_json(fake_state_t *st, const char *id, json_t *props)
{
    char when[40];
    json_t *p = json_copy(props), *m = json_object_get(st->modified, id);
    iso_ms(json_is_integer(m) ? (int64_t)json_integer_value(m) : wall_ms(), when, sizeof(when));
    json_object_set_new(p, "hs_object_id", json_string(id));
    json_object_set_new(p, "lastmodifieddate", json_string(when));
    return json_pack("{s:s, s:o, s:s, s:s, s:b}", "id", id, "properties", p, "createdAt", when, "updatedAt", when,
                     "archived", 0);
}

/* Stores props (stolen) under a new numeric id; returns the id (valid while the object exists). */
static const char *create_contact(fake_state_t *st, json_t *props)
{
    char id[32];
    do
        snprintf(id, sizeof(id), "%llu", (unsigned long long)st->next_id++);
    while (json_object_get(st->objects, id) != NULL);
    json_object_set_new(st->objects, id, props);
    touch(st, id);
    return json_object_iter_key(json_object_iter_at(st->objects, id));
}

static json_t *parse_body(const fake_http_t *req, fake_reply_t *out)
{
    json_error_t err;
    char msg[300];
    json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL) {
        snprintf(msg, sizeof(msg), "Invalid input JSON on line %d, column %d: %s", err.line, err.column, err.text);
        bad_request(out, msg, NULL);
    } else if (!json_is_object(j)) {
        bad_request(out, "Invalid input JSON: expected an object.", NULL);
        json_decref(j);
        j = NULL;
    }
    return j;
}

static void not_found(fake_reply_t *out, const char *id)
{
    fake_hubspot_error(out, 404, "OBJECT_NOT_FOUND", "resource not found", json_pack("{s:[s]}", "id", id));
}

/* Finds the contact for a path id, by id or (idProperty=email) by email. */
static json_t *lookup(fake_state_t *st, const char *pid, const char *query, const char **id_out)
{
    if (strstr(query, "idProperty=email") != NULL)
        return find_by_email(st, pid, id_out);
    json_t *props = json_object_get(st->objects, pid);
    *id_out = pid;
    return props;
}

static void create(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    json_t *body = parse_body(req, out), *props;
    const char *email, *existing, *id;
    char msg[100];
    if (body == NULL)
        return;
    if ((props = check_properties(json_object_get(body, "properties"), out)) == NULL)
        goto Exit;
    email = json_string_value(json_object_get(props, "email"));
    if (email != NULL && email[0] != '\0' && find_by_email(st, email, &existing) != NULL) {
        snprintf(msg, sizeof(msg), "Contact already exists. Existing ID: %s", existing);
        fake_hubspot_error(out, 409, "CONFLICT", msg, NULL);
        json_decref(props);
        goto Exit;
    }
    id = create_contact(st, props);
    fake_reply_json(out, 201, contact_json(st, id, props));
Exit:
    json_decref(body);
}

static void patch(fake_state_t *st, const char *pid, const fake_http_t *req, fake_reply_t *out)
{
    const char *id;
    json_t *contact = lookup(st, pid, req->query, &id), *body, *props;
    if (contact == NULL) {
        not_found(out, pid);
        return;
    }
    if ((body = parse_body(req, out)) == NULL)
        return;
    if ((props = check_properties(json_object_get(body, "properties"), out)) != NULL) {
        json_object_update(contact, props);
        json_decref(props);
        touch(st, id);
        fake_reply_json(out, 200, contact_json(st, id, contact));
    }
    json_decref(body);
}

/* Checks the common shape of a batch: {"inputs":[objects, at most BATCH_MAX]}; returns inputs (borrowed). */
static json_t *batch_inputs(json_t *body, fake_reply_t *out)
{
    json_t *inputs = json_object_get(body, "inputs"), *in;
    size_t i;
    char msg[100];
    if (!json_is_array(inputs)) {
        bad_request(out, "Invalid input JSON: \"inputs\" must be an array.", NULL);
        return NULL;
    }
    if (json_array_size(inputs) > BATCH_MAX) {
        snprintf(msg, sizeof(msg), "Batch input cannot exceed %d items (got %zu).", BATCH_MAX, json_array_size(inputs));
        bad_request(out, msg, NULL);
        return NULL;
    }
    json_array_foreach(inputs, i, in)
    {
        if (!json_is_object(in) || !json_is_string(json_object_get(in, "id"))) {
            snprintf(msg, sizeof(msg), "Invalid input JSON: inputs[%zu] needs a string \"id\".", i);
            bad_request(out, msg, NULL);
            return NULL;
        }
    }
    return inputs;
}

static json_t *batch_answer(json_t *results)
{
    char now[40];
    fake_now_iso(now, sizeof(now));
    return json_pack("{s:s, s:o, s:s, s:s}", "status", "COMPLETE", "results", results, "startedAt", now, "completedAt", now);
}

/* Validates every input first (props[i] = checked properties), so a bad row changes nothing. */
static json_t *batch_check(json_t *inputs, int by_email, fake_reply_t *out)
{
    json_t *checked = json_array(), *seen = json_object(), *in, *p;
    size_t i;
    char msg[400];
    json_array_foreach(inputs, i, in)
    {
        const char *id = json_string_value(json_object_get(in, "id"));
        char key[300];
        if (by_email) {
            const char *idp = json_string_value(json_object_get(in, "idProperty"));
            if (idp == NULL || strcmp(idp, "email") != 0) {
                bad_request(out, "Upsert inputs need \"idProperty\": \"email\" (the only unique property of this fake).", NULL);
                goto Fail;
            }
        }
        snprintf(key, sizeof(key), "%s", id);
        if (by_email)
            for (char *c = key; *c != '\0'; ++c)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
        if (json_object_get(seen, key) != NULL) {
            snprintf(msg, sizeof(msg), "Duplicate IDs found in batch input: [%.300s]. IDs must be unique", id);
            bad_request(out, msg, json_pack("{s:[s]}", "ids", id));
            goto Fail;
        }
        json_object_set_new(seen, key, json_true());
        if ((p = check_properties(json_object_get(in, "properties"), out)) == NULL)
            goto Fail;
        json_array_append_new(checked, p);
    }
    json_decref(seen);
    return checked;
Fail:
    json_decref(seen);
    json_decref(checked);
    return NULL;
}

static void batch_update(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    json_t *body = parse_body(req, out), *inputs, *checked = NULL, *missing, *in, *results;
    size_t i;
    if (body == NULL)
        return;
    if ((inputs = batch_inputs(body, out)) == NULL || (checked = batch_check(inputs, 0, out)) == NULL)
        goto Exit;
    missing = json_array();
    json_array_foreach(inputs, i, in)
    {
        json_t *id = json_object_get(in, "id");
        if (json_object_get(st->objects, json_string_value(id)) == NULL)
            json_array_append(missing, id);
    }
    if (json_array_size(missing) != 0) {
        fake_hubspot_error(out, 404, "OBJECT_NOT_FOUND",
                           "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.",
                           json_pack("{s:o}", "ids", missing));
        goto Exit;
    }
    json_decref(missing);
    results = json_array();
    json_t *failed = json_array();
    json_array_foreach(inputs, i, in)
    {
        const char *id = json_string_value(json_object_get(in, "id"));
        json_t *contact = json_object_get(st->objects, id);
        /* POST /_fake/partial: this id fails once, the rest of the batch is written (HubSpot's 207 Multi-Status). */
        if (json_object_get(st->partial_ids, id) != NULL) {
            json_array_append_new(failed, json_string(id));
            json_object_del(st->partial_ids, id);
            continue;
        }
        json_object_update(contact, json_array_get(checked, i));
        touch(st, id);
        json_array_append_new(results, contact_json(st, id, contact));
    }
    if (json_array_size(failed) != 0) {
        json_t *answer = batch_answer(results);
        json_object_set_new(answer, "numErrors", json_integer((json_int_t)json_array_size(failed)));
        json_object_set_new(answer, "errors",
                            json_pack("[{s:s, s:s, s:s, s:{s:o}}]", "status", "error", "category", "VALIDATION_ERROR",
                                      "message", "Property values were not valid (sy_fake_spoke: partial)", "context",
                                      "ids", failed));
        fake_reply_json(out, 207, answer);
    } else {
        json_decref(failed);
        fake_reply_json(out, 200, batch_answer(results));
    }
Exit:
    json_decref(checked);
    json_decref(body);
}

static void batch_upsert(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    json_t *body = parse_body(req, out), *inputs, *checked = NULL, *in, *results;
    size_t i;
    if (body == NULL)
        return;
    if ((inputs = batch_inputs(body, out)) == NULL || (checked = batch_check(inputs, 1, out)) == NULL)
        goto Exit;
    results = json_array();
    json_array_foreach(inputs, i, in)
    {
        const char *email = json_string_value(json_object_get(in, "id")), *id;
        json_t *props = json_array_get(checked, i), *contact = find_by_email(st, email, &id), *r;
        int is_new = contact == NULL;
        if (is_new) {
            contact = json_copy(props);
            if (json_object_get(contact, "email") == NULL)
                json_object_set_new(contact, "email", json_string(email));
            id = create_contact(st, contact);
        } else {
            json_object_update(contact, props);
            touch(st, id);
        }
        r = contact_json(st, id, contact);
        json_object_set_new(r, "new", json_boolean(is_new));
        json_array_append_new(results, r);
    }
    fake_reply_json(out, 200, batch_answer(results));
Exit:
    json_decref(checked);
    json_decref(body);
}

/*
 * POST /crm/v3/objects/contacts/search {"filterGroups":[{"filters":[{"propertyName":"lastmodifieddate",
 * "operator":"GTE","value":MS}]}],"sorts":[...ASCENDING],"properties":[...],"limit":N,"after":"K"}: the contacts
 * changed since MS, oldest change first, N a page (1..200, default 10), "after" the offset the last page gave.
 * Only that filter is understood (what reconcile sends); the properties asked for are returned (absent ones left out).
 */
static void search(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    json_t *body = parse_body(req, out), *filter, *results = NULL, *order = NULL;
    if (body == NULL)
        return;
    filter = json_array_get(json_object_get(json_array_get(json_object_get(body, "filterGroups"), 0), "filters"), 0);
    const char *prop = json_string_value(json_object_get(filter, "propertyName"));
    const char *op = json_string_value(json_object_get(filter, "operator"));
    json_t *value = json_object_get(filter, "value"), *limit_v = json_object_get(body, "limit");
    long long since = json_is_string(value) ? atoll(json_string_value(value)) : (long long)json_integer_value(value);
    json_int_t limit = json_is_integer(limit_v) ? json_integer_value(limit_v) : 10;
    long long after = json_is_string(json_object_get(body, "after")) ? atoll(json_string_value(json_object_get(body, "after"))) : 0;
    if (prop == NULL || strcmp(prop, "lastmodifieddate") != 0 || op == NULL || strcmp(op, "GTE") != 0 || limit < 1 ||
        limit > 200) {
        bad_request(out, "sy_fake_spoke: search takes one filter lastmodifieddate GTE and a limit of 1 to 200", NULL);
        goto Exit;
    }
    /* Oldest change first: ids with their times, sorted. */
    order = json_array();
    const char *id;
    json_t *contact;
    json_object_foreach(st->objects, id, contact)
    {
        json_int_t m = json_integer_value(json_object_get(st->modified, id));
        if (m < since)
            continue;
        size_t at = json_array_size(order);
        while (at > 0 && json_integer_value(json_array_get(json_array_get(order, at - 1), 1)) > m)
            --at;
        json_array_insert_new(order, at, json_pack("[s, I]", id, m));
    }
    results = json_array();
    size_t total = json_array_size(order);
    for (size_t i = (size_t)after; i < total && (json_int_t)json_array_size(results) < limit; ++i) {
        const char *cid = json_string_value(json_array_get(json_array_get(order, i), 0));
        json_t *full = contact_json(st, cid, json_object_get(st->objects, cid)), *props = json_object(), *name;
        size_t k;
        json_array_foreach(json_object_get(body, "properties"), k, name)
        {
            json_t *v = json_object_get(json_object_get(full, "properties"), json_string_value(name));
            if (v != NULL)
                json_object_set(props, json_string_value(name), v);
        }
        json_object_set(props, "hs_object_id", json_object_get(json_object_get(full, "properties"), "hs_object_id"));
        json_object_set(props, "lastmodifieddate", json_object_get(json_object_get(full, "properties"), "lastmodifieddate"));
        json_object_set_new(full, "properties", props);
        json_array_append_new(results, full);
    }
    json_t *answer = json_pack("{s:I, s:O}", "total", (json_int_t)total, "results", results);
    size_t next = (size_t)after + json_array_size(results);
    if (next < total) {
        char buf[24];
        snprintf(buf, sizeof(buf), "%zu", next);
        json_object_set_new(answer, "paging", json_pack("{s:{s:s, s:s}}", "next", "after", buf, "link", "?after="));
    }
    fake_reply_json(out, 200, answer);
Exit:
    json_decref(results);
    json_decref(order);
    json_decref(body);
}

void fake_hubspot_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    const char *path = req->path, *m = req->method;
    char msg[600];

    if (strcmp(path, base) == 0 && strcmp(m, "POST") == 0) {
        create(st, req, out);
        return;
    }
    if (strncmp(path, base, sizeof(base) - 1) == 0 && path[sizeof(base) - 1] == '/') {
        const char *rest = path + sizeof(base);
        if (strcmp(rest, "batch/update") == 0 && strcmp(m, "POST") == 0) {
            batch_update(st, req, out);
            return;
        }
        if (strcmp(rest, "batch/upsert") == 0 && strcmp(m, "POST") == 0) {
            batch_upsert(st, req, out);
            return;
        }
        if (strcmp(rest, "search") == 0 && strcmp(m, "POST") == 0) {
            search(st, req, out);
            return;
        }
        if (rest[0] != '\0' && strchr(rest, '/') == NULL) {
            if (strcmp(m, "PATCH") == 0) {
                patch(st, rest, req, out);
                return;
            }
            if (strcmp(m, "GET") == 0) {
                const char *id;
                json_t *contact = lookup(st, rest, req->query, &id);
                if (contact == NULL)
                    not_found(out, rest);
                else
                    fake_reply_json(out, 200, contact_json(st, id, contact));
                return;
            }
        }
    }
    snprintf(msg, sizeof(msg), "Unable to route %.20s %.500s", m, path);
    fake_hubspot_error(out, 404, "OBJECT_NOT_FOUND", msg, NULL);
}

int fake_hubspot_seed(fake_state_t *st, const char *id, json_t *properties, fake_reply_t *err)
{
    json_t *props = check_properties(properties, err);
    if (props == NULL)
        return -1;
    json_object_set_new(st->objects, id, props);
    touch(st, id);
    return 0;
}
