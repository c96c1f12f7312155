/* peer_test.c: container identity from cgroup files (--verify-peer) and the socket lock. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "agentd.h"
#include "../tests/unit/mbtest.h"

static char why[256];

static const char *pid_of(const struct agent_peer_maps *m, const char *text)
{
	static char id[256];
	if (agent_peer_id_from_cgroup(m, text, id, sizeof id, why, sizeof why) != 0)
		return NULL;
	return id;
}

static bool is(const char *got, const char *want)
{
	if (!got || !want)
		return got == want;
	return strcmp(got, want) == 0;
}

MB_TEST(peer_runtime_layouts)
{
	CHECK(is(pid_of(NULL, "0::/mesos/0b1c2d3e-aaaa\n"), "0b1c2d3e-aaaa"));
	CHECK(is(pid_of(NULL, "0::/docker/0123abcd\n"), "0123abcd"));
	CHECK(is(pid_of(NULL, "0::/system.slice/docker-0123456789abcdef.scope\n"),
	         "0123456789abcdef"));
	CHECK(is(pid_of(NULL, "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-feedbeef.scope"),
	         "feedbeef"));
	CHECK(is(pid_of(NULL, "0::/kubepods.slice/kubepods-burstable.slice/"
	                      "kubepods-burstable-pod12_34.slice/crio-c0ffee.scope\n"),
	         "c0ffee"));
	CHECK(is(pid_of(NULL, "0::/kubepods/besteffort/pod1234/abcdef\n"), "abcdef"));
	CHECK(is(pid_of(NULL, "0::/kubepods/pod1234/abcdef\n"), "abcdef"));
	CHECK(is(pid_of(NULL, "0::/machine.slice/systemd-nspawn@my\\x2dbox.service/payload\n"),
	         "my-box"));
	CHECK(is(pid_of(NULL, "0::/machine.slice/machine-web\\x2d1.scope\n"), "web-1"));
	CHECK(is(pid_of(NULL, "0::/machine.slice/libpod-77aa.scope/container\n"), "77aa"));
	CHECK(is(pid_of(NULL, "0::/lxc.payload.c1/init.scope\n"), "c1"));
	/* a pod's own cgroup is not a container */
	CHECK(pid_of(NULL, "0::/kubepods/pod1234\n") == NULL);
}

MB_TEST(peer_children_a_container_creates_change_nothing)
{
	/* The attacks: a container that creates cgroups under its own, named as another
	 * container, as the node, or as a whole runtime layout. */
	CHECK(is(pid_of(NULL, "0::/mesos/sec-a/sec-b\n"), "sec-a"));
	CHECK(is(pid_of(NULL, "0::/mesos/sec-a/node\n"), "sec-a"));
	CHECK(is(pid_of(NULL, "0::/mesos/sec-a/mesos/sec-b\n"), "sec-a"));
	CHECK(is(pid_of(NULL, "0::/system.slice/docker-aa.scope/docker-bb.scope\n"), "aa"));
	CHECK(is(pid_of(NULL, "0::/system.slice/app.service/mesos/sec-b\n"), "app"));
	/* not anchored at the root: no layout */
	CHECK(pid_of(NULL, "0::/user.slice/user-1000.slice/mesos/sec-b\n") == NULL);
	CHECK(strstr(why, "matches no container layout") != NULL);
}

MB_TEST(peer_v1_hybrid_and_host)
{
	/* DC/OS agents: cgroup v1, Mesos under /mesos/ID in each hierarchy it manages. */
	CHECK(is(pid_of(NULL, "11:pids:/mesos/c1\n4:memory:/mesos/c1\n1:name=systemd:"
	                      "/mesos_executors.slice\n"),
	         "c1"));
	/* Hybrid (v1 controllers, v2 at .../unified): Docker names itself in both. */
	CHECK(is(pid_of(NULL, "4:memory:/docker/d1\n0::/system.slice/docker-d1.scope\n"), "d1"));
	/* Hybrid, this test machine: the unified root decides, a foreign v1 path is not a
	 * container. */
	CHECK(is(pid_of(NULL, "9:name=systemd:/\n4:memory:/process_api/6fd0\n0::/\n"), "host"));
	CHECK(is(pid_of(NULL, "0::/\n"), "host"));
	CHECK(is(pid_of(NULL, "0::/system.slice/statsd\\x2drelay.service\n"), "statsd-relay"));
	/* Two hierarchies naming two containers: refused, never one of them. */
	CHECK(pid_of(NULL, "4:memory:/mesos/a\n0::/mesos/b\n") == NULL);
	CHECK(strstr(why, "two containers") != NULL);
	CHECK(pid_of(NULL, "0::/user.slice/user-0.slice/session-3.scope\n") == NULL);
	CHECK(pid_of(NULL, "") == NULL);
	CHECK(pid_of(NULL, "garbage without colons") == NULL);
	/* A name that is not a schema name is refused, not mangled into another's. */
	CHECK(pid_of(NULL, "0::/mesos/we ird\n") == NULL);
}

