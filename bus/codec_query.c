/* codec_query.c: the query messages of schemas/v1 sections 3-4: query requests and their
 * replies, whose fields depend on the op (the reply does not carry it: the caller knows). */
#include "codec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIR 4095
#define MAX_UNIT 32
#define MAX_REPLY_ERR 1024
/* A point's name is a record's name plus a derived suffix (".stddev", ".rate", ".p999"). */
#define MAX_POINT_NAME (MB_MAX_NAME + 16)
#define NOPS 9

/* ------------------------------------------------------------------ query */
enum { Q_V, Q_OP, Q_SRC, Q_NAME, Q_FROM, Q_TO, Q_STEP, Q_STAT, Q_TAGS, Q_HIST, Q_DIR, Q_N };
static const char *const query_keys[Q_N] = {"v",    "op",   "src",  "name", "from", "to",
                                            "step", "stat", "tags", "hist", "dir"};
#define B(k) (1u << (k))
/* fields each op requires, and those it may carry */
static const unsigned q_need[NOPS] = {
	[MB_OP_CONTAINER] = B(Q_SRC),
	[MB_OP_APP] = B(Q_SRC),
	[MB_OP_RANGE] = B(Q_SRC) | B(Q_NAME) | B(Q_FROM) | B(Q_TO) | B(Q_STEP) | B(Q_STAT),
	[MB_OP_SERIES] = B(Q_SRC),
	[MB_OP_BACKUP] = B(Q_DIR),
};
static const unsigned q_opt[NOPS] = {
	[MB_OP_APP] = B(Q_NAME),
	[MB_OP_RANGE] = B(Q_TAGS),
	[MB_OP_EXPORT] = B(Q_HIST),
};

static int wr_key(msgpack_packer *pk, const char *k)
{
	return mb_wr_raw_str(pk, k, strlen(k));
}

static int q_fields(const struct mb_query *q)
{
	unsigned f = q_need[q->op];
	if (q->op == MB_OP_APP && q->name)
		f |= B(Q_NAME);
	if (q->op == MB_OP_RANGE && q->ntags)
		f |= B(Q_TAGS);
	if (q->op == MB_OP_EXPORT && q->hist)
		f |= B(Q_HIST);
	return (int)f;
}

int mb_query_encode(const struct mb_query *q, struct mb_buf *out)
{
	msgpack_packer pk;
	size_t start = out->len;
	int rv;

	if (q->op < 0 || q->op >= NOPS)
		return MB_EINVAL;
	unsigned f = (unsigned)q_fields(q);
	if (f & B(Q_STEP) && q->step_ms < 0)
		return MB_EINVAL;
	if (f & B(Q_STAT) && (q->stat < 0 || q->stat >= MB_NSTATS))
		return MB_EINVAL;
	if (f & B(Q_DIR) && (!q->dir || q->dir[0] != '/'))
		return MB_EINVAL;
	mb_wr_init(&pk, out);
	if ((rv = mb_wr_map(&pk, 2 + (size_t)__builtin_popcount(f))) != 0 ||
	    (rv = wr_key(&pk, "v")) != 0 ||
	    (rv = mb_wr_u64(&pk, q->version ? q->version : MB_SCHEMA_VERSION)) != 0 ||
	    (rv = wr_key(&pk, "op")) != 0 || (rv = wr_key(&pk, mb_op_name(q->op))) != 0)
		goto fail;
	for (int k = Q_SRC; k < Q_N; k++) {
		if (!(f & B(k)))
			continue;
		if ((rv = wr_key(&pk, query_keys[k])) != 0)
			goto fail;
		switch (k) {
		case Q_SRC: rv = mb_wr_name(&pk, q->source, MB_MAX_NAME); break;
		case Q_NAME: rv = mb_wr_name(&pk, q->name, MB_MAX_NAME); break;
		case Q_FROM: rv = mb_wr_i64(&pk, q->from_ms); break;
		case Q_TO: rv = mb_wr_i64(&pk, q->to_ms); break;
		case Q_STEP: rv = mb_wr_i64(&pk, q->step_ms); break;
		case Q_STAT: rv = wr_key(&pk, mb_stat_name(q->stat)); break;
		case Q_TAGS: rv = mb_wr_tags(&pk, q->ntags, q->tags); break;
		case Q_HIST: rv = mb_wr_bool(&pk, q->hist); break;
		case Q_DIR: rv = mb_wr_text(&pk, q->dir, 1, MAX_DIR); break;
		}
		if (rv)
			goto fail;
	}
	if (out->len - start > MB_MAX_MSG) {
		rv = MB_ETOOBIG;
		goto fail;
	}
	return 0;
fail:
	out->len = start;
	return rv;
}

