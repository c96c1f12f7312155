/* budget.c: who spends the node's series budget: every container ranked by live series, series
 * refused and lines per second, from agentd's series lists and each shim's own counters. */
#include "api.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE_MS (5 * 60 * 1000) /* as agentd's /app: a series idle longer is not live */

static void query_init(struct mb_query *q, int op, const char *src)
{
	memset(q, 0, sizeof *q);
	q->version = MB_SCHEMA_VERSION;
	q->op = op;
	q->source = src;
}

static const char *tag(const struct mb_point *p, const char *k)
{
	for (uint16_t i = 0; i < p->ntags; i++)
		if (strcmp(p->tags[i].key, k) == 0)
			return p->tags[i].val;
	return NULL;
}

/* The shim's counters of the source's latest interval, as rates. */
static void shim_rates(const struct mb_reply *app, struct api_budget *b)
{
	static const struct {
		const char *name;
		size_t off;
	} rates[] = {
	    {"metricsbus.shim.lines.rate", offsetof(struct api_budget, lines_ps)},
	    {"metricsbus.shim.bad_lines.rate", offsetof(struct api_budget, bad_ps)},
	    {"metricsbus.shim.series_refused.rate", offsetof(struct api_budget, refused_ps)},
	    {"metricsbus.shim.unknown_fields.rate", offsetof(struct api_budget, unknown_ps)},
	    {"metricsbus.shim.tag_errors.rate", offsetof(struct api_budget, tag_errors_ps)},
	    {"metricsbus.shim.udp_drops.rate", offsetof(struct api_budget, udp_drops_ps)},
	};
	for (uint32_t i = 0; i < app->npoints; i++) {
		const struct mb_point *p = &app->points[i];
		if (strncmp(p->name, "metricsbus.shim.", 16) != 0)
			continue;
		for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
			if (strcmp(p->name, rates[k].name) == 0 && p->ntags == 0) {
				*(double *)((char *)b + rates[k].off) = p->value;
				b->has_shim = true;
			}
		}
		const char *reason = tag(p, "reason");
		if (strcmp(p->name, "metricsbus.shim.parse_errors.rate") == 0 && reason &&
		    b->nreasons < API_BUDGET_REASONS && p->value > 0) {
			snprintf(b->reasons[b->nreasons], sizeof b->reasons[0], "%s", reason);
			b->reason_ps[b->nreasons++] = p->value;
		}
	}
}

int api_budget_collect(struct mb_client *c, int timeout_ms, int64_t now_ms,
                       struct api_budget **out, uint32_t *n, char *err, size_t errlen)
{
	struct mb_query q;
	struct mb_reply ids, r;
	int rv;
	*out = NULL;
	*n = 0;
	query_init(&q, MB_OP_CONTAINERS, NULL);
	if ((rv = mb_client_query(c, &q, timeout_ms, &ids, err, errlen)) != 0)
		return rv;
	struct api_budget *bs = calloc(ids.nids ? ids.nids : 1, sizeof *bs);
	if (!bs) {
		mb_reply_free(&ids);
		return MB_ENOMEM;
	}
	/* agentd's own count of series it refused each source (at its limit, or the store full) */
	struct mb_reply own;
	bool have_own = false;
	query_init(&q, MB_OP_APP, "agentd");
	q.name = "agentd.source.series_refused";
	if ((rv = mb_client_query(c, &q, timeout_ms, &own, err, errlen)) != 0)
		goto fail_ids;
	have_own = own.status == 200;
	uint32_t k = 0;
	for (uint32_t i = 0; i < ids.nids; i++) {
		struct api_budget *b = &bs[k];
		snprintf(b->source, sizeof b->source, "%s", ids.ids[i]);
		query_init(&q, MB_OP_SERIES, ids.ids[i]);
		if ((rv = mb_client_query(c, &q, timeout_ms, &r, err, errlen)) != 0)
			goto fail;
		if (r.status != 200) { /* gone since it was listed */
			mb_reply_free(&r);
			continue;
		}
		for (uint32_t s = 0; s < r.nseries; s++) {
			b->series++;
			if (r.series[s].last_ms >= now_ms - LIVE_MS)
				b->live++;
		}
		mb_reply_free(&r);
		query_init(&q, MB_OP_APP, ids.ids[i]);
		if ((rv = mb_client_query(c, &q, timeout_ms, &r, err, errlen)) != 0)
			goto fail;
		if (r.status == 200)
			shim_rates(&r, b);
		mb_reply_free(&r);
		for (uint32_t p = 0; have_own && p < own.npoints; p++) {
			const char *src = tag(&own.points[p], "source");
			if (src && strcmp(src, b->source) == 0 &&
			    strcmp(own.points[p].name, "agentd.source.series_refused") == 0)
				b->refused = own.points[p].value;
		}
		k++;
	}
	mb_reply_free(&own);
	mb_reply_free(&ids);
	*out = bs;
	*n = k;
	return 0;
fail:
	mb_reply_free(&own);
fail_ids:
	mb_reply_free(&ids);
	free(bs);
	return rv;
}

