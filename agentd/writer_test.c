/* writer_test.c: the writer on a real store: batches answered only after their commit, many
 * per transaction, a full queue refused at once, a stop that answers everything queued. */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "agentd.h"
#include "../tests/unit/mbtest.h"

static struct agent_store *wt_open(const char *sub)
{
	static char dir[512];
	char err[512] = "";
	struct agent_store_opts o;
	memset(&o, 0, sizeof o);
	snprintf(dir, sizeof dir, "%s/%s", mbt_tmpdir(), sub);
	o.dir = dir;
	o.retention = "10s:1h";
	if (mb_parse_retention(o.retention, o.levels, &o.nlevels, err, sizeof err) != 0)
		return NULL;
	o.max_size = 64u << 20;
	o.max_series_per_source = 1000;
	o.hostname = "h";
	o.live_ms = 300000;
	struct agent_store *s = NULL;
	if (agent_store_open(&o, &s, err, sizeof err) != 0)
		return NULL;
	return s;
}

struct wt_job {
	struct agent_job j;
	uint32_t status;
	int done;
	sem_t *gate; /* the done callback waits here: holds the writer */
};

static atomic_int wt_done;

static void wt_cb(struct agent_job *j, uint32_t status, const char *err)
{
	struct wt_job *w = j->arg;
	(void)err;
	w->status = status;
	w->done++;
	atomic_fetch_add(&wt_done, 1);
	if (w->gate)
		sem_wait(w->gate);
}

/* Waits (10 s at most) until n callbacks ran. */
static int wt_wait(int n)
{
	int64_t end = mb_mono_ms() + 10000;
	while (atomic_load(&wt_done) < n)
		if (mb_mono_ms() > end)
			return -1;
		else
			sched_yield();
	return 0;
}

static void wt_make(struct wt_job *w, uint64_t inst, uint64_t seq)
{
	memset(w, 0, sizeof *w);
	w->j.batch = agent_batch_new("c1", inst, seq, mb_now_ms(), 1000);
	agent_batch_add(w->j.batch, MB_COUNTER, "hits", 1, 0, NULL);
	w->j.done = wt_cb;
	w->j.arg = w;
}

MB_TEST(writer_answers_after_commit_and_refuses_when_full)
{
	struct agent_store *st = wt_open("w1");
	CHECK(st != NULL);
	if (!st)
		return;
	struct agent_writer *w = NULL;
	CHECK_EQ_INT(agent_writer_start(st, 2, &w), 0);
	sem_t gate;
	sem_init(&gate, 0, 0);
	struct wt_job jobs[6];
	atomic_store(&wt_done, 0);
	wt_make(&jobs[0], 9, 1);
	jobs[0].gate = &gate;
	CHECK_EQ_INT(agent_writer_push(w, &jobs[0].j), 0);
	/* the writer is now held inside job 0's callback: the queue fills up */
	CHECK_EQ_INT(wt_wait(1), 0);
	wt_make(&jobs[1], 9, 2);
	wt_make(&jobs[2], 9, 2); /* the same seq again: a duplicate in the same group */
	wt_make(&jobs[3], 9, 3);
	CHECK_EQ_INT(agent_writer_push(w, &jobs[1].j), 0);
	CHECK_EQ_INT(agent_writer_push(w, &jobs[2].j), 0);
	CHECK_EQ_INT(agent_writer_push(w, &jobs[3].j), MB_ETOOBIG);
	CHECK_EQ_INT(agent_writer_depth(w), 2);
	CHECK(agent_writer_stalled_ms(w) >= 0);
	CHECK_EQ_INT(jobs[1].done, 0); /* not answered before its commit */
	sem_post(&gate);
	CHECK_EQ_INT(wt_wait(3), 0);
	CHECK_EQ_INT(jobs[0].status, MB_ACK_OK);
	CHECK_EQ_INT(jobs[1].status, MB_ACK_OK);
	CHECK_EQ_INT(jobs[2].status, MB_ACK_DUP);
	CHECK_EQ_INT(agent_writer_depth(w), 0);
	CHECK_EQ_INT(agent_writer_stalled_ms(w), 0);
	/* stop answers what is still queued */
	wt_make(&jobs[4], 9, 4);
	wt_make(&jobs[5], 9, 5);
	CHECK_EQ_INT(agent_writer_push(w, &jobs[4].j), 0);
	CHECK_EQ_INT(agent_writer_push(w, &jobs[5].j), 0);
	agent_writer_stop(w);
	CHECK_EQ_INT(jobs[4].done, 1);
	CHECK_EQ_INT(jobs[5].done, 1);
	CHECK_EQ_INT(jobs[5].status, MB_ACK_OK);
	for (int i = 0; i < 6; i++)
		agent_batch_destroy(jobs[i].j.batch);
	struct agent_store_stats ss;
	agent_store_stats(st, &ss);
	CHECK_EQ_INT(ss.dup_batches, 1);
	agent_store_close(st);
	sem_destroy(&gate);
}
