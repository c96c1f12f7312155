/* top.c: `metricsbus top`, a live terminal view of the node and its containers with their
 * busiest metrics (counter rates first), redrawn every second until q or Ctrl-C. */
#include "api.h"

#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t top_stop;

static void on_sig(int sig)
{
	(void)sig;
	top_stop = 1;
}

static void query_init(struct mb_query *q, int op, const char *src)
{
	memset(q, 0, sizeof *q);
	q->version = MB_SCHEMA_VERSION;
	q->op = op;
	q->source = src;
}

static const struct mb_point *find(const struct mb_reply *r, const char *name)
{
	for (uint32_t i = 0; i < r->npoints; i++)
		if (strcmp(r->points[i].name, name) == 0 && r->points[i].ntags == 0)
			return &r->points[i];
	return NULL;
}

static void human(double v, char *out, size_t n)
{
	const char *u[] = {"", "K", "M", "G", "T"};
	int k = 0;
	while (fabs(v) >= 1000 && k < 4) {
		v /= 1000;
		k++;
	}
	if (k == 0 && v == floor(v))
		snprintf(out, n, "%.0f", v);
	else
		snprintf(out, n, "%.3g%s", v, u[k]);
}

struct busy {
	const struct mb_point *p;
	int rank;     /* 0: the app's counter rates, 1: its other metrics, 2: the shim's own */
	double score; /* within a rank, higher first */
	uint32_t i;   /* then the order agentd gave */
};

