/*
 * bench_ingest: load generator for Switchyard's ingress (POST /hooks/{source}).
 *
 * Before the clock starts it builds every request it will send: a ~1.5 KB Stripe `customer.updated` event, each
 * with its own event id (evt_<run prefix>_<i>, so reruns against the same data dir are never duplicates), signed
 * `Stripe-Signature: t=<now>,v1=<hex HMAC-SHA256(secret, t "." body)>`. It then drives C keep-alive HTTP/1.1
 * connections from one thread with epoll (one request outstanding per connection) and reports throughput and the
 * latency of each request, from its first byte written to the last byte of its answer.
 *
 * Nothing is allocated per request once the run starts: requests live in one arena, answers are parsed in place in
 * a fixed buffer per connection, latencies go into an array sized up front.
 *
 * Signing uses OpenSSL directly rather than hub/base/crypto.c, so the server's verifier is checked against an
 * independent implementation.
 *
 * Exit status: 0 all answers were 200, 1 some were not (or failed), 2 bad usage or setup failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define RBUF_CAP 16384         /* largest answer we accept; a bigger one is an error */
#define MAX_CONNECTIONS 10000
#define MAX_REQUESTS 50000000u /* guards the arena size against typos */
#define NUM_CUSTOMERS 10000    /* default: events are spread over this many customer ids */
#define HUBSPOT_ID_BASE 100000 /* --mix pipeline: customer c is HubSpot contact HUBSPOT_ID_BASE + c */
#define BODY_CAP 4096
#define HEAD_CAP 1024

typedef struct st_options_t {
    const char *host;
    unsigned port;
    unsigned conns;
    size_t requests;
    size_t warmup;
    const char *secret;
    const char *source;
    const char *id_prefix; /* NULL: random */
    unsigned timeout_s;    /* per phase */
    int pipeline;          /* --mix pipeline: Stripe customer + subscription events and HubSpot property changes */
    size_t customers;      /* --customers: distinct customers the events are about */
    const char *hubspot_secret; /* --hubspot-secret (pipeline mix), default --secret */
    const char *hubspot_source; /* --hubspot-source (pipeline mix), default hubspot */
    const char *print_seed;     /* --print-seed stripe|hubspot: print the fake spoke's seed for --customers, exit */
} options_t;

/* Every request of the run, back to back in one arena; request i is buf[off[i] .. off[i+1]). */
typedef struct st_reqset_t {
    char *buf;
    size_t len;
    size_t cap;
    size_t *off;
    size_t n;
    size_t body_bytes;
    size_t num_kind[3]; /* requests per kind (pipeline mix): customer.updated, subscription, HubSpot */
} reqset_t;

typedef struct st_conn_t {
    int fd;
    size_t req;      /* outstanding request, or SIZE_MAX when idle */
    size_t sent;     /* bytes of it written so far */
    uint64_t t_send; /* monotonic ns when its first byte went out */
    size_t rlen;     /* bytes in rbuf */
    char rbuf[RBUF_CAP];
} conn_t;

typedef struct st_stats_t {
    size_t ok;         /* 200 answers */
    size_t non200;     /* complete answers with another status */
    size_t transport;  /* connection failed, answer malformed or too big, or no answer before the deadline */
    size_t duplicates; /* 200 answers saying "duplicate":true */
    size_t by_status[600];
    char first_error[256]; /* first non-200 answer (status and a body excerpt), for the report */
} stats_t;

typedef struct st_bench_t {
    options_t opt;
    struct sockaddr_in addr;
    int ep;
    conn_t *conns;
    unsigned live;   /* connections with an open socket */
    int need_refill; /* a connection was reopened without a request: hand it one */
    size_t reconnects, reconnect_failures;
    reqset_t reqs;
    /* the phase being run */
    size_t next, end, done;
    uint64_t *lat; /* ns per answered request of a recorded phase, NULL for warmup */
    size_t num_lat;
    stats_t st;
} bench_t;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_ingest: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL)
        die("out of memory (%zu bytes)", n);
    return p;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned long long parse_uint(const char *name, const char *s, unsigned long long min, unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
        die("--%s: expected an integer in [%llu, %llu], got '%s'", name, min, max, s);
    return v;
}

static void usage(FILE *out)
{
    fputs("usage: bench_ingest --port P --secret S [--host 127.0.0.1] [--connections C] [--requests N]\n"
          "                    [--warmup W] [--source stripe] [--id-prefix X] [--timeout SECONDS]\n"
          "                    [--mix customer|pipeline] [--customers K] [--hubspot-secret S2]\n"
          "                    [--hubspot-source hubspot]\n"
          "       bench_ingest --print-seed stripe|hubspot [--customers K]\n"
          "  Sends N signed Stripe customer.updated events (plus W untimed warm-up events first) to\n"
          "  http://HOST:P/hooks/SOURCE over C keep-alive connections, one request in flight per connection.\n"
          "  --mix pipeline: 2/5 Stripe customer.updated, 1/5 Stripe customer.subscription.updated (to SOURCE),\n"
          "  2/5 HubSpot contact.propertyChange (signature v3, to /hooks/HUBSPOT-SOURCE) over K customers.\n"
          "  The pipeline mix first onboards the K customers (one customer.updated each, untimed).\n"
          "  --print-seed: the {\"objects\":…} body of POST /_fake/seed for those K customers.\n"
          "  Defaults: --connections 64 --requests 100000 --warmup 0 --source stripe --timeout 120 (per phase),\n"
          "  --mix customer, --customers 10000.\n",
          out);
}

