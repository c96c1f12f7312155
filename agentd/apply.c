/* apply.c: the write side's writes (layer 5, writer thread): the planned slot, sketch and
 * totals operations sorted by key and written in place chunk by chunk, then the records. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "wbuf.h"

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

/* Merges one record into slot `slot` of the chunk at p (LMDB's data: not aligned for doubles,
 * so the slot is merged in a copy). */
static void chunk_merge(uint8_t *p, int lay, int w, const struct cop *op)
{
	double sl[5];
	uint8_t *at = p + AGENT_CHUNK_HDR + (size_t)op->slot * w * sizeof(double);
	memcpy(sl, at, (size_t)w * sizeof(double));
	slot_merge(sl, lay, op);
	memcpy(at, sl, (size_t)w * sizeof(double));
}

/* A chunk's value at p := empty, for ring chunk abs. */
static void chunk_clear(uint8_t *p, uint64_t abs, size_t nd)
{
	double nan = agent_nan();
	agent_put_be64(p, abs);
	for (size_t q = 0; q < nd; q++)
		memcpy(p + AGENT_CHUNK_HDR + q * sizeof(double), &nan, sizeof nan);
}

/* Positions cur on key (chunks, totals): the keys come in ascending order, so the next one is most often the
 * entry after the cursor's (one step instead of a search from the root). at_prev: the cursor
 * sits on the last key looked up. 0 (v set), MDB_NOTFOUND, or an LMDB error. */
static int cursor_seek(MDB_cursor *cur, bool at_prev, MDB_val *k, MDB_val *v)
{
	if (at_prev) {
		MDB_val nk;
		int rv = mdb_cursor_get(cur, &nk, v, MDB_NEXT);
		if (rv == MDB_NOTFOUND)
			return rv; /* past the last key: absent */
		if (rv != 0)
			return rv;
		int c = nk.mv_size == k->mv_size ? memcmp(nk.mv_data, k->mv_data, k->mv_size) : 1;
		if (c == 0)
			return 0;
		if (c > 0 && nk.mv_size == k->mv_size)
			return MDB_NOTFOUND; /* the entry after the previous key is past this one */
	}
	return mdb_cursor_get(cur, k, v, MDB_SET_KEY);
}

/* Writes the slot operations of one chunk (cops [i, j), one key). An existing chunk of the
 * expected size is merged where it lies: MDB_CURRENT | MDB_RESERVE of the same size hands back
 * the value in the (now dirty) page with its old contents (LMDB 0.9: docs/dependencies.md). */
static int chunk_apply(struct agent_store *s, MDB_cursor *cur, struct agent_wbuf *wb, size_t i,
                       size_t j, bool *at_prev)
{
	const struct cop *o = &wb->cops[i];
	int lay = agent_layout(o->kind, o->level);
	int w = agent_layout_width(lay);
	uint32_t cps = s->geom[o->level].cps[lay];
	size_t nd = (size_t)cps * w, size = AGENT_CHUNK_HDR + nd * sizeof(double);
	uint8_t key[AGENT_KEY_LEN];
	agent_key(key, o->level, (uint32_t)o->hi, o->id);
	/* k may come back pointing into the page: the puts get their own (k2). */
	MDB_val k = {sizeof key, key}, k2 = k, v, d = {size, NULL};
	int rv = cursor_seek(cur, *at_prev, &k, &v);
	*at_prev = false;
	if (rv != 0 && rv != MDB_NOTFOUND)
		return rv;
	bool exists = rv == 0, have = exists && v.mv_size == size;
	uint8_t *p = wb->chunk;
	if (have) {
		if ((rv = agent_cput(cur, &k2, &d, MDB_CURRENT | MDB_RESERVE)) != 0)
			return rv;
		p = d.mv_data;
	}
	uint64_t abs = have ? agent_be64(p) : 0;
	for (size_t x = i; x < j; x++) {
		const struct cop *op = &wb->cops[x];
		if (have && op->abs_chunk < abs)
			continue; /* older than what the ring holds there now */
		if (!have || op->abs_chunk > abs) {
			abs = op->abs_chunk;
			chunk_clear(p, abs, nd);
			have = true;
		}
		chunk_merge(p, lay, w, op);
	}
	if (p != wb->chunk) {
		*at_prev = true;
		return 0;
	}
	/* New, or of a layout this build does not expect (rewritten). */
	if (exists)
		rv = agent_cput(cur, &k2, &d, MDB_RESERVE);
	else
		rv = agent_cput(cur, &k2, &d, MDB_RESERVE | agent_append_flag(&s->e, o->level, key));
	if (rv != 0)
		return rv;
	memcpy(d.mv_data, p, size);
	return 0;
}

