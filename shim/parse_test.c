/* parse_test.c: the statsd line parser: every type, rates, tags, events, each kind of bad
 * line, and packets of many lines with bad ones among them. */
#include "../tests/unit/mbtest.h"
#include "shim.h"

#include <stdlib.h>

static int parse(const char *s, struct shim_line *l)
{
	return shim_parse_line(s, strlen(s), l);
}

static bool name_is(const struct shim_line *l, const char *n)
{
	return l->namelen == strlen(n) && memcmp(l->name, n, l->namelen) == 0;
}

static bool tag_is(const struct shim_tag *t, const char *k, const char *v)
{
	return t->klen == strlen(k) && memcmp(t->key, k, t->klen) == 0 && t->vlen == strlen(v) &&
	       memcmp(t->val, v, t->vlen) == 0;
}

MB_TEST(parse_every_type)
{
	struct shim_line l;
	CHECK_EQ_INT(parse("hits:3|c", &l), SHIM_LINE_OK);
	CHECK_EQ_INT(l.kind, MB_COUNTER);
	CHECK(name_is(&l, "hits"));
	CHECK(l.value == 3 && l.rate == 1 && l.ntags == 0);
	CHECK_EQ_INT(parse("temp:21.5|g", &l), SHIM_LINE_OK);
	CHECK(l.kind == MB_GAUGE && l.value == 21.5 && !l.delta);
	CHECK_EQ_INT(parse("lat:12.25|ms", &l), SHIM_LINE_OK);
	CHECK(l.kind == MB_TIMER && l.value == 12.25);
	CHECK_EQ_INT(parse("size:100|h", &l), SHIM_LINE_OK);
	CHECK(l.kind == MB_HISTOGRAM && l.value == 100);
	CHECK_EQ_INT(parse("dist:-7|d", &l), SHIM_LINE_OK);
	CHECK(l.kind == MB_DISTRIBUTION && l.value == -7);
	CHECK_EQ_INT(parse("users:alice|s", &l), SHIM_LINE_OK);
	CHECK(l.kind == MB_SET && l.memberlen == 5 && memcmp(l.member, "alice", 5) == 0);
}

