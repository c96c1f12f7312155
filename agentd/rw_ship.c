/* rw_ship.c: the remote-write shipper: a thread per receiver that ships every settled slot
 * from its committed position, retries what may pass later, splits what is refused down to
 * the refused samples, drops what fell past --remote-write-max-behind, and counts it all. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentd.h"
#include "rw.h"

#define MAX_SLOTS_PER_REQ 30     /* a range: 5 minutes of 10 s slots */
#define MAX_SAMPLES_PER_REQ 10000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define SERVER_TRIES 3           /* a 5xx this many times in a row: look for refused samples */
#define LOG_REFUSED_MAX 5        /* refused samples logged one by one per request */

enum { C_SENT, C_RETRIED, C_REFUSED, C_DROPPED, C_FAILED, C_LATE, NC };
static const char *const cname[NC] = {
	"agentd.remote_write.samples.sent", "agentd.remote_write.samples.retried",
	"agentd.remote_write.samples.refused", "agentd.remote_write.slots.dropped",
	"agentd.remote_write.requests.failed", "agentd.remote_write.points.late"};

struct rcv {
	struct agent_rw *rw;
	const char *url;
	char label[512];
	pthread_t th;
	bool started;
	struct agent_rw_sender *snd;
	struct agent_rw_req req;
	struct mb_buf body;
	struct agent_rw_pos pos;
	atomic_uint_fast64_t ctr[NC];
	atomic_int_fast64_t behind_ms;
	atomic_int_fast64_t shipped_ms; /* pos.done_ms, for the writer's late-point count */
	uint64_t committed[NC], inflight[NC]; /* self.c's view: under self_mu */
	/* one request's search */
	bool healthy;
	int nlogged;
	uint64_t refused_here;
};

struct agent_rw {
	struct agent_rw_opts o;
	struct agent_store *st;
	int level;
	struct agent_rw_progress *prog;
	atomic_bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
	struct rcv *r;
};

static pthread_mutex_t self_mu = PTHREAD_MUTEX_INITIALIZER;
static struct agent_rw *self_rw; /* for self.c; set at start, cleared at stop */

static void add(struct rcv *r, int c, uint64_t n)
{
	atomic_fetch_add_explicit(&r->ctr[c], n, memory_order_relaxed);
}

/* Sleeps up to ms, or until stopped. false when stopping. */
static bool nap(struct agent_rw *rw, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&rw->mu);
	while (!atomic_load(&rw->stop))
		if (pthread_cond_timedwait(&rw->cv, &rw->mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&rw->mu);
	return !atomic_load(&rw->stop);
}

/* ------------------------------------------------------------------ building a request */

struct build {
	struct rcv *r;
	int64_t a, res;
	uint32_t nrows;
};

/* Starts a series of the family fam + sfx for row; lk = lv an extra label (quantile, le). */
static int series(struct build *b, const char *fam, const char *sfx, const struct agent_rw_row *row,
                  const char *lk, const char *lv)
{
	struct agent_rw *rw = b->r->rw;
	struct mb_prom_labels *ls = malloc(sizeof *ls);
	struct agent_rw_label l[MB_PROM_MAX_LABELS + 4 + 16];
	char name[MB_PROM_MAX_NAME + 16];
	int n = 0, rv;
	if (!ls)
		return MB_ENOMEM;
	snprintf(name, sizeof name, "%s%s", fam, sfx);
	struct mb_source_dims src = {row->source, row->ndims, (struct mb_kv *)(uintptr_t)row->dims};
	mb_prom_labels(ls, &src, row->ntags, row->tags);
	l[n++] = (struct agent_rw_label){"__name__", name};
	for (int i = 0; i < ls->n; i++)
		if (ls->val[i])
			l[n++] = (struct agent_rw_label){ls->name[i], ls->val[i]};
	if (lk)
		l[n++] = (struct agent_rw_label){lk, lv};
	l[n++] = (struct agent_rw_label){"job", MB_PROM_JOB};
	l[n++] = (struct agent_rw_label){"instance", rw->o.instance};
	for (int i = 0; i < rw->o.nlabels && n < (int)(sizeof l / sizeof l[0]); i++)
		l[n++] = (struct agent_rw_label){rw->o.labels[i].key, rw->o.labels[i].val};
	rv = agent_rw_req_series(&b->r->req, n, l);
	free(ls);
	return rv;
}

