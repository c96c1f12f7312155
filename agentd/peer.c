/* peer.c: --verify-peer: which container a local process belongs to, from its whole cgroup
 * path matched against the container runtimes' layouts, and the table of verified pipes. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentd.h"

#define MAXCOMP 32

/* A cgroup path split into components (pointers into buf). */
struct cpath {
	char buf[4096];
	const char *c[MAXCOMP];
	int n;
};

static int split(const char *p, size_t len, struct cpath *cp)
{
	if (len >= sizeof cp->buf)
		return MB_ETOOBIG;
	memcpy(cp->buf, p, len);
	cp->buf[len] = 0;
	cp->n = 0;
	for (char *s = cp->buf; *s;) {
		while (*s == '/')
			*s++ = 0;
		if (!*s)
			break;
		if (cp->n == MAXCOMP)
			break; /* deeper components never matter: layouts are anchored at the root */
		cp->c[cp->n++] = s;
		while (*s && *s != '/')
			s++;
	}
	return 0;
}

static bool has_prefix(const char *s, const char *pre)
{
	return strncmp(s, pre, strlen(pre)) == 0;
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a > b && strcmp(s + a - b, suf) == 0;
}

/* Copies s[pre..len-suf) into id, undoing systemd's \xHH escapes when unesc. The result must be
 * a schema name (printable ASCII, no spaces) and fit: a name that does not is refused rather
 * than mangled, so that no two cgroups can map to one id. */
static int take(const char *s, size_t pre, size_t suf, bool unesc, char *id, size_t n)
{
	size_t len = strlen(s);
	if (len < pre + suf + 1)
		return MB_EINVAL;
	const char *p = s + pre, *end = s + len - suf;
	size_t o = 0;
	while (p < end) {
		int ch = (unsigned char)*p++;
		if (unesc && ch == '\\' && end - p >= 3 && p[0] == 'x') {
			unsigned v;
			if (sscanf(p + 1, "%2x", &v) == 1) {
				ch = (int)v;
				p += 3;
			}
		}
		if (ch < 0x21 || ch > 0x7e || o + 1 >= n || o >= MB_MAX_NAME)
			return MB_EINVAL;
		id[o++] = (char)ch;
	}
	id[o] = 0;
	return o ? 0 : MB_EINVAL;
}

/* "PRE<id>SUF" for one of the runtimes' scope names. */
static int scope_id(const char *comp, char *id, size_t n)
{
	static const char *pre[] = {"docker-", "cri-containerd-", "crio-", "libpod-"};
	if (!has_suffix(comp, ".scope"))
		return MB_EINVAL;
	for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++)
		if (has_prefix(comp, pre[i]))
			return take(comp, strlen(pre[i]), 6, false, id, n);
	return MB_EINVAL;
}

/* Kubernetes: kubepods[/QOS]/pod<uid>/<id> (cgroupfs driver) or kubepods.slice[/kubepods-QOS.slice]
 * /kubepods[-QOS]-pod<uid>.slice/<rt>-<id>.scope (systemd driver). */
static int kube_id(const struct cpath *cp, char *id, size_t n)
{
	int i = 1;
	if (strcmp(cp->c[0], "kubepods") == 0) {
		if (i < cp->n && (!strcmp(cp->c[i], "besteffort") || !strcmp(cp->c[i], "burstable")))
			i++;
		if (i + 1 >= cp->n || !has_prefix(cp->c[i], "pod"))
			return MB_EINVAL;
		const char *c = cp->c[i + 1];
		return scope_id(c, id, n) == 0 ? 0 : take(c, 0, 0, false, id, n);
	}
	if (i < cp->n && (!strcmp(cp->c[i], "kubepods-besteffort.slice") ||
	                  !strcmp(cp->c[i], "kubepods-burstable.slice")))
		i++;
	if (i + 1 >= cp->n || !has_prefix(cp->c[i], "kubepods-") || !has_suffix(cp->c[i], ".slice") ||
	    strstr(cp->c[i], "-pod") == NULL)
		return MB_EINVAL;
	return scope_id(cp->c[i + 1], id, n);
}

