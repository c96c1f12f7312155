/* node_test.c: node metrics match /proc and statvfs, on this host and on a fixed /proc. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <dirent.h>

#include "agentd.h"
#include "../tests/unit/mbtest.h"

static const struct mb_record *find(const struct mb_batch *b, const char *name, const char *tk,
                                    const char *tv)
{
	for (uint32_t i = 0; i < b->nrecords; i++) {
		const struct mb_record *r = &b->records[i];
		if (strcmp(r->name, name) != 0)
			continue;
		if (!tk)
			return r;
		for (int t = 0; t < r->ntags; t++)
			if (strcmp(r->tags[t].key, tk) == 0 && strcmp(r->tags[t].val, tv) == 0)
				return r;
	}
	return NULL;
}

static double meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	double v = -1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, strlen(key)) == 0)
			v = atof(line + strlen(key));
	if (f)
		fclose(f);
	return v;
}

MB_TEST(node_matches_proc_and_statvfs)
{
	struct agent_node_opts o = {.proc = "/proc", .hostname = "h1", .node_id = "n1",
	                            .cluster_id = "c1", .instance = 42};
	struct agent_node *n = NULL;
	struct mb_batch *b = NULL;
	CHECK_EQ_INT(agent_node_open(&o, &n), 0);
	CHECK_EQ_INT(agent_node_collect(n, 1700000000000, 10000, &b), 0);
	CHECK(b != NULL);
	if (!b)
		return;
	CHECK_STR(b->container_id, "node");
	CHECK_EQ_INT(b->instance, 42);
	CHECK_EQ_INT(b->seq, 1);
	CHECK_EQ_INT(b->ndims, 3);
	const struct mb_record *r = find(b, "memory.total", NULL, NULL);
	CHECK(r && r->value == meminfo_kb("MemTotal:") * 1024);
	CHECK(r && r->kind == MB_GAUGE);
	r = find(b, "swap.total", NULL, NULL);
	CHECK(r && r->value == meminfo_kb("SwapTotal:") * 1024);
	r = find(b, "cpu.cores", NULL, NULL);
	int cores = 0;
	FILE *f = fopen("/proc/stat", "r");
	char line[1024];
	while (f && fgets(line, sizeof line, f))
		cores += strncmp(line, "cpu", 3) == 0 && line[3] >= '0' && line[3] <= '9';
	if (f)
		fclose(f);
	CHECK(r && r->value == cores);
	struct statvfs sv;
	CHECK_EQ_INT(statvfs("/", &sv), 0);
	r = find(b, "filesystem.capacity.total", "path", "/");
	CHECK(r && r->value == (double)sv.f_blocks * (double)sv.f_frsize);
	r = find(b, "filesystem.inode.total", "path", "/");
	CHECK(r && r->value == (double)sv.f_files);
	r = find(b, "filesystem.capacity.used", "path", "/");
	CHECK(r && fabs(r->value - (double)(sv.f_blocks - sv.f_bfree) * sv.f_frsize) < 64e6);
	CHECK(find(b, "filesystem.capacity.total", "path", "/proc") == NULL);
	r = find(b, "network.in", "interface", "lo");
	CHECK(r != NULL);
	r = find(b, "process.count", NULL, NULL);
	int procs = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d)))
		procs += e->d_name[0] >= '1' && e->d_name[0] <= '9';
	if (d)
		closedir(d);
	CHECK(r && fabs(r->value - procs) <= 20);
	CHECK(find(b, "system.uptime", NULL, NULL) != NULL);
	CHECK(find(b, "load.1min", NULL, NULL) != NULL);
	/* What node.c builds must pass the schema like a shim's batch. */
	struct mb_buf buf = {0};
	struct mb_batch dec;
	char err[256];
	CHECK_EQ_INT(mb_batch_encode(b, &buf), 0);
	CHECK_EQ_INT(mb_batch_decode(buf.data, buf.len, &dec, err, sizeof err), 0);
	if (dec.nrecords)
		CHECK_EQ_INT(dec.nrecords, b->nrecords);
	mb_batch_free(&dec);
	mb_buf_free(&buf);
	agent_batch_destroy(b);
	agent_node_close(n);
}

static void put(const char *dir, const char *name, const char *text)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

