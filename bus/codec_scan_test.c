/* codec_scan_test.c: mb_unpack's tree is msgpack-c's own, object for object, for random
 * messages of every msgpack type and size form; bad messages are refused before any tree. */
#include "codec.h"
#include "../tests/unit/mbtest.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rng = MBT_SEED;
static uint64_t rnd(void)
{
	return mbt_rand(&rng);
}

/* A random object of depth <= d, each size form reachable. */
static void gen(msgpack_packer *pk, int d)
{
	static const char s[70000] = {0};
	static const uint64_t lens[] = {0, 1, 31, 32, 255, 256, 65535, 65536};
	switch (rnd() % (d > 0 ? 12 : 9)) {
	case 0: msgpack_pack_nil(pk); break;
	case 1: rnd() & 1 ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
	case 2: msgpack_pack_uint64(pk, rnd() >> (rnd() % 64)); break;
	case 3: msgpack_pack_int64(pk, -(int64_t)(rnd() >> (1 + rnd() % 63))); break;
	case 4: { /* signed formats holding values >= 0 */
		unsigned char b[3] = {0xd1, 0, (unsigned char)(rnd() % 128)};
		msgpack_pack_str_body(pk, b, 3); /* raw bytes: int16 0..127 */
		break;
	}
	case 5: msgpack_pack_float(pk, (float)(rnd() % 1000) / 7.0f); break;
	case 6: msgpack_pack_double(pk, (double)rnd() / 3.0); break;
	case 7: {
		size_t n = lens[rnd() % (sizeof lens / sizeof lens[0])];
		msgpack_pack_str(pk, n);
		msgpack_pack_str_body(pk, s, n);
		break;
	}
	case 8: {
		size_t n = lens[rnd() % 7];
		msgpack_pack_bin(pk, n);
		msgpack_pack_bin_body(pk, s, n);
		break;
	}
	case 9: case 10: {
		size_t n = rnd() % 5 == 0 ? 16 + rnd() % 20 : rnd() % 4;
		msgpack_pack_array(pk, n);
		for (size_t i = 0; i < n; i++)
			gen(pk, d - 1);
		break;
	}
	default: {
		size_t n = rnd() % 5 == 0 ? 16 + rnd() % 3 : rnd() % 4;
		msgpack_pack_map(pk, n);
		for (size_t i = 0; i < 2 * n; i++)
			gen(pk, d - 1);
		break;
	}
	}
}

MB_TEST(unpack_builds_msgpack_c_s_tree)
{
	for (int t = 0; t < 400; t++) {
		struct mb_buf b = {0};
		msgpack_packer pk;
		mb_wr_init(&pk, &b);
		gen(&pk, 1 + t % 5);
		msgpack_unpacked ours, ref;
		char err[128];
		CHECK_EQ_INT(mb_unpack(b.data, b.len, SIZE_MAX, &ours, err, sizeof err), 0);
		msgpack_unpacked_init(&ref);
		size_t off = 0;
		CHECK(msgpack_unpack_next(&ref, (const char *)b.data, b.len, &off) ==
		      MSGPACK_UNPACK_SUCCESS);
		CHECK_EQ_INT(off, b.len);
		CHECK(msgpack_object_equal(ours.data, ref.data));
		msgpack_unpacked_destroy(&ours);
		msgpack_unpacked_destroy(&ref);
		mb_buf_free(&b);
	}
}

MB_TEST(unpack_refuses_before_building)
{
	msgpack_unpacked u;
	char err[128];
	const uint8_t deep[20] = {0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
	                          0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0xc0};
	CHECK_EQ_INT(mb_unpack(deep, sizeof deep, 100, &u, err, sizeof err), MB_EINVAL);
	const uint8_t big_count[5] = {0xdd, 0xff, 0xff, 0xff, 0xff};
	CHECK_EQ_INT(mb_unpack(big_count, 5, 100, &u, err, sizeof err), MB_EINVAL);
	const uint8_t trailing[2] = {0xc0, 0xc0};
	CHECK_EQ_INT(mb_unpack(trailing, 2, 100, &u, err, sizeof err), MB_EINVAL);
	const uint8_t ext[3] = {0xd4, 1, 2};
	CHECK_EQ_INT(mb_unpack(ext, 3, 100, &u, err, sizeof err), MB_EINVAL);
	const uint8_t empty_map[1] = {0x80};
	CHECK_EQ_INT(mb_unpack(empty_map, 1, 100, &u, err, sizeof err), 0);
	CHECK(u.data.type == MSGPACK_OBJECT_MAP && u.data.via.map.size == 0);
	msgpack_unpacked_destroy(&u);
}

