/* dcosnames_test.c: container resource points as DC/OS 1.12+ and 1.11 named, tagged and
 * united them. */
#include "../tests/unit/mbtest.h"
#include "api.h"

static void reply(struct mb_reply *r)
{
	static const char *names[] = {"cpus.user.time", "mem.total", "mem.cache", "processes",
	                              "blkio.io_service_bytes.total", "blkio.io_serviced.read"};
	static const char *units[] = {"seconds", "bytes", "bytes", "count", "bytes", "count"};
	static struct mb_kv dims[] = {{"container_id", "c-1"}, {"executor_id", "e-1"},
	                              {"framework_id", "f-1"}, {"task_id", "t-1"}};
	memset(r, 0, sizeof *r);
	r->op = MB_OP_CONTAINER;
	r->status = 200;
	r->npoints = 6;
	r->points = mb_arena_alloc(&r->arena, 6 * sizeof *r->points);
	for (int i = 0; i < 6; i++) {
		r->points[i].name = names[i];
		r->points[i].unit = units[i];
		r->points[i].value = i + 1;
	}
	r->dims = dims;
	r->ndims = 4;
}

static const struct mb_point *find(const struct mb_reply *r, const char *name)
{
	for (uint32_t i = 0; i < r->npoints; i++)
		if (strcmp(r->points[i].name, name) == 0)
			return &r->points[i];
	return NULL;
}

static const char *tag(const struct mb_point *p, const char *k)
{
	for (int i = 0; p && i < p->ntags; i++)
		if (strcmp(p->tags[i].key, k) == 0)
			return p->tags[i].val;
	return NULL;
}

MB_TEST(dcos_names_112)
{
	struct mb_reply r;
	reply(&r);
	CHECK(api_dcos_container_names(&r, 112) == 0);
	const struct mb_point *p = find(&r, "cpus.user_time_secs");
	CHECK(p && p->value == 1 && strcmp(p->unit, "") == 0);
	CHECK_STR(tag(p, "container_id"), "c-1");
	CHECK(find(&r, "mem.total_bytes") != NULL);
	CHECK(find(&r, "mem.cache_bytes") && find(&r, "mem.file_bytes") &&
	      find(&r, "mem.file_bytes")->value == 3);
	CHECK(find(&r, "container.processes") != NULL);
	/* telegraf's names for Mesos' device-less throttling entry: its total only */
	p = find(&r, "blkio.io_service_bytes_total");
	CHECK(p && p->value == 5 && strcmp(p->unit, "") == 0);
	CHECK_STR(tag(p, "policy"), "throttling");
	CHECK_STR(tag(p, "device"), "default");
	CHECK_STR(tag(p, "container_id"), "c-1");
	CHECK(find(&r, "blkio.io_service_bytes") == NULL);
	CHECK(find(&r, "blkio.io_serviced_read") == NULL);
	CHECK(find(&r, "blkio.io_serviced.read") == NULL);
	CHECK(find(&r, "cpus.user.time") == NULL);
	CHECK_EQ_INT(r.npoints, 6);
	mb_arena_free(&r.arena);
}

MB_TEST(dcos_names_111)
{
	struct mb_reply r;
	reply(&r);
	CHECK(api_dcos_container_names(&r, 111) == 0);
	const struct mb_point *p = find(&r, "cpus.user.time");
	CHECK(p && strcmp(p->unit, "seconds") == 0);
	CHECK_STR(tag(p, "source"), "t-1");
	CHECK_STR(tag(p, "executor_id"), "e-1");
	p = find(&r, "blkio.throttling.io_service_bytes.total");
	CHECK(p && strcmp(p->unit, "bytes") == 0);
	CHECK_STR(tag(p, "blkio_device"), "total");
	CHECK(find(&r, "blkio.throttling.io_serviced.read") != NULL);
	mb_arena_free(&r.arena);
}
