/* store_bench.c: agentd-store-bench, the store's micro-benchmark: points/s committed at 1k and
 * 100k live series, and bytes on disk per point and per series per day, per kind and level. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../read.h"
#include "../write.h"

#define PER_BATCH 5000
#define PER_SOURCE 1000

#define MAXK 8

struct load {
	int nseries, kind, k;
	struct mb_batch *b;
	struct mb_batch **bp;
	int nb;
	struct mb_record *recs;
	char (*names)[24];
	char (*srcs)[24];
	struct mb_hll hll;
	uint32_t *st;
	char (*errs)[MB_MAX_ERR + 1];
};

static int load_init(struct load *L, int nseries, int kind)
{
	memset(L, 0, sizeof *L);
	L->nseries = nseries;
	L->kind = kind;
	/* A batch per (source, slice of PER_BATCH): shims send one batch per container. */
	int nsrc = (nseries + PER_SOURCE - 1) / PER_SOURCE;
	L->nb = nsrc;
	L->b = calloc((size_t)nsrc * MAXK, sizeof *L->b);
	L->bp = calloc((size_t)nsrc * MAXK, sizeof *L->bp);
	L->recs = calloc((size_t)nseries, sizeof *L->recs);
	L->names = calloc((size_t)nseries, sizeof *L->names);
	L->srcs = calloc((size_t)nsrc, sizeof *L->srcs);
	L->st = calloc((size_t)nsrc * MAXK, sizeof *L->st);
	L->errs = calloc((size_t)nsrc * MAXK, sizeof *L->errs);
	if (!L->b || !L->bp || !L->recs || !L->names || !L->srcs || !L->st || !L->errs)
		return -1;
	for (int i = 0; i < 200; i++)
		mb_hll_add(&L->hll, &i, sizeof i);
	for (int i = 0; i < nseries; i++) {
		struct mb_record *r = &L->recs[i];
		snprintf(L->names[i], sizeof L->names[i], "metric.%d", i % PER_SOURCE);
		r->kind = (uint8_t)kind;
		r->name = L->names[i];
		r->value = 1;
		if (kind == MB_SET) {
			r->set_count = 200;
			r->hll = &L->hll;
		}
		if (mb_kind_is_timer(kind)) {
			for (int j = 0; j < 10; j++) {
				double v = 1 + (double)((i * 7 + j * 13) % 500);
				mb_sketch_add(&r->sketch, v, 1);
				r->count += 1;
				r->sum += v;
				r->sumsq += v * v;
				r->min = j == 0 ? v : fmin(r->min, v);
				r->max = j == 0 ? v : fmax(r->max, v);
			}
		}
	}
	for (int s = 0; s < nsrc; s++) {
		snprintf(L->srcs[s], sizeof L->srcs[s], "ctr-%d", s);
		struct mb_batch *b = &L->b[s];
		b->version = 1;
		b->instance = 1000 + (uint64_t)s;
		b->container_id = L->srcs[s];
		b->records = &L->recs[s * PER_SOURCE];
		b->nrecords = (uint32_t)(nseries - s * PER_SOURCE < PER_SOURCE ? nseries - s * PER_SOURCE
		                                                              : PER_SOURCE);
		b->interval_ms = 10000;
		L->bp[s] = b;
		for (int k = 1; k < MAXK; k++) {
			L->b[k * nsrc + s] = *b;
			L->bp[k * nsrc + s] = &L->b[k * nsrc + s];
		}
	}
	return 0;
}

static void load_free(struct load *L)
{
	for (int i = 0; i < L->nseries; i++)
		mb_sketch_free(&L->recs[i].sketch);
	free(L->b);
	free(L->bp);
	free(L->recs);
	free(L->names);
	free(L->srcs);
	free(L->st);
	free(L->errs);
}

/* One round: every series gets one point at time tm; committed PER_BATCH-ish per call... all
 * batches of the round go to the writer together, up to `per_txn` records per transaction. */
static int round_commit(struct agent_store *s, struct load *L, int64_t tm, uint64_t seq,
                        int per_txn)
{
	for (int i = 0; i < L->nb; i++) {
		L->b[i].time_ms = tm;
		L->b[i].seq = seq;
	}
	agent_store_test_now_ms = tm + 500; /* agentd's clock moves with the shims' */
	int per = per_txn / PER_SOURCE;
	if (per < 1)
		per = 1;
	for (int i = 0; i < L->nb; i += per) {
		int n = L->nb - i < per ? L->nb - i : per;
		if (agent_store_commit(s, L->bp + i, NULL, n, L->st + i, L->errs + i) != 0)
			return -1;
		for (int j = i; j < i + n; j++)
			if (L->st[j] != MB_ACK_OK) {
				fprintf(stderr, "batch status %u: %s\n", L->st[j], L->errs[j]);
				return -1;
			}
	}
	return 0;
}