static int rd_stat(struct mb_dec *d, const msgpack_object *o, const char *field, int *stat)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return mb_dec_fail(d, MB_EINVAL, "", field, "not a string");
	if (mb_stat_parse_n(o->via.str.ptr, o->via.str.size, stat) != 0)
		return mb_dec_fail(d, MB_EINVAL, "", field, "not one of mean min max sum count "
		                   "last p50 p90 p95 p99 p999");
	return 0;
}

/* Checks present fields against the op's needed and allowed sets. */
static int check_fields(struct mb_dec *d, const msgpack_object **f, int first, int n,
                        const char *const *keys, unsigned need, unsigned opt, const char *opname)
{
	for (int k = first; k < n; k++) {
		if (f[k] && !((need | opt) & B(k)))
			return mb_dec_fail(d, MB_EINVAL, "", keys[k], "not a field of %s", opname);
		if (!f[k] && (need & B(k)))
			return mb_dec_fail(d, MB_EINVAL, "", keys[k], "missing");
	}
	return 0;
}

int mb_query_decode(const void *p, size_t n, struct mb_query *out, char *err, size_t errlen)
{
	msgpack_unpacked u;
	const msgpack_object *f[Q_N];
	struct mb_dec d = {&out->arena, err, errlen, 0, 0};
	int rv;

	memset(out, 0, sizeof *out);
	if ((rv = mb_dec_open(&d, p, n, MB_MAX_MSG, &u, "query", query_keys, Q_N, f)) != 0)
		goto fail;
	if ((rv = mb_rd_version(&d, f[Q_V], &out->version)) != 0 ||
	    (rv = mb_rd_need(&d, f[Q_OP], "", "op")) != 0)
		goto fail;
	if (f[Q_OP]->type != MSGPACK_OBJECT_STR ||
	    mb_op_parse_n(f[Q_OP]->via.str.ptr, f[Q_OP]->via.str.size, &out->op) != 0) {
		rv = mb_dec_fail(&d, MB_EINVAL, "", "op", "unknown op");
		goto fail;
	}
	if ((rv = check_fields(&d, f, Q_SRC, Q_N, query_keys, q_need[out->op], q_opt[out->op],
	                       mb_op_name(out->op))) != 0)
		goto fail;
	if (f[Q_SRC] && (rv = mb_rd_name(&d, f[Q_SRC], "", "src", MB_MAX_NAME, &out->source)))
		goto fail;
	if (f[Q_NAME] && (rv = mb_rd_name(&d, f[Q_NAME], "", "name", MB_MAX_NAME, &out->name)))
		goto fail;
	if (f[Q_FROM] && (rv = mb_rd_i64(&d, f[Q_FROM], "", "from", INT64_MIN, INT64_MAX,
	                                 &out->from_ms)))
		goto fail;
	if (f[Q_TO] &&
	    (rv = mb_rd_i64(&d, f[Q_TO], "", "to", INT64_MIN, INT64_MAX, &out->to_ms)))
		goto fail;
	if (f[Q_STEP] &&
	    (rv = mb_rd_i64(&d, f[Q_STEP], "", "step", 0, INT64_MAX, &out->step_ms)))
		goto fail;
	if (f[Q_STAT] && (rv = rd_stat(&d, f[Q_STAT], "stat", &out->stat)))
		goto fail;
	if (f[Q_TAGS] && (rv = mb_rd_tags(&d, f[Q_TAGS], "", "tags", &out->ntags, &out->tags)))
		goto fail;
	if (f[Q_HIST] && (rv = mb_rd_bool(&d, f[Q_HIST], "", "hist", &out->hist)))
		goto fail;
	if (f[Q_DIR]) {
		if ((rv = mb_rd_text(&d, f[Q_DIR], "", "dir", 1, MAX_DIR, &out->dir)) != 0)
			goto fail;
		if (out->dir[0] != '/') {
			rv = mb_dec_fail(&d, MB_EINVAL, "", "dir", "not an absolute path");
			goto fail;
		}
	}
	msgpack_unpacked_destroy(&u);
	return 0;
fail:
	msgpack_unpacked_destroy(&u);
	mb_arena_free(&out->arena);
	memset(out, 0, sizeof *out);
	return rv;
}

