/* mb.h: the metricsbus bus library, the only code shared between programs.
 * This header is its manual: ownership, threads and errors are stated at each declaration. */
#ifndef MB_H
#define MB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MB_VERSION "0.1.0"
#define MB_SCHEMA_VERSION 1

/* ------------------------------------------------------------------ errors
 * Every function that can fail returns int: 0 on success or one of these. Functions that
 * take `char *err, size_t errlen` also write a one-line reason there (always NUL-terminated).
 * The codes have a range of their own (MB_EFIRST..MB_ELAST, negative), clear of errno's and
 * nng's (positive) and LMDB's (-30799..-30780), so a code passed up through code that also
 * sees those is never mistaken for one of them (as LMDB keeps its codes clear of errno). */
enum {
	MB_OK = 0,
	MB_EFIRST = -32008,
	MB_EINVAL = -32001,    /* bad input: malformed, out of range, fails the schema */
	MB_ENOMEM = -32002,    /* allocation failed */
	MB_ETOOBIG = -32003,   /* over a schema limit (message, string, count) */
	MB_EVERSION = -32004,  /* message of a schema version this build does not read */
	MB_EDOWN = -32005,     /* no peer connected (agentd not there) */
	MB_ETIMEDOUT = -32006, /* peer connected but no answer before the deadline */
	MB_ENNG = -32007,      /* another nng error; the nng code is logged */
	MB_ESYS = -32008,      /* a system call failed; errno is kept */
	MB_ELAST = -32001,
};
/* Whether rv is one of the MB_E* codes. */
static inline int mb_is_err(int rv)
{
	return rv >= MB_EFIRST && rv <= MB_ELAST;
}
/* A static string for an error code; never NULL. Any thread. */
const char *mb_strerror(int err);

/* ------------------------------------------------------------------ limits (schemas/v1) */
#define MB_MAX_MSG (1u << 20)  /* bytes in one message */
#define MB_MAX_NAME 255        /* metric name, container id */
#define MB_MAX_TAGS 32         /* tags per record */
#define MB_MAX_TAG_KEY 128
#define MB_MAX_TAG_VAL 128
#define MB_MAX_DIMS 64
#define MB_MAX_DIM_KEY 128
#define MB_MAX_DIM_VAL 1024
#define MB_MAX_RECORDS 65536   /* records per batch */
#define MB_MAX_RANGE_POINTS 11000
#define MB_MAX_NODE_IDS 8      /* ids in a ping reply */
#define MB_MAX_ERR 256         /* ack reason */

/* ------------------------------------------------------------------ logging (log.c)
 * Lines go to stderr as "LEVEL component: message\n", written with one write(2) so lines
 * from threads do not interleave. Call mb_log_init once at start-up; the log functions may
 * then be called from any thread. A line is at most 2 KiB (longer messages are cut) and
 * control characters in the message become '?', so quoting bad input never breaks a line.
 * LEVEL is DEBUG, INFO, WARN or ERROR; errno is preserved across every call. */
enum mb_log_level { MB_LOG_DEBUG = 0, MB_LOG_INFO, MB_LOG_WARN, MB_LOG_ERROR };
void mb_log_init(const char *component, enum mb_log_level level);
void mb_log_set_level(enum mb_log_level level);
bool mb_log_enabled(enum mb_log_level level);
/* "debug|info|warn|error" -> level; MB_EINVAL otherwise. */
int mb_log_parse_level(const char *s, enum mb_log_level *out);
void mb_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mb_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* mb_log_warn appends ": strerror(errno)"; mb_log_warnx does not. */
void mb_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mb_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mb_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log at ERROR and exit(1). Only for start-up failures and broken invariants, never for
 * bad input or a network path. mb_fatal appends strerror(errno). */
void mb_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void mb_fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ------------------------------------------------------------------ parsing (parse.c)
 * Pure functions, any thread, never allocate. Return 0 or MB_EINVAL (also on overflow). */
/* "250ms", "10s", "1.5s", "5m", "6h", "7d", "2w", "0". A bare number is refused. Units ms, s,
 * m, h, d, w (case-sensitive); Go-style sums such as "1h30m" are accepted; a fraction must
 * come to whole milliseconds ("0.5ms" is refused). *ms is untouched on failure. */
