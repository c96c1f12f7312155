/* write.h: the store's write side (layer 5, writer thread only): commit (commit.c) and the
 * roll-up of closed coarse slots (rollup.c). */
#ifndef AGENT_WRITE_H
#define AGENT_WRITE_H

#include "registry.h"

void agent_commit_free(struct agent_store *s);

extern uint32_t agent_roll_budget; /* series per level per commit (tests make it small) */
/* Rolls up closed coarse slots into s->w.roll_new, a budget a commit: 0, an LMDB code or
 * MB_ENOMEM. */
int agent_roll_step(struct agent_store *s, MDB_txn *t, int64_t now, struct mb_buf *vb);

#endif