static void parse_options(int argc, char **argv, options_t *o)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'h'},        {"port", required_argument, NULL, 'p'},
        {"connections", required_argument, NULL, 'c'}, {"requests", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'},      {"secret", required_argument, NULL, 's'},
        {"source", required_argument, NULL, 'S'},      {"id-prefix", required_argument, NULL, 'i'},
        {"timeout", required_argument, NULL, 't'},     {"help", no_argument, NULL, 'H'},
        {"mix", required_argument, NULL, 'm'},         {"customers", required_argument, NULL, 'k'},
        {"hubspot-secret", required_argument, NULL, 'x'}, {"hubspot-source", required_argument, NULL, 'X'},
        {"print-seed", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    *o = (options_t){.host = "127.0.0.1", .conns = 64, .requests = 100000, .source = "stripe", .timeout_s = 120,
                     .customers = NUM_CUSTOMERS, .hubspot_source = "hubspot"};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': o->host = optarg; break;
        case 'p': o->port = (unsigned)parse_uint("port", optarg, 1, 65535); break;
        case 'c': o->conns = (unsigned)parse_uint("connections", optarg, 1, MAX_CONNECTIONS); break;
        case 'n': o->requests = (size_t)parse_uint("requests", optarg, 1, MAX_REQUESTS); break;
        case 'w': o->warmup = (size_t)parse_uint("warmup", optarg, 0, MAX_REQUESTS); break;
        case 's': o->secret = optarg; break;
        case 'S': o->source = optarg; break;
        case 'i': o->id_prefix = optarg; break;
        case 't': o->timeout_s = (unsigned)parse_uint("timeout", optarg, 1, 86400); break;
        case 'm':
            if (strcmp(optarg, "pipeline") == 0)
                o->pipeline = 1;
            else if (strcmp(optarg, "customer") == 0)
                o->pipeline = 0;
            else
                die("--mix: expected customer or pipeline, got '%s'", optarg);
            break;
        case 'k': o->customers = (size_t)parse_uint("customers", optarg, 1, 99999); break;
        case 'x': o->hubspot_secret = optarg; break;
        case 'X': o->hubspot_source = optarg; break;
        case 'P':
            if (strcmp(optarg, "stripe") != 0 && strcmp(optarg, "hubspot") != 0)
                die("--print-seed: expected stripe or hubspot, got '%s'", optarg);
            o->print_seed = optarg;
            break;
        case 'H': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind != argc) {
        usage(stderr);
        exit(2);
    }
    if (o->print_seed != NULL)
        return;
    if (o->hubspot_secret == NULL)
        o->hubspot_secret = o->secret;
    if (o->port == 0 || o->secret == NULL || o->secret[0] == '\0') {
        usage(stderr);
        die("--port and --secret are required");
    }
    for (const char *p = o->source; *p != '\0'; ++p)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            die("--source: only letters, digits, '-' and '_' are allowed");
    for (const char *p = o->hubspot_source; *p != '\0'; ++p)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            die("--hubspot-source: only letters, digits, '-' and '_' are allowed");
    if (o->id_prefix != NULL)
        for (const char *p = o->id_prefix; *p != '\0'; ++p)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
                die("--id-prefix: only letters and digits are allowed");
}

/* ---- request building (before the clock starts) ---- */

/*
 * A Stripe customer.updated event as Stripe sends it (pretty-printed, two-space indent), ~1.5 KB.
 * Arguments: run prefix and i (event id) · created · customer number ×6 · run prefix and i (request id) ·
 * the five parts of a UUID-looking idempotency key.
 */
static const char BODY_FMT[] =
    "{\n"
    "  \"id\": \"evt_%s_%zu\",\n"
    "  \"object\": \"event\",\n"
    "  \"api_version\": \"2023-10-16\",\n"
    "  \"created\": %lld,\n"
    "  \"data\": {\n"
    "    \"object\": {\n"
    "      \"id\": \"cus_Bench%05zu\",\n"
    "      \"object\": \"customer\",\n"
    "      \"address\": {\n"
    "        \"city\": \"Lisboa\",\n"
    "        \"country\": \"PT\",\n"
    "        \"line1\": \"Rua Augusta 27\",\n"
    "        \"line2\": \"3 Esq\",\n"
    "        \"postal_code\": \"1100-048\",\n"
    "        \"state\": null\n"
    "      },\n"
    "      \"balance\": 0,\n"
    "      \"created\": 1690000000,\n"
    "      \"currency\": \"eur\",\n"
    "      \"delinquent\": false,\n"
    "      \"description\": \"Bench customer %zu\",\n"
    "      \"email\": \"ana.silva.%zu@example.com\",\n"
    "      \"invoice_prefix\": \"B%05zu\",\n"
    "      \"invoice_settings\": {\n"
    "        \"custom_fields\": null,\n"
    "        \"default_payment_method\": \"pm_1OaBenchPaymentMethod\",\n"
    "        \"footer\": null\n"
    "      },\n"
    "      \"livemode\": false,\n"
    "      \"metadata\": {\n"
    "        \"hubspot_contact_id\": \"%zu\",\n"
    "        \"plan\": \"growth\",\n"
    "        \"segment\": \"smb\"\n"
    "      },\n"
    "      \"name\": \"Ana Silva\",\n"
    "      \"phone\": \"+351 912 345 678\",\n"
    "      \"preferred_locales\": [\n"
    "        \"pt-PT\",\n"
    "        \"en\"\n"
    "      ],\n"
    "      \"shipping\": null,\n"
    "      \"tax_exempt\": \"none\"\n"
    "    },\n"
    "    \"previous_attributes\": {\n"
    "      \"address\": {\n"
    "        \"line1\": \"Rua do Ouro 10\"\n"
    "      },\n"
    "      \"email\": \"ana.%zu@example.org\",\n"
    "      \"metadata\": {\n"
    "        \"plan\": \"starter\"\n"
    "      }\n"
    "    }\n"
    "  },\n"
    "  \"livemode\": false,\n"
    "  \"pending_webhooks\": 1,\n"
    "  \"request\": {\n"
    "    \"id\": \"req_%s_%zu\",\n"
    "    \"idempotency_key\": \"%08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-8%03" PRIx32 "-%012zx\"\n"
    "  },\n"
    "  \"type\": \"customer.updated\"\n"
    "}";

