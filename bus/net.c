/* net.c: nng sockets set up by the rules of docs/dependencies.md, a listener's counts from nng's
 * statistics, and the REQ client with a deadline per call. */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "mb.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int mb_listen(nng_socket s, const char *url, size_t recvmax, nng_listener *out)
{
	nng_listener l;
	int rv;
	if ((rv = nng_listener_create(&l, s, url)) != 0) {
		mb_log_error("listen %s: %s", url, nng_strerror(rv));
		return MB_ENNG;
	}
	/* Before start: nng allocates whatever length a peer announces unless told a limit. */
	if ((rv = nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, recvmax ? recvmax : MB_MAX_MSG)) != 0)
		goto fail;
	if (strncmp(url, "ipc://", 6) == 0 &&
	    (rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0660)) != 0)
		goto fail;
	/* The socket file is born 0660: nng's chmod comes after bind, and between the two a loose
	 * umask would leave it open to everyone. umask is process-wide, so this runs only at
	 * start-up and when a listener is re-created; nothing else creates files then. */
	bool ipc = strncmp(url, "ipc://", 6) == 0;
	mode_t mask = ipc ? umask(0117) : 0;
	rv = nng_listener_start(l, 0);
	if (ipc)
		umask(mask);
	if (rv != 0)
		goto fail;
	*out = l;
	return 0;
fail:
	mb_log_error("listen %s: %s", url, nng_strerror(rv));
	nng_listener_close(l);
	return MB_ENNG;
}

int mb_dial(nng_socket s, const char *url, size_t recvmax, nng_dialer *out)
{
	nng_dialer d;
	int rv;
	if ((rv = nng_dialer_create(&d, s, url)) != 0) {
		mb_log_error("dial %s: %s", url, nng_strerror(rv));
		return MB_ENNG;
	}
	if ((rv = nng_dialer_set_size(d, NNG_OPT_RECVMAXSZ, recvmax ? recvmax : MB_MAX_MSG)) != 0 ||
	    (rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, 100)) != 0 ||
	    (rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, 2000)) != 0)
		goto fail;
	/* NONBLOCK: without it the dial fails when agentd is not up yet. */
	if ((rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0)
		goto fail;
	*out = d;
	return 0;
fail:
	mb_log_error("dial %s: %s", url, nng_strerror(rv));
	nng_dialer_close(d);
	return MB_ENNG;
}

int mb_rep_open(nng_socket *s, const char *what)
{
	int rv;
	if ((rv = nng_rep0_open(s)) != 0) {
		mb_log_error("%s: nng_rep0_open: %s", what, nng_strerror(rv));
		return MB_ENNG;
	}
	return 0;
}

int mb_rep_ctx_open(nng_socket s, const char *what, nng_ctx *ctx, nng_aio **aio,
                    void (*cb)(void *), void *arg)
{
	int rv;
	if ((rv = nng_ctx_open(ctx, s)) != 0 || (rv = nng_aio_alloc(aio, cb, arg)) != 0) {
		mb_log_error("%s: context: %s", what, nng_strerror(rv));
		return MB_ENNG;
	}
	return 0;
}

/* nng counts two kinds of error on a listener in the same counters: accept failures (a peer
 * that closed or failed before the SP handshake finished) and the errors of every pipe it
 * accepted (ECONNSHUT when a peer simply disconnects). Each closed pipe adds one, except pipes
 * the protocol rejected (a wrong-protocol peer: "reject", no error), so accept failures =
 * errors - (accepted - open - rejected). Measured on 1.5.2 for clean and server-side closes,
 * oversized messages, rejected peers and half-open peers. */
static const char *const listener_error_stats[] = {
	"disconnect", "canceled", "other", "timeout", "proto", "auth", "oom",
};

static int listener_counts(nng_listener l, struct mb_listener_stats *o, int64_t *open,
                           int64_t *rejected)
{
	nng_stat *all, *ls, *st;
	int rv = MB_ENNG;
	if (nng_stats_get(&all) != 0)
		return MB_ENNG;
	if ((ls = nng_stat_find_listener(all, l)) != NULL) {
		o->errors = 0;
		for (size_t i = 0; i < sizeof listener_error_stats / sizeof listener_error_stats[0];
		     i++) {
			if ((st = nng_stat_find(ls, listener_error_stats[i])) != NULL)
				o->errors += nng_stat_value(st);
		}
		st = nng_stat_find(ls, "reject");
		*rejected = st ? (int64_t)nng_stat_value(st) : 0;
		st = nng_stat_find(ls, "accept");
		o->accepted = st ? nng_stat_value(st) : 0;
		st = nng_stat_find(ls, "pipes");
		*open = st ? (int64_t)nng_stat_value(st) : 0;
		rv = st ? 0 : MB_ENNG;
	}
	nng_stats_free(all);
	return rv;
}