/* The runtimes' layouts, anchored at the root of the hierarchy: what lies below the container's
 * own cgroup (children it may create) never changes the answer. */
static int runtime_id(const struct cpath *cp, char *id, size_t n)
{
	if (cp->n < 1)
		return MB_EINVAL;
	const char *c0 = cp->c[0], *c1 = cp->n > 1 ? cp->c[1] : NULL;
	if ((!strcmp(c0, "mesos") || !strcmp(c0, "docker") || !strcmp(c0, "lxc")) && c1)
		return take(c1, 0, 0, false, id, n);
	if (!strcmp(c0, "libpod_parent") && c1 && has_prefix(c1, "libpod-"))
		return take(c1, 7, 0, false, id, n);
	if (has_prefix(c0, "lxc.payload."))
		return take(c0, 12, 0, false, id, n);
	if (!strcmp(c0, "kubepods") || !strcmp(c0, "kubepods.slice"))
		return kube_id(cp, id, n);
	if ((!strcmp(c0, "system.slice") || !strcmp(c0, "machine.slice")) && c1) {
		if (scope_id(c1, id, n) == 0)
			return 0;
		if (!strcmp(c0, "machine.slice")) {
			if (has_prefix(c1, "systemd-nspawn@") && has_suffix(c1, ".service"))
				return take(c1, 15, 8, true, id, n);
			if (has_prefix(c1, "machine-") && has_suffix(c1, ".scope"))
				return take(c1, 8, 6, true, id, n);
		}
	}
	return MB_EINVAL;
}

/* A plain systemd service, /system.slice/NAME.service: used only when no runtime matched. */
static int unit_id(const struct cpath *cp, char *id, size_t n)
{
	if (cp->n >= 2 && !strcmp(cp->c[0], "system.slice") && has_suffix(cp->c[1], ".service"))
		return take(cp->c[1], 0, 8, true, id, n);
	return MB_EINVAL;
}

/* The operator's --peer-map rules: PATH=ID (that cgroup and everything under it) or PATH/ then a star
 * (the component under PATH is the id). */
static int map_id(const struct agent_peer_maps *m, const struct cpath *cp, char *id, size_t n)
{
	for (int k = 0; m && k < m->n; k++) {
		const struct agent_peer_map *r = &m->r[k];
		struct cpath pre;
		if (split(r->path, strlen(r->path), &pre) != 0 || pre.n > cp->n)
			continue;
		int i = 0;
		while (i < pre.n && !strcmp(pre.c[i], cp->c[i]))
			i++;
		if (i < pre.n)
			continue;
		if (!r->wildcard)
			return take(r->id, 0, 0, false, id, n);
		if (cp->n > pre.n)
			return take(cp->c[pre.n], 0, 0, false, id, n);
	}
	return MB_EINVAL;
}

int agent_peer_map_add(struct agent_peer_maps *m, const char *spec, char *err, size_t errlen)
{
	if (m->n >= AGENT_PEER_MAPS) {
		snprintf(err, errlen, "at most %d --peer-map rules", AGENT_PEER_MAPS);
		return MB_ETOOBIG;
	}
	struct agent_peer_map *r = &m->r[m->n];
	memset(r, 0, sizeof *r);
	const char *eq = strchr(spec, '=');
	size_t plen = eq ? (size_t)(eq - spec) : strlen(spec);
	if (spec[0] != '/' || plen >= sizeof r->path) {
		snprintf(err, errlen, "'%s': want /CGROUP/PATH=ID or /CGROUP/PATH/*", spec);
		return MB_EINVAL;
	}
	memcpy(r->path, spec, plen);
	if (eq) {
		char id[MB_MAX_NAME + 1];
		if (take(eq + 1, 0, 0, false, id, sizeof id) != 0) {
			snprintf(err, errlen, "'%s': the id must be printable, without spaces", spec);
			return MB_EINVAL;
		}
		snprintf(r->id, sizeof r->id, "%s", id);
	} else if (plen >= 2 && !strcmp(r->path + plen - 2, "/*")) {
		r->path[plen - 2] = 0;
		r->wildcard = true;
	} else {
		snprintf(err, errlen, "'%s': want /CGROUP/PATH=ID or /CGROUP/PATH/*", spec);
		return MB_EINVAL;
	}
	m->n++;
	return 0;
}

