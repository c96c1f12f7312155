/* codec_test.c: round trips of every schemas/v1 message, exact record sizes, strictness on
 * hand-made bad messages, and the malformed corpus schemas/v1/bad (every file rejected). */
#include "codec.h"
#include "../tests/unit/mbtest.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct mb_kv tags2[] = {{"env", "prod"}, {"zone", "eu-1"}};
static struct mb_kv dims2[] = {{"task_name", "web"}, {"framework_name", "marathon"}};

static void fill_timer(struct mb_record *r)
{
	memset(r, 0, sizeof *r);
	r->kind = MB_TIMER;
	r->name = "resp.latency";
	r->ntags = 2;
	r->tags = tags2;
	double v[] = {1.5, 2.5, 10, 0, -3};
	r->min = 1e9;
	r->max = -1e9;
	for (int i = 0; i < 5; i++) {
		CHECK_EQ_INT(mb_sketch_add(&r->sketch, v[i], 1), 0);
		r->count += 1;
		r->sum += v[i];
		r->sumsq += v[i] * v[i];
		r->min = fmin(r->min, v[i]);
		r->max = fmax(r->max, v[i]);
	}
}

static bool sketch_eq(const struct mb_sketch *a, const struct mb_sketch *b)
{
	if (a->zero != b->zero || mb_sketch_count(a) != mb_sketch_count(b))
		return false;
	for (int32_t i = MB_SKETCH_MIN_INDEX; i <= MB_SKETCH_MAX_INDEX; i++) {
		uint64_t x = 0, y = 0;
		if (i >= a->pos_lo && i < a->pos_lo + (int32_t)a->pos_n)
			x = a->pos[i - a->pos_lo];
		if (i >= b->pos_lo && i < b->pos_lo + (int32_t)b->pos_n)
			y = b->pos[i - b->pos_lo];
		if (x != y)
			return false;
		x = y = 0;
		if (i >= a->neg_lo && i < a->neg_lo + (int32_t)a->neg_n)
			x = a->neg[i - a->neg_lo];
		if (i >= b->neg_lo && i < b->neg_lo + (int32_t)b->neg_n)
			y = b->neg[i - b->neg_lo];
		if (x != y)
			return false;
	}
	return true;
}

MB_TEST(batch_round_trip)
{
	struct mb_record recs[5];
	struct mb_hll h;
	memset(recs, 0, sizeof recs);
	memset(&h, 0, sizeof h);
	for (int i = 0; i < 100; i++)
		mb_hll_add_hash(&h, (uint64_t)i * 0x9E3779B97F4A7C15ull);
	recs[0] = (struct mb_record){.kind = MB_COUNTER, .name = "req.count", .value = 42.5};
	recs[1] = (struct mb_record){.kind = MB_GAUGE, .name = "queue", .ntags = 2, .tags = tags2,
	                             .value = -7};
	recs[2] = (struct mb_record){.kind = MB_SET, .name = "users", .set_count = 100, .hll = &h};
	fill_timer(&recs[3]);
	recs[4] = (struct mb_record){.kind = MB_RESOURCE, .name = "mem.rss", .value = 1e9};
	struct mb_batch b = {.instance = 77, .seq = 3, .time_ms = 1700000000000, .interval_ms = 10000,
	                     .container_id = "c-1", .ndims = 2, .dims = dims2, .nrecords = 5,
	                     .records = recs, .stopped = true};
	struct mb_buf buf = {0};
	CHECK_EQ_INT(mb_batch_encode(&b, &buf), 0);
	struct mb_batch d;
	char err[256];
	CHECK_EQ_INT(mb_batch_decode(buf.data, buf.len, &d, err, sizeof err), 0);
	CHECK_EQ_INT(d.version, 1);
	CHECK_EQ_INT(d.instance, 77);
	CHECK_EQ_INT(d.seq, 3);
	CHECK_EQ_INT(d.time_ms, 1700000000000);
	CHECK_EQ_INT(d.interval_ms, 10000);
	CHECK_STR(d.container_id, "c-1");
	CHECK_EQ_INT(d.ndims, 2);
	CHECK_STR(d.dims[1].key, "framework_name");
	CHECK_STR(d.dims[1].val, "marathon");
	CHECK(d.stopped);
	CHECK_EQ_INT(d.nrecords, 5);
	if (d.nrecords == 5) {
		CHECK_EQ_INT(d.records[0].kind, MB_COUNTER);
		CHECK_STR(d.records[0].name, "req.count");
		CHECK(d.records[0].value == 42.5);
		CHECK_EQ_INT(d.records[1].ntags, 2);
		CHECK_STR(d.records[1].tags[0].key, "env");
		CHECK_STR(d.records[1].tags[1].val, "eu-1");
		CHECK(d.records[1].value == -7);
		CHECK_EQ_INT(d.records[2].set_count, 100);
		CHECK(memcmp(d.records[2].hll, &h, sizeof h) == 0);
		CHECK(d.records[3].count == 5 && d.records[3].sum == recs[3].sum);
		CHECK(d.records[3].min == -3 && d.records[3].max == 10);
		CHECK(sketch_eq(&d.records[3].sketch, &recs[3].sketch));
		CHECK_EQ_INT(d.records[4].kind, MB_RESOURCE);
	}
	/* re-encoding the decoded batch gives the same bytes */
	struct mb_buf buf2 = {0};
	CHECK_EQ_INT(mb_batch_encode(&d, &buf2), 0);
	CHECK(buf2.len == buf.len && memcmp(buf.data, buf2.data, buf.len) == 0);
	mb_batch_free(&d);
	mb_buf_free(&buf);
	mb_buf_free(&buf2);
	mb_sketch_free(&recs[3].sketch);
}

