/* main.c: metricsbus-shim: flags and start-up order (socket, signals, child, then nng), the
 * main loop (statsd socket + signalfd), flushes and the final drain. */
#include "shim.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ACK_TIMEOUT_MS 2000

struct shim {
	struct shim_agg *agg;
	struct shim_deliver *dlv;
	struct shim_identity id;
	struct shim_flush fl;
	struct shim_res res;
	struct shim_recv *rx;
	uint64_t inst, seq;
	int64_t flush_ms, last_flush_wall;
	pid_t child;
	bool child_alive;
};

static bool url_ok(const char *u)
{
	static const char *const schemes[] = {"ipc://",  "tcp://",    "tcp4://",
	                                      "tcp6://", "inproc://", "abstract://"};
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		size_t n = strlen(schemes[i]);
		if (strncmp(u, schemes[i], n) == 0 && u[n])
			return true;
	}
	return false;
}

static void push_counter_tagged(struct shim *s, const char *name, uint64_t v, struct mb_kv *tag)
{
	struct mb_record r;
	memset(&r, 0, sizeof r);
	r.kind = MB_COUNTER;
	r.name = name;
	r.value = (double)v;
	r.tags = tag;
	r.ntags = tag ? 1 : 0;
	if (shim_flush_push(&s->fl, &r) != 0)
		mb_log_warnx("out of memory: %s not sent", name);
}

static void push_counter(struct shim *s, const char *name, uint64_t v)
{
	push_counter_tagged(s, name, v, NULL);
}

/* Bad lines by reason, each a series of its own; sent for the intervals that had some. */
static void push_parse_errors(struct shim *s, const struct shim_stats *st)
{
	static struct mb_kv reason[SHIM_BAD_N];
	for (int i = 1; i < SHIM_BAD_N; i++) {
		uint64_t v = i == SHIM_BAD_TRUNCATED ? st->truncated : st->parse_errors[i];
		if (!v)
			continue;
		reason[i].key = "reason";
		reason[i].val = shim_bad_names[i];
		push_counter_tagged(s, "metricsbus.shim.parse_errors", v, &reason[i]);
	}
}

/* Encodes the flush's records into batches under MB_MAX_MSG and queues them. */
static void send_batches(struct shim *s, bool stop, int64_t now_wall, uint64_t dropped)
{
	struct mb_batch b;
	memset(&b, 0, sizeof b);
	b.version = MB_SCHEMA_VERSION;
	b.instance = s->inst;
	b.time_ms = now_wall;
	int64_t iv = stop ? now_wall - s->last_flush_wall : s->flush_ms;
	if (iv < 1)
		iv = 1;
	if (iv > 86400000)
		iv = 86400000;
	b.interval_ms = (uint32_t)iv;
	b.container_id = s->id.cid;
	b.ndims = (uint16_t)s->id.ndims;
	b.dims = s->id.dims;

	/* What a batch costs without records, plus slack for the array and count headers. */
	struct mb_buf out = {0};
	size_t base = 64;
	b.seq = UINT64_MAX;
	b.stopped = true;
	if (mb_batch_encode(&b, &out) == 0)
		base += out.len;
	mb_buf_reset(&out);

	uint32_t i = 0;
	do {
		uint32_t start = i;
		size_t sz = base, dec = 0;
		/* Under the wire limit and the decoder's budget for dense sketches and HLLs. */
		while (i < s->fl.n && i - start < MB_MAX_RECORDS) {
			size_t rs = mb_record_size(&s->fl.recs[i]);
			size_t ds = mb_record_decoded_size(&s->fl.recs[i]);
			if (i > start && (sz + rs > MB_MAX_MSG || dec + ds > MB_MAX_DECODED))
				break;
			sz += rs;
			dec += ds;
			i++;
		}
		b.records = s->fl.recs + start;
		b.nrecords = i - start;
		b.seq = ++s->seq;
		b.stopped = stop && i == s->fl.n;
		int rv = mb_batch_encode(&b, &out);
		if (rv != 0) {
			mb_log_error("batch %llu of %u records not encoded: %s",
			             (unsigned long long)b.seq, b.nrecords, mb_strerror(rv));
			mb_buf_free(&out);
			s->seq--;
			continue;
		}
		shim_deliver_push(s->dlv, b.seq, &out, start == 0 ? dropped : 0);
	} while (i < s->fl.n);
	mb_buf_free(&out);
}

