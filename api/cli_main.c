/* cli_main.c: the metricsbus CLI: parses a command, asks agentd over nng req/rep, prints a
 * table (or the API's JSON with --json); exit 1 when agentd does not answer. */
#include "api.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct mb_prog *prog_p;

static void usage_error(const char *fmt, const char *arg)
{
	mb_usage_error(prog_p, fmt, arg);
}

/* `series` without SOURCE: every container ranked by live series, as /v1/series shows it. */
static int print_budget(struct mb_client *c, int timeout_ms, bool json, const char *query)
{
	struct api_budget *bs = NULL;
	uint32_t n = 0;
	char err[512] = "";
	struct mb_buf out = {0};
	int rv = api_budget_collect(c, timeout_ms, mb_now_ms(), &bs, &n, err, sizeof err);
	if (rv != 0) {
		fprintf(stderr, "metricsbus: agentd at %s is not answering%s%s\n", query,
		        err[0] ? ": " : "", err);
		return 1;
	}
	api_budget_sort(bs, n, API_BUDGET_BY_LIVE);
	if (json) {
		rv = api_budget_json(&out, bs, n, API_BUDGET_BY_LIVE);
	} else {
		struct api_table t;
		static const char *const h[] = {"SOURCE", "SERIES",  "LIVE",      "REFUSED",
		                                "LINES/S", "BAD/S", "SHIM REFUSED/S", "UNKNOWN/S",
		                                "UDP DROPS/S"};
		if ((rv = api_table_init(&t, 9, h)) == 0) {
			for (int k = 1; k < 9; k++)
				t.right[k] = true;
			for (uint32_t i = 0; i < n && rv == 0; i++) {
				char c1[16], c2[16], c3[32], c4[32], c5[32], c6[32], c7[32], c8[32];
				snprintf(c1, sizeof c1, "%u", bs[i].series);
				snprintf(c2, sizeof c2, "%u", bs[i].live);
				api_fmt_double(bs[i].refused, c8, sizeof c8);
				api_fmt_double(bs[i].lines_ps, c3, sizeof c3);
				api_fmt_double(bs[i].bad_ps, c4, sizeof c4);
				api_fmt_double(bs[i].refused_ps, c5, sizeof c5);
				api_fmt_double(bs[i].unknown_ps, c6, sizeof c6);
				api_fmt_double(bs[i].udp_drops_ps, c7, sizeof c7);
				const char *row[] = {bs[i].source, c1, c2, c8, c3, c4, c5, c6, c7};
				rv = api_table_row(&t, row);
			}
			if (rv == 0)
				rv = api_table_render(&t, &out);
			api_table_free(&t);
		}
	}
	if (rv == 0)
		fwrite(out.data, 1, out.len, stdout);
	mb_buf_free(&out);
	free(bs);
	return rv == 0 ? 0 : 1;
}

static void need_args(const char *cmd, int n, int min, int max)
{
	if (n < min || n > max)
		usage_error("wrong number of arguments for %s", cmd);
}

static void check_name(const char *what, const char *s)
{
	if (!api_valid_name(s)) {
		char m[64];
		snprintf(m, sizeof m, "bad %s: %%s", what);
		usage_error(m, s);
	}
}

/* The flags (main thread). */
struct opts {
	const char *query;
	bool json;
	int64_t timeout_ms, interval_ms, iterations;
	struct api_range_params rp;
	char defquery[512];
	struct mb_flag flags[16];
	struct mb_prog prog;
};

/* The flag table, --help's words, the flags read from anywhere on the line and checked; the
 * command and its arguments out. Exits on a usage error. */
