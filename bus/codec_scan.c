/* codec_scan.c: the pre-scan that bounds a message before it is unpacked (counts, lengths and
 * depth against the bytes actually present), and the unpack step: msgpack-c's object tree,
 * built here in one allocation sized by the pre-scan (msgpack-c's own unpacker grows its zone
 * chunk by chunk: 60 MB of objects for a 100,000-series export, malloc'd piecewise). */
#include "codec.h"

#include <stdio.h>
#include <string.h>

static int scan_fail(char *err, size_t errlen, size_t pos, const char *why)
{
	snprintf(err, errlen, "%s at byte %zu", why, pos);
	return MB_EINVAL;
}

/* Big-endian unsigned of w bytes at p[*pos]; 0 when it is all there. */
static int be(const uint8_t *p, size_t n, size_t *pos, int w, uint64_t *v)
{
	if ((size_t)w > n - *pos)
		return -1;
	uint64_t x = 0;
	for (int i = 0; i < w; i++)
		x = (x << 8) | p[*pos + (size_t)i];
	*pos += (size_t)w;
	*v = x;
	return 0;
}

/* mb_prescan; *nobj = the objects inside containers (a map's keys and values both). */
static int scan(const uint8_t *p, size_t n, size_t max, char *err, size_t errlen, size_t *nobj)
{
	uint64_t left[MB_MAX_DEPTH]; /* elements still to come at each open level */
	int depth = 0;
	size_t pos = 0;

	if (n > max) {
		snprintf(err, errlen, "message too big (%zu > %zu bytes)", n, max);
		return MB_ETOOBIG;
	}
	if (n == 0)
		return scan_fail(err, errlen, 0, "empty message");
	for (;;) {
		if (pos >= n)
			return scan_fail(err, errlen, pos, "truncated");
		size_t at = pos;
		uint8_t b = p[pos++];
		uint64_t skip = 0, elems = 0, v = 0;
		int container = 0, w = 0;

		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			skip = 0;
		} else if (b >= 0x80 && b <= 0x8f) {
			container = 1, elems = 2u * (b & 0x0fu);
		} else if (b >= 0x90 && b <= 0x9f) {
			container = 1, elems = b & 0x0fu;
		} else if (b >= 0xa0 && b <= 0xbf) {
			skip = b & 0x1fu;
		} else {
			switch (b) {
			case 0xc4: case 0xd9: w = 1; break;
			case 0xc5: case 0xda: w = 2; break;
			case 0xc6: case 0xdb: w = 4; break;
			case 0xca: skip = 4; break;
			case 0xcb: skip = 8; break;
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xce: case 0xd2: skip = 4; break;
			case 0xcf: case 0xd3: skip = 8; break;
			case 0xdc: case 0xde: w = 2, container = 1; break;
			case 0xdd: case 0xdf: w = 4, container = 1; break;
			case 0xc1:
				return scan_fail(err, errlen, at, "reserved byte 0xc1");
			default: /* 0xc7-0xc9, 0xd4-0xd8: no v1 message uses ext types */
				return scan_fail(err, errlen, at, "ext type not allowed");
			}
			if (w && be(p, n, &pos, w, &v) != 0)
				return scan_fail(err, errlen, at, "truncated");
			if (w && container)
				elems = (b == 0xde || b == 0xdf) ? 2 * v : v;
			else if (w)
				skip = v;
		}
		if (container) {
			/* every element takes at least one byte */
			if (elems > n - pos)
				return scan_fail(err, errlen, at, "declared count beyond message end");
			*nobj += (size_t)elems;
			if (elems > 0) {
				if (depth == MB_MAX_DEPTH)
					return scan_fail(err, errlen, at, "nested deeper than 16");
				left[depth++] = elems;
				continue;
			}
		} else {
			if (skip > n - pos)
				return scan_fail(err, errlen, at,
				                 w ? "declared length beyond message end" : "truncated");
			pos += (size_t)skip;
		}
		while (depth > 0 && --left[depth - 1] == 0)
			depth--;
		if (depth == 0)
			break;
	}
	if (pos != n)
		return scan_fail(err, errlen, pos, "trailing bytes");
	return 0;
}

int mb_prescan(const uint8_t *p, size_t n, size_t max, char *err, size_t errlen)
{
	size_t nobj = 0;
	return scan(p, n, max, err, errlen, &nobj);
}

/* The tree of a pre-scanned message: lengths, counts and depth are known good, so nothing is
 * checked again. Objects as msgpack-c 4 makes them: strings and bins point into the message;
 * a negative-format integer that is >= 0 is POSITIVE_INTEGER; float32 is FLOAT32. */
struct tree {
	const uint8_t *p;
	size_t pos;
	msgpack_object *pool; /* sized by the pre-scan; or, when NULL, children from z */
	size_t used;
	msgpack_zone *z;
	uint32_t lazy_min; /* top-map values: arrays of more elements are left unbuilt */
	bool oom;
};

