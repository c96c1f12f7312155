/* mbload.c: the bench's direct client of agentd: pushes synthetic ingest batches from many
 * "shims" at once (points/s, ack latency), times queries, and sums a source's counters. */
#include <math.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mb.h"

#define MBLOAD_MAX_THREADS 64

struct push_opts {
	const char *url, *kind, *prefix;
	int series, sources, rounds, threads, per_batch;
	int64_t start_ms, step_ms;
};

/* One pushing thread: its own REQ client (= one shim instance), a slice of the sources. */
struct pusher {
	const struct push_opts *o;
	int id;
	pthread_t th;
	double *lat_ms; /* one per batch */
	size_t nlat, caplat;
	uint64_t points, errors, rejected;
	char err[256];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double q)
{
	if (n == 0)
		return NAN;
	size_t i = (size_t)ceil(q * (double)n) - 1;
	if (i >= n)
		i = n - 1;
	return v[i];
}

static int kind_of(const char *kind, int i)
{
	if (strcmp(kind, "counter") == 0)
		return MB_COUNTER;
	if (strcmp(kind, "gauge") == 0)
		return MB_GAUGE;
	if (strcmp(kind, "timer") == 0)
		return MB_TIMER;
	if (strcmp(kind, "set") == 0)
		return MB_SET;
	static const int mixed[4] = {MB_COUNTER, MB_GAUGE, MB_COUNTER, MB_TIMER};
	return mixed[i % 4];
}

/* Fills the records of one batch: series [first, first+n) of a source, at round r. */
static int fill_records(const struct push_opts *o, struct mb_record *recs, char (*names)[64],
                        struct mb_hll *hlls, int first, int n, int r)
{
	for (int k = 0; k < n; k++) {
		struct mb_record *rec = &recs[k];
		int i = first + k;
		mb_sketch_reset(&rec->sketch);
		rec->kind = (uint8_t)kind_of(o->kind, i);
		snprintf(names[k], 64, "%s.%d", o->prefix, i);
		rec->name = names[k];
		rec->ntags = 0;
		rec->tags = NULL;
		double v = (double)((r * 7 + i) % 1000);
		switch (rec->kind) {
		case MB_COUNTER: rec->value = 1; break;
		case MB_GAUGE: rec->value = v; break;
		case MB_SET:
			memset(&hlls[k], 0, sizeof hlls[k]);
			mb_hll_add_hash(&hlls[k], mb_hash64(&v, sizeof v));
			rec->hll = &hlls[k];
			rec->set_count = 1;
			break;
		default:
			rec->count = 10;
			rec->sum = 0;
			rec->sumsq = 0;
			rec->min = v;
			rec->max = v + 9;
			for (int s = 0; s < 10; s++) {
				double x = v + s;
				rec->sum += x;
				rec->sumsq += x * x;
				int rv = mb_sketch_add(&rec->sketch, x, 1);
				if (rv != 0)
					return rv;
			}
			break;
		}
	}
	return 0;
}

