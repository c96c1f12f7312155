/* owner.h: the daemon's checks that nothing planted is followed (owner.c): the data, run and
 * backup directories agentd's own and closed to others, its files regular files of its own. */
#ifndef AGENT_OWNER_H
#define AGENT_OWNER_H

#include <stddef.h>

/* Each answers 0, or MB_EINVAL / MB_ESYS with err saying in one line what is wrong and how to
 * fix it. Start-up and the backup op. */
/* dir (named `what` in err) exists, is a directory owned by agentd's euid, not writable by
 * group or others; a symlink to it must be agentd's user's or root's. */
int agent_own_dir(const char *dir, const char *what, char *err, size_t errlen);
/* path is absent, or a regular file (not a symlink) owned by agentd's euid with one link. */
int agent_own_file(const char *path, char *err, size_t errlen);
/* The data directory: created (0750) if missing, then agent_own_dir, and its data.mdb and
 * lock.mdb agent_own_file, before LMDB opens them. */
int agent_own_store(const char *dir, char *err, size_t errlen);

#endif
