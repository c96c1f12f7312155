/* parse.c: the statsd / DogStatsD line parser, in place over the receive buffer.
 * It never allocates and never reads outside the line it is given (fuzzed by fuzz_statsd). */
#include "shim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Exact powers of ten: a mantissa below 2^53 times or divided by one of these is correctly
 * rounded (Clinger's fast path), which keeps "0.1" or "12.5" exact without strtod. */
static const double pow10tab[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#define NUM_MAX_LEN 64 /* longer numbers are absurd: a bad line */

int shim_parse_number(const char *p, size_t n, double *out)
{
	size_t i = 0;
	bool neg = false, any = false;
	uint64_t mant = 0;
	int ndig = 0, exp10 = 0;

	if (n == 0 || n > NUM_MAX_LEN)
		return MB_EINVAL;
	if (p[0] == '+' || p[0] == '-') {
		neg = p[0] == '-';
		i++;
	}
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		any = true;
		if (ndig < 19) {
			mant = mant * 10 + (uint64_t)(p[i] - '0');
			if (mant)
				ndig++;
		} else {
			exp10++;
		}
	}
	if (i < n && p[i] == '.') {
		for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
			any = true;
			if (ndig < 19) {
				mant = mant * 10 + (uint64_t)(p[i] - '0');
				if (mant)
					ndig++;
				exp10--;
			}
		}
	}
	if (!any)
		return MB_EINVAL;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		bool eneg = false;
		int e = 0;
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-')) {
			eneg = p[i] == '-';
			i++;
		}
		if (i >= n || p[i] < '0' || p[i] > '9')
			return MB_EINVAL;
		for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			if (e < 100000)
				e = e * 10 + (p[i] - '0');
		exp10 += eneg ? -e : e;
	}
	if (i != n)
		return MB_EINVAL;

	double v;
	if (mant == 0) {
		v = 0;
	} else if (mant <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
		v = exp10 < 0 ? (double)mant / pow10tab[-exp10] : (double)mant * pow10tab[exp10];
	} else {
		/* Rare (long mantissas, big exponents): strtod on a bounded copy, the format was
		 * already checked so it cannot see "inf", "nan" or hex. */
		char tmp[NUM_MAX_LEN + 1];
		memcpy(tmp, p, n);
		tmp[n] = 0;
		v = strtod(tmp, NULL);
		if (neg)
			v = -v;
		neg = false;
	}
	if (!isfinite(v))
		return MB_EINVAL;
	*out = neg ? -v : v;
	return 0;
}

/* Tag text per schemas/v1: no control characters, valid UTF-8 (no overlongs, surrogates). */
static bool text_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			i++;
			continue;
		}
		size_t len;
		unsigned min;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2, min = 0x80, cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3, min = 0x800, cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4, min = 0x10000, cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static int tag_cmp(const struct shim_tag *a, const struct shim_tag *b)
{
	size_t m = a->klen < b->klen ? a->klen : b->klen;
	int c = memcmp(a->key, b->key, m);
	if (c)
		return c;
	return (a->klen > b->klen) - (a->klen < b->klen);
}

/* Inserts one tag into l->tags, kept sorted by key; a repeated key replaces the earlier one,
 * so the last given wins (and DogStatsD's "|#" tags, read after the name's, win over them). */
static int add_tag(struct shim_line *l, const char *k, size_t kl, const char *v, size_t vl)
{
	if (kl == 0 || kl > MB_MAX_TAG_KEY || vl > MB_MAX_TAG_VAL)
		return MB_EINVAL;
	if (!text_ok((const unsigned char *)k, kl) || (vl && !text_ok((const unsigned char *)v, vl)))
		return MB_EINVAL;
	struct shim_tag t1 = {k, vl ? v : k + kl, (uint16_t)kl, (uint16_t)vl};
	int j = l->ntags;
	while (j > 0 && tag_cmp(&l->tags[j - 1], &t1) > 0)
		j--;
	if (j > 0 && tag_cmp(&l->tags[j - 1], &t1) == 0) {
		l->tags[j - 1] = t1;
		return 0;
	}
	if (l->ntags == MB_MAX_TAGS)
		return MB_EINVAL;
	memmove(&l->tags[j + 1], &l->tags[j], (size_t)(l->ntags - j) * sizeof l->tags[0]);
	l->tags[j] = t1;
	l->ntags++;
	return 0;
}