/* Samples of one series of the row: what(i) picks the value of slot i, NAN to skip. */
enum { W_VAL, W_SUM, W_COUNT, W_Q0, W_B0 = W_Q0 + MB_EXPORT_NQ };
static int samples(struct build *b, const struct agent_rw_row *row, int what, double scale)
{
	struct agent_rw_req *q = &b->r->req;
	int rv = 0;
	for (int i = 0; i < row->n && rv == 0; i++) {
		int64_t t = (b->a + i + 1) * b->res;
		uint8_t st = row->st[i];
		double v;
		if (st == AGENT_RW_NONE)
			continue;
		if (st == AGENT_RW_STALE) {
			rv = agent_rw_req_sample(q, t, agent_rw_stale_nan());
			continue;
		}
		if (what >= W_B0) {
			v = row->bkt[i][what - W_B0]; /* running, like a counter */
		} else if (what >= W_Q0) {
			if (st != AGENT_RW_DATA || !isfinite(row->q[i][what - W_Q0]))
				continue;
			v = row->q[i][what - W_Q0] * scale;
		} else if (what == W_SUM) {
			v = row->sum[i] * scale;
		} else if (what == W_COUNT) {
			v = row->val[i];
		} else {
			if (st != AGENT_RW_DATA && row->kind != MB_COUNTER)
				continue;
			v = row->val[i] * scale;
		}
		if (isfinite(v))
			rv = agent_rw_req_sample(q, t, v);
	}
	agent_rw_req_trim(q);
	return rv;
}

static int on_row(void *arg, const struct agent_rw_row *row)
{
	struct build *b = arg;
	char fam[MB_PROM_MAX_NAME];
	double scale = 1;
	int pt = mb_prom_type_of(row->kind, b->r->rw->o.hist), rv = 0;
	mb_prom_family(row->name, row->unit, row->source, pt, fam, sizeof fam, &scale);
	if (pt == MB_PROM_SUMMARY) {
		for (int j = 0; j < MB_EXPORT_NQ && rv == 0; j++)
			if ((rv = series(b, fam, "", row, "quantile", mb_prom_quantile_str[j])) == 0)
				rv = samples(b, row, W_Q0 + j, scale);
		if (rv == 0 && (rv = series(b, fam, "_sum", row, NULL, NULL)) == 0)
			rv = samples(b, row, W_SUM, scale);
		if (rv == 0 && (rv = series(b, fam, "_count", row, NULL, NULL)) == 0)
			rv = samples(b, row, W_COUNT, 1);
	} else if (pt == MB_PROM_HISTOGRAM) {
		/* the layout of /metrics with --prometheus-histograms: _count is the +Inf bucket */
		for (int k = 0; k <= MB_PROM_NBUCKETS && rv == 0; k++)
			if ((rv = series(b, fam, "_bucket", row, "le",
			                 k < MB_PROM_NBUCKETS ? mb_prom_bucket_str[k] : "+Inf")) == 0)
				rv = samples(b, row, W_B0 + k, 1);
		if (rv == 0 && (rv = series(b, fam, "_sum", row, NULL, NULL)) == 0)
			rv = samples(b, row, W_SUM, scale);
		if (rv == 0 && (rv = series(b, fam, "_count", row, NULL, NULL)) == 0)
			rv = samples(b, row, W_B0 + MB_PROM_NBUCKETS, 1);
	} else if ((rv = series(b, fam, "", row, NULL, NULL)) == 0) {
		rv = samples(b, row, W_VAL, scale);
	}
	if (rv != 0)
		return rv;
	b->nrows++;
	return b->r->req.nsamples >= MAX_SAMPLES_PER_REQ ? 1 : 0;
}

/* ------------------------------------------------------------------ sending */

static int64_t floor_ms(const struct agent_rw *rw, int64_t now)
{
	int64_t res = rw->o.res_ms;
	int64_t settled = (now - rw->o.settle_ms) / res * res;
	return settled - rw->o.max_behind_ms;
}

/* One POST of samples [lo, hi), retried while the verdict says "later" (connection, 429,
 * 3xx) and, for a whole request, on a 5xx until it persists. The verdict, or -1 when stopping
 * or when the request fell behind max-behind. */
