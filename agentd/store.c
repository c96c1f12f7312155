/* store.c: the store's front door (layer 6): open (the meta record's format and retention
 * check, the registry loaded), close, periodic upkeep, stats. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "read.h"
#include "write.h"

static bool levels_equal(const struct mb_level *a, int na, const struct mb_level *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (a[i].res_ms != b[i].res_ms || a[i].span_ms != b[i].span_ms)
			return false;
	return true;
}

/* meta: "format" u32 BE, "retention" the spec, "created" i64 BE. */
static int check_meta(struct agent_store *s, char *err, size_t errlen)
{
	MDB_txn *t;
	int rv = mdb_txn_begin(s->e.env, NULL, 0, &t);
	if (rv != 0) {
		snprintf(err, errlen, "store %s: %s", s->e.dir, mdb_strerror(rv));
		return MB_ESYS;
	}
	MDB_val k = {6, (void *)"format"}, v;
	if (mdb_get(t, s->e.db_meta, &k, &v) == 0) {
		uint32_t fmt = v.mv_size == 4 ? agent_be32(v.mv_data) : 0;
		if (fmt != AGENT_FORMAT_VERSION) {
			snprintf(err, errlen,
			         "store %s has on-disk format %u, this agentd reads format %u; "
			         "see docs/operations.md (upgrading)",
			         s->e.dir, fmt, AGENT_FORMAT_VERSION);
			mdb_txn_abort(t);
			return MB_EINVAL;
		}
		MDB_val rk = {9, (void *)"retention"}, rvv;
		char old[512] = "";
		if (mdb_get(t, s->e.db_meta, &rk, &rvv) == 0 && rvv.mv_size < sizeof old)
			memcpy(old, rvv.mv_data, rvv.mv_size);
		struct mb_level ol[MB_MAX_LEVELS];
		int on = 0;
		char perr[128];
		if (mb_parse_retention(old, ol, &on, perr, sizeof perr) != 0 ||
		    !levels_equal(ol, on, s->o.levels, s->o.nlevels)) {
			snprintf(
			    err, errlen,
			    "store %s was created with --retention %s, agentd was started with "
			    "--retention %s; start with the store's retention or move the store "
			    "aside (docs/operations.md, changing retention)",
			    s->e.dir, old, s->o.retention ? s->o.retention : "?");
			mdb_txn_abort(t);
			return MB_EINVAL;
		}
		MDB_val ek = {5, (void *)"epoch"}, ev;
		if (mdb_get(t, s->e.db_meta, &ek, &ev) == 0 && ev.mv_size == (size_t)s->nlevels * 8)
			for (int l = 0; l < s->nlevels; l++)
				s->geom[l].epoch_slot =
				    (int64_t)agent_be64((const uint8_t *)ev.mv_data + l * 8);
		mdb_txn_abort(t);
		return 0;
	}
	uint8_t eb[MB_MAX_LEVELS * 8];
	int64_t created = agent_store_now();
	for (int l = 0; l < s->nlevels; l++) {
		s->geom[l].epoch_slot = created / s->geom[l].res_ms;
		agent_put_be64(eb + l * 8, (uint64_t)s->geom[l].epoch_slot);
	}
	MDB_val ek = {5, (void *)"epoch"}, ev = {(size_t)s->nlevels * 8, eb};
	uint8_t fb[4] = {0, 0, 0, AGENT_FORMAT_VERSION};
	MDB_val fv = {4, fb};
	char ret[512];
	snprintf(ret, sizeof ret, "%s", s->o.retention ? s->o.retention : MB_DEFAULT_RETENTION);
	MDB_val rk = {9, (void *)"retention"}, rv2 = {strlen(ret), ret};
	uint8_t cb[8];
	agent_put_be64(cb, (uint64_t)mb_now_ms());
	MDB_val ck = {7, (void *)"created"}, cv = {8, cb};
	if ((rv = mdb_put(t, s->e.db_meta, &k, &fv, 0)) != 0 ||
	    (rv = mdb_put(t, s->e.db_meta, &rk, &rv2, 0)) != 0 ||
	    (rv = mdb_put(t, s->e.db_meta, &ck, &cv, 0)) != 0 ||
	    (rv = mdb_put(t, s->e.db_meta, &ek, &ev, 0)) != 0 || (rv = mdb_txn_commit(t)) != 0) {
		if (rv != 0)
			snprintf(err, errlen, "store %s: writing meta: %s", s->e.dir,
			         mdb_strerror(rv));
		return MB_ESYS;
	}
	return 0;
}

