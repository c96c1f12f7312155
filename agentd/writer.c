/* writer.c: the one store-writing thread and its bounded queue: many batches per transaction,
 * each answered only after the transaction that holds it has committed. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentd.h"
#include "rw.h"

/* Records per transaction: enough to amortise the commit, and few enough to bound memory:
 * LMDB keeps the copies of the pages a write transaction dirtied (malloc'd, ~0.6 KiB per record
 * when a point goes to three levels) for the life of the process, so the largest transaction
 * sets that part of agentd's resident memory. Measured at 100,000 series (10,000-record
 * batches, 8 pushers): 20,000 records per transaction against 200,000 cost ~5% more CPU per
 * point and leave 66-70 MiB of anonymous memory instead of 170-190 MiB. */
#define WRITER_MAX_RECORDS 20000
#define WRITER_MAX_BATCHES 4096

struct agent_writer {
	struct agent_store *st;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct agent_job *head, *tail;
	int depth, max_jobs;
	bool stopping, started;
	atomic_int broken;
	atomic_int_fast64_t progress_ms; /* last commit done, or last time found idle */
	/* writer thread only */
	struct mb_batch **batches;
	bool *own;
	struct agent_job **jobs;
	uint32_t *status;
	char (*errs)[MB_MAX_ERR + 1];
};

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void count_status(const struct mb_batch *b, uint32_t st)
{
	switch (st) {
	case MB_ACK_OK:
		atomic_fetch_add_explicit(&agent_ctr.batches_committed, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&agent_ctr.records_committed, b->nrecords,
		                          memory_order_relaxed);
		break;
	case MB_ACK_DUP:
		atomic_fetch_add_explicit(&agent_ctr.batches_dup, 1, memory_order_relaxed);
		break;
	case MB_ACK_REJECTED:
		atomic_fetch_add_explicit(&agent_ctr.batches_rejected[AGENT_REJ_STORE], 1,
		                          memory_order_relaxed);
		break;
	default:
		atomic_fetch_add_explicit(&agent_ctr.batches_retry, 1, memory_order_relaxed);
		break;
	}
}

/* Commits one group. On a store that reports itself unusable every batch is answered "retry"
 * (the shims keep them) and the daemon is told to stop. */
static void commit_group(struct agent_writer *w, int n)
{
	static int64_t last_retry_log;
	uint64_t t0 = mono_us();
	int rv = agent_store_commit(w->st, w->batches, w->own, n, w->status, w->errs);
	uint64_t dt = mono_us() - t0;
	atomic_fetch_add_explicit(&agent_ctr.commit_txns, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&agent_ctr.commit_us_total, dt, memory_order_relaxed);
	uint64_t mx = atomic_load_explicit(&agent_ctr.commit_us_max, memory_order_relaxed);
	while (dt > mx && !atomic_compare_exchange_weak(&agent_ctr.commit_us_max, &mx, dt))
		;
	if (rv != 0) {
		mb_log_error("store commit failed (%s): answering retry and stopping",
		             mb_strerror(rv));
		atomic_store(&w->broken, 1);
		for (int i = 0; i < n; i++) {
			w->status[i] = MB_ACK_RETRY;
			snprintf(w->errs[i], sizeof w->errs[i], "store unavailable");
		}
	}
	int nretry = 0;
	for (int i = 0; i < n; i++) {
		count_status(w->batches[i], w->status[i]);
		if (w->status[i] == MB_ACK_OK)
			agent_rw_note_committed(w->batches[i]);
		if (w->status[i] == MB_ACK_RETRY)
			nretry++;
		else if (w->status[i] == MB_ACK_REJECTED)
			mb_log_warnx("batch from %s seq %llu rejected: %s",
			             w->batches[i]->container_id,
			             (unsigned long long)w->batches[i]->seq, w->errs[i]);
	}
	if (nretry) {
		/* A full disk repeats every commit: one line a minute says it. */
		int64_t now = mb_mono_ms();
		if (now - last_retry_log >= 60000 || last_retry_log == 0) {
			int i = 0;
			while (w->status[i] != MB_ACK_RETRY)
				i++;
			mb_log_error("%d batches not committed, shims keep them and resend: %s",
			             nretry, w->errs[i]);
			last_retry_log = now;
		}
	}
	for (int i = 0; i < n; i++) {
		struct agent_job *j = w->jobs[i];
		j->done(j, w->status[i], w->errs[i]);
	}
}

