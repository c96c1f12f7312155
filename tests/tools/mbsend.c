/* mbsend.c: the integration tests' hand on agentd's sockets: send raw bytes (any protocol),
 * build and send batches the way a shim would (resending until acknowledged), ask queries;
 * replies are printed as one JSON object per line. */
#include <errno.h>
#include <math.h>
#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mb.h"

/* Everything the tool allocates lives until exit; main frees it (LeakSanitizer runs on the
 * sanitized build of this tool too). */
static struct mb_arena A;
static struct mb_buf OUT;
static struct mb_record *RECS;
static uint32_t NRECS;

__attribute__((noreturn)) static void usage(void)
{
	fputs("usage:\n"
	      "  mbsend raw URL [FILE|-] [--proto req|push|pair] [--timeout MS] [--as ack|none|OP]\n"
	      "  mbsend batch URL|- [--inst N] [--seq N] [--time MS] [--iv MS] [--cid ID]\n"
	      "         [--dim K=V]... [--stop] [--repeat N] [--timeout MS] REC...\n"
	      "     REC: c:NAME:VALUE[:K=V,...]  g:...  r:...  t:NAME:V1,V2,...[:K=V,...]\n"
	      "          s:NAME:M1,M2,...[:K=V,...]\n"
	      "     --repeat N sends seq..seq+N-1, each resent until acknowledged (like a shim)\n"
	      "  mbsend query URL OP [--src S] [--name N] [--from MS] [--to MS] [--step MS]\n"
	      "         [--stat S] [--tags K:V,...] [--dir D] [--hist] [--timeout MS]\n",
	      stderr);
	exit(2);
}

/* ------------------------------------------------------------------ JSON out */
static void jstr(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void jnum(double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", stdout);
	else
		printf("%.17g", v);
}

static void jkv(uint16_t n, const struct mb_kv *kv)
{
	putchar('{');
	for (int i = 0; i < n; i++) {
		if (i)
			putchar(',');
		jstr(kv[i].key);
		putchar(':');
		jstr(kv[i].val);
	}
	putchar('}');
}

static void print_reply(int op, const struct mb_reply *r)
{
	printf("{\"st\":%u", r->status);
	if (r->status >= 400) {
		fputs(",\"err\":", stdout);
		jstr(r->error);
		puts("}");
		return;
	}
	switch (op) {
	case MB_OP_PING:
		printf(",\"t\":%lld,\"node\":", (long long)r->time_ms);
		jstr(r->node);
		break;
	case MB_OP_NODE:
	case MB_OP_CONTAINER:
	case MB_OP_APP:
		fputs(",\"dims\":", stdout);
		jkv(r->ndims, r->dims);
		fputs(",\"pts\":[", stdout);
		for (uint32_t i = 0; i < r->npoints; i++) {
			const struct mb_point *p = &r->points[i];
			fputs(i ? ",{\"name\":" : "{\"name\":", stdout);
			jstr(p->name);
			fputs(",\"value\":", stdout);
			jnum(p->value);
			fputs(",\"unit\":", stdout);
			jstr(p->unit);
			printf(",\"t\":%lld,\"tags\":", (long long)p->time_ms);
			jkv(p->ntags, p->tags);
			putchar('}');
		}
		putchar(']');
		break;
	case MB_OP_CONTAINERS:
		fputs(",\"ids\":[", stdout);
		for (uint32_t i = 0; i < r->nids; i++) {
			if (i)
				putchar(',');
			jstr(r->ids[i]);
		}
		putchar(']');
		break;
	case MB_OP_RANGE:
		fputs(",\"name\":", stdout);
		jstr(r->name);
		fputs(",\"src\":", stdout);
		jstr(r->source);
		printf(",\"step\":%lld,\"stat\":", (long long)r->step_ms);
		jstr(mb_stat_name(r->stat));
		fputs(",\"pts\":[", stdout);
		for (uint32_t i = 0; i < r->nrange; i++) {
			printf(i ? ",[%lld," : "[%lld,", (long long)r->range_t[i]);
			jnum(r->range_v[i]);
			putchar(']');
		}
		putchar(']');
		break;
	case MB_OP_SERIES:
		fputs(",\"series\":[", stdout);
		for (uint32_t i = 0; i < r->nseries; i++) {
			const struct mb_series_info *s = &r->series[i];
			fputs(i ? ",{\"name\":" : "{\"name\":", stdout);
			jstr(s->name);
			printf(",\"kind\":%u,\"tags\":", s->kind);
			jkv(s->ntags, s->tags);
			printf(",\"last\":%lld}", (long long)s->last_ms);
		}
		putchar(']');
		break;
	case MB_OP_EXPORT:
		fputs(",\"srcs\":[", stdout);
		for (uint32_t i = 0; i < r->nsrcs; i++) {
			fputs(i ? ",{\"src\":" : "{\"src\":", stdout);
			jstr(r->srcs[i].source);
			fputs(",\"dims\":", stdout);
			jkv(r->srcs[i].ndims, r->srcs[i].dims);
			putchar('}');
		}
		fputs("],\"items\":[", stdout);
		for (uint32_t i = 0; i < r->nitems; i++) {
			const struct mb_export_item *it = &r->items[i];
			printf(i ? ",{\"src\":%u,\"name\":" : "{\"src\":%u,\"name\":", it->src);
			jstr(it->name);
			printf(",\"kind\":%u,\"unit\":", it->kind);
			jstr(it->unit);
			fputs(",\"tags\":", stdout);
			jkv(it->ntags, it->tags);
			printf(",\"t\":%lld,\"value\":", (long long)it->time_ms);
			jnum(it->value);
			fputs(",\"total\":", stdout);
			jnum(it->total);
			fputs(",\"count\":", stdout);
			jnum(it->count);
			fputs(",\"sum\":", stdout);
			jnum(it->sum);
			putchar('}');
		}
		putchar(']');
		break;
	case MB_OP_BACKUP:
		fputs(",\"path\":", stdout);
		jstr(r->path);
		printf(",\"bytes\":%llu", (unsigned long long)r->bytes);
		break;
	default:
		break;
	}
	puts("}");
}

static void print_ack(const struct mb_ack *a)
{
	printf("{\"seq\":%llu,\"st\":%u,\"err\":", (unsigned long long)a->seq, a->status);
	jstr(a->err);
	puts("}");
}

/* ------------------------------------------------------------------ sockets */
static int open_sock(const char *proto, const char *url, int timeout_ms, nng_socket *s)
{
	int rv;
	if (strcmp(proto, "req") == 0)
		rv = nng_req0_open(s);
	else if (strcmp(proto, "push") == 0)
		rv = nng_push0_open(s);
	else if (strcmp(proto, "pair") == 0)
		rv = nng_pair0_open(s);
	else
		usage();
	if (rv != 0)
		return rv;
	nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, timeout_ms);
	nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, MB_MAX_EXPORT_MSG);
	if (strcmp(proto, "req") == 0)
		nng_socket_set_ms(*s, NNG_OPT_REQ_RESENDTIME, 3600000);
	nng_dialer d;
	if ((rv = nng_dialer_create(&d, *s, url)) != 0)
		return rv;
	nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, 50);
	nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, 500);
	return nng_dialer_start(d, NNG_FLAG_NONBLOCK);
}

