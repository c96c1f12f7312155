/* refused.c: the new series each source had refused (series limit, full store) since agentd
 * started, read for agentd's own metrics: which container ran into its limit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

int agent_store_refused(struct agent_store *s, struct agent_refused **out, size_t *n)
{
	struct agent_refused *v = NULL;
	size_t k = 0, cap = 0;
	int rv = 0;
	*out = NULL;
	*n = 0;
	pthread_rwlock_rdlock(&s->r.lock);
	for (uint32_t i = 0; i < s->r.nsrc; i++) {
		const struct agent_source *c = s->r.src[i];
		if (!c || !c->refused)
			continue;
		if (mb_grow(&v, &cap, k + 1, sizeof *v, 16) != 0) {
			rv = MB_ENOMEM;
			break;
		}
		snprintf(v[k].source, sizeof v[k].source, "%s", c->name);
		v[k].refused = c->refused;
		k++;
	}
	pthread_rwlock_unlock(&s->r.lock);
	if (rv != 0) {
		free(v);
		return rv;
	}
	*out = v;
	*n = k;
	return 0;
}
