/* names.c: the wire and user-visible names of kinds, query ops and range statistics.
 * One table each, so that the codec, agentd and the api spell them the same way. */
#include "codec.h"

#include <string.h>

static const char *const kind_names[MB_NKINDS] = {
	"counter", "gauge", "set", "timer", "histogram", "distribution", "resource",
};

static const char *const op_names[] = {
	"ping", "node", "containers", "container", "app", "range", "series", "export", "backup",
};

static const char *const stat_names[MB_NSTATS] = {
	"mean", "min", "max", "sum", "count", "last", "p50", "p90", "p95", "p99", "p999", "rate",
};

const char *mb_kind_name(int kind)
{
	if (kind < 0 || kind >= MB_NKINDS)
		return "?";
	return kind_names[kind];
}

const char *mb_op_name(int op)
{
	if (op < 0 || op >= (int)(sizeof op_names / sizeof op_names[0]))
		return "?";
	return op_names[op];
}

const char *mb_stat_name(int stat)
{
	if (stat < 0 || stat >= MB_NSTATS)
		return "?";
	return stat_names[stat];
}

int mb_stat_parse(const char *s, int *stat)
{
	if (!s)
		return MB_EINVAL;
	for (int i = 0; i < MB_NSTATS; i++) {
		if (strcmp(s, stat_names[i]) == 0) {
			*stat = i;
			return 0;
		}
	}
	return MB_EINVAL;
}

/* The wire carries ops as msgpack strings, which are not NUL-terminated. */
int mb_op_parse_n(const char *s, size_t n, int *op)
{
	for (int i = 0; i < (int)(sizeof op_names / sizeof op_names[0]); i++) {
		if (strlen(op_names[i]) == n && memcmp(s, op_names[i], n) == 0) {
			*op = i;
			return 0;
		}
	}
	return MB_EINVAL;
}

int mb_stat_parse_n(const char *s, size_t n, int *stat)
{
	for (int i = 0; i < MB_NSTATS; i++) {
		if (strlen(stat_names[i]) == n && memcmp(s, stat_names[i], n) == 0) {
			*stat = i;
			return 0;
		}
	}
	return MB_EINVAL;
}
