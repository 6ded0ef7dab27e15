#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yamldoc.h"
#include "cluster_config.h"

/* Limits that keep a typo from turning into a resource problem. */
#define MIN_MAP_SIZE (1ull << 20)
#define MAX_THREADS 64
#define MAX_SECRET_FILE 4096

typedef struct st_secret_spec_t {
    char *env;
    char *file;
    char *value;
    char *demo_default;
} secret_spec_t;

static void secret_spec_dispose(secret_spec_t *s)
{
    free(s->env);
    free(s->file);
    free(s->value);
    free(s->demo_default);
    memset(s, 0, sizeof(*s));
}

static const sy_yaml_key_t secret_keys[] = {
    {"env", sy_yaml_read_string, offsetof(secret_spec_t, env)},
    {"file", sy_yaml_read_string, offsetof(secret_spec_t, file)},
    {"value", sy_yaml_read_string, offsetof(secret_spec_t, value)},
    {"demo_default", sy_yaml_read_string, offsetof(secret_spec_t, demo_default)},
};

/*
 * Relative paths in a configuration file (data_dir, policy, secret files, TLS files) are read from the file's
 * directory, not the current one: `switchyard ... --config /etc/switchyard/hub.yaml` works from anywhere. Set by
 * load() for the time of one load; the parse runs on the loading thread only.
 */
static _Thread_local const char *load_base;

/* path joined to load_base when relative, with leading "./" and "../" folded into it; malloc'd (NULL: no memory). */
static char *resolve_path(const char *path)
{
    const char *base = load_base;
    if (path[0] == '/' || base == NULL || strcmp(base, ".") == 0 || base[0] == '\0')
        return strdup(path);
    size_t blen = strlen(base);
    for (;;) {
        if (strncmp(path, "./", 2) == 0) {
            path += 2;
        } else if (strncmp(path, "../", 3) == 0 && blen != 0 && !(blen >= 2 && strncmp(base + blen - 2, "..", 2) == 0 &&
                                                                   (blen == 2 || base[blen - 3] == '/'))) {
            const char *slash = memrchr(base, '/', blen); /* drop base's last component */
            blen = slash != NULL ? (size_t)(slash - base) : 0;
            path += 3;
        } else {
            break;
        }
    }
    if (path[0] == '\0')
        path = ".";
    if (blen == 0)
        return strdup(path);
    char *out = malloc(blen + 1 + strlen(path) + 1);
    if (out != NULL)
        sprintf(out, "%.*s/%s", (int)blen, base, path);
    return out;
}

static int resolve_in_place(char **path)
{
    if (*path == NULL)
        return 0;
    char *r = resolve_path(*path);
    if (r == NULL)
        return SY_ENOMEM;
    free(*path);
    *path = r;
    return 0;
}

static int read_secret_file(const char *path, char **out)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return SY_EIO;
    char buf[MAX_SECRET_FILE + 1];
    size_t n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    if (n > MAX_SECRET_FILE)
        return SY_ETOOBIG;
    /* Files written by `echo` end with a newline that is not part of the secret. */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        --n;
    if ((*out = strndup(buf, n)) == NULL)
        return SY_ENOMEM;
    return 0;
}

/*
 * Resolves one secret node ({env: NAME, demo_default: x} | {file: PATH} | {value: x}) into a malloc'd string.
 * When the demo default had to be used, *demo_env names the unset variable (malloc'd, first one only). An unset env var with no default is an error:
 * a hub that silently accepts nothing would look healthy while dropping every webhook.
 */
static int resolve_secret(sy_yaml_t *y, yaml_node_t *node, const char *what, char **out, char **demo_env, sy_error_t *err)
{
    secret_spec_t spec = {0};
    int rc;
    *out = NULL;
    if ((rc = sy_yaml_read_map(y, node, what, secret_keys, SY_ARRAY_SIZE(secret_keys), &spec, err)) != 0)
        goto Exit;
    int kinds = (spec.env != NULL) + (spec.file != NULL) + (spec.value != NULL);
    if (kinds != 1) {
        rc = sy_yaml_fail(y, node, err, "%s: give exactly one of env, file or value", what);
        goto Exit;
    }
    if (spec.env != NULL) {
        const char *v = getenv(spec.env);
        if (v != NULL && *v != '\0') {
            *out = strdup(v);
        } else if (spec.demo_default != NULL) {
            *out = strdup(spec.demo_default);
            if (*demo_env == NULL)
                *demo_env = strdup(spec.env);
        } else {
            rc = sy_yaml_fail(y, node, err, "%s: environment variable %s is not set", what, spec.env);
            goto Exit;
        }
    } else if (spec.file != NULL) {
        if ((rc = resolve_in_place(&spec.file)) != 0)
            goto Exit;
        if ((rc = read_secret_file(spec.file, out)) != 0) {
            rc = sy_yaml_fail(y, node, err, "%s: cannot read secret file %s: %s", what, spec.file,
                              rc == SY_ETOOBIG ? "larger than 4 KiB" : strerror(errno));
            goto Exit;
        }
    } else {
        *out = strdup(spec.value);
    }
    if (*out == NULL) {
        rc = SY_ENOMEM;
        goto Exit;
    }
    if (**out == '\0') {
        rc = sy_yaml_fail(y, node, err, "%s: the secret is empty", what);
        goto Exit;
    }
    rc = 0;
Exit:
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    secret_spec_dispose(&spec);
    return rc;
}

