/* store_test.c: unit tests of the store on real LMDB in a temp dir: commit semantics, levels,
 * queries, restart, limits, MAP_FULL, faults, concurrent readers, backup. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../tests/unit/mbtest.h"
#include "store_int.h"

#define T0 1700000000000LL /* a multiple of 10 s */

static struct agent_store *open_store(const char *sub, const char *ret, uint64_t max_size,
                                      char *err)
{
	static char dir[4][512];
	static int k;
	char *d = dir[k++ % 4];
	snprintf(d, 512, "%s/%s", mbt_tmpdir(), sub);
	struct agent_store_opts o = {0};
	o.dir = d;
	o.retention = ret ? ret : MB_DEFAULT_RETENTION;
	char perr[128];
	if (mb_parse_retention(o.retention, o.levels, &o.nlevels, perr, sizeof perr) != 0)
		return NULL;
	o.max_size = max_size ? max_size : (1ull << 30);
	o.max_series_per_source = 10000;
	o.hostname = "host1";
	o.node_id = "agent-1";
	o.live_ms = 300000;
	struct agent_store *s = NULL;
	char e[512];
	if (agent_store_open(&o, &s, err ? err : e, 512) != 0)
		return NULL;
	return s;
}

/* A batch with up to 64 records, built in place. */
struct tb {
	struct mb_batch b;
	struct mb_record r[64];
	struct mb_kv tags[64][2];
	struct mb_kv dims[4];
	char names[64][32];
	struct mb_hll hll[4];
};

static void tb_init(struct tb *t, const char *cid, uint64_t inst, uint64_t seq, int64_t tm)
{
	memset(t, 0, sizeof *t);
	t->b.version = 1;
	t->b.instance = inst;
	t->b.seq = seq;
	t->b.time_ms = tm;
	t->b.interval_ms = 10000;
	t->b.container_id = cid;
	t->b.records = t->r;
}

static struct mb_record *tb_add(struct tb *t, int kind, const char *name, double v)
{
	struct mb_record *r = &t->r[t->b.nrecords];
	snprintf(t->names[t->b.nrecords], 32, "%s", name);
	t->b.nrecords++;
	r->kind = (uint8_t)kind;
	r->name = t->names[t->b.nrecords - 1];
	r->value = v;
	return r;
}

static void tb_tag(struct tb *t, struct mb_record *r, const char *k, const char *v)
{
	int i = (int)(r - t->r);
	t->tags[i][r->ntags].key = k;
	t->tags[i][r->ntags].val = v;
	r->ntags++;
	r->tags = t->tags[i];
}

static void tb_timer(struct mb_record *r, const double *vals, int n)
{
	r->count = n;
	r->min = INFINITY;
	r->max = -INFINITY;
	for (int i = 0; i < n; i++) {
		r->sum += vals[i];
		r->sumsq += vals[i] * vals[i];
		r->min = fmin(r->min, vals[i]);
		r->max = fmax(r->max, vals[i]);
		mb_sketch_add(&r->sketch, vals[i], 1);
	}
}

static void tb_free(struct tb *t)
{
	for (uint32_t i = 0; i < t->b.nrecords; i++)
		mb_sketch_free(&t->r[i].sketch);
}

static uint32_t commit1(struct agent_store *s, struct tb *t)
{
	struct mb_batch *bp = &t->b;
	uint32_t st = 99;
	char errs[1][MB_MAX_ERR + 1];
	if (agent_store_commit(s, &bp, 1, &st, errs) != 0)
		return 100;
	return st;
}

static struct mb_reply query(struct agent_store *s, int op, const char *src, const char *name)
{
	struct mb_query q = {0};
	q.version = 1;
	q.op = op;
	q.source = src;
	q.name = name;
	struct mb_reply r = {0};
	agent_store_query(s, &q, &r);
	return r;
}