MB_TEST(parse_packed_values)
{
	struct shim_line l;
	CHECK_EQ_INT(parse("d:1:2.5:3|d|#a:b", &l), SHIM_LINE_OK);
	CHECK(l.kind == MB_DISTRIBUTION && l.nvalues == 3 && l.value == 1 && l.ntags == 1);
	CHECK_EQ_INT(parse("t:1|ms", &l), SHIM_LINE_OK);
	CHECK_EQ_INT(l.nvalues, 1);
	CHECK_EQ_INT(parse("d:1::3|d", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(parse("d:1:x|h", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(parse("d:1:|ms", &l), SHIM_LINE_BAD);
	/* only timer kinds pack */
	CHECK_EQ_INT(parse("c:1:2|c", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(parse("g:1:2|g", &l), SHIM_LINE_BAD);
}

MB_TEST(parse_gauge_deltas)
{
	struct shim_line l;
	CHECK_EQ_INT(parse("g:+4|g", &l), SHIM_LINE_OK);
	CHECK(l.delta && l.value == 4);
	CHECK_EQ_INT(parse("g:-2.5|g", &l), SHIM_LINE_OK);
	CHECK(l.delta && l.value == -2.5);
	/* a signed counter is just a negative count */
	CHECK_EQ_INT(parse("c:-2|c", &l), SHIM_LINE_OK);
	CHECK(!l.delta && l.value == -2);
}

MB_TEST(parse_rates)
{
	struct shim_line l;
	CHECK_EQ_INT(parse("c:1|c|@0.1", &l), SHIM_LINE_OK);
	CHECK(l.rate == 0.1);
	CHECK_EQ_INT(parse("t:5|ms|@1", &l), SHIM_LINE_OK);
	CHECK(l.rate == 1);
	CHECK_EQ_INT(parse("c:1|c|@0", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(parse("c:1|c|@1.5", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(parse("c:1|c|@-0.5", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(parse("c:1|c|@", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(parse("c:1|c|@x", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(parse("c:1|c|@0.5|@0.5", &l), SHIM_LINE_BAD);
}

MB_TEST(parse_tags_sorted_bare_and_repeated)
{
	struct shim_line l;
	CHECK_EQ_INT(parse("c:1|c|#zone:eu,app:web,canary", &l), SHIM_LINE_OK);
	CHECK_EQ_INT(l.ntags, 3);
	CHECK(tag_is(&l.tags[0], "app", "web"));
	CHECK(tag_is(&l.tags[1], "canary", ""));
	CHECK(tag_is(&l.tags[2], "zone", "eu"));
	/* the first ':' splits; the last of a repeated key wins */
	CHECK_EQ_INT(parse("c:1|c|@0.5|#url:http://x:80/,k:1,k:2", &l), SHIM_LINE_OK);
	CHECK_EQ_INT(l.ntags, 2);
	CHECK(tag_is(&l.tags[0], "k", "2"));
	CHECK(tag_is(&l.tags[1], "url", "http://x:80/"));
	CHECK(l.rate == 0.5);
	/* tags before the rate, and DogStatsD's container and timestamp fields */
	CHECK_EQ_INT(parse("c:1|c|#a:b|@0.25|c:abc123|T1700000000", &l), SHIM_LINE_OK);
	CHECK(l.rate == 0.25 && l.ntags == 1);
	/* a key prefix sorts first */
	CHECK_EQ_INT(parse("c:1|c|#ab:1,a:2", &l), SHIM_LINE_OK);
	CHECK(tag_is(&l.tags[0], "a", "2"));
	/* UTF-8 values are kept */
	CHECK_EQ_INT(parse("c:1|c|#city:K\xc3\xb6ln", &l), SHIM_LINE_OK);
}

MB_TEST(parse_bad_tags)
{
	struct shim_line l;
	char buf[2048];
	CHECK_EQ_INT(parse("c:1|c|#:v", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(parse("c:1|c|#a:\x01", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(parse("c:1|c|#a:\xff", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(parse("c:1|c|#a:\xc0\x80", &l), SHIM_LINE_BAD);     /* overlong */
	CHECK_EQ_INT(parse("c:1|c|#a:\xed\xa0\x80", &l), SHIM_LINE_BAD); /* surrogate */
	CHECK_EQ_INT(parse("c:1|c|#a|#b", &l), SHIM_LINE_BAD);
	/* 33 distinct keys */
	strcpy(buf, "c:1|c|#");
	for (int i = 0; i < 33; i++)
		sprintf(buf + strlen(buf), "%sk%d", i ? "," : "", i);
	CHECK_EQ_INT(parse(buf, &l), SHIM_LINE_BAD);
	/* a 129-byte key */
	strcpy(buf, "c:1|c|#");
	memset(buf + 7, 'k', 129);
	buf[7 + 129] = 0;
	CHECK_EQ_INT(parse(buf, &l), SHIM_LINE_BAD);
}

MB_TEST(parse_events_and_service_checks)
{
	struct shim_line l;
	CHECK_EQ_INT(parse("_e{5,4}:title|text|#a:b", &l), SHIM_LINE_EVENT);
	CHECK_EQ_INT(parse("_sc|db.up|0|#a:b", &l), SHIM_LINE_SCHECK);
}

MB_TEST(parse_bad_lines)
{
	struct shim_line l;
	const char *bad[] = {
	    ":1|c",   /* empty name */
	    "a|c",    /* no colon */
	    "a:1",    /* no type */
	    "a:|c",   /* no value */
	    "a:1|x",  /* unknown type */
	    "a:1|",   /* empty type */
	    "a:1|cc", /* unknown type */
	    "a:nan|g",   "a:NaN|ms",
	    "a:inf|c",   "a:-Infinity|g",
	    "a:1e400|c", "a:1.2.3|c",
	    "a:0x10|c",  "a:1e|c",
	    "a:.|c",     "a:+|g",
	    "a: 1|c",    "a:|s", /* empty set member */
	    "a b:1|c",           /* space in the name */
	    "a\x01:1|c", "a:1|c|junk",
	    "a:1|c|",    "metricsbus.shim.lines:1|c", /* the shim's own names are reserved */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = parse(bad[i], &l);
		if (r != SHIM_LINE_BAD)
			fprintf(stderr, "  accepted: %s\n", bad[i]);
		CHECK_EQ_INT(r, SHIM_LINE_BAD);
	}
	/* a 256-byte name, a 65-character number */
	char buf[400];
	memset(buf, 'n', 256);
	strcpy(buf + 256, ":1|c");
	CHECK_EQ_INT(parse(buf, &l), SHIM_LINE_BAD);
	buf[1] = ':';
	memset(buf + 2, '1', 65);
	strcpy(buf + 67, "|c");
	CHECK_EQ_INT(parse(buf, &l), SHIM_LINE_BAD);
	memset(buf, 'n', 255);
	strcpy(buf + 255, ":1|c");
	CHECK_EQ_INT(parse(buf, &l), SHIM_LINE_OK);
}

MB_TEST(parse_numbers)
{
	double v;
	CHECK(shim_parse_number("0.1", 3, &v) == 0 && v == 0.1);
	CHECK(shim_parse_number("123456789012", 12, &v) == 0 && v == 123456789012.0);
	CHECK(shim_parse_number("1e3", 3, &v) == 0 && v == 1000);
	CHECK(shim_parse_number("-2.5E-3", 7, &v) == 0 && v == -2.5e-3);
	CHECK(shim_parse_number(".5", 2, &v) == 0 && v == 0.5);
	CHECK(shim_parse_number("5.", 2, &v) == 0 && v == 5);
	CHECK(shim_parse_number("12345678901234567890123", 23, &v) == 0 &&
	      v == 12345678901234567890123.0);
	CHECK(shim_parse_number("1.7976931348623157e308", 22, &v) == 0 && isfinite(v));
	CHECK(shim_parse_number("1e-400", 6, &v) == 0 && v == 0);
	CHECK(shim_parse_number("0.000000000000000000000000001", 29, &v) == 0 && v == 1e-27);
	CHECK(shim_parse_number("1e99999999999", 13, &v) != 0);
}

MB_TEST(parse_trailing_cr_and_empty)
{
	struct shim_line l;
	CHECK_EQ_INT(parse("a:1|c\r", &l), SHIM_LINE_OK);
	CHECK_EQ_INT(parse("", &l), SHIM_LINE_EMPTY);
	CHECK_EQ_INT(parse("\r", &l), SHIM_LINE_EMPTY);
}

MB_TEST(parse_packet_with_bad_lines_between)
{
	struct shim_agg *a;
	CHECK(shim_agg_new(&a) == 0);
	const char pkt[] = "a:1|c\n:1|c\na:2|c\nx:nan|g\n\n_e{1,1}:a|b\na:3|c\n";
	shim_agg_packet(a, pkt, sizeof pkt - 1, 0);
	struct shim_stats *st = shim_agg_stats(a);
	CHECK_EQ_INT(st->packets, 1);
	CHECK_EQ_INT(st->lines, 6);
	CHECK_EQ_INT(st->bad_lines, 2);
	CHECK_EQ_INT(st->events, 1);
	struct shim_flush f = {0};
	CHECK(shim_agg_flush(a, 0, &f) == 0);
	CHECK_EQ_INT(f.n, 1);
	CHECK(f.n == 1 && f.recs[0].value == 6);
	shim_agg_flush_done(a, &f, 0);
	shim_flush_free(&f);
	shim_agg_free(a);
}

MB_TEST(parse_64k_line)
{
	/* A set member of ~64 KiB is one good line; a 64 KiB name is a bad one. */
	size_t n = 65500;
	char *buf = malloc(n + 16);
	memcpy(buf, "big:", 4);
	memset(buf + 4, 'm', n);
	memcpy(buf + 4 + n, "|s", 2);
	struct shim_line l;
	CHECK_EQ_INT(shim_parse_line(buf, n + 6, &l), SHIM_LINE_OK);
	CHECK_EQ_INT(l.memberlen, n);
	memset(buf, 'n', n);
	memcpy(buf + n, ":1|c", 4);
	CHECK_EQ_INT(shim_parse_line(buf, n + 4, &l), SHIM_LINE_BAD);
	free(buf);
}
