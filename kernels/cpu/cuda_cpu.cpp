/*
 * cuda_cpu.cpp — the CPU execution layer's runtime: launches, the two back-ends
 * (fibers, OS threads), the checked barrier and warp rounds, emulated device memory.
 *
 * One rule serves both back-ends: a barrier completes when every thread of the block
 * has arrived or exited, a warp collective when every lane of its mask has arrived;
 * what is wrong at that moment (different call sites, exited threads, lanes in other
 * collectives) is reported. Fibers also see a deadlock directly (no fiber can run);
 * OS threads see it as a wait that makes no progress for QTIP_CUDA_CPU_DEADLOCK_S.
 */
#include "cuda_cpu.h"

#include "core/rng.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <ucontext.h>

#if defined(__SANITIZE_ADDRESS__)
#define QCPU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QCPU_ASAN 1
#endif
#endif
#if defined(QCPU_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#define QCPU_TSAN 1
#endif

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace qcpu {
namespace {

/* ---- configuration and reports ------------------------------------------- */

std::mutex g_cfg_mutex;
bool g_backend_set = false;
backend g_backend = BACKEND_FIBERS;
uint64_t g_seed = 0;
report_hook g_hook = nullptr;
void *g_hook_user = nullptr;
std::atomic<unsigned long> g_reports{0};
std::atomic<int> g_last_error{cudaSuccess};

backend default_backend()
{
    const char *e = getenv("QTIP_CUDA_CPU_BACKEND");
    if (e && strcmp(e, "threads") == 0)
        return BACKEND_THREADS;
    if (e && strcmp(e, "fibers") == 0)
        return BACKEND_FIBERS;
#if defined(QCPU_TSAN)
    return BACKEND_THREADS;
#else
    return BACKEND_FIBERS;
#endif
}

void set_error(cudaError_t e)
{
    int expected = cudaSuccess;
    g_last_error.compare_exchange_strong(expected, (int)e);
}

void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_reports++;
    set_error(cudaErrorLaunchFailure);
    report_hook hook;
    void *user;
    {
        std::lock_guard<std::mutex> lk(g_cfg_mutex);
        hook = g_hook;
        user = g_hook_user;
    }
    if (hook) {
        hook(buf, user);
        return;
    }
    fprintf(stderr, "qtip-cuda-cpu: %s\n", buf);
    fflush(stderr);
    abort();
}

/* ---- blocks ------------------------------------------------------------------ */

struct thread_state {
    /* barrier side: under block::mutex */
    bool bar_wait = false, bar_exited = false, bar_release = false;
    const char *bar_file = nullptr;
    int bar_line = 0;
    /* warp side: under the warp's mutex */
    bool w_wait = false, w_exited = false, w_release = false;
    warp_op w_op = OP_SYNCWARP;
    unsigned w_mask = 0;
    uint64_t w_value = 0, w_result = 0;
    int w_arg = 0, w_width = 32;
    const char *w_file = nullptr;
    int w_line = 0;
    /* fibers */
    ucontext_t ctx;
    bool done = false;
};

struct warp_sync {
    std::mutex mutex;
    std::condition_variable cv;
};

struct block {
    const char *kernel = "";
    dim3 bdim, gdim;
    uint3 bidx;
    int n = 0;
    std::vector<thread_state> t;
    std::vector<warp_sync> warps;
    std::mutex mutex;
    std::condition_variable cv;
    int arrived = 0, exited = 0;
    unsigned char *dyn = nullptr;
    const std::function<void()> *body = nullptr;
    std::atomic<uint64_t> progress{0};
    bool abandoned = false; /* fibers: deadlock reported with a returning hook */
};

thread_local block *t_block = nullptr;
thread_local int t_tid = 0;

std::string thread_name(const block &b, int tid)
{
    char s[64];
    unsigned x = (unsigned)tid % b.bdim.x, y = ((unsigned)tid / b.bdim.x) % b.bdim.y,
             z = (unsigned)tid / (b.bdim.x * b.bdim.y);
    snprintf(s, sizeof s, "thread (%u,%u,%u)", x, y, z);
    return s;
}
std::string where(const block &b)
{
    char s[256];
    snprintf(s, sizeof s, "kernel '%s' block (%u,%u,%u)", b.kernel, b.bidx.x, b.bidx.y,
             b.bidx.z);
    return s;
}

/* ---- waiting: fibers yield to the scheduler, threads sleep on a condvar ------ */

ucontext_t t_sched_ctx;
#if defined(QCPU_ASAN)
thread_local const void *t_sched_stack = nullptr;
thread_local size_t t_sched_size = 0;
#endif
size_t g_stack_size = 0;
/* Fiber stacks, reused across launches, given back at exit. */
struct stack_pool : std::vector<char *> {
    ~stack_pool()
    {
        for (char *s : *this)
            free(s);
    }
};
stack_pool g_stacks;

void fiber_yield(block &b, int tid)
{
#if defined(QCPU_ASAN)
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, t_sched_stack, t_sched_size);
    swapcontext(&b.t[(size_t)tid].ctx, &t_sched_ctx);
    __sanitizer_finish_switch_fiber(fake, &t_sched_stack, &t_sched_size);
#else
    swapcontext(&b.t[(size_t)tid].ctx, &t_sched_ctx);
#endif
}