MB_TEST(unpack_top_leaves_long_top_arrays_to_be_read_one_by_one)
{
	/* {"a": [0..99 as [i, "x"]], "b": [1, 2], "c": {"d": [0..99]}} */
	struct mb_buf b = {0};
	msgpack_packer pk;
	mb_wr_init(&pk, &b);
	msgpack_pack_map(&pk, 3);
	mb_wr_raw_str(&pk, "a", 1);
	msgpack_pack_array(&pk, 100);
	for (int i = 0; i < 100; i++) {
		msgpack_pack_array(&pk, 2);
		msgpack_pack_int(&pk, i);
		mb_wr_raw_str(&pk, "x", 1);
	}
	mb_wr_raw_str(&pk, "b", 1);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_int(&pk, 2);
	mb_wr_raw_str(&pk, "c", 1);
	msgpack_pack_map(&pk, 1);
	mb_wr_raw_str(&pk, "d", 1);
	msgpack_pack_array(&pk, 100);
	for (int i = 0; i < 100; i++)
		msgpack_pack_int(&pk, i);
	msgpack_unpacked full, top;
	char err[128];
	CHECK_EQ_INT(mb_unpack(b.data, b.len, SIZE_MAX, &full, err, sizeof err), 0);
	CHECK_EQ_INT(mb_unpack_top(b.data, b.len, SIZE_MAX, 64, &top, err, sizeof err), 0);
	const msgpack_object_kv *kv = top.data.via.map.ptr, *fkv = full.data.via.map.ptr;
	CHECK(kv[0].val.type == MSGPACK_OBJECT_EXT); /* "a": lazy */
	CHECK(msgpack_object_equal(kv[1].val, fkv[1].val)); /* "b": short, built */
	CHECK(msgpack_object_equal(kv[2].val, fkv[2].val)); /* "c": deeper arrays built */
	struct mb_arena ar = {0};
	struct mb_dec d = {&ar, err, sizeof err, 0, 0};
	struct mb_elems it;
	CHECK_EQ_INT(mb_rd_elems(&d, &kv[0].val, "", "a", 0, 100, &it), 0);
	CHECK_EQ_INT(it.n, 100);
	int same = 0;
	const msgpack_object *el;
	for (uint32_t i = 0; (el = mb_elems_next(&it)) != NULL; i++)
		same += msgpack_object_equal(*el, fkv[0].val.via.array.ptr[i]);
	CHECK_EQ_INT(same, 100);
	mb_elems_done(&it);
	CHECK_EQ_INT(mb_rd_elems(&d, &kv[0].val, "", "a", 0, 99, &it), MB_EINVAL);
	CHECK(strstr(err, "100 elements") != NULL);
	CHECK_EQ_INT(mb_rd_elems(&d, &kv[1].val, "", "b", 0, 9, &it), 0); /* built: the same */
	CHECK_EQ_INT(it.n, 2);
	CHECK((el = mb_elems_next(&it)) != NULL && el->via.u64 == 1);
	CHECK((el = mb_elems_next(&it)) != NULL && el->via.u64 == 2);
	CHECK(mb_elems_next(&it) == NULL);
	mb_elems_done(&it);
	mb_arena_free(&ar);
	msgpack_unpacked_destroy(&full);
	msgpack_unpacked_destroy(&top);
	mb_buf_free(&b);
}

MB_TEST(reply_decode_names_the_bad_element_of_a_long_array)
{
	struct mb_point pts[100];
	for (int i = 0; i < 100; i++)
		pts[i] = (struct mb_point){.name = "n", .value = i, .unit = "", .time_ms = 1};
	struct mb_reply r = {.version = 1, .status = 200, .op = MB_OP_APP, .points = pts,
	                     .npoints = 100};
	struct mb_buf b = {0};
	CHECK_EQ_INT(mb_reply_encode(&r, &b), 0);
	struct mb_reply out;
	char err[256];
	CHECK_EQ_INT(mb_reply_decode(b.data, b.len, MB_OP_APP, &out, err, sizeof err), 0);
	CHECK_EQ_INT(out.npoints, 100);
	CHECK(out.points[99].value == 99);
	mb_reply_free(&out);
	/* point 70's value made a string, in place: the same size (0xcb + 8 -> fixstr of 8) */
	uint8_t *w = b.data;
	size_t seen = 0, at = 0;
	for (size_t i = 0; i + 9 <= b.len; i++)
		if (w[i] == 0xcb && seen++ == 70) {
			at = i;
			break;
		}
	CHECK(at > 0);
	w[at] = 0xa8;
	memset(w + at + 1, 'x', 8);
	CHECK_EQ_INT(mb_reply_decode(b.data, b.len, MB_OP_APP, &out, err, sizeof err), MB_EINVAL);
	CHECK_STR(err, "pts[70].value: not a number");
	mb_buf_free(&b);
}
