#!/usr/bin/env python3
"""Writes the recorded connector cases of tests/data/<kind>/ whose signatures are computed here, with Python's
hmac and hashlib: independently of the C code they test. Run it again after changing a case below; the files are
committed, the tests only read them. Usage: python3 tests/data/make_cases.py"""
import base64, hashlib, hmac, json, os

HERE = os.path.dirname(os.path.abspath(__file__))


def write(kind, name, head, first, headers, body):
    lines = [f"# {head[0]}"] + [f"{k}: {v}" for k, v in head[1:]]
    lines += ["--- " + ("response" if first[0].isdigit() else "request"), first]
    lines += [f"{k}: {v}" for k, v in headers] + ["", body]
    os.makedirs(os.path.join(HERE, kind), exist_ok=True)
    with open(os.path.join(HERE, kind, name + ".case"), "w") as f:
        f.write("\n".join(lines) + "\n")


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


# --- Stripe: Stripe-Signature t=<unix>,v1=hex(HMAC-SHA256(whole whsec_ secret, "<t>.<body>")) -------------------
T = 1733500000
STRIPE_SECRET = "whsec_test_0123456789"
stripe_body = compact({"id": "evt_1QcaseA", "object": "event", "api_version": "2024-06-20", "created": T,
                       "type": "customer.updated", "data": {"object": {"id": "cus_Case01", "object": "customer",
                                                                       "email": "ana@acme.example"}},
                       "request": {"id": "req_1", "idempotency_key": None}})


def stripe_sig(secret, t, body):
    return hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()


def stripe_case(name, why, body, header, now=T, secrets=(STRIPE_SECRET,), verify="ok", events=(), parse=None):
    head = [why] + [("secret", s) for s in secrets] + [("now_ms", now * 1000), ("verify", verify)]
    head += [("event", e) for e in events] + ([("parse", parse)] if parse else [])
    write("stripe", name, head, "POST /hooks/stripe", [("Content-Type", "application/json")] +
          ([("Stripe-Signature", header)] if header is not None else []), body)


good = f"t={T},v1={stripe_sig(STRIPE_SECRET, T, stripe_body)}"
stripe_case("customer_updated", "A customer.updated event as Stripe signs it (Python hmac).", stripe_body, good,
            events=[f"evt_1QcaseA customer.updated {T * 1000}"])
stripe_case("rotated_secret", "Signed with the new secret of two (rotation): either one verifies.", stripe_body,
            f"t={T},v1={stripe_sig('whsec_new_secret', T, stripe_body)}", secrets=(STRIPE_SECRET, "whsec_new_secret"),
            events=[f"evt_1QcaseA customer.updated {T * 1000}"])
stripe_case("tampered_body", "One byte of the body changed after signing.", stripe_body.replace("ana@", "eve@"), good,
            verify="mismatch")
stripe_case("stale_timestamp", "Signed 301 s before the hub's clock (tolerance 300 s): refused before any HMAC.",
            stripe_body, good, now=T + 301, verify="timestamp_tolerance")
stripe_case("missing_header", "No Stripe-Signature header at all.", stripe_body, None, verify="missing_header")
stripe_case("only_v0", "Only a v0 signature (Stripe's test scheme): never accepted as a fallback.", stripe_body,
            f"t={T},v0={stripe_sig(STRIPE_SECRET, T, stripe_body)}", verify="no_signature")
no_id = compact({"object": "event", "created": T, "type": "customer.updated", "data": {}})
stripe_case("no_event_id", "Correctly signed, but the event has no id: refused whole (400).", no_id,
            f"t={T},v1={stripe_sig(STRIPE_SECRET, T, no_id)}", parse="event has no string id")

write("stripe", "answer_429", ["A rate-limited push: retried after Retry-After, the whole spoke paused.",
                               ("outcome", "retry"), ("retry_after_ms", 2000), ("rate_limited", 1)],
      "429", [("Retry-After", "2"), ("Content-Type", "application/json")],
      compact({"error": {"type": "rate_limit_error", "message": "Too many requests"}}))
write("stripe", "answer_created", ["A create answered 200: the new customer's id is linked.", ("outcome", "done"),
                                   ("created_id", "cus_New01")],
      "200", [("Content-Type", "application/json")], compact({"id": "cus_New01", "object": "customer"}))
write("stripe", "answer_should_not_retry", ["A 500 that Stripe says not to retry: a dead letter.",
                                            ("outcome", "permanent")],
      "500", [("Stripe-Should-Retry", "false")], compact({"error": {"type": "api_error"}}))

# --- HubSpot v3: X-HubSpot-Signature-v3 = base64(HMAC-SHA256(secret, method + URI + body + timestamp_ms)) ------
HS_SECRET = "hubspot-app-secret-0123"
HS_URL = "https://hooks.example.com/hooks/hubspot"
TMS = T * 1000
hs_body = compact([
    {"eventId": 4001, "subscriptionId": 2411005, "portalId": 62515, "appId": 54321, "occurredAt": TMS - 2000,
     "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": 51, "propertyName": "email",
     "propertyValue": "ana@acme.example", "changeSource": "CRM"},
    {"eventId": 4002, "subscriptionId": 2411006, "portalId": 62515, "appId": 54321, "occurredAt": TMS - 1000,
     "subscriptionType": "contact.creation", "attemptNumber": 0, "objectId": 52, "changeFlag": "NEW",
     "changeSource": "CRM"}])


