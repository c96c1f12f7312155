/* shim.h: the interfaces between the shim's files (parser, aggregator, init, receiver,
 * identity, resources, delivery); nothing here is used outside shim/. */
#ifndef SHIM_H
#define SHIM_H

#include "mb.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ------------------------------------------------------------------ parse.c */
enum shim_line_result {
	SHIM_LINE_OK = 0,
	SHIM_LINE_EMPTY,  /* blank line: not counted */
	SHIM_LINE_BAD,    /* counted (by reason, shim_line.bad) and skipped */
	SHIM_LINE_EVENT,  /* DogStatsD event "_e{": counted, skipped */
	SHIM_LINE_SCHECK, /* DogStatsD service check "_sc|": counted, skipped */
};

/* Why a line was bad: the reason tag of metricsbus.shim.parse_errors (shim_bad_names). */
enum shim_bad {
	SHIM_BAD_NONE = 0,
	SHIM_BAD_FORMAT,    /* no ':' or no '|type' */
	SHIM_BAD_NAME,      /* empty, too long, a byte outside 0x21..0x7e, reserved */
	SHIM_BAD_TYPE,      /* unknown type */
	SHIM_BAD_VALUE,     /* not a finite number; empty set member */
	SHIM_BAD_RATE,      /* not a number in (0, 1] */
	SHIM_BAD_TAGS,      /* malformed, too long, not UTF-8, more than MB_MAX_TAGS */
	SHIM_BAD_OVERFLOW,  /* the series' aggregate would no longer be finite (agg.c) */
	SHIM_BAD_TRUNCATED, /* datagram cut by the receive buffer (recv.c) */
	SHIM_BAD_N
};
extern const char *const shim_bad_names[SHIM_BAD_N];

/* The tag styles read (--tag-styles): DogStatsD "|#k:v", and the name styles statsd_exporter
 * reads, InfluxDB "name,k=v", Librato "name#k=v", SignalFX "name[k=v]". */
#define SHIM_STYLE_DOGSTATSD 1u
#define SHIM_STYLE_INFLUXDB  2u
#define SHIM_STYLE_LIBRATO   4u
#define SHIM_STYLE_SIGNALFX  8u
#define SHIM_STYLE_ALL       15u
/* "all", "none" or a comma list of dogstatsd, influxdb, librato, signalfx; MB_EINVAL else. */
int shim_tag_styles_parse(const char *s, unsigned *out);

struct shim_tag {
	const char *key, *val;
	uint16_t klen, vlen;
};

/* One parsed line; every pointer points into the caller's buffer (parsed in place), but for
 * a SignalFX name with text after its tags, which is assembled in namebuf. */
struct shim_line {
	uint8_t kind; /* enum mb_kind, never MB_RESOURCE */
	uint8_t bad;  /* enum shim_bad, when SHIM_LINE_BAD */
	bool delta;   /* gauge given as +N / -N (the first value when packed) */
	const char *name;
	uint16_t namelen;
	uint16_t unknown;    /* '|' fields skipped: unknown, empty, a malformed T */
	uint16_t tag_errors; /* name-style tags skipped (no '=', empty key or value, one bracket) */
	double value;        /* not for sets; the first of packed values */
	const char *values;  /* packed "v1:v2:..." (DogStatsD 1.1), for every kind but sets */
	uint32_t valueslen;
	uint32_t nvalues;   /* 1 unless packed */
	const char *member; /* set member */
	uint32_t memberlen;
	double rate;       /* (0, 1] */
	int64_t timestamp; /* DogStatsD "|T" unix seconds, 0 when none; not used for filing */
	uint16_t ntags;    /* sorted by key, unique (the last of a repeated key wins) */
	struct shim_tag tags[MB_MAX_TAGS];
	char namebuf[MB_MAX_NAME];
};

/* Parses one line (no '\n' in it; a trailing '\r' is ignored) reading the tag styles in
 * styles (SHIM_STYLE_*). Never allocates; never reads outside [p, p+n). */
