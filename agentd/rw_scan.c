/* rw_scan.c: the store read behind remote write: every series' slots over a range of one
 * level, counters and timer totals as running totals, live and stopped series told apart. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rw.h"
#include "read.h"

#define SERIES_PER_TXN 256 /* the registry lock is let go this often */

int agent_rw_level(struct agent_store *s, int64_t res_ms, int64_t *span_ms)
{
	for (int l = 0; l < s->nlevels; l++)
		if (s->geom[l].res_ms == res_ms) {
			/* counters' totals at a slot read the finest slots after it: those must be
			 * there too, whichever level is shipped */
			*span_ms = s->geom[l].span_ms < s->geom[0].span_ms ? s->geom[l].span_ms
			                                                   : s->geom[0].span_ms;
			return l;
		}
	return -1;
}

/* Work arrays for one series: slots [from, to] of a level, 5 wide. */
struct scratch {
	double (*v)[5];
	uint8_t *has;
	size_t cap;
};

static int scratch_fit(struct scratch *sc, size_t n)
{
	if (n <= sc->cap)
		return 0;
	double(*v)[5] = realloc(sc->v, n * sizeof *v);
	if (!v)
		return MB_ENOMEM;
	sc->v = v;
	uint8_t *h = realloc(sc->has, n);
	if (!h)
		return MB_ENOMEM;
	sc->has = h;
	sc->cap = n;
	return 0;
}

/* Slots [from, to] of a level into sc (has[i] for slot from + i). The finest level is read a
 * chunk at a time; coarser ones through the roll-up-aware slot reader. */
static int read_slots(struct agent_store *s, MDB_txn *t, const struct agent_series *se,
                      int level, const struct agent_roll *rv, int64_t from, int64_t to,
                      struct scratch *sc)
{
	if (to < from)
		return 0;
	size_t n = (size_t)(to - from + 1);
	if (scratch_fit(sc, n) != 0)
		return MB_ENOMEM;
	memset(sc->has, 0, n);
	if (level > 0) {
		for (int64_t a = from; a <= to; a++)
			if (agent_slot_get(s, t, se, level, a, rv, sc->v[a - from], NULL, NULL) == 0)
				sc->has[a - from] = 1;
		return 0;
	}
	int lay = agent_layout(se->kind, 0);
	int w = agent_layout_width(lay);
	uint32_t cps = s->geom[0].cps[lay];
	size_t csize = AGENT_CHUNK_HDR + (size_t)cps * w * sizeof(double);
	for (int64_t ac = from / cps; ac <= to / (int64_t)cps; ac++) {
		uint8_t key[AGENT_KEY_LEN];
		agent_key(key, 0, agent_ring(&s->geom[0], lay, ac), se->id);
		MDB_val k = {sizeof key, key}, v;
		if (mdb_get(t, s->e.db_chunk[0], &k, &v) != 0 || v.mv_size != csize ||
		    agent_be64(v.mv_data) != (uint64_t)ac)
			continue;
		const uint8_t *base = (const uint8_t *)v.mv_data + AGENT_CHUNK_HDR;
		int64_t lo = ac * cps > from ? ac * cps : from;
		int64_t hi = (ac + 1) * cps - 1 < to ? (ac + 1) * cps - 1 : to;
		for (int64_t a = lo; a <= hi; a++) {
			double *d = sc->v[a - from];
			memcpy(d, base + (size_t)(a % cps) * w * 8, (size_t)w * 8);
			if (!agent_slot_empty(d))
				sc->has[a - from] = 1;
		}
	}
	return 0;
}

/* The dims a series is labelled with, as the export answers them: the source's own, the
 * node's (mesos_id, hostname, cluster_id) where the source has none, container_id for
 * containers; sorted by key. */
static int merge_dims(const struct agent_store *s, const struct agent_source *c,
                      struct mb_kv *d)
{
	bool container = !c->own;
	const char *node[][2] = {{"mesos_id", s->o.node_id ? s->o.node_id : ""},
	                         {"hostname", s->o.hostname ? s->o.hostname : ""},
	                         {"cluster_id", s->o.cluster_id},
	                         {"container_id", container ? c->name : NULL}};
	int n = 0;
	for (int i = 0; i < 4; i++) {
		if (!node[i][1])
			continue;
		bool own = false;
		for (int j = 0; j < c->ndims; j++)
			own |= strcmp(c->dims[j].key, node[i][0]) == 0;
		if (own && i != 3)
			continue;
		d[n].key = node[i][0];
		d[n++].val = node[i][1];
	}
	for (int j = 0; j < c->ndims && n < MB_MAX_DIMS + 4; j++) {
		if (container && strcmp(c->dims[j].key, "container_id") == 0)
			continue;
		d[n++] = c->dims[j];
	}
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && strcmp(d[j - 1].key, d[j].key) > 0; j--) {
			struct mb_kv x = d[j];
			d[j] = d[j - 1];
			d[j - 1] = x;
		}
	return n;
}

