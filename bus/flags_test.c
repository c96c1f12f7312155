/* flags_test.c: mb_flags_parse and mb_usage_error: both flag spellings, the environment rule,
 * lists, positionals, and the exits (--help/--version 0, errors 2) checked in forked children. */
#include "mb.h"
#include "../tests/unit/mbtest.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

struct opts {
	const char *agent;
	int64_t flush_ms, n;
	uint64_t backlog;
	bool verbose;
	struct mb_strlist dims;
};

static struct mb_flag flag_table[6];
static struct mb_prog prog;

static struct opts *setup(bool stop_at_positional)
{
	static struct opts o;
	memset(&o, 0, sizeof o);
	o.agent = "ipc:///default.sock";
	o.flush_ms = 10000;
	o.n = 7;
	o.backlog = 16u << 20;
	struct mb_flag f[] = {
		{"agent", MB_FLAG_STR, &o.agent, "URL", "agentd's ingest socket", false},
		{"flush-interval", MB_FLAG_DURATION, &o.flush_ms, "DURATION", "flush period", false},
		{"max-series", MB_FLAG_INT, &o.n, "N", "series cap", false},
		{"backlog", MB_FLAG_SIZE, &o.backlog, "SIZE", "held bytes", false},
		{"verbose", MB_FLAG_BOOL, &o.verbose, NULL, "say more", false},
		{"dimension", MB_FLAG_LIST, &o.dims, "KEY=VALUE", "a dimension", false},
	};
	memcpy(flag_table, f, sizeof f);
	prog = (struct mb_prog){"mbprog", "prog", "[FLAGS] [--] COMMAND [ARG...]",
	                        "A program for testing flags.", flag_table, 6, stop_at_positional,
	                        NULL};
	static const char *const envs[] = {"METRICSBUS_AGENT", "METRICSBUS_FLUSH_INTERVAL",
	                                   "METRICSBUS_MAX_SERIES", "METRICSBUS_BACKLOG",
	                                   "METRICSBUS_VERBOSE", "METRICSBUS_DIMENSION",
	                                   "METRICSBUS_LOG_LEVEL"};
	for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
		unsetenv(envs[i]);
	return &o;
}

/* argv is a NULL-terminated list of string literals; copied because parsing reorders it. */
static void parse(char **args, int *npos, char **av)
{
	int ac = 0;
	static char name[] = "mbprog";
	av[ac++] = name;
	for (; args[ac - 1]; ac++)
		av[ac] = args[ac - 1];
	av[ac] = NULL;
	mb_flags_parse(&prog, ac, av, npos);
}

struct child {
	int status; /* exit status, or -1 */
	char out[8192], err[8192];
};

static void slurp(const char *path, char *buf, size_t n)
{
	buf[0] = 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	ssize_t r = read(fd, buf, n - 1);
	buf[r > 0 ? r : 0] = 0;
	close(fd);
}

/* Runs the parse in a forked child (it may exit) and collects stdout, stderr and status;
 * 100 means mb_flags_parse returned. */
static void run_child(char **args, struct child *c)
{
	char op[300], ep[300];
	snprintf(op, sizeof op, "%s/out", mbt_tmpdir());
	snprintf(ep, sizeof ep, "%s/err", mbt_tmpdir());
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		int o = open(op, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(o, 1);
		dup2(e, 2);
		char *av[256];
		int np;
		parse(args, &np, av);
		fflush(stdout);
		_exit(100);
	}
	int st;
	c->status = -1;
	if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st))
		c->status = WEXITSTATUS(st);
	slurp(op, c->out, sizeof c->out);
	slurp(ep, c->err, sizeof c->err);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

MB_TEST(flags_both_spellings_and_types)
{
	struct opts *o = setup(false);
	char *av[64];
	int np = -1;
	char *a[] = {"--agent", "ipc:///x.sock", "--flush-interval=500ms", "--max-series",
	                   "12", "--backlog=64KiB", "--verbose", "--dimension", "a=1",
	                   "--dimension=b=2", NULL};
	parse(a, &np, av);
	CHECK_EQ_INT(np, 0);
	CHECK_STR(o->agent, "ipc:///x.sock");
	CHECK_EQ_INT(o->flush_ms, 500);
	CHECK_EQ_INT(o->n, 12);
	CHECK_EQ_INT(o->backlog, 65536);
	CHECK(o->verbose);
	CHECK_EQ_INT(o->dims.n, 2);
	CHECK_STR(o->dims.v[0], "a=1");
	CHECK_STR(o->dims.v[1], "b=2");
	CHECK(flag_table[0].set && flag_table[1].set && flag_table[4].set && flag_table[5].set);
}

