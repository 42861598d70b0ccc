/*
 * bench_viterbi_crosscheck.c — per-tile distortion of qtip_trellis_quantize on
 * tiles read from a file, for comparison with bench/viterbi_reference.py (an
 * independent numpy implementation of the digest's two-pass tail-biting Viterbi).
 *
 *   bench_viterbi_crosscheck <code: 1mad|3inst|hyb> <ntiles> <tiles.f32>
 *
 * Reads ntiles x 256 float32 N(0,1) values, scales them to rms(codebook)
 * (scale_override 1.0), quantizes at L=16, K=2, and prints one line per tile: its
 * squared error per weight relative to the source variance.
 */
#include "qtip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_viterbi_crosscheck <1mad|3inst|hyb> <ntiles> <tiles.f32>\n");
        return 2;
    }
    const size_t n = (size_t)strtoul(argv[2], NULL, 10), T = 256;
    qtip_trellis_params p = qtip_trellis_default_params(); /* HYB L16 K2 V2 Q9 */
    if (!strcmp(argv[1], "1mad") || !strcmp(argv[1], "3inst")) {
        p.code = !strcmp(argv[1], "1mad") ? QTIP_CODE_1MAD : QTIP_CODE_3INST;
        p.V = 1;
        p.Q = 0;
    }
    float *x = malloc(sizeof(float) * T * n), *r = malloc(sizeof(float) * T * n);
    FILE *f = fopen(argv[3], "rb");
    if (!x || !r || !f || fread(x, sizeof(float), T * n, f) != T * n) {
        fprintf(stderr, "bench_viterbi_crosscheck: cannot read %zu tiles from '%s'\n", n, argv[3]);
        return 1;
    }
    fclose(f);
    qtip_trellis *t;
    if (qtip_trellis_create(&p, &t)) {
        fprintf(stderr, "bench_viterbi_crosscheck: %s\n", qtip_last_error());
        return 1;
    }
    const double rms = qtip_trellis_rms(t);
    for (size_t i = 0; i < T * n; i++) x[i] = (float)(x[i] * rms);
    uint16_t *bits = malloc(sizeof(uint16_t) * qtip_trellis_words_per_tile(&p) * n);
    if (!bits || qtip_trellis_quantize_work(t, NULL, x, n, bits, r)) {
        fprintf(stderr, "bench_viterbi_crosscheck: %s\n", qtip_last_error());
        return 1;
    }
    for (size_t s = 0; s < n; s++) {
        double e = 0;
        for (size_t i = s * T; i < (s + 1) * T; i++) e += ((double)x[i] - r[i]) * ((double)x[i] - r[i]);
        printf("%.9f\n", e / (double)T / (rms * rms));
    }
    qtip_trellis_free(t);
    free(x);
    free(r);
    free(bits);
    return 0;
}
