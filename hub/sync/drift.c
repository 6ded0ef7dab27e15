/*
 * Schema drift (drift.h): learning payload shapes in the applier's step, and the alerts they raise.
 */
#include "drift.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "codec.h"
#include "records.h"

#define CACHE_TYPES 128
#define CACHE_FPS 8
#define FLUSH_EVERY_MS 1000

typedef struct st_cache_entry_t {
    char key[200];
    uint64_t hash;
    char policy[SY_POLICY_HASH_LEN + 1]; /* the fingerprints hold under this policy only (its hash: a reload may
                                          * reuse the address) */
    uint64_t fps[CACHE_FPS];
    size_t num_fps, next_fp;
    uint64_t unflushed, last_seq; /* events counted in memory only, since flushed_ms */
    int64_t last_ms, flushed_ms;
} cache_entry_t;

struct st_sy_drift_t {
    cache_entry_t e[CACHE_TYPES];
    size_t n, next; /* next: the entry replaced when full (round robin) */
};

sy_drift_t *sy_drift_new(void)
{
    return calloc(1, sizeof(sy_drift_t));
}

void sy_drift_free(sy_drift_t *d)
{
    free(d);
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s != '\0'; ++s)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static uint64_t shape_fp(const sy_shape_t *s)
{
    uint64_t h = fnv(14695981039346656037ull, s->codes);
    h = fnv(h * 31 + 1, s->api_version != NULL ? s->api_version : "");
    return h;
}

static cache_entry_t *cache_find(sy_drift_t *d, const char *key, uint64_t hash)
{
    for (size_t i = 0; i != d->n; ++i)
        if (d->e[i].hash == hash && strcmp(d->e[i].key, key) == 0)
            return &d->e[i];
    return NULL;
}

void sy_drift_step_begin(sy_drift_step_t *st, sy_drift_t *d, const sy_policy_t *policy)
{
    st->drift = d;
    st->policy = policy->hash;
    st->num_types = 0;
    st->num_sources = 0;
}

static sy_slice_t type_key(char *buf, size_t cap, const char *source, const char *type)
{
    int n = snprintf(buf, cap, "t%s\x1f%s", source, type);
    return (sy_slice_t){buf, n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1};
}

static sy_slice_t source_key(char *buf, size_t cap, const char *source)
{
    int n = snprintf(buf, cap, "s%s", source);
    return (sy_slice_t){buf, n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1};
}

/* The step's source document (loaded or made). NULL when the step tracks too many sources or out of memory. */
static json_t *step_source(sy_drift_step_t *st, sy_txn_t *txn, const char *source, uint64_t seq, int64_t now_ms,
                           int *fresh)
{
    char kb[160];
    *fresh = 0;
    for (size_t i = 0; i != st->num_sources; ++i)
        if (strcmp(st->sources[i].name, source) == 0)
            return st->sources[i].doc;
    if (st->num_sources == SY_DRIFT_STEP_SOURCES || strlen(source) >= sizeof(st->sources[0].name))
        return NULL;
    json_t *doc = sy_doc_get(txn, SY_DB_SHAPES, source_key(kb, sizeof(kb), source));
    if (doc == NULL) {
        doc = json_pack("{s:s, s:I, s:I, s:I, s:{}, s:[]}", "source", source, "first_seen_ms", (json_int_t)now_ms,
                        "first_seq", (json_int_t)seq, "events", (json_int_t)0, "api_versions", "changes");
        *fresh = 1;
    }
    if (doc == NULL)
        return NULL;
    size_t i = st->num_sources++;
    snprintf(st->sources[i].name, sizeof(st->sources[i].name), "%s", source);
    st->sources[i].doc = doc;
    st->sources[i].dirty = *fresh;
    return doc;
}

static void source_dirty(sy_drift_step_t *st, const json_t *doc)
{
    for (size_t i = 0; i != st->num_sources; ++i)
        if (st->sources[i].doc == doc)
            st->sources[i].dirty = 1;
}

