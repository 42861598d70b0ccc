/*
 * test_fuzz_regress.c — replays tests/fuzz/corpus/<target> through each fuzz
 * target without a fuzzing engine (crash reproducers that scripts/fuzz.sh finds
 * are kept there, so they stay fixed), then runs seeded mutations of each corpus
 * file (bit flips, truncations, byte runs) through the same target. The targets
 * abort on a broken invariant; sanitizer builds catch the rest.
 * QTIP_TEST_SANITIZED=1 scales the mutation counts down.
 */
#include "check.h"

#include <dirent.h>

#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#include "../fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_activations_one
#include "../fuzz/fuzz_activations.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_st_index_one
#include "../fuzz/fuzz_st_index.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_hessian_file_one
#include "../fuzz/fuzz_hessian_file.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_layer_artifact_one
#include "../fuzz/fuzz_layer_artifact.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_quant_params_one
#include "../fuzz/fuzz_quant_params.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_packed_config_one
#include "../fuzz/fuzz_packed_config.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_fn)(const uint8_t *, size_t);

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

/* Seeded edits of one corpus file: bit flips, a cut, JSON-ish bytes, random bytes. */
static void mutate_runs(fuzz_fn fn, const unsigned char *b, size_t n, int count, test_rng *r)
{
    unsigned char *m = malloc(n + 64);
    for (int it = 0; it < count; it++) {
        memcpy(m, b, n);
        size_t len = n;
        int kind = (int)(test_rng_next(r) % 4);
        int edits = 1 + (int)(test_rng_next(r) % 4);
        for (int k = 0; k < edits && len; k++) {
            size_t at = (size_t)(test_rng_next(r) % len);
            if (kind == 0) m[at] ^= (unsigned char)(1u << (test_rng_next(r) % 8));
            else if (kind == 1) len = at;
            else if (kind == 2) m[at] = (unsigned char)"0123456789[]{},:\"' -.e"[test_rng_next(r) % 22];
            else m[at] = (unsigned char)test_rng_next(r);
        }
        fn(m, len);
    }
    free(m);
}

/* Every file of corpus/<target>, as is and mutated; returns the number of files. */
static int replay(const char *target, fuzz_fn fn, int mutations, uint64_t seed)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", QTIP_SOURCE_DIR, target);
    DIR *d = opendir(dir);
    CHECK(d != NULL, "corpus directory '%s' missing", dir);
    if (!d) return 0;
    test_rng r = test_rng_seeded(seed);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        size_t n;
        unsigned char *b = slurp(p, &n);
        if (!b) continue;
        files++;
        fn(b, n);
        mutate_runs(fn, b, n, mutations, &r);
        free(b);
    }
    closedir(d);
    fprintf(stderr, "%s: %d corpus files, %d mutations each\n", target, files, mutations);
    return files;
}

TEST(test_corpora_and_mutations)
{
    int div = getenv("QTIP_TEST_SANITIZED") ? 4 : 1;
    CHECK(replay("fuzz_safetensors", fuzz_safetensors_one, 300 / div, 424242) >= 6, "safetensors seeds");
    CHECK(replay("fuzz_activations", fuzz_activations_one, 300 / div, 424243) >= 6, "activation seeds");
    CHECK(replay("fuzz_st_index", fuzz_st_index_one, 200 / div, 424244) >= 4, "index seeds");
    CHECK(replay("fuzz_hessian_file", fuzz_hessian_file_one, 200 / div, 424245) >= 3, "hessian seeds");
    CHECK(replay("fuzz_layer_artifact", fuzz_layer_artifact_one, 40 / div, 424246) >= 3, "artifact seeds");
    CHECK(replay("fuzz_quant_params", fuzz_quant_params_one, 300 / div, 424247) >= 4, "quantize_config seeds");
    CHECK(replay("fuzz_packed_config", fuzz_packed_config_one, 100 / div, 424248) >= 2, "packed config seeds");
}

int main(void)
{
    RUN(test_corpora_and_mutations);
    return check_summary();
}
