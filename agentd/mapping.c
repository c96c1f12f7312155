/* mapping.c: statsd_exporter's mapping rules: the YAML loaded with libyaml, glob rules in a
 * tree of name components, regex rules (POSIX extended) in order, a cache of names seen. */
#include "mapping.h"

#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "agentd.h"

#define MAX_CAPS   32   /* captures a rule can refer to ($0 .. $31) */
#define MAX_COMPS  64   /* dot-separated components in a glob */
#define CACHE_SIZE 8192 /* names remembered (direct-mapped) */

/* Kind classes for match_metric_type. */
enum { T_COUNTER = 1, T_GAUGE = 2, T_OBSERVER = 4, T_SET = 8 };

struct rule {
	int idx;
	bool regex, drop, honor_labels;
	uint8_t types; /* 0: any */
	char *match, *name;
	int nlabels;
	char *lkeys[MB_MAX_TAGS], *lvals[MB_MAX_TAGS];
	regex_t re;
	bool re_ok;
	atomic_uint_fast64_t hits;
};

struct gnode;
struct gedge {
	char *comp; /* a literal component, or a pattern with '*' (pats) */
	struct gnode *child;
};
struct gnode {
	struct gedge *lit; /* sorted by comp, for bsearch */
	size_t nlit, caplit;
	struct gedge *pats; /* components with '*' in them but not only '*' */
	size_t npats, cappats;
	struct gnode *star; /* the component "*" */
	int *rules;         /* glob rules ending here, ascending */
	size_t nrules, caprules;
	int min_rule; /* lowest rule index in this subtree */
};

struct span {
	uint16_t off, len;
};

struct centry {
	uint64_t hash;
	char *name;
	uint8_t tclass;
	int rule;
	uint8_t ncap;
	struct span cap[MAX_CAPS];
};

struct agent_mapping {
	struct rule *rules;
	int nrules;
	int *regex_rules; /* indices of regex rules, ascending */
	bool unordered;   /* defaults.glob_disable_ordering: the most literal glob, not the first */
	int nregex;
	struct gnode *root;
	pthread_mutex_t cache_mu;
	struct centry *cache;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return MB_EINVAL;
}

/* ------------------------------------------------------------------ glob tree */

static struct gnode *gnode_new(void)
{
	struct gnode *n = calloc(1, sizeof *n);
	if (n)
		n->min_rule = INT32_MAX;
	return n;
}

static void gnode_free(struct gnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nlit; i++) {
		free(n->lit[i].comp);
		gnode_free(n->lit[i].child);
	}
	for (size_t i = 0; i < n->npats; i++) {
		free(n->pats[i].comp);
		gnode_free(n->pats[i].child);
	}
	gnode_free(n->star);
	free(n->lit);
	free(n->pats);
	free(n->rules);
	free(n);
}

static int edge_cmp_len(const char *a, size_t alen, const char *b)
{
	size_t bl = strlen(b);
	int c = memcmp(a, b, alen < bl ? alen : bl);
	if (c)
		return c;
	return (alen > bl) - (alen < bl);
}

/* The child for one component of a pattern, created when missing. */
static struct gnode *gnode_child(struct gnode *n, const char *c, size_t len)
{
	if (len == 1 && c[0] == '*') {
		if (!n->star)
			n->star = gnode_new();
		return n->star;
	}
	bool pat = memchr(c, '*', len) != NULL;
	struct gedge **arr = pat ? &n->pats : &n->lit;
	size_t *cnt = pat ? &n->npats : &n->nlit, *cap = pat ? &n->cappats : &n->caplit;
	size_t lo = 0, hi = *cnt;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = edge_cmp_len(c, len, (*arr)[mid].comp);
		if (r == 0)
			return (*arr)[mid].child;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (mb_grow(arr, cap, *cnt + 1, sizeof **arr, 4) != 0)
		return NULL;
	struct gedge e = {strndup(c, len), gnode_new()};
	if (!e.comp || !e.child) {
		free(e.comp);
		free(e.child);
		return NULL;
	}
	memmove(&(*arr)[lo + 1], &(*arr)[lo], (*cnt - lo) * sizeof **arr);
	(*arr)[lo] = e;
	(*cnt)++;
	return e.child;
}

