/* dcos.c: agentd's replies as the JSON the API serves: DC/OS metrics v0 shapes (datapoints,
 * dimensions, containers, ping) and metricsbus' own (range, series, backup). */
#include "api.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int put_tags(struct mb_buf *b, const struct mb_kv *tags, int n)
{
	int rv = API_PUTL(b, "{");
	for (int i = 0; i < n; i++) {
		if (i)
			rv |= API_PUTL(b, ",");
		rv |= api_json_str(b, tags[i].key);
		rv |= API_PUTL(b, ":");
		rv |= api_json_str(b, tags[i].val);
	}
	rv |= API_PUTL(b, "}");
	return rv;
}

static int put_time(struct mb_buf *b, int64_t ms)
{
	char ts[40];
	mb_format_rfc3339(ms, ts, sizeof ts);
	return api_json_str(b, ts);
}

/* dimensions always carry mesos_id and hostname (DC/OS scripts index them blindly); the
 * wire's flat "labels.KEY" dimensions are served as one "labels" object, as DC/OS did. */
static int put_dims(struct mb_buf *b, const struct mb_kv *dims, int n)
{
	bool has_mesos = false, has_host = false;
	int rv = api_put(b, "{"), k = 0, nlabels = 0;
	for (int i = 0; i < n; i++) {
		has_mesos |= strcmp(dims[i].key, "mesos_id") == 0;
		has_host |= strcmp(dims[i].key, "hostname") == 0;
		nlabels += strncmp(dims[i].key, "labels.", 7) == 0 && dims[i].key[7];
	}
	if (!has_mesos) {
		rv |= api_put(b, "\"mesos_id\":\"\"");
		k++;
	}
	if (!has_host) {
		rv |= api_put(b, k++ ? ",\"hostname\":\"\"" : "\"hostname\":\"\"");
	}
	for (int i = 0; i < n; i++) {
		if (strncmp(dims[i].key, "labels.", 7) == 0 && dims[i].key[7])
			continue;
		if (nlabels && strcmp(dims[i].key, "labels") == 0)
			continue; /* the object takes the name */
		if (k++)
			rv |= api_put(b, ",");
		rv |= api_json_str(b, dims[i].key);
		rv |= api_put(b, ":");
		rv |= api_json_str(b, dims[i].val);
	}
	if (nlabels) {
		rv |= api_put(b, k++ ? ",\"labels\":{" : "\"labels\":{");
		int j = 0;
		for (int i = 0; i < n; i++) {
			if (strncmp(dims[i].key, "labels.", 7) != 0 || !dims[i].key[7])
				continue;
			if (j++)
				rv |= api_put(b, ",");
			rv |= api_json_str(b, dims[i].key + 7);
			rv |= api_put(b, ":");
			rv |= api_json_str(b, dims[i].val);
		}
		rv |= api_put(b, "}");
	}
	rv |= api_put(b, "}");
	return rv;
}

static int put_points(struct mb_buf *b, const struct mb_reply *r)
{
	int rv = API_PUTL(b, "{\"datapoints\":["), k = 0;
	/* most points of an answer share their interval's end: format each time once */
	int64_t last_ms = INT64_MIN;
	char ts[64];
	size_t tslen = 0;
	for (uint32_t i = 0; i < r->npoints; i++) {
		const struct mb_point *p = &r->points[i];
		if (!isfinite(p->value))
			continue; /* never NaN/Inf in JSON; the codec refuses them anyway */
		rv |= k++ ? API_PUTL(b, ",{\"name\":") : API_PUTL(b, "{\"name\":");
		rv |= api_json_str(b, p->name);
		rv |= API_PUTL(b, ",\"value\":");
		rv |= api_json_num(b, p->value);
		rv |= API_PUTL(b, ",\"unit\":");
		rv |= api_json_str(b, p->unit ? p->unit : "");
		if (p->time_ms != last_ms) {
			char t[40];
			mb_format_rfc3339(p->time_ms, t, sizeof t);
			int n = snprintf(ts, sizeof ts, ",\"timestamp\":\"%s\"", t);
			tslen = n < 0 ? 0 : (size_t)n < sizeof ts ? (size_t)n : sizeof ts - 1;
			last_ms = p->time_ms;
		}
		rv |= api_putn(b, ts, tslen);
		if (p->ntags) {
			rv |= API_PUTL(b, ",\"tags\":");
			rv |= put_tags(b, p->tags, p->ntags);
		}
		rv |= API_PUTL(b, "}");
	}
	rv |= API_PUTL(b, "],\"dimensions\":");
	rv |= put_dims(b, r->dims, r->ndims);
	rv |= API_PUTL(b, "}");
	return rv;
}