static void flush(struct shim *s, bool stop)
{
	int64_t now = mb_mono_ms(), wall = mb_now_ms();
	uint64_t dropped = 0, rejected = 0;

	shim_recv_update_drops(s->rx, s->agg);
	struct shim_stats *st = shim_agg_stats(s->agg), snap = *st;

	memset(st, 0, sizeof *st);
	if (shim_agg_flush(s->agg, now, &s->fl) != 0)
		mb_log_warnx("out of memory building the interval's records");
	shim_deliver_take_counts(s->dlv, &dropped, &rejected);
	push_counter(s, "metricsbus.shim.packets", snap.packets);
	push_counter(s, "metricsbus.shim.lines", snap.lines);
	push_counter(s, "metricsbus.shim.bad_lines", snap.bad_lines + snap.truncated);
	push_counter(s, "metricsbus.shim.events", snap.events);
	push_counter(s, "metricsbus.shim.service_checks", snap.service_checks);
	push_counter(s, "metricsbus.shim.series_refused", snap.series_refused);
	push_counter(s, "metricsbus.shim.dropped_batches", dropped);
	push_counter(s, "metricsbus.shim.rejected_batches", rejected);
	push_counter(s, "metricsbus.shim.udp_drops", snap.udp_drops);
	push_counter(s, "metricsbus.shim.unknown_fields", snap.unknown_fields);
	push_counter(s, "metricsbus.shim.tag_errors", snap.tag_errors);
	push_parse_errors(s, &snap);
	if (snap.bad_lines || snap.series_refused || snap.udp_drops || dropped)
		mb_log_debug("interval: %llu bad lines, %llu series refused, %llu kernel drops, "
		             "%llu batches dropped",
		             (unsigned long long)snap.bad_lines,
		             (unsigned long long)snap.series_refused,
		             (unsigned long long)snap.udp_drops, (unsigned long long)dropped);

	shim_resources_read(&s->res, s->child_alive ? s->child : 0);
	for (int i = 0; i < s->res.n; i++) {
		struct mb_record r;
		memset(&r, 0, sizeof r);
		r.kind = MB_RESOURCE;
		r.name = s->res.names[i];
		r.value = s->res.vals[i];
		if (shim_flush_push(&s->fl, &r) != 0)
			break;
	}
	send_batches(s, stop, wall, dropped);
	shim_agg_flush_done(s->agg, &s->fl, now);
	s->last_flush_wall = wall;
}

/* The flags, as given (main thread). */
struct opts {
	const char *agent, *listen, *cid, *tag_styles;
	struct mb_strlist dimflags, labelflags;
	int64_t flush_ms, drain_ms;
	uint64_t backlog;
	unsigned styles;
	struct mb_flag flags[16];
	struct mb_prog prog;
};

/* The flag table, --help's words and the values checked; exits on a usage error. */
static void parse_flags(struct opts *o, int argc, char **argv, int *npos)
{
	o->listen = "127.0.0.1:0";
	o->tag_styles = "all";
	o->flush_ms = 10000;
	o->drain_ms = 2000;
	o->backlog = 16ull << 20;
	const struct mb_flag flags[] = {
	    {"agent", MB_FLAG_STR, &o->agent, "URL",
	     "agentd's ingest socket", false},
	    {"listen", MB_FLAG_STR, &o->listen, "HOST:PORT|unix:PATH",
	     "statsd socket (port 0: an ephemeral port)", false},
	    {"container-id", MB_FLAG_STR, &o->cid, "ID",
	     "container id", false},
	    {"dimension", MB_FLAG_LIST, &o->dimflags, "KEY=VALUE",
	     "a dimension of the container (repeatable)", false},
	    {"label", MB_FLAG_LIST, &o->labelflags, "KEY=VALUE",
	     "a label of the container, in the dimensions' labels (repeatable)", false},
	    {"flush-interval", MB_FLAG_DURATION, &o->flush_ms, "DURATION",
	     "aggregation interval", false},
	    {"backlog", MB_FLAG_SIZE, &o->backlog, "SIZE",
	     "encoded batches held while agentd is away", false},
	    {"drain-timeout", MB_FLAG_DURATION, &o->drain_ms, "DURATION",
	     "wait at exit for agentd to acknowledge", false},
	    {"tag-styles", MB_FLAG_STR, &o->tag_styles, "LIST",
	     "tag styles read: all (default), none, or a comma list of dogstatsd, influxdb, "
	     "librato, signalfx",
	     false},
	};
	_Static_assert(sizeof flags <= sizeof o->flags, "opts.flags holds the table");
	memcpy(o->flags, flags, sizeof flags);
	static const char *const doc_defaults[] = {
	    "agent", "ipc://RUNDIR/ingest.sock", "container-id",
	    "the Mesos ContainerID, Kubernetes HOSTNAME, else generated", NULL};
	o->prog = (struct mb_prog){
	    .name = "metricsbus-shim",
	    .component = "shim",
	    .synopsis = "[FLAGS] [--] [COMMAND [ARG...]]",
	    .doc_defaults = doc_defaults,
	    .about = "Container entrypoint: serves statsd for COMMAND (STATSD_UDP_HOST and "
	             "STATSD_UDP_PORT are set for it), aggregates, and pushes batches to "
	             "metricsbus-agentd; forwards signals, reaps zombies and exits with "
	             "COMMAND's status. Without COMMAND: a statsd endpoint until TERM/INT.",
	    .flags = o->flags,
	    .nflags = (int)(sizeof flags / sizeof flags[0]),
	    .stop_at_positional = true,
	};
	mb_flags_parse(&o->prog, argc, argv, npos);
	if (o->flush_ms < 1 || o->flush_ms > 86400000)
		mb_usage_error(&o->prog, "--flush-interval must be between 1ms and 1d");
	if (o->drain_ms < 0)
		mb_usage_error(&o->prog, "--drain-timeout must not be negative");
	if (shim_tag_styles_parse(o->tag_styles, &o->styles) != 0)
		mb_usage_error(&o->prog,
		               "--tag-styles: want all, none, or a comma list of dogstatsd, "
		               "influxdb, librato, signalfx; got \"%s\"",
		               o->tag_styles);
}

