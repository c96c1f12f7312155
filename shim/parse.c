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

/* "k:v,k2,k3:v3" -> l->tags sorted by key, unique (the last wins). */
static int parse_tags(const char *p, size_t n, struct shim_line *l)
{
	struct shim_tag t[MB_MAX_TAGS];
	int nt = 0;
	size_t i = 0;

	while (i <= n) {
		const char *s = p + i;
		const char *comma = memchr(s, ',', n - i);
		size_t len = comma ? (size_t)(comma - s) : n - i;
		if (len > 0) {
			const char *colon = memchr(s, ':', len);
			size_t kl = colon ? (size_t)(colon - s) : len;
			size_t vl = colon ? len - kl - 1 : 0;
			if (kl == 0 || kl > MB_MAX_TAG_KEY || vl > MB_MAX_TAG_VAL)
				return MB_EINVAL;
			if (!text_ok((const unsigned char *)s, kl) ||
			    (vl && !text_ok((const unsigned char *)colon + 1, vl)))
				return MB_EINVAL;
			struct shim_tag nt1 = {s, colon ? colon + 1 : s + kl, (uint16_t)kl,
			                       (uint16_t)vl};
			/* Stable insertion: a repeated key replaces the earlier one. */
			int j = nt;
			while (j > 0 && tag_cmp(&t[j - 1], &nt1) > 0)
				j--;
			if (j > 0 && tag_cmp(&t[j - 1], &nt1) == 0) {
				t[j - 1] = nt1;
			} else {
				if (nt == MB_MAX_TAGS)
					return MB_EINVAL;
				memmove(&t[j + 1], &t[j], (size_t)(nt - j) * sizeof t[0]);
				t[j] = nt1;
				nt++;
			}
		}
		i += len + 1;
	}
	memcpy(l->tags, t, (size_t)nt * sizeof t[0]);
	l->ntags = (uint16_t)nt;
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

int shim_parse_line(const char *p, size_t n, struct shim_line *l)
{
	if (n && p[n - 1] == '\r')
		n--;
	if (n == 0)
		return SHIM_LINE_EMPTY;
	if (n >= 3 && p[0] == '_' && p[1] == 'e' && p[2] == '{')
		return SHIM_LINE_EVENT;
	if (n >= 4 && memcmp(p, "_sc|", 4) == 0)
		return SHIM_LINE_SCHECK;

	const char *colon = memchr(p, ':', n);
	if (!colon)
		return SHIM_LINE_BAD;
	size_t namelen = (size_t)(colon - p);
	if (namelen == 0 || namelen > MB_MAX_NAME)
		return SHIM_LINE_BAD;
	for (size_t i = 0; i < namelen; i++)
		if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
			return SHIM_LINE_BAD;
	/* The shim's own counters: a client's line there would double them in one batch. */
	if (namelen > 16 && memcmp(p, "metricsbus.shim.", 16) == 0)
		return SHIM_LINE_BAD;

	const char *end = p + n;
	const char *val = colon + 1;
	const char *bar = memchr(val, '|', (size_t)(end - val));
	if (!bar)
		return SHIM_LINE_BAD;
	size_t vallen = (size_t)(bar - val);
	const char *type = bar + 1;
	const char *tend = memchr(type, '|', (size_t)(end - type));
	if (!tend)
		tend = end;

	l->name = p;
	l->namelen = (uint16_t)namelen;
	l->delta = false;
	l->value = 0;
	l->member = NULL;
	l->memberlen = 0;
	l->values = NULL;
	l->valueslen = 0;
	l->nvalues = 1;
	l->rate = 1;
	l->ntags = 0;
	if (parse_type(type, (size_t)(tend - type), &l->kind) != 0)
		return SHIM_LINE_BAD;

	if (l->kind == MB_SET) {
		if (vallen == 0 || vallen > UINT32_MAX)
			return SHIM_LINE_BAD;
		l->member = val;
		l->memberlen = (uint32_t)vallen;
	} else if (mb_kind_is_timer(l->kind) && memchr(val, ':', vallen)) {
		/* DogStatsD 1.1 packs several values of a timer kind in one line: each must be
		 * a number, or the whole line is bad. */
		const char *v = val, *vend = val + vallen;
		uint32_t nv = 0;
		while (v <= vend) {
			const char *c = memchr(v, ':', (size_t)(vend - v));
			const char *e = c ? c : vend;
			double d;
			if (shim_parse_number(v, (size_t)(e - v), &d) != 0)
				return SHIM_LINE_BAD;
			if (nv++ == 0)
				l->value = d;
			v = e + 1;
		}
		l->values = val;
		l->valueslen = (uint32_t)vallen;
		l->nvalues = nv;
	} else {
		if (shim_parse_number(val, vallen, &l->value) != 0)
			return SHIM_LINE_BAD;
		if (l->kind == MB_GAUGE && (val[0] == '+' || val[0] == '-'))
			l->delta = true;
	}

	bool have_rate = false, have_tags = false;
	const char *f = tend;
	while (f < end) { /* f points at a '|' */
		const char *fs = f + 1;
		const char *fe = memchr(fs, '|', (size_t)(end - fs));
		if (!fe)
			fe = end;
		size_t fl = (size_t)(fe - fs);
		if (fl >= 1 && fs[0] == '@') {
			double r;
			if (have_rate || shim_parse_number(fs + 1, fl - 1, &r) != 0 || !(r > 0) ||
			    r > 1)
				return SHIM_LINE_BAD;
			l->rate = r;
			have_rate = true;
		} else if (fl >= 1 && fs[0] == '#') {
			if (have_tags || parse_tags(fs + 1, fl - 1, l) != 0)
				return SHIM_LINE_BAD;
			have_tags = true;
		} else if ((fl >= 2 && (fs[0] == 'c' || fs[0] == 'e') && fs[1] == ':') ||
		           (fl >= 1 && fs[0] == 'T')) {
			/* DogStatsD container field, external data and client timestamp: the shim
			 * knows its container and stamps the interval itself. */
		} else {
			return SHIM_LINE_BAD;
		}
		f = fe;
	}
	return SHIM_LINE_OK;
}