/* --- sources ----------------------------------------------------------------------------------------- */

/* A connector's own key of a source (connector->options[i]): its text and where it was written. */
typedef struct st_option_spec_t {
    char *text;
    yaml_node_t *node;
} option_spec_t;

typedef struct st_source_spec_t {
    char *connector;
    int64_t tolerance_ms;
    char *public_url;
    option_spec_t options[SY_MAX_OPTIONS];
    yaml_node_t *secrets;
    yaml_node_t *api;
    yaml_node_t *reconcile;
} source_spec_t;

typedef struct st_api_spec_t {
    char *base_url;
    yaml_node_t *token;
    unsigned concurrency;
    int64_t timeout_ms;
    char *rate;
    unsigned max_attempts;
    int64_t max_age_ms;
} api_spec_t;

static int keep_node(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    *(yaml_node_t **)field = n;
    return 0;
}

static const sy_yaml_key_t source_keys[] = {
    {"connector", sy_yaml_read_string, offsetof(source_spec_t, connector)},
    {"tolerance", sy_yaml_read_duration, offsetof(source_spec_t, tolerance_ms)},
    {"public_url", sy_yaml_read_string, offsetof(source_spec_t, public_url)},
    {"secrets", keep_node, offsetof(source_spec_t, secrets)},
    {"api", keep_node, offsetof(source_spec_t, api)},
    {"reconcile", keep_node, offsetof(source_spec_t, reconcile)},
};

typedef struct st_reconcile_spec_t {
    int64_t every_ms;
    int64_t after_outage_ms;
} reconcile_spec_t;

static const sy_yaml_key_t reconcile_keys[] = {
    {"every", sy_yaml_read_duration, offsetof(reconcile_spec_t, every_ms)},
    {"after_outage", sy_yaml_read_duration, offsetof(reconcile_spec_t, after_outage_ms)},
};

/* sources.NAME.reconcile: {every: 1h, after_outage: 15m}: when serve heals gaps from the tool's API (needs its api
 * section and a connector that lists past events). */
static int read_reconcile(sy_yaml_t *y, yaml_node_t *n, sy_source_conf_t *src, const char *what, sy_error_t *err)
{
    reconcile_spec_t spec = {.after_outage_ms = -1};
    int rc = sy_yaml_read_map(y, n, what, reconcile_keys, SY_ARRAY_SIZE(reconcile_keys), &spec, err);
    if (rc != 0)
        return rc;
    if (spec.every_ms != 0 && spec.every_ms < 60000)
        return sy_yaml_fail(y, n, err, "%s: reconcile.every must be at least 1m", what);
    if (src->connector->encode_changes == NULL)
        return sy_yaml_fail(y, n, err, "%s: the %s connector cannot list past events to reconcile from", what,
                            src->connector->name);
    if (src->api_base_url == NULL)
        return sy_yaml_fail(y, n, err, "%s: reconcile needs the source's api (base_url, token)", what);
    src->reconcile_every_ms = spec.every_ms;
    if (spec.after_outage_ms >= 0)
        src->reconcile_after_outage_ms = spec.after_outage_ms;
    return 0;
}

static int read_option(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    option_spec_t *o = field;
    o->node = n;
    return sy_yaml_read_string(y, n, &o->text, err);
}

/* The keys of a source: the common ones, then those of its connector (connector->options). */
static size_t source_key_table(const sy_connector_t *c, sy_yaml_key_t *keys, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i != SY_ARRAY_SIZE(source_keys) && n != cap; ++i)
        keys[n++] = source_keys[i];
    for (size_t i = 0; c != NULL && i != c->num_options && i != SY_MAX_OPTIONS && n != cap; ++i)
        keys[n++] = (sy_yaml_key_t){c->options[i].key, read_option,
                                    offsetof(source_spec_t, options) + i * sizeof(option_spec_t)};
    return n;
}

