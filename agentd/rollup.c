/* rollup.c: coarser levels rolled up from finer ones once a coarse slot has closed, instead
 * of written through on every point (3x fewer pages per commit), and reads of slots not rolled
 * up yet, computed from the level below. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* Per level L >= 1 the store keeps (S, T, k) in meta "roll"+L: every slot < S is final at
 * level L; slots in [S, T) are final for series ids <= k (a pass in progress); the rest is
 * read from level L-1. A point for a slot that is final goes straight into level L too. */

#define ROLL_GRACE_MS 30000         /* a coarse slot is rolled this long after it closed */
uint32_t agent_roll_budget = 25000; /* series rolled per level per commit */

bool agent_roll_stored(const struct agent_roll *r, int64_t slot, uint64_t id)
{
	return slot < r->S || (slot < r->T && id <= r->k);
}

int agent_roll_load(struct agent_store *s, MDB_txn *t, struct agent_roll *out)
{
	memset(out, 0, sizeof(struct agent_roll) * MB_MAX_LEVELS);
	for (int l = 1; l < s->nlevels; l++) {
		uint8_t kb[5] = {'r', 'o', 'l', 'l', (uint8_t)l};
		MDB_val k = {5, kb}, v;
		int rv = mdb_get(t, s->e.db_meta, &k, &v);
		if (rv == MDB_NOTFOUND)
			continue;
		if (rv != 0)
			return rv;
		if (v.mv_size != 24)
			continue;
		const uint8_t *p = v.mv_data;
		out[l].S = (int64_t)agent_be64(p);
		out[l].T = (int64_t)agent_be64(p + 8);
		out[l].k = agent_be64(p + 16);
	}
	return 0;
}

static int roll_save(struct agent_store *s, MDB_txn *t, int l, const struct agent_roll *r)
{
	uint8_t kb[5] = {'r', 'o', 'l', 'l', (uint8_t)l}, vb[24];
	agent_put_be64(vb, (uint64_t)r->S);
	agent_put_be64(vb + 8, (uint64_t)r->T);
	agent_put_be64(vb + 16, r->k);
	MDB_val k = {5, kb}, v = {24, vb};
	return agent_put(t, s->e.db_meta, &k, &v, 0);
}

/* Folds one slot of level L-1 (layout ls) into one of level L (layout ld). */
static void fold(double *d, int ld, const double *src, int ls, int kind)
{
	bool e = agent_slot_empty(d);
	if (agent_slot_empty(src))
		return;
	if (kind == MB_COUNTER || kind == MB_SET) {
		d[0] = (e ? 0 : d[0]) + src[0];
	} else if (ld == LAY_TIMER5) {
		if (e) {
			memcpy(d, src, 5 * sizeof *d);
			return;
		}
		if (src[T_COUNT] > 0) {
			d[T_MIN] = d[T_COUNT] > 0 ? fmin(d[T_MIN], src[T_MIN]) : src[T_MIN];
			d[T_MAX] = d[T_COUNT] > 0 ? fmax(d[T_MAX], src[T_MAX]) : src[T_MAX];
		}
		d[T_COUNT] += src[T_COUNT];
		d[T_SUM] += src[T_SUM];
		d[T_SUMSQ] += src[T_SUMSQ];
	} else if (ld == LAY_GAUGE5) {
		double smp[5];
		if (ls == LAY_ONE) {
			smp[G_LAST] = smp[G_MIN] = smp[G_MAX] = smp[G_SUM] = src[0];
			smp[G_N] = 1;
		} else {
			memcpy(smp, src, sizeof smp);
		}
		if (e) {
			memcpy(d, smp, sizeof smp);
			return;
		}
		d[G_LAST] = smp[G_LAST];
		d[G_MIN] = fmin(d[G_MIN], smp[G_MIN]);
		d[G_MAX] = fmax(d[G_MAX], smp[G_MAX]);
		d[G_SUM] += smp[G_SUM];
		d[G_N] += smp[G_N];
	} else {
		d[0] = src[0];
	}
}

