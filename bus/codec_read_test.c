/* codec_read_test.c: the readers every decoder opens with (mb_dec_open: a newer "v" forgives
 * the map, nothing else does) and the fixed-tuple row readers (counts, sizes, errors). */
#include "codec.h"
#include "../tests/unit/mbtest.h"

#include <string.h>

static const char *const keys[] = {"v", "a"};

/* {"v": v, extra: 1} packed into b. */
static void pack_map(struct mb_buf *b, uint64_t v, const char *extra)
{
	msgpack_packer pk;
	mb_wr_init(&pk, b);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_uint64(&pk, v);
	msgpack_pack_str_with_body(&pk, extra, strlen(extra));
	msgpack_pack_uint64(&pk, 1);
}

MB_TEST(dec_open_forgives_only_a_newer_version)
{
	struct mb_arena arena = {0};
	char err[128] = "stale";
	struct mb_dec d = {&arena, err, sizeof err, 0, 0};
	const msgpack_object *f[2];
	msgpack_unpacked u;
	struct mb_buf b = {0};

	pack_map(&b, 1, "a");
	CHECK_EQ_INT(mb_dec_open(&d, b.data, b.len, MB_MAX_MSG, &u, "m", keys, 2, f), 0);
	CHECK_STR(err, "");
	CHECK(f[0] && f[1] && f[1]->via.u64 == 1);
	msgpack_unpacked_destroy(&u);

	b.len = 0;
	pack_map(&b, 1, "zz"); /* an unknown key in this version: an error */
	CHECK_EQ_INT(mb_dec_open(&d, b.data, b.len, MB_MAX_MSG, &u, "m", keys, 2, f), MB_EINVAL);
	CHECK(strstr(err, "unknown key") != NULL);
	msgpack_unpacked_destroy(&u);

	b.len = 0;
	pack_map(&b, MB_SCHEMA_VERSION + 1, "zz"); /* a newer one may have keys we do not know */
	CHECK_EQ_INT(mb_dec_open(&d, b.data, b.len, MB_MAX_MSG, &u, "m", keys, 2, f), 0);
	uint32_t v;
	CHECK_EQ_INT(mb_rd_version(&d, f[0], &v), MB_EVERSION);
	msgpack_unpacked_destroy(&u);

	/* not msgpack: *u is still safe to destroy */
	CHECK(mb_dec_open(&d, "\xc1", 1, MB_MAX_MSG, &u, "m", keys, 2, f) != 0);
	msgpack_unpacked_destroy(&u);
	mb_buf_free(&b);
	mb_arena_free(&arena);
}

MB_TEST(rows_and_tuples)
{
	struct mb_arena arena = {0};
	char err[128];
	struct mb_dec d = {&arena, err, sizeof err, 0, 0};
	struct mb_buf b = {0};
	msgpack_packer pk;
	msgpack_unpacked u;
	mb_wr_init(&pk, &b);
	msgpack_pack_array(&pk, 3); /* [[1,2],[3,4],[5]] */
	for (int i = 0; i < 3; i++) {
		msgpack_pack_array(&pk, i < 2 ? 2 : 1);
		for (int j = 0; j < (i < 2 ? 2 : 1); j++)
			msgpack_pack_uint64(&pk, (uint64_t)(2 * i + j + 1));
	}
	msgpack_unpacked_init(&u);
	CHECK_EQ_INT(mb_unpack(b.data, b.len, MB_MAX_MSG, &u, err, sizeof err), 0);

	struct mb_elems it;
	const msgpack_object *e;
	void *mem;
	CHECK_EQ_INT(mb_rd_rows(&d, &u.data, "pts", 0, 2, 8, &it, &mem), MB_EINVAL);
	CHECK_STR(err, "pts: 3 elements, want 0..2");
	mb_elems_done(&it);
	CHECK_EQ_INT(mb_rd_rows(&d, &u.data, "pts", 0, 10, 8, &it, &mem), 0);
	CHECK_EQ_INT(it.n, 3);
	CHECK(mem != NULL);
	CHECK_EQ_INT(mb_rd_tuple(&d, &it, "pts", "pts[#]", 2, &e), 0);
	CHECK(e[0].via.u64 == 1 && e[1].via.u64 == 2);
	CHECK_EQ_INT(mb_rd_row(&d, &it, "pts", &e), 0);
	CHECK(e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size == 2);
	CHECK_EQ_INT(mb_rd_tuple(&d, &it, "pts", "pts[#]", 2, &e), MB_EINVAL);
	CHECK_STR(err, "pts[2]: 1 elements, want 2");
	mb_elems_done(&it);

	b.len = 0;
	msgpack_pack_array(&pk, 0);
	msgpack_unpacked_destroy(&u);
	CHECK_EQ_INT(mb_unpack(b.data, b.len, MB_MAX_MSG, &u, err, sizeof err), 0);
	CHECK_EQ_INT(mb_rd_rows(&d, &u.data, "pts", 0, 10, 8, &it, &mem), 0);
	CHECK(it.n == 0 && mem == NULL);
	mb_elems_done(&it);
	msgpack_unpacked_destroy(&u);
	mb_buf_free(&b);
	mb_arena_free(&arena);
}