static int gnode_min(struct gnode *n)
{
	int m = n->nrules ? n->rules[0] : INT32_MAX;
	for (size_t i = 0; i < n->nlit; i++) {
		int c = gnode_min(n->lit[i].child);
		if (c < m)
			m = c;
	}
	for (size_t i = 0; i < n->npats; i++) {
		int c = gnode_min(n->pats[i].child);
		if (c < m)
			m = c;
	}
	if (n->star) {
		int c = gnode_min(n->star);
		if (c < m)
			m = c;
	}
	n->min_rule = m;
	return m;
}

/* A component pattern with '*' (any run of characters but '.') against s; the spans of its
 * stars go to caps. The longest run first, as the regex ([^.]*) would take. */
static bool comp_match(const char *p, const char *s, size_t n, struct span *caps, int *ncap,
                       uint16_t base)
{
	if (!*p)
		return n == 0;
	if (*p != '*')
		return n > 0 && *p == *s && comp_match(p + 1, s + 1, n - 1, caps, ncap, base + 1);
	int k = *ncap;
	for (size_t take = n + 1; take-- > 0;) {
		*ncap = k + 1;
		if (comp_match(p + 1, s + take, n - take, caps, ncap, (uint16_t)(base + take))) {
			if (k < MAX_CAPS) {
				caps[k].off = base;
				caps[k].len = (uint16_t)take;
			}
			return true;
		}
	}
	*ncap = k;
	return false;
}

struct gsearch {
	const struct agent_mapping *m;
	const char *name;
	struct span comps[MAX_COMPS];
	int ncomp;
	uint8_t tclass;
	int best;
	bool unordered, found;
	struct span caps[MAX_CAPS], best_caps[MAX_CAPS];
	int best_ncap;
};

static bool type_ok(const struct rule *r, uint8_t tclass)
{
	return r->types == 0 || (r->types & tclass);
}

/* In file order (statsd_exporter's default): the lowest rule index that matches, pruning
 * subtrees that hold only later rules. Unordered: the first match found trying, at each
 * component, the literal child, then partial patterns, then "*". */
static void gsearch(struct gsearch *g, const struct gnode *n, int ci, int ncap)
{
	if (n->min_rule >= g->best || g->found)
		return;
	if (ci == g->ncomp) {
		for (size_t i = 0; i < n->nrules && n->rules[i] < g->best; i++) {
			if (type_ok(&g->m->rules[n->rules[i]], g->tclass)) {
				g->best = n->rules[i];
				g->best_ncap = ncap < MAX_CAPS ? ncap : MAX_CAPS;
				memcpy(g->best_caps, g->caps, sizeof g->caps);
				g->found = g->unordered;
				break;
			}
		}
		return;
	}
	const char *c = g->name + g->comps[ci].off;
	size_t len = g->comps[ci].len;
	size_t lo = 0, hi = n->nlit;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = edge_cmp_len(c, len, n->lit[mid].comp);
		if (r == 0) {
			gsearch(g, n->lit[mid].child, ci + 1, ncap);
			break;
		}
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	for (size_t i = 0; i < n->npats && !g->found; i++) {
		if (n->pats[i].child->min_rule >= g->best)
			continue;
		struct span save[MAX_CAPS];
		memcpy(save, g->caps, sizeof save);
		int k = ncap;
		if (comp_match(n->pats[i].comp, c, len, g->caps, &k, g->comps[ci].off))
			gsearch(g, n->pats[i].child, ci + 1, k);
		memcpy(g->caps, save, sizeof save);
	}
	if (n->star && !g->found) {
		if (ncap < MAX_CAPS)
			g->caps[ncap] = g->comps[ci];
		gsearch(g, n->star, ci + 1, ncap + 1);
	}
}

/* ------------------------------------------------------------------ templates */

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

/* ------------------------------------------------------------------ YAML */

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool key_is(yaml_document_t *d, yaml_node_pair_t *p, const char *k)
{
	const char *s = scalar(yaml_document_get_node(d, p->key));
	return s && strcmp(s, k) == 0;
}

static bool truthy(const char *s)
{
	return s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") ||
	             !strcmp(s, "yes") || !strcmp(s, "on"));
}

