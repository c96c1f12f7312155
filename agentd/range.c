/* range.c: range queries: the window level chosen for the span, step buckets merged over
 * slots and over every matching tag set, and each stat's definition per kind. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read.h"

/* Stats, per bucket (a bucket with no slot holding data is NaN, nil on the wire):
 *   counter: sum and count = the total counted; mean = per-second rate over the step;
 *            min/max/last and pNN over the per-slot counts at the window's resolution.
 *   gauge/resource: mean = mean of the samples, min/max, sum, count = number of samples,
 *            last = latest value; pNN over samples (coarse slots weigh their mean by n).
 *   timers: count, sum, mean = sum/count, min/max of observations, last = the latest slot's
 *            mean, pNN from the merged sketches (1% relative).
 *   set:     count = distinct members over the step (merged HyperLogLog; exact for one slot
 *            at the finest level), sum/mean/min/max/last/pNN over the per-slot counts.
 *   Several tag sets merge: counts and sums add, min of mins, max of maxes, sketches merge,
 *   last adds the latest values of every tag set. */

struct acc {
	double cnt, sum, min, max, last;
	int64_t last_t;
	uint32_t nslots;
	bool has_mm;
};

static const char *const derived[] = {".p50", ".p90", ".p95", ".p99", ".p999", ".count",
                                      ".sum",  ".min", ".max", ".mean", ".last"};
static const int derived_stat[] = {MB_STAT_P50, MB_STAT_P90, MB_STAT_P95, MB_STAT_P99,
                                   MB_STAT_P999, MB_STAT_COUNT, MB_STAT_SUM, MB_STAT_MIN,
                                   MB_STAT_MAX, MB_STAT_MEAN, MB_STAT_LAST};

static bool tags_match(const struct agent_series *se, const struct mb_query *q)
{
	for (int i = 0; i < q->ntags; i++) {
		bool found = false;
		for (int j = 0; j < se->ntags && !found; j++)
			found = !strcmp(se->tags[j].key, q->tags[i].key) &&
			        !strcmp(se->tags[j].val, q->tags[i].val);
		if (!found)
			return false;
	}
	return true;
}

/* Adds one slot (stored or rolled up on the fly) to its bucket. ssk/shl: the slot's sketch
 * and HLL when the bucket needs them. */
static void acc_slot(struct acc *x, const double *sl, int lay, int kind, int64_t st,
                     struct mb_sketch *bsk, struct mb_hll *bhl, const struct mb_sketch *ssk,
                     const struct mb_hll *shl)
{
	double cnt, sum, mn, mx, last, qval = NAN, qn = 1;
	if (lay == LAY_TIMER5) {
		cnt = sl[T_COUNT];
		sum = sl[T_SUM];
		mn = sl[T_MIN];
		mx = sl[T_MAX];
		last = cnt > 0 ? sum / cnt : 0;
	} else if (lay == LAY_GAUGE5) {
		cnt = sl[G_N];
		sum = sl[G_SUM];
		mn = sl[G_MIN];
		mx = sl[G_MAX];
		last = sl[G_LAST];
		qval = cnt > 0 ? sum / cnt : last;
		qn = cnt > 0 ? cnt : 1;
	} else {
		cnt = kind == MB_GAUGE || kind == MB_RESOURCE ? 1 : sl[0];
		sum = mn = mx = last = qval = sl[0];
	}
	if (lay != LAY_TIMER5 || cnt > 0) {
		x->min = x->has_mm ? fmin(x->min, mn) : mn;
		x->max = x->has_mm ? fmax(x->max, mx) : mx;
		x->has_mm = true;
	}
	x->cnt += cnt;
	x->sum += sum;
	if (st > x->last_t || x->nslots == 0) {
		x->last = last;
		x->last_t = st;
	} else if (st == x->last_t) {
		x->last += last;
	}
	x->nslots++;
	if (bsk && lay == LAY_TIMER5) {
		if (ssk)
			mb_sketch_merge(bsk, ssk);
	} else if (bsk && isfinite(qval)) {
		mb_sketch_add(bsk, qval, (uint64_t)qn);
	}
	if (bhl && shl)
		mb_hll_merge(bhl, shl);
}