int mb_listener_stats(nng_listener l, struct mb_listener_stats *out)
{
	int64_t best = -1;
	int rv = MB_ENNG;
	/* A pipe's error is counted a moment before the pipe leaves "pipes": re-read a few times
	 * and keep the lowest so that a peer disconnecting right now is not taken for a failure. */
	for (int i = 0; i < 4; i++) {
		struct mb_listener_stats o;
		int64_t open, rej;
		if ((rv = listener_counts(l, &o, &open, &rej)) != 0)
			return rv;
		int64_t failures = (int64_t)o.errors - ((int64_t)o.accepted - open - rej);
		if (failures < 0)
			failures = 0;
		if (best < 0 || failures < best) {
			best = failures;
			*out = o;
			out->half_open = (uint64_t)failures;
		}
		if (best == 0)
			break;
		nng_msleep(2);
	}
	return 0;
}

/* ------------------------------------------------------------------ REQ client */

struct mb_client {
	nng_socket sock;
	nng_dialer dialer;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* signalled when npipes changes */
	int npipes;
	char url[256];
};

/* ADD_PRE and REM_POST always come in pairs for a pipe (nng runs REM_POST for every pipe that
 * saw ADD_PRE, even a rejected one), so counting them never drifts. */
static void client_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct mb_client *c = arg;
	(void)p;
	pthread_mutex_lock(&c->mu);
	if (ev == NNG_PIPE_EV_ADD_PRE)
		c->npipes++;
	else if (ev == NNG_PIPE_EV_REM_POST && c->npipes > 0)
		c->npipes--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static int client_npipes(struct mb_client *c)
{
	pthread_mutex_lock(&c->mu);
	int n = c->npipes;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* nng 1.5 reads its "initialised" flag outside the lock of its one-time set-up, a race when
 * the first sockets open on several threads at once: that set-up is done once, here, first. */
static pthread_once_t nng_setup_once = PTHREAD_ONCE_INIT;

static void nng_setup(void)
{
	nng_socket s;
	if (nng_req0_open(&s) == 0)
		nng_close(s);
}

int mb_client_open(const char *url, size_t recvmax, struct mb_client **out)
{
	pthread_once(&nng_setup_once, nng_setup);
	struct mb_client *c = calloc(1, sizeof *c);
	pthread_condattr_t ca;
	int rv, mbrv = MB_ENNG;
	if (!c)
		return MB_ENOMEM;
	if (recvmax == 0)
		recvmax = MB_MAX_EXPORT_MSG; /* 0 would mean unlimited to nng */
	snprintf(c->url, sizeof c->url, "%s", url);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		mb_log_error("query client %s: open: %s", url, nng_strerror(rv));
		goto fail_sync;
	}
	/* REQ's resend repeats a request after 60s and on reconnect; callers have their own
	 * deadline. nng 1.5.2 takes any duration >= -1 and treats <= 0 as "never"; with it off, a
	 * pipe that closes under a pending request fails it with ECONNRESET at once. Must be set
	 * before contexts are opened: they copy it. */
	if ((rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, recvmax)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_PRE, client_pipe_cb, c)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, client_pipe_cb, c)) != 0) {
		mb_log_error("query client %s: %s", url, nng_strerror(rv));
		goto fail_sock;
	}
	if ((mbrv = mb_dial(c->sock, url, recvmax, &c->dialer)) != 0)
		goto fail_sock;
	*out = c;
	return 0;
fail_sock:
	nng_close(c->sock);
fail_sync:
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
	return mbrv;
}

