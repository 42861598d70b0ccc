/*
 * model_dir.c — read a Hugging Face model directory: config.json, weights (one
 * safetensors file or a sharded index), the other files to carry along, and the
 * linear layers qtip quantizes.
 */
#include "io/model_dir_internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct qtip_model_dir {
    char *path;
    char *config;
    qtip_st_file *st;
    char **linears;
    size_t nlinears;
    qtip_copy_item *extras;
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

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const qtip_copy_item *)a)->rel, ((const qtip_copy_item *)b)->rel);
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

/* --- the copy policy ---------------------------------------------------------
 * Files copied verbatim into an output are not parsed, so nothing checks what
 * they hold: a link to /etc/shadow would land in a packed model that is then
 * shared. Only files that resolve inside the model directory (or the Hugging Face
 * cache tree a snapshot belongs to) are copied unless the user asks otherwise. */
#define COPY_MAX_DEPTH 16

typedef struct {
    const char *dir;      /* as given: used for opening and in messages */
    char root[PATH_MAX];  /* its real path */
    char blobs[PATH_MAX]; /* ".../models--X/blobs" when dir is a cache snapshot, else "" */
    unsigned flags;
    qtip_copy_skip_fn skip;
    qtip_copy_item *items;
    size_t n;
} copy_walk;

static int is_under(const char *path, const char *root)
{
    size_t l = strlen(root);
    return l && strncmp(path, root, l) == 0 && (path[l] == '/' || path[l] == 0);
}

/* ".../models--X/snapshots/<rev>" -> ".../models--X/blobs" (HF hub cache layout). */
static void cache_blobs(const char *root, char *out, size_t cap)
{
    out[0] = 0;
    const char *rev = strrchr(root, '/');
    size_t l = rev ? (size_t)(rev - root) : 0; /* root[0, l) ends in "/snapshots" */
    if (l < 10 || strncmp(root + l - 10, "/snapshots", 10) != 0) return;
    size_t ml = l - 10, s = ml;
    while (s > 0 && root[s - 1] != '/') s--;
    if (strncmp(root + s, "models--", 8) != 0) return;
    snprintf(out, cap, "%.*s/blobs", (int)ml, root);
}

static const char *kind_name(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : "a special file";
}

static qtip_status walk(copy_walk *c, const char *rel, int depth);

static qtip_status push_item(copy_walk *c, const char *rel, const char *src)
{
    qtip_copy_item *a = realloc(c->items, (c->n + 1) * sizeof *a);
    QTIP_RETURN_ERROR_IF(!a, QTIP_E_NOMEM, "out of memory listing a model directory");
    c->items = a;
    a[c->n].rel = strdup(rel);
    a[c->n].src = strdup(src);
    c->n++;
    QTIP_RETURN_ERROR_IF(!a[c->n - 1].rel || !a[c->n - 1].src, QTIP_E_NOMEM,
                         "out of memory listing a model directory");
    return QTIP_OK;
}

/* lstat of a link, resolved under the policy: *sb becomes its target's stat and
 * `real` its resolved path. */
static qtip_status resolve_link(const copy_walk *c, const char *p, struct stat *sb, char real[PATH_MAX])
{
    char target[PATH_MAX] = "";
    ssize_t tl = readlink(p, target, sizeof target - 1);
    target[tl > 0 ? tl : 0] = 0;
    QTIP_RETURN_ERROR_IF(!realpath(p, real), QTIP_E_IO,
                         "'%s' is a link to '%s', which does not resolve (%s); refusing to copy it",
                         p, target, strerror(errno));
    int inside = is_under(real, c->root) || (c->blobs[0] && is_under(real, c->blobs));
    int same = strcmp(target, real) == 0;
    QTIP_RETURN_ERROR_IF(!inside && !(c->flags & QTIP_MODEL_DIR_FOLLOW_LINKS), QTIP_E_IO,
                         "'%s' is a link to '%s'%s%s%s, outside the model directory; refusing to "
                         "copy it (--follow-links copies it)", p, target, same ? "" : " (resolving to '",
                         same ? "" : real, same ? "" : "')");
    QTIP_RETURN_ERROR_IF(stat(real, sb) != 0, QTIP_E_IO, "cannot stat '%s' (the target of '%s'): %s",
                         real, p, strerror(errno));
    return QTIP_OK;
}

