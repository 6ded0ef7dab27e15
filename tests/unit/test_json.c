/* Unit tests for hub/base/json.c: strict validation on top of jsmn, caps, accessors, UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "json.h"

static int parse_len(sy_json_t *j, const char *text, size_t len, const char **msg)
{
    *msg = NULL;
    return sy_json_parse(j, text, len, msg);
}

static int parse(sy_json_t *j, const char *text, const char **msg)
{
    return parse_len(j, text, strlen(text), msg);
}

static void test_valid_bodies(void **state)
{
    static const char *ok[] = {
        "{}",
        "[]",
        " \t\r\n{ } \n",
        "{\"a\":1}",
        "{\"a\" : [1, 2.5, -0, -0.0e+1, 1E9, true, false, null, \"s\"] , \"b\":{\"c\":{}}}",
        "[[],[[]],{}]",
        "\"just a string\"",
        "\"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9\"",
        "123",
        " -1.5e-3 ",
        "true",
        "null",
        "{\"caf\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"}",
        "[0,10,0.1,1e5,1e-5,1234567890123456789.01234567890]",
    };
    sy_json_t j;
    sy_json_init(&j, 1000, 32);
    for (size_t i = 0; i != sizeof(ok) / sizeof(ok[0]); ++i) {
        const char *msg;
        int rc = parse(&j, ok[i], &msg);
        if (rc != 0)
            fail_msg("refused valid JSON %s: %s", ok[i], msg);
        assert_true(j.count > 0);
    }
    sy_json_dispose(&j);
}

static void test_invalid_bodies(void **state)
{
    static const char *bad[] = {
        "",
        "   ",
        "{",
        "}",
        "[",
        "]",
        "{]",
        "[}",
        "{} {}",
        "[] []",
        "{}x",
        "{} x",
        "[1] 2",
        "\"a\" \"b\"",
        "1 2",
        "{\"a\":1}garbage",
        "[1,]",
        "[,1]",
        "[1 2]",
        "[1,,2]",
        "{\"a\":1,}",
        "{,\"a\":1}",
        "{\"a\" 1}",
        "{\"a\"::1}",
        "{\"a\":1 \"b\":2}",
        "{\"a\"}",
        "{\"a\":}",
        "{1:2}",
        "{\"a\":1,\"b\"}",
        "[\"a\":1]",
        "{\"a\":1:2}",
        "[tru]",
        "tru",
        "truee",
        "[nul]",
        "[True]",
        "01",
        "[01]",
        "[1.]",
        "[.5]",
        "[-]",
        "[1e]",
        "[1e+]",
        "[+1]",
        "[0x10]",
        "[--1]",
        "[1.5.5]",
        "[Infinity]",
        "[NaN]",
        "\"unterminated",
        "[\"bad \\x escape\"]",
        "[\"\\u12\"]",
        "{'a':1}",
        "[\"tab\tinside\"]",
        "[\"nl\ninside\"]",
        "{\"k\ney\":1}",
        "[1]]",
        "[[1]",
        "{\"a\":{\"b\":1}",
    };
    sy_json_t j;
    sy_json_init(&j, 1000, 32);
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        const char *msg;
        int rc = parse(&j, bad[i], &msg);
        if (rc != SY_EPARSE)
            fail_msg("accepted invalid JSON %s (rc %d)", bad[i], rc);
        assert_string_equal(msg, "body is not valid JSON");
        assert_int_equal(j.count, 0);
    }
    /* NUL bytes: jsmn stops at them, the validator must not. */
    const char *msg;
    assert_int_equal(parse_len(&j, "{}\0", 3, &msg), SY_EPARSE);
    assert_int_equal(parse_len(&j, "[\"a\0b\"]", 7, &msg), SY_EPARSE);
    assert_int_equal(parse_len(&j, "[1\0]", 4, &msg), SY_EPARSE);
    sy_json_dispose(&j);
}