def hs_v3(secret, method, url, body, ts):
    mac = hmac.new(secret.encode(), f"{method}{url}{body}{ts}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def hubspot_case(name, why, body, headers, now=TMS, verify="ok", events=(), options=()):
    head = [why, ("secret", HS_SECRET), ("url", HS_URL), ("now_ms", now)] + [("option", o) for o in options]
    head += [("verify", verify)] + [("event", e) for e in events]
    write("hubspot", name, head, "POST /hooks/hubspot", [("Content-Type", "application/json")] + headers, body)


hs_events = [f"4001 contact.propertyChange {TMS - 2000}", f"4002 contact.creation {TMS - 1000}"]
v3 = [("X-HubSpot-Signature-v3", hs_v3(HS_SECRET, "POST", HS_URL, hs_body, TMS)),
      ("X-HubSpot-Request-Timestamp", str(TMS))]
hubspot_case("v3_batch", "A batch of two events signed with v3 (Python hmac); split into two events.", hs_body, v3,
             events=hs_events)
hubspot_case("v3_stale", "v3 timestamp 5 min + 1 ms old: refused before any HMAC.", hs_body, v3,
             now=TMS + 5 * 60 * 1000 + 1, verify="timestamp_tolerance")
hubspot_case("v3_wrong_secret", "v3 signed with another app's secret.", hs_body,
             [("X-HubSpot-Signature-v3", hs_v3("another-secret", "POST", HS_URL, hs_body, TMS)),
              ("X-HubSpot-Request-Timestamp", str(TMS))], verify="mismatch")
hubspot_case("v3_no_timestamp", "v3 signature without its timestamp header.", hs_body, v3[:1], verify="missing_header")
v1 = hashlib.sha256((HS_SECRET + hs_body).encode()).hexdigest()
hubspot_case("v1_batch", "A legacy v1 app (signature_version 1): SHA-256 of secret + body, hex.", hs_body,
             [("X-HubSpot-Signature", v1), ("X-HubSpot-Signature-Version", "v1")], events=hs_events,
             options=["signature_version 1"])
hubspot_case("v1_header_on_v3_source", "A v1 signature sent to a v3 source: the config chooses, never the request.",
             hs_body, [("X-HubSpot-Signature", v1), ("X-HubSpot-Signature-Version", "v1")], verify="missing_header")

write("hubspot", "answer_429", ["HubSpot's ten-second limit hit: retried after Retry-After, the spoke paused.",
                                ("pushes", 3), ("outcome", "retry"), ("retry_after_ms", 10000),
                                ("rate_limited", 1)],
      "429", [("Retry-After", "10"), ("Content-Type", "application/json")],
      compact({"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
               "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}))
write("hubspot", "answer_400", ["A property HubSpot refuses: a dead letter.", ("outcome", "permanent")],
      "400", [("Content-Type", "application/json")],
      compact({"status": "error", "message": "Property values were not valid", "category": "VALIDATION_ERROR"}))

# --- Intercom: X-Hub-Signature: sha1=hex(HMAC-SHA1(app client secret, body)); no timestamp, replays stop at dedupe --
IC_SECRET = "intercom-client-secret-0123"
IC_NOW = T * 1000
ic_body = compact({"type": "notification_event", "app_id": "abc123de", "id": "notif_0a1b2c3d-4e5f-6789-abcd-ef0123456789",
                   "topic": "contact.user.updated", "created_at": T - 5,
                   "data": {"type": "notification_event_data",
                            "item": {"type": "contact", "id": "6657a1b2c3d4e5f6a7b8c9d0", "role": "user",
                                     "email": "ana@acme.example", "name": "Ana Silva",
                                     "last_replied_at": T - 3600, "last_contacted_at": T - 1800}},
                   "delivery_attempts": 1, "first_sent_at": T - 5})


def ic_sig(secret, body):
    return "sha1=" + hmac.new(secret.encode(), body.encode(), hashlib.sha1).hexdigest()


def intercom_case(name, why, body, header, secrets=(IC_SECRET,), verify="ok", events=(), parse=None, now=IC_NOW):
    head = [why] + [("secret", s) for s in secrets] + [("now_ms", now), ("verify", verify)]
    head += [("event", e) for e in events] + ([("parse", parse)] if parse else [])
    write("intercom", name, head, "POST /hooks/intercom", [("Content-Type", "application/json")] +
          ([("X-Hub-Signature", header)] if header is not None else []), body)


ic_event = [f"notif_0a1b2c3d-4e5f-6789-abcd-ef0123456789 contact.user.updated {(T - 5) * 1000}"]
intercom_case("contact_updated", "A contact.user.updated notification as Intercom signs it (Python hmac, SHA-1).",
              ic_body, ic_sig(IC_SECRET, ic_body), events=ic_event)
intercom_case("replayed_days_later", "The same signed request a week later: still valid (nothing signed is dated); "
              "only the dedupe on its id stops the replay.", ic_body, ic_sig(IC_SECRET, ic_body),
              now=IC_NOW + 7 * 86400 * 1000, events=ic_event)
intercom_case("rotated_secret", "Signed with the new client secret of two (rotation): either one verifies.", ic_body,
              ic_sig("intercom-new-secret", ic_body), secrets=(IC_SECRET, "intercom-new-secret"), events=ic_event)
intercom_case("tampered_body", "One byte of the body changed after signing.", ic_body.replace("ana@", "eve@"),
              ic_sig(IC_SECRET, ic_body), verify="mismatch")
intercom_case("wrong_secret", "Signed with another app's client secret.", ic_body, ic_sig("another-app", ic_body),
              verify="mismatch")
intercom_case("missing_header", "No X-Hub-Signature header at all.", ic_body, None, verify="missing_header")
intercom_case("sha256_prefix", "A sha256= signature (GitHub's scheme) where Intercom signs sha1=: not accepted.",
              ic_body, "sha256=" + hmac.new(IC_SECRET.encode(), ic_body.encode(), hashlib.sha256).hexdigest(),
              verify="no_signature")
ic_conv = compact({"type": "notification_event", "app_id": "abc123de", "id": "notif_conv_closed_1",
                   "topic": "conversation.admin.closed", "created_at": T,
                   "data": {"type": "notification_event_data",
                            "item": {"type": "conversation", "id": "147", "state": "closed", "open": False,
                                     "updated_at": T, "contacts": {"type": "contact.list", "contacts": [
                                         {"type": "contact", "id": "6657a1b2c3d4e5f6a7b8c9d0"}]}}}})
intercom_case("conversation_closed", "A conversation.admin.closed notification (Python hmac).", ic_conv,
              ic_sig(IC_SECRET, ic_conv), events=[f"notif_conv_closed_1 conversation.admin.closed {T * 1000}"])
ic_ping = compact({"type": "notification_event", "id": "notif_ping_1", "topic": "ping",
                   "data": {"item": {"type": "ping", "message": "something something interzen"}}})
intercom_case("ping", "The signed ping Intercom sends when a webhook is saved (no created_at): stored, time 0.",
              ic_ping, ic_sig(IC_SECRET, ic_ping), events=["notif_ping_1 ping 0"])
ic_no_topic = compact({"type": "notification_event", "id": "notif_x", "created_at": T, "data": {"item": {}}})
intercom_case("no_topic", "Correctly signed, but the notification has no topic: refused whole (400).", ic_no_topic,
              ic_sig(IC_SECRET, ic_no_topic), parse="notification has no string topic")

write("intercom", "answer_updated", ["A PUT /contacts/{id} answered 200 with the contact: done, its id kept.",
                                     ("outcome", "done"), ("created_id", "6657a1b2c3d4e5f6a7b8c9d0")],
      "200", [("Content-Type", "application/json"), ("X-RateLimit-Limit", "1666"), ("X-RateLimit-Remaining", "1665")],
      compact({"type": "contact", "id": "6657a1b2c3d4e5f6a7b8c9d0", "role": "user", "email": "ana@acme.example"}))
write("intercom", "answer_search_found", ["POST /contacts/search found one contact: its id is linked, then updated.",
                                          ("outcome", "found"), ("created_id", "6657a1b2c3d4e5f6a7b8c9d0")],
      "200", [("Content-Type", "application/json")],
      compact({"type": "list", "data": [{"type": "contact", "id": "6657a1b2c3d4e5f6a7b8c9d0",
                                         "email": "ana@acme.example"}], "total_count": 1,
               "pages": {"type": "pages", "page": 1, "per_page": 50, "total_pages": 1}}))
write("intercom", "answer_search_empty", ["POST /contacts/search found nothing: a create comes next.",
                                          ("outcome", "not_found")],
      "200", [("Content-Type", "application/json")],
      compact({"type": "list", "data": [], "total_count": 0,
               "pages": {"type": "pages", "page": 1, "per_page": 50, "total_pages": 0}}))
write("intercom", "answer_429", ["Over the 10-second window: retried after Retry-After, the whole spoke paused.",
                                 ("outcome", "retry"), ("retry_after_ms", 7000), ("rate_limited", 1)],
      "429", [("Retry-After", "7"), ("X-RateLimit-Limit", "1666"), ("X-RateLimit-Remaining", "0"),
              ("Content-Type", "application/json")],
      compact({"type": "error.list", "request_id": "req_1",
               "errors": [{"code": "rate_limit_exceeded", "message": "Exceeded rate limit of 1666 in 10 seconds"}]}))
write("intercom", "answer_409_conflict", ["The email belongs to another Intercom contact: a link conflict, a dead "
                                          "letter for an admin (no retry can fix it).", ("outcome", "permanent")],
      "409", [("Content-Type", "application/json")],
      compact({"type": "error.list", "request_id": "req_2",
               "errors": [{"code": "conflict",
                           "message": "A contact matching those details already exists with id=5f8a1b2c3d4e5f6a7b8c9d0e"}]}))
write("intercom", "answer_404", ["PUT of a contact Intercom no longer has: a dead letter.", ("outcome", "permanent")],
      "404", [("Content-Type", "application/json")],
      compact({"type": "error.list", "request_id": "req_3",
               "errors": [{"code": "not_found", "message": "User Not Found"}]}))
write("intercom", "answer_503", ["Intercom unavailable: retried with backoff.", ("outcome", "retry")],
      "503", [("Content-Type", "application/json")],
      compact({"type": "error.list", "errors": [{"code": "service_unavailable", "message": "Service Unavailable"}]}))
# --- Standard Webhooks: webhook-signature v1,base64(HMAC-SHA256(base64-decoded key after whsec_, "id.ts.body")) ---
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the spec's reference vector secret
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"


def sw_sig(secret, msg_id, ts, body):
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def sw_headers(msg_id, ts, sig):
    return [("webhook-id", msg_id), ("webhook-timestamp", str(ts)), ("webhook-signature", sig)]


def sw_case(kind, name, why, body, headers, now, verify="ok", events=(), parse=None, secrets=(SW_SECRET,),
            options=()):
    head = [why] + [("secret", s) for s in secrets] + [("now_ms", now * 1000)] + [("option", o) for o in options]
    head += [("verify", verify)] + [("event", e) for e in events] + ([("parse", parse)] if parse else [])
    write(kind, name, head, f"POST /hooks/{kind}", [("Content-Type", "application/json")] + headers, body)


REF_TS, REF_BODY = 1614265330, '{"test": 2432232314}'
sw_case("standard_webhooks", "reference_vector",
        "The spec's published vector verifies (v1,g0hM9SsE...); its body has no type member, so parse refuses it.",
        REF_BODY, sw_headers(SW_ID, REF_TS, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), REF_TS,
        parse="event has no type member")
sw_body = compact({"type": "contact.updated", "timestamp": "2024-12-06T15:46:40Z",
                   "data": {"id": "ct_Case01", "email": "ana@acme.example", "name": "Ana"}})
sw_good = sw_headers(SW_ID, T, sw_sig(SW_SECRET, SW_ID, T, sw_body))
sw_case("standard_webhooks", "contact_updated", "A contact.updated payload signed as the spec says (Python hmac).",
        sw_body, sw_good, T, events=[f"{SW_ID} contact.updated {T * 1000}"])
sw_case("standard_webhooks", "rotation_two_signatures",
        "The sender rotates its key: two v1 entries, the second made with our secret.", sw_body,
        sw_headers(SW_ID, T, sw_sig("whsec_" + base64.b64encode(b"the-old-key-0123").decode(), SW_ID, T, sw_body) + " "
                   + sw_sig(SW_SECRET, SW_ID, T, sw_body)), T, events=[f"{SW_ID} contact.updated {T * 1000}"])
sw_case("standard_webhooks", "tampered_body", "One byte of the body changed after signing.",
        sw_body.replace("ana@", "eve@"), sw_good, T, verify="mismatch")
sw_case("standard_webhooks", "wrong_secret", "Signed with another endpoint's secret.", sw_body,
        sw_headers(SW_ID, T, sw_sig("whsec_" + base64.b64encode(b"another-endpoint").decode(), SW_ID, T, sw_body)), T,
        verify="mismatch")
sw_case("standard_webhooks", "replayed_id_changed",
        "A replay that swaps webhook-id (to dodge dedupe): the id is signed, so it no longer verifies.", sw_body,
        sw_headers("msg_another", T, sw_sig(SW_SECRET, SW_ID, T, sw_body)), T, verify="mismatch")
sw_case("standard_webhooks", "stale_timestamp", "Signed 301 s before the hub's clock (tolerance 300 s).", sw_body,
        sw_good, T + 301, verify="timestamp_tolerance")
sw_case("standard_webhooks", "missing_signature", "No webhook-signature header.", sw_body, sw_good[:2], T,
        verify="missing_header")
sw_case("standard_webhooks", "only_v1a", "Only an asymmetric v1a signature: never accepted for a v1 secret.", sw_body,
        sw_headers(SW_ID, T, "v1a,c29tZXRoaW5n"), T, verify="no_signature")
sw_notype = compact({"timestamp": "2024-12-06T15:46:40Z", "data": {}})
sw_case("standard_webhooks", "no_type", "Correctly signed, but the payload has no type: refused whole (400).",
        sw_notype, sw_headers(SW_ID, T, sw_sig(SW_SECRET, SW_ID, T, sw_notype)), T, parse="event has no type member")

# --- GitHub: X-Hub-Signature-256 sha256=hex(HMAC-SHA256(hook secret, body)); ids and types in headers ------------
GH_SECRET = "It's a Secret to Everybody"  # GitHub's documented example secret
GH_DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def gh_sig(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def gh_case(name, why, body, headers, verify="ok", events=(), parse=None, secrets=(GH_SECRET,)):
    head = [why] + [("secret", s) for s in secrets] + [("now_ms", T * 1000), ("verify", verify)]
    head += [("event", e) for e in events] + ([("parse", parse)] if parse else [])
    write("github", name, head, "POST /hooks/github", [("Content-Type", "application/json")] + headers, body)


gh_case("published_vector", "GitHub's documented example (sha256=757107ea...) verifies; 'Hello, World!' is not "
        "JSON, so parse refuses it.", "Hello, World!",
        [("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
         ("X-GitHub-Event", "ping"), ("X-GitHub-Delivery", GH_DELIVERY)], parse="body is not valid JSON")
gh_body = compact({"action": "opened", "issue": {"id": 1347, "number": 1347, "title": "Found a bug",
                                                  "user": {"login": "octocat"}},
                   "repository": {"id": 1296269, "full_name": "octocat/Hello-World"}, "sender": {"login": "octocat"}})
gh_good = [("X-Hub-Signature-256", gh_sig(GH_SECRET, gh_body)), ("X-GitHub-Event", "issues"),
           ("X-GitHub-Delivery", GH_DELIVERY), ("X-GitHub-Hook-ID", "292430182")]
gh_case("issues_opened", "An issues event with action opened (Python hmac): type issues.opened, id the delivery.",
        gh_body, gh_good, events=[f"{GH_DELIVERY} issues.opened 0"])
gh_push = compact({"ref": "refs/heads/main", "commits": [{"id": "6dcb09b", "message": "Fix"}],
                   "repository": {"id": 1296269}})
gh_case("push_no_action", "A push event has no action: its type is the header's alone.", gh_push,
        [("X-Hub-Signature-256", gh_sig(GH_SECRET, gh_push)), ("X-GitHub-Event", "push"),
         ("X-GitHub-Delivery", GH_DELIVERY)], events=[f"{GH_DELIVERY} push 0"])
gh_case("tampered_body", "One byte of the body changed after signing.", gh_body.replace("Found", "Fixed"), gh_good,
        verify="mismatch")
gh_case("wrong_secret", "Signed with another hook's secret.", gh_body,
        [("X-Hub-Signature-256", gh_sig("another hook secret", gh_body))] + gh_good[1:], verify="mismatch")
gh_case("missing_signature", "No X-Hub-Signature-256 (an unsigned hook).", gh_body, gh_good[1:],
        verify="missing_header")
gh_case("legacy_sha1_only", "Only the legacy SHA-1 header: never a fallback.", gh_body,
        [("X-Hub-Signature", "sha1=" + hmac.new(GH_SECRET.encode(), gh_body.encode(), hashlib.sha1).hexdigest())] +
        gh_good[1:], verify="missing_header")
gh_case("no_delivery_id", "Correctly signed but without X-GitHub-Delivery: nothing to dedupe on, refused (400).",
        gh_body, [gh_good[0], gh_good[1]], parse="no X-GitHub-Delivery header")
gh_case("no_event_header", "Correctly signed but without X-GitHub-Event: refused (400).", gh_body,
        [gh_good[0], gh_good[2]], parse="no X-GitHub-Event header")

# --- Shopify: X-Shopify-Hmac-Sha256 base64(HMAC-SHA256(app secret, body)); ids, topic and time in headers ---------
SH_SECRET = "shopify-app-secret"
SH_EVENT = "98880550-7158-44d4-b7cd-2c97c8a091b5"


def sh_sig(secret, body):
    return base64.b64encode(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()).decode()


def sh_case(name, why, body, headers, verify="ok", events=(), parse=None):
    head = [why, ("secret", SH_SECRET), ("now_ms", T * 1000), ("verify", verify)]
    head += [("event", e) for e in events] + ([("parse", parse)] if parse else [])
    write("shopify", name, head, "POST /hooks/shopify", [("Content-Type", "application/json")] + headers, body)


sh_body = compact({"id": 706405506930370084, "email": "ana@acme.example", "created_at": "2024-12-05T15:46:40Z",
                   "updated_at": "2024-12-06T15:46:39Z", "first_name": "Ana", "last_name": "Acme", "state": "enabled"})
sh_meta = [("X-Shopify-Topic", "customers/update"), ("X-Shopify-Event-Id", SH_EVENT),
           ("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
           ("X-Shopify-Triggered-At", "2024-12-06T15:46:39.877041743Z"), ("X-Shopify-Shop-Domain", "acme.myshopify.com"),
           ("X-Shopify-API-Version", "2024-10")]
sh_good = [("X-Shopify-Hmac-Sha256", sh_sig(SH_SECRET, sh_body))] + sh_meta
sh_case("customers_update", "A customers/update delivery (Python hmac): id X-Shopify-Event-Id, time Triggered-At.",
        sh_body, sh_good, events=[f"{SH_EVENT} customers/update {(T - 1) * 1000 + 877}"])
sh_vec = '{"id":820982911946154508,"email":"jon@example.com"}'
sh_case("independent_vector", "The vector of test_signature_schemes.c (0qOPB+...), an old API version without "
        "X-Shopify-Event-Id: X-Shopify-Webhook-Id stands in, no time.", sh_vec,
        [("X-Shopify-Hmac-Sha256", "0qOPB+qCuD6PqdjeIalQfDaZqdpEKmDncWovN8XEnt0="), ("X-Shopify-Topic", "orders/create"),
         ("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")],
        events=["b54557e4-bdd9-4b37-8a5f-bf7d70bcd043 orders/create 0"])
sh_case("tampered_body", "One byte of the body changed after signing.", sh_body.replace("ana@", "eve@"), sh_good,
        verify="mismatch")
sh_case("wrong_secret", "Signed with another app's secret.", sh_body,
        [("X-Shopify-Hmac-Sha256", sh_sig("another-app-secret", sh_body))] + sh_meta, verify="mismatch")
sh_case("missing_header", "No X-Shopify-Hmac-Sha256 header.", sh_body, sh_meta, verify="missing_header")
sh_case("hex_not_base64", "The right MAC sent as hex: malformed, Shopify sends base64.", sh_body,
        [("X-Shopify-Hmac-Sha256", hmac.new(SH_SECRET.encode(), sh_body.encode(), hashlib.sha256).hexdigest())] +
        sh_meta, verify="malformed_header")
sh_case("no_topic", "Correctly signed but without X-Shopify-Topic: refused (400).", sh_body,
        [h for h in sh_good if h[0] != "X-Shopify-Topic"], parse="no X-Shopify-Topic header")
sh_case("bad_triggered_at", "Correctly signed, X-Shopify-Triggered-At without an offset: refused (400).", sh_body,
        [h if h[0] != "X-Shopify-Triggered-At" else (h[0], "2024-12-06 15:46:39") for h in sh_good],
        parse="X-Shopify-Triggered-At is not an RFC 3339 time")

# --- Google Sheets: the shipped Apps Script's row.updated, signed with Standard Webhooks; values:batchUpdate answers
GS_SECRET = "whsec_" + base64.b64encode(b"sheets-script-secret-0123").decode()
GS_ID = "msg_3f1c2a9b8d7e4f60a1b2c3d4e5f60718"
GS_OPTS = ["spreadsheet_id 1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms", "sheet Customers", "id_column record_id",
           "columns record_id,email,name,plan,mrr"]
gs_body = compact({"type": "row.updated", "timestamp": "2024-12-06T15:46:40.000Z",
                   "data": {"spreadsheet_id": "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms", "sheet": "Customers",
                            "row": 7, "values": {"record_id": "cus_Case01", "email": "ana@acme.example",
                                                 "name": "Ana", "plan": "growth", "mrr": "49"}}})
gs_good = sw_headers(GS_ID, T, sw_sig(GS_SECRET, GS_ID, T, gs_body))


def gs_case(name, why, body, headers, now=T, verify="ok", events=(), parse=None):
    sw_case("google_sheets", name, why, body, headers, now, verify, events, parse, (GS_SECRET,), GS_OPTS)


def gs_signed(name, why, payload, parse):
    body = compact(payload)
    gs_case(name, why, body, sw_headers(GS_ID, T, sw_sig(GS_SECRET, GS_ID, T, body)), parse=parse)


gs_case("row_updated", "A row edit as switchyard.gs sends it (Standard Webhooks, Python hmac).", gs_body, gs_good,
        events=[f"{GS_ID} row.updated {T * 1000}"])
gs_case("tampered_body", "A cell value changed after signing.", gs_body.replace("growth", "enterprise"), gs_good,
        verify="mismatch")
gs_case("wrong_secret", "Signed by the script of another spreadsheet (its own secret).", gs_body,
        sw_headers(GS_ID, T, sw_sig("whsec_" + base64.b64encode(b"other-sheet").decode(), GS_ID, T, gs_body)),
        verify="mismatch")
gs_case("missing_header", "No webhook-timestamp header.", gs_body, [gs_good[0], gs_good[2]], verify="missing_header")
gs_case("stale_timestamp", "A retry signed 6 minutes ago (tolerance 5 min).", gs_body, gs_good, now=T + 360,
        verify="timestamp_tolerance")
gs_signed("header_row", "Row 1 is the header row: never a record.",
          {"type": "row.updated", "timestamp": "x", "data": {"spreadsheet_id": "s", "sheet": "Customers", "row": 1,
                                                             "values": {}}},
          "data.row must be a row number from 2 to 10000000 (row 1 holds the headers)")
gs_signed("no_values", "A payload without values.",
          {"type": "row.updated", "timestamp": "x", "data": {"spreadsheet_id": "s", "sheet": "Customers", "row": 2}},
          "data.values must be an object of header: cell")
gs_signed("no_data", "A Standard Webhooks payload that is not a row.",
          {"type": "row.updated", "timestamp": "x"},
          "event has no data object (the Apps Script sends data.spreadsheet_id, sheet, row and values)")

GS_DONE = compact({"spreadsheetId": "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms", "totalUpdatedRows": 2,
                   "totalUpdatedColumns": 2, "totalUpdatedCells": 3, "totalUpdatedSheets": 1,
                   "responses": [{"spreadsheetId": "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
                                  "updatedRange": "Customers!D7", "updatedRows": 1, "updatedColumns": 1,
                                  "updatedCells": 1}]})
write("google_sheets", "answer_200", ["values:batchUpdate of two rows answered 200: both written.", ("pushes", 2),
                                      ("outcome", "done")], "200", [("Content-Type", "application/json")], GS_DONE)
write("google_sheets", "answer_lookup", ["The metadata read of a push without a row: not found (rows are not "
                                         "searched).", ("outcome", "not_found")],
      "200", [("Content-Type", "application/json")],
      compact({"spreadsheetId": "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"}))
write("google_sheets", "answer_429", ["Over 60 writes a minute: retried after Retry-After, the spoke paused.",
                                      ("outcome", "retry"), ("retry_after_ms", 30000), ("rate_limited", 1)],
      "429", [("Retry-After", "30"), ("Content-Type", "application/json")],
      compact({"error": {"code": 429, "message": "Quota exceeded for quota metric 'Write requests' and limit "
                         "'Write requests per minute per user' of service 'sheets.googleapis.com'",
                         "status": "RESOURCE_EXHAUSTED"}}))
write("google_sheets", "answer_403_rate", ["A 403 rateLimitExceeded (older quota path): a rate limit, not a denial.",
                                           ("outcome", "retry"), ("rate_limited", 1), ("retry_after_ms", -1)],
      "403", [("Content-Type", "application/json")],
      compact({"error": {"code": 403, "message": "Rate Limit Exceeded",
                         "errors": [{"reason": "rateLimitExceeded", "domain": "usageLimits"}]}}))
write("google_sheets", "answer_403", ["The service account has no access to the spreadsheet: a dead letter.",
                                      ("outcome", "permanent")],
      "403", [("Content-Type", "application/json")],
      compact({"error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}}))
write("google_sheets", "answer_400", ["A range Sheets cannot parse (the tab was renamed): a dead letter.",
                                      ("outcome", "permanent")],
      "400", [("Content-Type", "application/json")],
      compact({"error": {"code": 400, "message": "Unable to parse range: 'Customers'!D7", "status": "INVALID_ARGUMENT"}}))
write("google_sheets", "answer_503", ["Sheets is unavailable: retried.", ("outcome", "retry")],
      "503", [("Content-Type", "application/json")],
      compact({"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}}))
# --- QuickBooks Online: intuit-signature = base64(HMAC-SHA256(verifier token, body)); no timestamp ------------
import datetime

QB_TOKEN = "qbo-verifier-token-0123"
QB_REALM = "9341455251541838"


def qb_sig(secret, body):
    return base64.b64encode(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()).decode()


def iso_ms(s):
    """Unix ms of an ISO 8601 time, computed by Python's datetime (independently of the C parser)."""
    s = s.replace("Z", "+00:00")
    if s[-5] in "+-" and s[-3] != ":":  # "-0700" as the legacy samples write it
        s = s[:-2] + ":" + s[-2:]
    return int(datetime.datetime.fromisoformat(s).timestamp() * 1000)


def qb_case(name, why, body, sig, verify="ok", events=(), parse=None, secrets=(QB_TOKEN,)):
    head = [why] + [("secret", s) for s in secrets] + [("now_ms", TMS), ("verify", verify)]
    head += [("event", e) for e in events] + ([("parse", parse)] if parse else [])
    write("quickbooks", name, head, "POST /hooks/quickbooks", [("Content-Type", "application/json")] +
          ([("intuit-signature", sig)] if sig is not None else []), body)


# Legacy: one event per entity, id realm:name:id:operation:lastUpdated (Intuit's sample writes "-0700" offsets).
qb_legacy = compact({"eventNotifications": [
    {"realmId": QB_REALM, "dataChangeEvent": {"entities": [
        {"name": "Customer", "id": "58", "operation": "Update", "lastUpdated": "2024-12-06T07:45:10-0800"},
        {"name": "Invoice", "id": "130", "operation": "Create", "lastUpdated": "2024-12-06T15:45:20.250Z"}]}},
    {"realmId": "123146096291789", "dataChangeEvent": {"entities": [
        {"name": "Customer", "id": "7", "operation": "Merge", "lastUpdated": "2024-12-06T15:45:30+00:00",
         "deletedId": "9"}]}}]})
qb_legacy_events = [
    f"{QB_REALM}:Customer:58:Update:2024-12-06T07:45:10-0800 Customer.Update {iso_ms('2024-12-06T07:45:10-0800')}",
    f"{QB_REALM}:Invoice:130:Create:2024-12-06T15:45:20.250Z Invoice.Create {iso_ms('2024-12-06T15:45:20.250Z')}",
    f"123146096291789:Customer:7:Merge:2024-12-06T15:45:30+00:00 Customer.Merge {iso_ms('2024-12-06T15:45:30+00:00')}"]
qb_case("legacy_two_realms", "Legacy eventNotifications, two realms, three entities (Python hmac): one event each.",
        qb_legacy, qb_sig(QB_TOKEN, qb_legacy), events=qb_legacy_events)
# CloudEvents: an array, several realms per delivery, id = the CloudEvent id.
qb_ce = compact([
    {"specversion": "1.0", "id": "88cd52a5-3e5f-4c1e-9a1f-2b9f0d6e7a01", "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJ",
     "type": "qbo.customer.updated.v1", "datacontenttype": "application/json", "time": "2024-12-06T15:46:31.081Z",
     "intuitentityid": "58", "intuitaccountid": QB_REALM, "data": {}},
    {"specversion": "1.0", "id": "0b9d2c47-7d7a-4f55-8f0e-5c3a1e2d9b02", "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJ",
     "type": "qbo.invoice.created.v1", "datacontenttype": "application/json", "time": "2024-12-06T15:46:35Z",
     "intuitentityid": "131", "intuitaccountid": "123146096291789", "data": {}}])
qb_ce_events = [f"88cd52a5-3e5f-4c1e-9a1f-2b9f0d6e7a01 qbo.customer.updated.v1 {iso_ms('2024-12-06T15:46:31.081Z')}",
                f"0b9d2c47-7d7a-4f55-8f0e-5c3a1e2d9b02 qbo.invoice.created.v1 {iso_ms('2024-12-06T15:46:35Z')}"]
qb_case("cloudevents_two_realms", "A CloudEvents array with two realms (Python hmac): id = each CloudEvent's id.",
        qb_ce, qb_sig(QB_TOKEN, qb_ce), events=qb_ce_events)
qb_case("rotated_token", "Signed with the second of two verifier tokens (rotation).", qb_ce,
        qb_sig("qbo-new-verifier-token", qb_ce), secrets=(QB_TOKEN, "qbo-new-verifier-token"), events=qb_ce_events)
qb_case("tampered_body", "One byte of the body changed after signing.", qb_legacy.replace('"58"', '"59"'),
        qb_sig(QB_TOKEN, qb_legacy), verify="mismatch")
qb_case("wrong_token", "Signed with the OAuth client secret instead of the verifier token.", qb_legacy,
        qb_sig("oauth-client-secret", qb_legacy), verify="mismatch")
qb_case("missing_header", "No intuit-signature header.", qb_legacy, None, verify="missing_header")
qb_case("hex_signature", "A hex signature where Intuit sends base64: malformed.", qb_legacy,
        hmac.new(QB_TOKEN.encode(), qb_legacy.encode(), hashlib.sha256).hexdigest(), verify="malformed_header")
qb_no_time = compact({"eventNotifications": [{"realmId": QB_REALM, "dataChangeEvent": {"entities": [
    {"name": "Customer", "id": "58", "operation": "Update"}]}}]})
qb_case("legacy_no_time", "Correctly signed, but an entity has no lastUpdated: refused whole (400).", qb_no_time,
        qb_sig(QB_TOKEN, qb_no_time), parse="entity has no lastUpdated time (ISO 8601)")
qb_ce_no_realm = compact([{"specversion": "1.0", "id": "e1", "type": "qbo.customer.updated.v1",
                           "time": "2024-12-06T15:46:31Z", "intuitentityid": "58", "data": {}}])
qb_case("cloudevent_no_realm", "A CloudEvent without intuitaccountid: the object cannot be named, refused (400).",
        qb_ce_no_realm, qb_sig(QB_TOKEN, qb_ce_no_realm), parse="event has no plain string intuitaccountid (realm)")
# The dedupe id of a legacy entity is rebuilt identically from a redelivery: a replay is a duplicate (checked by
# the unit test); the case shows the same body verifies again byte for byte.
qb_case("legacy_redelivered", "Intuit's retry of the same notification: same ids, so the log keeps one copy.",
        qb_legacy, qb_sig(QB_TOKEN, qb_legacy), events=qb_legacy_events)

qb_fault = lambda code, msg, t: compact({"Fault": {"Error": [{"Message": msg, "Detail": msg, "code": code}],
                                                   "type": t}, "time": "2024-12-06T07:46:40.000-08:00"})
write("quickbooks", "answer_200_update", ["A sparse update written: done (its new SyncToken is kept).",
                                          ("outcome", "done")],
      "200", [("Content-Type", "application/json")],
      compact({"Customer": {"Id": "58", "SyncToken": "4", "DisplayName": "Acme Ltd", "sparse": False},
               "time": "2024-12-06T07:46:40.000-08:00"}))
write("quickbooks", "answer_200_lookup", ["The read before a write: found, with its SyncToken.", ("outcome", "found")],
      "200", [("Content-Type", "application/json")],
      compact({"QueryResponse": {"Customer": [{"Id": "58", "SyncToken": "3"}], "startPosition": 1, "maxResults": 1},
               "time": "2024-12-06T07:46:40.000-08:00"}))
write("quickbooks", "answer_400_stale", ["A stale SyncToken (5010): retried at once, after a fresh read.",
                                         ("outcome", "retry"), ("retry_after_ms", 0)],
      "400", [("Content-Type", "application/json")],
      qb_fault("5010", "Stale Object Error : You and root were working on this at the same time.", "ValidationFault"))
write("quickbooks", "answer_400_validation", ["Another validation fault (duplicate name): a dead letter.",
                                              ("outcome", "permanent")],
      "400", [("Content-Type", "application/json")],
      qb_fault("6240", "Duplicate Name Exists Error", "ValidationFault"))
write("quickbooks", "answer_401", ["The access token expired or was revoked: permanent (an operator reconnects).",
                                   ("outcome", "permanent")],
      "401", [("Content-Type", "application/json")], qb_fault("3200", "AuthenticationFailed", "AUTHENTICATION"))
write("quickbooks", "answer_429", ["Over 500 requests a minute for the realm: retried after Retry-After, paused.",
                                   ("outcome", "retry"), ("retry_after_ms", 60000), ("rate_limited", 1)],
      "429", [("Retry-After", "60"), ("Content-Type", "application/json")],
      qb_fault("003001", "ThrottleExceeded", "SERVICE"))
write("quickbooks", "answer_503", ["QuickBooks unavailable: retried with backoff.", ("outcome", "retry")],
      "503", [("Content-Type", "text/html")], "<html>Service Unavailable</html>")

# --- Paddle Billing: Paddle-Signature ts=<unix>;h1=hex(HMAC-SHA256(secret, "<ts>:" + body)) --------------------
PADDLE_SECRET = "pdl_ntfset_01hv6y1jedq4p1n0yqn5ba3ky4_testsecret"
paddle_body = compact({"event_id": "evt_01hv8x2ak8bqpmbq2gnk2stbv5", "event_type": "subscription.updated",
                       "occurred_at": "2024-12-06T15:46:40.000000Z", "notification_id": "ntf_01hv8x2an8dw7h33qyrqp5ksxx",
                       "data": {"id": "sub_01hv8x29kz0t586xy6zn1a62ny", "status": "active",
                                "customer_id": "ctm_01hv6y1jedq4p1n0yqn5ba3ky4"}})


def paddle_h1(secret, ts, body):
    return hmac.new(secret.encode(), f"{ts}:{body}".encode(), hashlib.sha256).hexdigest()


def paddle_case(name, why, body, header, now=T, secrets=(PADDLE_SECRET,), verify="ok", events=(), parse=None):
    head = [why] + [("secret", s) for s in secrets] + [("now_ms", now * 1000), ("verify", verify)]
    head += [("event", e) for e in events] + ([("parse", parse)] if parse else [])
    write("paddle", name, head, "POST /hooks/paddle", [("Content-Type", "application/json")] +
          ([("Paddle-Signature", header)] if header is not None else []), body)


paddle_good = f"ts={T};h1={paddle_h1(PADDLE_SECRET, T, paddle_body)}"
paddle_event = f"evt_01hv8x2ak8bqpmbq2gnk2stbv5 subscription.updated 1733500000000"
paddle_case("subscription_updated", "A subscription.updated event as Paddle signs it (Python hmac).", paddle_body,
            paddle_good, events=[paddle_event])
paddle_case("rotated_secret", "Two h1 during a secret rotation: the one of the new secret matches.", paddle_body,
            f"ts={T};h1={paddle_h1('old-secret', T, paddle_body)};h1={paddle_h1('new-secret', T, paddle_body)}",
            secrets=("new-secret",), events=[paddle_event])
paddle_case("tampered_body", "One byte of the body changed after signing.", paddle_body.replace("active", "paused"),
            paddle_good, verify="mismatch")
paddle_case("wrong_secret", "Signed with another destination's secret.", paddle_body,
            f"ts={T};h1={paddle_h1('another-secret', T, paddle_body)}", verify="mismatch")
paddle_case("stale_timestamp", "Signed 301 s before the hub's clock (tolerance 300 s): refused before any HMAC.",
            paddle_body, paddle_good, now=T + 301, verify="timestamp_tolerance")
paddle_case("missing_header", "No Paddle-Signature header.", paddle_body, None, verify="missing_header")
paddle_case("no_h1", "A timestamp and no h1 signature.", paddle_body, f"ts={T}", verify="no_signature")
paddle_case("no_timestamp", "An h1 without ts: unparsable.", paddle_body, f"h1={paddle_h1(PADDLE_SECRET, T, paddle_body)}",
            verify="malformed_header")
paddle_no_id = compact({"event_type": "subscription.updated", "occurred_at": "2024-12-06T15:46:40Z", "data": {}})
paddle_case("no_event_id", "Correctly signed, no event_id: refused whole (400).", paddle_no_id,
            f"ts={T};h1={paddle_h1(PADDLE_SECRET, T, paddle_no_id)}", parse="event has no string event_id")
