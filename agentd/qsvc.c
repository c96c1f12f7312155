/* qsvc.c: the query service: REP on --query, worker threads that each own a context and do
 * receive -> decode -> store read -> encode -> send, so LMDB reads never run on nng's threads. */
#include <nng/nng.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agentd.h"

/* Requests are small; replies are not bounded by this. */
#define QSVC_RECVMAX (64u << 10)
/* How often a waiting worker looks at the stop flag. */
#define QSVC_POLL_MS 200

struct qworker {
	struct agent_qsvc *q;
	pthread_t thread;
	bool started;
	nng_ctx ctx;
	nng_aio *aio;
	struct mb_buf buf;
};

struct agent_qsvc {
	nng_socket sock;
	nng_listener l;
	char url[512];
	const char *node_id;
	const char *agent_id; /* the Mesos agent id beside --node-id, or NULL */
	struct agent_store *st;
	int n;
	struct qworker *w;
	atomic_bool stopping;
};

/* Builds the reply for one request body into wk->buf. */
static void answer(struct qworker *wk, const void *body, size_t len)
{
	struct agent_qsvc *q = wk->q;
	struct mb_query qr;
	struct mb_reply r;
	char err[MB_MAX_ERR + 1] = "";
	const char *ids[2];
	int rv;

	atomic_fetch_add_explicit(&agent_ctr.queries, 1, memory_order_relaxed);
	memset(&r, 0, sizeof r);
	mb_buf_reset(&wk->buf);
	if ((rv = mb_query_decode(body, len, &qr, err, sizeof err)) != 0) {
		atomic_fetch_add_explicit(&agent_ctr.query_errors, 1, memory_order_relaxed);
		for (char *p = err; *p; p++) /* valid text whatever the request quoted */
			if (*p < 0x20 || *p > 0x7e)
				*p = '?';
		r.version = MB_SCHEMA_VERSION;
		r.status = 400;
		r.error = err[0] ? err : mb_strerror(rv);
		r.op = MB_OP_PING; /* an error reply carries no op fields */
		if (mb_reply_encode(&r, &wk->buf) != 0)
			mb_buf_reset(&wk->buf);
		return;
	}
	if (qr.op == MB_OP_PING) {
		r.version = MB_SCHEMA_VERSION;
		r.status = 200;
		r.op = MB_OP_PING;
		r.time_ms = mb_now_ms();
		r.node = __atomic_load_n(&q->node_id, __ATOMIC_ACQUIRE);
		if (!r.node)
			r.node = "";
		const char *aid = __atomic_load_n(&q->agent_id, __ATOMIC_ACQUIRE);
		if (r.node[0] && aid && aid[0] && strcmp(aid, r.node) != 0) {
			ids[0] = r.node;
			ids[1] = aid;
			r.ids = ids;
			r.nids = 2;
		}
	} else {
		agent_store_query(q->st, &qr, &r);
		r.version = MB_SCHEMA_VERSION;
		r.op = qr.op;
		if (r.status >= 400)
			atomic_fetch_add_explicit(&agent_ctr.query_errors, 1, memory_order_relaxed);
	}
	if ((rv = mb_reply_encode(&r, &wk->buf)) != 0) {
		mb_log_warnx("query: cannot encode the %s reply: %s", mb_op_name(qr.op),
		             mb_strerror(rv));
		struct mb_reply e = {.version = MB_SCHEMA_VERSION, .status = 500, .op = qr.op};
		e.error = "agentd could not encode the reply";
		mb_buf_reset(&wk->buf);
		if (mb_reply_encode(&e, &wk->buf) != 0)
			mb_buf_reset(&wk->buf);
	}
	mb_reply_free(&r);
	mb_query_free(&qr);
}

