/* codec_read.c: strict readers from msgpack-c objects into decoded structs: each checks the
 * type, length, range and character set schemas/v1 demands and names the field when not. */
#include "codec.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mb_dec_fail(struct mb_dec *d, int rv, const char *pfx, const char *field, const char *fmt,
                ...)
{
	if (!d->err || d->errlen == 0)
		return rv;
	char where[128];
	size_t w = 0;
	for (const char *c = pfx; *c && w + 12 < sizeof where; c++) {
		if (*c == '#')
			w += (size_t)snprintf(where + w, sizeof where - w, "%u", d->idx);
		else
			where[w++] = *c;
	}
	where[w] = 0;
	int k = snprintf(d->err, d->errlen, "%s%s: ", where, field);
	if (k < 0 || (size_t)k >= d->errlen)
		return rv;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->err + k, d->errlen - (size_t)k, fmt, ap);
	va_end(ap);
	return rv;
}

static const char *bad_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return "control character";
			i++;
			continue;
		}
		size_t need;
		unsigned lo = 0x80, hi = 0xbf;
		if (c < 0xc2)
			return "invalid UTF-8";
		else if (c < 0xe0)
			need = 1;
		else if (c < 0xf0) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates */
		} else if (c < 0xf5) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else
			return "invalid UTF-8";
		if (need > n - i - 1)
			return "invalid UTF-8";
		if (s[i + 1] < lo || s[i + 1] > hi)
			return "invalid UTF-8";
		for (size_t k = 2; k <= need; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return "invalid UTF-8";
		i += need + 1;
	}
	return NULL;
}

const char *mb_bad_text(const char *s, size_t n, size_t min, size_t max)
{
	if (n < min)
		return min == 1 ? "empty" : "too short";
	if (n > max)
		return "too long";
	return bad_utf8((const unsigned char *)s, n);
}

const char *mb_bad_name(const char *s, size_t n, size_t max)
{
	if (n == 0)
		return "empty";
	if (n > max)
		return "too long";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x21 || c > 0x7e)
			return "not printable ASCII without spaces";
	}
	return NULL;
}

const char *mb_bad_dim_key(const char *s, size_t n)
{
	if (n == 0)
		return "empty";
	if (n > MB_MAX_DIM_KEY)
		return "too long";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return "not [A-Za-z0-9_.-]";
	}
	return NULL;
}

int mb_rd_need(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field)
{
	return o ? 0 : mb_dec_fail(d, MB_EINVAL, pfx, field, "missing");
}

int mb_rd_u64(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
              uint64_t max, uint64_t *out)
{
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "negative");
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "not an unsigned integer");
	if (o->via.u64 > max)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "out of range");
	*out = o->via.u64;
	return 0;
}

int mb_rd_i64(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
              int64_t min, int64_t max, int64_t *out)
{
	int64_t v;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > (uint64_t)INT64_MAX)
			return mb_dec_fail(d, MB_EINVAL, pfx, field, "out of range");
		v = (int64_t)o->via.u64;
	} else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		v = o->via.i64;
	} else {
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "not an integer");
	}
	if (v < min || v > max)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "out of range");
	*out = v;
	return 0;
}

int mb_rd_f64(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
              double *out)
{
	double v;
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		v = o->via.f64;
		if (!isfinite(v))
			return mb_dec_fail(d, MB_EINVAL, pfx, field, "not finite");
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		v = (double)o->via.u64;
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		v = (double)o->via.i64;
		break;
	default:
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "not a number");
	}
	*out = v;
	return 0;
}

int mb_rd_bool(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
               bool *out)
{
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "not a bool");
	*out = o->via.boolean;
	return 0;
}

static int copy_str(struct mb_dec *d, const msgpack_object *o, const char *pfx,
                    const char *field, const char **out)
{
	char *s = mb_arena_strndup(d->arena, o->via.str.ptr, o->via.str.size);
	if (!s)
		return mb_dec_fail(d, MB_ENOMEM, pfx, field, "out of memory");
	*out = s;
	return 0;
}

int mb_rd_name(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
               size_t max, const char **out)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "not a string");
	const char *why = mb_bad_name(o->via.str.ptr, o->via.str.size, max);
	if (why)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "%s", why);
	return copy_str(d, o, pfx, field, out);
}

