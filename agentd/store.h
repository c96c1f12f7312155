/* store.h: agentd's LMDB store: the series registry, rolling windows, per-shim sequence
 * numbers, counter totals, and every read the query service answers. */
#ifndef AGENT_STORE_H
#define AGENT_STORE_H

#include "mb.h"

#define AGENT_FORMAT_VERSION 1

struct agent_store;

struct agent_store_opts {
	const char *dir;            /* data directory; created if missing */
	const char *retention;      /* the spec as given, recorded in the store */
	struct mb_level levels[MB_MAX_LEVELS];
	int nlevels;
	uint64_t max_size;          /* cap of the LMDB map, bytes */
	uint64_t max_series_per_source;
	/* Node dimensions merged into every answer's dims (docs/api.md: mesos_id and hostname
	 * always, cluster_id when known). Strings owned by the caller, live as long as the store. */
	const char *hostname, *node_id, *cluster_id;
	int64_t live_ms;            /* a series idle longer leaves live lists; 5 min */
	int64_t container_ttl_ms;   /* a stopped container stays listed and served this long */
};

/* Opens (creating) the store. Refuses, with a message in err naming both values and
 * docs/operations.md, a store of another retention or a newer format. Runs mdb_reader_check.
 * MB_EINVAL (refused), MB_ESYS, MB_ENOMEM. Main thread, once. */
int agent_store_open(const struct agent_store_opts *o, struct agent_store **out, char *err,
                     size_t errlen);
/* Syncs and closes. No other call may be running. */
void agent_store_close(struct agent_store *s);
/* Replaces the node id (mesos_id) answers carry: the Mesos agent re-registered under another
 * id. id is the caller's and must outlive the store. Any thread; a query sees the old or the
 * new id, never a torn one. */
void agent_store_set_node_id(struct agent_store *s, const char *id);

/* Commits n batches in one write transaction, with each batch's (instance, seq) recorded in
 * the same transaction. status[i] gets MB_ACK_OK, MB_ACK_DUP (seq already committed: nothing
 * written), MB_ACK_REJECTED (reason in errs[i], e.g. series limit for every record), or
 * MB_ACK_RETRY (not committed: disk full, map at max-size for new data; reason in errs[i]).
 * Records refused for a per-source series limit or a full map are counted (agent_store_stats)
 * while the rest of the batch is committed and the batch gets MB_ACK_OK.
 * Grows the map on MDB_MAP_FULL (pausing readers) up to max_size and retries the whole
 * transaction. Returns 0 when the statuses are set; MB_ESYS when the store is unusable.
 * Writer thread only: one thread calls this for the life of the store.
 * own[i] (own may be NULL: none) marks a batch of agentd's own (node, self): its source is
 * flagged as agentd's, exempt from --max-series-per-source and from the refusal of new series
 * near --max-size. A batch not its own whose container id is reserved (agent_source_reserved)
 * is MB_ACK_REJECTED with the reason, and counted (rejected_reserved). */
int agent_store_commit(struct agent_store *s, struct mb_batch *const *batches, const bool *own,
                       int n, uint32_t *status, char (*errs)[MB_MAX_ERR + 1]);

/* --backup-dir (backup.c): created (0750) if missing, agent_own_dir, then the only place the
 * backup op writes; until it is set the op is refused. MB_EINVAL, MB_ESYS. Start-up. */
int agent_backup_dir_set(const char *dir, char *err, size_t errlen);

/* The container ids agentd keeps for its own sources ("node", "agentd"). Any thread. */
bool agent_source_reserved(const char *container_id);

/* Answers one query into r (r->op = q->op; status and error set; strings and arrays in
 * r->arena, freed by mb_reply_free). Never fails on bad input: it sets st 400/404 with a
 * reason. Any thread, concurrently with the writer and each other (read transactions,
 * MDB_NOTLS). Backup (mdb_env_copy2 with compaction) also goes through here. */
void agent_store_query(struct agent_store *s, const struct mb_query *q, struct mb_reply *r);

/* Periodic upkeep from the main loop (every ~30 s): mdb_reader_check (readers killed by
 * kill -9 pin pages), refresh of live lists. Any thread but the writer's transaction. */
void agent_store_maintain(struct agent_store *s);

struct agent_store_stats {
	uint64_t series;            /* registered series */
	uint64_t live_series;
	uint64_t sources;
	uint64_t map_bytes, used_bytes; /* map size, pages in use * page size */
	uint64_t refused_series_limit, refused_map_full;
	uint64_t rejected_reserved; /* batches of another sender naming a reserved source */
	uint64_t export_capped;     /* series left out of exports: their source over its bytes */
	uint64_t points_committed, txns, dup_batches;
	double last_commit_ms;
};
void agent_store_stats(struct agent_store *s, struct agent_store_stats *out); /* any thread */

/* refused.c: the sources that had new series refused since agentd started, with how many
 * (malloc'd; none: NULL, 0). MB_ENOMEM. Any thread. */
struct agent_refused {
	char source[MB_MAX_NAME + 1];
	uint64_t refused;
};
int agent_store_refused(struct agent_store *s, struct agent_refused **out, size_t *n);

/* units.c (owned by the daemon side): the DC/OS unit of a node or container resource
 * metric by name ("bytes", "percent", "count", "seconds"), "" for app metrics. */
const char *agent_unit(const char *source, int kind, const char *name);

#endif
