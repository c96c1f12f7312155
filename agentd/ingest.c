/* ingest.c: the REP listener the shims send batches to: a context per request in flight,
 * decode on nng's callback, commit on the writer, acknowledge only after the commit. */
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <nng/transport/ipc/ipc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agentd.h"
#include "mapping.h"

enum { CTX_IDLE, CTX_RECV, CTX_WAIT, CTX_SEND };

struct ictx {
	struct agent_ingest *in;
	nng_ctx ctx;
	nng_aio *aio;
	pthread_mutex_t mu; /* state, against quiesce's cancel */
	int state;
	bool opened;
	struct agent_job job;
	struct mb_batch batch;
	bool have_batch;
	uint64_t held; /* the decoded batch's footprint, counted in held_bytes */
	char err[MB_MAX_ERR + 1];
	struct mb_buf buf;
};

struct agent_ingest {
	nng_socket sock;
	nng_listener l;
	char url[512];
	bool verify_peer;
	struct agent_peer_maps maps;
	struct agent_peer_table *peers; /* --verify-peer: each pipe's verdict, taken at connect */
	struct agent_writer *w;
	int nctx;
	struct ictx *c;
	atomic_bool stopping;
};

static void ictx_recv(struct ictx *c);

/* Decoded batches can be far larger than their message (a timer's sketch is dense between its
 * lowest and highest bin: a few bytes on the wire, up to ~50 KiB decoded). What the contexts
 * hold at once is bounded here, so no mix of batches can make agentd grow without bound. */
#define BATCH_MAX_DECODED (128ull << 20)
#define HELD_MAX (512ull << 20)
static atomic_uint_fast64_t held_bytes;

static uint64_t footprint(const struct mb_batch *b, size_t msglen)
{
	uint64_t n = msglen + (uint64_t)b->nrecords * sizeof(struct mb_record);
	for (uint32_t i = 0; i < b->nrecords; i++) {
		const struct mb_record *r = &b->records[i];
		n += (uint64_t)r->ntags * sizeof(struct mb_kv);
		n += ((uint64_t)r->sketch.pos_n + r->sketch.neg_n) * sizeof(uint64_t);
		if (r->hll)
			n += sizeof *r->hll;
	}
	return n;
}

static int reason_of(int rv)
{
	switch (rv) {
	case MB_EVERSION:
		return AGENT_REJ_VERSION;
	case MB_ETOOBIG:
		return AGENT_REJ_TOOBIG;
	default:
		return AGENT_REJ_INVALID;
	}
}

/* Sends an ack on c; on any failure the request goes unanswered and the shim resends after
 * its timeout, which is harmless (repeats are dropped). Caller holds c->mu. */
