/* guard.c: a deadline for a whole request's headers: libmicrohttpd's timeout is an idle one,
 * reset by every byte, so a client that trickles a header byte a second is never cut. */
#include <microhttpd.h> /* before api.h: its MHD callbacks */
#include "api.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

struct guard_conn {
	struct guard_conn *prev, *next;
	int fd;
	int64_t since_ms; /* when this request's headers began (connect, or the last answer) */
	bool in_request;  /* headers complete: the deadline no longer applies */
	bool cut;
};

struct api_guard {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thr;
	bool stop, running;
	int64_t deadline_ms;
	struct guard_conn head; /* circular list */
	atomic_uint_fast64_t cut_total;
};

static void *reaper(void *arg)
{
	struct api_guard *g = arg;
	pthread_mutex_lock(&g->mu);
	while (!g->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g->cv, &g->mu, &ts);
		int64_t now = mb_mono_ms();
		for (struct guard_conn *c = g->head.next; c != &g->head; c = c->next) {
			if (c->in_request || c->cut || now - c->since_ms < g->deadline_ms)
				continue;
			/* shutdown, not close: the descriptor stays libmicrohttpd's (it is closed only
			 * after the CLOSED notice, which waits for this lock), and its next read sees
			 * the end and closes the connection its own way. */
			shutdown(c->fd, SHUT_RDWR);
			c->cut = true;
			atomic_fetch_add_explicit(&g->cut_total, 1, memory_order_relaxed);
		}
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

int api_guard_new(int64_t deadline_ms, struct api_guard **out)
{
	struct api_guard *g = calloc(1, sizeof *g);
	if (!g)
		return MB_ENOMEM;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->deadline_ms = deadline_ms;
	g->head.next = g->head.prev = &g->head;
	if (pthread_create(&g->thr, NULL, reaper, g) != 0) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		free(g);
		return MB_ESYS;
	}
	g->running = true;
	*out = g;
	return 0;
}

void api_guard_free(struct api_guard *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	g->stop = true;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	if (g->running)
		pthread_join(g->thr, NULL);
	while (g->head.next != &g->head) {
		struct guard_conn *c = g->head.next;
		c->prev->next = c->next;
		c->next->prev = c->prev;
		free(c);
	}
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

void api_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe)
{
	struct api_guard *g = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct guard_conn *c = calloc(1, sizeof *c);
		if (!c || !ci) {
			free(c);
			*socket_context = NULL; /* out of memory: only the idle timeout applies */
			return;
		}
		c->fd = ci->connect_fd;
		c->since_ms = mb_mono_ms();
		pthread_mutex_lock(&g->mu);
		c->next = &g->head;
		c->prev = g->head.prev;
		g->head.prev->next = c;
		g->head.prev = c;
		pthread_mutex_unlock(&g->mu);
		*socket_context = c;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
		struct guard_conn *c = *socket_context;
		pthread_mutex_lock(&g->mu);
		c->prev->next = c->next;
		c->next->prev = c->prev;
		pthread_mutex_unlock(&g->mu);
		free(c);
		*socket_context = NULL;
	}
}

static struct guard_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

void api_guard_headers_done(struct api_guard *g, struct MHD_Connection *conn)
{
	struct guard_conn *c = conn_of(conn);
	if (!c)
		return;
	pthread_mutex_lock(&g->mu);
	c->in_request = true;
	pthread_mutex_unlock(&g->mu);
}

void api_guard_request_done(struct api_guard *g, struct MHD_Connection *conn)
{
	struct guard_conn *c = conn_of(conn);
	if (!c)
		return;
	pthread_mutex_lock(&g->mu);
	c->in_request = false;
	c->since_ms = mb_mono_ms(); /* keep-alive: the next request's headers start now */
	pthread_mutex_unlock(&g->mu);
}

uint64_t api_guard_cut(struct api_guard *g)
{
	return g ? atomic_load(&g->cut_total) : 0;
}
