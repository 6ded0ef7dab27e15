/*
 * Policy pass 2: reads each section into the policy and checks it as it goes, so every mistake is reported at
 * its own node; then the checks that need the merged policy. policy_load.c drives it.
 */
#include <fnmatch.h>

#include "policy_internal.h"

/* Items of a sequence node, or the node itself where a list of one may be written as that one value. */
typedef struct st_items_t {
    yaml_node_t *one;
    yaml_node_item_t *start, *end;
} items_t;

static int get_items(loader_t *ld, yaml_node_t *n, int allow_scalar, items_t *it, const char *what, const char *key)
{
    memset(it, 0, sizeof(*it));
    if (n->type == YAML_SEQUENCE_NODE) {
        it->start = n->data.sequence.items.start;
        it->end = n->data.sequence.items.top;
        return 0;
    }
    if (allow_scalar && n->type == YAML_SCALAR_NODE) {
        it->one = n;
        return 0;
    }
    return sy_policy_fail(ld, n, "%s: \"%s\" must be a list%s", what, key, allow_scalar ? " or a single value" : "");
}

static size_t items_count(const items_t *it)
{
    return it->one != NULL ? 1 : (size_t)(it->end - it->start);
}

static yaml_node_t *items_at(loader_t *ld, const items_t *it, size_t i)
{
    return it->one != NULL ? it->one : sy_yaml_node(&ld->docs[ld->cur], it->start[i]);
}

/* A list (or one value) of non-empty strings, e.g. event patterns. */
static int read_string_list(loader_t *ld, yaml_node_t *n, const char *what, const char *key, char ***out, size_t *num)
{
    items_t it;
    int rc;
    if ((rc = get_items(ld, n, 1, &it, what, key)) != 0)
        return rc;
    size_t count = items_count(&it);
    if (count == 0)
        return sy_policy_fail(ld, n, "%s: \"%s\" must not be empty", what, key);
    *out = xcalloc(count, sizeof(char *));
    for (size_t i = 0; i != count; ++i) {
        yaml_node_t *item = items_at(ld, &it, i);
        const char *s = scalar(item);
        if (s == NULL || *s == '\0')
            return sy_policy_fail(ld, item, "%s: \"%s\" entries must be non-empty strings", what, key);
        (*out)[(*num)++] = xstrdup(s);
    }
    return 0;
}

/* "data.object.items.data.0.price.id": dotted, no empty segment. */
static int read_path(loader_t *ld, yaml_node_t *n, const char *what, const char *key, sy_policy_path_t *out)
{
    const char *s = scalar(n);
    if (s == NULL || *s == '\0' || *s == '.' || s[strlen(s) - 1] == '.' || strstr(s, "..") != NULL)
        return sy_policy_fail(ld, n, "%s: \"%s\" must be a dotted path such as data.object.email", what, key);
    size_t num = 1;
    for (const char *c = s; *c != '\0'; ++c)
        num += *c == '.';
    if (num > MAX_PATH_SEGMENTS)
        return sy_policy_fail(ld, n, "%s: \"%s\" has more than %d segments", what, key, MAX_PATH_SEGMENTS);
    out->text = xstrdup(s);
    out->segments = xcalloc(num, sizeof(char *));
    for (const char *c = s; out->num_segments != num;) {
        size_t len = strcspn(c, ".");
        if ((out->segments[out->num_segments] = strndup(c, len)) == NULL)
            abort();
        ++out->num_segments;
        c += len + 1;
    }
    return 0;
}

static size_t field_index_of(loader_t *ld, const yaml_node_t *n)
{
    const char *s = scalar(n);
    return s != NULL ? sy_policy_field_index(ld->p, s) : SY_POLICY_NONE;
}
/* --- pass 2: fields ----------------------------------------------------------------------------------------- */

typedef struct st_field_spec_t {
    yaml_node_t *owner, *push, *normalize, *on_conflict, *required;
} field_spec_t;

static const sy_yaml_key_t field_keys[] = {
    {"owner", keep_node, offsetof(field_spec_t, owner)},
    {"push", keep_node, offsetof(field_spec_t, push)},
    {"normalize", keep_node, offsetof(field_spec_t, normalize)},
    {"on_conflict", keep_node, offsetof(field_spec_t, on_conflict)},
    {"required", keep_node, offsetof(field_spec_t, required)},
};

