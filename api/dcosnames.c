/* dcosnames.c: container resource metrics under the names, tags and units of DC/OS 1.12+
 * (telegraf's dcos_containers input through its dcos_metrics output), or of DC/OS 1.11
 * (dcos-metrics' Mesos agent collector); stored under the 1.11 names (docs/api.md). */
#include "api.h"

#include <stdio.h>
#include <string.h>

/* stored name -> 1.12 name ("" = not served in 1.12); 1.12 has no units (the translator set
 * none) and tags every datapoint with its container_id. */
static const char *const v112[][2] = {
	{"cpus.user.time", "cpus.user_time_secs"},
	{"cpus.system.time", "cpus.system_time_secs"},
	{"cpus.throttled.time", "cpus.throttled_time_secs"},
	{"cpus.limit", "cpus.limit"},
	{"cpus.nr.periods", "cpus.nr_periods"},
	{"cpus.nr.throttled", "cpus.nr_throttled"},
	{"mem.total", "mem.total_bytes"},
	{"mem.total.memsw", "mem.total_memsw_bytes"},
	{"mem.limit", "mem.limit_bytes"},
	{"mem.soft.limit", "mem.soft_limit_bytes"},
	{"mem.cache", "mem.cache_bytes"},
	{"mem.rss", "mem.rss_bytes"},
	{"mem.mapped.file", "mem.mapped_file_bytes"},
	{"mem.swap", "mem.swap_bytes"},
	{"mem.unevictable", "mem.unevictable_bytes"},
	{"disk.limit", "disk.limit_bytes"},
	{"disk.used", "disk.used_bytes"},
	{"net.rx.packets", "net.rx_packets"},
	{"net.rx.bytes", "net.rx_bytes"},
	{"net.rx.errors", "net.rx_errors"},
	{"net.rx.dropped", "net.rx_dropped"},
	{"net.tx.packets", "net.tx_packets"},
	{"net.tx.bytes", "net.tx_bytes"},
	{"net.tx.errors", "net.tx_errors"},
	{"net.tx.dropped", "net.tx_dropped"},
	{"processes", "container.processes"},
	{"threads", "container.threads"},
	/* telegraf named blkio fields io_<stat>_<op>; Mesos' device-less throttling entry (the
	 * cgroup's "Total" line, all devices) has only the total, tagged device "default" */
	{"blkio.io_service_bytes.total", "blkio.io_service_bytes_total"},
	{"blkio.io_serviced.total", "blkio.io_serviced_total"},
	{"blkio.io_service_bytes.read", ""},
	{"blkio.io_service_bytes.write", ""},
	{"blkio.io_serviced.read", ""},
	{"blkio.io_serviced.write", ""},
};

/* Mesos reports page cache and anonymous memory twice (cache/rss and file/anon): so did 1.12,
 * and the dcos CLI's summary reads mem.file_bytes. */
static const char *const v112_also[][2] = {
	{"mem.cache", "mem.file_bytes"},
	{"mem.rss", "mem.anon_bytes"},
};

static const char *dim(const struct mb_reply *r, const char *k)
{
	for (int i = 0; i < r->ndims; i++)
		if (strcmp(r->dims[i].key, k) == 0)
			return r->dims[i].val;
	return NULL;
}

/* Sorted tags (the order JSON shows them in) from up to 6 pairs; empty values left out. */
static struct mb_kv *tags(struct mb_reply *r, const char *const kv[][2], int n, uint16_t *nt)
{
	struct mb_kv *t = mb_arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *t);
	int k = 0;
	if (!t)
		return NULL;
	for (int i = 0; i < n; i++) {
		if (!kv[i][1] || !kv[i][1][0])
			continue;
		int j = k++;
		while (j > 0 && strcmp(t[j - 1].key, kv[i][0]) > 0) {
			t[j] = t[j - 1];
			j--;
		}
		t[j].key = kv[i][0];
		t[j].val = kv[i][1];
	}
	*nt = (uint16_t)k;
	return t;
}

int api_dcos_container_names(struct mb_reply *r, int version)
{
	const char *cid = dim(r, "container_id");
	uint16_t nt = 0;
	struct mb_kv *t;
	if (version == 111) {
		/* dcos-metrics tagged each datapoint with the container's ids */
		const char *kv[][2] = {{"container_id", cid},
		                       {"source", dim(r, "task_id")},
		                       {"framework_id", dim(r, "framework_id")},
		                       {"executor_id", dim(r, "executor_id")}};
		if (!(t = tags(r, kv, 4, &nt)))
			return MB_ENOMEM;
		const char *bkv[][2] = {{"container_id", cid},
		                        {"source", dim(r, "task_id")},
		                        {"framework_id", dim(r, "framework_id")},
		                        {"executor_id", dim(r, "executor_id")},
		                        {"blkio_device", "total"}};
		uint16_t bnt = 0;
		struct mb_kv *bt = tags(r, bkv, 5, &bnt);
		if (!bt)
			return MB_ENOMEM;
		for (uint32_t i = 0; i < r->npoints; i++) {
			struct mb_point *p = &r->points[i];
			if (strncmp(p->name, "blkio.", 6) == 0) {
				/* the throttling policy's counters, summed over devices */
				size_t n = strlen(p->name) + 12;
				char *nm = mb_arena_alloc(&r->arena, n);
				if (!nm)
					return MB_ENOMEM;
				snprintf(nm, n, "blkio.throttling.%s", p->name + 6);
				p->name = nm;
				p->tags = bt;
				p->ntags = bnt;
			} else {
				p->tags = t;
				p->ntags = nt;
			}
		}
		return 0;
	}
	const char *kv[][2] = {{"container_id", cid}};
	if (!(t = tags(r, kv, 1, &nt)))
		return MB_ENOMEM;
	const char *bkv[][2] = {{"container_id", cid}, {"device", "default"}, {"policy", "throttling"}};
	uint16_t bnt = 0;
	struct mb_kv *bt = tags(r, bkv, 3, &bnt);
	struct mb_point *out = mb_arena_alloc(&r->arena, (2 * r->npoints + 1) * sizeof *out);
	uint32_t n = 0;
	if (!out || !bt)
		return MB_ENOMEM;
	for (uint32_t i = 0; i < r->npoints; i++) {
		const struct mb_point *p = &r->points[i];
		const char *name = NULL;
		for (size_t j = 0; j < sizeof v112 / sizeof v112[0] && !name; j++)
			if (strcmp(p->name, v112[j][0]) == 0)
				name = v112[j][1];
		if (name && !name[0])
			continue;
		out[n] = *p;
		out[n].name = name ? name : p->name; /* a name of no table is served as sent */
		out[n].unit = "";
		out[n].tags = strncmp(p->name, "blkio.", 6) == 0 ? bt : t;
		out[n].ntags = strncmp(p->name, "blkio.", 6) == 0 ? bnt : nt;
		n++;
		for (size_t j = 0; j < sizeof v112_also / sizeof v112_also[0]; j++)
			if (strcmp(p->name, v112_also[j][0]) == 0) {
				out[n] = out[n - 1];
				out[n].name = v112_also[j][1];
				n++;
			}
	}
	r->points = out;
	r->npoints = n;
	return 0;
}
