/* routes_test.c: path matching under the three DC/OS prefixes, strict percent-decoding
 * (incl. a path ending in %4 and %zz), query strings and range parameters. */
#include "api.h"
#include "../tests/unit/mbtest.h"

#include <stdlib.h>

static int route(const char *path, struct api_route *r)
{
	char err[200];
	return api_route_parse(path, r, err, sizeof err);
}

MB_TEST(routes_every_endpoint_under_every_prefix)
{
	const char *prefixes[] = {"/system/v1/metrics/v0/", "/v0/",
	                          "/system/v1/agent/self/metrics/v0/",
	                          "/system/v1/agent/node-7/metrics/v0/"};
	for (int i = 0; i < 4; i++) {
		struct api_route r;
		char p[256];
		snprintf(p, sizeof p, "%sping", prefixes[i]);
		CHECK(route(p, &r) == 0 && r.kind == API_R_PING);
		CHECK(r.scoped == (i >= 2));
		snprintf(p, sizeof p, "%snode", prefixes[i]);
		CHECK(route(p, &r) == 0 && r.kind == API_R_NODE);
		snprintf(p, sizeof p, "%scontainers", prefixes[i]);
		CHECK(route(p, &r) == 0 && r.kind == API_R_CONTAINERS);
		snprintf(p, sizeof p, "%scontainers/abc-1", prefixes[i]);
		CHECK(route(p, &r) == 0 && r.kind == API_R_CONTAINER);
		CHECK_STR(r.id, "abc-1");
		snprintf(p, sizeof p, "%scontainers/abc-1/app", prefixes[i]);
		CHECK(route(p, &r) == 0 && r.kind == API_R_APP);
		CHECK_STR(r.name, "");
		snprintf(p, sizeof p, "%scontainers/abc-1/app/testapp.response.latency", prefixes[i]);
		CHECK(route(p, &r) == 0 && r.kind == API_R_APP);
		CHECK_STR(r.id, "abc-1");
		CHECK_STR(r.name, "testapp.response.latency");
		CHECK(!r.bad_id);
		if (i == 3)
			CHECK_STR(r.node, "node-7");
	}
	struct api_route r;
	CHECK(route("/metrics", &r) == 0 && r.kind == API_R_METRICS);
	CHECK(route("/healthz", &r) == 0 && r.kind == API_R_HEALTHZ);
	CHECK(route("/v1/range", &r) == 0 && r.kind == API_R_RANGE);
	CHECK(route("/v1/series", &r) == 0 && r.kind == API_R_SERIES);
}

MB_TEST(routes_unknown_paths_are_not_found)
{
	const char *bad[] = {"/", "", "/metricsx", "/v0/", "/v0/nodes", "/v0/containers/a/b",
	                     "/system/v1/agent//metrics/v0/node", "/system/v1/agent/x/node",
	                     "/v1/range/x", "/v0/containers/a/appx", "/v0/containers//app"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct api_route r;
		CHECK(route(bad[i], &r) == 0);
		CHECK_EQ_INT(r.kind, API_R_NOTFOUND);
	}
}

MB_TEST(routes_percent_decoding_is_strict)
{
	struct api_route r;
	CHECK(route("/v0/containers/a%2Fb/app/my%20metric%3A1", &r) == 0);
	CHECK_EQ_INT(r.kind, API_R_APP);
	CHECK_STR(r.id, "a/b");
	CHECK(r.bad_id); /* a space is not in any metric name: never seen, 404 */
	CHECK(route("/v0/containers/a%2Fb/app/x%2Fy", &r) == 0);
	CHECK_STR(r.name, "x/y");
	CHECK(!r.bad_id);
	CHECK(route("/v0/containers/abc%4", &r) == MB_EINVAL);
	CHECK(route("/v0/containers/abc%", &r) == MB_EINVAL);
	CHECK(route("/v0/containers/abc%zz", &r) == MB_EINVAL);
	CHECK(route("/v0/containers/abc%00", &r) == MB_EINVAL);
	CHECK(route("/v0/containers/x/app/m%4", &r) == MB_EINVAL);
}