static void test_utf8(void **state)
{
    static const struct {
        const char *s;
        int valid;
    } cases[] = {
        {"plain", 1},
        {"\xc3\xa9", 1},         /* é */
        {"\xe2\x82\xac", 1},     /* € */
        {"\xf0\x9f\x98\x80", 1}, /* emoji */
        {"\xf4\x8f\xbf\xbf", 1}, /* U+10FFFF */
        {"\xed\x9f\xbf", 1},     /* U+D7FF, just below the surrogates */
        {"\xc0\xaf", 0},         /* overlong '/' */
        {"\xc1\xbf", 0},         /* overlong */
        {"\xe0\x80\xaf", 0},     /* overlong, 3 bytes */
        {"\xf0\x80\x80\xaf", 0}, /* overlong, 4 bytes */
        {"\xed\xa0\x80", 0},     /* U+D800 surrogate */
        {"\xed\xbf\xbf", 0},     /* U+DFFF surrogate */
        {"\xf4\x90\x80\x80", 0}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 0},
        {"\xff", 0},
        {"\x80", 0},         /* lone continuation */
        {"\xc3", 0},         /* truncated */
        {"\xe2\x82", 0},     /* truncated */
        {"\xf0\x9f\x98", 0}, /* truncated */
        {"\xc3\x28", 0},     /* bad continuation */
        {"\xe2\x28\xa1", 0},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        if (sy_utf8_valid(cases[i].s, strlen(cases[i].s)) != cases[i].valid)
            fail_msg("case %zu: expected %d", i, cases[i].valid);
    }

    sy_json_t j;
    sy_json_init(&j, 100, 8);
    const char *msg;
    assert_int_equal(parse(&j, "{\"a\":\"\xc0\xaf\"}", &msg), SY_EPARSE);
    assert_string_equal(msg, "body is not valid UTF-8");
    assert_int_equal(parse(&j, "{\"a\":\"\xed\xa0\x80\"}", &msg), SY_EPARSE);
    assert_string_equal(msg, "body is not valid UTF-8");
    assert_int_equal(parse(&j, "{\"a\":\"\xe2\x82\"}", &msg), SY_EPARSE);
    assert_string_equal(msg, "body is not valid UTF-8");
    /* A truncated sequence at the very end of the body. */
    assert_int_equal(parse(&j, "{\"a\":1} \xc3", &msg), SY_EPARSE);
    assert_string_equal(msg, "body is not valid UTF-8");
    sy_json_dispose(&j);
}

static void test_depth_cap(void **state)
{
    sy_json_t j;
    sy_json_init(&j, 100, 4);
    const char *msg;
    assert_int_equal(parse(&j, "[[[[1]]]]", &msg), 0); /* depth 4: at the cap */
    assert_int_equal(parse(&j, "{\"a\":{\"b\":[{}]}}", &msg), 0);
    assert_int_equal(parse(&j, "[[[[[1]]]]]", &msg), SY_EPARSE); /* depth 5 */
    assert_string_equal(msg, "JSON nesting deeper than the limit");
    assert_int_equal(parse(&j, "{\"a\":{\"b\":[{\"c\":[]}]}}", &msg), SY_EPARSE);
    assert_string_equal(msg, "JSON nesting deeper than the limit");
    sy_json_dispose(&j);

    /* Scalars have depth 0, so a cap of 0 still accepts them. */
    sy_json_init(&j, 100, 0);
    assert_int_equal(parse(&j, "\"x\"", &msg), 0);
    assert_int_equal(parse(&j, "{}", &msg), SY_EPARSE);
    sy_json_dispose(&j);

    /*
     * A huge configured cap is clamped: deep input is refused, not a stack overflow. Regression: jsmn alone spends
     * quadratic time closing these brackets (tens of seconds for this body); the depth pre-scan makes it instant.
     */
    size_t n = 500000;
    char *deep = malloc(2 * n + 1);
    assert_non_null(deep);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    sy_json_init(&j, 2 * n, 1000000);
    assert_int_equal(parse(&j, deep, &msg), SY_EPARSE);
    assert_string_equal(msg, "JSON nesting deeper than the limit");
    sy_json_dispose(&j);

    /* Within the cap but wide: brackets inside strings do not count as nesting. */
    sy_json_init(&j, 100, 2);
    assert_int_equal(parse(&j, "{\"a\":\"[[[[{{{{\\\"[[[[\"}", &msg), 0);
    assert_int_equal(parse(&j, "[[\"]]]]\"]]", &msg), 0);
    sy_json_dispose(&j);
    free(deep);
}

