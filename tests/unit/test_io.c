/*
 * test_io.c — atomic writes (including a writer killed mid-way), the zstd-aware
 * reader (single and multiple frames, truncation, stdin), checksums, memory maps,
 * the staleness rule of temporaries (a reused pid).
 */
#include "check.h"
#include "io/io_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

static int file_equals(const char *path, const void *buf, size_t len)
{
    void *got;
    size_t n;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    got = malloc(len + 1);
    n = fread(got, 1, len + 1, f);
    fclose(f);
    int eq = n == len && memcmp(got, buf, len) == 0;
    free(got);
    return eq;
}

/* Files in the scratch dir whose name starts with `prefix`. */
static int count_prefixed(const char *prefix)
{
    DIR *d = opendir(test_tmpdir());
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    closedir(d);
    return n;
}

TEST(test_atomic_basic)
{
    const char *p = test_path("atomic.bin");
    CHECK_OK(qtip_write_file_atomic(p, "hello", 5, 0));
    CHECK(file_equals(p, "hello", 5), "first write");
    CHECK_OK(qtip_write_file_atomic(p, "bye", 3, 0));
    CHECK(file_equals(p, "bye", 3), "replaced");
    struct stat st;
    mode_t mask = umask(022);
    umask(mask);
    /* Like any new file (0666 less the umask), not mkstemp's 0600. */
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == (0666 & ~mask), "mode %o, umask %o",
          st.st_mode & 0777, mask);
    /* Aborted writer: previous file untouched, no temporary left. */
    qtip_atomic_file *f;
    CHECK_OK(qtip_atomic_open(p, 0, &f));
    CHECK_OK(qtip_atomic_write(f, "partial", 7));
    CHECK(count_prefixed("atomic.bin.qtip-tmp.") == 1, "temporary exists while writing");
    CHECK(file_equals(p, "bye", 3), "target untouched while writing");
    qtip_atomic_abort(f);
    CHECK(file_equals(p, "bye", 3), "target untouched after abort");
    CHECK(count_prefixed("atomic.bin.qtip-tmp.") == 0, "temporary removed");
    /* Aborted writer of a new file: no file at all. */
    const char *q = test_path("never.bin");
    CHECK_OK(qtip_atomic_open(q, 0, &f));
    CHECK_OK(qtip_atomic_write(f, "x", 1));
    qtip_atomic_abort(f);
    CHECK(access(q, F_OK) != 0, "aborted new file must not exist");
    CHECK(count_prefixed("never.bin") == 0, "no leftovers");
    qtip_atomic_abort(NULL);
    /* Unwritable directory: a clear i/o error naming the path. */
    CHECK_STATUS(qtip_write_file_atomic(test_path("no/such/dir/x.bin"), "x", 1, 0), QTIP_E_IO);
    CHECK(strstr(qtip_last_error(), "no/such/dir/x.bin") != NULL, "message: %s", qtip_last_error());
}

/* A child writes half a file and is killed (SIGKILL: no cleanup runs at all),
 * or exits without committing. The target must keep its old contents. */