int mb_rd_text(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
               size_t min, size_t max, const char **out)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "not a string");
	const char *why = mb_bad_text(o->via.str.ptr, o->via.str.size, min, max);
	if (why)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "%s", why);
	return copy_str(d, o, pfx, field, out);
}

int mb_rd_array(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
                uint32_t min, uint32_t max, const msgpack_object **items, uint32_t *n)
{
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "not an array");
	uint32_t k = o->via.array.size;
	if (k < min || k > max) {
		if (min == max)
			return mb_dec_fail(d, MB_EINVAL, pfx, field, "%u elements, want %u", k, min);
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "%u elements, want %u..%u", k, min,
		                   max);
	}
	*items = o->via.array.ptr;
	*n = k;
	return 0;
}

int mb_rd_rows(struct mb_dec *d, const msgpack_object *o, const char *field, uint32_t min,
               uint32_t max, size_t size, struct mb_elems *it, void **mem)
{
	int rv;
	*mem = NULL;
	if ((rv = mb_rd_elems(d, o, "", field, min, max, it)) != 0)
		return rv;
	if (it->n && !(*mem = mb_arena_alloc(d->arena, it->n * size)))
		return mb_dec_fail(d, MB_ENOMEM, "", field, "out of memory");
	return 0;
}

int mb_rd_row(struct mb_dec *d, struct mb_elems *it, const char *field,
              const msgpack_object **row)
{
	d->idx = it->i;
	if ((*row = mb_elems_next(it)) == NULL)
		return mb_dec_fail(d, MB_ENOMEM, "", field, "out of memory");
	return 0;
}

int mb_rd_tuple(struct mb_dec *d, struct mb_elems *it, const char *field, const char *pfx,
                uint32_t k, const msgpack_object **e)
{
	const msgpack_object *row;
	uint32_t got;
	int rv;
	if ((rv = mb_rd_row(d, it, field, &row)) != 0)
		return rv;
	return mb_rd_array(d, row, pfx, "", k, k, e, &got);
}

static int str_cmp(const msgpack_object_str *a, const msgpack_object_str *b)
{
	size_t n = a->size < b->size ? a->size : b->size;
	int c = n ? memcmp(a->ptr, b->ptr, n) : 0;
	if (c)
		return c;
	return a->size < b->size ? -1 : a->size > b->size;
}

static int rd_kvs(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
                  bool dims, uint16_t *n, struct mb_kv **out)
{
	const uint32_t maxn = dims ? MB_MAX_DIMS : MB_MAX_TAGS;
	if (o->type != MSGPACK_OBJECT_MAP)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "not a map");
	uint32_t k = o->via.map.size;
	if (k > maxn)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "more than %u entries", maxn);
	*n = 0;
	*out = NULL;
	if (k == 0)
		return 0;
	struct mb_kv *kv = mb_arena_alloc(d->arena, k * sizeof *kv);
	if (!kv)
		return mb_dec_fail(d, MB_ENOMEM, pfx, field, "out of memory");
	const msgpack_object_kv *p = o->via.map.ptr;
	for (uint32_t i = 0; i < k; i++) {
		const char *why;
		if (p[i].key.type != MSGPACK_OBJECT_STR)
			return mb_dec_fail(d, MB_EINVAL, pfx, field, "key %u not a string", i);
		if (p[i].val.type != MSGPACK_OBJECT_STR)
			return mb_dec_fail(d, MB_EINVAL, pfx, field, "value %u not a string", i);
		const msgpack_object_str *ks = &p[i].key.via.str, *vs = &p[i].val.via.str;
		why = dims ? mb_bad_dim_key(ks->ptr, ks->size)
		           : mb_bad_text(ks->ptr, ks->size, 1, MB_MAX_TAG_KEY);
		if (why)
			return mb_dec_fail(d, MB_EINVAL, pfx, field, "key %u: %s", i, why);
		why = mb_bad_text(vs->ptr, vs->size, 0, dims ? MB_MAX_DIM_VAL : MB_MAX_TAG_VAL);
		if (why)
			return mb_dec_fail(d, MB_EINVAL, pfx, field, "value %u: %s", i, why);
		if (dims) {
			for (uint32_t j = 0; j < i; j++)
				if (str_cmp(&p[j].key.via.str, ks) == 0)
					return mb_dec_fail(d, MB_EINVAL, pfx, field,
					                   "key %u: duplicate", i);
		} else if (i > 0) {
			int c = str_cmp(&p[i - 1].key.via.str, ks);
			if (c == 0)
				return mb_dec_fail(d, MB_EINVAL, pfx, field, "key %u: duplicate", i);
			if (c > 0)
				return mb_dec_fail(d, MB_EINVAL, pfx, field, "key %u: not sorted", i);
		}
		kv[i].key = mb_arena_strndup(d->arena, ks->ptr, ks->size);
		kv[i].val = mb_arena_strndup(d->arena, vs->ptr, vs->size);
		if (!kv[i].key || !kv[i].val)
			return mb_dec_fail(d, MB_ENOMEM, pfx, field, "out of memory");
	}
	*n = (uint16_t)k;
	*out = kv;
	return 0;
}

