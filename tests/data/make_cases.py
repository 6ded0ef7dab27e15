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