static int apply_cops(struct agent_store *s, MDB_txn *t, struct agent_wbuf *wb)
{
	int rv = 0;
	MDB_cursor *cur = NULL;
	int curlvl = -1;
	bool at_prev = false;
	if (!wb->chunk && !(wb->chunk = malloc(AGENT_CHUNK_HDR + 64 * 5 * sizeof(double))))
		return MB_ENOMEM;
	for (size_t i = 0; i < wb->n_cops;) {
		size_t j = i;
		while (j < wb->n_cops && wb->cops[j].hi == wb->cops[i].hi &&
		       wb->cops[j].id == wb->cops[i].id)
			j++;
		int level = wb->cops[i].level;
		if (level != curlvl) {
			if (cur)
				mdb_cursor_close(cur);
			cur = NULL;
			at_prev = false;
			if ((rv = mdb_cursor_open(t, s->e.db_chunk[level], &cur)) != 0)
				goto out;
			curlvl = level;
		}
		if ((rv = chunk_apply(s, cur, wb, i, j, &at_prev)) != 0)
			goto out;
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
		return MB_ENOMEM;
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
					rv = MB_ENOMEM;
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
			rv = MB_ENOMEM;
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
	bool at_prev = false;
	if ((rv = mdb_cursor_open(t, s->e.db_totals, &cur)) != 0)
		return rv;
	for (size_t i = 0; i < wb->n_tops;) {
		size_t j = i;
		while (j < wb->n_tops && wb->tops[j].id == wb->tops[i].id)
			j++;
		const struct top *o = &wb->tops[i];
		uint8_t key[8];
		agent_put_be64(key, o->id);
		MDB_val k = {8, key}, v, k2 = k;
		rv = cursor_seek(cur, at_prev, &k, &v);
		at_prev = false;
		if (rv != 0 && rv != MDB_NOTFOUND)
			goto out;
		bool exists = rv == 0;
		rv = 0;
		if (o->kind == MB_COUNTER) {
			/* In place, as the chunks (the old total comes back in d). */
			bool inplace = exists && v.mv_size == 8;
			MDB_val d = {8, NULL};
			if ((rv = agent_cput(cur, &k2, &d,
			                     inplace ? MDB_CURRENT | MDB_RESERVE : MDB_RESERVE)) != 0)
				goto out;
			double tot = 0;
			if (inplace)
				memcpy(&tot, d.mv_data, 8);
			for (size_t x = i; x < j; x++)
				tot += wb->tops[x].rec->value;
			memcpy(d.mv_data, &tot, 8);
			at_prev = inplace;
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
					rv = MB_ENOMEM;
					goto out;
				}
			}
			mb_buf_reset(&wb->vb);
			if (mb_buf_append(&wb->vb, cs, 16) != 0 || agent_sketch_enc(&sk, &wb->vb)) {
				rv = MB_ENOMEM;
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

/* Series records (new ones, and last-seen now and then: restart rebuilds the rest), changed
 * sources, and each shim instance's sequence number. */
static int apply_records(struct agent_store *s, MDB_txn *t, struct agent_wbuf *wb)
{
	int rv;
	for (size_t i = 0; i < wb->n_touches; i++) {
		struct agent_series *se = wb->touches[i].se;
		int64_t tm = wb->touches[i].t;
		if (se->committed && tm < se->persisted_ms + 600000)
			continue;
		/* Queries read last_ms under the registry lock: it changes in publish, not here. */
		rv = agent_series_encode(se, tm > se->last_ms ? tm : se->last_ms, &wb->vb);
		if (rv != 0)
			return MB_ENOMEM;
		uint8_t kb8[8];
		agent_put_be64(kb8, se->id);
		MDB_val k = {8, kb8}, d = {wb->vb.len, wb->vb.data};
		if ((rv = agent_put(t, s->e.db_series, &k, &d, 0)) != 0)
			return rv;
	}
	for (size_t i = 0; i < wb->n_psrc; i++) {
		struct pend_src *ps = &wb->psrc[i];
		struct agent_source tmp = *s->r.src[ps->src];
		tmp.stopped = ps->stopped;
		tmp.dims = (struct mb_kv *)(uintptr_t)ps->dims;
		tmp.ndims = ps->ndims;
		if (agent_source_encode(&tmp, &wb->vb) != 0)
			return MB_ENOMEM;
		MDB_val k = {strlen(tmp.name), tmp.name}, d = {wb->vb.len, wb->vb.data};
		if ((rv = agent_put(t, s->e.db_sources, &k, &d, 0)) != 0)
			return rv;
	}
	for (size_t i = 0; i < wb->n_insts; i++) {
		struct agent_seqent *qe = agent_seq_find(s, wb->insts[i], false);
		if (!qe || !qe->pend)
			continue;
		uint8_t k8[8], v8[8];
		agent_put_be64(k8, qe->inst);
		agent_put_be64(v8, qe->pend);
		MDB_val k = {8, k8}, d = {8, v8};
		if ((rv = agent_put(t, s->e.db_seq, &k, &d, 0)) != 0)
			return rv;
	}
	return 0;
}

static int keys_for(struct agent_wbuf *wb, size_t n)
{
	return mb_grow(&wb->keys, &wb->capkeys, n, sizeof *wb->keys, 1024);
}

/* Chunk order (level, ring chunk, id; then the order planned): one 64-bit key per operation
 * when the ring and ids fit (always, short of 2^40 series ids), else a comparison sort. */
static int sort_cops(struct agent_wbuf *wb)
{
	size_t n = wb->n_cops;
	if (n < 2)
		return 0;
	if (keys_for(wb, n) != 0)
		return MB_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct cop *c = &wb->cops[i];
		uint64_t lvl = c->hi >> 32, ring = (uint32_t)c->hi;
		if (lvl >= 8 || ring >= 1u << 21 || c->id >= 1ull << 40) {
			qsort(wb->cops, n, sizeof *wb->cops, cmp_cop);
			return 0;
		}
		wb->keys[i] = lvl << 61 | ring << 40 | c->id;
	}
	return agent_sort_keyed(wb->cops, n, sizeof *wb->cops, wb->keys, &wb->sb);
}

/* Totals in id order (then the order planned). */
static int sort_tops(struct agent_wbuf *wb)
{
	size_t n = wb->n_tops;
	if (n < 2)
		return 0;
	if (keys_for(wb, n) != 0)
		return MB_ENOMEM;
	for (size_t i = 0; i < n; i++)
		wb->keys[i] = wb->tops[i].id;
	return agent_sort_keyed(wb->tops, n, sizeof *wb->tops, wb->keys, &wb->sb);
}

int agent_apply(struct agent_store *s, MDB_txn *t, struct agent_wbuf *wb)
{
	int rv;
	/* Sketches first: sets' slot values take the merged estimate. */
	if (wb->n_sops)
		qsort(wb->sops, wb->n_sops, sizeof *wb->sops, cmp_sop);
	if ((rv = apply_sops(s, t, wb)) != 0)
		return rv;
	if ((rv = sort_cops(wb)) != 0)
		return rv;
	if ((rv = apply_cops(s, t, wb)) != 0)
		return rv;
	if ((rv = sort_tops(wb)) != 0)
		return rv;
	if ((rv = apply_tops(s, t, wb)) != 0)
		return rv;
	return apply_records(s, t, wb);
}
