/* registry.c: the series registry (source + kind + name + tags -> 64-bit id), the sources
 * with their dimensions, and the per-shim sequence table: in memory, loaded from LMDB at open. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

int agent_canon_key(struct mb_buf *b, const char *src, int kind, const char *name, int ntags,
                    const struct mb_kv *tags)
{
	int rv;
	uint8_t k = (uint8_t)('0' + kind);
	if ((rv = mb_buf_append(b, src, strlen(src) + 1)) != 0 || (rv = mb_buf_append(b, &k, 1)) ||
	    (rv = mb_buf_append(b, name, strlen(name) + 1)) != 0)
		return rv;
	for (int i = 0; i < ntags; i++)
		if ((rv = mb_buf_append(b, tags[i].key, strlen(tags[i].key) + 1)) != 0 ||
		    (rv = mb_buf_append(b, tags[i].val, strlen(tags[i].val) + 1)) != 0)
			return rv;
	return 0;
}

/* ------------------------------------------------------------------ series */

struct agent_series *agent_series_find(struct agent_store *s, const char *key, size_t keylen,
                                       uint64_t hash)
{
	uint32_t pos = MB_HTAB_START, idx;
	while (mb_htab_next(&s->r.sidx, hash, &pos, &idx)) {
		struct agent_series *se = s->r.ser[idx];
		if (se->hash == hash && se->keylen == keylen && memcmp(se->key, key, keylen) == 0)
			return se;
	}
	return NULL;
}

void agent_series_prefetch(const struct agent_store *s, uint64_t hash, int step)
{
	const struct mb_htab *t = &s->r.sidx;
	if (!t->slot)
		return;
	uint32_t h = mb_htab_h32(hash);
	const struct mb_hslot *sl = &t->slot[h & t->mask];
	if (step == 0) {
		__builtin_prefetch(sl);
		return;
	}
	if (!sl->v1 || sl->h != h)
		return; /* not at its home slot (or absent): the lookup finds it */
	if (step == 1) {
		__builtin_prefetch(&s->r.ser[sl->v1 - 1]);
		return;
	}
	/* The series and its key, which follows it in the same allocation. */
	const char *se = (const char *)s->r.ser[sl->v1 - 1];
	for (int l = 0; l < 4; l++)
		__builtin_prefetch(se + 64 * l);
}

/* Parses a canonical key into name and tags pointing into it. */
static int canon_parse(struct agent_series *se)
{
	const char *p = se->key, *end = se->key + se->keylen;
	const char *z = memchr(p, 0, (size_t)(end - p));
	if (!z || z + 2 >= end)
		return MB_EINVAL;
	se->kind = (uint8_t)(z[1] - '0');
	if (se->kind >= MB_NKINDS)
		return MB_EINVAL;
	p = z + 2;
	se->name = p;
	if (!(z = memchr(p, 0, (size_t)(end - p))))
		return MB_EINVAL;
	p = z + 1;
	int n = 0;
	for (const char *q = p; q < end; q++)
		n += *q == 0;
	if (n % 2 || n / 2 > MB_MAX_TAGS || (end > p && end[-1] != 0))
		return MB_EINVAL;
	se->ntags = (uint16_t)(n / 2);
	for (int i = 0; i < se->ntags; i++) {
		se->tags[i].key = p;
		p += strlen(p) + 1;
		se->tags[i].val = p;
		p += strlen(p) + 1;
	}
	return 0;
}

struct agent_series agent_dead = {.name = "", .key = (char *)""};

/* Puts se at idx (which must be the end or a free index already taken off the list). */
static int series_place(struct agent_store *s, uint32_t idx, struct agent_series *se)
{
	int rv;
	struct agent_source *c = s->r.src[se->src];
	bool append = idx == s->r.nser;
	if ((rv = mb_grow(&c->ser, &c->capser, c->nser + 1, sizeof *c->ser, 16)) != 0 ||
	    (append && (rv = mb_grow(&s->r.ser, &s->r.capser, (size_t)s->r.nser + 1,
	                             sizeof *s->r.ser, 1024)) != 0) ||
	    (rv = mb_htab_insert(&s->r.sidx, se->hash, idx)) != 0)
		return rv;
	c->ser[c->nser++] = idx;
	s->r.ser[idx] = se;
	if (append)
		s->r.nser++;
	return 0;
}

