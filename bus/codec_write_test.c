/* codec_write_test.c: the direct writers (mb_put_*) store exactly the bytes msgpack-c's packer
 * writes, at every size boundary, and the tag check refuses what mb_wr_tags refuses. */
#include "codec.h"
#include "../tests/unit/mbtest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Packs with msgpack-c into ref, directly into got; 1 when the bytes agree. */
#define SAME(packer_call, put_call)                                                          \
	do {                                                                                 \
		struct mb_buf ref = {0};                                                     \
		msgpack_packer pk;                                                           \
		mb_wr_init(&pk, &ref);                                                       \
		CHECK_EQ_INT((packer_call), 0);                                              \
		uint8_t got[80000], *w = got;                                                \
		w = (put_call);                                                              \
		CHECK_EQ_INT((size_t)(w - got), ref.len);                                    \
		CHECK(ref.len == (size_t)(w - got) && memcmp(ref.data, got, ref.len) == 0); \
		mb_buf_free(&ref);                                                           \
	} while (0)

MB_TEST(put_integers_match_the_packer)
{
	const int64_t iv[] = {0,      1,          31,         32,         -1,        -31,
	                      -32,    -33,        -127,       -128,       -129,      127,
	                      128,    255,        256,        32767,      32768,     -32767,
	                      -32768, -32769,     65535,      65536,      INT32_MAX, INT32_MIN,
	                      (int64_t)INT32_MIN - 1, (int64_t)UINT32_MAX, (int64_t)UINT32_MAX + 1,
	                      INT64_MAX, INT64_MIN, 1764921600000};
	for (size_t i = 0; i < sizeof iv / sizeof iv[0]; i++) {
		SAME(msgpack_pack_int64(&pk, iv[i]), mb_put_int(w, iv[i]));
		if (iv[i] >= 0)
			SAME(msgpack_pack_uint64(&pk, (uint64_t)iv[i]), mb_put_uint(w, (uint64_t)iv[i]));
	}
	SAME(msgpack_pack_uint64(&pk, UINT64_MAX), mb_put_uint(w, UINT64_MAX));
}

MB_TEST(put_doubles_headers_and_strings_match_the_packer)
{
	const double dv[] = {0.0, -0.0, 1.5, -2.25e-300, 1e308, 0.1, 3.0};
	for (size_t i = 0; i < sizeof dv / sizeof dv[0]; i++)
		SAME(msgpack_pack_double(&pk, dv[i]), mb_put_f64(w, dv[i]));
	const uint32_t nv[] = {0, 1, 15, 16, 255, 65535, 65536, 100000};
	for (size_t i = 0; i < sizeof nv / sizeof nv[0]; i++) {
		SAME(msgpack_pack_array(&pk, nv[i]), mb_put_hdr(w, 0x90, nv[i]));
		SAME(msgpack_pack_map(&pk, nv[i]), mb_put_hdr(w, 0x80, nv[i]));
	}
	static char s[70000];
	memset(s, 'x', sizeof s);
	const size_t sv[] = {0, 1, 31, 32, 255, 256, 65535, 65536};
	for (size_t i = 0; i < sizeof sv / sizeof sv[0]; i++)
		SAME(mb_wr_raw_str(&pk, s, sv[i]), mb_put_str(w, s, sv[i]));
}

MB_TEST(put_kvs_matches_wr_tags_and_refuses_alike)
{
	struct mb_kv ok[] = {{"a", "1"}, {"env", "prod"}, {"zone", ""}};
	size_t z = 0;
	CHECK_EQ_INT(mb_kvs_check(3, ok, false, &z), 0);
	CHECK_EQ_INT(z, mb_sz_tags(3, ok));
	SAME(mb_wr_tags(&pk, 3, ok), mb_put_kvs(w, 3, ok));
	SAME(mb_wr_tags(&pk, 0, NULL), mb_put_kvs(w, 0, NULL));
	struct mb_kv unsorted[] = {{"b", "1"}, {"a", "2"}};
	struct mb_kv empty_key[] = {{"", "1"}};
	struct mb_kv dup_dim[] = {{"k", "1"}, {"k", "2"}};
	CHECK_EQ_INT(mb_kvs_check(2, unsorted, false, &z), MB_EINVAL);
	CHECK_EQ_INT(mb_kvs_check(1, empty_key, false, &z), MB_EINVAL);
	CHECK_EQ_INT(mb_kvs_check(2, dup_dim, true, &z), MB_EINVAL);
	CHECK_EQ_INT(mb_kvs_check(2, unsorted, true, &z), 0); /* dims need no order */
	struct mb_buf b = {0};
	msgpack_packer pk;
	mb_wr_init(&pk, &b);
	CHECK_EQ_INT(mb_wr_tags(&pk, 2, unsorted), MB_EINVAL);
	CHECK_EQ_INT(mb_wr_dims(&pk, 2, dup_dim), MB_EINVAL);
	mb_buf_free(&b);
}
