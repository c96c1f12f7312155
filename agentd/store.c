/* store.c: the LMDB environment: open/close, the meta record (format and retention check),
 * map growth with readers paused, reader checks, stats, and the test fault hooks. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_int.h"

int agent_fault_put, agent_fault_commit, agent_fault_resize, agent_fault_enospc;
int64_t agent_store_test_now_ms;
uint64_t agent_store_initial_map = 1ull << 30;

int64_t agent_store_now(void)
{
	return agent_store_test_now_ms ? agent_store_test_now_ms : mb_now_ms();
}

static bool fault_fires(int *ctr)
{
	if (*ctr > 0 && --*ctr == 0)
		return true;
	return false;
}

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

unsigned agent_append_flag(struct agent_store *s, int level, const uint8_t *key)
{
	if (s->chunk_has_max[level] && memcmp(key, s->chunk_max[level], AGENT_KEY_LEN) <= 0)
		return 0;
	memcpy(s->chunk_max[level], key, AGENT_KEY_LEN);
	s->chunk_has_max[level] = true;
	return MDB_APPEND;
}

int agent_read_begin(struct agent_store *s, MDB_txn **out)
{
	pthread_rwlock_rdlock(&s->txn_lock);
	int rv = mdb_txn_begin(s->env, NULL, MDB_RDONLY, out);
	if (rv != 0) {
		pthread_rwlock_unlock(&s->txn_lock);
		mb_log_warnx("store: read transaction: %s", mdb_strerror(rv));
		return MB_ESYS;
	}
	return 0;
}

void agent_read_end(struct agent_store *s, MDB_txn *t)
{
	mdb_txn_abort(t);
	pthread_rwlock_unlock(&s->txn_lock);
}

static int open_dbis(struct agent_store *s)
{
	MDB_txn *t;
	int rv = mdb_txn_begin(s->env, NULL, 0, &t);
	if (rv != 0)
		return rv;
	struct {
		const char *name;
		MDB_dbi *dbi;
	} d[] = {{"meta", &s->db_meta},     {"series", &s->db_series}, {"sources", &s->db_sources},
	         {"sketch", &s->db_sketch}, {"seq", &s->db_seq},
	         {"totals", &s->db_totals}};
	for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
		if ((rv = mdb_dbi_open(t, d[i].name, MDB_CREATE, d[i].dbi)) != 0) {
			mdb_txn_abort(t);
			return rv;
		}
	for (int l = 0; l < s->nlevels; l++) {
		char name[16];
		snprintf(name, sizeof name, "chunks.%d", l);
		if ((rv = mdb_dbi_open(t, name, MDB_CREATE, &s->db_chunk[l])) != 0) {
			mdb_txn_abort(t);
			return rv;
		}
		MDB_cursor *c;
		MDB_val k, v;
		s->chunk_has_max[l] = false;
		if ((rv = mdb_cursor_open(t, s->db_chunk[l], &c)) != 0) {
			mdb_txn_abort(t);
			return rv;
		}
		if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == AGENT_KEY_LEN) {
			memcpy(s->chunk_max[l], k.mv_data, AGENT_KEY_LEN);
			s->chunk_has_max[l] = true;
		}
		mdb_cursor_close(c);
	}
	return mdb_txn_commit(t);
}

static int env_open(struct agent_store *s, uint64_t mapsize)
{
	int rv;
	if ((rv = mdb_env_create(&s->env)) != 0)
		return rv;
	if ((rv = mdb_env_set_maxdbs(s->env, 8 + MB_MAX_LEVELS)) != 0 ||
	    (rv = mdb_env_set_maxreaders(s->env, 256)) != 0 ||
	    (rv = mdb_env_set_mapsize(s->env, mapsize)) != 0 ||
	    (rv = mdb_env_open(s->env, s->dir, MDB_NOMETASYNC | MDB_NOTLS, 0640)) != 0 ||
	    (rv = open_dbis(s)) != 0) {
		mdb_env_close(s->env);
		s->env = NULL;
		return rv;
	}
	MDB_envinfo info;
	mdb_env_info(s->env, &info);
	s->map_size = info.me_mapsize;
	return 0;
}

/* Grows the map: doubles it, up to max_size. Pauses readers (no transaction of the process
 * may be open). MB_ETOOBIG when already at max_size; MB_ESYS when the environment could not
 * be reopened after a failed resize. */