static void *push_main(void *arg)
{
	struct pusher *p = arg;
	const struct push_opts *o = p->o;
	struct mb_client *c = NULL;
	struct mb_record *recs = calloc((size_t)o->per_batch, sizeof *recs);
	char(*names)[64] = calloc((size_t)o->per_batch, sizeof *names);
	struct mb_hll *hlls = calloc((size_t)o->per_batch, sizeof *hlls);
	struct mb_buf buf = {0};
	int rv;
	if (!recs || !names || !hlls) {
		snprintf(p->err, sizeof p->err, "out of memory");
		goto done;
	}
	if ((rv = mb_client_open(o->url, MB_MAX_MSG, &c)) != 0 ||
	    (rv = mb_client_wait_connected(c, 10000)) != 0) {
		snprintf(p->err, sizeof p->err, "connect %s: %s", o->url, mb_strerror(rv));
		goto done;
	}
	uint64_t inst = ((uint64_t)mb_now_ms() << 8) ^ (uint64_t)(p->id + 1) ^
	                (mb_hash64(&p, sizeof p) & 0xffffff00u);
	uint64_t seq = 0;
	int per_source = o->series / o->sources;
	for (int r = 0; r < o->rounds; r++) {
		for (int src = p->id; src < o->sources; src += o->threads) {
			char cid[64];
			snprintf(cid, sizeof cid, "%s-src%d", o->prefix, src);
			for (int first = 0; first < per_source; first += o->per_batch) {
				int n = per_source - first < o->per_batch ? per_source - first
				                                          : o->per_batch;
				if ((rv = fill_records(o, recs, names, hlls, first, n, r)) != 0) {
					snprintf(p->err, sizeof p->err, "records: %s", mb_strerror(rv));
					goto done;
				}
				struct mb_batch b = {.version = 1, .instance = inst, .seq = ++seq,
				                     .time_ms = o->start_ms + (int64_t)r * o->step_ms,
				                     .interval_ms = (uint32_t)o->step_ms,
				                     .container_id = cid, .nrecords = (uint32_t)n,
				                     .records = recs};
				mb_buf_reset(&buf);
				if ((rv = mb_batch_encode(&b, &buf)) != 0) {
					snprintf(p->err, sizeof p->err, "encode: %s", mb_strerror(rv));
					goto done;
				}
				for (;;) {
					void *rep = NULL;
					size_t replen = 0;
					struct timespec a, z;
					clock_gettime(CLOCK_MONOTONIC, &a);
					rv = mb_client_call(c, buf.data, buf.len, 30000, &rep, &replen);
					clock_gettime(CLOCK_MONOTONIC, &z);
					if (rv == MB_EDOWN && ++p->errors < 20) {
						/* the same seq again: agentd drops it if it was committed */
						mb_client_wait_connected(c, 2000);
						continue;
					}
					if (rv != 0) {
						snprintf(p->err, sizeof p->err, "call: %s", mb_strerror(rv));
						goto done;
					}
					struct mb_ack ack;
					char e[256];
					rv = mb_ack_decode(rep, replen, &ack, e, sizeof e);
					free(rep);
					if (rv != 0) {
						snprintf(p->err, sizeof p->err, "ack: %.200s", e);
						goto done;
					}
					if (ack.status == MB_ACK_RETRY) {
						p->errors++;
						continue;
					}
					if (ack.status == MB_ACK_REJECTED) {
						p->rejected++;
						snprintf(p->err, sizeof p->err, "rejected: %.200s", ack.err);
					} else {
						p->points += (uint64_t)n;
					}
					if (p->nlat == p->caplat) {
						size_t cap = p->caplat ? p->caplat * 2 : 1024;
						double *l = realloc(p->lat_ms, cap * sizeof *l);
						if (!l)
							goto done;
						p->lat_ms = l;
						p->caplat = cap;
					}
					p->lat_ms[p->nlat++] = (double)(z.tv_sec - a.tv_sec) * 1e3 +
					                       (double)(z.tv_nsec - a.tv_nsec) / 1e6;
					break;
				}
			}
		}
	}
done:
	mb_buf_free(&buf);
	if (recs)
		for (int k = 0; k < o->per_batch; k++)
			mb_sketch_free(&recs[k].sketch);
	free(recs);
	free(names);
	free(hlls);
	if (c)
		mb_client_close(c);
	return NULL;
}

static int cmd_push(int argc, char **argv)
{
	struct push_opts o = {.kind = "counter", .prefix = "bench", .series = 1000, .sources = 1,
	                      .rounds = 10, .threads = 4, .per_batch = 10000,
	                      .start_ms = 0, .step_ms = 10000};
	for (int i = 0; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--ingest")) o.url = v;
		else if (!strcmp(k, "--kind")) o.kind = v;
		else if (!strcmp(k, "--prefix")) o.prefix = v;
		else if (!strcmp(k, "--series")) o.series = atoi(v);
		else if (!strcmp(k, "--sources")) o.sources = atoi(v);
		else if (!strcmp(k, "--rounds")) o.rounds = atoi(v);
		else if (!strcmp(k, "--threads")) o.threads = atoi(v);
		else if (!strcmp(k, "--per-batch")) o.per_batch = atoi(v);
		else if (!strcmp(k, "--start-ms")) o.start_ms = atoll(v);
		else if (!strcmp(k, "--step-ms")) o.step_ms = atoll(v);
		else {
			fprintf(stderr, "mbload push: unknown flag %s\n", k);
			return 2;
		}
	}
	if (!o.url || o.series < 1 || o.sources < 1 || o.series % o.sources || o.rounds < 1 ||
	    o.threads < 1 || o.threads > MBLOAD_MAX_THREADS || o.per_batch < 1 ||
	    o.per_batch > MB_MAX_RECORDS || o.step_ms < 1) {
		fprintf(stderr, "mbload push: bad flags\n");
		return 2;
	}
	if (o.threads > o.sources)
		o.threads = o.sources;
	if (o.start_ms == 0) /* rounds end now: points land in the live part of every window */
		o.start_ms = mb_now_ms() - (int64_t)o.rounds * o.step_ms;
	struct pusher ps[MBLOAD_MAX_THREADS];
	memset(ps, 0, sizeof ps);
	struct timespec a, z;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int t = 0; t < o.threads; t++) {
		ps[t].o = &o;
		ps[t].id = t;
		if (pthread_create(&ps[t].th, NULL, push_main, &ps[t]) != 0) {
			fprintf(stderr, "mbload: pthread_create failed\n");
			return 1;
		}
	}
	uint64_t points = 0, retries = 0, rejected = 0;
	size_t nlat = 0;
	const char *err = NULL;
	for (int t = 0; t < o.threads; t++) {
		pthread_join(ps[t].th, NULL);
		points += ps[t].points;
		retries += ps[t].errors;
		rejected += ps[t].rejected;
		nlat += ps[t].nlat;
		if (ps[t].err[0] && !err)
			err = ps[t].err;
	}
	clock_gettime(CLOCK_MONOTONIC, &z);
	double secs = (double)(z.tv_sec - a.tv_sec) + (double)(z.tv_nsec - a.tv_nsec) / 1e9;
	double *lat = malloc((nlat ? nlat : 1) * sizeof *lat);
	size_t j = 0;
	for (int t = 0; t < o.threads; t++) {
		if (lat)
			for (size_t k = 0; k < ps[t].nlat; k++)
				lat[j++] = ps[t].lat_ms[k];
		free(ps[t].lat_ms);
	}
	if (lat)
		qsort(lat, j, sizeof *lat, cmp_double);
	printf("{\"points\":%llu,\"seconds\":%.4f,\"points_per_s\":%.1f,\"batches\":%zu,"
	       "\"ack_p50_ms\":%.3f,\"ack_p99_ms\":%.3f,\"retries\":%llu,\"rejected\":%llu,"
	       "\"error\":\"%s\"}\n",
	       (unsigned long long)points, secs, secs > 0 ? (double)points / secs : 0.0, j,
	       lat ? pct(lat, j, 0.5) : NAN, lat ? pct(lat, j, 0.99) : NAN,
	       (unsigned long long)retries, (unsigned long long)rejected, err ? err : "");
	free(lat);
	return err && points == 0 ? 1 : 0;
}

