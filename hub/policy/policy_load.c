/*
 * Policy loading: reads one file or a directory of YAML files and merges them; policies/README.md is the
 * reference of the language.
 *
 * Two passes over the documents, which all stay loaded until the end:
 *  1. names (here): every field and every source of every file, so that a reference to either can be resolved
 *     (and a wrong one reported at its own node) no matter which file declares it;
 *  2. bodies (policy_check.c): fields first (their normalisers are needed by exclude rules), then each file's
 *     other sections, each checked as it is read.
 * Checks that need the whole merged policy (a push target's push_as, an owner's objects) run last, from positions
 * remembered in side tables while parsing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "crypto.h"
#include "policy_internal.h"

/* Caps that keep a mistake (a policy dir pointed at the wrong place) from turning into a resource problem. */
#define MAX_FILES 64
#define MAX_FILE_BYTES (1u << 20)
#define DEFAULT_REVERT_BUDGET 3
#define DEFAULT_REVERT_WINDOW_MS (3600 * 1000)

int sy_policy_fail(loader_t *ld, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[sizeof(((sy_error_t *)NULL)->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sy_yaml_fail(&ld->docs[ld->cur], node, ld->err, "%s", msg);
}

/* --- pass 1: names ------------------------------------------------------------------------------------------ */

static const sy_yaml_key_t top_keys[] = {
    {"entity", keep_node, offsetof(top_t, entity)},     {"fields", keep_node, offsetof(top_t, fields)},
    {"identity", keep_node, offsetof(top_t, identity)}, {"loop_guard", keep_node, offsetof(top_t, loop_guard)},
    {"sources", keep_node, offsetof(top_t, sources)},
};

static int declare_fields(loader_t *ld, yaml_node_t *map)
{
    sy_policy_t *p = ld->p;
    char other[300];
    if (map->type != YAML_MAPPING_NODE)
        return sy_policy_fail(ld, map, "fields: expected a mapping of field names to their rules");
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; ++pair) {
        yaml_node_t *k = sy_yaml_node(&ld->docs[ld->cur], pair->key);
        const char *name = scalar(k);
        if (name == NULL || !valid_name(name, 1))
            return sy_policy_fail(ld, k, "fields: names use letters, digits, '_' and '-' (at most %d)", MAX_NAME_LEN);
        size_t dup = sy_policy_field_index(p, name);
        if (dup != SY_POLICY_NONE)
            return sy_policy_fail(ld, k, "field \"%s\" is declared twice: at %s and here", name,
                                  where(&p->fields[dup].pos, other, sizeof(other)));
        if (p->num_fields == ld->fields_cap) {
            ld->fields_cap = ld->fields_cap != 0 ? ld->fields_cap * 2 : 16;
            p->fields = xrealloc(p->fields, ld->fields_cap * sizeof(*p->fields));
            ld->fx = xrealloc(ld->fx, ld->fields_cap * sizeof(*ld->fx));
        }
        sy_policy_field_t *f = &p->fields[p->num_fields];
        memset(f, 0, sizeof(*f));
        memset(&ld->fx[p->num_fields], 0, sizeof(ld->fx[0]));
        f->name = xstrdup(name);
        f->pos = pos_of(ld, k);
        ld->fx[p->num_fields].file = ld->cur;
        ld->fx[p->num_fields].body = sy_yaml_node(&ld->docs[ld->cur], pair->value);
        ++p->num_fields;
    }
    return 0;
}

static int declare_sources(loader_t *ld, yaml_node_t *map)
{
    sy_policy_t *p = ld->p;
    if (map->type != YAML_MAPPING_NODE)
        return sy_policy_fail(ld, map, "sources: expected a mapping of source names to their rules");
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; ++pair) {
        yaml_node_t *k = sy_yaml_node(&ld->docs[ld->cur], pair->key);
        const char *name = scalar(k);
        if (name == NULL || !valid_name(name, 0))
            return sy_policy_fail(ld, k, "sources: names use a-z, 0-9, '_' and '-' (at most %d)", MAX_NAME_LEN);
        size_t i = sy_policy_source_index(p, name);
        if (i != SY_POLICY_NONE) {
            /* The same source in several files merges; twice in one file is a slip. */
            if (ld->sx[i].last_file == ld->cur)
                return sy_policy_fail(ld, k, "source \"%s\" is given twice in this file", name);
            ld->sx[i].last_file = ld->cur;
            continue;
        }
        if (p->num_sources == SY_POLICY_MAX_SOURCES)
            return sy_policy_fail(ld, k, "sources: at most %d sources", SY_POLICY_MAX_SOURCES);
        sy_policy_source_t *s = &p->sources[p->num_sources];
        s->name = xstrdup(name);
        s->pos = pos_of(ld, k);
        ld->sx[p->num_sources].last_file = ld->cur;
        ++p->num_sources;
    }
    return 0;
}