double deadlock_seconds()
{
    const char *e = getenv("QTIP_CUDA_CPU_DEADLOCK_S");
    double s = e ? atof(e) : 0.0;
    return s > 0 ? s : 20.0;
}

std::string states(block &b);

/* Wait until *flag (guarded by `m`) is set. Fibers: `lk` is a dummy. */
void wait_for(block &b, int tid, std::unique_lock<std::mutex> &lk, std::condition_variable &cv,
              bool *flag)
{
    if (get_backend() == BACKEND_FIBERS) {
        while (!*flag)
            fiber_yield(b, tid);
        return;
    }
    uint64_t seen = b.progress.load();
    auto since = std::chrono::steady_clock::now();
    while (!*flag) {
        cv.wait_for(lk, std::chrono::milliseconds(100));
        uint64_t now = b.progress.load();
        if (now != seen) {
            seen = now;
            since = std::chrono::steady_clock::now();
        } else if (std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
                       .count() > deadlock_seconds()) {
            fprintf(stderr, "qtip-cuda-cpu: %s: deadlock: %s waits at %s:%d; no thread "
                            "has made progress for %.0f s\n",
                    where(b).c_str(), thread_name(b, tid).c_str(),
                    b.t[(size_t)tid].bar_wait ? b.t[(size_t)tid].bar_file : b.t[(size_t)tid].w_file,
                    b.t[(size_t)tid].bar_wait ? b.t[(size_t)tid].bar_line : b.t[(size_t)tid].w_line,
                    deadlock_seconds());
            abort();
        }
    }
}

/* ---- barrier ------------------------------------------------------------------- */

/* Caller holds b.mutex. Every live thread has arrived or exited. */
void barrier_release(block &b)
{
    int first = -1;
    for (int i = 0; i < b.n; i++)
        if (b.t[(size_t)i].bar_wait) {
            first = i;
            break;
        }
    if (first < 0)
        return;
    const thread_state &f = b.t[(size_t)first];
    for (int i = 0; i < b.n; i++) {
        const thread_state &s = b.t[(size_t)i];
        if (s.bar_wait && (s.bar_line != f.bar_line || strcmp(s.bar_file, f.bar_file) != 0)) {
            report("%s: __syncthreads at different call sites (barrier in a divergent branch): "
                   "%s waits at %s:%d, %s at %s:%d",
                   where(b).c_str(), thread_name(b, first).c_str(), f.bar_file, f.bar_line,
                   thread_name(b, i).c_str(), s.bar_file, s.bar_line);
            break;
        }
    }
    if (b.exited > 0) {
        int ex = 0;
        for (int i = 0; i < b.n; i++)
            if (b.t[(size_t)i].bar_exited) {
                ex = i;
                break;
            }
        report("%s: %d of %d threads exited before __syncthreads at %s:%d (early return "
               "before a barrier), e.g. %s; %d threads wait there, e.g. %s",
               where(b).c_str(), b.exited, b.n, f.bar_file, f.bar_line,
               thread_name(b, ex).c_str(), b.arrived, thread_name(b, first).c_str());
    }
    for (int i = 0; i < b.n; i++) {
        thread_state &s = b.t[(size_t)i];
        if (s.bar_wait) {
            s.bar_wait = false;
            s.bar_release = true;
        }
    }
    b.arrived = 0;
    b.progress++;
    b.cv.notify_all();
}

