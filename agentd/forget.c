/* forget.c: the write side's forgetting (layer 5, writer thread): series whose history rolled
 * out, shim instances idle for 7 days, sources left without series, a few each commit. */
#include <errno.h>
#include <string.h>

#include "wbuf.h"

/* Series whose whole history rolled out of every level are forgotten a few at a time: their
 * record and running total go, their id is reused by a new series (its chunks and sketches
 * then read as an older lap and are reset on first write), so memory and disk stay bounded by
 * the series that still have history, not by every series ever seen. */
static int forget_step(struct agent_store *s, MDB_txn *t, int64_t now, struct agent_wbuf *wb)
{
	wb->n_forget = 0;
	int64_t keep = s->geom[s->nlevels - 1].span_ms + 3600000;
	uint32_t pos = s->w.forget_pos;
	for (uint32_t scanned = 0; scanned < 4096 && scanned < s->r.nser && wb->n_forget < 512;
	     scanned++, pos++) {
		if (pos >= s->r.nser)
			pos = 0;
		struct agent_series *se = s->r.ser[pos];
		if (se == &agent_dead || !se->committed || se->gen == s->w.gen ||
		    se->last_ms + keep >= now)
			continue;
		uint8_t k8[8];
		agent_put_be64(k8, se->id);
		MDB_val k = {8, k8};
		int rv = mdb_del(t, s->e.db_series, &k, NULL);
		if (rv == 0 || rv == MDB_NOTFOUND)
			rv = mdb_del(t, s->e.db_totals, &k, NULL);
		if (rv != 0 && rv != MDB_NOTFOUND)
			return rv;
		if (PUSH(wb, forget, pos) != 0)
			return MB_ENOMEM;
	}
	s->w.forget_pos = pos;
	return 0;
}

/* A shim instance's seq entry is what makes a resent batch a dup. One not heard of for 7
 * days of agentd's clock is forgotten (else one entry per shim instance ever: a container
 * churn leak). Safe: a shim resends only what it holds unacknowledged, and its backlog holds
 * a batch that old only if it was cut off from agentd for that long; then, if agentd had
 * committed a batch whose ack was lost, its resend is committed again (double counted).
 * An instance that keeps sending refreshes its entry with every batch, dups included. */
static int seq_forget_step(struct agent_store *s, MDB_txn *t, int64_t now, struct agent_wbuf *wb)
{
	wb->n_seqgone = 0;
	uint32_t pos = s->w.seq_pos;
	for (uint32_t scanned = 0; scanned < 64 && scanned < s->w.nseqs; scanned++, pos++) {
		if (pos >= s->w.nseqs)
			pos = 0;
		const struct agent_seqent *q = &s->w.seqs[pos];
		if (q->pend || now - q->last_ms <= AGENT_SEQ_KEEP_MS)
			continue;
		uint8_t k8[8];
		agent_put_be64(k8, q->inst);
		MDB_val k = {8, k8};
		int rv = mdb_del(t, s->e.db_seq, &k, NULL);
		if (rv != 0 && rv != MDB_NOTFOUND)
			return rv;
		if (PUSH(wb, seqgone, q->inst) != 0)
			return MB_ENOMEM;
	}
	s->w.seq_pos = pos;
	return 0;
}

/* A source whose last series was forgotten (forget_step) goes too, a few a commit: else one
 * per container id ever. Not one a batch of this attempt touched, nor agentd's own. */
static int src_forget_step(struct agent_store *s, MDB_txn *t, struct agent_wbuf *wb)
{
	wb->n_srcgone = 0;
	uint32_t pos = s->w.src_pos;
	for (uint32_t scanned = 0; scanned < 64 && scanned < s->r.nsrc; scanned++, pos++) {
		if (pos >= s->r.nsrc)
			pos = 0;
		const struct agent_source *c = s->r.src[pos];
		if (c->nser || c->pend || c->gen == s->w.gen || c->own)
			continue;
		MDB_val k = {strlen(c->name), c->name};
		int rv = mdb_del(t, s->e.db_sources, &k, NULL);
		if (rv != 0 && rv != MDB_NOTFOUND)
			return rv;
		if (PUSH(wb, srcgone, pos) != 0)
			return MB_ENOMEM;
	}
	s->w.src_pos = pos;
	return 0;
}

int agent_forget(struct agent_store *s, MDB_txn *t, int64_t now, struct agent_wbuf *wb)
{
	int rv;
	if ((rv = forget_step(s, t, now, wb)) != 0 || (rv = seq_forget_step(s, t, now, wb)) != 0)
		return rv;
	return src_forget_step(s, t, wb);
}