static int post(struct rcv *r, uint32_t lo, uint32_t hi, bool whole, char *reason, size_t rlen)
{
	struct agent_rw *rw = r->rw;
	int64_t backoff = BACKOFF_MIN_MS;
	int servers = 0;
	for (;;) {
		if (atomic_load(&rw->stop) || r->pos.done_ms < floor_ms(rw, mb_now_ms()))
			return -1;
		int status = 0, rv;
		if ((rv = agent_rw_encode(&r->req, lo, hi, &r->body)) != 0)
			return -1;
		rv = agent_rw_post(r->snd, &r->body, &rw->stop, &status, reason, rlen);
		int v = agent_rw_classify(rv, status);
		if (v == AGENT_RW_OK || v == AGENT_RW_REFUSED)
			return v;
		/* inside a search one 5xx is enough: the search looks on */
		if (v == AGENT_RW_SERVER && (!whole || ++servers >= SERVER_TRIES))
			return v;
		add(r, C_RETRIED, hi - lo);
		add(r, C_FAILED, 1);
		if (rv)
			mb_log_warnx("remote write %s: %.200s: retrying in %lld ms", r->label, reason,
			             (long long)backoff);
		else
			mb_log_warnx("remote write %s: HTTP %d (%.200s): retrying in %lld ms", r->label,
			             status, reason[0] ? reason : "no reason", (long long)backoff);
		if (!nap(rw, backoff))
			return -1;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
}

static void refused_one(struct rcv *r, uint32_t i, const char *reason)
{
	r->refused_here++;
	add(r, C_REFUSED, 1);
	if (r->nlogged++ >= LOG_REFUSED_MAX)
		return;
	const char *name = "?";
	for (uint32_t k = 0; k < r->req.nts; k++) {
		const struct agent_rw_ts *t = &r->req.ts[k];
		if (i >= t->s0 && i < t->s0 + t->ns) {
			for (uint32_t j = 0; j < t->nlab; j++)
				if (!strcmp(r->req.labels[t->lab0 + j].name, "__name__"))
					name = r->req.labels[t->lab0 + j].value;
			break;
		}
	}
	mb_log_warnx("remote write %s: sample %s at %lld refused, dropped: %.200s", r->label, name,
	             (long long)r->req.samples[i].t_ms, reason);
}

/* Finds the refused samples of [lo, hi), known refused as a whole: halves, each tried. 0 when
 * every sample is sent or refused; 1 when nothing passed at all (the receiver is failing,
 * not the data: the whole is retried later); -1 when stopping. */
static int split(struct rcv *r, uint32_t lo, uint32_t hi, int verdict, const char *why)
{
	char reason[600];
	if (hi - lo == 1) {
		if (verdict == AGENT_RW_REFUSED || r->healthy) {
			refused_one(r, lo, why);
			return 0;
		}
		return 1;
	}
	uint32_t mid = lo + (hi - lo) / 2;
	uint32_t part[2][2] = {{lo, mid}, {mid, hi}};
	for (int h = 0; h < 2; h++) {
		int v = post(r, part[h][0], part[h][1], false, reason, sizeof reason);
		if (v < 0)
			return -1;
		if (v == AGENT_RW_OK) {
			r->healthy = true;
			add(r, C_SENT, part[h][1] - part[h][0]);
			continue;
		}
		int s = split(r, part[h][0], part[h][1], v, reason);
		if (s != 0)
			return s;
	}
	return 0;
}

/* Ships r->req until every sample is accepted or refused. 0, or -1 (stopping, or behind:
 * the caller looks at the position again). */
static int ship(struct rcv *r)
{
	char reason[600];
	uint32_t n = r->req.nsamples;
	int64_t backoff = BACKOFF_MIN_MS;
	for (;;) {
		int v = post(r, 0, n, true, reason, sizeof reason);
		if (v < 0)
			return -1;
		if (v == AGENT_RW_OK) {
			add(r, C_SENT, n);
			return 0;
		}
		mb_log_warnx("remote write %s: request of %u samples refused (HTTP %s): %.200s; looking "
		             "for the refused samples", r->label, n,
		             v == AGENT_RW_REFUSED ? "4xx" : "5xx", reason);
		r->healthy = false;
		r->nlogged = 0;
		r->refused_here = 0;
		int s = split(r, 0, n, v, reason);
		if (s < 0)
			return -1;
		if (s == 0) {
			if (r->nlogged > LOG_REFUSED_MAX)
				mb_log_warnx("remote write %s: %llu samples refused in that request",
				             r->label, (unsigned long long)r->refused_here);
			return 0;
		}
		add(r, C_RETRIED, n);
		add(r, C_FAILED, 1);
		if (!nap(r->rw, backoff))
			return -1;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
}

/* ------------------------------------------------------------------ the thread */

static void save(struct rcv *r)
{
	atomic_store(&r->shipped_ms, r->pos.done_ms);
	if (agent_rw_progress_put(r->rw->prog, r->url, &r->pos) != 0)
		mb_log_warnx("remote write %s: cannot save the position", r->label);
}

static void *run(void *arg)
{
	struct rcv *r = arg;
	struct agent_rw *rw = r->rw;
	int64_t res = rw->o.res_ms;
	if (agent_rw_progress_get(rw->prog, r->url, &r->pos) != 0 || r->pos.res_ms != res) {
		/* First time (or a new resolution): start at the newest settled slot. */
		int64_t now = mb_now_ms();
		int64_t start = r->pos.res_ms ? r->pos.done_ms / res * res
		                              : (now - rw->o.settle_ms) / res * res - res;
		memset(&r->pos, 0, sizeof r->pos);
		r->pos.res_ms = res;
		r->pos.done_ms = start;
		save(r);
	}
	mb_log_info("remote write %s: shipping %s slots from %lld", r->label,
	            rw->level == 0 ? "finest" : "coarser", (long long)r->pos.done_ms);
	while (!atomic_load(&rw->stop)) {
		int64_t now = mb_now_ms();
		int64_t settled = (now - rw->o.settle_ms) / res * res;
		int64_t fl = floor_ms(rw, now);
		atomic_store(&r->behind_ms, settled > r->pos.done_ms ? settled - r->pos.done_ms : 0);
		if (r->pos.done_ms < fl) {
			int64_t slots = (fl - r->pos.done_ms) / res;
			add(r, C_DROPPED, (uint64_t)slots);
			mb_log_warnx("remote write %s: %lld slots older than --remote-write-max-behind "
			             "dropped", r->label, (long long)slots);
			r->pos.done_ms = fl;
			r->pos.range_end_ms = 0;
			r->pos.cursor = 0;
			save(r);
		}
		if (r->pos.done_ms >= settled) {
			int64_t next = settled + res + rw->o.settle_ms - now;
			nap(rw, next < rw->o.interval_ms ? next : rw->o.interval_ms);
			continue;
		}
		if (!r->pos.range_end_ms) {
			int64_t e = r->pos.done_ms + MAX_SLOTS_PER_REQ * res;
			r->pos.range_end_ms = e < settled ? e : settled;
			r->pos.cursor = 0;
		}
		struct build b = {r, r->pos.done_ms / res, res, 0};
		uint32_t cursor = r->pos.cursor;
		bool done = false;
		agent_rw_req_reset(&r->req);
		int rv = agent_rw_scan(rw->st, rw->level, b.a, r->pos.range_end_ms / res - 1,
		                       rw->o.live_ms, rw->o.hist, &cursor, &done, on_row, &b);
		if (rv != 0) {
			mb_log_warnx("remote write %s: reading the store: %s", r->label, mb_strerror(rv));
			nap(rw, rw->o.interval_ms);
			continue;
		}
		if (r->req.nsamples && ship(r) != 0)
			continue; /* stopping, or fell behind: look again */
		if (done) {
			r->pos.done_ms = r->pos.range_end_ms;
			r->pos.range_end_ms = 0;
			r->pos.cursor = 0;
		} else {
			r->pos.cursor = cursor;
		}
		save(r);
	}
	return NULL;
}

int agent_rw_start(const struct agent_rw_opts *o, struct agent_store *st, struct agent_rw **out,
                   char *err, size_t errlen)
{
	int64_t span = 0;
	int level = agent_rw_level(st, o->res_ms, &span);
	char d[32];
	if (level < 0) {
		mb_format_duration(o->res_ms, d, sizeof d);
		snprintf(err, errlen, "--remote-write-resolution %s is not a resolution of "
		                      "--retention", d);
		return MB_EINVAL;
	}
	if (o->max_behind_ms + o->settle_ms + MAX_SLOTS_PER_REQ * o->res_ms > span) {
		snprintf(err, errlen, "--remote-write-max-behind must leave the settle time and a "
		                      "request's range inside the window it ships and the finest "
		                      "window (counters' totals are read from it)");
		return MB_EINVAL;
	}
	struct agent_rw *rw = calloc(1, sizeof *rw);
	if (!rw)
		return MB_ENOMEM;
	rw->o = *o;
	rw->st = st;
	rw->level = level;
	pthread_mutex_init(&rw->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rw->cv, &ca);
	pthread_condattr_destroy(&ca);
	int rv;
	if ((rv = agent_rw_progress_open(o->data_dir, &rw->prog)) != 0) {
		snprintf(err, errlen, "cannot open %s/remote-write", o->data_dir);
		goto fail;
	}
	if (!(rw->r = calloc((size_t)o->nurls, sizeof *rw->r))) {
		rv = MB_ENOMEM;
		goto fail;
	}
	rw->n = o->nurls;
	for (int i = 0; i < rw->n; i++) {
		struct rcv *r = &rw->r[i];
		r->rw = rw;
		r->url = o->urls[i];
		agent_rw_url_label(r->url, r->label, sizeof r->label);
		if ((rv = agent_rw_sender_open(r->url, o->token_file, o->timeout_ms, &r->snd)) != 0) {
			snprintf(err, errlen, "remote write %s: %s", r->label, mb_strerror(rv));
			goto fail;
		}
	}
	pthread_mutex_lock(&self_mu);
	self_rw = rw;
	pthread_mutex_unlock(&self_mu);
	for (int i = 0; i < rw->n; i++) {
		if (pthread_create(&rw->r[i].th, NULL, run, &rw->r[i]) != 0) {
			snprintf(err, errlen, "cannot start a remote-write thread");
			agent_rw_stop(rw);
			return MB_ESYS;
		}
		rw->r[i].started = true;
	}
	*out = rw;
	return 0;
fail:
	agent_rw_stop(rw);
	return rv;
}

void agent_rw_stop(struct agent_rw *rw)
{
	if (!rw)
		return;
	pthread_mutex_lock(&rw->mu);
	atomic_store(&rw->stop, true);
	pthread_cond_broadcast(&rw->cv);
	pthread_mutex_unlock(&rw->mu);
	pthread_mutex_lock(&self_mu);
	self_rw = NULL;
	pthread_mutex_unlock(&self_mu);
	for (int i = 0; i < rw->n; i++) {
		struct rcv *r = &rw->r[i];
		if (r->started)
			pthread_join(r->th, NULL);
		agent_rw_sender_close(r->snd);
		agent_rw_req_free(&r->req);
		mb_buf_free(&r->body);
	}
	agent_rw_progress_close(rw->prog);
	pthread_cond_destroy(&rw->cv);
	pthread_mutex_destroy(&rw->mu);
	free(rw->r);
	free(rw);
}

/* ------------------------------------------------------------------ self metrics */

int agent_rw_self(struct mb_batch *b)
{
	int rv = 0;
	pthread_mutex_lock(&self_mu);
	struct agent_rw *rw = self_rw;
	for (int i = 0; rw && i < rw->n && rv == 0; i++) {
		struct rcv *r = &rw->r[i];
		struct mb_kv tag = {"receiver", r->label};
		for (int c = 0; c < NC && rv == 0; c++) {
			uint64_t now = atomic_load_explicit(&r->ctr[c], memory_order_relaxed);
			r->inflight[c] = now;
			rv = agent_batch_add(b, MB_COUNTER, cname[c],
			                     now >= r->committed[c] ? (double)(now - r->committed[c]) : 0,
			                     1, &tag);
		}
		if (rv == 0)
			rv = agent_batch_add(b, MB_GAUGE, "agentd.remote_write.behind_seconds",
			                     (double)atomic_load(&r->behind_ms) / 1000.0, 1, &tag);
	}
	pthread_mutex_unlock(&self_mu);
	return rv;
}

void agent_rw_note_committed(const struct mb_batch *b)
{
	pthread_mutex_lock(&self_mu);
	struct agent_rw *rw = self_rw;
	if (rw && b->nrecords && b->time_ms > 0) {
		int64_t res = rw->o.res_ms;
		int64_t end = ((b->time_ms - 1) / res + 1) * res; /* the end of the slot it fills */
		uint64_t n = 0;
		for (int i = 0; i < rw->n; i++) {
			if (end > atomic_load(&rw->r[i].shipped_ms))
				continue;
			if (!n)
				for (uint32_t k = 0; k < b->nrecords; k++)
					n += b->records[k].kind != MB_COUNTER;
			add(&rw->r[i], C_LATE, n);
		}
	}
	pthread_mutex_unlock(&self_mu);
}

void agent_rw_self_done(bool stored)
{
	pthread_mutex_lock(&self_mu);
	struct agent_rw *rw = self_rw;
	for (int i = 0; stored && rw && i < rw->n; i++)
		memcpy(rw->r[i].committed, rw->r[i].inflight, sizeof rw->r[i].committed);
	pthread_mutex_unlock(&self_mu);
}