static struct agent_series *series_new(const char *key, size_t keylen, uint64_t hash, uint64_t id,
                                       uint32_t src)
{
	/* Tags: one NUL per key and value after the name's. */
	size_t nz = 0;
	for (size_t i = 0; i < keylen; i++)
		nz += key[i] == 0;
	size_t nt = nz > 2 ? (nz - 2) / 2 : 0;
	if (nt > MB_MAX_TAGS)
		return NULL;
	struct agent_series *se = calloc(1, sizeof *se + nt * sizeof(struct mb_kv) + keylen);
	if (!se)
		return NULL;
	se->tags = (struct mb_kv *)(se + 1);
	se->key = (char *)(se->tags + nt);
	memcpy(se->key, key, keylen);
	se->keylen = keylen;
	se->hash = hash;
	se->id = id;
	se->src = src;
	if (canon_parse(se) != 0) {
		free(se);
		return NULL;
	}
	return se;
}

int agent_series_add(struct agent_store *s, const char *key, size_t keylen, uint64_t hash,
                     uint32_t src, struct agent_series **out)
{
	int rv;
	if ((rv = mb_grow(&s->r.added, &s->r.capadded, (size_t)s->r.nadded + 1, sizeof *s->r.added,
	                  1024)) != 0)
		return rv;
	bool reused = s->r.nfree > 0;
	uint32_t idx = reused ? s->r.freeser[s->r.nfree - 1] : s->r.nser;
	struct agent_series *se = series_new(key, keylen, hash, (uint64_t)idx + 1, src);
	if (!se)
		return MB_EINVAL;
	if ((rv = series_place(s, idx, se)) != 0) {
		free(se);
		return rv;
	}
	if (reused)
		s->r.nfree--;
	s->r.added[s->r.nadded++] = (struct agent_added){idx, reused};
	*out = se;
	return 0;
}

static int free_push(struct agent_store *s, uint32_t idx)
{
	int rv;
	if ((rv = mb_grow(&s->r.freeser, &s->r.capfree, (size_t)s->r.nfree + 1,
	                  sizeof *s->r.freeser, 256)) != 0)
		return rv;
	s->r.freeser[s->r.nfree++] = idx;
	return 0;
}

static void source_list_remove(struct agent_source *c, uint32_t idx)
{
	for (uint32_t i = c->nser; i-- > 0;)
		if (c->ser[i] == idx) {
			memmove(c->ser + i, c->ser + i + 1, (c->nser - i - 1) * sizeof *c->ser);
			c->nser--;
			return;
		}
}

void agent_series_undo(struct agent_store *s)
{
	if (!s->r.nadded)
		return;
	struct agent_added a = s->r.added[--s->r.nadded];
	struct agent_series *se = s->r.ser[a.idx];
	mb_htab_remove(&s->r.sidx, se->hash, a.idx);
	source_list_remove(s->r.src[se->src], a.idx);
	if (a.reused) {
		s->r.ser[a.idx] = &agent_dead;
		s->r.freeser[s->r.nfree++] = a.idx; /* its slot is still there */
	} else {
		s->r.nser--;
	}
	free(se);
}

void agent_series_forget(struct agent_store *s, uint32_t idx)
{
	struct agent_series *se = s->r.ser[idx];
	if (se == &agent_dead)
		return;
	if (free_push(s, idx) != 0)
		return; /* kept: tried again at the next pass */
	mb_htab_remove(&s->r.sidx, se->hash, idx);
	struct agent_source *c = s->r.src[se->src];
	source_list_remove(c, idx);
	if (se->committed && c->nseries_committed)
		c->nseries_committed--;
	s->r.ser[idx] = &agent_dead;
	free(se);
}

/* ------------------------------------------------------------------ sources */

static uint64_t name_hash(const char *n)
{
	return mb_hash64(n, strlen(n));
}

bool agent_source_reserved(const char *container_id)
{
	return strcmp(container_id, "node") == 0 || strcmp(container_id, "agentd") == 0;
}

int agent_source_find(struct agent_store *s, const char *name)
{
	uint32_t pos = MB_HTAB_START, idx;
	while (mb_htab_next(&s->r.cidx, name_hash(name), &pos, &idx))
		if (strcmp(s->r.src[idx]->name, name) == 0)
			return (int)idx;
	return -1;
}

