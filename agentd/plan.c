/* plan.c: the write side's admission (layer 5, writer thread): each batch checked (duplicate,
 * time, reserved name), its records turned into slot, sketch and totals operations within the
 * limits, and its source's changes (new, dimensions, stop) noted for the records. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "wbuf.h"

/* One batch's planning state. */
struct bplan {
	struct mb_batch *b;
	bool own, src_new;
	int si;
	struct agent_source *c;
	uint64_t refused_l, refused_m, okrecs;
};

/* The checks before any record: 0 admitted; else the status (and err) it gets. */
static uint32_t admit(struct agent_store *s, const struct bplan *p, struct agent_seqent *qe,
                      int64_t now, char *err, struct agent_tally *ty)
{
	const struct mb_batch *b = p->b;
	uint64_t last = qe->pend > qe->seq ? qe->pend : qe->seq;
	if (!qe->last_ms)
		qe->last_ms = now; /* new: not forgotten before it had its chance */
	if (b->seq <= last) {
		qe->last_ms = now; /* alive: its resends must stay dups */
		ty->dups++;
		return MB_ACK_DUP;
	}
	if (b->time_ms > now + 3600000) {
		snprintf(err, MB_MAX_ERR + 1, "batch time is more than 1h ahead of agentd's clock");
		return MB_ACK_REJECTED;
	}
	if (b->time_ms <= 0 || !b->container_id || !b->container_id[0]) {
		snprintf(err, MB_MAX_ERR + 1, "invalid batch");
		return MB_ACK_REJECTED;
	}
	if (!p->own && agent_source_reserved(b->container_id)) {
		snprintf(err, MB_MAX_ERR + 1,
		         "container id \"%s\" is reserved for agentd's own metrics",
		         b->container_id);
		ty->reserved++;
		return MB_ACK_REJECTED;
	}
	(void)s;
	return 0;
}

static int source_of(struct agent_store *s, struct bplan *p)
{
	int rv = 0;
	p->si = agent_source_find(s, p->b->container_id);
	p->src_new = p->si < 0;
	if (p->src_new) {
		uint32_t idx;
		pthread_rwlock_wrlock(&s->r.lock);
		if ((rv = agent_source_add(s, p->b->container_id, &idx)) == 0) {
			s->r.src[idx]->first_ms = p->b->time_ms;
			s->r.src[idx]->own = p->own;
		}
		pthread_rwlock_unlock(&s->r.lock);
		if (rv != 0)
			return MB_ENOMEM;
		p->si = (int)idx;
	}
	p->c = s->r.src[p->si];
	p->c->gen = s->w.gen;
	return 0;
}

/* The series of a record, registered if new and admitted: *out NULL when refused. */
static int series_of(struct agent_store *s, struct bplan *p, const struct mb_record *r,
                     const char *key, size_t keylen, uint64_t h, enum agent_commit_mode mode,
                     struct agent_series **out)
{
	*out = NULL;
	struct agent_series *se = agent_series_find(s, key, keylen, h);
	if (se) {
		*out = se;
		return 0;
	}
	/* The limit is against a container's runaway tags; agentd's own sources are a fixed
	 * set of ours (the node alone is ~70 series), and so are the shim's own counters and
	 * resource metrics (~40; the shim never lets a client use those names): they say what
	 * went wrong exactly when a container is at its limit, so they get 64 series more (a
	 * bound, for a sender that is not a shim). */
	bool shims = r->kind == MB_RESOURCE || strncmp(r->name, "metricsbus.shim.", 16) == 0;
	if (!p->own &&
	    p->c->nser >= s->o.max_series_per_source + (shims ? AGENT_SHIM_ALLOWANCE : 0)) {
		p->refused_l++;
		return 0;
	}
	/* agentd's own sources are a few bounded series (their counters say the store is
	 * full): they are refused only in the strictest mode. */
	if (mode >= AGENT_CM_REFUSE_NEW && (!p->own || mode >= AGENT_CM_STRICT)) {
		p->refused_m++;
		return 0;
	}
	pthread_rwlock_wrlock(&s->r.lock);
	int rv = agent_series_add(s, key, keylen, h, (uint32_t)p->si, &se);
	pthread_rwlock_unlock(&s->r.lock);
	if (rv != 0)
		return MB_ENOMEM;
	*out = se;
	return 0;
}

/* A record's operations: a slot write per level it is stored at now, a sketch merge for
 * timers and sets, a running total for counters and timers. */
