/* rw_progress.c: each receiver's shipping position, committed in an LMDB environment of its
 * own (DATA_DIR/remote-write) so the shipper never takes the store's write lock. */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rw.h"

struct agent_rw_progress {
	MDB_env *env;
	MDB_dbi dbi;
};

int agent_rw_progress_open(const char *data_dir, struct agent_rw_progress **out)
{
	char dir[4096];
	MDB_txn *t = NULL;
	int rv;
	if ((size_t)snprintf(dir, sizeof dir, "%s/remote-write", data_dir) >= sizeof dir)
		return MB_ETOOBIG;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		mb_log_warn("remote write: mkdir %s", dir);
		return MB_ESYS;
	}
	struct agent_rw_progress *p = calloc(1, sizeof *p);
	if (!p)
		return MB_ENOMEM;
	if ((rv = mdb_env_create(&p->env)) != 0 ||
	    (rv = mdb_env_set_mapsize(p->env, 16u << 20)) != 0 ||
	    (rv = mdb_env_open(p->env, dir, MDB_NOTLS, 0600)) != 0)
		goto fail;
	int dead = 0;
	mdb_reader_check(p->env, &dead);
	if ((rv = mdb_txn_begin(p->env, NULL, 0, &t)) != 0 ||
	    (rv = mdb_dbi_open(t, NULL, 0, &p->dbi)) != 0 || (rv = mdb_txn_commit(t)) != 0) {
		if (t && rv != 0)
			mdb_txn_abort(t);
		goto fail;
	}
	*out = p;
	return 0;
fail:
	mb_log_warnx("remote write: progress store %s: %s", dir, mdb_strerror(rv));
	if (p->env)
		mdb_env_close(p->env);
	free(p);
	return MB_ESYS;
}

void agent_rw_progress_close(struct agent_rw_progress *p)
{
	if (!p)
		return;
	mdb_env_close(p->env);
	free(p);
}

int agent_rw_progress_get(struct agent_rw_progress *p, const char *url, struct agent_rw_pos *pos)
{
	MDB_txn *t;
	MDB_val k = {strlen(url), (void *)(uintptr_t)url}, v;
	int rv = mdb_txn_begin(p->env, NULL, MDB_RDONLY, &t);
	if (rv != 0)
		return MB_ESYS;
	rv = mdb_get(t, p->dbi, &k, &v);
	if (rv == 0 && v.mv_size == sizeof *pos)
		memcpy(pos, v.mv_data, sizeof *pos);
	mdb_txn_abort(t);
	return rv == 0 && v.mv_size == sizeof *pos ? 0 : MB_EINVAL;
}

int agent_rw_progress_put(struct agent_rw_progress *p, const char *url,
                          const struct agent_rw_pos *pos)
{
	MDB_txn *t;
	MDB_val k = {strlen(url), (void *)(uintptr_t)url}, v = {sizeof *pos, (void *)(uintptr_t)pos};
	int rv = mdb_txn_begin(p->env, NULL, 0, &t);
	if (rv != 0)
		return MB_ESYS;
	if ((rv = mdb_put(t, p->dbi, &k, &v, 0)) != 0) {
		mdb_txn_abort(t);
		mb_log_warnx("remote write: progress: %s", mdb_strerror(rv));
		return MB_ESYS;
	}
	if ((rv = mdb_txn_commit(t)) != 0) {
		mb_log_warnx("remote write: progress commit: %s", mdb_strerror(rv));
		return MB_ESYS;
	}
	return 0;
}