enum { K_NONE, K_HOST, K_UNIT, K_RUNTIME };

static int classify(const struct agent_peer_maps *m, const char *p, size_t len, char *id,
                    size_t n)
{
	struct cpath cp;
	if (split(p, len, &cp) != 0)
		return K_NONE;
	if (map_id(m, &cp, id, n) == 0 || runtime_id(&cp, id, n) == 0)
		return K_RUNTIME;
	if (cp.n == 0)
		return K_HOST;
	return unit_id(&cp, id, n) == 0 ? K_UNIT : K_NONE;
}

int agent_peer_id_from_cgroup(const struct agent_peer_maps *m, const char *text, char *id,
                              size_t n, char *why, size_t whylen)
{
	char got[MB_MAX_NAME + 1] = "", cand[MB_MAX_NAME + 1];
	const char *prim = NULL;
	size_t primlen = 0;
	int prim_rank = 0; /* 3: the v2 line, 2: name=systemd, 1: another v1 line */
	int lines = 0;
	why[0] = 0;
	if (n < 2)
		return MB_EINVAL;
	for (const char *line = text; line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		/* hierarchy-ID:controllers:path */
		const char *c1 = memchr(line, ':', len);
		const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
		if (c2 && c2[1] == '/') {
			const char *p = c2 + 1;
			size_t plen = len - (size_t)(p - line);
			lines++;
			/* Every hierarchy that names a container must name the same one: a process
			 * cannot pass as another by moving in one v1 hierarchy. */
			if (classify(m, p, plen, cand, sizeof cand) == K_RUNTIME) {
				if (got[0] && strcmp(got, cand) != 0) {
					snprintf(why, whylen, "its cgroups name two containers (%s, %s)",
					         got, cand);
					return MB_EINVAL;
				}
				snprintf(got, sizeof got, "%s", cand);
			}
			int rank = (c1 == line + 1 && line[0] == '0' && c2 == c1 + 1) ? 3
			           : (c2 - c1 - 1 == 12 && !memcmp(c1 + 1, "name=systemd", 12)) ? 2
			                                                                          : 1;
			if (rank > prim_rank) {
				prim = p;
				primlen = plen;
				prim_rank = rank;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	if (!lines) {
		snprintf(why, whylen, "no cgroup in /proc/PID/cgroup");
		return MB_EINVAL;
	}
	if (got[0]) {
		if (strlen(got) >= n)
			goto toolong;
		snprintf(id, n, "%s", got);
		return 0;
	}
	switch (classify(m, prim, primlen, cand, sizeof cand)) {
	case K_HOST:
		snprintf(cand, sizeof cand, "host");
		/* fall through */
	case K_UNIT:
		if (strlen(cand) >= n)
			goto toolong;
		snprintf(id, n, "%s", cand);
		return 0;
	default:
		snprintf(why, whylen, "cgroup %.*s matches no container layout (map it with "
		                      "--peer-map)", (int)(primlen > 200 ? 200 : primlen), prim);
		return MB_EINVAL;
	}
toolong:
	snprintf(why, whylen, "container id longer than %zu bytes", n - 1);
	return MB_EINVAL;
}

int agent_peer_id(const struct agent_peer_maps *m, const char *proc, uint64_t pid, char *id,
                  size_t n, char *why, size_t whylen)
{
	char path[256], text[8192];
	if (pid == 0) {
		/* SO_PEERCRED says 0 for a process of a PID namespace we cannot see into. */
		snprintf(why, whylen, "its pid is not visible here (another PID namespace)");
		return MB_EINVAL;
	}
	snprintf(path, sizeof path, "%s/%llu/cgroup", proc, (unsigned long long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "pid %llu is gone (%s)", (unsigned long long)pid,
		         strerror(errno));
		return MB_ESYS;
	}
	size_t off = 0;
	for (;;) {
		ssize_t r = read(fd, text + off, sizeof text - 1 - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
		if (off == sizeof text - 1)
			break;
	}
	close(fd);
	text[off] = 0;
	return agent_peer_id_from_cgroup(m, text, id, n, why, whylen);
}

/* The initial PID namespace's inode number, fixed by the kernel (PROC_PID_INIT_INO). */
#define PID_INIT_INO 0xEFFFFFFCu

int agent_peer_check_pidns(const char *proc, char *err, size_t errlen)
{
	char path[256], self[64];
	struct stat st;
	snprintf(path, sizeof path, "%s/self/ns/pid", proc);
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "cannot read %s (%s): --verify-peer needs the host's /proc",
		         path, strerror(errno));
		return MB_ESYS;
	}
	if (st.st_ino != PID_INIT_INO) {
		snprintf(err, errlen, "--verify-peer: agentd runs in a PID namespace of its own, where "
		                      "the shims' pids are not visible; run it in the host's PID "
		                      "namespace (hostPID, --pid=host) or drop --verify-peer");
		return MB_EINVAL;
	}
	snprintf(path, sizeof path, "%s/self", proc);
	ssize_t k = readlink(path, self, sizeof self - 1);
	if (k <= 0 || (self[k] = 0, strtoll(self, NULL, 10) != (long long)getpid())) {
		snprintf(err, errlen, "--verify-peer: %s is not this PID namespace's /proc", proc);
		return MB_EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------ the pipes' verdicts */

struct entry {
	uint32_t pipe;
	bool ok;
	char id[MB_MAX_NAME + 1]; /* the id, or why it is not verified */
};

struct agent_peer_table {
	pthread_mutex_t mu;
	struct entry *e;
	size_t n, cap;
};

int agent_peer_table_new(struct agent_peer_table **out)
{
	struct agent_peer_table *t = calloc(1, sizeof *t);
	if (!t)
		return MB_ENOMEM;
	pthread_mutex_init(&t->mu, NULL);
	*out = t;
	return 0;
}

void agent_peer_table_free(struct agent_peer_table *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t->e);
	free(t);
}

int agent_peer_table_put(struct agent_peer_table *t, uint32_t pipe, bool ok, const char *text)
{
	pthread_mutex_lock(&t->mu);
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct entry *e = realloc(t->e, cap * sizeof *e);
		if (!e) {
			pthread_mutex_unlock(&t->mu);
			return MB_ENOMEM;
		}
		t->e = e;
		t->cap = cap;
	}
	struct entry *e = &t->e[t->n++];
	e->pipe = pipe;
	e->ok = ok;
	snprintf(e->id, sizeof e->id, "%s", text);
	pthread_mutex_unlock(&t->mu);
	return 0;
}

int agent_peer_table_get(struct agent_peer_table *t, uint32_t pipe, char *out, size_t n)
{
	int rv = MB_EDOWN;
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].pipe == pipe) {
			snprintf(out, n, "%s", t->e[i].id);
			rv = t->e[i].ok ? 0 : MB_EINVAL;
			break;
		}
	pthread_mutex_unlock(&t->mu);
	if (rv == MB_EDOWN)
		snprintf(out, n, "its connection was not checked");
	return rv;
}

void agent_peer_table_del(struct agent_peer_table *t, uint32_t pipe)
{
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].pipe == pipe) {
			t->e[i] = t->e[--t->n];
			break;
		}
	pthread_mutex_unlock(&t->mu);
}