static const char HEAD_FMT[] = "POST /hooks/%s HTTP/1.1\r\n"
                               "Host: %s:%u\r\n"
                               "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)\r\n"
                               "Accept: */*; q=0.5, application/xml\r\n"
                               "Cache-Control: no-cache\r\n"
                               "Content-Type: application/json; charset=utf-8\r\n"
                               "Stripe-Signature: t=%lld,v1=%s\r\n"
                               "Content-Length: %d\r\n"
                               "\r\n";

/*
 * --mix pipeline: a Stripe customer.subscription.updated event (pretty-printed, ~1.6 KB). Arguments: run prefix and
 * i (event id) · created · customer number ×3 · price id · product · unit amount · status · previous status · run
 * prefix and i (request id).
 */
static const char SUB_BODY_FMT[] =
    "{\n"
    "  \"id\": \"evt_%s_%zu\",\n"
    "  \"object\": \"event\",\n"
    "  \"api_version\": \"2023-10-16\",\n"
    "  \"created\": %lld,\n"
    "  \"data\": {\n"
    "    \"object\": {\n"
    "      \"id\": \"sub_Bench%05zu\",\n"
    "      \"object\": \"subscription\",\n"
    "      \"billing_cycle_anchor\": 1690000000,\n"
    "      \"cancel_at_period_end\": false,\n"
    "      \"collection_method\": \"charge_automatically\",\n"
    "      \"created\": 1690000000,\n"
    "      \"currency\": \"eur\",\n"
    "      \"current_period_end\": 1700000000,\n"
    "      \"current_period_start\": 1697400000,\n"
    "      \"customer\": \"cus_Bench%05zu\",\n"
    "      \"default_payment_method\": \"pm_1OaBenchPaymentMethod\",\n"
    "      \"items\": {\n"
    "        \"object\": \"list\",\n"
    "        \"data\": [\n"
    "          {\n"
    "            \"id\": \"si_Bench%05zu\",\n"
    "            \"object\": \"subscription_item\",\n"
    "            \"price\": {\n"
    "              \"id\": \"%s\",\n"
    "              \"object\": \"price\",\n"
    "              \"active\": true,\n"
    "              \"billing_scheme\": \"per_unit\",\n"
    "              \"currency\": \"eur\",\n"
    "              \"product\": \"%s\",\n"
    "              \"recurring\": {\n"
    "                \"interval\": \"month\",\n"
    "                \"interval_count\": 1,\n"
    "                \"usage_type\": \"licensed\"\n"
    "              },\n"
    "              \"type\": \"recurring\",\n"
    "              \"unit_amount\": %u\n"
    "            },\n"
    "            \"quantity\": 1\n"
    "          }\n"
    "        ],\n"
    "        \"has_more\": false,\n"
    "        \"url\": \"/v1/subscription_items\"\n"
    "      },\n"
    "      \"livemode\": false,\n"
    "      \"metadata\": {},\n"
    "      \"start_date\": 1690000000,\n"
    "      \"status\": \"%s\"\n"
    "    },\n"
    "    \"previous_attributes\": {\n"
    "      \"status\": \"%s\"\n"
    "    }\n"
    "  },\n"
    "  \"livemode\": false,\n"
    "  \"pending_webhooks\": 1,\n"
    "  \"request\": {\n"
    "    \"id\": \"req_%s_%zu\",\n"
    "    \"idempotency_key\": null\n"
    "  },\n"
    "  \"type\": \"customer.subscription.updated\"\n"
    "}";

/*
 * --mix pipeline: a HubSpot webhook delivery holding one contact.propertyChange (compact, as HubSpot sends it).
 * Arguments: eventId · occurredAt (ms) · objectId · property name · property value.
 */
static const char HUBSPOT_BODY_FMT[] =
    "[{\"eventId\":%" PRIu64 ",\"subscriptionId\":2216340,\"portalId\":62515,\"appId\":1160452,\"occurredAt\":%lld,"
    "\"subscriptionType\":\"contact.propertyChange\",\"attemptNumber\":0,\"objectId\":%zu,"
    "\"propertyName\":\"%s\",\"propertyValue\":\"%s\",\"changeSource\":\"CRM_UI\",\"sourceId\":\"userId:4510127\"}]";

