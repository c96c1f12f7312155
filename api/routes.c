/* routes.c: maps a raw request path to an endpoint: the three DC/OS prefixes, /metrics,
 * /v1/range, /v1/ranges, /v1/series and /healthz, with strict percent-decoding of ids and names. */
#include "api.h"

#include <stdio.h>
#include <string.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int api_pct_decode(const char *s, size_t n, bool plus, char *out, size_t outn, size_t *outlen)
{
	size_t o = 0;
	if (outn == 0)
		return MB_ETOOBIG;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			/* both digits must be inside s: "%4" at the end is malformed, not a read past */
			if (n - i < 3)
				return MB_EINVAL;
			int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
			if (h < 0 || l < 0)
				return MB_EINVAL;
			c = h * 16 + l;
			if (c == 0)
				return MB_EINVAL;
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		} else if (c == 0) {
			return MB_EINVAL;
		}
		if (o + 1 >= outn)
			return MB_ETOOBIG;
		out[o++] = (char)c;
	}
	out[o] = 0;
	if (outlen)
		*outlen = o;
	return 0;
}

bool api_valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > MB_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* If p starts with prefix, returns what follows it, else NULL. */
static const char *skip(const char *p, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(p, prefix, n) == 0 ? p + n : NULL;
}

/* Decodes one field; a value too long or not a name can never have been seen (404), a bad
 * escape is a bad request (400). */
static int field(const char *s, size_t n, char *out, bool *bad, char *err, size_t errlen)
{
	int rv = api_pct_decode(s, n, false, out, MB_MAX_NAME + 1, NULL);
	if (rv == MB_EINVAL) {
		snprintf(err, errlen, "malformed percent-escape in path");
		return MB_EINVAL;
	}
	if (rv != 0 || !api_valid_name(out)) {
		*bad = true;
		out[0] = 0;
	}
	return 0;
}

/* The DC/OS v0 tail after ".../v0/". */
static int dcos_tail(const char *t, struct api_route *r, char *err, size_t errlen)
{
	const char *rest, *slash;
	if (strcmp(t, "ping") == 0) {
		r->kind = API_R_PING;
	} else if (strcmp(t, "node") == 0) {
		r->kind = API_R_NODE;
	} else if (strcmp(t, "containers") == 0 || strcmp(t, "containers/") == 0) {
		r->kind = API_R_CONTAINERS;
	} else if ((rest = skip(t, "containers/")) != NULL) {
		slash = strchr(rest, '/');
		size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
		if (idlen == 0)
			return 0;
		if (field(rest, idlen, r->id, &r->bad_id, err, errlen) != 0)
			return MB_EINVAL;
		if (!slash || slash[1] == 0) {
			r->kind = API_R_CONTAINER;
			return 0;
		}
		const char *app = skip(slash, "/app");
		if (!app || (app[0] != 0 && app[0] != '/'))
			return 0;
		if (app[0] == 0 || app[1] == 0) {
			r->kind = API_R_APP;
			return 0;
		}
		/* the metric name is the whole rest: statsd names may hold '/' */
		if (field(app + 1, strlen(app + 1), r->name, &r->bad_id, err, errlen) != 0)
			return MB_EINVAL;
		r->kind = API_R_APP;
		if (!r->name[0])
			r->bad_id = true;
	}
	return 0;
}

int api_route_parse(const char *path, struct api_route *r, char *err, size_t errlen)
{
	const char *t;
	memset(r, 0, sizeof *r);
	snprintf(err, errlen, "no such endpoint");
	if (strcmp(path, "/metrics") == 0) {
		r->kind = API_R_METRICS;
	} else if (strcmp(path, "/healthz") == 0) {
		r->kind = API_R_HEALTHZ;
	} else if (strcmp(path, "/v1/range") == 0) {
		r->kind = API_R_RANGE;
	} else if (strcmp(path, "/v1/ranges") == 0) {
		r->kind = API_R_RANGES;
	} else if (strcmp(path, "/v1/series") == 0) {
		r->kind = API_R_SERIES;
	} else if ((t = skip(path, "/system/v1/metrics/v0/")) != NULL ||
	           (t = skip(path, "/v0/")) != NULL) {
		r->dcos = true;
		return dcos_tail(t, r, err, errlen);
	} else if ((t = skip(path, "/system/v1/agent/")) != NULL) {
		const char *slash = strchr(t, '/');
		if (!slash || slash == t)
			return 0;
		bool bad = false;
		if (field(t, (size_t)(slash - t), r->node, &bad, err, errlen) != 0)
			return MB_EINVAL;
		if (bad)
			return 0;
		const char *tail = skip(slash, "/metrics/v0/");
		if (!tail)
			return 0;
		r->scoped = true;
		r->dcos = true;
		return dcos_tail(tail, r, err, errlen);
	}
	return 0;
}
