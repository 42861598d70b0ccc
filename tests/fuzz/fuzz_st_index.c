/*
 * fuzz_st_index.c — libFuzzer target for sharded models as commands open them:
 * qtip_st_open on a model directory whose model.safetensors.index.json is the
 * input (a link to it: fuzz_input.h). The shards it names mostly do not exist,
 * so this reaches the index's JSON rules and shard-name checks (names with a
 * slash, "..", non-strings) and the join of shard paths. Build and run:
 * scripts/fuzz.sh.
 *
 * Invariants: a failure leaves no handle and a message naming the index or a
 * shard of it; a success lists tensors that the index names.
 */
#include "qtip.h"

#include "fuzz_input.h"

#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char index_dir_path[256];

static void remove_index_dir(void)
{
    char link[320];
    snprintf(link, sizeof link, "%s/model.safetensors.index.json", index_dir_path);
    unlink(link);
    rmdir(index_dir_path);
}

/* A directory holding model.safetensors.index.json -> the memfd (made once,
 * removed at exit). */
static const char *index_dir(const char *input)
{
    if (index_dir_path[0]) return index_dir_path;
    snprintf(index_dir_path, sizeof index_dir_path, "%s/qtip-fuzz-index-%ld", P_tmpdir, (long)getpid());
    char link[320];
    snprintf(link, sizeof link, "%s/model.safetensors.index.json", index_dir_path);
    if (mkdir(index_dir_path, 0700) != 0 || symlink(input, link) != 0) {
        index_dir_path[0] = 0;
        return NULL;
    }
    atexit(remove_index_dir);
    return index_dir_path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    const char *dir = path ? index_dir(path) : NULL;
    if (!dir) return 0;
    qtip_st_file *f = NULL;
    qtip_status s = qtip_st_open(dir, &f);
    if (s != QTIP_OK) {
        if (f) abort();
        if (!strstr(qtip_last_error(), dir)) {
            fprintf(stderr, "fuzz_st_index: failure without the directory in it: %s\n",
                    qtip_last_error());
            abort();
        }
        return 0;
    }
    for (size_t i = 0; i < qtip_st_count(f); i++)
        if (qtip_st_find(f, qtip_st_tensor(f, i)->name) != qtip_st_tensor(f, i)) abort();
    qtip_st_close(f);
    return 0;
}
