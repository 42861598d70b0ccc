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

/* The files of `dir` to copy verbatim, recursively, as paths relative to `dir`
 * (sorted; *names is a NULL-free array of *count strings, free with
 * qtip_copy_list_free). Regular files are listed; a link is listed when it resolves
 * to a regular file (or directory, recursed) inside `dir` or, for a Hugging Face
 * cache snapshot ".../models--X/snapshots/<rev>", inside ".../models--X/blobs";
 * outside those only with QTIP_MODEL_DIR_FOLLOW_LINKS. Anything else (FIFO,
 * socket, device, dangling link, link leaving the tree) is refused with
 * QTIP_E_IO naming the entry (and the link's target). */
qtip_status qtip_copy_list(const char *dir, unsigned flags, qtip_copy_skip_fn skip, char ***names,
                           size_t *count);
void qtip_copy_list_free(char **names, size_t count);

#endif /* QTIP_MODEL_DIR_INTERNAL_H */
