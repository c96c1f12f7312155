/* mapping_match.c: a name through the loaded rules: the cache of names seen, the glob tree then
 * the regex rules, and the rule's name and labels expanded from the captures ($1, ${1}). */
#include <stdlib.h>
#include <string.h>

#include "mapping_int.h"

/* Expands $N / ${N} (as statsd_exporter: a reference to anything but a capture it has, such
 * as "$1_x" read as the name "1_x", is replaced by nothing); "$$" is "$". */
static int expand(const char *tpl, const char *name, const struct span *caps, int ncap, char *out,
                  size_t outlen, size_t *olen)
{
	size_t o = 0;
	for (const char *p = tpl; *p;) {
		if (*p != '$') {
			if (o + 1 >= outlen)
				return MB_ETOOBIG;
			out[o++] = *p++;
			continue;
		}
		if (p[1] == '$') {
			if (o + 1 >= outlen)
				return MB_ETOOBIG;
			out[o++] = '$';
			p += 2;
			continue;
		}
		const char *q = p + 1;
		bool brace = *q == '{';
		if (brace)
			q++;
		const char *s = q;
		while ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
		       *q == '_')
			q++;
		if (q == s) { /* a lone '$' */
			if (o + 1 >= outlen)
				return MB_ETOOBIG;
			out[o++] = *p++;
			continue;
		}
		int idx = 0;
		bool digits = true;
		for (const char *d = s; d < q; d++) {
			if (*d < '0' || *d > '9' || idx > 1000)
				digits = false;
			else
				idx = idx * 10 + (*d - '0');
		}
		if (brace && *q == '}')
			q++;
		if (digits && idx < ncap) {
			size_t l = caps[idx].len;
			if (o + l >= outlen)
				return MB_ETOOBIG;
			memcpy(out + o, name + caps[idx].off, l);
			o += l;
		}
		p = q;
	}
	out[o] = 0;
	*olen = o;
	return 0;
}

static uint8_t tclass_of(int kind)
{
	switch (kind) {
	case MB_COUNTER:
		return T_COUNTER;
	case MB_GAUGE:
		return T_GAUGE;
	case MB_SET:
		return T_SET;
	default:
		return T_OBSERVER;
	}
}

/* The first rule for (name, tclass) and its captures, uncached. */
static void find_rule(const struct agent_mapping *m, const char *name, uint8_t tclass,
                      struct centry *e)
{
	bool final;
	agent_map_glob_find(m, name, tclass, e, &final);
	int best = e->rule >= 0 ? e->rule : INT32_MAX;
	/* Regex rules: in file order before the glob found; unordered, only when no glob did. */
	for (int i = 0; i < m->nregex && m->regex_rules[i] < best && !final; i++) {
		const struct rule *r = &m->rules[m->regex_rules[i]];
		regmatch_t pm[MAX_CAPS];
		if (!agent_map_type_ok(r, tclass) || regexec(&r->re, name, MAX_CAPS, pm, 0) != 0)
			continue;
		e->rule = r->idx;
		int nc = (int)r->re.re_nsub + 1;
		if (nc > MAX_CAPS)
			nc = MAX_CAPS;
		for (int k = 0; k < nc; k++) {
			bool set = pm[k].rm_so >= 0;
			e->cap[k].off = set ? (uint16_t)pm[k].rm_so : 0;
			e->cap[k].len = set ? (uint16_t)(pm[k].rm_eo - pm[k].rm_so) : 0;
		}
		e->ncap = (uint8_t)nc;
		break;
	}
}

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > MB_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static bool text_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

int agent_mapping_match(struct agent_mapping *m, const char *name, int kind,
                        struct agent_map_result *res)
{
	uint8_t tclass = tclass_of(kind);
	size_t len = strlen(name);
	uint64_t h = mb_hash64(name, len) ^ tclass;
	struct centry e;
	res->rule = -1;
	pthread_mutex_lock(&m->cache_mu);
	struct centry *c = &m->cache[h % CACHE_SIZE];
	if (c->name && c->hash == h && c->tclass == tclass && strcmp(c->name, name) == 0) {
		e = *c;
	} else {
		find_rule(m, name, tclass, &e);
		char *dup = strdup(name);
		if (dup) {
			free(c->name);
			*c = e;
			c->name = dup;
			c->hash = h;
			c->tclass = tclass;
		}
	}
	pthread_mutex_unlock(&m->cache_mu);
	if (e.rule < 0)
		return 0;
	struct rule *r = &m->rules[e.rule];
	atomic_fetch_add_explicit(&r->hits, 1, memory_order_relaxed);
	res->rule = e.rule;
	res->drop = r->drop;
	res->honor_labels = r->honor_labels;
	res->nlabels = 0;
	if (r->drop)
		return 0;
	size_t n;
	if (expand(r->name, name, e.cap, e.ncap, res->name, sizeof res->name, &n) != 0 ||
	    !name_ok(res->name, n))
		return MB_EINVAL;
	for (int i = 0; i < r->nlabels; i++) {
		size_t kl = strlen(r->lkeys[i]);
		if (kl > MB_MAX_TAG_KEY)
			return MB_EINVAL;
		memcpy(res->keys[i], r->lkeys[i], kl + 1);
		if (expand(r->lvals[i], name, e.cap, e.ncap, res->vals[i], sizeof res->vals[i], &n) !=
		        0 ||
		    !text_ok(res->vals[i], n))
			return MB_EINVAL;
	}
	res->nlabels = r->nlabels;
	return 0;
}

