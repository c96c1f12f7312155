/* main.c: metricsbus-agentd: flags, start-up order (lock, store, writer, listeners, READY),
 * the main loop (signals, node and self metrics, upkeep, watchdogs) and a draining shutdown. */
#include <errno.h>
#include <nng/nng.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "agentd.h"
#include "mapping.h"
#include "rw.h"

#define INGEST_CONTEXTS 64
#define QUERY_WORKERS 4
#define MAINTAIN_MS 30000
#define DRAIN_MS 10000

struct own_job {
	struct agent_job j;
};

static void own_done(struct agent_job *j, uint32_t status, const char *err)
{
	if (status == MB_ACK_REJECTED || status == MB_ACK_RETRY)
		mb_log_debug("own %s batch not stored: %s", j->batch->container_id, err);
	if (strcmp(j->batch->container_id, "agentd") == 0)
		agent_self_done(status == MB_ACK_OK || status == MB_ACK_DUP);
	agent_batch_destroy(j->batch);
	free(j);
}

/* Hands one of agentd's own batches to the writer; it owns it from here. */
static void push_own(struct agent_writer *w, struct mb_batch *b)
{
	struct own_job *oj = calloc(1, sizeof *oj);
	if (!oj) {
		if (strcmp(b->container_id, "agentd") == 0)
			agent_self_done(false);
		agent_batch_destroy(b);
		return;
	}
	oj->j.batch = b;
	oj->j.own = true;
	oj->j.done = own_done;
	oj->j.arg = oj;
	if (agent_writer_push(w, &oj->j) != 0)
		own_done(&oj->j, MB_ACK_RETRY, "queue full");
}

/* After a reboot the Mesos agent registers under a new id, and only then points
 * meta/slaves/latest at it: until then the link names the old id. So the id is read again at
 * every node collection, and a new one replaces the old everywhere: as the node's id (mesos_id)
 * without --node-id, else as the second id pings list. Main thread. Nonzero once it stops
 * following (too many changes, or out of memory). */
static char *seen_ids[64];
static int nseen;

static int mesos_follow(const char *work_dir, bool by_flag, const char **cur,
                        struct agent_store *st, struct agent_qsvc *q, struct agent_node *node)
{
	char id[MB_MAX_NAME + 1];
	if (agent_mesos_agent_id(work_dir, id, sizeof id) != 0 || (*cur && strcmp(id, *cur) == 0))
		return 0;
	if (nseen == (int)(sizeof seen_ids / sizeof seen_ids[0]) ||
	    !(seen_ids[nseen] = strdup(id))) {
		mb_log_warnx("Mesos agent id changed too often: keeping %s", *cur ? *cur : "none");
		return MB_ETOOBIG;
	}
	mb_log_info("Mesos agent id is now %s (was %s)", id, *cur ? *cur : "unknown");
	*cur = seen_ids[nseen++];
	if (by_flag) {
		agent_qsvc_set_agent_id(q, *cur);
		return 0;
	}
	agent_store_set_node_id(st, *cur);
	agent_qsvc_set_node_id(q, *cur);
	return agent_node_set_id(node, *cur);
}

static uint64_t random_instance(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
		v = (uint64_t)mb_now_ms() ^ ((uint64_t)getpid() << 32);
	/* Two ids (node, self): keep both non-zero. */
	v &= ~(uint64_t)1;
	return v ? v : 2;
}

/* SIGHUP: the mapping file again; a bad one keeps the rules in force. */
static void reload_mapping(const char *path)
{
	char err[512];
	struct agent_mapping *mp = NULL;
	if (!path || !*path) {
		mb_log_info("HUP: no --mapping to reload");
		return;
	}
	if (agent_mapping_load(path, &mp, err, sizeof err) != 0) {
		atomic_fetch_add_explicit(&agent_ctr.map_reload_failed, 1, memory_order_relaxed);
		mb_log_error("HUP: mapping %s not reloaded, the rules loaded before stay: %s", path,
		             err);
		return;
	}
	agent_mapping_install(mp);
	mb_log_info("HUP: mapping: %d rules from %s", agent_mapping_nrules(mp), path);
}