static const char HUBSPOT_HEAD_FMT[] = "POST /hooks/%s HTTP/1.1\r\n"
                                       "Host: %s:%u\r\n"
                                       "User-Agent: HubSpot Connect 2.0 (http://dev.hubspot.com/)\r\n"
                                       "Accept: */*\r\n"
                                       "Content-Type: application/json\r\n"
                                       "X-HubSpot-Signature-v3: %s\r\n"
                                       "X-HubSpot-Request-Timestamp: %lld\r\n"
                                       "Content-Length: %d\r\n"
                                       "\r\n";

/* Customer c of the pipeline mix: its HubSpot email (the Stripe customer.updated template's email, so the two
 * tools agree and a customer.updated is no conflict). */
static int customer_email(char *buf, size_t cap, size_t c)
{
    return snprintf(buf, cap, "ana.silva.%zu@example.com", c);
}

/* --print-seed: what the fake spoke must hold so the hub's pushes find their objects (Stripe's create: never). */
static void print_seed(const options_t *o)
{
    char email[64];
    int stripe = strcmp(o->print_seed, "stripe") == 0;
    fputs("{\"objects\":{", stdout);
    for (size_t c = 0; c < o->customers; ++c) {
        customer_email(email, sizeof(email), c);
        if (stripe)
            printf("%s\"cus_Bench%05zu\":{\"email\":\"%s\",\"name\":\"Ana Silva\",\"metadata\":{\"hubspot_contact_id\":\"%zu\"}}",
                   c ? "," : "", c, email, HUBSPOT_ID_BASE + c);
        else
            printf("%s\"%zu\":{\"email\":\"%s\",\"firstname\":\"Ana\",\"lastname\":\"Silva\"}", c ? "," : "",
                   HUBSPOT_ID_BASE + c, email);
    }
    fputs("}}\n", stdout);
}

/* A cheap integer mix so idempotency keys look random but are reproducible. */
static uint32_t mix32(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (uint32_t)x;
}

