/* rw.h: remote write, agentd's shipper of settled slots to Prometheus remote-write 1.0
 * receivers: the store scan it reads, the encoder, the sender, its progress and its thread. */
#ifndef AGENT_RW_H
#define AGENT_RW_H

#include <stdatomic.h>
#include <stdint.h>

#include "mb.h"
#include "store.h"

/* ------------------------------------------------------------------ scan (rw_scan.c)
 * One series over the slots [a, b] of one level, as the shipper ships it. Valid only during
 * the callback (it points into the registry, under its read lock): copy what you keep. */
enum { AGENT_RW_NONE = 0, AGENT_RW_DATA, AGENT_RW_ALIVE, AGENT_RW_STALE };
#define AGENT_RW_MAX_SLOTS 64
struct agent_rw_row {
	uint32_t idx; /* registry index; the scan's cursor moves past it */
	uint8_t kind;
	const char *source, *name, *unit;
	uint16_t ndims, ntags;
	const struct mb_kv *dims; /* the source's dims merged with the node's, sorted by key */
	const struct mb_kv *tags;
	int n; /* slots a..b */
	/* Per slot: AGENT_RW_DATA (a point in it), AGENT_RW_ALIVE (no point, but counters and
	 * timers' totals are still sent: the series had a point within the live window before
	 * it), AGENT_RW_STALE (its source stopped: a staleness marker goes here), or NONE. */
	uint8_t st[AGENT_RW_MAX_SLOTS];
	/* counter: running total at the slot's end; gauge, resource, set: the slot's value;
	 * timers: running count at the slot's end (and sum[]), q[] the slot's quantiles */
	double val[AGENT_RW_MAX_SLOTS];
	double sum[AGENT_RW_MAX_SLOTS];
	double q[AGENT_RW_MAX_SLOTS][MB_EXPORT_NQ];
	/* timers, when the scan is asked for histograms: running cumulative counts at the slot's
	 * end of the observations <= each of mb_prom_buckets (in the family's base unit), then
	 * all of them (+Inf, which is also the histogram's _count) */
	double bkt[AGENT_RW_MAX_SLOTS][MB_PROM_NBUCKETS + 1];
};
/* Return 0 to go on, 1 to stop after this row (the request is full), else an error. */
typedef int (*agent_rw_fn)(void *arg, const struct agent_rw_row *row);
/* Visits the committed series from registry index *cursor on, in index order, with their
 * slots [a, b] (absolute slots of `level`, b - a < AGENT_RW_MAX_SLOTS), calling fn for each
 * series that has anything to send there. Counters' running totals are the store's total
 * less the finest-level counts filed after the slot (so a late count lands in the next
 * sample, never lost); with hist, timers' bkt[] likewise, from the running sketch less the
 * finest slots' sketches filed after the slot. live_ms: how long a counter is sent after its
 * last point. *cursor
 * is the next index to visit; *done is set when every series was visited. Reads in short
 * read transactions under the registry's read lock (never blocks the writer for long).
 * MB_ESYS, MB_ENOMEM, or fn's error. Any thread but the writer. */
int agent_rw_scan(struct agent_store *s, int level, int64_t a, int64_t b, int64_t live_ms,
                  bool hist, uint32_t *cursor, bool *done, agent_rw_fn fn, void *arg);
/* The level whose resolution is res_ms; -1 if none. *span_ms: how far back its slots can be
 * shipped, the shorter of its span and the finest level's (running totals read the finest
 * slots filed after a slot). */
int agent_rw_level(struct agent_store *s, int64_t res_ms, int64_t *span_ms);

/* ------------------------------------------------------------------ encoder (rw_encode.c)
 * A request under construction: series (labels, sorted, copied) and their samples. */
struct agent_rw_label {
	const char *name, *value;
};
struct agent_rw_ts {
	uint32_t lab0, nlab; /* into labels */
	uint32_t s0, ns;     /* into samples */
};
struct agent_rw_sample {
	double v;
	int64_t t_ms;
};
struct agent_rw_req {
	struct mb_arena arena; /* label strings */
	struct agent_rw_label *labels;
	uint32_t nlabels, caplabels;
	struct agent_rw_ts *ts;
	uint32_t nts, capts;
	struct agent_rw_sample *samples;
	uint32_t nsamples, capsamples;
};
/* Empties r (keeps its memory). */
void agent_rw_req_reset(struct agent_rw_req *r);
void agent_rw_req_free(struct agent_rw_req *r);
/* Starts a series with these labels (copied, sorted by name here; a name given twice keeps
 * its first value). MB_ENOMEM. */
