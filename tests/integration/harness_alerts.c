/* Alert helpers of the integration tests (harness_alerts.h). */
#include "harness_alerts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

const char *sy_ita_str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL ? v : "";
}

json_t *sy_ita_alerts(sy_it_t *h)
{
    sy_it_response_t res;
    char auth[100];
    snprintf(auth, sizeof(auth), "Bearer %s", h->admin_token);
    sy_it_admin_get(h, "/admin/api/alerts?all=1", auth, &res);
    if (res.status != 200 || res.json == NULL)
        fail_msg("GET /admin/api/alerts: %ld %s", res.status, res.body);
    json_t *list = sy_it_own_json(h, json_incref(json_object_get(res.json, "alerts")));
    sy_it_response_dispose(&res);
    return list;
}

json_t *sy_ita_find(json_t *list, const char *kind, const char *source, const char *state)
{
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        if ((kind == NULL || strcmp(sy_ita_str(a, "kind"), kind) == 0) &&
            (source == NULL || strcmp(sy_ita_str(a, "source"), source) == 0) &&
            (state == NULL || strcmp(sy_ita_str(a, "state"), state) == 0))
            return a;
    }
    return NULL;
}

int sy_ita_webhook_has(sy_itd_fake_t *f, const char *event, const char *kind, const char *source)
{
    json_t *reqs = sy_itd_fake_requests(f), *r;
    size_t i;
    int found = 0;
    json_array_foreach(reqs, i, r)
    {
        if (json_integer_value(json_object_get(r, "status")) != 200)
            continue;
        json_t *body = json_loads(sy_ita_str(r, "body"), 0, NULL), *data = json_object_get(body, "data");
        found |= strcmp(sy_ita_str(body, "type"), event) == 0 && strcmp(sy_ita_str(data, "kind"), kind) == 0 &&
                 strcmp(sy_ita_str(data, "source"), source) == 0;
        json_decref(body);
    }
    sy_it_release(f->h, reqs);
    return found;
}

int sy_ita_slack_has(sy_itd_fake_t *f, const char *kind, int resolved)
{
    return sy_ita_slack_count(f, kind, resolved) != 0;
}

size_t sy_ita_slack_count(sy_itd_fake_t *f, const char *kind, int resolved)
{
    json_t *reqs = sy_itd_fake_requests(f), *r;
    size_t i, found = 0;
    char needle[80];
    snprintf(needle, sizeof(needle), "*%s*", kind);
    json_array_foreach(reqs, i, r)
    {
        const char *body = sy_ita_str(r, "body");
        if (json_integer_value(json_object_get(r, "status")) == 200 && strstr(body, needle) != NULL &&
            (!resolved || strstr(body, "resolved") != NULL))
            ++found;
    }
    sy_it_release(f->h, reqs);
    return found;
}
