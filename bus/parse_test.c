/* parse_test.c: durations, sizes, retention, times, clocks and mb_hash64.
 * Each parser must take its documented forms and refuse garbage, negatives and overflow. */
#include "mb.h"
#include "../tests/unit/mbtest.h"

#include <stdint.h>

static int64_t dur(const char *s)
{
	int64_t ms = -12345;
	return mb_parse_duration(s, &ms) == 0 ? ms : -1;
}

MB_TEST(parse_duration_accepts_documented_forms)
{
	CHECK_EQ_INT(dur("250ms"), 250);
	CHECK_EQ_INT(dur("10s"), 10000);
	CHECK_EQ_INT(dur("1.5s"), 1500);
	CHECK_EQ_INT(dur("5m"), 300000);
	CHECK_EQ_INT(dur("6h"), 21600000);
	CHECK_EQ_INT(dur("7d"), 604800000);
	CHECK_EQ_INT(dur("2w"), 1209600000);
	CHECK_EQ_INT(dur("0"), 0);
	CHECK_EQ_INT(dur("0s"), 0);
	CHECK_EQ_INT(dur("1h30m"), 5400000);
	CHECK_EQ_INT(dur("0.5ms") , -1); /* not a whole ms */
	CHECK_EQ_INT(dur("1.250s"), 1250);
}

MB_TEST(parse_duration_rejects_garbage)
{
	const char *bad[] = {"", "10", "-1s", "+1s", "1", "s", "10x", "10s ", " 10s", "1.s",
	                     ".5s", "10S", "1e3s", "10ss", "99999999999999999999ms",
	                     "9223372036854775808ms", "106751991167301d", "1h-5m", "0x10s"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ms = 42;
		if (mb_parse_duration(bad[i], &ms) != MB_EINVAL) {
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
			CHECK(0);
		}
		CHECK_EQ_INT(ms, 42); /* untouched on failure */
	}
	int64_t ms;
	CHECK_EQ_INT(mb_parse_duration("9223372036854775807ms", &ms), 0);
	CHECK(ms == INT64_MAX);
	CHECK_EQ_INT(mb_parse_duration(NULL, &ms), MB_EINVAL);
}

MB_TEST(format_duration_is_shortest_exact_and_round_trips)
{
	char b[24];
	struct {
		int64_t ms;
		const char *s;
	} cases[] = {{0, "0"}, {500, "500ms"}, {10000, "10s"}, {90000, "90s"},
	             {21600000, "6h"}, {604800000, "7d"}, {1500, "1500ms"}, {60000, "1m"},
	             {-2000, "-2s"}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		mb_format_duration(cases[i].ms, b, sizeof b);
		CHECK_STR(b, cases[i].s);
		if (cases[i].ms >= 0)
			CHECK_EQ_INT(dur(b), cases[i].ms);
	}
	mb_format_duration(INT64_MIN, b, sizeof b);
	CHECK_STR(b, "-9223372036854775808ms");
	for (int64_t ms = 1; ms < INT64_MAX / 3; ms = ms * 3 + 7) {
		mb_format_duration(ms, b, sizeof b);
		CHECK_EQ_INT(dur(b), ms);
	}
}

MB_TEST(parse_size_accepts_binary_and_decimal_units)
{
	struct {
		const char *s;
		uint64_t v;
	} ok[] = {{"1024", 1024}, {"512B", 512}, {"64KiB", 65536}, {"16MiB", 16u << 20},
	          {"8GiB", 8ull << 30}, {"1TiB", 1ull << 40}, {"10KB", 10000}, {"5MB", 5000000},
	          {"1GB", 1000000000}, {"2TB", 2000000000000ull}, {"0", 0}, {"1.5KiB", 1536},
	          {"18446744073709551615", UINT64_MAX}};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		uint64_t v = 7;
		CHECK_EQ_INT(mb_parse_size(ok[i].s, &v), 0);
		CHECK(v == ok[i].v);
	}
	const char *bad[] = {"", "-1", "1 KiB", "1KiBx", "KiB", "1.3B", "16M", "16mib",
	                     "18446744073709551616", "16777216TiB", "1..5KiB", "+5"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t v = 7;
		if (mb_parse_size(bad[i], &v) != MB_EINVAL) {
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
			CHECK(0);
		}
		CHECK(v == 7);
	}
}

MB_TEST(parse_retention_default_and_rules)
{
	struct mb_level lv[MB_MAX_LEVELS];
	int n = 0;
	char err[128];
	CHECK_EQ_INT(mb_parse_retention(MB_DEFAULT_RETENTION, lv, &n, err, sizeof err), 0);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(lv[0].res_ms, 10000);
	CHECK_EQ_INT(lv[0].span_ms, 6 * 3600000LL);
	CHECK_EQ_INT(lv[1].res_ms, 60000);
	CHECK_EQ_INT(lv[1].span_ms, 7 * 86400000LL);
	CHECK_EQ_INT(lv[2].res_ms, 3600000);
	CHECK_EQ_INT(lv[2].span_ms, 90 * 86400000LL);
	CHECK_EQ_INT(mb_parse_retention("1s:1m", lv, &n, err, sizeof err), 0);
	CHECK_EQ_INT(n, 1);

	const char *bad[] = {
		"", "10s", "10s:", ":6h", "10s:6h,", "10s:6h,,1m:7d", "1m:7d,10s:6h",
		"10s:6h,15s:1d", /* not a multiple */
		"10s:6h,10s:1d", /* not increasing */
		"10s:15s",       /* span not a multiple of res */
		"1ms:3h",        /* 10,800,000 slots */
		"0:1h", "10s:0", "-10s:6h", "10s:6h x",
		"1s:1m,2s:1m,4s:1m,8s:1m,16s:1m,32s:1m,64s:64m,128s:128m,256s:256m",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = 0;
		if (mb_parse_retention(bad[i], lv, &n, err, sizeof err) != MB_EINVAL) {
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
			CHECK(0);
		}
		CHECK(err[0] != 0); /* a reason is given */
	}
	CHECK_EQ_INT(mb_parse_retention("1ms:10000s", lv, &n, err, sizeof err), 0);
}

