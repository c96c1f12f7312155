/* rwsink.c: the bench's remote-write receiver: takes Prometheus remote-write POSTs on a loopback
 * port, answers 204, and counts requests, bytes, series and samples (snappy and protobuf read).
 *
 * Usage: rwsink; prints "PORT n", then answers lines on stdin: "stats" (one JSON line),
 * "mark T_MS" (from now on, count the samples stamped T_MS and those at or before it), "reset".
 * A receiver of our own, not Prometheus: the bench measures agentd's cost of shipping, and
 * Prometheus's own ingest would take the machine's CPU from under it. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (64u << 20)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t requests, bad, bytes, raw_bytes, series, samples, at_mark, le_mark;
	int64_t min_t, max_t, mark;
} st;

struct body {
	char *p;
	size_t n, cap;
	bool over;
};

static int varint(const uint8_t **p, const uint8_t *e, uint64_t *v)
{
	*v = 0;
	for (int sh = 0; *p < e && sh < 64; sh += 7) {
		uint8_t c = *(*p)++;
		*v |= (uint64_t)(c & 0x7f) << sh;
		if (c < 0x80)
			return 0;
	}
	return -1;
}

/* One protobuf field at *p: its number, and for a length-delimited one its bytes. */
static int field(const uint8_t **p, const uint8_t *e, uint32_t *num, const uint8_t **s, size_t *n,
                 uint64_t *v)
{
	uint64_t key;
	if (varint(p, e, &key) != 0)
		return -1;
	*num = (uint32_t)(key >> 3);
	switch (key & 7) {
	case 0: return varint(p, e, v);
	case 1:
		if (e - *p < 8)
			return -1;
		*s = *p;
		*n = 8;
		*p += 8;
		return 0;
	case 2:
		if (varint(p, e, v) != 0 || *v > (uint64_t)(e - *p))
			return -1;
		*s = *p;
		*n = (size_t)*v;
		*p += *v;
		return 0;
	case 5:
		if (e - *p < 4)
			return -1;
		*p += 4;
		return 0;
	default: return -1;
	}
}

/* Counts a WriteRequest's series and samples (the caller holds mu). */
static int count(const uint8_t *p, size_t len)
{
	const uint8_t *e = p + len, *s, *s2, *s3;
	size_t n, n2, n3;
	uint32_t f, g, h;
	uint64_t v;
	while (p < e) {
		if (field(&p, e, &f, &s, &n, &v) != 0)
			return -1;
		if (f != 1)
			continue;
		st.series++;
		for (const uint8_t *q = s, *qe = s + n; q < qe;) {
			if (field(&q, qe, &g, &s2, &n2, &v) != 0)
				return -1;
			if (g != 2)
				continue;
			int64_t t = 0;
			for (const uint8_t *r = s2, *re = s2 + n2; r < re;) {
				if (field(&r, re, &h, &s3, &n3, &v) != 0)
					return -1;
				if (h == 2)
					t = (int64_t)v;
			}
			st.samples++;
			if (!st.min_t || t < st.min_t)
				st.min_t = t;
			if (t > st.max_t)
				st.max_t = t;
			if (st.mark) {
				st.at_mark += t == st.mark;
				st.le_mark += t <= st.mark;
			}
		}
	}
	return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con)
{
	struct body *b = *con;
	(void)cls, (void)url, (void)version;
	if (strcmp(method, "POST") != 0)
		return reply(c, 405);
	if (!b) {
		if (!(b = calloc(1, sizeof *b)))
			return MHD_NO;
		*con = b;
		return MHD_YES;
	}
	if (*size) {
		if (b->n + *size > MAX_BODY) {
			b->over = true;
		} else {
			if (b->n + *size > b->cap) {
				size_t cap = (b->n + *size) * 2;
				char *p = realloc(b->p, cap);
				if (!p)
					return MHD_NO;
				b->p = p;
				b->cap = cap;
			}
			memcpy(b->p + b->n, data, *size);
			b->n += *size;
		}
		*size = 0;
		return MHD_YES;
	}
	size_t raw = 0;
	char *out = NULL;
	bool ok = !b->over && snappy_uncompressed_length(b->p, b->n, &raw) == SNAPPY_OK &&
	          (out = malloc(raw ? raw : 1)) != NULL &&
	          snappy_uncompress(b->p, b->n, out, &raw) == SNAPPY_OK;
	pthread_mutex_lock(&mu);
	st.requests++;
	st.bytes += b->n;
	if (ok) {
		st.raw_bytes += raw;
		ok = count((const uint8_t *)out, raw) == 0;
	}
	st.bad += !ok;
	pthread_mutex_unlock(&mu);
	free(out);
	return reply(c, ok ? 204 : 400);
}

static void done(void *cls, struct MHD_Connection *c, void **con, enum MHD_RequestTerminationCode t)
{
	struct body *b = *con;
	(void)cls, (void)c, (void)t;
	if (b)
		free(b->p);
	free(b);
	*con = NULL;
}

int main(void)
{
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
	    MHD_OPTION_SOCK_ADDR,
	    (const struct sockaddr *)&(struct sockaddr_in){.sin_family = AF_INET,
	                                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
	    MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "rwsink: cannot listen\n");
		return 1;
	}
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("PORT %u\n", i ? i->port : 0);
	fflush(stdout);
	char line[128];
	while (fgets(line, sizeof line, stdin)) {
		pthread_mutex_lock(&mu);
		if (!strncmp(line, "mark ", 5)) {
			st.mark = strtoll(line + 5, NULL, 10);
			st.at_mark = st.le_mark = 0;
		} else if (!strncmp(line, "reset", 5)) {
			memset(&st, 0, sizeof st);
		} else if (!strncmp(line, "stats", 5)) {
			printf("{\"requests\":%" PRIu64 ",\"bad\":%" PRIu64 ",\"bytes\":%" PRIu64
			       ",\"raw_bytes\":%" PRIu64 ",\"series\":%" PRIu64 ",\"samples\":%" PRIu64
			       ",\"at_mark\":%" PRIu64 ",\"le_mark\":%" PRIu64 ",\"min_t\":%" PRId64
			       ",\"max_t\":%" PRId64 "}\n",
			       st.requests, st.bad, st.bytes, st.raw_bytes, st.series, st.samples,
			       st.at_mark, st.le_mark, st.min_t, st.max_t);
			fflush(stdout);
		}
		pthread_mutex_unlock(&mu);
	}
	MHD_stop_daemon(d);
	return 0;
}
