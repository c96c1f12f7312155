/* store_int.h: the store's private types (struct agent_store split by owner, series, sources,
 * sequence entries); the functions are in each layer's header (docs/architecture.md). */
#ifndef AGENT_STORE_INT_H
#define AGENT_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "mb.h"
#include "store.h"
#include "env.h"
#include "window.h"

/* The last committed flush interval of a series, what /app answers (commit.c writes it after
 * the transaction committed, under reg_lock's write lock; queries read it under the read
 * lock). Fixed size: timers keep their quantiles computed at commit, not the sketch. t = 0:
 * none since start, /app falls back to the finest slot. */
struct agent_last {
	int64_t t;   /* the batch's time: end of its interval */
	uint32_t iv; /* the batch's interval, ms */
	/* counter: count; gauge/resource: value; set: exact count; timers: T_COUNT..T_MAX
	 * then p50, p90, p95, p99 */
	double v[9];
};

struct agent_series {
	uint64_t id;
	uint32_t src;
	uint8_t kind;
	bool committed;
	const char *name; /* into key */
	uint16_t ntags;
	struct mb_kv *tags; /* into the same allocation */
	char *key;          /* canonical: src \0 kind-byte name \0 (k \0 v \0)* */
	size_t keylen;
	uint64_t hash;
	int64_t last_ms, persisted_ms;
	uint32_t iv_ms;
	uint32_t gen; /* commit.c: the attempt that last touched it */
	struct agent_last li;
};

struct agent_source {
	char *name;
	uint16_t ndims;
	struct mb_kv *dims; /* one allocation with its strings */
	bool stopped, committed;
	bool own; /* agentd's own (node, self): set when created, fixed after */
	int64_t first_ms;
	uint32_t *ser; /* series indexes (id - 1), in registration order */
	uint32_t nser;
	size_t capser;
	uint64_t nseries_committed;
	uint64_t refused; /* new series refused (series limit, full store) since agentd started */
	int32_t pend; /* commit.c, during one commit: index+1 of its pending change */
	uint32_t gen; /* commit.c: the attempt that last had a batch of it */
};

struct agent_seqent {
	uint64_t inst, seq;
	uint64_t pend; /* commit.c: the seq of this commit not yet committed, 0 none */
	/* agentd's clock when the instance last sent (a commit or a dup); at open, the open
	 * time (not stored): an entry idle for AGENT_SEQ_KEEP_MS is forgotten. */
	int64_t last_ms;
};
/* 7 days: see commit.c's seq_forget_step for why this is safe. */
#define AGENT_SEQ_KEEP_MS (7 * 24 * 3600000LL)

/* rollup.c: per level >= 1, slots < S are final; [S, T) final for series ids <= k. */
struct agent_roll {
	int64_t S, T;
	uint64_t k;
};

/* The in-memory registry: the writer mutates it under lock's write lock (and reads it
 * without), queries read it under the read lock. */
struct agent_registry {
	pthread_rwlock_t lock;
	struct agent_series **ser; /* by id - 1; &agent_dead for a forgotten id (free) */
	uint32_t nser;
	size_t capser;
	uint32_t *freeser; /* forgotten indexes, reused by new series */
	uint32_t nfree;
	size_t capfree;
	/* Series added during the current commit attempt (undone in reverse on failure). */
	struct agent_added {
		uint32_t idx;
		bool reused;
	} * added;
	uint32_t nadded;
	size_t capadded;
	struct mb_htab sidx; /* series: hash of the canonical key -> index */
	struct agent_source **src;
	uint32_t nsrc;
	size_t capsrc;
	struct mb_htab cidx; /* sources: hash of the name -> index */
};

/* What only the writer thread touches (commit, roll-up, forgetting): no lock. */
struct agent_writer_state {
	struct agent_seqent *seqs; /* dense; seqidx: hash of the instance -> index */
	uint32_t nseqs;
	size_t capseqs;
	struct mb_htab seqidx;
	uint32_t gen;                          /* the commit attempt */
	uint32_t forget_pos, seq_pos, src_pos; /* where the forgetting scans go on */
	bool map_at_max;
	bool fault_episode;
	struct agent_wbuf *wb;                     /* commit.c's reusable work buffers */
	struct agent_roll roll[MB_MAX_LEVELS];     /* committed */
	struct agent_roll roll_new[MB_MAX_LEVELS]; /* during a commit attempt */
};

/* The store, split by owner: a field's path says which thread may touch it and how. */
struct agent_store {
	/* Fixed after open: any thread, no lock. */
	struct agent_store_opts o;
	struct agent_geom geom[MB_MAX_LEVELS];
	int nlevels;
	struct agent_env e;          /* env.h: under e.txn_lock */
	struct agent_registry r;     /* under r.lock */
	struct agent_writer_state w; /* writer thread only */
	struct {
		pthread_mutex_t lock;
		struct agent_store_stats v;
	} stats; /* under stats.lock */
};

#endif