static void arena_append(reqset_t *r, const char *p, size_t n)
{
    if (r->cap - r->len < n) {
        size_t cap = r->cap == 0 ? 1 << 20 : r->cap;
        while (cap - r->len < n)
            cap *= 2;
        char *nb = realloc(r->buf, cap);
        if (nb == NULL)
            die("out of memory growing the request arena to %zu bytes", cap);
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
}

static void build_requests(const options_t *o, const char *prefix, reqset_t *r)
{
    static const char hexd[] = "0123456789abcdef";
    size_t onboard = o->pipeline ? o->customers : 0;
    size_t total = onboard + o->warmup + o->requests;
    long long now = (long long)time(NULL);
    char body[BODY_CAP], head[HEAD_CAP], sig[2 * EVP_MAX_MD_SIZE + 1], tbuf[32];
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen;

    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
    if (ctx == NULL)
        die("OpenSSL: HMAC unavailable");
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    int tlen = snprintf(tbuf, sizeof(tbuf), "%lld.", now);

    *r = (reqset_t){.n = total};
    r->off = xmalloc((total + 1) * sizeof(*r->off));
    r->cap = total * 1900; /* typical request size: avoids most regrowth */
    r->buf = xmalloc(r->cap);

    /* pipeline mix: HubSpot eventIds unique per run (like the Stripe ids' prefix), below 2^53 */
    uint64_t hs_base = ((uint64_t)mix32((uint64_t)now ^ ((uint64_t)prefix[0] << 40) ^ (uint64_t)strlen(prefix)) & 0x3ffffff)
                       << 26;
    for (size_t k = 0; prefix[k] != '\0'; ++k)
        hs_base ^= (uint64_t)(mix32(((uint64_t)k << 8) | (unsigned char)prefix[k]) & 0x3ffffff) << 26;
    long long now_ms = now * 1000;
    char hs_uri[128];
    int hs_urilen = snprintf(hs_uri, sizeof(hs_uri), "POSThttp://%s:%u/hooks/%s", o->host, o->port, o->hubspot_source);

    for (size_t i = 0; i < total; ++i) {
        size_t cust = i % o->customers;
        uint64_t seed = (uint64_t)i * 4 + ((uint64_t)now << 32);
        uint32_t k1 = mix32(seed + 1), k2 = mix32(seed + 2), k3 = mix32(seed + 3);
        size_t k4 = ((size_t)mix32(seed + 4) << 16) | (k2 >> 16);
        unsigned kind = 0; /* 0 customer.updated, 1 subscription, 2 HubSpot */
        size_t link = cust; /* the customer's hubspot_contact_id */
        if (o->pipeline && i < onboard) {
            /* onboarding, its own untimed phase: customer i's customer.updated, which links it to its contact */
            cust = i;
            link = HUBSPOT_ID_BASE + cust;
        } else if (o->pipeline) {
            /* a customer drawn at random (reproducibly), the kind from i: 2/5, 1/5, 2/5 */
            static const unsigned kinds[5] = {0, 2, 1, 2, 0};
            cust = mix32(seed + 5) % o->customers;
            kind = kinds[i % 5];
            link = HUBSPOT_ID_BASE + cust;
        }
        ++r->num_kind[kind];
        int blen;
        if (kind == 0) {
            blen = snprintf(body, sizeof(body), BODY_FMT, prefix, i, now, cust, cust, cust, cust, link, cust, prefix, i,
                            k1, k2 & 0xffff, k3 & 0xfff, (k3 >> 12) & 0xfff, k4);
        } else if (kind == 1) {
            /* plan, price and status move, so most of these change the golden record and push to HubSpot */
            static const char *const prices[3] = {"price_1OaStarterMonthly", "price_1OaGrowthMonthly", "price_1OaScaleMonthly"};
            static const char *const products[3] = {"prod_BenchStarter", "prod_BenchGrowth", "prod_BenchScale"};
            static const unsigned amounts[3] = {2900, 7900, 19900};
            static const char *const statuses[4] = {"active", "past_due", "active", "trialing"};
            unsigned pl = k1 % 3, st = (k2 >> 3) % 4;
            blen = snprintf(body, sizeof(body), SUB_BODY_FMT, prefix, i, now, cust, cust, cust, prices[pl], products[pl],
                            amounts[pl] + (unsigned)(k3 % 7) * 100, statuses[st], statuses[(st + 1) % 4], prefix, i);
        } else {
            /* HubSpot owns these: lifecycle stage moves (pushed to Stripe), the others repeat or touch company */
            static const char *const stages[4] = {"lead", "marketingqualifiedlead", "opportunity", "customer"};
            char value[96];
            const char *prop;
            unsigned pick = k1 % 8;
            if (pick < 4) {
                prop = "lifecyclestage";
                snprintf(value, sizeof(value), "%s", stages[(k2 >> 5) % 4]);
            } else if (pick < 6) {
                prop = "company";
                snprintf(value, sizeof(value), "Bench Company %zu", cust);
            } else if (pick == 6) {
                prop = "email";
                customer_email(value, sizeof(value), cust);
            } else {
                prop = "phone";
                snprintf(value, sizeof(value), "+351 912 345 678");
            }
            blen = snprintf(body, sizeof(body), HUBSPOT_BODY_FMT, hs_base + i, now_ms - (long long)(total - i), link,
                            prop, value);
        }
        if (blen < 0 || (size_t)blen >= sizeof(body))
            die("event body over %d bytes", BODY_CAP);

        int hlen;
        if (kind == 2) {
            /* v3: base64(HMAC-SHA256(secret, method + URI + body + timestamp)) */
            char ms[32];
            int mslen = snprintf(ms, sizeof(ms), "%lld", now_ms);
            if (EVP_MAC_init(ctx, (const unsigned char *)o->hubspot_secret, strlen(o->hubspot_secret), params) != 1 ||
                EVP_MAC_update(ctx, (const unsigned char *)hs_uri, (size_t)hs_urilen) != 1 ||
                EVP_MAC_update(ctx, (const unsigned char *)body, (size_t)blen) != 1 ||
                EVP_MAC_update(ctx, (const unsigned char *)ms, (size_t)mslen) != 1 ||
                EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) != 1)
                die("OpenSSL: HMAC-SHA256 failed");
            EVP_EncodeBlock((unsigned char *)sig, mac, (int)maclen);
            hlen = snprintf(head, sizeof(head), HUBSPOT_HEAD_FMT, o->hubspot_source, o->host, o->port, sig, now_ms, blen);
        } else {
            if (EVP_MAC_init(ctx, (const unsigned char *)o->secret, strlen(o->secret), params) != 1 ||
                EVP_MAC_update(ctx, (const unsigned char *)tbuf, (size_t)tlen) != 1 ||
                EVP_MAC_update(ctx, (const unsigned char *)body, (size_t)blen) != 1 ||
                EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) != 1)
                die("OpenSSL: HMAC-SHA256 failed");
            for (size_t j = 0; j < maclen; ++j) {
                sig[2 * j] = hexd[mac[j] >> 4];
                sig[2 * j + 1] = hexd[mac[j] & 15];
            }
            sig[2 * maclen] = '\0';
            hlen = snprintf(head, sizeof(head), HEAD_FMT, o->source, o->host, o->port, now, sig, blen);
        }
        if (hlen < 0 || (size_t)hlen >= sizeof(head))
            die("request head over %d bytes", HEAD_CAP);
        r->off[i] = r->len;
        arena_append(r, head, (size_t)hlen);
        arena_append(r, body, (size_t)blen);
        r->body_bytes += (size_t)blen;
    }
    r->off[total] = r->len;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
}

/* ---- answers ---- */

static int ieq_prefix(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && strncasecmp(p, lit, n) == 0;
}

/* Parses a hex chunk size at p (up to end); returns chars consumed, 0 if none, -1 on overflow. */
static long parse_hex(const char *p, const char *end, size_t *out)
{
    size_t v = 0;
    const char *s = p;
    for (; p < end; ++p) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            break;
        if (v > (SIZE_MAX >> 4))
            return -1;
        v = (v << 4) | (size_t)d;
    }
    *out = v;
    return (long)(p - s);
}

/*
 * Looks for one complete HTTP/1.x answer at the start of buf[0..len).
 * Returns 1 and sets *status, *total (bytes it spans), *body, *body_len and *must_close when complete;
 * 0 if more bytes are needed; -1 if malformed or not delimited (we need Content-Length or chunked).
 */
