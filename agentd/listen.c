/* listen.c: the half-open-peer watchdog: nng 1.5.2's ipc listener stops accepting for good
 * after a peer that closes before the handshake; notice it and listen again. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"

/* A healthy listener is also probed this often: the error count is a hint, the probe is the
 * proof, and a failure the count missed must not last. */
#define PROBE_EVERY_MS 5000
#define PROBE_TIMEOUT_MS 1000
#define PROBE_RETRY_MS 4000

static int listen_now(struct agent_listener *al)
{
	int rv = mb_listen(al->sock, al->url, al->recvmax, &al->l);
	if (rv != 0)
		return rv;
	al->have = true;
	al->errors = mb_listener_errors(al->l);
	return 0;
}

int agent_listener_start(struct agent_listener *al, nng_socket s, const char *url,
                         size_t recvmax, const char *what)
{
	memset(al, 0, sizeof *al);
	al->sock = s;
	snprintf(al->url, sizeof al->url, "%s", url);
	al->recvmax = recvmax;
	al->what = what;
	al->next_probe = mb_mono_ms() + PROBE_EVERY_MS;
	return listen_now(al);
}

/* nng 1.5.2 never finishes closing a listener stuck by a half-open peer: its listening fd
 * stays open, so every re-listen leaked one and dialers queued on it waited forever. Put
 * /dev/null in place of each listening socket still bound to path (dup2 keeps the number
 * valid for nng's own close later), which resets what is queued on it. */
static void release_stuck_fds(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	struct dirent *e;
	while (null >= 0 && (e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		struct sockaddr_un sa;
		socklen_t sl = sizeof sa;
		int acc = 0;
		socklen_t al = sizeof acc;
		if (fd <= 2 || fd == null || fd == dirfd(d))
			continue;
		memset(&sa, 0, sizeof sa);
		if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0 || sa.sun_family != AF_UNIX ||
		    strncmp(sa.sun_path, path, sizeof sa.sun_path) != 0)
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) != 0 || !acc)
			continue;
		dup3(null, fd, O_CLOEXEC);
	}
	if (null >= 0)
		close(null);
	closedir(d);
}

void agent_listener_watchdog(struct agent_listener *al)
{
	int64_t now = mb_mono_ms();
	if (!al->have) {
		if (listen_now(al) == 0)
			mb_log_info("%s: listening again on %s", al->what, al->url);
		return;
	}
	int64_t e = mb_listener_errors(al->l);
	bool rose = e > al->errors;
	if (e >= 0)
		al->errors = e;
	if (!rose && now < al->next_probe)
		return;
	al->next_probe = now + PROBE_EVERY_MS;
	int rv = mb_listener_probe(al->l, PROBE_TIMEOUT_MS);
	/* A busy machine can be slow to accept: only a second, longer miss condemns it
	 * (re-listening drops every connected peer's pipe). */
	if (rv == MB_EDOWN)
		rv = mb_listener_probe(al->l, PROBE_RETRY_MS);
	if (rv != MB_EDOWN)
		return;
	mb_log_warnx("%s: listener on %s stopped accepting (a peer closed before the handshake):"
	             " listening again",
	             al->what, al->url);
	nng_listener_close(al->l);
	al->have = false;
	if (agent_url_is_ipc(al->url)) {
		release_stuck_fds(al->url + 6);
		unlink(al->url + 6);
	}
	atomic_fetch_add_explicit(&agent_ctr.listener_restarts, 1, memory_order_relaxed);
	if (listen_now(al) != 0)
		mb_log_error("%s: cannot listen again on %s; retrying next tick", al->what,
		             al->url);
}

void agent_listener_close(struct agent_listener *al)
{
	if (al->have)
		nng_listener_close(al->l);
	al->have = false;
}