static void test_token_cap(void **state)
{
    /* "[0,0,...,0]" with n elements has n + 1 tokens. */
    char body[2 * 300 + 8];
    size_t o = 0;
    body[o++] = '[';
    for (int i = 0; i != 300; ++i) {
        if (i != 0)
            body[o++] = ',';
        body[o++] = '0';
    }
    body[o++] = ']';
    body[o] = '\0';

    sy_json_t j;
    sy_json_init(&j, 301, 8);
    const char *msg;
    assert_int_equal(j.capacity, 0);
    assert_int_equal(parse(&j, "[1]", &msg), 0);
    size_t small = j.capacity;
    assert_true(small >= 2 && small < 301);
    /* Grows past the first capacity, up to the cap exactly. */
    assert_int_equal(parse(&j, body, &msg), 0);
    assert_int_equal(j.count, 301);
    assert_true(j.capacity >= 301 && j.capacity <= 301);
    assert_int_equal(sy_json_size(&j, 0), 300);
    /* The grown array is reused. */
    assert_int_equal(parse(&j, "{\"a\":[1,2]}", &msg), 0);
    assert_int_equal(j.count, 5);
    sy_json_dispose(&j);

    /* One token over the cap is refused, without growing past the cap. */
    sy_json_init(&j, 300, 8);
    assert_int_equal(parse(&j, body, &msg), SY_ETOOBIG);
    assert_string_equal(msg, "JSON has more tokens than the limit");
    assert_true(j.capacity <= 300);
    assert_int_equal(j.count, 0);
    /* Still usable afterwards. */
    assert_int_equal(parse(&j, "[true]", &msg), 0);
    sy_json_dispose(&j);

    sy_json_init(&j, 0, 8);
    assert_int_equal(parse(&j, "{}", &msg), SY_ETOOBIG);
    assert_int_equal(parse(&j, "1", &msg), SY_ETOOBIG);
    sy_json_dispose(&j);

    /* errmsg may be NULL. */
    sy_json_init(&j, 10, 8);
    assert_int_equal(sy_json_parse(&j, "[", 1, NULL), SY_EPARSE);
    sy_json_dispose(&j);
}

