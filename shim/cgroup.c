/* cgroup.c: the container's resource metrics under DC/OS 1.11 names, read from its cgroup v2
 * files, else from the command's /proc entries (mapping in docs/statsd.md). */
#include "shim.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(struct shim_res *r, const char *name, double v)
{
	if (r->n >= (int)(sizeof r->vals / sizeof r->vals[0]))
		return;
	snprintf(r->names[r->n], sizeof r->names[0], "%s", name);
	r->vals[r->n++] = v;
}

static int read_file(const char *dir, const char *name, char *buf, size_t n)
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

/* "key value" lines: the value of key, or -1. */
static double kv(const char *text, const char *key)
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
	int n = read_file(dir, name, buf, sizeof buf);
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
	if (read_file("/proc/self", "cgroup", buf, sizeof buf) < 0)
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
		if (read_file(dir, "cpu.stat", t, sizeof t) > 0 &&
		    read_file(dir, "memory.current", t, sizeof t) > 0)
			return 0;
	}
	return -1;
}

void shim_resources_from_cgroup(struct shim_res *r, const char *dir)
{
	char buf[16384];
	if (read_file(dir, "cpu.stat", buf, sizeof buf) > 0) {
		double v;
		if ((v = kv(buf, "user_usec")) >= 0)
			put(r, "cpus.user.time", v / 1e6);
		if ((v = kv(buf, "system_usec")) >= 0)
			put(r, "cpus.system.time", v / 1e6);
		if ((v = kv(buf, "throttled_usec")) >= 0)
			put(r, "cpus.throttled.time", v / 1e6);
		if ((v = kv(buf, "nr_periods")) >= 0)
			put(r, "cpus.nr.periods", v);
		if ((v = kv(buf, "nr_throttled")) >= 0)
			put(r, "cpus.nr.throttled", v);
	}
	if (read_file(dir, "cpu.max", buf, sizeof buf) > 0) {
		double quota, period;
		if (strncmp(buf, "max", 3) == 0)
			put(r, "cpus.limit", (double)sysconf(_SC_NPROCESSORS_ONLN));
		else if (sscanf(buf, "%lf %lf", &quota, &period) == 2 && period > 0)
			put(r, "cpus.limit", quota / period);
	}
	if (read_file(dir, "memory.current", buf, sizeof buf) > 0)
		put(r, "mem.total", strtod(buf, NULL));
	if (read_file(dir, "memory.max", buf, sizeof buf) > 0 && strncmp(buf, "max", 3) != 0)
		put(r, "mem.limit", strtod(buf, NULL));
	if (read_file(dir, "memory.stat", buf, sizeof buf) > 0) {
		double v;
		if ((v = kv(buf, "file")) >= 0)
			put(r, "mem.cache", v);
		if ((v = kv(buf, "anon")) >= 0)
			put(r, "mem.rss", v);
	}
	if (read_file(dir, "memory.swap.current", buf, sizeof buf) > 0)
		put(r, "mem.swap", strtod(buf, NULL));
	int n;
	if ((n = count_lines(dir, "cgroup.procs")) >= 0)
		put(r, "processes", n);
	if (read_file(dir, "pids.current", buf, sizeof buf) > 0)
		put(r, "threads", strtod(buf, NULL));
	else if ((n = count_lines(dir, "cgroup.threads")) >= 0)
		put(r, "threads", n);
	if (read_file(dir, "io.stat", buf, sizeof buf) > 0) {
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
		put(r, "blkio.io_service_bytes.read", rb);
		put(r, "blkio.io_service_bytes.write", wb);
		put(r, "blkio.io_service_bytes.total", rb + wb);
		put(r, "blkio.io_serviced.read", rio);
		put(r, "blkio.io_serviced.write", wio);
		put(r, "blkio.io_serviced.total", rio + wio);
	}
}

/* Without cgroup v2: the command's own process (not its descendants) from /proc. */
static void from_proc(struct shim_res *r, pid_t pid)
{
	char dir[64], buf[4096];
	snprintf(dir, sizeof dir, "/proc/%d", (int)pid);
	if (read_file(dir, "stat", buf, sizeof buf) > 0) {
		/* fields after "(comm)": state ppid ... utime(14) stime(15) */
		char *p = strrchr(buf, ')');
		unsigned long long ut = 0, st = 0;
		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		                &st) == 2) {
			double hz = (double)sysconf(_SC_CLK_TCK);
			put(r, "cpus.user.time", (double)ut / hz);
			put(r, "cpus.system.time", (double)st / hz);
		}
	}
	put(r, "cpus.limit", (double)sysconf(_SC_NPROCESSORS_ONLN));
	if (read_file(dir, "status", buf, sizeof buf) > 0) {
		double rss = -1, swap = -1, thr = -1;
		char *q;
		if ((q = strstr(buf, "\nVmRSS:")))
			rss = strtod(q + 7, NULL) * 1024;
		if ((q = strstr(buf, "\nVmSwap:")))
			swap = strtod(q + 8, NULL) * 1024;
		if ((q = strstr(buf, "\nThreads:")))
			thr = strtod(q + 9, NULL);
		if (rss >= 0) {
			put(r, "mem.total", rss);
			put(r, "mem.rss", rss);
		}
		if (swap >= 0)
			put(r, "mem.swap", swap);
		if (thr >= 0)
			put(r, "threads", thr);
		put(r, "processes", 1);
	}
	if (read_file(dir, "io", buf, sizeof buf) > 0) {
		double rb = kv(buf, "read_bytes:"), wb = kv(buf, "write_bytes:");
		if (rb >= 0 && wb >= 0) {
			put(r, "blkio.io_service_bytes.read", rb);
			put(r, "blkio.io_service_bytes.write", wb);
			put(r, "blkio.io_service_bytes.total", rb + wb);
		}
	}
}

int shim_resources_read(struct shim_res *res, pid_t child)
{
	char dir[4200];
	res->n = 0;
	if (cgroup_dir(dir, sizeof dir) == 0)
		shim_resources_from_cgroup(res, dir);
	else if (child > 0)
		from_proc(res, child);
	else
		from_proc(res, getpid());
	return 0;
}
