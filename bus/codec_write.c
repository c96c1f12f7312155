/* codec_write.c: packer helpers that write schema values into an mb_buf, refusing values the
 * schema forbids, and the exact encoded sizes of what they write (for batch splitting). */
#include "codec.h"

#include <math.h>
#include <string.h>

static int buf_write(void *data, const char *p, size_t n)
{
	return mb_buf_append(data, p, n) == 0 ? 0 : -1;
}

void mb_wr_init(msgpack_packer *pk, struct mb_buf *out)
{
	msgpack_packer_init(pk, out, buf_write);
}

int mb_wr_raw_str(msgpack_packer *pk, const char *s, size_t n)
{
	if (n > UINT32_MAX)
		return MB_EINVAL;
	if (msgpack_pack_str(pk, n) != 0)
		return MB_ENOMEM;
	if (n && msgpack_pack_str_body(pk, s, n) != 0)
		return MB_ENOMEM;
	return 0;
}

int mb_wr_u64(msgpack_packer *pk, uint64_t v)
{
	return msgpack_pack_uint64(pk, v) == 0 ? 0 : MB_ENOMEM;
}

int mb_wr_i64(msgpack_packer *pk, int64_t v)
{
	return msgpack_pack_int64(pk, v) == 0 ? 0 : MB_ENOMEM;
}

int mb_wr_f64(msgpack_packer *pk, double v)
{
	if (!isfinite(v))
		return MB_EINVAL;
	return msgpack_pack_double(pk, v) == 0 ? 0 : MB_ENOMEM;
}

int mb_wr_bool(msgpack_packer *pk, bool v)
{
	return (v ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) == 0 ? 0 : MB_ENOMEM;
}

int mb_wr_nil(msgpack_packer *pk)
{
	return msgpack_pack_nil(pk) == 0 ? 0 : MB_ENOMEM;
}

int mb_wr_array(msgpack_packer *pk, size_t n)
{
	if (n > UINT32_MAX)
		return MB_EINVAL;
	return msgpack_pack_array(pk, n) == 0 ? 0 : MB_ENOMEM;
}

int mb_wr_map(msgpack_packer *pk, size_t n)
{
	if (n > UINT32_MAX)
		return MB_EINVAL;
	return msgpack_pack_map(pk, n) == 0 ? 0 : MB_ENOMEM;
}

int mb_wr_name(msgpack_packer *pk, const char *s, size_t max)
{
	if (!s)
		return MB_EINVAL;
	size_t n = strlen(s);
	if (mb_bad_name(s, n, max))
		return MB_EINVAL;
	return mb_wr_raw_str(pk, s, n);
}

int mb_wr_text(msgpack_packer *pk, const char *s, size_t min, size_t max)
{
	if (!s)
		return MB_EINVAL;
	size_t n = strlen(s);
	if (mb_bad_text(s, n, min, max))
		return MB_EINVAL;
	return mb_wr_raw_str(pk, s, n);
}

int mb_kvs_check(uint16_t n, const struct mb_kv *kv, bool dims, size_t *bytes)
{
	if (n > (dims ? MB_MAX_DIMS : MB_MAX_TAGS) || (n && !kv))
		return MB_EINVAL;
	size_t z = mb_sz_arr(n); /* maps have the same header sizes as arrays */
	for (uint16_t i = 0; i < n; i++) {
		if (!kv[i].key || !kv[i].val)
			return MB_EINVAL;
		size_t kn = strlen(kv[i].key), vn = strlen(kv[i].val);
		if (dims ? mb_bad_dim_key(kv[i].key, kn) != NULL
		         : mb_bad_text(kv[i].key, kn, 1, MB_MAX_TAG_KEY) != NULL)
			return MB_EINVAL;
		if (mb_bad_text(kv[i].val, vn, 0, dims ? MB_MAX_DIM_VAL : MB_MAX_TAG_VAL))
			return MB_EINVAL;
		if (dims) {
			for (uint16_t j = 0; j < i; j++)
				if (strcmp(kv[j].key, kv[i].key) == 0)
					return MB_EINVAL;
		} else if (i > 0 && strcmp(kv[i - 1].key, kv[i].key) >= 0) {
			return MB_EINVAL; /* canonical order is part of a series' identity */
		}
		z += mb_sz_str(kn) + mb_sz_str(vn);
	}
	*bytes = z;
	return 0;
}

uint8_t *mb_put_kvs(uint8_t *w, uint16_t n, const struct mb_kv *kv)
{
	w = mb_put_hdr(w, 0x80, n);
	for (uint16_t i = 0; i < n; i++) {
		w = mb_put_str(w, kv[i].key, strlen(kv[i].key));
		w = mb_put_str(w, kv[i].val, strlen(kv[i].val));
	}
	return w;
}

uint8_t *mb_wr_room(msgpack_packer *pk, size_t n)
{
	struct mb_buf *b = pk->data;
	return mb_buf_reserve(b, n) == 0 ? b->data + b->len : NULL;
}

void mb_wr_done(msgpack_packer *pk, const uint8_t *end)
{
	struct mb_buf *b = pk->data;
	b->len = (size_t)(end - b->data);
}

