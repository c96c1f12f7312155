/* paths.c: the default run directory, socket URLs and data directory of docs/operations.md, and
 * mkdir -p. Read from the environment each time so tests can point them at temp dirs. */
#include "mb.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int put(char *buf, size_t n, int len)
{
	if (len < 0 || (size_t)len >= n) {
		if (n)
			buf[0] = 0;
		return MB_ETOOBIG;
	}
	return 0;
}

/* An empty or relative value is not a usable base (XDG says to ignore relative ones). */
static const char *abs_env(const char *name)
{
	const char *v = getenv(name);
	return v && v[0] == '/' ? v : NULL;
}

int mb_run_dir(char *buf, size_t n)
{
	const char *v = getenv("METRICSBUS_RUN_DIR");
	if (v && *v)
		return put(buf, n, snprintf(buf, n, "%s", v));
	if (geteuid() == 0)
		return put(buf, n, snprintf(buf, n, "/run/metricsbus"));
	if ((v = abs_env("XDG_RUNTIME_DIR")) != NULL)
		return put(buf, n, snprintf(buf, n, "%s/metricsbus", v));
	return put(buf, n, snprintf(buf, n, "/tmp/metricsbus-%u", (unsigned)getuid()));
}

static int default_url(char *buf, size_t n, const char *file)
{
	char dir[4096];
	int rv;
	if ((rv = mb_run_dir(dir, sizeof dir)) != 0)
		return rv;
	return put(buf, n, snprintf(buf, n, "ipc://%s/%s", dir, file));
}

int mb_default_ingest_url(char *buf, size_t n)
{
	return default_url(buf, n, "ingest.sock");
}

int mb_default_query_url(char *buf, size_t n)
{
	return default_url(buf, n, "query.sock");
}

int mb_default_data_dir(char *buf, size_t n)
{
	const char *v;
	if (geteuid() == 0)
		return put(buf, n, snprintf(buf, n, "/var/lib/metricsbus"));
	if ((v = abs_env("XDG_STATE_HOME")) != NULL)
		return put(buf, n, snprintf(buf, n, "%s/metricsbus", v));
	if ((v = abs_env("HOME")) == NULL) {
		struct passwd *pw = getpwuid(getuid());
		v = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : "/";
	}
	return put(buf, n, snprintf(buf, n, "%s/.local/state/metricsbus", strcmp(v, "/") ? v : ""));
}

int mb_mkdirs(const char *path, unsigned mode)
{
	char p[4096];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof p) {
		errno = len ? ENAMETOOLONG : ENOENT;
		return MB_ESYS;
	}
	memcpy(p, path, len + 1);
	while (len > 1 && p[len - 1] == '/')
		p[--len] = 0;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != 0)
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(p, (mode_t)mode) != 0) {
			int e = errno;
			struct stat st;
			if (e != EEXIST || stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
				errno = e == EEXIST ? ENOTDIR : e;
				return MB_ESYS;
			}
		}
		*s = c;
		if (!c)
			break;
	}
	return 0;
}