static void test_accessors(void **state)
{
    const char *body = " {\"id\":\"evt_1\",\"n\":-42,\"big\":9223372036854775807,\"min\":-9223372036854775808,"
                       "\"over\":9223372036854775807.5,\"f\":1.5,\"e\":1e3,\"t\":true,"
                       "\"arr\":[{\"x\":1},[2,3],\"s\"],\"obj\":{\"k\":{\"deep\":null}},\"esc\":\"a\\\"b\",\"last\":0} ";
    sy_json_t j;
    sy_json_init(&j, 100, 8);
    const char *msg;
    assert_int_equal(parse(&j, body, &msg), 0);
    assert_int_equal(sy_json_type(&j, 0), SY_JSON_OBJECT);
    assert_int_equal(sy_json_size(&j, 0), 12);
    assert_int_equal(sy_json_type(&j, -1), SY_JSON_UNDEFINED);
    assert_int_equal(sy_json_type(&j, j.count), SY_JSON_UNDEFINED);

    int id = sy_json_get(&j, 0, "id");
    assert_int_equal(sy_json_type(&j, id), SY_JSON_STRING);
    assert_true(sy_slice_eq_cstr(sy_json_text(&j, id), "evt_1"));
    assert_true(sy_slice_eq_cstr(sy_json_span(&j, id), "\"evt_1\""));
    assert_true(sy_json_str_eq(&j, id, "evt_1"));
    assert_false(sy_json_str_eq(&j, id, "evt_"));
    assert_false(sy_json_str_eq(&j, id, "evt_12"));
    assert_int_equal(sy_json_get(&j, 0, "missing"), -1);
    assert_int_equal(sy_json_get(&j, 0, "evt_1"), -1); /* values are not keys */
    assert_int_equal(sy_json_get(&j, id, "id"), -1);   /* not an object */

    int64_t v;
    assert_int_equal(sy_json_int64(&j, sy_json_get(&j, 0, "n"), &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(sy_json_int64(&j, sy_json_get(&j, 0, "big"), &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(sy_json_int64(&j, sy_json_get(&j, 0, "min"), &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(sy_json_int64(&j, sy_json_get(&j, 0, "over"), &v), SY_EPARSE);
    assert_int_equal(sy_json_int64(&j, sy_json_get(&j, 0, "f"), &v), SY_EPARSE);
    assert_int_equal(sy_json_int64(&j, sy_json_get(&j, 0, "e"), &v), SY_EPARSE);
    assert_int_equal(sy_json_int64(&j, sy_json_get(&j, 0, "t"), &v), SY_EPARSE);
    assert_int_equal(sy_json_int64(&j, id, &v), SY_EPARSE);
    assert_int_equal(sy_json_int64(&j, -1, &v), SY_EPARSE);
    assert_true(sy_slice_eq_cstr(sy_json_text(&j, sy_json_get(&j, 0, "f")), "1.5"));

    int arr = sy_json_get(&j, 0, "arr");
    assert_int_equal(sy_json_type(&j, arr), SY_JSON_ARRAY);
    assert_int_equal(sy_json_size(&j, arr), 3);
    int e0 = sy_json_at(&j, arr, 0), e1 = sy_json_at(&j, arr, 1), e2 = sy_json_at(&j, arr, 2);
    assert_true(sy_slice_eq_cstr(sy_json_span(&j, e0), "{\"x\":1}"));
    assert_true(sy_slice_eq_cstr(sy_json_span(&j, e1), "[2,3]"));
    assert_true(sy_json_str_eq(&j, e2, "s"));
    assert_int_equal(sy_json_at(&j, arr, 3), -1);
    assert_int_equal(sy_json_at(&j, arr, -1), -1);
    assert_int_equal(sy_json_at(&j, 0, 0), -1); /* not an array */
    assert_int_equal(sy_json_skip(&j, e0), e1);
    assert_int_equal(sy_json_skip(&j, e1), e2);
    assert_int_equal(sy_json_int64(&j, sy_json_at(&j, e1, 1), &v), 0);
    assert_int_equal(v, 3);

    int deep = sy_json_get(&j, sy_json_get(&j, sy_json_get(&j, 0, "obj"), "k"), "deep");
    assert_int_equal(sy_json_type(&j, deep), SY_JSON_PRIMITIVE);
    assert_true(sy_slice_eq_cstr(sy_json_text(&j, deep), "null"));
    /* Escapes stay raw. */
    assert_true(sy_slice_eq_cstr(sy_json_text(&j, sy_json_get(&j, 0, "esc")), "a\\\"b"));
    /* The member after nested containers is found (skip over subtrees works). */
    int last = sy_json_get(&j, 0, "last");
    assert_int_equal(last, j.count - 1);
    assert_int_equal(sy_json_skip(&j, 0), j.count);
    /* Root span excludes the surrounding whitespace. */
    sy_slice_t root = sy_json_span(&j, 0);
    assert_ptr_equal(root.base, body + 1);
    assert_int_equal(root.len, strlen(body) - 2);

    /* Duplicate keys are refused: jsmn would read the first and jansson the last. */
    assert_int_equal(parse(&j, "{\"a\":1,\"a\":2}", &msg), SY_EPARSE);
    assert_string_equal(msg, "JSON object has a duplicate key");
    /* Scalar root. */
    assert_int_equal(parse(&j, " 17 ", &msg), 0);
    assert_int_equal(j.count, 1);
    assert_int_equal(sy_json_int64(&j, 0, &v), 0);
    assert_int_equal(v, 17);
    sy_json_dispose(&j);
}

/*
 * One reading of every event: ingress (this parser) and the applier (jansson, as observe.c decodes bodies) must
 * agree on every body. Each case says what ingress answers; jansson must agree, and the message must be precise.
 */
static void test_same_verdict_as_applier(void **state)
{
    static const struct {
        const char *text;
        const char *error; /* NULL: accepted */
    } cases[] = {
        {"{\"created\":1700000000,\"created\":150000333333330000}", "JSON object has a duplicate key"},
        {"{\"a\":{\"x\":1,\"y\":2,\"x\":3}}", "JSON object has a duplicate key"},
        {"{\"type\":\"a\",\"\\u0074ype\":\"b\"}", "JSON object has a duplicate key"}, /* equal once decoded */
        {"{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"ka\":10,"
         "\"kb\":11,\"kc\":12,\"kd\":13,\"ke\":14,\"kf\":15,\"kg\":16,\"k3\":17}",
         "JSON object has a duplicate key"}, /* more keys than the small-object fast path */
        {"[{\"a\":1},{\"a\":2}]", NULL},                                         /* same key, different objects */
        {"{\"a\":\"x\\u0000y\"}", "JSON string contains \\u0000"},
        {"{\"a\\u0000\":1}", "JSON string contains \\u0000"},
        {"\"\\ud800\"", "JSON string contains a lone UTF-16 surrogate"},
        {"\"\\udc00\\ud800\"", "JSON string contains a lone UTF-16 surrogate"},
        {"\"\\ud800\\u0041\"", "JSON string contains a lone UTF-16 surrogate"},
        {"\"\\ud83d\\ude00\"", NULL}, /* a valid pair */
        {"\"\\x41\"", "body is not valid JSON"}, /* jsmn's strict mode refuses bad escapes itself */
        {"\"\\u12G4\"", "body is not valid JSON"},
        {"{\"created\":9223372036854775807}", NULL},
        {"{\"created\":-9223372036854775808}", NULL},
        {"{\"created\":9223372036854775808}", "JSON integer is outside the 64-bit range"},
        {"{\"created\":-9223372036854775809}", "JSON integer is outside the 64-bit range"},
        {"{\"created\":150000333333330000000000}", "JSON integer is outside the 64-bit range"},
        {"[1e308, -1e308, 1e-400]", NULL}, /* underflow reads as 0 in both */
        {"[1e309]", "JSON number is outside the range of a double"},
        {"[-1.5e99999]", "JSON number is outside the range of a double"},
        {"12345678901234567890", "JSON integer is outside the 64-bit range"}, /* scalar root too */
    };
    sy_json_t j;
    sy_json_init(&j, 4096, 64);
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        const char *msg;
        int rc = parse(&j, cases[i].text, &msg);
        json_error_t jerr;
        json_t *doc = json_loads(cases[i].text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (cases[i].error == NULL) {
            if (rc != 0)
                fail_msg("refused %s: %s", cases[i].text, msg);
            if (doc == NULL)
                fail_msg("jansson refused %s: %s", cases[i].text, jerr.text);
        } else {
            if (rc != SY_EPARSE || strcmp(msg, cases[i].error) != 0)
                fail_msg("%s: expected \"%s\", got rc %d \"%s\"", cases[i].text, cases[i].error, rc, rc ? msg : "");
            if (doc != NULL)
                fail_msg("jansson accepted %s, which ingress refuses", cases[i].text);
        }
        json_decref(doc);
    }
    /* Lookups see decoded keys, as jansson does. */
    const char *msg;
    assert_int_equal(parse(&j, "{\"\\u0069d\":\"evt_1\"}", &msg), 0);
    int tok = sy_json_get(&j, 0, "id");
    assert_true(tok > 0 && sy_json_str_eq(&j, tok, "evt_1") && !sy_json_has_escape(&j, tok));
    assert_true(sy_json_has_escape(&j, 1));
    sy_json_dispose(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_bodies), cmocka_unit_test(test_invalid_bodies), cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_depth_cap),    cmocka_unit_test(test_token_cap),      cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_same_verdict_as_applier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
