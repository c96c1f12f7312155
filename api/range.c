/* range.c: query-string parameters (strict percent-decoding) and their meaning for range
 * queries: from/to/step/stat/tags into an mb_query, with a reason naming a bad parameter. */
#include "api.h"
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_args_add(struct api_args *a, const char *rawkey, const char *rawval, char *err,
                 size_t errlen)
{
	char kbuf[128];
	size_t kl, vl;
	int rv;
	if (a->n >= API_MAX_ARGS) {
		snprintf(err, errlen, "too many query parameters (at most %d)", API_MAX_ARGS);
		return MB_ETOOBIG;
	}
	rv = api_pct_decode(rawkey, strlen(rawkey), false, kbuf, sizeof kbuf, &kl);
	if (rv != 0) {
		snprintf(err, errlen, "malformed query parameter name");
		return rv;
	}
	if (!rawval)
		rawval = "";
	size_t rl = strlen(rawval);
	if (rl >= API_MAX_ARG) {
		snprintf(err, errlen, "parameter %s is too long", kbuf);
		return MB_ETOOBIG;
	}
	char *v = mb_arena_alloc(&a->arena, rl + 1);
	char *k = mb_arena_strndup(&a->arena, kbuf, kl);
	if (!v || !k) {
		snprintf(err, errlen, "out of memory");
		return MB_ENOMEM;
	}
	rv = api_pct_decode(rawval, rl, false, v, rl + 1, &vl);
	if (rv != 0) {
		snprintf(err, errlen, "parameter %s: malformed percent-escape", kbuf);
		return MB_EINVAL;
	}
	a->key[a->n] = k;
	a->val[a->n] = v;
	a->n++;
	return 0;
}

int api_args_parse(struct api_args *a, const char *qs, char *err, size_t errlen)
{
	char key[256], val[API_MAX_ARG];
	while (qs && *qs) {
		const char *amp = strchr(qs, '&');
		size_t n = amp ? (size_t)(amp - qs) : strlen(qs);
		if (n > 0) {
			const char *eq = memchr(qs, '=', n);
			size_t kn = eq ? (size_t)(eq - qs) : n;
			size_t vn = eq ? n - kn - 1 : 0;
			if (kn >= sizeof key || vn >= sizeof val) {
				snprintf(err, errlen, "query parameter too long");
				return MB_ETOOBIG;
			}
			/* '+' is a space in a query string: turn it into %20 before strict decoding */
			size_t o = 0;
			for (size_t i = 0; i < kn; i++)
				key[o++] = qs[i] == '+' ? ' ' : qs[i];
			key[o] = 0;
			o = 0;
			for (size_t i = 0; i < vn; i++)
				val[o++] = eq[1 + i] == '+' ? ' ' : eq[1 + i];
			val[o] = 0;
			int rv = api_args_add(a, key, val, err, errlen);
			if (rv != 0)
				return rv;
		}
		qs = amp ? amp + 1 : NULL;
	}
	return 0;
}

const char *api_args_get(const struct api_args *a, const char *key)
{
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->key[i], key) == 0)
			return a->val[i];
	return NULL;
}

void api_args_free(struct api_args *a)
{
	mb_arena_free(&a->arena);
	a->n = 0;
}

/* The codec's own rule (UTF-8, no control characters), so that nothing accepted here makes
 * the query encoder fail (that was a 502 for tags=k:%C3%28). */
static int text_ok(const char *s, size_t n, size_t max)
{
	return mb_bad_text(s, n, 0, max) == NULL;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mb_kv *)a)->key, ((const struct mb_kv *)b)->key);
}

