/* mesos.c: what agentd learns from a DC/OS agent without flags: the Mesos agent id (from the
 * agent's work directory, meta/slaves/latest) and the node's address as DC/OS's detect_ip. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentd.h"

static bool id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MB_MAX_NAME || strcmp(s, "latest") == 0 || strcmp(s, "..") == 0 ||
	    strcmp(s, ".") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

int agent_mesos_agent_id(const char *work_dir, char *id, size_t n)
{
	char path[PATH_MAX], target[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/meta/slaves/latest", work_dir) >= (int)sizeof path)
		return MB_ETOOBIG;
	/* The Mesos agent points "latest" (a symlink) at meta/slaves/<agent id> once it has
	 * registered; the id is the link's last component. */
	ssize_t r = readlink(path, target, sizeof target - 1);
	if (r < 0)
		return MB_ESYS; /* errno kept: ENOENT until the Mesos agent registered */
	target[r] = 0;
	while (r > 1 && target[r - 1] == '/')
		target[--r] = 0;
	const char *base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (!id_ok(base) || strlen(base) >= n)
		return MB_EINVAL;
	snprintf(id, n, "%s", base);
	return 0;
}

int agent_detect_hostname(const char *detect_ip, char *out, size_t n)
{
	out[0] = 0;
	if (detect_ip && access(detect_ip, X_OK) == 0) {
		/* DC/OS's own answer to "which address is this node": the hostname dimension
		 * DC/OS metrics carried. Its output is one address and a newline. */
		FILE *p = popen(detect_ip, "re");
		if (p) {
			char line[256] = "";
			if (!fgets(line, sizeof line, p))
				line[0] = 0;
			int st = pclose(p);
			line[strcspn(line, " \t\r\n")] = 0;
			if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && id_ok(line)) {
				snprintf(out, n, "%s", line);
				return 0;
			}
		}
		mb_log_warnx("%s gave no address: using the host name", detect_ip);
	}
	if (gethostname(out, n - 1) != 0)
		out[0] = 0;
	out[n - 1] = 0;
	return 0;
}
