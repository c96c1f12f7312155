/* parse.c: strict parsers and formatters for durations, sizes, retention specs and times,
 * the clocks, and mb_hash64. Pure functions: whole-string matches only, exact arithmetic. */
#include "mb.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* A decimal "DIGITS[.DIGITS]" at *s: integer part, fraction digits (trailing zeros dropped)
 * and their count. Advances *s. MB_EINVAL when there is no digit or it overflows. */
static int parse_decimal(const char **sp, uint64_t *ip, uint64_t *frac, int *nfrac)
{
	const char *s = *sp;
	uint64_t v = 0, f = 0;
	int nf = 0, nd = 0, pending_zeros = 0;
	while (*s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return MB_EINVAL;
		v = v * 10 + d;
		s++;
		nd++;
	}
	if (*s == '.') {
		s++;
		int nfd = 0;
		while (*s >= '0' && *s <= '9') {
			unsigned d = (unsigned)(*s - '0');
			nfd++;
			if (d == 0) {
				pending_zeros++;
			} else {
				/* Only significant digits cost precision; 18 fit in a uint64. */
				if (nf + pending_zeros + 1 > 18)
					return MB_EINVAL;
				for (; pending_zeros > 0; pending_zeros--) {
					f *= 10;
					nf++;
				}
				f = f * 10 + d;
				nf++;
			}
			s++;
		}
		if (nfd == 0)
			return MB_EINVAL; /* "1." */
	}
	if (nd == 0)
		return MB_EINVAL; /* ".5" or nothing */
	*ip = v;
	*frac = f;
	*nfrac = nf;
	*sp = s;
	return 0;
}

static const uint64_t pow10u[19] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
	100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
	10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
	100000000000000000ull, 1000000000000000000ull,
};

/* (ip + frac/10^nf) * unit exactly, at most max; MB_EINVAL when it is not whole or too big. */
static int scale_exact(uint64_t ip, uint64_t frac, int nf, uint64_t unit, uint64_t max,
                       uint64_t *out)
{
	unsigned __int128 whole = (unsigned __int128)ip * unit;
	unsigned __int128 fpart = (unsigned __int128)frac * unit;
	if (fpart % pow10u[nf] != 0)
		return MB_EINVAL;
	whole += fpart / pow10u[nf];
	if (whole > max)
		return MB_EINVAL;
	*out = (uint64_t)whole;
	return 0;
}

struct unit {
	const char *name;
	uint64_t mult;
};

/* Longest names first where one is a prefix of another ("ms" before "m"). */
static const struct unit duration_units[] = {
	{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
	{"w", 604800000},
};

static const struct unit *match_unit(const char **sp, const struct unit *u, size_t n)
{
	const struct unit *best = NULL;
	size_t bestlen = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(u[i].name);
		if (l > bestlen && strncmp(*sp, u[i].name, l) == 0) {
			best = &u[i];
			bestlen = l;
		}
	}
	if (best)
		*sp += bestlen;
	return best;
}

/* Go-style sums ("1h30m") are accepted as well: they are what such users type. */
int mb_parse_duration(const char *s, int64_t *ms)
{
	if (!s || !*s)
		return MB_EINVAL;
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	uint64_t total = 0;
	while (*s) {
		uint64_t ip, frac, v;
		int nf;
		if (parse_decimal(&s, &ip, &frac, &nf) != 0)
			return MB_EINVAL;
		const struct unit *u = match_unit(&s, duration_units,
		                                  sizeof duration_units / sizeof duration_units[0]);
		if (!u)
			return MB_EINVAL;
		if (scale_exact(ip, frac, nf, u->mult, (uint64_t)INT64_MAX, &v) != 0)
			return MB_EINVAL;
		if (v > (uint64_t)INT64_MAX - total)
			return MB_EINVAL;
		total += v;
	}
	*ms = (int64_t)total;
	return 0;
}

