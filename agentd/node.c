/* node.c: the host's own metrics every --node-interval, read from /proc and statvfs, under the
 * names and units DC/OS used, as a batch from source "node". */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "agentd.h"

/* Filesystems that hold data (the rest are kernel views, memory or containers' layers): */
static const char *const real_fs[] = {
	"ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "vfat", "exfat", "ntfs", "ntfs3",
	"jfs", "reiserfs", "hfsplus", "fuseblk", "nfs", "nfs4", "cifs", "smb3", "ceph", "gfs2",
	"ocfs2", "bcachefs",
};

enum { CPU_USER, CPU_NICE, CPU_SYSTEM, CPU_IDLE, CPU_IOWAIT, CPU_IRQ, CPU_SOFTIRQ, CPU_STEAL,
       CPU_NFIELDS };

struct agent_node {
	char proc[256];
	char *hostname, *node_id, *cluster_id;
	uint64_t instance, seq;
	uint64_t prev[CPU_NFIELDS];
	bool have_prev;
};

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Reads a whole small /proc file into buf (NUL-terminated). */
static int read_file(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return MB_ESYS;
	size_t r = fread(buf, 1, n - 1, f);
	buf[r] = 0;
	fclose(f);
	return 0;
}

static int read_cpu(struct agent_node *n, uint64_t *t, int *cores)
{
	char path[300];
	snprintf(path, sizeof path, "%s/stat", n->proc);
	FILE *f = fopen(path, "re");
	if (!f)
		return MB_ESYS;
	char line[1024];
	int rv = MB_EINVAL;
	*cores = 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "cpu ", 4) == 0) {
			unsigned long long v[CPU_NFIELDS] = {0};
			int k = sscanf(line + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
			               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
			if (k >= 4) {
				for (int i = 0; i < CPU_NFIELDS; i++)
					t[i] = v[i];
				rv = 0;
			}
		} else if (strncmp(line, "cpu", 3) == 0 && isdigit((unsigned char)line[3])) {
			(*cores)++;
		}
	}
	fclose(f);
	return rv;
}

int agent_node_open(const struct agent_node_opts *o, struct agent_node **out)
{
	struct agent_node *n = calloc(1, sizeof *n);
	int cores;
	if (!n)
		return MB_ENOMEM;
	snprintf(n->proc, sizeof n->proc, "%s", o->proc ? o->proc : "/proc");
	n->hostname = xstrdup(o->hostname ? o->hostname : "");
	n->node_id = xstrdup(o->node_id);
	n->cluster_id = xstrdup(o->cluster_id);
	n->instance = o->instance;
	if (!n->hostname || (o->node_id && !n->node_id) || (o->cluster_id && !n->cluster_id)) {
		agent_node_close(n);
		return MB_ENOMEM;
	}
	/* The first collection's cpu percentages cover the time since start. */
	n->have_prev = read_cpu(n, n->prev, &cores) == 0;
	*out = n;
	return 0;
}

int agent_node_set_id(struct agent_node *n, const char *id)
{
	char *c = xstrdup(id);
	if (id && !c)
		return MB_ENOMEM;
	free(n->node_id);
	n->node_id = c;
	return 0;
}

void agent_node_close(struct agent_node *n)
{
	if (!n)
		return;
	free(n->hostname);
	free(n->node_id);
	free(n->cluster_id);
	free(n);
}

static int add(struct mb_batch *b, const char *name, double v)
{
	return agent_batch_add(b, MB_GAUGE, name, v, 0, NULL);
}

static int add_tag(struct mb_batch *b, const char *name, double v, const char *k, const char *val)
{
	struct mb_kv t = {k, val};
	return agent_batch_add(b, MB_GAUGE, name, v, 1, &t);
}

