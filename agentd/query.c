/* query.c: agent_store_query: ping, node, containers, container, app, series and export,
 * read in LMDB read transactions; range is in range.c, backup in backup.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read.h"

static const char *adup(struct mb_reply *r, const char *s)
{
	return mb_arena_strndup(&r->arena, s, strlen(s));
}

/* The points of one reply: sized once for the source (q_points), so never regrown. */
struct pts {
	struct mb_point *p;
	uint32_t n, cap;
};

/* One series' copy in the reply arena, shared by all its derived points: its name and tags
 * copied with its key in one memcpy (the registry may change once the read lock is gone). */
struct sercopy {
	const char *name;
	size_t namelen;
	uint16_t ntags;
	struct mb_kv *tags;
};

static int ser_copy(struct mb_reply *r, const struct agent_series *se, struct sercopy *out)
{
	char *k = mb_arena_alloc(&r->arena, se->keylen + 1);
	if (!k)
		return MB_ENOMEM;
	memcpy(k, se->key, se->keylen);
	out->name = k + (se->name - se->key);
	out->namelen = strlen(out->name);
	out->ntags = se->ntags;
	out->tags = NULL;
	if (se->ntags) {
		out->tags = mb_arena_alloc(&r->arena, se->ntags * sizeof *out->tags);
		if (!out->tags)
			return MB_ENOMEM;
		for (int i = 0; i < se->ntags; i++) {
			out->tags[i].key = k + (se->tags[i].key - se->key);
			out->tags[i].val = k + (se->tags[i].val - se->key);
		}
	}
	return 0;
}

/* unit: a static string (agent_unit's), so not copied. */
static int pts_add(struct mb_reply *r, struct pts *v, const struct sercopy *sc,
                   const char *suffix, size_t sfxlen, double val, const char *unit, int64_t tm)
{
	if (!isfinite(val))
		return 0;
	if (v->n == v->cap)
		return MB_ENOMEM; /* sized for the worst case: cannot happen */
	struct mb_point *p = &v->p[v->n];
	if (sfxlen == 0) {
		p->name = sc->name;
	} else {
		char *nb = mb_arena_alloc(&r->arena, sc->namelen + sfxlen + 1);
		if (!nb)
			return MB_ENOMEM;
		memcpy(nb, sc->name, sc->namelen);
		memcpy(nb + sc->namelen, suffix, sfxlen + 1);
		p->name = nb;
	}
	p->value = val;
	p->unit = unit ? unit : "";
	p->time_ms = tm;
	p->ntags = sc->ntags;
	p->tags = sc->tags;
	v->n++;
	return 0;
}

/* dims = the source's dims, then node dims (hostname, mesos_id, cluster_id) where the
 * source has none of its own, plus container_id for containers. */
