/* cli_table.c: aligned text tables, and the CLI's default (non --json) rendering of each
 * reply: points, containers, range, series, backup. */
#include "api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_table_init(struct api_table *t, int ncols, const char *const *headers)
{
	memset(t, 0, sizeof *t);
	if (ncols < 1 || ncols > 16)
		return MB_EINVAL;
	t->ncols = ncols;
	return api_table_row(t, headers);
}

/* Control characters would break the alignment and the terminal: shown as '?'. */
static char *clean_dup(const char *s)
{
	char *d = strdup(s ? s : "");
	for (char *p = d; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return d;
}

int api_table_row(struct api_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		int nc = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, sizeof *p * (size_t)nc * (size_t)t->ncols);
		if (!p)
			return MB_ENOMEM;
		t->cells = p;
		t->cap = nc;
	}
	for (int c = 0; c < t->ncols; c++) {
		t->cells[t->nrows * t->ncols + c] = clean_dup(cells[c]);
		if (!t->cells[t->nrows * t->ncols + c]) {
			for (int k = 0; k < c; k++)
				free(t->cells[t->nrows * t->ncols + k]);
			return MB_ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

int api_table_render(const struct api_table *t, struct mb_buf *out)
{
	size_t w[16] = {0};
	int rv = 0;
	for (int r = 0; r < t->nrows; r++)
		for (int c = 0; c < t->ncols; c++) {
			size_t l = width(t->cells[r * t->ncols + c]);
			if (l > w[c])
				w[c] = l;
		}
	for (int r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			size_t pad = w[c] - width(cell);
			bool last = c == t->ncols - 1;
			if (t->right[c])
				for (size_t k = 0; k < pad; k++)
					rv |= api_put(out, " ");
			rv |= api_put(out, cell);
			if (!t->right[c] && !last)
				for (size_t k = 0; k < pad; k++)
					rv |= api_put(out, " ");
			if (!last)
				rv |= api_put(out, "  ");
		}
		while (out->len && out->data[out->len - 1] == ' ')
			out->len--; /* no trailing blanks when the last cells are empty */
		rv |= api_put(out, "\n");
	}
	return rv ? MB_ENOMEM : 0;
}

void api_table_free(struct api_table *t)
{
	for (int i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof *t);
}

/* Readable in a table: integers whole, others to 6 significant digits (--json is exact). */
static void fmt_value(double v, char *out, size_t n)
{
	if (v == floor(v) && fabs(v) < 1e15)
		snprintf(out, n, "%.0f", v);
	else
		snprintf(out, n, "%.6g", v);
}

static void tags_str(const struct mb_kv *tags, int n, char *out, size_t len)
{
	size_t o = 0;
	out[0] = 0;
	for (int i = 0; i < n && o + 1 < len; i++) {
		int w = snprintf(out + o, len - o, "%s%s%s%s", i ? "," : "", tags[i].key,
		                 tags[i].val[0] ? ":" : "", tags[i].val);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

static int points_table(struct mb_buf *b, const struct mb_reply *r)
{
	static const char *const h[] = {"NAME", "VALUE", "UNIT", "TIMESTAMP", "TAGS"};
	struct api_table t;
	int rv = api_table_init(&t, 5, h);
	if (rv)
		return rv;
	t.right[1] = true;
	for (uint32_t i = 0; i < r->npoints && rv == 0; i++) {
		const struct mb_point *p = &r->points[i];
		char v[40], ts[40], tags[1024];
		fmt_value(p->value, v, sizeof v);
		mb_format_rfc3339(p->time_ms, ts, sizeof ts);
		tags_str(p->tags, p->ntags, tags, sizeof tags);
		const char *row[] = {p->name, v, p->unit ? p->unit : "", ts, tags};
		rv = api_table_row(&t, row);
	}
	if (rv == 0)
		rv = api_table_render(&t, b);
	api_table_free(&t);
	if (rv == 0 && r->ndims) {
		rv |= api_put(b, "\n");
		static const char *const dh[] = {"DIMENSION", "VALUE"};
		if ((rv = api_table_init(&t, 2, dh)) != 0)
			return rv;
		for (int i = 0; i < r->ndims && rv == 0; i++) {
			const char *row[] = {r->dims[i].key, r->dims[i].val};
			rv = api_table_row(&t, row);
		}
		if (rv == 0)
			rv = api_table_render(&t, b);
		api_table_free(&t);
	}
	return rv;
}

int api_render_table(struct mb_buf *b, const struct mb_reply *r)
{
	struct api_table t;
	char x[64], y[64];
	int rv = 0;
	switch (r->op) {
	case MB_OP_PING:
		mb_format_rfc3339(r->time_ms, x, sizeof x);
		rv |= api_put(b, "ok ");
		rv |= api_put(b, x);
		rv |= api_put(b, r->node && r->node[0] ? " node " : "");
		rv |= api_put(b, r->node ? r->node : "");
		/* the Mesos agent id beside --node-id: the agent-scoped paths answer to it too */
		for (uint32_t i = 0; i < r->nids; i++)
			if (!r->node || strcmp(r->ids[i], r->node) != 0) {
				rv |= api_put(b, " also ");
				rv |= api_put(b, r->ids[i]);
			}
		rv |= api_put(b, "\n");
		return rv ? MB_ENOMEM : 0;
	case MB_OP_NODE:
	case MB_OP_CONTAINER:
	case MB_OP_APP:
		return points_table(b, r);
	case MB_OP_CONTAINERS: {
		static const char *const h[] = {"CONTAINER"};
		if ((rv = api_table_init(&t, 1, h)) != 0)
			return rv;
		for (uint32_t i = 0; i < r->nids && rv == 0; i++) {
			const char *row[] = {r->ids[i]};
			rv = api_table_row(&t, row);
		}
		break;
	}
	case MB_OP_RANGE: {
		static const char *const h[] = {"TIME", "VALUE"};
		char step[32];
		mb_format_duration(r->step_ms, step, sizeof step);
		rv |= api_put(b, r->source ? r->source : "");
		rv |= api_put(b, " ");
		rv |= api_put(b, r->name ? r->name : "");
		rv |= api_put(b, " ");
		rv |= api_put(b, mb_stat_name(r->stat));
		rv |= api_put(b, " every ");
		rv |= api_put(b, step);
		rv |= api_put(b, "\n");
		if (rv || (rv = api_table_init(&t, 2, h)) != 0)
			return rv ? MB_ENOMEM : rv;
		t.right[1] = true;
		for (uint32_t i = 0; i < r->nrange && rv == 0; i++) {
			mb_format_rfc3339(r->range_t[i], x, sizeof x);
			if (isfinite(r->range_v[i]))
				fmt_value(r->range_v[i], y, sizeof y);
			else
				snprintf(y, sizeof y, "-");
			const char *row[] = {x, y};
			rv = api_table_row(&t, row);
		}
		break;
	}
	case MB_OP_SERIES: {
		static const char *const h[] = {"NAME", "TYPE", "TAGS", "LAST"};
		if ((rv = api_table_init(&t, 4, h)) != 0)
			return rv;
		for (uint32_t i = 0; i < r->nseries && rv == 0; i++) {
			const struct mb_series_info *s = &r->series[i];
			char tags[1024];
			tags_str(s->tags, s->ntags, tags, sizeof tags);
			mb_format_rfc3339(s->last_ms, x, sizeof x);
			const char *row[] = {s->name, mb_kind_name(s->kind), tags, x};
			rv = api_table_row(&t, row);
		}
		break;
	}
	case MB_OP_BACKUP:
		snprintf(x, sizeof x, "%llu", (unsigned long long)r->bytes);
		rv |= api_put(b, "backup written to ");
		rv |= api_put(b, r->path ? r->path : "");
		rv |= api_put(b, " (");
		rv |= api_put(b, x);
		rv |= api_put(b, " bytes)\n");
		return rv ? MB_ENOMEM : 0;
	default:
		return MB_EINVAL;
	}
	if (rv == 0)
		rv = api_table_render(&t, b);
	api_table_free(&t);
	return rv;
}