/* The newest finest slot any series of a source has a point in. */
static int64_t source_last0(const struct agent_store *s, const struct agent_source *c)
{
	int64_t last = 0;
	for (uint32_t i = 0; i < c->nser; i++) {
		const struct agent_series *se = s->r.ser[c->ser[i]];
		if (se->committed && se->last_ms > last)
			last = se->last_ms;
	}
	return last > 0 ? (last - 1) / s->geom[0].res_ms : -1;
}

struct scan {
	struct agent_store *s;
	int level;
	int64_t a, b, k; /* k: slots of the live window */
	int64_t m;       /* finest slots per slot of the level */
	bool hist;       /* timers' buckets too */
	struct agent_roll rv[MB_MAX_LEVELS];
	struct scratch lv, f0; /* the level's slots [a-k, b]; the finest ones after a */
	struct agent_rw_row *row;
	struct mb_kv dims[MB_MAX_DIMS + 4];
};

static int quantiles(struct scan *x, MDB_txn *t, const struct agent_series *se, int64_t abs,
                     double *q)
{
	struct mb_sketch sk = {0};
	int rv;
	for (int j = 0; j < MB_EXPORT_NQ; j++)
		q[j] = NAN;
	if (x->level == 0) {
		if (agent_read_sketch(x->s, t, se->id, 0, abs, &sk, NULL) != 0)
			return 0;
	} else {
		double tmp[5];
		if (agent_slot_get(x->s, t, se, x->level, abs, x->rv, tmp, &sk, NULL) != 0) {
			mb_sketch_free(&sk);
			return 0;
		}
	}
	for (int j = 0; j < MB_EXPORT_NQ; j++)
		if ((rv = mb_sketch_quantile(&sk, mb_prom_quantiles[j], &q[j])) != 0)
			q[j] = NAN;
	mb_sketch_free(&sk);
	return 0;
}

/* The le counts of a sketch (values times scale) into c[k], +Inf into c[NB]: added. */
static void bucket_add(const struct mb_sketch *sk, double scale, double *c)
{
	uint64_t n[MB_PROM_NBUCKETS + 1];
	mb_prom_sketch_buckets(sk, scale, n);
	for (int k = 0; k <= MB_PROM_NBUCKETS; k++)
		c[k] += (double)n[k];
}

/* Counters' and timers' running totals at each slot's end: the store's total less what was
 * filed in the finest slots after it (so a late count lands in the next sample); with hist,
 * a timer's cumulative buckets the same way, from its running sketch and the slots'. */
static int running_totals(struct scan *x, MDB_txn *t, const struct agent_series *se,
                          const struct agent_source *c)
{
	struct agent_store *s = x->s;
	struct agent_rw_row *r = x->row;
	int64_t a = x->a, b = x->b;
	bool hb = x->hist && mb_kind_is_timer(se->kind);
	double tot[2] = {0, 0}, after[2] = {0, 0}, scale = 1;
	double tb[MB_PROM_NBUCKETS + 1] = {0}, ab[MB_PROM_NBUCKETS + 1] = {0};
	uint8_t k8[8];
	int rv;
	agent_put_be64(k8, se->id);
	MDB_val kk = {8, k8}, v;
	if (mdb_get(t, s->e.db_totals, &kk, &v) == 0 && v.mv_size >= 8) {
		memcpy(tot, v.mv_data, v.mv_size >= 16 ? 16 : 8);
		if (hb && v.mv_size > 16) {
			char fam[MB_PROM_MAX_NAME];
			struct mb_sketch sk = {0};
			mb_prom_family(se->name, r->unit, c->name, MB_PROM_HISTOGRAM, fam, sizeof fam,
			               &scale);
			if (agent_sketch_dec((const uint8_t *)v.mv_data + 16, v.mv_size - 16, &sk) == 0)
				bucket_add(&sk, scale, tb);
			mb_sketch_free(&sk);
		}
	}
	int64_t f0 = (a + 1) * x->m;
	int64_t l0 = se->last_ms > 0 ? (se->last_ms - 1) / s->geom[0].res_ms : -1;
	if (l0 > f0 + (int64_t)s->geom[0].ring_slots)
		l0 = f0 + (int64_t)s->geom[0].ring_slots;
	if ((rv = read_slots(s, t, se, 0, x->rv, f0, l0, &x->f0)) != 0)
		return rv;
	int cw = se->kind == MB_COUNTER ? 0 : T_COUNT;
	/* Walk back from the newest finest slot, emitting each level slot's total. */
	int64_t j = l0;
	for (int64_t i = b; i >= a; i--) {
		int64_t lim = (i + 1) * x->m; /* finest slots >= lim come after slot i */
		for (; j >= lim && j >= f0; j--) {
			if (!x->f0.has[j - f0])
				continue;
			after[0] += x->f0.v[j - f0][cw];
			if (cw == T_COUNT)
				after[1] += x->f0.v[j - f0][T_SUM];
			if (hb) {
				struct mb_sketch sk = {0};
				if (agent_read_sketch(s, t, se->id, 0, j, &sk, NULL) == 0)
					bucket_add(&sk, scale, ab);
				mb_sketch_free(&sk);
			}
		}
		r->val[i - a] = tot[0] - after[0];
		r->sum[i - a] = tot[1] - after[1];
		for (int k = 0; hb && k <= MB_PROM_NBUCKETS; k++)
			r->bkt[i - a][k] = tb[k] - ab[k];
	}
	return 0;
}

