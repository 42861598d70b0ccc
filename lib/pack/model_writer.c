/*
 * model_writer.c — write a whole model directory atomically: a temporary sibling
 * directory filled with shards, JSON files and verbatim copies, fsynced, then
 * renamed over the destination. The only directory-level atomic writer; qtip-pack
 * and qtip-verify --dequantize both use it. The temporary's name and the cleanup
 * of killed runs' temporaries are io_atomic.c's (io_tmp_create, io_remove_stale_tmps).
 */
#include "pack/pack_internal.h"
#include "io/io_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct qtip_model_writer {
    char out[2048];
    char tmp[2400];
    uint64_t max_shard;
    qtip_st_writer *w; /* the shard being filled */
    uint64_t cur, total;
    int nshards;
    json_t *shard_of;  /* tensor -> shard index (file names fixed when all are known) */
    json_t *checksums; /* tensor -> "xxh3-128:..." */
    void **owned;      /* data handed over, freed when its shard is written */
    size_t nowned;
};

qtip_status qtip_model_writer_open(const char *out, uint64_t max_shard, qtip_model_writer **out_w)
{
    *out_w = NULL;
    struct stat sb;
    QTIP_RETURN_ERROR_IF(strlen(out) >= 2048 - 200, QTIP_E_PARAM, "output path too long: '%s'", out);
    QTIP_RETURN_ERROR_IF(lstat(out, &sb) == 0, QTIP_E_IO,
                         "output directory '%s' already exists; choose a new path", out);
    qtip_model_writer *w = qtip_calloc(1, sizeof *w, "model writer");
    if (!w) return QTIP_E_NOMEM;
    snprintf(w->out, sizeof w->out, "%s", out);
    /* "-o out/" names the directory out: the temporary is its sibling, not its child */
    for (size_t l = strlen(w->out); l > 1 && w->out[l - 1] == '/'; l--) w->out[l - 1] = 0;
    io_remove_stale_tmps(w->out);
    w->max_shard = max_shard;
    w->shard_of = json_object();
    w->checksums = json_object();
    if (io_tmp_create(w->out, 1, w->tmp, sizeof w->tmp) != 0) {
        qtip_status s = qtip_error(QTIP_E_IO, "cannot create a directory beside '%s': %s", out,
                                   strerror(errno));
        w->tmp[0] = 0;
        qtip_model_writer_abort(w);
        return s;
    }
    *out_w = w;
    return QTIP_OK;
}

static void free_owned(qtip_model_writer *w)
{
    for (size_t i = 0; i < w->nowned; i++) free(w->owned[i]);
    free(w->owned);
    w->owned = NULL;
    w->nowned = 0;
}

static qtip_status flush_shard(qtip_model_writer *w)
{
    if (!w->w) return QTIP_OK;
    char p[2600];
    snprintf(p, sizeof p, "%s/shard-%05d.safetensors", w->tmp, w->nshards);
    qtip_status s = qtip_st_writer_write(w->w, p, 0);
    qtip_st_writer_free(w->w);
    free_owned(w);
    w->w = NULL;
    w->nshards++;
    w->cur = 0;
    return s;
}

static qtip_status keep_owned(qtip_model_writer *w, const void *data)
{
    void **o = realloc(w->owned, (w->nowned + 1) * sizeof *o);
    if (!o) {
        free((void *)data);
        return qtip_error(QTIP_E_NOMEM, "out of memory writing a model");
    }
    w->owned = o;
    w->owned[w->nowned++] = (void *)data;
    return QTIP_OK;
}

qtip_status qtip_model_writer_tensor(qtip_model_writer *w, const char *name, qtip_dtype dt, int ndim,
                                     const int64_t *shape, const void *data, int own)
{
    if (own) QTIP_FORWARD_IF_ERROR(keep_owned(w, data));
    uint64_t bytes = qtip_dtype_size(dt);
    for (int i = 0; i < ndim; i++) bytes *= (uint64_t)shape[i];
    if (w->w && w->max_shard && w->cur + bytes > w->max_shard) QTIP_FORWARD_IF_ERROR(flush_shard(w));
    if (!w->w) {
        QTIP_FORWARD_IF_ERROR(qtip_st_writer_create(&w->w));
        /* transformers' loader refuses a shard without {"format": "pt"} */
        QTIP_FORWARD_IF_ERROR(qtip_st_writer_set_metadata(w->w, "format", "pt"));
    }
    QTIP_FORWARD_IF_ERROR(qtip_st_writer_add_ref(w->w, name, dt, ndim, shape, data));
    w->cur += bytes;
    w->total += bytes;
    char ck[QTIP_CHECKSUM_STRLEN];
    qtip_checksum_buffer(data, (size_t)bytes, ck);
    json_object_set_new(w->checksums, name, json_string(ck));
    json_object_set_new(w->shard_of, name, json_integer(w->nshards));
    return QTIP_OK;
}

json_t *qtip_model_writer_checksums(const qtip_model_writer *w) { return w->checksums; }

qtip_status qtip_model_writer_json(qtip_model_writer *w, const char *rel, json_t *j)
{
    char p[4500];
    snprintf(p, sizeof p, "%s/%s", w->tmp, rel);
    char *txt = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    QTIP_RETURN_ERROR_IF(!txt, QTIP_E_NOMEM, "cannot format '%s'", p);
    size_t len = strlen(txt);
    char *t2 = realloc(txt, len + 2);
    if (t2) {
        txt = t2;
        txt[len++] = '\n';
        txt[len] = 0;
    }
    qtip_status s = qtip_write_file_atomic(p, txt, len, 0);
    free(txt);
    return s;
}