static const struct unit size_units[] = {
	{"B", 1},
	{"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
	{"KB", 1000ull}, {"kB", 1000ull}, {"MB", 1000000ull}, {"GB", 1000000000ull},
	{"TB", 1000000000000ull},
};

int mb_parse_size(const char *s, uint64_t *bytes)
{
	if (!s || !*s)
		return MB_EINVAL;
	uint64_t ip, frac, v;
	int nf;
	if (parse_decimal(&s, &ip, &frac, &nf) != 0)
		return MB_EINVAL;
	uint64_t mult = 1;
	if (*s) {
		const struct unit *u = match_unit(&s, size_units,
		                                  sizeof size_units / sizeof size_units[0]);
		if (!u || *s)
			return MB_EINVAL;
		mult = u->mult;
	}
	if (scale_exact(ip, frac, nf, mult, UINT64_MAX, &v) != 0)
		return MB_EINVAL;
	*bytes = v;
	return 0;
}

void mb_format_duration(int64_t ms, char *buf, size_t n)
{
	static const struct unit fmt_units[] = {
		{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000},
	};
	if (!buf || n == 0)
		return;
	if (ms == 0) {
		snprintf(buf, n, "0");
		return;
	}
	/* Magnitude as unsigned so INT64_MIN formats too. */
	uint64_t mag = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
	const char *sign = ms < 0 ? "-" : "";
	for (size_t i = 0; i < sizeof fmt_units / sizeof fmt_units[0]; i++) {
		if (mag % fmt_units[i].mult == 0) {
			snprintf(buf, n, "%s%llu%s", sign,
			         (unsigned long long)(mag / fmt_units[i].mult), fmt_units[i].name);
			return;
		}
	}
	snprintf(buf, n, "%s%llums", sign, (unsigned long long)mag);
}

int mb_parse_retention(const char *s, struct mb_level *levels, int *nlevels, char *err,
                       size_t errlen)
{
	char tmp[64];
	int n = 0;
	if (err && errlen)
		err[0] = 0;
	if (!s || !*s) {
		if (err)
			snprintf(err, errlen, "empty retention");
		return MB_EINVAL;
	}
	const char *p = s;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *colon = memchr(p, ':', len);
		if (n == MB_MAX_LEVELS) {
			if (err)
				snprintf(err, errlen, "more than %d windows", MB_MAX_LEVELS);
			return MB_EINVAL;
		}
		if (!colon || len >= sizeof tmp) {
			if (err)
				snprintf(err, errlen, "window %d: want RESOLUTION:SPAN", n + 1);
			return MB_EINVAL;
		}
		int64_t res, span;
		size_t rl = (size_t)(colon - p);
		memcpy(tmp, p, rl);
		tmp[rl] = 0;
		if (mb_parse_duration(tmp, &res) != 0 || res <= 0) {
			if (err)
				snprintf(err, errlen, "window %d: bad resolution \"%s\"", n + 1, tmp);
			return MB_EINVAL;
		}
		size_t sl = len - rl - 1;
		memcpy(tmp, colon + 1, sl);
		tmp[sl] = 0;
		if (mb_parse_duration(tmp, &span) != 0 || span <= 0) {
			if (err)
				snprintf(err, errlen, "window %d: bad span \"%s\"", n + 1, tmp);
			return MB_EINVAL;
		}
		if (span % res != 0) {
			if (err)
				snprintf(err, errlen, "window %d: span is not a multiple of resolution",
				         n + 1);
			return MB_EINVAL;
		}
		if (span / res > 10000000) {
			if (err)
				snprintf(err, errlen, "window %d: more than 10000000 slots", n + 1);
			return MB_EINVAL;
		}
		if (n > 0 && (res <= levels[n - 1].res_ms || res % levels[n - 1].res_ms != 0)) {
			if (err)
				snprintf(err, errlen,
				         "window %d: resolution must be a larger multiple of the one before",
				         n + 1);
			return MB_EINVAL;
		}
		levels[n].res_ms = res;
		levels[n].span_ms = span;
		n++;
		if (!end)
			break;
		p = end + 1;
	}
	*nlevels = n;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int read_digits(const char **sp, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*sp)[i];
		if (c < '0' || c > '9')
			return MB_EINVAL;
		v = v * 10 + (c - '0');
	}
	*sp += n;
	*out = v;
	return 0;
}