int mb_rd_tags(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
               uint16_t *n, struct mb_kv **out)
{
	return rd_kvs(d, o, pfx, field, false, n, out);
}

int mb_rd_dims(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
               uint16_t *n, struct mb_kv **out)
{
	return rd_kvs(d, o, pfx, field, true, n, out);
}

/* One side of a sketch: [index, count, ...] -> dense counts from *lo. */
static int rd_bins(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
                   uint64_t *total, int32_t *lo, uint32_t *nbins, uint64_t **bins)
{
	const msgpack_object *it;
	uint32_t k;
	int rv;
	if ((rv = mb_rd_array(d, o, pfx, field, 0, 2 * MB_SKETCH_MAX_BINS, &it, &k)) != 0)
		return rv;
	if (k % 2)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "odd length");
	*lo = 0;
	*nbins = 0;
	*bins = NULL;
	if (k == 0)
		return 0;
	int64_t prev = INT64_MIN, first = 0, last = 0;
	for (uint32_t i = 0; i < k; i += 2) {
		int64_t idx;
		uint64_t c;
		if (mb_rd_i64(d, &it[i], pfx, field, MB_SKETCH_MIN_INDEX, MB_SKETCH_MAX_INDEX, &idx))
			return mb_dec_fail(d, MB_EINVAL, pfx, field, "index %u: not an integer in %d..%d",
			                   i / 2, MB_SKETCH_MIN_INDEX, MB_SKETCH_MAX_INDEX);
		if (idx <= prev)
			return mb_dec_fail(d, MB_EINVAL, pfx, field, "index %u: not ascending", i / 2);
		if (mb_rd_u64(d, &it[i + 1], pfx, field, UINT64_MAX, &c) || c == 0)
			return mb_dec_fail(d, MB_EINVAL, pfx, field, "count %u: not a positive integer",
			                   i / 2);
		if (c > UINT64_MAX - *total)
			return mb_dec_fail(d, MB_EINVAL, pfx, field, "total count overflows");
		*total += c;
		if (i == 0)
			first = idx;
		last = prev = idx;
	}
	size_t span = (size_t)(last - first + 1);
	if (span * sizeof(uint64_t) > d->budget)
		return mb_dec_fail(d, MB_ETOOBIG, pfx, field, "sketches too large for one message");
	d->budget -= span * sizeof(uint64_t);
	uint64_t *b = calloc(span, sizeof *b);
	if (!b)
		return mb_dec_fail(d, MB_ENOMEM, pfx, field, "out of memory");
	for (uint32_t i = 0; i < k; i += 2)
		b[(it[i].type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? it[i].via.i64
		                                                 : (int64_t)it[i].via.u64) -
		  first] = it[i + 1].via.u64;
	*lo = (int32_t)first;
	*nbins = (uint32_t)span;
	*bins = b;
	return 0;
}

int mb_rd_sketch(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
                 struct mb_sketch *out)
{
	const msgpack_object *it;
	uint32_t k;
	int rv;
	char sub[96];
	struct mb_sketch s;

