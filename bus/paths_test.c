/* paths_test.c: the run and data directory rules of docs/operations.md, the socket URLs built on
 * them, and mb_mkdirs. */
#include "mb.h"
#include "../tests/unit/mbtest.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Saves and restores the variables these tests change. */
static const char *const vars[] = {"METRICSBUS_RUN_DIR", "XDG_RUNTIME_DIR", "XDG_STATE_HOME",
                                   "HOME"};
static char *saved[4];

static void save_env(void)
{
	for (int i = 0; i < 4; i++) {
		const char *v = getenv(vars[i]);
		saved[i] = v ? strdup(v) : NULL;
	}
}

static void restore_env(void)
{
	for (int i = 0; i < 4; i++) {
		if (saved[i])
			setenv(vars[i], saved[i], 1);
		else
			unsetenv(vars[i]);
		free(saved[i]);
		saved[i] = NULL;
	}
}

MB_TEST(paths_run_dir_rules)
{
	char b[512], want[512];
	save_env();
	setenv("METRICSBUS_RUN_DIR", "/srv/mb", 1);
	CHECK_EQ_INT(mb_run_dir(b, sizeof b), 0);
	CHECK_STR(b, "/srv/mb");
	CHECK_EQ_INT(mb_default_ingest_url(b, sizeof b), 0);
	CHECK_STR(b, "ipc:///srv/mb/ingest.sock");
	CHECK_EQ_INT(mb_default_query_url(b, sizeof b), 0);
	CHECK_STR(b, "ipc:///srv/mb/query.sock");
	unsetenv("METRICSBUS_RUN_DIR");
	setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
	CHECK_EQ_INT(mb_run_dir(b, sizeof b), 0);
	if (geteuid() == 0) {
		CHECK_STR(b, "/run/metricsbus");
	} else {
		CHECK_STR(b, "/run/user/1234/metricsbus");
		unsetenv("XDG_RUNTIME_DIR");
		CHECK_EQ_INT(mb_run_dir(b, sizeof b), 0);
		snprintf(want, sizeof want, "/tmp/metricsbus-%u", (unsigned)getuid());
		CHECK_STR(b, want);
	}
	restore_env();
}

MB_TEST(paths_data_dir_rules)
{
	char b[512];
	save_env();
	setenv("XDG_STATE_HOME", "/home/u/.state", 1);
	setenv("HOME", "/home/u", 1);
	CHECK_EQ_INT(mb_default_data_dir(b, sizeof b), 0);
	if (geteuid() == 0) {
		CHECK_STR(b, "/var/lib/metricsbus");
	} else {
		CHECK_STR(b, "/home/u/.state/metricsbus");
		unsetenv("XDG_STATE_HOME");
		CHECK_EQ_INT(mb_default_data_dir(b, sizeof b), 0);
		CHECK_STR(b, "/home/u/.local/state/metricsbus");
		setenv("XDG_STATE_HOME", "relative/ignored", 1);
		CHECK_EQ_INT(mb_default_data_dir(b, sizeof b), 0);
		CHECK_STR(b, "/home/u/.local/state/metricsbus");
	}
	restore_env();
}

MB_TEST(paths_too_small_buffer_is_etoobig)
{
	char b[8];
	save_env();
	setenv("METRICSBUS_RUN_DIR", "/a/rather/long/run/dir", 1);
	CHECK_EQ_INT(mb_run_dir(b, sizeof b), MB_ETOOBIG);
	CHECK_EQ_INT(b[0], 0);
	CHECK_EQ_INT(mb_default_ingest_url(b, sizeof b), MB_ETOOBIG);
	CHECK_EQ_INT(mb_default_query_url(b, sizeof b), MB_ETOOBIG);
	CHECK_EQ_INT(mb_default_data_dir(b, 4), MB_ETOOBIG);
	restore_env();
}

MB_TEST(paths_mkdirs)
{
	char p[512], f[512];
	struct stat st;
	snprintf(p, sizeof p, "%s/a/b//c/", mbt_tmpdir());
	CHECK_EQ_INT(mb_mkdirs(p, 0750), 0);
	snprintf(p, sizeof p, "%s/a/b/c", mbt_tmpdir());
	CHECK_EQ_INT(stat(p, &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ_INT(mb_mkdirs(p, 0750), 0); /* exists: fine */
	snprintf(f, sizeof f, "%s/a/file", mbt_tmpdir());
	FILE *fp = fopen(f, "w");
	CHECK(fp != NULL);
	if (fp)
		fclose(fp);
	snprintf(p, sizeof p, "%s/a/file/sub", mbt_tmpdir());
	errno = 0;
	CHECK_EQ_INT(mb_mkdirs(p, 0750), MB_ESYS);
	CHECK_EQ_INT(errno, ENOTDIR);
	CHECK_EQ_INT(mb_mkdirs("", 0750), MB_ESYS);
}
