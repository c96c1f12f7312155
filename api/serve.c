/* serve.c: one HTTP request to one answer: method, route, token, one query to agentd with a
 * deadline, and the reply's status and body (JSON, Prometheus text, or an error reason). */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char CT_JSON[] = "application/json; charset=utf-8";
static const char CT_PROM[] = "text/plain; version=0.0.4; charset=utf-8";
/* How long a request waits for a lost connection to agentd to come back before 503: nng
 * re-dials after 100 ms at first. */
#define RECONNECT_WAIT_MS 500
#define NODE_ID_TTL_MS 1000

static void answer_error(struct api_response *resp, int status, const char *msg)
{
	resp->status = status;
	resp->ctype = CT_JSON;
	mb_buf_reset(&resp->body);
	if (api_json_error(&resp->body, msg) != 0 || api_put(&resp->body, "\n") != 0)
		resp->status = 500;
}

int api_client_status(int rv, const char *err, int timeout_ms, char *msg, size_t n)
{
	char d[32];
	switch (rv) {
	case MB_EDOWN:
		if (err && strncmp(err, "agentd is not answering", 23) == 0)
			snprintf(msg, n, "%s", err); /* the client's reason says it already */
		else
			snprintf(msg, n, "agentd is not answering: %s", err && *err ? err : "not connected");
		return 503;
	case MB_ETIMEDOUT:
		mb_format_duration(timeout_ms, d, sizeof d);
		snprintf(msg, n, "agentd did not answer within %s", d);
		return 504;
	default:
		snprintf(msg, n, "bad answer from agentd: %s", err && *err ? err : mb_strerror(rv));
		return 502;
	}
}

/* One query with the bridge's deadline. A connection lost under the call, or being
 * re-dialled (agentd restarted, or re-created its listener): queries only read, so wait
 * briefly for the dialer and ask again within the same deadline. Counts failures. */
static int query_retry(struct api_server *s, const struct mb_query *q, struct mb_reply *r,
                       char *err, size_t errlen)
{
	int64_t t0 = mb_mono_ms();
	int rv;
	for (int attempt = 0;; attempt++) {
		err[0] = 0;
		rv = mb_client_query(s->client, q, s->timeout_ms, r, err, errlen);
		int64_t left = s->timeout_ms - (mb_mono_ms() - t0);
		if (rv != MB_EDOWN || attempt > 0 || left <= 0)
			break;
		if (mb_client_wait_connected(s->client, left < RECONNECT_WAIT_MS
		                                                ? (int)left
		                                                : RECONNECT_WAIT_MS) != 0)
			break;
	}
	if (rv == MB_EDOWN)
		__atomic_add_fetch(&s->stats.down, 1, __ATOMIC_RELAXED);
	else if (rv == MB_ETIMEDOUT)
		__atomic_add_fetch(&s->stats.timeouts, 1, __ATOMIC_RELAXED);
	else if (rv != 0)
		__atomic_add_fetch(&s->stats.bad_replies, 1, __ATOMIC_RELAXED);
	return rv;
}

/* Asks agentd; on failure fills resp with 503/504/502 and returns nonzero. */
static int ask(struct api_server *s, const struct mb_query *q, struct mb_reply *r,
               struct api_response *resp)
{
	char err[512], msg[700];
	int rv = query_retry(s, q, r, err, sizeof err);
	if (rv != 0)
		answer_error(resp, api_client_status(rv, err, s->timeout_ms, msg, sizeof msg), msg);
	return rv;
}

static void init_query(struct mb_query *q, int op)
{
	memset(q, 0, sizeof *q);
	q->version = MB_SCHEMA_VERSION;
	q->op = op;
}

