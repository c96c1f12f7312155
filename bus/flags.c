/* flags.c: the command-line front every program shares: flags from a table, their
 * METRICSBUS_* environment twins, --help/--version/--log-level, and exit 2 on a bad one. */
#include "mb.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Copies of list-valued environment variables, split in place. Kept reachable for the life
 * of the process because the lists point into them (volatile: the array is never read, and
 * gcc -O2 dropped the stores, so valgrind saw the copies as definitely lost). */
static char *volatile env_copies[64];
static int nenv_copies;

__attribute__((noreturn, format(printf, 2, 0))) static void
vusage_error(const struct mb_prog *p, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	/* It quotes what the user typed: keep it one line whatever that was. */
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	fflush(stdout);
	fprintf(stderr, "%s: error: %s (see %s --help)\n", p->name, msg, p->name);
	fflush(stderr);
	exit(2);
}

void mb_usage_error(const struct mb_prog *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vusage_error(p, fmt, ap);
	va_end(ap);
}

static void env_name(const char *flag, char *buf, size_t n)
{
	size_t i = 0;
	int w = snprintf(buf, n, "METRICSBUS_");
	i = w > 0 ? (size_t)w : 0;
	for (; *flag && i + 1 < n; flag++)
		buf[i++] = *flag == '-' ? '_' : (char)toupper((unsigned char)*flag);
	buf[i] = 0;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return MB_EINVAL;
}

static int parse_int(const char *v, int64_t *out)
{
	int64_t x = 0;
	if (!*v)
		return MB_EINVAL;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return MB_EINVAL;
		int d = *v - '0';
		if (x > (INT64_MAX - d) / 10)
			return MB_EINVAL;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

static const char *type_hint(enum mb_flag_type t)
{
	switch (t) {
	case MB_FLAG_BOOL: return "want true or false";
	case MB_FLAG_INT: return "want a whole number >= 0";
	case MB_FLAG_DURATION: return "want a duration such as 500ms, 10s, 5m, 6h";
	case MB_FLAG_SIZE: return "want a size such as 1024, 64KiB, 16MiB, 8GiB";
	default: return "bad value";
	}
}

/* Sets one flag from one value; `from` names the source for the error line. */
static void set_value(const struct mb_prog *p, struct mb_flag *f, const char *v, const char *from)
{
	int rv = 0;
	switch (f->type) {
	case MB_FLAG_BOOL:
		rv = parse_bool(v, (bool *)f->dst);
		break;
	case MB_FLAG_STR:
		*(const char **)f->dst = v;
		break;
	case MB_FLAG_INT:
		rv = parse_int(v, (int64_t *)f->dst);
		break;
	case MB_FLAG_DURATION: {
		int64_t ms;
		if ((rv = mb_parse_duration(v, &ms)) == 0)
			*(int64_t *)f->dst = ms;
		break;
	}
	case MB_FLAG_SIZE: {
		uint64_t b;
		if ((rv = mb_parse_size(v, &b)) == 0)
			*(uint64_t *)f->dst = b;
		break;
	}
	case MB_FLAG_LIST: {
		struct mb_strlist *l = f->dst;
		if (l->n >= (int)(sizeof l->v / sizeof l->v[0]))
			mb_usage_error(p, "%s: more than %d values", from,
			               (int)(sizeof l->v / sizeof l->v[0]));
		l->v[l->n++] = v;
		break;
	}
	}
	if (rv != 0)
		mb_usage_error(p, "%s: invalid value \"%s\": %s", from, v, type_hint(f->type));
}

static void format_size(uint64_t b, char *buf, size_t n)
{
	static const char *const names[] = {"TiB", "GiB", "MiB", "KiB"};
	for (int i = 0; i < 4; i++) {
		uint64_t m = 1ull << (10 * (4 - i));
		if (b && b % m == 0) {
			snprintf(buf, n, "%llu%s", (unsigned long long)(b / m), names[i]);
			return;
		}
	}
	snprintf(buf, n, "%llu", (unsigned long long)b);
}

static void format_default(const struct mb_flag *f, char *buf, size_t n)
{
	buf[0] = 0;
	switch (f->type) {
	case MB_FLAG_BOOL:
		snprintf(buf, n, "%s", *(bool *)f->dst ? "true" : "false");
		break;
	case MB_FLAG_STR: {
		const char *s = *(const char **)f->dst;
		if (s && *s)
			snprintf(buf, n, "%s", s);
		break;
	}
	case MB_FLAG_INT:
		snprintf(buf, n, "%lld", (long long)*(int64_t *)f->dst);
		break;
	case MB_FLAG_DURATION:
		mb_format_duration(*(int64_t *)f->dst, buf, n);
		break;
	case MB_FLAG_SIZE:
		format_size(*(uint64_t *)f->dst, buf, n);
		break;
	case MB_FLAG_LIST: {
		const struct mb_strlist *l = f->dst;
		size_t len = 0;
		for (int i = 0; i < l->n && len < n; i++) {
			int w = snprintf(buf + len, n - len, "%s%s", i ? "," : "", l->v[i]);
			if (w < 0)
				break;
			len += (size_t)w;
		}
		break;
	}
	}
}

static const char *doc_default(const struct mb_prog *p, const char *name)
{
	for (const char *const *d = p->doc_defaults; d && d[0] && d[1]; d += 2)
		if (strcmp(d[0], name) == 0)
			return d[1];
	return NULL;
}

/* A table cell: '|' escaped, as Markdown tables need. */
static void md_cell(const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			putchar('\\');
		putchar(*s);
	}
}

