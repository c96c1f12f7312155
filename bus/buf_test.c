/* buf_test.c: mb_buf growth and reset, and the arena's alignment, zeroing and big blocks. */
#include "mb.h"
#include "../tests/unit/mbtest.h"

#include <stdint.h>
#include <stdlib.h>

MB_TEST(buf_append_grows_and_keeps_bytes)
{
	struct mb_buf b = {0};
	CHECK_EQ_INT(mb_buf_append(&b, "", 0), 0);
	CHECK_EQ_INT(b.len, 0);
	for (int i = 0; i < 10000; i++) {
		unsigned char c = (unsigned char)i;
		CHECK_EQ_INT(mb_buf_append(&b, &c, 1), 0);
	}
	CHECK_EQ_INT(b.len, 10000);
	CHECK(b.cap >= b.len);
	int bad = 0;
	for (int i = 0; i < 10000; i++)
		bad += b.data[i] != (unsigned char)i;
	CHECK_EQ_INT(bad, 0);
	size_t cap = b.cap;
	mb_buf_reset(&b);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_INT(b.cap, cap);
	CHECK_EQ_INT(mb_buf_append(&b, "xyz", 3), 0);
	CHECK(memcmp(b.data, "xyz", 3) == 0);
	mb_buf_free(&b);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	mb_buf_free(&b); /* twice is harmless */
}

MB_TEST(buf_append_refuses_overflow_unchanged)
{
	struct mb_buf b = {0};
	CHECK_EQ_INT(mb_buf_append(&b, "ab", 2), 0);
	CHECK_EQ_INT(mb_buf_append(&b, "x", SIZE_MAX), MB_ENOMEM);
	CHECK_EQ_INT(b.len, 2);
	CHECK(memcmp(b.data, "ab", 2) == 0);
	mb_buf_free(&b);
}

MB_TEST(buf_reserve_makes_room_and_keeps_bytes)
{
	struct mb_buf b = {0};
	CHECK_EQ_INT(mb_buf_reserve(&b, 0), 0);
	CHECK_EQ_INT(mb_buf_append(&b, "ab", 2), 0);
	CHECK_EQ_INT(mb_buf_reserve(&b, 5000), 0);
	CHECK(b.cap - b.len >= 5000);
	CHECK_EQ_INT(b.len, 2);
	CHECK(memcmp(b.data, "ab", 2) == 0);
	size_t cap = b.cap;
	CHECK_EQ_INT(mb_buf_reserve(&b, 100), 0); /* room already there: no move */
	CHECK_EQ_INT(b.cap, cap);
	CHECK_EQ_INT(mb_buf_reserve(&b, SIZE_MAX), MB_ENOMEM);
	CHECK_EQ_INT(b.cap, cap);
	CHECK_EQ_INT(b.len, 2);
	mb_buf_free(&b);
}

MB_TEST(arena_alignment_zeroing_and_strings)
{
	struct mb_arena a = {0};
	for (size_t n = 0; n < 3000; n += 7) {
		unsigned char *p = mb_arena_alloc(&a, n);
		CHECK(p != NULL);
		if (!p)
			break;
		CHECK_EQ_INT((uintptr_t)p % 16, 0);
		int nonzero = 0;
		for (size_t i = 0; i < n; i++)
			nonzero += p[i] != 0;
		CHECK_EQ_INT(nonzero, 0);
		memset(p, 0xab, n); /* must not clobber other allocations */
	}
	char *s = mb_arena_strndup(&a, "hello world", 5);
	CHECK_STR(s, "hello");
	char *e = mb_arena_strndup(&a, NULL, 0);
	CHECK_STR(e, "");
	mb_arena_free(&a);
	CHECK(a.head == NULL);
	mb_arena_free(&a);
}

MB_TEST(arena_big_blocks_and_small_ones_interleave)
{
	struct mb_arena a = {0};
	char *small1 = mb_arena_strndup(&a, "first", 5);
	unsigned char *big = mb_arena_alloc(&a, 1 << 20);
	char *small2 = mb_arena_strndup(&a, "second", 6);
	CHECK(big != NULL);
	if (big) {
		memset(big, 0x5a, 1 << 20);
		CHECK_EQ_INT(big[(1 << 20) - 1], 0x5a);
	}
	CHECK_STR(small1, "first");
	CHECK_STR(small2, "second");
	/* Small ones after the big one still come out of the current block. */
	CHECK((size_t)(small2 - small1) < 8192);
	CHECK(mb_arena_alloc(&a, SIZE_MAX) == NULL);
	CHECK(mb_arena_alloc(&a, SIZE_MAX - 8) == NULL);
	mb_arena_free(&a);
}
