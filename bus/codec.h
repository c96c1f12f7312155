/* codec.h: internals shared by the codec files, not part of the bus API: the pre-scan,
 * strict readers over msgpack-c objects, and packer helpers writing into an mb_buf. */
#ifndef MB_CODEC_H
#define MB_CODEC_H

#include "mb.h"

#include <msgpack.h>
#include <string.h>

/* Deepest nesting any v1 message needs is 5; more is an attack on msgpack-c's recursion. */
#define MB_MAX_DEPTH 16
/* Sketches and HLLs decode to dense arrays much larger than their wire form: one decoded
 * batch may expand to at most this many bytes of them (schemas/v1/README.md). */
#define MB_DECODE_BUDGET MB_MAX_DECODED

int mb_op_parse_n(const char *s, size_t n, int *op);
int mb_stat_parse_n(const char *s, size_t n, int *stat);

/* ---- reading */
struct mb_dec {
	struct mb_arena *arena;
	char *err;
	size_t errlen;
	size_t budget; /* bytes of dense sketch and HLL memory still allowed */
	uint32_t idx;  /* the element index a '#' in a prefix stands for */
};
/* Writes "PFXFIELD: reason" to d->err and returns rv. A '#' in pfx is written as d->idx, so
 * loops over elements pass a constant prefix ("recs[#].") and set d->idx: the index is
 * formatted only when an error is reported, not for every element decoded. */
