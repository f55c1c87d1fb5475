/* SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
 * OOPSLA 2014): the generator of the dropout masks drawn inside the compiled training
 * loop (network.pyx).
 *
 * Why this one: its whole state is one 64-bit integer, so a Network keeps, saves and
 * reseeds it as a plain number; a draw is an add, two multiplies and three shifts, far
 * below the cost of the GEMMs around it; and every seed, 0 included, gives a full-period
 * stream that passes BigCrush. Written in C because its constants are unsigned 64-bit
 * literals and its arithmetic wraps modulo 2**64, which C guarantees for uint64_t.
 */
#ifndef FASTMLP_SPLITMIX_H
#define FASTMLP_SPLITMIX_H

#include <stdint.h>

/* The next 64 random bits; advances *state. */
static inline uint64_t fastmlp_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

#endif
