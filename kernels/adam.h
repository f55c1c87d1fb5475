/* Adam's update of one entry, and the array loop over it (optim_ops.pxd documents the
 * rule, its two variants and where each line comes from).
 *
 * The loop is here, in C, rather than in optim_ops.pxd, so that it can be compiled
 * twice, for AVX2 and for the baseline the package is built for, with the best one
 * picked when the module loads (GCC/clang target_clones on x86-64 Linux; elsewhere
 * once, for the baseline). A step's square root and division per entry keep the
 * CPU's divider busy (it is the loop's bottleneck: the bias corrections are folded
 * into two scalars so that an entry costs one division, not two), and AVX2 gives it
 * twice the entries per instruction. The AVX2
 * clone leaves out FMA on purpose: contracting a * b + c into one rounding would
 * change the results, which follow torch's rounding operation by operation.
 *
 * Every entry is computed with the same operations whatever the settings: the
 * settings only choose between values (vector blends), and a buffer that may be
 * NULL (v_max) gets a loop of its own, since a read behind a test would keep the
 * loop scalar; so does clearing the gradient as it is read, which the network's
 * step asks for so that its next gradient product can add into zeros (see
 * linear_ops.pxd's linear_backward_params).
 */
#ifndef FASTMLP_ADAM_H
#define FASTMLP_ADAM_H

#include <math.h>
#include <stddef.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) \
    && !defined(FASTMLP_NO_CLONES) && (defined(__clang__) || __GNUC__ >= 8)
#define FASTMLP_ADAM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FASTMLP_ADAM_CLONES
#endif

/* The scalars of one Adam step, computed in double by optim_ops.pxd's adam_step. */
typedef struct {
    double beta1, beta2;
    double step_size;  /* lr * sqrt(1 - beta2**t) / (1 - beta1**t) */
    double eps;        /* eps * sqrt(1 - beta2**t) (torch's placement), or eps (scikit-learn's) */
    double decay;      /* 1 - lr * decoupled_decay (1: no decoupled decay) */
    int amsgrad;
    int eps_before_correction;
} fastmlp_adam_step;

/* The array loops' body for entry i, with the settings as constants: one loop per
 * combination (with a test of clear_grad inside one loop, that loop took 1.36
 * against 1.09 ns per entry, float64 on AVX2, even when the test was false). */
#define FASTMLP_ADAM_ENTRY(suffix, CLEAR, V_MAX, AMSGRAD)                              \
    {                                                                                  \
        g = grad[i];                                                                   \
        if (CLEAR) grad[i] = 0;                                                        \
        param[i] = fastmlp_adam_entry_##suffix(param[i], g, &m[i], &v[i], V_MAX,       \
                                               weight_decay, &s, AMSGRAD);             \
    }

/* One entry's new param from its old value p and gradient g; updates *m and *v (and
 * *v_max with amsgrad) in place. The scalars are rounded to T, as torch's are; SQRT
 * is T's square root (sqrtf is sqrt in double rounded once: the same value). */
#define FASTMLP_ADAM(T, suffix, SQRT)                                                  \
    static inline T fastmlp_adam_entry_##suffix(T p, T g, T *m, T *v, T *v_max,        \
                                                T weight_decay,                        \
                                                const fastmlp_adam_step *s,            \
                                                int amsgrad) {                         \
        T m_i = *m, v_i = *v, m_torch, v_old, denom;                                   \
        T beta1 = (T)s->beta1, beta2 = (T)s->beta2;                                    \
        /* torch's lerp_(g, weight) with weight = 1 - beta1: for weight >= 0.5 it      \
           interpolates from the other end, for accuracy. */                           \
        T weight = (T)(1 - s->beta1);                                                  \
        T rest = 1 - weight; /* exact when used (weight >= 0.5) */                     \
        T one_minus_beta2 = (T)(1 - s->beta2);                                         \
        p = p * (T)s->decay; /* AdamW's; exact when decay is 1 */                      \
        /* the L2 term only when weight_decay != 0, as torch: an infinite p must not   \
           turn its gradient into NaN */                                               \
        g = weight_decay != 0 ? g + weight_decay * p : g;                              \
        /* torch's lerp_ and addcmul_, or NumPy's order as scikit-learn writes it (one \
           test per select, each a vector blend: nested ones would not vectorise) */   \
        m_torch = weight < (T)0.5 ? m_i + weight * (g - m_i) : g - (g - m_i) * rest;   \
        m_i = s->eps_before_correction ? beta1 * m_i + weight * g : m_torch;           \
        v_i = s->eps_before_correction ? beta2 * v_i + one_minus_beta2 * (g * g)       \
                                       : beta2 * v_i + (one_minus_beta2 * g) * g;      \
        *m = m_i;                                                                      \
        *v = v_i;                                                                      \
        if (amsgrad) {                                                                 \
            v_old = *v_max;                                                            \
            v_i = v_old > v_i ? v_old : v_i;                                           \
            *v_max = v_i;                                                              \
        }                                                                              \
        denom = SQRT(v_i) + (T)s->eps;                                                 \
        /* a zero denominator (eps = 0 and v = 0) would make the step 0/0 or +-inf */  \
        return denom != 0 ? p + ((T)(-s->step_size) * m_i) / denom : p;                \
    }                                                                                  \
                                                                                       \
    /* One Adam step over n entries; v_max may be NULL without amsgrad. With          \
       clear_grad, each grad entry is set to 0 once read (grad must then not overlap  \
       the other buffers); without it grad is only read, and may be param itself. */  \
    FASTMLP_ADAM_CLONES static void fastmlp_adam_array_##suffix(                       \
            T *param, T *grad, ptrdiff_t n, T *m, T *v, T *v_max, T weight_decay,      \
            const fastmlp_adam_step *step, int clear_grad) {                           \
        ptrdiff_t i;                                                                   \
        T g;                                                                           \
        fastmlp_adam_step s = *step; /* a local copy: no write through param can       \
                                        change it */                                   \
        if (s.amsgrad && clear_grad) {                                                 \
            for (i = 0; i < n; i++) FASTMLP_ADAM_ENTRY(suffix, 1, &v_max[i], 1)        \
        } else if (s.amsgrad) {                                                        \
            for (i = 0; i < n; i++) FASTMLP_ADAM_ENTRY(suffix, 0, &v_max[i], 1)        \
        } else if (clear_grad) {                                                       \
            for (i = 0; i < n; i++) FASTMLP_ADAM_ENTRY(suffix, 1, NULL, 0)             \
        } else {                                                                       \
            for (i = 0; i < n; i++) FASTMLP_ADAM_ENTRY(suffix, 0, NULL, 0)             \
        }                                                                              \
    }

FASTMLP_ADAM(float, f32, sqrtf)
FASTMLP_ADAM(double, f64, sqrt)

#endif
