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
