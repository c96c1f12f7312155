/* agentd.h: the daemon's own parts and how they meet: the writer queue, the ingest and query
 * services, node and self metrics, the socket lock and peer identity. (The store is store.h.) */
#ifndef AGENT_AGENTD_H
#define AGENT_AGENTD_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "mb.h"
#include "owner.h"
#include "store.h"

/* ------------------------------------------------------------------ counters (self.c)
 * Process-wide counters, written by any thread with relaxed atomics, read by self.c. */
enum agent_reject_reason {
	AGENT_REJ_INVALID,     /* fails the schema */
	AGENT_REJ_VERSION,     /* a newer schema version */
	AGENT_REJ_TOOBIG,      /* over a schema limit */
	AGENT_REJ_STORE,       /* refused by the store (e.g. every record over the series limit) */
	AGENT_REJ_PEER,        /* --verify-peer: the sender could not be verified */
	AGENT_REJ_NREASONS
};
const char *agent_reject_name(int reason);

struct agent_counters {
	atomic_uint_fast64_t batches_received, records_received;
	atomic_uint_fast64_t batches_rejected[AGENT_REJ_NREASONS];
	atomic_uint_fast64_t batches_committed, records_committed, batches_dup;
	atomic_uint_fast64_t batches_retry;    /* answered "not now" (queue full, disk, stopping) */
	atomic_uint_fast64_t peer_mismatch;    /* --verify-peer: claimed container id differed */
	atomic_uint_fast64_t peer_unknown;     /* --verify-peer: batches of unverified peers */
	atomic_uint_fast64_t commit_txns, commit_us_total, commit_us_max;
	atomic_uint_fast64_t queries, query_errors;
	atomic_uint_fast64_t map_dropped;       /* --mapping: records dropped by an action: drop */
	atomic_uint_fast64_t map_errors;        /* --mapping: a result over the schema's limits */
	atomic_uint_fast64_t map_reload_failed; /* --mapping: SIGHUP found a bad file */
	atomic_int_fast64_t queue_depth;
};
extern struct agent_counters agent_ctr;

/* ------------------------------------------------------------------ writer (writer.c)
 * The one thread that writes the store. Jobs are queued by the ingest callbacks, node.c and
 * self.c; the writer takes everything queued (up to a record budget), commits it in one
 * transaction and then calls each job's done() with the batch's status. The queue is bounded:
 * agent_writer_push never blocks and answers MB_ETOOBIG when it is full. */
struct agent_job;
typedef void (*agent_job_done)(struct agent_job *j, uint32_t status, const char *err);
struct agent_job {
	struct mb_batch *batch;
	agent_job_done done; /* called on the writer thread; must not block */
	bool own;            /* a batch of agentd's own (node, self), not of a sender */
	void *arg;
	struct agent_job *next;
};
struct agent_writer;
/* max_jobs bounds the queue. Starts the thread. MB_ENOMEM, MB_ESYS. Main thread. */
int agent_writer_start(struct agent_store *st, int max_jobs, struct agent_writer **out);
/* Queues j; 0, MB_ETOOBIG (full) or MB_EDOWN (stopping). Any thread, never blocks. */
int agent_writer_push(struct agent_writer *w, struct agent_job *j);
/* Jobs queued now. Any thread. */
int agent_writer_depth(struct agent_writer *w);
/* How long jobs have waited without a commit finishing (0 when the queue is empty): a stuck
 * writer must stop the systemd watchdog pings. Any thread. */
int64_t agent_writer_stalled_ms(struct agent_writer *w);
/* Non-zero once a commit failed with the store unusable: main stops the daemon. */
int agent_writer_broken(struct agent_writer *w);
/* Refuses new jobs, commits and answers every queued one, joins the thread, frees w. */
void agent_writer_stop(struct agent_writer *w);

/* ------------------------------------------------------------------ ingest (ingest.c)
 * The REP listener shims send batches to: many contexts served at once, each batch decoded on
 * the nng callback and handed to the writer; the ack is sent once the writer has committed. */
