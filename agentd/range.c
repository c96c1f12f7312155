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

/* One range query's plan and accumulators. */
struct rq {
	const struct mb_query *q;
	const struct agent_source *c;
	char base[MB_MAX_NAME + 1]; /* the series' name (a timer's derived suffix taken off) */
	int stat, kind, lvl, lay;
	int64_t now, res, step, b0, nb, a0, a1, vmax; /* abs slots [a0, a1) */
	double qv;
	struct acc *a;
	struct mb_sketch *sk;
	struct mb_hll *hl;
	struct agent_roll rvw[MB_MAX_LEVELS];
};

static bool rq_matches(const struct rq *x, const struct agent_series *se)
{
	return se->committed && !strcmp(se->name, x->base) && tags_match(se, x->q);
}

/* Series of the name (any tag set matching the filter), else a timer's derived name: sets
 * base, stat and kind. 0 when none. */
static uint32_t rq_match(struct agent_store *s, struct rq *x)
{
	uint32_t nmatch = 0;
	x->kind = -1;
	for (int pass = 0; pass < 2 && nmatch == 0; pass++) {
		if (pass == 1) {
			size_t bl = strlen(x->base);
			bool got = false;
			for (size_t d = 0; d < sizeof derived / sizeof derived[0] && !got; d++) {
				size_t dl = strlen(derived[d]);
				if (bl > dl && !strcmp(x->base + bl - dl, derived[d])) {
					x->base[bl - dl] = 0;
					x->stat = derived_stat[d];
					got = true;
				}
			}
			if (!got)
				break;
		}
		for (uint32_t i = 0; i < x->c->nser; i++) {
			const struct agent_series *se = s->r.ser[x->c->ser[i]];
			if (!rq_matches(x, se) || (pass == 1 && !mb_kind_is_timer(se->kind)))
				continue;
			if (x->kind < 0)
				x->kind = se->kind;
			if (se->kind == x->kind)
				nmatch++;
		}
	}
	return nmatch;
}

/* The window (docs/api.md, "How agentd picks the window and the step"): the finest whose
 * span reaches back to from, with one slot of grace, and whose resolution is at most the step
 * asked for; else the finest that reaches back; else the coarsest. The grace makes a relative
 * from (-7d) pick the same window however many milliseconds it took to get here: without it,
 * -7d read 1h slots whenever agentd's clock had moved on since the bridge or CLI read theirs.
 * The ring's spare chunk usually still holds the slot of grace; at worst the first point is
 * null. Then the step, the buckets and the slots they cover. */
static void rq_window(struct agent_store *s, struct rq *x)
{
	const struct mb_query *q = x->q;
	x->lvl = -1;
	for (int pass = 0; pass < 2 && x->lvl < 0; pass++)
		for (int l = 0; l < s->nlevels && x->lvl < 0; l++)
			if (q->from_ms >= x->now - s->geom[l].span_ms - s->geom[l].res_ms &&
			    (pass == 1 || q->step_ms == 0 || s->geom[l].res_ms <= q->step_ms))
				x->lvl = l;
	if (x->lvl < 0)
		x->lvl = s->nlevels - 1;
	int64_t res = x->res = s->geom[x->lvl].res_ms;
	int64_t span = q->to_ms - q->from_ms;
	if (q->step_ms == 0) {
		int64_t per = span / 500 + 1;
		x->step = ((per + res - 1) / res) * res;
	} else {
		x->step = ((q->step_ms + res - 1) / res) * res;
	}
	if (x->step <= 0)
		x->step = res;
	x->b0 = q->from_ms - ((q->from_ms % x->step) + x->step) % x->step;
	x->nb = (q->to_ms - x->b0) / x->step + 1;
	if (q->to_ms > x->b0 && (q->to_ms - x->b0) % x->step == 0)
		x->nb--; /* `to` on a boundary: the bucket starting there is not asked for */
	if (x->nb < 1)
		x->nb = 1;
	x->a0 = x->b0 / res;
	x->a1 = (x->b0 + x->nb * x->step) / res;
	if (x->a0 < 0)
		x->a0 = 0;
	x->vmax = (x->now + 3600000) / res + 1; /* no point is ever filed later than this */
}

/* One series' slots of the window into the buckets: stored ones chunk by chunk, then those of
 * a coarse level not rolled up yet, from the level below. */