int agent_slot_get(struct agent_store *s, MDB_txn *t, const struct agent_series *se, int level,
                   int64_t abs, const struct agent_roll *rv, double *out, struct mb_sketch *sk,
                   struct mb_hll *hll)
{
	int lay = agent_layout(se->kind, level);
	int w = agent_layout_width(lay);
	if (level == 0 || agent_roll_stored(&rv[level], abs, se->id)) {
		int r = agent_read_slot(s, t, se, level, abs, out);
		if (r != 0)
			return r;
		if (sk) {
			struct mb_sketch one;
			if (agent_read_sketch(s, t, se->id, level, abs, &one, NULL) == 0) {
				mb_sketch_merge(sk, &one);
				mb_sketch_free(&one);
			}
		}
		if (hll) {
			struct mb_hll one;
			if (agent_read_sketch(s, t, se->id, level, abs, NULL, &one) == 0)
				mb_hll_merge(hll, &one);
		}
		return 0;
	}
	int64_t m = s->geom[level].res_ms / s->geom[level - 1].res_ms;
	int ls = agent_layout(se->kind, level - 1);
	double nan = agent_nan();
	for (int i = 0; i < w; i++)
		out[i] = nan;
	/* Sets: the distinct count of several slots is their merged HLL's. */
	struct mb_hll *h = hll;
	struct mb_hll local;
	if (se->kind == MB_SET && !h) {
		memset(&local, 0, sizeof local);
		h = &local;
	}
	int nsub = 0;
	double single = 0;
	/* Sub-slots that are final below are read from their chunk, fetched once. */
	const struct agent_geom *gb = &s->geom[level - 1];
	int wb = agent_layout_width(ls);
	uint32_t cpsb = gb->cps[ls];
	size_t csize = AGENT_CHUNK_HDR + (size_t)cpsb * wb * sizeof(double);
	int64_t cached = -1;
	const uint8_t *cp = NULL;
	for (int64_t j = 0; j < m; j++) {
		double sub[5];
		int64_t sa = abs * m + j;
		if (level - 1 == 0 || agent_roll_stored(&rv[level - 1], sa, se->id)) {
			int64_t ac = sa / cpsb;
			if (ac != cached) {
				uint8_t key[AGENT_KEY_LEN];
				agent_key(key, level - 1, agent_ring(&s->geom[level - 1], ls, ac),
				          se->id);
				MDB_val k = {sizeof key, key}, v;
				cached = ac;
				cp = NULL;
				if (mdb_get(t, s->e.db_chunk[level - 1], &k, &v) == 0 &&
				    v.mv_size == csize && agent_be64(v.mv_data) == (uint64_t)ac)
					cp = (const uint8_t *)v.mv_data + AGENT_CHUNK_HDR;
			}
			if (!cp)
				continue;
			memcpy(sub, cp + (size_t)(sa % cpsb) * wb * 8, (size_t)wb * 8);
			if (agent_slot_empty(sub))
				continue;
			if (sk) {
				struct mb_sketch one;
				if (agent_read_sketch(s, t, se->id, level - 1, sa, &one, NULL) ==
				    0) {
					mb_sketch_merge(sk, &one);
					mb_sketch_free(&one);
				}
			}
			if (h) {
				struct mb_hll one;
				if (agent_read_sketch(s, t, se->id, level - 1, sa, NULL, &one) == 0)
					mb_hll_merge(h, &one);
			}
		} else if (agent_slot_get(s, t, se, level - 1, sa, rv, sub, sk, h) != 0) {
			continue;
		}
		fold(out, lay, sub, ls, se->kind);
		single = sub[0];
		nsub++;
	}
	if (!nsub)
		return MDB_NOTFOUND;
	if (se->kind == MB_SET)
		out[0] = nsub == 1 ? single : fmax(round(mb_hll_estimate(h)), 1);
	return 0;
}

/* Rolls [r->S, r->T) of level l for one series: sets (not merges) each coarse slot to the
 * aggregate of the level below, so a pass repeated after a crash writes the same values. */