MB_TEST(flags_defaults_kept_when_absent)
{
	struct opts *o = setup(false);
	char *av[64];
	int np;
	char *a[] = {NULL};
	parse(a, &np, av);
	CHECK_EQ_INT(np, 0);
	CHECK_STR(o->agent, "ipc:///default.sock");
	CHECK_EQ_INT(o->flush_ms, 10000);
	CHECK(!o->verbose);
	CHECK(!flag_table[0].set);
	CHECK(!flag_table[1].set);
}

MB_TEST(flags_positionals_interleave_and_double_dash)
{
	struct opts *o = setup(false);
	char *av[64];
	int np;
	char *a[] = {"range", "node", "--flush-interval", "1s", "cpu.total", "--",
	                   "--verbose", "-x", NULL};
	parse(a, &np, av);
	CHECK_EQ_INT(np, 5);
	CHECK_STR(av[0], "range");
	CHECK_STR(av[1], "node");
	CHECK_STR(av[2], "cpu.total");
	CHECK_STR(av[3], "--verbose");
	CHECK_STR(av[4], "-x");
	CHECK(!o->verbose);
	CHECK_EQ_INT(o->flush_ms, 1000);
	/* A value that starts with '-' is taken as the flag's value ("--from -1h"). */
	o = setup(false);
	char *b[] = {"--agent", "-1h", "x", NULL};
	parse(b, &np, av);
	CHECK_STR(o->agent, "-1h");
	CHECK_EQ_INT(np, 1);
}

MB_TEST(flags_stop_at_positional_for_a_command)
{
	struct opts *o = setup(true);
	char *av[64];
	int np;
	char *a[] = {"--verbose", "sh", "-c", "--agent", "x", NULL};
	parse(a, &np, av);
	CHECK(o->verbose);
	CHECK_EQ_INT(np, 4);
	CHECK_STR(av[0], "sh");
	CHECK_STR(av[1], "-c");
	CHECK_STR(av[2], "--agent");
	CHECK_STR(av[3], "x");
	CHECK_STR(o->agent, "ipc:///default.sock");
	o = setup(true);
	char *b[] = {"--", "--help", NULL};
	parse(b, &np, av);
	CHECK_EQ_INT(np, 1);
	CHECK_STR(av[0], "--help");
}

MB_TEST(flags_environment_and_flag_wins)
{
	struct opts *o = setup(false);
	char *av[64];
	int np;
	setenv("METRICSBUS_FLUSH_INTERVAL", "2s", 1);
	setenv("METRICSBUS_AGENT", "ipc:///env.sock", 1);
	setenv("METRICSBUS_VERBOSE", "yes", 1);
	setenv("METRICSBUS_DIMENSION", "a=1,b=2,,c=3", 1);
	setenv("METRICSBUS_LOG_LEVEL", "debug", 1);
	char *a[] = {"--agent", "ipc:///flag.sock", NULL};
	parse(a, &np, av);
	CHECK_STR(o->agent, "ipc:///flag.sock"); /* the flag wins */
	CHECK_EQ_INT(o->flush_ms, 2000);
	CHECK(o->verbose);
	CHECK(flag_table[1].set);
	CHECK_EQ_INT(o->dims.n, 3);
	CHECK_STR(o->dims.v[2], "c=3");
	CHECK(mb_log_enabled(MB_LOG_DEBUG));
	/* --log-level beats METRICSBUS_LOG_LEVEL; a command-line list replaces the env's. */
	o = setup(false);
	setenv("METRICSBUS_LOG_LEVEL", "debug", 1);
	setenv("METRICSBUS_DIMENSION", "a=1,b=2", 1);
	setenv("METRICSBUS_VERBOSE", "off", 1);
	char *b[] = {"--log-level", "warn", "--dimension", "z=9", NULL};
	parse(b, &np, av);
	CHECK(!mb_log_enabled(MB_LOG_INFO));
	CHECK(mb_log_enabled(MB_LOG_WARN));
	CHECK_EQ_INT(o->dims.n, 1);
	CHECK_STR(o->dims.v[0], "z=9");
	CHECK(!o->verbose);
	setup(false);
	mb_log_init("metricsbus", MB_LOG_INFO);
}

