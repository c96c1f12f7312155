/* cgroup.c: the container's resource metrics under DC/OS 1.11 names, read from its cgroup v2
 * files, else cgroup v1's (cgroup_v1.c), else from the command's /proc entries; limits that
 * cgroups do not give from Marathon's MARATHON_APP_RESOURCE_* (mapping in docs/statsd.md). */
#include "shim.h"

#include <ctype.h>
#include <math.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void shim_res_put(struct shim_res *r, const char *name, double v)
{
	if (r->n >= (int)(sizeof r->vals / sizeof r->vals[0]))
		return;
	snprintf(r->names[r->n], sizeof r->names[0], "%s", name);
	r->vals[r->n++] = v;
}

int shim_cg_read(const char *dir, const char *name, char *buf, size_t n)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t r = fread(buf, 1, n - 1, f);
	fclose(f);
	buf[r] = 0;
	return (int)r;
}

double shim_cg_kv(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtod(p + kl + 1, NULL);
	}
	return -1;
}

static int count_lines(const char *dir, const char *name)
{
	char buf[65536];
	int n = shim_cg_read(dir, name, buf, sizeof buf);
	if (n < 0)
		return -1;
	int c = 0;
	for (int i = 0; i < n; i++)
		c += buf[i] == '\n';
	return c;
}

/* The cgroup v2 directory of this process, when it has the files we read. */
static int cgroup_dir(char *dir, size_t n)
{
	char buf[4096];
	if (shim_cg_read("/proc/self", "cgroup", buf, sizeof buf) < 0)
		return -1;
	char *p = strstr(buf, "0::");
	if (p != buf && (!p || p[-1] != '\n'))
		return -1;
	p += 3;
	char *nl = strchr(p, '\n');
	if (nl)
		*nl = 0;
	static const char *roots[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	for (int i = 0; i < 2; i++) {
		snprintf(dir, n, "%s%s", roots[i], strcmp(p, "/") == 0 ? "" : p);
		char t[16];
		if (shim_cg_read(dir, "cpu.stat", t, sizeof t) > 0 &&
		    shim_cg_read(dir, "memory.current", t, sizeof t) > 0)
			return 0;
	}
	return -1;
}

void shim_resources_from_cgroup(struct shim_res *r, const char *dir)
{
	char buf[16384];
	if (shim_cg_read(dir, "cpu.stat", buf, sizeof buf) > 0) {
		double v;
		if ((v = shim_cg_kv(buf, "user_usec")) >= 0)
			shim_res_put(r, "cpus.user.time", v / 1e6);
		if ((v = shim_cg_kv(buf, "system_usec")) >= 0)
			shim_res_put(r, "cpus.system.time", v / 1e6);
		if ((v = shim_cg_kv(buf, "throttled_usec")) >= 0)
			shim_res_put(r, "cpus.throttled.time", v / 1e6);
		if ((v = shim_cg_kv(buf, "nr_periods")) >= 0)
			shim_res_put(r, "cpus.nr.periods", v);
		if ((v = shim_cg_kv(buf, "nr_throttled")) >= 0)
			shim_res_put(r, "cpus.nr.throttled", v);
	}
	if (shim_cg_read(dir, "cpu.max", buf, sizeof buf) > 0) {
		double quota, period;
		if (strncmp(buf, "max", 3) != 0 &&
		    sscanf(buf, "%lf %lf", &quota, &period) == 2 && period > 0)
			shim_res_put(r, "cpus.limit", quota / period);
	}
	if (shim_cg_read(dir, "memory.current", buf, sizeof buf) > 0)
		shim_res_put(r, "mem.total", strtod(buf, NULL));
	if (shim_cg_read(dir, "memory.max", buf, sizeof buf) > 0 && strncmp(buf, "max", 3) != 0)
		shim_res_put(r, "mem.limit", strtod(buf, NULL));
	if (shim_cg_read(dir, "memory.stat", buf, sizeof buf) > 0) {
		double v;
		if ((v = shim_cg_kv(buf, "file")) >= 0)
			shim_res_put(r, "mem.cache", v);
		if ((v = shim_cg_kv(buf, "anon")) >= 0)
			shim_res_put(r, "mem.rss", v);
		if ((v = shim_cg_kv(buf, "file_mapped")) >= 0)
			shim_res_put(r, "mem.mapped.file", v);
		if ((v = shim_cg_kv(buf, "unevictable")) >= 0)
			shim_res_put(r, "mem.unevictable", v);
	}
	if (shim_cg_read(dir, "memory.swap.current", buf, sizeof buf) > 0)
		shim_res_put(r, "mem.swap", strtod(buf, NULL));
	int n;
	if ((n = count_lines(dir, "cgroup.procs")) >= 0)
		shim_res_put(r, "processes", n);
	if (shim_cg_read(dir, "pids.current", buf, sizeof buf) > 0)
		shim_res_put(r, "threads", strtod(buf, NULL));
	else if ((n = count_lines(dir, "cgroup.threads")) >= 0)
		shim_res_put(r, "threads", n);
	if (shim_cg_read(dir, "io.stat", buf, sizeof buf) > 0) {
		/* "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" per device */
		double rb = 0, wb = 0, rio = 0, wio = 0;
		for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
			double v;
			char *q;
			if ((q = strstr(p, "rbytes=")) && sscanf(q, "rbytes=%lf", &v) == 1)
				rb += v;
			if ((q = strstr(p, "wbytes=")) && sscanf(q, "wbytes=%lf", &v) == 1)
				wb += v;
			if ((q = strstr(p, "rios=")) && sscanf(q, "rios=%lf", &v) == 1)
				rio += v;
			if ((q = strstr(p, "wios=")) && sscanf(q, "wios=%lf", &v) == 1)
				wio += v;
		}
		shim_res_put(r, "blkio.io_service_bytes.read", rb);
		shim_res_put(r, "blkio.io_service_bytes.write", wb);
		shim_res_put(r, "blkio.io_service_bytes.total", rb + wb);
		shim_res_put(r, "blkio.io_serviced.read", rio);
		shim_res_put(r, "blkio.io_serviced.write", wio);
		shim_res_put(r, "blkio.io_serviced.total", rio + wio);
	}
}