MB_TEST(record_size_is_exact)
{
	struct mb_hll h;
	memset(&h, 0, sizeof h);
	char longname[256];
	memset(longname, 'n', 255);
	longname[255] = 0;
	struct mb_buf b0 = {0}, b1 = {0};
	for (int round = 0; round < 400; round++) {
		struct mb_record r;
		memset(&r, 0, sizeof r);
		int kind = round % MB_NKINDS;
		r.kind = (uint8_t)kind;
		r.name = round % 3 == 0 ? longname : round % 3 == 1 ? "a" : longname + 220;
		r.ntags = (uint16_t)(round % 3);
		r.tags = tags2;
		r.value = round * 1.5;
		if (kind == MB_SET) {
			for (int i = 0; i < round * 7; i++)
				mb_hll_add_hash(&h, (uint64_t)(i + round * 1000) * 0x9E3779B97F4A7C15ull);
			r.set_count = (uint64_t)round * 1000;
			r.hll = round % 2 ? &h : NULL;
		} else if (mb_kind_is_timer(kind)) {
			for (int i = 0; i < round; i++)
				mb_sketch_add(&r.sketch, (i % 2 ? -1 : 1) * pow(1.3, i % 90), (uint64_t)i * 1000);
			r.count = round;
			r.min = -1;
			r.max = 1;
		}
		struct mb_batch b = {.instance = 1, .seq = 1, .time_ms = 1, .interval_ms = 1,
		                     .container_id = "c", .records = &r};
		mb_buf_reset(&b0);
		mb_buf_reset(&b1);
		CHECK_EQ_INT(mb_batch_encode(&b, &b0), 0);
		b.nrecords = 1;
		CHECK_EQ_INT(mb_batch_encode(&b, &b1), 0);
		CHECK_EQ_INT(b1.len - b0.len, mb_record_size(&r));
		mb_sketch_free(&r.sketch);
	}
	mb_buf_free(&b0);
	mb_buf_free(&b1);
}

