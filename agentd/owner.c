/* owner.c: nothing planted is followed: the data, run and backup directories must be agentd's
 * own and closed to others, and the files it opens there regular files of its own. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mb.h"
#include "owner.h"

int agent_own_dir(const char *dir, const char *what, char *err, size_t errlen)
{
	struct stat st;
	/* An operator may point a directory flag through a symlink of their own (or root's); one
	 * that another user made (in /tmp, say) could lead anywhere. */
	if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode) && st.st_uid != geteuid() && st.st_uid) {
		snprintf(err, errlen, "%s %s is a symlink made by uid %u: remove it", what, dir,
		         (unsigned)st.st_uid);
		return MB_EINVAL;
	}
	/* Then the directory itself: who may write where the files are. */
	if (stat(dir, &st) != 0) {
		snprintf(err, errlen, "%s %s: %s", what, dir, strerror(errno));
		return MB_ESYS;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s %s is not a directory", what, dir);
		return MB_EINVAL;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s %s belongs to uid %u, not to agentd's user (uid %u): another "
		                      "user could replace what is in it; chown it to uid %u or use "
		                      "another directory", what, dir, (unsigned)st.st_uid,
		         (unsigned)geteuid(), (unsigned)geteuid());
		return MB_EINVAL;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "%s %s is writable by %s (mode %04o): fix it with chmod go-w %s",
		         what, dir, (st.st_mode & S_IWOTH) ? "others" : "its group",
		         (unsigned)(st.st_mode & 07777), dir);
		return MB_EINVAL;
	}
	return 0;
}

int agent_own_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return MB_ESYS;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "%s is a symlink: agentd never follows one there (it could point "
		                      "at any file); remove it", path);
		return MB_EINVAL;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1) {
		snprintf(err, errlen, "%s is not a regular file of agentd's own (uid %u, %s, %u links): "
		                      "remove it", path, (unsigned)st.st_uid,
		         S_ISREG(st.st_mode) ? "regular" : "not regular", (unsigned)st.st_nlink);
		return MB_EINVAL;
	}
	return 0;
}

int agent_own_store(const char *dir, char *err, size_t errlen)
{
	static const char *files[] = {"data.mdb", "lock.mdb"};
	char path[4200];
	int rv;
	if (mb_mkdirs(dir, 0750) != 0) {
		snprintf(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
		return MB_ESYS;
	}
	if ((rv = agent_own_dir(dir, "data directory", err, errlen)) != 0)
		return rv;
	/* The directory is ours and closed to others, so nothing can be planted between this
	 * check and LMDB's open (which has no O_NOFOLLOW of its own). */
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		if ((rv = agent_own_file(path, err, errlen)) != 0)
			return rv;
	}
	return 0;
}
