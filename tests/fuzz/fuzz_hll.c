/* fuzz_hll.c: mb_hll_decode on any bytes; what decodes re-encodes to a form that decodes to
 * the same registers, estimates a finite count, and merges idempotently. */
#include "mb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct mb_hll a, b;
	struct mb_buf buf = {0};

	if (mb_hll_decode(p, n, &a) != 0)
		return 0;
	if (mb_hll_encode(&a, &buf) != 0)
		abort();
	if (buf.len > MB_HLL_M || mb_hll_decode(buf.data, buf.len, &b) != 0 ||
	    memcmp(&a, &b, sizeof a) != 0)
		abort();
	double e = mb_hll_estimate(&a);
	if (!isfinite(e) || e < 0)
		abort();
	mb_hll_merge(&b, &a);
	if (memcmp(&a, &b, sizeof a) != 0)
		abort();
	mb_buf_free(&buf);
	return 0;
}