static bool label_name_ok(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9') || (n >= 2 && s[0] == '_' && s[1] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* The remote-write flags, checked at start-up so a typo fails now, not at the first send. */
static void check_remote_write(const struct mb_prog *prog, const struct mb_strlist *urls,
                               struct mb_strlist *labels, struct mb_kv *kv, const char *token,
                               int64_t interval, int64_t settle, int64_t timeout)
{
	for (int i = 0; i < urls->n; i++) {
		const char *u = urls->v[i];
		if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
			mb_usage_error(prog, "--remote-write %s: not an http:// or https:// URL", u);
		if (strlen(u) > 400)
			mb_usage_error(prog, "--remote-write: URL longer than 400 characters");
		for (int j = 0; j < i; j++)
			if (strcmp(urls->v[j], u) == 0)
				mb_usage_error(prog, "--remote-write %s given twice", u);
	}
	for (int i = 0; i < labels->n; i++) {
		const char *l = labels->v[i], *eq = strchr(l, '=');
		if (!eq || !label_name_ok(l, (size_t)(eq - l)) || !eq[1])
			mb_usage_error(prog, "--remote-write-label %s: want KEY=VALUE, KEY a Prometheus "
			                     "label name ([a-zA-Z_][a-zA-Z0-9_]*, not __*), VALUE not empty",
			               l);
		char *key = strndup(l, (size_t)(eq - l));
		if (!key)
			mb_fatalx("out of memory");
		if (!strcmp(key, "job") || !strcmp(key, "instance") || !strcmp(key, "le") ||
		    !strcmp(key, "quantile"))
			mb_usage_error(prog, "--remote-write-label %s: %s is set by agentd", l, key);
		kv[i].key = key; /* lives as long as the process */
		kv[i].val = eq + 1;
	}
	if (token && access(token, R_OK) != 0)
		mb_usage_error(prog, "--remote-write-token-file %s: cannot read it", token);
	if (interval < 100)
		mb_usage_error(prog, "--remote-write-interval must be at least 100ms");
	if (settle < 0 || timeout < 100)
		mb_usage_error(prog, "--remote-write-settle must be >= 0 and --remote-write-timeout "
		                     ">= 100ms");
}

/* The flags, and what start-up derives from them (main thread). */
struct config {
	char def_ingest[512], def_query[512], def_data[512], hostname[256];
	char mesos_id[MB_MAX_NAME + 1];
	const char *ingest_url, *query_url, *data_dir, *retention;
	const char *node_id, *cluster_id, *hostname_flag, *mesos_work_dir, *backup_dir;
	const char *mapping_file, *rw_token;
	int64_t container_ttl, node_interval, max_series;
	uint64_t max_size;
	bool verify_peer, rw_hist;
	struct mb_strlist peer_maps, rw_urls, rw_labels;
	int64_t rw_interval, rw_res, rw_behind, rw_settle, rw_timeout;
	struct mb_flag flags[32];
	struct mb_prog prog;
	/* derived */
	struct agent_store_opts so;
	struct agent_peer_maps maps;
	struct mb_kv rw_kv[64];
	bool by_flag;          /* --node-id given: a Mesos agent id is answered beside it */
	const char *mesos_cur; /* the Mesos agent id in force (mesos_follow) */
};

/* What runs, in start-up order. */
struct daemon {
	sigset_t sigs;
	struct agent_lock *lk_ingest, *lk_query;
	struct agent_store *st;
	struct agent_writer *w;
	struct agent_ingest *in;
	struct agent_qsvc *q;
	struct agent_node *node;
	struct agent_rw *rw;
	uint64_t inst, self_seq;
};

/* The defaults, the flag table and --help's words; exits on a usage error. */
static void parse_flags(struct config *c, int argc, char **argv)
{
	int npos;
	if (mb_default_ingest_url(c->def_ingest, sizeof c->def_ingest) != 0 ||
	    mb_default_query_url(c->def_query, sizeof c->def_query) != 0 ||
	    mb_default_data_dir(c->def_data, sizeof c->def_data) != 0) {
		fprintf(stderr, "metricsbus-agentd: error: default paths too long\n");
		exit(2);
	}
	c->ingest_url = c->def_ingest;
	c->query_url = c->def_query;
	c->data_dir = c->def_data;
	c->retention = MB_DEFAULT_RETENTION;
	c->mesos_work_dir = "/var/lib/mesos/slave";
	c->container_ttl = 120000;
	c->node_interval = 10000;
	c->max_series = 10000;
	c->max_size = 8ull << 30;
	c->rw_interval = 10000;
	c->rw_behind = 3600000;
	c->rw_settle = 30000;
	c->rw_timeout = 30000;
	const struct mb_flag flags[] = {
		{"data-dir", MB_FLAG_STR, &c->data_dir, "DIR", "LMDB store directory", false},
		{"ingest", MB_FLAG_STR, &c->ingest_url, "URL", "where shims send batches", false},
		{"query", MB_FLAG_STR, &c->query_url, "URL", "where the api and CLI ask", false},
		{"retention", MB_FLAG_STR, &c->retention, "SPEC",
		 "rolling windows RES:SPAN,...", false},
		{"node-interval", MB_FLAG_DURATION, &c->node_interval, "DURATION",
		 "node metrics period", false},
		{"max-size", MB_FLAG_SIZE, &c->max_size, "SIZE", "cap of the store", false},
		{"max-series-per-source", MB_FLAG_INT, &c->max_series, "N",
		 "series one container may create", false},
		{"node-id", MB_FLAG_STR, &c->node_id, "ID", "this node's id (mesos_id)", false},
		{"cluster-id", MB_FLAG_STR, &c->cluster_id, "ID", "the cluster's id (cluster_id)",
		 false},
		{"hostname", MB_FLAG_STR, &c->hostname_flag, "NAME",
		 "the hostname dimension", false},
		{"mesos-work-dir", MB_FLAG_STR, &c->mesos_work_dir, "DIR",
		 "Mesos agent work dir: its agent id (meta/slaves/latest) is mesos_id",
		 false},
		{"container-ttl", MB_FLAG_DURATION, &c->container_ttl, "DURATION",
		 "how long a stopped container stays listed and served", false},
		{"verify-peer", MB_FLAG_BOOL, &c->verify_peer, NULL,
		 "take container identity from the sender's cgroup (ipc only)", false},
		{"backup-dir", MB_FLAG_STR, &c->backup_dir, "DIR",
		 "where backup may write (under it only); without it backups are refused", false},
		{"peer-map", MB_FLAG_LIST, &c->peer_maps, "CGROUP=ID|CGROUP/*",
		 "--verify-peer: an id for cgroups no runtime layout names", false},
		{"mapping", MB_FLAG_STR, &c->mapping_file, "FILE",
		 "statsd_exporter mapping rules (YAML), applied at ingest; SIGHUP reloads", false},
		{"remote-write", MB_FLAG_LIST, &c->rw_urls, "URL",
		 "ship every series to this Prometheus remote-write receiver (repeatable)", false},
		{"remote-write-interval", MB_FLAG_DURATION, &c->rw_interval, "DURATION",
		 "how often settled slots are shipped", false},
		{"remote-write-resolution", MB_FLAG_DURATION, &c->rw_res, "DURATION",
		 "which window's slots to ship (0: the finest)", false},
		{"remote-write-label", MB_FLAG_LIST, &c->rw_labels, "KEY=VALUE",
		 "an external label on every shipped series (repeatable)", false},
		{"remote-write-token-file", MB_FLAG_STR, &c->rw_token, "FILE",
		 "send 'Authorization: Bearer' with the token in FILE (re-read per request)", false},
		{"remote-write-max-behind", MB_FLAG_DURATION, &c->rw_behind, "DURATION",
		 "how far back to backfill after an outage; older slots are dropped",
		 false},
		{"remote-write-settle", MB_FLAG_DURATION, &c->rw_settle, "DURATION",
		 "how long after its end a slot is shipped: shims' flush + resend",
		 false},
		{"remote-write-timeout", MB_FLAG_DURATION, &c->rw_timeout, "DURATION",
		 "longest a remote-write request may take", false},
		{"remote-write-histograms", MB_FLAG_BOOL, &c->rw_hist, NULL,
		 "ship timers as histograms (the buckets of the api's --prometheus-histograms)",
		 false},
	};
	_Static_assert(sizeof flags <= sizeof c->flags, "config.flags holds the table");
	memcpy(c->flags, flags, sizeof flags);
	static const char *const doc_defaults[] = {
		"data-dir", "/var/lib/metricsbus as root, else $XDG_STATE_HOME/metricsbus",
		"ingest", "ipc://RUNDIR/ingest.sock", "query", "ipc://RUNDIR/query.sock",
		"hostname", "DC/OS's detect_ip, else the host name", NULL};
	c->prog = (struct mb_prog){
		.name = "metricsbus-agentd",
		.component = "agentd",
		.synopsis = "[FLAGS]",
		.doc_defaults = doc_defaults,
		.about = "The node daemon: takes acknowledged batches from shims, keeps rolling "
		         "windows in LMDB, collects node metrics and answers queries.",
		.flags = c->flags,
		.nflags = (int)(sizeof flags / sizeof flags[0]),
	};
	mb_flags_parse(&c->prog, argc, argv, &npos);
	if (npos > 0)
		mb_usage_error(&c->prog, "unexpected argument '%s'", argv[0]);
}

/* The flags' values checked (a usage error exits), and the mapping file loaded. */
static void check_flags(struct config *c)
{
	char err[512];
	const struct mb_prog *prog = &c->prog;
	if (mb_parse_retention(c->retention, c->so.levels, &c->so.nlevels, err, sizeof err) != 0)
		mb_usage_error(prog, "--retention %s: %s", c->retention, err);
	if (c->node_interval < 100)
		mb_usage_error(prog, "--node-interval must be at least 100ms");
	if (c->max_series <= 0)
		mb_usage_error(prog, "--max-series-per-source must be above 0");
	if (c->max_size < (1u << 20))
		mb_usage_error(prog, "--max-size must be at least 1MiB");
	if (c->verify_peer && !agent_url_is_ipc(c->ingest_url))
		mb_usage_error(prog, "--verify-peer needs an ipc:// --ingest URL (tcp has no peer "
		                     "process to check): %s", c->ingest_url);
	for (int i = 0; i < c->peer_maps.n; i++)
		if (agent_peer_map_add(&c->maps, c->peer_maps.v[i], err, sizeof err) != 0)
			mb_usage_error(prog, "--peer-map %s", err);
	if (c->verify_peer && agent_peer_check_pidns("/proc", err, sizeof err) != 0)
		mb_usage_error(prog, "%s", err);
	if (strcmp(c->ingest_url, c->query_url) == 0)
		mb_usage_error(prog, "--ingest and --query must differ");
	if (c->container_ttl < 0)
		mb_usage_error(prog, "--container-ttl must not be negative");
	if (c->mapping_file && *c->mapping_file) {
		struct agent_mapping *mp = NULL;
		if (agent_mapping_load(c->mapping_file, &mp, err, sizeof err) != 0)
			mb_usage_error(prog, "--mapping %s: %s", c->mapping_file, err);
		agent_mapping_install(mp);
		mb_log_info("mapping: %d rules from %s", agent_mapping_nrules(mp), c->mapping_file);
	}
}

/* The node's names: the hostname dimension, and on a Mesos agent its id, which is the node's
 * id (mesos_id) unless --node-id names it; the agent-scoped paths the dcos CLI calls answer to
 * it either way. Read again at every node collection (mesos_follow). */
static void find_identity(struct config *c)
{
	if (c->hostname_flag && *c->hostname_flag)
		snprintf(c->hostname, sizeof c->hostname, "%s", c->hostname_flag);
	else
		agent_detect_hostname("/opt/mesosphere/bin/detect_ip", c->hostname,
		                      sizeof c->hostname);
	c->by_flag = c->node_id && *c->node_id;
	int rv = agent_mesos_agent_id(c->mesos_work_dir, c->mesos_id, sizeof c->mesos_id);
	if (rv == 0) {
		c->mesos_cur = c->mesos_id;
		if (!c->by_flag)
			c->node_id = c->mesos_id;
		mb_log_info("Mesos agent id %s (from %s/meta/slaves/latest)%s", c->mesos_id,
		            c->mesos_work_dir, c->by_flag ? ", answered beside --node-id" : "");
	} else if (rv != MB_ESYS || errno != ENOENT) {
		mb_log_warnx("no Mesos agent id in %s/meta/slaves/latest: %s", c->mesos_work_dir,
		             mb_strerror(rv));
	}
}

/* Signals masked, the sockets' locks, the store, the writer, the listeners, node metrics and
 * remote write, in that order; any failure is fatal. */
static void start(struct config *c, struct daemon *d)
{
	char err[512];
	int rv;
	/* Every thread nng starts inherits this mask: signals reach only the sigtimedwait in
	 * run(). */
	sigemptyset(&d->sigs);
	sigaddset(&d->sigs, SIGTERM);
	sigaddset(&d->sigs, SIGINT);
	sigaddset(&d->sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &d->sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (agent_lock_url(c->ingest_url, &d->lk_ingest, err, sizeof err) != 0 ||
	    agent_lock_url(c->query_url, &d->lk_query, err, sizeof err) != 0)
		mb_fatalx("%s", err);
	if (agent_own_store(c->data_dir, err, sizeof err) != 0)
		mb_fatalx("%s", err);
	if (c->backup_dir && agent_backup_dir_set(c->backup_dir, err, sizeof err) != 0)
		mb_fatalx("%s", err);
	struct agent_store_opts *so = &c->so;
	so->dir = c->data_dir;
	so->retention = c->retention;
	so->max_size = c->max_size;
	so->max_series_per_source = (uint64_t)c->max_series;
	so->hostname = c->hostname;
	so->node_id = c->node_id;
	so->cluster_id = c->cluster_id;
	so->live_ms = 5 * 60 * 1000;
	so->container_ttl_ms = c->container_ttl;
	if ((rv = agent_store_open(so, &d->st, err, sizeof err)) != 0)
		mb_fatalx("cannot open the store in %s: %s", c->data_dir,
		          err[0] ? err : mb_strerror(rv));

	if ((rv = agent_writer_start(d->st, INGEST_CONTEXTS * 4, &d->w)) != 0)
		mb_fatalx("cannot start the writer: %s", mb_strerror(rv));
	struct agent_ingest_opts io = {.url = c->ingest_url,
	                               .nctx = INGEST_CONTEXTS,
	                               .verify_peer = c->verify_peer,
	                               .maps = &c->maps};
	if ((rv = agent_ingest_start(&io, d->w, &d->in)) != 0)
		mb_fatalx("cannot listen on %s: %s", c->ingest_url, mb_strerror(rv));
	if ((rv = agent_qsvc_start(c->query_url, QUERY_WORKERS, d->st, c->node_id, &d->q)) != 0)
		mb_fatalx("cannot listen on %s: %s", c->query_url, mb_strerror(rv));
	if (c->by_flag)
		agent_qsvc_set_agent_id(d->q, c->mesos_cur);

	d->inst = random_instance();
	struct agent_node_opts no = {.proc = "/proc",
	                             .hostname = c->hostname,
	                             .node_id = c->node_id,
	                             .cluster_id = c->cluster_id,
	                             .instance = d->inst};
	if ((rv = agent_node_open(&no, &d->node)) != 0)
		mb_fatalx("cannot start node metrics: %s", mb_strerror(rv));
	if (c->rw_urls.n > 0) {
		struct agent_rw_opts ro = {.nurls = c->rw_urls.n,
		                           .urls = c->rw_urls.v,
		                           .interval_ms = c->rw_interval,
		                           .res_ms = c->rw_res,
		                           .max_behind_ms = c->rw_behind,
		                           .settle_ms = c->rw_settle,
		                           .live_ms = so->live_ms,
		                           .timeout_ms = c->rw_timeout,
		                           .nlabels = c->rw_labels.n,
		                           .labels = c->rw_kv,
		                           .token_file = c->rw_token,
		                           .instance = c->hostname,
		                           .data_dir = c->data_dir,
		                           .hist = c->rw_hist};
		if ((rv = agent_rw_start(&ro, d->st, &d->rw, err, sizeof err)) != 0)
			mb_fatalx("remote write: %s", err);
	}
}

/* One node collection: the Mesos agent id again, node metrics and agentd's own. */
static void collect(struct config *c, struct daemon *d, bool *follow_mesos)
{
	int64_t wall = mb_now_ms();
	if (*follow_mesos &&
	    mesos_follow(c->mesos_work_dir, c->by_flag, c->by_flag ? &c->mesos_cur : &c->node_id,
	                 d->st, d->q, d->node) != 0)
		*follow_mesos = false;
	struct mb_batch *b = NULL;
	if (agent_node_collect(d->node, wall, c->node_interval, &b) == 0)
		push_own(d->w, b);
	b = NULL;
	if (agent_self_collect(d->st, d->inst + 1, ++d->self_seq, wall, c->node_interval,
	                       c->hostname, &b) == 0)
		push_own(d->w, b);
}

/* The main loop until TERM or INT (0) or a broken store (1): node collections, upkeep, the
 * systemd watchdog, SIGHUP's mapping reload. */
static int run(struct config *c, struct daemon *d)
{
	int64_t wd_ms = mb_watchdog_ms();
	int64_t now = mb_mono_ms();
	int64_t next_node = now, next_maintain = now + MAINTAIN_MS, next_wd = now;
	bool follow_mesos = true;
	for (;;) {
		now = mb_mono_ms();
		if (now >= next_node) {
			collect(c, d, &follow_mesos);
			next_node += c->node_interval;
			if (next_node <= now)
				next_node = now + c->node_interval;
		}
		if (now >= next_maintain) {
			agent_store_maintain(d->st);
			next_maintain = now + MAINTAIN_MS;
		}
		if (wd_ms > 0 && now >= next_wd) {
			/* A writer stuck in a commit (hung disk) is what the watchdog is for: stop
			 * vouching for the daemon and let systemd restart it. */
			int64_t stalled = agent_writer_stalled_ms(d->w);
			if (stalled < wd_ms)
				mb_notify("WATCHDOG=1");
			else
				mb_log_error("writer stalled for %lld ms: withholding WATCHDOG=1",
				             (long long)stalled);
			next_wd = now + wd_ms / 2;
		}
		if (agent_writer_broken(d->w)) {
			mb_log_error("the store is unusable: stopping");
			return 1;
		}

		int64_t wait = 1000;
		if (next_node - now < wait)
			wait = next_node - now;
		if (wd_ms > 0 && next_wd - now < wait)
			wait = next_wd - now;
		if (wait < 1)
			wait = 1;
		struct timespec ts = {.tv_sec = wait / 1000, .tv_nsec = (wait % 1000) * 1000000};
		int sig = sigtimedwait(&d->sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			mb_log_info("%s: draining and stopping", sig == SIGTERM ? "TERM" : "INT");
			return 0;
		} else if (sig == SIGHUP) {
			reload_mapping(c->mapping_file);
		}
	}
}

/* Draining shutdown: no new batches, the queued ones committed and answered, then the rest
 * in reverse start-up order. */
static void stop_all(struct daemon *d)
{
	mb_notify("STOPPING=1");
	agent_rw_stop(d->rw);
	agent_ingest_quiesce(d->in, DRAIN_MS);
	agent_writer_stop(d->w);
	agent_ingest_close(d->in);
	agent_qsvc_stop(d->q);
	agent_node_close(d->node);
	agent_store_close(d->st);
	agent_lock_release(d->lk_query);
	agent_lock_release(d->lk_ingest);
	for (int i = 0; i < nseen; i++)
		free(seen_ids[i]);
}

int main(int argc, char **argv)
{
	static struct config c;
	static struct daemon d;
	parse_flags(&c, argc, argv);
	check_flags(&c);
	find_identity(&c);
	check_remote_write(&c.prog, &c.rw_urls, &c.rw_labels, c.rw_kv, c.rw_token, c.rw_interval,
	                   c.rw_settle, c.rw_timeout);
	if (!c.rw_res)
		c.rw_res = c.so.levels[0].res_ms;
	start(&c, &d);
	mb_notify("READY=1");
	mb_log_info("ready: ingest %s, query %s, store %s, retention %s", c.ingest_url,
	            c.query_url, c.data_dir, c.retention);
	int exit_code = run(&c, &d);
	stop_all(&d);
	mb_log_info("stopped");
	return exit_code;
}