TEST(test_atomic_killed_writer)
{
    const char *p = test_path("killed.bin");
    CHECK_OK(qtip_write_file_atomic(p, "old contents", 12, 0));
    for (int mode = 0; mode < 2; mode++) {
        int pipefd[2];
        if (pipe(pipefd) != 0) { perror("pipe"); exit(2); }
        pid_t pid = fork();
        if (pid == 0) {
            qtip_atomic_file *f;
            if (qtip_atomic_open(p, mode, &f) != QTIP_OK) _exit(3);
            static char big[1 << 20];
            memset(big, 'n', sizeof big);
            for (int i = 0; i < 4; i++) qtip_atomic_write(f, big, sizeof big);
            if (write(pipefd[1], "w", 1) != 1) _exit(4);
            if (mode == 1) _exit(0); /* exits without commit */
            for (;;) pause();        /* waits to be killed */
        }
        char c;
        CHECK(read(pipefd[0], &c, 1) == 1, "child wrote");
        if (mode == 0) kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        close(pipefd[0]);
        close(pipefd[1]);
        CHECK(file_equals(p, "old contents", 12), "mode %d: previous file changed", mode);
    }
    /* The children leave temporaries (nothing can remove them after SIGKILL), never
     * a partial target. The names carry the writers' pids, so the second child's
     * open already removed the first's: one is left. */
    CHECK(count_prefixed("killed.bin.qtip-tmp.") == 1, "expected 1 child's temporary, found %d",
          count_prefixed("killed.bin.qtip-tmp."));
    /* Files that are not ours, or not stale, must survive the next open: an old-style
     * name, a live writer (pid 1 never dies), another target's temporary, another
     * host's (its pids mean nothing here), a name that only looks like ours. A dead
     * pid: a child that has been reaped. */
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char host[256] = "";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = 0;
    /* "other" differs from this host's name in its first letter */
    char other[258];
    snprintf(other, sizeof other, "%c%s", host[0] == 'x' ? 'y' : 'x', host + 1);
    char keep[5][400];
    snprintf(keep[0], sizeof keep[0], "killed.bin.tmp.abcdef");
    snprintf(keep[1], sizeof keep[1], "killed.bin.qtip-tmp.%s-1.abcdef", host);
    snprintf(keep[2], sizeof keep[2], "other.bin.qtip-tmp.%s-%ld.abcdef", host, (long)dead);
    snprintf(keep[3], sizeof keep[3], "killed.bin.qtip-tmp.%s-%ld.abcdef", other, (long)dead);
    snprintf(keep[4], sizeof keep[4], "killed.bin.qtip-tmp.%s-%ld.ABCDEF", host, (long)dead);
    char path[2560];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", test_tmpdir(), keep[i]);
        test_write_file(path, "x", 1);
    }
    CHECK_OK(qtip_write_file_atomic(p, "new", 3, 0));
    CHECK(file_equals(p, "new", 3), "rewritten");
    CHECK(count_prefixed("killed.bin.qtip-tmp.") == 3, "the stale temporary removed, the 3 "
          "others kept: found %d", count_prefixed("killed.bin.qtip-tmp."));
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", test_tmpdir(), keep[i]);
        CHECK(access(path, F_OK) == 0, "'%s' must be kept", keep[i]);
        unlink(path);
    }
}

/* A temporary's writer is gone when its pid is dead or now belongs to a process
 * that started at another time (pid reuse): a fake temporary with a live pid but a
 * wrong start time is removed at the next open, one with the right start is kept. */
TEST(test_tmp_pid_reuse)
{
    unsigned long long mine = io_process_start_time((long)getpid());
    if (mine == 0) CHECK_SKIP("no process start times here (/proc/<pid>/stat)");
    CHECK(!io_tmp_writer_gone((long)getpid(), mine), "this process is not gone");
    CHECK(io_tmp_writer_gone((long)getpid(), mine + 1), "our pid with another start: gone");
    pid_t child = fork();
    if (child == 0) {
        for (;;) pause();
    }
    unsigned long long start = 0;
    for (int i = 0; i < 1000 && start == 0; i++) { /* /proc entry appears at fork */
        start = io_process_start_time((long)child);
        if (start == 0) usleep(1000);
    }
    CHECK(start != 0, "child's start time read");
    CHECK(!io_tmp_writer_gone((long)child, start), "live child, same start: kept");
    CHECK(!io_tmp_writer_gone((long)child, 0), "live child, start unknown: kept");
    CHECK(io_tmp_writer_gone((long)child, start + 3), "live pid, another start: gone");

    char host[256] = "";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = 0;
    char stale[400], live[400], old[400], path[2560];
    snprintf(stale, sizeof stale, "reuse.bin.qtip-tmp.%s-%ld_%llu.abcdef", host, (long)child, start + 3);
    snprintf(live, sizeof live, "reuse.bin.qtip-tmp.%s-%ld_%llu.abcdef", host, (long)child, start);
    snprintf(old, sizeof old, "reuse.bin.qtip-tmp.%s-%ld.abcdef", host, (long)child);
    const char *names[3] = {stale, live, old};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", test_tmpdir(), names[i]);
        test_write_file(path, "x", 1);
    }
    CHECK_OK(qtip_write_file_atomic(test_path("reuse.bin"), "new", 3, 0));
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", test_tmpdir(), names[i]);
        CHECK((access(path, F_OK) == 0) == (i > 0), "'%s' must be %s", names[i],
              i ? "kept (its writer runs)" : "removed (the pid was reused)");
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK(io_tmp_writer_gone((long)child, start), "killed child: gone");
    CHECK_OK(qtip_write_file_atomic(test_path("reuse.bin"), "new", 3, 0));
    CHECK(count_prefixed("reuse.bin.qtip-tmp.") == 0, "both removed once the writer died");

    char tmp[4096], want[64];
    int fd = io_tmp_create(test_path("named.bin"), 0, tmp, sizeof tmp);
    CHECK(fd >= 0, "temporary created");
    close(fd);
    snprintf(want, sizeof want, "-%ld_%llu.", (long)getpid(), mine);
    CHECK(strstr(tmp, want) != NULL, "'%s' carries pid and start time '%s'", tmp, want);
    unlink(tmp);
}