static const sy_yaml_key_t api_keys[] = {
    {"base_url", sy_yaml_read_string, offsetof(api_spec_t, base_url)},
    {"token", keep_node, offsetof(api_spec_t, token)},
    {"concurrency", sy_yaml_read_uint, offsetof(api_spec_t, concurrency)},
    {"timeout", sy_yaml_read_duration, offsetof(api_spec_t, timeout_ms)},
    {"rate", sy_yaml_read_string, offsetof(api_spec_t, rate)},
    {"max_attempts", sy_yaml_read_uint, offsetof(api_spec_t, max_attempts)},
    {"max_age", sy_yaml_read_duration, offsetof(api_spec_t, max_age_ms)},
};

/* "N/DURATION", e.g. 100/10s. */
static int parse_rate(const char *s, unsigned *count, int64_t *window_ms)
{
    char *end;
    unsigned long n = strtoul(s, &end, 10);
    if (end == s || *end != '/' || n == 0 || n > 1000000 || sy_parse_duration_ms(end + 1, window_ms) != 0 || *window_ms <= 0)
        return SY_EINVAL;
    *count = (unsigned)n;
    return 0;
}

static int read_api(sy_yaml_t *y, yaml_node_t *n, sy_source_conf_t *src, const char *what, sy_error_t *err)
{
    api_spec_t spec = {0};
    int rc;
    if ((rc = sy_yaml_read_map(y, n, what, api_keys, SY_ARRAY_SIZE(api_keys), &spec, err)) != 0)
        goto Exit;
    if (spec.base_url == NULL || (strncmp(spec.base_url, "http://", 7) != 0 && strncmp(spec.base_url, "https://", 8) != 0)) {
        rc = sy_yaml_fail(y, n, err, "%s: api.base_url must be given and start with http:// or https://", what);
        goto Exit;
    }
    if (spec.token == NULL) {
        rc = sy_yaml_fail(y, n, err, "%s: api.token is missing (the tool's API key or private-app token)", what);
        goto Exit;
    }
    if ((rc = resolve_secret(y, spec.token, what, &src->api_token, &src->api_token_demo_env, err)) != 0)
        goto Exit;
    if (spec.rate != NULL && parse_rate(spec.rate, &src->api_rate_count, &src->api_rate_window_ms) != 0) {
        rc = sy_yaml_fail(y, n, err, "%s: api.rate must look like 100/10s", what);
        goto Exit;
    }
    /* Trailing slashes would double in base_url + "/v1/...". */
    size_t len = strlen(spec.base_url);
    while (len > 0 && spec.base_url[len - 1] == '/')
        spec.base_url[--len] = '\0';
    src->api_base_url = spec.base_url;
    spec.base_url = NULL;
    src->api_concurrency = spec.concurrency != 0 ? spec.concurrency : 4;
    src->api_timeout_ms = spec.timeout_ms > 0 ? spec.timeout_ms : 30000;
    src->api_max_attempts = spec.max_attempts != 0 ? spec.max_attempts : 25;
    src->api_max_age_ms = spec.max_age_ms > 0 ? spec.max_age_ms : 3 * 86400000LL;
    /* A tool back from a long outage is reconciled by default wherever that is possible (reconcile.after_outage). */
    src->reconcile_after_outage_ms = src->connector->encode_changes != NULL ? 15 * 60 * 1000 : 0;
    rc = 0;
Exit:
    free(spec.base_url);
    free(spec.rate);
    return rc;
}

