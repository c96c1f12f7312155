/* examples.h: the structs behind schemas/v1/examples (one per file), and the readable JSON
 * form of a msgpack message. Included by tests/tools/mkexamples.c, which writes the files,
 * and bus/examples_test.c, which checks the files against these structs. */
#ifndef MB_EXAMPLES_H
#define MB_EXAMPLES_H

#include "codec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { EX_BATCH, EX_ACK, EX_QUERY, EX_REPLY };

struct mb_example {
	const char *name; /* file name without extension */
	int type;         /* EX_* */
	const void *msg;  /* struct mb_batch, mb_ack, mb_query or mb_reply */
};

/* ---- batches */
static struct mb_kv ex_dims[] = {
	{"executor_id", "web.4f1c"},
	{"framework_name", "marathon"},
	{"task_id", "web.4f1c-9a"},
	{"task_name", "web"},
};
static struct mb_kv ex_tags_route[] = {{"method", "GET"}, {"route", "/api/v1"}};
static struct mb_kv ex_tags_region[] = {{"region", "eu-west"}};
static struct mb_kv ex_tags_utf8[] = {{"caf\xc3\xa9", "cr\xc3\xa8me"}, {"empty", ""}};

static struct mb_record ex_recs_basic[] = {
	{.kind = MB_COUNTER, .name = "http.requests", .ntags = 2, .tags = ex_tags_route,
	 .value = 1250},
	{.kind = MB_GAUGE, .name = "queue.depth", .ntags = 1, .tags = ex_tags_region,
	 .value = -3.25},
	{.kind = MB_GAUGE, .name = "temp", .ntags = 2, .tags = ex_tags_utf8, .value = 21.5},
	{.kind = MB_RESOURCE, .name = "mem.rss", .value = 73400320},
	{.kind = MB_RESOURCE, .name = "cpus.user.time", .value = 12.75},
};
static struct mb_batch ex_batch_basic = {
	.version = 1, .instance = 0x5eed5eed12345678ull, .seq = 42, .time_ms = 1700000010000,
	.interval_ms = 10000, .container_id = "8d6c7f3e-1b2a-4c5d-9e8f-0a1b2c3d4e5f",
	.ndims = 4, .dims = ex_dims, .nrecords = 5, .records = ex_recs_basic,
};