static void rq_scan(struct agent_store *s, MDB_txn *t, struct rq *x, const struct agent_series *se)
{
	int lvl = x->lvl, lay = x->lay, w = agent_layout_width(lay), kind = x->kind;
	uint32_t cps = s->geom[lvl].cps[lay];
	size_t csize = AGENT_CHUNK_HDR + (size_t)cps * w * sizeof(double);
	int64_t a1c = x->a1 < x->vmax ? x->a1 : x->vmax, res = x->res;
	for (int64_t ac = x->a0 / cps; ac <= (a1c - 1) / (int64_t)cps; ac++) {
		uint8_t key[AGENT_KEY_LEN];
		agent_key(key, lvl, agent_ring(&s->geom[lvl], lay, ac), se->id);
		MDB_val k = {sizeof key, key}, v;
		if (mdb_get(t, s->e.db_chunk[lvl], &k, &v) != 0 || v.mv_size != csize ||
		    agent_be64(v.mv_data) != (uint64_t)ac)
			continue;
		const uint8_t *base_p = (const uint8_t *)v.mv_data + AGENT_CHUNK_HDR;
		for (uint32_t si = 0; si < cps; si++) {
			int64_t abs = ac * cps + si;
			if (abs < x->a0 || abs >= x->a1)
				continue;
			if (lvl > 0 && !agent_roll_stored(&x->rvw[lvl], abs, se->id))
				continue; /* read below, from the level under it */
			double sl[5];
			memcpy(sl, base_p + (size_t)si * w * 8, (size_t)w * 8);
			if (agent_slot_empty(sl))
				continue;
			int64_t bi = (abs * res - x->b0) / x->step;
			if (bi < 0 || bi >= x->nb)
				continue;
			struct mb_sketch one = {0};
			struct mb_hll oneh;
			bool hs = x->sk && lay == LAY_TIMER5 &&
			          agent_read_sketch(s, t, se->id, lvl, abs, &one, NULL) == 0;
			bool hh = x->hl &&
			          agent_read_sketch(s, t, se->id, lvl, abs, NULL, &oneh) == 0;
			acc_slot(&x->a[bi], sl, lay, kind, abs * res, x->sk ? &x->sk[bi] : NULL,
			         x->hl ? &x->hl[bi] : NULL, hs ? &one : NULL, hh ? &oneh : NULL);
			mb_sketch_free(&one);
		}
	}
	for (int64_t abs = x->a0 > x->rvw[lvl].S ? x->a0 : x->rvw[lvl].S;
	     lvl > 0 && abs < x->a1 && abs < x->vmax; abs++) {
		if (agent_roll_stored(&x->rvw[lvl], abs, se->id))
			continue;
		int64_t bi = (abs * res - x->b0) / x->step;
		if (bi < 0 || bi >= x->nb)
			continue;
		double sl[5];
		struct mb_sketch one = {0};
		struct mb_hll *oneh = x->hl ? calloc(1, sizeof *oneh) : NULL;
		bool tsk = x->sk && lay == LAY_TIMER5;
		if (agent_slot_get(s, t, se, lvl, abs, x->rvw, sl, tsk ? &one : NULL, oneh) == 0)
			acc_slot(&x->a[bi], sl, lay, kind, abs * res, x->sk ? &x->sk[bi] : NULL,
			         x->hl ? &x->hl[bi] : NULL, tsk ? &one : NULL, oneh);
		mb_sketch_free(&one);
		free(oneh);
	}
}

/* A bucket's value for the stat: NaN when it has none. */
static double rq_value(const struct rq *x, int64_t i)
{
	const struct acc *a = &x->a[i];
	double v = NAN;
	int kind = x->kind;
	if (!a->nslots)
		return NAN;
	switch (x->stat) {
	case MB_STAT_MEAN:
		if (kind == MB_COUNTER)
			v = a->sum / ((double)x->step / 1000.0);
		else if (kind == MB_SET)
			v = a->sum / a->nslots;
		else
			v = a->cnt > 0 ? a->sum / a->cnt : NAN;
		break;
	case MB_STAT_MIN: v = a->min; break;
	case MB_STAT_MAX: v = a->max; break;
	case MB_STAT_SUM: v = a->sum; break;
	case MB_STAT_COUNT:
		v = x->hl ? round(mb_hll_estimate(&x->hl[i])) : a->cnt;
		if (x->hl && a->nslots == 1 && x->lvl == 0)
			v = a->sum; /* one finest slot: its exact count */
		break;
	case MB_STAT_LAST: v = a->last; break;
	case MB_STAT_RATE: /* what count counts, per second */
		v = (kind == MB_COUNTER || kind == MB_SET ? a->sum : (double)a->cnt) /
		    ((double)x->step / 1000.0);
		break;
	default:
		if (!x->sk || mb_sketch_quantile_mm(&x->sk[i], x->qv, a->has_mm ? a->min : NAN,
		                                    a->has_mm ? a->max : NAN, &v) != 0)
			v = NAN;
		break;
	}
	if (!a->has_mm && (x->stat == MB_STAT_MIN || x->stat == MB_STAT_MAX))
		v = NAN;
	return isfinite(v) ? v : NAN;
}

