/* agg.c: per-interval aggregation of statsd lines into series keyed by kind + name + sorted
 * tags (bus/'s mb_htab over a word-at-a-time hash), and the records each flush sends. */
#include "shim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A set's exact members of the interval: their 64-bit hashes (a collision between two of at
 * most SHIM_SET_EXACT_MAX members is ~2^-40 likely), then the HyperLogLog estimate past it. */
struct set_state {
	struct mb_hll hll;
	uint32_t n, cap; /* cap: power of two, table kept at most half full */
	bool overflow;
	uint64_t *h; /* 0 = empty slot */
};

struct timer_state {
	double count, sum, sumsq, min, max;
	uint32_t bins; /* pos_n + neg_n as last accounted */
	struct mb_sketch sk;
};

struct series {
	uint64_t hash;
	int64_t last_ms; /* monotonic time of the last line */
	uint32_t keylen;
	uint8_t kind;
	uint8_t ntags;
	bool dirty; /* had a line this interval */
	double v;   /* counter sum, gauge value */
	union {
		struct set_state *set;
		struct timer_state *t;
	} u;
	/* kind byte, name NUL, then key NUL value NUL per tag: the strings of the records */
	char key[];
};

#define KEYBUF (1 + MB_MAX_NAME + 1 + MB_MAX_TAGS * (MB_MAX_TAG_KEY + MB_MAX_TAG_VAL + 2))

struct shim_agg {
	struct series **all;
	size_t n, cap;
	struct mb_htab tab; /* series hash -> index into all */
	struct shim_stats stats;
	size_t bytes; /* what the series hold, accounted against SHIM_MAX_BYTES */
	unsigned styles;
	char keybuf[KEYBUF];
};

/* Eight bytes per step: the byte-at-a-time FNV-1a it replaced was half of the series
 * lookup's cost. Each word goes through a 64x64->128 multiply folded to 64 bits (wyhash's
 * mix), so every input bit reaches the low bits that pick the slot. */
#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 u128;
static inline uint64_t mix(uint64_t a, uint64_t b)
{
	u128 r = (u128)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}
#else
static inline uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t r = a * b;
	r ^= r >> 32;
	return r * 0x9fb21c651e98df25ull ^ (b >> 29);
}
#endif

uint64_t shim_agg_key_hash(const char *p, size_t n)
{
	const uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull;
	uint64_t h = 0x8ebc6af09c88c6e3ull ^ n;
	uint64_t w;
	for (; n >= 8; n -= 8, p += 8) {
		memcpy(&w, p, 8);
		h = mix(w ^ k0, h ^ k1);
	}
	/* The tail zero-padded; the length in the seed tells "a" from "a\0". */
	w = 0;
	memcpy(&w, p, n);
	h = mix(w ^ k0, h ^ k1);
	return mix(h, k0 ^ 0x589965cc75374cc3ull);
}

int shim_agg_new(struct shim_agg **out)
{
	struct shim_agg *a = calloc(1, sizeof *a);
	if (!a)
		return MB_ENOMEM;
	a->styles = SHIM_STYLE_ALL;
	if (mb_htab_reserve(&a->tab, 128) != 0) {
		free(a);
		return MB_ENOMEM;
	}
	*out = a;
	return 0;
}

void shim_agg_set_styles(struct shim_agg *a, unsigned styles)
{
	a->styles = styles;
}

static size_t series_bytes(const struct series *s)
{
	size_t b = sizeof *s + s->keylen + 2 * sizeof(struct mb_hslot) + sizeof(void *);
	if (s->kind == MB_SET && s->u.set)
		b += sizeof *s->u.set + s->u.set->cap * sizeof(uint64_t);
	else if (mb_kind_is_timer(s->kind) && s->u.t)
		b += sizeof *s->u.t + s->u.t->bins * sizeof(uint64_t);
	return b;
}

static void series_free(struct series *s)
{
	if (s->kind == MB_SET && s->u.set) {
		free(s->u.set->h);
		free(s->u.set);
	} else if (mb_kind_is_timer(s->kind) && s->u.t) {
		mb_sketch_free(&s->u.t->sk);
		free(s->u.t);
	}
	free(s);
}

void shim_agg_free(struct shim_agg *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		series_free(a->all[i]);
	free(a->all);
	mb_htab_free(&a->tab);
	free(a);
}

struct shim_stats *shim_agg_stats(struct shim_agg *a)
{
	return &a->stats;
}

size_t shim_agg_nseries(const struct shim_agg *a)
{
	return a->n;
}

size_t shim_agg_bytes(const struct shim_agg *a)
{
	return a->bytes;
}

