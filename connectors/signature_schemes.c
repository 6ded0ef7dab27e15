#include "signature_schemes.h"

#include <string.h>

#include "connectors_builtin.h"
#include "crypto.h"

#define MAX_DIGEST 32           /* SHA-256 */
#define MAX_SIGNATURES 8        /* Standard Webhooks entries looked at (rotation sends two or three) */
#define TIMESTAMP_MAX_DIGITS 12 /* Unix seconds; more digits is not a time */

const sy_body_mac_scheme_t sy_scheme_github = {"X-Hub-Signature-256", "sha256=", SY_MAC_HMAC_SHA256, SY_MAC_HEX};
const sy_body_mac_scheme_t sy_scheme_intercom = {"X-Hub-Signature", "sha1=", SY_MAC_HMAC_SHA1, SY_MAC_HEX};
const sy_body_mac_scheme_t sy_scheme_shopify = {"X-Shopify-Hmac-Sha256", "", SY_MAC_HMAC_SHA256, SY_MAC_BASE64};
const sy_body_mac_scheme_t sy_scheme_quickbooks = {"intuit-signature", "", SY_MAC_HMAC_SHA256, SY_MAC_BASE64};

static size_t usable_secrets(const sy_source_verify_t *conf)
{
    size_t n = 0;
    for (size_t i = 0; i != conf->num_secrets && i != SY_MAX_SECRETS; ++i)
        n += conf->secrets[i].len != 0;
    return n;
}

/* The header that must appear once: its value, or why not. */
static sy_verify_result_t single_header(const sy_request_view_t *req, const char *name, sy_slice_t *value)
{
    const sy_header_t *h = sy_request_header(req, name);
    if (h == NULL)
        return SY_VERIFY_MISSING_HEADER;
    if (h == SY_HEADER_REPEATED)
        return SY_VERIFY_MALFORMED_HEADER;
    *value = sy_connector_trim(h->value);
    return SY_VERIFY_OK;
}

static int mac(sy_mac_alg_t alg, sy_slice_t key, const sy_slice_t *parts, size_t n, unsigned char *out, size_t *len)
{
    if (alg == SY_MAC_HMAC_SHA1) {
        *len = SY_SHA1_LEN;
        return sy_hmac_sha1(key, parts, n, out);
    }
    *len = SY_SHA256_LEN;
    return sy_hmac_sha256(key, parts, n, out);
}

sy_verify_result_t sy_verify_body_mac(const sy_body_mac_scheme_t *scheme, const sy_source_verify_t *conf,
                                      const sy_request_view_t *req)
{
    sy_slice_t v;
    sy_verify_result_t r;
    if (usable_secrets(conf) == 0)
        return SY_VERIFY_NO_SECRET;
    if ((r = single_header(req, scheme->header, &v)) != SY_VERIFY_OK)
        return r;
    size_t plen = strlen(scheme->prefix);
    if (v.len < plen || memcmp(v.base, scheme->prefix, plen) != 0)
        /* "sha1=…" where "sha256=" is expected: another scheme, not a broken header */
        return plen != 0 && memchr(v.base, '=', v.len) != NULL ? SY_VERIFY_NO_SIGNATURE : SY_VERIFY_MALFORMED_HEADER;
    v.base += plen;
    v.len -= plen;

    unsigned char sent[MAX_DIGEST + 1], want[MAX_DIGEST];
    size_t want_len = scheme->alg == SY_MAC_HMAC_SHA1 ? SY_SHA1_LEN : SY_SHA256_LEN;
    long sent_len = scheme->encoding == SY_MAC_HEX ? sy_hex_decode(v.base, v.len, sent, sizeof(sent))
                                                   : sy_base64_decode(v.base, v.len, sent, sizeof(sent));
    if (sent_len != (long)want_len)
        return SY_VERIFY_MALFORMED_HEADER;

    sy_slice_t body = req->body;
    for (size_t i = 0; i != conf->num_secrets && i != SY_MAX_SECRETS; ++i) {
        size_t len;
        if (conf->secrets[i].len == 0 || mac(scheme->alg, conf->secrets[i], &body, 1, want, &len) != 0)
            continue;
        if (sy_ct_equal(want, len, sent, (size_t)sent_len))
            return SY_VERIFY_OK;
    }
    return SY_VERIFY_MISMATCH;
}

