/* mapping.c: the mapping rules applied to a batch (renames, labels merged into tags, drops),
 * the set ingest has installed, and the rules' counts for self metrics. */
#include <stdlib.h>
#include <string.h>

#include "agentd.h"
#include "mapping_int.h"

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