int agent_rw_req_series(struct agent_rw_req *r, int nl, const struct agent_rw_label *l);
/* A sample of the last series started. MB_ENOMEM. */
int agent_rw_req_sample(struct agent_rw_req *r, int64_t t_ms, double v);
/* Drops the last series when it got no sample. */
void agent_rw_req_trim(struct agent_rw_req *r);
/* The body of a WriteRequest with the samples [lo, hi) of r (sample order), snappy-compressed
 * into out (replaced). MB_ENOMEM. */
int agent_rw_encode(const struct agent_rw_req *r, uint32_t lo, uint32_t hi, struct mb_buf *out);
/* The staleness marker Prometheus defines (a NaN with this bit pattern). */
double agent_rw_stale_nan(void);
bool agent_rw_is_stale_nan(double v);

/* ------------------------------------------------------------------ sender (rw_send.c) */
enum agent_rw_verdict {
	AGENT_RW_OK,      /* 2xx */
	AGENT_RW_RETRY,   /* connection error, timeout, 429, 3xx: the same request again later */
	AGENT_RW_SERVER,  /* 5xx: retried; when it persists, the request is split */
	AGENT_RW_REFUSED, /* 4xx but 429: the receiver refuses something in the request */
};
struct agent_rw_sender;
/* url: http(s)://...; token_file may be NULL; timeout_ms for a whole request. */
int agent_rw_sender_open(const char *url, const char *token_file, int64_t timeout_ms,
                         struct agent_rw_sender **out);
/* POSTs body. *status is the HTTP status (0 without one); reason gets the receiver's word
 * (the body's start, or the transport error). abort: checked while the request runs. */
int agent_rw_post(struct agent_rw_sender *s, const struct mb_buf *body,
                  const atomic_bool *abort, int *status, char *reason, size_t rlen);
enum agent_rw_verdict agent_rw_classify(int rv, int status);
void agent_rw_sender_close(struct agent_rw_sender *s);
/* The url without user info or query: for logs and metric labels. */
void agent_rw_url_label(const char *url, char *out, size_t n);

/* ------------------------------------------------------------------ progress (rw_progress.c)
 * Each receiver's position, in an LMDB environment of its own beside the store
 * (DATA_DIR/remote-write), so the shipper's commits never wait on the store's writer. */
struct agent_rw_pos {
	int64_t res_ms;   /* the resolution it counts in */
	int64_t done_ms;  /* every slot ending at or before this is shipped */
	int64_t range_end_ms; /* a range (done_ms, range_end_ms] in progress, series from cursor */
	uint32_t cursor;
	uint32_t pad;
};
struct agent_rw_progress;
int agent_rw_progress_open(const char *data_dir, struct agent_rw_progress **out);
/* MB_EINVAL when there is none for url. */
int agent_rw_progress_get(struct agent_rw_progress *p, const char *url, struct agent_rw_pos *pos);
int agent_rw_progress_put(struct agent_rw_progress *p, const char *url,
                          const struct agent_rw_pos *pos);
void agent_rw_progress_close(struct agent_rw_progress *p);

/* ------------------------------------------------------------------ shipper (rw_ship.c) */
struct agent_rw_opts {
	int nurls;
	const char *const *urls;
	int64_t interval_ms, res_ms, max_behind_ms, settle_ms, live_ms, timeout_ms;
	int nlabels;
	const struct mb_kv *labels; /* external labels, KEY=VALUE split */
	const char *token_file;
	const char *instance;       /* the instance label: the node's hostname */
	const char *data_dir;
	bool hist;                  /* timers as histograms (mb_prom_buckets), not summaries */
};
struct agent_rw;
/* Checks the options against the store, opens the progress, starts a thread per receiver.
 * MB_EINVAL with err, MB_ESYS, MB_ENOMEM. Main thread. */
int agent_rw_start(const struct agent_rw_opts *o, struct agent_store *st, struct agent_rw **out,
                   char *err, size_t errlen);
/* Stops the threads (an in-flight request is abandoned; its position is not advanced). */
void agent_rw_stop(struct agent_rw *rw);
/* agentd's own metrics (self.c): appends the per-receiver counters to b as the change since
 * the last self batch the store committed, gauges as they are now. */
int agent_rw_self(struct mb_batch *b);
void agent_rw_self_done(bool stored);
/* The writer's word on a committed batch: its points that landed in a slot some receiver has
 * shipped already are counted (agentd.remote_write.points.late) for that receiver; counters
 * are not (their late counts go out in the next running total). Writer thread. */
void agent_rw_note_committed(const struct mb_batch *b);

#endif
