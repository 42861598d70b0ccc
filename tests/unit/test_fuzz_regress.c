/*
 * test_fuzz_regress.c — replays tests/fuzz/corpus through both fuzz targets
 * (safetensors and .npy parsers) without a fuzzing engine, then runs seeded
 * mutations of each corpus file (bit flips, truncations, byte runs) through
 * them. The targets abort on a broken invariant; sanitizer builds catch the rest.
 */
#include "check.h"

#include <dirent.h>

#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#include "../fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_npy_one
#include "../fuzz/fuzz_npy.c"
#undef LLVMFuzzerTestOneInput

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

TEST(test_corpus_and_mutations)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus", QTIP_SOURCE_DIR);
    DIR *d = opendir(dir);
    CHECK(d != NULL, "corpus directory '%s' missing", dir);
    if (!d) return;
    test_rng r = test_rng_seeded(424242);
    struct dirent *e;
    int files = 0;
    long runs = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        size_t n;
        unsigned char *b = slurp(p, &n);
        if (!b) continue;
        files++;
        fuzz_safetensors_one(b, n);
        fuzz_npy_one(b, n);
        unsigned char *m = malloc(n + 64);
        for (int it = 0; it < 300; it++) {
            memcpy(m, b, n);
            size_t len = n;
            int kind = (int)(test_rng_next(&r) % 4);
            int edits = 1 + (int)(test_rng_next(&r) % 4);
            for (int k = 0; k < edits && len; k++) {
                size_t at = (size_t)(test_rng_next(&r) % len);
                if (kind == 0) m[at] ^= (unsigned char)(1u << (test_rng_next(&r) % 8));
                else if (kind == 1) len = at;
                else if (kind == 2) m[at] = (unsigned char)"0123456789[]{},:\"' -.e"[test_rng_next(&r) % 22];
                else m[at] = (unsigned char)test_rng_next(&r);
            }
            fuzz_safetensors_one(m, len);
            fuzz_npy_one(m, len);
            runs += 2;
        }
        free(m);
        free(b);
    }
    closedir(d);
    fprintf(stderr, "%d corpus files, %ld parser runs\n", files, runs);
    CHECK(files >= 10, "expected at least 10 corpus files, found %d", files);
}

int main(void)
{
    RUN(test_corpus_and_mutations);
    return check_summary();
}
