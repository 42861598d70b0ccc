/*
 * quant_internal.h — the per-layer artifact's fields and the method operations
 * table (not installed). quant_layer.c runs the method-independent pipeline,
 * layer_artifact.c the file format; everything that differs between trellis
 * and E8P is one row of qtip_method_ops (quant_method_trellis.c,
 * quant_method_e8p.c). Adding a method is a row and its functions.
 */
#ifndef QTIP_QUANT_INTERNAL_H
#define QTIP_QUANT_INTERNAL_H

#include "core/internal.h"

#include <jansson.h>

struct qtip_layer_artifact {
    qtip_quant_params params;
    int64_t m, n;
    char *tensor;
    double proxy_loss, proxy_loss_rotated, damping, seconds;
    float wscale;
    char weights_checksum[64], hessian_checksum[64];
    int refine_count;
    double *refine_losses;
    int64_t code_cols;
    int code_is_i32;
    void *codes; /* m x code_cols, int16 or int32 */
    float *SU, *SV;
    float *tlut;
    size_t tlut_rows, tlut_cols;
};

/* One method's operations. `state` is the quantizer's codebook (create/destroy);
 * `ctx` one layer's staging (begin/end). */
typedef struct {
    const char *name;            /* the artifact's 'method' */
    const char *const *aliases;  /* further names accepted on input (NULL-ended) */
    const char *loader_name;     /* its 'quant_method' in a packed model's configs */
    int default_refine_passes;
    /* parameters */
    qtip_status (*check)(const qtip_quant_params *p);
    int (*block_cols)(const qtip_quant_params *p);     /* LDL column block */
    double (*default_scale)(const qtip_quant_params *p);
    double (*bits_per_weight)(const qtip_quant_params *p);
    /* code layout */
    qtip_status (*check_shape)(const qtip_quant_params *p, int64_t m, int64_t n);
    int64_t (*code_cols)(const qtip_quant_params *p, int64_t n); /* 0: does not fit */
    int (*code_is_i32)(const qtip_quant_params *p);
    /* the table stored with the codes: rows x cols floats, 0 when none */
    size_t (*table_shape)(const qtip_quant_params *p, size_t *rows, size_t *cols);
    /* quantizer: the codebook, and the RMS Wscale aims at (times the scale) */
    qtip_status (*create)(const qtip_quant_params *p, void **state, double *code_rms);
    void (*destroy)(void *state);
    /* one layer: staging and the LDLQ callbacks in cfg (b, feedback and passes
     * are set by the caller), plus the table stored with the codes in `a` */
    qtip_status (*begin)(void *state, qtip_layer_artifact *a, qtip_ldlq_config *cfg, void **ctx);
    void (*end)(void *ctx);
    /* codes (canonical layout) -> rotated, unscaled W; tlut may be NULL */
    qtip_status (*decode)(const qtip_quant_params *p, const float *tlut, const void *codes,
                          int64_t m, int64_t n, float *Wr);
    /* the method's fields in each form: artifact metadata (written, read), the
     * per-layer report (settings_json), and a packed model's per-layer settings
     * (loader_json written by qtip-pack, loader_from_json read by qtip-verify;
     * `where` starts its error messages) */
    qtip_status (*write_meta)(const qtip_quant_params *p, qtip_st_writer *w);
    qtip_status (*read_meta)(const qtip_st_file *f, const char *path, qtip_quant_params *p);
    void (*settings_json)(const qtip_quant_params *p, json_t *o);
    void (*loader_json)(const qtip_quant_params *p, json_t *o);
    qtip_status (*loader_from_json)(json_t *o, const char *where, qtip_quant_params *p);
    /* optional (NULL: none): the layer's RHT, damping + block LDL and LDLQ on a
     * device, with begin's ctx (quant_layer.c's device_steps). In: Wr the normalized
     * weight, Hr the normalized Hessian, a's signs, target the RMS of Wscale (code
     * RMS x scale). Out: Wr rotated and over a->wscale, Hr rotated and damped, What,
     * a->codes, a->wscale, a->damping, and the rotated proxy terms err and ref
     * (qtip_quant_proxy_terms on Wr, What, Hr). *done = 0: this layer stays on the
     * CPU and nothing was written. */
    qtip_status (*device_layer)(void *ctx, qtip_layer_artifact *a, double target, float *Wr,
                                double *Hr, float *What, double *err, double *ref, int *done);
} qtip_method_ops;

/* The row of a method; NULL if unknown. */
const qtip_method_ops *qtip_method_ops_(qtip_quant_method m);

extern const qtip_method_ops qtip_method_trellis_;
extern const qtip_method_ops qtip_method_e8p_;

/* A packed model's per-layer settings (docs/formats/model-dir.md): the object
 * qtip-pack writes ('quant_method' and the method's loader_json), and the reader
 * qtip-verify uses: the method named by 'quant_method', its fields, and the
 * parameter checks; errors start with `where`. */
json_t *qtip_loader_settings_json_(const qtip_quant_params *p);
qtip_status qtip_loader_settings_from_json_(json_t *o, const char *where, qtip_quant_params *p);

/* Metadata helpers shared by the methods' read_meta/write_meta and the artifact. */
qtip_status qtip_meta_set_(qtip_st_writer *w, const char *key, const char *fmt, ...)
    QTIP_PRINTF(3, 4);
qtip_status qtip_meta_int_(const qtip_st_file *f, const char *path, const char *key, long long lo,
                           long long hi, long long *out);

/* Tensor parallelism (tensor_parallel.c). resolve: tp_size 1 clears tp_split; a
 * larger one takes the split from the name when AUTO (QTIP_E_PARAM naming the
 * tensor when the name says neither side). check_shape: the sharded dimension
 * divides by tp_size and each shard has a Hadamard order and whole code tiles
 * (QTIP_E_SHAPE / QTIP_E_UNSUPPORTED naming the layer, the dimension and the shard). */
qtip_status qtip_tp_resolve_(qtip_quant_params *p, const char *tensor);
qtip_status qtip_tp_check_shape_(const qtip_quant_params *p, int64_t m, int64_t n, const char *tensor);
/* The fields tp_size and tp_split in each form, written only when tp_size > 1:
 * JSON (the report, a packed directory's layer settings; absent = 1) and the
 * artifact's metadata (format version 2 only: read requires them). */
void qtip_tp_json_(const qtip_quant_params *p, json_t *o);
qtip_status qtip_tp_from_json_(json_t *o, const char *where, qtip_quant_params *p);
qtip_status qtip_tp_write_meta_(const qtip_quant_params *p, qtip_st_writer *w);
qtip_status qtip_tp_read_meta_(const qtip_st_file *f, const char *path, qtip_quant_params *p);

/* qtip_layer_artifact_from_info for a description of any tp_size (the public one
 * refuses tp_size > 1 for the library matvec's sake): qtip-verify's reader. */
qtip_status qtip_layer_artifact_from_info_tp_(const qtip_layer_info *in, qtip_layer_artifact **out);

/* Empty artifact with codes/SU/SV allocated for (m, n) and params. */
qtip_status qtip_layer_artifact_alloc_(const qtip_quant_params *p, int64_t m, int64_t n,
                                       qtip_layer_artifact **out);

#endif /* QTIP_QUANT_INTERNAL_H */