/* Without cgroup v2: the command's own process (not its descendants) from /proc. */
static void from_proc(struct shim_res *r, pid_t pid)
{
	char dir[64], buf[4096];
	snprintf(dir, sizeof dir, "/proc/%d", (int)pid);
	if (shim_cg_read(dir, "stat", buf, sizeof buf) > 0) {
		/* fields after "(comm)": state ppid ... utime(14) stime(15) */
		char *p = strrchr(buf, ')');
		unsigned long long ut = 0, st = 0;
		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		                &st) == 2) {
			double hz = (double)sysconf(_SC_CLK_TCK);
			shim_res_put(r, "cpus.user.time", (double)ut / hz);
			shim_res_put(r, "cpus.system.time", (double)st / hz);
		}
	}
	if (shim_cg_read(dir, "status", buf, sizeof buf) > 0) {
		double rss = -1, swap = -1, thr = -1;
		char *q;
		if ((q = strstr(buf, "\nVmRSS:")))
			rss = strtod(q + 7, NULL) * 1024;
		if ((q = strstr(buf, "\nVmSwap:")))
			swap = strtod(q + 8, NULL) * 1024;
		if ((q = strstr(buf, "\nThreads:")))
			thr = strtod(q + 9, NULL);
		if (rss >= 0) {
			shim_res_put(r, "mem.total", rss);
			shim_res_put(r, "mem.rss", rss);
		}
		if (swap >= 0)
			shim_res_put(r, "mem.swap", swap);
		if (thr >= 0)
			shim_res_put(r, "threads", thr);
		shim_res_put(r, "processes", 1);
	}
	if (shim_cg_read(dir, "io", buf, sizeof buf) > 0) {
		double rb = shim_cg_kv(buf, "read_bytes:"), wb = shim_cg_kv(buf, "write_bytes:");
		if (rb >= 0 && wb >= 0) {
			shim_res_put(r, "blkio.io_service_bytes.read", rb);
			shim_res_put(r, "blkio.io_service_bytes.write", wb);
			shim_res_put(r, "blkio.io_service_bytes.total", rb + wb);
		}
	}
}

/* cgroup v1: the directory of controller ctl for this process, from /proc/self/cgroup's
 * "N:CONTROLLERS:PATH" lines, under /sys/fs/cgroup/CONTROLLERS or /sys/fs/cgroup/ctl. */