/* The policy fields read at path in events of type (ids and links named as such), comma-separated. */
static void fields_at(const sy_policy_t *p, size_t si, const char *type, const char *path, char *out, size_t cap)
{
    const sy_policy_object_t *objs[8];
    size_t nobj = sy_policy_objects_for(p, si, type, objs, 8), o = 0;
    out[0] = '\0';
#define ADD(...)                                                                                                       \
    do {                                                                                                               \
        if (o < cap) {                                                                                                 \
            int w = snprintf(out + o, cap - o, "%s", o != 0 ? ", " : "");                                             \
            o += w > 0 ? (size_t)w : 0;                                                                                \
        }                                                                                                              \
        if (o < cap) {                                                                                                 \
            int w = snprintf(out + o, cap - o, __VA_ARGS__);                                                           \
            o += w > 0 ? (size_t)w : 0;                                                                                \
        }                                                                                                              \
    } while (0)
    for (size_t i = 0; i != nobj; ++i) {
        if (strcmp(objs[i]->id.text, path) == 0)
            ADD("the %s id", p->sources[si].name);
        for (size_t k = 0; k != objs[i]->num_fields; ++k)
            if (strcmp(objs[i]->fields[k].path.text, path) == 0)
                ADD("%s", p->fields[objs[i]->fields[k].field].name);
        for (size_t k = 0; k != objs[i]->num_links; ++k)
            if (strcmp(objs[i]->links[k].path.text, path) == 0)
                ADD("the link to %s", p->sources[objs[i]->links[k].source].name);
    }
#undef ADD
}

/* Records a drift in the source's changes (the last SY_DRIFT_MAX_CHANGES) and raises its alert. */
static int drift(sy_drift_step_t *st, sy_txn_t *txn, json_t *sdoc, const char *what, const sy_shape_t *s,
                 const char *path, const char *expected, const char *seen, const char *fields, uint64_t seq,
                 int64_t now_ms)
{
    char msg[1200], field[600];
    json_t *changes = json_object_get(sdoc, "changes");
    if (!json_is_array(changes)) {
        changes = json_array();
        json_object_set_new(sdoc, "changes", changes);
    }
    json_array_append_new(changes, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "kind", what, "type",
                                             s->type, "path", path, "expected", expected, "seen", seen, "seq",
                                             (json_int_t)seq, "at_ms", (json_int_t)now_ms, "fields", fields));
    while (json_array_size(changes) > SY_DRIFT_MAX_CHANGES)
        json_array_remove(changes, 0);
    source_dirty(st, sdoc);
    if (strcmp(what, "new_type") == 0) {
        snprintf(field, sizeof(field), "%s", s->type);
        snprintf(msg, sizeof(msg), "%s sent an event type never seen before: %s, first at seq %llu (policy fields: %s)",
                 s->source, s->type, (unsigned long long)seq, fields[0] != '\0' ? fields : "none mapped");
    } else if (strcmp(what, "new_api_version") == 0) {
        snprintf(field, sizeof(field), "api_version %s", seen);
        snprintf(msg, sizeof(msg), "%s %s events carry a new api_version %s (seen before: %s), first at seq %llu",
                 s->source, s->type, seen, expected, (unsigned long long)seq);
    } else {
        snprintf(field, sizeof(field), "%s %s", s->type, path);
        snprintf(msg, sizeof(msg), "%s %s: %s %s: expected %s, seen %s, first at seq %llu (policy fields: %s)",
                 s->source, s->type, path, strcmp(what, "disappeared") == 0 ? "disappeared" : "changed type",
                 expected, seen, (unsigned long long)seq, fields[0] != '\0' ? fields : "none");
    }
    sy_alert_subject_t subj = {.source = s->source, .field = field};
    return sy_alert_raise(txn, "schema_drift", &subj, msg, seq, 1, now_ms, NULL);
}

