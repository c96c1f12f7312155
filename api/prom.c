/* prom.c: an export reply as Prometheus text exposition 0.0.4, families grouped; the names,
 * labels and layout come from bus/prom.c (shared with agentd's remote write). */
#include "api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const qlabel[MB_EXPORT_NQ] = {"quantile=\"0.5\"", "quantile=\"0.9\"",
                                                 "quantile=\"0.95\"", "quantile=\"0.99\"",
                                                 "quantile=\"0.999\""};

void api_prom_sanitize(const char *in, char *out, size_t n)
{
	mb_prom_sanitize(in, out, n);
}

int api_prom_label_value(struct mb_buf *b, const char *v)
{
	int rv = 0;
	const char *run = v;
	for (; *v; v++) {
		const char *e = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
		if (e) {
			rv |= api_putn(b, run, (size_t)(v - run));
			rv |= api_put(b, e);
			run = v + 1;
		}
	}
	rv |= api_putn(b, run, (size_t)(v - run));
	return rv;
}

static int put_labels(struct mb_buf *b, const struct mb_source_dims *src,
                      const struct mb_export_item *it)
{
	struct mb_prom_labels ls;
	int rv = 0, k = 0;
	mb_prom_labels(&ls, src, it->ntags, it->tags);
	for (int i = 0; i < ls.n; i++) {
		if (!ls.val[i])
			continue;
		rv |= api_put(b, k++ ? "," : "");
		rv |= api_put(b, ls.name[i]);
		rv |= api_put(b, "=\"");
		rv |= api_prom_label_value(b, ls.val[i]);
		rv |= api_put(b, "\"");
	}
	return rv;
}

struct entry {
	uint32_t idx;
	uint32_t fam_off, fam_len;
	uint32_t lab_off, lab_len;
	uint8_t pt;
	double scale;
};

static int entry_cmp(const void *a, const void *b, void *arg)
{
	const struct entry *x = a, *y = b;
	const char *base = arg;
	size_t n = x->fam_len < y->fam_len ? x->fam_len : y->fam_len;
	int c = memcmp(base + x->fam_off, base + y->fam_off, n);
	if (c || x->fam_len != y->fam_len)
		return c ? c : (x->fam_len < y->fam_len ? -1 : 1);
	if (x->pt != y->pt)
		return x->pt < y->pt ? -1 : 1;
	n = x->lab_len < y->lab_len ? x->lab_len : y->lab_len;
	c = memcmp(base + x->lab_off, base + y->lab_off, n);
	if (c || x->lab_len != y->lab_len)
		return c ? c : (x->lab_len < y->lab_len ? -1 : 1);
	return x->idx < y->idx ? -1 : 1;
}

static int put_num(struct mb_buf *b, double v)
{
	if (isnan(v))
		return API_PUTL(b, "NaN");
	if (isinf(v))
		return v > 0 ? API_PUTL(b, "+Inf") : API_PUTL(b, "-Inf");
	if (mb_buf_reserve(b, 40) != 0)
		return MB_ENOMEM;
	b->len += api_fmt_double_n(v, (char *)b->data + b->len, 40);
	return 0;
}

/* name{labels[,extra]} value\n: one reservation for all but the number, as a 100,000-series
 * scrape writes ~350,000 of these lines. */
static int sample(struct mb_buf *b, const char *fam, size_t famlen, const char *suffix,
                  const char *labels, size_t lablen, const char *extra, double v)
{
	size_t sl = strlen(suffix), el = extra ? strlen(extra) : 0;
	if (mb_buf_reserve(b, famlen + sl + lablen + el + 4) != 0)
		return MB_ENOMEM;
	uint8_t *w = b->data + b->len;
	memcpy(w, fam, famlen);
	w += famlen;
	memcpy(w, suffix, sl);
	w += sl;
	if (lablen || extra) {
		*w++ = '{';
		memcpy(w, labels, lablen);
		w += lablen;
		if (extra) {
			if (lablen)
				*w++ = ',';
			memcpy(w, extra, el);
			w += el;
		}
		*w++ = '}';
	}
	*w++ = ' ';
	b->len = (size_t)(w - b->data);
	int rv = put_num(b, v);
	rv |= API_PUTL(b, "\n");
	return rv;
}

