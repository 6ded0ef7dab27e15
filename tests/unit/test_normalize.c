/*
 * Normalisers: the documented examples, identity-relevant equalities and edge cases, and that multi-byte UTF-8
 * sequences always come out whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static void expect(sy_normalizer_t n, const char *in, const char *want)
{
    char *got = sy_normalize(&n, 1, in);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
    {
        const char *name = sy_normalizer_name(n);
        fail_msg("%s(\"%s\") = \"%s\", want \"%s\"", name != NULL ? name : "?", in != NULL ? in : "(null)", got, want);
    }
    free(got);
}

static void expect_same(sy_normalizer_t n, const char *a, const char *b)
{
    char *x = sy_normalize(&n, 1, a), *y = sy_normalize(&n, 1, b);
    if (strcmp(x, y) != 0 || *x == '\0')
        fail_msg("%s: \"%s\" -> \"%s\" but \"%s\" -> \"%s\"", sy_normalizer_name(n), a, x, b, y);
    free(x);
    free(y);
}

static void test_trim(void **state)
{
    expect(SY_NORM_TRIM, "  Ana \t  Lima\n", "Ana Lima");
    expect(SY_NORM_TRIM, "", "");
    expect(SY_NORM_TRIM, " \t\r\n ", "");
    expect(SY_NORM_TRIM, "x", "x");
    /* U+00A0 (no-break space) from web forms counts as white space */
    expect(SY_NORM_TRIM, "\xc2\xa0Nova\xc2\xa0\xc2\xa0Pixel ", "Nova Pixel");
    expect(SY_NORM_TRIM, "  Zoë   Müller ", "Zoë Müller");
    expect(SY_NORM_TRIM, NULL, "");
}

static void test_lower_is_ascii_only(void **state)
{
    expect(SY_NORM_LOWER, "ACTIVE", "active");
    expect(SY_NORM_LOWER, "ÉCOLE Straße ÄÖÜ", "École straße ÄÖÜ");
    expect(SY_NORM_LOWER, "Past_Due 42", "past_due 42");
}

static void test_email(void **state)
{
    expect(SY_NORM_EMAIL, " Ana@Example.IO ", "ana@example.io");
    expect(SY_NORM_EMAIL, "not-an-email", "");
    expect(SY_NORM_EMAIL, "@example.io", "");
    expect(SY_NORM_EMAIL, "ana@", "");
    expect(SY_NORM_EMAIL, "ana@b@example.io", "");
    expect(SY_NORM_EMAIL, "ana lima@example.io", "");
    expect(SY_NORM_EMAIL, "", "");
    expect(SY_NORM_EMAIL, "ZOË@Exämple.DE", "zoË@exämple.de");
    expect_same(SY_NORM_EMAIL, "Ana@X.io", " ana@x.io");
    expect_same(SY_NORM_EMAIL, "ANA@X.IO\n", "ana@x.io");
}

static void test_phone_e164(void **state)
{
    expect(SY_NORM_PHONE_E164, "+49 (30) 123-456", "+4930123456");
    expect(SY_NORM_PHONE_E164, "0049 30 123456", "+4930123456");
    expect(SY_NORM_PHONE_E164, "030 123456", "030123456"); /* no country code: no guessing */
    expect(SY_NORM_PHONE_E164, "030/123456", "030123456");
    expect(SY_NORM_PHONE_E164, "+44 (0)20 7946 0000", "+442079460000");
    expect(SY_NORM_PHONE_E164, "(030) 12.34.56", "030123456");
    expect(SY_NORM_PHONE_E164, " +1-800-555-0199 ", "+18005550199");
    expect(SY_NORM_PHONE_E164, "+49 30 CALL-ME", "");
    expect(SY_NORM_PHONE_E164, "+49 30 1234 + 5", "");
    expect(SY_NORM_PHONE_E164, "+", "");
    expect(SY_NORM_PHONE_E164, "00", "");
    expect(SY_NORM_PHONE_E164, "", "");
    expect(SY_NORM_PHONE_E164, "0", "0");
    expect(SY_NORM_PHONE_E164, "+49 30 1234 ☎", "");
    expect_same(SY_NORM_PHONE_E164, "+49 30 123456", "0049 (30) 123-456");
}

