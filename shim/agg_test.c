/* agg_test.c: the aggregator: counter sums with rates, gauge deltas and persistence, exact
 * sets, timer statistics and the sketch's p99, idle expiry, canonical tag order. */
#include "../tests/unit/mbtest.h"
#include "shim.h"

#include <stdlib.h>

static void feed(struct shim_agg *a, const char *s, int64_t now)
{
	shim_agg_packet(a, s, strlen(s), now);
}

static const struct mb_record *find(const struct shim_flush *f, const char *name, int kind)
{
	for (uint32_t i = 0; i < f->n; i++)
		if (strcmp(f->recs[i].name, name) == 0 && f->recs[i].kind == kind)
			return &f->recs[i];
	return NULL;
}

MB_TEST(agg_counters_sum_scaled_by_rate)
{
	struct shim_agg *a;
	struct shim_flush f = {0};
	CHECK(shim_agg_new(&a) == 0);
	feed(a, "hits:1|c\nhits:2|c|@0.5\nhits:1|c|@0.1", 0);
	CHECK(shim_agg_flush(a, 0, &f) == 0);
	const struct mb_record *r = find(&f, "hits", MB_COUNTER);
	CHECK(r && fabs(r->value - 15) < 1e-9);
	shim_agg_flush_done(a, &f, 0);
	/* the next interval starts from zero and an idle counter sends nothing */
	CHECK(shim_agg_flush(a, 1000, &f) == 0);
	CHECK(find(&f, "hits", MB_COUNTER) == NULL);
	shim_agg_flush_done(a, &f, 1000);
	shim_flush_free(&f);
	shim_agg_free(a);
}

MB_TEST(agg_gauges_deltas_and_repeat)
{
	struct shim_agg *a;
	struct shim_flush f = {0};
	CHECK(shim_agg_new(&a) == 0);
	feed(a, "g:10|g\ng:+5|g\ng:-3|g\nd:-2|g", 0);
	CHECK(shim_agg_flush(a, 0, &f) == 0);
	CHECK(find(&f, "g", MB_GAUGE) && find(&f, "g", MB_GAUGE)->value == 12);
	CHECK(find(&f, "d", MB_GAUGE) && find(&f, "d", MB_GAUGE)->value == -2);
	shim_agg_flush_done(a, &f, 0);
	/* reported again while it has no new data, deltas apply to the kept value */
	CHECK(shim_agg_flush(a, 10000, &f) == 0);
	CHECK(find(&f, "g", MB_GAUGE) && find(&f, "g", MB_GAUGE)->value == 12);
	shim_agg_flush_done(a, &f, 10000);
	feed(a, "g:+1|g", 20000);
	CHECK(shim_agg_flush(a, 20000, &f) == 0);
	CHECK(find(&f, "g", MB_GAUGE) && find(&f, "g", MB_GAUGE)->value == 13);
	shim_agg_flush_done(a, &f, 20000);
	shim_flush_free(&f);
	shim_agg_free(a);
}

MB_TEST(agg_sets_exact_and_hll)
{
	struct shim_agg *a;
	struct shim_flush f = {0};
	char line[64];
	CHECK(shim_agg_new(&a) == 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(line, sizeof line, "u:user%d|s", i % 300);
		feed(a, line, 0);
	}
	CHECK(shim_agg_flush(a, 0, &f) == 0);
	const struct mb_record *r = find(&f, "u", MB_SET);
	CHECK(r && r->set_count == 300);
	CHECK(r && r->hll && fabs(mb_hll_estimate(r->hll) - 300) < 300 * 0.1);
	shim_agg_flush_done(a, &f, 0);
	/* past the exact cap the count follows the HyperLogLog */
	for (int i = 0; i < 20000; i++) {
		snprintf(line, sizeof line, "u:m%d|s", i);
		feed(a, line, 1);
	}
	CHECK(shim_agg_flush(a, 1, &f) == 0);
	r = find(&f, "u", MB_SET);
	CHECK(r && fabs((double)r->set_count - 20000) < 20000 * 0.1);
	shim_agg_flush_done(a, &f, 1);
	shim_flush_free(&f);
	shim_agg_free(a);
}

