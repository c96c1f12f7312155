/* prom.c: an export reply as Prometheus text exposition 0.0.4: DC/OS name sanitising, unit
 * and type suffixes, labels from dimensions and tags without repeats, families grouped. */
#include "api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PT_COUNTER, PT_GAUGE, PT_SUMMARY, PT_HISTOGRAM };
static const char *const ptype_name[] = {"counter", "gauge", "summary", "histogram"};

/* Fixed log-spaced buckets (1, 2.5, 5 per decade) wide enough for seconds and bytes alike. */
static const double buckets[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.25,   0.5,     1,      2.5,   5,      10,    25,   50,    100,  250,
	500,    1000,    2500,   5000,  10000,  25000, 50000, 100000, 250000, 500000,
};
#define NBUCKETS ((int)(sizeof buckets / sizeof buckets[0]))
static const char *const qlabel[MB_EXPORT_NQ] = {"quantile=\"0.5\"", "quantile=\"0.9\"",
                                                 "quantile=\"0.95\"", "quantile=\"0.99\"",
                                                 "quantile=\"0.999\""};

void api_prom_sanitize(const char *in, char *out, size_t n)
{
	size_t o = 0;
	if (n == 0)
		return;
	if (in[0] >= '0' && in[0] <= '9' && o + 1 < n)
		out[o++] = '_';
	for (size_t i = 0; in[i] && o + 1 < n; i++) {
		char c = in[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			c = '_';
		out[o++] = c;
	}
	out[o] = 0;
}

static bool ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && memcmp(s + n - m, suf, m) == 0;
}

/* The unit suffix and the factor to base units; NULL when the unit has no suffix. */
static const char *unit_suffix(const char *unit, double *scale)
{
	*scale = 1;
	if (!unit)
		return NULL;
	if (strcmp(unit, "bytes") == 0)
		return "_bytes";
	if (strcmp(unit, "seconds") == 0 || strcmp(unit, "s") == 0)
		return "_seconds";
	if (strcmp(unit, "percent") == 0)
		return "_percent";
	if (strcmp(unit, "ms") == 0 || strcmp(unit, "milliseconds") == 0) {
		*scale = 0.001;
		return "_seconds";
	}
	return NULL;
}

static int ptype_of(int kind, bool hist)
{
	if (kind == MB_COUNTER)
		return PT_COUNTER;
	if (mb_kind_is_timer(kind))
		return hist ? PT_HISTOGRAM : PT_SUMMARY;
	return PT_GAUGE;
}

/* Family name: sanitised, unit suffix, then `_total` on counters only; any other type that
 * would end in a suffix Prometheus reserves gets `_value` (promtool's lint). */
static void family_name(const struct mb_export_item *it, const char *source, int pt, char *out,
                        size_t n, double *scale)
{
	char base[MB_MAX_NAME + 2];
	api_prom_sanitize(it->name, base, sizeof base);
	const char *suf = unit_suffix(it->unit, scale);
	/* agentd names its own timings *_ms without a unit: base units for Prometheus */
	if (!suf && source && strcmp(source, "agentd") == 0 && ends_with(base, "_ms")) {
		base[strlen(base) - 3] = 0;
		suf = "_seconds";
		*scale = 0.001;
	}
	snprintf(out, n, "%s%s", base, suf && !ends_with(base, suf) ? suf : "");
	if (pt == PT_COUNTER) {
		if (!ends_with(out, "_total"))
			strncat(out, "_total", n - strlen(out) - 1);
	} else if (ends_with(out, "_total") || (pt == PT_GAUGE && (ends_with(out, "_count") ||
	                                                           ends_with(out, "_sum") ||
	                                                           ends_with(out, "_bucket")))) {
		strncat(out, "_value", n - strlen(out) - 1);
	}
}