int agent_store_open(const struct agent_store_opts *o, struct agent_store **out, char *err,
                     size_t errlen)
{
	int rv;
	struct agent_store *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return MB_ENOMEM;
	}
	s->o = *o;
	if (!s->o.live_ms)
		s->o.live_ms = 300000;
	if (!s->o.max_series_per_source)
		s->o.max_series_per_source = 10000;
	if (!s->o.max_size)
		s->o.max_size = 8ull << 30;
	if (!s->o.hostname)
		s->o.hostname = "";
	s->nlevels = o->nlevels;
	s->e.max_size = s->o.max_size;
	s->e.nlevels = s->nlevels;
	if (snprintf(s->e.dir, sizeof s->e.dir, "%s", o->dir) >= (int)sizeof s->e.dir ||
	    s->nlevels < 1 || s->nlevels > MB_MAX_LEVELS ||
	    agent_geom_init(s->geom, s->o.levels, s->nlevels) != 0) {
		snprintf(err, errlen, "bad store options (dir or retention)");
		free(s);
		return MB_EINVAL;
	}
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	/* A resize must not wait behind an endless stream of queries. */
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->e.txn_lock, &ra);
	pthread_rwlock_init(&s->r.lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&s->stats.lock, NULL);
	if (mb_mkdirs(s->e.dir, 0750) != 0) {
		snprintf(err, errlen, "cannot create data directory %s: %s", s->e.dir,
		         strerror(errno));
		rv = MB_ESYS;
		goto fail;
	}
	uint64_t map = agent_store_initial_map;
	char path[4200];
	struct stat stb;
	uint64_t fsize = 0;
	snprintf(path, sizeof path, "%s/data.mdb", s->e.dir);
	if (stat(path, &stb) == 0)
		fsize = (uint64_t)stb.st_size;
	if (fsize > map)
		map = fsize;
	if (map > s->o.max_size && s->o.max_size >= fsize)
		map = s->o.max_size;
	map = (map + 65535) & ~(uint64_t)65535;
	if ((rv = agent_env_open(&s->e, map)) != 0) {
		snprintf(err, errlen, "cannot open store %s: %s", s->e.dir, mdb_strerror(rv));
		rv = MB_ESYS;
		goto fail;
	}
	int dead = 0;
	mdb_reader_check(s->e.env, &dead);
	if (dead)
		mb_log_info("store: cleared %d stale reader slots", dead);
	if ((rv = check_meta(s, err, errlen)) != 0)
		goto fail_env;
	MDB_txn *t;
	if ((rv = mdb_txn_begin(s->e.env, NULL, MDB_RDONLY, &t)) != 0) {
		snprintf(err, errlen, "store %s: %s", s->e.dir, mdb_strerror(rv));
		rv = MB_ESYS;
		goto fail_env;
	}
	rv = agent_registry_load(s, t);
	if (rv == 0 && agent_roll_load(s, t, s->w.roll) != 0)
		rv = MB_ESYS;
	mdb_txn_abort(t);
	if (rv != 0) {
		snprintf(err, errlen, "store %s: loading the registry: %s", s->e.dir,
		         mb_strerror(rv));
		goto fail_reg;
	}
	s->stats.v.series = s->r.nser - s->r.nfree;
	s->stats.v.sources = s->r.nsrc;
	mb_log_info("store: %s opened: %u series, %u sources, map %llu bytes", s->e.dir, s->r.nser,
	            s->r.nsrc, (unsigned long long)s->e.map_size);
	*out = s;
	return 0;
fail_reg:
	agent_registry_free(s);
fail_env:
	mdb_env_close(s->e.env);
fail:
	pthread_rwlock_destroy(&s->e.txn_lock);
	pthread_rwlock_destroy(&s->r.lock);
	pthread_mutex_destroy(&s->stats.lock);
	free(s);
	return rv;
}

void agent_store_set_node_id(struct agent_store *s, const char *id)
{
	__atomic_store_n(&s->o.node_id, id, __ATOMIC_RELEASE);
}

void agent_store_close(struct agent_store *s)
{
	if (!s)
		return;
	agent_env_close(&s->e);
	agent_registry_free(s);
	agent_commit_free(s);
	pthread_rwlock_destroy(&s->e.txn_lock);
	pthread_rwlock_destroy(&s->r.lock);
	pthread_mutex_destroy(&s->stats.lock);
	free(s);
}

void agent_store_maintain(struct agent_store *s)
{
	int dead = 0;
	pthread_rwlock_rdlock(&s->e.txn_lock);
	mdb_reader_check(s->e.env, &dead);
	pthread_rwlock_unlock(&s->e.txn_lock);
	if (dead)
		mb_log_info("store: cleared %d stale reader slots", dead);
	int64_t now = agent_store_now();
	uint64_t live = 0;
	pthread_rwlock_rdlock(&s->r.lock);
	for (uint32_t i = 0; i < s->r.nser; i++)
		live += agent_series_live(s, s->r.ser[i], now);
	pthread_rwlock_unlock(&s->r.lock);
	pthread_mutex_lock(&s->stats.lock);
	s->stats.v.live_series = live;
	pthread_mutex_unlock(&s->stats.lock);
}

void agent_store_stats(struct agent_store *s, struct agent_store_stats *out)
{
	pthread_rwlock_rdlock(&s->e.txn_lock);
	uint64_t map = s->e.map_size, used = agent_env_used(&s->e);
	pthread_rwlock_unlock(&s->e.txn_lock);
	pthread_mutex_lock(&s->stats.lock);
	*out = s->stats.v;
	pthread_mutex_unlock(&s->stats.lock);
	out->map_bytes = map;
	out->used_bytes = used;
}