MB_TEST(node_fixed_proc_values)
{
	char dir[300];
	snprintf(dir, sizeof dir, "%s/proc", mbt_tmpdir());
	char sub[400];
	mkdir(dir, 0755);
	snprintf(sub, sizeof sub, "%s/self", dir);
	mkdir(sub, 0755);
	snprintf(sub, sizeof sub, "%s/net", dir);
	mkdir(sub, 0755);
	for (int i = 0; i < 3; i++) {
		snprintf(sub, sizeof sub, "%s/%d", dir, 100 + i);
		mkdir(sub, 0755);
	}
	snprintf(sub, sizeof sub, "%s/sys", dir);
	mkdir(sub, 0755);
	put(dir, "stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\n"
	                 "cpu1 50 0 50 400 0 0 0 0 0 0\nintr 1\n");
	put(dir, "meminfo", "MemTotal:       1000 kB\nMemFree:         400 kB\nBuffers:          10 kB\n"
	                    "Cached:           20 kB\nSwapCached:        0 kB\n"
	                    "SwapTotal:       300 kB\nSwapFree:        100 kB\n");
	put(dir, "loadavg", "0.50 0.25 0.10 1/100 1234\n");
	put(dir, "uptime", "1234.56 2000.00\n");
	put(dir, "net/dev",
	    "Inter-|   Receive                                                |  Transmit\n"
	    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
	    "errs drop fifo colls carrier compressed\n"
	    "    lo: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n"
	    "  eth0: 5 6 7 8 0 0 0 0 9 10 11 12 0 0 0 0\n");
	put(dir, "self/mountinfo",
	    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
	    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
	    "28 27 254:0 /x /again rw,relatime - ext4 /dev/vda rw\n"
	    "29 27 0:30 / /dev/shm rw - tmpfs tmpfs rw\n");
	struct agent_node_opts o = {.proc = dir, .hostname = "h", .instance = 5};
	struct agent_node *n = NULL;
	struct mb_batch *b = NULL;
	CHECK_EQ_INT(agent_node_open(&o, &n), 0);
	/* Between the two reads: user +100, system +100, idle +700, iowait +100 = 1000 ticks. */
	put(dir, "stat", "cpu  200 0 200 1500 100 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\n"
	                 "cpu1 1 0 1 1 0 0 0 0 0 0\n");
	CHECK_EQ_INT(agent_node_collect(n, 1000, 10000, &b), 0);
	if (!b)
		return;
	CHECK_EQ_INT(b->ndims, 1);
	const struct mb_record *r;
	CHECK((r = find(b, "cpu.cores", NULL, NULL)) && r->value == 2);
	CHECK((r = find(b, "cpu.user", NULL, NULL)) && fabs(r->value - 10) < 1e-9);
	CHECK((r = find(b, "cpu.system", NULL, NULL)) && fabs(r->value - 10) < 1e-9);
	CHECK((r = find(b, "cpu.idle", NULL, NULL)) && fabs(r->value - 70) < 1e-9);
	CHECK((r = find(b, "cpu.wait", NULL, NULL)) && fabs(r->value - 10) < 1e-9);
	CHECK((r = find(b, "cpu.total", NULL, NULL)) && fabs(r->value - 30) < 1e-9);
	CHECK((r = find(b, "memory.total", NULL, NULL)) && r->value == 1000 * 1024);
	CHECK((r = find(b, "memory.free", NULL, NULL)) && r->value == 400 * 1024);
	CHECK((r = find(b, "memory.buffers", NULL, NULL)) && r->value == 10 * 1024);
	CHECK((r = find(b, "memory.cached", NULL, NULL)) && r->value == 20 * 1024);
	CHECK((r = find(b, "swap.used", NULL, NULL)) && r->value == 200 * 1024);
	CHECK((r = find(b, "swap.free", NULL, NULL)) && r->value == 100 * 1024);
	CHECK((r = find(b, "load.5min", NULL, NULL)) && r->value == 0.25);
	CHECK((r = find(b, "system.uptime", NULL, NULL)) && r->value == 1234);
	CHECK((r = find(b, "network.in", "interface", "lo")) && r->value == 1000);
	CHECK((r = find(b, "network.out", "interface", "lo")) && r->value == 2000);
	CHECK((r = find(b, "network.in.errors", "interface", "lo")) && r->value == 1);
	CHECK((r = find(b, "network.out.dropped", "interface", "lo")) && r->value == 4);
	CHECK((r = find(b, "network.out.packets", "interface", "eth0")) && r->value == 10);
	CHECK((r = find(b, "process.count", NULL, NULL)) && r->value == 3);
	/* ext4 on / once (the bind mount of the same device is not a second filesystem). */
	CHECK(find(b, "filesystem.capacity.total", "path", "/") != NULL);
	CHECK(find(b, "filesystem.capacity.total", "path", "/again") == NULL);
	CHECK(find(b, "filesystem.capacity.total", "path", "/proc") == NULL);
	CHECK(find(b, "filesystem.capacity.total", "path", "/dev/shm") == NULL);
	agent_batch_destroy(b);
	agent_node_close(n);
}

MB_TEST(batch_tags_sorted_and_valid)
{
	struct mb_batch *b = agent_batch_new("c1", 9, 3, 5000, 1000);
	struct mb_kv tags[] = {{"zeta", "1"}, {"alpha", "2"}, {"mid", ""}};
	CHECK(b != NULL);
	if (!b)
		return;
	for (int i = 0; i < 100; i++)
		CHECK_EQ_INT(agent_batch_add(b, MB_COUNTER, "x.y", i, 3, tags), 0);
	CHECK_EQ_INT(agent_batch_dim(b, "hostname", "h"), 0);
	CHECK_EQ_INT(b->nrecords, 100);
	CHECK_STR(b->records[99].tags[0].key, "alpha");
	CHECK_STR(b->records[99].tags[2].key, "zeta");
	CHECK(b->records[57].value == 57);
	struct mb_buf buf = {0};
	struct mb_batch dec;
	char err[256] = "";
	CHECK_EQ_INT(mb_batch_encode(b, &buf), 0);
	CHECK_EQ_INT(mb_batch_decode(buf.data, buf.len, &dec, err, sizeof err), 0);
	CHECK_EQ_INT(dec.nrecords, 100);
	mb_batch_free(&dec);
	mb_buf_free(&buf);
	agent_batch_destroy(b);
}