static qtip_status write_index(qtip_model_writer *w)
{
    json_t *wmap = json_object();
    const char *key;
    json_t *val;
    char fn[64];
    json_object_foreach(w->shard_of, key, val) {
        snprintf(fn, sizeof fn, "model-%05d-of-%05d.safetensors", (int)json_integer_value(val) + 1,
                 w->nshards);
        json_object_set_new(wmap, key, json_string(fn));
    }
    json_t *idx = json_pack("{s:{s:I},s:o}", "metadata", "total_size", (json_int_t)w->total,
                            "weight_map", wmap);
    QTIP_RETURN_ERROR_IF(!idx, QTIP_E_NOMEM, "out of memory writing a model index");
    qtip_status s = qtip_model_writer_json(w, "model.safetensors.index.json", idx);
    json_decref(idx);
    return s;
}

qtip_status qtip_model_writer_tensors_done(qtip_model_writer *w)
{
    QTIP_FORWARD_IF_ERROR(flush_shard(w));
    char p[2600], q[2600];
    for (int i = 0; i < w->nshards; i++) {
        snprintf(p, sizeof p, "%s/shard-%05d.safetensors", w->tmp, i);
        if (w->nshards == 1) snprintf(q, sizeof q, "%s/model.safetensors", w->tmp);
        else snprintf(q, sizeof q, "%s/model-%05d-of-%05d.safetensors", w->tmp, i + 1, w->nshards);
        QTIP_RETURN_ERROR_IF(rename(p, q) != 0, QTIP_E_IO, "cannot rename '%s': %s", p, strerror(errno));
    }
    return w->nshards > 1 ? write_index(w) : QTIP_OK;
}

/* mkdir -p of the directories of `rel` inside the temporary. */
static qtip_status make_parents(const qtip_model_writer *w, const char *rel)
{
    char p[4500];
    int base = snprintf(p, sizeof p, "%s/", w->tmp);
    snprintf(p + base, sizeof p - (size_t)base, "%s", rel);
    for (char *c = p + base; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        int r = mkdir(p, 0777);
        int err = errno;
        *c = '/';
        QTIP_RETURN_ERROR_IF(r != 0 && err != EEXIST, QTIP_E_IO, "cannot create a directory for '%s': %s",
                             p, strerror(err));
    }
    return QTIP_OK;
}

static qtip_status copy_fd(int in, int out, const char *src, const char *dst)
{
    char buf[1 << 16];
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        QTIP_RETURN_ERROR_IF(r < 0, QTIP_E_IO, "cannot read '%s': %s", src, strerror(errno));
        if (r == 0) break;
        for (ssize_t done = 0; done < r;) {
            ssize_t n = write(out, buf + done, (size_t)(r - done));
            if (n < 0 && errno == EINTR) continue;
            QTIP_RETURN_ERROR_IF(n < 0, QTIP_E_IO, "cannot write '%s': %s", dst, strerror(errno));
            done += n;
        }
    }
    QTIP_RETURN_ERROR_IF(fsync(out) != 0, QTIP_E_IO, "cannot sync '%s': %s", dst, strerror(errno));
    return QTIP_OK;
}

qtip_status qtip_model_writer_copy(qtip_model_writer *w, const char *src, const char *rel)
{
    QTIP_FORWARD_IF_ERROR(make_parents(w, rel));
    /* src is never a link (see qtip_copy_item): O_NOFOLLOW refuses one swapped in
     * after the listing, O_NONBLOCK keeps a swapped-in FIFO from blocking us */
    int in = open(src, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    QTIP_RETURN_ERROR_IF(in < 0, QTIP_E_IO, "cannot open '%s': %s", src, strerror(errno));
    struct stat sb;
    if (fstat(in, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(in);
        return qtip_error(QTIP_E_IO, "'%s' is not a regular file; refusing to copy it", src);
    }
    fcntl(in, F_SETFL, fcntl(in, F_GETFL) & ~O_NONBLOCK);
    io_note_input(&sb, src); /* a copied file is an input too: never an output */
    char dst[4500];
    snprintf(dst, sizeof dst, "%s/%s", w->tmp, rel);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    qtip_status s = out < 0 ? qtip_error(QTIP_E_IO, "cannot create '%s': %s", dst, strerror(errno))
                            : copy_fd(in, out, src, dst);
    if (out >= 0) close(out);
    close(in);
    return s;
}

static void writer_free(qtip_model_writer *w)
{
    qtip_st_writer_free(w->w);
    free_owned(w);
    json_decref(w->shard_of);
    json_decref(w->checksums);
    free(w);
}

qtip_status qtip_model_writer_commit(qtip_model_writer *w)
{
    qtip_status s = io_fsync_dir(w->tmp);
    if (!s && rename(w->tmp, w->out) != 0)
        s = qtip_error(QTIP_E_IO, "cannot rename '%s' to '%s': %s", w->tmp, w->out, strerror(errno));
    if (s) {
        qtip_model_writer_abort(w);
        return s;
    }
    qtip_status ps = io_fsync_parent(w->out);
    writer_free(w);
    return ps;
}

void qtip_model_writer_abort(qtip_model_writer *w)
{
    if (!w) return;
    if (w->tmp[0]) io_remove_tree(w->tmp);
    writer_free(w);
}
