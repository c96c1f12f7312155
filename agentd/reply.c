/* reply.c: the read side's error answer (layer 3): a status and a reason, in the reply's
 * arena. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "reply.h"

void agent_reply_err(struct mb_reply *r, uint32_t st, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	r->status = st;
	r->error = mb_arena_strndup(&r->arena, buf, strlen(buf));
	if (!r->error)
		r->error = "out of memory";
}
