/*
 * Small text helpers the CLI's listings share: one way to print a time and to read an optional string member.
 */
#include <time.h>

#include "cli.h"

void sy_cli_format_time(int64_t ms, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, len, "%lld", (long long)ms);
}

const char *sy_cli_str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL ? v : "";
}
