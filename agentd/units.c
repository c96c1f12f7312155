/* units.c: the DC/OS unit of every node and container resource metric (the tables of docs/api.md);
 * app metrics carry no unit. */
#include <string.h>

#include "store.h"

struct unit_rule {
	const char *name; /* exact, or a prefix when it ends in '.' */
	const char *unit;
};

static const struct unit_rule node_units[] = {
	{"system.uptime", "seconds"}, /* DC/OS said count; seconds gives Prometheus _seconds */
	{"cpu.cores", "count"},
	{"cpu.", "percent"},
	{"load.", "count"},
	{"memory.", "bytes"},
	{"swap.", "bytes"},
	{"filesystem.capacity.", "bytes"},
	{"filesystem.inode.", "count"},
	{"network.in", "bytes"},
	{"network.out", "bytes"},
	{"network.", "count"},
	{"process.count", "count"},
};

static const struct unit_rule container_units[] = {
	{"cpus.user.time", "seconds"},
	{"cpus.system.time", "seconds"},
	{"cpus.throttled.time", "seconds"},
	{"cpus.limit", "count"},
	{"cpus.nr.periods", "count"},
	{"cpus.nr.throttled", "count"},
	{"mem.", "bytes"},
	{"processes", "count"},
	{"threads", "count"},
	{"blkio.io_service_bytes.", "bytes"}, /* .read, .write, .total: bytes are bytes */
	{"blkio.", "count"},
	{"disk.", "bytes"},
	{"net.rx.bytes", "bytes"},
	{"net.tx.bytes", "bytes"},
	{"net.", "count"},
};

static const char *lookup(const struct unit_rule *r, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(r[i].name);
		if (r[i].name[l - 1] == '.') {
			if (strncmp(name, r[i].name, l) == 0)
				return r[i].unit;
		} else if (strcmp(name, r[i].name) == 0) {
			return r[i].unit;
		}
	}
	return "";
}

const char *agent_unit(const char *source, int kind, const char *name)
{
	if (!source || !name)
		return "";
	if (strcmp(source, "node") == 0)
		return lookup(node_units, sizeof node_units / sizeof node_units[0], name);
	if (kind == MB_RESOURCE)
		return lookup(container_units, sizeof container_units / sizeof container_units[0],
		              name);
	return "";
}
