/* mapping_test.c: statsd_exporter mapping files: its documentation's examples load unchanged,
 * glob and regex captures, file order, match_metric_type, drop, labels merged into tags, bad
 * files refused with the line, and a thousand glob rules matched through the tree. */
#include "../tests/unit/mbtest.h"
#include "agentd.h"
#include "mapping.h"

#include <stdlib.h>

static const char *write_file(const char *name, const char *text)
{
	static char path[4][512];
	static int k;
	char *p = path[k++ % 4];
	snprintf(p, 512, "%s/%s", mbt_tmpdir(), name);
	FILE *f = fopen(p, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return p;
}

/* The examples of statsd_exporter's README, as a user would copy them into one file. */
static const char readme_examples[] =
    "defaults:\n"
    "  observer_type: histogram\n"
    "  buckets: [.005, .01, .025, .05, .1, .25, .5, 1, 2.5 ]\n"
    "  match_type: glob\n"
    "  glob_disable_ordering: false\n"
    "  ttl: 0 # metrics do not expire\n"
    "mappings:\n"
    "- match: \"test.dispatcher.*.*.*\"\n"
    "  name: \"dispatcher_events_total\"\n"
    "  labels:\n"
    "    processor: \"$1\"\n"
    "    action: \"$2\"\n"
    "    outcome: \"$3\"\n"
    "    job: \"test_dispatcher\"\n"
    "- match: \"*.signup.*.*\"\n"
    "  name: \"signup_events_total\"\n"
    "  labels:\n"
    "    provider: \"$2\"\n"
    "    outcome: \"$3\"\n"
    "    job: \"${1}_server\"\n"
    "- match: test.timing.*.*.*\n"
    "  observer_type: summary\n"
    "  name: \"my_timer\"\n"
    "  labels:\n"
    "    provider: \"$2\"\n"
    "    outcome: \"$3\"\n"
    "    job: \"${1}_server\"\n"
    "  summary_options:\n"
    "    quantiles:\n"
    "      - quantile: 0.99\n"
    "        error: 0.001\n"
    "    max_age: 30s\n"
    "- match: test.foo.*\n"
    "  name: \"test_foo\"\n"
    "  match_metric_type: counter\n"
    "  labels:\n"
    "    provider: \"$1\"\n"
    "- match: (.*)\\.(.*)--(.*)\\.status\\.(.*)\\.count\n"
    "  match_type: regex\n"
    "  name: \"request_total\"\n"
    "  labels:\n"
    "    hostname: \"$1\"\n"
    "    exec: \"$2\"\n"
    "    protocol: \"$3\"\n"
    "    code: \"$4\"\n"
    "- match: \"client.*.request.count\"\n"
    "  name: request_count\n"
    "  help: \"requests by client\"\n"
    "  ttl: 1m20s\n"
    "  labels:\n"
    "    client: $1\n"
    "- match: .\n"
    "  match_type: regex\n"
    "  action: drop\n"
    "  name: \"dropped\"\n";

static const char *label(const struct agent_map_result *r, const char *k)
{
	for (int i = 0; i < r->nlabels; i++)
		if (strcmp(r->keys[i], k) == 0)
			return r->vals[i];
	return NULL;
}

MB_TEST(mapping_readme_examples_load_and_match)
{
	struct agent_mapping *m = NULL;
	char err[256] = "";
	const char *p = write_file("readme.yml", readme_examples);
	CHECK(agent_mapping_load(p, &m, err, sizeof err) == 0);
	if (!m) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK_EQ_INT(agent_mapping_nrules(m), 7);
	struct agent_map_result r;
	CHECK(agent_mapping_match(m, "test.dispatcher.FooProcessor.send.success", MB_COUNTER, &r) ==
	      0);
	CHECK_EQ_INT(r.rule, 0);
	CHECK_STR(r.name, "dispatcher_events_total");
	CHECK_EQ_INT(r.nlabels, 4);
	CHECK_STR(label(&r, "processor"), "FooProcessor");
	CHECK_STR(label(&r, "action"), "send");
	CHECK_STR(label(&r, "outcome"), "success");
	CHECK_STR(label(&r, "job"), "test_dispatcher");
	CHECK(agent_mapping_match(m, "foo_product.signup.facebook.failure", MB_COUNTER, &r) == 0);
	CHECK_STR(r.name, "signup_events_total");
	CHECK_STR(label(&r, "provider"), "facebook");
	CHECK_STR(label(&r, "job"), "foo_product_server");
	CHECK(agent_mapping_match(m, "test.timing.a.b.c", MB_TIMER, &r) == 0);
	CHECK_STR(r.name, "my_timer");
	/* match_metric_type: counter only; a gauge of that name falls to the catch-all drop */
	CHECK(agent_mapping_match(m, "test.foo.bar", MB_COUNTER, &r) == 0);
	CHECK_STR(r.name, "test_foo");
	CHECK_STR(label(&r, "provider"), "bar");
	CHECK(agent_mapping_match(m, "test.foo.bar", MB_GAUGE, &r) == 0);
	CHECK(r.rule == 6 && r.drop);
	/* regex with captures */
	CHECK(agent_mapping_match(m, "web01.api--http.status.200.count", MB_COUNTER, &r) == 0);
	CHECK_STR(r.name, "request_total");
	CHECK_STR(label(&r, "hostname"), "web01");
	CHECK_STR(label(&r, "exec"), "api");
	CHECK_STR(label(&r, "protocol"), "http");
	CHECK_STR(label(&r, "code"), "200");
	CHECK(agent_mapping_match(m, "client.c7.request.count", MB_COUNTER, &r) == 0);
	CHECK_STR(r.name, "request_count");
	CHECK_STR(label(&r, "client"), "c7");
	/* the regex "." drops what nothing before it mapped */
	CHECK(agent_mapping_match(m, "anything.else", MB_GAUGE, &r) == 0);
	CHECK(r.rule == 6 && r.drop);
	/* asked twice: the cache answers the same */
	CHECK(agent_mapping_match(m, "foo_product.signup.facebook.failure", MB_COUNTER, &r) == 0);
	CHECK_STR(label(&r, "job"), "foo_product_server");
	CHECK_EQ_INT(agent_mapping_unmatched(m), 0);
	agent_mapping_free(m);
}

MB_TEST(mapping_order_partial_globs_and_templates)
{
	struct agent_mapping *m = NULL;
	char err[256] = "";
	const char *p = write_file("order.yml",
	                           "mappings:\n"
	                           "- match: a.*.c\n"
	                           "  name: first_$1\n"
	                           "- match: a.b.c\n"
	                           "  name: second\n"
	                           "- match: x.req_*_total.*\n"
	                           "  name: \"req_${1}_${2}_$$\"\n"
	                           "- match: x.*.*\n"
	                           "  name: \"$1_x\"\n"
	                           "- match: never.*\n"
	                           "  name: never\n"
	                           "- match: y.(\\d+)\n"
	                           "  match_type: regex\n"
	                           "  name: num_$1\n");
	CHECK(agent_mapping_load(p, &m, err, sizeof err) == 0);
	if (!m) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	struct agent_map_result r;
	/* the first rule in the file wins, not the most specific */
	CHECK(agent_mapping_match(m, "a.b.c", MB_COUNTER, &r) == 0);
	CHECK_STR(r.name, "first_b");
	CHECK(agent_mapping_match(m, "x.req_get_total.eu", MB_COUNTER, &r) == 0);
	CHECK_STR(r.name, "req_get_eu_$");
	/* "$1_x" reads as the reference "1_x" (as in statsd_exporter), which is nothing: an empty
	 * name, and the record stays as it was */
	CHECK_EQ_INT(agent_mapping_match(m, "x.other.eu", MB_COUNTER, &r), MB_EINVAL);
	/* a glob star does not cross a dot; component counts must agree */
	CHECK(agent_mapping_match(m, "a.b.b.c", MB_COUNTER, &r) == 0);
	CHECK_EQ_INT(r.rule, -1);
	CHECK(agent_mapping_match(m, "y.42", MB_GAUGE, &r) == 0);
	CHECK_STR(r.name, "num_42");
	CHECK_EQ_INT(agent_mapping_unmatched(m), 2); /* a.b.c (shadowed) and never.* */
	agent_mapping_free(m);
}

MB_TEST(mapping_glob_disable_ordering)
{
	struct agent_mapping *m = NULL;
	char err[256] = "";
	const char *p = write_file("unordered.yml",
	                           "defaults:\n"
	                           "  glob_disable_ordering: true\n"
	                           "mappings:\n"
	                           "- match: \".*\"\n"
	                           "  match_type: regex\n"
	                           "  name: any\n"
	                           "- match: a.*.c\n"
	                           "  name: star_$1\n"
	                           "- match: a.b.c\n"
	                           "  name: literal\n"
	                           "- match: a.b*.c\n"
	                           "  name: partial_$1\n");
	CHECK(agent_mapping_load(p, &m, err, sizeof err) == 0);
	if (!m) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	struct agent_map_result r;
	/* a literal component over a partial one over "*", whatever the order of the file; a
	 * glob match wins over the regex rules */
	CHECK(agent_mapping_match(m, "a.b.c", MB_COUNTER, &r) == 0);
	CHECK_STR(r.name, "literal");
	CHECK(agent_mapping_match(m, "a.bx.c", MB_COUNTER, &r) == 0);
	CHECK_STR(r.name, "partial_x");
	CHECK(agent_mapping_match(m, "a.q.c", MB_COUNTER, &r) == 0);
	CHECK_STR(r.name, "star_q");
	/* no glob: the regex rules in order */
	CHECK(agent_mapping_match(m, "z", MB_COUNTER, &r) == 0);
	CHECK_STR(r.name, "any");
	agent_mapping_free(m);
}

MB_TEST(mapping_apply_renames_merges_tags_drops)
{
	struct agent_mapping *m = NULL;
	char err[256] = "";
	const char *p = write_file("apply.yml",
	                           "mappings:\n"
	                           "- match: app.*.hits\n"
	                           "  name: hits\n"
	                           "  labels:\n"
	                           "    route: $1\n"
	                           "    env: mapped\n"
	                           "- match: app.*.kept\n"
	                           "  name: kept\n"
	                           "  honor_labels: true\n"
	                           "  labels:\n"
	                           "    env: mapped\n"
	                           "- match: debug.*\n"
	                           "  action: drop\n"
	                           "- match: '*.*'\n"
	                           "  name: \"\"\n"
	                           "  labels: {}\n"
	                           "  action: drop\n");
	CHECK(agent_mapping_load(p, &m, err, sizeof err) == 0);
	if (!m) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	struct mb_batch *b = agent_batch_new("c1", 1, 1, 1700000000000, 10000);
	struct mb_kv env = {"env", "client"}, z = {"zone", "a"};
	struct mb_kv both[2] = {env, z};
	CHECK(agent_batch_add(b, MB_COUNTER, "app.login.hits", 3, 2, both) == 0);
	CHECK(agent_batch_add(b, MB_COUNTER, "debug.x", 1, 0, NULL) == 0);
	CHECK(agent_batch_add(b, MB_GAUGE, "app.q.kept", 5, 1, &env) == 0);
	CHECK(agent_batch_add(b, MB_COUNTER, "metricsbus.shim.lines", 9, 0, NULL) == 0);
	CHECK(agent_batch_add(b, MB_RESOURCE, "mem.total", 9, 0, NULL) == 0);
	CHECK(agent_batch_add(b, MB_GAUGE, "other.name", 1, 0, NULL) == 0);
	uint64_t dropped = 0, errors = 0;
	CHECK(agent_mapping_apply(m, b, &dropped, &errors) == 0);
	CHECK_EQ_INT(dropped, 2);
	CHECK_EQ_INT(errors, 0);
	CHECK_EQ_INT(b->nrecords, 4);
	struct mb_record *r = &b->records[0];
	CHECK_STR(r->name, "hits");
	CHECK_EQ_INT(r->ntags, 3); /* env (the rule's, over the client's), route, zone */
	CHECK_STR(r->tags[0].key, "env");
	CHECK_STR(r->tags[0].val, "mapped");
	CHECK_STR(r->tags[1].key, "route");
	CHECK_STR(r->tags[1].val, "login");
	CHECK_STR(r->tags[2].key, "zone");
	r = &b->records[1];
	CHECK_STR(r->name, "kept");
	CHECK_EQ_INT(r->ntags, 1);
	CHECK_STR(r->tags[0].val, "client"); /* honor_labels: the client's value stays */
	CHECK_STR(b->records[2].name, "metricsbus.shim.lines");
	CHECK_STR(b->records[3].name, "mem.total");
	agent_batch_destroy(b);
	agent_mapping_free(m);
}

MB_TEST(mapping_bad_files_say_where)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"mappings:\n- match: a.*\n", "line 2"},              /* no name */
	    {"mappings:\n- name: x\n", "needs a match"},           /* no match */
	    {"mappings:\n- match: a\n  name: x\n  action: keep\n", "action keep"},
	    {"mappings:\n- match: a\n  name: x\n  match_type: fuzzy\n", "match_type fuzzy"},
	    {"mappings:\n- match: a\n  name: x\n  match_metric_type: hist\n", "hist"},
	    {"mappings:\n- match: \"(a\"\n  match_type: regex\n  name: x\n", "regex"},
	    {"mappings:\n- match: a..b\n  name: x\n", "empty component"},
	    {"mappings: [\n", "line"},
	    {"mappings: 3\n", "must be a list"},
	    {"- a\n- b\n", "want a map"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct agent_mapping *m = NULL;
		char err[256] = "";
		const char *p = write_file("bad.yml", bad[i].text);
		CHECK_EQ_INT(agent_mapping_load(p, &m, err, sizeof err), MB_EINVAL);
		if (!strstr(err, bad[i].want))
			fprintf(stderr, "  %zu: \"%s\" lacks \"%s\"\n", i, err, bad[i].want);
		CHECK(strstr(err, bad[i].want) != NULL);
		CHECK(m == NULL);
	}
	struct agent_mapping *m = NULL;
	char err[256];
	CHECK_EQ_INT(agent_mapping_load("/nonexistent/x.yml", &m, err, sizeof err), MB_ESYS);
	/* a key given twice: the last (and nothing leaks: the ASan build runs this) */
	CHECK(agent_mapping_load(write_file("twice.yml", "mappings:\n- match: a.*\n  name: x\n"
	                                                 "  name: y\n  match: b.*\n"),
	                         &m, err, sizeof err) == 0);
	struct agent_map_result r;
	CHECK(m && agent_mapping_match(m, "b.q", MB_COUNTER, &r) == 0 && r.rule == 0);
	if (m)
		CHECK_STR(r.name, "y");
	agent_mapping_free(m);
	CHECK_EQ_INT(agent_mapping_load(write_file("twice2.yml", "mappings:\n- match: a.*\n"
	                                                        "  match: [1]\n  name: y\n"),
	                                &m, err, sizeof err),
	             MB_EINVAL);
	/* an empty file and one without mappings are no rules */
	CHECK(agent_mapping_load(write_file("empty.yml", ""), &m, err, sizeof err) == 0);
	CHECK_EQ_INT(agent_mapping_nrules(m), 0);
	agent_mapping_free(m);
	CHECK(agent_mapping_load(write_file("d.yml", "defaults:\n  ttl: 0\n"), &m, err, sizeof err) ==
	      0);
	agent_mapping_free(m);
}