/* One request/response. 0 with *rep (nng_free with *replen), else the nng error. */
static int call(nng_socket s, const void *req, size_t len, void **rep, size_t *replen)
{
	int rv = nng_send(s, (void *)(uintptr_t)req, len, 0);
	if (rv != 0)
		return rv;
	return nng_recv(s, rep, replen, NNG_FLAG_ALLOC);
}

static int read_all(const char *path, struct mb_buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char chunk[65536];
	size_t n;
	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (mb_buf_append(b, chunk, n) != 0)
			return -1;
	if (f != stdin)
		fclose(f);
	return 0;
}

static int parse_op(const char *s)
{
	for (int op = MB_OP_PING; op <= MB_OP_BACKUP; op++)
		if (strcmp(mb_op_name(op), s) == 0)
			return op;
	return -1;
}

static int cmd_raw(int argc, char **argv)
{
	const char *url = NULL, *file = "-", *proto = "req", *as = "ack";
	int timeout = 5000, npos = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--proto") == 0 && i + 1 < argc)
			proto = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout = atoi(argv[++i]);
		else if (strcmp(argv[i], "--as") == 0 && i + 1 < argc)
			as = argv[++i];
		else if (npos == 0 && ++npos)
			url = argv[i];
		else if (npos == 1 && ++npos)
			file = argv[i];
		else
			usage();
	}
	if (!url)
		usage();
	struct mb_buf b = {0};
	if (read_all(file, &OUT) != 0) {
		perror(file);
		return 1;
	}
	nng_socket s;
	int rv = open_sock(proto, url, timeout, &s);
	if (rv != 0) {
		fprintf(stderr, "mbsend: %s: %s\n", url, nng_strerror(rv));
		return 1;
	}
	if (strcmp(proto, "req") != 0) {
		b = OUT;
		rv = nng_send(s, b.data ? b.data : (void *)"", b.len, 0);
		printf("{\"sent\":%s}\n", rv == 0 ? "true" : "false");
		/* Give the pipe a moment to carry it before close drops it. */
		nng_msleep(200);
		nng_close(s);
		return rv == 0 ? 0 : 1;
	}
	void *rep = NULL;
	size_t replen = 0;
	b = OUT;
	rv = call(s, b.data ? b.data : (void *)"", b.len, &rep, &replen);
	if (rv != 0) {
		/* No nng_close: in 1.5.2 it can hang on a REQ whose pipe the peer dropped. */
		printf("{\"error\":\"%s\"}\n", rv == NNG_ETIMEDOUT ? "timeout" : nng_strerror(rv));
		return rv == NNG_ETIMEDOUT ? 3 : 1;
	}
	char err[512] = "";
	rv = 0;
	if (strcmp(as, "ack") == 0) {
		struct mb_ack a;
		if ((rv = mb_ack_decode(rep, replen, &a, err, sizeof err)) == 0)
			print_ack(&a);
	} else if (strcmp(as, "none") != 0) {
		int op = parse_op(as);
		struct mb_reply r;
		if (op < 0)
			usage();
		if ((rv = mb_reply_decode(rep, replen, op, &r, err, sizeof err)) == 0) {
			print_reply(op, &r);
			mb_reply_free(&r);
		}
	} else {
		printf("{\"bytes\":%zu}\n", replen);
	}
	if (rv != 0)
		printf("{\"error\":\"undecodable reply\",\"why\":\"%s\"}\n", err);
	nng_free(rep, replen);
	nng_close(s);
	return rv ? 1 : 0;
}