static void md_row(const char *name, const char *metavar, bool repeat, const char *def,
                   const char *help)
{
	char env[128];
	env_name(name, env, sizeof env);
	printf("| `--%s%s", name, metavar ? " " : "");
	md_cell(metavar);
	printf("%s` | ", repeat ? "..." : "");
	if (def && *def) {
		printf("`");
		md_cell(def);
		printf("`");
	}
	printf(" | `%s` | ", env);
	md_cell(help);
	printf(" |\n");
}

/* The flag table of docs/: generated from this table, so the docs cannot drift from it. */
static void print_markdown(const struct mb_prog *p)
{
	printf("| flag | default | environment | meaning |\n| --- | --- | --- | --- |\n");
	for (int i = 0; i < p->nflags; i++) {
		const struct mb_flag *f = &p->flags[i];
		char def[256];
		bool b = f->type == MB_FLAG_BOOL;
		const char *dd = doc_default(p, f->name);
		format_default(f, def, sizeof def);
		if (dd)
			snprintf(def, sizeof def, "%s", dd);
		md_row(f->name, b ? NULL : f->metavar, f->type == MB_FLAG_LIST,
		       b && !dd ? "off" : def, f->help);
	}
	md_row("log-level", "LEVEL", false, "info", "debug, info, warn or error");
	printf("| `--help` | | | print the help and exit |\n"
	       "| `--version` | | | print the version and exit |\n");
	fflush(stdout);
}

static void print_flag(const char *name, const char *metavar, const char *help,
                       const char *def, bool repeat)
{
	char left[128], env[128];
	snprintf(left, sizeof left, "  --%s%s%s%s", name, metavar ? " " : "",
	         metavar ? metavar : "", repeat ? "..." : "");
	env_name(name, env, sizeof env);
	printf("%-34s %s\n%-34s (env %s%s%s)\n", left, help ? help : "", "", env,
	       def && *def ? "; default " : "", def ? def : "");
}

/* Words wrapped at width; the text's own newlines are kept. */
static void print_wrapped(const char *text, int width)
{
	int col = 0;
	const char *s = text;
	while (*s) {
		if (*s == '\n') {
			putchar('\n');
			col = 0;
			s++;
			continue;
		}
		if (*s == ' ') {
			s++;
			continue;
		}
		int len = (int)strcspn(s, " \n");
		if (col > 0 && col + 1 + len > width) {
			putchar('\n');
			col = 0;
		} else if (col > 0) {
			putchar(' ');
			col++;
		}
		fwrite(s, 1, (size_t)len, stdout);
		col += len;
		s += len;
	}
	if (col > 0)
		putchar('\n');
}

static void print_help(const struct mb_prog *p, const char *level)
{
	printf("usage: %s %s\n\n", p->name, p->synopsis ? p->synopsis : "[FLAGS]");
	if (p->about && *p->about) {
		print_wrapped(p->about, 78);
		printf("\n");
	}
	printf("flags:\n");
	for (int i = 0; i < p->nflags; i++) {
		const struct mb_flag *f = &p->flags[i];
		char def[256];
		format_default(f, def, sizeof def);
		if (!def[0] && doc_default(p, f->name))
			snprintf(def, sizeof def, "%s", doc_default(p, f->name));
		print_flag(f->name, f->type == MB_FLAG_BOOL ? NULL : f->metavar, f->help,
		           f->type == MB_FLAG_BOOL ? NULL : def, f->type == MB_FLAG_LIST);
	}
	print_flag("log-level", "LEVEL", "debug, info, warn or error", level, false);
	printf("%-34s %s\n%-34s %s\n", "  --help", "print this help and exit", "  --version",
	       "print the version and exit");
	fflush(stdout);
}

