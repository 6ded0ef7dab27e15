/*
 * `switchyard cluster status`: what the cluster looks like from NATS, without any hub: the stream (messages, last
 * seq, its NATS replicas with leader and lag), each hub's last heartbeat (stream seq in its log, lag, age) and the
 * lease bucket's holder.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"

static json_t *read_nodes(jsCtx *js, const char *stream, uint64_t last_seq)
{
    char bucket[96];
    kvStore *kv = NULL;
    kvKeysList keys = {0};
    json_t *arr = json_array();
    snprintf(bucket, sizeof(bucket), "%s_nodes", stream);
    if (js_KeyValue(&kv, js, bucket) != NATS_OK || kvStore_Keys(&keys, kv, NULL) != NATS_OK)
        goto Exit;
    for (int i = 0; i != keys.Count; ++i) {
        kvEntry *e = NULL;
        if (kvStore_Get(&e, kv, keys.Keys[i]) != NATS_OK)
            continue;
        json_t *doc = json_loadb(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), 0, NULL);
        if (doc != NULL) {
            json_int_t seq = json_integer_value(json_object_get(doc, "stream_seq"));
            json_int_t at = json_integer_value(json_object_get(doc, "at_ms"));
            json_object_set_new(doc, "lag", json_integer((json_int_t)last_seq > seq ? (json_int_t)last_seq - seq : 0));
            json_object_set_new(doc, "heartbeat_age_ms", json_integer(sy_now_ms() - at));
            json_array_append_new(arr, doc);
        }
        kvEntry_Destroy(e);
    }
Exit:
    kvKeysList_Destroy(&keys);
    kvStore_Destroy(kv);
    return arr;
}

static json_t *read_lease(jsCtx *js, const char *stream)
{
    char bucket[96];
    kvStore *kv = NULL;
    kvEntry *e = NULL;
    json_t *out = json_null();
    snprintf(bucket, sizeof(bucket), "%s_lease", stream);
    /* "" is a lease given back (cluster_lease.c): not held */
    if (js_KeyValue(&kv, js, bucket) == NATS_OK && kvStore_Get(&e, kv, SY_CLUSTER_LEASE_KEY) == NATS_OK &&
        kvEntry_ValueLen(e) > 0) {
        json_decref(out);
        out = json_pack("{s:s%, s:I}", "holder", kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), "revision",
                        (json_int_t)kvEntry_Revision(e));
    }
    kvEntry_Destroy(e);
    kvStore_Destroy(kv);
    return out;
}

int sy_cluster_status_print(const sy_cluster_conf_t *conf, int as_json, FILE *out)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    sy_error_t err = {0};
    json_t *doc = NULL;
    int rc = 1;
    char msg[600];

    if (sy_cluster_connect(conf, "switchyard-cli", NULL, &nc, &err) != 0) {
        sy_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "switchyard: %s\n", msg);
        goto Exit;
    }
    if (natsConnection_JetStream(&js, nc, NULL) != NATS_OK ||
        js_GetStreamInfo(&si, js, conf->stream, NULL, NULL) != NATS_OK) {
        fprintf(stderr, "switchyard: stream %s not found (no hub of this cluster has started yet?)\n", conf->stream);
        goto Exit;
    }
    json_t *replicas = json_array();
    if (si->Cluster != NULL) {
        if (si->Cluster->Leader != NULL)
            json_array_append_new(replicas, json_pack("{s:s, s:s, s:b, s:b, s:I}", "name", si->Cluster->Leader,
                                                      "role", "leader", "current", 1, "offline", 0, "lag", 0));
        for (int i = 0; i != si->Cluster->ReplicasLen; ++i) {
            jsPeerInfo *p = si->Cluster->Replicas[i];
            json_array_append_new(replicas, json_pack("{s:s, s:s, s:b, s:b, s:I}", "name", p->Name, "role", "replica",
                                                      "current", p->Current, "offline", p->Offline, "lag",
                                                      (json_int_t)p->Lag));
        }
    }
    doc = json_pack("{s:{s:s, s:I, s:I, s:I, s:o}, s:o, s:o}", "stream", "name", conf->stream, "messages",
                    (json_int_t)si->State.Msgs, "last_seq", (json_int_t)si->State.LastSeq, "replicas_configured",
                    (json_int_t)si->Config->Replicas, "replicas", replicas, "nodes",
                    read_nodes(js, conf->stream, si->State.LastSeq), "lease", read_lease(js, conf->stream));
    if (doc == NULL)
        goto Exit;
    if (as_json) {
        json_dumpf(doc, out, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', out);
    } else {
        json_t *st = json_object_get(doc, "stream"), *v;
        size_t i;
        fprintf(out, "stream %s: %lld messages, last seq %lld, %lld replicas\n", conf->stream,
                (long long)si->State.Msgs, (long long)si->State.LastSeq, (long long)si->Config->Replicas);
        json_array_foreach(json_object_get(st, "replicas"), i, v)
            fprintf(out, "  nats %-12s %-8s %s lag %lld\n", json_string_value(json_object_get(v, "name")),
                    json_string_value(json_object_get(v, "role")),
                    json_is_true(json_object_get(v, "offline"))   ? "offline"
                    : json_is_true(json_object_get(v, "current")) ? "current"
                                                                  : "behind",
                    (long long)json_integer_value(json_object_get(v, "lag")));
        json_t *nodes = json_object_get(doc, "nodes");
        if (json_array_size(nodes) == 0)
            fprintf(out, "no hub has sent a heartbeat in the last 30 s\n");
        json_array_foreach(nodes, i, v)
            fprintf(out, "  hub  %-12s stream seq %lld, lag %lld, %lld events, heartbeat %lld ms ago%s\n",
                    json_string_value(json_object_get(v, "node")),
                    (long long)json_integer_value(json_object_get(v, "stream_seq")),
                    (long long)json_integer_value(json_object_get(v, "lag")),
                    (long long)json_integer_value(json_object_get(v, "events")),
                    (long long)json_integer_value(json_object_get(v, "heartbeat_age_ms")),
                    json_is_true(json_object_get(v, "sync")) ? ", holds the lease" : "");
        json_t *lease = json_object_get(doc, "lease");
        if (json_is_object(lease))
            fprintf(out, "lease: held by %s (revision %lld)\n", json_string_value(json_object_get(lease, "holder")),
                    (long long)json_integer_value(json_object_get(lease, "revision")));
        else
            fprintf(out, "lease: not held\n");
    }
    rc = 0;
Exit:
    json_decref(doc);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    if (nc != NULL) {
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
    }
    nats_Close();
    return rc;
}
