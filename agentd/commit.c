/* commit.c: agent_store_commit (layer 5, writer thread): the transaction's lifecycle: an
 * attempt (roll-up, plan, forget, apply, commit), then publish or undo; MAP_FULL handled by
 * growing the map and then by stepping down an explicit mode; ENOSPC and I/O errors. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wbuf.h"

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
	free(wb->keys);
	agent_sortbuf_free(&wb->sb);
	mb_buf_free(&wb->kb);
	mb_buf_free(&wb->vb);
	free(wb);
	s->w.wb = NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}
/* Undo of everything the attempt added to the in-memory registry. */
static void undo(struct agent_store *s, uint32_t nsrc0)
{
	struct agent_wbuf *wb = s->w.wb;
	pthread_rwlock_wrlock(&s->r.lock);
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

/* Builds and commits one transaction. 0, or an LMDB code, MB_ENOMEM, or errno of the commit (the txn is gone). */
static int attempt(struct agent_store *s, struct mb_batch *const *batches, const bool *own, int n,
                   enum agent_commit_mode mode, uint32_t *status, char (*errs)[MB_MAX_ERR + 1],
                   struct agent_tally *ty)
{
	struct agent_wbuf *wb = s->w.wb;
	int rv;
	MDB_txn *t;
	memset(ty, 0, sizeof *ty);
	ty->now = agent_store_now();
	wb->n_cops = wb->n_sops = wb->n_tops = wb->n_touches = wb->n_psrc = wb->n_insts = 0;
	wb->n_refused = 0;
	if ((rv = mdb_txn_begin(s->e.env, NULL, 0, &t)) != 0)
		return rv;
	/* Coarse slots that closed are rolled up first: the points below then know which
	 * coarse slots are final (a late point goes into those directly). A full map must not
	 * stop ingest for a roll-up: meanwhile coarse slots are read from the level below. */
	if (mode < AGENT_CM_NO_ROLLUP)
		rv = agent_roll_step(s, t, ty->now, &wb->vb);
	else
		memcpy(s->w.roll_new, s->w.roll, sizeof s->w.roll_new);
	s->r.nadded = 0;
	s->w.gen++;
	if (rv != 0 || (rv = agent_plan(s, batches, own, n, mode, status, errs, ty)) != 0 ||
	    (rv = agent_forget(s, t, ty->now, wb)) != 0 || (rv = agent_apply(s, t, wb)) != 0) {
		mdb_txn_abort(t);
		return rv;
	}
	return agent_txn_commit(t);
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

/* The committed attempt made visible: roll-up progress, forgotten series, each touched
 * series' last interval, source changes, sequence numbers, stats. */
static void publish(struct agent_store *s, const struct agent_tally *ty, int64_t t0)
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
		struct agent_seqent *qe = agent_seq_find(s, wb->insts[i], false);
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

static void all_retry(int n, uint32_t *status, char (*errs)[MB_MAX_ERR + 1], bool keep_final,
                      const char *why)
{
	for (int i = 0; i < n; i++)
		if (!keep_final || (status[i] != MB_ACK_DUP && status[i] != MB_ACK_REJECTED)) {
			status[i] = MB_ACK_RETRY;
			snprintf(errs[i], MB_MAX_ERR + 1, "%s", why);
		}
}

/* The mode after a MAP_FULL the map could not grow out of; > AGENT_CM_STRICT: give up. */
static int step_down(struct agent_store *s, enum agent_commit_mode mode)
{
	if (mode == AGENT_CM_NORMAL && !s->w.map_at_max)
		mb_log_warnx(
		    "store: map full at --max-size %llu bytes: new series are refused from "
		    "now on",
		    (unsigned long long)s->o.max_size);
	s->w.map_at_max = true;
	return (int)mode + 1;
}

int agent_store_commit(struct agent_store *s, struct mb_batch *const *batches, const bool *own,
                       int n, uint32_t *status, char (*errs)[MB_MAX_ERR + 1])
{
	if (!s->w.wb && !(s->w.wb = calloc(1, sizeof *s->w.wb)))
		return MB_ENOMEM;
	int64_t t0 = mb_mono_ms();
	enum agent_commit_mode mode =
	    s->w.map_at_max || map_nearly_full(s) ? AGENT_CM_REFUSE_NEW : AGENT_CM_NORMAL;
	struct agent_tally ty;
	for (int tries = 0; tries < 64; tries++) {
		uint32_t nsrc0 = s->r.nsrc;
		int rv = attempt(s, batches, own, n, mode, status, errs, &ty);
		if (rv == 0) {
			publish(s, &ty, t0);
			if (s->w.fault_episode)
				mb_log_info("store: commits succeed again");
			s->w.fault_episode = false;
			return 0;
		}
		undo(s, nsrc0);
		mb_log_debug("store: commit of %d batches: %s (mode %d)", n, agent_err_text(rv),
		             mode);
		if (rv == MDB_MAP_FULL) {
			int g = agent_grow_map(&s->e);
			if (g == 0)
				continue;
			if (g == MB_ESYS)
				return MB_ESYS;
			int next = step_down(s, mode);
			if (next > AGENT_CM_STRICT) {
				all_retry(n, status, errs, true, "store full (--max-size reached)");
				return 0;
			}
			mode = (enum agent_commit_mode)next;
			continue;
		}
		const char *why = agent_err_text(rv);
		if (!s->w.fault_episode)
			mb_log_error("store: commit failed: %s; batches are left unacknowledged "
			             "(the shims keep them) until it succeeds",
			             why);
		s->w.fault_episode = true;
		char msg[MB_MAX_ERR + 1];
		snprintf(msg, sizeof msg, "not committed: %s", why);
		all_retry(n, status, errs, false, msg);
		return 0;
	}
	all_retry(n, status, errs, false, "not committed: map kept filling");
	return 0;
}
