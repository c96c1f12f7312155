/* fuzz_sketch.c: the sketch's promise on any data: every quantile within 1% of the exact
 * nearest-rank sample, and merging two halves gives the sketch of the whole. */
#include "mb.h"
#include "../unit/msgeq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	double v[2048];
	size_t k = 0;
	struct mb_sketch all = {0}, h1 = {0}, h2 = {0};

	for (size_t i = 0; i + 8 <= n && k < 2048; i += 8) {
		double x;
		memcpy(&x, p + i, 8);
		/* inside the index range, where the 1% promise holds */
		if (!isfinite(x) || (fabs(x) >= 1e-300 && fabs(x) < 1e-9) || fabs(x) > 1e18)
			continue;
		if (fabs(x) < 1e-9)
			x = 0;
		v[k++] = x;
	}
	if (k == 0)
		return 0;
	for (size_t i = 0; i < k; i++) {
		if (mb_sketch_add(&all, v[i], 1) || mb_sketch_add(i % 2 ? &h1 : &h2, v[i], 1))
			abort();
	}
	if (mb_sketch_merge(&h1, &h2) != 0 || !eq_sketch(&h1, &all) || mb_sketch_count(&all) != k)
		abort();
	qsort(v, k, sizeof *v, cmp);
	static const double qs[] = {0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1};
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		double x = qs[i] * (double)k;
		size_t r = (size_t)ceil(x - x * 1e-12);
		double got, want = v[(r < 1 ? 1 : r > k ? k : r) - 1];
		if (mb_sketch_quantile(&all, qs[i], &got) != 0)
			abort();
		if (fabs(got - want) > fabs(want) * 0.01 * (1 + 1e-9))
			abort();
	}
	mb_sketch_free(&all);
	mb_sketch_free(&h1);
	mb_sketch_free(&h2);
	return 0;
}