static void ictx_answer(struct ictx *c, uint64_t seq, uint32_t st, const char *err)
{
	struct mb_ack a = {.seq = seq, .status = st};
	nng_msg *m = NULL;
	if (err)
		snprintf(a.err, sizeof a.err, "%s", err);
	/* A reason may quote the sender's bytes, and truncation may split a character: the ack
	 * must stay valid text or it could not be sent at all. */
	for (char *p = a.err; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	mb_buf_reset(&c->buf);
	if (mb_ack_encode(&a, &c->buf) != 0 || nng_msg_alloc(&m, 0) != 0)
		goto fail;
	if (nng_msg_append(m, c->buf.data, c->buf.len) != 0)
		goto fail;
	nng_aio_set_msg(c->aio, m);
	c->state = CTX_SEND;
	nng_ctx_send(c->ctx, c->aio);
	return;
fail:
	if (m)
		nng_msg_free(m);
	mb_log_warnx("ingest: cannot build an ack (out of memory)");
	ictx_recv(c);
}

static void free_batch(struct ictx *c)
{
	if (c->have_batch) {
		mb_batch_free(&c->batch);
		c->have_batch = false;
		atomic_fetch_sub(&held_bytes, c->held);
		c->held = 0;
	}
}

/* Runs on the writer thread after the batch's transaction. */
static void ictx_done(struct agent_job *j, uint32_t status, const char *err)
{
	struct ictx *c = j->arg;
	pthread_mutex_lock(&c->mu);
	uint64_t seq = c->batch.seq;
	free_batch(c);
	ictx_answer(c, seq, status, err && err[0] ? err : NULL);
	pthread_mutex_unlock(&c->mu);
}

/* At most one WARN per 10 s for each kind of peer trouble: a hostile peer must not flood the
 * log; the counters say how many. */
static void warn_limited(atomic_int_fast64_t *last, const char *fmt, const char *a, const char *b)
{
	int64_t now = mb_mono_ms(), prev = atomic_load(last);
	if (now - prev < 10000 && prev != 0)
		return;
	if (!atomic_compare_exchange_strong(last, &prev, now))
		return;
	mb_log_warnx(fmt, a, b);
}
static atomic_int_fast64_t warn_unverified, warn_mismatch, warn_connect;

/* A pipe is about to join the ingest socket: who is at the other end, now, while the
 * connecting process is certainly the one the kernel recorded (SO_PEERCRED is taken at
 * connect). A verdict kept for the pipe's life; a pipe without one sends nothing that counts. */
static void pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct agent_ingest *in = arg;
	uint32_t pid_id = (uint32_t)nng_pipe_id(p);
	if (ev == NNG_PIPE_EV_REM_POST) {
		agent_peer_table_del(in->peers, pid_id);
		return;
	}
	uint64_t pid = 0;
	char id[MB_MAX_NAME + 1], why[MB_MAX_ERR + 1] = "";
	int rv = nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid);
	if (rv != 0)
		snprintf(why, sizeof why, "no peer pid (%s)", nng_strerror(rv));
	else
		rv = agent_peer_id(&in->maps, "/proc", pid, id, sizeof id, why, sizeof why);
	if (rv == 0) {
		if (agent_peer_table_put(in->peers, pid_id, true, id) != 0)
			nng_pipe_close(p); /* out of memory: it reconnects */
		mb_log_debug("ingest: pid %llu connected as %s", (unsigned long long)pid, id);
		return;
	}
	char who[64];
	snprintf(who, sizeof who, "pid %llu", (unsigned long long)pid);
	warn_limited(&warn_connect, "ingest: %s cannot be verified: %s (its batches are rejected)",
	             who, why);
	if (agent_peer_table_put(in->peers, pid_id, false, why) != 0)
		nng_pipe_close(p);
}

/* The batch's container id becomes the one its pipe was verified as; 0, or MB_EINVAL with the
 * reason in c->err when the sender could not be verified (the batch is then rejected). */
static int verify_peer(struct ictx *c, nng_msg *msg)
{
	char id[MB_MAX_NAME + 1];
	nng_pipe p = nng_msg_get_pipe(msg);
	if (agent_peer_table_get(c->in->peers, (uint32_t)nng_pipe_id(p), id, sizeof id) != 0) {
		atomic_fetch_add_explicit(&agent_ctr.peer_unknown, 1, memory_order_relaxed);
		snprintf(c->err, sizeof c->err, "sender not verified: %s", id);
		warn_limited(&warn_unverified, "ingest: batch claiming %s rejected: %s",
		             c->batch.container_id, c->err);
		return MB_EINVAL;
	}
	if (strcmp(id, c->batch.container_id) == 0)
		return 0;
	char *dup = mb_arena_strndup(&c->batch.arena, id, strlen(id));
	if (!dup) {
		snprintf(c->err, sizeof c->err, "out of memory");
		return MB_EINVAL;
	}
	atomic_fetch_add_explicit(&agent_ctr.peer_mismatch, 1, memory_order_relaxed);
	warn_limited(&warn_mismatch, "ingest: a sender claimed container %s, its cgroup says %s "
	             "(filed under the latter)", c->batch.container_id, id);
	c->batch.container_id = dup;
	return 0;
}