static double stat_q(int stat)
{
	switch (stat) {
	case MB_STAT_P50: return 0.5;
	case MB_STAT_P90: return 0.9;
	case MB_STAT_P95: return 0.95;
	case MB_STAT_P99: return 0.99;
	case MB_STAT_P999: return 0.999;
	default: return -1;
	}
}

void agent_q_range(struct agent_store *s, MDB_txn *t, const struct mb_query *q,
                   struct mb_reply *r)
{
	int64_t now = agent_store_now();
	if (!q->source || !q->name) {
		agent_reply_err(r, 400, "range needs src and name");
		return;
	}
	if (q->stat < 0 || q->stat >= MB_NSTATS) {
		agent_reply_err(r, 400, "unknown stat");
		return;
	}
	if (q->to_ms < q->from_ms) {
		agent_reply_err(r, 400, "from is after to");
		return;
	}
	int ci = agent_source_find(s, q->source);
	if (ci < 0) {
		agent_reply_err(r, 404, "unknown source %s", q->source);
		return;
	}
	const struct agent_source *c = s->r.src[ci];
	int stat = q->stat;
	char base[MB_MAX_NAME + 1];
	snprintf(base, sizeof base, "%s", q->name);
	/* Series of the name (any tag set matching the filter), else a timer's derived name. */
	int kind = -1;
	uint32_t nmatch = 0;
	for (int pass = 0; pass < 2 && nmatch == 0; pass++) {
		if (pass == 1) {
			size_t bl = strlen(base);
			bool got = false;
			for (size_t d = 0; d < sizeof derived / sizeof derived[0] && !got; d++) {
				size_t dl = strlen(derived[d]);
				if (bl > dl && !strcmp(base + bl - dl, derived[d])) {
					base[bl - dl] = 0;
					stat = derived_stat[d];
					got = true;
				}
			}
			if (!got)
				break;
		}
		for (uint32_t i = 0; i < c->nser; i++) {
			const struct agent_series *se = s->r.ser[c->ser[i]];
			if (!se->committed || strcmp(se->name, base) || !tags_match(se, q))
				continue;
			if (pass == 1 && !mb_kind_is_timer(se->kind))
				continue;
			if (kind < 0)
				kind = se->kind;
			if (se->kind == kind)
				nmatch++;
		}
	}
	if (nmatch == 0) {
		agent_reply_err(r, 404, "source %s has no series %s%s", q->source, q->name,
		                q->ntags ? " with those tags" : "");
		return;
	}
	/* The window (docs/api.md, "How agentd picks the window and the step"): the finest
	 * whose span reaches back to from, with one slot of grace, and whose resolution is at
	 * most the step asked for; else the finest that reaches back; else the coarsest. The
	 * grace makes a relative from (-7d) pick the same window however many milliseconds
	 * it took to get here: without it, -7d read 1h slots whenever agentd's clock had moved
	 * on since the bridge or CLI read theirs. The ring's spare chunk usually still holds
	 * the slot of grace; at worst the first point is null. */
	int lvl = -1;
	for (int pass = 0; pass < 2 && lvl < 0; pass++)
		for (int l = 0; l < s->nlevels && lvl < 0; l++)
			if (q->from_ms >= now - s->geom[l].span_ms - s->geom[l].res_ms &&
			    (pass == 1 || q->step_ms == 0 || s->geom[l].res_ms <= q->step_ms))
				lvl = l;
	if (lvl < 0)
		lvl = s->nlevels - 1;
	int64_t res = s->geom[lvl].res_ms;
	int64_t span = q->to_ms - q->from_ms;
	int64_t step;
	if (q->step_ms == 0) {
		int64_t per = span / 500 + 1;
		step = ((per + res - 1) / res) * res;
	} else {
		step = ((q->step_ms + res - 1) / res) * res;
	}
	if (step <= 0)
		step = res;
	int64_t b0 = q->from_ms - ((q->from_ms % step) + step) % step;
	int64_t nb = (q->to_ms - b0) / step + 1;
	if (q->to_ms > b0 && (q->to_ms - b0) % step == 0)
		nb--; /* `to` on a boundary: the bucket starting there is not asked for */
	if (nb < 1)
		nb = 1;
	if (nb > MB_MAX_RANGE_POINTS) {
		char sb[32];
		mb_format_duration(step, sb, sizeof sb);
		agent_reply_err(r, 400, "step %s gives %lld points, more than %d: use a larger step",
		                sb, (long long)nb, MB_MAX_RANGE_POINTS);
		return;
	}
	double qv = stat_q(stat);
	bool want_hll = kind == MB_SET && stat == MB_STAT_COUNT;
	struct acc *a = calloc((size_t)nb, sizeof *a);
	struct mb_sketch *sk = qv >= 0 ? calloc((size_t)nb, sizeof *sk) : NULL;
	struct mb_hll *hl = want_hll ? calloc((size_t)nb, sizeof *hl) : NULL;
	int64_t *rt = mb_arena_alloc(&r->arena, (size_t)nb * sizeof *rt);
	double *rv = mb_arena_alloc(&r->arena, (size_t)nb * sizeof *rv);
	if (!a || (qv >= 0 && !sk) || (want_hll && !hl) || !rt || !rv) {
		agent_reply_err(r, 500, "out of memory");
		goto out;
	}
	int lay = agent_layout(kind, lvl);
	int w = agent_layout_width(lay);
	uint32_t cps = s->geom[lvl].cps[lay];
	size_t csize = AGENT_CHUNK_HDR + (size_t)cps * w * sizeof(double);
	int64_t a0 = b0 / res, a1 = (b0 + nb * step) / res; /* abs slots [a0, a1) */
	if (a0 < 0)
		a0 = 0;
	struct agent_roll rvw[MB_MAX_LEVELS];
	if (agent_roll_load(s, t, rvw) != 0)
		memset(rvw, 0, sizeof rvw);
	int64_t vmax = (now + 3600000) / res + 1; /* no point is ever filed later than this */
	for (uint32_t i = 0; i < c->nser; i++) {
		const struct agent_series *se = s->r.ser[c->ser[i]];
		if (!se->committed || se->kind != kind || strcmp(se->name, base) || !tags_match(se, q))
			continue;
		int64_t a1c = a1 < vmax ? a1 : vmax;
		for (int64_t ac = a0 / cps; ac <= (a1c - 1) / (int64_t)cps; ac++) {
			uint8_t key[AGENT_KEY_LEN];
			agent_key(key, lvl, agent_ring(&s->geom[lvl], lay, ac), se->id);
			MDB_val k = {sizeof key, key}, v;
			if (mdb_get(t, s->e.db_chunk[lvl], &k, &v) != 0 || v.mv_size != csize ||
			    agent_be64(v.mv_data) != (uint64_t)ac)
				continue;
			const uint8_t *base_p = (const uint8_t *)v.mv_data + AGENT_CHUNK_HDR;
			for (uint32_t si = 0; si < cps; si++) {
				int64_t abs = ac * cps + si;
				if (abs < a0 || abs >= a1)
					continue;
				if (lvl > 0 && !agent_roll_stored(&rvw[lvl], abs, se->id))
					continue; /* read below, from the level under it */
				double sl[5];
				memcpy(sl, base_p + (size_t)si * w * 8, (size_t)w * 8);
				if (agent_slot_empty(sl))
					continue;
				int64_t bi = (abs * res - b0) / step;
				if (bi < 0 || bi >= nb)
					continue;
				struct mb_sketch one = {0};
				struct mb_hll oneh;
				bool hs = sk && lay == LAY_TIMER5 &&
				          agent_read_sketch(s, t, se->id, lvl, abs, &one, NULL) == 0;
				bool hh = hl && agent_read_sketch(s, t, se->id, lvl, abs, NULL, &oneh) == 0;
				acc_slot(&a[bi], sl, lay, kind, abs * res, sk ? &sk[bi] : NULL,
				         hl ? &hl[bi] : NULL, hs ? &one : NULL, hh ? &oneh : NULL);
				mb_sketch_free(&one);
			}
		}
		/* Slots of a coarse level not rolled up yet: from the level below. */
		for (int64_t abs = a0 > rvw[lvl].S ? a0 : rvw[lvl].S; lvl > 0 && abs < a1 && abs < vmax;
		     abs++) {
			if (agent_roll_stored(&rvw[lvl], abs, se->id))
				continue;
			int64_t bi = (abs * res - b0) / step;
			if (bi < 0 || bi >= nb)
				continue;
			double sl[5];
			struct mb_sketch one = {0};
			struct mb_hll *oneh = hl ? calloc(1, sizeof *oneh) : NULL;
			if (agent_slot_get(s, t, se, lvl, abs, rvw, sl,
			                   sk && lay == LAY_TIMER5 ? &one : NULL, oneh) == 0)
				acc_slot(&a[bi], sl, lay, kind, abs * res, sk ? &sk[bi] : NULL,
				         hl ? &hl[bi] : NULL, sk && lay == LAY_TIMER5 ? &one : NULL, oneh);
			mb_sketch_free(&one);
			free(oneh);
		}
	}
	for (int64_t i = 0; i < nb; i++) {
		struct acc *x = &a[i];
		double v = NAN;
		rt[i] = b0 + i * step;
		if (x->nslots) {
			switch (stat) {
			case MB_STAT_MEAN:
				if (kind == MB_COUNTER)
					v = x->sum / ((double)step / 1000.0);
				else if (kind == MB_SET)
					v = x->sum / x->nslots;
				else
					v = x->cnt > 0 ? x->sum / x->cnt : NAN;
				break;
			case MB_STAT_MIN: v = x->min; break;
			case MB_STAT_MAX: v = x->max; break;
			case MB_STAT_SUM: v = x->sum; break;
			case MB_STAT_COUNT:
				v = hl ? round(mb_hll_estimate(&hl[i])) : x->cnt;
				if (hl && x->nslots == 1 && lvl == 0)
					v = x->sum; /* one finest slot: its exact count */
				break;
			case MB_STAT_LAST: v = x->last; break;
			case MB_STAT_RATE: /* what count counts, per second */
				v = (kind == MB_COUNTER || kind == MB_SET ? x->sum : (double)x->cnt) /
				    ((double)step / 1000.0);
				break;
			default:
				if (!sk || mb_sketch_quantile_mm(&sk[i], qv, x->has_mm ? x->min : NAN,
				                                 x->has_mm ? x->max : NAN, &v) != 0)
					v = NAN;
				break;
			}
			if (!x->has_mm && (stat == MB_STAT_MIN || stat == MB_STAT_MAX))
				v = NAN;
		}
		rv[i] = isfinite(v) ? v : NAN;
	}
	r->name = mb_arena_strndup(&r->arena, q->name, strlen(q->name));
	r->source = mb_arena_strndup(&r->arena, q->source, strlen(q->source));
	r->step_ms = step;
	r->stat = stat;
	r->nrange = (uint32_t)nb;
	r->range_t = rt;
	r->range_v = rv;
	r->status = 200;
out:
	if (sk)
		for (int64_t i = 0; i < nb; i++)
			mb_sketch_free(&sk[i]);
	free(sk);
	free(hl);
	free(a);
}