static int parse_response(const char *buf, size_t len, int *status, size_t *total, const char **body, size_t *body_len,
                          int *must_close)
{
    const char *hend = memmem(buf, len, "\r\n\r\n", 4);
    if (hend == NULL)
        return len >= RBUF_CAP ? -1 : 0;
    const char *end = hend + 2; /* end of the last header line, including its CRLF */
    const char *p = buf;
    if (!ieq_prefix(p, end, "HTTP/1.") || end - p < 13 || p[8] != ' ' || p[9] < '1' || p[9] > '5' || p[10] < '0' ||
        p[10] > '9' || p[11] < '0' || p[11] > '9')
        return -1;
    int http10 = p[7] == '0';
    *status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    *must_close = http10;

    int have_cl = 0, chunked = 0;
    size_t cl = 0;
    p = memchr(p, '\n', (size_t)(end - p)) + 1;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon != NULL) {
            const char *v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                ++v;
            if ((size_t)(colon - p) == 14 && strncasecmp(p, "content-length", 14) == 0) {
                cl = 0;
                if (v >= eol || *v < '0' || *v > '9')
                    return -1;
                for (; v < eol && *v >= '0' && *v <= '9'; ++v) {
                    if (cl > RBUF_CAP)
                        return -1;
                    cl = cl * 10 + (size_t)(*v - '0');
                }
                have_cl = 1;
            } else if ((size_t)(colon - p) == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
                chunked = memmem(v, (size_t)(eol - v), "chunked", 7) != NULL;
            } else if ((size_t)(colon - p) == 10 && strncasecmp(p, "connection", 10) == 0) {
                if (ieq_prefix(v, eol, "close"))
                    *must_close = 1;
                else if (ieq_prefix(v, eol, "keep-alive"))
                    *must_close = 0;
            }
        }
        p = eol + 1;
    }

    const char *b = hend + 4, *lim = buf + len;
    if (*status < 200 || *status == 204 || *status == 304) {
        *body = b;
        *body_len = 0;
        *total = (size_t)(b - buf);
        return 1;
    }
    if (chunked) {
        const char *q = b;
        for (;;) {
            size_t sz;
            long n = parse_hex(q, lim, &sz);
            if (n < 0)
                return -1;
            const char *crlf = memmem(q, (size_t)(lim - q), "\r\n", 2);
            if (crlf == NULL)
                return len >= RBUF_CAP ? -1 : 0;
            if (n == 0)
                return -1;
            q = crlf + 2;
            if (sz == 0) {
                /* trailers, then an empty line */
                for (;;) {
                    crlf = memmem(q, (size_t)(lim - q), "\r\n", 2);
                    if (crlf == NULL)
                        return len >= RBUF_CAP ? -1 : 0;
                    int empty = crlf == q;
                    q = crlf + 2;
                    if (empty)
                        break;
                }
                *body = b;
                *body_len = (size_t)(q - b);
                *total = (size_t)(q - buf);
                return 1;
            }
            if (sz > RBUF_CAP)
                return -1;
            if ((size_t)(lim - q) < sz + 2)
                return len >= RBUF_CAP ? -1 : 0;
            q += sz + 2;
        }
    }
    if (!have_cl)
        return -1; /* body delimited by close: not something an ingress answer should do */
    if ((size_t)(hend + 4 - buf) + cl > RBUF_CAP)
        return -1;
    if (len < (size_t)(b - buf) + cl)
        return 0;
    *body = b;
    *body_len = cl;
    *total = (size_t)(b - buf) + cl;
    return 1;
}

/* ---- connections ---- */

static int conn_open(bench_t *b, conn_t *c)
{
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket: %s", strerror(errno));
    if (connect(c->fd, (struct sockaddr *)&b->addr, sizeof(b->addr)) != 0) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        errno = e;
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));
    c->req = SIZE_MAX;
    c->rlen = 0;
    ++b->live;
    return 0;
}

static void conn_close(bench_t *b, conn_t *c)
{
    if (c->fd >= 0) {
        close(c->fd); /* also leaves the epoll set */
        c->fd = -1;
        --b->live;
    }
    c->req = SIZE_MAX;
    c->rlen = 0;
}

/* Replaces the connection's socket with a new one (idle). Returns -1 if the server refuses it. */
static int conn_reopen(bench_t *b, conn_t *c)
{
    conn_close(b, c);
    ++b->reconnects;
    if (conn_open(b, c) == 0)
        return 0;
    if (b->reconnect_failures++ == 0)
        fprintf(stderr, "bench_ingest: reconnect failed: %s (further failures are only counted)\n", strerror(errno));
    return -1;
}

/* The outstanding request (if any) failed without an answer: count it, then reconnect. */
static void conn_fail(bench_t *b, conn_t *c)
{
    if (c->req != SIZE_MAX) {
        ++b->st.transport;
        ++b->done;
    }
    conn_reopen(b, c);
    b->need_refill = 1; /* not conn_start() here: it may fail again and call us back */
}

/* Writes what remains of the outstanding request. Returns -1 if the connection failed. */
static int conn_flush(bench_t *b, conn_t *c)
{
    const char *base = b->reqs.buf + b->reqs.off[c->req];
    size_t len = b->reqs.off[c->req + 1] - b->reqs.off[c->req];
    while (c->sent < len) {
        ssize_t n = send(c->fd, base + c->sent, len - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0; /* EPOLLOUT (edge-triggered) tells us when to go on */
        } else {
            return -1;
        }
    }
    return 0;
}