int shim_parse_line(const char *p, size_t n, unsigned styles, struct shim_line *out);
/* The hand-written number parser: the whole of [p, p+n) must be a finite decimal number. */
int shim_parse_number(const char *p, size_t n, double *out);
/* Walks packed values "1:2::3": each call gives the next (*sign: it began with + or -), or
 * *done at the end; empty values are skipped. MB_EINVAL for a value that is not a number. */
struct shim_values {
	const char *p, *end;
};
int shim_values_next(struct shim_values *it, double *out, bool *sign, bool *done);

/* ------------------------------------------------------------------ agg.c */
struct shim_stats {
	uint64_t packets, lines, bad_lines, events, service_checks, series_refused;
	uint64_t dropped_batches, rejected_batches, udp_drops, truncated;
	uint64_t unknown_fields, tag_errors;
	uint64_t parse_errors[SHIM_BAD_N]; /* bad lines by reason (truncated: from truncated) */
};

#define SHIM_IDLE_MS       (5 * 60 * 1000)
#define SHIM_MAX_SERIES    200000 /* beyond it new series are refused and counted */
#define SHIM_SET_EXACT_MAX 4096   /* exact members kept per set and interval */
/* The series' memory budget: past it new series are refused (series_refused), set tables
 * stop growing (their count follows the HyperLogLog) and a timer's sketch does not widen
 * (a value outside its range is refused). What one series can add past it is bounded. */
#define SHIM_MAX_BYTES ((size_t)64 << 20)

struct shim_agg;
int shim_agg_new(struct shim_agg **out);
/* The tag styles its lines are parsed with (default SHIM_STYLE_ALL). */
void shim_agg_set_styles(struct shim_agg *a, unsigned styles);
/* The series table's hash of an encoded key (exposed for its distribution test). */
uint64_t shim_agg_key_hash(const char *p, size_t n);
void shim_agg_free(struct shim_agg *a);
/* Feeds one datagram: splits lines, parses, aggregates; counts into a's stats. now_ms is the
 * monotonic time (series idleness). The buffer is not modified. */
void shim_agg_packet(struct shim_agg *a, const char *buf, size_t n, int64_t now_ms);
/* Adds one parsed line. */
int shim_agg_add(struct shim_agg *a, const struct shim_line *l, int64_t now_ms);
struct shim_stats *shim_agg_stats(struct shim_agg *a);
size_t shim_agg_nseries(const struct shim_agg *a);
size_t shim_agg_bytes(const struct shim_agg *a);

/* The records of one flush. Pointers inside stay valid until shim_agg_flush_done. */
struct shim_flush {
	struct mb_record *recs;
	uint32_t n, cap;
	struct mb_kv *kvs; /* tags of all records */
	size_t nkv, kvcap;
	struct mb_hll *hlls;
	size_t nhll, hllcap;
};
/* Builds the interval's records (counters, sets and timers with data, every live gauge),
 * gauges idle for less than SHIM_IDLE_MS). */
int shim_agg_flush(struct shim_agg *a, int64_t now_ms, struct shim_flush *f);
/* Resets the interval state of every series and forgets those idle for SHIM_IDLE_MS; call
 * after the records were encoded. */
void shim_agg_flush_done(struct shim_agg *a, struct shim_flush *f, int64_t now_ms);
void shim_flush_free(struct shim_flush *f);
/* Appends a record (name and tags must outlive the flush). */
int shim_flush_push(struct shim_flush *f, const struct mb_record *r);

/* ------------------------------------------------------------------ identity.c */
struct shim_identity {
	char cid[MB_MAX_NAME + 1];
	int ndims;
	struct mb_kv dims[MB_MAX_DIMS];
	char store[16384];
	size_t used;
};
/* Container id: flag_cid (--container-id / METRICSBUS_CONTAINER_ID), else the Mesos ContainerID
 * (sandbox path in MESOS_DIRECTORY or MESOS_SANDBOX, else the sandbox mount in mountinfo, else
 * MESOS_CONTAINER_NAME), else HOSTNAME (with the container's name under Kubernetes), else
 * generated from inst. Dimensions from the same sources and the Mesos/Marathon/Kubernetes
 * environment, labels ("labels.KEY") from MARATHON_APP_LABEL_KEY then --label KEY=VALUE, then
 * --dimension KEY=VALUE (they win). MB_EINVAL with a reason for a bad --dimension/--label. */
