/*
 * backend.c — finds and loads the CUDA plugin (backend.h). Once per process:
 * the result, success or the reason for failure, is kept and reported to every
 * caller, so "auto" costs one dlopen attempt per process and "cuda" always gives
 * the same message.
 */
#include "core/backend.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const qtip_cuda_plugin *plugin;
static int device_count;
static qtip_status load_status;
static char load_msg[1024];
static char load_path[512];

qtip_status qtip_backend_parse_device(const char *device, qtip_device *kind, int *index)
{
    *index = 0;
    if (!device || !strcmp(device, "cpu")) {
        *kind = QTIP_DEVICE_CPU;
        return QTIP_OK;
    }
    if (!strcmp(device, "auto")) {
        *kind = QTIP_DEVICE_AUTO;
        return QTIP_OK;
    }
    if (!strncmp(device, "cuda", 4)) {
        const char *p = device + 4;
        if (*p == 0) {
            *kind = QTIP_DEVICE_CUDA;
            return QTIP_OK;
        }
        if (*p == ':' && p[1] >= '0' && p[1] <= '9') {
            char *end;
            long k = strtol(p + 1, &end, 10);
            if (*end == 0 && k < 1024) {
                *kind = QTIP_DEVICE_CUDA;
                *index = (int)k;
                return QTIP_OK;
            }
        }
    }
    return qtip_error(QTIP_E_PARAM, "unknown device '%s', expected cpu, cuda, cuda:<k> or auto",
                      device);
}

/* Try one file; 1 if loaded. A file that exists but does not load (a missing CUDA
 * runtime, a foreign architecture) is an error worth reporting: stop there. */
static int try_open(const char *path, int must_exist, void **handle, size_t *len)
{
    if (must_exist && access(path, F_OK) != 0) {
        *len += (size_t)snprintf(load_msg + *len, *len < sizeof load_msg ? sizeof load_msg - *len : 0,
                                 "%s'%s'", *len ? ", " : "", path);
        if (*len > sizeof load_msg) *len = sizeof load_msg;
        return 0;
    }
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (*handle) {
        snprintf(load_path, sizeof load_path, "%s", path);
        return 1;
    }
    if (must_exist) {
        const char *e = dlerror();
        snprintf(load_msg, sizeof load_msg, "cannot load the CUDA plugin '%s': %s", path,
                 e ? e : "unknown dlopen error");
        load_status = QTIP_E_CUDA;
        return -1;
    }
    *len += (size_t)snprintf(load_msg + *len, *len < sizeof load_msg ? sizeof load_msg - *len : 0,
                             "%s'%s' (default search path)", *len ? ", " : "", path);
    if (*len > sizeof load_msg) *len = sizeof load_msg;
    return 0;
}

static void *find_plugin(void)
{
    void *h = NULL;
    size_t len = 0;
    int r;
    const char *env = getenv("QTIP_CUDA_PLUGIN");
    load_status = QTIP_E_UNSUPPORTED;
    if (env && env[0]) {
        if ((r = try_open(env, 1, &h, &len)) != 0) return r > 0 ? h : NULL;
        return NULL; /* an explicit choice is not second-guessed */
    }
    /* Next to the module that holds libqtip: libqtip.so, or a statically linked
     * executable (then also its ../lib, where an install puts the plugin). */
    Dl_info di;
    if (dladdr((void *)&qtip_backend_cuda, &di) && di.dli_fname && strchr(di.dli_fname, '/')) {
        char dir[400];
        snprintf(dir, sizeof dir, "%s", di.dli_fname);
        *strrchr(dir, '/') = 0;
        static const char *const sub[] = {"", "/../lib",
#ifdef QTIP_INSTALL_LIBDIR
                                          "/../" QTIP_INSTALL_LIBDIR,
#endif
                                          NULL};
        char path[512];
        for (int i = 0; sub[i]; i++) {
            if (i > 0 && !strcmp(sub[i], sub[i - 1])) continue; /* libdir "lib" */
            snprintf(path, sizeof path, "%s%s/%s", dir, sub[i], QTIP_CUDA_PLUGIN_SONAME);
            if ((r = try_open(path, 1, &h, &len)) != 0) return r > 0 ? h : NULL;
        }
    }
    if ((r = try_open(QTIP_CUDA_PLUGIN_SONAME, 0, &h, &len)) != 0) return h;
    if ((r = try_open(QTIP_CUDA_PLUGIN_DEVNAME, 0, &h, &len)) != 0) return h;
    return NULL;
}

