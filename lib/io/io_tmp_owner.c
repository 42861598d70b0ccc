/*
 * io_tmp_owner.c — who wrote a temporary, and whether that writer still runs.
 *
 * A pid alone does not say it: pids are reused (pid_max is often 32768), so a
 * killed writer's temporary could look alive as long as some unrelated process
 * holds its old pid. The writer therefore records its start time beside its pid
 * (Linux: field 22 of /proc/<pid>/stat, clock ticks since boot), and a temporary
 * is stale when its pid is dead or the process now holding that pid started at
 * another time. Where the start time cannot be read (no /proc), it is recorded
 * as 0, "unknown", and only the pid is compared, as before.
 */
#include "io/io_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

unsigned long long io_process_start_time(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Field 2, the command name, is in parentheses and may hold spaces or ')':
     * count fields from the last ')', which ends field 2; each space starts the next. */
    const char *p = strrchr(buf, ')');
    if (!p) return 0;
    for (int field = 3; field <= 22; field++) { /* p: the space before `field` */
        p = strchr(p + 1, ' ');
        if (!p) return 0;
    }
    unsigned long long start = 0;
    return sscanf(p + 1, "%llu", &start) == 1 ? start : 0;
}

int io_tmp_writer_gone(long pid, unsigned long long start)
{
    if (pid <= 0) return 0;
    if (pid == (long)getpid()) return start != 0 && start != io_process_start_time(pid);
    if (kill((pid_t)pid, 0) != 0) return errno == ESRCH;
    if (start == 0) return 0; /* no start time recorded: the live pid decides */
    unsigned long long now = io_process_start_time(pid);
    return now != 0 && now != start;
}