int mb_parse_duration(const char *s, int64_t *ms);
/* "1024", "512B", "64KiB", "16MiB", "8GiB", "1TiB", and decimal "10KB" (or "kB"), "5MB",
 * "1GB", "1TB". Case-sensitive ("16M", "16mib" are refused); a fraction must come to whole
 * bytes ("1.5KiB" = 1536). */
int mb_parse_size(const char *s, uint64_t *bytes);
/* Formats ms as the shortest exact duration in d, h, m, s or ms ("10s", "500ms", "6h", "7d",
 * "90s"; 0 is "0"); mb_parse_duration reads it back. buf >= 24 bytes. */
void mb_format_duration(int64_t ms, char *buf, size_t n);

/* One rolling window: a ring of span/res slots. */
struct mb_level {
	int64_t res_ms;  /* slot width */
	int64_t span_ms; /* how far back it reaches; a multiple of res_ms */
};
#define MB_MAX_LEVELS 8
#define MB_DEFAULT_RETENTION "10s:6h,1m:7d,1h:90d"
/* "RES:SPAN,RES:SPAN,..." with strictly increasing resolutions, each a multiple of the one
 * before, span a multiple of res, span/res <= 10,000,000. */
int mb_parse_retention(const char *s, struct mb_level *levels, int *nlevels, char *err,
                       size_t errlen);

/* A time for range queries: unix seconds ("1700000000", fraction allowed), RFC3339
 * ("2018-08-08T14:44:34Z", "...+02:00", fractions), "now", or relative to now ("-15m",
 * "-2h", "+0s"; any mb_parse_duration after the sign). Digits past the millisecond are
 * truncated. Results outside the years 0000..9999 are refused. *ms untouched on failure. */
int mb_parse_time(const char *s, int64_t now_ms, int64_t *ms);
/* RFC3339 UTC with second precision, "2018-08-08T14:44:34Z". buf >= 32 bytes. */
void mb_format_rfc3339(int64_t ms, char *buf, size_t n);
/* Current wall clock, unix ms; and a monotonic clock in ms. */
int64_t mb_now_ms(void);
int64_t mb_mono_ms(void);

/* FNV-1a 64 followed by a 64-bit finaliser: the hash behind HyperLogLog and series ids. */
uint64_t mb_hash64(const void *data, size_t len);

/* ------------------------------------------------------------------ paths (paths.c)
 * The defaults of docs/operations.md. Each writes a NUL-terminated string into buf and returns 0,
 * or MB_ETOOBIG when it does not fit. They read the environment: call from the main thread. */
/* $METRICSBUS_RUN_DIR, else /run/metricsbus as root, else $XDG_RUNTIME_DIR/metricsbus,
 * else /tmp/metricsbus-$UID. */
int mb_run_dir(char *buf, size_t n);
/* "ipc://RUNDIR/ingest.sock" and "ipc://RUNDIR/query.sock". */
int mb_default_ingest_url(char *buf, size_t n);
int mb_default_query_url(char *buf, size_t n);
/* /var/lib/metricsbus as root, else $XDG_STATE_HOME/metricsbus, else ~/.local/state/metricsbus. */
int mb_default_data_dir(char *buf, size_t n);
/* mkdir -p with mode for each created component. MB_ESYS with errno set on failure. */
int mb_mkdirs(const char *path, unsigned mode);

/* ------------------------------------------------------------------ flags (flags.c)
 * The common command-line front. Every program declares its flags in a table; the parser adds
 * --help, --version and --log-level, reads METRICSBUS_<NAME> from the environment for every
 * flag (flag wins), and on a bad flag or value prints "PROG: error: reason" plus a hint to
 * stderr and exits 2. --help prints usage and exits 0; --version prints "PROG VERSION", exit 0.
 * Main thread only, at start-up. */