/* A reply's own status: 200 rendered, 204 empty, >= 400 its reason. */
static void answer_reply(struct api_response *resp, struct mb_reply *r)
{
	if (r->status == 200) {
		resp->status = 200;
		resp->ctype = CT_JSON;
		/* a newline ends every JSON body, as DC/OS sent them (scripts read lines) */
		if (api_render_json(&resp->body, r) != 0 || api_put(&resp->body, "\n") != 0)
			answer_error(resp, 500, "out of memory");
	} else if (r->status == 204) {
		resp->status = 204;
		resp->ctype = NULL;
	} else {
		int st = r->status >= 400 && r->status <= 599 ? (int)r->status : 502;
		answer_error(resp, st, r->error && *r->error ? r->error : "agentd refused the query");
	}
}

static void answer_nothing(struct api_response *resp)
{
	resp->status = 204;
	resp->ctype = NULL;
	mb_buf_reset(&resp->body);
}

/* The shim's own metricsbus.shim.* counters only when asked (?self=1): DC/OS users grep /app,
 * and DC/OS never showed them. Nothing left is 204, as for a container that sent nothing. */
static void drop_own_counters(struct mb_reply *r, bool keep)
{
	static const char own[] = "metricsbus.shim.";
	uint32_t n = 0;
	if (keep)
		return;
	for (uint32_t i = 0; i < r->npoints; i++)
		if (strncmp(r->points[i].name, own, sizeof own - 1) != 0)
			r->points[n++] = r->points[i];
	r->npoints = n;
	if (n == 0)
		r->status = 204;
}

/* ?self=1 on a whole /app: beside the shim's own counters, the series agentd refused the
 * container since agentd started (its --max-series-per-source or a full store), from agentd's
 * own agentd.source.series_refused{source}: the one drop the shim cannot count itself. */
static void add_agentd_refused(struct api_server *s, struct mb_reply *r, const char *id)
{
	struct mb_query q;
	struct mb_reply own;
	char err[256];
	double v = 0;
	int64_t t = mb_now_ms() / 1000 * 1000;
	memset(&q, 0, sizeof q);
	q.version = MB_SCHEMA_VERSION;
	q.op = MB_OP_APP;
	q.source = "agentd";
	q.name = "agentd.source.series_refused";
	if (query_retry(s, &q, &own, err, sizeof err) != 0)
		return;
	for (uint32_t i = 0; own.status == 200 && i < own.npoints; i++) {
		const struct mb_point *p = &own.points[i];
		for (uint16_t k = 0; k < p->ntags; k++)
			if (!strcmp(p->tags[k].key, "source") && !strcmp(p->tags[k].val, id)) {
				v = p->value;
				t = p->time_ms;
			}
	}
	mb_reply_free(&own);
	struct mb_point *np = mb_arena_alloc(&r->arena, (r->npoints + 1) * sizeof *np);
	if (!np)
		return;
	memcpy(np, r->points, r->npoints * sizeof *np);
	np[r->npoints] = (struct mb_point){.name = "metricsbus.agentd.series_refused",
	                                   .value = v,
	                                   .unit = "count",
	                                   .time_ms = t};
	r->points = np;
	r->npoints++;
}