MB_TEST(ack_round_trip)
{
	for (uint32_t st = 0; st <= MB_ACK_RETRY; st++) {
		struct mb_ack a = {.seq = 1000 + st, .status = st}, d;
		if (st == MB_ACK_REJECTED)
			strcpy(a.err, "recs[3].name: empty");
		struct mb_buf b = {0};
		char err[256];
		CHECK_EQ_INT(mb_ack_encode(&a, &b), 0);
		CHECK_EQ_INT(mb_ack_decode(b.data, b.len, &d, err, sizeof err), 0);
		CHECK_EQ_INT(d.seq, a.seq);
		CHECK_EQ_INT(d.status, st);
		CHECK_STR(d.err, a.err);
		mb_buf_free(&b);
	}
}

static void query_rt(const struct mb_query *q)
{
	struct mb_buf b = {0};
	struct mb_query d;
	char err[256];
	CHECK_EQ_INT(mb_query_encode(q, &b), 0);
	int rv = mb_query_decode(b.data, b.len, &d, err, sizeof err);
	CHECK_EQ_INT(rv, 0);
	if (rv) {
		fprintf(stderr, "  %s: %s\n", mb_op_name(q->op), err);
		mb_buf_free(&b);
		return;
	}
	CHECK_EQ_INT(d.op, q->op);
	CHECK_EQ_INT(d.version, 1);
	if (q->source)
		CHECK_STR(d.source, q->source);
	if (q->name)
		CHECK_STR(d.name, q->name);
	if (q->op == MB_OP_RANGE) {
		CHECK_EQ_INT(d.from_ms, q->from_ms);
		CHECK_EQ_INT(d.to_ms, q->to_ms);
		CHECK_EQ_INT(d.step_ms, q->step_ms);
		CHECK_EQ_INT(d.stat, q->stat);
		CHECK_EQ_INT(d.ntags, q->ntags);
	}
	CHECK_EQ_INT(d.hist, q->hist);
	if (q->dir)
		CHECK_STR(d.dir, q->dir);
	struct mb_buf b2 = {0};
	CHECK_EQ_INT(mb_query_encode(&d, &b2), 0);
	CHECK(b2.len == b.len && memcmp(b.data, b2.data, b.len) == 0);
	mb_query_free(&d);
	mb_buf_free(&b);
	mb_buf_free(&b2);
}

MB_TEST(query_round_trip)
{
	query_rt(&(struct mb_query){.op = MB_OP_PING});
	query_rt(&(struct mb_query){.op = MB_OP_NODE});
	query_rt(&(struct mb_query){.op = MB_OP_CONTAINERS});
	query_rt(&(struct mb_query){.op = MB_OP_CONTAINER, .source = "c-1"});
	query_rt(&(struct mb_query){.op = MB_OP_APP, .source = "c-1"});
	query_rt(&(struct mb_query){.op = MB_OP_APP, .source = "c-1", .name = "req.count"});
	query_rt(&(struct mb_query){.op = MB_OP_RANGE, .source = "node", .name = "cpu.total",
	                            .from_ms = -5, .to_ms = 1700000000000, .step_ms = 60000,
	                            .stat = MB_STAT_P999, .ntags = 2, .tags = tags2});
	query_rt(&(struct mb_query){.op = MB_OP_SERIES, .source = "agentd"});
	query_rt(&(struct mb_query){.op = MB_OP_EXPORT});
	query_rt(&(struct mb_query){.op = MB_OP_EXPORT, .hist = true});
	query_rt(&(struct mb_query){.op = MB_OP_BACKUP, .dir = "/var/backups/mb"});
}

static void reply_rt(const struct mb_reply *r)
{
	struct mb_buf b = {0}, b2 = {0};
	struct mb_reply d;
	char err[256];
	CHECK_EQ_INT(mb_reply_encode(r, &b), 0);
	int rv = mb_reply_decode(b.data, b.len, r->op, &d, err, sizeof err);
	CHECK_EQ_INT(rv, 0);
	if (rv) {
		fprintf(stderr, "  %s: %s\n", mb_op_name(r->op), err);
		mb_buf_free(&b);
		return;
	}
	CHECK_EQ_INT(d.status, r->status);
	CHECK_EQ_INT(mb_reply_encode(&d, &b2), 0);
	CHECK(b2.len == b.len && memcmp(b.data, b2.data, b.len) == 0);
	mb_reply_free(&d);
	mb_buf_free(&b);
	mb_buf_free(&b2);
}