int shim_identity_init(struct shim_identity *id, const char *flag_cid,
                       const struct mb_strlist *dimflags, const struct mb_strlist *labelflags,
                       const char *command, uint64_t inst, char *err, size_t errlen);
/* Where the sandbox mount is read from ("/proc/self/mountinfo"; tests point elsewhere). */
extern const char *shim_mountinfo_path;

/* ------------------------------------------------------------------ mesos.c
 * The ids a Mesos container is known by; each "" when not known. */
struct shim_mesos {
	char agent[MB_MAX_NAME + 1], framework[MB_MAX_NAME + 1], executor[MB_MAX_NAME + 1];
	char cid[MB_MAX_NAME + 1]; /* the ContainerID: for a nested (pod) container, the child's */
};
/* A sandbox path ".../slaves/A/frameworks/F/executors/E/runs/C[/containers/CHILD]...", n
 * bytes of it. MB_EINVAL when it is not one. */
int shim_mesos_from_path(const char *path, size_t n, struct shim_mesos *m);
/* The sandbox bind mount in mountinfo text; the one mounted at `at` (MESOS_SANDBOX) first,
 * then /mnt/mesos/sandbox, then any. MB_EINVAL when there is none. */
int shim_mesos_from_mountinfo(const char *text, const char *at, struct shim_mesos *m);
/* A Docker containerizer name: "mesos-C", "mesos-C.executor", "mesos-A.C". MB_EINVAL. */
int shim_mesos_from_name(const char *name, struct shim_mesos *m);

/* ------------------------------------------------------------------ cgroup.c */
/* Appends the container's resource metrics (MB_RESOURCE records) to f; names and values
 * point into res, valid until the next call. child is the command's pid (0 when none): its
 * /proc is the fallback when no cgroup v2 files are readable. */
/* disk.c: the sandbox's disk use, measured at most every SHIM_DISK_INTERVAL_MS (a walk of
 * the directory: st_blocks of every entry, one file system, symlinks not followed). A tree of
 * more than SHIM_DISK_MAX_ENTRIES is not measured (MB_ETOOBIG, then MB_EINVAL for good). */
#define SHIM_DISK_INTERVAL_MS 15000
#define SHIM_DISK_MAX_ENTRIES 200000
struct shim_disk {
	int64_t next_ms;
	double used;
	bool have, gave_up;
};
int shim_disk_used(struct shim_disk *d, const char *dir, int64_t now_ms, double *out);

struct shim_res {
	int n;
	char names[32][48];
	double vals[32];
	struct shim_disk disk; /* kept across calls */
};
int shim_resources_read(struct shim_res *res, pid_t child);
/* The cgroup v2 files of dir (appends to res); for tests. */
void shim_resources_from_cgroup(struct shim_res *res, const char *dir);
/* cgroup v1: each controller's directory (NULL when that hierarchy is not there). */
void shim_resources_from_cgroup_v1(struct shim_res *res, const char *cpuacct, const char *cpu,
                                   const char *memory, const char *blkio);
/* Limits cgroups did not give, from MARATHON_APP_RESOURCE_CPUS/MEM/DISK (else cpus.limit is
 * the online CPUs). */
void shim_resources_limits(struct shim_res *res);
/* disk.used of the sandbox (MESOS_SANDBOX, else MESOS_DIRECTORY), when there is one. */
void shim_resources_disk(struct shim_res *res, int64_t now_ms);
/* Helpers of both cgroup readers: one value into res (dropped when res is full); a whole
 * small file dir/name into buf (NUL-terminated; its length, or -1); the value of key in
 * "key value" lines (-1 when absent). */
