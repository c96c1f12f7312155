/* errors.c: the text of the MB_E* codes.
 * Static strings so that any thread may log them without allocating. */
#include "mb.h"

const char *mb_strerror(int err)
{
	switch (err) {
	case MB_OK: return "ok";
	case MB_EINVAL: return "invalid input";
	case MB_ENOMEM: return "out of memory";
	case MB_ETOOBIG: return "too big";
	case MB_EVERSION: return "unsupported schema version";
	case MB_EDOWN: return "peer not connected";
	case MB_ETIMEDOUT: return "timed out";
	case MB_ENNG: return "nng error";
	case MB_ESYS: return "system error";
	default: return "unknown error";
	}
}