/* \d and \D (RE2, which statsd_exporter's rules are written in) to POSIX classes. */
static char *posix_regex(const char *s)
{
	size_t n = strlen(s);
	char *o = malloc(n * 6 + 1), *w = o;
	bool in_bracket = false;
	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n && (s[i + 1] == 'd' || s[i + 1] == 'D')) {
			const char *cls = in_bracket ? "[:digit:]" : s[i + 1] == 'd' ? "[[:digit:]]"
			                                                             : "[^[:digit:]]";
			w += sprintf(w, "%s", cls);
			i++;
			continue;
		}
		if (s[i] == '\\' && i + 1 < n) {
			*w++ = s[i++];
			*w++ = s[i];
			continue;
		}
		if (s[i] == '[')
			in_bracket = true;
		else if (s[i] == ']')
			in_bracket = false;
		*w++ = s[i];
	}
	*w = 0;
	return o;
}

static bool label_key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > MB_MAX_TAG_KEY)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] == 0x7f)
			return false;
	return true;
}

static int load_rule(yaml_document_t *d, yaml_node_t *n, bool def_regex, struct rule *r,
                     char *err, size_t errlen)
{
	int line = (int)n->start_mark.line + 1;
	const char *action = NULL, *mtype = NULL, *types = NULL;
	if (n->type != YAML_MAPPING_NODE)
		return fail(err, errlen, "line %d: a mapping must be a map of keys", line);
	r->regex = def_regex;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *v = yaml_document_get_node(d, p->value);
		if (key_is(d, p, "match")) { /* given twice: the last, as YAML readers do */
			free(r->match);
			r->match = NULL;
			if (!scalar(v) || !(r->match = strdup(scalar(v))))
				return fail(err, errlen, "line %d: match must be a string", line);
		} else if (key_is(d, p, "name")) {
			free(r->name);
			r->name = NULL;
			if (!scalar(v) || !(r->name = strdup(scalar(v))))
				return fail(err, errlen, "line %d: name must be a string", line);
		} else if (key_is(d, p, "match_type")) {
			mtype = scalar(v);
		} else if (key_is(d, p, "action")) {
			action = scalar(v);
		} else if (key_is(d, p, "match_metric_type")) {
			types = scalar(v);
		} else if (key_is(d, p, "honor_labels")) {
			r->honor_labels = truthy(scalar(v));
		} else if (key_is(d, p, "labels")) {
			if (!v || v->type != YAML_MAPPING_NODE)
				return fail(err, errlen, "line %d: labels must be a map", line);
			for (yaml_node_pair_t *l = v->data.mapping.pairs.start;
			     l < v->data.mapping.pairs.top; l++) {
				const char *k = scalar(yaml_document_get_node(d, l->key));
				const char *val = scalar(yaml_document_get_node(d, l->value));
				if (!k || !val || !label_key_ok(k))
					return fail(err, errlen, "line %d: a label must be NAME: \"value\"",
					            line);
				if (r->nlabels == MB_MAX_TAGS)
					return fail(err, errlen, "line %d: more than %d labels", line,
					            MB_MAX_TAGS);
				r->lkeys[r->nlabels] = strdup(k);
				r->lvals[r->nlabels] = strdup(val);
				if (!r->lkeys[r->nlabels] || !r->lvals[r->nlabels])
					return MB_ENOMEM;
				r->nlabels++;
			}
		}
		/* Anything else (ttl, timer_type, observer_type, buckets, quantiles, help,
		 * summary_options, histogram_options, scale...) shapes Prometheus types that
		 * metricsbus decides itself: accepted, not used. */
	}
	if (!r->match || !*r->match)
		return fail(err, errlen, "line %d: a mapping needs a match", line);
	if (mtype) {
		if (!strcmp(mtype, "regex"))
			r->regex = true;
		else if (!strcmp(mtype, "glob"))
			r->regex = false;
		else
			return fail(err, errlen, "line %d: match_type %s: want glob or regex", line,
			            mtype);
	}
	if (action && strcmp(action, "map") != 0 && strcmp(action, "drop") != 0)
		return fail(err, errlen, "line %d: action %s: want map or drop", line, action);
	r->drop = action && !strcmp(action, "drop");
	if (types && *types) {
		if (!strcmp(types, "counter"))
			r->types = T_COUNTER;
		else if (!strcmp(types, "gauge"))
			r->types = T_GAUGE;
		else if (!strcmp(types, "observer") || !strcmp(types, "timer") ||
		         !strcmp(types, "histogram") || !strcmp(types, "distribution"))
			r->types = T_OBSERVER;
		else if (!strcmp(types, "set"))
			r->types = T_SET;
		else
			return fail(err, errlen,
			            "line %d: match_metric_type %s: want counter, gauge, observer or "
			            "timer",
			            line, types);
	}
	if (!r->drop && (!r->name || !*r->name))
		return fail(err, errlen, "line %d: a mapping of %s needs a name", line, r->match);
	if (r->regex) {
		char *px = posix_regex(r->match);
		if (!px)
			return MB_ENOMEM;
		int rc = regcomp(&r->re, px, REG_EXTENDED);
		free(px);
		if (rc != 0) {
			char m[128];
			regerror(rc, &r->re, m, sizeof m);
			return fail(err, errlen, "line %d: regex %s: %s", line, r->match, m);
		}
		r->re_ok = true;
	} else {
		size_t nc = 1;
		for (const char *c = r->match; *c; c++)
			if (*c == '.')
				nc++;
		if (nc > MAX_COMPS || strstr(r->match, "..") || r->match[0] == '.' ||
		    r->match[strlen(r->match) - 1] == '.')
			return fail(err, errlen, "line %d: glob %s: empty component or more than %d",
			            line, r->match, MAX_COMPS);
	}
	return 0;
}

