/* reply.h: the read side's error answer (layer 3): status and reason into a reply, shared by
 * query.c, range.c and backup.c. */
#ifndef AGENT_REPLY_H
#define AGENT_REPLY_H

#include "mb.h"

/* r->status = st, r->error = the formatted reason (in r->arena; "out of memory" if it
 * cannot be copied). */
void agent_reply_err(struct mb_reply *r, uint32_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