static void own_metrics(struct api_server *s, struct mb_buf *b)
{
	char line[400];
	int rv = 0;
	rv |= api_put(b, "# HELP metricsbus_api_requests_total HTTP requests answered by "
	                 "metricsbus-api, by status code\n"
	                 "# TYPE metricsbus_api_requests_total counter\n");
	for (int c = 100; c < 600; c++) {
		uint64_t v = __atomic_load_n(&s->stats.by_code[c], __ATOMIC_RELAXED);
		if (!v)
			continue;
		snprintf(line, sizeof line, "metricsbus_api_requests_total{code=\"%d\"} %llu\n", c,
		         (unsigned long long)v);
		rv |= api_put(b, line);
	}
	snprintf(line, sizeof line,
	         "metricsbus_api_request_duration_seconds_sum %.6f\n"
	         "metricsbus_api_request_duration_seconds_count %llu\n",
	         (double)__atomic_load_n(&s->stats.dur_us_sum, __ATOMIC_RELAXED) / 1e6,
	         (unsigned long long)__atomic_load_n(&s->stats.requests, __ATOMIC_RELAXED));
	rv |= api_put(b, "# HELP metricsbus_api_request_duration_seconds Time metricsbus-api took "
	                 "to answer\n# TYPE metricsbus_api_request_duration_seconds summary\n");
	rv |= api_put(b, line);
	rv |= api_put(b, "# HELP metricsbus_api_agentd_errors_total Queries to agentd that failed, "
	                 "by reason\n# TYPE metricsbus_api_agentd_errors_total counter\n");
	const char *why[] = {"down", "timeout", "bad_reply"};
	uint64_t *cnt[] = {&s->stats.down, &s->stats.timeouts, &s->stats.bad_replies};
	for (int i = 0; i < 3; i++) {
		snprintf(line, sizeof line, "metricsbus_api_agentd_errors_total{reason=\"%s\"} %llu\n",
		         why[i], (unsigned long long)__atomic_load_n(cnt[i], __ATOMIC_RELAXED));
		rv |= api_put(b, line);
	}
	snprintf(line, sizeof line,
	         "# HELP metricsbus_api_export_skipped_total Series left out of /metrics: their "
	         "name and labels collided with another's\n"
	         "# TYPE metricsbus_api_export_skipped_total counter\n"
	         "metricsbus_api_export_skipped_total %llu\n",
	         (unsigned long long)__atomic_load_n(&s->stats.skipped, __ATOMIC_RELAXED));
	rv |= api_put(b, line);
	static const char *const cap_names[API_CAP_N] = {"source_series", "source_bytes",
	                                                 "total_bytes"};
	rv |= api_put(b, "# HELP metricsbus_api_export_capped_total Series left out of /metrics "
	                 "by a cap (--metrics-max-*), by cap\n"
	                 "# TYPE metricsbus_api_export_capped_total counter\n");
	for (int i = 0; i < API_CAP_N; i++) {
		snprintf(line, sizeof line, "metricsbus_api_export_capped_total{cap=\"%s\"} %llu\n",
		         cap_names[i],
		         (unsigned long long)__atomic_load_n(&s->stats.capped[i], __ATOMIC_RELAXED));
		rv |= api_put(b, line);
	}
	(void)rv; /* a short body on OOM is caught by the caller's check of the export */
}

static void metrics_end(void *arg, struct api_prom_stream *ps, struct mb_buf *tail)
{
	struct api_server *s = arg;
	uint64_t skipped = 0, capped[API_CAP_N] = {0};
	api_prom_stream_counts(ps, &skipped, capped);
	__atomic_add_fetch(&s->stats.skipped, skipped, __ATOMIC_RELAXED);
	for (int i = 0; i < API_CAP_N; i++)
		if (capped[i])
			__atomic_add_fetch(&s->stats.capped[i], capped[i], __ATOMIC_RELAXED);
	own_metrics(s, tail);
}

static void serve_metrics(struct api_server *s, struct api_response *resp)
{
	struct mb_query q;
	struct mb_reply r;
	init_query(&q, MB_OP_EXPORT);
	q.hist = s->hist;
	if (ask(s, &q, &r, resp) != 0)
		return;
	if (r.status != 200) {
		answer_reply(resp, &r);
		mb_reply_free(&r);
		return;
	}
	struct api_prom_stream *ps = NULL;
	if (api_prom_stream_new(&r, true, s->hist, &s->caps, &ps) != 0) {
		answer_error(resp, 500, "out of memory");
		mb_reply_free(&r);
		return;
	}
	/* the stream owns the reply now; the bridge's own metrics come last, with this scrape's
	 * counts in them */
	api_prom_stream_at_end(ps, metrics_end, s);
	resp->status = 200;
	resp->ctype = CT_PROM;
	resp->stream = ps;
}

void api_serve_stream_done(struct api_server *s, struct api_prom_stream *ps)
{
	(void)s;
	api_prom_stream_free(ps);
}