void mb_query_free(struct mb_query *q)
{
	mb_arena_free(&q->arena);
	memset(q, 0, sizeof *q);
}

/* ------------------------------------------------------------------ reply */
enum {
	R_V, R_ST, R_ERR, R_T, R_NODE, R_DIMS, R_PTS, R_IDS, R_NAME, R_SRC, R_STEP, R_STAT,
	R_SRCS, R_SERIES, R_PATH, R_BYTES, R_N
};
static const char *const reply_keys[R_N] = {"v",    "st",   "err",  "t",      "node", "dims",
                                            "pts",  "ids",  "name", "src",    "step", "stat",
                                            "srcs", "series", "path", "bytes"};
static const unsigned r_fields[NOPS] = {
	[MB_OP_PING] = B(R_T) | B(R_NODE),
	[MB_OP_NODE] = B(R_DIMS) | B(R_PTS),
	[MB_OP_CONTAINERS] = B(R_IDS),
	[MB_OP_CONTAINER] = B(R_DIMS) | B(R_PTS),
	[MB_OP_APP] = B(R_DIMS) | B(R_PTS),
	[MB_OP_RANGE] = B(R_NAME) | B(R_SRC) | B(R_STEP) | B(R_STAT) | B(R_PTS),
	[MB_OP_SERIES] = B(R_SERIES),
	[MB_OP_EXPORT] = B(R_SRCS) | B(R_SERIES),
	[MB_OP_BACKUP] = B(R_PATH) | B(R_BYTES),
};
/* Optional fields of a 200: a ping's ids (revision 1.2) only when agentd answers to more than
 * one id, so a one-id node's ping reads the same to a decoder from before them. */
static const unsigned r_opt[NOPS] = {
	[MB_OP_PING] = B(R_IDS),
};

static bool status_ok(uint64_t st)
{
	return st == 200 || st == 204 || (st >= 400 && st <= 599);
}

/* A point written directly (a /app answer is thousands): checked as the packer helpers check,
 * then stored in one reserved stretch. */
static int wr_point(msgpack_packer *pk, const struct mb_point *p)
{
	const char *unit = p->unit ? p->unit : "";
	size_t nl, ul, tl;
	uint8_t *w;
	int rv;
	if (!p->name || !isfinite(p->value))
		return MB_EINVAL;
	nl = strlen(p->name);
	ul = strlen(unit);
	if (mb_bad_name(p->name, nl, MAX_POINT_NAME) || mb_bad_text(unit, ul, 0, MAX_UNIT))
		return MB_EINVAL;
	if ((rv = mb_kvs_check(p->ntags, p->tags, false, &tl)) != 0)
		return rv;
	if ((w = mb_wr_room(pk, 1 + mb_sz_str(nl) + MB_SZ_F64 + mb_sz_str(ul) + 9 + tl)) == NULL)
		return MB_ENOMEM;
	w = mb_put_hdr(w, 0x90, 5);
	w = mb_put_str(w, p->name, nl);
	w = mb_put_f64(w, p->value);
	w = mb_put_str(w, unit, ul);
	w = mb_put_int(w, p->time_ms);
	mb_wr_done(pk, mb_put_kvs(w, p->ntags, p->tags));
	return 0;
}

