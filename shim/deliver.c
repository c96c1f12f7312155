/* deliver.c: the sender thread: a bounded in-order queue of encoded batches, each sent over
 * REQ and kept until agentd acknowledges it (resent after a timeout or a reconnect), and the
 * final drain, which redials at once an agentd that comes back. */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "shim.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct item {
	struct item *next;
	uint64_t seq;
	uint64_t carried; /* the drop count this batch reports */
	struct mb_buf buf;
};

struct shim_deliver {
	nng_socket sock;
	nng_dialer dialer;
	nng_aio *aio;
	pthread_t thr;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* work, stop, drained */
	struct item *head, *tail;
	size_t nitems;
	uint64_t bytes, backlog;
	struct item *inflight; /* the head while the thread sends it: never dropped */
	bool stop;
	uint64_t dropped, rejected;
	int ack_timeout_ms;
	int npipes;        /* connections to agentd now (pipe events) */
	bool awaiting_ack; /* the batch in flight went out: its ack is awaited */
	bool ack_lost;     /* ... and a connection closed since: the ack may never come */
	bool kicked;       /* the exchange in flight was canceled by a new connection */
	bool drain_dialer; /* the drain's own fast dialer was started */
	char url[512];
};

/* The dialer's reconnect back-off (100ms, doubling to 2s) is as long as the default
 * --drain-timeout: a shim exiting just after agentd came back could end its drain before the
 * next redial and lose what it held. While draining without a connection, a second dialer
 * tries every DRAIN_REDIAL_MS. */
#define DRAIN_REDIAL_MS 20
#define DRAIN_SLICE_MS 20

/* ADD_PRE and REM_POST come in pairs for every pipe, so the count never drifts. A batch that
 * went out on a connection that then closed (agentd killed) is not resent by REQ (its resend
 * is off): waiting for its ack could outlast the drain, so when a connection comes (agentd is
 * back) the exchange is canceled and the batch sent again at once (agentd drops a repeat). A
 * batch still waiting for a connection goes out on it by itself. */
static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct shim_deliver *d = arg;
	bool kick = false;
	(void)p;
	pthread_mutex_lock(&d->mu);
	if (ev == NNG_PIPE_EV_ADD_PRE)
		d->npipes++;
	else if (ev == NNG_PIPE_EV_REM_POST && d->npipes > 0) {
		d->npipes--;
		d->ack_lost = d->awaiting_ack;
	} else if (ev == NNG_PIPE_EV_ADD_POST && d->ack_lost && !d->stop)
		kick = d->kicked = true;
	pthread_mutex_unlock(&d->mu);
	if (kick) {
		mb_log_debug("connected to agentd: sending the batch in flight again");
		nng_aio_cancel(d->aio);
	}
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void item_free(struct item *it)
{
	mb_buf_free(&it->buf);
	free(it);
}

