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

/* A directory holding model.safetensors.index.json -> the memfd (made once). */
static const char *index_dir(const char *input)
{
    static char dir[256];
    if (dir[0]) return dir;
    snprintf(dir, sizeof dir, "%s/qtip-fuzz-index-%ld", P_tmpdir, (long)getpid());
    char link[320];
    snprintf(link, sizeof link, "%s/model.safetensors.index.json", dir);
    if (mkdir(dir, 0700) != 0 || symlink(input, link) != 0) {
        dir[0] = 0;
        return NULL;
    }
    return dir;
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
