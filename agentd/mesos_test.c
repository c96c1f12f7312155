/* mesos_test.c: the Mesos agent id from meta/slaves/latest, and the hostname fallbacks. */
#include "../tests/unit/mbtest.h"
#include "agentd.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define AGENT "a1ac060c-82e2-4a28-bc94-c7efcbfb137d-S6"

MB_TEST(mesos_agent_id_from_latest_link)
{
	char dir[512], path[600], id[256];
	snprintf(dir, sizeof dir, "%s/slave", mbt_tmpdir());
	CHECK(agent_mesos_agent_id(dir, id, sizeof id) == MB_ESYS && errno == ENOENT);
	snprintf(path, sizeof path, "%s/meta/slaves/" AGENT, dir);
	CHECK(mb_mkdirs(path, 0755) == 0);
	snprintf(path, sizeof path, "%s/meta/slaves/latest", dir);
	/* the Mesos agent's link is absolute */
	char target[600];
	snprintf(target, sizeof target, "%s/meta/slaves/" AGENT, dir);
	CHECK(symlink(target, path) == 0);
	CHECK(agent_mesos_agent_id(dir, id, sizeof id) == 0);
	CHECK_STR(id, AGENT);
	/* relative, with a trailing slash */
	unlink(path);
	CHECK(symlink(AGENT "/", path) == 0);
	CHECK(agent_mesos_agent_id(dir, id, sizeof id) == 0);
	CHECK_STR(id, AGENT);
	unlink(path);
	CHECK(symlink("bad id", path) == 0);
	CHECK(agent_mesos_agent_id(dir, id, sizeof id) == MB_EINVAL);
}

MB_TEST(hostname_from_detect_ip_else_host_name)
{
	char script[512], out[256], host[256] = "";
	gethostname(host, sizeof host - 1);
	CHECK(agent_detect_hostname("/nonexistent/detect_ip", out, sizeof out) == 0);
	CHECK_STR(out, host);
	snprintf(script, sizeof script, "%s/detect_ip", mbt_tmpdir());
	FILE *f = fopen(script, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fprintf(f, "#!/bin/sh\necho 10.0.4.7\n");
	fclose(f);
	chmod(script, 0755);
	CHECK(agent_detect_hostname(script, out, sizeof out) == 0);
	CHECK_STR(out, "10.0.4.7");
	f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\nexit 1\n");
	fclose(f);
	CHECK(agent_detect_hostname(script, out, sizeof out) == 0);
	CHECK_STR(out, host);
}
