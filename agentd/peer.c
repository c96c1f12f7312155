/* peer.c: --verify-peer: which container a local process belongs to, from its cgroup, so that
 * a batch's container id is what the kernel says rather than what the sender claims. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agentd.h"

/* Strips a runtime's scope wrapping: "docker-ID.scope" -> "ID" (also cri-containerd-, crio-,
 * libpod-); other names are kept whole (Mesos puts the bare container id there). */
static void strip_scope(const char *s, size_t len, char *id, size_t n)
{
	static const char *prefixes[] = {"docker-", "cri-containerd-", "crio-", "libpod-"};
	if (len > 6 && memcmp(s + len - 6, ".scope", 6) == 0) {
		for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
			size_t pl = strlen(prefixes[i]);
			if (len - 6 > pl && memcmp(s, prefixes[i], pl) == 0) {
				s += pl;
				len -= pl + 6;
				break;
			}
		}
	}
	if (len >= n)
		len = n - 1;
	memcpy(id, s, len);
	id[len] = 0;
}

/* The last component of a cgroup path, skipping trailing "/", or NULL for the root. */
static int last_component(const char *path, size_t len, char *id, size_t n)
{
	while (len > 0 && path[len - 1] == '/')
		len--;
	if (len == 0)
		return MB_EINVAL;
	size_t start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	strip_scope(path + start, len - start, id, n);
	/* A name must be printable ASCII without spaces (schemas/v1). */
	for (char *p = id; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			*p = '_';
	return id[0] ? 0 : MB_EINVAL;
}

int agent_peer_id_from_cgroup(const char *text, char *id, size_t n)
{
	const char *v2 = NULL, *v1 = NULL;
	size_t v2len = 0, v1len = 0;
	int lines = 0;
	for (const char *line = text; line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		/* hierarchy-ID:controllers:path */
		const char *c1 = memchr(line, ':', len);
		const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
		if (c2) {
			const char *p = c2 + 1;
			size_t plen = len - (size_t)(p - line);
			bool root = plen == 0 || (plen == 1 && p[0] == '/');
			lines++;
			if (c1 == line + 1 && line[0] == '0' && c2 == c1 + 1) {
				v2 = p;
				v2len = plen;
			} else if (!root && !v1) {
				v1 = p;
				v1len = plen;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	if (!lines || n < 2)
		return MB_EINVAL;
	if (v2 && last_component(v2, v2len, id, n) == 0)
		return 0;
	if (v1 && last_component(v1, v1len, id, n) == 0)
		return 0;
	snprintf(id, n, "host");
	return 0;
}

int agent_peer_id(const char *proc, uint64_t pid, char *id, size_t n)
{
	char path[256], text[8192];
	snprintf(path, sizeof path, "%s/%llu/cgroup", proc, (unsigned long long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return MB_ESYS;
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
	return agent_peer_id_from_cgroup(text, id, n);
}
