/* codec_scan.c: the pre-scan that runs before msgpack-c sees a message, and the unpack step.
 * msgpack-c allocates declared sizes before reading elements and recurses per level, so
 * counts, lengths and depth are bounded here, against the bytes actually present. */
#include "codec.h"

#include <stdio.h>

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

int mb_prescan(const uint8_t *p, size_t n, size_t max, char *err, size_t errlen)
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

int mb_unpack(const void *p, size_t n, size_t max, msgpack_unpacked *u, char *err,
              size_t errlen)
{
	int rv;
	size_t off = 0;

	if (!p && n > 0) {
		snprintf(err, errlen, "no message");
		return MB_EINVAL;
	}
	if ((rv = mb_prescan(p, n, max, err, errlen)) != 0)
		return rv;
	msgpack_unpacked_init(u);
	msgpack_unpack_return r = msgpack_unpack_next(u, p, n, &off);
	if (r == MSGPACK_UNPACK_SUCCESS && off == n)
		return 0;
	msgpack_unpacked_destroy(u);
	if (r == MSGPACK_UNPACK_SUCCESS || r == MSGPACK_UNPACK_EXTRA_BYTES)
		snprintf(err, errlen, "trailing bytes at byte %zu", off);
	else if (r == MSGPACK_UNPACK_NOMEM_ERROR)
		snprintf(err, errlen, "message too large or too deep to unpack");
	else if (r == MSGPACK_UNPACK_CONTINUE)
		snprintf(err, errlen, "truncated");
	else
		snprintf(err, errlen, "malformed msgpack");
	return MB_EINVAL;
}