static int read_names(loader_t *ld)
{
    int rc;
    top_t *top = &ld->tops[ld->cur];
    yaml_node_t *root = sy_yaml_root(&ld->docs[ld->cur]);
    if (root == NULL)
        return sy_policy_fail(ld, NULL, "the file is empty (expected entity, fields, identity, loop_guard or sources)");
    if ((rc = sy_yaml_read_map(&ld->docs[ld->cur], root, "policy", top_keys, SY_ARRAY_SIZE(top_keys), top, ld->err)) !=
        0)
        return rc;
    if (top->fields != NULL && (rc = declare_fields(ld, top->fields)) != 0)
        return rc;
    if (top->sources != NULL && (rc = declare_sources(ld, top->sources)) != 0)
        return rc;
    return 0;
}
/* --- files ----------------------------------------------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_policy_suffix(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* The files to load, sorted: path itself, or the *.yaml / *.yml in it (dot files skipped: editor droppings). */
static int list_files(sy_policy_t *p, const char *path, sy_error_t *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return sy_error_set(err, SY_EIO, path, 0, 0, "cannot read: %s", strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        p->files = xcalloc(1, sizeof(char *));
        p->files[p->num_files++] = xstrdup(path);
        return 0;
    }
    DIR *dir = opendir(path);
    if (dir == NULL)
        return sy_error_set(err, SY_EIO, path, 0, 0, "cannot read: %s", strerror(errno));
    size_t dirlen = strlen(path);
    while (dirlen > 1 && path[dirlen - 1] == '/')
        --dirlen;
    int rc = 0;
    struct dirent *de;
    p->files = xcalloc(MAX_FILES, sizeof(char *));
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.' || !has_policy_suffix(de->d_name))
            continue;
        if (p->num_files == MAX_FILES) {
            rc = sy_error_set(err, SY_ETOOBIG, path, 0, 0, "more than %d policy files", MAX_FILES);
            goto Exit;
        }
        size_t len = dirlen + 1 + strlen(de->d_name) + 1;
        char *full = xcalloc(len, 1);
        snprintf(full, len, "%.*s/%s", (int)dirlen, path, de->d_name);
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(full);
            continue;
        }
        p->files[p->num_files++] = full;
    }
    if (p->num_files == 0) {
        rc = sy_error_set(err, SY_EINVAL, path, 0, 0, "no *.yaml or *.yml policy files in this directory");
        goto Exit;
    }
    qsort(p->files, p->num_files, sizeof(char *), by_name);
Exit:
    closedir(dir);
    return rc;
}

