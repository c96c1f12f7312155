/* recv.c: the statsd socket (UDP or Unix datagram): its set-up and the recvmmsg loop that
 * hands each datagram to the aggregator, plus the kernel's drop count (SO_RXQ_OVFL). */
#include "shim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <linux/sock_diag.h>
#include <unistd.h>

#define RCVBUF     (8 << 20)
#define BATCH      32
#define SLOT       65536 /* the largest UDP datagram is 65,507 bytes */
#define MAX_ROUNDS 64    /* per call, so signals and flushes are not starved */

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif

struct shim_recv {
	int fd;
	bool is_unix;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint32_t last_ovfl; /* the kernel's drop count already added to the stats */
	bool short_read;    /* the last drain read datagrams and ended on a partial batch */
	int last_n;         /* datagrams and bytes the last drain read */
	size_t last_bytes;
	char *bufs;         /* BATCH x SLOT; untouched pages are never resident */
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	char ctl[BATCH][CMSG_SPACE(sizeof(uint32_t))];
};

static void set_bufs(int fd)
{
	int sz = RCVBUF;
	/* As root past net.core.rmem_max; else as much as it allows. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) != 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz) != 0)
		mb_log_warn("SO_RCVBUF");
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) != 0)
		mb_log_debug("SO_RXQ_OVFL not available on this socket");
}

static int open_unix(struct shim_recv *r, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) == 0 || strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "unix socket path must be 1..%zu bytes",
		         sizeof sa.sun_path - 1);
		return MB_EINVAL;
	}
	strcpy(sa.sun_path, path);
	r->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (r->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return MB_ESYS;
	}
	set_bufs(r->fd);
	struct stat st;
	/* A stale socket of an earlier run goes; anything else at the path is left alone. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(r->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		close(r->fd);
		r->fd = -1;
		return MB_ESYS;
	}
	r->is_unix = true;
	strcpy(r->path, path);
	return 0;
}

static int open_udp(struct shim_recv *r, const char *spec, char *host, size_t hostlen, int *port,
                    char *err, size_t errlen)
{
	char h[256];
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || strlen(colon + 1) == 0) {
		snprintf(err, errlen, "--listen: want HOST:PORT or unix:PATH, got \"%s\"", spec);
		return MB_EINVAL;
	}
	size_t hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof h) {
		snprintf(err, errlen, "--listen: host too long");
		return MB_EINVAL;
	}
	memcpy(h, spec, hl);
	h[hl] = 0;
	char *end;
	long pn = strtol(colon + 1, &end, 10);
	if (*end || pn < 0 || pn > 65535) {
		snprintf(err, errlen, "--listen: bad port \"%s\"", colon + 1);
		return MB_EINVAL;
	}
	/* The same socket whatever the C library the shim was linked with (the static shim's
	 * is musl): "localhost" is the loopback without asking a resolver (RFC 6761; musl asks
	 * DNS when an image has no /etc/hosts), and of several addresses the first IPv4 one is
	 * bound (musl lists ::1 and :: first, glibc 127.0.0.1 and 0.0.0.0). */
	if (strcasecmp(h, "localhost") == 0)
		snprintf(h, sizeof h, "127.0.0.1");
	struct addrinfo hints, *res = NULL, *ai;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int g = getaddrinfo(h[0] ? h : NULL, colon + 1, &hints, &res);
	if (g != 0) {
		snprintf(err, errlen, "--listen %s: %s", h, gai_strerror(g));
		return MB_EINVAL;
	}
	for (ai = res; ai->ai_next && ai->ai_family != AF_INET; ai = ai->ai_next)
		;
	if (ai->ai_family != AF_INET)
		ai = res;
	r->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (r->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		freeaddrinfo(res);
		return MB_ESYS;
	}
	set_bufs(r->fd);
	if (bind(r->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		snprintf(err, errlen, "bind %s: %s", spec, strerror(errno));
		freeaddrinfo(res);
		close(r->fd);
		r->fd = -1;
		return MB_ESYS;
	}
	freeaddrinfo(res);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(r->fd, (struct sockaddr *)&ss, &sl) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, (socklen_t)hostlen, NULL, 0,
	                NI_NUMERICHOST) != 0) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		close(r->fd);
		r->fd = -1;
		return MB_ESYS;
	}
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                       : ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