static bool reserved_label(const char *s)
{
	return strcmp(s, "le") == 0 || strcmp(s, "quantile") == 0 || strcmp(s, "job") == 0 ||
	       strcmp(s, "instance") == 0 || strncmp(s, "__", 2) == 0;
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

#define MAX_LABELS (MB_MAX_DIMS + MB_MAX_TAGS)
struct labelset {
	int n;
	char name[MAX_LABELS][MB_MAX_TAG_KEY + 16];
};

static bool used(const struct labelset *ls, const char *s)
{
	for (int i = 0; i < ls->n; i++)
		if (strcmp(ls->name[i], s) == 0)
			return true;
	return false;
}

/* Picks a free label name for key: its sanitised form, else PREFIX_form, else PREFIX_form_2... */
static const char *pick(struct labelset *ls, const char *key, const char *prefix)
{
	char s[MB_MAX_TAG_KEY + 2], cand[sizeof ls->name[0]];
	api_prom_sanitize(key, s, sizeof s);
	if (!reserved_label(s) && !used(ls, s)) {
		/* the common case, without printf: this runs for every label of every series */
		memcpy(ls->name[ls->n], s, strlen(s) + 1);
		return ls->name[ls->n++];
	}
	snprintf(cand, sizeof cand, "%s", s);
	if (reserved_label(cand) || used(ls, cand)) {
		snprintf(cand, sizeof cand, "%s_%s", prefix, s);
		for (int k = 2; used(ls, cand); k++)
			snprintf(cand, sizeof cand, "%s_%s_%d", prefix, s, k);
	}
	snprintf(ls->name[ls->n], sizeof ls->name[0], "%s", cand);
	return ls->name[ls->n++];
}

static int put_labels(struct mb_buf *b, const struct mb_source_dims *src,
                      const struct mb_export_item *it)
{
	struct labelset ls;
	int rv = 0, k = 0;
	ls.n = 0;
	for (int i = 0; src && i < src->ndims && ls.n < MAX_LABELS; i++) {
		const char *name = pick(&ls, src->dims[i].key, "dim");
		if (!src->dims[i].val[0])
			continue; /* an empty label is the same as none to Prometheus */
		rv |= api_put(b, k++ ? "," : "");
		rv |= api_put(b, name);
		rv |= api_put(b, "=\"");
		rv |= api_prom_label_value(b, src->dims[i].val);
		rv |= api_put(b, "\"");
	}
	for (int i = 0; i < it->ntags && ls.n < MAX_LABELS; i++) {
		const char *name = pick(&ls, it->tags[i].key, "tag");
		rv |= api_put(b, k++ ? "," : "");
		rv |= api_put(b, name);
		rv |= api_put(b, "=\"");
		rv |= api_prom_label_value(b, it->tags[i].val);
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
	char buf[40];
	if (isnan(v))
		return api_put(b, "NaN");
	if (isinf(v))
		return api_put(b, v > 0 ? "+Inf" : "-Inf");
	api_fmt_double(v, buf, sizeof buf);
	return api_put(b, buf);
}

/* name{labels[,extra]} value\n */
static int sample(struct mb_buf *b, const char *fam, size_t famlen, const char *suffix,
                  const char *labels, size_t lablen, const char *extra, double v)
{
	int rv = api_putn(b, fam, famlen);
	rv |= api_put(b, suffix);
	if (lablen || extra) {
		rv |= api_put(b, "{");
		rv |= api_putn(b, labels, lablen);
		if (extra) {
			rv |= api_put(b, lablen ? "," : "");
			rv |= api_put(b, extra);
		}
		rv |= api_put(b, "}");
	}
	rv |= api_put(b, " ");
	rv |= put_num(b, v);
	rv |= api_put(b, "\n");
	return rv;
}

/* Cumulative count of running-sketch observations <= le, in base units. */
static uint64_t sketch_le(const struct mb_sketch *s, double le, double scale)
{
	uint64_t c = s->zero;
	for (uint32_t i = 0; i < s->neg_n; i++)
		c += s->neg[i];
	for (uint32_t i = 0; i < s->pos_n; i++)
		if (mb_sketch_value(s->pos_lo + (int32_t)i) * scale <= le)
			c += s->pos[i];
	return c;
}

static int put_series(struct mb_buf *b, const struct mb_export_item *it, const struct entry *e,
                      const char *base)
{
	const char *fam = base + e->fam_off, *lab = base + e->lab_off;
	size_t fl = e->fam_len, ll = e->lab_len;
	int rv = 0;
	char extra[64];
	switch (e->pt) {
	case PT_COUNTER:
		rv |= sample(b, fam, fl, "", lab, ll, NULL, it->total * e->scale);
		break;
	case PT_GAUGE:
		rv |= sample(b, fam, fl, "", lab, ll, NULL, it->value * e->scale);
		break;
	case PT_SUMMARY:
		for (int q = 0; it->has_q && q < MB_EXPORT_NQ; q++) {
			if (!isfinite(it->q[q]))
				continue;
			rv |= sample(b, fam, fl, "", lab, ll, qlabel[q], it->q[q] * e->scale);
		}
		rv |= sample(b, fam, fl, "_sum", lab, ll, NULL, it->sum * e->scale);
		rv |= sample(b, fam, fl, "_count", lab, ll, NULL, it->count);
		break;
	case PT_HISTOGRAM: {
		uint64_t total = it->running ? mb_sketch_count(it->running) : 0;
		for (int k = 0; it->running && k < NBUCKETS; k++) {
			char le[40];
			api_fmt_double(buckets[k], le, sizeof le);
			snprintf(extra, sizeof extra, "le=\"%s\"", le);
			rv |= sample(b, fam, fl, "_bucket", lab, ll, extra,
			             (double)sketch_le(it->running, buckets[k], e->scale));
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
	rv |= api_put(b, ptype_name[pt]);
	rv |= api_put(b, "\n");
	return rv;
}

int api_prom_render(struct mb_buf *out, const struct mb_reply *r, bool hist, uint64_t *skipped)
{
	struct mb_buf strs = {0};
	struct entry *ents = NULL;
	uint32_t n = 0;
	int rv = 0;
	*skipped = 0;
	if (r->nitems) {
		ents = calloc(r->nitems, sizeof *ents);
		if (!ents)
			return MB_ENOMEM;
	}
	for (uint32_t i = 0; i < r->nitems; i++) {
		const struct mb_export_item *it = &r->items[i];
		const struct mb_source_dims *src = it->src < r->nsrcs ? &r->srcs[it->src] : NULL;
		struct entry *e = &ents[n];
		char fam[MB_MAX_NAME + 64];
		e->idx = i;
		e->pt = (uint8_t)ptype_of(it->kind, hist);
		family_name(it, src ? src->source : NULL, e->pt, fam, sizeof fam, &e->scale);
		e->fam_off = (uint32_t)strs.len;
		e->fam_len = (uint32_t)strlen(fam);
		if (api_put(&strs, fam) != 0)
			goto nomem;
		e->lab_off = (uint32_t)strs.len;
		if (put_labels(&strs, src, it) != 0)
			goto nomem;
		e->lab_len = (uint32_t)(strs.len - e->lab_off);
		n++;
	}
	qsort_r(ents, n, sizeof *ents, entry_cmp, strs.data);
	const char *base = (const char *)strs.data;
	for (uint32_t i = 0; i < n;) {
		/* one family: the same name; the first type (counter, gauge, summary, histogram)
		 * wins, series of another type under that name are skipped and counted */
		uint32_t j = i;
		const struct entry *f = &ents[i];
		rv |= put_help(out, base + f->fam_off, f->fam_len, &r->items[f->idx], f->pt);
		for (; j < n && ents[j].fam_len == f->fam_len &&
		       memcmp(base + ents[j].fam_off, base + f->fam_off, f->fam_len) == 0;
		     j++) {
			const struct entry *e = &ents[j];
			if (e->pt != f->pt ||
			    (j > i && e->lab_len == ents[j - 1].lab_len && ents[j - 1].pt == e->pt &&
			     memcmp(base + e->lab_off, base + ents[j - 1].lab_off, e->lab_len) == 0)) {
				(*skipped)++;
				continue;
			}
			rv |= put_series(out, &r->items[e->idx], e, base);
		}
		i = j;
	}
	free(ents);
	mb_buf_free(&strs);
	return rv ? MB_ENOMEM : 0;
nomem:
	free(ents);
	mb_buf_free(&strs);
	return MB_ENOMEM;
}