static int collect_cpu(struct agent_node *n, struct mb_batch *b)
{
	uint64_t t[CPU_NFIELDS];
	int cores, rv;
	if (read_cpu(n, t, &cores) != 0)
		return 0; /* no /proc/stat: nothing to say about cpus */
	if ((rv = add(b, "cpu.cores", cores)) != 0)
		return rv;
	{
		double d[CPU_NFIELDS], all = 0;
		for (int i = 0; i < CPU_NFIELDS; i++) {
			d[i] = n->have_prev && t[i] >= n->prev[i] ? (double)(t[i] - n->prev[i]) : 0;
			all += d[i];
		}
		/* No tick since the last read (the collection right at start): the averages since
		 * boot are the best first answer. */
		if (all == 0)
			for (int i = 0; i < CPU_NFIELDS; i++)
				all += d[i] = (double)t[i];
		if (all > 0) {
			double user = 100 * (d[CPU_USER] + d[CPU_NICE]) / all;
			double sys = 100 * (d[CPU_SYSTEM] + d[CPU_IRQ] + d[CPU_SOFTIRQ]) / all;
			double idle = 100 * d[CPU_IDLE] / all;
			double wait = 100 * d[CPU_IOWAIT] / all;
			if ((rv = add(b, "cpu.total", 100 - idle)) != 0 ||
			    (rv = add(b, "cpu.user", user)) != 0 ||
			    (rv = add(b, "cpu.system", sys)) != 0 ||
			    (rv = add(b, "cpu.idle", idle)) != 0 ||
			    (rv = add(b, "cpu.wait", wait)) != 0)
				return rv;
		}
	}
	memcpy(n->prev, t, sizeof t);
	n->have_prev = true;
	return 0;
}

static int collect_small(struct agent_node *n, struct mb_batch *b)
{
	char path[300], buf[4096];
	int rv;
	double a, l5, l15;
	snprintf(path, sizeof path, "%s/uptime", n->proc);
	if (read_file(path, buf, sizeof buf) == 0 && sscanf(buf, "%lf", &a) == 1 &&
	    (rv = add(b, "system.uptime", (double)(int64_t)a)) != 0)
		return rv;
	snprintf(path, sizeof path, "%s/loadavg", n->proc);
	if (read_file(path, buf, sizeof buf) == 0 && sscanf(buf, "%lf %lf %lf", &a, &l5, &l15) == 3) {
		if ((rv = add(b, "load.1min", a)) != 0 || (rv = add(b, "load.5min", l5)) != 0 ||
		    (rv = add(b, "load.15min", l15)) != 0)
			return rv;
	}
	return 0;
}

static int collect_mem(struct agent_node *n, struct mb_batch *b)
{
	static const struct {
		const char *key, *name;
	} map[] = {
		{"MemTotal:", "memory.total"}, {"MemFree:", "memory.free"},
		{"Buffers:", "memory.buffers"}, {"Cached:", "memory.cached"},
		{"SwapTotal:", "swap.total"}, {"SwapFree:", "swap.free"},
	};
	char path[300], line[256];
	unsigned long long kb, swt = 0, swf = 0;
	bool have_swt = false, have_swf = false;
	int rv;
	snprintf(path, sizeof path, "%s/meminfo", n->proc);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
			size_t kl = strlen(map[i].key);
			if (strncmp(line, map[i].key, kl) != 0 || sscanf(line + kl, "%llu", &kb) != 1)
				continue;
			if ((rv = add(b, map[i].name, (double)kb * 1024)) != 0) {
				fclose(f);
				return rv;
			}
			if (i == 4) {
				swt = kb;
				have_swt = true;
			} else if (i == 5) {
				swf = kb;
				have_swf = true;
			}
		}
	}
	fclose(f);
	if (have_swt && have_swf)
		return add(b, "swap.used", (double)(swt >= swf ? swt - swf : 0) * 1024);
	return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *o = s;
	for (char *p = s; *p;) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 4;
		} else {
			*o++ = *p++;
		}
	}
	*o = 0;
}

static bool is_real_fs(const char *type)
{
	for (size_t i = 0; i < sizeof real_fs / sizeof real_fs[0]; i++)
		if (strcmp(type, real_fs[i]) == 0)
			return true;
	return false;
}

#define MAX_FS 256

