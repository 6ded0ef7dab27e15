#include "header_event.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "connectors_builtin.h"
#include "crypto.h"

static int visible_ascii(sy_slice_t s)
{
    for (size_t i = 0; i != s.len; ++i) {
        if ((unsigned char)s.base[i] <= 0x20 || (unsigned char)s.base[i] >= 0x7f)
            return 0;
    }
    return 1;
}

sy_token_result_t sy_header_token(const sy_request_view_t *req, const char *name, size_t max, sy_slice_t *out)
{
    const sy_header_t *h = sy_request_header(req, name);
    if (h == NULL)
        return SY_TOKEN_MISSING;
    if (h == SY_HEADER_REPEATED)
        return SY_TOKEN_REPEATED;
    sy_slice_t v = sy_connector_trim(h->value);
    /* Ids and types are stored and compared as bytes: a space or a control character would read differently in
     * logs and on the command line. */
    if (v.len == 0 || v.len > max || !visible_ascii(v))
        return SY_TOKEN_INVALID;
    *out = v;
    return SY_TOKEN_OK;
}

sy_token_result_t sy_body_token(const sy_json_t *json, int obj, const char *key, size_t max, sy_slice_t *out)
{
    int tok = sy_json_get(json, obj, key);
    if (tok < 0)
        return SY_TOKEN_MISSING;
    if (sy_json_type(json, tok) != SY_JSON_STRING || sy_json_has_escape(json, tok))
        return SY_TOKEN_INVALID;
    sy_slice_t v = sy_json_text(json, tok);
    if (v.len == 0 || v.len > max)
        return SY_TOKEN_INVALID;
    for (size_t i = 0; i != v.len; ++i) {
        if ((unsigned char)v.base[i] < 0x20)
            return SY_TOKEN_INVALID;
    }
    *out = v;
    return SY_TOKEN_OK;
}

/* Exactly n digits at s[*i]; advances *i. */
static int digits(sy_slice_t s, size_t *i, int n, int *out)
{
    int v = 0;
    for (int k = 0; k != n; ++k, ++*i) {
        if (*i >= s.len || s.base[*i] < '0' || s.base[*i] > '9')
            return 0;
        v = v * 10 + (s.base[*i] - '0');
    }
    *out = v;
    return 1;
}

static int lit(sy_slice_t s, size_t *i, char c)
{
    if (*i >= s.len || (s.base[*i] != c && !(c == 'T' && s.base[*i] == 't')))
        return 0;
    ++*i;
    return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = y / 400, yoe = y - era * 400;
    int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return (int64_t)era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

int sy_rfc3339_ms(sy_slice_t s, int64_t *out_ms)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t i = 0;
    int y, mo, d, h, mi, sec, ms = 0, oh = 0, om = 0, sign = 0;
    s = sy_connector_trim(s);
    if (!(digits(s, &i, 4, &y) && lit(s, &i, '-') && digits(s, &i, 2, &mo) && lit(s, &i, '-') &&
          digits(s, &i, 2, &d) && lit(s, &i, 'T') && digits(s, &i, 2, &h) && lit(s, &i, ':') &&
          digits(s, &i, 2, &mi) && lit(s, &i, ':') && digits(s, &i, 2, &sec)))
        return SY_EPARSE;
    if (i < s.len && s.base[i] == '.') {
        size_t start = ++i;
        for (; i < s.len && s.base[i] >= '0' && s.base[i] <= '9'; ++i) {
            if (i - start < 3)
                ms = ms * 10 + (s.base[i] - '0');
        }
        if (i == start || i - start > 18)
            return SY_EPARSE;
        for (size_t k = i - start; k < 3; ++k)
            ms *= 10;
    }
    if (i < s.len && (s.base[i] == 'Z' || s.base[i] == 'z')) {
        ++i;
    } else if (i < s.len && (s.base[i] == '+' || s.base[i] == '-')) {
        sign = s.base[i++] == '-' ? -1 : 1;
        if (!(digits(s, &i, 2, &oh) && lit(s, &i, ':') && digits(s, &i, 2, &om)) || oh > 23 || om > 59)
            return SY_EPARSE;
    } else {
        return SY_EPARSE; /* a time without its offset is ambiguous */
    }
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (i != s.len || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 ||
        mi > 59 || sec > 60)
        return SY_EPARSE;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
    *out_ms = secs * 1000 + ms;
    return 0;
}

void sy_rfc3339_format(int64_t now_ms, char out[25])
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[64]; /* room for any int the compiler imagines; a real date takes 24 characters */
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now_ms % 1000));
    memcpy(out, tmp, 24);
    out[24] = '\0';
}

void sy_random_uuid(char out[37])
{
    char hex[33];
    sy_connector_random_token(hex, 16);
    hex[12] = '4'; /* version 4 */
    hex[16] = "89ab"[sy_hex_digit(hex[16]) & 3];
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}
