/* http.c: the libmicrohttpd server: listen address (IPv4/IPv6 dual-stack, unix:PATH, systemd
 * socket activation), thread pool, timeouts and
 * limits, raw paths for strict decoding, gzip, and one log line per request. */
#include <microhttpd.h> /* before api.h: its MHD callbacks */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <time.h>

struct api_http {
	struct MHD_Daemon *d;
	struct api_server *srv;
	struct api_guard *guard;
	int fd;
	char unix_path[108]; /* removed at stop */
};

int api_split_hostport(const char *s, char *host, size_t n, unsigned *port)
{
	const char *colon, *h = s;
	size_t hl;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return MB_EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return MB_EINVAL; /* a bare IPv6 address needs brackets */
		hl = (size_t)(colon - s);
	}
	if (hl >= n)
		return MB_EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (colon[1] == 0 || *end || p > 65535)
		return MB_EINVAL;
	*port = (unsigned)p;
	return 0;
}

/* No unescaping by MHD: routes.c and range.c decode strictly themselves. */
static size_t raw_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	(void)cls;
	vsnprintf(line, sizeof line, fmt, ap);
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = 0;
	mb_log_warnx("http: %s", line);
}

struct arg_ctx {
	struct api_args *a;
	char err[200];
	int rv;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *val)
{
	struct arg_ctx *ac = cls;
	(void)kind;
	if (ac->rv == 0)
		ac->rv = api_args_add(ac->a, key, val, ac->err, sizeof ac->err);
	return ac->rv == 0 ? MHD_YES : MHD_NO;
}

/* For the log: printable, bounded. */
static void safe_copy(const char *s, char *out, size_t n)
{
	size_t o = 0;
	for (; *s && o + 1 < n; s++)
		out[o++] = ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) ? '?' : *s;
	out[o] = 0;
	if (*s && n > 4)
		memcpy(out + n - 4, "...", 4);
}

/* A request that announces a body (a length above 0, or chunks). */
static bool body_announced(struct MHD_Connection *conn)
{
	const char *cl =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if (te)
		return true;
	if (!cl)
		return false;
	for (const char *p = cl; *p; p++)
		if (*p != '0' && *p != ' ')
			return true;
	return false;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	struct api_http *h = cls;
	(void)con_cls;
	(void)toe;
	api_guard_request_done(h->guard, conn);
}

/* The answer's headers, from what the route set. */
static void add_headers(struct MHD_Response *r, const struct api_response *resp, bool gz)
{
	if (resp->ctype)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->ctype);
	if (gz)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	if (resp->www_auth)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                        "Bearer realm=\"metricsbus\"");
	if (resp->allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (resp->etag)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, resp->etag);
	if (resp->cache_control)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, resp->cache_control);
	if (resp->location)
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
}