static int busy_cmp(const void *a, const void *b)
{
	const struct busy *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static bool ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Busiest: counter rates by value, then everything else that is not a timer's derived stat. */
static void busiest(const struct mb_reply *r, char *out, size_t n, int width)
{
	static const char *const derived[] = {".count", ".sum", ".min", ".max", ".stddev",
	                                      ".p50", ".p90", ".p95", ".p99"};
	struct busy *bs = calloc(r->npoints ? r->npoints : 1, sizeof *bs);
	uint32_t nb = 0;
	size_t o = 0;
	out[0] = 0;
	if (!bs)
		return;
	for (uint32_t i = 0; i < r->npoints; i++) {
		const struct mb_point *p = &r->points[i];
		bool skip = false;
		for (size_t k = 0; k < sizeof derived / sizeof derived[0]; k++)
			skip |= ends_with(p->name, derived[k]);
		if (skip)
			continue;
		bool rate = ends_with(p->name, ".rate");
		bs[nb].p = p;
		bs[nb].rank = strncmp(p->name, "metricsbus.", 11) == 0 ? 2 : rate ? 0 : 1;
		bs[nb].score = rate ? fabs(p->value) : 0;
		bs[nb].i = i;
		nb++;
	}
	qsort(bs, nb, sizeof *bs, busy_cmp);
	for (uint32_t i = 0; i < nb && o + 1 < n && (int)o < width; i++) {
		char v[32];
		human(bs[i].p->value, v, sizeof v);
		int w = snprintf(out + o, n - o, "%s%s=%s%s", i ? "  " : "", bs[i].p->name, v,
		                 ends_with(bs[i].p->name, ".rate") ? "/s" : "");
		if (w < 0 || (size_t)w >= n - o)
			break;
		o += (size_t)w;
	}
	if ((int)o > width && width > 3) {
		out[width - 3] = 0;
		strcat(out, "...");
	}
	free(bs);
}

int api_top_frame(struct mb_client *c, int timeout_ms, int width, int rows, struct mb_buf *out,
                  char *err, size_t errlen)
{
	struct mb_query q;
	struct mb_reply node;
	char line[1024], ts[40], a[32], b[32];
	int rv;
	query_init(&q, MB_OP_NODE, NULL);
	if ((rv = mb_client_query(c, &q, timeout_ms, &node, err, errlen)) != 0)
		return rv;
	mb_format_rfc3339(mb_now_ms(), ts, sizeof ts);
	const struct mb_point *cpu = find(&node, "cpu.total"), *l1 = find(&node, "load.1min"),
			     *mt = find(&node, "memory.total"), *mf = find(&node, "memory.free");
	human(mt && mf ? mt->value - mf->value : 0, a, sizeof a);
	human(mt ? mt->value : 0, b, sizeof b);
	snprintf(line, sizeof line,
	         "metricsbus top  %s  cpu %.1f%%  load %.2f  mem %sB/%sB  (q quits)\n\n", ts,
	         cpu ? cpu->value : 0.0, l1 ? l1->value : 0.0, a, b);
	mb_reply_free(&node);
	api_put(out, line);

	/* Containers ranked by live series (then refused, then lines/s): who blew up the
	 * node's cardinality is the first row. */
	struct api_budget *bs = NULL;
	uint32_t nb = 0;
	if ((rv = api_budget_collect(c, timeout_ms, mb_now_ms(), &bs, &nb, err, errlen)) != 0)
		return rv;
	api_budget_sort(bs, nb, API_BUDGET_BY_LIVE);
	struct api_table t;
	static const char *const h[] = {"CONTAINER", "SERIES", "REFUSED", "LINES/S", "BAD/S",
	                                "BUSIEST METRICS"};
	if ((rv = api_table_init(&t, 6, h)) != 0) {
		free(bs);
		return rv;
	}
	for (int k = 1; k < 5; k++)
		t.right[k] = true;
	for (uint32_t i = 0; i < nb && (int)i < rows - 4; i++) {
		struct mb_reply app;
		char ns[16], lines[32], bad[32], refused[32], busy[1024];
		query_init(&q, MB_OP_APP, bs[i].source);
		if (mb_client_query(c, &q, timeout_ms, &app, err, errlen) != 0)
			continue;
		snprintf(ns, sizeof ns, "%u", bs[i].live);
		human(bs[i].lines_ps, lines, sizeof lines);
		human(bs[i].bad_ps, bad, sizeof bad);
		human(bs[i].refused, refused, sizeof refused);
		int w = width - (int)strlen(bs[i].source) - 40;
		busiest(&app, busy, sizeof busy, w > 10 ? w : 10);
		const char *row[] = {bs[i].source, ns, refused, lines, bad, busy};
		api_table_row(&t, row);
		mb_reply_free(&app);
	}
	if (nb == 0) {
		const char *row[] = {"(no live containers)", "", "", "", "", ""};
		api_table_row(&t, row);
	}
	rv = api_table_render(&t, out);
	api_table_free(&t);
	free(bs);
	return rv;
}

int api_top_run(struct mb_client *c, int timeout_ms, int interval_ms, int iterations)
{
	struct termios saved, raw;
	bool tty = isatty(0) && tcgetattr(0, &saved) == 0, restore = tty;
	struct sigaction sa, old_int, old_term;
	char err[512];
	int rv = 0;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sig;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (tty) {
		raw = saved;
		raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO); /* keys at once; ISIG keeps Ctrl-C */
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		tcsetattr(0, TCSANOW, &raw);
	}
	if (isatty(1))
		fputs("\033[?25l", stdout); /* hide the cursor while redrawing */
	for (int it = 0; !top_stop && (iterations <= 0 || it < iterations); it++) {
		struct winsize ws;
		int width = 100, rows = 40;
		if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
			width = ws.ws_col;
			rows = ws.ws_row;
		}
		struct mb_buf frame = {0};
		err[0] = 0;
		int frv = api_top_frame(c, timeout_ms, width, rows, &frame, err, sizeof err);
		if (frv != 0) {
			if (it == 0 && (frv == MB_EDOWN || frv == MB_ETIMEDOUT)) {
				rv = frv;
				mb_buf_free(&frame);
				break;
			}
			mb_buf_reset(&frame);
			api_put(&frame, "metricsbus top: agentd is not answering; retrying (q quits)\n");
		}
		if (isatty(1))
			fputs("\033[H\033[2J", stdout);
		fwrite(frame.data, 1, frame.len, stdout);
		fflush(stdout);
		mb_buf_free(&frame);
		if (iterations > 0 && it + 1 >= iterations)
			break;
		/* wait for the next refresh, or a key */
		int64_t until = mb_mono_ms() + interval_ms;
		while (!top_stop) {
			int64_t left = until - mb_mono_ms();
			if (left <= 0)
				break;
			struct pollfd pfd = {.fd = 0, .events = POLLIN};
			int pr = poll(&pfd, tty ? 1 : 0, (int)left);
			if (pr > 0) {
				char ch;
				ssize_t n = read(0, &ch, 1);
				if (n == 1 && (ch == 'q' || ch == 'Q'))
					top_stop = 1;
				else if (n == 0)
					tty = false; /* stdin closed: just refresh */
			}
		}
	}
	if (isatty(1))
		fputs("\033[?25h", stdout);
	fflush(stdout);
	if (restore)
		tcsetattr(0, TCSANOW, &saved);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return rv;
}
