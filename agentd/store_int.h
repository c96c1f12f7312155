/* store_int.h: the store's private structures shared by store.c, registry.c, window.c,
 * commit.c, query.c, range.c and backup.c; nothing outside agentd/store*.c includes it. */
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
	int64_t first_ms;
	uint32_t *ser; /* series indexes (id - 1), in registration order */
	uint32_t nser;
	size_t capser;
	uint64_t nseries_committed;
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

/* registry.c */
int agent_canon_key(struct mb_buf *b, const char *src, int kind, const char *name, int ntags,
                    const struct mb_kv *tags);
/* The series a forgotten id points at: not committed, never live. */
extern struct agent_series agent_dead;
struct agent_series *agent_series_find(struct agent_store *s, const char *key, size_t keylen,
                                       uint64_t hash);
/* Registers a series at a forgotten index, else at the end (id = index + 1); it goes on the
 * undo stack. */
int agent_series_add(struct agent_store *s, const char *key, size_t keylen, uint64_t hash,
                     uint32_t src, struct agent_series **out);
void agent_series_undo(struct agent_store *s); /* undoes the last agent_series_add */
/* Forgets a committed series (its history rolled out): out of the hash and its source, its
 * index freed for reuse. Writer, under the registry write lock. */
void agent_series_forget(struct agent_store *s, uint32_t idx);
int agent_source_find(struct agent_store *s, const char *name);
int agent_source_add(struct agent_store *s, const char *name, uint32_t *out);
void agent_source_pop(struct agent_store *s);
int agent_dims_copy(uint16_t n, const struct mb_kv *in, struct mb_kv **out);
bool agent_dims_equal(uint16_t na, const struct mb_kv *a, uint16_t nb, const struct mb_kv *b);
int agent_source_encode(const struct agent_source *c, struct mb_buf *b);
int agent_series_encode(const struct agent_series *se, struct mb_buf *b);
int agent_registry_load(struct agent_store *s, MDB_txn *txn);
void agent_registry_free(struct agent_store *s);
/* Forgets a source without series: out of the hash; the last source takes its index (its
 * series' src follow). Writer, under the registry write lock. */
void agent_source_forget(struct agent_store *s, uint32_t idx);
bool agent_series_live(const struct agent_store *s, const struct agent_series *se, int64_t now);
bool agent_source_live(const struct agent_store *s, const struct agent_source *c, int64_t now);

/* seq.c (writer thread only) */
/* The entry of an instance; with create, a new one (seq 0) when absent. NULL: absent, or out
 * of memory. Pointers are valid until the next create or remove. */
struct agent_seqent *agent_seq_find(struct agent_store *s, uint64_t inst, bool create);
/* Drops an instance's entry (between commit attempts: moves another entry). */
void agent_seq_remove(struct agent_store *s, uint64_t inst);
void agent_seq_free(struct agent_store *s);

/* commit.c */
void agent_commit_free(struct agent_store *s);

/* rollup.c */
extern uint32_t agent_roll_budget; /* series per level per commit (tests make it small) */
bool agent_roll_stored(const struct agent_roll *r, int64_t slot, uint64_t id);
int agent_roll_load(struct agent_store *s, MDB_txn *t, struct agent_roll *out);
int agent_roll_step(struct agent_store *s, MDB_txn *t, int64_t now, struct mb_buf *vb);
/* A slot of any level, rolled up from the level below when it is not final yet. sk/hll, when
 * given, get the slot's sketch/HLL merged in. 0 or MDB_NOTFOUND (no data). */
int agent_slot_get(struct agent_store *s, MDB_txn *t, const struct agent_series *se, int level,
                   int64_t abs, const struct agent_roll *rv, double *out, struct mb_sketch *sk,
                   struct mb_hll *hll);

/* query.c / range.c / backup.c */
void agent_q_range(struct agent_store *s, MDB_txn *t, const struct mb_query *q, struct mb_reply *r);
void agent_q_backup(struct agent_store *s, const struct mb_query *q, struct mb_reply *r);
void agent_reply_err(struct mb_reply *r, uint32_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reads the slot of (level, abs_slot) of a series into out (width doubles); 0 found,
 * MDB_NOTFOUND when empty or of another lap. */
int agent_read_slot(struct agent_store *s, MDB_txn *t, const struct agent_series *se, int level,
                    int64_t abs_slot, double *out);
int agent_read_sketch(struct agent_store *s, MDB_txn *t, uint64_t id, int level, int64_t abs_slot,
                      struct mb_sketch *sk, struct mb_hll *hll);

#endif
