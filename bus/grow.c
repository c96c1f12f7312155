/* grow.c: mb_grow, the one grow-by-doubling helper behind every growable array, and mb_htab,
 * the one hash table (64-bit hashes to 32-bit indexes; the caller keeps the entries). */
#include "mb.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int mb_grow(void *pp, size_t *cap, size_t n, size_t sz, size_t min)
{
	if (n <= *cap)
		return 0;
	size_t nc = *cap ? *cap : (min ? min : 16);
	while (nc < n) {
		if (nc > SIZE_MAX / 2)
			return MB_ENOMEM;
		nc *= 2;
	}
	if (sz && nc > SIZE_MAX / sz)
		return MB_ENOMEM;
	void **p = pp;
	void *q = realloc(*p, nc * sz);
	if (!q)
		return MB_ENOMEM;
	*p = q;
	*cap = nc;
	return 0;
}

static void slot_put(struct mb_hslot *s, uint32_t mask, uint32_t h, uint32_t v1)
{
	uint32_t i = h & mask;
	while (s[i].v1)
		i = (i + 1) & mask;
	s[i].h = h;
	s[i].v1 = v1;
}

int mb_htab_reserve(struct mb_htab *t, uint32_t n)
{
	uint32_t cap = t->slot ? t->mask + 1 : 0;
	if (n <= cap / 2)
		return 0;
	if (n > UINT32_MAX / 4)
		return MB_ENOMEM;
	uint32_t nc = cap ? cap : 64;
	while (n > nc / 2)
		nc *= 2;
	struct mb_hslot *s = calloc(nc, sizeof *s);
	if (!s)
		return MB_ENOMEM;
	for (uint32_t i = 0; i < cap; i++)
		if (t->slot[i].v1)
			slot_put(s, nc - 1, t->slot[i].h, t->slot[i].v1);
	free(t->slot);
	t->slot = s;
	t->mask = nc - 1;
	return 0;
}

int mb_htab_insert(struct mb_htab *t, uint64_t hash, uint32_t val)
{
	int rv;
	if (val == UINT32_MAX)
		return MB_EINVAL;
	if ((rv = mb_htab_reserve(t, t->n + 1)) != 0)
		return rv;
	slot_put(t->slot, t->mask, mb_htab_h32(hash), val + 1);
	t->n++;
	return 0;
}

static uint32_t slot_of(const struct mb_htab *t, uint64_t hash, uint32_t val)
{
	uint32_t h = mb_htab_h32(hash), i = h & t->mask;
	for (; t->slot[i].v1; i = (i + 1) & t->mask)
		if (t->slot[i].h == h && t->slot[i].v1 == val + 1)
			return i;
	return UINT32_MAX;
}

int mb_htab_remove(struct mb_htab *t, uint64_t hash, uint32_t val)
{
	if (!t->slot)
		return MB_EINVAL;
	uint32_t p = slot_of(t, hash, val), mask = t->mask;
	if (p == UINT32_MAX)
		return MB_EINVAL;
	/* Backward-shift deletion: no tombstones, every probe chain stays unbroken. */
	struct mb_hslot *s = t->slot;
	for (uint32_t j = p;;) {
		j = (j + 1) & mask;
		if (!s[j].v1)
			break;
		uint32_t k = s[j].h & mask;
		bool stays = p <= j ? (k > p && k <= j) : (k > p || k <= j);
		if (!stays) {
			s[p] = s[j];
			p = j;
		}
	}
	s[p].v1 = 0;
	s[p].h = 0;
	t->n--;
	return 0;
}

int mb_htab_replace(struct mb_htab *t, uint64_t hash, uint32_t val, uint32_t nval)
{
	if (!t->slot || nval == UINT32_MAX)
		return MB_EINVAL;
	uint32_t p = slot_of(t, hash, val);
	if (p == UINT32_MAX)
		return MB_EINVAL;
	t->slot[p].v1 = nval + 1;
	return 0;
}

void mb_htab_clear(struct mb_htab *t)
{
	if (t->slot)
		memset(t->slot, 0, ((size_t)t->mask + 1) * sizeof *t->slot);
	t->n = 0;
}

void mb_htab_free(struct mb_htab *t)
{
	free(t->slot);
	memset(t, 0, sizeof *t);
}
