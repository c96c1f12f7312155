/* self.c: agentd's own metrics, a source of their own ("agentd"): what it received, refused,
 * dropped and committed, how long commits take, its queue, series and store size. */
#include <string.h>

#include "agentd.h"

struct agent_counters agent_ctr;

static const char *const reject_names[AGENT_REJ_NREASONS] = {"invalid", "version", "too_big",
                                                             "store"};

const char *agent_reject_name(int reason)
{
	return reason >= 0 && reason < AGENT_REJ_NREASONS ? reject_names[reason] : "?";
}

/* Values at the previous collection, for the counters' deltas. */
static struct {
	uint64_t batches_received, records_received, rejected[AGENT_REJ_NREASONS];
	uint64_t committed, records_committed, dup, retry, mismatch, unknown;
	uint64_t txns, commit_us, queries, query_errors, restarts;
	uint64_t refused_limit, refused_full;
} prev;

static uint64_t ld(atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

/* Adds counter name = now - *last (a restart of the value counts as zero) and moves *last. */
static int delta(struct mb_batch *b, const char *name, uint64_t now, uint64_t *last,
                 const char *tk, const char *tv)
{
	struct mb_kv t = {tk, tv};
	double d = now >= *last ? (double)(now - *last) : 0;
	*last = now;
	return agent_batch_add(b, MB_COUNTER, name, d, tk ? 1 : 0, tk ? &t : NULL);
}

int agent_self_collect(struct agent_store *st, uint64_t instance, uint64_t seq, int64_t now_ms,
                       int64_t interval_ms, const char *hostname, struct mb_batch **out)
{
	struct agent_store_stats ss;
	int rv;
	struct mb_batch *b = agent_batch_new("agentd", instance, seq, now_ms, interval_ms);
	if (!b)
		return MB_ENOMEM;
	memset(&ss, 0, sizeof ss);
	agent_store_stats(st, &ss);
	uint64_t txns = ld(&agent_ctr.commit_txns), us = ld(&agent_ctr.commit_us_total);
	uint64_t dtx = txns - prev.txns, dus = us - prev.commit_us;
	if ((rv = agent_batch_dim(b, "hostname", hostname ? hostname : "")) != 0)
		goto fail;
	if ((rv = delta(b, "agentd.batches.received", ld(&agent_ctr.batches_received),
	                &prev.batches_received, NULL, NULL)) != 0 ||
	    (rv = delta(b, "agentd.records.received", ld(&agent_ctr.records_received),
	                &prev.records_received, NULL, NULL)) != 0 ||
	    (rv = delta(b, "agentd.batches.committed", ld(&agent_ctr.batches_committed),
	                &prev.committed, NULL, NULL)) != 0 ||
	    (rv = delta(b, "agentd.records.committed", ld(&agent_ctr.records_committed),
	                &prev.records_committed, NULL, NULL)) != 0 ||
	    (rv = delta(b, "agentd.batches.duplicate", ld(&agent_ctr.batches_dup), &prev.dup,
	                NULL, NULL)) != 0 ||
	    (rv = delta(b, "agentd.batches.retry", ld(&agent_ctr.batches_retry), &prev.retry, NULL,
	                NULL)) != 0 ||
	    (rv = delta(b, "agentd.peer.mismatch", ld(&agent_ctr.peer_mismatch), &prev.mismatch,
	                NULL, NULL)) != 0 ||
	    (rv = delta(b, "agentd.peer.unknown", ld(&agent_ctr.peer_unknown), &prev.unknown, NULL,
	                NULL)) != 0 ||
	    (rv = delta(b, "agentd.commits", txns, &prev.txns, NULL, NULL)) != 0 ||
	    (rv = delta(b, "agentd.queries", ld(&agent_ctr.queries), &prev.queries, NULL, NULL)) !=
	        0 ||
	    (rv = delta(b, "agentd.queries.failed", ld(&agent_ctr.query_errors),
	                &prev.query_errors, NULL, NULL)) != 0 ||
	    (rv = delta(b, "agentd.listener.restarts", ld(&agent_ctr.listener_restarts),
	                &prev.restarts, NULL, NULL)) != 0 ||
	    (rv = delta(b, "agentd.series.refused", ss.refused_series_limit, &prev.refused_limit,
	                "reason", "series_limit")) != 0 ||
	    (rv = delta(b, "agentd.series.refused", ss.refused_map_full, &prev.refused_full,
	                "reason", "max_size")) != 0)
		goto fail;
	for (int r = 0; r < AGENT_REJ_NREASONS; r++)
		if ((rv = delta(b, "agentd.batches.rejected", ld(&agent_ctr.batches_rejected[r]),
		                &prev.rejected[r], "reason", reject_names[r])) != 0)
			goto fail;
	prev.commit_us = us;
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
	                          NULL)) != 0)
		goto fail;
	atomic_store(&agent_ctr.commit_us_max, 0);
	*out = b;
	return 0;
fail:
	agent_batch_destroy(b);
	return rv;
}