static int plan_record(struct agent_store *s, const struct mb_batch *b, const struct mb_record *r,
                       struct agent_series *se, uint32_t *ord)
{
	struct agent_wbuf *wb = s->w.wb;
	struct touch tc = {se, b->time_ms, b->interval_ms, r, UINT32_MAX};
	if (PUSH(wb, touches, tc) != 0)
		return MB_ENOMEM;
	for (int l = 0; l < s->nlevels; l++) {
		const struct agent_geom *g = &s->geom[l];
		int lay = agent_layout(r->kind, l);
		uint32_t cps = g->cps[lay];
		uint64_t abs_slot = (uint64_t)((b->time_ms - 1) / g->res_ms);
		uint64_t abs_chunk = abs_slot / cps;
		if (l > 0 && !agent_roll_stored(&s->w.roll_new[l], (int64_t)abs_slot, se->id))
			continue; /* rolled up from level 0 once the slot closes */
		struct cop co = {
		    .hi = (uint64_t)l << 32 | agent_ring(g, lay, (int64_t)abs_chunk),
		    .id = se->id,
		    .ord = (*ord)++,
		    .slot = (uint16_t)(abs_slot % cps),
		    .level = (uint8_t)l,
		    .kind = r->kind,
		    .abs_chunk = abs_chunk,
		    .rec = r,
		};
		if (PUSH(wb, cops, co) != 0)
			return MB_ENOMEM;
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
			if (PUSH(wb, sops, so) != 0)
				return MB_ENOMEM;
		}
	}
	if (r->kind == MB_COUNTER || mb_kind_is_timer(r->kind)) {
		struct top to = {se->id, (*ord)++, r->kind, r};
		if (PUSH(wb, tops, to) != 0)
			return MB_ENOMEM;
	}
	return 0;
}

/* The batch's status once its records are planned: refused whole, or committed. */
static uint32_t settle(struct agent_store *s, const struct bplan *p, char *err)
{
	const struct mb_batch *b = p->b;
	if (b->nrecords > 0 && p->okrecs == 0 && p->refused_m > 0) {
		/* Nothing of it can be stored now: the shim keeps it. */
		snprintf(err, MB_MAX_ERR + 1,
		         "store full (--max-size reached): new series refused");
		return MB_ACK_RETRY;
	}
	if (b->nrecords > 0 && p->okrecs == 0 && p->refused_l > 0) {
		snprintf(err, MB_MAX_ERR + 1,
		         "series limit of source %s reached (--max-series-per-source %llu)",
		         b->container_id, (unsigned long long)s->o.max_series_per_source);
		return MB_ACK_REJECTED;
	}
	return MB_ACK_OK;
}

/* Source changes of a committed batch: new, dimensions, stop flag (the last of the call's
 * batches wins). */
static int plan_source(struct agent_store *s, const struct bplan *p)
{
	struct agent_wbuf *wb = s->w.wb;
	const struct mb_batch *b = p->b;
	struct agent_source *c = p->c;
	struct pend_src *ps = c->pend ? &wb->psrc[c->pend - 1] : NULL;
	bool stopped = ps ? ps->stopped : c->stopped;
	const struct mb_kv *dims = ps ? ps->dims : c->dims;
	uint16_t nd = ps ? ps->ndims : c->ndims;
	bool dims_diff = !agent_dims_equal(nd, dims, b->ndims, b->dims);
	bool new_stop = b->stopped ? true : (b->nrecords > 0 ? false : stopped);
	if (!p->src_new && !dims_diff && new_stop == stopped)
		return 0;
	if (!ps) {
		struct pend_src np = {.src = (uint32_t)p->si};
		if (PUSH(wb, psrc, np) != 0)
			return MB_ENOMEM;
		c->pend = (int32_t)wb->n_psrc;
		ps = &wb->psrc[wb->n_psrc - 1];
		ps->ndims = c->ndims;
		ps->dims = c->dims;
	}
	ps->isnew |= p->src_new;
	ps->stopped = new_stop;
	if (dims_diff) {
		ps->dims = b->dims;
		ps->ndims = b->ndims;
		ps->dims_changed = true;
	}
	return 0;
}

/* Records looked up together: their keys and hashes first, then the registry's memory for
 * all of them fetched ahead in three steps (a cache miss each at 100,000 series), then each
 * record planned with its series at hand. */
#define PLAN_AHEAD 16

