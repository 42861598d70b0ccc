"""Build the reference projects' layer classes from our exports and decode them.

Run in a child process per project (check_reference_exports.py --load): each project
is imported from its checkout with only its CUDA-only dependencies stubbed (listed in
check_reference_exports.py's docstring and at each stub below).
"""
import json
import math
import os
import sys
import types


def walsh_hadamard(x, scale):
    """What Dao-AILab's fast_hadamard_transform.hadamard_transform(x, scale) returns:
    scale * x @ H_n^T over the last dimension, H_n the Sylvester matrix in natural
    order (n a power of two). A CPU stand-in for the CUDA op."""
    import torch
    n = x.shape[-1]
    assert n & (n - 1) == 0, "hadamard_transform needs a power of two, got %d" % n
    y = x.reshape(-1, n)
    h = 1
    while h < n:
        y = y.reshape(-1, n // (2 * h), 2, h)
        y = torch.stack((y[:, :, 0] + y[:, :, 1], y[:, :, 0] - y[:, :, 1]), dim=2)
        h *= 2
    return (y.reshape(x.shape) * scale).to(x.dtype)


def stub_module(name, **attrs):
    """Register an empty module (or one with the given attributes) under `name`."""
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    mod.__stub__ = True
    sys.modules[name] = mod
    return mod


def load_tensors(directory, prefix):
    """The tensors of one layer from an export's model.safetensors, keyed by the
    name the layer's state_dict uses."""
    from safetensors.torch import load_file
    all_t = load_file(os.path.join(directory, "model.safetensors"))
    return {k[len(prefix) + 1:]: v for k, v in all_t.items() if k.startswith(prefix + ".")}


def our_weight(job):
    from safetensors.torch import load_file
    t = load_file(os.path.join(job["dequantized"], "model.safetensors"))
    return t[job["layer"] + ".weight"].double()


def model_config(job):
    with open(os.path.join(job["export"], "config.json")) as f:
        return json.load(f)


def torch_dtype(name):
    import torch
    return {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[name]


# --- QTIP ---------------------------------------------------------------------------

def import_qtip(checkout, allow_compile):
    if not allow_compile:
        os.environ["TORCHDYNAMO_DISABLE"] = "1"  # decode_compressed then runs eagerly
    stub_module("qtip_kernels")  # CUDA extension; only its batch-1 matvec ops use it
    stub_module("fast_hadamard_transform", hadamard_transform=walsh_hadamard)
    stub_module("glog", info=print, warning=print, error=print)  # logging only
    stub_module("datasets", load_dataset=None)  # data_utils imports it; not called
    sys.path.insert(0, checkout)
    from lib.linear import QuantizedLinear
    return QuantizedLinear


def qtip_weight(cls, job):
    """Their QuantizedLinear, strict load, forward on the identity -> W (m, n)."""
    import torch
    cfg = model_config(job)
    qp = cfg["quip_params"]
    state = load_tensors(job["export"], job["layer"])
    m, n = state["SV"].shape[0], state["SU"].shape[0]
    layer = cls(n, m, qp["td_x"], qp["td_y"], qp["L"], qp["K"], qp["V"], qp["tlut_bits"],
                qp["decode_mode"], bias=False, dtype=torch_dtype(cfg.get("torch_dtype", "float16")))
    layer.load_state_dict(state, strict=True)
    layer.float()  # lossless: the fp16 tlut and SU widened, so their matmul runs in fp32
    with torch.no_grad():
        y = layer(torch.eye(n, dtype=torch.float32))
    return y.double().T, "has_kernel=%s" % layer.has_kernel


# --- QuIP-for-all ---------------------------------------------------------------------

QUIP_DECODE_DTYPE = [None]  # the dtype the stand-in decoders return (set per run)


def define_quip_ops(codebook_module):
    """CPU stand-ins for the CUDA ops of QuIP-for-all's register_lib.py that the dense
    path calls. Codes are decoded with the codebook's own python tables."""
    import torch
    e8p = codebook_module.e8p12

    def grid(packed_abs):  # cached in e8p12; the decode runs in the layer's dtype
        return e8p.get_full_grid(packed_abs)[0].to(QUIP_DECODE_DTYPE[0])
    lib = torch.library.Library("quip_lib", "DEF")
    lib.define("hadamard(Tensor x, float scale) -> Tensor")
    lib.impl("hadamard", lambda x, s: walsh_hadamard(x, s), "CPU")

    def e8p_decode(qidxs, packed_abs):  # (m, n/8) int16 codes -> (m, n)
        codes = qidxs.to(torch.int64) & 0xFFFF
        return grid(packed_abs)[codes].reshape(qidxs.shape[0], -1)

    def rvq4_decode(qidxs, packed_abs, scale):  # int32 (main << 16) | resid
        q = qidxs.to(torch.int64) & 0xFFFFFFFF
        g = grid(packed_abs)
        return (g[q >> 16] + scale * g[q & 0xFFFF]).reshape(qidxs.shape[0], -1)

    def rvq3_decode(qidxs, packed_abs, e81b_packed, scale):  # bytes [resid, lo, hi] per block
        b = qidxs.contiguous().view(torch.uint8).reshape(qidxs.shape[0], -1, 3).to(torch.int64)
        main = b[..., 1] | (b[..., 2] << 8)
        e81b = codebook_module.e8p12_rvq3.get_e81bgrid().to(QUIP_DECODE_DTYPE[0])
        return (grid(packed_abs)[main] + scale * e81b[b[..., 0]]).reshape(qidxs.shape[0], -1)

    lib.define("decompress_e8p_origorder(Tensor Qidxs, Tensor grid) -> Tensor")
    lib.impl("decompress_e8p_origorder", e8p_decode, "CPU")
    lib.define("decompress_e8prvq4_origorder(Tensor Qidxs, Tensor grid, float scale) -> Tensor")
    lib.impl("decompress_e8prvq4_origorder", rvq4_decode, "CPU")
    lib.define("decompress_e8prvq3_origorder(Tensor Qidxs, Tensor grid, Tensor grid2, float scale)"
               " -> Tensor")
    lib.impl("decompress_e8prvq3_origorder", rvq3_decode, "CPU")
    return lib


def wrap_int8_for_numpy2(e8p_module):
    """get_full_grid reads a byte as signed with np.int8(0..255), which wraps under
    numpy 1.x and raises OverflowError under numpy 2: give that module an `np` whose
    int8 wraps as numpy 1.x did (the only numpy call there)."""
    import numpy
    if int(numpy.__version__.split(".")[0]) < 2:
        return
    e8p_module.np = types.SimpleNamespace(int8=lambda v: numpy.int8(((int(v) + 128) % 256) - 128))


def import_quip_for_all(checkout):
    stub_module("scipy")  # quant.py imports it for use_rand mode only
    sys.path.insert(0, checkout)
    os.chdir(checkout)  # quant.py loads "hadamard.safetensors" from the working directory
    import codebook
    from qlinear import QuantLinear
    wrap_int8_for_numpy2(codebook.e8p12)
    return QuantLinear, codebook, define_quip_ops(codebook)


def quip_for_all_layer(loaded, job, dtype):
    """Their QuantLinear built as load_quantized_model(torch_dtype=dtype) builds it,
    strict load, then its loader's wscale_float = Wscale.mean()."""
    cls, codebook, _ops = loaded
    qc = model_config(job)["quantization_config"]
    state = load_tensors(job["export"], job["layer"])
    m, n = state["SV"].shape[0], state["SU"].shape[0]
    cb = codebook.codebook_id[qc["codebook"]](inference=True, opt_resid_scale=qc["opt_resid_scale"])
    layer = cls(n, m, cb, bias="bias" in state, use_rand=qc["use_rand"],
                per_channel=qc["per_channel"], weight_dtype=dtype)
    layer.load_state_dict(state, strict=True)
    layer.wscale_float = layer.Wscale.mean().float().item()
    return layer


def quip_for_all_weight(loaded, job):
    """Its dense training-mode forward (x * SU @ calc_weight() * SV) on the identity
    -> W (m, n), in fp64 (the pass criterion: their formula without rounding noise)
    and in fp32 (reported: two fp32 computations differ by a few ulps)."""
    import torch
    out = {}
    for dtype in (torch.float64, torch.float32):
        QUIP_DECODE_DTYPE[0] = dtype
        layer = quip_for_all_layer(loaded, job, dtype).train()
        with torch.no_grad():
            out[dtype] = layer(torch.eye(layer.in_features, dtype=dtype)).double().T
    ours = our_weight(job)
    d32 = (out[torch.float32] - ours).abs().max().item() / ours.abs().max().item()
    return out[torch.float64], "K_left=%d K_right=%d; fp32 run: rel %.2e" % (
        layer.K_left, layer.K_right, d32)


# --- driver -------------------------------------------------------------------------

def compare(job, weight_fn, tol):
    """One export: load, decode, compare; prints one line, returns True when within tol."""
    try:
        theirs, note = weight_fn(job)
    except Exception as e:  # a refusal by their code is the finding to report
        print("%-14s FAIL to load/decode: %s: %s" % (job["name"], type(e).__name__, e))
        return False
    ours = our_weight(job)
    if theirs.shape != ours.shape:
        print("%-14s FAIL shape %s vs ours %s" % (job["name"], tuple(theirs.shape), tuple(ours.shape)))
        return False
    scale = ours.abs().max().item()
    diff = (theirs - ours).abs().max().item()
    ok = diff <= tol * scale
    print("%-14s %s strict load ok, %dx%d, max|dW| %.3e, max|W| %.3e, rel %.2e (%s)" % (
        job["name"], "ok  " if ok else "FAIL", ours.shape[0], ours.shape[1], diff, scale,
        diff / scale if scale else math.inf, note))
    return ok


def load_and_compare(project, checkout, jobs_file, allow_compile, tol):
    with open(jobs_file) as f:
        jobs = json.load(f)
    if project == "qtip":
        cls = import_qtip(os.path.abspath(checkout), allow_compile)
        fn = lambda job: qtip_weight(cls, job)  # noqa: E731
    else:
        loaded = import_quip_for_all(os.path.abspath(checkout))
        fn = lambda job: quip_for_all_weight(loaded, job)  # noqa: E731
    print("%s (%s): tolerance max|dW| <= %g * max|W|" % (project, checkout, tol))
    results = [compare(job, fn, tol) for job in jobs]
    print("%s: %d passed, %d failed" % (project, sum(results), len(results) - sum(results)))
    return 0 if all(results) else 1
