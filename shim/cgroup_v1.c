/* cgroup_v1.c: the container's resource metrics from cgroup v1 (cpuacct, cpu, memory, blkio),
 * how DC/OS agents run, under the same names as cgroup v2's (mapping in docs/statsd.md). */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* memory.limit_in_bytes without a limit is a page-rounded LONG_MAX. */
#define V1_UNLIMITED 0x7ffffffffffff000ull

static double number(const char *dir, const char *name)
{
	char buf[64];
	return shim_cg_read(dir, name, buf, sizeof buf) > 0 ? strtod(buf, NULL) : -1;
}

static int lines(const char *dir, const char *name)
{
	char buf[65536];
	int n = shim_cg_read(dir, name, buf, sizeof buf), c = 0;
	for (int i = 0; i < n; i++)
		c += buf[i] == '\n';
	return n < 0 ? -1 : c;
}

/* blkio.throttle.*: "MAJ:MIN Op N" per device and op, then "Total N"; summed by op. */
static void blkio(struct shim_res *r, const char *dir, const char *file, const char *name)
{
	char buf[16384], nm[48];
	double rd = 0, wr = 0;
	if (shim_cg_read(dir, file, buf, sizeof buf) < 0)
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
	shim_res_put(r, nm, rd);
	snprintf(nm, sizeof nm, "%s.write", name);
	shim_res_put(r, nm, wr);
	snprintf(nm, sizeof nm, "%s.total", name);
	shim_res_put(r, nm, rd + wr);
}

void shim_resources_from_cgroup_v1(struct shim_res *r, const char *cpuacct, const char *cpu,
                                   const char *memory, const char *blk)
{
	char buf[16384];
	double v, hz = (double)sysconf(_SC_CLK_TCK);
	if (cpuacct && shim_cg_read(cpuacct, "cpuacct.stat", buf, sizeof buf) > 0) {
		if ((v = shim_cg_kv(buf, "user")) >= 0)
			shim_res_put(r, "cpus.user.time", v / hz);
		if ((v = shim_cg_kv(buf, "system")) >= 0)
			shim_res_put(r, "cpus.system.time", v / hz);
	}
	if (cpu && shim_cg_read(cpu, "cpu.stat", buf, sizeof buf) > 0) {
		if ((v = shim_cg_kv(buf, "throttled_time")) >= 0)
			shim_res_put(r, "cpus.throttled.time", v / 1e9);
		if ((v = shim_cg_kv(buf, "nr_periods")) >= 0)
			shim_res_put(r, "cpus.nr.periods", v);
		if ((v = shim_cg_kv(buf, "nr_throttled")) >= 0)
			shim_res_put(r, "cpus.nr.throttled", v);
	}
	if (cpu) {
		double quota = number(cpu, "cpu.cfs_quota_us"), period = number(cpu, "cpu.cfs_period_us");
		if (quota > 0 && period > 0)
			shim_res_put(r, "cpus.limit", quota / period);
	}
	if (memory) {
		if ((v = number(memory, "memory.usage_in_bytes")) >= 0)
			shim_res_put(r, "mem.total", v);
		if ((v = number(memory, "memory.limit_in_bytes")) >= 0 && v < (double)V1_UNLIMITED)
			shim_res_put(r, "mem.limit", v);
		if ((v = number(memory, "memory.soft_limit_in_bytes")) >= 0 &&
		    v < (double)V1_UNLIMITED)
			shim_res_put(r, "mem.soft.limit", v);
		if ((v = number(memory, "memory.memsw.usage_in_bytes")) >= 0)
			shim_res_put(r, "mem.total.memsw", v);
		if (shim_cg_read(memory, "memory.stat", buf, sizeof buf) > 0) {
			/* total_*: the cgroup and its descendants, as Mesos reads them */
			static const char *const m[][2] = {{"total_cache", "mem.cache"},
			                                   {"total_rss", "mem.rss"},
			                                   {"total_mapped_file", "mem.mapped.file"},
			                                   {"total_swap", "mem.swap"},
			                                   {"total_unevictable", "mem.unevictable"}};
			for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
				if ((v = shim_cg_kv(buf, m[i][0])) >= 0)
					shim_res_put(r, m[i][1], v);
		}
	}
	const char *any = cpu ? cpu : memory ? memory : cpuacct;
	int n;
	if (any && (n = lines(any, "cgroup.procs")) >= 0)
		shim_res_put(r, "processes", n);
	if (any && (n = lines(any, "tasks")) >= 0)
		shim_res_put(r, "threads", n);
	if (blk) {
		blkio(r, blk, "blkio.throttle.io_service_bytes", "blkio.io_service_bytes");
		blkio(r, blk, "blkio.throttle.io_serviced", "blkio.io_serviced");
	}
}