static double key(const struct api_budget *b, int by)
{
	switch (by) {
	case API_BUDGET_BY_REFUSED:
		/* agentd's refusals (the source's limit) first, the shim's rate breaks ties */
		return b->refused + b->refused_ps * 1e-9;
	case API_BUDGET_BY_LINES:
		return b->lines_ps;
	default:
		return b->live;
	}
}

static int cmp(const struct api_budget *a, const struct api_budget *b, int by)
{
	/* the asked order first, then live series, refused, lines; then the name */
	const int order[4] = {by, API_BUDGET_BY_LIVE, API_BUDGET_BY_REFUSED, API_BUDGET_BY_LINES};
	for (int i = 0; i < 4; i++) {
		double ka = key(a, order[i]), kb = key(b, order[i]);
		if (ka != kb)
			return ka < kb ? 1 : -1;
	}
	return strcmp(a->source, b->source);
}

void api_budget_sort(struct api_budget *b, uint32_t n, int by)
{
	/* insertion sort: a node's containers are few, and qsort has no context for `by` */
	for (uint32_t i = 1; i < n; i++) {
		struct api_budget t = b[i];
		uint32_t j = i;
		for (; j > 0 && cmp(&b[j - 1], &t, by) > 0; j--)
			b[j] = b[j - 1];
		b[j] = t;
	}
}

int api_budget_parse_sort(const char *s, int *by)
{
	if (!s || !*s || !strcmp(s, "live") || !strcmp(s, "series"))
		*by = API_BUDGET_BY_LIVE;
	else if (!strcmp(s, "refused"))
		*by = API_BUDGET_BY_REFUSED;
	else if (!strcmp(s, "lines"))
		*by = API_BUDGET_BY_LINES;
	else
		return MB_EINVAL;
	return 0;
}

static int num_field(struct mb_buf *o, const char *k, double v, bool comma)
{
	int rv;
	if ((comma && (rv = api_put(o, ",")) != 0) || (rv = api_json_str(o, k)) != 0 ||
	    (rv = api_put(o, ":")) != 0 || (rv = api_json_num(o, v)) != 0)
		return rv;
	return 0;
}

int api_budget_json(struct mb_buf *o, const struct api_budget *bs, uint32_t n, int by)
{
	static const char *const names[] = {"live_series", "series_refused", "lines_per_s"};
	int rv;
	if ((rv = api_put(o, "{\"sort\":")) != 0 || (rv = api_json_str(o, names[by])) != 0 ||
	    (rv = api_put(o, ",\"sources\":[")) != 0)
		return rv;
	for (uint32_t i = 0; i < n; i++) {
		const struct api_budget *b = &bs[i];
		if ((i && (rv = api_put(o, ",")) != 0) || (rv = api_put(o, "{\"source\":")) != 0 ||
		    (rv = api_json_str(o, b->source)) != 0 ||
		    (rv = num_field(o, "series", b->series, true)) != 0 ||
		    (rv = num_field(o, "live_series", b->live, true)) != 0 ||
		    (rv = num_field(o, "lines_per_s", b->lines_ps, true)) != 0 ||
		    (rv = num_field(o, "series_refused", b->refused, true)) != 0 ||
		    (rv = num_field(o, "shim_series_refused_per_s", b->refused_ps, true)) != 0 ||
		    (rv = num_field(o, "bad_lines_per_s", b->bad_ps, true)) != 0 ||
		    (rv = num_field(o, "unknown_fields_per_s", b->unknown_ps, true)) != 0 ||
		    (rv = num_field(o, "tag_errors_per_s", b->tag_errors_ps, true)) != 0 ||
		    (rv = num_field(o, "udp_drops_per_s", b->udp_drops_ps, true)) != 0 ||
		    (rv = api_put(o, ",\"parse_errors_per_s\":{")) != 0)
			return rv;
		for (int r = 0; r < b->nreasons; r++)
			if ((rv = num_field(o, b->reasons[r], b->reason_ps[r], r > 0)) != 0)
				return rv;
		if ((rv = api_put(o, "},\"shim\":")) != 0 ||
		    (rv = api_put(o, b->has_shim ? "true}" : "false}")) != 0)
			return rv;
	}
	return api_put(o, "]}\n");
}