/* ---- warp collectives ------------------------------------------------------------ */

unsigned warp_valid_lanes(const block &b, int warp)
{
    int lanes = std::min(32, b.n - warp * 32);
    return lanes >= 32 ? 0xffffffffu : ((1u << lanes) - 1u);
}

const char *op_name(warp_op op)
{
    static const char *names[] = {"__shfl_sync",   "__shfl_up_sync", "__shfl_down_sync",
                                  "__shfl_xor_sync", "__ballot_sync", "__any_sync",
                                  "__all_sync",    "__syncwarp"};
    return names[op];
}

/* Caller holds the warp's mutex. If every lane of `lane`'s mask has arrived (or
 * exited), compute the round and release the lanes. */
void warp_try_complete(block &b, int warp, int lane)
{
    thread_state *t = &b.t[(size_t)warp * 32];
    const thread_state &me = t[lane];
    unsigned mask = me.w_mask;
    for (int l = 0; l < 32; l++) {
        if (!(mask & (1u << l)))
            continue;
        if (t[l].w_exited)
            continue;
        if (!t[l].w_wait)
            return; /* not there yet */
        bool same = t[l].w_mask == me.w_mask && t[l].w_op == me.w_op &&
                    t[l].w_line == me.w_line && strcmp(t[l].w_file, me.w_file) == 0;
        if (!same && !(t[l].w_mask & (1u << lane)))
            return; /* l first finishes a collective without us (e.g. a half-warp round) */
        if (!same) { /* each waits for the other in a different collective: never ends */
            report("%s warp %d: lanes in different collectives: lane %d in %s (mask 0x%08x) at "
                   "%s:%d, lane %d in %s (mask 0x%08x) at %s:%d",
                   where(b).c_str(), warp, lane, op_name(me.w_op), mask, me.w_file, me.w_line,
                   l, op_name(t[l].w_op), t[l].w_mask, t[l].w_file, t[l].w_line);
            mask &= ~(1u << l); /* fallback: leave that lane to its own collective */
        }
    }
    for (int l = 0; l < 32; l++)
        if ((mask & (1u << l)) && t[l].w_exited)
            report("%s warp %d: lane %d named in the mask 0x%08x of %s at %s:%d has exited",
                   where(b).c_str(), warp, l, me.w_mask, op_name(me.w_op), me.w_file, me.w_line);
    unsigned live = 0;
    for (int l = 0; l < 32; l++)
        if ((mask & (1u << l)) && t[l].w_wait)
            live |= 1u << l;
    uint64_t ballot = 0;
    for (int l = 0; l < 32; l++)
        if ((live & (1u << l)) && t[l].w_value)
            ballot |= 1u << l;
    for (int l = 0; l < 32; l++) {
        if (!(live & (1u << l)))
            continue;
        thread_state &s = t[l];
        int w = s.w_width, base = l & ~(w - 1), src = l;
        switch (s.w_op) {
        case OP_SHFL: src = base + (s.w_arg & (w - 1)); break;
        case OP_SHFL_UP: src = (l - base) >= s.w_arg ? l - s.w_arg : l; break;
        case OP_SHFL_DOWN: src = (l - base) + s.w_arg < w ? l + s.w_arg : l; break;
        case OP_SHFL_XOR: src = l ^ s.w_arg; src = (src >= base + w || src > 31) ? l : src; break;
        default: break;
        }
        if (s.w_op <= OP_SHFL_XOR) {
            if (!(live & (1u << src))) {
                report("%s warp %d: lane %d reads lane %d in %s at %s:%d, which is not among "
                       "the participating lanes 0x%08x",
                       where(b).c_str(), warp, l, src, op_name(s.w_op), s.w_file, s.w_line, live);
                src = l;
            }
            s.w_result = t[src].w_value;
        } else if (s.w_op == OP_BALLOT) {
            s.w_result = ballot;
        } else if (s.w_op == OP_ANY) {
            s.w_result = ballot != 0;
        } else if (s.w_op == OP_ALL) {
            s.w_result = ballot == live;
        }
    }
    for (int l = 0; l < 32; l++)
        if (live & (1u << l)) {
            t[l].w_wait = false;
            t[l].w_release = true;
        }
    b.progress++;
    b.warps[(size_t)warp].cv.notify_all();
}