/* Output = input: the same path, a hard link and a symlink to an input are refused
 * and the input keeps its bytes; once forgotten, the file may be written. */
TEST(test_output_is_input)
{
    const char *in = test_path("input.bin");
    test_write_file(in, "precious", 8);
    void *buf;
    size_t len;
    CHECK_OK(qtip_read_file(in, &buf, &len));
    free(buf);
    const char *hard = test_path("input.hard"), *soft = test_path("input.soft");
    CHECK(link(in, hard) == 0 && symlink("input.bin", soft) == 0, "links");
    const char *targets[3] = {in, hard, soft};
    for (int i = 0; i < 3; i++) {
        CHECK_STATUS(qtip_write_file_atomic(targets[i], "oops", 4, 0), QTIP_E_IO);
        CHECK(strstr(qtip_last_error(), "is also an input ('") &&
                  strstr(qtip_last_error(), "refusing to overwrite an input") &&
                  strstr(qtip_last_error(), targets[i]),
              "message: %s", qtip_last_error());
        CHECK(file_equals(in, "precious", 8), "input untouched (%s)", targets[i]);
    }
    /* A different file is fine, and so is a new one. */
    CHECK_OK(qtip_write_file_atomic(test_path("input.out"), "ok", 2, 0));
    qtip_io_forget_inputs();
    CHECK_OK(qtip_write_file_atomic(in, "rewritten", 9, 0));
    CHECK(file_equals(in, "rewritten", 9), "rewritten after forgetting the inputs");
    unlink(hard);
    unlink(soft);
}

static void *open_one_input(void *arg)
{
    qtip_reader *r = NULL;
    if (qtip_reader_open((const char *)arg, &r) == QTIP_OK) qtip_reader_free(r);
    return NULL;
}

/* Inputs recorded from many threads at once are all refused as outputs. */
TEST(test_output_is_input_threads)
{
    qtip_io_forget_inputs();
    enum { N = 16 };
    pthread_t th[N];
    static char full[N][1024];
    for (int i = 0; i < N; i++) {
        snprintf(full[i], sizeof full[i], "%s/in%02d.bin", test_tmpdir(), i);
        test_write_file(full[i], "x", 1);
    }
    for (int i = 0; i < N; i++) pthread_create(&th[i], NULL, open_one_input, full[i]);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        CHECK_STATUS(qtip_write_file_atomic(full[i], "y", 1, 0), QTIP_E_IO);
        CHECK(file_equals(full[i], "x", 1), "input %d untouched", i);
    }
    qtip_io_forget_inputs();
}

/* Special files are refused by name and type without blocking; links to regular
 * files are read. A FIFO without a writer would block a plain open forever. */