MB_TEST(reply_round_trip)
{
	struct mb_point pts[2] = {
		{.name = "cpu.total", .value = 12.5, .unit = "percent", .time_ms = 1000},
		{.name = "filesystem.capacity.used", .value = 1e12, .unit = "bytes", .time_ms = 2000,
		 .ntags = 1, .tags = (struct mb_kv[]){{"path", "/"}}},
	};
	const char *ids[] = {"c-1", "c-2"};
	int64_t rt[3] = {10, 20, 30};
	double rvv[3] = {1, NAN, 3};
	struct mb_series_info si[1] = {{.name = "x", .kind = MB_TIMER, .last_ms = 5}};
	struct mb_sketch sk = {0};
	mb_sketch_add(&sk, 3.5, 2);
	struct mb_source_dims srcs[1] = {{.source = "c-1", .ndims = 2, .dims = dims2}};
	struct mb_export_item items[2] = {
		{.src = 0, .name = "t", .kind = MB_TIMER, .unit = "", .has_q = true,
		 .q = {1, 2, 3, 4, 5}, .running = &sk},
		{.src = 0, .name = "c", .kind = MB_COUNTER, .unit = "", .total = 99},
	};
	reply_rt(&(struct mb_reply){.op = MB_OP_PING, .status = 200, .time_ms = 5, .node = "n1"});
	reply_rt(&(struct mb_reply){.op = MB_OP_PING, .status = 200, .time_ms = 5, .node = "n1",
	                            .nids = 2, .ids = (const char *[]){"n1", "a-S1"}});
	{
		/* one id is said by node alone; more than MB_MAX_NODE_IDS is refused */
		struct mb_buf b = {0};
		const char *nine[9] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
		struct mb_reply one = {.op = MB_OP_PING, .status = 200, .node = "n1", .nids = 1,
		                       .ids = nine};
		CHECK_EQ_INT(mb_reply_encode(&one, &b), MB_EINVAL);
		one.nids = 9;
		CHECK_EQ_INT(mb_reply_encode(&one, &b), MB_EINVAL);
		CHECK_EQ_INT((int)b.len, 0);
		mb_buf_free(&b);
	}
	reply_rt(&(struct mb_reply){.op = MB_OP_NODE, .status = 200, .ndims = 2, .dims = dims2,
	                            .npoints = 2, .points = pts});
	reply_rt(&(struct mb_reply){.op = MB_OP_CONTAINERS, .status = 200, .nids = 2, .ids = ids});
	reply_rt(&(struct mb_reply){.op = MB_OP_CONTAINER, .status = 200, .npoints = 1,
	                            .points = pts});
	reply_rt(&(struct mb_reply){.op = MB_OP_APP, .status = 204});
	reply_rt(&(struct mb_reply){.op = MB_OP_APP, .status = 404, .error = "unknown container"});
	reply_rt(&(struct mb_reply){.op = MB_OP_RANGE, .status = 200, .name = "x", .source = "node",
	                            .step_ms = 10000, .stat = MB_STAT_MEAN, .nrange = 3,
	                            .range_t = rt, .range_v = rvv});
	reply_rt(&(struct mb_reply){.op = MB_OP_SERIES, .status = 200, .nseries = 1, .series = si});
	reply_rt(&(struct mb_reply){.op = MB_OP_EXPORT, .status = 200, .nsrcs = 1, .srcs = srcs,
	                            .nitems = 2, .items = items});
	reply_rt(&(struct mb_reply){.op = MB_OP_BACKUP, .status = 200, .path = "/b/x", .bytes = 7});
	mb_sketch_free(&sk);
}

/* ------------------------------------------------------------------ the malformed corpus */
#define BADDIR "schemas/v1/bad"

