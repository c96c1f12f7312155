/* fuzz_query.c: mb_query_decode on any bytes, and the round-trip property for what decodes. */
#include "mb.h"
#include "../unit/msgeq.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct mb_query a, b;
	struct mb_buf buf = {0};
	char err[MB_MAX_ERR];

	if (mb_query_decode(p, n, &a, err, sizeof err) != 0) {
		if (!err[0])
			abort();
		return 0;
	}
	if (mb_query_encode(&a, &buf) != 0)
		abort();
	if (mb_query_decode(buf.data, buf.len, &b, err, sizeof err) != 0 || !eq_query(&a, &b))
		abort();
	mb_query_free(&b);
	mb_query_free(&a);
	mb_buf_free(&buf);
	return 0;
}
