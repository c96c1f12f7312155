/* batch.c: batches agentd builds for itself (node and self metrics), strings and arrays in
 * the batch's own arena, handed to the writer like a shim's. */
#include <stdlib.h>
#include <string.h>

#include "agentd.h"

struct mb_batch *agent_batch_new(const char *container_id, uint64_t instance, uint64_t seq,
                                 int64_t time_ms, int64_t interval_ms)
{
	struct mb_batch *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->version = MB_SCHEMA_VERSION;
	b->instance = instance;
	b->seq = seq;
	b->time_ms = time_ms;
	if (interval_ms < 1)
		interval_ms = 1;
	if (interval_ms > 86400000)
		interval_ms = 86400000;
	b->interval_ms = (uint32_t)interval_ms;
	b->container_id = mb_arena_strndup(&b->arena, container_id, strlen(container_id));
	if (!b->container_id) {
		free(b);
		return NULL;
	}
	return b;
}

/* Arrays grow by doubling inside the arena; the old copies stay until the batch is freed,
 * which costs at most as much again. */
static void *grow(struct mb_arena *a, void *old, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return old;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *p = mb_arena_alloc(a, ncap * size);
	if (!p)
		return NULL;
	if (old)
		memcpy(p, old, n * size);
	*cap = ncap;
	return p;
}

/* The capacity grow() gave an array of n elements: 0, then 16, 32, 64... */
static size_t cap_for(size_t n)
{
	size_t c = 16;
	if (n == 0)
		return 0;
	while (c < n)
		c *= 2;
	return c;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mb_kv *)a)->key, ((const struct mb_kv *)b)->key);
}

int agent_batch_dim(struct mb_batch *b, const char *key, const char *val)
{
	size_t cap = cap_for(b->ndims);
	if (b->ndims >= MB_MAX_DIMS)
		return MB_ETOOBIG;
	struct mb_kv *d = grow(&b->arena, b->dims, b->ndims, &cap, sizeof *d);
	if (!d)
		return MB_ENOMEM;
	b->dims = d;
	d[b->ndims].key = mb_arena_strndup(&b->arena, key, strlen(key));
	d[b->ndims].val = mb_arena_strndup(&b->arena, val ? val : "", val ? strlen(val) : 0);
	if (!d[b->ndims].key || !d[b->ndims].val)
		return MB_ENOMEM;
	b->ndims++;
	return 0;
}

int agent_batch_add(struct mb_batch *b, int kind, const char *name, double value, int ntags,
                    const struct mb_kv *tags)
{
	size_t cap = cap_for(b->nrecords);
	if (b->nrecords >= MB_MAX_RECORDS)
		return MB_ETOOBIG;
	struct mb_record *r = grow(&b->arena, b->records, b->nrecords, &cap, sizeof *r);
	if (!r)
		return MB_ENOMEM;
	b->records = r;
	r = &b->records[b->nrecords];
	memset(r, 0, sizeof *r);
	r->kind = (uint8_t)kind;
	r->value = value;
	if (!(r->name = mb_arena_strndup(&b->arena, name, strlen(name))))
		return MB_ENOMEM;
	if (ntags > 0) {
		r->tags = mb_arena_alloc(&b->arena, (size_t)ntags * sizeof *r->tags);
		if (!r->tags)
			return MB_ENOMEM;
		for (int i = 0; i < ntags; i++) {
			r->tags[i].key = mb_arena_strndup(&b->arena, tags[i].key, strlen(tags[i].key));
			r->tags[i].val = mb_arena_strndup(&b->arena, tags[i].val, strlen(tags[i].val));
			if (!r->tags[i].key || !r->tags[i].val)
				return MB_ENOMEM;
		}
		qsort(r->tags, (size_t)ntags, sizeof *r->tags, kv_cmp);
		r->ntags = (uint16_t)ntags;
	}
	b->nrecords++;
	return 0;
}

void agent_batch_destroy(struct mb_batch *b)
{
	if (!b)
		return;
	mb_arena_free(&b->arena);
	free(b);
}
