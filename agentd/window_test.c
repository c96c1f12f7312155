/* window_test.c: window geometry alone (no LMDB): ring sizes per layout, ring addressing
 * from the epoch, key byte order, and the stored sketch codec's round trip and refusals. */
#include <string.h>

#include "window.h"
#include "../tests/unit/mbtest.h"

MB_TEST(window_geometry_rings_cover_the_span)
{
	struct mb_level lv[2] = {{10000, 6 * 3600000LL}, {60000, 7 * 86400000LL}};
	struct agent_geom g[2];
	memset(g, 0, sizeof g);
	CHECK_EQ_INT(agent_geom_init(g, lv, 2), 0);
	CHECK_EQ_INT(g[0].cps[LAY_ONE], 64);
	CHECK_EQ_INT(g[0].cps[LAY_TIMER5], 32);
	/* 2,160 slots: 34 chunks of 64 cover them, plus the one being reset. */
	CHECK_EQ_INT(g[0].nchunks[LAY_ONE], 35);
	CHECK_EQ_INT(g[0].nchunks[LAY_TIMER5], 69);
	CHECK_EQ_INT(g[0].ring_slots, 35 * 64);
	struct mb_level bad = {10000, 5000};
	CHECK_EQ_INT(agent_geom_init(g, &bad, 1), MB_EINVAL);
}

MB_TEST(window_ring_starts_at_the_epoch_and_wraps)
{
	struct mb_level lv = {10000, 6 * 3600000LL};
	struct agent_geom g;
	memset(&g, 0, sizeof g);
	CHECK_EQ_INT(agent_geom_init(&g, &lv, 1), 0);
	g.epoch_slot = 64 * 1000 + 5;
	CHECK_EQ_INT(agent_ring(&g, LAY_ONE, 1000), 0);
	CHECK_EQ_INT(agent_ring(&g, LAY_ONE, 1034), 34);
	CHECK_EQ_INT(agent_ring(&g, LAY_ONE, 1035), 0);
	CHECK_EQ_INT(agent_ring(&g, LAY_ONE, 999), 34); /* before the epoch: still in range */
}

MB_TEST(window_keys_sort_by_level_then_chunk_then_series)
{
	uint8_t a[AGENT_KEY_LEN], b[AGENT_KEY_LEN], c[AGENT_KEY_LEN];
	agent_key(a, 0, 1, 0xffffffffull);
	agent_key(b, 0, 2, 1);
	agent_key(c, 1, 0, 1);
	CHECK(memcmp(a, b, AGENT_KEY_LEN) < 0);
	CHECK(memcmp(b, c, AGENT_KEY_LEN) < 0);
	CHECK(agent_be64(a + 5) == 0xffffffffull);
	CHECK_EQ_INT(agent_be32(b + 1), 2);
}

MB_TEST(window_layouts_and_empty_slots)
{
	CHECK_EQ_INT(agent_layout(MB_COUNTER, 2), LAY_ONE);
	CHECK_EQ_INT(agent_layout(MB_GAUGE, 0), LAY_ONE);
	CHECK_EQ_INT(agent_layout(MB_GAUGE, 1), LAY_GAUGE5);
	CHECK_EQ_INT(agent_layout_width(LAY_TIMER5), 5);
	double sl[1] = {agent_nan()};
	CHECK(agent_slot_empty(sl));
	sl[0] = 0;
	CHECK(!agent_slot_empty(sl));
}

MB_TEST(window_sketch_codec_round_trips)
{
	struct mb_sketch sk = {0}, back;
	for (int i = 1; i <= 1000; i++)
		CHECK_EQ_INT(mb_sketch_add(&sk, (i % 2 ? 1 : -1) * (double)i, 1), 0);
	CHECK_EQ_INT(mb_sketch_add(&sk, 0, 3), 0);
	struct mb_buf b = {0};
	CHECK_EQ_INT(agent_sketch_enc(&sk, &b), 0);
	CHECK_EQ_INT(agent_sketch_dec(b.data, b.len, &back), 0);
	double q1, q2;
	CHECK_EQ_INT(mb_sketch_quantile(&sk, 0.9, &q1), 0);
	CHECK_EQ_INT(mb_sketch_quantile(&back, 0.9, &q2), 0);
	CHECK(q1 == q2);
	CHECK_EQ_INT(back.zero, 3);
	mb_sketch_free(&back);
	CHECK_EQ_INT(agent_sketch_dec(b.data, b.len - 1, &back), MB_EINVAL); /* truncated */
	mb_sketch_free(&sk);
	mb_buf_free(&b);
}