/* The signals read from sfd: SIGCHLD reaps (the command's end is ours), the others go to the
 * command, or without one TERM and INT stop. True once it is time to stop. */
static bool read_signals(struct shim *s, int sfd, int *exit_code)
{
	bool done = false;
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		int sig = (int)si.ssi_signo;
		if (sig == SIGCHLD) {
			bool cd = false;
			shim_init_reap(s->child, &cd, exit_code);
			if (cd) {
				s->child_alive = false;
				done = true;
				mb_log_debug("command exited: status %d", *exit_code);
			}
		} else if (s->child_alive) {
			mb_log_debug("forwarding signal %d", sig);
			kill(s->child, sig);
		} else if (s->child == 0 && (sig == SIGTERM || sig == SIGINT)) {
			done = true;
		}
	}
	return done;
}

/* The main loop: statsd datagrams, signals and flushes, until the command ends (or, without
 * one, TERM or INT). */
static void serve(struct shim *s, int sfd, int *exit_code)
{
	s->last_flush_wall = mb_now_ms();
	int64_t next = mb_mono_ms() + s->flush_ms;
	bool done = false, pause = false;
	while (!done) {
		/* After a partial batch the statsd socket sits out one short wait (signals still
		 * wake it at once): at a steady rate one wakeup then reads a millisecond of
		 * datagrams instead of each one alone, which was a quarter of the CPU. */
		struct pollfd fds[2] = {{pause ? -1 : shim_recv_fd(s->rx), POLLIN, 0},
		                        {sfd, POLLIN, 0}};
		int64_t wait = next - mb_mono_ms();
		if (wait < 0)
			wait = 0;
		if (pause && wait > SHIM_COALESCE_MS)
			wait = SHIM_COALESCE_MS;
		struct timespec ts = {wait / 1000, (wait % 1000) * 1000000};
		if (ppoll(fds, 2, &ts, NULL) < 0 && errno != EINTR)
			mb_fatal("ppoll");
		if (pause || fds[0].revents) {
			/* Back to polling the socket once a read finds it empty, a full batch, or
			 * too little to be worth waiting for. */
			pause = shim_recv_drain(s->rx, s->agg, mb_mono_ms()) > 0 &&
			        shim_recv_coalesce(s->rx, pause);
		}
		if (fds[1].revents && read_signals(s, sfd, exit_code))
			done = true;
		int64_t now = mb_mono_ms();
		if (now >= next) {
			flush(s, false);
			next += s->flush_ms;
			if (next <= now)
				next = now + s->flush_ms;
		}
	}
}