int agent_source_add(struct agent_store *s, const char *name, uint32_t *out)
{
	int rv;
	if ((rv = mb_grow(&s->r.src, &s->r.capsrc, (size_t)s->r.nsrc + 1, sizeof *s->r.src, 64)) !=
	    0)
		return rv;
	struct agent_source *c = calloc(1, sizeof *c);
	if (!c || !(c->name = strdup(name))) {
		free(c);
		return MB_ENOMEM;
	}
	if ((rv = mb_htab_insert(&s->r.cidx, name_hash(name), s->r.nsrc)) != 0) {
		free(c->name);
		free(c);
		return rv;
	}
	s->r.src[s->r.nsrc++] = c;
	*out = s->r.nsrc - 1;
	return 0;
}

static void source_free(struct agent_source *c)
{
	free(c->ser);
	free(c->dims);
	free(c->name);
	free(c);
}

void agent_source_pop(struct agent_store *s)
{
	if (!s->r.nsrc)
		return;
	uint32_t idx = s->r.nsrc - 1;
	struct agent_source *c = s->r.src[idx];
	mb_htab_remove(&s->r.cidx, name_hash(c->name), idx);
	s->r.nsrc--;
	source_free(c);
}

int agent_dims_copy(uint16_t n, const struct mb_kv *in, struct mb_kv **out)
{
	size_t sz = n * sizeof(struct mb_kv);
	for (int i = 0; i < n; i++)
		sz += strlen(in[i].key) + strlen(in[i].val) + 2;
	struct mb_kv *d = malloc(sz ? sz : 1);
	if (!d)
		return MB_ENOMEM;
	char *p = (char *)(d + n);
	for (int i = 0; i < n; i++) {
		size_t kl = strlen(in[i].key) + 1, vl = strlen(in[i].val) + 1;
		memcpy(p, in[i].key, kl);
		d[i].key = p;
		p += kl;
		memcpy(p, in[i].val, vl);
		d[i].val = p;
		p += vl;
	}
	*out = d;
	return 0;
}

bool agent_dims_equal(uint16_t na, const struct mb_kv *a, uint16_t nb, const struct mb_kv *b)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (strcmp(a[i].key, b[i].key) || strcmp(a[i].val, b[i].val))
			return false;
	return true;
}

/* Source record: stopped u8, first_ms i64 BE, ndims u16 BE, then (klen u16, k, vlen u16, v). */
int agent_source_encode(const struct agent_source *c, struct mb_buf *b)
{
	int rv;
	uint8_t h[11];
	h[0] = c->stopped;
	agent_put_be64(h + 1, (uint64_t)c->first_ms);
	h[9] = (uint8_t)(c->ndims >> 8);
	h[10] = (uint8_t)c->ndims;
	mb_buf_reset(b);
	if ((rv = mb_buf_append(b, h, sizeof h)) != 0)
		return rv;
	for (int i = 0; i < c->ndims; i++) {
		const char *kv[2] = {c->dims[i].key, c->dims[i].val};
		for (int j = 0; j < 2; j++) {
			size_t l = strlen(kv[j]);
			uint8_t lb[2] = {(uint8_t)(l >> 8), (uint8_t)l};
			if ((rv = mb_buf_append(b, lb, 2)) != 0 ||
			    (rv = mb_buf_append(b, kv[j], l)))
				return rv;
		}
	}
	return 0;
}

static int source_decode(struct agent_source *c, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	if (n < 11)
		return MB_EINVAL;
	c->stopped = p[0] != 0;
	c->first_ms = (int64_t)agent_be64(p + 1);
	uint16_t nd = (uint16_t)(p[9] << 8 | p[10]);
	p += 11;
	if (nd > MB_MAX_DIMS)
		return MB_EINVAL;
	struct mb_kv kv[MB_MAX_DIMS];
	char *strs = malloc(n * 2 + 2);
	char *w = strs;
	if (!strs)
		return MB_ENOMEM;
	for (int i = 0; i < nd; i++) {
		for (int j = 0; j < 2; j++) {
			if (end - p < 2)
				goto bad;
			size_t l = (size_t)(p[0] << 8 | p[1]);
			p += 2;
			if ((size_t)(end - p) < l)
				goto bad;
			memcpy(w, p, l);
			w[l] = 0;
			if (j == 0)
				kv[i].key = w;
			else
				kv[i].val = w;
			w += l + 1;
			p += l;
		}
	}
	int rv = agent_dims_copy(nd, kv, &c->dims);
	free(strs);
	if (rv == 0)
		c->ndims = nd;
	return rv;
bad:
	free(strs);
	return MB_EINVAL;
}

