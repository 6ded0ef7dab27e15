/*
 * Crypto helpers on OpenSSL 3 (the only file that includes OpenSSL headers).
 *
 * Ingress computes an HMAC for every request (~80k/s), so fetching an algorithm per call (a locked provider
 * lookup) is too slow: each thread fetches its EVP_MAC / EVP_MD once and keeps one context that is re-initialised
 * per message. A pthread key destructor frees them when a thread exits.
 */
#include "crypto.h"

#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/*
 * The last HMAC key of this thread. Re-initialising with the same key lets OpenSSL reuse the ipad/opad state it
 * already computed (two compression blocks per message saved); secrets are short, longer keys are not cached.
 */
#define KEY_CACHE_MAX 128

static _Thread_local EVP_MAC *hmac_alg;
static _Thread_local EVP_MAC_CTX *hmac_ctx;
static _Thread_local unsigned char hmac_key[KEY_CACHE_MAX];
static _Thread_local size_t hmac_key_len;
static _Thread_local int hmac_keyed; /* hmac_key holds the key hmac_ctx was last initialised with */

static _Thread_local EVP_MD *sha256_alg;
static _Thread_local EVP_MD_CTX *sha256_ctx;

static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static int exit_key_ok;

/* Runs in the exiting thread, whose thread-local variables are still valid. */
static void on_thread_exit(void *unused)
{
    EVP_MAC_CTX_free(hmac_ctx);
    hmac_ctx = NULL;
    EVP_MAC_free(hmac_alg);
    hmac_alg = NULL;
    hmac_keyed = 0;
    OPENSSL_cleanse(hmac_key, sizeof(hmac_key));
    EVP_MD_CTX_free(sha256_ctx);
    sha256_ctx = NULL;
    EVP_MD_free(sha256_alg);
    sha256_alg = NULL;
}

static void create_exit_key(void)
{
    exit_key_ok = pthread_key_create(&exit_key, on_thread_exit) == 0;
}

/* Arms on_thread_exit for this thread (a key destructor only runs for a non-NULL value). */
static void free_at_thread_exit(void)
{
    pthread_once(&exit_key_once, create_exit_key);
    if (exit_key_ok && pthread_getspecific(exit_key) == NULL)
        pthread_setspecific(exit_key, &exit_key);
}

static int hmac_thread_init(void)
{
    if (hmac_ctx != NULL)
        return 0;
    free_at_thread_exit();
    if (hmac_alg == NULL && (hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
        return SY_EIO;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_alg);
    if (ctx == NULL)
        return SY_EIO;
    /* The digest is set once here so that the per-message init only passes the key. */
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return SY_EIO;
    }
    hmac_ctx = ctx;
    hmac_keyed = 0;
    return 0;
}

int sy_hmac_sha256(sy_slice_t key, const sy_slice_t *parts, size_t n, unsigned char out[SY_SHA256_LEN])
{
    int rc;
    if ((rc = hmac_thread_init()) != 0)
        return rc;

    int ok;
    if (hmac_keyed && key.len == hmac_key_len && CRYPTO_memcmp(key.base, hmac_key, key.len) == 0) {
        /* Same key as last time: a NULL key resets the context keeping its precomputed key state. */
        ok = EVP_MAC_init(hmac_ctx, NULL, 0, NULL);
    } else {
        /* Never pass a NULL key for a new key: OpenSSL would silently keep the previous one. */
        static const unsigned char empty[1];
        ok = EVP_MAC_init(hmac_ctx, key.len != 0 ? (const unsigned char *)key.base : empty, key.len, NULL);
        hmac_keyed = 0;
        OPENSSL_cleanse(hmac_key, sizeof(hmac_key));
        if (ok == 1 && key.len <= KEY_CACHE_MAX) {
            if (key.len != 0)
                memcpy(hmac_key, key.base, key.len);
            hmac_key_len = key.len;
            hmac_keyed = 1;
        }
    }
    if (ok != 1)
        goto Error;
    for (size_t i = 0; i != n; ++i) {
        if (parts[i].len != 0 && EVP_MAC_update(hmac_ctx, (const unsigned char *)parts[i].base, parts[i].len) != 1)
            goto Error;
    }
    size_t outlen = 0;
    if (EVP_MAC_final(hmac_ctx, out, &outlen, SY_SHA256_LEN) != 1 || outlen != SY_SHA256_LEN)
        goto Error;
    return 0;

Error:
    /* The context may be half-updated: rebuild it on the next call rather than trust its state. */
    EVP_MAC_CTX_free(hmac_ctx);
    hmac_ctx = NULL;
    hmac_keyed = 0;
    OPENSSL_cleanse(hmac_key, sizeof(hmac_key));
    return SY_EIO;
}

