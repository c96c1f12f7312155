/* blast.c: the bench's statsd load generator: pre-built datagrams of a chosen mix sent with
 * sendmmsg at a fixed line rate or flat out, then one JSON line saying exactly what was sent. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BLAST_BATCH 64     /* datagrams per sendmmsg: 16-64 is the sweet spot on loopback */
#define BLAST_MAX_DGRAM 1432 /* what fits one Ethernet frame, as statsd clients keep to */

enum { T_C, T_G, T_MS, T_S, T_N };
static const char *const type_str[T_N] = {"c", "g", "ms", "s"};

struct opts {
	const char *host, *port, *unix_path, *mix, *tag_style, *prefix;
	int lines, series;
	double rate, duration;
	long long count;
	int sndbuf;
};

struct pool {
	char *buf;           /* all datagrams, back to back */
	size_t buf_len, buf_cap;
	size_t *off, *len;   /* per datagram */
	int *nlines;         /* lines per datagram */
	int (*ntype)[T_N];   /* lines of each type per datagram */
	size_t n, cap;
};

static int usage(void)
{
	fprintf(stderr,
	        "usage: blast --port PORT [--host H] | --unix PATH\n"
	        "             [--mix counters|mixed|cg|timers] [--lines 1|20] [--series N]\n"
	        "             [--rate LINES_PER_S (0 = flat out)] [--duration S | --count LINES]\n"
	        "             [--tags dog|name|none] [--prefix P] [--sndbuf BYTES]\n"
	        "Prints one JSON object with what was sent.\n");
	return 2;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The type of series i in a mix: mixed is 4 counters, 2 gauges, 3 timers, 1 set in 10, a
 * spread typical of service instrumentation (counts and latencies dominate); cg alternates
 * counters and gauges and timers is all timers (the shim's memory targets). */
static int series_type(const struct opts *o, int i)
{
	static const int mixed[10] = {T_C, T_MS, T_C, T_G, T_MS, T_C, T_S, T_MS, T_C, T_G};
	if (strcmp(o->mix, "counters") == 0)
		return T_C;
	if (strcmp(o->mix, "cg") == 0)
		return i % 2 ? T_G : T_C;
	if (strcmp(o->mix, "timers") == 0)
		return T_MS;
	return mixed[i % 10];
}

/* One statsd line for series i, its k-th occurrence in the pool. Counters always add 1, so
 * the sum of counter values received equals the number of counter lines delivered. */
static int format_line(const struct opts *o, int i, long k, char *out, size_t n)
{
	int t = series_type(o, i);
	char value[32], tags[96] = "", nametag[64] = "";
	switch (t) {
	case T_C: snprintf(value, sizeof value, "1"); break;
	case T_G: snprintf(value, sizeof value, "%ld", (k * 7 + i) % 1000); break;
	case T_MS: snprintf(value, sizeof value, "%ld.%ld", (k * 13 + i) % 500, k % 10); break;
	default: snprintf(value, sizeof value, "u%ld", (k * 31 + i) % 200); break;
	}
	if (strcmp(o->mix, "mixed") == 0) {
		if (strcmp(o->tag_style, "dog") == 0)
			snprintf(tags, sizeof tags, "|#env:bench,region:r%d,svc:s%d", i % 4, i % 7);
		else if (strcmp(o->tag_style, "name") == 0)
			snprintf(nametag, sizeof nametag, ".env_bench.region_r%d.svc_s%d", i % 4,
			         i % 7);
	}
	return snprintf(out, n, "%s.%s.%d%s:%s|%s%s", o->prefix, type_str[t], i, nametag, value,
	                type_str[t], tags);
}

static int pool_push(struct pool *p, const char *d, size_t len, int nl, const int *nt)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 1024;
		size_t *off = realloc(p->off, cap * sizeof *off);
		if (!off)
			return -1;
		p->off = off;
		size_t *ln = realloc(p->len, cap * sizeof *ln);
		if (!ln)
			return -1;
		p->len = ln;
		int *nls = realloc(p->nlines, cap * sizeof *nls);
		if (!nls)
			return -1;
		p->nlines = nls;
		int(*nts)[T_N] = realloc(p->ntype, cap * sizeof *nts);
		if (!nts)
			return -1;
		p->ntype = nts;
		p->cap = cap;
	}
	if (p->buf_len + len > p->buf_cap) {
		size_t bc = p->buf_cap ? p->buf_cap * 2 : 1 << 20;
		char *b = realloc(p->buf, bc);
		if (!b)
			return -1;
		p->buf = b;
		p->buf_cap = bc;
	}
	size_t off = p->buf_len;
	memcpy(p->buf + off, d, len);
	p->buf_len += len;
	p->off[p->n] = off;
	p->len[p->n] = len;
	p->nlines[p->n] = nl;
	memcpy(p->ntype[p->n], nt, sizeof p->ntype[p->n]);
	p->n++;
	return 0;
}

