/* identity_test.c: container id precedence, Kubernetes containers of one pod kept apart,
 * Mesos/Marathon dimensions and --dimension. */
#include "../tests/unit/mbtest.h"
#include "shim.h"

#include <stdlib.h>

static const char *envs[] = {"MESOS_CONTAINER_NAME",    "HOSTNAME",
                             "KUBERNETES_SERVICE_HOST", "METRICSBUS_CONTAINER_NAME",
                             "MESOS_TASK_ID",           "MESOS_EXECUTOR_ID",
                             "MESOS_FRAMEWORK_ID",      "MARATHON_APP_ID",
                             "MESOS_FRAMEWORK_NAME",    "POD_NAMESPACE",
                             "MESOS_AGENT_ID",          "MESOS_SLAVE_ID"};

static void clear_env(void)
{
	for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
		unsetenv(envs[i]);
}

static const char *dim(const struct shim_identity *id, const char *k)
{
	for (int i = 0; i < id->ndims; i++)
		if (strcmp(id->dims[i].key, k) == 0)
			return id->dims[i].val;
	return NULL;
}

MB_TEST(identity_precedence)
{
	struct shim_identity id;
	char err[256];
	clear_env();
	CHECK(shim_identity_init(&id, NULL, NULL, NULL, NULL, 0xabc, err, sizeof err) == 0);
	CHECK_STR(id.cid, "shim-0000000000000abc");
	setenv("HOSTNAME", "box1", 1);
	CHECK(shim_identity_init(&id, NULL, NULL, NULL, NULL, 1, err, sizeof err) == 0);
	CHECK_STR(id.cid, "box1");
	setenv("MESOS_CONTAINER_NAME", "mesos-1234", 1);
	CHECK(shim_identity_init(&id, NULL, NULL, NULL, NULL, 1, err, sizeof err) == 0);
	CHECK_STR(id.cid, "1234"); /* the Mesos ContainerID in the Docker name */
	CHECK(shim_identity_init(&id, "mine", NULL, NULL, NULL, 1, err, sizeof err) == 0);
	CHECK_STR(id.cid, "mine");
	/* sanitised to a schema name */
	CHECK(shim_identity_init(&id, "a b\tc", NULL, NULL, NULL, 1, err, sizeof err) == 0);
	CHECK_STR(id.cid, "a_b_c");
	clear_env();
}

MB_TEST(identity_kubernetes_pod_containers_distinct)
{
	struct shim_identity a, b;
	char err[256];
	clear_env();
	setenv("HOSTNAME", "web-7d4b9-x2x", 1);
	setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
	setenv("POD_NAMESPACE", "prod", 1);
	CHECK(shim_identity_init(&a, NULL, NULL, NULL, "/usr/bin/nginx", 1, err, sizeof err) == 0);
	CHECK(shim_identity_init(&b, NULL, NULL, NULL, "/app/sidecar", 2, err, sizeof err) == 0);
	CHECK_STR(a.cid, "web-7d4b9-x2x:nginx");
	CHECK_STR(b.cid, "web-7d4b9-x2x:sidecar");
	CHECK_STR(dim(&a, "pod_name"), "web-7d4b9-x2x");
	CHECK_STR(dim(&a, "namespace"), "prod");
	setenv("METRICSBUS_CONTAINER_NAME", "api", 1);
	CHECK(shim_identity_init(&a, NULL, NULL, NULL, "/usr/bin/nginx", 1, err, sizeof err) == 0);
	CHECK_STR(a.cid, "web-7d4b9-x2x:api");
	clear_env();
}

MB_TEST(identity_mesos_marathon_dims)
{
	struct shim_identity id;
	char err[256];
	clear_env();
	setenv("MESOS_TASK_ID", "web.1234", 1);
	setenv("MESOS_EXECUTOR_ID", "web.1234", 1);
	setenv("MESOS_FRAMEWORK_ID", "fw-0001", 1);
	setenv("MARATHON_APP_ID", "/group/web", 1);
	CHECK(shim_identity_init(&id, "c", NULL, NULL, NULL, 1, err, sizeof err) == 0);
	CHECK_STR(dim(&id, "task_id"), "web.1234");
	CHECK_STR(dim(&id, "executor_id"), "web.1234");
	CHECK_STR(dim(&id, "framework_id"), "fw-0001");
	CHECK_STR(dim(&id, "task_name"), "web.group"); /* Marathon: id.toHostname */
	CHECK_STR(dim(&id, "framework_name"), "marathon");
	clear_env();
}

MB_TEST(identity_dimension_flags)
{
	struct shim_identity id;
	char err[256];
	struct mb_strlist l = {0};
	clear_env();
	setenv("MESOS_TASK_ID", "from-env", 1);
	l.v[l.n++] = "task_id=from-flag";
	l.v[l.n++] = "team=core";
	l.v[l.n++] = "empty=";
	CHECK(shim_identity_init(&id, "c", &l, NULL, NULL, 1, err, sizeof err) == 0);
	CHECK_STR(dim(&id, "task_id"), "from-flag");
	CHECK_STR(dim(&id, "team"), "core");
	CHECK_STR(dim(&id, "empty"), "");
	l.v[l.n++] = "no-equals";
	CHECK(shim_identity_init(&id, "c", &l, NULL, NULL, 1, err, sizeof err) == MB_EINVAL);
	l.n--;
	l.v[l.n++] = "bad key=x";
	CHECK(shim_identity_init(&id, "c", &l, NULL, NULL, 1, err, sizeof err) == MB_EINVAL);
	clear_env();
}
