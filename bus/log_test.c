/* log_test.c: the "LEVEL component: message" format, level filtering, mb_log_warn's errno
 * suffix, one line per call even from many threads, and mb_fatal's exit. */
#include "mb.h"
#include "../tests/unit/mbtest.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char logbuf[1 << 20];

/* Runs fn with stderr sent to a file and returns what was written. */
static const char *capture(void (*fn)(void))
{
	char path[300];
	snprintf(path, sizeof path, "%s/log", mbt_tmpdir());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int saved = dup(2);
	dup2(fd, 2);
	fn();
	dup2(saved, 2);
	close(saved);
	ssize_t n = pread(fd, logbuf, sizeof logbuf - 1, 0);
	logbuf[n > 0 ? n : 0] = 0;
	close(fd);
	return logbuf;
}

static void emit_levels(void)
{
	mb_log_init("comp", MB_LOG_INFO);
	mb_log_debug("hidden %d", 1);
	mb_log_info("shown %d", 2);
	errno = ENOENT;
	mb_log_warn("open %s", "x");
	mb_log_warnx("plain");
	mb_log_error("bad\nline");
	mb_log_set_level(MB_LOG_ERROR);
	mb_log_info("hidden too");
	mb_log_error("last");
	mb_log_init("metricsbus", MB_LOG_INFO);
}

MB_TEST(log_format_levels_and_errno)
{
	const char *out = capture(emit_levels);
	CHECK_STR(out, "INFO comp: shown 2\n"
	               "WARN comp: open x: No such file or directory\n"
	               "WARN comp: plain\n"
	               "ERROR comp: bad?line\n"
	               "ERROR comp: last\n");
}

MB_TEST(log_parse_level)
{
	enum mb_log_level l;
	CHECK_EQ_INT(mb_log_parse_level("debug", &l), 0);
	CHECK_EQ_INT(l, MB_LOG_DEBUG);
	CHECK_EQ_INT(mb_log_parse_level("error", &l), 0);
	CHECK_EQ_INT(l, MB_LOG_ERROR);
	CHECK_EQ_INT(mb_log_parse_level("INFO", &l), MB_EINVAL);
	CHECK_EQ_INT(mb_log_parse_level("", &l), MB_EINVAL);
	CHECK_EQ_INT(mb_log_parse_level(NULL, &l), MB_EINVAL);
	mb_log_set_level(MB_LOG_WARN);
	CHECK(!mb_log_enabled(MB_LOG_INFO));
	CHECK(mb_log_enabled(MB_LOG_ERROR));
	mb_log_set_level(MB_LOG_INFO);
}

static void emit_long(void)
{
	static char big[10000];
	memset(big, 'x', sizeof big - 1);
	mb_log_init("comp", MB_LOG_INFO);
	mb_log_info("%s", big);
	mb_log_init("metricsbus", MB_LOG_INFO);
}

MB_TEST(log_long_message_is_one_truncated_line)
{
	const char *out = capture(emit_long);
	size_t n = strlen(out);
	CHECK(n > 1000 && n <= 2048);
	CHECK(out[n - 1] == '\n');
	CHECK(strchr(out, '\n') == out + n - 1);
}

static void *log_thread(void *arg)
{
	long id = (long)arg;
	for (int i = 0; i < 500; i++)
		mb_log_info("thread %ld line %d padding-padding-padding-padding-padding", id, i);
	return NULL;
}

static void emit_threads(void)
{
	pthread_t th[8];
	mb_log_init("comp", MB_LOG_INFO);
	for (long i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, log_thread, (void *)i);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	mb_log_init("metricsbus", MB_LOG_INFO);
}

MB_TEST(log_threads_never_interleave)
{
	const char *out = capture(emit_threads);
	int lines = 0, bad = 0;
	for (const char *p = out; *p;) {
		const char *nl = strchr(p, '\n');
		if (!nl) {
			bad++;
			break;
		}
		long id;
		int i;
		char tail[64];
		if (sscanf(p, "INFO comp: thread %ld line %d %63s", &id, &i, tail) != 3 ||
		    strcmp(tail, "padding-padding-padding-padding-padding") != 0)
			bad++;
		lines++;
		p = nl + 1;
	}
	CHECK_EQ_INT(lines, 8 * 500);
	CHECK_EQ_INT(bad, 0);
}

MB_TEST(log_fatal_exits_1_with_error_line)
{
	char path[300], buf[512];
	snprintf(path, sizeof path, "%s/fatal", mbt_tmpdir());
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		mb_log_init("agentd", MB_LOG_ERROR);
		errno = EACCES;
		mb_fatal("cannot open %s", "/data");
	}
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	int fd = open(path, O_RDONLY);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	CHECK_STR(buf, "ERROR agentd: cannot open /data: Permission denied\n");
}

static void emit_keeps_errno(void)
{
	mb_log_init("comp", MB_LOG_DEBUG);
	errno = EPIPE;
	mb_log_debug("a");
	mb_log_warn("b");
	mb_log_error("c");
	CHECK_EQ_INT(errno, EPIPE);
	mb_log_init("metricsbus", MB_LOG_INFO);
}

MB_TEST(log_preserves_errno)
{
	const char *out = capture(emit_keeps_errno);
	CHECK(strstr(out, "WARN comp: b: Broken pipe\n") != NULL);
}