/* ---- per-thread entry and exit ---------------------------------------------------- */

/* A lock on `m`, taken only under the threads backend: fibers run one at a time
 * and switch only where they wait, so they need none. */
static std::unique_lock<std::mutex> backend_lock(std::mutex &m)
{
    std::unique_lock<std::mutex> lk(m, std::defer_lock);
    if (get_backend() == BACKEND_THREADS)
        lk.lock();
    return lk;
}

void thread_exit(block &b, int tid)
{
    std::unique_lock<std::mutex> lk = backend_lock(b.mutex);
    b.t[(size_t)tid].bar_exited = true;
    b.exited++;
    if (b.arrived > 0 && b.arrived + b.exited == b.n)
        barrier_release(b);
    if (lk.owns_lock())
        lk.unlock();

    int warp = tid / 32, lane = tid % 32;
    std::unique_lock<std::mutex> wl = backend_lock(b.warps[(size_t)warp].mutex);
    thread_state *t = &b.t[(size_t)warp * 32];
    t[lane].w_exited = true;
    for (int l = 0; l < 32 && warp * 32 + l < b.n; l++)
        if (t[l].w_wait && (t[l].w_mask & (1u << lane))) {
            warp_try_complete(b, warp, l);
            break;
        }
    b.progress++;
}

void run_thread(block &b, int tid)
{
    t_block = &b;
    t_tid = tid;
    threadIdx.x = (unsigned)tid % b.bdim.x;
    threadIdx.y = ((unsigned)tid / b.bdim.x) % b.bdim.y;
    threadIdx.z = (unsigned)tid / (b.bdim.x * b.bdim.y);
    blockIdx = b.bidx;
    blockDim = b.bdim;
    gridDim = b.gdim;
}

block *t_fiber_block = nullptr;

void fiber_entry()
{
#if defined(QCPU_ASAN)
    __sanitizer_finish_switch_fiber(nullptr, &t_sched_stack, &t_sched_size);
#endif
    block &b = *t_fiber_block;
    int tid = t_tid;
    (*b.body)();
    thread_exit(b, tid);
    b.t[(size_t)tid].done = true;
#if defined(QCPU_ASAN)
    __sanitizer_start_switch_fiber(nullptr, t_sched_stack, t_sched_size);
#endif
    setcontext(&t_sched_ctx);
}

uint64_t rng_next(uint64_t &s) { return qtip_splitmix64(&s); }

/* One line per distinct wait site, with how many threads wait there. */
std::string states(block &b)
{
    std::string s;
    std::vector<int> firsts, counts;
    for (int i = 0; i < b.n; i++) {
        const thread_state &t = b.t[(size_t)i];
        if (t.done || t.bar_exited || (!t.bar_wait && !t.w_wait))
            continue;
        size_t k = 0;
        for (; k < firsts.size(); k++) {
            const thread_state &f = b.t[(size_t)firsts[k]];
            if (f.bar_wait == t.bar_wait && (t.bar_wait ? f.bar_line == t.bar_line && f.bar_file == t.bar_file
                                                        : f.w_line == t.w_line && f.w_file == t.w_file && f.w_mask == t.w_mask))
                break;
        }
        if (k == firsts.size()) {
            firsts.push_back(i);
            counts.push_back(0);
        }
        counts[k]++;
    }
    for (size_t k = 0; k < firsts.size(); k++) {
        const thread_state &t = b.t[(size_t)firsts[k]];
        char line[320];
        if (t.bar_wait)
            snprintf(line, sizeof line, "; %d threads (first %s) wait at __syncthreads %s:%d",
                     counts[k], thread_name(b, firsts[k]).c_str(), t.bar_file, t.bar_line);
        else
            snprintf(line, sizeof line, "; %d threads (first %s) wait in %s (mask 0x%08x) at %s:%d",
                     counts[k], thread_name(b, firsts[k]).c_str(), op_name(t.w_op), t.w_mask,
                     t.w_file, t.w_line);
        s += line;
    }
    return s;
}