/* An export item, directly as wr_point; its running sketch (rare: hist) through the packer. */
static int wr_item(msgpack_packer *pk, const struct mb_reply *r, const struct mb_export_item *e)
{
	const char *unit = e->unit ? e->unit : "";
	size_t nl, ul, tl;
	uint8_t *w;
	int rv;
	if (e->src >= r->nsrcs || e->kind >= MB_NKINDS || !e->name)
		return MB_EINVAL;
	nl = strlen(e->name);
	ul = strlen(unit);
	if (mb_bad_name(e->name, nl, MB_MAX_NAME) || mb_bad_text(unit, ul, 0, MAX_UNIT))
		return MB_EINVAL;
	const double f[4] = {e->value, e->total, e->count, e->sum};
	for (int i = 0; i < 4; i++)
		if (!isfinite(f[i]))
			return MB_EINVAL;
	for (int i = 0; e->has_q && i < MB_EXPORT_NQ; i++)
		if (!isfinite(e->q[i]))
			return MB_EINVAL;
	if ((rv = mb_kvs_check(e->ntags, e->tags, false, &tl)) != 0)
		return rv;
	size_t z = 1 + 9 + mb_sz_str(nl) + 1 + mb_sz_str(ul) + tl + 9 + 4 * MB_SZ_F64 +
	           1 + MB_EXPORT_NQ * MB_SZ_F64 + 1;
	if ((w = mb_wr_room(pk, z)) == NULL)
		return MB_ENOMEM;
	w = mb_put_hdr(w, 0x90, 12);
	w = mb_put_uint(w, e->src);
	w = mb_put_str(w, e->name, nl);
	w = mb_put_uint(w, e->kind);
	w = mb_put_str(w, unit, ul);
	w = mb_put_kvs(w, e->ntags, e->tags);
	w = mb_put_int(w, e->time_ms);
	for (int i = 0; i < 4; i++)
		w = mb_put_f64(w, f[i]);
	if (e->has_q) {
		w = mb_put_hdr(w, 0x90, MB_EXPORT_NQ);
		for (int i = 0; i < MB_EXPORT_NQ; i++)
			w = mb_put_f64(w, e->q[i]);
	} else {
		*w++ = 0xc0; /* nil */
	}
	if (!e->running) {
		*w++ = 0xc0;
		mb_wr_done(pk, w);
		return 0;
	}
	mb_wr_done(pk, w);
	return mb_wr_sketch(pk, e->running);
}

static int wr_reply_field(msgpack_packer *pk, const struct mb_reply *r, int k)
{
	int rv = 0;
	switch (k) {
	case R_T:
		return mb_wr_i64(pk, r->time_ms);
	case R_NODE:
		return mb_wr_text(pk, r->node ? r->node : "", 0, MB_MAX_NAME);
	case R_DIMS:
		return mb_wr_dims(pk, r->ndims, r->dims);
	case R_PTS:
		if (r->op == MB_OP_RANGE) {
			if (r->nrange > MB_MAX_RANGE_POINTS || (r->nrange && (!r->range_t || !r->range_v)))
				return MB_EINVAL;
			if ((rv = mb_wr_array(pk, r->nrange)) != 0)
				return rv;
			for (uint32_t i = 0; i < r->nrange; i++) {
				double v = r->range_v[i];
				if ((rv = mb_wr_array(pk, 2)) != 0 ||
				    (rv = mb_wr_i64(pk, r->range_t[i])) != 0 ||
				    (rv = isnan(v) ? mb_wr_nil(pk) : mb_wr_f64(pk, v)) != 0)
					return rv;
			}
			return 0;
		}
		if (r->npoints && !r->points)
			return MB_EINVAL;
		if ((rv = mb_wr_array(pk, r->npoints)) != 0)
			return rv;
		for (uint32_t i = 0; i < r->npoints; i++)
			if ((rv = wr_point(pk, &r->points[i])) != 0)
				return rv;
		return 0;
	case R_IDS:
		if ((r->nids && !r->ids) || (r->op == MB_OP_PING && (r->nids < 2 || r->nids > MB_MAX_NODE_IDS)))
			return MB_EINVAL;
		if ((rv = mb_wr_array(pk, r->nids)) != 0)
			return rv;
		for (uint32_t i = 0; i < r->nids; i++)
			if ((rv = mb_wr_name(pk, r->ids[i], MB_MAX_NAME)) != 0)
				return rv;
		return 0;
	case R_NAME:
		return mb_wr_name(pk, r->name, MB_MAX_NAME);
	case R_SRC:
		return mb_wr_name(pk, r->source, MB_MAX_NAME);
	case R_STEP:
		return r->step_ms < 0 ? MB_EINVAL : mb_wr_i64(pk, r->step_ms);
	case R_STAT:
		if (r->stat < 0 || r->stat >= MB_NSTATS)
			return MB_EINVAL;
		return wr_key(pk, mb_stat_name(r->stat));
	case R_SERIES:
		if (r->op == MB_OP_EXPORT) {
			if (r->nitems && !r->items)
				return MB_EINVAL;
			if ((rv = mb_wr_array(pk, r->nitems)) != 0)
				return rv;
			for (uint32_t i = 0; i < r->nitems; i++)
				if ((rv = wr_item(pk, r, &r->items[i])) != 0)
					return rv;
			return 0;
		}
		if (r->nseries && !r->series)
			return MB_EINVAL;
		if ((rv = mb_wr_array(pk, r->nseries)) != 0)
			return rv;
		for (uint32_t i = 0; i < r->nseries; i++) {
			const struct mb_series_info *s = &r->series[i];
			if (s->kind >= MB_NKINDS)
				return MB_EINVAL;
			if ((rv = mb_wr_array(pk, 4)) != 0 ||
			    (rv = mb_wr_name(pk, s->name, MB_MAX_NAME)) != 0 ||
			    (rv = mb_wr_u64(pk, s->kind)) != 0 ||
			    (rv = mb_wr_tags(pk, s->ntags, s->tags)) != 0 ||
			    (rv = mb_wr_i64(pk, s->last_ms)) != 0)
				return rv;
		}
		return 0;
	case R_SRCS:
		if (r->nsrcs && !r->srcs)
			return MB_EINVAL;
		if ((rv = mb_wr_array(pk, r->nsrcs)) != 0)
			return rv;
		for (uint32_t i = 0; i < r->nsrcs; i++)
			if ((rv = mb_wr_array(pk, 2)) != 0 ||
			    (rv = mb_wr_name(pk, r->srcs[i].source, MB_MAX_NAME)) != 0 ||
			    (rv = mb_wr_dims(pk, r->srcs[i].ndims, r->srcs[i].dims)) != 0)
				return rv;
		return 0;
	case R_PATH:
		return mb_wr_text(pk, r->path, 1, MAX_DIR);
	case R_BYTES:
		return mb_wr_u64(pk, r->bytes);
	}
	return MB_EINVAL;
}