/* The last interval flushed and delivered (within drain_ms), then everything closed. */
static void finish(struct shim *s, int sfd, int64_t drain_ms)
{
	/* Everything queued on the socket belongs to this last interval; bounded in time in
	 * case some other process keeps sending. */
	int64_t until = mb_mono_ms() + 3000;
	while (shim_recv_drain(s->rx, s->agg, mb_mono_ms()) > 0) {
		if (mb_mono_ms() >= until) {
			mb_log_warnx("still receiving statsd after 3s of the final drain: the rest "
			             "is not read");
			break;
		}
	}
	flush(s, true);
	if (shim_deliver_drain(s->dlv, drain_ms) != 0)
		mb_log_warnx("exiting with %zu batches not acknowledged by agentd",
		             shim_deliver_pending(s->dlv));
	shim_deliver_stop(s->dlv);
	shim_flush_free(&s->fl);
	shim_agg_free(s->agg);
	shim_recv_close(s->rx);
	close(sfd);
}

int main(int argc, char **argv)
{
	static struct opts o;
	int npos = 0, rv;
	char err[512], host[256], url[512];

	parse_flags(&o, argc, argv, &npos);
	const char *agent = o.agent;
	/* A shim runs in every container: nng's thread pools small, whatever the host's CPUs. */
	mb_nng_small();

	static struct shim s;
	s.flush_ms = o.flush_ms;
	if (getrandom(&s.inst, sizeof s.inst, 0) != (ssize_t)sizeof s.inst)
		s.inst = (uint64_t)mb_now_ms() ^ ((uint64_t)getpid() << 32);
	if (s.inst == 0)
		s.inst = 1;
	if (shim_identity_init(&s.id, o.cid, &o.dimflags, &o.labelflags, npos ? argv[0] : NULL,
	                       s.inst, err, sizeof err) != 0)
		mb_usage_error(&o.prog, "%s", err);

	/* nng may only start after the fork, so its URL is checked by hand before. */
	if (!agent) {
		if (mb_default_ingest_url(url, sizeof url) != 0)
			mb_fatalx("run directory path too long");
		agent = url;
	}
	if (!url_ok(agent))
		mb_usage_error(&o.prog,
		               "--agent: want an nng URL (ipc://PATH, tcp://HOST:PORT), got \"%s\"",
		               agent);

	/* 1. The statsd socket first: datagrams queue in the kernel from here on. */
	struct shim_recv *rx;
	int port = 0;
	if ((rv = shim_recv_open(o.listen, &rx, host, sizeof host, &port, err, sizeof err)) != 0) {
		if (rv == MB_EINVAL)
			mb_usage_error(&o.prog, "%s", err);
		mb_fatalx("%s", err);
	}
	/* 2. Signals blocked before any thread exists. */
	sigset_t set, old;
	if (shim_init_block_signals(&set, &old) != 0)
		mb_fatal("sigprocmask");
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		mb_fatal("signalfd");
	shim_init_subreaper();

	/* 3. The command, with the socket in its environment, before nng starts threads. */
	if (shim_recv_unix_path(rx)) {
		setenv("STATSD_SOCKET", shim_recv_unix_path(rx), 1);
	} else {
		char ps[16];
		snprintf(ps, sizeof ps, "%d", port);
		setenv("STATSD_UDP_HOST", host, 1);
		setenv("STATSD_UDP_PORT", ps, 1);
	}
	int exit_code = 0;
	if (npos > 0) {
		if (shim_init_spawn(argv, &old, &s.child, &exit_code, err, sizeof err) != 0) {
			mb_log_error("%s", err);
			shim_recv_close(rx);
			return exit_code;
		}
		s.child_alive = true;
	}
	s.rx = rx;

	/* 4. nng. A failure here must not leave the command running without its init. */
	if ((rv = shim_agg_new(&s.agg)) != 0 ||
	    (rv = shim_deliver_start(agent, o.backlog, ACK_TIMEOUT_MS, &s.dlv)) != 0) {
		if (s.child_alive) {
			kill(s.child, SIGTERM);
			waitpid(s.child, NULL, 0);
		}
		mb_fatalx("cannot start delivery to %s: %s", agent, mb_strerror(rv));
	}
	shim_agg_set_styles(s.agg, o.styles);
	if (shim_recv_unix_path(rx))
		mb_log_info("statsd on unix:%s, container %s, agent %s", shim_recv_unix_path(rx),
		            s.id.cid, agent);
	else
		mb_log_info("statsd on %s%s%s:%d, container %s, agent %s",
		            strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port,
		            s.id.cid, agent);

	serve(&s, sfd, &exit_code);
	finish(&s, sfd, o.drain_ms);
	return exit_code;
}
