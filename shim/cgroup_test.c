/* cgroup_test.c: the mapping from cgroup v2 files to DC/OS resource names, on a directory
 * laid out like a container's cgroup, and the /proc fallback on a live process. */
#include "../tests/unit/mbtest.h"
#include "shim.h"

#include <stdlib.h>
#include <unistd.h>

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[512];
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
	shim_resources_from_cgroup(&r, d);
	CHECK(get(&r, "cpus.limit") == (double)sysconf(_SC_NPROCESSORS_ONLN));
	CHECK(get(&r, "mem.limit") == -1);
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
