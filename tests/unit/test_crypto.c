/* Unit tests for hub/base/crypto.c: RFC 4231 HMAC-SHA256 vectors, SHA-256, hex and base64. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"

static void hex_of(const unsigned char *d, size_t len, char *out)
{
    sy_hex_encode(d, len, out);
}

static void check_hmac(sy_slice_t key, sy_slice_t msg, const char *expected_hex)
{
    unsigned char mac[SY_SHA256_LEN];
    char hex[2 * SY_SHA256_LEN + 1];
    assert_int_equal(sy_hmac_sha256(key, &msg, 1, mac), 0);
    hex_of(mac, sizeof(mac), hex);
    assert_string_equal(hex, expected_hex);
}

/* RFC 4231 section 4 test cases 1, 2, 3, 4, 6, 7 (case 5 is a truncated output). */
static void test_hmac_rfc4231(void **state)
{
    unsigned char k0b[20], kaa20[20], k0119[25], kaa131[131], ddd[50], dcd[50];
    memset(k0b, 0x0b, sizeof(k0b));
    memset(kaa20, 0xaa, sizeof(kaa20));
    for (size_t i = 0; i != sizeof(k0119); ++i)
        k0119[i] = (unsigned char)(i + 1);
    memset(kaa131, 0xaa, sizeof(kaa131));
    memset(ddd, 0xdd, sizeof(ddd));
    memset(dcd, 0xcd, sizeof(dcd));

    check_hmac((sy_slice_t){(char *)k0b, 20}, SY_SLICE_LIT("Hi There"),
               "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    check_hmac(SY_SLICE_LIT("Jefe"), SY_SLICE_LIT("what do ya want for nothing?"),
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    check_hmac((sy_slice_t){(char *)kaa20, 20}, (sy_slice_t){(char *)ddd, 50},
               "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    check_hmac((sy_slice_t){(char *)k0119, 25}, (sy_slice_t){(char *)dcd, 50},
               "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    check_hmac((sy_slice_t){(char *)kaa131, 131}, SY_SLICE_LIT("Test Using Larger Than Block-Size Key - Hash Key First"),
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    check_hmac((sy_slice_t){(char *)kaa131, 131},
               SY_SLICE_LIT("This is a test using a larger than block-size key and a larger than block-size data. The key needs "
                            "to be hashed before being used by the HMAC algorithm."),
               "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* The per-thread context caches the last key: alternating keys and repeating one must not mix states. */
static void test_hmac_key_cache(void **state)
{
    for (int round = 0; round != 3; ++round) {
        check_hmac(SY_SLICE_LIT("Jefe"), SY_SLICE_LIT("what do ya want for nothing?"),
                   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        check_hmac(SY_SLICE_LIT("Jefe"), SY_SLICE_LIT("what do ya want for nothing?"),
                   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        /* printf 'Hi There' | openssl dgst -sha256 -hmac Jeff */
        check_hmac(SY_SLICE_LIT("Jeff"), SY_SLICE_LIT("Hi There"),
                   "66cd88d80857e7e5ffb32f87ae505357e8922c58a5a64c0ab44c4e631d626ba2");
    }
    /* Same buffer, new contents (a reloaded secret): the cache compares bytes, not addresses. */
    char key[] = "Jefe";
    /* printf 'Hi There' | openssl dgst -sha256 -hmac Jefe */
    check_hmac((sy_slice_t){key, 4}, SY_SLICE_LIT("Hi There"), "6bfb115ca30df3be0dfdffe79a51cbee88186db55acc287af148d7ff6220f92e");
    key[3] = 'f';
    check_hmac((sy_slice_t){key, 4}, SY_SLICE_LIT("Hi There"), "66cd88d80857e7e5ffb32f87ae505357e8922c58a5a64c0ab44c4e631d626ba2");
    /* printf '' | openssl dgst -sha256 -hmac '' */
    check_hmac((sy_slice_t){"", 0}, (sy_slice_t){"", 0}, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

/* Parts are hashed as their concatenation, whatever the split. */
static void test_hmac_parts(void **state)
{
    sy_slice_t parts[] = {SY_SLICE_LIT("what do "), SY_SLICE_LIT(""), SY_SLICE_LIT("ya want"), SY_SLICE_LIT(" for nothing?")};
    unsigned char mac[SY_SHA256_LEN];
    char hex[2 * SY_SHA256_LEN + 1];
    assert_int_equal(sy_hmac_sha256(SY_SLICE_LIT("Jefe"), parts, 4, mac), 0);
    hex_of(mac, sizeof(mac), hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* Each thread has its own cached context: threads hashing with different keys must not see each other's key. */
static void *hmac_worker(void *arg)
{
    static const char *keys[] = {"Jefe", "Jeff"};
    static const char *expect[] = {"6bfb115ca30df3be0dfdffe79a51cbee88186db55acc287af148d7ff6220f92e",
                                   "66cd88d80857e7e5ffb32f87ae505357e8922c58a5a64c0ab44c4e631d626ba2"};
    size_t id = (size_t)(uintptr_t)arg, failures = 0;
    sy_slice_t msg = SY_SLICE_LIT("Hi There");
    for (size_t i = 0; i != 2000; ++i) {
        size_t k = (i / (id + 1) + id) % 2;
        unsigned char mac[SY_SHA256_LEN];
        char hex[2 * SY_SHA256_LEN + 1];
        if (sy_hmac_sha256(sy_slice_cstr(keys[k]), &msg, 1, mac) != 0) {
            ++failures;
            continue;
        }
        sy_hex_encode(mac, sizeof(mac), hex);
        failures += strcmp(hex, expect[k]) != 0;
    }
    /* SHA-256 has its own per-thread context, freed at thread exit like the HMAC one (LeakSanitizer checks). */
    unsigned char d[SY_SHA256_LEN];
    failures += sy_sha256(&msg, 1, d) != 0;
    return (void *)(uintptr_t)failures;
}

static void test_hmac_threads(void **state)
{
    pthread_t th[4];
    for (size_t i = 0; i != 4; ++i)
        assert_int_equal(pthread_create(&th[i], NULL, hmac_worker, (void *)(uintptr_t)i), 0);
    for (size_t i = 0; i != 4; ++i) {
        void *failures;
        assert_int_equal(pthread_join(th[i], &failures), 0);
        assert_int_equal((uintptr_t)failures, 0);
    }
}

static void test_sha256(void **state)
{
    unsigned char d[SY_SHA256_LEN];
    char hex[2 * SY_SHA256_LEN + 1];
    sy_slice_t abc[] = {SY_SLICE_LIT("a"), SY_SLICE_LIT("bc")};
    assert_int_equal(sy_sha256(abc, 2, d), 0);
    hex_of(d, sizeof(d), hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(sy_sha256(NULL, 0, d), 0);
    hex_of(d, sizeof(d), hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_ct_equal(void **state)
{
    assert_true(sy_ct_equal("abc", 3, "abc", 3));
    assert_false(sy_ct_equal("abc", 3, "abd", 3));
    assert_false(sy_ct_equal("abc", 3, "abcd", 4));
    assert_false(sy_ct_equal("abc", 3, "ab", 2));
    assert_true(sy_ct_equal("", 0, "x", 0));
    assert_false(sy_ct_equal("", 0, "x", 1));
}

static void test_hex(void **state)
{
    unsigned char all[256], back[256];
    char hex[513];
    for (int i = 0; i != 256; ++i)
        all[i] = (unsigned char)i;
    sy_hex_encode(all, 256, hex);
    assert_int_equal(strlen(hex), 512);
    assert_memory_equal(hex, "000102", 6);
    assert_memory_equal(hex + 506, "fdfeff", 6);
    assert_int_equal(sy_hex_decode(hex, 512, back, sizeof(back)), 256);
    assert_memory_equal(all, back, 256);

    unsigned char out[4];
    assert_int_equal(sy_hex_decode("DEADbeef", 8, out, 4), 4);
    assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
    assert_int_equal(sy_hex_decode("", 0, out, 4), 0);
    assert_int_equal(sy_hex_decode("abc", 3, out, 4), -1);         /* odd length */
    assert_int_equal(sy_hex_decode("zz", 2, out, 4), -1);          /* not hex */
    assert_int_equal(sy_hex_decode("0g", 2, out, 4), -1);          /* not hex, low nibble */
    assert_int_equal(sy_hex_decode(" 00", 3, out, 4), -1);         /* whitespace */
    assert_int_equal(sy_hex_decode("0011223344", 10, out, 4), -1); /* overflow of outcap */
    char nul[] = {'0', '\0'};
    assert_int_equal(sy_hex_decode(nul, 2, out, 4), -1);
}

static void check_b64(const char *raw, size_t rawlen, const char *enc)
{
    char out[64];
    unsigned char back[64];
    assert_int_equal(sy_base64_encode((const unsigned char *)raw, rawlen, out), strlen(enc));
    assert_string_equal(out, enc);
    assert_int_equal(sy_base64_decode(enc, strlen(enc), back, sizeof(back)), (long)rawlen);
    assert_memory_equal(back, raw, rawlen);
}

static void test_base64(void **state)
{
    /* RFC 4648 section 10 */
    check_b64("", 0, "");
    check_b64("f", 1, "Zg==");
    check_b64("fo", 2, "Zm8=");
    check_b64("foo", 3, "Zm9v");
    check_b64("foob", 4, "Zm9vYg==");
    check_b64("fooba", 5, "Zm9vYmE=");
    check_b64("foobar", 6, "Zm9vYmFy");
    check_b64("\xfb\xff\xbf", 3, "+/+/");

    unsigned char all[256], back[256];
    char enc[4 * ((256 + 2) / 3) + 1];
    for (int i = 0; i != 256; ++i)
        all[i] = (unsigned char)(255 - i);
    for (size_t n = 0; n <= 256; n += 37) {
        size_t len = sy_base64_encode(all, n, enc);
        assert_int_equal(len, 4 * ((n + 2) / 3));
        assert_int_equal(sy_base64_decode(enc, len, back, sizeof(back)), (long)n);
        assert_memory_equal(all, back, n);
    }

    unsigned char out[8];
    assert_int_equal(sy_base64_decode("Zg=", 3, out, 8), -1);      /* not a multiple of 4 */
    assert_int_equal(sy_base64_decode("Zg", 2, out, 8), -1);       /* unpadded */
    assert_int_equal(sy_base64_decode("Z===", 4, out, 8), -1);     /* three pads */
    assert_int_equal(sy_base64_decode("Zg==Zg==", 8, out, 8), -1); /* padding in the middle */
    assert_int_equal(sy_base64_decode("Zm9v!mFy", 8, out, 8), -1); /* bad symbol */
    assert_int_equal(sy_base64_decode("Zm9v YmF", 8, out, 8), -1); /* whitespace */
    assert_int_equal(sy_base64_decode("Zh==", 4, out, 8), -1);     /* non-zero unused bits */
    assert_int_equal(sy_base64_decode("Zm9=", 4, out, 8), -1);     /* non-zero unused bits */
    assert_int_equal(sy_base64_decode("Zm9vYmFy", 8, out, 5), -1); /* overflow of outcap */
    assert_int_equal(sy_base64_decode("Zm9vYmFy", 8, out, 6), 6);  /* exact fit */
    assert_int_equal(sy_base64_decode("Zm9vYg==", 8, out, 4), 4);  /* padding does not count */
}

static void test_random(void **state)
{
    unsigned char a[32] = {0}, b[32] = {0}, zero[32] = {0};
    assert_int_equal(sy_random_bytes(a, sizeof(a)), 0);
    assert_int_equal(sy_random_bytes(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, zero, sizeof(a));
    assert_int_equal(sy_random_bytes(a, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231), cmocka_unit_test(test_hmac_key_cache), cmocka_unit_test(test_hmac_parts),
        cmocka_unit_test(test_hmac_threads), cmocka_unit_test(test_sha256),         cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_hex),          cmocka_unit_test(test_base64),         cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