static int set_dims(struct agent_store *s, struct mb_reply *r, const struct agent_source *c,
                    bool container)
{
	struct mb_kv *d = mb_arena_alloc(&r->arena, (MB_MAX_DIMS + 4) * sizeof *d);
	int n = 0;
	if (!d)
		return MB_ENOMEM;
	const char *nid = __atomic_load_n(&s->o.node_id, __ATOMIC_ACQUIRE);
	const char *node[][2] = {{"mesos_id", nid ? nid : ""},
	                         {"hostname", s->o.hostname ? s->o.hostname : ""},
	                         {"cluster_id", s->o.cluster_id},
	                         {"container_id", container && c ? c->name : NULL}};
	for (int i = 0; i < 4; i++) {
		if (!node[i][1])
			continue;
		bool own = false;
		for (int j = 0; c && j < c->ndims; j++)
			own |= strcmp(c->dims[j].key, node[i][0]) == 0;
		if (own && i != 3)
			continue;
		d[n].key = node[i][0];
		d[n].val = adup(r, node[i][1]);
		n++;
	}
	for (int j = 0; c && j < c->ndims && n < MB_MAX_DIMS; j++) {
		if (container && strcmp(c->dims[j].key, "container_id") == 0)
			continue;
		d[n].key = adup(r, c->dims[j].key);
		d[n].val = adup(r, c->dims[j].val);
		n++;
	}
	/* Sorted by key: the wire form's maps are canonical. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && strcmp(d[j - 1].key, d[j].key) > 0; j--) {
			struct mb_kv x = d[j];
			d[j] = d[j - 1];
			d[j - 1] = x;
		}
	r->dims = d;
	r->ndims = (uint16_t)n;
	return 0;
}

/* The latest finest-level slot of a series: its values and end time. c: a cursor on the
 * series' layout's chunks at level 0, or NULL. */
static int latest(struct agent_store *s, MDB_txn *t, MDB_cursor *c,
                  const struct agent_series *se, double *slot, int64_t *end)
{
	int64_t res = s->geom[0].res_ms;
	int64_t abs = (se->last_ms - 1) / res;
	int rv = agent_read_slot_c(s, t, c, se, 0, abs, slot);
	*end = (abs + 1) * res;
	return rv;
}

static const char *const timer_sfx[] = {"", ".count", ".sum", ".min", ".max", ".stddev",
                                        ".p50", ".p90", ".p95", ".p99"};
static const uint8_t timer_sfxlen[] = {0, 6, 4, 4, 4, 7, 4, 4, 4, 4};
static const double timer_q[] = {0.5, 0.9, 0.95, 0.99};

/* Expands one series' most recent flush interval into datapoints (docs/api.md's table): the
 * interval the writer cached at commit, else (none since a restart) the latest finest slot.
 * only: a derived name to keep, NULL for all. */
static int expand(struct agent_store *s, MDB_txn *t, struct mb_reply *r, struct pts *v,
                  const struct agent_series *se, const char *source, const char *only)
{
	double sl[9];
	int64_t end;
	bool cached = se->li.t > 0;
	if (cached) {
		memcpy(sl, se->li.v, sizeof sl);
		end = se->li.t;
	} else if (latest(s, t, NULL, se, sl, &end) != 0) {
		return 0;
	}
	const char *unit = se->kind == MB_RESOURCE || s->r.src[se->src]->own
	                           ? agent_unit(source, se->kind, se->name)
	                           : "";
	struct sercopy sc;
	int rv = ser_copy(r, se, &sc);
	if (rv != 0)
		return rv;
#define KEEP(sfx) (!only || (strncmp(only, se->name, strlen(se->name)) == 0 && \
                             strcmp(only + strlen(se->name), (sfx)) == 0))
	switch (se->kind) {
	case MB_COUNTER: {
		/* A cached interval is exactly one flush: count / its own length. A slot may
		 * hold several flushes or part of one: count / the longer of the two. */
		int64_t ivms = cached ? se->li.iv
		                      : (se->iv_ms > s->geom[0].res_ms ? se->iv_ms : s->geom[0].res_ms);
		double secs = (double)(ivms > 0 ? ivms : s->geom[0].res_ms) / 1000.0;
		if (KEEP(""))
			rv = pts_add(r, v, &sc, "", 0, sl[0], unit, end);
		if (!rv && KEEP(".rate"))
			rv = pts_add(r, v, &sc, ".rate", 5, sl[0] / secs, unit, end);
		break;
	}
	case MB_TIMER:
	case MB_HISTOGRAM:
	case MB_DISTRIBUTION: {
		double cnt = sl[T_COUNT], sum = sl[T_SUM];
		double mean = cnt > 0 ? sum / cnt : 0;
		double var = cnt > 0 ? sl[T_SUMSQ] / cnt - mean * mean : 0;
		double vals[10] = {mean, cnt, sum, sl[T_MIN], sl[T_MAX], sqrt(var > 0 ? var : 0),
		                   NAN, NAN, NAN, NAN};
		bool wantq = false;
		for (int i = 6; i < 10; i++)
			wantq |= KEEP(timer_sfx[i]);
		if (cached) {
			for (int i = 0; i < 4; i++)
				vals[6 + i] = sl[5 + i];
		} else if (wantq && cnt > 0) {
			struct mb_sketch sk;
			int64_t abs = (se->last_ms - 1) / s->geom[0].res_ms;
			if (agent_read_sketch(s, t, se->id, 0, abs, &sk, NULL) == 0) {
				for (int i = 0; i < 4; i++)
					if (mb_sketch_quantile_mm(&sk, timer_q[i], sl[T_MIN], sl[T_MAX],
					                          &vals[6 + i]) != 0)
						vals[6 + i] = NAN;
				mb_sketch_free(&sk);
			}
		}
		for (int i = 0; i < 10 && !rv; i++)
			if (KEEP(timer_sfx[i]))
				rv = pts_add(r, v, &sc, timer_sfx[i], timer_sfxlen[i], vals[i], unit,
				            end);
		break;
	}
	default: /* gauge, set, resource: one value */
		if (KEEP(""))
			rv = pts_add(r, v, &sc, "", 0, sl[0], unit, end);
		break;
	}
