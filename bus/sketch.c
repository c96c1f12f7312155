/* sketch.c: the mergeable quantile sketch (DDSketch-style log buckets, 1% relative error).
 * Each side is a dense array of counts over the index range used so far, grown on demand. */
#include "mb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GAMMA (1.01 / 0.99)
/* Growing by a few bins more than asked keeps a drifting series from reallocating per add. */
#define SLACK 32

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int32_t mb_sketch_index(double absv)
{
	double x = ceil(log(absv) / log(GAMMA));
	if (!(x > MB_SKETCH_MIN_INDEX)) /* also NaN */
		return MB_SKETCH_MIN_INDEX;
	if (x > MB_SKETCH_MAX_INDEX)
		return MB_SKETCH_MAX_INDEX;
	return (int32_t)x;
}

double mb_sketch_value(int32_t index)
{
	return 2.0 * pow(GAMMA, index) / (GAMMA + 1.0);
}

/* Makes [*lo, *lo + *n) cover [a, b]. */
static int grow(uint64_t **bins, int32_t *lo, uint32_t *n, int32_t a, int32_t b)
{
	int32_t old_lo = *lo, old_hi = *lo + (int32_t)*n - 1;
	if (*n > 0 && a >= old_lo && b <= old_hi)
		return 0;
	int32_t nlo = a - SLACK, nhi = b + SLACK;
	if (*n > 0) {
		nlo = a < old_lo ? a - SLACK : old_lo;
		nhi = b > old_hi ? b + SLACK : old_hi;
	}
	if (nlo < MB_SKETCH_MIN_INDEX)
		nlo = MB_SKETCH_MIN_INDEX;
	if (nhi > MB_SKETCH_MAX_INDEX)
		nhi = MB_SKETCH_MAX_INDEX;
	uint32_t nn = (uint32_t)(nhi - nlo + 1);
	uint64_t *nb = calloc(nn, sizeof *nb);
	if (!nb)
		return MB_ENOMEM;
	if (*n > 0)
		memcpy(nb + (old_lo - nlo), *bins, *n * sizeof *nb);
	free(*bins);
	*bins = nb;
	*lo = nlo;
	*n = nn;
	return 0;
}

int mb_sketch_add(struct mb_sketch *s, double v, uint64_t n)
{
	if (!isfinite(v))
		return MB_EINVAL;
	if (n == 0)
		return 0;
	double a = fabs(v);
	if (a < MB_SKETCH_MIN_VALUE) {
		s->zero = sat_add(s->zero, n);
		return 0;
	}
	int32_t i = mb_sketch_index(a);
	uint64_t **bins = v > 0 ? &s->pos : &s->neg;
	int32_t *lo = v > 0 ? &s->pos_lo : &s->neg_lo;
	uint32_t *nb = v > 0 ? &s->pos_n : &s->neg_n;
	int rv;
	if ((rv = grow(bins, lo, nb, i, i)) != 0)
		return rv;
	(*bins)[i - *lo] = sat_add((*bins)[i - *lo], n);
	return 0;
}

static int merge_side(uint64_t **db, int32_t *dlo, uint32_t *dn, const uint64_t *sb,
                      int32_t slo, uint32_t sn)
{
	uint32_t first = 0, last = sn;
	while (first < sn && !sb[first])
		first++;
	if (first == sn)
		return 0;
	while (!sb[last - 1])
		last--;
	int rv;
	if ((rv = grow(db, dlo, dn, slo + (int32_t)first, slo + (int32_t)last - 1)) != 0)
		return rv;
	for (uint32_t i = first; i < last; i++) {
		uint32_t k = (uint32_t)(slo + (int32_t)i - *dlo);
		(*db)[k] = sat_add((*db)[k], sb[i]);
	}
	return 0;
}

int mb_sketch_merge(struct mb_sketch *dst, const struct mb_sketch *src)
{
	int rv;
	if ((rv = merge_side(&dst->pos, &dst->pos_lo, &dst->pos_n, src->pos, src->pos_lo,
	                     src->pos_n)) != 0)
		return rv;
	if ((rv = merge_side(&dst->neg, &dst->neg_lo, &dst->neg_n, src->neg, src->neg_lo,
	                     src->neg_n)) != 0)
		return rv;
	dst->zero = sat_add(dst->zero, src->zero);
	return 0;
}