/* owner / push: source names, resolved to indexes, each at most once; positions kept for the final checks. */
static int read_source_refs(loader_t *ld, yaml_node_t *n, const char *what, const char *key, size_t *out,
                            sy_policy_pos_t *pos, size_t *num)
{
    items_t it;
    int rc;
    if ((rc = get_items(ld, n, 1, &it, what, key)) != 0)
        return rc;
    for (size_t i = 0; i != items_count(&it); ++i) {
        yaml_node_t *item = items_at(ld, &it, i);
        const char *name = scalar(item);
        if (name == NULL || *name == '\0')
            return sy_policy_fail(ld, item, "%s: \"%s\" entries must be source names", what, key);
        size_t src = sy_policy_source_index(ld->p, name);
        if (src == SY_POLICY_NONE)
            return sy_policy_fail(ld, item, "%s: %s \"%s\" is not declared under sources", what,
                                  strcmp(key, "push") == 0 ? "push target" : key, name);
        for (size_t j = 0; j != *num; ++j)
            if (out[j] == src)
                return sy_policy_fail(ld, item, "%s: \"%s\" is listed twice in %s", what, name, key);
        out[*num] = src;
        pos[(*num)++] = pos_of(ld, item);
    }
    return 0;
}

int sy_policy_read_field(loader_t *ld, size_t index)
{
    sy_policy_field_t *f = &ld->p->fields[index];
    field_extra_t *fx = &ld->fx[index];
    field_spec_t spec = {0};
    char what[100];
    items_t it;
    int rc;

    ld->cur = fx->file;
    snprintf(what, sizeof(what), "field \"%s\"", f->name);
    if ((rc = sy_yaml_read_map(&ld->docs[ld->cur], fx->body, what, field_keys, SY_ARRAY_SIZE(field_keys), &spec,
                               ld->err)) != 0)
        return rc;
    if (spec.owner == NULL)
        return sy_error_set(ld->err, SY_EINVAL, f->pos.file, f->pos.line, f->pos.column,
                            "%s: no owner (every field needs \"owner: SOURCE\")", what);
    if ((rc = read_source_refs(ld, spec.owner, what, "owner", f->owners, fx->owner_pos, &f->num_owners)) != 0)
        return rc;
    if (f->num_owners == 0)
        return sy_policy_fail(ld, spec.owner, "%s: \"owner\" must name at least one source", what);
    if (spec.push != NULL) {
        if ((rc = read_source_refs(ld, spec.push, what, "push", f->push, fx->push_pos, &f->num_push)) != 0)
            return rc;
        /* The owner never receives its own field: that is what keeps a push from coming back as a change. */
        for (size_t i = 0; i != f->num_push; ++i)
            if (sy_policy_is_owner(ld->p, index, f->push[i], NULL))
                return sy_error_set(ld->err, SY_EINVAL, fx->push_pos[i].file, fx->push_pos[i].line,
                                    fx->push_pos[i].column, "%s: push target \"%s\" is its owner", what,
                                    ld->p->sources[f->push[i]].name);
    }
    if (spec.normalize != NULL) {
        if ((rc = get_items(ld, spec.normalize, 1, &it, what, "normalize")) != 0)
            return rc;
        for (size_t i = 0; i != items_count(&it); ++i) {
            yaml_node_t *item = items_at(ld, &it, i);
            if (f->num_normalize == SY_POLICY_MAX_NORMALIZERS)
                return sy_policy_fail(ld, item, "%s: at most %d normalisers", what, SY_POLICY_MAX_NORMALIZERS);
            if (sy_normalizer_parse(scalar(item), &f->normalize[f->num_normalize]) != 0)
                return sy_policy_fail(ld, item,
                                      "%s: unknown normaliser \"%s\" (email, phone_e164, trim, lower, company_name)",
                                      what, scalar(item) != NULL ? scalar(item) : "");
            ++f->num_normalize;
        }
    }
    if (spec.on_conflict != NULL) {
        const char *s = scalar(spec.on_conflict);
        if (s != NULL && strcmp(s, "ignore") == 0)
            f->on_conflict = SY_CONFLICT_IGNORE;
        else if (s != NULL && strcmp(s, "revert") == 0)
            f->on_conflict = SY_CONFLICT_REVERT;
        else if (s != NULL && strcmp(s, "alert") == 0)
            f->on_conflict = SY_CONFLICT_ALERT;
        else
            return sy_policy_fail(ld, spec.on_conflict, "%s: on_conflict must be ignore, revert or alert", what);
    }
    if (spec.required != NULL && sy_yaml_read_bool(&ld->docs[ld->cur], spec.required, &f->required, NULL) != 0)
        return sy_policy_fail(ld, spec.required, "%s: \"required\" must be true or false", what);
    return 0;
}

