/*
 * io_mmap.c — read-only memory maps of whole files.
 *
 * MAP_PRIVATE + PROT_READ: pages come from the page cache on demand, so a 100 GB
 * model costs address space, not memory. The descriptor is closed right after
 * mapping; the mapping keeps the file alive.
 */
#include "io/io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

qtip_status qtip_mmap_open(const char *path, qtip_mmap *out)
{
    QTIP_RETURN_ERROR_IF(!path || !out, QTIP_E_PARAM, "mmap: path and out are required");
    out->data = NULL;
    out->size = 0;
    int fd;
    struct stat st;
    QTIP_FORWARD_IF_ERROR(io_open_input(path, &fd, &st));
    if (st.st_size == 0) { /* mmap refuses length 0; an empty map is valid */
        close(fd);
        return QTIP_OK;
    }
    if ((unsigned long long)st.st_size > (unsigned long long)SIZE_MAX) {
        close(fd);
        return qtip_error(QTIP_E_IO, "cannot map '%s': too large", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    QTIP_RETURN_ERROR_IF(p == MAP_FAILED, QTIP_E_IO, "cannot map '%s': %s", path, strerror(e));
    out->data = p;
    out->size = (size_t)st.st_size;
    return QTIP_OK;
}

void qtip_mmap_close(qtip_mmap *m)
{
    if (!m) return;
    if (m->data) munmap(m->data, m->size);
    m->data = NULL;
    m->size = 0;
}
