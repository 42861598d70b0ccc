/*
 * io_atomic.c — atomic output files: write a temporary beside the target,
 * fsync it, rename it over the target, fsync the directory.
 *
 * The temporary lives in the target's directory because rename(2) is atomic only
 * within one file system. It is created with O_EXCL and mode 0666 (the umask
 * applies, as for any new file) rather than with mkstemp, whose 0600 would leak
 * into the final file. Its name, "<target>.qtip-tmp.<host>-<pid>_<start>.<6 hex>",
 * says whose it is (<start>: the writer's start time, io_tmp_owner.c, since pids
 * are reused): a run killed with -9 cannot delete its temporary, so the next open
 * of the same target deletes those written on this host whose writer no longer
 * exists, and nothing else (on a shared file system another host's pids mean
 * nothing here; a container's host name differs from its host's). Names without
 * <start>, written before it was recorded, are judged by the pid alone. The '_'
 * keeps the two forms apart: "<host>-<pid>-<n>" could be host "<host>-<pid>"'s
 * old name for pid n.
 * A target that is one of the process's inputs (io_open.c records them) is
 * refused: writing it would destroy what is being read.
 */
#include "io/io_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define TMP_TAG ".qtip-tmp."

struct qtip_atomic_file {
    int fd;
    int to_stdout; /* "-": streamed, cannot be atomic */
    char *path;
    char *tmp;
    ZSTD_CStream *zc;
    unsigned char *zbuf;
    size_t zbuf_size;
};

static qtip_status write_all(int fd, const void *buf, size_t len, const char *name)
{
    const unsigned char *p = (const unsigned char *)buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return qtip_error(QTIP_E_IO, "cannot write '%s': %s", name, strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
    return QTIP_OK;
}

static void atomic_free(qtip_atomic_file *f)
{
    if (!f) return;
    if (f->fd >= 0 && !f->to_stdout) close(f->fd);
    if (f->tmp) unlink(f->tmp);
    ZSTD_freeCStream(f->zc);
    free(f->zbuf);
    free(f->tmp);
    free(f->path);
    free(f);
}

/* A name no other writer picks: pid, a clock reading and a counter. */
static void tmp_suffix(char *out, size_t size, unsigned attempt)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned c = __atomic_fetch_add(&counter, 1u, __ATOMIC_RELAXED);
    unsigned long long x = ((unsigned long long)getpid() << 32) ^ (unsigned long long)ts.tv_nsec ^
                           ((unsigned long long)c << 16) ^ attempt;
    x *= 0x9E3779B97F4A7C15ull;
    snprintf(out, size, "%06llx", (x >> 40) & 0xffffffull);
}

/* This machine's name, as temporaries carry it ("unknown" if it has none; a '/'
 * would make it two path components). */
static const char *host_name(char *buf, size_t size)
{
    if (gethostname(buf, size) != 0 || !buf[0]) snprintf(buf, size, "unknown");
    buf[size - 1] = 0;
    for (char *c = buf; *c; c++)
        if (*c == '/') *c = '_';
    return buf;
}

int io_tmp_create(const char *target, int is_dir, char *tmp, size_t cap)
{
    char host[256];
    host_name(host, sizeof host);
    for (unsigned attempt = 0;; attempt++) {
        char sfx[16];
        tmp_suffix(sfx, sizeof sfx, attempt);
        if ((size_t)snprintf(tmp, cap, "%s" TMP_TAG "%s-%ld_%llu.%s", target, host, (long)getpid(),
                             io_process_start_time((long)getpid()), sfx) >= cap) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = is_dir ? mkdir(tmp, 0777) : open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST || attempt >= 100) return fd;
    }
}

/* Decimal digits in [p, end) into *v; 0 when empty, not digits or too large. */
static int parse_decimal(const char *p, const char *end, unsigned long long *v)
{
    *v = 0;
    if (p >= end) return 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || *v > (~0ull - 9) / 10) return 0;
        *v = *v * 10 + (unsigned long long)(*p - '0');
    }
    return 1;
}

/* "<host>-<pid>[_<start>].<6 hex>" after TMP_TAG: our name, this host, and a
 * writer gone (io_tmp_writer_gone). */