static struct mb_reply range(struct agent_store *s, const char *src, const char *name,
                             int64_t from, int64_t to, int64_t step, int stat)
{
	struct mb_query q = {0};
	q.version = 1;
	q.op = MB_OP_RANGE;
	q.source = src;
	q.name = name;
	q.from_ms = from;
	q.to_ms = to;
	q.step_ms = step;
	q.stat = stat;
	struct mb_reply r = {0};
	agent_store_query(s, &q, &r);
	return r;
}

static double range_total(const struct mb_reply *r)
{
	double t = 0;
	for (uint32_t i = 0; i < r->nrange; i++)
		if (!isnan(r->range_v[i]))
			t += r->range_v[i];
	return t;
}

static const struct mb_point *find_pt(const struct mb_reply *r, const char *name)
{
	for (uint32_t i = 0; i < r->npoints; i++)
		if (!strcmp(r->points[i].name, name))
			return &r->points[i];
	return NULL;
}

MB_TEST(store_counter_totals_across_levels)
{
	agent_store_test_now_ms = T0 + 10 * 3600000LL;
	struct agent_store *s = open_store("a", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	/* 10 hours of 10 s intervals, counter value i % 7 + 1. */
	double total = 0, last6h = 0;
	int n = 3600;
	for (int i = 0; i < n; i++) {
		struct tb t;
		int64_t tm = T0 + (int64_t)(i + 1) * 10000;
		tb_init(&t, "c1", 42, (uint64_t)i + 1, tm);
		tb_add(&t, MB_COUNTER, "req", i % 7 + 1);
		CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
		total += i % 7 + 1;
		if (tm > agent_store_test_now_ms - 6 * 3600000LL + 600000)
			last6h += i % 7 + 1;
	}
	/* Whole span: older than 6h, so from the 1m level. */
	struct mb_reply r = range(s, "c1", "req", T0, T0 + 10 * 3600000LL, 0, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.step_ms % 60000, 0);
	CHECK_NEAR(range_total(&r), total, 1e-6);
	mb_reply_free(&r);
	/* The same with 1h steps from the 1h level's point of view (step picks 1m level). */
	r = range(s, "c1", "req", T0, T0 + 10 * 3600000LL, 3600000, MB_STAT_COUNT);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.step_ms, 3600000);
	CHECK_NEAR(range_total(&r), total, 1e-6);
	mb_reply_free(&r);
	/* Recent span from the finest level, 10 s step. */
	int64_t from = agent_store_test_now_ms - 6 * 3600000LL + 600000;
	r = range(s, "c1", "req", from, agent_store_test_now_ms, 10000, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.step_ms, 10000);
	CHECK_NEAR(range_total(&r), last6h, 1e-6);
	mb_reply_free(&r);
	/* Export: the running total. */
	struct mb_query q = {.version = 1, .op = MB_OP_EXPORT};
	struct mb_reply e = {0};
	agent_store_query(s, &q, &e);
	CHECK_EQ_INT(e.status, 200);
	CHECK_EQ_INT(e.nitems, 1);
	if (e.nitems == 1) {
		CHECK_NEAR(e.items[0].total, total, 1e-6);
		CHECK_STR(e.srcs[e.items[0].src].source, "c1");
	}
	mb_reply_free(&e);
	agent_store_close(s);
	/* Restart: totals and data intact. */
	s = open_store("a", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	agent_store_query(s, &q, &e);
	CHECK_EQ_INT(e.nitems, 1);
	if (e.nitems == 1)
		CHECK_NEAR(e.items[0].total, total, 1e-6);
	mb_reply_free(&e);
	r = range(s, "c1", "req", T0, T0 + 10 * 3600000LL, 0, MB_STAT_SUM);
	CHECK_NEAR(range_total(&r), total, 1e-6);
	mb_reply_free(&r);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

MB_TEST(store_dup_seq_dropped)
{
	agent_store_test_now_ms = T0 + 60000;
	struct agent_store *s = open_store("d", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	struct tb t;
	tb_init(&t, "c1", 7, 1, T0 + 10000);
	tb_add(&t, MB_COUNTER, "x", 5);
	CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
	CHECK_EQ_INT(commit1(s, &t), MB_ACK_DUP);
	/* Two batches of one instance in one call: in order, the repeat is a dup. */
	struct tb t2, t3;
	tb_init(&t2, "c1", 7, 2, T0 + 20000);
	tb_add(&t2, MB_COUNTER, "x", 1);
	tb_init(&t3, "c1", 7, 2, T0 + 20000);
	tb_add(&t3, MB_COUNTER, "x", 1);
	struct mb_batch *bs[2] = {&t2.b, &t3.b};
	uint32_t st[2];
	char errs[2][MB_MAX_ERR + 1];
	CHECK_EQ_INT(agent_store_commit(s, bs, 2, st, errs), 0);
	CHECK_EQ_INT(st[0], MB_ACK_OK);
	CHECK_EQ_INT(st[1], MB_ACK_DUP);
	agent_store_close(s);
	s = open_store("d", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_INT(commit1(s, &t2), MB_ACK_DUP);
	struct mb_reply r = range(s, "c1", "x", T0, T0 + 60000, 10000, MB_STAT_SUM);
	CHECK_NEAR(range_total(&r), 6, 1e-9);
	mb_reply_free(&r);
	struct agent_store_stats ss;
	agent_store_stats(s, &ss);
	CHECK_EQ_INT(ss.dup_batches, 1);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

MB_TEST(store_app_containers_node)
{
	int64_t now = T0 + 30000;
	agent_store_test_now_ms = now;
	struct agent_store *s = open_store("q", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	struct tb t;
	tb_init(&t, "web-1", 1, 1, T0 + 20000);
	t.dims[0] = (struct mb_kv){"task_name", "web"};
	t.b.dims = t.dims;
	t.b.ndims = 1;
	tb_add(&t, MB_COUNTER, "hits", 50);
	struct mb_record *g = tb_add(&t, MB_GAUGE, "queue", 3.5);
	tb_tag(&t, g, "q", "a");
	struct mb_record *tm = tb_add(&t, MB_TIMER, "lat", 0);
	double vals[100];
	for (int i = 0; i < 100; i++)
		vals[i] = i + 1;
	tb_timer(tm, vals, 100);
	struct mb_record *st = tb_add(&t, MB_SET, "users", 0);
	st->set_count = 3;
	st->hll = &t.hll[0];
	mb_hll_add(st->hll, "a", 1);
	mb_hll_add(st->hll, "b", 1);
	mb_hll_add(st->hll, "c", 1);
	tb_add(&t, MB_RESOURCE, "mem.rss", 1000);
	CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
	tb_free(&t);
	struct tb n;
	tb_init(&n, "node", 2, 1, T0 + 20000);
	struct mb_record *nr = tb_add(&n, MB_GAUGE, "filesystem.capacity.total", 1e9);
	tb_tag(&n, nr, "path", "/");
	tb_add(&n, MB_GAUGE, "cpu.cores", 2);
	CHECK_EQ_INT(commit1(s, &n), MB_ACK_OK);

	struct mb_reply r = query(s, MB_OP_CONTAINERS, NULL, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.nids, 1);
	if (r.nids == 1)
		CHECK_STR(r.ids[0], "web-1");
	mb_reply_free(&r);

	r = query(s, MB_OP_APP, "web-1", NULL);
	CHECK_EQ_INT(r.status, 200);
	const struct mb_point *p = find_pt(&r, "hits");
	CHECK(p && p->value == 50 && p->time_ms == T0 + 20000);
	p = find_pt(&r, "hits.rate");
	CHECK(p && fabs(p->value - 5) < 1e-9);
	p = find_pt(&r, "queue");
	CHECK(p && p->value == 3.5 && p->ntags == 1);
	p = find_pt(&r, "lat");
	CHECK(p && fabs(p->value - 50.5) < 1e-9);
	p = find_pt(&r, "lat.count");
	CHECK(p && p->value == 100);
	p = find_pt(&r, "lat.p99");
	CHECK(p && fabs(p->value - 99) <= 1);
	p = find_pt(&r, "users");
	CHECK(p && p->value == 3);
	CHECK(find_pt(&r, "mem.rss") == NULL);
	bool cid = false, host = false, task = false;
	for (int i = 0; i < r.ndims; i++) {
		cid |= !strcmp(r.dims[i].key, "container_id") && !strcmp(r.dims[i].val, "web-1");
		host |= !strcmp(r.dims[i].key, "hostname") && !strcmp(r.dims[i].val, "host1");
		task |= !strcmp(r.dims[i].key, "task_name") && !strcmp(r.dims[i].val, "web");
	}
	CHECK(cid && host && task);
	mb_reply_free(&r);

	r = query(s, MB_OP_APP, "web-1", "lat.p50");
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.npoints, 1);
	mb_reply_free(&r);
	r = query(s, MB_OP_APP, "web-1", "nope");
	CHECK_EQ_INT(r.status, 404);
	mb_reply_free(&r);
	r = query(s, MB_OP_APP, "never", NULL);
	CHECK_EQ_INT(r.status, 404);
	mb_reply_free(&r);
	r = query(s, MB_OP_CONTAINER, "web-1", NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.npoints, 1);
	mb_reply_free(&r);
	r = query(s, MB_OP_NODE, NULL, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.npoints, 2);
	p = find_pt(&r, "filesystem.capacity.total");
	CHECK(p && p->value == 1e9 && p->ntags == 1);
	mb_reply_free(&r);
	r = query(s, MB_OP_SERIES, "web-1", NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.nseries, 5);
	mb_reply_free(&r);
	r = query(s, MB_OP_PING, NULL, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_STR(r.node, "agent-1");
	mb_reply_free(&r);

	/* 6 minutes later: no longer live: gone from /containers, 204 on /app. */
	agent_store_test_now_ms = now + 6 * 60000;
	r = query(s, MB_OP_CONTAINERS, NULL, NULL);
	CHECK_EQ_INT(r.nids, 0);
	mb_reply_free(&r);
	r = query(s, MB_OP_APP, "web-1", NULL);
	CHECK_EQ_INT(r.status, 204);
	mb_reply_free(&r);
	/* A stop batch takes it off /containers at once. */
	agent_store_test_now_ms = now;
	struct tb sb;
	tb_init(&sb, "web-1", 1, 2, T0 + 30000);
	sb.b.stopped = true;
	CHECK_EQ_INT(commit1(s, &sb), MB_ACK_OK);
	r = query(s, MB_OP_CONTAINERS, NULL, NULL);
	CHECK_EQ_INT(r.nids, 0);
	mb_reply_free(&r);
	r = query(s, MB_OP_APP, "web-1", NULL);
	CHECK_EQ_INT(r.status, 204);
	mb_reply_free(&r);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

MB_TEST(store_refuses_other_retention_and_newer_format)
{
	char err[512] = "";
	struct agent_store *s = open_store("r", "10s:1h,1m:1d", 0, err);
	CHECK(s != NULL);
	agent_store_close(s);
	s = open_store("r", "10s:2h,1m:1d", 0, err);
	CHECK(s == NULL);
	CHECK(strstr(err, "10s:1h,1m:1d") && strstr(err, "10s:2h,1m:1d") &&
	      strstr(err, "docs/operations.md"));
	/* Same levels, other spelling: accepted. */
	s = open_store("r", "10s:60m,1m:24h", 0, err);
	CHECK(s != NULL);
	/* Bump the format on disk. */
	if (s) {
		MDB_txn *t;
		CHECK_EQ_INT(mdb_txn_begin(s->env, NULL, 0, &t), 0);
		uint8_t fb[4] = {0, 0, 0, AGENT_FORMAT_VERSION + 1};
		MDB_val k = {6, (void *)"format"}, v = {4, fb};
		CHECK_EQ_INT(mdb_put(t, s->db_meta, &k, &v, 0), 0);
		CHECK_EQ_INT(mdb_txn_commit(t), 0);
		agent_store_close(s);
	}
	err[0] = 0;
	s = open_store("r", "10s:1h,1m:1d", 0, err);
	CHECK(s == NULL);
	CHECK(strstr(err, "format 2") && strstr(err, "format 1") && strstr(err, "docs/operations.md"));
}