MB_TEST(flags_help_exits_0_with_flags_envs_and_defaults)
{
	setup(false);
	struct child c;
	char *a[] = {"--agent", "x", "--help", "--bogus", NULL};
	run_child(a, &c);
	CHECK_EQ_INT(c.status, 0);
	CHECK(strstr(c.out, "usage: mbprog [FLAGS] [--] COMMAND [ARG...]") != NULL);
	CHECK(strstr(c.out, "A program for testing flags.") != NULL);
	CHECK(strstr(c.out, "--flush-interval DURATION") != NULL);
	CHECK(strstr(c.out, "METRICSBUS_FLUSH_INTERVAL") != NULL);
	CHECK(strstr(c.out, "default 10s") != NULL);
	CHECK(strstr(c.out, "default 16MiB") != NULL);
	CHECK(strstr(c.out, "default ipc:///default.sock") != NULL); /* not the "x" before it */
	CHECK(strstr(c.out, "--log-level LEVEL") != NULL);
	CHECK(strstr(c.out, "METRICSBUS_LOG_LEVEL") != NULL);
	CHECK(strstr(c.out, "--dimension KEY=VALUE...") != NULL);
	CHECK(strstr(c.out, "--version") != NULL);
	CHECK(c.err[0] == 0);
	char *b[] = {"-h", NULL};
	run_child(b, &c);
	CHECK_EQ_INT(c.status, 0);
}

MB_TEST(flags_version_exits_0)
{
	setup(false);
	struct child c;
	char *a[] = {"--version", NULL};
	run_child(a, &c);
	CHECK_EQ_INT(c.status, 0);
	/* the program's version, then the nng it runs on */
	CHECK(strncmp(c.out, "mbprog " MB_VERSION "\nnng ", strlen("mbprog " MB_VERSION "\nnng ")) == 0);
	CHECK(strstr(c.out, mb_nng_describe()) != NULL);
}

MB_TEST(flags_errors_exit_2_with_one_line)
{
	setup(false);
	char *cases[][4] = {
		{"--bogus", NULL},
		{"-x", NULL},
		{"--flush-interval", "10", NULL},   /* bare number */
		{"--flush-interval=-1s", NULL},
		{"--max-series", "-3", NULL},
		{"--max-series=99999999999999999999", NULL},
		{"--backlog", "lots", NULL},
		{"--agent", NULL},                  /* missing value */
		{"--verbose=maybe", NULL},
		{"--log-level", "loud", NULL},
		{"--agent=x", "--backlog", "1\n2", NULL}, /* still one line */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct child c;
		run_child(cases[i], &c);
		if (c.status != 2 || strncmp(c.err, "mbprog: error: ", 15) != 0 ||
		    count_lines(c.err) != 1) {
			fprintf(stderr, "  case %zu (%s): status %d err \"%s\"\n", i, cases[i][0],
			        c.status, c.err);
			CHECK(0);
		}
		CHECK(c.out[0] == 0);
	}
}

MB_TEST(flags_bad_environment_value_exits_2_naming_the_variable)
{
	setup(false);
	struct child c;
	char *a[] = {NULL};
	setenv("METRICSBUS_FLUSH_INTERVAL", "soon", 1);
	run_child(a, &c);
	CHECK_EQ_INT(c.status, 2);
	CHECK(strstr(c.err, "METRICSBUS_FLUSH_INTERVAL") != NULL);
	/* The flag wins, so a bad env value under a good flag is never read. */
	char *b[] = {"--flush-interval", "1s", NULL};
	run_child(b, &c);
	CHECK_EQ_INT(c.status, 100);
	unsetenv("METRICSBUS_FLUSH_INTERVAL");
	setenv("METRICSBUS_LOG_LEVEL", "chatty", 1);
	run_child(a, &c);
	CHECK_EQ_INT(c.status, 2);
	CHECK(strstr(c.err, "METRICSBUS_LOG_LEVEL") != NULL);
	unsetenv("METRICSBUS_LOG_LEVEL");
}

MB_TEST(flags_list_over_64_values_exits_2)
{
	setup(false);
	char *a[2 * 66 + 1];
	for (int i = 0; i < 65; i++) {
		a[2 * i] = "--dimension";
		a[2 * i + 1] = "k=v";
	}
	a[130] = NULL;
	struct child c;
	run_child(a, &c);
	CHECK_EQ_INT(c.status, 2);
	a[128] = NULL; /* 64 is fine */
	run_child(a, &c);
	CHECK_EQ_INT(c.status, 100);
}

static void usage_error_child(void)
{
	mb_usage_error(&prog, "%s needs an ID", "container");
}

MB_TEST(usage_error_exits_2)
{
	setup(false);
	char ep[300], err[512];
	snprintf(ep, sizeof ep, "%s/uerr", mbt_tmpdir());
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		int e = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(e, 2);
		usage_error_child();
	}
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	slurp(ep, err, sizeof err);
	CHECK(strncmp(err, "mbprog: error: container needs an ID", 36) == 0);
	CHECK_EQ_INT(count_lines(err), 1);
}
