/* rollup.c: coarser levels rolled up from finer ones once a coarse slot has closed, instead
 * of written through on every point (3x fewer pages per commit); the reads of slots not rolled
 * up yet are in slots.c. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "write.h"

/* Per level L >= 1 the store keeps (S, T, k) in meta "roll"+L: every slot < S is final at
 * level L; slots in [S, T) are final for series ids <= k (a pass in progress); the rest is
 * read from level L-1. A point for a slot that is final goes straight into level L too. */

#define ROLL_GRACE_MS 30000         /* a coarse slot is rolled this long after it closed */
uint32_t agent_roll_budget = 25000; /* series rolled per level per commit */

static int roll_save(struct agent_store *s, MDB_txn *t, int l, const struct agent_roll *r)
{
	uint8_t kb[5] = {'r', 'o', 'l', 'l', (uint8_t)l}, vb[24];
	agent_put_be64(vb, (uint64_t)r->S);
	agent_put_be64(vb + 8, (uint64_t)r->T);
	agent_put_be64(vb + 16, r->k);
	MDB_val k = {5, kb}, v = {24, vb};
	return agent_put(t, s->e.db_meta, &k, &v, 0);
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
				return MB_ENOMEM;
			/* Level l is not final for this slot yet: this reads level l-1. */
			struct agent_roll vr[MB_MAX_LEVELS];
			memcpy(vr, rv, sizeof vr);
			vr[l].S = vr[l].T = vr[l].k = 0;
			r = agent_slot_get(s, t, se, l, a, vr, val,
			                   mb_kind_is_timer(se->kind) ? &sk : NULL, hl);
			if (r == MB_ENOMEM)
				rc = MB_ENOMEM; /* not rolled with a sketch short of a merge */
			else if (r == 0) {
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
						rc = MB_ENOMEM;
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