static int gtree_add(struct gnode *root, const struct rule *r)
{
	struct gnode *n = root;
	for (const char *c = r->match;;) {
		const char *dot = strchr(c, '.');
		size_t len = dot ? (size_t)(dot - c) : strlen(c);
		if (!(n = gnode_child(n, c, len)))
			return MB_ENOMEM;
		if (!dot)
			break;
		c = dot + 1;
	}
	if (mb_grow(&n->rules, &n->caprules, n->nrules + 1, sizeof *n->rules, 2) != 0)
		return MB_ENOMEM;
	n->rules[n->nrules++] = r->idx;
	return 0;
}

int agent_mapping_load(const char *path, struct agent_mapping **out, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int rv = 0;
	struct agent_mapping *m = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s", strerror(errno));
		return MB_ESYS;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return MB_ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		rv = fail(err, errlen, "line %d: %s%s%s", (int)parser.problem_mark.line + 1,
		          parser.problem ? parser.problem : "not YAML",
		          parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		fclose(f);
		return rv;
	}
	yaml_parser_delete(&parser);
	fclose(f);

	if (!(m = calloc(1, sizeof *m)) || !(m->root = gnode_new()) ||
	    !(m->cache = calloc(CACHE_SIZE, sizeof *m->cache))) {
		rv = MB_ENOMEM;
		goto out;
	}
	pthread_mutex_init(&m->cache_mu, NULL);
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	yaml_node_t *maps = NULL;
	bool def_regex = false;
	if (root && root->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
		     p < root->data.mapping.pairs.top; p++) {
			yaml_node_t *v = yaml_document_get_node(&doc, p->value);
			if (key_is(&doc, p, "mappings")) {
				maps = v;
			} else if (key_is(&doc, p, "defaults") && v && v->type == YAML_MAPPING_NODE) {
				for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
				     q < v->data.mapping.pairs.top; q++) {
					const char *s = scalar(yaml_document_get_node(&doc, q->value));
					if (key_is(&doc, q, "match_type") && s) {
						if (strcmp(s, "regex") && strcmp(s, "glob")) {
							rv = fail(err, errlen,
							          "defaults: match_type %s: want glob "
							          "or regex",
							          s);
							goto out;
						}
						def_regex = !strcmp(s, "regex");
					}
					if (key_is(&doc, q, "glob_disable_ordering") && s)
						m->unordered = truthy(s);
				}
			}
		}
	} else if (root && !(root->type == YAML_SCALAR_NODE && !*scalar(root))) {
		rv = fail(err, errlen, "line 1: want a map with \"mappings:\"");
		goto out;
	}
	if (maps && maps->type == YAML_SEQUENCE_NODE) {
		int n = (int)(maps->data.sequence.items.top - maps->data.sequence.items.start);
		if (n > 0 && (!(m->rules = calloc((size_t)n, sizeof *m->rules)) ||
		              !(m->regex_rules = calloc((size_t)n, sizeof *m->regex_rules)))) {
			rv = MB_ENOMEM;
			goto out;
		}
		for (int i = 0; i < n; i++) {
			yaml_node_t *rn =
			    yaml_document_get_node(&doc, maps->data.sequence.items.start[i]);
			struct rule *r = &m->rules[i];
			r->idx = i;
			m->nrules = i + 1;
			if (!rn) {
				rv = fail(err, errlen, "mapping %d: empty", i + 1);
				goto out;
			}
			if ((rv = load_rule(&doc, rn, def_regex, r, err, errlen)) != 0)
				goto out;
			if (r->regex)
				m->regex_rules[m->nregex++] = i;
			else if ((rv = gtree_add(m->root, r)) != 0)
				goto out;
		}
	} else if (maps && !(maps->type == YAML_SCALAR_NODE && !*scalar(maps))) {
		rv = fail(err, errlen, "line %d: mappings must be a list",
		          (int)maps->start_mark.line + 1);
		goto out;
	}
	gnode_min(m->root);