static void serve_healthz(struct api_server *s, struct api_response *resp)
{
	struct mb_query q;
	struct mb_reply r;
	char err[512], msg[700];
	init_query(&q, MB_OP_PING);
	int rv = query_retry(s, &q, &r, err, sizeof err);
	resp->ctype = CT_JSON;
	if (rv != 0) {
		/* down or too slow alike: unhealthy (503), with the reason */
		(void)api_client_status(rv, err, s->timeout_ms, msg, sizeof msg);
		resp->status = 503;
		api_put(&resp->body, "{\"ok\":false,\"error\":");
		api_json_str(&resp->body, msg);
		api_put(&resp->body, "}\n");
		return;
	}
	if (r.status != 200) {
		snprintf(msg, sizeof msg, "agentd answers %u: %s", r.status,
		         r.error ? r.error : "");
		resp->status = 503;
		api_put(&resp->body, "{\"ok\":false,\"error\":");
		api_json_str(&resp->body, msg);
		api_put(&resp->body, "}\n");
	} else {
		resp->status = 200;
		api_render_json(&resp->body, &r);
		api_put(&resp->body, "\n");
	}
	mb_reply_free(&r);
}

/* Is node one of ids[0..n)? */
static bool node_known(char (*ids)[MB_MAX_NAME + 1], int n, const char *node)
{
	for (int i = 0; i < n; i++)
		if (ids[i][0] && strcmp(ids[i], node) == 0)
			return true;
	return false;
}

/* Scoped paths answer for "self" and every id agentd's ping lists: its node id (--node-id,
 * else the Mesos agent id) and, with both, the Mesos agent id too. */
static bool node_matches(struct api_server *s, const char *node, struct api_response *resp)
{
	bool ok;
	if (strcmp(node, "self") == 0)
		return true;
	pthread_mutex_lock(&s->node_mu);
	/* agentd's ids can change (a Mesos agent re-registering): a match is trusted briefly */
	ok = node_known(s->node_ids, s->n_node_ids, node) &&
	     mb_mono_ms() - s->node_seen_ms < NODE_ID_TTL_MS;
	pthread_mutex_unlock(&s->node_mu);
	if (ok)
		return true;
	struct mb_query q;
	struct mb_reply r;
	init_query(&q, MB_OP_PING);
	if (ask(s, &q, &r, resp) != 0)
		return false;
	char mine[MB_MAX_NODE_IDS][MB_MAX_NAME + 1];
	int n = 0;
	snprintf(mine[n++], sizeof mine[0], "%s", r.node ? r.node : "");
	for (uint32_t i = 0; i < r.nids && n < MB_MAX_NODE_IDS; i++)
		if (strcmp(r.ids[i], mine[0]) != 0)
			snprintf(mine[n++], sizeof mine[0], "%s", r.ids[i]);
	mb_reply_free(&r);
	pthread_mutex_lock(&s->node_mu);
	memcpy(s->node_ids, mine, sizeof mine);
	s->n_node_ids = n;
	s->node_seen_ms = mb_mono_ms();
	pthread_mutex_unlock(&s->node_mu);
	ok = node_known(mine, n, node);
	if (!ok) {
		char these[MB_MAX_NODE_IDS * (MB_MAX_NAME + 2)] = "";
		size_t len = 0;
		for (int i = 0; i < n && mine[i][0]; i++)
			len += (size_t)snprintf(these + len, sizeof these - len, "%s%s",
			                        i ? (i == n - 1 ? " or " : ", ") : "", mine[i]);
		char msg[sizeof these + 320];
		snprintf(msg, sizeof msg, "unknown node %s: this is %s", node,
		         these[0] ? these : "a node without --node-id (use self)");
		answer_error(resp, 404, msg);
	}
	return ok;
}