/* ------------------------------------------------------------------ batches */
static char *xstrdup(const char *s)
{
	char *p = mb_arena_strndup(&A, s, strlen(s));
	if (!p) {
		perror("strdup");
		exit(1);
	}
	return p;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mb_kv *)a)->key, ((const struct mb_kv *)b)->key);
}

/* "k=v,k2=v2" -> sorted tags (the strings are leaked: a short-lived tool). */
static uint16_t parse_tags(const char *s, struct mb_kv **out)
{
	struct mb_kv *t = mb_arena_alloc(&A, MB_MAX_TAGS * sizeof *t);
	uint16_t n = 0;
	char *dup = xstrdup(s), *save = NULL;
	for (char *tok = strtok_r(dup, ",", &save); tok && n < MB_MAX_TAGS;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq = 0;
		t[n].key = tok;
		t[n].val = eq ? eq + 1 : "";
		n++;
	}
	qsort(t, n, sizeof *t, kv_cmp);
	*out = t;
	return n;
}

static void parse_rec(const char *spec, struct mb_record *r)
{
	char *s = xstrdup(spec);
	char *f[4] = {0};
	int nf = 0;
	for (char *p = s; nf < 4;) {
		f[nf++] = p;
		char *c = nf < 4 ? strchr(p, ':') : NULL;
		if (!c)
			break;
		*c = 0;
		p = c + 1;
	}
	if (nf < 3) {
		fprintf(stderr, "mbsend: bad record %s\n", spec);
		exit(2);
	}
	memset(r, 0, sizeof *r);
	r->name = f[1];
	if (nf == 4)
		r->ntags = parse_tags(f[3], &r->tags);
	switch (f[0][0]) {
	case 'c':
		r->kind = MB_COUNTER;
		r->value = strtod(f[2], NULL);
		break;
	case 'g':
		r->kind = MB_GAUGE;
		r->value = strtod(f[2], NULL);
		break;
	case 'r':
		r->kind = MB_RESOURCE;
		r->value = strtod(f[2], NULL);
		break;
	case 't':
	case 'h':
	case 'd': {
		r->kind = f[0][0] == 't' ? MB_TIMER : f[0][0] == 'h' ? MB_HISTOGRAM : MB_DISTRIBUTION;
		r->min = INFINITY;
		r->max = -INFINITY;
		char *save = NULL;
		for (char *v = strtok_r(f[2], ",", &save); v; v = strtok_r(NULL, ",", &save)) {
			double x = strtod(v, NULL);
			r->count += 1;
			r->sum += x;
			r->sumsq += x * x;
			r->min = x < r->min ? x : r->min;
			r->max = x > r->max ? x : r->max;
			mb_sketch_add(&r->sketch, x, 1);
		}
		if (r->count == 0)
			r->min = r->max = 0;
		break;
	}
	case 's': {
		r->kind = MB_SET;
		r->hll = mb_arena_alloc(&A, sizeof *r->hll);
		char *save = NULL;
		for (char *v = strtok_r(f[2], ",", &save); v; v = strtok_r(NULL, ",", &save)) {
			mb_hll_add(r->hll, v, strlen(v));
			r->set_count++;
		}
		break;
	}
	default:
		fprintf(stderr, "mbsend: bad record kind in %s\n", spec);
		exit(2);
	}
}

