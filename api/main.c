/* main.c: metricsbus-api, the HTTP bridge: flags, the agentd client, the HTTP server, and a
 * clean stop on TERM/INT. */
#include "api.h"

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

int main(int argc, char **argv)
{
	const char *listen = "127.0.0.1:61001", *query = NULL, *token_file = NULL;
	int64_t timeout_ms = 5000, threads = 8, conn_limit = 1024, conn_timeout_ms = 30000;
	int64_t client_limit = 64, header_timeout_ms = 10000, cap_series = 20000;
	uint64_t cap_src_bytes = 16ull << 20, cap_bytes = 128ull << 20;
	bool hist = false;
	const char *dcos_names = "1.12";
	char defquery[512], err[512];
	static char token[4096];
	struct mb_flag flags[] = {
		{"listen", MB_FLAG_STR, &listen, "ADDR:PORT|unix:PATH|systemd",
		 "HTTP address: 127.0.0.1:61001, [::1]:61001, :61001 (every address, IPv6 and "
		 "IPv4), unix:PATH, or systemd (a socket unit's)", false},
		{"query", MB_FLAG_STR, &query, "URL", "agentd's query socket (nng URL)", false},
		{"token-file", MB_FLAG_STR, &token_file, "FILE",
		 "require Authorization: Bearer TOKEN on all but /healthz; the file holds TOKEN "
		 "(trailing whitespace trimmed)", false},
		{"request-timeout", MB_FLAG_DURATION, &timeout_ms, "DURATION",
		 "deadline of each query to agentd; past it: 504", false},
		{"prometheus-histograms", MB_FLAG_BOOL, &hist, NULL,
		 "timers as histograms with fixed log-spaced buckets in /metrics", false},
		{"dcos-names", MB_FLAG_STR, &dcos_names, "1.12|1.11",
		 "container metric names, tags and units as DC/OS 1.12+ or 1.11 served them", false},
		{"threads", MB_FLAG_INT, &threads, "N", "HTTP worker threads (libmicrohttpd's pool)", false},
		{"connection-limit", MB_FLAG_INT, &conn_limit, "N",
		 "most concurrent HTTP connections; more wait in the listen queue", false},
		{"connection-timeout", MB_FLAG_DURATION, &conn_timeout_ms, "DURATION",
		 "an idle keep-alive connection is closed after this long", false},
		{"metrics-max-series-per-source", MB_FLAG_INT, &cap_series, "N",
		 "/metrics: most series of one source (0: no cap; default 20000)", false},
		{"metrics-max-bytes-per-source", MB_FLAG_SIZE, &cap_src_bytes, "SIZE",
		 "/metrics: most bytes of one source's series (0: no cap; default 16MiB)", false},
		{"metrics-max-bytes", MB_FLAG_SIZE, &cap_bytes, "SIZE",
		 "/metrics: most bytes of series in one scrape (0: no cap; default 128MiB)", false},
		{"connection-limit-per-client", MB_FLAG_INT, &client_limit, "N",
		 "most concurrent connections from one IP address", false},
		{"header-timeout", MB_FLAG_DURATION, &header_timeout_ms, "DURATION",
		 "a request's headers must be complete this long after the connection opened "
		 "or answered its last request, however slowly they come", false},
	};
	struct mb_prog prog = {
		.name = "metricsbus-api",
		.component = "api",
		.synopsis = "[FLAGS]",
		.doc_defaults = (const char *const[]){"query", "ipc://RUNDIR/query.sock", NULL},
		.about = "Serves the DC/OS metrics API v0, Prometheus /metrics and range queries "
		         "over HTTP by asking metricsbus-agentd over nng.",
		.flags = flags,
		.nflags = (int)(sizeof flags / sizeof flags[0]),
	};
	int npos = 0;
	if (mb_default_query_url(defquery, sizeof defquery) == 0)
		query = defquery; /* so that --help shows it */
	mb_flags_parse(&prog, argc, argv, &npos);
	if (npos > 0)
		mb_usage_error(&prog, "unexpected argument %s", argv[0]);
	if (timeout_ms <= 0 || timeout_ms > 3600000)
		mb_usage_error(&prog, "--request-timeout must be between 1ms and 1h");
	if (strcmp(dcos_names, "1.12") != 0 && strcmp(dcos_names, "1.11") != 0)
		mb_usage_error(&prog, "--dcos-names must be 1.12 or 1.11");
	if (threads < 1 || threads > 256)
		mb_usage_error(&prog, "--threads must be 1..256");
	if (conn_limit < 1 || conn_limit > 100000)
		mb_usage_error(&prog, "--connection-limit must be 1..100000");
	if (client_limit < 1 || client_limit > 100000)
		mb_usage_error(&prog, "--connection-limit-per-client must be 1..100000");
	if (header_timeout_ms < 100 || header_timeout_ms > 3600000)
		mb_usage_error(&prog, "--header-timeout must be between 100ms and 1h");
	if (conn_timeout_ms < 1000)
		mb_usage_error(&prog, "--connection-timeout must be at least 1s");
	char host[256];
	unsigned port;
	if (strcmp(listen, "systemd") != 0 && strncmp(listen, "unix:", 5) != 0 &&
	    api_split_hostport(listen, host, sizeof host, &port) != 0)
		mb_usage_error(&prog, "bad --listen %s: expected ADDR:PORT, [IPV6]:PORT, :PORT, "
		                      "unix:PATH or systemd", listen);
	if (!query) {
		if (mb_default_query_url(defquery, sizeof defquery) != 0)
			mb_fatalx("the default query socket path is too long; use --query");
		query = defquery;
	}
	struct api_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		mb_fatalx("out of memory");
	pthread_mutex_init(&srv->node_mu, NULL);
	srv->timeout_ms = (int)timeout_ms;
	srv->hist = hist;
	srv->caps.src_series = (uint64_t)cap_series;
	srv->caps.src_bytes = cap_src_bytes;
	srv->caps.total_bytes = cap_bytes;
	srv->dcos_names = strcmp(dcos_names, "1.11") == 0 ? 111 : 112;
	if (token_file) {
		if (api_token_load(token_file, token, sizeof token, err, sizeof err) != 0)
			mb_usage_error(&prog, "%s", err);
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
		.threads = (unsigned)threads,
		.conn_limit = (unsigned)conn_limit,
		.conn_timeout_s = (unsigned)((conn_timeout_ms + 999) / 1000),
		.client_limit = (unsigned)client_limit,
		.header_timeout_ms = header_timeout_ms,
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
