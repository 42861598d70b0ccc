#!/usr/bin/env python3
"""Load our exports into the reference projects' own layer classes (issue 17).

`qtip-pack --format qtip-reference` targets QTIP's `lib.linear.QuantizedLinear`
(github.com/Cornell-RelaxML/qtip) and `--format quip-for-all` targets QuIP-for-all's
`qlinear.QuantLinear` (github.com/chu-tianxiang/QuIP-for-all). This script makes small
layers with our tools (qtip-quantize, qtip-pack, qtip-verify --dequantize), builds
each reference class with the shapes and settings the export's config.json gives,
loads the layer's tensors with load_state_dict(strict=True), computes the layer's
weight through the reference's own code, and compares it with our dequantized weight.

Usage (from a Python environment with torch >= 2.3 and safetensors, as the references
need; no GPU):
    check_reference_exports.py --bin BUILD_DIR --qtip QTIP_CHECKOUT \
        --quip-for-all QUIP_FOR_ALL_CHECKOUT [--work DIR] [--only qtip|quip-for-all]
The checkouts can also be given as $QTIP_REFERENCE_DIR and $QUIP_FOR_ALL_DIR, the
binaries as $QTIP_BIN. Exit 0 when every export loads strictly and decodes within
the tolerance, 1 otherwise, 2 on a usage error.

Tolerance: max |W_theirs - W_ours| <= 3e-7 * max |W_ours| (the issue's 3e-7 read as
relative to the weight's scale: both sides compute in fp32, whose rounding in the
Hadamard transforms is a few 1e-8 of max|W|; an absolute 3e-7 would depend on the
model's weight magnitudes).

How their weight is computed, and what is stubbed (only what has no CPU path):
- QTIP: the layer's forward on the identity (batch n, so their decode path rather
  than the batch-1 CUDA matvec), after module.float() (a lossless widening of the
  fp16 tlut and SU, so that their matmul runs in fp32, not fp16). Stubbed modules:
  `qtip_kernels` (their CUDA extension, imported by lib.codebook; empty: its ops are
  only called at batch 1 for the shapes it lists), `fast_hadamard_transform` (Dao-AILab
  CUDA package: `hadamard_transform(x, scale)` = scale * x H_n^T, Sylvester order, done
  here in torch), `glog` and `datasets` (imported by lib.utils, unused on this path).
  torch.compile (their decode_compressed) runs eagerly unless --compile is given.
- QuIP-for-all: the layer's own dense path, `forward` in training mode (x * SU @
  calc_weight() * SV), built as its loader builds it for `load_quantized_model(...,
  torch_dtype=T)` with T = float64 (the pass criterion: their formula without fp32
  rounding) and T = float32 (reported too), after its loader's `wscale_float =
  Wscale.mean()`. Stubbed: the `scipy` module (imported by quant.py for use_rand
  mode only, which the export does not use); the CUDA ops of its register_lib.py
  (which imports the CUDA extensions): `quip_lib::hadamard` (as above) and
  `quip_lib::decompress_{e8p,e8prvq3,e8prvq4}_origorder`, which here decode each
  code with the codebook's own python tables (`get_full_grid`, `get_e81bgrid`) and
  the code layouts of its `quantize`/`maybe_pack_idxs`, in the layer's dtype (its
  CUDA kernels return fp16, which would round the RVQ codewords further on a GPU);
  and, under numpy >= 2 only, `np.int8` in codebook/e8p12.py, which get_full_grid
  calls on 0..255 expecting numpy 1.x's wrap-around (numpy 2 raises OverflowError).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

TOLERANCE = 3e-7
LAYER = "model.layers.0.self_attn.q_proj"

# (name, export format, rows m, columns n, qtip-quantize options, model dtype)
CASES = [
    ("hyb-k2-kernel", "qtip-reference", 64, 96, ["--K", "2"], "float16"),
    ("hyb-k3-kernel", "qtip-reference", 160, 64, ["--K", "3"], "float16"),
    ("hyb-k4-kernel", "qtip-reference", 32, 64, ["--K", "4"], "bfloat16"),
    ("hyb-k2-q8", "qtip-reference", 64, 96, ["--K", "2", "--tlut-bits", "8"], "float16"),
    ("1mad-k2", "qtip-reference", 64, 96, ["--decode-mode", "1mad", "--K", "2"], "float16"),
    ("2mad-k3", "qtip-reference", 48, 64, ["--decode-mode", "2mad", "--K", "3"], "float16"),
    ("3inst-k2", "qtip-reference", 64, 96, ["--decode-mode", "3inst", "--K", "2"], "float16"),
    ("lut-k2-v2", "qtip-reference", 32, 64, ["--decode-mode", "lut", "--K", "2", "--V", "2"], "float16"),
    ("e8p12-44", "quip-for-all", 88, 64, ["--codebook", "e8p12"], "bfloat16"),
    ("e8p12-76-84", "quip-for-all", 152, 168, ["--codebook", "e8p12"], "float16"),
    ("rvq3", "quip-for-all", 64, 96, ["--codebook", "e8p12-rvq3"], "float16"),
    ("rvq4", "quip-for-all", 96, 64, ["--codebook", "e8p12-rvq4"], "bfloat16"),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.environ.get("QTIP_BIN"), help="folder of qtip-* binaries")
    p.add_argument("--qtip", default=os.environ.get("QTIP_REFERENCE_DIR"),
                   help="checkout of Cornell-RelaxML/qtip")
    p.add_argument("--quip-for-all", dest="quip_for_all", default=os.environ.get("QUIP_FOR_ALL_DIR"),
                   help="checkout of chu-tianxiang/QuIP-for-all")
    p.add_argument("--only", choices=["qtip", "quip-for-all"], help="check one project only")
    p.add_argument("--case", action="append", help="run only these cases (by name)")
    p.add_argument("--work", help="keep the layers and exports in this folder")
    p.add_argument("--compile", action="store_true", help="let torch.compile run (QTIP)")
    p.add_argument("--load", nargs=3, metavar=("PROJECT", "CHECKOUT", "JOBS_JSON"),
                   help=argparse.SUPPRESS)  # the per-project child process
    return p.parse_args()


def write_model(directory, m, n, dtype, seed):
    """A one-layer model in safetensors with a Gaussian weight (a few larger
    columns, as real layers have), plus a tiny embedding the packer copies."""
    import torch
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(seed)
    tdt = {"float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    w = torch.randn(m, n, generator=g) * 0.02
    w[:, :: max(1, n // 5)] *= 6
    os.makedirs(directory)
    save_file({"model.embed_tokens.weight": torch.randn(8, n, generator=g).to(tdt),
               LAYER + ".weight": w.to(tdt)}, os.path.join(directory, "model.safetensors"))
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump({"model_type": "llama", "torch_dtype": dtype}, f)


def run_tool(bin_dir, tool, *args):
    r = subprocess.run([os.path.join(bin_dir, tool)] + list(args), capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("%s %s exited %d: %s" % (tool, " ".join(args), r.returncode, r.stderr.strip()))


def make_export(bin_dir, work, case, seed):
    """Model -> layer artifact -> export -> our dequantized weights (F32)."""
    name, fmt, m, n, opts, dtype = case
    d = os.path.join(work, name)
    write_model(d + "-model", m, n, dtype, seed)
    run_tool(bin_dir, "qtip-quantize", "-q", "--threads", "2", "--identity-hessian", *opts,
             "--tensor", LAYER, "-o", d + ".safetensors", d + "-model")
    run_tool(bin_dir, "qtip-pack", "-q", "--format", fmt, "-o", d + "-export", d + "-model",
             d + ".safetensors")
    run_tool(bin_dir, "qtip-verify", "-q", "--dequantize", d + "-dq", "--dtype", "f32", d + "-export")
    return {"name": name, "export": d + "-export", "dequantized": d + "-dq", "layer": LAYER}


def main():
    a = parse_args()
    if a.load:
        from reference_loaders import load_and_compare
        return load_and_compare(a.load[0], a.load[1], a.load[2], a.compile, TOLERANCE)
    projects = {"qtip": a.qtip, "quip-for-all": a.quip_for_all}
    if a.only:
        projects = {a.only: projects[a.only]}
    missing = [k for k, v in projects.items() if not v]
    if not a.bin or missing:
        print("usage: --bin BUILD_DIR and a checkout for %s (see --help)" % (missing or ["--bin"]),
              file=sys.stderr)
        return 2
    work = os.path.abspath(a.work or tempfile.mkdtemp(prefix="qtip-refcheck-"))
    os.makedirs(work, exist_ok=True)
    fmt_of = {"qtip": "qtip-reference", "quip-for-all": "quip-for-all"}
    ok = True
    for project, checkout in projects.items():
        cases = [c for c in CASES if c[1] == fmt_of[project] and (not a.case or c[0] in a.case)]
        jobs = [make_export(a.bin, work, c, seed) for seed, c in enumerate(cases, 1)]
        jobs_file = os.path.join(work, project + "-jobs.json")
        with open(jobs_file, "w") as f:
            json.dump(jobs, f)
        # one process per project: each puts its own top-level packages on sys.path
        cmd = [sys.executable, os.path.abspath(__file__), "--load", project, checkout, jobs_file]
        ok &= subprocess.run(cmd + (["--compile"] if a.compile else [])).returncode == 0
    print("exports in", work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