	memset(out, 0, sizeof *out);
	memset(&s, 0, sizeof s);
	if ((rv = mb_rd_array(d, o, pfx, field, 3, 3, &it, &k)) != 0)
		return rv;
	snprintf(sub, sizeof sub, "%s%s.", pfx, field);
	if ((rv = mb_rd_u64(d, &it[0], sub, "zero", UINT64_MAX, &s.zero)) != 0)
		return rv;
	uint64_t total = s.zero;
	if ((rv = rd_bins(d, &it[1], sub, "pos", &total, &s.pos_lo, &s.pos_n, &s.pos)) != 0)
		goto fail;
	if ((rv = rd_bins(d, &it[2], sub, "neg", &total, &s.neg_lo, &s.neg_n, &s.neg)) != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	free(s.pos);
	free(s.neg);
	return rv;
}

int mb_rd_hll(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
              struct mb_hll **out)
{
	if (o->type != MSGPACK_OBJECT_BIN)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "not bin");
	if (sizeof(struct mb_hll) > d->budget)
		return mb_dec_fail(d, MB_ETOOBIG, pfx, field, "HyperLogLogs too large for one message");
	d->budget -= sizeof(struct mb_hll);
	struct mb_hll *h = mb_arena_alloc(d->arena, sizeof *h);
	if (!h)
		return mb_dec_fail(d, MB_ENOMEM, pfx, field, "out of memory");
	const char *why = NULL;
	if (mb_hll_decode_why(o->via.bin.ptr, o->via.bin.size, h, &why) != 0)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "%s", why ? why : "malformed");
	*out = h;
	return 0;
}

int mb_rd_map(struct mb_dec *d, const msgpack_object *o, const char *what,
              const char *const *keys, int nkeys, const msgpack_object **vals)
{
	int rv = 0;
	for (int i = 0; i < nkeys; i++)
		vals[i] = NULL;
	if (o->type != MSGPACK_OBJECT_MAP)
		return mb_dec_fail(d, MB_EINVAL, "", what, "not a map");
	/* Goes on after an error so that the caller still sees "v": a newer version's unknown
	 * keys must read as a version problem, not as garbage. */
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR) {
			if (!rv)
				rv = mb_dec_fail(d, MB_EINVAL, "", what, "key %u not a string", i);
			continue;
		}
		const msgpack_object_str *ks = &kv->key.via.str;
		int j;
		for (j = 0; j < nkeys; j++)
			if (strlen(keys[j]) == ks->size && memcmp(keys[j], ks->ptr, ks->size) == 0)
				break;
		if (j == nkeys) {
			if (rv)
				continue;
			if (!mb_bad_name(ks->ptr, ks->size, 32))
				rv = mb_dec_fail(d, MB_EINVAL, "", what, "unknown key \"%.*s\"",
				                 (int)ks->size, ks->ptr);
			else
				rv = mb_dec_fail(d, MB_EINVAL, "", what, "unknown key %u", i);
			continue;
		}
		if (vals[j]) {
			if (!rv)
				rv = mb_dec_fail(d, MB_EINVAL, "", keys[j], "duplicate key");
			continue;
		}
		vals[j] = &kv->val;
	}
	return rv;
}

int mb_dec_open(struct mb_dec *d, const void *p, size_t n, size_t max, msgpack_unpacked *u,
                const char *what, const char *const *keys, int nkeys, const msgpack_object **f)
{
	int rv;
	if (d->err && d->errlen)
		d->err[0] = 0;
	msgpack_unpacked_init(u);
	if ((rv = mb_unpack(p, n, max, u, d->err, d->errlen)) != 0)
		return rv;
	if ((rv = mb_rd_map(d, &u->data, what, keys, nkeys, f)) != 0 && mb_newer_version(f[0]))
		rv = 0;
	return rv;
}

bool mb_newer_version(const msgpack_object *v)
{
	return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 > MB_SCHEMA_VERSION;
}

int mb_rd_version(struct mb_dec *d, const msgpack_object *o, uint32_t *out)
{
	if (!o)
		return mb_dec_fail(d, MB_EINVAL, "", "v", "missing");
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return mb_dec_fail(d, MB_EINVAL, "", "v", "not an unsigned integer");
	if (o->via.u64 == 0)
		return mb_dec_fail(d, MB_EINVAL, "", "v", "0 is not a version");
	if (o->via.u64 > MB_SCHEMA_VERSION)
		return mb_dec_fail(d, MB_EVERSION, "", "v",
		                   "version %llu not supported (this build reads up to %d)",
		                   (unsigned long long)o->via.u64, MB_SCHEMA_VERSION);
	*out = (uint32_t)o->via.u64;
	return 0;
}
