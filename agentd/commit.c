/* commit.c: agent_store_commit: many batches in one write transaction, write-through into
 * every level, sorted in-place slot writes, sequence numbers, limits, MAP_FULL and ENOSPC. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "write.h"

/* Series a source may have past --max-series-per-source for the shim's own counters and
 * resource metrics (see the limit in attempt). */
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

struct agent_wbuf {
	VEC(struct cop, cops);
	VEC(struct sop, sops);
	VEC(struct top, tops);
	VEC(struct touch, touches);
	VEC(struct pend_src, psrc);
	VEC(uint64_t, insts);
	VEC(uint32_t, forget);
	VEC(uint64_t, seqgone);    /* instances forgotten by this attempt */
	VEC(uint32_t, srcgone);    /* sources forgotten by this attempt, by index */
	VEC(struct quant, quants); /* timers' interval quantiles, by touch.qi */
	VEC(struct src_refused, refused); /* new series refused, by source, in this attempt */
	struct mb_buf kb, vb;
	uint8_t *chunk;
};

#define PUSH(wb, name, val)                                                                        \
	((wb)->n_##name < (wb)->cap_##name ||                                                      \
	         mb_grow(&(wb)->name, &(wb)->cap_##name, (wb)->n_##name + 1, sizeof *(wb)->name,   \
	                 1024) == 0                                                                \
	     ? ((wb)->name[(wb)->n_##name++] = (val), 0)                                           \
	     : MB_ENOMEM)

void agent_commit_free(struct agent_store *s)
{
	struct agent_wbuf *wb = s->w.wb;
	if (!wb)
		return;
	free(wb->cops);
	free(wb->sops);
	free(wb->tops);
	free(wb->touches);
	free(wb->psrc);
	free(wb->insts);
	free(wb->forget);
	free(wb->seqgone);
	free(wb->srcgone);
	free(wb->quants);
	free(wb->refused);
	free(wb->chunk);
	mb_buf_free(&wb->kb);
	mb_buf_free(&wb->vb);
	free(wb);
	s->w.wb = NULL;
}

static int cmp_cop(const void *a, const void *b)
{
	const struct cop *x = a, *y = b;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}
static int cmp_sop(const void *a, const void *b)
{
	const struct sop *x = a, *y = b;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}
static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}
static int cmp_top(const void *a, const void *b)
{
	const struct top *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Merges one record into a slot of `w` doubles. */
static void slot_merge(double *sl, int lay, const struct cop *op)
{
	const struct mb_record *r = op->rec;
	bool empty = agent_slot_empty(sl);
	switch (lay) {
	case LAY_ONE:
		if (op->kind == MB_COUNTER)
			sl[0] = (empty ? 0 : sl[0]) + r->value;
		else if (op->kind == MB_SET)
			sl[0] = empty ? (double)r->set_count
			              : fmax(fmax(sl[0], (double)r->set_count), round(op->est));
		else
			sl[0] = r->value;
		break;
	case LAY_GAUGE5:
		if (empty) {
			sl[G_LAST] = sl[G_MIN] = sl[G_MAX] = sl[G_SUM] = r->value;
			sl[G_N] = 1;
		} else {
			sl[G_LAST] = r->value;
			sl[G_MIN] = fmin(sl[G_MIN], r->value);
			sl[G_MAX] = fmax(sl[G_MAX], r->value);
			sl[G_SUM] += r->value;
			sl[G_N] += 1;
		}
		break;
	case LAY_TIMER5:
		if (empty) {
			sl[T_COUNT] = r->count;
			sl[T_SUM] = r->sum;
			sl[T_SUMSQ] = r->sumsq;
			sl[T_MIN] = r->count > 0 ? r->min : INFINITY;
			sl[T_MAX] = r->count > 0 ? r->max : -INFINITY;
		} else {
			sl[T_COUNT] += r->count;
			sl[T_SUM] += r->sum;
			sl[T_SUMSQ] += r->sumsq;
			if (r->count > 0) {
				sl[T_MIN] = fmin(sl[T_MIN], r->min);
				sl[T_MAX] = fmax(sl[T_MAX], r->max);
			}
		}
		/* Keep min/max finite on disk (an empty timer interval has none). */
		if (isinf(sl[T_MIN]))
			sl[T_MIN] = 0;
		if (isinf(sl[T_MAX]))
			sl[T_MAX] = 0;
		break;
	}
}

static int apply_cops(struct agent_store *s, MDB_txn *t, struct agent_wbuf *wb)
{
	int rv = 0;
	MDB_cursor *cur = NULL;
	int curlvl = -1;
	if (!wb->chunk && !(wb->chunk = malloc(AGENT_CHUNK_HDR + 64 * 5 * sizeof(double))))
		return ENOMEM;
	double nan = agent_nan();
	for (size_t i = 0; i < wb->n_cops;) {
		size_t j = i;
		while (j < wb->n_cops && wb->cops[j].hi == wb->cops[i].hi &&
		       wb->cops[j].id == wb->cops[i].id)
			j++;
		const struct cop *o = &wb->cops[i];
		int lay = agent_layout(o->kind, o->level);
		int w = agent_layout_width(lay);
		uint32_t cps = s->geom[o->level].cps[lay];
		size_t size = AGENT_CHUNK_HDR + (size_t)cps * w * sizeof(double);
		uint8_t key[AGENT_KEY_LEN];
		agent_key(key, o->level, (uint32_t)o->hi, o->id);
		MDB_val k = {sizeof key, key}, v;
		uint8_t *buf = wb->chunk;
		if (o->level != curlvl) {
			if (cur)
				mdb_cursor_close(cur);
			cur = NULL;
			if ((rv = mdb_cursor_open(t, s->e.db_chunk[o->level], &cur)) != 0)
				goto out;
			curlvl = o->level;
		}
		double *slots = (double *)(void *)(buf + AGENT_CHUNK_HDR);
		bool exists = false, have = false;
		uint64_t abs = 0;
		rv = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
		if (rv == 0 && v.mv_size == size) {
			memcpy(buf, v.mv_data, size);
			abs = agent_be64(buf);
			exists = have = true;
		} else if (rv == 0) {
			exists = true; /* a layout this build does not expect: rewritten */
		} else if (rv != MDB_NOTFOUND) {
			goto out;
		}
		rv = 0;
		for (size_t x = i; x < j; x++) {
			const struct cop *op = &wb->cops[x];
			if (have && op->abs_chunk < abs)
				continue; /* older than what the ring holds there now */
			if (!have || op->abs_chunk > abs) {
				abs = op->abs_chunk;
				agent_put_be64(buf, abs);
				for (size_t q = 0; q < (size_t)cps * w; q++)
					slots[q] = nan;
				have = true;
			}
			slot_merge(slots + (size_t)op->slot * w, lay, op);
		}
		uint8_t key2[AGENT_KEY_LEN];
		memcpy(key2, key, sizeof key2);
		MDB_val k2 = {sizeof key2, key2}, d = {size, NULL};
		if (exists && v.mv_size == size)
			rv = agent_cput(cur, &k2, &d, MDB_CURRENT | MDB_RESERVE);
		else if (exists)
			rv = agent_cput(cur, &k2, &d, MDB_RESERVE);
		else
			rv = agent_cput(cur, &k2, &d,
			                MDB_RESERVE | agent_append_flag(&s->e, o->level, key2));
		if (rv != 0)
			goto out;
		memcpy(d.mv_data, buf, size);
		i = j;
	}
out:
	if (cur)
		mdb_cursor_close(cur);
	return rv;
}

static int apply_sops(struct agent_store *s, MDB_txn *t, struct agent_wbuf *wb)
{
	int rv = 0;
	struct mb_sketch sk = {0};
	struct mb_hll *hll = malloc(sizeof *hll);
	if (!hll)
		return ENOMEM;
	for (size_t i = 0; i < wb->n_sops;) {
		size_t j = i;
		while (j < wb->n_sops && wb->sops[j].hi == wb->sops[i].hi &&
		       wb->sops[j].id == wb->sops[i].id)
			j++;
		const struct sop *o = &wb->sops[i];
		uint8_t key[AGENT_KEY_LEN];
		agent_key(key, (int)(o->hi >> 32), (uint32_t)o->hi, o->id);
		MDB_val k = {sizeof key, key}, v;
		bool have = false;
		uint64_t abs = 0;
		mb_sketch_free(&sk);
		memset(&sk, 0, sizeof sk);
		memset(hll, 0, sizeof *hll);
		rv = mdb_get(t, s->e.db_sketch, &k, &v);
		if (rv == 0 && v.mv_size >= 8) {
			abs = agent_be64(v.mv_data);
			const uint8_t *p = (const uint8_t *)v.mv_data + 8;
			int drv = mb_kind_is_timer(o->kind)
			              ? agent_sketch_dec(p, v.mv_size - 8, &sk)
			              : mb_hll_decode(p, v.mv_size - 8, hll);
			have = drv == 0;
		} else if (rv != 0 && rv != MDB_NOTFOUND) {
			goto out;
		}
		rv = 0;
		bool wrote = false;
		for (size_t x = i; x < j; x++) {
			const struct sop *op = &wb->sops[x];
			if (have && op->abs_slot < abs)
				continue;
			if (!have || op->abs_slot > abs) {
				abs = op->abs_slot;
				mb_sketch_reset(&sk);
				memset(hll, 0, sizeof *hll);
				have = true;
			}
			if (mb_kind_is_timer(op->kind)) {
				if ((rv = mb_sketch_merge(&sk, &op->rec->sketch)) != 0) {
					rv = ENOMEM;
					goto out;
				}
			} else {
				if (op->rec->hll)
					mb_hll_merge(hll, op->rec->hll);
				wb->cops[op->cop].est = mb_hll_estimate(hll);
			}
			wrote = true;
		}
		if (!wrote) {
			i = j;
			continue;
		}
		mb_buf_reset(&wb->vb);
		uint8_t ab[8];
		agent_put_be64(ab, abs);
		if (mb_buf_append(&wb->vb, ab, 8) != 0 ||
		    (mb_kind_is_timer(o->kind) ? agent_sketch_enc(&sk, &wb->vb)
		                               : mb_hll_encode(hll, &wb->vb)) != 0) {
			rv = ENOMEM;
			goto out;
		}
		MDB_val d = {wb->vb.len, wb->vb.data};
		if ((rv = agent_put(t, s->e.db_sketch, &k, &d, 0)) != 0)
			goto out;
		i = j;
	}
out:
	mb_sketch_free(&sk);
	free(hll);
	return rv;
}

/* totals: counter -> f64 total; timer -> f64 count, f64 sum, running sketch. */
static int apply_tops(struct agent_store *s, MDB_txn *t, struct agent_wbuf *wb)
{
	int rv = 0;
	MDB_cursor *cur;
	struct mb_sketch sk = {0};
	if ((rv = mdb_cursor_open(t, s->e.db_totals, &cur)) != 0)
		return rv;
	for (size_t i = 0; i < wb->n_tops;) {
		size_t j = i;
		while (j < wb->n_tops && wb->tops[j].id == wb->tops[i].id)
			j++;
		const struct top *o = &wb->tops[i];
		uint8_t key[8], key2[8];
		agent_put_be64(key, o->id);
		memcpy(key2, key, 8);
		MDB_val k = {8, key}, v, k2 = {8, key2};
		rv = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
		if (rv != 0 && rv != MDB_NOTFOUND)
			goto out;
		bool exists = rv == 0;
		rv = 0;
		if (o->kind == MB_COUNTER) {
			double tot = 0;
			if (exists && v.mv_size == 8)
				memcpy(&tot, v.mv_data, 8);
			for (size_t x = i; x < j; x++)
				tot += wb->tops[x].rec->value;
			MDB_val d = {8, NULL};
			if ((rv = agent_cput(cur, &k2, &d,
			                     exists && v.mv_size == 8 ? MDB_CURRENT | MDB_RESERVE
			                                              : MDB_RESERVE)) != 0)
				goto out;
			memcpy(d.mv_data, &tot, 8);
		} else {
			double cs[2] = {0, 0};
			mb_sketch_free(&sk);
			memset(&sk, 0, sizeof sk);
			if (exists && v.mv_size >= 16) {
				memcpy(cs, v.mv_data, 16);
				if (agent_sketch_dec((const uint8_t *)v.mv_data + 16,
				                     v.mv_size - 16, &sk) != 0)
					memset(&sk, 0, sizeof sk);
			}
			for (size_t x = i; x < j; x++) {
				cs[0] += wb->tops[x].rec->count;
				cs[1] += wb->tops[x].rec->sum;
				if (mb_sketch_merge(&sk, &wb->tops[x].rec->sketch) != 0) {
					rv = ENOMEM;
					goto out;
				}
			}
			mb_buf_reset(&wb->vb);
			if (mb_buf_append(&wb->vb, cs, 16) != 0 || agent_sketch_enc(&sk, &wb->vb)) {
				rv = ENOMEM;
				goto out;
			}
			MDB_val d = {wb->vb.len, wb->vb.data};
			if ((rv = agent_cput(cur, &k2, &d, 0)) != 0)
				goto out;
		}
		i = j;
	}
out:
	mb_sketch_free(&sk);
	mdb_cursor_close(cur);
	return rv;
}

/* Undo of everything the attempt added to the in-memory registry. */
static void undo(struct agent_store *s, uint32_t nser0, uint32_t nsrc0)
{
	struct agent_wbuf *wb = s->w.wb;
	pthread_rwlock_wrlock(&s->r.lock);
	(void)nser0;
	while (s->r.nadded)
		agent_series_undo(s);
	for (size_t i = 0; i < wb->n_psrc; i++)
		if (wb->psrc[i].src < s->r.nsrc)
			s->r.src[wb->psrc[i].src]->pend = 0;
	while (s->r.nsrc > nsrc0)
		agent_source_pop(s);
	pthread_rwlock_unlock(&s->r.lock);
	for (size_t i = 0; i < wb->n_insts; i++) {
		struct agent_seqent *q = agent_seq_find(s, wb->insts[i], false);
		if (q)
			q->pend = 0;
	}
}

static struct agent_seqent *seqent(struct agent_store *s, uint64_t inst, bool create)
{
	return agent_seq_find(s, inst, create);
}

/* Series whose whole history rolled out of every level are forgotten a few at a time: their
 * record and running total go, their id is reused by a new series (its chunks and sketches
 * then read as an older lap and are reset on first write), so memory and disk stay bounded by
 * the series that still have history, not by every series ever seen. */
static int forget_step(struct agent_store *s, MDB_txn *t, int64_t now, struct agent_wbuf *wb)
{
	wb->n_forget = 0;
	int64_t keep = s->geom[s->nlevels - 1].span_ms + 3600000;
	uint32_t pos = s->w.forget_pos;
	for (uint32_t scanned = 0; scanned < 4096 && scanned < s->r.nser && wb->n_forget < 512;
	     scanned++, pos++) {
		if (pos >= s->r.nser)
			pos = 0;
		struct agent_series *se = s->r.ser[pos];
		if (se == &agent_dead || !se->committed || se->gen == s->w.gen ||
		    se->last_ms + keep >= now)
			continue;
		uint8_t k8[8];
		agent_put_be64(k8, se->id);
		MDB_val k = {8, k8};
		int rv = mdb_del(t, s->e.db_series, &k, NULL);
		if (rv == 0 || rv == MDB_NOTFOUND)
			rv = mdb_del(t, s->e.db_totals, &k, NULL);
		if (rv != 0 && rv != MDB_NOTFOUND)
			return rv;
		if (PUSH(wb, forget, pos) != 0)
			return ENOMEM;
	}
	s->w.forget_pos = pos;
	return 0;
}

/* A shim instance's seq entry is what makes a resent batch a dup. One not heard of for 7
 * days of agentd's clock is forgotten (else one entry per shim instance ever: a container
 * churn leak). Safe: a shim resends only what it holds unacknowledged, and its backlog holds
 * a batch that old only if it was cut off from agentd for that long; then, if agentd had
 * committed a batch whose ack was lost, its resend is committed again (double counted).
 * An instance that keeps sending refreshes its entry with every batch, dups included. */
static int seq_forget_step(struct agent_store *s, MDB_txn *t, int64_t now, struct agent_wbuf *wb)
{
	wb->n_seqgone = 0;
	uint32_t pos = s->w.seq_pos;
	for (uint32_t scanned = 0; scanned < 64 && scanned < s->w.nseqs; scanned++, pos++) {
		if (pos >= s->w.nseqs)
			pos = 0;
		const struct agent_seqent *q = &s->w.seqs[pos];
		if (q->pend || now - q->last_ms <= AGENT_SEQ_KEEP_MS)
			continue;
		uint8_t k8[8];
		agent_put_be64(k8, q->inst);
		MDB_val k = {8, k8};
		int rv = mdb_del(t, s->e.db_seq, &k, NULL);
		if (rv != 0 && rv != MDB_NOTFOUND)
			return rv;
		if (PUSH(wb, seqgone, q->inst) != 0)
			return ENOMEM;
	}
	s->w.seq_pos = pos;
	return 0;
}

/* A source whose last series was forgotten (forget_step) goes too, a few a commit: else one
 * per container id ever. Not one a batch of this attempt touched, nor agentd's own. */
static int src_forget_step(struct agent_store *s, MDB_txn *t, struct agent_wbuf *wb)
{
	wb->n_srcgone = 0;
	uint32_t pos = s->w.src_pos;
	for (uint32_t scanned = 0; scanned < 64 && scanned < s->r.nsrc; scanned++, pos++) {
		if (pos >= s->r.nsrc)
			pos = 0;
		const struct agent_source *c = s->r.src[pos];
		if (c->nser || c->pend || c->gen == s->w.gen || c->own)
			continue;
		MDB_val k = {strlen(c->name), c->name};
		int rv = mdb_del(t, s->e.db_sources, &k, NULL);
		if (rv != 0 && rv != MDB_NOTFOUND)
			return rv;
		if (PUSH(wb, srcgone, pos) != 0)
			return ENOMEM;
	}
	s->w.src_pos = pos;
	return 0;
}

struct tally {
	uint64_t refused_limit, refused_map, points, dups, reserved;
	int64_t now;
};

/* Builds and commits one transaction. Returns 0, or an LMDB/errno code (the txn is gone). */
static int attempt(struct agent_store *s, struct mb_batch *const *batches, const bool *ownv, int n,
                   uint32_t *status, char (*errs)[MB_MAX_ERR + 1], bool refuse_new, bool strict,
                   bool roll, struct tally *ty)
{
	struct agent_wbuf *wb = s->w.wb;
	int rv;
	MDB_txn *t;
	int64_t now = agent_store_now();
	memset(ty, 0, sizeof *ty);
	ty->now = now;
	wb->n_cops = wb->n_sops = wb->n_tops = wb->n_touches = wb->n_psrc = wb->n_insts = 0;
	wb->n_refused = 0;
	if ((rv = mdb_txn_begin(s->e.env, NULL, 0, &t)) != 0)
		return rv;
	/* Coarse slots that closed are rolled up first: the points below then know which
	 * coarse slots are final (a late point goes into those directly). */
	if (roll) {
		if ((rv = agent_roll_step(s, t, now, &wb->vb)) != 0)
			goto fail;
	} else {
		memcpy(s->w.roll_new, s->w.roll, sizeof s->w.roll_new);
	}
	uint32_t ord = 0;
	s->r.nadded = 0;
	s->w.gen++;
	for (int bi = 0; bi < n; bi++) {
		struct mb_batch *b = batches[bi];
		errs[bi][0] = 0;
		struct agent_seqent *qe = seqent(s, b->instance, true);
		if (!qe) {
			rv = ENOMEM;
			goto fail;
		}
		uint64_t last = qe->pend > qe->seq ? qe->pend : qe->seq;
		if (!qe->last_ms)
			qe->last_ms = now; /* new: not forgotten before it had its chance */
		if (b->seq <= last) {
			qe->last_ms = now; /* alive: its resends must stay dups */
			status[bi] = MB_ACK_DUP;
			ty->dups++;
			continue;
		}
		if (b->time_ms > now + 3600000) {
			status[bi] = MB_ACK_REJECTED;
			snprintf(errs[bi], MB_MAX_ERR + 1,
			         "batch time is more than 1h ahead of agentd's clock");
			continue;
		}
		if (b->time_ms <= 0 || !b->container_id || !b->container_id[0]) {
			status[bi] = MB_ACK_REJECTED;
			snprintf(errs[bi], MB_MAX_ERR + 1, "invalid batch");
			continue;
		}
		bool own = ownv && ownv[bi];
		if (!own && agent_source_reserved(b->container_id)) {
			status[bi] = MB_ACK_REJECTED;
			snprintf(errs[bi], MB_MAX_ERR + 1,
			         "container id \"%s\" is reserved for agentd's own metrics",
			         b->container_id);
			ty->reserved++;
			continue;
		}
		size_t mark_c = wb->n_cops, mark_s = wb->n_sops, mark_t = wb->n_tops,
		       mark_touch = wb->n_touches;
		uint32_t added_mark = s->r.nadded;
		int si = agent_source_find(s, b->container_id);
		bool src_new = si < 0;
		if (src_new) {
			uint32_t idx;
			pthread_rwlock_wrlock(&s->r.lock);
			rv = agent_source_add(s, b->container_id, &idx);
			if (rv == 0) {
				s->r.src[idx]->first_ms = b->time_ms;
				s->r.src[idx]->own = own;
			}
			pthread_rwlock_unlock(&s->r.lock);
			if (rv != 0) {
				rv = ENOMEM;
				goto fail;
			}
			si = (int)idx;
		}
		struct agent_source *c = s->r.src[si];
		c->gen = s->w.gen;
		uint64_t refused_l = 0, refused_m = 0, okrecs = 0;
		struct mb_buf *kb = &wb->kb;
		for (uint32_t ri = 0; ri < b->nrecords; ri++) {
			const struct mb_record *r = &b->records[ri];
			if (r->kind >= MB_NKINDS)
				continue;
			if ((rv = agent_canon_key(kb, b->container_id, r->kind, r->name, r->ntags,
			                          r->tags)) != 0) {
				rv = ENOMEM;
				goto fail;
			}
			uint64_t h = mb_hash64(kb->data, kb->len);
			struct agent_series *se =
			    agent_series_find(s, (const char *)kb->data, kb->len, h);
			if (!se) {
				/* The limit is against a container's runaway tags; node and agentd
				 * are a fixed set of ours (the node alone is ~70 series), and so are
				 * the shim's own counters and resource metrics (~40; the shim never
				 * lets a client use those names): they say what went wrong exactly
				 * when a container is at its limit, so they get 64 series more (a
				 * bound, for a sender that is not a shim). */
				bool shims = r->kind == MB_RESOURCE ||
				             strncmp(r->name, "metricsbus.shim.", 16) == 0;
				if (!own && c->nser >= s->o.max_series_per_source +
				                           (shims ? AGENT_SHIM_ALLOWANCE : 0)) {
					refused_l++;
					continue;
				}
				/* agentd's own and node sources are a few bounded series (their
				 * counters say the store is full): they are not refused. */
				if (refuse_new && (!own || strict)) {
					refused_m++;
					continue;
				}
				pthread_rwlock_wrlock(&s->r.lock);
				rv = agent_series_add(s, (const char *)kb->data, kb->len, h,
				                      (uint32_t)si, &se);
				pthread_rwlock_unlock(&s->r.lock);
				if (rv != 0) {
					rv = ENOMEM;
					goto fail;
				}
				se->last_ms = 0;
			}
			okrecs++;
			se->gen = s->w.gen;
			struct touch tc = {se, b->time_ms, b->interval_ms, r, UINT32_MAX};
			if (PUSH(wb, touches, tc) != 0) {
				rv = ENOMEM;
				goto fail;
			}
			for (int l = 0; l < s->nlevels; l++) {
				const struct agent_geom *g = &s->geom[l];
				int lay = agent_layout(r->kind, l);
				uint32_t cps = g->cps[lay];
				uint64_t abs_slot = (uint64_t)((b->time_ms - 1) / g->res_ms);
				uint64_t abs_chunk = abs_slot / cps;
				if (l > 0 && !agent_roll_stored(&s->w.roll_new[l],
				                                (int64_t)abs_slot, se->id))
					continue; /* rolled up from level 0 once the slot closes */
				struct cop co = {
				    .hi =
				        (uint64_t)l << 32 | agent_ring(g, lay, (int64_t)abs_chunk),
				    .id = se->id,
				    .ord = ord++,
				    .slot = (uint16_t)(abs_slot % cps),
				    .level = (uint8_t)l,
				    .kind = r->kind,
				    .abs_chunk = abs_chunk,
				    .rec = r,
				};
				if (PUSH(wb, cops, co) != 0) {
					rv = ENOMEM;
					goto fail;
				}
				if (mb_kind_is_timer(r->kind) || r->kind == MB_SET) {
					uint64_t ring = (uint64_t)g->nchunks[lay] * cps;
					struct sop so = {
					    .hi = (uint64_t)l << 32 | (uint32_t)(abs_slot % ring),
					    .id = se->id,
					    .ord = co.ord,
					    .cop = (uint32_t)(wb->n_cops - 1),
					    .kind = r->kind,
					    .abs_slot = abs_slot,
					    .rec = r,
					};
					if (PUSH(wb, sops, so) != 0) {
						rv = ENOMEM;
						goto fail;
					}
				}
			}
			if (r->kind == MB_COUNTER || mb_kind_is_timer(r->kind)) {
				struct top to = {se->id, ord++, r->kind, r};
				if (PUSH(wb, tops, to) != 0) {
					rv = ENOMEM;
					goto fail;
				}
			}
		}
		if (b->nrecords > 0 && okrecs == 0 && refused_m > 0) {
			/* Nothing of it can be stored now: the shim keeps it. */
			status[bi] = MB_ACK_RETRY;
			snprintf(errs[bi], MB_MAX_ERR + 1,
			         "store full (--max-size reached): new series refused");
		} else if (b->nrecords > 0 && okrecs == 0 && refused_l > 0) {
			status[bi] = MB_ACK_REJECTED;
			snprintf(errs[bi], MB_MAX_ERR + 1,
			         "series limit of source %s reached (--max-series-per-source %llu)",
			         b->container_id, (unsigned long long)s->o.max_series_per_source);
		} else {
			status[bi] = MB_ACK_OK;
		}
		if (status[bi] != MB_ACK_OK) {
			wb->n_cops = mark_c;
			wb->n_sops = mark_s;
			wb->n_tops = mark_t;
			wb->n_touches = mark_touch;
			pthread_rwlock_wrlock(&s->r.lock);
			while (s->r.nadded > added_mark)
				agent_series_undo(s);
			if (src_new)
				agent_source_pop(s);
			pthread_rwlock_unlock(&s->r.lock);
			if (status[bi] == MB_ACK_REJECTED) {
				/* A rejection is final: record the seq so a resend is a dup. */
				qe->pend = b->seq;
				if (PUSH(wb, insts, b->instance) != 0) {
					rv = ENOMEM;
					goto fail;
				}
				ty->refused_limit += refused_l;
				if (!src_new && refused_l > 0 &&
				    PUSH(wb, refused, ((struct src_refused){(uint32_t)si, refused_l})) != 0) {
					rv = ENOMEM;
					goto fail;
				}
			}
			continue;
		}
		ty->refused_limit += refused_l;
		ty->refused_map += refused_m;
		ty->points += okrecs;
		if (refused_l + refused_m > 0 &&
		    PUSH(wb, refused, ((struct src_refused){(uint32_t)si, refused_l + refused_m})) != 0) {
			rv = ENOMEM;
			goto fail;
		}
		qe->pend = b->seq;
		if (PUSH(wb, insts, b->instance) != 0) {
			rv = ENOMEM;
			goto fail;
		}
		/* Source changes: new, dims, stop flag. */
		struct pend_src *ps = c->pend ? &wb->psrc[c->pend - 1] : NULL;
		bool stopped = ps ? ps->stopped : c->stopped;
		const struct mb_kv *dims = ps ? ps->dims : c->dims;
		uint16_t nd = ps ? ps->ndims : c->ndims;
		bool dims_diff = !agent_dims_equal(nd, dims, b->ndims, b->dims);
		bool new_stop = b->stopped ? true : (b->nrecords > 0 ? false : stopped);
		if (src_new || dims_diff || new_stop != stopped) {
			if (!ps) {
				struct pend_src p = {.src = (uint32_t)si};
				if (PUSH(wb, psrc, p) != 0) {
					rv = ENOMEM;
					goto fail;
				}
				c->pend = (int32_t)wb->n_psrc;
				ps = &wb->psrc[wb->n_psrc - 1];
				ps->ndims = c->ndims;
				ps->dims = c->dims;
			}
			ps->isnew |= src_new;
			ps->stopped = new_stop;
			if (dims_diff) {
				ps->dims = b->dims;
				ps->ndims = b->ndims;
				ps->dims_changed = true;
			}
		}
	}
	if ((rv = forget_step(s, t, now, wb)) != 0 || (rv = seq_forget_step(s, t, now, wb)) != 0 ||
	    (rv = src_forget_step(s, t, wb)) != 0)
		goto fail;
	/* Sketches first: sets' slot values take the merged estimate. */
	if (wb->n_sops)
		qsort(wb->sops, wb->n_sops, sizeof *wb->sops, cmp_sop);
	if ((rv = apply_sops(s, t, wb)) != 0)
		goto fail;
	if (wb->n_cops)
		qsort(wb->cops, wb->n_cops, sizeof *wb->cops, cmp_cop);
	if ((rv = apply_cops(s, t, wb)) != 0)
		goto fail;
	if (wb->n_tops)
		qsort(wb->tops, wb->n_tops, sizeof *wb->tops, cmp_top);
	if ((rv = apply_tops(s, t, wb)) != 0)
		goto fail;
	/* Series records: new ones, and last-seen now and then (restart rebuilds the rest). */
	for (size_t i = 0; i < wb->n_touches; i++) {
		struct agent_series *se = wb->touches[i].se;
		int64_t tm = wb->touches[i].t;
		if (se->committed && tm < se->persisted_ms + 600000)
			continue;
		/* Queries read last_ms under the registry lock: it changes in publish, not here. */
		rv = agent_series_encode(se, tm > se->last_ms ? tm : se->last_ms, &wb->vb);
		if (rv != 0) {
			rv = ENOMEM;
			goto fail;
		}
		uint8_t kb8[8];
		agent_put_be64(kb8, se->id);
		MDB_val k = {8, kb8}, d = {wb->vb.len, wb->vb.data};
		if ((rv = agent_put(t, s->e.db_series, &k, &d, 0)) != 0)
			goto fail;
	}
	for (size_t i = 0; i < wb->n_psrc; i++) {
		struct pend_src *ps = &wb->psrc[i];
		struct agent_source tmp = *s->r.src[ps->src];
		tmp.stopped = ps->stopped;
		tmp.dims = (struct mb_kv *)(uintptr_t)ps->dims;
		tmp.ndims = ps->ndims;
		if (agent_source_encode(&tmp, &wb->vb) != 0) {
			rv = ENOMEM;
			goto fail;
		}
		MDB_val k = {strlen(tmp.name), tmp.name}, d = {wb->vb.len, wb->vb.data};
		if ((rv = agent_put(t, s->e.db_sources, &k, &d, 0)) != 0)
			goto fail;
	}
	for (size_t i = 0; i < wb->n_insts; i++) {
		struct agent_seqent *qe = seqent(s, wb->insts[i], false);
		if (!qe || !qe->pend)
			continue;
		uint8_t k8[8], v8[8];
		agent_put_be64(k8, qe->inst);
		agent_put_be64(v8, qe->pend);
		MDB_val k = {8, k8}, d = {8, v8};
		if ((rv = agent_put(t, s->e.db_seq, &k, &d, 0)) != 0)
			goto fail;
	}
	return agent_txn_commit(t);
fail:
	mdb_txn_abort(t);
	return rv;
}

/* Timers' quantiles of their interval, for /app: computed from the record's own sketch here,
 * outside the registry lock, so readers wait only for the copies. touch.qi indexes them. */
static void quants_build(struct agent_wbuf *wb)
{
	static const double qs[4] = {0.5, 0.9, 0.95, 0.99};
	wb->n_quants = 0;
	for (size_t i = 0; i < wb->n_touches; i++) {
		struct touch *tc = &wb->touches[i];
		const struct mb_record *r = tc->rec;
		tc->qi = UINT32_MAX;
		if (!mb_kind_is_timer(r->kind))
			continue;
		struct quant q;
		for (int k = 0; k < 4; k++)
			if (r->count <= 0 ||
			    mb_sketch_quantile_mm(&r->sketch, qs[k], r->min, r->max, &q.v[k]) != 0)
				q.v[k] = agent_nan();
		if (PUSH(wb, quants, q) != 0)
			return; /* the rest read as no quantiles */
		tc->qi = (uint32_t)(wb->n_quants - 1);
	}
}

/* The series' last interval := this touch's record (under the registry write lock). */
static void last_set(const struct agent_wbuf *wb, const struct touch *tc)
{
	struct agent_last *l = &tc->se->li;
	const struct mb_record *r = tc->rec;
	if (tc->t == l->t && r->kind == MB_COUNTER) {
		l->v[0] += r->value; /* two shims of one container, one interval */
		return;
	}
	if (tc->t < l->t)
		return; /* a late batch does not replace a newer interval */
	l->t = tc->t;
	l->iv = tc->iv;
	if (mb_kind_is_timer(r->kind)) {
		l->v[T_COUNT] = r->count;
		l->v[T_SUM] = r->sum;
		l->v[T_SUMSQ] = r->sumsq;
		l->v[T_MIN] = r->count > 0 && isfinite(r->min) ? r->min : 0;
		l->v[T_MAX] = r->count > 0 && isfinite(r->max) ? r->max : 0;
		for (int k = 0; k < 4; k++)
			l->v[5 + k] = tc->qi < wb->n_quants ? wb->quants[tc->qi].v[k] : agent_nan();
	} else {
		l->v[0] = r->kind == MB_SET ? (double)r->set_count : r->value;
	}
}

static void apply_success(struct agent_store *s, const struct tally *ty, int64_t t0)
{
	struct agent_wbuf *wb = s->w.wb;
	memcpy(s->w.roll, s->w.roll_new, sizeof s->w.roll);
	quants_build(wb);
	pthread_rwlock_wrlock(&s->r.lock);
	for (size_t i = 0; i < wb->n_forget; i++)
		agent_series_forget(s, wb->forget[i]);
	if (wb->n_forget)
		mb_log_debug("store: forgot %zu series whose history rolled out", wb->n_forget);
	s->r.nadded = 0;
	for (size_t i = 0; i < wb->n_touches; i++) {
		struct agent_series *se = wb->touches[i].se;
		int64_t tm = wb->touches[i].t;
		if (!se->committed) {
			se->committed = true;
			se->persisted_ms = tm;
			s->r.src[se->src]->nseries_committed++;
		} else if (tm >= se->persisted_ms + 600000) {
			se->persisted_ms = tm;
		}
		if (tm > se->last_ms) {
			se->last_ms = tm;
			se->iv_ms = wb->touches[i].iv;
		}
		/* A late batch does not replace a newer interval. */
		last_set(wb, &wb->touches[i]);
	}
	for (size_t i = 0; i < wb->n_psrc; i++) {
		struct pend_src *ps = &wb->psrc[i];
		struct agent_source *c = s->r.src[ps->src];
		c->committed = true;
		c->stopped = ps->stopped;
		c->pend = 0;
		if (ps->dims != c->dims) {
			struct mb_kv *nd;
			if (agent_dims_copy(ps->ndims, ps->dims, &nd) == 0) {
				free(c->dims);
				c->dims = nd;
				c->ndims = ps->ndims;
			}
		}
	}
	/* Before any source is forgotten: the indexes are this attempt's. */
	for (size_t i = 0; i < wb->n_refused; i++)
		s->r.src[wb->refused[i].src]->refused += wb->refused[i].n;
	/* Highest index first: a forgotten source's index is taken by the last one, which
	 * then is none of those still to go. */
	if (wb->n_srcgone > 1)
		qsort(wb->srcgone, wb->n_srcgone, sizeof *wb->srcgone, cmp_u32);
	for (size_t i = wb->n_srcgone; i-- > 0;)
		agent_source_forget(s, wb->srcgone[i]);
	if (wb->n_srcgone)
		mb_log_debug("store: forgot %zu sources without series", wb->n_srcgone);
	pthread_rwlock_unlock(&s->r.lock);
	for (size_t i = 0; i < wb->n_insts; i++) {
		struct agent_seqent *qe = seqent(s, wb->insts[i], false);
		if (qe && qe->pend > qe->seq)
			qe->seq = qe->pend;
		if (qe) {
			qe->pend = 0;
			qe->last_ms = ty->now;
		}
	}
	for (size_t i = 0; i < wb->n_seqgone; i++)
		agent_seq_remove(s, wb->seqgone[i]);
	if (wb->n_seqgone)
		mb_log_debug("store: forgot %zu shim instances idle for 7 days", wb->n_seqgone);
	pthread_mutex_lock(&s->stats.lock);
	s->stats.v.series = s->r.nser - s->r.nfree;
	s->stats.v.sources = s->r.nsrc;
	s->stats.v.refused_series_limit += ty->refused_limit;
	s->stats.v.refused_map_full += ty->refused_map;
	s->stats.v.points_committed += ty->points;
	s->stats.v.dup_batches += ty->dups;
	s->stats.v.rejected_reserved += ty->reserved;
	s->stats.v.txns++;
	s->stats.v.last_commit_ms = (double)(mb_mono_ms() - t0);
	pthread_mutex_unlock(&s->stats.lock);
}

/* Past ~90% of --max-size in pages used, new series are refused: the rest is the headroom
 * existing series (and agentd's own) need for their next chunks, sketches and rollups, so
 * they go on at the limit instead of being refused with the new ones. Pages used is LMDB's
 * high-water mark (last page number): it does not fall when pages are freed and reused
 * inside the file, so once passed this stays until the file is compacted (a backup). Writer
 * only (the writer is the only one to resize the map, so no txn_lock). */
static bool map_nearly_full(struct agent_store *s)
{
	return agent_env_used(&s->e) > s->o.max_size / 10 * 9;
}

int agent_store_commit(struct agent_store *s, struct mb_batch *const *batches, const bool *own,
                       int n, uint32_t *status, char (*errs)[MB_MAX_ERR + 1])
{
	if (!s->w.wb && !(s->w.wb = calloc(1, sizeof *s->w.wb)))
		return MB_ENOMEM;
	int64_t t0 = mb_mono_ms();
	bool refuse_new = s->w.map_at_max || map_nearly_full(s), roll = true, strict = false;
	struct tally ty;
	for (int tries = 0; tries < 64; tries++) {
		uint32_t nser0 = s->r.nser, nsrc0 = s->r.nsrc;
		int rv = attempt(s, batches, own, n, status, errs, refuse_new, strict, roll, &ty);
		if (rv == 0) {
			apply_success(s, &ty, t0);
			if (s->w.fault_episode)
				mb_log_info("store: commits succeed again");
			s->w.fault_episode = false;
			return 0;
		}
		undo(s, nser0, nsrc0);
		mb_log_debug("store: commit of %d batches: %s (refuse new %d%s, rollup %d)", n,
		             mdb_strerror(rv), refuse_new, strict ? " strict" : "", roll);
		if (rv == MDB_MAP_FULL) {
			int g = agent_grow_map(&s->e);
			if (g == 0)
				continue;
			if (g == MB_ESYS)
				return MB_ESYS;
			if (!refuse_new) {
				if (!s->w.map_at_max)
					mb_log_warnx(
					    "store: map full at --max-size %llu bytes: new series "
					    "are refused from now on",
					    (unsigned long long)s->o.max_size);
				s->w.map_at_max = refuse_new = true;
				continue;
			}
			if (roll) {
				/* A full map must not stop ingest for a rollup: coarse slots not
				 * rolled up are read from the level below meanwhile. */
				roll = false;
				continue;
			}
			if (!strict) {
				strict = true; /* not even agentd's own new series */
				continue;
			}
			for (int i = 0; i < n; i++)
				if (status[i] != MB_ACK_DUP && status[i] != MB_ACK_REJECTED) {
					status[i] = MB_ACK_RETRY;
					snprintf(errs[i], MB_MAX_ERR + 1,
					         "store full (--max-size reached)");
				}
			return 0;
		}
		const char *why = rv == ENOSPC ? "disk full (ENOSPC)" : mdb_strerror(rv);
		if (!s->w.fault_episode)
			mb_log_error("store: commit failed: %s; batches are left unacknowledged "
			             "(the shims keep them) until it succeeds",
			             why);
		s->w.fault_episode = true;
		for (int i = 0; i < n; i++) {
			status[i] = MB_ACK_RETRY;
			snprintf(errs[i], MB_MAX_ERR + 1, "not committed: %s", why);
		}
		return 0;
	}
	for (int i = 0; i < n; i++) {
		status[i] = MB_ACK_RETRY;
		snprintf(errs[i], MB_MAX_ERR + 1, "not committed: map kept filling");
	}
	return 0;
}
