/* slots.h: the store's reads (layer 3): a series' slot and sketch at a level, and a slot of a
 * coarse level not rolled up yet, computed from the level below. Any thread, in the caller's
 * transaction. */
#ifndef AGENT_SLOTS_H
#define AGENT_SLOTS_H

#include "env.h"
#include "store_int.h"

/* Per level L >= 1 (S, T, k): slots < S are final; [S, T) final for series ids <= k. */
bool agent_roll_stored(const struct agent_roll *r, int64_t slot, uint64_t id);
/* The roll-up progress recorded in meta; 0 or an LMDB code. */
int agent_roll_load(struct agent_store *s, MDB_txn *t, struct agent_roll *out);
/* Reads the slot of (level, abs_slot) of a series into out (width doubles); 0 found,
 * MDB_NOTFOUND when empty or of another lap, else an LMDB code. */
int agent_read_slot(struct agent_store *s, MDB_txn *t, const struct agent_series *se, int level,
                    int64_t abs_slot, double *out);
/* The sketch (timers) or HyperLogLog (sets) of a slot: 0, MDB_NOTFOUND (none, of another lap,
 * or unreadable). */
int agent_read_sketch(struct agent_store *s, MDB_txn *t, uint64_t id, int level, int64_t abs_slot,
                      struct mb_sketch *sk, struct mb_hll *hll);
/* The same two reads through a cursor the caller opened on that level's chunk table
 * (db_chunk[level]; one per layout, as layouts lie in separate key ranges) or on db_sketch:
 * a run of reads in key order (series ids ascending) then stays on the cursor's leaf page
 * instead of descending from the root each time (an export reads 100,000 series). c NULL:
 * as without. */
int agent_read_slot_c(struct agent_store *s, MDB_txn *t, MDB_cursor *c,
                      const struct agent_series *se, int level, int64_t abs_slot, double *out);
int agent_read_sketch_c(struct agent_store *s, MDB_txn *t, MDB_cursor *c, uint64_t id,
                        int level, int64_t abs_slot, struct mb_sketch *sk, struct mb_hll *hll);
/* A slot of any level, rolled up from the level below when it is not final yet. sk/hll, when
 * given, get the slot's sketch/HLL merged in. 0, MDB_NOTFOUND (no data), MB_ENOMEM (a sketch
 * merge failed: the slot is incomplete). */
int agent_slot_get(struct agent_store *s, MDB_txn *t, const struct agent_series *se, int level,
                   int64_t abs, const struct agent_roll *rv, double *out, struct mb_sketch *sk,
                   struct mb_hll *hll);

#endif
