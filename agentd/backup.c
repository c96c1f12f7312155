/* backup.c: the backup op: a compacted, consistent copy of the store (mdb_env_copy2 with
 * MDB_CP_COMPACT) into an empty directory, while ingest goes on. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "read.h"

static int dir_state(const char *dir) /* 0 missing, 1 empty dir, 2 not empty, 3 not a dir */
{
	struct stat st;
	if (stat(dir, &st) != 0)
		return errno == ENOENT ? 0 : 3;
	if (!S_ISDIR(st.st_mode))
		return 3;
	DIR *d = opendir(dir);
	if (!d)
		return 3;
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n ? 2 : 1;
}

void agent_q_backup(struct agent_store *s, const struct mb_query *q, struct mb_reply *r)
{
	const char *dir = q->dir;
	if (!dir || dir[0] != '/') {
		agent_reply_err(r, 400, "backup dir must be an absolute path");
		return;
	}
	if (strlen(dir) > 4000) {
		agent_reply_err(r, 400, "backup dir too long");
		return;
	}
	switch (dir_state(dir)) {
	case 0:
		if (mb_mkdirs(dir, 0750) != 0) {
			agent_reply_err(r, 400, "cannot create %s: %s", dir, strerror(errno));
			return;
		}
		break;
	case 1:
		break;
	case 2:
		agent_reply_err(r, 400, "backup dir %s is not empty", dir);
		return;
	default:
		agent_reply_err(r, 400, "backup dir %s is not a directory", dir);
		return;
	}
	/* Shared lock: a map resize must not happen under the copy's read transaction. */
	pthread_rwlock_rdlock(&s->e.txn_lock);
	int rv = mdb_env_copy2(s->e.env, dir, MDB_CP_COMPACT);
	pthread_rwlock_unlock(&s->e.txn_lock);
	if (rv != 0) {
		agent_reply_err(r, 500, "backup to %s failed: %s", dir, mdb_strerror(rv));
		return;
	}
	char path[4200];
	struct stat st;
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	r->bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	r->path = mb_arena_strndup(&r->arena, dir, strlen(dir));
	r->status = 200;
	mb_log_info("store: backup written to %s (%llu bytes)", dir, (unsigned long long)r->bytes);
}
