/* cgroup_v1.c: the container's resource metrics from cgroup v1 (cpuacct, cpu, memory, blkio),
 * how DC/OS agents run, under the same names as cgroup v2's (mapping in docs/statsd.md). */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* memory.limit_in_bytes without a limit is a page-rounded LONG_MAX. */
#define V1_UNLIMITED 0x7ffffffffffff000ull

static void put(struct shim_res *r, const char *name, double v)
{
	if (r->n >= (int)(sizeof r->vals / sizeof r->vals[0]))
		return;
	snprintf(r->names[r->n], sizeof r->names[0], "%s", name);
	r->vals[r->n++] = v;
}

static int slurp(const char *dir, const char *name, char *buf, size_t n)
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
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtod(p + kl + 1, NULL);
	return -1;
}

static double number(const char *dir, const char *name)
{
	char buf[64];
	return slurp(dir, name, buf, sizeof buf) > 0 ? strtod(buf, NULL) : -1;
}

static int lines(const char *dir, const char *name)
{
	char buf[65536];
	int n = slurp(dir, name, buf, sizeof buf), c = 0;
	for (int i = 0; i < n; i++)
		c += buf[i] == '\n';
	return n < 0 ? -1 : c;
}

/* blkio.throttle.*: "MAJ:MIN Op N" per device and op, then "Total N"; summed by op. */
static void blkio(struct shim_res *r, const char *dir, const char *file, const char *name)
{
	char buf[16384], nm[48];
	double rd = 0, wr = 0;
	if (slurp(dir, file, buf, sizeof buf) < 0)
		return;
	for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char op[16];
		double v;
		if (sscanf(p, "%*u:%*u %15s %lf", op, &v) != 2)
			continue;
		if (strcmp(op, "Read") == 0)
			rd += v;
		else if (strcmp(op, "Write") == 0)
			wr += v;
	}
	snprintf(nm, sizeof nm, "%s.read", name);
	put(r, nm, rd);
	snprintf(nm, sizeof nm, "%s.write", name);
	put(r, nm, wr);
	snprintf(nm, sizeof nm, "%s.total", name);
	put(r, nm, rd + wr);
}

void shim_resources_from_cgroup_v1(struct shim_res *r, const char *cpuacct, const char *cpu,
                                   const char *memory, const char *blk)
{
	char buf[16384];
	double v, hz = (double)sysconf(_SC_CLK_TCK);
	if (cpuacct && slurp(cpuacct, "cpuacct.stat", buf, sizeof buf) > 0) {
		if ((v = kv(buf, "user")) >= 0)
			put(r, "cpus.user.time", v / hz);
		if ((v = kv(buf, "system")) >= 0)
			put(r, "cpus.system.time", v / hz);
	}
	if (cpu && slurp(cpu, "cpu.stat", buf, sizeof buf) > 0) {
		if ((v = kv(buf, "throttled_time")) >= 0)
			put(r, "cpus.throttled.time", v / 1e9);
		if ((v = kv(buf, "nr_periods")) >= 0)
			put(r, "cpus.nr.periods", v);
		if ((v = kv(buf, "nr_throttled")) >= 0)
			put(r, "cpus.nr.throttled", v);
	}
	if (cpu) {
		double quota = number(cpu, "cpu.cfs_quota_us"), period = number(cpu, "cpu.cfs_period_us");
		if (quota > 0 && period > 0)
			put(r, "cpus.limit", quota / period);
	}
	if (memory) {
		if ((v = number(memory, "memory.usage_in_bytes")) >= 0)
			put(r, "mem.total", v);
		if ((v = number(memory, "memory.limit_in_bytes")) >= 0 && v < (double)V1_UNLIMITED)
			put(r, "mem.limit", v);
		if ((v = number(memory, "memory.soft_limit_in_bytes")) >= 0 &&
		    v < (double)V1_UNLIMITED)
			put(r, "mem.soft.limit", v);
		if ((v = number(memory, "memory.memsw.usage_in_bytes")) >= 0)
			put(r, "mem.total.memsw", v);
		if (slurp(memory, "memory.stat", buf, sizeof buf) > 0) {
			/* total_*: the cgroup and its descendants, as Mesos reads them */
			static const char *const m[][2] = {{"total_cache", "mem.cache"},
			                                   {"total_rss", "mem.rss"},
			                                   {"total_mapped_file", "mem.mapped.file"},
			                                   {"total_swap", "mem.swap"},
			                                   {"total_unevictable", "mem.unevictable"}};
			for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
				if ((v = kv(buf, m[i][0])) >= 0)
					put(r, m[i][1], v);
		}
	}
	const char *any = cpu ? cpu : memory ? memory : cpuacct;
	int n;
	if (any && (n = lines(any, "cgroup.procs")) >= 0)
		put(r, "processes", n);
	if (any && (n = lines(any, "tasks")) >= 0)
		put(r, "threads", n);
	if (blk) {
		blkio(r, blk, "blkio.throttle.io_service_bytes", "blkio.io_service_bytes");
		blkio(r, blk, "blkio.throttle.io_serviced", "blkio.io_serviced");
	}
}