MB_TEST(mapping_thousand_globs_through_the_tree)
{
	size_t cap = 1 << 17, n = 0;
	char *text = malloc(cap);
	n += (size_t)snprintf(text + n, cap - n, "mappings:\n");
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(text + n, cap - n,
		                      "- match: svc%d.*.requests.*\n  name: svc%d_requests\n"
		                      "  labels:\n    route: $1\n    code: $2\n",
		                      i, i);
	struct agent_mapping *m = NULL;
	char err[256] = "";
	CHECK(agent_mapping_load(write_file("many.yml", text), &m, err, sizeof err) == 0);
	free(text);
	if (!m)
		return;
	struct agent_map_result r;
	char name[64];
	for (int i = 0; i < 1000; i += 37) {
		snprintf(name, sizeof name, "svc%d.login.requests.200", i);
		CHECK(agent_mapping_match(m, name, MB_COUNTER, &r) == 0);
		CHECK_EQ_INT(r.rule, i);
		CHECK_STR(label(&r, "route"), "login");
		CHECK_STR(label(&r, "code"), "200");
	}
	CHECK(agent_mapping_match(m, "svc5.requests", MB_COUNTER, &r) == 0);
	CHECK_EQ_INT(r.rule, -1);
	agent_mapping_free(m);
}
