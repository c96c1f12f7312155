/* env.h: the store's LMDB environment (layer 2): the environment and its databases, map
 * growth with readers paused, read and write transaction wrappers, the put/commit wrappers
 * that carry the test builds' fault hooks, LMDB's codes turned into MB_* ones, and the clock. */
#ifndef AGENT_ENV_H
#define AGENT_ENV_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>

#include "window.h"

struct agent_env {
	/* Fixed after open, except env and map_size: replaced by agent_env_grow (writer) under
	 * txn_lock's write lock, so any other thread reads them under its read lock. */
	MDB_env *env;
	uint64_t map_size, max_size;
	char dir[4096];
	int nlevels;
	MDB_dbi db_meta, db_series, db_sources, db_sketch, db_seq, db_totals;
	/* A chunks DB per level: new chunks then go in with MDB_APPEND (full pages, not split
	 * halves) while a ring fills. */
	MDB_dbi db_chunk[MB_MAX_LEVELS];
	/* Readers shared, map resize exclusive: mdb_env_set_mapsize needs no transaction of the
	 * process open. */
	pthread_rwlock_t txn_lock;
	/* Writer only: the greatest key of each chunks DB. */
	uint8_t chunk_max[MB_MAX_LEVELS][AGENT_KEY_LEN];
	bool chunk_has_max[MB_MAX_LEVELS];
};

/* The clock the store calls "now" (tests move it). */
extern int64_t agent_store_test_now_ms;
int64_t agent_store_now(void);
/* Map size the store starts with when it creates a new file (tests make it small). */
extern uint64_t agent_store_initial_map;

/* Opens e->dir (set by the caller with max_size and nlevels) with a map of mapsize bytes and
 * every database; 0 or an LMDB code (the environment is closed again). */
int agent_env_open(struct agent_env *e, uint64_t mapsize);
void agent_env_close(struct agent_env *e); /* syncs; no transaction may be open */
/* Grows the map: doubles it, up to max_size. Pauses readers. Writer. MB_ETOOBIG when
 * already at max_size; MB_ESYS when the environment could not be reopened after a failed
 * resize. */
int agent_grow_map(struct agent_env *e);
/* Pages in use * page size (LMDB's high-water mark). */
uint64_t agent_env_used(struct agent_env *e);
/* A read transaction, with txn_lock held shared until agent_read_end. MB_ESYS. */
int agent_read_begin(struct agent_env *e, MDB_txn **out);
void agent_read_end(struct agent_env *e, MDB_txn *t);
/* Put and commit wrappers with the test fault hooks. LMDB or errno codes. */
int agent_put(MDB_txn *t, MDB_dbi d, MDB_val *k, MDB_val *v, unsigned flags);
int agent_cput(MDB_cursor *c, MDB_val *k, MDB_val *v, unsigned flags);
int agent_txn_commit(MDB_txn *t);
/* MDB_APPEND when a new chunk key is past every key of its level's DB, else 0. Writer. */
unsigned agent_append_flag(struct agent_env *e, int level, const uint8_t *key);
/* The text of a code the write side passes up: an MB_E* code, an LMDB code, or errno from
 * the commit (ENOSPC, EIO). The one place the three are told apart. */
const char *agent_err_text(int rv);

/* Fault injection, compiled only into test builds (AGENT_TEST_HOOKS: agentd_unit): when set
 * to N > 0, the Nth LMDB put/commit/map-resize from now fails with MDB_MAP_FULL / EIO / ENOSPC
 * as the hook says. 0 = off. */
#ifdef AGENT_TEST_HOOKS
extern int agent_fault_put, agent_fault_commit, agent_fault_resize, agent_fault_enospc;
#endif

#endif
