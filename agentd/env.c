/* env.c: the store's LMDB environment (layer 2): open with every database, map growth with
 * readers paused, transaction and put wrappers (with the fault hooks of test builds), and the clock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"

int64_t agent_store_test_now_ms;
uint64_t agent_store_initial_map = 1ull << 30;

int64_t agent_store_now(void)
{
	return agent_store_test_now_ms ? agent_store_test_now_ms : mb_now_ms();
}

#ifdef AGENT_TEST_HOOKS
int agent_fault_put, agent_fault_commit, agent_fault_resize, agent_fault_enospc;
static bool fault_fires(int *ctr)
{
	if (*ctr > 0 && --*ctr == 0)
		return true;
	return false;
}
#else
/* The production build: no hook, nothing to test at run time. */
#define fault_fires(ctr) false
#endif

int agent_put(MDB_txn *t, MDB_dbi d, MDB_val *k, MDB_val *v, unsigned flags)
{
	if (fault_fires(&agent_fault_put))
		return MDB_MAP_FULL;
	return mdb_put(t, d, k, v, flags);
}

int agent_cput(MDB_cursor *c, MDB_val *k, MDB_val *v, unsigned flags)
{
	if (fault_fires(&agent_fault_put))
		return MDB_MAP_FULL;
	return mdb_cursor_put(c, k, v, flags);
}

int agent_txn_commit(MDB_txn *t)
{
	if (fault_fires(&agent_fault_commit)) {
		mdb_txn_abort(t);
		return EIO;
	}
	if (fault_fires(&agent_fault_enospc)) {
		mdb_txn_abort(t);
		return ENOSPC;
	}
	return mdb_txn_commit(t);
}

unsigned agent_append_flag(struct agent_env *e, int level, const uint8_t *key)
{
	if (e->chunk_has_max[level] && memcmp(key, e->chunk_max[level], AGENT_KEY_LEN) <= 0)
		return 0;
	memcpy(e->chunk_max[level], key, AGENT_KEY_LEN);
	e->chunk_has_max[level] = true;
	return MDB_APPEND;
}

int agent_read_begin(struct agent_env *e, MDB_txn **out)
{
	pthread_rwlock_rdlock(&e->txn_lock);
	int rv = mdb_txn_begin(e->env, NULL, MDB_RDONLY, out);
	if (rv != 0) {
		pthread_rwlock_unlock(&e->txn_lock);
		mb_log_warnx("store: read transaction: %s", mdb_strerror(rv));
		return MB_ESYS;
	}
	return 0;
}

void agent_read_end(struct agent_env *e, MDB_txn *t)
{
	mdb_txn_abort(t);
	pthread_rwlock_unlock(&e->txn_lock);
}

static int open_dbis(struct agent_env *e)
{
	MDB_txn *t;
	int rv = mdb_txn_begin(e->env, NULL, 0, &t);
	if (rv != 0)
		return rv;
	struct {
		const char *name;
		MDB_dbi *dbi;
	} d[] = {{"meta", &e->db_meta},     {"series", &e->db_series}, {"sources", &e->db_sources},
	         {"sketch", &e->db_sketch}, {"seq", &e->db_seq},       {"totals", &e->db_totals}};
	for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
		if ((rv = mdb_dbi_open(t, d[i].name, MDB_CREATE, d[i].dbi)) != 0) {
			mdb_txn_abort(t);
			return rv;
		}
	for (int l = 0; l < e->nlevels; l++) {
		char name[16];
		snprintf(name, sizeof name, "chunks.%d", l);
		if ((rv = mdb_dbi_open(t, name, MDB_CREATE, &e->db_chunk[l])) != 0) {
			mdb_txn_abort(t);
			return rv;
		}
		MDB_cursor *c;
		MDB_val k, v;
		e->chunk_has_max[l] = false;
		if ((rv = mdb_cursor_open(t, e->db_chunk[l], &c)) != 0) {
			mdb_txn_abort(t);
			return rv;
		}
		if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == AGENT_KEY_LEN) {
			memcpy(e->chunk_max[l], k.mv_data, AGENT_KEY_LEN);
			e->chunk_has_max[l] = true;
		}
		mdb_cursor_close(c);
	}
	return mdb_txn_commit(t);
}

int agent_env_open(struct agent_env *e, uint64_t mapsize)
{
	int rv;
	if ((rv = mdb_env_create(&e->env)) != 0)
		return rv;
	if ((rv = mdb_env_set_maxdbs(e->env, 8 + MB_MAX_LEVELS)) != 0 ||
	    (rv = mdb_env_set_maxreaders(e->env, 256)) != 0 ||
	    (rv = mdb_env_set_mapsize(e->env, mapsize)) != 0 ||
	    (rv = mdb_env_open(e->env, e->dir, MDB_NOMETASYNC | MDB_NOTLS, 0640)) != 0 ||
	    (rv = open_dbis(e)) != 0) {
		mdb_env_close(e->env);
		e->env = NULL;
		return rv;
	}
	MDB_envinfo info;
	mdb_env_info(e->env, &info);
	e->map_size = info.me_mapsize;
	return 0;
}

/* Grows the map: doubles it, up to max_size. Pauses readers (no transaction of the process
 * may be open). MB_ETOOBIG when already at max_size; MB_ESYS when the environment could not
 * be reopened after a failed resize. */
int agent_grow_map(struct agent_env *e)
{
	if (e->map_size >= e->max_size)
		return MB_ETOOBIG;
	uint64_t want = e->map_size * 2;
	if (want > e->max_size)
		want = e->max_size;
	pthread_rwlock_wrlock(&e->txn_lock);
	int rv = fault_fires(&agent_fault_resize) ? EIO : mdb_env_set_mapsize(e->env, want);
	if (rv == 0) {
		MDB_envinfo info;
		mdb_env_info(e->env, &info);
		e->map_size = info.me_mapsize;
		mb_log_info("store: map grown to %llu bytes", (unsigned long long)e->map_size);
	} else {
		/* LMDB 0.9.24: a failed resize leaves the env unusable: reopen it. */
		mb_log_warnx("store: map resize to %llu failed (%s); reopening the store",
		             (unsigned long long)want, mdb_strerror(rv));
		mdb_env_close(e->env);
		e->env = NULL;
		if ((rv = agent_env_open(e, e->map_size)) != 0) {
			pthread_rwlock_unlock(&e->txn_lock);
			mb_log_error("store: reopen failed: %s", mdb_strerror(rv));
			return MB_ESYS;
		}
	}
	pthread_rwlock_unlock(&e->txn_lock);
	return 0;
}

void agent_env_close(struct agent_env *e)
{
	if (!e->env)
		return;
	mdb_env_sync(e->env, 1);
	mdb_env_close(e->env);
	e->env = NULL;
}

uint64_t agent_env_used(struct agent_env *e)
{
	MDB_envinfo info;
	MDB_stat mst;
	if (mdb_env_info(e->env, &info) != 0 || mdb_env_stat(e->env, &mst) != 0)
		return 0;
	return (uint64_t)(info.me_last_pgno + 1) * mst.ms_psize;
}

const char *agent_err_text(int rv)
{
	if (mb_is_err(rv))
		return mb_strerror(rv);
	if (rv == ENOSPC)
		return "disk full (ENOSPC)";
	return mdb_strerror(rv); /* LMDB's text, or strerror for errno */
}
