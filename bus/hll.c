/* hll.c: HyperLogLog with p = 10 for statsd sets: add, exact merge, estimate, and the wire
 * forms of schemas/v1 (sparse big-endian (index << 6) | rank entries, or 1024 dense bytes). */
#include "codec.h"

#include <math.h>
#include <string.h>

#define MAX_RANK (64 - MB_HLL_P + 1)

void mb_hll_add_hash(struct mb_hll *h, uint64_t hash)
{
	uint32_t idx = (uint32_t)(hash >> (64 - MB_HLL_P));
	uint64_t w = hash << MB_HLL_P;
	uint8_t rank = w ? (uint8_t)(__builtin_clzll(w) + 1) : MAX_RANK;
	if (rank > h->reg[idx])
		h->reg[idx] = rank;
}

void mb_hll_add(struct mb_hll *h, const void *member, size_t len)
{
	mb_hll_add_hash(h, mb_hash64(member, len));
}

void mb_hll_merge(struct mb_hll *dst, const struct mb_hll *src)
{
	for (int i = 0; i < MB_HLL_M; i++)
		if (src->reg[i] > dst->reg[i])
			dst->reg[i] = src->reg[i];
}

double mb_hll_estimate(const struct mb_hll *h)
{
	const double m = MB_HLL_M;
	const double alpha = 0.7213 / (1.0 + 1.079 / m);
	double sum = 0;
	int zeros = 0;
	for (int i = 0; i < MB_HLL_M; i++) {
		sum += ldexp(1.0, -(int)h->reg[i]);
		zeros += h->reg[i] == 0;
	}
	double e = alpha * m * m / sum;
	/* small range: linear counting is far more accurate while registers are still empty */
	if (e <= 2.5 * m && zeros > 0)
		e = m * log(m / zeros);
	return e;
}

size_t mb_hll_encoded_len(const struct mb_hll *h)
{
	size_t k = 0;
	for (int i = 0; i < MB_HLL_M; i++)
		k += h->reg[i] != 0;
	return 2 * k < MB_HLL_M ? 2 * k : MB_HLL_M;
}

int mb_hll_encode(const struct mb_hll *h, struct mb_buf *out)
{
	size_t n = mb_hll_encoded_len(h);
	if (n == MB_HLL_M)
		return mb_buf_append(out, h->reg, MB_HLL_M);
	uint8_t sp[MB_HLL_M];
	size_t k = 0;
	for (int i = 0; i < MB_HLL_M; i++) {
		if (!h->reg[i])
			continue;
		uint16_t e = (uint16_t)((i << 6) | (h->reg[i] & 0x3f));
		sp[k++] = (uint8_t)(e >> 8);
		sp[k++] = (uint8_t)e;
	}
	return mb_buf_append(out, sp, k);
}

int mb_hll_decode_why(const void *p, size_t n, struct mb_hll *h, const char **why)
{
	const uint8_t *b = p;
	memset(h, 0, sizeof *h);
	*why = NULL;
	if (n == MB_HLL_M) {
		for (int i = 0; i < MB_HLL_M; i++) {
			if (b[i] > MAX_RANK) {
				*why = "register above 55";
				goto bad;
			}
			h->reg[i] = b[i];
		}
		return 0;
	}
	if (n % 2 || n > MB_HLL_M - 2) {
		*why = "length neither 1024 nor even up to 1022";
		goto bad;
	}
	int prev = -1;
	for (size_t k = 0; k < n; k += 2) {
		unsigned e = (unsigned)b[k] << 8 | b[k + 1];
		int idx = (int)(e >> 6);
		unsigned rank = e & 0x3f;
		if (idx <= prev) {
			*why = "sparse index not ascending";
			goto bad;
		}
		if (rank < 1 || rank > MAX_RANK) {
			*why = "sparse rank not in 1..55";
			goto bad;
		}
		h->reg[idx] = (uint8_t)rank;
		prev = idx;
	}
	return 0;
bad:
	memset(h, 0, sizeof *h);
	return MB_EINVAL;
}

int mb_hll_decode(const void *p, size_t n, struct mb_hll *h)
{
	const char *why;
	return mb_hll_decode_why(p, n, h, &why);
}