static int bad_decode(const char *name, const void *p, size_t n, char *err, size_t errlen)
{
	if (strncmp(name, "batch-", 6) == 0) {
		struct mb_batch b;
		int rv = mb_batch_decode(p, n, &b, err, errlen);
		if (rv == 0)
			mb_batch_free(&b);
		return rv;
	}
	if (strncmp(name, "ack-", 4) == 0) {
		struct mb_ack a;
		return mb_ack_decode(p, n, &a, err, errlen);
	}
	if (strncmp(name, "query-", 6) == 0) {
		struct mb_query q;
		int rv = mb_query_decode(p, n, &q, err, errlen);
		if (rv == 0)
			mb_query_free(&q);
		return rv;
	}
	if (strncmp(name, "reply-", 6) == 0) {
		const char *op = name + 6, *dash = strchr(op, '-');
		size_t oplen = dash ? (size_t)(dash - op) : strlen(op);
		for (int i = 0; i <= MB_OP_BACKUP; i++) {
			if (strlen(mb_op_name(i)) == oplen && strncmp(op, mb_op_name(i), oplen) == 0) {
				struct mb_reply r;
				int rv = mb_reply_decode(p, n, i, &r, err, errlen);
				if (rv == 0)
					mb_reply_free(&r);
				return rv;
			}
		}
	}
	snprintf(err, errlen, "no decoder for this file name");
	return -1;
}

static int read_all(const char *path, struct mb_buf *b)
{
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (mb_buf_append(b, chunk, n) != 0)
			break;
	fclose(f);
	return 0;
}

MB_TEST(bad_corpus_rejected_with_reason)
{
	FILE *f = fopen(BADDIR "/reasons.txt", "r");
	char line[512];
	int nfiles = 0, listed = 0;
	CHECK(f != NULL);
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
		if (!tab)
			continue;
		*tab = 0;
		if (nl)
			*nl = 0;
		const char *want = tab + 1;
		char path[600], err[MB_MAX_ERR];
		struct mb_buf b = {0};
		snprintf(path, sizeof path, BADDIR "/%s.msgpack", line);
		CHECK_EQ_INT(read_all(path, &b), 0);
		listed++;
		err[0] = 0;
		int rv = bad_decode(line, b.data, b.len, err, sizeof err);
		if (rv == 0 || !err[0] || !strstr(err, want) ||
		    (strncmp(want, "v: version", 10) == 0) != (rv == MB_EVERSION)) {
			fprintf(stderr, "  %s: rv %d, reason \"%s\", want \"%s\"\n", line, rv, err, want);
			CHECK(0);
		}
		mb_buf_free(&b);
	}
	fclose(f);
	DIR *d = opendir(BADDIR);
	CHECK(d != NULL);
	for (struct dirent *e; d && (e = readdir(d));)
		nfiles += strstr(e->d_name, ".msgpack") != NULL;
	if (d)
		closedir(d);
	CHECK_EQ_INT(nfiles, listed); /* every file has its expected reason */
	CHECK(listed > 100);
}

MB_TEST(batch_version_error_keeps_seq)
{
	/* agentd answers a batch of a newer version with its seq */
	struct mb_buf b = {0};
	struct mb_batch in = {.version = 2, .instance = 9, .seq = 77, .time_ms = 1,
	                      .interval_ms = 1, .container_id = "c"};
	CHECK_EQ_INT(mb_batch_encode(&in, &b), 0);
	struct mb_batch d;
	char err[128];
	CHECK_EQ_INT(mb_batch_decode(b.data, b.len, &d, err, sizeof err), MB_EVERSION);
	CHECK_EQ_INT(d.version, 2);
	CHECK_EQ_INT(d.seq, 77);
	CHECK_EQ_INT(d.instance, 9);
	CHECK(d.records == NULL && d.arena.head == NULL);
	mb_buf_free(&b);
}