/* The request counted in the bridge's own metrics, and logged at info. */
static void record(struct api_http *h, const struct timespec *ts0, const char *url,
                   const char *method, int status)
{
	struct timespec ts1;
	clock_gettime(CLOCK_MONOTONIC, &ts1);
	int64_t us = (ts1.tv_sec - ts0->tv_sec) * 1000000 + (ts1.tv_nsec - ts0->tv_nsec) / 1000;
	api_stats_record(h->srv, status, us);
	if (mb_log_enabled(MB_LOG_INFO)) {
		char p[256], m[16];
		safe_copy(url, p, sizeof p);
		safe_copy(method, m, sizeof m);
		mb_log_info("%s %s %d %.1fms", m, p, status, (double)us / 1000.0);
	}
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
	struct api_http *h = cls;
	struct api_args args;
	struct api_response resp;
	struct arg_ctx ac;
	struct timespec ts0;
	static int seen;
	(void)version;
	(void)upload;
	clock_gettime(CLOCK_MONOTONIC, &ts0);
	memset(&args, 0, sizeof args);
	memset(&resp, 0, sizeof resp);
	memset(&ac, 0, sizeof ac);
	ac.a = &args;
	const char *ae =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	/* Answer on the second call, once the whole request is in: a response queued on the
	 * first call makes MHD close the connection (no keep-alive). */
	if (*con_cls == NULL) {
		*con_cls = &seen;
		api_guard_headers_done(h->guard, conn);
		if (!body_announced(conn))
			return MHD_YES;
		/* No endpoint takes a body: refuse it now, unread, and close. Without the token
		 * the answer is 401 all the same, so a client without it learns nothing more. */
		api_serve(h->srv, "BODY", url, &args,
		          MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                      MHD_HTTP_HEADER_AUTHORIZATION),
		          &resp);
		if (resp.status != 401) {
			mb_buf_free(&resp.body);
			memset(&resp, 0, sizeof resp);
			resp.status = 413;
			resp.ctype = "application/json; charset=utf-8";
			api_json_error(&resp.body, "request bodies are not accepted");
			api_put(&resp.body, "\n");
		}
		ae = NULL;
	} else if (*upload_size) {
		*upload_size = 0; /* a body is refused on the first call; nothing comes here */
		return MHD_YES;
	} else {
		MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &ac);
		if (api_ui_path(url)) {
			api_ui_serve(method, url,
			             MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
			                                         MHD_HTTP_HEADER_IF_NONE_MATCH),
			             api_accepts_gzip(ae), &resp);
		} else if (ac.rv != 0) {
			resp.status = 400;
			resp.ctype = "application/json; charset=utf-8";
			api_json_error(&resp.body, ac.err);
			api_put(&resp.body, "\n");
		} else {
			const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
			                                               MHD_HTTP_HEADER_AUTHORIZATION);
			api_serve(h->srv, method, url, &args, auth, &resp);
		}
	}
	api_args_free(&args);

	bool gz = resp.gzipped;
	struct MHD_Response *r;
	if (resp.stream && strcmp(method, "HEAD") == 0) {
		/* libmicrohttpd 0.9.75 ends a chunked answer to HEAD with a stray "0" line: render
		 * it whole instead (the body is not sent, only its length) */
		while (api_prom_stream_next(resp.stream, &resp.body, 1 << 20) == 0)
			;
		api_serve_stream_done(h->srv, resp.stream);
		resp.stream = NULL;
		ae = NULL;
	}
	if (resp.stream) {
		r = api_stream_response(h->srv, resp.stream, api_accepts_gzip(ae), &gz);
		mb_buf_free(&resp.body);
		if (!r)
			return MHD_NO;
		goto headers;
	}
	if (!gz && resp.body.len > 512 && api_accepts_gzip(ae)) {
		struct mb_buf z = {0};
		if (api_gzip(resp.body.data, resp.body.len, &z) == 0) {
			mb_buf_free(&resp.body);
			resp.body = z;
			gz = true;
		} else {
			mb_buf_free(&z);
		}
	}
	if (resp.body.len)
		r = MHD_create_response_from_buffer(resp.body.len, resp.body.data,
		                                    MHD_RESPMEM_MUST_FREE);
	else
		r = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_PERSISTENT);
	if (!r) {
		mb_buf_free(&resp.body);
		return MHD_NO;
	}
	if (!resp.body.len)
		mb_buf_free(&resp.body);
headers:
	add_headers(r, &resp, gz);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp.status, r);
	MHD_destroy_response(r);

	record(h, &ts0, url, method, resp.status);
	return ret;
}

/* systemd socket activation (sd_listen_fds(3) without libsystemd): the first passed fd. */
static int systemd_fd(int *fd, char *err, size_t errlen)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int on = 0;
	socklen_t len = sizeof on;
	if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid() || strtol(fds, NULL, 10) < 1) {
		snprintf(err, errlen, "--listen systemd: no socket passed (LISTEN_PID/LISTEN_FDS "
		                      "unset or for another process): start it from a .socket unit");
		return MB_EINVAL;
	}
	/* SD_LISTEN_FDS_START */
	if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) != 0 || !on) {
		snprintf(err, errlen, "--listen systemd: fd 3 is not a listening stream socket");
		return MB_EINVAL;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	fcntl(3, F_SETFD, FD_CLOEXEC);
	*fd = 3;
	return 0;
}

/* unix:PATH, mode 0660: a stale socket (nobody answers on it) is replaced, a live one or any
 * other file is refused. */
static int unix_fd(const char *path, int *fd, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (path[0] != '/' || strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "bad --listen unix:%s: want an absolute path of at most %zu "
		         "bytes", path, sizeof sa.sun_path - 1);
		return MB_EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path));
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		goto sys;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "cannot listen on unix:%s: a file that is not a socket "
			         "is there", path);
			close(s);
			return MB_EINVAL;
		}
		if (connect(s, (struct sockaddr *)&sa, sizeof sa) == 0) {
			snprintf(err, errlen, "cannot listen on unix:%s: another server answers there",
			         path);
			close(s);
			return MB_EINVAL;
		}
		close(s);
		unlink(path);
		if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			goto sys;
	}
	if (bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(path, 0660) != 0 ||
	    listen(s, 128) != 0) {
		close(s);
		goto sys;
	}
	*fd = s;
	return 0;
sys:
	snprintf(err, errlen, "cannot listen on unix:%s: %s", path, strerror(errno));
	return MB_ESYS;
}