static int cmd_batch(int argc, char **argv)
{
	const char *url = NULL;
	struct mb_batch b;
	struct mb_kv dims[MB_MAX_DIMS];
	int timeout = 2000;
	long repeat = 1;
	memset(&b, 0, sizeof b);
	b.version = MB_SCHEMA_VERSION;
	b.instance = ((uint64_t)getpid() << 20) ^ (uint64_t)mb_now_ms();
	b.seq = 1;
	b.interval_ms = 1000;
	b.container_id = "test";
	struct mb_record *recs = RECS = mb_arena_alloc(&A, ((size_t)argc + 1) * sizeof *recs);
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--inst") == 0 && v && ++i)
			b.instance = strtoull(v, NULL, 0);
		else if (strcmp(a, "--seq") == 0 && v && ++i)
			b.seq = strtoull(v, NULL, 0);
		else if (strcmp(a, "--time") == 0 && v && ++i)
			b.time_ms = strtoll(v, NULL, 0);
		else if (strcmp(a, "--iv") == 0 && v && ++i)
			b.interval_ms = (uint32_t)strtoul(v, NULL, 0);
		else if (strcmp(a, "--cid") == 0 && v && ++i)
			b.container_id = v;
		else if (strcmp(a, "--dim") == 0 && v && ++i && b.ndims < MB_MAX_DIMS) {
			char *d = xstrdup(v), *eq = strchr(d, '=');
			if (eq)
				*eq = 0;
			dims[b.ndims].key = d;
			dims[b.ndims].val = eq ? eq + 1 : "";
			b.ndims++;
		} else if (strcmp(a, "--stop") == 0)
			b.stopped = true;
		else if (strcmp(a, "--repeat") == 0 && v && ++i)
			repeat = strtol(v, NULL, 0);
		else if (strcmp(a, "--timeout") == 0 && v && ++i)
			timeout = atoi(v);
		else if (!url)
			url = a;
		else if (a[0] == '-' && a[1] == '-')
			usage();
		else {
			parse_rec(a, &recs[b.nrecords++]);
			NRECS = b.nrecords;
		}
	}
	if (!url)
		usage();
	b.dims = dims;
	b.records = recs;
	bool fixed_time = b.time_ms != 0;
	if (strcmp(url, "-") == 0) {
		if (!fixed_time)
			b.time_ms = mb_now_ms();
		int rv = mb_batch_encode(&b, &OUT);
		if (rv != 0) {
			fprintf(stderr, "mbsend: encode: %s\n", mb_strerror(rv));
			return 1;
		}
		fwrite(OUT.data, 1, OUT.len, stdout);
		return 0;
	}
	nng_socket s;
	int rv = open_sock("req", url, timeout, &s);
	if (rv != 0) {
		fprintf(stderr, "mbsend: %s: %s\n", url, nng_strerror(rv));
		return 1;
	}
	uint64_t first = b.seq, counts[4] = {0}, attempts = 0;
	int64_t base = fixed_time ? b.time_ms : mb_now_ms();
	struct mb_ack last = {0};
	for (long k = 0; k < repeat; k++) {
		b.seq = first + (uint64_t)k;
		b.time_ms = base + (int64_t)k * b.interval_ms;
		mb_buf_reset(&OUT);
		if ((rv = mb_batch_encode(&b, &OUT)) != 0) {
			fprintf(stderr, "mbsend: encode: %s\n", mb_strerror(rv));
			return 1;
		}
		/* Like a shim: the same bytes again until committed, duplicate or rejected. */
		for (;;) {
			void *rep = NULL;
			size_t replen = 0;
			char err[512];
			attempts++;
			rv = call(s, OUT.data, OUT.len, &rep, &replen);
			if (rv != 0) {
				if (repeat == 1 && attempts >= 3) {
					printf("{\"error\":\"%s\"}\n", nng_strerror(rv));
					return 3;
				}
				continue;
			}
			rv = mb_ack_decode(rep, replen, &last, err, sizeof err);
			nng_free(rep, replen);
			if (rv != 0) {
				printf("{\"error\":\"undecodable ack\",\"why\":\"%s\"}\n", err);
				return 1;
			}
			/* A single send reports "retry" as it is; a run resends like a shim. */
			if (last.status != MB_ACK_RETRY || repeat == 1)
				break;
			counts[MB_ACK_RETRY]++;
			nng_msleep(50);
		}
		counts[last.status & 3]++;
	}
	if (repeat == 1)
		print_ack(&last);
	else
		printf("{\"ok\":%llu,\"dup\":%llu,\"rejected\":%llu,\"retry\":%llu,"
		       "\"attempts\":%llu}\n",
		       (unsigned long long)counts[0], (unsigned long long)counts[1],
		       (unsigned long long)counts[2], (unsigned long long)counts[3],
		       (unsigned long long)attempts);
	nng_close(s);
	return 0;
}