int mb_reply_encode(const struct mb_reply *r, struct mb_buf *out)
{
	msgpack_packer pk;
	size_t start = out->len;
	int rv;

	if (r->op < 0 || r->op >= NOPS || !status_ok(r->status))
		return MB_EINVAL;
	unsigned f = r->status == 200 ? r_fields[r->op] : 0;
	if (r->status >= 400)
		f |= B(R_ERR);
	if (r->status == 200 && (r_opt[r->op] & B(R_IDS)) && r->nids)
		f |= B(R_IDS);
	mb_wr_init(&pk, out);
	if ((rv = mb_wr_map(&pk, 2 + (size_t)__builtin_popcount(f))) != 0 ||
	    (rv = wr_key(&pk, "v")) != 0 ||
	    (rv = mb_wr_u64(&pk, r->version ? r->version : MB_SCHEMA_VERSION)) != 0 ||
	    (rv = wr_key(&pk, "st")) != 0 || (rv = mb_wr_u64(&pk, r->status)) != 0)
		goto fail;
	if (f & B(R_ERR) && ((rv = wr_key(&pk, "err")) != 0 ||
	                     (rv = mb_wr_text(&pk, r->error, 1, MAX_REPLY_ERR)) != 0))
		goto fail;
	for (int k = R_T; k < R_N; k++) {
		if (!(f & B(k)))
			continue;
		if ((rv = wr_key(&pk, reply_keys[k])) != 0 || (rv = wr_reply_field(&pk, r, k)) != 0)
			goto fail;
	}
	if (out->len - start > MB_MAX_EXPORT_MSG) {
		rv = MB_ETOOBIG;
		goto fail;
	}
	return 0;
fail:
	out->len = start;
	return rv;
}

/* The top-level arrays below are read one row at a time (mb_unpack_top, mb_rd_rows): each
 * reader opens them, fails through "out", and releases them there. */

static int rd_points(struct mb_dec *d, const msgpack_object *o, struct mb_reply *r)
{
	struct mb_elems it;
	const msgpack_object *e;
	const char *pfx = "pts[#].";
	void *mem;
	int rv;
	if ((rv = mb_rd_rows(d, o, "pts", 0, UINT32_MAX, sizeof *r->points, &it, &mem)) != 0)
		goto out;
	r->points = mem;
	for (uint32_t i = 0; i < it.n; i++) {
		struct mb_point *p = &r->points[i];
		if ((rv = mb_rd_tuple(d, &it, "pts", "pts[#]", 5, &e)) != 0)
			goto out;
		if ((rv = mb_rd_name(d, &e[0], pfx, "name", MAX_POINT_NAME, &p->name)) != 0 ||
		    (rv = mb_rd_f64(d, &e[1], pfx, "value", &p->value)) != 0 ||
		    (rv = mb_rd_text(d, &e[2], pfx, "unit", 0, MAX_UNIT, &p->unit)) != 0 ||
		    (rv = mb_rd_i64(d, &e[3], pfx, "t", INT64_MIN, INT64_MAX, &p->time_ms)) != 0 ||
		    (rv = mb_rd_tags(d, &e[4], pfx, "tags", &p->ntags, &p->tags)) != 0)
			goto out;
	}
	r->npoints = it.n;
out:
	mb_elems_done(&it);
	return rv;
}

