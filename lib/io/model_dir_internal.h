/*
 * model_dir_internal.h — the file-opening policy for files copied verbatim from a
 * model directory into an output (lib/io/model_dir.c). Private to libqtip.
 */
#ifndef QTIP_MODEL_DIR_INTERNAL_H
#define QTIP_MODEL_DIR_INTERNAL_H

#include "core/internal.h"

/* Whether a top-level name of a directory is left out of the copy (parsed or
 * rewritten by the caller). Names starting with '.' are always left out. */
typedef int (*qtip_copy_skip_fn)(const char *name);

/* A file to copy: its path relative to the directory, and the path to open: the
 * entry itself when it is a regular file, the link's resolved target otherwise.
 * Opened with O_NOFOLLOW, so a regular file swapped for a link after the listing
 * is not followed. */
typedef struct {
    char *rel;
    char *src;
} qtip_copy_item;

/* The files of `dir` to copy verbatim, recursively (sorted by `rel`; free with
 * qtip_copy_list_free). Regular files are listed; a link is listed when it resolves
 * to a regular file (or directory, recursed) inside `dir` or, for a Hugging Face
 * cache snapshot ".../models--X/snapshots/<rev>", inside ".../models--X/blobs";
 * outside those only with QTIP_MODEL_DIR_FOLLOW_LINKS. Anything else (FIFO,
 * socket, device, dangling link, link leaving the tree) is refused with
 * QTIP_E_IO naming the entry (and the link's target). */
qtip_status qtip_copy_list(const char *dir, unsigned flags, qtip_copy_skip_fn skip,
                           qtip_copy_item **items, size_t *count);
void qtip_copy_list_free(qtip_copy_item *items, size_t count);

/* The path to open for extra file i of a model directory (see qtip_copy_item). */
const char *qtip_model_dir_extra_source_(const qtip_model_dir *d, size_t i);

#endif /* QTIP_MODEL_DIR_INTERNAL_H */