enum mb_flag_type {
	MB_FLAG_BOOL,     /* bool *; "--x" sets true; env "1/true/yes/on" or "0/false/no/off" */
	MB_FLAG_STR,      /* const char **; points into argv or environ */
	MB_FLAG_INT,      /* int64_t *; decimal, >= 0 */
	MB_FLAG_DURATION, /* int64_t * in ms, mb_parse_duration */
	MB_FLAG_SIZE,     /* uint64_t * bytes, mb_parse_size */
	MB_FLAG_LIST,     /* struct mb_strlist *; repeatable; the env value is split on ',' */
};
struct mb_strlist {
	int n;
	const char *v[64]; /* more than 64 values is a flag error */
};
struct mb_flag {
	const char *name;    /* without dashes: "flush-interval" */
	enum mb_flag_type type;
	void *dst;           /* keeps its value when the flag is absent: put defaults there */
	const char *metavar; /* "DURATION"; NULL for bool */
	const char *help;    /* one line */
	bool set;            /* out: given by flag or environment */
};
struct mb_prog {
	const char *name;      /* "metricsbus-shim" */
	const char *component; /* log component: "shim" */
	const char *synopsis;  /* "[FLAGS] [--] COMMAND [ARG...]" */
	const char *about;     /* paragraph printed by --help under the usage line */
	struct mb_flag *flags;
	int nflags;
	bool stop_at_positional; /* true: the first non-flag ends parsing (shim's COMMAND) */
	/* Defaults as the docs state them where they depend on where the program runs: pairs
	 * of flag name and text ("query", "ipc://RUNDIR/query.sock", ..., NULL). --help shows
	 * one when dst holds no default, --help-markdown always. */
	const char *const *doc_defaults;
};
/* Parses argv. Positional arguments are moved, in order, to argv[0..*npos-1] (argv[0], the
 * program name, is dropped). Applies --log-level with mb_log_init(component, level).
 * Returns only on success. Details: --help (or -h) and --version win wherever they stand
 * before "--" (and before the first positional with stop_at_positional), and --help shows
 * the defaults in dst as the table set them (else doc_defaults'); --help-markdown prints the
 * flags as the Markdown table the docs hold (make doc-flags); a flag's value may start with '-' ("--from
 * -1h"); the first list value on the command line replaces the default, and a list from the
 * environment replaces it too (empty items skipped); an empty environment variable counts as
 * unset; a bad environment value is an error naming the variable. */