static struct mb_flag *find_flag(struct mb_prog *p, const char *name, size_t len)
{
	for (int i = 0; i < p->nflags; i++) {
		if (strlen(p->flags[i].name) == len && strncmp(p->flags[i].name, name, len) == 0)
			return &p->flags[i];
	}
	return NULL;
}

/* The environment applies only to flags the command line did not set. */
static void apply_env(struct mb_prog *p, struct mb_flag *f)
{
	char env[160], from[200];
	env_name(f->name, env, sizeof env);
	const char *v = getenv(env);
	if (!v || !*v)
		return;
	snprintf(from, sizeof from, "environment variable %s", env);
	if (f->type != MB_FLAG_LIST) {
		set_value(p, f, v, from);
		f->set = true;
		return;
	}
	if (nenv_copies == (int)(sizeof env_copies / sizeof env_copies[0]))
		mb_usage_error(p, "%s: too many list variables", from);
	char *copy = strdup(v);
	if (!copy)
		mb_fatal("%s", from);
	env_copies[nenv_copies++] = copy;
	((struct mb_strlist *)f->dst)->n = 0;
	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		set_value(p, f, tok, from);
	f->set = true;
}

/* --help and --version win over everything else on the line, and show the table's defaults
 * untouched by the flags before them. A flag's value is skipped, as the parse below does, so
 * "--container-id --help" sets an id rather than asking for help. */
static void prescan(const struct mb_prog *p, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return;
		if (a[0] != '-' || a[1] == 0) {
			if (p->stop_at_positional)
				return;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			print_help(p, "info");
			exit(0);
		}
		if (strcmp(a, "--help-markdown") == 0) {
			print_markdown(p);
			exit(0);
		}
		if (strcmp(a, "--version") == 0) {
			printf("%s %s\n%s\n", p->name, MB_VERSION, mb_nng_describe());
			fflush(stdout);
			exit(0);
		}
		if (a[1] == '-' && !strchr(a, '=')) {
			const char *name = a + 2;
			bool takes_value = strcmp(name, "log-level") == 0;
			for (int k = 0; k < p->nflags && !takes_value; k++)
				takes_value = strcmp(p->flags[k].name, name) == 0 &&
				              p->flags[k].type != MB_FLAG_BOOL;
			if (takes_value)
				i++;
		}
	}
}

void mb_flags_parse(struct mb_prog *p, int argc, char **argv, int *npos)
{
	const char *level_s = NULL, *level_from = "--log-level";
	int np = 0;
	bool flags_done = false;
	for (int i = 0; i < p->nflags; i++)
		p->flags[i].set = false;
	prescan(p, argc, argv);

	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (flags_done || a[0] != '-' || a[1] == 0) {
			argv[np++] = a;
			if (p->stop_at_positional)
				flags_done = true;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			flags_done = true;
			continue;
		}
		if (a[1] != '-')
			mb_usage_error(p, "unknown flag %s", a);
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const char *val = eq ? eq + 1 : NULL;
		if (nlen == 9 && strncmp(name, "log-level", 9) == 0) {
			if (!val) {
				if (i + 1 >= argc)
					mb_usage_error(p, "flag --log-level needs a value");
				val = argv[++i];
			}
			level_s = val;
			continue;
		}
		struct mb_flag *f = find_flag(p, name, nlen);
		if (!f)
			mb_usage_error(p, "unknown flag --%.*s", (int)nlen, name);
		char from[160];
		snprintf(from, sizeof from, "flag --%s", f->name);
		if (f->type == MB_FLAG_BOOL && !val) {
			*(bool *)f->dst = true;
			f->set = true;
			continue;
		}
		if (!val) {
			if (i + 1 >= argc)
				mb_usage_error(p, "flag --%s needs a value (%s)", f->name,
				               f->metavar ? f->metavar : "VALUE");
			val = argv[++i];
		}
		/* The first list value on the command line replaces the default. */
		if (f->type == MB_FLAG_LIST && !f->set)
			((struct mb_strlist *)f->dst)->n = 0;
		set_value(p, f, val, from);
		f->set = true;
	}

	for (int i = 0; i < p->nflags; i++) {
		if (!p->flags[i].set)
			apply_env(p, &p->flags[i]);
	}
	if (!level_s) {
		const char *v = getenv("METRICSBUS_LOG_LEVEL");
		if (v && *v) {
			level_s = v;
			level_from = "environment variable METRICSBUS_LOG_LEVEL";
		}
	}
	enum mb_log_level level = MB_LOG_INFO;
	if (level_s && mb_log_parse_level(level_s, &level) != 0)
		mb_usage_error(p, "%s: invalid value \"%s\": want debug, info, warn or error",
		               level_from, level_s);
	mb_log_init(p->component, level);
	if (np < argc)
		argv[np] = NULL;
	*npos = np;
}