/* --- pass 2: entity, identity, loop_guard ---------------------------------------------------------------------- */

/* identity, loop_guard: one file says it; a second one is reported with the first place. */
static int once_across_files(loader_t *ld, yaml_node_t *n, const char *key, sy_policy_pos_t *first)
{
    char other[300];
    if (first->file != NULL)
        return sy_policy_fail(ld, n, "\"%s\" is given twice: at %s and here (give it in one file)", key,
                              where(first, other, sizeof(other)));
    *first = pos_of(ld, n);
    return 0;
}

static int read_entity(loader_t *ld, yaml_node_t *n)
{
    char other[300];
    const char *s = scalar(n);
    if (s == NULL || !valid_name(s, 0))
        return sy_policy_fail(ld, n, "entity: expected a name such as customer");
    /* Every file may say which entity it describes, but they must describe the same one. */
    if (ld->p->entity != NULL) {
        if (strcmp(ld->p->entity, s) != 0)
            return sy_policy_fail(ld, n, "entity \"%s\" differs from \"%s\" at %s", s, ld->p->entity,
                                  where(&ld->entity_pos, other, sizeof(other)));
        return 0;
    }
    ld->p->entity = xstrdup(s);
    ld->entity_pos = pos_of(ld, n);
    return 0;
}

typedef struct st_identity_spec_t {
    yaml_node_t *strong, *weak;
} identity_spec_t;

static const sy_yaml_key_t identity_keys[] = {
    {"strong", keep_node, offsetof(identity_spec_t, strong)},
    {"weak", keep_node, offsetof(identity_spec_t, weak)},
};

static int read_identity_keys(loader_t *ld, yaml_node_t *n, const char *key, size_t *out, size_t *num)
{
    items_t it;
    int rc;
    sy_policy_t *p = ld->p;
    if ((rc = get_items(ld, n, 1, &it, "identity", key)) != 0)
        return rc;
    for (size_t i = 0; i != items_count(&it); ++i) {
        yaml_node_t *item = items_at(ld, &it, i);
        size_t field = field_index_of(ld, item);
        if (field == SY_POLICY_NONE)
            return sy_policy_fail(ld, item, "identity: %s key \"%s\" is not a declared field", key,
                                  scalar(item) != NULL ? scalar(item) : "");
        if (*num == MAX_IDENTITY_KEYS)
            return sy_policy_fail(ld, item, "identity: at most %d %s keys", MAX_IDENTITY_KEYS, key);
        for (size_t j = 0; j != p->num_strong_keys; ++j)
            if (p->strong_keys[j] == field)
                return sy_policy_fail(ld, item, "identity: \"%s\" is already a strong key", p->fields[field].name);
        for (size_t j = 0; j != p->num_weak_keys; ++j)
            if (p->weak_keys[j] == field)
                return sy_policy_fail(ld, item, "identity: \"%s\" is already a weak key", p->fields[field].name);
        out[(*num)++] = field;
    }
    return 0;
}

static int read_identity(loader_t *ld, yaml_node_t *n)
{
    identity_spec_t spec = {0};
    int rc;
    if ((rc = once_across_files(ld, n, "identity", &ld->identity_pos)) != 0)
        return rc;
    if ((rc = sy_yaml_read_map(&ld->docs[ld->cur], n, "identity", identity_keys, SY_ARRAY_SIZE(identity_keys), &spec,
                               ld->err)) != 0)
        return rc;
    if (spec.strong != NULL &&
        (rc = read_identity_keys(ld, spec.strong, "strong", ld->p->strong_keys, &ld->p->num_strong_keys)) != 0)
        return rc;
    if (spec.weak != NULL &&
        (rc = read_identity_keys(ld, spec.weak, "weak", ld->p->weak_keys, &ld->p->num_weak_keys)) != 0)
        return rc;
    return 0;
}

