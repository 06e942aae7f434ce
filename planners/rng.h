/* Seeded pseudo-random numbers for the planners: splitmix64 to expand a seed,
 * xoshiro256** for streams. Header-only, state lives in the caller's struct,
 * so two planners never share a generator.
 *
 * Not for cryptography, and not a replacement for rand(): labloop never uses
 * rand() because its state is global and its quality unspecified.
 */
#ifndef LAB_PLANNER_RNG_H
#define LAB_PLANNER_RNG_H

#include <stdint.h>

typedef struct lab_rng {
    uint64_t s[4];
} lab_rng;

/* splitmix64: advances *state and returns the next output. */
static inline uint64_t lab_rng_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Seeds a stream from (seed, stream): different streams of one seed are
 * independent for practical purposes. */
static inline void lab_rng_seed(lab_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t sm = seed;
    uint64_t mix = lab_rng_splitmix64(&sm) ^ (stream * 0xD1B54A32D192ED03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = lab_rng_splitmix64(&mix);
}

static inline uint64_t lab_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: next 64 random bits. */
static inline uint64_t lab_rng_next(lab_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = lab_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = lab_rng_rotl(s[3], 45);
    return result;
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double lab_rng_uniform(lab_rng *r)
{
    return (double)(lab_rng_next(r) >> 11) * 0x1.0p-53;
}

#endif
