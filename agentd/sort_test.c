/* sort_test.c: sort.c's keyed sort against a comparison sort: order by key, ties in their
 * original order, elements of any size moved whole, keys alike or differing in any byte. */
#include <stdlib.h>
#include <string.h>

#include "wbuf.h"
#include "../tests/unit/mbtest.h"

struct el {
	uint64_t key;
	uint32_t pos;
	char pad[21];
};

static int cmp_el(const void *a, const void *b)
{
	const struct el *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void one(size_t n, uint64_t mask, unsigned seed)
{
	struct el *e = calloc(n, sizeof *e), *want = calloc(n, sizeof *e);
	uint64_t *keys = calloc(n, sizeof *keys);
	struct agent_sortbuf sb = {0};
	srand(seed);
	for (size_t i = 0; i < n; i++) {
		uint64_t r = (uint64_t)rand() << 40 ^ (uint64_t)rand() << 20 ^ (uint64_t)rand();
		e[i].key = keys[i] = r & mask;
		e[i].pos = (uint32_t)i;
		memset(e[i].pad, (int)(i % 251), sizeof e[i].pad);
	}
	memcpy(want, e, n * sizeof *e);
	qsort(want, n, sizeof *want, cmp_el);
	CHECK_EQ_INT(agent_sort_keyed(e, n, sizeof *e, keys, &sb), 0);
	CHECK(memcmp(e, want, n * sizeof *e) == 0);
	agent_sortbuf_free(&sb);
	free(keys);
	free(want);
	free(e);
}

MB_TEST(sort_keyed_is_stable_and_total)
{
	one(0, ~0ull, 1);
	one(1, ~0ull, 2);
	one(1000, 0, 3);                    /* all alike: the order kept */
	one(5000, 0xf, 4);                  /* many ties */
	one(20000, ~0ull, 5);               /* every byte differs somewhere */
	one(20000, 0xe00000ffff000000ull, 6); /* only a few bytes differ */
}