static int stale_ours(const char *rest, const char *host)
{
    size_t n = strlen(rest), hl = strlen(host);
    if (n < hl + 10 || strncmp(rest, host, hl) != 0 || rest[hl] != '-') return 0;
    const char *h = rest + n - 6;
    if (h[-1] != '.') return 0;
    for (int i = 0; i < 6; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'))) return 0;
    const char *ids = rest + hl + 1, *sep = memchr(ids, '_', (size_t)(h - 1 - ids));
    unsigned long long pid, start = 0;
    if (!parse_decimal(ids, sep ? sep : h - 1, &pid) || pid > 1ull << 30) return 0;
    if (sep && !parse_decimal(sep + 1, h - 1, &start)) return 0;
    return io_tmp_writer_gone((long)pid, start);
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type == FTW_DP) rmdir(path);
    else unlink(path);
    return 0;
}

void io_remove_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* The directory part of `path` ("." without one, "/" for "/name"), malloc'd. */
static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    char *dir = (char *)malloc(dlen + 2);
    if (!dir) return NULL;
    if (!slash) {
        strcpy(dir, ".");
    } else {
        if (dlen == 0) dlen = 1; /* "/name": the root */
        memcpy(dir, path, dlen);
        dir[dlen] = 0;
    }
    return dir;
}

void io_remove_stale_tmps(const char *target)
{
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    const size_t blen = strlen(base), tl = sizeof TMP_TAG - 1;
    char *dir = parent_of(target);
    DIR *d = dir ? opendir(dir) : NULL;
    char host[256];
    host_name(host, sizeof host);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, base, blen) != 0 || strncmp(e->d_name + blen, TMP_TAG, tl) != 0 ||
            !stale_ours(e->d_name + blen + tl, host))
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (!S_ISDIR(sb.st_mode)) {
            unlinkat(dirfd(d), e->d_name, 0);
            continue;
        }
        size_t pl = strlen(dir) + strlen(e->d_name) + 2;
        char *p = (char *)malloc(pl);
        if (!p) continue;
        snprintf(p, pl, "%s/%s", dir, e->d_name);
        qtip_log(QTIP_LOG_INFO, "removing '%s', left by a killed run", p);
        io_remove_tree(p);
        free(p);
    }
    if (d) closedir(d);
    free(dir);
}

static qtip_status create_tmp(qtip_atomic_file *f, const char *path)
{
    size_t n = strlen(path) + sizeof TMP_TAG + 256 + 32;
    f->tmp = (char *)malloc(n);
    QTIP_RETURN_ERROR_IF(!f->tmp, QTIP_E_NOMEM, "cannot write '%s': out of memory", path);
    f->fd = io_tmp_create(path, 0, f->tmp, n);
    if (f->fd >= 0) return QTIP_OK;
    qtip_status s = qtip_error(QTIP_E_IO, "cannot write '%s': cannot create '%s': %s", path,
                               f->tmp, strerror(errno));
    free(f->tmp);
    f->tmp = NULL; /* nothing to unlink */
    return s;
}

qtip_status qtip_atomic_open(const char *path, int compress_level, qtip_atomic_file **out)
{
    QTIP_RETURN_ERROR_IF(!path || !out, QTIP_E_PARAM, "atomic open: path and out are required");
    *out = NULL;
    QTIP_RETURN_ERROR_IF(!path[0], QTIP_E_PARAM, "cannot write '': empty path");
    int to_stdout = strcmp(path, "-") == 0;
    if (!to_stdout) {
        QTIP_FORWARD_IF_ERROR(io_refuse_input(path));
        io_remove_stale_tmps(path);
    }
    qtip_atomic_file *f = (qtip_atomic_file *)calloc(1, sizeof *f);
    QTIP_RETURN_ERROR_IF(!f, QTIP_E_NOMEM, "cannot write '%s': out of memory", path);
    f->fd = -1;
    f->path = strdup(path);
    if (!f->path) goto nomem;
    if (to_stdout) {
        f->to_stdout = 1;
        f->fd = STDOUT_FILENO;
    } else {
        qtip_status s = create_tmp(f, path);
        if (s != QTIP_OK) {
            atomic_free(f);
            return s;
        }
    }
    if (compress_level > 0) {
        f->zc = ZSTD_createCStream();
        f->zbuf_size = ZSTD_CStreamOutSize();
        f->zbuf = (unsigned char *)malloc(f->zbuf_size);
        if (!f->zc || !f->zbuf) goto nomem;
        if (compress_level > ZSTD_maxCLevel()) compress_level = ZSTD_maxCLevel();
        size_t r = ZSTD_CCtx_setParameter(f->zc, ZSTD_c_compressionLevel, compress_level);
        if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(f->zc, ZSTD_c_checksumFlag, 1);
        if (ZSTD_isError(r)) {
            qtip_status s = qtip_error(QTIP_E_PARAM, "cannot write '%s': zstd: %s", path,
                                       ZSTD_getErrorName(r));
            atomic_free(f);
            return s;
        }
    }
    *out = f;
    return QTIP_OK;
nomem:
    atomic_free(f);
    return qtip_error(QTIP_E_NOMEM, "cannot write '%s': out of memory", path);
}

