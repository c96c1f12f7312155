/* examples_test.c: schemas/v1/examples against tests/unit/examples.h: every file decodes to
 * its struct, every struct encodes to the file's bytes, and every .json is current. */
#include "../tests/unit/examples.h"
#include "../tests/unit/msgeq.h"
#include "../tests/unit/mbtest.h"

#include <stdlib.h>

#define EXDIR "schemas/v1/examples"

static int slurp(const char *path, struct mb_buf *b)
{
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (mb_buf_append(b, chunk, n) != 0)
			break;
	fclose(f);
	return 0;
}

static bool decode_matches(const struct mb_example *e, const struct mb_buf *b)
{
	char err[256] = "";
	bool ok = false;
	int rv;
	switch (e->type) {
	case EX_BATCH: {
		struct mb_batch d;
		if ((rv = mb_batch_decode(b->data, b->len, &d, err, sizeof err)) == 0) {
			ok = eq_batch(&d, e->msg);
			mb_batch_free(&d);
		}
		break;
	}
	case EX_ACK: {
		struct mb_ack d;
		if ((rv = mb_ack_decode(b->data, b->len, &d, err, sizeof err)) == 0)
			ok = eq_ack(&d, e->msg);
		break;
	}
	case EX_QUERY: {
		struct mb_query d;
		if ((rv = mb_query_decode(b->data, b->len, &d, err, sizeof err)) == 0) {
			ok = eq_query(&d, e->msg);
			mb_query_free(&d);
		}
		break;
	}
	default: {
		const struct mb_reply *r = e->msg;
		struct mb_reply d;
		if ((rv = mb_reply_decode(b->data, b->len, r->op, &d, err, sizeof err)) == 0) {
			ok = eq_reply(&d, r);
			mb_reply_free(&d);
		}
		break;
	}
	}
	if (rv)
		fprintf(stderr, "  %s: decode: %s: %s\n", e->name, mb_strerror(rv), err);
	else if (!ok)
		fprintf(stderr, "  %s: decoded fields differ from examples.h\n", e->name);
	return ok;
}

MB_TEST(examples_decode_to_their_structs)
{
	for (int i = 0; i < MB_NEXAMPLES; i++) {
		struct mb_buf b = {0};
		char path[256];
		snprintf(path, sizeof path, EXDIR "/%s.msgpack", mb_examples[i].name);
		if (slurp(path, &b) != 0) {
			fprintf(stderr, "  %s: missing (run from the repository root)\n", path);
			CHECK(0);
			continue;
		}
		CHECK(decode_matches(&mb_examples[i], &b));
		mb_buf_free(&b);
	}
}

MB_TEST(examples_encode_to_their_bytes)
{
	for (int i = 0; i < MB_NEXAMPLES; i++) {
		struct mb_buf b = {0}, f = {0};
		char path[256];
		snprintf(path, sizeof path, EXDIR "/%s.msgpack", mb_examples[i].name);
		CHECK_EQ_INT(ex_encode(&mb_examples[i], &b), 0);
		CHECK_EQ_INT(slurp(path, &f), 0);
		if (b.len != f.len || memcmp(b.data, f.data, b.len) != 0) {
			fprintf(stderr, "  %s differs from the encoding of its struct "
			        "(build/bin/tools/mkexamples " EXDIR " tests/fuzz/corpus)\n", path);
			CHECK(0);
		}
		mb_buf_free(&b);
		mb_buf_free(&f);
	}
}

MB_TEST(examples_json_is_current)
{
	for (int i = 0; i < MB_NEXAMPLES; i++) {
		struct mb_buf b = {0}, j = {0}, f = {0};
		char path[256];
		snprintf(path, sizeof path, EXDIR "/%s.json", mb_examples[i].name);
		CHECK_EQ_INT(ex_encode(&mb_examples[i], &b), 0);
		CHECK_EQ_INT(ex_json(b.data, b.len, &j), 0);
		CHECK_EQ_INT(slurp(path, &f), 0);
		if (j.len != f.len || memcmp(j.data, f.data, j.len) != 0) {
			fprintf(stderr, "  %s is not current (build/bin/tools/mkexamples " EXDIR ")\n",
			        path);
			CHECK(0);
		}
		mb_buf_free(&b);
		mb_buf_free(&j);
		mb_buf_free(&f);
	}
}

MB_TEST(examples_cover_every_op_and_message)
{
	unsigned qops = 0, rops = 0, acks = 0, types = 0;
	bool r204 = false, r404 = false, rnull = false, stop = false, sketch = false, hll = false;
	for (int i = 0; i < MB_NEXAMPLES; i++) {
		const struct mb_example *e = &mb_examples[i];
		types |= 1u << e->type;
		if (e->type == EX_QUERY)
			qops |= 1u << ((const struct mb_query *)e->msg)->op;
		if (e->type == EX_ACK)
			acks |= 1u << ((const struct mb_ack *)e->msg)->status;
		if (e->type == EX_REPLY) {
			const struct mb_reply *r = e->msg;
			if (r->status == 200)
				rops |= 1u << r->op;
			r204 |= r->status == 204;
			r404 |= r->status == 404;
			for (uint32_t k = 0; r->op == MB_OP_RANGE && k < r->nrange; k++)
				rnull |= isnan(r->range_v[k]);
		}
		if (e->type == EX_BATCH) {
			const struct mb_batch *b = e->msg;
			stop |= b->stopped;
			for (uint32_t k = 0; k < b->nrecords; k++) {
				sketch |= mb_kind_is_timer(b->records[k].kind) &&
				          mb_sketch_count(&b->records[k].sketch) > 0;
				hll |= b->records[k].kind == MB_SET;
			}
		}
	}
	CHECK_EQ_INT(types, 0xf);
	CHECK_EQ_INT(qops, 0x1ff);
	CHECK_EQ_INT(rops, 0x1ff);
	CHECK_EQ_INT(acks, 0xf);
	CHECK(r204 && r404 && rnull && stop && sketch && hll);
}