/* Gives the connection the phase's next request, if any. Returns -1 if the connection failed. */
static int conn_start(bench_t *b, conn_t *c)
{
    if (b->next >= b->end || c->fd < 0)
        return 0;
    c->req = b->next++;
    c->sent = 0;
    c->t_send = mono_ns();
    return conn_flush(b, c);
}

static void record_answer(bench_t *b, conn_t *c, int status, const char *body, size_t body_len, uint64_t now)
{
    stats_t *st = &b->st;
    if (b->lat != NULL)
        b->lat[b->num_lat++] = now - c->t_send;
    ++st->by_status[status];
    if (status == 200) {
        ++st->ok;
        if (memmem(body, body_len, "\"duplicate\":true", 16) != NULL ||
            memmem(body, body_len, "\"duplicate\": true", 17) != NULL)
            ++st->duplicates;
    } else {
        ++st->non200;
        if (st->first_error[0] == '\0') {
            size_t n = body_len < 160 ? body_len : 160;
            snprintf(st->first_error, sizeof(st->first_error), "status %d, body: %.*s", status, (int)n, body);
        }
    }
    ++b->done;
}

/* Handles readiness on c: finishes a pending write, reads and consumes answers, starts next requests. */
static void conn_on_event(bench_t *b, conn_t *c, uint32_t events)
{
    int fd = c->fd;
    if (fd < 0)
        return;
    if (c->req != SIZE_MAX && conn_flush(b, c) != 0) {
        conn_fail(b, c);
        return;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, RBUF_CAP - c->rlen, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_fail(b, c);
            return;
        }
        if (n == 0) { /* server closed: fails the outstanding request, if any */
            conn_fail(b, c);
            return;
        }
        c->rlen += (size_t)n;
        if (c->req == SIZE_MAX) {
            c->rlen = 0; /* an answer to nothing: ignore */
            continue;
        }
        int status, must_close;
        size_t total, body_len;
        const char *body;
        int rc = parse_response(c->rbuf, c->rlen, &status, &total, &body, &body_len, &must_close);
        if (rc < 0) {
            conn_fail(b, c);
            return;
        }
        if (rc == 0)
            continue;
        record_answer(b, c, status, body, body_len, mono_ns());
        c->req = SIZE_MAX;
        c->rlen = 0; /* one request in flight: nothing may follow its answer */
        if (must_close && conn_reopen(b, c) != 0)
            return;
        if (conn_start(b, c) != 0) {
            conn_fail(b, c);
            return;
        }
        /*
         * With one request in flight nothing more can be queued behind this answer, so skip the recv that would
         * only say EAGAIN (a syscall per request): the next answer raises a new edge.
         */
        break;
    }
    if ((events & (EPOLLERR | EPOLLHUP)) != 0 && c->fd == fd) /* not if the socket was already replaced */
        conn_fail(b, c);
}

/*
 * Sends requests [first, first + count) over all connections and waits for every answer (or the deadline).
 * When lat is non-NULL, each answer's latency is stored there. Returns the elapsed time in ns.
 */
static uint64_t run_phase(bench_t *b, size_t first, size_t count, uint64_t *lat)
{
    struct epoll_event evs[256];
    b->next = first;
    b->end = first + count;
    b->done = 0;
    b->lat = lat;
    b->num_lat = 0;
    memset(&b->st, 0, sizeof(b->st));

    uint64_t t0 = mono_ns(), deadline = t0 + (uint64_t)b->opt.timeout_s * 1000000000u;
    for (unsigned i = 0; i < b->opt.conns; ++i)
        if (conn_start(b, &b->conns[i]) != 0)
            conn_fail(b, &b->conns[i]);
    while (b->done < count) {
        if (b->live == 0) { /* the server is gone: what is left fails, and the report says so */
            fprintf(stderr, "bench_ingest: no connection to %s:%u is left open: %zu requests unanswered\n", b->opt.host,
                    b->opt.port, count - b->done);
            b->st.transport += count - b->done;
            b->done = count;
            break;
        }
        int n = epoll_wait(b->ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), 200);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; ++i)
            conn_on_event(b, evs[i].data.ptr, evs[i].events);
        /* connections that lost their request to a reconnect pick up the next one */
        if (b->need_refill && b->next < b->end) {
            b->need_refill = 0; /* conn_fail() below sets it again for the next turn */
            for (unsigned i = 0; i < b->opt.conns; ++i)
                if (b->conns[i].fd >= 0 && b->conns[i].req == SIZE_MAX && conn_start(b, &b->conns[i]) != 0)
                    conn_fail(b, &b->conns[i]);
        }
        if (mono_ns() > deadline) {
            size_t missing = count - b->done;
            fprintf(stderr, "bench_ingest: %u s timeout: %zu requests unanswered\n", b->opt.timeout_s, missing);
            b->st.transport += missing;
            b->done = count;
            for (unsigned i = 0; i < b->opt.conns; ++i) /* drop the stragglers so the next phase starts clean */
                if (b->conns[i].req != SIZE_MAX)
                    conn_reopen(b, &b->conns[i]);
        }
    }
    return mono_ns() - t0;
}

/* ---- report ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, in ms. */
static double pct_ms(const uint64_t *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1e6;
}

