/* self.c: agentd's own metrics, a source of their own ("agentd"): what it received, refused,
 * dropped and committed, how long commits take, its queue, series and store size. */
#include <nng/nng.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agentd.h"
#include "mapping.h"
#include "rw.h"

struct agent_counters agent_ctr;

static const char *const reject_names[AGENT_REJ_NREASONS] = {"invalid", "version", "too_big",
                                                             "store", "peer"};

const char *agent_reject_name(int reason)
{
	return reason >= 0 && reason < AGENT_REJ_NREASONS ? reject_names[reason] : "?";
}

/* Counters are sent as the change since the last batch the store committed: a batch that was
 * not committed (store full, disk full) is folded into the next one, not lost. */
enum {
	S_BRECV, S_RRECV, S_BCOMMIT, S_RCOMMIT, S_DUP, S_RETRY, S_MISMATCH, S_UNKNOWN, S_TXNS,
	S_QUERIES, S_QFAIL, S_REF_LIMIT, S_REF_FULL, S_MAP_DROP, S_MAP_ERR, S_MAP_RELOAD, S_EXP_CAP,
	S_REJ0,
	S_L0 = S_REJ0 + AGENT_REJ_NREASONS, /* accepted, errors, half_open per listener */
	S_N = S_L0 + 3 * AGENT_NLISTENERS
};
static const struct {
	const char *name, *tk, *tv;
} self_counters[S_N] = {
	[S_BRECV] = {"agentd.batches.received", NULL, NULL},
	[S_RRECV] = {"agentd.records.received", NULL, NULL},
	[S_BCOMMIT] = {"agentd.batches.committed", NULL, NULL},
	[S_RCOMMIT] = {"agentd.records.committed", NULL, NULL},
	[S_DUP] = {"agentd.batches.duplicate", NULL, NULL},
	[S_RETRY] = {"agentd.batches.retry", NULL, NULL},
	[S_MISMATCH] = {"agentd.peer.mismatch", NULL, NULL},
	[S_UNKNOWN] = {"agentd.peer.unverified", NULL, NULL},
	[S_TXNS] = {"agentd.commits", NULL, NULL},
	[S_QUERIES] = {"agentd.queries", NULL, NULL},
	[S_QFAIL] = {"agentd.queries.failed", NULL, NULL},
	[S_REF_LIMIT] = {"agentd.series.refused", "reason", "series_limit"},
	[S_REF_FULL] = {"agentd.series.refused", "reason", "max_size"},
	[S_MAP_DROP] = {"agentd.mapping.dropped", NULL, NULL},
	[S_MAP_ERR] = {"agentd.mapping.errors", NULL, NULL},
	[S_MAP_RELOAD] = {"agentd.mapping.reload_failed", NULL, NULL},
	[S_EXP_CAP] = {"agentd.export.capped", NULL, NULL},
	[S_REJ0 + AGENT_REJ_INVALID] = {"agentd.batches.rejected", "reason", "invalid"},
	[S_REJ0 + AGENT_REJ_VERSION] = {"agentd.batches.rejected", "reason", "version"},
	[S_REJ0 + AGENT_REJ_TOOBIG] = {"agentd.batches.rejected", "reason", "too_big"},
	[S_REJ0 + AGENT_REJ_STORE] = {"agentd.batches.rejected", "reason", "store"},
	[S_REJ0 + AGENT_REJ_PEER] = {"agentd.batches.rejected", "reason", "peer"},
	[S_L0 + 0] = {"agentd.listener.accepted", "socket", "ingest"},
	[S_L0 + 1] = {"agentd.listener.errors", "socket", "ingest"},
	[S_L0 + 2] = {"agentd.listener.half_open", "socket", "ingest"},
	[S_L0 + 3] = {"agentd.listener.accepted", "socket", "query"},
	[S_L0 + 4] = {"agentd.listener.errors", "socket", "query"},
	[S_L0 + 5] = {"agentd.listener.half_open", "socket", "query"},
};

/* The listeners are never re-created, so nng's counts only grow; the last good reading
 * stands in when nng has none. */
static nng_listener listeners[AGENT_NLISTENERS];
static bool have_listener[AGENT_NLISTENERS];
static uint64_t listener_last[3 * AGENT_NLISTENERS];

void agent_self_listener(int which, nng_listener l)
{
	if (which >= 0 && which < AGENT_NLISTENERS) {
		listeners[which] = l;
		have_listener[which] = true;
	}
}

static void listener_counts(uint64_t *now)
{
	for (int i = 0; i < AGENT_NLISTENERS; i++) {
		struct mb_listener_stats ls;
		if (have_listener[i] && mb_listener_stats(listeners[i], &ls) == 0) {
			listener_last[3 * i] = ls.accepted;
			listener_last[3 * i + 1] = ls.errors;
			listener_last[3 * i + 2] = ls.half_open;
		}
	}
	memcpy(now, listener_last, sizeof listener_last);
}

static pthread_mutex_t self_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t committed[S_N], inflight[S_N];
static bool pending;
static uint64_t prev_txns, prev_commit_us;

