/* peer_test.c: container identity from cgroup files (--verify-peer) and the socket lock. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "agentd.h"
#include "../tests/unit/mbtest.h"

MB_TEST(peer_cgroup_v2_paths)
{
	char id[256];
	CHECK_EQ_INT(agent_peer_id_from_cgroup("0::/mesos/0b1c2d3e-aaaa\n", id, sizeof id), 0);
	CHECK(strcmp(id, "0b1c2d3e-aaaa") == 0);
	CHECK_EQ_INT(agent_peer_id_from_cgroup(
	                 "0::/system.slice/docker-0123456789abcdef.scope\n", id, sizeof id),
	             0);
	CHECK(strcmp(id, "0123456789abcdef") == 0);
	CHECK_EQ_INT(agent_peer_id_from_cgroup("0::/kubepods.slice/kubepods-pod1.slice/"
	                                       "cri-containerd-feedbeef.scope", id, sizeof id),
	             0);
	CHECK(strcmp(id, "feedbeef") == 0);
	CHECK_EQ_INT(agent_peer_id_from_cgroup("0::/user.slice/session-3.scope\n", id, sizeof id),
	             0);
	CHECK(strcmp(id, "session-3.scope") == 0);
	CHECK_EQ_INT(agent_peer_id_from_cgroup("0::/a/b/\n", id, sizeof id), 0);
	CHECK(strcmp(id, "b") == 0);
}

MB_TEST(peer_cgroup_v1_and_root)
{
	char id[256];
	/* Hybrid: the unified line is the root, a v1 hierarchy names the container. */
	CHECK_EQ_INT(agent_peer_id_from_cgroup("9:name=systemd:/\n4:memory:/process_api/6fd0\n"
	                                       "0::/\n", id, sizeof id),
	             0);
	CHECK(strcmp(id, "6fd0") == 0);
	CHECK_EQ_INT(agent_peer_id_from_cgroup("0::/\n", id, sizeof id), 0);
	CHECK(strcmp(id, "host") == 0);
	CHECK(agent_peer_id_from_cgroup("", id, sizeof id) != 0);
	CHECK(agent_peer_id_from_cgroup("garbage without colons", id, sizeof id) != 0);
	/* A name must stay a valid schema name: no spaces. */
	CHECK_EQ_INT(agent_peer_id_from_cgroup("0::/x/we ird\n", id, sizeof id), 0);
	CHECK(strcmp(id, "we_ird") == 0);
}

MB_TEST(peer_of_this_process)
{
	char id[256], text[8192];
	CHECK_EQ_INT(agent_peer_id("/proc", (uint64_t)getpid(), id, sizeof id), 0);
	int fd = open("/proc/self/cgroup", O_RDONLY);
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	CHECK(n > 0);
	text[n > 0 ? n : 0] = 0;
	char want[256];
	CHECK_EQ_INT(agent_peer_id_from_cgroup(text, want, sizeof want), 0);
	CHECK(strcmp(id, want) == 0);
	CHECK(agent_peer_id("/proc", 999999999, id, sizeof id) != 0);
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
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0755);
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