static void deadline_ts(int timeout_ms, struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int mb_client_wait_connected(struct mb_client *c, int timeout_ms)
{
	struct timespec ts;
	deadline_ts(timeout_ms < 0 ? 0 : timeout_ms, &ts);
	pthread_mutex_lock(&c->mu);
	while (c->npipes == 0) {
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
			break;
	}
	int n = c->npipes;
	pthread_mutex_unlock(&c->mu);
	return n > 0 ? 0 : MB_EDOWN;
}

/* A failed send or receive: which MB_E* it is depends on whether a peer is still there. */
static int client_error(struct mb_client *c, int rv, const char *what)
{
	switch (rv) {
	case NNG_ETIMEDOUT:
		return client_npipes(c) > 0 ? MB_ETIMEDOUT : MB_EDOWN;
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
	case NNG_ECONNREFUSED:
		return MB_EDOWN;
	case NNG_ENOMEM:
		return MB_ENOMEM;
	default:
		mb_log_warnx("query client %s: %s: %s", c->url, what, nng_strerror(rv));
		return MB_ENNG;
	}
}

int mb_client_call(struct mb_client *c, const void *req, size_t reqlen, int timeout_ms,
                   void **reply, size_t *replylen)
{
	nng_ctx ctx;
	nng_aio *aio = NULL;
	nng_msg *msg = NULL;
	int rv, mbrv;
	int64_t deadline = mb_mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);

	/* REQ would hold the request until a peer comes: say at once that none is there. */
	if (client_npipes(c) == 0)
		return MB_EDOWN;
	if ((rv = nng_ctx_open(&ctx, c->sock)) != 0)
		return client_error(c, rv, "context");
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		mbrv = client_error(c, rv, "aio");
		goto fail_ctx;
	}
	if ((rv = nng_msg_alloc(&msg, 0)) != 0 || (rv = nng_msg_append(msg, req, reqlen)) != 0) {
		mbrv = client_error(c, rv, "message");
		goto fail_msg;
	}
	nng_aio_set_msg(aio, msg);
	nng_aio_set_timeout(aio, timeout_ms < 0 ? 0 : timeout_ms);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		/* On a failed send the message is still ours. */
		mbrv = client_error(c, rv, "send");
		goto fail_msg;
	}
	msg = NULL;
	int64_t left = deadline - mb_mono_ms();
	nng_aio_set_timeout(aio, left > 0 ? (nng_duration)left : 0);
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		mbrv = client_error(c, rv, "receive");
		goto fail_aio;
	}
	msg = nng_aio_get_msg(aio);
	size_t len = nng_msg_len(msg);
	void *copy = malloc(len ? len : 1);
	if (!copy) {
		mbrv = MB_ENOMEM;
		goto fail_msg;
	}
	memcpy(copy, nng_msg_body(msg), len);
	nng_msg_free(msg);
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	*reply = copy;
	*replylen = len;
	return 0;
fail_msg:
	if (msg)
		nng_msg_free(msg);
fail_aio:
	nng_aio_free(aio);
fail_ctx:
	nng_ctx_close(ctx);
	return mbrv;
}

int mb_client_query(struct mb_client *c, const struct mb_query *q, int timeout_ms,
                    struct mb_reply *r, char *err, size_t errlen)
{
	struct mb_buf req = {0};
	void *rep = NULL;
	size_t replen = 0;
	int rv;
	if (err && errlen)
		err[0] = 0;
	if ((rv = mb_query_encode(q, &req)) != 0) {
		if (err)
			snprintf(err, errlen, "encode %s query: %s", mb_op_name(q->op),
			         mb_strerror(rv));
		goto out;
	}
	if ((rv = mb_client_call(c, req.data, req.len, timeout_ms, &rep, &replen)) != 0) {
		if (err) {
			if (rv == MB_EDOWN)
				snprintf(err, errlen, "agentd is not answering on %s", c->url);
			else if (rv == MB_ETIMEDOUT)
				snprintf(err, errlen, "agentd did not answer %s within %d ms",
				         mb_op_name(q->op), timeout_ms);
			else
				snprintf(err, errlen, "%s query to %s: %s", mb_op_name(q->op), c->url,
				         mb_strerror(rv));
		}
		goto out;
	}
	rv = mb_reply_decode(rep, replen, q->op, r, err, errlen);
out:
	free(rep);
	mb_buf_free(&req);
	return rv;
}

void mb_client_close(struct mb_client *c)
{
	if (!c)
		return;
	/* nng_close returns after every pipe's REM_POST callback has run, so c outlives them. */
	nng_close(c->sock);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
