/* errors_test.c: every MB_E* code has its own text, and unknown codes still get one. */
#include "mb.h"
#include "../tests/unit/mbtest.h"

MB_TEST(strerror_every_code_distinct_and_never_null)
{
	const char *seen[16] = {0};
	for (int e = MB_OK; e <= MB_ESYS; e++) {
		const char *s = mb_strerror(e);
		CHECK(s != NULL && s[0] != 0);
		for (int k = 0; k < e; k++)
			CHECK(seen[k] == NULL || strcmp(seen[k], s) != 0);
		seen[e] = s;
	}
	CHECK_STR(mb_strerror(MB_EDOWN), "peer not connected");
	CHECK_STR(mb_strerror(MB_ETIMEDOUT), "timed out");
	CHECK(mb_strerror(-1) != NULL);
	CHECK(mb_strerror(12345) != NULL);
}
