/* msgeq.h: field-by-field equality of decoded messages, as the schema defines them (only the
 * fields a kind, op or status carries). Shared by bus/examples_test.c and the fuzz targets. */
#ifndef MB_MSGEQ_H
#define MB_MSGEQ_H

#include "mb.h"

#include <math.h>
#include <string.h>

static inline bool eq_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static inline bool eq_f64(double a, double b)
{
	return a == b || (isnan(a) && isnan(b));
}

static inline bool eq_kvs(uint16_t na, const struct mb_kv *a, uint16_t nb, const struct mb_kv *b)
{
	if (na != nb)
		return false;
	for (uint16_t i = 0; i < na; i++)
		if (!eq_str(a[i].key, b[i].key) || !eq_str(a[i].val, b[i].val))
			return false;
	return true;
}

static inline uint64_t eq_bin(const uint64_t *b, int32_t lo, uint32_t n, int32_t i)
{
	return b && i >= lo && i < lo + (int32_t)n ? b[i - lo] : 0;
}

static inline bool eq_sketch(const struct mb_sketch *a, const struct mb_sketch *b)
{
	if (!a || !b)
		return a == b;
	if (a->zero != b->zero)
		return false;
	for (int32_t i = MB_SKETCH_MIN_INDEX; i <= MB_SKETCH_MAX_INDEX; i++)
		if (eq_bin(a->pos, a->pos_lo, a->pos_n, i) != eq_bin(b->pos, b->pos_lo, b->pos_n, i) ||
		    eq_bin(a->neg, a->neg_lo, a->neg_n, i) != eq_bin(b->neg, b->neg_lo, b->neg_n, i))
			return false;
	return true;
}

static inline bool eq_hll(const struct mb_hll *a, const struct mb_hll *b)
{
	static const struct mb_hll zero;
	return memcmp(a ? a : &zero, b ? b : &zero, sizeof zero) == 0;
}

static inline bool eq_record(const struct mb_record *a, const struct mb_record *b)
{
	if (a->kind != b->kind || !eq_str(a->name, b->name) ||
	    !eq_kvs(a->ntags, a->tags, b->ntags, b->tags))
		return false;
	if (a->kind == MB_SET)
		return a->set_count == b->set_count && eq_hll(a->hll, b->hll);
	if (mb_kind_is_timer(a->kind))
		return a->count == b->count && a->sum == b->sum && a->sumsq == b->sumsq &&
		       a->min == b->min && a->max == b->max && eq_sketch(&a->sketch, &b->sketch);
	return a->value == b->value;
}

static inline bool eq_batch(const struct mb_batch *a, const struct mb_batch *b)
{
	if ((a->version ? a->version : 1) != (b->version ? b->version : 1) ||
	    a->instance != b->instance || a->seq != b->seq || a->time_ms != b->time_ms ||
	    a->interval_ms != b->interval_ms || !eq_str(a->container_id, b->container_id) ||
	    !eq_kvs(a->ndims, a->dims, b->ndims, b->dims) || a->nrecords != b->nrecords ||
	    a->stopped != b->stopped)
		return false;
	for (uint32_t i = 0; i < a->nrecords; i++)
		if (!eq_record(&a->records[i], &b->records[i]))
			return false;
	return true;
}

static inline bool eq_ack(const struct mb_ack *a, const struct mb_ack *b)
{
	return a->seq == b->seq && a->status == b->status && strcmp(a->err, b->err) == 0;
}

static inline bool eq_query(const struct mb_query *a, const struct mb_query *b)
{
	if ((a->version ? a->version : 1) != (b->version ? b->version : 1) || a->op != b->op)
		return false;
	switch (a->op) {
	case MB_OP_CONTAINER:
	case MB_OP_SERIES:
		return eq_str(a->source, b->source);
	case MB_OP_APP:
		return eq_str(a->source, b->source) && (a->name == NULL) == (b->name == NULL) &&
		       eq_str(a->name, b->name);
	case MB_OP_RANGE:
		return eq_str(a->source, b->source) && eq_str(a->name, b->name) &&
		       a->from_ms == b->from_ms && a->to_ms == b->to_ms && a->step_ms == b->step_ms &&
		       a->stat == b->stat && eq_kvs(a->ntags, a->tags, b->ntags, b->tags);
	case MB_OP_EXPORT:
		return a->hist == b->hist;
	case MB_OP_BACKUP:
		return eq_str(a->dir, b->dir);
	default:
		return true;
	}
}

