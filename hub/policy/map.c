#include "map.h"

#include <string.h>

/* Fields owned by source (first owner only: that is who normally speaks), comma-separated into buf. */
static const char *owned_by(const sy_policy_t *p, size_t source, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t fi = 0; fi != p->num_fields; ++fi) {
        const sy_policy_field_t *f = &p->fields[fi];
        for (size_t r = 0; r != f->num_owners; ++r) {
            if (f->owners[r] != source)
                continue;
            int n = snprintf(buf + off, len - off, "%s%s%s", off != 0 ? ", " : "", f->name, r != 0 ? " (fallback)" : "");
            if (n > 0 && (size_t)n < len - off)
                off += (size_t)n;
        }
    }
    return off != 0 ? buf : "-";
}

/* Whether field fi flows from `from` (one of its owners) to `to` (one of its push targets). */
static int flows_through(const sy_policy_t *p, size_t fi, size_t from, size_t to)
{
    const sy_policy_field_t *f = &p->fields[fi];
    int owns = 0, pushes = 0;
    for (size_t r = 0; r != f->num_owners; ++r)
        owns |= f->owners[r] == from;
    for (size_t k = 0; k != f->num_push; ++k)
        pushes |= f->push[k] == to;
    return from != to && owns && pushes;
}

/* Fields that flow from `from` to `to`, comma-separated; NULL when none. */
static const char *flows(const sy_policy_t *p, size_t from, size_t to, char *buf, size_t len)
{
    size_t off = 0;
    for (size_t fi = 0; fi != p->num_fields; ++fi) {
        const sy_policy_field_t *f = &p->fields[fi];
        if (!flows_through(p, fi, from, to))
            continue;
        int n = snprintf(buf + off, len - off, "%s%s", off != 0 ? ", " : "", f->name);
        if (n > 0 && (size_t)n < len - off)
            off += (size_t)n;
    }
    return off != 0 ? buf : NULL;
}

int sy_map_write(const sy_policy_t *p, const char *format, FILE *out)
{
    char owned[1024], flow[1024];
    int mermaid = strcmp(format, "mermaid") == 0;
    if (!mermaid && strcmp(format, "dot") != 0)
        return SY_EINVAL;
    if (mermaid)
        fprintf(out, "%%%% Integration map of policy %s (switchyard map)\nflowchart LR\n  hub((Switchyard<br/>golden %s))\n",
                p->hash, p->entity != NULL ? p->entity : "record");
    else
        fprintf(out, "// Integration map of policy %s (switchyard map)\ndigraph switchyard {\n  rankdir=LR;\n  node [shape=box];\n"
                     "  hub [shape=ellipse, label=\"Switchyard\\ngolden %s\"];\n",
                p->hash, p->entity != NULL ? p->entity : "record");
    for (size_t s = 0; s != p->num_sources; ++s) {
        const char *name = p->sources[s].name;
        if (mermaid)
            fprintf(out, "  %s[\"%s<br/>owns: %s\"]\n", name, name, owned_by(p, s, owned, sizeof(owned)));
        else
            fprintf(out, "  %s [label=\"%s\\nowns: %s\"];\n", name, name, owned_by(p, s, owned, sizeof(owned)));
    }
    /* Owners feed the hub; the hub pushes each field on to its targets. */
    for (size_t from = 0; from != p->num_sources; ++from) {
        for (size_t to = 0; to != p->num_sources; ++to) {
            if (from == to || flows(p, from, to, flow, sizeof(flow)) == NULL)
                continue;
            if (mermaid)
                fprintf(out, "  %s -- \"%s\" --> hub -- \"%s\" --> %s\n", p->sources[from].name, flow, flow,
                        p->sources[to].name);
            else
                fprintf(out, "  %s -> hub [label=\"%s\"];\n  hub -> %s [label=\"%s\"];\n", p->sources[from].name, flow,
                        p->sources[to].name, flow);
        }
    }
    if (!mermaid)
        fputs("}\n", out);
    return 0;
}

json_t *sy_map_json(const sy_policy_t *p)
{
    json_t *tools = json_array(), *list = json_array();
    for (size_t si = 0; si != p->num_sources; ++si) {
        json_t *owns = json_array();
        for (size_t fi = 0; fi != p->num_fields; ++fi)
            if (p->fields[fi].num_owners != 0 && p->fields[fi].owners[0] == si)
                json_array_append_new(owns, json_string(p->fields[fi].name));
        json_array_append_new(tools, json_pack("{s:s, s:o}", "name", p->sources[si].name, "owns", owns));
    }
    for (size_t from = 0; from != p->num_sources; ++from) {
        for (size_t to = 0; to != p->num_sources; ++to) {
            json_t *fields = json_array();
            for (size_t fi = 0; fi != p->num_fields; ++fi)
                if (flows_through(p, fi, from, to))
                    json_array_append_new(fields, json_string(p->fields[fi].name));
            if (json_array_size(fields) != 0)
                json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "from", p->sources[from].name, "to",
                                                      p->sources[to].name, "fields", fields));
            else
                json_decref(fields);
        }
    }
    return json_pack("{s:s, s:o, s:o}", "policy", p->hash, "tools", tools, "flows", list);
}