/* ------------------------------------------------------------------ queries */
static int cmd_query(int argc, char **argv)
{
	struct mb_query q;
	const char *url = NULL;
	int timeout = 10000;
	memset(&q, 0, sizeof q);
	q.version = MB_SCHEMA_VERSION;
	q.op = -1;
	q.stat = MB_STAT_MEAN;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--src") == 0 && v && ++i)
			q.source = v;
		else if (strcmp(a, "--name") == 0 && v && ++i)
			q.name = v;
		else if (strcmp(a, "--from") == 0 && v && ++i)
			q.from_ms = strtoll(v, NULL, 0);
		else if (strcmp(a, "--to") == 0 && v && ++i)
			q.to_ms = strtoll(v, NULL, 0);
		else if (strcmp(a, "--step") == 0 && v && ++i)
			q.step_ms = strtoll(v, NULL, 0);
		else if (strcmp(a, "--stat") == 0 && v && ++i) {
			if (mb_stat_parse(v, &q.stat) != 0)
				usage();
		} else if (strcmp(a, "--tags") == 0 && v && ++i) {
			/* k:v,k2:v2 as the API takes them */
			char *d = xstrdup(v);
			for (char *p = d; *p; p++)
				if (*p == ':')
					*p = '=';
			q.ntags = parse_tags(d, &q.tags);
		} else if (strcmp(a, "--dir") == 0 && v && ++i)
			q.dir = v;
		else if (strcmp(a, "--hist") == 0)
			q.hist = true;
		else if (strcmp(a, "--timeout") == 0 && v && ++i)
			timeout = atoi(v);
		else if (!url)
			url = a;
		else if (q.op < 0 && (q.op = parse_op(a)) >= 0)
			;
		else
			usage();
	}
	if (!url || q.op < 0)
		usage();
	struct mb_buf *b = &OUT;
	int rv = mb_query_encode(&q, b);
	if (rv != 0) {
		fprintf(stderr, "mbsend: encode: %s\n", mb_strerror(rv));
		return 2;
	}
	nng_socket s;
	if ((rv = open_sock("req", url, timeout, &s)) != 0) {
		fprintf(stderr, "mbsend: %s: %s\n", url, nng_strerror(rv));
		return 1;
	}
	void *rep = NULL;
	size_t replen = 0;
	rv = call(s, b->data, b->len, &rep, &replen);
	if (rv != 0) {
		/* No nng_close: in 1.5.2 it can hang on a REQ whose pipe the peer dropped. */
		printf("{\"error\":\"%s\"}\n", rv == NNG_ETIMEDOUT ? "timeout" : nng_strerror(rv));
		return rv == NNG_ETIMEDOUT ? 3 : 1;
	}
	struct mb_reply r;
	char err[512] = "";
	if ((rv = mb_reply_decode(rep, replen, q.op, &r, err, sizeof err)) != 0) {
		printf("{\"error\":\"undecodable reply\",\"why\":\"%s\"}\n", err);
	} else {
		print_reply(q.op, &r);
		mb_reply_free(&r);
	}
	nng_free(rep, replen);
	nng_close(s);
	return rv ? 1 : 0;
}

int main(int argc, char **argv)
{
	mb_log_init("mbsend", MB_LOG_WARN);
	if (argc < 2)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	int rc;
	if (strcmp(argv[1], "raw") == 0)
		rc = cmd_raw(argc - 2, argv + 2);
	else if (strcmp(argv[1], "batch") == 0)
		rc = cmd_batch(argc - 2, argv + 2);
	else if (strcmp(argv[1], "query") == 0)
		rc = cmd_query(argc - 2, argv + 2);
	else
		usage();
	for (uint32_t i = 0; i < NRECS; i++)
		mb_sketch_free(&RECS[i].sketch);
	mb_buf_free(&OUT);
	mb_arena_free(&A);
	return rc;
}