/* The canonical key of a line into a->keybuf; returns its length. */
static size_t make_key(struct shim_agg *a, const struct shim_line *l)
{
	char *k = a->keybuf;
	size_t n = 0;
	k[n++] = (char)l->kind;
	memcpy(k + n, l->name, l->namelen);
	n += l->namelen;
	k[n++] = 0;
	for (int i = 0; i < l->ntags; i++) {
		memcpy(k + n, l->tags[i].key, l->tags[i].klen);
		n += l->tags[i].klen;
		k[n++] = 0;
		memcpy(k + n, l->tags[i].val, l->tags[i].vlen);
		n += l->tags[i].vlen;
		k[n++] = 0;
	}
	return n;
}

static struct series *lookup(struct shim_agg *a, const struct shim_line *l, int *rv)
{
	size_t klen = make_key(a, l);
	uint64_t h = shim_agg_key_hash(a->keybuf, klen);
	uint32_t pos = MB_HTAB_START, idx;

	*rv = 0;
	while (mb_htab_next(&a->tab, h, &pos, &idx)) {
		struct series *s = a->all[idx];
		if (s->hash == h && s->keylen == klen && memcmp(s->key, a->keybuf, klen) == 0)
			return s;
	}
	if (a->n >= SHIM_MAX_SERIES || a->bytes >= SHIM_MAX_BYTES) {
		*rv = MB_ETOOBIG;
		return NULL;
	}
	if (mb_grow(&a->all, &a->cap, a->n + 1, sizeof *a->all, 64) != 0)
		goto nomem;
	struct series *s = calloc(1, sizeof *s + klen);
	if (!s)
		goto nomem;
	s->hash = h;
	s->keylen = (uint32_t)klen;
	s->kind = l->kind;
	s->ntags = (uint8_t)l->ntags;
	memcpy(s->key, a->keybuf, klen);
	if (l->kind == MB_SET) {
		s->u.set = calloc(1, sizeof *s->u.set);
		if (!s->u.set) {
			free(s);
			goto nomem;
		}
	} else if (mb_kind_is_timer(l->kind)) {
		s->u.t = calloc(1, sizeof *s->u.t);
		if (!s->u.t) {
			free(s);
			goto nomem;
		}
	}
	if (mb_htab_insert(&a->tab, h, (uint32_t)a->n) != 0) {
		series_free(s);
		goto nomem;
	}
	a->all[a->n++] = s;
	a->bytes += series_bytes(s);
	return s;
nomem:
	*rv = MB_ENOMEM;
	return NULL;
}

static int set_add(struct shim_agg *a, struct set_state *st, const char *m, size_t n)
{
	uint64_t h = mb_hash64(m, n);
	mb_hll_add_hash(&st->hll, h);
	if (st->overflow)
		return 0;
	if (h == 0)
		h = 1;
	if ((st->n + 1) * 2 > st->cap) {
		if (st->n >= SHIM_SET_EXACT_MAX || a->bytes >= SHIM_MAX_BYTES) {
			st->overflow = true;
			return 0;
		}
		uint32_t nc = st->cap ? st->cap * 2 : 16;
		uint64_t *nh = calloc(nc, sizeof *nh);
		if (!nh)
			return MB_ENOMEM;
		for (uint32_t i = 0; i < st->cap; i++) {
			if (!st->h[i])
				continue;
			uint32_t j = (uint32_t)st->h[i] & (nc - 1);
			while (nh[j])
				j = (j + 1) & (nc - 1);
			nh[j] = st->h[i];
		}
		free(st->h);
		a->bytes += (size_t)(nc - st->cap) * sizeof *nh;
		st->h = nh;
		st->cap = nc;
	}
	uint32_t j = (uint32_t)h & (st->cap - 1);
	while (st->h[j]) {
		if (st->h[j] == h)
			return 0;
		j = (j + 1) & (st->cap - 1);
	}
	st->h[j] = h;
	st->n++;
	return 0;
}

static int timer_add(struct shim_agg *a, struct timer_state *t, double v, double inv);

static bool sketch_covers(const struct mb_sketch *sk, double v)
{
	double av = fabs(v);
	if (av < MB_SKETCH_MIN_VALUE)
		return true;
	int32_t i = mb_sketch_index(av);
	if (v > 0)
		return sk->pos_n && i >= sk->pos_lo && i < sk->pos_lo + (int32_t)sk->pos_n;
	return sk->neg_n && i >= sk->neg_lo && i < sk->neg_lo + (int32_t)sk->neg_n;
}