void run_block_fibers(block &b)
{
    size_t need = (size_t)b.n;
    if (g_stack_size == 0) {
#if defined(QCPU_ASAN)
        g_stack_size = 512 * 1024;
#else
        g_stack_size = 256 * 1024;
#endif
    }
    while (g_stacks.size() < need)
        g_stacks.push_back(static_cast<char *>(malloc(g_stack_size)));
    t_fiber_block = &b;
    for (int i = 0; i < b.n; i++) {
        thread_state &t = b.t[(size_t)i];
        getcontext(&t.ctx);
        t.ctx.uc_stack.ss_sp = g_stacks[(size_t)i];
        t.ctx.uc_stack.ss_size = g_stack_size;
        t.ctx.uc_link = nullptr;
        makecontext(&t.ctx, fiber_entry, 0);
    }
    std::vector<int> order((size_t)b.n);
    for (int i = 0; i < b.n; i++)
        order[(size_t)i] = i;
    uint64_t rs = g_seed ^ ((uint64_t)b.bidx.x * 0x100000001b3ull + b.bidx.y * 31u + b.bidx.z);
    std::vector<bool> started((size_t)b.n, false);
    int finished = 0;
    while (finished < b.n) {
        if (g_seed != 0)
            for (size_t i = order.size(); i > 1; i--)
                std::swap(order[i - 1], order[rng_next(rs) % i]);
        bool ran = false;
        for (int i : order) {
            thread_state &t = b.t[(size_t)i];
            if (t.done)
                continue;
            bool runnable = !started[(size_t)i] || (!t.bar_wait && !t.w_wait);
            if (!runnable)
                continue;
            started[(size_t)i] = true;
            run_thread(b, i);
#if defined(QCPU_ASAN)
            void *fake = nullptr;
            __sanitizer_start_switch_fiber(&fake, g_stacks[(size_t)i], g_stack_size);
            swapcontext(&t_sched_ctx, &t.ctx);
            __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
            swapcontext(&t_sched_ctx, &t.ctx);
#endif
            ran = true;
            if (t.done)
                finished++;
        }
        if (!ran && finished < b.n) {
            report("%s: deadlock: no thread can proceed%s", where(b).c_str(), states(b).c_str());
            b.abandoned = true;
            return;
        }
    }
}

void run_block_threads(block &b)
{
    std::vector<std::thread> th;
    th.reserve((size_t)b.n);
    for (int i = 0; i < b.n; i++)
        th.emplace_back([&b, i]() {
            run_thread(b, i);
            (*b.body)();
            thread_exit(b, i);
        });
    for (auto &x : th)
        x.join();
}

/* ---- device memory ---------------------------------------------------------------- */

std::mutex g_mem_mutex;
std::map<uintptr_t, size_t> g_device; /* base -> bytes */
std::map<const void *, int> g_max_dyn_smem;

bool is_device(const void *p, size_t bytes)
{
    std::lock_guard<std::mutex> lk(g_mem_mutex);
    uintptr_t a = (uintptr_t)p;
    auto it = g_device.upper_bound(a);
    if (it == g_device.begin())
        return false;
    --it;
    return a >= it->first && a + bytes <= it->first + it->second;
}