MB_TEST(routes_huge_ids_are_unknown_not_crashes)
{
	char *p = malloc(6000);
	strcpy(p, "/v0/containers/");
	memset(p + strlen(p), 'a', 5000);
	p[15 + 5000] = 0;
	struct api_route r;
	CHECK(route(p, &r) == 0);
	CHECK_EQ_INT(r.kind, API_R_CONTAINER);
	CHECK(r.bad_id);
	strcat(p, "/app/x");
	CHECK(route(p, &r) == 0);
	CHECK(r.bad_id);
	free(p);
}

MB_TEST(pct_decode_edges)
{
	char out[8];
	size_t n;
	CHECK(api_pct_decode("a+b", 3, true, out, sizeof out, &n) == 0);
	CHECK_STR(out, "a b");
	CHECK(api_pct_decode("a+b", 3, false, out, sizeof out, &n) == 0);
	CHECK_STR(out, "a+b");
	CHECK(api_pct_decode("%41%62", 6, false, out, sizeof out, &n) == 0);
	CHECK_STR(out, "Ab");
	CHECK(api_pct_decode("%4", 2, false, out, sizeof out, &n) == MB_EINVAL);
	CHECK(api_pct_decode("%4g", 3, false, out, sizeof out, &n) == MB_EINVAL);
	CHECK(api_pct_decode("12345678", 8, false, out, sizeof out, &n) == MB_ETOOBIG);
	/* the length bound is honoured: "%41" past n is not read */
	CHECK(api_pct_decode("ab%41", 3, false, out, sizeof out, &n) == MB_EINVAL);
}

MB_TEST(query_string_parsing)
{
	struct api_args a;
	char err[200];
	memset(&a, 0, sizeof a);
	CHECK(api_args_parse(&a, "source=node&name=cpu.total&tags=a%3A1%2Cb&x&from=-15m+", err,
	                     sizeof err) == 0);
	CHECK_STR(api_args_get(&a, "source"), "node");
	CHECK_STR(api_args_get(&a, "tags"), "a:1,b");
	CHECK_STR(api_args_get(&a, "x"), "");
	CHECK_STR(api_args_get(&a, "from"), "-15m ");
	CHECK(api_args_get(&a, "nope") == NULL);
	api_args_free(&a);
	CHECK(api_args_parse(&a, "name=%zz", err, sizeof err) == MB_EINVAL);
	CHECK(strstr(err, "name") != NULL);
	api_args_free(&a);
	CHECK(api_args_parse(&a, "name=abc%4", err, sizeof err) == MB_EINVAL);
	api_args_free(&a);
}

static int build(const char *src, const char *name, const char *from, const char *to,
                 const char *step, const char *stat, const char *tags, struct mb_query *q,
                 char *err)
{
	struct api_range_params p = {src, name, from, to, step, stat, tags};
	return api_range_build(&p, 1700000000000, q, err, 300);
}

MB_TEST(range_parameters)
{
	struct mb_query q;
	char err[300];
	CHECK(build("node", "cpu.total", NULL, NULL, NULL, NULL, NULL, &q, err) == 0);
	CHECK_EQ_INT(q.op, MB_OP_RANGE);
	CHECK_EQ_INT(q.from_ms, 1700000000000 - 3600000);
	CHECK_EQ_INT(q.to_ms, 1700000000000);
	CHECK_EQ_INT(q.step_ms, 0);
	CHECK_EQ_INT(q.stat, MB_STAT_MEAN);
	mb_query_free(&q);

	CHECK(build("c1", "lat", "-15m", "now", "10s", "p999", "b:2,a:1,c", &q, err) == 0);
	CHECK_EQ_INT(q.from_ms, 1700000000000 - 900000);
	CHECK_EQ_INT(q.step_ms, 10000);
	CHECK_EQ_INT(q.stat, MB_STAT_P999);
	CHECK_EQ_INT(q.ntags, 3);
	CHECK_STR(q.tags[0].key, "a");
	CHECK_STR(q.tags[0].val, "1");
	CHECK_STR(q.tags[2].key, "c");
	CHECK_STR(q.tags[2].val, "");
	mb_query_free(&q);

	CHECK(build("node", "x", "1699990000", "2023-11-14T22:13:20Z", NULL, NULL, NULL, &q,
	            err) == 0);
	CHECK_EQ_INT(q.from_ms, 1699990000000);
	CHECK_EQ_INT(q.to_ms, 1700000000000);
	mb_query_free(&q);

	/* a small step over a long span goes to agentd, which rounds it to its windows */
	CHECK(build("node", "x", "-7d", NULL, "30s", NULL, NULL, &q, err) == 0);
	CHECK_EQ_INT(q.step_ms, 30000);
	mb_query_free(&q);
}