MB_TEST(oversized_messages_rejected)
{
	size_t n = MB_MAX_MSG + 1;
	uint8_t *p = calloc(1, n);
	char err[128];
	struct mb_batch b;
	struct mb_query q;
	struct mb_ack a;
	CHECK_EQ_INT(mb_batch_decode(p, n, &b, err, sizeof err), MB_ETOOBIG);
	CHECK(strstr(err, "too big") != NULL);
	CHECK_EQ_INT(mb_query_decode(p, n, &q, err, sizeof err), MB_ETOOBIG);
	CHECK_EQ_INT(mb_ack_decode(p, n, &a, err, sizeof err), MB_ETOOBIG);
	CHECK_EQ_INT(mb_batch_decode(NULL, 0, &b, err, sizeof err), MB_EINVAL);
	free(p);
	/* an encoder refuses to make a batch over the limit */
	struct mb_record *r = calloc(20000, sizeof *r);
	static char longname[256];
	memset(longname, 'x', 255);
	for (int i = 0; i < 20000; i++)
		r[i] = (struct mb_record){.kind = MB_GAUGE, .name = longname, .value = i};
	struct mb_batch big = {.instance = 1, .seq = 1, .time_ms = 1, .interval_ms = 1,
	                       .container_id = "c", .nrecords = 20000, .records = r};
	struct mb_buf out = {0};
	CHECK_EQ_INT(mb_batch_encode(&big, &out), MB_ETOOBIG);
	CHECK_EQ_INT(out.len, 0);
	mb_buf_free(&out);
	free(r);
}

MB_TEST(encoders_refuse_what_decoders_refuse)
{
	struct mb_buf out = {0};
	struct mb_kv unsorted[] = {{"b", "1"}, {"a", "2"}};
	struct mb_record r = {.kind = MB_COUNTER, .name = "x", .value = NAN};
	struct mb_batch b = {.instance = 1, .seq = 1, .time_ms = 1, .interval_ms = 1,
	                     .container_id = "c", .nrecords = 1, .records = &r};
	CHECK_EQ_INT(mb_batch_encode(&b, &out), MB_EINVAL);
	r.value = 1;
	r.name = "";
	CHECK_EQ_INT(mb_batch_encode(&b, &out), MB_EINVAL);
	r.name = "x";
	r.ntags = 2;
	r.tags = unsorted;
	CHECK_EQ_INT(mb_batch_encode(&b, &out), MB_EINVAL);
	r.ntags = 0;
	b.seq = 0;
	CHECK_EQ_INT(mb_batch_encode(&b, &out), MB_EINVAL);
	b.seq = 1;
	b.container_id = "has space";
	CHECK_EQ_INT(mb_batch_encode(&b, &out), MB_EINVAL);
	CHECK_EQ_INT(out.len, 0);
	struct mb_query q = {.op = MB_OP_BACKUP, .dir = "relative"};
	CHECK_EQ_INT(mb_query_encode(&q, &out), MB_EINVAL);
	struct mb_reply rp = {.op = MB_OP_APP, .status = 404};
	CHECK_EQ_INT(mb_reply_encode(&rp, &out), MB_EINVAL); /* 404 needs err */
	rp.status = 302;
	CHECK_EQ_INT(mb_reply_encode(&rp, &out), MB_EINVAL);
	struct mb_ack a = {.seq = 1, .status = 9};
	CHECK_EQ_INT(mb_ack_encode(&a, &out), MB_EINVAL);
	CHECK_EQ_INT(out.len, 0);
	/* a failed encode leaves what was in the buffer before */
	CHECK_EQ_INT(mb_buf_append(&out, "ab", 2), 0);
	CHECK_EQ_INT(mb_batch_encode(&b, &out), MB_EINVAL);
	CHECK_EQ_INT(out.len, 2);
	mb_buf_free(&out);
}

MB_TEST(every_truncation_of_every_example_is_rejected)
{
	DIR *d = opendir("schemas/v1/examples");
	CHECK(d != NULL);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		char *dot = strstr(e->d_name, ".msgpack");
		if (!dot)
			continue;
		char path[600], name[256], err[MB_MAX_ERR];
		snprintf(path, sizeof path, "schemas/v1/examples/%s", e->d_name);
		snprintf(name, sizeof name, "%.*s", (int)(dot - e->d_name), e->d_name);
		struct mb_buf b = {0};
		CHECK_EQ_INT(read_all(path, &b), 0);
		CHECK_EQ_INT(bad_decode(name, b.data, b.len, err, sizeof err), 0);
		for (size_t k = 0; k < b.len; k++) {
			err[0] = 0;
			if (bad_decode(name, b.data, k, err, sizeof err) == 0 || !err[0]) {
				fprintf(stderr, "  %s cut at %zu accepted\n", name, k);
				CHECK(0);
				break;
			}
		}
		n++;
		mb_buf_free(&b);
	}
	if (d)
		closedir(d);
	CHECK(n > 20);
}