static int put_range(struct mb_buf *b, const struct mb_reply *r)
{
	char step[32];
	int rv = api_put(b, "{\"name\":");
	rv |= api_json_str(b, r->name);
	rv |= api_put(b, ",\"source\":");
	rv |= api_json_str(b, r->source);
	mb_format_duration(r->step_ms, step, sizeof step);
	rv |= api_put(b, ",\"step\":");
	rv |= api_json_str(b, step);
	rv |= api_put(b, ",\"stat\":");
	rv |= api_json_str(b, mb_stat_name(r->stat));
	rv |= api_put(b, ",\"points\":[");
	for (uint32_t i = 0; i < r->nrange; i++) {
		rv |= api_put(b, i ? ",[" : "[");
		rv |= api_json_num(b, (double)r->range_t[i] / 1000.0);
		rv |= api_put(b, ",");
		rv |= api_json_num(b, r->range_v[i]); /* NaN -> null: no data */
		rv |= api_put(b, "]");
	}
	rv |= api_put(b, "]}");
	return rv;
}

static int put_series(struct mb_buf *b, const struct mb_reply *r)
{
	int rv = api_put(b, "{\"source\":");
	rv |= api_json_str(b, r->source ? r->source : "");
	rv |= api_put(b, ",\"series\":[");
	for (uint32_t i = 0; i < r->nseries; i++) {
		const struct mb_series_info *s = &r->series[i];
		rv |= api_put(b, i ? ",{\"name\":" : "{\"name\":");
		rv |= api_json_str(b, s->name);
		rv |= api_put(b, ",\"type\":");
		rv |= api_json_str(b, mb_kind_name(s->kind));
		rv |= api_put(b, ",\"tags\":");
		rv |= put_tags(b, s->tags, s->ntags);
		rv |= api_put(b, ",\"last\":");
		rv |= put_time(b, s->last_ms);
		rv |= api_put(b, "}");
	}
	rv |= api_put(b, "]}");
	return rv;
}

int api_render_json(struct mb_buf *b, const struct mb_reply *r)
{
	int rv = 0;
	switch (r->op) {
	case MB_OP_PING:
		rv |= api_put(b, "{\"ok\":true,\"timestamp\":");
		rv |= put_time(b, r->time_ms);
		rv |= api_put(b, "}");
		break;
	case MB_OP_NODE:
	case MB_OP_CONTAINER:
	case MB_OP_APP:
		rv |= put_points(b, r);
		break;
	case MB_OP_CONTAINERS:
		rv |= api_put(b, "[");
		for (uint32_t i = 0; i < r->nids; i++) {
			if (i)
				rv |= api_put(b, ",");
			rv |= api_json_str(b, r->ids[i]);
		}
		rv |= api_put(b, "]");
		break;
	case MB_OP_RANGE:
		rv |= put_range(b, r);
		break;
	case MB_OP_SERIES:
		rv |= put_series(b, r);
		break;
	case MB_OP_BACKUP:
		rv |= api_put(b, "{\"path\":");
		rv |= api_json_str(b, r->path ? r->path : "");
		rv |= api_put(b, ",\"bytes\":");
		rv |= api_json_num(b, (double)r->bytes);
		rv |= api_put(b, "}");
		break;
	default:
		return MB_EINVAL;
	}
	return rv ? MB_ENOMEM : 0;
}
