/* fuzz_cgroup.c: --verify-peer's container id from any /proc/PID/cgroup text: never past the
 * buffer, and what it returns is always a valid schema name. */
#include "mb.h"
#include "../../agentd/agentd.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	char *text = malloc(n + 1);
	char id[MB_MAX_NAME + 1], why[128];
	if (!text)
		return 0;
	memcpy(text, p, n);
	text[n] = 0;
	/* a small buffer too: truncation must stay inside it */
	size_t sizes[2] = {sizeof id, 5};
	for (int k = 0; k < 2; k++) {
		memset(id, 'Z', sizeof id);
		if (agent_peer_id_from_cgroup(NULL, text, id, sizes[k], why, sizeof why) != 0)
			continue;
		size_t len = strnlen(id, sizes[k]);
		if (len == 0 || len >= sizes[k])
			abort();
		for (size_t i = 0; i < len; i++)
			if (id[i] < 0x21 || id[i] > 0x7e)
				abort();
	}
	free(text);
	return 0;
}