static int cmd_query(int argc, char **argv)
{
	const char *url = NULL, *op = "app", *src = NULL, *name = NULL, *stat = "mean";
	int n = 200;
	int64_t span_ms = 3600000, step_ms = 0;
	for (int i = 0; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--query")) url = v;
		else if (!strcmp(k, "--op")) op = v;
		else if (!strcmp(k, "--source")) src = v;
		else if (!strcmp(k, "--name")) name = v;
		else if (!strcmp(k, "--stat")) stat = v;
		else if (!strcmp(k, "--n")) n = atoi(v);
		else if (!strcmp(k, "--span")) {
			if (mb_parse_duration(v, &span_ms) != 0) return 2;
		} else if (!strcmp(k, "--step")) {
			if (mb_parse_duration(v, &step_ms) != 0) return 2;
		} else {
			fprintf(stderr, "mbload query: unknown flag %s\n", k);
			return 2;
		}
	}
	struct mb_query q = {.version = 1, .source = src, .name = name};
	if (!strcmp(op, "app")) q.op = MB_OP_APP;
	else if (!strcmp(op, "range")) q.op = MB_OP_RANGE;
	else if (!strcmp(op, "export")) q.op = MB_OP_EXPORT;
	else if (!strcmp(op, "ping")) q.op = MB_OP_PING;
	else {
		fprintf(stderr, "mbload query: unknown op %s\n", op);
		return 2;
	}
	if (!url || n < 1 || mb_stat_parse(stat, &q.stat) != 0) {
		fprintf(stderr, "mbload query: bad flags\n");
		return 2;
	}
	struct mb_client *c;
	int rv;
	if ((rv = mb_client_open(url, MB_MAX_EXPORT_MSG, &c)) != 0 ||
	    (rv = mb_client_wait_connected(c, 10000)) != 0) {
		fprintf(stderr, "mbload: connect %s: %s\n", url, mb_strerror(rv));
		return 1;
	}
	double *lat = calloc((size_t)n, sizeof *lat);
	if (!lat)
		return 1;
	uint32_t status = 0, count = 0;
	int failures = 0;
	char err[256] = "";
	for (int i = 0; i < n; i++) {
		q.to_ms = mb_now_ms();
		q.from_ms = q.to_ms - span_ms;
		q.step_ms = step_ms;
		struct mb_reply r;
		struct timespec a, z;
		clock_gettime(CLOCK_MONOTONIC, &a);
		rv = mb_client_query(c, &q, 30000, &r, err, sizeof err);
		clock_gettime(CLOCK_MONOTONIC, &z);
		if (rv == MB_EDOWN && ++failures < 10) { /* a dropped connection: not timed */
			fprintf(stderr, "mbload: query: %s (trying again)\n", err);
			mb_client_wait_connected(c, 2000);
			i--;
			continue;
		}
		if (rv != 0) {
			fprintf(stderr, "mbload: query: %s\n", err);
			mb_client_close(c);
			free(lat);
			return 1;
		}
		status = r.status;
		count = q.op == MB_OP_RANGE ? r.nrange : q.op == MB_OP_EXPORT ? r.nitems : r.npoints;
		mb_reply_free(&r);
		lat[i] = (double)(z.tv_sec - a.tv_sec) * 1e3 + (double)(z.tv_nsec - a.tv_nsec) / 1e6;
	}
	qsort(lat, (size_t)n, sizeof *lat, cmp_double);
	printf("{\"op\":\"%s\",\"n\":%d,\"status\":%u,\"items\":%u,\"p50_ms\":%.4f,"
	       "\"p99_ms\":%.4f,\"max_ms\":%.4f,\"dropped_connections\":%d}\n",
	       op, n, status, count, pct(lat, (size_t)n, 0.5), pct(lat, (size_t)n, 0.99),
	       lat[n - 1], failures);
	free(lat);
	mb_client_close(c);
	return 0;
}

