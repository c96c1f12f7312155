/* hll_test.c: HyperLogLog estimates within 3 standard errors, merge equals union, and the
 * strict sparse/dense wire forms. */
#include "mb.h"
#include "../tests/unit/mbtest.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void fill(struct mb_hll *h, int from, int to)
{
	char m[32];
	for (int i = from; i < to; i++) {
		int n = snprintf(m, sizeof m, "member-%d", i);
		mb_hll_add(h, m, (size_t)n);
	}
}

MB_TEST(hll_estimate_within_3_stderr)
{
	const int sizes[] = {10, 1000, 100000};
	const double se = 1.04 / sqrt(MB_HLL_M);
	for (int k = 0; k < 3; k++) {
		struct mb_hll h = {{0}};
		fill(&h, 0, sizes[k]);
		double e = mb_hll_estimate(&h);
		if (fabs(e - sizes[k]) > 3 * se * sizes[k]) {
			fprintf(stderr, "  n=%d estimate %.1f\n", sizes[k], e);
			CHECK(0);
		}
		/* adding the same members again changes nothing */
		struct mb_hll again = h;
		fill(&again, 0, sizes[k]);
		CHECK(memcmp(&again, &h, sizeof h) == 0);
	}
	struct mb_hll empty = {{0}};
	CHECK(mb_hll_estimate(&empty) == 0);
}

MB_TEST(hll_merge_is_union)
{
	struct mb_hll a = {{0}}, b = {{0}}, u = {{0}};
	fill(&a, 0, 5000);
	fill(&b, 3000, 8000);
	fill(&u, 0, 8000);
	mb_hll_merge(&a, &b);
	CHECK(memcmp(&a, &u, sizeof a) == 0);
}

static void round_trip(const struct mb_hll *h, size_t want_len)
{
	struct mb_buf b = {0};
	struct mb_hll d;
	CHECK_EQ_INT(mb_hll_encode(h, &b), 0);
	CHECK_EQ_INT(b.len, want_len);
	CHECK_EQ_INT(mb_hll_decode(b.data, b.len, &d), 0);
	CHECK(memcmp(&d, h, sizeof d) == 0);
	mb_buf_free(&b);
}

MB_TEST(hll_wire_forms)
{
	struct mb_hll h = {{0}};
	round_trip(&h, 0);
	h.reg[0] = 1;
	h.reg[1023] = 55;
	round_trip(&h, 4);
	struct mb_buf b = {0};
	CHECK_EQ_INT(mb_hll_encode(&h, &b), 0);
	const uint8_t want[4] = {0x00, 0x01, 0xff, 0xf7};
	CHECK(memcmp(b.data, want, 4) == 0); /* big-endian (index << 6) | rank */
	mb_buf_free(&b);
	for (int i = 0; i < 510; i++) /* plus index 1023 */
		h.reg[i] = 3;
	round_trip(&h, 1022); /* 511 entries: still sparse */
	h.reg[600] = 2;
	round_trip(&h, 1024); /* 512 entries: dense is shorter */
}

MB_TEST(hll_strict_decode)
{
	struct mb_hll h;
	uint8_t dense[1024] = {0};
	CHECK_EQ_INT(mb_hll_decode(dense, 1024, &h), 0);
	dense[7] = 56;
	CHECK_EQ_INT(mb_hll_decode(dense, 1024, &h), MB_EINVAL);
	CHECK_EQ_INT(mb_hll_decode(dense, 1023, &h), MB_EINVAL);
	CHECK_EQ_INT(mb_hll_decode(dense, 3, &h), MB_EINVAL);
	uint8_t sp[4] = {0x00, 0x41, 0x00, 0x41}; /* index 1 twice */
	CHECK_EQ_INT(mb_hll_decode(sp, 4, &h), MB_EINVAL);
	uint8_t desc[4] = {0x00, 0x81, 0x00, 0x41}; /* 2 then 1 */
	CHECK_EQ_INT(mb_hll_decode(desc, 4, &h), MB_EINVAL);
	uint8_t r0[2] = {0x00, 0x40}; /* rank 0 */
	CHECK_EQ_INT(mb_hll_decode(r0, 2, &h), MB_EINVAL);
	uint8_t r56[2] = {0x00, 0x78}; /* rank 56 */
	CHECK_EQ_INT(mb_hll_decode(r56, 2, &h), MB_EINVAL);
	for (int i = 0; i < MB_HLL_M; i++)
		CHECK(h.reg[i] == 0); /* zeroed on failure */
}

MB_TEST(hll_rank_range)
{
	struct mb_hll h = {{0}};
	mb_hll_add_hash(&h, 0); /* index 0, all remaining bits zero: rank 55 */
	CHECK_EQ_INT(h.reg[0], 55);
	mb_hll_add_hash(&h, ~0ull); /* index 1023, first remaining bit set: rank 1 */
	CHECK_EQ_INT(h.reg[1023], 1);
	mb_hll_add_hash(&h, 1ull); /* index 0, lowest bit: 53 zeros then a one: rank 54 */
	CHECK_EQ_INT(h.reg[0], 55);
}
