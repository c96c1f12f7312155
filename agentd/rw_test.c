/* rw_test.c: remote write's encoder against protobuf-c's decoder and snappy's decompressor
 * (labels sorted and unique, samples split by range, the stale NaN), the status verdicts,
 * the URL label, and progress surviving a reopen. */
#include <snappy-c.h>
#include <stdlib.h>

#include "remote.pb-c.h"
#include "rw.h"
#include "../tests/unit/mbtest.h"

static Prometheus__WriteRequest *decode(const struct mb_buf *b, char **raw)
{
	size_t n = 0;
	if (snappy_uncompressed_length((const char *)b->data, b->len, &n) != SNAPPY_OK)
		return NULL;
	*raw = malloc(n ? n : 1);
	if (snappy_uncompress((const char *)b->data, b->len, *raw, &n) != SNAPPY_OK)
		return NULL;
	return prometheus__write_request__unpack(NULL, n, (const uint8_t *)*raw);
}

MB_TEST(rw_encode_round_trip)
{
	struct agent_rw_req r = {0};
	struct agent_rw_label a[] = {{"job", "metricsbus"}, {"__name__", "req_total"},
	                             {"container_id", "web-1"}, {"job", "other"}, {"empty", ""}};
	CHECK(agent_rw_req_series(&r, 5, a) == 0);
	CHECK(agent_rw_req_sample(&r, 10000, 1) == 0);
	CHECK(agent_rw_req_sample(&r, 20000, 3) == 0);
	struct agent_rw_label b[] = {{"__name__", "temp"}};
	CHECK(agent_rw_req_series(&r, 1, b) == 0);
	CHECK(agent_rw_req_sample(&r, 20000, 21.5) == 0);
	CHECK(agent_rw_req_sample(&r, 30000, agent_rw_stale_nan()) == 0);
	struct agent_rw_label c[] = {{"__name__", "nothing"}};
	CHECK(agent_rw_req_series(&r, 1, c) == 0);
	agent_rw_req_trim(&r); /* no sample: gone */
	CHECK_EQ_INT(r.nts, 2);

	struct mb_buf body = {0};
	char *raw = NULL;
	CHECK(agent_rw_encode(&r, 0, r.nsamples, &body) == 0);
	Prometheus__WriteRequest *w = decode(&body, &raw);
	CHECK(w != NULL);
	if (w) {
		CHECK_EQ_INT(w->n_timeseries, 2);
		Prometheus__TimeSeries *t = w->timeseries[0];
		CHECK_EQ_INT(t->n_labels, 3); /* sorted, first value of a name, no empty value */
		CHECK_STR(t->labels[0]->name, "__name__");
		CHECK_STR(t->labels[1]->name, "container_id");
		CHECK_STR(t->labels[2]->name, "job");
		CHECK_STR(t->labels[2]->value, "metricsbus");
		CHECK_EQ_INT(t->n_samples, 2);
		CHECK(t->samples[1]->value == 3 && t->samples[1]->timestamp == 20000);
		t = w->timeseries[1];
		CHECK_EQ_INT(t->n_samples, 2);
		CHECK(agent_rw_is_stale_nan(t->samples[1]->value));
		prometheus__write_request__free_unpacked(w, NULL);
	}
	free(raw);
	/* a range of samples [1, 3): the first series' second sample, the second's first */
	CHECK(agent_rw_encode(&r, 1, 3, &body) == 0);
	w = decode(&body, &raw);
	CHECK(w != NULL);
	if (w) {
		CHECK_EQ_INT(w->n_timeseries, 2);
		CHECK_EQ_INT(w->timeseries[0]->n_samples, 1);
		CHECK(w->timeseries[0]->samples[0]->timestamp == 20000);
		CHECK_EQ_INT(w->timeseries[1]->n_samples, 1);
		CHECK(w->timeseries[1]->samples[0]->value == 21.5);
		prometheus__write_request__free_unpacked(w, NULL);
	}
	free(raw);
	mb_buf_free(&body);
	agent_rw_req_free(&r);
}

MB_TEST(rw_verdicts)
{
	CHECK_EQ_INT(agent_rw_classify(0, 200), AGENT_RW_OK);
	CHECK_EQ_INT(agent_rw_classify(0, 204), AGENT_RW_OK);
	CHECK_EQ_INT(agent_rw_classify(0, 400), AGENT_RW_REFUSED);
	CHECK_EQ_INT(agent_rw_classify(0, 413), AGENT_RW_REFUSED);
	CHECK_EQ_INT(agent_rw_classify(0, 429), AGENT_RW_RETRY);
	CHECK_EQ_INT(agent_rw_classify(0, 302), AGENT_RW_RETRY);
	CHECK_EQ_INT(agent_rw_classify(0, 500), AGENT_RW_SERVER);
	CHECK_EQ_INT(agent_rw_classify(0, 503), AGENT_RW_SERVER);
	CHECK_EQ_INT(agent_rw_classify(MB_ENNG, 0), AGENT_RW_RETRY);
}

MB_TEST(rw_url_label_hides_credentials)
{
	char out[256];
	agent_rw_url_label("https://user:secret@mimir.example:443/api/v1/push?token=x", out,
	                   sizeof out);
	CHECK_STR(out, "https://mimir.example:443/api/v1/push");
	agent_rw_url_label("http://127.0.0.1:9090/api/v1/write", out, sizeof out);
	CHECK_STR(out, "http://127.0.0.1:9090/api/v1/write");
}

MB_TEST(rw_progress_survives_reopen)
{
	struct agent_rw_progress *p = NULL;
	struct agent_rw_pos pos = {.res_ms = 10000, .done_ms = 1700000000000, .cursor = 7};
	struct agent_rw_pos got;
	CHECK(agent_rw_progress_open(mbt_tmpdir(), &p) == 0);
	CHECK(agent_rw_progress_get(p, "http://a/w", &got) == MB_EINVAL);
	CHECK(agent_rw_progress_put(p, "http://a/w", &pos) == 0);
	agent_rw_progress_close(p);
	CHECK(agent_rw_progress_open(mbt_tmpdir(), &p) == 0);
	memset(&got, 0, sizeof got);
	CHECK(agent_rw_progress_get(p, "http://a/w", &got) == 0);
	CHECK(got.done_ms == pos.done_ms && got.cursor == 7 && got.res_ms == 10000);
	agent_rw_progress_close(p);
}
