/* fuzz_batch.c: mb_batch_decode on any bytes: never crashes or leaks, and whatever decodes
 * re-encodes and decodes again to the same batch (the round-trip property). */
#include "mb.h"
#include "../unit/msgeq.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct mb_batch a, b;
	struct mb_buf buf = {0};
	char err[MB_MAX_ERR];
	int rv;

	if (mb_batch_decode(p, n, &a, err, sizeof err) != 0) {
		if (!err[0])
			abort(); /* every rejection has a reason */
		return 0;
	}
	/* a record's size must be what the encoder writes */
	size_t total = 0, dec = 0;
	for (uint32_t i = 0; i < a.nrecords; i++) {
		total += mb_record_size(&a.records[i]);
		dec += mb_record_decoded_size(&a.records[i]);
	}
	if (dec > MB_MAX_DECODED) /* the decoder's budget and the senders' measure agree */
		abort();
	rv = mb_batch_encode(&a, &buf);
	if (rv == MB_ETOOBIG) /* ints widen to float64: a full message may not fit again */
		goto out;
	if (rv != 0)
		abort(); /* the decoder accepted what the encoder refuses */
	{
		struct mb_batch empty = a;
		struct mb_buf hdr = {0};
		empty.nrecords = 0;
		if (mb_batch_encode(&empty, &hdr) != 0)
			abort();
		/* the array header grows from 1 to 3 or 5 bytes with the count */
		size_t arr = a.nrecords < 16 ? 0 : a.nrecords < 65536 ? 2 : 4;
		if (hdr.len + total + arr != buf.len)
			abort();
		mb_buf_free(&hdr);
	}
	if (mb_batch_decode(buf.data, buf.len, &b, err, sizeof err) != 0)
		abort();
	if (!eq_batch(&a, &b))
		abort();
	mb_batch_free(&b);
out:
	mb_buf_free(&buf);
	mb_batch_free(&a);
	return 0;
}
