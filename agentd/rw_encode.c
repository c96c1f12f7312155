/* rw_encode.c: a remote-write request under construction (series, labels, samples) and its
 * wire form: a protobuf WriteRequest (protoc-c from remote.proto), snappy block-compressed. */
#include <math.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "remote.pb-c.h"
#include "rw.h"

double agent_rw_stale_nan(void)
{
	/* Prometheus's StaleNaN (model/value): a signalling NaN no computation produces. */
	uint64_t bits = 0x7ff0000000000002ull;
	double d;
	memcpy(&d, &bits, sizeof d);
	return d;
}

bool agent_rw_is_stale_nan(double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof bits);
	return bits == 0x7ff0000000000002ull;
}

void agent_rw_req_reset(struct agent_rw_req *r)
{
	mb_arena_free(&r->arena);
	r->nlabels = r->nts = r->nsamples = 0;
}

void agent_rw_req_free(struct agent_rw_req *r)
{
	mb_arena_free(&r->arena);
	free(r->labels);
	free(r->ts);
	free(r->samples);
	memset(r, 0, sizeof *r);
}

static int grow(void **p, uint32_t *cap, uint32_t need, size_t each)
{
	if (need <= *cap)
		return 0;
	uint32_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, (size_t)n * each);
	if (!q)
		return MB_ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

int agent_rw_req_series(struct agent_rw_req *r, int nl, const struct agent_rw_label *l)
{
	if (grow((void **)&r->ts, &r->capts, r->nts + 1, sizeof *r->ts) != 0 ||
	    grow((void **)&r->labels, &r->caplabels, r->nlabels + (uint32_t)nl,
	         sizeof *r->labels) != 0)
		return MB_ENOMEM;
	struct agent_rw_label *d = r->labels + r->nlabels;
	int n = 0;
	for (int i = 0; i < nl; i++) {
		/* insertion by name; the first value of a name wins */
		int j = n;
		bool dup = false;
		for (int x = 0; x < n && !dup; x++)
			dup = strcmp(d[x].name, l[i].name) == 0;
		if (dup || !l[i].value || !l[i].value[0])
			continue;
		while (j > 0 && strcmp(d[j - 1].name, l[i].name) > 0) {
			d[j] = d[j - 1];
			j--;
		}
		d[j].name = mb_arena_strndup(&r->arena, l[i].name, strlen(l[i].name));
		d[j].value = mb_arena_strndup(&r->arena, l[i].value, strlen(l[i].value));
		if (!d[j].name || !d[j].value)
			return MB_ENOMEM;
		n++;
	}
	struct agent_rw_ts *t = &r->ts[r->nts++];
	t->lab0 = r->nlabels;
	t->nlab = (uint32_t)n;
	t->s0 = r->nsamples;
	t->ns = 0;
	r->nlabels += (uint32_t)n;
	return 0;
}

int agent_rw_req_sample(struct agent_rw_req *r, int64_t t_ms, double v)
{
	if (!r->nts)
		return MB_EINVAL;
	if (grow((void **)&r->samples, &r->capsamples, r->nsamples + 1, sizeof *r->samples) != 0)
		return MB_ENOMEM;
	r->samples[r->nsamples].v = v;
	r->samples[r->nsamples].t_ms = t_ms;
	r->nsamples++;
	r->ts[r->nts - 1].ns++;
	return 0;
}

void agent_rw_req_trim(struct agent_rw_req *r)
{
	if (r->nts && r->ts[r->nts - 1].ns == 0) {
		r->nlabels -= r->ts[r->nts - 1].nlab;
		r->nts--;
	}
}

int agent_rw_encode(const struct agent_rw_req *r, uint32_t lo, uint32_t hi, struct mb_buf *out)
{
	int rv = MB_ENOMEM;
	uint32_t nts = 0, ns = hi > lo ? hi - lo : 0;
	/* the series that have samples in [lo, hi): samples are in series order */
	uint32_t first = 0;
	while (first < r->nts && r->ts[first].s0 + r->ts[first].ns <= lo)
		first++;
	for (uint32_t i = first; i < r->nts && r->ts[i].s0 < hi; i++)
		nts++;
	Prometheus__TimeSeries *ts = calloc(nts ? nts : 1, sizeof *ts);
	Prometheus__TimeSeries **tsp = calloc(nts ? nts : 1, sizeof *tsp);
	Prometheus__Sample *sm = calloc(ns ? ns : 1, sizeof *sm);
	Prometheus__Sample **smp = calloc(ns ? ns : 1, sizeof *smp);
	Prometheus__Label *lb = NULL;
	Prometheus__Label **lbp = NULL;
	uint32_t nl = 0;
	for (uint32_t i = 0; i < nts; i++)
		nl += r->ts[first + i].nlab;
	lb = calloc(nl ? nl : 1, sizeof *lb);
	lbp = calloc(nl ? nl : 1, sizeof *lbp);
	uint8_t *raw = NULL;
	if (!ts || !tsp || !sm || !smp || !lb || !lbp)
		goto out;
	uint32_t li = 0, si = 0;
	for (uint32_t i = 0; i < nts; i++) {
		const struct agent_rw_ts *t = &r->ts[first + i];
		Prometheus__TimeSeries *p = &ts[i];
		prometheus__time_series__init(p);
		tsp[i] = p;
		p->n_labels = t->nlab;
		p->labels = lbp + li;
		for (uint32_t j = 0; j < t->nlab; j++, li++) {
			prometheus__label__init(&lb[li]);
			/* protobuf-c's struct is not const-correct; it only reads these */
			memcpy(&lb[li].name, &r->labels[t->lab0 + j].name, sizeof(char *));
			memcpy(&lb[li].value, &r->labels[t->lab0 + j].value, sizeof(char *));
			lbp[li] = &lb[li];
		}
		uint32_t s0 = t->s0 > lo ? t->s0 : lo;
		uint32_t s1 = t->s0 + t->ns < hi ? t->s0 + t->ns : hi;
		p->samples = smp + si;
		p->n_samples = s1 - s0;
		for (uint32_t j = s0; j < s1; j++, si++) {
			prometheus__sample__init(&sm[si]);
			sm[si].value = r->samples[j].v;
			sm[si].timestamp = r->samples[j].t_ms;
			smp[si] = &sm[si];
		}
	}
	Prometheus__WriteRequest wr = PROMETHEUS__WRITE_REQUEST__INIT;
	wr.n_timeseries = nts;
	wr.timeseries = tsp;
	size_t len = prometheus__write_request__get_packed_size(&wr);
	if (!(raw = malloc(len ? len : 1)))
		goto out;
	prometheus__write_request__pack(&wr, raw);
	size_t clen = snappy_max_compressed_length(len);
	mb_buf_reset(out);
	if (clen > out->cap) {
		uint8_t *d = realloc(out->data, clen);
		if (!d)
			goto out;
		out->data = d;
		out->cap = clen;
	}
	if (snappy_compress((const char *)raw, len, (char *)out->data, &clen) != SNAPPY_OK)
		goto out;
	out->len = clen;
	rv = 0;
out:
	free(raw);
	free(lb);
	free(lbp);
	free(sm);
	free(smp);
	free(ts);
	free(tsp);
	return rv;
}