/* The type names a path was seen with (null aside), "/"-separated. */
static void known_types(json_t *types, char *out, size_t cap)
{
    const char *name;
    json_t *v;
    size_t o = 0;
    out[0] = '\0';
    json_object_foreach(types, name, v)
    {
        if (strcmp(name, "null") == 0 || o >= cap)
            continue;
        int w = snprintf(out + o, cap - o, "%s%s", o != 0 ? "/" : "", name);
        o += w > 0 ? (size_t)w : 0;
    }
}

static json_int_t geti(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* One path of a news-worthy shape: updates its learnt types and counts, raises its drift. *settled cleared when the
 * same code again would still be news. */
static int learn_path(sy_drift_step_t *st, sy_txn_t *txn, const sy_policy_t *p, size_t si, json_t *sdoc,
                      json_t *paths, const sy_shape_t *s, const char *path, char code, uint64_t seq, int64_t now_ms,
                      int *dirty, int *settled)
{
    char expected[120], fields[400];
    if (code == SY_SHAPE_NA)
        return 0;
    json_t *e = json_object_get(paths, path);
    if (e == NULL) {
        e = json_pack("{s:{}, s:I, s:I}", "types", "present", (json_int_t)0, "absent", (json_int_t)0);
        json_object_set_new(paths, path, e);
        *dirty = 1;
    }
    json_t *types = json_object_get(e, "types");
    json_int_t present = geti(e, "present"), absent = geti(e, "absent");
    int rc = 0;
    if (code == SY_SHAPE_ABSENT || code == SY_SHAPE_NOT_OBJECT) {
        if (absent == 0 && present >= SY_DRIFT_SETTLED) {
            known_types(types, expected, sizeof(expected));
            fields_at(p, si, s->type, path, fields, sizeof(fields));
            rc = drift(st, txn, sdoc, "disappeared", s, path, expected[0] != '\0' ? expected : "null",
                       sy_shape_code_name(code), fields, seq, now_ms);
        }
        if (absent == 0) { /* the first absence is news; later ones count in memory */
            *dirty = 1;
            *settled = 0;
        }
        json_object_set_new(e, "absent", json_integer(absent + 1));
        return rc;
    }
    const char *name = sy_shape_code_name(code);
    if (json_object_get(types, name) == NULL) {
        known_types(types, expected, sizeof(expected));
        if (code != SY_SHAPE_NULL && expected[0] != '\0') {
            fields_at(p, si, s->type, path, fields, sizeof(fields));
            rc = drift(st, txn, sdoc, "type_changed", s, path, expected, name, fields, seq, now_ms);
        }
        json_object_set_new(types, name, json_integer((json_int_t)seq));
        *dirty = 1;
    }
    if (present < SY_DRIFT_SETTLED) {
        json_object_set_new(e, "present", json_integer(present + 1));
        *dirty = 1;
        if (present + 1 < SY_DRIFT_SETTLED)
            *settled = 0;
    }
    return rc;
}

static sy_drift_type_t *step_type(sy_drift_step_t *st, const char *key, uint64_t hash)
{
    for (size_t i = 0; i != st->num_types; ++i)
        if (st->types[i].hash == hash && strcmp(st->types[i].key, key) == 0)
            return &st->types[i];
    if (st->num_types == SY_DRIFT_STEP_TYPES)
        return NULL;
    sy_drift_type_t *t = &st->types[st->num_types++];
    memset(t, 0, sizeof(*t));
    snprintf(t->key, sizeof(t->key), "%s", key);
    t->hash = hash;
    return t;
}

/* The learnt counts of a type document, plus n events. */
static void count_into(json_t *tdoc, json_t *sdoc, uint64_t n, uint64_t last_seq, int64_t last_ms)
{
    json_object_set_new(tdoc, "count", json_integer(geti(tdoc, "count") + (json_int_t)n));
    json_object_set_new(tdoc, "last_seq", json_integer((json_int_t)last_seq));
    json_object_set_new(tdoc, "last_seen_ms", json_integer(last_ms));
    if (sdoc != NULL)
        json_object_set_new(sdoc, "events", json_integer(geti(sdoc, "events") + (json_int_t)n));
}

int sy_drift_observe(sy_drift_step_t *st, sy_txn_t *txn, const sy_policy_t *p, const sy_shape_t *s, uint64_t seq,
                     int64_t now_ms)
{
    char key[200], kb[256];
    const sy_policy_path_t *paths[SY_SHAPE_MAX_PATHS];
    int rc = 0;
    if (s == NULL || s->buf == NULL)
        return 0;
    snprintf(key, sizeof(key), "%s\x1f%s", s->source, s->type);
    uint64_t hash = fnv(14695981039346656037ull, key), fp = shape_fp(s);
    sy_drift_type_t *t = step_type(st, key, hash);
    if (t != NULL) {
        ++t->pending;
        t->last_seq = seq;
        t->last_ms = now_ms;
        cache_entry_t *c = cache_find(st->drift, key, hash);
        for (size_t i = 0; c != NULL && strcmp(c->policy, st->policy) == 0 && i != c->num_fps; ++i)
            if (c->fps[i] == fp)
                return 0; /* learnt in full: counted only */
        for (size_t i = 0; i != t->num_settled; ++i)
            if (t->settled[i] == fp)
                return 0;
    }
    /* News, or possibly: the type's document and its source's, in this step's transaction. */
    size_t si = sy_policy_source_index(p, s->source);
    if (si == SY_POLICY_NONE)
        return 0;
    int fresh_source;
    json_t *sdoc = step_source(st, txn, s->source, seq, now_ms, &fresh_source);
    json_t *tdoc = t != NULL ? t->doc : NULL;
    int dirty = 0, settled = 1;
    if (sdoc == NULL)
        return 0; /* more sources in one step than it tracks (or no memory): this event is only counted */
    if (tdoc == NULL && (tdoc = sy_doc_get(txn, SY_DB_SHAPES, type_key(kb, sizeof(kb), s->source, s->type))) == NULL) {
        tdoc = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:{}}", "source", s->source, "type", s->type,
                         "first_seen_ms", (json_int_t)now_ms, "first_seq", (json_int_t)seq, "last_seen_ms",
                         (json_int_t)now_ms, "last_seq", (json_int_t)seq, "count", (json_int_t)0, "paths");
        if (tdoc == NULL)
            return SY_ENOMEM;
        if (t != NULL)
            t->doc = tdoc; /* the step's from here on (sy_drift_step_release) */
        dirty = 1;
        if (!fresh_source && geti(sdoc, "events") >= SY_DRIFT_LEARN_EVENTS) {
            char fields[400] = "";
            size_t n = sy_shape_paths(p, si, s->type, paths, SY_SHAPE_MAX_PATHS), o = 0;
            for (size_t i = 0; i != n && o < sizeof(fields); ++i) {
                char f[300];
                fields_at(p, si, s->type, paths[i]->text, f, sizeof(f));
                int w = snprintf(fields + o, sizeof(fields) - o, "%s%s", o != 0 ? ", " : "", f);
                o += w > 0 ? (size_t)w : 0;
            }
            if ((rc = drift(st, txn, sdoc, "new_type", s, "", "", s->type, fields, seq, now_ms)) != 0)
                goto Exit;
        }
    }
    if (t != NULL)
        t->doc = tdoc;
    if (geti(sdoc, "events") < SY_DRIFT_LEARN_EVENTS) { /* counted at once until the source is learnt: new types
                                                          * are news after that, whatever the timing */
        settled = 0;
        dirty = 1;
    }
    if (s->api_version != NULL) {
        json_t *versions = json_object_get(sdoc, "api_versions");
        if (!json_is_object(versions)) {
            versions = json_object();
            json_object_set_new(sdoc, "api_versions", versions);
        }
        if (json_object_get(versions, s->api_version) == NULL) {
            char before[200];
            known_types(versions, before, sizeof(before));
            if (before[0] != '\0' && (rc = drift(st, txn, sdoc, "new_api_version", s, "api_version", before,
                                                 s->api_version, "", seq, now_ms)) != 0)
                goto Exit;
            json_object_set_new(versions, s->api_version, json_integer((json_int_t)seq));
            source_dirty(st, sdoc);
        }
    }
    json_t *pobj = json_object_get(tdoc, "paths");
    if (!json_is_object(pobj)) {
        pobj = json_object();
        json_object_set_new(tdoc, "paths", pobj);
    }
    size_t n = sy_shape_paths(p, si, s->type, paths, SY_SHAPE_MAX_PATHS);
    for (size_t i = 0; i != n && s->codes[i] != '\0'; ++i)
        if ((rc = learn_path(st, txn, p, si, sdoc, pobj, s, paths[i]->text, s->codes[i], seq, now_ms, &dirty,
                             &settled)) != 0)
            goto Exit;
    if (t == NULL) { /* the step tracks too many types: written at once, counted in it */
        count_into(tdoc, sdoc, 1, seq, now_ms);
        source_dirty(st, sdoc);
        rc = sy_doc_put(txn, SY_DB_SHAPES, type_key(kb, sizeof(kb), s->source, s->type), tdoc);
        goto Exit;
    }
    t->dirty |= dirty;
    if (settled && t->num_settled != sizeof(t->settled) / sizeof(t->settled[0]))
        t->settled[t->num_settled++] = fp;