int mb_dec_fail(struct mb_dec *d, int rv, const char *pfx, const char *field, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

/* Rejects what would make msgpack-c allocate beyond the message: nesting deeper than
 * MB_MAX_DEPTH, declared counts or lengths larger than the bytes left, ext types, bytes
 * after the object, a message over max. Then unpacks; on success the caller destroys u. */
int mb_unpack(const void *p, size_t n, size_t max, msgpack_unpacked *u, char *err,
              size_t errlen);
int mb_prescan(const uint8_t *p, size_t n, size_t max, char *err, size_t errlen);
/* mb_unpack for a reply of thousands of elements: the top map's array values longer than
 * lazy_min are left unbuilt (an EXT object of type MB_EXT_LAZY, which no message carries:
 * the pre-scan refuses ext types), to be read one element at a time with mb_rd_elems. An
 * export of 100,000 series is then never a tree of 2.5 million objects. */
#define MB_EXT_LAZY (-128)
int mb_unpack_top(const void *p, size_t n, size_t max, uint32_t lazy_min, msgpack_unpacked *u,
                  char *err, size_t errlen);
/* The elements of an array, built or lazy: mb_rd_elems checks it as mb_rd_array does, then
 * mb_elems_next gives each element in turn (a lazy one valid until the next call), NULL
 * after the last or when out of memory (e->i < e->n then); mb_elems_done releases it. */
struct mb_elems {
	const msgpack_object *built;
	const uint8_t *p;
	size_t pos;
	uint32_t n, i;
	msgpack_zone *z;
	msgpack_object cur;
};
int mb_rd_elems(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
                uint32_t min, uint32_t max, struct mb_elems *e);
const msgpack_object *mb_elems_next(struct mb_elems *e);
void mb_elems_done(struct mb_elems *e);
/* A reply's top-level array field of min..max rows, read row by row (mb_rd_elems), and room
 * for them in the arena: *mem holds it->n rows of size bytes (NULL when none). MB_ENOMEM; the
 * caller calls mb_elems_done(it) whatever this returns. */
int mb_rd_rows(struct mb_dec *d, const msgpack_object *o, const char *field, uint32_t min,
               uint32_t max, size_t size, struct mb_elems *it, void **mem);
/* The next row of it, with d->idx set to its index for the errors of its elements: as it is
 * (mb_rd_row), or as a tuple of exactly k elements (mb_rd_tuple; pfx names the row, as
 * "pts[#]"). MB_ENOMEM (field names it) when a lazy row cannot be built. */
int mb_rd_row(struct mb_dec *d, struct mb_elems *it, const char *field,
              const msgpack_object **row);
int mb_rd_tuple(struct mb_dec *d, struct mb_elems *it, const char *field, const char *pfx,
                uint32_t k, const msgpack_object **e);

/* Validity of raw bytes; NULL when valid, else a short reason. */
const char *mb_bad_name(const char *s, size_t n, size_t max);
const char *mb_bad_text(const char *s, size_t n, size_t min, size_t max);
const char *mb_bad_dim_key(const char *s, size_t n);

int mb_rd_u64(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
              uint64_t max, uint64_t *out);
int mb_rd_i64(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
              int64_t min, int64_t max, int64_t *out);
int mb_rd_f64(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
              double *out);
int mb_rd_bool(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
               bool *out);
int mb_rd_name(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
               size_t max, const char **out);
int mb_rd_text(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
               size_t min, size_t max, const char **out);
int mb_rd_array(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
                uint32_t min, uint32_t max, const msgpack_object **items, uint32_t *n);
int mb_rd_tags(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
               uint16_t *n, struct mb_kv **out);
int mb_rd_dims(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
               uint16_t *n, struct mb_kv **out);
/* out->pos/neg are malloc'd (the sketch owns them); on failure nothing is left allocated. */
int mb_rd_sketch(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
                 struct mb_sketch *out);
int mb_rd_hll(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
              struct mb_hll **out);
/* Matches a map's keys against keys[0..nkeys-1]: vals[i] is the value or NULL when absent.
 * Unknown and repeated keys are errors. */
int mb_rd_map(struct mb_dec *d, const msgpack_object *o, const char *what,
              const char *const *keys, int nkeys, const msgpack_object **vals);
/* A "v" newer than this build reads: its message may carry keys we do not know, so a failed
 * mb_rd_map is forgiven for it and mb_rd_version answers MB_EVERSION instead. */
bool mb_newer_version(const msgpack_object *v);
/* The opening every decoder shares: d->err cleared, the message (at most max bytes) unpacked
 * into *u and its top-level map, named what, read into f by keys, keys[0] being "v". A map
 * error is forgiven when "v" is newer (mb_rd_version, which every decoder calls next, answers
 * MB_EVERSION). *u is always safe to destroy, whatever this returns. */
int mb_dec_open(struct mb_dec *d, const void *p, size_t n, size_t max, msgpack_unpacked *u,
                const char *what, const char *const *keys, int nkeys, const msgpack_object **f);
/* "v": missing or 0 -> MB_EINVAL, newer than MB_SCHEMA_VERSION -> MB_EVERSION. */
int mb_rd_version(struct mb_dec *d, const msgpack_object *o, uint32_t *out);
/* Required field present? */
int mb_rd_need(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field);

/* ---- writing: every function returns 0, MB_ENOMEM (packer failed) or MB_EINVAL (the
 * value breaks the schema). */
void mb_wr_init(msgpack_packer *pk, struct mb_buf *out);
int mb_wr_raw_str(msgpack_packer *pk, const char *s, size_t n);
int mb_wr_u64(msgpack_packer *pk, uint64_t v);
int mb_wr_i64(msgpack_packer *pk, int64_t v);
int mb_wr_f64(msgpack_packer *pk, double v);
int mb_wr_bool(msgpack_packer *pk, bool v);
int mb_wr_nil(msgpack_packer *pk);
int mb_wr_array(msgpack_packer *pk, size_t n);
int mb_wr_map(msgpack_packer *pk, size_t n);
int mb_wr_name(msgpack_packer *pk, const char *s, size_t max);
int mb_wr_text(msgpack_packer *pk, const char *s, size_t min, size_t max);
int mb_wr_tags(msgpack_packer *pk, uint16_t n, const struct mb_kv *tags);
int mb_wr_dims(msgpack_packer *pk, uint16_t n, const struct mb_kv *dims);
int mb_wr_sketch(msgpack_packer *pk, const struct mb_sketch *s);
int mb_wr_hll(msgpack_packer *pk, const struct mb_hll *h);

/* ---- direct writing for hot loops (a reply of thousands of points): the bytes msgpack-c's
 * packer writes, stored at w in room the caller reserved (mb_wr_room; bounds from mb_sz_*),
 * without a packer callback per header and body. Each returns the position after them. */
static inline uint8_t *mb_put_be(uint8_t *w, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		w[i] = (uint8_t)v;
	return w + bytes;
}
static inline uint8_t *mb_put_uint(uint8_t *w, uint64_t v)
{
	if (v < 128) {
		*w = (uint8_t)v;
		return w + 1;
	}
	int k = v < 256 ? 1 : v < 65536 ? 2 : v <= UINT32_MAX ? 4 : 8;
	*w = k == 1 ? 0xcc : k == 2 ? 0xcd : k == 4 ? 0xce : 0xcf;
	return mb_put_be(w + 1, v, k);
}
static inline uint8_t *mb_put_int(uint8_t *w, int64_t v)
{
	if (v >= 0)
		return mb_put_uint(w, (uint64_t)v);
	if (v >= -32) {
		*w = (uint8_t)(int8_t)v;
		return w + 1;
	}
	int k = v >= -128 ? 1 : v >= -32768 ? 2 : v >= INT32_MIN ? 4 : 8;
	*w = k == 1 ? 0xd0 : k == 2 ? 0xd1 : k == 4 ? 0xd2 : 0xd3;
	return mb_put_be(w + 1, (uint64_t)v, k);
}
static inline uint8_t *mb_put_f64(uint8_t *w, double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	*w = 0xcb;
	return mb_put_be(w + 1, u, 8);
}
/* base: 0x90 for an array, 0x80 for a map (16- and 32-bit forms follow from it) */
static inline uint8_t *mb_put_hdr(uint8_t *w, uint8_t base, uint32_t n)
{
	if (n < 16) {
		*w = (uint8_t)(base | n);
		return w + 1;
	}
	*w = (uint8_t)(n < 65536 ? (base == 0x90 ? 0xdc : 0xde) : (base == 0x90 ? 0xdd : 0xdf));
	return mb_put_be(w + 1, n, n < 65536 ? 2 : 4);
}
static inline uint8_t *mb_put_str(uint8_t *w, const char *s, size_t n)
{
	if (n < 32) {
		*w++ = (uint8_t)(0xa0 | n);
	} else {
		int k = n < 256 ? 1 : n < 65536 ? 2 : 4;
		*w = k == 1 ? 0xd9 : k == 2 ? 0xda : 0xdb;
		w = mb_put_be(w + 1, n, k);
	}
	memcpy(w, s, n);
	return w + n;
}
/* The mb_buf a packer from mb_wr_init writes into, with n bytes of room: NULL when out of
 * memory. The caller stores up to n bytes at the result, then calls mb_wr_done. */
uint8_t *mb_wr_room(msgpack_packer *pk, size_t n);
void mb_wr_done(msgpack_packer *pk, const uint8_t *end);
/* A tag (dims false) or dimension list checked as mb_wr_tags/mb_wr_dims check it (MB_EINVAL),
 * its encoded size in *bytes; mb_put_kvs writes it. */
int mb_kvs_check(uint16_t n, const struct mb_kv *kv, bool dims, size_t *bytes);
uint8_t *mb_put_kvs(uint8_t *w, uint16_t n, const struct mb_kv *kv);

/* Exact encoded sizes, as msgpack-c packs them (shortest form). */
size_t mb_sz_uint(uint64_t v);
size_t mb_sz_int(int64_t v);
size_t mb_sz_str(size_t n);
size_t mb_sz_bin(size_t n);
size_t mb_sz_arr(size_t n);
#define MB_SZ_F64 9
size_t mb_sz_tags(uint16_t n, const struct mb_kv *tags);
size_t mb_sz_sketch(const struct mb_sketch *s);
size_t mb_hll_encoded_len(const struct mb_hll *h);
/* mb_hll_decode with the reason for a malformed form in *why. */
int mb_hll_decode_why(const void *p, size_t n, struct mb_hll *h, const char **why);

#endif