/* One value of a counter, gauge or timer kind into its series. */
static int add_value(struct shim_agg *a, struct series *s, uint8_t kind, double v, bool delta,
                     double inv)
{
	double nv;
	switch (kind) {
	case MB_COUNTER:
		nv = s->v + v * inv;
		break;
	case MB_GAUGE:
		nv = delta ? s->v + v : v;
		break;
	default:
		return timer_add(a, s->u.t, v, inv);
	}
	if (!isfinite(nv))
		return MB_EINVAL;
	s->v = nv;
	return 0;
}

int shim_agg_add(struct shim_agg *a, const struct shim_line *l, int64_t now_ms)
{
	int rv;
	struct series *s = lookup(a, l, &rv);
	if (!s)
		return rv;
	double inv = 1.0 / l->rate;
	if (l->kind == MB_SET) {
		if ((rv = set_add(a, s->u.set, l->member, l->memberlen)) != 0)
			return rv;
	} else if (l->nvalues > 1) {
		/* Packed values (already checked by the parser), each one a line of its own. */
		struct shim_values it = {l->values, l->values + l->valueslen};
		double d;
		bool sign, done = false;
		while (shim_values_next(&it, &d, &sign, &done) == 0 && !done)
			if ((rv = add_value(a, s, l->kind, d, sign, inv)) != 0)
				return rv;
	} else if ((rv = add_value(a, s, l->kind, l->value, l->delta, inv)) != 0) {
		return rv;
	}
	s->dirty = true;
	s->last_ms = now_ms;
	return 0;
}

static int timer_add(struct shim_agg *a, struct timer_state *t, double v, double inv)
{
	int rv;
	double c = t->count + inv, sum = t->sum + v * inv, sq = t->sumsq + v * v * inv;
	if (!isfinite(c) || !isfinite(sum) || !isfinite(sq))
		return MB_EINVAL;
	/* Over the budget a sketch may fill its bins but not widen its range. */
	if (a->bytes >= SHIM_MAX_BYTES && !sketch_covers(&t->sk, v))
		return MB_ETOOBIG;
	if ((rv = mb_sketch_add(&t->sk, v, 1)) != 0)
		return rv;
	uint32_t bins = t->sk.pos_n + t->sk.neg_n;
	if (bins != t->bins) {
		a->bytes = a->bytes + (size_t)bins * 8 - (size_t)t->bins * 8;
		t->bins = bins;
	}
	if (t->count == 0 || v < t->min)
		t->min = v;
	if (t->count == 0 || v > t->max)
		t->max = v;
	t->count = c;
	t->sum = sum;
	t->sumsq = sq;
	return 0;
}

void shim_agg_packet(struct shim_agg *a, const char *buf, size_t n, int64_t now_ms)
{
	const char *p = buf, *end = buf + n;
	struct shim_line l;

	a->stats.packets++;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		switch (shim_parse_line(p, len, a->styles, &l)) {
		case SHIM_LINE_OK:
			a->stats.lines++;
			a->stats.unknown_fields += l.unknown;
			a->stats.tag_errors += l.tag_errors;
			switch (shim_agg_add(a, &l, now_ms)) {
			case 0:
				break;
			case MB_ETOOBIG:
				a->stats.series_refused++;
				break;
			default:
				a->stats.bad_lines++;
				a->stats.parse_errors[SHIM_BAD_OVERFLOW]++;
				break;
			}
			break;
		case SHIM_LINE_BAD:
			a->stats.lines++;
			a->stats.bad_lines++;
			a->stats.parse_errors[l.bad < SHIM_BAD_N ? l.bad : SHIM_BAD_NONE]++;
			break;
		case SHIM_LINE_EVENT:
			a->stats.lines++;
			a->stats.events++;
			break;
		case SHIM_LINE_SCHECK:
			a->stats.lines++;
			a->stats.service_checks++;
			break;
		default:
			break;
		}
		p += len + 1;
	}
}

/* ------------------------------------------------------------------ flush */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 16;
	while (nc < need)
		nc *= 2;
	void *np = realloc(*p, nc * elem);
	if (!np)
		return MB_ENOMEM;
	*p = np;
	*cap = nc;
	return 0;
}

int shim_flush_push(struct shim_flush *f, const struct mb_record *r)
{
	size_t cap = f->cap;
	void *p = f->recs;
	if (grow(&p, &cap, (size_t)f->n + 1, sizeof *f->recs) != 0)
		return MB_ENOMEM;
	f->recs = p;
	f->cap = (uint32_t)cap;
	f->recs[f->n++] = *r;
	return 0;
}

void shim_flush_free(struct shim_flush *f)
{
	free(f->recs);
	free(f->kvs);
	free(f->hlls);
	memset(f, 0, sizeof *f);
}

