/* cgroup_test.c: the mapping from cgroup v2 files to DC/OS resource names, on a directory
 * laid out like a container's cgroup, the /proc fallback on a live process, and the
 * sandbox's disk use (disk.c). */
#include "../tests/unit/mbtest.h"
#include "shim.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[1100];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static double get(const struct shim_res *r, const char *name)
{
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->names[i], name) == 0)
			return r->vals[i];
	return -1;
}

MB_TEST(cgroup_v2_mapping)
{
	const char *d = mbt_tmpdir();
	put_file(d, "cpu.stat",
	         "usage_usec 3500000\nuser_usec 2500000\nsystem_usec 1000000\n"
	         "nr_periods 40\nnr_throttled 3\nthrottled_usec 250000\n");
	put_file(d, "cpu.max", "150000 100000\n");
	put_file(d, "memory.current", "104857600\n");
	put_file(d, "memory.max", "536870912\n");
	put_file(d, "memory.stat", "anon 52428800\nfile 31457280\nkernel 1000\n");
	put_file(d, "memory.swap.current", "4096\n");
	put_file(d, "cgroup.procs", "1\n7\n9\n");
	put_file(d, "pids.current", "12\n");
	put_file(d, "io.stat",
	         "8:0 rbytes=1000 wbytes=2000 rios=10 wios=20 dbytes=0 dios=0\n"
	         "8:16 rbytes=5 wbytes=6 rios=1 wios=2 dbytes=0 dios=0\n");
	struct shim_res r = {0};
	shim_resources_from_cgroup(&r, d);
	CHECK_NEAR(get(&r, "cpus.user.time"), 2.5, 1e-9);
	CHECK_NEAR(get(&r, "cpus.system.time"), 1.0, 1e-9);
	CHECK_NEAR(get(&r, "cpus.throttled.time"), 0.25, 1e-9);
	CHECK(get(&r, "cpus.nr.periods") == 40);
	CHECK(get(&r, "cpus.nr.throttled") == 3);
	CHECK_NEAR(get(&r, "cpus.limit"), 1.5, 1e-9);
	CHECK(get(&r, "mem.total") == 104857600);
	CHECK(get(&r, "mem.limit") == 536870912);
	CHECK(get(&r, "mem.rss") == 52428800);
	CHECK(get(&r, "mem.cache") == 31457280);
	CHECK(get(&r, "mem.swap") == 4096);
	CHECK(get(&r, "processes") == 3);
	CHECK(get(&r, "threads") == 12);
	CHECK(get(&r, "blkio.io_service_bytes.read") == 1005);
	CHECK(get(&r, "blkio.io_service_bytes.write") == 2006);
	CHECK(get(&r, "blkio.io_service_bytes.total") == 3011);
	CHECK(get(&r, "blkio.io_serviced.total") == 33);
}

MB_TEST(cgroup_unlimited)
{
	const char *d = mbt_tmpdir();
	put_file(d, "cpu.max", "max 100000\n");
	put_file(d, "memory.max", "max\n");
	struct shim_res r = {0};
	unsetenv("MARATHON_APP_RESOURCE_CPUS");
	unsetenv("MARATHON_APP_RESOURCE_MEM");
	unsetenv("MARATHON_APP_RESOURCE_DISK");
	shim_resources_from_cgroup(&r, d);
	shim_resources_limits(&r);
	CHECK(get(&r, "cpus.limit") == (double)sysconf(_SC_NPROCESSORS_ONLN));
	CHECK(get(&r, "mem.limit") == -1);
	CHECK(get(&r, "disk.limit") == -1);
	/* the task's allocation, where cgroups set no limit (MiB for memory and disk) */
	setenv("MARATHON_APP_RESOURCE_CPUS", "0.5", 1);
	setenv("MARATHON_APP_RESOURCE_MEM", "128.0", 1);
	setenv("MARATHON_APP_RESOURCE_DISK", "10", 1);
	struct shim_res m = {0};
	shim_resources_from_cgroup(&m, d);
	shim_resources_limits(&m);
	CHECK_NEAR(get(&m, "cpus.limit"), 0.5, 1e-12);
	CHECK(get(&m, "mem.limit") == 128.0 * 1048576);
	CHECK(get(&m, "disk.limit") == 10.0 * 1048576);
	unsetenv("MARATHON_APP_RESOURCE_CPUS");
	unsetenv("MARATHON_APP_RESOURCE_MEM");
	unsetenv("MARATHON_APP_RESOURCE_DISK");
}