static qtip_status zstd_push(qtip_atomic_file *f, const void *buf, size_t len, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = {buf, len, 0};
    for (;;) {
        ZSTD_outBuffer o = {f->zbuf, f->zbuf_size, 0};
        size_t r = ZSTD_compressStream2(f->zc, &o, &in, mode);
        if (ZSTD_isError(r))
            return qtip_error(QTIP_E_IO, "cannot write '%s': zstd: %s", f->path,
                              ZSTD_getErrorName(r));
        QTIP_FORWARD_IF_ERROR(write_all(f->fd, f->zbuf, o.pos, f->path));
        if (mode == ZSTD_e_end ? r == 0 : in.pos == in.size) return QTIP_OK;
    }
}

qtip_status qtip_atomic_write(qtip_atomic_file *f, const void *buf, size_t len)
{
    QTIP_RETURN_ERROR_IF(!f, QTIP_E_PARAM, "atomic write: no file");
    if (len == 0) return QTIP_OK;
    QTIP_RETURN_ERROR_IF(!buf, QTIP_E_PARAM, "cannot write '%s': NULL buffer", f->path);
    if (f->zc) return zstd_push(f, buf, len, ZSTD_e_continue);
    return write_all(f->fd, buf, len, f->path);
}

qtip_status io_fsync_parent(const char *path)
{
    char *dir = parent_of(path);
    if (!dir) return qtip_error(QTIP_E_NOMEM, "cannot sync directory of '%s'", path);
    qtip_status s = io_fsync_dir(dir);
    free(dir);
    return s;
}

qtip_status qtip_atomic_commit(qtip_atomic_file *f)
{
    QTIP_RETURN_ERROR_IF(!f, QTIP_E_PARAM, "atomic commit: no file");
    qtip_status s = QTIP_OK;
    if (f->zc) s = zstd_push(f, NULL, 0, ZSTD_e_end);
    if (s == QTIP_OK && f->to_stdout) {
        /* stdout may be a pipe or a terminal: EINVAL means it cannot be synced. */
        if (fsync(f->fd) != 0 && errno != EINVAL && errno != EROFS && errno != ENOTSUP)
            s = qtip_error(QTIP_E_IO, "cannot write '<stdout>': %s", strerror(errno));
        atomic_free(f);
        return s;
    }
    if (s == QTIP_OK && fsync(f->fd) != 0)
        s = qtip_error(QTIP_E_IO, "cannot write '%s': fsync: %s", f->path, strerror(errno));
    if (s == QTIP_OK) {
        int fd = f->fd;
        f->fd = -1;
        if (close(fd) != 0)
            s = qtip_error(QTIP_E_IO, "cannot write '%s': close: %s", f->path, strerror(errno));
    }
    if (s == QTIP_OK && rename(f->tmp, f->path) != 0)
        s = qtip_error(QTIP_E_IO, "cannot write '%s': rename from '%s': %s", f->path, f->tmp,
                       strerror(errno));
    if (s == QTIP_OK) {
        free(f->tmp);
        f->tmp = NULL; /* renamed: nothing left to unlink */
        s = io_fsync_parent(f->path);
    }
    atomic_free(f);
    return s;
}

void qtip_atomic_abort(qtip_atomic_file *f) { atomic_free(f); }

qtip_status qtip_write_file_atomic(const char *path, const void *buf, size_t len,
                                   int compress_level)
{
    qtip_atomic_file *f;
    QTIP_FORWARD_IF_ERROR(qtip_atomic_open(path, compress_level, &f));
    qtip_status s = qtip_atomic_write(f, buf, len);
    if (s != QTIP_OK) {
        qtip_atomic_abort(f);
        return s;
    }
    return qtip_atomic_commit(f);
}
