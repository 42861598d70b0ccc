/*
 * trellis_device.c — the tail-biting Viterbi search of a batch of tiles on a CUDA
 * device through the plugin (core/backend.h, kernels/viterbi_batch.cuh): the same
 * states as qtip_trellis_quantize_work's CPU path bit for bit (the kernel uses this
 * codebook's own value and norm tables and trellis_codes.h's branch cost), packed
 * and reconstructed here. Two-pass tail-biting only (best-of-n stays on the CPU).
 */
#include "core/backend.h"
#include "trellis/trellis_internal.h"

#include <math.h>

struct qtip_trellis_device {
    const qtip_cuda_plugin *p;
    qtip_cuda_viterbi *v;
    uint32_t *states; /* max_tiles x S */
    size_t max_tiles;
    char label[160];
};

void qtip_trellis_device_free_(qtip_trellis_device *d)
{
    if (!d) return;
    if (d->v) d->p->viterbi_free(d->v);
    free(d->states);
    free(d);
}

/* The plugin with device `index`, its name in label; the message says why not. */
static qtip_status find_device(int index, const qtip_cuda_plugin **out, char *label, size_t cap)
{
    const qtip_cuda_plugin *p;
    int ndev = 0;
    QTIP_FORWARD_IF_ERROR(qtip_backend_cuda(&p, &ndev));
    QTIP_RETURN_ERROR_IF(p->size < offsetof(qtip_cuda_plugin, viterbi_free) + sizeof p->viterbi_free,
                         QTIP_E_UNSUPPORTED,
                         "the CUDA plugin '%s' has no Viterbi entries (an older build)",
                         qtip_backend_cuda_path());
    QTIP_RETURN_ERROR_IF(index >= ndev, QTIP_E_PARAM, "no CUDA device cuda:%d: there %s %d device%s",
                         index, ndev == 1 ? "is" : "are", ndev, ndev == 1 ? "" : "s");
    char name[128] = "";
    size_t mem = 0;
    int cc = 0;
    if (p->device_info(index, name, sizeof name, &mem, &cc))
        return qtip_error(QTIP_E_CUDA, "%s", p->last_error());
    snprintf(label, cap, "cuda:%d (%s, %.1f GiB, compute capability %d.%d)", index, name,
             (double)mem / (1 << 30), cc / 10, cc % 10);
    *out = p;
    return QTIP_OK;
}

qtip_status qtip_trellis_device_create_(const qtip_trellis *t, int index, size_t max_tiles,
                                        qtip_trellis_device **out)
{
    QTIP_RETURN_ERROR_IF(!t || !out || max_tiles == 0, QTIP_E_PARAM,
                         "cannot open the device Viterbi: null argument or no tiles");
    *out = NULL;
    qtip_trellis_device *d = qtip_calloc(1, sizeof *d, "device Viterbi");
    if (!d) return QTIP_E_NOMEM;
    qtip_status st = find_device(index, &d->p, d->label, sizeof d->label);
    if (st == QTIP_OK) {
        d->states = qtip_alloc(max_tiles * (size_t)t->S, sizeof(uint32_t), "device Viterbi states");
        st = d->states ? QTIP_OK : QTIP_E_NOMEM;
    }
    if (st == QTIP_OK) {
        st = d->p->viterbi_create(index, &t->p, t->vals, t->norm, max_tiles, &d->v);
        if (st != QTIP_OK) st = qtip_error(st, "%s", d->p->last_error());
    }
    if (st != QTIP_OK) {
        qtip_trellis_device_free_(d);
        return st;
    }
    d->max_tiles = max_tiles;
    *out = d;
    return QTIP_OK;
}

const char *qtip_trellis_device_label_(const qtip_trellis_device *d) { return d->label; }

qtip_status qtip_trellis_device_quantize_(qtip_trellis_device *d, const qtip_trellis *t,
                                          const float *seq, size_t nseq, uint16_t *bits,
                                          float *recon)
{
    QTIP_RETURN_ERROR_IF(nseq > d->max_tiles, QTIP_E_PARAM,
                         "device Viterbi: %zu tiles, opened for at most %zu", nseq, d->max_tiles);
    const size_t T = (size_t)t->T, S = (size_t)t->S, nw = qtip_trellis_words_per_tile(&t->p);
    for (size_t i = 0; i < nseq * T; i++)
        QTIP_RETURN_ERROR_IF(!isfinite(seq[i]), QTIP_E_NONFINITE,
                             "cannot quantize sequence %zu: value %zu is %g", i / T, i % T,
                             (double)seq[i]);
    qtip_status st = d->p->viterbi_quantize(d->v, seq, nseq, d->states);
    if (st != QTIP_OK) return qtip_error(st, "%s", d->p->last_error());
    for (size_t q = 0; q < nseq; q++) {
        const uint32_t *path = d->states + q * S;
        qtip_trellis_pack_path_(&t->p, path, bits + q * nw);
        if (recon)
            for (size_t i = 0; i < S; i++)
                for (int v = 0; v < t->p.V; v++)
                    recon[q * T + i * (size_t)t->p.V + (size_t)v] = t->vals[((size_t)v << t->p.L) + path[i]];
    }
    return QTIP_OK;
}

int qtip_trellis_device_has_layer_(const qtip_trellis_device *d)
{
    return d->p->size >= offsetof(qtip_cuda_plugin, layer_quantize) + sizeof d->p->layer_quantize &&
           d->p->layer_quantize != NULL;
}

qtip_status qtip_trellis_device_layer_(qtip_trellis_device *d, const qtip_cuda_layer_args *a,
                                       qtip_cuda_layer_io *io)
{
    QTIP_RETURN_ERROR_IF(!qtip_trellis_device_has_layer_(d), QTIP_E_UNSUPPORTED,
                         "the CUDA plugin '%s' has no layer entry (an older build)",
                         qtip_backend_cuda_path());
    qtip_status st = d->p->layer_quantize(d->v, a, io);
    return st == QTIP_OK ? QTIP_OK : qtip_error(st, "%s", d->p->last_error());
}
