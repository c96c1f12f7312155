/* mapping.h: statsd_exporter's mapping rules (--mapping FILE), applied to the statsd records of
 * each batch at ingest, before any series is created: rename, add labels, drop. */
#ifndef AGENT_MAPPING_H
#define AGENT_MAPPING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mb.h"

/* Loaded rules: immutable once loaded, but for their hit counts and the name cache (both
 * guarded inside). */
struct agent_mapping;

/* Reads statsd_exporter's mapping YAML (libyaml): `defaults` (match_type,
 * glob_disable_ordering) and `mappings`, each
 * with match, match_type glob|regex, name, labels, action map|drop, match_metric_type
 * counter|gauge|observer|timer|set, honor_labels; every other key (ttl, buckets, timer_type,
 * observer_type, help, ...) is accepted and ignored. MB_EINVAL with the file's line and why in
 * err; MB_ESYS when it cannot be read; MB_ENOMEM. Any thread. */
int agent_mapping_load(const char *path, struct agent_mapping **out, char *err, size_t errlen);
void agent_mapping_free(struct agent_mapping *m);
int agent_mapping_nrules(const struct agent_mapping *m);
/* Rules that have matched no record since they were loaded. */
int agent_mapping_unmatched(struct agent_mapping *m);

/* The result of matching one name: rule -1 when none matched. */
struct agent_map_result {
	int rule;
	bool drop;
	char name[MB_MAX_NAME + 1];
	int nlabels;
	bool honor_labels;
	char keys[MB_MAX_TAGS][MB_MAX_TAG_KEY + 1];
	char vals[MB_MAX_TAGS][MB_MAX_TAG_VAL + 1];
};
/* Matches name for a record of kind (enum mb_kind): the first rule in file order whose match
 * and match_metric_type fit, with its name and labels expanded ($1, ${1}). MB_EINVAL when the
 * expanded name or a label would break the schema's limits (the record is then kept as it
 * is). Thread-safe. */
int agent_mapping_match(struct agent_mapping *m, const char *name, int kind,
                        struct agent_map_result *res);
/* Applies m to every statsd record of b: renames, merges labels into the tags (a tag the
 * client sent keeps its value only with honor_labels), drops. New strings and tag arrays are
 * allocated in b's arena. Counts into *dropped and *errors. Thread-safe. */
int agent_mapping_apply(struct agent_mapping *m, struct mb_batch *b, uint64_t *dropped,
                        uint64_t *errors);

/* The rules ingest applies (NULL: none). Installing frees the previous set once no batch is
 * using it. Any thread. */
void agent_mapping_install(struct agent_mapping *m);
/* Applies the installed rules to b, counting into agent_ctr. */
void agent_mapping_apply_installed(struct mb_batch *b);
/* For self metrics: rules installed, and of them never matched (0, 0 when none). */
void agent_mapping_installed_stats(int *rules, int *unmatched);

#endif
