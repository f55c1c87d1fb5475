/* exp, tanh and sigmoid written so that the compiler vectorises the loops over them.
 *
 * A loop that calls libm's expf or tanhf makes one function call per element and
 * cannot be vectorised (short of -ffast-math, which would also break NaN and inf
 * handling): 10-30 ns an element, against under 1 ns for NumPy's SIMD versions.
 * These are plain arithmetic, selects and bit operations, accurate to a few units
 * in the last place in both precisions.
 *
 * exp_nonpositive(x), for x <= 0 (all that softmax and sigmoid need):
 *     exp(x) = 2**n * exp(r),  n = round(x / ln 2),  r = x - n ln 2 in [-ln2/2, ln2/2]
 *   with ln 2 split in two (Cody and Waite) so that r is exact, exp(r) by its
 *   Taylor polynomial (degree 7 for float, 13 for double: truncation below half an
 *   ulp), and 2**n built in the exponent bits. n is found without a float-to-int
 *   conversion: adding 1.5 * 2**23 (2**52 for double) leaves n in the low mantissa
 *   bits. Results that would be subnormal are flushed to 0. NaN stays NaN.
 * expm1_nonpositive(x) = exp(x) - 1 for x <= 0, with the same reduction:
 *     2**n * (1 + p) - 1 = 2**n * p + (2**n - 1),  p = expm1(r) = r + r**2 (1/2 + ...)
 *   where 2**n - 1 is exact, so nothing cancels: for n = 0 (|x| < ln2/2) it is p
 *   itself, accurate for the smallest x. Below the lowest exponent it is -1.
 * tanh(x) = sign(x) * -m / (2 + m),  m = expm1(-2|x|), which is (1 - e) / (1 + e)
 *   with e = exp(-2|x|) without the cancellation of 1 - e near 0, so one formula
 *   serves the whole range (within 2.5 ulps in both precisions); below 2**-28
 *   (2**-13 for float), where tanh(x) rounds to x, and for 0 and NaN: x itself.
 * sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) below, e = exp(-|x|) <= 1,
 *   so nothing overflows.
 *
 * The array loops are compiled three times (AVX-512, AVX2 + FMA, and the baseline
 * the package is built for) and the best one for the running CPU is picked when
 * the module loads (GCC/clang target_clones on x86-64 Linux); elsewhere they are
 * compiled once for the baseline.
 */
#ifndef FASTMLP_VECMATH_H
#define FASTMLP_VECMATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) \
    && !defined(FASTMLP_NO_CLONES) && (defined(__clang__) || __GNUC__ >= 8)
#define FASTMLP_CLONES \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FASTMLP_CLONES
#endif

/* The reduction shared by exp and expm1: x clamped to the lowest exponent (returned),
 * r = x - n ln 2 (*r) and 2**n (*scale). */
static inline float fastmlp_reduce_f32(float x, float *r, float *scale) {
    const float lowest = -87.0f, shifter = 12582912.0f, log2e = 1.44269504088896341f;
    float xc = x > lowest ? x : lowest;
    float t = xc * log2e + shifter;
    float n = t - shifter;
    int32_t bits;
    *r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - 0x4B400000 + 127) << 23;
    memcpy(scale, &bits, sizeof *scale);
    return xc;
}

static inline double fastmlp_reduce_f64(double x, double *r, double *scale) {
    const double lowest = -708.0, shifter = 6755399441055744.0, log2e = 1.44269504088896341;
    double xc = x > lowest ? x : lowest;
    double t = xc * log2e + shifter;
    double n = t - shifter;
    int64_t bits;
    *r = (xc - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - 0x4338000000000000LL + 1023) << 52;
    memcpy(scale, &bits, sizeof *scale);
    return xc;
}

static inline float fastmlp_exp_nonpositive_f32(float x) {
    float r, scale, xc = fastmlp_reduce_f32(x, &r, &scale);
    float p = 1.0f + r * (1.0f + r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 + r * (
        1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
    p = x >= xc ? p * scale : 0.0f;
    return x != x ? x : p;
}

static inline double fastmlp_exp_nonpositive_f64(double x) {
    double r, scale, xc = fastmlp_reduce_f64(x, &r, &scale);
    double p = 1.0 + r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (
        1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (
        1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800 + r * (
        1.0 / 479001600 + r * (1.0 / 6227020800.0)))))))))))));
    p = x >= xc ? p * scale : 0.0;
    return x != x ? x : p;
}

