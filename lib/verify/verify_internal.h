/*
 * verify_internal.h — the parts of qtip-verify (lib/verify/): the packed directory
 * and its structural checks (verify_config.c), checksums and the comparison with
 * the original (verify_checksum.c), per-layer decoding, errors and the forward
 * check (verify_layer.c), dequantized output (verify_dequant.c). Private.
 */
#ifndef QTIP_VERIFY_INTERNAL_H
#define QTIP_VERIFY_INTERNAL_H

#include "core/internal.h"
#include "pack/pack_internal.h"

#include <jansson.h>

struct qtip_verify_report {
    qtip_verify_layer *layers;
    size_t n, failures;
    char msg[1024];
};

/* A packed directory being verified. */
typedef struct {
    const char *dir;
    json_t *cfg;        /* config.json */
    json_t *qc;         /* quantize_config.json */
    json_t *top;        /* cfg's quantization_config (borrowed) */
    json_t *layers;     /* qc's layers (borrowed) */
    int mixed;          /* layers may differ from top */
    long long tp_size;  /* the model's tensor-parallel degree (every layer's) */
    qtip_st_file *st;   /* its tensors */
    qtip_st_file *orig; /* the original model's tensors, or NULL */
    const qtip_export_row *fmt; /* the format quantize_config.json names */
    qtip_dtype model_dtype;     /* an export's scale dtype (config.json's torch_dtype) */
} vdir;

/* verify_config.c */
/* Read config.json, quantize_config.json and the tensors; check the canonical
 * format and that both configs agree. `original` (NULL: none) is opened too;
 * failing to read it is QTIP_E_IO. */
qtip_status vdir_open(const char *dir, const char *original, vdir *d);
void vdir_close(vdir *d);
/* Whether tensor `name` is one of the packed tensors of a quantized layer. */
int vdir_is_packed(const vdir *d, const char *name);
/* Layer `pre` (its quantize_config.json entry `o`) read back as an artifact (new):
 * settings checked against the model's, tensors with their dtypes and shapes,
 * finite scales. */
qtip_status vdir_load_layer(const vdir *d, const char *pre, json_t *o, qtip_layer_artifact **out);

/* A packed tensor "<pre>.<suf>" with the given dtype and shape (or an error naming
 * both) and the checksum recorded at pack time. */
qtip_status vdir_want_tensor(const vdir *d, const char *pre, const char *suf, qtip_dtype dt, int ndim,
                             const int64_t *shape, const qtip_tensor_view **out);

/* verify_export.c: the two export formats (docs/formats/exports.md) read back */
/* The top of an exported directory: quantize_config.json's layout version and
 * layers, the model dtype, and config.json's loader fields (and the format's copy
 * of them) equal to what qtip-pack writes for the layers' settings. Sets d->top to
 * quantize_config.json (the model's settings) and d->mixed. */
qtip_status vexport_check_top(vdir *d);
/* Layer `pre`'s exported tensors decoded with the format's conventions into the
 * canonical description `l` (settings and shape already in l); the arrays are
 * owned by `owned` (free them with vexport_free after the artifact copied them). */
typedef struct {
    void *codes;
    float *SU, *SV, *tlut;
} vexport_arrays;
qtip_status vexport_layer_tensors(const vdir *d, const char *pre, qtip_layer_info *l, vexport_arrays *owned);
void vexport_free(vexport_arrays *a);

/* verify_checksum.c */
/* quantize_config.json records a checksum for exactly the tensors present. */
qtip_status verify_checksum_table(const vdir *d);
/* A tensor's bytes against the checksum recorded at pack time. */
qtip_status verify_tensor_checksum(const vdir *d, const qtip_tensor_view *v);
/* Every copied (not packed) tensor against its recorded checksum and, with an
 * original, equal to the original's byte for byte; none of the original's missing. */
qtip_status verify_copied_tensors(const vdir *d);
/* The recorded weights checksum of layer `l` against the original's files. */
typedef struct ck_cache ck_cache;
ck_cache *ck_cache_new(void);
void ck_cache_free(ck_cache *c);
qtip_status check_weights_checksum(const char *orig, const qtip_layer_info *l, ck_cache *c, int *ok);

/* verify_layer.c */
/* Dequantized weights kept for verify_dequant.c (NULL when not asked). */
typedef struct deq_set deq_set;
qtip_status verify_layer(const vdir *d, const char *pre, json_t *o, const qtip_verify_options *opt,
                         qtip_verify_report *rep, ck_cache *ck, deq_set *deq);
/* Wr (rotated, times Wscale) and W (original space) of an artifact, with the
 * artifact's decoder: the bytes qtip_layer_artifact_decode gives. */
qtip_status decode_layer(const qtip_layer_artifact *a, float *Wr, float *W);

/* verify_dequant.c */
deq_set *deq_set_new(qtip_dtype dt);
void deq_set_free(deq_set *s);
/* Keep W (m x n floats) of layer `pre` converted to the set's dtype. */
qtip_status deq_set_add(deq_set *s, const char *pre, const float *W, int64_t m, int64_t n);
/* The plain model through `w` (committed, or aborted on error): packed file order,
 * each layer's packed tensors replaced by its weight, config.json without the
 * quantization settings, other files copied. */
struct qtip_model_writer;
qtip_status write_dequantized(struct qtip_model_writer *w, const vdir *d, const deq_set *s);

#endif /* QTIP_VERIFY_INTERNAL_H */
