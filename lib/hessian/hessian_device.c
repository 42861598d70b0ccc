/*
 * hessian_device.c — the Hessian accumulator on a CUDA device through the plugin
 * (backend.h): full blocks go to cuBLAS dsyrk into a device partial sum D, which
 * is added into S on the host whenever S is read (qtip_hessian_flush). Column
 * sums, the row count and the non-finite checks stay on the host, in hessian.c.
 */
#include "core/backend.h"
#include "hessian/hessian_internal.h"

#include <string.h>

static char default_device[64];

qtip_status qtip_hessian_set_default_device(const char *device)
{
    size_t len = device ? strlen(device) : 0;
    QTIP_RETURN_ERROR_IF(len >= sizeof default_device, QTIP_E_PARAM,
                         "device name of %zu characters, expected fewer than %zu", len,
                         sizeof default_device);
    memcpy(default_device, device ? device : "", len + 1);
    return QTIP_OK;
}

const char *hessian_default_device(void)
{
    return default_device[0] && strcmp(default_device, "cpu") ? default_device : NULL;
}

typedef struct {
    const qtip_cuda_plugin *p;
    qtip_cuda_hessian_acc *acc;
} cuda_user;

static qtip_status plugin_error(const qtip_cuda_plugin *p, qtip_status s)
{
    return qtip_error(s, "%s", p->last_error());
}

static qtip_status cuda_add(void *user, int64_t n, size_t rows, const double *X)
{
    cuda_user *u = user;
    (void)n;
    qtip_status s = u->p->hessian_add(u->acc, X, rows);
    return s ? plugin_error(u->p, s) : QTIP_OK;
}

static qtip_status cuda_sync(void *user, int64_t n, double *S, int discard)
{
    cuda_user *u = user;
    (void)n;
    qtip_status s = u->p->hessian_sync(u->acc, S, discard);
    return s ? plugin_error(u->p, s) : QTIP_OK;
}

static void cuda_release(void *user)
{
    cuda_user *u = user;
    u->p->hessian_free(u->acc);
    free(u);
}

/* Attach device `index`; on failure h is unchanged. */
static qtip_status attach_cuda(qtip_hessian *h, int index)
{
    const qtip_cuda_plugin *p;
    int ndev = 0;
    QTIP_FORWARD_IF_ERROR(qtip_backend_cuda(&p, &ndev));
    QTIP_RETURN_ERROR_IF(index >= ndev, QTIP_E_PARAM,
                         "no CUDA device cuda:%d: there %s %d device%s", index,
                         ndev == 1 ? "is" : "are", ndev, ndev == 1 ? "" : "s");
    char name[128] = "", label[160];
    size_t mem = 0;
    int cc = 0;
    if (p->device_info(index, name, sizeof name, &mem, &cc)) return plugin_error(p, QTIP_E_CUDA);
    cuda_user *u = qtip_calloc(1, sizeof *u, "the CUDA accumulator handle");
    if (!u) return QTIP_E_NOMEM;
    u->p = p;
    qtip_status s = p->hessian_create(index, qtip_hessian_dim(h), qtip_hessian_block_rows(h), &u->acc);
    if (s) {
        free(u);
        return qtip_error(s, "cannot accumulate a hessian of dimension %lld on cuda:%d (%s): %s",
                          (long long)qtip_hessian_dim(h), index, name, p->last_error());
    }
    snprintf(label, sizeof label, "cuda:%d (%s)", index, name);
    hessian_device_ops ops = {cuda_add, cuda_sync, cuda_release, u};
    hessian_attach_device(h, &ops, label);
    qtip_log(QTIP_LOG_INFO, "hessian: accumulating on %s, %.1f GiB, compute capability %d.%d, plugin '%s'",
             label, (double)mem / (1 << 30), cc / 10, cc % 10, qtip_backend_cuda_path());
    return QTIP_OK;
}

qtip_status qtip_hessian_set_device(qtip_hessian *h, const char *device)
{
    qtip_device kind;
    int index;
    QTIP_FORWARD_IF_ERROR(qtip_backend_parse_device(device, &kind, &index));
    QTIP_FORWARD_IF_ERROR(qtip_hessian_flush(h));
    if (kind == QTIP_DEVICE_CPU) {
        hessian_attach_device(h, NULL, NULL);
        return QTIP_OK;
    }
    qtip_status s = attach_cuda(h, index);
    if (s == QTIP_OK || kind == QTIP_DEVICE_CUDA) return s;
    qtip_log(QTIP_LOG_INFO, "hessian: device auto: using the cpu (%s)", qtip_last_error());
    qtip_clear_error();
    hessian_attach_device(h, NULL, NULL);
    return QTIP_OK;
}
