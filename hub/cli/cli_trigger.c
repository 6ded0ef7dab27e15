/*
 * `switchyard trigger SOURCE TYPE`: sends a correctly signed sample event to a running hub, the way the
 * provider would (like `stripe trigger`). The secret comes from --secret-env, else from the source's config.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_SIGN_HEADERS 4

static void list_types(const sy_connector_t *c)
{
    fprintf(stderr, "types for %s:", c->name);
    for (const char *const *t = c->sample_types; t != NULL && *t != NULL; ++t)
        fprintf(stderr, " %s", *t);
    fputc('\n', stderr);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    fwrite(p, size, n, stdout);
    return size * n;
}

int sy_cli_trigger(sy_cli_t *cli)
{
    sy_config_t conf;
    char url[1024], signbuf[1024], *body = NULL;
    sy_header_t headers[MAX_SIGN_HEADERS];
    size_t num_headers = MAX_SIGN_HEADERS;
    struct curl_slist *hl = NULL;
    CURL *curl = NULL;
    long status = 0;
    int rc = SY_EXIT_FAIL;

    if (cli->num_args != 2) {
        fprintf(stderr, "usage: switchyard trigger SOURCE TYPE [--url URL] [--secret-env VAR]\n");
        return SY_EXIT_USAGE;
    }
    if (sy_cli_load_config(cli, &conf) != 0)
        return SY_EXIT_USAGE;
    const sy_source_conf_t *src = sy_config_find_source(&conf, cli->args[0], strlen(cli->args[0]));
    if (src == NULL) {
        fprintf(stderr, "switchyard: no source \"%s\" in %s\n", cli->args[0], conf.path);
        rc = SY_EXIT_USAGE;
        goto Exit;
    }
    if (src->connector->sample == NULL || (body = src->connector->sample(cli->args[1], sy_now_ms())) == NULL) {
        fprintf(stderr, "switchyard: no sample for \"%s\"; ", cli->args[1]);
        list_types(src->connector);
        rc = SY_EXIT_USAGE;
        goto Exit;
    }
    sy_slice_t secret = src->verify.secrets[0];
    if (cli->secret_env != NULL) {
        const char *v = getenv(cli->secret_env);
        if (v == NULL || *v == '\0') {
            fprintf(stderr, "switchyard: environment variable %s is not set\n", cli->secret_env);
            rc = SY_EXIT_USAGE;
            goto Exit;
        }
        secret = sy_slice_cstr(v);
    }
    if (cli->url != NULL)
        snprintf(url, sizeof(url), "%s", cli->url);
    else
        snprintf(url, sizeof(url), "%s://%s/hooks/%s", conf.ingress_tls_cert != NULL ? "https" : "http",
                 conf.ingress_listen, src->name);

    /* Schemes that sign the URL (HubSpot v2/v3) sign the one the provider calls: the public URL when configured. */
    sy_request_view_t view = {.method = SY_SLICE_LIT("POST"),
                              .url = sy_slice_cstr(src->public_url != NULL ? src->public_url : url),
                              .body = sy_slice_cstr(body),
                              .now_ms = sy_now_ms()};
    if (src->connector->sign(&src->verify, secret, &view, headers, &num_headers, signbuf, sizeof(signbuf)) != 0) {
        fprintf(stderr, "switchyard: cannot sign the sample\n");
        goto Exit;
    }
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    for (size_t i = 0; i != num_headers; ++i) {
        char line[1200];
        snprintf(line, sizeof(line), "%.*s: %.*s", (int)headers[i].name.len, headers[i].name.base,
                 (int)headers[i].value.len, headers[i].value.base);
        hl = curl_slist_append(hl, line);
    }
    if ((curl = curl_easy_init()) == NULL)
        goto Exit;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "switchyard-trigger/" SY_VERSION);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    if (cli->cacert != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, cli->cacert); /* a private CA or a self-signed hub certificate */
    fprintf(stderr, "POST %s (%s, %zu bytes)\n", url, cli->args[1], strlen(body));
    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        fprintf(stderr, "switchyard: %s: %s\n", url, curl_easy_strerror(cc));
        goto Exit;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    printf("\n");
    fprintf(stderr, "HTTP %ld\n", status);
    rc = status >= 200 && status < 300 ? SY_EXIT_OK : SY_EXIT_FAIL;
Exit:
    if (curl != NULL)
        curl_easy_cleanup(curl);
    curl_slist_free_all(hl);
    free(body);
    sy_config_dispose(&conf);
    return rc;
}
