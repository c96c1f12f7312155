/* errors_test.c: every MB_E* code has its own text, and unknown codes still get one. */
#include <errno.h>

#include "mb.h"
#include "../tests/unit/mbtest.h"

MB_TEST(strerror_every_code_distinct_and_never_null)
{
	const char *seen[16] = {0};
	int codes[] = {MB_OK,  MB_EINVAL,    MB_ENOMEM, MB_ETOOBIG, MB_EVERSION,
	               MB_EDOWN, MB_ETIMEDOUT, MB_ENNG,   MB_ESYS};
	for (int i = 0; i < (int)(sizeof codes / sizeof codes[0]); i++) {
		const char *s = mb_strerror(codes[i]);
		CHECK(s != NULL && s[0] != 0);
		for (int k = 0; k < i; k++)
			CHECK(strcmp(seen[k], s) != 0);
		seen[i] = s;
		CHECK(codes[i] == MB_OK || mb_is_err(codes[i]));
	}
	/* Clear of errno, nng and LMDB codes. */
	CHECK(!mb_is_err(ENOMEM) && !mb_is_err(-30799) && !mb_is_err(-30780) && !mb_is_err(0));
	CHECK_STR(mb_strerror(MB_EDOWN), "peer not connected");
	CHECK_STR(mb_strerror(MB_ETIMEDOUT), "timed out");
	CHECK(mb_strerror(-1) != NULL);
	CHECK(mb_strerror(12345) != NULL);
}
