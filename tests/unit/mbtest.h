/* mbtest.h: the unit-test harness: MB_TEST registers a test, CHECK records a failure.
 * A test binary is a folder's modules plus its *_test.c files plus runner.c. */
#ifndef MBTEST_H
#define MBTEST_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <math.h>

/* The tests' repeatable random numbers: xorshift64 over a state each test file keeps
 * (seeded with MBT_SEED, or a variant of it), so a failure replays the same inputs. */
#define MBT_SEED 88172645463325252ull
static inline uint64_t mbt_rand(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

void mbt_register(const char *name, const char *file, void (*fn)(void));
void mbt_fail(const char *file, int line, const char *expr);
/* A fresh temporary directory for this test, removed after it (with everything in it). */
const char *mbt_tmpdir(void);

#define MB_TEST(fn)                                                                      \
	static void fn(void);                                                            \
	__attribute__((constructor)) static void mbt_reg_##fn(void)                      \
	{                                                                                \
		mbt_register(#fn, __FILE__, fn);                                         \
	}                                                                                \
	static void fn(void)

#define CHECK(e)                                                                         \
	do {                                                                             \
		if (!(e))                                                                \
			mbt_fail(__FILE__, __LINE__, #e);                                \
	} while (0)
#define CHECK_EQ_INT(a, b)                                                               \
	do {                                                                             \
		long long mbt_a = (long long)(a), mbt_b = (long long)(b);                \
		if (mbt_a != mbt_b) {                                                    \
			char mbt_m[256];                                                 \
			snprintf(mbt_m, sizeof mbt_m, "%s == %s (%lld != %lld)", #a, #b, \
			         mbt_a, mbt_b);                                          \
			mbt_fail(__FILE__, __LINE__, mbt_m);                             \
		}                                                                        \
	} while (0)
#define CHECK_STR(a, b)                                                                  \
	do {                                                                             \
		const char *mbt_a = (a), *mbt_b = (b);                                   \
		if (!mbt_a || !mbt_b || strcmp(mbt_a, mbt_b) != 0) {                     \
			char mbt_m[1024]; /* bounded: -Wformat-truncation */             \
			snprintf(mbt_m, sizeof mbt_m, "%s == %s (\"%.400s\" != \"%.400s\")", #a, \
			         #b, mbt_a ? mbt_a : "(null)", mbt_b ? mbt_b : "(null)");     \
			mbt_fail(__FILE__, __LINE__, mbt_m);                             \
		}                                                                        \
	} while (0)
#define CHECK_NEAR(a, b, tol) CHECK(fabs((double)(a) - (double)(b)) <= (tol))
#endif