/* Sums the running totals of a source's counters whose names start with a prefix, from one
 * export: how many counter lines a shim delivered into agentd. */
static int count_once(struct mb_client *c, const char *src, const char *prefix)
{
	struct mb_query q = {.version = 1, .op = MB_OP_EXPORT};
	struct mb_reply r;
	char err[256];
	int rv;
	/* A call on a loaded machine may fail or time out: the dialer comes back by itself, so a
	 * failed call is tried again a few times. */
	for (int attempt = 0;; attempt++) {
		if ((rv = mb_client_query(c, &q, 60000, &r, err, sizeof err)) == 0)
			break;
		fprintf(stderr, "mbload: export: %s%s\n", err, attempt < 5 ? " (trying again)" : "");
		if (attempt >= 5)
			return 1;
		mb_client_wait_connected(c, 2000);
	}
	double total = 0;
	uint64_t series = 0, counters = 0;
	size_t plen = strlen(prefix);
	for (uint32_t i = 0; i < r.nitems; i++) {
		const struct mb_export_item *it = &r.items[i];
		if (it->src >= r.nsrcs || strcmp(r.srcs[it->src].source, src) != 0)
			continue;
		if (strncmp(it->name, prefix, plen) != 0)
			continue;
		series++;
		if (it->kind == MB_COUNTER) {
			counters++;
			total += it->total;
		}
	}
	printf("{\"counter_sum\":%.0f,\"series\":%llu,\"counters\":%llu,\"status\":%u}\n", total,
	       (unsigned long long)series, (unsigned long long)counters, r.status);
	fflush(stdout);
	mb_reply_free(&r);
	return 0;
}

/* count: once, or (--stdin) once per prefix read from stdin, on one connection: a bench polls
 * it often, and short-lived connections are not what is measured. */
static int cmd_count(int argc, char **argv)
{
	const char *url = NULL, *src = NULL, *prefix = "";
	bool from_stdin = false;
	for (int i = 0; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(k, "--stdin")) {
			from_stdin = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "mbload count: %s needs a value\n", k);
			return 2;
		}
		i++;
		if (!strcmp(k, "--query")) url = v;
		else if (!strcmp(k, "--source")) src = v;
		else if (!strcmp(k, "--prefix")) prefix = v;
		else {
			fprintf(stderr, "mbload count: unknown flag %s\n", k);
			return 2;
		}
	}
	if (!url || !src) {
		fprintf(stderr, "mbload count: --query and --source are needed\n");
		return 2;
	}
	struct mb_client *c;
	int rv;
	if ((rv = mb_client_open(url, MB_MAX_EXPORT_MSG, &c)) != 0 ||
	    (rv = mb_client_wait_connected(c, 10000)) != 0) {
		fprintf(stderr, "mbload: connect %s: %s\n", url, mb_strerror(rv));
		return 1;
	}
	if (!from_stdin) {
		rv = count_once(c, src, prefix);
		mb_client_close(c);
		return rv;
	}
	char line[256];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\r\n")] = 0;
		if (count_once(c, src, line) != 0)
			printf("{\"error\":1}\n");
		fflush(stdout);
	}
	mb_client_close(c);
	return 0;
}

int main(int argc, char **argv)
{
	mb_log_init("mbload", MB_LOG_WARN);
	if (argc >= 2 && !strcmp(argv[1], "push"))
		return cmd_push(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "query"))
		return cmd_query(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "count"))
		return cmd_count(argc - 2, argv + 2);
	fprintf(stderr, "usage: mbload push --ingest URL [--kind counter|gauge|timer|set|mixed]\n"
	                "         [--series N] [--sources S] [--rounds R] [--threads T]\n"
	                "         [--per-batch N] [--start-ms T] [--step-ms MS] [--prefix P]\n"
	                "       mbload query --query URL --op app|range|export|ping [--source ID]\n"
	                "         [--name N] [--span D] [--step D] [--stat S] [--n COUNT]\n"
	                "       mbload count --query URL --source ID [--prefix P | --stdin]\n");
	return 2;
}
