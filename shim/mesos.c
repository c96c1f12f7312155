/* mesos.c: the Mesos ContainerID (the one `dcos task metrics` asks for) and the agent,
 * framework and executor ids, read from a sandbox path, /proc/self/mountinfo or a Docker
 * containerizer container name (rules in docs/statsd.md). */
#include "shim.h"

#include <stdio.h>
#include <string.h>

static int copy_part(char *dst, size_t n, const char *s, size_t len)
{
	if (len == 0 || len >= n)
		return MB_EINVAL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return MB_EINVAL;
	memcpy(dst, s, len);
	dst[len] = 0;
	return 0;
}

/* The component after "/KEY/" at or after p (up to the next '/' or the end), or NULL. */
static const char *component(const char *p, const char *end, const char *key, size_t *len)
{
	size_t kl = strlen(key);
	for (const char *q = p; q < end; q++) {
		if (*q != '/' || (size_t)(end - q) < kl + 2 || memcmp(q + 1, key, kl) != 0 ||
		    q[kl + 1] != '/')
			continue;
		const char *v = q + kl + 2;
		const char *slash = memchr(v, '/', (size_t)(end - v));
		*len = (size_t)((slash ? slash : end) - v);
		return v;
	}
	return NULL;
}

/* .../slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<id>[/containers/<child>]...: the
 * last "containers/<child>" wins (nested containers: a pod's task is a child). */
int shim_mesos_from_path(const char *path, size_t n, struct shim_mesos *m)
{
	const char *end = path + n, *v, *after;
	size_t len;
	struct shim_mesos t;
	memset(&t, 0, sizeof t);
	if (!(v = component(path, end, "slaves", &len)) ||
	    copy_part(t.agent, sizeof t.agent, v, len) != 0)
		return MB_EINVAL;
	if (!(v = component(v + len, end, "frameworks", &len)) ||
	    copy_part(t.framework, sizeof t.framework, v, len) != 0)
		return MB_EINVAL;
	if (!(v = component(v + len, end, "executors", &len)) ||
	    copy_part(t.executor, sizeof t.executor, v, len) != 0)
		return MB_EINVAL;
	if (!(v = component(v + len, end, "runs", &len)) || (len == 6 && !memcmp(v, "latest", 6)) ||
	    copy_part(t.cid, sizeof t.cid, v, len) != 0)
		return MB_EINVAL;
	after = v + len;
	while ((v = component(after, end, "containers", &len)) != NULL) {
		if (copy_part(t.cid, sizeof t.cid, v, len) != 0)
			return MB_EINVAL;
		after = v + len;
	}
	*m = t;
	return 0;
}

/* mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - FSTYPE SRC OPTS". The sandbox is a
 * bind mount whose ROOT is the host's sandbox directory; prefer the one mounted at `at`. */
int shim_mesos_from_mountinfo(const char *text, const char *at, struct shim_mesos *m)
{
	int best = 0;
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		const char *lend = nl ? nl : line + strlen(line);
		const char *f = line, *root = NULL, *mp = NULL;
		size_t rootlen = 0, mplen = 0;
		for (int field = 0; field < 5 && f < lend; field++) {
			const char *sp = memchr(f, ' ', (size_t)(lend - f));
			const char *fe = sp ? sp : lend;
			if (field == 3) {
				root = f;
				rootlen = (size_t)(fe - f);
			} else if (field == 4) {
				mp = f;
				mplen = (size_t)(fe - f);
			}
			f = sp ? sp + 1 : lend;
		}
		struct shim_mesos t;
		if (root && mp && shim_mesos_from_path(root, rootlen, &t) == 0) {
			int score = 1;
			if (at && strlen(at) == mplen && memcmp(at, mp, mplen) == 0)
				score = 3;
			else if (mplen == 18 && memcmp(mp, "/mnt/mesos/sandbox", 18) == 0)
				score = 2;
			if (score > best) {
				best = score;
				*m = t;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return best ? 0 : MB_EINVAL;
}

/* The Docker containerizer names a task's container "mesos-<id>" (its executor's
 * "mesos-<id>.executor"); Mesos before 1.0 "mesos-<agent>.<id>". */
int shim_mesos_from_name(const char *name, struct shim_mesos *m)
{
	struct shim_mesos t;
	memset(&t, 0, sizeof t);
	if (strncmp(name, "mesos-", 6) != 0)
		return MB_EINVAL;
	const char *s = name + 6;
	size_t len = strlen(s);
	if (len > 9 && strcmp(s + len - 9, ".executor") == 0)
		len -= 9;
	const char *dot = memchr(s, '.', len);
	if (dot) {
		if (copy_part(t.agent, sizeof t.agent, s, (size_t)(dot - s)) != 0)
			return MB_EINVAL;
		len -= (size_t)(dot + 1 - s);
		s = dot + 1;
	}
	if (copy_part(t.cid, sizeof t.cid, s, len) != 0)
		return MB_EINVAL;
	*m = t;
	return 0;
}