MB_TEST(parse_time_all_forms)
{
	const int64_t now = 1700000000123LL;
	int64_t t;
	CHECK_EQ_INT(mb_parse_time("1700000000", now, &t), 0);
	CHECK_EQ_INT(t, 1700000000000LL);
	CHECK_EQ_INT(mb_parse_time("1700000000.5", now, &t), 0);
	CHECK_EQ_INT(t, 1700000000500LL);
	CHECK_EQ_INT(mb_parse_time("1700000000.123456", now, &t), 0);
	CHECK_EQ_INT(t, 1700000000123LL);
	CHECK_EQ_INT(mb_parse_time("now", now, &t), 0);
	CHECK_EQ_INT(t, now);
	CHECK_EQ_INT(mb_parse_time("-15m", now, &t), 0);
	CHECK_EQ_INT(t, now - 900000);
	CHECK_EQ_INT(mb_parse_time("+0s", now, &t), 0);
	CHECK_EQ_INT(t, now);
	CHECK_EQ_INT(mb_parse_time("-2h", now, &t), 0);
	CHECK_EQ_INT(t, now - 7200000);
	CHECK_EQ_INT(mb_parse_time("2018-08-08T14:44:34Z", now, &t), 0);
	CHECK_EQ_INT(t, 1533739474000LL);
	CHECK_EQ_INT(mb_parse_time("2018-08-08T16:44:34+02:00", now, &t), 0);
	CHECK_EQ_INT(t, 1533739474000LL);
	CHECK_EQ_INT(mb_parse_time("2018-08-08T14:14:34.250-00:30", now, &t), 0);
	CHECK_EQ_INT(t, 1533739474250LL);
	CHECK_EQ_INT(mb_parse_time("2000-02-29T00:00:00Z", now, &t), 0);
	CHECK_EQ_INT(t, 951782400000LL);
	CHECK_EQ_INT(mb_parse_time("1969-12-31T23:59:59Z", now, &t), 0);
	CHECK_EQ_INT(t, -1000);

	const char *bad[] = {"", "yesterday", "-15", "2018-08-08", "2018-08-08T14:44:34",
	                     "2018-13-08T14:44:34Z", "2018-02-30T00:00:00Z",
	                     "1900-02-29T00:00:00Z", "2018-08-08T24:00:00Z",
	                     "2018-08-08T14:44:34Zjunk", "2018-08-08T14:44:34.Z",
	                     "2018-08-08T14:44:34+2:00", "17000000000000000000", "1e9",
	                     "-1h1", "now ", "1700000000.", "10000-01-01T00:00:00Z"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		t = 99;
		if (mb_parse_time(bad[i], now, &t) != MB_EINVAL) {
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
			CHECK(0);
		}
		CHECK_EQ_INT(t, 99);
	}
	/* Relative times far outside 0000..9999 are refused rather than wrapped. */
	CHECK_EQ_INT(mb_parse_time("-9223372036854775807ms", now, &t), MB_EINVAL);
}

MB_TEST(format_rfc3339_utc_seconds)
{
	char b[32];
	mb_format_rfc3339(1533739474999LL, b, sizeof b);
	CHECK_STR(b, "2018-08-08T14:44:34Z");
	mb_format_rfc3339(0, b, sizeof b);
	CHECK_STR(b, "1970-01-01T00:00:00Z");
	mb_format_rfc3339(-1, b, sizeof b); /* floors, not truncates */
	CHECK_STR(b, "1969-12-31T23:59:59Z");
	int64_t t;
	CHECK_EQ_INT(mb_parse_time(b, 0, &t), 0);
	CHECK_EQ_INT(t, -1000);
}

MB_TEST(clocks_move_forward)
{
	int64_t w = mb_now_ms(), m = mb_mono_ms();
	CHECK(w > 1600000000000LL);
	CHECK(m > 0);
	CHECK(mb_mono_ms() >= m);
}

MB_TEST(hash64_is_fnv1a_then_fmix64)
{
	/* Reference values from a Python model of FNV-1a 64 then murmur3 fmix64. */
	CHECK(mb_hash64("", 0) == 0xefd01f60ba992926ull);
	CHECK(mb_hash64("a", 1) == 0x82a2a958a9bece5bull);
	CHECK(mb_hash64("foobar", 6) != mb_hash64("foobaz", 6));
	/* The top 10 bits (HLL register index) spread over many values for short names. */
	int seen[1024] = {0}, distinct = 0;
	char name[16];
	for (int i = 0; i < 4096; i++) {
		int n = snprintf(name, sizeof name, "m%d", i);
		unsigned idx = (unsigned)(mb_hash64(name, (size_t)n) >> 54);
		if (!seen[idx]++)
			distinct++;
	}
	CHECK(distinct > 950);
}
