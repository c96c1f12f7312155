/* log.c: "LEVEL component: message" lines on stderr, and mb_fatal.
 * Each line is formatted into a local buffer and written with one write(2), so lines from
 * threads never interleave and no lock is needed on the write path. */
#include "mb.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE 2048

static char log_component[64] = "metricsbus";
static atomic_int log_level = MB_LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void mb_log_init(const char *component, enum mb_log_level level)
{
	if (component)
		snprintf(log_component, sizeof log_component, "%s", component);
	mb_log_set_level(level);
}

void mb_log_set_level(enum mb_log_level level)
{
	if (level < MB_LOG_DEBUG)
		level = MB_LOG_DEBUG;
	if (level > MB_LOG_ERROR)
		level = MB_LOG_ERROR;
	atomic_store(&log_level, (int)level);
}

bool mb_log_enabled(enum mb_log_level level)
{
	return (int)level >= atomic_load(&log_level);
}

int mb_log_parse_level(const char *s, enum mb_log_level *out)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	if (!s)
		return MB_EINVAL;
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum mb_log_level)i;
			return 0;
		}
	}
	return MB_EINVAL;
}

/* glibc's strerror_r (with _GNU_SOURCE) returns the text; musl's, the POSIX one, fills eb. */
static const char *error_text(int errnum, char *eb, size_t n)
{
#ifdef __GLIBC__
	return strerror_r(errnum, eb, n);
#else
	if (strerror_r(errnum, eb, n) != 0)
		snprintf(eb, n, "error %d", errnum);
	return eb;
#endif
}

/* errnum < 0: no ": strerror" suffix. Control characters in the message are replaced so one
 * call is always exactly one line, even when it quotes bad input. */
static void log_write(enum mb_log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[LOG_LINE];
	size_t max = sizeof line - 1; /* room for '\n' */
	int n = snprintf(line, max, "%s %s: ", level_names[level], log_component);
	if (n < 0)
		return;
	size_t len = (size_t)n < max ? (size_t)n : max - 1;
	size_t start = len;
	n = vsnprintf(line + len, max - len, fmt, ap);
	if (n > 0)
		len += (size_t)n < max - len ? (size_t)n : max - len - 1;
	if (errnum >= 0 && len < max - 1) {
		char eb[128];
		const char *es = error_text(errnum, eb, sizeof eb);
		n = snprintf(line + len, max - len, ": %s", es);
		if (n > 0)
			len += (size_t)n < max - len ? (size_t)n : max - len - 1;
	}
	for (size_t i = start; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c == 0x7f)
			line[i] = '?';
	}
	line[len++] = '\n';
	const char *p = line;
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
	}
}

#define LOG_FN(fn, lvl, withErrno)                                                       \
	void fn(const char *fmt, ...)                                                    \
	{                                                                                \
		int saved = errno;                                                       \
		if (!mb_log_enabled(lvl))                                                \
			return;                                                          \
		va_list ap;                                                              \
		va_start(ap, fmt);                                                       \
		log_write(lvl, withErrno ? saved : -1, fmt, ap);                         \
		va_end(ap);                                                              \
		errno = saved;                                                           \
	}

LOG_FN(mb_log_debug, MB_LOG_DEBUG, 0)
LOG_FN(mb_log_info, MB_LOG_INFO, 0)
LOG_FN(mb_log_warn, MB_LOG_WARN, 1)
LOG_FN(mb_log_warnx, MB_LOG_WARN, 0)
LOG_FN(mb_log_error, MB_LOG_ERROR, 0)

void mb_fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	log_write(MB_LOG_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void mb_fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_write(MB_LOG_ERROR, -1, fmt, ap);
	va_end(ap);
	exit(1);
}
