/*
 * The YAML loaders: the field-ownership policy (hub/policy/policy_load.c, hub/policy/policy_check.c, hub/base/yamldoc.c) and the hub
 * config (hub/daemon/config.c), which both read files people write, and `POST /admin/api/policy/check` bodies.
 *
 * Input: YAML. Written to policy.yaml in a private temp dir and loaded as admin_api.c's policy check does; when it
 * holds a line "#--8<--" it is cut there into two files (a.yaml, b.yaml) and the directory is loaded, which merges
 * them. A policy that loads is also summarised and drawn as the integration map. The same bytes are then loaded as a
 * hub config with sy_config_load_text.
 */
#include <fcntl.h>

#include "config.h"
#include "fuzz_common.h"
#include "map.h"

#define POLICY_CUT "\n#--8<--\n"

static char policy_dir[512];
static FILE *policy_null;

static int policy_init(const char *root)
{
    if ((policy_null = fopen("/dev/null", "w")) == NULL)
        return SY_EIO;
    return sy_fuzz_tempdir(policy_dir, sizeof(policy_dir), "policy");
}

static void policy_fini(void)
{
    if (policy_null != NULL)
        fclose(policy_null);
    policy_null = NULL;
    if (policy_dir[0] != '\0')
        sy_fuzz_rmdir(policy_dir);
    policy_dir[0] = '\0';
}

static void policy_write(const char *name, const char *data, size_t len)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", policy_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    SY_FUZZ_CHECK(fd >= 0);
    SY_FUZZ_CHECK(len == 0 || write(fd, data, len) == (ssize_t)len);
    close(fd);
}

static void policy_check_loaded(const sy_policy_t *p)
{
    SY_FUZZ_CHECK(strlen(p->hash) == SY_POLICY_HASH_LEN && p->num_files >= 1);
    SY_FUZZ_CHECK(p->num_sources <= SY_POLICY_MAX_SOURCES);
    for (size_t f = 0; f != p->num_fields; ++f) {
        const sy_policy_field_t *field = &p->fields[f];
        SY_FUZZ_CHECK(sy_policy_field_index(p, field->name) == f);
        SY_FUZZ_CHECK(field->num_owners <= SY_POLICY_MAX_SOURCES && field->num_push <= SY_POLICY_MAX_SOURCES);
        SY_FUZZ_CHECK(field->num_normalize <= SY_POLICY_MAX_NORMALIZERS);
        for (size_t i = 0; i != field->num_owners; ++i)
            SY_FUZZ_CHECK(field->owners[i] < p->num_sources);
        for (size_t i = 0; i != field->num_push; ++i)
            SY_FUZZ_CHECK(field->push[i] < p->num_sources);
        free(sy_normalize(field->normalize, field->num_normalize, " Fuzz  Value, Inc. "));
    }
    for (size_t s = 0; s != p->num_sources; ++s) {
        const sy_policy_source_t *src = &p->sources[s];
        SY_FUZZ_CHECK(sy_policy_source_index(p, src->name) == s);
        for (size_t o = 0; o != src->num_objects; ++o) {
            const sy_policy_object_t *obj = &src->objects[o];
            for (size_t i = 0; i != obj->num_fields; ++i)
                SY_FUZZ_CHECK(obj->fields[i].field < p->num_fields);
            for (size_t i = 0; i != obj->num_links; ++i)
                SY_FUZZ_CHECK(obj->links[i].source < p->num_sources);
            for (size_t i = 0; i != obj->num_events; ++i) {
                const sy_policy_object_t *found[8];
                SY_FUZZ_CHECK(sy_policy_objects_for(p, s, obj->events[i], found, SY_ARRAY_SIZE(found)) >= 1 ||
                              strpbrk(obj->events[i], "*?[\\") != NULL);
            }
        }
        for (size_t i = 0; i != src->num_push_names; ++i)
            SY_FUZZ_CHECK(src->push_names[i].field < p->num_fields);
        const char **values = calloc(p->num_fields + 1, sizeof(*values));
        SY_FUZZ_CHECK(values != NULL);
        for (size_t f = 0; f != p->num_fields; ++f)
            values[f] = "test customer";
        sy_policy_excluded(p, s, "crm_test", values);
        free(values);
    }
    sy_policy_summary(p, policy_null);
    SY_FUZZ_CHECK(sy_map_write(p, "mermaid", policy_null) == 0);
    SY_FUZZ_CHECK(sy_map_write(p, "dot", policy_null) == 0);
    json_t *map = sy_map_json(p);
    SY_FUZZ_CHECK(map != NULL);
    json_decref(map);
}

static void policy_one(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *cut = size != 0 ? memmem(text, size, POLICY_CUT, sizeof(POLICY_CUT) - 1) : NULL;
    char path[700];
    sy_error_t err = {0};
    sy_policy_t *p = NULL;
    if (cut == NULL) {
        policy_write("policy.yaml", text, size);
        snprintf(path, sizeof(path), "%s/policy.yaml", policy_dir);
    } else {
        size_t first = (size_t)(cut - text) + 1;
        policy_write("a.yaml", text, first);
        policy_write("b.yaml", text + first + sizeof(POLICY_CUT) - 2, size - first - (sizeof(POLICY_CUT) - 2));
        snprintf(path, sizeof(path), "%s", policy_dir);
    }
    int rc = sy_policy_load(&p, path, &err);
    if (rc == 0) {
        policy_check_loaded(p);
        sy_policy_destroy(p);
    } else {
        SY_FUZZ_CHECK(rc < 0 && p == NULL && err.msg[0] != '\0' && memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        char msg[1200];
        sy_error_format(&err, msg, sizeof(msg));
    }
    if (cut == NULL) {
        snprintf(path, sizeof(path), "%s/policy.yaml", policy_dir);
        unlink(path);
    } else {
        snprintf(path, sizeof(path), "%s/a.yaml", policy_dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/b.yaml", policy_dir);
        unlink(path);
    }

    sy_config_t conf;
    memset(&err, 0, sizeof(err));
    rc = sy_config_load_text(&conf, "fuzz.yaml", text, size, NULL, NULL, &err);
    if (rc == 0) {
        SY_FUZZ_CHECK(conf.max_body != 0 && conf.max_batch_events != 0);
        for (size_t i = 0; i != conf.num_sources; ++i) {
            const sy_source_conf_t *src = &conf.sources[i];
            SY_FUZZ_CHECK(src->connector != NULL && src->verify.num_secrets <= SY_MAX_SECRETS);
            SY_FUZZ_CHECK(sy_config_find_source(&conf, src->name, strlen(src->name)) == src);
        }
    } else {
        SY_FUZZ_CHECK(rc < 0 && err.msg[0] != '\0');
    }
    sy_config_dispose(&conf);
}

SY_FUZZ_MAIN(policy)