static int valid_source_name(const char *s)
{
    if (*s == '\0' || strlen(s) > 64)
        return 0;
    for (; *s != '\0'; ++s)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int read_source(sy_yaml_t *y, yaml_node_t *key, yaml_node_t *val, sy_source_conf_t *src, sy_error_t *err)
{
    source_spec_t spec = {.tolerance_ms = -1};
    char what[128];
    int rc;
    const char *name = (const char *)key->data.scalar.value;

    snprintf(what, sizeof(what), "source \"%s\"", name);
    if (!valid_source_name(name)) {
        rc = sy_yaml_fail(y, key, err, "%s: names use a-z, 0-9, '_' and '-' (at most 64)", what);
        goto Exit;
    }
    if ((src->name = strdup(name)) == NULL) {
        rc = SY_ENOMEM;
        goto Exit;
    }
    /* The connector first: it names the keys of its own the source may have. */
    yaml_node_t *kind = sy_yaml_map_get(y, val, "connector");
    const sy_connector_t *c = NULL;
    if (kind != NULL && kind->type == YAML_SCALAR_NODE && (c = sy_connector_find((const char *)kind->data.scalar.value)) == NULL) {
        rc = sy_yaml_fail(y, kind, err, "%s: unknown connector \"%s\"", what, (const char *)kind->data.scalar.value);
        goto Exit;
    }
    sy_yaml_key_t keys[SY_ARRAY_SIZE(source_keys) + SY_MAX_OPTIONS];
    size_t num_keys = source_key_table(c, keys, SY_ARRAY_SIZE(keys));
    if ((rc = sy_yaml_read_map(y, val, what, keys, num_keys, &spec, err)) != 0)
        goto Exit;
    if (spec.connector == NULL) {
        rc = sy_yaml_fail(y, val, err, "%s: missing key \"connector\"", what);
        goto Exit;
    }
    src->connector = c;
    src->verify.tolerance_ms = spec.tolerance_ms >= 0 ? spec.tolerance_ms : src->connector->default_tolerance_ms;
    for (size_t i = 0; i != SY_MAX_OPTIONS; ++i) {
        src->option_storage[i] = spec.options[i].text;
        spec.options[i].text = NULL;
        src->verify.options[i] = src->option_storage[i];
    }
    if (c->configure != NULL) {
        size_t bad = 0;
        char msg[160] = "";
        if (c->configure(&src->verify, &bad, msg, sizeof(msg)) != 0) {
            yaml_node_t *at = bad < SY_MAX_OPTIONS && spec.options[bad].node != NULL ? spec.options[bad].node : val;
            rc = sy_yaml_fail(y, at, err, "%s: %s", what, msg);
            goto Exit;
        }
    }
    src->public_url = spec.public_url;
    spec.public_url = NULL;
    if (spec.api != NULL && (rc = read_api(y, spec.api, src, what, err)) != 0)
        goto Exit;
    if (spec.reconcile != NULL && (rc = read_reconcile(y, spec.reconcile, src, what, err)) != 0)
        goto Exit;
    if (src->public_url != NULL && strncmp(src->public_url, "http://", 7) != 0 &&
        strncmp(src->public_url, "https://", 8) != 0) {
        rc = sy_yaml_fail(y, val, err, "%s: public_url must start with http:// or https://", what);
        goto Exit;
    }
    if (spec.secrets == NULL && spec.api != NULL) {
        /* A push-only tool: no webhooks come from it (its hook answers 401 no_secret). */
        rc = 0;
        goto Exit;
    }
    if (spec.secrets == NULL || spec.secrets->type != YAML_SEQUENCE_NODE ||
        spec.secrets->data.sequence.items.start == spec.secrets->data.sequence.items.top) {
        rc = sy_yaml_fail(y, spec.secrets != NULL ? spec.secrets : val, err, "%s: \"secrets\" must be a non-empty list",
                          what);
        goto Exit;
    }
    for (yaml_node_item_t *it = spec.secrets->data.sequence.items.start; it < spec.secrets->data.sequence.items.top; ++it) {
        if (src->verify.num_secrets == SY_MAX_SECRETS) {
            rc = sy_yaml_fail(y, sy_yaml_node(y, *it), err, "%s: at most %d secrets", what, SY_MAX_SECRETS);
            goto Exit;
        }
        char **slot = &src->secret_storage[src->verify.num_secrets];
        if ((rc = resolve_secret(y, sy_yaml_node(y, *it), what, slot, &src->demo_env, err)) != 0)
            goto Exit;
        src->verify.secrets[src->verify.num_secrets++] = sy_slice_cstr(*slot);
    }
    rc = 0;
Exit:
    free(spec.connector);
    free(spec.public_url);
    for (size_t i = 0; i != SY_MAX_OPTIONS; ++i)
        free(spec.options[i].text);
    return rc;
}

static int read_sources(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    sy_config_t *conf = field;
    if (n->type != YAML_MAPPING_NODE)
        return sy_yaml_fail(y, n, err, "sources: expected a mapping of source names");
    size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    free(conf->sources); /* a repeated key is refused before we get here twice */
    if ((conf->sources = calloc(count + 1, sizeof(*conf->sources))) == NULL)
        return SY_ENOMEM;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; ++p) {
        yaml_node_t *k = sy_yaml_node(y, p->key);
        if (k->type != YAML_SCALAR_NODE)
            return sy_yaml_fail(y, k, err, "sources: names must be plain strings");
        if (sy_config_find_source(conf, (const char *)k->data.scalar.value, k->data.scalar.length) != NULL)
            return sy_yaml_fail(y, k, err, "sources: \"%s\" given twice", k->data.scalar.value);
        sy_source_conf_t *src = &conf->sources[conf->num_sources];
        src->index = conf->num_sources++;
        int rc = read_source(y, k, sy_yaml_node(y, p->value), src, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* --- sections ------------------------------------------------------------------------------------------- */

static const sy_yaml_key_t storage_keys[] = {
    {"map_size", sy_yaml_read_size, offsetof(sy_config_t, map_size)},
    {"map_size_max", sy_yaml_read_size, offsetof(sy_config_t, map_size_max)},
    {"max_batch", sy_yaml_read_uint, offsetof(sy_config_t, max_batch)},
};

typedef struct st_tls_spec_t {
    char *cert, *key;
} tls_spec_t;

static const sy_yaml_key_t tls_keys[] = {
    {"cert", sy_yaml_read_string, offsetof(tls_spec_t, cert)},
    {"key", sy_yaml_read_string, offsetof(tls_spec_t, key)},
};

/* {cert: PEM file, key: PEM file}: both, readable now (a typo must not wait for the first TLS handshake). */
static int read_tls(sy_yaml_t *y, yaml_node_t *n, char **cert, char **key, const char *what, sy_error_t *err)
{
    tls_spec_t spec = {0};
    int rc = sy_yaml_read_map(y, n, what, tls_keys, SY_ARRAY_SIZE(tls_keys), &spec, err);
    if (rc == 0 && (spec.cert == NULL || spec.key == NULL))
        rc = sy_yaml_fail(y, n, err, "%s: give both cert and key (PEM files)", what);
    if (rc == 0 && ((rc = resolve_in_place(&spec.cert)) != 0 || (rc = resolve_in_place(&spec.key)) != 0))
        rc = SY_ENOMEM;
    if (rc == 0 && (access(spec.cert, R_OK) != 0 || access(spec.key, R_OK) != 0))
        rc = sy_yaml_fail(y, n, err, "%s: cannot read %s", what, access(spec.cert, R_OK) != 0 ? spec.cert : spec.key);
    if (rc != 0) {
        free(spec.cert);
        free(spec.key);
        return rc;
    }
    free(*cert);
    free(*key);
    *cert = spec.cert;
    *key = spec.key;
    return 0;
}

static int read_ingress_tls(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    sy_config_t *conf = field;
    return read_tls(y, n, &conf->ingress_tls_cert, &conf->ingress_tls_key, "ingress.tls", err);
}

static int read_admin_tls(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    sy_config_t *conf = field;
    return read_tls(y, n, &conf->admin_tls_cert, &conf->admin_tls_key, "admin.tls", err);
}

static const sy_yaml_key_t ingress_keys[] = {
    {"tls", read_ingress_tls, 0},
    {"listen", sy_yaml_read_string, offsetof(sy_config_t, ingress_listen)},
    {"threads", sy_yaml_read_uint, offsetof(sy_config_t, ingress_threads)},
    {"max_body", sy_yaml_read_size, offsetof(sy_config_t, max_body)},
    {"max_batch_events", sy_yaml_read_uint, offsetof(sy_config_t, max_batch_events)},
    {"http2", sy_yaml_read_bool, offsetof(sy_config_t, ingress_http2)},
};

static int read_admin_token(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    sy_config_t *conf = field;
    free(conf->admin_token);
    return resolve_secret(y, n, "admin.token", &conf->admin_token, &conf->admin_demo_env, err);
}

static const sy_yaml_key_t admin_keys[] = {
    {"listen", sy_yaml_read_string, offsetof(sy_config_t, admin_listen)},
    {"token", read_admin_token, 0},
    {"tls", read_admin_tls, 0},
};

#define SECTION(fn, keys, what)                                                                                        \
    static int fn(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)                                          \
    {                                                                                                                  \
        return sy_yaml_read_map(y, n, what, keys, SY_ARRAY_SIZE(keys), field, err);                                    \
    }
SECTION(read_storage, storage_keys, "storage")
SECTION(read_ingress, ingress_keys, "ingress")
SECTION(read_admin, admin_keys, "admin")
#undef SECTION

/* --- alerts: notifiers and thresholds --------------------------------------------------------------------- */

typedef struct st_notifier_spec_t {
    char *url, *rate;
    yaml_node_t *secret;
} notifier_spec_t;

static const sy_yaml_key_t notifier_keys[] = {
    {"url", sy_yaml_read_string, offsetof(notifier_spec_t, url)},
    {"rate", sy_yaml_read_string, offsetof(notifier_spec_t, rate)},
    {"secret", keep_node, offsetof(notifier_spec_t, secret)},
};

static int read_notifier(sy_yaml_t *y, yaml_node_t *n, sy_config_t *conf, sy_notifier_kind_t kind, sy_error_t *err)
{
    const char *what = kind == SY_NOTIFIER_SLACK ? "alerts.notify.slack" : "alerts.notify.webhook";
    notifier_spec_t spec = {0};
    sy_notifier_conf_t *nc = &conf->notifiers[conf->num_notifiers];
    int rc;
    if ((rc = sy_yaml_read_map(y, n, what, notifier_keys, SY_ARRAY_SIZE(notifier_keys), &spec, err)) != 0)
        goto Exit;
    if (spec.url == NULL || (strncmp(spec.url, "http://", 7) != 0 && strncmp(spec.url, "https://", 8) != 0)) {
        rc = sy_yaml_fail(y, n, err, "%s: url must be given and start with http:// or https://", what);
        goto Exit;
    }
    if (kind == SY_NOTIFIER_WEBHOOK && spec.secret == NULL) {
        rc = sy_yaml_fail(y, n, err, "%s: secret is missing (the receiver's Standard Webhooks secret, whsec_...)", what);
        goto Exit;
    }
    if (kind == SY_NOTIFIER_SLACK && spec.secret != NULL) {
        rc = sy_yaml_fail(y, spec.secret, err, "%s: Slack incoming webhooks take no secret (the url is the secret)", what);
        goto Exit;
    }
    nc->kind = kind;
    if (spec.secret != NULL && (rc = resolve_secret(y, spec.secret, what, &nc->secret, &nc->secret_demo_env, err)) != 0)
        goto Exit;
    /* Slack allows about one message per second per incoming webhook; a burst is summarised into one message. */
    nc->spoke.api_rate_count = kind == SY_NOTIFIER_SLACK ? 1 : 10;
    nc->spoke.api_rate_window_ms = 1000;
    if (spec.rate != NULL && parse_rate(spec.rate, &nc->spoke.api_rate_count, &nc->spoke.api_rate_window_ms) != 0) {
        rc = sy_yaml_fail(y, n, err, "%s: rate must look like 1/1s", what);
        goto Exit;
    }
    if ((nc->spoke.name = strdup(kind == SY_NOTIFIER_SLACK ? "alert:slack" : "alert:webhook")) == NULL) {
        rc = SY_ENOMEM;
        goto Exit;
    }
    nc->spoke.api_base_url = spec.url;
    spec.url = NULL;
    nc->spoke.index = SIZE_MAX; /* not a source: no per-source metrics */
    nc->spoke.api_concurrency = 1;
    nc->spoke.api_timeout_ms = 10000;
    nc->spoke.api_max_attempts = 50;
    nc->spoke.api_max_age_ms = 3 * 86400000LL;
    ++conf->num_notifiers;
    rc = 0;
Exit:
    free(spec.url);
    free(spec.rate);
    return rc;
}

typedef struct st_notify_spec_t {
    yaml_node_t *slack, *webhook;
} notify_spec_t;

static const sy_yaml_key_t notify_keys[] = {
    {"slack", keep_node, offsetof(notify_spec_t, slack)},
    {"webhook", keep_node, offsetof(notify_spec_t, webhook)},
};

static int read_notify(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    sy_config_t *conf = field;
    notify_spec_t spec = {0};
    int rc = sy_yaml_read_map(y, n, "alerts.notify", notify_keys, SY_ARRAY_SIZE(notify_keys), &spec, err);
    if (rc == 0 && spec.slack != NULL)
        rc = read_notifier(y, spec.slack, conf, SY_NOTIFIER_SLACK, err);
    if (rc == 0 && spec.webhook != NULL)
        rc = read_notifier(y, spec.webhook, conf, SY_NOTIFIER_WEBHOOK, err);
    return rc;
}

static int read_storage_pct(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    int rc = sy_yaml_read_uint(y, n, field, err);
    if (rc == 0 && *(unsigned *)field > 100)
        rc = sy_yaml_fail(y, n, err, "alerts.storage_near_full is a percentage (0 to 100; 0: never)");
    return rc;
}

static int read_lag(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    unsigned v;
    int rc = sy_yaml_read_uint(y, n, &v, err);
    if (rc == 0)
        *(uint64_t *)field = v;
    return rc;
}

static const sy_yaml_key_t alerts_keys[] = {
    {"notify", read_notify, 0},
    {"check_interval", sy_yaml_read_duration, offsetof(sy_config_t, alerts_check_ms)},
    {"applier_lag", read_lag, offsetof(sy_config_t, alerts_applier_lag)},
    {"storage_near_full", read_storage_pct, offsetof(sy_config_t, alerts_storage_pct)},
    {"keep_resolved", sy_yaml_read_duration, offsetof(sy_config_t, alerts_keep_resolved_ms)},
};

static int read_alerts(sy_yaml_t *y, yaml_node_t *n, void *field, sy_error_t *err)
{
    sy_config_t *conf = field;
    int rc = sy_yaml_read_map(y, n, "alerts", alerts_keys, SY_ARRAY_SIZE(alerts_keys), field, err);
    if (rc == 0 && conf->alerts_check_ms <= 0)
        rc = sy_yaml_fail(y, n, err, "alerts.check_interval must be a positive duration (e.g. 5s)");
    return rc;
}

static const sy_yaml_key_t top_keys[] = {
    {"alerts", read_alerts, 0},
    {"data_dir", sy_yaml_read_string, offsetof(sy_config_t, data_dir)},
    {"policy", sy_yaml_read_string, offsetof(sy_config_t, policy_path)},
    {"storage", read_storage, 0},
    {"ingress", read_ingress, 0},
    {"admin", read_admin, 0},
    {"sources", read_sources, 0},
    {"cluster", sy_cluster_config_read, offsetof(sy_config_t, cluster)},
};

static int replace_string(char **dst, const char *src)
{
    if (src == NULL)
        return 0;
    free(*dst);
    return (*dst = strdup(src)) != NULL ? 0 : SY_ENOMEM;
}

static void set_defaults(sy_config_t *conf)
{
    conf->map_size = 1ull << 30;
    conf->max_batch = 4096;
    conf->ingress_threads = 2;
    conf->max_body = 1ull << 20;
    conf->max_batch_events = 1000;
    conf->alerts_check_ms = 5000;
    conf->alerts_applier_lag = 10000;
    conf->alerts_storage_pct = 90;
    conf->alerts_keep_resolved_ms = 30LL * 86400 * 1000;
}

static int load(sy_config_t *conf, const char *path, const char *text, size_t len, const char *base,
                const sy_config_overrides_t *ov, sy_error_t *err)
{
    sy_yaml_t y;
    int rc;
    char host[256];
    unsigned short port;

    memset(conf, 0, sizeof(*conf));
    set_defaults(conf);
    if ((conf->path = strdup(path)) == NULL)
        return SY_ENOMEM;
    if ((rc = text != NULL ? sy_yaml_load_string(&y, path, text, len, err) : sy_yaml_load(&y, path, err)) != 0)
        return rc;
    load_base = base;
    yaml_node_t *root = sy_yaml_root(&y);
    if (root == NULL) {
        rc = sy_error_set(err, SY_EINVAL, path, 1, 1, "the file is empty");
        goto Exit;
    }
    if ((rc = sy_yaml_read_map(&y, root, "config", top_keys, SY_ARRAY_SIZE(top_keys), conf, err)) != 0)
        goto Exit;
    /* The file's own paths (and its default data dir) are read from its directory; --data-dir from the shell's. */
    if (conf->data_dir == NULL && (rc = replace_string(&conf->data_dir, "./var")) != 0)
        goto Exit;
    if ((rc = resolve_in_place(&conf->data_dir)) != 0 || (rc = resolve_in_place(&conf->policy_path)) != 0)
        goto Exit;

    if (ov != NULL) {
        if ((rc = replace_string(&conf->data_dir, ov->data_dir)) != 0 ||
            (rc = replace_string(&conf->ingress_listen, ov->listen)) != 0 ||
            (rc = replace_string(&conf->admin_listen, ov->admin_listen)) != 0)
            goto Exit;
    }
    /* Checks that need the whole file; they point at the top of the file. */
    if (conf->ingress_listen == NULL && (rc = replace_string(&conf->ingress_listen, "127.0.0.1:8080")) != 0)
        goto Exit;
    if (conf->admin_listen == NULL && (rc = replace_string(&conf->admin_listen, "127.0.0.1:8081")) != 0)
        goto Exit;
    if (sy_parse_hostport(conf->ingress_listen, host, sizeof(host), &port) != 0) {
        rc = sy_error_set(err, SY_EINVAL, path, 0, 0, "ingress.listen: expected HOST:PORT, got \"%s\"", conf->ingress_listen);
        goto Exit;
    }
    if (sy_parse_hostport(conf->admin_listen, host, sizeof(host), &port) != 0) {
        rc = sy_error_set(err, SY_EINVAL, path, 0, 0, "admin.listen: expected HOST:PORT, got \"%s\"", conf->admin_listen);
        goto Exit;
    }
    if (conf->map_size < MIN_MAP_SIZE) {
        rc = sy_error_set(err, SY_EINVAL, path, 0, 0, "storage.map_size: at least 1MiB");
        goto Exit;
    }
    if (conf->map_size_max < conf->map_size)
        conf->map_size_max = conf->map_size_max == 0 ? conf->map_size * 64 : conf->map_size;
    if (conf->max_batch == 0 || conf->ingress_threads == 0 || conf->ingress_threads > MAX_THREADS ||
        conf->max_batch_events == 0 || conf->max_body == 0) {
        rc = sy_error_set(err, SY_EINVAL, path, 0, 0,
                          "storage.max_batch, ingress.threads (<= 64), ingress.max_batch_events and "
                          "ingress.max_body must be positive");
        goto Exit;
    }
    if (conf->admin_token == NULL) {
        rc = sy_error_set(err, SY_EINVAL, path, 0, 0, "admin.token: missing (the admin API needs a bearer token)");
        goto Exit;
    }
    if (conf->num_sources == 0) {
        rc = sy_error_set(err, SY_EINVAL, path, 0, 0, "sources: at least one source is needed");
        goto Exit;
    }
    rc = 0;
Exit:
    load_base = NULL;
    sy_yaml_dispose(&y);
    return rc;
}

int sy_config_load(sy_config_t *conf, const char *path, const sy_config_overrides_t *ov, sy_error_t *err)
{
    char *dir = strdup(path);
    if (dir == NULL)
        return SY_ENOMEM;
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == dir)
        slash[1] = '\0'; /* "/hub.yaml": the root */
    else
        *slash = '\0';
    int rc = load(conf, path, NULL, 0, dir, ov, err);
    free(dir);
    return rc;
}

int sy_config_load_text(sy_config_t *conf, const char *name, const char *text, size_t len, const char *base_dir,
                        const sy_config_overrides_t *ov, sy_error_t *err)
{
    return load(conf, name, text, len, base_dir, ov, err);
}

void sy_config_dispose(sy_config_t *conf)
{
    for (size_t i = 0; i != conf->num_sources; ++i) {
        sy_source_conf_t *src = &conf->sources[i];
        free(src->name);
        free(src->public_url);
        for (size_t j = 0; j != SY_MAX_OPTIONS; ++j)
            free(src->option_storage[j]);
        free(src->demo_env);
        free(src->api_base_url);
        if (src->api_token != NULL)
            explicit_bzero(src->api_token, strlen(src->api_token));
        free(src->api_token);
        free(src->api_token_demo_env);
        for (size_t j = 0; j != SY_MAX_SECRETS; ++j) {
            if (src->secret_storage[j] != NULL) {
                /* Secrets do not linger in freed heap memory. */
                explicit_bzero(src->secret_storage[j], strlen(src->secret_storage[j]));
                free(src->secret_storage[j]);
            }
        }
    }
    free(conf->sources);
    for (size_t i = 0; i != conf->num_notifiers; ++i) {
        sy_notifier_conf_t *nc = &conf->notifiers[i];
        if (nc->secret != NULL)
            explicit_bzero(nc->secret, strlen(nc->secret));
        free(nc->secret);
        free(nc->secret_demo_env);
        free(nc->spoke.name);
        free(nc->spoke.api_base_url);
    }
    if (conf->admin_token != NULL)
        explicit_bzero(conf->admin_token, strlen(conf->admin_token));
    free(conf->admin_token);
    free(conf->admin_demo_env);
    free(conf->path);
    free(conf->data_dir);
    free(conf->policy_path);
    free(conf->ingress_listen);
    free(conf->admin_listen);
    free(conf->ingress_tls_cert);
    free(conf->ingress_tls_key);
    free(conf->admin_tls_cert);
    free(conf->admin_tls_key);
    sy_cluster_config_free(conf->cluster);
    memset(conf, 0, sizeof(*conf));
}

const sy_source_conf_t *sy_config_find_source(const sy_config_t *conf, const char *name, size_t len)
{
    for (size_t i = 0; i != conf->num_sources; ++i)
        if (conf->sources[i].name != NULL && strlen(conf->sources[i].name) == len &&
            memcmp(conf->sources[i].name, name, len) == 0)
            return &conf->sources[i];
    return NULL;
}

sy_tool_role_t sy_config_source_role(const sy_config_t *conf, const char *name)
{
    const sy_source_conf_t *src = conf != NULL ? sy_config_find_source(conf, name, strlen(name)) : NULL;
    return src != NULL ? src->connector->role : SY_ROLE_OTHER;
}

int sy_parse_hostport(const char *s, char *host, size_t hostlen, unsigned short *port)
{
    const char *colon, *h = s;
    size_t hl;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return SY_EINVAL;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        if ((colon = strrchr(s, ':')) == NULL)
            return SY_EINVAL;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen)
        return SY_EINVAL;
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || p > 65535)
        return SY_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned short)p;
    return 0;
}

void sy_config_admin_url(const sy_config_t *conf, char *buf, size_t len)
{
    char host[256];
    unsigned short port = 0;
    if (sy_parse_hostport(conf->admin_listen, host, sizeof(host), &port) != 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    /* Listening on every address: the hub is on this machine, so loopback reaches it. */
    const char *shown = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0 ? "127.0.0.1"
                        : strcmp(host, "::") == 0                             ? "::1"
                                                                              : host;
    int v6 = strchr(shown, ':') != NULL;
    snprintf(buf, len, "%s://%s%s%s:%u", conf->admin_tls_cert != NULL ? "https" : "http", v6 ? "[" : "", shown,
             v6 ? "]" : "", port);
}
