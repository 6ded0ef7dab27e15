/*
 * A loaded policy: lookups used by the applier, exclusion rules, the summary and destroy. Loading and the static
 * checks live in policy_load.c, normalisers in normalize.c. Nothing here writes to the policy, so one loaded
 * policy is shared read-only between threads.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy.h"

static void path_dispose(sy_policy_path_t *path)
{
    for (size_t i = 0; i != path->num_segments; ++i)
        free(path->segments[i]);
    free(path->segments);
    free(path->text);
}

static void free_strings(char **list, size_t n)
{
    for (size_t i = 0; i != n; ++i)
        free(list[i]);
    free(list);
}

static void object_dispose(sy_policy_object_t *o)
{
    free_strings(o->events, o->num_events);
    free_strings(o->delete_events, o->num_delete_events);
    path_dispose(&o->id);
    free(o->id_prefix);
    for (size_t i = 0; i != o->num_fields; ++i)
        path_dispose(&o->fields[i].path);
    free(o->fields);
    for (size_t i = 0; i != o->num_links; ++i)
        path_dispose(&o->links[i].path);
    free(o->links);
}

void sy_policy_destroy(sy_policy_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i != p->num_fields; ++i)
        free(p->fields[i].name);
    free(p->fields);
    for (size_t i = 0; i != p->num_sources; ++i) {
        sy_policy_source_t *s = &p->sources[i];
        free(s->name);
        for (size_t j = 0; j != s->num_objects; ++j)
            object_dispose(&s->objects[j]);
        free(s->objects);
        for (size_t j = 0; j != s->num_push_names; ++j)
            free(s->push_names[j].name);
        free(s->push_names);
        for (size_t j = 0; j != s->num_excludes; ++j) {
            free(s->excludes[j].id);
            free(s->excludes[j].equals);
            free(s->excludes[j].matches);
        }
        free(s->excludes);
    }
    free(p->sources);
    free(p->entity);
    free_strings(p->files, p->num_files);
    free(p);
}

size_t sy_policy_field_index(const sy_policy_t *p, const char *name)
{
    for (size_t i = 0; name != NULL && i != p->num_fields; ++i)
        if (strcmp(p->fields[i].name, name) == 0)
            return i;
    return SY_POLICY_NONE;
}

size_t sy_policy_source_index(const sy_policy_t *p, const char *name)
{
    for (size_t i = 0; name != NULL && i != p->num_sources; ++i)
        if (strcmp(p->sources[i].name, name) == 0)
            return i;
    return SY_POLICY_NONE;
}

int sy_policy_is_owner(const sy_policy_t *p, size_t field, size_t source, size_t *rank)
{
    if (field >= p->num_fields)
        return 0;
    const sy_policy_field_t *f = &p->fields[field];
    for (size_t i = 0; i != f->num_owners; ++i) {
        if (f->owners[i] == source) {
            if (rank != NULL)
                *rank = i;
            return 1;
        }
    }
    return 0;
}

size_t sy_policy_objects_for(const sy_policy_t *p, size_t source, const char *type, const sy_policy_object_t **out,
                             size_t max)
{
    size_t n = 0;
    if (source >= p->num_sources || type == NULL)
        return 0;
    const sy_policy_source_t *s = &p->sources[source];
    for (size_t i = 0; i != s->num_objects && n != max; ++i) {
        for (size_t j = 0; j != s->objects[i].num_events; ++j) {
            if (fnmatch(s->objects[i].events[j], type, 0) == 0) {
                out[n++] = &s->objects[i];
                break;
            }
        }
    }
    return n;
}

int sy_policy_is_delete_event(const sy_policy_object_t *obj, const char *type)
{
    for (size_t i = 0; type != NULL && i != obj->num_delete_events; ++i)
        if (fnmatch(obj->delete_events[i], type, 0) == 0)
            return 1;
    return 0;
}

const char *sy_policy_push_name(const sy_policy_t *p, size_t source, size_t field)
{
    if (source >= p->num_sources)
        return NULL;
    const sy_policy_source_t *s = &p->sources[source];
    for (size_t i = 0; i != s->num_push_names; ++i)
        if (s->push_names[i].field == field)
            return s->push_names[i].name;
    return NULL;
}

int sy_policy_excluded(const sy_policy_t *p, size_t source, const char *external_id, const char *const *values)
{
    if (source >= p->num_sources)
        return 0;
    const sy_policy_source_t *s = &p->sources[source];
    for (size_t i = 0; i != s->num_excludes; ++i) {
        const sy_policy_exclude_t *e = &s->excludes[i];
        if (e->id != NULL) {
            if (external_id != NULL && strcmp(e->id, external_id) == 0)
                return 1;
            continue;
        }
        const char *v = values != NULL && e->field < p->num_fields ? values[e->field] : NULL;
        if (v == NULL)
            continue;
        /* Both sides are normalised already (equals at load time); case never tells a test record apart. */
        if (e->equals != NULL && strcasecmp(v, e->equals) == 0)
            return 1;
        if (e->matches != NULL && fnmatch(e->matches, v, FNM_CASEFOLD) == 0)
            return 1;
    }
    return 0;
}

