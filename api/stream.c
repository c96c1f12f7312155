/* stream.c: /metrics as libmicrohttpd reads it: the exposition rendered a chunk at a time and,
 * for clients that accept it, gzip'ed as it goes, so a scrape is never whole in memory. */
#include <microhttpd.h> /* before api.h: its MHD callbacks */
#include "api.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CHUNK (64u << 10)

struct api_mstream {
	struct api_server *srv;
	struct api_prom_stream *ps;
	struct mb_buf plain;
	size_t off;
	bool eof, gz, zdone;
	z_stream z;
};

/* More plain text: 0, or -1 when there is none and never will be. */
static int refill(struct api_mstream *m)
{
	m->plain.len = 0;
	m->off = 0;
	while (!m->eof && m->plain.len == 0) {
		int rv = api_prom_stream_next(m->ps, &m->plain, CHUNK);
		if (rv != 0)
			m->eof = true; /* the end, or out of memory: the body ends here */
	}
	return m->plain.len ? 0 : -1;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct api_mstream *m = cls;
	(void)pos;
	if (!m->gz) {
		if (m->off == m->plain.len && refill(m) != 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		size_t n = m->plain.len - m->off < max ? m->plain.len - m->off : max;
		memcpy(buf, m->plain.data + m->off, n);
		m->off += n;
		return (ssize_t)n;
	}
	if (m->zdone)
		return MHD_CONTENT_READER_END_OF_STREAM;
	m->z.next_out = (Bytef *)buf;
	m->z.avail_out = (uInt)max;
	while (m->z.avail_out > 0 && !m->zdone) {
		if (m->z.avail_in == 0 && !m->eof) {
			if (m->off == m->plain.len)
				(void)refill(m);
			m->z.next_in = m->plain.data + m->off;
			m->z.avail_in = (uInt)(m->plain.len - m->off);
			m->off = m->plain.len;
		}
		int zr = deflate(&m->z, m->eof && m->z.avail_in == 0 ? Z_FINISH : Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			m->zdone = true;
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	size_t n = max - m->z.avail_out;
	return n ? (ssize_t)n : (m->zdone ? MHD_CONTENT_READER_END_OF_STREAM : 0);
}

static void done(void *cls)
{
	struct api_mstream *m = cls;
	if (m->gz)
		deflateEnd(&m->z);
	api_serve_stream_done(m->srv, m->ps);
	mb_buf_free(&m->plain);
	free(m);
}

struct MHD_Response *api_stream_response(struct api_server *srv, struct api_prom_stream *ps,
                                         bool gzip_ok, bool *gz)
{
	struct api_mstream *m = calloc(1, sizeof *m);
	*gz = false;
	if (!m) {
		api_serve_stream_done(srv, ps);
		return NULL;
	}
	m->srv = srv;
	m->ps = ps;
	if (gzip_ok && deflateInit2(&m->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK)
		m->gz = true;
	struct MHD_Response *r =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, CHUNK, reader, m, done);
	if (!r) {
		done(m);
		return NULL;
	}
	*gz = m->gz;
	return r;
}