static inline float fastmlp_expm1_nonpositive_f32(float x) {
    float r, scale, xc = fastmlp_reduce_f32(x, &r, &scale);
    float p = r + r * r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (
        1.0f / 720 + r * (1.0f / 5040))))));
    p = scale * p + (scale - 1.0f);
    p = x >= xc ? p : -1.0f;
    return x != x ? x : p;
}

static inline double fastmlp_expm1_nonpositive_f64(double x) {
    double r, scale, xc = fastmlp_reduce_f64(x, &r, &scale);
    double p = r + r * r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (
        1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (
        1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800 + r * (
        1.0 / 479001600 + r * (1.0 / 6227020800.0))))))))))));
    p = scale * p + (scale - 1.0);
    p = x >= xc ? p : -1.0;
    return x != x ? x : p;
}

#define FASTMLP_TANH(T, suffix, one, tiny)                                             \
    static inline T fastmlp_tanh_##suffix(T x) {                                       \
        T a = x >= 0 ? x : -x;                                                         \
        T m = fastmlp_expm1_nonpositive_##suffix(-2 * a);                              \
        T y = -m / (2 + m);                                                            \
        y = x >= 0 ? y : -y;                                                           \
        return a >= (T)tiny ? y : x; /* x itself when tiny, 0 or NaN */                \
    }                                                                                  \
    static inline T fastmlp_sigmoid_##suffix(T x) {                                    \
        T e = fastmlp_exp_nonpositive_##suffix(x >= 0 ? -x : x);                       \
        return (x >= 0 ? one : e) / (one + e);                                         \
    }

FASTMLP_TANH(float, f32, 1.0f, 1.0 / 8192)
FASTMLP_TANH(double, f64, 1.0, 1.0 / 268435456)

/* out[i] := f(x[i]); out may be x (spelled out, so that the in-place loop has one
 * pointer and needs no overlap check to vectorise). */
#define FASTMLP_ARRAY_LOOP(name, T, f)                                                 \
    FASTMLP_CLONES static void name(const T *x, T *out, ptrdiff_t n) {                \
        ptrdiff_t i;                                                                   \
        if (x == out) {                                                                \
            for (i = 0; i < n; i++) out[i] = f(out[i]);                                \
        } else {                                                                       \
            for (i = 0; i < n; i++) out[i] = f(x[i]);                                  \
        }                                                                              \
    }

FASTMLP_ARRAY_LOOP(fastmlp_tanh_array_f32, float, fastmlp_tanh_f32)
FASTMLP_ARRAY_LOOP(fastmlp_tanh_array_f64, double, fastmlp_tanh_f64)
FASTMLP_ARRAY_LOOP(fastmlp_sigmoid_array_f32, float, fastmlp_sigmoid_f32)
FASTMLP_ARRAY_LOOP(fastmlp_sigmoid_array_f64, double, fastmlp_sigmoid_f64)

/* Are all n entries of x finite? (The exponent bits are all ones exactly for inf and
 * NaN. An integer OR over them vectorises where a floating-point test did not: the
 * compiler may not reorder a chain of comparisons of doubles into vector lanes.) */
#define FASTMLP_ALL_FINITE(name, T, U, exponent)                                       \
    FASTMLP_CLONES static int name(const T *x, ptrdiff_t n) {                          \
        ptrdiff_t i;                                                                   \
        U bits, bad = 0;                                                               \
        for (i = 0; i < n; i++) {                                                      \
            memcpy(&bits, &x[i], sizeof bits);                                         \
            bad |= (U)((bits & (exponent)) == (exponent));                             \
        }                                                                              \
        return bad == 0;                                                               \
    }

FASTMLP_ALL_FINITE(fastmlp_all_finite_f32, float, uint32_t, 0x7F800000u)
FASTMLP_ALL_FINITE(fastmlp_all_finite_f64, double, uint64_t, 0x7FF0000000000000ull)

#endif
