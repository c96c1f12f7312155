/* sort.c: the write side's stable sort by a 64-bit key (layer 5, writer thread): a radix sort
 * of (key, index) pairs over the bytes where the keys differ, then the elements moved once. */
#include <stdlib.h>
#include <string.h>

#include "wbuf.h"

struct agent_rkey {
	uint64_t k;
	uint32_t i;
};

void agent_sortbuf_free(struct agent_sortbuf *sb)
{
	free(sb->a);
	free(sb->tmp);
	memset(sb, 0, sizeof *sb);
}

static int reserve(struct agent_sortbuf *sb, size_t n, size_t bytes)
{
	/* a and, after its n pairs, b: one allocation of 2n */
	if (mb_grow(&sb->a, &sb->cap, 2 * n, sizeof *sb->a, 1024) != 0 ||
	    mb_grow(&sb->tmp, &sb->captmp, bytes, 1, 16384) != 0)
		return MB_ENOMEM;
	return 0;
}

int agent_sort_keyed(void *base, size_t n, size_t sz, const uint64_t *key,
                     struct agent_sortbuf *sb)
{
	if (n < 2)
		return 0;
	if (n > UINT32_MAX || reserve(sb, n, n * sz) != 0)
		return MB_ENOMEM;
	struct agent_rkey *a = sb->a, *b = sb->a + n;
	uint64_t diff = 0;
	for (size_t i = 0; i < n; i++) {
		a[i].k = key[i];
		a[i].i = (uint32_t)i;
		diff |= key[i] ^ key[0];
	}
	size_t cnt[256];
	for (int sh = 0; sh < 64; sh += 8) {
		if (!((diff >> sh) & 0xff))
			continue; /* every key has the same byte here */
		memset(cnt, 0, sizeof cnt);
		for (size_t i = 0; i < n; i++)
			cnt[(a[i].k >> sh) & 0xff]++;
		size_t at = 0;
		for (int d = 0; d < 256; d++) {
			size_t c = cnt[d];
			cnt[d] = at;
			at += c;
		}
		for (size_t i = 0; i < n; i++)
			b[cnt[(a[i].k >> sh) & 0xff]++] = a[i];
		struct agent_rkey *t = a;
		a = b;
		b = t;
	}
	uint8_t *tmp = sb->tmp;
	const uint8_t *src = base;
	for (size_t i = 0; i < n; i++)
		memcpy(tmp + i * sz, src + (size_t)a[i].i * sz, sz);
	memcpy(base, tmp, n * sz);
	return 0;
}
