/* json.c: the small JSON writer behind every body the bridge and the CLI print: strings
 * escaped per RFC 8259 with invalid UTF-8 replaced, numbers finite and shortest. */
#include "api.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_put(struct mb_buf *b, const char *s)
{
	return mb_buf_append(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 when it is not one: overlongs,
 * surrogates and code points past U+10FFFF are invalid (RFC 3629). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len;
	unsigned cp, min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int api_json_strn(struct mb_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;
	int rv = 0;
	/* Names, units and tags are printable ASCII almost always: copied whole. */
	while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
		i++;
	if (i == n) {
		if (mb_buf_reserve(b, n + 2) != 0)
			return MB_ENOMEM;
		uint8_t *w = b->data + b->len;
		w[0] = '"';
		memcpy(w + 1, s, n);
		w[n + 1] = '"';
		b->len += n + 2;
		return 0;
	}
	rv |= api_putn(b, "\"", 1);
	while (i < n) {
		unsigned c = p[i];
		size_t l = 0;
		if (c >= 0x20 && c != '"' && c != '\\' && (l = utf8_len(p + i, n - i)) > 0) {
			i += l;
			continue;
		}
		/* flush the clean run before i */
		rv |= api_putn(b, s + run, i - run);
		char esc[8];
		if (c == '"') {
			rv |= api_putn(b, "\\\"", 2);
		} else if (c == '\\') {
			rv |= api_putn(b, "\\\\", 2);
		} else if (c == '\n') {
			rv |= api_putn(b, "\\n", 2);
		} else if (c == '\r') {
			rv |= api_putn(b, "\\r", 2);
		} else if (c == '\t') {
			rv |= api_putn(b, "\\t", 2);
		} else if (c == '\b') {
			rv |= api_putn(b, "\\b", 2);
		} else if (c == '\f') {
			rv |= api_putn(b, "\\f", 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			rv |= api_putn(b, esc, 6);
		} else {
			rv |= api_putn(b, "\xef\xbf\xbd", 3); /* U+FFFD for one bad byte */
		}
		i++;
		run = i;
	}
	rv |= api_putn(b, s + run, i - run);
	rv |= api_putn(b, "\"", 1);
	return rv ? MB_ENOMEM : 0;
}

int api_json_str(struct mb_buf *b, const char *s)
{
	return api_json_strn(b, s ? s : "", s ? strlen(s) : 0);
}

/* 10^0..10^27: exact in x86's 64-bit-mantissa long double (5^27 < 2^63). */
static const long double p10[28] = {
	1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
	1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
	1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L,
};

static const uint64_t p10u[18] = {
	1ull,           10ull,           100ull,           1000ull,           10000ull,
	100000ull,      1000000ull,      10000000ull,      100000000ull,      1000000000ull,
	10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull, 100000000000000ull,
	1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
};

/* An integral long double below 2^63 as an integer. A C cast truncates, and on x87 that
 * switches the FPU's rounding mode twice per conversion (two serialising fldcw: most of the
 * formatter's time); the value is integral already, so the current mode gives it exactly. */
static uint64_t ld_to_u64(long double r)
{
#if defined(__x86_64__) || defined(__i386__)
	int64_t m;
	__asm__("fistpll %0" : "=m"(m) : "t"(r) : "st");
	return (uint64_t)m;
#else
	return (uint64_t)r;
#endif
}

static long double scale10(long double x, int k)
{
	return k >= 0 ? x * p10[k] : x / p10[-k];
}

/* Writes m (nd significant digits, decimal exponent x of the first) the way "%.Pg" does:
 * exponent form when x < -4 or x >= P, trailing zeros dropped. */
static size_t put_g(bool neg, uint64_t m, int nd, int x, int prec, char *buf)
{
	char d[24];
	int k = 0, o = 0;
	for (int i = nd - 1; i >= 0; i--, m /= 10)
		d[i] = (char)('0' + m % 10);
	while (nd > 1 && d[nd - 1] == '0')
		nd--;
	if (neg)
		buf[o++] = '-';
	if (x < -4 || x >= prec) {
		buf[o++] = d[0];
		if (nd > 1) {
			buf[o++] = '.';
			for (k = 1; k < nd; k++)
				buf[o++] = d[k];
		}
		o += sprintf(buf + o, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
	} else if (x < 0) {
		buf[o++] = '0';
		buf[o++] = '.';
		for (k = 0; k < -x - 1; k++)
			buf[o++] = '0';
		for (k = 0; k < nd; k++)
			buf[o++] = d[k];
	} else {
		for (k = 0; k < nd || k <= x; k++) {
			if (k == x + 1)
				buf[o++] = '.';
			buf[o++] = k < nd ? d[k] : '0';
		}
	}
	buf[o] = 0;
	return (size_t)o;
}

/* The shortest of 15, 16, 17 digits that reads back as v, without printf or strtod: digits
 * from a long double scaling (64-bit mantissa, far finer than a double's), each candidate
 * checked against half the gap to v's neighbour. Returns the length, or 0 when unsure (then
 * the exact slow path decides): out of the exact power range, or too close to call. */
static size_t fmt_fast(double v, char *buf, size_t n)
{
	double a = fabs(v);
	if (LDBL_MANT_DIG < 64 || n < 32 || !(a >= 1e-11 && a < 1e43))
		return 0;
	int x = (int)floor(log10(a));
	long double y = scale10((long double)a, 16 - x);
	if (y < 1e16L) {
		x--;
		y = scale10((long double)a, 16 - x);
	} else if (y >= 1e17L) {
		x++;
		y = scale10((long double)a, 16 - x);
	}
	if (y < 1e16L || y >= 1e17L || 16 - x > 27 || 16 - x < -27)
		return 0;
	for (int prec = 15; prec <= 17; prec++) {
		long double q = y / p10[17 - prec];
		long double r = rintl(q); /* to nearest: the FPU's mode */
		/* y is within ~0.01 of a unit of the exact scaled value: a digit that close to a
		 * half could round either way, so printf's exact rounding decides those */
		if (fabsl(fabsl(q - r) - 0.5L) < 0.02L / p10[17 - prec])
			return 0;
		uint64_t m = ld_to_u64(r);
		int xe = x;
		if (m >= p10u[prec]) { /* 9.99.. rounded up to 10.0 */
			m /= 10;
			xe++;
		}
		int k = xe - prec + 1;
		if (k > 27 || k < -27)
			return 0;
		long double c = scale10((long double)m, k);
		long double gap = fabsl((long double)nextafter(a, c > a ? INFINITY : 0.0) - a) / 2;
		long double d = fabsl(c - (long double)a);
		if (d < gap * (1 - 1e-9L)) {
			return put_g(v < 0, m, prec, xe, prec, buf);
		}
		if (d <= gap * (1 + 1e-9L))
			return 0; /* a near tie: let strtod judge */
	}
	return 0;
}

/* A value of at most 4 decimals (a rate of 0.1, a mean of 21.5), 1e-4 <= |v| < 1e11: the
 * fewest decimals k whose decimal r / 10^k reads back as v is what the shortest "%.Pg" prints
 * (that decimal has at most 15 digits, so it is also v's 15-digit rounding). Below 1e11 the
 * 10^-4 grid is coarser than v's ulp, so round(v * 10^k) is the one candidate at each k.
 * Returns the length, 0 when v has more decimals. */
static size_t fmt_short(double v, char *buf)
{
	static const double p[5] = {1, 10, 100, 1000, 10000};
	double a = fabs(v);
	if (!(a >= 1e-4 && a < 1e11))
		return 0;
	for (int k = 1; k <= 4; k++) {
		uint64_t r = (uint64_t)(a * p[k] + 0.5);
		if ((double)r / p[k] != a)
			continue;
		char d[24];
		int nd = 0;
		do {
			d[nd++] = (char)('0' + r % 10);
			r /= 10;
		} while (r);
		while (nd <= k) /* 0.05: a zero before the point and after it */
			d[nd++] = '0';
		size_t o = 0;
		if (v < 0)
			buf[o++] = '-';
		while (nd > k)
			buf[o++] = d[--nd];
		buf[o++] = '.';
		while (nd)
			buf[o++] = d[--nd];
		buf[o] = 0;
		return o;
	}
	return 0;
}

size_t api_fmt_double_n(double v, char *buf, size_t n)
{
	if (v == 0)
		return (size_t)snprintf(buf, n, "0");
	/* Integers that double holds exactly print without exponent up to 2^53, by hand: this
	 * is the hot path of a 100,000-series /metrics. */
	if (fabs(v) < 9007199254740992.0 && v == floor(v) && n >= 24) {
		char tmp[24];
		int k = 0;
		uint64_t u = (uint64_t)fabs(v);
		do {
			tmp[k++] = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		size_t o = 0;
		if (v < 0)
			buf[o++] = '-';
		while (k)
			buf[o++] = tmp[--k];
		buf[o] = 0;
		return o;
	}
	size_t o = n >= 32 ? fmt_short(v, buf) : 0;
	if (o || (o = fmt_fast(v, buf, n)) != 0)
		return o;
	/* %g drops trailing zeros, so the first precision from 15 (every decimal of up to 15
	 * digits survives a round trip through a double) that reads back is the shortest form. */
	int k = 0;
	for (int prec = 15; prec <= 17; prec++) {
		k = snprintf(buf, n, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return k < 0 ? 0 : (size_t)k < n ? (size_t)k : n - 1;
}

void api_fmt_double(double v, char *buf, size_t n)
{
	api_fmt_double_n(v, buf, n);
}

int api_json_num(struct mb_buf *b, double v)
{
	if (!isfinite(v))
		return API_PUTL(b, "null");
	if (mb_buf_reserve(b, 40) != 0)
		return MB_ENOMEM;
	b->len += api_fmt_double_n(v, (char *)b->data + b->len, 40);
	return 0;
}

int api_json_error(struct mb_buf *b, const char *msg)
{
	int rv = 0;
	rv |= api_put(b, "{\"error\":");
	rv |= api_json_str(b, msg);
	rv |= api_put(b, "}");
	return rv ? MB_ENOMEM : 0;
}
