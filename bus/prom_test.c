/* prom_test.c: the shared Prometheus naming: family names with unit and type suffixes, label
 * picking (reserved names, repeats, empty dimensions), the histogram bounds' label values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "mb.h"
#include "../tests/unit/mbtest.h"

MB_TEST(prom_family_suffixes)
{
	char out[MB_PROM_MAX_NAME];
	double scale = 0;
	mb_prom_family("memory.total", "bytes", "node", MB_PROM_GAUGE, out, sizeof out, &scale);
	CHECK_STR(out, "memory_total_bytes");
	CHECK(scale == 1);
	mb_prom_family("jobs.total", "", "c1", MB_PROM_COUNTER, out, sizeof out, &scale);
	CHECK_STR(out, "jobs_total");
	mb_prom_family("Requests", "", "c1", MB_PROM_COUNTER, out, sizeof out, &scale);
	CHECK_STR(out, "requests_total");
	mb_prom_family("queue.count", "", "c1", MB_PROM_GAUGE, out, sizeof out, &scale);
	CHECK_STR(out, "queue_count_value");
	mb_prom_family("agentd.commit.latency_ms", "", "agentd", MB_PROM_GAUGE, out, sizeof out,
	               &scale);
	CHECK_STR(out, "agentd_commit_latency_seconds");
	CHECK(scale == 0.001);
	CHECK_EQ_INT(mb_prom_type_of(MB_TIMER, false), MB_PROM_SUMMARY);
	CHECK_EQ_INT(mb_prom_type_of(MB_DISTRIBUTION, true), MB_PROM_HISTOGRAM);
	CHECK_EQ_INT(mb_prom_type_of(MB_SET, true), MB_PROM_GAUGE);
	CHECK_STR(mb_prom_type_name(MB_PROM_SUMMARY), "summary");
}

MB_TEST(prom_labels_pick_free_names)
{
	struct mb_kv dims[] = {{"container_id", "c1"}, {"mesos_id", ""}};
	struct mb_source_dims src = {"c1", 2, dims};
	struct mb_kv tags[] = {{"Container.ID", "x"}, {"job", "j"}, {"mesos_id", "m"}};
	struct mb_prom_labels ls;
	mb_prom_labels(&ls, &src, 3, tags);
	CHECK_EQ_INT(ls.n, 5);
	CHECK_STR(ls.name[0], "container_id");
	CHECK_STR(ls.val[0], "c1");
	CHECK_STR(ls.name[1], "mesos_id");
	CHECK(ls.val[1] == NULL); /* empty dimension: no label, but the name stays taken */
	CHECK_STR(ls.name[2], "tag_container_id");
	CHECK_STR(ls.name[3], "tag_job");
	CHECK_STR(ls.name[4], "tag_mesos_id");
	CHECK_STR(ls.val[4], "m");
}

MB_TEST(prom_bucket_strings_are_the_bounds)
{
	/* The le values remote write sends are the bounds /metrics formats, in their shortest
	 * decimal form, increasing. */
	for (int k = 0; k < MB_PROM_NBUCKETS; k++) {
		char buf[40];
		CHECK(strtod(mb_prom_bucket_str[k], NULL) == mb_prom_buckets[k]);
		snprintf(buf, sizeof buf, "%.15g", mb_prom_buckets[k]);
		CHECK_STR(buf, mb_prom_bucket_str[k]);
		if (k > 0)
			CHECK(mb_prom_buckets[k] > mb_prom_buckets[k - 1]);
	}
}

MB_TEST(prom_sketch_buckets_match_le_per_bound)
{
	/* One pass gives what mb_prom_sketch_le gives bound by bound, +Inf the sketch's count. */
	for (int round = 0; round < 3; round++) {
		struct mb_sketch s = {0};
		double scale = round == 2 ? 0.001 : 1;
		uint64_t x = MBT_SEED + (uint64_t)round;
		for (int i = 0; i < 2000; i++) {
			double v = pow(10, (double)(mbt_rand(&x) % 12000) / 1000.0 - 6); /* 1e-6 .. 1e6 */
			if (round == 1 && i % 7 == 0)
				v = i % 2 ? -v : 0;
			CHECK(mb_sketch_add(&s, v, 1 + (uint64_t)(i % 3)) == 0);
		}
		uint64_t n[MB_PROM_NBUCKETS + 1];
		mb_prom_sketch_buckets(&s, scale, n);
		for (int k = 0; k < MB_PROM_NBUCKETS; k++)
			CHECK(n[k] == mb_prom_sketch_le(&s, mb_prom_buckets[k], scale));
		CHECK(n[MB_PROM_NBUCKETS] == mb_sketch_count(&s));
		mb_sketch_free(&s);
	}
	struct mb_sketch e = {0};
	uint64_t n[MB_PROM_NBUCKETS + 1];
	mb_prom_sketch_buckets(&e, 1, n);
	CHECK(n[0] == 0 && n[MB_PROM_NBUCKETS] == 0);
}