static void test_company_name(void **state)
{
    expect(SY_NORM_COMPANY_NAME, "Nova Pixel Inc.", "nova pixel");
    expect(SY_NORM_COMPANY_NAME, "ACME, Corp", "acme");
    expect(SY_NORM_COMPANY_NAME, "Acme Corporation Ltd", "acme");
    expect(SY_NORM_COMPANY_NAME, "Inc", "inc"); /* never the only word */
    expect(SY_NORM_COMPANY_NAME, "Inc.", "inc");
    expect(SY_NORM_COMPANY_NAME, "Co Inc", "co");
    expect(SY_NORM_COMPANY_NAME, "Acme B.V.", "acme");
    expect(SY_NORM_COMPANY_NAME, "Acme S.A.S.", "acme");
    expect(SY_NORM_COMPANY_NAME, "Müller GmbH & Co.", "müller");
    expect(SY_NORM_COMPANY_NAME, "McDonald's Corp", "mcdonalds");
    expect(SY_NORM_COMPANY_NAME, "Zoë\xe2\x80\x99s Café S.A.", "zoës café");
    expect(SY_NORM_COMPANY_NAME, "Booking.com", "booking com");
    expect(SY_NORM_COMPANY_NAME, "Incorporated Widgets", "incorporated widgets"); /* suffixes are whole words */
    expect(SY_NORM_COMPANY_NAME, "Acme Co (Europe) Ltd", "acme co europe");
    expect(SY_NORM_COMPANY_NAME, "  --  ", "");
    expect(SY_NORM_COMPANY_NAME, "", "");
    expect(SY_NORM_COMPANY_NAME, "日本電気 株式会社 Inc", "日本電気 株式会社");
    expect_same(SY_NORM_COMPANY_NAME, "Nova Pixel Inc.", "nova pixel");
    expect_same(SY_NORM_COMPANY_NAME, "NOVA  PIXEL, INC", "Nova Pixel Corporation Ltd.");
}

static void test_chains_apply_in_order(void **state)
{
    sy_normalizer_t trim_lower[] = {SY_NORM_TRIM, SY_NORM_LOWER};
    char *s = sy_normalize(trim_lower, 2, "  PAST   Due ");
    assert_string_equal(s, "past due");
    free(s);
    s = sy_normalize(NULL, 0, "  As Is ");
    assert_string_equal(s, "  As Is ");
    free(s);
    sy_normalizer_t trim_company[] = {SY_NORM_TRIM, SY_NORM_COMPANY_NAME};
    s = sy_normalize(trim_company, 2, " Test Customer Inc. ");
    assert_string_equal(s, "test customer");
    free(s);
}

/* Strict UTF-8 check: every sequence complete and well-formed. */
static int valid_utf8(const unsigned char *s)
{
    while (*s != '\0') {
        size_t n = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : 9;
        if (n == 9)
            return 0;
        for (size_t i = 1; i <= n; ++i)
            if ((s[i] & 0xc0) != 0x80)
                return 0;
        s += n + 1;
    }
    return 1;
}

static void test_utf8_sequences_stay_whole(void **state)
{
    static const char *const inputs[] = {
        "Ünïcödé Straße GmbH",
        " 日本電気 株式会社 ",
        "emoji 😀 Ltd.",
        "\xc2\xa0Ä\xc2\xa0Ö\xc2\xa0",
        "ÀÉÎÕÜ@ÀÉÎ.ÕÜ",
        "Zoë\xe2\x80\x99s",
        "+49 ☎ 30",
        "a\xe2\x80\x99"
        "b's'",
        "ÉÉÉ. B.V.",
    };
    for (size_t i = 0; i != SY_ARRAY_SIZE(inputs); ++i) {
        assert_true(valid_utf8((const unsigned char *)inputs[i]));
        for (sy_normalizer_t n = SY_NORM_TRIM; n <= SY_NORM_COMPANY_NAME; ++n) {
            char *s = sy_normalize(&n, 1, inputs[i]);
            if (!valid_utf8((const unsigned char *)s))
                fail_msg("%s(\"%s\") broke a UTF-8 sequence", sy_normalizer_name(n), inputs[i]);
            free(s);
        }
    }
}

static void test_names_parse_and_print(void **state)
{
    static const char *const names[] = {"trim", "lower", "email", "phone_e164", "company_name"};
    sy_normalizer_t n;
    for (size_t i = 0; i != SY_ARRAY_SIZE(names); ++i) {
        assert_int_equal(sy_normalizer_parse(names[i], &n), 0);
        assert_string_equal(sy_normalizer_name(n), names[i]);
    }
    assert_int_equal(sy_normalizer_parse("Email", &n), SY_EINVAL);
    assert_int_equal(sy_normalizer_parse("", &n), SY_EINVAL);
    assert_int_equal(sy_normalizer_parse(NULL, &n), SY_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim),
        cmocka_unit_test(test_lower_is_ascii_only),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_phone_e164),
        cmocka_unit_test(test_company_name),
        cmocka_unit_test(test_chains_apply_in_order),
        cmocka_unit_test(test_utf8_sequences_stay_whole),
        cmocka_unit_test(test_names_parse_and_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