/* Series record: kind u8, last_ms i64 BE (persisted now and then), then the canonical key. */
int agent_series_encode(const struct agent_series *se, int64_t last_ms, struct mb_buf *b)
{
	int rv;
	uint8_t h[9];
	h[0] = se->kind;
	agent_put_be64(h + 1, (uint64_t)last_ms);
	mb_buf_reset(b);
	if ((rv = mb_buf_append(b, h, sizeof h)) != 0 ||
	    (rv = mb_buf_append(b, se->key, se->keylen)))
		return rv;
	return 0;
}

void agent_source_forget(struct agent_store *s, uint32_t idx)
{
	if (idx >= s->r.nsrc || s->r.src[idx]->nser)
		return;
	uint32_t last = s->r.nsrc - 1;
	struct agent_source *c = s->r.src[idx];
	mb_htab_remove(&s->r.cidx, name_hash(c->name), idx);
	if (idx != last) {
		struct agent_source *m = s->r.src[last];
		mb_htab_replace(&s->r.cidx, name_hash(m->name), last, idx);
		s->r.src[idx] = m;
		for (uint32_t i = 0; i < m->nser; i++)
			s->r.ser[m->ser[i]]->src = idx;
	}
	s->r.nsrc--;
	source_free(c);
}

bool agent_series_live(const struct agent_store *s, const struct agent_series *se, int64_t now)
{
	return se->committed && se->last_ms > 0 && now - se->last_ms <= s->o.live_ms;
}

bool agent_source_live(const struct agent_store *s, const struct agent_source *c, int64_t now)
{
	/* A stopped container stays for --container-ttl after its last point, as DC/OS kept
	 * it: `dcos task metrics details` right after a task failed still finds it. */
	int64_t ttl = c->stopped ? s->o.container_ttl_ms : s->o.live_ms;
	for (uint32_t i = 0; i < c->nser; i++) {
		const struct agent_series *se = s->r.ser[c->ser[i]];
		if (agent_series_live(s, se, now) && now - se->last_ms <= ttl)
			return true;
	}
	return false;
}

/* Finds a series' newest point at the finest level near now (its persisted last_ms may lag
 * by up to the persist interval). */
static void refine_last(struct agent_store *s, MDB_txn *t, struct agent_series *se, int64_t now)
{
	const struct agent_geom *g = &s->geom[0];
	int lay = agent_layout(se->kind, 0);
	int w = agent_layout_width(lay);
	uint32_t cps = g->cps[lay];
	/* The persisted time lags by less than the persist interval (10 min): a series older
	 * than that cannot be live, and its listing time may be that much early. */
	if (se->last_ms + 600000 < now - s->o.live_ms)
		return;
	int64_t from = se->last_ms;
	if (from < now - s->o.live_ms - 3600000)
		from = now - s->o.live_ms - 3600000;
	int64_t lo = (from - 1) / g->res_ms / cps, hi = (now + 3600000) / g->res_ms / cps;
	if (lo < 0)
		lo = 0;
	for (int64_t ac = hi; ac >= lo; ac--) {
		uint8_t k[AGENT_KEY_LEN];
		agent_key(k, 0, agent_ring(&s->geom[0], lay, ac), se->id);
		MDB_val kv = {sizeof k, k}, v;
		if (mdb_get(t, s->e.db_chunk[0], &kv, &v) != 0 ||
		    v.mv_size != AGENT_CHUNK_HDR + cps * w * sizeof(double) ||
		    agent_be64(v.mv_data) != (uint64_t)ac)
			continue;
		for (int i = (int)cps - 1; i >= 0; i--) {
			double d;
			memcpy(&d, (const uint8_t *)v.mv_data + AGENT_CHUNK_HDR + (size_t)i * w * 8,
			       8);
			if (!isnan(d)) {
				int64_t end = ((ac * cps + i) + 1) * g->res_ms;
				if (end > se->last_ms)
					se->last_ms = end;
				return;
			}
		}
	}
}