/* A request arrived: decode it here (CPU only), then hand it to the writer. */
static void ictx_request(struct ictx *c, nng_msg *msg)
{
	struct agent_ingest *in = c->in;
	atomic_fetch_add_explicit(&agent_ctr.batches_received, 1, memory_order_relaxed);
	c->err[0] = 0;
	int rv = mb_batch_decode(nng_msg_body(msg), nng_msg_len(msg), &c->batch, c->err,
	                         sizeof c->err);
	if (rv != 0) {
		int r = reason_of(rv);
		atomic_fetch_add_explicit(&agent_ctr.batches_rejected[r], 1, memory_order_relaxed);
		mb_log_debug("ingest: batch rejected (%s): %s", agent_reject_name(r), c->err);
		nng_msg_free(msg);
		ictx_answer(c, 0, MB_ACK_REJECTED, c->err[0] ? c->err : agent_reject_name(r));
		return;
	}
	c->have_batch = true;
	c->held = footprint(&c->batch, nng_msg_len(msg));
	uint64_t held = atomic_fetch_add(&held_bytes, c->held) + c->held;
	atomic_fetch_add_explicit(&agent_ctr.records_received, c->batch.nrecords,
	                          memory_order_relaxed);
	if (c->held > BATCH_MAX_DECODED || held > HELD_MAX) {
		bool alone = c->held > BATCH_MAX_DECODED;
		uint64_t seq = c->batch.seq;
		nng_msg_free(msg);
		free_batch(c);
		if (alone) {
			atomic_fetch_add_explicit(&agent_ctr.batches_rejected[AGENT_REJ_TOOBIG], 1,
			                          memory_order_relaxed);
			ictx_answer(c, seq, MB_ACK_REJECTED, "batch too large once decoded");
		} else {
			atomic_fetch_add_explicit(&agent_ctr.batches_retry, 1, memory_order_relaxed);
			ictx_answer(c, seq, MB_ACK_RETRY, "agentd busy: too much data in flight");
		}
		return;
	}
	if (in->verify_peer && verify_peer(c, msg) != 0) {
		uint64_t seq = c->batch.seq;
		nng_msg_free(msg);
		free_batch(c);
		atomic_fetch_add_explicit(&agent_ctr.batches_rejected[AGENT_REJ_PEER], 1,
		                          memory_order_relaxed);
		ictx_answer(c, seq, MB_ACK_REJECTED, c->err);
		return;
	}
	nng_msg_free(msg);
	/* Before the writer sees it: a mapped name is the only one a series is created for. */
	agent_mapping_apply_installed(&c->batch);
	c->job.batch = &c->batch;
	c->job.done = ictx_done;
	c->job.arg = c;
	c->state = CTX_WAIT;
	rv = agent_writer_push(in->w, &c->job);
	if (rv != 0) {
		uint64_t seq = c->batch.seq;
		atomic_fetch_add_explicit(&agent_ctr.batches_retry, 1, memory_order_relaxed);
		free_batch(c);
		ictx_answer(c, seq, MB_ACK_RETRY,
		            rv == MB_ETOOBIG ? "agentd busy: queue full" : "agentd shutting down");
	}
}

/* Caller holds c->mu. */
static void ictx_recv(struct ictx *c)
{
	if (atomic_load(&c->in->stopping)) {
		c->state = CTX_IDLE;
		return;
	}
	c->state = CTX_RECV;
	nng_ctx_recv(c->ctx, c->aio);
}

static void ictx_cb(void *arg)
{
	struct ictx *c = arg;
	pthread_mutex_lock(&c->mu);
	int rv = nng_aio_result(c->aio);
	switch (c->state) {
	case CTX_RECV:
		if (rv == 0) {
			ictx_request(c, nng_aio_get_msg(c->aio));
		} else if (rv == NNG_ECLOSED) {
			c->state = CTX_IDLE;
		} else {
			if (rv != NNG_ECANCELED)
				mb_log_debug("ingest: receive: %s", nng_strerror(rv));
			ictx_recv(c);
		}
		break;
	case CTX_SEND:
		if (rv != 0) {
			/* The shim went away or the pipe closed: it resends, we drop the repeat. */
			nng_msg_free(nng_aio_get_msg(c->aio));
			nng_aio_set_msg(c->aio, NULL);
		}
		if (rv == NNG_ECLOSED)
			c->state = CTX_IDLE;
		else
			ictx_recv(c);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&c->mu);
}