out:
	yaml_document_delete(&doc);
	if (rv != 0) {
		agent_mapping_free(m);
		return rv;
	}
	*out = m;
	return 0;
}

void agent_mapping_free(struct agent_mapping *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nrules; i++) {
		struct rule *r = &m->rules[i];
		free(r->match);
		free(r->name);
		for (int l = 0; l < r->nlabels; l++) {
			free(r->lkeys[l]);
			free(r->lvals[l]);
		}
		if (r->re_ok)
			regfree(&r->re);
	}
	if (m->cache)
		for (size_t i = 0; i < CACHE_SIZE; i++)
			free(m->cache[i].name);
	free(m->cache);
	free(m->rules);
	free(m->regex_rules);
	gnode_free(m->root);
	pthread_mutex_destroy(&m->cache_mu);
	free(m);
}

int agent_mapping_nrules(const struct agent_mapping *m)
{
	return m ? m->nrules : 0;
}

int agent_mapping_unmatched(struct agent_mapping *m)
{
	int n = 0;
	for (int i = 0; m && i < m->nrules; i++)
		if (atomic_load_explicit(&m->rules[i].hits, memory_order_relaxed) == 0)
			n++;
	return n;
}

/* ------------------------------------------------------------------ matching */

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
	struct gsearch g;
	size_t len = strlen(name);
	g.m = m;
	g.name = name;
	g.tclass = tclass;
	g.best = INT32_MAX;
	g.best_ncap = 0;
	g.unordered = m->unordered;
	g.found = false;
	g.ncomp = 0;
	bool fits = len <= MB_MAX_NAME;
	for (size_t s = 0; fits;) {
		const char *dot = memchr(name + s, '.', len - s);
		size_t e2 = dot ? (size_t)(dot - name) : len;
		if (g.ncomp == MAX_COMPS) {
			fits = false;
			break;
		}
		g.comps[g.ncomp].off = (uint16_t)s;
		g.comps[g.ncomp].len = (uint16_t)(e2 - s);
		g.ncomp++;
		if (!dot)
			break;
		s = e2 + 1;
	}
	if (fits)
		gsearch(&g, m->root, 0, 0);
	e->rule = -1;
	e->ncap = 0;
	if (g.best != INT32_MAX) {
		e->rule = g.best;
		/* $0 is the whole name, $1.. the stars */
		e->cap[0].off = 0;
		e->cap[0].len = (uint16_t)len;
		int nc = g.best_ncap < MAX_CAPS - 1 ? g.best_ncap : MAX_CAPS - 1;
		memcpy(&e->cap[1], g.best_caps, (size_t)nc * sizeof e->cap[0]);
		e->ncap = (uint8_t)(nc + 1);
	}
	/* Regex rules: in file order before the glob found; unordered, only when no glob did. */
	for (int i = 0; i < m->nregex && m->regex_rules[i] < g.best && !g.found; i++) {
		const struct rule *r = &m->rules[m->regex_rules[i]];
		regmatch_t pm[MAX_CAPS];
		if (!type_ok(r, tclass) || regexec(&r->re, name, MAX_CAPS, pm, 0) != 0)
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

/* ------------------------------------------------------------------ applying to a batch */

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mb_kv *)a)->key, ((const struct mb_kv *)b)->key);
}