MB_TEST(decoded_size_budget_is_exact)
{
	struct mb_record r = {.kind = MB_TIMER, .name = "t", .count = 4, .min = -1, .max = 1};
	CHECK_EQ_INT(mb_sketch_add(&r.sketch, 1e-8, 1), 0);
	CHECK_EQ_INT(mb_sketch_add(&r.sketch, 1e18, 1), 0);
	CHECK_EQ_INT(mb_sketch_add(&r.sketch, -1e-8, 1), 0);
	CHECK_EQ_INT(mb_sketch_add(&r.sketch, -1e18, 1), 0);
	size_t one = mb_record_decoded_size(&r);
	CHECK_EQ_INT(one, 8 * 2 * (mb_sketch_index(1e18) - mb_sketch_index(1e-8) + 1));
	struct mb_record set = {.kind = MB_SET, .name = "s"};
	CHECK_EQ_INT(mb_record_decoded_size(&set), sizeof(struct mb_hll));
	struct mb_record g = {.kind = MB_GAUGE, .name = "g"};
	CHECK_EQ_INT(mb_record_decoded_size(&g), 0);

	uint32_t fit = (uint32_t)(MB_MAX_DECODED / one);
	struct mb_record *recs = calloc(fit + 1, sizeof *recs);
	for (uint32_t i = 0; i <= fit; i++)
		recs[i] = r;
	struct mb_batch b = {.instance = 1, .seq = 1, .time_ms = 1, .interval_ms = 1,
	                     .container_id = "c", .nrecords = fit, .records = recs};
	struct mb_buf buf = {0};
	struct mb_batch d;
	char err[256];
	CHECK_EQ_INT(mb_batch_encode(&b, &buf), 0);
	CHECK_EQ_INT(mb_batch_decode(buf.data, buf.len, &d, err, sizeof err), 0);
	mb_batch_free(&d);
	mb_buf_reset(&buf);
	b.nrecords = fit + 1;
	CHECK_EQ_INT(mb_batch_encode(&b, &buf), 0);
	CHECK(mb_batch_decode(buf.data, buf.len, &d, err, sizeof err) != 0);
	CHECK(strstr(err, "too large for one message") != NULL);
	mb_buf_free(&buf);
	free(recs);
	mb_sketch_free(&r.sketch);
}

MB_TEST(decoded_strings_are_terminated_copies)
{
	/* msgpack-c strings point into the input, unterminated (msgpack-c 4.0.0) */
	struct mb_kv t[] = {{"k", "v"}};
	struct mb_record r = {.kind = MB_GAUGE, .name = "abc", .ntags = 1, .tags = t, .value = 1};
	struct mb_batch in = {.instance = 1, .seq = 1, .time_ms = 1, .interval_ms = 1,
	                      .container_id = "c1", .nrecords = 1, .records = &r};
	struct mb_buf b = {0};
	struct mb_batch d;
	char err[128];
	CHECK_EQ_INT(mb_batch_encode(&in, &b), 0);
	CHECK_EQ_INT(mb_batch_decode(b.data, b.len, &d, err, sizeof err), 0);
	memset(b.data, 'X', b.len); /* the decoded batch must not depend on the input */
	mb_buf_free(&b);
	CHECK_STR(d.container_id, "c1");
	CHECK_STR(d.records[0].name, "abc");
	CHECK_STR(d.records[0].tags[0].key, "k");
	CHECK_STR(d.records[0].tags[0].val, "v");
	mb_batch_free(&d);
}
