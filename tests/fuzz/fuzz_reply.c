/* fuzz_reply.c: mb_reply_decode for every op (the first byte picks it) on any bytes, and the
 * round-trip property for what decodes. */
#include "mb.h"
#include "../unit/msgeq.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct mb_reply a, b;
	struct mb_buf buf = {0};
	char err[MB_MAX_ERR];

	if (n < 1)
		return 0;
	int op = p[0] % (MB_OP_BACKUP + 1);
	if (mb_reply_decode(p + 1, n - 1, op, &a, err, sizeof err) != 0) {
		if (!err[0])
			abort();
		return 0;
	}
	if (mb_reply_encode(&a, &buf) != 0)
		abort();
	if (mb_reply_decode(buf.data, buf.len, op, &b, err, sizeof err) != 0 || !eq_reply(&a, &b))
		abort();
	mb_reply_free(&b);
	mb_reply_free(&a);
	mb_buf_free(&buf);
	return 0;
}
