/* slots.c: the store's reads (layer 3): a series' slot and sketch at a level, read in the
 * caller's transaction, and coarse slots not rolled up yet computed from the level below. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "slots.h"

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

/* mdb_get, or the same through a cursor (MDB_SET_KEY checks the cursor's page first). */
static int get(MDB_txn *t, MDB_dbi dbi, MDB_cursor *c, MDB_val *k, MDB_val *v)
{
	return c ? mdb_cursor_get(c, k, v, MDB_SET_KEY) : mdb_get(t, dbi, k, v);
}

static int read_slot(struct agent_store *s, MDB_txn *t, MDB_cursor *c,
                     const struct agent_series *se, int level, int64_t abs_slot, double *out)
{
	const struct agent_geom *g = &s->geom[level];
	int lay = agent_layout(se->kind, level);
	int w = agent_layout_width(lay);
	uint32_t cps = g->cps[lay];
	uint64_t ac = (uint64_t)abs_slot / cps;
	uint8_t key[AGENT_KEY_LEN];
	agent_key(key, level, agent_ring(&s->geom[level], lay, (int64_t)ac), se->id);
	MDB_val k = {sizeof key, key}, v;
	int rv = get(t, s->e.db_chunk[level], c, &k, &v);
	if (rv != 0)
		return rv;
	if (v.mv_size != AGENT_CHUNK_HDR + (size_t)cps * w * sizeof(double) ||
	    agent_be64(v.mv_data) != ac)
		return MDB_NOTFOUND;
	memcpy(out, (const uint8_t *)v.mv_data + AGENT_CHUNK_HDR + (abs_slot % cps) * w * 8,
	       (size_t)w * 8);
	return agent_slot_empty(out) ? MDB_NOTFOUND : 0;
}

int agent_read_slot(struct agent_store *s, MDB_txn *t, const struct agent_series *se, int level,
                    int64_t abs_slot, double *out)
{
	return read_slot(s, t, NULL, se, level, abs_slot, out);
}

int agent_read_slot_c(struct agent_store *s, MDB_txn *t, MDB_cursor *c,
                      const struct agent_series *se, int level, int64_t abs_slot, double *out)
{
	return read_slot(s, t, c, se, level, abs_slot, out);
}

static int read_sketch(struct agent_store *s, MDB_txn *t, MDB_cursor *c, uint64_t id, int level,
                       int64_t abs_slot, struct mb_sketch *sk, struct mb_hll *hll)
{
	const struct agent_geom *g = &s->geom[level];
	int lay = sk ? LAY_TIMER5 : LAY_ONE;
	uint64_t ring = (uint64_t)g->nchunks[lay] * g->cps[lay];
	uint8_t key[AGENT_KEY_LEN];
	agent_key(key, level, (uint32_t)((uint64_t)abs_slot % ring), id);
	MDB_val k = {sizeof key, key}, v;
	int rv = get(t, s->e.db_sketch, c, &k, &v);
	if (rv != 0)
		return rv;
	if (v.mv_size < 8 || agent_be64(v.mv_data) != (uint64_t)abs_slot)
		return MDB_NOTFOUND;
	const uint8_t *p = (const uint8_t *)v.mv_data + 8;
	if (sk)
		return agent_sketch_dec(p, v.mv_size - 8, sk) == 0 ? 0 : MDB_NOTFOUND;
	return mb_hll_decode(p, v.mv_size - 8, hll) == 0 ? 0 : MDB_NOTFOUND;
}

int agent_read_sketch(struct agent_store *s, MDB_txn *t, uint64_t id, int level, int64_t abs_slot,
                      struct mb_sketch *sk, struct mb_hll *hll)
{
	return read_sketch(s, t, NULL, id, level, abs_slot, sk, hll);
}

int agent_read_sketch_c(struct agent_store *s, MDB_txn *t, MDB_cursor *c, uint64_t id,
                        int level, int64_t abs_slot, struct mb_sketch *sk, struct mb_hll *hll)
{
	return read_sketch(s, t, c, id, level, abs_slot, sk, hll);
}

/* Merges the stored sketch of a slot into sk: 0 (merged, or none stored), MB_ENOMEM. */
static int merge_sketch(struct agent_store *s, MDB_txn *t, uint64_t id, int level, int64_t abs,
                        struct mb_sketch *sk)
{
	struct mb_sketch one;
	if (agent_read_sketch(s, t, id, level, abs, &one, NULL) != 0)
		return 0;
	int rv = mb_sketch_merge(sk, &one);
	mb_sketch_free(&one);
	return rv == 0 ? 0 : MB_ENOMEM;
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
		if (sk && (r = merge_sketch(s, t, se->id, level, abs, sk)) != 0)
			return r;
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
			int mr;
			if (sk && (mr = merge_sketch(s, t, se->id, level - 1, sa, sk)) != 0)
				return mr;
			if (h) {
				struct mb_hll one;
				if (agent_read_sketch(s, t, se->id, level - 1, sa, NULL, &one) == 0)
					mb_hll_merge(h, &one);
			}
		} else {
			int gr = agent_slot_get(s, t, se, level - 1, sa, rv, sub, sk, h);
			if (gr == MB_ENOMEM)
				return gr;
			if (gr != 0)
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