MB_TEST(peer_operator_maps)
{
	struct agent_peer_maps m = {0};
	char err[256];
	CHECK_EQ_INT(agent_peer_map_add(&m, "/user.slice=users", err, sizeof err), 0);
	CHECK_EQ_INT(agent_peer_map_add(&m, "/custom/*", err, sizeof err), 0);
	CHECK(agent_peer_map_add(&m, "relative=x", err, sizeof err) != 0);
	CHECK(agent_peer_map_add(&m, "/x", err, sizeof err) != 0);
	CHECK(agent_peer_map_add(&m, "/x=bad id", err, sizeof err) != 0);
	CHECK(is(pid_of(&m, "0::/user.slice/user-0.slice/session-3.scope\n"), "users"));
	CHECK(is(pid_of(&m, "0::/custom/job7/sub\n"), "job7"));
	CHECK(pid_of(&m, "0::/custom\n") == NULL);
	CHECK(pid_of(&m, "0::/customer/x\n") == NULL);
}

MB_TEST(peer_of_this_process)
{
	char id[256], text[8192];
	int rv = agent_peer_id(NULL, "/proc", (uint64_t)getpid(), id, sizeof id, why, sizeof why);
	int fd = open("/proc/self/cgroup", O_RDONLY);
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	CHECK(n > 0);
	text[n > 0 ? n : 0] = 0;
	const char *want = pid_of(NULL, text);
	CHECK(rv == 0 ? is(id, want) : want == NULL);
	CHECK(agent_peer_id(NULL, "/proc", 999999999, id, sizeof id, why, sizeof why) != 0);
	CHECK(strstr(why, "gone") != NULL);
	CHECK(agent_peer_id(NULL, "/proc", 0, id, sizeof id, why, sizeof why) != 0);
	CHECK(strstr(why, "PID namespace") != NULL);
}

MB_TEST(peer_table_verdicts)
{
	struct agent_peer_table *t = NULL;
	char out[256];
	CHECK_EQ_INT(agent_peer_table_new(&t), 0);
	for (uint32_t i = 1; i <= 200; i++)
		CHECK_EQ_INT(agent_peer_table_put(t, i, i % 2, i % 2 ? "ok-id" : "gone"), 0);
	CHECK_EQ_INT(agent_peer_table_get(t, 7, out, sizeof out), 0);
	CHECK(strcmp(out, "ok-id") == 0);
	CHECK_EQ_INT(agent_peer_table_get(t, 8, out, sizeof out), MB_EINVAL);
	CHECK(strcmp(out, "gone") == 0);
	agent_peer_table_del(t, 7);
	CHECK_EQ_INT(agent_peer_table_get(t, 7, out, sizeof out), MB_EDOWN);
	CHECK_EQ_INT(agent_peer_table_get(t, 9, out, sizeof out), 0);
	agent_peer_table_free(t);
}

MB_TEST(lock_second_owner_refused_and_stale_socket_removed)
{
	char url[512], sock[400], err[512];
	snprintf(sock, sizeof sock, "%s/run/sub/ingest.sock", mbt_tmpdir());
	snprintf(url, sizeof url, "ipc://%s", sock);
	struct agent_lock *a = NULL, *b = NULL;
	CHECK_EQ_INT(agent_lock_url(url, &a, err, sizeof err), 0);
	struct stat st;
	char dir[400];
	snprintf(dir, sizeof dir, "%s/run/sub", mbt_tmpdir());
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0750);
	/* a stale socket file left by a dead agentd */
	int fd = open(sock, O_CREAT | O_WRONLY, 0600);
	close(fd);
	/* flock is per open file: a second open in this process is a second owner. */
	CHECK_EQ_INT(agent_lock_url(url, &b, err, sizeof err), MB_EINVAL);
	CHECK(strstr(err, "another metricsbus-agentd owns") != NULL);
	CHECK(access(sock, F_OK) == 0); /* the refused one touched nothing */
	agent_lock_release(a);
	CHECK_EQ_INT(agent_lock_url(url, &b, err, sizeof err), 0);
	CHECK(access(sock, F_OK) != 0 && errno == ENOENT);
	agent_lock_release(b);
	CHECK_EQ_INT(agent_lock_url("tcp://127.0.0.1:1", &a, err, sizeof err), 0);
	CHECK(a == NULL);
	CHECK(agent_url_is_ipc("ipc:///x") && !agent_url_is_ipc("tcp://x:1"));
}
