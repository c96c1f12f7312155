/* wbuf.h: the write side's shared work (layer 5, writer thread only): the operations a commit
 * attempt plans (plan.c) and applies (apply.c), what it forgets (forget.c), and its tally. */
#ifndef AGENT_WBUF_H
#define AGENT_WBUF_H

#include "write.h"

/* Series a source may have past --max-series-per-source for the shim's own counters and
 * resource metrics (see the limit in plan.c). */
#define AGENT_SHIM_ALLOWANCE 64

struct src_refused {
	uint32_t src;
	uint64_t n;
};

/* One slot write into a chunk. */
struct cop {
	uint64_t hi; /* level << 32 | ring chunk */
	uint64_t id;
	uint32_t ord;
	uint16_t slot;
	uint8_t level, kind;
	uint64_t abs_chunk;
	const struct mb_record *rec;
	double est; /* sets: merged HLL estimate of the slot */
};
/* One sketch/HLL merge (timers, sets). */
struct sop {
	uint64_t hi; /* level << 32 | ring slot */
	uint64_t id;
	uint32_t ord, cop;
	uint8_t kind;
	uint64_t abs_slot;
	const struct mb_record *rec;
};
/* One running-total update (counters, timers). */
struct top {
	uint64_t id;
	uint32_t ord;
	uint8_t kind;
	const struct mb_record *rec;
};
struct touch {
	struct agent_series *se;
	int64_t t;
	uint32_t iv;
	const struct mb_record *rec;
	uint32_t qi; /* timers: index of its quantiles */
};
struct quant {
	double v[4];
};
struct pend_src {
	uint32_t src;
	bool stopped, isnew, dims_changed;
	uint16_t ndims;
	const struct mb_kv *dims; /* the batch's, live during the call */
};

#define VEC(T, name)                                                                               \
	T *name;                                                                                   \
	size_t n_##name, cap_##name

/* sort.c's scratch, kept between commits. */
struct agent_sortbuf {
	struct agent_rkey *a;
	size_t cap;
	uint8_t *tmp;
	size_t captmp;
};
/* Sorts n elements of sz bytes at base by key[i] (one per element), stable: MB_ENOMEM (base
 * unchanged). */
int agent_sort_keyed(void *base, size_t n, size_t sz, const uint64_t *key,
                     struct agent_sortbuf *sb);
void agent_sortbuf_free(struct agent_sortbuf *sb);

struct agent_wbuf {
	VEC(struct cop, cops);
	VEC(struct sop, sops);
	VEC(struct top, tops);
	VEC(struct touch, touches);
	VEC(struct pend_src, psrc);
	VEC(uint64_t, insts);
	VEC(uint32_t, forget);
	VEC(uint64_t, seqgone);           /* instances forgotten by this attempt */
	VEC(uint32_t, srcgone);           /* sources forgotten by this attempt, by index */
	VEC(struct quant, quants);        /* timers' interval quantiles, by touch.qi */
	VEC(struct src_refused, refused); /* new series refused, by source, in this attempt */
	struct mb_buf kb, vb;
	uint8_t *chunk;
	uint64_t *keys; /* apply.c: the sort keys of cops or tops */
	size_t capkeys;
	struct agent_sortbuf sb;
};

#define PUSH(wb, name, val)                                                                        \
	((wb)->n_##name < (wb)->cap_##name ||                                                      \
	         mb_grow(&(wb)->name, &(wb)->cap_##name, (wb)->n_##name + 1, sizeof *(wb)->name,   \
	                 1024) == 0                                                                \
	     ? ((wb)->name[(wb)->n_##name++] = (val), 0)                                           \
	     : MB_ENOMEM)

/* What one attempt counts, added to the stats once it has committed. */
struct agent_tally {
	uint64_t refused_limit, refused_map, points, dups, reserved;
	int64_t now;
};

/* What an attempt may admit, stepped down when the map is full at --max-size. */
enum agent_commit_mode {
	AGENT_CM_NORMAL,     /* new series admitted; roll-up runs */
	AGENT_CM_REFUSE_NEW, /* new series refused, but agentd's own */
	AGENT_CM_NO_ROLLUP,  /* the same, and no roll-up in this transaction */
	AGENT_CM_STRICT,     /* not even agentd's own new series */
};

/* plan.c: admits the batches (duplicates, time, reserved names, limits, source changes) into
 * wb's operations, setting each status; the registry gains the new series and sources (on the
 * undo stack). 0 or MB_ENOMEM (then the caller undoes). */
int agent_plan(struct agent_store *s, struct mb_batch *const *batches, const bool *own, int n,
               enum agent_commit_mode mode, uint32_t *status, char (*errs)[MB_MAX_ERR + 1],
               struct agent_tally *ty);
/* apply.c: sorts and writes the planned chunk, sketch and totals operations, then the series,
 * source and sequence records. 0, an LMDB code or MB_ENOMEM. */
int agent_apply(struct agent_store *s, MDB_txn *t, struct agent_wbuf *wb);
/* forget.c: picks, a few a commit, series whose history rolled out, shim instances idle for
 * 7 days and sources left without series; deletes their records in t. 0 or an LMDB code. */
int agent_forget(struct agent_store *s, MDB_txn *t, int64_t now, struct agent_wbuf *wb);

#endif