static struct agent_store *bench_open(const char *dir, const char *ret)
{
	struct agent_store_opts o = {0};
	char perr[128], err[512];
	o.dir = dir;
	o.retention = ret;
	if (mb_parse_retention(ret, o.levels, &o.nlevels, perr, sizeof perr) != 0) {
		fprintf(stderr, "retention %s: %s\n", ret, perr);
		return NULL;
	}
	o.max_size = 64ull << 30;
	o.max_series_per_source = 1000000;
	o.live_ms = 300000;
	struct agent_store *s = NULL;
	if (agent_store_open(&o, &s, err, sizeof err) != 0) {
		fprintf(stderr, "open: %s\n", err);
		return NULL;
	}
	return s;
}

static void rmrf(const char *d)
{
	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", d);
}

static const char *base_dir(void)
{
	static char d[512];
	const char *t = getenv("TMPDIR");
	snprintf(d, sizeof d, "%s/agentd-store-bench.XXXXXX", t ? t : "/var/tmp");
	if (!mkdtemp(d)) {
		perror("mkdtemp");
		exit(1);
	}
	return d;
}

/* k consecutive rounds in one transaction: what the writer does when points arrive faster
 * than one per series per commit (its budget is 200,000 records). */
static int rounds_commit(struct agent_store *s, struct load *L, int64_t tm, uint64_t seq, int k)
{
	for (int j = 0; j < k; j++)
		for (int i = 0; i < L->nb; i++) {
			L->b[j * L->nb + i].time_ms = tm + (int64_t)j * 10000;
			L->b[j * L->nb + i].seq = seq + (uint64_t)j;
		}
	agent_store_test_now_ms = tm + (int64_t)(k - 1) * 10000 + 500;
	int n = L->nb * k;
	if (agent_store_commit(s, L->bp, NULL, n, L->st, L->errs) != 0)
		return -1;
	for (int j = 0; j < n; j++)
		if (L->st[j] != MB_ACK_OK) {
			fprintf(stderr, "batch status %u: %s\n", L->st[j], L->errs[j]);
			return -1;
		}
	return 0;
}

static int bench_speed_k(const char *root, int nseries, int kind, int rounds, int k)
{
	char dir[600];
	snprintf(dir, sizeof dir, "%s/speedk-%d-%d", root, nseries, kind);
	int64_t t0 = mb_now_ms() / 10000 * 10000 - (int64_t)(rounds * k + 1) * 10000;
	struct agent_store *s = bench_open(dir, MB_DEFAULT_RETENTION);
	struct load L;
	if (!s || load_init(&L, nseries, kind) != 0)
		return -1;
	if (rounds_commit(s, &L, t0, 1, 1) != 0)
		return -1;
	int64_t m0 = mb_mono_ms();
	for (int r = 0; r < rounds; r++)
		if (rounds_commit(s, &L, t0 + (int64_t)(1 + r * k) * 10000, (uint64_t)(2 + r * k), k))
			return -1;
	int64_t el = mb_mono_ms() - m0;
	double pts = (double)nseries * rounds * k;
	printf("commit %-9s %7d series, %d points per series per txn (%d records/txn): %10.0f "
	       "points/s\n",
	       mb_kind_name(kind), nseries, k, nseries * k, pts / ((double)el / 1000.0));
	fflush(stdout);
	load_free(&L);
	agent_store_close(s);
	rmrf(dir);
	agent_store_test_now_ms = 0;
	return 0;
}