struct agent_ingest;
struct agent_peer_maps;
struct agent_ingest_opts {
	const char *url;
	int nctx;
	bool verify_peer;
	const struct agent_peer_maps *maps; /* --peer-map rules (may be NULL) */
};
int agent_ingest_start(const struct agent_ingest_opts *o, struct agent_writer *w,
                       struct agent_ingest **out);
/* Stops receiving, waits (up to timeout_ms) for every batch in flight to be answered. Main
 * thread, before agent_writer_stop. */
void agent_ingest_quiesce(struct agent_ingest *in, int timeout_ms);
/* Closes the socket and frees in. After agent_writer_stop. */
void agent_ingest_close(struct agent_ingest *in);

/* ------------------------------------------------------------------ query service (qsvc.c)
 * REP on --query; worker threads each with a context: receive, decode, agent_store_query,
 * encode, send. LMDB reads happen on these threads, never on nng's. */
struct agent_qsvc;
int agent_qsvc_start(const char *url, int nworkers, struct agent_store *st, const char *node_id,
                     struct agent_qsvc **out);
void agent_qsvc_stop(struct agent_qsvc *q);
/* The id pings answer with, replaced (id outlives q). Any thread. */
void agent_qsvc_set_node_id(struct agent_qsvc *q, const char *id);
/* The Mesos agent id when --node-id names the node otherwise: pings then list both ids (the
 * agent-scoped paths answer to either). NULL or "" for none; id outlives q. Any thread. */
void agent_qsvc_set_agent_id(struct agent_qsvc *q, const char *id);

/* ------------------------------------------------------------------ node metrics (node.c) */
struct agent_node;
struct agent_node_opts {
	const char *proc;     /* "/proc"; tests may point elsewhere */
	const char *hostname; /* dimensions; node_id and cluster_id may be NULL */
	const char *node_id, *cluster_id;
	uint64_t instance;    /* agentd's own ingest identity */
};
int agent_node_open(const struct agent_node_opts *o, struct agent_node **out);
/* Collects every node metric now into a fresh heap batch (free with agent_batch_destroy). */
int agent_node_collect(struct agent_node *n, int64_t now_ms, int64_t interval_ms,
                       struct mb_batch **out);
void agent_node_close(struct agent_node *n);
/* The node id (mesos_id) later collections carry. MB_ENOMEM. Main thread. */
int agent_node_set_id(struct agent_node *n, const char *id);

/* A heap batch whose strings and arrays live in its arena: what node.c and self.c build. */
struct mb_batch *agent_batch_new(const char *container_id, uint64_t instance, uint64_t seq,
                                 int64_t time_ms, int64_t interval_ms);
/* Appends a record (kind counter/gauge/resource) with tags (ntags pairs, any order, sorted
 * here). Grows the record array in the arena. MB_ENOMEM. */
int agent_batch_add(struct mb_batch *b, int kind, const char *name, double value, int ntags,
                    const struct mb_kv *tags);
int agent_batch_dim(struct mb_batch *b, const char *key, const char *val);
void agent_batch_destroy(struct mb_batch *b);

/* ------------------------------------------------------------------ self metrics (self.c) */
/* A batch of agentd's own metrics (source "agentd") for the interval that ends now. */
/* Counters are the change since the last self batch the store committed (the store keeps
 * their running totals). MB_ETIMEDOUT while the previous one is still queued. Main thread. */
int agent_self_collect(struct agent_store *st, uint64_t instance, uint64_t seq, int64_t now_ms,
                       int64_t interval_ms, const char *hostname, struct mb_batch **out);
/* The writer's word on the last self batch: stored (committed) or not (dropped). */
void agent_self_done(bool stored);
/* A listener whose nng statistics (accepted, errors, half-open peers: mb_listener_stats)
 * become agentd.listener.* counters tagged socket=ingest|query. Main thread, at start. */
enum { AGENT_LISTENER_INGEST, AGENT_LISTENER_QUERY, AGENT_NLISTENERS };
#ifdef NNG_MAJOR_VERSION
void agent_self_listener(int which, nng_listener l);
#endif

/* ------------------------------------------------------------------ mesos.c */
/* The Mesos agent id from a Mesos agent's --work_dir: the target of meta/slaves/latest.
 * MB_ESYS (errno ENOENT: no agent registered there), MB_EINVAL (not an id), MB_ETOOBIG. */
