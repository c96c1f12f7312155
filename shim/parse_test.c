/* parse_test.c: the statsd line parser: every type, rates, tags, events, each kind of bad
 * line, and packets of many lines with bad ones among them. */
#include "../tests/unit/mbtest.h"
#include "shim.h"

#include <stdlib.h>

static int parse(const char *s, struct shim_line *l)
{
	return shim_parse_line(s, strlen(s), SHIM_STYLE_ALL, l);
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
	/* empty values are skipped, as the Datadog agent does */
	CHECK_EQ_INT(parse("d:1::3|d", &l), SHIM_LINE_OK);
	CHECK(l.nvalues == 2 && l.value == 1);
	CHECK_EQ_INT(parse("d:1:|ms", &l), SHIM_LINE_OK);
	CHECK_EQ_INT(l.nvalues, 1);
	CHECK_EQ_INT(parse("d::|ms", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(l.bad, SHIM_BAD_VALUE);
	/* one value that is not a number loses the line */
	CHECK_EQ_INT(parse("d:1:x|h", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(l.bad, SHIM_BAD_VALUE);
	/* every type but sets packs (DogStatsD 1.1) */
	CHECK_EQ_INT(parse("c:1:2:3|c|@0.5", &l), SHIM_LINE_OK);
	CHECK(l.kind == MB_COUNTER && l.nvalues == 3 && l.rate == 0.5);
	CHECK_EQ_INT(parse("g:1:+2|g", &l), SHIM_LINE_OK);
	CHECK(l.kind == MB_GAUGE && l.nvalues == 2 && !l.delta);
	CHECK_EQ_INT(parse("s:a:b|s", &l), SHIM_LINE_OK);
	CHECK(l.kind == MB_SET && l.memberlen == 3 && l.nvalues == 1);
}

static double agg_value(struct shim_agg *a, const char *pkt, const char *name)
{
	struct shim_flush f = {0};
	double v = -1e300;
	shim_agg_packet(a, pkt, strlen(pkt), 0);
	if (shim_agg_flush(a, 0, &f) != 0)
		return v;
	for (uint32_t i = 0; i < f.n; i++)
		if (strcmp(f.recs[i].name, name) == 0)
			v = f.recs[i].kind == MB_COUNTER || f.recs[i].kind == MB_GAUGE ? f.recs[i].value
			                                                               : f.recs[i].count;
	shim_agg_flush_done(a, &f, 0);
	shim_flush_free(&f);
	return v;
}

MB_TEST(agg_packed_values_each_counted)
{
	struct shim_agg *a;
	CHECK(shim_agg_new(&a) == 0);
	CHECK(agg_value(a, "c:1:2:3|c|@0.5", "c") == 12);
	CHECK(agg_value(a, "g:5:+2:-1|g", "g") == 6);
	CHECK(agg_value(a, "g:+10:4|g", "g") == 4);
	CHECK(agg_value(a, "t:1:2:3:4|ms|@0.5", "t") == 8);
	CHECK(agg_value(a, "d:1::2|d", "d") == 2);
	shim_agg_free(a);
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
	/* given twice, the last wins (Datadog agent) */
	CHECK_EQ_INT(parse("c:1|c|@0.5|@0.25", &l), SHIM_LINE_OK);
	CHECK(l.rate == 0.25);
	CHECK_EQ_INT(parse("c:1|c|@2", &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(l.bad, SHIM_BAD_RATE);
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
	CHECK_EQ_INT(l.bad, SHIM_BAD_TAGS);
	/* two tag fields: both kept */
	CHECK_EQ_INT(parse("c:1|c|#a|#b", &l), SHIM_LINE_OK);
	CHECK_EQ_INT(l.ntags, 2);
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
	    "a\x01:1|c", "metricsbus.shim.lines:1|c", /* the shim's own names are reserved */
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
	CHECK_EQ_INT(shim_parse_line(buf, n + 6, SHIM_STYLE_ALL, &l), SHIM_LINE_OK);
	CHECK_EQ_INT(l.memberlen, n);
	memset(buf, 'n', n);
	memcpy(buf + n, ":1|c", 4);
	CHECK_EQ_INT(shim_parse_line(buf, n + 4, SHIM_STYLE_ALL, &l), SHIM_LINE_BAD);
	free(buf);
}

MB_TEST(parse_bad_reasons)
{
	struct shim_line l;
	static const struct {
		const char *line;
		int bad;
	} cases[] = {
	    {"a|c", SHIM_BAD_FORMAT},   {"a:1", SHIM_BAD_FORMAT},       {":1|c", SHIM_BAD_NAME},
	    {"a b:1|c", SHIM_BAD_NAME}, {"a:1|x", SHIM_BAD_TYPE},       {"a:x|c", SHIM_BAD_VALUE},
	    {"a:|s", SHIM_BAD_VALUE},   {"a:1|c|@0", SHIM_BAD_RATE},    {"a:1|c|#:v", SHIM_BAD_TAGS},
	    {",k=v:1|c", SHIM_BAD_NAME}, {"[k=v]:1|c", SHIM_BAD_NAME},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK_EQ_INT(parse(cases[i].line, &l), SHIM_LINE_BAD);
		if (l.bad != cases[i].bad)
			fprintf(stderr, "  %s: reason %s\n", cases[i].line, shim_bad_names[l.bad]);
		CHECK_EQ_INT(l.bad, cases[i].bad);
	}
}

/* DogStatsD v1.2-v1.6 fields: parsed, never a tag, never lose the line. */
MB_TEST(parse_dogstatsd_fields)
{
	struct shim_line l;
	CHECK_EQ_INT(parse("c:1|c|#a:b|c:ci-0123456789abcdef,in-4242|e:it-false,cn-web,pu-x|"
	                   "card:high|T1700000000",
	                   &l),
	             SHIM_LINE_OK);
	CHECK(l.ntags == 1 && tag_is(&l.tags[0], "a", "b"));
	CHECK_EQ_INT(l.unknown, 0);
	CHECK(l.timestamp == 1700000000);
	/* v1.2's bare container id */
	CHECK_EQ_INT(parse("c:1|c|c:0123456789abcdef", &l), SHIM_LINE_OK);
	CHECK_EQ_INT(l.ntags + l.unknown, 0);
	/* unknown, empty and malformed fields are skipped and counted; the line is kept */
	CHECK_EQ_INT(parse("c:2|c|x:future|@0.5||#k:v|T-5|Tabc|T", &l), SHIM_LINE_OK);
	CHECK(l.value == 2 && l.rate == 0.5 && l.ntags == 1);
	CHECK_EQ_INT(l.unknown, 5);
	CHECK(l.timestamp == 0);
	CHECK_EQ_INT(parse("a:1|c|", &l), SHIM_LINE_OK);
	CHECK_EQ_INT(l.unknown, 1);
	CHECK_EQ_INT(parse("a:1|c|junk", &l), SHIM_LINE_OK);
	CHECK_EQ_INT(l.unknown, 1);
	/* "card:" is not read as a container field, "c:" alone is an empty one */
	CHECK_EQ_INT(parse("a:1|g|card:low|c:", &l), SHIM_LINE_OK);
	CHECK_EQ_INT(l.unknown, 0);
}

static int parse_styles(const char *s, unsigned styles, struct shim_line *l)
{
	return shim_parse_line(s, strlen(s), styles, l);
}

/* statsd_exporter's name tag styles, in its order: SignalFX, then the first '#' or ','. */
MB_TEST(parse_name_tag_styles)
{
	struct shim_line l;
	CHECK_EQ_INT(parse("influx.c4,env=prod,zone=a:1|c", &l), SHIM_LINE_OK);
	CHECK(name_is(&l, "influx.c4") && l.ntags == 2);
	CHECK(tag_is(&l.tags[0], "env", "prod") && tag_is(&l.tags[1], "zone", "a"));
	CHECK_EQ_INT(parse("lib.c#env=prod,zone=a:1|c", &l), SHIM_LINE_OK);
	CHECK(name_is(&l, "lib.c") && l.ntags == 2);
	CHECK_EQ_INT(parse("sfx.c[env=prod,zone=a]:1|c", &l), SHIM_LINE_OK);
	CHECK(name_is(&l, "sfx.c") && l.ntags == 2);
	/* SignalFX tags in the middle: the name is what is around them */
	CHECK_EQ_INT(parse("sfx[env=prod].requests:1|c", &l), SHIM_LINE_OK);
	CHECK(name_is(&l, "sfx.requests") && l.ntags == 1 && tag_is(&l.tags[0], "env", "prod"));
	/* the first of '#' and ',' decides; the rest is the tag list */
	CHECK_EQ_INT(parse("n#a=1,b=2:1|c", &l), SHIM_LINE_OK);
	CHECK(name_is(&l, "n") && l.ntags == 2);
	CHECK_EQ_INT(parse("n,a=1#x,b=2:1|c", &l), SHIM_LINE_OK);
	CHECK(name_is(&l, "n") && l.ntags == 2 && tag_is(&l.tags[0], "a", "1#x"));
	/* values keep '=' after the first, UTF-8 */
	CHECK_EQ_INT(parse("n,q=a=b,city=K\xc3\xb6ln:1|c", &l), SHIM_LINE_OK);
	CHECK(l.ntags == 2 && tag_is(&l.tags[1], "q", "a=b"));
	/* malformed name tags are skipped and counted, the line kept (as statsd_exporter) */
	CHECK_EQ_INT(parse("n,a=1,bare,=v,k=,,b=2,:1|c", &l), SHIM_LINE_OK);
	CHECK(name_is(&l, "n") && l.ntags == 2);
	CHECK_EQ_INT(l.tag_errors, 4);
	/* one bracket: the name is kept as it is, a tag error counted */
	CHECK_EQ_INT(parse("half[k=v:1|c", &l), SHIM_LINE_OK);
	CHECK(name_is(&l, "half[k=v") && l.tag_errors == 1 && l.ntags == 0);
	/* mixed with DogStatsD tags: every tag kept (statsd_exporter drops the line); the
	 * DogStatsD value wins for a key given both ways */
	CHECK_EQ_INT(parse("mix,a=1,b=2:1|c|#b:3,c:4", &l), SHIM_LINE_OK);
	CHECK(name_is(&l, "mix") && l.ntags == 3);
	CHECK(tag_is(&l.tags[0], "a", "1") && tag_is(&l.tags[1], "b", "3") &&
	      tag_is(&l.tags[2], "c", "4"));
	/* too long a tag makes the line bad, as a DogStatsD one */
	char buf[400];
	strcpy(buf, "n,k=");
	memset(buf + 4, 'v', 129);
	strcpy(buf + 4 + 129, ":1|c");
	CHECK_EQ_INT(parse(buf, &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(l.bad, SHIM_BAD_TAGS);
	/* a long SignalFX name assembled in namebuf */
	memset(buf, 'a', 200);
	strcpy(buf + 200, "[k=v]");
	memset(buf + 205, 'b', 55);
	strcpy(buf + 260, ":1|c");
	CHECK_EQ_INT(parse(buf, &l), SHIM_LINE_OK);
	CHECK_EQ_INT(l.namelen, 255);
	buf[259] = 'b';
	strcpy(buf + 260, "b:1|c");
	CHECK_EQ_INT(parse(buf, &l), SHIM_LINE_BAD);
	CHECK_EQ_INT(l.bad, SHIM_BAD_NAME);
}

MB_TEST(parse_tag_styles_turned_off)
{
	struct shim_line l;
	unsigned st;
	CHECK(shim_tag_styles_parse("dogstatsd,signalfx", &st) == 0);
	CHECK_EQ_INT(st, SHIM_STYLE_DOGSTATSD | SHIM_STYLE_SIGNALFX);
	CHECK(shim_tag_styles_parse("none", &st) == 0 && st == 0);
	CHECK(shim_tag_styles_parse("all", &st) == 0 && st == SHIM_STYLE_ALL);
	CHECK(shim_tag_styles_parse("influx", &st) != 0);
	CHECK(shim_tag_styles_parse("", &st) != 0);
	CHECK(shim_tag_styles_parse("librato,", &st) != 0);
	/* names with ',' '#' '[' stay whole when their style is off */
	CHECK_EQ_INT(parse_styles("a,b=1#c=2[d=3]:1|c", SHIM_STYLE_DOGSTATSD, &l), SHIM_LINE_OK);
	CHECK(name_is(&l, "a,b=1#c=2[d=3]") && l.ntags == 0 && l.tag_errors == 0);
	CHECK_EQ_INT(parse_styles("a,b=1#c=2:1|c", SHIM_STYLE_LIBRATO, &l), SHIM_LINE_OK);
	CHECK(name_is(&l, "a,b=1") && l.ntags == 1 && tag_is(&l.tags[0], "c", "2"));
	/* DogStatsD off: "|#" is a field the shim does not read, skipped and counted */
	CHECK_EQ_INT(parse_styles("a:1|c|#k:v", SHIM_STYLE_INFLUXDB, &l), SHIM_LINE_OK);
	CHECK(l.ntags == 0 && l.unknown == 1);
}

MB_TEST(agg_counts_by_reason)
{
	struct shim_agg *a;
	CHECK(shim_agg_new(&a) == 0);
	const char pkt[] = "a:1|c|x:y|z\nb:x|c\nc:1|q\nn,k:1|c\nc:1e308|c\nc:1e308|c\n";
	shim_agg_packet(a, pkt, sizeof pkt - 1, 0);
	struct shim_stats *st = shim_agg_stats(a);
	CHECK_EQ_INT(st->unknown_fields, 2);
	CHECK_EQ_INT(st->tag_errors, 1);
	CHECK_EQ_INT(st->parse_errors[SHIM_BAD_VALUE], 1);
	CHECK_EQ_INT(st->parse_errors[SHIM_BAD_TYPE], 1);
	CHECK_EQ_INT(st->parse_errors[SHIM_BAD_OVERFLOW], 1);
	CHECK_EQ_INT(st->bad_lines, 3);
	shim_agg_set_styles(a, 0);
	const char pkt2[] = "n,k:1|c\n";
	shim_agg_packet(a, pkt2, sizeof pkt2 - 1, 0);
	CHECK_EQ_INT(st->tag_errors, 1);
	shim_agg_free(a);
}
