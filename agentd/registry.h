/* registry.h: the store's registry (layer 4): series and sources index in memory (registry.c,
 * writer mutates under r.lock's write lock, queries read under its read lock) and the per-shim
 * sequence table (seq.c, writer thread only). */
#ifndef AGENT_REGISTRY_H
#define AGENT_REGISTRY_H

#include "slots.h"

/* registry.c */
/* Appends a series' canonical key to b: MB_ENOMEM. */
int agent_canon_key(struct mb_buf *b, const char *src, int kind, const char *name, int ntags,
                    const struct mb_kv *tags);
/* The series a forgotten id points at: not committed, never live. */
extern struct agent_series agent_dead;
struct agent_series *agent_series_find(struct agent_store *s, const char *key, size_t keylen,
                                       uint64_t hash);
/* Lookahead for many agent_series_find calls (the registry's memory is a cache miss per
 * lookup): step 0 fetches the hash's slot, step 1 (once that is in) the series pointer, step
 * 2 the series with its key. Only hints: reads, under the caller's hold on the registry. */
void agent_series_prefetch(const struct agent_store *s, uint64_t hash, int step);
/* Registers a series at a forgotten index, else at the end (id = index + 1); it goes on the
 * undo stack. */
int agent_series_add(struct agent_store *s, const char *key, size_t keylen, uint64_t hash,
                     uint32_t src, struct agent_series **out);
void agent_series_undo(struct agent_store *s); /* undoes the last agent_series_add */
/* Forgets a committed series (its history rolled out): out of the hash and its source, its
 * index freed for reuse. Writer, under the registry write lock. */
void agent_series_forget(struct agent_store *s, uint32_t idx);
int agent_source_find(struct agent_store *s, const char *name);
int agent_source_add(struct agent_store *s, const char *name, uint32_t *out);
void agent_source_pop(struct agent_store *s);
int agent_dims_copy(uint16_t n, const struct mb_kv *in, struct mb_kv **out);
bool agent_dims_equal(uint16_t na, const struct mb_kv *a, uint16_t nb, const struct mb_kv *b);
int agent_source_encode(const struct agent_source *c, struct mb_buf *b);
/* The series record, with last_ms as given (the writer encodes before it publishes). */
int agent_series_encode(const struct agent_series *se, int64_t last_ms, struct mb_buf *b);
int agent_registry_load(struct agent_store *s, MDB_txn *txn);
void agent_registry_free(struct agent_store *s);
/* Forgets a source without series: out of the hash; the last source takes its index (its
 * series' src follow). Writer, under the registry write lock. */
void agent_source_forget(struct agent_store *s, uint32_t idx);
bool agent_series_live(const struct agent_store *s, const struct agent_series *se, int64_t now);
bool agent_source_live(const struct agent_store *s, const struct agent_source *c, int64_t now);

/* seq.c (writer thread only) */
/* The entry of an instance; with create, a new one (seq 0) when absent. NULL: absent, or out
 * of memory. Pointers are valid until the next create or remove. */
struct agent_seqent *agent_seq_find(struct agent_store *s, uint64_t inst, bool create);
/* Drops an instance's entry (between commit attempts: moves another entry). */
void agent_seq_remove(struct agent_store *s, uint64_t inst);
void agent_seq_free(struct agent_store *s);

#endif
