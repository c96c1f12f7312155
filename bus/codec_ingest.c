/* codec_ingest.c: the ingest messages of schemas/v1 sections 1-2: batch (with its records,
 * sketches and HyperLogLogs) and ack; and mb_record_size, which must match the encoder. */
#include "codec.h"

#include <stdio.h>
#include <string.h>

#define MAX_IV 86400000u

static uint32_t rec_len(int kind)
{
	if (kind == MB_SET)
		return 5;
	if (mb_kind_is_timer(kind))
		return 9;
	return 4;
}

size_t mb_record_size(const struct mb_record *r)
{
	size_t z = 1 + 1 + mb_sz_str(r->name ? strlen(r->name) : 0) + mb_sz_tags(r->ntags, r->tags);
	if (r->kind == MB_SET) {
		size_t h = 0;
		if (r->hll)
			h = mb_hll_encoded_len(r->hll);
		z += mb_sz_uint(r->set_count) + mb_sz_bin(h);
	} else if (mb_kind_is_timer(r->kind)) {
		z += 5 * MB_SZ_F64 + mb_sz_sketch(&r->sketch);
	} else {
		z += MB_SZ_F64;
	}
	return z;
}

static size_t side_span(const uint64_t *b, uint32_t n)
{
	uint32_t first = 0, last = n;
	while (first < n && !b[first])
		first++;
	while (last > first && !b[last - 1])
		last--;
	return last - first;
}

size_t mb_record_decoded_size(const struct mb_record *r)
{
	if (r->kind == MB_SET)
		return sizeof(struct mb_hll);
	if (!mb_kind_is_timer(r->kind))
		return 0;
	return 8 * (side_span(r->sketch.pos, r->sketch.pos_n) +
	            side_span(r->sketch.neg, r->sketch.neg_n));
}

static int wr_record(msgpack_packer *pk, const struct mb_record *r)
{
	int rv;
	if (r->kind >= MB_NKINDS)
		return MB_EINVAL;
	if ((rv = mb_wr_array(pk, rec_len(r->kind))) != 0 || (rv = mb_wr_u64(pk, r->kind)) != 0 ||
	    (rv = mb_wr_name(pk, r->name, MB_MAX_NAME)) != 0 ||
	    (rv = mb_wr_tags(pk, r->ntags, r->tags)) != 0)
		return rv;
	if (r->kind == MB_SET) {
		struct mb_hll empty;
		if (!r->hll)
			memset(&empty, 0, sizeof empty);
		if ((rv = mb_wr_u64(pk, r->set_count)) != 0 ||
		    (rv = mb_wr_hll(pk, r->hll ? r->hll : &empty)) != 0)
			return rv;
	} else if (mb_kind_is_timer(r->kind)) {
		if (!(r->count >= 0) || !(r->sumsq >= 0) || (r->count > 0 && !(r->min <= r->max)))
			return MB_EINVAL;
		if ((rv = mb_wr_f64(pk, r->count)) != 0 || (rv = mb_wr_f64(pk, r->sum)) != 0 ||
		    (rv = mb_wr_f64(pk, r->sumsq)) != 0 || (rv = mb_wr_f64(pk, r->min)) != 0 ||
		    (rv = mb_wr_f64(pk, r->max)) != 0 || (rv = mb_wr_sketch(pk, &r->sketch)) != 0)
			return rv;
	} else {
		if ((rv = mb_wr_f64(pk, r->value)) != 0)
			return rv;
	}
	return 0;
}

