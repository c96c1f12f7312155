/* mbsink.c: a real ingest peer for the shim's tests: REP on a URL, decodes every batch with the
 * bus codec, prints it as one JSON line on stdout, and acknowledges it (or not, on request). */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "mb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void jnum(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.17g", v);
	else
		fputs("null", f);
}

static void jkv(FILE *f, const struct mb_kv *kv, int n)
{
	fputc('{', f);
	for (int i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		jstr(f, kv[i].key);
		fputc(':', f);
		jstr(f, kv[i].val);
	}
	fputc('}', f);
}

static void print_batch(FILE *f, const struct mb_batch *b, size_t bytes)
{
	fprintf(f, "{\"inst\":%llu,\"seq\":%llu,\"t\":%lld,\"iv\":%u,\"bytes\":%zu,\"cid\":",
	        (unsigned long long)b->instance, (unsigned long long)b->seq, (long long)b->time_ms,
	        b->interval_ms, bytes);
	jstr(f, b->container_id);
	fputs(",\"dims\":", f);
	jkv(f, b->dims, b->ndims);
	fprintf(f, ",\"stop\":%s,\"records\":[", b->stopped ? "true" : "false");
	for (uint32_t i = 0; i < b->nrecords; i++) {
		const struct mb_record *r = &b->records[i];
		if (i)
			fputc(',', f);
		fprintf(f, "{\"kind\":\"%s\",\"name\":", mb_kind_name(r->kind));
		jstr(f, r->name);
		fputs(",\"tags\":", f);
		jkv(f, r->tags, r->ntags);
		if (r->kind == MB_SET) {
			fprintf(f, ",\"value\":%llu,\"hll\":", (unsigned long long)r->set_count);
			jnum(f, r->hll ? mb_hll_estimate(r->hll) : 0);
		} else if (mb_kind_is_timer(r->kind)) {
			static const struct {
				const char *n;
				double q;
			} qs[] = {
			    {"p50", .5}, {"p90", .9}, {"p95", .95}, {"p99", .99}, {"p999", .999}};
			fputs(",\"count\":", f);
			jnum(f, r->count);
			fputs(",\"sum\":", f);
			jnum(f, r->sum);
			fputs(",\"sumsq\":", f);
			jnum(f, r->sumsq);
			fputs(",\"min\":", f);
			jnum(f, r->min);
			fputs(",\"max\":", f);
			jnum(f, r->max);
			fprintf(f, ",\"samples\":%llu",
			        (unsigned long long)mb_sketch_count(&r->sketch));
			for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
				double v;
				fprintf(f, ",\"%s\":", qs[k].n);
				if (mb_sketch_quantile(&r->sketch, qs[k].q, &v) == 0)
					jnum(f, v);
				else
					fputs("null", f);
			}
		} else {
			fputs(",\"value\":", f);
			jnum(f, r->value);
		}
		fputc('}', f);
	}
	fputs("]}\n", f);
	fflush(f);
}

static void usage(void)
{
	fprintf(stderr, "usage: mbsink --listen URL [--no-ack] [--status N] [--skip N]\n"
	                "  --no-ack    never answer\n"
	                "  --status N  answer every batch with status N (2 reject, 3 retry)\n"
	                "  --skip N    leave the first N requests unanswered\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	bool noack = false;
	long status = 0, skip = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			url = argv[++i];
		else if (strcmp(argv[i], "--no-ack") == 0)
			noack = true;
		else if (strcmp(argv[i], "--status") == 0 && i + 1 < argc)
			status = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--skip") == 0 && i + 1 < argc)
			skip = strtol(argv[++i], NULL, 10);
		else
			usage();
	}
	if (!url)
		usage();
	mb_log_init("mbsink", MB_LOG_INFO);

	nng_socket s;
	nng_listener l;
	int rv;
	if ((rv = nng_rep0_open(&s)) != 0)
		mb_fatalx("nng_rep0_open: %s", nng_strerror(rv));
	if (mb_listen(s, url, MB_MAX_MSG, &l) != 0)
		mb_fatalx("cannot listen on %s", url);
	fprintf(stderr, "mbsink: listening on %s\n", url);

	for (long n = 0;; n++) {
		nng_msg *m;
		if ((rv = nng_recvmsg(s, &m, 0)) != 0) {
			mb_log_warnx("recv: %s", nng_strerror(rv));
			continue;
		}
		struct mb_batch b;
		struct mb_ack ack;
		char err[256];
		memset(&ack, 0, sizeof ack);
		if (mb_batch_decode(nng_msg_body(m), nng_msg_len(m), &b, err, sizeof err) != 0) {
			printf("{\"error\":");
			jstr(stdout, err);
			printf("}\n");
			fflush(stdout);
			ack.status = MB_ACK_REJECTED;
			snprintf(ack.err, sizeof ack.err, "%s", err);
		} else {
			print_batch(stdout, &b, nng_msg_len(m));
			ack.seq = b.seq;
			ack.status = (uint32_t)status;
			if (status == MB_ACK_REJECTED)
				snprintf(ack.err, sizeof ack.err, "rejected by mbsink");
			mb_batch_free(&b);
		}
		nng_msg_free(m);
		if (noack || n < skip)
			continue;
		struct mb_buf out = {0};
		if (mb_ack_encode(&ack, &out) != 0 || nng_send(s, out.data, out.len, 0) != 0)
			mb_log_warnx("ack not sent");
		mb_buf_free(&out);
	}
}
