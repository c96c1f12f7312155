/* runner.c: runs every registered unit test (or those named on the command line) and ends
 * with "N passed, N failed"; exit 1 when any failed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* the Makefile defines it too */
#endif
#include "mbtest.h"
#include <stdlib.h>
#include <unistd.h>

struct mbt {
	const char *name, *file;
	void (*fn)(void);
};
static struct mbt tests[1024];
static int ntests, cur_failed;
static char tmpdir[256];

void mbt_register(const char *name, const char *file, void (*fn)(void))
{
	if (ntests < (int)(sizeof tests / sizeof tests[0]))
		tests[ntests++] = (struct mbt){name, file, fn};
}

void mbt_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "  %s:%d: CHECK failed: %s\n", file, line, expr);
	cur_failed++;
}

const char *mbt_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(tmpdir, sizeof tmpdir, "%s/mbtest.XXXXXX", t ? t : "/tmp");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(2);
		}
	}
	return tmpdir;
}

static void rm_tmpdir(void)
{
	if (tmpdir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
		tmpdir[0] = 0;
	}
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	for (int i = 0; i < ntests; i++) {
		if (argc > 1) {
			int want = 0;
			for (int a = 1; a < argc; a++)
				want |= strcmp(argv[a], tests[i].name) == 0;
			if (!want)
				continue;
		}
		cur_failed = 0;
		tests[i].fn();
		rm_tmpdir();
		if (cur_failed) {
			failed++;
			printf("FAIL %s (%s)\n", tests[i].name, tests[i].file);
		} else {
			passed++;
			if (getenv("MBTEST_VERBOSE"))
				printf("ok   %s\n", tests[i].name);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