static void load(void)
{
    void *h = find_plugin();
    if (!h) {
        if (load_status == QTIP_E_UNSUPPORTED) {
            static const char head[] = QTIP_CUDA_PLUGIN_DEVNAME " not found (built without CUDA?): tried ";
            const size_t hl = sizeof head - 1, tl = strnlen(load_msg, sizeof load_msg - hl - 1);
            memmove(load_msg + hl, load_msg, tl);
            memcpy(load_msg, head, hl);
            load_msg[hl + tl] = 0;
        }
        return;
    }
    qtip_cuda_plugin_entry entry;
    void *sym = dlsym(h, QTIP_CUDA_PLUGIN_SYMBOL);
    memcpy(&entry, &sym, sizeof entry); /* object to function pointer, as POSIX allows */
    const qtip_cuda_plugin *p = entry ? entry() : NULL;
    if (!p || p->abi != QTIP_CUDA_PLUGIN_ABI || p->size < sizeof(qtip_cuda_plugin)) {
        snprintf(load_msg, sizeof load_msg,
                 "the CUDA plugin '%s' is incompatible: %s %s, expected ABI %d with %zu bytes "
                 "of entries (rebuild it with this libqtip)",
                 load_path, QTIP_CUDA_PLUGIN_SYMBOL,
                 !entry ? "is missing" : !p ? "returned NULL" : "has another ABI or size",
                 QTIP_CUDA_PLUGIN_ABI, sizeof(qtip_cuda_plugin));
        load_status = QTIP_E_UNSUPPORTED;
        dlclose(h);
        return;
    }
    int n = 0;
    if (p->device_count(&n) != QTIP_OK) {
        snprintf(load_msg, sizeof load_msg, "no CUDA device: %s (plugin '%s')", p->last_error(),
                 load_path);
        load_status = QTIP_E_CUDA;
        return; /* keep the plugin loaded: unloading CUDA libraries is not worth the risk */
    }
    if (n <= 0) {
        snprintf(load_msg, sizeof load_msg,
                 "no CUDA device: cudaGetDeviceCount returned 0 devices (plugin '%s')", load_path);
        load_status = QTIP_E_CUDA;
        return;
    }
    plugin = p;
    device_count = n;
    load_status = QTIP_OK;
}

/* A table given in-process (qtip_backend_cuda_inject_), used instead of the plugin. */
static const qtip_cuda_plugin *injected;

void qtip_backend_cuda_inject_(const qtip_cuda_plugin *p) { injected = p; }

qtip_status qtip_backend_cuda(const qtip_cuda_plugin **out, int *ndev)
{
    if (injected) {
        int n = 0;
        *out = NULL;
        if (injected->device_count(&n) != QTIP_OK)
            return qtip_error(QTIP_E_CUDA, "no CUDA device: %s", injected->last_error());
        *out = injected;
        if (ndev) *ndev = n;
        return QTIP_OK;
    }
    pthread_once(&load_once, load);
    *out = plugin;
    if (ndev) *ndev = device_count;
    if (load_status != QTIP_OK) return qtip_error(load_status, "%s", load_msg);
    return QTIP_OK;
}

const char *qtip_backend_cuda_path(void)
{
    if (injected) return "(in-process table)";
    pthread_once(&load_once, load);
    return load_path;
}
