/* read.h: the store's read side (layer 5, any thread, in read transactions): query dispatch
 * (query.c), range (range.c), backup (backup.c). */
#ifndef AGENT_READ_H
#define AGENT_READ_H

#include "registry.h"
#include "reply.h"

void agent_q_range(struct agent_store *s, MDB_txn *t, const struct mb_query *q, struct mb_reply *r);
void agent_q_backup(struct agent_store *s, const struct mb_query *q, struct mb_reply *r);

#endif