static void parse_flags(struct opts *o, int argc, char **argv, const char **cmd, char ***v,
                        int *nv)
{
	o->timeout_ms = 5000;
	o->interval_ms = 1000;
	const struct mb_flag flags[] = {
		{"query", MB_FLAG_STR, &o->query, "URL", "agentd's query socket (nng URL)", false},
		{"json", MB_FLAG_BOOL, &o->json, NULL, "print the API's JSON instead of a table", false},
		{"timeout", MB_FLAG_DURATION, &o->timeout_ms, "DURATION", "how long to wait for agentd",
		 false},
		{"interval", MB_FLAG_DURATION, &o->interval_ms, "DURATION", "top: refresh interval", false},
		{"iterations", MB_FLAG_INT, &o->iterations, "N", "top: stop after N frames (0: until q)",
		 false},
		{"from", MB_FLAG_STR, &o->rp.from, "T", "range: start (unix seconds, RFC 3339, now, -15m)",
		 false},
		{"to", MB_FLAG_STR, &o->rp.to, "T", "range: end, the same forms", false},
		{"step", MB_FLAG_STR, &o->rp.step, "DURATION", "range: step (agentd rounds it)", false},
		{"stat", MB_FLAG_STR, &o->rp.stat, "STAT",
		 "range: mean, min, max, sum, count, last, p50, p90, p95, p99 or p999", false},
		{"tags", MB_FLAG_STR, &o->rp.tags, "K:V,...", "range: only the series with these tags",
		 false},
	};
	_Static_assert(sizeof flags <= sizeof o->flags, "opts.flags holds the table");
	memcpy(o->flags, flags, sizeof flags);
	static const char *const doc_defaults[] = {"query", "ipc://RUNDIR/query.sock", "from", "-1h",
	                                           "to", "now", "step", "chosen by agentd", "stat",
	                                           "mean", NULL};
	o->prog = (struct mb_prog){
		.name = "metricsbus",
		.component = "metricsbus",
		.synopsis = "[FLAGS] COMMAND [ARG...] [FLAGS]",
		/* one command a line: the help printer wraps words and drops repeated spaces */
		.about = "Commands:\n"
		         "node: node metrics\n"
		         "containers: live container ids\n"
		         "container ID: a container's resource metrics\n"
		         "app ID [NAME]: a container's statsd metrics, or one of them\n"
		         "range SOURCE NAME [--from T] [--to T] [--step D] [--stat S] [--tags k:v,...]: "
		         "a series over time (SOURCE: node, agentd or a container id)\n"
		         "series SOURCE: the series of a source, with types and tags\n"
		         "series: every container ranked by live series, with lines/s, bad lines, "
		         "refused series and drops per second\n"
		         "top: live view of containers ranked by live series, with their busiest "
		         "metrics (q quits)\n"
		         "backup DIR: agentd writes a consistent compacted copy of its store to DIR\n"
		         "ping: is agentd there\n"
		         "Flags go before or after the command, as with git. Tables by default, the "
		         "API's JSON with --json. Exit 1 when agentd does not answer or refuses the "
		         "query, 2 on a bad command line.",
		.flags = o->flags,
		.nflags = (int)(sizeof flags / sizeof flags[0]),
		.doc_defaults = doc_defaults,
	};
	int n = 0;
	prog_p = &o->prog;
	if (mb_default_query_url(o->defquery, sizeof o->defquery) == 0)
		o->query = o->defquery; /* so that --help shows it */
	bool on_line[sizeof flags / sizeof flags[0]] = {0};
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		for (int k = 0; k < o->prog.nflags; k++) {
			size_t l = strlen(flags[k].name);
			if (strncmp(argv[i], "--", 2) == 0 && strncmp(argv[i] + 2, flags[k].name, l) == 0 &&
			    (argv[i][2 + l] == 0 || argv[i][2 + l] == '='))
				on_line[k] = true;
		}
	mb_flags_parse(&o->prog, argc, argv, &n);
	if (n < 1)
		mb_usage_error(&o->prog, "a command is needed");
	*cmd = argv[0];
	*v = argv + 1;
	*nv = n - 1;
	/* a command's own flags go anywhere on the line, but only with their command (the
	 * environment may hold them for any) */
	for (int i = 0; i < o->prog.nflags; i++) {
		bool is_range = strncmp(flags[i].help, "range:", 6) == 0;
		bool is_top = strncmp(flags[i].help, "top:", 4) == 0;
		if (on_line[i] && ((is_range && strcmp(*cmd, "range") != 0) ||
		                   (is_top && strcmp(*cmd, "top") != 0)))
			mb_usage_error(&o->prog, "--%s applies to %s only", flags[i].name,
			               is_range ? "range" : "top");
	}
	if (o->timeout_ms <= 0)
		mb_usage_error(&o->prog, "--timeout must be positive");
	if (!o->query) {
		if (mb_default_query_url(o->defquery, sizeof o->defquery) != 0)
			mb_fatalx("the default query socket path is too long; use --query");
		o->query = o->defquery;
	}
}

/* The query a command asks (op -1: top, -2: every source ranked); dirbuf holds backup's
 * absolute path. Exits on a usage error. */
