/* fuzz_statsd.c: libFuzzer target for the shim's statsd parser and aggregator: any datagram,
 * then a flush whose records must encode and decode under the schema. */
#include "../../shim/shim.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct shim_agg *agg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!agg && shim_agg_new(&agg) != 0)
		abort();
	/* An exact-size copy, so ASan sees any read past the datagram. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct shim_line l;
	/* Every subset of the tag styles, chosen by the input's length. */
	shim_parse_line(buf, size, (unsigned)size & SHIM_STYLE_ALL, &l);
	shim_agg_packet(agg, buf, size, 0);
	free(buf);

	struct shim_flush f = {0};
	if (shim_agg_flush(agg, 0, &f) == 0 && f.n > 0) {
		struct mb_batch b, d;
		memset(&b, 0, sizeof b);
		b.version = 1;
		b.instance = 1;
		b.seq = 1;
		b.time_ms = 1700000000000;
		b.interval_ms = 1000;
		b.container_id = "fuzz";
		b.records = f.recs;
		b.nrecords = f.n;
		struct mb_buf out = {0};
		char err[256];
		/* Whatever the parser let through must be valid on the wire. */
		if (mb_batch_encode(&b, &out) != 0)
			abort();
		if (mb_batch_decode(out.data, out.len, &d, err, sizeof err) != 0)
			abort();
		mb_batch_free(&d);
		mb_buf_free(&out);
	}
	/* Each input is its own interval; series are forgotten so memory stays flat. */
	shim_agg_flush_done(agg, &f, SHIM_IDLE_MS);
	shim_flush_free(&f);
	return 0;
}
