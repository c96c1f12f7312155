/* prom.c: Prometheus naming shared by every Prometheus-facing output (the bridge's /metrics,
 * agentd's remote write): DC/OS sanitising, unit and type suffixes, labels without repeats. */
#include <stdio.h>
#include <string.h>

#include "mb.h"

static const char *const ptype_name[] = {"counter", "gauge", "summary", "histogram"};

/* Fixed log-spaced buckets (1, 2.5, 5 per decade) wide enough for seconds and bytes alike. */
const double mb_prom_buckets[MB_PROM_NBUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.25,   0.5,     1,      2.5,   5,      10,    25,   50,    100,  250,
	500,    1000,    2500,   5000,  10000,  25000, 50000, 100000, 250000, 500000,
};
const char *const mb_prom_bucket_str[MB_PROM_NBUCKETS] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
	"0.25",   "0.5",     "1",      "2.5",   "5",      "10",    "25",   "50",    "100",  "250",
	"500",    "1000",    "2500",   "5000",  "10000",  "25000", "50000", "100000", "250000", "500000",
};
const double mb_prom_quantiles[MB_EXPORT_NQ] = {0.5, 0.9, 0.95, 0.99, 0.999};
const char *const mb_prom_quantile_str[MB_EXPORT_NQ] = {"0.5", "0.9", "0.95", "0.99", "0.999"};

const char *mb_prom_type_name(int pt)
{
	return pt >= 0 && pt <= MB_PROM_HISTOGRAM ? ptype_name[pt] : "untyped";
}

int mb_prom_type_of(int kind, bool hist)
{
	if (kind == MB_COUNTER)
		return MB_PROM_COUNTER;
	if (mb_kind_is_timer(kind))
		return hist ? MB_PROM_HISTOGRAM : MB_PROM_SUMMARY;
	return MB_PROM_GAUGE;
}

void mb_prom_sanitize(const char *in, char *out, size_t n)
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

void mb_prom_family(const char *name, const char *unit, const char *source, int pt, char *out,
                    size_t n, double *scale)
{
	char base[MB_MAX_NAME + 2];
	mb_prom_sanitize(name, base, sizeof base);
	const char *suf = unit_suffix(unit, scale);
	/* agentd names its own timings *_ms without a unit: base units for Prometheus */
	if (!suf && source && strcmp(source, "agentd") == 0 && ends_with(base, "_ms")) {
		base[strlen(base) - 3] = 0;
		suf = "_seconds";
		*scale = 0.001;
	}
	snprintf(out, n, "%s%s", base, suf && !ends_with(base, suf) ? suf : "");
	if (pt == MB_PROM_COUNTER) {
		if (!ends_with(out, "_total"))
			strncat(out, "_total", n - strlen(out) - 1);
	} else if (ends_with(out, "_total") ||
	           (pt == MB_PROM_GAUGE && (ends_with(out, "_count") || ends_with(out, "_sum") ||
	                                    ends_with(out, "_bucket")))) {
		strncat(out, "_value", n - strlen(out) - 1);
	}
}

static bool reserved_label(const char *s)
{
	return strcmp(s, "le") == 0 || strcmp(s, "quantile") == 0 || strcmp(s, "job") == 0 ||
	       strcmp(s, "instance") == 0 || strncmp(s, "__", 2) == 0;
}

static bool used(const struct mb_prom_labels *ls, const char *s)
{
	for (int i = 0; i < ls->n; i++)
		if (strcmp(ls->name[i], s) == 0)
			return true;
	return false;
}

/* Picks a free label name for key: its sanitised form, else PREFIX_form, else PREFIX_form_2... */
static void pick(struct mb_prom_labels *ls, const char *key, const char *prefix, const char *val)
{
	char s[MB_MAX_TAG_KEY + 2], cand[sizeof ls->name[0]];
	mb_prom_sanitize(key, s, sizeof s);
	ls->val[ls->n] = val;
	if (!reserved_label(s) && !used(ls, s)) {
		/* the common case, without printf: this runs for every label of every series */
		memcpy(ls->name[ls->n], s, strlen(s) + 1);
		ls->n++;
		return;
	}
	snprintf(cand, sizeof cand, "%s_%s", prefix, s);
	for (int k = 2; used(ls, cand); k++)
		snprintf(cand, sizeof cand, "%s_%s_%d", prefix, s, k);
	snprintf(ls->name[ls->n], sizeof ls->name[0], "%s", cand);
	ls->n++;
}

void mb_prom_labels(struct mb_prom_labels *ls, const struct mb_source_dims *src, int ntags,
                    const struct mb_kv *tags)
{
	ls->n = 0;
	for (int i = 0; src && i < src->ndims && ls->n < MB_PROM_MAX_LABELS; i++)
		/* an empty label is the same as none to Prometheus: its name stays taken */
		pick(ls, src->dims[i].key, "dim", src->dims[i].val[0] ? src->dims[i].val : NULL);
	for (int i = 0; i < ntags && ls->n < MB_PROM_MAX_LABELS; i++)
		pick(ls, tags[i].key, "tag", tags[i].val);
}

void mb_prom_sketch_buckets(const struct mb_sketch *s, double scale,
                            uint64_t out[MB_PROM_NBUCKETS + 1])
{
	/* one pass: the bins' values rise with their index, so each bin's bound is found by
	 * moving on from the last one's (mb_prom_sketch_le per bound walks every bin each time) */
	uint64_t c = s->zero;
	int k = 0;
	for (uint32_t i = 0; i < s->neg_n; i++)
		c += s->neg[i];
	memset(out, 0, (MB_PROM_NBUCKETS + 1) * sizeof *out);
	out[0] = c;
	for (uint32_t i = 0; i < s->pos_n; i++) {
		if (!s->pos[i])
			continue;
		double v = mb_sketch_value(s->pos_lo + (int32_t)i) * scale;
		while (k < MB_PROM_NBUCKETS && v > mb_prom_buckets[k])
			k++;
		out[k] += s->pos[i];
	}
	for (k = 1; k <= MB_PROM_NBUCKETS; k++)
		out[k] += out[k - 1];
}

uint64_t mb_prom_sketch_le(const struct mb_sketch *s, double le, double scale)
{
	uint64_t c = s->zero;
	for (uint32_t i = 0; i < s->neg_n; i++)
		c += s->neg[i];
	for (uint32_t i = 0; i < s->pos_n; i++)
		if (mb_sketch_value(s->pos_lo + (int32_t)i) * scale <= le)
			c += s->pos[i];
	return c;
}
