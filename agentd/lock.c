/* lock.c: one agentd per socket path: an flock on PATH.lock beside each ipc socket, held for
 * the life of the process, taken before the stale socket file is removed and listened on. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentd.h"

struct agent_lock {
	int fd;
	char path[512];
};

int agent_url_is_ipc(const char *url)
{
	return strncmp(url, "ipc://", 6) == 0;
}

int agent_lock_url(const char *url, struct agent_lock **out, char *err, size_t errlen)
{
	char dir[512];
	struct agent_lock *l;
	*out = NULL;
	if (!agent_url_is_ipc(url))
		return 0;
	const char *path = url + 6;
	if (path[0] != '/' || strlen(path) > 107) {
		snprintf(err, errlen, "%s: ipc paths must be absolute and at most 107 bytes", url);
		return MB_EINVAL;
	}
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		/* 0750: only agentd's user creates files here, and only its group reaches the
		 * sockets, so a socket is never open to others, not even between bind and chmod. */
		if (mb_mkdirs(dir, 0750) != 0) {
			snprintf(err, errlen, "cannot create run directory %s: %s", dir,
			         strerror(errno));
			return MB_ESYS;
		}
		int rv = agent_own_dir(dir, "run directory", err, errlen);
		if (rv != 0)
			return rv;
	}
	if ((l = calloc(1, sizeof *l)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return MB_ENOMEM;
	}
	snprintf(l->path, sizeof l->path, "%s.lock", path);
	l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (l->fd < 0) {
		int e = errno;
		if (e == ELOOP)
			snprintf(err, errlen, "lock file %s is a symlink: agentd never follows one "
			                      "there; remove it", l->path);
		else
			snprintf(err, errlen, "cannot open lock file %s: %s", l->path, strerror(e));
		free(l);
		return e == ELOOP ? MB_EINVAL : MB_ESYS;
	}
	struct stat st;
	if (fstat(l->fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		snprintf(err, errlen, "lock file %s is not a regular file of agentd's own: remove it",
		         l->path);
		close(l->fd);
		free(l);
		return MB_EINVAL;
	}
	if (flock(l->fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		if (e == EWOULDBLOCK)
			snprintf(err, errlen, "another metricsbus-agentd owns %s (lock %s held)",
			         path, l->path);
		else
			snprintf(err, errlen, "cannot lock %s: %s", l->path, strerror(e));
		close(l->fd);
		free(l);
		return e == EWOULDBLOCK ? MB_EINVAL : MB_ESYS;
	}
	/* We own the path now: a socket file left by a dead agentd would make listen fail. */
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
		agent_lock_release(l);
		return MB_ESYS;
	}
	*out = l;
	return 0;
}

void agent_lock_release(struct agent_lock *l)
{
	if (!l)
		return;
	/* The lock file stays: unlinking it would let a newcomer lock a fresh inode while a
	 * third process still holds the old one. */
	close(l->fd);
	free(l);
}