int sy_hmac_sha1(sy_slice_t key, const sy_slice_t *parts, size_t n, unsigned char out[SY_SHA1_LEN])
{
    static const unsigned char empty[1];
    char digest[] = "SHA1";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    size_t outlen = 0;
    int rc = SY_EIO;
    if (ctx == NULL ||
        EVP_MAC_init(ctx, key.len != 0 ? (const unsigned char *)key.base : empty, key.len, params) != 1)
        goto Exit;
    for (size_t i = 0; i != n; ++i)
        if (parts[i].len != 0 && EVP_MAC_update(ctx, (const unsigned char *)parts[i].base, parts[i].len) != 1)
            goto Exit;
    if (EVP_MAC_final(ctx, out, &outlen, SY_SHA1_LEN) == 1 && outlen == SY_SHA1_LEN)
        rc = 0;
Exit:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

int sy_sha256(const sy_slice_t *parts, size_t n, unsigned char out[SY_SHA256_LEN])
{
    if (sha256_ctx == NULL)
        free_at_thread_exit();
    if (sha256_alg == NULL && (sha256_alg = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
        return SY_EIO;
    if (sha256_ctx == NULL && (sha256_ctx = EVP_MD_CTX_new()) == NULL)
        return SY_EIO;
    if (EVP_DigestInit_ex2(sha256_ctx, sha256_alg, NULL) != 1)
        return SY_EIO;
    for (size_t i = 0; i != n; ++i) {
        if (parts[i].len != 0 && EVP_DigestUpdate(sha256_ctx, parts[i].base, parts[i].len) != 1)
            return SY_EIO;
    }
    unsigned int outlen = 0;
    if (EVP_DigestFinal_ex(sha256_ctx, out, &outlen) != 1 || outlen != SY_SHA256_LEN)
        return SY_EIO;
    return 0;
}

int sy_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return 0;
    if (alen == 0)
        return 1;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

void sy_hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i != len; ++i) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

int sy_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long sy_hex_decode(const char *in, size_t len, unsigned char *out, size_t outcap)
{
    if (len % 2 != 0 || len / 2 > outcap || len / 2 > LONG_MAX)
        return -1;
    for (size_t i = 0; i != len / 2; ++i) {
        int hi = sy_hex_digit((unsigned char)in[2 * i]), lo = sy_hex_digit((unsigned char)in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return (long)(len / 2);
}

static const char b64_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sy_base64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (; len - i >= 3; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_digits[v >> 18];
        out[o++] = b64_digits[(v >> 12) & 63];
        out[o++] = b64_digits[(v >> 6) & 63];
        out[o++] = b64_digits[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64_digits[v >> 18];
        out[o++] = b64_digits[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_digits[v >> 18];
        out[o++] = b64_digits[(v >> 12) & 63];
        out[o++] = b64_digits[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Strict: padded to a multiple of 4, '=' only at the end, no whitespace, and the unused bits of the last
 * symbol must be zero, so every byte string has exactly one accepted encoding.
 */
long sy_base64_decode(const char *in, size_t len, unsigned char *out, size_t outcap)
{
    if (len % 4 != 0)
        return -1;
    size_t pad = 0;
    if (len != 0 && in[len - 1] == '=')
        pad = (len >= 2 && in[len - 2] == '=') ? 2 : 1;
    size_t outlen = len / 4 * 3 - pad;
    if (outlen > outcap || outlen > LONG_MAX)
        return -1;

    size_t o = 0;
    for (size_t i = 0; i != len; i += 4) {
        int last = i + 4 == len;
        int v[4];
        for (size_t k = 0; k != 4; ++k) {
            if (last && k >= 4 - pad) {
                v[k] = 0;
                continue;
            }
            if ((v[k] = b64_value((unsigned char)in[i + k])) < 0)
                return -1;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if (last && pad == 2 && (w & 0xffff) != 0)
            return -1;
        if (last && pad == 1 && (w & 0xff) != 0)
            return -1;
        out[o++] = (unsigned char)(w >> 16);
        if (!(last && pad == 2))
            out[o++] = (unsigned char)(w >> 8);
        if (!(last && pad >= 1))
            out[o++] = (unsigned char)w;
    }
    return (long)o;
}

int sy_random_bytes(void *buf, size_t len)
{
    while (len != 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(buf, chunk) != 1)
            return SY_EIO;
        buf = (unsigned char *)buf + chunk;
        len -= (size_t)chunk;
    }
    return 0;
}

/* --- TLS for the listeners ------------------------------------------------------------------------------------- */

/* ALPN: take HTTP/1.1 (and h2 only when allowed) from what the client offers. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in, unsigned inlen,
                   void *arg)
{
    static const unsigned char h1[] = "\x08http/1.1", both[] = "\x02h2\x08http/1.1";
    const unsigned char *ours = arg != NULL ? both : h1;
    unsigned ourslen = arg != NULL ? sizeof(both) - 1 : sizeof(h1) - 1;
    if (SSL_select_next_proto((unsigned char **)out, outlen, ours, ourslen, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    return SSL_TLSEXT_ERR_OK;
}

void *sy_tls_server_ctx(const char *cert_file, const char *key_file, int http2, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        char reason[256];
        ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
        snprintf(err, errlen, "TLS certificate %s / key %s: %s", cert_file, key_file, reason);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, http2 ? (void *)1 : NULL);
    return ctx;
}

void sy_tls_ctx_free(void *ctx)
{
    SSL_CTX_free(ctx);
}
