/* gzip.c: Content-Encoding gzip for clients that accept it (Prometheus always does), with
 * zlib; a body whole in memory is compressed in one go (/metrics is compressed as it streams,
 * stream.c). */
#include "api.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

bool api_accepts_gzip(const char *ae)
{
	if (!ae)
		return false;
	for (const char *p = ae; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *end = p + strcspn(p, ",");
		size_t tl = strcspn(p, ";, ");
		if ((tl == 4 && strncasecmp(p, "gzip", 4) == 0) || (tl == 1 && *p == '*')) {
			/* "gzip;q=0" refuses it */
			const char *q = strstr(p, "q=");
			if (q && q < end && strtod(q + 2, NULL) == 0)
				return false;
			return true;
		}
		p = end;
	}
	return false;
}

int api_gzip(const void *in, size_t n, struct mb_buf *out)
{
	z_stream z;
	int rv;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return MB_ENOMEM;
	uLong bound = deflateBound(&z, (uLong)n);
	out->len = 0;
	if (out->cap < bound) {
		uint8_t *p = realloc(out->data, bound);
		if (!p) {
			deflateEnd(&z);
			return MB_ENOMEM;
		}
		out->data = p;
		out->cap = bound;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out->data;
	z.avail_out = (uInt)out->cap;
	rv = deflate(&z, Z_FINISH);
	out->len = out->cap - z.avail_out;
	deflateEnd(&z);
	return rv == Z_STREAM_END ? 0 : MB_ENOMEM;
}
