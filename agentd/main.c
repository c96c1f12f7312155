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

int main(int argc, char **argv)
{
	char def_ingest[512], def_query[512], def_data[512], err[512], hostname[256] = "";
	const char *ingest_url, *query_url, *data_dir, *retention = MB_DEFAULT_RETENTION;
	const char *node_id = NULL, *cluster_id = NULL, *hostname_flag = NULL;
	const char *mesos_work_dir = "/var/lib/mesos/slave";
	int64_t container_ttl = 120000;
	char mesos_id[MB_MAX_NAME + 1] = "";
	int64_t node_interval = 10000, max_series = 10000;
	uint64_t max_size = 8ull << 30;
	bool verify_peer = false;
	struct mb_strlist peer_maps = {0};
	const char *backup_dir = NULL;
	static struct agent_peer_maps maps;
	const char *mapping_file = NULL;
	int npos, rv, exit_code = 0;
	struct mb_strlist rw_urls = {0}, rw_labels = {0};
	const char *rw_token = NULL;
	int64_t rw_interval = 10000, rw_res = 0, rw_behind = 3600000, rw_settle = 30000,
	        rw_timeout = 30000;
	bool rw_hist = false;

	if (mb_default_ingest_url(def_ingest, sizeof def_ingest) != 0 ||
	    mb_default_query_url(def_query, sizeof def_query) != 0 ||
	    mb_default_data_dir(def_data, sizeof def_data) != 0) {
		fprintf(stderr, "metricsbus-agentd: error: default paths too long\n");
		return 2;
	}
	ingest_url = def_ingest;
	query_url = def_query;
	data_dir = def_data;
	struct mb_flag flags[] = {
		{"data-dir", MB_FLAG_STR, &data_dir, "DIR", "LMDB store directory", false},
		{"ingest", MB_FLAG_STR, &ingest_url, "URL", "where shims send batches", false},
		{"query", MB_FLAG_STR, &query_url, "URL", "where the api and CLI ask", false},
		{"retention", MB_FLAG_STR, &retention, "SPEC",
		 "rolling windows RES:SPAN,...", false},
		{"node-interval", MB_FLAG_DURATION, &node_interval, "DURATION",
		 "node metrics period", false},
		{"max-size", MB_FLAG_SIZE, &max_size, "SIZE", "cap of the store", false},
		{"max-series-per-source", MB_FLAG_INT, &max_series, "N",
		 "series one container may create", false},
		{"node-id", MB_FLAG_STR, &node_id, "ID", "this node's id (mesos_id)", false},
		{"cluster-id", MB_FLAG_STR, &cluster_id, "ID", "the cluster's id (cluster_id)", false},
		{"hostname", MB_FLAG_STR, &hostname_flag, "NAME",
		 "the hostname dimension", false},
		{"mesos-work-dir", MB_FLAG_STR, &mesos_work_dir, "DIR",
		 "Mesos agent work dir: its agent id (meta/slaves/latest) is mesos_id",
		 false},
		{"container-ttl", MB_FLAG_DURATION, &container_ttl, "DURATION",
		 "how long a stopped container stays listed and served", false},
		{"verify-peer", MB_FLAG_BOOL, &verify_peer, NULL,
		 "take container identity from the sender's cgroup (ipc only)", false},
		{"backup-dir", MB_FLAG_STR, &backup_dir, "DIR",
		 "where backup may write (under it only); without it backups are refused", false},
		{"peer-map", MB_FLAG_LIST, &peer_maps, "CGROUP=ID|CGROUP/*",
		 "--verify-peer: an id for cgroups no runtime layout names", false},
		{"mapping", MB_FLAG_STR, &mapping_file, "FILE",
		 "statsd_exporter mapping rules (YAML), applied at ingest; SIGHUP reloads", false},
		{"remote-write", MB_FLAG_LIST, &rw_urls, "URL",
		 "ship every series to this Prometheus remote-write receiver (repeatable)", false},
		{"remote-write-interval", MB_FLAG_DURATION, &rw_interval, "DURATION",
		 "how often settled slots are shipped", false},
		{"remote-write-resolution", MB_FLAG_DURATION, &rw_res, "DURATION",
		 "which window's slots to ship (0: the finest)", false},
		{"remote-write-label", MB_FLAG_LIST, &rw_labels, "KEY=VALUE",
		 "an external label on every shipped series (repeatable)", false},
		{"remote-write-token-file", MB_FLAG_STR, &rw_token, "FILE",
		 "send 'Authorization: Bearer' with the token in FILE (re-read per request)", false},
		{"remote-write-max-behind", MB_FLAG_DURATION, &rw_behind, "DURATION",
		 "how far back to backfill after an outage; older slots are dropped",
		 false},
		{"remote-write-settle", MB_FLAG_DURATION, &rw_settle, "DURATION",
		 "how long after its end a slot is shipped: shims' flush + resend",
		 false},
		{"remote-write-timeout", MB_FLAG_DURATION, &rw_timeout, "DURATION",
		 "longest a remote-write request may take", false},
		{"remote-write-histograms", MB_FLAG_BOOL, &rw_hist, NULL,
		 "ship timers as histograms (the buckets of the api's --prometheus-histograms)",
		 false},
	};
	struct mb_prog prog = {
		.name = "metricsbus-agentd",
		.component = "agentd",
		.synopsis = "[FLAGS]",
		.doc_defaults = (const char *const[]){"data-dir", "/var/lib/metricsbus as root, "
		                "else $XDG_STATE_HOME/metricsbus", "ingest", "ipc://RUNDIR/ingest.sock",
		                "query", "ipc://RUNDIR/query.sock", "hostname",
		                "DC/OS's detect_ip, else the host name", NULL},
		.about = "The node daemon: takes acknowledged batches from shims, keeps rolling "
		         "windows in LMDB, collects node metrics and answers queries.",
		.flags = flags,
		.nflags = (int)(sizeof flags / sizeof flags[0]),
	};
	mb_flags_parse(&prog, argc, argv, &npos);
	if (npos > 0)
		mb_usage_error(&prog, "unexpected argument '%s'", argv[0]);

	struct agent_store_opts so;
	memset(&so, 0, sizeof so);
	if (mb_parse_retention(retention, so.levels, &so.nlevels, err, sizeof err) != 0)
		mb_usage_error(&prog, "--retention %s: %s", retention, err);
	if (node_interval < 100)
		mb_usage_error(&prog, "--node-interval must be at least 100ms");
	if (max_series <= 0)
		mb_usage_error(&prog, "--max-series-per-source must be above 0");
	if (max_size < (1u << 20))
		mb_usage_error(&prog, "--max-size must be at least 1MiB");
	if (verify_peer && !agent_url_is_ipc(ingest_url))
		mb_usage_error(&prog, "--verify-peer needs an ipc:// --ingest URL (tcp has no peer "
		                      "process to check): %s", ingest_url);
	for (int i = 0; i < peer_maps.n; i++)
		if (agent_peer_map_add(&maps, peer_maps.v[i], err, sizeof err) != 0)
			mb_usage_error(&prog, "--peer-map %s", err);
	if (verify_peer && agent_peer_check_pidns("/proc", err, sizeof err) != 0)
		mb_usage_error(&prog, "%s", err);
	if (strcmp(ingest_url, query_url) == 0)
		mb_usage_error(&prog, "--ingest and --query must differ");
	if (container_ttl < 0)
		mb_usage_error(&prog, "--container-ttl must not be negative");
	if (mapping_file && *mapping_file) {
		struct agent_mapping *mp = NULL;
		if (agent_mapping_load(mapping_file, &mp, err, sizeof err) != 0)
			mb_usage_error(&prog, "--mapping %s: %s", mapping_file, err);
		agent_mapping_install(mp);
		mb_log_info("mapping: %d rules from %s", agent_mapping_nrules(mp), mapping_file);
	}
	if (hostname_flag && *hostname_flag)
		snprintf(hostname, sizeof hostname, "%s", hostname_flag);
	else
		agent_detect_hostname("/opt/mesosphere/bin/detect_ip", hostname, sizeof hostname);
	/* On a Mesos agent, its id is the node's id (mesos_id) unless --node-id names it, and the
	 * agent-scoped paths the dcos CLI calls answer to it either way. Read again at every node
	 * collection (mesos_follow). */
	bool by_flag = node_id && *node_id, follow_mesos = true;
	const char *mesos_cur = NULL;
	rv = agent_mesos_agent_id(mesos_work_dir, mesos_id, sizeof mesos_id);
	if (rv == 0) {
		mesos_cur = mesos_id;
		if (!by_flag)
			node_id = mesos_id;
		mb_log_info("Mesos agent id %s (from %s/meta/slaves/latest)%s", mesos_id,
		            mesos_work_dir, by_flag ? ", answered beside --node-id" : "");
	} else if (rv != MB_ESYS || errno != ENOENT) {
		mb_log_warnx("no Mesos agent id in %s/meta/slaves/latest: %s", mesos_work_dir,
		             mb_strerror(rv));
	}
	struct mb_kv rw_kv[64];
	check_remote_write(&prog, &rw_urls, &rw_labels, rw_kv, rw_token, rw_interval, rw_settle,
	                   rw_timeout);
	if (!rw_res)
		rw_res = so.levels[0].res_ms;

	/* Every thread nng starts inherits this mask: signals reach only the sigtimedwait below. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct agent_lock *lk_ingest = NULL, *lk_query = NULL;
	if (agent_lock_url(ingest_url, &lk_ingest, err, sizeof err) != 0 ||
	    agent_lock_url(query_url, &lk_query, err, sizeof err) != 0)
		mb_fatalx("%s", err);

	if (agent_own_store(data_dir, err, sizeof err) != 0)
		mb_fatalx("%s", err);
	if (backup_dir && agent_backup_dir_set(backup_dir, err, sizeof err) != 0)
		mb_fatalx("%s", err);
	so.dir = data_dir;
	so.retention = retention;
	so.max_size = max_size;
	so.max_series_per_source = (uint64_t)max_series;
	so.hostname = hostname;
	so.node_id = node_id;
	so.cluster_id = cluster_id;
	so.live_ms = 5 * 60 * 1000;
	so.container_ttl_ms = container_ttl;
	struct agent_store *st = NULL;
	if ((rv = agent_store_open(&so, &st, err, sizeof err)) != 0)
		mb_fatalx("cannot open the store in %s: %s", data_dir, err[0] ? err : mb_strerror(rv));

	struct agent_writer *w = NULL;
	if ((rv = agent_writer_start(st, INGEST_CONTEXTS * 4, &w)) != 0)
		mb_fatalx("cannot start the writer: %s", mb_strerror(rv));
	struct agent_ingest_opts io = {
		.url = ingest_url, .nctx = INGEST_CONTEXTS, .verify_peer = verify_peer, .maps = &maps};
	struct agent_ingest *in = NULL;
	if ((rv = agent_ingest_start(&io, w, &in)) != 0)
		mb_fatalx("cannot listen on %s: %s", ingest_url, mb_strerror(rv));
	struct agent_qsvc *q = NULL;
	if ((rv = agent_qsvc_start(query_url, QUERY_WORKERS, st, node_id, &q)) != 0)
		mb_fatalx("cannot listen on %s: %s", query_url, mb_strerror(rv));
	if (by_flag)
		agent_qsvc_set_agent_id(q, mesos_cur);

	uint64_t inst = random_instance(), self_seq = 0;
	struct agent_node_opts no = {.proc = "/proc",
	                             .hostname = hostname,
	                             .node_id = node_id,
	                             .cluster_id = cluster_id,
	                             .instance = inst};
	struct agent_node *node = NULL;
	if ((rv = agent_node_open(&no, &node)) != 0)
		mb_fatalx("cannot start node metrics: %s", mb_strerror(rv));

	struct agent_rw *rw = NULL;
	if (rw_urls.n > 0) {
		struct agent_rw_opts ro = {.nurls = rw_urls.n,
		                           .urls = rw_urls.v,
		                           .interval_ms = rw_interval,
		                           .res_ms = rw_res,
		                           .max_behind_ms = rw_behind,
		                           .settle_ms = rw_settle,
		                           .live_ms = so.live_ms,
		                           .timeout_ms = rw_timeout,
		                           .nlabels = rw_labels.n,
		                           .labels = rw_kv,
		                           .token_file = rw_token,
		                           .instance = hostname,
		                           .data_dir = data_dir,
		                           .hist = rw_hist};
		if ((rv = agent_rw_start(&ro, st, &rw, err, sizeof err)) != 0)
			mb_fatalx("remote write: %s", err);
	}

	mb_notify("READY=1");
	mb_log_info("ready: ingest %s, query %s, store %s, retention %s", ingest_url, query_url,
	            data_dir, retention);

	int64_t wd_ms = mb_watchdog_ms();
	int64_t now = mb_mono_ms();
	int64_t next_node = now, next_maintain = now + MAINTAIN_MS, next_wd = now;
	bool stop = false;
	while (!stop) {
		now = mb_mono_ms();
		if (now >= next_node) {
			int64_t wall = mb_now_ms();
			if (follow_mesos &&
			    mesos_follow(mesos_work_dir, by_flag, by_flag ? &mesos_cur : &node_id, st, q,
			                 node) != 0)
				follow_mesos = false;
			struct mb_batch *b = NULL;
			if (agent_node_collect(node, wall, node_interval, &b) == 0)
				push_own(w, b);
			b = NULL;
			if (agent_self_collect(st, inst + 1, ++self_seq, wall, node_interval, hostname,
			                       &b) == 0)
				push_own(w, b);
			next_node += node_interval;
			if (next_node <= now)
				next_node = now + node_interval;
		}
		if (now >= next_maintain) {
			agent_store_maintain(st);
			next_maintain = now + MAINTAIN_MS;
		}
		if (wd_ms > 0 && now >= next_wd) {
			/* A writer stuck in a commit (hung disk) is what the watchdog is for: stop
			 * vouching for the daemon and let systemd restart it. */
			int64_t stalled = agent_writer_stalled_ms(w);
			if (stalled < wd_ms)
				mb_notify("WATCHDOG=1");
			else
				mb_log_error("writer stalled for %lld ms: withholding WATCHDOG=1",
				             (long long)stalled);
			next_wd = now + wd_ms / 2;
		}
		if (agent_writer_broken(w)) {
			mb_log_error("the store is unusable: stopping");
			exit_code = 1;
			break;
		}

		int64_t wait = 1000;
		if (next_node - now < wait)
			wait = next_node - now;
		if (wd_ms > 0 && next_wd - now < wait)
			wait = next_wd - now;
		if (wait < 1)
			wait = 1;
		struct timespec ts = {.tv_sec = wait / 1000, .tv_nsec = (wait % 1000) * 1000000};
		int sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			mb_log_info("%s: draining and stopping", sig == SIGTERM ? "TERM" : "INT");
			stop = true;
		} else if (sig == SIGHUP) {
			reload_mapping(mapping_file);
		}
	}

	mb_notify("STOPPING=1");
	agent_rw_stop(rw);
	agent_ingest_quiesce(in, DRAIN_MS);
	agent_writer_stop(w);
	agent_ingest_close(in);
	agent_qsvc_stop(q);
	agent_node_close(node);
	agent_store_close(st);
	agent_lock_release(lk_query);
	agent_lock_release(lk_ingest);
	for (int i = 0; i < nseen; i++)
		free(seen_ids[i]);
	mb_log_info("stopped");
	return exit_code;
}