int mb_batch_encode(const struct mb_batch *b, struct mb_buf *out)
{
	msgpack_packer pk;
	size_t start = out->len;
	int rv;

	if (b->instance == 0 || b->seq == 0 || b->time_ms <= 0 || b->interval_ms == 0 ||
	    b->interval_ms > MAX_IV || b->nrecords > MB_MAX_RECORDS || (b->nrecords && !b->records))
		return MB_EINVAL;
	mb_wr_init(&pk, out);
	if ((rv = mb_wr_map(&pk, b->stopped ? 9 : 8)) != 0 ||
	    (rv = mb_wr_raw_str(&pk, "v", 1)) != 0 ||
	    (rv = mb_wr_u64(&pk, b->version ? b->version : MB_SCHEMA_VERSION)) != 0 ||
	    (rv = mb_wr_raw_str(&pk, "inst", 4)) != 0 || (rv = mb_wr_u64(&pk, b->instance)) != 0 ||
	    (rv = mb_wr_raw_str(&pk, "seq", 3)) != 0 || (rv = mb_wr_u64(&pk, b->seq)) != 0 ||
	    (rv = mb_wr_raw_str(&pk, "t", 1)) != 0 || (rv = mb_wr_i64(&pk, b->time_ms)) != 0 ||
	    (rv = mb_wr_raw_str(&pk, "iv", 2)) != 0 || (rv = mb_wr_u64(&pk, b->interval_ms)) != 0 ||
	    (rv = mb_wr_raw_str(&pk, "cid", 3)) != 0 ||
	    (rv = mb_wr_name(&pk, b->container_id, MB_MAX_NAME)) != 0 ||
	    (rv = mb_wr_raw_str(&pk, "dims", 4)) != 0 ||
	    (rv = mb_wr_dims(&pk, b->ndims, b->dims)) != 0 ||
	    (rv = mb_wr_raw_str(&pk, "recs", 4)) != 0 || (rv = mb_wr_array(&pk, b->nrecords)) != 0)
		goto fail;
	for (uint32_t i = 0; i < b->nrecords; i++)
		if ((rv = wr_record(&pk, &b->records[i])) != 0)
			goto fail;
	if (b->stopped &&
	    ((rv = mb_wr_raw_str(&pk, "stop", 4)) != 0 || (rv = mb_wr_bool(&pk, true)) != 0))
		goto fail;
	if (out->len - start > MB_MAX_MSG) {
		rv = MB_ETOOBIG;
		goto fail;
	}
	return 0;
fail:
	out->len = start;
	return rv;
}