Exit:
    if (t == NULL)
        json_decref(tdoc);
    return rc;
}

int sy_drift_step_flush(sy_drift_step_t *st, sy_txn_t *txn, int64_t now_ms)
{
    char kb[256];
    int rc;
    for (size_t i = 0; i != st->num_types; ++i) {
        sy_drift_type_t *t = &st->types[i];
        cache_entry_t *c = cache_find(st->drift, t->key, t->hash);
        if (!t->dirty && c != NULL && now_ms - c->flushed_ms < FLUSH_EVERY_MS)
            continue; /* counted in memory after the commit */
        const char *sep = strchr(t->key, '\x1f');
        if (sep == NULL)
            continue;
        char source[128];
        snprintf(source, sizeof(source), "%.*s", (int)(sep - t->key), t->key);
        int fresh;
        json_t *sdoc = step_source(st, txn, source, t->last_seq, now_ms, &fresh);
        sy_slice_t k = type_key(kb, sizeof(kb), source, sep + 1);
        if (t->doc == NULL && (t->doc = sy_doc_get(txn, SY_DB_SHAPES, k)) == NULL)
            continue; /* never learnt (a source the policy lost meanwhile) */
        count_into(t->doc, sdoc, t->pending + (c != NULL ? c->unflushed : 0), t->last_seq, t->last_ms);
        if (sdoc != NULL)
            source_dirty(st, sdoc);
        if ((rc = sy_doc_put(txn, SY_DB_SHAPES, k, t->doc)) != 0)
            return rc;
        t->flushed = 1;
    }
    for (size_t i = 0; i != st->num_sources; ++i) {
        if (!st->sources[i].dirty)
            continue;
        if ((rc = sy_doc_put(txn, SY_DB_SHAPES, source_key(kb, sizeof(kb), st->sources[i].name), st->sources[i].doc)) != 0)
            return rc;
    }
    return 0;
}

