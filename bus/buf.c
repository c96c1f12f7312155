/* buf.c: growable byte buffers and the bump arena that decoded messages live in.
 * The arena hands out 16-byte aligned, zeroed memory from blocks; big requests get a block
 * of their own so that one huge string does not waste a block's tail. */
#include "mb.h"

#include <stdlib.h>
#include <string.h>

static int grow(struct mb_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *d = realloc(b->data, cap);
	if (!d)
		return MB_ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

int mb_buf_reserve(struct mb_buf *b, size_t n)
{
	if (n <= b->cap - b->len)
		return 0;
	if (n > SIZE_MAX - b->len)
		return MB_ENOMEM;
	return grow(b, b->len + n);
}

int mb_buf_append(struct mb_buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->len) {
		if (n > SIZE_MAX - b->len || grow(b, b->len + n) != 0)
			return MB_ENOMEM;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void mb_buf_reset(struct mb_buf *b)
{
	b->len = 0;
}

void mb_buf_free(struct mb_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

#define ARENA_BLOCK 8192
#define ARENA_ALIGN 16

struct mb_arena_block {
	struct mb_arena_block *next;
	size_t used, cap;
	_Alignas(ARENA_ALIGN) unsigned char mem[];
};

static struct mb_arena_block *block_new(size_t cap)
{
	if (cap > SIZE_MAX - sizeof(struct mb_arena_block))
		return NULL;
	struct mb_arena_block *b = malloc(sizeof *b + cap);
	if (!b)
		return NULL;
	b->next = NULL;
	b->used = 0;
	b->cap = cap;
	return b;
}

void *mb_arena_alloc(struct mb_arena *a, size_t n)
{
	if (n == 0)
		n = 1;
	if (n > SIZE_MAX - ARENA_ALIGN)
		return NULL;
	size_t rounded = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	struct mb_arena_block *h = a->head;
	if (h && h->cap - h->used >= rounded) {
		void *p = h->mem + h->used;
		h->used += rounded;
		memset(p, 0, n);
		return p;
	}
	if (rounded > ARENA_BLOCK / 4) {
		/* Its own block, linked behind the head so the head's free tail stays usable. */
		struct mb_arena_block *b = block_new(rounded);
		if (!b)
			return NULL;
		b->used = rounded;
		if (h) {
			b->next = h->next;
			h->next = b;
		} else {
			a->head = b;
		}
		memset(b->mem, 0, n);
		return b->mem;
	}
	struct mb_arena_block *b = block_new(ARENA_BLOCK);
	if (!b)
		return NULL;
	b->next = h;
	a->head = b;
	b->used = rounded;
	memset(b->mem, 0, n);
	return b->mem;
}

char *mb_arena_strndup(struct mb_arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	char *d = mb_arena_alloc(a, n + 1);
	if (!d)
		return NULL;
	if (n)
		memcpy(d, s, n);
	d[n] = 0;
	return d;
}

void mb_arena_free(struct mb_arena *a)
{
	struct mb_arena_block *b = a->head;
	while (b) {
		struct mb_arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
}