/* /v1/series without source: every container ranked by what it costs (sort=live|refused|lines). */
static void serve_budget(struct api_server *s, const struct api_args *a, struct api_response *resp)
{
	struct api_budget *bs = NULL;
	uint32_t n = 0;
	int by;
	char err[512], msg[700];
	if (api_budget_parse_sort(api_args_get(a, "sort"), &by) != 0) {
		answer_error(resp, 400, "bad parameter sort: want live, refused or lines");
		return;
	}
	int rv = api_budget_collect(s->client, s->timeout_ms, mb_now_ms(), &bs, &n, err, sizeof err);
	if (rv != 0) {
		answer_error(resp, api_client_status(rv, err, s->timeout_ms, msg, sizeof msg), msg);
		return;
	}
	api_budget_sort(bs, n, by);
	resp->status = 200;
	resp->ctype = CT_JSON;
	if (api_budget_json(&resp->body, bs, n, by) != 0)
		answer_error(resp, 500, "out of memory");
	free(bs);
}

/* The range parameters of a query string (the first of each; name as given). */
static struct api_range_params range_params(const struct api_args *a)
{
	struct api_range_params p = {
		.source = api_args_get(a, "source"),
		.name = api_args_get(a, "name"),
		.from = api_args_get(a, "from"),
		.to = api_args_get(a, "to"),
		.step = api_args_get(a, "step"),
		.stat = api_args_get(a, "stat"),
		.tags = api_args_get(a, "tags"),
	};
	return p;
}

static void serve_range(struct api_server *s, const struct api_args *a, struct api_response *resp)
{
	struct api_range_params p = range_params(a);
	struct mb_query q;
	struct mb_reply r;
	char err[400];
	if (api_range_build(&p, mb_now_ms(), &q, err, sizeof err) != 0) {
		answer_error(resp, 400, err);
		return;
	}
	if (ask(s, &q, &r, resp) == 0) {
		answer_reply(resp, &r);
		mb_reply_free(&r);
	}
	mb_query_free(&q);
}

/* Several names of one source in one request (a dashboard's page of charts): each answer as
 * /v1/range gives it, or {"name","status","error"} for a name agentd refused; a bad shared
 * parameter or an agentd that does not answer fails the whole request. */
static void serve_ranges(struct api_server *s, const struct api_args *a,
                         struct api_response *resp)
{
	struct api_range_params p = range_params(a); /* p.name: set per name below */
	const char *names[API_MAX_RANGES];
	int n = 0;
	char err[400];
	int64_t now = mb_now_ms(); /* one "now" for every name: their points line up */
	for (int i = 0; i < a->n; i++) {
		if (strcmp(a->key[i], "name") != 0)
			continue;
		if (n == API_MAX_RANGES) {
			snprintf(err, sizeof err, "too many names: at most %d in one request",
			         API_MAX_RANGES);
			answer_error(resp, 400, err);
			return;
		}
		names[n++] = a->val[i];
	}
	if (n == 0) {
		answer_error(resp, 400, "missing parameter name");
		return;
	}
	struct mb_buf *b = &resp->body;
	int rv = api_put(b, "{\"ranges\":[");
	for (int i = 0; i < n && rv == 0; i++) {
		struct mb_query q;
		struct mb_reply r;
		p.name = names[i];
		if (api_range_build(&p, now, &q, err, sizeof err) != 0) {
			answer_error(resp, 400, err);
			return;
		}
		if (ask(s, &q, &r, resp) != 0) {
			mb_query_free(&q);
			return;
		}
		rv |= i ? api_put(b, ",") : 0;
		if (r.status == 200) {
			rv |= api_render_json(b, &r);
		} else {
			char num[16];
			snprintf(num, sizeof num, "%u", r.status);
			rv |= api_put(b, "{\"name\":");
			rv |= api_json_str(b, names[i]);
			rv |= api_put(b, ",\"status\":");
			rv |= api_put(b, num);
			rv |= api_put(b, ",\"error\":");
			rv |= api_json_str(b, r.error && *r.error ? r.error : "no data");
			rv |= api_put(b, "}");
		}
		mb_reply_free(&r);
		mb_query_free(&q);
	}
	rv |= api_put(b, "]}");
	if (rv != 0) {
		answer_error(resp, 500, "out of memory");
		return;
	}
	resp->status = 200;
	resp->ctype = CT_JSON;
}

