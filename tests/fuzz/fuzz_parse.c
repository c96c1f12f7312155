/* fuzz_parse.c: libFuzzer target for bus/parse.c: durations, sizes, retention specs, times.
 * Beyond not crashing, it checks round trips: format(parse(x)) parses back to the same value. */
#include "mb.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[512];
	if (size >= sizeof s)
		size = sizeof s - 1;
	memcpy(s, data, size);
	s[size] = 0;

	int64_t ms, ms2;
	if (mb_parse_duration(s, &ms) == 0) {
		char b[32];
		if (ms < 0)
			abort();
		mb_format_duration(ms, b, sizeof b);
		if (mb_parse_duration(b, &ms2) != 0 || ms2 != ms)
			abort();
	}

	uint64_t bytes;
	(void)mb_parse_size(s, &bytes);

	struct mb_level lv[MB_MAX_LEVELS];
	int n = 0;
	char err[128];
	if (mb_parse_retention(s, lv, &n, err, sizeof err) == 0) {
		if (n < 1 || n > MB_MAX_LEVELS)
			abort();
		for (int i = 0; i < n; i++) {
			if (lv[i].res_ms <= 0 || lv[i].span_ms % lv[i].res_ms != 0 ||
			    lv[i].span_ms / lv[i].res_ms > 10000000)
				abort();
			if (i && lv[i].res_ms % lv[i - 1].res_ms != 0)
				abort();
		}
	} else if (strlen(err) == 0) {
		abort(); /* a refusal always says why */
	}

	const int64_t now = 1700000000000LL;
	if (mb_parse_time(s, now, &ms) == 0) {
		char b[40];
		mb_format_rfc3339(ms, b, sizeof b);
		int64_t floor_s = ms / 1000 - (ms % 1000 < 0);
		if (mb_parse_time(b, now, &ms2) != 0 || ms2 != floor_s * 1000)
			abort();
	}
	return 0;
}