static uint64_t ld(atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

void agent_self_done(bool stored)
{
	pthread_mutex_lock(&self_mu);
	if (stored)
		memcpy(committed, inflight, sizeof committed);
	pending = false;
	pthread_mutex_unlock(&self_mu);
	agent_rw_self_done(stored);
}

/* Per source, the new series refused since agentd started (a gauge of the running total:
 * the set of sources changes, the counters above are a fixed set). Sources that never had
 * one refused are not listed. */
static int add_refused(struct agent_store *st, struct mb_batch *b)
{
	struct agent_refused *v;
	size_t n;
	int rv = agent_store_refused(st, &v, &n);
	for (size_t i = 0; rv == 0 && i < n; i++) {
		struct mb_kv t = {"source", v[i].source};
		rv = agent_batch_add(b, MB_GAUGE, "agentd.source.series_refused", (double)v[i].refused,
		                     1, &t);
	}
	free(v);
	return rv;
}

int agent_self_collect(struct agent_store *st, uint64_t instance, uint64_t seq, int64_t now_ms,
                       int64_t interval_ms, const char *hostname, struct mb_batch **out)
{
	struct agent_store_stats ss;
	uint64_t now[S_N];
	int rv;
	pthread_mutex_lock(&self_mu);
	bool busy = pending;
	pthread_mutex_unlock(&self_mu);
	if (busy)
		return MB_ETIMEDOUT; /* the last one is still in the writer's queue */
	struct mb_batch *b = agent_batch_new("agentd", instance, seq, now_ms, interval_ms);
	if (!b)
		return MB_ENOMEM;
	memset(&ss, 0, sizeof ss);
	agent_store_stats(st, &ss);
	now[S_BRECV] = ld(&agent_ctr.batches_received);
	now[S_RRECV] = ld(&agent_ctr.records_received);
	now[S_BCOMMIT] = ld(&agent_ctr.batches_committed);
	now[S_RCOMMIT] = ld(&agent_ctr.records_committed);
	now[S_DUP] = ld(&agent_ctr.batches_dup);
	now[S_RETRY] = ld(&agent_ctr.batches_retry);
	now[S_MISMATCH] = ld(&agent_ctr.peer_mismatch);
	now[S_UNKNOWN] = ld(&agent_ctr.peer_unknown);
	now[S_TXNS] = ld(&agent_ctr.commit_txns);
	now[S_QUERIES] = ld(&agent_ctr.queries);
	now[S_QFAIL] = ld(&agent_ctr.query_errors);
	listener_counts(&now[S_L0]);
	now[S_REF_LIMIT] = ss.refused_series_limit;
	now[S_REF_FULL] = ss.refused_map_full;
	now[S_MAP_DROP] = ld(&agent_ctr.map_dropped);
	now[S_MAP_ERR] = ld(&agent_ctr.map_errors);
	now[S_MAP_RELOAD] = ld(&agent_ctr.map_reload_failed);
	now[S_EXP_CAP] = ss.export_capped;
	int map_rules, map_unmatched;
	agent_mapping_installed_stats(&map_rules, &map_unmatched);
	for (int r = 0; r < AGENT_REJ_NREASONS; r++)
		now[S_REJ0 + r] = ld(&agent_ctr.batches_rejected[r]);
	if ((rv = agent_batch_dim(b, "hostname", hostname ? hostname : "")) != 0)
		goto fail;
	for (int i = 0; i < S_N; i++) {
		struct mb_kv t = {self_counters[i].tk, self_counters[i].tv};
		double d = now[i] >= committed[i] ? (double)(now[i] - committed[i]) : 0;
		if ((rv = agent_batch_add(b, MB_COUNTER, self_counters[i].name, d, t.key ? 1 : 0,
		                          t.key ? &t : NULL)) != 0)
			goto fail;
	}
	uint64_t us = ld(&agent_ctr.commit_us_total);
	uint64_t dtx = now[S_TXNS] - prev_txns, dus = us - prev_commit_us;
	prev_txns = now[S_TXNS];
	prev_commit_us = us;
	if ((rv = agent_batch_add(b, MB_GAUGE, "agentd.commit.latency_ms",
	                          dtx ? (double)dus / (double)dtx / 1000.0 : 0, 0, NULL)) != 0 ||
	    (rv = agent_batch_add(b, MB_GAUGE, "agentd.commit.latency_max_ms",
	                          (double)ld(&agent_ctr.commit_us_max) / 1000.0, 0, NULL)) != 0 ||
	    (rv = agent_batch_add(b, MB_GAUGE, "agentd.queue.depth",
	                          (double)atomic_load(&agent_ctr.queue_depth), 0, NULL)) != 0 ||
	    (rv = agent_batch_add(b, MB_GAUGE, "agentd.series", (double)ss.series, 0, NULL)) != 0 ||
	    (rv = agent_batch_add(b, MB_GAUGE, "agentd.series.live", (double)ss.live_series, 0,
	                          NULL)) != 0 ||
	    (rv = agent_batch_add(b, MB_GAUGE, "agentd.sources", (double)ss.sources, 0, NULL)) !=
	        0 ||
	    (rv = agent_batch_add(b, MB_GAUGE, "agentd.store.used_bytes", (double)ss.used_bytes, 0,
	                          NULL)) != 0 ||
	    (rv = agent_batch_add(b, MB_GAUGE, "agentd.store.map_bytes", (double)ss.map_bytes, 0,
	                          NULL)) != 0 ||
	    (rv = add_refused(st, b)) != 0 ||
	    (rv = agent_batch_add(b, MB_GAUGE, "agentd.mapping.rules", (double)map_rules, 0,
	                          NULL)) != 0 ||
	    (rv = agent_batch_add(b, MB_GAUGE, "agentd.mapping.rules_unmatched",
	                          (double)map_unmatched, 0, NULL)) != 0)
		goto fail;
	if ((rv = agent_rw_self(b)) != 0)
		goto fail;
	atomic_store(&agent_ctr.commit_us_max, 0);
	pthread_mutex_lock(&self_mu);
	memcpy(inflight, now, sizeof inflight);
	pending = true;
	pthread_mutex_unlock(&self_mu);
	*out = b;
	return 0;
fail:
	agent_batch_destroy(b);
	return rv;
}