void sy_drift_step_release(sy_drift_step_t *st)
{
    for (size_t i = 0; i != st->num_types; ++i) {
        json_decref(st->types[i].doc);
        st->types[i].doc = NULL;
    }
    for (size_t i = 0; i != st->num_sources; ++i) {
        json_decref(st->sources[i].doc);
        st->sources[i].doc = NULL;
    }
    st->num_sources = 0;
}

void sy_drift_step_commit(sy_drift_step_t *st, int64_t now_ms)
{
    sy_drift_t *d = st->drift;
    for (size_t i = 0; i != st->num_types; ++i) {
        sy_drift_type_t *t = &st->types[i];
        cache_entry_t *c = cache_find(d, t->key, t->hash);
        if (c == NULL) {
            if (!t->flushed)
                continue; /* nothing learnt that memory must keep: the next event of it is read again */
            c = d->n != CACHE_TYPES ? &d->e[d->n++] : &d->e[d->next++ % CACHE_TYPES];
            memset(c, 0, sizeof(*c));
            snprintf(c->key, sizeof(c->key), "%s", t->key);
            c->hash = t->hash;
            snprintf(c->policy, sizeof(c->policy), "%s", st->policy);
        }
        if (strcmp(c->policy, st->policy) != 0) {
            snprintf(c->policy, sizeof(c->policy), "%s", st->policy);
            c->num_fps = c->next_fp = 0;
        }
        for (size_t k = 0; k != t->num_settled; ++k) {
            if (c->num_fps != CACHE_FPS)
                c->fps[c->num_fps++] = t->settled[k];
            else
                c->fps[c->next_fp++ % CACHE_FPS] = t->settled[k];
        }
        if (t->flushed) {
            c->unflushed = 0;
            c->flushed_ms = now_ms;
        } else {
            c->unflushed += t->pending;
        }
        c->last_seq = t->last_seq;
        c->last_ms = t->last_ms;
    }
    st->num_types = st->num_sources = 0;
}