int main(int argc, char **argv)
{
    bench_t b = {.ep = -1};
    char prefix[32];

    parse_options(argc, argv, &b.opt);
    if (b.opt.print_seed != NULL) {
        print_seed(&b.opt);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);

    b.addr.sin_family = AF_INET;
    b.addr.sin_port = htons((uint16_t)b.opt.port);
    if (inet_pton(AF_INET, b.opt.host, &b.addr.sin_addr) != 1)
        die("--host: expected an IPv4 address, got '%s'", b.opt.host);

    if (b.opt.id_prefix != NULL) {
        snprintf(prefix, sizeof(prefix), "%.24s", b.opt.id_prefix);
    } else {
        unsigned char rnd[6];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            die("getrandom: %s", strerror(errno));
        snprintf(prefix, sizeof(prefix), "%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    }

    /* Everything the run needs is built or allocated here, before any timing. */
    uint64_t tb = mono_ns();
    build_requests(&b.opt, prefix, &b.reqs);
    uint64_t *lat = xmalloc(b.opt.requests * sizeof(*lat));
    memset(lat, 0, b.opt.requests * sizeof(*lat)); /* touch the pages now, not during the run */
    b.conns = xmalloc(b.opt.conns * sizeof(*b.conns));
    b.ep = epoll_create1(EPOLL_CLOEXEC);
    if (b.ep < 0)
        die("epoll_create1: %s", strerror(errno));
    for (unsigned i = 0; i < b.opt.conns; ++i)
        if (conn_open(&b, &b.conns[i]) != 0)
            die("connect %s:%u: %s", b.opt.host, b.opt.port, strerror(errno));
    size_t onboard = b.opt.pipeline ? b.opt.customers : 0;
    size_t total = onboard + b.opt.warmup + b.opt.requests;
    fprintf(stderr, "bench_ingest: built %zu requests (ids evt_%s_0..%zu, body %.0f B avg, request %.0f B avg) in %.2f s\n",
            total, prefix, total - 1, (double)b.reqs.body_bytes / (double)total, (double)b.reqs.len / (double)total,
            (double)(mono_ns() - tb) / 1e9);
    if (b.opt.pipeline)
        fprintf(stderr, "bench_ingest: pipeline mix over %zu customers: %zu customer.updated, %zu "
                        "customer.subscription.updated, %zu HubSpot contact.propertyChange\n",
                b.opt.customers, b.reqs.num_kind[0], b.reqs.num_kind[1], b.reqs.num_kind[2]);

    if (onboard > 0) {
        uint64_t to = run_phase(&b, 0, onboard, NULL);
        fprintf(stderr, "bench_ingest: onboarding %zu customers (one customer.updated each, in order) in %.2f s, %zu not 200\n",
                onboard, (double)to / 1e9, b.st.non200 + b.st.transport);
    }
    if (b.opt.warmup > 0) {
        uint64_t tw = run_phase(&b, onboard, b.opt.warmup, NULL);
        fprintf(stderr, "bench_ingest: warm-up %zu requests in %.2f s, %zu not 200\n", b.opt.warmup, (double)tw / 1e9,
                b.st.non200 + b.st.transport);
    }
    uint64_t elapsed = run_phase(&b, onboard + b.opt.warmup, b.opt.requests, lat);

    const stats_t *st = &b.st;
    size_t errors = st->non200 + st->transport;
    double secs = (double)elapsed / 1e9;
    double rps = (double)st->ok / secs; /* only 200s count as ingested */
    qsort(lat, b.num_lat, sizeof(*lat), cmp_u64);
    double p50 = pct_ms(lat, b.num_lat, 0.50), p90 = pct_ms(lat, b.num_lat, 0.90), p99 = pct_ms(lat, b.num_lat, 0.99);
    double max = b.num_lat > 0 ? (double)lat[b.num_lat - 1] / 1e6 : 0;

    printf("target       http://%s:%u/hooks/%s\n", b.opt.host, b.opt.port, b.opt.source);
    printf("connections  %u\n", b.opt.conns);
    printf("requests     %zu (+%zu warm-up)\n", b.opt.requests, b.opt.warmup);
    printf("ok (200)     %zu\n", st->ok);
    printf("errors       %zu (non-200 answers %zu, no answer %zu)\n", errors, st->non200, st->transport);
    if (st->non200 > 0) {
        for (int s = 100; s < 600; ++s)
            if (st->by_status[s] > 0 && s != 200)
                printf("  status %d  %zu\n", s, st->by_status[s]);
        printf("  first: %s\n", st->first_error);
    }
    if (b.reconnects > 0)
        printf("reconnects   %zu (%zu failed)\n", b.reconnects, b.reconnect_failures);
    if (st->duplicates > 0)
        printf("duplicates   %zu (200 with \"duplicate\":true)\n", st->duplicates);
    printf("elapsed      %.3f s\n", secs);
    printf("requests/s   %.0f\n", rps);
    printf("latency ms   p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", p50, p90, p99, max);
    printf("RESULT conns=%u requests=%zu ok=%zu errors=%zu duplicates=%zu elapsed_s=%.3f rps=%.0f p50_ms=%.3f "
           "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
           b.opt.conns, b.opt.requests, st->ok, errors, st->duplicates, secs, rps, p50, p90, p99, max);
    fflush(stdout);

    for (unsigned i = 0; i < b.opt.conns; ++i)
        conn_close(&b, &b.conns[i]);
    close(b.ep);
    free(b.conns);
    free(lat);
    free(b.reqs.off);
    free(b.reqs.buf);
    return errors == 0 ? 0 : 1;
}
