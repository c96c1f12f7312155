/* mapping_int.h: the shape of loaded mapping rules, shared by mapping's files: a rule, the
 * tree of glob components, the cache of names seen, and the calls between those files. */
#ifndef AGENT_MAPPING_INT_H
#define AGENT_MAPPING_INT_H

#include <pthread.h>
#include <regex.h>
#include <stdbool.h>

#include "mapping.h"

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

static inline bool agent_map_type_ok(const struct rule *r, uint8_t tclass)
{
	return r->types == 0 || (r->types & tclass);
}

/* mapping_glob.c: the glob tree. */
struct gnode *agent_map_gnode_new(void);
void agent_map_gnode_free(struct gnode *n);
/* Adds r's glob to the tree (MB_ENOMEM); agent_map_gtree_done once all are in. */
int agent_map_gtree_add(struct gnode *root, const struct rule *r);
void agent_map_gtree_done(struct gnode *root);
/* The glob rule for name and tclass, its captures into e (rule -1: none); *final when no regex
 * rule may come before it (glob_disable_ordering and a match). */
void agent_map_glob_find(const struct agent_mapping *m, const char *name, uint8_t tclass,
                         struct centry *e, bool *final);

#endif