/* Enough datagrams that every series appears at least once (twice when the pool is small,
 * so values vary), packed `lines` lines each. */
static int build_pool(const struct opts *o, struct pool *p)
{
	long total = o->series < 5000 ? 10000 : o->series;
	char d[BLAST_MAX_DGRAM], line[256];
	size_t dl = 0;
	int nl = 0, nt[T_N] = {0};
	for (long k = 0; k < total; k++) {
		int i = (int)(k % o->series);
		int ll = format_line(o, i, k / o->series, line, sizeof line);
		if (ll < 0 || (size_t)ll >= sizeof line)
			return -1;
		if (nl > 0 && (nl == o->lines || dl + 1 + (size_t)ll > BLAST_MAX_DGRAM)) {
			if (pool_push(p, d, dl, nl, nt) != 0)
				return -1;
			dl = 0;
			nl = 0;
			memset(nt, 0, sizeof nt);
		}
		if (nl > 0)
			d[dl++] = '\n';
		memcpy(d + dl, line, (size_t)ll);
		dl += (size_t)ll;
		nl++;
		nt[series_type(o, i)]++;
	}
	if (nl > 0 && pool_push(p, d, dl, nl, nt) != 0)
		return -1;
	return 0;
}

static int open_socket(const struct opts *o)
{
	int fd;
	if (o->unix_path) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		if (strlen(o->unix_path) >= sizeof sun.sun_path)
			return -1;
		strcpy(sun.sun_path, o->unix_path);
		if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
			close(fd);
			return -1;
		}
	} else {
		struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai;
		if (getaddrinfo(o->host, o->port, &hints, &ai) != 0)
			return -1;
		fd = socket(ai->ai_family, SOCK_DGRAM, 0);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
		freeaddrinfo(ai);
		if (fd < 0)
			return -1;
	}
	if (o->sndbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o->sndbuf, sizeof o->sndbuf);
	return fd;
}