/* --- summary ---------------------------------------------------------------------------------------------------- */

static const char *duration_text(int64_t ms, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    for (size_t i = 0; i != SY_ARRAY_SIZE(units); ++i) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, len, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return buf;
        }
    }
    snprintf(buf, len, "%lldms", (long long)ms);
    return buf;
}

/* Source names of a list joined by ','; "-" for none. */
static const char *source_list(const sy_policy_t *p, const size_t *idx, size_t n, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i != n && o < len; ++i)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i != 0 ? "," : "", p->sources[idx[i]].name);
    return n != 0 ? buf : "-";
}

void sy_policy_summary(const sy_policy_t *p, FILE *out)
{
    char owners[SY_POLICY_MAX_SOURCES * 66], push[SY_POLICY_MAX_SOURCES * 66], dur[32];
    int width = 5;
    for (size_t i = 0; i != p->num_fields; ++i)
        if ((int)strlen(p->fields[i].name) > width)
            width = (int)strlen(p->fields[i].name);

    fprintf(out, "entity %s, files:", p->entity);
    for (size_t i = 0; i != p->num_files; ++i)
        fprintf(out, " %s", p->files[i]);
    fprintf(out, "\nfields:\n");
    for (size_t i = 0; i != p->num_fields; ++i) {
        const sy_policy_field_t *f = &p->fields[i];
        static const char *const conflicts[] = {"ignore", "revert", "alert"};
        fprintf(out, "  %-*s  owner %-16s push %-16s on_conflict %-6s normalize ", width, f->name,
                source_list(p, f->owners, f->num_owners, owners, sizeof(owners)),
                source_list(p, f->push, f->num_push, push, sizeof(push)), conflicts[f->on_conflict]);
        for (size_t j = 0; j != f->num_normalize; ++j)
            fprintf(out, "%s%s", j != 0 ? "," : "", sy_normalizer_name(f->normalize[j]));
        fprintf(out, "%s%s\n", f->num_normalize == 0 ? "-" : "", f->required ? "  (required)" : "");
    }
    fprintf(out, "identity: strong");
    for (size_t i = 0; i != p->num_strong_keys; ++i)
        fprintf(out, " %s", p->fields[p->strong_keys[i]].name);
    fprintf(out, "%s; weak", p->num_strong_keys == 0 ? " -" : "");
    for (size_t i = 0; i != p->num_weak_keys; ++i)
        fprintf(out, " %s", p->fields[p->weak_keys[i]].name);
    fprintf(out, "%s; loop guard: %u reverts per %s\n", p->num_weak_keys == 0 ? " -" : "", p->revert_budget,
            duration_text(p->revert_window_ms, dur, sizeof(dur)));
    fprintf(out, "sources:\n");
    for (size_t i = 0; i != p->num_sources; ++i) {
        const sy_policy_source_t *s = &p->sources[i];
        fprintf(out, "  %s: %zu object%s, %zu exclude%s, rate ", s->name, s->num_objects,
                s->num_objects == 1 ? "" : "s", s->num_excludes, s->num_excludes == 1 ? "" : "s");
        if (s->rate_count != 0)
            fprintf(out, "%u/%s", s->rate_count, duration_text(s->rate_window_ms, dur, sizeof(dur)));
        else
            fprintf(out, "connector default");
        fprintf(out, ", create %s\n", s->create == SY_CREATE_NEVER ? "never" : "if_missing");
        fprintf(out, "    events ");
        for (size_t j = 0, n = 0; j != s->num_objects; ++j)
            for (size_t k = 0; k != s->objects[j].num_events; ++k)
                fprintf(out, "%s%s", n++ != 0 ? " " : "", s->objects[j].events[k]);
        fprintf(out, "%s\n    links ", s->num_objects == 0 ? "- (push only)" : "");
        size_t links = 0;
        for (size_t j = 0; j != s->num_objects; ++j)
            for (size_t k = 0; k != s->objects[j].num_links; ++k)
                fprintf(out, "%s%s=%s", links++ != 0 ? " " : "", p->sources[s->objects[j].links[k].source].name,
                        s->objects[j].links[k].path.text);
        fprintf(out, "%s\n    push_as ", links == 0 ? "-" : "");
        for (size_t j = 0; j != s->num_push_names; ++j)
            fprintf(out, "%s%s=%s", j != 0 ? " " : "", p->fields[s->push_names[j].field].name, s->push_names[j].name);
        fprintf(out, "%s\n", s->num_push_names == 0 ? "-" : "");
    }
}