/* HOST:PORT, [V6]:PORT, or :PORT for every address: one IPv6 socket that also takes IPv4
 * (IPV6_V6ONLY off), or IPv4 alone on a host without IPv6. */
static int tcp_fd(const char *spec, int *fd, char *err, size_t errlen)
{
	char host[256], portstr[8];
	unsigned port;
	struct addrinfo hints, *ai = NULL;
	int s = -1, one = 1, zero = 0, gai;
	if (api_split_hostport(spec, host, sizeof host, &port) != 0) {
		snprintf(err, errlen, "bad --listen %s: expected ADDR:PORT, [IPV6]:PORT, :PORT, "
		         "unix:PATH or systemd", spec);
		return MB_EINVAL;
	}
	if (!host[0] || strcmp(host, "*") == 0) {
		struct sockaddr_in6 a6;
		memset(&a6, 0, sizeof a6);
		a6.sin6_family = AF_INET6;
		a6.sin6_addr = in6addr_any;
		a6.sin6_port = htons((uint16_t)port);
		s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s >= 0) {
			setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
			if (setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0 ||
			    bind(s, (struct sockaddr *)&a6, sizeof a6) != 0) {
				close(s);
				s = -1;
			}
		}
		if (s < 0 && (errno == EADDRINUSE || errno == EACCES))
			goto sys;
		if (s < 0) { /* no IPv6 on this host */
			struct sockaddr_in a4;
			memset(&a4, 0, sizeof a4);
			a4.sin_family = AF_INET;
			a4.sin_addr.s_addr = htonl(INADDR_ANY);
			a4.sin_port = htons((uint16_t)port);
			if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
				goto sys;
			setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
			if (bind(s, (struct sockaddr *)&a4, sizeof a4) != 0)
				goto sys;
		}
	} else {
		memset(&hints, 0, sizeof hints);
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE;
		snprintf(portstr, sizeof portstr, "%u", port);
		if ((gai = getaddrinfo(host, portstr, &hints, &ai)) != 0) {
			snprintf(err, errlen, "bad --listen %s: %s", spec, gai_strerror(gai));
			return MB_EINVAL;
		}
		s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			goto sys;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (ai->ai_family == AF_INET6)
			setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
		if (bind(s, ai->ai_addr, ai->ai_addrlen) != 0)
			goto sys;
	}
	if (listen(s, 128) != 0)
		goto sys;
	if (ai)
		freeaddrinfo(ai);
	*fd = s;
	return 0;
sys:
	snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
	if (s >= 0)
		close(s);
	if (ai)
		freeaddrinfo(ai);
	return MB_ESYS;
}

int api_http_start(const struct api_http_opts *o, struct api_server *s, struct api_http **out,
                   char *err, size_t errlen)
{
	struct api_http *h;
	int fd = -1, rv;
	bool is_unix = strncmp(o->listen, "unix:", 5) == 0;
	if (strcmp(o->listen, "systemd") == 0)
		rv = systemd_fd(&fd, err, errlen);
	else if (is_unix)
		rv = unix_fd(o->listen + 5, &fd, err, errlen);
	else
		rv = tcp_fd(o->listen, &fd, err, errlen);
	if (rv != 0)
		return rv;
	/* MHD's epoll loop accepts until EAGAIN */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	h = calloc(1, sizeof *h);
	if (!h) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return MB_ENOMEM;
	}
	h->srv = s;
	h->fd = fd;
	if ((rv = api_guard_new(o->header_timeout_ms, &h->guard)) != 0) {
		snprintf(err, errlen, "cannot start the header deadline thread");
		close(fd);
		free(h);
		return rv;
	}
	if (is_unix)
		snprintf(h->unix_path, sizeof h->unix_path, "%s", o->listen + 5);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	/* the logger comes first so that MHD's messages about the other options go through it */
	h->d = MHD_start_daemon(
		flags, 0, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->conn_limit, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)o->conn_timeout_s, MHD_OPTION_UNESCAPE_CALLBACK, raw_unescape, NULL,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->client_limit,
		MHD_OPTION_NOTIFY_CONNECTION, api_guard_notify, h->guard,
		MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_END);
	if (!h->d) {
		api_guard_free(h->guard);
		snprintf(err, errlen, "cannot serve HTTP on %s", o->listen);
		if (h->unix_path[0])
			unlink(h->unix_path);
		close(fd);
		free(h);
		return MB_ESYS;
	}
	*out = h;
	return 0;
}

void api_http_stop(struct api_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d); /* closes the listen socket, even one it was given */
	api_guard_free(h->guard);
	if (h->unix_path[0])
		unlink(h->unix_path);
	free(h);
}