/* Room for k children. */
static msgpack_object *kids_for(struct tree *x, size_t k)
{
	if (k == 0)
		return NULL; /* no pool when all are empty */
	if (x->pool) {
		msgpack_object *o = x->pool + x->used;
		x->used += k;
		return o;
	}
	msgpack_object *o = msgpack_zone_malloc(x->z, k * sizeof *o);
	if (!o)
		x->oom = true;
	return o;
}

/* Steps over one object of a pre-scanned message. */
static void skip(struct tree *x)
{
	uint8_t b = x->p[x->pos++];
	uint64_t n = 0, w = 0;
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return;
	if (b <= 0x9f || b == 0xdc || b == 0xdd || b == 0xde || b == 0xdf) {
		bool map = b <= 0x8f || b == 0xde || b == 0xdf;
		if (b <= 0x9f)
			n = b & 0x0f;
		else
			for (int i = 0, k = (b == 0xdc || b == 0xde) ? 2 : 4; i < k; i++)
				n = (n << 8) | x->p[x->pos++];
		for (uint64_t i = 0; i < (map ? 2 * n : n); i++)
			skip(x);
		return;
	}
	if (b >= 0xa0 && b <= 0xbf) {
		x->pos += b & 0x1f;
		return;
	}
	switch (b) {
	case 0xc4: case 0xd9: w = 1; break;
	case 0xc5: case 0xda: w = 2; break;
	case 0xc6: case 0xdb: w = 4; break;
	case 0xca: x->pos += 4; return;
	case 0xcb: x->pos += 8; return;
	default: /* 0xcc-0xd3 */
		x->pos += (size_t)1 << ((b - 0xcc) & 3);
		return;
	}
	for (uint64_t i = 0; i < w; i++)
		n = (n << 8) | x->p[x->pos++];
	x->pos += (size_t)n;
}

static uint64_t rd_be(struct tree *x, int w)
{
	uint64_t v = 0;
	for (int i = 0; i < w; i++)
		v = (v << 8) | x->p[x->pos + (size_t)i];
	x->pos += (size_t)w;
	return v;
}

static void set_int(msgpack_object *o, int64_t v)
{
	if (v >= 0) {
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = (uint64_t)v;
	} else {
		o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
		o->via.i64 = v;
	}
}

