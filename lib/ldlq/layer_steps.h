/*
 * layer_steps.h — the steps of one layer's quantization that the CPU pipeline
 * (quant_layer.c, ldl.c) and the device layer (kernels/layer_quant.cu) share, so both
 * compute the same amounts and word the same errors (not installed): the damping
 * ladder of qtip_ldl_regularize in pieces, and Wscale. C, also valid C++.
 */
#ifndef QTIP_LAYER_STEPS_H
#define QTIP_LAYER_STEPS_H

#include "core/internal.h"

/* The mean of the (rotated) Hessian's diagonal must be positive: the damping is a
 * multiple of it. QTIP_E_NOT_PD otherwise. */
qtip_status qtip_ldl_check_mean_(double mean);

/* Try t (0-based) of the ladder: the amount to add to every diagonal entry, given
 * what earlier tries added (*applied, updated to this try's total multiple). */
double qtip_ldl_damping_add_(double sigma, int t, double mean, double *applied);

/* A factorization succeeded at try t: the info line when damping was needed. */
void qtip_ldl_damping_note_(double applied, int t);

/* Every try failed: the QTIP_E_NOT_PD error. */
qtip_status qtip_ldl_not_pd_error_(double applied, int tries, double sigma);

/* Wscale of the rotated weight: one scalar so that RMS(Wr / Wscale) = target (the
 * code RMS x scale), 1 for an all-zero Wr; Wr is divided by it in place. */
float qtip_layer_wscale_(float *Wr, size_t count, double target);

#endif /* QTIP_LAYER_STEPS_H */
