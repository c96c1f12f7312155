/* main.c: metricsbus-api, the HTTP bridge: flags, the agentd client, the HTTP server, and a
 * clean stop on TERM/INT. */
#include "api.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* The flags (main thread). */
struct opts {
	const char *listen, *query, *token_file, *dcos_names;
	int64_t timeout_ms, threads, conn_limit, conn_timeout_ms;
	int64_t client_limit, header_timeout_ms, cap_series;
	uint64_t cap_src_bytes, cap_bytes;
	bool hist;
	char defquery[512];
	struct mb_flag flags[16];
	struct mb_prog prog;
};

/* The flag table, --help's words and the values checked; exits on a usage error. */
static void parse_flags(struct opts *o, int argc, char **argv)
{
	o->listen = "127.0.0.1:61001";
	o->timeout_ms = 5000;
	o->threads = 8;
	o->conn_limit = 1024;
	o->conn_timeout_ms = 30000;
	o->client_limit = 64;
	o->header_timeout_ms = 10000;
	o->cap_series = 20000;
	o->cap_src_bytes = 16ull << 20;
	o->cap_bytes = 128ull << 20;
	o->dcos_names = "1.12";
	const struct mb_flag flags[] = {
		{"listen", MB_FLAG_STR, &o->listen, "ADDR:PORT|unix:PATH|systemd",
		 "HTTP address: 127.0.0.1:61001, [::1]:61001, :61001 (every address, IPv6 and "
		 "IPv4), unix:PATH, or systemd (a socket unit's)", false},
		{"query", MB_FLAG_STR, &o->query, "URL", "agentd's query socket (nng URL)", false},
		{"token-file", MB_FLAG_STR, &o->token_file, "FILE",
		 "require Authorization: Bearer TOKEN on all but /healthz; the file holds TOKEN "
		 "(trailing whitespace trimmed)", false},
		{"request-timeout", MB_FLAG_DURATION, &o->timeout_ms, "DURATION",
		 "deadline of each query to agentd; past it: 504", false},
		{"prometheus-histograms", MB_FLAG_BOOL, &o->hist, NULL,
		 "timers as histograms with fixed log-spaced buckets in /metrics", false},
		{"dcos-names", MB_FLAG_STR, &o->dcos_names, "1.12|1.11",
		 "container metric names, tags and units as DC/OS 1.12+ or 1.11 served them", false},
		{"threads", MB_FLAG_INT, &o->threads, "N", "HTTP worker threads (libmicrohttpd's pool)", false},
		{"connection-limit", MB_FLAG_INT, &o->conn_limit, "N",
		 "most concurrent HTTP connections; more wait in the listen queue", false},
		{"connection-timeout", MB_FLAG_DURATION, &o->conn_timeout_ms, "DURATION",
		 "an idle keep-alive connection is closed after this long", false},
		{"metrics-max-series-per-source", MB_FLAG_INT, &o->cap_series, "N",
		 "/metrics: most series of one source (0: no cap; default 20000)", false},
		{"metrics-max-bytes-per-source", MB_FLAG_SIZE, &o->cap_src_bytes, "SIZE",
		 "/metrics: most bytes of one source's series (0: no cap; default 16MiB)", false},
		{"metrics-max-bytes", MB_FLAG_SIZE, &o->cap_bytes, "SIZE",
		 "/metrics: most bytes of series in one scrape (0: no cap; default 128MiB)", false},
		{"connection-limit-per-client", MB_FLAG_INT, &o->client_limit, "N",
		 "most concurrent connections from one IP address", false},
		{"header-timeout", MB_FLAG_DURATION, &o->header_timeout_ms, "DURATION",
		 "a request's headers must be complete this long after the connection opened "
		 "or answered its last request, however slowly they come", false},
	};
	_Static_assert(sizeof flags <= sizeof o->flags, "opts.flags holds the table");
	memcpy(o->flags, flags, sizeof flags);
	static const char *const doc_defaults[] = {"query", "ipc://RUNDIR/query.sock", NULL};
	o->prog = (struct mb_prog){
		.name = "metricsbus-api",
		.component = "api",
		.synopsis = "[FLAGS]",
		.doc_defaults = doc_defaults,
		.about = "Serves the DC/OS metrics API v0, Prometheus /metrics and range queries "
		         "over HTTP by asking metricsbus-agentd over nng.",
		.flags = o->flags,
		.nflags = (int)(sizeof flags / sizeof flags[0]),
	};
	const struct mb_prog *prog = &o->prog;
	int npos = 0;
	if (mb_default_query_url(o->defquery, sizeof o->defquery) == 0)
		o->query = o->defquery; /* so that --help shows it */
	mb_flags_parse(&o->prog, argc, argv, &npos);
	if (npos > 0)
		mb_usage_error(prog, "unexpected argument %s", argv[0]);
	if (o->timeout_ms <= 0 || o->timeout_ms > 3600000)
		mb_usage_error(prog, "--request-timeout must be between 1ms and 1h");
	if (strcmp(o->dcos_names, "1.12") != 0 && strcmp(o->dcos_names, "1.11") != 0)
		mb_usage_error(prog, "--dcos-names must be 1.12 or 1.11");
	if (o->threads < 1 || o->threads > 256)
		mb_usage_error(prog, "--threads must be 1..256");
	if (o->conn_limit < 1 || o->conn_limit > 100000)
		mb_usage_error(prog, "--connection-limit must be 1..100000");
	if (o->client_limit < 1 || o->client_limit > 100000)
		mb_usage_error(prog, "--connection-limit-per-client must be 1..100000");
	if (o->header_timeout_ms < 100 || o->header_timeout_ms > 3600000)
		mb_usage_error(prog, "--header-timeout must be between 100ms and 1h");
	if (o->conn_timeout_ms < 1000)
		mb_usage_error(prog, "--connection-timeout must be at least 1s");
	char host[256];
	unsigned port;
	if (strcmp(o->listen, "systemd") != 0 && strncmp(o->listen, "unix:", 5) != 0 &&
	    api_split_hostport(o->listen, host, sizeof host, &port) != 0)
		mb_usage_error(prog, "bad --listen %s: expected ADDR:PORT, [IPV6]:PORT, :PORT, "
		                     "unix:PATH or systemd", o->listen);
}