TEST(test_special_files)
{
    const char *fifo = test_path("fifo");
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    struct {
        const char *path, *type;
    } cases[] = {{fifo, "FIFO"}, {test_tmpdir(), "directory"}, {"/dev/null", "character device"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        qtip_reader *r = NULL;
        void *buf = NULL;
        size_t len;
        qtip_mmap m;
        char ck[QTIP_CHECKSUM_STRLEN];
        qtip_status s[4] = {qtip_reader_open(cases[i].path, &r), qtip_read_file(cases[i].path, &buf, &len),
                            qtip_mmap_open(cases[i].path, &m), qtip_checksum_file(cases[i].path, ck)};
        for (int k = 0; k < 4; k++) CHECK(s[k] == QTIP_E_IO, "%s: call %d -> %d", cases[i].path, k, s[k]);
        CHECK(strstr(qtip_last_error(), cases[i].path) && strstr(qtip_last_error(), cases[i].type) &&
                  strstr(qtip_last_error(), "not a regular file"),
              "message: %s", qtip_last_error());
        CHECK(r == NULL && buf == NULL, "nothing returned");
    }
    unlink(fifo);
    const char *real = test_path("real.bin"), *ln = test_path("link.bin");
    test_write_file(real, "linked", 6);
    CHECK(symlink("real.bin", ln) == 0, "symlink");
    void *buf;
    size_t len;
    CHECK_OK(qtip_read_file(ln, &buf, &len));
    CHECK(len == 6 && memcmp(buf, "linked", 6) == 0, "read through a link");
    free(buf);
    unlink(ln);
    CHECK(symlink("absent.bin", ln) == 0, "dangling symlink");
    CHECK_STATUS(qtip_read_file(ln, &buf, &len), QTIP_E_IO);
    CHECK(strstr(qtip_last_error(), "link.bin") != NULL, "message: %s", qtip_last_error());
    unlink(ln);
    qtip_io_forget_inputs();
}

/* A small zstd frame that expands past QTIP_READ_FILE_MAX is refused with the
 * limit in the message, before the whole expansion is held. */
TEST(test_read_file_bomb)
{
    size_t n = QTIP_READ_FILE_MAX + 4096;
    unsigned char *zeros = calloc(1, n);
    size_t cap = ZSTD_compressBound(n);
    unsigned char *z = malloc(cap);
    size_t zn = ZSTD_compress(z, cap, zeros, n, 1);
    CHECK(!ZSTD_isError(zn) && zn < n / 1000, "bomb of %zu bytes", zn);
    const char *p = test_path("bomb.zst");
    test_write_file(p, z, zn);
    void *buf = NULL;
    size_t len;
    CHECK_STATUS(qtip_read_file(p, &buf, &len), QTIP_E_FORMAT);
    char lim[32];
    snprintf(lim, sizeof lim, "%zu", (size_t)QTIP_READ_FILE_MAX);
    CHECK(strstr(qtip_last_error(), "bomb.zst") && strstr(qtip_last_error(), lim) &&
              strstr(qtip_last_error(), "decompresses to more than"),
          "message: %s", qtip_last_error());
    CHECK(buf == NULL, "no buffer");
    /* Just under the limit is read. */
    zn = ZSTD_compress(z, cap, zeros, 1000, 1);
    test_write_file(p, z, zn);
    CHECK_OK(qtip_read_file(p, &buf, &len));
    CHECK(len == 1000, "len %zu", len);
    free(buf);
    free(z);
    free(zeros);
}

TEST(test_reader_plain_and_zstd)
{
    test_rng r = test_rng_seeded(7);
    size_t n = 3u << 20; /* several decoder buffers */
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++) data[i] = (unsigned char)(i % 251 < 200 ? i % 7 : test_rng_next(&r));
    const char *plain = test_path("plain.bin"), *z = test_path("comp.bin.zst");
    CHECK_OK(qtip_write_file_atomic(plain, data, n, 0));
    CHECK_OK(qtip_write_file_atomic(z, data, n, 3));
    unsigned char magic[4] = {0};
    FILE *f = fopen(z, "rb");
    CHECK(fread(magic, 1, 4, f) == 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F &&
              magic[3] == 0xFD, "zstd magic");
    fclose(f);
    for (int k = 0; k < 2; k++) {
        const char *p = k ? z : plain;
        qtip_reader *rd;
        CHECK_OK(qtip_reader_open(p, &rd));
        /* Odd-sized reads to cross every boundary. */
        unsigned char *got = malloc(n + 16);
        size_t total = 0, g;
        for (;;) {
            size_t want = 1 + (size_t)(test_rng_next(&r) % 70000);
            CHECK_OK(qtip_reader_read(rd, got + total, want < n + 16 - total ? want : n + 16 - total, &g));
            if (g == 0) break;
            total += g;
        }
        CHECK(total == n && memcmp(got, data, n) == 0, "%s: content (%zu of %zu)", p, total, n);
        free(got);
        qtip_reader_free(rd);
        void *buf;
        size_t len;
        CHECK_OK(qtip_read_file(p, &buf, &len));
        CHECK(len == n && memcmp(buf, data, n) == 0 && ((char *)buf)[len] == 0, "read_file %s", p);
        free(buf);
    }
    free(data);
}