/* One exchange: send the batch, wait for its ack. 0 with *ack, or an nng error. */
static int exchange(struct shim_deliver *d, const struct item *it, int tmo, struct mb_ack *ack)
{
	nng_msg *m;
	int rv;
	char err[MB_MAX_ERR];

	if ((rv = nng_msg_alloc(&m, 0)) != 0)
		return rv;
	if ((rv = nng_msg_append(m, it->buf.data, it->buf.len)) != 0) {
		nng_msg_free(m);
		return rv;
	}
	nng_aio_set_msg(d->aio, m);
	nng_aio_set_timeout(d->aio, tmo);
	nng_send_aio(d->sock, d->aio);
	nng_aio_wait(d->aio);
	if ((rv = nng_aio_result(d->aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(d->aio));
		return rv;
	}
	pthread_mutex_lock(&d->mu);
	d->awaiting_ack = true;
	pthread_mutex_unlock(&d->mu);
	nng_aio_set_timeout(d->aio, tmo);
	nng_recv_aio(d->sock, d->aio);
	nng_aio_wait(d->aio);
	if ((rv = nng_aio_result(d->aio)) != 0)
		return rv;
	m = nng_aio_get_msg(d->aio);
	rv = mb_ack_decode(nng_msg_body(m), nng_msg_len(m), ack, err, sizeof err);
	nng_msg_free(m);
	if (rv != 0) {
		mb_log_warnx("agentd sent an ack that does not decode: %s", err);
		return NNG_EPROTO;
	}
	return 0;
}

static void *sender(void *arg)
{
	struct shim_deliver *d = arg;
	int64_t backoff = 0;
	/* Doubles while one batch goes unanswered: a slow agentd is not flooded with repeats
	 * (REQ itself resends at once on a reconnect, so nothing waits for it then). */
	int tmo = d->ack_timeout_ms;
	uint64_t tmo_seq = 0;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		if (backoff > 0 && !d->stop) {
			struct timespec ts;
			deadline_in(&ts, backoff);
			while (!d->stop && pthread_cond_timedwait(&d->cv, &d->mu, &ts) != ETIMEDOUT)
				;
		}
		backoff = 0;
		while (!d->stop && !d->head)
			pthread_cond_wait(&d->cv, &d->mu);
		if (d->stop)
			break;
		struct item *it = d->head;
		d->inflight = it;
		d->kicked = false;
		pthread_mutex_unlock(&d->mu);

		struct mb_ack ack;
		if (it->seq != tmo_seq) {
			tmo = d->ack_timeout_ms;
			tmo_seq = it->seq;
		}
		int rv = exchange(d, it, tmo, &ack);

		pthread_mutex_lock(&d->mu);
		d->inflight = NULL;
		d->awaiting_ack = d->ack_lost = false;
		if (rv != 0) {
			if (rv == NNG_ETIMEDOUT)
				mb_log_debug("batch %llu: no answer, sending it again",
				             (unsigned long long)it->seq);
			else if (rv != NNG_ECANCELED && rv != NNG_ECLOSED)
				mb_log_debug("batch %llu: %s", (unsigned long long)it->seq,
				             nng_strerror(rv));
			/* a timeout already waited; other failures are quick, so pause; a new
			 * connection canceled it: at once */
			backoff = rv == NNG_ETIMEDOUT || (rv == NNG_ECANCELED && d->kicked) ? 0 : 100;
			if (rv == NNG_ETIMEDOUT && tmo < 8 * d->ack_timeout_ms)
				tmo *= 2;
			continue;
		}
		if (ack.seq != it->seq) {
			mb_log_warnx("ack for batch %llu while %llu was sent; sending again",
			             (unsigned long long)ack.seq, (unsigned long long)it->seq);
			continue;
		}
		if (ack.status == MB_ACK_RETRY) {
			mb_log_debug("agentd asks to retry batch %llu: %s",
			             (unsigned long long)it->seq, ack.err);
			backoff = 500;
			continue;
		}
		if (ack.status == MB_ACK_REJECTED) {
			d->rejected++;
			mb_log_warnx("agentd rejected batch %llu: %s", (unsigned long long)it->seq,
			             ack.err);
		}
		/* Dropping skips the in-flight item, so the head is still it. */
		d->head = it->next;
		if (!d->head)
			d->tail = NULL;
		d->bytes -= it->buf.len;
		d->nitems--;
		item_free(it);
		pthread_cond_broadcast(&d->cv);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

int shim_deliver_start(const char *url, uint64_t backlog, int ack_timeout_ms,
                       struct shim_deliver **out)
{
	int rv;
	struct shim_deliver *d = calloc(1, sizeof *d);
	if (!d)
		return MB_ENOMEM;
	d->backlog = backlog;
	d->ack_timeout_ms = ack_timeout_ms;
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);

	if ((rv = nng_req0_open(&d->sock)) != 0) {
		mb_log_error("nng_req0_open: %s", nng_strerror(rv));
		rv = MB_ENNG;
		goto fail;
	}
	/* We resend ourselves, after our own timeout, always the oldest batch first. */
	if ((rv = nng_socket_set_ms(d->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0) {
		mb_log_error("REQ resend time: %s", nng_strerror(rv));
		rv = MB_ENNG;
		goto fail_sock;
	}
	if ((rv = nng_pipe_notify(d->sock, NNG_PIPE_EV_ADD_PRE, pipe_cb, d)) != 0 ||
	    (rv = nng_pipe_notify(d->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, d)) != 0 ||
	    (rv = nng_pipe_notify(d->sock, NNG_PIPE_EV_REM_POST, pipe_cb, d)) != 0) {
		mb_log_error("pipe notify: %s", nng_strerror(rv));
		rv = MB_ENNG;
		goto fail_sock;
	}
	if ((rv = nng_aio_alloc(&d->aio, NULL, NULL)) != 0) {
		rv = MB_ENOMEM;
		goto fail_sock;
	}
	snprintf(d->url, sizeof d->url, "%s", url);
	if ((rv = mb_dial(d->sock, url, 4096, &d->dialer)) != 0)
		goto fail_aio;
	if (pthread_create(&d->thr, NULL, sender, d) != 0) {
		rv = MB_ESYS;
		goto fail_aio;
	}
	d->started = true;
	*out = d;
	return 0;
fail_aio:
	nng_aio_free(d->aio);
fail_sock:
	nng_close(d->sock);
fail:
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
	return rv;
}

void shim_deliver_push(struct shim_deliver *d, uint64_t seq, struct mb_buf *buf, uint64_t carried)
{
	struct item *it = calloc(1, sizeof *it);
	if (!it) {
		mb_buf_free(buf);
		pthread_mutex_lock(&d->mu);
		d->dropped += 1 + carried;
		pthread_mutex_unlock(&d->mu);
		return;
	}
	it->seq = seq;
	it->carried = carried;
	it->buf = *buf;
	memset(buf, 0, sizeof *buf);

	pthread_mutex_lock(&d->mu);
	if (d->tail)
		d->tail->next = it;
	else
		d->head = it;
	d->tail = it;
	d->bytes += it->buf.len;
	d->nitems++;
	/* Oldest first, never the one on the wire nor the one just queued. */
	while (d->bytes > d->backlog) {
		struct item *prev = NULL, *v = d->head;
		if (v && v == d->inflight) {
			prev = v;
			v = v->next;
		}
		if (!v || v == d->tail)
			break;
		if (prev)
			prev->next = v->next;
		else
			d->head = v->next;
		d->bytes -= v->buf.len;
		d->nitems--;
		/* The count it carried goes with the next batch, so none is lost. */
		d->dropped += 1 + v->carried;
		item_free(v);
	}
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

void shim_deliver_take_counts(struct shim_deliver *d, uint64_t *dropped, uint64_t *rejected)
{
	pthread_mutex_lock(&d->mu);
	*dropped = d->dropped;
	*rejected = d->rejected;
	d->dropped = d->rejected = 0;
	pthread_mutex_unlock(&d->mu);
}

size_t shim_deliver_pending(struct shim_deliver *d)
{
	pthread_mutex_lock(&d->mu);
	size_t n = d->nitems;
	pthread_mutex_unlock(&d->mu);
	return n;
}

/* The drain's second dialer: like the first, but redialing every DRAIN_REDIAL_MS. Both may
 * connect; REQ sends on either. Main thread, without d->mu (pipe callbacks take it). */
static void drain_dial(struct shim_deliver *d)
{
	nng_dialer dl;
	int rv;
	if ((rv = nng_dialer_create(&dl, d->sock, d->url)) != 0)
		goto fail;
	if ((rv = nng_dialer_set_size(dl, NNG_OPT_RECVMAXSZ, 4096)) != 0 ||
	    (rv = nng_dialer_set_ms(dl, NNG_OPT_RECONNMINT, DRAIN_REDIAL_MS)) != 0 ||
	    (rv = nng_dialer_set_ms(dl, NNG_OPT_RECONNMAXT, DRAIN_REDIAL_MS)) != 0 ||
	    (rv = nng_dialer_start(dl, NNG_FLAG_NONBLOCK)) != 0) {
		nng_dialer_close(dl);
		goto fail;
	}
	return;
fail:
	mb_log_warnx("drain: redial %s: %s", d->url, nng_strerror(rv));
}

int shim_deliver_drain(struct shim_deliver *d, int64_t timeout_ms)
{
	int64_t end = mb_mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	int rv = 0;
	pthread_mutex_lock(&d->mu);
	while (d->head) {
		int64_t left = end - mb_mono_ms();
		if (left <= 0) {
			rv = MB_ETIMEDOUT;
			break;
		}
		if (d->npipes == 0 && !d->drain_dialer) {
			mb_log_debug("drain: no connection to agentd: redialing every %d ms",
			             DRAIN_REDIAL_MS);
			d->drain_dialer = true;
			pthread_mutex_unlock(&d->mu);
			drain_dial(d);
			pthread_mutex_lock(&d->mu);
			continue;
		}
		struct timespec ts;
		deadline_in(&ts, left < DRAIN_SLICE_MS ? left : DRAIN_SLICE_MS);
		pthread_cond_timedwait(&d->cv, &d->mu, &ts);
	}
	pthread_mutex_unlock(&d->mu);
	return rv;
}

void shim_deliver_stop(struct shim_deliver *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	/* Wakes the thread out of a send or a wait for an ack, and makes any operation it
	 * starts after this fail at once (nng 1.5.2 can hang when a socket is closed under a
	 * blocked receiver: stop the aio first, close after the join). */
	nng_aio_stop(d->aio);
	pthread_join(d->thr, NULL);
	nng_aio_free(d->aio);
	nng_close(d->sock);
	while (d->head) {
		struct item *n = d->head->next;
		item_free(d->head);
		d->head = n;
	}
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
}