MB_TEST(range_errors_name_the_parameter)
{
	struct mb_query q;
	char err[300];
	struct {
		const char *src, *name, *from, *to, *step, *stat, *tags, *want;
	} cases[] = {
		{NULL, "x", NULL, NULL, NULL, NULL, NULL, "source"},
		{"node", NULL, NULL, NULL, NULL, NULL, NULL, "name"},
		{"node", "x", "yesterday", NULL, NULL, NULL, NULL, "from"},
		{"node", "x", NULL, "soon", NULL, NULL, NULL, "to"},
		{"node", "x", "now", "-1h", NULL, NULL, NULL, "from"},
		{"node", "x", NULL, NULL, "10", NULL, NULL, "step"},
		{"node", "x", NULL, NULL, "-5s", NULL, NULL, "step"},
		{"node", "x", NULL, NULL, NULL, "median", NULL, "stat"},
		{"node", "x", NULL, NULL, NULL, NULL, "a:1,a:2", "tags"},
		{"node", "x", NULL, NULL, NULL, NULL, ":v", "tags"},
		{"node", "x", NULL, NULL, NULL, NULL, "a:1,", "tags"},
		{"node", "x", NULL, NULL, NULL, NULL, "k:\xc3\x28", "tags"},
		{"node", "x", NULL, NULL, NULL, NULL, "\xff:v", "tags"},
		{"node", "x", NULL, NULL, NULL, NULL, "k:a\tb", "tags"},
		{"no de", "x", NULL, NULL, NULL, NULL, NULL, "source"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		err[0] = 0;
		int rv = build(cases[i].src, cases[i].name, cases[i].from, cases[i].to,
		               cases[i].step, cases[i].stat, cases[i].tags, &q, err);
		CHECK_EQ_INT(rv, MB_EINVAL);
		if (!strstr(err, cases[i].want)) {
			printf("case %zu: %s\n", i, err);
			CHECK(strstr(err, cases[i].want) != NULL);
		}
	}
}

MB_TEST(listen_address_parsing)
{
	char h[64];
	unsigned port;
	CHECK(api_split_hostport("127.0.0.1:61001", h, sizeof h, &port) == 0);
	CHECK_STR(h, "127.0.0.1");
	CHECK_EQ_INT(port, 61001);
	CHECK(api_split_hostport("[::1]:8080", h, sizeof h, &port) == 0);
	CHECK_STR(h, "::1");
	CHECK_EQ_INT(port, 8080);
	CHECK(api_split_hostport(":9", h, sizeof h, &port) == 0);
	CHECK_STR(h, "");
	CHECK(api_split_hostport("::1:80", h, sizeof h, &port) == MB_EINVAL);
	CHECK(api_split_hostport("host", h, sizeof h, &port) == MB_EINVAL);
	CHECK(api_split_hostport("host:99999", h, sizeof h, &port) == MB_EINVAL);
	CHECK(api_split_hostport("host:", h, sizeof h, &port) == MB_EINVAL);
	CHECK(api_split_hostport("[::1]8080", h, sizeof h, &port) == MB_EINVAL);
}