static int cmpd(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

MB_TEST(agg_timer_stats_and_p99)
{
	struct shim_agg *a;
	struct shim_flush f = {0};
	char line[64];
	int n = 10000;
	double *v = malloc((size_t)n * sizeof *v), sum = 0, sq = 0;
	CHECK(shim_agg_new(&a) == 0);
	srand(7);
	for (int i = 0; i < n; i++) {
		v[i] = 0.5 + (rand() % 100000) / 10.0;
		snprintf(line, sizeof line, "lat:%.1f|ms", v[i]);
		feed(a, line, 0);
		sum += v[i];
		sq += v[i] * v[i];
	}
	feed(a, "lat:1|ms|@0.5", 0);
	CHECK(shim_agg_flush(a, 0, &f) == 0);
	const struct mb_record *r = find(&f, "lat", MB_TIMER);
	CHECK(r != NULL);
	if (r) {
		qsort(v, (size_t)n, sizeof *v, cmpd);
		CHECK_NEAR(r->count, n + 2, 1e-9);
		CHECK_NEAR(r->sum, sum + 2, 1e-6 * sum);
		CHECK_NEAR(r->sumsq, sq + 2, 1e-6 * sq);
		CHECK(r->min == fmin(v[0], 1));
		CHECK(r->max == v[n - 1]);
		CHECK_EQ_INT(mb_sketch_count(&r->sketch), n + 1);
		double p99;
		CHECK(mb_sketch_quantile(&r->sketch, 0.99, &p99) == 0);
		double exact = v[(int)(0.99 * (n - 1))];
		CHECK(fabs(p99 - exact) <= 0.0101 * exact);
	}
	shim_agg_flush_done(a, &f, 0);
	CHECK(shim_agg_flush(a, 1, &f) == 0);
	CHECK(find(&f, "lat", MB_TIMER) == NULL);
	shim_agg_flush_done(a, &f, 1);
	shim_flush_free(&f);
	shim_agg_free(a);
	free(v);
}

MB_TEST(agg_kinds_each_aggregated)
{
	struct shim_agg *a;
	struct shim_flush f = {0};
	CHECK(shim_agg_new(&a) == 0);
	feed(a, "x:1|h\nx:3|h\ny:2|d\ny:4|d|@0.25", 0);
	CHECK(shim_agg_flush(a, 0, &f) == 0);
	const struct mb_record *h = find(&f, "x", MB_HISTOGRAM),
	                       *d = find(&f, "y", MB_DISTRIBUTION);
	CHECK(h && h->count == 2 && h->sum == 4 && h->min == 1 && h->max == 3);
	CHECK(d && d->count == 5 && d->sum == 18 && d->min == 2 && d->max == 4);
	shim_agg_flush_done(a, &f, 0);
	shim_flush_free(&f);
	shim_agg_free(a);
}

MB_TEST(agg_packed_values)
{
	struct shim_agg *a;
	struct shim_flush f = {0};
	CHECK(shim_agg_new(&a) == 0);
	feed(a, "p:1:2:3|d|@0.5\np:4|d", 0);
	CHECK(shim_agg_flush(a, 0, &f) == 0);
	const struct mb_record *r = find(&f, "p", MB_DISTRIBUTION);
	CHECK(r && r->count == 7 && r->sum == 16 && r->min == 1 && r->max == 4);
	CHECK(r && mb_sketch_count(&r->sketch) == 4);
	shim_agg_flush_done(a, &f, 0);
	shim_flush_free(&f);
	shim_agg_free(a);
}

MB_TEST(agg_canonical_tag_order_is_one_series)
{
	struct shim_agg *a;
	struct shim_flush f = {0};
	CHECK(shim_agg_new(&a) == 0);
	feed(a, "c:1|c|#b:2,a:1\nc:1|c|#a:1,b:2\nc:1|c|#a:1\nc:1|c", 0);
	CHECK_EQ_INT(shim_agg_nseries(a), 3);
	CHECK(shim_agg_flush(a, 0, &f) == 0);
	int found = 0;
	for (uint32_t i = 0; i < f.n; i++) {
		if (f.recs[i].ntags == 2) {
			found++;
			CHECK_STR(f.recs[i].tags[0].key, "a");
			CHECK_STR(f.recs[i].tags[0].val, "1");
			CHECK_STR(f.recs[i].tags[1].key, "b");
			CHECK(f.recs[i].value == 2);
		}
	}
	CHECK_EQ_INT(found, 1);
	shim_agg_flush_done(a, &f, 0);
	shim_flush_free(&f);
	shim_agg_free(a);
}

MB_TEST(agg_idle_series_forgotten)
{
	struct shim_agg *a;
	struct shim_flush f = {0};
	char line[64];
	CHECK(shim_agg_new(&a) == 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(line, sizeof line, "s%d:1|%s", i, i % 2 ? "g" : "c");
		feed(a, line, 0);
	}
	feed(a, "keep:1|g", SHIM_IDLE_MS - 1000);
	CHECK_EQ_INT(shim_agg_nseries(a), 2001);
	CHECK(shim_agg_flush(a, SHIM_IDLE_MS - 1, &f) == 0);
	shim_agg_flush_done(a, &f, SHIM_IDLE_MS - 1);
	CHECK_EQ_INT(shim_agg_nseries(a), 2001);
	CHECK(shim_agg_flush(a, SHIM_IDLE_MS, &f) == 0);
	shim_agg_flush_done(a, &f, SHIM_IDLE_MS);
	CHECK_EQ_INT(shim_agg_nseries(a), 1);
	/* the survivor is still found, and the forgotten come back fresh */
	feed(a, "keep:+1|g\ns4:5|c", SHIM_IDLE_MS + 1);
	CHECK_EQ_INT(shim_agg_nseries(a), 2);
	CHECK(shim_agg_flush(a, SHIM_IDLE_MS + 1, &f) == 0);
	CHECK(find(&f, "keep", MB_GAUGE) && find(&f, "keep", MB_GAUGE)->value == 2);
	CHECK(find(&f, "s4", MB_COUNTER) && find(&f, "s4", MB_COUNTER)->value == 5);
	CHECK(find(&f, "s1", MB_GAUGE) == NULL);
	shim_agg_flush_done(a, &f, SHIM_IDLE_MS + 1);
	shim_flush_free(&f);
	shim_agg_free(a);
}

MB_TEST(agg_overflow_is_a_bad_line)
{
	struct shim_agg *a;
	struct shim_flush f = {0};
	CHECK(shim_agg_new(&a) == 0);
	feed(a, "c:1e308|c\nc:1e308|c\nt:1e200|ms\nc2:1e300|c|@0.0000000001", 0);
	CHECK_EQ_INT(shim_agg_stats(a)->bad_lines, 3);
	CHECK(shim_agg_flush(a, 0, &f) == 0);
	CHECK(find(&f, "c", MB_COUNTER) && find(&f, "c", MB_COUNTER)->value == 1e308);
	for (uint32_t i = 0; i < f.n; i++)
		CHECK(isfinite(f.recs[i].value) && isfinite(f.recs[i].sumsq));
	shim_agg_flush_done(a, &f, 0);
	shim_flush_free(&f);
	shim_agg_free(a);
}

MB_TEST(agg_flush_encodes)
{
	/* every record the aggregator makes passes the schema's encoder and decoder */
	struct shim_agg *a;
	struct shim_flush f = {0};
	CHECK(shim_agg_new(&a) == 0);
	feed(a, "c:1|c|#a:b,z\ng:2|g\nt:3|ms|#k:v\nh:4|h\nd:5|d\ns:x|s\ns:y|s", 0);
	CHECK(shim_agg_flush(a, 0, &f) == 0);
	struct mb_batch b, d;
	memset(&b, 0, sizeof b);
	b.version = 1;
	b.instance = 9;
	b.seq = 1;
	b.time_ms = 1700000000000;
	b.interval_ms = 10000;
	b.container_id = "c1";
	b.records = f.recs;
	b.nrecords = f.n;
	struct mb_buf out = {0};
	char err[256];
	CHECK(mb_batch_encode(&b, &out) == 0);
	CHECK(mb_batch_decode(out.data, out.len, &d, err, sizeof err) == 0);
	CHECK_EQ_INT(d.nrecords, 6);
	mb_batch_free(&d);
	mb_buf_free(&out);
	shim_agg_flush_done(a, &f, 0);
	shim_flush_free(&f);
	shim_agg_free(a);
}

MB_TEST(agg_memory_budget_bounds_wide_timers)
{
	/* Each of these timers spans 1e-9..1e15: ~22 KiB of dense sketch bins. Past the budget
	 * new series are refused and existing sketches do not widen; the total stays bounded. */
	struct shim_agg *a;
	char line[128];
	CHECK(shim_agg_new(&a) == 0);
	for (int i = 0; i < 4000; i++) {
		snprintf(line, sizeof line, "wide%d:0.000000001|ms\nwide%d:1e15|ms", i, i);
		feed(a, line, 0);
	}
	struct shim_stats *st = shim_agg_stats(a);
	CHECK(st->series_refused > 0);
	CHECK(shim_agg_bytes(a) <= SHIM_MAX_BYTES + 64 * 1024);
	CHECK(shim_agg_nseries(a) < 4000);
	/* a value inside an existing range is still taken */
	uint64_t before = st->series_refused + st->bad_lines;
	feed(a, "wide0:1000|ms", 0);
	CHECK_EQ_INT(st->series_refused + st->bad_lines, before);
	/* the budget comes back when the series expire */
	struct shim_flush f = {0};
	CHECK(shim_agg_flush(a, SHIM_IDLE_MS, &f) == 0);
	shim_agg_flush_done(a, &f, SHIM_IDLE_MS);
	CHECK_EQ_INT(shim_agg_nseries(a), 0);
	CHECK_EQ_INT(shim_agg_bytes(a), 0);
	shim_flush_free(&f);
	shim_agg_free(a);
}

/* The table picks a slot from the hash's low bits: keys that differ in one digit must
 * spread like random ones (about 1/e of the slots empty, no long runs). */
MB_TEST(agg_key_hash_spreads_low_bits)
{
	enum { N = 65536 };
	static unsigned char load[N];
	memset(load, 0, sizeof load);
	char k[64];
	for (int i = 0; i < N; i++) {
		int n = snprintf(k, sizeof k, "%cbench.counter.%d", MB_COUNTER, i);
		load[shim_agg_key_hash(k, (size_t)n + 1) & (N - 1)]++;
	}
	int empty = 0, max = 0;
	for (int i = 0; i < N; i++) {
		empty += load[i] == 0;
		max = load[i] > max ? load[i] : max;
	}
	CHECK(empty > N * 34 / 100 && empty < N * 40 / 100);
	CHECK(max <= 10);
	/* lengths across the 8-byte steps and trailing zero bytes hash apart */
	CHECK(shim_agg_key_hash("a", 1) != shim_agg_key_hash("a\0", 2));
	CHECK(shim_agg_key_hash("abcdefgh", 8) != shim_agg_key_hash("abcdefgh\0", 9));
}

/* Names alike in their first 8-byte words and differing in the tail stay apart, each
 * counted exactly: the probe compares whole keys. */
MB_TEST(agg_similar_keys_stay_distinct)
{
	struct shim_agg *a;
	struct shim_flush f = {0};
	char line[96], name[64];
	CHECK(shim_agg_new(&a) == 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(line, sizeof line, "abcdefghabcdefgh.%d:%d|c", i, i + 1);
		feed(a, line, 0);
		snprintf(line, sizeof line, "abcdefghabcdefgh.%d:1|c|#k:v%d", i, i);
		feed(a, line, 0);
	}
	CHECK(shim_agg_flush(a, 0, &f) == 0);
	int plain = 0, tagged = 0;
	for (uint32_t j = 0; j < f.n; j++) {
		const struct mb_record *r = &f.recs[j];
		int i;
		if (r->kind != MB_COUNTER || sscanf(r->name, "abcdefghabcdefgh.%d", &i) != 1)
			continue;
		snprintf(name, sizeof name, "abcdefghabcdefgh.%d", i);
		if (strcmp(r->name, name) != 0)
			continue;
		if (r->ntags == 0 && fabs(r->value - (i + 1)) < 1e-9)
			plain++;
		else if (r->ntags == 1 && fabs(r->value - 1) < 1e-9)
			tagged++;
	}
	CHECK_EQ_INT(plain, 3000);
	CHECK_EQ_INT(tagged, 3000);
	CHECK(f.n >= 6000);
	shim_agg_flush_done(a, &f, 0);
	shim_flush_free(&f);
	shim_agg_free(a);
}
