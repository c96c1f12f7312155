/* fuzz_http.c: the bridge's untrusted input: request paths through the router, query strings
 * through strict percent-decoding into range parameters, Accept-Encoding, Authorization, and
 * arbitrary bytes through the JSON and Prometheus escapers. */
#include "../../api/api.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[400];
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;

	/* "PATH?QUERY": what MHD hands over, raw */
	char *path = strdup(s);
	char *qs = strchr(path, '?');
	if (qs)
		*qs++ = 0;
	struct api_route r;
	if (api_route_parse(path, &r, err, sizeof err) == 0 && r.kind == API_R_APP && !r.bad_id)
		if (!api_valid_name(r.id))
			abort(); /* a route that is not bad must carry a schema name */
	struct api_args a;
	memset(&a, 0, sizeof a);
	if (api_args_parse(&a, qs, err, sizeof err) == 0) {
		struct api_range_params p = {
			api_args_get(&a, "source"), api_args_get(&a, "name"),
			api_args_get(&a, "from"),   api_args_get(&a, "to"),
			api_args_get(&a, "step"),   api_args_get(&a, "stat"),
			api_args_get(&a, "tags"),
		};
		struct mb_query q;
		if (api_range_build(&p, 1700000000000, &q, err, sizeof err) == 0) {
			if (q.to_ms < q.from_ms || q.step_ms < 0 || q.stat < 0 || q.stat >= MB_NSTATS)
				abort();
			/* what the bridge accepts must encode, or the client gets a 502 for its own
			 * bad input (tags=k:%C3%28 did: tests/fuzz/regress/http/) */
			struct mb_buf qb = {0};
			if (mb_query_encode(&q, &qb) != 0)
				abort();
			mb_buf_free(&qb);
			mb_query_free(&q);
		}
	}
	api_args_free(&a);
	free(path);

	/* numbers: whatever 8 bytes hold, the shortest form must read back exactly */
	if (size >= 8) {
		double v;
		char num[40];
		memcpy(&v, data, sizeof v);
		if (isfinite(v)) {
			api_fmt_double(v, num, sizeof num);
			if (strtod(num, NULL) != v)
				abort();
		}
	}
	struct mb_buf b = {0};
	api_json_strn(&b, (const char *)data, size);
	api_json_error(&b, s);
	api_prom_label_value(&b, s);
	char san[300];
	api_prom_sanitize(s, san, sizeof san);
	mb_buf_free(&b);
	(void)api_accepts_gzip(s);
	(void)api_auth_ok(s, "token");
	struct mb_arena ar = {0};
	struct mb_kv *tags;
	uint16_t nt;
	(void)api_tags_parse(s, &ar, &tags, &nt, err, sizeof err);
	mb_arena_free(&ar);
	free(s);
	return 0;
}
