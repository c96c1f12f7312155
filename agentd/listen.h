/* listen.h: a listener that heals itself: the half-open-peer watchdog shared by the ingest
 * and query services (docs/dependencies.md, known library problems). */
#ifndef AGENT_LISTEN_H
#define AGENT_LISTEN_H

#include <nng/nng.h>

#include "agentd.h"

struct agent_listener {
	nng_socket sock;
	nng_listener l;
	bool have;
	char url[512];
	size_t recvmax;
	const char *what; /* "ingest", "query": for the log */
	int64_t errors;   /* mb_listener_errors at the last look */
	int64_t next_probe;
};

/* Listens on url (mb_listen: receive limit, ipc 0660). MB_ENNG. Main thread. */
int agent_listener_start(struct agent_listener *al, nng_socket s, const char *url,
                         size_t recvmax, const char *what);
/* Main thread, every tick: when the listener's accept errors rose, or every few seconds
 * anyway, probes it with a real connection; a listener that does not accept is closed, its
 * ipc path removed (we hold its lock), and a new one started. Dialers reconnect on their own. */
void agent_listener_watchdog(struct agent_listener *al);
void agent_listener_close(struct agent_listener *al);

#endif