typedef struct st_loop_guard_spec_t {
    yaml_node_t *revert_budget, *window;
} loop_guard_spec_t;

static const sy_yaml_key_t loop_guard_keys[] = {
    {"revert_budget", keep_node, offsetof(loop_guard_spec_t, revert_budget)},
    {"window", keep_node, offsetof(loop_guard_spec_t, window)},
};

static int read_loop_guard(loader_t *ld, yaml_node_t *n)
{
    loop_guard_spec_t spec = {0};
    int rc;
    if ((rc = once_across_files(ld, n, "loop_guard", &ld->loop_guard_pos)) != 0)
        return rc;
    if ((rc = sy_yaml_read_map(&ld->docs[ld->cur], n, "loop_guard", loop_guard_keys, SY_ARRAY_SIZE(loop_guard_keys),
                               &spec, ld->err)) != 0)
        return rc;
    if (spec.revert_budget != NULL &&
        (sy_yaml_read_uint(&ld->docs[ld->cur], spec.revert_budget, &ld->p->revert_budget, NULL) != 0 ||
         ld->p->revert_budget < 1))
        return sy_policy_fail(ld, spec.revert_budget, "loop_guard: revert_budget must be a whole number of at least 1");
    if (spec.window != NULL &&
        (sy_parse_duration_ms(scalar(spec.window), &ld->p->revert_window_ms) != 0 || ld->p->revert_window_ms <= 0))
        return sy_policy_fail(ld, spec.window, "loop_guard: window must be a duration such as 10m, 1h or 1d");
    return 0;
}

/* --- pass 2: sources ----------------------------------------------------------------------------------------- */

typedef struct st_source_spec_t {
    yaml_node_t *rate, *create, *objects, *push_as, *exclude;
} source_spec_t;

static const sy_yaml_key_t source_keys[] = {
    {"rate", keep_node, offsetof(source_spec_t, rate)},
    {"create", keep_node, offsetof(source_spec_t, create)},
    {"objects", keep_node, offsetof(source_spec_t, objects)},
    {"push_as", keep_node, offsetof(source_spec_t, push_as)},
    {"exclude", keep_node, offsetof(source_spec_t, exclude)},
};

typedef struct st_object_spec_t {
    yaml_node_t *events, *delete_events, *id, *id_prefix, *fields, *links;
} object_spec_t;

static const sy_yaml_key_t object_keys[] = {
    {"events", keep_node, offsetof(object_spec_t, events)},
    {"delete_events", keep_node, offsetof(object_spec_t, delete_events)},
    {"id", keep_node, offsetof(object_spec_t, id)},
    {"id_prefix", keep_node, offsetof(object_spec_t, id_prefix)},
    {"fields", keep_node, offsetof(object_spec_t, fields)},
    {"links", keep_node, offsetof(object_spec_t, links)},
};

typedef struct st_exclude_spec_t {
    yaml_node_t *id, *field, *equals, *matches;
} exclude_spec_t;

static const sy_yaml_key_t exclude_keys[] = {
    {"id", keep_node, offsetof(exclude_spec_t, id)},
    {"field", keep_node, offsetof(exclude_spec_t, field)},
    {"equals", keep_node, offsetof(exclude_spec_t, equals)},
    {"matches", keep_node, offsetof(exclude_spec_t, matches)},
};

/* "100/10s": N requests per window, N >= 1, window > 0. */
static int parse_rate(const char *s, unsigned *count, int64_t *window_ms)
{
    const char *slash = s != NULL ? strchr(s, '/') : NULL;
    unsigned long long n = 0;
    if (slash == NULL || slash == s || slash - s > 9)
        return SY_EINVAL;
    for (const char *c = s; c != slash; ++c) {
        if (*c < '0' || *c > '9')
            return SY_EINVAL;
        n = n * 10 + (unsigned)(*c - '0');
    }
    if (n < 1 || sy_parse_duration_ms(slash + 1, window_ms) != 0 || *window_ms <= 0)
        return SY_EINVAL;
    *count = (unsigned)n;
    return 0;
}