static int put_series(struct mb_buf *b, const struct mb_export_item *it, const struct entry *e,
                      const char *base)
{
	const char *fam = base + e->fam_off, *lab = base + e->lab_off;
	size_t fl = e->fam_len, ll = e->lab_len;
	int rv = 0;
	char extra[64];
	switch (e->pt) {
	case MB_PROM_COUNTER:
		rv |= sample(b, fam, fl, "", lab, ll, NULL, it->total * e->scale);
		break;
	case MB_PROM_GAUGE:
		rv |= sample(b, fam, fl, "", lab, ll, NULL, it->value * e->scale);
		break;
	case MB_PROM_SUMMARY:
		for (int q = 0; it->has_q && q < MB_EXPORT_NQ; q++) {
			if (!isfinite(it->q[q]))
				continue;
			rv |= sample(b, fam, fl, "", lab, ll, qlabel[q], it->q[q] * e->scale);
		}
		rv |= sample(b, fam, fl, "_sum", lab, ll, NULL, it->sum * e->scale);
		rv |= sample(b, fam, fl, "_count", lab, ll, NULL, it->count);
		break;
	case MB_PROM_HISTOGRAM: {
		/* the bounds, their label values and the counts of bus/prom.c, as remote write */
		uint64_t n[MB_PROM_NBUCKETS + 1] = {0};
		if (it->running)
			mb_prom_sketch_buckets(it->running, e->scale, n);
		uint64_t total = n[MB_PROM_NBUCKETS];
		for (int k = 0; it->running && k < MB_PROM_NBUCKETS; k++) {
			snprintf(extra, sizeof extra, "le=\"%s\"", mb_prom_bucket_str[k]);
			rv |= sample(b, fam, fl, "_bucket", lab, ll, extra, (double)n[k]);
		}
		rv |= sample(b, fam, fl, "_bucket", lab, ll, "le=\"+Inf\"", (double)total);
		rv |= sample(b, fam, fl, "_sum", lab, ll, NULL, it->sum * e->scale);
		rv |= sample(b, fam, fl, "_count", lab, ll, NULL, (double)total);
		break;
	}
	}
	return rv;
}

static int put_help(struct mb_buf *b, const char *fam, size_t fl, const struct mb_export_item *it,
                    int pt)
{
	int rv = api_put(b, "# HELP ");
	rv |= api_putn(b, fam, fl);
	rv |= api_put(b, " metricsbus ");
	rv |= api_put(b, mb_kind_name(it->kind));
	rv |= api_put(b, " ");
	for (const char *p = it->name; *p; p++) /* names are printable ASCII; only \ escapes */
		rv |= api_putn(b, *p == '\\' ? "\\\\" : p, *p == '\\' ? 2 : 1);
	if (it->unit && it->unit[0]) {
		rv |= api_put(b, " (");
		rv |= api_put(b, it->unit);
		rv |= api_put(b, ")");
	}
	rv |= api_put(b, "\n# TYPE ");
	rv |= api_putn(b, fam, fl);
	rv |= api_put(b, " ");
	rv |= api_put(b, mb_prom_type_name(pt));
	rv |= api_put(b, "\n");
	return rv;
}

/* The exposition of one export reply, produced a chunk at a time, so that a scrape's text
 * is never whole in memory: the entries are sorted once, then families are written as asked. */
struct api_prom_stream {
	struct mb_reply r; /* owned when own_reply */
	const struct mb_reply *rp;
	bool own_reply, hist;
	struct api_prom_caps caps;
	struct mb_buf strs;
	struct entry *ents;
	uint32_t n, i;
	uint64_t *src_n, *src_b; /* per source (and one for none): series and bytes so far */
	uint64_t emitted;        /* bytes handed out before this chunk */
	uint64_t skipped, capped[API_CAP_N];
	struct mb_buf tail; /* written after the families (the bridge's own metrics) */
	bool tail_done;
	api_prom_at_end at_end; /* called once the families are written, before the tail */
	void *at_end_arg;
};

