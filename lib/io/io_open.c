/*
 * io_open.c — the one policy for opening files that are parsed, and the registry
 * of opened inputs.
 *
 * Why stat before open: opening a FIFO for reading blocks until a writer comes,
 * so a FIFO given as weights would hang the command. stat() says what the path is
 * without opening it; the open is then non-blocking anyway (a FIFO swapped in
 * between cannot hang us) and fstat confirms the descriptor is the regular file.
 *
 * Why a registry: every command's inputs are opened here, so recording their
 * (st_dev, st_ino) lets the atomic writer refuse an output that is an input by
 * another name (a hard link, a symlink, "./x" for "x") without each command
 * comparing paths.
 */
#include "io/io_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static const char *file_type(mode_t m)
{
    if (S_ISDIR(m)) return "directory";
    if (S_ISFIFO(m)) return "FIFO";
    if (S_ISSOCK(m)) return "socket";
    if (S_ISCHR(m)) return "character device";
    if (S_ISBLK(m)) return "block device";
    if (S_ISLNK(m)) return "symbolic link";
    return "special file";
}

qtip_status io_open_input(const char *path, int *out_fd, struct stat *out_st)
{
    *out_fd = -1;
    struct stat st;
    QTIP_RETURN_ERROR_IF(stat(path, &st) != 0, QTIP_E_IO, "cannot open '%s': %s", path,
                         strerror(errno));
    QTIP_RETURN_ERROR_IF(!S_ISREG(st.st_mode), QTIP_E_IO,
                         "cannot read '%s': it is a %s, not a regular file", path,
                         file_type(st.st_mode));
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    QTIP_RETURN_ERROR_IF(fd < 0, QTIP_E_IO, "cannot open '%s': %s", path, strerror(errno));
    int flags;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (flags = fcntl(fd, F_GETFL)) < 0 ||
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        int e = errno;
        int reg = S_ISREG(st.st_mode);
        close(fd);
        if (!reg)
            return qtip_error(QTIP_E_IO, "cannot read '%s': it is a %s, not a regular file", path,
                              file_type(st.st_mode));
        return qtip_error(QTIP_E_IO, "cannot open '%s': %s", path, strerror(e));
    }
    io_note_input(&st, path);
    *out_fd = fd;
    if (out_st) *out_st = st;
    return QTIP_OK;
}

/* --- registry of inputs ------------------------------------------------------ */

typedef struct {
    dev_t dev;
    ino_t ino;
    char *path;
} input_rec;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static input_rec *reg;
static size_t reg_n, reg_cap;

static const char *find_locked(dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < reg_n; i++)
        if (reg[i].dev == dev && reg[i].ino == ino) return reg[i].path;
    return NULL;
}

void io_note_input(const struct stat *st, const char *path)
{
    pthread_mutex_lock(&reg_lock);
    if (!find_locked(st->st_dev, st->st_ino)) {
        if (reg_n == reg_cap) {
            size_t nc = reg_cap ? 2 * reg_cap : 16;
            input_rec *p = (input_rec *)realloc(reg, nc * sizeof *p);
            if (p) {
                reg = p;
                reg_cap = nc;
            }
        }
        char *copy = reg_n < reg_cap ? strdup(path) : NULL;
        /* Out of memory: the input goes unrecorded; the output check is a safety
         * net, and the allocation failure will surface elsewhere. */
        if (copy) reg[reg_n++] = (input_rec){st->st_dev, st->st_ino, copy};
    }
    pthread_mutex_unlock(&reg_lock);
}

qtip_status io_refuse_input(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return QTIP_OK; /* does not exist (yet): nothing to destroy */
    qtip_status s = QTIP_OK;
    pthread_mutex_lock(&reg_lock);
    const char *in = find_locked(st.st_dev, st.st_ino);
    if (in)
        s = qtip_error(QTIP_E_IO, "'%s' is also an input ('%s'); refusing to overwrite an input",
                       path, in);
    pthread_mutex_unlock(&reg_lock);
    return s;
}

void qtip_io_forget_inputs(void)
{
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < reg_n; i++) free(reg[i].path);
    free(reg);
    reg = NULL;
    reg_n = reg_cap = 0;
    pthread_mutex_unlock(&reg_lock);
}

qtip_status io_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    QTIP_RETURN_ERROR_IF(fd < 0, QTIP_E_IO, "cannot sync directory '%s': %s", dir, strerror(errno));
    qtip_status s = QTIP_OK;
    /* Some file systems refuse fsync on directories (EINVAL, EROFS): nothing to do there. */
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        s = qtip_error(QTIP_E_IO, "cannot sync directory '%s': %s", dir, strerror(errno));
    close(fd);
    return s;
}

/* dirname(path) resolved, then basename appended: the absolute path `path` would
 * have (it need not exist yet). 0 when the parent cannot be resolved. */
static int resolve_target(const char *path, char out[PATH_MAX])
{
    char parent[PATH_MAX];
    size_t l = strlen(path);
    while (l > 1 && path[l - 1] == '/') l--; /* "out/" names out */
    if (l >= sizeof parent) return 0;
    memcpy(parent, path, l);
    parent[l] = 0;
    char *slash = strrchr(parent, '/');
    const char *base = slash ? slash + 1 : parent;
    char base_copy[PATH_MAX];
    snprintf(base_copy, sizeof base_copy, "%s", base);
    if (slash == parent) parent[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(parent, sizeof parent, ".");
    char rp[PATH_MAX];
    if (!realpath(parent, rp)) return 0;
    return snprintf(out, PATH_MAX, "%s/%s", strcmp(rp, "/") ? rp : "", base_copy) < PATH_MAX;
}

qtip_status io_refuse_inside(const char *out, const char *dir)
{
    char o[PATH_MAX], d[PATH_MAX];
    if (!dir || !realpath(dir, d) || !resolve_target(out, o)) return QTIP_OK;
    size_t dl = strlen(d);
    QTIP_RETURN_ERROR_IF(!strcmp(o, d), QTIP_E_IO,
                         "'%s' is also an input (the directory '%s'); refusing to overwrite an input",
                         out, dir);
    int inside = !strncmp(o, d, dl) && (o[dl] == '/' || !strcmp(d, "/"));
    QTIP_RETURN_ERROR_IF(inside, QTIP_E_IO,
                         "'%s' is inside the input directory '%s'; refusing to write into an input",
                         out, dir);
    return QTIP_OK;
}