void mb_flags_parse(struct mb_prog *p, int argc, char **argv, int *npos);
/* Prints "PROG: error: <msg>" and exits 2: for positional-argument errors found by main. */
void mb_usage_error(const struct mb_prog *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* ------------------------------------------------------------------ buffers (buf.c) */
struct mb_buf {
	uint8_t *data;
	size_t len, cap;
};
/* A zeroed struct mb_buf is a valid empty buffer. mb_buf_append returns MB_ENOMEM on failure
 * (the buffer is unchanged). The caller owns data; mb_buf_free releases it. */
int mb_buf_append(struct mb_buf *b, const void *p, size_t n);
/* Room for n more bytes after len (data may move): 0 or MB_ENOMEM (unchanged). Writers on a
 * hot path reserve a bound once, then store through data + len. */
int mb_buf_reserve(struct mb_buf *b, size_t n);
void mb_buf_reset(struct mb_buf *b); /* len = 0, keeps memory */
void mb_buf_free(struct mb_buf *b);

/* ------------------------------------------------------------------ growth and hashing (grow.c)
 * mb_grow: makes room for n elements of sz bytes in the array *pp (a pointer to the array
 * pointer) of capacity *cap, doubling from min (16 when 0). MB_ENOMEM (array unchanged).
 *
 * mb_htab: a set of (64-bit hash, 32-bit value) pairs, open addressing with linear probing,
 * at most half full, 8 bytes a slot; the caller keeps the entries (values are their indexes)
 * and decides equality. A zeroed struct is an empty table. Not thread-safe: the owner's lock
 * covers it. Lookup, which allocates nothing:
 *     uint32_t pos = MB_HTAB_START, v;
 *     while (mb_htab_next(t, hash, &pos, &v)) if (equal(entry[v], key)) ...
 * insert: MB_ENOMEM, MB_EINVAL (val UINT32_MAX); remove/replace: MB_EINVAL (pair absent). */
int mb_grow(void *pp, size_t *cap, size_t n, size_t sz, size_t min);
struct mb_hslot {
	uint32_t h;  /* the hash folded to 32 bits: home slot and a filter before the compare */
	uint32_t v1; /* value + 1; 0 = empty */
};
struct mb_htab {
	struct mb_hslot *slot;
	uint32_t mask; /* slots - 1 */
	uint32_t n;
};
#define MB_HTAB_START UINT32_MAX
static inline uint32_t mb_htab_h32(uint64_t hash)
{
	return (uint32_t)(hash >> 32) ^ (uint32_t)hash;
}
static inline bool mb_htab_next(const struct mb_htab *t, uint64_t hash, uint32_t *pos,
                                uint32_t *val)
{
	if (!t->slot)
		return false;
	uint32_t h = mb_htab_h32(hash);
	uint32_t i = *pos == MB_HTAB_START ? h & t->mask : (*pos + 1) & t->mask;
	for (; t->slot[i].v1; i = (i + 1) & t->mask)
		if (t->slot[i].h == h) {
			*pos = i;
			*val = t->slot[i].v1 - 1;
			return true;
		}
	return false;
}
int mb_htab_reserve(struct mb_htab *t, uint32_t n);
int mb_htab_insert(struct mb_htab *t, uint64_t hash, uint32_t val);
int mb_htab_remove(struct mb_htab *t, uint64_t hash, uint32_t val);
int mb_htab_replace(struct mb_htab *t, uint64_t hash, uint32_t val, uint32_t nval);
void mb_htab_clear(struct mb_htab *t); /* empty, keeps its slots */
void mb_htab_free(struct mb_htab *t);

/* A bump allocator: decoded messages put their strings and arrays in one. Not thread-safe;
 * mb_arena_free releases everything it handed out. A zeroed arena is valid. */
struct mb_arena_block;
struct mb_arena {
	struct mb_arena_block *head;
};
void *mb_arena_alloc(struct mb_arena *a, size_t n); /* 16-byte aligned, zeroed; NULL on OOM */
char *mb_arena_strndup(struct mb_arena *a, const char *s, size_t n);
void mb_arena_free(struct mb_arena *a);

/* ------------------------------------------------------------------ sketch (sketch.c)
 * Mergeable quantile sketch, relative error <= 1% (DDSketch-style log buckets, gamma =
 * 1.01/0.99). Dense counts over the used index range, grown on demand, so memory is bounded
 * by MB_SKETCH_MAX_INDEX - MB_SKETCH_MIN_INDEX bins per side. Not thread-safe. */
#define MB_SKETCH_MIN_INDEX (-1100)
#define MB_SKETCH_MAX_INDEX 2100
#define MB_SKETCH_MIN_VALUE 1e-9
#define MB_SKETCH_MAX_BINS 4096
struct mb_sketch {
	uint64_t zero;           /* |v| < MB_SKETCH_MIN_VALUE */
	int32_t pos_lo, neg_lo;  /* index of pos[0], neg[0] */
	uint32_t pos_n, neg_n;   /* length of the dense arrays */
	uint64_t *pos, *neg;     /* heap, owned by the sketch; NULL when empty */
};
/* A zeroed sketch is empty and valid. */
int mb_sketch_add(struct mb_sketch *s, double v, uint64_t n); /* MB_ENOMEM, MB_EINVAL (NaN) */
int mb_sketch_merge(struct mb_sketch *dst, const struct mb_sketch *src);
uint64_t mb_sketch_count(const struct mb_sketch *s);
/* q in [0,1]; MB_EINVAL when the sketch is empty. The nearest-rank quantile (Etsy statsd's
 * and Prometheus's rule): the sample at 1-based rank ceil(q*n) (at least 1), within 1%. */
int mb_sketch_quantile(const struct mb_sketch *s, double q, double *out);
/* The same, given the exact min and max of the samples: rank 1 is min and rank n is max
 * exactly (p99 of {12, 18} is 18, not 18.1), any other rank clamped to [min, max]. min and
 * max not finite or min > max: as mb_sketch_quantile. */
int mb_sketch_quantile_mm(const struct mb_sketch *s, double q, double min, double max,
                          double *out);
/* mb_sketch_quantile_mm for q[0..nq-1] into out[], the sketch counted once: 0, or the first
 * error (out[] from there on unset). */
int mb_sketch_quantiles_mm(const struct mb_sketch *s, const double *q, int nq, double min,
                           double max, double *out);
int32_t mb_sketch_index(double absv);  /* bin index of |v| >= MB_SKETCH_MIN_VALUE */
double mb_sketch_value(int32_t index); /* the value a bin stands for (within 1%) */
void mb_sketch_reset(struct mb_sketch *s); /* empty, keeps memory */
void mb_sketch_free(struct mb_sketch *s);

/* ------------------------------------------------------------------ HyperLogLog (hll.c)
 * p = 10: 1024 one-byte registers, ~3.2% standard error, exact merges. */
#define MB_HLL_P 10
#define MB_HLL_M 1024
struct mb_hll {
	uint8_t reg[MB_HLL_M];
};
void mb_hll_add(struct mb_hll *h, const void *member, size_t len);
void mb_hll_add_hash(struct mb_hll *h, uint64_t hash);
void mb_hll_merge(struct mb_hll *dst, const struct mb_hll *src);
double mb_hll_estimate(const struct mb_hll *h);
/* Wire form (schemas/v1): sparse when shorter, else dense. MB_ENOMEM. */
int mb_hll_encode(const struct mb_hll *h, struct mb_buf *out);
/* MB_EINVAL with a reason for a malformed form; h is zeroed first. */
int mb_hll_decode(const void *p, size_t n, struct mb_hll *h);

/* ------------------------------------------------------------------ messages (codec*.c)
 * Structs for every schema message. Decoders validate everything in schemas/v1/README.md;
 * strings they return are NUL-terminated copies in the struct's arena, freed with the
 * struct's *_free (call it after a successful decode; after a failed one there is nothing to
 * free). Encoders append to an mb_buf and check every msgpack_pack_* result (MB_ENOMEM); an
 * encoder given values that break the schema returns MB_EINVAL and appends nothing useful
 * (reset the buffer). All are thread-safe on distinct objects. */

enum mb_kind {
	MB_COUNTER = 0,
	MB_GAUGE = 1,
	MB_SET = 2,
	MB_TIMER = 3,
	MB_HISTOGRAM = 4,
	MB_DISTRIBUTION = 5,
	MB_RESOURCE = 6,
};
#define MB_NKINDS 7
/* "counter", "gauge", "set", "timer", "histogram", "distribution", "resource"; "?" else. */
const char *mb_kind_name(int kind);
static inline bool mb_kind_is_timer(int k)
{
	return k == MB_TIMER || k == MB_HISTOGRAM || k == MB_DISTRIBUTION;
}

struct mb_kv {
	const char *key;
	const char *val;
};

struct mb_record {
	uint8_t kind;
	const char *name;
	uint16_t ntags;
	struct mb_kv *tags; /* ascending by key, unique */
	double value;       /* counter, gauge, resource */
	uint64_t set_count; /* set: exact distinct members */
	struct mb_hll *hll; /* set */
	double count, sum, sumsq, min, max; /* timer kinds */
	struct mb_sketch sketch;            /* timer kinds; freed with the batch on decode */
};

struct mb_batch {
	uint32_t version;
	uint64_t instance;
	uint64_t seq;
	int64_t time_ms;
	uint32_t interval_ms;
	const char *container_id;
	uint16_t ndims;
	struct mb_kv *dims;
	uint32_t nrecords;
	struct mb_record *records;
	bool stopped;
	struct mb_arena arena; /* decode only */
};
int mb_batch_encode(const struct mb_batch *b, struct mb_buf *out);
int mb_batch_decode(const void *p, size_t n, struct mb_batch *out, char *err, size_t errlen);
void mb_batch_free(struct mb_batch *b);
/* Encoded size of one record, for splitting batches under MB_MAX_MSG. */
size_t mb_record_size(const struct mb_record *r);
/* Sketches and HyperLogLogs decode to dense arrays: the bytes a decoder needs for a record's
 * (8 per sketch bin from a side's lowest to its highest non-empty index, 1024 per HLL). The
 * records of one batch may need at most MB_MAX_DECODED together, else the batch is rejected:
 * split batches by this sum too. */
#define MB_MAX_DECODED ((size_t)64 << 20)
size_t mb_record_decoded_size(const struct mb_record *r);

enum mb_ack_status { MB_ACK_OK = 0, MB_ACK_DUP = 1, MB_ACK_REJECTED = 2, MB_ACK_RETRY = 3 };
struct mb_ack {
	uint64_t seq;
	uint32_t status;
	char err[MB_MAX_ERR + 1];
};
int mb_ack_encode(const struct mb_ack *a, struct mb_buf *out);
int mb_ack_decode(const void *p, size_t n, struct mb_ack *out, char *err, size_t errlen);

enum mb_op {
	MB_OP_PING,
	MB_OP_NODE,
	MB_OP_CONTAINERS,
	MB_OP_CONTAINER,
	MB_OP_APP,
	MB_OP_RANGE,
	MB_OP_SERIES,
	MB_OP_EXPORT,
	MB_OP_BACKUP,
};
const char *mb_op_name(int op);
enum mb_stat {
	MB_STAT_MEAN, MB_STAT_MIN, MB_STAT_MAX, MB_STAT_SUM, MB_STAT_COUNT, MB_STAT_LAST,
	MB_STAT_P50, MB_STAT_P90, MB_STAT_P95, MB_STAT_P99, MB_STAT_P999,
	MB_STAT_RATE, /* count per second of the step: events/s for any kind */
};
#define MB_NSTATS 12
const char *mb_stat_name(int stat);
int mb_stat_parse(const char *s, int *stat); /* MB_EINVAL */

struct mb_query {
	uint32_t version;
	int op;             /* enum mb_op */
	const char *source; /* container, app, range, series */
	const char *name;   /* app (optional, NULL = all), range */
	int64_t from_ms, to_ms, step_ms; /* range; step 0 = choose */
	int stat;           /* range */
	uint16_t ntags;     /* range filter */
	struct mb_kv *tags;
	bool hist;          /* export */
	const char *dir;    /* backup */
	struct mb_arena arena;
};
int mb_query_encode(const struct mb_query *q, struct mb_buf *out);
int mb_query_decode(const void *p, size_t n, struct mb_query *out, char *err, size_t errlen);
void mb_query_free(struct mb_query *q);

struct mb_point {
	const char *name;
	double value;
	const char *unit; /* never NULL; "" when unknown */
	int64_t time_ms;
	uint16_t ntags;
	struct mb_kv *tags;
};
struct mb_series_info {
	const char *name;
	uint8_t kind;
	uint16_t ntags;
	struct mb_kv *tags;
	int64_t last_ms;
};
struct mb_source_dims {
	const char *source;
	uint16_t ndims;
	struct mb_kv *dims;
};
#define MB_EXPORT_NQ 5 /* p50 p90 p95 p99 p999 */
struct mb_export_item {
	uint32_t src; /* index into reply srcs */
	const char *name;
	uint8_t kind;
	const char *unit;
	uint16_t ntags;
	struct mb_kv *tags;
	int64_t time_ms;
	double value, total, count, sum;
	bool has_q;
	double q[MB_EXPORT_NQ];
	struct mb_sketch *running; /* NULL unless hist was asked */
};
/* One struct for every op's reply; the fields of the op that was asked are meaningful. */
struct mb_reply {
	uint32_t version;
	uint32_t status;   /* 200, 204, 400, 404, 500, 503 */
	const char *error; /* status >= 400 */
	int op;            /* not on the wire: the encoder and decoder are told it */
	/* ping */
	int64_t time_ms;
	const char *node; /* the node's id ("" when it has none) */
	/* ping (revision 1.2): nids > 0 when agentd answers to more than one id (--node-id and
	 * the Mesos agent id); ids then holds them all, node first, at most MB_MAX_NODE_IDS. */
	/* node, container, app */
	uint16_t ndims;
	struct mb_kv *dims;
	uint32_t npoints;
	struct mb_point *points;
	/* containers; ping, above */
	uint32_t nids;
	const char **ids;
	/* range */
	const char *name, *source;
	int64_t step_ms;
	int stat;
	uint32_t nrange;
	int64_t *range_t;
	double *range_v; /* NaN = no data (nil on the wire) */
	/* series */
	uint32_t nseries;
	struct mb_series_info *series;
	/* export */
	uint32_t nsrcs;
	struct mb_source_dims *srcs;
	uint32_t nitems;
	struct mb_export_item *items;
	/* backup */
	const char *path;
	uint64_t bytes;
	struct mb_arena arena; /* decode only; encoders read from any memory the caller owns */
};
/* The encoder writes the fields of r->op. */
int mb_reply_encode(const struct mb_reply *r, struct mb_buf *out);
/* op says which fields to expect (the reply does not carry it). Replies are not bound by
 * MB_MAX_MSG (an export of 100,000 series is larger): they come from agentd, not from
 * containers, and the query client's receive limit is MB_MAX_EXPORT_MSG. */
int mb_reply_decode(const void *p, size_t n, int op, struct mb_reply *out, char *err,
                    size_t errlen);
void mb_reply_free(struct mb_reply *r);
/* Export replies may be large: this is the limit for them, on both ends. */
#define MB_MAX_EXPORT_MSG (256u << 20)

/* ------------------------------------------------------------------ Prometheus (prom.c)
 * The names, labels and layout of every Prometheus-facing output: the bridge's /metrics and
 * agentd's remote write, so a series reads the same from both (the rules: docs/api.md).
 * Pure functions, any thread, never allocate. */
enum mb_prom_type { MB_PROM_COUNTER, MB_PROM_GAUGE, MB_PROM_SUMMARY, MB_PROM_HISTOGRAM };
/* "counter", "gauge", "summary", "histogram". */
const char *mb_prom_type_name(int pt);
/* counter -> counter; timer kinds -> summary (histogram when hist); the rest -> gauge. */
int mb_prom_type_of(int kind, bool hist);
/* The DC/OS rule: lowercase, every char outside [a-z0-9_] -> '_', '_' before a leading digit.
 * out gets at most n-1 bytes. */
void mb_prom_sanitize(const char *in, char *out, size_t n);
/* A family name: sanitised, a unit suffix (_bytes, _seconds, _percent) where the unit is
 * known, then `_total` on counters only; any other type that would end in a suffix
 * Prometheus reserves gets `_value`. *scale is the factor to the base unit (0.001 for ms).
 * source is the series' source ("agentd" names its timings *_ms without a unit). */
#define MB_PROM_MAX_NAME (MB_MAX_NAME + 64)
void mb_prom_family(const char *name, const char *unit, const char *source, int pt, char *out,
                    size_t n, double *scale);
/* Labels of a series: its source's dimensions, then its tags, each sanitised; a name already
 * taken or reserved (le, quantile, job, instance, __*) becomes dim_NAME / tag_NAME (then
 * _2, _3...). A dimension with an empty value has no label (val NULL) but keeps its name.
 * Order: as picked (dimensions first); label i is name[i] = val[i] for i < n. */
#define MB_PROM_MAX_LABELS (MB_MAX_DIMS + MB_MAX_TAGS)
struct mb_prom_labels {
	int n;
	char name[MB_PROM_MAX_LABELS][MB_MAX_TAG_KEY + 16];
	const char *val[MB_PROM_MAX_LABELS]; /* into src and tags; NULL: no label */
};
void mb_prom_labels(struct mb_prom_labels *ls, const struct mb_source_dims *src, int ntags,
                    const struct mb_kv *tags);
/* Histogram layout: fixed log-spaced `le` bounds (1, 2.5, 5 per decade, 1e-4..5e5). */
#define MB_PROM_NBUCKETS 30
extern const double mb_prom_buckets[MB_PROM_NBUCKETS];
/* The same bounds as `le` label values (the shortest decimal that reads back exactly). */
extern const char *const mb_prom_bucket_str[MB_PROM_NBUCKETS];
/* Summary layout: the quantiles of an export item's q[] and their label values. */
extern const double mb_prom_quantiles[MB_EXPORT_NQ];
extern const char *const mb_prom_quantile_str[MB_EXPORT_NQ];
/* Cumulative count of a sketch's observations <= le (values times scale). */
uint64_t mb_prom_sketch_le(const struct mb_sketch *s, double le, double scale);
/* The same for every bound at once: out[k] for mb_prom_buckets[k], out[MB_PROM_NBUCKETS] all
 * of them (+Inf). One pass over the sketch. */
void mb_prom_sketch_buckets(const struct mb_sketch *s, double scale,
                            uint64_t out[MB_PROM_NBUCKETS + 1]);
/* The job label remote write sets (the scrape job of docs/examples/prometheus.yml). */
#define MB_PROM_JOB "metricsbus"

/* ------------------------------------------------------------------ nng (net.c)
 * Socket helpers that carry the rules of docs/dependencies.md (known library problems): a
 * receive size limit on every listener and dialer, reconnect back-off 100ms..2s, dials that
 * never fail for a missing peer, ipc sockets made 0660. They take nng_socket by value (include <nng/nng.h> first). */
#ifdef NNG_MAJOR_VERSION
/* Listens on url with NNG_OPT_RECVMAXSZ = recvmax (0 is taken as MB_MAX_MSG: never
 * unlimited). For ipc:// the socket file gets mode 0660 whatever the umask. Returns 0, or
 * MB_ENNG (logged with the url). Main thread. */
int mb_listen(nng_socket s, const char *url, size_t recvmax, nng_listener *out);
/* Dials url in the background (NNG_FLAG_NONBLOCK): succeeds when no one listens yet.
 * recvmax as for mb_listen; reconnects after 100ms, backing off to 2s. MB_ENNG. */
int mb_dial(nng_socket s, const char *url, size_t recvmax, nng_dialer *out);
/* A REP service's set-up (agentd's ingest and query): the socket, then each context with its
 * aio (cb NULL: the caller waits on the aio itself). MB_ENNG, logged as "what: ...". On a
 * context's failure *aio may hold an aio, which the caller frees with the others. Main
 * thread. */
int mb_rep_open(nng_socket *s, const char *what);
int mb_rep_ctx_open(nng_socket s, const char *what, nng_ctx *ctx, nng_aio **aio,
                    void (*cb)(void *), void *arg);
/* A listener's counts, from nng's statistics since it started: connections accepted, errors
 * (accept failures and the errors that ended accepted connections: a peer that disconnects
 * is one), and half_open: connections that failed before the SP handshake finished (a peer
 * that connected and closed; nng does not count those that come while it is backing off
 * 100ms after one). half_open = errors - (accepted - open - rejected pipes), re-read briefly
 * to let a closing pipe settle: 0 however many peers come and go cleanly. 0, or MB_ENNG when
 * nng has no statistics for it. Any thread; a few ms at most. */
struct mb_listener_stats {
	uint64_t accepted, errors, half_open;
};
int mb_listener_stats(nng_listener l, struct mb_listener_stats *out);
#endif

/* The nng this program runs on, for --version: "nng 1.5.2 (Debian 1.5.2-2, with: <our
 * patches>)", or "nng X.Y.Z" for a system nng from 1.9. A static string. Any thread. */
const char *mb_nng_describe(void);
/* Asks for small thread pools (2 task threads, 1 expire, 1 resolver): the shim, before its
 * first nng call. A system nng from 1.9 takes it at run time; the 1.5.2 we build is compiled
 * that way for the shim (build/nng-small), and there this does nothing. Main thread. */
void mb_nng_small(void);

/* A REQ client for request/reply with a deadline per call: api and CLI. */
struct mb_client;
/* Opens a REQ socket dialing url (in the background; the peer may come later), with REQ's
 * own resend off. recvmax 0 means MB_MAX_EXPORT_MSG (never unlimited). MB_ENNG. Any thread,
 * several at once. The client is thread-safe: each call uses its own context. */
int mb_client_open(const char *url, size_t recvmax, struct mb_client **out);
/* Sends req and waits up to timeout_ms for the reply. On 0, *reply and *replylen are a malloc'd
 * copy the caller frees. MB_EDOWN when no agentd is connected (immediately if none was at the
 * call, or when it went away during it), MB_ETIMEDOUT when it is connected but did not answer
 * in time, MB_ENNG, MB_ENOMEM. A reply over the client's recvmax makes nng drop the
 * connection: MB_EDOWN (it reconnects). timeout_ms < 0 counts as 0. Any thread. */
int mb_client_call(struct mb_client *c, const void *req, size_t reqlen, int timeout_ms,
                   void **reply, size_t *replylen);
/* Waits up to timeout_ms for a connection to the peer; 0 or MB_EDOWN. "Connected" is a pipe
 * that finished nng's handshake: a listener dead of the half-open bug still gives one, and
 * calls over it end in MB_ETIMEDOUT. */
int mb_client_wait_connected(struct mb_client *c, int timeout_ms);
/* Encodes q, calls, and decodes the reply for q->op into *r (free with mb_reply_free).
 * Errors as mb_client_call, plus the decoder's. err gets a reason. */
int mb_client_query(struct mb_client *c, const struct mb_query *q, int timeout_ms,
                    struct mb_reply *r, char *err, size_t errlen);
/* Closes the socket and frees c (NULL is fine). Only once every call on it has returned. */
void mb_client_close(struct mb_client *c);

/* ------------------------------------------------------------------ systemd (notify.c)
 * sd_notify(3) without libsystemd: sends state ("READY=1", "STOPPING=1", "WATCHDOG=1") to
 * $NOTIFY_SOCKET if set. 0 when sent or not under systemd; MB_ESYS. Any thread. */
int mb_notify(const char *state);
/* The watchdog interval asked by systemd ($WATCHDOG_USEC, for this pid), in ms; 0 if none. */
int64_t mb_watchdog_ms(void);

#endif
