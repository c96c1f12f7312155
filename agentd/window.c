/* window.c: rolling-window geometry (layer 1): ring and chunk addressing per level, the slot
 * layout of each kind at each level, chunk keys, and the stored form of sketches. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

double agent_nan(void)
{
	/* One fixed quiet-NaN pattern marks an empty slot (stored values are always finite). */
	uint64_t bits = 0x7ff8000000000001ull;
	double d;
	memcpy(&d, &bits, sizeof d);
	return d;
}

bool agent_slot_empty(const double *slot)
{
	return isnan(slot[0]);
}

int agent_layout(int kind, int level)
{
	if (mb_kind_is_timer(kind))
		return LAY_TIMER5;
	if ((kind == MB_GAUGE || kind == MB_RESOURCE) && level > 0)
		return LAY_GAUGE5;
	return LAY_ONE;
}

int agent_layout_width(int lay)
{
	return lay == LAY_ONE ? 1 : 5;
}

int agent_geom_init(struct agent_geom *geom, const struct mb_level *lv, int n)
{
	for (int l = 0; l < n; l++) {
		struct agent_geom *g = &geom[l];
		g->res_ms = lv[l].res_ms;
		g->span_ms = lv[l].span_ms;
		if (g->res_ms <= 0 || g->span_ms < g->res_ms)
			return MB_EINVAL;
		uint64_t slots = (uint64_t)(g->span_ms / g->res_ms);
		/* 64 x 8-byte slots stay under LMDB's ~2 KiB inline value limit; 5-wide slots
		 * take 32 (1288 B) for the same reason (overflow pages are rewritten whole). */
		for (int lay = 0; lay < NLAYOUTS; lay++) {
			uint32_t cps = agent_layout_width(lay) == 1 ? 64 : 32;
			g->cps[lay] = cps;
			/* One chunk more than the span needs: the current chunk is reset for its
			 * new lap at once, so the ring always keeps the whole span behind it. */
			g->nchunks[lay] = (uint32_t)((slots + cps - 1) / cps + 1);
		}
		g->ring_slots = (uint64_t)g->nchunks[LAY_ONE] * 64;
	}
	return 0;
}

void agent_key(uint8_t *k, int level, uint32_t ring, uint64_t id)
{
	k[0] = (uint8_t)level;
	agent_put_be32(k + 1, ring);
	agent_put_be64(k + 5, id);
}

uint32_t agent_ring(const struct agent_geom *g, int lay, int64_t ac)
{
	int64_t n = g->nchunks[lay];
	int64_t r = (ac - g->epoch_slot / g->cps[lay]) % n;
	return (uint32_t)(r < 0 ? r + n : r);
}

static int put_varint(struct mb_buf *b, uint64_t v)
{
	uint8_t t[10];
	int n = 0;
	while (v >= 0x80) {
		t[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	t[n++] = (uint8_t)v;
	return mb_buf_append(b, t, (size_t)n);
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (int sh = 0; sh < 64; sh += 7) {
		if (*p >= end)
			return MB_EINVAL;
		uint8_t c = *(*p)++;
		x |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return MB_EINVAL;
}

/* Stored sketch: zero varint, pos_lo, pos_n, neg_lo, neg_n as varints (lo zigzag), then the
 * dense counts as varints. Dense and varint: a timer's bins are mostly small counts. */
int agent_sketch_enc(const struct mb_sketch *sk, struct mb_buf *b)
{
	int rv;
	uint32_t pn = sk->pos ? sk->pos_n : 0, nn = sk->neg ? sk->neg_n : 0;
	uint64_t zp = ((uint64_t)(int64_t)sk->pos_lo << 1) ^ (uint64_t)((int64_t)sk->pos_lo >> 63);
	uint64_t zn = ((uint64_t)(int64_t)sk->neg_lo << 1) ^ (uint64_t)((int64_t)sk->neg_lo >> 63);
	if ((rv = put_varint(b, sk->zero)) != 0 || (rv = put_varint(b, zp)) != 0 ||
	    (rv = put_varint(b, pn)) != 0 || (rv = put_varint(b, zn)) != 0 ||
	    (rv = put_varint(b, nn)) != 0)
		return rv;
	for (uint32_t i = 0; i < pn; i++)
		if ((rv = put_varint(b, sk->pos[i])) != 0)
			return rv;
	for (uint32_t i = 0; i < nn; i++)
		if ((rv = put_varint(b, sk->neg[i])) != 0)
			return rv;
	return 0;
}

static int64_t unzig(uint64_t v)
{
	return (int64_t)((v >> 1) ^ (0 - (v & 1)));
}

int agent_sketch_dec(const uint8_t *p, size_t n, struct mb_sketch *sk)
{
	const uint8_t *end = p + n;
	uint64_t zero, zp, pn, zn, nn;
	memset(sk, 0, sizeof *sk);
	if (get_varint(&p, end, &zero) || get_varint(&p, end, &zp) || get_varint(&p, end, &pn) ||
	    get_varint(&p, end, &zn) || get_varint(&p, end, &nn))
		return MB_EINVAL;
	if (pn > MB_SKETCH_MAX_BINS || nn > MB_SKETCH_MAX_BINS)
		return MB_EINVAL;
	sk->zero = zero;
	sk->pos_lo = (int32_t)unzig(zp);
	sk->neg_lo = (int32_t)unzig(zn);
	if (pn) {
		if (!(sk->pos = calloc(pn, sizeof *sk->pos)))
			return MB_ENOMEM;
		sk->pos_n = (uint32_t)pn;
		for (uint64_t i = 0; i < pn; i++)
			if (get_varint(&p, end, &sk->pos[i]))
				goto bad;
	}
	if (nn) {
		if (!(sk->neg = calloc(nn, sizeof *sk->neg)))
			goto nomem;
		sk->neg_n = (uint32_t)nn;
		for (uint64_t i = 0; i < nn; i++)
			if (get_varint(&p, end, &sk->neg[i]))
				goto bad;
	}
	return 0;
bad:
	mb_sketch_free(sk);
	memset(sk, 0, sizeof *sk);
	return MB_EINVAL;
nomem:
	mb_sketch_free(sk);
	memset(sk, 0, sizeof *sk);
	return MB_ENOMEM;
}