TEST(test_reader_multiframe_truncated_corrupt)
{
    /* Two frames made by libzstd directly, concatenated, as `cat a.zst b.zst` does. */
    const char *a = "first frame;", *b = "second frame, a little longer";
    size_t cap = ZSTD_compressBound(64);
    unsigned char *buf = malloc(2 * cap);
    size_t n1 = ZSTD_compress(buf, cap, a, strlen(a), 1);
    size_t n2 = ZSTD_compress(buf + n1, cap, b, strlen(b), 19);
    CHECK(!ZSTD_isError(n1) && !ZSTD_isError(n2), "compress");
    const char *p = test_path("two.zst");
    test_write_file(p, buf, n1 + n2);
    void *got;
    size_t len;
    CHECK_OK(qtip_read_file(p, &got, &len));
    CHECK(len == strlen(a) + strlen(b) && memcmp(got, a, strlen(a)) == 0 &&
              memcmp((char *)got + strlen(a), b, strlen(b)) == 0, "two frames concatenated");
    free(got);
    /* Cut inside the second frame: an error, not a short read. */
    test_write_file(p, buf, n1 + n2 - 3);
    CHECK_STATUS(qtip_read_file(p, &got, &len), QTIP_E_FORMAT);
    CHECK(strstr(qtip_last_error(), "two.zst") && strstr(qtip_last_error(), "truncated"), "msg: %s",
          qtip_last_error());
    /* Only the magic: truncated too. */
    test_write_file(p, buf, 4);
    CHECK_STATUS(qtip_read_file(p, &got, &len), QTIP_E_FORMAT);
    /* Garbage after a complete frame. */
    memcpy(buf + n1, "garbage!", 8);
    test_write_file(p, buf, n1 + 8);
    CHECK_STATUS(qtip_read_file(p, &got, &len), QTIP_E_FORMAT);
    /* Short plain files (under 4 bytes) and empty files read as they are. */
    test_write_file(p, "ab", 2);
    CHECK_OK(qtip_read_file(p, &got, &len));
    CHECK(len == 2 && memcmp(got, "ab", 2) == 0, "short plain file");
    free(got);
    test_write_file(p, "", 0);
    CHECK_OK(qtip_read_file(p, &got, &len));
    CHECK(len == 0, "empty file");
    free(got);
    CHECK_STATUS(qtip_read_file(test_path("missing.bin"), &got, &len), QTIP_E_IO);
    CHECK(strstr(qtip_last_error(), "missing.bin") != NULL, "msg: %s", qtip_last_error());
    CHECK_STATUS(qtip_read_file(test_tmpdir(), &got, &len), QTIP_E_IO);
    qtip_reader *rd;
    CHECK_OK(qtip_reader_open(test_path("plain.bin"), &rd));
    char x[4];
    CHECK_OK(qtip_reader_read_exact(rd, x, 4));
    qtip_reader_free(rd);
    test_write_file(p, "abc", 3);
    CHECK_OK(qtip_reader_open(p, &rd));
    CHECK_STATUS(qtip_reader_read_exact(rd, x, 4), QTIP_E_FORMAT);
    qtip_reader_free(rd);
    qtip_reader_free(NULL);
    free(buf);
}