static void build_query(const char *cmd, char **v, int nv, struct api_range_params *rp,
                        struct mb_query *q, char *dirbuf, size_t dirlen)
{
	char err[512];
	memset(q, 0, sizeof *q);
	q->version = MB_SCHEMA_VERSION;
	if (strcmp(cmd, "node") == 0) {
		need_args(cmd, nv, 0, 0);
		q->op = MB_OP_NODE;
	} else if (strcmp(cmd, "ping") == 0) {
		need_args(cmd, nv, 0, 0);
		q->op = MB_OP_PING;
	} else if (strcmp(cmd, "containers") == 0) {
		need_args(cmd, nv, 0, 0);
		q->op = MB_OP_CONTAINERS;
	} else if (strcmp(cmd, "container") == 0) {
		need_args(cmd, nv, 1, 1);
		check_name("container id", v[0]);
		q->op = MB_OP_CONTAINER;
		q->source = v[0];
	} else if (strcmp(cmd, "app") == 0) {
		need_args(cmd, nv, 1, 2);
		check_name("container id", v[0]);
		if (nv > 1)
			check_name("metric name", v[1]);
		q->op = MB_OP_APP;
		q->source = v[0];
		q->name = nv > 1 ? v[1] : NULL;
	} else if (strcmp(cmd, "range") == 0) {
		need_args(cmd, nv, 2, 2);
		rp->source = v[0];
		rp->name = v[1];
		if (api_range_build(rp, mb_now_ms(), q, err, sizeof err) != 0)
			usage_error("%s", err);
	} else if (strcmp(cmd, "series") == 0) {
		need_args(cmd, nv, 0, 1);
		if (nv == 1)
			check_name("source", v[0]);
		q->op = nv == 1 ? MB_OP_SERIES : -2; /* -2: every source ranked */
		q->source = nv == 1 ? v[0] : NULL;
	} else if (strcmp(cmd, "backup") == 0) {
		need_args(cmd, nv, 1, 1);
		/* agentd resolves nothing relative to its own cwd: send an absolute path */
		if (v[0][0] == '/') {
			snprintf(dirbuf, dirlen, "%s", v[0]);
		} else {
			char cwd[PATH_MAX];
			if (!getcwd(cwd, sizeof cwd))
				mb_fatal("getcwd");
			if ((size_t)snprintf(dirbuf, dirlen, "%s/%s", cwd, v[0]) >= dirlen)
				usage_error("backup directory path too long: %s", v[0]);
		}
		q->op = MB_OP_BACKUP;
		q->dir = dirbuf;
	} else if (strcmp(cmd, "top") == 0) {
		need_args(cmd, nv, 0, 0);
		q->op = -1;
	} else {
		usage_error("unknown command %s", cmd);
	}

}

/* Asks q and prints the answer as a table or JSON; the exit status. */
static int answer(struct mb_client *c, struct mb_query *q, int timeout_ms, bool json,
                  const char *query)
{
	int rv, status = 0;
	char err[512];
	struct mb_reply r;
	err[0] = 0;
	rv = mb_client_query(c, q, timeout_ms, &r, err, sizeof err);
	if (rv == MB_EDOWN || rv == MB_ETIMEDOUT) {
		fprintf(stderr, "metricsbus: agentd at %s is not answering%s%s\n", query,
		        rv == MB_ETIMEDOUT ? " (timed out)" : "", "");
		status = 1;
	} else if (rv != 0) {
		fprintf(stderr, "metricsbus: bad answer from agentd at %s: %s\n", query,
		        err[0] ? err : mb_strerror(rv));
		status = 1;
	} else {
		struct mb_buf out = {0};
		if (q->op == MB_OP_SERIES && !r.source)
			r.source = q->source;
		if (r.status == 200) {
			rv = json ? api_render_json(&out, &r) : api_render_table(&out, &r);
			if (json)
				rv |= api_put(&out, "\n");
			if (rv == 0)
				fwrite(out.data, 1, out.len, stdout);
			else
				status = 1;
		} else if (r.status == 204) {
			fprintf(stderr, "metricsbus: %s has no live data\n",
			        q->source ? q->source : "the source");
		} else {
			if (json) {
				api_json_error(&out, r.error ? r.error : "");
				api_put(&out, "\n");
				fwrite(out.data, 1, out.len, stdout);
			}
			fprintf(stderr, "metricsbus: %s\n", r.error && *r.error ? r.error : "refused");
			status = 1;
		}
		mb_buf_free(&out);
		mb_reply_free(&r);
	}
	return status;
}

int main(int argc, char **argv)
{
	static struct opts o;
	const char *cmd;
	char **v;
	int nv;
	parse_flags(&o, argc, argv, &cmd, &v, &nv);
	const char *query = o.query;
	int64_t timeout_ms = o.timeout_ms;
	struct mb_query q;
	char dirbuf[PATH_MAX + 2];
	build_query(cmd, v, nv, &o.rp, &q, dirbuf, sizeof dirbuf);

	struct mb_client *c = NULL;
	int rv = mb_client_open(query, MB_MAX_EXPORT_MSG, &c);
	if (rv != 0) {
		fprintf(stderr, "metricsbus: cannot use %s: %s\n", query, mb_strerror(rv));
		return 1;
	}
	/* the dial runs in the background: give it a moment to connect before calling */
	if (mb_client_wait_connected(c, timeout_ms < 2000 ? (int)timeout_ms : 2000) != 0) {
		fprintf(stderr, "metricsbus: agentd at %s is not answering\n", query);
		mb_client_close(c);
		return 1;
	}
	int status = 0;
	if (q.op == -1) {
		rv = api_top_run(c, (int)timeout_ms, (int)o.interval_ms, (int)o.iterations);
		if (rv != 0) {
			fprintf(stderr, "metricsbus: agentd at %s is not answering\n", query);
			status = 1;
		}
		mb_client_close(c);
		return status;
	}
	if (q.op == -2) {
		status = print_budget(c, (int)timeout_ms, o.json, query);
		mb_client_close(c);
		return status;
	}
	status = answer(c, &q, (int)timeout_ms, o.json, query);
	if (q.op == MB_OP_RANGE)
		mb_query_free(&q);
	mb_client_close(c);
	return status;
}
