/*
 * The Stripe customers API as Switchyard uses it:
 *   POST /v1/customers             create (form-encoded: email, name, phone, description, metadata[key])
 *   POST /v1/customers/{id}        update; omitted parameters stay, "" clears (metadata[key]= removes the key)
 *   GET  /v1/customers/{id}        retrieve
 *   GET  /v1/customers?email=X&limit=N   list, newest first, case-sensitive email filter
 * Errors use Stripe's shape {"error":{"type","code","param","message"}}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake.h"

#define METADATA_KEYS_MAX 50
#define METADATA_KEY_MAX 40
#define METADATA_VALUE_MAX 500

static const char *const top_fields[] = {"email", "name", "phone", "description"};

void fake_stripe_error(fake_reply_t *out, int status, const char *type, const char *code, const char *param, const char *message)
{
    json_t *e = json_pack("{s:s, s:s}", "type", type, "message", message);
    if (code != NULL)
        json_object_set_new(e, "code", json_string(code));
    if (param != NULL)
        json_object_set_new(e, "param", json_string(param));
    fake_reply_json(out, status, json_pack("{s:o}", "error", e));
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

/* Percent-decodes s[0..len) ('+' is a space) into a new JSON string; NULL if malformed or not UTF-8. */
static json_t *form_decode(const char *s, size_t len)
{
    char *buf = malloc(len + 1);
    size_t n = 0;
    json_t *j = NULL;
    if (buf == NULL)
        abort();
    for (size_t i = 0; i != len; ++i) {
        if (s[i] == '+') {
            buf[n++] = ' ';
        } else if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= len)
                goto Exit;
            if ((hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
                goto Exit;
            buf[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            buf[n++] = s[i];
        }
    }
    if (memchr(buf, '\0', n) == NULL) /* a NUL would cut the value short in every strcmp below */
        j = json_stringn(buf, n);
Exit:
    free(buf);
    return j;
}

/*
 * Parses application/x-www-form-urlencoded text into an array of [key, value] pairs (order kept). Returns NULL
 * on malformed input (bad escapes, not UTF-8).
 */
static json_t *form_parse(const char *s, size_t len)
{
    json_t *pairs = json_array();
    size_t i = 0;
    while (i < len) {
        size_t end = i, eq;
        while (end < len && s[end] != '&')
            ++end;
        for (eq = i; eq < end && s[eq] != '='; ++eq)
            ;
        if (end > i) {
            json_t *k = form_decode(s + i, eq - i);
            json_t *v = eq < end ? form_decode(s + eq + 1, end - eq - 1) : json_string("");
            if (k == NULL || v == NULL) {
                json_decref(k);
                json_decref(v);
                json_decref(pairs);
                return NULL;
            }
            json_array_append_new(pairs, json_pack("[o, o]", k, v));
        }
        i = end + 1;
    }
    return pairs;
}

/* "metadata[key]" -> key (pointer into name, *klen its length); NULL if name is not of that form. */
static const char *metadata_key(const char *name, size_t *klen)
{
    static const char prefix[] = "metadata[";
    size_t len = strlen(name);
    if (len < sizeof(prefix) || strncmp(name, prefix, sizeof(prefix) - 1) != 0 || name[len - 1] != ']')
        return NULL;
    *klen = len - sizeof(prefix);
    return name + sizeof(prefix) - 1;
}

static int is_top_field(const char *name)
{
    for (size_t i = 0; i != sizeof(top_fields) / sizeof(top_fields[0]); ++i)
        if (strcmp(name, top_fields[i]) == 0)
            return 1;
    return 0;
}

/*
 * Checks every parameter before anything changes (Stripe applies all or nothing). Returns 0 or fills out
 * with a 400 and returns -1.
 */
static int validate(json_t *pairs, json_t *customer, fake_reply_t *out)
{
    size_t i, klen;
    json_t *pair;
    char msg[600];
    json_t *meta = json_deep_copy(json_object_get(customer, "metadata"));

    json_array_foreach(pairs, i, pair)
    {
        const char *name = json_string_value(json_array_get(pair, 0));
        const char *value = json_string_value(json_array_get(pair, 1));
        const char *key;
        if (is_top_field(name) || strncmp(name, "expand", 6) == 0)
            continue;
        if (strcmp(name, "metadata") == 0 && value[0] == '\0') {
            json_object_clear(meta);
            continue;
        }
        if ((key = metadata_key(name, &klen)) == NULL) {
            snprintf(msg, sizeof(msg), "Received unknown parameter: %.500s", name);
            fake_stripe_error(out, 400, "invalid_request_error", "parameter_unknown", name, msg);
            goto Fail;
        }
        if (klen == 0 || klen > METADATA_KEY_MAX) {
            fake_stripe_error(out, 400, "invalid_request_error", "parameter_invalid_string_blank", name,
                              "Metadata keys must be between 1 and 40 characters long.");
            goto Fail;
        }
        if (strlen(value) > METADATA_VALUE_MAX) {
            fake_stripe_error(out, 400, "invalid_request_error", "parameter_invalid_string_blank", name,
                              "Metadata values can have up to 500 characters.");
            goto Fail;
        }
        char keybuf[METADATA_KEY_MAX + 1];
        memcpy(keybuf, key, klen);
        keybuf[klen] = '\0';
        if (value[0] == '\0')
            json_object_del(meta, keybuf);
        else
            json_object_set_new(meta, keybuf, json_string(value));
    }
    if (json_object_size(meta) > METADATA_KEYS_MAX) {
        fake_stripe_error(out, 400, "invalid_request_error", NULL, "metadata",
                          "You can specify up to 50 keys, with key names up to 40 characters long.");
        goto Fail;
    }
    json_decref(meta);
    return 0;
Fail:
    json_decref(meta);
    return -1;
}

/* Applies validated parameters to customer. */
static void apply(json_t *pairs, json_t *customer)
{
    size_t i, klen;
    json_t *pair;
    json_t *meta = json_object_get(customer, "metadata");

    json_array_foreach(pairs, i, pair)
    {
        const char *name = json_string_value(json_array_get(pair, 0));
        const char *value = json_string_value(json_array_get(pair, 1));
        const char *key;
        if (is_top_field(name)) {
            json_object_set_new(customer, name, value[0] == '\0' ? json_null() : json_string(value));
        } else if (strcmp(name, "metadata") == 0) {
            json_object_clear(meta);
        } else if ((key = metadata_key(name, &klen)) != NULL) {
            char keybuf[METADATA_KEY_MAX + 1];
            memcpy(keybuf, key, klen);
            keybuf[klen] = '\0';
            if (value[0] == '\0')
                json_object_del(meta, keybuf);
            else
                json_object_set_new(meta, keybuf, json_string(value));
        }
    }
}

static json_t *new_customer(const char *id)
{
    return json_pack("{s:s, s:s, s:I, s:n, s:n, s:n, s:n, s:{}, s:b}", "id", id, "object", "customer", "created",
                     (json_int_t)fake_now_s(), "email", "name", "phone", "description", "metadata", "livemode", 0);
}

static void create(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    char id[48];
    json_t *pairs = form_parse(req->body, req->body_len), *c;
    if (pairs == NULL) {
        fake_stripe_error(out, 400, "invalid_request_error", NULL, NULL, "Invalid request body (form encoding).");
        return;
    }
    c = new_customer("");
    if (validate(pairs, c, out) == 0) {
        /* The id is taken only now: a refused create does not use one up. */
        do
            snprintf(id, sizeof(id), "cus_fake%llu", (unsigned long long)st->next_id++);
        while (json_object_get(st->objects, id) != NULL);
        json_object_set_new(c, "id", json_string(id));
        apply(pairs, c);
        json_object_set(st->objects, id, c);
        fake_reply_json(out, 200, json_incref(c));
    }
    json_decref(c);
    json_decref(pairs);
}

static void missing(const char *id, fake_reply_t *out)
{
    char msg[400];
    snprintf(msg, sizeof(msg), "No such customer: '%.300s'", id);
    fake_stripe_error(out, 404, "invalid_request_error", "resource_missing", "id", msg);
}

static void update(fake_state_t *st, const char *id, const fake_http_t *req, fake_reply_t *out)
{
    json_t *c = json_object_get(st->objects, id), *pairs;
    if (c == NULL) {
        missing(id, out);
        return;
    }
    if ((pairs = form_parse(req->body, req->body_len)) == NULL) {
        fake_stripe_error(out, 400, "invalid_request_error", NULL, NULL, "Invalid request body (form encoding).");
        return;
    }
    if (validate(pairs, c, out) == 0) {
        apply(pairs, c);
        fake_reply_json(out, 200, json_incref(c));
    }
    json_decref(pairs);
}

/* A list's limit parameter: 1..100, else 400 in out and -1. */
static int read_limit(const char *value, long *limit, fake_reply_t *out)
{
    char *end;
    *limit = strtol(value, &end, 10);
    if (*value != '\0' && *end == '\0' && *limit >= 1 && *limit <= 100)
        return 0;
    fake_stripe_error(out, 400, "invalid_request_error", "parameter_invalid_integer", "limit",
                      "Invalid integer: limit must be between 1 and 100.");
    return -1;
}

static void list(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    json_t *q = form_parse(req->query, strlen(req->query)), *pair, *c, *all, *data;
    const char *email = NULL, *id;
    long limit = 10;
    size_t i, n;

    if (q == NULL) {
        fake_stripe_error(out, 400, "invalid_request_error", NULL, NULL, "Invalid query string.");
        return;
    }
    json_array_foreach(q, i, pair)
    {
        const char *name = json_string_value(json_array_get(pair, 0));
        const char *value = json_string_value(json_array_get(pair, 1));
        if (strcmp(name, "email") == 0) {
            email = value;
        } else if (strcmp(name, "limit") == 0 && read_limit(value, &limit, out) != 0) {
            json_decref(q);
            return;
        }
    }
    /* Objects keep insertion order: walk them, then answer newest first. */
    all = json_array();
    json_object_foreach(st->objects, id, c)
    {
        const char *e = json_string_value(json_object_get(c, "email"));
        if (email == NULL || (e != NULL && strcmp(e, email) == 0))
            json_array_append(all, c);
    }
    data = json_array();
    n = json_array_size(all);
    for (i = 0; i != n && i != (size_t)limit; ++i)
        json_array_append(data, json_array_get(all, n - 1 - i));
    fake_reply_json(
        out, 200,
        json_pack("{s:s, s:o, s:b, s:s}", "object", "list", "data", data, "has_more", n > (size_t)limit, "url", "/v1/customers"));
    json_decref(all);
    json_decref(q);
}

/* GET /v1/events?created[gte]=S&limit=N&starting_after=ID: newest first, like Stripe's. */
static void list_events(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    json_t *q = form_parse(req->query, strlen(req->query)), *pair, *data;
    const char *after = NULL;
    long limit = 10;
    long long gte = 0;
    size_t i;

    if (q == NULL) {
        fake_stripe_error(out, 400, "invalid_request_error", NULL, NULL, "Invalid query string.");
        return;
    }
    json_array_foreach(q, i, pair)
    {
        const char *name = json_string_value(json_array_get(pair, 0));
        const char *value = json_string_value(json_array_get(pair, 1));
        char *end;
        if (strcmp(name, "limit") == 0) {
            if (read_limit(value, &limit, out) != 0) {
                json_decref(q);
                return;
            }
        } else if (strcmp(name, "created[gte]") == 0) {
            gte = strtoll(value, &end, 10);
        } else if (strcmp(name, "starting_after") == 0) {
            after = value;
        }
    }
    /* Newest first: walk from the end; starting_after skips up to and including that id. */
    data = json_array();
    size_t n = json_array_size(st->events);
    int skipping = after != NULL, more = 0;
    for (i = n; i-- > 0;) {
        json_t *ev = json_array_get(st->events, i);
        if (json_integer_value(json_object_get(ev, "created")) < gte)
            continue;
        if (skipping) {
            skipping = strcmp(json_string_value(json_object_get(ev, "id")), after) != 0;
            continue;
        }
        if (json_array_size(data) == (size_t)limit) {
            more = 1;
            break;
        }
        json_array_append(data, ev);
    }
    fake_reply_json(out, 200, json_pack("{s:s, s:o, s:b, s:s}", "object", "list", "data", data, "has_more", more,
                                        "url", "/v1/events"));
    json_decref(q);
}

void fake_stripe_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out)
{
    if (strcmp(req->path, "/v1/events") == 0 && strcmp(req->method, "GET") == 0) {
        list_events(st, req, out);
        return;
    }
    static const char base[] = "/v1/customers";
    const char *path = req->path;
    char msg[600];

    if (strcmp(path, base) == 0) {
        if (strcmp(req->method, "POST") == 0) {
            create(st, req, out);
            return;
        }
        if (strcmp(req->method, "GET") == 0) {
            list(st, req, out);
            return;
        }
    } else if (strncmp(path, base, sizeof(base) - 1) == 0 && path[sizeof(base) - 1] == '/' && path[sizeof(base)] != '\0' &&
               strchr(path + sizeof(base), '/') == NULL) {
        const char *id = path + sizeof(base);
        if (strcmp(req->method, "POST") == 0) {
            update(st, id, req, out);
            return;
        }
        if (strcmp(req->method, "GET") == 0) {
            json_t *c = json_object_get(st->objects, id);
            if (c == NULL)
                missing(id, out);
            else
                fake_reply_json(out, 200, json_incref(c));
            return;
        }
    }
    snprintf(msg, sizeof(msg), "Unrecognized request URL (%.20s: %.500s).", req->method, path);
    fake_stripe_error(out, 404, "invalid_request_error", NULL, NULL, msg);
}

void fake_stripe_seed(fake_state_t *st, const char *id, json_t *fields)
{
    json_t *c = new_customer(id), *v;
    const char *k;
    json_object_foreach(fields, k, v)
    {
        if (strcmp(k, "metadata") == 0 && json_is_object(v))
            json_object_update(json_object_get(c, "metadata"), v);
        else if (strcmp(k, "id") != 0)
            json_object_set(c, k, v);
    }
    json_object_set_new(st->objects, id, c);
}
