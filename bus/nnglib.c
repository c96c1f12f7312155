/* nnglib.c: which nng the programs run on: refuses, when compiling, an nng older than 1.9 that
 * lacks our fixes (docs/dependencies.md), names it for --version, and sizes a 1.9+ nng's pools. */
#include <nng/nng.h>

#include "mb.h"

#include <stdio.h>

#if NNG_MAJOR_VERSION == 1 && NNG_MINOR_VERSION < 9
#if __has_include(<nng/mb_patches.h>)
#include <nng/mb_patches.h> /* written by scripts/nng.sh into the nng it builds */
#else
#error "this nng is older than 1.9 and lacks the fixes metricsbus needs: run scripts/deps.sh (make deps), which builds them into build/nng"
#endif
#endif

const char *mb_nng_describe(void)
{
	static char text[256];
	if (text[0])
		return text;
#ifdef MB_NNG_PATCHES
	snprintf(text, sizeof text, "nng %s (Debian %s, with: %s)", nng_version(),
	         MB_NNG_DEBIAN_VERSION, MB_NNG_PATCHES);
#else
	snprintf(text, sizeof text, "nng %s", nng_version());
#endif
	return text;
}

void mb_nng_small(void)
{
#if NNG_MAJOR_VERSION > 1 || NNG_MINOR_VERSION >= 9
	/* The pools 1.5.2 is built with for the shim (scripts/deps.sh), set at run time. */
	nng_init_set_parameter(NNG_INIT_NUM_TASK_THREADS, 2);
	nng_init_set_parameter(NNG_INIT_MAX_TASK_THREADS, 2);
	nng_init_set_parameter(NNG_INIT_NUM_EXPIRE_THREADS, 1);
	nng_init_set_parameter(NNG_INIT_NUM_RESOLVER_THREADS, 1);
	nng_init_set_parameter(NNG_INIT_NUM_POLLER_THREADS, 1);
#endif
}