TEST(test_reader_stdin)
{
    const char *msg = "through stdin, compressed";
    const char *p = test_path("stdin.zst");
    CHECK_OK(qtip_write_file_atomic(p, msg, strlen(msg), 5));
    int saved = dup(0);
    int fd = open(p, O_RDONLY);
    dup2(fd, 0);
    close(fd);
    qtip_reader *rd;
    CHECK_OK(qtip_reader_open("-", &rd));
    CHECK(strcmp(qtip_reader_name(rd), "<stdin>") == 0, "name");
    char buf[64] = {0};
    CHECK_OK(qtip_reader_read_exact(rd, buf, strlen(msg)));
    CHECK(strcmp(buf, msg) == 0, "content '%s'", buf);
    size_t got;
    CHECK_OK(qtip_reader_read(rd, buf, sizeof buf, &got));
    CHECK(got == 0, "end");
    /* The running checksum covers the stored (compressed) bytes: XXH3-64 of the file. */
    void *raw = malloc(4096);
    FILE *f = fopen(p, "rb");
    size_t rawlen = fread(raw, 1, 4096, f);
    fclose(f);
    CHECK(qtip_reader_checksum(rd) == (uint64_t)XXH3_64bits(raw, rawlen), "checksum of stored bytes");
    qtip_reader_free(rd);
    free(raw);
    dup2(saved, 0);
    close(saved);
}

TEST(test_checksum)
{
    /* XXH128 of the empty input, as published with xxHash (xxhsum -H2 /dev/null). */
    char out[QTIP_CHECKSUM_STRLEN];
    qtip_checksum_buffer("", 0, out);
    CHECK(strcmp(out, "xxh3-128:99aa06d3014798d86001c324468d497f") == 0, "empty: %s", out);
    const char *p = test_path("sum.bin");
    test_rng r = test_rng_seeded(11);
    size_t n = (1u << 20) + 12345;
    unsigned char *d = malloc(n);
    for (size_t i = 0; i < n; i++) d[i] = (unsigned char)test_rng_next(&r);
    test_write_file(p, d, n);
    char fo[QTIP_CHECKSUM_STRLEN];
    CHECK_OK(qtip_checksum_file(p, fo));
    qtip_checksum_buffer(d, n, out);
    CHECK(strcmp(out, fo) == 0, "file %s vs buffer %s", fo, out);
    d[n / 2] ^= 1;
    qtip_checksum_buffer(d, n, out);
    CHECK(strcmp(out, fo) != 0, "one flipped bit changes the checksum");
    CHECK(strlen(fo) == QTIP_CHECKSUM_STRLEN - 1, "length");
    CHECK_STATUS(qtip_checksum_file(test_path("nope"), fo), QTIP_E_IO);
    free(d);
}

TEST(test_mmap)
{
    const char *p = test_path("map.bin");
    test_write_file(p, "mapped bytes", 12);
    qtip_mmap m;
    CHECK_OK(qtip_mmap_open(p, &m));
    CHECK(m.size == 12 && memcmp(m.data, "mapped bytes", 12) == 0, "content");
    qtip_mmap_close(&m);
    CHECK(m.data == NULL && m.size == 0, "closed");
    test_write_file(p, "", 0);
    CHECK_OK(qtip_mmap_open(p, &m));
    CHECK(m.size == 0, "empty");
    qtip_mmap_close(&m);
    CHECK_STATUS(qtip_mmap_open(test_path("absent"), &m), QTIP_E_IO);
    CHECK_STATUS(qtip_mmap_open(test_tmpdir(), &m), QTIP_E_IO);
    qtip_mmap_close(NULL);
}

int main(void)
{
    RUN(test_atomic_basic);
    RUN(test_atomic_killed_writer);
    RUN(test_tmp_pid_reuse);
    RUN(test_reader_plain_and_zstd);
    RUN(test_reader_multiframe_truncated_corrupt);
    RUN(test_reader_stdin);
    RUN(test_checksum);
    RUN(test_mmap);
    RUN(test_output_is_input);
    RUN(test_output_is_input_threads);
    RUN(test_special_files);
    RUN(test_read_file_bomb);
    return check_summary();
}