int api_tags_parse(const char *s, struct mb_arena *arena, struct mb_kv **tags, uint16_t *ntags,
                   char *err, size_t errlen)
{
	struct mb_kv *t = mb_arena_alloc(arena, sizeof *t * MB_MAX_TAGS);
	int n = 0;
	*tags = NULL;
	*ntags = 0;
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return MB_ENOMEM;
	}
	while (*s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		const char *colon = memchr(s, ':', len);
		size_t kl = colon ? (size_t)(colon - s) : len;
		size_t vl = colon ? len - kl - 1 : 0;
		if (kl == 0 || !text_ok(s, kl, MB_MAX_TAG_KEY) ||
		    (colon && !text_ok(colon + 1, vl, MB_MAX_TAG_VAL))) {
			snprintf(err, errlen, "expected k:v,k2:v2 (keys 1..128 bytes)");
			return MB_EINVAL;
		}
		if (n >= MB_MAX_TAGS) {
			snprintf(err, errlen, "at most %d", MB_MAX_TAGS);
			return MB_EINVAL;
		}
		t[n].key = mb_arena_strndup(arena, s, kl);
		t[n].val = mb_arena_strndup(arena, colon ? colon + 1 : "", vl);
		if (!t[n].key || !t[n].val) {
			snprintf(err, errlen, "out of memory");
			return MB_ENOMEM;
		}
		n++;
		if (!comma)
			break;
		s = comma + 1;
		if (!*s) {
			snprintf(err, errlen, "empty tag after ','");
			return MB_EINVAL;
		}
	}
	qsort(t, (size_t)n, sizeof *t, kv_cmp);
	for (int i = 1; i < n; i++) {
		if (strcmp(t[i - 1].key, t[i].key) == 0) {
			snprintf(err, errlen, "tag %.128s given twice", t[i].key);
			return MB_EINVAL;
		}
	}
	*tags = t;
	*ntags = (uint16_t)n;
	return 0;
}

/* A time from a query string: an unescaped '+' arrives as a space (to=+0s, an RFC 3339
 * offset +01:00), and no time has a space, so a space is read as the '+' it was. */
static int parse_query_time(const char *s, int64_t now_ms, int64_t *ms)
{
	char buf[80];
	size_t n = strlen(s);
	if (n >= sizeof buf)
		return MB_EINVAL;
	for (size_t i = 0; i <= n; i++)
		buf[i] = s[i] == ' ' ? '+' : s[i];
	return mb_parse_time(buf, now_ms, ms);
}

int api_range_build(const struct api_range_params *p, int64_t now_ms, struct mb_query *q,
                    char *err, size_t errlen)
{
	int64_t from, to, step = 0;
	int stat = MB_STAT_MEAN;
	memset(q, 0, sizeof *q);
	q->version = MB_SCHEMA_VERSION;
	q->op = MB_OP_RANGE;
	if (!p->source || !*p->source) {
		snprintf(err, errlen, "missing parameter source");
		return MB_EINVAL;
	}
	if (!api_valid_name(p->source)) {
		snprintf(err, errlen, "bad parameter source: not a container id or node");
		return MB_EINVAL;
	}
	if (!p->name || !*p->name) {
		snprintf(err, errlen, "missing parameter name");
		return MB_EINVAL;
	}
	if (!api_valid_name(p->name)) {
		snprintf(err, errlen, "bad parameter name: not a metric name");
		return MB_EINVAL;
	}
	if (parse_query_time(p->from ? p->from : "-1h", now_ms, &from) != 0) {
		snprintf(err, errlen,
		         "bad parameter from: expected unix seconds, RFC3339, now or -15m");
		return MB_EINVAL;
	}
	if (parse_query_time(p->to ? p->to : "now", now_ms, &to) != 0) {
		snprintf(err, errlen, "bad parameter to: expected unix seconds, RFC3339, now or -15m");
		return MB_EINVAL;
	}
	if (to < from) {
		snprintf(err, errlen, "bad parameter from: after to");
		return MB_EINVAL;
	}
	if (p->step && *p->step && strcmp(p->step, "auto") != 0) {
		if (mb_parse_duration(p->step, &step) != 0 || step <= 0) {
			snprintf(err, errlen, "bad parameter step: expected a duration like 10s or 5m");
			return MB_EINVAL;
		}
		/* the 11,000-point limit is agentd's to check: it rounds the step to the
		 * resolution of the window it reads first (30s over 7 days reads 1m slots) */
	}
	if (p->stat && mb_stat_parse(p->stat, &stat) != 0) {
		snprintf(err, errlen,
		         "bad parameter stat: one of mean, min, max, sum, count, last, p50, p90, "
		         "p95, p99, p999, rate");
		return MB_EINVAL;
	}
	if (p->tags && *p->tags) {
		char terr[200];
		int rv = api_tags_parse(p->tags, &q->arena, &q->tags, &q->ntags, terr, sizeof terr);
		if (rv != 0) {
			snprintf(err, errlen, "bad parameter tags: %s", terr);
			mb_query_free(q);
			return rv;
		}
	}
	q->source = p->source;
	q->name = p->name;
	q->from_ms = from;
	q->to_ms = to;
	q->step_ms = step;
	q->stat = stat;
	return 0;
}