/* Laid out as a DC/OS agent's cgroup v1 hierarchies (Mesos's cgroups isolator). */
MB_TEST(cgroup_v1_mapping)
{
	char cpuacct[512], cpu[512], mem[512], blk[512];
	const char *t = mbt_tmpdir();
	const char *sub[] = {"cpuacct", "cpu", "memory", "blkio"};
	char *dirs[] = {cpuacct, cpu, mem, blk};
	for (int i = 0; i < 4; i++) {
		snprintf(dirs[i], 512, "%s/%s", t, sub[i]);
		mb_mkdirs(dirs[i], 0755);
	}
	long hz = sysconf(_SC_CLK_TCK);
	char text[128];
	snprintf(text, sizeof text, "user %ld\nsystem %ld\n", 3 * hz, hz / 2);
	put_file(cpuacct, "cpuacct.stat", text);
	put_file(cpu, "cpu.stat", "nr_periods 40\nnr_throttled 3\nthrottled_time 250000000\n");
	put_file(cpu, "cpu.cfs_quota_us", "25000\n");
	put_file(cpu, "cpu.cfs_period_us", "100000\n");
	put_file(cpu, "cgroup.procs", "1\n7\n");
	put_file(cpu, "tasks", "1\n7\n8\n9\n");
	put_file(mem, "memory.usage_in_bytes", "104857600\n");
	put_file(mem, "memory.limit_in_bytes", "9223372036854771712\n"); /* none */
	put_file(mem, "memory.soft_limit_in_bytes", "67108864\n");
	put_file(mem, "memory.stat", "cache 1\nrss 2\ntotal_cache 31457280\ntotal_rss 52428800\n"
	                             "total_mapped_file 4096\ntotal_swap 0\ntotal_unevictable 8192\n");
	put_file(blk, "blkio.throttle.io_service_bytes",
	         "8:0 Read 1000\n8:0 Write 2000\n8:0 Sync 0\n8:0 Async 3000\n8:0 Total 3000\n"
	         "8:16 Read 5\n8:16 Write 6\n8:16 Total 11\nTotal 3011\n");
	put_file(blk, "blkio.throttle.io_serviced", "8:0 Read 10\n8:0 Write 20\n8:0 Total 30\nTotal 30\n");
	struct shim_res r = {0};
	shim_resources_from_cgroup_v1(&r, cpuacct, cpu, mem, blk);
	CHECK_NEAR(get(&r, "cpus.user.time"), 3.0, 1e-9);
	CHECK_NEAR(get(&r, "cpus.system.time"), (double)(hz / 2) / (double)hz, 1e-9);
	CHECK_NEAR(get(&r, "cpus.throttled.time"), 0.25, 1e-9);
	CHECK(get(&r, "cpus.nr.periods") == 40);
	CHECK(get(&r, "cpus.nr.throttled") == 3);
	CHECK_NEAR(get(&r, "cpus.limit"), 0.25, 1e-12);
	CHECK(get(&r, "mem.total") == 104857600);
	CHECK(get(&r, "mem.limit") == -1);
	CHECK(get(&r, "mem.soft.limit") == 67108864);
	CHECK(get(&r, "mem.cache") == 31457280);
	CHECK(get(&r, "mem.rss") == 52428800);
	CHECK(get(&r, "mem.mapped.file") == 4096);
	CHECK(get(&r, "mem.unevictable") == 8192);
	CHECK(get(&r, "processes") == 2);
	CHECK(get(&r, "threads") == 4);
	CHECK(get(&r, "blkio.io_service_bytes.read") == 1005);
	CHECK(get(&r, "blkio.io_service_bytes.write") == 2006);
	CHECK(get(&r, "blkio.io_service_bytes.total") == 3011);
	CHECK(get(&r, "blkio.io_serviced.total") == 30);
	/* a missing hierarchy is left out, not an error */
	struct shim_res m = {0};
	shim_resources_from_cgroup_v1(&m, NULL, NULL, mem, NULL);
	CHECK(get(&m, "mem.total") == 104857600);
	CHECK(get(&m, "cpus.user.time") == -1);
}

MB_TEST(resources_of_a_live_process)
{
	struct shim_res r = {0};
	CHECK(shim_resources_read(&r, getpid()) == 0);
	CHECK(get(&r, "cpus.user.time") >= 0);
	CHECK(get(&r, "mem.total") > 0);
	CHECK(get(&r, "threads") >= 1);
	for (int i = 0; i < r.n; i++)
		CHECK(isfinite(r.vals[i]) && r.vals[i] >= 0);
}

/* disk.used: the blocks of every entry under the sandbox (as du), measured again only after
 * SHIM_DISK_INTERVAL_MS. */
MB_TEST(disk_used_is_the_sandbox_blocks)
{
	const char *d = mbt_tmpdir();
	char sub[1100], path[1200];
	snprintf(sub, sizeof sub, "%s/sub", d);
	CHECK(mkdir(sub, 0700) == 0);
	snprintf(path, sizeof path, "%s/data", sub);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	static char block[65536];
	memset(block, 'x', sizeof block);
	for (int i = 0; i < 16; i++)
		fwrite(block, 1, sizeof block, f);
	fclose(f);
	struct stat a, b, c;
	CHECK(stat(d, &a) == 0 && stat(sub, &b) == 0 && stat(path, &c) == 0);
	double want = (double)(a.st_blocks + b.st_blocks + c.st_blocks) * 512;
	struct shim_disk dk = {0};
	double v = -1;
	CHECK_EQ_INT(shim_disk_used(&dk, d, 1000, &v), 0);
	CHECK(v == want && v >= 1048576);
	/* within the interval: the last figure, not a new walk */
	CHECK(unlink(path) == 0);
	CHECK_EQ_INT(shim_disk_used(&dk, d, 1000 + SHIM_DISK_INTERVAL_MS - 1, &v), 0);
	CHECK(v == want);
	CHECK_EQ_INT(shim_disk_used(&dk, d, 1000 + SHIM_DISK_INTERVAL_MS, &v), 0);
	CHECK(v < want);
	CHECK(shim_disk_used(&dk, "/nonexistent/sandbox", 1 << 30, &v) != 0);
	CHECK(shim_disk_used(&dk, "", 0, &v) != 0);
}