int agent_mesos_agent_id(const char *work_dir, char *id, size_t n);
/* The hostname dimension: detect_ip's output (DC/OS's /opt/mesosphere/bin/detect_ip) when it
 * is executable and answers, else gethostname(). Always 0. Main thread, at start. */
int agent_detect_hostname(const char *detect_ip, char *out, size_t n);

/* ------------------------------------------------------------------ lock (lock.c)
 * One agentd per socket path: an flock on PATH.lock beside each ipc socket,
 * held for the life of the process; a stale socket file is then removed. */
struct agent_lock;
/* For an ipc:// url: creates the run directory (0750) and refuses one that is not agentd's own
 * (agent_own_dir), locks PATH.lock (opened without following a symlink; a regular file of
 * agentd's own), unlinks a stale PATH. For other urls: nothing. MB_EINVAL with err "another
 * metricsbus-agentd owns PATH" when the lock is held by another process, or what is wrong with
 * the directory or lock file; MB_ESYS otherwise. */
int agent_lock_url(const char *url, struct agent_lock **out, char *err, size_t errlen);
void agent_lock_release(struct agent_lock *l);

/* owner.h: agent_own_dir, agent_own_file, agent_own_store. */

/* ------------------------------------------------------------------ peer (peer.c)
 * --verify-peer: the container identity of a local process, from /proc/PID/cgroup, read when
 * its connection is made. docs/security.md has the layouts and the rule. */
#define AGENT_PEER_MAPS 16
struct agent_peer_map {
	char path[256];
	char id[MB_MAX_NAME + 1];
	bool wildcard; /* PATH/STAR: the component under path is the id */
};
struct agent_peer_maps {
	int n;
	struct agent_peer_map r[AGENT_PEER_MAPS];
};
/* Adds an operator rule "/CGROUP/PATH=ID" or "/CGROUP/PATH/" followed by "*". MB_EINVAL, MB_ETOOBIG (err). */
int agent_peer_map_add(struct agent_peer_maps *m, const char *spec, char *err, size_t errlen);
/* The id for a cgroup file's text. Each hierarchy's path is matched from its root against the
 * runtimes' layouts (mesos/ID, docker/ID, system.slice/docker-ID.scope, kubepods...pod/ID,
 * machine.slice nspawn and machine scopes, libpod, lxc) and the operator's maps (m, may be
 * NULL); every hierarchy that names a container must name the same one. Without one, the
 * primary hierarchy (v2, else name=systemd, else the first v1) decides: its root is "host",
 * system.slice/NAME.service is NAME, anything else is refused. Components below a match
 * (cgroups a container creates) never change the answer. MB_EINVAL with why. */
int agent_peer_id_from_cgroup(const struct agent_peer_maps *m, const char *text, char *id,
                              size_t n, char *why, size_t whylen);
/* Reads /proc/PID/cgroup (proc given for tests: "/proc"). pid 0 (another PID namespace) is
 * refused. MB_ESYS (gone), MB_EINVAL; why says which. */
int agent_peer_id(const struct agent_peer_maps *m, const char *proc, uint64_t pid, char *id,
                  size_t n, char *why, size_t whylen);
/* 0 when agentd can see its peers' pids: it runs in the initial PID namespace and proc is
 * that namespace's. MB_EINVAL, MB_ESYS with err. Start-up. */
int agent_peer_check_pidns(const char *proc, char *err, size_t errlen);
/* The verdict on each ingest pipe, taken when it connected: its id, or why it has none. Any
 * thread. put: MB_ENOMEM. get: 0 (out = id), MB_EINVAL (out = why), MB_EDOWN (unknown pipe). */
struct agent_peer_table;
int agent_peer_table_new(struct agent_peer_table **out);
void agent_peer_table_free(struct agent_peer_table *t);
int agent_peer_table_put(struct agent_peer_table *t, uint32_t pipe, bool ok, const char *text);
int agent_peer_table_get(struct agent_peer_table *t, uint32_t pipe, char *out, size_t n);
void agent_peer_table_del(struct agent_peer_table *t, uint32_t pipe);
/* 1 when url is ipc://. */
int agent_url_is_ipc(const char *url);

#endif