/* DogStatsD "k:v,k2,k3:v3": the first ':' splits, a bare key has the empty value, empty
 * items are skipped; anything else malformed makes the line bad. */
static int parse_dog_tags(const char *p, size_t n, struct shim_line *l)
{
	const char *end = p + n;
	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
		if (len > 0) {
			const char *colon = memchr(p, ':', len);
			size_t kl = colon ? (size_t)(colon - p) : len;
			if (add_tag(l, p, kl, colon ? colon + 1 : NULL, colon ? len - kl - 1 : 0) != 0)
				return MB_EINVAL;
		}
		p += len + 1;
	}
	return 0;
}

/* statsd_exporter's name tags "k=v,k2=v2" (InfluxDB, Librato, SignalFX): as it does, an item
 * that is empty, has no '=' or an empty key or value is skipped and counted (the line kept);
 * one too long or not UTF-8 makes the line bad, as a DogStatsD tag would. */
static int parse_name_tags(const char *p, size_t n, struct shim_line *l)
{
	const char *end = p + n;
	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
		const char *eq = memchr(p, '=', len);
		if (!comma && len == 0)
			break; /* "k=v,": a trailing comma ends the list, as in statsd_exporter */
		if (!eq || eq == p || eq == p + len - 1) {
			l->tag_errors++;
		} else if (add_tag(l, p, (size_t)(eq - p), eq + 1, len - (size_t)(eq - p) - 1) != 0) {
			return MB_EINVAL;
		}
		p += len + 1;
	}
	return 0;
}

static int parse_type(const char *t, size_t n, uint8_t *kind)
{
	if (n == 1) {
		switch (t[0]) {
		case 'c':
			*kind = MB_COUNTER;
			return 0;
		case 'g':
			*kind = MB_GAUGE;
			return 0;
		case 'h':
			*kind = MB_HISTOGRAM;
			return 0;
		case 'd':
			*kind = MB_DISTRIBUTION;
			return 0;
		case 's':
			*kind = MB_SET;
			return 0;
		}
	} else if (n == 2 && t[0] == 'm' && t[1] == 's') {
		*kind = MB_TIMER;
		return 0;
	}
	return MB_EINVAL;
}

int shim_values_next(struct shim_values *it, double *out, bool *sign, bool *done)
{
	const char *v = it->p;
	while (v < it->end && *v == ':') /* empty values ("1::2", "1:") are skipped, as DogStatsD */
		v++;
	*done = v >= it->end;
	if (*done)
		return 0;
	const char *c = memchr(v, ':', (size_t)(it->end - v));
	const char *e = c ? c : it->end;
	it->p = e;
	*sign = *v == '+' || *v == '-';
	return shim_parse_number(v, (size_t)(e - v), out);
}