static qtip_status visit(copy_walk *c, const char *rel, int depth)
{
    char p[PATH_MAX + 1100], real[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", c->dir, rel);
    struct stat sb;
    QTIP_RETURN_ERROR_IF(lstat(p, &sb) != 0, QTIP_E_IO, "cannot stat '%s': %s", p, strerror(errno));
    int link = S_ISLNK(sb.st_mode);
    if (link) QTIP_FORWARD_IF_ERROR(resolve_link(c, p, &sb, real));
    if (S_ISREG(sb.st_mode)) return push_item(c, rel, link ? real : p);
    if (!S_ISDIR(sb.st_mode))
        return qtip_error(QTIP_E_IO, "'%s' is %s; refusing to copy it (only regular files and "
                          "directories are copied)", p, kind_name(sb.st_mode));
    QTIP_RETURN_ERROR_IF(depth >= COPY_MAX_DEPTH, QTIP_E_IO,
                         "'%s' is nested deeper than %d directories (a link cycle?)", p, COPY_MAX_DEPTH);
    return walk(c, rel, depth + 1);
}

static qtip_status walk(copy_walk *c, const char *rel, int depth)
{
    char p[PATH_MAX + 1100], child[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", c->dir, rel);
    DIR *dh = opendir(p);
    QTIP_RETURN_ERROR_IF(!dh, QTIP_E_IO, "cannot list '%s': %s", p, strerror(errno));
    qtip_status s = QTIP_OK;
    struct dirent *e;
    while (!s && (e = readdir(dh))) {
        if (e->d_name[0] == '.' || (depth == 0 && c->skip && c->skip(e->d_name))) continue;
        int l = snprintf(child, sizeof child, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        s = l >= (int)sizeof child ? qtip_error(QTIP_E_IO, "path too long in '%s'", p)
                                   : visit(c, child, depth);
    }
    closedir(dh);
    return s;
}

qtip_status qtip_copy_list(const char *dir, unsigned flags, qtip_copy_skip_fn skip,
                           qtip_copy_item **items, size_t *count)
{
    *items = NULL;
    *count = 0;
    copy_walk *c = qtip_calloc(1, sizeof *c, "directory walk");
    if (!c) return QTIP_E_NOMEM;
    c->dir = dir;
    c->flags = flags;
    c->skip = skip;
    qtip_status s = realpath(dir, c->root) ? QTIP_OK
                    : qtip_error(QTIP_E_IO, "cannot resolve '%s': %s", dir, strerror(errno));
    if (!s) {
        cache_blobs(c->root, c->blobs, sizeof c->blobs);
        s = walk(c, "", 0);
    }
    if (s) qtip_copy_list_free(c->items, c->n);
    else {
        if (c->n) qsort(c->items, c->n, sizeof *c->items, cmp_item);
        *items = c->items;
        *count = c->n;
    }
    free(c);
    return s;
}

void qtip_copy_list_free(qtip_copy_item *items, size_t count)
{
    for (size_t i = 0; items && i < count; i++) {
        free(items[i].rel);
        free(items[i].src);
    }
    free(items);
}

static qtip_status open_inner(qtip_model_dir *d, const char *dir, unsigned flags)
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
    int is_obj = json_is_object(cfg);
    json_decref(cfg);
    QTIP_RETURN_ERROR_IF(!is_obj, QTIP_E_FORMAT, "cannot parse '%s': %s (line %d)", p,
                         cfg ? "not an object" : je.text, je.line);

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
    s = qtip_copy_list(dir, flags, is_weight_file, &d->extras, &d->nextras);
    if (s) qtip_error_prefix("model directory '%s'", dir);
    return s;
}

qtip_status qtip_model_dir_open(const char *dir, unsigned flags, qtip_model_dir **out)
{
    *out = NULL;
    qtip_model_dir *d = qtip_calloc(1, sizeof *d, "model directory");
    if (!d) return QTIP_E_NOMEM;
    d->path = strdup(dir);
    qtip_status s = d->path ? open_inner(d, dir, flags) : qtip_error(QTIP_E_NOMEM, "out of memory");
    if (s) { qtip_model_dir_close(d); return s; }
    *out = d;
    return QTIP_OK;
}

void qtip_model_dir_close(qtip_model_dir *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nlinears; i++) free(d->linears[i]);
    free(d->linears);
    qtip_copy_list_free(d->extras, d->nextras);
    qtip_st_close(d->st);
    free(d->config);
    free(d->path);
    free(d);
}

const char *qtip_model_dir_path(const qtip_model_dir *d) { return d->path; }
qtip_st_file *qtip_model_dir_weights(const qtip_model_dir *d) { return d->st; }
const char *qtip_model_dir_config_text(const qtip_model_dir *d) { return d->config; }
size_t qtip_model_dir_linear_count(const qtip_model_dir *d) { return d->nlinears; }
const char *qtip_model_dir_linear(const qtip_model_dir *d, size_t i)
{
    return i < d->nlinears ? d->linears[i] : NULL;
}
size_t qtip_model_dir_extra_count(const qtip_model_dir *d) { return d->nextras; }
const char *qtip_model_dir_extra(const qtip_model_dir *d, size_t i)
{
    return i < d->nextras ? d->extras[i].rel : NULL;
}

const char *qtip_model_dir_extra_source_(const qtip_model_dir *d, size_t i)
{
    return i < d->nextras ? d->extras[i].src : NULL;
}
