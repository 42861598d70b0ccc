/*
 * safetensors_index.c — sharded models: `model.safetensors.index.json`.
 *
 * The index is {"metadata": {...}, "weight_map": {tensor name: shard file name}}.
 * Shard names must be plain file names in the index's directory: a name with a
 * slash could reach outside the model directory, so it is refused.
 */
#include "io/io_internal.h"

#include <string.h>

qtip_status qtip_st_index_load_(const char *index_path, json_t **root, char ***files,
                                size_t *count);

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The weight map's shard names, each a plain file name, sorted and unique
 * (borrowed from `wm`; *names is malloc'd). */
static qtip_status shard_names(const char *index_path, json_t *wm, const char ***names, size_t *count)
{
    const char **nm = (const char **)malloc(json_object_size(wm) * sizeof *nm);
    QTIP_RETURN_ERROR_IF(!nm, QTIP_E_NOMEM, "cannot read '%s': out of memory", index_path);
    size_t n = 0, nu = 0;
    const char *key;
    json_t *v;
    json_object_foreach(wm, key, v) {
        const char *fn = json_string_value(v);
        if (!fn || !fn[0] || strchr(fn, '/') || strcmp(fn, ".") == 0 || strcmp(fn, "..") == 0) {
            free(nm);
            return qtip_error(QTIP_E_FORMAT, "cannot read '%s': tensor '%s' maps to %s%s%s, expected "
                              "a file name in the index's directory", index_path, key,
                              fn ? "'" : "a non-string", fn ? fn : "", fn ? "'" : "");
        }
        nm[n++] = fn;
    }
    qsort(nm, n, sizeof *nm, cmp_str);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(nm[i], nm[i - 1])) nm[nu++] = nm[i];
    *names = nm;
    *count = nu;
    return QTIP_OK;
}

static void free_paths(char **p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) free(p[i]);
    free(p);
}

/* Each name joined to the index's directory (malloc'd strings in a malloc'd array). */
static qtip_status join_to_dir(const char *index_path, const char **names, size_t n, char ***out)
{
    char **o = (char **)calloc(n, sizeof *o);
    const char *slash = strrchr(index_path, '/');
    size_t dirlen = slash ? (size_t)(slash - index_path) + 1 : 0;
    for (size_t i = 0; o && i < n; i++) {
        o[i] = (char *)malloc(dirlen + strlen(names[i]) + 1);
        if (!o[i]) {
            free_paths(o, n);
            o = NULL;
            break;
        }
        memcpy(o[i], index_path, dirlen);
        strcpy(o[i] + dirlen, names[i]);
    }
    QTIP_RETURN_ERROR_IF(!o, QTIP_E_NOMEM, "cannot read '%s': out of memory", index_path);
    *out = o;
    return QTIP_OK;
}

/* Parse and check an index; *files are the unique shard paths (joined to the
 * index's directory), sorted. On success the caller owns *root and *files. */
qtip_status qtip_st_index_load_(const char *index_path, json_t **root, char ***files,
                                size_t *count)
{
    *root = NULL;
    *files = NULL;
    *count = 0;
    json_t *r = NULL;
    QTIP_FORWARD_IF_ERROR(io_read_json_object(index_path, &r));
    qtip_status s = QTIP_OK;
    const char **names = NULL;
    size_t nu = 0;
    json_t *wm = json_object_get(r, "weight_map");
    if (!json_is_object(wm))
        s = qtip_error(QTIP_E_FORMAT, "cannot read '%s': not a safetensors index (no "
                       "\"weight_map\" object)", index_path);
    else if (json_object_size(wm) == 0)
        s = qtip_error(QTIP_E_FORMAT, "cannot read '%s': \"weight_map\" lists no tensors",
                       index_path);
    if (!s) s = shard_names(index_path, wm, &names, &nu);
    if (!s) s = join_to_dir(index_path, names, nu, files);
    free(names);
    if (s != QTIP_OK) {
        json_decref(r);
        return s;
    }
    *root = r;
    *count = nu;
    return QTIP_OK;
}