void api_prom_stream_at_end(struct api_prom_stream *ps, api_prom_at_end fn, void *arg)
{
	ps->at_end = fn;
	ps->at_end_arg = arg;
}

/* Emits one series unless a cap says no: its bytes are taken back and counted then. */
static int capped_series(struct api_prom_stream *ps, struct mb_buf *out, size_t chunk0,
                         const struct entry *e, const char *base)
{
	const struct mb_reply *r = ps->rp;
	const struct api_prom_caps *caps = &ps->caps;
	const struct mb_export_item *it = &r->items[e->idx];
	uint32_t si = it->src < r->nsrcs ? it->src : r->nsrcs; /* nsrcs: no source */
	size_t before = out->len;
	if (caps->total_bytes && ps->emitted + (before - chunk0) >= caps->total_bytes) {
		ps->capped[API_CAP_TOTAL_BYTES]++;
		return 0;
	}
	if (caps->src_series && ps->src_n[si] >= caps->src_series) {
		ps->capped[API_CAP_SRC_SERIES]++;
		return 0;
	}
	int rv = put_series(out, it, e, base);
	size_t len = out->len - before;
	if (caps->src_bytes && ps->src_b[si] + len > caps->src_bytes) {
		out->len = before;
		ps->capped[API_CAP_SRC_BYTES]++;
		return rv;
	}
	ps->src_n[si]++;
	ps->src_b[si] += len;
	return rv;
}

void api_prom_stream_free(struct api_prom_stream *ps)
{
	if (!ps)
		return;
	free(ps->ents);
	free(ps->src_n);
	mb_buf_free(&ps->strs);
	mb_buf_free(&ps->tail);
	if (ps->own_reply)
		mb_reply_free(&ps->r);
	free(ps);
}

struct srclab {
	uint32_t off, len;
	bool made;
};

int api_prom_stream_new(struct mb_reply *r, bool take, bool hist,
                        const struct api_prom_caps *caps, struct api_prom_stream **out)
{
	struct srclab *srclab = NULL;
	struct api_prom_stream *ps = calloc(1, sizeof *ps);
	struct mb_reply *orig = r;
	if (!ps)
		return MB_ENOMEM;
	if (take) {
		ps->r = *r;
		memset(r, 0, sizeof *r);
		ps->rp = &ps->r;
		ps->own_reply = true;
	} else {
		ps->rp = r;
	}
	if (take)
		r = &ps->r;
	ps->hist = hist;
	if (caps)
		ps->caps = *caps;
	if ((ps->src_n = calloc((size_t)r->nsrcs + 1, 2 * sizeof *ps->src_n)) == NULL)
		goto nomem;
	ps->src_b = ps->src_n + r->nsrcs + 1;
	if (r->nitems && (ps->ents = calloc(r->nitems, sizeof *ps->ents)) == NULL)
		goto nomem;
	/* A series without tags has its source's labels: made once per source, shared. */
	if ((srclab = calloc((size_t)r->nsrcs + 1, sizeof *srclab)) == NULL)
		goto nomem;
	for (uint32_t i = 0; i < r->nitems; i++) {
		const struct mb_export_item *it = &r->items[i];
		const struct mb_source_dims *src = it->src < r->nsrcs ? &r->srcs[it->src] : NULL;
		struct entry *e = &ps->ents[ps->n];
		char fam[MB_PROM_MAX_NAME];
		e->idx = i;
		e->pt = (uint8_t)mb_prom_type_of(it->kind, hist);
		mb_prom_family(it->name, it->unit, src ? src->source : NULL, e->pt, fam, sizeof fam,
		               &e->scale);
		e->fam_off = (uint32_t)ps->strs.len;
		e->fam_len = (uint32_t)strlen(fam);
		if (api_put(&ps->strs, fam) != 0)
			goto nomem;
		struct srclab *sl = it->ntags ? NULL : &srclab[src ? it->src : r->nsrcs];
		if (sl && sl->made) {
			e->lab_off = sl->off;
			e->lab_len = sl->len;
		} else {
			e->lab_off = (uint32_t)ps->strs.len;
			if (put_labels(&ps->strs, src, it) != 0)
				goto nomem;
			e->lab_len = (uint32_t)(ps->strs.len - e->lab_off);
			if (sl)
				*sl = (struct srclab){e->lab_off, e->lab_len, true};
		}
		ps->n++;
	}
	free(srclab);
	qsort_r(ps->ents, ps->n, sizeof *ps->ents, entry_cmp, ps->strs.data);
	*out = ps;
	return 0;
nomem:
	free(srclab);
	if (take) /* the caller's reply stays the caller's on failure */
		*orig = ps->r, ps->own_reply = false;
	api_prom_stream_free(ps);
	return MB_ENOMEM;
}