static inline bool eq_points(uint32_t na, const struct mb_point *a, uint32_t nb,
                             const struct mb_point *b)
{
	if (na != nb)
		return false;
	for (uint32_t i = 0; i < na; i++)
		if (!eq_str(a[i].name, b[i].name) || a[i].value != b[i].value ||
		    !eq_str(a[i].unit, b[i].unit) || a[i].time_ms != b[i].time_ms ||
		    !eq_kvs(a[i].ntags, a[i].tags, b[i].ntags, b[i].tags))
			return false;
	return true;
}

static inline bool eq_item(const struct mb_export_item *a, const struct mb_export_item *b)
{
	if (a->src != b->src || !eq_str(a->name, b->name) || a->kind != b->kind ||
	    !eq_str(a->unit, b->unit) || !eq_kvs(a->ntags, a->tags, b->ntags, b->tags) ||
	    a->time_ms != b->time_ms || a->value != b->value || a->total != b->total ||
	    a->count != b->count || a->sum != b->sum || a->has_q != b->has_q ||
	    !eq_sketch(a->running, b->running))
		return false;
	for (int i = 0; a->has_q && i < MB_EXPORT_NQ; i++)
		if (a->q[i] != b->q[i])
			return false;
	return true;
}

static inline bool eq_reply(const struct mb_reply *a, const struct mb_reply *b)
{
	if ((a->version ? a->version : 1) != (b->version ? b->version : 1) ||
	    a->status != b->status || a->op != b->op)
		return false;
	if (a->status >= 400)
		return eq_str(a->error, b->error);
	if (a->status != 200)
		return true;
	switch (a->op) {
	case MB_OP_PING:
		return a->time_ms == b->time_ms && eq_str(a->node, b->node);
	case MB_OP_NODE:
	case MB_OP_CONTAINER:
	case MB_OP_APP:
		return eq_kvs(a->ndims, a->dims, b->ndims, b->dims) &&
		       eq_points(a->npoints, a->points, b->npoints, b->points);
	case MB_OP_CONTAINERS:
		if (a->nids != b->nids)
			return false;
		for (uint32_t i = 0; i < a->nids; i++)
			if (!eq_str(a->ids[i], b->ids[i]))
				return false;
		return true;
	case MB_OP_RANGE:
		if (!eq_str(a->name, b->name) || !eq_str(a->source, b->source) ||
		    a->step_ms != b->step_ms || a->stat != b->stat || a->nrange != b->nrange)
			return false;
		for (uint32_t i = 0; i < a->nrange; i++)
			if (a->range_t[i] != b->range_t[i] || !eq_f64(a->range_v[i], b->range_v[i]))
				return false;
		return true;
	case MB_OP_SERIES:
		if (a->nseries != b->nseries)
			return false;
		for (uint32_t i = 0; i < a->nseries; i++) {
			const struct mb_series_info *x = &a->series[i], *y = &b->series[i];
			if (!eq_str(x->name, y->name) || x->kind != y->kind || x->last_ms != y->last_ms ||
			    !eq_kvs(x->ntags, x->tags, y->ntags, y->tags))
				return false;
		}
		return true;
	case MB_OP_EXPORT:
		if (a->nsrcs != b->nsrcs || a->nitems != b->nitems)
			return false;
		for (uint32_t i = 0; i < a->nsrcs; i++)
			if (!eq_str(a->srcs[i].source, b->srcs[i].source) ||
			    !eq_kvs(a->srcs[i].ndims, a->srcs[i].dims, b->srcs[i].ndims, b->srcs[i].dims))
				return false;
		for (uint32_t i = 0; i < a->nitems; i++)
			if (!eq_item(&a->items[i], &b->items[i]))
				return false;
		return true;
	case MB_OP_BACKUP:
		return eq_str(a->path, b->path) && a->bytes == b->bytes;
	}
	return false;
}

#endif