/* a timer that saw 0, 1, 2 and 2 ms: 0 in zero, 1 in bin 0, 2 in bin 35 */
static uint64_t ex_pos[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
static uint64_t ex_neg[] = {3};
static struct mb_hll ex_hll_sparse = {.reg = {[3] = 2, [17] = 1, [500] = 7, [1023] = 3}};
static struct mb_hll ex_hll_dense = {.reg = {[0 ... 4] = 1, [5] = 9, [6 ... 999] = 2,
                                                   [1000] = 55, [1001 ... 1023] = 1}};
static struct mb_record ex_recs_timer[] = {
	{.kind = MB_TIMER, .name = "db.query.latency", .ntags = 1, .tags = ex_tags_region,
	 .count = 4, .sum = 5, .sumsq = 9, .min = 0, .max = 2,
	 .sketch = {.zero = 1, .pos_lo = 0, .pos_n = 36, .pos = ex_pos}},
	{.kind = MB_HISTOGRAM, .name = "payload.size", .count = 3, .sum = -3, .sumsq = 3,
	 .min = -1, .max = -1, .sketch = {.neg_lo = 0, .neg_n = 1, .neg = ex_neg}},
	{.kind = MB_DISTRIBUTION, .name = "empty.dist", .count = 0, .min = 0, .max = 0},
	{.kind = MB_SET, .name = "users.unique", .set_count = 4, .hll = &ex_hll_sparse},
	{.kind = MB_SET, .name = "sessions.unique", .ntags = 1, .tags = ex_tags_region,
	 .set_count = 20000, .hll = &ex_hll_dense},
};
static struct mb_batch ex_batch_timer_set = {
	.version = 1, .instance = 7, .seq = 43, .time_ms = 1700000020000, .interval_ms = 10000,
	.container_id = "8d6c7f3e-1b2a-4c5d-9e8f-0a1b2c3d4e5f", .nrecords = 5,
	.records = ex_recs_timer,
};
static struct mb_batch ex_batch_stop = {
	.version = 1, .instance = 7, .seq = 44, .time_ms = 1700000021500, .interval_ms = 1500,
	.container_id = "8d6c7f3e-1b2a-4c5d-9e8f-0a1b2c3d4e5f", .ndims = 4, .dims = ex_dims,
	.stopped = true,
};

/* ---- acks */
static struct mb_ack ex_ack_ok = {.seq = 42, .status = MB_ACK_OK};
static struct mb_ack ex_ack_dup = {.seq = 42, .status = MB_ACK_DUP};
static struct mb_ack ex_ack_rejected = {.seq = 43, .status = MB_ACK_REJECTED,
                                        .err = "recs[3].name: empty"};
static struct mb_ack ex_ack_retry = {.seq = 44, .status = MB_ACK_RETRY,
                                     .err = "store full"};

/* ---- queries */
static struct mb_kv ex_tags_filter[] = {{"method", "GET"}};
static struct mb_query ex_q_ping = {.version = 1, .op = MB_OP_PING};
static struct mb_query ex_q_node = {.version = 1, .op = MB_OP_NODE};
static struct mb_query ex_q_containers = {.version = 1, .op = MB_OP_CONTAINERS};
static struct mb_query ex_q_container = {.version = 1, .op = MB_OP_CONTAINER,
                                         .source = "8d6c7f3e-1b2a-4c5d-9e8f-0a1b2c3d4e5f"};
static struct mb_query ex_q_app = {.version = 1, .op = MB_OP_APP,
                                   .source = "8d6c7f3e-1b2a-4c5d-9e8f-0a1b2c3d4e5f"};
static struct mb_query ex_q_app_name = {.version = 1, .op = MB_OP_APP,
                                        .source = "8d6c7f3e-1b2a-4c5d-9e8f-0a1b2c3d4e5f",
                                        .name = "db.query.latency"};
static struct mb_query ex_q_range = {
	.version = 1, .op = MB_OP_RANGE, .source = "8d6c7f3e-1b2a-4c5d-9e8f-0a1b2c3d4e5f",
	.name = "http.requests", .from_ms = 1699999100000, .to_ms = 1700000000000,
	.step_ms = 60000, .stat = MB_STAT_P99, .ntags = 1, .tags = ex_tags_filter,
};
static struct mb_query ex_q_series = {.version = 1, .op = MB_OP_SERIES, .source = "node"};
static struct mb_query ex_q_export = {.version = 1, .op = MB_OP_EXPORT, .hist = true};
static struct mb_query ex_q_backup = {.version = 1, .op = MB_OP_BACKUP,
                                      .dir = "/var/backups/metricsbus"};

/* ---- replies */
static struct mb_kv ex_node_dims[] = {{"cluster_id", "c0ffee"}, {"hostname", "agent-1"},
                                      {"mesos_id", "a1b2-S3"}};
static struct mb_kv ex_tag_path[] = {{"path", "/"}};
static struct mb_point ex_node_pts[] = {
	{.name = "cpu.total", .value = 12.5, .unit = "percent", .time_ms = 1700000000000},
	{.name = "load.1min", .value = 0.42, .unit = "count", .time_ms = 1700000000000},
	{.name = "filesystem.capacity.used", .value = 21474836480.0, .unit = "bytes",
	 .time_ms = 1700000000000, .ntags = 1, .tags = ex_tag_path},
};
static struct mb_point ex_cont_pts[] = {
	{.name = "mem.rss", .value = 73400320, .unit = "bytes", .time_ms = 1700000010000},
	{.name = "cpus.user.time", .value = 12.75, .unit = "seconds", .time_ms = 1700000010000},
};
static struct mb_point ex_app_pts[] = {
	{.name = "http.requests", .value = 1250, .unit = "", .time_ms = 1700000010000, .ntags = 2,
	 .tags = ex_tags_route},
	{.name = "http.requests.rate", .value = 125, .unit = "", .time_ms = 1700000010000,
	 .ntags = 2, .tags = ex_tags_route},
	{.name = "db.query.latency.p99", .value = 40.2, .unit = "", .time_ms = 1700000010000,
	 .ntags = 1, .tags = ex_tags_region},
};
static const char *ex_ids[] = {"8d6c7f3e-1b2a-4c5d-9e8f-0a1b2c3d4e5f", "web.4f1c-9a"};
static int64_t ex_range_t[] = {1699999800000, 1699999860000, 1699999920000, 1699999980000};
static double ex_range_v[] = {12, NAN, 14.5, NAN};
static struct mb_series_info ex_series[] = {
	{.name = "cpu.total", .kind = MB_RESOURCE, .last_ms = 1700000000000},
	{.name = "http.requests", .kind = MB_COUNTER, .ntags = 2, .tags = ex_tags_route,
	 .last_ms = 1700000010000},
	{.name = "db.query.latency", .kind = MB_TIMER, .ntags = 1, .tags = ex_tags_region,
	 .last_ms = 1700000020000},
};
static struct mb_source_dims ex_srcs[] = {
	{.source = "node", .ndims = 3, .dims = ex_node_dims},
	{.source = "8d6c7f3e-1b2a-4c5d-9e8f-0a1b2c3d4e5f", .ndims = 4, .dims = ex_dims},
};
static uint64_t ex_run_pos[] = {4, 0, 7};
static struct mb_sketch ex_running = {.zero = 2, .pos_lo = 69, .pos_n = 3, .pos = ex_run_pos};
static struct mb_export_item ex_items[] = {
	{.src = 0, .name = "memory.total", .kind = MB_RESOURCE, .unit = "bytes",
	 .time_ms = 1700000000000, .value = 8342159360.0},
	{.src = 1, .name = "http.requests", .kind = MB_COUNTER, .unit = "", .ntags = 2,
	 .tags = ex_tags_route, .time_ms = 1700000010000, .value = 1250, .total = 981250},
	{.src = 1, .name = "db.query.latency", .kind = MB_TIMER, .unit = "", .ntags = 1,
	 .tags = ex_tags_region, .time_ms = 1700000020000, .value = 14.1666, .count = 13,
	 .sum = 300.5, .has_q = true, .q = {2, 39.6, 40.2, 40.2, 40.2}, .running = &ex_running},
};
static struct mb_reply ex_r_ping = {.version = 1, .status = 200, .op = MB_OP_PING,
                                    .time_ms = 1700000000123, .node = "a1b2-S3"};
static const char *ex_node_ids[] = {"node-7", "a1b2-S3"};
static struct mb_reply ex_r_ping_ids = {.version = 1, .status = 200, .op = MB_OP_PING,
                                        .time_ms = 1700000000123, .node = "node-7", .nids = 2,
                                        .ids = ex_node_ids};
static struct mb_reply ex_r_node = {.version = 1, .status = 200, .op = MB_OP_NODE, .ndims = 3,
                                    .dims = ex_node_dims, .npoints = 3, .points = ex_node_pts};
static struct mb_reply ex_r_containers = {.version = 1, .status = 200, .op = MB_OP_CONTAINERS,
                                          .nids = 2, .ids = ex_ids};
static struct mb_reply ex_r_containers_none = {.version = 1, .status = 200,
                                               .op = MB_OP_CONTAINERS};
static struct mb_reply ex_r_container = {.version = 1, .status = 200, .op = MB_OP_CONTAINER,
                                         .ndims = 4, .dims = ex_dims, .npoints = 2,
                                         .points = ex_cont_pts};
static struct mb_reply ex_r_app = {.version = 1, .status = 200, .op = MB_OP_APP, .ndims = 4,
                                   .dims = ex_dims, .npoints = 3, .points = ex_app_pts};
static struct mb_reply ex_r_app_204 = {.version = 1, .status = 204, .op = MB_OP_APP};
static struct mb_reply ex_r_app_404 = {.version = 1, .status = 404, .op = MB_OP_APP,
                                       .error = "unknown container: web.0000"};
static struct mb_reply ex_r_range = {
	.version = 1, .status = 200, .op = MB_OP_RANGE, .name = "http.requests",
	.source = "8d6c7f3e-1b2a-4c5d-9e8f-0a1b2c3d4e5f", .step_ms = 60000, .stat = MB_STAT_P99,
	.nrange = 4, .range_t = ex_range_t, .range_v = ex_range_v,
};
static struct mb_reply ex_r_range_400 = {.version = 1, .status = 400, .op = MB_OP_RANGE,
                                         .error = "step: more than 11000 points"};
static struct mb_reply ex_r_series = {.version = 1, .status = 200, .op = MB_OP_SERIES,
                                      .nseries = 3, .series = ex_series};
static struct mb_reply ex_r_export = {.version = 1, .status = 200, .op = MB_OP_EXPORT,
                                      .nsrcs = 2, .srcs = ex_srcs, .nitems = 3,
                                      .items = ex_items};
static struct mb_reply ex_r_backup = {.version = 1, .status = 200, .op = MB_OP_BACKUP,
                                      .path = "/var/backups/metricsbus/data.mdb",
                                      .bytes = 10485760};
static struct mb_reply ex_r_backup_503 = {.version = 1, .status = 503, .op = MB_OP_BACKUP,
                                          .error = "store unavailable"};

static const struct mb_example mb_examples[] = {
	{"batch-basic", EX_BATCH, &ex_batch_basic},
	{"batch-timer-set", EX_BATCH, &ex_batch_timer_set},
	{"batch-stop", EX_BATCH, &ex_batch_stop},
	{"ack-ok", EX_ACK, &ex_ack_ok},
	{"ack-dup", EX_ACK, &ex_ack_dup},
	{"ack-rejected", EX_ACK, &ex_ack_rejected},
	{"ack-retry", EX_ACK, &ex_ack_retry},
	{"query-ping", EX_QUERY, &ex_q_ping},
	{"query-node", EX_QUERY, &ex_q_node},
	{"query-containers", EX_QUERY, &ex_q_containers},
	{"query-container", EX_QUERY, &ex_q_container},
	{"query-app", EX_QUERY, &ex_q_app},
	{"query-app-name", EX_QUERY, &ex_q_app_name},
	{"query-range", EX_QUERY, &ex_q_range},
	{"query-series", EX_QUERY, &ex_q_series},
	{"query-export", EX_QUERY, &ex_q_export},
	{"query-backup", EX_QUERY, &ex_q_backup},
	{"reply-ping", EX_REPLY, &ex_r_ping},
	{"reply-ping-ids", EX_REPLY, &ex_r_ping_ids},
	{"reply-node", EX_REPLY, &ex_r_node},
	{"reply-containers", EX_REPLY, &ex_r_containers},
	{"reply-containers-none", EX_REPLY, &ex_r_containers_none},
	{"reply-container", EX_REPLY, &ex_r_container},
	{"reply-app", EX_REPLY, &ex_r_app},
	{"reply-app-204", EX_REPLY, &ex_r_app_204},
	{"reply-app-404", EX_REPLY, &ex_r_app_404},
	{"reply-range", EX_REPLY, &ex_r_range},
	{"reply-range-400", EX_REPLY, &ex_r_range_400},
	{"reply-series", EX_REPLY, &ex_r_series},
	{"reply-export", EX_REPLY, &ex_r_export},
	{"reply-backup", EX_REPLY, &ex_r_backup},
	{"reply-backup-503", EX_REPLY, &ex_r_backup_503},
};
#define MB_NEXAMPLES ((int)(sizeof mb_examples / sizeof mb_examples[0]))

/* Encodes an example's struct with the bus codec. */
static int ex_encode(const struct mb_example *e, struct mb_buf *out)
{
	switch (e->type) {
	case EX_BATCH: return mb_batch_encode(e->msg, out);
	case EX_ACK: return mb_ack_encode(e->msg, out);
	case EX_QUERY: return mb_query_encode(e->msg, out);
	default: return mb_reply_encode(e->msg, out);
	}
}

/* ---- the readable form */
static int js_put(struct mb_buf *b, const char *s)
{
	return mb_buf_append(b, s, strlen(s));
}

static int js_str(struct mb_buf *b, const char *s, size_t n)
{
	int rv = js_put(b, "\"");
	for (size_t i = 0; i < n && !rv; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c, esc[2] = 0;
			rv = js_put(b, esc);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			rv = js_put(b, esc);
		} else {
			rv = mb_buf_append(b, &s[i], 1);
		}
	}
	return rv ? rv : js_put(b, "\"");
}