int agent_ingest_start(const struct agent_ingest_opts *o, struct agent_writer *w,
                       struct agent_ingest **out)
{
	int rv;
	struct agent_ingest *in = calloc(1, sizeof *in);
	if (!in)
		return MB_ENOMEM;
	snprintf(in->url, sizeof in->url, "%s", o->url);
	in->verify_peer = o->verify_peer;
	if (o->maps)
		in->maps = *o->maps;
	if (in->verify_peer && (rv = agent_peer_table_new(&in->peers)) != 0)
		goto fail;
	in->w = w;
	in->nctx = o->nctx > 0 ? o->nctx : 16;
	if ((in->c = calloc((size_t)in->nctx, sizeof *in->c)) == NULL) {
		rv = MB_ENOMEM;
		goto fail;
	}
	if ((rv = mb_rep_open(&in->sock, "ingest")) != 0)
		goto fail_c;
	for (int i = 0; i < in->nctx; i++) {
		struct ictx *c = &in->c[i];
		c->in = in;
		pthread_mutex_init(&c->mu, NULL);
		if ((rv = mb_rep_ctx_open(in->sock, "ingest", &c->ctx, &c->aio, ictx_cb, c)) != 0)
			goto fail_sock;
		c->opened = true;
	}
	/* Before listening: no pipe may join unchecked. */
	if (in->verify_peer &&
	    ((rv = nng_pipe_notify(in->sock, NNG_PIPE_EV_ADD_PRE, pipe_added, in)) != 0 ||
	     (rv = nng_pipe_notify(in->sock, NNG_PIPE_EV_REM_POST, pipe_added, in)) != 0)) {
		mb_log_error("ingest: nng_pipe_notify: %s", nng_strerror(rv));
		rv = MB_ENNG;
		goto fail_sock;
	}
	if ((rv = mb_listen(in->sock, in->url, MB_MAX_MSG, &in->l)) != 0)
		goto fail_sock;
	agent_self_listener(AGENT_LISTENER_INGEST, in->l);
	for (int i = 0; i < in->nctx; i++) {
		pthread_mutex_lock(&in->c[i].mu);
		ictx_recv(&in->c[i]);
		pthread_mutex_unlock(&in->c[i].mu);
	}
	*out = in;
	return 0;
fail_sock:
	nng_close(in->sock);
	for (int i = 0; i < in->nctx; i++) {
		if (in->c[i].aio)
			nng_aio_free(in->c[i].aio);
		pthread_mutex_destroy(&in->c[i].mu);
	}
fail_c:
	free(in->c);
fail:
	agent_peer_table_free(in->peers);
	free(in);
	return rv;
}

void agent_ingest_quiesce(struct agent_ingest *in, int timeout_ms)
{
	if (!in)
		return;
	atomic_store(&in->stopping, true);
	for (int i = 0; i < in->nctx; i++) {
		struct ictx *c = &in->c[i];
		pthread_mutex_lock(&c->mu);
		if (c->state == CTX_RECV)
			nng_aio_cancel(c->aio);
		pthread_mutex_unlock(&c->mu);
	}
	int64_t deadline = mb_mono_ms() + timeout_ms;
	for (;;) {
		int busy = 0;
		for (int i = 0; i < in->nctx; i++) {
			pthread_mutex_lock(&in->c[i].mu);
			busy += in->c[i].state != CTX_IDLE;
			pthread_mutex_unlock(&in->c[i].mu);
		}
		if (!busy)
			break;
		if (mb_mono_ms() >= deadline) {
			mb_log_warnx("ingest: %d answers still in flight at shutdown", busy);
			break;
		}
		nng_msleep(5);
	}
}

void agent_ingest_close(struct agent_ingest *in)
{
	if (!in)
		return;
	atomic_store(&in->stopping, true);
	for (int i = 0; i < in->nctx; i++)
		nng_aio_stop(in->c[i].aio);
	nng_close(in->sock);
	for (int i = 0; i < in->nctx; i++) {
		struct ictx *c = &in->c[i];
		nng_aio_free(c->aio);
		free_batch(c);
		mb_buf_free(&c->buf);
		pthread_mutex_destroy(&c->mu);
	}
	free(in->c);
	agent_peer_table_free(in->peers);
	free(in);
}
