/* notify_test.c: mb_notify against a real unix datagram socket (path and abstract name),
 * and mb_watchdog_ms's reading of WATCHDOG_USEC / WATCHDOG_PID. */
#include "mb.h"
#include "../tests/unit/mbtest.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int recv_state(int fd, char *buf, size_t n)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 2000) != 1)
		return -1;
	ssize_t r = recv(fd, buf, n - 1, 0);
	if (r < 0)
		return -1;
	buf[r] = 0;
	return 0;
}

MB_TEST(notify_sends_to_a_path_socket)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s/notify", mbt_tmpdir());
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK_EQ_INT(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	CHECK_EQ_INT(mb_notify("READY=1"), 0);
	char buf[64];
	CHECK_EQ_INT(recv_state(fd, buf, sizeof buf), 0);
	CHECK_STR(buf, "READY=1");
	CHECK_EQ_INT(mb_notify("STOPPING=1"), 0);
	CHECK_EQ_INT(recv_state(fd, buf, sizeof buf), 0);
	CHECK_STR(buf, "STOPPING=1");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

MB_TEST(notify_sends_to_an_abstract_socket)
{
	char name[64];
	int len = snprintf(name, sizeof name, "@mbtest-notify-%d", (int)getpid());
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, name, (size_t)len);
	sa.sun_path[0] = 0;
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK_EQ_INT(bind(fd, (struct sockaddr *)&sa,
	                  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)len)),
	             0);
	setenv("NOTIFY_SOCKET", name, 1);
	CHECK_EQ_INT(mb_notify("WATCHDOG=1"), 0);
	char buf[64];
	CHECK_EQ_INT(recv_state(fd, buf, sizeof buf), 0);
	CHECK_STR(buf, "WATCHDOG=1");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

MB_TEST(notify_without_systemd_and_errors)
{
	unsetenv("NOTIFY_SOCKET");
	CHECK_EQ_INT(mb_notify("READY=1"), 0);
	char path[300];
	snprintf(path, sizeof path, "%s/nobody-listens", mbt_tmpdir());
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK_EQ_INT(mb_notify("READY=1"), MB_ESYS);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	CHECK_EQ_INT(mb_notify("READY=1"), MB_ESYS);
	unsetenv("NOTIFY_SOCKET");
}

MB_TEST(watchdog_interval_for_this_pid)
{
	char pid[32];
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	CHECK_EQ_INT(mb_watchdog_ms(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	CHECK_EQ_INT(mb_watchdog_ms(), 30000);
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	CHECK_EQ_INT(mb_watchdog_ms(), 30000);
	snprintf(pid, sizeof pid, "%d", (int)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	CHECK_EQ_INT(mb_watchdog_ms(), 0); /* meant for another process */
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "1500", 1);
	CHECK_EQ_INT(mb_watchdog_ms(), 2);
	setenv("WATCHDOG_USEC", "junk", 1);
	CHECK_EQ_INT(mb_watchdog_ms(), 0);
	setenv("WATCHDOG_USEC", "-5", 1);
	CHECK_EQ_INT(mb_watchdog_ms(), 0);
	unsetenv("WATCHDOG_USEC");
}