int agent_grow_map(struct agent_store *s)
{
	if (s->map_size >= s->o.max_size)
		return MB_ETOOBIG;
	uint64_t want = s->map_size * 2;
	if (want > s->o.max_size)
		want = s->o.max_size;
	pthread_rwlock_wrlock(&s->txn_lock);
	int rv = fault_fires(&agent_fault_resize) ? EIO : mdb_env_set_mapsize(s->env, want);
	if (rv == 0) {
		MDB_envinfo info;
		mdb_env_info(s->env, &info);
		s->map_size = info.me_mapsize;
		mb_log_info("store: map grown to %llu bytes", (unsigned long long)s->map_size);
	} else {
		/* LMDB 0.9.24: a failed resize leaves the env unusable: reopen it. */
		mb_log_warnx("store: map resize to %llu failed (%s); reopening the store",
		             (unsigned long long)want, mdb_strerror(rv));
		mdb_env_close(s->env);
		s->env = NULL;
		if ((rv = env_open(s, s->map_size)) != 0) {
			pthread_rwlock_unlock(&s->txn_lock);
			mb_log_error("store: reopen failed: %s", mdb_strerror(rv));
			return MB_ESYS;
		}
	}
	pthread_rwlock_unlock(&s->txn_lock);
	return 0;
}

static void parse_fault_env(void)
{
	const char *f = getenv("METRICSBUS_TEST_FAULT");
	if (!f)
		return;
	struct {
		const char *n;
		int *p;
	} h[] = {{"put:", &agent_fault_put},
	         {"commit:", &agent_fault_commit},
	         {"resize:", &agent_fault_resize},
	         {"enospc:", &agent_fault_enospc}};
	for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
		if (strncmp(f, h[i].n, strlen(h[i].n)) == 0)
			*h[i].p = atoi(f + strlen(h[i].n));
}

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
	int rv = mdb_txn_begin(s->env, NULL, 0, &t);
	if (rv != 0) {
		snprintf(err, errlen, "store %s: %s", s->dir, mdb_strerror(rv));
		return MB_ESYS;
	}
	MDB_val k = {6, (void *)"format"}, v;
	if (mdb_get(t, s->db_meta, &k, &v) == 0) {
		uint32_t fmt = v.mv_size == 4 ? agent_be32(v.mv_data) : 0;
		if (fmt != AGENT_FORMAT_VERSION) {
			snprintf(err, errlen,
			         "store %s has on-disk format %u, this agentd reads format %u; "
			         "see docs/operations.md (upgrading)",
			         s->dir, fmt, AGENT_FORMAT_VERSION);
			mdb_txn_abort(t);
			return MB_EINVAL;
		}
		MDB_val rk = {9, (void *)"retention"}, rvv;
		char old[512] = "";
		if (mdb_get(t, s->db_meta, &rk, &rvv) == 0 && rvv.mv_size < sizeof old)
			memcpy(old, rvv.mv_data, rvv.mv_size);
		struct mb_level ol[MB_MAX_LEVELS];
		int on = 0;
		char perr[128];
		if (mb_parse_retention(old, ol, &on, perr, sizeof perr) != 0 ||
		    !levels_equal(ol, on, s->o.levels, s->o.nlevels)) {
			snprintf(err, errlen,
			         "store %s was created with --retention %s, agentd was started with "
			         "--retention %s; start with the store's retention or move the store "
			         "aside (docs/operations.md, changing retention)",
			         s->dir, old, s->o.retention ? s->o.retention : "?");
			mdb_txn_abort(t);
			return MB_EINVAL;
		}
		MDB_val ek = {5, (void *)"epoch"}, ev;
		if (mdb_get(t, s->db_meta, &ek, &ev) == 0 && ev.mv_size == (size_t)s->nlevels * 8)
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
	if ((rv = mdb_put(t, s->db_meta, &k, &fv, 0)) != 0 ||
	    (rv = mdb_put(t, s->db_meta, &rk, &rv2, 0)) != 0 ||
	    (rv = mdb_put(t, s->db_meta, &ck, &cv, 0)) != 0 ||
	    (rv = mdb_put(t, s->db_meta, &ek, &ev, 0)) != 0 || (rv = mdb_txn_commit(t)) != 0) {
		if (rv != 0)
			snprintf(err, errlen, "store %s: writing meta: %s", s->dir, mdb_strerror(rv));
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
	parse_fault_env();
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
	if (snprintf(s->dir, sizeof s->dir, "%s", o->dir) >= (int)sizeof s->dir ||
	    s->nlevels < 1 || s->nlevels > MB_MAX_LEVELS || agent_geom_init(s->geom, s->o.levels, s->nlevels) != 0) {
		snprintf(err, errlen, "bad store options (dir or retention)");
		free(s);
		return MB_EINVAL;
	}
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	/* A resize must not wait behind an endless stream of queries. */
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->txn_lock, &ra);
	pthread_rwlock_init(&s->reg_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&s->stats_lock, NULL);
	if (mb_mkdirs(s->dir, 0750) != 0) {
		snprintf(err, errlen, "cannot create data directory %s: %s", s->dir, strerror(errno));
		rv = MB_ESYS;
		goto fail;
	}
	uint64_t map = agent_store_initial_map;
	char path[4200];
	struct stat stb;
	uint64_t fsize = 0;
	snprintf(path, sizeof path, "%s/data.mdb", s->dir);
	if (stat(path, &stb) == 0)
		fsize = (uint64_t)stb.st_size;
	if (fsize > map)
		map = fsize;
	if (map > s->o.max_size && s->o.max_size >= fsize)
		map = s->o.max_size;
	map = (map + 65535) & ~(uint64_t)65535;
	if ((rv = env_open(s, map)) != 0) {
		snprintf(err, errlen, "cannot open store %s: %s", s->dir, mdb_strerror(rv));
		rv = MB_ESYS;
		goto fail;
	}
	int dead = 0;
	mdb_reader_check(s->env, &dead);
	if (dead)
		mb_log_info("store: cleared %d stale reader slots", dead);
	if ((rv = check_meta(s, err, errlen)) != 0)
		goto fail_env;
	MDB_txn *t;
	if ((rv = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t)) != 0) {
		snprintf(err, errlen, "store %s: %s", s->dir, mdb_strerror(rv));
		rv = MB_ESYS;
		goto fail_env;
	}
	rv = agent_registry_load(s, t);
	if (rv == 0 && agent_roll_load(s, t, s->roll) != 0)
		rv = MB_ESYS;
	mdb_txn_abort(t);
	if (rv != 0) {
		snprintf(err, errlen, "store %s: loading the registry: %s", s->dir, mb_strerror(rv));
		goto fail_reg;
	}
	s->st.series = s->nser - s->nfree;
	s->st.sources = s->nsrc;
	mb_log_info("store: %s opened: %u series, %u sources, map %llu bytes", s->dir, s->nser,
	            s->nsrc, (unsigned long long)s->map_size);
	*out = s;
	return 0;