int main(int argc, char **argv)
{
	struct opts o = {.host = "127.0.0.1", .mix = "counters", .tag_style = "dog",
	                 .prefix = "bench", .lines = 1, .series = 10, .duration = 2.0,
	                 .sndbuf = 4 << 20};
	static const struct option lo[] = {
		{"host", 1, 0, 'H'},   {"port", 1, 0, 'p'},   {"unix", 1, 0, 'u'},
		{"mix", 1, 0, 'm'},    {"lines", 1, 0, 'l'},  {"series", 1, 0, 's'},
		{"rate", 1, 0, 'r'},   {"duration", 1, 0, 'd'}, {"count", 1, 0, 'c'},
		{"tags", 1, 0, 't'},   {"prefix", 1, 0, 'P'}, {"sndbuf", 1, 0, 'b'},
		{"help", 0, 0, 'h'},   {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'H': o.host = optarg; break;
		case 'p': o.port = optarg; break;
		case 'u': o.unix_path = optarg; break;
		case 'm': o.mix = optarg; break;
		case 'l': o.lines = atoi(optarg); break;
		case 's': o.series = atoi(optarg); break;
		case 'r': o.rate = atof(optarg); break;
		case 'd': o.duration = atof(optarg); break;
		case 'c': o.count = atoll(optarg); break;
		case 't': o.tag_style = optarg; break;
		case 'P': o.prefix = optarg; break;
		case 'b': o.sndbuf = atoi(optarg); break;
		case 'h': usage(); return 0;
		default: return usage();
		}
	}
	if ((!o.port && !o.unix_path) || o.lines < 1 || o.lines > 64 || o.series < 1 ||
	    o.series > 10000000 || o.rate < 0 || o.duration <= 0 || o.count < 0 ||
	    (strcmp(o.mix, "counters") != 0 && strcmp(o.mix, "mixed") != 0 &&
	     strcmp(o.mix, "cg") != 0 && strcmp(o.mix, "timers") != 0) ||
	    (strcmp(o.tag_style, "dog") != 0 && strcmp(o.tag_style, "name") != 0 &&
	     strcmp(o.tag_style, "none") != 0) ||
	    strlen(o.prefix) > 64)
		return usage();

	struct pool p = {0};
	if (build_pool(&o, &p) != 0) {
		fprintf(stderr, "blast: out of memory building datagrams\n");
		return 1;
	}
	int fd = open_socket(&o);
	if (fd < 0) {
		fprintf(stderr, "blast: cannot open socket: %s\n", strerror(errno));
		return 1;
	}

	struct mmsghdr msgs[BLAST_BATCH];
	struct iovec iov[BLAST_BATCH];
	memset(msgs, 0, sizeof msgs);
	long long lines = 0, dgrams = 0, bytes = 0, errors = 0, ntype[T_N] = {0};
	size_t next = 0;
	double t0 = now_s(), end = t0 + o.duration, t = t0;
	while (o.count ? lines < o.count : t < end) {
		int n = 0, batch_lines = 0;
		while (n < BLAST_BATCH) {
			if (o.count && lines + batch_lines + p.nlines[next] > o.count && n > 0)
				break;
			iov[n].iov_base = p.buf + p.off[next];
			iov[n].iov_len = p.len[next];
			msgs[n].msg_hdr.msg_iov = &iov[n];
			msgs[n].msg_hdr.msg_iovlen = 1;
			batch_lines += p.nlines[next];
			n++;
			next = (next + 1) % p.n;
			if (o.rate > 0 && batch_lines >= o.rate / 1000)
				break; /* keep bursts under a millisecond's worth */
		}
		if (o.rate > 0) {
			/* Pace by lines sent so far: sleep until this batch is due. */
			double due = t0 + (double)lines / o.rate;
			double wait = due - now_s();
			if (wait > 0) {
				struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
				nanosleep(&ts, NULL);
			}
		}
		int sent = sendmmsg(fd, msgs, (unsigned)n, 0);
		if (sent < 0) {
			if (errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED &&
			    errno != EINTR) {
				fprintf(stderr, "blast: sendmmsg: %s\n", strerror(errno));
				return 1;
			}
			errors++;
			sent = 0;
		}
		/* Account exactly what the kernel took: rewind `next` past the unsent ones. */
		size_t first = (next + p.n * 2 - (size_t)n) % p.n;
		for (int k = 0; k < sent; k++) {
			size_t j = (first + (size_t)k) % p.n;
			lines += p.nlines[j];
			bytes += (long long)p.len[j];
			for (int ty = 0; ty < T_N; ty++)
				ntype[ty] += p.ntype[j][ty];
		}
		dgrams += sent;
		next = (first + (size_t)sent) % p.n;
		t = now_s();
	}
	double secs = now_s() - t0;
	printf("{\"lines\":%lld,\"datagrams\":%lld,\"bytes\":%lld,\"seconds\":%.6f,"
	       "\"lines_per_s\":%.1f,\"send_errors\":%lld,\"counter_lines\":%lld,"
	       "\"counter_sum\":%lld,\"gauge_lines\":%lld,\"timer_lines\":%lld,\"set_lines\":%lld,"
	       "\"series\":%d,\"lines_per_datagram\":%d,\"mix\":\"%s\",\"tags\":\"%s\","
	       "\"rate\":%.1f}\n",
	       lines, dgrams, bytes, secs, secs > 0 ? (double)lines / secs : 0.0, errors,
	       ntype[T_C], ntype[T_C], ntype[T_G], ntype[T_MS], ntype[T_S], o.series, o.lines,
	       o.mix, o.tag_style, o.rate);
	close(fd);
	free(p.buf);
	free(p.off);
	free(p.len);
	free(p.nlines);
	free(p.ntype);
	return 0;
}