struct mb_buf *api_prom_stream_tail(struct api_prom_stream *ps)
{
	return &ps->tail;
}

int api_prom_stream_next(struct api_prom_stream *ps, struct mb_buf *out, size_t want)
{
	const char *base = (const char *)ps->strs.data;
	size_t chunk0 = out->len;
	int rv = 0;
	while (ps->i < ps->n && out->len - chunk0 < want) {
		/* one family: the same name; the first type (counter, gauge, summary, histogram)
		 * wins, series of another type under that name are skipped and counted */
		uint32_t i = ps->i, j = i;
		const struct entry *f = &ps->ents[i];
		rv |= put_help(out, base + f->fam_off, f->fam_len, &ps->rp->items[f->idx], f->pt);
		for (; j < ps->n && ps->ents[j].fam_len == f->fam_len &&
		       memcmp(base + ps->ents[j].fam_off, base + f->fam_off, f->fam_len) == 0;
		     j++) {
			const struct entry *e = &ps->ents[j];
			if (e->pt != f->pt ||
			    (j > i && e->lab_len == ps->ents[j - 1].lab_len &&
			     ps->ents[j - 1].pt == e->pt &&
			     memcmp(base + e->lab_off, base + ps->ents[j - 1].lab_off, e->lab_len) == 0)) {
				ps->skipped++;
				continue;
			}
			rv |= capped_series(ps, out, chunk0, e, base);
		}
		ps->i = j;
	}
	if (ps->i >= ps->n && !ps->tail_done && out->len - chunk0 < want) {
		if (ps->at_end)
			ps->at_end(ps->at_end_arg, ps, &ps->tail);
		rv |= api_putn(out, (const char *)ps->tail.data, ps->tail.len);
		ps->tail_done = true;
	}
	ps->emitted += out->len - chunk0;
	if (rv)
		return MB_ENOMEM;
	return ps->i >= ps->n && ps->tail_done ? 1 : 0;
}

void api_prom_stream_counts(const struct api_prom_stream *ps, uint64_t *skipped,
                            uint64_t capped[API_CAP_N])
{
	*skipped = ps->skipped;
	for (int i = 0; i < API_CAP_N; i++)
		capped[i] = ps->capped[i];
}

int api_prom_render(struct mb_buf *out, const struct mb_reply *r, bool hist, uint64_t *skipped,
                    const struct api_prom_caps *caps, uint64_t capped[API_CAP_N])
{
	struct api_prom_stream *ps = NULL;
	uint64_t dummy[API_CAP_N];
	int rv = api_prom_stream_new((struct mb_reply *)(uintptr_t)r, false, hist, caps, &ps);
	*skipped = 0;
	if (rv != 0)
		return rv;
	while ((rv = api_prom_stream_next(ps, out, 1 << 20)) == 0)
		;
	api_prom_stream_counts(ps, skipped, capped ? capped : dummy);
	api_prom_stream_free(ps);
	return rv == 1 ? 0 : rv;
}