static int rd_record(struct mb_dec *d, const msgpack_object *o, uint32_t i, struct mb_record *r)
{
	const char *rp = "recs[#]", *fp = "recs[#].";
	const msgpack_object *it;
	uint32_t n;
	uint64_t kind;
	int rv;

	d->idx = i;
	if ((rv = mb_rd_array(d, o, rp, "", 4, 9, &it, &n)) != 0)
		return mb_dec_fail(d, rv, rp, "", "not an array of 4..9 elements");
	if (it[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || it[0].via.u64 >= MB_NKINDS)
		return mb_dec_fail(d, MB_EINVAL, fp, "kind", "not a kind 0..6");
	kind = it[0].via.u64;
	if (n != rec_len((int)kind))
		return mb_dec_fail(d, MB_EINVAL, rp, "", "%u elements, want %u for %s", n,
		                   rec_len((int)kind), mb_kind_name((int)kind));
	r->kind = (uint8_t)kind;
	if ((rv = mb_rd_name(d, &it[1], fp, "name", MB_MAX_NAME, &r->name)) != 0 ||
	    (rv = mb_rd_tags(d, &it[2], fp, "tags", &r->ntags, &r->tags)) != 0)
		return rv;
	if (kind == MB_SET) {
		if ((rv = mb_rd_u64(d, &it[3], fp, "count", UINT64_MAX, &r->set_count)) != 0 ||
		    (rv = mb_rd_hll(d, &it[4], fp, "hll", &r->hll)) != 0)
			return rv;
	} else if (mb_kind_is_timer((int)kind)) {
		if ((rv = mb_rd_f64(d, &it[3], fp, "count", &r->count)) != 0 ||
		    (rv = mb_rd_f64(d, &it[4], fp, "sum", &r->sum)) != 0 ||
		    (rv = mb_rd_f64(d, &it[5], fp, "sumsq", &r->sumsq)) != 0 ||
		    (rv = mb_rd_f64(d, &it[6], fp, "min", &r->min)) != 0 ||
		    (rv = mb_rd_f64(d, &it[7], fp, "max", &r->max)) != 0)
			return rv;
		if (r->count < 0)
			return mb_dec_fail(d, MB_EINVAL, fp, "count", "negative");
		if (r->sumsq < 0)
			return mb_dec_fail(d, MB_EINVAL, fp, "sumsq", "negative");
		if (r->count > 0 && r->min > r->max)
			return mb_dec_fail(d, MB_EINVAL, fp, "min", "greater than max");
		if ((rv = mb_rd_sketch(d, &it[8], fp, "sketch", &r->sketch)) != 0)
			return rv;
	} else {
		if ((rv = mb_rd_f64(d, &it[3], fp, "value", &r->value)) != 0)
			return rv;
	}
	return 0;
}

static void free_records(struct mb_record *r, uint32_t n)
{
	for (uint32_t i = 0; r && i < n; i++)
		if (mb_kind_is_timer(r[i].kind))
			mb_sketch_free(&r[i].sketch);
}

enum { B_V, B_INST, B_SEQ, B_T, B_IV, B_CID, B_DIMS, B_RECS, B_STOP, B_N };
static const char *const batch_keys[B_N] = {"v", "inst", "seq", "t", "iv", "cid", "dims",
                                            "recs", "stop"};

int mb_batch_decode(const void *p, size_t n, struct mb_batch *out, char *err, size_t errlen)
{
	msgpack_unpacked u;
	const msgpack_object *f[B_N], *recs;
	struct mb_dec d = {&out->arena, err, errlen, MB_DECODE_BUDGET, 0};
	uint32_t nrec = 0, done = 0;
	uint64_t x;
	int rv;

	memset(out, 0, sizeof *out);
	if ((rv = mb_dec_open(&d, p, n, MB_MAX_MSG, &u, "batch", batch_keys, B_N, f)) != 0)
		goto fail;
	/* the version decides how to read the rest, and what agentd answers */
	if ((rv = mb_rd_version(&d, f[B_V], &out->version)) != 0) {
		if (f[B_V] && f[B_V]->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		    f[B_V]->via.u64 <= UINT32_MAX)
			out->version = (uint32_t)f[B_V]->via.u64;
		if (f[B_SEQ] && f[B_SEQ]->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			out->seq = f[B_SEQ]->via.u64;
		if (f[B_INST] && f[B_INST]->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			out->instance = f[B_INST]->via.u64;
		goto fail;
	}
	if ((rv = mb_rd_need(&d, f[B_INST], "", "inst")) != 0 ||
	    (rv = mb_rd_u64(&d, f[B_INST], "", "inst", UINT64_MAX, &out->instance)) != 0)
		goto fail;
	if (out->instance == 0) {
		rv = mb_dec_fail(&d, MB_EINVAL, "", "inst", "0");
		goto fail;
	}
	if ((rv = mb_rd_need(&d, f[B_SEQ], "", "seq")) != 0 ||
	    (rv = mb_rd_u64(&d, f[B_SEQ], "", "seq", UINT64_MAX, &out->seq)) != 0)
		goto fail;
	if (out->seq == 0) {
		rv = mb_dec_fail(&d, MB_EINVAL, "", "seq", "0");
		goto fail;
	}
	if ((rv = mb_rd_need(&d, f[B_T], "", "t")) != 0 ||
	    (rv = mb_rd_i64(&d, f[B_T], "", "t", 1, INT64_MAX, &out->time_ms)) != 0 ||
	    (rv = mb_rd_need(&d, f[B_IV], "", "iv")) != 0 ||
	    (rv = mb_rd_u64(&d, f[B_IV], "", "iv", MAX_IV, &x)) != 0)
		goto fail;
	if (x == 0) {
		rv = mb_dec_fail(&d, MB_EINVAL, "", "iv", "0");
		goto fail;
	}
	out->interval_ms = (uint32_t)x;
	if ((rv = mb_rd_need(&d, f[B_CID], "", "cid")) != 0 ||
	    (rv = mb_rd_name(&d, f[B_CID], "", "cid", MB_MAX_NAME, &out->container_id)) != 0 ||
	    (rv = mb_rd_need(&d, f[B_DIMS], "", "dims")) != 0 ||
	    (rv = mb_rd_dims(&d, f[B_DIMS], "", "dims", &out->ndims, &out->dims)) != 0 ||
	    (rv = mb_rd_need(&d, f[B_RECS], "", "recs")) != 0 ||
	    (rv = mb_rd_array(&d, f[B_RECS], "", "recs", 0, MB_MAX_RECORDS, &recs, &nrec)) != 0)
		goto fail;
	if (f[B_STOP] && (rv = mb_rd_bool(&d, f[B_STOP], "", "stop", &out->stopped)) != 0)
		goto fail;
	if (nrec) {
		out->records = mb_arena_alloc(&out->arena, nrec * sizeof *out->records);
		if (!out->records) {
			rv = mb_dec_fail(&d, MB_ENOMEM, "", "recs", "out of memory");
			goto fail;
		}
	}
	for (; done < nrec; done++)
		if ((rv = rd_record(&d, &recs[done], done, &out->records[done])) != 0)
			goto fail;
	out->nrecords = nrec;
	msgpack_unpacked_destroy(&u);
	return 0;
fail:
	free_records(out->records, done + 1 <= nrec ? done + 1 : nrec);
	msgpack_unpacked_destroy(&u);
	mb_arena_free(&out->arena);
	{
		uint32_t v = out->version;
		uint64_t inst = out->instance, seq = out->seq;
		memset(out, 0, sizeof *out);
		out->version = v, out->instance = inst, out->seq = seq;
	}
	return rv;
}

void mb_batch_free(struct mb_batch *b)
{
	free_records(b->records, b->nrecords);
	mb_arena_free(&b->arena);
	memset(b, 0, sizeof *b);
}

int mb_ack_encode(const struct mb_ack *a, struct mb_buf *out)
{
	msgpack_packer pk;
	size_t start = out->len;
	size_t elen = strnlen(a->err, sizeof a->err);
	int rv;

	if (a->status > MB_ACK_RETRY || elen > MB_MAX_ERR || mb_bad_text(a->err, elen, 0, MB_MAX_ERR))
		return MB_EINVAL;
	mb_wr_init(&pk, out);
	if ((rv = mb_wr_map(&pk, elen ? 4 : 3)) != 0 || (rv = mb_wr_raw_str(&pk, "v", 1)) != 0 ||
	    (rv = mb_wr_u64(&pk, MB_SCHEMA_VERSION)) != 0 ||
	    (rv = mb_wr_raw_str(&pk, "seq", 3)) != 0 || (rv = mb_wr_u64(&pk, a->seq)) != 0 ||
	    (rv = mb_wr_raw_str(&pk, "st", 2)) != 0 || (rv = mb_wr_u64(&pk, a->status)) != 0)
		goto fail;
	if (elen &&
	    ((rv = mb_wr_raw_str(&pk, "err", 3)) != 0 || (rv = mb_wr_raw_str(&pk, a->err, elen)) != 0))
		goto fail;
	return 0;
fail:
	out->len = start;
	return rv;
}

enum { A_V, A_SEQ, A_ST, A_ERR, A_N };
static const char *const ack_keys[A_N] = {"v", "seq", "st", "err"};

int mb_ack_decode(const void *p, size_t n, struct mb_ack *out, char *err, size_t errlen)
{
	msgpack_unpacked u;
	const msgpack_object *f[A_N];
	struct mb_arena arena = {0};
	struct mb_dec d = {&arena, err, errlen, 0, 0};
	uint32_t v;
	uint64_t x;
	const char *e = NULL;
	int rv;

	memset(out, 0, sizeof *out);
	if ((rv = mb_dec_open(&d, p, n, MB_MAX_MSG, &u, "ack", ack_keys, A_N, f)) != 0)
		goto out;
	if ((rv = mb_rd_version(&d, f[A_V], &v)) != 0 ||
	    (rv = mb_rd_need(&d, f[A_SEQ], "", "seq")) != 0 ||
	    (rv = mb_rd_u64(&d, f[A_SEQ], "", "seq", UINT64_MAX, &out->seq)) != 0 ||
	    (rv = mb_rd_need(&d, f[A_ST], "", "st")) != 0 ||
	    (rv = mb_rd_u64(&d, f[A_ST], "", "st", MB_ACK_RETRY, &x)) != 0)
		goto out;
	out->status = (uint32_t)x;
	if (f[A_ERR]) {
		if ((rv = mb_rd_text(&d, f[A_ERR], "", "err", 0, MB_MAX_ERR, &e)) != 0)
			goto out;
		memcpy(out->err, e, strlen(e) + 1);
	}
out:
	if (rv) {
		uint64_t seq = out->seq;
		memset(out, 0, sizeof *out);
		out->seq = seq;
	}
	msgpack_unpacked_destroy(&u);
	mb_arena_free(&arena);
	return rv;
}