static int parse_rfc3339(const char *s, int64_t *ms)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int Y, M, D, h, mi, sec, oh = 0, om = 0;
	if (read_digits(&s, 4, &Y) || *s++ != '-' || read_digits(&s, 2, &M) || *s++ != '-' ||
	    read_digits(&s, 2, &D))
		return MB_EINVAL;
	if (*s != 'T' && *s != 't' && *s != ' ')
		return MB_EINVAL;
	s++;
	if (read_digits(&s, 2, &h) || *s++ != ':' || read_digits(&s, 2, &mi) || *s++ != ':' ||
	    read_digits(&s, 2, &sec))
		return MB_EINVAL;
	int64_t frac_ms = 0;
	if (*s == '.') {
		s++;
		int nd = 0, scale = 100;
		while (*s >= '0' && *s <= '9') {
			if (nd < 3)
				frac_ms += (*s - '0') * scale;
			scale /= 10;
			nd++;
			s++;
		}
		if (nd == 0)
			return MB_EINVAL;
	}
	int sign = 0;
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '-' ? -1 : 1;
		s++;
		if (read_digits(&s, 2, &oh) || *s++ != ':' || read_digits(&s, 2, &om))
			return MB_EINVAL;
		if (oh > 23 || om > 59)
			return MB_EINVAL;
	} else {
		return MB_EINVAL;
	}
	if (*s)
		return MB_EINVAL;
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || mi > 59 || sec > 60)
		return MB_EINVAL;
	bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
	if (M == 2 && D == 29 && !leap)
		return MB_EINVAL;
	int64_t t = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + mi * 60 +
	            sec - sign * (oh * 3600 + om * 60);
	*ms = t * 1000 + frac_ms;
	return 0;
}

/* Times are bound to years 0000..9999 (RFC3339's range) so arithmetic never overflows. */
#define TIME_MIN_MS (-62167219200000LL)
#define TIME_MAX_MS (253402300799999LL)

int mb_parse_time(const char *s, int64_t now_ms, int64_t *ms)
{
	if (!s || !*s)
		return MB_EINVAL;
	int64_t t;
	if (strcmp(s, "now") == 0) {
		t = now_ms;
	} else if (s[0] == '-' || s[0] == '+') {
		int64_t d;
		if (mb_parse_duration(s + 1, &d) != 0)
			return MB_EINVAL;
		if (now_ms < TIME_MIN_MS || now_ms > TIME_MAX_MS || d > TIME_MAX_MS - TIME_MIN_MS)
			return MB_EINVAL;
		t = s[0] == '-' ? now_ms - d : now_ms + d;
	} else if (strlen(s) >= 10 && s[4] == '-') {
		if (parse_rfc3339(s, &t) != 0)
			return MB_EINVAL;
	} else {
		const char *p = s;
		uint64_t ip, frac;
		int nf;
		if (parse_decimal(&p, &ip, &frac, &nf) != 0 || *p)
			return MB_EINVAL;
		if (ip > (uint64_t)TIME_MAX_MS / 1000)
			return MB_EINVAL;
		/* Sub-millisecond digits are truncated: times are ms everywhere. */
		uint64_t fms = nf <= 3 ? frac * pow10u[3 - nf] : frac / pow10u[nf - 3];
		t = (int64_t)(ip * 1000 + fms);
	}
	if (t < TIME_MIN_MS || t > TIME_MAX_MS)
		return MB_EINVAL;
	*ms = t;
	return 0;
}

void mb_format_rfc3339(int64_t ms, char *buf, size_t n)
{
	if (!buf || n == 0)
		return;
	int64_t secs = ms / 1000 - (ms % 1000 < 0);
	time_t tt = (time_t)secs;
	struct tm tm;
	if (!gmtime_r(&tt, &tm)) {
		snprintf(buf, n, "1970-01-01T00:00:00Z");
		return;
	}
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int64_t mb_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mb_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t mb_hash64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	/* murmur3 fmix64: FNV-1a's low bits mix poorly, and HLL uses the top ones. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}
