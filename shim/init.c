/* init.c: the shim as its container's init: signal mask, fork/exec of COMMAND, forwarding,
 * reaping, subreaper and exit codes. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
#define NFWD ((int)(sizeof forwarded / sizeof forwarded[0]))

bool shim_init_forwarded(int sig)
{
	for (int i = 0; i < NFWD; i++)
		if (forwarded[i] == sig)
			return true;
	return false;
}

int shim_init_block_signals(sigset_t *set, sigset_t *old)
{
	sigemptyset(set);
	for (int i = 0; i < NFWD; i++)
		sigaddset(set, forwarded[i]);
	sigaddset(set, SIGCHLD);
	/* Before any thread exists (nng starts a dozen): every thread inherits this mask, so
	 * only the signalfd of the main thread ever sees these signals. */
	if (sigprocmask(SIG_BLOCK, set, old) != 0)
		return MB_ESYS;
	/* A write to a closed peer must be an error, not a death. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

void shim_init_subreaper(void)
{
	if (getpid() == 1)
		return;
	/* Orphans of the command are re-parented to us, so we reap them as PID 1 would. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
		mb_log_warn("cannot become a child subreaper");
}

int shim_init_exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

int shim_init_spawn(char *const argv[], const sigset_t *old, pid_t *pid, int *exit_code, char *err,
                    size_t errlen)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		*exit_code = 1;
		return MB_ESYS;
	}
	pid_t p = fork();
	if (p < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		*exit_code = 1;
		return MB_ESYS;
	}
	if (p == 0) {
		/* The child: only async-signal-safe calls from here to exec. */
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_DFL;
		for (int i = 0; i < NFWD; i++)
			sigaction(forwarded[i], &sa, NULL);
		sigaction(SIGCHLD, &sa, NULL);
		sigaction(SIGPIPE, &sa, NULL);
		sigprocmask(SIG_SETMASK, old, NULL);
		execvp(argv[0], argv);
		int e = errno;
		ssize_t w = write(pfd[1], &e, sizeof e);
		(void)w;
		_exit(e == ENOENT ? 127 : 126);
	}
	close(pfd[1]);
	int e = 0;
	ssize_t r;
	do {
		r = read(pfd[0], &e, sizeof e);
	} while (r < 0 && errno == EINTR);
	close(pfd[0]);
	*pid = p;
	if (r == (ssize_t)sizeof e) {
		/* exec failed: collect the child now so it never shows as a zombie */
		int st;
		while (waitpid(p, &st, 0) < 0 && errno == EINTR)
			;
		*exit_code = (e == ENOENT || e == ENOTDIR) ? 127 : 126;
		snprintf(err, errlen, "%s: %s", argv[0],
		         *exit_code == 127
		             ? "command not found"
		             : (e == EACCES ? "permission denied: not executable" : strerror(e)));
		return MB_ESYS;
	}
	return 0;
}

int shim_init_reap(pid_t child, bool *done, int *exit_code)
{
	int n = 0, st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		n++;
		if (child > 0 && p == child) {
			*done = true;
			*exit_code = shim_init_exit_code(st);
		}
	}
	return n;
}
