/* mapping_glob.c: the glob rules as a tree of name components (literal, partial pattern, "*"),
 * and a name's search through it: the first rule in file order, or the most literal one. */
#include <stdlib.h>
#include <string.h>

#include "mapping_int.h"

struct gnode *agent_map_gnode_new(void)
{
	struct gnode *n = calloc(1, sizeof *n);
	if (n)
		n->min_rule = INT32_MAX;
	return n;
}

void agent_map_gnode_free(struct gnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nlit; i++) {
		free(n->lit[i].comp);
		agent_map_gnode_free(n->lit[i].child);
	}
	for (size_t i = 0; i < n->npats; i++) {
		free(n->pats[i].comp);
		agent_map_gnode_free(n->pats[i].child);
	}
	agent_map_gnode_free(n->star);
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
			n->star = agent_map_gnode_new();
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
	struct gedge e = {strndup(c, len), agent_map_gnode_new()};
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

/* In file order (statsd_exporter's default): the lowest rule index that matches, pruning
 * subtrees that hold only later rules. Unordered: the first match found trying, at each
 * component, the literal child, then partial patterns, then "*". */
static void gsearch(struct gsearch *g, const struct gnode *n, int ci, int ncap)
{
	if (n->min_rule >= g->best || g->found)
		return;
	if (ci == g->ncomp) {
		for (size_t i = 0; i < n->nrules && n->rules[i] < g->best; i++) {
			if (agent_map_type_ok(&g->m->rules[n->rules[i]], g->tclass)) {
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

int agent_map_gtree_add(struct gnode *root, const struct rule *r)
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

void agent_map_glob_find(const struct agent_mapping *m, const char *name, uint8_t tclass,
                         struct centry *e, bool *final)
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
	*final = g.found;
}

void agent_map_gtree_done(struct gnode *root)
{
	gnode_min(root);
}
