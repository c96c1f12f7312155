/* mkexamples.c: writes schemas/v1/examples (NAME.msgpack and its readable NAME.json) from the
 * structs in tests/unit/examples.h, and optionally the fuzzers' seed corpora from them. */
#include "../unit/examples.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

static int write_file(const char *dir, const char *name, const char *ext, const void *p,
                      size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s%s", dir, name, ext);
	FILE *f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
		fprintf(stderr, "mkexamples: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

static int mkdir_p(const char *d)
{
	if (mb_mkdirs(d, 0755) != 0) {
		fprintf(stderr, "mkexamples: mkdir %s: %s\n", d, strerror(errno));
		return 1;
	}
	return 0;
}

/* Seeds: each fuzz target reads what its decoder reads; fuzz_reply takes the op in the first
 * byte, fuzz_hll the bytes of a HyperLogLog. */
static int write_seeds(const char *fdir, const struct mb_example *e, const struct mb_buf *b)
{
	static const char *const dirs[] = {"batch", "ack", "query", "reply"};
	char d[512];
	snprintf(d, sizeof d, "%s/%s", fdir, dirs[e->type]);
	if (mkdir_p(d))
		return 1;
	if (e->type != EX_REPLY)
		return write_file(d, e->name, "", b->data, b->len);
	struct mb_buf s = {0};
	uint8_t op = (uint8_t)((const struct mb_reply *)e->msg)->op;
	int rv = mb_buf_append(&s, &op, 1) || mb_buf_append(&s, b->data, b->len) ||
	         write_file(d, e->name, "", s.data, s.len);
	mb_buf_free(&s);
	return rv;
}

static int write_hll_seeds(const char *fdir)
{
	const struct mb_batch *bt = &ex_batch_timer_set;
	char d[512];
	snprintf(d, sizeof d, "%s/hll", fdir);
	if (mkdir_p(d))
		return 1;
	for (uint32_t i = 0; i < bt->nrecords; i++) {
		if (bt->records[i].kind != MB_SET)
			continue;
		struct mb_buf h = {0};
		char nm[64];
		snprintf(nm, sizeof nm, "hll-%u", i);
		int rv = mb_hll_encode(bt->records[i].hll, &h) || write_file(d, nm, "", h.data, h.len);
		mb_buf_free(&h);
		if (rv)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3 || argv[1][0] == '-') {
		fprintf(stderr, "usage: mkexamples EXAMPLES_DIR [FUZZ_CORPUS_DIR]\n");
		return 2;
	}
	if (mkdir_p(argv[1]))
		return 1;
	for (int i = 0; i < MB_NEXAMPLES; i++) {
		const struct mb_example *e = &mb_examples[i];
		struct mb_buf b = {0}, j = {0};
		int rv = ex_encode(e, &b);
		if (rv) {
			fprintf(stderr, "mkexamples: %s: encode: %s\n", e->name, mb_strerror(rv));
			return 1;
		}
		if ((rv = ex_json(b.data, b.len, &j)) != 0) {
			fprintf(stderr, "mkexamples: %s: json: %s\n", e->name, mb_strerror(rv));
			return 1;
		}
		if (write_file(argv[1], e->name, ".msgpack", b.data, b.len) ||
		    write_file(argv[1], e->name, ".json", j.data, j.len))
			return 1;
		if (argc == 3 && write_seeds(argv[2], e, &b))
			return 1;
		mb_buf_free(&b);
		mb_buf_free(&j);
	}
	return argc == 3 ? write_hll_seeds(argv[2]) : 0;
}
