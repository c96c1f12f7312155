/* prom_test.c: Prometheus naming (DC/OS sanitising, unit and _total suffixes), labels
 * (escaping, reserved and colliding tags), families and collisions. */
#include "api.h"
#include "../tests/unit/mbtest.h"

#include <stdlib.h>

static char *render(struct mb_reply *r, bool hist, uint64_t *skipped)
{
	struct mb_buf b = {0};
	uint64_t sk = 0;
	CHECK(api_prom_render(&b, r, hist, &sk, NULL, NULL) == 0);
	if (skipped)
		*skipped = sk;
	char *s = malloc(b.len + 1);
	memcpy(s, b.data, b.len);
	s[b.len] = 0;
	mb_buf_free(&b);
	return s;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static int count_of(const char *text, const char *needle)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

MB_TEST(prom_sanitize_dcos_rule)
{
	char out[64];
	api_prom_sanitize("Testapp.Response-Latency", out, sizeof out);
	CHECK_STR(out, "testapp_response_latency");
	api_prom_sanitize("9lives", out, sizeof out);
	CHECK_STR(out, "_9lives");
	api_prom_sanitize("a:b/c d\xc3\xa9", out, sizeof out);
	CHECK_STR(out, "a_b_c_d__");
}

static struct mb_kv node_dims[] = {{"hostname", "h1"}, {"mesos_id", ""}};
static struct mb_kv c_dims[] = {{"container_id", "c1"}, {"task_name", "we\"b\\\n"}};

MB_TEST(prom_names_units_and_types)
{
	struct mb_kv path_tag[] = {{"path", "/"}};
	struct mb_source_dims srcs[] = {{"node", 2, node_dims}, {"c1", 2, c_dims}};
	struct mb_export_item items[] = {
		{.src = 0, .name = "memory.total", .kind = MB_GAUGE, .unit = "bytes", .value = 8e9},
		{.src = 0, .name = "cpu.total", .kind = MB_GAUGE, .unit = "percent", .value = 12.5},
		{.src = 0,
		 .name = "filesystem.inode.total",
		 .kind = MB_GAUGE,
		 .unit = "count",
		 .ntags = 1,
		 .tags = path_tag,
		 .value = 100},
		{.src = 1, .name = "cpus.user.time", .kind = MB_RESOURCE, .unit = "seconds", .value = 3},
		{.src = 1, .name = "requests", .kind = MB_COUNTER, .unit = "", .value = 5, .total = 105},
		{.src = 1, .name = "jobs.total", .kind = MB_COUNTER, .unit = "", .total = 7},
		{.src = 1, .name = "queue.count", .kind = MB_GAUGE, .unit = "", .value = 3},
		{.src = 1, .name = "users", .kind = MB_SET, .unit = "", .value = 42},
		{.src = 1,
		 .name = "latency",
		 .kind = MB_TIMER,
		 .unit = "",
		 .count = 10,
		 .sum = 55,
		 .has_q = true,
		 .q = {5, 9, 9.5, 9.9, 10}},
	};
	struct mb_reply r;
	memset(&r, 0, sizeof r);
	r.op = MB_OP_EXPORT;
	r.nsrcs = 2;
	r.srcs = srcs;
	r.nitems = sizeof items / sizeof items[0];
	r.items = items;
	char *t = render(&r, false, NULL);
	CHECK(has_line(t, "# TYPE memory_total_bytes gauge"));
	CHECK(has_line(t, "memory_total_bytes{hostname=\"h1\"} 8000000000"));
	CHECK(has_line(t, "cpu_total_percent{hostname=\"h1\"} 12.5"));
	CHECK(has_line(t, "# TYPE filesystem_inode_total_value gauge"));
	CHECK(has_line(t, "filesystem_inode_total_value{hostname=\"h1\",path=\"/\"} 100"));
	CHECK(has_line(t, "cpus_user_time_seconds{container_id=\"c1\",task_name=\"we\\\"b\\\\\\n\"} 3"));
	CHECK(has_line(t, "# TYPE requests_total counter"));
	CHECK(has_line(t, "requests_total{container_id=\"c1\",task_name=\"we\\\"b\\\\\\n\"} 105"));
	CHECK(has_line(t, "# TYPE jobs_total counter"));
	CHECK(strstr(t, "jobs_total_total") == NULL);
	CHECK(has_line(t, "# TYPE queue_count_value gauge"));
	CHECK(has_line(t, "# TYPE users gauge"));
	CHECK(has_line(t, "# TYPE latency summary"));
	CHECK(strstr(t, "latency{container_id=\"c1\",task_name=\"we\\\"b\\\\\\n\",quantile=\"0.99\"} "
	                "9.9\n") != NULL);
	CHECK(strstr(t, "latency_sum{") && strstr(t, "} 55\n"));
	CHECK(strstr(t, "latency_count{") != NULL);
	/* one HELP and one TYPE per family */
	CHECK_EQ_INT(count_of(t, "# TYPE latency "), 1);
	CHECK_EQ_INT(count_of(t, "# HELP "), count_of(t, "# TYPE "));
	free(t);
}

MB_TEST(prom_tags_never_repeat_a_label)
{
	struct mb_kv tags[] = {{"Container.ID", "x"}, {"container_id", "y"}, {"instance", "i"},
	                       {"le", "l"}, {"quantile", "q"}, {"tag_le", "t"}};
	struct mb_source_dims srcs[] = {{"c1", 2, c_dims}};
	struct mb_export_item items[] = {
		{.src = 0,
		 .name = "hits",
		 .kind = MB_TIMER,
		 .unit = "",
		 .ntags = 6,
		 .tags = tags,
		 .count = 1,
		 .sum = 1,
		 .has_q = true,
		 .q = {1, 1, 1, 1, 1}},
	};
	struct mb_reply r;
	memset(&r, 0, sizeof r);
	r.nsrcs = 1;
	r.srcs = srcs;
	r.nitems = 1;
	r.items = items;
	char *t = render(&r, false, NULL);
	CHECK(strstr(t, "hits_count{container_id=\"c1\",task_name=\"we\\\"b\\\\\\n\","
	                "tag_container_id=\"x\",tag_container_id_2=\"y\",tag_instance=\"i\","
	                "tag_le=\"l\",tag_quantile=\"q\",tag_tag_le=\"t\"} 1\n") != NULL);
	free(t);
}

MB_TEST(prom_collisions_are_skipped_and_counted)
{
	struct mb_source_dims srcs[] = {{"c1", 1, c_dims}};
	struct mb_export_item items[] = {
		{.src = 0, .name = "a.b", .kind = MB_GAUGE, .unit = "", .value = 1},
		{.src = 0, .name = "a_b", .kind = MB_GAUGE, .unit = "", .value = 2},
		{.src = 0, .name = "A-B", .kind = MB_TIMER, .unit = "", .count = 1, .sum = 1},
		{.src = 0, .name = "x", .kind = MB_COUNTER, .unit = "", .total = 1},
		{.src = 0, .name = "x.total", .kind = MB_GAUGE, .unit = "", .value = 1},
	};
	struct mb_reply r;
	memset(&r, 0, sizeof r);
	r.nsrcs = 1;
	r.srcs = srcs;
	r.nitems = sizeof items / sizeof items[0];
	r.items = items;
	uint64_t skipped = 0;
	char *t = render(&r, false, &skipped);
	CHECK_EQ_INT(skipped, 2);
	CHECK_EQ_INT(count_of(t, "# TYPE a_b "), 1);
	CHECK(has_line(t, "a_b{container_id=\"c1\"} 1"));
	CHECK(!has_line(t, "a_b{container_id=\"c1\"} 2"));
	CHECK(has_line(t, "x_total{container_id=\"c1\"} 1"));
	CHECK(has_line(t, "x_total_value{container_id=\"c1\"} 1"));
	free(t);
}

MB_TEST(prom_histograms_from_running_sketch)
{
	struct mb_sketch sk;
	memset(&sk, 0, sizeof sk);
	for (int i = 1; i <= 100; i++)
		CHECK(mb_sketch_add(&sk, i - 0.5, 1) == 0); /* off the bucket bounds */
	struct mb_source_dims srcs[] = {{"c1", 1, c_dims}};
	struct mb_export_item items[] = {
		{.src = 0,
		 .name = "lat",
		 .kind = MB_TIMER,
		 .unit = "",
		 .count = 100,
		 .sum = 5000,
		 .running = &sk},
	};
	struct mb_reply r;
	memset(&r, 0, sizeof r);
	r.nsrcs = 1;
	r.srcs = srcs;
	r.nitems = 1;
	r.items = items;
	char *t = render(&r, true, NULL);
	CHECK(has_line(t, "# TYPE lat histogram"));
	CHECK(has_line(t, "lat_bucket{container_id=\"c1\",le=\"0.0001\"} 0"));
	CHECK(has_line(t, "lat_bucket{container_id=\"c1\",le=\"10\"} 10"));
	CHECK(has_line(t, "lat_bucket{container_id=\"c1\",le=\"50\"} 50"));
	CHECK(has_line(t, "lat_bucket{container_id=\"c1\",le=\"250\"} 100"));
	CHECK(has_line(t, "lat_bucket{container_id=\"c1\",le=\"+Inf\"} 100"));
	CHECK(has_line(t, "lat_count{container_id=\"c1\"} 100"));
	CHECK(has_line(t, "lat_sum{container_id=\"c1\"} 5000"));
	free(t);
	mb_sketch_free(&sk);
}

MB_TEST(prom_label_value_escaping)
{
	struct mb_buf b = {0};
	CHECK(api_prom_label_value(&b, "a\\b\"c\nd") == 0);
	CHECK_EQ_INT(b.len, strlen("a\\\\b\\\"c\\nd"));
	CHECK(memcmp(b.data, "a\\\\b\\\"c\\nd", b.len) == 0);
	mb_buf_free(&b);
}
