/* window.h: the store's window geometry (layer 1): per level, the ring of chunks and slots a
 * series' points go in, the slot layout of each kind, chunk keys, and the stored sketch codec.
 * Pure functions of the retention; no LMDB, no store. */
#ifndef AGENT_WINDOW_H
#define AGENT_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "bytes.h"
#include "mb.h"

/* Disk per series, per level (the bound the ring gives):
 *   ring_len  = (ceil(span/res / cps) + 1) * cps slots, cps = 64 for 8-byte slots, 32 for 40-byte
 *   chunks    = ring_len / cps, each a value of 8 + cps * slot_bytes plus LMDB's ~21 B of
 *               key and node header, inside B-tree leaf pages filled to 50..100%.
 *   counter, every level; gauge/resource/set at the finest: 8 B slots -> ~8.5 B/point + page
 *   slack; gauge/resource coarser, timers: 40 B slots; timers and sets add a sketch or HLL
 *   value per written slot in `sketch` (~100..1100 B). */

#define AGENT_CHUNK_HDR 8  /* absolute chunk number, u64 */
#define AGENT_KEY_LEN   13 /* level u8, ring chunk/slot u32 BE, series id u64 BE */

/* Slot layouts. */
enum { LAY_ONE = 0, LAY_GAUGE5 = 1, LAY_TIMER5 = 2, NLAYOUTS = 3 };
/* Field order of the 5-wide layouts. */
enum { G_LAST = 0, G_MIN, G_MAX, G_SUM, G_N };
enum { T_COUNT = 0, T_SUM, T_SUMSQ, T_MIN, T_MAX };

struct agent_geom {
	int64_t res_ms, span_ms;
	uint32_t cps[NLAYOUTS];     /* slots per chunk by layout */
	uint32_t nchunks[NLAYOUTS]; /* ring length / cps */
	uint64_t ring_slots;        /* span/res rounded up to 64 (used for the sketch ring) */
	/* The absolute slot the store was created at: ring chunk 0 starts there, so the first
	 * lap of every ring is written in key order (appends, full pages). */
	int64_t epoch_slot;
};

/* Fills g[0..n) from the levels (epoch_slot left 0). MB_EINVAL for a level without slots. */
int agent_geom_init(struct agent_geom *g, const struct mb_level *lv, int n);
int agent_layout(int kind, int level);
int agent_layout_width(int lay);
void agent_key(uint8_t *k, int level, uint32_t ring, uint64_t id);
/* Ring chunk of absolute chunk ac in a layout of a level's geometry. */
uint32_t agent_ring(const struct agent_geom *g, int lay, int64_t ac);
bool agent_slot_empty(const double *slot);
/* The one NaN pattern that marks an empty slot. */
double agent_nan(void);
/* Encodes a sketch into b (appends): MB_ENOMEM. Decodes: MB_EINVAL, MB_ENOMEM. */
int agent_sketch_enc(const struct mb_sketch *sk, struct mb_buf *b);
int agent_sketch_dec(const uint8_t *p, size_t n, struct mb_sketch *sk);

#endif