/* Fills x->row for one series; 1 when it has something to send in [a, b]. */
static int one(struct scan *x, MDB_txn *t, const struct agent_series *se,
               const struct agent_source *c)
{
	struct agent_store *s = x->s;
	struct agent_rw_row *r = x->row;
	int64_t a = x->a, b = x->b, k = x->k, n = b - a + 1;
	int rv;
	bool running = se->kind == MB_COUNTER || mb_kind_is_timer(se->kind);
	if ((rv = read_slots(s, t, se, x->level, x->rv, a - k, b, &x->lv)) != 0)
		return -rv;
	/* Stopped source: its series end with its last point, a marker in the slot after. */
	int64_t end = -1;
	if (c->stopped) {
		int64_t l0 = source_last0(s, c);
		end = l0 < 0 ? -1 : l0 / x->m;
	}
	bool any = false;
	int64_t lastdata = -1;
	for (int64_t i = a - k; i < a; i++)
		if (x->lv.has[i - (a - k)])
			lastdata = i;
	for (int64_t i = a; i <= b; i++) {
		uint8_t st = AGENT_RW_NONE;
		if (x->lv.has[i - (a - k)]) {
			st = AGENT_RW_DATA;
			lastdata = i;
		} else if (running && lastdata >= 0 && i - lastdata < k && (end < 0 || i <= end)) {
			st = AGENT_RW_ALIVE;
		}
		if (end >= 0 && i == end + 1 && lastdata >= 0 && i - lastdata <= k)
			st = AGENT_RW_STALE;
		r->st[i - a] = st;
		any |= st != AGENT_RW_NONE;
	}
	if (!any)
		return 0;
	r->idx = se->id - 1;
	r->kind = se->kind;
	r->source = c->name;
	r->name = se->name;
	r->unit = se->kind == MB_RESOURCE || c->own ? agent_unit(c->name, se->kind, se->name) : "";
	r->ntags = se->ntags;
	r->tags = se->tags;
	r->dims = x->dims;
	r->ndims = (uint16_t)merge_dims(s, c, x->dims);
	r->n = (int)n;
	if (running && (rv = running_totals(x, t, se, c)) != 0)
		return -rv;
	for (int64_t i = a; i <= b; i++) {
		const double *sl = x->lv.v[i - (a - k)];
		if (r->st[i - a] != AGENT_RW_DATA)
			continue;
		if (mb_kind_is_timer(se->kind)) {
			if (!x->hist && (rv = quantiles(x, t, se, i, r->q[i - a])) != 0)
				return -rv;
		} else if (se->kind != MB_COUNTER) {
			int lay = agent_layout(se->kind, x->level);
			r->val[i - a] = lay == LAY_GAUGE5 ? sl[G_LAST] : sl[0];
		}
	}
	return 1;
}

int agent_rw_scan(struct agent_store *s, int level, int64_t a, int64_t b, int64_t live_ms,
                  bool hist, uint32_t *cursor, bool *done, agent_rw_fn fn, void *arg)
{
	struct scan x;
	int rv = 0;
	memset(&x, 0, sizeof x);
	*done = false;
	if (level < 0 || level >= s->nlevels || b < a || b - a >= AGENT_RW_MAX_SLOTS)
		return MB_EINVAL;
	x.s = s;
	x.level = level;
	x.hist = hist;
	x.a = a;
	x.b = b;
	x.m = s->geom[level].res_ms / s->geom[0].res_ms;
	x.k = live_ms / s->geom[level].res_ms;
	if (x.k < 1)
		x.k = 1;
	if (!(x.row = malloc(sizeof *x.row)))
		return MB_ENOMEM;
	bool stop = false;
	while (!stop) {
		MDB_txn *t;
		if ((rv = agent_read_begin(&s->e, &t)) != 0)
			break;
		if (agent_roll_load(s, t, x.rv) != 0)
			memset(x.rv, 0, sizeof x.rv);
		pthread_rwlock_rdlock(&s->r.lock);
		uint32_t i = *cursor, seen = 0;
		for (; i < s->r.nser && seen < SERIES_PER_TXN && !stop; i++) {
			const struct agent_series *se = s->r.ser[i];
			if (se == &agent_dead || !se->committed || se->src >= s->r.nsrc)
				continue;
			seen++;
			int r = one(&x, t, se, s->r.src[se->src]);
			if (r < 0) {
				rv = -r;
				stop = true;
			} else if (r == 1) {
				int f = fn(arg, x.row);
				if (f == 1)
					stop = true;
				else if (f != 0) {
					rv = f;
					stop = true;
				}
			}
		}
		*cursor = i;
		if (i >= s->r.nser) {
			*done = true;
			stop = true;
		}
		pthread_rwlock_unlock(&s->r.lock);
		agent_read_end(&s->e, t);
	}
	free(x.lv.v);
	free(x.lv.has);
	free(x.f0.v);
	free(x.f0.has);
	free(x.row);
	return rv;
}
