/* units_test.c: the units of docs/api.md's node and container tables. */
#include "agentd.h"
#include "../tests/unit/mbtest.h"

MB_TEST(units_node_table)
{
	CHECK_STR(agent_unit("node", MB_GAUGE, "system.uptime"), "seconds");
	CHECK_STR(agent_unit("node", MB_GAUGE, "cpu.cores"), "count");
	CHECK_STR(agent_unit("node", MB_GAUGE, "cpu.total"), "percent");
	CHECK_STR(agent_unit("node", MB_GAUGE, "cpu.wait"), "percent");
	CHECK_STR(agent_unit("node", MB_GAUGE, "load.15min"), "count");
	CHECK_STR(agent_unit("node", MB_GAUGE, "memory.cached"), "bytes");
	CHECK_STR(agent_unit("node", MB_GAUGE, "swap.used"), "bytes");
	CHECK_STR(agent_unit("node", MB_GAUGE, "filesystem.capacity.free"), "bytes");
	CHECK_STR(agent_unit("node", MB_GAUGE, "filesystem.inode.used"), "count");
	CHECK_STR(agent_unit("node", MB_GAUGE, "network.in"), "bytes");
	CHECK_STR(agent_unit("node", MB_GAUGE, "network.out"), "bytes");
	CHECK_STR(agent_unit("node", MB_GAUGE, "network.in.packets"), "count");
	CHECK_STR(agent_unit("node", MB_GAUGE, "network.out.dropped"), "count");
	CHECK_STR(agent_unit("node", MB_GAUGE, "process.count"), "count");
	CHECK_STR(agent_unit("node", MB_GAUGE, "something.else"), "");
}

MB_TEST(units_container_table)
{
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "cpus.user.time"), "seconds");
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "cpus.throttled.time"), "seconds");
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "cpus.limit"), "count");
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "cpus.nr.throttled"), "count");
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "mem.rss"), "bytes");
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "mem.limit"), "bytes");
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "processes"), "count");
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "threads"), "count");
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "net.rx.bytes"), "bytes");
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "net.rx.packets"), "count");
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "blkio.io_service_bytes.read"), "bytes");
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "blkio.io_service_bytes.total"), "bytes");
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "blkio.io_serviced.write"), "count");
	CHECK_STR(agent_unit("c1", MB_RESOURCE, "disk.limit"), "bytes");
}

MB_TEST(units_app_metrics_have_none)
{
	CHECK_STR(agent_unit("c1", MB_COUNTER, "mem.rss"), "");
	CHECK_STR(agent_unit("c1", MB_TIMER, "cpus.user.time"), "");
	CHECK_STR(agent_unit("c1", MB_GAUGE, "memory.total"), "");
	CHECK_STR(agent_unit(NULL, MB_GAUGE, "x"), "");
}