uint64_t mb_sketch_count(const struct mb_sketch *s)
{
	uint64_t c = s->zero;
	for (uint32_t i = 0; i < s->pos_n; i++)
		c = sat_add(c, s->pos[i]);
	for (uint32_t i = 0; i < s->neg_n; i++)
		c = sat_add(c, s->neg[i]);
	return c;
}

/* The nearest rank of q among n samples, 1-based: ceil(q*n), at least 1. The product is
 * nudged down by a relative hair so that 0.95 * 20, a float a hair above 19, is rank 19. */
static uint64_t nearest_rank(double q, uint64_t n)
{
	double x = q * (double)n;
	double r = ceil(x - x * 1e-12);
	if (r < 1)
		return 1;
	return r >= (double)n ? n : (uint64_t)r;
}

/* mb_sketch_quantile given n = mb_sketch_count(s). */
static int quantile_n(const struct mb_sketch *s, uint64_t n, double q, double *out)
{
	if (n == 0 || !(q >= 0 && q <= 1))
		return MB_EINVAL;
	/* nearest rank, as Etsy statsd's and Prometheus's users read a percentile: the sample
	 * at 1-based rank ceil(q*n), so p90 of {12, 18} is 18; cum > rank - 1 below means
	 * "at least rank samples so far" */
	double rank = (double)nearest_rank(q, n) - 1;
	double cum = 0;
	for (uint32_t k = s->neg_n; k-- > 0;) {
		cum += (double)s->neg[k];
		if (cum > rank) {
			*out = -mb_sketch_value(s->neg_lo + (int32_t)k);
			return 0;
		}
	}
	cum += (double)s->zero;
	if (cum > rank) {
		*out = 0;
		return 0;
	}
	int32_t last = 0;
	bool any = false;
	for (uint32_t k = 0; k < s->pos_n; k++) {
		if (!s->pos[k])
			continue;
		cum += (double)s->pos[k];
		last = s->pos_lo + (int32_t)k;
		any = true;
		if (cum > rank) {
			*out = mb_sketch_value(last);
			return 0;
		}
	}
	/* rounding in cum: the highest non-empty bin */
	if (any)
		*out = mb_sketch_value(last);
	else if (s->zero)
		*out = 0;
	else {
		for (uint32_t k = 0; k < s->neg_n; k++)
			if (s->neg[k]) {
				*out = -mb_sketch_value(s->neg_lo + (int32_t)k);
				break;
			}
	}
	return 0;
}

int mb_sketch_quantile(const struct mb_sketch *s, double q, double *out)
{
	return quantile_n(s, mb_sketch_count(s), q, out);
}

static int quantile_mm_n(const struct mb_sketch *s, uint64_t n, double q, double min,
                         double max, double *out)
{
	int rv = quantile_n(s, n, q, out);
	if (rv != 0 || !isfinite(min) || !isfinite(max) || min > max)
		return rv;
	uint64_t r = nearest_rank(q, n);
	if (r >= n)
		*out = max; /* the largest sample is known exactly */
	else if (r <= 1)
		*out = min;
	else if (*out < min)
		*out = min;
	else if (*out > max)
		*out = max;
	return 0;
}

int mb_sketch_quantile_mm(const struct mb_sketch *s, double q, double min, double max,
                          double *out)
{
	return quantile_mm_n(s, mb_sketch_count(s), q, min, max, out);
}

int mb_sketch_quantiles_mm(const struct mb_sketch *s, const double *q, int nq, double min,
                           double max, double *out)
{
	uint64_t n = mb_sketch_count(s);
	for (int i = 0; i < nq; i++) {
		int rv = quantile_mm_n(s, n, q[i], min, max, &out[i]);
		if (rv != 0)
			return rv;
	}
	return 0;
}

void mb_sketch_reset(struct mb_sketch *s)
{
	s->zero = 0;
	if (s->pos)
		memset(s->pos, 0, s->pos_n * sizeof *s->pos);
	if (s->neg)
		memset(s->neg, 0, s->neg_n * sizeof *s->neg);
}

void mb_sketch_free(struct mb_sketch *s)
{
	free(s->pos);
	free(s->neg);
	memset(s, 0, sizeof *s);
}