const char *kind_name(cudaMemcpyKind k)
{
    switch (k) {
    case cudaMemcpyHostToHost: return "cudaMemcpyHostToHost";
    case cudaMemcpyHostToDevice: return "cudaMemcpyHostToDevice";
    case cudaMemcpyDeviceToHost: return "cudaMemcpyDeviceToHost";
    case cudaMemcpyDeviceToDevice: return "cudaMemcpyDeviceToDevice";
    default: return "cudaMemcpyDefault";
    }
}

} // namespace

/* ---- public layer API ------------------------------------------------------------ */

void set_backend(backend b)
{
    std::lock_guard<std::mutex> lk(g_cfg_mutex);
    g_backend = b;
    g_backend_set = true;
}
backend get_backend()
{
    std::lock_guard<std::mutex> lk(g_cfg_mutex);
    if (!g_backend_set) {
        g_backend = default_backend();
        const char *s = getenv("QTIP_CUDA_CPU_SEED");
        g_seed = s ? strtoull(s, nullptr, 0) : 0;
        g_backend_set = true;
    }
    return g_backend;
}
void set_seed(uint64_t seed)
{
    get_backend();
    std::lock_guard<std::mutex> lk(g_cfg_mutex);
    g_seed = seed;
}
void set_report_hook(report_hook hook, void *user)
{
    std::lock_guard<std::mutex> lk(g_cfg_mutex);
    g_hook = hook;
    g_hook_user = user;
}
unsigned long report_count() { return g_reports.load(); }

void sync_block(const char *file, int line)
{
    block *bp = t_block;
    if (!bp) {
        report("__syncthreads at %s:%d called outside a kernel launch", file, line);
        return;
    }
    block &b = *bp;
    int tid = t_tid;
    std::unique_lock<std::mutex> lk = backend_lock(b.mutex);
    thread_state &s = b.t[(size_t)tid];
    s.bar_wait = true;
    s.bar_release = false;
    s.bar_file = file;
    s.bar_line = line;
    b.arrived++;
    b.progress++;
    if (b.arrived + b.exited == b.n)
        barrier_release(b);
    else
        wait_for(b, tid, lk, b.cv, &s.bar_release);
}

uint64_t warp_collective(warp_op op, unsigned mask, uint64_t value, int arg, int width,
                         const char *file, int line)
{
    block *bp = t_block;
    if (!bp) {
        report("%s at %s:%d called outside a kernel launch", op_name(op), file, line);
        return value;
    }
    block &b = *bp;
    int tid = t_tid, warp = tid / 32, lane = tid % 32;
    if (!(mask & (1u << lane))) {
        report("%s %s (warp %d lane %d) calls %s at %s:%d with mask 0x%08x, which does not "
               "name it",
               where(b).c_str(), thread_name(b, tid).c_str(), warp, lane, op_name(op), file, line,
               mask);
        mask |= 1u << lane;
    }
    unsigned valid = warp_valid_lanes(b, warp);
    if (mask & ~valid) {
        report("%s: %s at %s:%d with mask 0x%08x names lanes that do not exist (warp %d has "
               "lanes 0x%08x; the block has %d threads)",
               where(b).c_str(), op_name(op), file, line, mask, warp, valid, b.n);
        mask &= valid;
    }
    if (op <= OP_SHFL_XOR && (width < 1 || width > 32 || (width & (width - 1)) != 0)) {
        report("%s: %s at %s:%d with width %d: width must be a power of two in 1..32",
               where(b).c_str(), op_name(op), file, line, width);
        width = 32;
    }
    warp_sync &ws = b.warps[(size_t)warp];
    std::unique_lock<std::mutex> lk = backend_lock(ws.mutex);
    thread_state &s = b.t[(size_t)tid];
    s.w_wait = true;
    s.w_release = false;
    s.w_op = op;
    s.w_mask = mask;
    s.w_value = value;
    s.w_arg = arg;
    s.w_width = width;
    s.w_file = file;
    s.w_line = line;
    b.progress++;
    warp_try_complete(b, warp, lane);
    if (!s.w_release)
        wait_for(b, tid, lk, ws.cv, &s.w_release);
    return s.w_result;
}