fail_reg:
	agent_registry_free(s);
fail_env:
	mdb_env_close(s->env);
fail:
	pthread_rwlock_destroy(&s->txn_lock);
	pthread_rwlock_destroy(&s->reg_lock);
	pthread_mutex_destroy(&s->stats_lock);
	free(s);
	return rv;
}

void agent_store_close(struct agent_store *s)
{
	if (!s)
		return;
	if (s->env) {
		mdb_env_sync(s->env, 1);
		mdb_env_close(s->env);
	}
	agent_registry_free(s);
	agent_commit_free(s);
	pthread_rwlock_destroy(&s->txn_lock);
	pthread_rwlock_destroy(&s->reg_lock);
	pthread_mutex_destroy(&s->stats_lock);
	free(s);
}

void agent_store_maintain(struct agent_store *s)
{
	int dead = 0;
	pthread_rwlock_rdlock(&s->txn_lock);
	mdb_reader_check(s->env, &dead);
	pthread_rwlock_unlock(&s->txn_lock);
	if (dead)
		mb_log_info("store: cleared %d stale reader slots", dead);
	int64_t now = agent_store_now();
	uint64_t live = 0;
	pthread_rwlock_rdlock(&s->reg_lock);
	for (uint32_t i = 0; i < s->nser; i++)
		live += agent_series_live(s, s->ser[i], now);
	pthread_rwlock_unlock(&s->reg_lock);
	pthread_mutex_lock(&s->stats_lock);
	s->st.live_series = live;
	pthread_mutex_unlock(&s->stats_lock);
}

void agent_store_stats(struct agent_store *s, struct agent_store_stats *out)
{
	MDB_envinfo info;
	MDB_stat mst;
	pthread_rwlock_rdlock(&s->txn_lock);
	mdb_env_info(s->env, &info);
	mdb_env_stat(s->env, &mst);
	pthread_rwlock_unlock(&s->txn_lock);
	pthread_mutex_lock(&s->stats_lock);
	*out = s->st;
	pthread_mutex_unlock(&s->stats_lock);
	out->map_bytes = info.me_mapsize;
	out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * mst.ms_psize;
}

void agent_reply_err(struct mb_reply *r, uint32_t st, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	r->status = st;
	r->error = mb_arena_strndup(&r->arena, buf, strlen(buf));
	if (!r->error)
		r->error = "out of memory";
}