static int rd_range(struct mb_dec *d, const msgpack_object *o, struct mb_reply *r)
{
	struct mb_elems it;
	const msgpack_object *e;
	const char *pfx = "pts[#].";
	void *mem;
	int rv;
	if ((rv = mb_rd_rows(d, o, "pts", 0, MB_MAX_RANGE_POINTS, sizeof *r->range_t, &it,
	                     &mem)) != 0)
		goto out;
	r->range_t = mem;
	if (it.n && !(r->range_v = mb_arena_alloc(d->arena, it.n * sizeof *r->range_v))) {
		rv = mb_dec_fail(d, MB_ENOMEM, "", "pts", "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < it.n; i++) {
		if ((rv = mb_rd_tuple(d, &it, "pts", "pts[#]", 2, &e)) != 0)
			goto out;
		if ((rv = mb_rd_i64(d, &e[0], pfx, "t", INT64_MIN, INT64_MAX, &r->range_t[i])) != 0)
			goto out;
		if (e[1].type == MSGPACK_OBJECT_NIL)
			r->range_v[i] = NAN;
		else if ((rv = mb_rd_f64(d, &e[1], pfx, "value", &r->range_v[i])) != 0)
			goto out;
	}
	r->nrange = it.n;
out:
	mb_elems_done(&it);
	return rv;
}

static int rd_ids(struct mb_dec *d, const msgpack_object *o, struct mb_reply *r)
{
	struct mb_elems it;
	const msgpack_object *el;
	void *mem;
	int rv;
	bool ping = r->op == MB_OP_PING;
	if ((rv = mb_rd_rows(d, o, "ids", ping ? 2 : 0, ping ? MB_MAX_NODE_IDS : UINT32_MAX,
	                     sizeof *r->ids, &it, &mem)) != 0)
		goto out;
	r->ids = mem;
	for (uint32_t i = 0; i < it.n; i++) {
		if ((rv = mb_rd_row(d, &it, "ids", &el)) != 0 ||
		    (rv = mb_rd_name(d, el, "ids[#]", "", MB_MAX_NAME, &r->ids[i])) != 0)
			goto out;
	}
	r->nids = it.n;
out:
	mb_elems_done(&it);
	return rv;
}

static int rd_series(struct mb_dec *d, const msgpack_object *o, struct mb_reply *r)
{
	struct mb_elems it;
	const msgpack_object *e;
	const char *pfx = "series[#].";
	uint64_t kind;
	void *mem;
	int rv;
	if ((rv = mb_rd_rows(d, o, "series", 0, UINT32_MAX, sizeof *r->series, &it, &mem)) != 0)
		goto out;
	r->series = mem;
	for (uint32_t i = 0; i < it.n; i++) {
		struct mb_series_info *s = &r->series[i];
		if ((rv = mb_rd_tuple(d, &it, "series", "series[#]", 4, &e)) != 0)
			goto out;
		if ((rv = mb_rd_name(d, &e[0], pfx, "name", MB_MAX_NAME, &s->name)) != 0 ||
		    (rv = mb_rd_u64(d, &e[1], pfx, "kind", MB_NKINDS - 1, &kind)) != 0 ||
		    (rv = mb_rd_tags(d, &e[2], pfx, "tags", &s->ntags, &s->tags)) != 0 ||
		    (rv = mb_rd_i64(d, &e[3], pfx, "last", INT64_MIN, INT64_MAX, &s->last_ms)) != 0)
			goto out;
		s->kind = (uint8_t)kind;
	}
	r->nseries = it.n;
out:
	mb_elems_done(&it);
	return rv;
}

static int rd_srcs(struct mb_dec *d, const msgpack_object *o, struct mb_reply *r)
{
	struct mb_elems it;
	const msgpack_object *e;
	const char *pfx = "srcs[#].";
	void *mem;
	int rv;
	if ((rv = mb_rd_rows(d, o, "srcs", 0, UINT32_MAX, sizeof *r->srcs, &it, &mem)) != 0)
		goto out;
	r->srcs = mem;
	for (uint32_t i = 0; i < it.n; i++) {
		if ((rv = mb_rd_tuple(d, &it, "srcs", "srcs[#]", 2, &e)) != 0)
			goto out;
		if ((rv = mb_rd_name(d, &e[0], pfx, "src", MB_MAX_NAME, &r->srcs[i].source)) != 0 ||
		    (rv = mb_rd_dims(d, &e[1], pfx, "dims", &r->srcs[i].ndims, &r->srcs[i].dims)) != 0)
			goto out;
	}
	r->nsrcs = it.n;
out:
	mb_elems_done(&it);
	return rv;
}

static void free_items(struct mb_export_item *it, uint32_t n)
{
	for (uint32_t i = 0; it && i < n; i++)
		if (it[i].running)
			mb_sketch_free(it[i].running);
}

/* One export item's fields (e: its 12 elements). */
static int rd_item(struct mb_dec *d, const msgpack_object *e, const struct mb_reply *r,
                   struct mb_export_item *m)
{
	const char *pfx = "series[#].";
	const msgpack_object *q;
	uint32_t k;
	uint64_t x;
	int rv;
	if ((rv = mb_rd_u64(d, &e[0], pfx, "src", UINT32_MAX, &x)) != 0)
		return rv;
	if (x >= r->nsrcs)
		return mb_dec_fail(d, MB_EINVAL, pfx, "src", "not an index into srcs");
	m->src = (uint32_t)x;
	if ((rv = mb_rd_name(d, &e[1], pfx, "name", MB_MAX_NAME, &m->name)) != 0 ||
	    (rv = mb_rd_u64(d, &e[2], pfx, "kind", MB_NKINDS - 1, &x)) != 0)
		return rv;
	m->kind = (uint8_t)x;
	if ((rv = mb_rd_text(d, &e[3], pfx, "unit", 0, MAX_UNIT, &m->unit)) != 0 ||
	    (rv = mb_rd_tags(d, &e[4], pfx, "tags", &m->ntags, &m->tags)) != 0 ||
	    (rv = mb_rd_i64(d, &e[5], pfx, "t", INT64_MIN, INT64_MAX, &m->time_ms)) != 0 ||
	    (rv = mb_rd_f64(d, &e[6], pfx, "value", &m->value)) != 0 ||
	    (rv = mb_rd_f64(d, &e[7], pfx, "total", &m->total)) != 0 ||
	    (rv = mb_rd_f64(d, &e[8], pfx, "count", &m->count)) != 0 ||
	    (rv = mb_rd_f64(d, &e[9], pfx, "sum", &m->sum)) != 0)
		return rv;
	if (e[10].type != MSGPACK_OBJECT_NIL) {
		if ((rv = mb_rd_array(d, &e[10], pfx, "q", MB_EXPORT_NQ, MB_EXPORT_NQ, &q, &k)) != 0)
			return rv;
		for (int j = 0; j < MB_EXPORT_NQ; j++)
			if ((rv = mb_rd_f64(d, &q[j], pfx, "q", &m->q[j])) != 0)
				return rv;
		m->has_q = true;
	}
	if (e[11].type != MSGPACK_OBJECT_NIL) {
		struct mb_sketch *s = mb_arena_alloc(d->arena, sizeof *s);
		if (!s)
			return mb_dec_fail(d, MB_ENOMEM, pfx, "running", "out of memory");
		if ((rv = mb_rd_sketch(d, &e[11], pfx, "running", s)) != 0)
			return rv;
		m->running = s;
	}
	return 0;
}

static int rd_items(struct mb_dec *d, const msgpack_object *o, struct mb_reply *r)
{
	struct mb_elems it;
	const msgpack_object *e;
	void *mem;
	int rv;
	if ((rv = mb_rd_rows(d, o, "series", 0, UINT32_MAX, sizeof *r->items, &it, &mem)) != 0)
		goto out;
	r->items = mem;
	/* counted as we go, so that a failure frees exactly the sketches made so far */
	r->nitems = 0;
	for (uint32_t i = 0; i < it.n; i++) {
		r->nitems = i + 1;
		if ((rv = mb_rd_tuple(d, &it, "series", "series[#]", 12, &e)) != 0 ||
		    (rv = rd_item(d, e, r, &r->items[i])) != 0)
			goto out;
	}
out:
	mb_elems_done(&it);
	return rv;
}

int mb_reply_decode(const void *p, size_t n, int op, struct mb_reply *out, char *err,
                    size_t errlen)
{
	msgpack_unpacked u;
	const msgpack_object *f[R_N];
	/* replies come from agentd, not from containers: no expansion budget */
	struct mb_dec d = {&out->arena, err, errlen, SIZE_MAX, 0};
	uint64_t x;
	int rv;

	memset(out, 0, sizeof *out);
	out->op = op;
	if (op < 0 || op >= NOPS) {
		if (err && errlen)
			snprintf(err, errlen, "unknown op %d", op);
		return MB_EINVAL;
	}
	if ((rv = mb_dec_open(&d, p, n, MB_MAX_EXPORT_MSG, &u, "reply", reply_keys, R_N, f)) != 0)
		goto fail;
	if ((rv = mb_rd_version(&d, f[R_V], &out->version)) != 0 ||
	    (rv = mb_rd_need(&d, f[R_ST], "", "st")) != 0 ||
	    (rv = mb_rd_u64(&d, f[R_ST], "", "st", 599, &x)) != 0)
		goto fail;
	if (!status_ok(x)) {
		rv = mb_dec_fail(&d, MB_EINVAL, "", "st", "not 200, 204 or 400..599");
		goto fail;
	}
	out->status = (uint32_t)x;
	unsigned need = out->status == 200 ? r_fields[op] : 0;
	if (out->status >= 400)
		need |= B(R_ERR);
	unsigned opt = out->status == 200 ? r_opt[op] : 0;
	if ((rv = check_fields(&d, f, R_ERR, R_N, reply_keys, need, opt, out->status == 200
	                       ? mb_op_name(op) : "an answer without data")) != 0)
		goto fail;
	if (f[R_ERR] && (rv = mb_rd_text(&d, f[R_ERR], "", "err", 1, MAX_REPLY_ERR, &out->error)))
		goto fail;
	if (f[R_T] && (rv = mb_rd_i64(&d, f[R_T], "", "t", INT64_MIN, INT64_MAX, &out->time_ms)))
		goto fail;
	if (f[R_NODE] && (rv = mb_rd_text(&d, f[R_NODE], "", "node", 0, MB_MAX_NAME, &out->node)))
		goto fail;
	if (f[R_DIMS] && (rv = mb_rd_dims(&d, f[R_DIMS], "", "dims", &out->ndims, &out->dims)))
		goto fail;
	if (f[R_PTS] && (rv = op == MB_OP_RANGE ? rd_range(&d, f[R_PTS], out)
	                                        : rd_points(&d, f[R_PTS], out)) != 0)
		goto fail;
	if (f[R_IDS] && (rv = rd_ids(&d, f[R_IDS], out)) != 0)
		goto fail;
	if (f[R_NAME] && (rv = mb_rd_name(&d, f[R_NAME], "", "name", MB_MAX_NAME, &out->name)))
		goto fail;
	if (f[R_SRC] && (rv = mb_rd_name(&d, f[R_SRC], "", "src", MB_MAX_NAME, &out->source)))
		goto fail;
	if (f[R_STEP] && (rv = mb_rd_i64(&d, f[R_STEP], "", "step", 0, INT64_MAX, &out->step_ms)))
		goto fail;
	if (f[R_STAT] && (rv = rd_stat(&d, f[R_STAT], "stat", &out->stat)))
		goto fail;
	if (f[R_SRCS] && (rv = rd_srcs(&d, f[R_SRCS], out)) != 0)
		goto fail;
	if (f[R_SERIES] && (rv = op == MB_OP_EXPORT ? rd_items(&d, f[R_SERIES], out)
	                                            : rd_series(&d, f[R_SERIES], out)) != 0)
		goto fail;
	if (f[R_PATH] && (rv = mb_rd_text(&d, f[R_PATH], "", "path", 1, MAX_DIR, &out->path)))
		goto fail;
	if (f[R_BYTES] && (rv = mb_rd_u64(&d, f[R_BYTES], "", "bytes", UINT64_MAX, &out->bytes)))
		goto fail;
	msgpack_unpacked_destroy(&u);
	return 0;
fail:
	free_items(out->items, out->nitems);
	msgpack_unpacked_destroy(&u);
	mb_arena_free(&out->arena);
	memset(out, 0, sizeof *out);
	out->op = op;
	return rv;
}

void mb_reply_free(struct mb_reply *r)
{
	free_items(r->items, r->nitems);
	mb_arena_free(&r->arena);
	int op = r->op;
	memset(r, 0, sizeof *r);
	r->op = op;
}