static int read_rate(loader_t *ld, size_t si, yaml_node_t *n, const char *what)
{
    sy_policy_source_t *s = &ld->p->sources[si];
    char other[300];
    if (ld->sx[si].rate_pos.file != NULL)
        return sy_policy_fail(ld, n, "%s: rate is given twice: at %s and here", what,
                              where(&ld->sx[si].rate_pos, other, sizeof(other)));
    if (parse_rate(scalar(n), &s->rate_count, &s->rate_window_ms) != 0)
        return sy_policy_fail(
            ld, n, "%s: rate must be REQUESTS/WINDOW with at least 1 request, such as 100/10s or 25/1s", what);
    ld->sx[si].rate_pos = pos_of(ld, n);
    return 0;
}

static int read_create(loader_t *ld, size_t si, yaml_node_t *n, const char *what)
{
    sy_policy_source_t *s = &ld->p->sources[si];
    const char *v = scalar(n);
    char other[300];
    if (ld->sx[si].create_pos.file != NULL)
        return sy_policy_fail(ld, n, "%s: create is given twice: at %s and here", what,
                              where(&ld->sx[si].create_pos, other, sizeof(other)));
    if (v != NULL && strcmp(v, "never") == 0)
        s->create = SY_CREATE_NEVER;
    else if (v != NULL && strcmp(v, "if_missing") == 0)
        s->create = SY_CREATE_IF_MISSING;
    else
        return sy_policy_fail(ld, n, "%s: create must be never or if_missing", what);
    ld->sx[si].create_pos = pos_of(ld, n);
    return 0;
}