#undef KEEP
	return rv;
}

/* Is `name` one of the names series se answers to in /app? */
static bool answers_to(const struct agent_series *se, const char *name)
{
	size_t l = strlen(se->name);
	if (strncmp(name, se->name, l) != 0)
		return false;
	const char *sfx = name + l;
	if (!*sfx)
		return true;
	if (se->kind == MB_COUNTER)
		return strcmp(sfx, ".rate") == 0;
	if (mb_kind_is_timer(se->kind))
		for (int i = 1; i < 10; i++)
			if (strcmp(sfx, timer_sfx[i]) == 0)
				return true;
	return false;
}

static bool rolled_out(struct agent_store *s, const struct agent_source *c, int64_t now)
{
	int64_t last = 0;
	for (uint32_t i = 0; i < c->nser; i++) {
		const struct agent_series *se = s->r.ser[c->ser[i]];
		if (se->committed && se->last_ms > last)
			last = se->last_ms;
	}
	if (last == 0)
		return !c->committed;
	return now - last > s->geom[s->nlevels - 1].span_ms;
}

/* node, container, app: the latest points of a source's series. */
static void q_points(struct agent_store *s, MDB_txn *t, const struct mb_query *q,
                     struct mb_reply *r)
{
	int64_t now = agent_store_now();
	const char *src = q->op == MB_OP_NODE ? "node" : q->source;
	if (!src || !src[0]) {
		agent_reply_err(r, 400, "%s: missing source", mb_op_name(q->op));
		return;
	}
	int ci = agent_source_find(s, src);
	const struct agent_source *c = ci >= 0 ? s->r.src[ci] : NULL;
	if (q->op != MB_OP_NODE && (!c || rolled_out(s, c, now))) {
		agent_reply_err(r, 404, "unknown container %s", src);
		return;
	}
	bool container = q->op != MB_OP_NODE && !c->own;
	if (set_dims(s, r, c, container) != 0)
		goto nomem;
	struct pts v = {0};
	bool named = false;
	/* Every point this reply can hold, allocated once: a timer gives 10, a counter 2. */
	uint64_t maxp = 0;
	for (uint32_t i = 0; c && i < c->nser; i++) {
		const struct agent_series *se = s->r.ser[c->ser[i]];
		maxp += mb_kind_is_timer(se->kind) ? 10 : se->kind == MB_COUNTER ? 2 : 1;
	}
	if (maxp > 0) {
		if (maxp > SIZE_MAX / sizeof *v.p ||
		    (v.p = mb_arena_alloc(&r->arena, (size_t)maxp * sizeof *v.p)) == NULL)
			goto nomem;
		v.cap = (uint32_t)maxp;
	}
	/* /app/NAME that names no series matches by prefix on a dot boundary, as DC/OS 1.11's
	 * raw prefix did for the usual case ("testapp" gives every "testapp.*"). */
	bool prefix = q->op == MB_OP_APP && q->name;
	size_t qlen = prefix ? strlen(q->name) : 0;
	for (uint32_t i = 0; prefix && c && i < c->nser; i++) {
		const struct agent_series *se = s->r.ser[c->ser[i]];
		if (se->committed && se->kind != MB_RESOURCE && answers_to(se, q->name))
			prefix = false;
	}
	for (uint32_t i = 0; c && i < c->nser; i++) {
		const struct agent_series *se = s->r.ser[c->ser[i]];
		if (!se->committed)
			continue;
		if (q->op == MB_OP_CONTAINER ? se->kind != MB_RESOURCE
		                             : (q->op == MB_OP_APP && se->kind == MB_RESOURCE))
			continue;
		if (q->op == MB_OP_APP && q->name) {
			if (prefix ? strncmp(se->name, q->name, qlen) != 0 || se->name[qlen] != '.'
			           : !answers_to(se, q->name))
				continue;
			named = true;
		}
		if (q->op != MB_OP_NODE && c->stopped && !agent_source_live(s, c, now))
			continue;
		if (!agent_series_live(s, se, now))
			continue;
		/* The base name is the whole metric (a timer's derived names too); a derived
		 * name asked directly is only that one. */
		const char *only = q->op == MB_OP_APP && q->name && !prefix && strcmp(q->name, se->name)
		                           ? q->name
		                           : NULL;
		if (expand(s, t, r, &v, se, src, only) != 0)
			goto nomem;
	}
	if (q->op == MB_OP_APP && q->name && !named) {
		agent_reply_err(r, 404, "container %s never sent metric %s", src, q->name);
		return;
	}
	r->points = v.p;
	r->npoints = v.n;
	r->status = (v.n == 0 && q->op != MB_OP_NODE) ? 204 : 200;
	return;
nomem:
	agent_reply_err(r, 500, "out of memory");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void q_containers(struct agent_store *s, struct mb_reply *r)
{
	int64_t now = agent_store_now();
	const char **ids = mb_arena_alloc(&r->arena, (s->r.nsrc + 1) * sizeof *ids);
	uint32_t n = 0;
	if (!ids) {
		agent_reply_err(r, 500, "out of memory");
		return;
	}
	for (uint32_t i = 0; i < s->r.nsrc; i++) {
		const struct agent_source *c = s->r.src[i];
		if (c->own)
			continue;
		if (agent_source_live(s, c, now) && (ids[n] = adup(r, c->name)) != NULL)
			n++;
	}
	qsort(ids, n, sizeof *ids, cmp_str);
	r->ids = ids;
	r->nids = n;
	r->status = 200;
}

static void q_series(struct agent_store *s, const struct mb_query *q, struct mb_reply *r)
{
	int ci = q->source ? agent_source_find(s, q->source) : -1;
	if (ci < 0) {
		agent_reply_err(r, 404, "unknown source %s", q->source ? q->source : "");
		return;
	}
	const struct agent_source *c = s->r.src[ci];
	struct mb_series_info *si = mb_arena_alloc(&r->arena, (c->nser + 1) * sizeof *si);
	if (!si)
		goto nomem;
	uint32_t n = 0;
	for (uint32_t i = 0; i < c->nser; i++) {
		const struct agent_series *se = s->r.ser[c->ser[i]];
		if (!se->committed)
			continue;
		struct mb_series_info *x = &si[n++];
		x->name = adup(r, se->name);
		x->kind = se->kind;
		x->last_ms = se->last_ms;
		x->ntags = se->ntags;
		x->tags = se->ntags ? mb_arena_alloc(&r->arena, se->ntags * sizeof *x->tags) : NULL;
		if (!x->name || (se->ntags && !x->tags))
			goto nomem;
		for (int j = 0; j < se->ntags; j++) {
			x->tags[j].key = adup(r, se->tags[j].key);
			x->tags[j].val = adup(r, se->tags[j].val);
		}
	}
	r->series = si;
	r->nseries = n;
	r->status = 200;
	return;
nomem:
	agent_reply_err(r, 500, "out of memory");
}

/* What one source's series may weigh in an export (names and tags): one container with heavy
 * tags must not make every scrape, and the bridge's memory for it, huge. The bridge caps what
 * it renders too (--metrics-max-bytes-per-source); this bounds what it is sent. */
#define EXPORT_SRC_BYTES (16u << 20)

/* An export's cursors (slots.h), so that reads in id order stay on their leaf page: chunks
 * by layout (their own key ranges), then totals, then sketches; NULL (plain reads) where one
 * cannot be opened. */
enum { XC_TOT = NLAYOUTS, XC_SK, XC_N };

static void xc_open(struct agent_store *s, MDB_txn *t, MDB_cursor **xc)
{
	for (int i = 0; i < XC_N; i++)
		if (mdb_cursor_open(t, i < XC_TOT ? s->e.db_chunk[0] : i == XC_TOT ? s->e.db_totals
		                                                                   : s->e.db_sketch,
		                    &xc[i]) != 0)
			xc[i] = NULL;
}

/* A counter's total; a timer's mean, count, sum, quantiles (and with hist its running
 * sketch, freed by the caller's reply free). */
static void export_totals(struct agent_store *s, MDB_txn *t, MDB_cursor **xc, bool hist,
                          struct mb_reply *r, const struct agent_series *se, const double *sl,
                          struct mb_export_item *x)
{
	uint8_t k8[8];
	agent_put_be64(k8, se->id);
	MDB_val k = {8, k8}, v;
	int got = xc[XC_TOT] ? mdb_cursor_get(xc[XC_TOT], &k, &v, MDB_SET_KEY)
	                     : mdb_get(t, s->e.db_totals, &k, &v);
	if (se->kind == MB_COUNTER) {
		if (got == 0 && v.mv_size == 8)
			memcpy(&x->total, v.mv_data, 8);
		return;
	}
	x->value = sl[T_COUNT] > 0 ? sl[T_SUM] / sl[T_COUNT] : 0;
	if (got == 0 && v.mv_size >= 16) {
		double cs[2];
		memcpy(cs, v.mv_data, 16);
		x->count = cs[0];
		x->sum = cs[1];
		struct mb_sketch *rs = hist ? mb_arena_alloc(&r->arena, sizeof *rs) : NULL;
		if (rs && agent_sketch_dec((const uint8_t *)v.mv_data + 16, v.mv_size - 16, rs) == 0)
			x->running = rs;
	}
	struct mb_sketch sk;
	int64_t abs = (se->last_ms - 1) / s->geom[0].res_ms;
	if (agent_read_sketch_c(s, t, xc[XC_SK], se->id, 0, abs, &sk, NULL) == 0) {
		static const double qs[MB_EXPORT_NQ] = {0.5, 0.9, 0.95, 0.99, 0.999};
		x->has_q =
			mb_sketch_quantiles_mm(&sk, qs, MB_EXPORT_NQ, sl[T_MIN], sl[T_MAX], x->q) == 0;
		mb_sketch_free(&sk);
	}
}

static void q_export(struct agent_store *s, MDB_txn *t, const struct mb_query *q,
                     struct mb_reply *r)
{
	int64_t now = agent_store_now();
	struct mb_source_dims *srcs = mb_arena_alloc(&r->arena, (s->r.nsrc + 1) * sizeof *srcs);
	struct mb_export_item *it = mb_arena_alloc(&r->arena, (s->r.nser + 1) * sizeof *it);
	uint32_t ns = 0, ni = 0;
	uint64_t capped = 0;
	MDB_cursor *xc[XC_N];
	xc_open(s, t, xc);
	if (!srcs || !it)
		goto nomem;
	for (uint32_t ci = 0; ci < s->r.nsrc; ci++) {
		const struct agent_source *c = s->r.src[ci];
		bool any = false;
		uint64_t weight = 0;
		for (uint32_t i = 0; i < c->nser; i++) {
			const struct agent_series *se = s->r.ser[c->ser[i]];
			if (!agent_series_live(s, se, now))
				continue;
			uint64_t w = strlen(se->name) + 16;
			for (int j = 0; j < se->ntags; j++)
				w += strlen(se->tags[j].key) + strlen(se->tags[j].val) + 8;
			if (weight + w > EXPORT_SRC_BYTES) {
				capped++;
				continue;
			}
			weight += w;
			double sl[5];
			int64_t end;
			if (latest(s, t, xc[agent_layout(se->kind, 0)], se, sl, &end) != 0)
				continue;
			if (!any) {
				struct mb_reply tmp = {.arena = r->arena};
				bool container = !c->own;
				if (set_dims(s, &tmp, c, container) != 0)
					goto nomem;
				r->arena = tmp.arena;
				srcs[ns].source = adup(r, c->name);
				srcs[ns].dims = tmp.dims;
				srcs[ns].ndims = tmp.ndims;
				ns++;
				any = true;
			}
			struct mb_export_item *x = &it[ni];
			memset(x, 0, sizeof *x);
			x->src = ns - 1;
			x->name = adup(r, se->name);
			x->kind = se->kind;
			x->unit = adup(r, se->kind == MB_RESOURCE || c->own
			                      ? agent_unit(c->name, se->kind, se->name)
			                      : "");
			x->ntags = se->ntags;
			if (se->ntags) {
				x->tags = mb_arena_alloc(&r->arena, se->ntags * sizeof *x->tags);
				if (!x->tags)
					goto nomem;
				for (int j = 0; j < se->ntags; j++) {
					x->tags[j].key = adup(r, se->tags[j].key);
					x->tags[j].val = adup(r, se->tags[j].val);
				}
			}
			x->time_ms = end;
			x->value = sl[0];
			if (se->kind == MB_COUNTER || mb_kind_is_timer(se->kind))
				export_totals(s, t, xc, q->hist, r, se, sl, x);
			if (!x->name || !x->unit)
				goto nomem;
			ni++;
		}
	}
	if (capped) {
		pthread_mutex_lock(&s->stats.lock);
		s->stats.v.export_capped += capped;
		pthread_mutex_unlock(&s->stats.lock);
	}
	r->srcs = srcs;
	r->nsrcs = ns;
	r->items = it;
	r->nitems = ni;
	r->status = 200;
	goto out;
nomem:
	r->items = it; /* so mb_reply_free frees the running sketches */
	r->nitems = ni;
	agent_reply_err(r, 500, "out of memory");
out:
	for (int i = 0; i < XC_N; i++)
		if (xc[i])
			mdb_cursor_close(xc[i]);
}

void agent_store_query(struct agent_store *s, const struct mb_query *q, struct mb_reply *r)
{
	MDB_txn *t = NULL;
	r->version = MB_SCHEMA_VERSION;
	r->op = q->op;
	r->status = 200;
	r->error = NULL;
	switch (q->op) {
	case MB_OP_PING:
		r->time_ms = agent_store_now();
		r->node = __atomic_load_n(&s->o.node_id, __ATOMIC_ACQUIRE);
		r->node = adup(r, r->node ? r->node : "");
		return;
	case MB_OP_BACKUP:
		agent_q_backup(s, q, r);
		return;
	case MB_OP_NODE:
	case MB_OP_CONTAINERS:
	case MB_OP_CONTAINER:
	case MB_OP_APP:
	case MB_OP_RANGE:
	case MB_OP_SERIES:
	case MB_OP_EXPORT:
		break;
	default:
		agent_reply_err(r, 400, "unknown op %d", q->op);
		return;
	}
	if (agent_read_begin(&s->e, &t) != 0) {
		agent_reply_err(r, 503, "store unavailable");
		return;
	}
	pthread_rwlock_rdlock(&s->r.lock);
	switch (q->op) {
	case MB_OP_NODE:
	case MB_OP_CONTAINER:
	case MB_OP_APP:
		q_points(s, t, q, r);
		break;
	case MB_OP_CONTAINERS:
		q_containers(s, r);
		break;
	case MB_OP_RANGE:
		agent_q_range(s, t, q, r);
		break;
	case MB_OP_SERIES:
		q_series(s, q, r);
		break;
	case MB_OP_EXPORT:
		q_export(s, t, q, r);
		break;
	}
	pthread_rwlock_unlock(&s->r.lock);
	agent_read_end(&s->e, t);
}
