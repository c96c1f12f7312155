/* sketch_test.c: the quantile sketch against exact sorted data: every quantile within 1% for
 * uniform, lognormal, bimodal, negative and mixed-sign data, also after merges. */
#include "mb.h"
#include "../tests/unit/mbtest.h"

#include <math.h>
#include <stdlib.h>

static uint64_t rng_state = MBT_SEED;
static double urand(void) /* (0,1) */
{
	return ((double)(mbt_rand(&rng_state) >> 11) + 0.5) / 9007199254740992.0;
}
static double nrand(void)
{
	return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand());
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static const double qs[] = {0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999};

/* The nearest-rank sample of the sorted v: 1-based rank ceil(q*n), at least 1. */
static double nearest(const double *v, size_t n, double q)
{
	size_t r = (size_t)ceil(q * (double)n - q * (double)n * 1e-12);
	return v[(r < 1 ? 1 : r > n ? n : r) - 1];
}

/* Checks every quantile of s against the sorted data v (nearest rank, as the sketch). */
static int check_quantiles(const struct mb_sketch *s, double *v, size_t n)
{
	int bad = 0;
	qsort(v, n, sizeof *v, cmp);
	CHECK_EQ_INT(mb_sketch_count(s), n);
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		double got, want = nearest(v, n, qs[i]);
		CHECK_EQ_INT(mb_sketch_quantile(s, qs[i], &got), 0);
		double tol = fabs(want) < MB_SKETCH_MIN_VALUE ? MB_SKETCH_MIN_VALUE
		                                               : fabs(want) * 0.01 * (1 + 1e-9);
		if (fabs(got - want) > tol) {
			fprintf(stderr, "  q=%g got %.9g want %.9g\n", qs[i], got, want);
			bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);
	return bad;
}

enum { N = 100000 };

static double gen(int dist)
{
	switch (dist) {
	case 0: return urand() * 1000;                             /* uniform */
	case 1: return exp(nrand() * 2 + 3);                       /* lognormal */
	case 2: return urand() < 0.7 ? 1 + urand() : 5000 + 100 * nrand(); /* bimodal */
	case 3: return -exp(nrand() + 1);                          /* negative */
	default: return nrand() * 100;                             /* mixed sign */
	}
}

MB_TEST(sketch_quantiles_within_1pct)
{
	double *v = malloc(N * sizeof *v);
	for (int dist = 0; dist < 5; dist++) {
		struct mb_sketch s = {0};
		for (int i = 0; i < N; i++) {
			v[i] = gen(dist);
			CHECK_EQ_INT(mb_sketch_add(&s, v[i], 1), 0);
		}
		if (check_quantiles(&s, v, N))
			fprintf(stderr, "  distribution %d\n", dist);
		mb_sketch_free(&s);
	}
	free(v);
}

MB_TEST(sketch_quantiles_after_merge)
{
	double *v = malloc(N * sizeof *v);
	for (int dist = 0; dist < 5; dist++) {
		struct mb_sketch parts[7] = {{0}}, all = {0};
		for (int i = 0; i < N; i++) {
			/* parts see different distributions, so merges extend both ends */
			v[i] = gen((dist + i % 7) % 5);
			CHECK_EQ_INT(mb_sketch_add(&parts[i % 7], v[i], 1), 0);
		}
		for (int p = 0; p < 7; p++) {
			CHECK_EQ_INT(mb_sketch_merge(&all, &parts[p]), 0);
			mb_sketch_free(&parts[p]);
		}
		if (check_quantiles(&all, v, N))
			fprintf(stderr, "  merged distribution %d\n", dist);
		mb_sketch_free(&all);
	}
	free(v);
}

