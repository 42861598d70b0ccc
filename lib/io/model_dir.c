/*
 * model_dir.c — read a Hugging Face model directory: config.json, weights (one
 * safetensors file or a sharded index), the other files to carry along, and the
 * linear layers qtip quantizes.
 */
#include "core/internal.h"

#include <dirent.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

struct qtip_model_dir {
    char *path;
    char *config;
    qtip_st_file *st;
    qtip_dtype dtype;
    char **linears;
    size_t nlinears;
    char **extras;
    size_t nextras;
};

static const char *const linear_suffixes[] = {
    /* Llama / Qwen / Mistral */
    ".q_proj", ".k_proj", ".v_proj", ".o_proj", ".gate_proj", ".up_proj", ".down_proj",
    /* BERT (all-MiniLM) */
    ".attention.self.query", ".attention.self.key", ".attention.self.value",
    ".attention.output.dense", ".intermediate.dense", ".output.dense",
};

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int qtip_is_quantizable_linear(const char *prefix)
{
    for (size_t i = 0; i < sizeof linear_suffixes / sizeof linear_suffixes[0]; i++)
        if (ends_with(prefix, linear_suffixes[i])) return 1;
    return 0;
}

static int is_weight_file(const char *name)
{
    return strcmp(name, "config.json") == 0 || ends_with(name, ".safetensors") ||
           strcmp(name, "model.safetensors.index.json") == 0 || ends_with(name, ".bin") ||
           strcmp(name, "quantize_config.json") == 0 || name[0] == '.';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static qtip_status push(char ***arr, size_t *n, const char *s)
{
    char **a = realloc(*arr, (*n + 1) * sizeof *a);
    QTIP_RETURN_ERROR_IF(!a, QTIP_E_NOMEM, "out of memory listing a model directory");
    *arr = a;
    a[*n] = strdup(s);
    QTIP_RETURN_ERROR_IF(!a[*n], QTIP_E_NOMEM, "out of memory listing a model directory");
    (*n)++;
    return QTIP_OK;
}

static qtip_status open_inner(qtip_model_dir *d, const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", dir);
    void *buf = NULL;
    size_t len = 0;
    qtip_status s = qtip_read_file(p, &buf, &len);
    if (s) {
        qtip_error_prefix("cannot open model directory '%s'", dir);
        return s;
    }
    d->config = buf;
    json_error_t je;
    json_t *cfg = json_loadb(d->config, len, 0, &je);
    QTIP_RETURN_ERROR_IF(!cfg || !json_is_object(cfg), QTIP_E_FORMAT,
                         "cannot parse '%s': %s (line %d)", p, cfg ? "not an object" : je.text,
                         je.line);
    const char *dt = json_string_value(json_object_get(cfg, "torch_dtype"));
    d->dtype = dt && strcmp(dt, "bfloat16") == 0 ? QTIP_DT_BF16
               : dt && strcmp(dt, "float32") == 0 ? QTIP_DT_F32 : QTIP_DT_F16;
    json_decref(cfg);

    struct stat sb;
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    if (stat(p, &sb) != 0) snprintf(p, sizeof p, "%s/model.safetensors", dir);
    s = qtip_st_open(p, &d->st);
    if (s) {
        qtip_error_prefix("cannot read weights of '%s'", dir);
        return s;
    }
    for (size_t i = 0; i < qtip_st_count(d->st); i++) {
        const qtip_tensor_view *v = qtip_st_tensor(d->st, i);
        if (!ends_with(v->name, ".weight") || v->ndim != 2) continue;
        char pre[1024];
        size_t l = strlen(v->name) - strlen(".weight");
        if (l >= sizeof pre) continue;
        memcpy(pre, v->name, l);
        pre[l] = 0;
        if (qtip_is_quantizable_linear(pre)) QTIP_FORWARD_IF_ERROR(push(&d->linears, &d->nlinears, pre));
    }
    DIR *dh = opendir(dir);
    QTIP_RETURN_ERROR_IF(!dh, QTIP_E_IO, "cannot list '%s'", dir);
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (is_weight_file(e->d_name)) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            s = push(&d->extras, &d->nextras, e->d_name);
            if (s) { closedir(dh); return s; }
        }
    }
    closedir(dh);
    if (d->nextras) qsort(d->extras, d->nextras, sizeof *d->extras, cmp_str);
    return QTIP_OK;
}

qtip_status qtip_model_dir_open(const char *dir, qtip_model_dir **out)
{
    *out = NULL;
    qtip_model_dir *d = qtip_calloc(1, sizeof *d, "model directory");
    if (!d) return QTIP_E_NOMEM;
    d->path = strdup(dir);
    qtip_status s = d->path ? open_inner(d, dir) : qtip_error(QTIP_E_NOMEM, "out of memory");
    if (s) { qtip_model_dir_close(d); return s; }
    *out = d;
    return QTIP_OK;
}

void qtip_model_dir_close(qtip_model_dir *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nlinears; i++) free(d->linears[i]);
    for (size_t i = 0; i < d->nextras; i++) free(d->extras[i]);
    free(d->linears);
    free(d->extras);
    qtip_st_close(d->st);
    free(d->config);
    free(d->path);
    free(d);
}

const char *qtip_model_dir_path(const qtip_model_dir *d) { return d->path; }
qtip_st_file *qtip_model_dir_weights(const qtip_model_dir *d) { return d->st; }
const char *qtip_model_dir_config_text(const qtip_model_dir *d) { return d->config; }
qtip_dtype qtip_model_dir_dtype(const qtip_model_dir *d) { return d->dtype; }
size_t qtip_model_dir_linear_count(const qtip_model_dir *d) { return d->nlinears; }
const char *qtip_model_dir_linear(const qtip_model_dir *d, size_t i)
{
    return i < d->nlinears ? d->linears[i] : NULL;
}
size_t qtip_model_dir_extra_count(const qtip_model_dir *d) { return d->nextras; }
const char *qtip_model_dir_extra(const qtip_model_dir *d, size_t i)
{
    return i < d->nextras ? d->extras[i] : NULL;
}