static void *worker_main(void *arg)
{
	struct qworker *wk = arg;
	struct agent_qsvc *q = wk->q;
	while (!atomic_load(&q->stopping)) {
		nng_aio_set_timeout(wk->aio, QSVC_POLL_MS);
		nng_ctx_recv(wk->ctx, wk->aio);
		nng_aio_wait(wk->aio);
		int rv = nng_aio_result(wk->aio);
		if (rv == NNG_ETIMEDOUT || rv == NNG_ECANCELED)
			continue;
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0) {
			mb_log_debug("query: receive: %s", nng_strerror(rv));
			continue;
		}
		nng_msg *m = nng_aio_get_msg(wk->aio);
		answer(wk, nng_msg_body(m), nng_msg_len(m));
		nng_msg_clear(m);
		if (wk->buf.len == 0 || nng_msg_append(m, wk->buf.data, wk->buf.len) != 0) {
			/* Out of memory: the client's deadline answers for us. */
			nng_msg_free(m);
			continue;
		}
		nng_aio_set_timeout(wk->aio, 10000);
		nng_aio_set_msg(wk->aio, m);
		nng_ctx_send(wk->ctx, wk->aio);
		nng_aio_wait(wk->aio);
		if (nng_aio_result(wk->aio) != 0)
			nng_msg_free(m);
		/* A big reply (an export) need not stay around between requests. */
		if (wk->buf.cap > (1u << 20))
			mb_buf_free(&wk->buf);
	}
	return NULL;
}

void agent_qsvc_set_node_id(struct agent_qsvc *q, const char *id)
{
	__atomic_store_n(&q->node_id, id, __ATOMIC_RELEASE);
}

void agent_qsvc_set_agent_id(struct agent_qsvc *q, const char *id)
{
	__atomic_store_n(&q->agent_id, id, __ATOMIC_RELEASE);
}

int agent_qsvc_start(const char *url, int nworkers, struct agent_store *st, const char *node_id,
                     struct agent_qsvc **out)
{
	int rv;
	struct agent_qsvc *q = calloc(1, sizeof *q);
	if (!q)
		return MB_ENOMEM;
	snprintf(q->url, sizeof q->url, "%s", url);
	q->st = st;
	q->node_id = node_id;
	q->n = nworkers > 0 ? nworkers : 4;
	if ((q->w = calloc((size_t)q->n, sizeof *q->w)) == NULL) {
		rv = MB_ENOMEM;
		goto fail;
	}
	if ((rv = mb_rep_open(&q->sock, "query")) != 0)
		goto fail_w;
	for (int i = 0; i < q->n; i++) {
		q->w[i].q = q;
		if ((rv = mb_rep_ctx_open(q->sock, "query", &q->w[i].ctx, &q->w[i].aio, NULL,
		                          NULL)) != 0)
			goto fail_sock;
	}
	if ((rv = mb_listen(q->sock, q->url, QSVC_RECVMAX, &q->l)) != 0)
		goto fail_sock;
	agent_self_listener(AGENT_LISTENER_QUERY, q->l);
	for (int i = 0; i < q->n; i++) {
		if (pthread_create(&q->w[i].thread, NULL, worker_main, &q->w[i]) != 0) {
			rv = MB_ESYS;
			goto fail_threads;
		}
		q->w[i].started = true;
	}
	*out = q;
	return 0;
fail_threads:
	atomic_store(&q->stopping, true);
	for (int i = 0; i < q->n; i++)
		if (q->w[i].started)
			pthread_join(q->w[i].thread, NULL);
fail_sock:
	nng_close(q->sock);
	for (int i = 0; i < q->n; i++)
		if (q->w[i].aio)
			nng_aio_free(q->w[i].aio);
fail_w:
	free(q->w);
fail:
	free(q);
	return rv;
}

void agent_qsvc_stop(struct agent_qsvc *q)
{
	if (!q)
		return;
	atomic_store(&q->stopping, true);
	/* Workers notice within QSVC_POLL_MS, or when their request is answered. */
	for (int i = 0; i < q->n; i++)
		if (q->w[i].started)
			pthread_join(q->w[i].thread, NULL);
	nng_close(q->sock);
	for (int i = 0; i < q->n; i++) {
		nng_aio_free(q->w[i].aio);
		mb_buf_free(&q->w[i].buf);
	}
	free(q->w);
	free(q);
}