MB_TEST(sketch_weights_and_edges)
{
	struct mb_sketch s = {0};
	double out;
	CHECK_EQ_INT(mb_sketch_quantile(&s, 0.5, &out), MB_EINVAL);
	CHECK_EQ_INT(mb_sketch_add(&s, NAN, 1), MB_EINVAL);
	CHECK_EQ_INT(mb_sketch_add(&s, INFINITY, 1), MB_EINVAL);
	CHECK_EQ_INT(mb_sketch_count(&s), 0);
	/* weight n counts as n samples */
	CHECK_EQ_INT(mb_sketch_add(&s, 10, 99), 0);
	CHECK_EQ_INT(mb_sketch_add(&s, 1000, 1), 0);
	CHECK_EQ_INT(mb_sketch_count(&s), 100);
	CHECK_EQ_INT(mb_sketch_quantile(&s, 0.98, &out), 0);
	CHECK_NEAR(out, 10, 0.1);
	CHECK_EQ_INT(mb_sketch_quantile(&s, 1, &out), 0);
	CHECK_NEAR(out, 1000, 10);
	CHECK_EQ_INT(mb_sketch_quantile(&s, 1.5, &out), MB_EINVAL);
	/* tiny values are zero; huge ones clamp to the last bin and stay bounded */
	CHECK_EQ_INT(mb_sketch_add(&s, 1e-12, 1000), 0);
	CHECK_EQ_INT(mb_sketch_quantile(&s, 0, &out), 0);
	CHECK(out == 0);
	CHECK_EQ_INT(mb_sketch_add(&s, 1e300, 1), 0);
	CHECK_EQ_INT(mb_sketch_add(&s, -1e300, 1), 0);
	CHECK_EQ_INT(mb_sketch_add(&s, 1e-300 * 1e291, 1), 0); /* 1e-9 exactly: smallest bin */
	CHECK(s.pos_n <= (uint32_t)(MB_SKETCH_MAX_INDEX - MB_SKETCH_MIN_INDEX + 1));
	CHECK(s.pos_lo >= MB_SKETCH_MIN_INDEX);
	CHECK(s.pos_lo + (int32_t)s.pos_n - 1 <= MB_SKETCH_MAX_INDEX);
	CHECK_EQ_INT(mb_sketch_index(1e300), MB_SKETCH_MAX_INDEX);
	CHECK_EQ_INT(mb_sketch_index(1e-300), MB_SKETCH_MIN_INDEX);
	/* reset keeps memory but empties */
	uint64_t *keep = s.pos;
	mb_sketch_reset(&s);
	CHECK_EQ_INT(mb_sketch_count(&s), 0);
	CHECK(s.pos == keep);
	CHECK_EQ_INT(mb_sketch_add(&s, 5, 1), 0);
	CHECK_EQ_INT(mb_sketch_quantile(&s, 0.5, &out), 0);
	CHECK_NEAR(out, 5, 0.05);
	mb_sketch_free(&s);
	CHECK(s.pos == NULL && s.pos_n == 0);
}