static int wr_kvs(msgpack_packer *pk, uint16_t n, const struct mb_kv *kv, bool dims)
{
	size_t z;
	uint8_t *w;
	int rv;
	if ((rv = mb_kvs_check(n, kv, dims, &z)) != 0)
		return rv;
	if ((w = mb_wr_room(pk, z)) == NULL)
		return MB_ENOMEM;
	mb_wr_done(pk, mb_put_kvs(w, n, kv));
	return 0;
}

int mb_wr_tags(msgpack_packer *pk, uint16_t n, const struct mb_kv *tags)
{
	return wr_kvs(pk, n, tags, false);
}

int mb_wr_dims(msgpack_packer *pk, uint16_t n, const struct mb_kv *dims)
{
	return wr_kvs(pk, n, dims, true);
}

static uint32_t nonzero(const uint64_t *b, uint32_t n)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++)
		k += b[i] != 0;
	return k;
}

static int side_ok(int32_t lo, uint32_t n, const uint64_t *b)
{
	if (n == 0)
		return 1;
	if (!b || lo < MB_SKETCH_MIN_INDEX || (int64_t)lo + n - 1 > MB_SKETCH_MAX_INDEX)
		return 0;
	return nonzero(b, n) <= MB_SKETCH_MAX_BINS;
}

static int wr_bins(msgpack_packer *pk, int32_t lo, uint32_t n, const uint64_t *b)
{
	int rv;
	if ((rv = mb_wr_array(pk, 2 * (size_t)nonzero(b, n))) != 0)
		return rv;
	for (uint32_t i = 0; i < n; i++) {
		if (!b[i])
			continue;
		if ((rv = mb_wr_i64(pk, (int64_t)lo + i)) != 0 || (rv = mb_wr_u64(pk, b[i])) != 0)
			return rv;
	}
	return 0;
}

int mb_wr_sketch(msgpack_packer *pk, const struct mb_sketch *s)
{
	int rv;
	if (!side_ok(s->pos_lo, s->pos_n, s->pos) || !side_ok(s->neg_lo, s->neg_n, s->neg))
		return MB_EINVAL;
	if ((rv = mb_wr_array(pk, 3)) != 0 || (rv = mb_wr_u64(pk, s->zero)) != 0 ||
	    (rv = wr_bins(pk, s->pos_lo, s->pos_n, s->pos)) != 0 ||
	    (rv = wr_bins(pk, s->neg_lo, s->neg_n, s->neg)) != 0)
		return rv;
	return 0;
}

int mb_wr_hll(msgpack_packer *pk, const struct mb_hll *h)
{
	struct mb_buf b = {0};
	int rv;
	if ((rv = mb_hll_encode(h, &b)) != 0)
		goto out;
	if (msgpack_pack_bin(pk, b.len) != 0 || (b.len && msgpack_pack_bin_body(pk, b.data, b.len) != 0))
		rv = MB_ENOMEM;
out:
	mb_buf_free(&b);
	return rv;
}

size_t mb_sz_uint(uint64_t v)
{
	if (v < 128)
		return 1;
	if (v < 256)
		return 2;
	if (v < 65536)
		return 3;
	if (v <= UINT32_MAX)
		return 5;
	return 9;
}

size_t mb_sz_int(int64_t v)
{
	if (v >= 0)
		return mb_sz_uint((uint64_t)v);
	if (v >= -32)
		return 1;
	if (v >= -128)
		return 2;
	if (v >= -32768)
		return 3;
	if (v >= INT32_MIN)
		return 5;
	return 9;
}

size_t mb_sz_str(size_t n)
{
	if (n < 32)
		return 1 + n;
	if (n < 256)
		return 2 + n;
	if (n < 65536)
		return 3 + n;
	return 5 + n;
}

size_t mb_sz_bin(size_t n)
{
	if (n < 256)
		return 2 + n;
	if (n < 65536)
		return 3 + n;
	return 5 + n;
}

size_t mb_sz_arr(size_t n)
{
	if (n < 16)
		return 1;
	if (n < 65536)
		return 3;
	return 5;
}

size_t mb_sz_tags(uint16_t n, const struct mb_kv *tags)
{
	size_t z = mb_sz_arr(n); /* maps have the same header sizes as arrays */
	for (uint16_t i = 0; i < n; i++)
		z += mb_sz_str(strlen(tags[i].key)) + mb_sz_str(strlen(tags[i].val));
	return z;
}

static size_t sz_bins(int32_t lo, uint32_t n, const uint64_t *b)
{
	size_t z = 0, k = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (!b[i])
			continue;
		k++;
		z += mb_sz_int((int64_t)lo + i) + mb_sz_uint(b[i]);
	}
	return z + mb_sz_arr(2 * k);
}

size_t mb_sz_sketch(const struct mb_sketch *s)
{
	return 1 + mb_sz_uint(s->zero) + sz_bins(s->pos_lo, s->pos_n, s->pos) +
	       sz_bins(s->neg_lo, s->neg_n, s->neg);
}
