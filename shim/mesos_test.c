/* mesos_test.c: the Mesos ContainerID from sandbox paths (executor's and a pod's child's),
 * from mountinfo's sandbox bind mount, from Docker containerizer names; labels. */
#include "../tests/unit/mbtest.h"
#include "shim.h"

#include <stdlib.h>

#define AGENT "a1ac060c-82e2-4a28-bc94-c7efcbfb137d-S6"
#define FW "a1ac060c-82e2-4a28-bc94-c7efcbfb137d-0001"
#define EXE "apiserver.5c4f6f44-f6cd-11e8-b0b5-ae4f8f7c4b61"
#define RUN "2e9b5a6c-9b0a-4a55-a5d4-bd6e7b7b5a3d"
#define CHILD "6f9f9c7e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
#define SANDBOX "/var/lib/mesos/slave/slaves/" AGENT "/frameworks/" FW "/executors/" EXE "/runs/" RUN

MB_TEST(mesos_sandbox_path)
{
	struct shim_mesos m;
	CHECK(shim_mesos_from_path(SANDBOX, strlen(SANDBOX), &m) == 0);
	CHECK_STR(m.agent, AGENT);
	CHECK_STR(m.framework, FW);
	CHECK_STR(m.executor, EXE);
	CHECK_STR(m.cid, RUN);
	/* a pod's task: the child container's sandbox; the last id wins */
	const char *pod = SANDBOX "/containers/" CHILD;
	CHECK(shim_mesos_from_path(pod, strlen(pod), &m) == 0);
	CHECK_STR(m.cid, CHILD);
	CHECK_STR(m.executor, EXE);
	const char *deep = SANDBOX "/containers/" CHILD "/containers/xyz/";
	CHECK(shim_mesos_from_path(deep, strlen(deep), &m) == 0);
	CHECK_STR(m.cid, "xyz");
	/* not sandboxes */
	const char *bad[] = {"/mnt/mesos/sandbox", ("/var/lib/mesos/slave/slaves/" AGENT),
	                     "/slaves/a/frameworks/b/executors/c/runs/latest",
	                     "/slaves/a/frameworks/b/executors/c/runs/", ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(shim_mesos_from_path(bad[i], strlen(bad[i]), &m) == MB_EINVAL);
}

MB_TEST(mesos_mountinfo_sandbox_mount)
{
	struct shim_mesos m;
	char text[4096];
	/* /var on its own filesystem: the root is relative to it; the pod's child sandbox is
	 * mounted at /mnt/mesos/sandbox, its parent's elsewhere. */
	snprintf(text, sizeof text,
	         "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	         "40 22 8:2 /lib/mesos/slave/slaves/%s/frameworks/%s/executors/%s/runs/%s "
	         "/mnt/parent rw - xfs /dev/sda2 rw\n"
	         "41 22 8:2 /lib/mesos/slave/slaves/%s/frameworks/%s/executors/%s/runs/%s"
	         "/containers/%s /mnt/mesos/sandbox rw,relatime - xfs /dev/sda2 rw\n"
	         "42 22 0:5 / /dev rw - tmpfs tmpfs rw",
	         AGENT, FW, EXE, RUN, AGENT, FW, EXE, RUN, CHILD);
	CHECK(shim_mesos_from_mountinfo(text, NULL, &m) == 0);
	CHECK_STR(m.cid, CHILD);
	CHECK(shim_mesos_from_mountinfo(text, "/mnt/parent", &m) == 0);
	CHECK_STR(m.cid, RUN);
	CHECK(shim_mesos_from_mountinfo("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", NULL, &m) ==
	      MB_EINVAL);
	CHECK(shim_mesos_from_mountinfo("", NULL, &m) == MB_EINVAL);
	CHECK(shim_mesos_from_mountinfo("garbage", NULL, &m) == MB_EINVAL);
}

MB_TEST(mesos_docker_container_names)
{
	struct shim_mesos m;
	CHECK(shim_mesos_from_name("mesos-" RUN, &m) == 0);
	CHECK_STR(m.cid, RUN);
	CHECK_STR(m.agent, "");
	CHECK(shim_mesos_from_name("mesos-" RUN ".executor", &m) == 0);
	CHECK_STR(m.cid, RUN);
	CHECK(shim_mesos_from_name("mesos-" AGENT "." RUN, &m) == 0);
	CHECK_STR(m.cid, RUN);
	CHECK_STR(m.agent, AGENT);
	CHECK(shim_mesos_from_name("mesos-" AGENT "." RUN ".executor", &m) == 0);
	CHECK_STR(m.cid, RUN);
	CHECK(shim_mesos_from_name("nginx", &m) == MB_EINVAL);
	CHECK(shim_mesos_from_name("mesos-", &m) == MB_EINVAL);
	CHECK(shim_mesos_from_name("mesos-.executor", &m) == MB_EINVAL);
}

static const char *dim(const struct shim_identity *id, const char *k)
{
	for (int i = 0; i < id->ndims; i++)
		if (strcmp(id->dims[i].key, k) == 0)
			return id->dims[i].val;
	return NULL;
}

static void clear(void)
{
	const char *e[] = {"MESOS_DIRECTORY", "MESOS_SANDBOX", "MESOS_CONTAINER_NAME",
	                   "HOSTNAME", "MARATHON_APP_ID", "MARATHON_APP_LABEL_HAPROXY_GROUP",
	                   "MARATHON_APP_LABEL_BAD_KEY", "MESOS_SLAVE_ID", "MESOS_TASK_ID",
	                   "MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID", "KUBERNETES_SERVICE_HOST"};
	for (size_t i = 0; i < sizeof e / sizeof e[0]; i++)
		unsetenv(e[i]);
}

MB_TEST(identity_mesos_sources_in_order)
{
	struct shim_identity id;
	char err[256], path[512];
	const char *saved = shim_mountinfo_path;
	clear();
	snprintf(path, sizeof path, "%s/mountinfo", mbt_tmpdir());
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fprintf(f, "41 22 8:2 /var/lib/mesos/slave/slaves/%s/frameworks/%s/executors/%s/runs/%s"
	           "/containers/%s /mnt/mesos/sandbox rw - xfs /dev/sda2 rw\n",
	        AGENT, FW, EXE, RUN, CHILD);
	fclose(f);
	shim_mountinfo_path = path;
	/* a pod's child: no agent variables, only the mount */
	setenv("HOSTNAME", "pod-host", 1);
	CHECK(shim_identity_init(&id, NULL, NULL, NULL, NULL, 1, err, sizeof err) == 0);
	CHECK_STR(id.cid, CHILD);
	CHECK_STR(dim(&id, "mesos_id"), AGENT);
	CHECK_STR(dim(&id, "framework_id"), FW);
	CHECK_STR(dim(&id, "executor_id"), EXE);
	/* MESOS_DIRECTORY (Mesos containerizer) comes before the mount */
	setenv("MESOS_DIRECTORY", SANDBOX, 1);
	CHECK(shim_identity_init(&id, NULL, NULL, NULL, NULL, 1, err, sizeof err) == 0);
	CHECK_STR(id.cid, RUN);
	/* the Docker containerizer's name when nothing else says */
	unsetenv("MESOS_DIRECTORY");
	shim_mountinfo_path = "/nonexistent/mountinfo";
	setenv("MESOS_SANDBOX", "/mnt/mesos/sandbox", 1);
	setenv("MESOS_CONTAINER_NAME", "mesos-" RUN, 1);
	CHECK(shim_identity_init(&id, NULL, NULL, NULL, NULL, 1, err, sizeof err) == 0);
	CHECK_STR(id.cid, RUN);
	/* --container-id still wins */
	CHECK(shim_identity_init(&id, "mine", NULL, NULL, NULL, 1, err, sizeof err) == 0);
	CHECK_STR(id.cid, "mine");
	shim_mountinfo_path = saved;
	clear();
}

MB_TEST(identity_labels)
{
	struct shim_identity id;
	char err[256];
	struct mb_strlist l = {0};
	clear();
	setenv("MARATHON_APP_LABEL_HAPROXY_GROUP", "external", 1);
	l.v[l.n++] = "team=core";
	l.v[l.n++] = "HAPROXY_GROUP=internal"; /* the flag wins */
	CHECK(shim_identity_init(&id, "c", NULL, &l, NULL, 1, err, sizeof err) == 0);
	CHECK_STR(dim(&id, "labels.team"), "core");
	CHECK_STR(dim(&id, "labels.HAPROXY_GROUP"), "internal");
	l.v[l.n++] = "bad key=x";
	CHECK(shim_identity_init(&id, "c", NULL, &l, NULL, 1, err, sizeof err) == MB_EINVAL);
	CHECK(strstr(err, "--label") != NULL);
	clear();
}