void shim_res_put(struct shim_res *r, const char *name, double v);
int shim_cg_read(const char *dir, const char *name, char *buf, size_t n);
double shim_cg_kv(const char *text, const char *key);

/* ------------------------------------------------------------------ init.c */
/* The signals the shim forwards, plus SIGCHLD; blocked before any thread exists. */
int shim_init_block_signals(sigset_t *set, sigset_t *old);
/* Becomes a child subreaper unless PID 1. */
void shim_init_subreaper(void);
/* Forks and execs argv with the original mask `old` and default dispositions. On exec
 * failure (reported through a CLOEXEC pipe) returns MB_ESYS with *exit_code 127 (not found)
 * or 126 (not executable) and a reason in err. */
int shim_init_spawn(char *const argv[], const sigset_t *old, pid_t *pid, int *exit_code, char *err,
                    size_t errlen);
/* True for the signals forwarded to the child. */
bool shim_init_forwarded(int sig);
/* Reaps every exited child; when `child` is among them sets *done and its exit code
 * (status, or 128+N for signal N). Returns the number reaped. */
int shim_init_reap(pid_t child, bool *done, int *exit_code);
int shim_init_exit_code(int wstatus);

/* ------------------------------------------------------------------ recv.c */
struct shim_recv;
/* spec: "HOST:PORT", "[V6]:PORT" or "unix:PATH". Binds; host/port (or path) describe it for
 * the child's environment. */
int shim_recv_open(const char *spec, struct shim_recv **out, char *host, size_t hostlen, int *port,
                   char *err, size_t errlen);
int shim_recv_fd(const struct shim_recv *r);
const char *shim_recv_unix_path(const struct shim_recv *r);
/* Reads every queued datagram (up to a bound per call) and feeds them to a. Returns the
 * number read; 0 when none were waiting. */
int shim_recv_drain(struct shim_recv *r, struct shim_agg *a, int64_t now_ms);
/* True when the caller should let the kernel buffer fill for SHIM_COALESCE_MS before
 * reading again, so that one wakeup takes many datagrams instead of one: after a partial
 * batch from a UDP socket that was small (not paused) or many datagrams (paused: the
 * last drain followed such a wait). */
bool shim_recv_coalesce(const struct shim_recv *r, bool paused);
#define SHIM_COALESCE_MS 1
/* Adds the kernel's drops not yet counted (SO_MEMINFO); at each flush. */
void shim_recv_update_drops(struct shim_recv *r, struct shim_agg *a);
void shim_recv_close(struct shim_recv *r);

/* ------------------------------------------------------------------ deliver.c */
struct shim_deliver;
/* Starts the sender thread with a REQ socket dialing url. backlog: bytes of encoded batches
 * held at most. */
int shim_deliver_start(const char *url, uint64_t backlog, int ack_timeout_ms,
                       struct shim_deliver **out);
/* Queues one encoded batch (takes ownership of buf->data; buf is zeroed). Drops the oldest
 * held batches to stay under the backlog and counts them; `carried` is the drop count the
 * batch reports, counted again when the batch itself is dropped. */
void shim_deliver_push(struct shim_deliver *d, uint64_t seq, struct mb_buf *buf, uint64_t carried);
/* Batches dropped (backlog) and rejected (ack st=2) since the last call. */
void shim_deliver_take_counts(struct shim_deliver *d, uint64_t *dropped, uint64_t *rejected);
/* Waits up to timeout_ms for every queued batch to be acknowledged; 0 or MB_ETIMEDOUT. While
 * no agentd is connected it redials every 20 ms, so an agentd back within timeout_ms gets
 * every batch. Main thread, once, before shim_deliver_stop. */
int shim_deliver_drain(struct shim_deliver *d, int64_t timeout_ms);
size_t shim_deliver_pending(struct shim_deliver *d);
/* Stops the thread and closes the socket. */
void shim_deliver_stop(struct shim_deliver *d);

#endif