static int plan_block(struct agent_store *s, struct bplan *p, uint32_t r0,
                      enum agent_commit_mode mode, uint32_t *ord)
{
	struct mb_buf *kb = &s->w.wb->kb;
	const struct mb_batch *b = p->b;
	uint32_t n = b->nrecords - r0 < PLAN_AHEAD ? b->nrecords - r0 : PLAN_AHEAD;
	size_t off[PLAN_AHEAD + 1];
	uint64_t h[PLAN_AHEAD];
	int rv;
	mb_buf_reset(kb);
	for (uint32_t k = 0; k < n; k++) {
		const struct mb_record *r = &b->records[r0 + k];
		off[k] = kb->len;
		if (r->kind < MB_NKINDS &&
		    agent_canon_key(kb, b->container_id, r->kind, r->name, r->ntags, r->tags) != 0)
			return MB_ENOMEM;
		h[k] = mb_hash64(kb->data + off[k], kb->len - off[k]);
		agent_series_prefetch(s, h[k], 0);
	}
	off[n] = kb->len;
	for (int step = 1; step <= 2; step++)
		for (uint32_t k = 0; k < n; k++)
			agent_series_prefetch(s, h[k], step);
	for (uint32_t k = 0; k < n; k++) {
		const struct mb_record *r = &b->records[r0 + k];
		struct agent_series *se;
		if (r->kind >= MB_NKINDS)
			continue;
		if ((rv = series_of(s, p, r, (const char *)kb->data + off[k], off[k + 1] - off[k],
		                    h[k], mode, &se)) != 0)
			return rv;
		if (!se)
			continue;
		p->okrecs++;
		se->gen = s->w.gen;
		if ((rv = plan_record(s, b, r, se, ord)) != 0)
			return rv;
	}
	return 0;
}

/* Plans one admitted batch; *st its status. */
static int plan_batch(struct agent_store *s, struct bplan *p, struct agent_seqent *qe,
                      enum agent_commit_mode mode, uint32_t *ord, uint32_t *st, char *err,
                      struct agent_tally *ty)
{
	struct agent_wbuf *wb = s->w.wb;
	int rv;
	size_t mark_c = wb->n_cops, mark_s = wb->n_sops, mark_t = wb->n_tops,
	       mark_touch = wb->n_touches;
	uint32_t added_mark = s->r.nadded;
	if ((rv = source_of(s, p)) != 0)
		return rv;
	for (uint32_t ri = 0; ri < p->b->nrecords; ri += PLAN_AHEAD)
		if ((rv = plan_block(s, p, ri, mode, ord)) != 0)
			return rv;
	*st = settle(s, p, err);
	if (*st != MB_ACK_OK) {
		/* Refused whole: its operations and new series go; a rejection is final, so its
		 * seq is recorded (a resend is a dup), a retry's is not. */
		wb->n_cops = mark_c;
		wb->n_sops = mark_s;
		wb->n_tops = mark_t;
		wb->n_touches = mark_touch;
		pthread_rwlock_wrlock(&s->r.lock);
		while (s->r.nadded > added_mark)
			agent_series_undo(s);
		if (p->src_new)
			agent_source_pop(s);
		pthread_rwlock_unlock(&s->r.lock);
		if (*st != MB_ACK_REJECTED)
			return 0;
		ty->refused_limit += p->refused_l;
		if (!p->src_new && p->refused_l > 0 &&
		    PUSH(wb, refused, ((struct src_refused){(uint32_t)p->si, p->refused_l})) != 0)
			return MB_ENOMEM;
		qe->pend = p->b->seq;
		return PUSH(wb, insts, p->b->instance) != 0 ? MB_ENOMEM : 0;
	}
	ty->refused_limit += p->refused_l;
	ty->refused_map += p->refused_m;
	ty->points += p->okrecs;
	uint64_t nref = p->refused_l + p->refused_m;
	if (nref > 0 && PUSH(wb, refused, ((struct src_refused){(uint32_t)p->si, nref})) != 0)
		return MB_ENOMEM;
	qe->pend = p->b->seq;
	if (PUSH(wb, insts, p->b->instance) != 0)
		return MB_ENOMEM;
	return plan_source(s, p);
}

int agent_plan(struct agent_store *s, struct mb_batch *const *batches, const bool *own, int n,
               enum agent_commit_mode mode, uint32_t *status, char (*errs)[MB_MAX_ERR + 1],
               struct agent_tally *ty)
{
	uint32_t ord = 0;
	for (int bi = 0; bi < n; bi++) {
		struct bplan p = {.b = batches[bi], .own = own && own[bi]};
		errs[bi][0] = 0;
		struct agent_seqent *qe = agent_seq_find(s, p.b->instance, true);
		if (!qe)
			return MB_ENOMEM;
		if ((status[bi] = admit(s, &p, qe, ty->now, errs[bi], ty)) != 0)
			continue;
		int rv = plan_batch(s, &p, qe, mode, &ord, &status[bi], errs[bi], ty);
		if (rv != 0)
			return rv;
	}
	return 0;
}