static int js_num(struct mb_buf *b, double v)
{
	char s[40];
	if (isnan(v))
		return js_put(b, "\"NaN\"");
	if (isinf(v))
		return js_put(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(s, sizeof s, "%.*g", prec, v);
		if (strtod(s, NULL) == v)
			break;
	}
	if (!strpbrk(s, ".e"))
		strcat(s, ".0");
	return js_put(b, s);
}

/* inline when it fits in a line, else one element per line */
static int js_obj(struct mb_buf *b, const msgpack_object *o, int indent);

static int js_inline(const msgpack_object *o, struct mb_buf *tmp)
{
	mb_buf_reset(tmp);
	return js_obj(tmp, o, -1);
}

static int js_nl(struct mb_buf *b, int indent)
{
	int rv = js_put(b, "\n");
	for (int i = 0; i < indent && !rv; i++)
		rv = js_put(b, "  ");
	return rv;
}

static int js_obj(struct mb_buf *b, const msgpack_object *o, int indent)
{
	char s[40];
	int rv = 0;
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return js_put(b, "null");
	case MSGPACK_OBJECT_BOOLEAN: return js_put(b, o->via.boolean ? "true" : "false");
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(s, sizeof s, "%llu", (unsigned long long)o->via.u64);
		return js_put(b, s);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		snprintf(s, sizeof s, "%lld", (long long)o->via.i64);
		return js_put(b, s);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return js_num(b, o->via.f64);
	case MSGPACK_OBJECT_STR: return js_str(b, o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		rv = js_put(b, "{\"bin\": \"");
		for (uint32_t i = 0; i < o->via.bin.size && !rv; i++) {
			snprintf(s, sizeof s, "%02x", (unsigned char)o->via.bin.ptr[i]);
			rv = js_put(b, s);
		}
		return rv ? rv : js_put(b, "\"}");
	case MSGPACK_OBJECT_ARRAY:
	case MSGPACK_OBJECT_MAP: {
		bool map = o->type == MSGPACK_OBJECT_MAP;
		uint32_t n = map ? o->via.map.size : o->via.array.size;
		bool flat = indent < 0;
		if (!flat) {
			struct mb_buf tmp = {0};
			rv = js_inline(o, &tmp);
			flat = !rv && tmp.len + (size_t)indent * 2 <= 96;
			if (flat)
				rv = mb_buf_append(b, tmp.data, tmp.len);
			mb_buf_free(&tmp);
			if (rv || flat)
				return rv;
		}
		rv = js_put(b, map ? "{" : "[");
		for (uint32_t i = 0; i < n && !rv; i++) {
			if (i)
				rv = js_put(b, indent < 0 ? ", " : ",");
			if (!rv && indent >= 0)
				rv = js_nl(b, indent + 1);
			if (rv)
				break;
			if (map) {
				rv = js_obj(b, &o->via.map.ptr[i].key, indent < 0 ? -1 : indent + 1);
				if (!rv)
					rv = js_put(b, ": ");
				if (!rv)
					rv = js_obj(b, &o->via.map.ptr[i].val, indent < 0 ? -1 : indent + 1);
			} else {
				rv = js_obj(b, &o->via.array.ptr[i], indent < 0 ? -1 : indent + 1);
			}
		}
		if (!rv && indent >= 0 && n)
			rv = js_nl(b, indent);
		return rv ? rv : js_put(b, map ? "}" : "]");
	}
	default: return js_put(b, "\"?\"");
	}
}

/* The readable form of a whole message, ending in a newline. */
static int ex_json(const void *p, size_t n, struct mb_buf *out)
{
	msgpack_unpacked u;
	char err[128];
	int rv = mb_unpack(p, n, MB_MAX_EXPORT_MSG, &u, err, sizeof err);
	if (rv)
		return rv;
	rv = js_obj(out, &u.data, 0);
	if (!rv)
		rv = js_put(out, "\n");
	msgpack_unpacked_destroy(&u);
	return rv;
}

#endif
