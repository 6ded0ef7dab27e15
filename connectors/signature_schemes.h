/*
 * Webhook signature schemes that several providers share, for their connectors' verify (connector.h): the
 * connector names its header, prefix and encoding; the checks, their order and their answers are the same for all.
 *
 * Body MAC (no timestamp in the signature: a replay is caught by the dedupe on the provider's event id):
 *   GitHub      X-Hub-Signature-256: sha256=<hex>   HMAC-SHA256(secret, body)
 *   Intercom    X-Hub-Signature: sha1=<hex>         HMAC-SHA1(client secret, body)
 *   Shopify     X-Shopify-Hmac-Sha256: <base64>     HMAC-SHA256(app secret, body)
 *   QuickBooks  intuit-signature: <base64>          HMAC-SHA256(verifier token, body)
 * Standard Webhooks (standardwebhooks.com; Svix, the Google Sheets script of issue 12): webhook-id,
 * webhook-timestamp (Unix seconds, within the source's tolerance), webhook-signature "v1,<base64>" entries separated
 * by spaces (several during a key rotation); the signed content is "<id>.<timestamp>.<body>" and the key is the
 * base64 after "whsec_" (a secret without that prefix is used as raw bytes).
 *
 * Every configured secret is tried (rotation); comparisons are constant time; a repeated signature header is
 * malformed. Used by the github, shopify, standard_webhooks and google_sheets connectors (their ids and types
 * come from headers: header_event.h); tested against the providers' published vectors.
 */
#ifndef SY_SIGNATURE_SCHEMES_H
#define SY_SIGNATURE_SCHEMES_H

#include "connector.h"

typedef enum en_sy_mac_alg_t { SY_MAC_HMAC_SHA1, SY_MAC_HMAC_SHA256 } sy_mac_alg_t;
typedef enum en_sy_mac_encoding_t { SY_MAC_HEX, SY_MAC_BASE64 } sy_mac_encoding_t;

typedef struct st_sy_body_mac_scheme_t {
    const char *header; /* e.g. "X-Hub-Signature-256" */
    const char *prefix; /* e.g. "sha256=" (matched exactly), or "" */
    sy_mac_alg_t alg;
    sy_mac_encoding_t encoding; /* hex: either case; base64: standard alphabet with padding */
} sy_body_mac_scheme_t;

extern const sy_body_mac_scheme_t sy_scheme_github, sy_scheme_intercom, sy_scheme_shopify, sy_scheme_quickbooks;

sy_verify_result_t sy_verify_body_mac(const sy_body_mac_scheme_t *scheme, const sy_source_verify_t *conf,
                                      const sy_request_view_t *req);

/* Default tolerance of Standard Webhooks' reference libraries: 5 minutes either way. */
#define SY_STANDARD_WEBHOOKS_TOLERANCE_MS (5 * 60 * 1000)
sy_verify_result_t sy_verify_standard_webhooks(const sy_source_verify_t *conf, const sy_request_view_t *req);

#endif
