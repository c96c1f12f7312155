/* bytes.h: the store's byte helpers (layer 0): big-endian integers in keys and records, so
 * that LMDB's byte order is numeric order. Inline, no state. */
#ifndef AGENT_BYTES_H
#define AGENT_BYTES_H

#include <stdint.h>

static inline uint64_t agent_be64(const void *vp)
{
	const uint8_t *p = vp;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static inline uint32_t agent_be32(const void *vp)
{
	const uint8_t *p = vp;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void agent_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline void agent_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