static void *writer_main(void *arg)
{
	struct agent_writer *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (!w->head && !w->stopping) {
			atomic_store(&w->progress_ms, mb_mono_ms());
			pthread_cond_wait(&w->cv, &w->mu);
		}
		if (!w->head && w->stopping) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		int n = 0;
		uint64_t recs = 0;
		while (w->head && n < WRITER_MAX_BATCHES &&
		       (n == 0 || recs + w->head->batch->nrecords <= WRITER_MAX_RECORDS)) {
			struct agent_job *j = w->head;
			w->head = j->next;
			if (!w->head)
				w->tail = NULL;
			j->next = NULL;
			w->jobs[n] = j;
			w->batches[n] = j->batch;
			w->own[n] = j->own;
			memset(w->errs[n], 0, sizeof w->errs[n]);
			recs += j->batch->nrecords;
			n++;
		}
		w->depth -= n;
		atomic_store_explicit(&agent_ctr.queue_depth, w->depth, memory_order_relaxed);
		pthread_mutex_unlock(&w->mu);
		commit_group(w, n);
		atomic_store(&w->progress_ms, mb_mono_ms());
	}
	return NULL;
}

int agent_writer_start(struct agent_store *st, int max_jobs, struct agent_writer **out)
{
	int rv = MB_ENOMEM;
	struct agent_writer *w = calloc(1, sizeof *w);
	if (!w)
		return MB_ENOMEM;
	w->st = st;
	w->max_jobs = max_jobs;
	atomic_store(&w->progress_ms, mb_mono_ms());
	w->batches = calloc(WRITER_MAX_BATCHES, sizeof *w->batches);
	w->own = calloc(WRITER_MAX_BATCHES, sizeof *w->own);
	w->jobs = calloc(WRITER_MAX_BATCHES, sizeof *w->jobs);
	w->status = calloc(WRITER_MAX_BATCHES, sizeof *w->status);
	w->errs = calloc(WRITER_MAX_BATCHES, sizeof *w->errs);
	if (!w->batches || !w->own || !w->jobs || !w->status || !w->errs)
		goto fail;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if ((errno = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
		rv = MB_ESYS;
		goto fail_sync;
	}
	w->started = true;
	*out = w;
	return 0;
fail_sync:
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
fail:
	free(w->errs);
	free(w->status);
	free(w->jobs);
	free(w->batches);
	free(w->own);
	free(w);
	return rv;
}

int agent_writer_push(struct agent_writer *w, struct agent_job *j)
{
	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		pthread_mutex_unlock(&w->mu);
		return MB_EDOWN;
	}
	if (w->depth >= w->max_jobs) {
		pthread_mutex_unlock(&w->mu);
		return MB_ETOOBIG;
	}
	j->next = NULL;
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->depth++;
	atomic_store_explicit(&agent_ctr.queue_depth, w->depth, memory_order_relaxed);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int agent_writer_depth(struct agent_writer *w)
{
	pthread_mutex_lock(&w->mu);
	int d = w->depth;
	pthread_mutex_unlock(&w->mu);
	return d;
}

int64_t agent_writer_stalled_ms(struct agent_writer *w)
{
	if (agent_writer_depth(w) == 0)
		return 0;
	int64_t d = mb_mono_ms() - atomic_load(&w->progress_ms);
	return d > 0 ? d : 0;
}

int agent_writer_broken(struct agent_writer *w)
{
	return atomic_load(&w->broken);
}

void agent_writer_stop(struct agent_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->started)
		pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w->errs);
	free(w->status);
	free(w->jobs);
	free(w->batches);
	free(w->own);
	free(w);
}