void *dyn_shared()
{
    if (!t_block) {
        report("dynamic shared memory used outside a kernel launch");
        return nullptr;
    }
    return t_block->dyn;
}

cudaError_t func_set_attribute(const void *fn, cudaFuncAttribute attr, int value)
{
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
        if (value < 0 || value > 227 * 1024) {
            set_error(cudaErrorInvalidValue);
            return cudaErrorInvalidValue;
        }
        std::lock_guard<std::mutex> lk(g_mem_mutex);
        g_max_dyn_smem[fn] = value;
    }
    return cudaSuccess;
}

cudaError_t launch_body(const void *fn, const char *name, dim3 grid, dim3 blk, size_t smem,
                        const std::function<void()> &body, const char *file, int line)
{
    backend be = get_backend();
    unsigned long long nthreads = (unsigned long long)blk.x * blk.y * blk.z;
    if (nthreads == 0 || nthreads > 1024 || blk.x > 1024 || blk.y > 1024 || blk.z > 64 ||
        grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535) {
        report("launch of '%s' at %s:%d: invalid configuration grid (%u,%u,%u) block "
               "(%u,%u,%u)",
               name, file, line, grid.x, grid.y, grid.z, blk.x, blk.y, blk.z);
        set_error(cudaErrorInvalidConfiguration);
        return cudaErrorInvalidConfiguration;
    }
    size_t limit = 48 * 1024;
    {
        std::lock_guard<std::mutex> lk(g_mem_mutex);
        auto it = g_max_dyn_smem.find(fn);
        if (it != g_max_dyn_smem.end())
            limit = (size_t)it->second;
    }
    if (smem > limit) {
        report("launch of '%s' at %s:%d: %zu bytes of dynamic shared memory exceed the limit "
               "of %zu bytes (raise it with cudaFuncSetAttribute(%s, "
               "cudaFuncAttributeMaxDynamicSharedMemorySize, n))",
               name, file, line, smem, limit, name);
        set_error(cudaErrorInvalidValue);
        return cudaErrorInvalidValue;
    }
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                block b;
                b.kernel = name;
                b.bdim = blk;
                b.gdim = grid;
                b.bidx.x = x;
                b.bidx.y = y;
                b.bidx.z = z;
                b.n = (int)nthreads;
                b.t.resize((size_t)b.n);
                b.warps = std::vector<warp_sync>((size_t)(b.n + 31) / 32);
                b.body = &body;
                if (smem) {
                    /* exact size, so ASan sees any byte past it; 0xff poisons reads of
                     * memory never written (NaN for floats) */
                    b.dyn = static_cast<unsigned char *>(malloc(smem));
                    memset(b.dyn, 0xff, smem);
                }
                if (be == BACKEND_FIBERS)
                    run_block_fibers(b);
                else
                    run_block_threads(b);
                free(b.dyn);
                if (b.abandoned) {
                    /* the abandoned fibers' frames still mark their stacks (ASan shadow):
                     * give the stacks back rather than reuse them */
                    for (char *st : g_stacks)
                        free(st);
                    g_stacks.clear();
                    t_block = nullptr;
                    return cudaErrorLaunchFailure;
                }
            }
    t_block = nullptr;
    return cudaSuccess;
}

} // namespace qcpu

/* ---- runtime API --------------------------------------------------------------- */

using qcpu::g_device;
using qcpu::g_mem_mutex;