static int v1_dir(const char *cg, const char *ctl, const char *probe, char *dir, size_t n)
{
	size_t cl = strlen(ctl);
	for (const char *p = cg; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *c1 = strchr(p, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		const char *nl = strchr(p, '\n');
		if (!c2 || (nl && c2 > nl))
			continue;
		const char *ctls = c1 + 1;
		size_t ctlslen = (size_t)(c2 - ctls);
		bool has = false;
		for (const char *q = ctls; q < c2;) {
			const char *comma = memchr(q, ',', (size_t)(c2 - q));
			const char *e = comma ? comma : c2;
			has |= (size_t)(e - q) == cl && memcmp(q, ctl, cl) == 0;
			q = e + 1;
		}
		if (!has)
			continue;
		const char *path = c2 + 1;
		int pl = (int)((nl ? nl : path + strlen(path)) - path);
		if (pl == 1 && path[0] == '/')
			pl = 0;
		char t[16];
		/* the hierarchy is mounted as its controller list ("cpu,cpuacct") or as each */
		snprintf(dir, n, "/sys/fs/cgroup/%.*s%.*s", (int)ctlslen, ctls, pl, path);
		if (shim_cg_read(dir, probe, t, sizeof t) > 0)
			return 0;
		snprintf(dir, n, "/sys/fs/cgroup/%s%.*s", ctl, pl, path);
		if (shim_cg_read(dir, probe, t, sizeof t) > 0)
			return 0;
		/* a container sees its own cgroup at the root of the hierarchy */
		snprintf(dir, n, "/sys/fs/cgroup/%s", ctl);
		if (shim_cg_read(dir, probe, t, sizeof t) > 0)
			return 0;
	}
	return -1;
}

static bool v1_read(struct shim_res *res)
{
	char cg[8192], d[4][4200];
	const char *ctl[4] = {"cpuacct", "cpu", "memory", "blkio"};
	const char *probe[4] = {"cpuacct.stat", "cpu.stat", "memory.usage_in_bytes",
	                        "blkio.throttle.io_serviced"};
	bool any = false, have[4];
	if (shim_cg_read("/proc/self", "cgroup", cg, sizeof cg) < 0)
		return false;
	for (int i = 0; i < 4; i++)
		any |= have[i] = v1_dir(cg, ctl[i], probe[i], d[i], sizeof d[i]) == 0;
	if (any)
		shim_resources_from_cgroup_v1(res, have[0] ? d[0] : NULL, have[1] ? d[1] : NULL,
		                              have[2] ? d[2] : NULL, have[3] ? d[3] : NULL);
	return any;
}

static bool has(const struct shim_res *r, const char *name)
{
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->names[i], name) == 0)
			return true;
	return false;
}

/* Marathon's MARATHON_APP_RESOURCE_CPUS/MEM/DISK (MEM and DISK in MiB): the task's allocation,
 * what Mesos reported as the limits, where cgroups do not set one. */
void shim_resources_limits(struct shim_res *r)
{
	const char *cpus = getenv("MARATHON_APP_RESOURCE_CPUS");
	const char *mem = getenv("MARATHON_APP_RESOURCE_MEM");
	const char *disk = getenv("MARATHON_APP_RESOURCE_DISK");
	double v;
	if (!has(r, "cpus.limit"))
		shim_res_put(r, "cpus.limit", cpus && (v = strtod(cpus, NULL)) > 0 && isfinite(v)
		                         ? v
		                         : (double)sysconf(_SC_NPROCESSORS_ONLN));
	if (!has(r, "mem.limit") && mem && (v = strtod(mem, NULL)) > 0 && isfinite(v))
		shim_res_put(r, "mem.limit", v * 1048576.0);
	if (disk && (v = strtod(disk, NULL)) > 0 && isfinite(v))
		shim_res_put(r, "disk.limit", v * 1048576.0);
}

int shim_resources_read(struct shim_res *res, pid_t child)
{
	char dir[4200];
	res->n = 0;
	if (cgroup_dir(dir, sizeof dir) == 0)
		shim_resources_from_cgroup(res, dir);
	else if (v1_read(res))
		;
	else if (child > 0)
		from_proc(res, child);
	else
		from_proc(res, getpid());
	shim_resources_limits(res);
	shim_resources_disk(res, mb_mono_ms());
	return 0;
}