/* depth: 0 for the message, 1 for the top map's keys and values. */
static void node(struct tree *x, msgpack_object *o, int depth)
{
	uint8_t b = x->p[x->pos++];
	uint64_t n = 0;
	int w;
	if (b <= 0x7f) {
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = b;
		return;
	}
	if (b >= 0xe0) {
		o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
		o->via.i64 = (int8_t)b;
		return;
	}
	if (b <= 0x8f || (b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd || b == 0xde ||
	    b == 0xdf) {
		bool map = b <= 0x8f || b == 0xde || b == 0xdf;
		n = b <= 0x9f ? (uint64_t)(b & 0x0f) : rd_be(x, (b == 0xdc || b == 0xde) ? 2 : 4);
		if (!map && depth == 1 && x->lazy_min && n > x->lazy_min) {
			o->type = MSGPACK_OBJECT_EXT;
			o->via.ext.type = MB_EXT_LAZY;
			o->via.ext.size = (uint32_t)n;
			o->via.ext.ptr = (const char *)x->p + x->pos;
			for (uint64_t i = 0; i < n; i++)
				skip(x);
			return;
		}
		msgpack_object *kids = kids_for(x, map ? 2 * (size_t)n : (size_t)n);
		if (!kids && n) {
			for (uint64_t i = 0; i < (map ? 2 * n : n); i++)
				skip(x);
			o->type = MSGPACK_OBJECT_NIL;
			return;
		}
		for (size_t i = 0; i < (map ? 2 * n : n); i++)
			node(x, &kids[i], depth + 1);
		if (map) {
			o->type = MSGPACK_OBJECT_MAP;
			o->via.map.size = (uint32_t)n;
			o->via.map.ptr = (msgpack_object_kv *)(void *)kids;
		} else {
			o->type = MSGPACK_OBJECT_ARRAY;
			o->via.array.size = (uint32_t)n;
			o->via.array.ptr = kids;
		}
		return;
	}
	if (b >= 0xa0 && b <= 0xbf) {
		n = b & 0x1f;
		goto str;
	}
	switch (b) {
	case 0xc0: o->type = MSGPACK_OBJECT_NIL; return;
	case 0xc2: case 0xc3:
		o->type = MSGPACK_OBJECT_BOOLEAN;
		o->via.boolean = b == 0xc3;
		return;
	case 0xc4: case 0xc5: case 0xc6:
		n = rd_be(x, b == 0xc4 ? 1 : b == 0xc5 ? 2 : 4);
		o->type = MSGPACK_OBJECT_BIN;
		o->via.bin.size = (uint32_t)n;
		o->via.bin.ptr = (const char *)x->p + x->pos;
		x->pos += (size_t)n;
		return;
	case 0xca: {
		uint32_t u = (uint32_t)rd_be(x, 4);
		float f;
		memcpy(&f, &u, 4);
		o->type = MSGPACK_OBJECT_FLOAT32;
		o->via.f64 = f;
		return;
	}
	case 0xcb: {
		uint64_t u = rd_be(x, 8);
		double d;
		memcpy(&d, &u, 8);
		o->type = MSGPACK_OBJECT_FLOAT64;
		o->via.f64 = d;
		return;
	}
	case 0xcc: case 0xcd: case 0xce: case 0xcf:
		w = 1 << (b - 0xcc);
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = rd_be(x, w);
		return;
	case 0xd0: set_int(o, (int8_t)rd_be(x, 1)); return;
	case 0xd1: set_int(o, (int16_t)rd_be(x, 2)); return;
	case 0xd2: set_int(o, (int32_t)rd_be(x, 4)); return;
	case 0xd3: set_int(o, (int64_t)rd_be(x, 8)); return;
	default: /* 0xd9-0xdb: the pre-scan let nothing else through */
		n = rd_be(x, b == 0xd9 ? 1 : b == 0xda ? 2 : 4);
		goto str;
	}
str:
	o->type = MSGPACK_OBJECT_STR;
	o->via.str.size = (uint32_t)n;
	o->via.str.ptr = (const char *)x->p + x->pos;
	x->pos += (size_t)n;
}

/* Both unpackers: the pre-scan, then the tree. lazy_min 0: every object built, its children
 * in one allocation of the counted size; else long top-level arrays left unbuilt, the rest
 * taken from a zone as met. */
static int unpack(const void *p, size_t n, size_t max, uint32_t lazy_min, msgpack_unpacked *u,
                  char *err, size_t errlen)
{
	int rv;
	size_t nobj = 0;
	struct tree x = {.p = p, .lazy_min = lazy_min};

	if (!p && n > 0) {
		snprintf(err, errlen, "no message");
		return MB_EINVAL;
	}
	if ((rv = scan(p, n, max, err, errlen, &nobj)) != 0)
		return rv;
	msgpack_unpacked_init(u);
	if (nobj > SIZE_MAX / sizeof(msgpack_object) - 1 ||
	    (u->zone = msgpack_zone_new(lazy_min ? 8192 : (nobj + 1) * sizeof(msgpack_object))) ==
	            NULL)
		goto nomem;
	if (lazy_min)
		x.z = u->zone;
	else if (nobj && (x.pool = msgpack_zone_malloc(u->zone, nobj * sizeof *x.pool)) == NULL)
		goto nomem;
	node(&x, &u->data, 0);
	if (!x.oom)
		return 0;
nomem:
	msgpack_unpacked_destroy(u);
	snprintf(err, errlen, "out of memory unpacking %zu objects", nobj);
	return MB_ENOMEM;
}

int mb_unpack(const void *p, size_t n, size_t max, msgpack_unpacked *u, char *err,
              size_t errlen)
{
	return unpack(p, n, max, 0, u, err, errlen);
}

int mb_unpack_top(const void *p, size_t n, size_t max, uint32_t lazy_min, msgpack_unpacked *u,
                  char *err, size_t errlen)
{
	return unpack(p, n, max, lazy_min ? lazy_min : 1, u, err, errlen);
}

int mb_rd_elems(struct mb_dec *d, const msgpack_object *o, const char *pfx, const char *field,
                uint32_t min, uint32_t max, struct mb_elems *e)
{
	memset(e, 0, sizeof *e);
	if (o->type != MSGPACK_OBJECT_EXT || o->via.ext.type != MB_EXT_LAZY)
		return mb_rd_array(d, o, pfx, field, min, max, &e->built, &e->n);
	uint32_t k = o->via.ext.size;
	if ((k < min || k > max) && min == max)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "%u elements, want %u", k, min);
	if (k < min || k > max)
		return mb_dec_fail(d, MB_EINVAL, pfx, field, "%u elements, want %u..%u", k, min, max);
	if ((e->z = msgpack_zone_new(8192)) == NULL)
		return mb_dec_fail(d, MB_ENOMEM, pfx, field, "out of memory");
	e->p = (const uint8_t *)o->via.ext.ptr;
	e->n = k;
	return 0;
}

const msgpack_object *mb_elems_next(struct mb_elems *e)
{
	if (e->i >= e->n)
		return NULL;
	if (e->built)
		return &e->built[e->i++];
	msgpack_zone_clear(e->z);
	struct tree x = {.p = e->p, .pos = e->pos, .z = e->z};
	node(&x, &e->cur, 2);
	if (x.oom)
		return NULL;
	e->pos = x.pos;
	e->i++;
	return &e->cur;
}

void mb_elems_done(struct mb_elems *e)
{
	if (e->z)
		msgpack_zone_free(e->z);
	e->z = NULL;
}