int shim_recv_open(const char *spec, struct shim_recv **out, char *host, size_t hostlen, int *port,
                   char *err, size_t errlen)
{
	int rv;
	struct shim_recv *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return MB_ENOMEM;
	}
	r->fd = -1;
	r->bufs = malloc((size_t)BATCH * SLOT);
	if (!r->bufs) {
		snprintf(err, errlen, "out of memory");
		rv = MB_ENOMEM;
		goto fail;
	}
	if (strncmp(spec, "unix:", 5) == 0) {
		if ((rv = open_unix(r, spec + 5, err, errlen)) != 0)
			goto fail;
		snprintf(host, hostlen, "%s", r->path);
		*port = 0;
	} else if ((rv = open_udp(r, spec, host, hostlen, port, err, errlen)) != 0) {
		goto fail;
	}
	for (int i = 0; i < BATCH; i++) {
		r->iov[i].iov_base = r->bufs + (size_t)i * SLOT;
		r->iov[i].iov_len = SLOT;
	}
	*out = r;
	return 0;
fail:
	free(r->bufs);
	free(r);
	return rv;
}

int shim_recv_fd(const struct shim_recv *r)
{
	return r->fd;
}

const char *shim_recv_unix_path(const struct shim_recv *r)
{
	return r->is_unix ? r->path : NULL;
}

/* Both sources read the same running count (sk_drops): only its growth is added. */
static void add_drops(struct shim_recv *r, struct shim_stats *st, uint32_t v)
{
	if ((int32_t)(v - r->last_ovfl) > 0) {
		st->udp_drops += (uint32_t)(v - r->last_ovfl);
		r->last_ovfl = v;
	}
}

void shim_recv_update_drops(struct shim_recv *r, struct shim_agg *a)
{
	/* SO_RXQ_OVFL stamps the count on the datagrams queued after a drop; when none came
	 * after (a burst at the end), the socket's meminfo still has it. */
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t len = sizeof mi;
	if (getsockopt(r->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) == 0 &&
	    len > SK_MEMINFO_DROPS * sizeof mi[0])
		add_drops(r, shim_agg_stats(a), mi[SK_MEMINFO_DROPS]);
}

int shim_recv_drain(struct shim_recv *r, struct shim_agg *a, int64_t now_ms)
{
	struct shim_stats *st = shim_agg_stats(a);
	int total = 0;

	r->short_read = false;
	r->last_bytes = 0;
	r->last_n = 0;
	for (int round = 0; round < MAX_ROUNDS; round++) {
		for (int i = 0; i < BATCH; i++) {
			memset(&r->msgs[i].msg_hdr, 0, sizeof r->msgs[i].msg_hdr);
			r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
			r->msgs[i].msg_hdr.msg_iovlen = 1;
			r->msgs[i].msg_hdr.msg_control = r->ctl[i];
			r->msgs[i].msg_hdr.msg_controllen = sizeof r->ctl[i];
		}
		int n = recvmmsg(r->fd, r->msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				mb_log_warn("recvmmsg");
			break;
		}
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &r->msgs[i].msg_hdr;
			if (h->msg_flags & MSG_TRUNC) {
				st->truncated++;
				st->packets++;
				continue;
			}
			for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
				if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
					uint32_t v;
					memcpy(&v, CMSG_DATA(c), sizeof v);
					/* The kernel's running count of drops on this socket. */
					add_drops(r, st, v);
				}
			}
			shim_agg_packet(a, r->iov[i].iov_base, r->msgs[i].msg_len, now_ms);
			r->last_bytes += r->msgs[i].msg_len;
		}
		total += n;
		r->last_n = total;
		if (n < BATCH) {
			r->short_read = true;
			break;
		}
	}
	return total;
}

/* Measured on the bench's loads: a pause pays off for many small datagrams (1-line ones
 * at 100,000/s: 2.7x less CPU), where waking is most of the cost; for a few big ones (20
 * lines each at 5,000/s) it cost 10-35% more, the data being read cold a millisecond later
 * and wakeups hardly fewer. So: start pausing after a small read, keep on while each pause
 * collects many datagrams. */
#define COALESCE_START_BYTES 1024
#define COALESCE_KEEP_DGRAMS 8

bool shim_recv_coalesce(const struct shim_recv *r, bool paused)
{
	/* A unix datagram socket queues only net.unix.max_dgram_qlen (10 by default)
	 * datagrams whatever its buffer: a pause there would block or drop senders. */
	if (!r->short_read || r->is_unix)
		return false;
	return paused ? r->last_n >= COALESCE_KEEP_DGRAMS : r->last_bytes < COALESCE_START_BYTES;
}

void shim_recv_close(struct shim_recv *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	if (r->is_unix)
		unlink(r->path);
	free(r->bufs);
	free(r);
}
