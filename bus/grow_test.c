/* grow_test.c: mb_grow's doubling and overflow refusal; mb_htab's lookups through collisions,
 * removal without tombstones, replacement and growth, checked against a plain array. */
#include "mb.h"
#include "../tests/unit/mbtest.h"

#include <stdint.h>
#include <stdlib.h>

MB_TEST(grow_doubles_from_min_and_keeps_contents)
{
	int *a = NULL;
	size_t cap = 0;
	CHECK_EQ_INT(mb_grow(&a, &cap, 1, sizeof *a, 4), 0);
	CHECK_EQ_INT(cap, 4);
	for (int i = 0; i < 4; i++)
		a[i] = i;
	CHECK_EQ_INT(mb_grow(&a, &cap, 4, sizeof *a, 4), 0);
	CHECK_EQ_INT(cap, 4); /* fits: unchanged */
	CHECK_EQ_INT(mb_grow(&a, &cap, 9, sizeof *a, 4), 0);
	CHECK_EQ_INT(cap, 16);
	CHECK(a[0] == 0 && a[3] == 3);
	free(a);
}

MB_TEST(grow_refuses_overflow_unchanged)
{
	char *a = NULL;
	size_t cap = 0;
	CHECK_EQ_INT(mb_grow(&a, &cap, 10, 1, 0), 0);
	CHECK_EQ_INT(cap, 16);
	char *keep = a;
	CHECK_EQ_INT(mb_grow(&a, &cap, SIZE_MAX, 1, 0), MB_ENOMEM);
	CHECK_EQ_INT(mb_grow(&a, &cap, SIZE_MAX / 4, 8, 0), MB_ENOMEM);
	CHECK(a == keep);
	CHECK_EQ_INT(cap, 16);
	free(a);
}

static int htab_count(const struct mb_htab *t, uint64_t h, uint32_t want)
{
	uint32_t pos = MB_HTAB_START, v;
	int n = 0;
	while (mb_htab_next(t, h, &pos, &v))
		n += v == want;
	return n;
}

MB_TEST(htab_finds_every_value_through_collisions)
{
	struct mb_htab t = {0};
	uint32_t pos = MB_HTAB_START, v;
	CHECK(!mb_htab_next(&t, 42, &pos, &v)); /* empty table */
	/* Few distinct hashes: long chains with many values per hash. */
	for (uint32_t i = 0; i < 5000; i++)
		CHECK_EQ_INT(mb_htab_insert(&t, mb_hash64(&(uint32_t){i % 37}, 4), i), 0);
	CHECK_EQ_INT(t.n, 5000);
	CHECK(t.mask + 1 >= 10000);
	int bad = 0;
	for (uint32_t i = 0; i < 5000; i++)
		bad += htab_count(&t, mb_hash64(&(uint32_t){i % 37}, 4), i) != 1;
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(mb_htab_insert(&t, 1, UINT32_MAX), MB_EINVAL);
	mb_htab_free(&t);
	CHECK(t.slot == NULL && t.n == 0);
}

MB_TEST(htab_remove_and_replace_keep_the_rest_reachable)
{
	struct mb_htab t = {0};
	enum { N = 20000 };
	static uint64_t h[N];
	static uint32_t val[N]; /* what each key maps to now; UINT32_MAX removed */
	for (uint32_t i = 0; i < N; i++) {
		h[i] = mb_hash64(&i, 4) & 0xffff0000ffffull; /* clustered homes */
		val[i] = i;
		CHECK_EQ_INT(mb_htab_insert(&t, h[i], i), 0);
	}
	for (uint32_t i = 0; i < N; i += 3) {
		CHECK_EQ_INT(mb_htab_remove(&t, h[i], i), 0);
		val[i] = UINT32_MAX;
	}
	CHECK_EQ_INT(mb_htab_remove(&t, h[0], 0), MB_EINVAL); /* already gone */
	for (uint32_t i = 1; i < N; i += 3) {
		CHECK_EQ_INT(mb_htab_replace(&t, h[i], i, i + N), 0);
		val[i] = i + N;
	}
	CHECK_EQ_INT(mb_htab_replace(&t, h[0], 0, 7), MB_EINVAL);
	int bad = 0;
	for (uint32_t i = 0; i < N; i++) {
		if (val[i] == UINT32_MAX)
			bad += htab_count(&t, h[i], i) != 0;
		else
			bad += htab_count(&t, h[i], val[i]) != 1;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(t.n, N - (N + 2) / 3);
	/* Cleared: empty, same slots, refilled without allocating. */
	struct mb_hslot *slots = t.slot;
	mb_htab_clear(&t);
	CHECK_EQ_INT(t.n, 0);
	CHECK_EQ_INT(htab_count(&t, h[1], 1 + N), 0);
	for (uint32_t i = 0; i < 100; i++)
		CHECK_EQ_INT(mb_htab_insert(&t, h[i], i), 0);
	CHECK(t.slot == slots);
	CHECK_EQ_INT(htab_count(&t, h[5], 5), 1);
	mb_htab_free(&t);
}
