/* fuzz_mapping.c: --mapping with any input: a metric name (the sender's bytes) matched and
 * applied through a fixed rule set, or the input as a mapping file; never past a buffer, and
 * a mapped record still passes the schema. */
#include "mb.h"
#include "../../agentd/agentd.h"
#include "../../agentd/mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

struct agent_counters agent_ctr; /* mapping.c counts into it; self.c is not linked */

static const char rules[] =
    "mappings:\n"
    "- match: a.*.c\n  name: \"x_$1_${2}_$0\"\n  labels: {k: \"$1$1$1$1\", j: \"${9}\"}\n"
    "- match: \"*.*\"\n  match_metric_type: counter\n  name: \"$2.$1\"\n"
    "- match: p*q*.*\n  name: pq_$1_$2_$3\n  labels: {a: $3}\n"
    "- match: \"(.*)\\\\.(\\\\d+)\\\\.(.*)\"\n  match_type: regex\n  name: \"r_$3_$1\"\n"
    "  labels: {n: \"$2\", all: \"$0$0\"}\n"
    "- match: drop.*\n  action: drop\n";

static struct agent_mapping *m;
static char dir[64] = "/tmp/fuzz_mapping.XXXXXX";

static struct agent_mapping *load(const char *text, size_t len)
{
	char path[128], err[256];
	snprintf(path, sizeof path, "%s/m.yml", dir);
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	fwrite(text, 1, len, f);
	fclose(f);
	struct agent_mapping *r = NULL;
	if (agent_mapping_load(path, &r, err, sizeof err) != 0)
		return NULL;
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	if (!m) {
		if (!mkdtemp(dir) || !(m = load(rules, sizeof rules - 1)))
			abort();
	}
	if (n > 0 && p[0] == 'Y') { /* the rest is a mapping file */
		struct agent_mapping *x = load((const char *)p + 1, n - 1);
		agent_mapping_free(x);
		return 0;
	}
	if (n == 0 || n > MB_MAX_NAME)
		return 0;
	char name[MB_MAX_NAME + 1];
	memcpy(name, p, n);
	name[n] = 0;
	if (strlen(name) != n)
		return 0;
	struct mb_batch *b = agent_batch_new("c", 1, 1, 1700000000000, 1000);
	if (!b)
		return 0;
	struct mb_kv t = {"k", "client"};
	if (agent_batch_add(b, MB_COUNTER, name, 1, 1, &t) != 0 ||
	    agent_batch_add(b, MB_GAUGE, name, 1, 0, NULL) != 0) {
		agent_batch_destroy(b);
		return 0;
	}
	/* only what the decoder lets in reaches the rules at ingest */
	struct mb_buf out = {0};
	b->version = 1;
	if (mb_batch_encode(b, &out) != 0) {
		mb_buf_free(&out);
		agent_batch_destroy(b);
		return 0;
	}
	mb_buf_reset(&out);
	uint64_t dropped = 0, errors = 0;
	agent_mapping_apply(m, b, &dropped, &errors);
	/* and what a rule made of it must still be a valid batch */
	if (mb_batch_encode(b, &out) != 0)
		abort();
	mb_buf_free(&out);
	agent_batch_destroy(b);
	return 0;
}
