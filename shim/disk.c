/* disk.c: disk.used, the sandbox's disk use as Mesos's `du` measured it (every 15 s, its
 * --container_disk_watch_interval): blocks under the directory, one file system, no symlinks. */
#include "shim.h"

#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>

/* nftw returns what the callback returned to stop it (POSIX: musl has no FTW_ACTIONRETVAL) */
#define WALK_STOP 7

/* One walk at a time (nftw passes no user pointer); only the flush thread walks. */
static uint64_t walk_bytes, walk_n;

static int add_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)path;
	(void)f;
	if (type == FTW_F || type == FTW_D || type == FTW_DP || type == FTW_SL)
		walk_bytes += (uint64_t)st->st_blocks * 512u;
	return ++walk_n > SHIM_DISK_MAX_ENTRIES ? WALK_STOP : 0;
}

int shim_disk_used(struct shim_disk *d, const char *dir, int64_t now_ms, double *out)
{
	if (!dir || !*dir || d->gave_up)
		return MB_EINVAL;
	if (d->have && now_ms < d->next_ms) {
		*out = d->used;
		return 0;
	}
	walk_bytes = walk_n = 0;
	int rv = nftw(dir, add_entry, 16, FTW_PHYS | FTW_MOUNT);
	d->next_ms = now_ms + SHIM_DISK_INTERVAL_MS;
	if (rv == WALK_STOP) {
		/* a partial sum would read as a smaller disk use: say nothing rather */
		mb_log_warnx("disk.used: more than %d files under %s: not measured", SHIM_DISK_MAX_ENTRIES,
		             dir);
		d->gave_up = true;
		d->have = false;
		return MB_ETOOBIG;
	}
	if (rv != 0) {
		d->have = false;
		return MB_ESYS;
	}
	d->used = (double)walk_bytes;
	d->have = true;
	*out = d->used;
	return 0;
}

/* The sandbox: MESOS_SANDBOX (what the task sees, /mnt/mesos/sandbox under Docker), else
 * MESOS_DIRECTORY; a pod's task has neither and gets no disk.used. */
void shim_resources_disk(struct shim_res *r, int64_t now_ms)
{
	const char *dir = getenv("MESOS_SANDBOX");
	double v;
	if (!dir || !*dir)
		dir = getenv("MESOS_DIRECTORY");
	if (dir && *dir && shim_disk_used(&r->disk, dir, now_ms, &v) == 0)
		shim_res_put(r, "disk.used", v);
}