namespace qcpu {
bool device_range(const void *p, size_t bytes) { return is_device(p, bytes); }
void report_misuse(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    report("%s", msg);
}

static size_t g_mem_limit_set = (size_t)-1; /* (size_t)-1: not set, read the env */
static size_t mem_limit_locked()
{
    if (g_mem_limit_set == (size_t)-1) {
        const char *e = getenv("QTIP_CUDA_CPU_MEM_LIMIT");
        g_mem_limit_set = e ? (size_t)strtoull(e, nullptr, 10) : 0;
    }
    return g_mem_limit_set;
}
static size_t mem_in_use_locked()
{
    size_t used = 0;
    for (const auto &kv : g_device)
        used += kv.second;
    return used;
}
static size_t g_mem_peak;
size_t memory_peak()
{
    std::lock_guard<std::mutex> lk(g_mem_mutex);
    return g_mem_peak;
}
void reset_memory_peak()
{
    std::lock_guard<std::mutex> lk(g_mem_mutex);
    g_mem_peak = mem_in_use_locked();
}
void set_memory_limit(size_t bytes)
{
    std::lock_guard<std::mutex> lk(g_mem_mutex);
    g_mem_limit_set = bytes;
}
} // namespace qcpu

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    std::lock_guard<std::mutex> lk(g_mem_mutex);
    const size_t limit = qcpu::mem_limit_locked(), used = qcpu::mem_in_use_locked();
    /* without a limit: a nominal 80 GiB device */
    const size_t total = limit ? limit : (size_t)80 << 30;
    *total_bytes = total;
    *free_bytes = used < total ? total - used : 0;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes)
{
    if (!p)
        return cudaErrorInvalidValue;
    {
        std::lock_guard<std::mutex> lk(g_mem_mutex);
        const size_t limit = qcpu::mem_limit_locked();
        if (limit && qcpu::mem_in_use_locked() + (bytes ? bytes : 1) > limit) {
            qcpu::set_error(cudaErrorMemoryAllocation);
            return cudaErrorMemoryAllocation;
        }
    }
    void *m = malloc(bytes ? bytes : 1);
    if (!m) {
        qcpu::set_error(cudaErrorMemoryAllocation);
        return cudaErrorMemoryAllocation;
    }
    memset(m, 0xff, bytes);
    {
        std::lock_guard<std::mutex> lk(g_mem_mutex);
        g_device[(uintptr_t)m] = bytes ? bytes : 1;
        const size_t used = qcpu::mem_in_use_locked();
        qcpu::g_mem_peak = used > qcpu::g_mem_peak ? used : qcpu::g_mem_peak;
    }
    *p = m;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
    if (!p)
        return cudaSuccess;
    {
        std::lock_guard<std::mutex> lk(g_mem_mutex);
        auto it = g_device.find((uintptr_t)p);
        if (it == g_device.end()) {
            qcpu::report("cudaFree(%p): not a pointer returned by cudaMalloc", p);
            qcpu::set_error(cudaErrorInvalidDevicePointer);
            return cudaErrorInvalidDevicePointer;
        }
        g_device.erase(it);
    }
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
    if (bytes == 0)
        return cudaSuccess;
    bool dd = qcpu::is_device(dst, bytes), sd = qcpu::is_device(src, bytes);
    bool want_dd = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool want_sd = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind != cudaMemcpyDefault && (dd != want_dd || sd != want_sd)) {
        qcpu::report("cudaMemcpy(%zu bytes, %s): destination is %s memory, source is %s memory",
                     bytes, qcpu::kind_name(kind), dd ? "device" : "host", sd ? "device" : "host");
        qcpu::set_error(cudaErrorInvalidMemcpyDirection);
        return cudaErrorInvalidMemcpyDirection;
    }
    memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t)
{
    return cudaMemcpy(dst, src, bytes, kind);
}

cudaError_t cudaMemset(void *p, int value, size_t bytes)
{
    if (bytes && !qcpu::is_device(p, bytes)) {
        qcpu::report("cudaMemset(%p, %zu bytes): not within a device allocation", p, bytes);
        return cudaErrorInvalidValue;
    }
    memset(p, value, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t)
{
    return cudaMemset(p, value, bytes);
}

cudaError_t cudaDeviceSynchronize(void) { return cudaPeekAtLastError(); }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaPeekAtLastError(); }
cudaError_t cudaGetLastError(void)
{
    return (cudaError_t)qcpu::g_last_error.exchange(cudaSuccess);
}
cudaError_t cudaPeekAtLastError(void) { return (cudaError_t)qcpu::g_last_error.load(); }

const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
    }
}
const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    default: return "unknown error";
    }
}
cudaError_t cudaGetDeviceCount(int *count)
{
    *count = 1; /* the CPU layer stands for one device */
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidValue; }