/* What statsd users check first: small sets read as Etsy statsd and Prometheus read them. */
MB_TEST(sketch_small_sets_nearest_rank)
{
	struct mb_sketch s = {0};
	double out;
	/* {12, 18}: p50 is 12, every higher percentile is 18, never below the max */
	CHECK_EQ_INT(mb_sketch_add(&s, 12, 1), 0);
	CHECK_EQ_INT(mb_sketch_add(&s, 18, 1), 0);
	CHECK_EQ_INT(mb_sketch_quantile_mm(&s, 0.5, 12, 18, &out), 0);
	CHECK(out == 12);
	static const double hi[] = {0.75, 0.9, 0.95, 0.99, 0.999, 1};
	for (size_t i = 0; i < sizeof hi / sizeof hi[0]; i++) {
		CHECK_EQ_INT(mb_sketch_quantile_mm(&s, hi[i], 12, 18, &out), 0);
		CHECK(out == 18);
		CHECK_EQ_INT(mb_sketch_quantile(&s, hi[i], &out), 0);
		CHECK_NEAR(out, 18, 0.18); /* the sketch alone: within 1% */
	}
	CHECK_EQ_INT(mb_sketch_quantile(&s, 0.5, &out), 0);
	CHECK_NEAR(out, 12, 0.12);
	mb_sketch_free(&s);

	/* 21 requests, 1.1 .. 20.3: p95 is the 20th (ceil(19.95)), p99 the 21st: the max */
	double v[21];
	for (int i = 0; i < 21; i++) {
		v[i] = 1.1 + i * (20.3 - 1.1) / 20;
		CHECK_EQ_INT(mb_sketch_add(&s, v[i], 1), 0);
	}
	CHECK_EQ_INT(mb_sketch_quantile_mm(&s, 0.95, v[0], v[20], &out), 0);
	CHECK_NEAR(out, v[19], v[19] * 0.01);
	CHECK(out < v[20]);
	CHECK_EQ_INT(mb_sketch_quantile_mm(&s, 0.99, v[0], v[20], &out), 0);
	CHECK(out == v[20]);
	CHECK_EQ_INT(mb_sketch_quantile_mm(&s, 0.5, v[0], v[20], &out), 0);
	CHECK_NEAR(out, v[10], v[10] * 0.01); /* ceil(10.5) = 11th */
	CHECK_EQ_INT(mb_sketch_quantile_mm(&s, 0.9, v[0], v[20], &out), 0);
	CHECK_NEAR(out, v[18], v[18] * 0.01); /* ceil(18.9) = 19th */
	/* all at once: exactly what one call per quantile answers */
	const double q6[6] = {0, 0.5, 0.9, 0.95, 0.99, 1};
	double many[6];
	CHECK_EQ_INT(mb_sketch_quantiles_mm(&s, q6, 6, v[0], v[20], many), 0);
	for (int i = 0; i < 6; i++) {
		CHECK_EQ_INT(mb_sketch_quantile_mm(&s, q6[i], v[0], v[20], &out), 0);
		CHECK(many[i] == out);
	}
	const double badq[2] = {0.5, 2};
	CHECK_EQ_INT(mb_sketch_quantiles_mm(&s, badq, 2, v[0], v[20], many), MB_EINVAL);
	/* rank arithmetic on exact products: 0.95 of 20 is the 19th, not the 20th */
	mb_sketch_reset(&s);
	for (int i = 1; i <= 20; i++)
		CHECK_EQ_INT(mb_sketch_add(&s, i * 100, 1), 0);
	CHECK_EQ_INT(mb_sketch_quantile_mm(&s, 0.95, 100, 2000, &out), 0);
	CHECK_NEAR(out, 1900, 19);
	CHECK_EQ_INT(mb_sketch_quantile_mm(&s, 0.05, 100, 2000, &out), 0);
	CHECK(out == 100);
	CHECK_EQ_INT(mb_sketch_quantile_mm(&s, 0, 100, 2000, &out), 0);
	CHECK(out == 100);
	/* one sample: every quantile is it */
	mb_sketch_reset(&s);
	CHECK_EQ_INT(mb_sketch_add(&s, 7.25, 1), 0);
	CHECK_EQ_INT(mb_sketch_quantile_mm(&s, 0.5, 7.25, 7.25, &out), 0);
	CHECK(out == 7.25);
	/* no known min/max: the sketch's value */
	CHECK_EQ_INT(mb_sketch_quantile_mm(&s, 0.5, NAN, NAN, &out), 0);
	CHECK_NEAR(out, 7.25, 0.0725);
	mb_sketch_free(&s);
}

MB_TEST(sketch_value_within_1pct_of_its_bin)
{
	for (double v = 1e-9; v < 1e18; v *= 1.0037) {
		double w = mb_sketch_value(mb_sketch_index(v));
		if (fabs(w - v) > v * 0.01 * (1 + 1e-9)) {
			fprintf(stderr, "  v=%.17g -> %.17g\n", v, w);
			CHECK(0);
			break;
		}
	}
}