static int roll_series(struct agent_store *s, MDB_txn *t, const struct agent_series *se, int l,
                       const struct agent_roll *rv, struct mb_buf *vb)
{
	const struct agent_geom *g = &s->geom[l];
	int lay = agent_layout(se->kind, l);
	int w = agent_layout_width(lay);
	uint32_t cps = g->cps[lay];
	size_t size = AGENT_CHUNK_HDR + (size_t)cps * w * sizeof(double);
	uint8_t buf[AGENT_CHUNK_HDR + 64 * 5 * sizeof(double)];
	double *slots = (double *)(void *)(buf + AGENT_CHUNK_HDR);
	double nan = agent_nan();
	int rc = 0;
	bool sketchy = se->kind == MB_SET || mb_kind_is_timer(se->kind);
	int64_t from = rv[l].S;
	/* Slots before the series' first point of interest cost nothing: start at its data. */
	for (int64_t ac = from / cps; ac <= (rv[l].T - 1) / (int64_t)cps; ac++) {
		uint8_t key[AGENT_KEY_LEN];
		agent_key(key, l, agent_ring(&s->geom[l], lay, ac), se->id);
		MDB_val k = {sizeof key, key}, v;
		bool have = false, exists = false;
		int r = mdb_get(t, s->e.db_chunk[l], &k, &v);
		exists = r == 0;
		if (r == 0 && v.mv_size == size && agent_be64(v.mv_data) == (uint64_t)ac) {
			memcpy(buf, v.mv_data, size);
			have = true;
		} else if (r != 0 && r != MDB_NOTFOUND) {
			return r;
		}
		if (!have) {
			agent_put_be64(buf, (uint64_t)ac);
			for (size_t q = 0; q < (size_t)cps * w; q++)
				slots[q] = nan;
		}
		bool changed = false;
		int64_t a0 = ac * cps > from ? ac * cps : from;
		int64_t a1 = (ac + 1) * cps < rv[l].T ? (ac + 1) * cps : rv[l].T;
		for (int64_t a = a0; a < a1; a++) {
			double val[5];
			struct mb_sketch sk = {0};
			struct mb_hll *hl = NULL;
			if (se->kind == MB_SET && !(hl = calloc(1, sizeof *hl)))
				return ENOMEM;
			/* Level l is not final for this slot yet: this reads level l-1. */
			struct agent_roll vr[MB_MAX_LEVELS];
			memcpy(vr, rv, sizeof vr);
			vr[l].S = vr[l].T = vr[l].k = 0;
			r = agent_slot_get(s, t, se, l, a, vr, val,
			                   mb_kind_is_timer(se->kind) ? &sk : NULL, hl);
			if (r == 0) {
				memcpy(slots + (size_t)(a % cps) * w, val, (size_t)w * 8);
				changed = true;
				if (sketchy) {
					uint8_t kk[AGENT_KEY_LEN], ab[8];
					uint64_t ring = (uint64_t)g->nchunks[lay] * cps;
					agent_key(kk, l, (uint32_t)((uint64_t)a % ring), se->id);
					agent_put_be64(ab, (uint64_t)a);
					mb_buf_reset(vb);
					if (mb_buf_append(vb, ab, 8) != 0 ||
					    (hl ? mb_hll_encode(hl, vb)
					        : agent_sketch_enc(&sk, vb)) != 0)
						rc = ENOMEM;
					MDB_val k2 = {sizeof kk, kk}, d2 = {vb->len, vb->data};
					if (!rc)
						rc = agent_put(t, s->e.db_sketch, &k2, &d2, 0);
				}
			}
			mb_sketch_free(&sk);
			free(hl);
			if (rc)
				return rc;
		}
		if (changed) {
			uint8_t key2[AGENT_KEY_LEN];
			memcpy(key2, key, sizeof key2);
			MDB_val k2 = {sizeof key2, key2}, d = {size, NULL};
			unsigned fl =
			    MDB_RESERVE | (exists ? 0 : agent_append_flag(&s->e, l, key2));
			if ((r = agent_put(t, s->e.db_chunk[l], &k2, &d, fl)) != 0)
				return r;
			memcpy(d.mv_data, buf, size);
		}
	}
	return 0;
}

int agent_roll_step(struct agent_store *s, MDB_txn *t, int64_t now, struct mb_buf *vb)
{
	memcpy(s->w.roll_new, s->w.roll, sizeof s->w.roll_new);
	int64_t grace = ROLL_GRACE_MS > s->geom[0].res_ms ? ROLL_GRACE_MS : s->geom[0].res_ms;
	for (int l = 1; l < s->nlevels; l++) {
		struct agent_roll *r = &s->w.roll_new[l];
		struct agent_roll before = *r;
		int64_t res = s->geom[l].res_ms;
		int64_t tnew = (now - grace) / res;
		int64_t low = (now - s->geom[0].span_ms) / res + 1;
		if (r->S == 0) {
			r->S = r->T = tnew; /* a new store: everything older goes straight in */
			r->k = 0;
		}
		if (r->k == 0 && r->T <= r->S) {
			if (r->S < low)
				r->S = low; /* the level below no longer holds older slots */
			if (tnew > r->S)
				r->T = tnew;
		}
		if (r->T > r->S) {
			uint32_t done = 0;
			uint64_t idx = r->k;
			int64_t from_ms = r->S * res;
			for (; idx < s->r.nser && done < agent_roll_budget; idx++) {
				const struct agent_series *se = s->r.ser[idx];
				if (!se->committed || se->last_ms <= from_ms)
					continue;
				int rc = roll_series(s, t, se, l, s->w.roll_new, vb);
				if (rc)
					return rc;
				done++;
			}
			if (idx >= s->r.nser) {
				r->S = r->T;
				r->k = 0;
			} else {
				r->k = idx; /* ids <= idx are done: id = index + 1 */
			}
		}
		if (memcmp(&before, r, sizeof before) != 0) {
			int rc = roll_save(s, t, l, r);
			if (rc)
				return rc;
		}
	}
	return 0;
}
