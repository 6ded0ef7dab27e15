/*
 * Crypto helpers: the only module that includes OpenSSL.
 * All functions are thread-safe (contexts are per call or per thread).
 */
#ifndef SY_CRYPTO_H
#define SY_CRYPTO_H

#include "common.h"

#define SY_SHA256_LEN 32

/* HMAC-SHA256 of the concatenation of the n parts, keyed by key. Returns 0 or SY_EIO. */
int sy_hmac_sha256(sy_slice_t key, const sy_slice_t *parts, size_t n, unsigned char out[SY_SHA256_LEN]);
/* HMAC-SHA1 of the concatenation of the n parts (Intercom signs with it). A context per call: not a hot path. */
#define SY_SHA1_LEN 20
int sy_hmac_sha1(sy_slice_t key, const sy_slice_t *parts, size_t n, unsigned char out[SY_SHA1_LEN]);
/* SHA-256 of the concatenation of the n parts. */
int sy_sha256(const sy_slice_t *parts, size_t n, unsigned char out[SY_SHA256_LEN]);

/* Constant-time equality of two byte ranges (length compared first; the length is not secret). */
int sy_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Lower-case hex; out must hold 2*len+1 bytes (NUL-terminated). */
void sy_hex_encode(const unsigned char *in, size_t len, char *out);
/* Value of one hex digit (either case), or -1. */
int sy_hex_digit(int c);
/* Decodes hex (either case). Returns decoded length, or -1 on bad input or if it would exceed outcap. */
long sy_hex_decode(const char *in, size_t len, unsigned char *out, size_t outcap);
/* Standard base64 with padding; out must hold 4*((len+2)/3)+1 bytes. Returns the length written. */
size_t sy_base64_encode(const unsigned char *in, size_t len, char *out);
/* Returns decoded length, or -1 on bad input or overflow of outcap. */
long sy_base64_decode(const char *in, size_t len, unsigned char *out, size_t outcap);

/*
 * A TLS server context (an SSL_CTX *, opaque here) for a listener: TLS 1.2 or newer, the certificate chain and key
 * from PEM files, ALPN limited to HTTP/1.1 unless http2. NULL with err filled on failure. Free with sy_tls_ctx_free.
 */
void *sy_tls_server_ctx(const char *cert_file, const char *key_file, int http2, char *err, size_t errlen);
void sy_tls_ctx_free(void *ctx);

/* Cryptographically random bytes. */
int sy_random_bytes(void *buf, size_t len);

#endif
