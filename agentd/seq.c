/* seq.c: the per-shim sequence table: each shim instance's last committed sequence number,
 * what makes a resent batch a duplicate. Writer thread only (no lock). */
#include <stdlib.h>
#include <string.h>

#include "registry.h"

static uint64_t inst_hash(uint64_t inst)
{
	return mb_hash64(&inst, sizeof inst);
}

struct agent_seqent *agent_seq_find(struct agent_store *s, uint64_t inst, bool create)
{
	uint64_t h = inst_hash(inst);
	uint32_t pos = MB_HTAB_START, i;
	while (mb_htab_next(&s->w.seqidx, h, &pos, &i))
		if (s->w.seqs[i].inst == inst)
			return &s->w.seqs[i];
	if (!create || !inst)
		return NULL;
	if (mb_grow(&s->w.seqs, &s->w.capseqs, (size_t)s->w.nseqs + 1, sizeof *s->w.seqs, 256) !=
	        0 ||
	    mb_htab_insert(&s->w.seqidx, h, s->w.nseqs) != 0)
		return NULL;
	struct agent_seqent *e = &s->w.seqs[s->w.nseqs++];
	memset(e, 0, sizeof *e);
	e->inst = inst;
	return e;
}

void agent_seq_remove(struct agent_store *s, uint64_t inst)
{
	struct agent_seqent *e = agent_seq_find(s, inst, false);
	if (!e)
		return;
	uint32_t i = (uint32_t)(e - s->w.seqs), last = s->w.nseqs - 1;
	mb_htab_remove(&s->w.seqidx, inst_hash(inst), i);
	if (i != last) {
		/* The last entry fills the hole: the array stays dense. */
		mb_htab_replace(&s->w.seqidx, inst_hash(s->w.seqs[last].inst), last, i);
		s->w.seqs[i] = s->w.seqs[last];
	}
	s->w.nseqs--;
}

void agent_seq_free(struct agent_store *s)
{
	free(s->w.seqs);
	s->w.seqs = NULL;
	s->w.nseqs = 0;
	s->w.capseqs = 0;
	mb_htab_free(&s->w.seqidx);
}