static int read_whole_file(const char *path, char **out, size_t *len, sy_error_t *err)
{
    struct stat st;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return sy_error_set(err, SY_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    if (fstat(fileno(fp), &st) != 0 || st.st_size > MAX_FILE_BYTES) {
        fclose(fp);
        return sy_error_set(err, SY_ETOOBIG, path, 0, 0, "larger than 1 MiB");
    }
    /* One byte more than the size: a file that grew since fstat is caught rather than cut. */
    size_t size = (size_t)st.st_size;
    char *buf = xcalloc(size + 2, 1);
    size_t n = fread(buf, 1, size + 1, fp);
    int failed = ferror(fp) || n != size;
    fclose(fp);
    if (failed) {
        free(buf);
        return sy_error_set(err, SY_EIO, path, 0, 0, "read error (was the file changing?)");
    }
    *out = buf;
    *len = n;
    return 0;
}

/* First SY_POLICY_HASH_LEN hex chars of SHA-256 over each file's base name, a NUL and its bytes, in order. */
static int compute_hash(loader_t *ld)
{
    sy_policy_t *p = ld->p;
    sy_slice_t *parts = xcalloc(3 * p->num_files, sizeof(*parts));
    unsigned char digest[SY_SHA256_LEN];
    char hex[2 * SY_SHA256_LEN + 1];
    for (size_t i = 0; i != p->num_files; ++i) {
        const char *base = strrchr(p->files[i], '/');
        parts[3 * i] = sy_slice_cstr(base != NULL ? base + 1 : p->files[i]);
        parts[3 * i + 1] = (sy_slice_t){"", 1};
        parts[3 * i + 2] = (sy_slice_t){ld->bytes[i], ld->lens[i]};
    }
    int rc = sy_sha256(parts, 3 * p->num_files, digest);
    free(parts);
    if (rc != 0)
        return rc;
    sy_hex_encode(digest, sizeof(digest), hex);
    memcpy(p->hash, hex, SY_POLICY_HASH_LEN);
    p->hash[SY_POLICY_HASH_LEN] = '\0';
    return 0;
}

int sy_policy_load(sy_policy_t **out, const char *path, sy_error_t *err)
{
    loader_t ld = {.err = err};
    sy_policy_t *p = xcalloc(1, sizeof(*p));
    int rc;

    *out = NULL;
    ld.p = p;
    p->sources = xcalloc(SY_POLICY_MAX_SOURCES, sizeof(*p->sources));
    p->revert_budget = DEFAULT_REVERT_BUDGET;
    p->revert_window_ms = DEFAULT_REVERT_WINDOW_MS;
    if ((rc = list_files(p, path, err)) != 0)
        goto Exit;
    ld.docs = xcalloc(p->num_files, sizeof(*ld.docs));
    ld.tops = xcalloc(p->num_files, sizeof(*ld.tops));
    ld.bytes = xcalloc(p->num_files, sizeof(*ld.bytes));
    ld.lens = xcalloc(p->num_files, sizeof(*ld.lens));
    for (ld.cur = 0; ld.cur != p->num_files; ++ld.cur) {
        if ((rc = read_whole_file(p->files[ld.cur], &ld.bytes[ld.cur], &ld.lens[ld.cur], err)) != 0)
            goto Exit;
        if ((rc = sy_yaml_load_string(&ld.docs[ld.cur], p->files[ld.cur], ld.bytes[ld.cur], ld.lens[ld.cur], err)) != 0)
            goto Exit;
        if ((rc = read_names(&ld)) != 0)
            goto Exit;
    }
    for (size_t i = 0; i != p->num_fields; ++i)
        if ((rc = sy_policy_read_field(&ld, i)) != 0)
            goto Exit;
    for (ld.cur = 0; ld.cur != p->num_files; ++ld.cur)
        if ((rc = sy_policy_read_sections(&ld)) != 0)
            goto Exit;
    if ((rc = sy_policy_check_merged(&ld)) != 0)
        goto Exit;
    if ((rc = compute_hash(&ld)) != 0)
        goto Exit;
    *out = p;
    p = NULL;
Exit:
    for (size_t i = 0; ld.docs != NULL && i != ld.p->num_files; ++i) {
        sy_yaml_dispose(&ld.docs[i]);
        free(ld.bytes[i]);
    }
    for (size_t i = 0; i != SY_POLICY_MAX_SOURCES; ++i)
        free(ld.sx[i].push_pos);
    free(ld.docs);
    free(ld.tops);
    free(ld.bytes);
    free(ld.lens);
    free(ld.fx);
    sy_policy_destroy(p);
    return rc;
}