static bool name_ok(const char *p, size_t n)
{
	if (n == 0 || n > MB_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
			return false;
	/* The shim's own counters: a client's line there would double them in one batch. */
	return !(n > 16 && memcmp(p, "metricsbus.shim.", 16) == 0);
}

/* The name part (before the first ':'): its tags in the styles enabled, in statsd_exporter's
 * order: SignalFX "[...]" anywhere, else the first '#' (Librato) or ',' (InfluxDB). */
static int parse_name(const char *p, size_t n, unsigned styles, struct shim_line *l)
{
	if (styles & SHIM_STYLE_SIGNALFX) {
		const char *o = memchr(p, '[', n), *c = memchr(p, ']', n);
		if (o && c && o < c) {
			size_t pre = (size_t)(o - p), post = n - (size_t)(c - p) - 1;
			if (parse_name_tags(o + 1, (size_t)(c - o - 1), l) != 0)
				return SHIM_BAD_TAGS;
			if (post == 0) {
				if (!name_ok(p, pre))
					return SHIM_BAD_NAME;
				l->name = p;
				l->namelen = (uint16_t)pre;
				return 0;
			}
			if (pre + post > MB_MAX_NAME)
				return SHIM_BAD_NAME;
			/* "a[k=v].b" is "a.b": the one case where the name is not in the buffer. */
			memcpy(l->namebuf, p, pre);
			memcpy(l->namebuf + pre, c + 1, post);
			if (!name_ok(l->namebuf, pre + post))
				return SHIM_BAD_NAME;
			l->name = l->namebuf;
			l->namelen = (uint16_t)(pre + post);
			return 0;
		}
		if (o || c) {
			/* One bracket (or "]" before "["): statsd_exporter keeps the name as it is
			 * and counts a tag error; so do we. */
			l->tag_errors++;
			if (!name_ok(p, n))
				return SHIM_BAD_NAME;
			l->name = p;
			l->namelen = (uint16_t)n;
			return 0;
		}
	}
	size_t i = 0;
	for (; i < n; i++) {
		if ((p[i] == '#' && (styles & SHIM_STYLE_LIBRATO)) ||
		    (p[i] == ',' && (styles & SHIM_STYLE_INFLUXDB)))
			break;
	}
	if (!name_ok(p, i))
		return SHIM_BAD_NAME;
	if (i < n && parse_name_tags(p + i + 1, n - i - 1, l) != 0)
		return SHIM_BAD_TAGS;
	l->name = p;
	l->namelen = (uint16_t)i;
	return 0;
}

/* DogStatsD's "|T<unix seconds>": a positive decimal integer. */
static bool timestamp_ok(const char *p, size_t n, int64_t *ts)
{
	int64_t v = 0;
	if (n == 0 || n > 18)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*ts = v;
	return v > 0;
}

static int parse_line(const char *p, size_t n, unsigned styles, struct shim_line *l)
{
	const char *colon = memchr(p, ':', n);
	if (!colon)
		return SHIM_BAD_FORMAT;
	const char *end = p + n;
	const char *val = colon + 1;
	const char *bar = memchr(val, '|', (size_t)(end - val));
	if (!bar)
		return SHIM_BAD_FORMAT;
	size_t vallen = (size_t)(bar - val);
	const char *type = bar + 1;
	const char *tend = memchr(type, '|', (size_t)(end - type));
	if (!tend)
		tend = end;

	int bad;
	if ((bad = parse_name(p, (size_t)(colon - p), styles, l)) != 0)
		return bad;
	if (parse_type(type, (size_t)(tend - type), &l->kind) != 0)
		return SHIM_BAD_TYPE;

	if (l->kind == MB_SET) {
		if (vallen == 0 || vallen > UINT32_MAX)
			return SHIM_BAD_VALUE;
		l->member = val;
		l->memberlen = (uint32_t)vallen;
	} else if (memchr(val, ':', vallen)) {
		/* DogStatsD 1.1 packs several values in one line, for every type but sets: each
		 * must be a number (empty ones are skipped), or the whole line is bad. */
		struct shim_values it = {val, val + vallen};
		uint32_t nv = 0;
		double d;
		bool sign, done = false;
		while (!done) {
			if (shim_values_next(&it, &d, &sign, &done) != 0)
				return SHIM_BAD_VALUE;
			if (!done && nv++ == 0) {
				l->value = d;
				l->delta = l->kind == MB_GAUGE && sign;
			}
		}
		if (nv == 0)
			return SHIM_BAD_VALUE;
		l->values = val;
		l->valueslen = (uint32_t)vallen;
		l->nvalues = nv;
	} else {
		if (shim_parse_number(val, vallen, &l->value) != 0)
			return SHIM_BAD_VALUE;
		if (l->kind == MB_GAUGE && (val[0] == '+' || val[0] == '-'))
			l->delta = true;
	}

	const char *f = tend;
	while (f < end) { /* f points at a '|' */
		const char *fs = f + 1;
		const char *fe = memchr(fs, '|', (size_t)(end - fs));
		if (!fe)
			fe = end;
		size_t fl = (size_t)(fe - fs);
		if (fl >= 1 && fs[0] == '@') {
			/* Given twice, the last wins (as in the Datadog agent). */
			double r;
			if (shim_parse_number(fs + 1, fl - 1, &r) != 0 || !(r > 0) || r > 1)
				return SHIM_BAD_RATE;
			l->rate = r;
		} else if (fl >= 1 && fs[0] == '#' && (styles & SHIM_STYLE_DOGSTATSD)) {
			/* Given twice, both are kept (a repeated key: the last wins). */
			if (parse_dog_tags(fs + 1, fl - 1, l) != 0)
				return SHIM_BAD_TAGS;
		} else if ((fl >= 2 && (fs[0] == 'c' || fs[0] == 'e') && fs[1] == ':') ||
		           (fl >= 5 && memcmp(fs, "card:", 5) == 0)) {
			/* Origin detection (v1.2-v1.6): the container id ("c:<id>", since 1.4
			 * "c:ci-<id>,in-<inode>"), external data "e:" and cardinality "card:". The
			 * shim knows its container, so none of them is a tag or the identity. */
		} else if (fl >= 1 && fs[0] == 'T' && timestamp_ok(fs + 1, fl - 1, &l->timestamp)) {
			/* v1.3's client timestamp: the point is filed in the interval it arrived in,
			 * as the Datadog agent's aggregating pipeline does (docs/statsd.md). */
		} else {
			/* Unknown, empty, a malformed "T", or "#" with DogStatsD tags turned off. */
			l->unknown++;
		}
		f = fe;
	}
	return 0;
}

int shim_parse_line(const char *p, size_t n, unsigned styles, struct shim_line *l)
{
	if (n && p[n - 1] == '\r')
		n--;
	if (n == 0)
		return SHIM_LINE_EMPTY;
	if (n >= 3 && p[0] == '_' && p[1] == 'e' && p[2] == '{')
		return SHIM_LINE_EVENT;
	if (n >= 4 && memcmp(p, "_sc|", 4) == 0)
		return SHIM_LINE_SCHECK;

	l->name = NULL;
	l->namelen = 0;
	l->delta = false;
	l->value = 0;
	l->member = NULL;
	l->memberlen = 0;
	l->values = NULL;
	l->valueslen = 0;
	l->nvalues = 1;
	l->rate = 1;
	l->timestamp = 0;
	l->ntags = 0;
	l->unknown = 0;
	l->tag_errors = 0;
	int bad = parse_line(p, n, styles, l);
	l->bad = (uint8_t)bad;
	return bad ? SHIM_LINE_BAD : SHIM_LINE_OK;
}

const char *const shim_bad_names[SHIM_BAD_N] = {
    [SHIM_BAD_NONE] = "none",         [SHIM_BAD_FORMAT] = "format",
    [SHIM_BAD_NAME] = "name",         [SHIM_BAD_TYPE] = "type",
    [SHIM_BAD_VALUE] = "value",       [SHIM_BAD_RATE] = "rate",
    [SHIM_BAD_TAGS] = "tags",         [SHIM_BAD_OVERFLOW] = "overflow",
    [SHIM_BAD_TRUNCATED] = "truncated",
};

int shim_tag_styles_parse(const char *s, unsigned *out)
{
	static const struct {
		const char *name;
		unsigned bit;
	} styles[] = {{"dogstatsd", SHIM_STYLE_DOGSTATSD},
	              {"influxdb", SHIM_STYLE_INFLUXDB},
	              {"librato", SHIM_STYLE_LIBRATO},
	              {"signalfx", SHIM_STYLE_SIGNALFX},
	              {"all", SHIM_STYLE_ALL},
	              {"none", 0}};
	unsigned m = 0;
	const char *p = s;
	for (;;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		size_t i;
		for (i = 0; i < sizeof styles / sizeof styles[0]; i++)
			if (strlen(styles[i].name) == len && strncmp(p, styles[i].name, len) == 0)
				break;
		if (i == sizeof styles / sizeof styles[0])
			return MB_EINVAL;
		m |= styles[i].bit;
		if (!c)
			break;
		p = c + 1;
	}
	*out = m;
	return 0;
}
