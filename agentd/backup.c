/* backup.c: the backup op: a compacted, consistent copy of the store (MDB_CP_COMPACT) into a
 * new or empty directory under --backup-dir only, never through ".." or a symlink, one at a time. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "owner.h"
#include "read.h"

static char backup_root[4096]; /* set once at start-up, before the query service */
static atomic_bool backup_busy;

int agent_backup_dir_set(const char *dir, char *err, size_t errlen)
{
	size_t len = strlen(dir);
	if (dir[0] != '/' || len >= sizeof backup_root - 256) {
		snprintf(err, errlen, "--backup-dir %s: want an absolute path", dir);
		return MB_EINVAL;
	}
	if (mb_mkdirs(dir, 0750) != 0) {
		snprintf(err, errlen, "cannot create --backup-dir %s: %s", dir, strerror(errno));
		return MB_ESYS;
	}
	int rv = agent_own_dir(dir, "--backup-dir", err, errlen);
	if (rv != 0)
		return rv;
	memcpy(backup_root, dir, len + 1);
	while (len > 1 && backup_root[len - 1] == '/')
		backup_root[--len] = 0;
	return 0;
}

/* 1 when the open directory fd holds nothing. */
static int empty_dir(int fd)
{
	int dup_fd = dup(fd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return 0;
	}
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n == 0;
}

/* Walks rel (components under the root) from the root's fd, creating what is missing (0750),
 * each step opened with O_NOFOLLOW: a symlink anywhere on the way is refused, and nothing can
 * be swapped in between a check and the write. The open directory fd, or -1 with r answered. */
static int open_target(const char *rel, struct mb_reply *r)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", rel);
	int fd = open(backup_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		agent_reply_err(r, 500, "--backup-dir %s: %s", backup_root, strerror(errno));
		return -1;
	}
	int depth = 0;
	char *save = NULL;
	for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, ".") || !strcmp(c, "..")) {
			agent_reply_err(r, 400, "backup dir: no '.' or '..' components");
			close(fd);
			return -1;
		}
		if (mkdirat(fd, c, 0750) != 0 && errno != EEXIST) {
			agent_reply_err(r, 400, "cannot create backup dir component %s: %s", c,
			                strerror(errno));
			close(fd);
			return -1;
		}
		int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		struct stat st;
		bool link = next < 0 && fstatat(fd, c, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		            S_ISLNK(st.st_mode);
		close(fd);
		if (next < 0) {
			agent_reply_err(r, 400, "backup dir component %s: %s", c,
			                link ? "a symlink (never followed)" : strerror(e));
			return -1;
		}
		fd = next;
		depth++;
	}
	if (depth == 0) {
		agent_reply_err(r, 400, "backup dir: name a directory under --backup-dir %s",
		                backup_root);
		close(fd);
		return -1;
	}
	return fd;
}

void agent_q_backup(struct agent_store *s, const struct mb_query *q, struct mb_reply *r)
{
	const char *dir = q->dir;
	size_t rootlen = strlen(backup_root);
	if (!backup_root[0]) {
		agent_reply_err(r, 403, "backups are off: start agentd with --backup-dir DIR");
		return;
	}
	if (!dir || !dir[0] || strlen(dir) > 4000) {
		agent_reply_err(r, 400, "backup dir missing or too long");
		return;
	}
	/* Absolute paths must lie under the root; a relative one is taken under it. */
	const char *rel = dir;
	if (dir[0] == '/') {
		if (strncmp(dir, backup_root, rootlen) != 0 ||
		    (dir[rootlen] != '/' && dir[rootlen] != 0 && rootlen != 1)) {
			agent_reply_err(r, 403, "backup dir %s is not under --backup-dir %s", dir,
			                backup_root);
			return;
		}
		rel = dir + rootlen;
	}
	bool expect = false;
	if (!atomic_compare_exchange_strong(&backup_busy, &expect, true)) {
		agent_reply_err(r, 409, "a backup is already running: one at a time");
		return;
	}
	int dfd = open_target(rel, r), fd = -1;
	if (dfd < 0)
		goto done;
	if (!empty_dir(dfd)) {
		agent_reply_err(r, 400, "backup dir %s is not empty", dir);
		goto done;
	}
	/* The store's own mode (0640), whatever the umask does to more. */
	fd = openat(dfd, "data.mdb", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0 || fchmod(fd, 0640) != 0) {
		agent_reply_err(r, 400, "cannot create %s/data.mdb: %s", dir, strerror(errno));
		goto done;
	}
	/* Shared lock: a map resize must not happen under the copy's read transaction. */
	pthread_rwlock_rdlock(&s->e.txn_lock);
	int rv = mdb_env_copyfd2(s->e.env, fd, MDB_CP_COMPACT);
	pthread_rwlock_unlock(&s->e.txn_lock);
	struct stat st;
	if (rv == 0 && fsync(fd) != 0)
		rv = errno;
	if (rv != 0) {
		agent_reply_err(r, 500, "backup to %s failed: %s", dir, mdb_strerror(rv));
		goto done;
	}
	r->bytes = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	r->path = mb_arena_strndup(&r->arena, dir, strlen(dir));
	r->status = 200;
	mb_log_info("store: backup written to %s (%llu bytes)", dir, (unsigned long long)r->bytes);
done:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	atomic_store(&backup_busy, false);
}