int main(int argc, char **argv)
{
	static struct opts o;
	static char token[4096];
	char err[512];
	parse_flags(&o, argc, argv);
	const char *listen = o.listen, *query = o.query, *token_file = o.token_file;
	if (!query) {
		if (mb_default_query_url(o.defquery, sizeof o.defquery) != 0)
			mb_fatalx("the default query socket path is too long; use --query");
		query = o.defquery;
	}
	/* A scrape's big buffers (its export's items, sort entries, text: ~30 MB at 100,000
	 * series) go back to the system when it ends: with glibc's sliding threshold they land
	 * in the serving thread's heap after the first free and stay resident there, once per
	 * MHD thread. A fixed threshold also fixes the trim threshold: kept above an /app
	 * answer's working set (~1 MB), or every answer would give its heap back and fault
	 * it in again. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	struct api_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		mb_fatalx("out of memory");
	pthread_mutex_init(&srv->node_mu, NULL);
	srv->timeout_ms = (int)o.timeout_ms;
	srv->hist = o.hist;
	srv->caps.src_series = (uint64_t)o.cap_series;
	srv->caps.src_bytes = o.cap_src_bytes;
	srv->caps.total_bytes = o.cap_bytes;
	srv->dcos_names = strcmp(o.dcos_names, "1.11") == 0 ? 111 : 112;
	if (token_file) {
		if (api_token_load(token_file, token, sizeof token, err, sizeof err) != 0)
			mb_usage_error(&o.prog, "%s", err);
		srv->token = token;
	}

	/* Signals are blocked before nng starts its threads so they land in the main thread. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int rv = mb_client_open(query, MB_MAX_EXPORT_MSG, &srv->client);
	if (rv != 0)
		mb_fatalx("cannot open the query client for %s: %s", query, mb_strerror(rv));
	struct api_http_opts ho = {
		.listen = listen,
		.threads = (unsigned)o.threads,
		.conn_limit = (unsigned)o.conn_limit,
		.conn_timeout_s = (unsigned)((o.conn_timeout_ms + 999) / 1000),
		.client_limit = (unsigned)o.client_limit,
		.header_timeout_ms = o.header_timeout_ms,
	};
	struct api_http *h = NULL;
	if (api_http_start(&ho, srv, &h, err, sizeof err) != 0)
		mb_fatalx("%s", err);
	mb_log_info("listening on %s%s, asking agentd at %s%s",
	            strncmp(listen, "unix:", 5) && strcmp(listen, "systemd") ? "http://" : "", listen,
	            query,
	            token_file ? " (token required)" : "");

	sigset_t empty;
	sigemptyset(&empty);
	while (!stop_flag)
		sigsuspend(&empty);
	mb_log_info("stopping");
	api_http_stop(h);
	mb_client_close(srv->client);
	pthread_mutex_destroy(&srv->node_mu);
	free(srv);
	return 0;
}