static bool is_statsd(const struct mb_record *r)
{
	if (r->kind == MB_RESOURCE || r->kind >= MB_NKINDS)
		return false;
	/* the shim's own counters keep their names, whatever a rule says */
	return strncmp(r->name, "metricsbus.shim.", 16) != 0;
}

/* r's tags plus res's labels into a sorted, unique array in the arena. */
static int merge_tags(struct mb_batch *b, struct mb_record *r, const struct agent_map_result *res)
{
	size_t n = (size_t)r->ntags + (size_t)res->nlabels;
	struct mb_kv *t = mb_arena_alloc(&b->arena, (n ? n : 1) * sizeof *t);
	if (!t)
		return MB_ENOMEM;
	size_t k = 0;
	for (int i = 0; i < res->nlabels; i++) {
		const struct mb_kv *old = NULL;
		for (int j = 0; j < r->ntags; j++)
			if (strcmp(r->tags[j].key, res->keys[i]) == 0)
				old = &r->tags[j];
		if (old && res->honor_labels)
			continue;
		char *key = mb_arena_strndup(&b->arena, res->keys[i], strlen(res->keys[i]));
		char *val = mb_arena_strndup(&b->arena, res->vals[i], strlen(res->vals[i]));
		if (!key || !val)
			return MB_ENOMEM;
		bool dup = false;
		for (size_t j = 0; j < k; j++)
			if (strcmp(t[j].key, key) == 0) {
				t[j].val = val; /* a label given twice: the last */
				dup = true;
			}
		if (!dup)
			t[k++] = (struct mb_kv){key, val};
	}
	size_t labels = k;
	for (int j = 0; j < r->ntags; j++) {
		bool shadowed = false;
		for (size_t i = 0; i < labels; i++)
			if (strcmp(t[i].key, r->tags[j].key) == 0)
				shadowed = true;
		if (!shadowed)
			t[k++] = r->tags[j];
	}
	if (k > MB_MAX_TAGS)
		return MB_EINVAL;
	qsort(t, k, sizeof *t, kv_cmp);
	r->tags = t;
	r->ntags = (uint16_t)k;
	return 0;
}

int agent_mapping_apply(struct agent_mapping *m, struct mb_batch *b, uint64_t *dropped,
                        uint64_t *errors)
{
	struct agent_map_result res;
	uint32_t w = 0;
	for (uint32_t i = 0; i < b->nrecords; i++) {
		struct mb_record *r = &b->records[i];
		if (is_statsd(r)) {
			int rv = agent_mapping_match(m, r->name, r->kind, &res);
			if (rv == 0 && res.rule >= 0 && res.drop) {
				(*dropped)++;
				continue;
			}
			if (rv == 0 && res.rule >= 0) {
				struct mb_record save = *r;
				char *nm = mb_arena_strndup(&b->arena, res.name, strlen(res.name));
				rv = nm ? merge_tags(b, r, &res) : MB_ENOMEM;
				if (rv == 0)
					r->name = nm;
				else
					*r = save;
			}
			if (rv != 0)
				(*errors)++;
		}
		if (w != i)
			b->records[w] = *r;
		w++;
	}
	b->nrecords = w;
	return 0;
}

/* ------------------------------------------------------------------ the installed rules */

static pthread_rwlock_t inst_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct agent_mapping *installed;

void agent_mapping_install(struct agent_mapping *m)
{
	pthread_rwlock_wrlock(&inst_lock);
	struct agent_mapping *old = installed;
	installed = m;
	pthread_rwlock_unlock(&inst_lock);
	agent_mapping_free(old);
}

void agent_mapping_apply_installed(struct mb_batch *b)
{
	uint64_t dropped = 0, errors = 0;
	pthread_rwlock_rdlock(&inst_lock);
	if (installed)
		agent_mapping_apply(installed, b, &dropped, &errors);
	pthread_rwlock_unlock(&inst_lock);
	if (dropped)
		atomic_fetch_add_explicit(&agent_ctr.map_dropped, dropped, memory_order_relaxed);
	if (errors)
		atomic_fetch_add_explicit(&agent_ctr.map_errors, errors, memory_order_relaxed);
}

void agent_mapping_installed_stats(int *rules, int *unmatched)
{
	pthread_rwlock_rdlock(&inst_lock);
	*rules = agent_mapping_nrules(installed);
	*unmatched = agent_mapping_unmatched(installed);
	pthread_rwlock_unlock(&inst_lock);
}