/* The request's own checks and its source: false with the error set. */
static bool rq_valid(struct agent_store *s, const struct mb_query *q, struct mb_reply *r,
                     const struct agent_source **c)
{
	if (!q->source || !q->name) {
		agent_reply_err(r, 400, "range needs src and name");
		return false;
	}
	if (q->stat < 0 || q->stat >= MB_NSTATS) {
		agent_reply_err(r, 400, "unknown stat");
		return false;
	}
	if (q->to_ms < q->from_ms) {
		agent_reply_err(r, 400, "from is after to");
		return false;
	}
	int ci = agent_source_find(s, q->source);
	if (ci < 0) {
		agent_reply_err(r, 404, "unknown source %s", q->source);
		return false;
	}
	*c = s->r.src[ci];
	return true;
}

void agent_q_range(struct agent_store *s, MDB_txn *t, const struct mb_query *q,
                   struct mb_reply *r)
{
	struct rq x = {.q = q, .stat = q->stat, .now = agent_store_now()};
	if (!rq_valid(s, q, r, &x.c))
		return;
	snprintf(x.base, sizeof x.base, "%s", q->name);
	if (rq_match(s, &x) == 0) {
		agent_reply_err(r, 404, "source %s has no series %s%s", q->source, q->name,
		                q->ntags ? " with those tags" : "");
		return;
	}
	rq_window(s, &x);
	if (x.nb > MB_MAX_RANGE_POINTS) {
		char sb[32];
		mb_format_duration(x.step, sb, sizeof sb);
		agent_reply_err(r, 400,
		                "step %s gives %lld points, more than %d: use a larger step", sb,
		                (long long)x.nb, MB_MAX_RANGE_POINTS);
		return;
	}
	x.qv = stat_q(x.stat);
	bool want_hll = x.kind == MB_SET && x.stat == MB_STAT_COUNT;
	x.a = calloc((size_t)x.nb, sizeof *x.a);
	x.sk = x.qv >= 0 ? calloc((size_t)x.nb, sizeof *x.sk) : NULL;
	x.hl = want_hll ? calloc((size_t)x.nb, sizeof *x.hl) : NULL;
	int64_t *rt = mb_arena_alloc(&r->arena, (size_t)x.nb * sizeof *rt);
	double *rv = mb_arena_alloc(&r->arena, (size_t)x.nb * sizeof *rv);
	if (!x.a || (x.qv >= 0 && !x.sk) || (want_hll && !x.hl) || !rt || !rv) {
		agent_reply_err(r, 500, "out of memory");
		goto out;
	}
	x.lay = agent_layout(x.kind, x.lvl);
	if (agent_roll_load(s, t, x.rvw) != 0)
		memset(x.rvw, 0, sizeof x.rvw);
	for (uint32_t i = 0; i < x.c->nser; i++) {
		const struct agent_series *se = s->r.ser[x.c->ser[i]];
		if (se->kind == x.kind && rq_matches(&x, se))
			rq_scan(s, t, &x, se);
	}
	for (int64_t i = 0; i < x.nb; i++) {
		rt[i] = x.b0 + i * x.step;
		rv[i] = rq_value(&x, i);
	}
	r->name = mb_arena_strndup(&r->arena, q->name, strlen(q->name));
	r->source = mb_arena_strndup(&r->arena, q->source, strlen(q->source));
	r->step_ms = x.step;
	r->stat = x.stat;
	r->nrange = (uint32_t)x.nb;
	r->range_t = rt;
	r->range_v = rv;
	r->status = 200;
out:
	if (x.sk)
		for (int64_t i = 0; i < x.nb; i++)
			mb_sketch_free(&x.sk[i]);
	free(x.sk);
	free(x.hl);
	free(x.a);
}
