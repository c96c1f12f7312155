/* json_test.c: the JSON writer (escaping, invalid UTF-8, numbers) and the DC/OS shapes
 * rendered from hand-built replies. */
#include "api.h"
#include "../tests/unit/mbtest.h"

#include <math.h>
#include <stdlib.h>

/* Long expected bodies do not fit CHECK_STR's message: this prints both in full. */
#define SAME(got, want) same_str((got), (want), __LINE__)
static void same_str(const char *got, const char *want, int line)
{
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "  got:  %s\n  want: %s\n", got, want);
		mbt_fail(__FILE__, line, "strings differ");
	}
}

/* The last two results stay valid (a test compares one with a literal at a time). */
static char *str_of(struct mb_buf *b)
{
	static char *keep[2];
	static int k;
	free(keep[k]);
	char *out = keep[k] = malloc(b->len + 1);
	k ^= 1;
	memcpy(out, b->data, b->len);
	out[b->len] = 0;
	return out;
}

static const char *esc(const char *s, size_t n)
{
	struct mb_buf b = {0};
	CHECK(api_json_strn(&b, s, n) == 0);
	char *r = str_of(&b);
	mb_buf_free(&b);
	return r;
}

MB_TEST(json_escapes_quotes_backslash_and_controls)
{
	SAME(esc("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
	SAME(esc("\n\r\t\b\f", 5), "\"\\n\\r\\t\\b\\f\"");
	SAME(esc("\x01\x1f", 2), "\"\\u0001\\u001f\"");
	SAME(esc("x\0y", 3), "\"x\\u0000y\"");
	SAME(esc("/\x7f", 2), "\"/\x7f\"");
}

MB_TEST(json_keeps_valid_utf8_and_replaces_invalid)
{
	SAME(esc("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15),
	          "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* lone continuation, truncated sequence, overlong, surrogate, > U+10FFFF */
	SAME(esc("\x80", 1), "\"\xef\xbf\xbd\"");
	SAME(esc("a\xc3", 2), "\"a\xef\xbf\xbd\"");
	SAME(esc("\xc0\xaf", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	SAME(esc("\xed\xa0\x80", 3), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	SAME(esc("\xf4\x90\x80\x80", 4),
	          "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}

static const char *num(double v)
{
	struct mb_buf b = {0};
	CHECK(api_json_num(&b, v) == 0);
	char *r = str_of(&b);
	mb_buf_free(&b);
	return r;
}

MB_TEST(json_numbers_shortest_and_finite)
{
	SAME(num(0), "0");
	SAME(num(-0.0), "0");
	SAME(num(42), "42");
	SAME(num(-7), "-7");
	SAME(num(0.1), "0.1");
	SAME(num(1.5), "1.5");
	SAME(num(1e300), "1e+300");
	SAME(num(123456789012), "123456789012");
	SAME(num(NAN), "null");
	SAME(num(INFINITY), "null");
	SAME(num(-INFINITY), "null");
	double third = 1.0 / 3;
	CHECK(strtod(num(third), NULL) == third);
	SAME(num(third), "0.3333333333333333");
}

static struct mb_kv tag1[] = {{"path", "/var \"lib\""}};
static struct mb_kv dims1[] = {{"container_id", "c1"}, {"task_name", "web\n1"}};

MB_TEST(dcos_points_shape)
{
	struct mb_point pts[] = {
		{"cpu.total", 12.5, "percent", 1533739474000, 0, NULL},
		{"filesystem.capacity.total", 1024, "bytes", 1533739474999, 1, tag1},
		{"bad", NAN, "", 0, 0, NULL},
	};
	struct mb_reply r;
	memset(&r, 0, sizeof r);
	r.op = MB_OP_NODE;
	r.status = 200;
	r.npoints = 3;
	r.points = pts;
	struct mb_buf b = {0};
	CHECK(api_render_json(&b, &r) == 0);
	SAME(str_of(&b),
	          "{\"datapoints\":["
	          "{\"name\":\"cpu.total\",\"value\":12.5,\"unit\":\"percent\","
	          "\"timestamp\":\"2018-08-08T14:44:34Z\"},"
	          "{\"name\":\"filesystem.capacity.total\",\"value\":1024,\"unit\":\"bytes\","
	          "\"timestamp\":\"2018-08-08T14:44:34Z\",\"tags\":{\"path\":\"/var \\\"lib\\\"\"}}"
	          "],\"dimensions\":{\"mesos_id\":\"\",\"hostname\":\"\"}}");
	mb_buf_reset(&b);
	r.op = MB_OP_APP;
	r.npoints = 0;
	r.ndims = 2;
	r.dims = dims1;
	CHECK(api_render_json(&b, &r) == 0);
	SAME(str_of(&b), "{\"datapoints\":[],\"dimensions\":{\"mesos_id\":\"\",\"hostname\":"
	                      "\"\",\"container_id\":\"c1\",\"task_name\":\"web\\n1\"}}");
	mb_buf_free(&b);
}

MB_TEST(dcos_dimensions_keep_given_mesos_id_and_hostname)
{
	struct mb_kv d[] = {{"cluster_id", "k"}, {"hostname", "h1"}, {"mesos_id", "m1"}};
	struct mb_reply r;
	memset(&r, 0, sizeof r);
	r.op = MB_OP_CONTAINER;
	r.ndims = 3;
	r.dims = d;
	struct mb_buf b = {0};
	CHECK(api_render_json(&b, &r) == 0);
	SAME(str_of(&b), "{\"datapoints\":[],\"dimensions\":{\"cluster_id\":\"k\","
	                      "\"hostname\":\"h1\",\"mesos_id\":\"m1\"}}");
	mb_buf_free(&b);
}

MB_TEST(dcos_containers_ping_range_series)
{
	const char *ids[] = {"a", "b\"c"};
	struct mb_reply r;
	struct mb_buf b = {0};
	memset(&r, 0, sizeof r);
	r.op = MB_OP_CONTAINERS;
	CHECK(api_render_json(&b, &r) == 0);
	SAME(str_of(&b), "[]");
	mb_buf_reset(&b);
	r.nids = 2;
	r.ids = ids;
	CHECK(api_render_json(&b, &r) == 0);
	SAME(str_of(&b), "[\"a\",\"b\\\"c\"]");

	mb_buf_reset(&b);
	r.op = MB_OP_PING;
	r.time_ms = 1533739474000;
	CHECK(api_render_json(&b, &r) == 0);
	SAME(str_of(&b), "{\"ok\":true,\"timestamp\":\"2018-08-08T14:44:34Z\"}");

	int64_t t[] = {1700000000000, 1700000010000, 1700000020500};
	double v[] = {1.5, NAN, 3};
	mb_buf_reset(&b);
	r.op = MB_OP_RANGE;
	r.name = "req";
	r.source = "node";
	r.step_ms = 10000;
	r.stat = MB_STAT_P99;
	r.nrange = 3;
	r.range_t = t;
	r.range_v = v;
	CHECK(api_render_json(&b, &r) == 0);
	SAME(str_of(&b), "{\"name\":\"req\",\"source\":\"node\",\"step\":\"10s\",\"stat\":"
	                      "\"p99\",\"points\":[[1700000000,1.5],[1700000010,null],"
	                      "[1700000020.5,3]]}");

	struct mb_series_info si[] = {{"lat", MB_TIMER, 1, tag1, 1533739474000}};
	mb_buf_reset(&b);
	r.op = MB_OP_SERIES;
	r.source = "c1";
	r.nseries = 1;
	r.series = si;
	CHECK(api_render_json(&b, &r) == 0);
	SAME(str_of(&b), "{\"source\":\"c1\",\"series\":[{\"name\":\"lat\",\"type\":\"timer\","
	                      "\"tags\":{\"path\":\"/var \\\"lib\\\"\"},"
	                      "\"last\":\"2018-08-08T14:44:34Z\"}]}");
	mb_buf_free(&b);
}

MB_TEST(tables_align_columns)
{
	struct api_table t;
	const char *h[] = {"NAME", "VALUE"};
	const char *r1[] = {"a", "1"};
	const char *r2[] = {"longer\x01", "12345"};
	struct mb_buf b = {0};
	CHECK(api_table_init(&t, 2, h) == 0);
	t.right[1] = true;
	CHECK(api_table_row(&t, r1) == 0);
	CHECK(api_table_row(&t, r2) == 0);
	CHECK(api_table_render(&t, &b) == 0);
	SAME(str_of(&b), "NAME     VALUE\na            1\nlonger?  12345\n");
	api_table_free(&t);
	mb_buf_free(&b);
}

MB_TEST(auth_bearer_compare)
{
	CHECK(api_auth_ok("Bearer s3cret", "s3cret"));
	CHECK(api_auth_ok("bearer s3cret", "s3cret"));
	CHECK(!api_auth_ok("Bearer s3cre", "s3cret"));
	CHECK(!api_auth_ok("Bearer s3cretX", "s3cret"));
	CHECK(!api_auth_ok("Basic s3cret", "s3cret"));
	CHECK(!api_auth_ok(NULL, "s3cret"));
	CHECK(!api_auth_ok("Bearer ", "s3cret"));
}

MB_TEST(auth_token_file)
{
	char path[512], tok[64], err[256];
	snprintf(path, sizeof path, "%s/tok", mbt_tmpdir());
	FILE *f = fopen(path, "w");
	fputs("abc123\n", f);
	fclose(f);
	CHECK(api_token_load(path, tok, sizeof tok, err, sizeof err) == 0);
	SAME(tok, "abc123");
	f = fopen(path, "w");
	fputs("\n", f);
	fclose(f);
	CHECK(api_token_load(path, tok, sizeof tok, err, sizeof err) == MB_EINVAL);
	CHECK(api_token_load("/nonexistent/x", tok, sizeof tok, err, sizeof err) == MB_ESYS);
}

MB_TEST(gzip_accept_and_roundtrip_header)
{
	CHECK(api_accepts_gzip("gzip"));
	CHECK(api_accepts_gzip("deflate, gzip;q=1.0, *;q=0.5"));
	CHECK(api_accepts_gzip("*"));
	CHECK(!api_accepts_gzip("gzip;q=0"));
	CHECK(!api_accepts_gzip("identity"));
	CHECK(!api_accepts_gzip(NULL));
	CHECK(!api_accepts_gzip("xgzip"));
	struct mb_buf z = {0};
	const char *text = "hello hello hello hello hello";
	CHECK(api_gzip(text, strlen(text), &z) == 0);
	CHECK(z.len > 10 && z.data[0] == 0x1f && z.data[1] == 0x8b);
	mb_buf_free(&z);
}

/* The exact reference: the first of %.15g, %.16g, %.17g that reads back. */
static void slow_fmt(double v, char *buf, size_t n)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static uint64_t rng_state = MBT_SEED;
static uint64_t rng(void)
{
	return mbt_rand(&rng_state);
}

MB_TEST(json_numbers_fast_path_matches_the_exact_one)
{
	char fast[40], slow[40];
	int differ = 0, bad = 0;
	for (int i = 0; i < 300000; i++) {
		double v;
		switch (i % 5) {
		case 0: /* any bit pattern */
			do {
				uint64_t u = rng();
				memcpy(&v, &u, sizeof v);
			} while (!isfinite(v));
			break;
		case 1: /* metric-like magnitudes */
			v = (double)(rng() >> 11) / 9007199254740992.0 * pow(10, (int)(rng() % 24) - 8);
			break;
		case 2: /* short decimals */
			v = (double)(int64_t)(rng() % 2000001 - 1000000) / pow(10, (int)(rng() % 8));
			break;
		case 3: /* sketch-like: gamma powers */
			v = pow(1.01 / 0.99, (int)(rng() % 2000) - 1000);
			break;
		default: /* few decimals up to and past the 1e11 of the short-decimal path */
			v = (double)(int64_t)(rng() % 10000000000000000ull) / pow(10, (int)(rng() % 6)) /
			    (rng() % 2 ? 1 : -1000000);
			break;
		}
		if (v == 0 || v == floor(v))
			continue;
		api_fmt_double(v, fast, sizeof fast);
		slow_fmt(v, slow, sizeof slow);
		if (strtod(fast, NULL) != v || strlen(fast) > strlen(slow)) {
			if (bad++ < 5)
				fprintf(stderr, "  %.17g: fast %s slow %s\n", v, fast, slow);
		}
		if (strcmp(fast, slow) != 0 && differ++ < 8)
			fprintf(stderr, "  differ %.17g: fast %s slow %s\n", v, fast, slow);
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(differ, 0);
}