int agent_registry_load(struct agent_store *s, MDB_txn *t)
{
	int rv = 0, mrv;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	if (mdb_cursor_open(t, s->e.db_sources, &cur) != 0)
		return MB_ESYS;
	for (mrv = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrv == 0;
	     mrv = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char name[MB_MAX_NAME + 1];
		uint32_t idx;
		if (k.mv_size == 0 || k.mv_size > MB_MAX_NAME)
			continue;
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = 0;
		if ((rv = agent_source_add(s, name, &idx)) != 0)
			goto out;
		if (source_decode(s->r.src[idx], v.mv_data, v.mv_size) != 0)
			mb_log_warnx("store: source %s: unreadable record, dimensions dropped",
			             name);
		s->r.src[idx]->committed = true;
		/* Only agentd's own batches may name a reserved source (commit.c): so a stored
		 * one is agentd's. */
		s->r.src[idx]->own = agent_source_reserved(name);
	}
	mdb_cursor_close(cur);
	if ((rv = mdb_cursor_open(t, s->e.db_series, &cur)) != 0)
		return MB_ESYS;
	int64_t now = agent_store_now();
	for (mrv = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrv == 0;
	     mrv = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || v.mv_size < 12)
			continue;
		uint64_t id = agent_be64(k.mv_data);
		const uint8_t *p = v.mv_data;
		const char *key = (const char *)p + 9;
		size_t keylen = v.mv_size - 9;
		const char *z = memchr(key, 0, keylen);
		if (!z)
			continue;
		int si = agent_source_find(s, key);
		if (si < 0) {
			uint32_t idx;
			if ((rv = agent_source_add(s, key, &idx)) != 0)
				goto out;
			s->r.src[idx]->committed = true;
			s->r.src[idx]->own = agent_source_reserved(key);
			si = (int)idx;
		}
		/* Ids of forgotten series are holes: free for reuse. */
		if (id == 0 || id > UINT32_MAX || id <= s->r.nser)
			continue;
		while (s->r.nser + 1 < id) {
			if ((rv = mb_grow(&s->r.ser, &s->r.capser, (size_t)s->r.nser + 1,
			                  sizeof *s->r.ser, 1024)) != 0)
				goto out;
			s->r.ser[s->r.nser] = &agent_dead;
			if ((rv = free_push(s, s->r.nser)) != 0)
				goto out;
			s->r.nser++;
		}
		struct agent_series *se =
		    series_new(key, keylen, mb_hash64(key, keylen), id, (uint32_t)si);
		if (!se || series_place(s, (uint32_t)(id - 1), se) != 0) {
			mb_log_warnx("store: series %llu: unreadable record",
			             (unsigned long long)id);
			free(se);
			if (s->r.nser < id) { /* keep index = id - 1 for the next ones */
				s->r.ser[s->r.nser] = &agent_dead;
				if ((rv = free_push(s, s->r.nser)) != 0)
					goto out;
				s->r.nser++;
			}
			continue;
		}
		se->committed = true;
		se->last_ms = se->persisted_ms = (int64_t)agent_be64(p + 1);
		refine_last(s, t, se, now);
		s->r.src[si]->nseries_committed++;
	}
	mdb_cursor_close(cur);
	if ((rv = mdb_cursor_open(t, s->e.db_seq, &cur)) != 0)
		return MB_ESYS;
	for (mrv = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrv == 0;
	     mrv = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || v.mv_size != 8)
			continue;
		struct agent_seqent *e = agent_seq_find(s, agent_be64(k.mv_data), true);
		if (!e) {
			rv = MB_ENOMEM;
			goto out;
		}
		e->seq = agent_be64(v.mv_data);
		e->last_ms = now;
	}
out:
	mdb_cursor_close(cur);
	return rv;
}

void agent_registry_free(struct agent_store *s)
{
	for (uint32_t i = 0; i < s->r.nser; i++)
		if (s->r.ser[i] != &agent_dead)
			free(s->r.ser[i]);
	s->r.nser = 0;
	free(s->r.freeser);
	free(s->r.added);
	while (s->r.nsrc)
		agent_source_pop(s);
	free(s->r.ser);
	mb_htab_free(&s->r.sidx);
	free(s->r.src);
	mb_htab_free(&s->r.cidx);
	agent_seq_free(s);
}