static bool emits(const struct series *s)
{
	return s->dirty || s->kind == MB_GAUGE;
}

int shim_agg_flush(struct shim_agg *a, int64_t now_ms, struct shim_flush *f)
{
	size_t nkv = 0;
	(void)now_ms;
	f->n = 0;
	f->nkv = 0;
	f->nhll = 0;
	/* Reserve every tag first: records point into f->kvs, which must not move after. */
	for (size_t i = 0; i < a->n; i++)
		if (emits(a->all[i]))
			nkv += a->all[i]->ntags;
	void *p = f->kvs;
	if (grow(&p, &f->kvcap, nkv ? nkv : 1, sizeof *f->kvs) != 0)
		return MB_ENOMEM;
	f->kvs = p;

	for (size_t i = 0; i < a->n; i++) {
		struct series *s = a->all[i];
		if (!emits(s))
			continue;
		struct mb_record r;
		memset(&r, 0, sizeof r);
		r.kind = s->kind;
		r.name = s->key + 1;
		r.ntags = s->ntags;
		r.tags = s->ntags ? &f->kvs[f->nkv] : NULL;
		const char *q = r.name + strlen(r.name) + 1;
		for (int t = 0; t < s->ntags; t++) {
			f->kvs[f->nkv].key = q;
			q += strlen(q) + 1;
			f->kvs[f->nkv].val = q;
			q += strlen(q) + 1;
			f->nkv++;
		}
		if (s->kind == MB_COUNTER || s->kind == MB_GAUGE) {
			r.value = s->v;
		} else if (s->kind == MB_SET) {
			struct set_state *st = s->u.set;
			r.hll = &st->hll;
			r.set_count = st->n;
			if (st->overflow) {
				double e = mb_hll_estimate(&st->hll);
				if (e > (double)st->n)
					r.set_count = (uint64_t)llround(e);
			}
		} else {
			struct timer_state *t = s->u.t;
			r.count = t->count;
			r.sum = t->sum;
			r.sumsq = t->sumsq;
			r.min = t->min;
			r.max = t->max;
			r.sketch = t->sk; /* shallow: the series keeps ownership */
		}
		if (shim_flush_push(f, &r) != 0)
			return MB_ENOMEM;
	}
	return 0;
}

void shim_agg_flush_done(struct shim_agg *a, struct shim_flush *f, int64_t now)
{
	size_t w = 0;
	bool removed = false;
	(void)f;

	for (size_t i = 0; i < a->n; i++) {
		struct series *s = a->all[i];
		if (now - s->last_ms >= SHIM_IDLE_MS) {
			a->bytes -= series_bytes(s);
			series_free(s);
			removed = true;
			continue;
		}
		if (s->dirty) {
			s->dirty = false;
			if (s->kind == MB_COUNTER) {
				s->v = 0;
			} else if (s->kind == MB_SET) {
				struct set_state *st = s->u.set;
				memset(&st->hll, 0, sizeof st->hll);
				/* A big table is given back: memory follows the live members. */
				if (st->cap > 256) {
					a->bytes -= st->cap * sizeof *st->h;
					free(st->h);
					st->h = NULL;
					st->cap = 0;
				} else if (st->h) {
					memset(st->h, 0, st->cap * sizeof *st->h);
				}
				st->n = 0;
				st->overflow = false;
			} else if (mb_kind_is_timer(s->kind)) {
				struct timer_state *t = s->u.t;
				t->count = t->sum = t->sumsq = t->min = t->max = 0;
				/* A wide sketch is given back; a narrow one keeps its memory. */
				if (t->bins > 64) {
					a->bytes -= (size_t)t->bins * 8;
					mb_sketch_free(&t->sk);
					memset(&t->sk, 0, sizeof t->sk);
					t->bins = 0;
				} else {
					mb_sketch_reset(&t->sk);
				}
			}
		}
		a->all[w++] = s;
	}
	a->n = w;
	if (removed) {
		/* Fewer series than before: the table is rebuilt, in place when a smaller one
		 * (to give memory back) cannot be had; inserting fewer than it held allocates
		 * nothing, so this cannot fail. */
		struct mb_htab nt = {0};
		if (mb_htab_reserve(&nt, a->n > 128 ? (uint32_t)a->n : 128) == 0 &&
		    nt.mask < a->tab.mask) {
			mb_htab_free(&a->tab);
			a->tab = nt;
		} else {
			mb_htab_free(&nt);
			mb_htab_clear(&a->tab);
		}
		for (size_t i = 0; i < a->n; i++)
			mb_htab_insert(&a->tab, a->all[i]->hash, (uint32_t)i);
	}
}