void api_serve(struct api_server *s, const char *method, const char *path,
               const struct api_args *args, const char *authorization, struct api_response *resp)
{
	struct api_route rt;
	struct mb_query q;
	struct mb_reply r;
	char err[300];
	resp->status = 500;
	resp->ctype = CT_JSON;
	resp->www_auth = resp->allow = false;
	if (api_route_parse(path, &rt, err, sizeof err) != 0) {
		answer_error(resp, 400, err);
		return;
	}
	if (s->token && rt.kind != API_R_HEALTHZ && !api_auth_ok(authorization, s->token)) {
		resp->www_auth = true;
		answer_error(resp, 401, authorization ? "invalid bearer token"
		                                      : "missing Authorization: Bearer token");
		return;
	}
	if (rt.kind == API_R_NOTFOUND) {
		answer_error(resp, 404, "no such endpoint");
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		resp->allow = true;
		answer_error(resp, 405, "method not allowed: use GET");
		return;
	}
	if (rt.scoped && !node_matches(s, rt.node, resp))
		return;
	init_query(&q, MB_OP_PING);
	switch (rt.kind) {
	case API_R_HEALTHZ:
		serve_healthz(s, resp);
		return;
	case API_R_METRICS:
		serve_metrics(s, resp);
		return;
	case API_R_RANGE:
		serve_range(s, args, resp);
		return;
	case API_R_RANGES:
		serve_ranges(s, args, resp);
		return;
	case API_R_SERIES: {
		const char *src = api_args_get(args, "source");
		if (!src || !*src) {
			serve_budget(s, args, resp);
			return;
		}
		if (!api_valid_name(src)) {
			answer_error(resp, 400, "bad parameter source: not a container id or node");
			return;
		}
		q.op = MB_OP_SERIES;
		q.source = src;
		break;
	}
	case API_R_PING:
		break;
	case API_R_NODE:
		q.op = MB_OP_NODE;
		break;
	case API_R_CONTAINERS:
		q.op = MB_OP_CONTAINERS;
		break;
	case API_R_CONTAINER:
	case API_R_APP:
		if (rt.bad_id) {
			if (rt.dcos)
				answer_nothing(resp);
			else
				answer_error(resp, 404, rt.id[0] ? "unknown metric" : "unknown container");
			return;
		}
		q.op = rt.kind == API_R_CONTAINER ? MB_OP_CONTAINER : MB_OP_APP;
		q.source = rt.id;
		q.name = rt.name[0] ? rt.name : NULL;
		break;
	default:
		answer_error(resp, 404, "no such endpoint");
		return;
	}
	if (ask(s, &q, &r, resp) != 0)
		return;
	if (q.op == MB_OP_SERIES && !r.source)
		r.source = q.source;
	if (rt.dcos && r.status == 404)
		r.status = 204; /* unknown container or metric: DC/OS's "no metrics" */
	if (q.op == MB_OP_CONTAINER && r.status == 200 &&
	    api_dcos_container_names(&r, s->dcos_names == 111 ? 111 : 112) != 0) {
		mb_reply_free(&r);
		answer_error(resp, 500, "out of memory");
		return;
	}
	if (q.op == MB_OP_APP && r.status == 200) {
		const char *self = api_args_get(args, "self");
		bool want_self = self && (!strcmp(self, "1") || !strcmp(self, "true"));
		drop_own_counters(&r, want_self ||
		                          (q.name && !strncmp(q.name, "metricsbus.shim", 15)));
		if (want_self && !q.name)
			add_agentd_refused(s, &r, q.source);
	}
	answer_reply(resp, &r);
	mb_reply_free(&r);
}

void api_stats_record(struct api_server *s, int status, int64_t dur_us)
{
	if (status >= 100 && status < 600)
		__atomic_add_fetch(&s->stats.by_code[status], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->stats.requests, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->stats.dur_us_sum, (uint64_t)(dur_us > 0 ? dur_us : 0),
	                   __ATOMIC_RELAXED);
}