static int collect_fs(struct agent_node *n, struct mb_batch *b)
{
	char path[300], line[4096];
	char devs[MAX_FS][32];
	int ndevs = 0, rv = 0;
	snprintf(path, sizeof path, "%s/self/mountinfo", n->proc);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f) && ndevs < MAX_FS) {
		char dev[32], mnt[4096], type[64];
		/* id parent major:minor root mountpoint options [optional...] - type source super */
		if (sscanf(line, "%*s %*s %31s %*s %4095s", dev, mnt) != 2)
			continue;
		const char *sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%63s", type) != 1 || !is_real_fs(type))
			continue;
		/* A device mounted twice (bind mounts) is one filesystem: the first mount names it. */
		bool seen = false;
		for (int i = 0; i < ndevs && !seen; i++)
			seen = strcmp(devs[i], dev) == 0;
		if (seen)
			continue;
		snprintf(devs[ndevs++], sizeof devs[0], "%s", dev);
		unescape(mnt);
		if (strlen(mnt) > MB_MAX_TAG_VAL)
			continue; /* a tag value holds 128 bytes (schemas/v1) */
		struct statvfs sv;
		if (statvfs(mnt, &sv) != 0 || sv.f_blocks == 0)
			continue;
		double fr = (double)sv.f_frsize ? (double)sv.f_frsize : (double)sv.f_bsize;
		double total = (double)sv.f_blocks * fr, free_ = (double)sv.f_bavail * fr;
		double used = (double)(sv.f_blocks - sv.f_bfree) * fr;
		double itotal = (double)sv.f_files, ifree = (double)sv.f_ffree;
		if ((rv = add_tag(b, "filesystem.capacity.total", total, "path", mnt)) != 0 ||
		    (rv = add_tag(b, "filesystem.capacity.used", used, "path", mnt)) != 0 ||
		    (rv = add_tag(b, "filesystem.capacity.free", free_, "path", mnt)) != 0 ||
		    (rv = add_tag(b, "filesystem.inode.total", itotal, "path", mnt)) != 0 ||
		    (rv = add_tag(b, "filesystem.inode.used", itotal - ifree, "path", mnt)) != 0 ||
		    (rv = add_tag(b, "filesystem.inode.free", ifree, "path", mnt)) != 0)
			break;
	}
	fclose(f);
	return rv;
}

static int collect_net(struct agent_node *n, struct mb_batch *b)
{
	static const char *const names[16] = {
		"network.in", "network.in.packets", "network.in.errors", "network.in.dropped",
		NULL, NULL, NULL, NULL,
		"network.out", "network.out.packets", "network.out.errors", "network.out.dropped",
		NULL, NULL, NULL, NULL,
	};
	char path[300], line[1024];
	int rv = 0;
	snprintf(path, sizeof path, "%s/net/dev", n->proc);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue; /* the two header lines */
		*colon = 0;
		char *ifname = line;
		while (*ifname == ' ')
			ifname++;
		unsigned long long v[16];
		if (sscanf(colon + 1,
		           "%llu %llu %llu %llu %llu %llu %llu %llu "
		           "%llu %llu %llu %llu %llu %llu %llu %llu",
		           &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9],
		           &v[10], &v[11], &v[12], &v[13], &v[14], &v[15]) != 16 || !ifname[0])
			continue;
		for (int i = 0; i < 16 && rv == 0; i++)
			if (names[i])
				rv = add_tag(b, names[i], (double)v[i], "interface", ifname);
		if (rv)
			break;
	}
	fclose(f);
	return rv;
}

/* readdir of /proc lists processes only: threads are reachable as /proc/TID but not listed. */
static int collect_procs(struct agent_node *n, struct mb_batch *b)
{
	DIR *d = opendir(n->proc);
	if (!d)
		return 0;
	uint64_t count = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *p = e->d_name;
		while (*p >= '0' && *p <= '9')
			p++;
		count += *p == 0 && p != e->d_name;
	}
	closedir(d);
	return add(b, "process.count", (double)count);
}

int agent_node_collect(struct agent_node *n, int64_t now_ms, int64_t interval_ms,
                       struct mb_batch **out)
{
	int rv = MB_ENOMEM;
	struct mb_batch *b = agent_batch_new("node", n->instance, ++n->seq, now_ms, interval_ms);
	if (!b)
		return MB_ENOMEM;
	if ((rv = agent_batch_dim(b, "hostname", n->hostname)) != 0)
		goto fail;
	if (n->node_id && (rv = agent_batch_dim(b, "mesos_id", n->node_id)) != 0)
		goto fail;
	if (n->cluster_id && (rv = agent_batch_dim(b, "cluster_id", n->cluster_id)) != 0)
		goto fail;
	if ((rv = collect_small(n, b)) != 0 || (rv = collect_cpu(n, b)) != 0 ||
	    (rv = collect_mem(n, b)) != 0 || (rv = collect_fs(n, b)) != 0 ||
	    (rv = collect_net(n, b)) != 0 || (rv = collect_procs(n, b)) != 0)
		goto fail;
	*out = b;
	return 0;
fail:
	agent_batch_destroy(b);
	return rv;
}