/* Points/s committed: rounds after the first (which registers the series). */
static int bench_speed(const char *root, int nseries, int kind, int rounds, int per_txn)
{
	char dir[600];
	snprintf(dir, sizeof dir, "%s/speed-%d-%d", root, nseries, kind);
	int64_t t0 = mb_now_ms() / 10000 * 10000 - (int64_t)(rounds + 1) * 10000;
	agent_store_test_now_ms = 0;
	struct agent_store *s = bench_open(dir, MB_DEFAULT_RETENTION);
	struct load L;
	if (!s || load_init(&L, nseries, kind) != 0)
		return -1;
	if (round_commit(s, &L, t0, 1, per_txn) != 0)
		return -1;
	int64_t m0 = mb_mono_ms();
	for (int r = 1; r < rounds; r++)
		if (round_commit(s, &L, t0 + (int64_t)r * 10000, (uint64_t)r + 1, per_txn) != 0)
			return -1;
	int64_t el = mb_mono_ms() - m0;
	double pts = (double)nseries * (rounds - 1);
	struct agent_store_stats ss;
	agent_store_stats(s, &ss);
	if (nseries >= 100000 && per_txn == 100000 && kind == MB_COUNTER) {
		/* Reads in process (the socket adds its own): export of every series, and an
		 * app query of a 1,000-series container, and a 7-day 1-minute range. */
		struct mb_query q = {.version = 1, .op = MB_OP_EXPORT};
		struct mb_reply r = {0};
		int64_t q0 = mb_mono_ms();
		agent_store_query(s, &q, &r);
		printf("query export: %u series in %lld ms\n", r.nitems,
		       (long long)(mb_mono_ms() - q0));
		mb_reply_free(&r);
		double lat[200];
		for (int i = 0; i < 200; i++) {
			struct timespec a, b;
			struct mb_query qa = {.version = 1, .op = MB_OP_APP, .source = "ctr-7"};
			clock_gettime(CLOCK_MONOTONIC, &a);
			agent_store_query(s, &qa, &r);
			clock_gettime(CLOCK_MONOTONIC, &b);
			lat[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
			if (i == 0 && r.status != 200)
				printf("app query status %u\n", r.status);
			mb_reply_free(&r);
		}
		for (int i = 1; i < 200; i++)
			for (int j = i; j > 0 && lat[j - 1] > lat[j]; j--) {
				double x = lat[j];
				lat[j] = lat[j - 1];
				lat[j - 1] = x;
			}
		printf("query app (1,000 series, 2,000 points): p50 %.3f ms, p99 %.3f ms\n", lat[100],
		       lat[197]);
		struct mb_query qr = {.version = 1, .op = MB_OP_RANGE, .source = "ctr-7",
		                      .name = "metric.5", .from_ms = mb_now_ms() - 7 * 86400000LL,
		                      .to_ms = mb_now_ms(), .step_ms = 60000, .stat = MB_STAT_SUM};
		q0 = mb_mono_ms();
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		agent_store_query(s, &qr, &r);
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("query range 7 d at 1 m (%u points, status %u): %.3f ms\n", r.nrange, r.status,
		       (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
		mb_reply_free(&r);
		fflush(stdout);
	}
	printf("commit %-9s %7d series, %3d rounds of 10 s, %6d records/txn: %10.0f points/s, "
	       "last txn %.0f ms\n",
	       mb_kind_name(kind), nseries, rounds - 1, per_txn, pts / ((double)el / 1000.0),
	       ss.last_commit_ms);
	fflush(stdout);
	load_free(&L);
	agent_store_close(s);
	rmrf(dir);
	return 0;
}

/* Raw bytes (key + value + LMDB's 8-byte node header) of a DB's entries, by level byte. */
static void raw_by_level(MDB_txn *t, MDB_dbi d, double *lvl, int nl)
{
	MDB_cursor *c;
	MDB_val k, v;
	if (mdb_cursor_open(t, d, &c) != 0)
		return;
	for (int rv = mdb_cursor_get(c, &k, &v, MDB_FIRST); rv == 0;
	     rv = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		int l = k.mv_size == AGENT_KEY_LEN ? ((uint8_t *)k.mv_data)[0] : nl;
		lvl[l < nl ? l : nl] += (double)(k.mv_size + v.mv_size + 8);
	}
	mdb_cursor_close(c);
}

/* Bytes on disk with the default retention: `slots` 10 s rounds per series (2160 = the finest
 * ring full). Per level: its entries' raw bytes times the measured page overhead factor. */
static int bench_disk(const char *root, int nseries, int kind, int slots)
{
	char dir[600];
	snprintf(dir, sizeof dir, "%s/disk-%d", root, kind);
	int64_t res = 10000;
	int64_t t0 = mb_now_ms() / res * res - (int64_t)(slots + 1) * res;
	agent_store_test_now_ms = t0; /* the store is created when the first points come */
	struct agent_store *s = bench_open(dir, MB_DEFAULT_RETENTION);
	struct load L;
	if (!s || load_init(&L, nseries, kind) != 0)
		return -1;
	struct agent_store_stats e0, e1;
	agent_store_stats(s, &e0);
	for (int r = 0; r < slots; r++)
		if (round_commit(s, &L, t0 + (int64_t)(r + 1) * res, (uint64_t)r + 1, 100000) != 0)
			return -1;
	/* Let the last coarse slots close and roll up. */
	for (int r = slots; r < slots + 12; r++) {
		agent_store_test_now_ms = t0 + (int64_t)(r + 1) * res;
		uint32_t st;
		char errs[1][MB_MAX_ERR + 1];
		agent_store_commit(s, NULL, NULL, 0, &st, errs);
	}
	agent_store_stats(s, &e1);
	double used = (double)(e1.used_bytes - e0.used_bytes);
	double ch[MB_MAX_LEVELS + 1] = {0}, sk[MB_MAX_LEVELS + 1] = {0}, raw = 0;
	MDB_txn *t;
	if (mdb_txn_begin(s->e.env, NULL, MDB_RDONLY, &t) != 0)
		return -1;
	for (int l = 0; l < s->nlevels; l++)
		raw_by_level(t, s->e.db_chunk[l], ch, s->nlevels);
	raw_by_level(t, s->e.db_sketch, sk, s->nlevels);
	double other[1] = {0};
	raw_by_level(t, s->e.db_totals, other, 0);
	raw_by_level(t, s->e.db_series, other, 0);
	mdb_txn_abort(t);
	for (int l = 0; l <= s->nlevels; l++)
		raw += ch[l] + sk[l];
	raw += other[0];
	double f = raw > 0 ? used / raw : 1;
	printf("disk %-8s %d series x %d rounds of 10 s: %.0f bytes used, page overhead factor "
	       "%.2f\n",
	       mb_kind_name(kind), nseries, slots, used, f);
	for (int l = 0; l < s->nlevels; l++) {
		const struct agent_geom *g = &s->geom[l];
		int lay = agent_layout(kind, l);
		uint32_t cps = g->cps[lay];
		/* Points written at this level: distinct slots per series. */
		int64_t pts = ((int64_t)slots * res + g->res_ms - 1) / g->res_ms;
		/* Chunk bytes per slot at steady state (a full chunk holds cps points). */
		double chunk_entry = (double)(AGENT_KEY_LEN + 8 + AGENT_CHUNK_HDR +
		                              cps * agent_layout_width(lay) * 8);
		double per_pt = chunk_entry / cps * f + sk[l] * f / ((double)nseries * pts);
		double day = per_pt * 86400000.0 / (double)g->res_ms;
		double ring = per_pt * (double)g->nchunks[lay] * cps;
		char rs[24], ss[24];
		mb_format_duration(g->res_ms, rs, sizeof rs);
		mb_format_duration(g->span_ms, ss, sizeof ss);
		printf("disk %-8s level %s:%s: %6.2f bytes/point, %9.0f bytes/series/day, "
		       "%9.0f bytes/series with the ring full%s\n",
		       mb_kind_name(kind), rs, ss, per_pt, day, ring,
		       l == 0 && (kind == MB_COUNTER || kind == MB_GAUGE) ? " (target <= 12 B/point)"
		                                                         : "");
		if (l == 0 && slots >= 2160)
			printf("disk %-8s finest level, ring full, measured: %.2f bytes/point "
			       "(level-0 entries x overhead / points)\n",
			       mb_kind_name(kind), (ch[0] + sk[0]) * f / ((double)nseries * 2160));
	}
	fflush(stdout);
	load_free(&L);
	agent_store_close(s);
	rmrf(dir);
	agent_store_test_now_ms = 0;
	return 0;
}

int main(int argc, char **argv)
{
	bool quick = false, speed_only = false;
	int rounds = 12;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--speed-only"))
			speed_only = true;
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: agentd-store-bench [--quick] [--speed-only] [--rounds N]\n"
			                "prints points/s committed at 1k and 100k series and bytes on "
			                "disk per point and per series per day\n");
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	mb_log_init("store-bench", MB_LOG_WARN);
	const char *root = base_dir();
	if (quick && rounds > 4)
		rounds = 4;
	int rc = 0;
	/* Speed: counters and gauges at 1k and 100k series, 100k records per transaction (the
	 * writer's budget). */
	rc |= bench_speed(root, 1000, MB_COUNTER, rounds * 4, 100000);
	rc |= bench_speed(root, 100000, MB_COUNTER, rounds, 100000);
	rc |= bench_speed(root, 100000, MB_GAUGE, rounds, 100000);
	rc |= bench_speed_k(root, 100000, MB_COUNTER, quick ? 2 : rounds / 2, 2);
	rc |= bench_speed_k(root, 100000, MB_GAUGE, quick ? 2 : rounds / 2, 2);
	if (!quick) {
		rc |= bench_speed_k(root, 100000, MB_COUNTER, rounds / 2, 5);
		rc |= bench_speed(root, 100000, MB_TIMER, rounds / 2 + 2, 100000);
		rc |= bench_speed(root, 100000, MB_COUNTER, rounds, 20000);
	}
	if (speed_only) {
		rmrf(root);
		return rc ? 1 : 0;
	}
	/* Disk: the finest ring full (6 h of 10 s points), every kind. */
	int kinds[] = {MB_COUNTER, MB_GAUGE, MB_SET, MB_TIMER};
	for (int k = 0; k < 4; k++) {
		int n = quick ? 100 : (k < 2 ? 1000 : 200);
		rc |= bench_disk(root, n, kinds[k], quick ? 400 : 2160);
	}
	rmrf(root);
	return rc ? 1 : 0;
}