int sy_drift_flush_all(sy_drift_t *d, sy_txn_t *txn, int64_t now_ms)
{
    char kb[256];
    int rc;
    (void)now_ms;
    for (size_t i = 0; i != d->n; ++i) {
        cache_entry_t *c = &d->e[i];
        const char *sep = strchr(c->key, '\x1f');
        if (c->unflushed == 0 || sep == NULL)
            continue;
        char source[128];
        snprintf(source, sizeof(source), "%.*s", (int)(sep - c->key), c->key);
        json_t *tdoc = sy_doc_get(txn, SY_DB_SHAPES, type_key(kb, sizeof(kb), source, sep + 1));
        json_t *sdoc = sy_doc_get(txn, SY_DB_SHAPES, source_key(kb, sizeof(kb), source));
        rc = 0;
        if (tdoc != NULL) {
            count_into(tdoc, sdoc, c->unflushed, c->last_seq, c->last_ms);
            rc = sy_doc_put(txn, SY_DB_SHAPES, type_key(kb, sizeof(kb), source, sep + 1), tdoc);
            if (rc == 0 && sdoc != NULL)
                rc = sy_doc_put(txn, SY_DB_SHAPES, source_key(kb, sizeof(kb), source), sdoc);
        }
        json_decref(tdoc);
        json_decref(sdoc);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void sy_drift_flushed_all(sy_drift_t *d)
{
    for (size_t i = 0; i != d->n; ++i)
        d->e[i].unflushed = 0;
}

typedef struct st_list_t {
    json_t *sources, *types;
} list_t;

static int on_shape(void *arg, sy_slice_t key, sy_slice_t val)
{
    list_t *l = arg;
    json_t *doc = sy_codec_doc_decode(val.base, val.len);
    if (doc == NULL || key.len == 0)
        return 0;
    json_array_append_new(key.base[0] == 's' ? l->sources : l->types, doc);
    return 0;
}

json_t *sy_drift_list(sy_txn_t *txn)
{
    list_t l = {json_array(), json_array()};
    int rc = sy_txn_scan(txn, SY_DB_SHAPES, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_shape, &l);
    if (rc < 0) {
        json_decref(l.sources);
        json_decref(l.types);
        return NULL;
    }
    return json_pack("{s:o, s:o}", "sources", l.sources, "types", l.types);
}