/* The key bytes of a Standard Webhooks secret: base64 after "whsec_", else the secret as it is. 0 if unusable. */
static size_t standard_key(sy_slice_t secret, unsigned char *out, size_t cap)
{
    static const char prefix[] = "whsec_";
    if (secret.len < sizeof(prefix) - 1 || memcmp(secret.base, prefix, sizeof(prefix) - 1) != 0) {
        if (secret.len > cap)
            return 0;
        memcpy(out, secret.base, secret.len);
        return secret.len;
    }
    long n = sy_base64_decode(secret.base + sizeof(prefix) - 1, secret.len - (sizeof(prefix) - 1), out, cap);
    return n > 0 ? (size_t)n : 0;
}

sy_verify_result_t sy_verify_standard_webhooks(const sy_source_verify_t *conf, const sy_request_view_t *req)
{
    sy_slice_t id, ts, sig, v1[MAX_SIGNATURES];
    size_t num_v1 = 0;
    int64_t t_sec;
    sy_verify_result_t r;
    if (usable_secrets(conf) == 0)
        return SY_VERIFY_NO_SECRET;
    if ((r = single_header(req, "webhook-id", &id)) != SY_VERIFY_OK ||
        (r = single_header(req, "webhook-timestamp", &ts)) != SY_VERIFY_OK ||
        (r = single_header(req, "webhook-signature", &sig)) != SY_VERIFY_OK)
        return r;
    if (id.len == 0 || sy_connector_parse_uint(ts, TIMESTAMP_MAX_DIGITS, &t_sec) != 0)
        return SY_VERIFY_MALFORMED_HEADER;

    /* "v1,<base64> v1,<base64> …": other versions (v1a: asymmetric) are not ours to accept. */
    for (const char *p = sig.base, *end = sig.base + sig.len; p < end;) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        sy_slice_t entry = {p, (size_t)((sp != NULL ? sp : end) - p)};
        p = sp != NULL ? sp + 1 : end;
        if (entry.len > 3 && memcmp(entry.base, "v1,", 3) == 0 && num_v1 != MAX_SIGNATURES)
            v1[num_v1++] = (sy_slice_t){entry.base + 3, entry.len - 3};
    }
    if (num_v1 == 0)
        return SY_VERIFY_NO_SIGNATURE;

    /* Before any HMAC: a stale or replayed request costs no crypto. */
    int64_t tolerance = conf->tolerance_ms >= 0 ? conf->tolerance_ms : SY_STANDARD_WEBHOOKS_TOLERANCE_MS;
    int64_t skew = req->now_ms - t_sec * 1000;
    if (skew > tolerance || skew < -tolerance)
        return SY_VERIFY_TIMESTAMP_TOLERANCE;

    /* Compared as base64 text, as the reference libraries do: the expected MAC is encoded, never the sent one
     * decoded, so a sloppy encoding cannot match. */
    sy_slice_t parts[] = {id, SY_SLICE_LIT("."), ts, SY_SLICE_LIT("."), req->body};
    for (size_t i = 0; i != conf->num_secrets && i != SY_MAX_SECRETS; ++i) {
        unsigned char key[256], want[SY_SHA256_LEN];
        char want_b64[4 * ((SY_SHA256_LEN + 2) / 3) + 1];
        size_t klen = conf->secrets[i].len != 0 ? standard_key(conf->secrets[i], key, sizeof(key)) : 0;
        if (klen == 0 || sy_hmac_sha256((sy_slice_t){(const char *)key, klen}, parts, 5, want) != 0)
            continue;
        size_t blen = sy_base64_encode(want, sizeof(want), want_b64);
        for (size_t k = 0; k != num_v1; ++k)
            if (sy_ct_equal(want_b64, blen, v1[k].base, v1[k].len))
                return SY_VERIFY_OK;
    }
    return SY_VERIFY_MISMATCH;
}
