#include "observe.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "json.h"

#define MAX_OBJECTS_PER_EVENT 8
/* Deeper bodies (ingress refuses them; an old log may hold some) are read with jansson, as before. */
#define VIEW_MAX_DEPTH 64

static void observation_dispose(sy_observation_t *o)
{
    free(o->external_id);
    for (size_t k = 0; k != o->num_fields; ++k)
        free(o->fields[k].value);
    free(o->fields);
    for (size_t k = 0; k != o->num_links; ++k)
        free(o->links[k].id);
    free(o->subscription_id);
    free(o->subscription_status);
    free(o->invoice_id);
    free(o->invoice_status);
    free(o->write_key);
    memset(o, 0, sizeof(*o));
}

/* Follows a dotted path; array segments are decimal indexes. Borrowed reference or NULL. */
static json_t *walk(json_t *root, const sy_policy_path_t *path)
{
    json_t *cur = root;
    for (size_t i = 0; i != path->num_segments && cur != NULL; ++i) {
        const char *seg = path->segments[i];
        if (json_is_object(cur)) {
            cur = json_object_get(cur, seg);
        } else if (json_is_array(cur) && seg[0] >= '0' && seg[0] <= '9') {
            char *end;
            unsigned long idx = strtoul(seg, &end, 10);
            cur = *end == '\0' ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
    }
    return cur;
}

/* Scalar as text (malloc'd): strings as is, numbers in decimal, null as "" (a clear). NULL for absent/composite. */
static char *scalar_text(const json_t *v)
{
    char buf[64];
    if (v == NULL)
        return NULL;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return strndup(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        return strdup(buf);
    case JSON_REAL:
        snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
        return strdup(buf);
    case JSON_TRUE:
        return strdup("true");
    case JSON_FALSE:
        return strdup("false");
    case JSON_NULL:
        return strdup("");
    default:
        return NULL;
    }
}

json_t *sy_event_body_json(const sy_event_t *ev, json_error_t *err)
{
    return json_loadb(ev->body.base, ev->body.len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, err);
}

/*
 * The JSON an event's paths are resolved against: the event as sent, plus, for a property-change event of a tool
 * whose connector declares them (observe.property_name / property_value: HubSpot), "properties": {name: value}, so
 * one property change reads like a partial object.
 */
static json_t *event_view(const sy_event_t *ev, const sy_connector_observe_t *hints)
{
    json_t *doc = sy_event_body_json(ev, NULL);
    if (doc == NULL || !json_is_object(doc) || hints == NULL || hints->property_name == NULL)
        return doc;
    json_t *name = json_object_get(doc, hints->property_name);
    if (json_is_string(name) && json_object_get(doc, "properties") == NULL) {
        json_t *props = json_object();
        json_t *value = json_object_get(doc, hints->property_value);
        json_object_set(props, json_string_value(name), value != NULL ? value : json_null());
        json_object_set_new(doc, "properties", props);
    }
    return doc;
}

/*
 * What observe_object reads an event through. Usually the body's jsmn tokens (hub/base/json.h): ingress validated the
 * body with that parser, which accepts only what jansson accepts and reads every value the same way, so building a
 * jansson tree again (a fifth of the applier's time) is not needed. A body the tokenizer does not take (deeper than
 * VIEW_MAX_DEPTH, or not JSON at all: logged by an older hub) is read with jansson, which then gives the verdict, as
 * it always did. Either way the "properties" view of a property change reads the same.
 */
typedef struct st_view_t {
    json_t *doc; /* the jansson reading, or NULL: the tokens */
    sy_json_t json;
    int name_tok;  /* the property-name string the synthetic "properties" is made of (HubSpot); TOK_NONE: none */
    int value_tok; /* its property value, or TOK_NULL when absent (null) */
} view_t;

#define TOK_NONE (-1)
#define TOK_NULL (-2)   /* the synthetic propertyValue of an event without one: null */
#define TOK_OBJECT (-3) /* the synthetic "properties" object itself: not a scalar */

/* 0, or SY_EPARSE when the body is not JSON as ingress reads it. */
static int view_open(view_t *v, const sy_event_t *ev, const sy_connector_observe_t *hints)
{
    memset(v, 0, sizeof(*v));
    v->name_tok = TOK_NONE;
    sy_json_init(&v->json, ev->body.len / 2 + 16, VIEW_MAX_DEPTH); /* at most that many tokens: never the cap */
    if (sy_json_parse(&v->json, ev->body.base, ev->body.len, NULL) != 0) {
        if ((v->doc = event_view(ev, hints)) == NULL)
            return SY_EPARSE;
        return 0;
    }
    if (hints != NULL && hints->property_name != NULL && sy_json_type(&v->json, 0) == SY_JSON_OBJECT) {
        int name = sy_json_get(&v->json, 0, hints->property_name);
        if (name >= 0 && sy_json_type(&v->json, name) == SY_JSON_STRING && sy_json_get(&v->json, 0, "properties") < 0) {
            int value = sy_json_get(&v->json, 0, hints->property_value);
            v->name_tok = name;
            v->value_tok = value >= 0 ? value : TOK_NULL;
        }
    }
    return 0;
}

static void view_close(view_t *v)
{
    json_decref(v->doc);
    sy_json_dispose(&v->json);
}

/* The token at a path, as walk() finds it in the jansson reading (TOK_NONE: absent). */
static int walk_tokens(const view_t *v, char *const *segs, size_t n)
{
    const sy_json_t *json = &v->json;
    int cur = 0;
    size_t i = 0;
    if (v->name_tok >= 0 && n != 0 && strcmp(segs[0], "properties") == 0) {
        if (n == 1)
            return TOK_OBJECT;
        if (!sy_json_str_eq(json, v->name_tok, segs[1]))
            return TOK_NONE;
        if ((cur = v->value_tok) == TOK_NULL)
            return n == 2 ? TOK_NULL : TOK_NONE;
        i = 2;
    }
    for (; i != n && cur >= 0; ++i) {
        const char *seg = segs[i];
        sy_json_type_t type = sy_json_type(json, cur);
        if (type == SY_JSON_OBJECT) {
            cur = sy_json_get(json, cur, seg);
        } else if (type == SY_JSON_ARRAY && seg[0] >= '0' && seg[0] <= '9') {
            char *end;
            unsigned long idx = strtoul(seg, &end, 10);
            cur = *end == '\0' && idx < (unsigned long)sy_json_size(json, cur) ? sy_json_at(json, cur, (int)idx) : TOK_NONE;
        } else {
            cur = TOK_NONE;
        }
    }
    return cur;
}

/* A JSON real as scalar_text prints it: jansson reads reals with strtod (in the C locale the hub runs in). */
static char *token_real_text(sy_slice_t t)
{
    char *copy = strndup(t.base, t.len), buf[64];
    if (copy == NULL)
        return NULL;
    double d = strtod(copy, NULL);
    free(copy);
    snprintf(buf, sizeof(buf), "%.17g", d);
    return strdup(buf);
}

/* scalar_text() of a token: the same text for the same JSON value. */
static char *token_text(const sy_json_t *json, int tok)
{
    char buf[64];
    if (tok == TOK_NULL)
        return strdup("");
    if (tok < 0)
        return NULL;
    switch (sy_json_type(json, tok)) {
    case SY_JSON_STRING:
        return sy_json_strdup(json, tok);
    case SY_JSON_PRIMITIVE:
        break;
    default:
        return NULL;
    }
    sy_slice_t t = sy_json_text(json, tok);
    if (t.len == 0)
        return NULL;
    switch (t.base[0]) {
    case 't':
        return strdup("true");
    case 'f':
        return strdup("false");
    case 'n':
        return strdup("");
    }
    int64_t i;
    if (memchr(t.base, '.', t.len) == NULL && memchr(t.base, 'e', t.len) == NULL && memchr(t.base, 'E', t.len) == NULL) {
        if (sy_json_int64(json, tok, &i) != 0)
            return NULL; /* out of range: the parser refused it already */
        snprintf(buf, sizeof(buf), "%lld", (long long)i);
        return strdup(buf);
    }
    return token_real_text(t);
}

/* The text of the scalar at a path (scalar_text), NULL when absent or not a scalar; strings_only: NULL unless a
 * string. Malloc'd. */
static char *view_text(const view_t *v, char *const *segs, size_t n, int strings_only)
{
    if (v->doc != NULL) {
        sy_policy_path_t path = {.segments = (char **)segs, .num_segments = n};
        json_t *j = walk(v->doc, &path);
        return strings_only && !json_is_string(j) ? NULL : scalar_text(j);
    }
    int tok = walk_tokens(v, segs, n);
    if (strings_only && (tok < 0 || sy_json_type(&v->json, tok) != SY_JSON_STRING))
        return NULL;
    return token_text(&v->json, tok);
}

static char *view_path_text(const view_t *v, const sy_policy_path_t *path)
{
    return view_text(v, path->segments, path->num_segments, 0);
}

/*
 * The provider's time as ingress read it (Stripe `created` * 1000, HubSpot `occurredAt`) and stored it with the
 * event: one reading, never re-derived from the body. Events without one take the time they were received.
 */
static int64_t event_version(const sy_event_t *ev)
{
    return ev->occurred_at_ms != 0 ? ev->occurred_at_ms : ev->received_at_ms;
}

static size_t path_length(const char *const *path)
{
    size_t n = 0;
    while (path[n] != NULL)
        ++n;
    return n;
}

/* view_text of a connector's path (NULL-terminated segments). */
static char *view_hint_text(const view_t *v, const char *const *path, int strings_only)
{
    return view_text(v, (char *const *)path, path_length(path), strings_only);
}

/* A subscription the event carries, where the tool's connector says (Stripe customer.subscription.*). */
static void observe_subscription(const sy_connector_observe_t *hints, const char *type, const view_t *v,
                                 sy_observation_t *o)
{
    if (hints->subscription_prefix == NULL || strncmp(type, hints->subscription_prefix, strlen(hints->subscription_prefix)) != 0)
        return;
    o->subscription_id = view_hint_text(v, hints->subscription_id, 0);
    o->subscription_status = view_hint_text(v, hints->subscription_status, 0);
    if (hints->subscription_ended != NULL && strcmp(type, hints->subscription_ended) == 0) {
        free(o->subscription_status);
        o->subscription_status = strdup("canceled");
    }
}

/* An invoice the event carries, where the tool's connector says (Stripe invoice.*, QuickBooks Invoice.Fetched). */
static void observe_invoice(const sy_connector_observe_t *hints, const char *type, const view_t *v, sy_observation_t *o)
{
    if (hints->invoice_prefix == NULL || strncmp(type, hints->invoice_prefix, strlen(hints->invoice_prefix)) != 0)
        return;
    o->invoice_id = view_hint_text(v, hints->invoice_id, 0);
    o->invoice_status = view_hint_text(v, hints->invoice_status, 0);
}

static int observe_object(const sy_policy_t *p, size_t si, const sy_policy_object_t *obj, const char *type,
                          const view_t *doc, const sy_connector_observe_t *hints, int64_t version,
                          sy_observation_t *o)
{
    memset(o, 0, sizeof(*o));
    o->source = si;
    o->version_ms = version;
    if ((o->external_id = view_path_text(doc, &obj->id)) == NULL || o->external_id[0] == '\0')
        return SY_ENOTFOUND;
    if (obj->id_prefix != NULL) {
        size_t pl = strlen(obj->id_prefix), il = strlen(o->external_id);
        char *prefixed = malloc(pl + il + 1);
        if (prefixed == NULL)
            return SY_ENOMEM;
        memcpy(prefixed, obj->id_prefix, pl);
        memcpy(prefixed + pl, o->external_id, il + 1);
        free(o->external_id);
        o->external_id = prefixed;
    }
    o->deleted = sy_policy_is_delete_event(obj, type);
    if ((o->fields = calloc(obj->num_fields + 1, sizeof(*o->fields))) == NULL)
        return SY_ENOMEM;
    for (size_t i = 0; i != obj->num_fields; ++i) {
        const sy_policy_field_map_t *m = &obj->fields[i];
        char *raw = view_path_text(doc, &m->path);
        if (raw == NULL)
            continue; /* not in this event: not observed */
        const sy_policy_field_t *f = &p->fields[m->field];
        char *norm = sy_normalize(f->normalize, f->num_normalize, raw);
        free(raw);
        if (norm == NULL)
            return SY_ENOMEM;
        o->fields[o->num_fields++] = (sy_obs_field_t){m->field, norm};
    }
    for (size_t i = 0; i != obj->num_links && o->num_links != SY_OBS_MAX_LINKS; ++i) {
        char *id = view_path_text(doc, &obj->links[i].path);
        if (id == NULL || id[0] == '\0') {
            free(id);
            continue;
        }
        o->links[o->num_links++] = (sy_obs_link_t){obj->links[i].source, id};
    }
    if (hints == NULL)
        return 0;
    observe_subscription(hints, type, doc, o);
    observe_invoice(hints, type, doc, o);
    /* The idempotency key of the API call that caused the event, where the tool names it: ours marks our write. */
    if (hints->write_key != NULL)
        o->write_key = view_hint_text(doc, hints->write_key, 1);
    return 0;
}

/* The shape code of a token (PRIMITIVE: by its first byte, as the tokenizer validated it). */
static char token_code(const sy_json_t *json, int tok)
{
    switch (sy_json_type(json, tok)) {
    case SY_JSON_OBJECT:
        return SY_SHAPE_OBJECT;
    case SY_JSON_ARRAY:
        return SY_SHAPE_ARRAY;
    case SY_JSON_STRING:
        return SY_SHAPE_STRING;
    default:
        break;
    }
    sy_slice_t t = sy_json_text(json, tok);
    if (t.len == 0)
        return SY_SHAPE_NA;
    return t.base[0] == 'n' ? SY_SHAPE_NULL : t.base[0] == 't' || t.base[0] == 'f' ? SY_SHAPE_BOOL : SY_SHAPE_NUMBER;
}

/* What is at a path, as a shape code: walk_tokens, telling an absent member of a present object from a path whose
 * ancestor is missing (another kind of event: says nothing) or a scalar (the shape changed). */
static char view_shape_code(const view_t *v, char *const *segs, size_t n)
{
    const sy_json_t *json = &v->json;
    int cur = 0;
    size_t i = 0;
    if (v->name_tok >= 0 && n != 0 && strcmp(segs[0], "properties") == 0) {
        if (n == 1)
            return SY_SHAPE_OBJECT;
        if (!sy_json_str_eq(json, v->name_tok, segs[1]))
            return SY_SHAPE_NA; /* the change of another property */
        if ((cur = v->value_tok) == TOK_NULL)
            return n == 2 ? SY_SHAPE_NULL : SY_SHAPE_NA;
        i = 2;
    }
    for (; i != n; ++i) {
        const char *seg = segs[i];
        sy_json_type_t type = sy_json_type(json, cur);
        int next = TOK_NONE;
        if (type == SY_JSON_OBJECT) {
            next = sy_json_get(json, cur, seg);
        } else if (type == SY_JSON_ARRAY && seg[0] >= '0' && seg[0] <= '9') {
            char *end;
            unsigned long idx = strtoul(seg, &end, 10);
            next = *end == '\0' && idx < (unsigned long)sy_json_size(json, cur) ? sy_json_at(json, cur, (int)idx) : TOK_NONE;
        } else if (type == SY_JSON_ARRAY || token_code(json, cur) == SY_SHAPE_NULL) {
            return SY_SHAPE_NA; /* a name into an array, or a null parent: nothing to say */
        } else {
            return SY_SHAPE_NOT_OBJECT;
        }
        if (next < 0)
            return i + 1 == n ? SY_SHAPE_ABSENT : SY_SHAPE_NA;
        cur = next;
    }
    return token_code(json, cur);
}

size_t sy_shape_paths(const sy_policy_t *p, size_t source, const char *type, const sy_policy_path_t **out, size_t max)
{
    const sy_policy_object_t *objs[MAX_OBJECTS_PER_EVENT];
    size_t nobj = sy_policy_objects_for(p, source, type, objs, MAX_OBJECTS_PER_EVENT), n = 0;
    for (size_t i = 0; i != nobj; ++i) {
        const sy_policy_object_t *o = objs[i];
        size_t total = 1 + o->num_fields + o->num_links;
        for (size_t k = 0; k != total && n != max; ++k) {
            const sy_policy_path_t *path = k == 0 ? &o->id : k <= o->num_fields ? &o->fields[k - 1].path
                                                                                 : &o->links[k - 1 - o->num_fields].path;
            size_t j = 0;
            while (j != n && strcmp(out[j]->text, path->text) != 0)
                ++j;
            if (j == n)
                out[n++] = path;
        }
    }
    return n;
}

const char *sy_shape_code_name(char code)
{
    switch (code) {
    case SY_SHAPE_STRING:
        return "string";
    case SY_SHAPE_NUMBER:
        return "number";
    case SY_SHAPE_BOOL:
        return "boolean";
    case SY_SHAPE_OBJECT:
        return "object";
    case SY_SHAPE_ARRAY:
        return "array";
    case SY_SHAPE_NULL:
        return "null";
    case SY_SHAPE_ABSENT:
        return "absent";
    case SY_SHAPE_NOT_OBJECT:
        return "absent (a parent is a scalar)";
    default:
        return "n/a";
    }
}

void sy_shape_dispose(sy_shape_t *shape)
{
    if (shape == NULL)
        return;
    free(shape->buf);
    memset(shape, 0, sizeof(*shape));
}

/* One allocation: source, type, codes and api_version (may be NULL) one after the other. */
static int shape_make(sy_shape_t *shape, const char *source, const char *type, const char *codes, size_t ncodes,
                      const char *api, size_t api_len)
{
    size_t ls = strlen(source), lt = strlen(type);
    char *b = malloc(ls + lt + ncodes + api_len + 4);
    if (b == NULL)
        return SY_ENOMEM;
    shape->buf = b;
    memcpy(b, source, ls + 1);
    shape->source = b;
    b += ls + 1;
    memcpy(b, type, lt + 1);
    shape->type = b;
    b += lt + 1;
    memcpy(b, codes, ncodes);
    b[ncodes] = '\0';
    shape->codes = b;
    b += ncodes + 1;
    shape->api_version = NULL;
    if (api != NULL) {
        memcpy(b, api, api_len);
        b[api_len] = '\0';
        shape->api_version = b;
    }
    return 0;
}

/* The shape of an event read through tokens (a jansson reading, of a body ingress would refuse now, has none). */
static int view_shape(const sy_policy_t *p, size_t si, const char *source, const char *type, const view_t *v,
                      sy_shape_t *shape)
{
    const sy_policy_path_t *paths[SY_SHAPE_MAX_PATHS];
    char codes[SY_SHAPE_MAX_PATHS];
    if (v->doc != NULL)
        return 0;
    size_t n = sy_shape_paths(p, si, type, paths, SY_SHAPE_MAX_PATHS);
    for (size_t i = 0; i != n; ++i)
        codes[i] = view_shape_code(v, paths[i]->segments, paths[i]->num_segments);
    const char *api = NULL;
    size_t api_len = 0;
    if (sy_json_type(&v->json, 0) == SY_JSON_OBJECT) {
        int t = sy_json_get(&v->json, 0, "api_version");
        if (t >= 0 && sy_json_type(&v->json, t) == SY_JSON_STRING && !sy_json_has_escape(&v->json, t)) {
            sy_slice_t text = sy_json_text(&v->json, t);
            if (text.len < 64) {
                api = text.base;
                api_len = text.len;
            }
        }
    }
    return shape_make(shape, source, type, codes, n, api, api_len);
}

/* snprintf(out, cap, "%.*s", (int)v.len, v.base), which stops at a NUL too, without snprintf's cost per event. */
static void slice_to_str(sy_slice_t v, char *out, size_t cap)
{
    size_t n = v.len != 0 ? strnlen(v.base, v.len < cap - 1 ? v.len : cap - 1) : 0;
    memcpy(out, v.base, n);
    out[n] = '\0';
}

int sy_observe(const sy_policy_t *p, const sy_event_t *ev, sy_observation_t **out, size_t *n, const char **why)
{
    return sy_observe_shape(p, ev, out, n, why, NULL);
}

int sy_observe_shape(const sy_policy_t *p, const sy_event_t *ev, sy_observation_t **out, size_t *n, const char **why,
                     sy_shape_t *shape)
{
    const char *ignored;
    if (why == NULL)
        why = &ignored;
    char source[128], type[256];
    const sy_policy_object_t *objs[MAX_OBJECTS_PER_EVENT];
    int rc = 0;

    *out = NULL;
    *n = 0;
    if (shape != NULL)
        memset(shape, 0, sizeof(*shape));
    slice_to_str(ev->source, source, sizeof(source));
    slice_to_str(ev->type, type, sizeof(type));
    size_t si = sy_policy_source_index(p, source);
    if (si == SY_POLICY_NONE)
        return 0;
    size_t nobj = sy_policy_objects_for(p, si, type, objs, MAX_OBJECTS_PER_EVENT);
    if (nobj == 0) /* a type the policy does not map: learnt as a type, without reading the body */
        return shape != NULL ? shape_make(shape, source, type, "", 0, NULL, 0) : 0;
    /* Logs written before ingress checked these may hold such events: they are skipped, never guessed at. */
    if (ev->occurred_at_ms != 0 && !sy_event_time_plausible(ev->occurred_at_ms, ev->received_at_ms)) {
        *why = "the provider time is outside the accepted window (" SY_EVENT_TIME_WINDOW_TEXT ")";
        return SY_EPARSE;
    }
    /* The connector that received it tells how its events read; an unknown name (an old log, a connector removed
     * since) reads with no hints: the policy's paths only. */
    const sy_connector_t *c = sy_connector_find_slice(ev->connector);
    const sy_connector_observe_t *hints = c != NULL ? &c->observe : NULL;
    view_t doc;
    if (view_open(&doc, ev, hints) != 0) {
        view_close(&doc);
        *why = "the body is not JSON as ingress reads it (duplicate keys, invalid escapes or numbers out of range)";
        return SY_EPARSE;
    }
    sy_observation_t *obs = calloc(nobj, sizeof(*obs));
    if (obs == NULL) {
        rc = SY_ENOMEM;
        goto Exit;
    }
    if (shape != NULL && (rc = view_shape(p, si, source, type, &doc, shape)) != 0)
        goto Exit;
    int64_t version = event_version(ev);
    for (size_t i = 0; i != nobj; ++i) {
        int orc = observe_object(p, si, objs[i], type, &doc, hints, version, &obs[*n]);
        if (orc == 0) {
            ++*n;
        } else {
            observation_dispose(&obs[*n]);
            if (orc == SY_ENOMEM) {
                rc = orc;
                goto Exit;
            }
        }
    }
    if (*n != 0) {
        *out = obs;
        obs = NULL;
    }
Exit:
    if (obs != NULL)
        sy_observations_free(obs, *n);
    if (rc != 0) {
        *n = 0;
        sy_shape_dispose(shape);
    }
    view_close(&doc);
    return rc;
}

void sy_observations_free(sy_observation_t *obs, size_t n)
{
    if (obs == NULL)
        return;
    for (size_t i = 0; i != n; ++i)
        observation_dispose(&obs[i]);
    free(obs);
}