/* An object's "fields": FIELD -> PATH, each declared field at most once. */
static int read_object_fields(loader_t *ld, sy_policy_object_t *o, yaml_node_t *map, const char *what)
{
    if (map->type != YAML_MAPPING_NODE)
        return sy_policy_fail(ld, map, "%s: \"fields\" must map field names to paths", what);
    size_t cap = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    o->fields = xcalloc(cap, sizeof(*o->fields));
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; ++pair) {
        yaml_node_t *k = sy_yaml_node(&ld->docs[ld->cur], pair->key),
                    *v = sy_yaml_node(&ld->docs[ld->cur], pair->value);
        size_t field = field_index_of(ld, k);
        if (field == SY_POLICY_NONE)
            return sy_policy_fail(ld, k, "%s: \"%s\" is not a declared field", what,
                                  scalar(k) != NULL ? scalar(k) : "");
        for (size_t i = 0; i != o->num_fields; ++i)
            if (o->fields[i].field == field)
                return sy_policy_fail(ld, k, "%s: field \"%s\" is mapped twice", what, ld->p->fields[field].name);
        sy_policy_field_map_t *m = &o->fields[o->num_fields++];
        m->field = field;
        int rc = read_path(ld, v, what, ld->p->fields[field].name, &m->path);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int read_object_links(loader_t *ld, size_t si, sy_policy_object_t *o, yaml_node_t *map, const char *what)
{
    if (map->type != YAML_MAPPING_NODE)
        return sy_policy_fail(ld, map, "%s: \"links\" must map source names to paths of their ids", what);
    size_t cap = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    o->links = xcalloc(cap, sizeof(*o->links));
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; ++pair) {
        yaml_node_t *k = sy_yaml_node(&ld->docs[ld->cur], pair->key),
                    *v = sy_yaml_node(&ld->docs[ld->cur], pair->value);
        const char *name = scalar(k) != NULL ? scalar(k) : "";
        size_t src = sy_policy_source_index(ld->p, name);
        if (src == SY_POLICY_NONE)
            return sy_policy_fail(ld, k, "%s: link to \"%s\", which is not declared under sources", what, name);
        if (src == si)
            return sy_policy_fail(ld, k, "%s: a source cannot link to itself (links name other sources)", what);
        for (size_t i = 0; i != o->num_links; ++i)
            if (o->links[i].source == src)
                return sy_policy_fail(ld, k, "%s: link to \"%s\" is given twice", what, name);
        sy_policy_link_t *l = &o->links[o->num_links++];
        l->source = src;
        int rc = read_path(ld, v, what, name, &l->path);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int read_object(loader_t *ld, size_t si, yaml_node_t *n, const char *what)
{
    sy_policy_source_t *s = &ld->p->sources[si];
    object_spec_t spec = {0};
    int rc;
    if ((rc = sy_yaml_read_map(&ld->docs[ld->cur], n, what, object_keys, SY_ARRAY_SIZE(object_keys), &spec, ld->err)) !=
        0)
        return rc;
    s->objects = xrealloc(s->objects, (s->num_objects + 1) * sizeof(*s->objects));
    sy_policy_object_t *o = &s->objects[s->num_objects++];
    memset(o, 0, sizeof(*o));
    o->pos = pos_of(ld, n);
    if (spec.events == NULL)
        return sy_policy_fail(ld, n, "%s: missing \"events\" (the event types this entry reads)", what);
    if (spec.id == NULL)
        return sy_policy_fail(ld, n, "%s: missing \"id\" (the path of the %s id of the record)", what, s->name);
    if ((rc = read_string_list(ld, spec.events, what, "events", &o->events, &o->num_events)) != 0)
        return rc;
    if (spec.delete_events != NULL) {
        if ((rc = read_string_list(ld, spec.delete_events, what, "delete_events", &o->delete_events,
                                   &o->num_delete_events)) != 0)
            return rc;
        /* A delete event this entry's events do not match would never reach it. */
        for (size_t i = 0; i != o->num_delete_events; ++i) {
            size_t j;
            for (j = 0; j != o->num_events; ++j)
                if (strcmp(o->events[j], o->delete_events[i]) == 0 ||
                    fnmatch(o->events[j], o->delete_events[i], 0) == 0)
                    break;
            if (j == o->num_events) {
                items_t it;
                get_items(ld, spec.delete_events, 1, &it, what, "delete_events");
                return sy_policy_fail(ld, items_at(ld, &it, i), "%s: delete event \"%s\" matches none of its events",
                                      what, o->delete_events[i]);
            }
        }
    }
    if ((rc = read_path(ld, spec.id, what, "id", &o->id)) != 0)
        return rc;
    if (spec.id_prefix != NULL) {
        const char *prefix = scalar(spec.id_prefix);
        if (prefix == NULL || prefix[0] == '\0' || strchr(prefix, ':') != NULL)
            return sy_policy_fail(ld, spec.id_prefix, "%s: \"id_prefix\" must be a non-empty string without ':'", what);
        o->id_prefix = xstrdup(prefix);
    }
    if (spec.fields != NULL && (rc = read_object_fields(ld, o, spec.fields, what)) != 0)
        return rc;
    if (spec.links != NULL && (rc = read_object_links(ld, si, o, spec.links, what)) != 0)
        return rc;
    return 0;
}

static int read_push_as(loader_t *ld, size_t si, yaml_node_t *map, const char *what)
{
    sy_policy_source_t *s = &ld->p->sources[si];
    source_extra_t *sx = &ld->sx[si];
    char other[300];
    if (map->type != YAML_MAPPING_NODE)
        return sy_policy_fail(ld, map, "%s: \"push_as\" must map field names to %s's names for them", what, s->name);
    size_t more = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    s->push_names = xrealloc(s->push_names, (s->num_push_names + more) * sizeof(*s->push_names));
    sx->push_pos = xrealloc(sx->push_pos, (s->num_push_names + more) * sizeof(*sx->push_pos));
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; ++pair) {
        yaml_node_t *k = sy_yaml_node(&ld->docs[ld->cur], pair->key),
                    *v = sy_yaml_node(&ld->docs[ld->cur], pair->value);
        size_t field = field_index_of(ld, k);
        if (field == SY_POLICY_NONE)
            return sy_policy_fail(ld, k, "%s: push_as names \"%s\", which is not a declared field", what,
                                  scalar(k) != NULL ? scalar(k) : "");
        for (size_t i = 0; i != s->num_push_names; ++i)
            if (s->push_names[i].field == field)
                return sy_policy_fail(ld, k, "%s: push_as maps \"%s\" twice: at %s and here", what,
                                      ld->p->fields[field].name, where(&sx->push_pos[i], other, sizeof(other)));
        if (scalar(v) == NULL || *scalar(v) == '\0')
            return sy_policy_fail(ld, v, "%s: push_as \"%s\" must be %s's name for the field", what,
                                  ld->p->fields[field].name, s->name);
        s->push_names[s->num_push_names] = (sy_policy_push_name_t){field, xstrdup(scalar(v))};
        sx->push_pos[s->num_push_names++] = pos_of(ld, k);
    }
    return 0;
}

static int read_exclude(loader_t *ld, size_t si, yaml_node_t *n, const char *what)
{
    sy_policy_source_t *s = &ld->p->sources[si];
    exclude_spec_t spec = {0};
    int rc;
    if ((rc = sy_yaml_read_map(&ld->docs[ld->cur], n, what, exclude_keys, SY_ARRAY_SIZE(exclude_keys), &spec,
                               ld->err)) != 0)
        return rc;
    s->excludes = xrealloc(s->excludes, (s->num_excludes + 1) * sizeof(*s->excludes));
    sy_policy_exclude_t *e = &s->excludes[s->num_excludes++];
    *e = (sy_policy_exclude_t){.field = SY_POLICY_NONE};
    if ((spec.id != NULL) == (spec.field != NULL) || (spec.id != NULL && (spec.equals || spec.matches)) ||
        (spec.field != NULL && (spec.equals != NULL) == (spec.matches != NULL)))
        return sy_policy_fail(ld, n, "%s: give {id: X}, {field: F, equals: X} or {field: F, matches: GLOB}", what);
    if (spec.id != NULL) {
        if (scalar(spec.id) == NULL || *scalar(spec.id) == '\0')
            return sy_policy_fail(ld, spec.id, "%s: \"id\" must be a non-empty string", what);
        e->id = xstrdup(scalar(spec.id));
        return 0;
    }
    if ((e->field = field_index_of(ld, spec.field)) == SY_POLICY_NONE)
        return sy_policy_fail(ld, spec.field, "%s: \"%s\" is not a declared field", what,
                              scalar(spec.field) != NULL ? scalar(spec.field) : "");
    const sy_policy_field_t *f = &ld->p->fields[e->field];
    yaml_node_t *v = spec.equals != NULL ? spec.equals : spec.matches;
    if (scalar(v) == NULL || *scalar(v) == '\0')
        return sy_policy_fail(ld, v, "%s: \"%s\" must be a non-empty string", what,
                              spec.equals != NULL ? "equals" : "matches");
    if (spec.matches != NULL) {
        e->matches = xstrdup(scalar(v));
        return 0;
    }
    /* Stored normalised like the values it is compared with: "Ana@X.io" and " ana@x.io" exclude the same. */
    e->equals = sy_normalize(f->normalize, f->num_normalize, scalar(v));
    if (*e->equals == '\0')
        return sy_policy_fail(ld, v, "%s: \"%s\" is empty once normalised for field \"%s\"", what, scalar(v), f->name);
    return 0;
}

static int read_source(loader_t *ld, yaml_node_t *k, yaml_node_t *body)
{
    size_t si = sy_policy_source_index(ld->p, scalar(k));
    source_spec_t spec = {0};
    char what[100], item_what[140];
    items_t it;
    int rc;
    snprintf(what, sizeof(what), "source \"%s\"", ld->p->sources[si].name);
    if ((rc = sy_yaml_read_map(&ld->docs[ld->cur], body, what, source_keys, SY_ARRAY_SIZE(source_keys), &spec,
                               ld->err)) != 0)
        return rc;
    if (spec.rate != NULL && (rc = read_rate(ld, si, spec.rate, what)) != 0)
        return rc;
    if (spec.create != NULL && (rc = read_create(ld, si, spec.create, what)) != 0)
        return rc;
    if (spec.objects != NULL) {
        if ((rc = get_items(ld, spec.objects, 0, &it, what, "objects")) != 0)
            return rc;
        for (size_t i = 0; i != items_count(&it); ++i) {
            snprintf(item_what, sizeof(item_what), "%s: object %zu", what, ld->p->sources[si].num_objects + 1);
            if ((rc = read_object(ld, si, items_at(ld, &it, i), item_what)) != 0)
                return rc;
        }
    }
    if (spec.push_as != NULL && (rc = read_push_as(ld, si, spec.push_as, what)) != 0)
        return rc;
    if (spec.exclude != NULL) {
        if ((rc = get_items(ld, spec.exclude, 0, &it, what, "exclude")) != 0)
            return rc;
        for (size_t i = 0; i != items_count(&it); ++i) {
            snprintf(item_what, sizeof(item_what), "%s: exclude %zu", what, ld->p->sources[si].num_excludes + 1);
            if ((rc = read_exclude(ld, si, items_at(ld, &it, i), item_what)) != 0)
                return rc;
        }
    }
    return 0;
}

int sy_policy_read_sections(loader_t *ld)
{
    top_t *top = &ld->tops[ld->cur];
    int rc;
    if (top->entity != NULL && (rc = read_entity(ld, top->entity)) != 0)
        return rc;
    if (top->identity != NULL && (rc = read_identity(ld, top->identity)) != 0)
        return rc;
    if (top->loop_guard != NULL && (rc = read_loop_guard(ld, top->loop_guard)) != 0)
        return rc;
    if (top->sources != NULL) {
        yaml_node_pair_t *pair = top->sources->data.mapping.pairs.start;
        for (; pair < top->sources->data.mapping.pairs.top; ++pair)
            if ((rc = read_source(ld, sy_yaml_node(&ld->docs[ld->cur], pair->key),
                                  sy_yaml_node(&ld->docs[ld->cur], pair->value))) != 0)
                return rc;
    }
    return 0;
}
/* --- checks on the merged policy ---------------------------------------------------------------------------- */

static int source_maps_field(const sy_policy_source_t *s, size_t field)
{
    for (size_t i = 0; i != s->num_objects; ++i)
        for (size_t j = 0; j != s->objects[i].num_fields; ++j)
            if (s->objects[i].fields[j].field == field)
                return 1;
    return 0;
}

int sy_policy_check_merged(loader_t *ld)
{
    sy_policy_t *p = ld->p;
    char a[300], b[300];
    if (p->num_fields == 0)
        return sy_error_set(ld->err, SY_EINVAL, p->files[0], 0, 0, "no fields are declared");
    if (p->entity == NULL)
        return sy_error_set(ld->err, SY_EINVAL, p->files[0], 0, 0,
                            "no file says which entity it describes (entity: customer)");
    for (size_t i = 0; i != p->num_fields; ++i) {
        const sy_policy_field_t *f = &p->fields[i];
        const field_extra_t *fx = &ld->fx[i];
        for (size_t j = 0; j != f->num_owners; ++j)
            if (!source_maps_field(&p->sources[f->owners[j]], i))
                return sy_error_set(
                    ld->err, SY_EINVAL, fx->owner_pos[j].file, fx->owner_pos[j].line, fx->owner_pos[j].column,
                    "field \"%s\": owner \"%s\" maps it in none of its objects, so it could never set it", f->name,
                    p->sources[f->owners[j]].name);
        for (size_t j = 0; j != f->num_push; ++j)
            if (sy_policy_push_name(p, f->push[j], i) == NULL)
                return sy_error_set(ld->err, SY_EINVAL, fx->push_pos[j].file, fx->push_pos[j].line,
                                    fx->push_pos[j].column,
                                    "field \"%s\": push target \"%s\" has no push_as entry for it", f->name,
                                    p->sources[f->push[j]].name);
    }
    /* A push_as entry is where a source receives a field; it must be a push target and never an owner. */
    for (size_t si = 0; si != p->num_sources; ++si) {
        const sy_policy_source_t *s = &p->sources[si];
        for (size_t j = 0; j != s->num_push_names; ++j) {
            size_t field = s->push_names[j].field, rank;
            const sy_policy_pos_t *pos = &ld->sx[si].push_pos[j];
            const sy_policy_field_t *f = &p->fields[field];
            if (sy_policy_is_owner(p, field, si, &rank))
                return sy_error_set(ld->err, SY_EINVAL, pos->file, pos->line, pos->column,
                                    "field \"%s\": source \"%s\" both owns it (%s) and receives it through push_as "
                                    "(%s); a source never receives a field it owns",
                                    f->name, s->name, where(&ld->fx[field].owner_pos[rank], a, sizeof(a)),
                                    where(pos, b, sizeof(b)));
            size_t k;
            for (k = 0; k != f->num_push && f->push[k] != si; ++k)
                ;
            if (k == f->num_push)
                return sy_error_set(ld->err, SY_EINVAL, pos->file, pos->line, pos->column,
                                    "source \"%s\": push_as maps \"%s\", but the field is not pushed to %s (add "
                                    "%s to its push list at %s)",
                                    s->name, f->name, s->name, s->name, where(&f->pos, a, sizeof(a)));
        }
    }
    return 0;
}
