/* store_test.c: unit tests of the store on real LMDB in a temp dir: commit semantics, levels,
 * queries, restart, limits, MAP_FULL, faults, concurrent readers, backup. */
/* The fault hooks of env.c, linked into this binary only (agentd.mk). */
#define AGENT_TEST_HOOKS 1
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../tests/unit/mbtest.h"
#include "agentd.h"
#include "read.h"
#include "write.h"

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
	/* The test plays agentd for its own sources. */
	bool own = agent_source_reserved(t->b.container_id);
	if (agent_store_commit(s, &bp, &own, 1, &st, errs) != 0)
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

/* advancing: agentd's clock moves with the batches (coarse levels are rolled up as their
 * slots close); else every batch arrives late, after its coarse slots were final. */
static void counter_totals(bool advancing)
{
	const char *dir = advancing ? "adv" : "late";
	agent_store_test_now_ms = T0 + 10 * 3600000LL;
	if (advancing)
		agent_store_test_now_ms = T0 + 1000;
	struct agent_store *s = open_store(dir, NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	/* 10 hours of 10 s intervals, counter value i % 7 + 1. */
	double total = 0, last6h = 0;
	int n = 3600;
	for (int i = 0; i < n; i++) {
		struct tb t;
		int64_t tm = T0 + (int64_t)(i + 1) * 10000;
		if (advancing)
			agent_store_test_now_ms = tm + 500;
		tb_init(&t, "c1", 42, (uint64_t)i + 1, tm);
		tb_add(&t, MB_COUNTER, "req", i % 7 + 1);
		CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
		total += i % 7 + 1;
		if (tm > T0 + 10 * 3600000LL - 6 * 3600000LL + 600000)
			last6h += i % 7 + 1;
	}
	agent_store_test_now_ms = T0 + 10 * 3600000LL;
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
	s = open_store(dir, NULL, 0, NULL);
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
	/* A late batch for a slot whose coarse slots are final: counted once at every level. */
	struct tb lt;
	tb_init(&lt, "c1", 43, 1, T0 + 5 * 3600000LL + 10000);
	tb_add(&lt, MB_COUNTER, "req", 1000);
	CHECK_EQ_INT(commit1(s, &lt), MB_ACK_OK);
	r = range(s, "c1", "req", T0, T0 + 10 * 3600000LL, 0, MB_STAT_SUM);
	CHECK_NEAR(range_total(&r), total + 1000, 1e-6);
	mb_reply_free(&r);
	r = range(s, "c1", "req", T0, T0 + 10 * 3600000LL, 3600000, MB_STAT_SUM);
	CHECK_NEAR(range_total(&r), total + 1000, 1e-6);
	mb_reply_free(&r);
	r = range(s, "c1", "req", T0 + 5 * 3600000LL, T0 + 5 * 3600000LL + 60000, 10000,
	          MB_STAT_SUM);
	double six = 1000;
	for (int i = 1800; i < 1806; i++)
		six += i % 7 + 1;
	CHECK_NEAR(range_total(&r), six, 1e-6);
	mb_reply_free(&r);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

MB_TEST(store_counter_totals_across_levels)
{
	counter_totals(false);
	counter_totals(true);
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
	CHECK_EQ_INT(agent_store_commit(s, bs, NULL, 2, st, errs), 0);
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

MB_TEST(store_reserved_sources_only_agentds_own)
{
	agent_store_test_now_ms = T0 + 60000;
	struct agent_store *s = open_store("d", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(agent_source_reserved("node") && agent_source_reserved("agentd"));
	CHECK(!agent_source_reserved("nodes") && !agent_source_reserved("c1"));
	const char *names[2] = {"node", "agentd"};
	for (int k = 0; k < 2; k++) {
		/* A sender naming a reserved source: rejected with the reason, nothing stored. */
		struct tb t;
		tb_init(&t, names[k], 70 + (uint64_t)k, 1, T0 + 10000);
		tb_add(&t, MB_COUNTER, "x", 5);
		struct mb_batch *bp = &t.b;
		uint32_t st = 99;
		char errs[1][MB_MAX_ERR + 1];
		bool own = false;
		CHECK_EQ_INT(agent_store_commit(s, &bp, &own, 1, &st, errs), 0);
		CHECK_EQ_INT(st, MB_ACK_REJECTED);
		CHECK(strstr(errs[0], "reserved") != NULL);
		CHECK(agent_source_find(s, names[k]) < 0);
		/* The same batch as agentd's own: stored, its source flagged. */
		own = true;
		CHECK_EQ_INT(agent_store_commit(s, &bp, &own, 1, &st, errs), 0);
		CHECK_EQ_INT(st, MB_ACK_OK);
		int ci = agent_source_find(s, names[k]);
		CHECK(ci >= 0 && s->r.src[ci]->own);
	}
	struct agent_store_stats ss;
	agent_store_stats(s, &ss);
	CHECK_EQ_INT(ss.rejected_reserved, 2);
	/* The flag survives a restart (only agentd can have stored a reserved source). */
	agent_store_close(s);
	s = open_store("d", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	int ci = agent_source_find(s, "node");
	CHECK(ci >= 0 && s->r.src[ci]->own);
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
	tb_tag(&t, tm, "shard", "2");
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
	/* derived points share one copy of their series' name and tags (query.c) */
	for (int i = 0; i < 3; i++) {
		p = find_pt(&r, (const char *const[]){"lat", "lat.stddev", "lat.p99"}[i]);
		CHECK(p && p->ntags == 1);
		if (p && p->ntags == 1) {
			CHECK_STR(p->tags[0].key, "shard");
			CHECK_STR(p->tags[0].val, "2");
		}
	}
	p = find_pt(&r, "queue");
	if (p && p->ntags == 1) {
		CHECK_STR(p->tags[0].key, "q");
		CHECK_STR(p->tags[0].val, "a");
	}
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

	/* Export with hist: the timer's running sketch holds every observation. */
	struct mb_query qe = {.version = 1, .op = MB_OP_EXPORT, .hist = true};
	agent_store_query(s, &qe, &r);
	CHECK_EQ_INT(r.status, 200);
	bool hist = false;
	for (uint32_t i = 0; i < r.nitems; i++)
		if (!strcmp(r.items[i].name, "lat"))
			hist = r.items[i].running && mb_sketch_count(r.items[i].running) == 100 &&
			       r.items[i].count == 100 && r.items[i].has_q &&
			       fabs(r.items[i].q[3] - 99) <= 1;
	CHECK(hist);
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

static int count_named(const struct mb_reply *r, const char *name)
{
	int n = 0;
	for (uint32_t i = 0; i < r->npoints; i++)
		n += !strcmp(r->points[i].name, name);
	return n;
}

/* docs/api.md: /app/{name} of a timer's base name is every derived name of every tag set; a
 * derived name is just that one; a counter's base is name and name.rate. */
MB_TEST(store_app_named_timer_expands)
{
	agent_store_test_now_ms = T0 + 30000;
	struct agent_store *s = open_store("an", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	struct tb t;
	tb_init(&t, "c1", 1, 1, T0 + 20000);
	double vals[10];
	for (int i = 0; i < 10; i++)
		vals[i] = i + 1;
	const char *eps[2] = {"/a", "/b"};
	for (int k = 0; k < 2; k++) {
		struct mb_record *tm = tb_add(&t, MB_TIMER, "lat", 0);
		tb_tag(&t, tm, "ep", eps[k]);
		tb_timer(tm, vals, 10);
	}
	tb_add(&t, MB_COUNTER, "hits", 20);
	tb_add(&t, MB_GAUGE, "g", 1);
	CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
	tb_free(&t);
	static const char *const sfx[] = {"", ".count", ".sum", ".min", ".max", ".stddev",
	                                  ".p50", ".p90", ".p95", ".p99"};
	struct mb_reply r = query(s, MB_OP_APP, "c1", "lat");
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.npoints, 20);
	for (int i = 0; i < 10; i++) {
		char nm[32];
		snprintf(nm, sizeof nm, "lat%s", sfx[i]);
		CHECK_EQ_INT(count_named(&r, nm), 2);
	}
	const struct mb_point *p = find_pt(&r, "lat.max");
	CHECK(p && p->value == 10 && p->ntags == 1);
	mb_reply_free(&r);
	r = query(s, MB_OP_APP, "c1", "lat.p99");
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.npoints, 2);
	CHECK_EQ_INT(count_named(&r, "lat.p99"), 2);
	mb_reply_free(&r);
	r = query(s, MB_OP_APP, "c1", "hits");
	CHECK_EQ_INT(r.npoints, 2);
	CHECK_EQ_INT(count_named(&r, "hits"), 1);
	CHECK_EQ_INT(count_named(&r, "hits.rate"), 1);
	mb_reply_free(&r);
	r = query(s, MB_OP_APP, "c1", "hits.rate");
	CHECK_EQ_INT(r.npoints, 1);
	mb_reply_free(&r);
	r = query(s, MB_OP_APP, "c1", "g");
	CHECK_EQ_INT(r.npoints, 1);
	mb_reply_free(&r);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

/* /app reads each series' last committed flush interval: its batch time, its own rate with
 * intervals shorter than the 10 s slot; a failed commit leaves it; a restart falls back to
 * the slot. */
MB_TEST(store_app_last_interval_not_slot)
{
	agent_store_test_now_ms = T0 + 7000;
	struct agent_store *s = open_store("li", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	double vals[2][4] = {{1, 2, 3, 4}, {100, 200, 300, 400}};
	for (int i = 0; i < 3; i++) {
		struct tb t;
		tb_init(&t, "c1", 1, (uint64_t)i + 1, T0 + 2000 * (i + 1));
		t.b.interval_ms = 2000;
		tb_add(&t, MB_COUNTER, "req", 4); /* 2 per second */
		tb_add(&t, MB_GAUGE, "g", i);
		struct mb_record *tm = tb_add(&t, MB_TIMER, "lat", 0);
		tb_timer(tm, vals[i == 2], 4);
		CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
		tb_free(&t);
	}
	struct mb_reply r = query(s, MB_OP_APP, "c1", NULL);
	CHECK_EQ_INT(r.status, 200);
	const struct mb_point *p = find_pt(&r, "req");
	CHECK(p && p->value == 4 && p->time_ms == T0 + 6000);
	p = find_pt(&r, "req.rate");
	CHECK(p && fabs(p->value - 2) < 1e-9);
	p = find_pt(&r, "g");
	CHECK(p && p->value == 2 && p->time_ms == T0 + 6000);
	p = find_pt(&r, "lat.min");
	CHECK(p && p->value == 100);
	p = find_pt(&r, "lat.count");
	CHECK(p && p->value == 4);
	p = find_pt(&r, "lat.p50");
	CHECK(p && p->value >= 190 && p->value <= 310);
	mb_reply_free(&r);
	/* A commit that fails leaves the last interval as it was. */
	struct tb f;
	tb_init(&f, "c1", 1, 4, T0 + 8000);
	f.b.interval_ms = 2000;
	tb_add(&f, MB_COUNTER, "req", 100);
	agent_fault_commit = 1;
	CHECK_EQ_INT(commit1(s, &f), MB_ACK_RETRY);
	agent_fault_commit = 0;
	r = query(s, MB_OP_APP, "c1", "req");
	p = find_pt(&r, "req");
	CHECK(p && p->value == 4 && p->time_ms == T0 + 6000);
	mb_reply_free(&r);
	/* A late batch of an older interval does not replace the newest. */
	struct tb l;
	tb_init(&l, "c1", 2, 1, T0 + 2000);
	l.b.interval_ms = 2000;
	tb_add(&l, MB_COUNTER, "req", 50);
	CHECK_EQ_INT(commit1(s, &l), MB_ACK_OK);
	r = query(s, MB_OP_APP, "c1", "req");
	p = find_pt(&r, "req");
	CHECK(p && p->value == 4 && p->time_ms == T0 + 6000);
	mb_reply_free(&r);
	/* After a restart nothing is cached: the finest slot, as before. */
	agent_store_close(s);
	s = open_store("li", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	r = query(s, MB_OP_APP, "c1", "req");
	p = find_pt(&r, "req");
	CHECK(p && p->value == 62 && p->time_ms == T0 + 10000);
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
		CHECK_EQ_INT(mdb_txn_begin(s->e.env, NULL, 0, &t), 0);
		uint8_t fb[4] = {0, 0, 0, AGENT_FORMAT_VERSION + 1};
		MDB_val k = {6, (void *)"format"}, v = {4, fb};
		CHECK_EQ_INT(mdb_put(t, s->e.db_meta, &k, &v, 0), 0);
		CHECK_EQ_INT(mdb_txn_commit(t), 0);
		agent_store_close(s);
	}
	err[0] = 0;
	s = open_store("r", "10s:1h,1m:1d", 0, err);
	CHECK(s == NULL);
	CHECK(strstr(err, "format 2") && strstr(err, "format 1") && strstr(err, "docs/operations.md"));
}

/* Exact quantile of sorted values (nearest rank, as the sketch ranks). */
static double exact_q(double *v, size_t n, double q)
{
	double x = q * (double)n;
	size_t r = (size_t)ceil(x - x * 1e-12);
	return v[(r < 1 ? 1 : r > n ? n : r) - 1];
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

MB_TEST(store_timer_quantiles_across_levels)
{
	const int64_t TB = T0 / 28800000 * 28800000;
	agent_store_test_now_ms = TB + 8 * 3600000LL;
	struct agent_store *s = open_store("t", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	int n = 8 * 360, per = 50;
	double *all = malloc(sizeof(double) * (size_t)n * per);
	size_t na = 0;
	uint32_t x = 12345;
	for (int i = 0; i < n; i++) {
		struct tb t;
		agent_store_test_now_ms = TB + (int64_t)(i + 1) * 10000 + 500;
		tb_init(&t, "svc", 9, (uint64_t)i + 1, TB + (int64_t)(i + 1) * 10000);
		struct mb_record *r = tb_add(&t, MB_TIMER, "lat", 0);
		double vals[50];
		for (int j = 0; j < per; j++) {
			x = x * 1103515245u + 12345u;
			/* Heavy tail: most 1..100 ms, some up to 5 s. */
			double u = (double)(x >> 8) / (double)(1u << 24);
			vals[j] = u < 0.95 ? 1 + u * 100 : 100 + (u - 0.95) * 98000;
			all[na++] = vals[j];
		}
		tb_timer(r, vals, per);
		CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
		tb_free(&t);
	}
	agent_store_test_now_ms = TB + 8 * 3600000LL;
	qsort(all, na, sizeof *all, cmp_d);
	int stats[] = {MB_STAT_P50, MB_STAT_P90, MB_STAT_P99, MB_STAT_P999};
	double qs[] = {0.5, 0.9, 0.99, 0.999};
	/* The whole 8 h in one bucket: older than the finest span, so the 1m level. */
	for (int i = 0; i < 4; i++) {
		struct mb_reply r = range(s, "svc", "lat", TB, TB + 8 * 3600000LL, 8 * 3600000LL,
		                          stats[i]);
		CHECK_EQ_INT(r.status, 200);
		CHECK(r.nrange >= 1);
		double want = exact_q(all, na, qs[i]), got = r.nrange ? r.range_v[0] : NAN;
		if (r.nrange > 1 && !isnan(r.range_v[1]))
			got = NAN; /* everything must be in one bucket */
		if (!(fabs(got - want) <= 0.0101 * want))
			fprintf(stderr, "  q %g: got %g want %g (n %u)\n", qs[i], got, want, r.nrange);
		CHECK(fabs(got - want) <= 0.0101 * want);
		mb_reply_free(&r);
	}
	/* Derived names read as the stat. */
	struct mb_reply r = range(s, "svc", "lat.p99", TB, TB + 8 * 3600000LL, 8 * 3600000LL,
	                          MB_STAT_MEAN);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.stat, MB_STAT_P99);
	mb_reply_free(&r);
	r = range(s, "svc", "lat", TB, TB + 8 * 3600000LL, 8 * 3600000LL, MB_STAT_COUNT);
	CHECK(r.nrange >= 1 && r.range_v[0] == (double)na);
	mb_reply_free(&r);
	/* The last hour from the finest level at 10 s and at 1h steps. */
	int64_t from = TB + 7 * 3600000LL;
	size_t k0 = (size_t)7 * 360 * per;
	double *last = malloc(sizeof(double) * (na - k0));
	x = 12345;
	size_t nl = 0, idx = 0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < per; j++, idx++) {
			x = x * 1103515245u + 12345u;
			double u = (double)(x >> 8) / (double)(1u << 24);
			double v = u < 0.95 ? 1 + u * 100 : 100 + (u - 0.95) * 98000;
			if (idx >= k0)
				last[nl++] = v;
		}
	qsort(last, nl, sizeof *last, cmp_d);
	r = range(s, "svc", "lat", from, from + 3600000LL, 3600000LL, MB_STAT_P99);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.nrange >= 1 && fabs(r.range_v[0] - exact_q(last, nl, 0.99)) <=
	                           0.0101 * exact_q(last, nl, 0.99));
	mb_reply_free(&r);
	free(last);
	free(all);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

MB_TEST(store_bounded_disk_past_retention)
{
	/* Rings of 64 slots at each level; write 3 laps of the coarsest. */
	const char *ret = "10s:640s,1m:64m";
	agent_store_test_now_ms = T0;
	struct agent_store *s = open_store("b", ret, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	uint64_t used_lap1 = 0, used_end = 0;
	int laps = 3, per_lap = 64 * 6; /* 10 s intervals per 64 min */
	double total = 0;
	for (int i = 0; i < laps * per_lap; i++) {
		int64_t tm = T0 + (int64_t)(i + 1) * 10000;
		agent_store_test_now_ms = tm;
		struct tb t;
		tb_init(&t, "c", 5, (uint64_t)i + 1, tm);
		for (int j = 0; j < 40; j++) {
			char nm[16];
			snprintf(nm, sizeof nm, "m%d", j);
			tb_add(&t, j % 2 ? MB_GAUGE : MB_COUNTER, nm, 1);
		}
		struct mb_record *r = tb_add(&t, MB_TIMER, "lat", 0);
		double v[3] = {1, 2, 3};
		tb_timer(r, v, 3);
		CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
		tb_free(&t);
		total += 1;
		struct agent_store_stats ss;
		if (i == per_lap + per_lap / 4) {
			agent_store_stats(s, &ss);
			used_lap1 = ss.used_bytes;
		}
		if (i == laps * per_lap - 1) {
			agent_store_stats(s, &ss);
			used_end = ss.used_bytes;
		}
	}
	CHECK(used_lap1 > 0);
	/* Steady state: no growth after the first lap (a few pages of slack allowed). */
	CHECK(used_end <= used_lap1 + 16 * 4096);
	/* Counter running totals still count everything. */
	struct mb_query q = {.version = 1, .op = MB_OP_EXPORT};
	struct mb_reply e = {0};
	agent_store_query(s, &q, &e);
	bool ok = false;
	for (uint32_t i = 0; i < e.nitems; i++)
		if (!strcmp(e.items[i].name, "m0"))
			ok = e.items[i].total == total;
	CHECK(ok);
	mb_reply_free(&e);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

MB_TEST(store_series_limit_counted)
{
	agent_store_test_now_ms = T0 + 20000;
	char err[512];
	snprintf(err, sizeof err, "%s/l", mbt_tmpdir());
	struct agent_store_opts o = {0};
	o.dir = err;
	o.retention = MB_DEFAULT_RETENTION;
	char perr[128];
	mb_parse_retention(o.retention, o.levels, &o.nlevels, perr, sizeof perr);
	o.max_size = 1ull << 30;
	o.max_series_per_source = 10;
	struct agent_store *s = NULL;
	char e[512];
	CHECK_EQ_INT(agent_store_open(&o, &s, e, sizeof e), 0);
	if (!s)
		return;
	struct tb t;
	tb_init(&t, "greedy", 1, 1, T0 + 10000);
	for (int j = 0; j < 15; j++) {
		char nm[16];
		snprintf(nm, sizeof nm, "m%d", j);
		tb_add(&t, MB_COUNTER, nm, 1);
	}
	CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
	struct agent_store_stats ss;
	agent_store_stats(s, &ss);
	CHECK_EQ_INT(ss.refused_series_limit, 5);
	CHECK_EQ_INT(ss.series, 10);
	/* Only new series: rejected with the reason; existing ones still go on. */
	struct tb t2;
	tb_init(&t2, "greedy", 1, 2, T0 + 20000);
	tb_add(&t2, MB_COUNTER, "new1", 1);
	struct mb_batch *bp = &t2.b;
	uint32_t st;
	char errs[1][MB_MAX_ERR + 1];
	CHECK_EQ_INT(agent_store_commit(s, &bp, NULL, 1, &st, errs), 0);
	CHECK_EQ_INT(st, MB_ACK_REJECTED);
	CHECK(strstr(errs[0], "series limit") != NULL);
	struct tb t3;
	tb_init(&t3, "greedy", 1, 3, T0 + 20000);
	tb_add(&t3, MB_COUNTER, "m0", 1);
	CHECK_EQ_INT(commit1(s, &t3), MB_ACK_OK);
	/* Another source is not affected. */
	struct tb t4;
	tb_init(&t4, "other", 2, 1, T0 + 20000);
	tb_add(&t4, MB_COUNTER, "m0", 1);
	CHECK_EQ_INT(commit1(s, &t4), MB_ACK_OK);
	agent_store_stats(s, &ss);
	CHECK_EQ_INT(ss.refused_series_limit, 6);
	CHECK_EQ_INT(ss.series, 11);
	/* Counted by source: which container ran into its limit. */
	struct agent_refused *rf = NULL;
	size_t nrf = 0;
	CHECK_EQ_INT(agent_store_refused(s, &rf, &nrf), 0);
	CHECK_EQ_INT(nrf, 1);
	if (nrf == 1) {
		CHECK_STR(rf[0].source, "greedy");
		CHECK_EQ_INT(rf[0].refused, 6);
	}
	free(rf);
	/* The shim's own counters and resource metrics still go in at the limit (64 more). */
	struct tb t5;
	tb_init(&t5, "greedy", 1, 4, T0 + 20000);
	tb_add(&t5, MB_COUNTER, "metricsbus.shim.lines", 1);
	tb_add(&t5, MB_RESOURCE, "mem.total", 1);
	tb_add(&t5, MB_COUNTER, "still.refused", 1);
	CHECK_EQ_INT(commit1(s, &t5), MB_ACK_OK);
	agent_store_stats(s, &ss);
	CHECK_EQ_INT(ss.refused_series_limit, 7);
	CHECK_EQ_INT(ss.series, 13);
	/* agentd's own sources are not limited: the node alone has ~70 series. */
	const char *own[2] = {"node", "agentd"};
	for (int k = 0; k < 2; k++) {
		struct tb tn;
		tb_init(&tn, own[k], 10 + (uint64_t)k, 1, T0 + 20000);
		for (int j = 0; j < 15; j++) {
			char nm[16];
			snprintf(nm, sizeof nm, "n%d", j);
			tb_add(&tn, MB_GAUGE, nm, j);
		}
		CHECK_EQ_INT(commit1(s, &tn), MB_ACK_OK);
	}
	agent_store_stats(s, &ss);
	CHECK_EQ_INT(ss.refused_series_limit, 7);
	CHECK_EQ_INT(ss.series, 43);
	struct mb_reply nr = query(s, MB_OP_NODE, NULL, NULL);
	CHECK_EQ_INT(nr.npoints, 15);
	mb_reply_free(&nr);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

/* Commits batch after batch of `per` new series each until refusals start. */
MB_TEST(store_map_full_grows_then_refuses_new_series)
{
	uint64_t saved = agent_store_initial_map;
	agent_store_initial_map = 256 << 10;
	agent_store_test_now_ms = T0 + 20000;
	struct agent_store *s = open_store("m", NULL, 4u << 20, NULL);
	agent_store_initial_map = saved;
	CHECK(s != NULL);
	if (!s)
		return;
	struct agent_store_stats ss;
	agent_store_stats(s, &ss);
	uint64_t map0 = ss.map_bytes;
	uint64_t seq = 0;
	bool grew = false, refused = false;
	char srcname[64][16];
	for (int round = 0; round < 400 && !refused; round++) {
		struct tb t;
		snprintf(srcname[round % 64], 16, "c%d", round);
		tb_init(&t, srcname[round % 64], 3, ++seq, T0 + 10000);
		for (int j = 0; j < 60; j++) {
			char nm[16];
			snprintf(nm, sizeof nm, "s%d", j);
			tb_add(&t, MB_COUNTER, nm, 1);
		}
		uint32_t st = commit1(s, &t);
		CHECK(st == MB_ACK_OK || st == MB_ACK_RETRY);
		agent_store_stats(s, &ss);
		grew |= ss.map_bytes > map0;
		refused = ss.refused_map_full > 0 || st == MB_ACK_RETRY;
	}
	CHECK(grew);
	CHECK(refused);
	CHECK(ss.map_bytes <= 4u << 20);
	/* Existing series still go on, and read back. */
	struct tb t;
	tb_init(&t, "c0", 3, ++seq, T0 + 20000);
	tb_add(&t, MB_COUNTER, "s1", 5);
	tb_add(&t, MB_COUNTER, "brand-new", 5);
	CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
	struct mb_reply r = range(s, "c0", "s1", T0, T0 + 20000, 10000, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 200);
	CHECK_NEAR(range_total(&r), 6, 1e-9);
	mb_reply_free(&r);
	r = range(s, "c0", "brand-new", T0, T0 + 20000, 10000, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 404);
	mb_reply_free(&r);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

/* At ~90% of --max-size new series are refused (counted) while existing ones keep room for
 * their next chunks: several chunk rollovers later they still commit. */
MB_TEST(store_map_headroom_keeps_existing_series)
{
	uint64_t saved = agent_store_initial_map;
	agent_store_initial_map = 256 << 10;
	int64_t tm = T0 + 10000;
	agent_store_test_now_ms = tm + 500;
	/* One level: the headroom is measured against chunk rollovers alone (the coarse
	 * levels' rollups of 20,000 filled series would be first chunks of their own). */
	struct agent_store *s = open_store("hr", "10s:6h", 4u << 20, NULL);
	agent_store_initial_map = saved;
	CHECK(s != NULL);
	if (!s)
		return;
	struct agent_store_stats ss;
	uint64_t seq = 0;
	bool refused = false;
	char srcname[16];
	for (int round = 0; round < 400 && !refused; round++) {
		struct tb t;
		snprintf(srcname, sizeof srcname, "c%d", round);
		tb_init(&t, srcname, 3, ++seq, tm);
		for (int j = 0; j < 60; j++) {
			char nm[16];
			snprintf(nm, sizeof nm, "s%d", j);
			tb_add(&t, MB_COUNTER, nm, 1);
		}
		uint32_t st = commit1(s, &t);
		CHECK(st == MB_ACK_OK || st == MB_ACK_RETRY);
		refused = st == MB_ACK_RETRY;
	}
	CHECK(refused);
	agent_store_stats(s, &ss);
	CHECK(!s->w.map_at_max); /* refused at the headroom mark, not at a full map */
	uint64_t refused0 = ss.refused_map_full;
	/* A source's 60 series and two of another, then 20 of agentd's own, for 4 chunk
	 * rollovers of the 10 s level (64 slots a chunk): ~45 KB a rollover, in the 400 KB
	 * of headroom less what the last filling batch took past the mark. */
	int rounds = 4 * 64, ok = 0;
	for (int i = 1; i <= rounds; i++) {
		int64_t ti = tm + (int64_t)i * 10000;
		agent_store_test_now_ms = ti + 500;
		struct tb t[3];
		struct mb_batch *bp[3];
		const char *srcs[3] = {"c0", "c1", "agentd"};
		for (int k = 0; k < 3; k++) {
			tb_init(&t[k], srcs[k], 3, ++seq, ti);
			for (int j = 0; j < (k == 0 ? 60 : k == 1 ? 2 : 20); j++) {
				char nm[16];
				snprintf(nm, sizeof nm, "s%d", j);
				tb_add(&t[k], MB_COUNTER, nm, 1);
			}
			bp[k] = &t[k].b;
		}
		uint32_t st[3];
		char errs[3][MB_MAX_ERR + 1];
		bool own[3] = {false, false, true};
		CHECK_EQ_INT(agent_store_commit(s, bp, own, 3, st, errs), 0);
		ok += st[0] == MB_ACK_OK && st[1] == MB_ACK_OK && st[2] == MB_ACK_OK;
		/* One new series a round: refused and counted, the batch's others go on. */
		struct tb nw;
		char nm[16];
		snprintf(nm, sizeof nm, "new%d", i);
		tb_init(&nw, "c0", 4, (uint64_t)i, ti);
		tb_add(&nw, MB_COUNTER, nm, 1);
		tb_add(&nw, MB_COUNTER, "s0", 1);
		CHECK_EQ_INT(commit1(s, &nw), MB_ACK_OK);
	}
	CHECK_EQ_INT(ok, rounds);
	agent_store_stats(s, &ss);
	CHECK(ss.refused_map_full >= refused0 + (uint64_t)rounds);
	CHECK(ss.map_bytes <= 4u << 20);
	struct mb_reply r = range(s, "c1", "s1", T0, tm + (int64_t)rounds * 10000, 10000,
	                          MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 200);
	CHECK_NEAR(range_total(&r), rounds + 1, 1e-9);
	mb_reply_free(&r);
	r = range(s, "c0", "s0", T0, tm + (int64_t)rounds * 10000, 10000, MB_STAT_SUM);
	CHECK_NEAR(range_total(&r), 2 * rounds + 1, 1e-9);
	mb_reply_free(&r);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

MB_TEST(store_backup_opens_with_same_data)
{
	agent_store_test_now_ms = T0 + 3600000;
	struct agent_store *s = open_store("src", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	double total = 0;
	for (int i = 0; i < 360; i++) {
		struct tb t;
		tb_init(&t, "c", 1, (uint64_t)i + 1, T0 + (int64_t)(i + 1) * 10000);
		tb_add(&t, MB_COUNTER, "n", i);
		total += i;
		CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
	}
	char dir[600], root[600], err[512];
	snprintf(dir, sizeof dir, "%s/bk/copy", mbt_tmpdir());
	snprintf(root, sizeof root, "%s/bk", mbt_tmpdir());
	struct mb_query q = {.version = 1, .op = MB_OP_BACKUP, .dir = dir};
	struct mb_reply r = {0};
	CHECK_EQ_INT(agent_backup_dir_set(root, err, sizeof err), 0);
	agent_store_query(s, &q, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.bytes > 0);
	mb_reply_free(&r);
	/* Not empty now: refused. Out of --backup-dir: refused. */
	agent_store_query(s, &q, &r);
	CHECK_EQ_INT(r.status, 400);
	mb_reply_free(&r);
	q.dir = "copy2/../../escape";
	agent_store_query(s, &q, &r);
	CHECK_EQ_INT(r.status, 400);
	mb_reply_free(&r);
	q.dir = mbt_tmpdir();
	agent_store_query(s, &q, &r);
	CHECK_EQ_INT(r.status, 403);
	mb_reply_free(&r);
	agent_store_close(s);
	s = open_store("bk/copy", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	r = range(s, "c", "n", T0, T0 + 3600000, 60000, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 200);
	CHECK_NEAR(range_total(&r), total, 1e-6);
	mb_reply_free(&r);
	struct tb t;
	tb_init(&t, "c", 1, 360, T0 + 3600000);
	tb_add(&t, MB_COUNTER, "n", 1);
	CHECK_EQ_INT(commit1(s, &t), MB_ACK_DUP);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

struct rd_arg { /* shared by the readers and the test's thread: atomics (make tsan) */
	struct agent_store *s;
	atomic_int stop, bad, n;
};

static void *reader(void *p)
{
	struct rd_arg *a = p;
	while (!a->stop) {
		struct mb_reply r = query(a->s, MB_OP_APP, "c0", NULL);
		if (r.status != 200 && r.status != 204 && r.status != 404)
			a->bad++;
		mb_reply_free(&r);
		r = range(a->s, "c0", "s0", T0, T0 + 3600000, 0, MB_STAT_SUM);
		if (r.status != 200 && r.status != 404)
			a->bad++;
		mb_reply_free(&r);
		struct mb_query q = {.version = 1, .op = MB_OP_EXPORT};
		agent_store_query(a->s, &q, &r);
		if (r.status != 200)
			a->bad++;
		mb_reply_free(&r);
		a->n++;
	}
	return NULL;
}

MB_TEST(store_concurrent_readers_during_writes_and_growth)
{
	uint64_t saved = agent_store_initial_map;
	agent_store_initial_map = 256 << 10;
	agent_store_test_now_ms = T0 + 3600000;
	struct agent_store *s = open_store("cr", NULL, 0, NULL);
	agent_store_initial_map = saved;
	CHECK(s != NULL);
	if (!s)
		return;
	struct rd_arg a = {.s = s};
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, reader, &a);
	double total = 0;
	for (int i = 0; i < 300; i++) {
		struct tb t;
		tb_init(&t, i % 2 ? "c1" : "c0", 1 + (uint64_t)(i % 2), (uint64_t)i / 2 + 1,
		        T0 + (int64_t)(i / 2 + 1) * 10000);
		for (int j = 0; j < 60; j++) {
			char nm[16];
			snprintf(nm, sizeof nm, "s%d", (j + i * 7) % 200);
			tb_add(&t, MB_COUNTER, nm, 1);
		}
		if (i % 2 == 0)
			total += 0; /* c0 s0 appears when (j + i*7) % 200 == 0 */
		CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
	}
	a.stop = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ_INT(a.bad, 0);
	CHECK(a.n > 0);
	struct agent_store_stats ss;
	agent_store_stats(s, &ss);
	CHECK(ss.map_bytes > (256u << 10));
	CHECK_EQ_INT(ss.points_committed, 300 * 60);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
	(void)total;
}

/* Every fault point in turn: a shim-like sender resends what was not acknowledged; at the end
 * every counter total is exact (nothing lost, nothing twice) and the store still works. */
static void fault_run(int *hook, int nth, const char *tag)
{
	uint64_t saved = agent_store_initial_map;
	agent_store_initial_map = 64 << 10;
	agent_store_test_now_ms = T0 + 60000;
	char sub[64];
	snprintf(sub, sizeof sub, "f-%s-%d", tag, nth);
	struct agent_store *s = open_store(sub, NULL, 0, NULL);
	agent_store_initial_map = saved;
	CHECK(s != NULL);
	if (!s)
		return;
	*hook = nth;
	int nb = 12;
	for (int i = 0; i < nb; i++) {
		struct tb t;
		tb_init(&t, i % 3 ? "a" : "b", 10 + (uint64_t)(i % 3 ? 1 : 2), (uint64_t)i + 1,
		        T0 + (int64_t)(i / 3 + 1) * 10000);
		for (int j = 0; j < 30; j++) {
			char nm[16];
			snprintf(nm, sizeof nm, "k%d", j);
			tb_add(&t, MB_COUNTER, nm, 1);
		}
		struct mb_record *r = tb_add(&t, MB_TIMER, "lat", 0);
		double v[2] = {1, 2};
		tb_timer(r, v, 2);
		uint32_t st;
		int tries = 0;
		while ((st = commit1(s, &t)) == MB_ACK_RETRY && tries++ < 5)
			;
		CHECK(st == MB_ACK_OK);
		if (st != MB_ACK_OK)
			fprintf(stderr, "  fault %s:%d batch %d: status %u\n", tag, nth, i, st);
		/* A resend after the ack was lost: a dup, not counted twice. */
		if (i == 5) {
			tries = 0;
			while ((st = commit1(s, &t)) == MB_ACK_RETRY && tries++ < 5)
				;
			CHECK_EQ_INT(st, MB_ACK_DUP);
		}
		tb_free(&t);
	}
	*hook = 0;
	struct mb_query q = {.version = 1, .op = MB_OP_EXPORT};
	struct mb_reply e = {0};
	agent_store_query(s, &q, &e);
	int ok = 0;
	for (uint32_t i = 0; i < e.nitems; i++) {
		const char *src = e.srcs[e.items[i].src].source;
		double want = !strcmp(src, "a") ? 8 : 4;
		if (!strcmp(e.items[i].name, "k7"))
			ok += e.items[i].total == want;
		if (!strcmp(e.items[i].name, "lat"))
			ok += e.items[i].count == want * 2;
	}
	CHECK_EQ_INT(ok, 4);
	mb_reply_free(&e);
	agent_store_close(s);
	/* Reopens with the same totals. */
	s = open_store(sub, NULL, 0, NULL);
	CHECK(s != NULL);
	if (s) {
		agent_store_query(s, &q, &e);
		CHECK_EQ_INT(e.nitems, 62);
		mb_reply_free(&e);
		agent_store_close(s);
	}
	agent_store_test_now_ms = 0;
}

MB_TEST(store_every_fault_point)
{
	mb_log_set_level(MB_LOG_ERROR + 1 > 3 ? MB_LOG_ERROR : MB_LOG_ERROR);
	for (int n = 1; n <= 40; n++)
		fault_run(&agent_fault_put, n * 37, "put");
	for (int n = 1; n <= 12; n++)
		fault_run(&agent_fault_commit, n, "commit");
	for (int n = 1; n <= 12; n++)
		fault_run(&agent_fault_enospc, n, "enospc");
	for (int n = 1; n <= 4; n++)
		fault_run(&agent_fault_resize, n, "resize");
	mb_log_set_level(MB_LOG_INFO);
}

/* Gauges, sets and timers read from a coarse level (rolled up, and the open slots computed
 * from the level below) agree with what was sent. */
MB_TEST(store_rollup_gauge_set_timer)
{
	const char *ret = "10s:10m,1m:2h";
	int64_t base = T0 / 3600000 * 3600000;
	agent_store_test_now_ms = base + 1000;
	struct agent_store *s = open_store("rg", ret, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	int n = 6 * 60; /* one hour of 10 s intervals */
	double gmin = 1e9, gmax = -1e9, gsum = 0, tsum = 0, tcnt = 0;
	for (int i = 0; i < n; i++) {
		int64_t tm = base + (int64_t)(i + 1) * 10000;
		agent_store_test_now_ms = tm + 500;
		struct tb t;
		tb_init(&t, "c", 77, (uint64_t)i + 1, tm);
		double gv = (double)((i * 37) % 101);
		tb_add(&t, MB_GAUGE, "g", gv);
		gmin = fmin(gmin, gv);
		gmax = fmax(gmax, gv);
		gsum += gv;
		struct mb_record *st = tb_add(&t, MB_SET, "u", 0);
		st->hll = &t.hll[0];
		/* Each minute has 6 intervals of members m*1000 + 0..9: 10 distinct a minute. */
		for (int j = 0; j < 10; j++) {
			int mem = (i / 6) * 1000 + j;
			mb_hll_add(st->hll, &mem, sizeof mem);
		}
		st->set_count = 10;
		struct mb_record *tr = tb_add(&t, MB_TIMER, "lat", 0);
		double v[3] = {1.0 + i % 5, 2.0, 3.0 + i % 7};
		tb_timer(tr, v, 3);
		tsum += v[0] + v[1] + v[2];
		tcnt += 3;
		CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
		tb_free(&t);
	}
	agent_store_test_now_ms = base + 3600000 + 5000;
	int64_t from = base, to = base + 3600000;
	struct mb_reply r = range(s, "c", "g", from, to, 3600000, MB_STAT_MIN);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.step_ms, 3600000);
	CHECK(r.nrange == 1 && r.range_v[0] == gmin);
	mb_reply_free(&r);
	r = range(s, "c", "g", from, to, 3600000, MB_STAT_MAX);
	CHECK(r.nrange == 1 && r.range_v[0] == gmax);
	mb_reply_free(&r);
	r = range(s, "c", "g", from, to, 3600000, MB_STAT_MEAN);
	CHECK(r.nrange == 1 && fabs(r.range_v[0] - gsum / n) < 1e-9);
	mb_reply_free(&r);
	r = range(s, "c", "g", from, to, 3600000, MB_STAT_COUNT);
	CHECK(r.nrange == 1 && r.range_v[0] == n);
	mb_reply_free(&r);
	r = range(s, "c", "lat", from, to, 3600000, MB_STAT_SUM);
	CHECK(r.nrange == 1 && fabs(r.range_v[0] - tsum) < 1e-9);
	mb_reply_free(&r);
	r = range(s, "c", "lat", from, to, 3600000, MB_STAT_COUNT);
	CHECK(r.nrange == 1 && r.range_v[0] == tcnt);
	mb_reply_free(&r);
	/* Sets: 10 distinct a minute; over the hour 600 (HLL: within 5%). */
	r = range(s, "c", "u", from, to, 60000, MB_STAT_COUNT);
	CHECK_EQ_INT(r.nrange, 60);
	int good = 0;
	for (uint32_t i = 0; i < r.nrange; i++) {
		good += fabs(r.range_v[i] - 10) <= 1;
		if (fabs(r.range_v[i] - 10) > 1)
			fprintf(stderr, "  set minute %u: %g\n", i, r.range_v[i]);
	}
	CHECK_EQ_INT(good, 60);
	mb_reply_free(&r);
	r = range(s, "c", "u", from, to, 3600000, MB_STAT_COUNT);
	CHECK(r.nrange == 1 && fabs(r.range_v[0] - 600) <= 30);
	mb_reply_free(&r);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

MB_TEST(store_bad_queries_answered_with_reasons)
{
	agent_store_test_now_ms = T0 + 20000;
	struct agent_store *s = open_store("bq", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	struct tb t;
	tb_init(&t, "c", 1, 1, T0 + 10000);
	tb_add(&t, MB_COUNTER, "x", 1);
	CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
	struct mb_reply r = query(s, 99, NULL, NULL);
	CHECK_EQ_INT(r.status, 400);
	CHECK(r.error && r.error[0]);
	mb_reply_free(&r);
	r = range(s, "c", NULL, T0, T0 + 10000, 0, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 400);
	mb_reply_free(&r);
	r = range(s, "nope", "x", T0, T0 + 10000, 0, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 404);
	mb_reply_free(&r);
	r = range(s, "c", "y", T0, T0 + 10000, 0, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 404);
	mb_reply_free(&r);
	r = range(s, "c", "x", T0, T0 + 10000, 0, 42);
	CHECK_EQ_INT(r.status, 400);
	mb_reply_free(&r);
	r = range(s, "c", "x", T0 + 10000, T0, 0, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 400);
	mb_reply_free(&r);
	/* 12,000 points at 10 s: too many, and the reason names the step. */
	r = range(s, "c", "x", T0, T0 + 200000000, 10000, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 400);
	CHECK(r.error && strstr(r.error, "step"));
	mb_reply_free(&r);
	/* from == to on a boundary: one bucket, not an error. */
	r = range(s, "c", "x", T0, T0, 10000, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.nrange, 1);
	mb_reply_free(&r);
	r = query(s, MB_OP_SERIES, "nope", NULL);
	CHECK_EQ_INT(r.status, 404);
	mb_reply_free(&r);
	r = query(s, MB_OP_CONTAINER, NULL, NULL);
	CHECK_EQ_INT(r.status, 400);
	mb_reply_free(&r);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

/* Rollup passes spread over several commits (a small budget), with a restart in the middle
 * and late points for series on both sides of a pass in progress: every total exact. */
MB_TEST(store_rollup_partial_passes_and_restart)
{
	uint32_t saved = agent_roll_budget;
	agent_roll_budget = 3;
	const char *ret = "10s:10m,1m:2h";
	int64_t base = T0 / 3600000 * 3600000;
	agent_store_test_now_ms = base + 1000;
	struct agent_store *s = open_store("rp", ret, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	double want[10] = {0};
	uint64_t seq = 0;
	for (int i = 0; i < 6 * 40; i++) {
		int64_t tm = base + (int64_t)(i + 1) * 10000;
		agent_store_test_now_ms = tm + 500;
		struct tb t;
		tb_init(&t, "c", 5, ++seq, tm);
		for (int j = 0; j < 10; j++) {
			char nm[8];
			snprintf(nm, sizeof nm, "k%d", j);
			tb_add(&t, MB_COUNTER, nm, j + 1);
			want[j] += j + 1;
		}
		/* Now and then a late point, 3 minutes back. */
		if (i % 17 == 5 && i > 20) {
			struct tb lt;
			tb_init(&lt, "c", 6, seq, tm - 180000);
			tb_add(&lt, MB_COUNTER, "k1", 100);
			tb_add(&lt, MB_COUNTER, "k8", 100);
			want[1] += 100;
			want[8] += 100;
			CHECK_EQ_INT(commit1(s, &lt), MB_ACK_OK);
		}
		CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
		if (i == 100) {
			agent_store_close(s);
			s = open_store("rp", ret, 0, NULL);
			CHECK(s != NULL);
			if (!s)
				return;
		}
	}
	agent_store_test_now_ms = base + 41 * 60000;
	for (int j = 0; j < 10; j++) {
		char nm[8];
		snprintf(nm, sizeof nm, "k%d", j);
		/* The 1m level (from older than the finest span), in one bucket. */
		struct mb_reply r = range(s, "c", nm, base, base + 3600000, 3600000, MB_STAT_SUM);
		CHECK_EQ_INT(r.status, 200);
		if (!(r.nrange == 1 && fabs(r.range_v[0] - want[j]) < 1e-9))
			fprintf(stderr, "  %s: %g want %g\n", nm, r.nrange ? r.range_v[0] : -1, want[j]);
		CHECK(r.nrange == 1 && fabs(r.range_v[0] - want[j]) < 1e-9);
		mb_reply_free(&r);
	}
	agent_store_close(s);
	agent_roll_budget = saved;
	agent_store_test_now_ms = 0;
}

/* A series whose history rolled out of every level is forgotten and its id reused: the new
 * series starts from nothing (no old slots, no old running total), before and after a restart. */
MB_TEST(store_forgets_rolled_out_series_and_reuses_ids)
{
	const char *ret = "10s:1m,1m:5m";
	agent_store_test_now_ms = T0 + 1000;
	struct agent_store *s = open_store("fg", ret, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	struct tb t;
	tb_init(&t, "old", 1, 1, T0 + 10000);
	tb_add(&t, MB_COUNTER, "gone", 1000);
	CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
	struct agent_store_stats ss;
	agent_store_stats(s, &ss);
	CHECK_EQ_INT(ss.series, 1);
	/* Two hours on: past the coarsest span (5m) and the hour of grace. */
	int64_t now = T0 + 2 * 3600000LL;
	agent_store_test_now_ms = now;
	tb_init(&t, "new", 2, 1, now - 5000);
	tb_add(&t, MB_COUNTER, "fresh", 5);
	CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
	tb_init(&t, "new", 2, 2, now);
	tb_add(&t, MB_COUNTER, "fresh", 5);
	CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
	agent_store_stats(s, &ss);
	CHECK_EQ_INT(ss.series, 1);
	/* The next new series takes the forgotten id, and none of its past. */
	tb_init(&t, "new", 2, 3, now);
	struct mb_record *g3 = tb_add(&t, MB_GAUGE, "third", 7);
	(void)g3;
	CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
	CHECK(s->r.ser[0] != &agent_dead && !strcmp(s->r.ser[0]->name, "third"));
	struct mb_reply r = range(s, "new", "third", T0, now, 0, MB_STAT_COUNT);
	CHECK_EQ_INT(r.status, 200);
	CHECK_NEAR(range_total(&r), 1, 1e-9);
	mb_reply_free(&r);
	/* Its source had no series left: forgotten too. */
	r = query(s, MB_OP_SERIES, "old", NULL);
	CHECK_EQ_INT(r.status, 404);
	mb_reply_free(&r);
	agent_store_stats(s, &ss);
	CHECK_EQ_INT(ss.sources, 1);
	r = range(s, "old", "gone", T0, now, 0, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 404);
	mb_reply_free(&r);
	for (int pass = 0; pass < 2; pass++) {
		struct mb_query q = {.version = 1, .op = MB_OP_EXPORT};
		agent_store_query(s, &q, &r);
		CHECK_EQ_INT(r.nitems, 2);
		bool fresh = false;
		for (uint32_t i = 0; i < r.nitems; i++)
			fresh |= !strcmp(r.items[i].name, "fresh") && r.items[i].total == 10;
		CHECK(fresh);
		mb_reply_free(&r);
		r = range(s, "new", "fresh", now - 60000, now, 10000, MB_STAT_SUM);
		CHECK_EQ_INT(r.status, 200);
		CHECK_NEAR(range_total(&r), 10, 1e-9);
		mb_reply_free(&r);
		agent_store_close(s);
		s = open_store("fg", ret, 0, NULL);
		CHECK(s != NULL);
		if (!s)
			return;
		agent_store_stats(s, &ss);
		CHECK_EQ_INT(ss.series, 2);
	}
	/* The old series comes back: a new series, from nothing. */
	tb_init(&t, "old", 1, 2, now);
	tb_add(&t, MB_COUNTER, "gone", 1);
	CHECK_EQ_INT(commit1(s, &t), MB_ACK_OK);
	r = range(s, "old", "gone", now - 60000, now, 10000, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 200);
	CHECK_NEAR(range_total(&r), 1, 1e-9);
	mb_reply_free(&r);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

/* The seq table's backward-shift removal keeps every other entry reachable. */
MB_TEST(store_seq_remove_keeps_probe_chains)
{
	agent_store_test_now_ms = T0 + 1000;
	struct agent_store *s = open_store("sr", NULL, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	for (uint64_t i = 1; i <= 3000; i++)
		CHECK(agent_seq_find(s, i * 7919, true) != NULL);
	for (uint64_t i = 1; i <= 3000; i += 2)
		agent_seq_remove(s, i * 7919);
	CHECK_EQ_INT(s->w.nseqs, 1500);
	int found = 0, wrong = 0;
	for (uint64_t i = 1; i <= 3000; i++) {
		struct agent_seqent *e = agent_seq_find(s, i * 7919, false);
		found += e != NULL && e->inst == i * 7919;
		wrong += (i % 2 == 1) == (e != NULL);
	}
	CHECK_EQ_INT(found, 1500);
	CHECK_EQ_INT(wrong, 0);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

static void commit_counter(struct agent_store *s, const char *cid, uint64_t inst, uint64_t seq,
                           int64_t tm, double v, uint32_t want)
{
	struct tb t;
	tb_init(&t, cid, inst, seq, tm);
	tb_add(&t, MB_COUNTER, "n", v);
	CHECK_EQ_INT(commit1(s, &t), want);
}

/* Container churn: a source whose series were all forgotten goes; a shim instance idle for
 * 7 days of agentd's clock is forgotten (a resend then counts again, the documented cost);
 * both stay forgotten across a restart, and the sources left keep their series. */
MB_TEST(store_forgets_idle_instances_and_empty_sources)
{
	const char *ret = "10s:1m,1m:5m";
	int64_t now = T0 + 1000;
	agent_store_test_now_ms = now;
	struct agent_store *s = open_store("ch", ret, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	commit_counter(s, "stay", 1, 1, T0 + 10000, 1, MB_ACK_OK);
	for (int i = 0; i < 100; i++) {
		char cid[16];
		snprintf(cid, sizeof cid, "k%d", i);
		commit_counter(s, cid, 100 + (uint64_t)i, 1, T0 + 10000, 1, MB_ACK_OK);
	}
	struct agent_store_stats ss;
	agent_store_stats(s, &ss);
	CHECK_EQ_INT(ss.sources, 101);
	CHECK_EQ_INT(s->w.nseqs, 101);
	/* Two hours on (past the 5m span and the hour of grace): the churned containers'
	 * series, then their sources, go within a few commits; their instances stay. */
	now = T0 + 2 * 3600000LL;
	agent_store_test_now_ms = now;
	uint64_t seq = 1;
	for (int i = 0; i < 6; i++)
		commit_counter(s, "stay", 1, ++seq, now - 50000 + i * 10000, 2, MB_ACK_OK);
	agent_store_stats(s, &ss);
	CHECK_EQ_INT(ss.sources, 1);
	CHECK_EQ_INT(ss.series, 1);
	CHECK_EQ_INT(s->w.nseqs, 101);
	commit_counter(s, "k5", 105, 1, T0 + 10000, 1, MB_ACK_DUP);
	struct mb_reply r = query(s, MB_OP_APP, "stay", "n");
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.npoints, 2);
	mb_reply_free(&r);
	r = query(s, MB_OP_APP, "k7", NULL);
	CHECK_EQ_INT(r.status, 404);
	mb_reply_free(&r);
	/* Eight days on: the idle instances go (a few dozen a commit), the live one stays. */
	now = T0 + 8 * 24 * 3600000LL;
	agent_store_test_now_ms = now;
	for (int i = 0; i < 12; i++)
		commit_counter(s, "stay", 1, ++seq, now - 120000 + i * 10000, 1, MB_ACK_OK);
	CHECK_EQ_INT(s->w.nseqs, 1);
	CHECK(agent_seq_find(s, 1, false) != NULL);
	commit_counter(s, "stay", 1, seq, now, 1, MB_ACK_DUP);
	agent_store_close(s);
	s = open_store("ch", ret, 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_INT(s->w.nseqs, 1);
	agent_store_stats(s, &ss);
	CHECK_EQ_INT(ss.sources, 1);
	/* Forgotten: the old batch is new again. */
	commit_counter(s, "k5", 105, 1, now, 1, MB_ACK_OK);
	commit_counter(s, "stay", 1, seq, now, 1, MB_ACK_DUP);
	r = range(s, "stay", "n", now - 300000, now, 10000, MB_STAT_SUM);
	CHECK_EQ_INT(r.status, 200);
	CHECK_NEAR(range_total(&r), 12, 1e-9);
	mb_reply_free(&r);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}

/* apply.c merges a chunk where LMDB keeps it: a same-size MDB_CURRENT | MDB_RESERVE put hands
 * back the value with its old contents, in the transaction's copy of the page. If a future
 * LMDB stops doing so, this fails before any data does. */
MB_TEST(store_lmdb_reserve_current_keeps_the_value)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/lmdb-reserve", mbt_tmpdir());
	mkdir(dir, 0700);
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi db;
	MDB_cursor *c;
	CHECK_EQ_INT(mdb_env_create(&env), 0);
	CHECK_EQ_INT(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
	CHECK_EQ_INT(mdb_txn_begin(env, NULL, 0, &t), 0);
	CHECK_EQ_INT(mdb_dbi_open(t, NULL, 0, &db), 0);
	char val[512];
	for (int i = 0; i < 200; i++) { /* several pages, so that the copy-on-write is real */
		char kb[16];
		snprintf(kb, sizeof kb, "k%04d", i);
		memset(val, 'a' + i % 26, sizeof val);
		MDB_val k = {strlen(kb), kb}, v = {sizeof val, val};
		CHECK_EQ_INT(mdb_put(t, db, &k, &v, 0), 0);
	}
	CHECK_EQ_INT(mdb_txn_commit(t), 0);
	CHECK_EQ_INT(mdb_txn_begin(env, NULL, 0, &t), 0);
	CHECK_EQ_INT(mdb_cursor_open(t, db, &c), 0);
	int same = 0;
	for (int i = 0; i < 200; i += 7) {
		char kb[16];
		snprintf(kb, sizeof kb, "k%04d", i);
		MDB_val k = {strlen(kb), kb}, k2 = k, v, d = {sizeof val, NULL};
		CHECK_EQ_INT(mdb_cursor_get(c, &k, &v, MDB_SET_KEY), 0);
		CHECK_EQ_INT(mdb_cursor_put(c, &k2, &d, MDB_CURRENT | MDB_RESERVE), 0);
		memset(val, 'a' + i % 26, sizeof val);
		same += d.mv_data && memcmp(d.mv_data, val, sizeof val) == 0;
		((char *)d.mv_data)[0] = 'Z';
	}
	CHECK_EQ_INT(same, 29);
	mdb_cursor_close(c);
	CHECK_EQ_INT(mdb_txn_commit(t), 0);
	CHECK_EQ_INT(mdb_txn_begin(env, NULL, MDB_RDONLY, &t), 0);
	int ok = 0;
	for (int i = 0; i < 200; i++) {
		char kb[16];
		snprintf(kb, sizeof kb, "k%04d", i);
		MDB_val k = {strlen(kb), kb}, v;
		memset(val, 'a' + i % 26, sizeof val);
		if (i % 7 == 0)
			val[0] = 'Z';
		ok += mdb_get(t, db, &k, &v) == 0 && v.mv_size == sizeof val &&
		      memcmp(v.mv_data, val, sizeof val) == 0;
	}
	CHECK_EQ_INT(ok, 200);
	mdb_txn_abort(t);
	mdb_env_close(env);
}

/* The writer steps its cursor from one chunk to the next: series of two sources interleaved
 * by id, commits that touch one source (gaps between the ids), both, or a series now and then,
 * each point landing in the right chunk and slot. */
MB_TEST(store_chunks_written_in_order_with_gaps)
{
	agent_store_test_now_ms = T0 + 1000;
	struct agent_store *s = open_store("gaps", "10s:1h", 0, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	static const char *src[2] = {"ga", "gb"};
	double want[2][40] = {{0}};
	uint64_t seq[2] = {0, 0};
	for (int round = 0; round < 150; round++) {
		int64_t tm = T0 + (int64_t)(round + 1) * 10000;
		agent_store_test_now_ms = tm + 500;
		struct tb t[4];
		struct mb_batch *bp[4];
		bool own[4] = {false, false, false, false};
		uint32_t st[4];
		char errs[4][MB_MAX_ERR + 1];
		int nb = 0;
		/* Registration interleaves the ids: ga 0-19, gb 0-19, ga 20-39, gb 20-39. */
		for (int half = 0; half < 2; half++)
			for (int w = 0; w < 2; w++) {
				/* ga every round; gb on even rounds; a third of the series on some */
				if (w == 1 && round % 2 == 1 && round > 0)
					continue;
				tb_init(&t[nb], src[w], 7 + (uint64_t)w, ++seq[w], tm);
				for (int i = half * 20; i < half * 20 + 20; i++) {
					if (round > 0 && round % 5 == 3 && i % 3 != 0)
						continue;
					char name[16];
					snprintf(name, sizeof name, "c%d", i);
					double v = round * 100 + w * 40 + i;
					tb_add(&t[nb], MB_COUNTER, name, v);
					want[w][i] += v;
				}
				bp[nb] = &t[nb].b;
				nb++;
			}
		CHECK_EQ_INT(agent_store_commit(s, bp, own, nb, st, errs), 0);
		for (int i = 0; i < nb; i++)
			CHECK_EQ_INT(st[i], MB_ACK_OK);
	}
	agent_store_test_now_ms = T0 + 151 * 10000 + 500;
	int bad = 0;
	for (int w = 0; w < 2; w++)
		for (int i = 0; i < 40; i++) {
			char name[16];
			snprintf(name, sizeof name, "c%d", i);
			struct mb_reply r = range(s, src[w], name, T0, T0 + 151 * 10000, 10000,
			                          MB_STAT_SUM);
			bad += r.status != 200 || fabs(range_total(&r) - want[w][i]) > 1e-6;
			mb_reply_free(&r);
		}
	CHECK_EQ_INT(bad, 0);
	agent_store_close(s);
	agent_store_test_now_ms = 0;
}
